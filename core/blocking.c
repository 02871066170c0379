/* core/blocking.c: the blocking pool (prokio/blocking.h).
 *
 * A blocking call is a job (the function, a copy of the frame, the result)
 * and a small task, the "waiter", whose JoinHandle is what the caller
 * gets. The waiter's frame has the caller's frame size: when the job ends,
 * the waiter copies the job's frame into its own, so that
 * prokio_task_frame gives the frame as fn left it, exactly as for a task.
 * Until then the frame lives in the job, never in the task: a task can be
 * aborted (and its memory reused) while fn still writes the frame on a
 * pool thread, and that must not matter.
 *
 * Who owns what. The job has two references, the waiter's and the pool's
 * (the pool's is given up by the thread that ran it, or by whoever takes it
 * off the queue unrun). The frame in the job is "live" until the waiter
 * copied it out; whoever drops the last reference of a job whose frame is
 * still live runs the caller's drop on it. So drop runs once: on the
 * waiter's copy (as the waiter task's drop) after a completed run, or on
 * the job's frame after an abort, when fn has returned or never started.
 *
 * States, under the pool's lock except DONE, which the running thread
 * publishes (release) before waking the waiter:
 *   QUEUED -> RUNNING -> DONE
 *   QUEUED -> CANCELLED (aborted before a thread took it; fn never runs)
 *   QUEUED -> FAILED    (no thread could be started for it)
 *
 * Threads are detached; the pool counts them and shutdown waits on a
 * condition until the count is zero, so nothing of the pool is touched
 * after it is freed. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <prokio/blocking.h>

#include "blocking.h"
#include "cx.h"
#include "error_internal.h"
#include "runtime.h"
#include "task.h"
#include "waker.h"
#include "waker_slot.h"
#include "worker.h"

#ifndef __EMSCRIPTEN__
enum { QUEUED, RUNNING, DONE, CANCELLED, FAILED };

struct job {
    struct job *prev, *next; /* the pool's queue, under its lock */
    _Atomic int state;
    _Atomic int refs;
    bool frame_live; /* the frame below is still the caller's to drop */
    int result;
    prokio_blocking_fn fn;
    prokio_drop_fn drop;
    prokio__blocking_done_fn done; /* a core call (prokio__blocking_call): no waiter */
    void *arg;
    size_t size;
    struct prokio__blocking *pool;
    struct prokio__waker_slot waiter; /* the waiter task's waker */
    _Alignas(16) unsigned char frame[];
};

struct prokio__blocking {
    pthread_mutex_t lock;
    pthread_cond_t work; /* a job was queued, or shutdown */
    pthread_cond_t gone; /* a thread ended */
    struct job *head, *tail;
    unsigned threads, idle, max;
    unsigned queued, running; /* jobs in the queue, jobs being run (stats) */
    uint64_t keep_alive_ns;
    bool shutdown;
};

/* The waiter task's frame has room for the caller's frame, and for this
 * at its start until the job ends; then the caller's frame is copied over
 * it (the waiter is never polled again after that). */
struct waiter {
    struct job *job;
};

static void job_unref(struct job *j)
{
    if (atomic_fetch_sub_explicit(&j->refs, 1, memory_order_acq_rel) != 1)
        return;
    if (j->frame_live && j->drop)
        j->drop(j->frame);
    prokio__waker_slot_clear(&j->waiter);
    free(j);
}

/* Unlinks j from the queue. Thread: any, lock held. */
static void unqueue(struct prokio__blocking *p, struct job *j)
{
    if (j->prev)
        j->prev->next = j->next;
    else
        p->head = j->next;
    if (j->next)
        j->next->prev = j->prev;
    else
        p->tail = j->prev;
    j->prev = j->next = NULL;
    p->queued--;
}

static void deadline_in(struct timespec *ts, uint64_t ns)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    uint64_t t = (uint64_t)ts->tv_nsec + ns % 1000000000u;
    ts->tv_sec += (time_t)(ns / 1000000000u + t / 1000000000u);
    ts->tv_nsec = (long)(t % 1000000000u);
}

static void *pool_thread(void *arg)
{
    struct prokio__blocking *p = arg;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        struct job *j = p->head;
        if (j == NULL) {
            if (p->shutdown)
                break;
            struct timespec until;
            deadline_in(&until, p->keep_alive_ns);
            p->idle++;
            int rc = pthread_cond_timedwait(&p->work, &p->lock, &until);
            p->idle--;
            if (rc == ETIMEDOUT && p->head == NULL)
                break; /* idle for keep_alive: one thread fewer */
            continue;
        }
        unqueue(p, j);
        p->running++;
        atomic_store_explicit(&j->state, RUNNING, memory_order_relaxed);
        pthread_mutex_unlock(&p->lock);

        if (j->done) {
            j->done(j->arg, j->fn(j->arg));
            job_unref(j);
            pthread_mutex_lock(&p->lock);
            p->running--;
            continue;
        }
        j->result = j->fn(j->frame);
        /* Published before the wake: the waiter reads the result and the
         * frame after it sees DONE (waker_slot.h's handshake). */
        atomic_store_explicit(&j->state, DONE, memory_order_seq_cst);
        prokio__waker_slot_wake(&j->waiter);
        job_unref(j);

        pthread_mutex_lock(&p->lock);
        p->running--;
    }
    p->threads--;
    pthread_cond_broadcast(&p->gone);
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

/* Starts a thread if work waits and none is idle. Thread: any, lock held.
 * The error only matters when there is no thread at all. */
static int grow(struct prokio__blocking *p)
{
    if (p->idle > 0 || p->threads >= p->max)
        return 0;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    /* The pool's threads take no signals: prokio_signal_* and the
     * program's own handlers run on the program's threads. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_t th;
    int rc = pthread_create(&th, &attr, pool_thread, p);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    if (rc != 0)
        return -rc;
    p->threads++;
    return 0;
}

/* The pool of rt, made at the first use. Thread: any. */
static struct prokio__blocking *pool_get(prokio_runtime_t *rt)
{
    struct prokio__blocking *p = atomic_load_explicit(&rt->blocking, memory_order_acquire);
    if (p != NULL)
        return p;
    pthread_mutex_lock(&rt->lock);
    p = atomic_load_explicit(&rt->blocking, memory_order_relaxed);
    if (p == NULL && (p = calloc(1, sizeof *p)) != NULL) {
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_mutex_init(&p->lock, NULL);
        pthread_cond_init(&p->work, &ca);
        pthread_cond_init(&p->gone, NULL);
        pthread_condattr_destroy(&ca);
        p->max = rt->blocking_max;
        p->keep_alive_ns = rt->blocking_keep_alive_ns;
        atomic_store_explicit(&rt->blocking, p, memory_order_release);
    }
    pthread_mutex_unlock(&rt->lock);
    return p;
}

/* Queues j, or fails it when no thread can run it. Thread: any. */
static void submit(struct prokio__blocking *p, struct job *j)
{
    pthread_mutex_lock(&p->lock);
    if (atomic_load_explicit(&j->state, memory_order_relaxed) == CANCELLED) {
        /* The waiter ended (aborted, or the runtime shut down) before the
         * job was queued. */
        pthread_mutex_unlock(&p->lock);
        job_unref(j);
        return;
    }
    int rc = p->shutdown ? PROKIO_ESHUTDOWN : grow(p);
    if (rc < 0 && (p->threads == 0 || p->shutdown) && j->done) {
        pthread_mutex_unlock(&p->lock);
        j->done(j->arg, rc);
        job_unref(j);
        return;
    }
    if (rc < 0 && (p->threads == 0 || p->shutdown)) {
        j->result = prokio__error(rc, "prokio_spawn_blocking: %s",
                                  rc == PROKIO_ESHUTDOWN
                                      ? "the runtime is shutting down"
                                      : "no thread of the blocking pool could be started");
        atomic_store_explicit(&j->state, FAILED, memory_order_seq_cst);
        pthread_mutex_unlock(&p->lock);
        prokio__waker_slot_wake(&j->waiter);
        job_unref(j);
        return;
    }
    j->prev = p->tail;
    j->next = NULL;
    if (p->tail)
        p->tail->next = j;
    else
        p->head = j;
    p->tail = j;
    p->queued++;
    pthread_cond_signal(&p->work);
    pthread_mutex_unlock(&p->lock);
}

/* The waiter: waits for the job, then takes its frame and result. */
static int waiter_poll(void *frame, prokio_cx_t *cx)
{
    struct job *j = ((struct waiter *)frame)->job;
    int state = atomic_load_explicit(&j->state, memory_order_seq_cst);
    if (state != DONE && state != FAILED) {
        if (prokio__waker_slot_register(&j->waiter, prokio__cx_waker(cx)) < 0)
            return PROKIO_PENDING; /* a parker never waits on a job's slot */
        state = atomic_load_explicit(&j->state, memory_order_seq_cst);
        if (state != DONE && state != FAILED)
            return PROKIO_PENDING;
        prokio__waker_slot_unregister(&j->waiter, prokio__cx_waker(cx));
    }
    /* The job is over: its frame becomes the task's, with the caller's
     * drop, so the JoinHandle reads it as it reads any task's. */
    int result = j->result;
    memcpy(frame, j->frame, j->size);
    cx->task->drop = j->drop;
    j->frame_live = false;
    job_unref(j);
    return result;
}

/* The waiter ended before the job did: aborted, or the runtime shut down.
 * A queued job is taken off the queue unrun; a running one finishes on its
 * thread, which drops the frame then. */
static void waiter_drop(void *frame)
{
    struct job *j = ((struct waiter *)frame)->job;
    struct prokio__blocking *p = j->pool;
    pthread_mutex_lock(&p->lock);
    int state = atomic_load_explicit(&j->state, memory_order_relaxed);
    bool unrun = state == QUEUED;
    if (unrun) {
        if (j->prev || p->head == j)
            unqueue(p, j);
        else
            unrun = false; /* not queued yet: submit sees CANCELLED and lets go */
        atomic_store_explicit(&j->state, CANCELLED, memory_order_relaxed);
    }
    pthread_mutex_unlock(&p->lock);
    prokio__waker_slot_clear(&j->waiter);
    if (unrun)
        job_unref(j); /* the pool's reference: no thread will run it */
    job_unref(j);
}

int prokio_spawn_blocking(prokio_task_t **join_out, prokio_runtime_t *rt, prokio_blocking_fn fn,
                          const void *frame, size_t frame_size, prokio_drop_fn drop)
{
    if (join_out)
        *join_out = NULL;
    if (rt == NULL) {
        rt = prokio_runtime_current();
        if (rt == NULL)
            return prokio__error(PROKIO_EINVAL, "prokio_spawn_blocking: rt is NULL and the "
                                                "calling thread is not a worker of a runtime");
    }
    if (fn == NULL)
        return prokio__error(PROKIO_EINVAL, "prokio_spawn_blocking: fn is NULL");
    if (frame_size > SIZE_MAX / 4)
        return prokio__error(PROKIO_EINVAL, "prokio_spawn_blocking: frame_size %zu is too large",
                             frame_size);
    if (atomic_load_explicit(&rt->closing, memory_order_acquire))
        return prokio__error(PROKIO_ESHUTDOWN, "prokio_spawn_blocking: the runtime is shutting "
                                               "down");
    struct prokio__blocking *p = pool_get(rt);
    struct job *j = p ? malloc(sizeof *j + frame_size) : NULL;
    if (j == NULL)
        return prokio__error(PROKIO_ENOMEM, "prokio_spawn_blocking: out of memory");
    memset(j, 0, sizeof *j);
    atomic_init(&j->state, QUEUED);
    atomic_init(&j->refs, 2);
    j->frame_live = true;
    j->fn = fn;
    j->drop = drop;
    j->size = frame_size;
    j->pool = p;
    if (frame)
        memcpy(j->frame, frame, frame_size);
    else
        memset(j->frame, 0, frame_size);

    /* The waiter goes on the calling worker when it is one of rt's: the
     * task that awaits the handle is most likely there. */
    struct waiter w = {j};
    size_t wsize = frame_size > sizeof w ? frame_size : sizeof w;
    unsigned char small[256];
    unsigned char *buf = wsize <= sizeof small ? small : calloc(1, wsize);
    if (buf == NULL) {
        free(j);
        return prokio__error(PROKIO_ENOMEM, "prokio_spawn_blocking: out of memory");
    }
    memcpy(buf, &w, sizeof w);
    struct prokio__worker *self = prokio__tls_worker;
    int rc = self && self->rt == rt
                 ? prokio_spawn_on(join_out, rt, self->index, waiter_poll, buf, wsize, waiter_drop)
                 : prokio_spawn(join_out, rt, waiter_poll, buf, wsize, waiter_drop);
    if (buf != small)
        free(buf);
    if (rc < 0) {
        free(j); /* as a failed spawn: the frame is still the caller's, no drop */
        return prokio__error(rc, "prokio_spawn_blocking: %s", prokio_last_error());
    }
    submit(p, j);
    return 0;
}

int prokio__blocking_call(prokio_runtime_t *rt, prokio_blocking_fn fn,
                          prokio__blocking_done_fn done, void *arg)
{
    if (atomic_load_explicit(&rt->closing, memory_order_acquire))
        return PROKIO_ESHUTDOWN;
    struct prokio__blocking *p = pool_get(rt);
    struct job *j = p ? calloc(1, sizeof *j) : NULL;
    if (j == NULL)
        return PROKIO_ENOMEM;
    atomic_init(&j->state, QUEUED);
    atomic_init(&j->refs, 1); /* the pool's only: nobody waits on the job itself */
    j->fn = fn;
    j->done = done;
    j->arg = arg;
    j->pool = p;
    submit(p, j);
    return 0;
}

void prokio__blocking_shutdown(prokio_runtime_t *rt)
{
    struct prokio__blocking *p = atomic_load_explicit(&rt->blocking, memory_order_acquire);
    if (p == NULL)
        return;
    pthread_mutex_lock(&p->lock);
    p->shutdown = true;
    pthread_cond_broadcast(&p->work);
    while (p->threads > 0)
        pthread_cond_wait(&p->gone, &p->lock);
    pthread_mutex_unlock(&p->lock);
}

void prokio__blocking_stats(prokio_runtime_t *rt, uint64_t counts[4])
{
    struct prokio__blocking *p = atomic_load_explicit(&rt->blocking, memory_order_acquire);
    counts[0] = counts[1] = counts[2] = counts[3] = 0;
    if (p == NULL)
        return;
    pthread_mutex_lock(&p->lock);
    counts[0] = p->threads;
    counts[1] = p->idle;
    counts[2] = p->queued;
    counts[3] = p->running;
    pthread_mutex_unlock(&p->lock);
}

void prokio__blocking_free(prokio_runtime_t *rt)
{
    struct prokio__blocking *p = atomic_load_explicit(&rt->blocking, memory_order_acquire);
    if (p == NULL)
        return;
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->work);
    pthread_cond_destroy(&p->gone);
    free(p);
}

#else /* __EMSCRIPTEN__: no threads */

int prokio_spawn_blocking(prokio_task_t **join_out, prokio_runtime_t *rt, prokio_blocking_fn fn,
                          const void *frame, size_t frame_size, prokio_drop_fn drop)
{
    (void)rt, (void)frame, (void)frame_size, (void)drop;
    if (join_out)
        *join_out = NULL;
    if (fn == NULL)
        return prokio__error(PROKIO_EINVAL, "prokio_spawn_blocking: fn is NULL");
    return prokio__error(PROKIO_ENOTSUP,
                         "prokio_spawn_blocking: WebAssembly has no threads to block on; run "
                         "the work in a task (yielding now and then) or in JS (a Web Worker)");
}

int prokio__blocking_call(prokio_runtime_t *rt, prokio_blocking_fn fn,
                          prokio__blocking_done_fn done, void *arg)
{
    (void)rt, (void)fn, (void)done, (void)arg;
    return PROKIO_ENOTSUP;
}

void prokio__blocking_shutdown(prokio_runtime_t *rt)
{
    (void)rt;
}

void prokio__blocking_stats(prokio_runtime_t *rt, uint64_t counts[4])
{
    (void)rt;
    counts[0] = counts[1] = counts[2] = counts[3] = 0;
}

void prokio__blocking_free(prokio_runtime_t *rt)
{
    (void)rt;
}
#endif
