/* tests/stress/churn-client.c: the client side of tests/stress/churn, run
 * by it in a process of its own (fork + exec), so that its descriptors do
 * not count against the server's and the server's descriptor count is its
 * own. Plain blocking sockets and threads, nothing of prokio: a client
 * that shares no code with what it tests.
 *
 *   churn-client PORT CONNECTIONS RESETS SEED
 *
 * Makes CONNECTIONS + RESETS connections to 127.0.0.1:PORT, THREADS at a
 * time. Each of the CONNECTIONS sends a random-length payload (0 to
 * MAX_PAYLOAD bytes, random bytes), half-closes, reads the echo to the end
 * and checks it byte for byte. Each of the RESETS ends abruptly with a
 * reset (SO_LINGER 0, then close) at a random point: before sending,
 * in the middle of its payload, or while the server writes the echo (a
 * payload larger than what the sockets buffer, with a small receive
 * buffer, and the first echoed bytes read, so the server is blocked in a
 * write). Which connections reset is spread by the seed.
 *
 * Prints one line, "connections=N resets=M verified_bytes=B failures=F",
 * and exits with 0 when F is 0; each failure is described on stderr. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#ifdef __linux__
#include <signal.h>
#include <sys/prctl.h>
#endif

#define THREADS       16
#define MAX_PAYLOAD   (48 * 1024)
#define BIG_PAYLOAD   (512 * 1024) /* for a reset while the server writes */
#define IO_TIMEOUT_S  20
#define CONNECT_TRIES 50

static unsigned short port;
static long total, resets;
static uint64_t seed;
static atomic_long next_job, made, reset_made, verified_bytes, failures;

static uint64_t mix(uint64_t x)
{
    /* splitmix64: a job's randomness from (seed, job), independent of
     * which thread runs it. */
    x += UINT64_C(0x9E3779B97F4A7C15);
    x = (x ^ (x >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    x = (x ^ (x >> 27)) * UINT64_C(0x94D049BB133111EB);
    return x ^ (x >> 31);
}

static void fail(long job, const char *what, int err)
{
    fprintf(stderr, "churn-client: connection %ld: %s%s%s\n", job, what, err ? ": " : "",
            err ? strerror(err) : "");
    atomic_fetch_add(&failures, 1);
}

static int dial(long job, int rcvbuf)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (int tries = 0; tries < CONNECT_TRIES; tries++) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            fail(job, "socket", errno);
            return -1;
        }
        struct timeval tv = {IO_TIMEOUT_S, 0};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        if (rcvbuf > 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
        if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0)
            return fd;
        int e = errno;
        close(fd);
        /* A full accept queue may refuse for a moment; anything else is
         * a failure. */
        if (e != ECONNREFUSED && e != EAGAIN && e != EINTR) {
            fail(job, "connect", e);
            return -1;
        }
        struct timespec pause = {0, 10 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    fail(job, "connect: refused every time", 0);
    return -1;
}

static void reset_close(int fd)
{
    struct linger l = {.l_onoff = 1, .l_linger = 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    close(fd);
}

static void fill(unsigned char *buf, size_t len, uint64_t r)
{
    for (size_t i = 0; i < len; i++) {
        if (i % 8 == 0)
            r = mix(r);
        buf[i] = (unsigned char)(r >> (8 * (i % 8)));
    }
}

/* Sends all of buf (blocking). */
static int send_all(int fd, const unsigned char *buf, size_t len)
{
    size_t off = 0;
    while (off < len) {
        ssize_t n = send(fd, buf + off, len - off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        off += (size_t)n;
    }
    return 0;
}

/* A connection that sends, half-closes and checks the echo. While it
 * sends, it also reads what has come back, so that neither side's buffers
 * fill up with the other blocked (the server echoes as it reads). */
static void echo_job(long job, uint64_t r, unsigned char *out, unsigned char *in)
{
    size_t len = (size_t)(r % (MAX_PAYLOAD + 1));
    fill(out, len, r);
    int fd = dial(job, 0);
    if (fd < 0)
        return;
    atomic_fetch_add(&made, 1);
    if (send_all(fd, out, len) < 0) {
        fail(job, "send", errno);
        close(fd);
        return;
    }
    shutdown(fd, SHUT_WR);
    size_t got = 0;
    for (;;) {
        ssize_t n = recv(fd, in + got, MAX_PAYLOAD + 1 - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            fail(job, "recv", errno);
            close(fd);
            return;
        }
        if (n == 0)
            break;
        got += (size_t)n;
        if (got > len) {
            fail(job, "the echo is longer than the payload", 0);
            close(fd);
            return;
        }
    }
    close(fd);
    if (got != len) {
        char what[96];
        snprintf(what, sizeof what, "the echo has %zu bytes, the payload %zu", got, len);
        fail(job, what, 0);
        return;
    }
    if (memcmp(in, out, len) != 0) {
        fail(job, "the echo differs from the payload", 0);
        return;
    }
    atomic_fetch_add(&verified_bytes, (long)len);
}

/* A connection reset at a point chosen by r. */
static void reset_job(long job, uint64_t r, unsigned char *out, unsigned char *in)
{
    unsigned point = (unsigned)(r % 3);
    r = mix(r);
    int fd = dial(job, point == 2 ? 4096 : 0);
    if (fd < 0)
        return;
    atomic_fetch_add(&made, 1);
    atomic_fetch_add(&reset_made, 1);
    if (point == 0) { /* before sending anything */
        reset_close(fd);
        return;
    }
    if (point == 1) { /* in the middle of the payload: part of it, no half-close */
        size_t len = 1 + (size_t)(r % MAX_PAYLOAD);
        fill(out, len, r);
        size_t part = 1 + (size_t)(mix(r) % len);
        if (send_all(fd, out, part) < 0)
            fail(job, "send (before the reset)", errno);
        reset_close(fd);
        return;
    }
    /* While the server writes: more than the buffers on the way hold,
     * sent without blocking; once the first echoed bytes are here the
     * server is writing the rest, and cannot finish (this side does not
     * read), so the reset comes in the middle of its writes. */
    fill(out, BIG_PAYLOAD, r);
    size_t off = 0;
    while (off < BIG_PAYLOAD) {
        ssize_t n = send(fd, out + off, BIG_PAYLOAD - off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    ssize_t n;
    do
        n = recv(fd, in, 1, 0);
    while (n < 0 && errno == EINTR);
    if (n != 1)
        fail(job, "no echo before the reset", n < 0 ? errno : 0);
    reset_close(fd);
}

static void *worker(void *arg)
{
    (void)arg;
    unsigned char *out = malloc(BIG_PAYLOAD), *in = malloc(MAX_PAYLOAD + 1);
    if (out == NULL || in == NULL) {
        fail(-1, "out of memory", 0);
        free(out);
        free(in);
        return NULL;
    }
    long all = total + resets;
    for (;;) {
        long job = atomic_fetch_add(&next_job, 1);
        if (job >= all)
            break;
        /* Exactly `resets` of the jobs reset: the job numbers are dealt
         * through a permutation of 0..all-1 (an affine map with a
         * multiplier coprime to all), and the first `resets` of them in
         * that order are the resets, spread evenly over the run. */
        uint64_t r = mix(seed ^ mix((uint64_t)job));
        long slot = (long)(((uint64_t)job * 7919u + seed % (uint64_t)all) % (uint64_t)all);
        if (slot < resets)
            reset_job(job, r, out, in);
        else
            echo_job(job, r, out, in);
    }
    free(out);
    free(in);
    return NULL;
}

int main(int argc, char **argv)
{
#ifdef __linux__
    prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive a server that died */
#endif
    if (argc != 5) {
        fprintf(stderr, "usage: churn-client PORT CONNECTIONS RESETS SEED\n");
        return 2;
    }
    port = (unsigned short)strtoul(argv[1], NULL, 10);
    total = strtol(argv[2], NULL, 10);
    resets = strtol(argv[3], NULL, 10);
    seed = strtoull(argv[4], NULL, 10);
    if (port == 0 || total < 0 || resets < 0 || total + resets == 0) {
        fprintf(stderr, "churn-client: bad arguments\n");
        return 2;
    }
    /* All `all` slots are distinct iff 7919 is coprime to all. */
    if ((total + resets) % 7919 == 0) {
        fprintf(stderr, "churn-client: CONNECTIONS + RESETS must not be a multiple of 7919\n");
        return 2;
    }
    pthread_t th[THREADS];
    int started = 0;
    for (; started < THREADS; started++)
        if (pthread_create(&th[started], NULL, worker, NULL) != 0)
            break;
    if (started == 0)
        worker(NULL);
    for (int i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    printf("connections=%ld resets=%ld verified_bytes=%ld failures=%ld\n", atomic_load(&made),
           atomic_load(&reset_made), atomic_load(&verified_bytes), atomic_load(&failures));
    return atomic_load(&failures) == 0 ? 0 : 1;
}
