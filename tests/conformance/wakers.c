/* tests/conformance/wakers.c: cloning, waking from other threads, wake
 * coalescing, waking running and finished tasks, will_wake. */
#include "conformance.h"

/* The task publishes a clone of its waker in `slot` at its first poll and
 * ends once `flag` is set. */
struct handoff {
    _Atomic(prokio_waker_t *) slot;
    atomic_int flag;
};

struct flag_waiter {
    struct track tr;
    struct handoff *ho;
};

static int flag_waiter_poll(void *frame, prokio_cx_t *cx)
{
    struct flag_waiter *f = frame;
    track_poll(&f->tr);
    if (atomic_load(&f->ho->flag))
        return 0;
    if (f->tr.polls == 1)
        atomic_store(&f->ho->slot, prokio_waker_clone(prokio_cx_waker(cx)));
    return PROKIO_PENDING;
}

/* The waker the task published, or NULL if it did not within the bound. */
static prokio_waker_t *take_waker(struct handoff *ho)
{
    prokio_waker_t *w;
    for (uint64_t end = mono_ns() + conf_timeout_ns();
         (w = atomic_exchange(&ho->slot, NULL)) == NULL;)
        if (!conf_yield_before(end))
            return NULL;
    return w;
}

struct waker_thread {
    struct handoff *ho;
    int by_ref;
};

static void *waker_thread_main(void *arg)
{
    struct waker_thread *wt = arg;
    prokio_waker_t *w = take_waker(wt->ho);
    atomic_store(&wt->ho->flag, 1);
    if (w == NULL) /* the task was never polled: its join hangs, the watchdog ends it */
        return NULL;
    if (wt->by_ref) {
        prokio_waker_wake_by_ref(w);
        prokio_waker_release(w);
    } else {
        prokio_waker_wake(w);
    }
    return NULL;
}

static void wake_from_thread(int by_ref)
{
    enum { ROUNDS = 300 };
    prokio_runtime_t *rt = test_runtime(2);
    struct drops d = {0};
    for (int k = 0; k < ROUNDS; k++) {
        struct handoff ho = {NULL, 0};
        struct waker_thread wt = {&ho, by_ref};
        pthread_t th;
        assert_int_equal(pthread_create(&th, NULL, waker_thread_main, &wt), 0);
        struct flag_waiter f = {.tr.d = &d, .ho = &ho};
        assert_int_equal(
            conf_run_on(rt, (unsigned)k % 2, flag_waiter_poll, &f, sizeof f, track_drop), 0);
        pthread_join(th, NULL);
        assert_int_equal(f.tr.polls, 2);
        assert_int_equal(f.tr.drops, 1);
    }
    test_runtime_free(rt);
    assert_int_equal(atomic_load(&d.n), ROUNDS);
    assert_int_equal(atomic_load(&d.wrong_thread), 0);
}

void test_waker_wake_from_thread(void **state)
{
    (void)state;
    wake_from_thread(0);
}

void test_waker_wake_by_ref_from_thread(void **state)
{
    (void)state;
    wake_from_thread(1);
}

/* The same from the test's own thread, outside the runtime: on wasm that is
 * the JS thread between two drives, where a JS callback would wake. */
void test_waker_wake_from_main(void **state)
{
    (void)state;
    enum { ROUNDS = 50 };
    prokio_runtime_t *rt = test_runtime(conf_workers(2));
    struct drops d = {0};
    for (int k = 0; k < ROUNDS; k++) {
        struct handoff ho = {NULL, 0};
        struct flag_waiter f = {.tr.d = &d, .ho = &ho};
        prokio_task_t *h = NULL;
        assert_int_equal(prokio_spawn_on(&h, rt, conf_worker(rt, (unsigned)k), flag_waiter_poll, &f,
                                         sizeof f, track_drop),
                         0);
        prokio_waker_t *w = take_waker(&ho);
        if (w == NULL)
            fail_msg("round %d: the task did not publish its waker", k);
        assert_int_equal(prokio_task_result(h), PROKIO_PENDING);
        atomic_store(&ho.flag, 1);
        if (k % 2) {
            prokio_waker_wake_by_ref(w);
            prokio_waker_release(w);
        } else {
            prokio_waker_wake(w);
        }
        assert_int_equal(conf_join(h, &f, sizeof f), 0);
        assert_int_equal(f.tr.polls, 2);
        assert_int_equal(f.tr.drops, 1);
    }
    test_runtime_free(rt);
    assert_int_equal(atomic_load(&d.n), ROUNDS);
    assert_int_equal(atomic_load(&d.wrong_thread), 0);
}

/* Many wakes while the worker is busy elsewhere make one poll. A blocker
 * task holds the worker inside its poll while the main thread and three
 * more threads wake the parked task thousands of times. */
struct blocker {
    atomic_int *in_poll;
    atomic_int *release;
};

/* Ends with PROKIO_ETIMEDOUT if it was not released in time. */
static int blocker_poll(void *frame, prokio_cx_t *cx)
{
    (void)cx;
    struct blocker *f = frame;
    atomic_store(f->in_poll, 1);
    return conf_wait_flag(f->release, 1) ? 0 : PROKIO_ETIMEDOUT;
}

struct hammer {
    prokio_waker_t *w;
    atomic_int *go;
};

static void *hammer_main(void *arg)
{
    struct hammer *hm = arg;
    (void)conf_wait_flag(hm->go, 1); /* a start line only: late is fine */
    for (int i = 0; i < 5000; i++)
        prokio_waker_wake_by_ref(hm->w);
    prokio_waker_t *c = prokio_waker_clone(hm->w);
    prokio_waker_wake(c);
    return NULL;
}

/* Same worker, deterministic: a task wakes another one many times in one
 * poll. */
struct local_waker {
    struct handoff *ho;
    int woke;
};

static int local_waker_poll(void *frame, prokio_cx_t *cx)
{
    (void)cx;
    struct local_waker *f = frame;
    prokio_waker_t *w = atomic_exchange(&f->ho->slot, NULL);
    if (w == NULL)
        return PROKIO_EINVAL; /* the waiter should have run first */
    atomic_store(&f->ho->flag, 1);
    for (int i = 0; i < 1000; i++)
        prokio_waker_wake_by_ref(w);
    prokio_waker_wake(w);
    f->woke = 1;
    return 0;
}

struct coalesce_parent {
    struct drops *d;
    struct handoff *ho;
    int co;
    prokio_task_t *waiter, *waker;
    int waker_rc;
};

static int coalesce_parent_poll(void *frame, prokio_cx_t *cx)
{
    struct coalesce_parent *f = frame;
    PROKIO_BEGIN(&f->co);
    struct flag_waiter fw = {.tr.d = f->d, .ho = f->ho};
    struct local_waker lw = {.ho = f->ho};
    if (prokio_spawn_local(&f->waiter, flag_waiter_poll, &fw, sizeof fw, track_drop, cx) < 0 ||
        prokio_spawn_local(&f->waker, local_waker_poll, &lw, sizeof lw, NULL, cx) < 0)
        return PROKIO_EIO;
    PROKIO_AWAIT_INTO(&f->co, f->waker_rc, prokio_task_join_poll(f->waker, cx));
    PROKIO_AWAIT(&f->co, prokio_task_join_poll(f->waiter, cx));
    PROKIO_END(&f->co, 0);
}

/* Same worker: a task wakes another 1001 times in one poll. */
void test_waker_coalesce(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(conf_workers(2));
    struct drops d = {0};
    for (unsigned w = 0; w < 2; w++) {
        struct handoff ho = {NULL, 0};
        struct coalesce_parent p = {.d = &d, .ho = &ho};
        assert_int_equal(
            conf_run_on(rt, conf_worker(rt, w), coalesce_parent_poll, &p, sizeof p, NULL), 0);
        assert_int_equal(p.waker_rc, 0);
        struct flag_waiter fw;
        assert_int_equal(conf_join(p.waiter, &fw, sizeof fw), 0);
        assert_int_equal(fw.tr.polls, 2);
        assert_int_equal(conf_join(p.waker, NULL, 0), 0);
    }
    test_runtime_free(rt);
    assert_int_equal(atomic_load(&d.n), 2);
    assert_int_equal(atomic_load(&d.wrong_thread), 0);
}

/* Other threads, while the worker is held by a blocker. */
void test_waker_coalesce_threads(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(2);
    struct drops d = {0};
    enum { HAMMERS = 3 };
    for (int k = 0; k < 10; k++) {
        unsigned w = (unsigned)k % 2;
        struct handoff ho = {NULL, 0};
        struct flag_waiter f = {.tr.d = &d, .ho = &ho};
        prokio_task_t *hw = NULL, *hb = NULL;
        assert_int_equal(prokio_spawn_on(&hw, rt, w, flag_waiter_poll, &f, sizeof f, track_drop),
                         0);
        prokio_waker_t *waker = take_waker(&ho);
        if (waker == NULL)
            fail_msg("worker %u: the task did not publish its waker", w);
        atomic_int in_poll = 0, release = 0, go = 0;
        struct blocker b = {&in_poll, &release};
        assert_int_equal(prokio_spawn_on(&hb, rt, w, blocker_poll, &b, sizeof b, NULL), 0);
        CONF_WAIT_FLAG(&in_poll, 1);
        /* The waiter was polled once before the blocker started (the
         * waker was published in that poll) and cannot run now. */
        atomic_store(&ho.flag, 1);
        struct hammer hm = {waker, &go};
        pthread_t th[HAMMERS];
        for (int i = 0; i < HAMMERS; i++)
            assert_int_equal(pthread_create(&th[i], NULL, hammer_main, &hm), 0);
        atomic_store(&go, 1);
        for (int i = 0; i < 5000; i++)
            prokio_waker_wake_by_ref(waker);
        for (int i = 0; i < HAMMERS; i++)
            pthread_join(th[i], NULL);
        atomic_store(&release, 1);
        assert_int_equal(conf_join(hb, NULL, 0), 0);
        assert_int_equal(conf_join(hw, &f, sizeof f), 0);
        assert_int_equal(f.tr.polls, 2);
        prokio_waker_release(waker);
    }
    test_runtime_free(rt);
    assert_int_equal(atomic_load(&d.n), 10);
    assert_int_equal(atomic_load(&d.wrong_thread), 0);
}

/* A task that wakes itself during its poll runs once more, not eleven
 * times, and not never. */
struct self_waker {
    struct track tr;
    int consume;
};

static int self_waker_poll(void *frame, prokio_cx_t *cx)
{
    struct self_waker *f = frame;
    track_poll(&f->tr);
    if (f->tr.polls > 1)
        return 0;
    for (int i = 0; i < 10; i++)
        prokio_waker_wake_by_ref(prokio_cx_waker(cx));
    if (f->consume)
        prokio_waker_wake(prokio_waker_clone(prokio_cx_waker(cx)));
    return PROKIO_PENDING;
}

void test_waker_wake_while_running(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(conf_workers(2));
    struct drops d = {0};
    for (int k = 0; k < 4; k++) {
        struct self_waker s = {.tr.d = &d, .consume = k / 2};
        assert_int_equal(conf_run_on(rt, conf_worker(rt, (unsigned)k), self_waker_poll, &s,
                                     sizeof s, track_drop),
                         0);
        assert_int_equal(s.tr.polls, 2);
        assert_int_equal(s.tr.drops, 1);
    }
    test_runtime_free(rt);
    assert_int_equal(atomic_load(&d.n), 4);
    assert_int_equal(atomic_load(&d.wrong_thread), 0);
}

/* Keeps a clone of its waker past its end. */
struct leaver {
    struct track tr;
    prokio_waker_t **out;
};

static int leaver_poll(void *frame, prokio_cx_t *cx)
{
    struct leaver *f = frame;
    track_poll(&f->tr);
    *f->out = prokio_waker_clone(prokio_cx_waker(cx));
    return 3;
}

void test_waker_finished_task(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(conf_workers(2));
    struct drops d = {0};
    for (int k = 0; k < 2; k++) {
        prokio_waker_t *w = NULL;
        struct leaver l = {.tr.d = &d, .out = &w};
        prokio_task_t *h = NULL;
        assert_int_equal(prokio_spawn(&h, rt, leaver_poll, &l, sizeof l, track_drop), 0);
        assert_int_equal(prokio_task_blocking_join(h), 3);
        assert_non_null(w);
        if (k == 1) {
            /* The handle goes first: the waker alone keeps the task. */
            prokio_task_release(h);
            h = NULL;
        }
        for (int i = 0; i < 3; i++)
            prokio_waker_wake_by_ref(w);
        prokio_waker_t *c = prokio_waker_clone(w);
        assert_true(prokio_waker_will_wake(c, w));
        prokio_waker_wake(c);
        prokio_waker_release(w); /* the last reference when the handle went first */
        if (h) {
            assert_int_equal(prokio_task_result(h), 3);
            assert_int_equal(conf_join(h, &l, sizeof l), 3);
            assert_int_equal(l.tr.polls, 1);
            assert_int_equal(l.tr.drops, 1);
        }
    }
    test_runtime_free(rt);
    assert_int_equal(atomic_load(&d.n), 2);
    assert_int_equal(atomic_load(&d.wrong_thread), 0);
}

struct will {
    _Atomic(prokio_waker_t *) *other; /* a clone of the other task's waker */
    int self_self, clone_self, self_clone, self_other, other_self;
};

static int will_poll(void *frame, prokio_cx_t *cx)
{
    struct will *f = frame;
    prokio_waker_t *me = prokio_cx_waker(cx);
    prokio_waker_t *c = prokio_waker_clone(me);
    f->self_self = prokio_waker_will_wake(me, me);
    f->clone_self = prokio_waker_will_wake(c, me);
    f->self_clone = prokio_waker_will_wake(me, c);
    prokio_waker_release(c);
    prokio_waker_t *o = atomic_load(f->other);
    f->self_other = prokio_waker_will_wake(me, o);
    f->other_self = prokio_waker_will_wake(o, me);
    return 0;
}

static int clone_out_poll(void *frame, prokio_cx_t *cx)
{
    _Atomic(prokio_waker_t *) *out = *(_Atomic(prokio_waker_t *) **)frame;
    atomic_store(out, prokio_waker_clone(prokio_cx_waker(cx)));
    return 0;
}

void test_waker_will_wake(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(conf_workers(2));
    for (unsigned w = 0; w < prokio_runtime_workers(rt); w++) {
        _Atomic(prokio_waker_t *) other = NULL;
        _Atomic(prokio_waker_t *) *p = &other;
        assert_int_equal(prokio_runtime_block_on(rt, clone_out_poll, &p, sizeof p, NULL), 0);
        assert_non_null(atomic_load(&other));
        struct will f = {.other = &other};
        assert_int_equal(conf_run_on(rt, w, will_poll, &f, sizeof f, NULL), 0);
        assert_true(f.self_self);
        assert_true(f.clone_self);
        assert_true(f.self_clone);
        assert_false(f.self_other);
        assert_false(f.other_self);
        prokio_waker_release(atomic_load(&other));
    }
    test_runtime_free(rt);
}
