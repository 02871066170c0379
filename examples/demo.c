/* examples/demo.c: Prokio doing real work, end to end.
 *
 *   1. counts the primes below 4,000,000 in 64 tasks spread over the
 *      workers (spawn picks a worker by load), each yielding now and then so
 *      that no task hogs its worker;
 *   2. runs three timers on different workers and checks none fired early;
 *   3. parks a task until something outside the runtime wakes it: a plain
 *      pthread natively, a JS timer callback on WebAssembly;
 *   4. sends a value through a oneshot from one worker to another;
 *   5. streams a million numbers from producers on every worker through one
 *      bounded mpsc channel to a consumer, which checks the sum;
 *   6. runs a task group whose members share a counter under an async
 *      mutex held across an await, and collects them as they finish;
 *   7. pauses the clock and awaits a 10-minute timeout in a few
 *      milliseconds of real time;
 * and prints what happened where. The backend comes from PROKIO_BACKEND, or
 * is chosen automatically.
 *
 * The same source builds for WebAssembly, where it runs on the JS event
 * loop with one worker (main hands the root task to
 * prokio_runtime_run_main, which works on both targets).
 *
 * Build: cc demo.c $(pkg-config --cflags --libs prokio)
 *        emcc demo.c $(pkg-config --cflags --libs prokio) -sEXIT_RUNTIME=1 (wasm) */
#ifdef __EMSCRIPTEN__
#include <emscripten.h>
#else
#include <pthread.h>
#endif
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <prokio.h>

#define LIMIT  4000000u
#define CHUNKS 64u

/* ------------------------------------------------------------ 1. primes */

struct count_primes {
    int co;
    uint32_t from, to, n; /* [from, to) */
    uint32_t found;       /* output */
    unsigned worker;      /* output: where it ran */
};

static bool is_prime(uint32_t n)
{
    if (n < 2)
        return false;
    for (uint32_t d = 2; d * d <= n; d++)
        if (n % d == 0)
            return false;
    return true;
}

static int count_primes_poll(void *frame, prokio_cx_t *cx)
{
    struct count_primes *c = frame;
    PROKIO_BEGIN(&c->co);
    c->worker = prokio_cx_worker(cx);
    for (c->n = c->from; c->n < c->to; c->n++) {
        c->found += is_prime(c->n);
        if (c->n % 8192 == 0) /* be a good neighbour: let other tasks run */
            PROKIO_YIELD(&c->co, cx);
    }
    PROKIO_END(&c->co, 0);
}

/* ------------------------------------------------------------ 2. timers */

struct nap {
    int co;
    uint64_t ms, start, end;
    unsigned worker;
    prokio_sleep_t sleep;
};

static int nap_poll(void *frame, prokio_cx_t *cx)
{
    struct nap *n = frame;
    PROKIO_BEGIN(&n->co);
    n->worker = prokio_cx_worker(cx);
    n->start = prokio_cx_now_ns(cx);
    prokio_sleep_init(&n->sleep, PROKIO_MS(n->ms));
    PROKIO_AWAIT(&n->co, prokio_sleep_poll(&n->sleep, cx));
    n->end = prokio_cx_now_ns(cx);
    PROKIO_END(&n->co, 0);
}

/* -------------------------------------------------- 3. a cross-thread wake */

/* A raw poll function (no macros): the task publishes its waker and parks
 * until a thread that knows nothing of the runtime sets `ready` and wakes
 * it. */
struct mailbox {
    _Atomic int ready;
    _Atomic(prokio_waker_t *) waker;
    _Atomic int done; /* the outsider no longer touches the mailbox */
};

struct waiter {
    struct mailbox *box;
    unsigned worker;
    int polls; /* output: how often it was polled */
};

static int waiter_poll(void *frame, prokio_cx_t *cx)
{
    struct waiter *w = frame;
    w->worker = prokio_cx_worker(cx);
    w->polls++;
    if (atomic_load(&w->box->ready))
        return 0;
    prokio_waker_t *old = atomic_exchange(&w->box->waker, prokio_waker_clone(prokio_cx_waker(cx)));
    if (old)
        prokio_waker_release(old);
    /* Look again after publishing: a wake in between is not lost. */
    return atomic_load(&w->box->ready) ? 0 : PROKIO_PENDING;
}

/* What the outsider does, from a plain pthread natively or from a JS timer
 * callback on WebAssembly (where there are no threads): set `ready`, then
 * take the published waker and wake it. */
static void outside_wake(struct mailbox *box)
{
    atomic_store(&box->ready, 1);
    prokio_waker_t *w = atomic_exchange(&box->waker, NULL);
    if (w)
        prokio_waker_wake(w); /* consumes the reference */
    atomic_store(&box->done, 1);
}

#ifdef __EMSCRIPTEN__
EMSCRIPTEN_KEEPALIVE void demo_outside_wake(struct mailbox *box);
void demo_outside_wake(struct mailbox *box)
{
    outside_wake(box);
}

/* A JS setTimeout callback, outside any task, calls back into C. */
EM_JS(void, start_outsider, (struct mailbox * box), {
    setTimeout(
        function() { _demo_outside_wake(box); }, 30);
});
static const char *const outsider = "a JS timer callback";
#else
static void *outside_thread(void *arg)
{
    struct timespec pause = {0, 30 * 1000 * 1000};
    nanosleep(&pause, NULL); /* it is a demo: let the task park first */
    outside_wake(arg);
    return NULL;
}

static void start_outsider(struct mailbox *box)
{
    pthread_t th;
    if (pthread_create(&th, NULL, outside_thread, box) != 0) {
        outside_wake(box); /* no thread: wake it from here, the demo goes on */
        return;
    }
    pthread_detach(th);
}
static const char *const outsider = "a plain pthread";
#endif

/* -------------------------------------------------------- 4. a oneshot */

struct receiver {
    int co;
    prokio_oneshot_rx_t *rx;
    double value;
    int rc;
    unsigned worker;
};

static int receiver_poll(void *frame, prokio_cx_t *cx)
{
    struct receiver *r = frame;
    PROKIO_BEGIN(&r->co);
    r->worker = prokio_cx_worker(cx);
    PROKIO_AWAIT_INTO(&r->co, r->rc, prokio_oneshot_recv_poll(r->rx, &r->value, cx));
    prokio_oneshot_rx_release(r->rx);
    PROKIO_END(&r->co, r->rc);
}

struct sender {
    prokio_oneshot_tx_t *tx;
    unsigned worker;
};

static int sender_poll(void *frame, prokio_cx_t *cx)
{
    struct sender *s = frame;
    double pi = 3.14159265358979;
    s->worker = prokio_cx_worker(cx);
    return prokio_oneshot_send(s->tx, &pi);
}

/* ------------------------------------------------------------ 5. mpsc */

#define PRODUCERS    4u
#define PER_PRODUCER 250000u

struct producer {
    int co;
    prokio_mpsc_tx_t *tx;
    prokio_wait_t wait;
    uint64_t next, end;
};

static int producer_poll(void *frame, prokio_cx_t *cx)
{
    struct producer *p = frame;
    int rc;
    PROKIO_BEGIN(&p->co);
    for (; p->next < p->end; p->next++) {
        /* Waits when the channel is full: back-pressure, not memory. */
        PROKIO_AWAIT_INTO(&p->co, rc, prokio_mpsc_send_poll(&p->wait, p->tx, &p->next, cx));
        if (rc < 0)
            break;
    }
    prokio_mpsc_tx_release(p->tx);
    p->tx = NULL;
    PROKIO_END(&p->co, 0);
}

static void producer_drop(void *frame)
{
    prokio_mpsc_tx_release(((struct producer *)frame)->tx); /* NULL once done */
}

struct consumer {
    int co;
    prokio_mpsc_rx_t *rx;
    uint64_t batch[64];
    uint64_t sum, count;
};

static int consumer_poll(void *frame, prokio_cx_t *cx)
{
    struct consumer *c = frame;
    int n;
    PROKIO_BEGIN(&c->co);
    for (;;) {
        PROKIO_AWAIT_INTO(&c->co, n, prokio_mpsc_recv_many_poll(c->rx, c->batch, 64, cx));
        if (n < 0)
            break; /* PROKIO_EPIPE: every producer is done and the channel is empty */
        for (int i = 0; i < n; i++)
            c->sum += c->batch[i];
        c->count += (uint64_t)n;
    }
    prokio_mpsc_rx_release(c->rx);
    PROKIO_END(&c->co, 0);
}

/* ------------------------------------------------------ 6. group + mutex */

#define MEMBERS 8
#define ROUNDS  1000

struct member {
    int co, i, id;
    prokio_mutex_t *m;
    uint64_t *counter;
    prokio_wait_t wait;
    unsigned worker;
    uint64_t seen; /* in the frame: locals do not survive an await */
};

static int member_poll(void *frame, prokio_cx_t *cx)
{
    struct member *t = frame;
    PROKIO_BEGIN(&t->co);
    t->worker = prokio_cx_worker(cx);
    for (t->i = 0; t->i < ROUNDS; t->i++) {
        PROKIO_AWAIT(&t->co, prokio_mutex_lock_poll(&t->wait, t->m, cx));
        t->seen = *t->counter;
        /* Held across an await: other tasks, on this worker and others,
         * run meanwhile, and none can touch the counter. */
        PROKIO_YIELD(&t->co, cx);
        *t->counter = t->seen + 1;
        prokio_mutex_unlock(t->m);
    }
    PROKIO_END(&t->co, t->id);
}

/* ------------------------------------------------------ 7. paused clock */

struct never {
    prokio_oneshot_rx_t *rx;
    int value;
};

static int never_poll(void *future, prokio_cx_t *cx)
{
    struct never *n = future;
    return prokio_oneshot_recv_poll(n->rx, &n->value, cx);
}

struct deadline {
    int co, rc;
    prokio_sleep_t limit;
    struct never inner;
    prokio_branch_t branch; /* in the frame: the await resumes past any initialiser */
    uint64_t virtual_start, virtual_end;
};

static int deadline_poll(void *frame, prokio_cx_t *cx)
{
    struct deadline *d = frame;
    PROKIO_BEGIN(&d->co);
    d->virtual_start = prokio_cx_now_ns(cx);
    prokio_sleep_init(&d->limit, PROKIO_SEC(600));
    d->branch = (prokio_branch_t){never_poll, &d->inner, NULL};
    PROKIO_AWAIT_INTO(&d->co, d->rc, prokio_timeout_poll(&d->limit, d->branch, cx));
    d->virtual_end = prokio_cx_now_ns(cx);
    prokio_oneshot_rx_release(d->inner.rx);
    PROKIO_END(&d->co, 0);
}

static double ms_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

/* ------------------------------------------------------------------ main */

/* The root task: main runs it with prokio_runtime_run_main, which blocks
 * natively and, on WebAssembly, returns to the JS event loop that then
 * drives it. Everything that must survive an await lives here. */
struct demo {
    int co;
    prokio_runtime_t *rt;
    unsigned workers, i;
    struct timespec t0;
    prokio_task_t *h[CHUNKS];
    unsigned total, per_worker[64];
    prokio_task_t *nh[3];
    bool early;
    prokio_task_t *wh;
    prokio_task_t *rh, *sh;
    prokio_task_t *ph[PRODUCERS], *ch;
    bool stream_ok;
    prokio_mutex_t *m;
    uint64_t counter;
    prokio_group_t *g;
    prokio_task_t *t;
    int order[MEMBERS], n;
    prokio_oneshot_tx_t *never_tx;
    prokio_task_t *dh;
};

/* The outsider's mailbox: static, as the outsider may still be leaving it
 * when the task it woke has already ended. */
static struct mailbox box;

/* Reports a failed call and ends the root task with its error. */
#define TRY(expr, what)                                                                            \
    do {                                                                                           \
        int try_rc_ = (expr);                                                                      \
        if (try_rc_ < 0) {                                                                         \
            fprintf(stderr, "demo: %s: %s\n", what,                                                \
                    prokio_last_error()[0] ? prokio_last_error() : prokio_strerror(try_rc_));      \
            return try_rc_;                                                                        \
        }                                                                                          \
    } while (0)

static int demo_poll(void *frame, prokio_cx_t *cx)
{
    struct demo *d = frame;
    int rc;
    PROKIO_BEGIN(&d->co);
    d->rt = prokio_cx_runtime(cx);
    d->workers = prokio_runtime_workers(d->rt);
    printf("prokio %s on backend '%s' with %u worker%s\n", prokio_version_string(),
           prokio_runtime_backend_name(d->rt), d->workers, d->workers == 1 ? "" : "s");

    /* 1. Primes, in parallel. */
    clock_gettime(CLOCK_MONOTONIC, &d->t0);
    for (unsigned i = 0; i < CHUNKS; i++) {
        struct count_primes c = {.from = i * (LIMIT / CHUNKS), .to = (i + 1) * (LIMIT / CHUNKS)};
        TRY(prokio_spawn(&d->h[i], d->rt, count_primes_poll, &c, sizeof c, NULL), "spawn");
    }
    for (d->i = 0; d->i < CHUNKS; d->i++) {
        PROKIO_AWAIT_INTO(&d->co, rc, prokio_task_join_poll(d->h[d->i], cx));
        TRY(rc, "join");
        struct count_primes *c = prokio_task_frame(d->h[d->i]);
        d->total += c->found;
        d->per_worker[c->worker % 64]++;
        prokio_task_release(d->h[d->i]);
    }
    printf("1. primes below %u: %u (expected 283146), %u tasks in %.0f ms; tasks per worker:",
           LIMIT, d->total, CHUNKS, ms_since(&d->t0));
    for (unsigned w = 0; w < d->workers && w < 64; w++)
        printf(" %u", d->per_worker[w]);
    printf("\n");

    /* 2. Timers on different workers. */
    for (unsigned i = 0; i < 3; i++) {
        static const uint64_t naps_ms[3] = {30, 10, 20};
        struct nap n = {.ms = naps_ms[i]};
        TRY(prokio_spawn_on(&d->nh[i], d->rt, i % d->workers, nap_poll, &n, sizeof n, NULL),
            "spawn_on");
    }
    printf("2. timers:");
    for (d->i = 0; d->i < 3; d->i++) {
        PROKIO_AWAIT_INTO(&d->co, rc, prokio_task_join_poll(d->nh[d->i], cx));
        TRY(rc, "join");
        struct nap *n = prokio_task_frame(d->nh[d->i]);
        double slept = (double)(n->end - n->start) / 1e6;
        d->early |= n->end < n->start + PROKIO_MS(n->ms);
        printf(" %llu ms on worker %u slept %.2f ms;", (unsigned long long)n->ms, n->worker, slept);
        prokio_task_release(d->nh[d->i]);
    }
    printf(" %s\n", d->early ? "EARLY!" : "none early");

    /* 3. A wake from outside the runtime. */
    {
        struct waiter w = {.box = &box};
        TRY(prokio_spawn(&d->wh, d->rt, waiter_poll, &w, sizeof w, NULL), "spawn");
        start_outsider(&box);
    }
    PROKIO_AWAIT_INTO(&d->co, rc, prokio_task_join_poll(d->wh, cx));
    TRY(rc, "waiter");
    while (!atomic_load(&box.done)) /* microseconds: the outsider is returning */
        PROKIO_YIELD(&d->co, cx);
    prokio_waker_release(atomic_exchange(&box.waker, NULL)); /* published after the wake */
    {
        struct waiter *w = prokio_task_frame(d->wh);
        printf("3. a task on worker %u parked, then %s woke it: %d polls in all\n", w->worker,
               outsider, w->polls);
    }
    prokio_task_release(d->wh);

    /* 4. A oneshot from one worker to another. */
    {
        prokio_oneshot_tx_t *tx;
        prokio_oneshot_rx_t *rx;
        TRY(prokio_oneshot_new(&tx, &rx, sizeof(double), NULL, 0), "oneshot");
        struct receiver r = {.rx = rx};
        struct sender s = {.tx = tx};
        TRY(prokio_spawn_on(&d->rh, d->rt, 0, receiver_poll, &r, sizeof r, NULL), "spawn_on");
        TRY(prokio_spawn_on(&d->sh, d->rt, d->workers - 1, sender_poll, &s, sizeof s, NULL),
            "spawn_on");
    }
    PROKIO_AWAIT_INTO(&d->co, rc, prokio_task_join_poll(d->rh, cx));
    TRY(rc, "receive");
    PROKIO_AWAIT_INTO(&d->co, rc, prokio_task_join_poll(d->sh, cx));
    TRY(rc, "send");
    printf("4. worker %u sent %.5f through a oneshot to worker %u\n",
           ((struct sender *)prokio_task_frame(d->sh))->worker,
           ((struct receiver *)prokio_task_frame(d->rh))->value,
           ((struct receiver *)prokio_task_frame(d->rh))->worker);
    prokio_task_release(d->rh);
    prokio_task_release(d->sh);

    /* 5. A million numbers through one bounded channel. */
    {
        prokio_mpsc_tx_t *mtx;
        struct consumer cons = {0};
        TRY(prokio_mpsc_new(&mtx, &cons.rx, sizeof(uint64_t), 64, NULL, 0), "mpsc");
        clock_gettime(CLOCK_MONOTONIC, &d->t0);
        for (unsigned i = 0; i < PRODUCERS; i++) {
            struct producer p = {.tx = prokio_mpsc_tx_clone(mtx),
                                 .next = (uint64_t)i * PER_PRODUCER,
                                 .end = (uint64_t)(i + 1) * PER_PRODUCER};
            TRY(prokio_spawn_on(&d->ph[i], d->rt, i % d->workers, producer_poll, &p, sizeof p,
                                producer_drop),
                "spawn_on");
        }
        prokio_mpsc_tx_release(mtx); /* the producers hold the senders now */
        TRY(prokio_spawn(&d->ch, d->rt, consumer_poll, &cons, sizeof cons, NULL), "spawn");
    }
    for (d->i = 0; d->i < PRODUCERS; d->i++) {
        PROKIO_AWAIT_INTO(&d->co, rc, prokio_task_join_poll(d->ph[d->i], cx));
        TRY(rc, "producer");
        prokio_task_release(d->ph[d->i]);
    }
    PROKIO_AWAIT_INTO(&d->co, rc, prokio_task_join_poll(d->ch, cx));
    TRY(rc, "consumer");
    {
        struct consumer *cf = prokio_task_frame(d->ch);
        uint64_t n_all = (uint64_t)PRODUCERS * PER_PRODUCER, want = n_all * (n_all - 1) / 2;
        printf("5. %u producers on %u worker%s streamed %llu numbers through an mpsc channel of "
               "capacity 64 in %.0f ms; sum %llu (%s)\n",
               PRODUCERS, d->workers < PRODUCERS ? d->workers : PRODUCERS,
               d->workers == 1 ? "" : "s", (unsigned long long)cf->count, ms_since(&d->t0),
               (unsigned long long)cf->sum, cf->sum == want ? "right" : "WRONG");
        d->stream_ok = cf->sum == want && cf->count == n_all;
    }
    prokio_task_release(d->ch);

    /* 6. A task group sharing a counter under an async mutex. */
    TRY(prokio_mutex_new(&d->m, 0), "mutex");
    TRY(prokio_group_new(&d->g, d->rt), "group");
    for (int i = 0; i < MEMBERS; i++) {
        struct member t = {.id = i, .m = d->m, .counter = &d->counter};
        TRY(prokio_group_spawn(d->g, member_poll, &t, sizeof t, NULL), "group spawn");
    }
    for (;;) {
        PROKIO_AWAIT_INTO(&d->co, rc, prokio_group_join_next_poll(&d->t, d->g, cx));
        if (rc == PROKIO_ENOENT)
            break; /* every member is collected */
        TRY(rc, "join_next");
        d->order[d->n++] = prokio_task_result(d->t);
        prokio_task_release(d->t);
    }
    printf("6. %d group members took a mutex %d times each, holding it across an await: "
           "counter %llu (%s); finished in the order",
           MEMBERS, ROUNDS, (unsigned long long)d->counter,
           d->counter == (uint64_t)MEMBERS * ROUNDS ? "exact" : "WRONG");
    for (int i = 0; i < d->n; i++)
        printf(" %d", d->order[i]);
    printf("\n");
    prokio_group_free(d->g);
    TRY(prokio_mutex_free(d->m), "mutex free");

    /* 7. A 10-minute timeout on the paused clock. */
    {
        struct deadline dl = {0};
        TRY(prokio_oneshot_new(&d->never_tx, &dl.inner.rx, sizeof(int), NULL, 0), "oneshot");
        TRY(prokio_runtime_time_pause(d->rt), "pause");
        clock_gettime(CLOCK_MONOTONIC, &d->t0);
        TRY(prokio_spawn(&d->dh, d->rt, deadline_poll, &dl, sizeof dl, NULL), "spawn");
    }
    /* This task waits too: every worker is idle, so the clock jumps. */
    PROKIO_AWAIT_INTO(&d->co, rc, prokio_task_join_poll(d->dh, cx));
    TRY(rc, "timeout");
    {
        double real_ms = ms_since(&d->t0);
        TRY(prokio_runtime_time_resume(d->rt), "resume");
        prokio_oneshot_tx_release(d->never_tx);
        struct deadline *dl = prokio_task_frame(d->dh);
        printf("7. paused clock: a 10-minute timeout gave %s after %.3f s of virtual time, in "
               "%.2f ms of real time\n",
               prokio_err_name(dl->rc), (double)(dl->virtual_end - dl->virtual_start) / 1e9,
               real_ms);
        bool clock_ok =
            dl->rc == PROKIO_ETIMEDOUT && dl->virtual_end - dl->virtual_start >= PROKIO_SEC(600);
        prokio_task_release(d->dh);
        bool ok = d->total == 283146 && !d->early && d->stream_ok &&
                  d->counter == (uint64_t)MEMBERS * ROUNDS && d->n == MEMBERS && clock_ok;
        printf("%s\n", ok ? "every check passed" : "SOME CHECK FAILED");
        return ok ? 0 : 1;
    }
    PROKIO_END(&d->co, 0);
}

int main(void)
{
    prokio_runtime_t *rt;
    if (prokio_runtime_new(&rt, NULL) < 0) {
        fprintf(stderr, "demo: starting the runtime: %s\n", prokio_last_error());
        return 1;
    }
    /* Natively this blocks until demo_poll ends and returns its result; on
     * WebAssembly main returns at once and the program ends with it. */
    return prokio_runtime_run_main(rt, demo_poll, NULL, sizeof(struct demo), NULL);
}
