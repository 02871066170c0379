/* tests/conformance/file.c: files (prokio/file.h).
 *
 * Every test works in a fresh directory under $TMPDIR (or /tmp) that it
 * removes at its end. A task runs a script of awaited calls and records
 * the line of the first call that did not give what was expected, with
 * that call's result and message; the test asserts it stayed 0.
 *
 * An abort while a read is in flight: on the blocking pool the read is
 * held in the pool's queue behind a gated job (one pool thread), so it is
 * certainly in flight; with io_uring's native reads it may complete before
 * the abort lands, and the test checks the position either way (moved by
 * what the task saw, not by what it did not). */
#include "conformance.h"

#include <prokio/backend.h>
#include <prokio/backend_info.h>
#include <prokio/blocking.h>
#include <prokio/file.h>

/* Returns from the middle of a coroutine body (PROKIO_END closes it). */
#define CO_RETURN(state, result)                                                                   \
    do {                                                                                           \
        *(state) = 0;                                                                              \
        return (result);                                                                           \
    } while (0)

#ifndef __EMSCRIPTEN__
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------- helpers */

struct tmpdir {
    char dir[256];
    char path[300];
};

static void tmp_make(struct tmpdir *t)
{
    const char *base = getenv("TMPDIR");
    snprintf(t->dir, sizeof t->dir, "%s/prokio-file-XXXXXX", base && *base ? base : "/tmp");
    assert_non_null(mkdtemp(t->dir));
    snprintf(t->path, sizeof t->path, "%s/data", t->dir);
}

static void tmp_remove(struct tmpdir *t)
{
    unlink(t->path);
    assert_int_equal(rmdir(t->dir), 0);
}

/* What a script saw: the line of the first unexpected result, and it. */
struct outcome {
    int line, rc;
    char msg[400];
};

#define EXPECT_AT(o, rc_, want)                                                                    \
    do {                                                                                           \
        int got_ = (int)(rc_);                                                                     \
        if (got_ != (want) && (o)->line == 0) {                                                    \
            (o)->line = __LINE__;                                                                  \
            (o)->rc = got_;                                                                        \
            snprintf((o)->msg, sizeof(o)->msg, "%s", got_ < 0 ? prokio_last_error() : "");         \
        }                                                                                          \
    } while (0)

static void assert_outcome(const struct outcome *o)
{
    if (o->line != 0)
        fail_msg("tests/conformance/file.c:%d: got %d (%s): %s", o->line, o->rc,
                 o->rc < 0 ? prokio_err_name(o->rc) : "a count", o->msg);
}

/* ----------------------------------------------------- write, read back */

struct rw {
    int co;
    const char *path;
    prokio_op_t op;
    prokio_file_t *f;
    int rc;
    char buf[64];
    struct outcome o;
};

static int rw_poll(void *frame, prokio_cx_t *cx)
{
    struct rw *s = frame;
    PROKIO_BEGIN(&s->co);
    PROKIO_AWAIT_INTO(
        &s->co, s->rc,
        prokio_file_open_poll(&s->f, &s->op, s->path, O_RDWR | O_CREAT | O_TRUNC, 0600, cx));
    EXPECT_AT(&s->o, s->rc, 0);
    if (s->rc < 0)
        CO_RETURN(&s->co, 0);
    /* At offsets, a hole between them. */
    PROKIO_AWAIT_INTO(&s->co, s->rc, prokio_file_write_at_poll(&s->op, s->f, "hello", 5, 0, cx));
    EXPECT_AT(&s->o, s->rc, 5);
    PROKIO_AWAIT_INTO(&s->co, s->rc, prokio_file_write_at_poll(&s->op, s->f, "world", 5, 100, cx));
    EXPECT_AT(&s->o, s->rc, 5);
    PROKIO_AWAIT_INTO(&s->co, s->rc, prokio_file_fsync_poll(&s->op, s->f, true, cx));
    EXPECT_AT(&s->o, s->rc, 0);
    PROKIO_AWAIT_INTO(&s->co, s->rc, prokio_file_fsync_poll(&s->op, s->f, false, cx));
    EXPECT_AT(&s->o, s->rc, 0);
    memset(s->buf, 'x', sizeof s->buf);
    PROKIO_AWAIT_INTO(&s->co, s->rc, prokio_file_read_at_poll(&s->op, s->f, s->buf, 5, 0, cx));
    EXPECT_AT(&s->o, s->rc, 5);
    EXPECT_AT(&s->o, memcmp(s->buf, "hello", 5), 0);
    /* A short read at the end: 2 zero bytes of the hole, then "world". */
    memset(s->buf, 'x', sizeof s->buf);
    PROKIO_AWAIT_INTO(&s->co, s->rc, prokio_file_read_at_poll(&s->op, s->f, s->buf, 64, 98, cx));
    EXPECT_AT(&s->o, s->rc, 7);
    EXPECT_AT(&s->o, memcmp(s->buf, "\0\0world", 7), 0);
    EXPECT_AT(&s->o, s->buf[7], 'x');
    /* At and beyond the end: 0. */
    PROKIO_AWAIT_INTO(&s->co, s->rc, prokio_file_read_at_poll(&s->op, s->f, s->buf, 64, 105, cx));
    EXPECT_AT(&s->o, s->rc, 0);
    PROKIO_AWAIT_INTO(&s->co, s->rc, prokio_file_read_at_poll(&s->op, s->f, s->buf, 64, 4096, cx));
    EXPECT_AT(&s->o, s->rc, 0);
    /* At the position: writes and reads move it; the _at calls did not. */
    EXPECT_AT(&s->o, (int)prokio_file_position(s->f), 0);
    PROKIO_AWAIT_INTO(&s->co, s->rc, prokio_file_write_poll(&s->op, s->f, "HE", 2, cx));
    EXPECT_AT(&s->o, s->rc, 2);
    EXPECT_AT(&s->o, (int)prokio_file_position(s->f), 2);
    PROKIO_AWAIT_INTO(&s->co, s->rc, prokio_file_read_poll(&s->op, s->f, s->buf, 3, cx));
    EXPECT_AT(&s->o, s->rc, 3);
    EXPECT_AT(&s->o, memcmp(s->buf, "llo", 3), 0);
    EXPECT_AT(&s->o, prokio_file_seek(s->f, 101), 0);
    PROKIO_AWAIT_INTO(&s->co, s->rc, prokio_file_read_poll(&s->op, s->f, s->buf, 64, cx));
    EXPECT_AT(&s->o, s->rc, 4);
    EXPECT_AT(&s->o, memcmp(s->buf, "orld", 4), 0);
    PROKIO_AWAIT_INTO(&s->co, s->rc, prokio_file_read_poll(&s->op, s->f, s->buf, 64, cx));
    EXPECT_AT(&s->o, s->rc, 0);
    EXPECT_AT(&s->o, (int)prokio_file_position(s->f), 105);
    EXPECT_AT(&s->o, prokio_file_fileno(s->f) >= 0, 1);
    PROKIO_AWAIT_INTO(&s->co, s->rc, prokio_file_close_poll(&s->op, s->f, cx));
    EXPECT_AT(&s->o, s->rc, 0);
    s->f = NULL;
    PROKIO_END(&s->co, 0);
}

static void rw_drop(void *frame)
{
    struct rw *s = frame;
    prokio_file_free(s->f);
}
#endif

/* Write, then read back at offsets and at the position, short reads at
 * the end, fsync both ways, close: on each worker. What the file holds
 * afterwards is checked with plain system calls. */
void test_file_write_read(void **state)
{
    (void)state;
    TEST_SKIP_ON_WASM("no files on WebAssembly");
#ifndef __EMSCRIPTEN__
    prokio_runtime_t *rt = test_runtime(2);
    struct tmpdir t;
    tmp_make(&t);
    for (unsigned w = 0; w < 2; w++) {
        struct rw s = {.path = t.path};
        assert_int_equal(conf_run_on(rt, w, rw_poll, &s, sizeof s, rw_drop), 0);
        assert_outcome(&s.o);
        struct stat st;
        assert_int_equal(stat(t.path, &st), 0);
        assert_int_equal(st.st_size, 105);
        assert_int_equal(st.st_mode & 0777, 0600);
        int fd = open(t.path, O_RDONLY);
        char buf[8];
        assert_int_equal(pread(fd, buf, 5, 0), 5);
        assert_memory_equal(buf, "HEllo", 5);
        close(fd);
    }
    tmp_remove(&t);
    test_runtime_free(rt);
#endif
}

#ifndef __EMSCRIPTEN__
struct opener {
    prokio_op_t op;
    prokio_file_t *f;
    const char *path;
    int flags;
    int rc;
    char msg[400];
};

static int opener_poll(void *frame, prokio_cx_t *cx)
{
    struct opener *s = frame;
    int rc = prokio_file_open_poll(&s->f, &s->op, s->path, s->flags, 0600, cx);
    if (rc == PROKIO_PENDING)
        return rc;
    s->rc = rc;
    if (rc < 0)
        snprintf(s->msg, sizeof s->msg, "%s", prokio_last_error());
    else
        prokio_file_free(s->f);
    return 0;
}

static struct opener try_open(prokio_runtime_t *rt, const char *path, int flags)
{
    struct opener s = {.path = path, .flags = flags};
    assert_int_equal(conf_run_on(rt, CONF_ANY, opener_poll, &s, sizeof s, NULL), 0);
    return s;
}
#endif

/* Open errors are the system's, with the path in the message; *out stays
 * untouched. */
void test_file_open_errors(void **state)
{
    (void)state;
    TEST_SKIP_ON_WASM("no files on WebAssembly");
#ifndef __EMSCRIPTEN__
    prokio_runtime_t *rt = test_runtime(1);
    struct tmpdir t;
    tmp_make(&t);
    struct opener s = try_open(rt, t.path, O_RDONLY);
    assert_int_equal(s.rc, PROKIO_ENOENT);
    assert_null(s.f);
    assert_non_null(strstr(s.msg, "prokio_file_open_poll"));
    assert_non_null(strstr(s.msg, t.path));
    print_message("# %s\n", s.msg);

    s = try_open(rt, t.path, O_WRONLY | O_CREAT | O_EXCL);
    assert_int_equal(s.rc, 0);
    s = try_open(rt, t.path, O_WRONLY | O_CREAT | O_EXCL);
    assert_int_equal(s.rc, PROKIO_EEXIST);
    assert_non_null(strstr(s.msg, t.path));

    s = try_open(rt, t.dir, O_WRONLY);
    assert_int_equal(s.rc, -EISDIR);
    assert_non_null(strstr(s.msg, t.dir));
    tmp_remove(&t);
    test_runtime_free(rt);
#endif
}

#ifndef __EMSCRIPTEN__
/* Uses a file opened on another worker. */
struct stranger {
    prokio_file_t *f;
    prokio_op_t op;
    char buf[8];
    int read_rc, close_rc, free_rc;
};

static int stranger_poll(void *frame, prokio_cx_t *cx)
{
    struct stranger *s = frame;
    s->read_rc = prokio_file_read_at_poll(&s->op, s->f, s->buf, sizeof s->buf, 0, cx);
    s->close_rc = prokio_file_close_poll(&s->op, s->f, cx);
    s->free_rc = prokio_file_free(s->f);
    return 0;
}

struct holder {
    int co;
    const char *path;
    prokio_runtime_t *rt;
    prokio_op_t op;
    prokio_file_t *f;
    prokio_task_t *other;
    struct stranger seen;
    int rc;
    struct outcome o;
};

static int holder_poll(void *frame, prokio_cx_t *cx)
{
    struct holder *s = frame;
    PROKIO_BEGIN(&s->co);
    PROKIO_AWAIT_INTO(&s->co, s->rc,
                      prokio_file_open_poll(&s->f, &s->op, s->path, O_RDWR | O_CREAT, 0600, cx));
    EXPECT_AT(&s->o, s->rc, 0);
    if (s->rc < 0)
        CO_RETURN(&s->co, 0);
    {
        struct stranger st = {.f = s->f};
        s->rc = prokio_spawn_on(&s->other, s->rt, 1, stranger_poll, &st, sizeof st, NULL);
        EXPECT_AT(&s->o, s->rc, 0);
        if (s->rc < 0)
            CO_RETURN(&s->co, 0);
    }
    PROKIO_AWAIT(&s->co, prokio_task_join_poll(s->other, cx));
    s->seen = *(struct stranger *)prokio_task_frame(s->other);
    prokio_task_release(s->other);
    PROKIO_AWAIT_INTO(&s->co, s->rc, prokio_file_close_poll(&s->op, s->f, cx));
    EXPECT_AT(&s->o, s->rc, 0);
    PROKIO_END(&s->co, 0);
}
#endif

/* A file belongs to the worker that opened it: reading, closing and
 * freeing it from another worker's task are PROKIO_EXDEV and do nothing
 * (the owner closes it afterwards). */
void test_file_exdev(void **state)
{
    (void)state;
    TEST_SKIP_ON_WASM("no files on WebAssembly");
#ifndef __EMSCRIPTEN__
    prokio_runtime_t *rt = test_runtime(2);
    struct tmpdir t;
    tmp_make(&t);
    struct holder s = {.path = t.path, .rt = rt};
    assert_int_equal(conf_run_on(rt, 0, holder_poll, &s, sizeof s, NULL), 0);
    assert_outcome(&s.o);
    assert_int_equal(s.seen.read_rc, PROKIO_EXDEV);
    assert_int_equal(s.seen.close_rc, PROKIO_EXDEV);
    assert_int_equal(s.seen.free_rc, PROKIO_EXDEV);
    tmp_remove(&t);
    test_runtime_free(rt);
#endif
}

#ifndef __EMSCRIPTEN__
struct gate_job {
    atomic_int *gate, *started;
};

static int gate_fn(void *frame)
{
    struct gate_job *g = frame;
    atomic_store(g->started, 1);
    return conf_wait_flag(g->gate, 1) ? 0 : PROKIO_ETIMEDOUT;
}

/* Reads at the position once, and then never ends by itself (so the
 * abort always finds it): `got` says whether the read completed first. */
struct reader {
    prokio_file_t *f;
    prokio_op_t op;
    char buf[16];
    int got;             /* the read's result, or PROKIO_PENDING */
    atomic_int *waiting; /* set before the first PROKIO_PENDING */
};

static int reader_poll(void *frame, prokio_cx_t *cx)
{
    struct reader *r = frame;
    if (r->got == PROKIO_PENDING) {
        r->got = prokio_file_read_poll(&r->op, r->f, r->buf, sizeof r->buf, cx);
        atomic_store(r->waiting, 1);
    }
    return PROKIO_PENDING; /* parked until aborted */
}

/* Opens a file (flags), or reads `len` bytes at its position and closes
 * it (f set), on the worker it runs on; the file pointer is handed back
 * in the frame. */
struct step {
    int co;
    const char *path;
    prokio_op_t op;
    prokio_file_t *f;
    size_t len;
    char buf[16];
    int rc, read_rc;
    struct outcome o;
};

static int step_poll(void *frame, prokio_cx_t *cx)
{
    struct step *s = frame;
    PROKIO_BEGIN(&s->co);
    if (s->f == NULL) {
        PROKIO_AWAIT_INTO(&s->co, s->rc,
                          prokio_file_open_poll(&s->f, &s->op, s->path, O_RDONLY, 0, cx));
        EXPECT_AT(&s->o, s->rc, 0);
        CO_RETURN(&s->co, 0);
    }
    PROKIO_AWAIT_INTO(&s->co, s->read_rc, prokio_file_read_poll(&s->op, s->f, s->buf, s->len, cx));
    PROKIO_AWAIT_INTO(&s->co, s->rc, prokio_file_close_poll(&s->op, s->f, cx));
    EXPECT_AT(&s->o, s->rc, 0);
    s->f = NULL;
    PROKIO_END(&s->co, 0);
}
#endif

/* A read at the position, aborted while in flight: the position moved
 * only if the reader saw the result, so the next read gets the bytes
 * right after what the reader got, none skipped or repeated. In round 1
 * the pool is held by a gated job, so a pool read is surely still queued
 * when aborted (a native io_uring read may have completed: then the
 * reader saw it, and the position moved by it). */
void test_file_abort_read(void **state)
{
    (void)state;
    TEST_SKIP_ON_WASM("no files on WebAssembly");
#ifndef __EMSCRIPTEN__
    static const char data[] = "0123456789abcdefghijklmnopqrstuvwxyz";
    struct tmpdir t;
    tmp_make(&t);
    FILE *fp = fopen(t.path, "w");
    assert_non_null(fp);
    fputs(data, fp);
    fclose(fp);

    prokio_runtime_options_t o = PROKIO_RUNTIME_OPTIONS_INIT;
    o.workers = 1;
    o.max_blocking_threads = 1;
    prokio_runtime_t *rt = NULL;
    assert_int_equal(prokio_runtime_new(&rt, &o), 0);
    for (int round = 0; round < 2; round++) {
        struct step open = {.path = t.path};
        assert_int_equal(conf_run_on(rt, 0, step_poll, &open, sizeof open, NULL), 0);
        assert_outcome(&open.o);
        prokio_file_t *f = open.f;

        atomic_int gate = 0, started = 0, waiting = 0;
        prokio_task_t *blocker = NULL, *reader;
        if (round == 1) {
            struct gate_job g = {&gate, &started};
            assert_int_equal(prokio_spawn_blocking(&blocker, rt, gate_fn, &g, sizeof g, NULL), 0);
            CONF_WAIT_FLAG(&started, 1);
        }
        struct reader r = {.f = f, .got = PROKIO_PENDING, .waiting = &waiting};
        assert_int_equal(prokio_spawn_on(&reader, rt, 0, reader_poll, &r, sizeof r, NULL), 0);
        CONF_WAIT_FLAG(&waiting, 1);
        prokio_task_abort(reader);
        assert_int_equal(prokio_task_blocking_join(reader), PROKIO_ECANCELED);
        int got = ((struct reader *)prokio_task_frame(reader))->got;
        char seen[16];
        memcpy(seen, ((struct reader *)prokio_task_frame(reader))->buf, sizeof seen);
        prokio_task_release(reader);
        if (blocker) {
            atomic_store(&gate, 1);
            assert_int_equal(prokio_task_blocking_join(blocker), 0);
            prokio_task_release(blocker);
            /* Held behind the gate on the pool; a native read (io_uring)
             * does not use the pool and may have completed first. */
            prokio_backend_report_t br = {.size = sizeof br};
            prokio_runtime_backend_report(rt, &br);
            if (!(br.caps & PROKIO_BACKEND_CAP_OP_READ))
                assert_int_equal(got, PROKIO_PENDING);
        }
        print_message("# round %d: the reader %s\n", round,
                      got == PROKIO_PENDING ? "was aborted in flight" : "completed first");
        uint64_t pos = prokio_file_position(f);
        if (got == PROKIO_PENDING) {
            assert_int_equal(pos, 0);
        } else {
            assert_int_equal(got, 16);
            assert_memory_equal(seen, data, 16);
            assert_int_equal(pos, 16);
        }

        struct step next = {.f = f, .len = 4};
        assert_int_equal(conf_run_on(rt, 0, step_poll, &next, sizeof next, NULL), 0);
        assert_outcome(&next.o);
        assert_int_equal(next.read_rc, 4);
        assert_memory_equal(next.buf, data + pos, 4);
    }
    test_runtime_free(rt);
    tmp_remove(&t);
#endif
}

#ifndef __EMSCRIPTEN__
struct adopter {
    int fds[2]; /* the descriptors offered: a pipe's read end, a socket */
    prokio_file_t *f[2];
    int rc[2];
    char msg[2][512];
};

static int adopter_poll(void *frame, prokio_cx_t *cx)
{
    struct adopter *a = frame;
    for (int i = 0; i < 2; i++) {
        a->rc[i] = prokio_file_from_fd(&a->f[i], a->fds[i], 0, cx);
        snprintf(a->msg[i], sizeof a->msg[i], "%s", prokio_last_error());
        if (a->rc[i] == 0)
            prokio_file_free(a->f[i]);
    }
    return 0;
}
#endif

/* A descriptor without a position (a pipe, a socket) is refused by
 * prokio_file_from_fd with PROKIO_ESPIPE and a message naming what to use
 * instead, and left open: a file's reads are at positions, and a pool
 * read of a pipe could hold a pool thread (and shutdown) for ever. */
void test_file_from_unseekable(void **state)
{
    (void)state;
    TEST_SKIP_ON_WASM("no files on WebAssembly");
#ifndef __EMSCRIPTEN__
    prokio_runtime_t *rt = test_runtime(1);
    int p[2], sv[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    struct adopter a = {.fds = {p[0], sv[0]}};
    assert_int_equal(conf_run_on(rt, 0, adopter_poll, &a, sizeof a, NULL), 0);
    for (int i = 0; i < 2; i++) {
        print_message("# %s\n", a.msg[i]);
        assert_int_equal(a.rc[i], PROKIO_ESPIPE);
        assert_null(a.f[i]);
        assert_non_null(strstr(a.msg[i], "prokio_file_from_fd"));
        assert_non_null(strstr(a.msg[i], "cannot seek"));
        assert_non_null(strstr(a.msg[i], i == 0 ? "prokio_fd_new" : "prokio_stream_from_fd"));
        assert_true(fcntl(a.fds[i], F_GETFD) >= 0); /* left open */
    }
    assert_string_equal(prokio_err_name(PROKIO_ESPIPE), "ESPIPE");
    close(p[0]);
    close(p[1]);
    close(sv[0]);
    close(sv[1]);
    test_runtime_free(rt);
#endif
}
