/* tests/regress/pool-use-after-free.c: a task used after its last release
 * is reported by the memory tools.
 *
 * The bug: the task pools reuse memory without telling AddressSanitizer or
 * valgrind, so touching a task (its frame, or its handle) after the last
 * reference was released read or wrote memory the tools still considered
 * allocated: CI's ASan and valgrind runs could not see such a bug at all.
 * The pools now poison freed objects (core/poison.h) in ASan builds and in
 * builds configured with --enable-valgrind.
 *
 * This program is an expected failure, run in a child process: each case
 * makes a deliberate use after free there, and passes when the tool (or, in
 * a debug build, the core's own invariant check) reports it and stops the
 * child. A build where no tool watches prints a TAP skip. */
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <prokio.h>

#include "poison.h" /* PROKIO__ASAN */

#ifdef PROKIO_VALGRIND
#include <valgrind/memcheck.h>
#define UNDER_VALGRIND (RUNNING_ON_VALGRIND != 0)
#else
#define UNDER_VALGRIND false
#endif

/* How many errors valgrind has reported so far (0 without it). */
static unsigned valgrind_errors(void)
{
#ifdef PROKIO_VALGRIND
    return (unsigned)VALGRIND_COUNT_ERRORS;
#else
    return 0;
#endif
}

/* valgrind writes its reports to a descriptor of its own, not to the
 * child's stderr: the child asks it how many it made and says so. */
#define VALGRIND_CAUGHT "reported by valgrind"

#ifdef PROKIO__ASAN
#define UNDER_ASAN true
#else
#define UNDER_ASAN false
#endif

struct frame {
    int value;
    char pad[100];
};

static int set_value(void *frame, prokio_cx_t *cx)
{
    (void)cx;
    ((struct frame *)frame)->value = 7;
    return 0;
}

/* A finished task whose handle holds its last reference. The joiner may
 * wake before the worker has dropped its own reference; a second task on
 * the same (only) worker ends after the first one's completion is over. */
static prokio_task_t *finished_task(prokio_runtime_t *rt)
{
    prokio_task_t *h = NULL;
    struct frame f = {0};
    if (prokio_spawn(&h, rt, set_value, &f, sizeof f, NULL) < 0 ||
        prokio_task_blocking_join(h) != 0 ||
        prokio_runtime_block_on(rt, set_value, &f, sizeof f, NULL) != 0) {
        fprintf(stderr, "setup failed: %s\n", prokio_last_error());
        _exit(3);
    }
    return h;
}

enum uaf { READ_FRAME, RESULT_OF_RELEASED, RELEASE_TWICE };

/* The child: one deliberate use after free, then a clean exit if nothing
 * stopped it (which the parent counts as a miss). */
static void child(enum uaf what)
{
    prokio_runtime_options_t o = PROKIO_RUNTIME_OPTIONS_INIT;
    o.workers = 1;
    prokio_runtime_t *rt;
    if (prokio_runtime_new(&rt, &o) < 0) {
        fprintf(stderr, "runtime: %s\n", prokio_last_error());
        _exit(3);
    }
    prokio_task_t *h = finished_task(rt);
    volatile struct frame *f = prokio_task_frame(h);
    prokio_task_release(h); /* the last reference: the task is freed */
    unsigned errors = valgrind_errors();
    switch (what) {
    case READ_FRAME:
        fprintf(stderr, "read %d\n", f->value);
        break;
    case RESULT_OF_RELEASED:
        fprintf(stderr, "result %d\n", prokio_task_result(h));
        break;
    case RELEASE_TWICE:
        prokio_task_release(h);
        break;
    }
    if (valgrind_errors() > errors) {
        fprintf(stderr, "the use after free was " VALGRIND_CAUGHT "\n");
        _exit(42);
    }
    _exit(0);
}

/* Runs one case in a child; true when the child was stopped, with what it
 * said in report. */
static bool stopped(enum uaf what, char *report, size_t cap)
{
    int pipefd[2];
    if (pipe(pipefd) < 0)
        return false;
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        close(pipefd[0]);
        dup2(pipefd[1], 2);
        close(pipefd[1]);
        child(what);
    }
    close(pipefd[1]);
    size_t len = 0;
    ssize_t n;
    while (len + 1 < cap && (n = read(pipefd[0], report + len, cap - 1 - len)) > 0)
        len += (size_t)n;
    report[len] = '\0';
    char sink[4096];
    while (read(pipefd[0], sink, sizeof sink) > 0) /* the rest of a long report */
        ;
    close(pipefd[0]);
    int status;
    waitpid(pid, &status, 0);
    return WIFSIGNALED(status) ||
           (WIFEXITED(status) && WEXITSTATUS(status) != 0 && WEXITSTATUS(status) != 3);
}

/* One TAP line: passes when the child was stopped and said `expect` (or
 * `or_expect`, when not NULL). */
static void tap_case(int n, enum uaf what, const char *name, const char *skip, const char *expect,
                     const char *or_expect)
{
    if (skip) {
        printf("ok %d - %s # SKIP %s\n", n, name, skip);
        return;
    }
    static char report[65536];
    if (stopped(what, report, sizeof report) &&
        (strstr(report, expect) || (or_expect && strstr(report, or_expect)))) {
        printf("ok %d - %s\n", n, name);
        return;
    }
    printf("not ok %d - %s\n# expected a report containing \"%s\"; the child said:\n", n, name,
           expect);
    for (char *line = strtok(report, "\n"); line; line = strtok(NULL, "\n"))
        printf("#   %s\n", line);
}

int main(void)
{
    alarm(120);
    const char *tool = UNDER_ASAN ? "AddressSanitizer" : UNDER_VALGRIND ? "valgrind" : NULL;
    const char *poison_expect = UNDER_ASAN ? "use-after-poison" : VALGRIND_CAUGHT;
    const char *no_tool = tool ? NULL
                               : "no memory tool watches this build (ASan, or valgrind with "
                                 "--enable-valgrind)";
    printf("1..3\n");
    tap_case(1, READ_FRAME, "reading the frame of a released task is reported", no_tool,
             poison_expect, NULL);
    tap_case(2, RESULT_OF_RELEASED, "prokio_task_result on a released handle is reported", no_tool,
             poison_expect, NULL);
#ifdef PROKIO_DEBUG_ASSERTS
    /* The core's check of the reference count aborts the child, unless a
     * tool stopped it first. */
    tap_case(3, RELEASE_TWICE, "a handle released twice is reported", NULL, "invariant broken",
             tool ? poison_expect : NULL);
#else
    tap_case(3, RELEASE_TWICE, "a handle released twice is reported",
             tool ? NULL : "neither a memory tool nor --enable-debug", poison_expect, NULL);
#endif
    return 0;
}
