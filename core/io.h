/* core/io.h: descriptor registrations (prokio_io_t), the readiness leaf
 * future every I/O primitive builds on.
 *
 * Readiness is cached per registration and cleared by the user on EAGAIN,
 * the same contract on every backend. How interest is kept depends on the
 * loop: with CAP_EDGE it only grows (one backend call per direction per
 * registration, as epoll with EPOLLET is used by Tokio); without it, it is
 * narrowed after each report to the directions someone still waits for, so
 * a level-triggered backend does not report a writable socket for ever. */
#ifndef PROKIO_IO_H
#define PROKIO_IO_H

#include <prokio/backend.h>

#include "internal.h"

struct prokio_io {
    struct prokio__worker *worker; /* NULL once its worker shut down */
    struct prokio_runtime *rt;
    struct prokio_io *prev, *next; /* the worker's registrations */
    int fd;
    unsigned interest;                  /* what the backend watches */
    unsigned ready;                     /* cached readiness, PROKIO_READABLE | PROKIO_WRITABLE */
    uintptr_t reader, writer;           /* wakers of the tasks waiting, 0 when none */
    _Alignas(16) unsigned char watch[]; /* the backend's watch_size bytes */
};

/* host->watch_ready: records readiness and wakes the waiting tasks (never
 * polls them). Thread: the worker's. */
void prokio__io_ready(struct prokio__worker *w, prokio_backend_watch_t *watch, unsigned events);

/* At shutdown: drops the wakers of every registration, closes their
 * backend watches and leaves them as husks for prokio_io_free.
 * Thread: the worker's. */
void prokio__io_shutdown_worker(struct prokio__worker *w);

#endif
