/* prokio/time.h: durations, the worker's clock, and sleeps. Part of
 * prokio.h. */
#ifndef PROKIO_TIME_H
#define PROKIO_TIME_H

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

#ifdef __cplusplus
}
#endif
#endif /* PROKIO_TIME_H */
