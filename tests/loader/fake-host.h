/* tests/loader/fake-host.h: the test hook of fake-host.c. */
#ifndef PROKIO_TESTS_FAKE_HOST_H
#define PROKIO_TESTS_FAKE_HOST_H

#include <stdbool.h>

struct fakehost_stats {
    unsigned long microtasks; /* drives asked for by wake() */
    unsigned long macrotasks; /* drives asked for by arm(0): the budget ran out */
    unsigned long timers;     /* drives because an armed deadline passed */
    /* backend.h: the core never calls back into the backend from inside
     * host->watch_ready. Calls made there anyway (watch_update, wake): */
    unsigned long reentries;
    unsigned long narrowed; /* watch_update to interest 0 (level-triggered narrowing) */
};

/* Runs the fake host's event loop until done(arg) is true.
 * Returns 0, or PROKIO_ESHUTDOWN if drive said the runtime is gone. */
typedef int (*fakehost_run_fn)(int (*done)(void *), void *arg, struct fakehost_stats *stats);

#endif
