/* Diagnostics: collected while a check runs, printed after its TAP line. */
#include "backend-check.h"

#include <stdarg.h>
#include <stdio.h>

pthread_mutex_t g_diag_mu = PTHREAD_MUTEX_INITIALIZER;
char g_diag[32768];
size_t g_diag_len;
atomic_bool g_failed;
atomic_uint g_violations;
const char *g_skipped;

__attribute__((format(printf, 2, 0))) static void vdiag(const char *prefix, const char *fmt,
                                                        va_list ap)
{
    char line[1024];
    vsnprintf(line, sizeof line, fmt, ap);
    pthread_mutex_lock(&g_diag_mu);
    size_t room = sizeof g_diag - g_diag_len;
    int n = snprintf(g_diag + g_diag_len, room, "# %s%s\n", prefix, line);
    if (n > 0)
        g_diag_len += (size_t)n < room ? (size_t)n : room - 1;
    pthread_mutex_unlock(&g_diag_mu);
}

void diag(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vdiag("", fmt, ap);
    va_end(ap);
}

/* The check does not apply to this backend: TAP's "# SKIP", with the
 * reason. */
void skip(const char *why)
{
    g_skipped = why;
}

void fail(const char *fmt, ...)
{
    va_list ap;
    atomic_store(&g_failed, true);
    va_start(ap, fmt);
    vdiag("", fmt, ap);
    va_end(ap);
}

/* A breach of the contract seen from the host side. The first few per check
 * are shown; all of them fail the check. */
void violation(const char *fmt, ...)
{
    va_list ap;
    atomic_store(&g_failed, true);
    unsigned n = atomic_fetch_add(&g_violations, 1);
    if (n >= 8) {
        if (n == 8)
            diag("(further contract violations in this check not shown)");
        return;
    }
    va_start(ap, fmt);
    vdiag("contract: ", fmt, ap);
    va_end(ap);
}

const char *err_name(int err)
{
    switch (err) {
#define XX(name, value, msg)                                                                       \
    case value:                                                                                    \
        return "PROKIO_" #name;
        PROKIO_ERRNO_MAP(XX)
#undef XX
    }
    return err >= 0 ? "success" : "unknown code";
}

const char *ev_str(unsigned ev, char buf[64])
{
    snprintf(buf, 64, "%s%s%s%s%s%s", ev ? "" : "none", ev & PROKIO_BACKEND_READABLE ? "R" : "",
             ev & PROKIO_BACKEND_WRITABLE ? "W" : "", ev & PROKIO_BACKEND_ERROR ? "E" : "",
             ev & PROKIO_BACKEND_HANGUP ? "H" : "", ev & PROKIO_BACKEND_RDHUP ? "r" : "");
    return buf;
}
