/* core/cx.c: the public functions of the poll context (cx.h). */
#include "cx.h"
#include "error_internal.h"
#include "worker.h"

prokio_waker_t *prokio_cx_waker(prokio_cx_t *cx)
{
    return cx ? (prokio_waker_t *)cx->task : NULL;
}

int prokio_cx_yield(prokio_cx_t *cx)
{
    if (cx == NULL)
        return prokio__error(PROKIO_EINVAL, "prokio_cx_yield: cx is NULL");
    cx->yielded = true;
    return PROKIO_PENDING;
}

prokio_runtime_t *prokio_cx_runtime(prokio_cx_t *cx)
{
    return cx ? cx->worker->rt : NULL;
}

unsigned prokio_cx_worker(prokio_cx_t *cx)
{
    return cx ? cx->worker->index : 0;
}

uint64_t prokio_cx_now_ns(prokio_cx_t *cx)
{
    return cx ? prokio__worker_now_ns(cx->worker) : 0;
}
