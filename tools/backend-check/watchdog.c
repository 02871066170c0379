/* Watchdog and crash reports: a check that hangs or crashes still ends the
 * run with a TAP line that names it. */
#include "backend-check.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void write_str(const char *s)
{
    ssize_t r = write(STDOUT_FILENO, s, strlen(s));
    (void)r;
}

/* What the check said before it hung or crashed tells where it stopped. */
static void write_diag_so_far(void)
{
    ssize_t r = write(STDOUT_FILENO, "\n", 1);
    r = write(STDOUT_FILENO, g_diag, g_diag_len);
    (void)r;
}

static void on_alarm(int sig)
{
    (void)sig;
    write_diag_so_far();
    write_str("Bail out! hung: ");
    write_str(g_current);
    write_str(" (no result within its time limit)\n");
    _exit(1);
}

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define UNDER_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define UNDER_SANITIZER 1
#endif
#endif

static void on_crash(int sig)
{
    write_diag_so_far();
    write_str("Bail out! crashed (");
    write_str(sig == SIGSEGV   ? "SIGSEGV"
              : sig == SIGBUS  ? "SIGBUS"
              : sig == SIGFPE  ? "SIGFPE"
              : sig == SIGILL  ? "SIGILL"
              : sig == SIGABRT ? "SIGABRT"
                               : "signal");
    write_str(") in: ");
    write_str(g_current);
    write_str("\n");
    signal(sig, SIG_DFL);
    raise(sig);
}

/* For a check whose loop thread is stuck in the backend, from another
 * thread: the TAP line the check would have printed, what it said so far,
 * why, and the end of the run. */
void bail_out_check(const char *fmt, ...)
{
    char why[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&g_diag_mu);
    printf("not ok %zu - %s\n", (size_t)g_current_no, g_current);
    fwrite(g_diag, 1, g_diag_len, stdout);
    printf("# %s\nBail out! stuck in wait(): %s\n", why, g_current);
    fflush(stdout);
    _exit(1);
}

void install_handlers(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* Sanitizers report faults better than we do: leave them theirs. An
     * abort() (a library's assertion) is ours to name in every build. */
#ifdef UNDER_SANITIZER
    static const int crash[] = {SIGABRT};
#else
    static const int crash[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
#endif
    sa.sa_handler = on_crash;
    sa.sa_flags = SA_RESETHAND;
    for (size_t i = 0; i < sizeof crash / sizeof crash[0]; i++)
        sigaction(crash[i], &sa, NULL);
}

void watchdog_arm(unsigned seconds)
{
    alarm(seconds * g_scale);
}
unsigned timeout_scale(void)
{
    unsigned scale = 1;
    const char *env = getenv("PROKIO_BACKEND_CHECK_TIMEOUT_SCALE");
    const char *pre = getenv("LD_PRELOAD");
    if (pre && (strstr(pre, "vgpreload") || strstr(pre, "valgrind")))
        scale = 10;
#ifdef UNDER_SANITIZER
    scale = 3;
#endif
    if (env && *env) {
        char *end;
        unsigned long v = strtoul(env, &end, 10);
        if (*end == '\0' && v >= 1 && v <= 1000)
            scale = (unsigned)v;
    }
    return scale;
}
