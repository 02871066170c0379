/* core/net_addr.c: socket addresses (prokio_addr_t of prokio/net.h):
 * parsing the numeric text forms, formatting them back, Unix paths.
 *
 * Numeric only, on purpose: parsing never blocks and never touches the
 * network (getaddrinfo with AI_NUMERICHOST | AI_NUMERICSERV does the IPv6
 * scope forms right, "%eth0" included, without a lookup). Host names are
 * resolved elsewhere, on the blocking pool. */
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include <prokio/net.h>

#include "error_internal.h"

static int addr_einval(prokio_addr_t *out, const char *text, const char *why)
{
    memset(out, 0, sizeof *out);
    return prokio__error(PROKIO_EINVAL,
                         "prokio_addr_parse: \"%s\" %s: write \"1.2.3.4:PORT\", \"[::1]:PORT\", "
                         "\"/path\" or \"@name\"",
                         text, why);
}

/* Fills a Unix address; `fn` names the caller in messages. */
static int unix_addr(prokio_addr_t *out, const char *path, const char *fn)
{
    memset(out, 0, sizeof *out);
    struct sockaddr_un *un = (struct sockaddr_un *)&out->storage;
    size_t n = strlen(path);
    if (n == 0)
        return prokio__error(PROKIO_EINVAL, "%s: the path is empty: give a socket's path", fn);
    if (n >= sizeof un->sun_path)
        return prokio__error(PROKIO_ENAMETOOLONG,
                             "%s: the path \"%.40s...\" has %zu bytes, more than the %zu a Unix "
                             "socket address holds: use a shorter path (a relative one, or a "
                             "shorter directory)",
                             fn, path, n, sizeof un->sun_path - 1);
    un->sun_family = AF_UNIX;
    memcpy(un->sun_path, path, n);
    if (path[0] == '@') {
#ifdef __linux__
        /* Abstract: a NUL first, and the length says where the name ends
         * (no terminating NUL is part of it). */
        un->sun_path[0] = '\0';
        out->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
        return 0;
#else
        memset(out, 0, sizeof *out);
        return prokio__error(PROKIO_ENOTSUP,
                             "%s: abstract Unix socket names (\"@name\") are Linux's: use a path",
                             fn);
#endif
    }
    out->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
    return 0;
}

int prokio_addr_unix(prokio_addr_t *out, const char *path)
{
    if (out == NULL || path == NULL)
        return prokio__error(PROKIO_EINVAL, "prokio_addr_unix: %s is NULL", out ? "path" : "out");
    return unix_addr(out, path, "prokio_addr_unix");
}

int prokio_addr_parse(prokio_addr_t *out, const char *text)
{
    if (out == NULL || text == NULL)
        return prokio__error(PROKIO_EINVAL, "prokio_addr_parse: %s is NULL", out ? "text" : "out");
    if (text[0] == '/' || text[0] == '@')
        return unix_addr(out, text, "prokio_addr_parse");
    char host[INET6_ADDRSTRLEN + 64];
    const char *port;
    size_t hlen;
    if (text[0] == '[') {
        const char *close = strchr(text, ']');
        if (close == NULL)
            return addr_einval(out, text, "opens '[' without closing it");
        if (close[1] != ':')
            return addr_einval(out, text, "has no \":PORT\" after the ']'");
        hlen = (size_t)(close - text - 1);
        memcpy(host, text + 1, hlen < sizeof host ? hlen : 0);
        port = close + 2;
        if (hlen == 0 || hlen >= sizeof host || memchr(host, ':', hlen) == NULL)
            return addr_einval(out, text, "has no IPv6 address between the brackets");
    } else {
        const char *colon = strrchr(text, ':');
        if (colon == NULL)
            return addr_einval(out, text, "has no \":PORT\"");
        hlen = (size_t)(colon - text);
        if (hlen == 0 || hlen >= sizeof host)
            return addr_einval(out, text, "has no address before the ':'");
        memcpy(host, text, hlen);
        if (memchr(host, ':', hlen))
            return addr_einval(out, text, "is an IPv6 address without brackets");
        port = colon + 1;
    }
    host[hlen] = '\0';
    /* The port: 1 to 5 digits, at most 65535 (getaddrinfo would take
     * service names and values above 65535 modulo 2^16). */
    size_t plen = strlen(port);
    if (plen == 0 || plen > 5 || strspn(port, "0123456789") != plen)
        return addr_einval(out, text, "has no port number (0 to 65535) after the ':'");
    unsigned long p = strtoul(port, NULL, 10);
    if (p > 65535)
        return addr_einval(out, text, "has a port above 65535");
    memset(out, 0, sizeof *out);
    if (text[0] != '[') {
        /* inet_pton, not getaddrinfo: it takes the dotted quad only
         * ("127.1" and "0x7f.1" are not addresses anyone means to write). */
        struct sockaddr_in *in = (struct sockaddr_in *)&out->storage;
        if (inet_pton(AF_INET, host, &in->sin_addr) != 1)
            return addr_einval(out, text,
                               "is not a numeric IPv4 address (names are resolved elsewhere)");
        in->sin_family = AF_INET;
        in->sin_port = htons((uint16_t)p);
        out->len = sizeof *in;
        return 0;
    }
    struct addrinfo hints = {.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV,
                             .ai_family = AF_INET6,
                             .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    if (getaddrinfo(host, port, &hints, &res) != 0 || res == NULL)
        return addr_einval(out, text, "is not a numeric IPv6 address");
    memcpy(&out->storage, res->ai_addr, res->ai_addrlen);
    out->len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

int prokio_addr_from_sockaddr(prokio_addr_t *out, const struct sockaddr *sa, socklen_t len)
{
    if (out == NULL || sa == NULL)
        return prokio__error(PROKIO_EINVAL, "prokio_addr_from_sockaddr: %s is NULL",
                             out ? "sa" : "out");
    socklen_t need;
    switch (sa->sa_family) {
    case AF_INET:
        need = sizeof(struct sockaddr_in);
        break;
    case AF_INET6:
        need = sizeof(struct sockaddr_in6);
        break;
    case AF_UNIX:
        need = offsetof(struct sockaddr_un, sun_family) + sizeof(sa_family_t);
        break;
    default:
        return prokio__error(PROKIO_EINVAL,
                             "prokio_addr_from_sockaddr: family %d is not AF_INET, AF_INET6 or "
                             "AF_UNIX",
                             sa->sa_family);
    }
    if (len < need || len > sizeof out->storage)
        return prokio__error(PROKIO_EINVAL,
                             "prokio_addr_from_sockaddr: length %u does not fit family %d "
                             "(%u to %zu bytes)",
                             (unsigned)len, sa->sa_family, (unsigned)need, sizeof out->storage);
    memset(out, 0, sizeof *out);
    memcpy(&out->storage, sa, len);
    out->len = len;
    return 0;
}

int prokio_addr_family(const prokio_addr_t *addr)
{
    if (addr == NULL)
        return prokio__error(PROKIO_EINVAL, "prokio_addr_family: addr is NULL");
    if (addr->len == 0)
        return prokio__error(PROKIO_EINVAL, "prokio_addr_family: the address is empty");
    return addr->storage.ss_family;
}

int prokio_addr_port(const prokio_addr_t *addr)
{
    if (addr == NULL)
        return prokio__error(PROKIO_EINVAL, "prokio_addr_port: addr is NULL");
    if (addr->len != 0 && addr->storage.ss_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)&addr->storage)->sin_port);
    if (addr->len != 0 && addr->storage.ss_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)&addr->storage)->sin6_port);
    return prokio__error(PROKIO_EINVAL,
                         "prokio_addr_port: the address is not IPv4 or IPv6 (family %d, length "
                         "%u): only those have ports",
                         addr->storage.ss_family, (unsigned)addr->len);
}

/* snprintf's result as prokio_addr_format's. */
static int fitted(int n, size_t size)
{
    if (n < 0)
        return prokio__error(PROKIO_EINVAL, "prokio_addr_format: cannot format the address");
    if ((size_t)n >= size)
        return prokio__error(PROKIO_ERANGE,
                             "prokio_addr_format: the text needs %d bytes and its NUL, the "
                             "buffer has %zu: give PROKIO_ADDR_STRLEN",
                             n, size);
    return n;
}

int prokio_addr_format(const prokio_addr_t *addr, char *buf, size_t size)
{
    if (addr == NULL || buf == NULL)
        return prokio__error(PROKIO_EINVAL, "prokio_addr_format: %s is NULL",
                             addr ? "buf" : "addr");
    if (size > 0)
        buf[0] = '\0';
    if (addr->len == 0)
        return prokio__error(PROKIO_EINVAL, "prokio_addr_format: the address is empty");
    /* getnameinfo with NI_NUMERICHOST writes the scope of a link-local
     * IPv6 address ("fe80::1%eth0"), which prokio_addr_parse reads back. */
    char host[INET6_ADDRSTRLEN + 64];
    switch (addr->storage.ss_family) {
    case AF_INET:
    case AF_INET6:
        if (getnameinfo((const struct sockaddr *)&addr->storage, addr->len, host, sizeof host, NULL,
                        0, NI_NUMERICHOST) != 0)
            return prokio__error(PROKIO_EINVAL, "prokio_addr_format: not a valid %s address",
                                 addr->storage.ss_family == AF_INET ? "IPv4" : "IPv6");
        return fitted(snprintf(buf, size, addr->storage.ss_family == AF_INET ? "%s:%d" : "[%s]:%d",
                               host, prokio_addr_port(addr)),
                      size);
    case AF_UNIX: {
        const struct sockaddr_un *un = (const struct sockaddr_un *)&addr->storage;
        size_t off = offsetof(struct sockaddr_un, sun_path);
        size_t n = addr->len > off ? addr->len - off : 0; /* 0: unnamed */
        if (n > 0 && un->sun_path[0] == '\0') /* abstract: the length says where it ends */
            return fitted(snprintf(buf, size, "@%.*s", (int)(n - 1), un->sun_path + 1), size);
        return fitted(snprintf(buf, size, "%.*s", (int)strnlen(un->sun_path, n), un->sun_path),
                      size);
    }
    default:
        return prokio__error(PROKIO_EINVAL, "prokio_addr_format: unknown family %d",
                             addr->storage.ss_family);
    }
}
