// tests/headers/cxx-api.cc: the installed headers from C++.
//
// Includes every installed header, as a C++ program would, and calls a few
// functions through them: a runtime, a task with a sleep written with the
// coroutine macros, a oneshot, the error table, the backend reports. If a
// header used a C-only construct (_Alignas, _Static_assert, designated
// initialisers), this file would not compile. Output is TAP.
#include <prokio.h>
#include <prokio/backend.h>
#include <prokio/backend_info.h>

#include <cstdio>
#include <cstring>

namespace
{

int failures = 0;
int count = 0;

void ok(bool cond, const char *what)
{
    ++count;
    std::printf("%sok %d - %s\n", cond ? "" : "not ", count, what);
    if (!cond) {
        ++failures;
        std::printf("# %s\n", prokio_last_error());
    }
}

struct nap {
    int co;
    int polls;
    prokio_sleep_t sleep;
};

extern "C" int nap_poll(void *frame, prokio_cx_t *cx)
{
    nap *n = static_cast<nap *>(frame);
    n->polls++;
    PROKIO_BEGIN(&n->co);
    prokio_sleep_init(&n->sleep, PROKIO_MS(1));
    PROKIO_AWAIT(&n->co, prokio_sleep_poll(&n->sleep, cx));
    PROKIO_END(&n->co, 42);
}

struct receiver {
    int co;
    prokio_oneshot_rx_t *rx;
    int value;
};

extern "C" int receiver_poll(void *frame, prokio_cx_t *cx)
{
    receiver *r = static_cast<receiver *>(frame);
    return prokio_oneshot_recv_poll(r->rx, &r->value, cx);
}

} // namespace

int main()
{
    std::printf("1..7\n");
    prokio_runtime_options_t opts = PROKIO_RUNTIME_OPTIONS_INIT;
    opts.workers = 1;
    prokio_runtime_t *rt = nullptr;
    ok(prokio_runtime_new(&rt, &opts) == 0, "prokio_runtime_new");
    if (rt == nullptr)
        return 1;

    nap n = nap();
    ok(prokio_runtime_block_on(rt, nap_poll, &n, sizeof n, nullptr) == 42 && n.polls >= 2,
       "a coroutine task with a sleep returns its result");

    prokio_oneshot_tx_t *tx = nullptr;
    receiver r = receiver();
    ok(prokio_oneshot_new(&tx, &r.rx, sizeof(int), NULL, 0) == 0, "prokio_oneshot_new");
    int seven = 7;
    ok(prokio_oneshot_send(tx, &seven) == 0 &&
           prokio_runtime_block_on(rt, receiver_poll, &r, sizeof r, nullptr) == 0 && r.value == 7,
       "a value through a oneshot");
    prokio_oneshot_rx_release(r.rx);

    prokio_backend_report_t report = prokio_backend_report_t();
    report.size = sizeof report;
    prokio_runtime_backend_report(rt, &report);
    ok(report.abi_version == PROKIO_BACKEND_ABI_VERSION &&
           std::strcmp(report.name, prokio_runtime_backend_name(rt)) == 0,
       "the backend report");

    ok(std::strcmp(prokio_err_name(PROKIO_EINVAL), "EINVAL") == 0, "the error table");
    ok(prokio_runtime_free(rt) == 0, "prokio_runtime_free");
    return failures != 0;
}
