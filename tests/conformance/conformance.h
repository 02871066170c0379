/* tests/conformance/conformance.h: helpers shared by the public-API suite.
 *
 * The suite is one cmocka group (conformance.c) split into files by area.
 * Every file follows the same rules:
 *   - cmocka's assertions longjmp, so they run on the main thread only.
 *     Tasks, drop functions and helper threads record what they saw in
 *     their frames or in shared structs; the test asserts afterwards.
 *   - No sleeps as synchronisation: threads wait for a flag another thread
 *     sets, tasks wait for wakes. Every wait is bounded (conf_timeout_ns(),
 *     scaled like the watchdog) and a wait that times out fails its test
 *     with what it waited for, instead of hanging the suite until the
 *     watchdog ends it: CONF_WAIT_FLAG on the main thread, conf_wait_flag
 *     on other threads, struct conf_timeout in tasks.
 *   - A task run to its end reads as one call: conf_run_on (spawn, block,
 *     copy the final frame back, release) or conf_join (the last three).
 *   - Every test ends with test_runtime_free, which fails if anything the
 *     runtime owned is still held.
 *   - Counts are exact: a drop that runs twice, a poll too many or a task
 *     that is never polled all fail. */
#ifndef PROKIO_TESTS_CONFORMANCE_H
#define PROKIO_TESTS_CONFORMANCE_H

#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>

#include "common.h"

#ifdef __EMSCRIPTEN__
#include <emscripten.h>
#endif

/* ------------------------------------------------------------ drop checks */

/* Shared by the tasks of one test: how many drop functions ran, and how
 * many of them ran on a thread other than their task's worker. */
struct drops {
    atomic_int n;
    atomic_int wrong_thread;
};

/* The first member of every tracked frame. `thread` is the worker thread the
 * task must run on and be dropped on: set it before spawning (spawn_on), or
 * leave `known` false and track_poll records it at the first poll. `drops`
 * and `polls` count this task's, in the frame, which stays readable through
 * the JoinHandle after the task ended. */
struct track {
    struct drops *d;
    pthread_t thread;
    bool known;
    int drops;
    int polls;
};

/* Call at the top of every poll: counts it, and counts a poll on another
 * thread than the first (tasks never migrate) as a wrong thread. */
static inline void track_poll(struct track *t)
{
    t->polls++;
    if (!t->known) {
        t->thread = pthread_self();
        t->known = true;
    } else if (t->d && !pthread_equal(pthread_self(), t->thread)) {
        atomic_fetch_add(&t->d->wrong_thread, 1);
    }
}

/* Call from a drop function (or use track_drop directly). */
static inline void track_dropped(struct track *t)
{
    t->drops++;
    if (t->d) {
        if (t->known && !pthread_equal(pthread_self(), t->thread))
            atomic_fetch_add(&t->d->wrong_thread, 1);
        atomic_fetch_add(&t->d->n, 1);
    }
}

static inline void track_drop(void *frame)
{
    track_dropped(frame);
}

/* A task gated by a oneshot: it waits for an int on `rx`, stores it in
 * `value`, and ends with `ret` (or the receive error). `started`, when set,
 * is incremented at every poll that returns pending. Its drop releases rx
 * if the task did not get that far. */
struct gated {
    struct track tr;
    prokio_oneshot_rx_t *rx;
    atomic_int *started;
    int ret;
    int value;
    int recv_rc;
};

int conf_gated_poll(void *frame, prokio_cx_t *cx);
void conf_gated_drop(void *frame);

/* Makes a gated task's frame and the sender that opens it. */
void conf_gated_init(struct gated *g, struct drops *d, int ret, prokio_oneshot_tx_t **tx);

/* ---------------------------------------------------------- worker threads */

#define CONF_MAX_WORKERS 16

/* Records the thread of every worker: `out[i]` is worker i's thread. */
void conf_worker_threads(prokio_runtime_t *rt, pthread_t *out);

/* A task that never ends on its own: it parks until aborted or cancelled
 * (it keeps no waker, so nothing can wake it). Frame: struct track. */
int conf_park_forever(void *frame, prokio_cx_t *cx);

/* A task that returns the int its frame holds, at its first poll. */
int conf_value_poll(void *frame, prokio_cx_t *cx);

/* ------------------------------------------------ one worker on wasm */

/* The same suite runs on WebAssembly (issue 7), where a runtime has one
 * worker, the JS thread. A test whose point survives on one worker, running
 * on several being incidental, asks for conf_workers(n) (n natively, 1 on
 * wasm) and names workers through conf_worker and conf_other, which fold
 * onto the workers the runtime has: natively it tests exactly what it did
 * with n workers. A test whose point is several workers at once keeps
 * test_runtime(n), which skips on wasm with its reason. */
static inline unsigned conf_workers(unsigned n)
{
#ifdef __EMSCRIPTEN__
    (void)n;
    return 1;
#else
    return n;
#endif
}

/* Worker i of a test written for several: i modulo the workers rt has. */
static inline unsigned conf_worker(prokio_runtime_t *rt, unsigned i)
{
    return i % prokio_runtime_workers(rt);
}

/* The worker after w (the other one of two; w itself when there is one). */
static inline unsigned conf_other(prokio_runtime_t *rt, unsigned w)
{
    return (w + 1) % prokio_runtime_workers(rt);
}

/* --------------------------------------------------------------- waiting */

static inline uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* How long any wait of the suite may take before it counts as lost (10 s,
 * scaled like the watchdog), and so the bound of "promptly". */
static inline uint64_t conf_timeout_ns(void)
{
    return PROKIO_SEC(10) * test_timeout_scale();
}

/* Yields once; false once mono_ns() reached `deadline`. A bounded wait for
 * anything reads
 *     for (uint64_t end = mono_ns() + conf_timeout_ns(); !cond;)
 *         if (!conf_yield_before(end)) -> timed out */
static inline bool conf_yield_before(uint64_t deadline)
{
#ifdef __EMSCRIPTEN__
    /* The JS thread is the worker too: let the event loop drive it (the
     * suite is linked with -sASYNCIFY, tests/wasm/Makefile.inc). */
    emscripten_sleep(0);
#else
    sched_yield();
#endif
    return mono_ns() < deadline;
}

/* Waits until *flag >= value; false if conf_timeout_ns() passed first. For
 * helper threads, and for a poll that holds its worker on purpose: they
 * record the timeout where the test asserts it. */
bool conf_wait_flag(atomic_int *flag, int value);

/* The same on the main thread, where a timeout fails the test and says what
 * it waited for. */
#define CONF_WAIT_FLAG(flag, value)                                                                \
    do {                                                                                           \
        if (!conf_wait_flag((flag), (value)))                                                      \
            fail_msg("timed out waiting for %s >= %s (it is %d)", #flag, #value,                   \
                     atomic_load(flag));                                                           \
    } while (0)

/* A task's bound on a wait that a lost wake would make endless: a sleep of
 * conf_timeout_ns(), armed by the first call. The task polls it next to what
 * it awaits and, once it says true, ends with a reason in its frame instead
 * of hanging until the watchdog ends the whole suite. Frame storage, zeroed
 * like the rest of the frame. */
struct conf_timeout {
    prokio_sleep_t s;
    int armed;
};

static inline bool conf_timed_out(struct conf_timeout *t, prokio_cx_t *cx)
{
    if (!t->armed) {
        prokio_sleep_init(&t->s, conf_timeout_ns());
        t->armed = 1;
    }
    return prokio_sleep_poll(&t->s, cx) == 0;
}

/* Disarms it; the next conf_timed_out() starts a new bound. */
static inline void conf_timeout_cancel(struct conf_timeout *t)
{
    prokio_sleep_cancel(&t->s);
    t->armed = 0;
}

/* ------------------------------------------------------- running tasks */

/* Any worker: conf_run_on spawns with prokio_spawn. */
#define CONF_ANY UINT_MAX

/* Blocks until the task of `h` ends, copies its final frame to frame_out
 * (`size` bytes; nothing when frame_out is NULL), releases h and returns
 * the task's result. Main thread. */
int conf_join(prokio_task_t *h, void *frame_out, size_t size);

/* Spawns poll with a copy of *frame on `worker` (or CONF_ANY), then
 * conf_join into *frame: prokio_runtime_block_on with a choice of worker.
 * A failed spawn fails the test at the caller's line. Main thread. */
#define conf_run_on(rt, worker, poll, frame, size, drop)                                           \
    conf_run_on_(__FILE__, __LINE__, rt, worker, poll, frame, size, drop)
int conf_run_on_(const char *file, int line, prokio_runtime_t *rt, unsigned worker,
                 prokio_poll_fn poll, void *frame, size_t size, prokio_drop_fn drop);

/* The backend name the runner asked for (PROKIO_BACKEND, a name or a path
 * ending in prokio-NAME.so), or NULL when automatic. */
const char *conf_expected_backend(void);

/* --------------------------------------------------------------- tests */

#define CONF_TESTS(X)                                                                              \
    /* runtime.c */                                                                                \
    X(runtime_defaults)                                                                            \
    X(runtime_workers)                                                                             \
    X(runtime_backend_report)                                                                      \
    X(runtime_options_invalid)                                                                     \
    X(runtime_options_versions)                                                                    \
    X(runtime_edeadlk)                                                                             \
    X(runtime_many)                                                                                \
    X(runtime_current)                                                                             \
    X(runtime_clone)                                                                               \
    /* tasks.c */                                                                                  \
    X(spawn_from_main)                                                                             \
    X(spawn_frames)                                                                                \
    X(spawn_from_task)                                                                             \
    X(spawn_local_same_worker)                                                                     \
    X(spawn_on_each_worker)                                                                        \
    X(spawn_invalid)                                                                               \
    X(result_pending_while_running)                                                                \
    X(result_exact)                                                                                \
    X(join_poll_before_finish)                                                                     \
    X(join_poll_after_finish)                                                                      \
    X(join_poll_repoll)                                                                            \
    X(join_from_threads)                                                                           \
    X(block_on_frame)                                                                              \
    X(detach)                                                                                      \
    X(coro_macros)                                                                                 \
    X(yield_order)                                                                                 \
    X(handle_handover)                                                                             \
    X(join_last_poller_woken)                                                                      \
    X(join_blocked_thread_kept)                                                                    \
    X(join_blocking_takes_over)                                                                    \
    X(spawn_many)                                                                                  \
    X(drop_reenters)                                                                               \
    /* abort.c */                                                                                  \
    X(abort_before_first_poll)                                                                     \
    X(abort_from_main_at_once)                                                                     \
    X(abort_parked_on_long_sleep)                                                                  \
    X(abort_self)                                                                                  \
    X(abort_running)                                                                               \
    X(abort_from_other_worker)                                                                     \
    X(abort_after_completion)                                                                      \
    /* wakers.c */                                                                                 \
    X(waker_wake_from_thread)                                                                      \
    X(waker_wake_by_ref_from_thread)                                                               \
    X(waker_wake_from_main)                                                                        \
    X(waker_coalesce)                                                                              \
    X(waker_coalesce_threads)                                                                      \
    X(waker_wake_while_running)                                                                    \
    X(waker_finished_task)                                                                         \
    X(waker_will_wake)                                                                             \
    /* timers.c */                                                                                 \
    X(sleep_order)                                                                                 \
    X(sleep_never_early)                                                                           \
    X(sleep_immediate)                                                                             \
    X(sleep_huge)                                                                                  \
    X(sleep_cancel)                                                                                \
    X(sleep_reinit_armed)                                                                          \
    X(sleep_armed_at_end)                                                                          \
    X(sleep_repoll_expired)                                                                        \
    X(sleep_repoll_cancelled)                                                                      \
    X(sleep_uninit)                                                                                \
    X(sleep_many)                                                                                  \
    /* io.c */                                                                                     \
    X(io_read_rounds)                                                                              \
    X(io_ready_before_register)                                                                    \
    X(io_writable)                                                                                 \
    X(io_reader_and_writer)                                                                        \
    X(io_peer_close)                                                                               \
    X(io_exdev)                                                                                    \
    X(io_invalid)                                                                                  \
    X(io_free_wakes_waiter)                                                                        \
    X(io_left_at_shutdown)                                                                         \
    X(io_fd_reuse)                                                                                 \
    X(io_same_fd_two_workers)                                                                      \
    X(io_many)                                                                                     \
    /* errors.c */                                                                                 \
    X(errors)                                                                                      \
    X(error_messages)                                                                              \
    X(error_kept_by_join)                                                                          \
    /* oneshot.c */                                                                                \
    X(oneshot_cross_worker)                                                                        \
    X(oneshot_send_from_thread)                                                                    \
    X(oneshot_send_before_recv)                                                                    \
    X(oneshot_tx_release)                                                                          \
    X(oneshot_rx_release)                                                                          \
    X(oneshot_size0)                                                                               \
    X(oneshot_repoll)                                                                              \
    X(oneshot_many)                                                                                \
    /* coop.c */                                                                                   \
    X(coop_busy_pair_does_not_starve_timer)                                                        \
    /* oneshot_local.c */                                                                          \
    X(oneshot_local_ping_pong)                                                                     \
    X(oneshot_local_off_worker)                                                                    \
    X(oneshot_local_abort_waiting)                                                                 \
    X(oneshot_value_drop)                                                                          \
    X(oneshot_pooled_outlives_free)                                                                \
    X(oneshot_blocking_recv)                                                                       \
    /* shutdown.c */                                                                               \
    X(shutdown_every_state)                                                                        \
    X(shutdown_idle)                                                                               \
    X(shutdown_wakes_blocked_threads)                                                              \
    X(shutdown_large_frames)                                                                       \
    X(free_busy_while_waker_held)                                                                  \
    /* mpsc.c */                                                                                   \
    X(mpsc_cross_worker)                                                                           \
    X(mpsc_recv_many)                                                                              \
    X(mpsc_try)                                                                                    \
    X(mpsc_unbounded)                                                                              \
    X(mpsc_drops)                                                                                  \
    X(mpsc_close_rx)                                                                               \
    X(mpsc_close_permit_held)                                                                      \
    X(mpsc_close_tx)                                                                               \
    X(mpsc_abort_waiting_sender)                                                                   \
    X(mpsc_cancel_granted)                                                                         \
    X(mpsc_fifo)                                                                                   \
    X(mpsc_threads)                                                                                \
    X(mpsc_local)                                                                                  \
    X(mpsc_coop)                                                                                   \
    /* select.c: select and join-all */                                                            \
    X(select_first_ready)                                                                          \
    X(select_biased_cancels)                                                                       \
    X(select_fair)                                                                                 \
    X(select_keep)                                                                                 \
    X(select_abort_waiting)                                                                        \
    X(join_all_collects)                                                                           \
    /* group.c: task groups */                                                                     \
    X(group_completion_order)                                                                      \
    X(group_empty)                                                                                 \
    X(group_current_runtime)                                                                       \
    X(group_abort_all)                                                                             \
    X(group_free_running)                                                                          \
    X(group_blocking)                                                                              \
    X(group_many)                                                                                  \
    /* broadcast.c */                                                                              \
    X(bcast_every_receiver)                                                                        \
    X(bcast_many_senders)                                                                          \
    X(bcast_lag_and_drops)                                                                         \
    X(bcast_lag_task)                                                                              \
    X(bcast_local)                                                                                 \
    X(bcast_blocking)                                                                              \
    X(bcast_abort_waiting)                                                                         \
    X(bcast_wait_cancel)                                                                           \
    X(bcast_coop)                                                                                  \
    /* watch.c */                                                                                  \
    X(watch_basics)                                                                                \
    X(watch_many_receivers)                                                                        \
    X(watch_close_and_abort)                                                                       \
    X(watch_wait_cancel)                                                                           \
    X(watch_local)                                                                                 \
    X(watch_blocking)                                                                              \
    X(watch_coop)                                                                                  \
    /* time.c */                                                                                   \
    X(interval_burst)                                                                              \
    X(interval_delay)                                                                              \
    X(interval_skip)                                                                               \
    X(interval_reset_cancel)                                                                       \
    X(interval_abort)                                                                              \
    X(timeout_paused)                                                                              \
    X(timeout_oneshot)                                                                             \
    X(timeout_join)                                                                                \
    X(time_pause_from_thread)                                                                      \
    X(time_auto_advance_workers)                                                                   \
    X(time_huge)                                                                                   \
    /* sync.c */                                                                                   \
    X(sync_mutex_fifo)                                                                             \
    X(sync_mutex_cancel)                                                                           \
    X(sync_mutex_threads)                                                                          \
    X(sync_local)                                                                                  \
    X(sync_coop_budget)                                                                            \
    X(sync_semaphore_fairness)                                                                     \
    X(sync_semaphore_cancel)                                                                       \
    X(sync_semaphore_close)                                                                        \
    X(sync_rwlock_writer_not_starved)                                                              \
    X(sync_notify_permit)                                                                          \
    X(sync_notify_waiters)                                                                         \
    X(sync_notify_enable)                                                                          \
    X(sync_barrier_generations)                                                                    \
    X(sync_barrier_cancel)                                                                         \
    X(sync_once_aborted_initialisers)                                                              \
    /* signal.c */                                                                                 \
    X(signal_wakes_waiting_task)                                                                   \
    X(signal_listeners_and_counts)                                                                 \
    X(signal_no_delivery_lost)                                                                     \
    X(signal_restores_disposition)                                                                 \
    X(signal_abort_waiting)                                                                        \
    X(signal_invalid)                                                                              \
    /* blocking.c */                                                                               \
    X(blocking_result_and_frame)                                                                   \
    X(blocking_worker_keeps_running)                                                               \
    X(blocking_abort_queued)                                                                       \
    X(blocking_abort_running)                                                                      \
    X(blocking_pool_bound)                                                                         \
    X(blocking_keep_alive)                                                                         \
    X(blocking_shutdown)                                                                           \
    X(blocking_invalid)                                                                            \
    /* resolve.c */                                                                                \
    X(resolve_localhost)                                                                           \
    X(resolve_numeric)                                                                             \
    X(resolve_not_found)                                                                           \
    X(resolve_invalid)                                                                             \
    X(resolve_abort_queued)                                                                        \
    X(resolve_abort_running)                                                                       \
    /* file.c */                                                                                   \
    X(file_write_read)                                                                             \
    X(file_open_errors)                                                                            \
    X(file_exdev)                                                                                  \
    X(file_abort_read)                                                                             \
    X(file_from_unseekable)                                                                        \
    /* net_addr.c: addresses, sockets without waiting */                                           \
    X(net_addr_parse_format)                                                                       \
    X(net_addr_invalid)                                                                            \
    X(net_listener_sync)                                                                           \
    X(net_adopt)                                                                                   \
    X(net_tcp_options)                                                                             \
    X(net_udp_sync)                                                                                \
    /* net_tcp.c */                                                                                \
    X(net_tcp_echo_v4)                                                                             \
    X(net_tcp_echo_v6)                                                                             \
    X(net_tcp_slow_reader)                                                                         \
    X(net_tcp_peer_reset)                                                                          \
    X(net_tcp_connect_refused)                                                                     \
    X(net_tcp_connect_timeout)                                                                     \
    /* net_dgram_unix.c */                                                                         \
    X(net_udp_v4)                                                                                  \
    X(net_udp_v6)                                                                                  \
    X(net_unix_stream)                                                                             \
    /* net_faults.c */                                                                             \
    X(net_abort_blocked)                                                                           \
    X(net_accept_emfile)                                                                           \
    X(net_exdev)                                                                                   \
    X(net_close_after_abandon)                                                                     \
    /* stats.c */                                                                                  \
    X(stats_idle_and_sizes)                                                                        \
    X(stats_tasks)                                                                                 \
    X(stats_read_completes)                                                                        \
    X(stats_read_aborted)                                                                          \
    X(stats_blocking_pool)                                                                         \
    X(stats_file_open)

#define CONF_DECLARE(name) void test_##name(void **state);
CONF_TESTS(CONF_DECLARE)
#undef CONF_DECLARE

#endif
