/* core/platform.c: Linux (glibc) implementation of platform.h. */
#include <dlfcn.h>
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "platform.h"

#ifdef __EMSCRIPTEN__
/* One process, one user, one worker: no setuid to guard against, no
 * affinity to read. */
const char *prokio__getenv(const char *name)
{
    return getenv(name);
}

unsigned prokio__cpu_count(void)
{
    return 1;
}
#else
const char *prokio__getenv(const char *name)
{
    return secure_getenv(name);
}

unsigned prokio__cpu_count(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0)
            return (unsigned)n;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (unsigned)n : 1;
}
#endif

uint64_t prokio__monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * UINT64_C(1000000000) + (uint64_t)ts.tv_nsec;
}

void prokio__sleep_ns(uint64_t ns)
{
    struct timespec ts = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

void prokio__thread_yield(void)
{
    sched_yield();
}

int prokio__thread_start(pthread_t *thread, void *(*fn)(void *), void *arg)
{
    static const int synchronous[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS};
    sigset_t blocked, old;
    sigfillset(&blocked);
    for (size_t i = 0; i < sizeof synchronous / sizeof *synchronous; i++)
        sigdelset(&blocked, synchronous[i]);
    /* The new thread inherits the creator's mask: set it around the create
     * and put the creator's back. */
    pthread_sigmask(SIG_SETMASK, &blocked, &old);
    int rc = pthread_create(thread, NULL, fn, arg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return -rc;
}

bool prokio__self_dir(char *buf, size_t cap)
{
    Dl_info info;
    if (dladdr((void *)prokio__self_dir, &info) == 0 || info.dli_fname == NULL)
        return false;
    const char *path = info.dli_fname;
    char exe[4096];
    if (path[0] != '/') {
        /* dladdr names the main program as it was started ("./prog", or
         * nothing): ask the kernel for the executable instead. */
        ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        if (n <= 0)
            return false;
        exe[n] = '\0';
        path = exe;
    }
    const char *slash = strrchr(path, '/');
    size_t len = (size_t)(slash - path);
    if (len + 1 > cap)
        return false;
    memcpy(buf, path, len);
    buf[len] = '\0';
    return true;
}

#ifdef __EMSCRIPTEN__
#include <emscripten.h>

#include <prokio/error.h>

#include "error_internal.h"

/* True when the program was linked with -sASYNCIFY: emscripten's JS then
 * defines Asyncify, and emscripten_sleep can unwind to the event loop. */
EM_JS(int, prokio__wasm_has_asyncify, (void), { return typeof Asyncify == 'undefined' ? 0 : 1; });

int prokio__host_can_block(const char *what)
{
    if (prokio__wasm_has_asyncify())
        return 0;
    return prokio__error(PROKIO_ENOTSUP,
                         "%s: the JS thread cannot block in this program; spawn the work and "
                         "await it from a task, run the program with "
                         "prokio_runtime_run_main, or link with -sASYNCIFY to let blocking "
                         "calls yield to the JS event loop",
                         what);
}

void prokio__host_block_once(void)
{
    emscripten_sleep(0);
}
#endif
