/* prokio/file.h: files: open, read and write at an offset or at the
 * file's position, fsync, close. Part of prokio.h.
 *
 * Regular files are never "ready" in the readiness sense (a read of a
 * file that is not in the page cache blocks, whatever epoll says), so the
 * calls here run on io_uring natively (the kernel does the read while the
 * task sleeps), and elsewhere on the runtime's blocking pool
 * (prokio/blocking.h), one system call per pool job, through a buffer of
 * the runtime's own (so a pool thread never writes into your frame after
 * you abandoned a read). Either way a task awaits each call as a leaf
 * future, and a worker never blocks on the disk.
 *
 * Workers. A file belongs to the worker of the task that opened it
 * (thread-per-core, as sockets): the awaitable calls from tasks of another
 * worker fail with PROKIO_EXDEV. Hand a file to another worker's task by
 * opening it there.
 *
 * Awaitable calls take a prokio_op_t first (prokio/op.h): the operation's
 * state, in your frame; its "Cancel-safety" rule applies to every call
 * here, and each call says what it means for it.
 *
 * The position. prokio_file_read_poll and prokio_file_write_poll work at
 * the file's position, which the file object keeps (it starts at 0;
 * prokio_file_seek moves it) and which advances by what each call read or
 * wrote, when it completes. So an abandoned read at the position moves
 * nothing: the next read reads the same bytes again, nothing is lost. A
 * file opened with O_APPEND writes at its end whatever the offset (Linux
 * does this for pwrite too).
 *
 * Not on WebAssembly: every call returns PROKIO_ENOTSUP there. */
#ifndef PROKIO_FILE_H
#define PROKIO_FILE_H

#include <sys/types.h>

#include <prokio/op.h>
#include <prokio/types.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct prokio_file prokio_file_t;

/* Opens `path` with open(2)'s flags (O_RDONLY, O_WRONLY or O_RDWR, with
 * O_CREAT, O_TRUNC, O_EXCL, O_APPEND... as you need; O_CLOEXEC is always
 * added) and `mode` (the permissions of a file O_CREAT makes, before the
 * umask): PROKIO_PENDING; then 0 with *out the open file, or the system's
 * error (PROKIO_ENOENT, PROKIO_EACCES, PROKIO_EEXIST, PROKIO_EISDIR...)
 * with a message naming the path.
 * Ownership: *out is the caller's, ended with prokio_file_close_poll or
 * prokio_file_free; it is written only on success.
 * Lifetime: path must stay valid until the result (the message of a
 * failure quotes it).
 * Cancel-safety: abandoned, the open still happens if it started; the
 * descriptor it gave is closed by the runtime, nothing leaks (a file
 * O_CREAT made stays made).
 * Thread: worker thread; the file belongs to that worker. */
int prokio_file_open_poll(prokio_file_t **out, prokio_op_t *op, const char *path, int flags,
                          mode_t mode, prokio_cx_t *cx);

/* Adopts an open descriptor (a file the program opened itself, one
 * inherited from the parent): from now on it is the file's, closed with
 * it; its position starts where the descriptor's is (lseek), and
 * O_APPEND is read from it. flags: 0 (reserved). PROKIO_EBADF for a
 * descriptor that is not open, PROKIO_ESPIPE for one that cannot seek (a
 * pipe, FIFO, socket or terminal: use prokio_stream_from_fd for a socket,
 * prokio_fd_new for a pipe), PROKIO_EINVAL for flags; a refused
 * descriptor is left alone (open, not adopted).
 * Ownership: *out is the caller's, as for prokio_file_open_poll.
 * Thread: worker thread; the file belongs to that worker. */
int prokio_file_from_fd(prokio_file_t **out, int fileno, unsigned flags, prokio_cx_t *cx);

/* Reads at most len bytes at `offset` into buf (pread): PROKIO_PENDING;
 * then the number read, fewer than len at the end of the file (a short
 * read) and 0 at or beyond it; or the system's error. On the blocking
 * pool one call moves at most 1 MiB (a short count: read again for the
 * rest). The file's position does not move.
 * Lifetime: buf is the operation's until the result: keep it in the
 * frame (with io_uring the kernel writes into it while the task sleeps).
 * Cancel-safety: nothing is consumed: abandoned, the bytes are not lost
 * (read them again).
 * Thread: the file's worker. */
int prokio_file_read_at_poll(prokio_op_t *op, prokio_file_t *f, void *buf, size_t len,
                             uint64_t offset, prokio_cx_t *cx);

/* Writes at most len bytes of buf at `offset` (pwrite): PROKIO_PENDING;
 * then the number written (fewer than len is possible, as for pwrite:
 * write the rest next), or the system's error (PROKIO_ENOSPC...). The
 * file's position does not move.
 * Lifetime: buf as for reads.
 * Cancel-safety: an abandoned write may have been done anyway (it may
 * already run on a pool thread or in the kernel): write the same bytes
 * at the same offset again, which is harmless.
 * Thread: the file's worker. */
int prokio_file_write_at_poll(prokio_op_t *op, prokio_file_t *f, const void *buf, size_t len,
                              uint64_t offset, prokio_cx_t *cx);

/* As prokio_file_read_at_poll at the file's position, which then
 * advances by the number read. One task at a time reads or writes at
 * the position (two at once would both use the same position).
 * Cancel-safety: abandoned, the position does not move: the next read
 * gets the same bytes. Thread: the file's worker. */
int prokio_file_read_poll(prokio_op_t *op, prokio_file_t *f, void *buf, size_t len,
                          prokio_cx_t *cx);

/* As prokio_file_write_at_poll at the file's position (at the end with
 * O_APPEND), which then advances by the number written.
 * Cancel-safety: abandoned, the position does not move, and the bytes may
 * have been written anyway: writing them again rewrites the same place
 * (with O_APPEND they may be appended twice). Thread: the file's worker. */
int prokio_file_write_poll(prokio_op_t *op, prokio_file_t *f, const void *buf, size_t len,
                           prokio_cx_t *cx);

/* Flushes the file to its storage device: fsync(2), or fdatasync(2) when
 * `datasync` (the data and what is needed to read it back, not the
 * timestamps): PROKIO_PENDING; then 0 or the system's error (PROKIO_EIO:
 * some earlier write did not reach the disk).
 * Cancel-safety: an abandoned sync may still run; sync again to be sure.
 * Thread: the file's worker. */
int prokio_file_fsync_poll(prokio_op_t *op, prokio_file_t *f, bool datasync, prokio_cx_t *cx);

/* Moves the file's position (the one prokio_file_read_poll and
 * prokio_file_write_poll use) to `position` bytes from the start.
 * Returns 0, PROKIO_EINVAL (NULL, or beyond INT64_MAX). Does not wait.
 * Thread: the file's worker (or any thread while no task uses it). */
int prokio_file_seek(prokio_file_t *f, uint64_t position);

/* The file's position (0 for NULL). Thread: as prokio_file_seek. */
uint64_t prokio_file_position(const prokio_file_t *f);

/* The descriptor (still the file's: do not close it), or PROKIO_EINVAL.
 * Thread: any. */
int prokio_file_fileno(const prokio_file_t *f);

/* Closes and frees the file: operations in flight are cancelled and
 * their ends awaited first, then the descriptor is closed:
 * PROKIO_PENDING; then 0, or close's error (PROKIO_EIO: a delayed write
 * failed; the file is gone either way). PROKIO_EXDEV from another
 * worker's task (nothing done).
 * Cancel-safety: abandoned before a result, the file is still the
 * caller's and no new operation starts on it: finish with
 * prokio_file_free.
 * Thread: the file's worker. */
int prokio_file_close_poll(prokio_op_t *op, prokio_file_t *f, prokio_cx_t *cx);

/* Closes and frees at once, for drop functions: operations in flight are
 * cancelled (a pool call already running finishes on its thread, and the
 * descriptor is closed after it). Returns 0, or PROKIO_EXDEV (nothing
 * done) on a thread of another worker. Nothing for NULL.
 * Thread: the file's worker; any thread that is not a worker (after the
 * runtime shut down). */
int prokio_file_free(prokio_file_t *f);

#ifdef __cplusplus
}
#endif
#endif /* PROKIO_FILE_H */
