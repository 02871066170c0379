/* prokio/group.h: task groups, in the spirit of Tokio's JoinSet and trio's
 * nursery. Part of prokio.h.
 *
 * A group owns the JoinHandles of the tasks spawned into it (its members)
 * and hands each one back when that task has ended, in the order the
 * tasks ended (completion order, across workers), with its frame readable:
 *
 *     prokio_group_t *g;
 *     prokio_group_new(&g, NULL);                 // inside a task: this runtime
 *     for (i = 0; i < n; i++)
 *         prokio_group_spawn(g, work_poll, &job[i], sizeof job[i], NULL);
 *     // in the poll function, until PROKIO_ENOENT:
 *     prokio_task_t *t;
 *     int rc = prokio_group_join_next_poll(&t, g, cx);
 *     if (rc == PROKIO_PENDING) return PROKIO_PENDING;
 *     if (rc == 0) { use(prokio_task_result(t), prokio_task_frame(t)); prokio_task_release(t); }
 *
 * Freeing the group aborts what still runs: a group cannot leak running
 * tasks that nobody awaits (the nursery's promise, without its scope).
 *
 * Thread: a group is used by one task or thread at a time (it is not
 * locked against concurrent callers), like a JoinSet; hand it from one to
 * another freely. Its members run on any worker and may end on any
 * worker, concurrently with the group's user. */
#ifndef PROKIO_GROUP_H
#define PROKIO_GROUP_H

#include <prokio/types.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct prokio_group prokio_group_t;

/* Creates an empty group that spawns on `rt`; rt NULL means the current
 * runtime (prokio_runtime_current(), Tokio's Handle::current), which is
 * how a library called from a task spawns without being handed a
 * runtime. rt NULL off a worker thread fails with PROKIO_EINVAL.
 * Ownership: *out is the caller's, to end with prokio_group_free. The
 * group keeps its own reference to the runtime (a clone), so it never
 * dangles; free the group before the runtime, as its members' handles
 * count as held tasks for prokio_runtime_free.
 * Thread: any (rt NULL: a worker thread). */
int prokio_group_new(prokio_group_t **out, prokio_runtime_t *rt);

/* Spawns a member as prokio_spawn does (a worker chosen by load), keeping
 * its JoinHandle in the group. A failed spawn leaves the group unchanged
 * (drop is not called). Thread: the group's user; any thread. */
int prokio_group_spawn(prokio_group_t *g, prokio_poll_fn poll, const void *frame, size_t frame_size,
                       prokio_drop_fn drop);

/* Spawns a member on the worker of cx, as prokio_spawn_local.
 * Thread: the worker of cx. */
int prokio_group_spawn_local(prokio_group_t *g, prokio_poll_fn poll, const void *frame,
                             size_t frame_size, prokio_drop_fn drop, prokio_cx_t *cx);

/* Spawns a member on worker `worker`, as prokio_spawn_on. Thread: any. */
int prokio_group_spawn_on(prokio_group_t *g, unsigned worker, prokio_poll_fn poll,
                          const void *frame, size_t frame_size, prokio_drop_fn drop);

/* Awaits the next member to end. Returns 0 with *task_out set to it: its
 * handle is now the caller's (read prokio_task_result and
 * prokio_task_frame, then prokio_task_release), and it has left the group.
 * Members come out in the order they ended. PROKIO_ENOENT when the group
 * has no member left (nothing to wait for; *task_out NULL), PROKIO_PENDING
 * while members run and none has ended (the task is woken when one does).
 * Spends one unit of the coop budget when it hands a member out.
 * Cancel-safety: a member is handed out only by a call that returns 0; a
 * call that returned PROKIO_PENDING took nothing, so abandoning it (a
 * select chose another branch, the task was aborted) loses no member: the
 * next call, or prokio_group_free, still finds it. Its waker stays
 * registered until the next call or the free (a spurious wake at most).
 * Thread: the worker of cx; one waiter at a time (a thread blocked in
 * prokio_group_blocking_join_next makes this return PROKIO_EBUSY). */
int prokio_group_join_next_poll(prokio_task_t **task_out, prokio_group_t *g, prokio_cx_t *cx);

/* The next member that has ended, without waiting: 0 with *task_out (as
 * prokio_group_join_next_poll), PROKIO_EAGAIN when members run and none
 * has ended, PROKIO_ENOENT when the group is empty. Thread: any (the
 * group's user). */
int prokio_group_try_join_next(prokio_task_t **task_out, prokio_group_t *g);

/* Blocks the calling thread until a member ends; then as
 * prokio_group_try_join_next (0 with *task_out, or PROKIO_ENOENT at once
 * when the group is empty). Thread: not a worker thread (PROKIO_EDEADLK
 * otherwise). */
int prokio_group_blocking_join_next(prokio_task_t **task_out, prokio_group_t *g);

/* Aborts every member (prokio_task_abort). They stay in the group: each
 * ends with PROKIO_ECANCELED (or the result it had already returned) and
 * is handed out by join_next as usual. Thread: any (the group's user). */
void prokio_group_abort_all(prokio_group_t *g);

/* The number of members not handed out yet (running or ended).
 * 0 for NULL. Thread: the group's user. */
size_t prokio_group_len(const prokio_group_t *g);

/* Aborts every member still running and releases every member's handle
 * (those that ended and were not handed out too), then the group.
 * Returns at once: aborted members end on their workers (their drop runs
 * there, exactly once) and the group's memory goes when the last of them
 * has reported its end. Nothing with NULL.
 * Ownership: g is gone for the caller. Thread: any (the group's user);
 * not from a member of g's drop function. */
void prokio_group_free(prokio_group_t *g);

#ifdef __cplusplus
}
#endif
#endif /* PROKIO_GROUP_H */
