/* core/fd.h: registered descriptors (prokio_fd_t), the readiness leaf
 * future every I/O primitive builds on.
 *
 * Readiness is cached per registration and cleared by the user on EAGAIN,
 * the same contract on every backend. How interest is kept depends on the
 * loop: with CAP_EDGE it only grows (one backend call per direction per
 * registration, as epoll with EPOLLET is used by Tokio); without it, it is
 * narrowed after each report to the directions someone still waits for, so
 * a level-triggered backend does not report a writable socket for ever.
 * The narrowing waits until the backend's wait (or, on a host that cannot
 * block, its callback) has returned: the core never calls back into a
 * backend from inside host->watch_ready. A worker thread narrows just
 * before its next wait, once the woken tasks have run: a task that waits
 * again for what was reported keeps its interest, with no backend call. */
#ifndef PROKIO_CORE_FD_H
#define PROKIO_CORE_FD_H

#include <prokio/backend.h>

#include "internal.h"

#define PROKIO__FD_MAGIC UINT32_C(0x70666421) /* "pfd!": a live registration */

struct prokio_fd {
    struct prokio__worker *worker; /* NULL once its worker shut down */
    struct prokio_runtime *rt;
    struct prokio_fd *prev, *next; /* the worker's registrations */
    struct prokio_fd *next_to_narrow;
    int fileno;
    uint32_t magic;    /* PROKIO__FD_MAGIC until freed (debug builds check it) */
    unsigned interest; /* what the backend watches */
    unsigned ready;    /* cached readiness, PROKIO_READABLE | PROKIO_WRITABLE */
    bool to_narrow;    /* on the worker's fds_to_narrow list */
    bool read_closed;  /* reported RDHUP, HANGUP or ERROR: reads never block again (sticky) */
    uintptr_t reader, writer;           /* wakers of the tasks waiting, 0 when none */
    _Alignas(16) unsigned char watch[]; /* the backend's watch_size bytes */
};

/* prokio_fd_ready_poll for a checked fd (live, on the calling worker)
 * and any waker (core/op.c keeps a hook there that wakes all its ops
 * waiting on the descriptor). Thread: the fd's worker. */
int prokio__fd_await(struct prokio_fd *fd, unsigned interest, uintptr_t waker);

/* host->watch_ready: records readiness and wakes the waiting tasks (never
 * polls them, never calls the backend). Thread: the worker's. */
void prokio__fd_ready(struct prokio__worker *w, prokio_backend_watch_t *watch, unsigned events);

/* Brings the interest of the registrations reported since the last call in
 * line with the directions still awaited (level-triggered loops).
 * Thread: the worker's, outside any backend call. */
void prokio__fd_narrow_interest(struct prokio__worker *w);

/* At shutdown: drops the wakers of every registration, closes their
 * backend watches and leaves them as husks for prokio_fd_free.
 * Thread: the worker's. */
void prokio__fd_shutdown_worker(struct prokio__worker *w);

#endif
