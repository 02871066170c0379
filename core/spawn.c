/* core/spawn.c: spawning: choosing a worker, creating the task on it, and
 * prokio_runtime_block_on. The spawn path is one function per public entry,
 * with every failure's message written off it. */
#include <string.h>

#include "debug.h"
#include "error_internal.h"
#include "parker.h"
#include "runtime.h"
#include "spawn.h"
#include "task.h"
#include "waker.h"
#include "worker.h"

/* Writes the message of a failed spawn for the public function `who`;
 * returns rc. Off the spawn path. */
static __attribute__((noinline, cold)) int spawn_failed(int rc, struct prokio__worker *w,
                                                        size_t frame_size, const char *who)
{
    if (rc == PROKIO_ENOMEM)
        return prokio__error(rc, "%s: no memory for a %zu-byte frame", who, frame_size);
    int failed = atomic_load_explicit(&w->failed, memory_order_acquire);
    if (failed)
        return prokio__error(PROKIO_EIO,
                             "%s: worker %u stopped for good after its backend %s failed (%s)", who,
                             w->index, w->vt->name, prokio_err_name(failed));
    return prokio__error(PROKIO_ESHUTDOWN, "%s: the runtime is shutting down", who);
}

/* The reasons a spawn fails, without their message (prokio__spawn_failed
 * writes it, off this path): out of memory, or a worker that takes no more
 * tasks. */
static inline int refused(struct prokio__worker *w)
{
    return atomic_load_explicit(&w->failed, memory_order_relaxed) ? PROKIO_EIO : PROKIO_ESHUTDOWN;
}

/* Spawns a task on w. Returns 0, or PROKIO_ENOMEM, PROKIO_ESHUTDOWN or
 * PROKIO_EIO (w stopped after its backend failed) without a message:
 * inlined into each public function, which has spawn_failed write it under
 * its own name. join_waker, when not 0, is put in the new JoinHandle's
 * waker slot (a clone) before the task is queued, so that it sees the
 * task's end however soon that comes (a task group's hook). Thread: any
 * (local path when it is w's thread). */
static inline __attribute__((always_inline)) int
worker_spawn(prokio_task_t **join_out, struct prokio__worker *w, prokio_poll_fn poll,
             const void *frame, size_t frame_size, prokio_drop_fn drop, uintptr_t join_waker)
{
    if (PROKIO_UNLIKELY(atomic_load_explicit(&w->rt->closing, memory_order_acquire)))
        return PROKIO_ESHUTDOWN;
    struct prokio_task *t;
    if (prokio__tls_worker == w) {
        if (PROKIO_UNLIKELY(w->shutting_down))
            return refused(w);
        t = prokio__task_new(w, true, poll, frame, frame_size, drop, join_out != NULL);
        if (PROKIO_UNLIKELY(t == NULL))
            return PROKIO_ENOMEM;
        if (join_waker)
            atomic_store_explicit(&t->join.waker, prokio__waker_clone(join_waker),
                                  memory_order_relaxed);
        __atomic_store_n(&w->live_local, w->live_local + 1, __ATOMIC_RELAXED);
        prokio__worker_ready_local(w, t);
    } else {
        /* The pool lock is held from allocation to push, so the shutdown
         * walk (which takes it) sees either a queued task or none. */
        pthread_mutex_lock(&w->pool.lock);
        t = prokio__task_new(w, false, poll, frame, frame_size, drop, join_out != NULL);
        if (t == NULL) {
            pthread_mutex_unlock(&w->pool.lock);
            return PROKIO_ENOMEM;
        }
        if (join_waker) /* published to the worker by the push */
            atomic_store_explicit(&t->join.waker, prokio__waker_clone(join_waker),
                                  memory_order_relaxed);
        if (!prokio__remote_push(&w->remote, t)) {
            atomic_store_explicit(&t->state, 0, memory_order_relaxed); /* not live */
            pthread_mutex_unlock(&w->pool.lock);
            prokio__waker_slot_clear(&t->join); /* the join_waker's clone */
            prokio__task_discard(t);
            return refused(w);
        }
        atomic_fetch_add_explicit(&w->spawned_remote, 1, memory_order_relaxed);
        pthread_mutex_unlock(&w->pool.lock);
        prokio__worker_notify(w);
    }
    if (join_out)
        *join_out = t;
    return 0;
}

static PROKIO_TLS uint64_t rng_state;

static uint32_t next_random(void)
{
    /* xorshift64*, seeded per thread from the address of its state. */
    uint64_t x = rng_state;
    if (x == 0)
        x = (uint64_t)(uintptr_t)&rng_state * UINT64_C(0x9E3779B97F4A7C15) | 1;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng_state = x;
    return (uint32_t)((x * UINT64_C(0x2545F4914F6CDD1D)) >> 32);
}

/* A worker that can still take a task, when one of the two picked stopped
 * after its backend failed. Cold: no working backend fails. */
static __attribute__((noinline, cold)) struct prokio__worker *
pick_usable(prokio_runtime_t *rt, struct prokio__worker *a, struct prokio__worker *b)
{
    if (prokio__worker_usable(a))
        return a;
    if (prokio__worker_usable(b))
        return b;
    for (unsigned i = 0; i < rt->nworkers; i++)
        if (prokio__worker_usable(rt->workers[i]))
            return rt->workers[i];
    return a; /* every worker failed: the spawn says why */
}

/* Power of two choices: two workers at random, the less loaded wins. A
 * worker stopped by its backend's failure is passed over while any other
 * can take the task. */
static inline struct prokio__worker *pick_worker(prokio_runtime_t *rt)
{
    if (rt->nworkers == 1)
        return rt->workers[0];
    uint32_t r = next_random();
    struct prokio__worker *a = rt->workers[r % rt->nworkers];
    struct prokio__worker *b = rt->workers[(r >> 16) % rt->nworkers];
    if (PROKIO_UNLIKELY(!prokio__worker_usable(a) || !prokio__worker_usable(b)))
        return pick_usable(rt, a, b);
    return prokio__worker_load(b) < prokio__worker_load(a) ? b : a;
}

/* Why a spawn's arguments are refused (cold, out of the spawn path). */
static __attribute__((noinline, cold)) int spawn_invalid(const void *rt_or_cx, const char *who)
{
    if (rt_or_cx == NULL)
        return prokio__error(PROKIO_EINVAL, "%s: %s is NULL", who,
                             strcmp(who, "prokio_spawn_local") ? "rt" : "cx");
    return prokio__error(PROKIO_EINVAL, "%s: poll is NULL", who);
}

/* Every spawn path starts here, so that *join_out is NULL after any
 * failure, as the header promises. */
static inline int check_spawn(prokio_task_t **join_out, const void *rt_or_cx, prokio_poll_fn poll,
                              const char *who)
{
    if (join_out)
        *join_out = NULL;
    if (PROKIO_UNLIKELY(rt_or_cx == NULL || poll == NULL))
        return spawn_invalid(rt_or_cx, who);
    return 0;
}

/* prokio_spawn, for the functions that spawn on its behalf (`who`). */
static inline __attribute__((always_inline)) int
spawn_as(prokio_task_t **join_out, prokio_runtime_t *rt, prokio_poll_fn poll, const void *frame,
         size_t frame_size, prokio_drop_fn drop, uintptr_t join_waker, const char *who)
{
    int rc = check_spawn(join_out, rt, poll, who);
    if (rc < 0)
        return rc;
    struct prokio__worker *w = pick_worker(rt);
    rc = worker_spawn(join_out, w, poll, frame, frame_size, drop, join_waker);
    if (PROKIO_UNLIKELY(rc < 0))
        return spawn_failed(rc, w, frame_size, who);
    return 0;
}

int prokio_spawn(prokio_task_t **join_out, prokio_runtime_t *rt, prokio_poll_fn poll,
                 const void *frame, size_t frame_size, prokio_drop_fn drop)
{
    return spawn_as(join_out, rt, poll, frame, frame_size, drop, 0, "prokio_spawn");
}

static inline __attribute__((always_inline)) int
spawn_local_as(prokio_task_t **join_out, prokio_poll_fn poll, const void *frame, size_t frame_size,
               prokio_drop_fn drop, prokio_cx_t *cx, uintptr_t join_waker, const char *who)
{
    int rc = check_spawn(join_out, cx, poll, who);
    if (rc < 0)
        return rc;
    rc = worker_spawn(join_out, cx->worker, poll, frame, frame_size, drop, join_waker);
    if (PROKIO_UNLIKELY(rc < 0))
        return spawn_failed(rc, cx->worker, frame_size, who);
    return 0;
}

int prokio_spawn_local(prokio_task_t **join_out, prokio_poll_fn poll, const void *frame,
                       size_t frame_size, prokio_drop_fn drop, prokio_cx_t *cx)
{
    return spawn_local_as(join_out, poll, frame, frame_size, drop, cx, 0, "prokio_spawn_local");
}

static inline __attribute__((always_inline)) int spawn_on_as(prokio_task_t **join_out,
                                                             prokio_runtime_t *rt, unsigned worker,
                                                             prokio_poll_fn poll, const void *frame,
                                                             size_t frame_size, prokio_drop_fn drop,
                                                             uintptr_t join_waker, const char *who)
{
    int rc = check_spawn(join_out, rt, poll, who);
    if (rc < 0)
        return rc;
    if (worker >= rt->nworkers)
        return prokio__error(PROKIO_EINVAL, "%s: worker %u of %u", who, worker, rt->nworkers);
    rc = worker_spawn(join_out, rt->workers[worker], poll, frame, frame_size, drop, join_waker);
    if (PROKIO_UNLIKELY(rc < 0))
        return spawn_failed(rc, rt->workers[worker], frame_size, who);
    return 0;
}

int prokio_spawn_on(prokio_task_t **join_out, prokio_runtime_t *rt, unsigned worker,
                    prokio_poll_fn poll, const void *frame, size_t frame_size, prokio_drop_fn drop)
{
    return spawn_on_as(join_out, rt, worker, poll, frame, frame_size, drop, 0, "prokio_spawn_on");
}

int prokio__spawn_with_join_waker(prokio_task_t **join_out, enum prokio__spawn_where where,
                                  prokio_runtime_t *rt, unsigned worker, prokio_poll_fn poll,
                                  const void *frame, size_t frame_size, prokio_drop_fn drop,
                                  prokio_cx_t *cx, uintptr_t join_waker, const char *who)
{
    switch (where) {
    case PROKIO__SPAWN_LOCAL:
        return spawn_local_as(join_out, poll, frame, frame_size, drop, cx, join_waker, who);
    case PROKIO__SPAWN_ON:
        return spawn_on_as(join_out, rt, worker, poll, frame, frame_size, drop, join_waker, who);
    default:
        return spawn_as(join_out, rt, poll, frame, frame_size, drop, join_waker, who);
    }
}

int prokio_runtime_block_on(prokio_runtime_t *rt, prokio_poll_fn poll, void *frame,
                            size_t frame_size, prokio_drop_fn drop)
{
    if (rt == NULL || poll == NULL)
        return prokio__error(PROKIO_EINVAL, "prokio_runtime_block_on: %s is NULL",
                             rt ? "poll" : "rt");
    if (prokio__tls_worker != NULL)
        return prokio__error(PROKIO_EDEADLK,
                             "prokio_runtime_block_on: called from a worker thread, which it "
                             "would block; await the task instead");
    /* Everything the wait needs is in hand before the task exists: once it
     * runs, this thread must wait for its end (the frame is copied back). */
    int blockable = prokio__host_can_block("prokio_runtime_block_on");
    if (blockable < 0)
        return blockable;
    if (prokio__parker_current() == NULL)
        return prokio__error(PROKIO_ENOMEM,
                             "prokio_runtime_block_on: no memory for this thread's parker; "
                             "nothing was spawned");
    prokio_task_t *h;
    int rc = spawn_as(&h, rt, poll, frame, frame_size, drop, 0, "prokio_runtime_block_on");
    if (rc < 0)
        return rc;
    rc = prokio_task_blocking_join(h);
    PROKIO__ASSERT(prokio_task_result(h) != PROKIO_PENDING, "block_on returned before its task");
    if (frame != NULL && frame_size != 0)
        memcpy(frame, prokio_task_frame(h), frame_size);
    prokio_task_release(h);
    return rc;
}
