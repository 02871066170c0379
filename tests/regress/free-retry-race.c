/* tests/regress/free-retry-race.c: prokio_runtime_free retried while
 * another thread drops the last waker.
 *
 * prokio_runtime_free answers PROKIO_EBUSY while wakers or JoinHandles still
 * hold tasks, and the header advises calling it again once they are
 * released. The bug: it counted a task as gone as soon as
 * prokio__pool_free had zeroed the task's state word, before the releasing
 * thread had taken the pool's lock to unlink the task's chunk (or to push it
 * on the shared free list), and then freed the pool under that thread: a
 * double free of the chunk (ASan: "attempting double-free ... in
 * prokio__pool_free", freed by prokio__pool_fini from prokio_runtime_free)
 * or a write into freed memory. Frames over 8 KiB get a chunk of their own,
 * the path the report names; small frames go through the shared free list.
 *
 * Each round: tasks clone their waker into a table and end; the main thread
 * shuts the runtime down and calls prokio_runtime_free in a loop while it
 * answers EBUSY, as the header advises; a second thread releases the wakers,
 * the last one racing with the loop. Many small tasks spawned after the
 * large ones put small chunks ahead of the large ones in the pool's list,
 * so that the count spends its time before it reaches the last task: the
 * window is wide and the old code fails within a few rounds (a crash, an
 * abort from the C library, or an ASan report). Runs once, on the automatic
 * backend: the race is in the core. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <time.h>

#include "common.h"

enum {
    LARGE_FRAME = 12 * 1024, /* over the 8 KiB of the biggest pool class */
    HELD = 4,                /* tasks whose wakers the releaser drops */
    FILLERS = 4000,          /* small tasks that end at once */
    MAX_ROUNDS = 400,
};

static prokio_waker_t *_Atomic held[HELD];
static atomic_int stored;
static atomic_int go;

struct keeper {
    int index;
    unsigned char pad[]; /* the frame's size decides large or small */
};

static int keeper_poll(void *frame, prokio_cx_t *cx)
{
    struct keeper *k = frame;
    atomic_store(&held[k->index], prokio_waker_clone(prokio_cx_waker(cx)));
    atomic_fetch_add(&stored, 1);
    return 0;
}

static int filler_poll(void *frame, prokio_cx_t *cx)
{
    (void)frame, (void)cx;
    return 0;
}

static void *releaser(void *arg)
{
    (void)arg;
    while (!atomic_load(&go))
        sched_yield();
    for (int i = 0; i < HELD; i++) {
        /* A little slack, so that the last release lands at varied points
         * of the main thread's retry loop. */
        for (volatile int spin = rand() % 2000; spin > 0; spin--)
            ;
        prokio_waker_release(atomic_exchange(&held[i], NULL));
    }
    return NULL;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Returns how many times prokio_runtime_free answered EBUSY. */
static long one_round(int round)
{
    prokio_runtime_t *rt = test_runtime(1);
    atomic_store(&stored, 0);
    atomic_store(&go, 0);

    /* Odd rounds: the last waker released holds a large frame; even
     * rounds: a small one. */
    unsigned char frame[sizeof(struct keeper) + LARGE_FRAME] = {0};
    for (int i = 0; i < HELD; i++) {
        bool large = (i == HELD - 1) ? (round & 1) : (i & 1);
        ((struct keeper *)frame)->index = i;
        size_t size = sizeof(struct keeper) + (large ? LARGE_FRAME : 16);
        assert_int_equal(prokio_spawn(NULL, rt, keeper_poll, frame, size, NULL), 0);
    }
    for (int i = 0; i < FILLERS; i++)
        assert_int_equal(prokio_spawn(NULL, rt, filler_poll, NULL, 48, NULL), 0);
    while (atomic_load(&stored) < HELD)
        sched_yield();

    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, releaser, NULL), 0);
    assert_int_equal(prokio_runtime_shutdown(rt), 0);
    atomic_store(&go, 1);
    int rc;
    long busy = 0;
    while ((rc = prokio_runtime_free(rt)) == PROKIO_EBUSY)
        busy++;
    if (rc != 0)
        fail_msg("round %d: prokio_runtime_free: %s: %s", round, prokio_err_name(rc),
                 prokio_last_error());
    assert_int_equal(pthread_join(th, NULL), 0);
    return busy;
}

static void test_free_retried_against_last_release(void **state)
{
    (void)state;
    srand(1);
    uint64_t start = now_ms();
    int round = 0;
    long busy = 0;
    /* Rounds for about two seconds (fewer on a slow machine or under
     * valgrind), at least a few. */
    for (; round < MAX_ROUNDS && (round < 8 || now_ms() - start < 2000); round++)
        busy += one_round(round);
    printf("# %d rounds; prokio_runtime_free answered EBUSY %ld times\n", round, busy);
}

int main(void)
{
    test_watchdog("free-retry-race", 60);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_free_retried_against_last_release),
    };
    return cmocka_run_group_tests_name("runtime_free retried against the last waker release", tests,
                                       NULL, NULL);
}
