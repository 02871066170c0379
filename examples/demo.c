/* examples/demo.c: Prokio doing real work, end to end.
 *
 *   1. counts the primes below 4,000,000 in 64 tasks spread over the
 *      workers (spawn picks a worker by load), each yielding now and then so
 *      that no task hogs its worker;
 *   2. runs three timers on different workers and checks none fired early;
 *   3. parks a task until a plain pthread, outside the runtime, wakes it;
 *   4. sends a value through a oneshot from one worker to another;
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

    check(prokio_runtime_free(rt), "freeing the runtime");
    printf("runtime shut down cleanly\n");
    return total == 283146 && !early ? 0 : 1;
}
