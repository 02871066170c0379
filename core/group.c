/* core/group.c: task groups (prokio/group.h).
 *
 * Learning which member ended, without scanning: each member's JoinHandle
 * waker slot (waker_slot.h) holds a hook (waker.h, tag 2) instead of a
 * task's waker. When the member's worker finishes the task it wakes the
 * slot, as it would wake a joiner: the hook pushes the member on the
 * group's `finished` stack (lock-free, so any number of workers report at
 * once without a lock) and wakes the group's one waiter. The group's user
 * takes the whole stack in one exchange and reverses it onto its own FIFO,
 * so members come out in the order their hooks ran: the order they ended.
 *
 * Lifetimes, by reference counts:
 *   member  refs = the group's (until handed out, or the group is freed)
 *                + the join slot's (until the worker's wake, or the
 *                handle's release, takes it out)
 *   group   refs = its user's (until prokio_group_free) + one per member
 *                still allocated
 * so a member that ends on another worker while the group is being freed
 * still finds the group's memory to report into; the last one frees it.
 *
 * Everything but `finished`, `waiter` and `refs` is the user's alone (one
 * task or thread at a time, as group.h says): no lock. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coop.h"
#include "error_internal.h"
#include "parker.h"
#include "spawn.h"
#include "task.h"
#include "waitq.h"
#include "waker.h"
#include "waker_slot.h"

struct member {
    struct prokio__hook hook;
    struct prokio_group *g;
    struct prokio_task *task;           /* the JoinHandle, the group's until handed out */
    struct member *next;                /* finished stack, then the user's FIFO */
    struct member *all_prev, *all_next; /* the members not handed out (the user's) */
    atomic_bool reported;               /* pushed once, whoever saw the end first */
};

struct prokio_group {
    _Atomic(struct member *) finished; /* pushed by hooks, on any worker */
    struct prokio__waker_slot waiter;  /* the task or thread in join_next */
    _Atomic uint32_t refs;
    prokio_runtime_t *rt; /* a clone */
    struct member *all;
    struct member *head, *tail; /* ended, in order, not handed out */
    size_t len;
};

static void group_unref(struct prokio_group *g)
{
    if (atomic_fetch_sub_explicit(&g->refs, 1, memory_order_acq_rel) == 1)
        free(g);
}

static void member_free(struct prokio__hook *h)
{
    struct member *m = PROKIO_CONTAINER_OF(h, struct member, hook);
    struct prokio_group *g = m->g;
    free(m);
    group_unref(g);
}

static void member_unref(struct member *m)
{
    prokio__waker_release(prokio__hook_waker(&m->hook));
}

/* The hook's wake: the member's task has ended (its worker's finish). */
static void member_ended(struct prokio__hook *h)
{
    struct member *m = PROKIO_CONTAINER_OF(h, struct member, hook);
    if (atomic_exchange_explicit(&m->reported, true, memory_order_relaxed))
        return; /* a second wake of the same hook: the member is in already */
    struct prokio_group *g = m->g;
    struct member *head = atomic_load_explicit(&g->finished, memory_order_relaxed);
    do
        m->next = head;
    while (!atomic_compare_exchange_weak_explicit(&g->finished, &head, m, memory_order_seq_cst,
                                                  memory_order_relaxed));
    /* After the push (seq_cst): the completer's half of the slot handshake. */
    prokio__waker_slot_wake(&g->waiter);
}

static const struct prokio__hook_ops member_ops = {member_ended, member_free};

static void fifo_append(struct prokio_group *g, struct member *m)
{
    m->next = NULL;
    if (g->tail)
        g->tail->next = m;
    else
        g->head = m;
    g->tail = m;
}

/* Moves what the hooks pushed to the user's FIFO, oldest first. */
static void refill(struct prokio_group *g)
{
    struct member *s = atomic_exchange_explicit(&g->finished, NULL, memory_order_acquire);
    struct member *rev = NULL;
    while (s) {
        struct member *next = s->next;
        s->next = rev;
        rev = s;
        s = next;
    }
    while (rev) {
        struct member *next = rev->next;
        fifo_append(g, rev);
        rev = next;
    }
}

static void all_unlink(struct prokio_group *g, struct member *m)
{
    if (m->all_prev)
        m->all_prev->all_next = m->all_next;
    else
        g->all = m->all_next;
    if (m->all_next)
        m->all_next->all_prev = m->all_prev;
}

/* The next member that ended, out of the group; NULL when none has. */
static struct prokio_task *take(struct prokio_group *g)
{
    if (g->head == NULL)
        refill(g);
    struct member *m = g->head;
    if (m == NULL)
        return NULL;
    g->head = m->next;
    if (g->head == NULL)
        g->tail = NULL;
    all_unlink(g, m);
    g->len--;
    struct prokio_task *t = m->task;
    member_unref(m); /* the group's reference */
    return t;
}

static bool anything_finished(struct prokio_group *g)
{
    /* seq_cst: the waiter's half of the slot handshake, after registering. */
    return g->head != NULL || atomic_load_explicit(&g->finished, memory_order_seq_cst) != NULL;
}

int prokio_group_new(prokio_group_t **out, prokio_runtime_t *rt)
{
    if (out == NULL)
        return prokio__error(PROKIO_EINVAL, "prokio_group_new: out is NULL");
    *out = NULL;
    if (rt == NULL) {
        rt = prokio_runtime_current();
        if (rt == NULL)
            return prokio__error(PROKIO_EINVAL,
                                 "prokio_group_new: rt is NULL and the calling thread is not a "
                                 "worker, so there is no current runtime; pass the runtime");
    }
    struct prokio_group *g = calloc(1, sizeof *g);
    if (g == NULL)
        return prokio__error(PROKIO_ENOMEM, "prokio_group_new: no memory for %zu bytes", sizeof *g);
    atomic_init(&g->finished, NULL);
    atomic_init(&g->waiter.waker, 0);
    atomic_init(&g->refs, 1);
    g->rt = prokio_runtime_clone(rt);
    *out = g;
    return 0;
}

static const char *const spawn_name[] = {
    [PROKIO__SPAWN_ANY] = "prokio_group_spawn",
    [PROKIO__SPAWN_LOCAL] = "prokio_group_spawn_local",
    [PROKIO__SPAWN_ON] = "prokio_group_spawn_on",
};

/* Spawns a member. Its hook is in the task's join slot before the task can
 * run (prokio__spawn_with_join_waker), so the hook reports the end however
 * soon it comes, even on another worker before the spawn returns: members
 * come out in the exact order they ended. Everything the hook touches (the
 * member's group, its links on the finished stack) is set before. */
static int group_spawn(struct prokio_group *g, enum prokio__spawn_where where, unsigned worker,
                       prokio_poll_fn poll, const void *frame, size_t frame_size,
                       prokio_drop_fn drop, prokio_cx_t *cx)
{
    const char *who = spawn_name[where];
    if (g == NULL)
        return prokio__error(PROKIO_EINVAL, "%s: g is NULL", who);
    if (poll == NULL)
        return prokio__error(PROKIO_EINVAL, "%s: poll is NULL", who);
    if (where == PROKIO__SPAWN_LOCAL && cx == NULL)
        return prokio__error(PROKIO_EINVAL, "%s: cx is NULL", who);
    /* Allocated first: once the task is spawned, nothing may fail. */
    struct member *m = malloc(sizeof *m);
    if (m == NULL)
        return prokio__error(PROKIO_ENOMEM, "%s: no memory for the member (%zu bytes)", who,
                             sizeof *m);
    m->hook.ops = &member_ops;
    atomic_init(&m->hook.refs, 1); /* the group's; the join slot takes its own */
    atomic_init(&m->reported, false);
    m->g = g;
    m->task = NULL;
    m->next = NULL;
    atomic_fetch_add_explicit(&g->refs, 1, memory_order_relaxed); /* the member's */
    prokio_task_t *h = NULL;
    int rc = prokio__spawn_with_join_waker(&h, where, g->rt, worker, poll, frame, frame_size, drop,
                                           cx, prokio__hook_waker(&m->hook), who);
    if (rc < 0) {
        member_unref(m); /* frees it (the slot took nothing), and its group reference */
        char why[512];
        snprintf(why, sizeof why, "%s", prokio_last_error());
        return prokio__error(rc, "%s; the group is unchanged", why);
    }
    m->task = h;
    m->all_prev = NULL;
    m->all_next = g->all;
    if (g->all)
        g->all->all_prev = m;
    g->all = m;
    g->len++;
    return 0;
}

int prokio_group_spawn(prokio_group_t *g, prokio_poll_fn poll, const void *frame, size_t frame_size,
                       prokio_drop_fn drop)
{
    return group_spawn(g, PROKIO__SPAWN_ANY, 0, poll, frame, frame_size, drop, NULL);
}

int prokio_group_spawn_local(prokio_group_t *g, prokio_poll_fn poll, const void *frame,
                             size_t frame_size, prokio_drop_fn drop, prokio_cx_t *cx)
{
    return group_spawn(g, PROKIO__SPAWN_LOCAL, 0, poll, frame, frame_size, drop, cx);
}

int prokio_group_spawn_on(prokio_group_t *g, unsigned worker, prokio_poll_fn poll,
                          const void *frame, size_t frame_size, prokio_drop_fn drop)
{
    return group_spawn(g, PROKIO__SPAWN_ON, worker, poll, frame, frame_size, drop, NULL);
}

static int group_empty(const char *who)
{
    return prokio__error(PROKIO_ENOENT, "%s: the group has no member left to wait for", who);
}

int prokio_group_join_next_poll(prokio_task_t **task_out, prokio_group_t *g, prokio_cx_t *cx)
{
    if (PROKIO_UNLIKELY(task_out == NULL || g == NULL || cx == NULL)) {
        if (task_out)
            *task_out = NULL;
        return prokio__error(PROKIO_EINVAL, "prokio_group_join_next_poll: %s is NULL",
                             task_out == NULL ? "task_out"
                             : g == NULL      ? "g"
                                              : "cx");
    }
    *task_out = NULL;
    if (!prokio__coop_proceed(cx))
        return PROKIO_PENDING;
    if (g->len == 0)
        return group_empty("prokio_group_join_next_poll");
    struct prokio_task *t = take(g);
    if (t == NULL) {
        uintptr_t me = prokio__cx_waker(cx);
        if (prokio__waker_slot_register(&g->waiter, me) < 0) {
            prokio__coop_restore(cx);
            return prokio__error(PROKIO_EBUSY,
                                 "prokio_group_join_next_poll: a thread is blocked in "
                                 "prokio_group_blocking_join_next on this group (one waiter at "
                                 "a time)");
        }
        if (!anything_finished(g)) {
            prokio__coop_restore(cx);
            return PROKIO_PENDING;
        }
        prokio__waker_slot_unregister(&g->waiter, me);
        t = take(g);
    }
    *task_out = t;
    return 0;
}

int prokio_group_try_join_next(prokio_task_t **task_out, prokio_group_t *g)
{
    if (task_out == NULL || g == NULL) {
        if (task_out)
            *task_out = NULL;
        return prokio__error(PROKIO_EINVAL, "prokio_group_try_join_next: %s is NULL",
                             task_out ? "g" : "task_out");
    }
    *task_out = NULL;
    if (g->len == 0)
        return group_empty("prokio_group_try_join_next");
    *task_out = take(g);
    if (*task_out == NULL)
        return prokio__error(PROKIO_EAGAIN,
                             "prokio_group_try_join_next: %zu member%s still running; none has "
                             "ended yet",
                             g->len, g->len == 1 ? " is" : "s are");
    return 0;
}

int prokio_group_blocking_join_next(prokio_task_t **task_out, prokio_group_t *g)
{
    if (task_out == NULL || g == NULL) {
        if (task_out)
            *task_out = NULL;
        return prokio__error(PROKIO_EINVAL, "prokio_group_blocking_join_next: %s is NULL",
                             task_out ? "g" : "task_out");
    }
    *task_out = NULL;
    int rc = 0;
    struct prokio__parker *p = prokio__blocking_parker("prokio_group_blocking_join_next",
                                                       "prokio_group_join_next_poll", &rc);
    if (p == NULL)
        return rc;
    if (g->len == 0)
        return group_empty("prokio_group_blocking_join_next");
    struct prokio_task *t = take(g);
    if (t) {
        *task_out = t;
        return 0;
    }
    uintptr_t me = (uintptr_t)p | PROKIO__WAKER_PARKER;
    if (prokio__waker_slot_register(&g->waiter, me) < 0)
        return prokio__error(PROKIO_EBUSY, "prokio_group_blocking_join_next: another thread is "
                                           "blocked on this group (one waiter at a time)");
    while (!anything_finished(g))
        prokio__parker_park(p);
    prokio__waker_slot_unregister(&g->waiter, me);
    *task_out = take(g);
    return 0;
}

void prokio_group_abort_all(prokio_group_t *g)
{
    if (g == NULL)
        return;
    for (struct member *m = g->all; m; m = m->all_next)
        prokio_task_abort(m->task);
}

size_t prokio_group_len(const prokio_group_t *g)
{
    return g ? g->len : 0;
}

void prokio_group_free(prokio_group_t *g)
{
    if (g == NULL)
        return;
    struct member *m = g->all;
    g->all = NULL;
    while (m) {
        struct member *next = m->all_next;
        prokio_task_abort(m->task);
        /* Clears the slot: a hook still there is released unwoken; one a
         * worker already took reports into the group, still allocated. */
        prokio_task_release(m->task);
        member_unref(m);
        m = next;
    }
    g->head = g->tail = NULL;
    g->len = 0;
    prokio__waker_slot_clear(&g->waiter);
    prokio_runtime_release(g->rt);
    group_unref(g);
}
