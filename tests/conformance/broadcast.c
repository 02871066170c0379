/* tests/conformance/broadcast.c: the broadcast channel: every receiver
 * sees every value in order, across workers and threads; lag is reported
 * with the exact count; values are dropped exactly once; waits are
 * cancel-safe; PROKIO_LOCAL; the coop budget. */
#include "conformance.h"

/* Drop function of the channels here: counts. */
static atomic_int bc_drops;
static void count_drop(void *value)
{
    (void)value;
    atomic_fetch_add(&bc_drops, 1);
}

/* A receiver task: receives uint64 values until PROKIO_EPIPE (or `stop`
 * values), checking that each is the one after the last (lags skip ahead
 * by exactly the count they report). */
struct brecv {
    struct track tr;
    prokio_broadcast_rx_t *rx;
    prokio_wait_t wait;
    struct conf_timeout to;
    atomic_int *parked; /* incremented at each pending return, or NULL */
    uint64_t next, got, lags, missed, stop;
    int rc, bad_order, pendings;
};

static int brecv_poll(void *frame, prokio_cx_t *cx)
{
    struct brecv *f = frame;
    track_poll(&f->tr);
    for (;;) {
        uint64_t v = 0, m = 0;
        int rc = prokio_broadcast_recv_poll(&f->wait, f->rx, &v, &m, cx);
        if (rc == PROKIO_PENDING) {
            if (conf_timed_out(&f->to, cx)) {
                prokio_wait_cancel(&f->wait);
                f->rc = PROKIO_ETIMEDOUT;
                break;
            }
            f->pendings++;
            if (f->parked)
                atomic_fetch_add(f->parked, 1);
            return PROKIO_PENDING;
        }
        if (rc == 0) {
            if (v != f->next)
                f->bad_order++;
            f->next = v + 1;
            if (++f->got == f->stop) {
                f->rc = 0;
                break;
            }
        } else if (rc == PROKIO_ELAGGED) {
            f->lags++;
            f->missed += m;
            f->next += m;
        } else {
            f->rc = rc;
            break;
        }
    }
    conf_timeout_cancel(&f->to);
    prokio_broadcast_rx_release(f->rx);
    f->rx = NULL;
    return 0;
}

static void brecv_drop(void *frame)
{
    struct brecv *f = frame;
    prokio_broadcast_rx_release(f->rx);
    track_dropped(&f->tr);
}

void test_bcast_every_receiver(void **state)
{
    (void)state;
    enum { RX = 6, N = 2000 };
    prokio_runtime_t *rt = test_runtime(conf_workers(3));
    struct drops d = {0};
    atomic_store(&bc_drops, 0);
    prokio_broadcast_tx_t *tx;
    prokio_broadcast_rx_t *rx0;
    assert_int_equal(prokio_broadcast_new(&tx, &rx0, sizeof(uint64_t), N, count_drop, 0), 0);
    struct brecv r[RX];
    prokio_task_t *h[RX];
    atomic_int parked = 0;
    for (int i = 0; i < RX; i++) {
        r[i] = (struct brecv){.tr.d = &d, .parked = &parked};
        if (i == 0)
            r[i].rx = rx0;
        else
            assert_int_equal(prokio_broadcast_subscribe(&r[i].rx, tx), 0);
        assert_int_equal(prokio_spawn_on(&h[i], rt, conf_worker(rt, (unsigned)i), brecv_poll, &r[i],
                                         sizeof r[i], brecv_drop),
                         0);
    }
    CONF_WAIT_FLAG(&parked, RX); /* all of them wait first */
    for (uint64_t v = 0; v < N; v++)
        assert_int_equal(prokio_broadcast_send(tx, &v), RX);
    prokio_broadcast_tx_release(tx);
    for (int i = 0; i < RX; i++) {
        assert_int_equal(conf_join(h[i], &r[i], sizeof r[i]), 0);
        assert_int_equal(r[i].rc, PROKIO_EPIPE);
        assert_int_equal(r[i].got, N);
        assert_int_equal(r[i].lags, 0);
        assert_int_equal(r[i].bad_order, 0);
    }
    /* Every value was held (capacity N) until the last receiver went. */
    assert_int_equal(atomic_load(&bc_drops), N);
    test_runtime_free(rt);
    assert_int_equal(atomic_load(&d.n), RX);
    assert_int_equal(atomic_load(&d.wrong_thread), 0);
}

/* Senders on every worker and a plain thread at once: each receiver sees
 * each sender's values in that sender's order, and all of them. */
struct bsend {
    prokio_broadcast_tx_t *tx;
    uint64_t base, n;
    int bad;
};

static int bsend_poll(void *frame, prokio_cx_t *cx)
{
    (void)cx;
    struct bsend *f = frame;
    for (uint64_t i = 0; i < f->n; i++) {
        uint64_t v = f->base + i;
        if (prokio_broadcast_send(f->tx, &v) < 1)
            f->bad++;
    }
    prokio_broadcast_tx_release(f->tx);
    f->tx = NULL;
    return 0;
}

static void *bsend_thread(void *arg)
{
    bsend_poll(arg, NULL);
    return NULL;
}

struct bmulti {
    prokio_broadcast_rx_t *rx;
    prokio_wait_t wait;
    struct conf_timeout to;
    uint64_t next[4], got;
    int rc, bad;
};

static int bmulti_poll(void *frame, prokio_cx_t *cx)
{
    struct bmulti *f = frame;
    for (;;) {
        uint64_t v;
        int rc = prokio_broadcast_recv_poll(&f->wait, f->rx, &v, NULL, cx);
        if (rc == PROKIO_PENDING) {
            if (!conf_timed_out(&f->to, cx))
                return PROKIO_PENDING;
            prokio_wait_cancel(&f->wait);
            rc = PROKIO_ETIMEDOUT;
        }
        if (rc != 0) {
            f->rc = rc;
            conf_timeout_cancel(&f->to);
            prokio_broadcast_rx_release(f->rx);
            f->rx = NULL;
            return 0;
        }
        unsigned s = (unsigned)(v >> 32);
        if (s >= 4 || (v & 0xffffffffu) != f->next[s])
            f->bad++;
        else
            f->next[s]++;
        f->got++;
    }
}

static void bmulti_drop(void *frame)
{
    prokio_broadcast_rx_release(((struct bmulti *)frame)->rx);
}

void test_bcast_many_senders(void **state)
{
    (void)state;
    enum { N = 3000, RX = 3 };
    prokio_runtime_t *rt = test_runtime(3);
    prokio_broadcast_tx_t *tx;
    prokio_broadcast_rx_t *rx0;
    atomic_store(&bc_drops, 0);
    assert_int_equal(prokio_broadcast_new(&tx, &rx0, sizeof(uint64_t), 4 * N, count_drop, 0), 0);
    struct bmulti r[RX];
    prokio_task_t *hr[RX];
    for (int i = 0; i < RX; i++) {
        r[i] = (struct bmulti){.rx = rx0};
        if (i)
            assert_int_equal(prokio_broadcast_subscribe(&r[i].rx, tx), 0);
        assert_int_equal(
            prokio_spawn_on(&hr[i], rt, (unsigned)i, bmulti_poll, &r[i], sizeof r[i], bmulti_drop),
            0);
    }
    struct bsend s[4];
    prokio_task_t *hs[3];
    for (int i = 0; i < 4; i++)
        s[i] =
            (struct bsend){.tx = prokio_broadcast_tx_clone(tx), .base = (uint64_t)i << 32, .n = N};
    prokio_broadcast_tx_release(tx);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, bsend_thread, &s[3]), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(
            prokio_spawn_on(&hs[i], rt, (unsigned)i, bsend_poll, &s[i], sizeof s[i], NULL), 0);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(conf_join(hs[i], &s[i], sizeof s[i]), 0);
        assert_int_equal(s[i].bad, 0);
    }
    pthread_join(th, NULL);
    assert_int_equal(s[3].bad, 0);
    for (int i = 0; i < RX; i++) {
        assert_int_equal(conf_join(hr[i], &r[i], sizeof r[i]), 0);
        assert_int_equal(r[i].rc, PROKIO_EPIPE);
        assert_int_equal(r[i].bad, 0);
        assert_int_equal(r[i].got, 4 * N);
    }
    assert_int_equal(atomic_load(&bc_drops), 4 * N);
    test_runtime_free(rt);
}

/* Lag, mid-stream subscription and drops, on the calling thread. */
void test_bcast_lag_and_drops(void **state)
{
    (void)state;
    atomic_store(&bc_drops, 0);
    prokio_broadcast_tx_t *tx;
    prokio_broadcast_rx_t *a, *b, *c;
    assert_int_equal(prokio_broadcast_new(&tx, &a, sizeof(uint64_t), 4, count_drop, 0), 0);
    uint64_t v, m = 0;
    assert_int_equal(prokio_broadcast_try_recv(a, &v, &m), PROKIO_EAGAIN);
    for (v = 0; v < 3; v++)
        assert_int_equal(prokio_broadcast_send(tx, &v), 1);
    /* b subscribes mid-stream: it sees only what comes after. */
    assert_int_equal(prokio_broadcast_subscribe(&b, tx), 0);
    for (v = 3; v < 10; v++)
        assert_int_equal(prokio_broadcast_send(tx, &v), 2);
    /* 10 sent, capacity 4: 0..5 overwritten and dropped. */
    assert_int_equal(atomic_load(&bc_drops), 6);
    assert_int_equal(prokio_broadcast_try_recv(a, &v, &m), PROKIO_ELAGGED);
    assert_int_equal(m, 6);
    assert_non_null(strstr(prokio_last_error(), "missed 6"));
    for (uint64_t want = 6; want < 10; want++) {
        assert_int_equal(prokio_broadcast_try_recv(a, &v, &m), 0);
        assert_int_equal(v, want);
    }
    assert_int_equal(prokio_broadcast_try_recv(a, &v, &m), PROKIO_EAGAIN);
    /* b subscribed at 3: 3, 4, 5 were overwritten before it read them. */
    assert_int_equal(prokio_broadcast_try_recv(b, &v, &m), PROKIO_ELAGGED);
    assert_int_equal(m, 3);
    assert_int_equal(prokio_broadcast_try_recv(b, &v, NULL), 0);
    assert_int_equal(v, 6);
    /* A resubscribed receiver sees nothing held. */
    assert_int_equal(prokio_broadcast_resubscribe(&c, b), 0);
    assert_int_equal(prokio_broadcast_try_recv(c, &v, &m), PROKIO_EAGAIN);
    v = 10;
    assert_int_equal(prokio_broadcast_send(tx, &v), 3);
    assert_int_equal(atomic_load(&bc_drops), 7);
    assert_int_equal(prokio_broadcast_try_recv(c, &v, &m), 0);
    assert_int_equal(v, 10);
    /* Releasing receivers while others remain drops nothing. */
    prokio_broadcast_rx_release(a);
    prokio_broadcast_rx_release(c);
    assert_int_equal(atomic_load(&bc_drops), 7);
    /* The senders go: b reads what is held, then PROKIO_EPIPE. */
    prokio_broadcast_tx_release(tx);
    for (uint64_t want = 7; want <= 10; want++) {
        assert_int_equal(prokio_broadcast_try_recv(b, &v, &m), 0);
        assert_int_equal(v, want);
    }
    assert_int_equal(prokio_broadcast_try_recv(b, &v, &m), PROKIO_EPIPE);
    assert_int_equal(atomic_load(&bc_drops), 7);
    prokio_broadcast_rx_release(b); /* the 4 held values go with the channel */
    assert_int_equal(atomic_load(&bc_drops), 11);

    /* No receiver: the send fails, the value is not copied nor dropped;
     * the held values were dropped when the last receiver went. */
    assert_int_equal(prokio_broadcast_new(&tx, &a, sizeof(uint64_t), 2, count_drop, 0), 0);
    v = 1;
    assert_int_equal(prokio_broadcast_send(tx, &v), 1);
    prokio_broadcast_rx_release(a);
    assert_int_equal(atomic_load(&bc_drops), 12);
    assert_int_equal(prokio_broadcast_send(tx, &v), PROKIO_EPIPE);
    assert_int_equal(atomic_load(&bc_drops), 12);
    assert_int_equal(prokio_broadcast_subscribe(&a, tx), 0);
    assert_int_equal(prokio_broadcast_send(tx, &v), 1);
    prokio_broadcast_tx_release(tx);
    assert_int_equal(atomic_load(&bc_drops), 12);
    prokio_broadcast_rx_release(a);
    assert_int_equal(atomic_load(&bc_drops), 13);

    /* Invalid arguments. */
    assert_int_equal(prokio_broadcast_new(&tx, &a, 8, 0, NULL, 0), PROKIO_EINVAL);
    assert_null(tx);
    assert_int_equal(prokio_broadcast_new(&tx, &a, 8, 4, NULL, 0x10), PROKIO_EINVAL);
    assert_int_equal(prokio_broadcast_new(&tx, &a, 8, SIZE_MAX / 4, NULL, 0), PROKIO_EINVAL);
    /* Zero-sized values: bare signals. */
    assert_int_equal(prokio_broadcast_new(&tx, &a, 0, 1, NULL, 0), 0);
    assert_int_equal(prokio_broadcast_send(tx, NULL), 1);
    assert_int_equal(prokio_broadcast_send(tx, NULL), 1);
    assert_int_equal(prokio_broadcast_try_recv(a, NULL, &m), PROKIO_ELAGGED);
    assert_int_equal(m, 1);
    assert_int_equal(prokio_broadcast_try_recv(a, NULL, NULL), 0);
    prokio_broadcast_rx_release(a);
    prokio_broadcast_tx_release(tx);
}

/* A lagging receiver task: it learns the count once, then continues. */
void test_bcast_lag_task(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(conf_workers(2));
    prokio_broadcast_tx_t *tx;
    prokio_broadcast_rx_t *rx;
    atomic_store(&bc_drops, 0);
    assert_int_equal(prokio_broadcast_new(&tx, &rx, sizeof(uint64_t), 8, count_drop, 0), 0);
    for (uint64_t v = 0; v < 100; v++)
        assert_int_equal(prokio_broadcast_send(tx, &v), 1);
    prokio_broadcast_tx_release(tx);
    struct brecv r = {.rx = rx};
    assert_int_equal(conf_run_on(rt, conf_worker(rt, 1), brecv_poll, &r, sizeof r, brecv_drop), 0);
    assert_int_equal(r.rc, PROKIO_EPIPE);
    assert_int_equal(r.lags, 1);
    assert_int_equal(r.missed, 92);
    assert_int_equal(r.got, 8);
    assert_int_equal(r.next, 100);
    assert_int_equal(r.bad_order, 0);
    assert_int_equal(atomic_load(&bc_drops), 100);
    test_runtime_free(rt);
}

/* PROKIO_LOCAL: tasks of one worker share it; other workers and threads
 * get PROKIO_EXDEV. */
struct blocal {
    prokio_runtime_t *rt;
    int new_rc, exdev, recv_rc, sends, got;
    prokio_broadcast_tx_t *tx;
    prokio_broadcast_rx_t *rx;
};

static int bexdev_poll(void *frame, prokio_cx_t *cx)
{
    struct blocal *f = frame;
    uint64_t v = 1;
    prokio_wait_t w = {{{0}}};
    f->exdev = prokio_broadcast_send(f->tx, &v);
    f->recv_rc = prokio_broadcast_recv_poll(&w, f->rx, &v, NULL, cx);
    return 0;
}

static int blocal_poll(void *frame, prokio_cx_t *cx)
{
    struct blocal *f = frame;
    (void)cx;
    f->new_rc = prokio_broadcast_new(&f->tx, &f->rx, sizeof(uint64_t), 4, NULL, PROKIO_LOCAL);
    if (f->new_rc < 0)
        return 0;
    prokio_broadcast_rx_t *r2;
    if (prokio_broadcast_subscribe(&r2, f->tx) == 0) {
        uint64_t v = 7;
        f->sends = prokio_broadcast_send(f->tx, &v);
        if (prokio_broadcast_try_recv(r2, &v, NULL) == 0 && v == 7)
            f->got++;
        prokio_broadcast_rx_release(r2);
    }
    return 0;
}

static int brelease_poll(void *frame, prokio_cx_t *cx)
{
    (void)cx;
    struct blocal *f = frame;
    prokio_broadcast_rx_release(f->rx);
    prokio_broadcast_tx_release(f->tx);
    return 0;
}

void test_bcast_local(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(conf_workers(2));
    struct blocal f = {.rt = rt};
    assert_int_equal(conf_run_on(rt, 0, blocal_poll, &f, sizeof f, NULL), 0);
    assert_int_equal(f.new_rc, 0);
    assert_int_equal(f.sends, 2);
    assert_int_equal(f.got, 1);
    /* From worker 1 (where there is one) and from this thread: refused,
     * nothing changed. */
    if (prokio_runtime_workers(rt) > 1) {
        assert_int_equal(conf_run_on(rt, 1, bexdev_poll, &f, sizeof f, NULL), 0);
        assert_int_equal(f.exdev, PROKIO_EXDEV);
        assert_int_equal(f.recv_rc, PROKIO_EXDEV);
    }
    uint64_t v;
    assert_int_equal(prokio_broadcast_try_recv(f.rx, &v, NULL), PROKIO_EXDEV);
    assert_non_null(strstr(prokio_last_error(), "PROKIO_LOCAL"));
    /* Back on worker 0: the value is still there for rx. */
    assert_int_equal(conf_run_on(rt, 0, bexdev_poll, &f, sizeof f, NULL), 0);
    assert_int_equal(f.exdev, 1);
    assert_int_equal(f.recv_rc, 0);
    /* Releasing off the owner is refused too (it would race the owner). */
    struct blocal g = f;
    assert_int_equal(prokio_broadcast_new(&g.tx, &g.rx, 8, 1, NULL, PROKIO_LOCAL), PROKIO_EINVAL);
    assert_int_equal(conf_run_on(rt, 0, brelease_poll, &f, sizeof f, NULL), 0);
    test_runtime_free(rt);
}

/* Blocking receives from a plain thread; EDEADLK on a worker. */
struct bthread {
    prokio_broadcast_rx_t *rx;
    atomic_int started;
    uint64_t got, sum;
    int rc;
};

static void *bthread_main(void *arg)
{
    struct bthread *t = arg;
    atomic_store(&t->started, 1);
    for (;;) {
        uint64_t v;
        int rc = prokio_broadcast_blocking_recv(t->rx, &v, NULL);
        if (rc != 0) {
            t->rc = rc;
            break;
        }
        t->got++;
        t->sum += v;
    }
    prokio_broadcast_rx_release(t->rx);
    return NULL;
}

static int bdeadlk_poll(void *frame, prokio_cx_t *cx)
{
    (void)cx;
    struct blocal *f = frame;
    uint64_t v;
    f->recv_rc = prokio_broadcast_blocking_recv(f->rx, &v, NULL);
    return 0;
}

void test_bcast_blocking(void **state)
{
    (void)state;
    enum { N = 500 };
    prokio_runtime_t *rt = test_runtime(2);
    prokio_broadcast_tx_t *tx;
    prokio_broadcast_rx_t *rx;
    assert_int_equal(prokio_broadcast_new(&tx, &rx, sizeof(uint64_t), N, NULL, 0), 0);
    struct blocal f = {.rx = rx};
    assert_int_equal(conf_run_on(rt, 0, bdeadlk_poll, &f, sizeof f, NULL), 0);
    assert_int_equal(f.recv_rc, PROKIO_EDEADLK);
    struct bthread t = {.rx = rx};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, bthread_main, &t), 0);
    CONF_WAIT_FLAG(&t.started, 1);
    struct bsend s = {.tx = tx, .n = N};
    assert_int_equal(conf_run_on(rt, 1, bsend_poll, &s, sizeof s, NULL), 0);
    assert_int_equal(s.bad, 0);
    pthread_join(th, NULL);
    assert_int_equal(t.rc, PROKIO_EPIPE);
    assert_int_equal(t.got, N);
    assert_int_equal(t.sum, (uint64_t)N * (N - 1) / 2);
    test_runtime_free(rt);
}

/* Aborting a waiting receiver: it leaves the queue, its drop releases rx,
 * and sends go on to the other receivers without it. */
void test_bcast_abort_waiting(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(conf_workers(2));
    struct drops d = {0};
    prokio_broadcast_tx_t *tx;
    prokio_broadcast_rx_t *rx;
    atomic_store(&bc_drops, 0);
    assert_int_equal(prokio_broadcast_new(&tx, &rx, sizeof(uint64_t), 4, count_drop, 0), 0);
    for (int k = 0; k < 20; k++) {
        atomic_int parked = 0;
        struct brecv r = {.tr.d = &d, .parked = &parked};
        assert_int_equal(prokio_broadcast_subscribe(&r.rx, tx), 0);
        prokio_task_t *h;
        assert_int_equal(prokio_spawn_on(&h, rt, conf_worker(rt, (unsigned)k), brecv_poll, &r,
                                         sizeof r, brecv_drop),
                         0);
        CONF_WAIT_FLAG(&parked, 1);
        prokio_task_abort(h);
        assert_int_equal(conf_join(h, NULL, 0), PROKIO_ECANCELED);
        uint64_t v = (uint64_t)k;
        assert_int_equal(prokio_broadcast_send(tx, &v), 1); /* only rx is left */
    }
    uint64_t v, m;
    assert_int_equal(prokio_broadcast_try_recv(rx, &v, &m), PROKIO_ELAGGED);
    assert_int_equal(m, 16);
    prokio_broadcast_rx_release(rx);
    prokio_broadcast_tx_release(tx);
    assert_int_equal(atomic_load(&bc_drops), 20);
    test_runtime_free(rt);
    assert_int_equal(atomic_load(&d.n), 20);
}

/* prokio_wait_cancel of a queued and of a granted receive: nothing is
 * lost, the next receive returns the value. */
struct bcancel {
    prokio_broadcast_rx_t *rx;
    prokio_wait_t wait;
    struct conf_timeout to;
    atomic_int *parked;
    int phase, pending_before, pending_after, rc;
    uint64_t v;
};

static int bcancel_poll(void *frame, prokio_cx_t *cx)
{
    struct bcancel *f = frame;
    if (f->phase == 0) {
        /* Queue, cancel while queued, queue again. */
        int rc = prokio_broadcast_recv_poll(&f->wait, f->rx, &f->v, NULL, cx);
        if (rc != PROKIO_PENDING) {
            f->rc = 100 + rc;
            return 0;
        }
        prokio_wait_cancel(&f->wait);
        if (prokio_wait_is_pending(&f->wait)) {
            f->rc = 200;
            return 0;
        }
        rc = prokio_broadcast_recv_poll(&f->wait, f->rx, &f->v, NULL, cx);
        f->phase = 1;
        atomic_store(f->parked, 1);
        return PROKIO_PENDING;
    }
    if (f->phase == 1 && prokio_wait_is_pending(&f->wait)) {
        /* Woken: the wait was granted. Abandon it, as a select would. */
        f->pending_before = 1;
        prokio_wait_cancel(&f->wait);
        f->pending_after = prokio_wait_is_pending(&f->wait);
    }
    f->phase = 2;
    int rc = prokio_broadcast_recv_poll(&f->wait, f->rx, &f->v, NULL, cx);
    if (rc == PROKIO_PENDING) {
        if (!conf_timed_out(&f->to, cx))
            return PROKIO_PENDING;
        prokio_wait_cancel(&f->wait);
        rc = PROKIO_ETIMEDOUT;
    }
    conf_timeout_cancel(&f->to);
    f->rc = rc;
    return 0;
}

void test_bcast_wait_cancel(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(conf_workers(2));
    prokio_broadcast_tx_t *tx;
    prokio_broadcast_rx_t *rx;
    assert_int_equal(prokio_broadcast_new(&tx, &rx, sizeof(uint64_t), 4, NULL, 0), 0);
    for (int k = 0; k < 10; k++) {
        atomic_int parked = 0;
        struct bcancel c = {.rx = rx, .parked = &parked};
        prokio_task_t *h;
        assert_int_equal(
            prokio_spawn_on(&h, rt, conf_worker(rt, (unsigned)k), bcancel_poll, &c, sizeof c, NULL),
            0);
        CONF_WAIT_FLAG(&parked, 1);
        uint64_t v = 1000 + (uint64_t)k;
        assert_int_equal(prokio_broadcast_send(tx, &v), 1);
        assert_int_equal(conf_join(h, &c, sizeof c), 0);
        assert_int_equal(c.rc, 0);
        assert_int_equal(c.v, v);
        assert_int_equal(c.pending_before, 1);
        assert_int_equal(c.pending_after, 0);
    }
    prokio_broadcast_rx_release(rx);
    prokio_broadcast_tx_release(tx);
    test_runtime_free(rt);
}

/* The coop budget: a task that always finds a value yields after at most
 * 128 receives. */
struct bcoop {
    prokio_broadcast_rx_t *rx;
    prokio_wait_t wait;
    int polls, got, max_per_poll, rc;
};

static int bcoop_poll(void *frame, prokio_cx_t *cx)
{
    struct bcoop *f = frame;
    f->polls++;
    int n = 0;
    for (;;) {
        uint64_t v;
        int rc = prokio_broadcast_recv_poll(&f->wait, f->rx, &v, NULL, cx);
        if (rc == PROKIO_PENDING) {
            if (n > f->max_per_poll)
                f->max_per_poll = n;
            return PROKIO_PENDING;
        }
        if (rc != 0) {
            f->rc = rc;
            return 0;
        }
        n++;
        f->got++;
    }
}

void test_bcast_coop(void **state)
{
    (void)state;
    enum { N = 1000 };
    prokio_runtime_t *rt = test_runtime(1);
    prokio_broadcast_tx_t *tx;
    prokio_broadcast_rx_t *rx;
    assert_int_equal(prokio_broadcast_new(&tx, &rx, sizeof(uint64_t), N, NULL, 0), 0);
    for (uint64_t v = 0; v < N; v++)
        assert_int_equal(prokio_broadcast_send(tx, &v), 1);
    prokio_broadcast_tx_release(tx);
    struct bcoop c = {.rx = rx};
    assert_int_equal(conf_run_on(rt, 0, bcoop_poll, &c, sizeof c, NULL), 0);
    assert_int_equal(c.rc, PROKIO_EPIPE);
    assert_int_equal(c.got, N);
    assert_true(c.max_per_poll <= 128);
    assert_true(c.polls >= N / 128);
    prokio_broadcast_rx_release(rx);
    test_runtime_free(rt);
}
