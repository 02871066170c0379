/* tests/regress/join-waiter-rules.c: one waiter per JoinHandle, and who it
 * is when a task and a thread both join, or when a handle changes hands.
 *
 * A JoinHandle has one waiter slot. The rules (prokio/task.h, and the slot
 * in core/waker_slot.h): a handle handed from one task to another is
 * awaited by the last task that polled it; a thread blocked in
 * prokio_task_blocking_join is never displaced, and a task that polls the
 * handle meanwhile gets PROKIO_EBUSY; a second blocked thread gets
 * PROKIO_EBUSY at once (tests/regress/join-two-threads.c).
 *
 * The bug: a blocking join that found a task's waker in the slot replaced
 * it silently. The task, still awaiting the handle, was never woken: it
 * waited for ever, and so did whoever waited for it. Now the displaced task
 * is woken, polls the handle again and gets PROKIO_EBUSY; the thread gets
 * the result. Nobody waits for ever, whichever comes first.
 *
 * Also here, as guards of the same slot: a handle handed from a task to a
 * thread that joins it (the task still alive, its waker left in the slot),
 * and from a task to another task. Runs once, on the automatic backend. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#include "common.h"

enum { RESULT = 77 };

/* --------------------------------------------------------------- helpers */

/* A task that ends with RESULT once *release is set (it looks every
 * millisecond), or after `ms` milliseconds when ms is not 0. */
struct gate {
    atomic_int *release;
    unsigned ms;
    prokio_sleep_t nap;
    prokio_sleep_t deadline;
    int started;
};

static int gate_poll(void *frame, prokio_cx_t *cx)
{
    struct gate *g = frame;
    if (!g->started) {
        g->started = 1;
        prokio_sleep_init(&g->nap, PROKIO_MS(1));
        prokio_sleep_init(&g->deadline, PROKIO_MS(g->ms));
    }
    if (g->ms && prokio_sleep_poll(&g->deadline, cx) == 0)
        return RESULT;
    for (;;) {
        if (g->release && atomic_load(g->release))
            return RESULT;
        if (prokio_sleep_poll(&g->nap, cx) == PROKIO_PENDING)
            return PROKIO_PENDING;
        prokio_sleep_init(&g->nap, PROKIO_MS(1));
    }
}

static prokio_task_t *spawn_gate(prokio_runtime_t *rt, atomic_int *release, unsigned ms)
{
    struct gate g = {.release = release, .ms = ms};
    prokio_task_t *h;
    assert_int_equal(prokio_spawn(&h, rt, gate_poll, &g, sizeof g, NULL), 0);
    return h;
}

static void wait_flag(atomic_int *flag, const char *what)
{
    test_watchdog_what = what;
    while (!atomic_load(flag))
        sched_yield();
    test_watchdog_what = "join-waiter-rules";
}

struct blocking {
    prokio_task_t *task;
    int rc;
    pthread_t thread;
};

static void *blocking_thread(void *arg)
{
    struct blocking *b = arg;
    b->rc = prokio_task_blocking_join(b->task);
    return NULL;
}

/* A task that awaits `task` and reports what its join returned. After the
 * first PENDING it sets *registered. */
struct awaiter {
    prokio_task_t *task;
    atomic_int *registered;
    int polls;
    int rc;
};

static int awaiter_poll(void *frame, prokio_cx_t *cx)
{
    struct awaiter *a = frame;
    a->polls++;
    int rc = prokio_task_join_poll(a->task, cx);
    if (rc == PROKIO_PENDING) {
        atomic_store(a->registered, 1);
        return PROKIO_PENDING;
    }
    a->rc = rc;
    return 0;
}

/* ----------------------------------------------------------------- tests */

/* A task awaits the handle; then a thread blocks joining it. */
static void test_task_awaits_then_thread_joins(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(2);
    atomic_int release = 0, registered = 0;
    prokio_task_t *h = spawn_gate(rt, &release, 0);

    struct awaiter a = {.task = h, .registered = &registered, .rc = 1};
    prokio_task_t *ha;
    assert_int_equal(prokio_spawn(&ha, rt, awaiter_poll, &a, sizeof a, NULL), 0);
    wait_flag(&registered, "join-waiter-rules: the awaiting task never polled the handle");

    struct blocking b = {.task = h};
    assert_int_equal(pthread_create(&b.thread, NULL, blocking_thread, &b), 0);
    /* The task is not left waiting for ever: it is told, while the gate is
     * still shut, that a thread now holds the slot. */
    test_watchdog_what = "join-waiter-rules: a task awaiting a handle was displaced by a "
                         "blocking join and never woken";
    assert_int_equal(prokio_task_blocking_join(ha), 0);
    test_watchdog_what = "join-waiter-rules";
    struct awaiter *done = prokio_task_frame(ha);
    printf("# the task's join answered %s after %d polls\n", prokio_err_name(done->rc),
           done->polls);
    assert_int_equal(done->rc, PROKIO_EBUSY);
    assert_int_equal(prokio_task_result(h), PROKIO_PENDING);

    atomic_store(&release, 1);
    assert_int_equal(pthread_join(b.thread, NULL), 0);
    assert_int_equal(b.rc, RESULT);
    prokio_task_release(ha);
    prokio_task_release(h);
    test_runtime_free(rt);
}

/* A thread blocks joining the handle; then a task polls it. Which of the
 * two registers first is not controlled: either way the task ends with
 * EBUSY and the thread with the result. */
static void test_thread_joins_then_task_polls(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(2);
    atomic_int release = 0, registered = 0;
    prokio_task_t *h = spawn_gate(rt, &release, 0);

    struct blocking b = {.task = h};
    assert_int_equal(pthread_create(&b.thread, NULL, blocking_thread, &b), 0);
    struct awaiter a = {.task = h, .registered = &registered, .rc = 1};
    prokio_task_t *ha;
    assert_int_equal(prokio_spawn(&ha, rt, awaiter_poll, &a, sizeof a, NULL), 0);
    test_watchdog_what = "join-waiter-rules: a task and a blocked thread on one handle";
    assert_int_equal(prokio_task_blocking_join(ha), 0);
    test_watchdog_what = "join-waiter-rules";
    assert_int_equal(((struct awaiter *)prokio_task_frame(ha))->rc, PROKIO_EBUSY);
    assert_int_equal(prokio_task_result(h), PROKIO_PENDING);

    atomic_store(&release, 1);
    assert_int_equal(pthread_join(b.thread, NULL), 0);
    assert_int_equal(b.rc, RESULT);
    prokio_task_release(ha);
    prokio_task_release(h);
    test_runtime_free(rt);
}

/* A task polls the handle once, hands it to a thread and goes on with
 * something else (its waker stays in the slot). The thread's blocking join
 * returns the result. */
struct hander {
    prokio_task_t *task;
    atomic_int *handed;
    prokio_sleep_t forever;
    int step;
};

static int hander_poll(void *frame, prokio_cx_t *cx)
{
    struct hander *f = frame;
    if (f->step == 0) {
        f->step = 1;
        if (prokio_task_join_poll(f->task, cx) != PROKIO_PENDING)
            return -1;
        atomic_store(f->handed, 1);
        prokio_sleep_init(&f->forever, PROKIO_SEC(3600));
    }
    return prokio_sleep_poll(&f->forever, cx);
}

static void test_handle_handed_from_task_to_thread(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(2);
    atomic_int handed = 0;
    /* It ends on its own, most likely after the thread blocked. */
    prokio_task_t *h = spawn_gate(rt, NULL, 50);
    struct hander f = {.task = h, .handed = &handed};
    prokio_task_t *hf;
    assert_int_equal(prokio_spawn(&hf, rt, hander_poll, &f, sizeof f, NULL), 0);
    wait_flag(&handed, "join-waiter-rules: the task never handed the handle over");

    test_watchdog_what = "join-waiter-rules: a thread joining a handle a task handed it";
    assert_int_equal(prokio_task_blocking_join(h), RESULT);
    test_watchdog_what = "join-waiter-rules";
    assert_int_equal(prokio_task_result(hf), PROKIO_PENDING);
    prokio_task_abort(hf);
    assert_int_equal(prokio_task_blocking_join(hf), PROKIO_ECANCELED);
    prokio_task_release(hf);
    prokio_task_release(h);
    test_runtime_free(rt);
}

/* Task A polls the handle and ends; task B, given the handle, awaits it:
 * B is the one woken with the result. */
struct first {
    prokio_task_t *task;
};

static int first_poll(void *frame, prokio_cx_t *cx)
{
    struct first *f = frame;
    return prokio_task_join_poll(f->task, cx) == PROKIO_PENDING ? 0 : -1;
}

static void test_handle_handed_from_task_to_task(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(2);
    atomic_int release = 0, registered = 0;
    prokio_task_t *h = spawn_gate(rt, &release, 0);
    struct first f = {.task = h};
    prokio_task_t *hf;
    assert_int_equal(prokio_spawn(&hf, rt, first_poll, &f, sizeof f, NULL), 0);
    assert_int_equal(prokio_task_blocking_join(hf), 0);

    struct awaiter a = {.task = h, .registered = &registered, .rc = 1};
    prokio_task_t *ha;
    assert_int_equal(prokio_spawn(&ha, rt, awaiter_poll, &a, sizeof a, NULL), 0);
    wait_flag(&registered, "join-waiter-rules: the second task never polled the handle");
    atomic_store(&release, 1);
    test_watchdog_what = "join-waiter-rules: the last task to poll a handle was not woken";
    assert_int_equal(prokio_task_blocking_join(ha), 0);
    test_watchdog_what = "join-waiter-rules";
    assert_int_equal(((struct awaiter *)prokio_task_frame(ha))->rc, RESULT);
    prokio_task_release(hf);
    prokio_task_release(ha);
    prokio_task_release(h);
    test_runtime_free(rt);
}

int main(void)
{
    test_watchdog("join-waiter-rules", 30);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_task_awaits_then_thread_joins),
        cmocka_unit_test(test_thread_joins_then_task_polls),
        cmocka_unit_test(test_handle_handed_from_task_to_thread),
        cmocka_unit_test(test_handle_handed_from_task_to_task),
    };
    return cmocka_run_group_tests_name("who waits on a JoinHandle", tests, NULL, NULL);
}
