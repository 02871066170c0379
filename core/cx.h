/* core/cx.h: the poll context, prokio_cx_t.
 *
 * One per worker, reused for every poll: it names the worker and the task
 * being polled, so a leaf future finds its timers, its backend and the
 * waker to store without the application passing them. */
#ifndef PROKIO_CORE_CX_H
#define PROKIO_CORE_CX_H

#include "internal.h"

struct prokio_cx {
    struct prokio__worker *worker;
    struct prokio_task *task; /* the task being polled */
    bool yielded;             /* set by prokio_cx_yield during the poll */
    uint32_t budget;          /* coop.h: operations left before this poll must yield */
};

/* The calling task's waker as the core stores it (waker.h). */
static inline uintptr_t prokio__cx_waker(const struct prokio_cx *cx)
{
    return (uintptr_t)cx->task;
}

#endif
