/* core/parker.h: blocks a thread that is not a worker (prokio_block_on,
 * prokio_task_join) until a waker wakes it.
 *
 * Reference counted, because a waker that points at it may outlive the
 * wait that created it: the thread returns as soon as it sees the task
 * complete, possibly before the waker's owner is done with it (libuv#2226
 * is this bug with a stack object). */
#ifndef PROKIO_PARKER_H
#define PROKIO_PARKER_H

#include <pthread.h>
#include <stdatomic.h>

struct prokio__parker {
    _Atomic unsigned refs;
    int notified;
    pthread_mutex_t lock;
    pthread_cond_t cond;
};

/* One reference, the caller's. NULL when out of memory. */
struct prokio__parker *prokio__parker_new(void);
void prokio__parker_ref(struct prokio__parker *p);
void prokio__parker_unref(struct prokio__parker *p);

/* Wakes the parked thread, or makes its next park return at once.
 * Thread: any. */
void prokio__parker_unpark(struct prokio__parker *p);

/* Waits for an unpark (consuming it). Thread: the parker's thread. */
void prokio__parker_park(struct prokio__parker *p);

#endif
