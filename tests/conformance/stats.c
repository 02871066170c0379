/* tests/conformance/stats.c: prokio_runtime_stats_read (prokio/stats.h):
 * exact counts of tasks, I/O operations in flight (native or emulated,
 * as the backend runs them), registered descriptors and the blocking
 * pool, in scenarios simple enough to know them; the size versioning. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <prokio/backend.h>
#include <prokio/backend_info.h>

#include "net_common.h"

static prokio_runtime_stats_t stats_of(prokio_runtime_t *rt)
{
    prokio_runtime_stats_t st = PROKIO_RUNTIME_STATS_INIT;
    assert_int_equal(prokio_runtime_stats_read(rt, &st), 0);
    return st;
}

static uint64_t ops_of(const prokio_runtime_stats_t *st)
{
    return st->ops_native + st->ops_waiting + st->ops_pool;
}

/* Whether the runtime's loop runs `cap` (a PROKIO_BACKEND_CAP_OP_* bit)
 * natively: then that operation counts in ops_native, else in
 * ops_waiting (sockets) or ops_pool (files). */
static bool runs_natively(prokio_runtime_t *rt, uint64_t cap)
{
    prokio_backend_report_t r = {.size = sizeof r};
    prokio_runtime_backend_report(rt, &r);
    return (r.caps & cap) != 0;
}

void test_stats_idle_and_sizes(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(conf_workers(2));
    prokio_runtime_stats_t st = stats_of(rt);
    assert_int_equal(st.size, sizeof st);
    assert_int_equal(st.tasks, 0);
    assert_int_equal(st.tasks_ending, 0);
    assert_int_equal(ops_of(&st), 0);
    assert_int_equal(st.fds, 0);
    assert_int_equal(st.blocking_threads + st.blocking_queued + st.blocking_running, 0);

    /* A caller built against a shorter struct gets what it knows and
     * nothing is written past it. */
    union {
        prokio_runtime_stats_t st;
        unsigned char bytes[sizeof(prokio_runtime_stats_t)];
    } u;
    memset(&u, 0xa5, sizeof u);
    u.st.size = offsetof(prokio_runtime_stats_t, ops_native);
    assert_int_equal(prokio_runtime_stats_read(rt, &u.st), 0);
    assert_int_equal(u.st.size, offsetof(prokio_runtime_stats_t, ops_native));
    assert_int_equal(u.st.tasks, 0);
    for (size_t i = offsetof(prokio_runtime_stats_t, ops_native); i < sizeof u; i++)
        assert_int_equal(u.bytes[i], 0xa5);

    /* Too small for any count, or unset: refused, with the reason. */
    u.st.size = 0;
    assert_int_equal(prokio_runtime_stats_read(rt, &u.st), PROKIO_EINVAL);
    assert_non_null(strstr(prokio_last_error(), "sizeof(prokio_runtime_stats_t)"));
    assert_int_equal(prokio_runtime_stats_read(NULL, &st), PROKIO_EINVAL);
    assert_int_equal(prokio_runtime_stats_read(rt, NULL), PROKIO_EINVAL);
    test_runtime_free(rt);
}

/* Tasks: counted from the spawn to their end, on every worker; zero again
 * after they returned, and after a shutdown ended the rest. */
void test_stats_tasks(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(conf_workers(2));
    enum { N = 6 };
    struct drops d = {0};
    atomic_int started = 0;
    prokio_oneshot_tx_t *tx[N];
    prokio_task_t *h[N];
    for (int i = 0; i < N; i++) {
        struct gated g;
        conf_gated_init(&g, &d, i, &tx[i]);
        g.started = &started;
        assert_int_equal(prokio_spawn_on(&h[i], rt, conf_worker(rt, (unsigned)i), conf_gated_poll,
                                         &g, sizeof g, conf_gated_drop),
                         0);
    }
    CONF_WAIT_FLAG(&started, N);
    prokio_runtime_stats_t st = stats_of(rt);
    assert_int_equal(st.tasks, N);
    assert_int_equal(st.tasks_ending, 0);
    assert_int_equal(ops_of(&st), 0);
    /* Half of them end; the others are ended by the shutdown. */
    for (int i = 0; i < N / 2; i++) {
        int v = i;
        assert_int_equal(prokio_oneshot_send(tx[i], &v), 0);
        assert_int_equal(conf_join(h[i], NULL, 0), i);
    }
    assert_int_equal(stats_of(rt).tasks, N - N / 2);
    assert_int_equal(prokio_runtime_shutdown(rt), 0);
    st = stats_of(rt);
    assert_int_equal(st.tasks, 0);
    assert_int_equal(st.tasks_ending, 0);
    for (int i = N / 2; i < N; i++) {
        assert_int_equal(conf_join(h[i], NULL, 0), PROKIO_ECANCELED);
        prokio_oneshot_tx_release(tx[i]);
    }
    assert_int_equal(atomic_load(&d.n), N);
    test_runtime_free(rt);
}

/* A task reading a socket that has nothing yet: one op in flight, native
 * or waiting for readiness as the backend runs recv. It records the
 * counts from its own worker right after its read said PENDING. */
struct stats_reader {
    prokio_stream_t *s;
    prokio_op_t op;
    atomic_int *armed;
    prokio_runtime_stats_t *seen; /* the test's: written before *armed */
    unsigned char buf[64];
    int rc;
};

static int stats_reader_poll(void *frame, prokio_cx_t *cx)
{
    struct stats_reader *f = frame;
    int rc = prokio_stream_read_poll(&f->op, f->s, f->buf, sizeof f->buf, cx);
    if (rc == PROKIO_PENDING) {
        if (atomic_load(f->armed) == 0) {
            f->seen->size = sizeof *f->seen;
            prokio_runtime_stats_read(prokio_runtime_current(), f->seen);
            atomic_store(f->armed, 1);
        }
        return rc;
    }
    f->rc = rc;
    return rc;
}

static void stats_reader_drop(void *frame)
{
    struct stats_reader *f = frame;
    prokio_stream_free(f->s);
    f->s = NULL;
}

/* One read in flight, then done (completed) or aborted: counted exactly
 * once while it waits, zero ops, tasks and descriptors afterwards. */
static void one_read(bool abort_it)
{
    NET_SKIP_ON_WASM();
    prokio_runtime_t *rt = test_runtime(1);
    bool native = runs_natively(rt, PROKIO_BACKEND_CAP_OP_RECV);
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    atomic_int armed = 0;
    prokio_runtime_stats_t seen = {0};
    struct stats_reader r = {.armed = &armed, .seen = &seen};
    assert_int_equal(prokio_stream_from_fd(&r.s, sv[0], 0), 0);
    prokio_task_t *h;
    assert_int_equal(prokio_spawn_on(&h, rt, 0, stats_reader_poll, &r, sizeof r, stats_reader_drop),
                     0);
    CONF_WAIT_FLAG(&armed, 1);
    /* What the worker saw, and the same from this thread. */
    prokio_runtime_stats_t st = stats_of(rt);
    for (int k = 0; k < 2; k++) {
        const prokio_runtime_stats_t *s = k == 0 ? &seen : &st;
        assert_int_equal(s->tasks, 1);
        assert_int_equal(s->ops_native, native ? 1 : 0);
        assert_int_equal(s->ops_waiting, native ? 0 : 1);
        assert_int_equal(s->ops_pool, 0);
        /* Emulation registers the socket for readiness at its first
         * EAGAIN; the native path never needs to. */
        assert_int_equal(s->fds, native ? 0 : 1);
    }
    if (abort_it) {
        prokio_task_abort(h);
        assert_int_equal(conf_join(h, NULL, 0), PROKIO_ECANCELED);
    } else {
        assert_int_equal(write(sv[1], "x", 1), 1);
        assert_int_equal(conf_join(h, &r, sizeof r), 1);
        assert_int_equal(r.rc, 1);
    }
    /* The join returned after the task's end, which (natively) waited for
     * the cancelled recv's terminal completion: nothing is left. */
    st = stats_of(rt);
    assert_int_equal(st.tasks, 0);
    assert_int_equal(st.tasks_ending, 0);
    assert_int_equal(ops_of(&st), 0);
    assert_int_equal(st.fds, 0);
    close(sv[1]);
    test_runtime_free(rt);
}

void test_stats_read_completes(void **state)
{
    (void)state;
    one_read(false);
}

void test_stats_read_aborted(void **state)
{
    (void)state;
    one_read(true);
}

/* The blocking pool, bounded to one thread: one job running, one queued;
 * then both done, the thread idle. */
static atomic_int pool_gate;

static int held_job(void *frame)
{
    (void)frame;
    conf_wait_flag(&pool_gate, 1);
    return 7;
}

void test_stats_blocking_pool(void **state)
{
    (void)state;
    TEST_SKIP_ON_WASM("no blocking pool on WebAssembly (no threads)");
    prokio_runtime_options_t o = PROKIO_RUNTIME_OPTIONS_INIT;
    o.workers = 1;
    o.max_blocking_threads = 1;
    o.blocking_keep_alive_ms = 60000; /* stays, idle, until the shutdown */
    prokio_runtime_t *rt;
    assert_int_equal(prokio_runtime_new(&rt, &o), 0);
    atomic_store(&pool_gate, 0);
    prokio_task_t *a, *b;
    assert_int_equal(prokio_spawn_blocking(&a, rt, held_job, NULL, 0, NULL), 0);
    assert_int_equal(prokio_spawn_blocking(&b, rt, held_job, NULL, 0, NULL), 0);
    prokio_runtime_stats_t st;
    uint64_t end = mono_ns() + conf_timeout_ns();
    do { /* the thread takes the first job when it gets there */
        st = stats_of(rt);
    } while (st.blocking_running != 1 && conf_yield_before(end));
    assert_int_equal(st.blocking_threads, 1);
    assert_int_equal(st.blocking_idle, 0);
    assert_int_equal(st.blocking_running, 1);
    assert_int_equal(st.blocking_queued, 1);
    assert_int_equal(st.tasks, 2); /* the two JoinHandle waiters */
    atomic_store(&pool_gate, 1);
    assert_int_equal(conf_join(a, NULL, 0), 7);
    assert_int_equal(conf_join(b, NULL, 0), 7);
    end = mono_ns() + conf_timeout_ns();
    do { /* the thread counts itself idle once it is back in its wait */
        st = stats_of(rt);
    } while (st.blocking_idle != 1 && conf_yield_before(end));
    assert_int_equal(st.blocking_threads, 1);
    assert_int_equal(st.blocking_idle, 1);
    assert_int_equal(st.blocking_running, 0);
    assert_int_equal(st.blocking_queued, 0);
    assert_int_equal(st.tasks, 0);
    test_runtime_free(rt);
}

/* A file open of a FIFO without a writer: one op, on the pool (where it
 * blocks until a writer comes) or native (counted until its completion). */
struct stats_opener {
    const char *path;
    prokio_file_t *f;
    prokio_op_t op;
    atomic_int *armed;
    prokio_runtime_stats_t *seen; /* the test's: written before *armed */
    int rc;
};

static int stats_opener_poll(void *frame, prokio_cx_t *cx)
{
    struct stats_opener *f = frame;
    int rc = prokio_file_open_poll(&f->f, &f->op, f->path, O_RDONLY, 0, cx);
    if (rc == PROKIO_PENDING) {
        if (atomic_load(f->armed) == 0) {
            f->seen->size = sizeof *f->seen;
            prokio_runtime_stats_read(prokio_runtime_current(), f->seen);
            atomic_store(f->armed, 1);
        }
        return rc;
    }
    f->rc = rc;
    return rc;
}

static void stats_opener_drop(void *frame)
{
    struct stats_opener *f = frame;
    prokio_file_free(f->f);
    f->f = NULL;
}

void test_stats_file_open(void **state)
{
    (void)state;
    TEST_SKIP_ON_WASM("no files on WebAssembly");
    prokio_runtime_t *rt = test_runtime(1);
    bool native = runs_natively(rt, PROKIO_BACKEND_CAP_OP_OPEN);
    char path[64];
    snprintf(path, sizeof path, "/tmp/prokio-stats-fifo-%d", (int)getpid());
    unlink(path);
    assert_int_equal(mkfifo(path, 0600), 0);
    atomic_int armed = 0;
    prokio_runtime_stats_t seen = {0};
    struct stats_opener o = {.path = path, .armed = &armed, .seen = &seen};
    prokio_task_t *h;
    assert_int_equal(prokio_spawn_on(&h, rt, 0, stats_opener_poll, &o, sizeof o, stats_opener_drop),
                     0);
    CONF_WAIT_FLAG(&armed, 1);
    assert_int_equal(seen.ops_native, native ? 1 : 0);
    assert_int_equal(seen.ops_pool, native ? 0 : 1);
    assert_int_equal(seen.ops_waiting, 0);
    /* On the pool the open blocks until a writer comes. io_uring's open
     * tries without blocking first, which a FIFO allows (O_NONBLOCK): it
     * may well have completed by now, so only the task's own reading is
     * known there. */
    if (!native)
        assert_int_equal(stats_of(rt).ops_pool, 1);
    /* The writer end lets the open return (O_RDWR never blocks on a FIFO). */
    int w = open(path, O_RDWR | O_CLOEXEC);
    assert_true(w >= 0);
    assert_int_equal(conf_join(h, &o, sizeof o), 0);
    assert_int_equal(o.rc, 0);
    prokio_runtime_stats_t st = stats_of(rt);
    assert_int_equal(ops_of(&st), 0);
    assert_int_equal(st.tasks, 0);
    close(w);
    unlink(path);
    test_runtime_free(rt);
}
