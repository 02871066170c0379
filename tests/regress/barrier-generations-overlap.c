/* tests/regress/barrier-generations-overlap.c: a barrier generation that
 * completes while the previous leader is still waking its waiters wakes
 * its own waiters too.
 *
 * The bug (found in review): the leader of generation g grants the waits
 * of g from the head of the queue, and when its wake list (32 wakers)
 * fills it drops the lock to wake them. Those tasks, on another worker,
 * can arrive again meanwhile, with other tasks, and complete generation
 * g + 1. Its leader granted only the waits with u64 == g + 1 from the
 * head, and the head was still a wait of g: it granted nothing. The
 * leader of g then resumed and stopped at the first wait of g + 1. Every
 * wait of g + 1 stayed queued for ever: a deadlock, with the tasks of the
 * later generations unable to reach the party count.
 *
 * Here: a barrier of 34 parties and 68 tasks on 2 workers, each arriving
 * again as soon as it passes (no fixed count per task: with more tasks
 * than parties, fixed counts could end in a last generation short of
 * distinct tasks). 200 000 generations (20 000 under sanitizers or
 * valgrind) must complete within 20 s (scaled); the deadlock shows as the
 * count of leaders stopping. It is a race: the old code deadlocked within
 * 25 000 generations here on every run; the fixed one takes about 1 s.
 * Runs once, on the automatic backend. */
#include <sched.h>
#include <stdatomic.h>
#include <time.h>

#include "common.h"

#define PARTIES 34
#define TASKS   (2 * PARTIES)

static atomic_int leaders;

struct arriver {
    prokio_barrier_t *b;
    prokio_wait_t wait;
};

static int arriver_poll(void *frame, prokio_cx_t *cx)
{
    struct arriver *a = frame;
    for (;;) {
        int rc = prokio_barrier_wait_poll(&a->wait, a->b, cx);
        if (rc == PROKIO_PENDING || rc < 0)
            return rc; /* the coop budget yields the task now and then */
        if (rc == 1)
            atomic_fetch_add(&leaders, 1);
    }
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void test_overlapping_generations(void **state)
{
    (void)state;
    int target = test_reduced() ? 20000 : 200000;
    prokio_runtime_t *rt = test_runtime(2);
    prokio_barrier_t *b;
    assert_int_equal(prokio_barrier_new(&b, PARTIES, 0), 0);
    prokio_task_t *h[TASKS];
    for (int i = 0; i < TASKS; i++) {
        struct arriver a = {.b = b};
        assert_int_equal(
            prokio_spawn_on(&h[i], rt, (unsigned)(i & 1), arriver_poll, &a, sizeof a, NULL), 0);
    }
    uint64_t end = now_ns() + PROKIO_SEC(20) * test_timeout_scale();
    while (atomic_load(&leaders) < target && now_ns() < end)
        sched_yield();
    int seen = atomic_load(&leaders);
    /* The tasks never end on their own: abort them (their waits leave the
     * queue), then they are joined. */
    for (int i = 0; i < TASKS; i++)
        prokio_task_abort(h[i]);
    for (int i = 0; i < TASKS; i++) {
        assert_int_equal(prokio_task_blocking_join(h[i]), PROKIO_ECANCELED);
        prokio_task_release(h[i]);
    }
    if (seen < target)
        fail_msg("only %d of %d generations completed: a generation was never woken", seen, target);
    assert_int_equal(prokio_barrier_free(b), 0);
    test_runtime_free(rt);
}

int main(void)
{
    test_watchdog("barrier-generations-overlap", 120);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_overlapping_generations),
    };
    return cmocka_run_group_tests_name("barrier-generations-overlap", tests, NULL, NULL);
}
