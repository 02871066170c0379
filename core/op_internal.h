/* core/op_internal.h: what op.c and op_native.c share (op.h is the
 * interface for the rest of the core). */
#ifndef PROKIO_CORE_OP_INTERNAL_H
#define PROKIO_CORE_OP_INTERNAL_H

#include "op.h"

/* op->state */
enum { IDLE = 0, WAITING, CONNECTING, POOL, NATIVE, ENDED };

/* op->kind */
enum {
    K_RECV = 1,
    K_SEND,
    K_RECVFROM,
    K_SENDTO,
    K_SENDMSG,
    K_ACCEPT,
    K_CONNECT,
    K_READ,
    K_WRITE,
    K_FSYNC,
    K_OPEN,
    K_CLOSE,
};

/* op->flags */
#define OPF_EMULATE 0x1u /* the backend sent this op back (EAGAIN): emulate it */

/* The name of the op function of `kind`, for messages. */
const char *prokio__op_who(unsigned kind);

/* Links op into its task's armed list (once), so that the task's end
 * cancels it. */
void prokio__op_arm(struct prokio__op *op, prokio_cx_t *cx);

/* Makes op idle (out of every list) and returns r. */
int prokio__op_end(struct prokio__op *op, int r);

/* Wakes every op waiting on io, and the task waiting for io itself. */
void prokio__io_wake_all(struct prokio__io *io);

/* What an abandoned op leaves for the next (FIFO). 0 or PROKIO_ENOMEM. */
int prokio__io_stash_bytes(struct prokio__io *io, const void *buf, size_t len);
int prokio__io_stash_fd(struct prokio__io *io, int fileno, const struct sockaddr *addr,
                        socklen_t addrlen);

/* ------------------------------------------------- op_native.c */

/* A native operation in flight: the backend's op and the core's links.
 * Allocated at submit, freed after the terminal completion has been
 * taken by the op (or settled, when abandoned). */
struct prokio__nrec;

/* True when cx's loop runs ops of `kind` natively on io (and op has not
 * been sent back to emulation). */
bool prokio__op_native_ok(const struct prokio__op *op, const struct prokio__io *io, unsigned kind,
                          prokio_cx_t *cx);
bool prokio__op_native_open_ok(const struct prokio__op *op, prokio_cx_t *cx);

/* Submit a native op; returns PROKIO_PENDING, or a result when the backend
 * refused it (the op is then idle). */
int prokio__op_native_start(struct prokio__op *op, struct prokio__io *io, unsigned kind, void *buf,
                            size_t len, int flags, struct sockaddr *addr, socklen_t *addrlen,
                            prokio_cx_t *cx);
int prokio__op_native_connect(struct prokio__op *op, struct prokio__io *io,
                              const struct sockaddr *addr, socklen_t addrlen, prokio_cx_t *cx);
int prokio__op_native_file(struct prokio__op *op, struct prokio__io *io, unsigned kind, void *buf,
                           size_t len, uint64_t offset, bool datasync, prokio_cx_t *cx);
int prokio__op_native_open(struct prokio__op *op, const char *path, int flags, mode_t mode,
                           prokio_cx_t *cx);
int prokio__op_native_close(struct prokio__op *op, int fileno, prokio_cx_t *cx);

/* Polls a NATIVE op: PROKIO_PENDING, its result (op idle), or
 * PROKIO__OP_RESTART: the backend answered EAGAIN, the op is idle with
 * OPF_EMULATE set; the caller goes on with the emulation. */
#define PROKIO__OP_RESTART 1
int prokio__op_native_poll(struct prokio__op *op, prokio_cx_t *cx);

/* Abandons a NATIVE op: cancels it in the backend; its completion settles
 * without the op (stash rule). */
void prokio__op_native_abandon(struct prokio__op *op);

/* Close: asks the backend to cancel every native op of io. */
void prokio__op_native_cancel_io(struct prokio__io *io);

/* True while a native op of io has not had its terminal completion. */
bool prokio__io_native_pending(const struct prokio__io *io);

/* fini: cancels and forgets every native op of io (their completions no
 * longer look at io: bytes are dropped, descriptors closed). */
void prokio__op_native_detach_io(struct prokio__io *io);

#endif
