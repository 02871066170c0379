/* tests/stress/broadcast-lag.c: broadcast accounting under lag.
 *
 * Producers on two workers and on a plain thread send into a small ring;
 * receivers of different speeds (tasks on every worker that yield every k
 * values, and a plain thread with blocking receives) fall behind. For each
 * receiver, the values it saw plus the values it was told it missed must
 * be exactly the number sent since it subscribed, and each producer's
 * values must arrive in that producer's order. Every value is dropped
 * exactly once (overwritten, or with the channel). A watchdog ends a hang.
 *
 * Plain build: 3 x 200,000 values. Under sanitizers or valgrind
 * (PROKIO_TEST_TIMEOUT_SCALE > 1) a tenth, and the output says so. */
#include <pthread.h>
#include <stdatomic.h>

#include "common.h"

enum { PRODUCERS = 3, TASK_RX = 6, WORKERS = 3, CAPACITY = 16 };

static uint64_t per_producer = 200000;
static atomic_long drops;

static void count_drop(void *value)
{
    (void)value;
    atomic_fetch_add_explicit(&drops, 1, memory_order_relaxed);
}

struct producer {
    prokio_broadcast_tx_t *tx;
    uint64_t id, n;
    int bad;
};

static int producer_poll(void *frame, prokio_cx_t *cx)
{
    struct producer *f = frame;
    /* In slices, so the worker's receivers run in between. */
    for (int k = 0; k < 64 && f->n < per_producer; k++, f->n++) {
        uint64_t v = f->id << 40 | f->n;
        if (prokio_broadcast_send(f->tx, &v) < 1)
            f->bad++;
    }
    if (f->n < per_producer)
        return prokio_cx_yield(cx);
    prokio_broadcast_tx_release(f->tx);
    f->tx = NULL;
    return 0;
}

static void *producer_thread(void *arg)
{
    struct producer *f = arg;
    for (; f->n < per_producer; f->n++) {
        uint64_t v = f->id << 40 | f->n;
        if (prokio_broadcast_send(f->tx, &v) < 1)
            f->bad++;
    }
    prokio_broadcast_tx_release(f->tx);
    return NULL;
}

/* What a receiver saw; checked at the end. */
struct account {
    uint64_t seen, missed, lags;
    int64_t last[PRODUCERS];
    int out_of_order, rc;
};

static void account_value(struct account *a, uint64_t v)
{
    uint64_t p = v >> 40;
    int64_t seq = (int64_t)(v & ((UINT64_C(1) << 40) - 1));
    if (p >= PRODUCERS || seq <= a->last[p])
        a->out_of_order++;
    else
        a->last[p] = seq;
    a->seen++;
}

struct receiver {
    prokio_broadcast_rx_t *rx;
    prokio_wait_t wait;
    struct account a;
    int yield_every, since_yield;
};

static int receiver_poll(void *frame, prokio_cx_t *cx)
{
    struct receiver *f = frame;
    for (;;) {
        uint64_t v, m = 0;
        int rc = prokio_broadcast_recv_poll(&f->wait, f->rx, &v, &m, cx);
        if (rc == PROKIO_PENDING)
            return PROKIO_PENDING;
        if (rc == 0) {
            account_value(&f->a, v);
            if (f->yield_every && ++f->since_yield >= f->yield_every) {
                f->since_yield = 0;
                return prokio_cx_yield(cx);
            }
        } else if (rc == PROKIO_ELAGGED) {
            f->a.missed += m;
            f->a.lags++;
        } else {
            f->a.rc = rc;
            prokio_broadcast_rx_release(f->rx);
            f->rx = NULL;
            return 0;
        }
    }
}

static void receiver_drop(void *frame)
{
    prokio_broadcast_rx_release(((struct receiver *)frame)->rx);
}

struct thread_rx {
    prokio_broadcast_rx_t *rx;
    struct account a;
};

static void *receiver_thread(void *arg)
{
    struct thread_rx *t = arg;
    for (;;) {
        uint64_t v, m = 0;
        int rc = prokio_broadcast_blocking_recv(t->rx, &v, &m);
        if (rc == 0) {
            account_value(&t->a, v);
        } else if (rc == PROKIO_ELAGGED) {
            t->a.missed += m;
            t->a.lags++;
        } else {
            t->a.rc = rc;
            break;
        }
    }
    prokio_broadcast_rx_release(t->rx);
    return NULL;
}

static void check_account(const struct account *a, uint64_t sent, const char *who, int i)
{
    if (a->rc != PROKIO_EPIPE || a->out_of_order || a->seen + a->missed != sent)
        fail_msg("%s %d: rc %d, seen %llu + missed %llu != sent %llu, %d out of order", who, i,
                 a->rc, (unsigned long long)a->seen, (unsigned long long)a->missed,
                 (unsigned long long)sent, a->out_of_order);
}

static void test_lag_accounting(void **state)
{
    (void)state;
    atomic_store(&drops, 0);
    prokio_runtime_t *rt = test_runtime(WORKERS);
    prokio_broadcast_tx_t *tx;
    prokio_broadcast_rx_t *rx0;
    assert_int_equal(prokio_broadcast_new(&tx, &rx0, sizeof(uint64_t), CAPACITY, count_drop, 0), 0);
    /* Every receiver subscribes before the first send. */
    struct receiver r[TASK_RX];
    prokio_task_t *hr[TASK_RX];
    static const int speeds[TASK_RX] = {0, 1, 3, 17, 0, 100};
    for (int i = 0; i < TASK_RX; i++) {
        r[i] = (struct receiver){.yield_every = speeds[i]};
        for (int p = 0; p < PRODUCERS; p++)
            r[i].a.last[p] = -1;
        if (i == 0)
            r[i].rx = rx0;
        else
            assert_int_equal(prokio_broadcast_subscribe(&r[i].rx, tx), 0);
    }
    struct thread_rx trx = {0};
    for (int p = 0; p < PRODUCERS; p++)
        trx.a.last[p] = -1;
    assert_int_equal(prokio_broadcast_subscribe(&trx.rx, tx), 0);
    for (int i = 0; i < TASK_RX; i++)
        assert_int_equal(prokio_spawn_on(&hr[i], rt, (unsigned)i % WORKERS, receiver_poll, &r[i],
                                         sizeof r[i], receiver_drop),
                         0);
    pthread_t rth, pth;
    assert_int_equal(pthread_create(&rth, NULL, receiver_thread, &trx), 0);
    struct producer p[PRODUCERS];
    prokio_task_t *hp[PRODUCERS - 1];
    for (int i = 0; i < PRODUCERS; i++)
        p[i] = (struct producer){.tx = prokio_broadcast_tx_clone(tx), .id = (uint64_t)i};
    prokio_broadcast_tx_release(tx);
    for (int i = 0; i < PRODUCERS - 1; i++)
        assert_int_equal(
            prokio_spawn_on(&hp[i], rt, (unsigned)i + 1, producer_poll, &p[i], sizeof p[i], NULL),
            0);
    assert_int_equal(pthread_create(&pth, NULL, producer_thread, &p[PRODUCERS - 1]), 0);

    uint64_t sent = per_producer * PRODUCERS;
    for (int i = 0; i < PRODUCERS - 1; i++) {
        assert_int_equal(prokio_task_blocking_join(hp[i]), 0);
        memcpy(&p[i], prokio_task_frame(hp[i]), sizeof p[i]);
        prokio_task_release(hp[i]);
    }
    pthread_join(pth, NULL);
    for (int i = 0; i < PRODUCERS; i++)
        assert_int_equal(p[i].bad, 0);
    uint64_t lags = 0;
    for (int i = 0; i < TASK_RX; i++) {
        assert_int_equal(prokio_task_blocking_join(hr[i]), 0);
        memcpy(&r[i], prokio_task_frame(hr[i]), sizeof r[i]);
        prokio_task_release(hr[i]);
        check_account(&r[i].a, sent, "task receiver", i);
        printf("# task receiver %d (yields every %d): seen %llu, missed %llu\n", i, speeds[i],
               (unsigned long long)r[i].a.seen, (unsigned long long)r[i].a.missed);
        lags += r[i].a.lags;
    }
    pthread_join(rth, NULL);
    check_account(&trx.a, sent, "thread receiver", 0);
    /* Every value went exactly once: overwritten, or with the channel. */
    assert_int_equal(atomic_load(&drops), (long)sent);
    printf("# %llu values sent, %llu lag reports across %d task receivers\n",
           (unsigned long long)sent, (unsigned long long)lags, TASK_RX);
    test_runtime_free(rt);
}

int main(void)
{
    test_watchdog("broadcast-lag", 60);
    if (test_reduced()) {
        per_producer /= 10;
        printf("# sanitizer or valgrind run: counts divided by 10\n");
    }
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_lag_accounting)};
    return cmocka_run_group_tests_name("broadcast lag accounting", tests, NULL, NULL);
}
