/* core/log.h: diagnostics, off unless PROKIO_DEBUG asks for them.
 *
 * PROKIO_DEBUG is a comma-separated list of areas: "backend" (selection,
 * loading, what the backend logs), "net" (sockets), "all". The library never prints
 * anything otherwise. */
#ifndef PROKIO_CORE_LOG_H
#define PROKIO_CORE_LOG_H

#include <stdarg.h>
#include <stdbool.h>

enum prokio__log_area {
    PROKIO_LOG_BACKEND = 1u << 0,
    PROKIO_LOG_NET = 1u << 1, /* sockets: accept backing off when out of descriptors */
};

/* True when PROKIO_DEBUG enables `area`. Thread: any. */
bool prokio__log_enabled(unsigned area);

/* Prints "prokio[area]: message" to stderr when the area is enabled.
 * Thread: any. */
void prokio__log(unsigned area, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The same, with `prefix` before the message and the arguments in ap. */
void prokio__logv(unsigned area, const char *prefix, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

#endif
