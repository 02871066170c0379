/* tests/regress/task-fault-signals.c: a crash inside a task reaches the
 * application's handler; asynchronous signals stay away from workers.
 *
 * Workers blocked every signal, synchronous ones (SIGSEGV, SIGBUS, SIGFPE,
 * SIGILL) included, so that signals would reach the application's threads.
 * But a synchronous signal raised while blocked is not queued: the kernel
 * kills the process outright, so a fault in a task ran no handler of the
 * application's and no sanitizer report. Workers now block only the
 * asynchronous signals.
 *
 * In a child process that installs its own handler, a task faults: the
 * handler must run, on the worker's thread, and end the child with its own
 * exit code. __builtin_trap (SIGILL on x86, SIGTRAP on arm64) is used in
 * every build, since no sanitizer catches it by default; SIGFPE (an integer
 * division by zero), SIGSEGV (a read at address 16) and SIGBUS (a read
 * beyond the end of a mapped file) in builds without ASan, which has
 * handlers of its own for those. Then the other half
 * of the rule: SIGUSR1 sent to the process while every thread but the
 * workers blocks it must stay pending, not be delivered to a worker. Runs
 * once, on the automatic backend. */
#include <pthread.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "common.h"

/* ASan has handlers of its own for SIGSEGV, SIGBUS and SIGFPE (handle_segv,
 * handle_sigbus, handle_sigfpe); whether the application's replace them
 * depends on its version and options, so those are not tried under it. */
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZER_OWNS_SEGV 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define SANITIZER_OWNS_SEGV 1
#endif

enum {
    HANDLED_ON_WORKER = 42, /* the handler ran, on another thread than main */
    HANDLED_ON_MAIN = 43,
    CHILD_SETUP_FAILED = 44,
    CHILD_NO_FAULT = 45,
};

static pid_t main_tid;

static pid_t gettid_(void)
{
    return (pid_t)syscall(SYS_gettid);
}

static void on_fault(int sig)
{
    (void)sig;
    _exit(gettid_() != main_tid ? HANDLED_ON_WORKER : HANDLED_ON_MAIN);
}

enum fault { TRAP, DIVIDE, SEGV, BUS };

static volatile int zero = 0;
/* Not NULL: UBSan would report a NULL read before the processor faults. */
static volatile int *volatile nowhere = (volatile int *)(uintptr_t)16;
/* A page mapped from an empty file: reading it raises SIGBUS. */
static volatile char *beyond_eof;

static int fault_poll(void *frame, prokio_cx_t *cx)
{
    (void)cx;
    switch (*(enum fault *)frame) {
    case TRAP:
        __builtin_trap();
    case DIVIDE:
#if defined(__x86_64__) || defined(__i386__)
    {
        /* In assembly: UBSan would report a division by zero in C
         * before the processor could fault. */
        int n = 1, high, d = zero;
        __asm__ volatile("cltd\n\tidivl %2" : "+a"(n), "=&d"(high) : "r"(d) : "cc");
        return n + high;
    }
#else
        return 0;
#endif
    case SEGV:
        return *nowhere;
    case BUS:
        return *beyond_eof;
    }
    return 0;
}

static int child(enum fault f)
{
    main_tid = gettid_();
    struct sigaction sa = {.sa_handler = on_fault};
    sigemptyset(&sa.sa_mask);
    const int sigs[] = {SIGILL, SIGTRAP, SIGFPE, SIGSEGV, SIGBUS};
    for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++)
        if (sigaction(sigs[i], &sa, NULL) != 0)
            return CHILD_SETUP_FAILED;
    prokio_runtime_t *rt = NULL;
    prokio_runtime_options_t o = PROKIO_RUNTIME_OPTIONS_INIT;
    o.workers = 2;
    if (f == BUS) {
        int fd = memfd_create("beyond-eof", MFD_CLOEXEC);
        void *page = fd < 0 ? MAP_FAILED : mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
        if (page == MAP_FAILED)
            return CHILD_SETUP_FAILED;
        beyond_eof = page;
    }
    if (prokio_runtime_new(&rt, &o) != 0)
        return CHILD_SETUP_FAILED;
    prokio_runtime_block_on(rt, fault_poll, &f, sizeof f, NULL);
    return CHILD_NO_FAULT;
}

static void expect_handler(enum fault f, const char *what)
{
    fflush(stdout);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(child(f));
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (WIFSIGNALED(status))
        fail_msg("%s in a task: the process died of signal %d without running its handler", what,
                 WTERMSIG(status));
    assert_true(WIFEXITED(status));
    switch (WEXITSTATUS(status)) {
    case HANDLED_ON_WORKER:
        printf("# %s in a task: the application's handler ran on the worker\n", what);
        return;
    case HANDLED_ON_MAIN:
        fail_msg("%s: the handler ran on the main thread, not on the faulting worker", what);
    case CHILD_NO_FAULT:
        fail_msg("%s: the task did not fault", what);
    default:
        fail_msg("%s: the child failed to set up (exit %d)", what, WEXITSTATUS(status));
    }
}

static void test_trap_in_task(void **state)
{
    (void)state;
    expect_handler(TRAP, "__builtin_trap");
}

static void test_divide_by_zero_in_task(void **state)
{
    (void)state;
#if !(defined(__x86_64__) || defined(__i386__))
    printf("# integer division by zero does not trap on this processor: not tried\n");
#elif defined(SANITIZER_OWNS_SEGV)
    printf("# ASan handles SIGFPE itself in this build: not tried\n");
#else
    expect_handler(DIVIDE, "SIGFPE");
#endif
}

static void test_bus_error_in_task(void **state)
{
    (void)state;
#if defined(SANITIZER_OWNS_SEGV)
    printf("# ASan handles SIGBUS itself in this build: not tried\n");
#else
    expect_handler(BUS, "SIGBUS");
#endif
}

static void test_segv_in_task(void **state)
{
    (void)state;
#if defined(SANITIZER_OWNS_SEGV)
    printf("# ASan handles SIGSEGV itself in this build: not tried\n");
#else
    expect_handler(SEGV, "SIGSEGV");
#endif
}

/* ---------------------------------------------------- asynchronous ones */

static volatile sig_atomic_t usr1_on_worker;

static void on_usr1(int sig)
{
    (void)sig;
    if (gettid_() != main_tid)
        usr1_on_worker = 1;
}

static int idle_poll(void *frame, prokio_cx_t *cx)
{
    prokio_sleep_t *nap = frame;
    return prokio_sleep_poll(nap, cx);
}

enum {
    ASYNC_OK = 0,
    ASYNC_ON_WORKER = 50,
    ASYNC_NOT_PENDING,
    ASYNC_SETUP_FAILED,
};

static int async_child(void)
{
    main_tid = gettid_();
    struct sigaction sa = {.sa_handler = on_usr1};
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGUSR1, &sa, NULL) != 0)
        return ASYNC_SETUP_FAILED;
    /* The only thread left that could take SIGUSR1 is a worker. */
    sigset_t usr1;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    if (pthread_sigmask(SIG_BLOCK, &usr1, NULL) != 0)
        return ASYNC_SETUP_FAILED;
    prokio_runtime_t *rt = NULL;
    prokio_runtime_options_t o = PROKIO_RUNTIME_OPTIONS_INIT;
    o.workers = 2;
    if (prokio_runtime_new(&rt, &o) != 0)
        return ASYNC_SETUP_FAILED;
    /* Workers parked in their backend's wait, and one busy in a task. */
    prokio_sleep_t nap;
    prokio_sleep_init(&nap, PROKIO_MS(300));
    prokio_task_t *h;
    if (prokio_spawn(&h, rt, idle_poll, &nap, sizeof nap, NULL) != 0)
        return ASYNC_SETUP_FAILED;
    kill(getpid(), SIGUSR1);
    int rc = prokio_task_blocking_join(h);
    prokio_task_release(h);
    if (rc != 0 || prokio_runtime_free(rt) != 0)
        return ASYNC_SETUP_FAILED;
    if (usr1_on_worker)
        return ASYNC_ON_WORKER;
    sigset_t pending;
    sigpending(&pending);
    if (!sigismember(&pending, SIGUSR1))
        return ASYNC_NOT_PENDING;
    return ASYNC_OK;
}

static void test_async_signal_not_on_worker(void **state)
{
    (void)state;
    fflush(stdout);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(async_child());
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (WIFSIGNALED(status))
        fail_msg("the child died of signal %d", WTERMSIG(status));
    switch (WEXITSTATUS(status)) {
    case ASYNC_OK:
        return;
    case ASYNC_ON_WORKER:
        fail_msg("SIGUSR1, sent to the process, was delivered to a worker thread");
    case ASYNC_NOT_PENDING:
        fail_msg("SIGUSR1 was neither delivered to a worker nor left pending");
    default:
        fail_msg("the child failed to set up (exit %d)", WEXITSTATUS(status));
    }
}

int main(void)
{
    test_watchdog("task-fault-signals", 60);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trap_in_task),
        cmocka_unit_test(test_divide_by_zero_in_task),
        cmocka_unit_test(test_segv_in_task),
        cmocka_unit_test(test_bus_error_in_task),
        cmocka_unit_test(test_async_signal_not_on_worker),
    };
    return cmocka_run_group_tests_name("signals and tasks", tests, NULL, NULL);
}
