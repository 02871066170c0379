/* core/host.c: the host table, what the core offers every backend. */
#include <stdarg.h>
#include <stdlib.h>

#include "fd.h"
#include "loader.h"
#include "log.h"
#include "op.h"
#include "platform.h"
#include "worker.h"

static void *host_alloc(size_t size)
{
    return calloc(1, size);
}

static void host_free(void *ptr)
{
    free(ptr);
}

/* Backends report through the core, which stays silent unless
 * PROKIO_DEBUG=backend: a library does not print on its own. */
static __attribute__((format(printf, 2, 3))) void host_log(int level, const char *fmt, ...)
{
    static const char *const prefixes[] = {
        "backend error: ", "backend warning: ", "backend debug: "};
    va_list ap;
    va_start(ap, fmt);
    prokio__logv(PROKIO_LOG_BACKEND, level >= 0 && level <= 2 ? prefixes[level] : "backend: ", fmt,
                 ap);
    va_end(ap);
}

static void host_watch_ready(prokio_backend_host_loop_t *host_loop, prokio_backend_watch_t *watch,
                             unsigned events)
{
    struct prokio__worker *w = (struct prokio__worker *)host_loop;
    /* While set, nothing the report leads to calls back into the backend
     * (backend.h promises it): see ready_local in worker.c. */
    w->dispatching = true;
    prokio__fd_ready(w, watch, events);
    w->dispatching = false;
}

static void host_op_complete(prokio_backend_host_loop_t *host_loop, prokio_backend_op_t *op)
{
    struct prokio__worker *w = (struct prokio__worker *)host_loop;
    w->dispatching = true; /* as for watch_ready: nothing calls back into the backend */
    prokio__op_native_complete(w, op);
    w->dispatching = false;
}

static int host_drive(prokio_backend_host_loop_t *host_loop)
{
    return prokio__worker_drive((struct prokio__worker *)host_loop);
}

const prokio_backend_host_t prokio__host = {
    .size = sizeof(prokio_backend_host_t),
    .abi_version = PROKIO_BACKEND_ABI_VERSION,
    .alloc = host_alloc,
    .free = host_free,
    .log = host_log,
    .monotonic_ns = prokio__monotonic_ns,
    .watch_ready = host_watch_ready,
    .drive = host_drive,
    .op_complete = host_op_complete,
};
