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

/* Receives from a plain thread (Tokio's blocking_recv): blocks it until the
 * value arrives (0, copied to value_out) or the sender is released without
 * sending (PROKIO_EPIPE). PROKIO_EDEADLK on a worker thread; PROKIO_EXDEV
 * for a PROKIO_LOCAL channel (it belongs to its worker); PROKIO_EBUSY if
 * another thread blocks on rx already. Thread: not a worker thread. */
int prokio_oneshot_blocking_recv(prokio_oneshot_rx_t *rx, void *value_out);

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
/* ------------------------------------------------------------- broadcast */

/* A broadcast channel (Tokio's tokio::sync::broadcast): any number of
 * senders and receivers; every receiver sees every value sent after it
 * subscribed, in send order. The channel holds the last `capacity` values
 * in a ring; a send never waits, and overwrites the oldest value when the
 * ring is full. A receiver that fell more than `capacity` values behind is
 * told so once, with the exact number it missed (PROKIO_ELAGGED), and goes
 * on from the oldest value still held.
 *
 * Values are value_size bytes, copied in by send and out by each receive.
 * Ownership of values: the channel's copy of a value is dropped
 * (value_drop, when given) exactly once: when a send overwrites its slot,
 * or when the last receiver is released (no later subscriber can see it),
 * or when the channel goes. A receive hands out a byte copy and keeps the
 * channel's own, so a value that points at memory it owns stays valid only
 * until the channel drops it: broadcast plain data, or data whose owner
 * outlives the channel. value_drop runs with the channel's lock held: it
 * must not call into the same channel.
 *
 * The sender handle is a counted reference (_clone/_release); each
 * receiver is its own object with its own position. The channel lives
 * until the last sender and the last receiver are gone. Created with
 * PROKIO_LOCAL, every call is confined to the creating worker (others get
 * PROKIO_EXDEV) and takes no lock. */
typedef struct prokio_broadcast_tx prokio_broadcast_tx_t;
typedef struct prokio_broadcast_rx prokio_broadcast_rx_t;

/* Creates a channel holding up to `capacity` (>= 1) values of value_size
 * bytes (0 for bare signals), with one sender and one receiver.
 * value_drop may be NULL (nothing to destroy); flags is 0 or PROKIO_LOCAL.
 * Ownership: *tx and *rx are the caller's, to give up with
 * prokio_broadcast_tx_release and prokio_broadcast_rx_release.
 * Thread: any (PROKIO_LOCAL: a worker thread, which then owns it). */
int prokio_broadcast_new(prokio_broadcast_tx_t **tx, prokio_broadcast_rx_t **rx, size_t value_size,
                         size_t capacity, prokio_value_drop_fn value_drop, unsigned flags);

/* One more sender for the same channel (the same pointer, counted), or NULL
 * when tx is NULL or used off its worker (PROKIO_LOCAL; error set).
 * Ownership: give it up with prokio_broadcast_tx_release. Thread: any. */
prokio_broadcast_tx_t *prokio_broadcast_tx_clone(prokio_broadcast_tx_t *tx);

/* Gives up one sender. With the last one gone, receivers get what is still
 * held and then PROKIO_EPIPE; waiting receivers are woken. Thread: any. */
void prokio_broadcast_tx_release(prokio_broadcast_tx_t *tx);

/* Copies value_size bytes at `value` (NULL only when value_size is 0) into
 * the ring, overwriting (and dropping) the oldest value when it is full,
 * and wakes every waiting receiver. Never waits. Returns the number of
 * receivers that will see it (>= 1), or PROKIO_EPIPE when there are none:
 * the value was not copied and is still the caller's (value_drop is not
 * called on it). Thread: any. */
int prokio_broadcast_send(prokio_broadcast_tx_t *tx, const void *value);

/* A new receiver that sees the values sent from now on (none of those held
 * already). Ownership: *rx is the caller's (prokio_broadcast_rx_release).
 * Returns 0, PROKIO_ENOMEM, PROKIO_EXDEV. Thread: any. */
int prokio_broadcast_subscribe(prokio_broadcast_rx_t **rx, prokio_broadcast_tx_t *tx);

/* Tokio's resubscribe: a new receiver of rx's channel that sees the values
 * sent from now on, whatever rx had still to read. Works after every
 * sender is gone (the new receiver then reads PROKIO_EPIPE).
 * Ownership and returns: as prokio_broadcast_subscribe. Thread: any. */
int prokio_broadcast_resubscribe(prokio_broadcast_rx_t **out, prokio_broadcast_rx_t *rx);

/* Awaits the next value for rx: PROKIO_PENDING, then
 *   0               the value copied to value_out (NULL only when
 *                   value_size is 0);
 *   PROKIO_ELAGGED  rx fell behind: *missed_out (when missed_out is not
 *                   NULL) is exactly how many values it missed; the next
 *                   receive returns the oldest value still held;
 *   PROKIO_EPIPE    every sender is gone and rx has read everything held.
 * `wait` is the operation's place among the channel's waiters (future.h);
 * a send wakes every waiting receiver. A completed receive leaves the wait
 * idle, and the next poll with it receives the next value.
 * Cancel-safety: rx's position moves only when a receive returns a result,
 * so a receive abandoned while waiting (task aborted, prokio_wait_cancel,
 * a select or timeout dropping it) loses nothing: the next receive returns
 * the value it would have. Spends one unit of the coop budget when it
 * completes without waiting. Thread: worker thread. */
int prokio_broadcast_recv_poll(prokio_wait_t *wait, prokio_broadcast_rx_t *rx, void *value_out,
                               uint64_t *missed_out, prokio_cx_t *cx);

/* The same without waiting: PROKIO_EAGAIN when nothing new was sent yet.
 * Thread: any. */
int prokio_broadcast_try_recv(prokio_broadcast_rx_t *rx, void *value_out, uint64_t *missed_out);

/* The same, blocking the calling thread until a value comes or the
 * senders are gone. PROKIO_EDEADLK on a worker thread (await
 * prokio_broadcast_recv_poll there). Thread: not a worker thread. */
int prokio_broadcast_blocking_recv(prokio_broadcast_rx_t *rx, void *value_out,
                                   uint64_t *missed_out);

/* Gives up a receiver. Values only it had left to read are dropped when
 * it was the last receiver (else they stay for the others, and are
 * dropped when overwritten). A receive still pending on rx must not be
 * polled again: release rx after it completed or was cancelled (a pending
 * wait found here, on its own worker, is cancelled for you).
 * Thread: any (the thread that polls rx, when a receive may be pending). */
void prokio_broadcast_rx_release(prokio_broadcast_rx_t *rx);

/* ----------------------------------------------------------------- watch */

/* A watch channel (Tokio's tokio::sync::watch): one sender publishes the
 * latest value, any number of receivers look at it and learn when it
 * changed. The channel keeps one value and a version counter; each
 * receiver remembers the version it last marked seen.
 *
 * Borrowing: prokio_watch_borrow returns a pointer to the channel's value
 * itself, without copying, and holds a read lock until
 * prokio_watch_borrow_end: sends wait for it. Keep a borrow short, never
 * hold it across an await (a PENDING return), and never send on the same
 * channel from the thread that holds it (the send would wait for itself;
 * with PROKIO_LOCAL, where nothing waits, it fails with PROKIO_EBUSY).
 * prokio_watch_read copies the value out instead, for most uses.
 *
 * Ownership of values: the channel's value is dropped (value_drop) when a
 * send replaces it and once more, for the last value, when the channel
 * goes. value_drop runs with the channel's locks held: it must not call
 * into the same channel. */
typedef struct prokio_watch_tx prokio_watch_tx_t;
typedef struct prokio_watch_rx prokio_watch_rx_t;

/* Creates a channel holding a copy of `initial` (value_size bytes; NULL
 * only when value_size is 0) as version 0, with one sender and one
 * receiver that has seen version 0. value_drop may be NULL; flags is 0 or
 * PROKIO_LOCAL. Ownership: *tx and *rx are the caller's, to give up with
 * prokio_watch_tx_release and prokio_watch_rx_release; the initial value
 * now belongs to the channel. Thread: any (PROKIO_LOCAL: a worker thread). */
int prokio_watch_new(prokio_watch_tx_t **tx, prokio_watch_rx_t **rx, size_t value_size,
                     const void *initial, prokio_value_drop_fn value_drop, unsigned flags);

/* Replaces the value with a copy of value_size bytes at `value` (NULL only
 * when value_size is 0), drops the old one, makes a new version and wakes
 * every receiver waiting for a change. Returns 0, or PROKIO_EPIPE when no
 * receiver is left: nothing was replaced and the value is still the
 * caller's. Waits for borrows to end (see above). Thread: any. */
int prokio_watch_send(prokio_watch_tx_t *tx, const void *value);

/* As prokio_watch_send, also without receivers, and the old value is not
 * dropped but copied to old_out (NULL only when value_size is 0): it is
 * the caller's now. Returns 0. Thread: any. */
int prokio_watch_send_replace(prokio_watch_tx_t *tx, const void *value, void *old_out);

/* True once every receiver is gone (prokio_watch_send would fail).
 * Thread: any. */
bool prokio_watch_tx_is_closed(prokio_watch_tx_t *tx);

/* A new receiver that has seen the current version.
 * Ownership: *rx is the caller's (prokio_watch_rx_release). Returns 0,
 * PROKIO_ENOMEM, PROKIO_EXDEV. Thread: any. */
int prokio_watch_subscribe(prokio_watch_rx_t **rx, prokio_watch_tx_t *tx);

/* Tokio's Receiver::clone: a new receiver of rx's channel that has seen
 * what rx has seen. Ownership and returns: as prokio_watch_subscribe.
 * Thread: any (the thread that uses rx). */
int prokio_watch_resubscribe(prokio_watch_rx_t **out, prokio_watch_rx_t *rx);

/* Gives up the sender: receivers waiting for a change get PROKIO_EPIPE
 * (after any version they have not seen). Thread: any. */
void prokio_watch_tx_release(prokio_watch_tx_t *tx);

/* Awaits a version newer than the one rx last marked seen: PROKIO_PENDING,
 * then 0, marking the newest version seen (as Tokio's changed(): then read
 * it with prokio_watch_borrow or _read; the next call waits for the next
 * send), or PROKIO_EPIPE when the sender is gone and rx has seen the last
 * version. A completed wait is idle again (future.h).
 * Cancel-safety: it marks the version seen only when it returns 0, so
 * abandoning it while it waits (task aborted, prokio_wait_cancel, select
 * or timeout) loses no change: the next call sees it. Spends one unit of
 * the coop budget when it completes without waiting. Thread: worker
 * thread. */
int prokio_watch_changed_poll(prokio_wait_t *wait, prokio_watch_rx_t *rx, prokio_cx_t *cx);

/* Without waiting: 1 when a version newer than rx's seen one exists, 0
 * when not, PROKIO_EPIPE when not and the sender is gone. Thread: any. */
int prokio_watch_has_changed(prokio_watch_rx_t *rx);

/* Blocks the calling thread as prokio_watch_changed_poll awaits; the same
 * results. PROKIO_EDEADLK on a worker thread. Thread: not a worker thread. */
int prokio_watch_blocking_changed(prokio_watch_rx_t *rx);

/* The current value, not copied: a pointer into the channel, valid until
 * prokio_watch_borrow_end(rx), with a read lock held until then (see
 * "Borrowing" above). NULL (error set) when rx is NULL, already borrowed,
 * or used off its worker. _and_update also marks the version seen.
 * Lifetime: until prokio_watch_borrow_end. Thread: any; the borrow ends on
 * the thread that took it. */
const void *prokio_watch_borrow(prokio_watch_rx_t *rx);
const void *prokio_watch_borrow_and_update(prokio_watch_rx_t *rx);

/* Ends rx's borrow; nothing when rx holds none. Thread: the borrowing one. */
void prokio_watch_borrow_end(prokio_watch_rx_t *rx);

/* Copies the current value to value_out (NULL only when value_size is 0)
 * and marks its version seen: borrow_and_update, copy, borrow_end.
 * Returns 0. Thread: any. */
int prokio_watch_read(prokio_watch_rx_t *rx, void *value_out);

/* Gives up a receiver (ending its borrow, if it holds one). A change wait
 * on rx must be complete or cancelled first (a pending one found here, on
 * its own worker, is cancelled for you). Thread: any (the thread that
 * polls rx, when a wait may be pending). */
void prokio_watch_rx_release(prokio_watch_rx_t *rx);

#ifdef __cplusplus
}
#endif
#endif /* PROKIO_CHANNEL_H */
