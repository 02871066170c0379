/* prokio/channel.h: channels between tasks, workers and threads. Part of
 * prokio.h. */
#ifndef PROKIO_CHANNEL_H
#define PROKIO_CHANNEL_H

#include <prokio/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* --------------------------------------------------------------- oneshot */

/* A oneshot channel carries one value of value_size bytes (0 for a bare
 * signal) from a sender to a receiver, across workers and threads. Each end
 * is a counted reference to the channel, which lives until both ends are
 * gone. */
typedef struct prokio_oneshot_tx prokio_oneshot_tx_t;
typedef struct prokio_oneshot_rx prokio_oneshot_rx_t;

/* Creates a channel.
 * Ownership: *tx and *rx are the caller's; tx ends with prokio_oneshot_send
 * or prokio_oneshot_tx_release, rx with prokio_oneshot_rx_release.
 * Thread: any. */
int prokio_oneshot_new(prokio_oneshot_tx_t **tx, prokio_oneshot_rx_t **rx, size_t value_size);

/* Sends a copy of value_size bytes at `value` (NULL when value_size is 0)
 * and consumes tx, whatever the outcome. Returns 0, or PROKIO_EPIPE when the
 * receiver is gone: the value was not delivered and is still the caller's.
 * Thread: any. */
int prokio_oneshot_send(prokio_oneshot_tx_t *tx, const void *value);

/* Gives up the sender without sending: the receiver gets PROKIO_EPIPE.
 * Thread: any. */
void prokio_oneshot_tx_release(prokio_oneshot_tx_t *tx);

/* True once the receiver is gone (sending would fail). Thread: any. */
bool prokio_oneshot_tx_is_closed(const prokio_oneshot_tx_t *tx);

/* Awaits the value: PROKIO_PENDING, then 0 with the value copied to
 * value_out (NULL only when value_size is 0: otherwise PROKIO_EINVAL, and
 * the value stays for a poll with a buffer), or PROKIO_EPIPE if the
 * sender was released without sending. Cancel-safe: a value is never lost
 * by not polling again. Polled again after a result, it gives the same
 * result (the value copied again). Thread: worker thread. */
int prokio_oneshot_recv_poll(prokio_oneshot_rx_t *rx, void *value_out, prokio_cx_t *cx);

/* Gives up the receiver; a value sent and not received is discarded.
 * Thread: any. */
void prokio_oneshot_rx_release(prokio_oneshot_rx_t *rx);

#ifdef __cplusplus
}
#endif
#endif /* PROKIO_CHANNEL_H */
