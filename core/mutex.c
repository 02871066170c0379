/* core/mutex.c: Mutex, a batch semaphore of one permit (prokio/sync.h), as
 * Tokio's: locking is acquiring the permit, unlocking releases it, and the
 * semaphore's FIFO queue makes the lock fair. */
#include <stdlib.h>

#include "error_internal.h"
#include "semaphore.h"

struct prokio_mutex {
    struct prokio__sem sem;
};

int prokio_mutex_new(prokio_mutex_t **out, unsigned flags)
{
    if (out == NULL)
        return prokio__error(PROKIO_EINVAL, "prokio_mutex_new: out is NULL");
    *out = NULL;
    struct prokio_mutex *m = malloc(sizeof *m);
    if (m == NULL)
        return prokio__error(PROKIO_ENOMEM, "prokio_mutex_new: no memory for %zu bytes", sizeof *m);
    int rc = prokio__sem_init(&m->sem, 1, flags, "prokio_mutex_new");
    if (rc < 0) {
        free(m);
        return rc;
    }
    *out = m;
    return 0;
}

int prokio_mutex_free(prokio_mutex_t *m)
{
    if (m == NULL)
        return 0;
    int rc = prokio__shared_check(&m->sem.sh, "prokio_mutex_free");
    if (rc < 0)
        return rc;
    if (prokio__sem_busy(&m->sem, 1))
        return prokio__error(PROKIO_EBUSY, "prokio_mutex_free: the mutex is locked or waited on "
                                           "(unlock it and let the waits finish first)");
    prokio__sem_fini(&m->sem);
    free(m);
    return 0;
}

int prokio_mutex_lock_poll(prokio_wait_t *wait, prokio_mutex_t *m, prokio_cx_t *cx)
{
    static const char what[] = "prokio_mutex_lock_poll";
    if (PROKIO_UNLIKELY(wait == NULL || m == NULL || cx == NULL))
        return prokio__error(PROKIO_EINVAL, "%s: %s is NULL", what,
                             wait == NULL ? "wait"
                             : m == NULL  ? "m"
                                          : "cx");
    int rc = prokio__shared_check(&m->sem.sh, what);
    if (PROKIO_UNLIKELY(rc < 0))
        return rc;
    return prokio__sem_acquire_poll(wait, &m->sem, 1, cx, what);
}

int prokio_mutex_try_lock(prokio_mutex_t *m)
{
    static const char what[] = "prokio_mutex_try_lock";
    if (PROKIO_UNLIKELY(m == NULL))
        return prokio__error(PROKIO_EINVAL, "%s: m is NULL", what);
    int rc = prokio__shared_check(&m->sem.sh, what);
    if (PROKIO_UNLIKELY(rc < 0))
        return rc;
    if (PROKIO_LIKELY(prokio__sem_try(&m->sem, 1) == 0))
        return 0;
    return prokio__error(PROKIO_EAGAIN, "%s: the mutex is locked (or others wait for it first)",
                         what);
}

int prokio_mutex_blocking_lock(prokio_mutex_t *m)
{
    static const char what[] = "prokio_mutex_blocking_lock";
    if (m == NULL)
        return prokio__error(PROKIO_EINVAL, "%s: m is NULL", what);
    int rc = prokio__shared_check(&m->sem.sh, what);
    if (rc < 0)
        return rc;
    return prokio__sem_blocking_acquire(&m->sem, 1, what, "prokio_mutex_lock_poll");
}

void prokio_mutex_unlock(prokio_mutex_t *m)
{
    if (PROKIO_UNLIKELY(m == NULL || prokio__shared_check(&m->sem.sh, "prokio_mutex_unlock") < 0))
        return;
    /* A free mutex stays free: the permit count never goes above one. */
    if (PROKIO_UNLIKELY(prokio__sem_available(&m->sem) != 0))
        return;
    prokio__sem_release(&m->sem, 1);
}
