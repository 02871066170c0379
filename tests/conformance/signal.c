/* tests/conformance/signal.c: awaiting Unix signals (prokio/signal.h).
 *
 * Signals belong to the process, so these tests use SIGUSR1, SIGUSR2 and
 * SIGWINCH, which nothing else in the suite touches, and put every
 * disposition back as they found it (the last free does that; the tests
 * check it). A delivery is counted when it happens, so "send, then wait"
 * needs no synchronisation; the wake of a task already waiting is tested
 * by waiting until the task said it is about to return PENDING. */
#include "conformance.h"

#ifndef __EMSCRIPTEN__
#include <dirent.h>
#include <signal.h>
#include <unistd.h>

struct receiver {
    prokio_signal_t *s;
    atomic_int *waiting; /* set to 1 before the first PROKIO_PENDING */
    int rc;
    int pendings;
    struct conf_timeout limit;
};

static int receiver_poll(void *frame, prokio_cx_t *cx)
{
    struct receiver *r = frame;
    int rc = prokio_signal_recv_poll(r->s, cx);
    if (rc != PROKIO_PENDING) {
        r->rc = rc;
        return 0;
    }
    if (conf_timed_out(&r->limit, cx)) {
        r->rc = PROKIO_ETIMEDOUT;
        return 0;
    }
    r->pendings++;
    if (r->waiting)
        atomic_store(r->waiting, 1);
    return PROKIO_PENDING;
}

/* The threads of this process (/proc/self/task entries). */
static int thread_count(void)
{
    DIR *d = opendir("/proc/self/task");
    if (d == NULL)
        return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* Sends `times` signals once *go is set: with kill() to the process (any
 * thread may take it) when times is 1; with raise() otherwise, which runs
 * the handler on this thread before it returns, so that no two sends merge
 * (a standard signal already pending for a target is not queued twice). */
struct killer {
    atomic_int *go;
    int signum, times;
};

static void *kill_from_thread(void *arg)
{
    struct killer *k = arg;
    if (!conf_wait_flag(k->go, 1))
        return NULL;
    if (k->times == 1)
        kill(getpid(), k->signum);
    else
        for (int i = 0; i < k->times; i++)
            raise(k->signum);
    return NULL;
}
#endif

/* A task already waiting is woken by a signal sent to the process from
 * another thread, on either worker; the count says one delivery. */
void test_signal_wakes_waiting_task(void **state)
{
    (void)state;
    TEST_SKIP_ON_WASM("no signals on WebAssembly");
#ifndef __EMSCRIPTEN__
    prokio_runtime_t *rt = test_runtime(2);
    for (unsigned w = 0; w < 2; w++) {
        prokio_signal_t *s;
        assert_int_equal(prokio_signal_new(&s, SIGUSR1, 0), 0);
        assert_int_equal(prokio_signal_number(s), SIGUSR1);
        atomic_int waiting = 0;
        struct receiver r = {.s = s, .waiting = &waiting};
        prokio_task_t *h;
        assert_int_equal(prokio_spawn_on(&h, rt, w, receiver_poll, &r, sizeof r, NULL), 0);
        CONF_WAIT_FLAG(&waiting, 1);
        atomic_int go = 1;
        struct killer k = {&go, SIGUSR1, 1};
        pthread_t th;
        assert_int_equal(pthread_create(&th, NULL, kill_from_thread, &k), 0);
        assert_int_equal(conf_join(h, &r, sizeof r), 0);
        pthread_join(th, NULL);
        assert_int_equal(r.rc, 1);
        assert_true(r.pendings >= 1);
        assert_int_equal(prokio_signal_try_recv(s), PROKIO_EAGAIN);
        prokio_signal_free(s);
    }
    test_runtime_free(rt);
#endif
}

/* Every listener sees every delivery once; deliveries between receives
 * are counted together; a listener created after a delivery does not see
 * it. */
void test_signal_listeners_and_counts(void **state)
{
    (void)state;
    TEST_SKIP_ON_WASM("no signals on WebAssembly");
#ifndef __EMSCRIPTEN__
    prokio_runtime_t *rt = test_runtime(1);
    prokio_signal_t *a, *b, *late;
    assert_int_equal(prokio_signal_new(&a, SIGUSR2, 0), 0);
    assert_int_equal(prokio_signal_new(&b, SIGUSR2, 0), 0);
    assert_int_equal(prokio_signal_try_recv(a), PROKIO_EAGAIN);
    for (int i = 0; i < 3; i++)
        assert_int_equal(raise(SIGUSR2), 0); /* handled before raise returns */
    assert_int_equal(prokio_signal_new(&late, SIGUSR2, 0), 0);
    assert_int_equal(prokio_signal_try_recv(a), 3);
    assert_int_equal(prokio_signal_try_recv(a), PROKIO_EAGAIN);
    struct receiver r = {.s = b};
    assert_int_equal(conf_run_on(rt, 0, receiver_poll, &r, sizeof r, NULL), 0);
    assert_int_equal(r.rc, 3);
    assert_int_equal(r.pendings, 0); /* ready at once */
    assert_int_equal(prokio_signal_try_recv(late), PROKIO_EAGAIN);
    assert_int_equal(raise(SIGUSR2), 0);
    assert_int_equal(prokio_signal_try_recv(late), 1);
    assert_int_equal(prokio_signal_try_recv(a), 1);
    assert_int_equal(prokio_signal_try_recv(b), 1);
    prokio_signal_free(a);
    prokio_signal_free(late);
    prokio_signal_free(b);
    test_runtime_free(rt);
#endif
}

/* Many deliveries from another thread while a task receives in a loop:
 * the counts add up to exactly what was sent, none lost, none twice. */
struct summer {
    prokio_signal_t *s;
    atomic_int *waiting;
    int want, got, polls;
    struct conf_timeout limit;
};

#ifndef __EMSCRIPTEN__
static int summer_poll(void *frame, prokio_cx_t *cx)
{
    struct summer *m = frame;
    m->polls++;
    atomic_store(m->waiting, 1);
    while (m->got < m->want) {
        int rc = prokio_signal_recv_poll(m->s, cx);
        if (rc == PROKIO_PENDING)
            return conf_timed_out(&m->limit, cx) ? PROKIO_ETIMEDOUT : PROKIO_PENDING;
        if (rc < 0)
            return rc;
        m->got += rc;
    }
    return 0;
}
#endif

void test_signal_no_delivery_lost(void **state)
{
    (void)state;
    TEST_SKIP_ON_WASM("no signals on WebAssembly");
#ifndef __EMSCRIPTEN__
    enum { N = 2000 };
    prokio_runtime_t *rt = test_runtime(1);
    prokio_signal_t *s;
    assert_int_equal(prokio_signal_new(&s, SIGWINCH, 0), 0);
    atomic_int waiting = 0;
    struct summer m = {.s = s, .waiting = &waiting, .want = N};
    prokio_task_t *h;
    assert_int_equal(prokio_spawn_on(&h, rt, 0, summer_poll, &m, sizeof m, NULL), 0);
    struct killer k = {&waiting, SIGWINCH, N};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, kill_from_thread, &k), 0);
    assert_int_equal(conf_join(h, &m, sizeof m), 0);
    pthread_join(th, NULL);
    assert_int_equal(m.got, N);
    prokio_signal_free(s);
    test_runtime_free(rt);
#endif
}

/* The last free puts back the disposition that was there before the
 * first listener, and the library's thread is gone with it. */
void test_signal_restores_disposition(void **state)
{
    (void)state;
    TEST_SKIP_ON_WASM("no signals on WebAssembly");
#ifndef __EMSCRIPTEN__
    struct sigaction ign = {.sa_handler = SIG_IGN}, before, during, after;
    sigemptyset(&ign.sa_mask);
    assert_int_equal(sigaction(SIGUSR1, &ign, &before), 0);
    int threads = thread_count();
    prokio_signal_t *a, *b;
    assert_int_equal(prokio_signal_new(&a, SIGUSR1, 0), 0);
    assert_int_equal(prokio_signal_new(&b, SIGUSR1, 0), 0);
    assert_int_equal(sigaction(SIGUSR1, NULL, &during), 0);
    assert_true(during.sa_handler != SIG_IGN && during.sa_handler != SIG_DFL);
    assert_int_equal(thread_count(), threads + 1); /* the dispatcher */
    prokio_signal_free(a);
    assert_int_equal(sigaction(SIGUSR1, NULL, &after), 0);
    assert_true(after.sa_handler == during.sa_handler); /* b still listens */
    prokio_signal_free(b);
    assert_int_equal(sigaction(SIGUSR1, NULL, &after), 0);
    assert_true(after.sa_handler == SIG_IGN);
    assert_int_equal(thread_count(), threads);
    assert_int_equal(sigaction(SIGUSR1, &before, NULL), 0);
#endif
}

/* A task aborted while waiting, then the listener freed: nothing leaks
 * (the sanitizers and valgrind say so), and the runtime frees. */
void test_signal_abort_waiting(void **state)
{
    (void)state;
    TEST_SKIP_ON_WASM("no signals on WebAssembly");
#ifndef __EMSCRIPTEN__
    prokio_runtime_t *rt = test_runtime(2);
    prokio_signal_t *s;
    assert_int_equal(prokio_signal_new(&s, SIGUSR2, 0), 0);
    atomic_int waiting = 0;
    struct receiver r = {.s = s, .waiting = &waiting};
    prokio_task_t *h;
    assert_int_equal(prokio_spawn_on(&h, rt, 1, receiver_poll, &r, sizeof r, NULL), 0);
    CONF_WAIT_FLAG(&waiting, 1);
    prokio_task_abort(h);
    assert_int_equal(prokio_task_blocking_join(h), PROKIO_ECANCELED);
    prokio_task_release(h);
    /* A delivery now wakes a waker of an ended task: harmless. */
    assert_int_equal(raise(SIGUSR2), 0);
    prokio_signal_free(s);
    test_runtime_free(rt);
#endif
}

/* Bad input: a clear PROKIO_EINVAL naming what was wrong, nothing
 * installed. */
void test_signal_invalid(void **state)
{
    (void)state;
    prokio_signal_t *s = (prokio_signal_t *)&s;
#ifdef __EMSCRIPTEN__
    assert_int_equal(prokio_signal_new(&s, 2, 0), PROKIO_ENOTSUP);
    assert_null(s);
    assert_non_null(strstr(prokio_last_error(), "WebAssembly"));
#else
    static const int bad[] = {0, -1, NSIG, SIGKILL, SIGSTOP, SIGSEGV, SIGBUS, SIGFPE, SIGILL};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(prokio_signal_new(&s, bad[i], 0), PROKIO_EINVAL);
        assert_null(s);
        assert_non_null(strstr(prokio_last_error(), "prokio_signal_new"));
    }
    assert_int_equal(prokio_signal_new(&s, SIGUSR1, 1), PROKIO_EINVAL);
    assert_non_null(strstr(prokio_last_error(), "flags"));
    assert_int_equal(prokio_signal_new(NULL, SIGUSR1, 0), PROKIO_EINVAL);
    assert_int_equal(prokio_signal_try_recv(NULL), PROKIO_EINVAL);
    assert_int_equal(prokio_signal_number(NULL), 0);
    prokio_signal_free(NULL);
    struct sigaction now;
    assert_int_equal(sigaction(SIGUSR1, NULL, &now), 0);
    assert_true(now.sa_handler == SIG_DFL);
#endif
}
