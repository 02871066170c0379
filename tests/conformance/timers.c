/* tests/conformance/timers.c: prokio_sleep_t. Never early, in deadline
 * order, immediate when due, saturating when huge, cancellable, disarmed
 * when the task ends, and many at once. */
#include "conformance.h"

/* ---------------------------------------------------------------- order */

struct ordered {
    int *seq;       /* the parent's counter: same worker, no atomics needed */
    uint64_t start; /* absolute base */
    uint64_t dur;
    prokio_sleep_t s;
    int polls;
    int pos;
    uint64_t end;
};

static int ordered_poll(void *frame, prokio_cx_t *cx)
{
    struct ordered *f = frame;
    if (f->polls++ == 0)
        prokio_sleep_init_until(&f->s, f->start + f->dur);
    int rc = prokio_sleep_poll(&f->s, cx);
    if (rc != 0)
        return rc;
    f->end = prokio_cx_now_ns(cx);
    f->pos = (*f->seq)++;
    return 0;
}

enum { NORDER = 8 };
static const unsigned order_ms[NORDER] = {50, 10, 80, 30, 70, 20, 60, 40};

struct order_parent {
    int co;
    int i;
    int seq;
    prokio_task_t *kid[NORDER];
};

static int order_parent_poll(void *frame, prokio_cx_t *cx)
{
    struct order_parent *f = frame;
    PROKIO_BEGIN(&f->co);
    /* A lead before every deadline, so that each sleep is still pending at
     * its first poll (polls == 2) even when spawning the eight is slow, as
     * under valgrind; the deadlines stay 10 ms apart. */
    uint64_t base = prokio_cx_now_ns(cx) + PROKIO_MS(100) * test_timeout_scale();
    for (f->i = 0; f->i < NORDER; f->i++) {
        struct ordered o = {.seq = &f->seq, .start = base, .dur = PROKIO_MS(order_ms[f->i])};
        if (prokio_spawn_local(&f->kid[f->i], ordered_poll, &o, sizeof o, NULL, cx) < 0)
            return PROKIO_EIO;
    }
    for (f->i = 0; f->i < NORDER; f->i++)
        PROKIO_AWAIT(&f->co, prokio_task_join_poll(f->kid[f->i], cx));
    PROKIO_END(&f->co, 0);
}

void test_sleep_order(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(conf_workers(2));
    for (unsigned w = 0; w < 2; w++) {
        struct order_parent p = {0};
        assert_int_equal(conf_run_on(rt, conf_worker(rt, w), order_parent_poll, &p, sizeof p, NULL),
                         0);
        for (int i = 0; i < NORDER; i++) {
            struct ordered o;
            assert_int_equal(conf_join(p.kid[i], &o, sizeof o), 0);
            /* Position = rank of its duration (10 ms apart, so distinct). */
            int rank = (int)order_ms[i] / 10 - 1;
            assert_int_equal(o.pos, rank);
            assert_true(o.end >= o.start + o.dur);
            assert_int_equal(o.polls, 2);
        }
    }
    test_runtime_free(rt);
}

/* ------------------------------------------------------------ never early */

struct napper {
    uint64_t dur;
    int rounds;
    int co;
    int i;
    prokio_sleep_t s;
    uint64_t start;
    int early;
    int immediate; /* rounds that were ready at the first poll */
};

static int napper_poll(void *frame, prokio_cx_t *cx)
{
    struct napper *f = frame;
    PROKIO_BEGIN(&f->co);
    for (f->i = 0; f->i < f->rounds; f->i++) {
        f->start = prokio_cx_now_ns(cx);
        prokio_sleep_init(&f->s, f->dur);
        if (prokio_sleep_poll(&f->s, cx) == 0) {
            f->immediate++;
        } else {
            PROKIO_AWAIT(&f->co, prokio_sleep_poll(&f->s, cx));
        }
        if (prokio_cx_now_ns(cx) < f->start + f->dur)
            f->early++;
    }
    PROKIO_END(&f->co, 0);
}

void test_sleep_never_early(void **state)
{
    (void)state;
    static const uint64_t durs[] = {PROKIO_NS(1),  PROKIO_US(1),    PROKIO_US(50), PROKIO_US(999),
                                    PROKIO_MS(1),  PROKIO_MS(3),    PROKIO_MS(7),  PROKIO_MS(15),
                                    PROKIO_MS(20), PROKIO_MS(1) + 1};
    enum { N = 200 };
    prokio_runtime_t *rt = test_runtime(conf_workers(2));
    prokio_task_t *h[N];
    uint64_t t0 = mono_ns();
    for (int i = 0; i < N; i++) {
        struct napper n = {.dur = durs[i % 10], .rounds = 3};
        assert_int_equal(prokio_spawn(&h[i], rt, napper_poll, &n, sizeof n, NULL), 0);
    }
    for (int i = 0; i < N; i++) {
        struct napper n;
        assert_int_equal(conf_join(h[i], &n, sizeof n), 0);
        assert_int_equal(n.i, 3);
        assert_int_equal(n.early, 0);
        /* Anything longer than the clock's step cannot be ready at once. */
        if (n.dur >= PROKIO_US(50))
            assert_int_equal(n.immediate, 0);
    }
    /* Three sleeps of 20 ms in a row took at least 60 ms of real time. */
    assert_true(mono_ns() - t0 >= PROKIO_MS(60));
    test_runtime_free(rt);
}

/* ------------------------------------------------------------- immediate */

struct immediate {
    int polls;
    int past, zero_until, zero_dur, now_until, again;
    prokio_sleep_t s;
};

static int immediate_poll(void *frame, prokio_cx_t *cx)
{
    struct immediate *f = frame;
    f->polls++;
    uint64_t now = prokio_cx_now_ns(cx);
    prokio_sleep_init_until(&f->s, now - 1);
    f->past = prokio_sleep_poll(&f->s, cx);
    f->again = prokio_sleep_poll(&f->s, cx); /* done stays done */
    prokio_sleep_init_until(&f->s, 0);
    f->zero_until = prokio_sleep_poll(&f->s, cx);
    prokio_sleep_init(&f->s, 0);
    f->zero_dur = prokio_sleep_poll(&f->s, cx);
    prokio_sleep_init_until(&f->s, now);
    f->now_until = prokio_sleep_poll(&f->s, cx);
    return 0;
}

void test_sleep_immediate(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(1);
    struct immediate f = {0};
    assert_int_equal(prokio_runtime_block_on(rt, immediate_poll, &f, sizeof f, NULL), 0);
    assert_int_equal(f.polls, 1);
    assert_int_equal(f.past, 0);
    assert_int_equal(f.again, 0);
    assert_int_equal(f.zero_until, 0);
    assert_int_equal(f.zero_dur, 0);
    assert_int_equal(f.now_until, 0);
    test_runtime_free(rt);
}

/* ------------------------------------------------------------------ huge */

struct huge {
    atomic_int *polls;
    int absolute;
    uint64_t v;
    prokio_sleep_t s;
};

static int huge_poll(void *frame, prokio_cx_t *cx)
{
    struct huge *f = frame;
    if (atomic_fetch_add(f->polls, 1) == 0) {
        if (f->absolute)
            prokio_sleep_init_until(&f->s, f->v);
        else
            prokio_sleep_init(&f->s, f->v);
    }
    return prokio_sleep_poll(&f->s, cx);
}

void test_sleep_huge(void **state)
{
    (void)state;
    static const struct {
        int absolute;
        uint64_t v;
    } kinds[] = {
        {0, UINT64_MAX}, {0, UINT64_MAX - 1}, {0, UINT64_MAX / 2 + 1}, {0, UINT64_C(1) << 63},
        {1, UINT64_MAX}, {1, UINT64_MAX - 1}, {0, PROKIO_SEC(100000)},
    };
    enum { K = sizeof kinds / sizeof kinds[0] };
    prokio_runtime_t *rt = test_runtime(conf_workers(2));
    prokio_task_t *h[K];
    atomic_int polls[K];
    for (int i = 0; i < K; i++) {
        atomic_init(&polls[i], 0);
        struct huge f = {.polls = &polls[i], .absolute = kinds[i].absolute, .v = kinds[i].v};
        assert_int_equal(
            prokio_spawn_on(&h[i], rt, conf_worker(rt, (unsigned)i), huge_poll, &f, sizeof f, NULL),
            0);
    }
    for (int i = 0; i < K; i++)
        CONF_WAIT_FLAG(&polls[i], 1);
    /* A short sleep on each worker finishes; none of the huge ones may
     * have fired meanwhile (a wrapped deadline would fire at once). */
    for (unsigned w = 0; w < 2; w++) {
        struct napper n = {.dur = PROKIO_MS(30), .rounds = 1};
        assert_int_equal(conf_run_on(rt, conf_worker(rt, w), napper_poll, &n, sizeof n, NULL), 0);
    }
    for (int i = 0; i < K; i++) {
        assert_int_equal(prokio_task_result(h[i]), PROKIO_PENDING);
        assert_int_equal(atomic_load(&polls[i]), 1);
    }
    uint64_t t0 = mono_ns();
    for (int i = 0; i < K; i++)
        prokio_task_abort(h[i]);
    for (int i = 0; i < K; i++) {
        assert_int_equal(conf_join(h[i], NULL, 0), PROKIO_ECANCELED);
        assert_int_equal(atomic_load(&polls[i]), 1);
    }
    assert_true(mono_ns() - t0 < conf_timeout_ns());
    test_runtime_free(rt);
}

/* ---------------------------------------------------------------- cancel */

struct canceller {
    int polls;
    int spurious;
    prokio_sleep_t a, b;
    int a_first, b_first, a_again_first, a_again_done;
    uint64_t b_start;
};

static int canceller_poll(void *frame, prokio_cx_t *cx)
{
    struct canceller *f = frame;
    f->polls++;
    if (f->polls == 1) {
        prokio_sleep_init(&f->a, PROKIO_MS(5));
        f->a_first = prokio_sleep_poll(&f->a, cx);
        prokio_sleep_cancel(&f->a);
        prokio_sleep_cancel(&f->a); /* twice is harmless */
        f->b_start = prokio_cx_now_ns(cx);
        prokio_sleep_init(&f->b, PROKIO_MS(60));
        f->b_first = prokio_sleep_poll(&f->b, cx);
        return PROKIO_PENDING;
    }
    if (f->a_again_first == 0) {
        int rc = prokio_sleep_poll(&f->b, cx);
        if (rc == PROKIO_PENDING) {
            f->spurious++; /* the cancelled sleep woke us */
            return PROKIO_PENDING;
        }
        if (rc != 0)
            return rc;
        /* Reuse the cancelled sleep's memory. */
        prokio_sleep_init(&f->a, PROKIO_MS(2));
        f->a_again_first = prokio_sleep_poll(&f->a, cx);
        return f->a_again_first == PROKIO_PENDING ? PROKIO_PENDING : PROKIO_EIO;
    }
    f->a_again_done = prokio_sleep_poll(&f->a, cx);
    if (f->a_again_done == PROKIO_PENDING) {
        f->spurious++;
        return PROKIO_PENDING;
    }
    /* Never armed, then cancelled: nothing to disarm. */
    prokio_sleep_init(&f->b, PROKIO_MS(1));
    prokio_sleep_cancel(&f->b);
    return f->a_again_done;
}

void test_sleep_cancel(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(conf_workers(2));
    for (unsigned w = 0; w < 2; w++) {
        struct canceller c = {0};
        assert_int_equal(conf_run_on(rt, conf_worker(rt, w), canceller_poll, &c, sizeof c, NULL),
                         0);
        assert_int_equal(c.a_first, PROKIO_PENDING);
        assert_int_equal(c.b_first, PROKIO_PENDING);
        assert_int_equal(c.a_again_first, PROKIO_PENDING);
        assert_int_equal(c.a_again_done, 0);
        assert_int_equal(c.spurious, 0);
        assert_int_equal(c.polls, 3);
    }
    test_runtime_free(rt);
}

/* ------------------------------------------------- initialised while armed */

/* Initialising a sleep that is armed disarms it first: the worker's heap
 * must not keep pointing at memory that was wiped (this corrupted the heap
 * before). */
struct reinit {
    int co, i;
    uint64_t start, end;
    prokio_sleep_t s;
};

static int reinit_poll(void *frame, prokio_cx_t *cx)
{
    struct reinit *f = frame;
    PROKIO_BEGIN(&f->co);
    f->start = prokio_cx_now_ns(cx);
    for (f->i = 0; f->i < 100; f->i++) {
        prokio_sleep_init(&f->s, PROKIO_SEC(60) + (uint64_t)f->i);
        if (prokio_sleep_poll(&f->s, cx) != PROKIO_PENDING)
            return PROKIO_EIO;
    }
    prokio_sleep_init_until(&f->s, prokio_cx_now_ns(cx) + PROKIO_MS(5));
    PROKIO_AWAIT(&f->co, prokio_sleep_poll(&f->s, cx));
    f->end = prokio_cx_now_ns(cx);
    PROKIO_END(&f->co, 0);
}

void test_sleep_reinit_armed(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(conf_workers(2));
    for (unsigned round = 0; round < 4; round++) {
        struct reinit r = {0};
        assert_int_equal(conf_run_on(rt, conf_worker(rt, round), reinit_poll, &r, sizeof r, NULL),
                         0);
        /* It waited for the last deadline only, not for a minute. */
        assert_true(r.end >= r.start + PROKIO_MS(5));
        assert_true(r.end < r.start + PROKIO_SEC(30));
    }
    test_runtime_free(rt);
}

/* ------------------------------------------------- armed when the task ends */

struct armer {
    int mode; /* 0: returns with sleeps armed; 1: parks until aborted (then 2) */
    atomic_int *armed;
    prokio_sleep_t s[4];
};

static int armer_poll(void *frame, prokio_cx_t *cx)
{
    struct armer *f = frame;
    if (f->mode == 2)
        return PROKIO_PENDING; /* woken by its own timers: still parked */
    for (int i = 0; i < 4; i++) {
        prokio_sleep_init(&f->s[i], PROKIO_MS(3 + 3 * i));
        if (prokio_sleep_poll(&f->s[i], cx) != PROKIO_PENDING)
            return PROKIO_EIO;
    }
    atomic_fetch_add(f->armed, 1);
    if (f->mode == 0)
        return 0;
    f->mode = 2;
    return PROKIO_PENDING;
}

/* Same frame size as armer, so that it reuses the memory of ended armers:
 * a timer left in the heap would then fire into it. */
struct canary {
    atomic_int *polls;
    int pad[1];
    prokio_sleep_t s[4];
};

static int canary_poll(void *frame, prokio_cx_t *cx)
{
    struct canary *f = frame;
    if (atomic_fetch_add(f->polls, 1) == 0) {
        prokio_sleep_init(&f->s[0], PROKIO_MS(40));
        memset(&f->s[1], 0x77, sizeof f->s - sizeof f->s[0]);
    }
    return prokio_sleep_poll(&f->s[0], cx);
}

void test_sleep_armed_at_end(void **state)
{
    (void)state;
    _Static_assert(sizeof(struct canary) == sizeof(struct armer), "same size class");
    enum { N = 32 };
    prokio_runtime_t *rt = test_runtime(conf_workers(2));
    atomic_int armed = 0;
    prokio_task_t *h[N];
    for (int i = 0; i < N; i++) {
        struct armer a = {.mode = i % 2, .armed = &armed};
        assert_int_equal(prokio_spawn_on(&h[i], rt, conf_worker(rt, (unsigned)i), armer_poll, &a,
                                         sizeof a, NULL),
                         0);
    }
    CONF_WAIT_FLAG(&armed, N);
    for (int i = 0; i < N; i++) {
        if (i % 2)
            prokio_task_abort(h[i]);
        assert_int_equal(conf_join(h[i], NULL, 0), i % 2 ? PROKIO_ECANCELED : 0);
    }
    atomic_int polls[N];
    for (int i = 0; i < N; i++) {
        atomic_init(&polls[i], 0);
        struct canary c = {.polls = &polls[i]};
        assert_int_equal(prokio_spawn_on(&h[i], rt, conf_worker(rt, (unsigned)i), canary_poll, &c,
                                         sizeof c, NULL),
                         0);
    }
    for (int i = 0; i < N; i++) {
        assert_int_equal(conf_join(h[i], NULL, 0), 0);
        assert_int_equal(atomic_load(&polls[i]), 2);
    }
    /* And some left armed at shutdown. */
    for (int i = 0; i < N; i++) {
        struct armer a = {.mode = 1, .armed = &armed};
        assert_int_equal(
            prokio_spawn_on(NULL, rt, conf_worker(rt, (unsigned)i), armer_poll, &a, sizeof a, NULL),
            0);
    }
    CONF_WAIT_FLAG(&armed, 2 * N);
    test_runtime_free(rt);
}

/* ------------------------------------------------------------- re-polled */

/* A sleep that expired returns 0 again when polled again, at once and
 * without arming anything: nothing wakes the task 20 ms later, when a sleep
 * armed again would fire, only the 100 ms sleep it waits for next. */
struct expired {
    int phase, polls, ref_polls;
    prokio_sleep_t s, ref;
    int first, again, later, past, past_again;
};

static int expired_poll(void *frame, prokio_cx_t *cx)
{
    struct expired *f = frame;
    f->polls++;
    switch (f->phase) {
    case 0:
        prokio_sleep_init_until(&f->ref, prokio_cx_now_ns(cx) - 1);
        f->past = prokio_sleep_poll(&f->ref, cx);
        f->past_again = prokio_sleep_poll(&f->ref, cx);
        prokio_sleep_init(&f->s, PROKIO_MS(20));
        f->phase = 1;
        /* fall through */
    case 1:
        f->first = prokio_sleep_poll(&f->s, cx);
        if (f->first == PROKIO_PENDING)
            return PROKIO_PENDING;
        f->again = prokio_sleep_poll(&f->s, cx);
        prokio_sleep_init(&f->ref, PROKIO_MS(100));
        f->phase = 2;
        /* fall through */
    default:
        f->ref_polls++;
        if (prokio_sleep_poll(&f->ref, cx) == PROKIO_PENDING)
            return PROKIO_PENDING;
        f->later = prokio_sleep_poll(&f->s, cx);
        return 0;
    }
}

void test_sleep_repoll_expired(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(conf_workers(2));
    for (unsigned w = 0; w < 2; w++) {
        struct expired e = {0};
        assert_int_equal(conf_run_on(rt, conf_worker(rt, w), expired_poll, &e, sizeof e, NULL), 0);
        assert_int_equal(e.past, 0);
        assert_int_equal(e.past_again, 0);
        assert_int_equal(e.first, 0);
        assert_int_equal(e.again, 0);
        assert_int_equal(e.later, 0);
        /* Armed, fired; then the reference sleep armed, fired: no other
         * wake in between. */
        assert_int_equal(e.ref_polls, 2);
        assert_int_equal(e.polls, 3);
    }
    test_runtime_free(rt);
}

/* A cancelled sleep returns PROKIO_ECANCELED, whatever state it was
 * cancelled in and however often it is polled, until it is initialised
 * again; then it sleeps as any other. */
struct cancelled {
    int phase, polls;
    prokio_sleep_t armed, done, fresh;
    int armed_first, c_armed, c_armed_again, c_done, c_fresh, c_later;
    int again_first, again_done, again_after;
    uint64_t start, end;
    char msg[160];
};

static int cancelled_poll(void *frame, prokio_cx_t *cx)
{
    struct cancelled *f = frame;
    f->polls++;
    switch (f->phase) {
    case 0:
        prokio_sleep_init(&f->armed, PROKIO_SEC(60));
        f->armed_first = prokio_sleep_poll(&f->armed, cx);
        prokio_sleep_cancel(&f->armed);
        prokio_cx_yield(NULL); /* a known message, to see that the poll sets its own */
        f->c_armed = prokio_sleep_poll(&f->armed, cx);
        snprintf(f->msg, sizeof f->msg, "%s", prokio_last_error());
        f->c_armed_again = prokio_sleep_poll(&f->armed, cx);
        /* Cancelled after it expired, and before it was ever polled. */
        prokio_sleep_init(&f->done, 0);
        if (prokio_sleep_poll(&f->done, cx) != 0)
            return PROKIO_EIO;
        prokio_sleep_cancel(&f->done);
        f->c_done = prokio_sleep_poll(&f->done, cx);
        prokio_sleep_init(&f->fresh, PROKIO_MS(1));
        prokio_sleep_cancel(&f->fresh);
        f->c_fresh = prokio_sleep_poll(&f->fresh, cx);
        f->phase = 1;
        return prokio_cx_yield(cx);
    case 1:
        f->c_later = prokio_sleep_poll(&f->armed, cx);
        /* Initialised again, it sleeps normally. */
        f->start = prokio_cx_now_ns(cx);
        prokio_sleep_init(&f->armed, PROKIO_MS(15));
        f->again_first = prokio_sleep_poll(&f->armed, cx);
        f->phase = 2;
        return PROKIO_PENDING;
    default:
        f->again_done = prokio_sleep_poll(&f->armed, cx);
        if (f->again_done == PROKIO_PENDING)
            return PROKIO_PENDING;
        f->end = prokio_cx_now_ns(cx);
        f->again_after = prokio_sleep_poll(&f->armed, cx);
        return 0;
    }
}

void test_sleep_repoll_cancelled(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(conf_workers(2));
    for (unsigned w = 0; w < 2; w++) {
        struct cancelled c = {0};
        assert_int_equal(conf_run_on(rt, conf_worker(rt, w), cancelled_poll, &c, sizeof c, NULL),
                         0);
        assert_int_equal(c.armed_first, PROKIO_PENDING);
        assert_int_equal(c.c_armed, PROKIO_ECANCELED);
        assert_non_null(strstr(c.msg, "prokio_sleep_poll"));
        assert_int_equal(c.c_armed_again, PROKIO_ECANCELED);
        assert_int_equal(c.c_done, PROKIO_ECANCELED);
        assert_int_equal(c.c_fresh, PROKIO_ECANCELED);
        assert_int_equal(c.c_later, PROKIO_ECANCELED);
        assert_int_equal(c.again_first, PROKIO_PENDING);
        assert_int_equal(c.again_done, 0);
        assert_true(c.end >= c.start + PROKIO_MS(15));
        assert_int_equal(c.again_after, 0);
        /* The yield, the new sleep's start and its end: the cancelled
         * minute-long sleep woke nothing. */
        assert_int_equal(c.polls, 3);
    }
    test_runtime_free(rt);
}

/* Memory that was never initialised (a zero-filled frame) is refused with
 * PROKIO_EINVAL and a message, at every poll; cancelling it does not make
 * it a sleep. */
struct uninit {
    int phase;
    prokio_sleep_t s;
    int first, again, cancelled, later;
    char msg[160];
};

static int uninit_poll(void *frame, prokio_cx_t *cx)
{
    struct uninit *f = frame;
    if (f->phase == 0) {
        prokio_cx_yield(NULL); /* a known message, to see that the poll sets its own */
        f->first = prokio_sleep_poll(&f->s, cx);
        snprintf(f->msg, sizeof f->msg, "%s", prokio_last_error());
        f->again = prokio_sleep_poll(&f->s, cx);
        prokio_sleep_cancel(&f->s);
        f->cancelled = prokio_sleep_poll(&f->s, cx);
        f->phase = 1;
        return prokio_cx_yield(cx);
    }
    f->later = prokio_sleep_poll(&f->s, cx);
    return 0;
}

void test_sleep_uninit(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(conf_workers(2));
    for (unsigned w = 0; w < 2; w++) {
        /* A NULL frame: the runtime zero-fills it. */
        struct uninit u;
        prokio_task_t *h = NULL;
        assert_int_equal(
            prokio_spawn_on(&h, rt, conf_worker(rt, w), uninit_poll, NULL, sizeof u, NULL), 0);
        assert_int_equal(conf_join(h, &u, sizeof u), 0);
        assert_int_equal(u.first, PROKIO_EINVAL);
        assert_non_null(strstr(u.msg, "prokio_sleep_poll"));
        assert_int_equal(u.again, PROKIO_EINVAL);
        assert_int_equal(u.cancelled, PROKIO_EINVAL);
        assert_int_equal(u.later, PROKIO_EINVAL);
    }
    test_runtime_free(rt);
}

/* ------------------------------------------------------------------ many */

struct many {
    uint32_t seed;
    int early;
    int co;
    prokio_sleep_t s;
    uint64_t start, dur;
    atomic_int *done;
};

static int many_poll(void *frame, prokio_cx_t *cx)
{
    struct many *f = frame;
    PROKIO_BEGIN(&f->co);
    f->dur = PROKIO_US(100) + PROKIO_US(f->seed % 50000);
    f->start = prokio_cx_now_ns(cx);
    prokio_sleep_init(&f->s, f->dur);
    PROKIO_AWAIT(&f->co, prokio_sleep_poll(&f->s, cx));
    if (prokio_cx_now_ns(cx) < f->start + f->dur)
        f->early++;
    atomic_fetch_add(f->done, 1);
    PROKIO_END(&f->co, f->early ? PROKIO_ERANGE : 0);
}

/* One task with many sleeps of its own, all armed at once. */
enum { PER_TASK = 500 };

struct herd {
    int armed;
    int fired;
    int early;
    int abort_me;
    uint64_t start;
    uint64_t dur[PER_TASK];
    uint8_t done[PER_TASK];
    prokio_sleep_t s[PER_TASK];
    atomic_int *ready;
};

static int herd_poll(void *frame, prokio_cx_t *cx)
{
    struct herd *f = frame;
    if (!f->armed) {
        f->armed = 1;
        f->start = prokio_cx_now_ns(cx);
        for (int i = 0; i < PER_TASK; i++) {
            f->dur[i] = PROKIO_US(37 * (uint64_t)((i * 7919) % PER_TASK) + 10);
            if (f->abort_me)
                f->dur[i] += PROKIO_SEC(3600);
            prokio_sleep_init(&f->s[i], f->dur[i]);
        }
        atomic_fetch_add(f->ready, 1);
    }
    uint64_t now = prokio_cx_now_ns(cx);
    for (int i = 0; i < PER_TASK; i++) {
        if (f->done[i])
            continue;
        if (prokio_sleep_poll(&f->s[i], cx) == 0) {
            f->done[i] = 1;
            f->fired++;
            if (now < f->start + f->dur[i])
                f->early++;
        }
    }
    return f->fired == PER_TASK ? 0 : PROKIO_PENDING;
}

void test_sleep_many(void **state)
{
    (void)state;
    enum { N = 10000, MAXW = 4 };
    const unsigned W = conf_workers(MAXW);
    prokio_runtime_t *rt = test_runtime(W);
    prokio_task_t **h = calloc(N, sizeof *h);
    assert_non_null(h);
    atomic_int done = 0, ready = 0;
    uint32_t x = 12345;
    for (int i = 0; i < N; i++) {
        x = x * 1103515245u + 12345u;
        struct many m = {.seed = x >> 8, .done = &done};
        assert_int_equal(prokio_spawn(&h[i], rt, many_poll, &m, sizeof m, NULL), 0);
    }
    prokio_task_t *hh[2 * MAXW];
    struct herd *hf = calloc(1, sizeof *hf);
    assert_non_null(hf);
    for (unsigned w = 0; w < 2 * W; w++) {
        memset(hf, 0, sizeof *hf);
        hf->abort_me = w >= W;
        hf->ready = &ready;
        assert_int_equal(prokio_spawn_on(&hh[w], rt, w % W, herd_poll, hf, sizeof *hf, NULL), 0);
    }
    for (int i = 0; i < N; i++)
        assert_int_equal(conf_join(h[i], NULL, 0), 0);
    assert_int_equal(atomic_load(&done), N);
    CONF_WAIT_FLAG(&ready, 2 * W);
    for (unsigned w = 0; w < W; w++) {
        assert_int_equal(conf_join(hh[w], hf, sizeof *hf), 0);
        assert_int_equal(hf->fired, PER_TASK);
        assert_int_equal(hf->early, 0);
    }
    /* Herds of hour-long sleeps: aborting disarms 500 timers each. */
    for (unsigned w = W; w < 2 * W; w++) {
        prokio_task_abort(hh[w]);
        assert_int_equal(conf_join(hh[w], NULL, 0), PROKIO_ECANCELED);
    }
    free(hf);
    free(h);
    test_runtime_free(rt);
}
