/* tests/conformance/mpsc.c: the mpsc channel, bounded and unbounded, across
 * workers and threads, with permits, closing from each end, aborts and
 * cancels of waiting senders, exact value accounting and the coop budget. */
#include "conformance.h"

/* A value: producer id in the high half, sequence number in the low. */
#define VAL(p, i) (((uint64_t)(p) << 32) | (uint64_t)(i))

static atomic_int dropped; /* value_drop calls */
static void count_drop(void *v)
{
    (void)v;
    atomic_fetch_add(&dropped, 1);
}

/* ----------------------------------------------------------- producers */

/* Sends n values VAL(id, 0..n-1) with send_poll, then releases tx. */
struct producer {
    prokio_mpsc_tx_t *tx;
    prokio_wait_t wait;
    struct conf_timeout to;
    unsigned id, n, i;
    uint64_t v;
    int rc, pendings;
};

static int producer_poll(void *frame, prokio_cx_t *cx)
{
    struct producer *f = frame;
    while (f->i < f->n) {
        f->v = VAL(f->id, f->i);
        int rc = prokio_mpsc_send_poll(&f->wait, f->tx, &f->v, cx);
        if (rc == PROKIO_PENDING) {
            f->pendings++;
            if (conf_timed_out(&f->to, cx)) {
                f->rc = PROKIO_ETIMEDOUT;
                break;
            }
            return PROKIO_PENDING;
        }
        if (rc < 0) {
            f->rc = rc;
            break;
        }
        f->i++;
    }
    conf_timeout_cancel(&f->to);
    prokio_mpsc_tx_release(f->tx);
    f->tx = NULL;
    return 0;
}

static void producer_drop(void *frame)
{
    struct producer *f = frame;
    prokio_mpsc_tx_release(f->tx);
}

/* Receives until PROKIO_EPIPE (one at a time, or `many` at once), checking
 * each producer's order. */
#define MAXP 8
struct consumer {
    prokio_mpsc_rx_t *rx;
    struct conf_timeout to;
    unsigned many;
    unsigned next[MAXP];
    unsigned got, bad, most;
    int rc;
    uint64_t buf[16];
};

static int consumer_poll(void *frame, prokio_cx_t *cx)
{
    struct consumer *f = frame;
    for (;;) {
        int rc = f->many ? prokio_mpsc_recv_many_poll(f->rx, f->buf, f->many, cx)
                         : prokio_mpsc_recv_poll(f->rx, f->buf, cx);
        if (rc == PROKIO_PENDING) {
            if (conf_timed_out(&f->to, cx)) {
                f->rc = PROKIO_ETIMEDOUT;
                break;
            }
            return PROKIO_PENDING;
        }
        if (rc < 0) {
            f->rc = rc;
            break;
        }
        unsigned n = f->many ? (unsigned)rc : 1;
        if (n > f->most)
            f->most = n;
        for (unsigned k = 0; k < n; k++) {
            unsigned p = (unsigned)(f->buf[k] >> 32), i = (unsigned)f->buf[k];
            if (p >= MAXP || f->next[p] != i)
                f->bad++;
            else
                f->next[p]++;
            f->got++;
        }
    }
    conf_timeout_cancel(&f->to);
    return 0;
}

static void run_producers(prokio_runtime_t *rt, size_t cap, unsigned np, unsigned n, unsigned many,
                          unsigned flags_unused)
{
    (void)flags_unused;
    prokio_mpsc_tx_t *tx;
    prokio_mpsc_rx_t *rx;
    assert_int_equal(prokio_mpsc_new(&tx, &rx, sizeof(uint64_t), cap, NULL, 0), 0);
    assert_int_equal(prokio_mpsc_tx_capacity(tx), cap);
    prokio_task_t *hp[MAXP], *hc;
    struct consumer c = {.rx = rx, .many = many};
    assert_int_equal(prokio_spawn_on(&hc, rt, 0, consumer_poll, &c, sizeof c, NULL), 0);
    for (unsigned p = 0; p < np; p++) {
        struct producer f = {.tx = p + 1 < np ? prokio_mpsc_tx_clone(tx) : tx, .id = p, .n = n};
        assert_non_null(f.tx);
        assert_int_equal(prokio_spawn_on(&hp[p], rt, (p + 1) % prokio_runtime_workers(rt),
                                         producer_poll, &f, sizeof f, producer_drop),
                         0);
    }
    for (unsigned p = 0; p < np; p++) {
        struct producer f;
        assert_int_equal(conf_join(hp[p], &f, sizeof f), 0);
        assert_int_equal(f.rc, 0);
        assert_int_equal(f.i, n);
    }
    assert_int_equal(conf_join(hc, &c, sizeof c), 0);
    assert_int_equal(c.rc, PROKIO_EPIPE);
    assert_int_equal(c.bad, 0);
    assert_int_equal(c.got, np * n);
    for (unsigned p = 0; p < np; p++)
        assert_int_equal(c.next[p], n);
    if (many)
        assert_true(c.most <= many);
    prokio_mpsc_rx_release(rx);
}

void test_mpsc_cross_worker(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(conf_workers(2));
    for (size_t cap = 1; cap <= 9; cap += 4)
        run_producers(rt, cap, 3, 2000, 0, 0);
    run_producers(rt, 0, 4, 2000, 0, 0); /* unbounded */
    run_producers(rt, 1, 1, 5000, 0, 0);
    test_runtime_free(rt);
}

void test_mpsc_recv_many(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(conf_workers(2));
    run_producers(rt, 16, 3, 3000, 16, 0);
    run_producers(rt, 0, 2, 3000, 7, 0);

    /* On one thread: 10 values, taken 4 + 4 + 2, in order, across the ring's
     * wrap. */
    prokio_mpsc_tx_t *tx;
    prokio_mpsc_rx_t *rx;
    assert_int_equal(prokio_mpsc_new(&tx, &rx, sizeof(uint64_t), 0, NULL, 0), 0);
    for (uint64_t i = 0; i < 10; i++)
        assert_int_equal(prokio_mpsc_try_send(tx, &i), 0);
    prokio_mpsc_tx_release(tx);
    struct consumer c = {.rx = rx, .many = 4};
    assert_int_equal(conf_run_on(rt, 0, consumer_poll, &c, sizeof c, NULL), 0);
    assert_int_equal(c.got, 10);
    assert_int_equal(c.most, 4);
    assert_int_equal(c.bad, 0);
    assert_int_equal(c.rc, PROKIO_EPIPE);
    prokio_mpsc_rx_release(rx);
    test_runtime_free(rt);
}

/* ------------------------------------------------------------ try_ calls */

void test_mpsc_try(void **state)
{
    (void)state;
    for (size_t cap = 1; cap <= 5; cap++) {
        prokio_mpsc_tx_t *tx;
        prokio_mpsc_rx_t *rx;
        assert_int_equal(prokio_mpsc_new(&tx, &rx, sizeof(int), cap, NULL, 0), 0);
        int v, out = -1;
        assert_int_equal(prokio_mpsc_try_recv(rx, &out), PROKIO_EAGAIN);
        for (int round = 0; round < 3; round++) { /* the ring wraps */
            for (size_t i = 0; i < cap; i++) {
                v = (int)(round * 100 + i);
                assert_int_equal(prokio_mpsc_try_send(tx, &v), 0);
            }
            v = -5;
            assert_int_equal(prokio_mpsc_try_send(tx, &v), PROKIO_EAGAIN);
            assert_non_null(strstr(prokio_last_error(), "prokio_mpsc_try_send"));
            assert_int_equal(prokio_mpsc_rx_len(rx), cap);
            for (size_t i = 0; i < cap; i++) {
                assert_int_equal(prokio_mpsc_try_recv(rx, &out), 0);
                assert_int_equal(out, (int)(round * 100 + i));
            }
            assert_int_equal(prokio_mpsc_try_recv(rx, &out), PROKIO_EAGAIN);
        }
        prokio_mpsc_tx_release(tx);
        assert_int_equal(prokio_mpsc_try_recv(rx, &out), PROKIO_EPIPE);
        prokio_mpsc_rx_release(rx);
    }
}

void test_mpsc_unbounded(void **state)
{
    (void)state;
    enum { N = 100000 };
    prokio_mpsc_tx_t *tx;
    prokio_mpsc_rx_t *rx;
    assert_int_equal(prokio_mpsc_new(&tx, &rx, sizeof(uint64_t), 0, NULL, 0), 0);
    assert_int_equal(prokio_mpsc_tx_capacity(tx), 0);
    uint64_t out = 0;
    /* Grow while the ring is wrapped: half in, a third out, all in. */
    for (uint64_t i = 0; i < 30; i++)
        assert_int_equal(prokio_mpsc_try_send(tx, &i), 0);
    for (uint64_t i = 0; i < 20; i++) {
        assert_int_equal(prokio_mpsc_try_recv(rx, &out), 0);
        assert_int_equal(out, i);
    }
    for (uint64_t i = 30; i < N; i++)
        assert_int_equal(prokio_mpsc_try_send(tx, &i), 0);
    assert_int_equal(prokio_mpsc_rx_len(rx), N - 20);
    for (uint64_t i = 20; i < N; i++) {
        assert_int_equal(prokio_mpsc_try_recv(rx, &out), 0);
        assert_int_equal(out, i);
    }
    prokio_mpsc_tx_release(tx);
    assert_int_equal(prokio_mpsc_try_recv(rx, &out), PROKIO_EPIPE);
    prokio_mpsc_rx_release(rx);
}

/* --------------------------------------------------------- drop counting */

void test_mpsc_drops(void **state)
{
    (void)state;
    prokio_mpsc_tx_t *tx;
    prokio_mpsc_rx_t *rx;
    atomic_store(&dropped, 0);
    /* Released with values buffered: each dropped once, at the release. */
    assert_int_equal(prokio_mpsc_new(&tx, &rx, sizeof(int), 8, count_drop, 0), 0);
    for (int i = 0; i < 8; i++)
        assert_int_equal(prokio_mpsc_try_send(tx, &i), 0);
    int v = 9, out;
    assert_int_equal(prokio_mpsc_try_send(tx, &v), PROKIO_EAGAIN); /* failed: never dropped */
    assert_int_equal(prokio_mpsc_try_recv(rx, &out), 0);           /* received: never dropped */
    assert_int_equal(atomic_load(&dropped), 0);
    prokio_mpsc_rx_release(rx);
    assert_int_equal(atomic_load(&dropped), 7);
    assert_true(prokio_mpsc_tx_is_closed(tx));
    assert_int_equal(prokio_mpsc_try_send(tx, &v), PROKIO_EPIPE); /* failed: never dropped */
    prokio_mpsc_tx_release(tx);
    assert_int_equal(atomic_load(&dropped), 7);

    /* Senders gone first: nothing dropped until the receiver goes. */
    atomic_store(&dropped, 0);
    assert_int_equal(prokio_mpsc_new(&tx, &rx, sizeof(int), 0, count_drop, 0), 0);
    for (int i = 0; i < 40; i++)
        assert_int_equal(prokio_mpsc_try_send(tx, &i), 0);
    prokio_mpsc_tx_release(tx);
    assert_int_equal(prokio_mpsc_try_recv(rx, &out), 0);
    assert_int_equal(atomic_load(&dropped), 0);
    prokio_mpsc_rx_release(rx);
    assert_int_equal(atomic_load(&dropped), 39);
}

/* ------------------------------------------------------------- closing */

/* Sends one value, recording when it first waits. */
struct one_send {
    prokio_mpsc_tx_t *tx;
    prokio_wait_t wait;
    struct conf_timeout to;
    atomic_int *pending;
    int v, rc, polls;
    bool reserve; /* reserve, then permit_send */
};

static int one_send_poll(void *frame, prokio_cx_t *cx)
{
    struct one_send *f = frame;
    f->polls++;
    int rc = f->reserve ? prokio_mpsc_reserve_poll(&f->wait, f->tx, cx)
                        : prokio_mpsc_send_poll(&f->wait, f->tx, &f->v, cx);
    if (rc == PROKIO_PENDING) {
        if (f->pending)
            atomic_fetch_add(f->pending, 1);
        if (conf_timed_out(&f->to, cx)) {
            f->rc = PROKIO_ETIMEDOUT;
            prokio_wait_cancel(&f->wait);
            return 0;
        }
        return PROKIO_PENDING;
    }
    if (rc == 0 && f->reserve) {
        if (!prokio_wait_is_pending(&f->wait))
            rc = -1000; /* a held permit keeps the wait pending */
        else
            rc = prokio_mpsc_permit_send(&f->wait, &f->v);
        if (prokio_wait_is_pending(&f->wait))
            rc = -1001;
    }
    f->rc = rc;
    conf_timeout_cancel(&f->to);
    return 0;
}

void test_mpsc_close_rx(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(conf_workers(2));
    for (int reserve = 0; reserve < 2; reserve++) {
        prokio_mpsc_tx_t *tx;
        prokio_mpsc_rx_t *rx;
        assert_int_equal(prokio_mpsc_new(&tx, &rx, sizeof(int), 2, NULL, 0), 0);
        int v = 1, out;
        assert_int_equal(prokio_mpsc_try_send(tx, &v), 0);
        v = 2;
        assert_int_equal(prokio_mpsc_try_send(tx, &v), 0);
        /* A sender waits for capacity; closing wakes it with EPIPE. */
        atomic_int pending = 0;
        struct one_send s = {.tx = tx, .pending = &pending, .v = 3, .reserve = reserve};
        prokio_task_t *h;
        assert_int_equal(
            prokio_spawn_on(&h, rt, conf_worker(rt, 1), one_send_poll, &s, sizeof s, NULL), 0);
        CONF_WAIT_FLAG(&pending, 1);
        assert_false(prokio_mpsc_tx_is_closed(tx));
        prokio_mpsc_rx_close(rx);
        assert_true(prokio_mpsc_tx_is_closed(tx));
        assert_int_equal(conf_join(h, &s, sizeof s), 0);
        assert_int_equal(s.rc, PROKIO_EPIPE);
        v = 4;
        assert_int_equal(prokio_mpsc_try_send(tx, &v), PROKIO_EPIPE);
        assert_int_equal(v, 4);
        /* The buffer stays receivable, then EPIPE though a sender is held. */
        assert_int_equal(prokio_mpsc_try_recv(rx, &out), 0);
        assert_int_equal(out, 1);
        assert_int_equal(prokio_mpsc_try_recv(rx, &out), 0);
        assert_int_equal(out, 2);
        assert_int_equal(prokio_mpsc_try_recv(rx, &out), PROKIO_EPIPE);
        prokio_mpsc_rx_release(rx);
        prokio_mpsc_tx_release(tx);
    }
    test_runtime_free(rt);
}

/* Reserves, signals, waits for a go, then sends with the permit. */
struct held_permit {
    prokio_mpsc_tx_t *tx;
    prokio_wait_t wait;
    prokio_oneshot_rx_t *go;
    atomic_int *reserved;
    int v, rc, send_rc, phase;
};

static int held_permit_poll(void *frame, prokio_cx_t *cx)
{
    struct held_permit *f = frame;
    if (f->phase == 0) {
        int rc = prokio_mpsc_reserve_poll(&f->wait, f->tx, cx);
        if (rc == PROKIO_PENDING)
            return rc;
        f->rc = rc;
        f->phase = 1;
        atomic_store(f->reserved, 1);
    }
    int rc = prokio_oneshot_recv_poll(f->go, NULL, cx);
    if (rc == PROKIO_PENDING)
        return rc;
    f->send_rc = prokio_mpsc_permit_send(&f->wait, &f->v);
    prokio_oneshot_rx_release(f->go);
    f->go = NULL;
    return 0;
}

static void held_permit_drop(void *frame)
{
    struct held_permit *f = frame;
    prokio_oneshot_rx_release(f->go);
}

void test_mpsc_close_permit_held(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(conf_workers(2));
    prokio_mpsc_tx_t *tx;
    prokio_mpsc_rx_t *rx;
    assert_int_equal(prokio_mpsc_new(&tx, &rx, sizeof(int), 1, NULL, 0), 0);
    prokio_oneshot_tx_t *go;
    atomic_int reserved = 0;
    struct held_permit f = {.tx = tx, .reserved = &reserved, .v = 77};
    assert_int_equal(prokio_oneshot_new(&go, &f.go, 0, NULL, 0), 0);
    prokio_task_t *h;
    assert_int_equal(prokio_spawn_on(&h, rt, conf_worker(rt, 1), held_permit_poll, &f, sizeof f,
                                     held_permit_drop),
                     0);
    CONF_WAIT_FLAG(&reserved, 1);
    int v = 5, out = 0;
    assert_int_equal(prokio_mpsc_try_send(tx, &v), PROKIO_EAGAIN); /* the permit counts */
    prokio_mpsc_rx_close(rx);
    assert_int_equal(prokio_mpsc_try_recv(rx, &out), PROKIO_EAGAIN); /* a permit may still send */
    assert_int_equal(prokio_oneshot_send(go, NULL), 0);
    assert_int_equal(conf_join(h, &f, sizeof f), 0);
    assert_int_equal(f.rc, 0);
    assert_int_equal(f.send_rc, 0);
    assert_int_equal(prokio_mpsc_try_recv(rx, &out), 0);
    assert_int_equal(out, 77);
    assert_int_equal(prokio_mpsc_try_recv(rx, &out), PROKIO_EPIPE);
    prokio_mpsc_rx_release(rx);
    prokio_mpsc_tx_release(tx);
    test_runtime_free(rt);
}

void test_mpsc_close_tx(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(conf_workers(2));
    for (int k = 0; k < 2; k++) {
        prokio_mpsc_tx_t *tx;
        prokio_mpsc_rx_t *rx;
        assert_int_equal(prokio_mpsc_new(&tx, &rx, sizeof(uint64_t), 4, NULL, 0), 0);
        prokio_mpsc_tx_t *tx2 = prokio_mpsc_tx_clone(tx);
        assert_ptr_equal(tx2, tx);
        uint64_t v = VAL(0, 0);
        assert_int_equal(prokio_mpsc_try_send(tx, &v), 0);
        v = VAL(0, 1);
        assert_int_equal(prokio_mpsc_try_send(tx2, &v), 0);
        struct consumer c = {.rx = rx};
        prokio_task_t *h;
        assert_int_equal(prokio_spawn_on(&h, rt, conf_worker(rt, (unsigned)k), consumer_poll, &c,
                                         sizeof c, NULL),
                         0);
        prokio_mpsc_tx_release(tx);
        prokio_mpsc_tx_release(tx2); /* the last: the consumer ends with EPIPE */
        assert_int_equal(conf_join(h, &c, sizeof c), 0);
        assert_int_equal(c.rc, PROKIO_EPIPE);
        assert_int_equal(c.got, 2);
        assert_int_equal(c.bad, 0);
        prokio_mpsc_rx_release(rx);
    }
    test_runtime_free(rt);
}

/* ------------------------------------------- aborts, cancels, FIFO order */

void test_mpsc_abort_waiting_sender(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(conf_workers(2));
    atomic_store(&dropped, 0);
    prokio_mpsc_tx_t *tx;
    prokio_mpsc_rx_t *rx;
    assert_int_equal(prokio_mpsc_new(&tx, &rx, sizeof(int), 1, count_drop, 0), 0);
    int v = 1, out;
    assert_int_equal(prokio_mpsc_try_send(tx, &v), 0);
    /* Two senders wait; the first is aborted (its value never copied), the
     * second gets the slot when it frees. */
    atomic_int p1 = 0, p2 = 0;
    struct one_send a = {.tx = tx, .pending = &p1, .v = 100};
    struct one_send b = {.tx = tx, .pending = &p2, .v = 200};
    prokio_task_t *ha, *hb;
    assert_int_equal(prokio_spawn_on(&ha, rt, 0, one_send_poll, &a, sizeof a, NULL), 0);
    CONF_WAIT_FLAG(&p1, 1);
    assert_int_equal(
        prokio_spawn_on(&hb, rt, conf_worker(rt, 1), one_send_poll, &b, sizeof b, NULL), 0);
    CONF_WAIT_FLAG(&p2, 1);
    prokio_task_abort(ha);
    assert_int_equal(conf_join(ha, NULL, 0), PROKIO_ECANCELED);
    assert_int_equal(prokio_mpsc_try_recv(rx, &out), 0);
    assert_int_equal(out, 1);
    assert_int_equal(conf_join(hb, &b, sizeof b), 0);
    assert_int_equal(b.rc, 0);
    assert_int_equal(prokio_mpsc_try_recv(rx, &out), 0);
    assert_int_equal(out, 200);
    assert_int_equal(prokio_mpsc_try_recv(rx, &out), PROKIO_EAGAIN);
    /* Capacity intact: exactly one fits again. */
    assert_int_equal(prokio_mpsc_try_send(tx, &v), 0);
    assert_int_equal(prokio_mpsc_try_send(tx, &v), PROKIO_EAGAIN);
    prokio_mpsc_rx_release(rx);
    prokio_mpsc_tx_release(tx);
    assert_int_equal(atomic_load(&dropped), 1);
    test_runtime_free(rt);
}

/* Waits for capacity (send or reserve) and, once granted but before taking
 * it, cancels the wait: the grant must pass on. Phase 0: queue; phase 1
 * (woken by the grant): cancel, report. */
struct canceller {
    prokio_mpsc_tx_t *tx;
    prokio_wait_t wait;
    atomic_int *pending;
    bool reserve;
    int v, rc, granted_seen;
};

static int canceller_poll(void *frame, prokio_cx_t *cx)
{
    struct canceller *f = frame;
    if (!prokio_wait_is_pending(&f->wait)) {
        f->rc = f->reserve ? prokio_mpsc_reserve_poll(&f->wait, f->tx, cx)
                           : prokio_mpsc_send_poll(&f->wait, f->tx, &f->v, cx);
        atomic_store(f->pending, 1);
        return PROKIO_PENDING;
    }
    /* Woken: granted (or a spurious wake); cancel without polling it. */
    f->granted_seen = 1;
    prokio_wait_cancel(&f->wait);
    f->rc = prokio_wait_is_pending(&f->wait) ? -1 : 0;
    return 0;
}

void test_mpsc_cancel_granted(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(conf_workers(2));
    for (int reserve = 0; reserve < 2; reserve++) {
        prokio_mpsc_tx_t *tx;
        prokio_mpsc_rx_t *rx;
        assert_int_equal(prokio_mpsc_new(&tx, &rx, sizeof(int), 1, NULL, 0), 0);
        int v = 1, out;
        assert_int_equal(prokio_mpsc_try_send(tx, &v), 0);
        atomic_int p1 = 0, p2 = 0;
        struct canceller a = {.tx = tx, .pending = &p1, .reserve = reserve, .v = 100};
        struct one_send b = {.tx = tx, .pending = &p2, .v = 200};
        prokio_task_t *ha, *hb;
        assert_int_equal(prokio_spawn_on(&ha, rt, 0, canceller_poll, &a, sizeof a, NULL), 0);
        CONF_WAIT_FLAG(&p1, 1);
        assert_int_equal(
            prokio_spawn_on(&hb, rt, conf_worker(rt, 1), one_send_poll, &b, sizeof b, NULL), 0);
        CONF_WAIT_FLAG(&p2, 1);
        /* Frees the slot: granted to a (first in line), which cancels: b
         * gets it. */
        assert_int_equal(prokio_mpsc_try_recv(rx, &out), 0);
        assert_int_equal(conf_join(ha, &a, sizeof a), 0);
        assert_int_equal(a.rc, 0);
        assert_int_equal(a.granted_seen, 1);
        assert_int_equal(conf_join(hb, &b, sizeof b), 0);
        assert_int_equal(b.rc, 0);
        assert_int_equal(prokio_mpsc_try_recv(rx, &out), 0);
        assert_int_equal(out, 200);
        assert_int_equal(prokio_mpsc_try_recv(rx, &out), PROKIO_EAGAIN);
        prokio_mpsc_rx_release(rx);
        prokio_mpsc_tx_release(tx);
    }
    test_runtime_free(rt);
}

void test_mpsc_fifo(void **state)
{
    (void)state;
    enum { N = 6 };
    prokio_runtime_t *rt = test_runtime(conf_workers(2));
    prokio_mpsc_tx_t *tx;
    prokio_mpsc_rx_t *rx;
    assert_int_equal(prokio_mpsc_new(&tx, &rx, sizeof(int), 1, NULL, 0), 0);
    int v = -1, out;
    assert_int_equal(prokio_mpsc_try_send(tx, &v), 0);
    atomic_int pend[N];
    struct one_send s[N];
    prokio_task_t *h[N];
    for (int i = 0; i < N; i++) {
        atomic_init(&pend[i], 0);
        s[i] = (struct one_send){.tx = tx, .pending = &pend[i], .v = i, .reserve = i % 2};
        assert_int_equal(prokio_spawn_on(&h[i], rt, conf_worker(rt, (unsigned)i), one_send_poll,
                                         &s[i], sizeof s[i], NULL),
                         0);
        CONF_WAIT_FLAG(&pend[i], 1);
    }
    /* The freed slot goes to the first waiter: a try_send does not get it. */
    assert_int_equal(prokio_mpsc_blocking_recv(rx, &out), 0);
    assert_int_equal(out, -1);
    assert_int_equal(prokio_mpsc_try_send(tx, &v), PROKIO_EAGAIN);
    for (int i = 0; i < N; i++) {
        assert_int_equal(prokio_mpsc_blocking_recv(rx, &out), 0);
        assert_int_equal(out, i);
    }
    for (int i = 0; i < N; i++) {
        assert_int_equal(conf_join(h[i], &s[i], sizeof s[i]), 0);
        assert_int_equal(s[i].rc, 0);
    }
    prokio_mpsc_rx_release(rx);
    prokio_mpsc_tx_release(tx);
    test_runtime_free(rt);
}

/* ----------------------------------------------------- threads, local */

struct thread_sender {
    prokio_mpsc_tx_t *tx;
    unsigned id, n;
    int rc;
};

static void *thread_sender_main(void *arg)
{
    struct thread_sender *t = arg;
    for (unsigned i = 0; i < t->n && t->rc == 0; i++) {
        uint64_t v = VAL(t->id, i);
        t->rc = prokio_mpsc_blocking_send(t->tx, &v);
    }
    prokio_mpsc_tx_release(t->tx);
    return NULL;
}

/* A task that tries the blocking calls on its worker: both EDEADLK. */
struct deadlk {
    prokio_mpsc_tx_t *tx;
    prokio_mpsc_rx_t *rx;
    int s, r;
};

static int deadlk_poll(void *frame, prokio_cx_t *cx)
{
    (void)cx;
    struct deadlk *f = frame;
    uint64_t v = 0;
    f->s = prokio_mpsc_blocking_send(f->tx, &v);
    f->r = prokio_mpsc_blocking_recv(f->rx, &v);
    return 0;
}

void test_mpsc_threads(void **state)
{
    (void)state;
    enum { T = 3, N = 3000 };
    prokio_runtime_t *rt = test_runtime(2);
    prokio_mpsc_tx_t *tx;
    prokio_mpsc_rx_t *rx;
    assert_int_equal(prokio_mpsc_new(&tx, &rx, sizeof(uint64_t), 2, NULL, 0), 0);
    struct deadlk d = {.tx = tx, .rx = rx};
    assert_int_equal(conf_run_on(rt, CONF_ANY, deadlk_poll, &d, sizeof d, NULL), 0);
    assert_int_equal(d.s, PROKIO_EDEADLK);
    assert_int_equal(d.r, PROKIO_EDEADLK);
    /* Threads block sending; a task on a worker and one task producer. */
    pthread_t th[T];
    struct thread_sender ts[T];
    for (unsigned i = 0; i < T; i++) {
        ts[i] = (struct thread_sender){.tx = prokio_mpsc_tx_clone(tx), .id = i, .n = N};
        assert_int_equal(pthread_create(&th[i], NULL, thread_sender_main, &ts[i]), 0);
    }
    struct producer p = {.tx = tx, .id = T, .n = N};
    prokio_task_t *hp;
    assert_int_equal(prokio_spawn_on(&hp, rt, 1, producer_poll, &p, sizeof p, producer_drop), 0);
    /* The main thread receives with blocking_recv. */
    unsigned next[T + 1] = {0}, got = 0, bad = 0;
    uint64_t v;
    int rc;
    while ((rc = prokio_mpsc_blocking_recv(rx, &v)) == 0) {
        unsigned id = (unsigned)(v >> 32);
        if (id > T || next[id] != (unsigned)v)
            bad++;
        else
            next[id]++;
        got++;
    }
    assert_int_equal(rc, PROKIO_EPIPE);
    for (unsigned i = 0; i < T; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(ts[i].rc, 0);
    }
    assert_int_equal(conf_join(hp, &p, sizeof p), 0);
    assert_int_equal(p.rc, 0);
    assert_int_equal(bad, 0);
    assert_int_equal(got, (T + 1) * N);
    prokio_mpsc_rx_release(rx);

    /* A thread sending on a full channel that the receiver closes (while
     * it blocks, or before it starts) gets EPIPE. */
    assert_int_equal(prokio_mpsc_new(&tx, &rx, sizeof(uint64_t), 1, NULL, 0), 0);
    v = 1;
    assert_int_equal(prokio_mpsc_try_send(tx, &v), 0);
    struct thread_sender one = {.tx = prokio_mpsc_tx_clone(tx), .id = 0, .n = 1};
    pthread_t t1;
    assert_int_equal(pthread_create(&t1, NULL, thread_sender_main, &one), 0);
    prokio_mpsc_rx_close(rx);
    pthread_join(t1, NULL);
    assert_int_equal(one.rc, PROKIO_EPIPE); /* queued or not, the channel was closed */
    assert_int_equal(prokio_mpsc_try_recv(rx, &v), 0);
    assert_int_equal(prokio_mpsc_try_recv(rx, &v), PROKIO_EPIPE);
    prokio_mpsc_tx_release(tx);
    prokio_mpsc_rx_release(rx);
    test_runtime_free(rt);
}

/* PROKIO_LOCAL: created in a task on worker 0, a producer spawned local,
 * the receive in the creating task; a task on worker 1 gets EXDEV. */
struct exdev_try {
    prokio_mpsc_tx_t *tx;
    prokio_mpsc_rx_t *rx;
    int s, r, cl;
};

static int exdev_poll(void *frame, prokio_cx_t *cx)
{
    (void)cx;
    struct exdev_try *f = frame;
    int v = 0;
    f->s = prokio_mpsc_try_send(f->tx, &v);
    f->r = prokio_mpsc_try_recv(f->rx, &v);
    f->cl = prokio_mpsc_tx_clone(f->tx) == NULL;
    return 0;
}

struct local_main {
    int co;
    prokio_mpsc_tx_t *tx;
    prokio_mpsc_rx_t *rx;
    prokio_task_t *prod, *other;
    struct consumer c;
    struct exdev_try x;
    int rc, prod_rc;
};

static int local_main_poll(void *frame, prokio_cx_t *cx)
{
    struct local_main *f = frame;
    int rc;
    PROKIO_BEGIN(&f->co);
    f->rc = prokio_mpsc_new(&f->tx, &f->rx, sizeof(uint64_t), 3, NULL, PROKIO_LOCAL);
    if (f->rc < 0)
        return 0;
    f->x = (struct exdev_try){.tx = f->tx, .rx = f->rx};
    /* From another worker, where there is one (the test checks the same
     * from its own thread, off every worker). */
    if (prokio_runtime_workers(prokio_cx_runtime(cx)) > 1) {
        f->rc = prokio_spawn_on(&f->other, prokio_cx_runtime(cx), 1, exdev_poll, &f->x, sizeof f->x,
                                NULL);
        if (f->rc < 0)
            return 0;
        PROKIO_AWAIT(&f->co, prokio_task_join_poll(f->other, cx));
        f->x = *(struct exdev_try *)prokio_task_frame(f->other);
        prokio_task_release(f->other);
    }
    {
        struct producer p = {.tx = f->tx, .id = 0, .n = 5000};
        f->rc = prokio_spawn_local(&f->prod, producer_poll, &p, sizeof p, producer_drop, cx);
        if (f->rc < 0)
            return 0;
    }
    f->c.rx = f->rx;
    PROKIO_AWAIT_INTO(&f->co, rc, consumer_poll(&f->c, cx));
    PROKIO_AWAIT_INTO(&f->co, f->prod_rc, prokio_task_join_poll(f->prod, cx));
    prokio_task_release(f->prod);
    prokio_mpsc_rx_release(f->rx);
    (void)rc;
    PROKIO_END(&f->co, 0);
}

void test_mpsc_local(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(conf_workers(2));
    struct local_main m = {0};
    assert_int_equal(conf_run_on(rt, 0, local_main_poll, &m, sizeof m, NULL), 0);
    assert_int_equal(m.rc, 0);
    if (prokio_runtime_workers(rt) > 1) {
        assert_int_equal(m.x.s, PROKIO_EXDEV);
        assert_int_equal(m.x.r, PROKIO_EXDEV);
        assert_int_equal(m.x.cl, 1);
    }
    assert_int_equal(m.prod_rc, 0);
    assert_int_equal(m.c.rc, PROKIO_EPIPE);
    assert_int_equal(m.c.got, 5000);
    assert_int_equal(m.c.bad, 0);
    /* Off a worker, PROKIO_LOCAL cannot be created. */
    prokio_mpsc_tx_t *tx;
    prokio_mpsc_rx_t *rx;
    assert_int_equal(prokio_mpsc_new(&tx, &rx, 4, 1, NULL, PROKIO_LOCAL), PROKIO_EINVAL);
    assert_null(tx);
    test_runtime_free(rt);
}

/* ------------------------------------------------------------------ coop */

struct coop_rx {
    prokio_mpsc_rx_t *rx;
    int first, total, polls, rc;
};

static int coop_rx_poll(void *frame, prokio_cx_t *cx)
{
    struct coop_rx *f = frame;
    f->polls++;
    int v;
    for (;;) {
        int rc = prokio_mpsc_recv_poll(f->rx, &v, cx);
        if (rc == PROKIO_PENDING) {
            if (f->polls == 1)
                f->first = f->total;
            return PROKIO_PENDING;
        }
        if (rc < 0) {
            f->rc = rc;
            return 0;
        }
        f->total++;
    }
}

void test_mpsc_coop(void **state)
{
    (void)state;
    enum { N = 300 };
    prokio_runtime_t *rt = test_runtime(1);
    prokio_mpsc_tx_t *tx;
    prokio_mpsc_rx_t *rx;
    assert_int_equal(prokio_mpsc_new(&tx, &rx, sizeof(int), N, NULL, 0), 0);
    for (int i = 0; i < N; i++)
        assert_int_equal(prokio_mpsc_try_send(tx, &i), 0);
    prokio_mpsc_tx_release(tx);
    struct coop_rx c = {.rx = rx};
    assert_int_equal(conf_run_on(rt, 0, coop_rx_poll, &c, sizeof c, NULL), 0);
    assert_int_equal(c.total, N);
    assert_int_equal(c.rc, PROKIO_EPIPE);
    assert_true(c.first > 0 && c.first <= 128);
    assert_true(c.polls >= 3); /* 300 values need at least three budgets */
    prokio_mpsc_rx_release(rx);
    test_runtime_free(rt);
}
