/* SPDX-License-Identifier: GPL-3.0-or-later */
/* smtp_conn: where a nexthop's mail goes and the connection to it. Resolution follows Postfix's
 * smtp(8) and lmtp(8): "domain" is looked up as MX records (RFC 5321 §5.1: preference order,
 * equal preferences shuffled by dns.c, A/AAAA of the domain itself when there is no MX, the null
 * MX of RFC 7505 refuses mail); "[host]" skips the MX lookup; ":port" picks the port. An MX list
 * in which this host appears (by name or by one of its addresses) is cut before it, and a list
 * whose best MX is this host is a mail loop. DNS answers come through dns.c, which bounds and
 * validates them. A connection is a non-blocking socket under an SmtpStream, read and written
 * with poll() deadlines, so a slow or silent server holds the agent no longer than the
 * smtp_*_timeout in force. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "parse.h"
#include "smtp.h"

/* Waiting for the resolver, per lookup. */
#define SMTP_DNS_TIMEOUT_USEC (60ULL * 1000000ULL)
/* Input held for one connection: several replies in flight when pipelining. */
#define SMTP_CONN_IN_MAX (64u * 1024)

/* snprintf() that cuts silently: texts from servers are cut to the room there is. */
static void xsnprintf(char *buf, size_t size, const char *fmt, ...) _printf_(3, 4);
static void xsnprintf(char *buf, size_t size, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        (void) vsnprintf(buf, size, fmt, ap);
        va_end(ap);
}

static uint64_t now_usec(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000ULL + (uint64_t) ts.tv_nsec / 1000;
}

void smtp_host_list_done(SmtpHostList *l) {
        for (size_t i = 0; i < l->n; i++)
                free(l->items[i].name);
        l->items = mfree(l->items);
        l->n = 0;
}

static void fail_set(SmtpFailure *f, const char *dsn, const char *fmt, ...) _printf_(3, 4);
static void fail_set(SmtpFailure *f, const char *dsn, const char *fmt, ...) {
        va_list ap;

        xsnprintf(f->dsn, sizeof(f->dsn), "%s", dsn);
        va_start(ap, fmt);
        (void) vsnprintf(f->text, sizeof(f->text), fmt, ap);
        va_end(ap);
}

static void sa_to_string(const struct sockaddr_storage *sa, char *buf, size_t size) {
        if (sa->ss_family == AF_INET)
                (void) inet_ntop(AF_INET, &((const struct sockaddr_in *) sa)->sin_addr, buf,
                                 (socklen_t) size);
        else if (sa->ss_family == AF_INET6)
                (void) inet_ntop(AF_INET6, &((const struct sockaddr_in6 *) sa)->sin6_addr, buf,
                                 (socklen_t) size);
        else
                xsnprintf(buf, size, "%s", ((const struct sockaddr_un *) sa)->sun_path);
}

static void list_truncate(SmtpHostList *l, size_t n) {
        while (l->n > n)
                free(l->items[--l->n].name);
}

static int host_add(SmtpHostList *l, const char *name, const struct sockaddr_storage *sa,
                    socklen_t len, unsigned port) {
        char a[INET6_ADDRSTRLEN + 1] = "";
        SmtpHost *n, *h;

        n = reallocarray(l->items, l->n + 1, sizeof(SmtpHost));
        if (!n)
                return -ENOMEM;
        l->items = n;
        h = &l->items[l->n];
        *h = (SmtpHost) { .sa = *sa, .sa_len = len };
        h->name = strdup(name);
        if (!h->name)
                return -ENOMEM;
        sa_to_string(sa, a, sizeof(a));
        if (sa->ss_family == AF_UNIX)
                xsnprintf(h->relay, sizeof(h->relay), "%s[%s]", name, a);
        else
                xsnprintf(h->relay, sizeof(h->relay), "%s[%s]:%u", name, a, port);
        l->n++;
        return 0;
}

/* A numeric address, optionally with Postfix's "ipv6:" prefix. Returns 1 with *ret, 0 when
 * text is not one. */
static int numeric_addr(const char *text, unsigned port, struct sockaddr_storage *ret,
                        socklen_t *ret_len) {
        const char *t = text;

        if (strncasecmp(t, "ipv6:", 5) == 0)
                t += 5;
        *ret = (struct sockaddr_storage) {};
        struct sockaddr_in *in = (struct sockaddr_in *) ret;
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *) ret;
        if (inet_pton(AF_INET, t, &in->sin_addr) == 1) {
                in->sin_family = AF_INET;
                in->sin_port = htons((uint16_t) port);
                *ret_len = sizeof(*in);
                return 1;
        }
        if (inet_pton(AF_INET6, t, &in6->sin6_addr) == 1) {
                in6->sin6_family = AF_INET6;
                in6->sin6_port = htons((uint16_t) port);
                *ret_len = sizeof(*in6);
                return 1;
        }
        return 0;
}

static bool family_ok(const SmtpSettings *s, int family) {
        return s->family == AF_UNSPEC || s->family == family;
}

/* Port text: a number, or a service name (/etc/services, with smtp and lmtp known without
 * it). Returns 0, -EINVAL. */
static int port_parse(const char *text, unsigned *ret) {
        struct servent *se;
        uint64_t v;

        if (parse_uint64(text, &v) >= 0) {
                if (v == 0 || v > 65535)
                        return -EINVAL;
                *ret = (unsigned) v;
                return 0;
        }
        if (streq(text, "smtp")) {
                *ret = 25;
                return 0;
        }
        if (streq(text, "lmtp")) {
                *ret = 24;
                return 0;
        }
        se = getservbyname(text, "tcp");
        if (!se)
                return -EINVAL;
        *ret = ntohs((uint16_t) se->s_port);
        return 0;
}

static int dns_get(const SmtpSettings *s, Dns **dns) {
        (void) s;
        if (*dns)
                return 0;
        /* TERN_DNS_SERVER: the test hook smtpd also honours; no Postfix parameter names the
         * resolver's servers. */
        return dns_new_with_servers(NULL, getenv("TERN_DNS_SERVER"), NULL, dns);
}

/* Whether an address is one this host listens on (inet_interfaces), for loop detection. */
static bool addr_is_self(const SmtpSettings *s, const struct sockaddr_storage *sa) {
        char a[INET6_ADDRSTRLEN + 1] = "";
        bool all = false, loopback = false;

        sa_to_string(sa, a, sizeof(a));
        for (char **i = s->inet_interfaces; i && *i; i++) {
                if (streq(*i, "all"))
                        all = true;
                else if (streq(*i, "loopback-only"))
                        loopback = true;
                else if (streq(*i, a))
                        return true;
        }
        if (loopback && (streq(a, "127.0.0.1") || streq(a, "::1")))
                return true;
        if (all) {
                struct ifaddrs *ifs = NULL;
                bool found = false;

                if (getifaddrs(&ifs) < 0)
                        return false;
                for (struct ifaddrs *i = ifs; i && !found; i = i->ifa_next) {
                        char b[INET6_ADDRSTRLEN + 1] = "";
                        struct sockaddr_storage ss = {};

                        if (!i->ifa_addr || !IN_SET(i->ifa_addr->sa_family, AF_INET, AF_INET6))
                                continue;
                        memcpy(&ss, i->ifa_addr, i->ifa_addr->sa_family == AF_INET ?
                               sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6));
                        sa_to_string(&ss, b, sizeof(b));
                        found = streq(a, b);
                }
                freeifaddrs(ifs);
                return found;
        }
        return false;
}

/* Adds the addresses of name. Returns the number added (>= 0) or a lookup error (-ENXIO,
 * -ENODATA, -EAGAIN, -ETIMEDOUT, -EBADMSG), -ENOMEM. *ret_self is set when one is ours. */
static int host_lookup(const SmtpSettings *s, Dns **dns, const char *name, unsigned port,
                       bool check_self, SmtpHostList *l, bool *ret_self) {
        struct sockaddr_storage sa;
        socklen_t len;
        size_t before = l->n;
        int r = -ENODATA;

        *ret_self = false;
        if (numeric_addr(name, port, &sa, &len) > 0) {
                if (!family_ok(s, sa.ss_family))
                        return -ENODATA;
                if (check_self && addr_is_self(s, &sa)) {
                        *ret_self = true;
                        return 0;
                }
                r = host_add(l, name, &sa, len, port);
                return r < 0 ? r : 1;
        }

        if (s->host_lookup_dns) {
                _cleanup_(dns_addr_list_freep) DnsAddrList *al = NULL;

                r = dns_get(s, dns);
                if (r < 0)
                        return r == -ENOMEM ? r : -EAGAIN;
                r = dns_addr_lookup_sync(*dns, name, s->family, SMTP_DNS_TIMEOUT_USEC, &al);
                for (size_t i = 0; r >= 0 && i < al->n; i++) {
                        sa = (struct sockaddr_storage) {};
                        if (al->items[i].family == AF_INET) {
                                struct sockaddr_in *in = (struct sockaddr_in *) &sa;

                                in->sin_family = AF_INET;
                                in->sin_addr = al->items[i].in;
                                in->sin_port = htons((uint16_t) port);
                                len = sizeof(*in);
                        } else {
                                struct sockaddr_in6 *in6 = (struct sockaddr_in6 *) &sa;

                                in6->sin6_family = AF_INET6;
                                in6->sin6_addr = al->items[i].in6;
                                in6->sin6_port = htons((uint16_t) port);
                                len = sizeof(*in6);
                        }
                        if (check_self && addr_is_self(s, &sa)) {
                                *ret_self = true;
                                list_truncate(l, before);
                                return 0;
                        }
                        int k = host_add(l, name, &sa, len, port);
                        if (k < 0)
                                return k;
                }
        }
        if (l->n == before && s->host_lookup_native) {
                struct addrinfo hints = {
                        .ai_family = s->family, .ai_socktype = SOCK_STREAM,
                }, *res = NULL;
                int g = getaddrinfo(name, NULL, &hints, &res);

                if (g == EAI_NONAME)
                        r = -ENXIO;
                else if (g == EAI_AGAIN)
                        r = -EAGAIN;
                else if (g != 0)
                        r = -ENODATA;
                else
                        r = 0;
                for (struct addrinfo *ai = res; r >= 0 && ai; ai = ai->ai_next) {
                        if ((size_t) ai->ai_addrlen > sizeof(sa))
                                continue;
                        sa = (struct sockaddr_storage) {};
                        memcpy(&sa, ai->ai_addr, ai->ai_addrlen);
                        if (sa.ss_family == AF_INET)
                                ((struct sockaddr_in *) &sa)->sin_port = htons((uint16_t) port);
                        else if (sa.ss_family == AF_INET6)
                                ((struct sockaddr_in6 *) &sa)->sin6_port =
                                        htons((uint16_t) port);
                        else
                                continue;
                        if (check_self && addr_is_self(s, &sa)) {
                                *ret_self = true;
                                break;
                        }
                        r = host_add(l, name, &sa, ai->ai_addrlen, port);
                }
                if (res)
                        freeaddrinfo(res);
                if (*ret_self) {
                        list_truncate(l, before);
                        return 0;
                }
                if (r < 0)
                        return r;
        }
        if (r < 0 && l->n == before)
                return r;
        return (int) (l->n - before);
}

static const char *lookup_error_text(int r) {
        return IN_SET(r, -EAGAIN, -ETIMEDOUT) ? "Host not found, try again" :
               r == -ENODATA ? "No address associated with hostname" : "Host not found";
}

static void lookup_fail(SmtpFailure *f, int r, const char *name, const char *type) {
        bool temp = IN_SET(r, -EAGAIN, -ETIMEDOUT, -ENOMEM);

        fail_set(f, temp ? "4.4.3" : "5.4.4", "Host or domain name not found. Name service "
                 "error for name=%s type=%s: %s", name, type, lookup_error_text(r));
}

static void list_cut(SmtpHostList *l, const SmtpSettings *s) {
        if (s->mx_address_limit > 0)
                list_truncate(l, s->mx_address_limit);
}

static int resolve_unix(const SmtpSettings *s, const char *path, SmtpHostList *ret,
                        SmtpFailure *ret_fail) {
        _cleanup_free_ char *full = NULL;
        struct sockaddr_storage sa = {};
        struct sockaddr_un *un = (struct sockaddr_un *) &sa;
        int r;

        if (isempty(path)) {
                fail_set(ret_fail, "4.3.5", "mail system configuration error: empty unix "
                         "socket path");
                return 0;
        }
        /* Postfix's "unix:private/dovecot-lmtp" is relative to the queue directory. */
        if (path[0] != '/' && asprintf(&full, "%s/%s", s->queue_directory, path) < 0)
                return -ENOMEM;
        if (strlen(full ? full : path) >= sizeof(un->sun_path)) {
                fail_set(ret_fail, "4.3.5", "mail system configuration error: unix socket "
                         "path too long: %s", path);
                return 0;
        }
        un->sun_family = AF_UNIX;
        strcpy(un->sun_path, full ? full : path);
        r = host_add(ret, s->myhostname, &sa, (socklen_t) sizeof(*un), 0);
        if (r < 0)
                return r;
        /* Postfix shows the path as given: relay=host[private/dovecot-lmtp]. */
        xsnprintf(ret->items[0].relay, sizeof(ret->items[0].relay), "%s[%s]",
                        s->myhostname, path);
        return 1;
}

int smtp_hosts_resolve(const SmtpSettings *s, Dns **dns, const char *nexthop,
                       SmtpHostList *ret, SmtpFailure *ret_fail) {
        _cleanup_free_ char *host = NULL;
        _cleanup_(smtp_host_list_done) SmtpHostList l = {};
        const char *p = nexthop, *port_text = s->tcp_port, *colon;
        unsigned port;
        bool bracket = false, self = false, check_self;
        int r;

        assert(s);
        assert(nexthop);
        assert(ret);
        assert(ret_fail);

        if (s->lmtp) {
                if (startswith(p, "unix:")) {
                        r = resolve_unix(s, p + 5, &l, ret_fail);
                        if (r > 0)
                                *ret = TAKE_GENERIC(l, SmtpHostList, (SmtpHostList) {});
                        return r;
                }
                if (startswith(p, "inet:"))
                        p += 5;
        }

        if (p[0] == '[') {
                const char *end = strchr(p, ']');

                if (!end || end == p + 1 || (end[1] && end[1] != ':')) {
                        fail_set(ret_fail, "5.4.4", "bad nexthop syntax: %s", nexthop);
                        return 0;
                }
                host = strndup(p + 1, (size_t) (end - p - 1));
                if (end[1] == ':')
                        port_text = end + 2;
                bracket = true;
        } else {
                /* "host:port"; an IPv6 address needs brackets. */
                colon = strrchr(p, ':');
                host = colon ? strndup(p, (size_t) (colon - p)) : strdup(p);
                if (colon)
                        port_text = colon + 1;
        }
        if (!host)
                return -ENOMEM;
        if (isempty(host) || port_parse(port_text, &port) < 0) {
                fail_set(ret_fail, "5.4.4", "bad nexthop syntax: %s", nexthop);
                return 0;
        }
        /* A mail loop is only a loop on the SMTP port: a content filter or a second instance
         * on 127.0.0.1 with another port is not this host's MX service. */
        check_self = !s->lmtp && port == 25;

        /* LMTP never looks up MX records; SMTP does for a bare domain when DNS is on. */
        if (!bracket && !s->lmtp && s->dns) {
                _cleanup_(dns_mx_list_freep) DnsMxList *mx = NULL;

                r = dns_get(s, dns);
                if (r < 0) {
                        fail_set(ret_fail, "4.4.3", "cannot set up the resolver");
                        return r == -ENOMEM ? r : 0;
                }
                r = dns_mx_lookup_sync(*dns, host, SMTP_DNS_TIMEOUT_USEC, &mx);
                if (r == -ENOMEM)
                        return r;
                if (r >= 0 && mx->null_mx) {
                        fail_set(ret_fail, "5.1.10", "Domain %s does not accept mail (nullMX)",
                                 host);
                        return 0;
                }
                if (r >= 0) {
                        int last = -ENODATA;
                        bool any_self = false;
                        size_t level_start = 0;

                        for (size_t i = 0; i < mx->n; i++) {
                                if (i == 0 || mx->items[i].preference !=
                                              mx->items[i - 1].preference)
                                        level_start = l.n;
                                if (check_self &&
                                    strcasecmp(mx->items[i].host, s->myhostname) == 0)
                                        self = true;
                                else {
                                        r = host_lookup(s, dns, mx->items[i].host, port,
                                                        check_self, &l, &self);
                                        if (r == -ENOMEM)
                                                return r;
                                        if (r < 0)
                                                last = r;
                                }
                                /* This host is an MX: only the more preferred ones are
                                 * where mail goes (RFC 5321 §5.1), its equals are dropped. */
                                if (self) {
                                        any_self = true;
                                        list_truncate(&l, level_start);
                                        break;
                                }
                        }
                        if (l.n == 0 && any_self) {
                                fail_set(ret_fail, "5.4.6", "mail for %s loops back to myself",
                                         host);
                                return 0;
                        }
                        if (l.n == 0) {
                                lookup_fail(ret_fail, last, mx->items[mx->n - 1].host,
                                            s->family == AF_INET6 ? "AAAA" : "A");
                                return 0;
                        }
                        list_cut(&l, s);
                        *ret = TAKE_GENERIC(l, SmtpHostList, (SmtpHostList) {});
                        return 1;
                }
                if (r != -ENODATA) {
                        lookup_fail(ret_fail, r, host, "MX");
                        return 0;
                }
                /* No MX: the domain's own addresses (RFC 5321 §5.1). */
        }

        r = host_lookup(s, dns, host, port, check_self, &l, &self);
        if (r == -ENOMEM)
                return r;
        if (self) {
                fail_set(ret_fail, "5.4.6", "mail for %s loops back to myself", host);
                return 0;
        }
        if (r <= 0 || l.n == 0) {
                lookup_fail(ret_fail, r < 0 ? r : -ENODATA, host,
                            s->family == AF_INET6 ? "AAAA" : "A");
                return 0;
        }
        list_cut(&l, s);
        *ret = TAKE_GENERIC(l, SmtpHostList, (SmtpHostList) {});
        return 1;
}

SmtpConn *smtp_conn_free(SmtpConn *c) {
        if (!c)
                return NULL;
        smtp_stream_done(&c->stream);
        smtp_reply_parser_done(&c->parser);
        safe_close(c->fd);
        return mfree(c);
}

/* Waits for fd to become ready for events until deadline (0: for ever). Returns 0, -ETIMEDOUT,
 * -errno. */
static int wait_fd(int fd, short events, uint64_t deadline) {
        for (;;) {
                struct pollfd pfd = { .fd = fd, .events = events };
                uint64_t now = now_usec();
                int timeout_ms = -1, k;

                if (deadline > 0) {
                        if (now >= deadline)
                                return -ETIMEDOUT;
                        timeout_ms = (int) MIN((deadline - now + 999) / 1000, (uint64_t) INT32_MAX);
                }
                k = poll(&pfd, 1, timeout_ms);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                if (k > 0)
                        return 0;
        }
}

static uint64_t deadline_of(uint64_t timeout_usec) {
        return timeout_usec == 0 ? 0 : now_usec() + timeout_usec;
}

static int bind_source(const SmtpSettings *s, int fd, int family) {
        const char *src = family == AF_INET ? s->bind_address : s->bind_address6;
        struct sockaddr_storage sa;
        socklen_t len;

        if (isempty(src))
                return 0;
        if (numeric_addr(src, 0, &sa, &len) <= 0 || sa.ss_family != family)
                return -EINVAL;
        return NEG_ERRNO(bind(fd, (struct sockaddr *) &sa, len));
}

int smtp_conn_open(const SmtpSettings *s, const SmtpHost *host, SmtpConn **ret) {
        _cleanup_(smtp_conn_freep) SmtpConn *c = NULL;
        int err = 0, r;
        socklen_t elen = sizeof(err);

        assert(s);
        assert(host);
        assert(ret);

        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->fd = socket(host->sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (c->fd < 0)
                return -errno;
        smtp_stream_init(&c->stream, c->fd, SMTP_CONN_IN_MAX, SMTP_IO_OUT_MAX);
        xsnprintf(c->relay, sizeof(c->relay), "%s", host->relay);

        if (host->sa.ss_family != AF_UNIX) {
                r = bind_source(s, c->fd, host->sa.ss_family);
                if (r < 0)
                        return r;
        }
        if (connect(c->fd, (const struct sockaddr *) &host->sa, host->sa_len) < 0) {
                if (errno != EINPROGRESS && errno != EAGAIN)
                        return -errno;
                r = wait_fd(c->fd, POLLOUT, deadline_of(s->connect_timeout_usec));
                if (r < 0)
                        return r;
                if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
                        return -errno;
                if (err != 0)
                        return -err;
        }
        c->connected_usec = now_usec();
        *ret = TAKE_PTR(c);
        return 0;
}

int smtp_conn_write(SmtpConn *c, const void *p, size_t n) {
        return smtp_stream_write(&c->stream, p, n);
}

int smtp_conn_flush(SmtpConn *c, uint64_t timeout_usec) {
        uint64_t deadline = deadline_of(timeout_usec);
        int r;

        for (;;) {
                r = smtp_stream_flush(&c->stream);
                if (r == -EINTR)
                        continue;
                if (r < 0) {
                        c->broken = true;
                        return r;
                }
                if (r > 0)
                        return 0;
                r = wait_fd(c->fd, POLLOUT, deadline);
                if (r < 0) {
                        c->broken = true;
                        return r;
                }
        }
}

int smtp_conn_read_reply(SmtpConn *c, uint64_t timeout_usec, SmtpReply **ret) {
        uint64_t deadline = deadline_of(timeout_usec);
        int r;

        for (;;) {
                char *line;
                size_t len;
                ssize_t k;

                r = buf_getline(&c->stream.in, SMTP_REPLY_LINE_MAX, &line, &len);
                if (r < 0) {
                        c->broken = true;
                        return r;
                }
                if (r > 0) {
                        r = smtp_reply_feed_line(&c->parser, line, len, ret);
                        if (r < 0) {
                                c->broken = true;
                                return r;
                        }
                        if (r > 0)
                                return 0;
                        continue;
                }
                if (c->stream.eof) {
                        c->broken = true;
                        return -ECONNRESET;
                }
                k = smtp_stream_fill(&c->stream);
                if (k == -EAGAIN || k == -EINTR) {
                        r = wait_fd(c->fd, POLLIN, deadline);
                        if (r < 0) {
                                c->broken = true;
                                return r;
                        }
                        continue;
                }
                if (k < 0) {
                        c->broken = true;
                        return (int) k;
                }
        }
}
