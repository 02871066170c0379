/* tests/wasm/js-wake.c: a task woken from a JS callback. The task clones
 * its waker and hands it to JS, which keeps it as a number; a setTimeout
 * callback, a promise reaction (a microtask) or a setImmediate callback
 * later calls an exported C function with it, which calls
 * prokio_waker_wake (or wake_by_ref then release). The task must be polled
 * exactly twice (once pending, once after the wake) and see the flag the
 * JS callback set through C. Linked without -sASYNCIFY; the root task ends
 * the program through prokio_runtime_run_main. Output: TAP. */
#include <stdio.h>

#include <prokio.h>

#include <emscripten.h>

enum { VIA_TIMEOUT, VIA_PROMISE, VIA_IMMEDIATE, NVIA };
static const char *const via_name[NVIA] = {"setTimeout", "a promise reaction",
                                           "a macrotask (setImmediate or MessageChannel)"};

/* Called from JS with the waker JS held: marks the flag, then wakes. */
EMSCRIPTEN_KEEPALIVE void js_wake_test_fire(prokio_waker_t *w, int *flag, int by_ref);
void js_wake_test_fire(prokio_waker_t *w, int *flag, int by_ref)
{
    *flag += 1;
    if (by_ref) {
        prokio_waker_wake_by_ref(w);
        prokio_waker_release(w);
    } else {
        prokio_waker_wake(w);
    }
}

/* Arms a JS callback that calls js_wake_test_fire later. */
EM_JS(void, js_wake_later, (prokio_waker_t * w, int *flag, int by_ref, int via), {
    var fire = function()
    {
        _js_wake_test_fire(w, flag, by_ref);
    };
    if (via == 0)
        setTimeout(fire, 5);
    else if (via == 1)
        Promise.resolve().then(fire);
    else if (typeof setImmediate == 'function')
        setImmediate(fire);
    else {
        /* Browsers have no setImmediate: a MessageChannel message is the
         * macrotask they offer. */
        var ch = new MessageChannel();
        ch.port1.onmessage = function()
        {
            ch.port1.close();
            fire();
        };
        ch.port2.postMessage(0);
    }
});

struct sleeper {
    int polls;
    int flag;
    int by_ref;
    int via;
};

static int sleeper_poll(void *frame, prokio_cx_t *cx)
{
    struct sleeper *s = frame;
    s->polls++;
    if (s->polls == 1) {
        js_wake_later(prokio_waker_clone(prokio_cx_waker(cx)), &s->flag, s->by_ref, s->via);
        return PROKIO_PENDING;
    }
    return s->flag == 1 ? 0 : PROKIO_EIO; /* polled without the JS wake */
}

struct root {
    int k;
    prokio_task_t *h;
};

static int root_poll(void *frame, prokio_cx_t *cx)
{
    struct root *r = frame;
    for (; r->k < 2 * NVIA; r->k++) {
        if (r->h == NULL) {
            struct sleeper s = {.by_ref = r->k / NVIA, .via = r->k % NVIA};
            if (prokio_spawn_local(&r->h, sleeper_poll, &s, sizeof s, NULL, cx) < 0) {
                printf("Bail out! prokio_spawn_local: %s\n", prokio_last_error());
                return 1;
            }
        }
        int rc = prokio_task_join_poll(r->h, cx);
        if (rc == PROKIO_PENDING)
            return PROKIO_PENDING;
        struct sleeper *s = prokio_task_frame(r->h);
        printf("%s %d - woken by prokio_waker_%s from %s: %d polls, flag %d, result %d\n",
               rc == 0 && s->polls == 2 && s->flag == 1 ? "ok" : "not ok", r->k + 1,
               s->by_ref ? "wake_by_ref" : "wake", via_name[s->via], s->polls, s->flag, rc);
        if (rc != 0 || s->polls != 2)
            return 1;
        prokio_task_release(r->h);
        r->h = NULL;
    }
    printf("1..%d\n", 2 * NVIA);
    return 0;
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
