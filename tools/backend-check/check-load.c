/* Checks: loading, exported symbols, version negotiation, unloading. */
#include "backend-check.h"

#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>

void check_dlopen(void)
{
    g_dl = dlopen(g_path, RTLD_NOW | RTLD_LOCAL);
    if (!g_dl) {
        fail("dlopen(RTLD_NOW | RTLD_LOCAL): %s", dlerror());
        return;
    }
    void *sym = dlsym(g_dl, PROKIO_BACKEND_ENTRY_SYMBOL);
    if (!sym) {
        fail("dlsym(\"%s\"): %s", PROKIO_BACKEND_ENTRY_SYMBOL, dlerror());
        return;
    }
    /* POSIX guarantees that a data pointer from dlsym converts to a function. */
    memcpy(&g_entry, &sym, sizeof g_entry);
    g_loaded = true;
}

/* Linker-made names that are no export of the author's. */
static bool linker_symbol(const char *name)
{
    static const char *const names[] = {"_init", "_fini", "_edata", "_end", "__bss_start"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(name, names[i]) == 0)
            return true;
    return false;
}

void check_exports(void)
{
    int fd = open(g_path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        fail("open %s: %s", g_path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return;
    }
    size_t len = (size_t)st.st_size;
    const unsigned char *img = len ? mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0) : MAP_FAILED;
    close(fd);
    if (img == MAP_FAILED) {
        fail("mmap %s: %s", g_path, strerror(errno));
        return;
    }
    const ElfW(Ehdr) *eh = (const void *)img;
    size_t nexports = 0, nentry = 0;
    bool sane = len >= sizeof *eh && memcmp(eh->e_ident, ELFMAG, SELFMAG) == 0 &&
                eh->e_shentsize == sizeof(ElfW(Shdr)) && eh->e_shoff < len &&
                eh->e_shnum <= (len - eh->e_shoff) / sizeof(ElfW(Shdr));
    if (!sane) {
        fail("%s: not a native ELF file with section headers", g_path);
        goto out;
    }
    const ElfW(Shdr) *sh = (const void *)(img + eh->e_shoff);
    bool found = false;
    for (size_t i = 0; i < eh->e_shnum; i++) {
        if (sh[i].sh_type != SHT_DYNSYM)
            continue;
        found = true;
        if (sh[i].sh_link >= eh->e_shnum || sh[i].sh_entsize != sizeof(ElfW(Sym)) ||
            sh[i].sh_offset > len || sh[i].sh_size > len - sh[i].sh_offset) {
            fail("malformed .dynsym");
            goto out;
        }
        const ElfW(Shdr) *strs = &sh[sh[i].sh_link];
        if (strs->sh_offset > len || strs->sh_size > len - strs->sh_offset) {
            fail("malformed .dynstr");
            goto out;
        }
        const ElfW(Sym) *sym = (const void *)(img + sh[i].sh_offset);
        const char *str = (const char *)img + strs->sh_offset;
        size_t nsym = sh[i].sh_size / sizeof *sym;
        for (size_t k = 1; k < nsym; k++) {
            /* The ELF32_ST_* macros serve both classes (elf.h says so). */
            unsigned bind = ELF32_ST_BIND(sym[k].st_info);
            unsigned vis = ELF32_ST_VISIBILITY(sym[k].st_other);
            if (sym[k].st_shndx == SHN_UNDEF ||
                (bind != STB_GLOBAL && bind != STB_WEAK && bind != STB_GNU_UNIQUE) ||
                (vis != STV_DEFAULT && vis != STV_PROTECTED) || sym[k].st_name >= strs->sh_size)
                continue;
            const char *name = str + sym[k].st_name;
            if (strnlen(name, strs->sh_size - sym[k].st_name) == strs->sh_size - sym[k].st_name)
                continue;
            /* Version definitions appear as absolute symbols of value 0. */
            if (linker_symbol(name) || (sym[k].st_shndx == SHN_ABS && sym[k].st_value == 0))
                continue;
            if (strcmp(name, PROKIO_BACKEND_ENTRY_SYMBOL) == 0) {
                nentry++;
                continue;
            }
            if (nexports++ < 10)
                fail("exports %s as well: build with -fvisibility=hidden and mark only the "
                     "entry with PROKIO_BACKEND_EXPORT",
                     name);
        }
    }
    EXPECT(found, "no .dynsym section");
    EXPECT(nentry == 1, "expected %s defined once in .dynsym, got %zu", PROKIO_BACKEND_ENTRY_SYMBOL,
           nentry);
    if (nexports > 10)
        fail("... %zu other exported symbols in all", nexports);
out:
    munmap((void *)img, len);
}

/* The rules a core checks before it uses a vtable are those of
 * prokio_backend_vtable_check (prokio/backend.h), which the core's loader
 * calls too: the checker refuses exactly the vtables the loader refuses, and
 * like it names the first rule broken. It adds no rule of its own here; what
 * it expects beyond them (loop_init's caps, the entry's return codes) it
 * checks where it runs the backend. */
static void validate_vtable(const prokio_backend_vtable_t *vt, uint32_t core_abi)
{
    char why[512];
    int rc = prokio_backend_vtable_check(vt, core_abi, why, sizeof why);
    if (rc < 0)
        fail("a core refuses this vtable (%s): %s", err_name(rc), why);
}

/* A negotiation in a fresh child process: the entry is called once per
 * process, and the parent has not called it yet when it forks. */
struct nego_out {
    int rc;
    bool vt_set;
    uint32_t abi;
    unsigned logs;
    bool failed;
    char diag[4096];
};

static bool negotiate_in_child(uint32_t core_abi, struct nego_out *out)
{
    int pfd[2];
    memset(out, 0, sizeof *out);
    if (pipe(pfd) != 0) {
        fail("pipe: %s", strerror(errno));
        return false;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        fail("fork: %s", strerror(errno));
        close(pfd[0]);
        close(pfd[1]);
        return false;
    }
    if (pid == 0) {
        close(pfd[0]);
        alarm(10 * g_scale);
        g_diag_len = 0;
        atomic_store(&g_failed, false);
        atomic_store(&g_logs, 0);
        prokio_backend_host_t host = g_host;
        host.abi_version = core_abi;
        /* A 1.0 core offers a 1.0 host table: nothing of 1.1 to read. */
        if (PROKIO_BACKEND_ABI_MAJOR_OF(core_abi) == PROKIO_BACKEND_ABI_MAJOR &&
            PROKIO_BACKEND_ABI_MINOR_OF(core_abi) == 0)
            host.size = PROKIO_BACKEND_HOST_SIZE_1_0;
        const prokio_backend_vtable_t *vt = NULL;
        out->rc = g_entry(&host, core_abi, &vt);
        out->vt_set = vt != NULL;
        if (out->rc == 0 && vt) {
            out->abi = vt->abi_version;
            validate_vtable(vt, core_abi);
        }
        out->logs = atomic_load(&g_logs);
        out->failed = atomic_load(&g_failed);
        size_t len = g_diag_len < sizeof out->diag - 1 ? g_diag_len : sizeof out->diag - 1;
        memcpy(out->diag, g_diag, len);
        out->diag[len] = '\0';
        ssize_t w = write(pfd[1], out, sizeof *out);
        _exit(w == (ssize_t)sizeof *out ? 0 : 3);
    }
    close(pfd[1]);
    size_t got = 0;
    while (got < sizeof *out) {
        ssize_t n = read(pfd[0], (char *)out + got, sizeof *out - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(pfd[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (got != sizeof *out) {
        if (WIFSIGNALED(status))
            fail("entry(core %u.%u) killed the process with signal %d%s",
                 PROKIO_BACKEND_ABI_MAJOR_OF(core_abi), PROKIO_BACKEND_ABI_MINOR_OF(core_abi),
                 WTERMSIG(status), WTERMSIG(status) == SIGALRM ? " (hung)" : "");
        else
            fail("entry(core %u.%u): the child process exited with %d before reporting",
                 PROKIO_BACKEND_ABI_MAJOR_OF(core_abi), PROKIO_BACKEND_ABI_MINOR_OF(core_abi),
                 WEXITSTATUS(status));
        return false;
    }
    if (out->diag[0]) {
        pthread_mutex_lock(&g_diag_mu);
        size_t room = sizeof g_diag - g_diag_len;
        int n = snprintf(g_diag + g_diag_len, room, "%s", out->diag);
        if (n > 0)
            g_diag_len += (size_t)n < room ? (size_t)n : room - 1;
        pthread_mutex_unlock(&g_diag_mu);
    }
    if (out->failed)
        atomic_store(&g_failed, true);
    return true;
}

void check_negotiate_newer_minor(void)
{
    struct nego_out o;
    uint32_t core = PROKIO_BACKEND_ABI_MAJOR << 16 | 7;
    if (!negotiate_in_child(core, &o))
        return;
    EXPECT(o.rc == 0, "entry(core 1.7): expected 0, got %d (%s)", o.rc, err_name(o.rc));
    EXPECT(o.rc != 0 || o.vt_set, "entry(core 1.7) returned 0 but left *vtable NULL");
    if (o.rc == 0 && o.vt_set)
        diag("answered ABI %u.%u", PROKIO_BACKEND_ABI_MAJOR_OF(o.abi),
             PROKIO_BACKEND_ABI_MINOR_OF(o.abi));
}

void check_negotiate_oldest_minor(void)
{
    struct nego_out o;
    uint32_t core = PROKIO_BACKEND_ABI_MAJOR << 16 | 0;
    if (!negotiate_in_child(core, &o))
        return;
    EXPECT(o.rc == 0, "entry(core 1.0): expected 0, got %d (%s)", o.rc, err_name(o.rc));
    EXPECT(o.rc != 0 || o.vt_set, "entry(core 1.0) returned 0 but left *vtable NULL");
    if (o.rc == 0 && o.vt_set)
        diag("answered ABI %u.%u", PROKIO_BACKEND_ABI_MAJOR_OF(o.abi),
             PROKIO_BACKEND_ABI_MINOR_OF(o.abi));
}

void check_negotiate_other_major(void)
{
    static const uint32_t cores[] = {0u << 16 | 9, 2u << 16 | 0};
    for (size_t i = 0; i < 2; i++) {
        struct nego_out o;
        unsigned maj = PROKIO_BACKEND_ABI_MAJOR_OF(cores[i]);
        unsigned min = PROKIO_BACKEND_ABI_MINOR_OF(cores[i]);
        if (!negotiate_in_child(cores[i], &o))
            continue;
        /* validate_vtable's verdict does not matter here: only the code. */
        EXPECT(o.rc == PROKIO_EABI, "entry(core %u.%u): expected PROKIO_EABI (%d), got %d (%s)",
               maj, min, PROKIO_EABI, o.rc, err_name(o.rc));
        EXPECT(o.rc == 0 || o.logs > 0,
               "entry(core %u.%u) refused without saying why through host->log", maj, min);
    }
}

void check_negotiate_current(void)
{
    const prokio_backend_vtable_t *vt = NULL;
    int rc = g_entry(&g_host, PROKIO_BACKEND_ABI_VERSION, &vt);
    if (rc != 0 || !vt) {
        fail("entry(core %u.%u): expected 0 and a vtable, got %d (%s) and %p",
             PROKIO_BACKEND_ABI_MAJOR, PROKIO_BACKEND_ABI_MINOR, rc, err_name(rc),
             (const void *)vt);
        return;
    }
    validate_vtable(vt, PROKIO_BACKEND_ABI_VERSION);
    if (atomic_load(&g_failed))
        return;
    g_vt = vt;
    const char *base = strrchr(g_path, '/');
    base = base ? base + 1 : g_path;
    char expect[128];
    snprintf(expect, sizeof expect, "prokio-%s.so", vt->name);
    char caps[256];
    diag("backend \"%s\", version \"%s\", ABI %u.%u, caps %s, loop_size %zu, watch_size %zu",
         vt->name, vt->version, PROKIO_BACKEND_ABI_MAJOR_OF(vt->abi_version),
         PROKIO_BACKEND_ABI_MINOR_OF(vt->abi_version),
         prokio_backend_caps_format(vt->caps, caps, sizeof caps), vt->loop_size, vt->watch_size);
    if (strcmp(base, expect) != 0)
        diag("note: the core finds a backend named \"%s\" in the file %s, not %s", vt->name, expect,
             base);
}
void check_host_balance(void)
{
    long live = atomic_load(&g_allocs_live);
    EXPECT(live == 0,
           "host->alloc blocks not given back with host->free after every loop_fini: "
           "%ld",
           live);
}

void check_unload(void)
{
    if (dlclose(g_dl) != 0)
        fail("dlclose: %s", dlerror());
    g_dl = NULL;
}
