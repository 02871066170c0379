/* prokio/stats.h: what a runtime has alive right now (tasks, I/O
 * operations in flight, registered descriptors, the blocking pool), for
 * tests, leak checks and diagnostics. Part of prokio.h.
 *
 * A server that has closed every connection should read zero operations
 * and only its own long-lived tasks here: a test asserts exactly that
 * after a churn of connections, and a program can log it at shutdown. */
#ifndef PROKIO_STATS_H
#define PROKIO_STATS_H

#include <prokio/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Counts of one runtime, summed over its workers. Versioned by its size,
 * like prokio_runtime_options_t: set `size` (to sizeof, or
 * PROKIO_RUNTIME_STATS_INIT) before the call; members are only ever added
 * at the end, and a caller built against an older, shorter struct gets
 * just the members it knows.
 *
 * The I/O operations in flight are ops_native + ops_waiting + ops_pool:
 * zero when nothing is being read, written, accepted, connected, opened
 * or synced. */
typedef struct prokio_runtime_stats {
    size_t size;
    /* Tasks spawned and not yet ended (JoinHandle waiters of
     * prokio_spawn_blocking included). A task that has ended but whose
     * frame a native operation still points into is counted in
     * tasks_ending instead. */
    uint64_t tasks;
    /* Ended tasks kept alive until the terminal completion of their
     * native I/O operations (prokio/op.h: "the runtime guarantees..."). */
    uint64_t tasks_ending;
    /* Native operations (io_uring) submitted and not yet completed,
     * abandoned ones included: the kernel may still touch their memory. */
    uint64_t ops_native;
    /* Emulated operations waiting for their descriptor's readiness. */
    uint64_t ops_waiting;
    /* File operations handed to the blocking pool and not yet finished
     * there (abandoned ones included). */
    uint64_t ops_pool;
    /* Registered descriptors (prokio_fd_t, and those the net and file
     * objects register for themselves) not yet freed. */
    uint64_t fds;
    /* The blocking pool: its threads, those of them idle, the jobs
     * (prokio_spawn_blocking, name resolution, file operations) waiting
     * for a thread, and those running. */
    uint64_t blocking_threads;
    uint64_t blocking_idle;
    uint64_t blocking_queued;
    uint64_t blocking_running;
} prokio_runtime_stats_t;

#define PROKIO_RUNTIME_STATS_INIT                                                                  \
    {                                                                                              \
        .size = sizeof(prokio_runtime_stats_t)                                                     \
    }

/* Fills the first stats->size bytes of *stats (stats->size is left as the
 * caller set it) with rt's counts. Returns 0, or PROKIO_EINVAL for a NULL
 * argument or a size smaller than the first member's end.
 * A snapshot: the counts are read one by one (relaxed atomic loads), while
 * the workers keep changing them, so on a busy runtime they are each
 * right at some instant, not all at the same one; on a quiet runtime (the
 * end of a test) they are exact. After prokio_runtime_shutdown they read
 * what the shutdown left: zero tasks and operations.
 * Thread: any (a worker's task too), until prokio_runtime_free. */
int prokio_runtime_stats_read(const prokio_runtime_t *rt, prokio_runtime_stats_t *stats);

#ifdef __cplusplus
}
#endif
#endif /* PROKIO_STATS_H */
