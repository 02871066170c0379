/* prokio/backend.h: the backend ABI, version 1.1.
 *
 * This is the one header a Prokio backend includes. It is written for the
 * author of a third-party backend: read it top to bottom and you know the
 * whole contract. The in-tree backends (backends/uv, backends/event,
 * backends/uring) are built against this header alone and never see the
 * core's sources; so is yours.
 *
 * What a backend is
 * -----------------
 * The core owns tasks, wakers, timers and channels. A backend owns what
 * touches the operating system: it waits (until a deadline the core gives),
 * it wakes a waiting loop from another thread, and it watches file
 * descriptors for readiness. Every worker thread of a runtime has one loop of
 * the backend; loops share nothing with each other.
 *
 * A backend is a shared object (prokio-NAME.so) exporting exactly one symbol,
 * PROKIO_BACKEND_ENTRY_SYMBOL. The core dlopen()s it with RTLD_NOW |
 * RTLD_LOCAL, calls the entry with the highest ABI version it speaks and a
 * host table, and gets back a vtable. The backend never links against
 * libprokio: everything it needs from the core comes through the host table.
 *
 * The minimum a backend implements (a few hundred lines over epoll):
 *   loop_init / loop_fini    per-worker state, created on the worker's thread
 *   now_ns                   the loop's clock
 *   wait                     block until an event, a wake, or a deadline
 *   wake                     make a waiting (or the next) wait return; any thread
 *   watch_init / watch_update / watch_close   readiness of a descriptor
 *
 * Conventions used below
 * ----------------------
 *   Ownership:  who allocates and who frees.
 *   Lifetime:   how long a pointer stays valid.
 *   Thread:     "loop thread" is the thread that called loop_init for that
 *               loop; "any thread" means what it says.
 * Errors are negative PROKIO_E* codes (prokio/error.h); -errno from a system
 * call can be returned unchanged. Translate your library's own error codes in
 * exactly one helper.
 *
 * Versioning
 * ----------
 * The ABI version is MAJOR.MINOR, packed as (MAJOR << 16 | MINOR). Majors
 * must match exactly. A backend's minor may be lower than the core's: the
 * core then reads only the members that minor defines. Structs are
 * append-only and carry their size; each block of members is marked with
 * the version that added it ("above: ABI 1.0"). A member added in 1.N is
 * read only when the other side's minor is >= N and the pointer is not NULL.
 *
 * Changelog (newest first):
 *   1.1  the RDHUP report bit and CAP_RDHUP (a backend that reports the
 *        peer's half-close lets the core skip the read that would say
 *        EAGAIN after a short one; see CAP_RDHUP).
 *   1.1  native operations: prokio_backend_op_t, vtable->op_submit and
 *        vtable->op_cancel, host->op_complete; the OP_* and BATCH
 *        capability bits may be set (see "Native operations" below).
 *   1.0  first version: loops, wait/wake, readiness watches, non-blocking
 *        hosts (arm + host->drive), capability bits reserved for native
 *        operations.
 */
#ifndef PROKIO_BACKEND_H
#define PROKIO_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <prokio/error.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PROKIO_BACKEND_ABI_MAJOR       1
#define PROKIO_BACKEND_ABI_MINOR       1
#define PROKIO_BACKEND_ABI_VERSION     ((PROKIO_BACKEND_ABI_MAJOR << 16) | PROKIO_BACKEND_ABI_MINOR)
#define PROKIO_BACKEND_ABI_MAJOR_OF(v) ((uint32_t)(v) >> 16)
#define PROKIO_BACKEND_ABI_MINOR_OF(v) ((uint32_t)(v)&0xffffu)

/* The one symbol a backend shared object exports. */
#define PROKIO_BACKEND_ENTRY_SYMBOL "prokio_backend_entry"

/* Define your entry function with these, so that the same source builds as a
 * shared object (one exported symbol) and, with -DPROKIO_BACKEND_STATIC, into
 * a static library under a per-backend name (prokio_backend_entry_NAME), as
 * on WebAssembly where there is no dlopen. Compile with -fvisibility=hidden:
 *
 *   PROKIO_BACKEND_EXPORT int PROKIO_BACKEND_ENTRY(mine)(
 *       const prokio_backend_host_t *host, uint32_t core_abi,
 *       const prokio_backend_vtable_t **vtable);
 */
#ifdef PROKIO_BACKEND_STATIC
#define PROKIO_BACKEND_ENTRY(name) prokio_backend_entry_##name
#define PROKIO_BACKEND_EXPORT
#else
#define PROKIO_BACKEND_ENTRY(name) prokio_backend_entry
#define PROKIO_BACKEND_EXPORT      __attribute__((visibility("default")))
#endif

/* A deadline that never comes: wait without a time limit. */
#define PROKIO_BACKEND_DEADLINE_NEVER UINT64_MAX

/* Readiness events. READABLE and WRITABLE are interests and reports; ERROR
 * and HANGUP are reports only (the core wakes both directions on them and
 * lets the next system call say what happened). RDHUP (ABI 1.1, only from
 * a backend with CAP_RDHUP) is a report that comes with READABLE: the peer
 * shut down its writing side (POLLRDHUP, EPOLLRDHUP, EV_CLOSED), so reads
 * will never block again. */
#define PROKIO_BACKEND_READABLE 0x1u
#define PROKIO_BACKEND_WRITABLE 0x2u
#define PROKIO_BACKEND_ERROR    0x4u
#define PROKIO_BACKEND_HANGUP   0x8u
#define PROKIO_BACKEND_RDHUP    0x10u

/* Capability bits (vtable->caps, refined per loop by loop_init).
 *
 * EDGE: readiness reports are edge-triggered. The backend reports a direction
 *   when the descriptor becomes ready for it (again), and may report again on
 *   each new readiness event (more data arriving), but not on every wait
 *   while nothing changes. The core then leaves interest armed for the life of the
 *   watch and caches readiness itself, which saves a system call per wait.
 *   Without EDGE the core treats reports as level-triggered and narrows the
 *   interest to the directions some task still waits for.
 *
 * NONBLOCKING_HOST: the loop runs on a thread that must never block (a
 *   browser's main thread, node's JS thread). The backend provides arm()
 *   instead of wait() and drives the core from its own event callbacks.
 *   See "Hosts that cannot block" below.
 *
 * OP_*: native asynchronous operations (io_uring style), ABI 1.1: the
 *   backend runs operations of that kind through vtable->op_submit (see
 *   "Native operations" below). Reserved in 1.0 so that bit numbers never
 *   change: a 1.0 backend leaves them clear. When a bit is clear the core
 *   emulates the operation with readiness plus a non-blocking system call,
 *   or on its blocking pool. A loop may clear bits in loop_init (a kernel
 *   that lacks an operation, or a switch that turns native operations off).
 *
 * BATCH: ABI 1.1: op_submit only queues; wait() submits the queue (so one
 *   system call carries many operations). Informational: the core behaves
 *   the same either way. Leave it clear in 1.0.
 *
 * RDHUP: ABI 1.1, for CAP_EDGE backends: every report of READABLE made
 *   after the peer shut down its writing side carries PROKIO_BACKEND_RDHUP
 *   (ask the kernel for POLLRDHUP / EPOLLRDHUP with READABLE interest), or
 *   HANGUP; and every report made after an error on the descriptor (a
 *   reset: POLLERR, with bytes sent before it still readable) carries
 *   ERROR, HANGUP or RDHUP. A library that reports an error as plain
 *   readability (libevent's epoll: EPOLLERR becomes EV_READ | EV_WRITE,
 *   without EV_CLOSED) cannot offer this bit. prokio-backend-check tests
 *   both (a half-close, a reset). With it the core may, after a read that
 *   came back shorter than asked on a TCP socket, wait for the next report
 *   instead of reading again to hear EAGAIN (one system call less per
 *   message, as Tokio does): new bytes make a new edge, and an end of
 *   stream that came with the bytes already read is known from the flags
 *   (the core keeps them: one report is enough). Without it (or without
 *   CAP_EDGE, where a level-triggered report repeats anyway) the core reads
 *   until EAGAIN. Leave it clear in 1.0. */
#define PROKIO_BACKEND_CAP_EDGE             (UINT64_C(1) << 0)
#define PROKIO_BACKEND_CAP_NONBLOCKING_HOST (UINT64_C(1) << 1)
#define PROKIO_BACKEND_CAP_OP_READ          (UINT64_C(1) << 8)
#define PROKIO_BACKEND_CAP_OP_WRITE         (UINT64_C(1) << 9)
#define PROKIO_BACKEND_CAP_OP_RECV          (UINT64_C(1) << 10)
#define PROKIO_BACKEND_CAP_OP_SEND          (UINT64_C(1) << 11)
#define PROKIO_BACKEND_CAP_OP_ACCEPT        (UINT64_C(1) << 12)
#define PROKIO_BACKEND_CAP_OP_CONNECT       (UINT64_C(1) << 13)
#define PROKIO_BACKEND_CAP_OP_CLOSE         (UINT64_C(1) << 14)
#define PROKIO_BACKEND_CAP_OP_FSYNC         (UINT64_C(1) << 15)
#define PROKIO_BACKEND_CAP_OP_OPEN          (UINT64_C(1) << 16)
#define PROKIO_BACKEND_CAP_BATCH            (UINT64_C(1) << 17)
#define PROKIO_BACKEND_CAP_RDHUP            (UINT64_C(1) << 18)

/* XX(BIT, "name"): every capability bit with the name tools print
 * (prokio-info, prokio-backend-check). One table, so that a new bit is
 * added here and nowhere else. */
#define PROKIO_BACKEND_CAP_MAP(XX)                                                                 \
    XX(PROKIO_BACKEND_CAP_EDGE, "edge")                                                            \
    XX(PROKIO_BACKEND_CAP_NONBLOCKING_HOST, "nonblocking-host")                                    \
    XX(PROKIO_BACKEND_CAP_OP_READ, "read")                                                         \
    XX(PROKIO_BACKEND_CAP_OP_WRITE, "write")                                                       \
    XX(PROKIO_BACKEND_CAP_OP_RECV, "recv")                                                         \
    XX(PROKIO_BACKEND_CAP_OP_SEND, "send")                                                         \
    XX(PROKIO_BACKEND_CAP_OP_ACCEPT, "accept")                                                     \
    XX(PROKIO_BACKEND_CAP_OP_CONNECT, "connect")                                                   \
    XX(PROKIO_BACKEND_CAP_OP_CLOSE, "close")                                                       \
    XX(PROKIO_BACKEND_CAP_OP_FSYNC, "fsync")                                                       \
    XX(PROKIO_BACKEND_CAP_OP_OPEN, "open")                                                         \
    XX(PROKIO_BACKEND_CAP_BATCH, "batch")                                                          \
    XX(PROKIO_BACKEND_CAP_RDHUP, "rdhup")

/* Every bit of the table above, and the ones a 1.0 vtable leaves clear. */
#define PROKIO_BACKEND__CAP_OR(bit, name) | (bit)
#define PROKIO_BACKEND_CAPS_KNOWN         (0 PROKIO_BACKEND_CAP_MAP(PROKIO_BACKEND__CAP_OR))
#define PROKIO_BACKEND_CAPS_RESERVED_1_0                                                           \
    (PROKIO_BACKEND_CAPS_KNOWN & ~(PROKIO_BACKEND_CAP_EDGE | PROKIO_BACKEND_CAP_NONBLOCKING_HOST))
/* The bits that promise native operations (they need op_submit). */
#define PROKIO_BACKEND_CAPS_OPS                                                                    \
    (PROKIO_BACKEND_CAPS_RESERVED_1_0 & ~(PROKIO_BACKEND_CAP_BATCH | PROKIO_BACKEND_CAP_RDHUP))

/* Writes caps as tools print them, "0x1 (edge)" or "0x0 (none)", into buf
 * (cap bytes, NUL-terminated, cut if needed) and returns buf. Thread: any. */
static inline const char *prokio_backend_caps_format(uint64_t caps, char *buf, size_t cap)
{
#define PROKIO_BACKEND__CAP_ENTRY(bit, name) {bit, name},
    static const struct {
        uint64_t bit;
        const char *name;
    } names[] = {PROKIO_BACKEND_CAP_MAP(PROKIO_BACKEND__CAP_ENTRY)};
#undef PROKIO_BACKEND__CAP_ENTRY
    size_t len = (size_t)snprintf(buf, cap, "0x%llx", (unsigned long long)caps);
    const char *sep = " (";
    for (size_t i = 0; i < sizeof names / sizeof names[0] && len < cap; i++) {
        if (caps & names[i].bit) {
            len += (size_t)snprintf(buf + len, cap - len, "%s%s", sep, names[i].name);
            sep = ", ";
        }
    }
    if (len < cap)
        snprintf(buf + len, cap - len, "%s", sep[0] == ',' ? ")" : " (none)");
    return buf;
}

/* Limits every core enforces when it loads a backend, and the checker with
 * it (prokio_backend_vtable_check below): a name of 1 to
 * PROKIO_BACKEND_NAME_MAX characters of [a-z0-9_-], and per-loop and
 * per-watch state of 1 byte to PROKIO_BACKEND_STATE_MAX bytes each. */
#define PROKIO_BACKEND_NAME_MAX  32
#define PROKIO_BACKEND_STATE_MAX ((size_t)1 << 20)

/* Log levels for host->log. */
#define PROKIO_BACKEND_LOG_ERROR 0
#define PROKIO_BACKEND_LOG_WARN  1
#define PROKIO_BACKEND_LOG_DEBUG 2

/* Opaque to the core: the backend's own per-loop and per-watch state. The
 * core allocates vtable->loop_size and vtable->watch_size bytes for them,
 * aligned for any type (16 bytes), so a backend needs no malloc for either. */
typedef struct prokio_backend_loop prokio_backend_loop_t;
typedef struct prokio_backend_watch prokio_backend_watch_t;

/* Opaque to the backend: the core's side of a loop. Pass it back unchanged. */
typedef struct prokio_backend_host_loop prokio_backend_host_loop_t;

/* Native operation kinds (prokio_backend_op_t.kind), ABI 1.1. Each has the
 * capability bit of the same name; the core submits a kind only when the
 * loop kept its bit. */
#define PROKIO_BACKEND_OP_READ    1u /* pread(fd, buf, len, offset); offset ~0: read(2) */
#define PROKIO_BACKEND_OP_WRITE   2u /* pwrite(fd, buf, len, offset); offset ~0: write(2) */
#define PROKIO_BACKEND_OP_RECV    3u /* recv(fd, buf, len, flags) */
#define PROKIO_BACKEND_OP_SEND    4u /* send(fd, buf, len, flags); flags has MSG_NOSIGNAL */
#define PROKIO_BACKEND_OP_ACCEPT  5u /* accept4(fd, addr, &addrlen, flags) */
#define PROKIO_BACKEND_OP_CONNECT 6u /* connect(fd, addr, addrlen) */
#define PROKIO_BACKEND_OP_CLOSE   7u /* close(fd) */
#define PROKIO_BACKEND_OP_FSYNC   8u /* fsync(fd), or fdatasync(fd) when flags is 1 */
#define PROKIO_BACKEND_OP_OPEN    9u /* openat(AT_FDCWD, buf, flags, mode): buf is the path */

/* One native operation, ABI 1.1.
 * Ownership: the core's memory. From op_submit until the backend calls
 * host->op_complete for it, the backend may read and write it (and the
 * kernel the buffers it names); the core neither frees nor moves it, nor
 * the memory buf and addr point to. After op_complete the backend forgets
 * it: no later call or completion may touch it (use backend_data to find
 * your own state, never the op's address after its completion).
 * result: what the system call would have returned (>= 0), or a negative
 * PROKIO_E* / -errno code; PROKIO_ECANCELED when cancelled before it did
 * anything. */
typedef struct prokio_backend_op {
    uint32_t size;     /* sizeof this struct as the core knows it */
    uint32_t kind;     /* PROKIO_BACKEND_OP_* */
    int32_t fd;        /* the descriptor (OPEN: unused) */
    int32_t flags;     /* MSG_* (RECV, SEND), SOCK_* (ACCEPT), O_* (OPEN), 1 = datasync (FSYNC) */
    uint64_t offset;   /* READ, WRITE: file offset, UINT64_MAX for the current position */
    void *buf;         /* data (READ, RECV: written; WRITE, SEND: read), or OPEN's path */
    size_t len;        /* bytes at buf */
    void *addr;        /* ACCEPT: struct sockaddr written (may be NULL); CONNECT: read */
    uint32_t addrlen;  /* ACCEPT: room at addr, then the address's length; CONNECT: its length */
    uint32_t mode;     /* OPEN: the mode of a created file */
    int32_t result;    /* set by the backend before op_complete */
    uint32_t reserved; /* 0 */
    void *backend_data[2]; /* the backend's, untouched by the core while in flight */
    /* above: ABI 1.1 */
} prokio_backend_op_t;

/* What the core tells loop_init about the loop being created.
 * Ownership: the core's. Lifetime: borrowed for the duration of loop_init. */
typedef struct prokio_backend_loop_config {
    uint32_t size;         /* sizeof this struct as the core knows it */
    uint32_t worker_index; /* 0 .. worker_count-1 */
    uint32_t worker_count;
    uint32_t flags; /* reserved, 0 in 1.0 */
    /* above: ABI 1.0 */
} prokio_backend_loop_config_t;

/* The host table: what the core offers the backend.
 * Ownership: the core's. Lifetime: valid from the entry call until the core
 * unloads the backend, which happens only after every loop is finished.
 * Read a member only if offsetof(member) < size. The first five members
 * (size, abi_version, alloc, free, log) keep their offsets in every major
 * version, so a backend can always say why it refuses a core. */
typedef struct prokio_backend_host {
    uint32_t size;        /* sizeof(prokio_backend_host_t) as the core knows it */
    uint32_t abi_version; /* the highest ABI version the core speaks */

    /* Zero-filled allocation and its free, for the rare allocations a
     * backend cannot avoid (never on a per-wait or per-event path). The
     * memory is aligned for any type, like malloc's. alloc returns NULL
     * when out of memory. Thread: any. */
    void *(*alloc)(size_t size);
    void (*free)(void *ptr);

    /* printf-style diagnostics. The core prefixes the backend's name and
     * decides what is shown (PROKIO_DEBUG=backend shows DEBUG). Never
     * prints on its own initiative. Thread: any. */
    void (*log)(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

    /* CLOCK_MONOTONIC in nanoseconds: a ready-made now_ns for backends that
     * have no clock of their own. Thread: any. */
    uint64_t (*monotonic_ns)(void);

    /* Report readiness of a watch: events is a mask of PROKIO_BACKEND_*.
     * The core only records the events and queues the tasks concerned: it
     * never runs a task and never calls back into the backend (no
     * watch_update, no wake) from inside this call, so the backend may call
     * it from any point of its event dispatch, holding its own locks. The
     * interest changes a report leads to reach watch_update after wait (or
     * the backend's callback, on a non-blocking host) has returned.
     * Thread: the loop thread, from inside wait() (blocking hosts) or from
     * the backend's own event callbacks (non-blocking hosts). */
    void (*watch_ready)(prokio_backend_host_loop_t *host_loop, prokio_backend_watch_t *watch,
                        unsigned events);

    /* Non-blocking hosts only: run the worker once. Runs ready tasks up to a
     * budget, fires due timers, and, before returning, calls vtable->arm with
     * the time it wants to be driven again. Returns 0, or PROKIO_ESHUTDOWN
     * once the runtime is shutting down (stop calling drive).
     * Thread: the loop thread, never from inside another host call. */
    int (*drive)(prokio_backend_host_loop_t *host_loop);
    /* above: ABI 1.0 */

    /* The terminal completion of a native operation (op->result is set):
     * exactly once per op accepted by op_submit, cancelled or not. Like
     * watch_ready, the core only records it and queues the tasks concerned:
     * it never calls back into the backend from inside (so the backend may
     * call it from its dispatch, holding its locks). Thread: the loop
     * thread, from inside wait(). */
    void (*op_complete)(prokio_backend_host_loop_t *host_loop, prokio_backend_op_t *op);
    /* above: ABI 1.1 */
} prokio_backend_host_t;

/* The vtable: what the backend offers the core.
 * Ownership: the backend's (usually a static const). Lifetime: valid until
 * the shared object is unloaded. Members are called only as described. */
typedef struct prokio_backend_vtable {
    uint32_t size;        /* sizeof(prokio_backend_vtable_t) as the backend knows it */
    uint32_t abi_version; /* the ABI version the backend implements */
    const char *name;     /* short name, [a-z0-9_-]+, e.g. "uring" */
    const char *version;  /* free-form, e.g. "1.0 (liburing 2.3)" */
    uint64_t caps;        /* PROKIO_BACKEND_CAP_* this backend may offer */
    size_t loop_size;     /* bytes of per-loop state the core allocates */
    size_t watch_size;    /* bytes of per-watch state the core allocates */

    /* Create a loop in the zero-filled memory at `loop`. Store host_loop to
     * pass back to host callbacks. On entry *caps holds vtable->caps; clear
     * the bits this loop cannot honour (for instance EDGE on a kernel without
     * multishot poll). Return 0, or a negative code and leave nothing behind:
     * a loop that failed to initialise is never finished. A kernel that
     * refuses the mechanism (io_uring: EPERM, ENOSYS) is reported here; the
     * core then names the backend and the code to the user.
     * Thread: the loop thread, which all later calls for this loop share. */
    int (*loop_init)(prokio_backend_loop_t *loop, prokio_backend_host_loop_t *host_loop,
                     const prokio_backend_loop_config_t *config, uint64_t *caps);

    /* Release everything the loop holds. Every watch has been closed before.
     * Do not call host->watch_ready or host->drive from here (alloc, free
     * and log are fine). Afterwards the core frees the loop memory.
     * Thread: the loop thread. */
    void (*loop_fini)(prokio_backend_loop_t *loop);

    /* The loop's clock in nanoseconds, monotonic, the time base of every
     * deadline given to wait and arm. Real backends return
     * host->monotonic_ns(); a simulation backend returns virtual time.
     * Thread: the loop thread. */
    uint64_t (*now_ns)(prokio_backend_loop_t *loop);

    /* Blocking hosts: wait until at least one of
     *   - a watch becomes ready (report it with host->watch_ready),
     *   - wake() was called since the previous wait returned (wakes are
     *     sticky: a wake that came before wait makes wait return at once),
     *   - now_ns() >= deadline_ns (never return "timed out" early; rounding
     *     a deadline up to your mechanism's resolution is fine; 0 means do
     *     not block; PROKIO_BACKEND_DEADLINE_NEVER means no time limit).
     * Do not return before the deadline for any other reason (loop
     * internally over your library's spurious returns), but deliver the
     * events your mechanism has already returned, without blocking for
     * more, once you return. A wake that overlaps a wait may end that wait,
     * the next one, or both. EINTR is not an error: retry.
     * Return the number of host->watch_ready calls made (>= 0; a wake is not
     * counted). The core reads only the sign; the count is for
     * prokio-backend-check, which verifies it. Return a negative code only
     * when the loop is unusable: the core retries a few times with a growing
     * pause (about a quarter of a second in all), then stops the worker for
     * good: its tasks end with that code, spawns onto it fail, and the
     * failure is printed on stderr whatever PROKIO_DEBUG says.
     * NULL for NONBLOCKING_HOST backends. Thread: the loop thread. */
    int (*wait)(prokio_backend_loop_t *loop, uint64_t deadline_ns);

    /* Make the current or next wait() of this loop return soon. Coalesce:
     * many wakes before the loop notices them may cost one system call; the
     * core already calls this at most once per park. Must not allocate and
     * must not fail; async-signal-safe is welcome but not required.
     * On a NONBLOCKING_HOST loop: schedule host->drive soon, in a microtask
     * or equivalent, ahead of timers and I/O.
     * Thread: any thread, including the loop thread; may race with
     * loop_fini only in the sense that the core stops calling it first. */
    void (*wake)(prokio_backend_loop_t *loop);

    /* NONBLOCKING_HOST loops only (NULL otherwise): call host->drive once,
     * soon after now_ns() >= deadline_ns. Each call replaces the previous
     * one. deadline_ns == 0 means "more work is ready, but let the host run
     * its own events first" (a macrotask: setImmediate or MessageChannel,
     * not a microtask, so rendering and I/O are not starved).
     * PROKIO_BACKEND_DEADLINE_NEVER cancels. Returns 0 or a negative code.
     * Thread: the loop thread, from inside host->drive or a host callback. */
    int (*arm)(prokio_backend_loop_t *loop, uint64_t deadline_ns);

    /* Prepare the zero-filled memory at `watch` to watch `fd`, with no
     * interest yet: nothing is reported until watch_update. The descriptor
     * is non-blocking and stays the caller's; the backend never closes it
     * (setting O_NONBLOCK again is harmless). Return 0 or a negative code:
     * PROKIO_EBADF, PROKIO_EPERM for a descriptor the mechanism cannot
     * watch (a regular file under epoll; reporting that at the first
     * watch_update instead is allowed), PROKIO_EEXIST if the mechanism
     * cannot watch one descriptor twice in a loop. Thread: the loop thread. */
    int (*watch_init)(prokio_backend_loop_t *loop, prokio_backend_watch_t *watch, int fd);

    /* Set the interest of a watch to `events` (READABLE | WRITABLE, or 0 for
     * none). While a direction is in the interest, the backend reports it
     * with host->watch_ready when the descriptor is ready for it: at least
     * once after this call if it is ready now, and again each time it
     * becomes ready after having been not ready. Extra reports of a
     * direction in the interest are allowed (the core retries the system
     * call); lost ones are not. ERROR and HANGUP may accompany any report.
     * With interest 0, report nothing. Without CAP_EDGE, reporting on every
     * wait while ready is expected. The core calls this only when the
     * interest changes. Return 0 or a negative code.
     * Thread: the loop thread. */
    int (*watch_update)(prokio_backend_loop_t *loop, prokio_backend_watch_t *watch,
                        unsigned events);

    /* Stop watching. After return the backend neither reports this watch
     * nor touches its memory, which the core may free at once, and holds no
     * reference to the open file (a poll still in the kernel does: cancel
     * it now), so that the close(fd) that follows really closes it. A
     * backend whose library needs memory longer (libuv's uv_close, an
     * io_uring completion still to come) keeps its own, allocated with
     * host->alloc at watch_init. The core calls this before the descriptor
     * is closed. Thread: the loop thread. */
    void (*watch_close)(prokio_backend_loop_t *loop, prokio_backend_watch_t *watch);
    /* above: ABI 1.0 */

    /* Start a native operation of a kind whose CAP_OP_* bit the loop kept
     * (see "Native operations" below). Return 0: the op is the backend's
     * until exactly one host->op_complete for it, from inside a later wait
     * (never from inside op_submit). Return a negative code (PROKIO_ENOMEM,
     * PROKIO_ENOTSUP...) to refuse it: then it never completes and the core
     * emulates or reports the error. May only queue it (CAP_BATCH): wait
     * submits. NULL unless an OP_* bit is set. Thread: the loop thread. */
    int (*op_submit)(prokio_backend_loop_t *loop, prokio_backend_op_t *op);

    /* Ask that an op in flight end soon. It still completes exactly once,
     * with PROKIO_ECANCELED or with what it did (a read that got bytes
     * reports them: they must not be lost). Before returning, make sure the
     * op has taken hold of its descriptor (io_uring: submit a queued SQE),
     * because the core may close the descriptor right after this call. 0,
     * or a negative code when the request could not be made (the op then
     * completes on its own). NULL unless an OP_* bit is set.
     * Thread: the loop thread. */
    int (*op_cancel)(prokio_backend_loop_t *loop, prokio_backend_op_t *op);
    /* above: ABI 1.1 */
} prokio_backend_vtable_t;

/* The entry point. The core calls it once per process after dlopen, before
 * any loop exists.
 *   host      the host table (see its lifetime above).
 *   core_abi  the highest ABI version the core speaks.
 *   vtable    out: the backend's vtable, whose abi_version says what it
 *             implements: the same major as core_abi and a minor no higher.
 * Return 0, or PROKIO_EABI when the backend cannot speak core_abi's major
 * (log why with host->log), or another negative code.
 * Thread: any; called once, before every other member. */
typedef int (*prokio_backend_entry_fn)(const prokio_backend_host_t *host, uint32_t core_abi,
                                       const prokio_backend_vtable_t **vtable);

#ifndef PROKIO_BACKEND_STATIC
/* The entry's declaration, so that a backend built with
 * -Wmissing-prototypes defines it without a warning. (A static build's
 * per-backend names are declared by whoever links them.) */
PROKIO_BACKEND_EXPORT int prokio_backend_entry(const prokio_backend_host_t *host, uint32_t core_abi,
                                               const prokio_backend_vtable_t **vtable);
#endif

/* The sizes of the 1.0 tables: what every 1.x core and backend provide. A
 * member added in 1.N is read only when the table is large enough for it
 * and the other side's minor is >= N. */
#define PROKIO_BACKEND_HOST_SIZE_1_0                                                               \
    (offsetof(prokio_backend_host_t, drive) + sizeof(void (*)(void)))
#define PROKIO_BACKEND_VTABLE_SIZE_1_0                                                             \
    (offsetof(prokio_backend_vtable_t, watch_close) + sizeof(void (*)(void)))
/* The sizes of the 1.1 tables. */
#define PROKIO_BACKEND_HOST_SIZE_1_1                                                               \
    (offsetof(prokio_backend_host_t, op_complete) + sizeof(void (*)(void)))
#define PROKIO_BACKEND_VTABLE_SIZE_1_1                                                             \
    (offsetof(prokio_backend_vtable_t, op_cancel) + sizeof(void (*)(void)))

/* The check every entry function starts with: the core speaks this header's
 * major version and its host table has every 1.0 member.
 * When it does not, logs why through host->log (whose offset every major
 * keeps) and returns PROKIO_EABI; otherwise returns 0.
 *
 *   int rc = prokio_backend_check_core(host, core_abi, "mine");
 *   if (rc < 0)
 *       return rc;
 */
static inline int prokio_backend_check_core(const prokio_backend_host_t *host, uint32_t core_abi,
                                            const char *backend_name)
{
    if (host == NULL)
        return PROKIO_EABI;
    bool same_major = PROKIO_BACKEND_ABI_MAJOR_OF(core_abi) == PROKIO_BACKEND_ABI_MAJOR;
    if (same_major && host->size >= PROKIO_BACKEND_HOST_SIZE_1_0)
        return 0;
    if (host->size < offsetof(prokio_backend_host_t, log) + sizeof host->log || !host->log)
        return PROKIO_EABI;
    if (!same_major)
        host->log(PROKIO_BACKEND_LOG_ERROR,
                  "the %s backend speaks backend ABI %u.x; the core speaks %u.%u: the major "
                  "versions must match (rebuild the backend against the core's prokio/backend.h)",
                  backend_name, (unsigned)PROKIO_BACKEND_ABI_MAJOR,
                  (unsigned)PROKIO_BACKEND_ABI_MAJOR_OF(core_abi),
                  (unsigned)PROKIO_BACKEND_ABI_MINOR_OF(core_abi));
    else
        host->log(PROKIO_BACKEND_LOG_ERROR,
                  "the %s backend needs a host table of at least %u bytes (ABI %u.0); the core "
                  "claims ABI %u.%u but offers %u bytes",
                  backend_name, (unsigned)PROKIO_BACKEND_HOST_SIZE_1_0,
                  (unsigned)PROKIO_BACKEND_ABI_MAJOR,
                  (unsigned)PROKIO_BACKEND_ABI_MAJOR_OF(core_abi),
                  (unsigned)PROKIO_BACKEND_ABI_MINOR_OF(core_abi), (unsigned)host->size);
    return PROKIO_EABI;
}

/* True when name is 1 to PROKIO_BACKEND_NAME_MAX characters of [a-z0-9_-]. */
static inline bool prokio_backend_name_valid(const char *name)
{
    size_t n = 0;
    if (name == NULL)
        return false;
    for (; name[n]; n++) {
        char c = name[n];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return false;
        if (n >= PROKIO_BACKEND_NAME_MAX)
            return false;
    }
    return n > 0;
}

/* Everything a core checks in a vtable returned for core_abi before it uses
 * it: the rules above, in one place, so that the core's loader and
 * prokio-backend-check refuse exactly the same vtables. Returns 0, or
 * PROKIO_EABI (versions) or PROKIO_EBACKEND (anything else) with a sentence
 * naming the member and what was expected in why (why_cap bytes, may be 0).
 * Thread: any. */
static inline int prokio_backend_vtable_check(const prokio_backend_vtable_t *vt, uint32_t core_abi,
                                              char *why, size_t why_cap)
{
#define PROKIO_BACKEND__REFUSE(code, ...)                                                          \
    do {                                                                                           \
        if (why_cap)                                                                               \
            snprintf(why, why_cap, __VA_ARGS__);                                                   \
        return (code);                                                                             \
    } while (0)
    if (vt == NULL)
        PROKIO_BACKEND__REFUSE(PROKIO_EBACKEND, "the entry returned 0 but no vtable");
    unsigned major = PROKIO_BACKEND_ABI_MAJOR_OF(vt->abi_version);
    unsigned minor = PROKIO_BACKEND_ABI_MINOR_OF(vt->abi_version);
    unsigned core_major = PROKIO_BACKEND_ABI_MAJOR_OF(core_abi);
    unsigned core_minor = PROKIO_BACKEND_ABI_MINOR_OF(core_abi);
    bool nonblocking = (vt->caps & PROKIO_BACKEND_CAP_NONBLOCKING_HOST) != 0;
    if (major != core_major)
        PROKIO_BACKEND__REFUSE(PROKIO_EABI,
                               "vtable->abi_version says backend ABI %u.%u; the core speaks %u.%u: "
                               "the major "
                               "versions must match (rebuild the backend against this "
                               "prokio/backend.h)",
                               major, minor, core_major, core_minor);
    if (minor > core_minor)
        PROKIO_BACKEND__REFUSE(PROKIO_EABI,
                               "vtable->abi_version says backend ABI %u.%u, newer than the core's "
                               "%u.%u: "
                               "upgrade libprokio, or build the backend for ABI %u.%u",
                               major, minor, core_major, core_minor, core_major, core_minor);
    if (vt->size < PROKIO_BACKEND_VTABLE_SIZE_1_0)
        PROKIO_BACKEND__REFUSE(PROKIO_EBACKEND,
                               "vtable->size is %u bytes, smaller than the %u bytes of ABI 1.0",
                               (unsigned)vt->size, (unsigned)PROKIO_BACKEND_VTABLE_SIZE_1_0);
    if (!prokio_backend_name_valid(vt->name))
        PROKIO_BACKEND__REFUSE(PROKIO_EBACKEND,
                               "vtable->name must be 1 to %d characters of [a-z0-9_-]",
                               PROKIO_BACKEND_NAME_MAX);
    if (vt->version == NULL)
        PROKIO_BACKEND__REFUSE(PROKIO_EBACKEND, "vtable->version is NULL: give a string");
    if (vt->caps & ~(uint64_t)PROKIO_BACKEND_CAPS_KNOWN)
        PROKIO_BACKEND__REFUSE(
            PROKIO_EBACKEND, "vtable->caps has unknown bits 0x%llx",
            (unsigned long long)(vt->caps & ~(uint64_t)PROKIO_BACKEND_CAPS_KNOWN));
    if (minor == 0 && (vt->caps & PROKIO_BACKEND_CAPS_RESERVED_1_0))
        PROKIO_BACKEND__REFUSE(PROKIO_EBACKEND,
                               "vtable->caps sets 0x%llx, reserved in ABI 1.0 (OP_*, BATCH, RDHUP)",
                               (unsigned long long)(vt->caps & PROKIO_BACKEND_CAPS_RESERVED_1_0));
    if (minor >= 1 && vt->size < PROKIO_BACKEND_VTABLE_SIZE_1_1)
        PROKIO_BACKEND__REFUSE(PROKIO_EBACKEND,
                               "vtable->size is %u bytes, smaller than the %u bytes of ABI 1.1 "
                               "that vtable->abi_version claims",
                               (unsigned)vt->size, (unsigned)PROKIO_BACKEND_VTABLE_SIZE_1_1);
    if (minor >= 1 && (vt->caps & PROKIO_BACKEND_CAPS_OPS) && (!vt->op_submit || !vt->op_cancel))
        PROKIO_BACKEND__REFUSE(PROKIO_EBACKEND,
                               "vtable->caps sets native operations (0x%llx) but vtable->%s is "
                               "NULL",
                               (unsigned long long)(vt->caps & PROKIO_BACKEND_CAPS_OPS),
                               vt->op_submit ? "op_cancel" : "op_submit");
    if (minor >= 1 && (vt->caps & PROKIO_BACKEND_CAP_NONBLOCKING_HOST) &&
        (vt->caps & PROKIO_BACKEND_CAPS_RESERVED_1_0 & ~PROKIO_BACKEND_CAP_RDHUP))
        PROKIO_BACKEND__REFUSE(PROKIO_EBACKEND,
                               "vtable->caps sets native operations on a CAP_NONBLOCKING_HOST "
                               "backend: completions come from inside wait(), which it has not");
    if (vt->loop_size == 0 || vt->loop_size > PROKIO_BACKEND_STATE_MAX)
        PROKIO_BACKEND__REFUSE(PROKIO_EBACKEND,
                               "vtable->loop_size is %zu: give 1 to %zu bytes (the core "
                               "allocates exactly that much for each loop)",
                               vt->loop_size, (size_t)PROKIO_BACKEND_STATE_MAX);
    if (vt->watch_size == 0 || vt->watch_size > PROKIO_BACKEND_STATE_MAX)
        PROKIO_BACKEND__REFUSE(PROKIO_EBACKEND,
                               "vtable->watch_size is %zu: give 1 to %zu bytes (the core "
                               "allocates exactly that much for each watch)",
                               vt->watch_size, (size_t)PROKIO_BACKEND_STATE_MAX);
    const char *missing = !vt->loop_init                ? "loop_init"
                          : !vt->loop_fini              ? "loop_fini"
                          : !vt->now_ns                 ? "now_ns"
                          : !vt->wake                   ? "wake"
                          : !vt->watch_init             ? "watch_init"
                          : !vt->watch_update           ? "watch_update"
                          : !vt->watch_close            ? "watch_close"
                          : (!nonblocking && !vt->wait) ? "wait"
                          : (nonblocking && !vt->arm)   ? "arm"
                                                        : NULL;
    if (missing)
        PROKIO_BACKEND__REFUSE(
            PROKIO_EBACKEND, "vtable->%s is NULL%s", missing,
            nonblocking && missing[0] == 'a' ? " (CAP_NONBLOCKING_HOST backends need arm)" : "");
    if (nonblocking && vt->wait)
        PROKIO_BACKEND__REFUSE(PROKIO_EBACKEND,
                               "vtable->wait is set on a CAP_NONBLOCKING_HOST backend: leave "
                               "it NULL (the host drives the loop)");
    if (!nonblocking && vt->arm)
        PROKIO_BACKEND__REFUSE(PROKIO_EBACKEND,
                               "vtable->arm is set without CAP_NONBLOCKING_HOST: leave it NULL");
    return 0;
#undef PROKIO_BACKEND__REFUSE
}

/* Hosts that cannot block (the browser, node's JS thread)
 * -------------------------------------------------------
 * The browser's main thread runs timers, promise callbacks and rendering
 * only after WebAssembly returns, so such a backend can never wait(). The
 * control flow is inverted: the backend sets CAP_NONBLOCKING_HOST, leaves
 * wait NULL, and provides arm. The core creates the worker without a thread
 * of its own, and from then on:
 *
 *   1. Whenever the core has work (a spawn, a wake, a watch report), it calls
 *      vtable->wake(loop): the backend queues one microtask that calls
 *      host->drive(host_loop). Several wakes before it runs cost one
 *      microtask.
 *   2. host->drive runs ready tasks up to a budget, fires due timers, and
 *      calls vtable->arm(loop, deadline) once before returning:
 *        - 0 if the budget ran out with tasks still ready: the backend
 *          schedules drive as a macrotask, so the host's own events run;
 *        - the next timer's deadline: the backend sets one host timer
 *          (setTimeout) and calls drive when it fires, treating deadlines
 *          within a millisecond as due (node fires timers up to 0.8 ms early);
 *        - PROKIO_BACKEND_DEADLINE_NEVER if nothing is pending: the backend
 *          clears its host timer.
 *   3. The backend's event callbacks (a socket became readable, a JS Promise
 *      settled) call host->watch_ready, then drive (directly, or through
 *      wake). drive never re-enters itself.
 *
 * A sketch of the JS side, for an emscripten --js-library:
 *
 *   wake:  if (!queued) { queued = true; queueMicrotask(() => { queued = false;
 *              _prokio_drive(hostLoop); }); }
 *   arm:   clearTimeout(timer); if (deadline == 0) setImmediate(drive);
 *          else if (deadline != NEVER) timer = setTimeout(drive, ms(deadline - now));
 *
 * The same task code, wakers and timers then run unchanged on both kinds of
 * host; only who owns the loop differs.
 *
 * Native operations (ABI 1.1)
 * ---------------------------
 * A backend whose mechanism performs I/O itself (io_uring) sets the OP_*
 * bits it implements and provides op_submit and op_cancel; the core then
 * hands it those operations instead of waiting for readiness and calling
 * the system call itself. The contract, for each op accepted by op_submit:
 *   - exactly one terminal completion, host->op_complete(host_loop, op),
 *     from inside a later wait() on the loop thread, cancelled or not;
 *   - until then the op, its buffer and its address are the backend's (the
 *     core keeps the memory alive: a task whose op is in flight keeps its
 *     frame until the completion, even when aborted);
 *   - op_cancel only asks: the op completes with PROKIO_ECANCELED, or with
 *     its result if it got that far (bytes read are never hidden behind
 *     ECANCELED); the core cancels a descriptor's ops before it closes it,
 *     and op_cancel makes sure the op holds its file before returning;
 *   - submissions may be queued and flushed in wait() (CAP_BATCH).
 * A 1.0 backend (or a loop that clears the bits) gets the core's emulation
 * for everything: nothing else changes.
 *
 * Planned for later minor versions (append-only, no break): multishot
 * operations and registered buffers.
 */

#ifdef __cplusplus
}
#endif

/* Layout checks: an un-bumped change to an ABI struct fails to build. The
 * offsets are those of the LP64 and ILP32 data models alike, expressed in
 * pointer-sized units where pointers are involved. */
#define PROKIO__BACKEND_P sizeof(void *)
#ifdef __cplusplus
#define PROKIO__BACKEND_STATIC_ASSERT static_assert
#else
#define PROKIO__BACKEND_STATIC_ASSERT _Static_assert
#endif
PROKIO__BACKEND_STATIC_ASSERT(offsetof(prokio_backend_loop_config_t, flags) == 12,
                              "ABI 1.0 layout");
PROKIO__BACKEND_STATIC_ASSERT(offsetof(prokio_backend_host_t, alloc) == 8, "ABI 1.0 layout");
PROKIO__BACKEND_STATIC_ASSERT(offsetof(prokio_backend_host_t, drive) == 8 + 5 * PROKIO__BACKEND_P,
                              "ABI 1.0 layout");
PROKIO__BACKEND_STATIC_ASSERT(offsetof(prokio_backend_vtable_t, name) == 8, "ABI 1.0 layout");
PROKIO__BACKEND_STATIC_ASSERT(offsetof(prokio_backend_vtable_t, caps) == 8 + 2 * PROKIO__BACKEND_P,
                              "ABI 1.0 layout");
PROKIO__BACKEND_STATIC_ASSERT(offsetof(prokio_backend_vtable_t, loop_init) ==
                                  16 + 4 * PROKIO__BACKEND_P,
                              "ABI 1.0 layout");
PROKIO__BACKEND_STATIC_ASSERT(offsetof(prokio_backend_vtable_t, watch_close) ==
                                  16 + 12 * PROKIO__BACKEND_P,
                              "ABI 1.0 layout");
PROKIO__BACKEND_STATIC_ASSERT(offsetof(prokio_backend_host_t, op_complete) ==
                                  8 + 6 * PROKIO__BACKEND_P,
                              "ABI 1.1 layout");
PROKIO__BACKEND_STATIC_ASSERT(offsetof(prokio_backend_vtable_t, op_cancel) ==
                                  16 + 14 * PROKIO__BACKEND_P,
                              "ABI 1.1 layout");
PROKIO__BACKEND_STATIC_ASSERT(offsetof(prokio_backend_op_t, buf) == 24, "ABI 1.1 layout");
PROKIO__BACKEND_STATIC_ASSERT(offsetof(prokio_backend_op_t, backend_data) ==
                                  40 + 3 * PROKIO__BACKEND_P,
                              "ABI 1.1 layout");

#endif /* PROKIO_BACKEND_H */
