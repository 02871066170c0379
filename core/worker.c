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
 * see it, which is why tests count wakes exactly). */
#include <signal.h>
#include <stdio.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "error_internal.h"
#include "io.h"
#include "log.h"
#include "runtime.h"
#include "task.h"
#include "worker.h"

/* Polls between looks at the remote queue, the timers and I/O: Tokio's
 * event interval, which bounds how long a busy worker ignores the outside. */
#define EVENT_INTERVAL 61

/* Polls per host->drive before handing control back to a host that cannot
 * block (notes/wasm.md: without a budget the JS event loop starves). */
#define DRIVE_BUDGET 4096

PROKIO_TLS struct prokio__worker *prokio__tls_worker;

/* ------------------------------------------------------------- scheduling */

/* Pushes onto w's remote queue and wakes w if it is parked. Returns false
 * when w is shut down (its queue is closed). */
static bool push_remote(struct prokio__worker *w, struct prokio_task *t)
{
    if (!prokio__remote_push(&w->remote, t))
        return false;
    /* `waking` tells a stopping worker that someone may still be inside
     * vt->wake, so the loop memory must outlive this call. */
    atomic_fetch_add_explicit(&w->waking, 1, memory_order_seq_cst);
    if (atomic_load_explicit(&w->parked, memory_order_seq_cst) &&
        atomic_exchange_explicit(&w->parked, 0, memory_order_seq_cst))
        w->vt->wake(w->loop);
    atomic_fetch_sub_explicit(&w->waking, 1, memory_order_release);
    return true;
}

void prokio__worker_schedule(struct prokio__worker *w, struct prokio_task *t)
{
    if (prokio__tls_worker == w) {
        if (PROKIO_UNLIKELY(w->shutting_down))
            return; /* the shutdown scan ends every task anyway */
        prokio__ready_push(&w->ready, t);
        if (PROKIO_UNLIKELY(w->nonblocking && !w->driving))
            w->vt->wake(w->loop);
        return;
    }
    (void)push_remote(w, t);
}

int prokio__worker_spawn(struct prokio__worker *w, prokio_poll_fn poll, const void *frame,
                         size_t frame_size, prokio_drop_fn drop, prokio_task_t **join_out)
{
    if (join_out)
        *join_out = NULL;
    if (PROKIO_UNLIKELY(atomic_load_explicit(&w->rt->closing, memory_order_acquire)))
        return prokio__error(PROKIO_ESHUTDOWN, "spawn: the runtime is shutting down");
    struct prokio_task *t;
    if (prokio__tls_worker == w) {
        if (PROKIO_UNLIKELY(w->shutting_down))
            return prokio__error(PROKIO_ESHUTDOWN, "spawn: the runtime is shutting down");
        t = prokio__task_new(w, true, poll, frame, frame_size, drop, join_out != NULL);
        if (PROKIO_UNLIKELY(t == NULL))
            return prokio__error(PROKIO_ENOMEM, "spawn: no memory for a %zu-byte frame",
                                 frame_size);
        __atomic_store_n(&w->live_local, w->live_local + 1, __ATOMIC_RELAXED);
        prokio__ready_push(&w->ready, t);
        if (PROKIO_UNLIKELY(w->nonblocking && !w->driving))
            w->vt->wake(w->loop);
    } else {
        /* The pool lock is held from allocation to push, so the shutdown
         * scan (which takes it) sees either a queued task or none. */
        pthread_mutex_lock(&w->pool.lock);
        t = prokio__task_new(w, false, poll, frame, frame_size, drop, join_out != NULL);
        if (t == NULL) {
            pthread_mutex_unlock(&w->pool.lock);
            return prokio__error(PROKIO_ENOMEM, "spawn: no memory for a %zu-byte frame",
                                 frame_size);
        }
        if (!prokio__remote_push(&w->remote, t)) {
            atomic_store_explicit(&t->state, 0, memory_order_relaxed); /* not live */
            pthread_mutex_unlock(&w->pool.lock);
            prokio__task_discard(t);
            return prokio__error(PROKIO_ESHUTDOWN, "spawn: the runtime is shutting down");
        }
        atomic_fetch_add_explicit(&w->spawned_remote, 1, memory_order_relaxed);
        pthread_mutex_unlock(&w->pool.lock);
        atomic_fetch_add_explicit(&w->waking, 1, memory_order_seq_cst);
        if (atomic_load_explicit(&w->parked, memory_order_seq_cst) &&
            atomic_exchange_explicit(&w->parked, 0, memory_order_seq_cst))
            w->vt->wake(w->loop);
        atomic_fetch_sub_explicit(&w->waking, 1, memory_order_release);
    }
    if (join_out)
        *join_out = t;
    return 0;
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
    uint64_t now = w->vt->now_ns(w->loop);
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

static void backend_failed(struct prokio__worker *w, int rc)
{
    /* A loop that cannot wait is a runtime condition, not a reason to
     * abort: say so and retry after a pause rather than spin. */
    prokio__log(PROKIO_LOG_BACKEND, "worker %u: backend %s wait failed: %s; retrying", w->index,
                w->vt->name, prokio_strerror(rc));
    struct timespec pause = {0, 1000000};
    nanosleep(&pause, NULL);
}

static void park(struct prokio__worker *w)
{
    uint64_t deadline = prokio__timer_next_deadline(&w->timers);
    atomic_store_explicit(&w->parked, 1, memory_order_seq_cst);
    if (atomic_load_explicit(&w->remote, memory_order_seq_cst) != NULL ||
        atomic_load_explicit(&w->stop, memory_order_seq_cst)) {
        atomic_store_explicit(&w->parked, 0, memory_order_seq_cst);
        return;
    }
    int rc = w->vt->wait(w->loop, deadline);
    /* Sequentially consistent, for the shutdown check of `waking`. */
    atomic_store_explicit(&w->parked, 0, memory_order_seq_cst);
    if (PROKIO_UNLIKELY(rc < 0))
        backend_failed(w, rc);
}

static void run_loop(struct prokio__worker *w)
{
    while (!atomic_load_explicit(&w->stop, memory_order_acquire)) {
        run_ready(w, EVENT_INTERVAL);
        drain_remote(w);
        fire_timers(w);
        if (w->ready.head == NULL) {
            park(w);
        } else if (w->io_count > 0) {
            /* Busy: look at I/O without blocking, so that ready tasks cannot
             * starve descriptors. Skipped when nothing is registered. */
            int rc = w->vt->wait(w->loop, 0);
            if (PROKIO_UNLIKELY(rc < 0))
                backend_failed(w, rc);
        }
    }
}

int prokio__worker_drive(struct prokio__worker *w)
{
    if (atomic_load_explicit(&w->stop, memory_order_acquire) || w->shutting_down)
        return PROKIO_ESHUTDOWN;
    if (w->driving)
        return PROKIO_EBUSY; /* drive never re-enters itself */
    w->driving = true;
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
    uint64_t deadline = w->ready.head ? 0 : prokio__timer_next_deadline(&w->timers);
    return w->vt->arm(w->loop, deadline);
}

/* ------------------------------------------------------------ shutdown */

struct victims {
    struct prokio_task **v;
    size_t len, cap;
    size_t missed; /* unfinished tasks that did not fit */
};

static void collect(void *obj, void *arg)
{
    struct victims *vs = arg;
    struct prokio_task *t = obj;
    if (atomic_load_explicit(&t->state, memory_order_acquire) & TASK_COMPLETE)
        return;
    if (vs->len < vs->cap)
        vs->v[vs->len++] = t;
    else
        vs->missed++;
}

/* Ends every unfinished task of this worker. The list is collected under
 * the pool lock and processed without it, because drop functions free
 * memory (ours and other workers'). It cannot live in task->next: a waker on
 * another thread may still write that link while failing to push onto our
 * closed queue. */
static void cancel_all(struct prokio__worker *w)
{
    struct victims vs = {0};
    for (;;) {
        vs.len = vs.missed = 0;
        prokio__pool_scan(&w->pool, collect, &vs);
        if (vs.missed == 0 && vs.len == 0)
            break;
        if (vs.missed) {
            size_t cap = vs.cap + vs.missed + 16;
            struct prokio_task **v = realloc(vs.v, cap * sizeof *v);
            if (v) {
                vs.v = v;
                vs.cap = cap;
                continue; /* rescan into the bigger list */
            }
            /* Out of memory: go on with what fits; the loop rescans. */
        }
        for (size_t i = 0; i < vs.len; i++) {
            struct prokio_task *t = vs.v[i];
            /* A drop function earlier in the list cannot end this task
             * (only its own worker can), but checking costs nothing. */
            if (!(atomic_load_explicit(&t->state, memory_order_acquire) & TASK_COMPLETE))
                prokio__task_cancel_at_shutdown(t);
        }
        if (vs.cap == 0) {
            /* Not even a one-entry list: end tasks one scan at a time. */
            struct prokio_task *one = NULL;
            struct victims single = {&one, 0, 1, 0};
            prokio__pool_scan(&w->pool, collect, &single);
            if (single.len == 0)
                break;
            prokio__task_cancel_at_shutdown(one);
        }
    }
    free(vs.v);
}

static void shutdown_worker(struct prokio__worker *w)
{
    w->shutting_down = true;
    /* From here pushes fail, so nothing new is queued; tasks that were
     * queued are simply forgotten: the scan ends them. */
    atomic_exchange_explicit(&w->remote, PROKIO__REMOTE_CLOSED, memory_order_seq_cst);
    w->ready.head = w->ready.tail = NULL;
    cancel_all(w);
    prokio__io_shutdown_worker(w);
    prokio__timer_heap_fini(&w->timers);
    /* A waker that pushed before the close may still be inside vt->wake. */
    while (atomic_load_explicit(&w->waking, memory_order_seq_cst) != 0)
        sched_yield();
}

/* ------------------------------------------------------------- lifetime */

struct start_handshake {
    struct prokio__worker *w;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int done;
    int rc;
    char error[512];
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
    run_loop(w);
    shutdown_worker(w);
    w->vt->loop_fini(w->loop);
    prokio__tls_worker = NULL;
    return NULL;
}

int prokio__worker_start(struct prokio__worker *w, struct prokio_runtime *rt, unsigned index)
{
    w->rt = rt;
    w->index = index;
    w->vt = rt->vt;
    w->cx.worker = w;
    w->nonblocking = rt->nonblocking;
    atomic_init(&w->remote, NULL);
    int rc = prokio__pool_init(&w->pool, w);
    if (rc < 0)
        return prokio__error(rc, "worker %u: %s", index, prokio_strerror(rc));
    size_t loop_size = (w->vt->loop_size + 15) & ~(size_t)15;
    w->loop = aligned_alloc(16, loop_size ? loop_size : 16);
    if (w->loop == NULL)
        return prokio__error(PROKIO_ENOMEM, "worker %u: no memory for the backend loop", index);
    memset(w->loop, 0, loop_size);

    if (w->nonblocking) {
        /* The host drives this worker from the calling thread, which
         * becomes the worker's thread. */
        prokio__tls_worker = w;
        rc = init_loop(w);
        if (rc < 0)
            prokio__tls_worker = NULL;
        return rc;
    }

    struct start_handshake hs = {.w = w};
    pthread_mutex_init(&hs.lock, NULL);
    pthread_cond_init(&hs.cond, NULL);
    /* Workers block every signal, so that signals reach the application's
     * own threads and no system call of a worker is interrupted. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(&w->thread, NULL, worker_main, &hs);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        rc = prokio__error(-rc, "worker %u: cannot create a thread: %s", index,
                           prokio_strerror(-rc));
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

void prokio__worker_request_stop(struct prokio__worker *w)
{
    atomic_store_explicit(&w->stop, 1, memory_order_seq_cst);
    atomic_fetch_add_explicit(&w->waking, 1, memory_order_seq_cst);
    if (atomic_exchange_explicit(&w->parked, 0, memory_order_seq_cst))
        w->vt->wake(w->loop);
    atomic_fetch_sub_explicit(&w->waking, 1, memory_order_release);
}

void prokio__worker_join(struct prokio__worker *w)
{
    if (w->nonblocking) {
        /* No thread: the host's thread is the worker, and it is us. */
        if (!w->shutting_down) {
            shutdown_worker(w);
            w->vt->loop_fini(w->loop);
            prokio__tls_worker = NULL;
        }
        return;
    }
    pthread_join(w->thread, NULL);
}

void prokio__worker_fini(struct prokio__worker *w)
{
    prokio__pool_fini(&w->pool);
    free(w->loop);
}
