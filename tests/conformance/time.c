/* tests/conformance/time.c: intervals (every missed-tick policy), timeouts
 * around a leaf future, a oneshot and a join, and the paused clock: exact
 * virtual times, advance from a plain thread, auto-advance over several
 * workers, a 10-minute timeout in milliseconds, saturation. */
#include "conformance.h"

static prokio_runtime_t *paused_runtime(unsigned workers)
{
    prokio_runtime_t *rt = NULL;
    prokio_runtime_options_t o = PROKIO_RUNTIME_OPTIONS_INIT;
    o.workers = workers;
    o.start_paused = true;
    int rc = prokio_runtime_new(&rt, &o);
    if (rc < 0)
        fail_msg("prokio_runtime_new: %s: %s", prokio_err_name(rc), prokio_last_error());
    assert_true(prokio_runtime_time_is_paused(rt));
    return rt;
}

/* ------------------------------------------------------------ intervals */

enum { NTICKS = 6 };

struct ticks {
    int co;
    prokio_tick_policy_t policy;
    prokio_interval_t iv;
    prokio_sleep_t s;
    uint64_t start;
    int i, rc;
    uint64_t deadline[NTICKS], at[NTICKS]; /* relative to start, in ms */
};

/* Ticks once at 0 ms, sleeps until 350 ms (three and a half periods of
 * 100 ms missed), then records the next five ticks. */
static int ticks_poll(void *frame, prokio_cx_t *cx)
{
    struct ticks *f = frame;
    PROKIO_BEGIN(&f->co);
    f->start = prokio_cx_now_ns(cx);
    if ((f->rc = prokio_interval_init_at(&f->iv, f->start, PROKIO_MS(100), f->policy)) < 0)
        return f->rc;
    for (f->i = 0; f->i < NTICKS; f->i++) {
        if (f->i == 1) {
            prokio_sleep_init_until(&f->s, f->start + PROKIO_MS(350));
            PROKIO_AWAIT(&f->co, prokio_sleep_poll(&f->s, cx));
        }
        PROKIO_AWAIT_INTO(&f->co, f->rc, prokio_interval_tick_poll(&f->iv, cx));
        if (f->rc < 0)
            return f->rc;
        f->deadline[f->i] = (prokio_interval_last_deadline(&f->iv) - f->start) / PROKIO_MS(1);
        f->at[f->i] = (prokio_cx_now_ns(cx) - f->start) / PROKIO_MS(1);
        if (prokio_cx_now_ns(cx) < prokio_interval_last_deadline(&f->iv))
            return PROKIO_EIO; /* early */
    }
    PROKIO_END(&f->co, 0);
}

static void check_ticks(prokio_tick_policy_t policy, const uint64_t *deadline, const uint64_t *at)
{
    prokio_runtime_t *rt = paused_runtime(1);
    struct ticks f = {.policy = policy};
    assert_int_equal(conf_run_on(rt, 0, ticks_poll, &f, sizeof f, NULL), 0);
    for (int i = 0; i < NTICKS; i++) {
        assert_int_equal(f.deadline[i], deadline[i]);
        assert_int_equal(f.at[i], at[i]);
    }
    test_runtime_free(rt);
}

void test_interval_burst(void **state)
{
    (void)state;
    /* The three missed ticks at once, then back on the schedule. */
    const uint64_t deadline[NTICKS] = {0, 100, 200, 300, 400, 500};
    const uint64_t at[NTICKS] = {0, 350, 350, 350, 400, 500};
    check_ticks(PROKIO_TICK_BURST, deadline, at);
}

void test_interval_delay(void **state)
{
    (void)state;
    /* One late tick, then a period after it was taken. */
    const uint64_t deadline[NTICKS] = {0, 100, 450, 550, 650, 750};
    const uint64_t at[NTICKS] = {0, 350, 450, 550, 650, 750};
    check_ticks(PROKIO_TICK_DELAY, deadline, at);
}

void test_interval_skip(void **state)
{
    (void)state;
    /* One late tick, then the next multiple of the period. */
    const uint64_t deadline[NTICKS] = {0, 100, 400, 500, 600, 700};
    const uint64_t at[NTICKS] = {0, 350, 400, 500, 600, 700};
    check_ticks(PROKIO_TICK_SKIP, deadline, at);
}

struct iv_misc {
    int co;
    prokio_interval_t iv;
    prokio_sleep_t s;
    uint64_t start, first, after_reset;
    int rc, init_zero, init_bad, cancelled, uninit;
};

static int iv_misc_poll(void *frame, prokio_cx_t *cx)
{
    struct iv_misc *f = frame;
    PROKIO_BEGIN(&f->co);
    f->init_zero = prokio_interval_init(&f->iv, 0, PROKIO_TICK_BURST);
    f->init_bad = prokio_interval_init(&f->iv, 1, (prokio_tick_policy_t)7);
    f->uninit = prokio_interval_tick_poll(&f->iv, cx); /* still zeroed */
    f->start = prokio_cx_now_ns(cx);
    prokio_interval_init(&f->iv, PROKIO_SEC(1), PROKIO_TICK_BURST);
    PROKIO_AWAIT(&f->co, prokio_interval_tick_poll(&f->iv, cx)); /* at once */
    f->first = prokio_interval_last_deadline(&f->iv) - f->start;
    prokio_sleep_init(&f->s, PROKIO_MS(300));
    PROKIO_AWAIT(&f->co, prokio_sleep_poll(&f->s, cx));
    /* Armed for 1 s, then reset at 300 ms: due at 1300 ms. */
    if (prokio_interval_tick_poll(&f->iv, cx) != PROKIO_PENDING)
        return PROKIO_EIO;
    prokio_interval_reset(&f->iv);
    PROKIO_AWAIT(&f->co, prokio_interval_tick_poll(&f->iv, cx));
    f->after_reset = prokio_cx_now_ns(cx) - f->start;
    if (prokio_interval_tick_poll(&f->iv, cx) != PROKIO_PENDING)
        return PROKIO_EIO;
    prokio_interval_cancel(&f->iv);
    f->cancelled = prokio_interval_tick_poll(&f->iv, cx);
    PROKIO_END(&f->co, 0);
}

void test_interval_reset_cancel(void **state)
{
    (void)state;
    prokio_runtime_t *rt = paused_runtime(1);
    struct iv_misc f = {0};
    assert_int_equal(conf_run_on(rt, 0, iv_misc_poll, &f, sizeof f, NULL), 0);
    assert_int_equal(f.init_zero, PROKIO_EINVAL);
    assert_int_equal(f.init_bad, PROKIO_EINVAL);
    assert_int_equal(f.uninit, PROKIO_EINVAL);
    assert_int_equal(f.first, 0);
    assert_int_equal(f.after_reset, PROKIO_MS(1300));
    assert_int_equal(f.cancelled, PROKIO_ECANCELED);
    test_runtime_free(rt);
}

struct iv_forever {
    struct track tr;
    atomic_int *started; /* read by the main thread: atomic */
    prokio_interval_t iv;
    int inited;
};

static int iv_forever_poll(void *frame, prokio_cx_t *cx)
{
    struct iv_forever *f = frame;
    track_poll(&f->tr);
    if (!f->inited) {
        prokio_interval_init(&f->iv, PROKIO_SEC(3600), PROKIO_TICK_SKIP);
        f->inited = 1;
        atomic_fetch_add(f->started, 1);
    }
    int rc;
    while ((rc = prokio_interval_tick_poll(&f->iv, cx)) == 0)
        ;
    return rc;
}

void test_interval_abort(void **state)
{
    (void)state;
    /* Real clock: the task waits an hour, armed, until it is aborted; the
     * runtime disarms the interval (ASan and valgrind see the frame freed
     * while still in the heap otherwise). */
    prokio_runtime_t *rt = test_runtime(conf_workers(2));
    struct drops d = {0};
    for (unsigned w = 0; w < 2; w++) {
        atomic_int started = 0;
        struct iv_forever f = {.tr.d = &d, .started = &started};
        prokio_task_t *h;
        assert_int_equal(
            prokio_spawn_on(&h, rt, conf_worker(rt, w), iv_forever_poll, &f, sizeof f, track_drop),
            0);
        CONF_WAIT_FLAG(&started, 1);
        prokio_task_abort(h);
        assert_int_equal(conf_join(h, &f, sizeof f), PROKIO_ECANCELED);
        assert_int_equal(f.tr.polls, 1);
    }
    assert_int_equal(atomic_load(&d.n), 2);
    test_runtime_free(rt);
}

/* ------------------------------------------------------------- timeouts */

/* A branch that never completes and counts its cancels. */
struct never {
    prokio_sleep_t s;
    int cancels;
};

static int never_poll(void *future, prokio_cx_t *cx)
{
    struct never *n = future;
    return prokio_sleep_poll(&n->s, cx);
}

static void never_cancel(void *future)
{
    struct never *n = future;
    n->cancels++;
    prokio_sleep_cancel(&n->s);
}

struct to {
    int co;
    prokio_sleep_t deadline;
    prokio_sleep_t quick;
    struct never inner;
    uint64_t start, expired_at;
    int rc_ok, rc_late;
    uint64_t real_start, real_ms;
};

static int to_poll(void *frame, prokio_cx_t *cx)
{
    struct to *f = frame;
    PROKIO_BEGIN(&f->co);
    /* Completes first: 10 ms inside 1 s. */
    prokio_sleep_init(&f->deadline, PROKIO_SEC(1));
    prokio_sleep_init(&f->quick, PROKIO_MS(10));
    PROKIO_AWAIT_INTO(&f->co, f->rc_ok,
                      prokio_timeout_poll(&f->deadline, prokio_branch_sleep(&f->quick), cx));
    /* Expires: a 10-minute deadline around an hour. */
    f->start = prokio_cx_now_ns(cx);
    f->real_start = mono_ns();
    prokio_sleep_init(&f->deadline, PROKIO_SEC(600));
    prokio_sleep_init(&f->inner.s, PROKIO_SEC(3600));
    PROKIO_AWAIT_INTO(&f->co, f->rc_late,
                      prokio_timeout_poll(&f->deadline,
                                          (prokio_branch_t){never_poll, &f->inner, never_cancel},
                                          cx));
    f->expired_at = prokio_cx_now_ns(cx) - f->start;
    f->real_ms = (mono_ns() - f->real_start) / PROKIO_MS(1);
    PROKIO_END(&f->co, 0);
}

void test_timeout_paused(void **state)
{
    (void)state;
    prokio_runtime_t *rt = paused_runtime(conf_workers(2));
    struct to f = {0};
    assert_int_equal(conf_run_on(rt, conf_worker(rt, 1), to_poll, &f, sizeof f, NULL), 0);
    assert_int_equal(f.rc_ok, 0);
    assert_int_equal(f.rc_late, PROKIO_ETIMEDOUT);
    assert_int_equal(f.inner.cancels, 1);
    assert_int_equal(f.expired_at, PROKIO_SEC(600));
    /* Ten minutes of virtual time in far less than the suite's bound. */
    assert_true(f.real_ms < conf_timeout_ns() / PROKIO_MS(1));
    test_runtime_free(rt);
}

/* Around a oneshot receive: the value sent after the expiry is still
 * there for the next receive (nothing lost). */
struct to_recv {
    int co;
    atomic_int *expired; /* read by the main thread: atomic */
    prokio_oneshot_rx_t *rx;
    prokio_sleep_t deadline;
    int rc_late, rc_recv, value;
};

static int recv_branch_poll(void *future, prokio_cx_t *cx)
{
    struct to_recv *f = future;
    return prokio_oneshot_recv_poll(f->rx, &f->value, cx);
}

static int to_recv_poll(void *frame, prokio_cx_t *cx)
{
    struct to_recv *f = frame;
    PROKIO_BEGIN(&f->co);
    prokio_sleep_init(&f->deadline, PROKIO_SEC(60));
    PROKIO_AWAIT_INTO(
        &f->co, f->rc_late,
        prokio_timeout_poll(&f->deadline, (prokio_branch_t){recv_branch_poll, f, NULL}, cx));
    atomic_store(f->expired, f->rc_late == PROKIO_ETIMEDOUT ? 1 : 2);
    PROKIO_AWAIT_INTO(&f->co, f->rc_recv, prokio_oneshot_recv_poll(f->rx, &f->value, cx));
    prokio_oneshot_rx_release(f->rx);
    f->rx = NULL;
    PROKIO_END(&f->co, 0);
}

void test_timeout_oneshot(void **state)
{
    (void)state;
    prokio_runtime_t *rt = paused_runtime(1);
    prokio_oneshot_tx_t *tx;
    atomic_int expired = 0;
    struct to_recv f = {.expired = &expired};
    assert_int_equal(prokio_oneshot_new(&tx, &f.rx, sizeof(int), NULL, 0), 0);
    prokio_task_t *h;
    assert_int_equal(prokio_spawn_on(&h, rt, 0, to_recv_poll, &f, sizeof f, NULL), 0);
    /* The timeout expires by auto-advance (nothing else can run), then the
     * task waits on the receive alone, which keeps no timer. */
    CONF_WAIT_FLAG(&expired, 1);
    int v = 42;
    assert_int_equal(prokio_oneshot_send(tx, &v), 0);
    assert_int_equal(conf_join(h, &f, sizeof f), 0);
    assert_int_equal(f.rc_recv, 0);
    assert_int_equal(f.value, 42);
    test_runtime_free(rt);
}

/* Around a join: the joined task keeps running on expiry. */
struct sleeper {
    prokio_sleep_t s;
    int inited;
};

static int sleeper_poll(void *frame, prokio_cx_t *cx)
{
    struct sleeper *f = frame;
    if (!f->inited) {
        prokio_sleep_init(&f->s, PROKIO_SEC(3600));
        f->inited = 1;
    }
    return prokio_sleep_poll(&f->s, cx);
}

struct to_join {
    int co;
    prokio_task_t *child;
    prokio_sleep_t deadline;
    int rc_late, still_running, rc_child;
};

static int to_join_poll(void *frame, prokio_cx_t *cx)
{
    struct to_join *f = frame;
    PROKIO_BEGIN(&f->co);
    struct sleeper s = {0};
    if (prokio_spawn_local(&f->child, sleeper_poll, &s, sizeof s, NULL, cx) < 0)
        return PROKIO_EIO;
    prokio_sleep_init(&f->deadline, PROKIO_SEC(1));
    PROKIO_AWAIT_INTO(&f->co, f->rc_late,
                      prokio_timeout_poll(&f->deadline, prokio_branch_join(f->child), cx));
    f->still_running = prokio_task_result(f->child) == PROKIO_PENDING;
    prokio_task_abort(f->child);
    PROKIO_AWAIT_INTO(&f->co, f->rc_child, prokio_task_join_poll(f->child, cx));
    prokio_task_release(f->child);
    f->child = NULL;
    PROKIO_END(&f->co, 0);
}

void test_timeout_join(void **state)
{
    (void)state;
    prokio_runtime_t *rt = paused_runtime(1);
    struct to_join f = {0};
    assert_int_equal(conf_run_on(rt, 0, to_join_poll, &f, sizeof f, NULL), 0);
    assert_int_equal(f.rc_late, PROKIO_ETIMEDOUT);
    assert_true(f.still_running);
    assert_int_equal(f.rc_child, PROKIO_ECANCELED);
    test_runtime_free(rt);
}

/* ---------------------------------------------------------- the clock */

struct now_frame {
    uint64_t now;
};

static int now_poll(void *frame, prokio_cx_t *cx)
{
    ((struct now_frame *)frame)->now = prokio_cx_now_ns(cx);
    return 0;
}

static uint64_t clock_of(prokio_runtime_t *rt, unsigned w)
{
    struct now_frame f = {0};
    assert_int_equal(conf_run_on(rt, conf_worker(rt, w), now_poll, &f, sizeof f, NULL), 0);
    return f.now;
}

void test_time_pause_from_thread(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(conf_workers(2));
    assert_false(prokio_runtime_time_is_paused(rt));
    assert_int_equal(prokio_runtime_time_advance(rt, 1), PROKIO_EINVAL);
    assert_non_null(strstr(prokio_last_error(), "not paused"));
    uint64_t before = clock_of(rt, 0);
    assert_int_equal(prokio_runtime_time_pause(rt), 0);
    assert_int_equal(prokio_runtime_time_pause(rt), 0); /* idempotent */
    assert_true(prokio_runtime_time_is_paused(rt));
    /* No timer anywhere: nothing moves the clock but advance. */
    uint64_t t0 = clock_of(rt, 0);
    assert_true(t0 >= before);
    assert_int_equal(clock_of(rt, 1), t0);
    assert_int_equal(prokio_runtime_time_advance(rt, PROKIO_SEC(5)), 0);
    assert_int_equal(clock_of(rt, 0), t0 + PROKIO_SEC(5));
    assert_int_equal(clock_of(rt, 1), t0 + PROKIO_SEC(5));
    assert_int_equal(prokio_runtime_time_resume(rt), 0);
    assert_false(prokio_runtime_time_is_paused(rt));
    /* Resumed from the virtual time: ahead of the real clock, going on. */
    uint64_t t1 = clock_of(rt, 0), t2 = clock_of(rt, 1);
    assert_true(t1 >= t0 + PROKIO_SEC(5));
    assert_true(t2 >= t1 - PROKIO_MS(1)); /* another worker, same clock */
    assert_true(t1 < t0 + PROKIO_SEC(5) + conf_timeout_ns());
    assert_int_equal(prokio_runtime_time_resume(rt), 0);
    test_runtime_free(rt);
}

enum { NAUTO = 12 };

struct auto_kid {
    prokio_sleep_t s;
    uint64_t start, dur, end;
    int inited;
};

static int auto_kid_poll(void *frame, prokio_cx_t *cx)
{
    struct auto_kid *f = frame;
    if (!f->inited) {
        prokio_sleep_init_until(&f->s, f->start + f->dur);
        f->inited = 1;
    }
    int rc = prokio_sleep_poll(&f->s, cx);
    if (rc == 0)
        f->end = prokio_cx_now_ns(cx);
    return rc;
}

/* Spawned from a task, so that no worker is idle while the kids are
 * being armed (a spawn from a plain thread would let the clock jump in
 * between: auto-advance cannot see a thread about to spawn). */
struct auto_parent {
    int co;
    unsigned i, nw;
    uint64_t start;
    prokio_task_t *kid[NAUTO];
    int rc[NAUTO];
    struct auto_kid done[NAUTO];
};

static int auto_parent_poll(void *frame, prokio_cx_t *cx)
{
    struct auto_parent *f = frame;
    PROKIO_BEGIN(&f->co);
    f->start = prokio_cx_now_ns(cx);
    for (f->i = 0; f->i < NAUTO; f->i++) {
        /* Minutes apart, in an order that alternates workers. */
        struct auto_kid k = {.start = f->start, .dur = PROKIO_SEC(60) * ((f->i * 7) % NAUTO + 1)};
        if (prokio_spawn_on(&f->kid[f->i], prokio_cx_runtime(cx), f->i % f->nw, auto_kid_poll, &k,
                            sizeof k, NULL) < 0)
            return PROKIO_EIO;
    }
    for (f->i = 0; f->i < NAUTO; f->i++) {
        PROKIO_AWAIT_INTO(&f->co, f->rc[f->i], prokio_task_join_poll(f->kid[f->i], cx));
        f->done[f->i] = *(struct auto_kid *)prokio_task_frame(f->kid[f->i]);
        prokio_task_release(f->kid[f->i]);
        f->kid[f->i] = NULL;
    }
    PROKIO_END(&f->co, 0);
}

void test_time_auto_advance_workers(void **state)
{
    (void)state;
    unsigned nw = 3;
    prokio_runtime_t *rt = paused_runtime(nw);
    uint64_t real = mono_ns();
    struct auto_parent p = {.nw = nw};
    assert_int_equal(conf_run_on(rt, 0, auto_parent_poll, &p, sizeof p, NULL), 0);
    for (unsigned i = 0; i < NAUTO; i++) {
        assert_int_equal(p.rc[i], 0);
        /* Exactly at the deadline: never early, and the jump lands on it. */
        assert_int_equal(p.done[i].end, p.start + p.done[i].dur);
    }
    assert_true(mono_ns() - real < conf_timeout_ns());
    assert_int_equal(clock_of(rt, 1), p.start + PROKIO_SEC(60) * NAUTO);
    test_runtime_free(rt);
}

void test_time_huge(void **state)
{
    (void)state;
    prokio_runtime_t *rt = paused_runtime(1);
    /* A huge sleep saturates to never: no auto-advance jumps to it. */
    uint64_t t0 = clock_of(rt, 0);
    assert_int_equal(prokio_runtime_time_advance(rt, UINT64_MAX - 1), 0);
    assert_int_equal(clock_of(rt, 0), UINT64_MAX); /* saturated */
    assert_int_equal(prokio_runtime_time_advance(rt, UINT64_MAX), 0);
    assert_int_equal(clock_of(rt, 0), UINT64_MAX);
    assert_true(t0 < UINT64_MAX);
    test_runtime_free(rt);
}
