/* core/lock.c: the slow paths of core/lock.h. */
#include "lock.h"

#if defined(__linux__)
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

static void futex_wait(_Atomic uint32_t *addr, uint32_t expected)
{
    /* EINTR, EAGAIN (the word changed): the caller looks again. */
    syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAIT_PRIVATE, expected, NULL, NULL, 0);
}

static void futex_wake_one(_Atomic uint32_t *addr)
{
    syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}
#else
#include <sched.h>
/* Elsewhere (one thread on WebAssembly, other systems): yield instead of
 * sleeping; correct, only slower under contention. */
static void futex_wait(_Atomic uint32_t *addr, uint32_t expected)
{
    (void)addr, (void)expected;
    sched_yield();
}

static void futex_wake_one(_Atomic uint32_t *addr)
{
    (void)addr;
}
#endif

#if defined(__x86_64__) || defined(__i386__)
#define cpu_relax() __builtin_ia32_pause()
#elif defined(__aarch64__)
#define cpu_relax() __asm__ __volatile__("yield")
#else
#define cpu_relax() ((void)0)
#endif

/* The holder keeps the lock for a few dozen instructions: spinning this
 * long usually outlasts it without a system call. */
#define SPINS 100

void prokio__lock_acquire_slow(struct prokio__lock *l)
{
    for (int i = 0; i < SPINS; i++) {
        uint32_t s = atomic_load_explicit(&l->state, memory_order_relaxed);
        if (s == 0) {
            uint32_t free_ = 0;
            if (atomic_compare_exchange_weak_explicit(&l->state, &free_, 1, memory_order_acquire,
                                                      memory_order_relaxed))
                return;
        } else if (s == 2) {
            break; /* others sleep already: join them */
        }
        cpu_relax();
    }
    /* Mark "someone may sleep" and take it if it was free meanwhile; the
     * release that sees 2 wakes one sleeper, which marks 2 again. */
    while (atomic_exchange_explicit(&l->state, 2, memory_order_acquire) != 0)
        futex_wait(&l->state, 2);
}

void prokio__lock_wake(struct prokio__lock *l)
{
    futex_wake_one(&l->state);
}
