/* tests/conformance/oneshot_local.c: PROKIO_LOCAL oneshots (one worker, no
 * atomics of the channel's own) and value_drop accounting, for both kinds. */
#include "conformance.h"

static atomic_int dropped;

static void count_drop(void *value)
{
    (void)value;
    atomic_fetch_add(&dropped, 1);
}

/* ------------------------------------------------------------ ping-pong */

struct echo {
    prokio_oneshot_rx_t *rx;
    prokio_oneshot_tx_t *reply;
    int v, rc;
};

static int echo_poll(void *frame, prokio_cx_t *cx)
{
    struct echo *e = frame;
    int rc = prokio_oneshot_recv_poll(e->rx, &e->v, cx);
    if (rc == PROKIO_PENDING)
        return rc;
    e->rc = rc;
    prokio_oneshot_rx_release(e->rx);
    e->rx = NULL;
    return prokio_oneshot_send(e->reply, &e->v) == 0 ? 0 : -1;
}

static void echo_drop(void *frame)
{
    struct echo *e = frame;
    prokio_oneshot_rx_release(e->rx);
}

struct pinger {
    int co, i, got, rc, exdev_rc;
    unsigned other;
    prokio_oneshot_tx_t *tx;
    prokio_oneshot_rx_t *reply;
    prokio_task_t *echo, *stranger;
};

/* A task on another worker that tries to use a local end. */
struct stranger {
    prokio_oneshot_rx_t *rx;
    int rc;
};

static int stranger_poll(void *frame, prokio_cx_t *cx)
{
    struct stranger *s = frame;
    s->rc = prokio_oneshot_recv_poll(s->rx, &(int){0}, cx);
    return 0;
}

static int pinger_poll(void *frame, prokio_cx_t *cx)
{
    struct pinger *p = frame;
    int rc;
    PROKIO_BEGIN(&p->co);
    for (p->i = 0; p->i < 100; p->i++) {
        {
            struct echo e = {0};
            if (prokio_oneshot_new(&p->tx, &e.rx, sizeof(int), NULL, PROKIO_LOCAL) < 0 ||
                prokio_oneshot_new(&e.reply, &p->reply, sizeof(int), NULL, PROKIO_LOCAL) < 0 ||
                prokio_spawn_local(&p->echo, echo_poll, &e, sizeof e, echo_drop, cx) < 0)
                return -100;
        }
        if (p->i == 0 && p->other != 0) {
            /* Another worker's task is refused and changes nothing. */
            struct stranger s = {.rx = p->reply, .rc = 1};
            if (prokio_spawn_on(&p->stranger, prokio_cx_runtime(cx), p->other, stranger_poll, &s,
                                sizeof s, NULL) < 0)
                return -101;
            PROKIO_AWAIT(&p->co, prokio_task_join_poll(p->stranger, cx));
            p->exdev_rc = ((struct stranger *)prokio_task_frame(p->stranger))->rc;
            prokio_task_release(p->stranger);
        }
        if (prokio_oneshot_send(p->tx, &p->i) < 0)
            return -102;
        PROKIO_AWAIT_INTO(&p->co, rc, prokio_oneshot_recv_poll(p->reply, &p->got, cx));
        prokio_oneshot_rx_release(p->reply);
        if (rc < 0 || p->got != p->i)
            return -103;
        PROKIO_AWAIT_INTO(&p->co, rc, prokio_task_join_poll(p->echo, cx));
        prokio_task_release(p->echo);
        if (rc != 0)
            return -104;
    }
    PROKIO_END(&p->co, 0);
}

void test_oneshot_local_ping_pong(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(conf_workers(2));
    /* The stranger on another worker, where there is one. */
    struct pinger p = {.other = conf_worker(rt, 1)};
    assert_int_equal(conf_run_on(rt, 0, pinger_poll, &p, sizeof p, NULL), 0);
    assert_int_equal(p.i, 100);
    if (p.other != 0)
        assert_int_equal(p.exdev_rc, PROKIO_EXDEV);
    test_runtime_free(rt);
}

void test_oneshot_local_off_worker(void **state)
{
    (void)state;
    prokio_oneshot_tx_t *tx = (prokio_oneshot_tx_t *)&tx;
    prokio_oneshot_rx_t *rx = (prokio_oneshot_rx_t *)&rx;
    assert_int_equal(prokio_oneshot_new(&tx, &rx, 4, NULL, PROKIO_LOCAL), PROKIO_EINVAL);
    assert_null(tx);
    assert_null(rx);
    assert_non_null(strstr(prokio_last_error(), "PROKIO_LOCAL"));
    assert_int_equal(prokio_oneshot_new(&tx, &rx, 4, NULL, 0x80), PROKIO_EINVAL);
    assert_non_null(strstr(prokio_last_error(), "flags"));
}

/* ------------------------------------------- a waiting receiver aborted */

struct waiter {
    prokio_oneshot_rx_t *rx;
    bool release_in_drop;
    atomic_int *parked;
};

static int waiter_poll(void *frame, prokio_cx_t *cx)
{
    struct waiter *w = frame;
    int rc = prokio_oneshot_recv_poll(w->rx, &(int){0}, cx);
    if (rc == PROKIO_PENDING)
        atomic_store(w->parked, 1);
    return rc;
}

static void waiter_drop(void *frame)
{
    struct waiter *w = frame;
    if (w->release_in_drop)
        prokio_oneshot_rx_release(w->rx);
}

struct aborter {
    int co, send_rc, drops_seen;
    bool release_in_drop;
    atomic_int parked;
    prokio_oneshot_tx_t *tx;
    prokio_oneshot_rx_t *rx;
    prokio_task_t *waiter;
};

static int aborter_poll(void *frame, prokio_cx_t *cx)
{
    struct aborter *a = frame;
    PROKIO_BEGIN(&a->co);
    if (prokio_oneshot_new(&a->tx, &a->rx, sizeof(int), count_drop, PROKIO_LOCAL) < 0)
        return -1;
    {
        struct waiter w = {a->rx, a->release_in_drop, &a->parked};
        if (prokio_spawn_local(&a->waiter, waiter_poll, &w, sizeof w, waiter_drop, cx) < 0)
            return -2;
    }
    while (!atomic_load(&a->parked))
        PROKIO_YIELD(&a->co, cx);
    prokio_task_abort(a->waiter);
    PROKIO_AWAIT(&a->co, prokio_task_join_poll(a->waiter, cx));
    prokio_task_release(a->waiter);
    /* The waiter's task is gone: the send must not touch it. */
    a->send_rc = prokio_oneshot_send(a->tx, &(int){7});
    a->drops_seen = atomic_load(&dropped);
    if (!a->release_in_drop)
        prokio_oneshot_rx_release(a->rx); /* the value was accepted: dropped here */
    PROKIO_END(&a->co, 0);
}

void test_oneshot_local_abort_waiting(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(1);
    for (int release = 0; release < 2; release++) {
        atomic_store(&dropped, 0);
        struct aborter a = {.release_in_drop = release};
        assert_int_equal(conf_run_on(rt, 0, aborter_poll, &a, sizeof a, NULL), 0);
        /* Released by the drop: the send is refused and the value stays the
         * sender's. Not released: the send is accepted and the value is
         * destroyed with the receiver, once. */
        assert_int_equal(a.send_rc, release ? PROKIO_EPIPE : 0);
        assert_int_equal(a.drops_seen, 0);
        assert_int_equal(atomic_load(&dropped), release ? 0 : 1);
    }
    test_runtime_free(rt);
}

/* ----------------------------------------------------------- value_drop */

/* Runs the accounting cases on a worker, with flags 0 or PROKIO_LOCAL. */
struct drops_case {
    unsigned flags;
    int co, rc, got;
    int after_unreceived, after_received, after_refused, after_tx_release;
    prokio_oneshot_tx_t *tx;
    prokio_oneshot_rx_t *rx;
};

static int drops_poll(void *frame, prokio_cx_t *cx)
{
    struct drops_case *c = frame;
    atomic_store(&dropped, 0);
    /* Sent, never received, receiver released: dropped once. */
    if (prokio_oneshot_new(&c->tx, &c->rx, sizeof(int), count_drop, c->flags) < 0)
        return -1;
    if (prokio_oneshot_send(c->tx, &(int){1}) != 0)
        return -2;
    prokio_oneshot_rx_release(c->rx);
    c->after_unreceived = atomic_exchange(&dropped, 0);
    /* Received (twice: the re-poll contract), then released: the value is
     * the receiver's, never dropped by the channel. */
    if (prokio_oneshot_new(&c->tx, &c->rx, sizeof(int), count_drop, c->flags) < 0)
        return -3;
    if (prokio_oneshot_send(c->tx, &(int){2}) != 0)
        return -4;
    if (prokio_oneshot_recv_poll(c->rx, &c->got, cx) != 0 || c->got != 2 ||
        prokio_oneshot_recv_poll(c->rx, &c->got, cx) != 0 || c->got != 2)
        return -5;
    prokio_oneshot_rx_release(c->rx);
    c->after_received = atomic_exchange(&dropped, 0);
    /* Refused (receiver first): the value is handed back, never dropped. */
    if (prokio_oneshot_new(&c->tx, &c->rx, sizeof(int), count_drop, c->flags) < 0)
        return -6;
    prokio_oneshot_rx_release(c->rx);
    if (prokio_oneshot_send(c->tx, &(int){3}) != PROKIO_EPIPE)
        return -7;
    c->after_refused = atomic_exchange(&dropped, 0);
    /* Sender released without a value: nothing to drop. */
    if (prokio_oneshot_new(&c->tx, &c->rx, sizeof(int), count_drop, c->flags) < 0)
        return -8;
    prokio_oneshot_tx_release(c->tx);
    if (prokio_oneshot_recv_poll(c->rx, &c->got, cx) != PROKIO_EPIPE)
        return -9;
    prokio_oneshot_rx_release(c->rx);
    c->after_tx_release = atomic_exchange(&dropped, 0);
    return 0;
}

void test_oneshot_value_drop(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(1);
    for (int local = 0; local < 2; local++) {
        struct drops_case c = {.flags = local ? PROKIO_LOCAL : 0};
        assert_int_equal(conf_run_on(rt, 0, drops_poll, &c, sizeof c, NULL), 0);
        assert_int_equal(c.after_unreceived, 1);
        assert_int_equal(c.after_received, 0);
        assert_int_equal(c.after_refused, 0);
        assert_int_equal(c.after_tx_release, 0);
    }
    /* Made off the runtime (malloc'd), released on the main thread. */
    atomic_store(&dropped, 0);
    prokio_oneshot_tx_t *tx;
    prokio_oneshot_rx_t *rx;
    assert_int_equal(prokio_oneshot_new(&tx, &rx, sizeof(int), count_drop, 0), 0);
    assert_int_equal(prokio_oneshot_send(tx, &(int){4}), 0);
    prokio_oneshot_rx_release(rx);
    assert_int_equal(atomic_load(&dropped), 1);
    test_runtime_free(rt);
}

/* A channel made on a worker and still held keeps prokio_runtime_free
 * from freeing the worker's pool under it. */
struct maker {
    prokio_oneshot_tx_t *tx;
    prokio_oneshot_rx_t *rx;
};

static int maker_poll(void *frame, prokio_cx_t *cx)
{
    (void)cx;
    struct maker *m = frame;
    return prokio_oneshot_new(&m->tx, &m->rx, sizeof(int), NULL, 0);
}

void test_oneshot_pooled_outlives_free(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(1);
    struct maker m = {0};
    assert_int_equal(conf_run_on(rt, 0, maker_poll, &m, sizeof m, NULL), 0);
    assert_int_equal(prokio_runtime_free(rt), PROKIO_EBUSY);
    assert_non_null(strstr(prokio_last_error(), "channel"));
    /* Still usable from this thread until released. */
    assert_int_equal(prokio_oneshot_send(m.tx, &(int){5}), 0);
    prokio_oneshot_rx_release(m.rx);
    test_runtime_free(rt);
}

/* ------------------------------------------------ blocking_recv */

/* Makes a local channel on its worker, or releases both its ends there. */
struct local_ends {
    bool make;
    prokio_oneshot_tx_t *tx;
    prokio_oneshot_rx_t *rx;
};

static int local_ends_poll(void *frame, prokio_cx_t *cx)
{
    (void)cx;
    struct local_ends *l = frame;
    if (l->make)
        return prokio_oneshot_new(&l->tx, &l->rx, sizeof(int), NULL, PROKIO_LOCAL);
    prokio_oneshot_tx_release(l->tx);
    prokio_oneshot_rx_release(l->rx);
    return 0;
}

struct late_sender {
    int co, n;
    prokio_oneshot_tx_t *tx;
    prokio_oneshot_rx_t *rx; /* the main thread's: only tried, from here */
    atomic_int *receiver_blocked;
    int deadlk, exdev;
};

static int late_sender_poll(void *frame, prokio_cx_t *cx)
{
    struct late_sender *s = frame;
    PROKIO_BEGIN(&s->co);
    {
        /* From a worker, the blocking call refuses; a local channel refuses
         * anywhere but its worker's tasks. */
        int v;
        s->deadlk = prokio_oneshot_blocking_recv(s->rx, &v);
    }
    /* Let the main thread block first (most of the time). */
    for (s->n = 0; s->n < 1000 && !atomic_load(s->receiver_blocked); s->n++)
        PROKIO_YIELD(&s->co, cx);
    if (prokio_oneshot_send(s->tx, &(int){77}) < 0)
        return -1;
    PROKIO_END(&s->co, 0);
}

void test_oneshot_blocking_recv(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(conf_workers(2));
    for (int k = 0; k < 2; k++) {
        prokio_oneshot_tx_t *tx;
        prokio_oneshot_rx_t *rx;
        assert_int_equal(prokio_oneshot_new(&tx, &rx, sizeof(int), NULL, 0), 0);
        atomic_int blocked = 0;
        struct late_sender s = {.tx = tx, .rx = rx, .receiver_blocked = &blocked};
        prokio_task_t *h;
        assert_int_equal(prokio_spawn_on(&h, rt, conf_worker(rt, (unsigned)k), late_sender_poll, &s,
                                         sizeof s, NULL),
                         0);
        atomic_store(&blocked, 1); /* about to block: the sender may go */
        int v = 0;
        assert_int_equal(prokio_oneshot_blocking_recv(rx, &v), 0);
        assert_int_equal(v, 77);
        prokio_oneshot_rx_release(rx);
        assert_int_equal(conf_join(h, &s, sizeof s), 0);
        assert_int_equal(s.deadlk, PROKIO_EDEADLK);
    }
    /* The sender released without sending: PROKIO_EPIPE, at once. */
    prokio_oneshot_tx_t *tx;
    prokio_oneshot_rx_t *rx;
    assert_int_equal(prokio_oneshot_new(&tx, &rx, 0, NULL, 0), 0);
    prokio_oneshot_tx_release(tx);
    assert_int_equal(prokio_oneshot_blocking_recv(rx, NULL), PROKIO_EPIPE);
    prokio_oneshot_rx_release(rx);
    /* A local channel belongs to its worker: refused here, nothing done. */
    struct local_ends l = {.make = true};
    assert_int_equal(conf_run_on(rt, 0, local_ends_poll, &l, sizeof l, NULL), 0);
    assert_int_equal(prokio_oneshot_blocking_recv(l.rx, &(int){0}), PROKIO_EXDEV);
    assert_non_null(strstr(prokio_last_error(), "PROKIO_LOCAL"));
    l.make = false;
    assert_int_equal(conf_run_on(rt, 0, local_ends_poll, &l, sizeof l, NULL), 0);
    test_runtime_free(rt);
}
