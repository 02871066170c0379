/* core/task.h: the task header and its state word.
 *
 * A task is one pool allocation: this 48-byte header, then the frame
 * (16-byte aligned). The JoinHandle type of the public API, prokio_task_t,
 * is a pointer to this header holding one reference.
 *
 * The state word packs flags and the reference count, so that every
 * transition is a single atomic instruction (the shape of Tokio's task
 * state, adapted: tasks never migrate, and a queued task holds no reference
 * of its own because the worker's "owned" reference keeps every unfinished
 * task alive):
 *
 *   bit  0     NOTIFIED       queued, or to be queued again after the poll
 *   bit  1     RUNNING        being polled (or dropped) by its worker
 *   bit  2     COMPLETE       ended; the frame's drop has run, result is set
 *   bit  3     CANCELLED      abort requested
 *   bit  4     JOIN_INTEREST  a JoinHandle exists
 *   bit  5     ENDING         ended, but pinned: drop and COMPLETE wait for
 *                             the last pin (its result is in u.result)
 *   bits 8-31  pins: native I/O operations in flight that point into the
 *              frame (core/op_native.c); changed on the worker only
 *   bits 32-63 reference count: the worker's (until COMPLETE), the
 *              JoinHandle's, each waker clone's
 *
 * Transitions (checked by assertions in debug builds):
 *   spawn        NOTIFIED, refs = 1 (+1 with a handle)
 *   run          NOTIFIED -> RUNNING (only the worker, only when queued)
 *   poll pending RUNNING -> idle, or -> NOTIFIED if woken meanwhile
 *   poll result  RUNNING -> COMPLETE, worker's reference dropped; or, with
 *                pins, RUNNING -> ENDING (armed futures cancelled, the rest
 *                of the end deferred; NOTIFIED cleared: it is in no queue)
 *   shutdown     idle or NOTIFIED -> COMPLETE (the worker, not running), or
 *                -> ENDING with pins; the worker then drives its backend
 *                until every ENDING task has ended (shutdown.c)
 *   last unpin   ENDING -> ENDING|NOTIFIED, queued; its run does the rest:
 *                ENDING|RUNNING -> COMPLETE
 *   wake         idle -> NOTIFIED (queued by the waker); otherwise only the
 *                bit is set and the worker requeues after the poll
 */
#ifndef PROKIO_CORE_TASK_H
#define PROKIO_CORE_TASK_H

#include "armed.h"
#include "internal.h"
#include "waker_slot.h"

#define TASK_NOTIFIED      UINT64_C(0x01)
#define TASK_RUNNING       UINT64_C(0x02)
#define TASK_COMPLETE      UINT64_C(0x04)
#define TASK_CANCELLED     UINT64_C(0x08)
#define TASK_JOIN_INTEREST UINT64_C(0x10)
#define TASK_ENDING        UINT64_C(0x20)
#define TASK_PIN_ONE       (UINT64_C(1) << 8)
#define TASK_PINS(s)       (((s) >> 8) & UINT64_C(0xffffff))
#define TASK_REF_ONE       (UINT64_C(1) << 32)
#define TASK_REFS(s)       ((s) >> 32)

struct prokio_task {
    _Atomic uint64_t state;   /* word 0: never zero while alive (pool.h) */
    struct prokio_task *next; /* ready/remote queue link; word 1 */
    union {
        prokio_poll_fn poll; /* until COMPLETE */
        int result;          /* from COMPLETE on: what poll returned, or why it ended */
    } u;
    prokio_drop_fn drop;
    struct prokio__waker_slot join; /* the JoinHandle's waiter */
    struct prokio__armed *armed;    /* leaf futures to disarm at the end */
};

#define PROKIO__TASK_HEADER sizeof(struct prokio_task)
_Static_assert(sizeof(struct prokio_task) % 16 == 0, "frames must stay 16-byte aligned");
_Static_assert(sizeof(struct prokio_task) <= 48, "the header is part of every idle task's cost");

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

/* Ends a task that is not COMPLETE and not running, with `result` as its
 * result (PROKIO_ECANCELED at shutdown, the backend's code when the worker
 * failed): it is in no queue the worker will look at again.
 * Thread: the task's worker. */
void prokio__task_end(struct prokio_task *t, int result);

/* Pins t's frame for a native operation in flight: the task's end (its
 * drop, COMPLETE, the frame's release) waits for the matching unpin. The
 * last unpin of an ENDING task queues it to finish. Thread: t's worker. */
void prokio__task_pin(struct prokio_task *t);
void prokio__task_unpin(struct prokio_task *t);

/* Wakes without consuming a reference. Thread: any. */
void prokio__task_wake_by_ref(struct prokio_task *t);

/* Wakes and gives up one reference. Thread: any. */
void prokio__task_wake(struct prokio_task *t);

/* Reference counting. Thread: any. */
void prokio__task_ref(struct prokio_task *t);
void prokio__task_unref(struct prokio_task *t);

#endif
