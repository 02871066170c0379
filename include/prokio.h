/* prokio.h: the Prokio asynchronous runtime for C.
 *
 * The one header an application includes. Link with -lprokio
 * (pkg-config prokio). It includes the topic headers below; each of them
 * also compiles on its own, in C and in C++.
 *
 *   prokio/types.h     the handles every topic shares, PROKIO_PENDING
 *   prokio/runtime.h   runtimes: create, shut down, find the current one
 *   prokio/task.h      spawning, JoinHandles, the poll context, wakers
 *   prokio/time.h      durations, the clock, sleeps
 *   prokio/fd.h        registered descriptors: awaiting readiness
 *   prokio/channel.h   channels (oneshot, mpsc, broadcast, watch)
 *   prokio/future.h    waits, cancel-safety, select and join-all
 *   prokio/group.h     task groups: spawn into a set, await each as it ends
 *   prokio/sync.h      Mutex, RwLock, Semaphore, Notify, Barrier, OnceCell
 *   prokio/signal.h    awaiting Unix signals (SIGINT, SIGTERM, ...)
 *   prokio/blocking.h  spawn_blocking: blocking work on a thread pool
 *   prokio/op.h        one I/O operation in progress (prokio_op_t)
 *   prokio/net.h       TCP, UDP and Unix sockets, addresses
 *   prokio/resolve.h   name resolution (getaddrinfo) on the blocking pool
 *   prokio/file.h      files: open, read and write at offsets, fsync, close
 *   prokio/stats.h     what a runtime has alive: tasks, I/O operations, pools
 *   prokio/coro.h      the coroutine macros
 *   prokio/js.h        JavaScript interop (WebAssembly; ENOTSUP natively)
 *   prokio/error.h     error codes and messages
 *   prokio/version.h   the library's version
 * Not included here: prokio/backend_info.h (which backends exist, which one
 * a runtime uses: for tools) and prokio/backend.h (the ABI backends are
 * written against).
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
 * The rules every name follows
 * ----------------------------
 *  1. Names. Functions are prokio_<noun>_<verb> (prokio_runtime_new,
 *     prokio_task_abort, prokio_fd_clear_ready); types are prokio_<noun>_t;
 *     callback types end in _fn; macros and constants are PROKIO_*.
 *
 *  2. Argument order. Out-parameters come first, the poll context cx comes
 *     last. So a constructor is prokio_<noun>_new(&out, ...), spawning (the
 *     constructor of a JoinHandle) is prokio_spawn(&join, rt, ...), and
 *     a call made from inside a poll ends with cx:
 *     prokio_fd_new(&fd, fileno, cx), prokio_oneshot_recv_poll(rx, &v, cx).
 *     An operation that queues takes its wait first, the future being
 *     polled, as a sleep is first in prokio_sleep_poll(sleep, cx); then the
 *     object, then inputs and value buffers: prokio_mutex_lock_poll(wait,
 *     mutex, cx), prokio_mpsc_send_poll(wait, tx, &v, cx).
 *
 *  3. One verb per kind of ownership.
 *       _free     destroys an object you own alone (a runtime, a registered
 *                 descriptor). The pointer is invalid afterwards.
 *       _clone    takes one more counted reference to the same thing (it
 *                 never copies the thing): prokio_waker_clone,
 *                 prokio_runtime_clone.
 *       _release  gives up a counted reference to something others may still
 *                 hold: a JoinHandle (the task runs on, detached), a waker,
 *                 a channel end (the channel lives on for the other end), a
 *                 runtime clone. It lives until its last reference goes.
 *       _cancel   abandons a leaf future embedded in your frame (a sleep);
 *                 its memory stays yours and may be initialised again.
 *     "drop" names only the destructors you hand to the runtime
 *     (prokio_drop_fn): the runtime calls them, you never call a _drop.
 *
 *  4. Awaiting and blocking. An awaitable call ends in _poll and keeps the
 *     poll contract below (prokio_sleep_poll, prokio_task_join_poll,
 *     prokio_fd_ready_poll, prokio_oneshot_recv_poll). A call that blocks
 *     the calling thread says so in its name (prokio_task_blocking_join,
 *     prokio_runtime_block_on) and fails with PROKIO_EDEADLK on a worker
 *     thread, whose other tasks it would block.
 *
 *  5. Errors. Functions return >= 0 on success and a negative PROKIO_E* code
 *     on failure (prokio/error.h), and every failure also sets the message
 *     prokio_last_error() returns, naming what was wrong and what to do.
 *     One exception: a poll function that hands on the result of what it
 *     awaits (prokio_task_join_poll returning the task's own negative
 *     result) did not fail, and leaves the message alone.
 *
 *  6. NULL. No function crashes on a NULL pointer. _free, _release and
 *     _cancel do nothing with NULL, as free(NULL) does (and return 0 where
 *     they return an int); any other function that returns an int answers
 *     PROKIO_EINVAL and names the argument in prokio_last_error(); the few
 *     others return NULL, 0 or false. Where
 *     NULL means something (no options, a zero-filled frame, no drop
 *     function, a detached spawn), the function says so.
 *
 *  7. Contracts. Every function says, in words you can grep for:
 *       Ownership:  who frees what,
 *       Lifetime:   how long a borrowed pointer stays valid,
 *       Thread:     "any thread", "worker thread" (a thread of the runtime:
 *                   inside a poll or a drop function), "the owning worker"
 *                   (the worker the object belongs to), or "not a worker
 *                   thread".
 *     No structure layout is yours to depend on, except
 *     prokio_runtime_options_t (versioned by its size) and the opaque
 *     storage types whose sizes are fixed (prokio_sleep_t).
 *
 * The poll contract
 * -----------------
 * A poll function (a task's prokio_poll_fn, or a leaf future's _poll)
 * returns PROKIO_PENDING after it arranged for its task to be woken, or a
 * result: any other int.
 *   - A task's result is exactly the int its poll function returned,
 *     positive values included (a task returning 42 reads 42 in
 *     prokio_task_result); PROKIO_ECANCELED if it was cancelled before it
 *     returned one.
 *   - A leaf future that returned a result returns the same result if it is
 *     polled again, without arming anything, until it is initialised again:
 *     a sleep that expired returns 0 again, a cancelled sleep
 *     PROKIO_ECANCELED, a finished task's join its result, a oneshot receive
 *     the value again (or PROKIO_EPIPE). Two kinds are different on
 *     purpose: prokio_fd_ready_poll, since readiness is a level, cached
 *     until you clear it; and the operations that take a prokio_wait_t
 *     (locks, permits, channel sends and the receives of multi-receiver
 *     channels: prokio/future.h), which consume what they return, so the
 *     wait is idle after a result and its next poll starts the next
 *     operation (lock again, receive the next value).
 *   - Cancel-safety: a task that ends with a leaf future armed (a sleep, a
 *     wait) has it disarmed by the runtime before its drop function runs;
 *     abandoning one while the task goes on is its _cancel. What each
 *     operation keeps or passes on when abandoned is written next to it, and
 *     gathered in README "Cancel-safety".
 */
#ifndef PROKIO_H
#define PROKIO_H

#include <prokio/types.h>
#include <prokio/error.h>
#include <prokio/version.h>
#include <prokio/runtime.h>
#include <prokio/task.h>
#include <prokio/future.h>
#include <prokio/time.h>
#include <prokio/fd.h>
#include <prokio/channel.h>
#include <prokio/group.h>
#include <prokio/sync.h>
#include <prokio/signal.h>
#include <prokio/blocking.h>
#include <prokio/op.h>
#include <prokio/net.h>
#include <prokio/resolve.h>
#include <prokio/file.h>
#include <prokio/stats.h>
#include <prokio/coro.h>
#include <prokio/js.h>

#endif /* PROKIO_H */
