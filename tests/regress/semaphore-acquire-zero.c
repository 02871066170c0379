/* tests/regress/semaphore-acquire-zero.c: acquiring 0 permits completes at
 * once, as sync.h says, even while other acquires wait.
 *
 * The bug (found in review): prokio__sem_try refused any acquire while
 * WAITERS was set, n = 0 included, so an acquire of 0 permits queued
 * behind the waiting ones with nothing to wait for. When a release then
 * handed out exactly what the waiters ahead asked for, the add loop
 * stopped (nothing left to give) and left the 0-permit wait at the head
 * of the queue: it waited until some unrelated later release, for ever if
 * none came, and every acquire after it queued behind it. The blocking
 * call hung the same way.
 *
 * Here: a semaphore of 0 permits with one task waiting for 1. An acquire
 * of 0 must complete at its first poll; then release(1) must end the
 * waiting task, and a blocking acquire of 0 must return at once. Runs
 * once, on the automatic backend. */
#include <stdatomic.h>

#include "common.h"

static atomic_int waiting; /* the acquire of 1 is queued */

struct one {
    prokio_semaphore_t *s;
    prokio_wait_t wait;
};

static int one_poll(void *frame, prokio_cx_t *cx)
{
    struct one *o = frame;
    int rc = prokio_semaphore_acquire_poll(&o->wait, o->s, 1, cx);
    if (rc == PROKIO_PENDING)
        atomic_store(&waiting, 1);
    return rc;
}

struct zero {
    prokio_semaphore_t *s;
    prokio_wait_t wait;
};

static int zero_poll(void *frame, prokio_cx_t *cx)
{
    struct zero *z = frame;
    int rc = prokio_semaphore_acquire_poll(&z->wait, z->s, 0, cx);
    if (rc == PROKIO_PENDING) {
        /* Not ready at once: give up rather than hang the test. */
        prokio_wait_cancel(&z->wait);
        return -1;
    }
    return rc;
}

static void test_acquire_zero_with_waiters(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(1);
    prokio_semaphore_t *s;
    assert_int_equal(prokio_semaphore_new(&s, 0, 0), 0);
    struct one o = {.s = s};
    prokio_task_t *h;
    assert_int_equal(prokio_spawn(&h, rt, one_poll, &o, sizeof o, NULL), 0);
    for (uint64_t spins = 0; !atomic_load(&waiting); spins++)
        if (spins > 100000000)
            fail_msg("the acquire of 1 never waited");
    /* -1: the first poll was pending. */
    struct zero z = {.s = s};
    assert_int_equal(prokio_runtime_block_on(rt, zero_poll, &z, sizeof z, NULL), 0);
    assert_int_equal(prokio_semaphore_try_acquire(s, 0), 0);
    /* The one permit goes to the waiting task, which ends. */
    prokio_semaphore_release(s, 1);
    assert_int_equal(prokio_task_blocking_join(h), 0);
    prokio_task_release(h);
    assert_int_equal(prokio_semaphore_blocking_acquire(s, 0), 0);
    assert_int_equal(prokio_semaphore_available(s), 0);
    assert_int_equal(prokio_semaphore_free(s), 0);
    test_runtime_free(rt);
}

int main(void)
{
    test_watchdog("semaphore-acquire-zero", 60);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_acquire_zero_with_waiters),
    };
    return cmocka_run_group_tests_name("semaphore-acquire-zero", tests, NULL, NULL);
}
