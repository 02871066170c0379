/* core/file.c: files (prokio/file.h), on the ops layer (op.h).
 *
 * A file is the ops' view of its descriptor (struct prokio__io of kind
 * PROKIO__IO_FILE, bound to the worker of the task that opened it) and
 * the position the file object keeps. The ops choose how each call runs:
 * natively where the backend's loop has the operation (io_uring), on the
 * blocking pool otherwise; this file only adds the checks, the position
 * and the messages.
 *
 * Why the position is ours and not the kernel's: a read at the kernel's
 * position that is abandoned after the pool (or the kernel) did it has
 * moved the position, and its bytes are gone. With our own position and
 * pread, the position moves only when the task sees the result. O_APPEND
 * writes go to the kernel's "current position", which is the end. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <prokio/file.h>

#include "cx.h"
#include "error_internal.h"
#include "op.h"
#include "worker.h"

#ifndef __EMSCRIPTEN__

struct prokio_file {
    struct prokio__io io;
    uint64_t position;
    bool append; /* opened with O_APPEND */
};

/* The public op holds the ops' op at its start (prokio/op.h's storage). */
_Static_assert(sizeof(struct prokio__op) <= sizeof(prokio_op_t),
               "prokio_op_t (PROKIO_OP_SIZE) is too small for the core's op");
_Static_assert(_Alignof(struct prokio__op) <= _Alignof(prokio_op_t),
               "prokio_op_t is not aligned enough for the core's op");

/* One call moves at most INT_MAX bytes: the result is an int. */
static inline size_t clamp(size_t len)
{
    return len > INT_MAX ? (size_t)INT_MAX : len;
}

static inline struct prokio__op *op_of(prokio_op_t *op)
{
    return (struct prokio__op *)(void *)op;
}

static int null_arg(const char *fn, const char *what)
{
    return prokio__error(PROKIO_EINVAL, "%s: %s is NULL", fn, what);
}

/* The file may be used by cx's task: it is open and belongs to its worker. */
static int check(const prokio_file_t *f, prokio_cx_t *cx, const char *fn)
{
    if (PROKIO_UNLIKELY(f->io.worker != cx->worker))
        return prokio__error(PROKIO_EXDEV,
                             "%s: the file (descriptor %d) belongs to worker %u, and this task "
                             "runs on worker %u: use it from tasks of its worker "
                             "(prokio_spawn_local, prokio_spawn_on), or open it there",
                             fn, f->io.fileno, f->io.worker->index, cx->worker->index);
    if (PROKIO_UNLIKELY(f->io.fileno < 0 || f->io.closing))
        return prokio__error(PROKIO_EBADF, "%s: the file is being closed", fn);
    return 0;
}

/* A failure of the system call, with a message; results pass unchanged. */
static int result(int rc, const prokio_file_t *f, const char *fn)
{
    if (rc >= 0 || rc == PROKIO_PENDING)
        return rc;
    return prokio__error(rc, "%s: descriptor %d: %s", fn, f->io.fileno, strerror(-rc));
}

int prokio_file_open_poll(prokio_file_t **out, prokio_op_t *op, const char *path, int flags,
                          mode_t mode, prokio_cx_t *cx)
{
    static const char fn[] = "prokio_file_open_poll";
    if (out == NULL || op == NULL || path == NULL || cx == NULL)
        return null_arg(fn, !out ? "out" : !op ? "op" : !path ? "path" : "cx");
    int rc = prokio__op_open_poll(op_of(op), path, flags | O_CLOEXEC, mode, cx);
    if (rc == PROKIO_PENDING)
        return rc;
    if (rc < 0) {
        const char *hint = rc == PROKIO_ENOENT   ? ": check the path (or add O_CREAT)"
                           : rc == PROKIO_EACCES ? ": check its permissions"
                           : rc == PROKIO_EEXIST ? ": O_EXCL asked for a new file"
                                                 : "";
        return prokio__error(rc, "%s: cannot open \"%s\": %s%s", fn, path, strerror(-rc), hint);
    }
    int fd = rc;
    prokio_file_t *f = calloc(1, sizeof *f);
    if (f == NULL) {
        close(fd);
        return prokio__error(PROKIO_ENOMEM, "%s: out of memory", fn);
    }
    rc = prokio__io_init(&f->io, fd, PROKIO__IO_FILE, cx);
    if (rc < 0) {
        close(fd);
        free(f);
        return prokio__error(rc, "%s: cannot use \"%s\" (descriptor %d) on worker %u: %s", fn, path,
                             fd, cx->worker->index, prokio_strerror(rc));
    }
    f->append = (flags & O_APPEND) != 0;
    *out = f;
    return 0;
}

int prokio_file_from_fd(prokio_file_t **out, int fileno, unsigned flags, prokio_cx_t *cx)
{
    static const char fn[] = "prokio_file_from_fd";
    if (out == NULL || cx == NULL)
        return null_arg(fn, !out ? "out" : "cx");
    if (flags != 0)
        return prokio__error(PROKIO_EINVAL, "%s: flags 0x%x: none is defined yet, give 0", fn,
                             flags);
    int fl = fcntl(fileno, F_GETFL);
    if (fl < 0)
        return prokio__error(PROKIO_EBADF, "%s: descriptor %d is not open", fn, fileno);
    /* A pipe, FIFO, socket or terminal has no position to read at, and a
     * read of it on the blocking pool could wait for ever (holding a pool
     * thread, and shutdown, which waits for running calls). */
    off_t pos = lseek(fileno, 0, SEEK_CUR);
    if (pos < 0 && errno == ESPIPE)
        return prokio__error(PROKIO_ESPIPE,
                             "%s: descriptor %d cannot seek (a pipe, FIFO, socket or terminal): "
                             "a prokio_file_t reads and writes at positions; adopt a socket with "
                             "prokio_stream_from_fd, wait on a pipe with prokio_fd_new and "
                             "prokio_fd_ready_poll",
                             fn, fileno);
    prokio_file_t *f = calloc(1, sizeof *f);
    if (f == NULL)
        return prokio__error(PROKIO_ENOMEM, "%s: out of memory", fn);
    int rc = prokio__io_init(&f->io, fileno, PROKIO__IO_FILE, cx);
    if (rc < 0) {
        free(f);
        return prokio__error(rc, "%s: cannot use descriptor %d on worker %u: %s", fn, fileno,
                             cx->worker->index, prokio_strerror(rc));
    }
    f->position = pos > 0 ? (uint64_t)pos : 0;
    f->append = (fl & O_APPEND) != 0;
    *out = f;
    return 0;
}

int prokio_file_read_at_poll(prokio_op_t *op, prokio_file_t *f, void *buf, size_t len,
                             uint64_t offset, prokio_cx_t *cx)
{
    static const char fn[] = "prokio_file_read_at_poll";
    if (op == NULL || f == NULL || buf == NULL || cx == NULL)
        return null_arg(fn, !op ? "op" : !f ? "f" : !buf ? "buf" : "cx");
    if (offset > INT64_MAX)
        return prokio__error(PROKIO_EINVAL, "%s: offset %llu is beyond INT64_MAX", fn,
                             (unsigned long long)offset);
    int rc = check(f, cx, fn);
    if (rc < 0)
        return rc;
    return result(prokio__op_read_poll(op_of(op), &f->io, buf, clamp(len), offset, cx), f, fn);
}

int prokio_file_write_at_poll(prokio_op_t *op, prokio_file_t *f, const void *buf, size_t len,
                              uint64_t offset, prokio_cx_t *cx)
{
    static const char fn[] = "prokio_file_write_at_poll";
    if (op == NULL || f == NULL || buf == NULL || cx == NULL)
        return null_arg(fn, !op ? "op" : !f ? "f" : !buf ? "buf" : "cx");
    if (offset > INT64_MAX)
        return prokio__error(PROKIO_EINVAL, "%s: offset %llu is beyond INT64_MAX", fn,
                             (unsigned long long)offset);
    int rc = check(f, cx, fn);
    if (rc < 0)
        return rc;
    return result(prokio__op_write_poll(op_of(op), &f->io, buf, clamp(len), offset, cx), f, fn);
}

int prokio_file_read_poll(prokio_op_t *op, prokio_file_t *f, void *buf, size_t len, prokio_cx_t *cx)
{
    static const char fn[] = "prokio_file_read_poll";
    if (op == NULL || f == NULL || buf == NULL || cx == NULL)
        return null_arg(fn, !op ? "op" : !f ? "f" : !buf ? "buf" : "cx");
    int rc = check(f, cx, fn);
    if (rc < 0)
        return rc;
    rc = result(prokio__op_read_poll(op_of(op), &f->io, buf, clamp(len), f->position, cx), f, fn);
    if (rc > 0)
        f->position += (uint64_t)rc;
    return rc;
}

int prokio_file_write_poll(prokio_op_t *op, prokio_file_t *f, const void *buf, size_t len,
                           prokio_cx_t *cx)
{
    static const char fn[] = "prokio_file_write_poll";
    if (op == NULL || f == NULL || buf == NULL || cx == NULL)
        return null_arg(fn, !op ? "op" : !f ? "f" : !buf ? "buf" : "cx");
    int rc = check(f, cx, fn);
    if (rc < 0)
        return rc;
    uint64_t at = f->append ? PROKIO__OFFSET_CURRENT : f->position;
    rc = result(prokio__op_write_poll(op_of(op), &f->io, buf, clamp(len), at, cx), f, fn);
    if (rc > 0)
        f->position += (uint64_t)rc;
    return rc;
}

int prokio_file_fsync_poll(prokio_op_t *op, prokio_file_t *f, bool datasync, prokio_cx_t *cx)
{
    static const char fn[] = "prokio_file_fsync_poll";
    if (op == NULL || f == NULL || cx == NULL)
        return null_arg(fn, !op ? "op" : !f ? "f" : "cx");
    int rc = check(f, cx, fn);
    if (rc < 0)
        return rc;
    return result(prokio__op_fsync_poll(op_of(op), &f->io, datasync, cx), f, fn);
}

int prokio_file_seek(prokio_file_t *f, uint64_t position)
{
    if (f == NULL)
        return null_arg("prokio_file_seek", "f");
    if (position > INT64_MAX)
        return prokio__error(PROKIO_EINVAL, "prokio_file_seek: position %llu is beyond INT64_MAX",
                             (unsigned long long)position);
    f->position = position;
    return 0;
}

uint64_t prokio_file_position(const prokio_file_t *f)
{
    return f ? f->position : 0;
}

int prokio_file_fileno(const prokio_file_t *f)
{
    if (f == NULL)
        return null_arg("prokio_file_fileno", "f");
    if (f->io.fileno < 0)
        return prokio__error(PROKIO_EBADF, "prokio_file_fileno: the file is closed");
    return f->io.fileno;
}

int prokio_file_close_poll(prokio_op_t *op, prokio_file_t *f, prokio_cx_t *cx)
{
    static const char fn[] = "prokio_file_close_poll";
    if (op == NULL || f == NULL || cx == NULL)
        return null_arg(fn, !op ? "op" : !f ? "f" : "cx");
    if (f->io.worker != cx->worker)
        return prokio__error(PROKIO_EXDEV,
                             "%s: the file belongs to worker %u, and this task runs on worker "
                             "%u: close it there",
                             fn, f->io.worker->index, cx->worker->index);
    int fd = f->io.fileno;
    int rc = prokio__io_close_poll(op_of(op), &f->io, cx);
    if (rc == PROKIO_PENDING)
        return rc;
    free(f);
    if (rc < 0)
        return prokio__error(rc, "%s: close of descriptor %d: %s (the file is closed anyway)", fn,
                             fd, strerror(-rc));
    return 0;
}

int prokio_file_free(prokio_file_t *f)
{
    if (f == NULL)
        return 0;
    if (prokio__tls_worker != NULL && prokio__tls_worker != f->io.worker)
        return prokio__error(PROKIO_EXDEV,
                             "prokio_file_free: the file belongs to worker %u, and this is "
                             "worker %u: free it there (or after the runtime shut down)",
                             f->io.worker->index, prokio__tls_worker->index);
    prokio__io_fini(&f->io);
    free(f);
    return 0;
}

#else /* __EMSCRIPTEN__: no files */

#define UNSUPPORTED(fn)                                                                            \
    prokio__error(PROKIO_ENOTSUP,                                                                  \
                  "%s: no files on WebAssembly: read them in JS (fetch, or the "                   \
                  "host's file API) through prokio/js.h",                                          \
                  fn)

int prokio_file_open_poll(prokio_file_t **out, prokio_op_t *op, const char *path, int flags,
                          mode_t mode, prokio_cx_t *cx)
{
    (void)op, (void)path, (void)flags, (void)mode, (void)cx;
    if (out)
        *out = NULL;
    return UNSUPPORTED("prokio_file_open_poll");
}

int prokio_file_from_fd(prokio_file_t **out, int fileno, unsigned flags, prokio_cx_t *cx)
{
    (void)fileno, (void)flags, (void)cx;
    if (out)
        *out = NULL;
    return UNSUPPORTED("prokio_file_from_fd");
}

int prokio_file_read_at_poll(prokio_op_t *op, prokio_file_t *f, void *buf, size_t len,
                             uint64_t offset, prokio_cx_t *cx)
{
    (void)op, (void)f, (void)buf, (void)len, (void)offset, (void)cx;
    return UNSUPPORTED("prokio_file_read_at_poll");
}

int prokio_file_write_at_poll(prokio_op_t *op, prokio_file_t *f, const void *buf, size_t len,
                              uint64_t offset, prokio_cx_t *cx)
{
    (void)op, (void)f, (void)buf, (void)len, (void)offset, (void)cx;
    return UNSUPPORTED("prokio_file_write_at_poll");
}

int prokio_file_read_poll(prokio_op_t *op, prokio_file_t *f, void *buf, size_t len, prokio_cx_t *cx)
{
    (void)op, (void)f, (void)buf, (void)len, (void)cx;
    return UNSUPPORTED("prokio_file_read_poll");
}

int prokio_file_write_poll(prokio_op_t *op, prokio_file_t *f, const void *buf, size_t len,
                           prokio_cx_t *cx)
{
    (void)op, (void)f, (void)buf, (void)len, (void)cx;
    return UNSUPPORTED("prokio_file_write_poll");
}

int prokio_file_fsync_poll(prokio_op_t *op, prokio_file_t *f, bool datasync, prokio_cx_t *cx)
{
    (void)op, (void)f, (void)datasync, (void)cx;
    return UNSUPPORTED("prokio_file_fsync_poll");
}

int prokio_file_seek(prokio_file_t *f, uint64_t position)
{
    (void)f, (void)position;
    return UNSUPPORTED("prokio_file_seek");
}

uint64_t prokio_file_position(const prokio_file_t *f)
{
    (void)f;
    return 0;
}

int prokio_file_fileno(const prokio_file_t *f)
{
    (void)f;
    return UNSUPPORTED("prokio_file_fileno");
}

int prokio_file_close_poll(prokio_op_t *op, prokio_file_t *f, prokio_cx_t *cx)
{
    (void)op, (void)f, (void)cx;
    return UNSUPPORTED("prokio_file_close_poll");
}

int prokio_file_free(prokio_file_t *f)
{
    (void)f;
    return 0;
}

#endif
