/* prokio/op.h: one I/O operation in progress (a read, a write, an accept,
 * a connect...), the state every awaitable I/O call takes first, as the
 * operations that queue take a prokio_wait_t. Part of prokio.h.
 *
 * A prokio_op_t is embedded in your frame (opaque storage, no allocation).
 * Zero-filled memory is an idle op. Poll an I/O call with the same op until
 * it returns something other than PROKIO_PENDING; the op is idle again
 * then, and the next poll with it starts a new operation (a loop that reads
 * reuses one op). One op serves one operation at a time: a task that reads
 * and writes at once (two branches of a select) uses two.
 *
 * Why the state lives in your frame: with io_uring the kernel works on the
 * operation (and on your buffer) while the task sleeps, and both must stay
 * where they are until the kernel's completion arrives. The runtime
 * guarantees that: a task whose operations are still in the kernel when it
 * ends (returned, aborted, shut down) keeps its frame until their last
 * completion, so a buffer in the frame is never freed under the kernel.
 *
 * Cancel-safety, the rule shared by every I/O call: a task that ends with
 * an operation pending has it cancelled by the runtime; to abandon one
 * while the task goes on (a select or a timeout chose something else),
 * call prokio_op_cancel. What an abandoned operation did is never lost:
 * bytes a read had already received and a connection an accept had
 * already taken are kept by their socket and returned by its next read or
 * accept. A write that was abandoned may still have sent its bytes (the
 * kernel may be past the point of no return): each write call says how you
 * learn how much went out.
 *
 * The buffer of an abandoned operation, while the task goes on: with
 * io_uring's native operations the kernel may still be receiving into it
 * (or sending from it) after prokio_op_cancel returns, until the
 * cancellation completes on the worker. Leave that buffer alone (do not
 * free, reuse or read it) until the next operation of the same kind on the
 * same socket has returned (it waits for the abandoned one to complete
 * first), or the socket was closed with its _close_poll (which waits for
 * every operation in the kernel). A buffer in the frame of a task that
 * ends needs nothing: the runtime keeps the frame, as said above. */
#ifndef PROKIO_OP_H
#define PROKIO_OP_H

#include <prokio/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PROKIO_OP_SIZE 256
typedef struct prokio_op {
    union {
        unsigned char opaque[PROKIO_OP_SIZE];
        uint64_t align; /* the alignment of the runtime's struct; never read */
    } u;
} prokio_op_t;

/* Abandons the operation in progress on op (see "Cancel-safety" above); op
 * is idle afterwards, and its next poll starts a new operation.
 * Nothing when op is idle, or NULL. Thread: the worker of the task that
 * polls op. */
void prokio_op_cancel(prokio_op_t *op);

/* True while an operation is in progress on op. Thread: as
 * prokio_op_cancel. */
bool prokio_op_is_pending(const prokio_op_t *op);

#ifdef __cplusplus
}
#endif
#endif /* PROKIO_OP_H */
