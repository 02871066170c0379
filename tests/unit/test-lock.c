/* tests/unit/test-lock.c: the futex lock of core/lock.h under contention:
 * threads increment a plain counter under it, more threads than CPUs so
 * that holders are preempted and waiters sleep; the count is exact, and a
 * holder preempted for a while leaves the others asleep, not spinning for
 * ever. */
#include <pthread.h>
#include <sched.h>

#include "common.h"
#include "lock.h"

#define THREADS 6
#define ROUNDS  200000

static struct prokio__lock lock = PROKIO__LOCK_INIT;
static uint64_t counter; /* plain: the lock is what keeps it exact */

static void *hammer(void *arg)
{
    (void)arg;
    for (int i = 0; i < ROUNDS; i++) {
        prokio__lock_acquire(&lock);
        counter++;
        if (i % 1024 == 0)
            sched_yield(); /* hold it across a reschedule now and then */
        prokio__lock_release(&lock);
    }
    return NULL;
}

static void test_contended_count_exact(void **state)
{
    (void)state;
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, hammer, NULL), 0);
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_join(t[i], NULL), 0);
    assert_int_equal(counter, (uint64_t)THREADS * ROUNDS);
    assert_int_equal(atomic_load(&lock.state), 0);
}

static void test_uncontended_states(void **state)
{
    (void)state;
    struct prokio__lock l = PROKIO__LOCK_INIT;
    prokio__lock_acquire(&l);
    assert_int_equal(atomic_load(&l.state), 1);
    prokio__lock_release(&l);
    assert_int_equal(atomic_load(&l.state), 0);
}

int main(void)
{
    test_watchdog("test-lock", 120);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_uncontended_states),
        cmocka_unit_test(test_contended_count_exact),
    };
    return cmocka_run_group_tests_name("lock", tests, NULL, NULL);
}
