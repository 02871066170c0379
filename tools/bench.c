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
 * the same environment (see the peers README on GLIBC_TUNABLES).
 *
 * WebAssembly: the emscripten build makes tools/bench.js, run as
 *   node --expose-gc tools/bench.js BENCH [SIZES...]
 * with the JS peer's command line (../shared/peers/js/bench.mjs: no
 * WORKERS, there is one) and output (flavour=wasm). main returns to the JS
 * event loop at once (prokio_runtime_run_main) and the root task runs the
 * benchmark, as natively. tools/bench-wasm.sh runs both side by side. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <prokio.h>

#ifdef __EMSCRIPTEN__
#include <emscripten.h>
#define BENCH_WASM 1
#else
#define BENCH_WASM 0
#endif

static const char usage[] =
#ifdef __EMSCRIPTEN__
    "usage: node --expose-gc bench.js BENCH [SIZES...]   (one worker: WORKERS is not given)\n"
#else
    "usage: bench BENCH WORKERS [SIZES...]   (backend: PROKIO_BACKEND)\n"
#endif
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

#ifdef __EMSCRIPTEN__
/* node's resident set, read as ../shared/peers/js/bench.mjs reads it
 * (process.memoryUsage().rss after a collection when node runs with
 * --expose-gc): the pages of the wasm heap count there once touched, as a
 * JS program's objects do. The heap's own growth (sbrk) is printed too. */
#define RSS_SOURCE "node_process.memoryUsage.rss"
/* clang-format off */
EM_JS(double, js_rss_bytes, (void), {
    if (typeof process === 'undefined' || !process.memoryUsage) return -1;
    if (typeof globalThis.gc === 'function') globalThis.gc();
    return process.memoryUsage().rss;
});
/* clang-format on */

static long rss_kib(void)
{
    double bytes = js_rss_bytes();
    return bytes < 0 ? -1 : (long)(bytes / 1024 + 0.5);
}
#else
#define RSS_SOURCE "VmRSS"
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
#endif

/* The top of the C heap. On wasm every allocation comes from it, so its
 * growth is what the tasks took from the allocator whatever the JS engine
 * made resident (printed as heap_bytes_per_task); natively the pools map
 * their own memory, so it is not printed there. */
static uintptr_t heap_top(void)
{
    return (uintptr_t)sbrk(0);
}

struct idle_tasks {
    int co;
    size_t n, i;
    prokio_oneshot_tx_t **senders;
    long before, after;
    uintptr_t heap_before, heap_after;
    prokio_sleep_t nap;
};

static int idle_tasks_poll(void *frame, prokio_cx_t *cx)
{
    struct idle_tasks *b = frame;
    int rc;
    PROKIO_BEGIN(&b->co);
    b->before = rss_kib();
    b->heap_before = heap_top();
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
    b->heap_after = heap_top();
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

/* One benchmark run. main fills it from the command line; the root task
 * (prokio_runtime_run_main) runs the benchmark's poll once per pass and
 * prints the figures, so the same code drives the native build and the
 * WebAssembly one, where main must return to the JS event loop before any
 * task runs. */
struct run;

struct bench_def {
    const char *name;
    /* Parses the sizes, allocates, returns the number of passes. */
    unsigned (*setup)(struct run *r);
    /* Runs before pass `pass` (may be NULL). */
    void (*before_pass)(struct run *r, unsigned pass);
    /* Polls the benchmark's frame in r->u. */
    prokio_poll_fn poll;
    /* Runs after pass `pass` (may be NULL). */
    void (*after_pass)(struct run *r, unsigned pass);
    /* Prints the line of figures and frees; runs in the root task. */
    void (*report)(struct run *r, prokio_cx_t *cx);
};

struct run {
    const struct bench_def *def;
    int argc, base; /* argv[base] is the first size */
    char **argv;
    char head[160];
    unsigned pass, passes;
    bool in_pass;
    double med, min, shared_med, shared_min;
    union {
        struct spawn_many spawn_many;
        struct yield_many yield_many;
        struct chained chained;
        struct ping_pong ping_pong;
        struct ping_pong_oneshot ping_pong_oneshot;
        struct wake_ping_pong wake_ping_pong;
        struct timers timers;
        struct timers_1m timers_1m;
        struct idle_tasks idle_tasks;
        struct mutex_bench mutex;
    } u;
};

/* The k-th size argument (0 = the first after BENCH, and WORKERS natively). */
static unsigned long size_arg(const struct run *r, int k, long dflt)
{
    return arg(r->argc, r->argv, r->base + k, dflt);
}

static void *xmalloc(size_t n)
{
    void *p = calloc(n ? n : 1, 1);
    if (p == NULL)
        fail("malloc", PROKIO_ENOMEM);
    return p;
}

static unsigned spawn_many_setup(struct run *r)
{
    struct spawn_many *b = &r->u.spawn_many;
    b->n = size_arg(r, 0, -1);
    b->reps = (unsigned)size_arg(r, 1, 5);
    b->h = xmalloc(b->n * sizeof *b->h);
    b->d = xmalloc(b->reps * sizeof *b->d);
    return 1;
}

static void spawn_many_report(struct run *r, prokio_cx_t *cx)
{
    (void)cx;
    struct spawn_many *b = &r->u.spawn_many;
    per_op(b->d, b->reps, b->n, &r->med, &r->min);
    printf("%s n=%zu reps=%u ns_per_task=%.1f ns_per_task_min=%.1f\n", r->head, b->n, b->reps,
           r->med, r->min);
    free(b->h);
    free(b->d);
}

static unsigned yield_many_setup(struct run *r)
{
    struct yield_many *b = &r->u.yield_many;
    b->t = size_arg(r, 0, -1);
    b->y = size_arg(r, 1, -1);
    b->reps = (unsigned)size_arg(r, 2, 5);
    b->h = xmalloc(b->t * sizeof *b->h);
    b->d = xmalloc(b->reps * sizeof *b->d);
    return 1;
}

static void yield_many_report(struct run *r, prokio_cx_t *cx)
{
    (void)cx;
    struct yield_many *b = &r->u.yield_many;
    per_op(b->d, b->reps, b->t * b->y, &r->med, &r->min);
    printf("%s tasks=%zu yields=%zu reps=%u ns_per_yield=%.1f ns_per_yield_min=%.1f\n", r->head,
           b->t, b->y, b->reps, r->med, r->min);
    free(b->h);
    free(b->d);
}

static unsigned chained_setup(struct run *r)
{
    struct chained *b = &r->u.chained;
    b->n = size_arg(r, 0, -1);
    b->reps = (unsigned)size_arg(r, 1, 5);
    b->d = xmalloc(b->reps * sizeof *b->d);
    return 1;
}

static void chained_report(struct run *r, prokio_cx_t *cx)
{
    (void)cx;
    struct chained *b = &r->u.chained;
    per_op(b->d, b->reps, b->n, &r->med, &r->min);
    printf("%s depth=%zu reps=%u ns_per_spawn=%.1f ns_per_spawn_min=%.1f\n", r->head, b->n, b->reps,
           r->med, r->min);
    free(b->d);
}

/* ping_pong and ping_pong_2w. As ping_pong_oneshot: with both tasks on one
 * worker, the headline is PROKIO_LOCAL channels (what a program makes
 * there), and the shared kind is measured too (ns_per_rt_shared). */
static bool ping_pong_two(const struct run *r)
{
    return strcmp(r->def->name, "ping_pong_2w") == 0;
}

static unsigned ping_pong_setup(struct run *r)
{
    struct ping_pong *b = &r->u.ping_pong;
    b->r = size_arg(r, 0, -1);
    b->reps = (unsigned)size_arg(r, 1, 5);
    b->ponger_worker = ping_pong_two(r) ? 1 : 0;
    b->d = xmalloc(b->reps * sizeof *b->d);
    r->pass = ping_pong_two(r) ? 1 : 0; /* pass 0: PROKIO_LOCAL, 1: shared */
    return 2;
}

static void ping_pong_before(struct run *r, unsigned pass)
{
    r->u.ping_pong.flags = pass == 0 ? PROKIO_LOCAL : 0;
}

static void ping_pong_after(struct run *r, unsigned pass)
{
    struct ping_pong *b = &r->u.ping_pong;
    per_op(b->d, b->reps, b->r, pass == 0 ? &r->med : &r->shared_med,
           pass == 0 ? &r->min : &r->shared_min);
}

static void ping_pong_report(struct run *r, prokio_cx_t *cx)
{
    (void)cx;
    struct ping_pong *b = &r->u.ping_pong;
    bool two = ping_pong_two(r);
    if (two)
        r->med = r->shared_med, r->min = r->shared_min;
    printf("%s chan=mpsc_bounded1%s round_trips=%llu reps=%u ns_per_rt=%.1f "
           "ns_per_rt_min=%.1f ns_per_rt_shared=%.1f ns_per_rt_shared_min=%.1f\n",
           r->head, two ? "" : "_local", (unsigned long long)b->r, b->reps, r->med, r->min,
           r->shared_med, r->shared_min);
    free(b->d);
}

/* With one worker, the channels are what a program would make there:
 * PROKIO_LOCAL (the headline, ns_per_rt). The shared kind, which any
 * thread may use, is measured too (ns_per_rt_shared). */
static unsigned pp_oneshot_setup(struct run *r)
{
    struct ping_pong_oneshot *b = &r->u.ping_pong_oneshot;
    b->r = size_arg(r, 0, -1);
    b->reps = (unsigned)size_arg(r, 1, 5);
    b->d = xmalloc(b->reps * sizeof *b->d);
    return 2; /* pass 0 (one worker only): PROKIO_LOCAL, 1: shared */
}

static void pp_oneshot_before(struct run *r, unsigned pass)
{
    r->u.ping_pong_oneshot.flags = pass == 0 ? PROKIO_LOCAL : 0;
}

static void pp_oneshot_after(struct run *r, unsigned pass)
{
    struct ping_pong_oneshot *b = &r->u.ping_pong_oneshot;
    per_op(b->d, b->reps, b->r, pass == 0 ? &r->med : &r->shared_med,
           pass == 0 ? &r->min : &r->shared_min);
}

static void pp_oneshot_report(struct run *r, prokio_cx_t *cx)
{
    struct ping_pong_oneshot *b = &r->u.ping_pong_oneshot;
    bool one = prokio_runtime_workers(prokio_cx_runtime(cx)) == 1;
    if (!one)
        r->med = r->shared_med, r->min = r->shared_min;
    printf("%s chan=oneshot_chain%s round_trips=%llu reps=%u ns_per_rt=%.1f "
           "ns_per_rt_min=%.1f ns_per_rt_shared=%.1f ns_per_rt_shared_min=%.1f\n",
           r->head, one ? "_local" : "", (unsigned long long)b->r, b->reps, r->med, r->min,
           r->shared_med, r->shared_min);
    free(b->d);
}

static unsigned wake_pp_setup(struct run *r)
{
    struct wake_ping_pong *b = &r->u.wake_ping_pong;
    b->court.rounds = size_arg(r, 0, -1);
    b->reps = (unsigned)size_arg(r, 1, 5);
    b->d = xmalloc(b->reps * sizeof *b->d);
    return 1;
}

static void wake_pp_report(struct run *r, prokio_cx_t *cx)
{
    struct wake_ping_pong *b = &r->u.wake_ping_pong;
    per_op(b->d, b->reps, b->court.rounds, &r->med, &r->min);
    printf("%s round_trips=%llu cross_thread=%s reps=%u ns_per_rt=%.1f ns_per_rt_min=%.1f\n",
           r->head, (unsigned long long)b->court.rounds,
           prokio_runtime_workers(prokio_cx_runtime(cx)) >= 2 ? "yes" : "no", b->reps, r->med,
           r->min);
    free(b->d);
}

static unsigned timers_setup(struct run *r)
{
    struct timers *b = &r->u.timers;
    b->n = size_arg(r, 0, -1);
    b->reps = (unsigned)size_arg(r, 1, 5);
    uint64_t seed = 0x5EED1234;
    b->ms = xmalloc(b->n * sizeof *b->ms);
    for (size_t i = 0; i < b->n; i++)
        b->ms[i] = 1 + splitmix64(&seed) % 100;
    b->h = xmalloc(b->n * sizeof *b->h);
    b->late = xmalloc(b->n * b->reps * sizeof *b->late);
    b->walls = xmalloc(b->reps * sizeof *b->walls);
    b->spawns = xmalloc(b->reps * sizeof *b->spawns);
    return 1;
}

static void timers_report(struct run *r, prokio_cx_t *cx)
{
    (void)cx;
    struct timers *b = &r->u.timers;
    size_t nl = b->n * b->reps, early = 0;
    qsort(b->late, nl, sizeof *b->late, cmp_i64);
    qsort(b->walls, b->reps, sizeof *b->walls, cmp_u64);
    qsort(b->spawns, b->reps, sizeof *b->spawns, cmp_u64);
    for (size_t i = 0; i < nl; i++)
        early += b->late[i] < 0;
    size_t p99 = nl * 99 / 100 < nl ? nl * 99 / 100 : nl - 1;
    printf("%s n=%zu sleep_ms=1..100 reps=%u spawn_ms=%.1f wall_ms=%.1f late_min_us=%.1f "
           "late_p50_us=%.1f late_p99_us=%.1f late_max_us=%.1f early=%zu\n",
           r->head, b->n, b->reps, (double)b->spawns[b->reps / 2] / 1e6,
           (double)b->walls[b->reps / 2] / 1e6, (double)b->late[0] / 1e3,
           (double)b->late[nl / 2] / 1e3, (double)b->late[p99] / 1e3, (double)b->late[nl - 1] / 1e3,
           early);
    free(b->ms);
    free(b->h);
    free(b->late);
    free(b->walls);
    free(b->spawns);
}

static unsigned timers_1m_setup(struct run *r)
{
    struct timers_1m *b = &r->u.timers_1m;
    b->n = size_arg(r, 0, 1000000);
    b->reps = (unsigned)size_arg(r, 1, 3);
    b->s = xmalloc(b->n * sizeof *b->s);
    b->arm = xmalloc(b->reps * sizeof *b->arm);
    b->cancel = xmalloc(b->reps * sizeof *b->cancel);
    b->fire = xmalloc(b->reps * sizeof *b->fire);
    b->cancels = xmalloc(b->reps * sizeof *b->cancels);
    return 1;
}

static void timers_1m_report(struct run *r, prokio_cx_t *cx)
{
    (void)cx;
    struct timers_1m *b = &r->u.timers_1m;
    double arm_med, arm_min, cancel_med, cancel_min, fire_med, fire_min;
    size_t cancels = b->cancels[0];
    per_op(b->arm, b->reps, b->n, &arm_med, &arm_min);
    per_op(b->cancel, b->reps, cancels, &cancel_med, &cancel_min);
    per_op(b->fire, b->reps, b->n - cancels, &fire_med, &fire_min);
    printf("%s n=%zu cancelled=%zu reps=%u ns_per_arm=%.1f ns_per_arm_min=%.1f "
           "ns_per_cancel=%.1f ns_per_cancel_min=%.1f ns_per_fire=%.1f ns_per_fire_min=%.1f\n",
           r->head, b->n, cancels, b->reps, arm_med, arm_min, cancel_med, cancel_min, fire_med,
           fire_min);
    free(b->s);
    free(b->arm);
    free(b->cancel);
    free(b->fire);
    free(b->cancels);
}

static unsigned idle_tasks_setup(struct run *r)
{
    struct idle_tasks *b = &r->u.idle_tasks;
    b->n = size_arg(r, 0, -1);
    /* malloc, not calloc: untouched (not resident) until the tasks exist,
     * as the peers' Vec of senders. */
    b->senders = malloc(b->n * sizeof *b->senders);
    if (b->senders == NULL)
        fail("malloc", PROKIO_ENOMEM);
    return 1;
}

static void idle_tasks_report(struct run *r, prokio_cx_t *cx)
{
    (void)cx;
    struct idle_tasks *b = &r->u.idle_tasks;
    double per_task = (double)(b->after - b->before) * 1024.0 / (double)b->n;
    printf("%s n=%zu rss_before_kib=%ld rss_after_kib=%ld rss_bytes_per_task=%.1f measured=%s",
           r->head, b->n, b->before, b->after, per_task, RSS_SOURCE);
#ifdef __EMSCRIPTEN__
    printf(" heap_bytes_per_task=%.1f", (double)(b->heap_after - b->heap_before) / (double)b->n);
#endif
    putchar('\n');
    fflush(stdout);
    /* Tear down (not measured): closing the senders ends every idle task,
     * whose drop releases its receiver; the runtime then frees them. */
    for (size_t i = 0; i < b->n; i++)
        prokio_oneshot_tx_release(b->senders[i]);
    free(b->senders);
}

static unsigned mutex_setup(struct run *r)
{
    struct mutex_bench *b = &r->u.mutex;
    b->n = size_arg(r, 0, -1);
    b->reps = (unsigned)size_arg(r, 1, 5);
    for (int k = 0; k < MUTEX_SERIES; k++)
        b->d[k] = xmalloc(b->reps * sizeof *b->d[k]);
    return 1;
}

static void mutex_report(struct run *r, prokio_cx_t *cx)
{
    (void)cx;
    struct mutex_bench *b = &r->u.mutex;
    double f[MUTEX_SERIES][2];
    for (int k = 0; k < MUTEX_SERIES; k++) {
        per_op(b->d[k], b->reps, b->n, &f[k][0], &f[k][1]);
        free(b->d[k]);
    }
    printf("%s pairs=%zu reps=%u ns_per_pair=%.1f ns_per_pair_min=%.1f ns_per_try_pair=%.1f "
           "ns_per_pair_local=%.1f ns_per_pair_local_min=%.1f ns_per_try_pair_local=%.1f\n",
           r->head, b->n, b->reps, f[0][0], f[0][1], f[1][0], f[2][0], f[2][1], f[3][0]);
}

static const struct bench_def benches[] = {
    {"spawn_many", spawn_many_setup, NULL, spawn_many_poll, NULL, spawn_many_report},
    {"yield_many", yield_many_setup, NULL, yield_many_poll, NULL, yield_many_report},
    {"chained_spawn", chained_setup, NULL, chained_poll, NULL, chained_report},
    {"ping_pong", ping_pong_setup, ping_pong_before, ping_pong_poll, ping_pong_after,
     ping_pong_report},
    {"ping_pong_2w", ping_pong_setup, ping_pong_before, ping_pong_poll, ping_pong_after,
     ping_pong_report},
    {"ping_pong_oneshot", pp_oneshot_setup, pp_oneshot_before, ping_pong_oneshot_poll,
     pp_oneshot_after, pp_oneshot_report},
    {"wake_ping_pong", wake_pp_setup, NULL, wake_ping_pong_poll, NULL, wake_pp_report},
    {"timers", timers_setup, NULL, timers_poll, NULL, timers_report},
    {"timers_1m", timers_1m_setup, NULL, timers_1m_poll, NULL, timers_1m_report},
    {"idle_tasks", idle_tasks_setup, NULL, idle_tasks_poll, NULL, idle_tasks_report},
    {"mutex", mutex_setup, NULL, mutex_bench_poll, NULL, mutex_report},
};

/* The root task: each pass polls the benchmark's frame in place (an await
 * of it), then the figures are printed from here. */
static int run_poll(void *frame, prokio_cx_t *cx)
{
    struct run *r = frame;
    const struct bench_def *def = r->def;
    while (r->pass < r->passes) {
        /* ping_pong_oneshot's PROKIO_LOCAL pass needs both tasks on one
         * worker: with several, only the shared pass runs. */
        if (!r->in_pass && def->poll == ping_pong_oneshot_poll && r->pass == 0 &&
            prokio_runtime_workers(prokio_cx_runtime(cx)) != 1) {
            r->pass++;
            continue;
        }
        if (!r->in_pass) {
            if (def->before_pass)
                def->before_pass(r, r->pass);
            r->in_pass = true;
        }
        int rc = def->poll(&r->u, cx);
        if (rc == PROKIO_PENDING)
            return rc;
        if (rc < 0)
            fail(def->name, rc);
        r->in_pass = false;
        if (def->after_pass)
            def->after_pass(r, r->pass);
        r->pass++;
    }
    def->report(r, cx);
    fflush(stdout);
    return 0;
}

int main(int argc, char **argv)
{
    /* Natively: bench BENCH WORKERS SIZES...; on wasm there is one worker
     * and the command line is the JS peer's: bench.js BENCH SIZES... */
    int base = BENCH_WASM ? 2 : 3;
    if (argc < base) {
        fputs(usage, stderr);
        return 2;
    }
    const struct bench_def *def = NULL;
    for (size_t i = 0; i < sizeof benches / sizeof benches[0]; i++)
        if (strcmp(argv[1], benches[i].name) == 0)
            def = &benches[i];
    if (def == NULL) {
        fprintf(stderr, "bench: unknown benchmark '%s'\n%s", argv[1], usage);
        return 2;
    }
    struct run *r = xmalloc(sizeof *r);
    r->def = def;
    r->argc = argc;
    r->argv = argv;
    r->base = base;
    r->passes = def->setup(r);

    prokio_runtime_t *rt;
    prokio_runtime_options_t o = PROKIO_RUNTIME_OPTIONS_INIT;
    o.workers = BENCH_WASM ? 1 : (unsigned)arg(argc, argv, 2, -1);
    int rc = prokio_runtime_new(&rt, &o);
    if (rc < 0)
        fail("runtime", rc);
    snprintf(r->head, sizeof r->head, "bench=%s flavour=%s backend=%s workers=%u", def->name,
             BENCH_WASM ? "wasm" : "prokio", prokio_runtime_backend_name(rt),
             prokio_runtime_workers(rt));
    /* The root task takes a copy of the frame. */
    struct run copy = *r;
    free(r);
    return prokio_runtime_run_main(rt, run_poll, &copy, sizeof copy, NULL);
}
