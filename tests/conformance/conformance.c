/* tests/conformance/conformance.c: the public-API conformance suite.
 *
 * Runs once per backend (tests/run/conformance~conformance.BACKEND.test):
 * everything prokio.h promises, checked against the contracts written
 * there (Ownership, Lifetime, Thread). The tests live in one file per area;
 * see conformance.h for the rules they follow. */
#include "conformance.h"

/* ------------------------------------------------------------- helpers */

struct whoami {
    pthread_t thread;
    unsigned worker;
};

static int whoami_poll(void *frame, prokio_cx_t *cx)
{
    struct whoami *f = frame;
    f->thread = pthread_self();
    f->worker = prokio_cx_worker(cx);
    return 0;
}

void conf_worker_threads(prokio_runtime_t *rt, pthread_t *out)
{
    unsigned n = prokio_runtime_workers(rt);
    assert_true(n <= CONF_MAX_WORKERS);
    for (unsigned i = 0; i < n; i++) {
        struct whoami f = {.worker = UINT_MAX};
        assert_int_equal(conf_run_on(rt, i, whoami_poll, &f, sizeof f, NULL), 0);
        assert_int_equal(f.worker, i);
#ifdef __EMSCRIPTEN__
        /* The one worker is the JS thread, the test's own. */
        assert_true(pthread_equal(f.thread, pthread_self()));
#else
        assert_false(pthread_equal(f.thread, pthread_self()));
#endif
        out[i] = f.thread;
    }
}

bool conf_wait_flag(atomic_int *flag, int value)
{
    for (uint64_t end = mono_ns() + conf_timeout_ns(); atomic_load(flag) < value;)
        if (!conf_yield_before(end))
            return atomic_load(flag) >= value;
    return true;
}

int conf_join(prokio_task_t *h, void *frame_out, size_t size)
{
    int rc = prokio_task_blocking_join(h);
    if (frame_out != NULL && size != 0)
        memcpy(frame_out, prokio_task_frame(h), size);
    prokio_task_release(h);
    return rc;
}

int conf_run_on_(const char *file, int line, prokio_runtime_t *rt, unsigned worker,
                 prokio_poll_fn poll, void *frame, size_t size, prokio_drop_fn drop)
{
    prokio_task_t *h = NULL;
    int rc = worker == CONF_ANY ? prokio_spawn(&h, rt, poll, frame, size, drop)
                                : prokio_spawn_on(&h, rt, worker, poll, frame, size, drop);
    if (rc < 0) {
        print_error("spawn on worker %d: %s: %s\n", (int)worker, prokio_err_name(rc),
                    prokio_last_error());
        _fail(file, line);
    }
    return conf_join(h, frame, size);
}

int conf_park_forever(void *frame, prokio_cx_t *cx)
{
    (void)cx;
    track_poll(frame);
    return PROKIO_PENDING;
}

int conf_value_poll(void *frame, prokio_cx_t *cx)
{
    (void)cx;
    return *(const int *)frame;
}

int conf_gated_poll(void *frame, prokio_cx_t *cx)
{
    struct gated *g = frame;
    track_poll(&g->tr);
    int rc = prokio_oneshot_recv_poll(g->rx, &g->value, cx);
    if (rc == PROKIO_PENDING) {
        if (g->started)
            atomic_fetch_add(g->started, 1);
        return PROKIO_PENDING;
    }
    g->recv_rc = rc;
    prokio_oneshot_rx_release(g->rx);
    g->rx = NULL;
    return rc < 0 ? rc : g->ret;
}

void conf_gated_drop(void *frame)
{
    struct gated *g = frame;
    if (g->rx) {
        prokio_oneshot_rx_release(g->rx);
        g->rx = NULL;
    }
    track_dropped(&g->tr);
}

void conf_gated_init(struct gated *g, struct drops *d, int ret, prokio_oneshot_tx_t **tx)
{
    memset(g, 0, sizeof *g);
    g->tr.d = d;
    g->ret = ret;
    g->recv_rc = PROKIO_PENDING;
    assert_int_equal(prokio_oneshot_new(tx, &g->rx, sizeof(int), NULL, 0), 0);
}

const char *conf_expected_backend(void)
{
    static char name[64];
    const char *b = getenv("PROKIO_BACKEND");
    if (b == NULL || *b == '\0')
        return NULL;
    const char *slash = strrchr(b, '/');
    if (slash == NULL)
        return b;
    const char *base = slash + 1;
    if (strncmp(base, "prokio-", 7) == 0)
        base += 7;
    snprintf(name, sizeof name, "%s", base);
    char *dot = strstr(name, ".so");
    if (dot)
        *dot = '\0';
    return name;
}

/* ---------------------------------------------------------------- wasm */

#ifdef __EMSCRIPTEN__
/* What cannot run on WebAssembly, decided here and nowhere else in the
 * suite (test_runtime skips the tests that ask for more than one worker,
 * tests/common.h): a wasm runtime has one worker on the JS thread, the
 * build has no -pthread (no second thread to block, wake or join from) and
 * no file descriptors to poll. Each one is a TAP skip with its reason. */
static const struct conf_wasm_skip {
    const char *name;
    const char *why;
} conf_wasm_skips[] = {
    {"runtime_defaults", "the default worker count is the allowed CPUs (sched_getaffinity); "
                         "wasm has one worker"},
    {"runtime_workers", "asks prokio_runtime_new for several workers"},
    {"runtime_options_versions", "asks prokio_runtime_new for 3 workers"},
    {"runtime_current", "needs a plain thread (no -pthread)"},
    {"runtime_backend_report", "checks the path of a loaded prokio-NAME.so; the wasm backend is "
                               "linked in"},
    {"runtime_clone", "uses a runtime from a plain thread (no -pthread)"},
    {"runtime_edeadlk", "expects PROKIO_EDEADLK from prokio_runtime_shutdown in a task; on a host "
                        "that cannot block the worker itself may shut its runtime down"},
    {"errors", "needs a plain thread (no -pthread)"},
    {"io_invalid", "needs file descriptors (socketpair)"},
    /* Tests split for one worker (issue 7): what is left needs threads. */
    {"join_from_threads", "joins from plain threads (no -pthread)"},
    {"join_blocked_thread_kept",
     "blocks a plain thread in prokio_task_blocking_join (no -pthread)"},
    {"join_blocking_takes_over", "joins from a plain thread (no -pthread)"},
    {"abort_running", "aborts a task from the test's thread while its poll runs on a worker"},
    {"waker_wake_from_thread", "wakes from a plain thread (no -pthread)"},
    {"waker_wake_by_ref_from_thread", "wakes from a plain thread (no -pthread)"},
    {"waker_coalesce_threads", "wakes from plain threads while a task holds its worker"},
    {"sync_semaphore_close", "blocks a plain thread in prokio_semaphore_blocking_acquire"},
    {"sync_mutex_threads", "locks from plain threads (no -pthread)"},
    {"mpsc_threads", "sends from plain threads (no -pthread)"},
    {"bcast_many_senders", "sends from a plain thread as well as from 3 workers"},
    {"bcast_blocking", "receives in a plain thread (no -pthread)"},
    {"watch_blocking", "waits in a plain thread (no -pthread)"},
    {"shutdown_wakes_blocked_threads", "blocks plain threads (no -pthread)"},
    {"shutdown_every_state", "needs a plain thread and file descriptors"},
    {"error_kept_by_join", "sends from a plain thread (no -pthread)"},
    {"error_messages", "checks prokio_fd_* errors on a socketpair and blocking calls on 2 "
                       "workers (tests/wasm/enotsup.c checks the wasm answers)"},
    /* The wasm backend watches no descriptors: prokio_fd_new answers
     * PROKIO_ENOTSUP (checked by tests/wasm/enotsup.c). */
    {"io_read_rounds", "needs file descriptors (socketpair) and a plain thread"},
    {"io_ready_before_register", "needs file descriptors (socketpair)"},
    {"io_writable", "needs file descriptors (socketpair) and a plain thread"},
    {"io_reader_and_writer", "needs file descriptors (socketpair)"},
    {"io_peer_close", "needs file descriptors (socketpair)"},
    {"io_exdev", "needs file descriptors (socketpair)"},
    {"io_free_wakes_waiter", "needs file descriptors (socketpair)"},
    {"io_left_at_shutdown", "needs file descriptors (socketpair)"},
    {"io_fd_reuse", "needs file descriptors (socketpair)"},
    {"io_same_fd_two_workers", "needs file descriptors (socketpair)"},
    {"io_many", "needs file descriptors (socketpair)"},
    {"time_auto_advance_workers", "needs 3 workers (a paused runtime)"},
    {NULL, NULL},
};

struct conf_wasm_test {
    const char *name;
    CMUnitTestFunction run;
};

static void conf_wasm_run(void **state)
{
    const struct conf_wasm_test *t = *state;
    for (const struct conf_wasm_skip *s = conf_wasm_skips; s->name; s++)
        if (strcmp(s->name, t->name + 5) == 0) /* after "test_" */
            TEST_SKIP_ON_WASM("%s", s->why);
    *state = NULL;
    t->run(state);
}
#endif

/* ---------------------------------------------------------------- main */

#define CONF_INDEX(name) conf_##name,

int main(void)
{
    test_watchdog("conformance", 300);
    /* CONFORMANCE_FILTER=sleep_* runs only the matching tests. */
    const char *filter = getenv("CONFORMANCE_FILTER");
    if (filter && *filter) {
        static char pattern[256];
        snprintf(pattern, sizeof pattern, "test_%s", filter);
        cmocka_set_test_filter(pattern);
    }
#ifdef __EMSCRIPTEN__
#define CONF_ENTRY(name) {"test_" #name, test_##name},
    static const struct conf_wasm_test wasm_tests[] = {CONF_TESTS(CONF_ENTRY)};
#undef CONF_ENTRY
#define CONF_ENTRY(name)                                                                           \
    {"test_" #name, conf_wasm_run, NULL, NULL, (void *)&wasm_tests[conf_##name]},
    enum { CONF_TESTS(CONF_INDEX) };
#else
#define CONF_ENTRY(name) cmocka_unit_test(test_##name),
#endif
    const struct CMUnitTest tests[] = {CONF_TESTS(CONF_ENTRY)};
#undef CONF_ENTRY
    int rc = cmocka_run_group_tests_name("conformance", tests, NULL, NULL);
#ifdef __EMSCRIPTEN__
    /* A main that waited (-sASYNCIFY) has its return value dropped, and
     * exit() does not end a runtime kept alive by the watchdog's pending
     * alarm: force the exit with the status (notes/wasm.md). */
    emscripten_force_exit(rc);
#endif
    return rc;
}
