/* tests/conformance/watch.c: the watch channel: changes seen only when
 * newer, every receiver on every worker sees the final value, borrows
 * without copying, drops exactly once, cancel-safe waits, PROKIO_LOCAL,
 * plain threads, the coop budget. */
#include "conformance.h"

static atomic_int w_drops;
static void wcount_drop(void *value)
{
    (void)value;
    atomic_fetch_add(&w_drops, 1);
}

/* Borrowing, versions and drops, on the calling thread. */
void test_watch_basics(void **state)
{
    (void)state;
    atomic_store(&w_drops, 0);
    prokio_watch_tx_t *tx;
    prokio_watch_rx_t *rx, *r2, *r3;
    uint64_t v = 10, old = 0;
    assert_int_equal(prokio_watch_new(&tx, &rx, sizeof v, &v, wcount_drop, 0), 0);
    assert_int_equal(prokio_watch_has_changed(rx), 0);
    /* A borrow is the channel's value itself: the same address each time. */
    const uint64_t *p = prokio_watch_borrow(rx);
    assert_non_null(p);
    assert_int_equal((uintptr_t)p % _Alignof(max_align_t), 0); /* as malloc would */
    assert_int_equal(*p, 10);
    assert_null(prokio_watch_borrow(rx)); /* one borrow per receiver */
    prokio_watch_borrow_end(rx);
    v = 11;
    assert_int_equal(prokio_watch_send(tx, &v), 0);
    assert_int_equal(atomic_load(&w_drops), 1);
    assert_int_equal(prokio_watch_has_changed(rx), 1);
    const uint64_t *q = prokio_watch_borrow(rx);
    assert_ptr_equal(q, p);
    assert_int_equal(*q, 11);
    prokio_watch_borrow_end(rx);
    assert_int_equal(prokio_watch_has_changed(rx), 1); /* borrow marks nothing */
    q = prokio_watch_borrow_and_update(rx);
    assert_ptr_equal(q, p);
    prokio_watch_borrow_end(rx);
    assert_int_equal(prokio_watch_has_changed(rx), 0);
    /* Subscribers: a new one has seen the current version; a resubscribed
     * one what its origin has seen. */
    assert_int_equal(prokio_watch_subscribe(&r2, tx), 0);
    assert_int_equal(prokio_watch_has_changed(r2), 0);
    v = 12;
    assert_int_equal(prokio_watch_send(tx, &v), 0);
    assert_int_equal(prokio_watch_resubscribe(&r3, r2), 0);
    assert_int_equal(prokio_watch_has_changed(r3), 1);
    v = 0;
    assert_int_equal(prokio_watch_read(r3, &v), 0);
    assert_int_equal(v, 12);
    assert_int_equal(prokio_watch_has_changed(r3), 0);
    assert_int_equal(prokio_watch_has_changed(r2), 1);
    /* send_replace hands the old value back instead of dropping it. */
    v = 13;
    assert_int_equal(prokio_watch_send_replace(tx, &v, &old), 0);
    assert_int_equal(old, 12);
    assert_int_equal(atomic_load(&w_drops), 2);
    /* No receivers: send fails and keeps nothing; send_replace works. */
    prokio_watch_rx_release(rx);
    prokio_watch_rx_release(r2);
    assert_false(prokio_watch_tx_is_closed(tx));
    prokio_watch_rx_release(r3);
    assert_true(prokio_watch_tx_is_closed(tx));
    v = 14;
    assert_int_equal(prokio_watch_send(tx, &v), PROKIO_EPIPE);
    assert_int_equal(atomic_load(&w_drops), 2);
    assert_int_equal(prokio_watch_send_replace(tx, &v, &old), 0);
    assert_int_equal(old, 13);
    assert_int_equal(prokio_watch_subscribe(&rx, tx), 0);
    v = 0;
    assert_int_equal(prokio_watch_read(rx, &v), 0);
    assert_int_equal(v, 14);
    /* The sender goes: changes seen, then EPIPE; the last value is dropped
     * with the channel. */
    v = 15;
    assert_int_equal(prokio_watch_send(tx, &v), 0);
    prokio_watch_tx_release(tx);
    assert_int_equal(prokio_watch_has_changed(rx), 1);
    assert_int_equal(prokio_watch_read(rx, &v), 0);
    assert_int_equal(prokio_watch_has_changed(rx), PROKIO_EPIPE);
    assert_int_equal(prokio_watch_blocking_changed(rx), PROKIO_EPIPE);
    assert_int_equal(atomic_load(&w_drops), 3);
    prokio_watch_rx_release(rx);
    assert_int_equal(atomic_load(&w_drops), 4);
}

/* A receiver task: waits for changes, reads each, until it reads `final`
 * or the sender is gone. */
struct wrecv {
    struct track tr;
    prokio_watch_rx_t *rx;
    prokio_wait_t wait;
    struct conf_timeout to;
    atomic_int *parked;
    uint64_t last, final;
    int changes, rc, backwards, spurious;
};

static int wrecv_poll(void *frame, prokio_cx_t *cx)
{
    struct wrecv *f = frame;
    track_poll(&f->tr);
    for (;;) {
        int rc = prokio_watch_changed_poll(&f->wait, f->rx, cx);
        if (rc == PROKIO_PENDING) {
            if (!conf_timed_out(&f->to, cx)) {
                if (f->parked)
                    atomic_fetch_add(f->parked, 1);
                return PROKIO_PENDING;
            }
            prokio_wait_cancel(&f->wait);
            rc = PROKIO_ETIMEDOUT;
        }
        if (rc != 0) {
            f->rc = rc;
            break;
        }
        uint64_t v;
        prokio_watch_read(f->rx, &v);
        if (v < f->last)
            f->backwards++;
        if (v == f->last)
            f->spurious++;
        f->last = v;
        f->changes++;
        if (v == f->final) {
            f->rc = 0;
            break;
        }
    }
    conf_timeout_cancel(&f->to);
    prokio_watch_rx_release(f->rx);
    f->rx = NULL;
    return 0;
}

static void wrecv_drop(void *frame)
{
    struct wrecv *f = frame;
    prokio_watch_rx_release(f->rx);
    track_dropped(&f->tr);
}

void test_watch_many_receivers(void **state)
{
    (void)state;
    enum { RX = 12, FINAL = 5000 };
    prokio_runtime_t *rt = test_runtime(conf_workers(3));
    struct drops d = {0};
    atomic_store(&w_drops, 0);
    prokio_watch_tx_t *tx;
    prokio_watch_rx_t *rx0;
    uint64_t v = 0;
    assert_int_equal(prokio_watch_new(&tx, &rx0, sizeof v, &v, wcount_drop, 0), 0);
    struct wrecv r[RX];
    prokio_task_t *h[RX];
    atomic_int parked = 0;
    for (int i = 0; i < RX; i++) {
        r[i] = (struct wrecv){.tr.d = &d, .parked = &parked, .final = FINAL};
        if (i == 0)
            r[i].rx = rx0;
        else
            assert_int_equal(prokio_watch_subscribe(&r[i].rx, tx), 0);
        assert_int_equal(prokio_spawn_on(&h[i], rt, conf_worker(rt, (unsigned)i), wrecv_poll, &r[i],
                                         sizeof r[i], wrecv_drop),
                         0);
    }
    CONF_WAIT_FLAG(&parked, RX);
    for (v = 1; v <= FINAL; v++)
        assert_int_equal(prokio_watch_send(tx, &v), 0);
    for (int i = 0; i < RX; i++) {
        assert_int_equal(conf_join(h[i], &r[i], sizeof r[i]), 0);
        assert_int_equal(r[i].rc, 0);
        assert_int_equal(r[i].last, FINAL);
        assert_int_equal(r[i].backwards, 0);
        assert_int_equal(r[i].spurious, 0); /* changed only on newer versions */
        assert_true(r[i].changes >= 1 && r[i].changes <= FINAL);
    }
    assert_true(prokio_watch_tx_is_closed(tx));
    prokio_watch_tx_release(tx);
    assert_int_equal(atomic_load(&w_drops), FINAL + 1);
    test_runtime_free(rt);
    assert_int_equal(atomic_load(&d.n), RX);
    assert_int_equal(atomic_load(&d.wrong_thread), 0);
}

/* The sender released while receivers wait: they wake with EPIPE. A
 * waiting receiver aborted: it leaves the queue, nothing leaks. */
void test_watch_close_and_abort(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(conf_workers(2));
    struct drops d = {0};
    for (int k = 0; k < 10; k++) {
        prokio_watch_tx_t *tx;
        prokio_watch_rx_t *rx;
        uint64_t v = 0;
        assert_int_equal(prokio_watch_new(&tx, &rx, sizeof v, &v, NULL, 0), 0);
        atomic_int parked = 0;
        struct wrecv a = {.tr.d = &d, .parked = &parked, .final = 99, .rx = rx};
        struct wrecv b = {.tr.d = &d, .parked = &parked, .final = 99};
        assert_int_equal(prokio_watch_subscribe(&b.rx, tx), 0);
        prokio_task_t *ha, *hb;
        assert_int_equal(prokio_spawn_on(&ha, rt, 0, wrecv_poll, &a, sizeof a, wrecv_drop), 0);
        assert_int_equal(
            prokio_spawn_on(&hb, rt, conf_worker(rt, 1), wrecv_poll, &b, sizeof b, wrecv_drop), 0);
        CONF_WAIT_FLAG(&parked, 2);
        prokio_task_abort(hb);
        assert_int_equal(conf_join(hb, NULL, 0), PROKIO_ECANCELED);
        if (k % 2) {
            v = 5;
            assert_int_equal(prokio_watch_send(tx, &v), 0);
        }
        prokio_watch_tx_release(tx);
        assert_int_equal(conf_join(ha, &a, sizeof a), 0);
        assert_int_equal(a.rc, PROKIO_EPIPE);
        assert_int_equal(a.changes, k % 2); /* the change first, then EPIPE */
    }
    test_runtime_free(rt);
    assert_int_equal(atomic_load(&d.n), 20);
}

/* prokio_wait_cancel of a queued and of a granted change wait loses no
 * change. */
struct wcancel {
    prokio_watch_rx_t *rx;
    prokio_wait_t wait;
    struct conf_timeout to;
    atomic_int *parked;
    int phase, pending_before, pending_after, rc;
    uint64_t v;
};

static int wcancel_poll(void *frame, prokio_cx_t *cx)
{
    struct wcancel *f = frame;
    if (f->phase == 0) {
        if (prokio_watch_changed_poll(&f->wait, f->rx, cx) != PROKIO_PENDING) {
            f->rc = 100;
            return 0;
        }
        prokio_wait_cancel(&f->wait);
        (void)prokio_watch_changed_poll(&f->wait, f->rx, cx);
        f->phase = 1;
        atomic_store(f->parked, 1);
        return PROKIO_PENDING;
    }
    if (f->phase == 1 && prokio_wait_is_pending(&f->wait)) {
        f->pending_before = 1;
        prokio_wait_cancel(&f->wait);
        f->pending_after = prokio_wait_is_pending(&f->wait);
    }
    f->phase = 2;
    int rc = prokio_watch_changed_poll(&f->wait, f->rx, cx);
    if (rc == PROKIO_PENDING) {
        if (!conf_timed_out(&f->to, cx))
            return PROKIO_PENDING;
        prokio_wait_cancel(&f->wait);
        rc = PROKIO_ETIMEDOUT;
    }
    conf_timeout_cancel(&f->to);
    f->rc = rc;
    if (rc == 0)
        prokio_watch_read(f->rx, &f->v);
    return 0;
}

void test_watch_wait_cancel(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(conf_workers(2));
    prokio_watch_tx_t *tx;
    prokio_watch_rx_t *rx;
    uint64_t v = 0;
    assert_int_equal(prokio_watch_new(&tx, &rx, sizeof v, &v, NULL, 0), 0);
    for (int k = 0; k < 10; k++) {
        atomic_int parked = 0;
        struct wcancel c = {.rx = rx, .parked = &parked};
        prokio_task_t *h;
        assert_int_equal(
            prokio_spawn_on(&h, rt, conf_worker(rt, (unsigned)k), wcancel_poll, &c, sizeof c, NULL),
            0);
        CONF_WAIT_FLAG(&parked, 1);
        v = 100 + (uint64_t)k;
        assert_int_equal(prokio_watch_send(tx, &v), 0);
        assert_int_equal(conf_join(h, &c, sizeof c), 0);
        assert_int_equal(c.rc, 0);
        assert_int_equal(c.v, v);
        assert_int_equal(c.pending_before, 1);
        assert_int_equal(c.pending_after, 0);
    }
    prokio_watch_rx_release(rx);
    prokio_watch_tx_release(tx);
    test_runtime_free(rt);
}

/* PROKIO_LOCAL: one worker's tasks; EXDEV elsewhere; a send under a borrow
 * fails with EBUSY instead of rewriting the borrowed value. */
struct wlocal {
    prokio_watch_tx_t *tx;
    prokio_watch_rx_t *rx;
    int new_rc, busy, send_rc, read_rc, changed_rc, exdev;
    uint64_t v;
};

static int wlocal_poll(void *frame, prokio_cx_t *cx)
{
    (void)cx;
    struct wlocal *f = frame;
    uint64_t v = 1;
    f->new_rc = prokio_watch_new(&f->tx, &f->rx, sizeof v, &v, NULL, PROKIO_LOCAL);
    if (f->new_rc < 0)
        return 0;
    const uint64_t *p = prokio_watch_borrow(f->rx);
    v = 2;
    f->busy = prokio_watch_send(f->tx, &v);
    f->v = *p;
    prokio_watch_borrow_end(f->rx);
    f->send_rc = prokio_watch_send(f->tx, &v);
    return 0;
}

static int wlocal_other(void *frame, prokio_cx_t *cx)
{
    struct wlocal *f = frame;
    prokio_wait_t w = {{{0}}};
    uint64_t v = 3;
    f->exdev = prokio_watch_send(f->tx, &v);
    f->changed_rc = prokio_watch_changed_poll(&w, f->rx, cx);
    f->read_rc = prokio_watch_read(f->rx, &f->v);
    return 0;
}

static int wlocal_end(void *frame, prokio_cx_t *cx)
{
    (void)cx;
    struct wlocal *f = frame;
    prokio_watch_rx_release(f->rx);
    prokio_watch_tx_release(f->tx);
    return 0;
}

void test_watch_local(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(conf_workers(2));
    struct wlocal f = {0};
    assert_int_equal(conf_run_on(rt, 0, wlocal_poll, &f, sizeof f, NULL), 0);
    assert_int_equal(f.new_rc, 0);
    assert_int_equal(f.busy, PROKIO_EBUSY);
    assert_int_equal(f.v, 1);
    assert_int_equal(f.send_rc, 0);
    /* From another worker (where there is one) and from this thread. */
    if (prokio_runtime_workers(rt) > 1) {
        assert_int_equal(conf_run_on(rt, 1, wlocal_other, &f, sizeof f, NULL), 0);
        assert_int_equal(f.exdev, PROKIO_EXDEV);
        assert_int_equal(f.changed_rc, PROKIO_EXDEV);
        assert_int_equal(f.read_rc, PROKIO_EXDEV);
    }
    uint64_t v = 4;
    assert_int_equal(prokio_watch_send(f.tx, &v), PROKIO_EXDEV);
    assert_int_equal(prokio_watch_read(f.rx, &v), PROKIO_EXDEV);
    assert_null(prokio_watch_borrow(f.rx));
    assert_int_equal(conf_run_on(rt, 0, wlocal_other, &f, sizeof f, NULL), 0);
    assert_int_equal(f.exdev, 0);
    assert_int_equal(f.changed_rc, 0);
    assert_int_equal(f.read_rc, 0);
    assert_int_equal(f.v, 3);
    assert_int_equal(conf_run_on(rt, 0, wlocal_end, &f, sizeof f, NULL), 0);
    test_runtime_free(rt);
}

/* A plain thread waits with blocking_changed while tasks send; EDEADLK on
 * a worker. */
struct wthread {
    prokio_watch_rx_t *rx;
    atomic_int started;
    uint64_t last;
    int rc, changes, backwards;
};

static void *wthread_main(void *arg)
{
    struct wthread *t = arg;
    atomic_store(&t->started, 1);
    for (;;) {
        int rc = prokio_watch_blocking_changed(t->rx);
        if (rc != 0) {
            t->rc = rc;
            break;
        }
        uint64_t v;
        prokio_watch_read(t->rx, &v);
        if (v <= t->last)
            t->backwards++;
        t->last = v;
        t->changes++;
    }
    prokio_watch_rx_release(t->rx);
    return NULL;
}

struct wsend {
    prokio_watch_tx_t *tx;
    uint64_t n;
    int bad, deadlk;
    prokio_watch_rx_t *rx;
};

static int wsend_poll(void *frame, prokio_cx_t *cx)
{
    (void)cx;
    struct wsend *f = frame;
    f->deadlk = prokio_watch_blocking_changed(f->rx);
    for (uint64_t v = 1; v <= f->n; v++)
        if (prokio_watch_send(f->tx, &v) != 0)
            f->bad++;
    prokio_watch_tx_release(f->tx);
    prokio_watch_rx_release(f->rx);
    return 0;
}

void test_watch_blocking(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(2);
    prokio_watch_tx_t *tx;
    prokio_watch_rx_t *rx;
    uint64_t v = 0;
    assert_int_equal(prokio_watch_new(&tx, &rx, sizeof v, &v, NULL, 0), 0);
    struct wthread t = {.rx = rx};
    struct wsend s = {.tx = tx, .n = 2000};
    assert_int_equal(prokio_watch_subscribe(&s.rx, tx), 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, wthread_main, &t), 0);
    CONF_WAIT_FLAG(&t.started, 1);
    assert_int_equal(conf_run_on(rt, 1, wsend_poll, &s, sizeof s, NULL), 0);
    assert_int_equal(s.deadlk, PROKIO_EDEADLK);
    assert_int_equal(s.bad, 0);
    pthread_join(th, NULL);
    assert_int_equal(t.rc, PROKIO_EPIPE);
    assert_int_equal(t.last, 2000);
    assert_int_equal(t.backwards, 0);
    test_runtime_free(rt);
}

/* The coop budget: a task that sends and then finds the change at once
 * (changed_poll always ready) yields after at most 128 of them. And
 * changed marks what it reports seen: with no send in between, the next
 * call waits (the `changed, then borrow` loop does not spin). */
struct wcoop {
    prokio_watch_tx_t *tx;
    prokio_watch_rx_t *rx;
    prokio_wait_t wait;
    int polls, n, max_per_poll, again;
};

static int wcoop_poll(void *frame, prokio_cx_t *cx)
{
    struct wcoop *f = frame;
    f->polls++;
    int here = 0;
    while (f->n < 1000) {
        uint64_t v = (uint64_t)f->n + 2;
        if (!prokio_wait_is_pending(&f->wait) && prokio_watch_send(f->tx, &v) < 0)
            return -1;
        int rc = prokio_watch_changed_poll(&f->wait, f->rx, cx);
        if (rc == PROKIO_PENDING)
            break;
        if (rc != 0)
            return rc;
        here++;
        f->n++;
    }
    if (here > f->max_per_poll)
        f->max_per_poll = here;
    if (f->n < 1000)
        return PROKIO_PENDING;
    /* Everything was seen: another changed waits. */
    f->again = prokio_watch_changed_poll(&f->wait, f->rx, cx);
    prokio_wait_cancel(&f->wait);
    return 0;
}

void test_watch_coop(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(1);
    prokio_watch_tx_t *tx;
    prokio_watch_rx_t *rx;
    uint64_t v = 0;
    assert_int_equal(prokio_watch_new(&tx, &rx, sizeof v, &v, NULL, 0), 0);
    v = 1;
    assert_int_equal(prokio_watch_send(tx, &v), 0);
    struct wcoop c = {.tx = tx, .rx = rx};
    assert_int_equal(conf_run_on(rt, 0, wcoop_poll, &c, sizeof c, NULL), 0);
    assert_int_equal(c.n, 1000);
    assert_int_equal(c.again, PROKIO_PENDING);
    assert_true(c.max_per_poll <= 128);
    assert_true(c.polls >= 1000 / 128);
    prokio_watch_rx_release(rx);
    prokio_watch_tx_release(tx);
    test_runtime_free(rt);
}
