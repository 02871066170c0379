/* tools/bench.c: Prokio's micro-benchmarks, the counterpart of the Tokio
 * peer (../shared/peers/tokio): same work, sizes, warm-up, repetitions and
 * output format, so ../shared/peers/compare.sh can put them side by side.
 *
 *   bench BENCH WORKERS [SIZES...]       backend from PROKIO_BACKEND
 *
 *   spawn_many        WORKERS N [reps]    one task spawns N empty tasks, awaits every handle
 *   yield_many        WORKERS T Y [reps]  T tasks yield Y times each
 *   chained_spawn     WORKERS N [reps]    each task spawns the next, depth N
 *   ping_pong         WORKERS R [reps]    R round trips over two bounded(1) mpsc channels
 *   ping_pong_2w      WORKERS R [reps]    the same, the two tasks on workers 0 and 1
 *   ping_pong_oneshot WORKERS R [reps]    R round trips, two fresh oneshots each
 *   wake_ping_pong    WORKERS R [reps]    two tasks on two workers wake each other R times
 *   timers            WORKERS N [reps]    N tasks sleeping 1..100 ms (fixed seed)
 *   timers_1m         WORKERS [N] [reps]  one task arms N (1,000,000) sleeps, cancels a third,
 *                                         fires the rest (paused clock): ns per arm/cancel/fire
 *   idle_tasks        WORKERS N           N tasks parked on never-fired oneshots: RSS per task
 *   mutex             WORKERS N [reps]    N uncontended lock_poll + unlock pairs (and
 *                                         try_lock + unlock), shared and PROKIO_LOCAL
 *
 * Each benchmark runs one untimed warm-up repetition and then `reps` timed
 * ones (default 5) inside a task (never in block_on's thread), and prints one
 * line of key=value figures: the median repetition, and the fastest as
 * *_min. Durations are wall-clock time over the operation count.
 *
 * Speed figures are for benchmarks, not tests: run this next to the peer in
 * the same environment (see the peers README on GLIBC_TUNABLES). */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <prokio.h>

static const char usage[] =
    "usage: bench BENCH WORKERS [SIZES...]   (backend: PROKIO_BACKEND)\n"
    "  spawn_many        WORKERS N [reps]\n"
    "  yield_many        WORKERS T Y [reps]\n"
    "  chained_spawn     WORKERS N [reps]\n"
    "  ping_pong         WORKERS R [reps]   (PROKIO_LOCAL channels, then shared ones)\n"
    "  ping_pong_2w      WORKERS R [reps]   (the ponger on worker 1 when WORKERS >= 2)\n"
    "  ping_pong_oneshot WORKERS R [reps]   (PROKIO_LOCAL oneshots, then shared ones)\n"
    "  wake_ping_pong    WORKERS R [reps]   (two tasks on workers 0 and 1 when WORKERS >= 2)\n"
    "  timers            WORKERS N [reps]\n"
    "  timers_1m         WORKERS [N] [reps]\n"
    "  idle_tasks        WORKERS N\n"
    "  mutex             WORKERS N [reps]\n";

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static unsigned long arg(int argc, char **argv, int i, long dflt)
{
    if (i >= argc) {
        if (dflt < 0) {
            fputs(usage, stderr);
            exit(2);
        }
        return (unsigned long)dflt;
    }
    char *end;
    unsigned long v = strtoul(argv[i], &end, 10);
    if (*end || end == argv[i] || v == 0) {
        fprintf(stderr, "bench: argument %d must be a positive number, not '%s'\n", i, argv[i]);
        exit(2);
    }
    return v;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Median and fastest repetition, per operation. */
static void per_op(uint64_t *d, unsigned reps, uint64_t ops, double *med, double *min)
{
    qsort(d, reps, sizeof *d, cmp_u64);
    *med = (double)d[reps / 2] / (double)ops;
    *min = (double)d[0] / (double)ops;
}

static void fail(const char *what, int rc)
{
    fprintf(stderr, "bench: %s: %s (%s)\n", what, prokio_err_name(rc), prokio_last_error());
    exit(1);
}

static int empty_poll(void *frame, prokio_cx_t *cx)
{
    (void)frame, (void)cx;
    return 0;
}

/* ------------------------------------------------------------ spawn_many */

struct spawn_many {
    int co;
    unsigned rep, reps;
    size_t n, i;
    prokio_task_t **h;
    uint64_t t0, *d;
};

static int spawn_many_poll(void *frame, prokio_cx_t *cx)
{
    struct spawn_many *b = frame;
    prokio_runtime_t *rt = prokio_cx_runtime(cx);
    int rc;
    PROKIO_BEGIN(&b->co);
    for (b->rep = 0; b->rep <= b->reps; b->rep++) {
        b->t0 = now_ns();
        for (b->i = 0; b->i < b->n; b->i++)
            if ((rc = prokio_spawn(&b->h[b->i], rt, empty_poll, NULL, 0, NULL)) < 0)
                fail("spawn", rc);
        for (b->i = 0; b->i < b->n; b->i++) {
            PROKIO_AWAIT(&b->co, prokio_task_join_poll(b->h[b->i], cx));
            prokio_task_release(b->h[b->i]);
        }
        if (b->rep > 0) /* the first is the warm-up */
            b->d[b->rep - 1] = now_ns() - b->t0;
    }
    PROKIO_END(&b->co, 0);
}

/* ------------------------------------------------------------ yield_many */

struct yielder {
    int co;
    size_t i, y;
};

static int yielder_poll(void *frame, prokio_cx_t *cx)
{
    struct yielder *t = frame;
    PROKIO_BEGIN(&t->co);
    for (t->i = 0; t->i < t->y; t->i++)
        PROKIO_YIELD(&t->co, cx);
    PROKIO_END(&t->co, 0);
}

struct yield_many {
    int co;
    unsigned rep, reps;
    size_t t, y, i;
    prokio_task_t **h;
    uint64_t t0, *d;
};

static int yield_many_poll(void *frame, prokio_cx_t *cx)
{
    struct yield_many *b = frame;
    int rc;
    PROKIO_BEGIN(&b->co);
    for (b->rep = 0; b->rep <= b->reps; b->rep++) {
        b->t0 = now_ns();
        for (b->i = 0; b->i < b->t; b->i++) {
            struct yielder y = {.y = b->y};
            if ((rc = prokio_spawn(&b->h[b->i], prokio_cx_runtime(cx), yielder_poll, &y, sizeof y,
                                   NULL)) < 0)
                fail("spawn", rc);
        }
        for (b->i = 0; b->i < b->t; b->i++) {
            PROKIO_AWAIT(&b->co, prokio_task_join_poll(b->h[b->i], cx));
            prokio_task_release(b->h[b->i]);
        }
        if (b->rep > 0)
            b->d[b->rep - 1] = now_ns() - b->t0;
    }
    PROKIO_END(&b->co, 0);
}

/* --------------------------------------------------------- chained_spawn */

struct link {
    size_t left;
    prokio_oneshot_tx_t *done;
};

static int link_poll(void *frame, prokio_cx_t *cx)
{
    struct link *l = frame;
    if (l->left == 0) {
        prokio_oneshot_send(l->done, NULL);
        return 0;
    }
    struct link next = {l->left - 1, l->done};
    int rc = prokio_spawn(NULL, prokio_cx_runtime(cx), link_poll, &next, sizeof next, NULL);
    if (rc < 0)
        fail("spawn", rc);
    return 0;
}

struct chained {
    int co;
    unsigned rep, reps;
    size_t n;
    prokio_oneshot_rx_t *rx;
    uint64_t t0, *d;
};

static int chained_poll(void *frame, prokio_cx_t *cx)
{
    struct chained *b = frame;
    int rc;
    PROKIO_BEGIN(&b->co);
    for (b->rep = 0; b->rep <= b->reps; b->rep++) {
        {
            prokio_oneshot_tx_t *tx;
            if ((rc = prokio_oneshot_new(&tx, &b->rx, 0, NULL, 0)) < 0)
                fail("oneshot", rc);
            b->t0 = now_ns();
            struct link first = {b->n, tx};
            if ((rc = link_poll(&first, cx)) < 0)
                fail("chain", rc);
        }
        PROKIO_AWAIT_INTO(&b->co, rc, prokio_oneshot_recv_poll(b->rx, NULL, cx));
        if (rc < 0)
            fail("chain end", rc);
        prokio_oneshot_rx_release(b->rx);
        if (b->rep > 0)
            b->d[b->rep - 1] = now_ns() - b->t0;
    }
    PROKIO_END(&b->co, 0);
}

/* ------------------------------------------------------------- ping_pong */

/* The Tokio peer's ping_pong: two bounded mpsc channels of capacity 1; the
 * pinger sends i on one and awaits i back on the other, R times. The ponger
 * echoes until its channel closes. ping_pong_2w puts the ponger on another
 * worker (every hand-over a cross-thread wake). */
struct mpsc_ponger {
    int co;
    prokio_mpsc_rx_t *rx;
    prokio_mpsc_tx_t *tx;
    prokio_wait_t wait;
    uint64_t v;
};

static int mpsc_ponger_poll(void *frame, prokio_cx_t *cx)
{
    struct mpsc_ponger *g = frame;
    int rc;
    PROKIO_BEGIN(&g->co);
    for (;;) {
        PROKIO_AWAIT_INTO(&g->co, rc, prokio_mpsc_recv_poll(g->rx, &g->v, cx));
        if (rc < 0)
            break; /* the pinger is done */
        PROKIO_AWAIT_INTO(&g->co, rc, prokio_mpsc_send_poll(&g->wait, g->tx, &g->v, cx));
        if (rc < 0)
            break;
    }
    prokio_mpsc_rx_release(g->rx);
    prokio_mpsc_tx_release(g->tx);
    PROKIO_END(&g->co, 0);
}

struct ping_pong {
    int co;
    unsigned rep, reps, flags, ponger_worker;
    uint64_t r, i, got;
    prokio_mpsc_tx_t *tx;
    prokio_mpsc_rx_t *rx;
    prokio_wait_t wait;
    prokio_task_t *ponger;
    uint64_t t0, *d;
};

static int ping_pong_poll(void *frame, prokio_cx_t *cx)
{
    struct ping_pong *b = frame;
    prokio_runtime_t *rt = prokio_cx_runtime(cx);
    int rc;
    PROKIO_BEGIN(&b->co);
    for (b->rep = 0; b->rep <= b->reps; b->rep++) {
        {
            struct mpsc_ponger g = {0};
            /* Another worker than this task's (block_on picks any). */
            unsigned w = (prokio_cx_worker(cx) + b->ponger_worker) % prokio_runtime_workers(rt);
            if ((rc = prokio_mpsc_new(&b->tx, &g.rx, sizeof(uint64_t), 1, NULL, b->flags)) < 0 ||
                (rc = prokio_mpsc_new(&g.tx, &b->rx, sizeof(uint64_t), 1, NULL, b->flags)) < 0)
                fail("mpsc", rc);
            rc = b->ponger_worker == 0
                     ? prokio_spawn_local(&b->ponger, mpsc_ponger_poll, &g, sizeof g, NULL, cx)
                     : prokio_spawn_on(&b->ponger, rt, w, mpsc_ponger_poll, &g, sizeof g, NULL);
            if (rc < 0)
                fail("ponger", rc);
        }
        b->t0 = now_ns();
        for (b->i = 0; b->i < b->r; b->i++) {
            PROKIO_AWAIT_INTO(&b->co, rc, prokio_mpsc_send_poll(&b->wait, b->tx, &b->i, cx));
            if (rc < 0)
                fail("ponger gone", rc);
            PROKIO_AWAIT_INTO(&b->co, rc, prokio_mpsc_recv_poll(b->rx, &b->got, cx));
            if (rc < 0 || b->got != b->i)
                fail("reply", rc < 0 ? rc : PROKIO_EIO);
        }
        if (b->rep > 0)
            b->d[b->rep - 1] = now_ns() - b->t0;
        prokio_mpsc_tx_release(b->tx);
        PROKIO_AWAIT(&b->co, prokio_task_join_poll(b->ponger, cx));
        prokio_task_release(b->ponger);
        prokio_mpsc_rx_release(b->rx);
    }
    PROKIO_END(&b->co, 0);
}

/* ----------------------------------------------------- ping_pong_oneshot */

/* A ping carries the sender for its reply and the receiver of the next
 * ping: every round trip creates, sends on and receives from two fresh
 * oneshots (the Tokio peer's ping_pong_oneshot). */
struct ping {
    uint64_t v;
    prokio_oneshot_tx_t *reply;
    prokio_oneshot_rx_t *next;
};

struct ponger {
    int co;
    prokio_oneshot_rx_t *rx;
    struct ping p;
};

static int ponger_poll(void *frame, prokio_cx_t *cx)
{
    struct ponger *g = frame;
    int rc;
    PROKIO_BEGIN(&g->co);
    for (;;) {
        PROKIO_AWAIT_INTO(&g->co, rc, prokio_oneshot_recv_poll(g->rx, &g->p, cx));
        prokio_oneshot_rx_release(g->rx);
        if (rc < 0)
            break; /* the pinger is done */
        prokio_oneshot_send(g->p.reply, &g->p.v);
        g->rx = g->p.next;
    }
    PROKIO_END(&g->co, 0);
}

struct ping_pong_oneshot {
    int co;
    unsigned flags; /* 0, or PROKIO_LOCAL: both tasks on this worker */
    unsigned rep, reps;
    uint64_t r, i, got;
    prokio_oneshot_tx_t *tx;
    prokio_oneshot_rx_t *reply;
    prokio_task_t *ponger;
    uint64_t t0, *d;
};

static int ping_pong_oneshot_poll(void *frame, prokio_cx_t *cx)
{
    struct ping_pong_oneshot *b = frame;
    int rc;
    PROKIO_BEGIN(&b->co);
    for (b->rep = 0; b->rep <= b->reps; b->rep++) {
        {
            struct ponger g = {0};
            if ((rc = prokio_oneshot_new(&b->tx, &g.rx, sizeof(struct ping), NULL, b->flags)) < 0 ||
                (rc = b->flags ? prokio_spawn_local(&b->ponger, ponger_poll, &g, sizeof g, NULL, cx)
                               : prokio_spawn(&b->ponger, prokio_cx_runtime(cx), ponger_poll, &g,
                                              sizeof g, NULL)) < 0)
                fail("ponger", rc);
        }
        b->t0 = now_ns();
        for (b->i = 0; b->i < b->r; b->i++) {
            {
                struct ping p = {.v = b->i};
                prokio_oneshot_tx_t *next_tx;
                if ((rc = prokio_oneshot_new(&next_tx, &p.next, sizeof(struct ping), NULL,
                                             b->flags)) < 0 ||
                    (rc = prokio_oneshot_new(&p.reply, &b->reply, sizeof(uint64_t), NULL,
                                             b->flags)) < 0)
                    fail("oneshot", rc);
                if ((rc = prokio_oneshot_send(b->tx, &p)) < 0)
                    fail("ponger gone", rc);
                b->tx = next_tx;
            }
            PROKIO_AWAIT_INTO(&b->co, rc, prokio_oneshot_recv_poll(b->reply, &b->got, cx));
            prokio_oneshot_rx_release(b->reply);
            if (rc < 0 || b->got != b->i)
                fail("reply", rc < 0 ? rc : PROKIO_EIO);
        }
        if (b->rep > 0)
            b->d[b->rep - 1] = now_ns() - b->t0;
        prokio_oneshot_tx_release(b->tx);
        PROKIO_AWAIT(&b->co, prokio_task_join_poll(b->ponger, cx));
        prokio_task_release(b->ponger);
    }
    PROKIO_END(&b->co, 0);
}

/* -------------------------------------------------------- wake_ping_pong */

/* Two tasks, normally on two workers, hand a counter back and forth with
 * nothing but wakers: each hand-over is one cross-thread wake of a parked
 * worker, the path remote wakes and the backends' wake() take. */
struct court {
    _Atomic uint64_t ball; /* even: A's turn, odd: B's */
    _Atomic(prokio_waker_t *) waker[2];
    uint64_t rounds;
};

struct player {
    struct court *court;
    int side;
};

static int player_poll(void *frame, prokio_cx_t *cx)
{
    struct player *p = frame;
    struct court *c = p->court;
    for (;;) {
        uint64_t ball = atomic_load_explicit(&c->ball, memory_order_acquire);
        if (ball >= 2 * c->rounds)
            return 0;
        if ((int)(ball & 1) != p->side) {
            /* Not our turn: publish our waker, then look again, so that a
             * hit between the two is not lost. */
            prokio_waker_t *old =
                atomic_exchange(&c->waker[p->side], prokio_waker_clone(prokio_cx_waker(cx)));
            if (old)
                prokio_waker_release(old);
            if ((int)(atomic_load_explicit(&c->ball, memory_order_acquire) & 1) != p->side)
                return PROKIO_PENDING;
            continue;
        }
        atomic_store_explicit(&c->ball, ball + 1, memory_order_release);
        prokio_waker_t *w = atomic_exchange(&c->waker[!p->side], NULL);
        if (w)
            prokio_waker_wake(w);
    }
}

struct wake_ping_pong {
    int co;
    unsigned rep, reps;
    struct court court;
    prokio_task_t *h[2];
    uint64_t t0, *d;
};

static int wake_ping_pong_poll(void *frame, prokio_cx_t *cx)
{
    struct wake_ping_pong *b = frame;
    prokio_runtime_t *rt = prokio_cx_runtime(cx);
    unsigned workers = prokio_runtime_workers(rt);
    int rc;
    PROKIO_BEGIN(&b->co);
    for (b->rep = 0; b->rep <= b->reps; b->rep++) {
        atomic_store(&b->court.ball, 0);
        b->t0 = now_ns();
        for (int side = 0; side < 2; side++) {
            struct player p = {&b->court, side};
            if ((rc = prokio_spawn_on(&b->h[side], rt, (unsigned)side % workers, player_poll, &p,
                                      sizeof p, NULL)) < 0)
                fail("spawn", rc);
        }
        PROKIO_AWAIT(&b->co, prokio_task_join_poll(b->h[0], cx));
        PROKIO_AWAIT(&b->co, prokio_task_join_poll(b->h[1], cx));
        if (b->rep > 0)
            b->d[b->rep - 1] = now_ns() - b->t0;
        prokio_task_release(b->h[0]);
        prokio_task_release(b->h[1]);
        for (int side = 0; side < 2; side++) {
            prokio_waker_t *w = atomic_exchange(&b->court.waker[side], NULL);
            if (w)
                prokio_waker_release(w);
        }
    }
    PROKIO_END(&b->co, 0);
}

/* ---------------------------------------------------------------- timers */

/* splitmix64 with the peer's seed: the same sleep mix every run. */
static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

struct sleeper {
    int co;
    uint64_t ms, t0;
    int64_t late_ns; /* output */
    prokio_sleep_t sleep;
};

static int sleeper_poll(void *frame, prokio_cx_t *cx)
{
    struct sleeper *s = frame;
    PROKIO_BEGIN(&s->co);
    s->t0 = now_ns();
    prokio_sleep_init(&s->sleep, PROKIO_MS(s->ms));
    PROKIO_AWAIT(&s->co, prokio_sleep_poll(&s->sleep, cx));
    s->late_ns = (int64_t)(now_ns() - s->t0) - (int64_t)PROKIO_MS(s->ms);
    PROKIO_END(&s->co, 0);
}

struct timers {
    int co;
    unsigned rep, reps;
    size_t n, i;
    uint64_t *ms;
    prokio_task_t **h;
    int64_t *late; /* n * reps */
    uint64_t t0, *walls, *spawns;
};

static int timers_poll(void *frame, prokio_cx_t *cx)
{
    struct timers *b = frame;
    int rc;
    PROKIO_BEGIN(&b->co);
    for (b->rep = 0; b->rep <= b->reps; b->rep++) {
        b->t0 = now_ns();
        for (b->i = 0; b->i < b->n; b->i++) {
            struct sleeper s = {.ms = b->ms[b->i]};
            if ((rc = prokio_spawn(&b->h[b->i], prokio_cx_runtime(cx), sleeper_poll, &s, sizeof s,
                                   NULL)) < 0)
                fail("spawn", rc);
        }
        if (b->rep > 0)
            b->spawns[b->rep - 1] = now_ns() - b->t0;
        for (b->i = 0; b->i < b->n; b->i++) {
            PROKIO_AWAIT(&b->co, prokio_task_join_poll(b->h[b->i], cx));
            if (b->rep > 0)
                b->late[(b->rep - 1) * b->n + b->i] =
                    ((struct sleeper *)prokio_task_frame(b->h[b->i]))->late_ns;
            prokio_task_release(b->h[b->i]);
        }
        if (b->rep > 0)
            b->walls[b->rep - 1] = now_ns() - b->t0;
    }
    PROKIO_END(&b->co, 0);
}

/* timers_1m: the cost of one timer with a million pending on the worker.
 * Deadlines are spread over an hour (fixed seed); the clock is paused so
 * that firing is one advance, and each phase is timed as a whole. */
struct timers_1m {
    unsigned rep, reps;
    size_t n, fired;
    prokio_sleep_t *s;
    uint64_t *arm, *cancel, *fire; /* per rep, ns for the phase */
    size_t *cancels;
    uint64_t t0;
    int waiting;
};

static int timers_1m_poll(void *frame, prokio_cx_t *cx)
{
    struct timers_1m *b = frame;
    for (; b->rep <= b->reps; b->rep++) {
        unsigned r = b->rep ? b->rep - 1 : 0;
        if (!b->waiting) {
            /* Paused first, so no deadline passes while a million are armed. */
            int rc = prokio_runtime_time_pause(prokio_cx_runtime(cx));
            if (rc < 0)
                fail("timers_1m pause", rc);
            uint64_t seed = 0x5EED1234, base = prokio_cx_now_ns(cx);
            b->t0 = now_ns();
            for (size_t i = 0; i < b->n; i++) {
                prokio_sleep_init_until(&b->s[i], base + 1 + splitmix64(&seed) % PROKIO_SEC(3600));
                if (prokio_sleep_poll(&b->s[i], cx) != PROKIO_PENDING)
                    fail("timers_1m arm", PROKIO_EIO);
            }
            b->arm[r] = now_ns() - b->t0;
            b->cancels[r] = 0;
            b->t0 = now_ns();
            for (size_t i = 0; i < b->n; i++)
                if (splitmix64(&seed) % 3 == 0) {
                    prokio_sleep_cancel(&b->s[i]);
                    b->cancels[r]++;
                }
            b->cancel[r] = now_ns() - b->t0;
            if ((rc = prokio_runtime_time_advance(prokio_cx_runtime(cx), PROKIO_SEC(3601))) < 0)
                fail("timers_1m advance", rc);
            b->t0 = now_ns();
            b->waiting = 1;
            return PROKIO_PENDING; /* polled again once the worker fired them all */
        }
        b->fire[r] = now_ns() - b->t0;
        b->waiting = 0;
        b->fired = 0;
        for (size_t i = 0; i < b->n; i++)
            b->fired += prokio_sleep_poll(&b->s[i], cx) == 0;
        if (b->fired + b->cancels[r] != b->n)
            fail("timers_1m count", PROKIO_EIO);
        if (prokio_runtime_time_resume(prokio_cx_runtime(cx)) < 0)
            fail("timers_1m resume", PROKIO_EIO);
    }
    return 0;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* ------------------------------------------------------------ idle_tasks */

static _Atomic size_t idle_polled;

struct idle {
    int co;
    prokio_oneshot_rx_t *rx;
};

static int idle_poll(void *frame, prokio_cx_t *cx)
{
    struct idle *t = frame;
    PROKIO_BEGIN(&t->co);
    atomic_fetch_add_explicit(&idle_polled, 1, memory_order_relaxed);
    PROKIO_AWAIT(&t->co, prokio_oneshot_recv_poll(t->rx, NULL, cx));
    PROKIO_END(&t->co, 0);
}

static void idle_drop(void *frame)
{
    prokio_oneshot_rx_release(((struct idle *)frame)->rx);
}

static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
            break;
    if (f)
        fclose(f);
    return kib;
}

struct idle_tasks {
    int co;
    size_t n, i;
    prokio_oneshot_tx_t **senders;
    long before, after;
    prokio_sleep_t nap;
};

static int idle_tasks_poll(void *frame, prokio_cx_t *cx)
{
    struct idle_tasks *b = frame;
    int rc;
    PROKIO_BEGIN(&b->co);
    b->before = rss_kib();
    for (b->i = 0; b->i < b->n; b->i++) {
        struct idle t = {0};
        if ((rc = prokio_oneshot_new(&b->senders[b->i], &t.rx, 0, NULL, 0)) < 0 ||
            (rc = prokio_spawn(NULL, prokio_cx_runtime(cx), idle_poll, &t, sizeof t, idle_drop)) <
                0)
            fail("spawn", rc);
    }
    /* Let every task run to its first await (waker registered). */
    while (atomic_load_explicit(&idle_polled, memory_order_relaxed) < b->n) {
        prokio_sleep_init(&b->nap, PROKIO_MS(1));
        PROKIO_AWAIT(&b->co, prokio_sleep_poll(&b->nap, cx));
    }
    b->after = rss_kib();
    PROKIO_END(&b->co, 0);
}

/* ----------------------------------------------------------------- mutex */

/* Four series, each `reps` timed repetitions after a warm-up: lock_poll +
 * unlock and try_lock + unlock, on a shared mutex and on a PROKIO_LOCAL
 * one. lock_poll spends the coop budget, so the task yields every 128
 * pairs: that is part of the figure, as it is of any loop of ready locks. */
enum { MUTEX_SERIES = 4 };

struct mutex_bench {
    size_t n, i;
    unsigned rep, reps, series;
    prokio_mutex_t *m;
    prokio_wait_t w;
    uint64_t t0, *d[MUTEX_SERIES];
};

static int mutex_bench_poll(void *frame, prokio_cx_t *cx)
{
    struct mutex_bench *b = frame;
    while (b->series < MUTEX_SERIES) {
        if (b->m == NULL) {
            int rc = prokio_mutex_new(&b->m, b->series >= 2 ? PROKIO_LOCAL : 0);
            if (rc < 0)
                fail("mutex_new", rc);
            b->rep = 0;
            b->i = 0;
            b->t0 = now_ns();
        }
        bool try = b->series % 2;
        for (; b->i < b->n; b->i++) {
            if (try) {
                if (prokio_mutex_try_lock(b->m) != 0)
                    fail("try_lock", PROKIO_EAGAIN);
            } else {
                int rc = prokio_mutex_lock_poll(&b->w, b->m, cx);
                if (rc == PROKIO_PENDING)
                    return rc; /* the coop budget: polled again at once */
                if (rc < 0)
                    fail("lock_poll", rc);
            }
            prokio_mutex_unlock(b->m);
        }
        uint64_t t = now_ns();
        if (b->rep > 0) /* 0 is the warm-up */
            b->d[b->series][b->rep - 1] = t - b->t0;
        b->t0 = now_ns();
        b->i = 0;
        if (++b->rep <= b->reps)
            continue;
        prokio_mutex_free(b->m);
        b->m = NULL;
        b->series++;
    }
    return 0;
}

/* ------------------------------------------------------------------ main */

int main(int argc, char **argv)
{
    if (argc < 3) {
        fputs(usage, stderr);
        return 2;
    }
    const char *bench = argv[1];
    unsigned workers = (unsigned)arg(argc, argv, 2, -1);
    prokio_runtime_t *rt;
    prokio_runtime_options_t o = PROKIO_RUNTIME_OPTIONS_INIT;
    o.workers = workers;
    int rc = prokio_runtime_new(&rt, &o);
    if (rc < 0)
        fail("runtime", rc);
    char head[160];
    snprintf(head, sizeof head, "bench=%s flavour=prokio backend=%s workers=%u", bench,
             prokio_runtime_backend_name(rt), prokio_runtime_workers(rt));
    double med, min;

    if (strcmp(bench, "spawn_many") == 0) {
        struct spawn_many b = {.n = arg(argc, argv, 3, -1),
                               .reps = (unsigned)arg(argc, argv, 4, 5)};
        b.h = malloc(b.n * sizeof *b.h);
        b.d = malloc(b.reps * sizeof *b.d);
        if ((rc = prokio_runtime_block_on(rt, spawn_many_poll, &b, sizeof b, NULL)) < 0)
            fail("spawn_many", rc);
        per_op(b.d, b.reps, b.n, &med, &min);
        printf("%s n=%zu reps=%u ns_per_task=%.1f ns_per_task_min=%.1f\n", head, b.n, b.reps, med,
               min);
        free(b.h);
        free(b.d);
    } else if (strcmp(bench, "yield_many") == 0) {
        struct yield_many b = {.t = arg(argc, argv, 3, -1),
                               .y = arg(argc, argv, 4, -1),
                               .reps = (unsigned)arg(argc, argv, 5, 5)};
        b.h = malloc(b.t * sizeof *b.h);
        b.d = malloc(b.reps * sizeof *b.d);
        if ((rc = prokio_runtime_block_on(rt, yield_many_poll, &b, sizeof b, NULL)) < 0)
            fail("yield_many", rc);
        per_op(b.d, b.reps, b.t * b.y, &med, &min);
        printf("%s tasks=%zu yields=%zu reps=%u ns_per_yield=%.1f ns_per_yield_min=%.1f\n", head,
               b.t, b.y, b.reps, med, min);
        free(b.h);
        free(b.d);
    } else if (strcmp(bench, "chained_spawn") == 0) {
        struct chained b = {.n = arg(argc, argv, 3, -1), .reps = (unsigned)arg(argc, argv, 4, 5)};
        b.d = malloc(b.reps * sizeof *b.d);
        if ((rc = prokio_runtime_block_on(rt, chained_poll, &b, sizeof b, NULL)) < 0)
            fail("chained_spawn", rc);
        per_op(b.d, b.reps, b.n, &med, &min);
        printf("%s depth=%zu reps=%u ns_per_spawn=%.1f ns_per_spawn_min=%.1f\n", head, b.n, b.reps,
               med, min);
        free(b.d);
    } else if (strcmp(bench, "ping_pong") == 0 || strcmp(bench, "ping_pong_2w") == 0) {
        /* As ping_pong_oneshot: with both tasks on one worker, the
         * headline is PROKIO_LOCAL channels (what a program makes there),
         * and the shared kind is measured too (ns_per_rt_shared). */
        bool two = strcmp(bench, "ping_pong_2w") == 0;
        struct ping_pong b = {.r = arg(argc, argv, 3, -1),
                              .reps = (unsigned)arg(argc, argv, 4, 5),
                              .ponger_worker = two ? 1 : 0};
        double shared_med = 0, shared_min = 0;
        b.d = malloc(b.reps * sizeof *b.d);
        for (int pass = two ? 1 : 0; pass < 2; pass++) {
            b.flags = pass == 0 ? PROKIO_LOCAL : 0;
            if ((rc = prokio_runtime_block_on(rt, ping_pong_poll, &b, sizeof b, NULL)) < 0)
                fail(bench, rc);
            per_op(b.d, b.reps, b.r, pass == 0 ? &med : &shared_med,
                   pass == 0 ? &min : &shared_min);
        }
        if (two)
            med = shared_med, min = shared_min;
        printf("%s chan=mpsc_bounded1%s round_trips=%llu reps=%u ns_per_rt=%.1f "
               "ns_per_rt_min=%.1f ns_per_rt_shared=%.1f ns_per_rt_shared_min=%.1f\n",
               head, two ? "" : "_local", (unsigned long long)b.r, b.reps, med, min, shared_med,
               shared_min);
        free(b.d);
    } else if (strcmp(bench, "ping_pong_oneshot") == 0) {
        /* With one worker, the channels are what a program would make
         * there: PROKIO_LOCAL (the headline, ns_per_rt). The shared kind,
         * which any thread may use, is measured too (ns_per_rt_shared). */
        struct ping_pong_oneshot b = {.r = arg(argc, argv, 3, -1),
                                      .reps = (unsigned)arg(argc, argv, 4, 5)};
        bool one = prokio_runtime_workers(rt) == 1;
        double shared_med = 0, shared_min = 0;
        b.d = malloc(b.reps * sizeof *b.d);
        for (int pass = one ? 0 : 1; pass < 2; pass++) {
            b.flags = pass == 0 ? PROKIO_LOCAL : 0;
            if ((rc = prokio_runtime_block_on(rt, ping_pong_oneshot_poll, &b, sizeof b, NULL)) < 0)
                fail("ping_pong_oneshot", rc);
            per_op(b.d, b.reps, b.r, pass == 0 ? &med : &shared_med,
                   pass == 0 ? &min : &shared_min);
        }
        if (!one)
            med = shared_med, min = shared_min;
        printf("%s chan=oneshot_chain%s round_trips=%llu reps=%u ns_per_rt=%.1f "
               "ns_per_rt_min=%.1f ns_per_rt_shared=%.1f ns_per_rt_shared_min=%.1f\n",
               head, one ? "_local" : "", (unsigned long long)b.r, b.reps, med, min, shared_med,
               shared_min);
        free(b.d);
    } else if (strcmp(bench, "wake_ping_pong") == 0) {
        struct wake_ping_pong b = {.reps = (unsigned)arg(argc, argv, 4, 5)};
        b.court.rounds = arg(argc, argv, 3, -1);
        b.d = malloc(b.reps * sizeof *b.d);
        if ((rc = prokio_runtime_block_on(rt, wake_ping_pong_poll, &b, sizeof b, NULL)) < 0)
            fail("wake_ping_pong", rc);
        per_op(b.d, b.reps, b.court.rounds, &med, &min);
        printf("%s round_trips=%llu cross_thread=%s reps=%u ns_per_rt=%.1f ns_per_rt_min=%.1f\n",
               head, (unsigned long long)b.court.rounds,
               prokio_runtime_workers(rt) >= 2 ? "yes" : "no", b.reps, med, min);
        free(b.d);
    } else if (strcmp(bench, "timers") == 0) {
        struct timers b = {.n = arg(argc, argv, 3, -1), .reps = (unsigned)arg(argc, argv, 4, 5)};
        uint64_t seed = 0x5EED1234;
        b.ms = malloc(b.n * sizeof *b.ms);
        for (size_t i = 0; i < b.n; i++)
            b.ms[i] = 1 + splitmix64(&seed) % 100;
        b.h = malloc(b.n * sizeof *b.h);
        b.late = malloc(b.n * b.reps * sizeof *b.late);
        b.walls = malloc(b.reps * sizeof *b.walls);
        b.spawns = malloc(b.reps * sizeof *b.spawns);
        if ((rc = prokio_runtime_block_on(rt, timers_poll, &b, sizeof b, NULL)) < 0)
            fail("timers", rc);
        size_t nl = b.n * b.reps, early = 0;
        qsort(b.late, nl, sizeof *b.late, cmp_i64);
        qsort(b.walls, b.reps, sizeof *b.walls, cmp_u64);
        qsort(b.spawns, b.reps, sizeof *b.spawns, cmp_u64);
        for (size_t i = 0; i < nl; i++)
            early += b.late[i] < 0;
        size_t p99 = nl * 99 / 100 < nl ? nl * 99 / 100 : nl - 1;
        printf("%s n=%zu sleep_ms=1..100 reps=%u spawn_ms=%.1f wall_ms=%.1f late_p50_us=%.1f "
               "late_p99_us=%.1f late_max_us=%.1f early=%zu\n",
               head, b.n, b.reps, (double)b.spawns[b.reps / 2] / 1e6,
               (double)b.walls[b.reps / 2] / 1e6, (double)b.late[nl / 2] / 1e3,
               (double)b.late[p99] / 1e3, (double)b.late[nl - 1] / 1e3, early);
        free(b.ms);
        free(b.h);
        free(b.late);
        free(b.walls);
        free(b.spawns);
    } else if (strcmp(bench, "timers_1m") == 0) {
        struct timers_1m b = {.n = arg(argc, argv, 3, 1000000),
                              .reps = (unsigned)arg(argc, argv, 4, 3)};
        b.s = calloc(b.n, sizeof *b.s);
        b.arm = calloc(b.reps, sizeof *b.arm);
        b.cancel = calloc(b.reps, sizeof *b.cancel);
        b.fire = calloc(b.reps, sizeof *b.fire);
        b.cancels = calloc(b.reps, sizeof *b.cancels);
        if (!b.s || !b.arm || !b.cancel || !b.fire || !b.cancels)
            fail("timers_1m", PROKIO_ENOMEM);
        if ((rc = prokio_runtime_block_on(rt, timers_1m_poll, &b, sizeof b, NULL)) < 0)
            fail("timers_1m", rc);
        double arm_med, arm_min, cancel_med, cancel_min, fire_med, fire_min;
        size_t cancels = b.cancels[0];
        per_op(b.arm, b.reps, b.n, &arm_med, &arm_min);
        per_op(b.cancel, b.reps, cancels, &cancel_med, &cancel_min);
        per_op(b.fire, b.reps, b.n - cancels, &fire_med, &fire_min);
        printf("%s n=%zu cancelled=%zu reps=%u ns_per_arm=%.1f ns_per_arm_min=%.1f "
               "ns_per_cancel=%.1f ns_per_cancel_min=%.1f ns_per_fire=%.1f ns_per_fire_min=%.1f\n",
               head, b.n, cancels, b.reps, arm_med, arm_min, cancel_med, cancel_min, fire_med,
               fire_min);
        free(b.s);
        free(b.arm);
        free(b.cancel);
        free(b.fire);
        free(b.cancels);
    } else if (strcmp(bench, "idle_tasks") == 0) {
        struct idle_tasks b = {.n = arg(argc, argv, 3, -1)};
        b.senders = malloc(b.n * sizeof *b.senders); /* untouched until the tasks exist */
        if ((rc = prokio_runtime_block_on(rt, idle_tasks_poll, &b, sizeof b, NULL)) < 0)
            fail("idle_tasks", rc);
        double per_task = (double)(b.after - b.before) * 1024.0 / (double)b.n;
        printf("%s n=%zu rss_before_kib=%ld rss_after_kib=%ld rss_bytes_per_task=%.1f\n", head, b.n,
               b.before, b.after, per_task);
        fflush(stdout);
        /* Tear down for real (not measured): shutdown cancels every idle
         * task and runs its drop, which releases its receiver. */
        if ((rc = prokio_runtime_shutdown(rt)) < 0)
            fail("shutdown", rc);
        for (size_t i = 0; i < b.n; i++)
            prokio_oneshot_tx_release(b.senders[i]);
        free(b.senders);
    } else if (strcmp(bench, "mutex") == 0) {
        struct mutex_bench b = {.n = arg(argc, argv, 3, -1),
                                .reps = (unsigned)arg(argc, argv, 4, 5)};
        for (int k = 0; k < MUTEX_SERIES; k++)
            b.d[k] = malloc(b.reps * sizeof *b.d[k]);
        if ((rc = prokio_runtime_block_on(rt, mutex_bench_poll, &b, sizeof b, NULL)) < 0)
            fail("mutex", rc);
        double f[MUTEX_SERIES][2];
        for (int k = 0; k < MUTEX_SERIES; k++) {
            per_op(b.d[k], b.reps, b.n, &f[k][0], &f[k][1]);
            free(b.d[k]);
        }
        printf("%s pairs=%zu reps=%u ns_per_pair=%.1f ns_per_pair_min=%.1f ns_per_try_pair=%.1f "
               "ns_per_pair_local=%.1f ns_per_pair_local_min=%.1f ns_per_try_pair_local=%.1f\n",
               head, b.n, b.reps, f[0][0], f[0][1], f[1][0], f[2][0], f[2][1], f[3][0]);
    } else {
        fprintf(stderr, "bench: unknown benchmark '%s'\n%s", bench, usage);
        prokio_runtime_free(rt);
        return 2;
    }
    if ((rc = prokio_runtime_free(rt)) < 0)
        fail("runtime_free", rc);
    return 0;
}
