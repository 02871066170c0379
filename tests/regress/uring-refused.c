/* tests/regress/uring-refused.c: io_uring refused by the kernel.
 *
 * Kernels with io_uring disabled (sysctl kernel.io_uring_disabled, seccomp
 * profiles of container runtimes, old kernels) make io_uring_setup fail with
 * EPERM or ENOSYS. Then an explicit request for the uring backend must fail
 * with that code and a message naming the backend, while automatic selection
 * must fall back to another backend. Tokio tests its io_uring fallback on an
 * old kernel; here a seccomp filter plays the refusing kernel, in a child
 * process (a filter cannot be removed once installed).
 *
 * Runs once, for the uring backend (tests/run/regress~uring-refused.uring.test),
 * so it is skipped when that backend was not built. */
#include <sys/wait.h>

#include "common.h"
#include "refuse-syscall.h"

enum {
    CHILD_OK = 0,
    CHILD_EXPLICIT_NOT_REFUSED = 10,
    CHILD_WRONG_CODE,
    CHILD_MESSAGE_LACKS_DETAIL,
    CHILD_AUTO_FAILED,
    CHILD_AUTO_PICKED_URING,
    CHILD_FILTER_FAILED,
    CHILD_TASK_FAILED,
};

#ifdef PROKIO_TEST_CAN_REFUSE
static int refuse_io_uring(int err)
{
    return refuse_syscall(__NR_io_uring_setup, err);
}
#endif

static int answer_poll(void *frame, prokio_cx_t *cx)
{
    (void)cx;
    *(int *)frame = 42;
    return 0;
}

/* In the child: the kernel now refuses io_uring_setup with `err`. */
static int child(int err)
{
#ifdef PROKIO_TEST_CAN_REFUSE
    if (refuse_io_uring(err) != 0)
        return CHILD_FILTER_FAILED;
#endif
    prokio_runtime_t *rt = NULL;
    prokio_runtime_options_t o = PROKIO_RUNTIME_OPTIONS_INIT;
    o.workers = 2;
    o.backend = "uring";
    int rc = prokio_runtime_new(&rt, &o);
    printf("# explicit uring: %s: %s\n", prokio_err_name(rc), prokio_last_error());
    if (rc == 0)
        return CHILD_EXPLICIT_NOT_REFUSED;
    if (rc != -err)
        return CHILD_WRONG_CODE;
    const char *msg = prokio_last_error();
    if (!strstr(msg, "backend uring") || !strstr(msg, "failed to start") ||
        !strstr(msg, prokio_err_name(rc)))
        return CHILD_MESSAGE_LACKS_DETAIL;

    /* Automatic selection moves on to the next backend that starts. */
    unsetenv("PROKIO_BACKEND");
    o.backend = NULL;
    rc = prokio_runtime_new(&rt, &o);
    if (rc == 0)
        printf("# automatic: fell back to %s\n", prokio_runtime_backend_name(rt));
    else
        printf("# automatic: %s: %s\n", prokio_err_name(rc), prokio_last_error());
    if (rc < 0)
        return CHILD_AUTO_FAILED;
    if (strcmp(prokio_runtime_backend_name(rt), "uring") == 0)
        return CHILD_AUTO_PICKED_URING;
    int answer = 0;
    rc = prokio_runtime_block_on(rt, answer_poll, &answer, sizeof answer, NULL);
    if (rc != 0 || answer != 42 || prokio_runtime_free(rt) != 0)
        return CHILD_TASK_FAILED;
    return CHILD_OK;
}

static void run_refused(int err)
{
    fflush(stdout);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int code = child(err);
        fflush(stdout);
        _exit(code);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), CHILD_OK);
}

static void test_refused_with_eperm(void **state)
{
    (void)state;
    run_refused(EPERM);
}

static void test_refused_with_enosys(void **state)
{
    (void)state;
    run_refused(ENOSYS);
}

int main(void)
{
    test_watchdog("uring-refused", 60);
#ifndef PROKIO_TEST_CAN_REFUSE
    printf("1..0 # SKIP no seccomp architecture constant for this machine\n");
    return 0;
#endif
    /* Automatic selection needs another backend to fall back to. */
    const char *top = getenv("top_builddir");
    char path[1024];
    snprintf(path, sizeof path, "%s/backends/.libs/prokio-event.so", top ? top : ".");
    if (access(path, F_OK) != 0) {
        snprintf(path, sizeof path, "%s/backends/.libs/prokio-uv.so", top ? top : ".");
        if (access(path, F_OK) != 0) {
            printf("1..0 # SKIP no backend other than uring was built to fall back to\n");
            return 0;
        }
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refused_with_eperm),
        cmocka_unit_test(test_refused_with_enosys),
    };
    return cmocka_run_group_tests_name("io_uring refused by the kernel", tests, NULL, NULL);
}
