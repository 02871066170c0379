/* tests/wasm/starvation.c: the JS event loop is never starved (issue 7,
 * item 5). Run under node and in headless Chromium.
 *
 * A JS interval (setInterval, every 10 ms) counts its ticks while 64 tasks
 * in a ring make a storm of 2,000,000 wakes (more, by 2,000,000 at a time,
 * until it has lasted 150 ms): each poll wakes the next task and waits. The wasm backend drains
 * ready tasks in a microtask with a poll budget and then yields to the macrotask queue, so the
 * interval must keep ticking at close to its rate: the test fails when it ticked fewer than half
 * the times the storm's duration allows, or fewer than MIN_TICKS times (a storm too short to
 * judge). Without the budget or the macrotask yield the storm runs in one go and the interval does
 * not tick at all. The wakes are counted too: every wake must make exactly one poll.
 *
 * Output: TAP, with the tick count, the storm's duration and the wakes. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <prokio.h>

#include <emscripten.h>

enum { RING = 64, WAKES = 2000000, WARMUP_WAKES = 200000, INTERVAL_MS = 10, MIN_TICKS = 3 };

/* A storm shorter than this cannot be judged (a fast machine makes 2M
 * wakes in 30 ms: three ticks at most): it goes on by 2M wakes more until
 * this long has passed. */
#define MIN_STORM_NS PROKIO_MS(150)

/* The interval: a tick count and the longest gap between ticks, read by
 * C; stopped at the end (it would keep node alive). */
EM_JS(void, interval_start, (int ms), {
    var s = {ticks : 0, last : performance.now(), gap : 0};
    s.id = setInterval(
        function() {
            var now = performance.now();
            s.gap = Math.max(s.gap, now - s.last);
            s.last = now;
            s.ticks++;
        },
        ms);
    globalThis.prokioStarvation = s;
});
EM_JS(int, interval_ticks, (void), { return globalThis.prokioStarvation.ticks; });
/* The longest gap since the last call, which starts a new measure. */
EM_JS(double, interval_gap_reset, (void), {
    var s = globalThis.prokioStarvation;
    var g = Math.max(s.gap, performance.now() - s.last);
    s.gap = 0;
    s.last = performance.now();
    return g;
});
EM_JS(void, interval_stop, (void), { clearInterval(globalThis.prokioStarvation.id); });

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Shared by the ring (all on the JS thread: plain variables). */
struct ring {
    prokio_waker_t *wakers[RING]; /* each task's, cloned at its first poll */
    long target;                  /* wakes to issue */
    uint64_t min_end_ns;          /* no end before this (0: none) */
    long wakes;                   /* wakes issued */
    long polls;                   /* polls of ring tasks */
    int started;                  /* tasks that published their waker */
    int stop;
};

struct member {
    struct ring *ring;
    int index;
};

/* Publishes its waker at the first poll; the last one to do so starts the
 * storm by waking task 0. Then each poll wakes the next task and waits,
 * until the ring has issued its target of wakes: then it wakes the next one so the
 * whole ring sees the stop, and ends. */
static int member_poll(void *frame, prokio_cx_t *cx)
{
    struct member *m = frame;
    struct ring *r = m->ring;
    r->polls++;
    if (r->wakers[m->index] == NULL) {
        r->wakers[m->index] = prokio_waker_clone(prokio_cx_waker(cx));
        if (++r->started == RING) {
            r->wakes++;
            prokio_waker_wake_by_ref(r->wakers[0]);
        }
        return PROKIO_PENDING;
    }
    prokio_waker_t *next = r->wakers[(m->index + 1) % RING];
    if (!r->stop && r->wakes >= r->target && now_ns() < r->min_end_ns)
        r->target += WAKES; /* too short to judge yet */
    if (r->stop || r->wakes >= r->target) {
        r->stop = 1;
        prokio_waker_wake_by_ref(next); /* passes the stop on; not counted */
        return 0;
    }
    r->wakes++;
    prokio_waker_wake_by_ref(next);
    return PROKIO_PENDING;
}

struct root {
    int state;
    int round; /* 0: the warm-up, 1: the storm that is measured */
    struct ring *ring;
    prokio_task_t *tasks[RING];
    int joined;
    uint64_t start;
    int ticks_before;
};

/* Judges the measured storm; frees the ring. */
static int check(struct root *s)
{
    struct ring *r = s->ring;
    double ms = (now_ns() - s->start) / 1e6;
    int ticks = interval_ticks() - s->ticks_before;
    double gap = interval_gap_reset();
    interval_stop();
    int fails = 0;

    /* Each wake made one poll: RING first polls, the storm's wakes, and
     * one last poll for each task but the one that saw the count first. */
    long expect = RING + r->wakes + (RING - 1);
    int ok = r->wakes >= WAKES && r->wakes % WAKES == 0 && r->polls == expect;
    fails += !ok;
    printf("%s 1 - %ld wakes in a ring of %d tasks, %ld polls (%ld expected)\n",
           ok ? "ok" : "not ok", r->wakes, RING, r->polls, expect);

    int allowed = (int)(ms / INTERVAL_MS);
    int needed = allowed / 2 > MIN_TICKS ? allowed / 2 : MIN_TICKS;
    ok = ticks >= needed;
    fails += !ok;
    printf("%s 2 - a %d ms JS interval ticked %d times during the %.1f ms storm (%d allowed by "
           "the time, at least %d needed; longest gap %.1f ms)\n",
           ok ? "ok" : "not ok", INTERVAL_MS, ticks, ms, allowed, needed, gap);
    if (!ok)
        printf("# the JS event loop was starved: the drive's budget or its macrotask yield "
               "(core/worker.c, backends/wasm) did not hand control back\n");
    printf("# storm: %ld wakes in %.1f ms, %.1f ns a wake\n", r->wakes, ms, ms * 1e6 / r->wakes);
    return fails ? 1 : 0;
}

static void ring_free(struct ring *r)
{
    for (int i = 0; i < RING; i++)
        prokio_waker_release(r->wakers[i]);
    free(r);
}

/* Two rounds of the same ring: a warm-up of WARMUP_WAKES (the browser
 * compiles the hot wasm code again in the background at first, which
 * competes with the page for the CPU), then the measured storm. */
static int root_poll(void *frame, prokio_cx_t *cx)
{
    struct root *s = frame;
    int rc;
    for (;;) {
        switch (s->state) {
        case 0:
            if (s->round == 0)
                printf("1..2\n");
            s->ring = calloc(1, sizeof *s->ring);
            if (s->ring == NULL) {
                printf("Bail out! no memory\n");
                return 1;
            }
            s->ring->target = s->round == 0 ? WARMUP_WAKES : WAKES;
            s->joined = 0;
            if (s->round == 1) {
                interval_start(INTERVAL_MS);
                s->ticks_before = interval_ticks();
                (void)interval_gap_reset();
                s->start = now_ns();
                s->ring->min_end_ns = s->start + MIN_STORM_NS;
            }
            for (int i = 0; i < RING; i++) {
                struct member m = {s->ring, i};
                rc = prokio_spawn_local(&s->tasks[i], member_poll, &m, sizeof m, NULL, cx);
                if (rc < 0) {
                    printf("Bail out! prokio_spawn_local: %s\n", prokio_last_error());
                    return 1;
                }
            }
            s->state = 1;
            /* fall through */
        case 1:
            while (s->joined < RING) {
                rc = prokio_task_join_poll(s->tasks[s->joined], cx);
                if (rc == PROKIO_PENDING)
                    return PROKIO_PENDING;
                if (rc != 0)
                    printf("# task %d ended with %d\n", s->joined, rc);
                prokio_task_release(s->tasks[s->joined]);
                s->joined++;
            }
            rc = s->round == 1 ? check(s) : 0;
            ring_free(s->ring);
            s->ring = NULL;
            if (s->round == 1)
                return rc;
            s->round = 1;
            s->state = 0;
            break;
        default:
            return 1;
        }
    }
}

int main(void)
{
    prokio_runtime_t *rt;
    if (prokio_runtime_new(&rt, NULL) < 0) {
        printf("Bail out! prokio_runtime_new: %s\n", prokio_last_error());
        return 1;
    }
    return prokio_runtime_run_main(rt, root_poll, NULL, sizeof(struct root), NULL);
}
