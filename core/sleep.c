/* core/sleep.c: prokio_sleep_t, the timer leaf future. */
#include <string.h>

#include "clock.h"
#include "error_internal.h"
#include "task.h"
#include "timer.h"
#include "worker.h"

enum sleep_state {
    SLEEP_UNINIT = 0, /* zeroed memory: poll reports EINVAL */
    SLEEP_RELATIVE,   /* duration set; the clock starts at the first poll */
    SLEEP_ABSOLUTE,   /* deadline set */
    SLEEP_ARMED,      /* in the worker's heap */
    SLEEP_DONE,
    SLEEP_CANCELLED,
};

struct sleep_impl {
    struct prokio__timer timer;
    uint64_t duration_ns;
    uint32_t state;
};

_Static_assert(sizeof(struct sleep_impl) <= PROKIO_SLEEP_SIZE, "PROKIO_SLEEP_SIZE too small");
_Static_assert(_Alignof(struct sleep_impl) <= _Alignof(prokio_sleep_t), "prokio_sleep_t alignment");

static inline struct sleep_impl *impl(prokio_sleep_t *s)
{
    return (struct sleep_impl *)s->u.opaque;
}

/* A sleep re-initialised while armed must leave the heap first, or the
 * heap would keep a pointer to memory that no longer says where it is.
 * Garbage cannot pass for armed: the worker's heap must point right here. */
static void leave_heap_if_armed(struct sleep_impl *s)
{
    struct prokio__worker *w = prokio__tls_worker;
    if (w && s->state == SLEEP_ARMED &&
        prokio__timer_heap_holds(&w->timers, s->timer.index, &s->timer))
        prokio__timer_disarm(w, &s->timer);
}

void prokio_sleep_init(prokio_sleep_t *sleep, uint64_t duration_ns)
{
    if (sleep == NULL)
        return;
    struct sleep_impl *s = impl(sleep);
    leave_heap_if_armed(s);
    memset(s, 0, sizeof *s);
    s->timer.index = PROKIO__TIMER_IDLE;
    s->duration_ns = duration_ns;
    s->state = SLEEP_RELATIVE;
}

void prokio_sleep_init_until(prokio_sleep_t *sleep, uint64_t deadline_ns)
{
    if (sleep == NULL)
        return;
    struct sleep_impl *s = impl(sleep);
    leave_heap_if_armed(s);
    memset(s, 0, sizeof *s);
    s->timer.index = PROKIO__TIMER_IDLE;
    s->timer.deadline_ns = deadline_ns;
    s->state = SLEEP_ABSOLUTE;
}

int prokio_sleep_poll(prokio_sleep_t *sleep, prokio_cx_t *cx)
{
    if (PROKIO_UNLIKELY(sleep == NULL || cx == NULL))
        return prokio__error(PROKIO_EINVAL, "prokio_sleep_poll: %s is NULL",
                             sleep ? "cx" : "sleep");
    struct sleep_impl *s = impl(sleep);
    struct prokio__worker *w = cx->worker;
    switch (s->state) {
    case SLEEP_RELATIVE:
    case SLEEP_ABSOLUTE: {
        uint64_t now = prokio__worker_now_ns(w);
        uint64_t deadline = s->state == SLEEP_RELATIVE ? prokio__add_sat(now, s->duration_ns)
                                                       : s->timer.deadline_ns;
        if (deadline <= now) {
            s->state = SLEEP_DONE;
            return 0;
        }
        int rc = prokio__timer_arm(w, &s->timer, cx->task, deadline);
        if (rc < 0)
            return prokio__error(rc, "prokio_sleep_poll: no memory to grow worker %u's timers",
                                 w->index);
        s->state = SLEEP_ARMED;
        return PROKIO_PENDING;
    }
    case SLEEP_ARMED:
        if (s->timer.fired) {
            s->state = SLEEP_DONE;
            return 0;
        }
        if (s->timer.task != cx->task) {
            /* Handed to another task of the same worker (a sub-future
             * moved between tasks): follow it, so its end disarms us. */
            if (prokio__task_worker(s->timer.task) != w)
                return prokio__error(PROKIO_EXDEV,
                                     "prokio_sleep_poll: the sleep is armed on worker %u, and "
                                     "this task runs on worker %u",
                                     prokio__task_worker(s->timer.task)->index, w->index);
            prokio__armed_remove(&s->timer.armed);
            s->timer.task = cx->task;
            prokio__armed_push(&cx->task->armed, &s->timer.armed);
        }
        return PROKIO_PENDING;
    case SLEEP_DONE:
        return 0;
    case SLEEP_CANCELLED:
        return prokio__error(PROKIO_ECANCELED,
                             "prokio_sleep_poll: the sleep was cancelled (initialise it again "
                             "to reuse it)");
    default:
        return prokio__error(PROKIO_EINVAL,
                             "prokio_sleep_poll: the sleep was never initialised (call "
                             "prokio_sleep_init or prokio_sleep_init_until first)");
    }
}

void prokio_sleep_cancel(prokio_sleep_t *sleep)
{
    if (sleep == NULL)
        return;
    struct sleep_impl *s = impl(sleep);
    if (s->state == SLEEP_ARMED)
        prokio__timer_disarm(prokio__task_worker(s->timer.task), &s->timer);
    if (s->state != SLEEP_UNINIT)
        s->state = SLEEP_CANCELLED;
}

bool prokio__sleep_is_initialised(const prokio_sleep_t *sleep)
{
    const struct sleep_impl *s = (const struct sleep_impl *)sleep->u.opaque;
    return s->state >= SLEEP_RELATIVE && s->state <= SLEEP_CANCELLED;
}
