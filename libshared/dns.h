/* SPDX-License-Identifier: GPL-3.0-or-later */
/* dns: the resolver, over c-ares (the only module that includes its headers). A Dns object is
 * bound to an sd_event loop: c-ares' sockets become io sources (ARES_OPT_SOCK_STATE_CB) and one
 * timer follows ares_timeout(), so a lookup never blocks the loop (DESIGN.md, "Processes").
 * Blocking programs (the smtp agent) create it without a loop and use the _sync() wrappers,
 * which run c-ares with poll() until a deadline.
 *
 * Lookups:
 *   client name   what smtpd does for smtpd_peername_lookup: the PTR of the address, then the
 *                 A (IPv4 client) or AAAA (IPv6 client) records of that name, which must
 *                 contain the address; else the name is "unknown". /etc/hosts is consulted
 *                 first for both steps, as c-ares' own "fb" lookup order does (so 127.0.0.1
 *                 is "localhost" without a DNS server). Temporary failures, names not found
 *                 and names whose forward lookup does not match are told apart, for
 *                 reject_unknown_client_hostname and reject_unknown_reverse_client_hostname;
 *   MX            RFC 5321 §5.1: sorted by preference, equal preferences in random order;
 *                 the null MX of RFC 7505 is reported as such;
 *   A / AAAA      DNS only (no /etc/hosts), as the smtp agent's smtp_host_lookup = dns.
 * Everything a DNS server answers is untrusted: c-ares parses the packets; names are then
 * stripped of a trailing dot, lower-cased, bounded to 255 octets and checked with
 * addr_domain_is_valid(); lists are bounded (DNS_MX_MAX, DNS_ADDR_MAX). Nothing is logged.
 *
 * Error codes, for every lookup: -ENXIO the name does not exist (NXDOMAIN), -ENODATA it exists
 * but has no record of the type, -EAGAIN temporary failure (SERVFAIL, REFUSED, no server
 * reachable), -ETIMEDOUT no answer in time, -EBADMSG a malformed answer or a name that is not
 * a valid host name (also for an invalid name passed in), -ENOMEM. */
#pragma once

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "macro.h"

typedef struct Dns Dns;
typedef struct DnsQuery DnsQuery;

/* Bounds on what an answer can make us keep. */
#define DNS_NAME_MAX 255
#define DNS_MX_MAX 64
#define DNS_ADDR_MAX 64

/* Resolver options; a NULL pointer or zero fields leave resolv.conf's "options timeout:" and
 * "attempts:" (5 s and 2 without them). Bounded to an hour and 100 tries. */
typedef struct DnsOptions {
        uint64_t timeout_usec;          /* the first try's, per server; c-ares doubles it for
                                         * each further round */
        unsigned tries;                 /* rounds over the servers */
} DnsOptions;

/* The outcome of a client name lookup, with Postfix's meaning of its peer codes. */
typedef enum DnsNameStatus {
        DNS_NAME_OK,                    /* verified */
        DNS_NAME_TEMPFAIL,              /* a lookup failed temporarily: "unknown" for now */
        DNS_NAME_NOT_FOUND,             /* no PTR, or not a valid host name */
        DNS_NAME_FORGED,                /* the PTR name does not resolve back to the address */
        _DNS_NAME_STATUS_MAX,
        _DNS_NAME_STATUS_INVALID = -EINVAL,
} DnsNameStatus;

/* "ok", "tempfail", "not-found", "forged"; NULL when out of range. */
const char *dns_name_status_to_string(DnsNameStatus s) _const_;

typedef struct DnsClientName {
        char *name;                     /* verified name, lower case; "unknown" otherwise */
        char *reverse_name;             /* the PTR name, not verified; "unknown" without one */
        DnsNameStatus name_status;      /* of name (reject_unknown_client_hostname) */
        DnsNameStatus reverse_status;   /* of reverse_name (..._reverse_client_hostname) */
        int error;                      /* 0, or the code behind a status that is not OK;
                                         * -EADDRNOTAVAIL: the forward lookup did not list the
                                         * address */
} DnsClientName;

typedef struct DnsMx {
        uint16_t preference;
        char *host;                     /* lower case, no trailing dot, valid */
} DnsMx;

typedef struct DnsMxList {
        DnsMx *items;
        size_t n;
        bool null_mx;                   /* RFC 7505: the only MX is "0 ."; n is 0 */
} DnsMxList;

typedef struct DnsAddr {
        int family;                     /* AF_INET or AF_INET6 */
        union {
                struct in_addr in;
                struct in6_addr in6;
        };
} DnsAddr;

typedef struct DnsAddrList {
        DnsAddr *items;                 /* with AF_UNSPEC: the IPv6 addresses first */
        size_t n;
} DnsAddrList;

DnsClientName *dns_client_name_free(DnsClientName *c);
DEFINE_PTR_CLEANUP(DnsClientName *, dns_client_name_free);
DnsMxList *dns_mx_list_free(DnsMxList *l);
DEFINE_PTR_CLEANUP(DnsMxList *, dns_mx_list_free);
DnsAddrList *dns_addr_list_free(DnsAddrList *l);
DEFINE_PTR_CLEANUP(DnsAddrList *, dns_addr_list_free);

/* Completion callbacks. They run from the event loop (never from inside the call that started
 * the lookup), at most once, and never after dns_query_cancel() or dns_free(). The result
 * belongs to the callback (free it with its _free()); it is non-NULL exactly when r >= 0. The
 * query is finished when its callback runs: the DnsQuery pointer must not be used after. A
 * callback may start and cancel other lookups; it must not call dns_free(). */
typedef void (*DnsClientNameCallback)(DnsQuery *q, int r, DnsClientName *result,
                                      void *userdata);
typedef void (*DnsMxCallback)(DnsQuery *q, int r, DnsMxList *result, void *userdata);
typedef void (*DnsAddrCallback)(DnsQuery *q, int r, DnsAddrList *result, void *userdata);

/* A resolver using the servers of /etc/resolv.conf. e may be NULL for a blocking program: then
 * only the _sync() functions may be used. Takes a reference on e. Returns 0, -ENOMEM, or -EIO
 * when c-ares cannot be set up. */
int dns_new(sd_event *e, Dns **ret);
/* The same, asking the servers of a comma-separated list ("127.0.0.1:5353",
 * "[::1]:53,192.0.2.1"; NULL: /etc/resolv.conf). Returns -EINVAL for an unusable list. */
int dns_new_with_servers(sd_event *e, const char *servers, const DnsOptions *options, Dns **ret);
/* Cancels every lookup (no callback runs), closes the sockets, frees. Returns NULL. */
Dns *dns_free(Dns *d);
DEFINE_PTR_CLEANUP(Dns *, dns_free);

/* Starts a client name lookup for a numeric IPv4 or IPv6 address. *ret (may be NULL) is the
 * query, valid until its callback runs or it is cancelled. The callback gets r == 0 and a
 * result whatever the DNS says (see DnsClientName), or -ENOMEM. Returns 0, -EINVAL when addr
 * is not an address, -ENOMEM. */
int dns_client_name_lookup(Dns *d, const char *addr, DnsClientNameCallback cb, void *userdata,
                           DnsQuery **ret);
/* Starts an MX lookup of domain (a host name, an optional trailing dot; no search list). The
 * callback gets 0 and a list with n > 0 or null_mx set, or one of the codes above. Returns 0,
 * -EBADMSG for an invalid domain, -ENOMEM. */
int dns_mx_lookup(Dns *d, const char *domain, DnsMxCallback cb, void *userdata, DnsQuery **ret);
/* Starts an A (AF_INET), AAAA (AF_INET6) or both (AF_UNSPEC) lookup of name. With both, the
 * result holds what either found; an error is reported only when neither found anything (the
 * temporary one first, so a failure is not mistaken for "no such host"). Returns 0, -EBADMSG
 * for an invalid name, -EAFNOSUPPORT for another family, -ENOMEM. */
int dns_addr_lookup(Dns *d, const char *name, int family, DnsAddrCallback cb, void *userdata,
                    DnsQuery **ret);
/* Cancels a query whose callback has not run yet: its callback will not run. Accepts NULL.
 * Returns NULL. */
DnsQuery *dns_query_cancel(DnsQuery *q);

/* Blocking forms: run the lookup with poll() for at most timeout_usec (CLOCK_MONOTONIC), and
 * return what the callback would get: 0 with *ret, or a negative code; -ETIMEDOUT also when
 * the deadline passes first. Usable with or without an event loop (the loop does not run
 * meanwhile). */
int dns_client_name_lookup_sync(Dns *d, const char *addr, uint64_t timeout_usec,
                                DnsClientName **ret);
int dns_mx_lookup_sync(Dns *d, const char *domain, uint64_t timeout_usec, DnsMxList **ret);
int dns_addr_lookup_sync(Dns *d, const char *name, int family, uint64_t timeout_usec,
                         DnsAddrList **ret);

/* The answer parsers the lookups use, pure (no I/O), for answers (at most 64 KiB) to a query
 * that succeeded. Each returns 0 with a malloc'ed result, -ENODATA when the answer holds no
 * record of the type, -EBADMSG for a malformed answer or (PTR, MX: every) name invalid, -ENOMEM.
 * dns_ptr_parse() gives the first PTR name, normalised; dns_mx_parse() a list as the MX lookup
 * gives it; dns_addr_parse() the first DNS_ADDR_MAX A (AF_INET) or AAAA (AF_INET6) records,
 * -EAFNOSUPPORT for another family. */
int dns_ptr_parse(const void *answer, size_t n, char **ret);
int dns_mx_parse(const void *answer, size_t n, DnsMxList **ret);
int dns_addr_parse(const void *answer, size_t n, int family, DnsAddrList **ret);

/* Lookups started and not yet finished or cancelled (for tests and statistics). */
size_t dns_pending(const Dns *d);
