/* core/resolve.c: name resolution on the blocking pool (prokio/resolve.h).
 *
 * A lookup is a `struct lookup` shared by two owners: the resolve future
 * (in the task's frame) and the blocking job that runs getaddrinfo (its
 * frame is only a pointer to the lookup, and its drop function gives up
 * the job's reference). The blocking pool runs that drop exactly once,
 * whatever happens: after getaddrinfo returned, or at an abort before it
 * started; never while it runs. So whichever owner goes last frees the
 * lookup and an answer nobody took: an abandoned lookup that is still
 * running is freed by its pool thread when getaddrinfo returns.
 *
 * The job writes the answer into the lookup before it returns; the future
 * reads it after the JoinHandle said the job ended, which orders the two
 * (the task's completion is published with release, read with acquire).
 *
 * Messages are written on the worker: prokio_last_error() is per thread,
 * so the job only keeps getaddrinfo's code and errno, and the poll that
 * returns the failure formats them. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include <prokio/blocking.h>
#include <prokio/resolve.h>

#include "coop.h"
#include "cx.h"
#include "error_internal.h"
#include "task.h"

struct entry {
    struct sockaddr_storage addr;
    socklen_t len;
};

struct prokio_addr_list {
    size_t count;
    struct entry entries[];
};

size_t prokio_addr_list_count(const prokio_addr_list_t *list)
{
    return list ? list->count : 0;
}

const struct sockaddr *prokio_addr_list_get(const prokio_addr_list_t *list, size_t index,
                                            socklen_t *len_out)
{
    if (len_out)
        *len_out = 0;
    if (list == NULL || index >= list->count)
        return NULL;
    if (len_out)
        *len_out = list->entries[index].len;
    return (const struct sockaddr *)&list->entries[index].addr;
}

void prokio_addr_list_free(prokio_addr_list_t *list)
{
    free(list);
}

#ifndef __EMSCRIPTEN__

/* The list of getaddrinfo's answer, each address once (without a socket
 * type, getaddrinfo gives every address once per type). NULL when out of
 * memory. */
static struct prokio_addr_list *list_from(const struct addrinfo *ai)
{
    size_t n = 0;
    for (const struct addrinfo *a = ai; a; a = a->ai_next)
        n++;
    struct prokio_addr_list *l = malloc(sizeof *l + n * sizeof l->entries[0]);
    if (l == NULL)
        return NULL;
    l->count = 0;
    for (const struct addrinfo *a = ai; a; a = a->ai_next) {
        if (a->ai_addr == NULL || a->ai_addrlen == 0 ||
            a->ai_addrlen > (socklen_t)sizeof(struct sockaddr_storage))
            continue;
        bool seen = false;
        for (size_t i = 0; i < l->count && !seen; i++)
            seen = l->entries[i].len == a->ai_addrlen &&
                   memcmp(&l->entries[i].addr, a->ai_addr, a->ai_addrlen) == 0;
        if (seen)
            continue;
        struct entry *e = &l->entries[l->count++];
        memset(&e->addr, 0, sizeof e->addr);
        memcpy(&e->addr, a->ai_addr, a->ai_addrlen);
        e->len = a->ai_addrlen;
    }
    return l;
}

struct lookup {
    _Atomic int refs; /* the future's and the job's */
    int family;
    unsigned flags;
    char *host, *service; /* copies; NULL allowed */
    /* Written by the job before it returns: */
    struct prokio_addr_list *list;
    int gai;       /* getaddrinfo's code; 0: success */
    int sys_errno; /* errno, for EAI_SYSTEM */
};

struct resolve_impl {
    struct prokio__armed armed; /* in task's list while join != NULL */
    struct prokio_task *task;   /* the task that awaits the lookup */
    prokio_task_t *join;        /* the job's JoinHandle; NULL: idle */
    struct lookup *lk;
};

_Static_assert(sizeof(struct resolve_impl) <= PROKIO_RESOLVE_SIZE, "PROKIO_RESOLVE_SIZE too small");
_Static_assert(_Alignof(struct resolve_impl) <= _Alignof(prokio_resolve_t),
               "prokio_resolve_t alignment");

static inline struct resolve_impl *impl_of(prokio_resolve_t *res)
{
    return (struct resolve_impl *)res->u.opaque;
}

static void lookup_unref(struct lookup *lk)
{
    if (atomic_fetch_sub_explicit(&lk->refs, 1, memory_order_acq_rel) != 1)
        return;
    free(lk->host);
    free(lk->service);
    free(lk->list);
    free(lk);
}

/* The job: runs on a pool thread. */
static int lookup_fn(void *frame)
{
    struct lookup *lk = *(struct lookup **)frame;
    struct addrinfo hints = {.ai_family = lk->family};
    if (lk->flags & PROKIO_RESOLVE_PASSIVE)
        hints.ai_flags |= AI_PASSIVE;
    if (lk->flags & PROKIO_RESOLVE_NUMERIC)
        hints.ai_flags |= AI_NUMERICHOST;
    struct addrinfo *ai = NULL;
    errno = 0;
    lk->gai = getaddrinfo(lk->host, lk->service, &hints, &ai);
    lk->sys_errno = errno;
    if (lk->gai == 0) {
        lk->list = list_from(ai);
        freeaddrinfo(ai);
        if (lk->list == NULL)
            lk->gai = EAI_MEMORY;
    }
    return 0;
}

/* The job's drop: after lookup_fn returned, or instead of it. */
static void lookup_drop(void *frame)
{
    lookup_unref(*(struct lookup **)frame);
}

/* Abandons a lookup in flight; the resolve is idle afterwards. The node is
 * out of its task's list already. */
static void resolve_disarm(struct prokio__armed *node)
{
    struct resolve_impl *r = PROKIO_CONTAINER_OF(node, struct resolve_impl, armed);
    prokio_task_abort(r->join);
    prokio_task_release(r->join);
    lookup_unref(r->lk);
    r->join = NULL;
    r->lk = NULL;
    r->task = NULL;
}

static const char *or_null(const char *s)
{
    return s ? s : "(null)";
}

/* The error of a finished lookup, with its message. */
static int lookup_error(const struct lookup *lk)
{
    int code;
    const char *hint;
    switch (lk->gai) {
    case EAI_NONAME:
#ifdef EAI_NODATA
    case EAI_NODATA:
#endif
#ifdef EAI_ADDRFAMILY
    case EAI_ADDRFAMILY:
#endif
    case EAI_SERVICE:
        code = PROKIO_ENOTFOUND;
        hint = (lk->flags & PROKIO_RESOLVE_NUMERIC) && lk->gai == EAI_NONAME
                   ? "PROKIO_RESOLVE_NUMERIC needs a numeric address"
                   : "check the spelling, and the address family asked for";
        break;
    case EAI_AGAIN:
        code = PROKIO_EAGAIN;
        hint = "the name service did not answer: try again later";
        break;
    case EAI_MEMORY:
        code = PROKIO_ENOMEM;
        hint = "out of memory";
        break;
    case EAI_SYSTEM:
        code = lk->sys_errno > 0 ? -lk->sys_errno : PROKIO_EIO;
        hint = strerror(lk->sys_errno);
        break;
    case EAI_FAMILY:
    case EAI_SOCKTYPE:
    case EAI_BADFLAGS:
        code = PROKIO_EINVAL;
        hint = "this system does not accept the family or flags asked for";
        break;
    default: /* EAI_FAIL and anything else */
        code = PROKIO_EIO;
        hint = "the name service failed: check the resolver's configuration "
               "(/etc/resolv.conf, /etc/nsswitch.conf)";
        break;
    }
    return prokio__error(code,
                         "prokio_resolve_poll: cannot resolve host \"%s\" service \"%s\": %s (%s)",
                         or_null(lk->host), or_null(lk->service), gai_strerror(lk->gai), hint);
}

/* A numeric host (or none) with a numeric port (or none): the answer
 * without the pool. 1 with *out set, 0 when a lookup is needed, or an
 * error. */
static int resolve_numeric(struct prokio_addr_list **out, const char *host, const char *service,
                           int family, unsigned flags)
{
    unsigned long port = 0;
    if (service) {
        char *end;
        if (service[0] < '0' || service[0] > '9')
            return 0;
        errno = 0;
        port = strtoul(service, &end, 10);
        if (*end != '\0' || errno != 0 || port > 65535)
            return 0; /* getaddrinfo says what is wrong with it */
    }
    struct sockaddr_in v4 = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    struct sockaddr_in6 v6 = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port)};
    bool is4, is6;
    if (host == NULL) {
        /* As getaddrinfo: the wildcard or the loopback, IPv6 first when
         * either family will do. */
        if (flags & PROKIO_RESOLVE_PASSIVE) {
            v4.sin_addr.s_addr = htonl(INADDR_ANY);
            v6.sin6_addr = in6addr_any;
        } else {
            v4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            v6.sin6_addr = in6addr_loopback;
        }
        is4 = family != AF_INET6;
        is6 = family != AF_INET;
    } else {
        is4 = inet_pton(AF_INET, host, &v4.sin_addr) == 1;
        is6 = !is4 && inet_pton(AF_INET6, host, &v6.sin6_addr) == 1;
        if (!is4 && !is6)
            return 0; /* a name, or a scoped "fe80::1%eth0": getaddrinfo */
        if ((is4 && family == AF_INET6) || (is6 && family == AF_INET))
            return 0; /* getaddrinfo's own answer (none, or v4-mapped) */
    }
    struct prokio_addr_list *l = malloc(sizeof *l + 2 * sizeof l->entries[0]);
    if (l == NULL)
        return prokio__error(PROKIO_ENOMEM, "prokio_resolve_poll: out of memory");
    l->count = 0;
    if (is6) {
        struct entry *e = &l->entries[l->count++];
        memset(&e->addr, 0, sizeof e->addr);
        memcpy(&e->addr, &v6, sizeof v6);
        e->len = sizeof v6;
    }
    if (is4) {
        struct entry *e = &l->entries[l->count++];
        memset(&e->addr, 0, sizeof e->addr);
        memcpy(&e->addr, &v4, sizeof v4);
        e->len = sizeof v4;
    }
    *out = l;
    return 1;
}

static int start(struct resolve_impl *r, prokio_addr_list_t **list_out, const char *host,
                 const char *service, int family, unsigned flags, prokio_cx_t *cx)
{
    if (host == NULL && service == NULL)
        return prokio__error(PROKIO_EINVAL, "prokio_resolve_poll: host and service are both "
                                            "NULL; give at least one");
    if (family != AF_UNSPEC && family != AF_INET && family != AF_INET6)
        return prokio__error(PROKIO_EINVAL,
                             "prokio_resolve_poll: family %d is none of AF_UNSPEC, AF_INET, "
                             "AF_INET6",
                             family);
    if (flags & ~(PROKIO_RESOLVE_PASSIVE | PROKIO_RESOLVE_NUMERIC))
        return prokio__error(PROKIO_EINVAL,
                             "prokio_resolve_poll: unknown flags 0x%x (PROKIO_RESOLVE_PASSIVE "
                             "and PROKIO_RESOLVE_NUMERIC are the only ones)",
                             flags & ~(PROKIO_RESOLVE_PASSIVE | PROKIO_RESOLVE_NUMERIC));
    if (!prokio__coop_proceed(cx))
        return PROKIO_PENDING;
    int rc = resolve_numeric(list_out, host, service, family, flags);
    if (rc != 0)
        return rc < 0 ? rc : (int)(*list_out)->count;

    struct lookup *lk = calloc(1, sizeof *lk);
    if (lk == NULL || (host && (lk->host = strdup(host)) == NULL) ||
        (service && (lk->service = strdup(service)) == NULL)) {
        if (lk) {
            free(lk->host);
            free(lk);
        }
        return prokio__error(PROKIO_ENOMEM, "prokio_resolve_poll: out of memory");
    }
    atomic_init(&lk->refs, 2);
    lk->family = family;
    lk->flags = flags;
    rc = prokio_spawn_blocking(&r->join, NULL, lookup_fn, &lk, sizeof lk, lookup_drop);
    if (rc < 0) {
        /* A failed spawn keeps its frame: no drop, both references ours. */
        free(lk->host);
        free(lk->service);
        free(lk);
        return prokio__error(rc, "prokio_resolve_poll: %s", prokio_last_error());
    }
    prokio__coop_restore(cx);
    r->lk = lk;
    r->task = cx->task;
    r->armed.disarm = resolve_disarm;
    prokio__armed_push(&cx->task->armed, &r->armed);
    return PROKIO_PENDING;
}

int prokio_resolve_poll(prokio_addr_list_t **list_out, prokio_resolve_t *res, const char *host,
                        const char *service, int family, unsigned flags, prokio_cx_t *cx)
{
    if (list_out == NULL || res == NULL || cx == NULL)
        return prokio__error(PROKIO_EINVAL, "prokio_resolve_poll: %s is NULL",
                             !list_out ? "list_out"
                             : !res    ? "res"
                                       : "cx");
    *list_out = NULL;
    struct resolve_impl *r = impl_of(res);
    if (r->join == NULL) {
        int rc = start(r, list_out, host, service, family, flags, cx);
        if (rc != PROKIO_PENDING || r->join == NULL)
            return rc;
    }
    if (r->task != cx->task) {
        /* Handed to another task of this worker (a sub-future moved):
         * follow it, so that its end abandons the lookup. */
        prokio__armed_remove(&r->armed);
        r->task = cx->task;
        prokio__armed_push(&cx->task->armed, &r->armed);
    }
    int rc = prokio_task_join_poll(r->join, cx);
    if (rc == PROKIO_PENDING)
        return PROKIO_PENDING;
    struct lookup *lk = r->lk;
    prokio__armed_remove(&r->armed);
    prokio_task_release(r->join);
    r->join = NULL;
    r->lk = NULL;
    r->task = NULL;
    if (rc < 0) {
        /* The job never ran: the runtime is shutting down, or no pool
         * thread could start (its message is the pool's). */
        lookup_unref(lk);
        return rc == PROKIO_ECANCELED
                   ? prokio__error(PROKIO_ESHUTDOWN,
                                   "prokio_resolve_poll: the lookup was cancelled: the runtime "
                                   "is shutting down")
                   : rc;
    }
    if (lk->gai != 0 || lk->list->count == 0) {
        rc = lk->gai != 0 ? lookup_error(lk)
                          : prokio__error(PROKIO_ENOTFOUND,
                                          "prokio_resolve_poll: host \"%s\" service \"%s\" "
                                          "has no address",
                                          or_null(lk->host), or_null(lk->service));
        lookup_unref(lk);
        return rc;
    }
    *list_out = lk->list;
    lk->list = NULL;
    rc = (int)(*list_out)->count;
    lookup_unref(lk);
    return rc;
}

void prokio_resolve_cancel(prokio_resolve_t *res)
{
    if (res == NULL)
        return;
    struct resolve_impl *r = impl_of(res);
    if (r->join == NULL)
        return;
    prokio__armed_remove(&r->armed);
    resolve_disarm(&r->armed);
}

#else /* __EMSCRIPTEN__: no blocking pool */

int prokio_resolve_poll(prokio_addr_list_t **list_out, prokio_resolve_t *res, const char *host,
                        const char *service, int family, unsigned flags, prokio_cx_t *cx)
{
    (void)host, (void)service, (void)family, (void)flags;
    if (list_out == NULL || res == NULL || cx == NULL)
        return prokio__error(PROKIO_EINVAL, "prokio_resolve_poll: %s is NULL",
                             !list_out ? "list_out"
                             : !res    ? "res"
                                       : "cx");
    *list_out = NULL;
    return prokio__error(PROKIO_ENOTSUP,
                         "prokio_resolve_poll: WebAssembly has no blocking pool for getaddrinfo; "
                         "resolve names in JS (fetch and WebSocket take names)");
}

void prokio_resolve_cancel(prokio_resolve_t *res)
{
    (void)res;
}

#endif
