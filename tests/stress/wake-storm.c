/* tests/stress/wake-storm.c: cross-thread wakes, counted exactly.
 *
 * A lost wakeup is not a data race: TSan cannot see it. What does see it is
 * accounting: every wake here carries tokens, a task ends only when it has
 * received exactly the tokens it was assigned, and a task left asleep with
 * tokens pending is reported by name (and, failing that, by the watchdog).
 *
 *   token_storm       4 producer threads, 64 tasks on 2 workers, at least
 *                     1,000,000 wakes; polls <= wakes + 1 per task, and no
 *                     task is ever polled after it ended.
 *   ping_pong         two tasks on two workers hand a ball back and forth
 *                     200,000 times: exactly one poll per pass.
 *   wake_vs_end       producers keep waking tasks that end, are aborted, or
 *                     are still waiting when the runtime shuts down.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <time.h>

#include "common.h"

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static unsigned timeout_scale(void)
{
    const char *s = getenv("PROKIO_TEST_TIMEOUT_SCALE");
    unsigned k = s ? (unsigned)atoi(s) : 1;
    return k ? k : 1;
}

/* Waits until *done reaches `target`, failing (with `describe` called to
 * say who is stuck) when *progress stops moving for `stall_s` seconds.
 * Polling counters, not sleeping for a result: the pause only paces the
 * checks. */
static void wait_progress(atomic_long *done, long target, atomic_long *progress, unsigned stall_s,
                          void (*describe)(void *arg), void *arg)
{
    long last = -1;
    uint64_t since = mono_ns();
    for (;;) {
        if (atomic_load(done) >= target)
            return;
        long now = atomic_load(progress);
        if (now != last) {
            last = now;
            since = mono_ns();
        } else if (mono_ns() - since > PROKIO_SEC(stall_s) * timeout_scale()) {
            describe(arg);
            fail_msg("no progress for %u s: %ld of %ld done", stall_s, atomic_load(done), target);
        }
        struct timespec pause = {0, 1000000};
        nanosleep(&pause, NULL);
    }
}

/* ----------------------------------------------------------- token storm */

enum { TASKS = 64, WORKERS = 2, PRODUCERS = 4, ROUNDS = 4000, TOKENS_PER_WAKE = 3 };
_Static_assert((long)PRODUCERS *ROUNDS *TASKS >= 1000000, "a million wakes");

struct slot {
    _Atomic uint64_t tokens;         /* added by producers, taken by the task */
    _Atomic(prokio_waker_t *) waker; /* published at the first poll */
    _Atomic uint64_t wakes;          /* wakes the producers issued */
    _Atomic uint64_t polls;          /* written by the task, read at the end */
    _Atomic uint64_t received;
    _Atomic uint64_t yields;
    atomic_int done;
    atomic_int after_done; /* polls after the task ended: must stay 0 */
    atomic_int over;       /* more tokens than assigned */
    uint64_t assigned;
};

struct storm {
    struct slot slot[TASKS];
    atomic_long done;
    atomic_long polls;
    atomic_int published;
    atomic_int go;
};

struct storm_task {
    struct storm *st;
    struct slot *s;
    int yield_every; /* 0: never yields */
    int ended;
};

static int storm_poll(void *frame, prokio_cx_t *cx)
{
    struct storm_task *f = frame;
    struct slot *s = f->s;
    if (f->ended) {
        atomic_fetch_add(&s->after_done, 1);
        return 0;
    }
    atomic_fetch_add_explicit(&s->polls, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&f->st->polls, 1, memory_order_relaxed);
    if (atomic_load_explicit(&s->waker, memory_order_relaxed) == NULL) {
        atomic_store(&s->waker, prokio_waker_clone(prokio_cx_waker(cx)));
        atomic_fetch_add(&f->st->published, 1);
    }
    uint64_t got = atomic_exchange(&s->tokens, 0);
    uint64_t total = atomic_load_explicit(&s->received, memory_order_relaxed) + got;
    atomic_store_explicit(&s->received, total, memory_order_relaxed);
    if (total > s->assigned)
        atomic_store(&s->over, 1);
    if (total >= s->assigned) {
        f->ended = 1;
        atomic_store(&s->done, 1);
        atomic_fetch_add(&f->st->done, 1);
        return 0;
    }
    /* Yielding tasks go back to the queue themselves: wakes meanwhile meet
     * a task that is running, or queued, rather than parked. */
    if (f->yield_every &&
        atomic_load_explicit(&s->polls, memory_order_relaxed) % (uint64_t)f->yield_every == 0) {
        atomic_fetch_add_explicit(&s->yields, 1, memory_order_relaxed);
        return prokio_cx_yield(cx);
    }
    return PROKIO_PENDING;
}

struct producer {
    struct storm *st;
    int id;
};

static void *producer_main(void *arg)
{
    struct producer *p = arg;
    struct storm *st = p->st;
    prokio_waker_t *w[TASKS];
    while (!atomic_load(&st->go))
        sched_yield();
    for (int t = 0; t < TASKS; t++)
        w[t] = prokio_waker_clone(atomic_load(&st->slot[t].waker));
    for (int r = 0; r < ROUNDS; r++) {
        for (int i = 0; i < TASKS; i++) {
            /* Each producer walks the tasks from its own offset, so that
             * wakes for one task come from several threads at once. */
            int t = (i + p->id * (TASKS / PRODUCERS)) % TASKS;
            struct slot *s = &st->slot[t];
            atomic_fetch_add(&s->tokens, TOKENS_PER_WAKE);
            atomic_fetch_add_explicit(&s->wakes, 1, memory_order_relaxed);
            if ((r + i) % 16 == 0)
                prokio_waker_wake(prokio_waker_clone(w[t])); /* a consuming wake */
            else
                prokio_waker_wake_by_ref(w[t]);
        }
    }
    for (int t = 0; t < TASKS; t++)
        prokio_waker_release(w[t]);
    return NULL;
}

static void describe_storm(void *arg)
{
    struct storm *st = arg;
    for (int t = 0; t < TASKS; t++) {
        struct slot *s = &st->slot[t];
        if (atomic_load(&s->done))
            continue;
        print_message("# task %d stuck: received %llu of %llu, %llu tokens pending, "
                      "%llu wakes, %llu polls\n",
                      t, (unsigned long long)atomic_load(&s->received),
                      (unsigned long long)s->assigned, (unsigned long long)atomic_load(&s->tokens),
                      (unsigned long long)atomic_load(&s->wakes),
                      (unsigned long long)atomic_load(&s->polls));
    }
}

static void token_storm(int yield_every)
{
    prokio_runtime_t *rt = test_runtime(WORKERS);
    struct storm *st = calloc(1, sizeof *st);
    assert_non_null(st);
    prokio_task_t *h[TASKS];
    for (int t = 0; t < TASKS; t++) {
        st->slot[t].assigned = (uint64_t)PRODUCERS * ROUNDS * TOKENS_PER_WAKE;
        struct storm_task f = {.st = st, .s = &st->slot[t], .yield_every = yield_every};
        assert_int_equal(
            prokio_spawn_on(&h[t], rt, (unsigned)t % WORKERS, storm_poll, &f, sizeof f, NULL), 0);
    }
    while (atomic_load(&st->published) < TASKS)
        sched_yield();
    pthread_t th[PRODUCERS];
    struct producer p[PRODUCERS];
    for (int i = 0; i < PRODUCERS; i++) {
        p[i] = (struct producer){st, i};
        assert_int_equal(pthread_create(&th[i], NULL, producer_main, &p[i]), 0);
    }
    uint64_t t0 = mono_ns();
    atomic_store(&st->go, 1);
    wait_progress(&st->done, TASKS, &st->polls, 10, describe_storm, st);
    uint64_t elapsed = mono_ns() - t0;
    for (int i = 0; i < PRODUCERS; i++)
        pthread_join(th[i], NULL);

    uint64_t wakes = 0, polls = 0, yields = 0;
    for (int t = 0; t < TASKS; t++) {
        struct slot *s = &st->slot[t];
        assert_int_equal(prokio_task_blocking_join(h[t]), 0);
        assert_int_equal(atomic_load(&s->received), s->assigned);
        assert_int_equal(atomic_load(&s->tokens), 0);
        assert_int_equal(atomic_load(&s->over), 0);
        assert_int_equal(atomic_load(&s->after_done), 0);
        assert_int_equal(atomic_load(&s->wakes), (uint64_t)PRODUCERS * ROUNDS);
        /* One poll to start, at most one per wake or yield after that. */
        assert_true(atomic_load(&s->polls) <= atomic_load(&s->wakes) + atomic_load(&s->yields) + 1);
        yields += atomic_load(&s->yields);
        wakes += atomic_load(&s->wakes);
        polls += atomic_load(&s->polls);
        prokio_task_release(h[t]);
    }
    /* Wakes after the end: harmless, and the task is never polled again. */
    for (int t = 0; t < TASKS; t++) {
        prokio_waker_t *w = atomic_load(&st->slot[t].waker);
        prokio_waker_wake_by_ref(w);
        prokio_waker_wake(w);
    }
    test_runtime_free(rt);
    for (int t = 0; t < TASKS; t++)
        assert_int_equal(atomic_load(&st->slot[t].after_done), 0);
    print_message("# token storm%s: %llu wakes, %llu polls, %llu yields (%.1f wakes per poll), "
                  "%.3f s, %.2f M wakes/s\n",
                  yield_every ? " with yields" : "", (unsigned long long)wakes,
                  (unsigned long long)polls, (unsigned long long)yields,
                  polls ? (double)wakes / (double)polls : 0.0, (double)elapsed / 1e9,
                  (double)wakes / ((double)elapsed / 1e9) / 1e6);
    free(st);
}

static void test_token_storm(void **state)
{
    (void)state;
    token_storm(0);
}

static void test_token_storm_yields(void **state)
{
    (void)state;
    token_storm(3);
}

/* ------------------------------------------------------------- ping pong */

enum { PING_ROUNDS = 200000 };

struct court {
    atomic_int ball; /* whose turn: 0 or 1; -1 before the serve */
    _Atomic(prokio_waker_t *) waker[2];
    atomic_int published;
    atomic_long rally;    /* hits so far, for the progress check */
    atomic_long finished; /* players that ended */
    long hits[2];         /* written by each player only, read after join */
    long polls[2];        /* likewise */
    long spurious[2];
};

struct player {
    struct court *c;
    int me;
};

static int player_poll(void *frame, prokio_cx_t *cx)
{
    struct player *f = frame;
    struct court *c = f->c;
    int me = f->me, other = 1 - me;
    c->polls[me]++;
    if (atomic_load_explicit(&c->waker[me], memory_order_relaxed) == NULL) {
        atomic_store(&c->waker[me], prokio_waker_clone(prokio_cx_waker(cx)));
        atomic_fetch_add(&c->published, 1);
        return PROKIO_PENDING;
    }
    if (atomic_load(&c->ball) != me) {
        c->spurious[me]++;
        return PROKIO_PENDING;
    }
    long hit = ++c->hits[me];
    atomic_fetch_add_explicit(&c->rally, 1, memory_order_relaxed);
    bool last = hit == PING_ROUNDS;
    if (last)
        atomic_fetch_add(&c->finished, 1);
    /* The last hit of the second player ends the rally without a pass. */
    if (me == 1 && last)
        return 0;
    atomic_store(&c->ball, other);
    prokio_waker_wake_by_ref(atomic_load(&c->waker[other]));
    return last ? 0 : PROKIO_PENDING;
}

static void describe_court(void *arg)
{
    struct court *c = arg;
    print_message("# rally stuck after %ld hits: ball %d\n", atomic_load(&c->rally),
                  atomic_load(&c->ball));
}

static void test_ping_pong(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(2);
    struct court *c = calloc(1, sizeof *c);
    assert_non_null(c);
    atomic_store(&c->ball, -1);
    prokio_task_t *h[2];
    for (int i = 0; i < 2; i++) {
        struct player p = {c, i};
        assert_int_equal(prokio_spawn_on(&h[i], rt, (unsigned)i, player_poll, &p, sizeof p, NULL),
                         0);
    }
    while (atomic_load(&c->published) < 2)
        sched_yield();
    uint64_t t0 = mono_ns();
    atomic_store(&c->ball, 0);
    prokio_waker_wake_by_ref(atomic_load(&c->waker[0]));
    /* A lost pass leaves both players parked: say so before joining. */
    wait_progress(&c->finished, 2, &c->rally, 10, describe_court, c);
    assert_int_equal(prokio_task_blocking_join(h[1]), 0);
    assert_int_equal(prokio_task_blocking_join(h[0]), 0);
    uint64_t elapsed = mono_ns() - t0;
    for (int i = 0; i < 2; i++) {
        assert_int_equal(c->hits[i], PING_ROUNDS);
        assert_int_equal(c->spurious[i], 0);
        /* The poll that published the waker, then one per hit. */
        assert_int_equal(c->polls[i], PING_ROUNDS + 1);
        prokio_task_release(h[i]);
        prokio_waker_release(atomic_load(&c->waker[i]));
    }
    test_runtime_free(rt);
    print_message("# ping-pong: %d round trips across workers, %.3f s, %.2f us per round trip\n",
                  PING_ROUNDS, (double)elapsed / 1e9, (double)elapsed / 1e3 / PING_ROUNDS);
    free(c);
}

/* ------------------------------------------------- wakes vs end and shutdown */

enum { RACERS = 64, RACE_ITERATIONS = 20 };

struct race_slot {
    _Atomic(prokio_waker_t *) waker;
    atomic_int after_done;
    atomic_int drops;
    atomic_int wrong_thread;
};

struct race {
    struct race_slot slot[RACERS];
    atomic_long polls;
    atomic_int published;
    atomic_long ended; /* tasks that ended on their own */
    atomic_int stop;
};

struct racer {
    struct race *r;
    struct race_slot *s;
    int limit;   /* polls before it ends; 0: never ends */
    int counted; /* its end counts towards `ended` (not raced by an abort) */
    int polls;
    int ended;
    pthread_t thread;
};

static int racer_poll(void *frame, prokio_cx_t *cx)
{
    struct racer *f = frame;
    if (f->ended) {
        atomic_fetch_add(&f->s->after_done, 1);
        return 0;
    }
    atomic_fetch_add_explicit(&f->r->polls, 1, memory_order_relaxed);
    if (f->polls++ == 0) {
        f->thread = pthread_self();
        atomic_store(&f->s->waker, prokio_waker_clone(prokio_cx_waker(cx)));
        atomic_fetch_add(&f->r->published, 1);
    }
    if (f->limit && f->polls >= f->limit) {
        f->ended = 1;
        if (f->counted)
            atomic_fetch_add(&f->r->ended, 1);
        return f->polls;
    }
    return PROKIO_PENDING;
}

static void racer_drop(void *frame)
{
    struct racer *f = frame;
    atomic_fetch_add(&f->s->drops, 1);
    if (f->polls && !pthread_equal(f->thread, pthread_self()))
        atomic_fetch_add(&f->s->wrong_thread, 1);
}

static void *race_producer_main(void *arg)
{
    struct race *r = arg;
    prokio_waker_t *w[RACERS];
    for (int t = 0; t < RACERS; t++)
        w[t] = prokio_waker_clone(atomic_load(&r->slot[t].waker));
    unsigned x = (unsigned)(uintptr_t)&w;
    while (!atomic_load(&r->stop)) {
        for (int t = 0; t < RACERS; t++) {
            x = x * 1103515245u + 12345u;
            if ((x >> 16) % 8 == 0)
                prokio_waker_wake(prokio_waker_clone(w[t]));
            else
                prokio_waker_wake_by_ref(w[t]);
        }
        /* Lets the workers in where threads are serialised (valgrind). */
        sched_yield();
    }
    for (int t = 0; t < RACERS; t++)
        prokio_waker_release(w[t]);
    return NULL;
}

struct aborter {
    prokio_task_t **h;
    atomic_int *stop;
};

/* Aborts the tasks t % 8 == 3, which would end on their own, at moments
 * that race with their last polls. */
static void *aborter_main(void *arg)
{
    struct aborter *a = arg;
    unsigned x = 7;
    for (int t = 3; t < RACERS; t += 8) {
        x = x * 1103515245u + 12345u;
        for (unsigned spin = (x >> 16) % 2000; spin > 0 && !atomic_load(a->stop); spin--)
            sched_yield();
        prokio_task_abort(a->h[t]);
    }
    return NULL;
}

static void describe_race(void *arg)
{
    struct race *r = arg;
    print_message("# %ld racers ended\n", atomic_load(&r->ended));
}

static void test_wake_vs_end(void **state)
{
    (void)state;
    long aborted_total = 0, cancelled_total = 0, raced_total = 0;
    for (int it = 0; it < RACE_ITERATIONS; it++) {
        prokio_runtime_t *rt = test_runtime(2);
        struct race *r = calloc(1, sizeof *r);
        assert_non_null(r);
        prokio_task_t *h[RACERS];
        int ending = 0;
        for (int t = 0; t < RACERS; t++) {
            /* A quarter never end (cancelled at shutdown), an eighth are
             * aborted while being woken, the rest end after some polls. */
            int limit = t % 4 == 0 ? 0 : 2 + (t * 37 + it * 11) % 300;
            if (limit && t % 8 != 1 && t % 8 != 3)
                ending++;
            struct racer f = {
                .r = r, .s = &r->slot[t], .limit = t % 8 == 1 ? 0 : limit, .counted = t % 8 != 3};
            assert_int_equal(
                prokio_spawn_on(&h[t], rt, (unsigned)t % 2, racer_poll, &f, sizeof f, racer_drop),
                0);
        }
        while (atomic_load(&r->published) < RACERS)
            sched_yield();
        pthread_t th[PRODUCERS];
        for (int i = 0; i < PRODUCERS; i++)
            assert_int_equal(pthread_create(&th[i], NULL, race_producer_main, r), 0);
        for (int t = 1; t < RACERS; t += 8)
            prokio_task_abort(h[t]);
        struct aborter ab = {h, &r->stop};
        pthread_t tab;
        assert_int_equal(pthread_create(&tab, NULL, aborter_main, &ab), 0);
        /* Handles released while the tasks run, racing with their end. */
        for (int t = 5; t < RACERS; t += 8) {
            prokio_task_release(h[t]);
            h[t] = NULL;
        }
        wait_progress(&r->ended, ending, &r->polls, 10, describe_race, r);
        /* Shut down while the producers still wake everyone. */
        assert_int_equal(prokio_runtime_shutdown(rt), 0);
        atomic_store(&r->stop, 1);
        for (int i = 0; i < PRODUCERS; i++)
            pthread_join(th[i], NULL);
        pthread_join(tab, NULL);
        for (int t = 0; t < RACERS; t++) {
            struct race_slot *s = &r->slot[t];
            assert_int_equal(atomic_load(&s->after_done), 0);
            assert_int_equal(atomic_load(&s->drops), 1);
            assert_int_equal(atomic_load(&s->wrong_thread), 0);
            if (h[t] == NULL)
                continue; /* released early */
            int rc = prokio_task_result(h[t]);
            if (t % 8 == 3) {
                /* Aborted, or ended first: either, never both. */
                assert_true(rc >= 0 || rc == PROKIO_ECANCELED);
                raced_total += rc == PROKIO_ECANCELED;
            } else if (t % 8 == 1) {
                assert_int_equal(rc, PROKIO_ECANCELED);
                aborted_total++;
            } else if (t % 4 == 0) {
                assert_int_equal(rc, PROKIO_ECANCELED);
                cancelled_total++;
            } else {
                assert_true(rc >= 0);
            }
        }
        /* Each task still has its published waker clone. */
        assert_int_equal(prokio_runtime_free(rt), PROKIO_EBUSY);
        for (int t = 0; t < RACERS; t++) {
            if (h[t])
                prokio_task_release(h[t]);
            prokio_waker_release(atomic_load(&r->slot[t].waker));
        }
        test_runtime_free(rt);
        free(r);
    }
    print_message("# wake vs end: %d iterations, %ld aborted and %ld cancelled at shutdown "
                  "while being woken; %ld of %d aborts won the race with the task's end\n",
                  RACE_ITERATIONS, aborted_total, cancelled_total, raced_total,
                  RACE_ITERATIONS * RACERS / 8);
}

int main(void)
{
    test_watchdog("wake-storm", 60);
    /* WAKE_STORM_FILTER=ping_pong runs only the matching tests. */
    const char *filter = getenv("WAKE_STORM_FILTER");
    if (filter && *filter) {
        static char pattern[256];
        snprintf(pattern, sizeof pattern, "test_%s", filter);
        cmocka_set_test_filter(pattern);
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_token_storm),
        cmocka_unit_test(test_token_storm_yields),
        cmocka_unit_test(test_ping_pong),
        cmocka_unit_test(test_wake_vs_end),
    };
    return cmocka_run_group_tests_name("wake-storm", tests, NULL, NULL);
}
