/* prokio-backend-check: does a backend keep the contract of prokio/backend.h?
 *
 *   prokio-backend-check [--quick] PATH/TO/prokio-NAME.so
 *
 * The conformance runner for backend authors. Like a third-party backend it
 * sees only <prokio/backend.h>: it loads the shared object the way the core
 * does (dlopen with RTLD_NOW | RTLD_LOCAL, one entry symbol), plays the core's
 * part through a host table of its own, and prints TAP. Exit status: 0 when
 * every check passed, 1 when one failed or hung, 2 on a usage error.
 *
 * How it keeps itself honest:
 *   - Every check runs under a watchdog (alarm()); a hang prints "Bail out!".
 *   - No sleep is used as synchronisation. A helper thread that must act while
 *     the loop blocks first sees the loop thread asleep in the kernel
 *     (/proc/self/task/TID/stat) inside wait(), and the loop thread then checks
 *     that its wait returned only after the helper acted.
 *   - Waits that must come back are guarded by a rescuer thread that wakes the
 *     loop again after a time limit, so a lost wakeup fails one check instead
 *     of hanging the run; when wakes cannot end the wait, the rescuer ends
 *     the run with that check's failure a second later.
 *   - Every wait goes through one wrapper that flags a negative return, a
 *     count different from the watch_ready calls made, and a return before the
 *     deadline without an event or a wake. The host table flags reports from
 *     another thread, outside wait(), for a closed watch or with a bad mask,
 *     and host->alloc on the wait or wake path.
 *   - Loop and watch memory is allocated as the core does (zeroed, 16-byte
 *     aligned), followed by a canary, and poisoned and freed as soon as the
 *     backend is done with it, so that ASan or valgrind catch a backend that
 *     keeps using it.
 *
 * The environment variable PROKIO_BACKEND_CHECK_TIMEOUT_SCALE multiplies every
 * time limit (valgrind is detected and gets 10 on its own).
 */
#include "backend-check.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

const char *g_path;
bool g_quick;
unsigned g_scale = 1;
void *g_dl;
prokio_backend_entry_fn g_entry;
const prokio_backend_vtable_t *g_vt;
bool g_loaded;
const char *volatile g_current = "startup";
volatile size_t g_current_no;

enum need { NEED_NOTHING, NEED_LOADED, NEED_VTABLE, NEED_WAIT };

struct check {
    const char *name;
    void (*fn)(void);
    enum need need;
    unsigned limit_s;
};

static const struct check checks[] = {
    {"dlopen(RTLD_NOW | RTLD_LOCAL) and the entry symbol", check_dlopen, NEED_NOTHING, 10},
    {"the entry is the only exported symbol", check_exports, NEED_LOADED, 10},
    {"negotiation: entry(core 1.7) in a fresh process answers minor <= 7",
     check_negotiate_newer_minor, NEED_LOADED, 20},
    {"negotiation: entry(core 1.0) in a fresh process answers a vtable a 1.0 core accepts",
     check_negotiate_oldest_minor, NEED_LOADED, 20},
    {"negotiation: entry(core 0.9) and entry(core 2.0) return PROKIO_EABI",
     check_negotiate_other_major, NEED_LOADED, 20},
    {"negotiation: entry(core of this header) returns a vtable it accepts", check_negotiate_current,
     NEED_LOADED, 10},
    {"loop_init/loop_fini on a thread; caps a subset; nothing left behind", check_loop_on_thread,
     NEED_VTABLE, 10},
    {"now_ns is monotonic", check_now_ns, NEED_VTABLE, 10},
    {"wait(0) and a past deadline return promptly and deliver nothing", check_wait_zero, NEED_WAIT,
     10},
    {"wait(deadline) never returns early (lateness below)", check_wait_deadline, NEED_WAIT, 20},
    {"wake() before wait is sticky and consumed by one wait", check_wake_sticky, NEED_WAIT, 10},
    {"wake() from another thread ends a blocked wait", check_wake_cross_thread, NEED_WAIT, 40},
    {"1000 wakes coalesce: one return, nothing left pending", check_wake_coalesce, NEED_WAIT, 20},
    {"wake race: another thread wakes without pause while the loop waits; one more wake then "
     "ends wait(NEVER)",
     check_wake_race, NEED_WAIT, 30},
    {"wait with far deadlines (30 days, 2^62 ns, NEVER-1) blocks until woken",
     check_wait_far_deadline, NEED_WAIT, 30},
    {"wait retries EINTR and still honours its deadline", check_wait_eintr, NEED_WAIT, 20},
    {"two loops on two threads at once are independent", check_two_loops, NEED_WAIT, 20},
    {"readiness: nothing before watch_update; WRITABLE reported, again after each update",
     check_ready_writable, NEED_WAIT, 20},
    {"readiness: READABLE only when data arrives, also during wait(NEVER)", check_ready_readable,
     NEED_WAIT, 20},
    {"readiness: level repeats while data remains / EDGE only on new data",
     check_ready_level_or_edge, NEED_WAIT, 20},
    {"readiness: with CAP_EDGE, no report repeats while nothing changes (WRITABLE, unread "
     "READABLE)",
     check_ready_edge_no_repeat, NEED_WAIT, 20},
    {"readiness: with CAP_RDHUP, bytes with a half-close of the peer report RDHUP",
     check_ready_rdhup, NEED_WAIT, 20},
    {"readiness: with CAP_RDHUP, bytes with a reset of the peer report RDHUP, HANGUP or ERROR",
     check_ready_rdhup_reset, NEED_WAIT, 20},
    {"readiness: WRITABLE again after a full send buffer drains", check_ready_writable_again,
     NEED_WAIT, 20},
    {"readiness: watch_update(0) silences; re-enabling reports pending data",
     check_ready_interest_off, NEED_WAIT, 20},
    {"readiness: the peer's close is reported", check_ready_peer_closed, NEED_WAIT, 20},
    {"watch_close then close(fd): nothing reported; a reused descriptor is clean",
     check_close_then_reuse, NEED_WAIT, 20},
    {"watch_close of watches with undelivered events", check_close_pending, NEED_WAIT, 20},
    {"a closed descriptor is refused or reported", check_bad_descriptors, NEED_WAIT, 20},
    {"a regular file and a directory are refused with PROKIO_EPERM; waits neither report nor "
     "spin",
     check_unwatchable, NEED_WAIT, 20},
    {"200 readable watches are all reported", check_many_watches, NEED_WAIT, 30},
    {"wake storm: 4 threads wake while the loop waits; the last wake still lands", check_wake_storm,
     NEED_WAIT, 120},
    {"native ops (ABI 1.1): recv, cancelled recv and send each complete exactly once, inside "
     "wait",
     check_ops_exactly_once, NEED_WAIT, 20},
    {"host allocations all freed after the last loop_fini", check_host_balance, NEED_VTABLE, 10},
    {"dlclose unloads the backend", check_unload, NEED_LOADED, 10},
};

static void usage(FILE *to)
{
    fprintf(to, "usage: prokio-backend-check [--quick] PATH/TO/prokio-NAME.so\n"
                "Runs the backend ABI conformance checks against a backend and prints TAP.\n"
                "  --quick   shorter stress checks\n"
                "Exit status: 0 all passed, 1 a check failed or hung, 2 usage error.\n");
}
int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            g_quick = true;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (argv[i][0] == '-' || g_path) {
            fprintf(stderr, "prokio-backend-check: unexpected argument '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        } else {
            g_path = argv[i];
        }
    }
    if (!g_path) {
        usage(stderr);
        return 2;
    }
    if (access(g_path, R_OK) != 0) {
        fprintf(stderr, "prokio-backend-check: %s: %s\n", g_path, strerror(errno));
        return 2;
    }
    /* dlopen searches the library path for a name without a slash; the core
     * loads a path, so we do too. */
    char *abs = NULL;
    if (!strchr(g_path, '/')) {
        abs = malloc(strlen(g_path) + 3);
        if (!abs)
            return 2;
        strcpy(abs, "./");
        strcat(abs, g_path);
        g_path = abs;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    g_scale = timeout_scale();
    install_handlers();

    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 2048 && rl.rlim_max > rl.rlim_cur) {
        rl.rlim_cur = rl.rlim_max < 2048 ? rl.rlim_max : 2048;
        setrlimit(RLIMIT_NOFILE, &rl);
    }

    size_t n = sizeof checks / sizeof checks[0];
    int failures = 0;
    printf("1..%zu\n", n);
    if (g_scale > 1)
        printf("# time limits scaled by %u\n", g_scale);
    for (size_t i = 0; i < n; i++) {
        const struct check *c = &checks[i];
        const char *skip = NULL;
        if (c->need >= NEED_LOADED && !g_loaded)
            skip = "the backend could not be loaded";
        else if (c->need >= NEED_VTABLE && !g_vt)
            skip = "no valid vtable";
        else if (c->need >= NEED_WAIT && !g_vt->wait)
            skip = "a NONBLOCKING_HOST backend needs a host that drives it";
        if (skip && c->need <= NEED_VTABLE) {
            /* What everything else depends on failed: stop here. */
            printf("Bail out! %s\n", skip);
            return 1;
        }
        if (skip) {
            printf("ok %zu - %s # SKIP %s\n", i + 1, c->name, skip);
            continue;
        }
        g_current = c->name;
        g_current_no = i + 1;
        g_diag_len = 0;
        g_skipped = NULL;
        atomic_store(&g_failed, false);
        atomic_store(&g_violations, 0);
        long allocs = atomic_load(&g_allocs_live);
        watchdog_arm(c->limit_s);
        c->fn();
        alarm(0);
        if (c->need >= NEED_VTABLE && c->fn != check_host_balance) {
            long now = atomic_load(&g_allocs_live);
            EXPECT(now == allocs,
                   "host->alloc blocks: %ld live before this check, %ld after its loops "
                   "finished",
                   allocs, now);
        }
        bool failed = atomic_load(&g_failed);
        failures += failed;
        if (g_skipped && !failed)
            printf("ok %zu - %s # SKIP %s\n", i + 1, c->name, g_skipped);
        else
            printf("%s %zu - %s\n", failed ? "not ok" : "ok", i + 1, c->name);
        fwrite(g_diag, 1, g_diag_len, stdout);
        fflush(stdout);
    }
    g_current = "exit";
    free(abs);
    if (failures)
        printf("# %d of %zu checks failed\n", failures, n);
    return failures ? 1 : 0;
}
