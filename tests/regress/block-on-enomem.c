/* tests/regress/block-on-enomem.c: prokio_runtime_block_on when the join
 * cannot allocate its parker.
 *
 * prokio_block_on (now prokio_runtime_block_on) spawned the task first and
 * only then allocated the parker its join blocks on. When that allocation
 * failed it returned PROKIO_ENOMEM at once while the task still ran: it
 * copied the frame of the running task back into the caller's (a data race
 * with the worker) and released the handle, detaching a task the caller
 * believed had failed to start. The header now says that a failure to start
 * returns before anything is spawned.
 *
 * A thread's parker is made at its first blocking call and kept, so the
 * failure is injected on a fresh thread through the core's test hook
 * (prokio__parker_fail_allocs, core/parker.h; tests link the core
 * statically). The task counts its polls and drops; after the failed call
 * the runtime is shut down, which ends any task that was spawned (its drop
 * runs), so a spawned task is seen whether or not it was polled. The same
 * thread's next call makes its parker and runs the task: one poll and one
 * drop in all. Runs once, on the automatic backend. */
#include <pthread.h>
#include <stdatomic.h>

#include "common.h"
#include "parker.h"

static atomic_int polls, drops;

/* It takes a little while, so that a join started after the spawn finds
 * it still running and needs its parker (the old code's path). */
struct job {
    int in;
    int out;
    prokio_sleep_t nap;
};

static int job_poll(void *frame, prokio_cx_t *cx)
{
    struct job *j = frame;
    if (j->out == -1) {
        atomic_fetch_add(&polls, 1);
        j->out = 0;
        prokio_sleep_init(&j->nap, PROKIO_MS(20));
    }
    if (prokio_sleep_poll(&j->nap, cx) == PROKIO_PENDING)
        return PROKIO_PENDING;
    j->out = j->in * 2;
    return 7;
}

static void job_drop(void *frame)
{
    (void)frame;
    atomic_fetch_add(&drops, 1);
}

struct attempt {
    prokio_runtime_t *rt;
    int rc[2];
    struct job job[2];
    unsigned hook_left;
    char error[512];
};

/* On a fresh thread: the first blocking call fails to make the parker, the
 * second makes it. */
static void *attempt_thread(void *arg)
{
    struct attempt *a = arg;
    atomic_store(&prokio__parker_fail_allocs, 1);
    a->rc[0] = prokio_runtime_block_on(a->rt, job_poll, &a->job[0], sizeof a->job[0], job_drop);
    snprintf(a->error, sizeof a->error, "%s", prokio_last_error());
    a->hook_left = atomic_load(&prokio__parker_fail_allocs);
    a->rc[1] = prokio_runtime_block_on(a->rt, job_poll, &a->job[1], sizeof a->job[1], job_drop);
    return NULL;
}

static void test_block_on_fails_before_spawning(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(2);
    struct attempt a = {.rt = rt, .job = {{.in = 21, .out = -1}, {.in = 50, .out = -1}}};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, attempt_thread, &a), 0);
    assert_int_equal(pthread_join(th, NULL), 0);
    /* Shutting down ends any task still alive, running its drop: a task
     * the failed call spawned is counted whether or not it was polled. */
    assert_int_equal(prokio_runtime_shutdown(rt), 0);

    printf("# block_on without a parker: %s: %s\n", prokio_err_name(a.rc[0]), a.error);
    assert_int_equal(a.rc[0], PROKIO_ENOMEM);
    assert_non_null(strstr(a.error, "parker"));
    assert_int_equal(a.hook_left, 0);   /* the failure was this call's */
    assert_int_equal(a.job[0].out, -1); /* nothing copied back */
    /* The second call made the parker and ran its task; the first spawned
     * nothing: one poll, one drop in all. */
    assert_int_equal(a.rc[1], 7);
    assert_int_equal(a.job[1].out, 100);
    assert_int_equal(atomic_load(&polls), 1);
    assert_int_equal(atomic_load(&drops), 1);
    test_runtime_free(rt);
}

int main(void)
{
    test_watchdog("block-on-enomem", 30);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_block_on_fails_before_spawning),
    };
    return cmocka_run_group_tests_name("block_on without memory for its parker", tests, NULL, NULL);
}
