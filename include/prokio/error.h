/* prokio/error.h: error codes.
 *
 * Every Prokio function that can fail returns an int: >= 0 on success and a
 * negative PROKIO_E* code on failure, never -1 plus errno. Where the platform
 * has an errno value the code is its negation (PROKIO_ENOENT == -ENOENT), so
 * a backend can return -errno from a system call unchanged. Codes that exist
 * only in Prokio live below -4000, far from any errno.
 *
 * The table below generates the enum, prokio_strerror() and prokio_err_name():
 * add a code here and nowhere else.
 *
 * This header compiles on its own and may be included by backends, which
 * use the codes and the table but never link the functions below (a
 * backend does not link libprokio).
 */
#ifndef PROKIO_ERROR_H
#define PROKIO_ERROR_H

#include <errno.h>

#ifdef __cplusplus
extern "C" {
#endif

/* XX(NAME, value, "message") */
#define PROKIO_ERRNO_MAP(XX)                                                                       \
    XX(EPERM, -EPERM, "operation not permitted")                                                   \
    XX(ENOENT, -ENOENT, "no such file or directory")                                               \
    XX(EINTR, -EINTR, "interrupted system call")                                                   \
    XX(EIO, -EIO, "i/o error")                                                                     \
    XX(EBADF, -EBADF, "bad file descriptor")                                                       \
    XX(EAGAIN, -EAGAIN, "resource temporarily unavailable")                                        \
    XX(ENOMEM, -ENOMEM, "not enough memory")                                                       \
    XX(EACCES, -EACCES, "permission denied")                                                       \
    XX(EBUSY, -EBUSY, "resource busy or locked")                                                   \
    XX(EEXIST, -EEXIST, "already exists")                                                          \
    XX(EXDEV, -EXDEV, "object belongs to another worker")                                          \
    XX(EINVAL, -EINVAL, "invalid argument")                                                        \
    XX(ENFILE, -ENFILE, "file table overflow")                                                     \
    XX(EMFILE, -EMFILE, "too many open files")                                                     \
    XX(EPIPE, -EPIPE, "other end closed")                                                          \
    XX(ERANGE, -ERANGE, "result out of range")                                                     \
    XX(ENAMETOOLONG, -ENAMETOOLONG, "name too long")                                               \
    XX(ENOTDIR, -ENOTDIR, "not a directory")                                                       \
    XX(EDEADLK, -EDEADLK, "would deadlock: blocking call on a worker thread")                      \
    XX(ENOSYS, -ENOSYS, "function not implemented")                                                \
    XX(ENOTSUP, -ENOTSUP, "operation not supported")                                               \
    XX(ECONNRESET, -ECONNRESET, "connection reset by peer")                                        \
    XX(ENOTCONN, -ENOTCONN, "socket is not connected")                                             \
    XX(ESHUTDOWN, -ESHUTDOWN, "runtime is shut down")                                              \
    XX(ETIMEDOUT, -ETIMEDOUT, "timed out")                                                         \
    XX(ECONNREFUSED, -ECONNREFUSED, "connection refused")                                          \
    XX(ECANCELED, -ECANCELED, "operation canceled")                                                \
    XX(ENOBACKEND, -4001, "no usable backend")                                                     \
    XX(EBACKEND, -4002, "not a prokio backend")                                                    \
    XX(EABI, -4003, "backend ABI version mismatch")                                                \
    XX(ECLOSED, -4004, "closed")                                                                   \
    XX(ELAGGED, -4005, "receiver lagged behind: values were missed")                               \
    XX(EJS, -4006, "JavaScript exception or rejected promise")                                     \
    XX(ENOTFOUND, -4010, "name or service not known")                                              \
    XX(EADDRINUSE, -EADDRINUSE, "address already in use")                                          \
    XX(EADDRNOTAVAIL, -EADDRNOTAVAIL, "address not available")                                     \
    XX(EAFNOSUPPORT, -EAFNOSUPPORT, "address family not supported")                                \
    XX(ECONNABORTED, -ECONNABORTED, "connection aborted")                                          \
    XX(ENETUNREACH, -ENETUNREACH, "network is unreachable")                                        \
    XX(EHOSTUNREACH, -EHOSTUNREACH, "host is unreachable")                                         \
    XX(EMSGSIZE, -EMSGSIZE, "message too long")                                                    \
    XX(ENOTSOCK, -ENOTSOCK, "not a socket")                                                        \
    XX(ESPIPE, -ESPIPE, "illegal seek: the descriptor has no position")

typedef enum prokio_errno {
#define PROKIO__ERR_ENUM(name, value, msg) PROKIO_##name = (value),
    PROKIO_ERRNO_MAP(PROKIO__ERR_ENUM)
#undef PROKIO__ERR_ENUM
} prokio_errno_t;

/* Returns a static, human-readable message for a PROKIO_E* code, or
 * "unknown error" for anything else. Thread: any. */
const char *prokio_strerror(int err);

/* Returns the code's name without the prefix ("ENOENT"), or "UNKNOWN".
 * Thread: any. */
const char *prokio_err_name(int err);

/* Returns a message describing the most recent failure of a Prokio call on
 * the calling thread, with the details the code alone cannot carry (which
 * backend, which file, which versions), or "" if none failed yet.
 * Lifetime: valid until the next failing Prokio call on this thread.
 * Thread: any; each thread has its own message. */
const char *prokio_last_error(void);

#ifdef __cplusplus
}
#endif
#endif /* PROKIO_ERROR_H */
