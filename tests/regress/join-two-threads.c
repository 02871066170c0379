/* tests/regress/join-two-threads.c: two threads blocked joining one handle.
 *
 * prokio_task_blocking_join (prokio_task_join before the API's renaming)
 * stored the calling thread's parker as the handle's one waiter, replacing
 * whatever was there. A second thread joining the same handle displaced the
 * first, which was then never woken: it blocked for ever. The header now
 * says: one blocked thread per handle, a second one gets PROKIO_EBUSY at
 * once; the first returns the task's result.
 *
 * Two threads join together (either may come second). The task ends only
 * when the main thread says so, after one of the joins returned: the one
 * that returned must have answered EBUSY, and must have done so before the
 * task ended. Then the task ends and the other join returns its result. On
 * the old code no join returns while the task runs: the watchdog ends the
 * test, naming the step that hung. Runs once, on the automatic backend. */
#include <pthread.h>
#include <stdatomic.h>

#include "common.h"

enum { RESULT = 1234 };

struct joiner {
    prokio_task_t *task;
    int rc;
    char error[256];
    atomic_int done;
    pthread_t thread;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t changed = PTHREAD_COND_INITIALIZER;

static void *join_thread(void *arg)
{
    struct joiner *j = arg;
    j->rc = prokio_task_blocking_join(j->task);
    snprintf(j->error, sizeof j->error, "%s", prokio_last_error());
    pthread_mutex_lock(&lock);
    atomic_store(&j->done, 1);
    pthread_cond_broadcast(&changed);
    pthread_mutex_unlock(&lock);
    return NULL;
}

/* Waits until n joiners returned; the watchdog, told what we wait for,
 * ends the test if they never do. */
static void wait_done(struct joiner *j, int n, const char *what)
{
    test_watchdog_what = what;
    pthread_mutex_lock(&lock);
    while (atomic_load(&j[0].done) + atomic_load(&j[1].done) < n)
        pthread_cond_wait(&changed, &lock);
    pthread_mutex_unlock(&lock);
    test_watchdog_what = "join-two-threads";
}

/* The task ends when `release` is set; it looks every millisecond. */
struct waiter {
    atomic_int *release;
    prokio_sleep_t nap;
};

static int waiter_poll(void *frame, prokio_cx_t *cx)
{
    struct waiter *w = frame;
    for (;;) {
        if (atomic_load(w->release))
            return RESULT;
        int rc = prokio_sleep_poll(&w->nap, cx);
        if (rc == PROKIO_PENDING)
            return rc;
        prokio_sleep_init(&w->nap, PROKIO_MS(1));
    }
}

static void test_second_blocked_joiner_gets_ebusy(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(1);
    atomic_int release = 0;
    struct waiter w = {.release = &release};
    prokio_sleep_init(&w.nap, PROKIO_MS(1));
    prokio_task_t *task;
    assert_int_equal(prokio_spawn(&task, rt, waiter_poll, &w, sizeof w, NULL), 0);

    struct joiner j[2] = {{.task = task}, {.task = task}};
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&j[i].thread, NULL, join_thread, &j[i]), 0);

    /* One of them comes second and must be refused at once, while the task
     * still runs. */
    wait_done(j, 1,
              "join-two-threads: neither join returned while the task ran (the second joiner "
              "was not refused with PROKIO_EBUSY)");
    assert_int_equal(prokio_task_result(task), PROKIO_PENDING);
    struct joiner *second = atomic_load(&j[0].done) ? &j[0] : &j[1];
    struct joiner *first = second == &j[0] ? &j[1] : &j[0];
    printf("# second joiner: %s: %s\n", prokio_err_name(second->rc), second->error);
    assert_int_equal(second->rc, PROKIO_EBUSY);
    assert_non_null(strstr(second->error, "prokio_task_blocking_join"));
    assert_int_equal(atomic_load(&first->done), 0);

    /* The first one returns the result once the task ends. */
    atomic_store(&release, 1);
    wait_done(j, 2, "join-two-threads: the first joiner did not return after the task ended");
    assert_int_equal(first->rc, RESULT);
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_join(j[i].thread, NULL), 0);

    /* And a join after the end returns the result too. */
    assert_int_equal(prokio_task_blocking_join(task), RESULT);
    prokio_task_release(task);
    test_runtime_free(rt);
}

int main(void)
{
    test_watchdog("join-two-threads", 30);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_second_blocked_joiner_gets_ebusy),
    };
    return cmocka_run_group_tests_name("two threads joining one handle", tests, NULL, NULL);
}
