/* backend-check.h: what the parts of prokio-backend-check share. Internal to
 * the checker; a backend author never includes it. Like the rest of the
 * checker it builds on <prokio/backend.h> alone. */
#ifndef PROKIO_BACKEND_CHECK_H
#define PROKIO_BACKEND_CHECK_H

#include <prokio/backend.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define NS_PER_MS UINT64_C(1000000)
#define ALL_EVENTS                                                                                 \
    (PROKIO_BACKEND_READABLE | PROKIO_BACKEND_WRITABLE | PROKIO_BACKEND_ERROR |                    \
     PROKIO_BACKEND_HANGUP | PROKIO_BACKEND_RDHUP)
#define MAX_LOOPS 8

/* Run state (prokio-backend-check.c) ------------------------------------- */

extern const char *g_path;
extern bool g_quick;
extern unsigned g_scale;
extern void *g_dl;
extern prokio_backend_entry_fn g_entry;
extern const prokio_backend_vtable_t *g_vt;
extern bool g_loaded;
/* The check being run and its TAP number, for the watchdog and the crash
 * handler. */
extern const char *volatile g_current;
extern volatile size_t g_current_no;

static inline uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline double ns_to_ms(int64_t ns)
{
    return (double)ns / 1e6;
}

static inline pid_t my_tid(void)
{
    return (pid_t)syscall(SYS_gettid);
}

/* Diagnostics (diag.c) ---------------------------------------------------- */

extern pthread_mutex_t g_diag_mu;
extern char g_diag[32768];
extern size_t g_diag_len;
extern atomic_bool g_failed;
extern atomic_uint g_violations; /* contract violations in the current check */
extern const char *g_skipped;    /* why the current check does not apply, or NULL */

__attribute__((format(printf, 1, 2))) void diag(const char *fmt, ...);
__attribute__((format(printf, 1, 2))) void fail(const char *fmt, ...);
__attribute__((format(printf, 1, 2))) void violation(const char *fmt, ...);
void skip(const char *why);

#define EXPECT(cond, ...)                                                                          \
    do {                                                                                           \
        if (!(cond))                                                                               \
            fail(__VA_ARGS__);                                                                     \
    } while (0)

const char *err_name(int err);
const char *ev_str(unsigned ev, char buf[64]);

/* Watchdog and crash reports (watchdog.c) --------------------------------- */

void install_handlers(void);
__attribute__((format(printf, 1, 2), noreturn)) void bail_out_check(const char *fmt, ...);
void watchdog_arm(unsigned seconds);
unsigned timeout_scale(void);

/* Guarded memory (guarded.c) ---------------------------------------------- */

void *guarded_alloc(size_t size);
bool guarded_intact(const void *mem, size_t size);
void guarded_free(void *mem, size_t size);

/* The host table (host.c) ------------------------------------------------- */

enum { HOT_NONE, HOT_WAIT, HOT_WAKE };
extern _Thread_local int tl_hot;
extern atomic_long g_allocs_live;
extern atomic_uint g_logs;
extern prokio_backend_host_t g_host;

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
    unsigned completions;            /* op_complete calls during the current wait */
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
extern _Atomic(struct lp *) g_live[MAX_LOOPS];

/* Loops and watches as the core drives them (loop.c) ---------------------- */

int lp_open(struct lp *L, uint32_t worker_index, uint32_t worker_count);
void lp_close(struct lp *L);
uint64_t lp_now(struct lp *L);
void lp_wake(struct lp *L);
int lp_wait(struct lp *L, uint64_t deadline_ns);
uint64_t deadline_in(struct lp *L, uint64_t ms);
int tw_init(struct lp *L, struct tw *w, int fd);
int tw_update(struct tw *w, unsigned events);
void tw_close(struct tw *w);
void tw_reset(struct tw *w);
bool wait_for(struct tw *w, unsigned mask, uint64_t limit_ms);
unsigned quiet(struct lp *L, uint64_t ms);

/* Helper threads (threads.c) ---------------------------------------------- */

char thread_state(pid_t tid);
void pause_us(long us);
bool wait_until_blocked(struct lp *L, uint64_t limit_ms);

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

void act_wake(struct actor *a);
void act_write(struct actor *a);
void actor_start(struct actor *a, struct lp *L, void (*fn)(struct actor *), int fd);
void actor_join(struct actor *a);

/* Wakes the loop again if a wait that must return has not returned in time,
 * so that a lost wakeup fails the check instead of hanging the run: it also
 * writes once to poke_fd (the peer of a socket the loop watches), which ends
 * the wait even when every wake is lost; when neither ends it, it ends the
 * run with the check's failure (bail_out_check). Armed around each wait that
 * must return. */
struct rescue {
    pthread_t th;
    struct lp *L;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
    atomic_bool fired;
    uint64_t limit_ms;
    int poke_fd;       /* or -1 */
    uint64_t armed_at; /* 0: disarmed; the rest is under mu as well */
    unsigned gen;      /* rescue_arm calls */
    uint64_t acted_at;
    uint64_t fired_at;
    unsigned wakes;
};

void rescue_init(struct rescue *r, struct lp *L, uint64_t limit_ms, int poke_fd);
void rescue_arm(struct rescue *r);
bool rescue_disarm(struct rescue *r);
void rescue_fini(struct rescue *r);
/* rescue_init and rescue_arm; rescue_disarm and rescue_fini. */
void rescue_start(struct rescue *r, struct lp *L, uint64_t limit_ms);
bool rescue_stop(struct rescue *r);
bool wait_never(struct lp *L, uint64_t limit_ms);

/* Descriptors (fixtures.c) ------------------------------------------------ */

bool make_pair(int sv[2]);
/* A loopback TCP connection: sv[0] accepted (non-blocking), sv[1] its peer. */
bool make_tcp_pair(int sv[2]);
void close_fd(int *fd);
size_t drain(int fd);
size_t fill(int fd);
void put(int fd, const char *s);
int count_fds(void);

/* One loop on this thread and one socketpair watched on sv[0]. */
struct fx {
    struct lp L;
    int sv[2];
    struct tw w;
};

bool fx_open(struct fx *f, unsigned interest);
/* The same on a loopback TCP connection when tcp is true. */
bool fx_open_tcp(struct fx *f, unsigned interest, bool tcp);
void fx_close(struct fx *f);

/* The checks ------------------------------------------------------------- */

/* check-load.c */
void check_dlopen(void);
void check_exports(void);
void check_negotiate_newer_minor(void);
void check_negotiate_oldest_minor(void);
void check_negotiate_other_major(void);
void check_negotiate_current(void);
void check_host_balance(void);
/* check-ops.c: native operations (ABI 1.1); host->op_complete is its. */
void check_ops_exactly_once(void);
void host_op_complete_check(prokio_backend_host_loop_t *host_loop, prokio_backend_op_t *op);
void check_unload(void);

/* check-wait.c */
void check_loop_on_thread(void);
void check_two_loops(void);
void check_now_ns(void);
void check_wait_zero(void);
void check_wait_deadline(void);
void check_wait_far_deadline(void);
void check_wake_sticky(void);
void check_wake_cross_thread(void);
void check_wake_coalesce(void);
void check_wait_eintr(void);

/* check-race.c */
void check_wake_race(void);

/* check-ready.c */
void check_ready_writable(void);
void check_ready_readable(void);
void check_ready_level_or_edge(void);
void check_ready_edge_no_repeat(void);
void check_ready_rdhup(void);
void check_ready_rdhup_reset(void);
void check_ready_writable_again(void);
void check_ready_interest_off(void);
void check_ready_peer_closed(void);

/* check-watch.c */
void check_close_then_reuse(void);
void check_close_pending(void);
void check_bad_descriptors(void);
void check_unwatchable(void);
void check_many_watches(void);

/* check-storm.c */
void check_wake_storm(void);

#endif
