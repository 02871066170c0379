/* core/runtime.c: creating and freeing a runtime, the references that keep
 * it, choosing a worker for a spawn, block_on. Shutting down is in
 * shutdown.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "debug.h"
#include "error_internal.h"
#include "log.h"
#include "parker.h"
#include "platform.h"
#include "runtime.h"
#include "task.h"
#include "worker.h"

/* More workers than this is a mistake in the options, not a machine. */
#define MAX_WORKERS 4096

#define REF_CREATOR UINT64_C(1)
#define REF_CLONE   UINT64_C(2)

static void free_workers(prokio_runtime_t *rt)
{
    for (unsigned i = 0; i < rt->nworkers; i++) {
        if (rt->workers[i]) {
            prokio__worker_fini(rt->workers[i]);
            free(rt->workers[i]);
        }
    }
    free(rt->workers);
    rt->workers = NULL;
}

/* Starts every worker on backend b; on failure leaves nothing running. */
static int start_workers(prokio_runtime_t *rt, struct prokio__backend *b, unsigned nworkers)
{
    rt->backend = b;
    rt->vt = b->vt;
    rt->nonblocking = (b->vt->caps & PROKIO_BACKEND_CAP_NONBLOCKING_HOST) != 0;
    rt->nworkers = rt->nonblocking ? 1 : nworkers;
    rt->workers = calloc(rt->nworkers, sizeof *rt->workers);
    if (rt->workers == NULL)
        return prokio__error(PROKIO_ENOMEM, "no memory for %u workers", rt->nworkers);
    unsigned started = 0;
    int rc = 0;
    for (; started < rt->nworkers; started++) {
        struct prokio__worker *w = aligned_alloc(PROKIO_CACHELINE, sizeof *w);
        if (w == NULL) {
            rc = prokio__error(PROKIO_ENOMEM, "no memory for worker %u", started);
            break;
        }
        memset(w, 0, sizeof *w);
        rt->workers[started] = w;
        if ((rc = prokio__worker_start(w, rt, started)) < 0)
            break;
    }
    if (rc < 0) {
        prokio__runtime_stop_workers(rt, started);
        free_workers(rt);
    }
    return rc;
}

/* Appends "; name: why" to the list of backends automatic selection passed
 * over, growing it as needed: the message must not lose a backend. */
static void note_skipped(char **tried, size_t *len, const char *name, const char *why)
{
    size_t add = strlen(name) + strlen(why) + 4;
    char *grown = realloc(*tried, *len + add + 1);
    if (grown == NULL)
        return; /* the message is shorter; the selection is unaffected */
    *tried = grown;
    *len += (size_t)snprintf(grown + *len, add + 1, "%s%s: %s", *len ? "; " : "", name, why);
}

static int select_backend(prokio_runtime_t *rt, const char *request, unsigned nworkers)
{
    struct prokio__backend *b = NULL;
    int rc;
    if (request != NULL) {
        /* Asked for by name or path: its failure is the caller's answer. */
        if ((rc = prokio__backend_open(request, &b)) == 0 &&
            (rc = start_workers(rt, b, nworkers)) < 0)
            prokio__backend_close(b);
        return rc;
    }
    /* Automatic: the first that loads and starts, saying why others were
     * passed over. */
    char *tried = NULL;
    size_t len = 0;
    rc = PROKIO_ENOBACKEND;
    for (const char *const *name = prokio__backend_auto_order; *name; name++) {
        if ((rc = prokio__backend_open(*name, &b)) == 0 &&
            (rc = start_workers(rt, b, nworkers)) == 0)
            break;
        if (b)
            prokio__backend_close(b);
        b = NULL;
        prokio__log(PROKIO_LOG_BACKEND, "automatic selection: skipping %s: %s", *name,
                    prokio_last_error());
        note_skipped(&tried, &len, *name, prokio_last_error());
    }
    if (rc < 0)
        rc = prokio__error(PROKIO_ENOBACKEND, "no usable backend: %s",
                           tried ? tried : "(no memory for the reasons)");
    free(tried);
    return rc;
}

int prokio_runtime_new(prokio_runtime_t **out, const prokio_runtime_options_t *opts)
{
    if (out == NULL)
        return prokio__error(PROKIO_EINVAL, "prokio_runtime_new: out is NULL");
    *out = NULL;
    if (prokio__tls_worker != NULL)
        return prokio__error(PROKIO_EDEADLK,
                             "prokio_runtime_new: called from a worker thread of a runtime");
    prokio_runtime_options_t o = PROKIO_RUNTIME_OPTIONS_INIT;
    if (opts != NULL) {
        if (opts->size < offsetof(prokio_runtime_options_t, workers) + sizeof o.workers)
            return prokio__error(PROKIO_EINVAL,
                                 "prokio_runtime_new: options.size is %zu; initialise the "
                                 "options with PROKIO_RUNTIME_OPTIONS_INIT",
                                 opts->size);
        memcpy(&o, opts, opts->size < sizeof o ? opts->size : sizeof o);
        o.size = sizeof o;
    }
    if (o.workers > MAX_WORKERS)
        return prokio__error(PROKIO_EINVAL, "prokio_runtime_new: %u workers (at most %u)",
                             o.workers, MAX_WORKERS);
    unsigned nworkers = o.workers ? o.workers : prokio__cpu_count();

    const char *request = o.backend;
    if (request == NULL || *request == '\0') {
        request = prokio__getenv("PROKIO_BACKEND");
        if (request != NULL && *request == '\0')
            request = NULL;
    }

    prokio_runtime_t *rt = calloc(1, sizeof *rt);
    if (rt == NULL)
        return prokio__error(PROKIO_ENOMEM, "prokio_runtime_new: no memory");
    int rc = pthread_mutex_init(&rt->lock, NULL);
    if (rc != 0) {
        free(rt);
        return prokio__error(-rc, "prokio_runtime_new: pthread_mutex_init: %s",
                             prokio_strerror(-rc));
    }
    atomic_init(&rt->refs, REF_CREATOR);
    if ((rc = select_backend(rt, request, nworkers)) < 0) {
        pthread_mutex_destroy(&rt->lock);
        free(rt);
        return rc;
    }
    prokio__log(PROKIO_LOG_BACKEND, "runtime started on %s (%s) with %u worker%s", rt->vt->name,
                rt->backend->path, rt->nworkers, rt->nworkers == 1 ? "" : "s");
    *out = rt;
    return 0;
}

/* ------------------------------------------------------------ references */

static void destroy(prokio_runtime_t *rt)
{
    free_workers(rt);
    prokio__backend_close(rt->backend);
    pthread_mutex_destroy(&rt->lock);
    free(rt);
}

/* Gives up `ref` (the creator's bit or one clone) and destroys the runtime
 * when nothing keeps it any more. Only ever reaches zero after the
 * creator's prokio_runtime_free, i.e. after the workers were joined. */
static void unref(prokio_runtime_t *rt, uint64_t ref)
{
    uint64_t prev = atomic_fetch_sub_explicit(&rt->refs, ref, memory_order_acq_rel);
    if (prev == ref)
        destroy(rt);
}

prokio_runtime_t *prokio_runtime_clone(prokio_runtime_t *rt)
{
    if (rt != NULL)
        atomic_fetch_add_explicit(&rt->refs, REF_CLONE, memory_order_relaxed);
    return rt;
}

void prokio_runtime_release(prokio_runtime_t *rt)
{
    if (rt == NULL)
        return;
    uint64_t r = atomic_load_explicit(&rt->refs, memory_order_relaxed);
    /* A release with no clone to give up would free the runtime under its
     * creator: the header says it is ignored. */
    do {
        PROKIO__ASSERT(r >= REF_CLONE, "prokio_runtime_release without a clone (refs %llu)",
                       (unsigned long long)r);
        if (r < REF_CLONE)
            return;
    } while (!atomic_compare_exchange_weak_explicit(&rt->refs, &r, r - REF_CLONE,
                                                    memory_order_acq_rel, memory_order_relaxed));
    if (r == REF_CLONE)
        destroy(rt);
}

static void count_live(void *obj, void *arg)
{
    (void)obj;
    (*(size_t *)arg)++;
}

int prokio_runtime_free(prokio_runtime_t *rt)
{
    if (rt == NULL)
        return 0; /* as free(NULL): prokio.h, rule 6 */
    int rc = prokio_runtime_shutdown(rt);
    if (rc < 0)
        return rc;
    pthread_mutex_lock(&rt->lock);
    size_t tasks = 0;
    for (unsigned i = 0; i < rt->nworkers; i++)
        prokio__pool_scan(&rt->workers[i]->pool, count_live, &tasks);
    int64_t fds = atomic_load_explicit(&rt->fd_count, memory_order_acquire);
    pthread_mutex_unlock(&rt->lock);
    if (tasks || fds)
        return prokio__error(PROKIO_EBUSY,
                             "prokio_runtime_free: %zu task%s still referenced (JoinHandles or "
                             "wakers not released) and %lld registered descriptor%s not freed",
                             tasks, tasks == 1 ? "" : "s", (long long)fds, fds == 1 ? "" : "s");
    unref(rt, REF_CREATOR);
    return 0;
}

prokio_runtime_t *prokio_runtime_current(void)
{
    struct prokio__worker *w = prokio__tls_worker;
    return w ? w->rt : NULL;
}

const char *prokio_runtime_backend_name(const prokio_runtime_t *rt)
{
    return rt ? rt->vt->name : NULL;
}

unsigned prokio_runtime_workers(const prokio_runtime_t *rt)
{
    return rt ? rt->nworkers : 0;
}

void prokio_runtime_backend_report(const prokio_runtime_t *rt, prokio_backend_report_t *report)
{
    if (rt == NULL || report == NULL)
        return;
    size_t size = report->size;
    prokio_backend_report_t full = {
        .size = size,
        .name = rt->vt->name,
        .path = rt->backend->path,
        .version = rt->vt->version ? rt->vt->version : "",
        .abi_version = rt->vt->abi_version,
        .caps = rt->workers[0]->caps,
    };
    memcpy(report, &full, size < sizeof full ? size : sizeof full);
}

/* ---------------------------------------------------------------- spawn */

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

/* Power of two choices: two workers at random, the less loaded wins. A
 * worker stopped by its backend's failure is passed over while any other
 * can take the task. */
static struct prokio__worker *pick_worker(prokio_runtime_t *rt)
{
    if (rt->nworkers == 1)
        return rt->workers[0];
    uint32_t r = next_random();
    struct prokio__worker *a = rt->workers[r % rt->nworkers];
    struct prokio__worker *b = rt->workers[(r >> 16) % rt->nworkers];
    if (PROKIO_UNLIKELY(!prokio__worker_usable(a) || !prokio__worker_usable(b))) {
        if (prokio__worker_usable(a))
            return a;
        if (prokio__worker_usable(b))
            return b;
        for (unsigned i = 0; i < rt->nworkers; i++)
            if (prokio__worker_usable(rt->workers[i]))
                return rt->workers[i];
        return a; /* every worker failed: the spawn says why */
    }
    return prokio__worker_load(b) < prokio__worker_load(a) ? b : a;
}

/* Every spawn path starts here, so that *join_out is NULL after any
 * failure, as the header promises. */
static int check_spawn(prokio_task_t **join_out, const void *rt_or_cx, prokio_poll_fn poll,
                       const void *frame, size_t frame_size, const char *who)
{
    if (join_out)
        *join_out = NULL;
    if (rt_or_cx == NULL)
        return prokio__error(PROKIO_EINVAL, "%s: %s is NULL", who,
                             strcmp(who, "prokio_spawn_local") ? "rt" : "cx");
    if (poll == NULL)
        return prokio__error(PROKIO_EINVAL, "%s: poll is NULL", who);
    (void)frame, (void)frame_size;
    return 0;
}

int prokio_spawn(prokio_task_t **join_out, prokio_runtime_t *rt, prokio_poll_fn poll,
                 const void *frame, size_t frame_size, prokio_drop_fn drop)
{
    int rc = check_spawn(join_out, rt, poll, frame, frame_size, "prokio_spawn");
    if (rc < 0)
        return rc;
    return prokio__worker_spawn(join_out, pick_worker(rt), poll, frame, frame_size, drop);
}

int prokio_spawn_local(prokio_task_t **join_out, prokio_poll_fn poll, const void *frame,
                       size_t frame_size, prokio_drop_fn drop, prokio_cx_t *cx)
{
    int rc = check_spawn(join_out, cx, poll, frame, frame_size, "prokio_spawn_local");
    if (rc < 0)
        return rc;
    return prokio__worker_spawn(join_out, cx->worker, poll, frame, frame_size, drop);
}

int prokio_spawn_on(prokio_task_t **join_out, prokio_runtime_t *rt, unsigned worker,
                    prokio_poll_fn poll, const void *frame, size_t frame_size, prokio_drop_fn drop)
{
    int rc = check_spawn(join_out, rt, poll, frame, frame_size, "prokio_spawn_on");
    if (rc < 0)
        return rc;
    if (worker >= rt->nworkers)
        return prokio__error(PROKIO_EINVAL, "prokio_spawn_on: worker %u of %u", worker,
                             rt->nworkers);
    return prokio__worker_spawn(join_out, rt->workers[worker], poll, frame, frame_size, drop);
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
    if (prokio__parker_current() == NULL)
        return prokio__error(PROKIO_ENOMEM,
                             "prokio_runtime_block_on: no memory for this thread's parker; "
                             "nothing was spawned");
    prokio_task_t *h;
    int rc = prokio_spawn(&h, rt, poll, frame, frame_size, drop);
    if (rc < 0)
        return rc;
    rc = prokio_task_blocking_join(h);
    PROKIO__ASSERT(prokio_task_result(h) != PROKIO_PENDING, "block_on returned before its task");
    if (frame != NULL && frame_size != 0)
        memcpy(frame, prokio_task_frame(h), frame_size);
    prokio_task_release(h);
    return rc;
}
