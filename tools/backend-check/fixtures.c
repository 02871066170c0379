/* Descriptors: socketpairs and the one-watch fixture the checks use. */
#include "backend-check.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>

bool make_pair(int sv[2])
{
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0) {
        fail("socketpair: %s", strerror(errno));
        sv[0] = sv[1] = -1;
        return false;
    }
    return true;
}

bool make_tcp_pair(int sv[2])
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sv[0] = sv[1] = -1;
    if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof a) != 0 || listen(l, 1) != 0 ||
        getsockname(l, (struct sockaddr *)&a, &len) != 0 ||
        (sv[1] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
        connect(sv[1], (struct sockaddr *)&a, sizeof a) != 0 ||
        (sv[0] = accept4(l, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) < 0) {
        fail("a loopback TCP connection: %s", strerror(errno));
        if (l >= 0)
            close(l);
        close_fd(&sv[0]);
        close_fd(&sv[1]);
        return false;
    }
    close(l);
    return true;
}

void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

size_t drain(int fd)
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

size_t fill(int fd)
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

void put(int fd, const char *s)
{
    if (write(fd, s, strlen(s)) != (ssize_t)strlen(s))
        fail("write to the peer socket: %s", strerror(errno));
}

int count_fds(void)
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
bool fx_open_tcp(struct fx *f, unsigned interest, bool tcp)
{
    f->sv[0] = f->sv[1] = -1;
    if (lp_open(&f->L, 0, 1) != 0)
        return false;
    if (!(tcp ? make_tcp_pair(f->sv) : make_pair(f->sv)))
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

bool fx_open(struct fx *f, unsigned interest)
{
    return fx_open_tcp(f, interest, false);
}

void fx_close(struct fx *f)
{
    tw_close(&f->w);
    close_fd(&f->sv[0]);
    close_fd(&f->sv[1]);
    lp_close(&f->L);
}
