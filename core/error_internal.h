/* core/error_internal.h: recording the detailed message behind an error
 * code, for prokio_last_error(). */
#ifndef PROKIO_ERROR_INTERNAL_H
#define PROKIO_ERROR_INTERNAL_H

/* Formats a message into the calling thread's last-error buffer and returns
 * `code`, so a failure path reads `return prokio__error(PROKIO_EINVAL, ...)`. */
int prokio__error(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
