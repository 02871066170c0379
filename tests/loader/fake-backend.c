/* tests/loader/fake-backend.c: deliberately broken backends for the loader
 * tests, one shared object per FAKE_* variant (see Makefile.inc). Each
 * variant breaks exactly one rule of prokio/backend.h. */
#include <prokio/backend.h>

static int fake_loop_init(prokio_backend_loop_t *loop, prokio_backend_host_loop_t *host_loop,
                          const prokio_backend_loop_config_t *config, uint64_t *caps)
{
    (void)loop, (void)host_loop, (void)config, (void)caps;
#ifdef FAKE_INIT_FAILS
    return PROKIO_EPERM; /* what io_uring_setup says when the kernel refuses */
#else
    return 0;
#endif
}

static void fake_loop_fini(prokio_backend_loop_t *loop)
{
    (void)loop;
}

static uint64_t fake_now_ns(prokio_backend_loop_t *loop)
{
    (void)loop;
    return 0;
}

__attribute__((unused)) static int fake_wait(prokio_backend_loop_t *loop, uint64_t deadline_ns)
{
    (void)loop, (void)deadline_ns;
#ifdef FAKE_WAIT_FAILS
    return PROKIO_EIO; /* a loop that has become unusable, for good */
#else
    return 0;
#endif
}

static void fake_wake(prokio_backend_loop_t *loop)
{
    (void)loop;
}

static int fake_watch_init(prokio_backend_loop_t *loop, prokio_backend_watch_t *watch, int fd)
{
    (void)loop, (void)watch, (void)fd;
    return 0;
}

static int fake_watch_update(prokio_backend_loop_t *loop, prokio_backend_watch_t *watch,
                             unsigned events)
{
    (void)loop, (void)watch, (void)events;
    return 0;
}

static void fake_watch_close(prokio_backend_loop_t *loop, prokio_backend_watch_t *watch)
{
    (void)loop, (void)watch;
}

#if defined FAKE_MAJOR_2
#define FAKE_ABI ((2u << 16) | 0u)
#elif defined FAKE_MINOR_NEWER
#define FAKE_ABI ((1u << 16) | 7u)
#else
#define FAKE_ABI PROKIO_BACKEND_ABI_VERSION
#endif

__attribute__((unused)) static const prokio_backend_vtable_t fake_vtable = {
#ifdef FAKE_VTABLE_TOO_SMALL
    .size = 16,
#else
    .size = sizeof(prokio_backend_vtable_t),
#endif
    .abi_version = FAKE_ABI,
#ifdef FAKE_BAD_NAME
    .name = "Bad Name",
#else
    .name = FAKE_NAME, /* the file is prokio-FAKE_NAME.so (Makefile.inc) */
#endif
    .version = "0 (test fake)",
#ifdef FAKE_ZERO_SIZES
    .loop_size = 0, /* it would then write past the core's allocation */
    .watch_size = 0,
#else
    .loop_size = 16,
    .watch_size = 16,
#endif
    .loop_init = fake_loop_init,
    .loop_fini = fake_loop_fini,
    .now_ns = fake_now_ns,
#ifndef FAKE_NO_WAIT
    .wait = fake_wait,
#endif
    .wake = fake_wake,
    .watch_init = fake_watch_init,
    .watch_update = fake_watch_update,
    .watch_close = fake_watch_close,
};

#ifdef FAKE_NO_ENTRY
/* Exports a function, but not the entry. */
PROKIO_BACKEND_EXPORT int not_the_entry(void);
int not_the_entry(void)
{
    return fake_vtable.size;
}
#else
PROKIO_BACKEND_EXPORT int PROKIO_BACKEND_ENTRY(fake)(const prokio_backend_host_t *host,
                                                     uint32_t core_abi,
                                                     const prokio_backend_vtable_t **vtable)
{
    (void)host, (void)core_abi;
#ifdef FAKE_ENTRY_REFUSES
    *vtable = NULL;
    return PROKIO_EABI;
#else
    *vtable = &fake_vtable;
    return 0;
#endif
}
#endif
