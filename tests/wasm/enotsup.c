/* tests/wasm/enotsup.c: what cannot work on WebAssembly says so. Linked
 * WITHOUT -sASYNCIFY (tests/wasm/Makefile.inc): the JS thread cannot block,
 * so every blocking call answers PROKIO_ENOTSUP with a message that names
 * the function and says what to do, and changes nothing (the task it would
 * have waited for still runs and is joined from a task afterwards). A
 * browser has no descriptors, and the wasm backend watches none:
 * prokio_fd_new answers PROKIO_ENOTSUP too. Output: TAP. */
#include <stdio.h>
#include <string.h>

#include <prokio.h>

static int n_test;
static int failed;

static void check(int ok, const char *what)
{
    n_test++;
    if (!ok)
        failed = 1;
    printf("%s %d - %s\n", ok ? "ok" : "not ok", n_test, what);
}

/* rc is PROKIO_ENOTSUP and the message names fn. */
static void check_enotsup(int rc, const char *fn)
{
    char what[256];
    const char *msg = prokio_last_error();
    snprintf(what, sizeof what, "%s answers PROKIO_ENOTSUP (%s)", fn,
             rc == PROKIO_ENOTSUP ? msg : prokio_err_name(rc));
    check(rc == PROKIO_ENOTSUP && strstr(msg, fn) != NULL && strstr(msg, "ASYNCIFY") != NULL, what);
}

static int value_poll(void *frame, prokio_cx_t *cx)
{
    (void)cx;
    return *(int *)frame;
}

static prokio_task_t *early;
static prokio_oneshot_tx_t *tx;
static prokio_oneshot_rx_t *rx;
static prokio_mutex_t *mutex;

struct root {
    int state;
    int value;
};

static int root_poll(void *frame, prokio_cx_t *cx)
{
    struct root *r = frame;
    if (r->state == 0) {
        /* Descriptors: refused at registration, with the function named. */
        prokio_fd_t *fd = (prokio_fd_t *)&fd;
        int rc = prokio_fd_new(&fd, 1, cx);
        char what[256];
        snprintf(what, sizeof what, "prokio_fd_new answers PROKIO_ENOTSUP (%s)",
                 prokio_last_error());
        check(rc == PROKIO_ENOTSUP && fd == NULL &&
                  strstr(prokio_last_error(), "prokio_fd_new") != NULL,
              what);
        r->state = 1;
    }
    if (r->state == 1) {
        /* The task main could not join: it ran all the same. */
        int rc = prokio_task_join_poll(early, cx);
        if (rc == PROKIO_PENDING)
            return PROKIO_PENDING;
        check(rc == 42, "the task main failed to join ran and is joined from a task");
        prokio_task_release(early);
        r->state = 2;
    }
    int rc = prokio_oneshot_recv_poll(rx, &r->value, cx);
    if (rc == PROKIO_PENDING)
        return PROKIO_PENDING;
    check(rc == 0 && r->value == 7, "the value main failed to receive is received by a task");
    prokio_oneshot_rx_release(rx);
    check(prokio_mutex_try_lock(mutex) == 0, "the mutex main failed to lock is free");
    prokio_mutex_unlock(mutex);
    check(prokio_mutex_free(mutex) == 0, "and frees");
    printf("1..%d\n", n_test);
    return failed;
}

int main(void)
{
    prokio_runtime_t *rt;
    if (prokio_runtime_new(&rt, NULL) < 0) {
        printf("Bail out! prokio_runtime_new: %s\n", prokio_last_error());
        return 1;
    }
    int v = 42;
    check_enotsup(prokio_runtime_block_on(rt, value_poll, &v, sizeof v, NULL),
                  "prokio_runtime_block_on");
    if (prokio_spawn(&early, rt, value_poll, &v, sizeof v, NULL) < 0) {
        printf("Bail out! prokio_spawn: %s\n", prokio_last_error());
        return 1;
    }
    check_enotsup(prokio_task_blocking_join(early), "prokio_task_blocking_join");
    check(prokio_task_result(early) == PROKIO_PENDING, "the task is still to run");
    if (prokio_oneshot_new(&tx, &rx, sizeof(int), NULL, 0) < 0 || prokio_mutex_new(&mutex, 0) < 0) {
        printf("Bail out! %s\n", prokio_last_error());
        return 1;
    }
    check_enotsup(prokio_oneshot_blocking_recv(rx, &v), "prokio_oneshot_blocking_recv");
    int seven = 7;
    check(prokio_oneshot_send(tx, &seven) == 0, "the oneshot still sends");
    check(prokio_mutex_try_lock(mutex) == 0, "a mutex locks without waiting");
    check_enotsup(prokio_mutex_blocking_lock(mutex), "prokio_mutex_blocking_lock");
    prokio_mutex_unlock(mutex);
    return prokio_runtime_run_main(rt, root_poll, NULL, sizeof(struct root), NULL);
}
