/* core/shutdown.c: how a runtime ends, all of it in one place.
 *
 * The sequence, in order:
 *
 *  1. prokio_runtime_shutdown (any thread but a worker; rt->lock makes it
 *     idempotent and serialises it with prokio_runtime_free) sets
 *     rt->closing. From then on every spawn fails with PROKIO_ESHUTDOWN:
 *     each spawn path checks closing first.
 *  2. It asks every worker to stop (w->stop, and a wake if it is parked),
 *     then joins them one by one.
 *  3. Each worker sees stop at the top of its loop and, on its own thread,
 *     runs prokio__worker_shut_down:
 *       a. w->shutting_down: its own schedules and spawns are refused;
 *       b. it closes its remote queue: pushes from other threads (a spawn
 *          that passed step 1's check just before it, a late wake) fail
 *          from here on, and the spawn reports it;
 *       c. it forgets its ready queue and ends every unfinished task of its
 *          pool (prokio__pool_drain: linear, no allocation): timers
 *          disarmed, drop run, result PROKIO_ECANCELED, joiners woken;
 *          a task pinned by native I/O operations (task.h) becomes ENDING
 *          instead (its operations cancelled), and the worker drives its
 *          backend until their terminal completions have let every such
 *          task end (bounded: a backend whose wait keeps failing is left);
 *       d. it closes the backend watches of its registered descriptors,
 *          which stay allocated as husks until prokio_fd_free;
 *       e. it frees its timer heap;
 *       f. it waits until no other thread is inside vt->wake for it;
 *       g. it finishes the backend loop.
 *  4. The blocking pool (blocking.c) stops: the workers' step c ended the
 *     waiter tasks, which took their jobs off the queue; the functions
 *     already running on pool threads run to their end (a thread cannot be
 *     stopped from outside), and shutdown waits for every pool thread.
 *  5. rt->shut_down is set; later calls return at once.
 *  6. prokio_runtime_free counts what still points into the runtime
 *     (JoinHandles and wakers: live tasks in the pools; registered
 *     descriptors) and refuses with PROKIO_EBUSY while anything does;
 *     otherwise it gives up the creator's reference, and the last
 *     reference (runtime.c) frees the workers, their pools and the
 *     backend.
 *
 * A worker whose backend fails for good (worker.c) runs step 3 early, on
 * its own, with the backend's code as its tasks' result, and records that
 * code in w->failed so that spawns onto it say why they fail; step 2 then
 * finds it already stopped. */
#include <stdio.h>

#include "blocking.h"
#include "error_internal.h"
#include "fd.h"
#include "runtime.h"
#include "task.h"
#include "worker.h"

static bool unfinished(void *obj)
{
    struct prokio_task *t = obj;
    /* ENDING: already ended, waiting for its pins (drive_ending). */
    return !(atomic_load_explicit(&t->state, memory_order_acquire) & (TASK_COMPLETE | TASK_ENDING));
}

/* Runs the backend until the terminal completions of the native
 * operations of ENDING tasks have come and those tasks have ended: a
 * frame is never freed while the kernel may still write into it. */
static void drive_ending(struct prokio__worker *w)
{
    unsigned failures = 0;
    while (w->ending > 0) {
        struct prokio_task *t;
        while ((t = prokio__ready_pop(&w->ready)) != NULL)
            prokio__task_run(w, t); /* only ENDING tasks are queued now */
        if (w->ending == 0 || w->nonblocking)
            break;
        uint64_t deadline = w->vt->now_ns(w->loop) + UINT64_C(100000000);
        if (w->vt->wait(w->loop, deadline) < 0 && ++failures > 8) {
            fprintf(stderr,
                    "prokio: worker %u: the %s backend's wait fails at shutdown; %u tasks "
                    "with I/O operations in flight are left unfreed\n",
                    w->index, w->vt->name, w->ending);
            break;
        }
    }
    w->ready.head = w->ready.tail = NULL;
}

static void end_task(void *obj, void *result)
{
    prokio__task_end(obj, *(int *)result);
}

void prokio__worker_shut_down(struct prokio__worker *w, int result)
{
    w->shutting_down = true;
    /* From here pushes fail, so nothing new is queued; tasks that were
     * queued are simply forgotten: the walk ends them. Their links may
     * still be written by a waker that fails to push, which is why the walk
     * does not use them. */
    atomic_exchange_explicit(&w->remote, PROKIO__REMOTE_CLOSED, memory_order_seq_cst);
    w->ready.head = w->ready.tail = NULL;
    /* A task chosen by the walk holds the worker's reference, which only
     * this thread gives up (when it ends the task), so it stays allocated
     * until it is visited, as prokio__pool_drain requires. */
    prokio__pool_drain(&w->pool, unfinished, end_task, &result);
    drive_ending(w);
    prokio__fd_shutdown_worker(w);
    prokio__timer_heap_fini(&w->timers);
    /* A waker that pushed before the close may still be inside vt->wake. */
    while (atomic_load_explicit(&w->waking, memory_order_seq_cst) != 0)
        prokio__thread_yield();
    w->vt->loop_fini(w->loop);
}

void prokio__worker_request_stop(struct prokio__worker *w)
{
    atomic_store_explicit(&w->stop, 1, memory_order_seq_cst);
    /* A worker stopped by its backend's failure is never parked again, so
     * this wakes nothing there. */
    prokio__worker_notify(w);
}

void prokio__worker_join(struct prokio__worker *w)
{
    if (w->nonblocking) {
        /* No thread: the host's thread is the worker, and it is us. */
        if (!w->shutting_down) {
#ifdef __EMSCRIPTEN__
            /* The worker ends on its own thread, which is this one, but
             * only inside drive is it marked so (prokio__worker_start). */
            struct prokio__worker *outside = prokio__tls_worker;
            prokio__tls_worker = w;
            prokio__worker_shut_down(w, PROKIO_ECANCELED);
            prokio__tls_worker = outside == w ? NULL : outside;
#else
            prokio__worker_shut_down(w, PROKIO_ECANCELED);
            prokio__tls_worker = NULL;
#endif
        }
        return;
    }
    pthread_join(w->thread, NULL);
}

void prokio__runtime_stop_workers(prokio_runtime_t *rt, unsigned started)
{
    for (unsigned i = 0; i < started; i++)
        prokio__worker_request_stop(rt->workers[i]);
    for (unsigned i = 0; i < started; i++)
        prokio__worker_join(rt->workers[i]);
}

int prokio__runtime_shutdown(prokio_runtime_t *rt, const char *who)
{
    if (rt == NULL)
        return prokio__error(PROKIO_EINVAL, "%s: rt is NULL", who);
    struct prokio__worker *self = prokio__tls_worker;
    if (self != NULL && !(rt->nonblocking && self->rt == rt))
        return prokio__error(PROKIO_EDEADLK,
                             "%s: called from a worker thread; shut down from the thread that "
                             "created the runtime",
                             who);
    pthread_mutex_lock(&rt->lock);
    if (!rt->shut_down) {
        atomic_store_explicit(&rt->closing, 1, memory_order_seq_cst);
        prokio__runtime_stop_workers(rt, rt->nworkers);
        prokio__blocking_shutdown(rt);
        rt->shut_down = true;
    }
    pthread_mutex_unlock(&rt->lock);
    return 0;
}

int prokio_runtime_shutdown(prokio_runtime_t *rt)
{
    return prokio__runtime_shutdown(rt, "prokio_runtime_shutdown");
}

bool prokio_runtime_is_shut_down(const prokio_runtime_t *rt)
{
    return rt && atomic_load_explicit(&((prokio_runtime_t *)rt)->closing, memory_order_acquire);
}
