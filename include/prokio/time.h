/* prokio/time.h: durations, the worker's clock, and sleeps. Part of
 * prokio.h. */
#ifndef PROKIO_TIME_H
#define PROKIO_TIME_H

#include <prokio/future.h>
#include <prokio/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Every duration and deadline in Prokio is in nanoseconds. */
#define PROKIO_NS(n)  ((uint64_t)(n))
#define PROKIO_US(n)  ((uint64_t)(n)*UINT64_C(1000))
#define PROKIO_MS(n)  ((uint64_t)(n)*UINT64_C(1000000))
#define PROKIO_SEC(n) ((uint64_t)(n)*UINT64_C(1000000000))

/* The worker's clock (the backend's, monotonic, nanoseconds): the time base
 * of sleep deadlines. Thread: the worker of cx. */
uint64_t prokio_cx_now_ns(prokio_cx_t *cx);

/* A sleep, embedded in your frame (opaque storage; no allocation).
 * init sets the duration; the clock starts at the first poll, which reads
 * the worker's clock. init_until sets an absolute deadline on the worker's
 * clock (prokio_cx_now_ns). Deadlines that overflow saturate to "never".
 * poll returns PROKIO_PENDING, then 0 once now >= deadline: never early.
 * Polled again after that, it returns 0 at once; after prokio_sleep_cancel,
 * PROKIO_ECANCELED; in both cases until it is initialised again. Memory
 * that was never initialised (zero-filled) returns PROKIO_EINVAL.
 * Initialise zeroed or initialised memory only (frames start zeroed or as
 * you copied them); initialising a sleep that is armed disarms it first.
 * A task that ends (or is cancelled) with a sleep armed has it disarmed by
 * the runtime. To abandon a sleep while the task goes on, call
 * prokio_sleep_cancel (or initialise it again) before reusing its memory
 * for anything else.
 * Cancel-safety: a sleep owns nothing but its place in the worker's timers;
 * abandoning it loses nothing (it stays armed until prokio_sleep_cancel or
 * its task's end, a wake at most).
 * Thread: the owning worker, i.e. the worker of the task that polls it. */
#define PROKIO_SLEEP_SIZE 96
typedef struct prokio_sleep {
    union {
        unsigned char opaque[PROKIO_SLEEP_SIZE];
        uint64_t align; /* the alignment of the runtime's struct; never read */
    } u;
} prokio_sleep_t;

void prokio_sleep_init(prokio_sleep_t *sleep, uint64_t duration_ns);
void prokio_sleep_init_until(prokio_sleep_t *sleep, uint64_t deadline_ns);
int prokio_sleep_poll(prokio_sleep_t *sleep, prokio_cx_t *cx);
void prokio_sleep_cancel(prokio_sleep_t *sleep);

/* ------------------------------------------------------------- intervals */

/* What an interval does when ticks were missed (its task ran late by more
 * than 5 ms), as Tokio's MissedTickBehavior:
 *   BURST  catch up: the next ticks are due at once, one per missed period,
 *          then the schedule goes on as if nothing happened (start + k *
 *          period);
 *   DELAY  the next tick is a full period after the late one was taken:
 *          the schedule shifts;
 *   SKIP   the missed ticks are dropped: the next tick is the next
 *          multiple of the period on the original schedule after now. */
typedef enum prokio_tick_policy {
    PROKIO_TICK_BURST = 0,
    PROKIO_TICK_DELAY = 1,
    PROKIO_TICK_SKIP = 2,
} prokio_tick_policy_t;

/* An interval, Tokio's Interval: ticks every period_ns, embedded in your
 * frame (opaque storage, no allocation), armed on the worker of the task
 * that polls it. init starts the schedule at the first poll's clock (the
 * first tick completes at once, as Tokio's); init_at starts it at start_ns
 * on the worker's clock (prokio_cx_now_ns). Returns 0, or PROKIO_EINVAL for
 * a NULL iv, a period of 0 or an unknown policy (iv is then left as it
 * was). Initialising an interval that is armed disarms it first; initialise
 * zeroed or initialised memory only, as with sleeps.
 * Lifetime: a task that ends (returns, is aborted or cancelled by
 * shutdown) with the interval armed has it disarmed by the runtime.
 * Thread: the owning worker (the worker of the task that polls it), or
 * any thread before its first poll. */
#define PROKIO_INTERVAL_SIZE 128
typedef struct prokio_interval {
    union {
        unsigned char opaque[PROKIO_INTERVAL_SIZE];
        uint64_t align; /* the alignment of the runtime's struct; never read */
    } u;
} prokio_interval_t;

int prokio_interval_init(prokio_interval_t *iv, uint64_t period_ns, prokio_tick_policy_t policy);
int prokio_interval_init_at(prokio_interval_t *iv, uint64_t start_ns, uint64_t period_ns,
                            prokio_tick_policy_t policy);

/* Waits for the next tick: PROKIO_PENDING, then 0 once the worker's clock
 * reached the tick's scheduled time (never early). Each 0 is one tick;
 * poll again for the next. A tick that is already due completes at once
 * and spends one unit of the cooperative budget, so a bursting interval
 * cannot starve its worker. PROKIO_ECANCELED after prokio_interval_cancel
 * (until initialised again), PROKIO_EINVAL for memory never initialised,
 * PROKIO_EXDEV when armed by a task of another worker.
 * Cancel-safety: nothing is lost by dropping a pending tick (a select or a
 * timeout, or an abort): the schedule is kept in the interval, and the next
 * poll completes the tick if it is due by then.
 * Thread: the owning worker. */
int prokio_interval_tick_poll(prokio_interval_t *iv, prokio_cx_t *cx);

/* The scheduled time of the last tick prokio_interval_tick_poll returned
 * (what Tokio's tick() returns), on the worker's clock; 0 before the first
 * tick or for NULL. Thread: the owning worker. */
uint64_t prokio_interval_last_deadline(const prokio_interval_t *iv);

/* Restarts the schedule one period from now, as Tokio's reset(): the next
 * tick is due period_ns after this call when it is made on a worker thread,
 * else period_ns after the next poll. Disarms a pending tick. Nothing for
 * NULL or memory never initialised; a cancelled interval stays cancelled.
 * Thread: the owning worker, or any thread while no task polls it. */
void prokio_interval_reset(prokio_interval_t *iv);

/* Disarms the interval; polls return PROKIO_ECANCELED until it is
 * initialised again. Nothing for NULL. Call it (or initialise again) before
 * reusing the memory while the task goes on. Thread: the owning worker. */
void prokio_interval_cancel(prokio_interval_t *iv);

/* --------------------------------------------------------------- timeout */

/* Polls `inner` with a deadline: inner first, so a result that is ready is
 * never lost to an expiry. When inner completes (anything but
 * PROKIO_PENDING), the deadline is cancelled and inner's result returned.
 * When the deadline passed first, inner.cancel(inner.future) is called
 * (when not NULL) and PROKIO_ETIMEDOUT returned; poll neither again
 * before initialising both anew. The caller initialises `deadline`
 * (prokio_sleep_init for a relative timeout, counted from the first poll;
 * prokio_sleep_init_until for an absolute one) and keeps it in the frame
 * next to inner's state. PROKIO_EINVAL for a NULL deadline, cx or
 * inner.poll, or a deadline never initialised (inner is not polled then).
 * Cancel-safety: on expiry, what happens to inner is inner.cancel's: around
 * a wait (a branch whose cancel calls prokio_wait_cancel) the operation is
 * cancelled with nothing lost (nothing taken; a grant not yet seen passed
 * on); around a join (prokio_branch_join) the task keeps running, as with
 * Tokio's timeout around a JoinHandle: abort it (prokio_task_abort) if it
 * should stop, and release the handle in any case. If the waiting task is
 * aborted, both the deadline and a wait-based inner are disarmed by the
 * runtime as usual.
 * Thread: the worker of the task that polls it. */
int prokio_timeout_poll(prokio_sleep_t *deadline, prokio_branch_t inner, prokio_cx_t *cx);

/* ------------------------------------------------------ the paused clock */

/* A paused clock for tests, as Tokio's time::pause, advance and
 * auto-advance. While paused, the clock of every worker of rt
 * (prokio_cx_now_ns, and so every sleep, interval and timeout) stands still
 * at the moment of pausing, and moves forward only
 *   - by prokio_runtime_time_advance, which fires every timer then due, or
 *   - by itself, when every worker is idle (no task ready, nothing pushed
 *     from another thread, parked): it jumps to the earliest timer deadline
 *     of all workers and that timer fires. A test that awaits a 10-minute
 *     timeout takes milliseconds.
 * A worker parked while paused waits without a deadline (I/O still wakes
 * it). Auto-advance cannot know about a plain thread that is about to wake
 * a task, nor about I/O still in flight: drive such tests from tasks, or
 * expect the jump. Resume continues from the virtual time: the clock never
 * goes backwards, and timers never fire early, paused or not. Meant for
 * backends whose clock is the monotonic one (all of Prokio's).
 * Or start paused: prokio_runtime_options_t.start_paused.
 *
 * pause and resume return 0 (also when already paused, resp. running);
 * advance returns 0, or PROKIO_EINVAL when the clock is not paused; a
 * duration that would overflow saturates. All three: PROKIO_EINVAL for a
 * NULL rt, PROKIO_ESHUTDOWN once the runtime is shutting down.
 * Thread: any, including a task of rt (an advance from a task wakes the
 * other workers; its own timers fire at its next turn). */
int prokio_runtime_time_pause(prokio_runtime_t *rt);
int prokio_runtime_time_resume(prokio_runtime_t *rt);
int prokio_runtime_time_advance(prokio_runtime_t *rt, uint64_t ns);

/* True while rt's clock is paused; false for NULL. Thread: any. */
bool prokio_runtime_time_is_paused(const prokio_runtime_t *rt);

#ifdef __cplusplus
}
#endif
#endif /* PROKIO_TIME_H */
