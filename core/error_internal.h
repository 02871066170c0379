/* core/error_internal.h: recording the detailed message behind an error
 * code, for prokio_last_error(). */
#ifndef PROKIO_CORE_ERROR_INTERNAL_H
#define PROKIO_CORE_ERROR_INTERNAL_H

/* The size of a thread's message buffer, and of every buffer a message is
 * carried in from one thread to another (a worker's start-up failure), so
 * that none is cut shorter than another. A longer message ends in "...". */
#define PROKIO__ERROR_CAP 4096

/* Formats a message into the calling thread's last-error buffer and returns
 * `code`, so a failure path reads `return prokio__error(PROKIO_EINVAL, ...)`. */
int prokio__error(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
