/* prokio/resolve.h: name resolution (getaddrinfo) as a leaf future. Part
 * of prokio.h.
 *
 * getaddrinfo blocks (it may ask a DNS server and wait seconds for the
 * answer), so a worker must never call it. prokio_resolve_poll runs it on
 * the runtime's blocking pool (prokio/blocking.h) and a task awaits the
 * answer. A host that is already a numeric address ("127.0.0.1", "::1")
 * with a numeric port (or none) is answered at once, on the worker,
 * without the pool: nothing to look up.
 *
 * The answer is a list of socket addresses (struct sockaddr of the family
 * found, the port filled in), in the order getaddrinfo gives them (the
 * order RFC 6724 prefers to try them in), each address once.
 *
 * Not on WebAssembly (no blocking pool): PROKIO_ENOTSUP. */
#ifndef PROKIO_RESOLVE_H
#define PROKIO_RESOLVE_H

#include <sys/socket.h>

#include <prokio/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The answer of a resolve: an immutable list of addresses. */
typedef struct prokio_addr_list prokio_addr_list_t;

/* The leaf future of one resolve, embedded in your frame. Zero-filled
 * memory is an idle resolve. */
#define PROKIO_RESOLVE_SIZE 64
typedef struct prokio_resolve {
    union {
        unsigned char opaque[PROKIO_RESOLVE_SIZE];
        uint64_t align; /* the alignment of the runtime's struct; never read */
    } u;
} prokio_resolve_t;

/* Flags of prokio_resolve_poll. */
#define PROKIO_RESOLVE_PASSIVE                                                                     \
    0x1u /* host NULL: the wildcard address, to bind (AI_PASSIVE);                                 \
            without it, host NULL is the loopback address */
#define PROKIO_RESOLVE_NUMERIC                                                                     \
    0x2u /* host must be a numeric address: never ask a name                                       \
            service (AI_NUMERICHOST) */

/* Resolves `host` ("example.org", "localhost", "192.0.2.1", "::1"; NULL:
 * see PROKIO_RESOLVE_PASSIVE) and `service` (a port number "8080" or a
 * service name "https"; NULL: port 0) into addresses of `family`
 * (AF_UNSPEC: IPv4 and IPv6, AF_INET, AF_INET6).
 * The first poll of an idle resolve starts the lookup and copies host and
 * service (later polls ignore those arguments until the resolve is idle
 * again); it returns PROKIO_PENDING until the answer is there, then the
 * number of addresses (>= 1) with *list_out set. *list_out is NULL until
 * then and on failure. After a result the resolve is idle again, as a
 * prokio_wait_t is (prokio/future.h): its next poll starts a new lookup.
 * Errors (prokio_last_error() names the host and service and quotes
 * gai_strerror):
 *   PROKIO_ENOTFOUND  the name does not exist, has no address of that
 *                     family, or the service is unknown;
 *   PROKIO_EAGAIN     the name service failed for now (EAI_AGAIN: no DNS
 *                     server answered): try again later;
 *   PROKIO_EIO        the name service failed for good (EAI_FAIL);
 *   PROKIO_EINVAL     host and service both NULL, family not one of the
 *                     three, unknown flags, NULL list_out/res/cx, or
 *                     PROKIO_RESOLVE_NUMERIC with a host that is a name;
 *   PROKIO_ENOMEM, PROKIO_ESHUTDOWN (the runtime is shutting down),
 *   PROKIO_ENOTSUP (WebAssembly), or -errno of a failed system call.
 * Ownership: *list_out is the caller's, freed with prokio_addr_list_free.
 * Lifetime: host and service are copied at the first poll.
 * Cancel-safety: nothing is lost, since nothing is consumed: a lookup
 * abandoned (prokio_resolve_cancel, or its task ended: the runtime
 * cancels it as it does a sleep) is taken off the pool's queue if it has
 * not started; one already running on a pool thread cannot be stopped
 * (getaddrinfo has no cancel), and its answer is freed by that thread
 * when it returns. Resolving again starts a new lookup.
 * Thread: worker thread (the task that polls it; the resolve follows its
 * task, like a sleep). */
int prokio_resolve_poll(prokio_addr_list_t **list_out, prokio_resolve_t *res, const char *host,
                        const char *service, int family, unsigned flags, prokio_cx_t *cx);

/* Abandons the lookup (see Cancel-safety above); the resolve is idle
 * afterwards. Nothing for NULL or an idle resolve. Thread: the worker of
 * the task that polled it. */
void prokio_resolve_cancel(prokio_resolve_t *res);

/* The number of addresses in the list (0 for NULL). Thread: any. */
size_t prokio_addr_list_count(const prokio_addr_list_t *list);

/* The address at `index` (0 first) and its length in *len_out (may be
 * NULL); NULL when list is NULL or index is out of range.
 * Lifetime: valid until the list is freed. Thread: any. */
const struct sockaddr *prokio_addr_list_get(const prokio_addr_list_t *list, size_t index,
                                            socklen_t *len_out);

/* Frees the list. Nothing for NULL. Thread: any. */
void prokio_addr_list_free(prokio_addr_list_t *list);

#ifdef __cplusplus
}
#endif
#endif /* PROKIO_RESOLVE_H */
