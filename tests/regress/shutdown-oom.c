/* tests/regress/shutdown-oom.c: shutdown with many tasks alive and no
 * memory to spare.
 *
 * Shutdown ends every unfinished task. It used to collect them into an
 * array grown with realloc, and when that array could not be grown it fell
 * back to one full scan of the pool per task: O(N^2). The report: 240,000
 * tasks under RLIMIT_AS did not finish shutting down in 60 s. The walk now
 * allocates nothing and stays linear (prokio__pool_drain).
 *
 * In a child process: 200,000 tasks are parked (polled once, never woken),
 * then RLIMIT_AS is set just above the address space in use and the runtime
 * shut down. Every drop must have run when shutdown returns. The child's
 * own watchdog is the assertion that shutdown stayed linear: the old code
 * needs minutes here, the new one milliseconds. malloc is kept to one arena
 * (M_ARENA_MAX), so that the workers allocate by growing the heap, which the
 * limit forbids, and not inside an arena reserved in advance. ASan and TSan
 * reserve huge address ranges, and valgrind manages the address space
 * itself: under them the limit is skipped (said in a TAP comment) and the
 * rest runs. Runs once, on the automatic backend. */
#include <malloc.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include "common.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SANITIZED 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZED 1
#endif

enum {
    TASKS = 200000,
    MARGIN = 256 * 1024, /* bytes of address space left above current use */
    CHILD_WATCHDOG_S = 20,
};

enum {
    CHILD_OK = 0,
    CHILD_SLOW = 60,
    CHILD_SETUP_FAILED,
    CHILD_SHUTDOWN_FAILED,
    CHILD_DROPS_MISSING,
    CHILD_FREE_FAILED,
};

static atomic_int polled, dropped;

static int parked_poll(void *frame, prokio_cx_t *cx)
{
    (void)frame, (void)cx;
    atomic_fetch_add_explicit(&polled, 1, memory_order_relaxed);
    return PROKIO_PENDING; /* never woken: ended by the shutdown */
}

static void parked_drop(void *frame)
{
    (void)frame;
    atomic_fetch_add_explicit(&dropped, 1, memory_order_relaxed);
}

static void child_slow(int sig)
{
    (void)sig;
    static const char msg[] = "# shutdown did not finish: not linear without memory\n";
    (void)!write(1, msg, sizeof msg - 1);
    _exit(CHILD_SLOW);
}

/* The address space in use, in bytes. */
static size_t address_space(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long pages = 0;
    if (f) {
        if (fscanf(f, "%lu", &pages) != 1)
            pages = 0;
        fclose(f);
    }
    return pages * (size_t)sysconf(_SC_PAGESIZE);
}

static bool limit_wanted(void)
{
#ifdef SANITIZED
    printf("# built with ASan or TSan, which reserve huge address ranges: RLIMIT_AS not set\n");
    return false;
#else
    const char *vg = getenv("VALGRIND");
    if (vg && *vg) {
        printf("# under valgrind, which manages the address space: RLIMIT_AS not set\n");
        return false;
    }
    return true;
#endif
}

static int child(void)
{
    bool limit = limit_wanted();
    fflush(stdout);
    mallopt(M_ARENA_MAX, 1);
    prokio_runtime_t *rt = NULL;
    prokio_runtime_options_t o = PROKIO_RUNTIME_OPTIONS_INIT;
    o.workers = 2;
    if (prokio_runtime_new(&rt, &o) != 0)
        return CHILD_SETUP_FAILED;
    for (int i = 0; i < TASKS; i++)
        if (prokio_spawn(NULL, rt, parked_poll, NULL, 0, parked_drop) != 0)
            return CHILD_SETUP_FAILED;
    while (atomic_load(&polled) < TASKS)
        sched_yield();

    struct rlimit old;
    if (getrlimit(RLIMIT_AS, &old) != 0)
        return CHILD_SETUP_FAILED;
    if (limit) {
        size_t in_use = address_space();
        struct rlimit tight = {in_use + MARGIN, old.rlim_max};
        if (in_use == 0 || setrlimit(RLIMIT_AS, &tight) != 0)
            return CHILD_SETUP_FAILED;
        /* What the old shutdown asked for: one pointer per task. */
        void *list = malloc(TASKS * sizeof(void *));
        printf("# RLIMIT_AS %zu KiB above the %zu MiB in use: a list of the tasks %s\n",
               (size_t)MARGIN / 1024, in_use >> 20,
               list ? "could still be allocated (the test proves less)" : "cannot be allocated");
        fflush(stdout);
        free(list);
    }
    const char *scale = getenv("PROKIO_TEST_TIMEOUT_SCALE");
    unsigned k = scale ? (unsigned)atoi(scale) : 1;
    signal(SIGALRM, child_slow);
    alarm(CHILD_WATCHDOG_S * (k ? k : 1));
    int rc = prokio_runtime_shutdown(rt);
    alarm(0);
    if (limit)
        setrlimit(RLIMIT_AS, &old);
    if (rc != 0)
        return CHILD_SHUTDOWN_FAILED;
    if (atomic_load(&dropped) != TASKS) {
        printf("# %d drops of %d\n", atomic_load(&dropped), TASKS);
        return CHILD_DROPS_MISSING;
    }
    if (prokio_runtime_free(rt) != 0)
        return CHILD_FREE_FAILED;
    return CHILD_OK;
}

static void test_shutdown_without_memory_stays_linear(void **state)
{
    (void)state;
    fflush(stdout);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int code = child();
        fflush(stdout);
        _exit(code);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (WIFSIGNALED(status))
        fail_msg("the child died of signal %d", WTERMSIG(status));
    switch (WEXITSTATUS(status)) {
    case CHILD_OK:
        return;
    case CHILD_SLOW:
        fail_msg("shutting down %d parked tasks under RLIMIT_AS took over %d s", TASKS,
                 CHILD_WATCHDOG_S);
    case CHILD_DROPS_MISSING:
        fail_msg("shutdown returned before every task was ended");
    default:
        fail_msg("the child failed (exit %d)", WEXITSTATUS(status));
    }
}

int main(void)
{
    test_watchdog("shutdown-oom", 60);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shutdown_without_memory_stays_linear),
    };
    return cmocka_run_group_tests_name("shutdown without memory", tests, NULL, NULL);
}
