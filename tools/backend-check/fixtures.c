/* Descriptors: socketpairs and the one-watch fixture the checks use. */
#include "backend-check.h"

#include <errno.h>
#include <fcntl.h>
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
bool fx_open(struct fx *f, unsigned interest)
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

void fx_close(struct fx *f)
{
    tw_close(&f->w);
    close_fd(&f->sv[0]);
    close_fd(&f->sv[1]);
    lp_close(&f->L);
}
