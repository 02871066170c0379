/* core/waker.h: wakers inside the core.
 *
 * A waker is a tagged pointer: a task (tag 0; tasks are 16-byte aligned) or
 * a parker (tag 1) for a thread blocked outside the runtime. The public
 * prokio_waker_t * is the same value, never dereferenced by applications.
 * Cloning a task waker takes a task reference; nothing allocates. */
#ifndef PROKIO_CORE_WAKER_H
#define PROKIO_CORE_WAKER_H

#include <stdint.h>

#define PROKIO__WAKER_PARKER ((uintptr_t)1)

uintptr_t prokio__waker_clone(uintptr_t waker);
void prokio__waker_wake_by_ref(uintptr_t waker);
void prokio__waker_release(uintptr_t waker);
/* Wakes and consumes the reference. */
void prokio__waker_wake(uintptr_t waker);

#endif
