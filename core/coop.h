/* core/coop.h: the cooperative budget (Tokio's coop).
 *
 * A task that keeps finding its channels ready and its locks free would
 * never return PROKIO_PENDING, and its worker would never look at its other
 * tasks, its timers or I/O. So every poll starts with a budget, and each
 * channel or sync operation that completes without waiting spends one unit.
 * With the budget spent, an operation that could complete does nothing:
 * it yields the task (to the back of the ready queue) and returns
 * PROKIO_PENDING, exactly as if it had to wait, so cancel-safety is
 * unchanged and the task is polled again after the others. */
#ifndef PROKIO_CORE_COOP_H
#define PROKIO_CORE_COOP_H

#include "cx.h"

/* Tokio's figure: enough to amortise a poll, small enough that a busy task
 * holds its worker for microseconds, not milliseconds. */
#define PROKIO__COOP_BUDGET 128

/* Call before an operation that may complete without waiting. True: go on
 * (one unit spent). False: the task was yielded; return PROKIO_PENDING and
 * change nothing. */
static inline bool prokio__coop_proceed(struct prokio_cx *cx)
{
    if (PROKIO_UNLIKELY(cx->budget == 0)) {
        cx->yielded = true;
        return false;
    }
    cx->budget--;
    return true;
}

/* The operation went on to wait after all: give the unit back. */
static inline void prokio__coop_restore(struct prokio_cx *cx)
{
    cx->budget++;
}

#endif
