/* core/runtime.c: creating and freeing a runtime, the references that keep
 * it, choosing a worker for a spawn, block_on. Shutting down is in
 * shutdown.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "debug.h"
#include "blocking.h"
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
    rt->blocking_max = o.max_blocking_threads ? o.max_blocking_threads : 512;
    rt->blocking_keep_alive_ns =
        (uint64_t)(o.blocking_keep_alive_ms ? o.blocking_keep_alive_ms : 10000) * 1000000u;
    if ((rc = prokio__clock_init(&rt->clock)) < 0) {
        pthread_mutex_destroy(&rt->lock);
        free(rt);
        return prokio__error(rc, "prokio_runtime_new: pthread_mutex_init: %s", prokio_strerror(rc));
    }
    if ((rc = select_backend(rt, request, nworkers)) < 0) {
        prokio__clock_fini(&rt->clock);
        pthread_mutex_destroy(&rt->lock);
        free(rt);
        return rc;
    }
    /* Paused once every worker exists (the auto-advance looks at them all)
     * and before anything can be spawned: no task sees the real clock. An
     * old-size options struct has no such field: the INIT copy says false. */
    if (o.start_paused)
        prokio_runtime_time_pause(rt);
    prokio__log(PROKIO_LOG_BACKEND, "runtime started on %s (%s) with %u worker%s", rt->vt->name,
                rt->backend->path, rt->nworkers, rt->nworkers == 1 ? "" : "s");
    *out = rt;
    return 0;
}

/* ------------------------------------------------------------ references */

static void destroy(prokio_runtime_t *rt)
{
    free_workers(rt);
    prokio__blocking_free(rt);
    prokio__backend_close(rt->backend);
    prokio__clock_fini(&rt->clock);
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
     * creator: the header says it is ignored, so it is, in debug builds
     * too (debug.h: assertions guard invariants, not what callers do). */
    do {
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
    int rc = prokio__runtime_shutdown(rt, "prokio_runtime_free");
    if (rc < 0)
        return rc;
    pthread_mutex_lock(&rt->lock);
    size_t tasks = 0, objects = 0;
    for (unsigned i = 0; i < rt->nworkers; i++) {
        prokio__pool_scan(&rt->workers[i]->pool, count_live, &tasks);
        prokio__pool_scan(&rt->workers[i]->objects, count_live, &objects);
    }
    int64_t fds = atomic_load_explicit(&rt->fd_count, memory_order_acquire);
    pthread_mutex_unlock(&rt->lock);
    if (tasks || fds || objects)
        return prokio__error(PROKIO_EBUSY,
                             "prokio_runtime_free: %zu task%s still referenced (JoinHandles or "
                             "wakers not released), %zu channel%s made on its workers not "
                             "released (an end still held) and %lld registered descriptor%s "
                             "not freed",
                             tasks, tasks == 1 ? "" : "s", objects, objects == 1 ? "" : "s",
                             (long long)fds, fds == 1 ? "" : "s");
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
