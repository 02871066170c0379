/* core/error.c: error names and messages, generated from the table in
 * prokio/error.h, and the per-thread message behind the last failure. */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error_internal.h"
#include "internal.h"

/* The message lives on the heap, one buffer per thread that ever failed,
 * freed when the thread exits. Not in TLS itself: a library that uses
 * initial-exec TLS (platform.h) has its whole TLS block placed in the static
 * TLS surplus when it is loaded with dlopen, and glibc's surplus is a few
 * hundred bytes (tests/dlopen). If the buffer cannot be had, a short one in
 * TLS keeps the beginning of the message. */
static __thread char *last_error;
static __thread char last_error_short[128];
static pthread_key_t last_error_key;
static pthread_once_t last_error_once = PTHREAD_ONCE_INIT;
static int last_error_key_rc;

static void make_key(void)
{
    last_error_key_rc = pthread_key_create(&last_error_key, free);
}

/* The calling thread's buffer and its size. */
static char *buffer(size_t *cap)
{
    if (PROKIO_LIKELY(last_error != NULL)) {
        *cap = PROKIO__ERROR_CAP;
        return last_error;
    }
    pthread_once(&last_error_once, make_key);
    char *b = last_error_key_rc == 0 ? malloc(PROKIO__ERROR_CAP) : NULL;
    if (b != NULL && pthread_setspecific(last_error_key, b) != 0) {
        free(b);
        b = NULL;
    }
    if (b == NULL) {
        *cap = sizeof last_error_short;
        return last_error_short;
    }
    last_error = b;
    *cap = PROKIO__ERROR_CAP;
    return b;
}

const char *prokio_strerror(int err)
{
    switch (err) {
#define XX(name, value, msg)                                                                       \
    case PROKIO_##name:                                                                            \
        return msg;
        PROKIO_ERRNO_MAP(XX)
#undef XX
    }
    return "unknown error";
}

const char *prokio_err_name(int err)
{
    switch (err) {
#define XX(name, value, msg)                                                                       \
    case PROKIO_##name:                                                                            \
        return #name;
        PROKIO_ERRNO_MAP(XX)
#undef XX
    }
    return "UNKNOWN";
}

const char *prokio_last_error(void)
{
    return last_error ? last_error : last_error_short;
}

int prokio__error(int code, const char *fmt, ...)
{
    size_t cap;
    char *buf = buffer(&cap);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, cap, fmt, ap);
    va_end(ap);
    if (n >= (int)cap) /* cut: say so */
        memcpy(buf + cap - 4, "...", 4);
    return code;
}
