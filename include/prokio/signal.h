/* prokio/signal.h: awaiting Unix signals (SIGINT, SIGTERM, SIGHUP, any
 * other that can be caught) from a task, so that a server can shut down or
 * reload gracefully. Part of prokio.h.
 *
 * A listener is registered interest in one signal number. Each listener
 * sees every delivery that happens after it was created, once: deliveries
 * that arrive between two receives are counted together (signals coalesce
 * in the kernel too), and prokio_signal_recv_poll says how many there were.
 * Any number of listeners, in any number of runtimes, may wait for the same
 * signal; each of them sees each delivery.
 *
 * How: the first listener of a signal installs a process-wide handler
 * (sigaction, SA_RESTART) that only counts the delivery and writes one byte
 * to a pipe; a small thread of the library reads the pipe and wakes the
 * listeners. While a signal has listeners, its default action (ending the
 * process, for SIGINT and SIGTERM) does not happen: the program decides.
 * When its last listener is freed, the disposition that was there before
 * the first one is put back, so a second Ctrl-C during a graceful shutdown
 * ends the program as usual once the listener is gone. A handler the
 * program installs itself for the same signal while a listener exists is
 * its own business and will be replaced by that restore.
 *
 * Not on WebAssembly (no signals there): prokio_signal_new returns
 * PROKIO_ENOTSUP. */
#ifndef PROKIO_SIGNAL_H
#define PROKIO_SIGNAL_H

#include <prokio/types.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct prokio_signal prokio_signal_t;

/* Starts listening for signal `signum` (SIGINT, SIGTERM, SIGHUP,
 * SIGUSR1, ...; from 1 to the largest signal number, real-time signals
 * included). PROKIO_EINVAL for a number out of range, for SIGKILL and
 * SIGSTOP (they cannot be caught), and for SIGSEGV, SIGBUS, SIGFPE and
 * SIGILL (faults of the thread that raised them: an async handler cannot
 * help); PROKIO_EINVAL for flags other than 0 (reserved).
 * Ownership: *out is the caller's, freed with prokio_signal_free.
 * Thread: any. */
int prokio_signal_new(prokio_signal_t **out, int signum, unsigned flags);

/* Awaits the next delivery of the signal: PROKIO_PENDING; then the number
 * of deliveries (>= 1) since the previous receive (or since the listener
 * was created). A delivery that came before the listener existed is not
 * seen.
 * Cancel-safety: nothing is consumed by waiting; a delivery that arrives
 * while nobody polls is kept in the count for the next receive.
 * Thread: worker thread; one task at a time receives on a listener (a
 * second one replaces the first one's waker). */
int prokio_signal_recv_poll(prokio_signal_t *s, prokio_cx_t *cx);

/* Receives without waiting: the number of deliveries since the previous
 * receive, or PROKIO_EAGAIN when there was none. Thread: any. */
int prokio_signal_try_recv(prokio_signal_t *s);

/* Stops listening and frees the listener; the last listener of a signal
 * puts back the disposition that was there before the first one. A task
 * still waiting on it must not be polled again (free it from that task, or
 * after that task ended). Thread: any. */
void prokio_signal_free(prokio_signal_t *s);

/* The signal number of the listener (0 for NULL). Thread: any. */
int prokio_signal_number(const prokio_signal_t *s);

#ifdef __cplusplus
}
#endif
#endif /* PROKIO_SIGNAL_H */
