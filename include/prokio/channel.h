/* prokio/channel.h: channels between tasks, workers and threads. Part of
 * prokio.h. */
#ifndef PROKIO_CHANNEL_H
#define PROKIO_CHANNEL_H

#include <prokio/future.h>
#include <prokio/types.h>

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

#ifdef __cplusplus
}
#endif
#endif /* PROKIO_CHANNEL_H */
