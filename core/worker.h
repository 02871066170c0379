/* core/worker.h: a worker: one thread, one backend loop, one ready queue,
 * one timer heap, one task pool. Tasks never leave their worker. */
#ifndef PROKIO_CORE_WORKER_H
#define PROKIO_CORE_WORKER_H

#include <pthread.h>

#include <prokio/backend.h>

#include "clock.h"
#include "cx.h"
#include "internal.h"
#include "pool.h"
#include "queue.h"
#include "timer.h"

struct prokio__worker {
    /* Owner-only, hot. */
    struct prokio_cx cx;
    struct prokio__ready_queue ready;
    struct prokio__timer_heap timers;
    int64_t live_local; /* tasks spawned here minus tasks ended here (see load) */
    struct prokio_runtime *rt;
    struct prokio__clock *clock; /* the runtime's (clock_pause.c) */
    uint64_t clock_floor;        /* the last virtual time read here: never go back */
    unsigned index;
    bool edge;               /* the loop's reports are edge-triggered */
    bool short_read_empties; /* a short TCP read may wait for the next report (op.c) */
    bool nonblocking;        /* the host drives this worker (CAP_NONBLOCKING_HOST) */
    bool driving;            /* inside host->drive */
    bool dispatching;        /* inside host->watch_ready: call nothing of the backend */
    bool shutting_down;      /* shutdown.c: scheduling onto this worker is off */
    uint32_t fd_count;       /* live registrations; when 0, busy loops skip I/O polls */
    uint32_t ending;         /* ENDING tasks (task.h): pinned by native operations */
    uint32_t native_ops;     /* native operations submitted, not completed (op_native.c) */
    uint32_t ops_waiting;    /* emulated operations waiting for readiness (op.c) */
    struct prokio_fd *fds;
    struct prokio_fd *fds_to_narrow; /* level-triggered: interest to update after the wait */
    const prokio_backend_vtable_t *vt;
    prokio_backend_loop_t *loop;
    uint64_t caps;
    pthread_t thread;
    struct prokio__pool pool;    /* tasks (header + frame) */
    struct prokio__pool objects; /* small channel objects made here (oneshots): no malloc */
    /* op_native.c's records kept for reuse (a free list): no malloc per op. */
    struct prokio__nrec *nrec_free;
    uint32_t nrec_free_count;

    /* Written by other threads: kept off the owner's cache lines. */
    _Alignas(PROKIO_CACHELINE) _Atomic(struct prokio_task *) remote;
    _Atomic int parked;             /* 1 while the owner waits in the backend */
    _Atomic int stop;               /* shutdown.c: stop requested */
    _Atomic int failed;             /* shutdown.c: 0, or the backend's code: stopped for good */
    _Atomic int waking;             /* threads inside vt->wake (see worker.c) */
    _Atomic int64_t spawned_remote; /* spawns pushed from other threads */
    _Atomic int idle;               /* clock_pause.c: parked while paused */
    _Atomic uint64_t idle_deadline; /* clock_pause.c: its next timer then */
};

/* Changes a counter that only the worker's thread writes and any thread
 * may read (prokio_runtime_stats_read, stats.c): a relaxed store of the
 * new value, no read-modify-write (the owner is the only writer). */
#define PROKIO__OWNER_ADD(field, n) __atomic_store_n(&(field), (field) + (n), __ATOMIC_RELAXED)

/* The worker that owns a task (found from the task's address). */
static inline struct prokio__worker *prokio__task_worker(const struct prokio_task *t)
{
    return prokio__pool_of(t)->worker;
}

/* The worker's clock: the backend's, unless the runtime's clock was ever
 * paused (clock_pause.c). Thread: the worker's. */
static inline uint64_t prokio__worker_now_ns(struct prokio__worker *w)
{
    uint64_t now = w->vt->now_ns(w->loop);
    if (PROKIO_UNLIKELY(atomic_load_explicit(&w->clock->shifted, memory_order_relaxed)))
        return prokio__clock_now_slow(w, now);
    return now;
}

/* Creates the loop and starts the thread; returns when the loop exists (0)
 * or failed to start (negative, with prokio_last_error() set). */
int prokio__worker_start(struct prokio__worker *w, struct prokio_runtime *rt, unsigned index);

/* Frees the worker's memory (pool included). Thread: one, at the end. */
void prokio__worker_fini(struct prokio__worker *w);

/* A task became ready on its own worker's thread. A host that cannot block
 * is told to drive soon, unless it is driving already, or is inside
 * host->watch_ready, which the core never answers with a call back into
 * the backend (the backend drives after it). */
static inline void prokio__worker_ready_local(struct prokio__worker *w, struct prokio_task *t)
{
    prokio__ready_push(&w->ready, t);
    if (PROKIO_UNLIKELY(w->nonblocking && !w->driving && !w->dispatching))
        w->vt->wake(w->loop);
}

/* Queues a task whose NOTIFIED bit the caller just set. Thread: any. */
void prokio__worker_schedule(struct prokio__worker *w, struct prokio_task *t);

/* Makes w look at its remote queue (or stop flag) soon. Thread: any. */
void prokio__worker_notify(struct prokio__worker *w);

/* The load estimate used to pick a worker: tasks alive on it. Thread: any. */
static inline int64_t prokio__worker_load(struct prokio__worker *w)
{
    return __atomic_load_n(&w->live_local, __ATOMIC_RELAXED) +
           atomic_load_explicit(&w->spawned_remote, memory_order_relaxed);
}

/* False once the worker stopped for good after its backend failed. */
static inline bool prokio__worker_usable(struct prokio__worker *w)
{
    return atomic_load_explicit(&w->failed, memory_order_relaxed) == 0;
}

/* Runs the worker once for a host that cannot block (host->drive). */
int prokio__worker_drive(struct prokio__worker *w);

/* Shutdown (shutdown.c). request_stop and join: Thread: not the worker.
 * shut_down: the worker's own thread; ends every task with `result`. */
void prokio__worker_request_stop(struct prokio__worker *w);
void prokio__worker_join(struct prokio__worker *w);
void prokio__worker_shut_down(struct prokio__worker *w, int result);

#endif
