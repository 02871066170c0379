/* prokio/channel.h: channels between tasks, workers and threads. Part of
 * prokio.h. */
#ifndef PROKIO_CHANNEL_H
#define PROKIO_CHANNEL_H

#include <prokio/future.h>
#include <prokio/types.h>
#include <prokio/future.h>

#ifdef __cplusplus
extern "C" {
#endif

/* --------------------------------------------------------------- oneshot */

/* A oneshot channel carries one value of value_size bytes (0 for a bare
 * signal) from a sender to a receiver, across workers and threads. Each end
 * is a counted reference to the channel, which lives until both ends are
 * gone. Made on a worker thread, the channel comes from that worker's pool
 * (no malloc), and prokio_runtime_free answers PROKIO_EBUSY until both ends
 * are released. */
typedef struct prokio_oneshot_tx prokio_oneshot_tx_t;
typedef struct prokio_oneshot_rx prokio_oneshot_rx_t;

/* Creates a channel.
 *   value_drop  optional: destroys a value that was sent and that the
 *               receiver released without receiving (see future.h).
 *   flags       0, or PROKIO_LOCAL: both ends used on the calling worker
 *               only (future.h); a round trip then costs no atomic
 *               instruction of the channel's, and a use from another thread
 *               fails with PROKIO_EXDEV and does nothing (a release there
 *               leaves the channel to the owner: call it on the worker).
 * Ownership: *tx and *rx are the caller's; tx ends with prokio_oneshot_send
 * or prokio_oneshot_tx_release, rx with prokio_oneshot_rx_release.
 * Thread: any (PROKIO_LOCAL: a worker thread). */
int prokio_oneshot_new(prokio_oneshot_tx_t **tx, prokio_oneshot_rx_t **rx, size_t value_size,
                       prokio_value_drop_fn value_drop, unsigned flags);

/* Sends a copy of value_size bytes at `value` (NULL when value_size is 0)
 * and consumes tx, whatever the outcome. Returns 0, or PROKIO_EPIPE when the
 * receiver is gone: the value was not delivered and is still the caller's.
 * Thread: any. */
int prokio_oneshot_send(prokio_oneshot_tx_t *tx, const void *value);

/* Gives up the sender without sending: the receiver gets PROKIO_EPIPE.
 * Thread: any (PROKIO_LOCAL: the owning worker). */
void prokio_oneshot_tx_release(prokio_oneshot_tx_t *tx);

/* True once the receiver is gone (sending would fail). Thread: any. */
bool prokio_oneshot_tx_is_closed(const prokio_oneshot_tx_t *tx);

/* Awaits the value: PROKIO_PENDING, then 0 with the value copied to
 * value_out (NULL only when value_size is 0: otherwise PROKIO_EINVAL, and
 * the value stays for a poll with a buffer), or PROKIO_EPIPE if the
 * sender was released without sending. Polled again after a result, it
 * gives the same result (the value copied again).
 * Cancel-safety: nothing is taken until it returns 0, so a task aborted
 * while waiting (or a select that drops the receive) loses nothing: the
 * value stays for the next receive, or is destroyed by value_drop when rx
 * is released. Thread: worker thread (PROKIO_LOCAL: the owning worker). */
int prokio_oneshot_recv_poll(prokio_oneshot_rx_t *rx, void *value_out, prokio_cx_t *cx);

/* Gives up the receiver; a value sent and never received is destroyed
 * through value_drop (when given), once.
 * Thread: any (PROKIO_LOCAL: the owning worker). */
void prokio_oneshot_rx_release(prokio_oneshot_rx_t *rx);

/* ------------------------------------------------------------------ mpsc */

/* A multi-producer, single-consumer channel of values of value_size bytes
 * (Tokio's mpsc), bounded (capacity values at most, permits included) or
 * unbounded (capacity 0). Senders are counted references (clone one per
 * producer); the receiver is single. The channel lives until the last
 * sender and the receiver are gone. Values sent by one producer are
 * received in the order it sent them; senders waiting for capacity are
 * served first come, first served.
 *
 * Closing is seen from both ends: once the receiver closes or is released,
 * sends fail with PROKIO_EPIPE (the value stays the caller's) and
 * prokio_mpsc_tx_is_closed says true; once the last sender is released,
 * the receiver gets the values still buffered and then PROKIO_EPIPE.
 *
 * Thread: any thread, for a channel created without flags; with
 * PROKIO_LOCAL, only the creating worker (elsewhere PROKIO_EXDEV), and no
 * lock or atomic read-modify-write of the channel on any path. */
typedef struct prokio_mpsc_tx prokio_mpsc_tx_t;
typedef struct prokio_mpsc_rx prokio_mpsc_rx_t;

/* Creates a channel. capacity 0 makes it unbounded (sends never wait; the
 * buffer grows); otherwise the buffer for capacity values is allocated
 * now, so that a permit, once held, can always send. value_drop (NULL: none)
 * destroys each value nobody will receive. flags: 0 or PROKIO_LOCAL.
 * Ownership: *tx and *rx are the caller's; end them with
 * prokio_mpsc_tx_release and prokio_mpsc_rx_release. Thread: any (a
 * worker thread for PROKIO_LOCAL). */
int prokio_mpsc_new(prokio_mpsc_tx_t **tx, prokio_mpsc_rx_t **rx, size_t value_size,
                    size_t capacity, prokio_value_drop_fn value_drop, unsigned flags);

/* Another sender on the same channel (the same pointer, counted once more),
 * or NULL when tx is NULL or used off its worker (PROKIO_LOCAL).
 * Ownership: release each clone once. Thread: any. */
prokio_mpsc_tx_t *prokio_mpsc_tx_clone(prokio_mpsc_tx_t *tx);

/* Gives up one sender. When it was the last, the receiver gets what is
 * buffered and then PROKIO_EPIPE. Lifetime: a wait holding a permit or
 * queued on this channel must be done (sent, returned or cancelled) before
 * its task's last sender goes. Thread: any (the owning worker for
 * PROKIO_LOCAL: elsewhere it does nothing and sets PROKIO_EXDEV). */
void prokio_mpsc_tx_release(prokio_mpsc_tx_t *tx);

/* True once the receiver closed or was released (sends would fail).
 * Thread: any. */
bool prokio_mpsc_tx_is_closed(const prokio_mpsc_tx_t *tx);

/* Awaits capacity and sends a copy of value_size bytes at `value`.
 * Returns 0 (sent; the wait is idle again), PROKIO_PENDING, or
 * PROKIO_EPIPE when the receiver closed (the value was not copied and is
 * still the caller's; value_drop is not called on it). An unbounded
 * channel never waits (PROKIO_ENOMEM when its buffer cannot grow).
 * Cancel-safety: the value is copied only when the send completes, so an
 * aborted task or a prokio_wait_cancel while waiting loses nothing and
 * sends nothing; capacity already handed to the wait passes to the next
 * waiting sender. Poll the same wait with the same value until it is done.
 * Thread: worker thread (the wait's task). */
int prokio_mpsc_send_poll(prokio_wait_t *wait, prokio_mpsc_tx_t *tx, const void *value,
                          prokio_cx_t *cx);

/* Awaits one slot of capacity: 0 when the wait now holds a permit (a slot
 * that counts against the capacity until used), PROKIO_PENDING, or
 * PROKIO_EPIPE when the receiver closed. A wait holding a permit is
 * pending (prokio_wait_is_pending) until prokio_mpsc_permit_send uses it
 * or prokio_wait_cancel gives it back; polling reserve again with it
 * returns 0 and keeps the same permit.
 * Cancel-safety: cancelling the wait (or the task ending) while it waits or
 * while it holds the permit gives the slot back to the next waiting
 * sender; nothing is lost. Thread: worker thread (the wait's task). */
int prokio_mpsc_reserve_poll(prokio_wait_t *wait, prokio_mpsc_tx_t *tx, prokio_cx_t *cx);

/* Sends a copy of `value` with the permit the wait holds, consuming it (the
 * wait is idle again). Never waits and never fails for a held permit while
 * the receiver exists, even after prokio_mpsc_rx_close; once the receiver
 * was released it returns PROKIO_EPIPE (the permit is consumed, the value
 * is still the caller's). PROKIO_EINVAL when the wait holds no permit.
 * Thread: the wait's thread. */
int prokio_mpsc_permit_send(prokio_wait_t *wait, const void *value);

/* Sends without waiting: 0, PROKIO_EAGAIN when the channel is full (or
 * other senders wait for capacity, who come first), PROKIO_EPIPE when the
 * receiver closed, PROKIO_ENOMEM (unbounded, no memory). On failure the
 * value is still the caller's. Thread: any. */
int prokio_mpsc_try_send(prokio_mpsc_tx_t *tx, const void *value);

/* Sends from a plain thread, blocking it while the channel is full, in
 * FIFO order with the waiting tasks. Returns as try_send, never
 * PROKIO_EAGAIN; PROKIO_EDEADLK on a worker thread. Thread: not a worker
 * thread. */
int prokio_mpsc_blocking_send(prokio_mpsc_tx_t *tx, const void *value);

/* Awaits a value: 0 with the value copied to value_out, PROKIO_PENDING,
 * or PROKIO_EPIPE when every sender is gone and the buffer is empty.
 * Cancel-safety: nothing is taken until it returns 0, so a task aborted
 * while waiting (or a select choosing another branch) loses no value; the
 * receiver keeps working for the next task that polls it. PROKIO_EBUSY if
 * a thread is blocked in prokio_mpsc_blocking_recv on it.
 * Thread: worker thread. */
int prokio_mpsc_recv_poll(prokio_mpsc_rx_t *rx, void *value_out, prokio_cx_t *cx);

/* Awaits at least one value and takes up to max at once into values_out
 * (an array of max values): returns the count (>= 1), PROKIO_PENDING, or
 * PROKIO_EPIPE as prokio_mpsc_recv_poll. Cancel-safety: as
 * prokio_mpsc_recv_poll. Thread: worker thread. */
int prokio_mpsc_recv_many_poll(prokio_mpsc_rx_t *rx, void *values_out, size_t max, prokio_cx_t *cx);

/* Receives without waiting: 0, PROKIO_EAGAIN when empty, PROKIO_EPIPE when
 * empty and every sender is gone. Thread: any. */
int prokio_mpsc_try_recv(prokio_mpsc_rx_t *rx, void *value_out);

/* Receives from a plain thread, blocking it until a value arrives or every
 * sender is gone (PROKIO_EPIPE). PROKIO_EDEADLK on a worker thread.
 * Thread: not a worker thread. */
int prokio_mpsc_blocking_recv(prokio_mpsc_rx_t *rx, void *value_out);

/* Closes the channel from the receiving end: sends and reserves fail with
 * PROKIO_EPIPE from now on and waiting senders are woken with it; permits
 * already held still send; the buffer stays receivable, then the receiver
 * gets PROKIO_EPIPE. Thread: any. */
void prokio_mpsc_rx_close(prokio_mpsc_rx_t *rx);

/* Gives up the receiver: closes the channel as prokio_mpsc_rx_close, and
 * every value still buffered is destroyed through value_drop exactly once,
 * here. Thread: any (the owning worker for PROKIO_LOCAL). */
void prokio_mpsc_rx_release(prokio_mpsc_rx_t *rx);

/* How many values are buffered now (0 for NULL). Thread: any. */
size_t prokio_mpsc_rx_len(const prokio_mpsc_rx_t *rx);

/* The capacity given at creation (0: unbounded; 0 for NULL). Thread: any. */
size_t prokio_mpsc_tx_capacity(const prokio_mpsc_tx_t *tx);

#ifdef __cplusplus
}
#endif
#endif /* PROKIO_CHANNEL_H */
