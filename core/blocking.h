/* core/blocking.h: the runtime's side of the blocking pool (blocking.c). */
#ifndef PROKIO_CORE_BLOCKING_H
#define PROKIO_CORE_BLOCKING_H

#include "internal.h"

struct prokio__blocking;

/* Waits until every pool thread has ended: the functions running finish,
 * the queue is empty by then (the waiters were ended by the workers'
 * shutdown). Thread: the one shutting rt down, after the workers stopped. */
void prokio__blocking_shutdown(prokio_runtime_t *rt);

/* Frees the pool. Thread: the one freeing rt, after the shutdown. */
void prokio__blocking_free(prokio_runtime_t *rt);

#endif
