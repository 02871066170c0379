/* core/interval.c: prokio_interval_t, Tokio's Interval with its
 * MissedTickBehavior, on the worker's timer heap (timer.h). */
#include <string.h>

#include "clock.h"
#include "coop.h"
#include "error_internal.h"
#include "task.h"
#include "timer.h"
#include "worker.h"

/* Tokio's threshold: a tick taken within 5 ms of its deadline is on time,
 * whatever the policy; only a later one counts as missed. */
#define LATE_NS PROKIO_MS(5)

enum iv_state {
    IV_UNINIT = 0, /* zeroed memory */
    IV_START,      /* init without a start: deadline = the first poll's now */
    IV_RESET,      /* reset off a worker: deadline = the next poll's now + period */
    IV_READY,      /* deadline set, not in the heap */
    IV_ARMED,      /* in the worker's heap */
    IV_CANCELLED,
};

struct iv_impl {
    struct prokio__timer timer; /* timer.deadline_ns: the next tick's deadline */
    uint64_t period_ns;
    uint64_t last_ns; /* the scheduled time of the last tick returned */
    uint32_t policy;
    uint32_t state;
};

_Static_assert(sizeof(struct iv_impl) <= PROKIO_INTERVAL_SIZE, "PROKIO_INTERVAL_SIZE too small");
_Static_assert(_Alignof(struct iv_impl) <= _Alignof(prokio_interval_t), "interval alignment");

static inline struct iv_impl *impl(prokio_interval_t *iv)
{
    return (struct iv_impl *)iv->u.opaque;
}

/* As sleep.c: garbage cannot pass for armed, the heap must point here. */
static void leave_heap_if_armed(struct iv_impl *s)
{
    struct prokio__worker *w = prokio__tls_worker;
    if (w && s->state == IV_ARMED &&
        prokio__timer_heap_holds(&w->timers, s->timer.index, &s->timer))
        prokio__timer_disarm(w, &s->timer);
}

static int init(prokio_interval_t *iv, uint32_t state, uint64_t start_ns, uint64_t period_ns,
                prokio_tick_policy_t policy, const char *who)
{
    if (iv == NULL)
        return prokio__error(PROKIO_EINVAL, "%s: iv is NULL", who);
    if (period_ns == 0)
        return prokio__error(PROKIO_EINVAL, "%s: the period is 0 (it must be at least 1 ns)", who);
    if (policy != PROKIO_TICK_BURST && policy != PROKIO_TICK_DELAY && policy != PROKIO_TICK_SKIP)
        return prokio__error(PROKIO_EINVAL,
                             "%s: unknown policy %d (PROKIO_TICK_BURST, _DELAY or _SKIP)", who,
                             (int)policy);
    struct iv_impl *s = impl(iv);
    leave_heap_if_armed(s);
    memset(s, 0, sizeof *s);
    s->timer.index = PROKIO__TIMER_IDLE;
    s->timer.deadline_ns = start_ns;
    s->period_ns = period_ns;
    s->policy = (uint32_t)policy;
    s->state = state;
    return 0;
}

int prokio_interval_init(prokio_interval_t *iv, uint64_t period_ns, prokio_tick_policy_t policy)
{
    return init(iv, IV_START, 0, period_ns, policy, "prokio_interval_init");
}

int prokio_interval_init_at(prokio_interval_t *iv, uint64_t start_ns, uint64_t period_ns,
                            prokio_tick_policy_t policy)
{
    return init(iv, IV_READY, start_ns, period_ns, policy, "prokio_interval_init_at");
}

/* Tokio's MissedTickBehavior::next_timeout, for a tick due at `timeout`
 * taken at `now`, more than LATE_NS late. */
static uint64_t next_after_missed(const struct iv_impl *s, uint64_t timeout, uint64_t now)
{
    switch (s->policy) {
    case PROKIO_TICK_DELAY:
        return prokio__add_sat(now, s->period_ns);
    case PROKIO_TICK_SKIP:
        return prokio__add_sat(now, s->period_ns - (now - timeout) % s->period_ns);
    default:
        return prokio__add_sat(timeout, s->period_ns);
    }
}

/* The tick due at timer.deadline_ns is taken at `now`: schedule the next. */
static int tick(struct iv_impl *s, uint64_t now)
{
    uint64_t timeout = s->timer.deadline_ns;
    s->last_ns = timeout;
    s->timer.deadline_ns = now - timeout > LATE_NS ? next_after_missed(s, timeout, now)
                                                   : prokio__add_sat(timeout, s->period_ns);
    s->state = IV_READY;
    return 0;
}

int prokio_interval_tick_poll(prokio_interval_t *iv, prokio_cx_t *cx)
{
    if (PROKIO_UNLIKELY(iv == NULL || cx == NULL))
        return prokio__error(PROKIO_EINVAL, "prokio_interval_tick_poll: %s is NULL",
                             iv ? "cx" : "iv");
    struct iv_impl *s = impl(iv);
    struct prokio__worker *w = cx->worker;
    switch (s->state) {
    case IV_START:
    case IV_RESET:
    case IV_READY: {
        if (!prokio__coop_proceed(cx))
            return PROKIO_PENDING;
        uint64_t now = prokio__worker_now_ns(w);
        if (s->state == IV_START)
            s->timer.deadline_ns = now;
        else if (s->state == IV_RESET)
            s->timer.deadline_ns = prokio__add_sat(now, s->period_ns);
        s->state = IV_READY;
        if (s->timer.deadline_ns <= now)
            return tick(s, now);
        prokio__coop_restore(cx);
        int rc = prokio__timer_arm(w, &s->timer, cx->task, s->timer.deadline_ns);
        if (rc < 0)
            return prokio__error(
                rc, "prokio_interval_tick_poll: no memory to grow worker %u's timers", w->index);
        s->state = IV_ARMED;
        return PROKIO_PENDING;
    }
    case IV_ARMED:
        if (s->timer.fired) {
            /* Fired: the clock is past the deadline. */
            if (!prokio__coop_proceed(cx))
                return PROKIO_PENDING;
            return tick(s, prokio__worker_now_ns(w));
        }
        if (s->timer.task != cx->task) {
            /* Moved to another task of the same worker: follow it (sleep.c). */
            if (prokio__task_worker(s->timer.task) != w)
                return prokio__error(PROKIO_EXDEV,
                                     "prokio_interval_tick_poll: the interval is armed on worker "
                                     "%u, and this task runs on worker %u",
                                     prokio__task_worker(s->timer.task)->index, w->index);
            prokio__armed_remove(&s->timer.armed);
            s->timer.task = cx->task;
            prokio__armed_push(&cx->task->armed, &s->timer.armed);
        }
        return PROKIO_PENDING;
    case IV_CANCELLED:
        return prokio__error(PROKIO_ECANCELED,
                             "prokio_interval_tick_poll: the interval was cancelled (initialise "
                             "it again to reuse it)");
    default:
        return prokio__error(PROKIO_EINVAL,
                             "prokio_interval_tick_poll: the interval was never initialised "
                             "(call prokio_interval_init or prokio_interval_init_at first)");
    }
}

uint64_t prokio_interval_last_deadline(const prokio_interval_t *iv)
{
    return iv ? ((const struct iv_impl *)iv->u.opaque)->last_ns : 0;
}

/* An armed interval's timer fired or not, it leaves the heap and its
 * task's armed list (a fired one is already out of both). */
static void disarm(struct iv_impl *s)
{
    if (s->state == IV_ARMED)
        prokio__timer_disarm(prokio__task_worker(s->timer.task), &s->timer);
}

void prokio_interval_reset(prokio_interval_t *iv)
{
    if (iv == NULL)
        return;
    struct iv_impl *s = impl(iv);
    if (s->state == IV_UNINIT || s->state == IV_CANCELLED)
        return;
    disarm(s);
    struct prokio__worker *w = prokio__tls_worker;
    if (w != NULL) {
        s->timer.deadline_ns = prokio__add_sat(prokio__worker_now_ns(w), s->period_ns);
        s->state = IV_READY;
    } else {
        s->state = IV_RESET;
    }
}

void prokio_interval_cancel(prokio_interval_t *iv)
{
    if (iv == NULL)
        return;
    struct iv_impl *s = impl(iv);
    disarm(s);
    if (s->state != IV_UNINIT)
        s->state = IV_CANCELLED;
}
