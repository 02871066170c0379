/* prokio/runtime.h: runtimes: creating one, shutting it down, finding the
 * one the calling code runs on. Part of prokio.h. */
#ifndef PROKIO_RUNTIME_H
#define PROKIO_RUNTIME_H

#include <prokio/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Options for prokio_runtime_new. Versioned by size: initialise with
 * PROKIO_RUNTIME_OPTIONS_INIT so that `size` is set; fields are only ever
 * appended, and the library reads only the fields your `size` covers.
 * Ownership: the caller's; the library copies what it needs. */
typedef struct prokio_runtime_options {
    size_t size; /* sizeof(prokio_runtime_options_t); set by the INIT macro */
    /* 0: one per CPU the process may run on. A backend for a host that
     * cannot block (WebAssembly's) runs exactly one worker, the host's
     * thread, whatever this asks: prokio_runtime_workers() says 1. */
    unsigned workers;
    /* A backend name ("uring", "event", "uv"; "wasm", the only one on
     * WebAssembly) or a path containing '/'.
     * NULL: the PROKIO_BACKEND environment variable, else automatic
     * (io_uring if the kernel allows it, then the others). An explicit
     * choice that fails is an error; only automatic selection falls back. */
    const char *backend;
    /* true: the clock starts paused (prokio_runtime_time_pause before any
     * task runs), as Tokio's start_paused, for tests of timeouts. */
    bool start_paused;
    /* The blocking pool (prokio/blocking.h): at most this many threads
     * (0: 512, as Tokio), each ending after blocking_keep_alive_ms idle
     * (0: 10,000 ms). */
    unsigned max_blocking_threads;
    unsigned blocking_keep_alive_ms;
} prokio_runtime_options_t;

#define PROKIO_RUNTIME_OPTIONS_INIT                                                                \
    {                                                                                              \
        sizeof(prokio_runtime_options_t), 0, NULL, false, 0, 0                                     \
    }

/* Creates a runtime and starts its workers. opts may be NULL (defaults).
 * Backends are searched in PROKIO_BACKEND_PATH (directories separated by
 * ':'), then in the built-in directory (PROKIO_BACKEND_DIR replaces it); a
 * program run from a build tree that has not been installed uses that build
 * tree's backends instead of the built-in directory.
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

/* Shuts the runtime down if needed, then gives up the creator's reference.
 * Returns PROKIO_EBUSY, doing nothing more, while JoinHandles, wakers or
 * registered descriptors that belong to it are still held: release them and
 * call again. After a 0 return rt is gone for the caller; its memory goes
 * with the last clone (prokio_runtime_clone), at once if there is none.
 * Thread: not a worker thread. */
int prokio_runtime_free(prokio_runtime_t *rt);

/* The runtime whose worker thread is calling: inside a task's poll, a drop
 * function, or anything they call (a library that was not handed cx), as
 * Tokio's Handle::current(). NULL on any other thread, which is how code
 * learns that it does not run on a worker.
 * Lifetime: borrowed, valid while the calling code runs on that worker. To
 * keep it longer (a library storing it to spawn later), take a clone.
 * Thread: any. */
prokio_runtime_t *prokio_runtime_current(void);

/* A counted reference to rt, for code that keeps a runtime pointer it did
 * not create: the pointer then never dangles. The creator's
 * prokio_runtime_free is not delayed by clones: it shuts the runtime down as
 * usual, after which spawning through a clone fails with PROKIO_ESHUTDOWN
 * and prokio_runtime_is_shut_down() says true; that is how a library learns
 * the runtime is gone, and then it releases its clone. The memory is freed
 * when the creator has freed the runtime and the last clone is released.
 * Returns rt (NULL for NULL).
 * Ownership: the clone is the caller's, to end with prokio_runtime_release.
 * Thread: any, as long as the caller holds a valid pointer (the creator's,
 * another clone, or prokio_runtime_current() on a worker). */
prokio_runtime_t *prokio_runtime_clone(prokio_runtime_t *rt);

/* Gives up a clone. The last one, after the creator's prokio_runtime_free,
 * frees the runtime's memory. Never give up the creator's reference this
 * way: that is prokio_runtime_free's job (a release without a clone to give
 * up is ignored). Thread: any; the last release never blocks. */
void prokio_runtime_release(prokio_runtime_t *rt);

/* True once prokio_runtime_shutdown (or _free) has begun: spawns fail from
 * then on. Thread: any. */
bool prokio_runtime_is_shut_down(const prokio_runtime_t *rt);

/* The name of the backend the runtime runs on ("uring"). Lifetime: as long
 * as rt. Thread: any. */
const char *prokio_runtime_backend_name(const prokio_runtime_t *rt);

/* The number of workers. Thread: any. */
unsigned prokio_runtime_workers(const prokio_runtime_t *rt);

/* Runs a task to completion from ordinary code: spawns poll with a copy of
 * `frame` on a worker, blocks the calling thread until it ends, copies the
 * final frame back into `frame` (so outputs are readable there) and returns
 * the task's result (whatever its poll returned, or PROKIO_ECANCELED if the
 * runtime shut down first). A failure to start (no memory, a runtime shut
 * down) returns before anything is spawned. frame may be NULL (a
 * zero-filled frame of frame_size bytes, nothing copied back).
 * Thread: not a worker thread (PROKIO_EDEADLK otherwise). */
int prokio_runtime_block_on(prokio_runtime_t *rt, prokio_poll_fn poll, void *frame,
                            size_t frame_size, prokio_drop_fn drop);

/* On WebAssembly (emscripten) the calling thread is the JS thread, which
 * cannot block: block_on, prokio_task_blocking_join and every
 * prokio_*_blocking_* call return PROKIO_ENOTSUP there, saying so in
 * prokio_last_error(), unless the program is linked with -sASYNCIFY, in
 * which case they block by yielding to the JS event loop until woken
 * (emscripten_sleep), exactly as they block natively. Programs meant for
 * both targets use prokio_runtime_run_main instead. */

/* The entry point of a program that runs on every target: runs poll (with
 * a copy of `frame`, or a zero-filled frame when frame is NULL) as the root
 * task, then frees the runtime and ends the program with the task's result
 * as its exit status: the result itself when it is 0 to 255, otherwise 1,
 * after printing the error on stderr. Write `return
 * prokio_runtime_run_main(rt, ...);` at the end of main.
 *   Natively it blocks like prokio_runtime_block_on, frees rt and returns
 *   that exit status (main's return ends the program).
 *   On WebAssembly it spawns the root task and leaves main at once without
 *   ending the program (emscripten_exit_with_live_runtime: nothing after
 *   the call runs); the JS event loop then drives the runtime, and when the
 *   root task ends the runtime is freed and the program exits with the
 *   status (exit()). Link with -sEXIT_RUNTIME=1 so that node's exit code is
 *   that status. Under node the status is 1 until then: a root task that
 *   can never end (node's event loop runs dry) fails, with a line on
 *   stderr, rather than pass for a success. Outputs belong in what the task prints or returns: the
 *   final frame is copied back into `frame` natively only.
 * A failure to start returns (natively and on wasm) a status of 1 with
 * prokio_last_error() set and the runtime freed; a NULL rt or poll returns
 * PROKIO_EINVAL and takes nothing.
 * Ownership: takes rt, whatever happens. Thread: the thread that created
 * rt, not a worker (1 and PROKIO_EDEADLK in prokio_last_error otherwise,
 * rt not freed). */
int prokio_runtime_run_main(prokio_runtime_t *rt, prokio_poll_fn poll, void *frame,
                            size_t frame_size, prokio_drop_fn drop);

/* When a worker's backend fails for good (its wait keeps failing, which a
 * working backend never does), that worker stops: its tasks end with the
 * backend's error code as their result, spawns onto it fail with
 * PROKIO_EIO, and the failure is printed once on stderr, whatever
 * PROKIO_DEBUG says. The other workers go on; shutdown and free work as
 * usual. */

#ifdef __cplusplus
}
#endif
#endif /* PROKIO_RUNTIME_H */
