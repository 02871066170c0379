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
 *     of hanging the run.
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
#include <prokio/backend.h>

#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NS_PER_MS UINT64_C(1000000)
#define ALL_EVENTS                                                                                 \
    (PROKIO_BACKEND_READABLE | PROKIO_BACKEND_WRITABLE | PROKIO_BACKEND_ERROR |                    \
     PROKIO_BACKEND_HANGUP)
#define KNOWN_CAPS                                                                                 \
    (PROKIO_BACKEND_CAP_EDGE | PROKIO_BACKEND_CAP_NONBLOCKING_HOST | PROKIO_BACKEND_CAP_OP_READ |  \
     PROKIO_BACKEND_CAP_OP_WRITE | PROKIO_BACKEND_CAP_OP_RECV | PROKIO_BACKEND_CAP_OP_SEND |       \
     PROKIO_BACKEND_CAP_OP_ACCEPT | PROKIO_BACKEND_CAP_OP_CONNECT | PROKIO_BACKEND_CAP_OP_CLOSE |  \
     PROKIO_BACKEND_CAP_OP_FSYNC | PROKIO_BACKEND_CAP_OP_OPEN | PROKIO_BACKEND_CAP_BATCH)
#define OP_CAPS     (KNOWN_CAPS & ~(PROKIO_BACKEND_CAP_EDGE | PROKIO_BACKEND_CAP_NONBLOCKING_HOST))
#define CANARY_LEN  32
#define CANARY_BYTE 0xa5
#define POISON_BYTE 0xdb
#define MAX_LOOPS   8

/* ------------------------------------------------------------------------ */
/* Run state                                                                 */

static const char *g_path;
static bool g_quick;
static unsigned g_scale = 1;
static void *g_dl;
static prokio_backend_entry_fn g_entry;
static const prokio_backend_vtable_t *g_vt;

/* The check being run, for the watchdog and the crash handler. */
static const char *volatile g_current = "startup";

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static double ns_to_ms(int64_t ns)
{
    return (double)ns / 1e6;
}

static pid_t my_tid(void)
{
    return (pid_t)syscall(SYS_gettid);
}

/* ------------------------------------------------------------------------ */
/* Diagnostics: collected while a check runs, printed after its TAP line.    */

static pthread_mutex_t g_diag_mu = PTHREAD_MUTEX_INITIALIZER;
static char g_diag[32768];
static size_t g_diag_len;
static atomic_bool g_failed;
static atomic_uint g_violations; /* contract violations in the current check */

static void vdiag(const char *prefix, const char *fmt, va_list ap)
{
    char line[1024];
    vsnprintf(line, sizeof line, fmt, ap);
    pthread_mutex_lock(&g_diag_mu);
    size_t room = sizeof g_diag - g_diag_len;
    int n = snprintf(g_diag + g_diag_len, room, "# %s%s\n", prefix, line);
    if (n > 0)
        g_diag_len += (size_t)n < room ? (size_t)n : room - 1;
    pthread_mutex_unlock(&g_diag_mu);
}

__attribute__((format(printf, 1, 2))) static void diag(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vdiag("", fmt, ap);
    va_end(ap);
}

__attribute__((format(printf, 1, 2))) static void fail(const char *fmt, ...)
{
    va_list ap;
    atomic_store(&g_failed, true);
    va_start(ap, fmt);
    vdiag("", fmt, ap);
    va_end(ap);
}

/* A breach of the contract seen from the host side. The first few per check
 * are shown; all of them fail the check. */
__attribute__((format(printf, 1, 2))) static void violation(const char *fmt, ...)
{
    va_list ap;
    atomic_store(&g_failed, true);
    unsigned n = atomic_fetch_add(&g_violations, 1);
    if (n >= 8) {
        if (n == 8)
            diag("(further contract violations in this check not shown)");
        return;
    }
    va_start(ap, fmt);
    vdiag("contract: ", fmt, ap);
    va_end(ap);
}

#define EXPECT(cond, ...)                                                                          \
    do {                                                                                           \
        if (!(cond))                                                                               \
            fail(__VA_ARGS__);                                                                     \
    } while (0)

static const char *err_name(int err)
{
    switch (err) {
#define XX(name, value, msg)                                                                       \
    case value:                                                                                    \
        return "PROKIO_" #name;
        PROKIO_ERRNO_MAP(XX)
#undef XX
    }
    return err >= 0 ? "success" : "unknown code";
}

static const char *ev_str(unsigned ev, char buf[64])
{
    snprintf(buf, 64, "%s%s%s%s%s", ev ? "" : "none", ev & PROKIO_BACKEND_READABLE ? "R" : "",
             ev & PROKIO_BACKEND_WRITABLE ? "W" : "", ev & PROKIO_BACKEND_ERROR ? "E" : "",
             ev & PROKIO_BACKEND_HANGUP ? "H" : "");
    return buf;
}

/* ------------------------------------------------------------------------ */
/* Watchdog and crash reports                                                */

static void write_str(const char *s)
{
    ssize_t r = write(STDOUT_FILENO, s, strlen(s));
    (void)r;
}

/* What the check said before it hung or crashed tells where it stopped. */
static void write_diag_so_far(void)
{
    ssize_t r = write(STDOUT_FILENO, "\n", 1);
    r = write(STDOUT_FILENO, g_diag, g_diag_len);
    (void)r;
}

static void on_alarm(int sig)
{
    (void)sig;
    write_diag_so_far();
    write_str("Bail out! hung: ");
    write_str(g_current);
    write_str(" (no result within its time limit)\n");
    _exit(1);
}

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define UNDER_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define UNDER_SANITIZER 1
#endif
#endif

static void on_crash(int sig)
{
    write_diag_so_far();
    write_str("Bail out! crashed (");
    write_str(sig == SIGSEGV   ? "SIGSEGV"
              : sig == SIGBUS  ? "SIGBUS"
              : sig == SIGFPE  ? "SIGFPE"
              : sig == SIGILL  ? "SIGILL"
              : sig == SIGABRT ? "SIGABRT"
                               : "signal");
    write_str(") in: ");
    write_str(g_current);
    write_str("\n");
    signal(sig, SIG_DFL);
    raise(sig);
}

static void install_handlers(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* Sanitizers report faults better than we do: leave them theirs. An
     * abort() (a library's assertion) is ours to name in every build. */
#ifdef UNDER_SANITIZER
    static const int crash[] = {SIGABRT};
#else
    static const int crash[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
#endif
    sa.sa_handler = on_crash;
    sa.sa_flags = SA_RESETHAND;
    for (size_t i = 0; i < sizeof crash / sizeof crash[0]; i++)
        sigaction(crash[i], &sa, NULL);
}

static void watchdog_arm(unsigned seconds)
{
    alarm(seconds * g_scale);
}

/* ------------------------------------------------------------------------ */
/* Guarded memory: what the core gives a backend, plus a canary.             */

static size_t round16(size_t n)
{
    return (n + 15) & ~(size_t)15;
}

static void *guarded_alloc(size_t size)
{
    size_t body = round16(size ? size : 1);
    unsigned char *p = aligned_alloc(16, body + CANARY_LEN);
    if (!p)
        return NULL;
    memset(p, 0, size);
    memset(p + size, CANARY_BYTE, body + CANARY_LEN - size);
    return p;
}

static bool guarded_intact(const void *mem, size_t size)
{
    const unsigned char *p = mem;
    size_t end = round16(size ? size : 1) + CANARY_LEN;
    for (size_t i = size; i < end; i++)
        if (p[i] != CANARY_BYTE)
            return false;
    return true;
}

/* Poison before freeing so that a backend still using the memory reads
 * garbage even without a memory checker. */
static void guarded_free(void *mem, size_t size)
{
    memset(mem, POISON_BYTE, round16(size ? size : 1) + CANARY_LEN);
    free(mem);
}

/* ------------------------------------------------------------------------ */
/* The host table                                                            */

enum { HOT_NONE, HOT_WAIT, HOT_WAKE };
static _Thread_local int tl_hot;
static atomic_long g_allocs_live;
static atomic_uint g_logs;

static void *host_alloc(size_t size)
{
    if (tl_hot != HOT_NONE)
        violation("host->alloc(%zu) called inside %s()", size,
                  tl_hot == HOT_WAIT ? "wait" : "wake");
    void *p = calloc(1, size ? size : 1);
    if (p)
        atomic_fetch_add(&g_allocs_live, 1);
    return p;
}

static void host_free(void *ptr)
{
    if (!ptr)
        return;
    atomic_fetch_sub(&g_allocs_live, 1);
    free(ptr);
}

static void host_log(int level, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    atomic_fetch_add(&g_logs, 1);
    /* As the core does: debug messages only with PROKIO_DEBUG=backend. */
    const char *debug = getenv("PROKIO_DEBUG");
    if (level >= PROKIO_BACKEND_LOG_DEBUG && !(debug && strstr(debug, "backend")))
        return;
    fprintf(stderr, "# backend log (%s): %s\n",
            level == PROKIO_BACKEND_LOG_ERROR  ? "error"
            : level == PROKIO_BACKEND_LOG_WARN ? "warn"
                                               : "debug",
            buf);
}

static uint64_t host_monotonic_ns(void)
{
    return mono_ns();
}

struct tw;

/* The checker's side of a loop: what the backend gets as host_loop. */
struct lp {
    uint32_t magic;
    pthread_t thread;
    pid_t tid;
    void *mem;
    uint64_t caps;
    atomic_int in_wait;
    struct tw **watches; /* open watches: lookups for watch_ready */
    size_t nwatches;
    size_t capwatches;
    unsigned reports;                /* watch_ready calls during the current wait */
    unsigned out_of_interest;        /* reports naming a direction not asked for */
    atomic_uint_fast64_t wakes;      /* wake() calls begun through lp_wake */
    atomic_uint_fast64_t wakes_done; /* ... and returned */
    uint64_t done_at_prev_start;
    bool wake_in_ready; /* watch_ready calls wake(), as a core may */
};

struct tw {
    struct lp *lp;
    void *mem;
    int fd;
    unsigned interest;
    unsigned got; /* events reported since the last tw_reset */
    unsigned nreports;
    bool open;
};

#define LP_MAGIC 0x70726f6bu

/* Live loops, to recognise a host_loop pointer without dereferencing it.
 * Relaxed atomics: the checker must not add synchronisation between loop
 * threads that would hide a race inside the backend from TSan. */
static _Atomic(struct lp *) g_live[MAX_LOOPS];

static bool lp_is_live(struct lp *L)
{
    for (int i = 0; i < MAX_LOOPS; i++)
        if (L && atomic_load_explicit(&g_live[i], memory_order_relaxed) == L)
            return true;
    return false;
}

static struct tw *lp_find(struct lp *L, const void *watch_mem)
{
    for (size_t i = 0; i < L->nwatches; i++)
        if (L->watches[i]->mem == watch_mem)
            return L->watches[i];
    return NULL;
}

static void lp_wake(struct lp *L);

static void host_watch_ready(prokio_backend_host_loop_t *host_loop, prokio_backend_watch_t *watch,
                             unsigned events)
{
    struct lp *L = (struct lp *)host_loop;
    char b[64];
    if (!lp_is_live(L)) {
        violation("watch_ready(host_loop %p) does not name a live loop", (void *)host_loop);
        return;
    }
    if (!pthread_equal(pthread_self(), L->thread)) {
        violation("watch_ready called from a thread other than the loop thread");
        return;
    }
    L->reports++;
    if (!atomic_load_explicit(&L->in_wait, memory_order_relaxed))
        violation("watch_ready(%s) called outside wait()", ev_str(events, b));
    if (events == 0 || (events & ~ALL_EVENTS))
        violation("watch_ready with event mask %#x", events);
    struct tw *w = lp_find(L, watch);
    if (!w) {
        violation("watch_ready(%s) for a watch that is closed or not of this loop (%p)",
                  ev_str(events, b), (void *)watch);
        return;
    }
    if (w->interest == 0)
        violation("watch_ready(%s) for a watch whose interest is 0 (fd %d)", ev_str(events, b),
                  w->fd);
    if (events & (PROKIO_BACKEND_READABLE | PROKIO_BACKEND_WRITABLE) & ~w->interest)
        L->out_of_interest++;
    w->got |= events;
    w->nreports++;
    if (L->wake_in_ready)
        lp_wake(L);
}

static int host_drive(prokio_backend_host_loop_t *host_loop)
{
    (void)host_loop;
    if (g_vt && !(g_vt->caps & PROKIO_BACKEND_CAP_NONBLOCKING_HOST))
        violation("host->drive called by a backend without CAP_NONBLOCKING_HOST");
    return PROKIO_ENOTSUP;
}

static prokio_backend_host_t g_host = {
    .size = sizeof(prokio_backend_host_t),
    .abi_version = PROKIO_BACKEND_ABI_VERSION,
    .alloc = host_alloc,
    .free = host_free,
    .log = host_log,
    .monotonic_ns = host_monotonic_ns,
    .watch_ready = host_watch_ready,
    .drive = host_drive,
};

/* ------------------------------------------------------------------------ */
/* Loops and watches as the core drives them                                 */

static int lp_open(struct lp *L, uint32_t worker_index, uint32_t worker_count)
{
    memset(L, 0, sizeof *L);
    L->magic = LP_MAGIC;
    L->thread = pthread_self();
    L->tid = my_tid();
    L->mem = guarded_alloc(g_vt->loop_size);
    if (!L->mem) {
        fail("out of memory for %zu bytes of loop memory", g_vt->loop_size);
        return PROKIO_ENOMEM;
    }
    int slot = -1;
    for (int i = 0; i < MAX_LOOPS && slot < 0; i++) {
        struct lp *expected = NULL;
        if (atomic_compare_exchange_strong(&g_live[i], &expected, L))
            slot = i;
    }
    if (slot < 0) {
        fail("checker: more than %d loops at once", MAX_LOOPS);
        guarded_free(L->mem, g_vt->loop_size);
        return PROKIO_ENOMEM;
    }
    prokio_backend_loop_config_t cfg = {
        .size = sizeof cfg, .worker_index = worker_index, .worker_count = worker_count};
    uint64_t caps = g_vt->caps;
    int rc = g_vt->loop_init(L->mem, (prokio_backend_host_loop_t *)L, &cfg, &caps);
    if (rc != 0) {
        fail("loop_init: expected 0, got %d (%s)", rc, err_name(rc));
        EXPECT(rc < 0, "loop_init returned a positive value");
        EXPECT(guarded_intact(L->mem, g_vt->loop_size),
               "loop_init wrote past loop_size (%zu bytes)", g_vt->loop_size);
        atomic_store(&g_live[slot], NULL);
        guarded_free(L->mem, g_vt->loop_size);
        L->mem = NULL;
        return rc < 0 ? rc : PROKIO_EINVAL;
    }
    EXPECT((caps & ~g_vt->caps) == 0,
           "loop_init caps: expected a subset of vtable->caps %#llx, got %#llx",
           (unsigned long long)g_vt->caps, (unsigned long long)caps);
    L->caps = caps;
    return 0;
}

static void lp_close(struct lp *L)
{
    if (!L->mem)
        return;
    if (L->nwatches)
        fail("checker bug: %zu watches still open at loop_fini", L->nwatches);
    g_vt->loop_fini(L->mem);
    EXPECT(guarded_intact(L->mem, g_vt->loop_size), "the backend wrote past loop_size (%zu bytes)",
           g_vt->loop_size);
    guarded_free(L->mem, g_vt->loop_size);
    L->mem = NULL;
    for (int i = 0; i < MAX_LOOPS; i++) {
        struct lp *expected = L;
        atomic_compare_exchange_strong(&g_live[i], &expected, NULL);
    }
    if (L->out_of_interest)
        diag("note: %u reports named a direction outside the interest (allowed as extra "
             "reports, but they cost the core a system call each)",
             L->out_of_interest);
    free(L->watches);
    L->magic = 0;
}

static uint64_t lp_now(struct lp *L)
{
    return g_vt->now_ns(L->mem);
}

static void lp_wake(struct lp *L)
{
    int saved = tl_hot;
    atomic_fetch_add(&L->wakes, 1);
    tl_hot = HOT_WAKE;
    g_vt->wake(L->mem);
    tl_hot = saved;
    atomic_fetch_add(&L->wakes_done, 1);
}

/* Every wait goes through here. An early return is excused when a wake call
 * overlapped the time since the previous wait started (it returned since then,
 * or it is still running): that wake may legitimately still be pending. This
 * keeps the rule free of false alarms and still catches wakes that stay
 * pending for more than one wait. */
static int lp_wait(struct lp *L, uint64_t deadline_ns)
{
    uint64_t excuse = L->done_at_prev_start;
    L->done_at_prev_start = atomic_load(&L->wakes_done);
    L->reports = 0;
    atomic_store_explicit(&L->in_wait, 1, memory_order_relaxed);
    tl_hot = HOT_WAIT;
    int rc = g_vt->wait(L->mem, deadline_ns);
    tl_hot = HOT_NONE;
    atomic_store_explicit(&L->in_wait, 0, memory_order_relaxed);
    uint64_t now = lp_now(L);
    if (rc < 0)
        violation("wait returned %d (%s)", rc, err_name(rc));
    else if ((unsigned)rc != L->reports)
        violation("wait returned %d but made %u watch_ready calls", rc, L->reports);
    uint64_t done = atomic_load(&L->wakes_done);
    if (rc >= 0 && L->reports == 0 && deadline_ns != 0 && now < deadline_ns && done == excuse &&
        atomic_load(&L->wakes) == done) {
        if (deadline_ns == PROKIO_BACKEND_DEADLINE_NEVER)
            violation("wait(NEVER) returned without an event or a wake");
        else
            violation("wait returned %.3f ms before its deadline without an event or a wake",
                      ns_to_ms((int64_t)(deadline_ns - now)));
    }
    return rc;
}

static uint64_t deadline_in(struct lp *L, uint64_t ms)
{
    return lp_now(L) + ms * NS_PER_MS;
}

static int tw_init(struct lp *L, struct tw *w, int fd)
{
    memset(w, 0, sizeof *w);
    w->lp = L;
    w->fd = fd;
    w->mem = guarded_alloc(g_vt->watch_size);
    if (!w->mem)
        return PROKIO_ENOMEM;
    int rc = g_vt->watch_init(L->mem, w->mem, fd);
    if (rc != 0) {
        EXPECT(rc < 0, "watch_init returned a positive value %d", rc);
        EXPECT(guarded_intact(w->mem, g_vt->watch_size), "watch_init wrote past watch_size");
        guarded_free(w->mem, g_vt->watch_size);
        w->mem = NULL;
        return rc < 0 ? rc : PROKIO_EINVAL;
    }
    if (L->nwatches == L->capwatches) {
        L->capwatches = L->capwatches ? 2 * L->capwatches : 16;
        L->watches = realloc(L->watches, L->capwatches * sizeof *L->watches);
        if (!L->watches) {
            fprintf(stderr, "out of memory\n");
            exit(2);
        }
    }
    L->watches[L->nwatches++] = w;
    w->open = true;
    return 0;
}

static int tw_update(struct tw *w, unsigned events)
{
    w->interest = events;
    int rc = g_vt->watch_update(w->lp->mem, w->mem, events);
    EXPECT(rc <= 0, "watch_update returned a positive value %d", rc);
    return rc;
}

static void tw_close(struct tw *w)
{
    if (!w->open)
        return;
    struct lp *L = w->lp;
    for (size_t i = 0; i < L->nwatches; i++) {
        if (L->watches[i] == w) {
            L->watches[i] = L->watches[--L->nwatches];
            break;
        }
    }
    w->open = false;
    g_vt->watch_close(L->mem, w->mem);
    EXPECT(guarded_intact(w->mem, g_vt->watch_size),
           "the backend wrote past watch_size (%zu bytes)", g_vt->watch_size);
    /* The core may free watch memory as soon as watch_close returns. */
    guarded_free(w->mem, g_vt->watch_size);
    w->mem = NULL;
}

static void tw_reset(struct tw *w)
{
    w->got = 0;
    w->nreports = 0;
}

/* Waits until w reported one of `mask` or `limit_ms` passed. */
static bool wait_for(struct tw *w, unsigned mask, uint64_t limit_ms)
{
    struct lp *L = w->lp;
    uint64_t deadline = deadline_in(L, limit_ms * g_scale);
    while (!(w->got & mask) && lp_now(L) < deadline)
        lp_wait(L, deadline);
    return (w->got & mask) != 0;
}

/* Waits for `ms` in full (the deadline is reached); returns the reports made
 * meanwhile, for every watch. */
static unsigned quiet(struct lp *L, uint64_t ms)
{
    uint64_t deadline = deadline_in(L, ms);
    unsigned total = 0;
    while (lp_now(L) < deadline) {
        lp_wait(L, deadline);
        total += L->reports;
    }
    return total;
}

/* ------------------------------------------------------------------------ */
/* Helper threads                                                            */

static char thread_state(pid_t tid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)tid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return '?';
    char buf[512];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return '?';
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    return p && p[1] == ' ' ? p[2] : '?';
}

static void pause_us(long us)
{
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* Returns once L's thread is inside wait() and asleep in the kernel, or false
 * after the limit. The polling interval is not synchronisation: whoever calls
 * this acts afterwards and the loop thread verifies the order. */
static bool wait_until_blocked(struct lp *L, uint64_t limit_ms)
{
    uint64_t end = mono_ns() + limit_ms * g_scale * NS_PER_MS;
    for (;;) {
        if (atomic_load_explicit(&L->in_wait, memory_order_relaxed)) {
            char s = thread_state(L->tid);
            if (s == 'S' || s == 'D')
                return true;
            if (s == '?') {
                /* No /proc: give the loop a moment to block. Correctness does
                 * not depend on it; only how sharp the check is. */
                pause_us(20000);
                return false;
            }
        }
        if (mono_ns() > end)
            return false;
        pause_us(100);
    }
}

/* Acts on a loop from another thread once the loop blocks. */
struct actor {
    pthread_t th;
    struct lp *L;
    void (*fn)(struct actor *);
    int fd; /* for actions that write */
    atomic_bool acted;
    bool saw_blocked;
    uint64_t acted_ns;
};

static void *actor_main(void *p)
{
    struct actor *a = p;
    a->saw_blocked = wait_until_blocked(a->L, 2000);
    a->acted_ns = mono_ns();
    atomic_store(&a->acted, true);
    a->fn(a);
    return NULL;
}

static void act_wake(struct actor *a)
{
    lp_wake(a->L);
}

static void act_write(struct actor *a)
{
    ssize_t r = write(a->fd, "w", 1);
    (void)r;
}

static void actor_start(struct actor *a, struct lp *L, void (*fn)(struct actor *), int fd)
{
    memset(a, 0, sizeof *a);
    a->L = L;
    a->fn = fn;
    a->fd = fd;
    if (pthread_create(&a->th, NULL, actor_main, a) != 0) {
        fprintf(stderr, "pthread_create failed\n");
        exit(2);
    }
}

static void actor_join(struct actor *a)
{
    pthread_join(a->th, NULL);
}

/* Wakes the loop again if a wait that must return has not returned in time,
 * so that a lost wakeup fails the check instead of hanging the run. */
struct rescue {
    pthread_t th;
    struct lp *L;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
    atomic_bool fired;
    uint64_t limit_ms;
};

static void *rescue_main(void *p)
{
    struct rescue *r = p;
    uint64_t deadline = mono_ns() + r->limit_ms * g_scale * NS_PER_MS;
    pthread_mutex_lock(&r->mu);
    while (!r->done) {
        struct timespec ts = {(time_t)(deadline / 1000000000u), (long)(deadline % 1000000000u)};
        int rc = pthread_cond_timedwait(&r->cv, &r->mu, &ts);
        if (rc == ETIMEDOUT && !r->done) {
            atomic_store(&r->fired, true);
            pthread_mutex_unlock(&r->mu);
            lp_wake(r->L);
            pthread_mutex_lock(&r->mu);
            deadline = mono_ns() + 50 * NS_PER_MS;
        }
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

static void rescue_start(struct rescue *r, struct lp *L, uint64_t limit_ms)
{
    memset(r, 0, sizeof *r);
    r->L = L;
    r->limit_ms = limit_ms;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&r->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&r->mu, NULL);
    if (pthread_create(&r->th, NULL, rescue_main, r) != 0) {
        fprintf(stderr, "pthread_create failed\n");
        exit(2);
    }
}

/* Returns true if the rescuer had to wake the loop. */
static bool rescue_stop(struct rescue *r)
{
    pthread_mutex_lock(&r->mu);
    r->done = true;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
    pthread_join(r->th, NULL);
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
    return atomic_load(&r->fired);
}

/* Waits with DEADLINE_NEVER under a rescuer; false if the wait was rescued. */
static bool wait_never(struct lp *L, uint64_t limit_ms)
{
    struct rescue r;
    rescue_start(&r, L, limit_ms);
    lp_wait(L, PROKIO_BACKEND_DEADLINE_NEVER);
    return !rescue_stop(&r);
}

/* ------------------------------------------------------------------------ */
/* Descriptors                                                               */

static bool make_pair(int sv[2])
{
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0) {
        fail("socketpair: %s", strerror(errno));
        sv[0] = sv[1] = -1;
        return false;
    }
    return true;
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

static size_t drain(int fd)
{
    char buf[4096];
    size_t total = 0;
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n > 0)
            total += (size_t)n;
        else if (n < 0 && errno == EINTR)
            continue;
        else
            return total;
    }
}

static size_t fill(int fd)
{
    static const char buf[4096];
    size_t total = 0;
    for (;;) {
        ssize_t n = write(fd, buf, sizeof buf);
        if (n > 0)
            total += (size_t)n;
        else if (n < 0 && errno == EINTR)
            continue;
        else
            return total;
    }
}

static void put(int fd, const char *s)
{
    if (write(fd, s, strlen(s)) != (ssize_t)strlen(s))
        fail("write to the peer socket: %s", strerror(errno));
}

static int count_fds(void)
{
    struct rlimit rl;
    int max = 1024;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        max = rl.rlim_cur < 65536 ? (int)rl.rlim_cur : 65536;
    int n = 0;
    for (int fd = 0; fd < max; fd++)
        if (fcntl(fd, F_GETFD) != -1)
            n++;
    return n;
}

/* One loop on this thread and one socketpair watched on sv[0]. */
struct fx {
    struct lp L;
    int sv[2];
    struct tw w;
};

static bool fx_open(struct fx *f, unsigned interest)
{
    f->sv[0] = f->sv[1] = -1;
    if (lp_open(&f->L, 0, 1) != 0)
        return false;
    if (!make_pair(f->sv))
        return false;
    int rc = tw_init(&f->L, &f->w, f->sv[0]);
    if (rc != 0) {
        fail("watch_init(socket): expected 0, got %d (%s)", rc, err_name(rc));
        return false;
    }
    if (interest) {
        rc = tw_update(&f->w, interest);
        if (rc != 0) {
            fail("watch_update(%#x): expected 0, got %d (%s)", interest, rc, err_name(rc));
            return false;
        }
    }
    return true;
}

static void fx_close(struct fx *f)
{
    tw_close(&f->w);
    close_fd(&f->sv[0]);
    close_fd(&f->sv[1]);
    lp_close(&f->L);
}

/* ------------------------------------------------------------------------ */
/* Checks: negotiation                                                       */

static bool g_loaded;

static void check_dlopen(void)
{
    g_dl = dlopen(g_path, RTLD_NOW | RTLD_LOCAL);
    if (!g_dl) {
        fail("dlopen(RTLD_NOW | RTLD_LOCAL): %s", dlerror());
        return;
    }
    void *sym = dlsym(g_dl, PROKIO_BACKEND_ENTRY_SYMBOL);
    if (!sym) {
        fail("dlsym(\"%s\"): %s", PROKIO_BACKEND_ENTRY_SYMBOL, dlerror());
        return;
    }
    /* POSIX guarantees that a data pointer from dlsym converts to a function. */
    memcpy(&g_entry, &sym, sizeof g_entry);
    g_loaded = true;
}

/* Linker-made names that are no export of the author's. */
static bool linker_symbol(const char *name)
{
    static const char *const names[] = {"_init", "_fini", "_edata", "_end", "__bss_start"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(name, names[i]) == 0)
            return true;
    return false;
}

static void check_exports(void)
{
    int fd = open(g_path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        fail("open %s: %s", g_path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return;
    }
    size_t len = (size_t)st.st_size;
    const unsigned char *img = len ? mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0) : MAP_FAILED;
    close(fd);
    if (img == MAP_FAILED) {
        fail("mmap %s: %s", g_path, strerror(errno));
        return;
    }
    const ElfW(Ehdr) *eh = (const void *)img;
    size_t nexports = 0, nentry = 0;
    bool sane = len >= sizeof *eh && memcmp(eh->e_ident, ELFMAG, SELFMAG) == 0 &&
                eh->e_shentsize == sizeof(ElfW(Shdr)) && eh->e_shoff < len &&
                eh->e_shnum <= (len - eh->e_shoff) / sizeof(ElfW(Shdr));
    if (!sane) {
        fail("%s: not a native ELF file with section headers", g_path);
        goto out;
    }
    const ElfW(Shdr) *sh = (const void *)(img + eh->e_shoff);
    bool found = false;
    for (size_t i = 0; i < eh->e_shnum; i++) {
        if (sh[i].sh_type != SHT_DYNSYM)
            continue;
        found = true;
        if (sh[i].sh_link >= eh->e_shnum || sh[i].sh_entsize != sizeof(ElfW(Sym)) ||
            sh[i].sh_offset > len || sh[i].sh_size > len - sh[i].sh_offset) {
            fail("malformed .dynsym");
            goto out;
        }
        const ElfW(Shdr) *strs = &sh[sh[i].sh_link];
        if (strs->sh_offset > len || strs->sh_size > len - strs->sh_offset) {
            fail("malformed .dynstr");
            goto out;
        }
        const ElfW(Sym) *sym = (const void *)(img + sh[i].sh_offset);
        const char *str = (const char *)img + strs->sh_offset;
        size_t nsym = sh[i].sh_size / sizeof *sym;
        for (size_t k = 1; k < nsym; k++) {
            /* The ELF32_ST_* macros serve both classes (elf.h says so). */
            unsigned bind = ELF32_ST_BIND(sym[k].st_info);
            unsigned vis = ELF32_ST_VISIBILITY(sym[k].st_other);
            if (sym[k].st_shndx == SHN_UNDEF ||
                (bind != STB_GLOBAL && bind != STB_WEAK && bind != STB_GNU_UNIQUE) ||
                (vis != STV_DEFAULT && vis != STV_PROTECTED) || sym[k].st_name >= strs->sh_size)
                continue;
            const char *name = str + sym[k].st_name;
            if (strnlen(name, strs->sh_size - sym[k].st_name) == strs->sh_size - sym[k].st_name)
                continue;
            /* Version definitions appear as absolute symbols of value 0. */
            if (linker_symbol(name) || (sym[k].st_shndx == SHN_ABS && sym[k].st_value == 0))
                continue;
            if (strcmp(name, PROKIO_BACKEND_ENTRY_SYMBOL) == 0) {
                nentry++;
                continue;
            }
            if (nexports++ < 10)
                fail("exports %s as well: build with -fvisibility=hidden and mark only the "
                     "entry with PROKIO_BACKEND_EXPORT",
                     name);
        }
    }
    EXPECT(found, "no .dynsym section");
    EXPECT(nentry == 1, "expected %s defined once in .dynsym, got %zu", PROKIO_BACKEND_ENTRY_SYMBOL,
           nentry);
    if (nexports > 10)
        fail("... %zu other exported symbols in all", nexports);
out:
    munmap((void *)img, len);
}

static bool name_ok(const char *name)
{
    if (!name || !*name || strlen(name) > 64)
        return false;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' || *p == '-'))
            return false;
    return true;
}

/* Everything a core checks, or relies on, in a vtable answering core_abi. */
static void validate_vtable(const prokio_backend_vtable_t *vt, uint32_t core_abi)
{
    uint32_t major = PROKIO_BACKEND_ABI_MAJOR_OF(vt->abi_version);
    uint32_t minor = PROKIO_BACKEND_ABI_MINOR_OF(vt->abi_version);
    uint32_t core_minor = PROKIO_BACKEND_ABI_MINOR_OF(core_abi);
    EXPECT(major == PROKIO_BACKEND_ABI_MAJOR, "vtable->abi_version: expected major %d, got %u.%u",
           PROKIO_BACKEND_ABI_MAJOR, major, minor);
    EXPECT(minor <= core_minor, "vtable->abi_version: expected minor <= %u (the core's), got %u.%u",
           core_minor, major, minor);
    EXPECT(vt->size >= sizeof(prokio_backend_vtable_t),
           "vtable->size: expected >= %zu (ABI 1.0), got %u", sizeof(prokio_backend_vtable_t),
           vt->size);
    EXPECT(name_ok(vt->name), "vtable->name: expected [a-z0-9_-]{1,64}, got %s%s%s",
           vt->name ? "\"" : "", vt->name ? vt->name : "NULL", vt->name ? "\"" : "");
    EXPECT(vt->version != NULL, "vtable->version: expected a string, got NULL");
    EXPECT((vt->caps & ~KNOWN_CAPS) == 0, "vtable->caps: unknown bits %#llx",
           (unsigned long long)(vt->caps & ~KNOWN_CAPS));
    EXPECT(minor > 0 || (vt->caps & OP_CAPS) == 0,
           "vtable->caps: a 1.0 vtable must leave OP_* and BATCH clear, got %#llx",
           (unsigned long long)(vt->caps & OP_CAPS));
    EXPECT(vt->loop_size > 0 && vt->loop_size < (1u << 20),
           "vtable->loop_size: expected 1 .. 1 MiB-1, got %zu", vt->loop_size);
    EXPECT(vt->watch_size > 0 && vt->watch_size < (1u << 20),
           "vtable->watch_size: expected 1 .. 1 MiB-1, got %zu", vt->watch_size);
    struct {
        const char *name;
        bool present;
    } req[] = {
        {"loop_init", vt->loop_init != NULL},     {"loop_fini", vt->loop_fini != NULL},
        {"now_ns", vt->now_ns != NULL},           {"wake", vt->wake != NULL},
        {"watch_init", vt->watch_init != NULL},   {"watch_update", vt->watch_update != NULL},
        {"watch_close", vt->watch_close != NULL},
    };
    for (size_t i = 0; i < sizeof req / sizeof req[0]; i++)
        EXPECT(req[i].present, "vtable->%s: expected a function, got NULL", req[i].name);
    if (vt->caps & PROKIO_BACKEND_CAP_NONBLOCKING_HOST) {
        EXPECT(vt->arm != NULL, "CAP_NONBLOCKING_HOST: expected vtable->arm, got NULL");
        EXPECT(vt->wait == NULL, "CAP_NONBLOCKING_HOST: expected vtable->wait NULL");
    } else {
        EXPECT(vt->wait != NULL, "vtable->wait: expected a function, got NULL");
        EXPECT(vt->arm == NULL, "vtable->arm: expected NULL without CAP_NONBLOCKING_HOST");
    }
}

/* A negotiation in a fresh child process: the entry is called once per
 * process, and the parent has not called it yet when it forks. */
struct nego_out {
    int rc;
    bool vt_set;
    uint32_t abi;
    unsigned logs;
    bool failed;
    char diag[4096];
};

static bool negotiate_in_child(uint32_t core_abi, struct nego_out *out)
{
    int pfd[2];
    memset(out, 0, sizeof *out);
    if (pipe(pfd) != 0) {
        fail("pipe: %s", strerror(errno));
        return false;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        fail("fork: %s", strerror(errno));
        close(pfd[0]);
        close(pfd[1]);
        return false;
    }
    if (pid == 0) {
        close(pfd[0]);
        alarm(10 * g_scale);
        g_diag_len = 0;
        atomic_store(&g_failed, false);
        atomic_store(&g_logs, 0);
        prokio_backend_host_t host = g_host;
        host.abi_version = core_abi;
        const prokio_backend_vtable_t *vt = NULL;
        out->rc = g_entry(&host, core_abi, &vt);
        out->vt_set = vt != NULL;
        if (out->rc == 0 && vt) {
            out->abi = vt->abi_version;
            validate_vtable(vt, core_abi);
        }
        out->logs = atomic_load(&g_logs);
        out->failed = atomic_load(&g_failed);
        size_t len = g_diag_len < sizeof out->diag - 1 ? g_diag_len : sizeof out->diag - 1;
        memcpy(out->diag, g_diag, len);
        out->diag[len] = '\0';
        ssize_t w = write(pfd[1], out, sizeof *out);
        _exit(w == (ssize_t)sizeof *out ? 0 : 3);
    }
    close(pfd[1]);
    size_t got = 0;
    while (got < sizeof *out) {
        ssize_t n = read(pfd[0], (char *)out + got, sizeof *out - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(pfd[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (got != sizeof *out) {
        if (WIFSIGNALED(status))
            fail("entry(core %u.%u) killed the process with signal %d%s",
                 PROKIO_BACKEND_ABI_MAJOR_OF(core_abi), PROKIO_BACKEND_ABI_MINOR_OF(core_abi),
                 WTERMSIG(status), WTERMSIG(status) == SIGALRM ? " (hung)" : "");
        else
            fail("entry(core %u.%u): the child process exited with %d before reporting",
                 PROKIO_BACKEND_ABI_MAJOR_OF(core_abi), PROKIO_BACKEND_ABI_MINOR_OF(core_abi),
                 WEXITSTATUS(status));
        return false;
    }
    if (out->diag[0]) {
        pthread_mutex_lock(&g_diag_mu);
        size_t room = sizeof g_diag - g_diag_len;
        int n = snprintf(g_diag + g_diag_len, room, "%s", out->diag);
        if (n > 0)
            g_diag_len += (size_t)n < room ? (size_t)n : room - 1;
        pthread_mutex_unlock(&g_diag_mu);
    }
    if (out->failed)
        atomic_store(&g_failed, true);
    return true;
}

static void check_negotiate_newer_minor(void)
{
    struct nego_out o;
    uint32_t core = PROKIO_BACKEND_ABI_MAJOR << 16 | 7;
    if (!negotiate_in_child(core, &o))
        return;
    EXPECT(o.rc == 0, "entry(core 1.7): expected 0, got %d (%s)", o.rc, err_name(o.rc));
    EXPECT(o.rc != 0 || o.vt_set, "entry(core 1.7) returned 0 but left *vtable NULL");
    if (o.rc == 0 && o.vt_set)
        diag("answered ABI %u.%u", PROKIO_BACKEND_ABI_MAJOR_OF(o.abi),
             PROKIO_BACKEND_ABI_MINOR_OF(o.abi));
}

static void check_negotiate_other_major(void)
{
    static const uint32_t cores[] = {0u << 16 | 9, 2u << 16 | 0};
    for (size_t i = 0; i < 2; i++) {
        struct nego_out o;
        unsigned maj = PROKIO_BACKEND_ABI_MAJOR_OF(cores[i]);
        unsigned min = PROKIO_BACKEND_ABI_MINOR_OF(cores[i]);
        if (!negotiate_in_child(cores[i], &o))
            continue;
        /* validate_vtable's verdict does not matter here: only the code. */
        EXPECT(o.rc == PROKIO_EABI, "entry(core %u.%u): expected PROKIO_EABI (%d), got %d (%s)",
               maj, min, PROKIO_EABI, o.rc, err_name(o.rc));
        EXPECT(o.rc == 0 || o.logs > 0,
               "entry(core %u.%u) refused without saying why through host->log", maj, min);
    }
}

static void check_negotiate_current(void)
{
    const prokio_backend_vtable_t *vt = NULL;
    int rc = g_entry(&g_host, PROKIO_BACKEND_ABI_VERSION, &vt);
    if (rc != 0 || !vt) {
        fail("entry(core 1.0): expected 0 and a vtable, got %d (%s) and %p", rc, err_name(rc),
             (const void *)vt);
        return;
    }
    validate_vtable(vt, PROKIO_BACKEND_ABI_VERSION);
    if (atomic_load(&g_failed))
        return;
    g_vt = vt;
    const char *base = strrchr(g_path, '/');
    base = base ? base + 1 : g_path;
    char expect[128];
    snprintf(expect, sizeof expect, "prokio-%s.so", vt->name);
    diag("backend \"%s\", version \"%s\", ABI %u.%u, caps %#llx%s%s, loop_size %zu, "
         "watch_size %zu",
         vt->name, vt->version, PROKIO_BACKEND_ABI_MAJOR_OF(vt->abi_version),
         PROKIO_BACKEND_ABI_MINOR_OF(vt->abi_version), (unsigned long long)vt->caps,
         vt->caps & PROKIO_BACKEND_CAP_EDGE ? " EDGE" : "",
         vt->caps & PROKIO_BACKEND_CAP_NONBLOCKING_HOST ? " NONBLOCKING_HOST" : "", vt->loop_size,
         vt->watch_size);
    if (strcmp(base, expect) != 0)
        diag("note: the core finds a backend named \"%s\" in the file %s, not %s", vt->name, expect,
             base);
}

/* ------------------------------------------------------------------------ */
/* Checks: loops, clock, wait and wake                                       */

struct thread_loop_result {
    int fds_before, fds_after;
    int rc;
};

static void *thread_loop_main(void *p)
{
    struct thread_loop_result *r = p;
    struct lp L;
    /* The first loop may set up a library's once-per-process state (libuv's
     * signal pipe): count descriptors around the second one. */
    bool can_wait = g_vt->wait != NULL; /* not on a NONBLOCKING_HOST backend */
    if (lp_open(&L, 0, 1) == 0) {
        if (can_wait)
            lp_wait(&L, 0);
        lp_close(&L);
    }
    r->fds_before = count_fds();
    r->rc = lp_open(&L, 0, 1);
    if (r->rc == 0) {
        if (can_wait) {
            lp_wait(&L, 0);
            lp_wake(&L);
            lp_wait(&L, 0);
        }
        lp_close(&L);
    }
    r->fds_after = count_fds();
    return NULL;
}

static void check_loop_on_thread(void)
{
    struct thread_loop_result r;
    memset(&r, 0, sizeof r);
    pthread_t th;
    if (pthread_create(&th, NULL, thread_loop_main, &r) != 0) {
        fail("pthread_create failed");
        return;
    }
    pthread_join(th, NULL);
    EXPECT(r.fds_after == r.fds_before,
           "descriptors open: %d before loop_init, %d after loop_fini (loop_fini must release "
           "everything)",
           r.fds_before, r.fds_after);
}

struct two {
    struct lp A, B;
    pthread_barrier_t bar;
    atomic_int b_phase; /* 0: B in its timed wait, 1: B in wait(NEVER) */
    atomic_bool a_woke_b;
    atomic_bool open_failed;
    unsigned a_rounds;
};

static void *two_a(void *p)
{
    struct two *t = p;
    int sv[2] = {-1, -1};
    struct tw w;
    memset(&w, 0, sizeof w);
    if (lp_open(&t->A, 0, 2) != 0)
        atomic_store(&t->open_failed, true);
    pthread_barrier_wait(&t->bar);
    if (atomic_load(&t->open_failed))
        goto out;
    if (!make_pair(sv) || tw_init(&t->A, &w, sv[0]) != 0 ||
        tw_update(&w, PROKIO_BACKEND_READABLE) != 0) {
        fail("loop A: could not set up a watch");
    } else {
        /* Events and wakes on A while B waits: none of them may reach B. */
        while (atomic_load(&t->b_phase) == 0) {
            put(sv[1], "a");
            tw_reset(&w);
            if (!wait_for(&w, PROKIO_BACKEND_READABLE, 2000)) {
                fail("loop A: READABLE not reported within 2 s");
                break;
            }
            drain(sv[0]);
            lp_wake(&t->A);
            uint64_t deadline = deadline_in(&t->A, 2000);
            lp_wait(&t->A, deadline);
            if (lp_now(&t->A) >= deadline) {
                fail("loop A: a wake before wait did not make it return");
                break;
            }
            t->a_rounds++;
        }
    }
    tw_close(&w);
    close_fd(&sv[0]);
    close_fd(&sv[1]);
    /* Wake B from this thread once B blocks in wait(NEVER). */
    while (atomic_load(&t->b_phase) != 1) {
        pause_us(100);
    }
    wait_until_blocked(&t->B, 2000);
    atomic_store(&t->a_woke_b, true);
    lp_wake(&t->B);
out:
    pthread_barrier_wait(&t->bar);
    lp_close(&t->A);
    return NULL;
}

static void *two_b(void *p)
{
    struct two *t = p;
    if (lp_open(&t->B, 1, 2) != 0)
        atomic_store(&t->open_failed, true);
    pthread_barrier_wait(&t->bar);
    if (atomic_load(&t->open_failed)) {
        pthread_barrier_wait(&t->bar);
        lp_close(&t->B);
        return NULL;
    }
    unsigned reports = quiet(&t->B, 100);
    EXPECT(reports == 0, "loop B, which has no watch, got %u reports", reports);
    atomic_store(&t->b_phase, 1);
    bool returned = wait_never(&t->B, 5000);
    EXPECT(returned, "loop B: wait(NEVER) not ended by a wake from loop A's thread within 5 s");
    EXPECT(atomic_load(&t->a_woke_b), "loop B: wait(NEVER) returned before loop A woke it");
    pthread_barrier_wait(&t->bar);
    lp_close(&t->B);
    return NULL;
}

static void check_two_loops(void)
{
    struct two *t = calloc(1, sizeof *t);
    if (!t) {
        fail("out of memory");
        return;
    }
    pthread_barrier_init(&t->bar, NULL, 2);
    pthread_t a, b;
    pthread_create(&a, NULL, two_a, t);
    pthread_create(&b, NULL, two_b, t);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    pthread_barrier_destroy(&t->bar);
    if (!atomic_load(&t->open_failed)) {
        EXPECT(t->a_rounds > 0, "loop A made no round while loop B waited");
        diag("loop A: %u event+wake rounds while loop B waited 100 ms", t->a_rounds);
    }
    free(t);
}

static void check_now_ns(void)
{
    struct lp L;
    if (lp_open(&L, 0, 1) != 0)
        return;
    unsigned n = g_quick ? 20000 : 200000;
    uint64_t prev = lp_now(&L), first = prev, min_step = UINT64_MAX;
    for (unsigned i = 0; i < n; i++) {
        uint64_t t = lp_now(&L);
        if (t < prev) {
            fail("now_ns went backwards by %llu ns after %u calls", (unsigned long long)(prev - t),
                 i);
            break;
        }
        if (t > prev && t - prev < min_step)
            min_step = t - prev;
        prev = t;
    }
    diag("%u calls over %.3f ms, smallest step %llu ns", n, ns_to_ms((int64_t)(prev - first)),
         (unsigned long long)min_step);
    lp_close(&L);
}

static void check_wait_zero(void)
{
    struct lp L;
    if (lp_open(&L, 0, 1) != 0)
        return;
    uint64_t now = lp_now(&L);
    uint64_t deadlines[] = {0, 0, 1, now > NS_PER_MS ? now - NS_PER_MS : 1, 0};
    for (size_t i = 0; i < sizeof deadlines / sizeof deadlines[0]; i++) {
        uint64_t t0 = mono_ns();
        int rc = lp_wait(&L, deadlines[i]);
        uint64_t took = mono_ns() - t0;
        EXPECT(rc == 0, "wait(%s) with nothing pending: expected 0, got %d",
               deadlines[i] == 0 ? "0" : "past deadline", rc);
        EXPECT(took < 50 * NS_PER_MS, "wait(%s): expected to return well under 50 ms, took %.3f ms",
               deadlines[i] == 0 ? "0" : "past deadline", ns_to_ms((int64_t)took));
    }
    lp_close(&L);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static void check_wait_deadline(void)
{
    struct lp L;
    if (lp_open(&L, 0, 1) != 0)
        return;
    /* Deadlines off the millisecond grid catch backends that truncate. */
    static const uint64_t others_us[] = {1000, 1500, 250, 7770, 20300, 3};
    unsigned n20 = g_quick ? 3 : 10;
    int64_t late20[10] = {0};
    for (unsigned i = 0; i < n20 + sizeof others_us / sizeof others_us[0]; i++) {
        uint64_t us = i < n20 ? 20000 : others_us[i - n20];
        uint64_t deadline = lp_now(&L) + us * 1000;
        int rc = lp_wait(&L, deadline);
        uint64_t now = lp_now(&L);
        int64_t late = (int64_t)(now - deadline);
        EXPECT(rc == 0, "wait(now+%.3f ms) with nothing pending: expected 0, got %d", us / 1e3, rc);
        if (now < deadline) {
            fail("wait(now+%.3f ms) returned %.3f ms early", us / 1e3, ns_to_ms(-late));
            continue;
        }
        if (late > 500 * (int64_t)NS_PER_MS)
            fail("wait(now+%.3f ms) returned %.3f ms late (limit 500 ms)", us / 1e3,
                 ns_to_ms(late));
        if (i < n20)
            late20[i] = late;
        else
            diag("wait(now+%.3f ms): %.3f ms late", us / 1e3, ns_to_ms(late));
    }
    qsort(late20, n20, sizeof late20[0], cmp_i64);
    diag("wait(now+20 ms) x%u lateness: min %.3f ms, median %.3f ms, max %.3f ms", n20,
         ns_to_ms(late20[0]), ns_to_ms(late20[n20 / 2]), ns_to_ms(late20[n20 - 1]));
    lp_close(&L);
}

static void check_wait_far_deadline(void)
{
    struct lp L;
    if (lp_open(&L, 0, 1) != 0)
        return;
    uint64_t now = lp_now(&L);
    const struct {
        const char *what;
        uint64_t deadline;
    } cases[] = {
        {"now+30 days", now + UINT64_C(30) * 86400 * 1000000000},
        {"now+2^62 ns", now + (UINT64_C(1) << 62)},
        {"NEVER-1", PROKIO_BACKEND_DEADLINE_NEVER - 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct actor a;
        struct rescue r;
        actor_start(&a, &L, act_wake, -1);
        rescue_start(&r, &L, 5000);
        lp_wait(&L, cases[i].deadline);
        bool acted = atomic_load(&a.acted);
        bool rescued = rescue_stop(&r);
        actor_join(&a);
        EXPECT(acted, "wait(%s) returned at once, before any wake (the deadline overflowed?)",
               cases[i].what);
        EXPECT(!rescued, "wait(%s) was not ended by a wake within 5 s", cases[i].what);
    }
    lp_close(&L);
}

static void check_wake_sticky(void)
{
    struct lp L;
    if (lp_open(&L, 0, 1) != 0)
        return;
    lp_wake(&L);
    uint64_t t0 = mono_ns();
    bool returned = wait_never(&L, 2000);
    EXPECT(returned, "wake() then wait(NEVER): the wait did not return (wakes must be sticky)");
    if (returned)
        diag("wake() then wait(NEVER) returned after %.3f ms", ns_to_ms((int64_t)(mono_ns() - t0)));
    /* The wake is consumed: the next wait runs to its deadline. */
    unsigned rep = quiet(&L, 20);
    EXPECT(rep == 0, "unexpected reports with no watch: %u", rep);
    /* wait(0) consumes a wake as well: "since the previous wait returned". */
    lp_wake(&L);
    lp_wait(&L, 0);
    quiet(&L, 20);
    lp_close(&L);
}

static void check_wake_cross_thread(void)
{
    struct lp L;
    if (lp_open(&L, 0, 1) != 0)
        return;
    unsigned rounds = g_quick ? 2 : 5;
    unsigned blocked = 0;
    double worst_ms = 0;
    for (unsigned i = 0; i <= rounds; i++) {
        /* The last round uses a finite deadline: a backend may arm a timer. */
        bool never = i < rounds;
        struct actor a;
        actor_start(&a, &L, act_wake, -1);
        uint64_t deadline = never ? PROKIO_BACKEND_DEADLINE_NEVER : deadline_in(&L, 10000);
        struct rescue r;
        rescue_start(&r, &L, 5000);
        lp_wait(&L, deadline);
        uint64_t t_ret = mono_ns();
        bool rescued = rescue_stop(&r);
        actor_join(&a);
        bool acted = atomic_load(&a.acted);
        EXPECT(acted, "wait(%s) returned before the other thread's wake", never ? "NEVER" : "10 s");
        EXPECT(!rescued, "wait(%s) did not return within 5 s of a wake from another thread",
               never ? "NEVER" : "10 s");
        if (acted && !rescued && t_ret > a.acted_ns &&
            ns_to_ms((int64_t)(t_ret - a.acted_ns)) > worst_ms)
            worst_ms = ns_to_ms((int64_t)(t_ret - a.acted_ns));
        blocked += a.saw_blocked;
    }
    diag("%u/%u wakes landed while the loop thread was seen asleep in wait; slowest return "
         "%.3f ms after the wake",
         blocked, rounds + 1, worst_ms);
    EXPECT(blocked > 0 || thread_state(my_tid()) == '?',
           "the loop thread was never seen asleep in wait(): the check could not exercise a "
           "blocked wait");
    lp_close(&L);
}

static void *wake_n_main(void *p)
{
    struct lp *L = p;
    for (int i = 0; i < 1000; i++)
        lp_wake(L);
    return NULL;
}

static void check_wake_coalesce(void)
{
    struct lp L;
    if (lp_open(&L, 0, 1) != 0)
        return;
    for (int round = 0; round < 2; round++) {
        const char *who = round == 0 ? "the loop thread" : "another thread";
        if (round == 0) {
            for (int i = 0; i < 1000; i++)
                lp_wake(&L);
        } else {
            pthread_t th;
            pthread_create(&th, NULL, wake_n_main, &L);
            pthread_join(th, NULL);
        }
        bool returned = wait_never(&L, 2000);
        EXPECT(returned, "1000 wakes from %s, then wait(NEVER): did not return", who);
        uint64_t deadline = deadline_in(&L, 20);
        lp_wait(&L, deadline);
        EXPECT(lp_now(&L) >= deadline,
               "after 1000 wakes from %s and one wait, the next wait(now+20ms) returned "
               "early: wakes stayed pending",
               who);
    }
    lp_close(&L);
}

static atomic_int g_sigusr1;

static void on_usr1(int sig)
{
    (void)sig;
    atomic_fetch_add(&g_sigusr1, 1);
}

struct interrupter {
    struct lp *L;
    pthread_t target;
    atomic_bool stop;
    unsigned sent;
};

static void *interrupter_main(void *p)
{
    struct interrupter *in = p;
    while (in->sent < 5 && !atomic_load(&in->stop)) {
        if (!wait_until_blocked(in->L, 500))
            break;
        if (atomic_load(&in->stop))
            break;
        int before = atomic_load(&g_sigusr1);
        pthread_kill(in->target, SIGUSR1);
        in->sent++;
        uint64_t end = mono_ns() + 1000 * NS_PER_MS;
        while (atomic_load(&g_sigusr1) == before && mono_ns() < end)
            pause_us(100);
    }
    return NULL;
}

static void check_wait_eintr(void)
{
    struct lp L;
    if (lp_open(&L, 0, 1) != 0)
        return;
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1; /* no SA_RESTART: the backend's system call fails with EINTR */
    sigaction(SIGUSR1, &sa, &old);
    atomic_store(&g_sigusr1, 0);
    struct interrupter in = {.L = &L, .target = pthread_self()};
    pthread_t th;
    pthread_create(&th, NULL, interrupter_main, &in);
    uint64_t deadline = deadline_in(&L, 150);
    int rc = lp_wait(&L, deadline);
    while (lp_now(&L) < deadline) /* early returns are flagged by lp_wait */
        rc = lp_wait(&L, deadline);
    atomic_store(&in.stop, true);
    pthread_join(th, NULL);
    sigaction(SIGUSR1, &old, NULL);
    int got = atomic_load(&g_sigusr1);
    EXPECT(rc >= 0, "wait interrupted by signals returned %d (%s)", rc, err_name(rc));
    diag("%d signals delivered while the loop waited", got);
    EXPECT(got > 0, "no signal reached the loop thread during its wait: nothing was tested");
    lp_close(&L);
}

/* ------------------------------------------------------------------------ */
/* Checks: readiness                                                         */

static void check_ready_writable(void)
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

static void check_ready_readable(void)
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

static void check_ready_level_or_edge(void)
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

static void check_ready_writable_again(void)
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

static void check_ready_interest_off(void)
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

static void check_ready_peer_closed(void)
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

static void check_close_then_reuse(void)
{
    struct lp L;
    if (lp_open(&L, 0, 1) != 0)
        return;
    char b[64];
    int sv[2], old0;
    struct tw w, never, off;
    if (!make_pair(sv))
        goto out;
    old0 = sv[0];
    if (tw_init(&L, &w, sv[0]) != 0 || tw_update(&w, PROKIO_BACKEND_READABLE) != 0) {
        fail("could not set up a watch");
        goto out;
    }
    put(sv[1], "pending");
    /* A duplicate keeps the open file alive after close(fd), as a forked
     * child or a dup() elsewhere in the program would: a backend that did not
     * really stop watching would go on reporting it. */
    int dupfd = dup(sv[0]);
    tw_close(&w);
    close_fd(&sv[0]);
    unsigned rep = quiet(&L, 20);
    put(sv[1], "more");
    rep += quiet(&L, 20);
    EXPECT(rep == 0, "watch_close then close(fd) with data pending: %u reports followed", rep);
    close_fd(&dupfd);
    close_fd(&sv[1]);

    /* The same descriptor number again, with a new watch at a new address:
     * stale state of the old one must not show through. */
    if (!make_pair(sv))
        goto out;
    if (sv[0] != old0 && sv[1] != old0)
        diag("note: the descriptor number was not reused (%d, then %d/%d)", old0, sv[0], sv[1]);
    if (sv[1] == old0) {
        int t = sv[0];
        sv[0] = sv[1];
        sv[1] = t;
    }
    if (tw_init(&L, &w, sv[0]) != 0 || tw_update(&w, PROKIO_BACKEND_READABLE) != 0) {
        fail("could not set up a watch on the reused descriptor");
        goto out;
    }
    rep = quiet(&L, 20);
    EXPECT(rep == 0, "reused descriptor, nothing to read: expected no report, got %s",
           ev_str(w.got, b));
    put(sv[1], "new");
    EXPECT(wait_for(&w, PROKIO_BACKEND_READABLE, 2000),
           "reused descriptor: READABLE not reported within 2 s");
    tw_close(&w);

    /* Closing watches that never had interest, or have none now. */
    if (tw_init(&L, &never, sv[0]) == 0)
        tw_close(&never);
    else
        fail("a second watch_init on a descriptor after watch_close failed");
    if (tw_init(&L, &off, sv[0]) == 0) {
        tw_update(&off, PROKIO_BACKEND_READABLE);
        tw_update(&off, 0);
        tw_close(&off);
    }
    close_fd(&sv[0]);
    close_fd(&sv[1]);
    rep = quiet(&L, 20);
    EXPECT(rep == 0, "after closing every watch: %u reports", rep);
out:
    lp_close(&L);
}

#define PENDING_N 64

static void check_close_pending(void)
{
    struct lp L;
    if (lp_open(&L, 0, 1) != 0)
        return;
    static int sv[PENDING_N][2];
    static struct tw w[PENDING_N];
    int n = 0;
    for (; n < PENDING_N; n++) {
        if (!make_pair(sv[n]))
            break;
        if (tw_init(&L, &w[n], sv[n][0]) != 0 ||
            tw_update(&w[n], PROKIO_BACKEND_READABLE | PROKIO_BACKEND_WRITABLE) != 0) {
            fail("could not set up watch %d", n);
            close_fd(&sv[n][0]);
            close_fd(&sv[n][1]);
            break;
        }
        put(sv[n][1], "p");
    }
    /* One wait(0) may deliver some of the events; then close every watch,
     * delivered or not, and its descriptors, and wait again. */
    lp_wait(&L, 0);
    unsigned delivered = 0;
    for (int i = 0; i < n; i++) {
        delivered += w[i].nreports > 0;
        tw_close(&w[i]);
        close_fd(&sv[i][0]);
        close_fd(&sv[i][1]);
    }
    diag("%u of %d ready watches reported by one wait(0) before all were closed", delivered, n);
    unsigned rep = quiet(&L, 20);
    rep += quiet(&L, 20);
    EXPECT(rep == 0, "closed watches with undelivered events: %u reports followed", rep);
    lp_close(&L);
}

static void check_bad_descriptors(void)
{
    struct lp L;
    if (lp_open(&L, 0, 1) != 0)
        return;
    int sv[2];
    if (make_pair(sv)) {
        int fd = sv[0];
        close_fd(&sv[0]);
        close_fd(&sv[1]);
        struct tw w;
        int rc = tw_init(&L, &w, fd);
        if (rc < 0) {
            diag("watch_init(closed fd) = %d (%s)", rc, err_name(rc));
        } else {
            rc = tw_update(&w, PROKIO_BACKEND_READABLE);
            if (rc < 0)
                diag("watch_update(closed fd) = %d (%s)", rc, err_name(rc));
            else
                EXPECT(wait_for(&w, PROKIO_BACKEND_ERROR | PROKIO_BACKEND_HANGUP, 200),
                       "a closed descriptor was accepted by watch_init and watch_update and "
                       "never reported as ERROR");
            tw_close(&w);
        }
    }
    char path[] = "/tmp/prokio-backend-check-XXXXXX";
    int fd = mkstemp(path);
    if (fd >= 0) {
        unlink(path);
        struct tw w;
        int rc = tw_init(&L, &w, fd);
        if (rc == 0) {
            rc = tw_update(&w, PROKIO_BACKEND_READABLE);
            if (rc == 0)
                lp_wait(&L, 0);
            tw_close(&w);
        }
        diag("regular file: %s %d (%s)", rc == 0 ? "accepted," : "refused with", rc, err_name(rc));
        close(fd);
    }
    lp_close(&L);
}

#define MANY_N 200

static void check_many_watches(void)
{
    struct lp L;
    if (lp_open(&L, 0, 1) != 0)
        return;
    static int sv[MANY_N][2];
    static struct tw w[MANY_N];
    int n = 0;
    for (; n < MANY_N; n++) {
        if (!make_pair(sv[n]))
            break;
        if (tw_init(&L, &w[n], sv[n][0]) != 0) {
            fail("watch_init failed for watch %d", n);
            close_fd(&sv[n][0]);
            close_fd(&sv[n][1]);
            break;
        }
        /* Half get interest before their data arrives, half after. */
        int rc = n % 2 == 0 ? tw_update(&w[n], PROKIO_BACKEND_READABLE) : 0;
        put(sv[n][1], "m");
        if (n % 2 == 1)
            rc = tw_update(&w[n], PROKIO_BACKEND_READABLE);
        EXPECT(rc == 0, "watch_update(READABLE) of watch %d: expected 0, got %d (%s)", n, rc,
               err_name(rc));
    }
    uint64_t deadline = deadline_in(&L, 5000 * g_scale);
    unsigned waits = 0;
    int seen = 0;
    while (lp_now(&L) < deadline) {
        lp_wait(&L, deadline);
        waits++;
        seen = 0;
        for (int i = 0; i < n; i++)
            seen += (w[i].got & PROKIO_BACKEND_READABLE) != 0;
        if (seen == n)
            break;
    }
    EXPECT(n == MANY_N, "could only set up %d of %d watches", n, MANY_N);
    EXPECT(seen == n, "%d of %d readable watches reported within 5 s", seen, n);
    diag("%d readable watches reported in %u waits", seen, waits);
    for (int i = 0; i < n; i++) {
        tw_close(&w[i]);
        close_fd(&sv[i][0]);
        close_fd(&sv[i][1]);
    }
    lp_close(&L);
}

/* ------------------------------------------------------------------------ */
/* Checks: wake storm                                                        */

#define STORM_THREADS 4

struct storm {
    struct lp *L;
    unsigned per_thread;
    atomic_int finished;
    atomic_uint_fast64_t last_wake_ns;
};

static void *storm_main(void *p)
{
    struct storm *s = p;
    for (unsigned i = 0; i < s->per_thread; i++)
        lp_wake(s->L);
    atomic_store(&s->last_wake_ns, mono_ns());
    atomic_fetch_add(&s->finished, 1);
    /* After the count: a loop that saw the count short is woken once more. */
    lp_wake(s->L);
    return NULL;
}

static void check_wake_storm(void)
{
    struct lp L;
    if (lp_open(&L, 0, 1) != 0)
        return;
    struct storm s = {.L = &L, .per_thread = g_quick ? 100000 : 250000};
    pthread_t th[STORM_THREADS];
    uint64_t t0 = mono_ns();
    for (int i = 0; i < STORM_THREADS; i++)
        pthread_create(&th[i], NULL, storm_main, &s);
    unsigned returns = 0;
    while (atomic_load(&s.finished) < STORM_THREADS) {
        uint64_t deadline = deadline_in(&L, 2000 * g_scale);
        uint64_t started = mono_ns();
        lp_wait(&L, deadline);
        returns++;
        if (lp_now(&L) < deadline)
            continue;
        /* Timed out: lost, unless the last wake came too late to matter. */
        uint64_t ended = mono_ns(), last = atomic_load(&s.last_wake_ns);
        if (atomic_load(&s.finished) < STORM_THREADS ||
            (last > started && last + 1000 * NS_PER_MS < ended)) {
            fail("lost wakeup: a wait during the storm ran to its %u ms deadline", 2000 * g_scale);
            break;
        }
    }
    for (int i = 0; i < STORM_THREADS; i++)
        pthread_join(th[i], NULL);
    uint64_t took = mono_ns() - t0;
    unsigned total = STORM_THREADS * s.per_thread;
    diag("%u wakes from %d threads in %.1f ms; the loop's wait returned %u times", total,
         STORM_THREADS, ns_to_ms((int64_t)took), returns);
    /* Every storm wake is older than this wait's start: afterwards none may
     * be pending. */
    lp_wait(&L, 0);
    uint64_t deadline = deadline_in(&L, 20);
    lp_wait(&L, deadline);
    EXPECT(lp_now(&L) >= deadline, "after the storm: a stale wake ended wait(now+20ms) early");
    struct actor a;
    actor_start(&a, &L, act_wake, -1);
    bool returned = wait_never(&L, 5000);
    actor_join(&a);
    EXPECT(returned, "after the storm: one more wake did not end wait(NEVER) within 5 s");
    EXPECT(atomic_load(&a.acted), "after the storm: wait(NEVER) returned before the last wake");
    lp_close(&L);
}

/* ------------------------------------------------------------------------ */
/* Checks: the end                                                           */

static void check_host_balance(void)
{
    long live = atomic_load(&g_allocs_live);
    EXPECT(live == 0,
           "host->alloc blocks not given back with host->free after every loop_fini: "
           "%ld",
           live);
}

static void check_unload(void)
{
    if (dlclose(g_dl) != 0)
        fail("dlclose: %s", dlerror());
    g_dl = NULL;
}

/* ------------------------------------------------------------------------ */
/* The runner                                                                */

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
    {"negotiation: entry(core 0.9) and entry(core 2.0) return PROKIO_EABI",
     check_negotiate_other_major, NEED_LOADED, 20},
    {"negotiation: entry(core 1.0) returns a valid 1.0 vtable", check_negotiate_current,
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
    {"readiness: WRITABLE again after a full send buffer drains", check_ready_writable_again,
     NEED_WAIT, 20},
    {"readiness: watch_update(0) silences; re-enabling reports pending data",
     check_ready_interest_off, NEED_WAIT, 20},
    {"readiness: the peer's close is reported", check_ready_peer_closed, NEED_WAIT, 20},
    {"watch_close then close(fd): nothing reported; a reused descriptor is clean",
     check_close_then_reuse, NEED_WAIT, 20},
    {"watch_close of watches with undelivered events", check_close_pending, NEED_WAIT, 20},
    {"a closed descriptor is refused or reported; a regular file does no harm",
     check_bad_descriptors, NEED_WAIT, 20},
    {"200 readable watches are all reported", check_many_watches, NEED_WAIT, 30},
    {"wake storm: 4 threads wake while the loop waits; the last wake still lands", check_wake_storm,
     NEED_WAIT, 120},
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

static unsigned timeout_scale(void)
{
    unsigned scale = 1;
    const char *env = getenv("PROKIO_BACKEND_CHECK_TIMEOUT_SCALE");
    const char *pre = getenv("LD_PRELOAD");
    if (pre && (strstr(pre, "vgpreload") || strstr(pre, "valgrind")))
        scale = 10;
#ifdef UNDER_SANITIZER
    scale = 3;
#endif
    if (env && *env) {
        char *end;
        unsigned long v = strtoul(env, &end, 10);
        if (*end == '\0' && v >= 1 && v <= 1000)
            scale = (unsigned)v;
    }
    return scale;
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
        g_diag_len = 0;
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
