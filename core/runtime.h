/* core/runtime.h: the runtime object: workers and the backend they share. */
#ifndef PROKIO_RUNTIME_H
#define PROKIO_RUNTIME_H

#include <pthread.h>

#include "internal.h"
#include "loader.h"

struct prokio_runtime {
    struct prokio__backend *backend;
    const prokio_backend_vtable_t *vt;
    bool nonblocking; /* the backend's host drives the one worker */
    unsigned nworkers;
    struct prokio__worker **workers;
    _Atomic int closing;      /* shutdown has begun: spawns fail */
    _Atomic int64_t io_count; /* prokio_io_t not yet freed */
    pthread_mutex_t lock;     /* serialises shutdown and free */
    bool shut_down;
};

#endif
