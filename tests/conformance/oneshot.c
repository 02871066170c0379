/* tests/conformance/oneshot.c: the oneshot channel across workers and
 * threads, in both orders, with either end dropped, with and without a
 * value. */
#include "conformance.h"

struct payload {
    uint64_t a;
    char s[16];
    double d;
};

/* Receives a payload; in its first poll, after finding nothing, it opens
 * the sender's gate, so the receive always waits first. */
struct receiver {
    struct track tr;
    prokio_oneshot_rx_t *rx;
    prokio_oneshot_tx_t *go; /* bare signal to the sender, or NULL */
    atomic_int *pending;     /* set when parked, or NULL */
    int first, rc, pendings, go_rc;
    struct payload v;
};

static int receiver_poll(void *frame, prokio_cx_t *cx)
{
    struct receiver *f = frame;
    track_poll(&f->tr);
    int rc = prokio_oneshot_recv_poll(f->rx, &f->v, cx);
    if (f->tr.polls == 1)
        f->first = rc;
    if (rc == PROKIO_PENDING) {
        f->pendings++;
        if (f->go) {
            f->go_rc = prokio_oneshot_send(f->go, NULL);
            f->go = NULL;
        }
        if (f->pending)
            atomic_store(f->pending, 1);
        return PROKIO_PENDING;
    }
    f->rc = rc;
    prokio_oneshot_rx_release(f->rx);
    f->rx = NULL;
    return 0;
}

static void receiver_drop(void *frame)
{
    struct receiver *f = frame;
    if (f->rx)
        prokio_oneshot_rx_release(f->rx);
    if (f->go)
        prokio_oneshot_tx_release(f->go);
    track_dropped(&f->tr);
}

struct sender {
    struct track tr;
    prokio_oneshot_rx_t *go;
    prokio_oneshot_tx_t *tx;
    struct payload v;
    int go_rc, send_rc;
};

static int sender_poll(void *frame, prokio_cx_t *cx)
{
    struct sender *f = frame;
    track_poll(&f->tr);
    int rc = prokio_oneshot_recv_poll(f->go, NULL, cx);
    if (rc == PROKIO_PENDING)
        return PROKIO_PENDING;
    f->go_rc = rc;
    prokio_oneshot_rx_release(f->go);
    f->go = NULL;
    f->send_rc = prokio_oneshot_send(f->tx, &f->v);
    f->tx = NULL;
    return 0;
}

static void sender_drop(void *frame)
{
    struct sender *f = frame;
    if (f->go)
        prokio_oneshot_rx_release(f->go);
    if (f->tx)
        prokio_oneshot_tx_release(f->tx);
    track_dropped(&f->tr);
}

static struct payload payload_of(int k)
{
    struct payload p = {.a = UINT64_C(0x0123456789abcdef) ^ (uint64_t)k, .d = k * 0.5};
    snprintf(p.s, sizeof p.s, "value %d", k);
    return p;
}

void test_oneshot_cross_worker(void **state)
{
    (void)state;
    enum { ROUNDS = 100 };
    prokio_runtime_t *rt = test_runtime(conf_workers(2));
    struct drops d = {0};
    for (int k = 0; k < ROUNDS; k++) {
        prokio_oneshot_tx_t *tx, *go_tx;
        prokio_oneshot_rx_t *rx, *go_rx;
        assert_int_equal(prokio_oneshot_new(&tx, &rx, sizeof(struct payload), NULL, 0), 0);
        assert_int_equal(prokio_oneshot_new(&go_tx, &go_rx, 0, NULL, 0), 0);
        struct receiver r = {.tr.d = &d, .rx = rx, .go = go_tx};
        struct sender s = {.tr.d = &d, .go = go_rx, .tx = tx, .v = payload_of(k)};
        unsigned rw = conf_worker(rt, (unsigned)k), sw = conf_worker(rt, (unsigned)k / 2);
        prokio_task_t *hr = NULL, *hs = NULL;
        assert_int_equal(prokio_spawn_on(&hs, rt, sw, sender_poll, &s, sizeof s, sender_drop), 0);
        assert_int_equal(prokio_spawn_on(&hr, rt, rw, receiver_poll, &r, sizeof r, receiver_drop),
                         0);
        assert_int_equal(conf_join(hr, &r, sizeof r), 0);
        assert_int_equal(conf_join(hs, &s, sizeof s), 0);
        assert_int_equal(r.first, PROKIO_PENDING);
        assert_int_equal(r.pendings, 1);
        assert_int_equal(r.tr.polls, 2);
        assert_int_equal(r.go_rc, 0);
        assert_int_equal(r.rc, 0);
        struct payload want = payload_of(k);
        assert_memory_equal(&r.v, &want, sizeof want);
        assert_int_equal(s.go_rc, 0);
        assert_int_equal(s.send_rc, 0);
    }
    test_runtime_free(rt);
    assert_int_equal(atomic_load(&d.n), 2 * ROUNDS);
    assert_int_equal(atomic_load(&d.wrong_thread), 0);
}

void test_oneshot_send_from_thread(void **state)
{
    (void)state;
    enum { ROUNDS = 200 };
    prokio_runtime_t *rt = test_runtime(conf_workers(2));
    struct drops d = {0};
    for (int k = 0; k < ROUNDS; k++) {
        prokio_oneshot_tx_t *tx;
        prokio_oneshot_rx_t *rx;
        assert_int_equal(prokio_oneshot_new(&tx, &rx, sizeof(struct payload), NULL, 0), 0);
        atomic_int pending = 0;
        struct receiver r = {.tr.d = &d, .rx = rx, .pending = &pending};
        prokio_task_t *h = NULL;
        assert_int_equal(prokio_spawn(&h, rt, receiver_poll, &r, sizeof r, receiver_drop), 0);
        if (k % 2)
            CONF_WAIT_FLAG(&pending, 1); /* else: either order */
        assert_false(prokio_oneshot_tx_is_closed(tx));
        struct payload v = payload_of(k);
        assert_int_equal(prokio_oneshot_send(tx, &v), 0);
        memset(&v, 0, sizeof v); /* the channel kept a copy */
        assert_int_equal(conf_join(h, &r, sizeof r), 0);
        assert_int_equal(r.rc, 0);
        struct payload want = payload_of(k);
        assert_memory_equal(&r.v, &want, sizeof want);
        if (k % 2) {
            assert_int_equal(r.pendings, 1);
            assert_int_equal(r.tr.polls, 2);
        }
    }
    test_runtime_free(rt);
    assert_int_equal(atomic_load(&d.n), ROUNDS);
}

void test_oneshot_send_before_recv(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(conf_workers(2));
    struct drops d = {0};
    for (int k = 0; k < 10; k++) {
        prokio_oneshot_tx_t *tx;
        prokio_oneshot_rx_t *rx;
        assert_int_equal(prokio_oneshot_new(&tx, &rx, sizeof(struct payload), NULL, 0), 0);
        struct payload v = payload_of(k);
        assert_int_equal(prokio_oneshot_send(tx, &v), 0);
        struct receiver r = {.tr.d = &d, .rx = rx};
        assert_int_equal(conf_run_on(rt, CONF_ANY, receiver_poll, &r, sizeof r, receiver_drop), 0);
        assert_int_equal(r.first, 0);
        assert_int_equal(r.tr.polls, 1);
        assert_memory_equal(&r.v, &v, sizeof v);
    }
    test_runtime_free(rt);
    assert_int_equal(atomic_load(&d.n), 10);
}

void test_oneshot_tx_release(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(conf_workers(2));
    struct drops d = {0};
    for (int k = 0; k < 20; k++) {
        prokio_oneshot_tx_t *tx;
        prokio_oneshot_rx_t *rx;
        assert_int_equal(prokio_oneshot_new(&tx, &rx, sizeof(struct payload), NULL, 0), 0);
        atomic_int pending = 0;
        struct receiver r = {.tr.d = &d, .rx = rx, .pending = &pending};
        if (k % 2 == 0)
            prokio_oneshot_tx_release(tx); /* before the receiver looks */
        prokio_task_t *h = NULL;
        assert_int_equal(prokio_spawn(&h, rt, receiver_poll, &r, sizeof r, receiver_drop), 0);
        if (k % 2) {
            CONF_WAIT_FLAG(&pending, 1);
            prokio_oneshot_tx_release(tx);
        }
        assert_int_equal(conf_join(h, &r, sizeof r), 0);
        assert_int_equal(r.rc, PROKIO_EPIPE);
        assert_int_equal(r.tr.polls, k % 2 ? 2 : 1);
    }
    test_runtime_free(rt);
    assert_int_equal(atomic_load(&d.n), 20);
}

void test_oneshot_rx_release(void **state)
{
    (void)state;
    prokio_oneshot_tx_t *tx;
    prokio_oneshot_rx_t *rx;
    /* Receiver gone before the send: the send fails, the value stays ours. */
    assert_int_equal(prokio_oneshot_new(&tx, &rx, sizeof(struct payload), NULL, 0), 0);
    assert_false(prokio_oneshot_tx_is_closed(tx));
    prokio_oneshot_rx_release(rx);
    assert_true(prokio_oneshot_tx_is_closed(tx));
    struct payload v = payload_of(3), want = payload_of(3);
    assert_int_equal(prokio_oneshot_send(tx, &v), PROKIO_EPIPE);
    assert_memory_equal(&v, &want, sizeof v);

    /* Receiver gone after the send, value never received: discarded. */
    assert_int_equal(prokio_oneshot_new(&tx, &rx, sizeof(struct payload), NULL, 0), 0);
    assert_int_equal(prokio_oneshot_send(tx, &v), 0);
    prokio_oneshot_rx_release(rx);

    /* Both dropped without a send, in both orders. */
    assert_int_equal(prokio_oneshot_new(&tx, &rx, sizeof(struct payload), NULL, 0), 0);
    prokio_oneshot_tx_release(tx);
    prokio_oneshot_rx_release(rx);
    assert_int_equal(prokio_oneshot_new(&tx, &rx, sizeof(struct payload), NULL, 0), 0);
    prokio_oneshot_rx_release(rx);
    assert_true(prokio_oneshot_tx_is_closed(tx));
    prokio_oneshot_tx_release(tx);

    /* A receiver task parked on the channel is aborted: its drop releases
     * rx, and the sender sees the channel closed. */
    prokio_runtime_t *rt = test_runtime(conf_workers(2));
    struct drops d = {0};
    assert_int_equal(prokio_oneshot_new(&tx, &rx, sizeof(struct payload), NULL, 0), 0);
    atomic_int pending = 0;
    struct receiver r = {.tr.d = &d, .rx = rx, .pending = &pending};
    prokio_task_t *h = NULL;
    assert_int_equal(prokio_spawn(&h, rt, receiver_poll, &r, sizeof r, receiver_drop), 0);
    CONF_WAIT_FLAG(&pending, 1);
    assert_false(prokio_oneshot_tx_is_closed(tx));
    prokio_task_abort(h);
    assert_int_equal(conf_join(h, NULL, 0), PROKIO_ECANCELED);
    assert_true(prokio_oneshot_tx_is_closed(tx));
    assert_int_equal(prokio_oneshot_send(tx, &v), PROKIO_EPIPE);
    test_runtime_free(rt);
    assert_int_equal(atomic_load(&d.n), 1);
}

struct signal_rx {
    prokio_oneshot_rx_t *rx;
    int rc, polls;
};

static int signal_rx_poll(void *frame, prokio_cx_t *cx)
{
    struct signal_rx *f = frame;
    f->polls++;
    int rc = prokio_oneshot_recv_poll(f->rx, NULL, cx);
    if (rc == PROKIO_PENDING)
        return PROKIO_PENDING;
    f->rc = rc;
    prokio_oneshot_rx_release(f->rx);
    return 0;
}

void test_oneshot_size0(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(conf_workers(2));
    for (int k = 0; k < 4; k++) {
        prokio_oneshot_tx_t *tx;
        prokio_oneshot_rx_t *rx;
        assert_int_equal(prokio_oneshot_new(&tx, &rx, 0, NULL, 0), 0);
        if (k == 0)
            assert_int_equal(prokio_oneshot_send(tx, NULL), 0);
        struct signal_rx s = {.rx = rx};
        prokio_task_t *h = NULL;
        assert_int_equal(prokio_spawn(&h, rt, signal_rx_poll, &s, sizeof s, NULL), 0);
        if (k == 1)
            assert_int_equal(prokio_oneshot_send(tx, NULL), 0);
        if (k >= 2)
            prokio_oneshot_tx_release(tx);
        assert_int_equal(conf_join(h, &s, sizeof s), 0);
        assert_int_equal(s.rc, k >= 2 ? PROKIO_EPIPE : 0);
    }
    test_runtime_free(rt);
}

/* A receive that gave a result gives it again when polled again, in the
 * same poll and in a later one: the value copied again, or PROKIO_EPIPE
 * again. */
struct rerecv {
    prokio_oneshot_rx_t *rx;
    atomic_int *pending;
    int phase, polls;
    int r1, r2, r3;
    int v1, v2, v3;
};

static int rerecv_poll(void *frame, prokio_cx_t *cx)
{
    struct rerecv *f = frame;
    f->polls++;
    int *out = f->v1 == -2 ? NULL : &f->v1; /* -2: a bare signal, no value */
    if (f->phase == 0) {
        f->r1 = prokio_oneshot_recv_poll(f->rx, out, cx);
        if (f->r1 == PROKIO_PENDING) {
            atomic_store(f->pending, 1);
            return PROKIO_PENDING;
        }
        f->v2 = -1;
        f->r2 = prokio_oneshot_recv_poll(f->rx, out ? &f->v2 : NULL, cx);
        f->phase = 1;
        return prokio_cx_yield(cx);
    }
    f->v3 = -1;
    f->r3 = prokio_oneshot_recv_poll(f->rx, out ? &f->v3 : NULL, cx);
    prokio_oneshot_rx_release(f->rx);
    f->rx = NULL;
    return 0;
}

static void rerecv_drop(void *frame)
{
    struct rerecv *f = frame;
    prokio_oneshot_rx_release(f->rx);
}

void test_oneshot_repoll(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(conf_workers(2));
    /* k % 3: a value, the sender released, a bare signal; k / 3: sent
     * before the receiver looks, or while it waits. */
    for (int k = 0; k < 12; k++) {
        int kind = k % 3, late = (k / 3) % 2;
        prokio_oneshot_tx_t *tx;
        prokio_oneshot_rx_t *rx;
        assert_int_equal(prokio_oneshot_new(&tx, &rx, kind == 2 ? 0 : sizeof(int), NULL, 0), 0);
        atomic_int pending = 0;
        struct rerecv r = {.rx = rx, .pending = &pending, .v1 = kind == 2 ? -2 : -1};
        prokio_task_t *h = NULL;
        if (late) {
            assert_int_equal(prokio_spawn_on(&h, rt, conf_worker(rt, (unsigned)k), rerecv_poll, &r,
                                             sizeof r, rerecv_drop),
                             0);
            CONF_WAIT_FLAG(&pending, 1);
        }
        int v = 1000 + k;
        if (kind == 1)
            prokio_oneshot_tx_release(tx);
        else
            assert_int_equal(prokio_oneshot_send(tx, kind == 2 ? NULL : &v), 0);
        if (!late)
            assert_int_equal(prokio_spawn_on(&h, rt, conf_worker(rt, (unsigned)k), rerecv_poll, &r,
                                             sizeof r, rerecv_drop),
                             0);
        assert_int_equal(conf_join(h, &r, sizeof r), 0);
        int want = kind == 1 ? PROKIO_EPIPE : 0;
        assert_int_equal(r.r1, want);
        assert_int_equal(r.r2, want);
        assert_int_equal(r.r3, want);
        if (kind == 0) {
            assert_int_equal(r.v1, v);
            assert_int_equal(r.v2, v);
            assert_int_equal(r.v3, v);
        } else {
            assert_int_equal(r.v1, kind == 2 ? -2 : -1);
            assert_int_equal(r.v2, -1);
            assert_int_equal(r.v3, -1);
        }
        /* Pending once when late; then the result, and once more after the
         * yield. */
        assert_int_equal(r.polls, late ? 3 : 2);
    }
    test_runtime_free(rt);
}

/* A relay chain: task i receives from channel i and sends value + 1 on
 * channel i + 1; consecutive links live on different workers. */
struct link {
    prokio_oneshot_rx_t *rx;
    prokio_oneshot_tx_t *tx;
    uint64_t v;
};

static int link_poll(void *frame, prokio_cx_t *cx)
{
    struct link *f = frame;
    int rc = prokio_oneshot_recv_poll(f->rx, &f->v, cx);
    if (rc == PROKIO_PENDING)
        return PROKIO_PENDING;
    prokio_oneshot_rx_release(f->rx);
    f->rx = NULL;
    if (rc < 0)
        return rc;
    f->v++;
    rc = prokio_oneshot_send(f->tx, &f->v);
    f->tx = NULL;
    return rc;
}

static void link_drop(void *frame)
{
    struct link *f = frame;
    if (f->rx)
        prokio_oneshot_rx_release(f->rx);
    if (f->tx)
        prokio_oneshot_tx_release(f->tx);
}

struct chain_end {
    prokio_oneshot_rx_t *rx;
    uint64_t v;
    int rc;
};

static int chain_end_poll(void *frame, prokio_cx_t *cx)
{
    struct chain_end *f = frame;
    int rc = prokio_oneshot_recv_poll(f->rx, &f->v, cx);
    if (rc == PROKIO_PENDING)
        return PROKIO_PENDING;
    f->rc = rc;
    prokio_oneshot_rx_release(f->rx);
    return 0;
}

void test_oneshot_many(void **state)
{
    (void)state;
    enum { N = 10000 };
    prokio_runtime_t *rt = test_runtime(conf_workers(3));
    prokio_oneshot_tx_t *first_tx;
    prokio_oneshot_rx_t *rx;
    assert_int_equal(prokio_oneshot_new(&first_tx, &rx, sizeof(uint64_t), NULL, 0), 0);
    for (int i = 0; i < N; i++) {
        prokio_oneshot_tx_t *tx;
        prokio_oneshot_rx_t *next_rx;
        assert_int_equal(prokio_oneshot_new(&tx, &next_rx, sizeof(uint64_t), NULL, 0), 0);
        struct link l = {.rx = rx, .tx = tx};
        assert_int_equal(prokio_spawn_on(NULL, rt, conf_worker(rt, (unsigned)i), link_poll, &l,
                                         sizeof l, link_drop),
                         0);
        rx = next_rx;
    }
    uint64_t v = 1000;
    assert_int_equal(prokio_oneshot_send(first_tx, &v), 0);
    struct chain_end e = {.rx = rx};
    assert_int_equal(prokio_runtime_block_on(rt, chain_end_poll, &e, sizeof e, NULL), 0);
    assert_int_equal(e.rc, 0);
    assert_int_equal(e.v, 1000 + N);
    test_runtime_free(rt);
}
