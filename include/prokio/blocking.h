/* prokio/blocking.h: running blocking or CPU-heavy work off the workers
 * (Tokio's spawn_blocking). Part of prokio.h.
 *
 * A worker must never block: a blocking system call, a library that
 * blocks (getaddrinfo, a database client), or a long computation stalls
 * every task of that worker. prokio_spawn_blocking runs such a function on
 * a thread of the runtime's blocking pool and gives back a JoinHandle, the
 * same as a task's, so a task awaits it like any other.
 *
 * The pool belongs to the runtime: created with the first call, it grows
 * one thread at a time while work waits and no thread is idle, up to
 * options.max_blocking_threads (default 512, as Tokio's); a thread idle
 * for options.blocking_keep_alive_ms (default 10 s) ends. Work beyond the
 * bound waits in a FIFO queue. Shutting the runtime down waits for the
 * functions that already run (a thread cannot be stopped from outside);
 * work that never started is dropped.
 *
 * Not on WebAssembly (no threads): PROKIO_ENOTSUP. */
#ifndef PROKIO_BLOCKING_H
#define PROKIO_BLOCKING_H

#include <prokio/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A blocking function: runs once on a pool thread with the frame (the
 * copy made at the spawn, 16-byte aligned) and returns the result the
 * JoinHandle reports (>= 0, or a negative PROKIO_E* code). */
typedef int (*prokio_blocking_fn)(void *frame);

/* Runs fn on the blocking pool of rt (NULL: the runtime of the calling
 * worker) with a copy of `frame` (frame_size bytes; NULL frame: zeroed).
 * *join_out (NULL: detached) is a JoinHandle like prokio_spawn's:
 *   - prokio_task_join_poll / _blocking_join give fn's result;
 *   - prokio_task_frame gives the frame as fn left it, once joined;
 *   - prokio_task_abort before fn started: fn never runs, the result is
 *     PROKIO_ECANCELED and drop runs on the frame. After it started, fn
 *     cannot be stopped: it runs to its end on its thread, the result is
 *     still PROKIO_ECANCELED, and drop runs (on the pool thread) when fn
 *     returns, never before.
 * drop (NULL: none) runs exactly once on the frame, on success after the
 * handle's task ends as for any task.
 * Errors: PROKIO_EINVAL (fn NULL, join_out-less use is fine), PROKIO_ESHUTDOWN
 * (rt is shutting down), PROKIO_ENOMEM; when no pool thread can be started
 * at all, the handle's result is that error (EAGAIN-like), said in
 * prokio_last_error() at the spawn if known then.
 * Ownership: the frame is copied; *join_out is the caller's, released with
 * prokio_task_release. Thread: any (NULL rt: a worker thread). */
int prokio_spawn_blocking(prokio_task_t **join_out, prokio_runtime_t *rt, prokio_blocking_fn fn,
                          const void *frame, size_t frame_size, prokio_drop_fn drop);

#ifdef __cplusplus
}
#endif
#endif /* PROKIO_BLOCKING_H */
