/* tests/regress/refuse-syscall.h: makes the kernel refuse one system call
 * for the rest of the calling process (a seccomp filter), to put a backend
 * in a hostile environment that cannot be had otherwise: a kernel that
 * refuses io_uring, a descriptor table that runs out at a chosen step.
 *
 * PROKIO_TEST_CAN_REFUSE is defined where the architecture is known; tests
 * skip what needs it elsewhere. Use it in a child process: the filter
 * cannot be lifted. */
#ifndef PROKIO_TESTS_REFUSE_SYSCALL_H
#define PROKIO_TESTS_REFUSE_SYSCALL_H

#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#if defined(__x86_64__)
#define PROKIO_TEST_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define PROKIO_TEST_ARCH AUDIT_ARCH_AARCH64
#endif

#ifdef PROKIO_TEST_ARCH
#define PROKIO_TEST_CAN_REFUSE 1

/* From now on, system call `nr` fails with errno `err`. Returns 0, or -1
 * when the filter could not be installed. */
static inline int refuse_syscall(unsigned nr, int err)
{
    struct sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, PROKIO_TEST_ARCH, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, nr, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ((unsigned)err & SECCOMP_RET_DATA)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {.len = sizeof filter / sizeof *filter, .filter = filter};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return -1;
    return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog);
}
#endif

#endif
