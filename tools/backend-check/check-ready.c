/* Checks: readiness reports on a socketpair. */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "backend-check.h"

void check_ready_writable(void)
{
    struct fx f;
    char b[64];
    if (fx_open(&f, 0)) {
        unsigned rep = quiet(&f.L, 20);
        EXPECT(rep == 0 && f.w.nreports == 0,
               "a watch without watch_update was reported (%s): nothing is reported before "
               "watch_update",
               ev_str(f.w.got, b));
        int rc = tw_update(&f.w, PROKIO_BACKEND_WRITABLE);
        EXPECT(rc == 0, "watch_update(WRITABLE): expected 0, got %d (%s)", rc, err_name(rc));
        EXPECT(wait_for(&f.w, PROKIO_BACKEND_WRITABLE, 2000),
               "WRITABLE not reported within 2 s for a writable socket");
        /* A second update with the same interest reports the current state
         * again; here watch_ready also calls wake(), as a core may. */
        tw_reset(&f.w);
        f.L.wake_in_ready = true;
        rc = tw_update(&f.w, PROKIO_BACKEND_WRITABLE);
        EXPECT(rc == 0, "watch_update(WRITABLE) again: expected 0, got %d (%s)", rc, err_name(rc));
        EXPECT(wait_for(&f.w, PROKIO_BACKEND_WRITABLE, 2000),
               "after a second watch_update(WRITABLE), still writable: expected a report "
               "(\"at least once after this call if it is ready now\"), got none in 2 s");
        f.L.wake_in_ready = false;
    }
    fx_close(&f);
}

void check_ready_readable(void)
{
    struct fx f;
    char b[64];
    if (fx_open(&f, PROKIO_BACKEND_READABLE)) {
        unsigned rep = quiet(&f.L, 20);
        EXPECT(rep == 0,
               "interest READABLE, nothing to read: expected no report during "
               "wait(now+20ms), got %s",
               ev_str(f.w.got, b));
        put(f.sv[1], "a");
        tw_reset(&f.w);
        EXPECT(wait_for(&f.w, PROKIO_BACKEND_READABLE, 2000),
               "READABLE not reported within 2 s after the peer wrote");
        drain(f.sv[0]);
        /* Data arriving while the loop blocks in wait(NEVER). */
        tw_reset(&f.w);
        struct actor a;
        actor_start(&a, &f.L, act_write, f.sv[1]);
        struct rescue r;
        rescue_start(&r, &f.L, 5000);
        lp_wait(&f.L, PROKIO_BACKEND_DEADLINE_NEVER);
        bool rescued = rescue_stop(&r);
        actor_join(&a);
        EXPECT(!rescued, "wait(NEVER): not ended within 5 s by data written from another "
                         "thread");
        EXPECT(f.w.got & PROKIO_BACKEND_READABLE,
               "wait(NEVER) ended by data from another thread: expected READABLE, got %s",
               ev_str(f.w.got, b));
        EXPECT(atomic_load(&a.acted), "wait(NEVER) returned before the other thread wrote");
        if (!a.saw_blocked)
            diag("note: the loop thread was not seen asleep before the write");
    }
    fx_close(&f);
}

void check_ready_level_or_edge(void)
{
    struct fx f;
    char b[64];
    bool edge = false;
    if (fx_open(&f, PROKIO_BACKEND_READABLE)) {
        edge = (f.L.caps & PROKIO_BACKEND_CAP_EDGE) != 0;
        put(f.sv[1], "abc");
        EXPECT(wait_for(&f.w, PROKIO_BACKEND_READABLE, 2000),
               "READABLE not reported within 2 s after the peer wrote");
        if (!edge) {
            for (int i = 0; i < 2; i++) {
                tw_reset(&f.w);
                uint64_t t0 = lp_now(&f.L);
                lp_wait(&f.L, deadline_in(&f.L, 1000));
                EXPECT(f.w.got & PROKIO_BACKEND_READABLE,
                       "level-triggered (no CAP_EDGE): data still unread, yet the next wait "
                       "reported %s after %.3f ms",
                       ev_str(f.w.got, b), ns_to_ms((int64_t)(lp_now(&f.L) - t0)));
            }
            drain(f.sv[0]);
            tw_reset(&f.w);
            unsigned rep = quiet(&f.L, 20);
            EXPECT(rep == 0, "drained to EAGAIN: expected no report during wait(now+20ms), got %s",
                   ev_str(f.w.got, b));
        } else {
            drain(f.sv[0]);
            tw_reset(&f.w);
            unsigned rep = quiet(&f.L, 20);
            EXPECT(rep == 0, "CAP_EDGE, drained to EAGAIN: expected nothing until new data, got %s",
                   ev_str(f.w.got, b));
            put(f.sv[1], "d");
            EXPECT(wait_for(&f.w, PROKIO_BACKEND_READABLE, 2000),
                   "CAP_EDGE: new data after draining: READABLE not reported within 2 s");
            drain(f.sv[0]);
            tw_reset(&f.w);
            rep = quiet(&f.L, 20);
            EXPECT(rep == 0, "CAP_EDGE, drained again: expected nothing, got %s",
                   ev_str(f.w.got, b));
        }
    }
    fx_close(&f);
    diag("checked as %s-triggered", edge ? "edge" : "level");
}

/* The waits after a report of `dir` that report it again, of `n` waits with
 * short deadlines while nothing changes on the descriptor. */
static unsigned repeats(struct fx *f, unsigned dir, unsigned n, uint64_t ms)
{
    unsigned again = 0;
    for (unsigned i = 0; i < n; i++) {
        tw_reset(&f->w);
        lp_wait(&f->L, deadline_in(&f->L, ms));
        again += (f->w.got & dir) != 0;
    }
    return again;
}

/* With CAP_EDGE the core keeps a watch's interest armed for the life of the
 * watch and caches readiness itself: a backend that reports a ready
 * direction on every wait, as level-triggered ones do, wakes such a core on
 * every wait for ever. Seen as an echo server at 93% CPU once a connection
 * had waited for WRITABLE. The other checks cannot see it: a level-triggered
 * backend also reports new data, and nothing once drained. */
void check_ready_edge_no_repeat(void)
{
    static const struct {
        unsigned dir;
        const char *what;
    } cases[] = {
        {PROKIO_BACKEND_WRITABLE, "WRITABLE, writable socket"},
        {PROKIO_BACKEND_READABLE, "READABLE, data left unread"},
    };
    const unsigned n = 5;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct fx f;
        unsigned dir = cases[i].dir;
        if (!fx_open(&f, dir)) {
            fx_close(&f);
            return;
        }
        if (!(f.L.caps & PROKIO_BACKEND_CAP_EDGE)) {
            skip("no CAP_EDGE: level-triggered reports repeat by design");
            fx_close(&f);
            return;
        }
        if (dir == PROKIO_BACKEND_READABLE)
            put(f.sv[1], "abc");
        if (!wait_for(&f.w, dir, 2000)) {
            fail("%s: not reported within 2 s", cases[i].what);
        } else {
            unsigned again = repeats(&f, dir, n, 10);
            EXPECT(again == 0,
                   "CAP_EDGE, %s: reported, then reported again by %u of the next %u waits "
                   "(now+10ms each) while nothing changed: level-triggered behaviour, which "
                   "keeps a core with EDGE waking on every wait",
                   cases[i].what, again, n);
        }
        fx_close(&f);
    }
}

/* CAP_RDHUP lets the core wait for the next report after a short read
 * (backend.h): a half-close that came with the bytes must be in the report
 * of the bytes, since no later one comes on an edge-triggered loop. */
void check_ready_rdhup(void)
{
    struct fx f;
    char b[64];
    if (!fx_open(&f, PROKIO_BACKEND_READABLE)) {
        fx_close(&f);
        return;
    }
    if (!(f.L.caps & PROKIO_BACKEND_CAP_RDHUP)) {
        skip("no CAP_RDHUP: the core reads until EAGAIN");
        fx_close(&f);
        return;
    }
    put(f.sv[1], "abc");
    if (shutdown(f.sv[1], SHUT_WR) < 0)
        fail("shutdown of the peer socket: %s", strerror(errno));
    unsigned seen = 0;
    for (int i = 0; i < 3 && !(seen & (PROKIO_BACKEND_RDHUP | PROKIO_BACKEND_HANGUP)); i++) {
        tw_reset(&f.w);
        if (!wait_for(&f.w, PROKIO_BACKEND_READABLE, 2000))
            break;
        seen |= f.w.got;
    }
    EXPECT(seen & PROKIO_BACKEND_READABLE, "bytes and a half-close: READABLE not reported in 2 s");
    EXPECT(seen & (PROKIO_BACKEND_RDHUP | PROKIO_BACKEND_HANGUP),
           "CAP_RDHUP: the peer wrote and shut down its writing side, and the reports said %s, "
           "without RDHUP (ask for POLLRDHUP / EPOLLRDHUP with READABLE)",
           ev_str(seen, b));
    fx_close(&f);
}

/* The same for a reset: bytes, then a close with SO_LINGER 0, so that the
 * kernel reports EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLRDHUP once. A
 * library that folds errors into plain readability (libevent's epoll
 * reports EPOLLERR as EV_READ | EV_WRITE, without EV_CLOSED) loses the
 * end: the core reads the bytes, and waits for a report that never comes
 * instead of reading the reset. */
void check_ready_rdhup_reset(void)
{
    struct fx f;
    char b[64];
    if (!fx_open_tcp(&f, PROKIO_BACKEND_READABLE, true)) {
        fx_close(&f);
        return;
    }
    if (!(f.L.caps & PROKIO_BACKEND_CAP_RDHUP)) {
        skip("no CAP_RDHUP: the core reads until EAGAIN");
        fx_close(&f);
        return;
    }
    put(f.sv[1], "abc");
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    if (setsockopt(f.sv[1], SOL_SOCKET, SO_LINGER, &lg, sizeof lg) < 0)
        fail("SO_LINGER on the peer socket: %s", strerror(errno));
    close_fd(&f.sv[1]);
    const unsigned end = PROKIO_BACKEND_RDHUP | PROKIO_BACKEND_HANGUP | PROKIO_BACKEND_ERROR;
    unsigned seen = 0;
    for (int i = 0; i < 3 && !(seen & end); i++) {
        tw_reset(&f.w);
        if (!wait_for(&f.w, PROKIO_BACKEND_READABLE, 2000))
            break;
        seen |= f.w.got;
    }
    EXPECT(seen & PROKIO_BACKEND_READABLE, "bytes and a reset: READABLE not reported in 2 s");
    EXPECT(seen & end,
           "CAP_RDHUP: the peer wrote and reset the connection, and the reports said %s, "
           "without RDHUP, HANGUP or ERROR (report POLLERR as ERROR: a library that turns it "
           "into plain readability cannot offer CAP_RDHUP)",
           ev_str(seen, b));
    fx_close(&f);
}

void check_ready_writable_again(void)
{
    struct fx f;
    char b[64];
    if (fx_open(&f, PROKIO_BACKEND_WRITABLE)) {
        EXPECT(wait_for(&f.w, PROKIO_BACKEND_WRITABLE, 2000),
               "WRITABLE not reported within 2 s for a writable socket");
        size_t filled = fill(f.sv[0]);
        tw_reset(&f.w);
        unsigned rep = quiet(&f.L, 20);
        EXPECT(rep == 0, "send buffer full (%zu bytes): expected no report, got %s", filled,
               ev_str(f.w.got, b));
        drain(f.sv[1]);
        tw_reset(&f.w);
        EXPECT(wait_for(&f.w, PROKIO_BACKEND_WRITABLE, 2000),
               "the peer drained a full buffer: WRITABLE not reported again within 2 s");
    }
    fx_close(&f);
}

void check_ready_interest_off(void)
{
    struct fx f;
    char b[64];
    if (fx_open(&f, PROKIO_BACKEND_READABLE)) {
        put(f.sv[1], "x");
        EXPECT(wait_for(&f.w, PROKIO_BACKEND_READABLE, 2000),
               "READABLE not reported within 2 s after the peer wrote");
        int rc = tw_update(&f.w, 0);
        EXPECT(rc == 0, "watch_update(0): expected 0, got %d (%s)", rc, err_name(rc));
        tw_reset(&f.w);
        unsigned rep = quiet(&f.L, 20);
        EXPECT(rep == 0, "interest 0 on a readable socket: expected no report, got %s",
               ev_str(f.w.got, b));
        put(f.sv[1], "y");
        rep = quiet(&f.L, 20);
        EXPECT(rep == 0, "interest 0, more data arrived: expected no report, got %s",
               ev_str(f.w.got, b));
        rc = tw_update(&f.w, PROKIO_BACKEND_READABLE);
        EXPECT(rc == 0, "watch_update(READABLE): expected 0, got %d (%s)", rc, err_name(rc));
        EXPECT(wait_for(&f.w, PROKIO_BACKEND_READABLE, 2000),
               "interest READABLE again with unread data: expected a report, got none in 2 s");
    }
    fx_close(&f);
}

void check_ready_peer_closed(void)
{
    struct fx f;
    char b[64];
    if (fx_open(&f, PROKIO_BACKEND_READABLE)) {
        close_fd(&f.sv[1]);
        unsigned want = PROKIO_BACKEND_READABLE | PROKIO_BACKEND_HANGUP | PROKIO_BACKEND_ERROR;
        EXPECT(wait_for(&f.w, want, 2000),
               "peer closed: expected READABLE, HANGUP or ERROR within 2 s, got %s",
               ev_str(f.w.got, b));
    }
    fx_close(&f);
}
