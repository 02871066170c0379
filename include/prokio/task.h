/* prokio/task.h: spawning tasks, JoinHandles, the poll context and wakers.
 * Part of prokio.h. */
#ifndef PROKIO_TASK_H
#define PROKIO_TASK_H

#include <prokio/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------- spawning */

/* Spawns a task on a worker chosen by load (the less loaded of two picked at
 * random; from a worker thread with one worker, that worker).
 *   join_out           receives a JoinHandle, or NULL to detach at once.
 *   frame, frame_size  the initial frame, copied; frame may be NULL for a
 *                      zero-filled frame. The copy is 16-byte aligned.
 *   drop               optional (NULL), see prokio_drop_fn.
 * A failed spawn does nothing but set *join_out to NULL: drop is not called
 * and nothing is queued.
 * Ownership: *join_out is the caller's, to end with prokio_task_release.
 * Thread: any. */
int prokio_spawn(prokio_task_t **join_out, prokio_runtime_t *rt, prokio_poll_fn poll,
                 const void *frame, size_t frame_size, prokio_drop_fn drop);

/* Spawns on the current worker, the one running the task that owns cx.
 * Thread: the worker of cx. */
int prokio_spawn_local(prokio_task_t **join_out, prokio_poll_fn poll, const void *frame,
                       size_t frame_size, prokio_drop_fn drop, prokio_cx_t *cx);

/* Spawns on worker `worker` (0 .. prokio_runtime_workers()-1).
 * Thread: any. */
int prokio_spawn_on(prokio_task_t **join_out, prokio_runtime_t *rt, unsigned worker,
                    prokio_poll_fn poll, const void *frame, size_t frame_size, prokio_drop_fn drop);

/* ---------------------------------------------------------- JoinHandles */

/* Awaits a task from another task: PROKIO_PENDING until it ends, then its
 * result (as prokio_task_result), which is the task's and not a failure of
 * this call. A handle has one waiter: the last to register, task or thread,
 * is the one woken when the task ends. A handle handed from one task to
 * another follows its new owner (the task it left is not woken again: hand
 * a handle over, do not share it). A thread that blocks in
 * prokio_task_blocking_join takes the handle from a task that awaited it,
 * and is never displaced: that task is woken once, and meanwhile this
 * returns PROKIO_EBUSY.
 * Cancel-safety: awaiting takes nothing: abandoning the join (a select or
 * a timeout chose another branch, the awaiting task was aborted) leaves the
 * task running and its result in the handle, for the next poll or
 * prokio_task_blocking_join; abort the task to stop it.
 * Thread: worker thread. */
int prokio_task_join_poll(prokio_task_t *task, prokio_cx_t *cx);

/* Blocks the calling thread until the task ends; returns its result. The
 * thread becomes the handle's one waiter (see prokio_task_join_poll): a
 * second thread that tries meanwhile gets PROKIO_EBUSY at once.
 * Thread: not a worker thread (PROKIO_EDEADLK otherwise). */
int prokio_task_blocking_join(prokio_task_t *task);

/* The task's result: PROKIO_PENDING while it runs; then exactly what its
 * poll function returned, or PROKIO_ECANCELED if it was cancelled first.
 * Thread: any. */
int prokio_task_result(const prokio_task_t *task);

/* The task's frame: read outputs here once the task has ended.
 * Lifetime: until prokio_task_release. Thread: any, after the task ended
 * (before that the frame belongs to the running task). */
void *prokio_task_frame(prokio_task_t *task);

/* Requests cancellation. The task's worker stops polling it, disarms its
 * timers and runs its drop function; the result becomes PROKIO_ECANCELED
 * unless the task had already ended. Returns at once. Thread: any. */
void prokio_task_abort(prokio_task_t *task);

/* Releases the JoinHandle. A task still running is detached and goes on.
 * Ownership: task is gone for the caller. Thread: any. */
void prokio_task_release(prokio_task_t *task);

/* ------------------------------------------------------------- context */

/* The waker of the task being polled.
 * Lifetime: borrowed for the duration of the poll; clone it to keep it.
 * Thread: the worker of cx. */
prokio_waker_t *prokio_cx_waker(prokio_cx_t *cx);

/* The runtime and the worker index of the current poll (prokio_cx_runtime is
 * prokio_runtime_current() for code that has cx). Thread: the worker of cx. */
prokio_runtime_t *prokio_cx_runtime(prokio_cx_t *cx);
unsigned prokio_cx_worker(prokio_cx_t *cx);

/* Yields: schedules the current task again, behind the tasks already ready,
 * and returns PROKIO_PENDING for poll to return. Thread: the worker of cx. */
int prokio_cx_yield(prokio_cx_t *cx);

/* --------------------------------------------------------------- wakers */

/* A waker is a counted reference to a task (or to a thread blocked in
 * prokio_runtime_block_on / prokio_task_blocking_join). Waking a task that is
 * running makes it run again after the current poll; waking a finished task
 * does nothing; any number of wakes before the task runs make it run once.
 * Ownership: clone returns a new reference; wake and release consume one;
 * wake_by_ref does not. Thread: any. */
prokio_waker_t *prokio_waker_clone(prokio_waker_t *waker);
void prokio_waker_wake(prokio_waker_t *waker);
void prokio_waker_wake_by_ref(prokio_waker_t *waker);
void prokio_waker_release(prokio_waker_t *waker);

/* True when both wake the same task: keep the stored waker, skip a clone.
 * Thread: any. */
bool prokio_waker_will_wake(const prokio_waker_t *a, const prokio_waker_t *b);

#ifdef __cplusplus
}
#endif
#endif /* PROKIO_TASK_H */
