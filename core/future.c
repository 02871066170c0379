/* core/future.c: branches over the runtime's own futures (future.h). */
#include "internal.h"

static int sleep_branch_poll(void *future, prokio_cx_t *cx)
{
    return prokio_sleep_poll(future, cx);
}

static void sleep_branch_cancel(void *future)
{
    prokio_sleep_cancel(future);
}

prokio_branch_t prokio_branch_sleep(struct prokio_sleep *sleep)
{
    prokio_branch_t b = {sleep_branch_poll, sleep, sleep_branch_cancel};
    return b;
}

static int join_branch_poll(void *future, prokio_cx_t *cx)
{
    return prokio_task_join_poll(future, cx);
}

prokio_branch_t prokio_branch_join(prokio_task_t *task)
{
    /* A join needs no cancel: nothing is queued but the handle's waker,
     * which the next poller (or the release) replaces. */
    prokio_branch_t b = {join_branch_poll, task, NULL};
    return b;
}
