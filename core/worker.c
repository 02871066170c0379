/* core/worker.c: the worker loop.
 *
 * One iteration: poll up to EVENT_INTERVAL ready tasks, take what other
 * threads pushed, fire due timers, and either poll the backend without
 * blocking (tasks still ready) or park in it until the next deadline.
 *
 * Parking and remote wakes meet in a Dekker handshake on `parked` and the
 * remote queue, both sequentially consistent: the owner sets parked and
 * then looks at the queue; a waker pushes and then swaps parked to 0, and
 * calls the backend's wake only if it saw 1. So each park costs at most one
 * wake system call however many threads wake tasks meanwhile, and no push
 * is ever left unnoticed (a lost wakeup is not a data race: TSan would not
 * see it, which is why tests count wakes exactly).
 *
 * How a worker ends is in shutdown.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error_internal.h"
#include "fd.h"
#include "log.h"
#include "op.h"
#include "platform.h"
#include "runtime.h"
#include "task.h"
#include "worker.h"

/* Polls between looks at the remote queue, the timers and I/O: Tokio's
 * event interval, which bounds how long a busy worker ignores the outside. */
#define EVENT_INTERVAL 61

/* Polls per host->drive before handing control back to a host that cannot
 * block (notes/wasm.md: without a budget the JS event loop starves). */
#define DRIVE_BUDGET 4096

/* A backend whose wait fails is retried this many times in a row, after
 * pauses of 1, 2, 4 ... ms (about a quarter of a second in all), before the
 * worker gives up (backend.h, wait). */
#define WAIT_RETRIES 8

PROKIO_TLS struct prokio__worker *prokio__tls_worker;

/* ------------------------------------------------------------- scheduling */

/* Makes w look at its remote queue: wakes its backend if it is parked, or
 * always when a host drives it (it never parks; the backend coalesces).
 * `waking` tells a stopping worker that someone may still be inside
 * vt->wake, so the loop memory must outlive this call. */
void prokio__worker_notify(struct prokio__worker *w)
{
    atomic_fetch_add_explicit(&w->waking, 1, memory_order_seq_cst);
    if (w->nonblocking || (atomic_load_explicit(&w->parked, memory_order_seq_cst) &&
                           atomic_exchange_explicit(&w->parked, 0, memory_order_seq_cst)))
        w->vt->wake(w->loop);
    atomic_fetch_sub_explicit(&w->waking, 1, memory_order_release);
}

void prokio__worker_schedule(struct prokio__worker *w, struct prokio_task *t)
{
    if (prokio__tls_worker == w) {
        if (PROKIO_UNLIKELY(w->shutting_down))
            return; /* the shutdown walk ends every task anyway */
        prokio__worker_ready_local(w, t);
        return;
    }
    if (prokio__remote_push(&w->remote, t))
        prokio__worker_notify(w);
}

/* ------------------------------------------------------------------ loop */

static void drain_remote(struct prokio__worker *w)
{
    if (atomic_load_explicit(&w->remote, memory_order_relaxed) == NULL)
        return;
    struct prokio_task *last, *first = prokio__remote_take_all(&w->remote, &last);
    if (first)
        prokio__ready_append(&w->ready, first, last);
}

static void fire_timers(struct prokio__worker *w)
{
    if (w->timers.len == 0)
        return;
    uint64_t now = prokio__worker_now_ns(w);
    if (prokio__timer_next_deadline(&w->timers) <= now)
        prokio__timer_fire_due(w, now);
}

/* Polls up to `budget` ready tasks; returns how many ran. */
static unsigned run_ready(struct prokio__worker *w, unsigned budget)
{
    unsigned n = 0;
    struct prokio_task *t;
    while (n < budget && (t = prokio__ready_pop(&w->ready)) != NULL) {
        prokio__task_run(w, t);
        n++;
    }
    return n;
}

/* Waits in the backend. Returns false when the backend failed for good: the
 * worker has then stopped (its tasks ended with the backend's code). */
static bool wait_backend(struct prokio__worker *w, uint64_t deadline_ns, unsigned *failures)
{
    /* Level-triggered loops: the interest of the registrations reported
     * since the last wait narrows to what is still awaited now, after the
     * woken tasks ran, not as soon as the wait returned: a task that reads
     * and then waits again (a server's loop) finds its interest still there,
     * where narrowing at once would cost two backend calls per report
     * (epoll_ctl for libuv). Before the wait, so that nothing unawaited can
     * make it return at once for ever. */
    if (w->fds_to_narrow)
        prokio__fd_narrow_interest(w);
    int rc = w->vt->wait(w->loop, deadline_ns);
    if (PROKIO_LIKELY(rc >= 0)) {
        *failures = 0;
        return true;
    }
    /* The backend says its loop is unusable (backend.h). A passing
     * condition is given a few tries; a broken loop would otherwise make
     * this worker spin, or sleep for ever, with its tasks stranded. */
    if (++*failures <= WAIT_RETRIES) {
        prokio__log(PROKIO_LOG_BACKEND, "worker %u: backend %s wait failed: %s; retry %u of %u",
                    w->index, w->vt->name, prokio_err_name(rc), *failures, WAIT_RETRIES);
        prokio__sleep_ns(UINT64_C(1000000) << (*failures - 1));
        return true;
    }
    fprintf(stderr,
            "prokio: worker %u: the %s backend's wait failed %u times in a row (%s: %s); the "
            "worker has stopped, and its tasks end with %s\n",
            w->index, w->vt->name, *failures, prokio_err_name(rc), prokio_strerror(rc),
            prokio_err_name(rc));
    atomic_store_explicit(&w->failed, rc, memory_order_release);
    prokio__worker_shut_down(w, rc);
    return false;
}

static bool park(struct prokio__worker *w, unsigned *failures)
{
    uint64_t deadline = prokio__timer_next_deadline(&w->timers);
    atomic_store_explicit(&w->parked, 1, memory_order_seq_cst);
    if (atomic_load_explicit(&w->remote, memory_order_seq_cst) != NULL ||
        atomic_load_explicit(&w->stop, memory_order_seq_cst)) {
        atomic_store_explicit(&w->parked, 0, memory_order_seq_cst);
        return true;
    }
    /* Read after parked = 1, as pause() writes `shifted` before it looks at
     * parked: either this sees the pause or the pause wakes this wait. */
    bool shifted = atomic_load_explicit(&w->clock->shifted, memory_order_seq_cst);
    if (PROKIO_UNLIKELY(shifted))
        deadline = prokio__clock_park_deadline(w, deadline);
    bool ok = wait_backend(w, deadline, failures);
    /* Sequentially consistent, for the shutdown check of `waking`. */
    atomic_store_explicit(&w->parked, 0, memory_order_seq_cst);
    if (PROKIO_UNLIKELY(shifted))
        prokio__clock_unpark(w);
    return ok;
}

/* Returns false when the worker stopped because its backend failed. */
static bool run_loop(struct prokio__worker *w)
{
    unsigned failures = 0;
    while (!atomic_load_explicit(&w->stop, memory_order_acquire)) {
        run_ready(w, EVENT_INTERVAL);
        drain_remote(w);
        fire_timers(w);
        if (w->ready.head == NULL) {
            if (!park(w, &failures))
                return false;
        } else if (w->fd_count > 0 || w->native_ops > 0) {
            /* Busy: look at I/O without blocking, so that ready tasks cannot
             * starve descriptors (nor native operations, which a batching
             * backend submits only in wait). Skipped when there is none. */
            if (!wait_backend(w, 0, &failures))
                return false;
        }
    }
    return true;
}

int prokio__worker_drive(struct prokio__worker *w)
{
    if (atomic_load_explicit(&w->stop, memory_order_acquire) || w->shutting_down)
        return PROKIO_ESHUTDOWN;
    if (w->driving)
        return PROKIO_EBUSY; /* drive never re-enters itself */
    w->driving = true;
#ifdef __EMSCRIPTEN__
    /* The JS thread is this worker only while it drives it (see
     * prokio__worker_start). */
    struct prokio__worker *outside = prokio__tls_worker;
    prokio__tls_worker = w;
#endif
    if (w->fds_to_narrow)
        prokio__fd_narrow_interest(w);
    unsigned ran = 0;
    do {
        drain_remote(w);
        fire_timers(w);
        unsigned n = run_ready(w, DRIVE_BUDGET - ran);
        ran += n;
        if (n == 0)
            break;
    } while (ran < DRIVE_BUDGET);
    w->driving = false;
#ifdef __EMSCRIPTEN__
    prokio__tls_worker = outside;
#endif
    uint64_t deadline = w->ready.head ? 0 : prokio__timer_next_deadline(&w->timers);
    if (PROKIO_UNLIKELY(atomic_load_explicit(&w->clock->shifted, memory_order_seq_cst)))
        deadline = prokio__clock_drive_deadline(w, deadline);
    return w->vt->arm(w->loop, deadline);
}

/* ------------------------------------------------------------- lifetime */

struct start_handshake {
    struct prokio__worker *w;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int done;
    int rc;
    char error[PROKIO__ERROR_CAP];
};

static int init_loop(struct prokio__worker *w)
{
    struct prokio_runtime *rt = w->rt;
    prokio_backend_loop_config_t config = {
        .size = sizeof config,
        .worker_index = w->index,
        .worker_count = rt->nworkers,
    };
    uint64_t caps = w->vt->caps;
    int rc = w->vt->loop_init(w->loop, (prokio_backend_host_loop_t *)w, &config, &caps);
    if (rc < 0)
        return prokio__error(rc, "backend %s (%s) failed to start on worker %u: %s (%s)",
                             w->vt->name, prokio__backend_path(rt->backend), w->index,
                             prokio_strerror(rc), prokio_err_name(rc));
    w->caps = caps & w->vt->caps;
    w->edge = (w->caps & PROKIO_BACKEND_CAP_EDGE) != 0;
    /* A level-triggered report repeats while bytes (or an end of stream)
     * wait; an edge-triggered one only with RDHUP says that an end of
     * stream came with bytes already read (backend.h, CAP_RDHUP). */
    w->short_read_empties = !w->edge || (w->caps & PROKIO_BACKEND_CAP_RDHUP) != 0;
    return 0;
}

static void *worker_main(void *arg)
{
    struct start_handshake *hs = arg;
    struct prokio__worker *w = hs->w;
    prokio__tls_worker = w;
    int rc = init_loop(w);
    pthread_mutex_lock(&hs->lock);
    hs->rc = rc;
    if (rc < 0)
        snprintf(hs->error, sizeof hs->error, "%s", prokio_last_error());
    hs->done = 1;
    pthread_cond_signal(&hs->cond);
    pthread_mutex_unlock(&hs->lock); /* hs is gone after this */
    if (rc < 0) {
        prokio__tls_worker = NULL;
        return NULL;
    }
    if (run_loop(w))
        prokio__worker_shut_down(w, PROKIO_ECANCELED);
    prokio__tls_worker = NULL;
    return NULL;
}

static int start_thread(struct prokio__worker *w, unsigned index)
{
    struct start_handshake hs = {.w = w};
    int rc = pthread_mutex_init(&hs.lock, NULL);
    if (rc != 0)
        return prokio__error(-rc, "worker %u: pthread_mutex_init: %s", index, prokio_strerror(-rc));
    if ((rc = pthread_cond_init(&hs.cond, NULL)) != 0) {
        pthread_mutex_destroy(&hs.lock);
        return prokio__error(-rc, "worker %u: pthread_cond_init: %s", index, prokio_strerror(-rc));
    }
    rc = prokio__thread_start(&w->thread, worker_main, &hs);
    if (rc < 0) {
        rc = prokio__error(rc, "worker %u: cannot create a thread: %s", index, prokio_strerror(rc));
    } else {
        pthread_mutex_lock(&hs.lock);
        while (!hs.done)
            pthread_cond_wait(&hs.cond, &hs.lock);
        pthread_mutex_unlock(&hs.lock);
        rc = hs.rc;
        if (rc < 0) {
            pthread_join(w->thread, NULL);
            prokio__error(rc, "%s", hs.error);
        }
    }
    pthread_cond_destroy(&hs.cond);
    pthread_mutex_destroy(&hs.lock);
    return rc;
}

int prokio__worker_start(struct prokio__worker *w, struct prokio_runtime *rt, unsigned index)
{
    w->rt = rt;
    w->clock = &rt->clock;
    w->index = index;
    w->vt = rt->vt;
    w->cx.worker = w;
    w->nonblocking = rt->nonblocking;
    atomic_init(&w->remote, NULL);
    int rc = prokio__pool_init(&w->pool, w);
    if (rc < 0)
        return prokio__error(rc, "worker %u: %s", index, prokio_strerror(rc));
    rc = prokio__pool_init(&w->objects, w); /* both pools go in prokio__worker_fini */
    if (rc < 0)
        return prokio__error(rc, "worker %u: %s", index, prokio_strerror(rc));
    /* The backend's size, exactly (prokio_backend_vtable_check bounds it),
     * rounded up for the alignment backend.h promises. */
    size_t loop_size = (w->vt->loop_size + 15) & ~(size_t)15;
    w->loop = aligned_alloc(16, loop_size);
    if (w->loop == NULL)
        return prokio__error(PROKIO_ENOMEM, "worker %u: no memory for the backend loop", index);
    memset(w->loop, 0, loop_size);

    if (w->nonblocking) {
        /* The host drives this worker from the calling thread, which
         * becomes the worker's thread. */
        prokio__tls_worker = w;
        rc = init_loop(w);
#ifdef __EMSCRIPTEN__
        /* On wasm the JS thread is also the program's main thread, which
         * makes runtimes, spawns from outside and, linked with -sASYNCIFY,
         * blocks (yielding to the JS event loop meanwhile). It is the
         * worker only inside host->drive, as a worker thread would be. */
        prokio__tls_worker = NULL;
#else
        if (rc < 0)
            prokio__tls_worker = NULL;
#endif
        return rc;
    }
    return start_thread(w, index);
}

void prokio__worker_fini(struct prokio__worker *w)
{
    prokio__op_native_fini_worker(w);
    prokio__pool_fini(&w->pool);
    prokio__pool_fini(&w->objects);
    free(w->loop);
}
