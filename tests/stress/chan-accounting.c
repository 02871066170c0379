/* tests/stress/chan-accounting.c: every mpsc message accounted for exactly.
 *
 * Rounds of one channel each: capacity 1..1024 (or unbounded), 1..8
 * producers, some tasks on either worker, some plain threads, one receiver
 * task borrowing the receiver (kept here, outside any task). While a round
 * runs, the main thread aborts receiver tasks (and spawns a new one on the
 * same rx) and producer tasks at random; producers send through
 * prokio_select_poll against a short sleep and through prokio_timeout_poll
 * (a send the sleep beats is cancelled by the select or the timeout, and
 * tried again), cancel their wait for capacity by hand at random, and
 * some send through reserve + permit_send across a yield. A quarter of the
 * rounds end with the receiver released while values are buffered.
 *
 * Every message a producer started ends exactly once: delivered (the
 * receiver sees it, in its producer's order, with no gap), returned to its
 * sender (a failed send, or a task aborted while waiting), or dropped
 * through value_drop. The channel never holds more than its capacity.
 * At least 1,000,000 messages in a plain build; a tenth under sanitizers
 * or PROKIO_TEST_TIMEOUT_SCALE > 1 (valgrind), as the TAP output says. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <time.h>

#include "common.h"

enum { MAXP = 8, WORKERS = 2 };
enum { OUT_DELIVERED = 1, OUT_RETURNED = 2, OUT_DROPPED = 3 };

struct msg {
    uint32_t p, seq;
    uint64_t check;
};

static uint64_t check_of(uint32_t p, uint32_t seq)
{
    return ((uint64_t)p * 0x9e3779b97f4a7c15u) ^ (uint64_t)seq * 0xbf58476d1ce4e5b9u;
}

struct round {
    prokio_mpsc_rx_t *rx;
    size_t cap;
    unsigned np, per;
    _Atomic unsigned char *out; /* [MAXP][per]: how each message ended */
    atomic_uint bad_out;        /* a message that ended twice */
    atomic_uint attempted[MAXP];
    atomic_uint next[MAXP]; /* the receiver's next expected seq */
    atomic_uint order_bad, over_cap, corrupt;
    atomic_uint dropped_waits; /* sends a select or a timeout gave up */
    atomic_long progress;
};

static struct round *cur; /* for value_drop */

static void mark(struct round *r, uint32_t p, uint32_t seq, unsigned char how)
{
    if (p >= r->np || seq >= r->per) {
        atomic_fetch_add(&r->corrupt, 1);
        return;
    }
    unsigned char expected = 0;
    if (!atomic_compare_exchange_strong(&r->out[(size_t)p * r->per + seq], &expected, how))
        atomic_fetch_add(&r->bad_out, 1);
    atomic_fetch_add_explicit(&r->progress, 1, memory_order_relaxed);
}

static void value_drop(void *v)
{
    struct msg *m = v;
    if (m->check != check_of(m->p, m->seq))
        atomic_fetch_add(&cur->corrupt, 1);
    mark(cur, m->p, m->seq, OUT_DROPPED);
}

static uint64_t xorshift(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* ------------------------------------------------------------ producers */

/* How an attempt to send one message goes: a plain send, a reserve then
 * a send with the permit, a select between the send and a short sleep, or
 * a timeout around the send. When the sleep wins, the select (or the
 * timeout) cancels the send through its branch: the message was not
 * copied, and the producer tries again. */
enum { MODE_SEND, MODE_RESERVE, MODE_SELECT, MODE_TIMEOUT, MODES };

struct tproducer {
    struct round *r;
    prokio_mpsc_tx_t *tx;
    prokio_wait_t wait;
    prokio_sleep_t nap;
    struct msg m; /* the message of the attempt in flight */
    uint32_t p, seq;
    int mode;
    bool inflight, attempt, permit;
    uint64_t rng;
};

static int send_branch_poll(void *future, prokio_cx_t *cx)
{
    struct tproducer *f = future;
    return prokio_mpsc_send_poll(&f->wait, f->tx, &f->m, cx);
}

static void send_branch_cancel(void *future)
{
    prokio_wait_cancel(&((struct tproducer *)future)->wait);
}

static int tproducer_poll(void *frame, prokio_cx_t *cx)
{
    struct tproducer *f = frame;
    struct round *r = f->r;
    while (f->seq < r->per) {
        if (!f->inflight) {
            f->inflight = true;
            atomic_fetch_add(&r->attempted[f->p], 1);
        }
        if (!f->attempt) {
            f->attempt = true;
            f->m = (struct msg){f->p, f->seq, check_of(f->p, f->seq)};
            uint64_t x = xorshift(&f->rng);
            f->mode = (int)(x % 16 < 9    ? MODE_SEND
                            : x % 16 < 11 ? MODE_RESERVE
                            : x % 16 < 14 ? MODE_SELECT
                                          : MODE_TIMEOUT);
            if (f->mode == MODE_SELECT || f->mode == MODE_TIMEOUT)
                prokio_sleep_init(&f->nap, PROKIO_US(xorshift(&f->rng) % 50));
        }
        struct msg m = f->m;
        int rc;
        if (f->mode == MODE_SELECT && !f->permit) {
            size_t won;
            prokio_branch_t b[2] = {{send_branch_poll, f, send_branch_cancel},
                                    prokio_branch_sleep(&f->nap)};
            rc = prokio_select_poll(&won, b, 2, 0, cx);
            if (rc == PROKIO_PENDING)
                return rc;
            if (won == 1) { /* the sleep won: the send was cancelled */
                atomic_fetch_add(&r->dropped_waits, 1);
                f->attempt = false;
                continue;
            }
        } else if (f->mode == MODE_TIMEOUT && !f->permit) {
            rc = prokio_timeout_poll(
                &f->nap, (prokio_branch_t){send_branch_poll, f, send_branch_cancel}, cx);
            if (rc == PROKIO_PENDING)
                return rc;
            if (rc == PROKIO_ETIMEDOUT) {
                atomic_fetch_add(&r->dropped_waits, 1);
                f->attempt = false;
                continue;
            }
        } else if (f->permit) {
            /* Holding a permit across a yield: an abort here returns it. */
            rc = prokio_mpsc_permit_send(&f->wait, &m);
            f->permit = false;
        } else if (f->mode == MODE_RESERVE) {
            rc = prokio_mpsc_reserve_poll(&f->wait, f->tx, cx);
            if (rc == 0) {
                f->permit = true;
                return prokio_cx_yield(cx);
            }
        } else {
            rc = prokio_mpsc_send_poll(&f->wait, f->tx, &m, cx);
        }
        if (rc == PROKIO_PENDING) {
            if (prokio_wait_is_pending(&f->wait) && xorshift(&f->rng) % 4 == 0) {
                /* As a select of the caller's own would: abandon, start again. */
                prokio_wait_cancel(&f->wait);
                f->attempt = false;
                return prokio_cx_yield(cx);
            }
            return PROKIO_PENDING;
        }
        f->inflight = false;
        f->attempt = false;
        if (rc < 0) {
            mark(r, f->p, f->seq, OUT_RETURNED);
            f->seq = r->per; /* closed: stop */
            break;
        }
        f->seq++;
    }
    prokio_mpsc_tx_release(f->tx);
    f->tx = NULL;
    return 0;
}

static void tproducer_drop(void *frame)
{
    struct tproducer *f = frame;
    /* Aborted: the runtime cancelled the wait (and gave back a permit)
     * before this runs; the message in flight was never copied. */
    if (f->inflight)
        mark(f->r, f->p, f->seq, OUT_RETURNED);
    prokio_mpsc_tx_release(f->tx);
}

struct thproducer {
    struct round *r;
    prokio_mpsc_tx_t *tx;
    uint32_t p;
    pthread_t th;
};

static void *thproducer_main(void *arg)
{
    struct thproducer *t = arg;
    struct round *r = t->r;
    for (uint32_t seq = 0; seq < r->per; seq++) {
        atomic_fetch_add(&r->attempted[t->p], 1);
        struct msg m = {t->p, seq, check_of(t->p, seq)};
        int rc = seq % 3 == 0 ? prokio_mpsc_try_send(t->tx, &m) : PROKIO_EAGAIN;
        if (rc == PROKIO_EAGAIN)
            rc = prokio_mpsc_blocking_send(t->tx, &m);
        if (rc < 0) {
            mark(r, t->p, seq, OUT_RETURNED);
            break;
        }
    }
    prokio_mpsc_tx_release(t->tx);
    return NULL;
}

/* ------------------------------------------------------------- receiver */

struct receiver {
    struct round *r;
    int rc;
    unsigned many;
    struct msg buf[8];
};

static int receiver_poll(void *frame, prokio_cx_t *cx)
{
    struct receiver *f = frame;
    struct round *r = f->r;
    for (;;) {
        int rc = f->many ? prokio_mpsc_recv_many_poll(r->rx, f->buf, f->many, cx)
                         : prokio_mpsc_recv_poll(r->rx, f->buf, cx);
        if (rc == PROKIO_PENDING)
            return rc;
        if (rc < 0) {
            f->rc = rc;
            return 0;
        }
        if (r->cap && prokio_mpsc_rx_len(r->rx) > r->cap)
            atomic_fetch_add(&r->over_cap, 1);
        unsigned n = f->many ? (unsigned)rc : 1;
        for (unsigned k = 0; k < n; k++) {
            struct msg *m = &f->buf[k];
            if (m->check != check_of(m->p, m->seq) || m->p >= r->np) {
                atomic_fetch_add(&r->corrupt, 1);
                continue;
            }
            if (atomic_load(&r->next[m->p]) != m->seq)
                atomic_fetch_add(&r->order_bad, 1);
            atomic_store(&r->next[m->p], m->seq + 1);
            mark(r, m->p, m->seq, OUT_DELIVERED);
        }
    }
}

/* ---------------------------------------------------------------- rounds */

struct totals {
    unsigned long msgs, delivered, returned, dropped, aborts_rx, aborts_tx, rounds, dropped_waits;
};

static prokio_task_t *spawn_receiver(prokio_runtime_t *rt, struct round *r, uint64_t *rng)
{
    struct receiver f = {.r = r, .many = (unsigned)(xorshift(rng) % 3 == 0 ? 8 : 0)};
    prokio_task_t *h;
    assert_int_equal(prokio_spawn_on(&h, rt, (unsigned)(xorshift(rng) % WORKERS), receiver_poll, &f,
                                     sizeof f, NULL),
                     0);
    return h;
}

static void run_round(prokio_runtime_t *rt, uint64_t *rng, unsigned per, struct totals *t)
{
    static const size_t caps[] = {1, 2, 3, 5, 8, 16, 64, 100, 256, 1024, 0};
    struct round *r = calloc(1, sizeof *r);
    assert_non_null(r);
    r->cap = caps[xorshift(rng) % (sizeof caps / sizeof *caps)];
    r->np = 1 + (unsigned)(xorshift(rng) % MAXP);
    r->per = per / r->np;
    r->out = calloc((size_t)MAXP * r->per, 1);
    assert_non_null(r->out);
    cur = r;
    bool release_early = xorshift(rng) % 4 == 0;

    prokio_mpsc_tx_t *tx;
    assert_int_equal(prokio_mpsc_new(&tx, &r->rx, sizeof(struct msg), r->cap, value_drop, 0), 0);
    prokio_task_t *recv = spawn_receiver(rt, r, rng);
    prokio_task_t *ptask[MAXP] = {0};
    struct thproducer th[MAXP];
    bool is_thread[MAXP];
    for (unsigned p = 0; p < r->np; p++) {
        prokio_mpsc_tx_t *mine = p + 1 < r->np ? prokio_mpsc_tx_clone(tx) : tx;
        is_thread[p] = xorshift(rng) % 3 == 0;
        if (is_thread[p]) {
            th[p] = (struct thproducer){.r = r, .tx = mine, .p = p};
            assert_int_equal(pthread_create(&th[p].th, NULL, thproducer_main, &th[p]), 0);
        } else {
            struct tproducer f = {.r = r, .tx = mine, .p = p, .rng = xorshift(rng) | 1};
            assert_int_equal(prokio_spawn_on(&ptask[p], rt, p % WORKERS, tproducer_poll, &f,
                                             sizeof f, tproducer_drop),
                             0);
        }
    }
    /* Chaos while the producers run. */
    uint64_t deadline = 0;
    long last = -1;
    for (unsigned i = 0;; i++) {
        bool running = false;
        for (unsigned p = 0; p < r->np; p++)
            if (!is_thread[p] && ptask[p] && prokio_task_result(ptask[p]) == PROKIO_PENDING)
                running = true;
        long total = 0;
        for (unsigned p = 0; p < r->np; p++)
            total += atomic_load(&r->attempted[p]);
        if (!running)
            break; /* the thread producers finish on their own */
        (void)total;
        uint64_t roll = xorshift(rng) % 6;
        if (roll == 0) {
            prokio_task_abort(recv);
            (void)prokio_task_blocking_join(recv);
            prokio_task_release(recv);
            recv = spawn_receiver(rt, r, rng);
            t->aborts_rx++;
        } else if (roll == 1) {
            unsigned p = (unsigned)(xorshift(rng) % r->np);
            if (!is_thread[p] && ptask[p]) {
                prokio_task_abort(ptask[p]);
                t->aborts_tx++;
            }
        }
        if (release_early && i == 50)
            break;
        /* Pacing, and a bound: no progress for the watchdog's scale. */
        long now = atomic_load(&r->progress);
        if (now != last) {
            last = now;
            deadline = 0;
        }
        struct timespec pause = {0, 20000};
        nanosleep(&pause, NULL);
        if (deadline == 0)
            deadline = i + 500000u * test_timeout_scale();
        else if (i > deadline)
            fail_msg("round stalled: %ld messages settled", now);
    }
    if (release_early) {
        /* The receiver goes with values buffered: senders get EPIPE, the
         * buffer is dropped through value_drop. */
        prokio_task_abort(recv);
        (void)prokio_task_blocking_join(recv);
        prokio_task_release(recv);
        recv = NULL;
        prokio_mpsc_rx_release(r->rx);
        r->rx = NULL;
    }
    for (unsigned p = 0; p < r->np; p++) {
        if (is_thread[p]) {
            pthread_join(th[p].th, NULL);
        } else {
            (void)prokio_task_blocking_join(ptask[p]);
            prokio_task_release(ptask[p]);
        }
    }
    if (recv) {
        /* Every sender gone: the receiver drains and ends with EPIPE. */
        int rc = prokio_task_blocking_join(recv);
        struct receiver *f = prokio_task_frame(recv);
        assert_int_equal(rc, 0);
        assert_int_equal(f->rc, PROKIO_EPIPE);
        prokio_task_release(recv);
        prokio_mpsc_rx_release(r->rx);
    }
    /* The accounts. */
    assert_int_equal(atomic_load(&r->bad_out), 0);
    assert_int_equal(atomic_load(&r->order_bad), 0);
    assert_int_equal(atomic_load(&r->over_cap), 0);
    assert_int_equal(atomic_load(&r->corrupt), 0);
    for (unsigned p = 0; p < r->np; p++) {
        unsigned a = atomic_load(&r->attempted[p]);
        assert_true(a <= r->per);
        for (unsigned s = 0; s < r->per; s++) {
            unsigned char how = atomic_load(&r->out[(size_t)p * r->per + s]);
            if (s < a && how == 0)
                fail_msg("producer %u message %u of %u started and never settled (cap %zu)", p, s,
                         a, r->cap);
            if (s >= a && how != 0)
                fail_msg("producer %u message %u settled but never started", p, s);
            t->delivered += how == OUT_DELIVERED;
            t->returned += how == OUT_RETURNED;
            t->dropped += how == OUT_DROPPED;
            t->msgs += how != 0;
        }
    }
    t->rounds++;
    t->dropped_waits += atomic_load(&r->dropped_waits);
    cur = NULL;
    free((void *)r->out);
    free(r);
}

static void test_accounting(void **state)
{
    (void)state;
    bool reduced = test_reduced();
    unsigned long target = reduced ? 100000 : 1000000;
    prokio_runtime_t *rt = test_runtime(WORKERS);
    uint64_t rng = 0x5EED1234ABCDull;
    struct totals t = {0};
    /* Until the count is reached and every ending was seen (a round whose
     * receiver goes early with nothing buffered drops nothing). */
    while ((t.msgs < target || t.dropped == 0 || t.returned == 0) && t.rounds < 1000)
        run_round(rt, &rng, 24000, &t);
    test_runtime_free(rt);
    printf("# %s%lu messages in %lu rounds: %lu delivered, %lu returned, %lu dropped; %lu "
           "receiver and %lu sender aborts; %lu sends dropped by a select or a timeout\n",
           reduced ? "reduced count (sanitizer or slow run): " : "", t.msgs, t.rounds, t.delivered,
           t.returned, t.dropped, t.aborts_rx, t.aborts_tx, t.dropped_waits);
    assert_true(t.msgs >= target);
    assert_true(t.dropped_waits > 0);
    assert_true(t.delivered > 0 && t.returned > 0 && t.dropped > 0);
}

int main(void)
{
    test_watchdog("chan-accounting", 60);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accounting),
    };
    return cmocka_run_group_tests_name("chan-accounting", tests, NULL, NULL);
}
