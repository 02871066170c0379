/* tests/conformance/abort.c: prokio_task_abort in every state of a task.
 * In every path the drop function runs exactly once, on the task's worker
 * thread, and the result becomes PROKIO_ECANCELED unless the task had
 * already ended. */
#include "conformance.h"

/* A child spawned and aborted in the same poll of its parent, on one
 * worker: it is queued and never polled. */
struct abort_parent {
    struct drops *d;
    int co;
    prokio_task_t *kid;
    int kid_rc;
};

static int abort_parent_poll(void *frame, prokio_cx_t *cx)
{
    struct abort_parent *f = frame;
    PROKIO_BEGIN(&f->co);
    struct track t = {.d = f->d, .thread = pthread_self(), .known = true};
    if (prokio_spawn_local(&f->kid, conf_park_forever, &t, sizeof t, track_drop, cx) < 0)
        return PROKIO_EIO;
    prokio_task_abort(f->kid);
    PROKIO_AWAIT_INTO(&f->co, f->kid_rc, prokio_task_join_poll(f->kid, cx));
    PROKIO_END(&f->co, 0);
}

void test_abort_before_first_poll(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(conf_workers(2));
    struct drops d = {0};
    for (unsigned w = 0; w < 2; w++) {
        struct abort_parent p = {.d = &d};
        assert_int_equal(conf_run_on(rt, conf_worker(rt, w), abort_parent_poll, &p, sizeof p, NULL),
                         0);
        assert_int_equal(p.kid_rc, PROKIO_ECANCELED);
        assert_int_equal(prokio_task_result(p.kid), PROKIO_ECANCELED);
        struct track kt;
        assert_int_equal(conf_join(p.kid, &kt, sizeof kt), PROKIO_ECANCELED);
        assert_int_equal(kt.polls, 0);
        assert_int_equal(kt.drops, 1);
    }
    test_runtime_free(rt);
    assert_int_equal(atomic_load(&d.n), 2);
    assert_int_equal(atomic_load(&d.wrong_thread), 0);
}

void test_abort_from_main_at_once(void **state)
{
    (void)state;
    enum { N = 200 };
    prokio_runtime_t *rt = test_runtime(conf_workers(2));
    pthread_t threads[CONF_MAX_WORKERS];
    conf_worker_threads(rt, threads);
    struct drops d = {0};
    prokio_task_t *h[N];
    for (int i = 0; i < N; i++) {
        unsigned w = conf_worker(rt, (unsigned)i);
        struct track t = {.d = &d, .thread = threads[w], .known = true};
        assert_int_equal(prokio_spawn_on(&h[i], rt, w, conf_park_forever, &t, sizeof t, track_drop),
                         0);
        prokio_task_abort(h[i]);
        if (i % 3 == 0)
            prokio_task_abort(h[i]); /* twice is harmless */
    }
    for (int i = 0; i < N; i++) {
        struct track t;
        assert_int_equal(conf_join(h[i], &t, sizeof t), PROKIO_ECANCELED);
        assert_true(t.polls <= 1);
        assert_int_equal(t.drops, 1);
    }
    assert_int_equal(atomic_load(&d.n), N);
    test_runtime_free(rt);
    assert_int_equal(atomic_load(&d.n), N);
    assert_int_equal(atomic_load(&d.wrong_thread), 0);
}

/* Parked on a long sleep: the abort must end it now, not when it fires. */
struct sleeper {
    struct track tr;
    atomic_int *started;
    prokio_sleep_t s;
    int absolute;
    uint64_t duration_ns;
};

static int sleeper_poll(void *frame, prokio_cx_t *cx)
{
    struct sleeper *f = frame;
    track_poll(&f->tr);
    if (f->tr.polls == 1) {
        if (f->absolute)
            prokio_sleep_init_until(&f->s, f->duration_ns);
        else
            prokio_sleep_init(&f->s, f->duration_ns);
    }
    int rc = prokio_sleep_poll(&f->s, cx);
    if (rc == PROKIO_PENDING && f->tr.polls == 1 && f->started)
        atomic_fetch_add(f->started, 1);
    return rc;
}

void test_abort_parked_on_long_sleep(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(conf_workers(2));
    pthread_t threads[CONF_MAX_WORKERS];
    conf_worker_threads(rt, threads);
    struct drops d = {0};
    static const struct {
        int absolute;
        uint64_t ns;
    } kinds[] = {{0, PROKIO_SEC(3600)}, {0, UINT64_MAX}, {1, UINT64_MAX}, {0, UINT64_MAX / 2}};
    for (unsigned i = 0; i < 2; i++) {
        unsigned w = conf_worker(rt, i);
        for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
            atomic_int started = 0;
            struct sleeper s = {.tr = {.d = &d, .thread = threads[w], .known = true},
                                .started = &started,
                                .absolute = kinds[k].absolute,
                                .duration_ns = kinds[k].ns};
            prokio_task_t *h = NULL;
            assert_int_equal(prokio_spawn_on(&h, rt, w, sleeper_poll, &s, sizeof s, track_drop), 0);
            CONF_WAIT_FLAG(&started, 1);
            uint64_t t0 = mono_ns();
            prokio_task_abort(h);
            assert_int_equal(conf_join(h, &s, sizeof s), PROKIO_ECANCELED);
            assert_true(mono_ns() - t0 < conf_timeout_ns());
            assert_int_equal(s.tr.polls, 1);
            assert_int_equal(s.tr.drops, 1);
        }
    }
    test_runtime_free(rt);
    assert_int_equal(atomic_load(&d.n), 8);
    assert_int_equal(atomic_load(&d.wrong_thread), 0);
}

/* A task that aborts itself through its own JoinHandle, which its parent
 * put where it can find it before it first ran. */
struct self_aborter {
    struct track tr;
    prokio_task_t **self;
    int then_yield;
};

static int self_aborter_poll(void *frame, prokio_cx_t *cx)
{
    struct self_aborter *f = frame;
    track_poll(&f->tr);
    if (f->tr.polls > 1)
        return 0; /* polled again after aborting itself: wrong */
    prokio_task_abort(*f->self);
    return f->then_yield ? prokio_cx_yield(cx) : PROKIO_PENDING;
}

struct self_parent {
    struct drops *d;
    int then_yield;
    int co;
    prokio_task_t *kid;
    int kid_rc;
};

static int self_parent_poll(void *frame, prokio_cx_t *cx)
{
    struct self_parent *f = frame;
    PROKIO_BEGIN(&f->co);
    struct self_aborter a = {.tr = {.d = f->d, .thread = pthread_self(), .known = true},
                             .self = &f->kid,
                             .then_yield = f->then_yield};
    if (prokio_spawn_local(&f->kid, self_aborter_poll, &a, sizeof a, track_drop, cx) < 0)
        return PROKIO_EIO;
    PROKIO_AWAIT_INTO(&f->co, f->kid_rc, prokio_task_join_poll(f->kid, cx));
    PROKIO_END(&f->co, 0);
}

void test_abort_self(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(conf_workers(2));
    struct drops d = {0};
    for (int k = 0; k < 4; k++) {
        /* The parent's frame must stay put while the child reads f->kid:
         * it does, the frame never moves. */
        struct self_parent p = {.d = &d, .then_yield = k % 2};
        assert_int_equal(
            conf_run_on(rt, conf_worker(rt, (unsigned)k / 2), self_parent_poll, &p, sizeof p, NULL),
            0);
        assert_int_equal(p.kid_rc, PROKIO_ECANCELED);
        struct self_aborter a;
        assert_int_equal(conf_join(p.kid, &a, sizeof a), PROKIO_ECANCELED);
        assert_int_equal(a.tr.polls, 1);
        assert_int_equal(a.tr.drops, 1);
    }
    test_runtime_free(rt);
    assert_int_equal(atomic_load(&d.n), 4);
    assert_int_equal(atomic_load(&d.wrong_thread), 0);
}

/* Aborted while its poll is executing: the poll waits for the abort, then
 * returns pending without arranging any wake. The abort alone must bring
 * it back to be cancelled. */
struct busy {
    struct track tr;
    atomic_int *in_poll;
    atomic_int *aborted;
    bool saw_abort;
};

static int busy_poll(void *frame, prokio_cx_t *cx)
{
    (void)cx;
    struct busy *f = frame;
    track_poll(&f->tr);
    if (f->tr.polls == 1) {
        atomic_store(f->in_poll, 1);
        f->saw_abort = conf_wait_flag(f->aborted, 1);
    }
    return PROKIO_PENDING;
}

void test_abort_running(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(2);
    pthread_t threads[CONF_MAX_WORKERS];
    conf_worker_threads(rt, threads);
    struct drops d = {0};
    for (int k = 0; k < 20; k++) {
        unsigned w = (unsigned)k % 2;
        atomic_int in_poll = 0, aborted = 0;
        struct busy b = {.tr = {.d = &d, .thread = threads[w], .known = true},
                         .in_poll = &in_poll,
                         .aborted = &aborted};
        prokio_task_t *h = NULL;
        assert_int_equal(prokio_spawn_on(&h, rt, w, busy_poll, &b, sizeof b, track_drop), 0);
        CONF_WAIT_FLAG(&in_poll, 1);
        prokio_task_abort(h);
        atomic_store(&aborted, 1);
        assert_int_equal(conf_join(h, &b, sizeof b), PROKIO_ECANCELED);
        assert_true(b.saw_abort);
        assert_int_equal(b.tr.polls, 1);
        assert_int_equal(b.tr.drops, 1);
    }
    test_runtime_free(rt);
    assert_int_equal(atomic_load(&d.n), 20);
    assert_int_equal(atomic_load(&d.wrong_thread), 0);
}

/* A task on one worker aborts and awaits a task on another. */
struct remote_aborter {
    prokio_task_t *victim;
    int co;
    int rc;
};

static int remote_aborter_poll(void *frame, prokio_cx_t *cx)
{
    struct remote_aborter *f = frame;
    PROKIO_BEGIN(&f->co);
    prokio_task_abort(f->victim);
    PROKIO_AWAIT_INTO(&f->co, f->rc, prokio_task_join_poll(f->victim, cx));
    PROKIO_END(&f->co, 0);
}

void test_abort_from_other_worker(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(conf_workers(2));
    pthread_t threads[CONF_MAX_WORKERS];
    conf_worker_threads(rt, threads);
    struct drops d = {0};
    for (int k = 0; k < 20; k++) {
        unsigned w = conf_worker(rt, (unsigned)k);
        atomic_int started = 0;
        struct gated g;
        prokio_oneshot_tx_t *tx;
        conf_gated_init(&g, &d, 0, &tx);
        g.tr.thread = threads[w];
        g.tr.known = true;
        g.started = k < 10 ? &started : NULL;
        prokio_task_t *hv = NULL;
        assert_int_equal(
            prokio_spawn_on(&hv, rt, w, conf_gated_poll, &g, sizeof g, conf_gated_drop), 0);
        if (k < 10)
            CONF_WAIT_FLAG(&started, 1); /* parked; later rounds: maybe not yet polled */
        struct remote_aborter a = {.victim = hv};
        assert_int_equal(
            conf_run_on(rt, conf_other(rt, w), remote_aborter_poll, &a, sizeof a, NULL), 0);
        assert_int_equal(a.rc, PROKIO_ECANCELED);
        /* Ended already: the aborter saw it. */
        assert_int_equal(prokio_task_result(hv), PROKIO_ECANCELED);
        assert_int_equal(conf_join(hv, &g, sizeof g), PROKIO_ECANCELED);
        assert_int_equal(g.tr.drops, 1);
        /* The receiver is gone with the task: the sender sees it. */
        assert_true(prokio_oneshot_tx_is_closed(tx));
        int v = 1;
        assert_int_equal(prokio_oneshot_send(tx, &v), PROKIO_EPIPE);
    }
    test_runtime_free(rt);
    assert_int_equal(atomic_load(&d.n), 20);
    assert_int_equal(atomic_load(&d.wrong_thread), 0);
}

struct ender {
    struct track tr;
    int ret;
};

static int ender_poll(void *frame, prokio_cx_t *cx)
{
    (void)cx;
    struct ender *f = frame;
    track_poll(&f->tr);
    return f->ret;
}

void test_abort_after_completion(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(conf_workers(2));
    struct drops d = {0};
    static const int rets[] = {0, 17, PROKIO_EIO, PROKIO_ECANCELED};
    for (size_t k = 0; k < 4; k++) {
        struct ender e = {.tr.d = &d, .ret = rets[k]};
        prokio_task_t *h = NULL;
        assert_int_equal(prokio_spawn(&h, rt, ender_poll, &e, sizeof e, track_drop), 0);
        int r = prokio_task_blocking_join(h);
        prokio_task_abort(h);
        prokio_task_abort(h);
        assert_int_equal(prokio_task_result(h), r);
        assert_int_equal(prokio_task_blocking_join(h), r);
        assert_int_equal(r, rets[k]);
        assert_int_equal(conf_join(h, &e, sizeof e), r);
        assert_int_equal(e.tr.polls, 1);
        assert_int_equal(e.tr.drops, 1);
    }
    test_runtime_free(rt);
    assert_int_equal(atomic_load(&d.n), 4);
    assert_int_equal(atomic_load(&d.wrong_thread), 0);
}
