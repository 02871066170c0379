/* core/platform.h: everything the core asks of the operating system and
 * the C toolchain, in one place.
 *
 * The core proper (scheduler, tasks, timers, channels, loader) calls only
 * these and the C library's memory and string functions. A port changes
 * this file and platform.c: the WebAssembly build (one worker, on the
 * browser's or node's main thread, no threads created, no affinity) and a
 * libprokio loaded with dlopen by a language binding each change the TLS
 * model below and nothing else. Loading backends (dlopen) is loader.c's:
 * a static build links its backend instead. */
#ifndef PROKIO_CORE_PLATFORM_H
#define PROKIO_CORE_PLATFORM_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Thread-local storage for the two hot per-thread pointers (the calling
 * worker, the spawn random state), with the cheapest model the platform
 * allows. initial-exec needs a slot in the static TLS block; glibc keeps a
 * surplus of it for libraries loaded later with dlopen, which our 16 bytes
 * fit in (tests/dlopen checks it). Define PROKIO_TLS_DYNAMIC to fall back
 * to the general model on a platform without that surplus. Bigger
 * per-thread data (the error message) uses plain __thread, which is always
 * safe to dlopen. */
#if defined(PROKIO_TLS_DYNAMIC) || defined(__EMSCRIPTEN__)
#define PROKIO_TLS __thread
#else
#define PROKIO_TLS __thread __attribute__((tls_model("initial-exec")))
#endif

/* An environment variable, ignored in set-user-ID and set-group-ID programs
 * (secure_getenv): the backend path must not be the invoker's to choose.
 * NULL when unset. Thread: any. */
const char *prokio__getenv(const char *name);

/* How many CPUs this process may run on (its affinity), at least 1.
 * Thread: any. */
unsigned prokio__cpu_count(void);

/* CLOCK_MONOTONIC in nanoseconds. Thread: any. */
uint64_t prokio__monotonic_ns(void);

/* Sleeps the calling thread for about ns nanoseconds. Thread: any. */
void prokio__sleep_ns(uint64_t ns);

/* Lets other threads run (a spin-wait's pause). Thread: any. */
void prokio__thread_yield(void);

/* Starts a thread for a worker. Asynchronous signals are blocked in it, so
 * that they reach the application's own threads and no system call of a
 * worker is cut short; synchronous ones (SIGSEGV, SIGBUS, SIGFPE, SIGILL,
 * SIGTRAP, SIGSYS) stay open, so that a fault inside a task reaches the
 * application's handlers and the sanitizers' reports. Returns 0 or a
 * negative code. Thread: any. */
int prokio__thread_start(pthread_t *thread, void *(*fn)(void *), void *arg);

/* The directory of the shared object (or executable) that contains the
 * core, written into buf; false if unknown. Thread: any. */
bool prokio__self_dir(char *buf, size_t cap);

/* Blocking the calling thread (block_on, blocking_join, the blocking_*
 * calls). On WebAssembly the calling thread is the JS thread, which may
 * block only in a program linked with -sASYNCIFY, where blocking yields to
 * the JS event loop until woken (prokio__host_block_once). Returns 0, or
 * PROKIO_ENOTSUP with prokio_last_error() naming `what` and saying why.
 * Natively always 0. Thread: any. */
#ifdef __EMSCRIPTEN__
int prokio__host_can_block(const char *what);
/* One turn of the JS event loop (emscripten_sleep). Thread: the JS one. */
void prokio__host_block_once(void);
#else
static inline int prokio__host_can_block(const char *what)
{
    (void)what;
    return 0;
}
#endif

#endif
