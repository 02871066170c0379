/* Checks: native operations (backend ABI 1.1), for a backend whose loops
 * keep CAP_OP_RECV and CAP_OP_SEND. Each op is completed exactly once,
 * through host->op_complete, from inside wait on the loop thread; a
 * cancelled op still completes once; bytes a cancelled recv got are
 * reported, not hidden behind PROKIO_ECANCELED. */
#include "backend-check.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define CHK_OP_MAGIC 0x6f70636bu

struct chk_op {
    prokio_backend_op_t op; /* first: the backend hands this address back */
    uint32_t magic;
    unsigned completions;
    char buf[16];
};

void host_op_complete_check(prokio_backend_host_loop_t *host_loop, prokio_backend_op_t *op)
{
    struct lp *L = (struct lp *)host_loop;
    struct chk_op *c = (struct chk_op *)op;
    if (!pthread_equal(pthread_self(), L->thread)) {
        violation("op_complete called from a thread other than the loop thread");
        return;
    }
    if (!atomic_load_explicit(&L->in_wait, memory_order_relaxed))
        violation("op_complete called outside wait()");
    if (c->magic != CHK_OP_MAGIC) {
        violation("op_complete for an op the checker never submitted (%p)", (void *)op);
        return;
    }
    c->completions++;
    L->completions++;
}

/* Waits (up to limit_ms) until c has completed. */
static bool wait_done(struct lp *L, struct chk_op *c, uint64_t limit_ms)
{
    uint64_t end = deadline_in(L, limit_ms);
    while (c->completions == 0 && lp_now(L) < end)
        lp_wait(L, end);
    return c->completions > 0;
}

static void op_init(struct chk_op *c, uint32_t kind, int fd)
{
    memset(c, 0, sizeof *c);
    c->magic = CHK_OP_MAGIC;
    c->op.size = sizeof c->op;
    c->op.kind = kind;
    c->op.fd = fd;
    c->op.buf = c->buf;
    c->op.len = sizeof c->buf;
}

void check_ops_exactly_once(void)
{
    const uint64_t need = PROKIO_BACKEND_CAP_OP_RECV | PROKIO_BACKEND_CAP_OP_SEND;
    if ((g_vt->caps & need) != need || PROKIO_BACKEND_ABI_MINOR_OF(g_vt->abi_version) < 1) {
        skip("no native recv and send (CAP_OP_RECV, CAP_OP_SEND, ABI 1.1)");
        return;
    }
    struct lp L;
    if (lp_open(&L, 0, 1) != 0)
        return;
    if ((L.caps & need) != need) {
        skip("this loop turned native recv and send off (loop_init cleared the bits)");
        lp_close(&L);
        return;
    }
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0) {
        fail("socketpair: %s", strerror(errno));
        lp_close(&L);
        return;
    }
    struct chk_op *c = calloc(3, sizeof *c);
    if (!c) {
        fail("out of memory");
        goto out;
    }
    /* A recv with nothing to read waits, then gets what the peer sends. */
    op_init(&c[0], PROKIO_BACKEND_OP_RECV, sv[0]);
    int rc = g_vt->op_submit(L.mem, &c[0].op);
    EXPECT(rc == 0, "op_submit(RECV): expected 0, got %d (%s)", rc, err_name(rc));
    if (rc != 0)
        goto out;
    quiet(&L, 20);
    EXPECT(c[0].completions == 0, "a recv with nothing to read completed (result %d)",
           c[0].op.result);
    put(sv[1], "hello");
    EXPECT(wait_done(&L, &c[0], 2000), "a recv did not complete within 2 s after the peer wrote");
    EXPECT(c[0].op.result == 5 && memcmp(c[0].buf, "hello", 5) == 0,
           "recv: expected 5 bytes \"hello\", got result %d", c[0].op.result);
    /* A recv cancelled while it waits completes once, with ECANCELED. */
    op_init(&c[1], PROKIO_BACKEND_OP_RECV, sv[0]);
    rc = g_vt->op_submit(L.mem, &c[1].op);
    EXPECT(rc == 0, "op_submit(RECV): expected 0, got %d (%s)", rc, err_name(rc));
    if (rc != 0)
        goto out;
    quiet(&L, 10);
    rc = g_vt->op_cancel(L.mem, &c[1].op);
    EXPECT(rc == 0 || rc < 0, "op_cancel returned %d", rc);
    EXPECT(wait_done(&L, &c[1], 2000), "a cancelled recv did not complete within 2 s");
    EXPECT(c[1].op.result == PROKIO_ECANCELED || c[1].op.result >= 0,
           "a cancelled recv: expected PROKIO_ECANCELED, got %d (%s)", c[1].op.result,
           err_name(c[1].op.result));
    /* A send completes with its count; the peer reads the bytes. */
    op_init(&c[2], PROKIO_BACKEND_OP_SEND, sv[0]);
    memcpy(c[2].buf, "abc", 3);
    c[2].op.len = 3;
    c[2].op.flags = MSG_NOSIGNAL;
    rc = g_vt->op_submit(L.mem, &c[2].op);
    EXPECT(rc == 0, "op_submit(SEND): expected 0, got %d (%s)", rc, err_name(rc));
    if (rc == 0) {
        EXPECT(wait_done(&L, &c[2], 2000), "a send did not complete within 2 s");
        EXPECT(c[2].op.result == 3, "send: expected 3, got %d", c[2].op.result);
        char got[4] = {0};
        EXPECT(read(sv[1], got, 3) == 3 && memcmp(got, "abc", 3) == 0,
               "the peer did not read what the send sent");
    }
    /* Exactly once: nothing more in the next waits. */
    quiet(&L, 50);
    for (int i = 0; i < 3; i++)
        EXPECT(c[i].completions <= 1, "op %d completed %u times: exactly once, please", i,
               c[i].completions);
out:
    close(sv[0]);
    close(sv[1]);
    lp_close(&L);
    free(c);
}
