/* tests/regress/fd-limit-exit.c: out of descriptors, the library ended the
 * process.
 *
 * With the descriptor limit nearly reached, prokio_runtime_new on the event
 * backend ended the whole process from a worker thread: libevent's
 * event_base_new creates a signal pipe after its epoll and timerfd
 * descriptors, and when that pipe fails it prints "[err] evsig_init_:
 * socketpair: Too many open files" and calls exit(1). libuv's uv_loop_init
 * does the same with abort() when the first loop of the process cannot
 * create libuv's global signal pipe. A library answers PROKIO_EMFILE
 * instead, and prints nothing.
 *
 * Every level from "nothing free" upward is tried, each in a child process
 * that has never started a loop (so libuv's one-time setup is still ahead),
 * until the runtime starts: the child must come back by itself, with
 * PROKIO_EMFILE or a working runtime, and with nothing on its stderr. The
 * backend's shared object is loaded before the limit is set, by the same
 * path the core uses, so that the core's dlopen finds it loaded and the
 * descriptors left go to the backend's loop_init: dlopen's own open() is
 * the loader's business, not the backend's.
 *
 * Runs once per backend (tests/run/regress~fd-limit-exit.BACKEND.test). */
#include <dlfcn.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "common.h"
#include "fd-limit.h"
#include <prokio/backend_info.h>

/* Two workers: at some levels the first loop starts and the second does
 * not, and the first must then be taken down cleanly. */
#define WORKERS 2
/* Far more than any backend needs for two loops. */
#define MAX_FREE 64

enum {
    CHILD_STARTED = 20, /* clear of exit(1), libevent's status */
    CHILD_EMFILE,
    CHILD_OTHER_ERROR,
    CHILD_SETUP_FAILED,
};

static int answer_poll(void *frame, prokio_cx_t *cx)
{
    (void)cx;
    *(int *)frame = 42;
    return 0;
}

/* Loads the backend the runner chose from the first search directory that
 * has it, as the core's loader does, so that its dlopen() by the same path
 * needs no descriptor. The handle is kept for the life of the process. */
static bool preload_backend(void)
{
    const char *name = getenv("PROKIO_BACKEND");
    char dirs[4096], path[4096];
    char *save = NULL;
    prokio_backend_dirs(dirs, sizeof dirs);
    for (char *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
        struct stat st;
        snprintf(path, sizeof path, "%s/prokio-%s.so", d, name);
        if (stat(path, &st) == 0)
            return dlopen(path, RTLD_NOW | RTLD_LOCAL) != NULL;
    }
    return false;
}

/* In the child: stderr goes to log_fd, and `free_slots` descriptors are
 * free while the runtime starts. */
static int child(unsigned free_slots, int log_fd, rlim_t soft)
{
    struct fd_list fds;
    if (dup2(log_fd, 2) < 0 || close(log_fd) != 0 || !fd_list_read(&fds))
        return CHILD_SETUP_FAILED;
    if (!fd_limit_set(fd_limit_leaving(&fds, free_slots)))
        return CHILD_SETUP_FAILED;
    prokio_runtime_t *rt = NULL;
    prokio_runtime_options_t o = PROKIO_RUNTIME_OPTIONS_INIT;
    o.workers = WORKERS;
    int rc = prokio_runtime_new(&rt, &o);
    if (!fd_limit_set(soft))
        return CHILD_SETUP_FAILED;
    if (rc == PROKIO_EMFILE)
        return CHILD_EMFILE;
    if (rc < 0) {
        printf("# %u free: %s: %s\n", free_slots, prokio_err_name(rc), prokio_last_error());
        return CHILD_OTHER_ERROR;
    }
    int answer = 0;
    if (prokio_runtime_block_on(rt, answer_poll, &answer, sizeof answer, NULL) != 0 ||
        answer != 42 || prokio_runtime_free(rt) != 0)
        return CHILD_OTHER_ERROR;
    return CHILD_STARTED;
}

static void test_every_level(void **state)
{
    (void)state;
    assert_true(preload_backend());
    struct rlimit lim;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &lim), 0);
    char log_path[] = "/tmp/prokio-fd-limit-exit-XXXXXX";
    int log_fd = mkostemp(log_path, O_APPEND | O_CLOEXEC);
    assert_true(log_fd >= 0);
    unlink(log_path);

    unsigned started = 0;
    for (unsigned k = 0; k <= MAX_FREE && started < 3; k++) {
        assert_int_equal(ftruncate(log_fd, 0), 0);
        fflush(stdout);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            int code = child(k, log_fd, lim.rlim_cur);
            fflush(stdout);
            _exit(code);
        }
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        char printed[2048];
        ssize_t n = pread(log_fd, printed, sizeof printed - 1, 0);
        printed[n > 0 ? n : 0] = '\0';
        if (WIFSIGNALED(status))
            fail_msg("%u free: the process was killed by signal %d (%s); stderr: %s", k,
                     WTERMSIG(status), strsignal(WTERMSIG(status)), printed);
        int code = WEXITSTATUS(status);
        printf("# %u free: %s\n", k,
               code == CHILD_STARTED  ? "started"
               : code == CHILD_EMFILE ? "EMFILE"
                                      : "ended otherwise");
        if (code != CHILD_STARTED && code != CHILD_EMFILE)
            fail_msg("%u free: the process ended with status %d; stderr: %s", k, code, printed);
        if (printed[0] != '\0')
            fail_msg("%u free: something printed on its own: %s", k, printed);
        /* Without a refusal at the bottom the limit bit nothing and the
         * test proved nothing. */
        if (k == 0)
            assert_int_equal(code, CHILD_EMFILE);
        started += code == CHILD_STARTED;
    }
    close(log_fd);
    if (started == 0)
        fail_msg("the runtime never started, even with %d descriptors free", MAX_FREE);
}

int main(void)
{
    test_watchdog("fd-limit-exit", 120);
    if (getenv("PROKIO_BACKEND") == NULL) {
        printf("1..0 # SKIP run through tests/run-backend.sh, which names the backend\n");
        return 0;
    }
    /* Debug output would be printing too: the test is about silence. */
    unsetenv("PROKIO_DEBUG");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_level),
    };
    return cmocka_run_group_tests_name("out of descriptors, the process goes on", tests, NULL,
                                       NULL);
}
