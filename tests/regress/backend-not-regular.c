/* tests/regress/backend-not-regular.c: a backend path that is not a
 * regular file.
 *
 * The loader handed whatever it was given to dlopen. On a FIFO, dlopen
 * blocks for ever in open() waiting for a writer, so a FIFO named by
 * PROKIO_BACKEND, or found as prokio-NAME.so in the search path, hung
 * prokio_runtime_new for ever; a directory failed with dlopen's terse
 * message. Now anything that is not a regular file is refused with a
 * message that says so, on every route to dlopen: a path (environment or
 * options), a name found in the search directories, automatic selection
 * (which then falls back to the next backend), and prokio_backend_probe_all
 * (prokio-info), which loads every prokio-*.so it finds.
 *
 * Each case runs in a child process with its own watchdog, so that a hang
 * fails that case, named, and not the whole program. Runs once: the loader
 * is the core's, whatever backend is used. */
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <prokio/backend_info.h>

#include "common.h"

enum { CHILD_OK = 0, CHILD_FAILED = 1, CHILD_HUNG = 2 };

static char tmp[256];         /* a fresh directory */
static char fifo[300];        /* tmp/fifo */
static char dir[300];         /* tmp/dir */
static char search[300];      /* tmp/search: prokio-fifo.so and prokio-dir.so */
static char auto_search[300]; /* tmp/auto: prokio-uring.so, a FIFO */

static void child_hung(int sig)
{
    (void)sig;
    static const char msg[] = "# hung: the loader blocked (dlopen of a FIFO?)\n";
    (void)!write(1, msg, sizeof msg - 1);
    _exit(CHILD_HUNG);
}

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            printf("# %s:%d: %s does not hold\n", __FILE__, __LINE__, #cond);                      \
            return CHILD_FAILED;                                                                   \
        }                                                                                          \
    } while (0)

static void run_child(int (*fn)(void), const char *what)
{
    fflush(stdout);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* A crash must end the child, not return into cmocka's runner. */
        const int crashes[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGSYS, SIGABRT};
        for (size_t i = 0; i < sizeof crashes / sizeof *crashes; i++)
            signal(crashes[i], SIG_DFL);
        const char *scale = getenv("PROKIO_TEST_TIMEOUT_SCALE");
        unsigned k = scale ? (unsigned)atoi(scale) : 1;
        signal(SIGALRM, child_hung);
        alarm(10 * (k ? k : 1));
        int code = fn();
        fflush(stdout);
        _exit(code);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (WIFSIGNALED(status))
        fail_msg("%s: the child died of signal %d", what, WTERMSIG(status));
    if (WEXITSTATUS(status) == CHILD_HUNG)
        fail_msg("%s: hung", what);
    if (WEXITSTATUS(status) != CHILD_OK)
        fail_msg("%s: failed (see above)", what);
}

/* prokio_runtime_new must fail, saying the file is not a regular file. */
static int refused(const prokio_runtime_options_t *o)
{
    prokio_runtime_t *rt = NULL;
    int rc = prokio_runtime_new(&rt, o);
    printf("# %s: %s\n", prokio_err_name(rc), prokio_last_error());
    CHECK(rc < 0);
    CHECK(rt == NULL);
    CHECK(strstr(prokio_last_error(), "not a regular file") != NULL);
    return CHILD_OK;
}

static int env_path(const char *path)
{
    setenv("PROKIO_BACKEND", path, 1);
    return refused(NULL);
}

static int fifo_by_env(void)
{
    return env_path(fifo);
}

static int dir_by_env(void)
{
    return env_path(dir);
}

static int fifo_by_option(void)
{
    unsetenv("PROKIO_BACKEND");
    prokio_runtime_options_t o = PROKIO_RUNTIME_OPTIONS_INIT;
    o.backend = fifo;
    return refused(&o);
}

static int name_in_search(const char *name)
{
    unsetenv("PROKIO_BACKEND");
    setenv("PROKIO_BACKEND_PATH", search, 1);
    prokio_runtime_options_t o = PROKIO_RUNTIME_OPTIONS_INIT;
    o.backend = name;
    return refused(&o);
}

static int fifo_by_name(void)
{
    return name_in_search("fifo");
}

static int dir_by_name(void)
{
    return name_in_search("dir");
}

/* Automatic selection passes over a FIFO named prokio-uring.so, saying
 * why, and goes on to the next backend. */
static int fifo_in_automatic_selection(void)
{
    unsetenv("PROKIO_BACKEND");
    setenv("PROKIO_BACKEND_PATH", auto_search, 1);
    prokio_runtime_t *rt = NULL;
    int rc = prokio_runtime_new(&rt, NULL);
    if (rc < 0) {
        /* Only when no other backend was built. */
        printf("# %s: %s\n", prokio_err_name(rc), prokio_last_error());
        CHECK(rc == PROKIO_ENOBACKEND);
        CHECK(strstr(prokio_last_error(), "not a regular file") != NULL);
        return CHILD_OK;
    }
    printf("# automatic selection fell back to %s\n", prokio_runtime_backend_name(rt));
    /* The FIFO shadows the real prokio-uring.so: uring is passed over. */
    CHECK(strcmp(prokio_runtime_backend_name(rt), "uring") != 0);
    CHECK(prokio_runtime_free(rt) == 0);
    return CHILD_OK;
}

struct seen {
    int fifo_status, dir_status;
    bool fifo_said, dir_said;
    int count;
};

static void record(const prokio_backend_report_t *r, void *arg)
{
    struct seen *s = arg;
    s->count++;
    printf("# probed %s (%s): %s%s%s\n", r->name, r->path,
           r->status < 0 ? prokio_err_name(r->status) : "starts", r->error ? ": " : "",
           r->error ? r->error : "");
    bool said = r->error && strstr(r->error, "not a regular file");
    if (strcmp(r->name, "fifo") == 0) {
        s->fifo_status = r->status;
        s->fifo_said = said;
    } else if (strcmp(r->name, "dir") == 0) {
        s->dir_status = r->status;
        s->dir_said = said;
    }
}

/* prokio-info's listing reports both files as failing, and goes on. */
static int probe_all(void)
{
    setenv("PROKIO_BACKEND_PATH", search, 1);
    struct seen s = {.fifo_status = 1, .dir_status = 1};
    int n = prokio_backend_probe_all(record, &s);
    CHECK(n == s.count);
    CHECK(s.fifo_status < 0 && s.fifo_said);
    CHECK(s.dir_status < 0 && s.dir_said);
    return CHILD_OK;
}

static void test_fifo_by_env(void **state)
{
    (void)state;
    run_child(fifo_by_env, "PROKIO_BACKEND naming a FIFO");
}

static void test_fifo_by_option(void **state)
{
    (void)state;
    run_child(fifo_by_option, "options.backend naming a FIFO");
}

static void test_dir_by_env(void **state)
{
    (void)state;
    run_child(dir_by_env, "PROKIO_BACKEND naming a directory");
}

static void test_fifo_by_name(void **state)
{
    (void)state;
    run_child(fifo_by_name, "prokio-fifo.so, a FIFO, found in PROKIO_BACKEND_PATH");
}

static void test_dir_by_name(void **state)
{
    (void)state;
    run_child(dir_by_name, "prokio-dir.so, a directory, found in PROKIO_BACKEND_PATH");
}

static void test_fifo_in_automatic_selection(void **state)
{
    (void)state;
    run_child(fifo_in_automatic_selection, "automatic selection past a FIFO prokio-uring.so");
}

static void test_probe_all(void **state)
{
    (void)state;
    run_child(probe_all, "prokio_backend_probe_all over a FIFO and a directory");
}

static int setup(void **state)
{
    (void)state;
    const char *base = getenv("TMPDIR");
    snprintf(tmp, sizeof tmp, "%s/prokio-regress-XXXXXX", base && *base ? base : "/tmp");
    if (mkdtemp(tmp) == NULL)
        return -1;
    snprintf(fifo, sizeof fifo, "%s/fifo", tmp);
    snprintf(dir, sizeof dir, "%s/dir", tmp);
    snprintf(search, sizeof search, "%s/search", tmp);
    snprintf(auto_search, sizeof auto_search, "%s/auto", tmp);
    char path[400];
    if (mkfifo(fifo, 0600) != 0 || mkdir(dir, 0700) != 0 || mkdir(search, 0700) != 0 ||
        mkdir(auto_search, 0700) != 0)
        return -1;
    snprintf(path, sizeof path, "%s/prokio-fifo.so", search);
    if (mkfifo(path, 0600) != 0)
        return -1;
    snprintf(path, sizeof path, "%s/prokio-dir.so", search);
    if (mkdir(path, 0700) != 0)
        return -1;
    snprintf(path, sizeof path, "%s/prokio-uring.so", auto_search);
    return mkfifo(path, 0600);
}

static int teardown(void **state)
{
    (void)state;
    char path[400];
    const char *files[] = {"search/prokio-fifo.so", "auto/prokio-uring.so", "fifo"};
    const char *dirs[] = {"search/prokio-dir.so", "search", "auto", "dir"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        snprintf(path, sizeof path, "%s/%s", tmp, files[i]);
        unlink(path);
    }
    for (size_t i = 0; i < sizeof dirs / sizeof *dirs; i++) {
        snprintf(path, sizeof path, "%s/%s", tmp, dirs[i]);
        rmdir(path);
    }
    rmdir(tmp);
    return 0;
}

int main(void)
{
    test_watchdog("backend-not-regular", 120);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fifo_by_env), cmocka_unit_test(test_fifo_by_option),
        cmocka_unit_test(test_dir_by_env),  cmocka_unit_test(test_fifo_by_name),
        cmocka_unit_test(test_dir_by_name), cmocka_unit_test(test_fifo_in_automatic_selection),
        cmocka_unit_test(test_probe_all),
    };
    return cmocka_run_group_tests_name("backend files that are not regular files", tests, setup,
                                       teardown);
}
