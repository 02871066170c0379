/* tests/unit/test-queue.c: the ready queue and the remote queue
 * (core/queue.h). */
#include <pthread.h>

#include "common.h"

#include "queue.h"

static void test_ready_fifo(void **state)
{
    (void)state;
    struct prokio_task t[4];
    struct prokio__ready_queue q = {0};
    assert_null(prokio__ready_pop(&q));
    for (int i = 0; i < 3; i++)
        prokio__ready_push(&q, &t[i]);
    assert_ptr_equal(prokio__ready_pop(&q), &t[0]);
    prokio__ready_push(&q, &t[3]);
    assert_ptr_equal(prokio__ready_pop(&q), &t[1]);
    assert_ptr_equal(prokio__ready_pop(&q), &t[2]);
    assert_ptr_equal(prokio__ready_pop(&q), &t[3]);
    assert_null(prokio__ready_pop(&q));
    assert_null(q.tail);
}

enum { PRODUCERS = 4, PER_PRODUCER = 100000 };

struct produce {
    _Atomic(struct prokio_task *) *head;
    struct prokio_task *tasks; /* PER_PRODUCER of them */
};

static void *producer(void *p)
{
    struct produce *a = p;
    for (int i = 0; i < PER_PRODUCER; i++)
        assert_true(prokio__remote_push(a->head, &a->tasks[i]));
    return NULL;
}

/* Every push arrives exactly once, and each producer's pushes arrive in
 * the order it made them. */
static void test_remote_concurrent(void **state)
{
    (void)state;
    TEST_SKIP_ON_WASM("needs producer threads (no -pthread)");
    _Atomic(struct prokio_task *) head = NULL;
    struct prokio_task *tasks = calloc(PRODUCERS * PER_PRODUCER, sizeof *tasks);
    struct produce args[PRODUCERS];
    pthread_t th[PRODUCERS];
    for (int p = 0; p < PRODUCERS; p++) {
        args[p] = (struct produce){&head, tasks + p * PER_PRODUCER};
        pthread_create(&th[p], NULL, producer, &args[p]);
    }
    int next[PRODUCERS] = {0};
    size_t got = 0;
    while (got < (size_t)PRODUCERS * PER_PRODUCER) {
        struct prokio_task *last, *t = prokio__remote_take_all(&head, &last);
        for (; t; t = t->next) {
            size_t idx = (size_t)(t - tasks);
            int p = (int)(idx / PER_PRODUCER), i = (int)(idx % PER_PRODUCER);
            assert_int_equal(i, next[p]);
            next[p]++;
            got++;
            if (t->next == NULL)
                assert_ptr_equal(t, last);
        }
    }
    for (int p = 0; p < PRODUCERS; p++)
        pthread_join(th[p], NULL);
    struct prokio_task *last;
    assert_null(prokio__remote_take_all(&head, &last));
    free(tasks);
}

static void test_remote_closed(void **state)
{
    (void)state;
    _Atomic(struct prokio_task *) head = NULL;
    struct prokio_task a, b;
    assert_true(prokio__remote_push(&head, &a));
    atomic_exchange(&head, PROKIO__REMOTE_CLOSED);
    assert_false(prokio__remote_push(&head, &b));
    struct prokio_task *last;
    assert_null(prokio__remote_take_all(&head, &last));
    assert_ptr_equal(atomic_load(&head), PROKIO__REMOTE_CLOSED); /* stays closed */
}

int main(void)
{
    test_watchdog("test-queue", 60);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ready_fifo),
        cmocka_unit_test(test_remote_concurrent),
        cmocka_unit_test(test_remote_closed),
    };
    return cmocka_run_group_tests_name("run queues", tests, NULL, NULL);
}
