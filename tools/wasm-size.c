/* tools/wasm-size.c: the smallest useful Prokio program on WebAssembly,
 * to measure what the runtime costs in code size (`emmake make wasm-size`
 * in the wasm build prints the figures, tools/wasm.inc).
 *
 * Built twice, with the same emcc flags and without -sSINGLE_FILE so that
 * the .wasm can be weighed:
 *   - as is: a root task sleeps 1 ms on the runtime's timer and returns 0,
 *     which ends the program (prokio_runtime_run_main);
 *   - with -DWASM_SIZE_PLAIN: the same behaviour without Prokio, a plain
 *     main that waits 1 ms on a JS timer (emscripten_async_call) and exits.
 * The difference between the two .wasm files is the runtime's cost. */
#include <stdlib.h>

#ifdef WASM_SIZE_PLAIN
#include <emscripten.h>

static void done(void *arg)
{
    (void)arg;
    exit(0);
}

int main(void)
{
    emscripten_async_call(done, NULL, 1);
    return 0;
}
#else
#include <prokio.h>

struct nap {
    int co;
    prokio_sleep_t sleep;
};

static int nap_poll(void *frame, prokio_cx_t *cx)
{
    struct nap *n = frame;
    PROKIO_BEGIN(&n->co);
    prokio_sleep_init(&n->sleep, PROKIO_MS(1));
    PROKIO_AWAIT(&n->co, prokio_sleep_poll(&n->sleep, cx));
    PROKIO_END(&n->co, 0);
}

int main(void)
{
    prokio_runtime_t *rt;
    prokio_runtime_options_t o = PROKIO_RUNTIME_OPTIONS_INIT;
    if (prokio_runtime_new(&rt, &o) < 0)
        return 1;
    return prokio_runtime_run_main(rt, nap_poll, NULL, sizeof(struct nap), NULL);
}
#endif
