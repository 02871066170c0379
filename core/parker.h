/* core/parker.h: blocks a thread that is not a worker
 * (prokio_runtime_block_on, prokio_task_blocking_join) until a waker wakes
 * it.
 *
 * One per thread, made at the thread's first blocking call and kept until
 * the thread exits, so a blocking join allocates nothing (and cannot fail
 * half-way). Reference counted, because a waker that points at it may
 * outlive the wait that stored it, and even the thread (libuv#2226 is this
 * bug with a stack object). A wake left over from an earlier wait only makes
 * a later park return early; every caller parks in a loop around its own
 * condition. */
#ifndef PROKIO_CORE_PARKER_H
#define PROKIO_CORE_PARKER_H

#include <pthread.h>
#include <stdatomic.h>

struct prokio__parker {
    _Atomic unsigned refs;
    int notified;
    pthread_mutex_t lock;
    pthread_cond_t cond;
};

/* Test hook: how many coming parker allocations fail (parker.c). */
extern _Atomic unsigned prokio__parker_fail_allocs;

/* The calling thread's parker (borrowed: the thread holds a reference until
 * it exits), or NULL when out of memory. Thread: any. */
struct prokio__parker *prokio__parker_current(void);

void prokio__parker_ref(struct prokio__parker *p);
void prokio__parker_unref(struct prokio__parker *p);

/* Wakes the parked thread, or makes its next park return at once.
 * Thread: any. */
void prokio__parker_unpark(struct prokio__parker *p);

/* Waits for an unpark (consuming it). Thread: the parker's thread. */
void prokio__parker_park(struct prokio__parker *p);

#endif
