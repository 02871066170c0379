/* core/runtime.h: the runtime object: workers and the backend they share. */
#ifndef PROKIO_CORE_RUNTIME_H
#define PROKIO_CORE_RUNTIME_H

#include <pthread.h>

#include "clock.h"
#include "internal.h"
#include "loader.h"

struct prokio_runtime {
    struct prokio__backend *backend;
    const prokio_backend_vtable_t *vt;
    bool nonblocking; /* the backend's host drives the one worker */
    unsigned nworkers;
    struct prokio__worker **workers;
    _Atomic int64_t fd_count; /* prokio_fd_t not yet freed */
    _Atomic int64_t pool_ops; /* op.c's file calls on the blocking pool, not yet done */
    /* Who keeps the memory (runtime.c): bit 0 the creator (until its
     * prokio_runtime_free), the rest counts clones in steps of 2. */
    _Atomic uint64_t refs;
    /* Shutdown state (the sequence is in shutdown.c). */
    _Atomic int closing;        /* shutdown has begun: spawns fail */
    pthread_mutex_t lock;       /* serialises shutdown and free */
    bool shut_down;             /* the workers are joined */
    struct prokio__clock clock; /* clock_pause.c */
    /* The blocking pool (blocking.c), made at its first use. */
    _Atomic(struct prokio__blocking *) blocking;
    unsigned blocking_max;
    uint64_t blocking_keep_alive_ns;
};

/* Stops and joins workers 0 .. started-1 (shutdown.c). Thread: not a
 * worker of rt. */
void prokio__runtime_stop_workers(prokio_runtime_t *rt, unsigned started);

/* prokio_runtime_shutdown for a function that shuts down on its way
 * (`who`, named by the message of a failure). */
int prokio__runtime_shutdown(prokio_runtime_t *rt, const char *who);

#endif
