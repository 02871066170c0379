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
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "common.h"

#if defined(__x86_64__)
#define THIS_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define THIS_ARCH AUDIT_ARCH_AARCH64
#endif

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

#ifdef THIS_ARCH
static int refuse_io_uring(int err)
{
    struct sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, THIS_ARCH, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ((unsigned)err & SECCOMP_RET_DATA)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {.len = sizeof filter / sizeof *filter, .filter = filter};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return -1;
    return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog);
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
#ifdef THIS_ARCH
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
#ifndef THIS_ARCH
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
