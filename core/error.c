/* core/error.c: error names and messages, generated from the table in
 * prokio/error.h, and the per-thread message behind the last failure. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "error_internal.h"
#include "internal.h"

/* Plain __thread (not the initial-exec model of platform.h): a buffer this
 * size has no place in the static TLS surplus of a dlopen'd library. */
static __thread char last_error[PROKIO__ERROR_CAP];

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
    return last_error;
}

int prokio__error(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    if (n >= (int)sizeof last_error) /* cut: say so */
        memcpy(last_error + sizeof last_error - 4, "...", 4);
    return code;
}
