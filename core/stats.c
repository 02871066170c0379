/* core/stats.c: prokio_runtime_stats_read (prokio/stats.h): sums what the
 * workers, the runtime and the blocking pool count anyway.
 *
 * The workers' counters are written by their own thread only, with
 * relaxed atomic stores (PROKIO__OWNER_ADD, worker.h), so that reading
 * them here from any thread is a relaxed load, not a data race. */
#include <string.h>

#include <prokio/stats.h>

#include "blocking.h"
#include "error_internal.h"
#include "runtime.h"
#include "worker.h"

static uint64_t nonneg(int64_t v)
{
    /* A sum of counters read at different instants may dip below zero
     * for a moment (a task spawned remotely, ended locally). */
    return v > 0 ? (uint64_t)v : 0;
}

int prokio_runtime_stats_read(const prokio_runtime_t *rt, prokio_runtime_stats_t *stats)
{
    const char *who = "prokio_runtime_stats_read";
    if (rt == NULL || stats == NULL)
        return prokio__error(PROKIO_EINVAL, "%s: %s is NULL", who, rt ? "stats" : "rt");
    size_t size = stats->size;
    if (size < offsetof(prokio_runtime_stats_t, tasks) + sizeof stats->tasks)
        return prokio__error(PROKIO_EINVAL,
                             "%s: stats->size is %zu, too small for any count: set it to "
                             "sizeof(prokio_runtime_stats_t) (or use PROKIO_RUNTIME_STATS_INIT)",
                             who, size);
    prokio_runtime_stats_t full = {.size = size};
    int64_t tasks = 0;
    for (unsigned i = 0; i < rt->nworkers; i++) {
        struct prokio__worker *w = rt->workers[i];
        tasks += prokio__worker_load(w);
        full.tasks_ending += __atomic_load_n(&w->ending, __ATOMIC_RELAXED);
        full.ops_native += __atomic_load_n(&w->native_ops, __ATOMIC_RELAXED);
        full.ops_waiting += __atomic_load_n(&w->ops_waiting, __ATOMIC_RELAXED);
    }
    full.tasks = nonneg(tasks);
    full.ops_pool = nonneg(atomic_load_explicit(&rt->pool_ops, memory_order_relaxed));
    full.fds = nonneg(atomic_load_explicit(&rt->fd_count, memory_order_relaxed));
    uint64_t pool[4];
    prokio__blocking_stats((prokio_runtime_t *)rt, pool);
    full.blocking_threads = pool[0];
    full.blocking_idle = pool[1];
    full.blocking_queued = pool[2];
    full.blocking_running = pool[3];
    memcpy(stats, &full, size < sizeof full ? size : sizeof full);
    return 0;
}
