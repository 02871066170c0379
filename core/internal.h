/* core/internal.h: what every core file needs. Not installed.
 *
 * Naming: public functions are prokio_<noun>_<verb>; internal non-static
 * ones are prokio__<noun>_<verb> and are kept out of the library's exports
 * by core/prokio.map. */
#ifndef PROKIO_INTERNAL_H
#define PROKIO_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <prokio.h>

#define PROKIO_LIKELY(x)   __builtin_expect(!!(x), 1)
#define PROKIO_UNLIKELY(x) __builtin_expect(!!(x), 0)

#define PROKIO_CONTAINER_OF(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

/* Cache line size used to keep fields written by other threads away from
 * the owner's hot fields. */
#define PROKIO_CACHELINE 64

/* Thread-local storage with the cheap model: libprokio is linked at program
 * start (not dlopen'd), where initial-exec TLS is available. */
#define PROKIO_TLS __thread __attribute__((tls_model("initial-exec")))

struct prokio__worker;

/* The worker whose thread is the calling thread, or NULL. */
extern PROKIO_TLS struct prokio__worker *prokio__tls_worker;

#endif /* PROKIO_INTERNAL_H */
