/* core/waker.c: the public waker API over tagged pointers (waker.h). */
#include "parker.h"
#include "task.h"
#include "waker.h"

static inline bool is_parker(uintptr_t w)
{
    return (w & PROKIO__WAKER_PARKER) != 0;
}

static inline struct prokio__parker *as_parker(uintptr_t w)
{
    return (struct prokio__parker *)(w & ~PROKIO__WAKER_PARKER);
}

uintptr_t prokio__waker_clone(uintptr_t w)
{
    if (is_parker(w))
        prokio__parker_ref(as_parker(w));
    else
        prokio__task_ref((struct prokio_task *)w);
    return w;
}

void prokio__waker_wake_by_ref(uintptr_t w)
{
    if (is_parker(w))
        prokio__parker_unpark(as_parker(w));
    else
        prokio__task_wake_by_ref((struct prokio_task *)w);
}

void prokio__waker_wake(uintptr_t w)
{
    if (is_parker(w)) {
        prokio__parker_unpark(as_parker(w));
        prokio__parker_unref(as_parker(w));
    } else {
        prokio__task_wake((struct prokio_task *)w);
    }
}

void prokio__waker_release(uintptr_t w)
{
    if (is_parker(w))
        prokio__parker_unref(as_parker(w));
    else
        prokio__task_unref((struct prokio_task *)w);
}

prokio_waker_t *prokio_waker_clone(prokio_waker_t *waker)
{
    return waker ? (prokio_waker_t *)prokio__waker_clone((uintptr_t)waker) : NULL;
}

void prokio_waker_wake(prokio_waker_t *waker)
{
    if (waker == NULL)
        return;
    prokio__waker_wake((uintptr_t)waker);
}

void prokio_waker_wake_by_ref(prokio_waker_t *waker)
{
    if (waker)
        prokio__waker_wake_by_ref((uintptr_t)waker);
}

void prokio_waker_release(prokio_waker_t *waker)
{
    if (waker)
        prokio__waker_release((uintptr_t)waker);
}

bool prokio_waker_will_wake(const prokio_waker_t *a, const prokio_waker_t *b)
{
    /* NULL wakes nothing, so it wakes nothing that another waker wakes. */
    return a != NULL && a == b;
}
