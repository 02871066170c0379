/* prokio/types.h: the handles every part of the API shares.
 *
 * Included by every topic header; the rules these names follow are at the
 * top of prokio.h. */
#ifndef PROKIO_TYPES_H
#define PROKIO_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <prokio/error.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct prokio_runtime prokio_runtime_t; /* a runtime: workers + backend */
typedef struct prokio_task prokio_task_t;       /* a JoinHandle: one reference to a task */
typedef struct prokio_cx prokio_cx_t;           /* the context of the poll in progress */
typedef struct prokio_waker prokio_waker_t;     /* wakes one task (or a blocked thread) */

/* Returned by poll functions that cannot finish yet. It is INT_MIN, so every
 * other int (a count, 0, or a negative PROKIO_E* code) is a result. */
#define PROKIO_PENDING (-0x7fffffff - 1)

/* A task's poll function. Called on the task's worker thread with the frame
 * the task was spawned with. Returns PROKIO_PENDING, or the task's result:
 * any other int, which prokio_task_result() then reports unchanged (>= 0
 * for success by convention, a negative PROKIO_E* code for a failure).
 * Lifetime: frame and cx are valid during the call; the frame stays where it
 * is for the life of the task (it never moves), so it may point into itself. */
typedef int (*prokio_poll_fn)(void *frame, prokio_cx_t *cx);

/* A task's drop function (optional). Runs exactly once, on the task's worker
 * thread, when the task ends: after poll returned a result, or when the task
 * is cancelled (aborted, or still running at shutdown), even if it was never
 * polled. Release what the task holds while it runs: descriptors, channel
 * ends, memory. The frame itself stays readable through the JoinHandle after
 * drop returns, so put outputs the joiner takes over in fields drop leaves
 * alone. Timers and other leaf futures armed by the task are disarmed by the
 * runtime before drop runs. prokio_runtime_current() works here. */
typedef void (*prokio_drop_fn)(void *frame);

#ifdef __cplusplus
}
#endif
#endif /* PROKIO_TYPES_H */
