/* prokio.h: the Prokio asynchronous runtime for C.
 *
 * The one header an application includes. Link with -lprokio
 * (pkg-config prokio).
 *
 * The model in one paragraph
 * --------------------------
 * A runtime has N workers; each worker is one thread with its own event loop
 * (a backend: io_uring, libevent, libuv...), ready queue and timers. A task
 * is a poll function plus a frame (a struct of yours that the runtime stores
 * next to the task header, in one allocation). The worker calls
 * poll(frame, cx); poll returns PROKIO_PENDING after arranging to be woken
 * (every leaf future such as prokio_sleep_poll does that for you), or a
 * result. Tasks never move between workers, so a task may keep
 * thread-confined state without locks. Awaiting is calling a poll function;
 * the coroutine macros of prokio/coro.h let a task read as straight-line
 * code.
 *
 * Conventions
 * -----------
 * Functions return >= 0 on success and a negative PROKIO_E* code on failure
 * (prokio/error.h); prokio_last_error() then describes the failure in words.
 * A poll function returns PROKIO_PENDING or its result (>= 0, or < 0 for an
 * error). Every function says, in words you can grep for:
 *   Ownership:  who frees what,
 *   Lifetime:   how long a borrowed pointer stays valid,
 *   Thread:     "any thread", "worker thread" (a thread of the runtime, i.e.
 *               inside a task or a drop function), "the owning worker"
 *               (the worker the object belongs to), or "not a worker thread".
 * No structure layout in this header is yours to depend on, except
 * prokio_runtime_options_t, which is versioned by its size, and the opaque
 * storage types whose sizes are fixed below.
 */
#ifndef PROKIO_H
#define PROKIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <prokio/error.h>
#include <prokio/version.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ types */

typedef struct prokio_runtime prokio_runtime_t; /* a runtime: workers + backend */
typedef struct prokio_task prokio_task_t;       /* a JoinHandle: one reference to a task */
typedef struct prokio_cx prokio_cx_t;           /* the context of the poll in progress */
typedef struct prokio_waker prokio_waker_t;     /* wakes one task (or a blocked thread) */
typedef struct prokio_io prokio_io_t;           /* a descriptor registered with a worker */

/* Returned by poll functions that cannot finish yet. It is INT_MIN, so every
 * other int (a count, 0, or a negative PROKIO_E* code) is a result. */
#define PROKIO_PENDING (-0x7fffffff - 1)

/* A task's poll function. Called on the task's worker thread with the frame
 * the task was spawned with. Returns PROKIO_PENDING, or a result that ends
 * the task: >= 0 (the task succeeded; its result reads 0, and outputs go in
 * the frame) or a negative PROKIO_E* code (the task failed with that code,
 * which prokio_task_result() reports).
 * Lifetime: frame and cx are valid during the call; the frame stays where it
 * is for the life of the task (it never moves), so it may point into itself. */
typedef int (*prokio_poll_fn)(void *frame, prokio_cx_t *cx);

/* A task's drop function (optional). Runs exactly once, on the task's worker
 * thread, when the task ends: after poll returned a result, or when the task
 * is cancelled (aborted, or still running at shutdown), even if it was never
 * polled. Release what the task holds while it runs: descriptors, io
 * registrations, channel ends, memory. The frame itself stays readable
 * through the JoinHandle after drop returns, so put outputs the joiner takes
 * over in fields drop leaves alone. Timers and other leaf futures armed by
 * the task are disarmed by the runtime before drop runs. */
typedef void (*prokio_drop_fn)(void *frame);

/* Time helpers: every duration and deadline in Prokio is in nanoseconds. */
#define PROKIO_NS(n)  ((uint64_t)(n))
#define PROKIO_US(n)  ((uint64_t)(n)*UINT64_C(1000))
#define PROKIO_MS(n)  ((uint64_t)(n)*UINT64_C(1000000))
#define PROKIO_SEC(n) ((uint64_t)(n)*UINT64_C(1000000000))

/* --------------------------------------------------------------- runtime */

/* Options for prokio_runtime_new. Versioned by size: initialise with
 * PROKIO_RUNTIME_OPTIONS_INIT so that `size` is set; fields are only ever
 * appended, and the library reads only the fields your `size` covers.
 * Ownership: the caller's; the library copies what it needs. */
typedef struct prokio_runtime_options {
    size_t size;      /* sizeof(prokio_runtime_options_t); set by the INIT macro */
    unsigned workers; /* 0: one per CPU the process may run on */
    /* A backend name ("uring", "event", "uv") or a path containing '/'.
     * NULL: the PROKIO_BACKEND environment variable, else automatic
     * (io_uring if the kernel allows it, then the others). An explicit
     * choice that fails is an error; only automatic selection falls back. */
    const char *backend;
} prokio_runtime_options_t;

#define PROKIO_RUNTIME_OPTIONS_INIT                                                                \
    {                                                                                              \
        sizeof(prokio_runtime_options_t), 0, NULL                                                  \
    }

/* Creates a runtime and starts its workers. opts may be NULL (defaults).
 * On failure nothing is left behind, *out is NULL and prokio_last_error()
 * names the backend, the file and the reason.
 * Ownership: *out is the caller's; end it with prokio_runtime_free.
 * Thread: not a worker thread. */
int prokio_runtime_new(prokio_runtime_t **out, const prokio_runtime_options_t *opts);

/* Shuts the runtime down: no new task starts; every task still alive is
 * cancelled on its worker (its timers disarmed, its drop function run once);
 * the workers exit and are joined. JoinHandles stay valid and report
 * PROKIO_ECANCELED for the tasks cancelled. Idempotent.
 * Returns 0, or PROKIO_EDEADLK when called from a worker thread.
 * Thread: not a worker thread. */
int prokio_runtime_shutdown(prokio_runtime_t *rt);

/* Shuts the runtime down if needed, then frees it. Returns PROKIO_EBUSY,
 * freeing nothing, while JoinHandles, wakers or io registrations that belong
 * to it are still held: release them and call again.
 * Ownership: rt is gone after a 0 return. Thread: not a worker thread. */
int prokio_runtime_free(prokio_runtime_t *rt);

/* The name of the backend the runtime runs on ("uring"). Lifetime: as long
 * as rt. Thread: any. */
const char *prokio_runtime_backend_name(const prokio_runtime_t *rt);

/* The number of workers. Thread: any. */
unsigned prokio_runtime_workers(const prokio_runtime_t *rt);

/* What the loader knows about one backend (prokio_backend_probe_all,
 * prokio_runtime_backend_report). Versioned by size like the options.
 * Lifetime: the strings are valid during the callback (probe_all) or as
 * long as the runtime (runtime_backend_report). */
typedef struct prokio_backend_report {
    size_t size;
    const char *name;     /* "uring" */
    const char *path;     /* the shared object */
    const char *version;  /* the backend's own version string */
    unsigned abi_version; /* (major << 16 | minor) the backend implements */
    uint64_t caps;        /* PROKIO_BACKEND_CAP_* of prokio/backend.h */
    int status;           /* 0: starts on this machine; < 0: why not */
    const char *error;    /* with status < 0: the loader's message */
} prokio_backend_report_t;

typedef void (*prokio_backend_report_fn)(const prokio_backend_report_t *report, void *arg);

/* Finds every backend in the search directories (PROKIO_BACKEND_PATH, then
 * the built-in directory), loads it, starts a loop of it on the calling
 * thread and reports the outcome, one call per file, in search order.
 * Returns the number of backends found. Thread: not a worker thread. */
int prokio_backend_probe_all(prokio_backend_report_fn report, void *arg);

/* Writes the search directories, separated by ':', into buf (cap bytes,
 * NUL-terminated, truncated if needed); returns the length needed.
 * Thread: any. */
size_t prokio_backend_dirs(char *buf, size_t cap);

/* Fills *report for the backend the runtime runs on (status 0). Set
 * report->size first. Thread: any. */
void prokio_runtime_backend_report(const prokio_runtime_t *rt, prokio_backend_report_t *report);

/* Runs a task to completion from ordinary code: spawns poll with a copy of
 * `frame` on a worker, blocks until it ends, copies the final frame back into
 * `frame` (so outputs are readable there) and returns the task's result
 * (0, its error, or PROKIO_ECANCELED if the runtime shut down first).
 * Thread: not a worker thread (PROKIO_EDEADLK otherwise). */
int prokio_block_on(prokio_runtime_t *rt, prokio_poll_fn poll, void *frame, size_t frame_size,
                    prokio_drop_fn drop);

/* ----------------------------------------------------------------- tasks */

/* Spawns a task on a worker chosen by load (the less loaded of two picked at
 * random; from a worker thread with one worker, that worker).
 *   frame, frame_size  the initial frame, copied; frame may be NULL for a
 *                      zero-filled frame. The copy is 16-byte aligned.
 *   drop               optional, see prokio_drop_fn.
 *   join_out           receives a JoinHandle, or NULL to detach at once.
 * A failed spawn does nothing but set *join_out to NULL: drop is not called
 * and nothing is queued.
 * Ownership: *join_out is the caller's, to end with prokio_task_release.
 * Thread: any. */
int prokio_spawn(prokio_runtime_t *rt, prokio_poll_fn poll, const void *frame, size_t frame_size,
                 prokio_drop_fn drop, prokio_task_t **join_out);

/* Spawns on the current worker, the one running the task that owns cx.
 * Thread: the worker of cx. */
int prokio_spawn_local(prokio_cx_t *cx, prokio_poll_fn poll, const void *frame, size_t frame_size,
                       prokio_drop_fn drop, prokio_task_t **join_out);

/* Spawns on worker `worker` (0 .. prokio_runtime_workers()-1).
 * Thread: any. */
int prokio_spawn_on(prokio_runtime_t *rt, unsigned worker, prokio_poll_fn poll, const void *frame,
                    size_t frame_size, prokio_drop_fn drop, prokio_task_t **join_out);

/* Awaits a task from another task: PROKIO_PENDING until it ends, then its
 * result (as prokio_task_result). Only one task at a time may await a given
 * handle. Thread: worker thread. */
int prokio_task_join_poll(prokio_task_t *task, prokio_cx_t *cx);

/* Blocks the calling thread until the task ends; returns its result.
 * Thread: not a worker thread (PROKIO_EDEADLK otherwise). */
int prokio_task_join(prokio_task_t *task);

/* The task's result: PROKIO_PENDING while it runs; then 0 if it
 * succeeded, its negative code if it failed, PROKIO_ECANCELED if it was
 * cancelled. Thread: any. */
int prokio_task_result(const prokio_task_t *task);

/* The task's frame: read outputs here once the task has ended.
 * Lifetime: until prokio_task_release. Thread: any, after the task ended
 * (before that the frame belongs to the running task). */
void *prokio_task_frame(prokio_task_t *task);

/* Requests cancellation. The task's worker stops polling it, disarms its
 * timers and runs its drop function; the result becomes PROKIO_ECANCELED
 * unless the task had already ended. Returns at once. Thread: any. */
void prokio_task_abort(prokio_task_t *task);

/* Releases the JoinHandle. A task still running is detached and goes on.
 * Ownership: task is gone for the caller. Thread: any. */
void prokio_task_release(prokio_task_t *task);

/* ------------------------------------------------------- context, wakers */

/* The waker of the task being polled.
 * Lifetime: borrowed for the duration of the poll; clone it to keep it. */
prokio_waker_t *prokio_cx_waker(prokio_cx_t *cx);

/* The runtime and worker index of the current poll. */
prokio_runtime_t *prokio_cx_runtime(prokio_cx_t *cx);
unsigned prokio_cx_worker(prokio_cx_t *cx);

/* The worker's clock (the backend's, monotonic, nanoseconds): the time base
 * of sleep deadlines. */
uint64_t prokio_cx_now_ns(prokio_cx_t *cx);

/* Yields: schedules the current task again, behind the tasks already ready,
 * and returns PROKIO_PENDING for poll to return. */
int prokio_yield(prokio_cx_t *cx);

/* Wakers. A waker is a counted reference to a task (or to a thread blocked
 * in prokio_block_on / prokio_task_join). Waking a task that is running
 * makes it run again after the current poll; waking a finished task does
 * nothing; any number of wakes before the task runs make it run once.
 * Ownership: clone returns a new reference; wake and drop consume one;
 * wake_by_ref does not. Thread: any. */
prokio_waker_t *prokio_waker_clone(prokio_waker_t *waker);
void prokio_waker_wake(prokio_waker_t *waker);
void prokio_waker_wake_by_ref(prokio_waker_t *waker);
void prokio_waker_drop(prokio_waker_t *waker);
/* True when both wake the same task: keep the stored waker, skip a clone. */
bool prokio_waker_will_wake(const prokio_waker_t *a, const prokio_waker_t *b);

/* ------------------------------------------------------------------ time */

/* A sleep, embedded in your frame (opaque storage; no allocation).
 * init sets the duration; the clock starts at the first poll, which reads
 * the worker's clock. init_until sets an absolute deadline on the worker's
 * clock (prokio_cx_now_ns). poll returns PROKIO_PENDING, then 0 once
 * now >= deadline: never early. Deadlines that overflow saturate to "never".
 * Initialise zeroed or initialised memory only (frames start zeroed or as
 * you copied them); initialising a sleep that is armed disarms it first.
 * A task that ends (or is cancelled) with a sleep armed has it disarmed by
 * the runtime. To abandon a sleep while the task goes on, call
 * prokio_sleep_cancel (or initialise it again) before reusing its memory
 * for anything else.
 * Thread: the owning worker, i.e. the worker of the task that polls it. */
#define PROKIO_SLEEP_SIZE 96
typedef struct prokio_sleep {
    _Alignas(8) unsigned char opaque[PROKIO_SLEEP_SIZE];
} prokio_sleep_t;

void prokio_sleep_init(prokio_sleep_t *sleep, uint64_t duration_ns);
void prokio_sleep_init_until(prokio_sleep_t *sleep, uint64_t deadline_ns);
int prokio_sleep_poll(prokio_sleep_t *sleep, prokio_cx_t *cx);
void prokio_sleep_cancel(prokio_sleep_t *sleep);

/* ------------------------------------------------------------ readiness */

#define PROKIO_READABLE 0x1u
#define PROKIO_WRITABLE 0x2u

/* Registers a non-blocking descriptor with the current worker, so that tasks
 * of this worker can wait for it to become readable or writable. This is the
 * leaf future every I/O primitive builds on. Register a descriptor once per
 * worker: some backends refuse a second registration (PROKIO_EEXIST).
 * Ownership: the descriptor stays the caller's (Prokio never closes it);
 * *out is the caller's, to end with prokio_io_free before closing fd.
 * Thread: worker thread; the registration belongs to that worker. */
int prokio_io_new(prokio_cx_t *cx, int fd, prokio_io_t **out);

/* Awaits readiness: returns PROKIO_PENDING, or the mask of `interest`
 * directions that are ready (> 0), or a negative code. Readiness is cached:
 * after a read or write fails with EAGAIN, call prokio_io_clear_ready for
 * that direction, then poll again. One task per direction may wait at a
 * time (a reader and a writer may wait together).
 * Thread: the owning worker (PROKIO_EXDEV from another). */
int prokio_io_poll_ready(prokio_io_t *io, unsigned interest, prokio_cx_t *cx);

/* Forgets cached readiness for `events` (call it on EAGAIN).
 * Thread: the owning worker. */
void prokio_io_clear_ready(prokio_io_t *io, unsigned events);

/* The registered descriptor. Thread: any. */
int prokio_io_fd(const prokio_io_t *io);

/* Deregisters and frees. A task still waiting on io is woken, so that it
 * does not sleep for ever; it must not poll io again (your own protocol
 * tells it why: a flag in the frame, a closed channel). After runtime
 * shutdown this only frees memory. Returns 0, or PROKIO_EXDEV (nothing
 * done) when called off the owning worker while the runtime runs.
 * Ownership: io is gone; the descriptor is still the caller's to close.
 * Thread: the owning worker, or any thread after prokio_runtime_shutdown. */
int prokio_io_free(prokio_io_t *io);

/* --------------------------------------------------------------- oneshot */

/* A oneshot channel carries one value of value_size bytes (0 for a bare
 * signal) from a sender to a receiver, across workers and threads.
 * Ownership: *tx and *rx are the caller's; each end is consumed exactly once
 * (send or tx_drop; rx_drop). Thread: any. */
typedef struct prokio_oneshot_tx prokio_oneshot_tx_t;
typedef struct prokio_oneshot_rx prokio_oneshot_rx_t;

int prokio_oneshot_new(size_t value_size, prokio_oneshot_tx_t **tx, prokio_oneshot_rx_t **rx);

/* Sends a copy of value_size bytes at `value` (NULL when value_size is 0)
 * and consumes tx. Returns 0, or PROKIO_EPIPE when the receiver is gone: the
 * value was not delivered and is still the caller's. Thread: any. */
int prokio_oneshot_send(prokio_oneshot_tx_t *tx, const void *value);

/* Drops the sender without sending: the receiver gets PROKIO_EPIPE.
 * Thread: any. */
void prokio_oneshot_tx_drop(prokio_oneshot_tx_t *tx);

/* True once the receiver is gone (sending would fail). Thread: any. */
bool prokio_oneshot_tx_is_closed(const prokio_oneshot_tx_t *tx);

/* Awaits the value: PROKIO_PENDING, then 0 with the value copied to
 * value_out (may be NULL when value_size is 0), or PROKIO_EPIPE if the
 * sender was dropped. Cancel-safe: a value is never lost by not polling
 * again. After a result, only rx_drop is valid. Thread: worker thread. */
int prokio_oneshot_recv_poll(prokio_oneshot_rx_t *rx, prokio_cx_t *cx, void *value_out);

/* Drops the receiver; a value sent and not received is discarded.
 * Thread: any. */
void prokio_oneshot_rx_drop(prokio_oneshot_rx_t *rx);

#ifdef __cplusplus
}
#endif

#include <prokio/coro.h>

#endif /* PROKIO_H */
