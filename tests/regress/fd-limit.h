/* tests/regress/fd-limit.h: a process with only so many descriptors free.
 *
 * RLIMIT_NOFILE bounds descriptor numbers, not their count: a new
 * descriptor gets the lowest free number, and fails with EMFILE when that
 * number is not below the soft limit. So "k descriptors free" means a soft
 * limit just below the (k+1)-th free number, which depends on the
 * descriptors the process holds (stdio, the test harness's, valgrind's
 * above the limit). The descriptors are listed from /proc/self/fd, which
 * takes a descriptor itself: list them with the original limit in force. */
#ifndef PROKIO_TESTS_REGRESS_FD_LIMIT_H
#define PROKIO_TESTS_REGRESS_FD_LIMIT_H

#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

#define FD_LIST_MAX 4096

struct fd_list {
    int n;
    int fd[FD_LIST_MAX];
};

static inline int fd_cmp(const void *a, const void *b)
{
    return *(const int *)a - *(const int *)b;
}

/* The open descriptors, ascending; false when /proc/self/fd is unreadable. */
static inline bool fd_list_read(struct fd_list *l)
{
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL)
        return false;
    l->n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char *end;
        long fd = strtol(e->d_name, &end, 10);
        if (*end != '\0' || e->d_name[0] == '\0' || fd == dirfd(d))
            continue;
        if (l->n < FD_LIST_MAX)
            l->fd[l->n++] = (int)fd;
    }
    closedir(d);
    qsort(l->fd, (size_t)l->n, sizeof l->fd[0], fd_cmp);
    return true;
}

/* Writes what differs between two lists into buf; returns true if nothing. */
static inline bool fd_list_same(const struct fd_list *a, const struct fd_list *b, char *buf,
                                size_t cap)
{
    size_t len = 0;
    int i = 0, j = 0;
    buf[0] = '\0';
    while (i < a->n || j < b->n) {
        int w = 0;
        if (j >= b->n || (i < a->n && a->fd[i] < b->fd[j]))
            w = snprintf(buf + len, cap - len, " -%d", a->fd[i++]);
        else if (i >= a->n || b->fd[j] < a->fd[i])
            w = snprintf(buf + len, cap - len, " +%d", b->fd[j++]);
        else
            i++, j++;
        if (w > 0 && len + (size_t)w < cap)
            len += (size_t)w;
    }
    return len == 0;
}

/* The soft limit that leaves exactly `free_slots` descriptors free. */
static inline rlim_t fd_limit_leaving(const struct fd_list *open_fds, unsigned free_slots)
{
    unsigned seen = 0;
    int i = 0;
    for (rlim_t number = 0;; number++) {
        if (i < open_fds->n && open_fds->fd[i] == (int)number) {
            i++;
            continue;
        }
        if (seen++ == free_slots)
            return number;
    }
}

static inline bool fd_limit_set(rlim_t soft)
{
    struct rlimit r;
    if (getrlimit(RLIMIT_NOFILE, &r) != 0)
        return false;
    r.rlim_cur = soft;
    return setrlimit(RLIMIT_NOFILE, &r) == 0;
}

#endif
