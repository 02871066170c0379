/* tests/wasm/stubs.c: libc functions the conformance suite links against
 * that emscripten's libc declares but does not define. The tests that
 * call them are skipped on wasm (tests/conformance/conformance.c says why); these stubs
 * only let the same sources link, and fail if called anyway. */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>

int sched_getaffinity(pid_t pid, size_t size, cpu_set_t *set)
{
    (void)pid, (void)size, (void)set;
    errno = ENOSYS;
    return -1;
}

int __sched_cpucount(size_t size, const cpu_set_t *set);
int __sched_cpucount(size_t size, const cpu_set_t *set)
{
    (void)size, (void)set;
    return 0;
}
