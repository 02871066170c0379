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

/* ------------------------------------------------------ select, join-all */

/* Flags of prokio_select_poll. */
#define PROKIO_SELECT_BIASED 0x1u /* poll the branches in index order, 0 first */
#define PROKIO_SELECT_KEEP   0x2u /* leave the losing branches as they are */

/* Awaits the first of n branches to complete, as Tokio's select!.
 * Each poll polls every branch, starting at a random index (so that over
 * many polls each ready branch gets its turn to win: a branch that is
 * always ready cannot starve the others), or at 0 with
 * PROKIO_SELECT_BIASED. The first branch to return something other than
 * PROKIO_PENDING wins: *index_out receives its index (it is written only
 * then) and its result is returned, whatever it is (a negative result is
 * the branch's, not a failure of the select, and leaves
 * prokio_last_error() alone). The branches after the winner are not
 * polled in that round.
 * The losers, without PROKIO_SELECT_KEEP: every other branch's cancel is
 * called, once, when it is not NULL (those polled in this round, those
 * not reached, and those polled in earlier rounds alike), as Tokio drops
 * the other futures of a select!. They must be in a state their cancel
 * accepts: an initialised sleep, a wait (idle or pending), a handle.
 * With PROKIO_SELECT_KEEP: nothing is called on them. A loser polled in
 * this round or an earlier one may still be registered (its waker can
 * wake the task spuriously, later) and may even have had what it waits
 * for handed to it (a lock granted to its wait, a task ended): it is
 * kept, not lost, for the next poll of that branch, so you may poll the
 * same branches again (another select over them, or each alone) or
 * cancel them yourself later. A branch that completed keeps returning its
 * result (the poll contract), so drop the winner from the set, or
 * re-initialise it, before selecting again.
 * Returns PROKIO_PENDING when no branch completed (each pending branch
 * arranged its wake). PROKIO_EINVAL when index_out, branches or cx is
 * NULL, n is 0, or a branch's poll is NULL: then no branch is polled or
 * cancelled.
 * Cancel-safety: exactly that of the branches. The select itself keeps
 * nothing between polls; a task aborted while waiting in it has every
 * pending leaf future cancelled by the runtime (waits, sleeps), as for
 * any task.
 * Thread: the worker of cx. */
int prokio_select_poll(size_t *index_out, const prokio_branch_t *branches, size_t n, unsigned flags,
                       prokio_cx_t *cx);

/* Awaits every branch, as Tokio's join!. The caller sets each results[i]
 * to PROKIO_PENDING before the first poll; each poll polls only the
 * branches whose result is still PROKIO_PENDING, in index order, and
 * stores what each returns. Returns 0 once every results[i] holds a
 * result (a branch's negative result is stored, not returned), and
 * PROKIO_PENDING before. n == 0 is done at once (0). PROKIO_EINVAL when
 * results, branches or cx is NULL, or the poll of a branch still pending
 * is NULL: then nothing is polled.
 * Cancel-safety: the results already stored stay in `results`; to give
 * up, cancel the branches still PROKIO_PENDING (their cancel) yourself,
 * or let the task end (the runtime cancels its pending waits and sleeps).
 * Thread: the worker of cx. */
int prokio_join_all_poll(int *results, const prokio_branch_t *branches, size_t n, prokio_cx_t *cx);

#ifdef __cplusplus
}
#endif
#endif /* PROKIO_FUTURE_H */
