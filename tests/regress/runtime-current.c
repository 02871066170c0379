/* tests/regress/runtime-current.c: prokio_runtime_current() and runtime
 * clones.
 *
 * A library called from a task, and not handed cx, finds its runtime with
 * prokio_runtime_current(), as Tokio's Handle::current(): the runtime in a
 * poll and in a drop function, including the drops that shutdown runs, and
 * NULL on any thread that is not a worker. A library that keeps the pointer
 * takes a clone (prokio_runtime_clone): the pointer then stays valid after
 * the creator's prokio_runtime_free, which is not delayed by it; spawning
 * through the clone then fails with PROKIO_ESHUTDOWN and
 * prokio_runtime_is_shut_down() says true; the last release frees the
 * memory (ASan's leak check, in the sanitizer builds, verifies that it is
 * freed, and freed once).
 *
 * These functions arrived with the API's restructuring; there is no old
 * code to fail on. Runs once, on the automatic backend. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#include "common.h"

/* What the tasks saw, written on workers and read after their end. */
static prokio_runtime_t *_Atomic seen_in_poll;
static prokio_runtime_t *_Atomic seen_by_cx;
static prokio_runtime_t *_Atomic seen_in_drop;
static prokio_runtime_t *_Atomic seen_in_shutdown_drop;
static prokio_runtime_t *_Atomic kept; /* a clone a "library" keeps */
static atomic_int parked;

static int record_poll(void *frame, prokio_cx_t *cx)
{
    (void)frame;
    atomic_store(&seen_in_poll, prokio_runtime_current());
    atomic_store(&seen_by_cx, prokio_cx_runtime(cx));
    return 0;
}

static void record_drop(void *frame)
{
    (void)frame;
    atomic_store(&seen_in_drop, prokio_runtime_current());
}

static int park_poll(void *frame, prokio_cx_t *cx)
{
    (void)frame, (void)cx;
    atomic_store(&parked, 1);
    return PROKIO_PENDING; /* never woken: ended by the shutdown */
}

static void shutdown_drop(void *frame)
{
    (void)frame;
    atomic_store(&seen_in_shutdown_drop, prokio_runtime_current());
}

/* A library that stores the runtime it was called on, to spawn later. */
static int keep_poll(void *frame, prokio_cx_t *cx)
{
    (void)frame, (void)cx;
    atomic_store(&kept, prokio_runtime_clone(prokio_runtime_current()));
    return 0;
}

static void *plain_thread(void *arg)
{
    *(prokio_runtime_t **)arg = prokio_runtime_current();
    return NULL;
}

static int nothing_poll(void *frame, prokio_cx_t *cx)
{
    (void)frame, (void)cx;
    return 0;
}

static void test_current_runtime(void **state)
{
    (void)state;
    assert_null(prokio_runtime_current());
    prokio_runtime_t *rt = test_runtime(2);
    assert_null(prokio_runtime_current());

    assert_int_equal(prokio_runtime_block_on(rt, record_poll, NULL, 0, record_drop), 0);
    assert_ptr_equal(atomic_load(&seen_in_poll), rt);
    assert_ptr_equal(atomic_load(&seen_by_cx), rt);
    assert_ptr_equal(atomic_load(&seen_in_drop), rt);

    /* On a thread of the application's, while the runtime runs. */
    prokio_runtime_t *on_thread = (prokio_runtime_t *)&on_thread;
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, plain_thread, &on_thread), 0);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_null(on_thread);

    /* In a drop that shutdown runs. */
    assert_int_equal(prokio_spawn(NULL, rt, park_poll, NULL, 0, shutdown_drop), 0);
    while (!atomic_load(&parked))
        sched_yield();
    assert_int_equal(prokio_runtime_shutdown(rt), 0);
    assert_ptr_equal(atomic_load(&seen_in_shutdown_drop), rt);
    assert_null(prokio_runtime_current());
    test_runtime_free(rt);
}

static void test_clone_outlives_the_creators_free(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(2);
    assert_int_equal(prokio_runtime_block_on(rt, keep_poll, NULL, 0, NULL), 0);
    prokio_runtime_t *lib = atomic_load(&kept);
    assert_ptr_equal(lib, rt);
    prokio_runtime_t *other = prokio_runtime_clone(rt);
    assert_ptr_equal(other, rt);
    char name[32];
    snprintf(name, sizeof name, "%s", prokio_runtime_backend_name(rt));
    unsigned workers = prokio_runtime_workers(rt);
    assert_false(prokio_runtime_is_shut_down(lib));

    /* The creator's free is not delayed by the clones. */
    assert_int_equal(prokio_runtime_free(rt), 0);

    /* The library learns that the runtime is gone. */
    assert_true(prokio_runtime_is_shut_down(lib));
    prokio_task_t *h = (prokio_task_t *)&h;
    assert_int_equal(prokio_spawn(&h, lib, nothing_poll, NULL, 0, NULL), PROKIO_ESHUTDOWN);
    assert_null(h);
    h = (prokio_task_t *)&h;
    assert_int_equal(prokio_spawn_on(&h, lib, 0, nothing_poll, NULL, 0, NULL), PROKIO_ESHUTDOWN);
    assert_null(h);
    assert_int_equal(prokio_spawn(NULL, lib, nothing_poll, NULL, 0, NULL), PROKIO_ESHUTDOWN);
    assert_int_equal(prokio_runtime_block_on(lib, nothing_poll, NULL, 0, NULL), PROKIO_ESHUTDOWN);
    /* What it reads stays valid until its release. */
    assert_string_equal(prokio_runtime_backend_name(lib), name);
    assert_int_equal(prokio_runtime_workers(lib), workers);

    /* The last of the two releases frees the memory. */
    prokio_runtime_release(lib);
    assert_true(prokio_runtime_is_shut_down(other));
    prokio_runtime_release(other);
}

static void test_clone_released_before_free(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(1);
    prokio_runtime_t *c = prokio_runtime_clone(rt);
    prokio_runtime_release(c);
    /* The creator's free then frees the memory. */
    assert_int_equal(prokio_runtime_block_on(rt, nothing_poll, NULL, 0, NULL), 0);
    test_runtime_free(rt);
}

int main(void)
{
    test_watchdog("runtime-current", 30);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_current_runtime),
        cmocka_unit_test(test_clone_outlives_the_creators_free),
        cmocka_unit_test(test_clone_released_before_free),
    };
    return cmocka_run_group_tests_name("the current runtime, and clones", tests, NULL, NULL);
}
