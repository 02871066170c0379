/* tests/conformance/blocking.c: prokio_spawn_blocking (prokio/blocking.h).
 *
 * Blocking functions here wait on flags that the test (or a task) sets,
 * never on sleeps, so what ran where and when is decided, not timed. */
#include "conformance.h"

#include <prokio/blocking.h>

static int noop_fn(void *frame)
{
    (void)frame;
    return 0;
}

#ifndef __EMSCRIPTEN__
#include <dirent.h>
#include <time.h>

struct job {
    int in, out;
    pthread_t ran_on;
    atomic_int *gate;    /* NULL, or wait until it is 1 */
    atomic_int *started; /* incremented when fn starts */
    atomic_int *running, *max_running;
    atomic_int *drops;
    bool timed_out;
};

static int job_fn(void *frame)
{
    struct job *j = frame;
    j->ran_on = pthread_self();
    if (j->started)
        atomic_fetch_add(j->started, 1);
    if (j->running) {
        int now = atomic_fetch_add(j->running, 1) + 1;
        int max = atomic_load(j->max_running);
        while (now > max && !atomic_compare_exchange_weak(j->max_running, &max, now))
            ;
    }
    if (j->gate && !conf_wait_flag(j->gate, 1))
        j->timed_out = true;
    if (j->running)
        atomic_fetch_sub(j->running, 1);
    j->out = j->in * 2;
    return j->in;
}

static void job_drop(void *frame)
{
    struct job *j = frame;
    if (j->drops)
        atomic_fetch_add(j->drops, 1);
}

static int thread_count(void)
{
    DIR *d = opendir("/proc/self/task");
    if (d == NULL)
        return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static prokio_runtime_t *pool_runtime(unsigned workers, unsigned max_threads, unsigned keep_ms)
{
    prokio_runtime_options_t o = PROKIO_RUNTIME_OPTIONS_INIT;
    o.workers = workers;
    o.max_blocking_threads = max_threads;
    o.blocking_keep_alive_ms = keep_ms;
    prokio_runtime_t *rt = NULL;
    assert_int_equal(prokio_runtime_new(&rt, &o), 0);
    return rt;
}
#endif

/* From a plain thread: the result, and the frame as fn left it, through
 * the JoinHandle; fn ran on a thread that is neither the caller nor a
 * worker. */
void test_blocking_result_and_frame(void **state)
{
    (void)state;
    TEST_SKIP_ON_WASM("no threads on WebAssembly");
#ifndef __EMSCRIPTEN__
    prokio_runtime_t *rt = test_runtime(2);
    pthread_t workers[CONF_MAX_WORKERS];
    conf_worker_threads(rt, workers);
    atomic_int drops = 0;
    struct job j = {.in = 21, .drops = &drops};
    prokio_task_t *h;
    assert_int_equal(prokio_spawn_blocking(&h, rt, job_fn, &j, sizeof j, job_drop), 0);
    assert_int_equal(prokio_task_blocking_join(h), 21);
    struct job *done = prokio_task_frame(h);
    assert_int_equal(done->out, 42);
    assert_false(pthread_equal(done->ran_on, pthread_self()));
    for (unsigned w = 0; w < 2; w++)
        assert_false(pthread_equal(done->ran_on, workers[w]));
    assert_int_equal(atomic_load(&drops), 1); /* the task ended: its drop ran */
    prokio_task_release(h);
    test_runtime_free(rt);
    assert_int_equal(atomic_load(&drops), 1);
#endif
}

#ifndef __EMSCRIPTEN__
/* A task starts a blocking function that can only finish once another
 * task on the same worker has run: if fn ran on the worker, it would
 * never finish. */
struct opener {
    int co;
    atomic_int gate;
    prokio_task_t *job, *other;
    int rc;
};

static int set_gate_poll(void *frame, prokio_cx_t *cx)
{
    (void)cx;
    atomic_store(*(atomic_int **)frame, 1);
    return 0;
}

static int opener_poll(void *frame, prokio_cx_t *cx)
{
    struct opener *o = frame;
    PROKIO_BEGIN(&o->co);
    {
        struct job j = {.in = 5, .gate = &o->gate};
        atomic_int *g = &o->gate;
        if (prokio_spawn_blocking(&o->job, NULL, job_fn, &j, sizeof j, NULL) < 0 ||
            prokio_spawn_local(&o->other, set_gate_poll, &g, sizeof g, NULL, cx) < 0)
            return PROKIO_EIO;
    }
    PROKIO_AWAIT_INTO(&o->co, o->rc, prokio_task_join_poll(o->job, cx));
    {
        struct job *done = prokio_task_frame(o->job);
        if (done->timed_out || done->out != 10)
            o->rc = PROKIO_EIO;
    }
    prokio_task_release(o->job);
    PROKIO_AWAIT(&o->co, prokio_task_join_poll(o->other, cx));
    prokio_task_release(o->other);
    PROKIO_END(&o->co, 0);
}
#endif

void test_blocking_worker_keeps_running(void **state)
{
    (void)state;
    TEST_SKIP_ON_WASM("no threads on WebAssembly");
#ifndef __EMSCRIPTEN__
    prokio_runtime_t *rt = test_runtime(1);
    struct opener o = {0};
    assert_int_equal(conf_run_on(rt, 0, opener_poll, &o, sizeof o, NULL), 0);
    assert_int_equal(o.rc, 5);
    test_runtime_free(rt);
#endif
}

/* With one pool thread busy, a second job waits in the queue; aborted
 * there, it never runs, its result is PROKIO_ECANCELED and its drop runs
 * once. */
void test_blocking_abort_queued(void **state)
{
    (void)state;
    TEST_SKIP_ON_WASM("no threads on WebAssembly");
#ifndef __EMSCRIPTEN__
    prokio_runtime_t *rt = pool_runtime(1, 1, 0);
    atomic_int gate = 0, started = 0, drops_a = 0, drops_b = 0;
    struct job a = {.in = 1, .gate = &gate, .started = &started, .drops = &drops_a};
    struct job b = {.in = 2, .started = &started, .drops = &drops_b};
    prokio_task_t *ha, *hb;
    assert_int_equal(prokio_spawn_blocking(&ha, rt, job_fn, &a, sizeof a, job_drop), 0);
    CONF_WAIT_FLAG(&started, 1); /* the only thread is in a */
    assert_int_equal(prokio_spawn_blocking(&hb, rt, job_fn, &b, sizeof b, job_drop), 0);
    prokio_task_abort(hb);
    assert_int_equal(prokio_task_blocking_join(hb), PROKIO_ECANCELED);
    assert_int_equal(atomic_load(&drops_b), 1);
    atomic_store(&gate, 1);
    assert_int_equal(prokio_task_blocking_join(ha), 1);
    assert_int_equal(atomic_load(&started), 1); /* b never ran */
    prokio_task_release(ha);
    prokio_task_release(hb);
    test_runtime_free(rt);
    assert_int_equal(atomic_load(&drops_a), 1);
    assert_int_equal(atomic_load(&drops_b), 1);
#endif
}

/* Aborted while fn runs: the handle says PROKIO_ECANCELED at once, fn goes
 * on to its end, and the drop runs only after fn returned, once. */
void test_blocking_abort_running(void **state)
{
    (void)state;
    TEST_SKIP_ON_WASM("no threads on WebAssembly");
#ifndef __EMSCRIPTEN__
    prokio_runtime_t *rt = test_runtime(1);
    atomic_int gate = 0, started = 0, drops = 0;
    struct job j = {.in = 3, .gate = &gate, .started = &started, .drops = &drops};
    prokio_task_t *h;
    assert_int_equal(prokio_spawn_blocking(&h, rt, job_fn, &j, sizeof j, job_drop), 0);
    CONF_WAIT_FLAG(&started, 1);
    prokio_task_abort(h);
    assert_int_equal(prokio_task_blocking_join(h), PROKIO_ECANCELED);
    prokio_task_release(h);
    assert_int_equal(atomic_load(&drops), 0); /* fn still has the frame */
    atomic_store(&gate, 1);
    CONF_WAIT_FLAG(&drops, 1);
    test_runtime_free(rt);
    assert_int_equal(atomic_load(&drops), 1);
#endif
}

/* The pool grows to its bound and no further; every job runs. */
void test_blocking_pool_bound(void **state)
{
    (void)state;
    TEST_SKIP_ON_WASM("no threads on WebAssembly");
#ifndef __EMSCRIPTEN__
    enum { N = 16, MAX = 4 };
    prokio_runtime_t *rt = pool_runtime(1, MAX, 0);
    atomic_int gate = 0, started = 0, running = 0, max_running = 0;
    prokio_task_t *h[N];
    for (int i = 0; i < N; i++) {
        struct job j = {.in = i,
                        .gate = &gate,
                        .started = &started,
                        .running = &running,
                        .max_running = &max_running};
        assert_int_equal(prokio_spawn_blocking(&h[i], rt, job_fn, &j, sizeof j, NULL), 0);
    }
    CONF_WAIT_FLAG(&started, MAX);
    assert_int_equal(atomic_load(&started), MAX); /* the others wait for a thread */
    atomic_store(&gate, 1);
    for (int i = 0; i < N; i++) {
        assert_int_equal(prokio_task_blocking_join(h[i]), i);
        prokio_task_release(h[i]);
    }
    assert_int_equal(atomic_load(&started), N);
    assert_int_equal(atomic_load(&max_running), MAX);
    test_runtime_free(rt);
#endif
}

/* An idle pool thread ends after the keep-alive; the next job starts a new
 * one. */
void test_blocking_keep_alive(void **state)
{
    (void)state;
    TEST_SKIP_ON_WASM("no threads on WebAssembly");
#ifndef __EMSCRIPTEN__
    prokio_runtime_t *rt = pool_runtime(1, 0, 20);
    /* A detached pool thread of an earlier test's runtime may still be
     * leaving the process (its pool stopped counting it already): the
     * count is compared with "at most the baseline". */
    int base = thread_count();
    for (int round = 0; round < 2; round++) {
        struct job j = {.in = 7};
        prokio_task_t *h;
        assert_int_equal(prokio_spawn_blocking(&h, rt, job_fn, &j, sizeof j, NULL), 0);
        assert_int_equal(prokio_task_blocking_join(h), 7);
        prokio_task_release(h);
        /* Bounded: the thread ends 20 ms after its job, or the test fails. */
        uint64_t waited_ms = 0;
        while (thread_count() > base && waited_ms < conf_timeout_ns() / 1000000u) {
            struct timespec ms = {0, 1000000};
            nanosleep(&ms, NULL);
            waited_ms++;
        }
        assert_true(thread_count() <= base);
    }
    test_runtime_free(rt);
#endif
}

#ifndef __EMSCRIPTEN__
static void *open_gate_later(void *arg)
{
    struct timespec pause = {0, 30 * 1000 * 1000};
    nanosleep(&pause, NULL);
    atomic_store((atomic_int *)arg, 1);
    return NULL;
}
#endif

/* Shutdown waits for a function that runs and drops one that never
 * started (fn not run, drop once). */
void test_blocking_shutdown(void **state)
{
    (void)state;
    TEST_SKIP_ON_WASM("no threads on WebAssembly");
#ifndef __EMSCRIPTEN__
    prokio_runtime_t *rt = pool_runtime(1, 1, 0);
    atomic_int gate = 0, started = 0, drops = 0;
    struct job a = {.in = 1, .gate = &gate, .started = &started, .drops = &drops};
    struct job b = {.in = 2, .started = &started, .drops = &drops};
    assert_int_equal(prokio_spawn_blocking(NULL, rt, job_fn, &a, sizeof a, job_drop), 0);
    CONF_WAIT_FLAG(&started, 1);
    assert_int_equal(prokio_spawn_blocking(NULL, rt, job_fn, &b, sizeof b, job_drop), 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, open_gate_later, &gate), 0);
    test_runtime_free(rt); /* returns only after a's fn did */
    assert_int_equal(atomic_load(&gate), 1);
    assert_int_equal(atomic_load(&started), 1);
    assert_int_equal(atomic_load(&drops), 2);
    pthread_join(th, NULL);
#endif
}

/* Bad input and a runtime that is shutting down: clear errors, nothing
 * run, the handle NULL. */
void test_blocking_invalid(void **state)
{
    (void)state;
    prokio_task_t *h = (prokio_task_t *)&h;
#ifdef __EMSCRIPTEN__
    prokio_runtime_t *rt = test_runtime(1);
    assert_int_equal(prokio_spawn_blocking(&h, rt, noop_fn, NULL, 0, NULL), PROKIO_ENOTSUP);
    assert_null(h);
    assert_non_null(strstr(prokio_last_error(), "WebAssembly"));
    test_runtime_free(rt);
#else
    prokio_runtime_t *rt = test_runtime(1);
    assert_int_equal(prokio_spawn_blocking(&h, rt, NULL, NULL, 0, NULL), PROKIO_EINVAL);
    assert_null(h);
    assert_non_null(strstr(prokio_last_error(), "fn"));
    assert_int_equal(prokio_spawn_blocking(&h, NULL, noop_fn, NULL, 0, NULL), PROKIO_EINVAL);
    assert_non_null(strstr(prokio_last_error(), "not a worker"));
    assert_int_equal(prokio_runtime_shutdown(rt), 0);
    struct job j = {.in = 1};
    assert_int_equal(prokio_spawn_blocking(&h, rt, job_fn, &j, sizeof j, NULL), PROKIO_ESHUTDOWN);
    assert_null(h);
    test_runtime_free(rt);
#endif
}
