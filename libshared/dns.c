/* SPDX-License-Identifier: GPL-3.0-or-later */
/* dns: c-ares bound to sd-event, and the lookups tern needs (see dns.h). Answers are untrusted:
 * c-ares parses the packets, every name is normalised and validated here before it leaves the
 * module, and every list is bounded.
 *
 * Life of a query: a DnsQuery counts the c-ares requests it still waits for (n_pending, plus one
 * hold while our own code works on it, so that a request completing synchronously inside
 * ares_query() cannot free it under our feet). It is "over" once its callback has run or it has
 * been cancelled; it is freed when it is over and nothing is pending. c-ares cannot cancel one
 * request, so a cancelled query just ignores what still arrives. */
#include <arpa/inet.h>
#include <ares.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "addr.h"
#include "dns.h"

/* Bounds on DnsOptions. */
#define DNS_TIMEOUT_USEC_MAX (UINT64_C(3600) * 1000 * 1000)
#define DNS_TRIES_MAX 100u
/* Longest reverse name: 32 nibbles "x." and "ip6.arpa". */
#define DNS_REVERSE_NAME_MAX (32 * 2 + sizeof("ip6.arpa"))
/* RFC 1035 §3.2.2-4, RFC 3596 §2.1 (<arpa/nameser.h> would clash with macro.h's MIN/MAX). */
#define DNS_CLASS_IN 1
#define DNS_TYPE_A 1
#define DNS_TYPE_PTR 12
#define DNS_TYPE_MX 15
#define DNS_TYPE_AAAA 28

DEFINE_PTR_CLEANUP(struct hostent *, ares_free_hostent);

typedef enum QueryType {
        QUERY_CLIENT_NAME,
        QUERY_MX,
        QUERY_ADDR,
        _QUERY_TYPE_MAX,
        _QUERY_TYPE_INVALID = -EINVAL,
} QueryType;

typedef struct DnsSocket {
        int fd;
        sd_event_source *src;           /* NULL without an event loop */
        bool readable;
        bool writable;
} DnsSocket;

struct Dns {
        sd_event *event;                /* NULL: blocking use only */
        ares_channel channel;
        bool channel_ok;
        sd_event_source *timer;
        DnsSocket *sockets;
        size_t n_sockets;
        size_t cap_sockets;
        DnsQuery *queries;              /* every query not yet freed */
        size_t n_active;                /* ... of which not over */
        bool freeing;
};

struct DnsQuery {
        Dns *dns;
        DnsQuery *prev, *next;
        QueryType type;
        unsigned n_pending;             /* c-ares callbacks to come, plus holds */
        bool starting;                  /* inside the call that started it */
        bool finished;                  /* r and result are set */
        bool over;                      /* delivered or cancelled */
        sd_event_source *defer;         /* delivery of a result found while starting */
        union {
                DnsClientNameCallback name;
                DnsMxCallback mx;
                DnsAddrCallback addr;
        } cb;
        void *userdata;
        int r;
        void *result;

        /* client name */
        int family;
        union {
                struct in_addr in;
                struct in6_addr in6;
        } addr;
        DnsClientName *name;            /* being built */

        /* address lookups */
        unsigned addr_left;             /* sub-queries (A, AAAA) not answered */
        DnsAddr *v4, *v6;
        size_t n_v4, n_v6;
        int err4, err6;
};

const char *dns_name_status_to_string(DnsNameStatus s) {
        static const char *const table[_DNS_NAME_STATUS_MAX] = {
                [DNS_NAME_OK] = "ok",
                [DNS_NAME_TEMPFAIL] = "tempfail",
                [DNS_NAME_NOT_FOUND] = "not-found",
                [DNS_NAME_FORGED] = "forged",
        };

        if (s < 0 || s >= _DNS_NAME_STATUS_MAX)
                return NULL;
        return table[s];
}

DnsClientName *dns_client_name_free(DnsClientName *c) {
        if (!c)
                return NULL;
        free(c->name);
        free(c->reverse_name);
        return mfree(c);
}

DnsMxList *dns_mx_list_free(DnsMxList *l) {
        if (!l)
                return NULL;
        for (size_t i = 0; i < l->n; i++)
                free(l->items[i].host);
        free(l->items);
        return mfree(l);
}

DnsAddrList *dns_addr_list_free(DnsAddrList *l) {
        if (!l)
                return NULL;
        free(l->items);
        return mfree(l);
}

static int status_to_errno(int status) {
        switch (status) {
        case ARES_SUCCESS:
                return 0;
        case ARES_ENOTFOUND:
                return -ENXIO;
        case ARES_ENODATA:
                return -ENODATA;
        case ARES_ETIMEOUT:
                return -ETIMEDOUT;
        case ARES_ENOMEM:
                return -ENOMEM;
        case ARES_EBADRESP:
        case ARES_EBADNAME:
        case ARES_EBADQUERY:
        case ARES_EBADFAMILY:
                return -EBADMSG;
        case ARES_ECANCELLED:
        case ARES_EDESTRUCTION:
                return -ECANCELED;
        default:
                /* SERVFAIL, REFUSED, NOTIMP, FORMERR, no server reachable */
                return -EAGAIN;
        }
}

static bool error_is_temporary(int r) {
        return IN_SET(r, -EAGAIN, -ETIMEDOUT, -ENOMEM);
}

/* A name from an answer (or a caller) as tern keeps it: no trailing dot, lower case, valid
 * host name syntax, not an IPv4 address in disguise. Returns 0, -EBADMSG, -ENOMEM. */
static int name_normalize(const char *in, char **ret) {
        _cleanup_free_ char *s = NULL;
        struct in_addr a;
        size_t n = strlen(in);

        if (n > 0 && in[n - 1] == '.')
                n--;
        if (n == 0 || n > DNS_NAME_MAX)
                return -EBADMSG;
        s = strndup(in, n);
        if (!s)
                return -ENOMEM;
        for (char *c = s; *c; c++)
                if (*c >= 'A' && *c <= 'Z')
                        *c = (char) (*c - 'A' + 'a');
        if (!addr_domain_is_valid(s) || inet_pton(AF_INET, s, &a) == 1)
                return -EBADMSG;
        *ret = TAKE_PTR(s);
        return 0;
}

/* ---- Sockets and the timer ---- */

static uint64_t now_usec(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

static void update_timer(Dns *d) {
        struct timeval tv, *tvp;

        if (!d->timer || d->freeing)
                return;
        tvp = ares_timeout(d->channel, NULL, &tv);
        if (!tvp) {
                (void) sd_event_source_set_enabled(d->timer, SD_EVENT_OFF);
                return;
        }
        (void) sd_event_source_set_time_relative(d->timer, (uint64_t) tvp->tv_sec * 1000000u +
                                                                   (uint64_t) tvp->tv_usec);
        (void) sd_event_source_set_enabled(d->timer, SD_EVENT_ONESHOT);
}

static int on_io(sd_event_source *src, int fd, uint32_t revents, void *userdata) {
        Dns *d = userdata;

        (void) src;
        ares_process_fd(d->channel,
                        revents & (EPOLLIN | EPOLLERR | EPOLLHUP) ? fd : ARES_SOCKET_BAD,
                        revents & EPOLLOUT ? fd : ARES_SOCKET_BAD);
        update_timer(d);
        return 0;
}

static int on_timer(sd_event_source *src, uint64_t usec, void *userdata) {
        Dns *d = userdata;

        (void) src;
        (void) usec;
        ares_process_fd(d->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
        update_timer(d);
        return 0;
}

static uint32_t socket_events(const DnsSocket *s) {
        return (s->readable ? EPOLLIN : 0) | (s->writable ? EPOLLOUT : 0);
}

/* ARES_OPT_SOCK_STATE_CB: c-ares opened, changed or is about to close one of its sockets. A
 * failure to watch a socket is not fatal: the query then times out. */
static void on_sock_state(void *data, ares_socket_t fd, int readable, int writable) {
        Dns *d = data;
        DnsSocket *s = NULL;
        size_t i;

        for (i = 0; i < d->n_sockets; i++)
                if (d->sockets[i].fd == fd) {
                        s = &d->sockets[i];
                        break;
                }

        if (!readable && !writable) {
                if (!s)
                        return;
                sd_event_source_disable_unref(s->src);
                d->sockets[i] = d->sockets[--d->n_sockets];
                return;
        }

        if (!s) {
                if (d->n_sockets == d->cap_sockets) {
                        size_t cap = d->cap_sockets ? d->cap_sockets * 2 : 4;
                        DnsSocket *n = reallocarray(d->sockets, cap, sizeof(DnsSocket));

                        if (!n)
                                return;
                        d->sockets = n;
                        d->cap_sockets = cap;
                }
                s = &d->sockets[d->n_sockets++];
                *s = (DnsSocket) { .fd = fd };
        }
        s->readable = readable;
        s->writable = writable;
        if (!d->event || d->freeing)
                return;
        if (s->src)
                (void) sd_event_source_set_io_events(s->src, socket_events(s));
        else
                (void) sd_event_add_io(d->event, &s->src, fd, socket_events(s), on_io, d);
}

/* ---- Resolver ---- */

int dns_new_with_servers(sd_event *e, const char *servers, const DnsOptions *options,
                         Dns **ret) {
        _cleanup_(dns_freep) Dns *d = NULL;
        struct ares_options o = {};
        int mask = ARES_OPT_SOCK_STATE_CB | ARES_OPT_LOOKUPS, r;

        assert(ret);

        d = calloc(1, sizeof(*d));
        if (!d)
                return -ENOMEM;
        if (ares_library_init(ARES_LIB_INIT_ALL) != ARES_SUCCESS) {
                free(TAKE_PTR(d));
                return -EIO;
        }
        if (e)
                d->event = sd_event_ref(e);

        o.sock_state_cb = on_sock_state;
        o.sock_state_cb_data = d;
        /* Unset, resolv.conf's "options timeout: attempts:" apply (c-ares reads them). */
        if (options && options->timeout_usec > 0) {
                o.timeout = (int) MIN(MAX(options->timeout_usec / 1000, (uint64_t) 1),
                                      (uint64_t) DNS_TIMEOUT_USEC_MAX / 1000);
                mask |= ARES_OPT_TIMEOUTMS;
        }
        if (options && options->tries > 0) {
                o.tries = (int) MIN(options->tries, DNS_TRIES_MAX);
                mask |= ARES_OPT_TRIES;
        }
        /* gethostbyaddr() is only used for /etc/hosts; DNS goes through ares_query(), which
         * reports failures faithfully (the "b" step of gethostbyaddr() turns every failure
         * into "not found"). */
        o.lookups = (char *) "f";
        r = ares_init_options(&d->channel, &o, mask);
        if (r != ARES_SUCCESS)
                return r == ARES_ENOMEM ? -ENOMEM : -EIO;
        d->channel_ok = true;

        if (servers) {
                r = ares_set_servers_ports_csv(d->channel, servers);
                if (r != ARES_SUCCESS)
                        return r == ARES_ENOMEM ? -ENOMEM : -EINVAL;
        }

        if (e) {
                r = sd_event_add_time_relative(e, &d->timer, CLOCK_MONOTONIC, /* usec= */ 0,
                                               /* accuracy= */ 1000, on_timer, d);
                if (r < 0)
                        return r;
                r = sd_event_source_set_enabled(d->timer, SD_EVENT_OFF);
                if (r < 0)
                        return r;
        }

        *ret = TAKE_PTR(d);
        return 0;
}

int dns_new(sd_event *e, Dns **ret) {
        return dns_new_with_servers(e, NULL, NULL, ret);
}

static void query_free(DnsQuery *q);

Dns *dns_free(Dns *d) {
        if (!d)
                return NULL;

        /* Nobody hears from a query again; then c-ares reports its requests as destroyed,
         * which frees the queries waiting for them. */
        for (DnsQuery *q = d->queries, *next; q; q = next) {
                next = q->next;
                (void) dns_query_cancel(q);     /* may free q */
        }
        d->freeing = true;
        if (d->channel_ok)
                ares_destroy(d->channel);
        while (d->queries)
                query_free(d->queries);
        for (size_t i = 0; i < d->n_sockets; i++)
                sd_event_source_disable_unref(d->sockets[i].src);
        free(d->sockets);
        sd_event_source_disable_unref(d->timer);
        sd_event_unref(d->event);
        ares_library_cleanup();
        return mfree(d);
}

size_t dns_pending(const Dns *d) {
        return d ? d->n_active : 0;
}

/* ---- Queries ---- */

static void query_free(DnsQuery *q) {
        Dns *d = q->dns;

        if (q->prev)
                q->prev->next = q->next;
        else
                d->queries = q->next;
        if (q->next)
                q->next->prev = q->prev;
        sd_event_source_disable_unref(q->defer);
        dns_client_name_free(q->name);
        free(q->v4);
        free(q->v6);
        free(q);
}

static void result_free(QueryType type, void *result) {
        if (type == QUERY_CLIENT_NAME)
                dns_client_name_free(result);
        else if (type == QUERY_MX)
                dns_mx_list_free(result);
        else
                dns_addr_list_free(result);
}

/* Drops a hold (or a c-ares request's count); frees the query when nothing else needs it. */
static void query_release(DnsQuery *q) {
        assert(q->n_pending > 0);
        if (--q->n_pending == 0 && q->over)
                query_free(q);
}

static int query_new(Dns *d, QueryType type, void *userdata, DnsQuery **ret) {
        DnsQuery *q;

        q = calloc(1, sizeof(*q));
        if (!q)
                return -ENOMEM;
        q->dns = d;
        q->type = type;
        q->userdata = userdata;
        q->n_pending = 1;               /* the starter's hold */
        q->starting = true;
        q->next = d->queries;
        if (q->next)
                q->next->prev = q;
        d->queries = q;
        d->n_active++;
        *ret = q;
        return 0;
}

static void deliver(DnsQuery *q) {
        void *result = TAKE_PTR(q->result);

        assert(q->finished);
        if (q->over) {
                result_free(q->type, result);
                return;
        }
        q->over = true;
        q->dns->n_active--;
        if (q->type == QUERY_CLIENT_NAME)
                q->cb.name(q, q->r, result, q->userdata);
        else if (q->type == QUERY_MX)
                q->cb.mx(q, q->r, result, q->userdata);
        else
                q->cb.addr(q, q->r, result, q->userdata);
}

/* Sets the outcome; delivers it now unless the starter is still running. */
static void query_finish(DnsQuery *q, int r, void *result) {
        assert(!q->finished);
        q->finished = true;
        q->r = r;
        q->result = result;
        if (!q->starting)
                deliver(q);
}

static int on_deliver(sd_event_source *src, void *userdata) {
        DnsQuery *q = userdata;

        (void) src;
        q->defer = sd_event_source_disable_unref(q->defer);
        q->n_pending++;
        deliver(q);
        query_release(q);
        return 0;
}

/* The end of a start function: hands out the query, or delivers what was found while
 * starting (later, from the loop; at once for the blocking forms), and drops the hold. */
static int query_started(DnsQuery *q, bool sync, DnsQuery **ret) {
        Dns *d = q->dns;
        int r = 0;

        q->starting = false;
        if (q->finished && !q->over) {
                if (sync || !d->event)
                        deliver(q);
                else {
                        r = sd_event_add_defer(d->event, &q->defer, on_deliver, q);
                        if (r < 0)
                                (void) dns_query_cancel(q);
                }
        }
        if (ret)
                *ret = q->over ? NULL : q;
        update_timer(d);
        query_release(q);
        return r;
}

DnsQuery *dns_query_cancel(DnsQuery *q) {
        if (!q || q->over)
                return NULL;
        q->over = true;
        q->dns->n_active--;
        q->defer = sd_event_source_disable_unref(q->defer);
        result_free(q->type, TAKE_PTR(q->result));
        if (q->n_pending == 0)
                query_free(q);
        return NULL;
}

/* The common head of every c-ares callback: whether the query still wants the answer. When
 * not, the request's count is dropped. */
static bool query_wants(DnsQuery *q, int status) {
        if (q->over || status == ARES_EDESTRUCTION || status == ARES_ECANCELLED) {
                query_release(q);
                return false;
        }
        return true;
}

/* ---- Client name ---- */

static void name_finish(DnsQuery *q, DnsNameStatus st, int error) {
        DnsClientName *c = TAKE_PTR(q->name);

        c->name_status = st;
        c->error = error;
        if (st == DNS_NAME_OK) {
                char *n = strdup(c->reverse_name);

                if (!n) {
                        dns_client_name_free(c);
                        query_finish(q, -ENOMEM, NULL);
                        return;
                }
                free(c->name);
                c->name = n;
        }
        query_finish(q, 0, c);
}

static void name_reverse_failed(DnsQuery *q, int r) {
        DnsNameStatus st = error_is_temporary(r) ? DNS_NAME_TEMPFAIL : DNS_NAME_NOT_FOUND;

        if (r == -ENOMEM) {
                query_finish(q, -ENOMEM, NULL);
                return;
        }
        q->name->reverse_status = st;
        name_finish(q, st, r);
}

static bool hostent_has_address(const struct hostent *he, int family, const void *addr) {
        size_t len = family == AF_INET ? sizeof(struct in_addr) : sizeof(struct in6_addr);

        if (he->h_addrtype != family || !he->h_addr_list)
                return false;
        for (char **a = he->h_addr_list; *a; a++)
                if (memcmp(*a, addr, len) == 0)
                        return true;
        return false;
}

static void on_forward(void *arg, int status, int timeouts, unsigned char *abuf, int alen) {
        DnsQuery *q = arg;
        bool match = false;
        int r;

        (void) timeouts;
        if (!query_wants(q, status))
                return;

        r = status_to_errno(status);
        if (r >= 0 && q->family == AF_INET) {
                struct ares_addrttl a[DNS_ADDR_MAX];
                int n = (int) ELEMENTSOF(a);

                r = status_to_errno(ares_parse_a_reply(abuf, alen, /* host= */ NULL, a, &n));
                for (int i = 0; r >= 0 && i < n; i++)
                        match = match || memcmp(&a[i].ipaddr, &q->addr.in, 4) == 0;
        } else if (r >= 0) {
                struct ares_addr6ttl a[DNS_ADDR_MAX];
                int n = (int) ELEMENTSOF(a);

                r = status_to_errno(ares_parse_aaaa_reply(abuf, alen, /* host= */ NULL, a,
                                                          &n));
                for (int i = 0; r >= 0 && i < n; i++)
                        match = match || memcmp(&a[i].ip6addr, &q->addr.in6, 16) == 0;
        }

        if (r == -ENOMEM)
                query_finish(q, -ENOMEM, NULL);
        else if (r < 0)
                name_finish(q, error_is_temporary(r) ? DNS_NAME_TEMPFAIL : DNS_NAME_FORGED, r);
        else
                name_finish(q, match ? DNS_NAME_OK : DNS_NAME_FORGED,
                            match ? 0 : -EADDRNOTAVAIL);
        query_release(q);
}

/* The PTR name is known (from /etc/hosts or DNS): validate it and confirm it forward. */
static void name_got_reverse(DnsQuery *q, const char *ptr) {
        _cleanup_(ares_free_hostentp) struct hostent *he = NULL;
        char *n;
        int r;

        r = name_normalize(ptr, &n);
        if (r < 0) {
                name_reverse_failed(q, r);
                return;
        }
        free(q->name->reverse_name);
        q->name->reverse_name = n;
        q->name->reverse_status = DNS_NAME_OK;

        /* /etc/hosts first, as the "fb" order would. */
        r = ares_gethostbyname_file(q->dns->channel, n, q->family, &he);
        if (r == ARES_SUCCESS) {
                bool match = hostent_has_address(he, q->family, &q->addr);

                name_finish(q, match ? DNS_NAME_OK : DNS_NAME_FORGED,
                            match ? 0 : -EADDRNOTAVAIL);
                return;
        }
        if (r == ARES_ENOMEM) {
                query_finish(q, -ENOMEM, NULL);
                return;
        }
        q->n_pending++;
        ares_query(q->dns->channel, n, DNS_CLASS_IN, q->family == AF_INET ? DNS_TYPE_A : DNS_TYPE_AAAA,
                   on_forward, q);
}

/* Answers are at most 64 KiB (RFC 1035 §4.2.2: TCP length field). */
static int answer_length(size_t n, int *ret) {
        if (n == 0 || n > UINT16_MAX)
                return -EBADMSG;
        *ret = (int) n;
        return 0;
}

int dns_ptr_parse(const void *answer, size_t n, char **ret) {
        _cleanup_(ares_free_hostentp) struct hostent *he = NULL;
        /* ares_parse_ptr_reply() copies an address into the hostent; which one is irrelevant */
        struct in_addr any = {};
        int len, r;

        assert(answer || n == 0);
        assert(ret);

        r = answer_length(n, &len);
        if (r < 0)
                return r;
        r = status_to_errno(ares_parse_ptr_reply(answer, len, &any, sizeof(any), AF_INET, &he));
        if (r < 0)
                return r == -ENODATA || r == -ENOMEM ? r : -EBADMSG;
        if (!he || !he->h_name)
                return -ENODATA;
        return name_normalize(he->h_name, ret);
}

static void on_ptr(void *arg, int status, int timeouts, unsigned char *abuf, int alen) {
        _cleanup_free_ char *name = NULL;
        DnsQuery *q = arg;
        int r;

        (void) timeouts;
        if (!query_wants(q, status))
                return;

        r = status_to_errno(status);
        if (r >= 0)
                r = dns_ptr_parse(abuf, (size_t) alen, &name);
        if (r < 0)
                name_reverse_failed(q, r);
        else
                name_got_reverse(q, name);
        query_release(q);
}

static void reverse_name(int family, const void *addr, char ret[static DNS_REVERSE_NAME_MAX]) {
        const uint8_t *b = addr;
        char *p = ret;

        if (family == AF_INET) {
                snprintf(ret, DNS_REVERSE_NAME_MAX, "%u.%u.%u.%u.in-addr.arpa", b[3], b[2], b[1],
                         b[0]);
                return;
        }
        for (int i = 15; i >= 0; i--) {
                static const char hex[] = "0123456789abcdef";

                *p++ = hex[b[i] & 0xf];
                *p++ = '.';
                *p++ = hex[b[i] >> 4];
                *p++ = '.';
        }
        memcpy(p, "ip6.arpa", sizeof("ip6.arpa"));
}

static void on_hosts_ptr(void *arg, int status, int timeouts, struct hostent *he) {
        DnsQuery *q = arg;
        char rname[DNS_REVERSE_NAME_MAX];

        (void) timeouts;
        if (!query_wants(q, status))
                return;

        if (status == ARES_SUCCESS && he && he->h_name)
                name_got_reverse(q, he->h_name);
        else if (status == ARES_ENOMEM)
                query_finish(q, -ENOMEM, NULL);
        else {
                reverse_name(q->family, &q->addr, rname);
                q->n_pending++;
                ares_query(q->dns->channel, rname, DNS_CLASS_IN, DNS_TYPE_PTR, on_ptr, q);
        }
        query_release(q);
}

static int client_name_start(Dns *d, const char *addr, DnsClientNameCallback cb,
                             void *userdata, bool sync, DnsQuery **ret) {
        _cleanup_(dns_client_name_freep) DnsClientName *c = NULL;
        DnsQuery *q;
        int family, r;
        union {
                struct in_addr in;
                struct in6_addr in6;
        } a;

        assert(d);
        assert(cb);

        if (!addr)
                return -EINVAL;
        if (inet_pton(AF_INET, addr, &a.in) == 1)
                family = AF_INET;
        else if (inet_pton(AF_INET6, addr, &a.in6) == 1)
                family = AF_INET6;
        else
                return -EINVAL;

        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->name = strdup("unknown");
        c->reverse_name = strdup("unknown");
        if (!c->name || !c->reverse_name)
                return -ENOMEM;

        r = query_new(d, QUERY_CLIENT_NAME, userdata, &q);
        if (r < 0)
                return r;
        q->cb.name = cb;
        q->family = family;
        memcpy(&q->addr, &a, sizeof(a));
        q->name = TAKE_PTR(c);

        q->n_pending++;
        ares_gethostbyaddr(d->channel, &q->addr,
                           family == AF_INET ? sizeof(struct in_addr) : sizeof(struct in6_addr),
                           family, on_hosts_ptr, q);
        return query_started(q, sync, ret);
}

int dns_client_name_lookup(Dns *d, const char *addr, DnsClientNameCallback cb, void *userdata,
                           DnsQuery **ret) {
        return client_name_start(d, addr, cb, userdata, /* sync= */ false, ret);
}

/* ---- MX ---- */

static int mx_compare(const void *a, const void *b) {
        const DnsMx *x = a, *y = b;

        return (int) x->preference - (int) y->preference;
}

/* RFC 5321 §5.1: lowest preference first; equal preferences in random order, so that the
 * load spreads over them. */
static void mx_sort(DnsMx *items, size_t n) {
        size_t start = 0;

        qsort(items, n, sizeof(DnsMx), mx_compare);
        while (start < n) {
                size_t end = start + 1;

                while (end < n && items[end].preference == items[start].preference)
                        end++;
                for (size_t i = end - start; i > 1; i--) {
                        size_t j = arc4random_uniform((uint32_t) i);
                        DnsMx t = items[start + i - 1];

                        items[start + i - 1] = items[start + j];
                        items[start + j] = t;
                }
                start = end;
        }
}

static int mx_list_build(struct ares_mx_reply *mx, DnsMxList **ret) {
        _cleanup_(dns_mx_list_freep) DnsMxList *l = NULL;
        size_t total = 0;
        bool root = false;
        int r;

        for (struct ares_mx_reply *m = mx; m; m = m->next)
                total++;
        l = calloc(1, sizeof(*l));
        if (!l)
                return -ENOMEM;
        l->items = calloc(MAX(total, (size_t) 1), sizeof(DnsMx));
        if (!l->items)
                return -ENOMEM;

        for (struct ares_mx_reply *m = mx; m; m = m->next) {
                char *h;

                if (!m->host || streq(m->host, "") || streq(m->host, ".")) {
                        root = true;
                        continue;
                }
                r = name_normalize(m->host, &h);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        continue;               /* not a host name: unusable */
                l->items[l->n++] = (DnsMx) { .preference = m->priority, .host = h };
        }

        if (l->n == 0 && !root)
                return -EBADMSG;
        if (l->n == 0)
                l->null_mx = true;              /* RFC 7505 §3 */
        mx_sort(l->items, l->n);
        while (l->n > DNS_MX_MAX)
                free(l->items[--l->n].host);
        *ret = TAKE_PTR(l);
        return 0;
}

int dns_mx_parse(const void *answer, size_t n, DnsMxList **ret) {
        struct ares_mx_reply *mx = NULL;
        int len, r;

        assert(answer || n == 0);
        assert(ret);

        r = answer_length(n, &len);
        if (r < 0)
                return r;
        r = status_to_errno(ares_parse_mx_reply(answer, len, &mx));
        if (r < 0 && r != -ENODATA && r != -ENOMEM)
                r = -EBADMSG;
        if (r >= 0 && !mx)
                r = -ENODATA;
        if (r >= 0)
                r = mx_list_build(mx, ret);
        if (mx)
                ares_free_data(mx);
        return r;
}

static void on_mx(void *arg, int status, int timeouts, unsigned char *abuf, int alen) {
        DnsQuery *q = arg;
        DnsMxList *l = NULL;
        int r;

        (void) timeouts;
        if (!query_wants(q, status))
                return;

        r = status_to_errno(status);
        if (r >= 0)
                r = dns_mx_parse(abuf, (size_t) alen, &l);
        query_finish(q, r < 0 ? r : 0, l);
        query_release(q);
}

static int mx_start(Dns *d, const char *domain, DnsMxCallback cb, void *userdata, bool sync,
                    DnsQuery **ret) {
        _cleanup_free_ char *n = NULL;
        DnsQuery *q;
        int r;

        assert(d);
        assert(cb);

        if (!domain)
                return -EBADMSG;
        r = name_normalize(domain, &n);
        if (r < 0)
                return r;
        r = query_new(d, QUERY_MX, userdata, &q);
        if (r < 0)
                return r;
        q->cb.mx = cb;
        q->n_pending++;
        ares_query(d->channel, n, DNS_CLASS_IN, DNS_TYPE_MX, on_mx, q);
        return query_started(q, sync, ret);
}

int dns_mx_lookup(Dns *d, const char *domain, DnsMxCallback cb, void *userdata,
                  DnsQuery **ret) {
        return mx_start(d, domain, cb, userdata, /* sync= */ false, ret);
}

/* ---- A and AAAA ---- */

/* Which of two failures to report: the temporary one, then "no such name", then "no data". */
static int addr_error_merge(int a, int b) {
        if (a == 0)
                return b;
        if (b == 0)
                return a;
        if (error_is_temporary(a))
                return a;
        if (error_is_temporary(b))
                return b;
        if (a == -EBADMSG || b == -EBADMSG)
                return -EBADMSG;
        if (a == -ENXIO || b == -ENXIO)
                return -ENXIO;
        return a;
}

static void addr_done(DnsQuery *q) {
        _cleanup_(dns_addr_list_freep) DnsAddrList *l = NULL;
        size_t n = q->n_v4 + q->n_v6;

        if (n == 0) {
                int r = addr_error_merge(q->err4, q->err6);

                query_finish(q, r < 0 ? r : -ENODATA, NULL);
                return;
        }
        l = calloc(1, sizeof(*l));
        if (!l || !(l->items = calloc(n, sizeof(DnsAddr)))) {
                query_finish(q, -ENOMEM, NULL);
                return;
        }
        if (q->n_v6 > 0)
                memcpy(l->items, q->v6, q->n_v6 * sizeof(DnsAddr));
        if (q->n_v4 > 0)
                memcpy(l->items + q->n_v6, q->v4, q->n_v4 * sizeof(DnsAddr));
        l->n = n;
        query_finish(q, 0, TAKE_PTR(l));
}

int dns_addr_parse(const void *answer, size_t n, int family, DnsAddrList **ret) {
        _cleanup_(dns_addr_list_freep) DnsAddrList *l = NULL;
        int k = DNS_ADDR_MAX, len, r;

        assert(answer || n == 0);
        assert(ret);

        if (!IN_SET(family, AF_INET, AF_INET6))
                return -EAFNOSUPPORT;
        r = answer_length(n, &len);
        if (r < 0)
                return r;
        l = calloc(1, sizeof(*l));
        if (!l || !(l->items = calloc(DNS_ADDR_MAX, sizeof(DnsAddr))))
                return -ENOMEM;
        if (family == AF_INET) {
                struct ares_addrttl a[DNS_ADDR_MAX];

                r = status_to_errno(ares_parse_a_reply(answer, len, /* host= */ NULL, a, &k));
                for (int i = 0; r >= 0 && i < k; i++)
                        l->items[i] = (DnsAddr) { .family = AF_INET, .in = a[i].ipaddr };
        } else {
                struct ares_addr6ttl a[DNS_ADDR_MAX];

                r = status_to_errno(ares_parse_aaaa_reply(answer, len, /* host= */ NULL, a, &k));
                for (int i = 0; r >= 0 && i < k; i++) {
                        l->items[i] = (DnsAddr) { .family = AF_INET6 };
                        memcpy(&l->items[i].in6, &a[i].ip6addr, sizeof(struct in6_addr));
                }
        }
        if (r < 0)
                return r == -ENODATA || r == -ENOMEM ? r : -EBADMSG;
        if (k <= 0)
                return -ENODATA;
        l->n = (size_t) MIN(k, DNS_ADDR_MAX);
        *ret = TAKE_PTR(l);
        return 0;
}

static void on_addr(DnsQuery *q, int family, int status, unsigned char *abuf, int alen) {
        int r;

        if (!query_wants(q, status))
                return;

        r = status_to_errno(status);
        if (r >= 0) {
                DnsAddrList *l = NULL;

                r = dns_addr_parse(abuf, (size_t) alen, family, &l);
                if (r >= 0) {
                        /* the list's array moves into the query */
                        *(family == AF_INET ? &q->v4 : &q->v6) = TAKE_PTR(l->items);
                        *(family == AF_INET ? &q->n_v4 : &q->n_v6) = l->n;
                        dns_addr_list_free(l);
                }
        }
        if (family == AF_INET)
                q->err4 = r;
        else
                q->err6 = r;
        if (--q->addr_left == 0)
                addr_done(q);
        query_release(q);
}

static void on_a(void *arg, int status, int timeouts, unsigned char *abuf, int alen) {
        (void) timeouts;
        on_addr(arg, AF_INET, status, abuf, alen);
}

static void on_aaaa(void *arg, int status, int timeouts, unsigned char *abuf, int alen) {
        (void) timeouts;
        on_addr(arg, AF_INET6, status, abuf, alen);
}

static int addr_start(Dns *d, const char *name, int family, DnsAddrCallback cb,
                      void *userdata, bool sync, DnsQuery **ret) {
        _cleanup_free_ char *n = NULL;
        DnsQuery *q;
        int r;

        assert(d);
        assert(cb);

        if (!IN_SET(family, AF_INET, AF_INET6, AF_UNSPEC))
                return -EAFNOSUPPORT;
        if (!name)
                return -EBADMSG;
        r = name_normalize(name, &n);
        if (r < 0)
                return r;
        r = query_new(d, QUERY_ADDR, userdata, &q);
        if (r < 0)
                return r;
        q->cb.addr = cb;
        q->addr_left = family == AF_UNSPEC ? 2 : 1;
        /* Both are sent before either can complete (a synchronous failure of the first must
         * not find addr_left at zero). */
        if (family != AF_INET6) {
                q->n_pending++;
                ares_query(d->channel, n, DNS_CLASS_IN, DNS_TYPE_A, on_a, q);
        }
        if (family != AF_INET) {
                q->n_pending++;
                ares_query(d->channel, n, DNS_CLASS_IN, DNS_TYPE_AAAA, on_aaaa, q);
        }
        return query_started(q, sync, ret);
}

int dns_addr_lookup(Dns *d, const char *name, int family, DnsAddrCallback cb, void *userdata,
                    DnsQuery **ret) {
        return addr_start(d, name, family, cb, userdata, /* sync= */ false, ret);
}

/* ---- Blocking forms ---- */

typedef struct SyncWait {
        bool done;
        int r;
        void *result;
} SyncWait;

static void sync_name_cb(DnsQuery *q, int r, DnsClientName *result, void *userdata) {
        SyncWait *w = userdata;

        (void) q;
        *w = (SyncWait) { .done = true, .r = r, .result = result };
}

static void sync_mx_cb(DnsQuery *q, int r, DnsMxList *result, void *userdata) {
        SyncWait *w = userdata;

        (void) q;
        *w = (SyncWait) { .done = true, .r = r, .result = result };
}

static void sync_addr_cb(DnsQuery *q, int r, DnsAddrList *result, void *userdata) {
        SyncWait *w = userdata;

        (void) q;
        *w = (SyncWait) { .done = true, .r = r, .result = result };
}

/* Runs c-ares with poll() until w is done or the deadline passes (then q is cancelled). */
static int sync_wait(Dns *d, DnsQuery *q, SyncWait *w, uint64_t timeout_usec) {
        _cleanup_free_ struct pollfd *p = NULL;
        uint64_t deadline, now;

        if (__builtin_add_overflow(now_usec(), timeout_usec, &deadline))
                deadline = UINT64_MAX;

        while (!w->done) {
                struct timeval max, tv, *tvp;
                uint64_t left, wait;
                size_t n = d->n_sockets;
                int k;

                now = now_usec();
                if (now >= deadline) {
                        (void) dns_query_cancel(q);
                        return -ETIMEDOUT;
                }
                left = deadline - now;
                max = (struct timeval) { .tv_sec = (time_t) (left / 1000000u),
                                         .tv_usec = (suseconds_t) (left % 1000000u) };
                tvp = ares_timeout(d->channel, &max, &tv);
                wait = (uint64_t) tvp->tv_sec * 1000000u + (uint64_t) tvp->tv_usec;

                free(p);
                p = calloc(MAX(n, (size_t) 1), sizeof(struct pollfd));
                if (!p) {
                        (void) dns_query_cancel(q);
                        return -ENOMEM;
                }
                for (size_t i = 0; i < n; i++)
                        p[i] = (struct pollfd) { .fd = d->sockets[i].fd,
                                                 .events = (short) ((d->sockets[i].readable ?
                                                                     POLLIN : 0) |
                                                                    (d->sockets[i].writable ?
                                                                     POLLOUT : 0)) };
                k = poll(p, n, (int) MIN((wait + 999) / 1000, (uint64_t) INT32_MAX));
                if (k < 0 && errno != EINTR) {
                        int r = -errno;

                        (void) dns_query_cancel(q);
                        return r;
                }
                if (k <= 0) {
                        ares_process_fd(d->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
                        continue;
                }
                for (size_t i = 0; i < n && !w->done; i++)
                        if (p[i].revents)
                                ares_process_fd(d->channel,
                                                p[i].revents & (POLLIN | POLLERR | POLLHUP) ?
                                                p[i].fd : ARES_SOCKET_BAD,
                                                p[i].revents & POLLOUT ? p[i].fd :
                                                ARES_SOCKET_BAD);
        }
        update_timer(d);
        return w->r;
}

int dns_client_name_lookup_sync(Dns *d, const char *addr, uint64_t timeout_usec,
                                DnsClientName **ret) {
        SyncWait w = {};
        DnsQuery *q;
        int r;

        assert(ret);
        r = client_name_start(d, addr, sync_name_cb, &w, /* sync= */ true, &q);
        if (r < 0)
                return r;
        r = sync_wait(d, q, &w, timeout_usec);
        if (r < 0)
                return r;
        *ret = w.result;
        return 0;
}

int dns_mx_lookup_sync(Dns *d, const char *domain, uint64_t timeout_usec, DnsMxList **ret) {
        SyncWait w = {};
        DnsQuery *q;
        int r;

        assert(ret);
        r = mx_start(d, domain, sync_mx_cb, &w, /* sync= */ true, &q);
        if (r < 0)
                return r;
        r = sync_wait(d, q, &w, timeout_usec);
        if (r < 0)
                return r;
        *ret = w.result;
        return 0;
}

int dns_addr_lookup_sync(Dns *d, const char *name, int family, uint64_t timeout_usec,
                         DnsAddrList **ret) {
        SyncWait w = {};
        DnsQuery *q;
        int r;

        assert(ret);
        r = addr_start(d, name, family, sync_addr_cb, &w, /* sync= */ true, &q);
        if (r < 0)
                return r;
        r = sync_wait(d, q, &w, timeout_usec);
        if (r < 0)
                return r;
        *ret = w.result;
        return 0;
}
