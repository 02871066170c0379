/* core/task.h: the task header and its state word.
 *
 * A task is one pool allocation: this 48-byte header, then the frame
 * (16-byte aligned). The JoinHandle type of the public API, prokio_task_t,
 * is a pointer to this header holding one reference.
 *
 * The state word packs flags, the result code and the reference count, so
 * that every transition is a single atomic instruction (the shape of Tokio's
 * task state, adapted: tasks never migrate, and a queued task holds no
 * reference of its own because the worker's "owned" reference keeps every
 * unfinished task alive):
 *
 *   bit  0     NOTIFIED       queued, or to be queued again after the poll
 *   bit  1     RUNNING        being polled (or dropped) by its worker
 *   bit  2     COMPLETE       ended; the frame's drop has run
 *   bit  3     CANCELLED      abort requested
 *   bit  4     JOIN_INTEREST  a JoinHandle exists
 *   bit  5     JOIN_WAKER     join_waker holds a waker (see task.c)
 *   bits 16-31 result code    -(result) when the task ended with an error
 *   bits 32-63 reference count: the worker's (until COMPLETE), the
 *              JoinHandle's, each waker clone's
 */
#ifndef PROKIO_TASK_H
#define PROKIO_TASK_H

#include "armed.h"
#include "internal.h"

#define TASK_NOTIFIED      UINT64_C(0x01)
#define TASK_RUNNING       UINT64_C(0x02)
#define TASK_COMPLETE      UINT64_C(0x04)
#define TASK_CANCELLED     UINT64_C(0x08)
#define TASK_JOIN_INTEREST UINT64_C(0x10)
#define TASK_JOIN_WAKER    UINT64_C(0x20)
#define TASK_CODE_SHIFT    16
#define TASK_CODE_MASK     (UINT64_C(0xffff) << TASK_CODE_SHIFT)
#define TASK_REF_ONE       (UINT64_C(1) << 32)
#define TASK_REFS(s)       ((s) >> 32)

struct prokio_task {
    _Atomic uint64_t state;   /* word 0: never zero while alive (pool.h) */
    struct prokio_task *next; /* ready/remote queue link; word 1 */
    prokio_poll_fn poll;
    prokio_drop_fn drop;
    uintptr_t join_waker;        /* a tagged waker, valid under JOIN_WAKER */
    struct prokio__armed *armed; /* leaf futures to disarm at the end */
};

#define PROKIO__TASK_HEADER sizeof(struct prokio_task)
_Static_assert(sizeof(struct prokio_task) % 16 == 0, "frames must stay 16-byte aligned");

static inline void *prokio__task_frame(struct prokio_task *t)
{
    return (char *)t + PROKIO__TASK_HEADER;
}

/* Creates a task in `worker`'s pool with NOTIFIED set and the worker's
 * reference (+ a JoinHandle reference when `joined`). local: Thread: the
 * worker's own; remote: caller holds the worker's pool lock. NULL when out
 * of memory. */
struct prokio_task *prokio__task_new(struct prokio__worker *w, bool local, prokio_poll_fn poll,
                                     const void *frame, size_t frame_size, prokio_drop_fn drop,
                                     bool joined);

/* Frees a task that was created but never queued (a failed spawn): no drop
 * runs. */
void prokio__task_discard(struct prokio_task *t);

/* Polls a task popped from its worker's ready queue (or cancels it, if an
 * abort is pending). Thread: the task's worker. */
void prokio__task_run(struct prokio__worker *w, struct prokio_task *t);

/* Ends a task that is not COMPLETE with PROKIO_ECANCELED at shutdown: it
 * is in no queue and not running. Thread: the task's worker. */
void prokio__task_cancel_at_shutdown(struct prokio_task *t);

/* Wakes without consuming a reference. Thread: any. */
void prokio__task_wake_by_ref(struct prokio_task *t);

/* Reference counting. Thread: any. */
void prokio__task_ref(struct prokio_task *t);
void prokio__task_unref(struct prokio_task *t);

#endif
