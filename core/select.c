/* core/select.c: composing futures: select (the first of several) and
 * join-all (every one of several), future.h.
 *
 * Neither keeps state between polls: the branches are the state, and the
 * poll contract (a completed leaf future returns its result again) makes
 * re-polling them safe. */
#include "error_internal.h"
#include "internal.h"

/* The fair start index, as Tokio's select! picks its own: a per-thread
 * xorshift, so concurrent selects on different workers share nothing. */
static PROKIO_TLS uint64_t select_rng;

static size_t random_below(size_t n)
{
    uint64_t x = select_rng;
    if (x == 0)
        x = (uint64_t)(uintptr_t)&select_rng * UINT64_C(0x9E3779B97F4A7C15) | 1;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    select_rng = x;
    return (size_t)((x * UINT64_C(0x2545F4914F6CDD1D)) >> 32) % n;
}

/* Off the poll path: why the arguments are refused. */
static __attribute__((noinline, cold)) int select_invalid(const size_t *index_out,
                                                          const prokio_branch_t *branches, size_t n,
                                                          const prokio_cx_t *cx)
{
    if (index_out == NULL)
        return prokio__error(PROKIO_EINVAL, "prokio_select_poll: index_out is NULL");
    if (branches == NULL)
        return prokio__error(PROKIO_EINVAL, "prokio_select_poll: branches is NULL");
    if (cx == NULL)
        return prokio__error(PROKIO_EINVAL, "prokio_select_poll: cx is NULL");
    if (n == 0)
        return prokio__error(PROKIO_EINVAL,
                             "prokio_select_poll: n is 0; a select needs at least one branch");
    for (size_t i = 0; i < n; i++)
        if (branches[i].poll == NULL)
            return prokio__error(PROKIO_EINVAL,
                                 "prokio_select_poll: branches[%zu].poll is NULL; nothing was "
                                 "polled",
                                 i);
    return 0;
}

static bool select_args_ok(const size_t *index_out, const prokio_branch_t *branches, size_t n,
                           const prokio_cx_t *cx)
{
    if (PROKIO_UNLIKELY(index_out == NULL || branches == NULL || cx == NULL || n == 0))
        return false;
    for (size_t i = 0; i < n; i++)
        if (PROKIO_UNLIKELY(branches[i].poll == NULL))
            return false;
    return true;
}

int prokio_select_poll(size_t *index_out, const prokio_branch_t *branches, size_t n, unsigned flags,
                       prokio_cx_t *cx)
{
    if (!select_args_ok(index_out, branches, n, cx))
        return select_invalid(index_out, branches, n, cx);
    size_t start = (flags & PROKIO_SELECT_BIASED) || n == 1 ? 0 : random_below(n);
    for (size_t k = 0; k < n; k++) {
        size_t i = start + k < n ? start + k : start + k - n;
        int r = branches[i].poll(branches[i].future, cx);
        if (r == PROKIO_PENDING)
            continue;
        if (!(flags & PROKIO_SELECT_KEEP))
            for (size_t j = 0; j < n; j++)
                if (j != i && branches[j].cancel)
                    branches[j].cancel(branches[j].future);
        *index_out = i;
        return r;
    }
    return PROKIO_PENDING;
}

int prokio_join_all_poll(int *results, const prokio_branch_t *branches, size_t n, prokio_cx_t *cx)
{
    if (PROKIO_UNLIKELY(results == NULL || branches == NULL || cx == NULL))
        return prokio__error(PROKIO_EINVAL, "prokio_join_all_poll: %s is NULL",
                             results == NULL    ? "results"
                             : branches == NULL ? "branches"
                                                : "cx");
    for (size_t i = 0; i < n; i++)
        if (PROKIO_UNLIKELY(results[i] == PROKIO_PENDING && branches[i].poll == NULL))
            return prokio__error(PROKIO_EINVAL,
                                 "prokio_join_all_poll: branches[%zu].poll is NULL; nothing was "
                                 "polled",
                                 i);
    bool pending = false;
    for (size_t i = 0; i < n; i++) {
        if (results[i] != PROKIO_PENDING)
            continue;
        results[i] = branches[i].poll(branches[i].future, cx);
        pending |= results[i] == PROKIO_PENDING;
    }
    return pending ? PROKIO_PENDING : 0;
}
