/* tests/regress/null-args.c: every public function given NULL.
 *
 * The report: all 17 public entry points tried crashed when given NULL,
 * and the header said nothing about it. The rule is now rule 6 at the top
 * of prokio.h: no function crashes on a NULL pointer; one that returns an
 * int answers PROKIO_EINVAL and names the argument in prokio_last_error();
 * _free, _release and _cancel do nothing with NULL (as free(NULL) does);
 * the others return NULL, 0 or false. Pointers documented as optional
 * (options, frames, drop functions, join_out, a zero-sized value) are left
 * alone here: their meaning is tested elsewhere.
 *
 * Every function of every installed header that an application includes
 * (prokio.h's topics and prokio/backend_info.h; not backend.h, whose
 * helpers are inline) is called with NULL in each pointer argument in turn,
 * the others valid, each call in a child process so that a crash fails that
 * function alone, by name. The table must cover every function libprokio
 * exports (prokio_[!_]*, core/prokio.map): the last test reads them with nm
 * and fails on any the table lacks. Runs once, on the automatic backend. */
#include <ctype.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>

#include <prokio/backend_info.h>

#include "common.h"

/* ------------------------------------------------------------- checking */

/* What a check may use: a runtime, and the cx of a task being polled. */
struct env {
    prokio_runtime_t *rt;
    prokio_cx_t *cx;
};

#define FAIL(...)                                                                                  \
    do {                                                                                           \
        printf("# ");                                                                              \
        printf(__VA_ARGS__);                                                                       \
        printf("\n");                                                                              \
        return 1;                                                                                  \
    } while (0)

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            FAIL("line %d: %s does not hold", __LINE__, #cond);                                    \
    } while (0)

/* Sets an unrelated message, so that a message seen afterwards is known to
 * come from the call under test. */
static void stale_message(void)
{
    prokio_runtime_options_t o = {.size = 1};
    prokio_runtime_t *rt;
    (void)prokio_runtime_new(&rt, &o);
}

static bool has_word(const char *s, const char *word)
{
    size_t n = strlen(word);
    for (const char *p = s; (p = strstr(p, word)) != NULL; p++) {
        bool before = p == s || !(isalnum((unsigned char)p[-1]) || p[-1] == '_');
        bool after = !(isalnum((unsigned char)p[n]) || p[n] == '_');
        if (before && after)
            return true;
    }
    return false;
}

/* rc must be PROKIO_EINVAL, with a message naming the function and the
 * argument. */
static int einval(int rc, const char *fn, const char *arg)
{
    const char *msg = prokio_last_error();
    if (rc != PROKIO_EINVAL)
        FAIL("%s with %s NULL returned %d (%s), not PROKIO_EINVAL", fn, arg, rc,
             prokio_err_name(rc));
    if (!strstr(msg, fn) || !has_word(msg, arg))
        FAIL("%s with %s NULL: the message \"%s\" does not name the function and the argument", fn,
             arg, msg);
    return 0;
}

#define EXPECT_EINVAL(call, fn, arg)                                                               \
    do {                                                                                           \
        stale_message();                                                                           \
        if (einval((call), fn, arg) != 0)                                                          \
            return 1;                                                                              \
    } while (0)

static int ok_poll(void *frame, prokio_cx_t *cx)
{
    (void)frame, (void)cx;
    return 0;
}

static int pending_poll(void *frame, prokio_cx_t *cx)
{
    (void)frame, (void)cx;
    return PROKIO_PENDING;
}

/* ----------------------------------------------------------- the checks */

static int c_no_pointers(struct env *e)
{
    (void)e;
    /* Functions without pointer arguments: called for completeness. */
    CHECK(prokio_strerror(PROKIO_EINVAL) != NULL);
    CHECK(prokio_err_name(12345) != NULL);
    CHECK(prokio_last_error() != NULL);
    CHECK(prokio_version_string() != NULL);
    CHECK(prokio_version() != 0);
    CHECK(prokio_runtime_current() == NULL);
    return 0;
}

static int c_runtime_new(struct env *e)
{
    (void)e;
    EXPECT_EINVAL(prokio_runtime_new(NULL, NULL), "prokio_runtime_new", "out");
    prokio_runtime_options_t o = PROKIO_RUNTIME_OPTIONS_INIT;
    EXPECT_EINVAL(prokio_runtime_new(NULL, &o), "prokio_runtime_new", "out");
    return 0;
}

static int c_runtime_shutdown(struct env *e)
{
    (void)e;
    EXPECT_EINVAL(prokio_runtime_shutdown(NULL), "prokio_runtime_shutdown", "rt");
    return 0;
}

static int c_runtime_free(struct env *e)
{
    (void)e;
    stale_message();
    int rc = prokio_runtime_free(NULL);
    if (rc != 0)
        FAIL("prokio_runtime_free(NULL) returned %s (%s): a _free does nothing with NULL",
             prokio_err_name(rc), prokio_last_error());
    return 0;
}

static int c_runtime_clone(struct env *e)
{
    (void)e;
    CHECK(prokio_runtime_clone(NULL) == NULL);
    return 0;
}

static int c_runtime_release(struct env *e)
{
    (void)e;
    prokio_runtime_release(NULL);
    return 0;
}

static int c_runtime_is_shut_down(struct env *e)
{
    (void)e;
    CHECK(prokio_runtime_is_shut_down(NULL) == false);
    return 0;
}

static int c_runtime_backend_name(struct env *e)
{
    (void)e;
    CHECK(prokio_runtime_backend_name(NULL) == NULL);
    return 0;
}

static int c_runtime_workers(struct env *e)
{
    (void)e;
    CHECK(prokio_runtime_workers(NULL) == 0);
    return 0;
}

static int c_runtime_block_on(struct env *e)
{
    EXPECT_EINVAL(prokio_runtime_block_on(NULL, ok_poll, NULL, 0, NULL), "prokio_runtime_block_on",
                  "rt");
    EXPECT_EINVAL(prokio_runtime_block_on(e->rt, NULL, NULL, 0, NULL), "prokio_runtime_block_on",
                  "poll");
    return 0;
}

static int c_spawn(struct env *e)
{
    prokio_task_t *h = (prokio_task_t *)&h;
    EXPECT_EINVAL(prokio_spawn(&h, NULL, ok_poll, NULL, 0, NULL), "prokio_spawn", "rt");
    CHECK(h == NULL);
    h = (prokio_task_t *)&h;
    EXPECT_EINVAL(prokio_spawn(&h, e->rt, NULL, NULL, 0, NULL), "prokio_spawn", "poll");
    CHECK(h == NULL);
    return 0;
}

static int c_spawn_on(struct env *e)
{
    prokio_task_t *h = (prokio_task_t *)&h;
    EXPECT_EINVAL(prokio_spawn_on(&h, NULL, 0, ok_poll, NULL, 0, NULL), "prokio_spawn_on", "rt");
    CHECK(h == NULL);
    h = (prokio_task_t *)&h;
    EXPECT_EINVAL(prokio_spawn_on(&h, e->rt, 0, NULL, NULL, 0, NULL), "prokio_spawn_on", "poll");
    CHECK(h == NULL);
    return 0;
}

static int c_spawn_local(struct env *e)
{
    prokio_task_t *h = (prokio_task_t *)&h;
    EXPECT_EINVAL(prokio_spawn_local(&h, NULL, NULL, 0, NULL, e->cx), "prokio_spawn_local", "poll");
    CHECK(h == NULL);
    h = (prokio_task_t *)&h;
    EXPECT_EINVAL(prokio_spawn_local(&h, ok_poll, NULL, 0, NULL, NULL), "prokio_spawn_local", "cx");
    CHECK(h == NULL);
    return 0;
}

static int c_task_join_poll(struct env *e)
{
    EXPECT_EINVAL(prokio_task_join_poll(NULL, e->cx), "prokio_task_join_poll", "task");
    prokio_task_t *h;
    CHECK(prokio_spawn_local(&h, pending_poll, NULL, 0, NULL, e->cx) == 0);
    EXPECT_EINVAL(prokio_task_join_poll(h, NULL), "prokio_task_join_poll", "cx");
    prokio_task_abort(h);
    prokio_task_release(h);
    return 0;
}

static int c_task_blocking_join(struct env *e)
{
    (void)e;
    EXPECT_EINVAL(prokio_task_blocking_join(NULL), "prokio_task_blocking_join", "task");
    return 0;
}

static int c_task_result(struct env *e)
{
    (void)e;
    EXPECT_EINVAL(prokio_task_result(NULL), "prokio_task_result", "task");
    return 0;
}

static int c_task_frame(struct env *e)
{
    (void)e;
    CHECK(prokio_task_frame(NULL) == NULL);
    return 0;
}

static int c_task_abort(struct env *e)
{
    (void)e;
    prokio_task_abort(NULL);
    return 0;
}

static int c_task_release(struct env *e)
{
    (void)e;
    prokio_task_release(NULL);
    return 0;
}

static int c_cx_waker(struct env *e)
{
    (void)e;
    CHECK(prokio_cx_waker(NULL) == NULL);
    return 0;
}

static int c_cx_runtime(struct env *e)
{
    (void)e;
    CHECK(prokio_cx_runtime(NULL) == NULL);
    return 0;
}

static int c_cx_worker(struct env *e)
{
    (void)e;
    CHECK(prokio_cx_worker(NULL) == 0);
    return 0;
}

static int c_cx_yield(struct env *e)
{
    (void)e;
    EXPECT_EINVAL(prokio_cx_yield(NULL), "prokio_cx_yield", "cx");
    return 0;
}

static int c_cx_now_ns(struct env *e)
{
    (void)e;
    CHECK(prokio_cx_now_ns(NULL) == 0);
    return 0;
}

static int c_waker_clone(struct env *e)
{
    (void)e;
    CHECK(prokio_waker_clone(NULL) == NULL);
    return 0;
}

static int c_waker_wake(struct env *e)
{
    (void)e;
    prokio_waker_wake(NULL);
    return 0;
}

static int c_waker_wake_by_ref(struct env *e)
{
    (void)e;
    prokio_waker_wake_by_ref(NULL);
    return 0;
}

static int c_waker_release(struct env *e)
{
    (void)e;
    prokio_waker_release(NULL);
    return 0;
}

static int c_waker_will_wake(struct env *e)
{
    prokio_waker_t *w = prokio_cx_waker(e->cx);
    CHECK(w != NULL);
    CHECK(!prokio_waker_will_wake(NULL, w));
    CHECK(!prokio_waker_will_wake(w, NULL));
    CHECK(!prokio_waker_will_wake(NULL, NULL));
    return 0;
}

static int c_sleep_init(struct env *e)
{
    (void)e;
    prokio_sleep_init(NULL, PROKIO_MS(1));
    return 0;
}

static int c_sleep_init_until(struct env *e)
{
    (void)e;
    prokio_sleep_init_until(NULL, PROKIO_MS(1));
    return 0;
}

static int c_sleep_poll(struct env *e)
{
    EXPECT_EINVAL(prokio_sleep_poll(NULL, e->cx), "prokio_sleep_poll", "sleep");
    prokio_sleep_t s;
    prokio_sleep_init(&s, PROKIO_SEC(100));
    EXPECT_EINVAL(prokio_sleep_poll(&s, NULL), "prokio_sleep_poll", "cx");
    return 0;
}

static int c_sleep_cancel(struct env *e)
{
    (void)e;
    prokio_sleep_cancel(NULL);
    return 0;
}

static int c_fd_new(struct env *e)
{
    int p[2];
    CHECK(pipe2(p, O_NONBLOCK | O_CLOEXEC) == 0);
    EXPECT_EINVAL(prokio_fd_new(NULL, p[0], e->cx), "prokio_fd_new", "out");
    prokio_fd_t *fd = (prokio_fd_t *)&fd;
    EXPECT_EINVAL(prokio_fd_new(&fd, p[0], NULL), "prokio_fd_new", "cx");
    CHECK(fd == NULL);
    close(p[0]);
    close(p[1]);
    return 0;
}

static int c_fd_ready_poll(struct env *e)
{
    EXPECT_EINVAL(prokio_fd_ready_poll(NULL, PROKIO_READABLE, e->cx), "prokio_fd_ready_poll", "fd");
    int p[2];
    CHECK(pipe2(p, O_NONBLOCK | O_CLOEXEC) == 0);
    prokio_fd_t *fd;
    CHECK(prokio_fd_new(&fd, p[0], e->cx) == 0);
    EXPECT_EINVAL(prokio_fd_ready_poll(fd, PROKIO_READABLE, NULL), "prokio_fd_ready_poll", "cx");
    CHECK(prokio_fd_free(fd) == 0);
    close(p[0]);
    close(p[1]);
    return 0;
}

static int c_fd_clear_ready(struct env *e)
{
    (void)e;
    prokio_fd_clear_ready(NULL, PROKIO_READABLE | PROKIO_WRITABLE);
    return 0;
}

static int c_fd_fileno(struct env *e)
{
    (void)e;
    EXPECT_EINVAL(prokio_fd_fileno(NULL), "prokio_fd_fileno", "fd");
    return 0;
}

static int c_fd_free(struct env *e)
{
    (void)e;
    CHECK(prokio_fd_free(NULL) == 0);
    return 0;
}

static int c_oneshot_new(struct env *e)
{
    (void)e;
    prokio_oneshot_tx_t *tx = (prokio_oneshot_tx_t *)&tx;
    prokio_oneshot_rx_t *rx = (prokio_oneshot_rx_t *)&rx;
    EXPECT_EINVAL(prokio_oneshot_new(NULL, &rx, 4, NULL, 0), "prokio_oneshot_new", "tx");
    CHECK(rx == NULL);
    EXPECT_EINVAL(prokio_oneshot_new(&tx, NULL, 4, NULL, 0), "prokio_oneshot_new", "rx");
    CHECK(tx == NULL);
    return 0;
}

static int c_oneshot_send(struct env *e)
{
    (void)e;
    int v = 1;
    EXPECT_EINVAL(prokio_oneshot_send(NULL, &v), "prokio_oneshot_send", "tx");
    /* A NULL value is allowed only for a zero-sized one; tx is consumed
     * whatever the outcome. */
    prokio_oneshot_tx_t *tx;
    prokio_oneshot_rx_t *rx;
    CHECK(prokio_oneshot_new(&tx, &rx, sizeof v, NULL, 0) == 0);
    EXPECT_EINVAL(prokio_oneshot_send(tx, NULL), "prokio_oneshot_send", "value");
    prokio_oneshot_rx_release(rx);
    return 0;
}

static int c_oneshot_tx_release(struct env *e)
{
    (void)e;
    prokio_oneshot_tx_release(NULL);
    return 0;
}

static int c_oneshot_tx_is_closed(struct env *e)
{
    (void)e;
    CHECK(prokio_oneshot_tx_is_closed(NULL) == false);
    return 0;
}

static int c_oneshot_blocking_recv(struct env *e)
{
    (void)e;
    EXPECT_EINVAL(prokio_oneshot_blocking_recv(NULL, &(int){0}), "prokio_oneshot_blocking_recv",
                  "rx");
    prokio_oneshot_tx_t *tx;
    prokio_oneshot_rx_t *rx;
    CHECK(prokio_oneshot_new(&tx, &rx, sizeof(int), NULL, 0) == 0);
    EXPECT_EINVAL(prokio_oneshot_blocking_recv(rx, NULL), "prokio_oneshot_blocking_recv",
                  "value_out");
    prokio_oneshot_tx_release(tx);
    prokio_oneshot_rx_release(rx);
    return 0;
}

static int c_oneshot_recv_poll(struct env *e)
{
    int v = 0;
    EXPECT_EINVAL(prokio_oneshot_recv_poll(NULL, &v, e->cx), "prokio_oneshot_recv_poll", "rx");
    prokio_oneshot_tx_t *tx;
    prokio_oneshot_rx_t *rx;
    CHECK(prokio_oneshot_new(&tx, &rx, sizeof v, NULL, 0) == 0);
    EXPECT_EINVAL(prokio_oneshot_recv_poll(rx, &v, NULL), "prokio_oneshot_recv_poll", "cx");
    /* value_out may be NULL only for a zero-sized value: with a value sent,
     * NULL would lose it. */
    v = 5;
    CHECK(prokio_oneshot_send(tx, &v) == 0);
    EXPECT_EINVAL(prokio_oneshot_recv_poll(rx, NULL, e->cx), "prokio_oneshot_recv_poll",
                  "value_out");
    v = 0;
    CHECK(prokio_oneshot_recv_poll(rx, &v, e->cx) == 0);
    CHECK(v == 5);
    prokio_oneshot_rx_release(rx);
    return 0;
}

static int c_oneshot_rx_release(struct env *e)
{
    (void)e;
    prokio_oneshot_rx_release(NULL);
    return 0;
}

static int c_backend_probe_all(struct env *e)
{
    (void)e;
    int arg;
    EXPECT_EINVAL(prokio_backend_probe_all(NULL, &arg), "prokio_backend_probe_all", "report");
    return 0;
}

static int c_backend_dirs(struct env *e)
{
    (void)e;
    /* buf may be NULL with cap 0 (documented); with a cap too it must not
     * be written to. */
    size_t n = prokio_backend_dirs(NULL, 0);
    CHECK(n > 0);
    CHECK(prokio_backend_dirs(NULL, 64) == n);
    return 0;
}

static int c_runtime_backend_report(struct env *e)
{
    prokio_backend_report_t r = {.size = sizeof r, .name = "untouched"};
    prokio_runtime_backend_report(NULL, &r);
    CHECK(strcmp(r.name, "untouched") == 0);
    prokio_runtime_backend_report(e->rt, NULL);
    return 0;
}

static int c_wait_cancel(struct env *e)
{
    (void)e;
    prokio_wait_cancel(NULL);
    prokio_wait_t idle = {{{0}}};
    prokio_wait_cancel(&idle); /* an idle wait: nothing */
    return 0;
}

static int c_wait_is_pending(struct env *e)
{
    (void)e;
    CHECK(prokio_wait_is_pending(NULL) == false);
    return 0;
}

static int c_branches(struct env *e)
{
    /* Building a branch over NULL is allowed; polling it is the checked
     * part, and the poll functions answer EINVAL for NULL. */
    prokio_branch_t b = prokio_branch_sleep(NULL);
    EXPECT_EINVAL(b.poll(b.future, e->cx), "prokio_sleep_poll", "sleep");
    b.cancel(b.future);
    b = prokio_branch_join(NULL);
    EXPECT_EINVAL(b.poll(b.future, e->cx), "prokio_task_join_poll", "task");
    return 0;
}

/* ------------------------------------------------------------- mpsc */

static int c_mpsc_new(struct env *e)
{
    (void)e;
    prokio_mpsc_tx_t *tx = (prokio_mpsc_tx_t *)&tx;
    prokio_mpsc_rx_t *rx = (prokio_mpsc_rx_t *)&rx;
    EXPECT_EINVAL(prokio_mpsc_new(NULL, &rx, 4, 1, NULL, 0), "prokio_mpsc_new", "tx");
    CHECK(rx == NULL);
    EXPECT_EINVAL(prokio_mpsc_new(&tx, NULL, 4, 1, NULL, 0), "prokio_mpsc_new", "rx");
    CHECK(tx == NULL);
    return 0;
}

static int c_mpsc_ends(struct env *e)
{
    (void)e;
    CHECK(prokio_mpsc_tx_clone(NULL) == NULL);
    prokio_mpsc_tx_release(NULL);
    prokio_mpsc_rx_release(NULL);
    prokio_mpsc_rx_close(NULL);
    CHECK(prokio_mpsc_tx_is_closed(NULL) == false);
    CHECK(prokio_mpsc_rx_len(NULL) == 0);
    CHECK(prokio_mpsc_tx_capacity(NULL) == 0);
    return 0;
}

static int c_mpsc_sends(struct env *e)
{
    int v = 1;
    prokio_wait_t w = {0};
    prokio_mpsc_tx_t *tx;
    prokio_mpsc_rx_t *rx;
    CHECK(prokio_mpsc_new(&tx, &rx, sizeof v, 1, NULL, 0) == 0);
    EXPECT_EINVAL(prokio_mpsc_send_poll(NULL, tx, &v, e->cx), "prokio_mpsc_send_poll", "wait");
    EXPECT_EINVAL(prokio_mpsc_send_poll(&w, NULL, &v, e->cx), "prokio_mpsc_send_poll", "tx");
    EXPECT_EINVAL(prokio_mpsc_send_poll(&w, tx, NULL, e->cx), "prokio_mpsc_send_poll", "value");
    EXPECT_EINVAL(prokio_mpsc_send_poll(&w, tx, &v, NULL), "prokio_mpsc_send_poll", "cx");
    EXPECT_EINVAL(prokio_mpsc_reserve_poll(NULL, tx, e->cx), "prokio_mpsc_reserve_poll", "wait");
    EXPECT_EINVAL(prokio_mpsc_reserve_poll(&w, NULL, e->cx), "prokio_mpsc_reserve_poll", "tx");
    EXPECT_EINVAL(prokio_mpsc_reserve_poll(&w, tx, NULL), "prokio_mpsc_reserve_poll", "cx");
    EXPECT_EINVAL(prokio_mpsc_permit_send(NULL, &v), "prokio_mpsc_permit_send", "wait");
    EXPECT_EINVAL(prokio_mpsc_permit_send(&w, &v), "prokio_mpsc_permit_send", "permit");
    CHECK(prokio_mpsc_reserve_poll(&w, tx, e->cx) == 0);
    EXPECT_EINVAL(prokio_mpsc_permit_send(&w, NULL), "prokio_mpsc_permit_send", "value");
    CHECK(prokio_mpsc_permit_send(&w, &v) == 0);
    EXPECT_EINVAL(prokio_mpsc_try_send(NULL, &v), "prokio_mpsc_try_send", "tx");
    EXPECT_EINVAL(prokio_mpsc_try_send(tx, NULL), "prokio_mpsc_try_send", "value");
    EXPECT_EINVAL(prokio_mpsc_blocking_send(NULL, &v), "prokio_mpsc_blocking_send", "tx");
    EXPECT_EINVAL(prokio_mpsc_blocking_send(tx, NULL), "prokio_mpsc_blocking_send", "value");
    prokio_mpsc_tx_release(tx);
    prokio_mpsc_rx_release(rx);
    return 0;
}

static int c_mpsc_recvs(struct env *e)
{
    int v = 1;
    prokio_mpsc_tx_t *tx;
    prokio_mpsc_rx_t *rx;
    CHECK(prokio_mpsc_new(&tx, &rx, sizeof v, 4, NULL, 0) == 0);
    CHECK(prokio_mpsc_try_send(tx, &v) == 0);
    EXPECT_EINVAL(prokio_mpsc_recv_poll(NULL, &v, e->cx), "prokio_mpsc_recv_poll", "rx");
    EXPECT_EINVAL(prokio_mpsc_recv_poll(rx, NULL, e->cx), "prokio_mpsc_recv_poll", "value_out");
    EXPECT_EINVAL(prokio_mpsc_recv_poll(rx, &v, NULL), "prokio_mpsc_recv_poll", "cx");
    EXPECT_EINVAL(prokio_mpsc_recv_many_poll(NULL, &v, 1, e->cx), "prokio_mpsc_recv_many_poll",
                  "rx");
    EXPECT_EINVAL(prokio_mpsc_recv_many_poll(rx, NULL, 1, e->cx), "prokio_mpsc_recv_many_poll",
                  "values_out");
    EXPECT_EINVAL(prokio_mpsc_recv_many_poll(rx, &v, 1, NULL), "prokio_mpsc_recv_many_poll", "cx");
    EXPECT_EINVAL(prokio_mpsc_try_recv(NULL, &v), "prokio_mpsc_try_recv", "rx");
    EXPECT_EINVAL(prokio_mpsc_try_recv(rx, NULL), "prokio_mpsc_try_recv", "value_out");
    EXPECT_EINVAL(prokio_mpsc_blocking_recv(NULL, &v), "prokio_mpsc_blocking_recv", "rx");
    EXPECT_EINVAL(prokio_mpsc_blocking_recv(rx, NULL), "prokio_mpsc_blocking_recv", "value_out");
    v = 0;
    CHECK(prokio_mpsc_try_recv(rx, &v) == 0 && v == 1); /* nothing was lost */
    prokio_mpsc_tx_release(tx);
    prokio_mpsc_rx_release(rx);
    return 0;
}

/* ---- select, join-all (future.h) and task groups (group.h) */

static int c_select_poll(struct env *e)
{
    int r[1] = {PROKIO_PENDING};
    size_t i;
    prokio_branch_t b[1] = {{ok_poll, NULL, NULL}};
    EXPECT_EINVAL(prokio_select_poll(NULL, b, 1, 0, e->cx), "prokio_select_poll", "index_out");
    EXPECT_EINVAL(prokio_select_poll(&i, NULL, 1, 0, e->cx), "prokio_select_poll", "branches");
    EXPECT_EINVAL(prokio_select_poll(&i, b, 1, 0, NULL), "prokio_select_poll", "cx");
    EXPECT_EINVAL(prokio_select_poll(&i, b, 0, 0, e->cx), "prokio_select_poll", "n");
    prokio_branch_t nb[1] = {{NULL, NULL, NULL}};
    EXPECT_EINVAL(prokio_select_poll(&i, nb, 1, 0, e->cx), "prokio_select_poll", "poll");
    EXPECT_EINVAL(prokio_join_all_poll(NULL, b, 1, e->cx), "prokio_join_all_poll", "results");
    EXPECT_EINVAL(prokio_join_all_poll(r, NULL, 1, e->cx), "prokio_join_all_poll", "branches");
    EXPECT_EINVAL(prokio_join_all_poll(r, b, 1, NULL), "prokio_join_all_poll", "cx");
    EXPECT_EINVAL(prokio_join_all_poll(r, nb, 1, e->cx), "prokio_join_all_poll", "poll");
    return 0;
}

static int c_group_new(struct env *e)
{
    prokio_group_t *g = (prokio_group_t *)&g;
    EXPECT_EINVAL(prokio_group_new(NULL, e->rt), "prokio_group_new", "out");
    /* rt NULL means the current runtime: none on this (plain) thread. */
    EXPECT_EINVAL(prokio_group_new(&g, NULL), "prokio_group_new", "rt");
    CHECK(g == NULL);
    return 0;
}

static int c_group_spawn(struct env *e)
{
    prokio_group_t *g;
    EXPECT_EINVAL(prokio_group_spawn(NULL, ok_poll, NULL, 0, NULL), "prokio_group_spawn", "g");
    EXPECT_EINVAL(prokio_group_spawn_on(NULL, 0, ok_poll, NULL, 0, NULL), "prokio_group_spawn_on",
                  "g");
    EXPECT_EINVAL(prokio_group_spawn_local(NULL, ok_poll, NULL, 0, NULL, e->cx),
                  "prokio_group_spawn_local", "g");
    CHECK(prokio_group_new(&g, e->rt) == 0);
    EXPECT_EINVAL(prokio_group_spawn(g, NULL, NULL, 0, NULL), "prokio_group_spawn", "poll");
    EXPECT_EINVAL(prokio_group_spawn_on(g, 0, NULL, NULL, 0, NULL), "prokio_group_spawn_on",
                  "poll");
    EXPECT_EINVAL(prokio_group_spawn_local(g, NULL, NULL, 0, NULL, e->cx),
                  "prokio_group_spawn_local", "poll");
    EXPECT_EINVAL(prokio_group_spawn_local(g, ok_poll, NULL, 0, NULL, NULL),
                  "prokio_group_spawn_local", "cx");
    CHECK(prokio_group_len(g) == 0);
    prokio_group_free(g);
    return 0;
}

static int c_group_join_next(struct env *e)
{
    prokio_group_t *g;
    prokio_task_t *t = (prokio_task_t *)&t;
    CHECK(prokio_group_new(&g, e->rt) == 0);
    EXPECT_EINVAL(prokio_group_join_next_poll(NULL, g, e->cx), "prokio_group_join_next_poll",
                  "task_out");
    EXPECT_EINVAL(prokio_group_join_next_poll(&t, NULL, e->cx), "prokio_group_join_next_poll", "g");
    CHECK(t == NULL);
    EXPECT_EINVAL(prokio_group_join_next_poll(&t, g, NULL), "prokio_group_join_next_poll", "cx");
    EXPECT_EINVAL(prokio_group_try_join_next(NULL, g), "prokio_group_try_join_next", "task_out");
    EXPECT_EINVAL(prokio_group_try_join_next(&t, NULL), "prokio_group_try_join_next", "g");
    EXPECT_EINVAL(prokio_group_blocking_join_next(NULL, g), "prokio_group_blocking_join_next",
                  "task_out");
    EXPECT_EINVAL(prokio_group_blocking_join_next(&t, NULL), "prokio_group_blocking_join_next",
                  "g");
    CHECK(prokio_group_join_next_poll(&t, g, e->cx) == PROKIO_ENOENT);
    prokio_group_free(g);
    return 0;
}

static int c_group_void(struct env *e)
{
    (void)e;
    prokio_group_abort_all(NULL);
    CHECK(prokio_group_len(NULL) == 0);
    prokio_group_free(NULL);
    return 0;
}

/* prokio/channel.h: broadcast and watch */

static int c_broadcast(struct env *e)
{
    const char *fn = "prokio_broadcast_new";
    prokio_broadcast_tx_t *tx = (prokio_broadcast_tx_t *)&tx;
    prokio_broadcast_rx_t *rx = (prokio_broadcast_rx_t *)&rx, *r2;
    uint64_t v = 1, m;
    prokio_wait_t w = {{{0}}};
    EXPECT_EINVAL(prokio_broadcast_new(NULL, &rx, 8, 1, NULL, 0), fn, "tx");
    CHECK(rx == NULL);
    EXPECT_EINVAL(prokio_broadcast_new(&tx, NULL, 8, 1, NULL, 0), fn, "rx");
    CHECK(tx == NULL);
    CHECK(prokio_broadcast_new(&tx, &rx, sizeof v, 2, NULL, 0) == 0);
    CHECK(prokio_broadcast_tx_clone(NULL) == NULL);
    prokio_broadcast_tx_release(NULL);
    prokio_broadcast_rx_release(NULL);
    EXPECT_EINVAL(prokio_broadcast_send(NULL, &v), "prokio_broadcast_send", "tx");
    EXPECT_EINVAL(prokio_broadcast_send(tx, NULL), "prokio_broadcast_send", "value");
    EXPECT_EINVAL(prokio_broadcast_subscribe(NULL, tx), "prokio_broadcast_subscribe", "rx");
    EXPECT_EINVAL(prokio_broadcast_subscribe(&r2, NULL), "prokio_broadcast_subscribe", "tx");
    EXPECT_EINVAL(prokio_broadcast_resubscribe(NULL, rx), "prokio_broadcast_resubscribe", "out");
    EXPECT_EINVAL(prokio_broadcast_resubscribe(&r2, NULL), "prokio_broadcast_resubscribe", "rx");
    fn = "prokio_broadcast_recv_poll";
    EXPECT_EINVAL(prokio_broadcast_recv_poll(NULL, rx, &v, &m, e->cx), fn, "wait");
    EXPECT_EINVAL(prokio_broadcast_recv_poll(&w, NULL, &v, &m, e->cx), fn, "rx");
    EXPECT_EINVAL(prokio_broadcast_recv_poll(&w, rx, NULL, &m, e->cx), fn, "value_out");
    EXPECT_EINVAL(prokio_broadcast_recv_poll(&w, rx, &v, &m, NULL), fn, "cx");
    fn = "prokio_broadcast_try_recv";
    EXPECT_EINVAL(prokio_broadcast_try_recv(NULL, &v, &m), fn, "rx");
    EXPECT_EINVAL(prokio_broadcast_try_recv(rx, NULL, &m), fn, "value_out");
    fn = "prokio_broadcast_blocking_recv";
    EXPECT_EINVAL(prokio_broadcast_blocking_recv(NULL, &v, &m), fn, "rx");
    EXPECT_EINVAL(prokio_broadcast_blocking_recv(rx, NULL, &m), fn, "value_out");
    /* missed_out is optional: NULL is fine. */
    CHECK(prokio_broadcast_send(tx, &v) == 1);
    CHECK(prokio_broadcast_try_recv(rx, &v, NULL) == 0);
    prokio_broadcast_rx_release(rx);
    prokio_broadcast_tx_release(tx);
    return 0;
}

static int c_watch(struct env *e)
{
    const char *fn = "prokio_watch_new";
    prokio_watch_tx_t *tx = (prokio_watch_tx_t *)&tx;
    prokio_watch_rx_t *rx = (prokio_watch_rx_t *)&rx, *r2;
    uint64_t v = 1, old;
    prokio_wait_t w = {{{0}}};
    EXPECT_EINVAL(prokio_watch_new(NULL, &rx, 8, &v, NULL, 0), fn, "tx");
    CHECK(rx == NULL);
    EXPECT_EINVAL(prokio_watch_new(&tx, NULL, 8, &v, NULL, 0), fn, "rx");
    CHECK(tx == NULL);
    EXPECT_EINVAL(prokio_watch_new(&tx, &rx, 8, NULL, NULL, 0), fn, "initial");
    CHECK(prokio_watch_new(&tx, &rx, sizeof v, &v, NULL, 0) == 0);
    EXPECT_EINVAL(prokio_watch_send(NULL, &v), "prokio_watch_send", "tx");
    EXPECT_EINVAL(prokio_watch_send(tx, NULL), "prokio_watch_send", "value");
    fn = "prokio_watch_send_replace";
    EXPECT_EINVAL(prokio_watch_send_replace(NULL, &v, &old), fn, "tx");
    EXPECT_EINVAL(prokio_watch_send_replace(tx, NULL, &old), fn, "value");
    EXPECT_EINVAL(prokio_watch_send_replace(tx, &v, NULL), fn, "old_out");
    CHECK(prokio_watch_tx_is_closed(NULL) == false);
    EXPECT_EINVAL(prokio_watch_subscribe(NULL, tx), "prokio_watch_subscribe", "rx");
    EXPECT_EINVAL(prokio_watch_subscribe(&r2, NULL), "prokio_watch_subscribe", "tx");
    EXPECT_EINVAL(prokio_watch_resubscribe(NULL, rx), "prokio_watch_resubscribe", "out");
    EXPECT_EINVAL(prokio_watch_resubscribe(&r2, NULL), "prokio_watch_resubscribe", "rx");
    fn = "prokio_watch_changed_poll";
    EXPECT_EINVAL(prokio_watch_changed_poll(NULL, rx, e->cx), fn, "wait");
    EXPECT_EINVAL(prokio_watch_changed_poll(&w, NULL, e->cx), fn, "rx");
    EXPECT_EINVAL(prokio_watch_changed_poll(&w, rx, NULL), fn, "cx");
    EXPECT_EINVAL(prokio_watch_has_changed(NULL), "prokio_watch_has_changed", "rx");
    EXPECT_EINVAL(prokio_watch_blocking_changed(NULL), "prokio_watch_blocking_changed", "rx");
    CHECK(prokio_watch_borrow(NULL) == NULL);
    CHECK(prokio_watch_borrow_and_update(NULL) == NULL);
    prokio_watch_borrow_end(NULL);
    EXPECT_EINVAL(prokio_watch_read(NULL, &v), "prokio_watch_read", "rx");
    EXPECT_EINVAL(prokio_watch_read(rx, NULL), "prokio_watch_read", "value_out");
    prokio_watch_rx_release(NULL);
    prokio_watch_tx_release(NULL);
    prokio_watch_rx_release(rx);
    prokio_watch_tx_release(tx);
    return 0;
}

/* ---------------------------------------- time: interval, timeout, pause */

static int c_interval_init(struct env *e)
{
    (void)e;
    EXPECT_EINVAL(prokio_interval_init(NULL, PROKIO_MS(1), PROKIO_TICK_BURST),
                  "prokio_interval_init", "iv");
    return 0;
}

static int c_interval_init_at(struct env *e)
{
    (void)e;
    EXPECT_EINVAL(prokio_interval_init_at(NULL, 0, PROKIO_MS(1), PROKIO_TICK_SKIP),
                  "prokio_interval_init_at", "iv");
    return 0;
}

static int c_interval_tick_poll(struct env *e)
{
    EXPECT_EINVAL(prokio_interval_tick_poll(NULL, e->cx), "prokio_interval_tick_poll", "iv");
    prokio_interval_t iv;
    CHECK(prokio_interval_init(&iv, PROKIO_SEC(100), PROKIO_TICK_DELAY) == 0);
    EXPECT_EINVAL(prokio_interval_tick_poll(&iv, NULL), "prokio_interval_tick_poll", "cx");
    return 0;
}

static int c_interval_void(struct env *e)
{
    (void)e;
    CHECK(prokio_interval_last_deadline(NULL) == 0);
    prokio_interval_reset(NULL);
    prokio_interval_cancel(NULL);
    return 0;
}

static int c_timeout_poll(struct env *e)
{
    prokio_sleep_t s;
    prokio_sleep_init(&s, PROKIO_SEC(100));
    prokio_branch_t b = prokio_branch_sleep(&s);
    EXPECT_EINVAL(prokio_timeout_poll(NULL, b, e->cx), "prokio_timeout_poll", "deadline");
    EXPECT_EINVAL(prokio_timeout_poll(&s, b, NULL), "prokio_timeout_poll", "cx");
    prokio_branch_t none = {NULL, NULL, NULL};
    EXPECT_EINVAL(prokio_timeout_poll(&s, none, e->cx), "prokio_timeout_poll", "inner.poll");
    return 0;
}

static int c_time_pause(struct env *e)
{
    (void)e;
    EXPECT_EINVAL(prokio_runtime_time_pause(NULL), "prokio_runtime_time_pause", "rt");
    EXPECT_EINVAL(prokio_runtime_time_resume(NULL), "prokio_runtime_time_resume", "rt");
    EXPECT_EINVAL(prokio_runtime_time_advance(NULL, 1), "prokio_runtime_time_advance", "rt");
    CHECK(!prokio_runtime_time_is_paused(NULL));
    return 0;
}

/* prokio/sync.h: every function with NULL in each pointer argument. */
static int c_sync(struct env *e)
{
    prokio_wait_t w = {{{0}}};
    const void *v = NULL;
    int x = 1;
    EXPECT_EINVAL(prokio_semaphore_new(NULL, 1, 0), "prokio_semaphore_new", "out");
    CHECK(prokio_semaphore_free(NULL) == 0);
    prokio_semaphore_t *s;
    CHECK(prokio_semaphore_new(&s, 1, 0) == 0);
    EXPECT_EINVAL(prokio_semaphore_acquire_poll(NULL, s, 1, e->cx), "prokio_semaphore_acquire_poll",
                  "wait");
    EXPECT_EINVAL(prokio_semaphore_acquire_poll(&w, NULL, 1, e->cx),
                  "prokio_semaphore_acquire_poll", "s");
    EXPECT_EINVAL(prokio_semaphore_acquire_poll(&w, s, 1, NULL), "prokio_semaphore_acquire_poll",
                  "cx");
    EXPECT_EINVAL(prokio_semaphore_try_acquire(NULL, 1), "prokio_semaphore_try_acquire", "s");
    EXPECT_EINVAL(prokio_semaphore_blocking_acquire(NULL, 1), "prokio_semaphore_blocking_acquire",
                  "s");
    prokio_semaphore_release(NULL, 1);
    prokio_semaphore_close(NULL);
    CHECK(!prokio_semaphore_is_closed(NULL));
    CHECK(prokio_semaphore_available(NULL) == 0);
    CHECK(prokio_semaphore_available(s) == 1);
    CHECK(prokio_semaphore_free(s) == 0);

    EXPECT_EINVAL(prokio_mutex_new(NULL, 0), "prokio_mutex_new", "out");
    CHECK(prokio_mutex_free(NULL) == 0);
    prokio_mutex_t *m;
    CHECK(prokio_mutex_new(&m, 0) == 0);
    EXPECT_EINVAL(prokio_mutex_lock_poll(NULL, m, e->cx), "prokio_mutex_lock_poll", "wait");
    EXPECT_EINVAL(prokio_mutex_lock_poll(&w, NULL, e->cx), "prokio_mutex_lock_poll", "m");
    EXPECT_EINVAL(prokio_mutex_lock_poll(&w, m, NULL), "prokio_mutex_lock_poll", "cx");
    EXPECT_EINVAL(prokio_mutex_try_lock(NULL), "prokio_mutex_try_lock", "m");
    EXPECT_EINVAL(prokio_mutex_blocking_lock(NULL), "prokio_mutex_blocking_lock", "m");
    prokio_mutex_unlock(NULL);
    CHECK(prokio_mutex_free(m) == 0);

    EXPECT_EINVAL(prokio_rwlock_new(NULL, 0), "prokio_rwlock_new", "out");
    CHECK(prokio_rwlock_free(NULL) == 0);
    prokio_rwlock_t *l;
    CHECK(prokio_rwlock_new(&l, 0) == 0);
    EXPECT_EINVAL(prokio_rwlock_read_poll(NULL, l, e->cx), "prokio_rwlock_read_poll", "wait");
    EXPECT_EINVAL(prokio_rwlock_read_poll(&w, NULL, e->cx), "prokio_rwlock_read_poll", "l");
    EXPECT_EINVAL(prokio_rwlock_read_poll(&w, l, NULL), "prokio_rwlock_read_poll", "cx");
    EXPECT_EINVAL(prokio_rwlock_write_poll(NULL, l, e->cx), "prokio_rwlock_write_poll", "wait");
    EXPECT_EINVAL(prokio_rwlock_write_poll(&w, NULL, e->cx), "prokio_rwlock_write_poll", "l");
    EXPECT_EINVAL(prokio_rwlock_write_poll(&w, l, NULL), "prokio_rwlock_write_poll", "cx");
    EXPECT_EINVAL(prokio_rwlock_try_read(NULL), "prokio_rwlock_try_read", "l");
    EXPECT_EINVAL(prokio_rwlock_try_write(NULL), "prokio_rwlock_try_write", "l");
    EXPECT_EINVAL(prokio_rwlock_blocking_read(NULL), "prokio_rwlock_blocking_read", "l");
    EXPECT_EINVAL(prokio_rwlock_blocking_write(NULL), "prokio_rwlock_blocking_write", "l");
    prokio_rwlock_read_unlock(NULL);
    prokio_rwlock_write_unlock(NULL);
    CHECK(prokio_rwlock_free(l) == 0);

    EXPECT_EINVAL(prokio_notify_new(NULL, 0), "prokio_notify_new", "out");
    CHECK(prokio_notify_free(NULL) == 0);
    prokio_notify_t *n;
    CHECK(prokio_notify_new(&n, 0) == 0);
    EXPECT_EINVAL(prokio_notify_enable(NULL, n, e->cx), "prokio_notify_enable", "wait");
    EXPECT_EINVAL(prokio_notify_enable(&w, NULL, e->cx), "prokio_notify_enable", "n");
    EXPECT_EINVAL(prokio_notify_enable(&w, n, NULL), "prokio_notify_enable", "cx");
    EXPECT_EINVAL(prokio_notify_notified_poll(NULL, n, e->cx), "prokio_notify_notified_poll",
                  "wait");
    EXPECT_EINVAL(prokio_notify_notified_poll(&w, NULL, e->cx), "prokio_notify_notified_poll", "n");
    EXPECT_EINVAL(prokio_notify_notified_poll(&w, n, NULL), "prokio_notify_notified_poll", "cx");
    prokio_notify_notify_one(NULL);
    prokio_notify_notify_waiters(NULL);
    CHECK(prokio_notify_free(n) == 0);

    EXPECT_EINVAL(prokio_barrier_new(NULL, 2, 0), "prokio_barrier_new", "out");
    CHECK(prokio_barrier_free(NULL) == 0);
    prokio_barrier_t *b;
    CHECK(prokio_barrier_new(&b, 2, 0) == 0);
    EXPECT_EINVAL(prokio_barrier_wait_poll(NULL, b, e->cx), "prokio_barrier_wait_poll", "wait");
    EXPECT_EINVAL(prokio_barrier_wait_poll(&w, NULL, e->cx), "prokio_barrier_wait_poll", "b");
    EXPECT_EINVAL(prokio_barrier_wait_poll(&w, b, NULL), "prokio_barrier_wait_poll", "cx");
    CHECK(prokio_barrier_free(b) == 0);

    EXPECT_EINVAL(prokio_once_new(NULL, 4, NULL, 0), "prokio_once_new", "out");
    CHECK(prokio_once_free(NULL) == 0);
    CHECK(prokio_once_get(NULL) == NULL);
    prokio_once_t *o;
    CHECK(prokio_once_new(&o, sizeof x, NULL, 0) == 0);
    EXPECT_EINVAL(prokio_once_init_poll(&v, NULL, o, e->cx), "prokio_once_init_poll", "wait");
    EXPECT_EINVAL(prokio_once_init_poll(&v, &w, NULL, e->cx), "prokio_once_init_poll", "o");
    EXPECT_EINVAL(prokio_once_init_poll(NULL, &w, o, e->cx), "prokio_once_init_poll", "value_out");
    EXPECT_EINVAL(prokio_once_init_poll(&v, &w, o, NULL), "prokio_once_init_poll", "cx");
    EXPECT_EINVAL(prokio_once_set(NULL, o, &x), "prokio_once_set", "wait");
    EXPECT_EINVAL(prokio_once_set(&w, NULL, &x), "prokio_once_set", "o");
    EXPECT_EINVAL(prokio_once_set_now(NULL, &x), "prokio_once_set_now", "o");
    EXPECT_EINVAL(prokio_once_set_now(o, NULL), "prokio_once_set_now", "value");
    CHECK(prokio_once_init_poll(&v, &w, o, e->cx) == PROKIO_ONCE_INIT);
    EXPECT_EINVAL(prokio_once_set(&w, o, NULL), "prokio_once_set", "value");
    CHECK(prokio_once_set(&w, o, &x) == 0);
    CHECK(*(const int *)prokio_once_get(o) == 1);
    CHECK(prokio_once_free(o) == 0);
    return 0;
}

/* issue 8: prokio/signal.h */
static int c_signal(struct env *e)
{
    EXPECT_EINVAL(prokio_signal_new(NULL, SIGUSR1, 0), "prokio_signal_new", "out");
    EXPECT_EINVAL(prokio_signal_recv_poll(NULL, e->cx), "prokio_signal_recv_poll", "s");
    EXPECT_EINVAL(prokio_signal_try_recv(NULL), "prokio_signal_try_recv", "s");
    CHECK(prokio_signal_number(NULL) == 0);
    prokio_signal_free(NULL);
    prokio_signal_t *s;
    CHECK(prokio_signal_new(&s, SIGUSR1, 0) == 0);
    EXPECT_EINVAL(prokio_signal_recv_poll(s, NULL), "prokio_signal_recv_poll", "cx");
    prokio_signal_free(s);
    return 0;
}

/* issue 8: prokio/blocking.h */
static int noop_blocking(void *frame)
{
    (void)frame;
    return 0;
}

static int c_spawn_blocking(struct env *e)
{
    prokio_task_t *h;
    EXPECT_EINVAL(prokio_spawn_blocking(&h, e->rt, NULL, NULL, 0, NULL), "prokio_spawn_blocking",
                  "fn");
    EXPECT_EINVAL(prokio_spawn_blocking(&h, NULL, noop_blocking, NULL, 0, NULL),
                  "prokio_spawn_blocking", "rt");
    CHECK(prokio_spawn_blocking(NULL, e->rt, noop_blocking, NULL, 0, NULL) == 0);
    return 0;
}

/* issue 8: prokio/resolve.h */
static int c_resolve(struct env *e)
{
    prokio_addr_list_t *l;
    prokio_resolve_t r = {0};
    EXPECT_EINVAL(prokio_resolve_poll(NULL, &r, "localhost", "80", AF_UNSPEC, 0, e->cx),
                  "prokio_resolve_poll", "list_out");
    EXPECT_EINVAL(prokio_resolve_poll(&l, NULL, "localhost", "80", AF_UNSPEC, 0, e->cx),
                  "prokio_resolve_poll", "res");
    EXPECT_EINVAL(prokio_resolve_poll(&l, &r, "localhost", "80", AF_UNSPEC, 0, NULL),
                  "prokio_resolve_poll", "cx");
    EXPECT_EINVAL(prokio_resolve_poll(&l, &r, NULL, NULL, AF_UNSPEC, 0, e->cx),
                  "prokio_resolve_poll", "host");
    prokio_resolve_cancel(NULL);
    CHECK(prokio_addr_list_count(NULL) == 0);
    socklen_t len = 1;
    CHECK(prokio_addr_list_get(NULL, 0, &len) == NULL && len == 0);
    prokio_addr_list_free(NULL);
    /* A numeric answer comes at once; a NULL len_out is allowed. */
    CHECK(prokio_resolve_poll(&l, &r, "127.0.0.1", "80", AF_UNSPEC, 0, e->cx) == 1);
    CHECK(prokio_addr_list_get(l, 0, NULL) != NULL);
    CHECK(prokio_addr_list_get(l, 1, NULL) == NULL);
    prokio_addr_list_free(l);
    return 0;
}

/* issue 8: prokio/file.h */
static int c_file(struct env *e)
{
    prokio_file_t *f;
    prokio_op_t op = {0};
    char buf[4];
    EXPECT_EINVAL(prokio_file_open_poll(NULL, &op, "/dev/null", O_RDONLY, 0, e->cx),
                  "prokio_file_open_poll", "out");
    EXPECT_EINVAL(prokio_file_open_poll(&f, NULL, "/dev/null", O_RDONLY, 0, e->cx),
                  "prokio_file_open_poll", "op");
    EXPECT_EINVAL(prokio_file_open_poll(&f, &op, NULL, O_RDONLY, 0, e->cx), "prokio_file_open_poll",
                  "path");
    EXPECT_EINVAL(prokio_file_open_poll(&f, &op, "/dev/null", O_RDONLY, 0, NULL),
                  "prokio_file_open_poll", "cx");
    int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    EXPECT_EINVAL(prokio_file_from_fd(NULL, fd, 0, e->cx), "prokio_file_from_fd", "out");
    EXPECT_EINVAL(prokio_file_from_fd(&f, fd, 0, NULL), "prokio_file_from_fd", "cx");
    CHECK(prokio_file_from_fd(&f, fd, 0, e->cx) == 0);
    EXPECT_EINVAL(prokio_file_read_at_poll(NULL, f, buf, 4, 0, e->cx), "prokio_file_read_at_poll",
                  "op");
    EXPECT_EINVAL(prokio_file_read_at_poll(&op, NULL, buf, 4, 0, e->cx), "prokio_file_read_at_poll",
                  "f");
    EXPECT_EINVAL(prokio_file_read_at_poll(&op, f, NULL, 4, 0, e->cx), "prokio_file_read_at_poll",
                  "buf");
    EXPECT_EINVAL(prokio_file_read_at_poll(&op, f, buf, 4, 0, NULL), "prokio_file_read_at_poll",
                  "cx");
    EXPECT_EINVAL(prokio_file_write_at_poll(NULL, f, buf, 4, 0, e->cx), "prokio_file_write_at_poll",
                  "op");
    EXPECT_EINVAL(prokio_file_write_at_poll(&op, NULL, buf, 4, 0, e->cx),
                  "prokio_file_write_at_poll", "f");
    EXPECT_EINVAL(prokio_file_write_at_poll(&op, f, NULL, 4, 0, e->cx), "prokio_file_write_at_poll",
                  "buf");
    EXPECT_EINVAL(prokio_file_write_at_poll(&op, f, buf, 4, 0, NULL), "prokio_file_write_at_poll",
                  "cx");
    EXPECT_EINVAL(prokio_file_read_poll(NULL, f, buf, 4, e->cx), "prokio_file_read_poll", "op");
    EXPECT_EINVAL(prokio_file_read_poll(&op, NULL, buf, 4, e->cx), "prokio_file_read_poll", "f");
    EXPECT_EINVAL(prokio_file_read_poll(&op, f, NULL, 4, e->cx), "prokio_file_read_poll", "buf");
    EXPECT_EINVAL(prokio_file_read_poll(&op, f, buf, 4, NULL), "prokio_file_read_poll", "cx");
    EXPECT_EINVAL(prokio_file_write_poll(NULL, f, buf, 4, e->cx), "prokio_file_write_poll", "op");
    EXPECT_EINVAL(prokio_file_write_poll(&op, NULL, buf, 4, e->cx), "prokio_file_write_poll", "f");
    EXPECT_EINVAL(prokio_file_write_poll(&op, f, NULL, 4, e->cx), "prokio_file_write_poll", "buf");
    EXPECT_EINVAL(prokio_file_write_poll(&op, f, buf, 4, NULL), "prokio_file_write_poll", "cx");
    EXPECT_EINVAL(prokio_file_fsync_poll(NULL, f, true, e->cx), "prokio_file_fsync_poll", "op");
    EXPECT_EINVAL(prokio_file_fsync_poll(&op, NULL, true, e->cx), "prokio_file_fsync_poll", "f");
    EXPECT_EINVAL(prokio_file_fsync_poll(&op, f, true, NULL), "prokio_file_fsync_poll", "cx");
    EXPECT_EINVAL(prokio_file_seek(NULL, 0), "prokio_file_seek", "f");
    CHECK(prokio_file_position(NULL) == 0);
    EXPECT_EINVAL(prokio_file_fileno(NULL), "prokio_file_fileno", "f");
    CHECK(prokio_file_fileno(f) == fd);
    EXPECT_EINVAL(prokio_file_close_poll(NULL, f, e->cx), "prokio_file_close_poll", "op");
    EXPECT_EINVAL(prokio_file_close_poll(&op, NULL, e->cx), "prokio_file_close_poll", "f");
    EXPECT_EINVAL(prokio_file_close_poll(&op, f, NULL), "prokio_file_close_poll", "cx");
    CHECK(prokio_file_free(NULL) == 0);
    CHECK(prokio_file_free(f) == 0);
    return 0;
}

/* ------------------------------------------------------------ the table */

enum need { NOTHING, RUNTIME, TASK };

struct entry {
    const char *names; /* the functions it covers, space-separated */
    int (*check)(struct env *e);
    enum need need;
};

/* issue 7 (wasm): prokio_runtime_run_main */
static int c_runtime_run_main(struct env *e)
{
    EXPECT_EINVAL(prokio_runtime_run_main(NULL, ok_poll, NULL, 0, NULL), "prokio_runtime_run_main",
                  "rt");
    EXPECT_EINVAL(prokio_runtime_run_main(e->rt, NULL, NULL, 0, NULL), "prokio_runtime_run_main",
                  "poll");
    return 0;
}

/* issue 7: the JS bridge (prokio/js.h): natively every function answers
 * ENOTSUP, after the same NULL checks as on wasm. */
static int js_poll_ok(void *frame, prokio_cx_t *cx)
{
    (void)frame, (void)cx;
    return 0;
}

static int js_init_ok(void *frame, const prokio_js_t *args, size_t nargs)
{
    (void)frame, (void)args, (void)nargs;
    return 0;
}

static int c_js(struct env *e)
{
    prokio_js_t h = 0;
    char buf[8];
    prokio_js_await_t aw = {0};
    EXPECT_EINVAL(prokio_js_string(NULL, "x"), "prokio_js_string", "out");
    EXPECT_EINVAL(prokio_js_string(&h, NULL), "prokio_js_string", "utf8");
    EXPECT_EINVAL(prokio_js_number(NULL, 1), "prokio_js_number", "out");
    EXPECT_EINVAL(prokio_js_global(NULL, "x"), "prokio_js_global", "out");
    EXPECT_EINVAL(prokio_js_global(&h, NULL), "prokio_js_global", "path");
    EXPECT_EINVAL(prokio_js_function(NULL, "x"), "prokio_js_function", "out");
    EXPECT_EINVAL(prokio_js_function(&h, NULL), "prokio_js_function", "source");
    EXPECT_EINVAL(prokio_js_call(NULL, 1, 0, NULL, 0), "prokio_js_call", "result_out");
    EXPECT_EINVAL(prokio_js_call(&h, 1, 0, NULL, 1), "prokio_js_call", "args");
    EXPECT_EINVAL(prokio_js_get(NULL, 1, "k"), "prokio_js_get", "out");
    EXPECT_EINVAL(prokio_js_get(&h, 1, NULL), "prokio_js_get", "key");
    EXPECT_EINVAL(prokio_js_to_string(1, NULL, sizeof buf, NULL), "prokio_js_to_string", "buf");
    EXPECT_EINVAL(prokio_js_to_number(1, NULL), "prokio_js_to_number", "out");
    EXPECT_EINVAL(prokio_js_waker(NULL, prokio_cx_waker(e->cx)), "prokio_js_waker", "out");
    EXPECT_EINVAL(prokio_js_waker(&h, NULL), "prokio_js_waker", "waker");
    EXPECT_EINVAL(prokio_js_await_poll(NULL, &aw, 1, e->cx), "prokio_js_await_poll", "result_out");
    EXPECT_EINVAL(prokio_js_await_poll(&h, NULL, 1, e->cx), "prokio_js_await_poll", "aw");
    EXPECT_EINVAL(prokio_js_await_poll(&h, &aw, 1, NULL), "prokio_js_await_poll", "cx");
    EXPECT_EINVAL(prokio_js_promise_of_task(NULL, (prokio_task_t *)&h, 0),
                  "prokio_js_promise_of_task", "out");
    EXPECT_EINVAL(prokio_js_promise_of_task(&h, NULL, 0), "prokio_js_promise_of_task", "task");
    prokio_runtime_t *rt = prokio_cx_runtime(e->cx);
    EXPECT_EINVAL(prokio_js_export(NULL, "n", js_poll_ok, 0, NULL, js_init_ok, 0),
                  "prokio_js_export", "rt");
    EXPECT_EINVAL(prokio_js_export(rt, NULL, js_poll_ok, 0, NULL, js_init_ok, 0),
                  "prokio_js_export", "name");
    EXPECT_EINVAL(prokio_js_export(rt, "n", NULL, 0, NULL, js_init_ok, 0), "prokio_js_export",
                  "poll");
    prokio_js_release(0);
    prokio_js_await_cancel(NULL);
    prokio_js_unexport(NULL);
    CHECK(prokio_js_typeof(0) < 0);
    return 0;
}

/* issue 8: prokio/op.h and prokio/net.h */
static int c_net_addr(struct env *e)
{
    (void)e;
    prokio_addr_t a = {0};
    char buf[PROKIO_ADDR_STRLEN];
    struct sockaddr_in sin = {.sin_family = AF_INET};
    EXPECT_EINVAL(prokio_addr_parse(NULL, "1.2.3.4:5"), "prokio_addr_parse", "out");
    EXPECT_EINVAL(prokio_addr_parse(&a, NULL), "prokio_addr_parse", "text");
    EXPECT_EINVAL(prokio_addr_unix(NULL, "/x"), "prokio_addr_unix", "out");
    EXPECT_EINVAL(prokio_addr_unix(&a, NULL), "prokio_addr_unix", "path");
    EXPECT_EINVAL(prokio_addr_from_sockaddr(NULL, (struct sockaddr *)&sin, sizeof sin),
                  "prokio_addr_from_sockaddr", "out");
    EXPECT_EINVAL(prokio_addr_from_sockaddr(&a, NULL, sizeof sin), "prokio_addr_from_sockaddr",
                  "sa");
    CHECK(prokio_addr_parse(&a, "1.2.3.4:5") == 0);
    EXPECT_EINVAL(prokio_addr_format(NULL, buf, sizeof buf), "prokio_addr_format", "addr");
    EXPECT_EINVAL(prokio_addr_format(&a, NULL, sizeof buf), "prokio_addr_format", "buf");
    EXPECT_EINVAL(prokio_addr_family(NULL), "prokio_addr_family", "addr");
    EXPECT_EINVAL(prokio_addr_port(NULL), "prokio_addr_port", "addr");
    prokio_op_cancel(NULL);
    CHECK(!prokio_op_is_pending(NULL));
    return 0;
}

static int c_net_listener(struct env *e)
{
    prokio_addr_t a;
    prokio_listener_t *l;
    prokio_stream_t *s;
    prokio_op_t op = {0};
    CHECK(prokio_addr_parse(&a, "127.0.0.1:0") == 0);
    EXPECT_EINVAL(prokio_listener_new(NULL, &a, 0, 0), "prokio_listener_new", "out");
    EXPECT_EINVAL(prokio_listener_new(&l, NULL, 0, 0), "prokio_listener_new", "addr");
    EXPECT_EINVAL(prokio_listener_from_fd(NULL, 0, 0), "prokio_listener_from_fd", "out");
    CHECK(prokio_listener_new(&l, &a, 0, 0) == 0);
    const char *fn = "prokio_listener_accept_poll";
    EXPECT_EINVAL(prokio_listener_accept_poll(NULL, &op, l, NULL, e->cx), fn, "out");
    EXPECT_EINVAL(prokio_listener_accept_poll(&s, NULL, l, NULL, e->cx), fn, "op");
    EXPECT_EINVAL(prokio_listener_accept_poll(&s, &op, NULL, NULL, e->cx), fn, "l");
    EXPECT_EINVAL(prokio_listener_accept_poll(&s, &op, l, NULL, NULL), fn, "cx");
    EXPECT_EINVAL(prokio_listener_local_addr(NULL, &a), "prokio_listener_local_addr", "l");
    EXPECT_EINVAL(prokio_listener_local_addr(l, NULL), "prokio_listener_local_addr", "addr");
    EXPECT_EINVAL(prokio_listener_fileno(NULL), "prokio_listener_fileno", "l");
    fn = "prokio_listener_close_poll";
    EXPECT_EINVAL(prokio_listener_close_poll(NULL, l, e->cx), fn, "op");
    EXPECT_EINVAL(prokio_listener_close_poll(&op, NULL, e->cx), fn, "l");
    EXPECT_EINVAL(prokio_listener_close_poll(&op, l, NULL), fn, "cx");
    CHECK(prokio_listener_free(NULL) == 0);
    CHECK(prokio_listener_free(l) == 0);
    return 0;
}

static int c_net_stream(struct env *e)
{
    prokio_addr_t a;
    prokio_stream_t *s = NULL;
    prokio_op_t op = {0};
    char buf[4];
    size_t w = 0;
    struct iovec iov = {buf, 1};
    CHECK(prokio_addr_parse(&a, "127.0.0.1:1") == 0);
    const char *fn = "prokio_stream_connect_poll";
    EXPECT_EINVAL(prokio_stream_connect_poll(NULL, &op, &a, 0, e->cx), fn, "out");
    EXPECT_EINVAL(prokio_stream_connect_poll(&s, NULL, &a, 0, e->cx), fn, "op");
    EXPECT_EINVAL(prokio_stream_connect_poll(&s, &op, NULL, 0, e->cx), fn, "addr");
    EXPECT_EINVAL(prokio_stream_connect_poll(&s, &op, &a, 0, NULL), fn, "cx");
    EXPECT_EINVAL(prokio_stream_from_fd(NULL, 0, 0), "prokio_stream_from_fd", "out");
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    CHECK(prokio_stream_from_fd(&s, sv[0], 0) == 0);
    fn = "prokio_stream_read_poll";
    EXPECT_EINVAL(prokio_stream_read_poll(NULL, s, buf, 1, e->cx), fn, "op");
    EXPECT_EINVAL(prokio_stream_read_poll(&op, NULL, buf, 1, e->cx), fn, "s");
    EXPECT_EINVAL(prokio_stream_read_poll(&op, s, NULL, 1, e->cx), fn, "buf");
    EXPECT_EINVAL(prokio_stream_read_poll(&op, s, buf, 1, NULL), fn, "cx");
    fn = "prokio_stream_write_poll";
    EXPECT_EINVAL(prokio_stream_write_poll(NULL, s, buf, 1, e->cx), fn, "op");
    EXPECT_EINVAL(prokio_stream_write_poll(&op, NULL, buf, 1, e->cx), fn, "s");
    EXPECT_EINVAL(prokio_stream_write_poll(&op, s, NULL, 1, e->cx), fn, "buf");
    EXPECT_EINVAL(prokio_stream_write_poll(&op, s, buf, 1, NULL), fn, "cx");
    fn = "prokio_stream_write_all_poll";
    EXPECT_EINVAL(prokio_stream_write_all_poll(NULL, s, buf, 1, &w, e->cx), fn, "op");
    EXPECT_EINVAL(prokio_stream_write_all_poll(&op, NULL, buf, 1, &w, e->cx), fn, "s");
    EXPECT_EINVAL(prokio_stream_write_all_poll(&op, s, NULL, 1, &w, e->cx), fn, "buf");
    EXPECT_EINVAL(prokio_stream_write_all_poll(&op, s, buf, 1, NULL, e->cx), fn, "written");
    EXPECT_EINVAL(prokio_stream_write_all_poll(&op, s, buf, 1, &w, NULL), fn, "cx");
    fn = "prokio_stream_writev_poll";
    EXPECT_EINVAL(prokio_stream_writev_poll(NULL, s, &iov, 1, e->cx), fn, "op");
    EXPECT_EINVAL(prokio_stream_writev_poll(&op, NULL, &iov, 1, e->cx), fn, "s");
    EXPECT_EINVAL(prokio_stream_writev_poll(&op, s, NULL, 1, e->cx), fn, "iov");
    EXPECT_EINVAL(prokio_stream_writev_poll(&op, s, &iov, 1, NULL), fn, "cx");
    EXPECT_EINVAL(prokio_stream_shutdown(NULL, PROKIO_SHUT_BOTH), "prokio_stream_shutdown", "s");
    EXPECT_EINVAL(prokio_stream_set_nodelay(NULL, true), "prokio_stream_set_nodelay", "s");
    EXPECT_EINVAL(prokio_stream_set_keepalive(NULL, 1), "prokio_stream_set_keepalive", "s");
    EXPECT_EINVAL(prokio_stream_local_addr(NULL, &a), "prokio_stream_local_addr", "s");
    EXPECT_EINVAL(prokio_stream_local_addr(s, NULL), "prokio_stream_local_addr", "addr");
    EXPECT_EINVAL(prokio_stream_peer_addr(NULL, &a), "prokio_stream_peer_addr", "s");
    EXPECT_EINVAL(prokio_stream_peer_addr(s, NULL), "prokio_stream_peer_addr", "addr");
    EXPECT_EINVAL(prokio_stream_fileno(NULL), "prokio_stream_fileno", "s");
    fn = "prokio_stream_close_poll";
    EXPECT_EINVAL(prokio_stream_close_poll(NULL, s, e->cx), fn, "op");
    EXPECT_EINVAL(prokio_stream_close_poll(&op, NULL, e->cx), fn, "s");
    EXPECT_EINVAL(prokio_stream_close_poll(&op, s, NULL), fn, "cx");
    CHECK(prokio_stream_free(NULL) == 0);
    CHECK(prokio_stream_free(s) == 0);
    close(sv[1]);
    return 0;
}

static int c_net_udp(struct env *e)
{
    prokio_addr_t a;
    prokio_udp_t *u;
    prokio_op_t op = {0};
    char buf[4];
    CHECK(prokio_addr_parse(&a, "127.0.0.1:0") == 0);
    EXPECT_EINVAL(prokio_udp_bind(NULL, &a, 0), "prokio_udp_bind", "out");
    EXPECT_EINVAL(prokio_udp_bind(&u, NULL, 0), "prokio_udp_bind", "addr");
    EXPECT_EINVAL(prokio_udp_from_fd(NULL, 0, 0), "prokio_udp_from_fd", "out");
    CHECK(prokio_udp_bind(&u, &a, 0) == 0);
    EXPECT_EINVAL(prokio_udp_connect(NULL, &a), "prokio_udp_connect", "u");
    EXPECT_EINVAL(prokio_udp_connect(u, NULL), "prokio_udp_connect", "addr");
    const char *fn = "prokio_udp_send_to_poll";
    EXPECT_EINVAL(prokio_udp_send_to_poll(NULL, u, buf, 1, &a, e->cx), fn, "op");
    EXPECT_EINVAL(prokio_udp_send_to_poll(&op, NULL, buf, 1, &a, e->cx), fn, "u");
    EXPECT_EINVAL(prokio_udp_send_to_poll(&op, u, NULL, 1, &a, e->cx), fn, "buf");
    EXPECT_EINVAL(prokio_udp_send_to_poll(&op, u, buf, 1, NULL, e->cx), fn, "addr");
    EXPECT_EINVAL(prokio_udp_send_to_poll(&op, u, buf, 1, &a, NULL), fn, "cx");
    fn = "prokio_udp_recv_from_poll";
    EXPECT_EINVAL(prokio_udp_recv_from_poll(NULL, u, buf, 1, &a, e->cx), fn, "op");
    EXPECT_EINVAL(prokio_udp_recv_from_poll(&op, NULL, buf, 1, &a, e->cx), fn, "u");
    EXPECT_EINVAL(prokio_udp_recv_from_poll(&op, u, NULL, 1, &a, e->cx), fn, "buf");
    EXPECT_EINVAL(prokio_udp_recv_from_poll(&op, u, buf, 1, &a, NULL), fn, "cx");
    fn = "prokio_udp_send_poll";
    EXPECT_EINVAL(prokio_udp_send_poll(NULL, u, buf, 1, e->cx), fn, "op");
    EXPECT_EINVAL(prokio_udp_send_poll(&op, NULL, buf, 1, e->cx), fn, "u");
    EXPECT_EINVAL(prokio_udp_send_poll(&op, u, NULL, 1, e->cx), fn, "buf");
    EXPECT_EINVAL(prokio_udp_send_poll(&op, u, buf, 1, NULL), fn, "cx");
    fn = "prokio_udp_recv_poll";
    EXPECT_EINVAL(prokio_udp_recv_poll(NULL, u, buf, 1, e->cx), fn, "op");
    EXPECT_EINVAL(prokio_udp_recv_poll(&op, NULL, buf, 1, e->cx), fn, "u");
    EXPECT_EINVAL(prokio_udp_recv_poll(&op, u, NULL, 1, e->cx), fn, "buf");
    EXPECT_EINVAL(prokio_udp_recv_poll(&op, u, buf, 1, NULL), fn, "cx");
    EXPECT_EINVAL(prokio_udp_local_addr(NULL, &a), "prokio_udp_local_addr", "u");
    EXPECT_EINVAL(prokio_udp_local_addr(u, NULL), "prokio_udp_local_addr", "addr");
    EXPECT_EINVAL(prokio_udp_peer_addr(NULL, &a), "prokio_udp_peer_addr", "u");
    EXPECT_EINVAL(prokio_udp_peer_addr(u, NULL), "prokio_udp_peer_addr", "addr");
    EXPECT_EINVAL(prokio_udp_fileno(NULL), "prokio_udp_fileno", "u");
    fn = "prokio_udp_close_poll";
    EXPECT_EINVAL(prokio_udp_close_poll(NULL, u, e->cx), fn, "op");
    EXPECT_EINVAL(prokio_udp_close_poll(&op, NULL, e->cx), fn, "u");
    EXPECT_EINVAL(prokio_udp_close_poll(&op, u, NULL), fn, "cx");
    CHECK(prokio_udp_free(NULL) == 0);
    CHECK(prokio_udp_free(u) == 0);
    return 0;
}

/* issue 8: prokio/stats.h */
static int c_runtime_stats(struct env *e)
{
    prokio_runtime_stats_t st = PROKIO_RUNTIME_STATS_INIT;
    EXPECT_EINVAL(prokio_runtime_stats_read(NULL, &st), "prokio_runtime_stats_read", "rt");
    EXPECT_EINVAL(prokio_runtime_stats_read(e->rt, NULL), "prokio_runtime_stats_read", "stats");
    CHECK(prokio_runtime_stats_read(e->rt, &st) == 0);
    return 0;
}

static const struct entry table[] = {
    /* prokio/error.h, prokio/version.h; prokio_runtime_current */
    {"prokio_strerror prokio_err_name prokio_last_error prokio_version_string prokio_version "
     "prokio_runtime_current",
     c_no_pointers, NOTHING},
    /* prokio/runtime.h */
    {"prokio_runtime_new", c_runtime_new, NOTHING},
    {"prokio_runtime_shutdown", c_runtime_shutdown, NOTHING},
    {"prokio_runtime_free", c_runtime_free, NOTHING},
    {"prokio_runtime_clone", c_runtime_clone, NOTHING},
    {"prokio_runtime_release", c_runtime_release, NOTHING},
    {"prokio_runtime_is_shut_down", c_runtime_is_shut_down, NOTHING},
    {"prokio_runtime_backend_name", c_runtime_backend_name, NOTHING},
    {"prokio_runtime_workers", c_runtime_workers, NOTHING},
    {"prokio_runtime_block_on", c_runtime_block_on, RUNTIME},
    /* prokio/task.h */
    {"prokio_spawn", c_spawn, RUNTIME},
    {"prokio_spawn_local", c_spawn_local, TASK},
    {"prokio_spawn_on", c_spawn_on, RUNTIME},
    {"prokio_task_join_poll", c_task_join_poll, TASK},
    {"prokio_task_blocking_join", c_task_blocking_join, NOTHING},
    {"prokio_task_result", c_task_result, NOTHING},
    {"prokio_task_frame", c_task_frame, NOTHING},
    {"prokio_task_abort", c_task_abort, NOTHING},
    {"prokio_task_release", c_task_release, NOTHING},
    {"prokio_cx_waker", c_cx_waker, NOTHING},
    {"prokio_cx_runtime", c_cx_runtime, NOTHING},
    {"prokio_cx_worker", c_cx_worker, NOTHING},
    {"prokio_cx_yield", c_cx_yield, NOTHING},
    {"prokio_waker_clone", c_waker_clone, NOTHING},
    {"prokio_waker_wake", c_waker_wake, NOTHING},
    {"prokio_waker_wake_by_ref", c_waker_wake_by_ref, NOTHING},
    {"prokio_waker_release", c_waker_release, NOTHING},
    {"prokio_waker_will_wake", c_waker_will_wake, TASK},
    /* prokio/time.h */
    {"prokio_cx_now_ns", c_cx_now_ns, NOTHING},
    {"prokio_sleep_init", c_sleep_init, NOTHING},
    {"prokio_sleep_init_until", c_sleep_init_until, NOTHING},
    {"prokio_sleep_poll", c_sleep_poll, TASK},
    {"prokio_sleep_cancel", c_sleep_cancel, NOTHING},
    /* prokio/future.h */
    {"prokio_wait_cancel", c_wait_cancel, NOTHING},
    {"prokio_wait_is_pending", c_wait_is_pending, NOTHING},
    {"prokio_branch_sleep prokio_branch_join", c_branches, TASK},
    /* prokio/fd.h */
    {"prokio_fd_new", c_fd_new, TASK},
    {"prokio_fd_ready_poll", c_fd_ready_poll, TASK},
    {"prokio_fd_clear_ready", c_fd_clear_ready, NOTHING},
    {"prokio_fd_fileno", c_fd_fileno, NOTHING},
    {"prokio_fd_free", c_fd_free, NOTHING},
    /* prokio/channel.h */
    {"prokio_oneshot_new", c_oneshot_new, NOTHING},
    {"prokio_oneshot_send", c_oneshot_send, NOTHING},
    {"prokio_oneshot_tx_release", c_oneshot_tx_release, NOTHING},
    {"prokio_oneshot_tx_is_closed", c_oneshot_tx_is_closed, NOTHING},
    {"prokio_oneshot_recv_poll", c_oneshot_recv_poll, TASK},
    {"prokio_oneshot_blocking_recv", c_oneshot_blocking_recv, NOTHING},
    {"prokio_oneshot_rx_release", c_oneshot_rx_release, NOTHING},
    /* prokio/future.h: select, join-all; prokio/group.h */
    {"prokio_select_poll prokio_join_all_poll", c_select_poll, TASK},
    {"prokio_group_new", c_group_new, RUNTIME},
    {"prokio_group_spawn prokio_group_spawn_on prokio_group_spawn_local", c_group_spawn, TASK},
    {"prokio_group_join_next_poll prokio_group_try_join_next prokio_group_blocking_join_next",
     c_group_join_next, TASK},
    {"prokio_group_abort_all prokio_group_len prokio_group_free", c_group_void, NOTHING},
    /* prokio/channel.h: broadcast and watch */
    {"prokio_broadcast_new prokio_broadcast_tx_clone prokio_broadcast_tx_release "
     "prokio_broadcast_send prokio_broadcast_subscribe prokio_broadcast_resubscribe "
     "prokio_broadcast_recv_poll prokio_broadcast_try_recv prokio_broadcast_blocking_recv "
     "prokio_broadcast_rx_release",
     c_broadcast, TASK},
    {"prokio_watch_new prokio_watch_send prokio_watch_send_replace prokio_watch_tx_is_closed "
     "prokio_watch_subscribe prokio_watch_resubscribe prokio_watch_tx_release "
     "prokio_watch_changed_poll prokio_watch_has_changed prokio_watch_blocking_changed "
     "prokio_watch_borrow prokio_watch_borrow_and_update prokio_watch_borrow_end "
     "prokio_watch_read prokio_watch_rx_release",
     c_watch, TASK},
    /* prokio/time.h: interval, timeout, the paused clock */
    {"prokio_interval_init", c_interval_init, NOTHING},
    {"prokio_interval_init_at", c_interval_init_at, NOTHING},
    {"prokio_interval_tick_poll", c_interval_tick_poll, TASK},
    {"prokio_interval_last_deadline prokio_interval_reset prokio_interval_cancel", c_interval_void,
     NOTHING},
    {"prokio_timeout_poll", c_timeout_poll, TASK},
    {"prokio_runtime_time_pause prokio_runtime_time_resume prokio_runtime_time_advance "
     "prokio_runtime_time_is_paused",
     c_time_pause, NOTHING},
    /* prokio/sync.h */
    {"prokio_semaphore_new prokio_semaphore_free prokio_semaphore_acquire_poll "
     "prokio_semaphore_try_acquire prokio_semaphore_blocking_acquire prokio_semaphore_release "
     "prokio_semaphore_close prokio_semaphore_is_closed prokio_semaphore_available "
     "prokio_mutex_new prokio_mutex_free prokio_mutex_lock_poll prokio_mutex_try_lock "
     "prokio_mutex_blocking_lock prokio_mutex_unlock prokio_rwlock_new prokio_rwlock_free "
     "prokio_rwlock_read_poll prokio_rwlock_write_poll prokio_rwlock_try_read "
     "prokio_rwlock_try_write prokio_rwlock_blocking_read prokio_rwlock_blocking_write "
     "prokio_rwlock_read_unlock prokio_rwlock_write_unlock prokio_notify_new prokio_notify_free "
     "prokio_notify_enable prokio_notify_notified_poll prokio_notify_notify_one "
     "prokio_notify_notify_waiters prokio_barrier_new prokio_barrier_free prokio_barrier_wait_poll "
     "prokio_once_new prokio_once_free prokio_once_get prokio_once_init_poll prokio_once_set "
     "prokio_once_set_now",
     c_sync, TASK},
    /* prokio/blocking.h */
    {"prokio_spawn_blocking", c_spawn_blocking, RUNTIME},
    /* prokio/signal.h */
    {"prokio_signal_new prokio_signal_recv_poll prokio_signal_try_recv prokio_signal_free "
     "prokio_signal_number",
     c_signal, TASK},
    /* prokio/resolve.h */
    {"prokio_resolve_poll prokio_resolve_cancel prokio_addr_list_count prokio_addr_list_get "
     "prokio_addr_list_free",
     c_resolve, TASK},
    /* prokio/file.h */
    {"prokio_file_open_poll prokio_file_from_fd prokio_file_read_at_poll "
     "prokio_file_write_at_poll prokio_file_read_poll prokio_file_write_poll "
     "prokio_file_fsync_poll prokio_file_seek prokio_file_position prokio_file_fileno "
     "prokio_file_close_poll prokio_file_free",
     c_file, TASK},
    /* prokio/backend_info.h */
    {"prokio_backend_probe_all", c_backend_probe_all, NOTHING},
    {"prokio_backend_dirs", c_backend_dirs, NOTHING},
    {"prokio_runtime_backend_report", c_runtime_backend_report, RUNTIME},
    /* prokio/channel.h: mpsc */
    {"prokio_mpsc_new", c_mpsc_new, NOTHING},
    {"prokio_mpsc_tx_clone prokio_mpsc_tx_release prokio_mpsc_rx_release prokio_mpsc_rx_close "
     "prokio_mpsc_tx_is_closed prokio_mpsc_rx_len prokio_mpsc_tx_capacity",
     c_mpsc_ends, NOTHING},
    {"prokio_mpsc_send_poll prokio_mpsc_reserve_poll prokio_mpsc_permit_send "
     "prokio_mpsc_try_send prokio_mpsc_blocking_send",
     c_mpsc_sends, TASK},
    {"prokio_mpsc_recv_poll prokio_mpsc_recv_many_poll prokio_mpsc_try_recv "
     "prokio_mpsc_blocking_recv",
     c_mpsc_recvs, TASK},
    /* issue 7 (wasm) */
    {"prokio_runtime_run_main", c_runtime_run_main, RUNTIME},
    /* issue 7: the JS bridge (prokio/js.h) */
    {"prokio_js_string prokio_js_number prokio_js_global prokio_js_function prokio_js_call "
     "prokio_js_get prokio_js_to_string prokio_js_to_number prokio_js_typeof prokio_js_release "
     "prokio_js_handles_live prokio_js_waker prokio_js_await_poll prokio_js_await_cancel "
     "prokio_js_promise_of_task prokio_js_export prokio_js_unexport",
     c_js, TASK},
    /* issue 8: prokio/op.h, prokio/net.h */
    {"prokio_addr_parse prokio_addr_unix prokio_addr_from_sockaddr prokio_addr_format "
     "prokio_addr_family prokio_addr_port prokio_op_cancel prokio_op_is_pending",
     c_net_addr, NOTHING},
    {"prokio_listener_new prokio_listener_from_fd prokio_listener_accept_poll "
     "prokio_listener_local_addr prokio_listener_fileno prokio_listener_close_poll "
     "prokio_listener_free",
     c_net_listener, TASK},
    {"prokio_stream_connect_poll prokio_stream_from_fd prokio_stream_read_poll "
     "prokio_stream_write_poll prokio_stream_write_all_poll prokio_stream_writev_poll "
     "prokio_stream_shutdown prokio_stream_set_nodelay prokio_stream_set_keepalive "
     "prokio_stream_local_addr prokio_stream_peer_addr prokio_stream_fileno "
     "prokio_stream_close_poll prokio_stream_free",
     c_net_stream, TASK},
    {"prokio_udp_bind prokio_udp_from_fd prokio_udp_connect prokio_udp_send_to_poll "
     "prokio_udp_recv_from_poll prokio_udp_send_poll prokio_udp_recv_poll prokio_udp_local_addr "
     "prokio_udp_peer_addr prokio_udp_fileno prokio_udp_close_poll prokio_udp_free",
     c_net_udp, TASK},
    /* issue 8: prokio/stats.h */
    {"prokio_runtime_stats_read", c_runtime_stats, RUNTIME},
};

enum { NENTRIES = sizeof table / sizeof *table };

/* ----------------------------------------------------------- the runner */

struct in_task {
    const struct entry *entry;
    prokio_runtime_t *rt;
    int rc;
};

static int in_task_poll(void *frame, prokio_cx_t *cx)
{
    struct in_task *t = frame;
    struct env e = {.rt = t->rt, .cx = cx};
    t->rc = t->entry->check(&e);
    return 0;
}

static int child(const struct entry *entry)
{
    struct env e = {0};
    if (entry->need == NOTHING)
        return entry->check(&e);
    prokio_runtime_options_t o = PROKIO_RUNTIME_OPTIONS_INIT;
    o.workers = 1;
    int rc = prokio_runtime_new(&e.rt, &o);
    if (rc < 0)
        FAIL("prokio_runtime_new: %s: %s", prokio_err_name(rc), prokio_last_error());
    if (entry->need == RUNTIME) {
        rc = entry->check(&e);
    } else {
        struct in_task t = {.entry = entry, .rt = e.rt, .rc = -1};
        int r = prokio_runtime_block_on(e.rt, in_task_poll, &t, sizeof t, NULL);
        rc = r == 0 ? t.rc : 1;
    }
    if (rc == 0 && prokio_runtime_free(e.rt) != 0)
        FAIL("prokio_runtime_free: %s", prokio_last_error());
    return rc;
}

static void run_entry(void **state)
{
    const struct entry *entry = *state;
    fflush(stdout);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* A crash must end the child, not return into cmocka's runner. */
        const int crashes[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGSYS, SIGABRT};
        for (size_t i = 0; i < sizeof crashes / sizeof *crashes; i++)
            signal(crashes[i], SIG_DFL);
        int rc = child(entry);
        fflush(stdout);
        _exit(rc);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (WIFSIGNALED(status))
        fail_msg("%s: crashed on NULL (signal %d)", entry->names, WTERMSIG(status));
    if (WEXITSTATUS(status) != 0)
        fail_msg("%s: see above", entry->names);
}

static bool in_table(const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < NENTRIES; i++)
        for (const char *p = table[i].names; (p = strstr(p, name)) != NULL; p++)
            if ((p == table[i].names || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
                return true;
    return false;
}

/* Every function libprokio exports is in the table. */
static void test_table_is_complete(void **state)
{
    (void)state;
    const char *top = getenv("top_builddir");
    if (top == NULL)
        fail_msg("top_builddir is not set: run through make check");
    char cmd[1024], lib[900];
    snprintf(lib, sizeof lib, "%s/.libs/libprokio.so", top);
    if (access(lib, F_OK) == 0) {
        snprintf(cmd, sizeof cmd, "nm -D --defined-only '%s'", lib);
    } else {
        snprintf(lib, sizeof lib, "%s/.libs/libprokio.a", top);
        snprintf(cmd, sizeof cmd, "nm -g --defined-only '%s'", lib);
    }
    FILE *nm = popen(cmd, "r");
    assert_non_null(nm);
    char line[512];
    int exported = 0, missing = 0;
    while (fgets(line, sizeof line, nm)) {
        char addr[64], type[8], sym[256];
        if (sscanf(line, "%63s %7s %255s", addr, type, sym) != 3 || strcmp(type, "T") != 0)
            continue;
        char *at = strchr(sym, '@');
        if (at)
            *at = '\0';
        if (strncmp(sym, "prokio_", 7) != 0 || sym[7] == '_')
            continue;
        exported++;
        if (!in_table(sym)) {
            printf("# %s is exported but not tried with NULL here\n", sym);
            missing++;
        }
    }
    int rc = pclose(nm);
    if (rc != 0)
        fail_msg("'%s' failed (status %d)", cmd, rc);
    printf("# %d functions exported by %s\n", exported, lib);
    assert_true(exported > 0);
    assert_int_equal(missing, 0);
}

int main(void)
{
    test_watchdog("null-args", 60);
    struct CMUnitTest tests[NENTRIES + 1];
    for (size_t i = 0; i < NENTRIES; i++)
        tests[i] = (struct CMUnitTest){
            .name = table[i].names, .test_func = run_entry, .initial_state = (void *)&table[i]};
    tests[NENTRIES] = (struct CMUnitTest)cmocka_unit_test(test_table_is_complete);
    return cmocka_run_group_tests_name("every public function given NULL", tests, NULL, NULL);
}
