/* core/op.h: I/O operations ("ops"), the one place that does I/O system
 * calls for the public API (net, files). Not installed.
 *
 * Two objects:
 *
 *   struct prokio__io   one descriptor as the ops see it, embedded in the
 *                       public object (a TCP stream, a file). It is bound
 *                       to the worker of the task that made it (thread per
 *                       core, like prokio_fd_t): an op polled from another
 *                       worker fails with PROKIO_EXDEV.
 *   struct prokio__op   one operation in progress, embedded in the caller's
 *                       future state (usually a task frame). Zero is idle;
 *                       after a poll returned a result it is idle again, and
 *                       the next poll with it starts a new operation (the
 *                       prokio_wait_t rule of future.h).
 *
 * How an op runs, chosen per op kind when it starts:
 *
 *   emulated   a non-blocking system call; on EAGAIN the op waits for
 *              readiness through the io's prokio_fd registration (made at
 *              the first EAGAIN, so a descriptor that never blocks costs no
 *              registration), clears it and retries. Nothing is in the
 *              kernel between polls, so abandoning the op loses nothing.
 *   pool       files (never pollable): the system call runs on the
 *              runtime's blocking pool, on a record of its own with a copy
 *              of the bytes (a bounce buffer), so that an abandoned op
 *              leaves no pointer into the caller's memory; the descriptor
 *              is closed only after the last pool call using it returned.
 *   native     the backend's own asynchronous operations (backend ABI 1.1,
 *              io_uring), when its loop announces the CAP_OP_* bit for the
 *              kind. The kernel writes straight into the caller's buffer,
 *              so the task is pinned (task.h) until the op's one terminal
 *              completion: a task that ends meanwhile keeps its frame until
 *              then.
 *
 * Results: every *_poll returns PROKIO_PENDING, or the result: >= 0 (bytes,
 * a descriptor, 0), or a negative PROKIO_E* / -errno code (with
 * prokio_last_error() set for the core's own refusals: EXDEV, EBADF,
 * EINVAL). EINTR is retried inside; EAGAIN never escapes.
 *
 * Cancellation: an op is abandoned by prokio__op_cancel, or when its task
 * ends (the op sits in the task's armed list while it waits). An abandoned
 * recv or accept whose native operation still completes with bytes or a
 * connection gives them to the io's stash, and the next op of that kind on
 * the io returns them first: an aborted read loses nothing. Closing an io
 * cancels its ops first (they end with PROKIO_ECANCELED), then closes.
 *
 * Every op polls the cooperative budget (coop.h) first.
 *
 * Thread: everything here runs on the io's worker, except where said. */
#ifndef PROKIO_CORE_OP_H
#define PROKIO_CORE_OP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <prokio/backend.h>

#include "armed.h"
#include "internal.h"
#include "waker.h"

/* prokio__io_init kinds. */
#define PROKIO__IO_SOCKET 1u /* pollable (sockets, pipes, FIFOs, terminals): readiness */
#define PROKIO__IO_FILE   2u /* not pollable: emulated on the blocking pool */

/* Offset meaning "the descriptor's current position" (read(2), write(2)). */
#define PROKIO__OFFSET_CURRENT UINT64_MAX

struct prokio__stash;
struct prokio__fileref;
struct prokio__nrec;

struct prokio__io {
    int fileno;                    /* -1 once closed */
    unsigned kind;                 /* PROKIO__IO_SOCKET or _FILE */
    struct prokio__worker *worker; /* the worker it is bound to */
    struct prokio_fd *fd;          /* readiness registration, made lazily */
    struct prokio__hook hooks[2];  /* readable, writable: wake the waiting ops */
    struct prokio__op *waiting;    /* emulated ops waiting for readiness */
    struct prokio__nrec *inflight; /* native operations in the kernel (some abandoned) */
    unsigned abandoned_recv;       /* abandoned native recvs still in flight */
    unsigned abandoned_accept;     /* abandoned native accepts still in flight */
    struct prokio__stash *stash;   /* what abandoned ops left for the next ones (FIFO) */
    struct prokio__stash *stash_tail;
    struct prokio__fileref *file; /* files: the descriptor, shared with pool calls */
    uintptr_t io_waker;           /* a task waiting for the io itself (close, order) */
    bool closing;                 /* close_poll began: no new op starts */
    bool tcp;                     /* a TCP stream: a short read empties it (op.c) */
    bool drained;                 /* tcp: the last read came back short */
};

struct prokio__op {
    uint8_t state;                    /* op.c: IDLE (0), WAITING, CONNECTING, POOL, NATIVE, ENDED */
    uint8_t kind;                     /* op.c's kind of the operation in progress */
    uint8_t dir;                      /* WAITING: PROKIO_READABLE or PROKIO_WRITABLE */
    uint8_t flags;                    /* op_internal.h's OPF_* */
    int result;                       /* ENDED: the result the next poll returns */
    struct prokio__io *io;            /* WAITING: the io it waits on */
    struct prokio__op *next, **pprev; /* WAITING: in io->waiting */
    uintptr_t waker;                  /* WAITING: the task to wake */
    void *rec;                        /* POOL or NATIVE: the record in flight */
    struct prokio__armed armed;       /* in the task's armed list while not idle */
};

/* Makes io the ops' view of `fileno`, bound to cx's worker. A socket is
 * switched to O_NONBLOCK (the emulation needs it; native ops do not mind).
 * Returns 0, PROKIO_EINVAL, PROKIO_EBADF or PROKIO_ENOMEM.
 * Ownership: fileno becomes io's: prokio__io_close_poll or prokio__io_fini
 * closes it. Thread: a worker (cx's). */
int prokio__io_init(struct prokio__io *io, int fileno, unsigned kind, prokio_cx_t *cx);

/* Sockets (emulated everywhere; recv, send, accept and connect natively
 * where the loop has CAP_OP_RECV / _SEND / _ACCEPT / _CONNECT). send and
 * sendto always add MSG_NOSIGNAL: a write to a reset peer fails with
 * EPIPE instead of killing the process. */
int prokio__op_recv_poll(struct prokio__op *op, struct prokio__io *io, void *buf, size_t len,
                         int flags, prokio_cx_t *cx);
int prokio__op_send_poll(struct prokio__op *op, struct prokio__io *io, const void *buf, size_t len,
                         int flags, prokio_cx_t *cx);
int prokio__op_recvfrom_poll(struct prokio__op *op, struct prokio__io *io, void *buf, size_t len,
                             int flags, struct sockaddr *addr, socklen_t *addrlen, prokio_cx_t *cx);
int prokio__op_sendto_poll(struct prokio__op *op, struct prokio__io *io, const void *buf,
                           size_t len, int flags, const struct sockaddr *addr, socklen_t addrlen,
                           prokio_cx_t *cx);
int prokio__op_sendmsg_poll(struct prokio__op *op, struct prokio__io *io, const struct iovec *iov,
                            int iovcnt, prokio_cx_t *cx);
/* Returns the new descriptor, SOCK_CLOEXEC | SOCK_NONBLOCK; addr/addrlen
 * may be NULL. */
int prokio__op_accept_poll(struct prokio__op *op, struct prokio__io *io, struct sockaddr *addr,
                           socklen_t *addrlen, prokio_cx_t *cx);
/* Returns 0 once connected, or the connection's error. */
int prokio__op_connect_poll(struct prokio__op *op, struct prokio__io *io,
                            const struct sockaddr *addr, socklen_t addrlen, prokio_cx_t *cx);

/* Files (on the blocking pool, or natively). offset PROKIO__OFFSET_CURRENT
 * uses and moves the descriptor's position. On a pollable io (a pipe),
 * read and write are emulated through readiness (or native) and take
 * PROKIO__OFFSET_CURRENT only; an aborted read there loses nothing either
 * (the stash rule, as for recv). A pool read or write moves at
 * most PROKIO__OP_POOL_MAX bytes per call (a short count, as read(2) may
 * give). */
#define PROKIO__OP_POOL_MAX ((size_t)1 << 20)
int prokio__op_read_poll(struct prokio__op *op, struct prokio__io *io, void *buf, size_t len,
                         uint64_t offset, prokio_cx_t *cx);
int prokio__op_write_poll(struct prokio__op *op, struct prokio__io *io, const void *buf, size_t len,
                          uint64_t offset, prokio_cx_t *cx);
int prokio__op_fsync_poll(struct prokio__op *op, struct prokio__io *io, bool datasync,
                          prokio_cx_t *cx);
/* Returns a descriptor (O_CLOEXEC added). The path is copied at the first
 * poll. A descriptor opened for an abandoned op is closed. */
int prokio__op_open_poll(struct prokio__op *op, const char *path, int flags, mode_t mode,
                         prokio_cx_t *cx);

/* Cancels io's ops in flight (they end with PROKIO_ECANCELED, or with
 * what they completed with first), waits for their terminal completions,
 * then closes the descriptor. Returns PROKIO_PENDING, then 0 or close's
 * error; io is then closed (fileno -1) and may be freed. A file whose pool
 * calls still run is closed by the last of them (0 is returned at once).
 * Cancel-safety: abandoning the close leaves io closing (no new op starts);
 * prokio__io_fini finishes the job. */
int prokio__io_close_poll(struct prokio__op *op, struct prokio__io *io, prokio_cx_t *cx);

/* Synchronous teardown for a drop function: cancels what is in flight
 * (their results are then dropped: bytes read, descriptors accepted or
 * opened are closed), deregisters and closes. Nothing on an io never
 * initialised (zeroed) or already closed. Thread: the io's worker, or any
 * thread once the runtime has shut down. */
void prokio__io_fini(struct prokio__io *io);

/* Abandons op (prokio_wait_cancel's rule): it becomes idle at once; what
 * is in the kernel or on the pool ends later without it (stash rule
 * above). Nothing on an idle op. */
void prokio__op_cancel(struct prokio__op *op);

/* host->op_complete (host.c): the terminal completion of a native op.
 * Thread: the worker's, inside the backend's wait. */
struct prokio__worker;
void prokio__op_native_complete(struct prokio__worker *w, prokio_backend_op_t *bop);

/* Frees the native-op records w keeps for reuse. Thread: after w's loop
 * stopped (prokio__worker_fini). */
void prokio__op_native_fini_worker(struct prokio__worker *w);

#endif
