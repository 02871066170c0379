/* tests/stress/lock-stress.c: Mutex and Semaphore under random aborts,
 * counted exactly.
 *
 *   mutex_count       TASKS tasks on every worker and THREADS plain threads
 *                     increment one counter under a Mutex, ROUNDS times
 *                     each, sometimes holding it across a yield; a quarter
 *                     of the tasks are aborted at random moments (while
 *                     queued, granted, or holding: the drop function
 *                     unlocks what the frame holds, as a guard would). The
 *                     counter equals the sum of the increments the frames
 *                     recorded (none lost, none doubled), every task not
 *                     aborted finished all its rounds (no waiter lost), and
 *                     the mutex is free and unwaited at the end.
 *   semaphore_permits the same with a Semaphore of PERMITS permits and
 *                     requests of 1..3: never more than PERMITS held at
 *                     once, and all PERMITS available at the end.
 *
 * Under sanitizers or valgrind (PROKIO_TEST_TIMEOUT_SCALE > 1) the rounds
 * are divided by 10, and the output says so. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <time.h>

#include "common.h"

enum { WORKERS = 4, TASKS = 64, THREADS = 2, FULL_ROUNDS = 20000, PERMITS = 5 };

static int rounds(void)
{
    bool slow = test_reduced();
    return slow ? FULL_ROUNDS / 10 : FULL_ROUNDS;
}

struct arena {
    bool sem; /* semaphore_permits, else mutex_count */
    prokio_mutex_t *m;
    prokio_semaphore_t *s;
    long counter;         /* under m */
    atomic_long in_use;   /* permits held now */
    atomic_long max_used; /* most held at once */
    atomic_long progress;
    int rounds;
};

struct worker_task {
    struct arena *a;
    unsigned seed;
    prokio_wait_t w;
    uint32_t n;  /* permits of the current request */
    int holding; /* what the drop must give back */
    long done;   /* increments (or acquisitions) completed */
    int drops;
};

static void note_use(struct arena *a, long n)
{
    long now = atomic_fetch_add(&a->in_use, n) + n;
    long max = atomic_load(&a->max_used);
    while (now > max && !atomic_compare_exchange_weak(&a->max_used, &max, now)) {
    }
}

static void give_back(struct worker_task *f)
{
    struct arena *a = f->a;
    if (a->sem) {
        atomic_fetch_sub(&a->in_use, (long)f->n);
        prokio_semaphore_release(a->s, f->n);
    } else {
        prokio_mutex_unlock(a->m);
    }
    f->holding = 0;
}

static int task_poll(void *frame, prokio_cx_t *cx)
{
    struct worker_task *f = frame;
    struct arena *a = f->a;
    while (f->done < a->rounds) {
        if (f->holding) {
            /* Resumed after holding across a yield. */
            if (!a->sem)
                a->counter++;
            f->done++;
            give_back(f);
            atomic_fetch_add_explicit(&a->progress, 1, memory_order_relaxed);
            continue;
        }
        if (!prokio_wait_is_pending(&f->w)) {
            f->seed = f->seed * 1103515245u + 12345u;
            f->n = a->sem ? 1 + (f->seed >> 16) % 3 : 1;
        }
        int rc = a->sem ? prokio_semaphore_acquire_poll(&f->w, a->s, f->n, cx)
                        : prokio_mutex_lock_poll(&f->w, a->m, cx);
        if (rc == PROKIO_PENDING)
            return rc;
        if (rc < 0)
            return rc;
        f->holding = 1;
        if (a->sem)
            note_use(a, f->n);
        if ((f->seed >> 20) % 4 == 0)
            return prokio_cx_yield(cx); /* held across a yield */
        if (!a->sem)
            a->counter++;
        f->done++;
        give_back(f);
        atomic_fetch_add_explicit(&a->progress, 1, memory_order_relaxed);
    }
    return 0;
}

static void task_drop(void *frame)
{
    struct worker_task *f = frame;
    f->drops++;
    if (f->holding)
        give_back(f); /* aborted while holding: the guard's job */
}

static void *thread_main(void *arg)
{
    struct arena *a = arg;
    for (int i = 0; i < a->rounds; i++) {
        if (a->sem) {
            if (prokio_semaphore_blocking_acquire(a->s, 2) != 0)
                return arg;
            note_use(a, 2);
            atomic_fetch_sub(&a->in_use, 2);
            prokio_semaphore_release(a->s, 2);
        } else {
            if (prokio_mutex_blocking_lock(a->m) != 0)
                return arg;
            a->counter++;
            prokio_mutex_unlock(a->m);
        }
        atomic_fetch_add_explicit(&a->progress, 1, memory_order_relaxed);
    }
    return NULL;
}

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void run(bool sem)
{
    prokio_runtime_t *rt = test_runtime(WORKERS);
    struct arena *a = calloc(1, sizeof *a);
    assert_non_null(a);
    a->sem = sem;
    a->rounds = rounds();
    if (sem)
        assert_int_equal(prokio_semaphore_new(&a->s, PERMITS, 0), 0);
    else
        assert_int_equal(prokio_mutex_new(&a->m, 0), 0);
    uint64_t t0 = mono_ns();
    prokio_task_t *h[TASKS];
    for (int i = 0; i < TASKS; i++) {
        struct worker_task f = {.a = a, .seed = (unsigned)i * 2654435761u};
        assert_int_equal(
            prokio_spawn_on(&h[i], rt, (unsigned)i % WORKERS, task_poll, &f, sizeof f, task_drop),
            0);
    }
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, thread_main, a), 0);
    /* Abort every fourth task at a random moment. */
    unsigned x = 12345;
    for (int i = 1; i < TASKS; i += 4) {
        x = x * 1103515245u + 12345u;
        long until = atomic_load(&a->progress) + (long)((x >> 16) % 200);
        uint64_t end = mono_ns() + PROKIO_SEC(10) * test_timeout_scale();
        while (atomic_load(&a->progress) < until && mono_ns() < end)
            sched_yield();
        prokio_task_abort(h[i]);
    }
    for (int i = 0; i < THREADS; i++) {
        void *r;
        pthread_join(th[i], &r);
        assert_null(r);
    }
    long total = (long)THREADS * a->rounds, aborted = 0;
    for (int i = 0; i < TASKS; i++) {
        int rc = prokio_task_blocking_join(h[i]);
        const struct worker_task *f = prokio_task_frame(h[i]);
        assert_int_equal(f->drops, 1);
        assert_int_equal(f->holding, 0);
        if (i % 4 == 1) {
            assert_true(rc == 0 || rc == PROKIO_ECANCELED);
            aborted += rc == PROKIO_ECANCELED;
        } else {
            assert_int_equal(rc, 0);
            assert_int_equal(f->done, a->rounds);
        }
        total += f->done;
        prokio_task_release(h[i]);
    }
    uint64_t elapsed = mono_ns() - t0;
    if (sem) {
        assert_true(atomic_load(&a->max_used) <= PERMITS);
        assert_int_equal(atomic_load(&a->in_use), 0);
        assert_int_equal(prokio_semaphore_available(a->s), PERMITS);
        assert_int_equal(prokio_semaphore_free(a->s), 0);
    } else {
        assert_int_equal(a->counter, total);
        assert_int_equal(prokio_mutex_try_lock(a->m), 0);
        prokio_mutex_unlock(a->m);
        assert_int_equal(prokio_mutex_free(a->m), 0);
    }
    test_runtime_free(rt);
    print_message("# %s: %d tasks on %d workers + %d threads, %d rounds each%s: %ld completed, "
                  "%ld tasks aborted mid-way, %.2f s%s\n",
                  sem ? "semaphore" : "mutex", TASKS, WORKERS, THREADS, a->rounds,
                  a->rounds < FULL_ROUNDS ? " (divided by 10 under sanitizers/valgrind)" : "",
                  total, aborted, (double)elapsed / 1e9, sem ? "" : ", counter exact");
    if (sem)
        print_message("# semaphore: at most %ld of %d permits held at once\n",
                      atomic_load(&a->max_used), PERMITS);
    free(a);
}

static void test_mutex_count(void **state)
{
    (void)state;
    run(false);
}

static void test_semaphore_permits(void **state)
{
    (void)state;
    run(true);
}

int main(void)
{
    test_watchdog("lock-stress", 60);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mutex_count),
        cmocka_unit_test(test_semaphore_permits),
    };
    return cmocka_run_group_tests_name("lock-stress", tests, NULL, NULL);
}
