/* core/rwlock.c: RwLock over the batch semaphore (prokio/sync.h), as
 * Tokio's: PROKIO_RWLOCK_MAX_READS permits; a reader takes one, a writer
 * all of them. A writer at the head of the queue collects the permits the
 * readers give back while the readers behind it wait, so readers arriving
 * all the time never starve it. */
#include <stdlib.h>

#include "error_internal.h"
#include "semaphore.h"

#define MAX_READS ((uint32_t)PROKIO_RWLOCK_MAX_READS)

struct prokio_rwlock {
    struct prokio__sem sem;
};

int prokio_rwlock_new(prokio_rwlock_t **out, unsigned flags)
{
    if (out == NULL)
        return prokio__error(PROKIO_EINVAL, "prokio_rwlock_new: out is NULL");
    *out = NULL;
    struct prokio_rwlock *l = malloc(sizeof *l);
    if (l == NULL)
        return prokio__error(PROKIO_ENOMEM, "prokio_rwlock_new: no memory for %zu bytes",
                             sizeof *l);
    int rc = prokio__sem_init(&l->sem, MAX_READS, flags, "prokio_rwlock_new");
    if (rc < 0) {
        free(l);
        return rc;
    }
    *out = l;
    return 0;
}

int prokio_rwlock_free(prokio_rwlock_t *l)
{
    if (l == NULL)
        return 0;
    int rc = prokio__shared_check(&l->sem.sh, "prokio_rwlock_free");
    if (rc < 0)
        return rc;
    if (prokio__sem_busy(&l->sem, MAX_READS))
        return prokio__error(PROKIO_EBUSY, "prokio_rwlock_free: the rwlock is held or waited on "
                                           "(unlock it and let the waits finish first)");
    prokio__sem_fini(&l->sem);
    free(l);
    return 0;
}

static int poll_n(prokio_wait_t *wait, prokio_rwlock_t *l, uint32_t n, prokio_cx_t *cx,
                  const char *what)
{
    if (PROKIO_UNLIKELY(wait == NULL || l == NULL || cx == NULL))
        return prokio__error(PROKIO_EINVAL, "%s: %s is NULL", what,
                             wait == NULL ? "wait"
                             : l == NULL  ? "l"
                                          : "cx");
    int rc = prokio__shared_check(&l->sem.sh, what);
    if (PROKIO_UNLIKELY(rc < 0))
        return rc;
    return prokio__sem_acquire_poll(wait, &l->sem, n, cx, what);
}

int prokio_rwlock_read_poll(prokio_wait_t *wait, prokio_rwlock_t *l, prokio_cx_t *cx)
{
    return poll_n(wait, l, 1, cx, "prokio_rwlock_read_poll");
}

int prokio_rwlock_write_poll(prokio_wait_t *wait, prokio_rwlock_t *l, prokio_cx_t *cx)
{
    return poll_n(wait, l, MAX_READS, cx, "prokio_rwlock_write_poll");
}

static int try_n(prokio_rwlock_t *l, uint32_t n, const char *what)
{
    if (PROKIO_UNLIKELY(l == NULL))
        return prokio__error(PROKIO_EINVAL, "%s: l is NULL", what);
    int rc = prokio__shared_check(&l->sem.sh, what);
    if (PROKIO_UNLIKELY(rc < 0))
        return rc;
    if (PROKIO_LIKELY(prokio__sem_try(&l->sem, n) == 0))
        return 0;
    return prokio__error(PROKIO_EAGAIN, "%s: the rwlock is %s (or others wait for it first)", what,
                         n == 1 ? "write-locked" : "held");
}

int prokio_rwlock_try_read(prokio_rwlock_t *l)
{
    return try_n(l, 1, "prokio_rwlock_try_read");
}

int prokio_rwlock_try_write(prokio_rwlock_t *l)
{
    return try_n(l, MAX_READS, "prokio_rwlock_try_write");
}

static int blocking_n(prokio_rwlock_t *l, uint32_t n, const char *what, const char *instead)
{
    if (l == NULL)
        return prokio__error(PROKIO_EINVAL, "%s: l is NULL", what);
    int rc = prokio__shared_check(&l->sem.sh, what);
    if (rc < 0)
        return rc;
    return prokio__sem_blocking_acquire(&l->sem, n, what, instead);
}

int prokio_rwlock_blocking_read(prokio_rwlock_t *l)
{
    return blocking_n(l, 1, "prokio_rwlock_blocking_read", "prokio_rwlock_read_poll");
}

int prokio_rwlock_blocking_write(prokio_rwlock_t *l)
{
    return blocking_n(l, MAX_READS, "prokio_rwlock_blocking_write", "prokio_rwlock_write_poll");
}

void prokio_rwlock_read_unlock(prokio_rwlock_t *l)
{
    if (l == NULL || prokio__shared_check(&l->sem.sh, "prokio_rwlock_read_unlock") < 0)
        return;
    prokio__sem_release(&l->sem, 1);
}

void prokio_rwlock_write_unlock(prokio_rwlock_t *l)
{
    if (l == NULL || prokio__shared_check(&l->sem.sh, "prokio_rwlock_write_unlock") < 0)
        return;
    prokio__sem_release(&l->sem, MAX_READS);
}
