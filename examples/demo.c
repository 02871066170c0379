/* examples/demo.c: Prokio doing real work, end to end.
 *
 *   1. counts the primes below 4,000,000 in 64 tasks spread over the
 *      workers (spawn picks a worker by load), each yielding now and then so
 *      that no task hogs its worker;
 *   2. runs three timers on different workers and checks none fired early;
 *   3. parks a task until a plain pthread, outside the runtime, wakes it;
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
 * Build: cc demo.c $(pkg-config --cflags --libs prokio) */
#include <pthread.h>
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

static void *outside_thread(void *arg)
{
    struct mailbox *box = arg;
    struct timespec pause = {0, 30 * 1000 * 1000};
    nanosleep(&pause, NULL); /* it is a demo: let the task park first */
    atomic_store(&box->ready, 1);
    prokio_waker_t *w = atomic_exchange(&box->waker, NULL);
    if (w)
        prokio_waker_wake(w); /* consumes the reference */
    return NULL;
}

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

struct gather {
    int co, n;
    prokio_group_t *g;
    prokio_task_t *t;
    int order[MEMBERS];
};

static int gather_poll(void *frame, prokio_cx_t *cx)
{
    struct gather *g = frame;
    int rc;
    PROKIO_BEGIN(&g->co);
    for (;;) {
        PROKIO_AWAIT_INTO(&g->co, rc, prokio_group_join_next_poll(&g->t, g->g, cx));
        if (rc == PROKIO_ENOENT)
            break;
        if (rc < 0)
            return rc;
        g->order[g->n++] = prokio_task_result(g->t);
        prokio_task_release(g->t);
    }
    PROKIO_END(&g->co, 0);
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

static int check(int rc, const char *what)
{
    if (rc < 0) {
        fprintf(stderr, "demo: %s: %s\n", what,
                prokio_last_error()[0] ? prokio_last_error() : prokio_strerror(rc));
        exit(1);
    }
    return rc;
}

int main(void)
{
    prokio_runtime_t *rt;
    check(prokio_runtime_new(&rt, NULL), "starting the runtime");
    unsigned workers = prokio_runtime_workers(rt);
    printf("prokio %s on backend '%s' with %u worker%s\n", prokio_version_string(),
           prokio_runtime_backend_name(rt), workers, workers == 1 ? "" : "s");

    /* 1. Primes, in parallel. */
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    prokio_task_t *h[CHUNKS];
    for (unsigned i = 0; i < CHUNKS; i++) {
        struct count_primes c = {.from = i * (LIMIT / CHUNKS), .to = (i + 1) * (LIMIT / CHUNKS)};
        check(prokio_spawn(&h[i], rt, count_primes_poll, &c, sizeof c, NULL), "spawn");
    }
    unsigned total = 0, per_worker[64] = {0};
    for (unsigned i = 0; i < CHUNKS; i++) {
        check(prokio_task_blocking_join(h[i]), "join");
        struct count_primes *c = prokio_task_frame(h[i]);
        total += c->found;
        per_worker[c->worker % 64]++;
        prokio_task_release(h[i]);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    printf("1. primes below %u: %u (expected 283146), %u tasks in %.0f ms; tasks per worker:",
           LIMIT, total, CHUNKS, ms);
    for (unsigned w = 0; w < workers && w < 64; w++)
        printf(" %u", per_worker[w]);
    printf("\n");

    /* 2. Timers on different workers. */
    uint64_t naps_ms[3] = {30, 10, 20};
    prokio_task_t *nh[3];
    for (unsigned i = 0; i < 3; i++) {
        struct nap n = {.ms = naps_ms[i]};
        check(prokio_spawn_on(&nh[i], rt, i % workers, nap_poll, &n, sizeof n, NULL), "spawn_on");
    }
    printf("2. timers:");
    bool early = false;
    for (unsigned i = 0; i < 3; i++) {
        check(prokio_task_blocking_join(nh[i]), "join");
        struct nap *n = prokio_task_frame(nh[i]);
        double slept = (double)(n->end - n->start) / 1e6;
        early |= n->end < n->start + PROKIO_MS(n->ms);
        printf(" %llu ms on worker %u slept %.2f ms;", (unsigned long long)n->ms, n->worker, slept);
        prokio_task_release(nh[i]);
    }
    printf(" %s\n", early ? "EARLY!" : "none early");

    /* 3. A wake from a thread outside the runtime. */
    struct mailbox box = {0};
    struct waiter w = {.box = &box};
    pthread_t th;
    pthread_create(&th, NULL, outside_thread, &box);
    check(prokio_runtime_block_on(rt, waiter_poll, &w, sizeof w, NULL), "block_on");
    pthread_join(th, NULL);
    printf("3. a task on worker %u parked, then a plain pthread woke it: %d polls in all\n",
           w.worker, w.polls);

    /* 4. A oneshot from one worker to another. */
    prokio_oneshot_tx_t *tx;
    prokio_oneshot_rx_t *rx;
    check(prokio_oneshot_new(&tx, &rx, sizeof(double), NULL, 0), "oneshot");
    prokio_task_t *rh, *sh;
    struct receiver r = {.rx = rx};
    struct sender s = {.tx = tx};
    check(prokio_spawn_on(&rh, rt, 0, receiver_poll, &r, sizeof r, NULL), "spawn_on");
    check(prokio_spawn_on(&sh, rt, workers - 1, sender_poll, &s, sizeof s, NULL), "spawn_on");
    check(prokio_task_blocking_join(rh), "receive");
    check(prokio_task_blocking_join(sh), "send");
    printf("4. worker %u sent %.5f through a oneshot to worker %u\n",
           ((struct sender *)prokio_task_frame(sh))->worker,
           ((struct receiver *)prokio_task_frame(rh))->value,
           ((struct receiver *)prokio_task_frame(rh))->worker);
    prokio_task_release(rh);
    prokio_task_release(sh);

    /* 5. A million numbers through one bounded channel. */
    prokio_mpsc_tx_t *mtx;
    struct consumer cons = {0};
    check(prokio_mpsc_new(&mtx, &cons.rx, sizeof(uint64_t), 64, NULL, 0), "mpsc");
    clock_gettime(CLOCK_MONOTONIC, &t0);
    prokio_task_t *ph[PRODUCERS], *ch;
    for (unsigned i = 0; i < PRODUCERS; i++) {
        struct producer p = {.tx = prokio_mpsc_tx_clone(mtx),
                             .next = (uint64_t)i * PER_PRODUCER,
                             .end = (uint64_t)(i + 1) * PER_PRODUCER};
        check(prokio_spawn_on(&ph[i], rt, i % workers, producer_poll, &p, sizeof p, producer_drop),
              "spawn_on");
    }
    prokio_mpsc_tx_release(mtx); /* the producers hold the senders now */
    check(prokio_spawn(&ch, rt, consumer_poll, &cons, sizeof cons, NULL), "spawn");
    for (unsigned i = 0; i < PRODUCERS; i++) {
        check(prokio_task_blocking_join(ph[i]), "producer");
        prokio_task_release(ph[i]);
    }
    check(prokio_task_blocking_join(ch), "consumer");
    struct consumer *cf = prokio_task_frame(ch);
    uint64_t n_all = (uint64_t)PRODUCERS * PER_PRODUCER, want = n_all * (n_all - 1) / 2;
    printf("5. %u producers on %u worker%s streamed %llu numbers through an mpsc channel of "
           "capacity 64 in %.0f ms; sum %llu (%s)\n",
           PRODUCERS, workers < PRODUCERS ? workers : PRODUCERS, workers == 1 ? "" : "s",
           (unsigned long long)cf->count, ms_since(&t0), (unsigned long long)cf->sum,
           cf->sum == want ? "right" : "WRONG");
    bool stream_ok = cf->sum == want && cf->count == n_all;
    prokio_task_release(ch);

    /* 6. A task group sharing a counter under an async mutex. */
    prokio_mutex_t *m;
    check(prokio_mutex_new(&m, 0), "mutex");
    uint64_t counter = 0;
    struct gather gat = {0};
    check(prokio_group_new(&gat.g, rt), "group");
    for (int i = 0; i < MEMBERS; i++) {
        struct member t = {.id = i, .m = m, .counter = &counter};
        check(prokio_group_spawn(gat.g, member_poll, &t, sizeof t, NULL), "group spawn");
    }
    check(prokio_runtime_block_on(rt, gather_poll, &gat, sizeof gat, NULL), "gather");
    printf("6. %d group members took a mutex %d times each, holding it across an await: "
           "counter %llu (%s); finished in the order",
           MEMBERS, ROUNDS, (unsigned long long)counter,
           counter == (uint64_t)MEMBERS * ROUNDS ? "exact" : "WRONG");
    for (int i = 0; i < gat.n; i++)
        printf(" %d", gat.order[i]);
    printf("\n");
    bool group_ok = counter == (uint64_t)MEMBERS * ROUNDS && gat.n == MEMBERS;
    prokio_group_free(gat.g);
    check(prokio_mutex_free(m), "mutex free");

    /* 7. A 10-minute timeout on the paused clock. */
    prokio_oneshot_tx_t *never_tx;
    struct deadline dl = {0};
    check(prokio_oneshot_new(&never_tx, &dl.inner.rx, sizeof(int), NULL, 0), "oneshot");
    check(prokio_runtime_time_pause(rt), "pause");
    clock_gettime(CLOCK_MONOTONIC, &t0);
    check(prokio_runtime_block_on(rt, deadline_poll, &dl, sizeof dl, NULL), "timeout");
    double real_ms = ms_since(&t0);
    check(prokio_runtime_time_resume(rt), "resume");
    prokio_oneshot_tx_release(never_tx);
    printf("7. paused clock: a 10-minute timeout gave %s after %.3f s of virtual time, in %.2f "
           "ms of real time\n",
           prokio_err_name(dl.rc), (double)(dl.virtual_end - dl.virtual_start) / 1e9, real_ms);
    bool clock_ok =
        dl.rc == PROKIO_ETIMEDOUT && dl.virtual_end - dl.virtual_start >= PROKIO_SEC(600);

    check(prokio_runtime_free(rt), "freeing the runtime");
    printf("runtime shut down cleanly\n");
    return total == 283146 && !early && stream_ok && group_ok && clock_ok ? 0 : 1;
}
