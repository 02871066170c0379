/* core/blocking.h: the runtime's side of the blocking pool (blocking.c). */
#ifndef PROKIO_CORE_BLOCKING_H
#define PROKIO_CORE_BLOCKING_H

#include "internal.h"

struct prokio__blocking;

/* What prokio__blocking_call runs when its function returned (with its
 * result), or failed to start (with the error: the runtime shut down, no
 * thread could be started). Runs once, on a pool thread or the caller's. */
typedef void (*prokio__blocking_done_fn)(void *arg, int result);

/* Runs fn(arg) on rt's blocking pool, then done(arg, result), with no task
 * in between: the core's own calls (core/op.c's file operations), which
 * cannot be aborted once queued (a queued call runs even at shutdown,
 * which waits for it). Returns 0 (done will run exactly once), or
 * PROKIO_ESHUTDOWN / PROKIO_ENOMEM / PROKIO_ENOTSUP (done never runs).
 * Thread: any. */
int prokio__blocking_call(prokio_runtime_t *rt, int (*fn)(void *arg), prokio__blocking_done_fn done,
                          void *arg);

/* Waits until every pool thread has ended: the functions running finish,
 * the queue is empty by then (the waiters were ended by the workers'
 * shutdown). Thread: the one shutting rt down, after the workers stopped. */
void prokio__blocking_shutdown(prokio_runtime_t *rt);

/* The pool's threads, idle threads, queued jobs and running jobs, read
 * under its lock (all zero before its first use). Thread: any, until
 * prokio__blocking_free. */
void prokio__blocking_stats(prokio_runtime_t *rt, uint64_t counts[4]);

/* Frees the pool. Thread: the one freeing rt, after the shutdown. */
void prokio__blocking_free(prokio_runtime_t *rt);

#endif
