/* prokio/future.h: what every waiting operation shares: the embedded wait,
 * worker-local objects, value destructors, and composing futures (select,
 * join-all). Part of prokio.h.
 *
 * Waiting on a channel or a sync primitive.
 *   Every operation that may have to queue for something (a lock, permits,
 *   channel capacity, a notification, a broadcast value) takes a
 *   prokio_wait_t: a small struct embedded in your frame, which is the
 *   operation's place in the primitive's queue. Zero-filled memory is an
 *   idle wait. Poll the operation with the same wait until it returns
 *   something other than PROKIO_PENDING; the wait is idle again then, and
 *   the next poll with it starts a new operation (so a loop that locks and
 *   unlocks reuses one wait). The receives of the single-receiver channels
 *   (oneshot, mpsc) take no wait: their receiver end is the waiter.
 *
 *   A wait belongs to the task that polled it and never moves: it must stay
 *   in the frame (or other memory that outlives the operation) while it is
 *   pending. Waiters are served in FIFO order where Tokio's are (locks,
 *   semaphores, notify_one, bounded channel capacity).
 *
 * Cancel-safety, the one rule:
 *   A task that ends (returns, is aborted, or is cancelled at shutdown) with
 *   a wait pending has it cancelled by the runtime before its drop function
 *   runs, as with sleeps. To abandon an operation while the task goes on
 *   (a select or a timeout chose something else), call prokio_wait_cancel.
 *   Cancelling never loses anything: what the wait was queued for is not
 *   taken, and what was already handed to it but not yet seen by a poll (a
 *   lock, permits, a notification, reserved capacity) is passed on to the
 *   next waiter, exactly as if it had been released. Each header says, next
 *   to the operation, what that means for it; README "Cancel-safety" has
 *   the table.
 *
 * Worker-local objects.
 *   Channels and sync primitives created with PROKIO_LOCAL belong to the
 *   worker that created them: every operation then skips the cross-thread
 *   machinery (no lock, no atomic read-modify-write of the object's own
 *   state), and any use from another thread fails with PROKIO_EXDEV. Use it
 *   when all the tasks that share the object were spawned with
 *   prokio_spawn_local on one worker. Without the flag, objects work from
 *   any worker and, through the blocking_ calls, from plain threads. */
#ifndef PROKIO_FUTURE_H
#define PROKIO_FUTURE_H

#include <prokio/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ wait */

#define PROKIO_WAIT_SIZE 96
typedef struct prokio_wait {
    union {
        unsigned char opaque[PROKIO_WAIT_SIZE];
        uint64_t align; /* the alignment of the runtime's struct; never read */
    } u;
} prokio_wait_t;

/* Abandons the operation the wait is part of (see "Cancel-safety" above);
 * the wait is idle afterwards. Nothing when it is idle already, or NULL.
 * Thread: the thread that polls the wait (the worker of its task). */
void prokio_wait_cancel(prokio_wait_t *wait);

/* True while an operation is in progress on the wait (queued, or handed
 * what it waited for and not yet polled). Thread: as prokio_wait_cancel. */
bool prokio_wait_is_pending(const prokio_wait_t *wait);

/* ----------------------------------------------------------- object flags */

/* Creation flag of channels and sync primitives: the object belongs to the
 * calling worker (see "Worker-local objects" above). Creating one off a
 * worker thread fails with PROKIO_EINVAL. */
#define PROKIO_LOCAL 0x1u

/* Destroys one value of a channel (or a OnceCell's value) that nobody will
 * receive: called exactly once for every value the channel took and did not
 * hand out, on the thread that releases the last reference to it or that
 * overwrites it. Never called for a value a failed send handed back. */
typedef void (*prokio_value_drop_fn)(void *value);

/* --------------------------------------------------------------- branches */

/* A future to compose: its poll function, its state, and how to abandon it.
 * `poll` is called as poll(future, cx) and follows the poll contract of
 * prokio.h; `cancel` (optional) is called as cancel(future) when a select
 * or a timeout drops the branch: for a wait, a function calling
 * prokio_wait_cancel; for a sleep, prokio_sleep_cancel. */
typedef void (*prokio_cancel_fn)(void *future);
typedef struct prokio_branch {
    prokio_poll_fn poll;
    void *future;
    prokio_cancel_fn cancel;
} prokio_branch_t;

/* Branches over the runtime's own futures, without writing an adapter. */
struct prokio_sleep;
prokio_branch_t prokio_branch_sleep(struct prokio_sleep *sleep);
prokio_branch_t prokio_branch_join(prokio_task_t *task);

#ifdef __cplusplus
}
#endif
#endif /* PROKIO_FUTURE_H */
