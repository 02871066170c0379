/* tests/regress/file-pool-refused.c: a file call the blocking pool refuses
 * read its record after freeing it.
 *
 * The bug: when prokio__blocking_call refused a file call (the runtime was
 * shutting down: PROKIO_ESHUTDOWN; or no memory), core/op.c's pool_submit
 * freed the call's record and then read its `kind` for the error message:
 * a use after free on every open, read, write or fsync that a task started
 * between prokio_runtime_shutdown and its worker stopping. The record is
 * now read before it goes.
 *
 * The window is made deterministic: the task spins until the runtime says
 * it is shutting down (its worker is inside the poll, so it cannot have
 * seen the stop yet), then opens a file and reads an adopted one. Both are
 * refused with PROKIO_ESHUTDOWN and a message naming the call; ASan saw
 * the use after free. On the blocking pool only: per backend, except
 * uring with native operations, which never uses the pool for these.
 * (tests/run/regress~file-pool-refused.{event,uv,uring-emulated}.test) */
#include <fcntl.h>
#include <stdatomic.h>
#include <pthread.h>

#include "common.h"

static _Atomic int started;

struct frame {
    prokio_runtime_t *rt;
    int fd;
    prokio_op_t op;
    prokio_file_t *file;
    char buf[16];
    int open_rc, read_rc;
    char open_msg[256], read_msg[256];
};

static int late_calls(void *frame, prokio_cx_t *cx)
{
    struct frame *f = frame;
    atomic_store(&started, 1);
    while (!prokio_runtime_is_shut_down(f->rt))
        sched_yield();
    prokio_file_t *opened = NULL;
    f->open_rc = prokio_file_open_poll(&opened, &f->op, "/dev/null", O_RDONLY, 0, cx);
    snprintf(f->open_msg, sizeof f->open_msg, "%s", prokio_last_error());
    if (f->open_rc == PROKIO_PENDING)
        prokio_op_cancel(&f->op);
    else if (f->open_rc == 0)
        prokio_file_free(opened);
    f->read_rc = prokio_file_from_fd(&f->file, f->fd, 0, cx);
    if (f->read_rc == 0) {
        f->read_rc = prokio_file_read_poll(&f->op, f->file, f->buf, sizeof f->buf, cx);
        snprintf(f->read_msg, sizeof f->read_msg, "%s", prokio_last_error());
        if (f->read_rc == PROKIO_PENDING)
            prokio_op_cancel(&f->op);
        prokio_file_free(f->file);
    }
    return 0;
}

static struct frame result;

static void keep(void *frame)
{
    result = *(struct frame *)frame;
}

static void test_file_call_during_shutdown(void **state)
{
    (void)state;
    prokio_runtime_t *rt = test_runtime(1);
    struct frame f = {.rt = rt, .fd = open("/dev/zero", O_RDONLY | O_CLOEXEC)};
    assert_true(f.fd >= 0);
    prokio_task_t *h = NULL;
    assert_int_equal(prokio_spawn(&h, rt, late_calls, &f, sizeof f, keep), 0);
    while (!atomic_load(&started))
        sched_yield();
    assert_int_equal(prokio_runtime_shutdown(rt), 0);
    assert_int_equal(prokio_task_result(h), 0);
    prokio_task_release(h);
    test_runtime_free(rt);

    assert_int_equal(result.open_rc, PROKIO_ESHUTDOWN);
    assert_non_null(strstr(result.open_msg, "prokio_file_open_poll"));
    assert_int_equal(result.read_rc, PROKIO_ESHUTDOWN);
    assert_non_null(strstr(result.read_msg, "prokio_file_read_poll"));
}

int main(void)
{
    test_watchdog("file-pool-refused", 10);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_file_call_during_shutdown),
    };
    return cmocka_run_group_tests_name("a file call the blocking pool refuses", tests, NULL, NULL);
}
