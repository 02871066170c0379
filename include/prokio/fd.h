/* prokio/fd.h: registered descriptors (Tokio's AsyncFd), the readiness
 * leaf future every I/O primitive builds on. Part of prokio.h. */
#ifndef PROKIO_FD_H
#define PROKIO_FD_H

#include <prokio/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A non-blocking descriptor registered with one worker. */
typedef struct prokio_fd prokio_fd_t;

#define PROKIO_READABLE 0x1u
#define PROKIO_WRITABLE 0x2u

/* Registers the non-blocking descriptor `fileno` with the current worker,
 * so that tasks of this worker can await its readiness. Register a
 * descriptor once per worker: some backends refuse a second registration
 * (PROKIO_EEXIST); regular files and directories are refused with
 * PROKIO_EPERM, as epoll refuses them (they are always ready).
 * Ownership: the descriptor stays the caller's (Prokio never closes it);
 * *out is the caller's, to end with prokio_fd_free before closing fileno.
 * Thread: worker thread; the registration belongs to that worker. */
int prokio_fd_new(prokio_fd_t **out, int fileno, prokio_cx_t *cx);

/* Awaits readiness: returns PROKIO_PENDING, or the mask of `interest`
 * directions that are ready (> 0), or a negative code. Readiness is cached:
 * after a read or write fails with EAGAIN, call prokio_fd_clear_ready for
 * that direction, then poll again. One task per direction may wait at a
 * time (a reader and a writer may wait together). After the runtime shut
 * down, PROKIO_ECANCELED.
 * Cancel-safety: waiting consumes nothing (readiness is a level kept in
 * fd); a task that abandons the wait leaves its waker, replaced by the
 * next waiter of that direction or dropped by prokio_fd_free.
 * Thread: the owning worker (PROKIO_EXDEV from another). */
int prokio_fd_ready_poll(prokio_fd_t *fd, unsigned interest, prokio_cx_t *cx);

/* Forgets cached readiness for `events` (call it on EAGAIN).
 * Thread: the owning worker. */
void prokio_fd_clear_ready(prokio_fd_t *fd, unsigned events);

/* The registered descriptor, or PROKIO_EINVAL for NULL. Thread: any. */
int prokio_fd_fileno(const prokio_fd_t *fd);

/* Deregisters and frees. A task still waiting on fd is woken, so that it
 * does not sleep for ever; it must not poll fd again (your own protocol
 * tells it why: a flag in the frame, a closed channel). After runtime
 * shutdown this only frees memory. Returns 0, or PROKIO_EXDEV (nothing
 * done) when called off the owning worker while the runtime runs.
 * Ownership: fd is gone; the descriptor is still the caller's to close.
 * Thread: the owning worker, or any thread after prokio_runtime_shutdown. */
int prokio_fd_free(prokio_fd_t *fd);

#ifdef __cplusplus
}
#endif
#endif /* PROKIO_FD_H */
