/* core/timeout.c: prokio_timeout_poll, a deadline around any future. */
#include "error_internal.h"
#include "internal.h"
#include "timer.h"

int prokio_timeout_poll(prokio_sleep_t *deadline, prokio_branch_t inner, prokio_cx_t *cx)
{
    if (PROKIO_UNLIKELY(deadline == NULL || cx == NULL || inner.poll == NULL))
        return prokio__error(PROKIO_EINVAL, "prokio_timeout_poll: %s is NULL",
                             deadline == NULL ? "deadline"
                             : cx == NULL     ? "cx"
                                              : "inner.poll");
    if (PROKIO_UNLIKELY(!prokio__sleep_is_initialised(deadline)))
        return prokio__error(PROKIO_EINVAL,
                             "prokio_timeout_poll: the deadline was never initialised (call "
                             "prokio_sleep_init or prokio_sleep_init_until first)");
    /* Inner first: a result that is ready wins over a deadline that passed
     * at the same moment, so nothing it produced is dropped. */
    int rc = inner.poll(inner.future, cx);
    if (rc != PROKIO_PENDING) {
        prokio_sleep_cancel(deadline);
        return rc;
    }
    rc = prokio_sleep_poll(deadline, cx);
    if (rc == PROKIO_PENDING)
        return PROKIO_PENDING;
    /* Expired (or the deadline was cancelled under us): inner is dropped. */
    if (inner.cancel != NULL)
        inner.cancel(inner.future);
    if (rc < 0)
        return rc;
    return prokio__error(PROKIO_ETIMEDOUT, "prokio_timeout_poll: the deadline passed first");
}
