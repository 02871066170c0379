/* core/waker.h: wakers inside the core.
 *
 * A waker is a tagged pointer: a task (tag 0; tasks are 16-byte aligned), a
 * parker (tag 1) for a thread blocked outside the runtime, or a hook (tag
 * 2): a small object of the core's own with an ops table, for a completion
 * that must run code rather than wake one task (a task group's member
 * reports itself finished). The public prokio_waker_t * is the same value,
 * never dereferenced by applications. Cloning a task waker takes a task
 * reference; nothing allocates. */
#ifndef PROKIO_CORE_WAKER_H
#define PROKIO_CORE_WAKER_H

#include <stdatomic.h>
#include <stdint.h>

#define PROKIO__WAKER_PARKER   ((uintptr_t)1)
#define PROKIO__WAKER_HOOK     ((uintptr_t)2)
#define PROKIO__WAKER_TAG_MASK ((uintptr_t)3)

/* A hook: woken, it calls ops->wake(hook); its reference count (one per
 * waker value that points at it) frees it through ops->free when the last
 * goes. At least 4-byte aligned. Both ops may run on any thread, and wake
 * runs inside the completer (a task's finish on its worker): keep it short
 * and never block in it. */
struct prokio__hook;
struct prokio__hook_ops {
    void (*wake)(struct prokio__hook *h); /* by reference: the caller keeps its reference */
    void (*free)(struct prokio__hook *h); /* the last reference went */
};
struct prokio__hook {
    const struct prokio__hook_ops *ops;
    _Atomic uint32_t refs;
};

/* The waker value of a hook (it takes no reference: pass it to a waker
 * slot's register, which clones it). */
static inline uintptr_t prokio__hook_waker(struct prokio__hook *h)
{
    return (uintptr_t)h | PROKIO__WAKER_HOOK;
}

uintptr_t prokio__waker_clone(uintptr_t waker);
void prokio__waker_wake_by_ref(uintptr_t waker);
void prokio__waker_release(uintptr_t waker);
/* Wakes and consumes the reference. */
void prokio__waker_wake(uintptr_t waker);

#endif
