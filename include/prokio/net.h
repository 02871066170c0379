/* prokio/net.h: networking: TCP and Unix stream sockets, UDP, addresses.
 * Part of prokio.h.
 *
 * Three objects:
 *   prokio_listener_t  a listening socket (TCP or Unix): accepts streams;
 *   prokio_stream_t    a connected stream socket (TCP or Unix): read,
 *                      write, shut down; one type for both families, since
 *                      every call but the TCP options means the same on
 *                      both (the address says which family it is);
 *   prokio_udp_t       a UDP socket: datagrams to and from addresses, or
 *                      to and from one connected peer.
 * and one value type, prokio_addr_t (an address with its length).
 *
 * Workers. Every socket belongs to the worker whose task first awaits an
 * operation on it (thread-per-core, as prokio_fd_t): the operations of
 * that worker's tasks use it; an awaitable call from a task of another
 * worker fails with PROKIO_EXDEV. Create a socket anywhere (main thread,
 * any task) and hand it to the task that will use it. The calls that do
 * not wait (addresses, options, shutdown) work from any thread.
 *
 * Awaitable calls take a prokio_op_t first (prokio/op.h): the operation's
 * state, in your frame. Its "Cancel-safety" rule applies to every call
 * here; each call adds what it means for it.
 *
 * Faults. Sends never raise SIGPIPE (MSG_NOSIGNAL): a write to a peer that
 * went away fails with PROKIO_EPIPE or PROKIO_ECONNRESET. EINTR is retried
 * and EAGAIN never escapes: it means "wait", and the call waits. An accept
 * that finds the process out of descriptors (EMFILE, ENFILE) does not fail
 * and does not spin: it waits a little and tries again (see
 * prokio_listener_accept_poll).
 *
 * Not on WebAssembly: every socket call returns PROKIO_ENOTSUP there (use
 * the JS bridge, prokio/js.h, for fetch or WebSocket); the address
 * functions work. */
#ifndef PROKIO_NET_H
#define PROKIO_NET_H

#include <sys/socket.h>
#include <sys/uio.h>

#include <prokio/op.h>
#include <prokio/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------ addresses */

/* A socket address with its length: IPv4, IPv6 or Unix (a path, or on
 * Linux an abstract name). Its layout is public on purpose, so that it can
 * be handed to the system's calls: (struct sockaddr *)&a.storage, a.len.
 * A zero-filled one (len 0) is "no address". */
typedef struct prokio_addr {
    socklen_t len;
    struct sockaddr_storage storage;
} prokio_addr_t;

/* Enough for any text prokio_addr_format writes, its NUL included. */
#define PROKIO_ADDR_STRLEN 128

/* Parses a numeric address: "127.0.0.1:8080", "[::1]:0", "[fe80::1%2]:53"
 * (the port is required, 0 to 65535, 0 meaning "the kernel picks" where it
 * is bound), or a Unix socket address: a path starting with '/' or, on
 * Linux, "@name" for an abstract name. No name resolution here (a host
 * name is PROKIO_EINVAL; resolve it first); no allocation.
 * Returns 0; PROKIO_EINVAL (the message says what is wrong with the text)
 * leaving *out zero-filled. Thread: any. */
int prokio_addr_parse(prokio_addr_t *out, const char *text);

/* A Unix socket address for `path` (any path, relative ones included; on
 * Linux "@name" is the abstract name "name", which leaves nothing in the
 * file system). PROKIO_ENAMETOOLONG beyond the system's limit (107 bytes on
 * Linux). Thread: any. */
int prokio_addr_unix(prokio_addr_t *out, const char *path);

/* Copies a system address of `len` bytes (AF_INET, AF_INET6 or AF_UNIX)
 * into *out. PROKIO_EINVAL for another family or a length that does not
 * fit. Thread: any. */
int prokio_addr_from_sockaddr(prokio_addr_t *out, const struct sockaddr *sa, socklen_t len);

/* Writes the address as text, in the form prokio_addr_parse reads
 * ("127.0.0.1:8080", "[::1]:443", "/run/x.sock", "@name"; an unnamed Unix
 * socket is ""), and returns its length. PROKIO_ERANGE when it does not fit
 * in `size` bytes (PROKIO_ADDR_STRLEN always does; buf then holds as much
 * as fits); PROKIO_EINVAL for an empty or unknown address. Thread: any. */
int prokio_addr_format(const prokio_addr_t *addr, char *buf, size_t size);

/* The family (AF_INET, AF_INET6, AF_UNIX), or PROKIO_EINVAL for NULL or an
 * empty address. Thread: any. */
int prokio_addr_family(const prokio_addr_t *addr);

/* The port of an IPv4 or IPv6 address (0 to 65535), or PROKIO_EINVAL for
 * NULL or another family. Thread: any. */
int prokio_addr_port(const prokio_addr_t *addr);

/* ------------------------------------------------------------- sockets */

typedef struct prokio_listener prokio_listener_t;
typedef struct prokio_stream prokio_stream_t;
typedef struct prokio_udp prokio_udp_t;

/* Creation flags. */
/* SO_REUSEPORT: several sockets (one per worker, or one per process) bind
 * the same address and port, and the kernel spreads connections (or
 * datagrams) among them. Every socket of the group must ask for it. TCP
 * listeners and UDP only. */
#define PROKIO_NET_REUSEPORT 0x100u
/* IPV6_V6ONLY: an IPv6 socket bound to [::] takes IPv6 only (the default
 * follows the system, usually IPv4 too). */
#define PROKIO_NET_V6ONLY 0x200u

/* ------------------------------------------------------------ listeners */

/* Creates a socket listening on addr: TCP for an IPv4 or IPv6 address
 * (SO_REUSEADDR always, so that a restarted server binds at once;
 * SO_REUSEPORT with PROKIO_NET_REUSEPORT), a Unix stream socket for a Unix
 * address (an existing path is not removed: PROKIO_EADDRINUSE; remove it
 * first, or use an abstract name). backlog: the queue of connections not
 * yet accepted; 0 or less for the system's maximum (SOMAXCONN). Port 0
 * lets the kernel pick one: prokio_listener_local_addr says which.
 * flags: 0 or PROKIO_NET_REUSEPORT | PROKIO_NET_V6ONLY.
 * Returns 0, or the system's error (PROKIO_EADDRINUSE, PROKIO_EACCES,
 * PROKIO_EMFILE...) with a message naming the address.
 * Ownership: *out is the caller's, ended with prokio_listener_close_poll
 * or prokio_listener_free. Thread: any; the listener belongs to the worker
 * of the first task that accepts on it. */
int prokio_listener_new(prokio_listener_t **out, const prokio_addr_t *addr, int backlog,
                        unsigned flags);

/* Adopts a descriptor that is already listening (inherited from a
 * supervisor, socket activation): it is made non-blocking and close-on-
 * exec, and from now on is the listener's (closed with it). PROKIO_EINVAL
 * (the descriptor left alone) for a descriptor that is not a listening
 * stream socket; flags: 0. Ownership and Thread: as prokio_listener_new. */
int prokio_listener_from_fd(prokio_listener_t **out, int fileno, unsigned flags);

/* Awaits the next connection: PROKIO_PENDING; then 0 with *out a new
 * connected stream (and *peer its address, when peer is not NULL), or a
 * negative code (PROKIO_EXDEV from a task of another worker).
 * Out of descriptors: when accept(2) fails with EMFILE or ENFILE, the
 * pending connection cannot be taken and the listener stays readable, so
 * retrying at once would spin. Instead the call waits 50 ms on a timer and
 * tries again, for as long as it takes (the connections wait in the
 * backlog): the server keeps running and recovers by itself once
 * descriptors are free. The first time a listener backs off,
 * PROKIO_DEBUG=net says so on stderr. Other accept errors that concern one
 * connection only (ECONNABORTED: the peer gave up) are skipped.
 * Ownership: *out is the caller's (the stream belongs to this worker, as
 * the listener). Several tasks of the listener's worker may accept at
 * once, each with its own op.
 * Cancel-safety: an accept abandoned (or whose task ends) after the kernel
 * gave it a connection keeps that connection in the listener, and the next
 * accept returns it: no connection is lost or leaked.
 * Thread: the listener's worker. */
int prokio_listener_accept_poll(prokio_stream_t **out, prokio_op_t *op, prokio_listener_t *l,
                                prokio_addr_t *peer, prokio_cx_t *cx);

/* The address the listener is bound to (the port the kernel picked).
 * Thread: any. */
int prokio_listener_local_addr(const prokio_listener_t *l, prokio_addr_t *addr);

/* The descriptor (still the listener's), or PROKIO_EINVAL. Thread: any. */
int prokio_listener_fileno(const prokio_listener_t *l);

/* Closes and frees the listener: cancels its accepts in flight, waits for
 * them to end, closes the descriptor. Returns 0 (the listener is gone) or
 * close's error (it is gone too). PROKIO_EXDEV from another worker's task
 * (nothing done).
 * Cancel-safety: abandoned before a result, the listener is still the
 * caller's: finish with prokio_listener_free.
 * Thread: the listener's worker (or any task, if it was never used). */
int prokio_listener_close_poll(prokio_op_t *op, prokio_listener_t *l, prokio_cx_t *cx);

/* Closes and frees at once, for drop functions: operations still in flight
 * are cancelled and their results dropped (a connection accepted meanwhile
 * is closed). A task still polling an accept on l must not poll it again.
 * Returns 0, or PROKIO_EXDEV (nothing done) off the listener's worker
 * while its runtime runs. Nothing for NULL.
 * Thread: the listener's worker; any thread if it was never used by a
 * task, or after its runtime shut down. */
int prokio_listener_free(prokio_listener_t *l);

/* -------------------------------------------------------------- streams */

/* Connects to addr (TCP for IPv4 and IPv6, a Unix stream socket for a Unix
 * address): PROKIO_PENDING; then 0 with *out connected, or a negative code:
 * PROKIO_ECONNREFUSED, PROKIO_ENETUNREACH, PROKIO_EHOSTUNREACH,
 * PROKIO_ENOENT (no such Unix socket), PROKIO_ETIMEDOUT when timeout_ns
 * (counted from the first poll; 0 for the system's own, minutes for TCP)
 * passed first.
 * *out must be NULL at the first poll. While pending, *out holds the
 * socket being connected (so that it is in the frame, where the drop
 * function finds it); on a failure it is freed and *out is NULL again.
 * Ownership: *out is the caller's from the first poll on.
 * Cancel-safety: abandoned (prokio_op_cancel, or the task ends), the
 * connection attempt stops when *out is freed: free it (the drop function
 * does, as for any stream in the frame); polling again with the same op
 * and *out is not allowed (start again from a NULL *out).
 * Thread: worker thread; the stream belongs to that worker. */
int prokio_stream_connect_poll(prokio_stream_t **out, prokio_op_t *op, const prokio_addr_t *addr,
                               uint64_t timeout_ns, prokio_cx_t *cx);

/* Adopts a connected stream socket (TCP or Unix; one end of a socketpair
 * works too): made non-blocking and close-on-exec, and from now on the
 * stream's (closed with it). PROKIO_EINVAL (the descriptor left alone) for
 * a descriptor that is not a stream socket; flags: 0.
 * Ownership: *out is the caller's. Thread: any; the stream belongs to the
 * worker of the first task that awaits an operation on it. */
int prokio_stream_from_fd(prokio_stream_t **out, int fileno, unsigned flags);

/* Reads at most len bytes (at most INT_MAX) into buf: PROKIO_PENDING until
 * some arrived; then their number (> 0), 0 at the end of the stream (the
 * peer shut down its side or closed), or a negative code
 * (PROKIO_ECONNRESET...).
 * Lifetime: buf is the operation's until its result (with io_uring the
 * kernel writes into it while the task sleeps): keep it in the frame.
 * Cancel-safety: no byte is lost: bytes received for a read that was
 * abandoned are kept by the stream and returned first by its next read.
 * One task reads a stream at a time.
 * Thread: the stream's worker. */
int prokio_stream_read_poll(prokio_op_t *op, prokio_stream_t *s, void *buf, size_t len,
                            prokio_cx_t *cx);

/* Writes some of len bytes (at most INT_MAX): PROKIO_PENDING until the
 * socket took some; then their number (> 0, maybe fewer than len: write
 * the rest next), or a negative code (PROKIO_EPIPE, PROKIO_ECONNRESET;
 * never a SIGPIPE).
 * Lifetime: buf as for reads.
 * Cancel-safety: an abandoned write may have sent its bytes anyway (with
 * io_uring, the kernel may be past cancelling it); a write that must not be
 * repeated or lost is not something to abandon: use prokio_stream_write_
 * all_poll, which says how far it got. One task writes a stream at a time.
 * Thread: the stream's worker. */
int prokio_stream_write_poll(prokio_op_t *op, prokio_stream_t *s, const void *buf, size_t len,
                             prokio_cx_t *cx);

/* Writes all len bytes, as many writes as it takes (a slow reader makes
 * this wait: back-pressure, nothing buffered on our side):
 * PROKIO_PENDING; then 0 once *written == len, or a negative code.
 * *written is the progress: set it to 0 before the first poll; it counts
 * the bytes the socket took so far, and is updated as each write
 * completes.
 * Cancel-safety: abandoned or failed, *written says how many bytes went
 * out for certain (the rest, buf + *written, did not, except for the one
 * write in flight when it was abandoned, which the kernel may still have
 * done: with io_uring only). Polling again with the same *written resumes.
 * Lifetime: buf and written stay where they are until the result.
 * Thread: the stream's worker. */
int prokio_stream_write_all_poll(prokio_op_t *op, prokio_stream_t *s, const void *buf, size_t len,
                                 size_t *written, prokio_cx_t *cx);

/* Vectored write (sendmsg): gathers iovcnt buffers (at most IOV_MAX) in
 * one call. Returns as prokio_stream_write_poll (a partial write counts
 * from the first buffer on). Lifetime: iov and its buffers as buf for
 * writes. Cancel-safety: as prokio_stream_write_poll.
 * Thread: the stream's worker. */
int prokio_stream_writev_poll(prokio_op_t *op, prokio_stream_t *s, const struct iovec *iov,
                              int iovcnt, prokio_cx_t *cx);

/* shutdown(2) directions. */
#define PROKIO_SHUT_READ  0x1u
#define PROKIO_SHUT_WRITE 0x2u
#define PROKIO_SHUT_BOTH  0x3u

/* Shuts down one or both directions; the descriptor stays open. After
 * PROKIO_SHUT_WRITE the peer reads the end of the stream once it read
 * what was sent (a half-close: this side may still read its answer).
 * Returns 0 or the system's error (PROKIO_ENOTCONN). Does not wait.
 * Thread: any. */
int prokio_stream_shutdown(prokio_stream_t *s, unsigned how);

/* TCP_NODELAY (send small writes at once, no Nagle). TCP only:
 * PROKIO_ENOTSUP on a Unix stream. Thread: any. */
int prokio_stream_set_nodelay(prokio_stream_t *s, bool on);

/* SO_KEEPALIVE: probes an idle connection so that a dead peer is noticed;
 * idle_seconds is how long it stays quiet before the first probe (0
 * switches keep-alive off). TCP only: PROKIO_ENOTSUP on a Unix stream.
 * Thread: any. */
int prokio_stream_set_keepalive(prokio_stream_t *s, unsigned idle_seconds);

/* This end's address and the peer's. Thread: any. */
int prokio_stream_local_addr(const prokio_stream_t *s, prokio_addr_t *addr);
int prokio_stream_peer_addr(const prokio_stream_t *s, prokio_addr_t *addr);

/* The descriptor (still the stream's), or PROKIO_EINVAL. Thread: any. */
int prokio_stream_fileno(const prokio_stream_t *s);

/* Closes and frees the stream, as prokio_listener_close_poll: reads and
 * writes in flight are cancelled first (they end with PROKIO_ECANCELED),
 * then the descriptor is closed.
 * Cancel-safety: abandoned before a result, the stream is still the
 * caller's: finish with prokio_stream_free.
 * Thread: the stream's worker (or any task, if it was never used). */
int prokio_stream_close_poll(prokio_op_t *op, prokio_stream_t *s, prokio_cx_t *cx);

/* Closes and frees at once, for drop functions, as prokio_listener_free
 * (bytes a cancelled read received are dropped with it). Thread: as
 * prokio_listener_free. */
int prokio_stream_free(prokio_stream_t *s);

/* ------------------------------------------------------------------ UDP */

/* Creates a UDP socket bound to addr (IPv4 or IPv6; port 0 lets the kernel
 * pick). flags: 0 or PROKIO_NET_REUSEPORT | PROKIO_NET_V6ONLY.
 * Ownership: *out is the caller's. Thread: any; the socket belongs to the
 * worker of the first task that awaits an operation on it. */
int prokio_udp_bind(prokio_udp_t **out, const prokio_addr_t *addr, unsigned flags);

/* Adopts a UDP socket, as prokio_stream_from_fd (PROKIO_EINVAL for a
 * descriptor that is not a datagram socket). Thread: any. */
int prokio_udp_from_fd(prokio_udp_t **out, int fileno, unsigned flags);

/* Sets the default peer (connect(2) on a datagram socket: nothing is sent,
 * it does not wait): prokio_udp_send_poll goes there, and only its
 * datagrams are received. Thread: any. */
int prokio_udp_connect(prokio_udp_t *u, const prokio_addr_t *addr);

/* Sends one datagram of len bytes to addr: PROKIO_PENDING until the socket
 * took it; then len, or a negative code (PROKIO_EMSGSIZE: too large for
 * one datagram). Cancel-safety: an abandoned send may have sent its
 * datagram (with io_uring only). Lifetime: buf as for stream writes.
 * Thread: the socket's worker. */
int prokio_udp_send_to_poll(prokio_op_t *op, prokio_udp_t *u, const void *buf, size_t len,
                            const prokio_addr_t *addr, prokio_cx_t *cx);

/* Receives one datagram into buf: PROKIO_PENDING; then its length (the
 * rest of a datagram larger than len is discarded, as recvfrom does), with
 * its sender in *from when from is not NULL.
 * Cancel-safety: a datagram received for an abandoned receive is kept and
 * returned by the next one. Lifetime: buf as for stream reads.
 * Thread: the socket's worker. */
int prokio_udp_recv_from_poll(prokio_op_t *op, prokio_udp_t *u, void *buf, size_t len,
                              prokio_addr_t *from, prokio_cx_t *cx);

/* Send and receive on a connected socket (prokio_udp_connect): as the two
 * above, to and from the peer only. A send before connecting fails with
 * PROKIO_ENOTCONN. Thread: the socket's worker. */
int prokio_udp_send_poll(prokio_op_t *op, prokio_udp_t *u, const void *buf, size_t len,
                         prokio_cx_t *cx);
int prokio_udp_recv_poll(prokio_op_t *op, prokio_udp_t *u, void *buf, size_t len, prokio_cx_t *cx);

/* Addresses, descriptor, close and free: as for streams. */
int prokio_udp_local_addr(const prokio_udp_t *u, prokio_addr_t *addr);
int prokio_udp_peer_addr(const prokio_udp_t *u, prokio_addr_t *addr);
int prokio_udp_fileno(const prokio_udp_t *u);
int prokio_udp_close_poll(prokio_op_t *op, prokio_udp_t *u, prokio_cx_t *cx);
int prokio_udp_free(prokio_udp_t *u);

#ifdef __cplusplus
}
#endif
#endif /* PROKIO_NET_H */
