/* core/waker.c: the public waker API over tagged pointers (waker.h).
 *
 * Tasks are by far the most common waker, so each function tests the two
 * tag bits once (tag 0: a task) and only then tells a parker from a hook:
 * a task waker pays the same single, predictable branch it paid when
 * parkers were the only other kind. */
#include "parker.h"
#include "task.h"
#include "waker.h"

static inline bool is_task(uintptr_t w)
{
    return (w & PROKIO__WAKER_TAG_MASK) == 0;
}

static inline bool is_parker(uintptr_t w)
{
    return (w & PROKIO__WAKER_PARKER) != 0;
}

static inline struct prokio__parker *as_parker(uintptr_t w)
{
    return (struct prokio__parker *)(w & ~PROKIO__WAKER_TAG_MASK);
}

static inline struct prokio__hook *as_hook(uintptr_t w)
{
    return (struct prokio__hook *)(w & ~PROKIO__WAKER_TAG_MASK);
}

static void hook_unref(struct prokio__hook *h)
{
    if (atomic_fetch_sub_explicit(&h->refs, 1, memory_order_acq_rel) == 1)
        h->ops->free(h);
}

uintptr_t prokio__waker_clone(uintptr_t w)
{
    if (PROKIO_LIKELY(is_task(w)))
        prokio__task_ref((struct prokio_task *)w);
    else if (is_parker(w))
        prokio__parker_ref(as_parker(w));
    else
        atomic_fetch_add_explicit(&as_hook(w)->refs, 1, memory_order_relaxed);
    return w;
}

void prokio__waker_wake_by_ref(uintptr_t w)
{
    if (PROKIO_LIKELY(is_task(w)))
        prokio__task_wake_by_ref((struct prokio_task *)w);
    else if (is_parker(w))
        prokio__parker_unpark(as_parker(w));
    else
        as_hook(w)->ops->wake(as_hook(w));
}

void prokio__waker_wake(uintptr_t w)
{
    if (PROKIO_LIKELY(is_task(w))) {
        prokio__task_wake((struct prokio_task *)w);
    } else if (is_parker(w)) {
        prokio__parker_unpark(as_parker(w));
        prokio__parker_unref(as_parker(w));
    } else {
        as_hook(w)->ops->wake(as_hook(w));
        hook_unref(as_hook(w));
    }
}

void prokio__waker_release(uintptr_t w)
{
    if (PROKIO_LIKELY(is_task(w)))
        prokio__task_unref((struct prokio_task *)w);
    else if (is_parker(w))
        prokio__parker_unref(as_parker(w));
    else
        hook_unref(as_hook(w));
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
