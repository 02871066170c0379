/* core/internal.h: what every core file needs. Not installed.
 *
 * Naming: public functions are prokio_<noun>_<verb>; internal non-static
 * ones are prokio__<noun>_<verb> and are kept out of the library's exports
 * by core/prokio.map. */
#ifndef PROKIO_CORE_INTERNAL_H
#define PROKIO_CORE_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <prokio.h>

#include "platform.h"
#include <prokio/backend_info.h>

#define PROKIO_LIKELY(x)   __builtin_expect(!!(x), 1)
#define PROKIO_UNLIKELY(x) __builtin_expect(!!(x), 0)

#define PROKIO_CONTAINER_OF(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

/* Cache line size used to keep fields written by other threads away from
 * the owner's hot fields. */
#define PROKIO_CACHELINE 64

struct prokio__worker;

/* The worker whose thread is the calling thread, or NULL. */
extern PROKIO_TLS struct prokio__worker *prokio__tls_worker;

#endif /* PROKIO_CORE_INTERNAL_H */
