/* core/runtime.c: creating, shutting down and freeing a runtime; choosing
 * a worker for a spawn; block_on. */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error_internal.h"
#include "log.h"
#include "runtime.h"
#include "task.h"
#include "worker.h"

/* More workers than this is a mistake in the options, not a machine. */
#define MAX_WORKERS 4096

static unsigned cpus_available(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0)
            return (unsigned)n;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (unsigned)n : 1;
}

static void stop_workers(prokio_runtime_t *rt, unsigned started)
{
    for (unsigned i = 0; i < started; i++)
        prokio__worker_request_stop(rt->workers[i]);
    for (unsigned i = 0; i < started; i++)
        prokio__worker_join(rt->workers[i]);
}

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
        stop_workers(rt, started);
        free_workers(rt);
    }
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
    unsigned nworkers = o.workers ? o.workers : cpus_available();

    const char *request = o.backend;
    if (request == NULL || *request == '\0') {
        request = secure_getenv("PROKIO_BACKEND");
        if (request != NULL && *request == '\0')
            request = NULL;
    }

    prokio_runtime_t *rt = calloc(1, sizeof *rt);
    if (rt == NULL)
        return prokio__error(PROKIO_ENOMEM, "prokio_runtime_new: no memory");
    pthread_mutex_init(&rt->lock, NULL);

    int rc;
    struct prokio__backend *b = NULL;
    if (request != NULL) {
        /* Asked for by name or path: its failure is the caller's answer. */
        if ((rc = prokio__backend_open(request, &b)) == 0 &&
            (rc = start_workers(rt, b, nworkers)) < 0)
            prokio__backend_close(b);
    } else {
        /* Automatic: the first that loads and starts, saying why others
         * were passed over. */
        char tried[1024] = "";
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
            int w = snprintf(tried + len, sizeof tried - len, "%s%s: %s", len ? "; " : "", *name,
                             prokio_last_error());
            if (w > 0 && len + (size_t)w < sizeof tried)
                len += (size_t)w;
        }
        if (rc < 0)
            rc = prokio__error(PROKIO_ENOBACKEND, "no usable backend: %s", tried);
    }
    if (rc < 0) {
        pthread_mutex_destroy(&rt->lock);
        free(rt);
        return rc;
    }
    prokio__log(PROKIO_LOG_BACKEND, "runtime started on %s (%s) with %u worker%s", rt->vt->name,
                b->path, rt->nworkers, rt->nworkers == 1 ? "" : "s");
    *out = rt;
    return 0;
}

int prokio_runtime_shutdown(prokio_runtime_t *rt)
{
    struct prokio__worker *self = prokio__tls_worker;
    if (self != NULL && !(rt->nonblocking && self->rt == rt))
        return prokio__error(PROKIO_EDEADLK,
                             "prokio_runtime_shutdown: called from a worker thread; shut down "
                             "from the thread that created the runtime");
    pthread_mutex_lock(&rt->lock);
    if (!rt->shut_down) {
        atomic_store_explicit(&rt->closing, 1, memory_order_seq_cst);
        stop_workers(rt, rt->nworkers);
        rt->shut_down = true;
    }
    pthread_mutex_unlock(&rt->lock);
    return 0;
}

static void count_live(void *obj, void *arg)
{
    (void)obj;
    (*(size_t *)arg)++;
}

int prokio_runtime_free(prokio_runtime_t *rt)
{
    int rc = prokio_runtime_shutdown(rt);
    if (rc < 0)
        return rc;
    pthread_mutex_lock(&rt->lock);
    size_t tasks = 0;
    for (unsigned i = 0; i < rt->nworkers; i++)
        prokio__pool_scan(&rt->workers[i]->pool, count_live, &tasks);
    int64_t ios = atomic_load_explicit(&rt->io_count, memory_order_acquire);
    if (tasks || ios) {
        pthread_mutex_unlock(&rt->lock);
        return prokio__error(PROKIO_EBUSY,
                             "prokio_runtime_free: %zu task%s still referenced (JoinHandles or "
                             "wakers not released) and %lld io registration%s not freed",
                             tasks, tasks == 1 ? "" : "s", (long long)ios, ios == 1 ? "" : "s");
    }
    pthread_mutex_unlock(&rt->lock);
    free_workers(rt);
    prokio__backend_close(rt->backend);
    pthread_mutex_destroy(&rt->lock);
    free(rt);
    return 0;
}

const char *prokio_runtime_backend_name(const prokio_runtime_t *rt)
{
    return rt->vt->name;
}

unsigned prokio_runtime_workers(const prokio_runtime_t *rt)
{
    return rt->nworkers;
}

void prokio_runtime_backend_report(const prokio_runtime_t *rt, prokio_backend_report_t *report)
{
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

/* Power of two choices: two workers at random, the less loaded wins. */
static struct prokio__worker *pick_worker(prokio_runtime_t *rt)
{
    if (rt->nworkers == 1)
        return rt->workers[0];
    uint32_t r = next_random();
    struct prokio__worker *a = rt->workers[r % rt->nworkers];
    struct prokio__worker *b = rt->workers[(r >> 16) % rt->nworkers];
    return prokio__worker_load(b) < prokio__worker_load(a) ? b : a;
}

/* Every spawn path starts here, so that *join_out is NULL after any
 * failure, as the header promises. */
static int check_spawn(prokio_poll_fn poll, prokio_task_t **join_out, const char *who)
{
    if (join_out)
        *join_out = NULL;
    if (poll == NULL)
        return prokio__error(PROKIO_EINVAL, "%s: poll function is NULL", who);
    return 0;
}

int prokio_spawn(prokio_runtime_t *rt, prokio_poll_fn poll, const void *frame, size_t frame_size,
                 prokio_drop_fn drop, prokio_task_t **join_out)
{
    int rc = check_spawn(poll, join_out, "prokio_spawn");
    if (rc < 0)
        return rc;
    return prokio__worker_spawn(pick_worker(rt), poll, frame, frame_size, drop, join_out);
}

int prokio_spawn_local(prokio_cx_t *cx, prokio_poll_fn poll, const void *frame, size_t frame_size,
                       prokio_drop_fn drop, prokio_task_t **join_out)
{
    int rc = check_spawn(poll, join_out, "prokio_spawn_local");
    if (rc < 0)
        return rc;
    return prokio__worker_spawn(cx->worker, poll, frame, frame_size, drop, join_out);
}

int prokio_spawn_on(prokio_runtime_t *rt, unsigned worker, prokio_poll_fn poll, const void *frame,
                    size_t frame_size, prokio_drop_fn drop, prokio_task_t **join_out)
{
    int rc = check_spawn(poll, join_out, "prokio_spawn_on");
    if (rc < 0)
        return rc;
    if (worker >= rt->nworkers)
        return prokio__error(PROKIO_EINVAL, "prokio_spawn_on: worker %u of %u", worker,
                             rt->nworkers);
    return prokio__worker_spawn(rt->workers[worker], poll, frame, frame_size, drop, join_out);
}

int prokio_block_on(prokio_runtime_t *rt, prokio_poll_fn poll, void *frame, size_t frame_size,
                    prokio_drop_fn drop)
{
    if (prokio__tls_worker != NULL)
        return prokio__error(PROKIO_EDEADLK,
                             "prokio_block_on: called from a worker thread, which it would "
                             "block; await the task instead");
    prokio_task_t *h;
    int rc = prokio_spawn(rt, poll, frame, frame_size, drop, &h);
    if (rc < 0)
        return rc;
    rc = prokio_task_join(h);
    if (frame != NULL && frame_size != 0)
        memcpy(frame, prokio_task_frame(h), frame_size);
    prokio_task_release(h);
    return rc;
}
