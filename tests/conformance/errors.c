/* tests/conformance/errors.c: error codes and messages. Every failure sets
 * the calling thread's prokio_last_error() to a message of its own, naming
 * the function that failed; a poll that hands on the result of what it
 * awaits did not fail and leaves the message alone. */
#include <ctype.h>
#include <sys/socket.h>

#include "conformance.h"

/* ------------------------------------------------------------ the table */

struct err_thread {
    char before[64];
    int rc;
    char after[256];
};

static void *err_thread_main(void *arg)
{
    struct err_thread *e = arg;
    snprintf(e->before, sizeof e->before, "%s", prokio_last_error());
    prokio_runtime_options_t o = PROKIO_RUNTIME_OPTIONS_INIT;
    o.backend = "thread-local-no-such-backend";
    prokio_runtime_t *rt = NULL;
    e->rc = prokio_runtime_new(&rt, &o);
    snprintf(e->after, sizeof e->after, "%s", prokio_last_error());
    return NULL;
}

void test_errors(void **state)
{
    (void)state;
    /* The table: names and messages for every code, and for strangers. */
    assert_string_equal(prokio_err_name(PROKIO_EINVAL), "EINVAL");
    assert_string_equal(prokio_err_name(PROKIO_ENOBACKEND), "ENOBACKEND");
    assert_string_equal(prokio_err_name(12345), "UNKNOWN");
    assert_string_equal(prokio_strerror(12345), "unknown error");
    assert_true(strlen(prokio_strerror(PROKIO_ECANCELED)) > 0);
    assert_int_equal(PROKIO_ENOENT, -ENOENT);
    assert_true(PROKIO_PENDING < PROKIO_EABI);

    /* Messages are per thread. */
    prokio_runtime_options_t o = PROKIO_RUNTIME_OPTIONS_INIT;
    o.size = 0;
    prokio_runtime_t *rt = NULL;
    assert_int_equal(prokio_runtime_new(&rt, &o), PROKIO_EINVAL);
    char mine[256];
    snprintf(mine, sizeof mine, "%s", prokio_last_error());
    assert_true(strlen(mine) > 0);
    struct err_thread e = {{0}, 0, {0}};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, err_thread_main, &e), 0);
    pthread_join(th, NULL);
    assert_string_equal(e.before, "");
    assert_true(e.rc < 0);
    assert_non_null(strstr(e.after, "thread-local-no-such-backend"));
    assert_string_equal(prokio_last_error(), mine);
}

/* ----------------------------------------------------- every failure */

/* One failing call: what it returned and what prokio_last_error() said
 * right after, on the thread that made it (tasks fill these in their
 * frames; the main thread asserts them). */
struct err_rec {
    const char *call; /* the call as written */
    const char *name; /* what the message must name */
    int want, got;
    char msg[192];
};

enum { ERR_MAX = 32 };

struct err_log {
    int n, overflow;
    struct err_rec rec[ERR_MAX];
};

static struct err_rec *err_next(struct err_log *log)
{
    if (log->n == ERR_MAX) {
        log->overflow = 1;
        return &log->rec[ERR_MAX - 1];
    }
    return &log->rec[log->n++];
}

/* Sets the message of a known failure of another function, so that a
 * message left from an earlier failure cannot pass for the new one. */
static void err_mark(const char *name)
{
    if (strcmp(name, "prokio_cx_yield") == 0)
        (void)prokio_fd_fileno(NULL);
    else
        (void)prokio_cx_yield(NULL);
}

/* Makes `call_`, which must fail with `want_`, and records it. */
#define ERR_CHECK(log, name_, want_, call_)                                                        \
    do {                                                                                           \
        struct err_rec *r_ = err_next(log);                                                        \
        err_mark(name_);                                                                           \
        r_->got = (call_);                                                                         \
        snprintf(r_->msg, sizeof r_->msg, "%s", prokio_last_error());                              \
        r_->call = #call_;                                                                         \
        r_->name = (name_);                                                                        \
        r_->want = (want_);                                                                        \
    } while (0)

static bool word_char(char c)
{
    return isalnum((unsigned char)c) || c == '_';
}

/* True when msg contains name as a whole word: "prokio_spawn_on: ..." does
 * not name prokio_spawn. */
static bool names(const char *msg, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = msg; (p = strstr(p, name)) != NULL; p++)
        if ((p == msg || !word_char(p[-1])) && !word_char(p[n]))
            return true;
    return false;
}

/* Says what every wrong record got wrong, then fails if any was. */
static void err_assert(const struct err_log *log, const char *where)
{
    assert_false(log->overflow);
    int bad = 0;
    for (int i = 0; i < log->n; i++) {
        const struct err_rec *r = &log->rec[i];
        if (r->got != r->want) {
            print_error("%s: %s returned %s (%d), want %s\n", where, r->call,
                        prokio_err_name(r->got), r->got, prokio_err_name(r->want));
            bad++;
        } else if (!names(r->msg, r->name)) {
            print_error("%s: %s failed with %s, and prokio_last_error() says \"%s\", which does "
                        "not name %s\n",
                        where, r->call, prokio_err_name(r->got), r->msg, r->name);
            bad++;
        }
    }
    if (bad)
        fail_msg("%s: %d of %d failures are wrong", where, bad, log->n);
}

/* The failures a worker thread sees: the blocking calls, and calls that
 * need cx. Registers `fd` and leaves the registration in `io`. */
struct err_task {
    prokio_runtime_t *rt;
    prokio_task_t *other;
    int fd;
    prokio_fd_t *io;
    struct err_log log;
};

static int err_task_poll(void *frame, prokio_cx_t *cx)
{
    struct err_task *f = frame;
    struct err_log *log = &f->log;
    prokio_runtime_t *made = NULL;
    prokio_task_t *h = NULL;
    ERR_CHECK(log, "prokio_runtime_new", PROKIO_EDEADLK, prokio_runtime_new(&made, NULL));
    ERR_CHECK(log, "prokio_runtime_shutdown", PROKIO_EDEADLK, prokio_runtime_shutdown(f->rt));
    ERR_CHECK(log, "prokio_runtime_free", PROKIO_EDEADLK, prokio_runtime_free(f->rt));
    ERR_CHECK(log, "prokio_runtime_block_on", PROKIO_EDEADLK,
              prokio_runtime_block_on(f->rt, conf_value_poll, NULL, sizeof(int), NULL));
    ERR_CHECK(log, "prokio_task_blocking_join", PROKIO_EDEADLK,
              prokio_task_blocking_join(f->other));
    ERR_CHECK(log, "prokio_spawn_local", PROKIO_EINVAL,
              prokio_spawn_local(&h, NULL, NULL, 0, NULL, cx));
    ERR_CHECK(log, "prokio_task_join_poll", PROKIO_EINVAL, prokio_task_join_poll(NULL, cx));
    prokio_sleep_t zeroed;
    memset(&zeroed, 0, sizeof zeroed);
    ERR_CHECK(log, "prokio_sleep_poll", PROKIO_EINVAL, prokio_sleep_poll(&zeroed, cx));
    ERR_CHECK(log, "prokio_fd_new", PROKIO_EBADF, prokio_fd_new(&f->io, -1, cx));
    ERR_CHECK(log, "prokio_fd_new", PROKIO_EINVAL, prokio_fd_new(&f->io, f->fd, NULL));
    if (prokio_fd_new(&f->io, f->fd, cx) < 0)
        return PROKIO_EIO;
    ERR_CHECK(log, "prokio_fd_ready_poll", PROKIO_EINVAL, prokio_fd_ready_poll(f->io, 0, cx));
    ERR_CHECK(log, "prokio_fd_ready_poll", PROKIO_EINVAL,
              prokio_fd_ready_poll(f->io, PROKIO_READABLE | 0x100, cx));
    prokio_oneshot_tx_t *tx;
    prokio_oneshot_rx_t *rx;
    int v = 0;
    if (prokio_oneshot_new(&tx, &rx, sizeof v, NULL, 0) < 0)
        return PROKIO_EIO;
    prokio_oneshot_tx_release(tx);
    ERR_CHECK(log, "prokio_oneshot_recv_poll", PROKIO_EPIPE, prokio_oneshot_recv_poll(rx, &v, cx));
    prokio_oneshot_rx_release(rx);
    return 0;
}

/* From the other worker: what belongs to the first is refused. */
struct err_foreign {
    prokio_fd_t *io;
    prokio_sleep_t *sleep;
    struct err_log log;
};

static int err_foreign_poll(void *frame, prokio_cx_t *cx)
{
    struct err_foreign *f = frame;
    ERR_CHECK(&f->log, "prokio_fd_ready_poll", PROKIO_EXDEV,
              prokio_fd_ready_poll(f->io, PROKIO_READABLE, cx));
    ERR_CHECK(&f->log, "prokio_fd_free", PROKIO_EXDEV, prokio_fd_free(f->io));
    ERR_CHECK(&f->log, "prokio_sleep_poll", PROKIO_EXDEV, prokio_sleep_poll(f->sleep, cx));
    return 0;
}

/* Arms a sleep that is not in its frame, says so, and parks. */
struct sleep_owner {
    prokio_sleep_t *sleep;
    atomic_int *armed;
};

static int sleep_owner_poll(void *frame, prokio_cx_t *cx)
{
    struct sleep_owner *f = frame;
    if (atomic_load(f->armed) == 0) {
        prokio_sleep_init(f->sleep, PROKIO_SEC(3600));
        if (prokio_sleep_poll(f->sleep, cx) != PROKIO_PENDING)
            return PROKIO_EIO;
        atomic_store(f->armed, 1);
    }
    return PROKIO_PENDING;
}

void test_error_messages(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(2);
    struct err_log *log = calloc(1, sizeof *log);
    assert_non_null(log);
    prokio_runtime_t *out = NULL;
    prokio_task_t *h = NULL;
    int v = 7;

    /* Runtimes. */
    prokio_runtime_options_t o = PROKIO_RUNTIME_OPTIONS_INIT;
    ERR_CHECK(log, "prokio_runtime_new", PROKIO_EINVAL, prokio_runtime_new(NULL, NULL));
    o.size = 0;
    ERR_CHECK(log, "prokio_runtime_new", PROKIO_EINVAL, prokio_runtime_new(&out, &o));
    o = (prokio_runtime_options_t)PROKIO_RUNTIME_OPTIONS_INIT;
    o.workers = 1000000;
    ERR_CHECK(log, "prokio_runtime_new", PROKIO_EINVAL, prokio_runtime_new(&out, &o));
    /* A backend that cannot load: the message names the backend. */
    o = (prokio_runtime_options_t)PROKIO_RUNTIME_OPTIONS_INIT;
    o.backend = "no-such-backend";
    ERR_CHECK(log, "no-such-backend", PROKIO_ENOENT, prokio_runtime_new(&out, &o));
    ERR_CHECK(log, "prokio_runtime_shutdown", PROKIO_EINVAL, prokio_runtime_shutdown(NULL));
    ERR_CHECK(log, "prokio_runtime_block_on", PROKIO_EINVAL,
              prokio_runtime_block_on(NULL, conf_value_poll, &v, sizeof v, NULL));
    ERR_CHECK(log, "prokio_runtime_block_on", PROKIO_EINVAL,
              prokio_runtime_block_on(rt, NULL, &v, sizeof v, NULL));

    /* Spawning, JoinHandles, the context, sleeps, descriptors. */
    ERR_CHECK(log, "prokio_spawn", PROKIO_EINVAL,
              prokio_spawn(&h, NULL, conf_value_poll, &v, sizeof v, NULL));
    ERR_CHECK(log, "prokio_spawn", PROKIO_EINVAL, prokio_spawn(&h, rt, NULL, &v, sizeof v, NULL));
    ERR_CHECK(log, "prokio_spawn", PROKIO_ENOMEM,
              prokio_spawn(&h, rt, conf_value_poll, NULL, SIZE_MAX / 4, NULL));
    ERR_CHECK(log, "prokio_spawn_on", PROKIO_EINVAL,
              prokio_spawn_on(&h, NULL, 0, conf_value_poll, &v, sizeof v, NULL));
    ERR_CHECK(log, "prokio_spawn_on", PROKIO_EINVAL,
              prokio_spawn_on(&h, rt, 2, conf_value_poll, &v, sizeof v, NULL));
    ERR_CHECK(log, "prokio_spawn_on", PROKIO_ENOMEM,
              prokio_spawn_on(&h, rt, 1, conf_value_poll, NULL, SIZE_MAX - 8, NULL));
    ERR_CHECK(log, "prokio_spawn_local", PROKIO_EINVAL,
              prokio_spawn_local(&h, conf_value_poll, &v, sizeof v, NULL, NULL));
    ERR_CHECK(log, "prokio_task_join_poll", PROKIO_EINVAL, prokio_task_join_poll(NULL, NULL));
    ERR_CHECK(log, "prokio_task_blocking_join", PROKIO_EINVAL, prokio_task_blocking_join(NULL));
    ERR_CHECK(log, "prokio_task_result", PROKIO_EINVAL, prokio_task_result(NULL));
    ERR_CHECK(log, "prokio_cx_yield", PROKIO_EINVAL, prokio_cx_yield(NULL));
    ERR_CHECK(log, "prokio_sleep_poll", PROKIO_EINVAL, prokio_sleep_poll(NULL, NULL));
    ERR_CHECK(log, "prokio_fd_new", PROKIO_EINVAL, prokio_fd_new(NULL, 0, NULL));
    ERR_CHECK(log, "prokio_fd_ready_poll", PROKIO_EINVAL,
              prokio_fd_ready_poll(NULL, PROKIO_READABLE, NULL));
    ERR_CHECK(log, "prokio_fd_fileno", PROKIO_EINVAL, prokio_fd_fileno(NULL));

    /* Oneshot channels. */
    prokio_oneshot_tx_t *tx;
    prokio_oneshot_rx_t *rx;
    ERR_CHECK(log, "prokio_oneshot_new", PROKIO_EINVAL,
              prokio_oneshot_new(NULL, &rx, sizeof v, NULL, 0));
#if SIZE_MAX > UINT32_MAX
    ERR_CHECK(log, "prokio_oneshot_new", PROKIO_EINVAL,
              prokio_oneshot_new(&tx, &rx, (size_t)UINT32_MAX + 1, NULL, 0));
#endif
    ERR_CHECK(log, "prokio_oneshot_send", PROKIO_EINVAL, prokio_oneshot_send(NULL, &v));
    assert_int_equal(prokio_oneshot_new(&tx, &rx, sizeof v, NULL, 0), 0);
    ERR_CHECK(log, "prokio_oneshot_send", PROKIO_EINVAL, prokio_oneshot_send(tx, NULL));
    prokio_oneshot_rx_release(rx);
    assert_int_equal(prokio_oneshot_new(&tx, &rx, sizeof v, NULL, 0), 0);
    prokio_oneshot_rx_release(rx);
    ERR_CHECK(log, "prokio_oneshot_send", PROKIO_EPIPE, prokio_oneshot_send(tx, &v));
    ERR_CHECK(log, "prokio_oneshot_recv_poll", PROKIO_EINVAL,
              prokio_oneshot_recv_poll(NULL, &v, NULL));
    err_assert(log, "main thread");

    /* On a worker. */
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    prokio_task_t *other = NULL;
    assert_int_equal(prokio_spawn(&other, rt, conf_value_poll, &v, sizeof v, NULL), 0);
    struct err_task *t = calloc(1, sizeof *t);
    assert_non_null(t);
    t->rt = rt;
    t->other = other;
    t->fd = sv[0];
    assert_int_equal(conf_run_on(rt, 0, err_task_poll, t, sizeof *t, NULL), 0);
    err_assert(&t->log, "worker 0");
    assert_int_equal(conf_join(other, NULL, 0), v);

    /* What belongs to worker 0, from worker 1 and from the main thread. */
    prokio_sleep_t sleep;
    memset(&sleep, 0, sizeof sleep); /* prokio_sleep_init wants zeroed or initialised memory */
    atomic_int armed = 0;
    struct sleep_owner so = {.sleep = &sleep, .armed = &armed};
    prokio_task_t *owner = NULL;
    assert_int_equal(prokio_spawn_on(&owner, rt, 0, sleep_owner_poll, &so, sizeof so, NULL), 0);
    CONF_WAIT_FLAG(&armed, 1);
    struct err_foreign *fo = calloc(1, sizeof *fo);
    assert_non_null(fo);
    fo->io = t->io;
    fo->sleep = &sleep;
    assert_int_equal(conf_run_on(rt, 1, err_foreign_poll, fo, sizeof *fo, NULL), 0);
    err_assert(&fo->log, "worker 1");
    prokio_task_abort(owner);
    assert_int_equal(conf_join(owner, NULL, 0), PROKIO_ECANCELED);
    log->n = 0;
    ERR_CHECK(log, "prokio_fd_free", PROKIO_EXDEV, prokio_fd_free(t->io));

    /* Freeing while a handle is held shuts down; then spawns are refused. */
    assert_int_equal(prokio_spawn(&h, rt, conf_value_poll, &v, sizeof v, NULL), 0);
    assert_int_equal(prokio_task_blocking_join(h), v);
    ERR_CHECK(log, "prokio_runtime_free", PROKIO_EBUSY, prokio_runtime_free(rt));
    prokio_task_t *refused = NULL;
    ERR_CHECK(log, "prokio_spawn", PROKIO_ESHUTDOWN,
              prokio_spawn(&refused, rt, conf_value_poll, &v, sizeof v, NULL));
    ERR_CHECK(log, "prokio_spawn_on", PROKIO_ESHUTDOWN,
              prokio_spawn_on(&refused, rt, 1, conf_value_poll, &v, sizeof v, NULL));
    ERR_CHECK(log, "prokio_runtime_block_on", PROKIO_ESHUTDOWN,
              prokio_runtime_block_on(rt, conf_value_poll, &v, sizeof v, NULL));
    err_assert(log, "main thread");
    prokio_task_release(h);
    assert_int_equal(prokio_fd_free(t->io), 0);
    close(sv[0]);
    close(sv[1]);
    free(fo);
    free(t);
    free(log);
    test_runtime_free(rt);
}

/* ------------------------------------------------ results handed on */

/* The message a poll must leave alone: set just before each poll. */
static void marker(char *buf, size_t size)
{
    (void)prokio_cx_yield(NULL);
    snprintf(buf, size, "%s", prokio_last_error());
}

enum { HANDED = 4 };

/* Awaits tasks that end with their own negative results: one that ended
 * before it started, one on its worker, one on the other, one aborted.
 * Each join, and a join again after it, must leave the message alone. */
struct handing {
    int co, i;
    prokio_task_t *kid[HANDED];
    int got[HANDED], again[HANDED], kept[HANDED], kept_again[HANDED];
    char msg[HANDED][160];
};

static int marked_join(struct handing *f, int *kept, prokio_cx_t *cx)
{
    char mark[160];
    marker(mark, sizeof mark);
    int r = prokio_task_join_poll(f->kid[f->i], cx);
    if (r != PROKIO_PENDING) {
        *kept = strcmp(prokio_last_error(), mark) == 0;
        snprintf(f->msg[f->i], sizeof f->msg[f->i], "%s", prokio_last_error());
    }
    return r;
}

static int handing_poll(void *frame, prokio_cx_t *cx)
{
    struct handing *f = frame;
    PROKIO_BEGIN(&f->co);
    int eio = PROKIO_EIO, big = -0x10000;
    struct track t = {0};
    if (prokio_spawn_local(&f->kid[1], conf_value_poll, &eio, sizeof eio, NULL, cx) < 0 ||
        prokio_spawn_on(&f->kid[2], prokio_cx_runtime(cx), 1 - prokio_cx_worker(cx),
                        conf_value_poll, &big, sizeof big, NULL) < 0 ||
        prokio_spawn_local(&f->kid[3], conf_park_forever, &t, sizeof t, NULL, cx) < 0)
        return PROKIO_EIO;
    prokio_task_abort(f->kid[3]);
    for (f->i = 0; f->i < HANDED; f->i++) {
        PROKIO_AWAIT_INTO(&f->co, f->got[f->i], marked_join(f, &f->kept[f->i], cx));
        f->again[f->i] = marked_join(f, &f->kept_again[f->i], cx);
    }
    PROKIO_END(&f->co, 0);
}

static void *send_one_main(void *arg)
{
    int one = 1;
    (void)prokio_oneshot_send(arg, &one);
    return NULL;
}

void test_error_kept_by_join(void **state)
{
    (void)state;
    static const int want[HANDED] = {PROKIO_ENOTCONN, PROKIO_EIO, -0x10000, PROKIO_ECANCELED};
    prokio_runtime_t *rt = test_runtime(2);
    char mark[160];
    for (unsigned w = 0; w < 2; w++) {
        struct handing p = {0};
        assert_int_equal(prokio_spawn(&p.kid[0], rt, conf_value_poll, &want[0], sizeof(int), NULL),
                         0);
        assert_int_equal(prokio_task_blocking_join(p.kid[0]), want[0]);
        assert_int_equal(conf_run_on(rt, w, handing_poll, &p, sizeof p, NULL), 0);
        for (int i = 0; i < HANDED; i++) {
            assert_int_equal(p.got[i], want[i]);
            assert_int_equal(p.again[i], want[i]);
            if (!p.kept[i] || !p.kept_again[i])
                fail_msg("worker %u: prokio_task_join_poll handed on %s and set the message \"%s\"",
                         w, prokio_err_name(want[i]), p.msg[i]);
            /* From a thread too: prokio_task_blocking_join and
             * prokio_task_result hand on the same result. */
            marker(mark, sizeof mark);
            assert_int_equal(prokio_task_blocking_join(p.kid[i]), want[i]);
            assert_string_equal(prokio_last_error(), mark);
            assert_int_equal(prokio_task_result(p.kid[i]), want[i]);
            assert_string_equal(prokio_last_error(), mark);
            assert_int_equal(conf_join(p.kid[i], NULL, 0), want[i]);
        }
    }
    /* prokio_runtime_block_on hands on its task's result, and so does a
     * blocking join that may have to wait (the gate opens from a thread). */
    int big = -0x10000;
    marker(mark, sizeof mark);
    assert_int_equal(prokio_runtime_block_on(rt, conf_value_poll, &big, sizeof big, NULL), big);
    assert_string_equal(prokio_last_error(), mark);
    struct drops d = {0};
    struct gated g;
    prokio_oneshot_tx_t *tx;
    conf_gated_init(&g, &d, PROKIO_ECONNRESET, &tx);
    prokio_task_t *h = NULL;
    assert_int_equal(prokio_spawn(&h, rt, conf_gated_poll, &g, sizeof g, conf_gated_drop), 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, send_one_main, tx), 0);
    marker(mark, sizeof mark);
    assert_int_equal(prokio_task_blocking_join(h), PROKIO_ECONNRESET);
    assert_string_equal(prokio_last_error(), mark);
    pthread_join(th, NULL);
    assert_int_equal(conf_join(h, NULL, 0), PROKIO_ECONNRESET);
    test_runtime_free(rt);
}
