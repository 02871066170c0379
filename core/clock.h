/* core/clock.h: deadline arithmetic. The clock itself is the backend's
 * now_ns (which may be virtual: a simulation backend); the default one
 * offered to backends is prokio__monotonic_ns (platform.h). */
#ifndef PROKIO_CORE_CLOCK_H
#define PROKIO_CORE_CLOCK_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* a + b, saturating at UINT64_MAX ("never") instead of wrapping to the
 * past: a huge timeout must not fire at once. */
static inline uint64_t prokio__add_sat(uint64_t a, uint64_t b)
{
    uint64_t r = a + b;
    return r < a ? UINT64_MAX : r;
}

/* A runtime's clock as its tasks see it (clock_pause.c): the backend's, or,
 * once the clock was ever paused, the virtual one. `shifted` is 0 until the
 * first pause, so the unpaused hot path is one relaxed load and one branch
 * that is always predicted. */
struct prokio__clock {
    _Atomic int shifted;    /* ever paused: read through the slow path */
    _Atomic int paused;     /* 1: the clock is `virt` */
    _Atomic uint64_t virt;  /* the time while paused */
    _Atomic int64_t offset; /* while running: backend time + offset */
    pthread_mutex_t lock;   /* pause, resume, advance, auto-advance */
};

struct prokio__worker;

/* The worker's clock once shifted: virtual, never going backwards on one
 * worker. `real` is the backend's now. Thread: the worker's. */
uint64_t prokio__clock_now_slow(struct prokio__worker *w, uint64_t real);

/* park() once shifted, after it published parked = 1: the backend deadline
 * to wait for, given the heap's next deadline (virtual time). Paused: marks
 * the worker idle, auto-advances when every worker is, and returns 0 (do not
 * block) when that made this worker's timer due, else "never". */
uint64_t prokio__clock_park_deadline(struct prokio__worker *w, uint64_t deadline);

/* After the wait of such a park: the worker is no longer idle. */
void prokio__clock_unpark(struct prokio__worker *w);

/* prokio__worker_drive once shifted: the deadline to arm, given the next
 * deadline (0 when tasks are ready). */
uint64_t prokio__clock_drive_deadline(struct prokio__worker *w, uint64_t deadline);

int prokio__clock_init(struct prokio__clock *c);
void prokio__clock_fini(struct prokio__clock *c);

#endif
