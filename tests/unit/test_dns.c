/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Unit tests of dns, against a fake DNS server: a thread answering UDP queries on a loopback port
 * from a table, its packets written by hand here. No outside network is used. Covered: the client
 * name lookup (PTR then forward confirmation, mismatch, NXDOMAIN, SERVFAIL, timeouts, invalid
 * names, IPv6, /etc/hosts), MX order and the randomisation of equal preferences, the null MX,
 * A/AAAA lookups, cancellation, freeing with queries in flight, and the blocking wrappers. */
#include <arpa/inet.h>
#include <ctype.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include "check_main.h"
#include "dns.h"

/* ---- The fake server ---- */

typedef enum FakeAction {
        FAKE_ANSWER,                    /* NOERROR with the records below (none: NODATA) */
        FAKE_NXDOMAIN,
        FAKE_SERVFAIL,
        FAKE_DROP,                      /* no answer at all */
} FakeAction;

typedef struct FakeRecord {
        const char *qname;              /* compared case-insensitively */
        uint16_t qtype;
        FakeAction action;
        const char *data[8];            /* A/AAAA: addresses; PTR: names; MX: "pref host" */
} FakeRecord;

enum { T_A = 1, T_PTR = 12, T_MX = 15, T_AAAA = 28 };

static const FakeRecord fake_table[] = {
        { "2.0.0.127.in-addr.arpa", T_PTR, FAKE_ANSWER, { "Client.Example.TEST." } },
        { "client.example.test", T_A, FAKE_ANSWER, { "192.0.2.7", "127.0.0.2" } },
        { "3.0.0.127.in-addr.arpa", T_PTR, FAKE_ANSWER, { "liar.example.test" } },
        { "liar.example.test", T_A, FAKE_ANSWER, { "192.0.2.1" } },
        { "4.0.0.127.in-addr.arpa", T_PTR, FAKE_ANSWER, { "gone.example.test" } },
        { "6.0.0.127.in-addr.arpa", T_PTR, FAKE_SERVFAIL, {} },
        { "7.0.0.127.in-addr.arpa", T_PTR, FAKE_DROP, {} },
        { "8.0.0.127.in-addr.arpa", T_PTR, FAKE_ANSWER, { "flaky.example.test" } },
        { "flaky.example.test", T_A, FAKE_SERVFAIL, {} },
        { "9.0.0.127.in-addr.arpa", T_PTR, FAKE_ANSWER, { "bad_name.example.test" } },
        { "10.0.0.127.in-addr.arpa", T_PTR, FAKE_ANSWER, { "192.0.2.10" } },
        { "11.0.0.127.in-addr.arpa", T_PTR, FAKE_ANSWER, {} },
        { "12.0.0.127.in-addr.arpa", T_PTR, FAKE_ANSWER, { "slow.example.test" } },
        { "slow.example.test", T_A, FAKE_DROP, {} },
        { "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa", T_PTR,
          FAKE_ANSWER, { "v6.example.test" } },
        { "v6.example.test", T_AAAA, FAKE_ANSWER, { "2001:db8::2", "2001:db8::1" } },
        { "2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa", T_PTR,
          FAKE_ANSWER, { "v4only.example.test" } },
        { "v4only.example.test", T_A, FAKE_ANSWER, { "192.0.2.9" } },

        { "example.test", T_MX, FAKE_ANSWER,
          { "20 b.example.test", "10 A1.example.test.", "30 c.example.test",
            "10 a2.example.test" } },
        { "example.test", T_A, FAKE_ANSWER, { "192.0.2.80" } },
        { "null.example.test", T_MX, FAKE_ANSWER, { "0 ." } },
        { "nomx.example.test", T_A, FAKE_ANSWER, { "192.0.2.81" } },
        { "nomx.example.test", T_MX, FAKE_ANSWER, {} },
        { "broken.example.test", T_MX, FAKE_SERVFAIL, {} },
        { "silent.example.test", T_MX, FAKE_DROP, {} },
        { "invalid.example.test", T_MX, FAKE_ANSWER, { "10 bad_host.example.test" } },

        { "host.example.test", T_A, FAKE_ANSWER, { "192.0.2.20", "192.0.2.21" } },
        { "host.example.test", T_AAAA, FAKE_ANSWER, { "2001:db8::20" } },
        { "half.example.test", T_A, FAKE_ANSWER, { "192.0.2.30" } },
        { "half.example.test", T_AAAA, FAKE_SERVFAIL, {} },
        { "sick.example.test", T_A, FAKE_SERVFAIL, {} },
        { "sick.example.test", T_AAAA, FAKE_ANSWER, {} },
};

typedef struct FakeServer {
        int fd;
        int stop_fd;
        uint16_t port;
        pthread_t thread;
        atomic_uint queries;
} FakeServer;

static FakeServer fake;

/* Appends a name as DNS labels; "." and "" are the root. */
static size_t put_name(uint8_t *p, const char *name) {
        size_t n = 0;

        while (*name && !(name[0] == '.' && name[1] == '\0')) {
                const char *dot = strchr(name, '.');
                size_t len = dot ? (size_t) (dot - name) : strlen(name);

                p[n++] = (uint8_t) len;
                memcpy(p + n, name, len);
                n += len;
                name += len;
                if (*name == '.')
                        name++;
        }
        p[n++] = 0;
        return n;
}

static void put16(uint8_t *p, uint16_t v) {
        p[0] = (uint8_t) (v >> 8);
        p[1] = (uint8_t) v;
}

/* Builds the reply to query q (n bytes) in out; returns its length, 0 for no reply. */
static size_t fake_reply(const uint8_t *q, size_t n, uint8_t *out) {
        char qname[300] = "";
        size_t pos = 12, qlen = 0, len;
        uint16_t qtype, ancount = 0;
        const FakeRecord *rec = NULL;
        uint8_t rcode = 3;              /* NXDOMAIN unless found */

        if (n < 12)
                return 0;
        while (pos < n && q[pos] != 0) {
                size_t l = q[pos];

                if (l > 63 || pos + 1 + l > n || qlen + l + 1 >= sizeof(qname))
                        return 0;
                if (qlen > 0)
                        qname[qlen++] = '.';
                for (size_t i = 0; i < l; i++)
                        qname[qlen++] = (char) tolower(q[pos + 1 + i]);
                qname[qlen] = '\0';
                pos += 1 + l;
        }
        if (pos + 5 > n)
                return 0;
        qtype = (uint16_t) (q[pos + 1] << 8 | q[pos + 2]);
        pos += 5;

        for (size_t i = 0; i < ELEMENTSOF(fake_table); i++)
                if (strcasecmp(fake_table[i].qname, qname) == 0) {
                        rcode = 0;      /* the name exists */
                        if (fake_table[i].qtype == qtype)
                                rec = &fake_table[i];
                }
        if (rec && rec->action == FAKE_DROP)
                return 0;
        if (rec && rec->action == FAKE_SERVFAIL)
                rcode = 2;
        if (rec && rec->action == FAKE_NXDOMAIN)
                rcode = 3;

        memcpy(out, q, pos);            /* id, flags, counts, question */
        out[2] = 0x81;                  /* QR, RD */
        out[3] = (uint8_t) (0x80 | rcode);      /* RA */
        put16(out + 6, 0);
        put16(out + 8, 0);
        put16(out + 10, 0);
        len = pos;
        for (size_t i = 0; rcode == 0 && rec && i < ELEMENTSOF(rec->data) && rec->data[i];
             i++) {
                const char *d = rec->data[i];
                size_t rd = len + 12;
                uint16_t rdlen;

                put16(out + len, 0xc00c);
                put16(out + len + 2, qtype);
                put16(out + len + 4, 1);
                put16(out + len + 6, 0);
                put16(out + len + 8, 60);
                if (qtype == T_A) {
                        ck_assert_int_eq(inet_pton(AF_INET, d, out + rd), 1);
                        rdlen = 4;
                } else if (qtype == T_AAAA) {
                        ck_assert_int_eq(inet_pton(AF_INET6, d, out + rd), 1);
                        rdlen = 16;
                } else if (qtype == T_MX) {
                        put16(out + rd, (uint16_t) atoi(d));
                        rdlen = (uint16_t) (2 + put_name(out + rd + 2, strchr(d, ' ') + 1));
                } else
                        rdlen = (uint16_t) put_name(out + rd, d);
                put16(out + len + 10, rdlen);
                len = rd + rdlen;
                ancount++;
        }
        put16(out + 6, ancount);
        return len;
}

static void *fake_run(void *arg) {
        (void) arg;
        for (;;) {
                struct pollfd p[2] = { { .fd = fake.fd, .events = POLLIN },
                                       { .fd = fake.stop_fd, .events = POLLIN } };
                uint8_t q[512], out[4096];
                struct sockaddr_storage from;
                socklen_t fromlen = sizeof(from);
                ssize_t n;
                size_t len;

                if (poll(p, 2, -1) < 0 || p[1].revents)
                        return NULL;
                n = recvfrom(fake.fd, q, sizeof(q), 0, (struct sockaddr *) &from, &fromlen);
                if (n <= 0)
                        continue;
                fake.queries++;
                len = fake_reply(q, (size_t) n, out);
                if (len > 0)
                        (void) sendto(fake.fd, out, len, 0, (struct sockaddr *) &from, fromlen);
        }
}

static void fake_start(void) {
        struct sockaddr_in sa = { .sin_family = AF_INET,
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof(sa);

        fake.fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        ck_assert_int_ge(fake.fd, 0);
        ck_assert_int_eq(bind(fake.fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
        ck_assert_int_eq(getsockname(fake.fd, (struct sockaddr *) &sa, &len), 0);
        fake.port = ntohs(sa.sin_port);
        fake.stop_fd = eventfd(0, EFD_CLOEXEC);
        ck_assert_int_ge(fake.stop_fd, 0);
        fake.queries = 0;
        ck_assert_int_eq(pthread_create(&fake.thread, NULL, fake_run, NULL), 0);
}

static void fake_stop(void) {
        uint64_t one = 1;

        ck_assert_int_eq(write(fake.stop_fd, &one, sizeof(one)), (ssize_t) sizeof(one));
        ck_assert_int_eq(pthread_join(fake.thread, NULL), 0);
        close(fake.fd);
        close(fake.stop_fd);
}

/* A resolver asking the fake server: one try, and a timeout short enough that a dropped query
 * fails fast, long enough that a loaded machine still answers in time. */
static Dns *fake_dns(sd_event *e) {
        DnsOptions o = { .timeout_usec = 500 * 1000, .tries = 1 };
        char servers[64];
        Dns *d = NULL;

        snprintf(servers, sizeof(servers), "127.0.0.1:%u", fake.port);
        ck_assert_int_eq(dns_new_with_servers(e, servers, &o, &d), 0);
        return d;
}

/* ---- Driving the loop ---- */

typedef struct Outcome {
        unsigned calls;
        int r;
        DnsClientName *name;
        DnsMxList *mx;
        DnsAddrList *addrs;
} Outcome;

static void outcome_done(Outcome *o) {
        dns_client_name_free(o->name);
        dns_mx_list_free(o->mx);
        dns_addr_list_free(o->addrs);
        *o = (Outcome) {};
}

static void on_name(DnsQuery *q, int r, DnsClientName *result, void *userdata) {
        Outcome *o = userdata;

        ck_assert_ptr_nonnull(q);
        ck_assert_int_eq(r < 0, result == NULL);
        o->calls++;
        o->r = r;
        dns_client_name_free(o->name);
        o->name = result;
}

static void on_mx(DnsQuery *q, int r, DnsMxList *result, void *userdata) {
        Outcome *o = userdata;

        ck_assert_ptr_nonnull(q);
        ck_assert_int_eq(r < 0, result == NULL);
        o->calls++;
        o->r = r;
        dns_mx_list_free(o->mx);
        o->mx = result;
}

static void on_addrs(DnsQuery *q, int r, DnsAddrList *result, void *userdata) {
        Outcome *o = userdata;

        ck_assert_ptr_nonnull(q);
        ck_assert_int_eq(r < 0, result == NULL);
        o->calls++;
        o->r = r;
        dns_addr_list_free(o->addrs);
        o->addrs = result;
}

static int on_guard(sd_event_source *s, uint64_t usec, void *userdata) {
        ck_abort_msg("the event loop ran for 10 s without the expected callback");
        return 0;
}

/* Runs the loop until o has had its callback. */
static void run_until(sd_event *e, const Outcome *o) {
        _cleanup_(sd_event_source_unrefp) sd_event_source *guard = NULL;

        ck_assert_int_ge(sd_event_add_time_relative(e, &guard, CLOCK_MONOTONIC, 10 * 1000000,
                                                    0, on_guard, NULL), 0);
        while (o->calls == 0)
                ck_assert_int_ge(sd_event_run(e, UINT64_MAX), 0);
}

static void setup(void) {
        log_set_quiet(true);
        fake_start();
}

static void teardown(void) {
        fake_stop();
}

/* ---- Client name ---- */

typedef struct NameCase {
        const char *addr;
        const char *name;
        const char *reverse_name;
        DnsNameStatus name_status;
        DnsNameStatus reverse_status;
        int error;
} NameCase;

static const NameCase name_cases[] = {
        /* PTR, then A listing the address among others */
        { "127.0.0.2", "client.example.test", "client.example.test", DNS_NAME_OK, DNS_NAME_OK,
          0 },
        /* the A record does not list the address */
        { "127.0.0.3", "unknown", "liar.example.test", DNS_NAME_FORGED, DNS_NAME_OK,
          -EADDRNOTAVAIL },
        /* the PTR name does not exist */
        { "127.0.0.4", "unknown", "gone.example.test", DNS_NAME_FORGED, DNS_NAME_OK, -ENXIO },
        /* no PTR: NXDOMAIN */
        { "127.0.0.5", "unknown", "unknown", DNS_NAME_NOT_FOUND, DNS_NAME_NOT_FOUND, -ENXIO },
        /* SERVFAIL on the PTR: temporary */
        { "127.0.0.6", "unknown", "unknown", DNS_NAME_TEMPFAIL, DNS_NAME_TEMPFAIL, -EAGAIN },
        /* no answer to the PTR */
        { "127.0.0.7", "unknown", "unknown", DNS_NAME_TEMPFAIL, DNS_NAME_TEMPFAIL,
          -ETIMEDOUT },
        /* SERVFAIL on the forward lookup */
        { "127.0.0.8", "unknown", "flaky.example.test", DNS_NAME_TEMPFAIL, DNS_NAME_OK,
          -EAGAIN },
        /* a PTR that is not a host name */
        { "127.0.0.9", "unknown", "unknown", DNS_NAME_NOT_FOUND, DNS_NAME_NOT_FOUND,
          -EBADMSG },
        /* a PTR that is an address */
        { "127.0.0.10", "unknown", "unknown", DNS_NAME_NOT_FOUND, DNS_NAME_NOT_FOUND,
          -EBADMSG },
        /* the name exists, no PTR record */
        { "127.0.0.11", "unknown", "unknown", DNS_NAME_NOT_FOUND, DNS_NAME_NOT_FOUND,
          -ENODATA },
        /* no answer to the forward lookup */
        { "127.0.0.12", "unknown", "slow.example.test", DNS_NAME_TEMPFAIL, DNS_NAME_OK,
          -ETIMEDOUT },
        /* IPv6: nibble PTR, AAAA */
        { "2001:db8::1", "v6.example.test", "v6.example.test", DNS_NAME_OK, DNS_NAME_OK, 0 },
        /* IPv6 client whose name has only an A record */
        { "2001:db8::2", "unknown", "v4only.example.test", DNS_NAME_FORGED, DNS_NAME_OK,
          -ENODATA },
};

static void check_name(const NameCase *c, const DnsClientName *n) {
        ck_assert_msg(streq(n->name, c->name), "%s: name %s", c->addr, n->name);
        ck_assert_msg(streq(n->reverse_name, c->reverse_name), "%s: reverse %s", c->addr,
                      n->reverse_name);
        ck_assert_msg(n->name_status == c->name_status, "%s: status %s", c->addr,
                      dns_name_status_to_string(n->name_status));
        ck_assert_msg(n->reverse_status == c->reverse_status, "%s: reverse status %s", c->addr,
                      dns_name_status_to_string(n->reverse_status));
        ck_assert_msg(n->error == c->error, "%s: error %d", c->addr, n->error);
}

START_TEST(test_client_name)
{
        const NameCase *c = &name_cases[_i];
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        _cleanup_(dns_freep) Dns *d = NULL;
        Outcome o = {};
        DnsQuery *q = NULL;

        ck_assert_int_ge(sd_event_new(&e), 0);
        d = fake_dns(e);
        ck_assert_int_eq(dns_client_name_lookup(d, c->addr, on_name, &o, &q), 0);
        ck_assert_ptr_nonnull(q);
        ck_assert_uint_eq(dns_pending(d), 1);
        run_until(e, &o);
        ck_assert_uint_eq(o.calls, 1);
        ck_assert_int_eq(o.r, 0);
        check_name(c, o.name);
        ck_assert_uint_eq(dns_pending(d), 0);
        outcome_done(&o);
}
END_TEST

START_TEST(test_client_name_sync)
{
        const NameCase *c = &name_cases[_i];
        _cleanup_(dns_freep) Dns *d = NULL;
        _cleanup_(dns_client_name_freep) DnsClientName *n = NULL;

        d = fake_dns(NULL);
        ck_assert_int_eq(dns_client_name_lookup_sync(d, c->addr, 5 * 1000000, &n), 0);
        check_name(c, n);
}
END_TEST

START_TEST(test_client_name_invalid)
{
        static const char *const bad[] = { "", "localhost", "127.0.0", "1.2.3.4.5", "::g",
                                           "[127.0.0.1]", "127.0.0.1 " };
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        _cleanup_(dns_freep) Dns *d = NULL;
        DnsClientName *n = NULL;
        Outcome o = {};

        ck_assert_int_ge(sd_event_new(&e), 0);
        d = fake_dns(e);
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                ck_assert_int_eq(dns_client_name_lookup(d, bad[i], on_name, &o, NULL), -EINVAL);
                ck_assert_int_eq(dns_client_name_lookup_sync(d, bad[i], 1000000, &n), -EINVAL);
        }
        ck_assert_int_eq(dns_client_name_lookup(d, NULL, on_name, &o, NULL), -EINVAL);
        ck_assert_uint_eq(dns_pending(d), 0);
        ck_assert_uint_eq(fake.queries, 0);
}
END_TEST

/* /etc/hosts answers for 127.0.0.1 without a query, as c-ares' "fb" order does; and the callback
 * still comes from the loop, not from inside the call. */
START_TEST(test_client_name_hosts_file)
{
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        _cleanup_(dns_freep) Dns *d = NULL;
        _cleanup_fclose_ FILE *f = NULL;
        char line[512], first[256] = "";
        Outcome o = {};

        f = fopen("/etc/hosts", "re");
        while (f && fgets(line, sizeof(line), f))
                if (sscanf(line, "127.0.0.1 %255s", first) == 1)
                        break;
        if (!first[0])
                return;         /* no such line here: nothing to compare with */
        for (char *c = first; *c; c++)
                *c = (char) tolower(*c);

        ck_assert_int_ge(sd_event_new(&e), 0);
        d = fake_dns(e);
        ck_assert_int_eq(dns_client_name_lookup(d, "127.0.0.1", on_name, &o, NULL), 0);
        ck_assert_uint_eq(o.calls, 0);
        run_until(e, &o);
        ck_assert_uint_eq(o.calls, 1);
        ck_assert_str_eq(o.name->name, first);
        ck_assert_int_eq(o.name->name_status, DNS_NAME_OK);
        ck_assert_uint_eq(fake.queries, 0);
        outcome_done(&o);
}
END_TEST

START_TEST(test_name_status_strings)
{
        ck_assert_str_eq(dns_name_status_to_string(DNS_NAME_OK), "ok");
        ck_assert_str_eq(dns_name_status_to_string(DNS_NAME_TEMPFAIL), "tempfail");
        ck_assert_str_eq(dns_name_status_to_string(DNS_NAME_NOT_FOUND), "not-found");
        ck_assert_str_eq(dns_name_status_to_string(DNS_NAME_FORGED), "forged");
        ck_assert_ptr_null(dns_name_status_to_string(_DNS_NAME_STATUS_MAX));
        ck_assert_ptr_null(dns_name_status_to_string(_DNS_NAME_STATUS_INVALID));
}
END_TEST

/* ---- MX ---- */

START_TEST(test_mx_order)
{
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        _cleanup_(dns_freep) Dns *d = NULL;
        unsigned a1_first = 0, a2_first = 0;

        ck_assert_int_ge(sd_event_new(&e), 0);
        d = fake_dns(e);
        /* 64 lookups: both orders of the two preference-10 hosts turn up, unless the shuffle
         * is broken (chance of a false failure: 2^-63). */
        for (unsigned i = 0; i < 64; i++) {
                Outcome o = {};

                ck_assert_int_eq(dns_mx_lookup(d, "Example.Test.", on_mx, &o, NULL), 0);
                run_until(e, &o);
                ck_assert_int_eq(o.r, 0);
                ck_assert_uint_eq(o.mx->n, 4);
                ck_assert(!o.mx->null_mx);
                ck_assert_uint_eq(o.mx->items[0].preference, 10);
                ck_assert_uint_eq(o.mx->items[1].preference, 10);
                ck_assert_uint_eq(o.mx->items[2].preference, 20);
                ck_assert_str_eq(o.mx->items[2].host, "b.example.test");
                ck_assert_uint_eq(o.mx->items[3].preference, 30);
                ck_assert_str_eq(o.mx->items[3].host, "c.example.test");
                if (streq(o.mx->items[0].host, "a1.example.test")) {
                        ck_assert_str_eq(o.mx->items[1].host, "a2.example.test");
                        a1_first++;
                } else {
                        ck_assert_str_eq(o.mx->items[0].host, "a2.example.test");
                        ck_assert_str_eq(o.mx->items[1].host, "a1.example.test");
                        a2_first++;
                }
                outcome_done(&o);
        }
        ck_assert_uint_gt(a1_first, 0);
        ck_assert_uint_gt(a2_first, 0);
}
END_TEST

typedef struct MxCase {
        const char *domain;
        int r;                          /* of the callback */
        bool null_mx;
} MxCase;

static const MxCase mx_cases[] = {
        { "null.example.test", 0, true },               /* RFC 7505 */
        { "nomx.example.test", -ENODATA, false },       /* the name exists, no MX */
        { "nowhere.example.test", -ENXIO, false },      /* NXDOMAIN */
        { "broken.example.test", -EAGAIN, false },      /* SERVFAIL */
        { "silent.example.test", -ETIMEDOUT, false },   /* no answer */
        { "invalid.example.test", -EBADMSG, false },    /* the only MX is no host name */
};

START_TEST(test_mx_outcomes)
{
        const MxCase *c = &mx_cases[_i];
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        _cleanup_(dns_freep) Dns *d = NULL;
        _cleanup_(dns_mx_list_freep) DnsMxList *l = NULL;
        Outcome o = {};

        ck_assert_int_ge(sd_event_new(&e), 0);
        d = fake_dns(e);
        ck_assert_int_eq(dns_mx_lookup(d, c->domain, on_mx, &o, NULL), 0);
        run_until(e, &o);
        ck_assert_msg(o.r == c->r, "%s: %d", c->domain, o.r);
        if (c->r == 0) {
                ck_assert(o.mx->null_mx == c->null_mx);
                ck_assert_uint_eq(o.mx->n, 0);
        }
        outcome_done(&o);

        /* The blocking form says the same, with or without a loop. */
        ck_assert_int_eq(dns_mx_lookup_sync(d, c->domain, 5 * 1000000, &l), c->r);
        if (c->r == 0)
                ck_assert(l->null_mx == c->null_mx);
        l = dns_mx_list_free(l);
        d = dns_free(d);
        d = fake_dns(NULL);
        ck_assert_int_eq(dns_mx_lookup_sync(d, c->domain, 5 * 1000000, &l), c->r);
}
END_TEST

START_TEST(test_mx_invalid_domain)
{
        static const char *const bad[] = { "", ".", "a..b", "-a.example", "a_b.example",
                                           "192.0.2.1", "[192.0.2.1]", "ex ample.test" };
        _cleanup_(dns_freep) Dns *d = NULL;
        DnsMxList *l = NULL;
        Outcome o = {};

        d = fake_dns(NULL);
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                ck_assert_int_eq(dns_mx_lookup(d, bad[i], on_mx, &o, NULL), -EBADMSG);
                ck_assert_int_eq(dns_mx_lookup_sync(d, bad[i], 1000000, &l), -EBADMSG);
        }
        ck_assert_int_eq(dns_mx_lookup(d, NULL, on_mx, &o, NULL), -EBADMSG);
        ck_assert_uint_eq(o.calls, 0);
        ck_assert_uint_eq(fake.queries, 0);
}
END_TEST

/* ---- A and AAAA ---- */

typedef struct AddrCase {
        const char *name;
        int family;
        int r;
        const char *addrs[4];           /* in the expected order */
} AddrCase;

static const AddrCase addr_cases[] = {
        { "host.example.test", AF_INET, 0, { "192.0.2.20", "192.0.2.21" } },
        { "HOST.example.test.", AF_INET6, 0, { "2001:db8::20" } },
        { "host.example.test", AF_UNSPEC, 0, { "2001:db8::20", "192.0.2.20", "192.0.2.21" } },
        /* one family failing temporarily does not hide the other */
        { "half.example.test", AF_UNSPEC, 0, { "192.0.2.30" } },
        { "half.example.test", AF_INET6, -EAGAIN, {} },
        /* nothing found: the temporary failure wins over NODATA */
        { "sick.example.test", AF_UNSPEC, -EAGAIN, {} },
        { "sick.example.test", AF_INET6, -ENODATA, {} },
        { "nowhere.example.test", AF_UNSPEC, -ENXIO, {} },
        { "nowhere.example.test", AF_INET, -ENXIO, {} },
        { "slow.example.test", AF_INET, -ETIMEDOUT, {} },
        { "nomx.example.test", AF_INET6, -ENODATA, {} },
};

static void check_addrs(const AddrCase *c, const DnsAddrList *l) {
        size_t n = 0;

        while (n < ELEMENTSOF(c->addrs) && c->addrs[n])
                n++;
        ck_assert_uint_eq(l->n, n);
        for (size_t i = 0; i < n; i++) {
                char text[INET6_ADDRSTRLEN];

                ck_assert_ptr_nonnull(inet_ntop(l->items[i].family, &l->items[i].in, text,
                                                sizeof(text)));
                ck_assert_str_eq(text, c->addrs[i]);
        }
}

START_TEST(test_addr)
{
        const AddrCase *c = &addr_cases[_i];
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        _cleanup_(dns_freep) Dns *d = NULL;
        _cleanup_(dns_addr_list_freep) DnsAddrList *l = NULL;
        Outcome o = {};

        ck_assert_int_ge(sd_event_new(&e), 0);
        d = fake_dns(e);
        ck_assert_int_eq(dns_addr_lookup(d, c->name, c->family, on_addrs, &o, NULL), 0);
        run_until(e, &o);
        ck_assert_msg(o.r == c->r, "%s: %d", c->name, o.r);
        if (c->r == 0)
                check_addrs(c, o.addrs);
        outcome_done(&o);

        ck_assert_int_eq(dns_addr_lookup_sync(d, c->name, c->family, 5 * 1000000, &l), c->r);
        if (c->r == 0)
                check_addrs(c, l);
}
END_TEST

START_TEST(test_addr_invalid)
{
        _cleanup_(dns_freep) Dns *d = NULL;
        DnsAddrList *l = NULL;
        Outcome o = {};

        d = fake_dns(NULL);
        ck_assert_int_eq(dns_addr_lookup(d, "host.example.test", AF_UNIX, on_addrs, &o, NULL),
                         -EAFNOSUPPORT);
        ck_assert_int_eq(dns_addr_lookup_sync(d, "bad name", AF_INET, 1000000, &l), -EBADMSG);
        ck_assert_int_eq(dns_addr_lookup(d, NULL, AF_INET, on_addrs, &o, NULL), -EBADMSG);
        ck_assert_uint_eq(o.calls, 0);
}
END_TEST

/* ---- Cancellation, freeing, deadlines ---- */

START_TEST(test_cancel)
{
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        _cleanup_(dns_freep) Dns *d = NULL;
        Outcome cancelled[3] = {}, later = {};
        DnsQuery *q[3];

        ck_assert_int_ge(sd_event_new(&e), 0);
        d = fake_dns(e);
        ck_assert_int_eq(dns_client_name_lookup(d, "127.0.0.2", on_name, &cancelled[0], &q[0]),
                         0);
        ck_assert_int_eq(dns_mx_lookup(d, "example.test", on_mx, &cancelled[1], &q[1]), 0);
        ck_assert_int_eq(dns_addr_lookup(d, "host.example.test", AF_UNSPEC, on_addrs,
                                         &cancelled[2], &q[2]), 0);
        /* found in /etc/hosts or not, the callback is not due before the loop runs */
        ck_assert_uint_eq(dns_pending(d), 3);
        for (size_t i = 0; i < 3; i++)
                ck_assert_ptr_null(dns_query_cancel(q[i]));
        ck_assert_uint_eq(dns_pending(d), 0);
        ck_assert_ptr_null(dns_query_cancel(NULL));

        /* The answers to the cancelled queries were sent before this one's: once it is in,
         * theirs have been read and dropped. */
        ck_assert_int_eq(dns_client_name_lookup(d, "127.0.0.2", on_name, &later, NULL), 0);
        run_until(e, &later);
        ck_assert_str_eq(later.name->name, "client.example.test");
        ck_assert_uint_ge(fake.queries, 4);
        for (size_t i = 0; i < 3; i++)
                ck_assert_uint_eq(cancelled[i].calls, 0);
        outcome_done(&later);
}
END_TEST

/* A callback that cancels another query: that one never reports. */
typedef struct CancelOther {
        Outcome self;
        DnsQuery *other;
} CancelOther;

static void on_mx_cancel_other(DnsQuery *q, int r, DnsMxList *result, void *userdata) {
        CancelOther *c = userdata;

        on_mx(q, r, result, &c->self);
        c->other = dns_query_cancel(c->other);
}

START_TEST(test_cancel_from_callback)
{
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        _cleanup_(dns_freep) Dns *d = NULL;
        CancelOther c = {};
        Outcome slow = {};

        ck_assert_int_ge(sd_event_new(&e), 0);
        d = fake_dns(e);
        ck_assert_int_eq(dns_mx_lookup(d, "silent.example.test", on_mx, &slow, &c.other), 0);
        ck_assert_int_eq(dns_mx_lookup(d, "example.test", on_mx_cancel_other, &c, NULL), 0);
        run_until(e, &c.self);
        ck_assert_int_eq(c.self.r, 0);
        ck_assert_uint_eq(dns_pending(d), 0);
        /* Let the silent query's timeout pass: still nothing. */
        ck_assert_int_eq(dns_mx_lookup(d, "silent.example.test", on_mx, &c.self, NULL), 0);
        c.self.calls = 0;
        run_until(e, &c.self);
        ck_assert_int_eq(c.self.r, -ETIMEDOUT);
        ck_assert_uint_eq(slow.calls, 0);
        outcome_done(&c.self);
}
END_TEST

START_TEST(test_free_pending)
{
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        Dns *d;
        Outcome o[3] = {};

        ck_assert_int_ge(sd_event_new(&e), 0);
        d = fake_dns(e);
        ck_assert_int_eq(dns_mx_lookup(d, "silent.example.test", on_mx, &o[0], NULL), 0);
        ck_assert_int_eq(dns_client_name_lookup(d, "127.0.0.7", on_name, &o[1], NULL), 0);
        ck_assert_int_eq(dns_client_name_lookup(d, "127.0.0.1", on_name, &o[2], NULL), 0);
        ck_assert_uint_eq(dns_pending(d), 3);
        ck_assert_ptr_null(dns_free(d));
        /* the loop has nothing of the resolver's left to run */
        ck_assert_int_ge(sd_event_run(e, 0), 0);
        for (size_t i = 0; i < 3; i++)
                ck_assert_uint_eq(o[i].calls, 0);
        ck_assert_ptr_null(dns_free(NULL));
}
END_TEST

START_TEST(test_sync_deadline)
{
        _cleanup_(dns_freep) Dns *d = NULL;
        _cleanup_(dns_mx_list_freep) DnsMxList *l = NULL;
        DnsOptions slow = { .timeout_usec = 5 * 1000000, .tries = 2 };
        char servers[64];

        /* The resolver would wait 10 s; the caller's deadline is 50 ms. */
        snprintf(servers, sizeof(servers), "127.0.0.1:%u", fake.port);
        ck_assert_int_eq(dns_new_with_servers(NULL, servers, &slow, &d), 0);
        ck_assert_int_eq(dns_mx_lookup_sync(d, "silent.example.test", 50 * 1000, &l),
                         -ETIMEDOUT);
        ck_assert_uint_eq(dns_pending(d), 0);
        /* and the resolver goes on working */
        ck_assert_int_eq(dns_mx_lookup_sync(d, "example.test", 5 * 1000000, &l), 0);
        ck_assert_uint_eq(l->n, 4);
}
END_TEST

START_TEST(test_new_bad_servers)
{
        Dns *d = NULL;

        ck_assert_int_eq(dns_new_with_servers(NULL, "not an address", NULL, &d), -EINVAL);
        ck_assert_ptr_null(d);
        ck_assert_int_eq(dns_new(NULL, &d), 0);
        ck_assert_ptr_nonnull(d);
        ck_assert_ptr_null(dns_free(d));
}
END_TEST

/* ---- The pure answer parsers ---- */

/* The fake server's answer to a query for name and type, as bytes. */
static size_t make_answer(const char *name, uint16_t type, uint8_t *out) {
        uint8_t q[512] = { 0x12, 0x34, 0x01, 0x00, 0x00, 0x01 };
        size_t n = 12;

        n += put_name(q + n, name);
        put16(q + n, type);
        put16(q + n + 2, 1);
        return fake_reply(q, n + 4, out);
}

START_TEST(test_parse)
{
        _cleanup_(dns_mx_list_freep) DnsMxList *mx = NULL;
        _cleanup_(dns_addr_list_freep) DnsAddrList *a = NULL;
        _cleanup_free_ char *ptr = NULL;
        uint8_t buf[4096];
        size_t n;

        n = make_answer("example.test", T_MX, buf);
        ck_assert_int_eq(dns_mx_parse(buf, n, &mx), 0);
        ck_assert_uint_eq(mx->n, 4);
        ck_assert_str_eq(mx->items[3].host, "c.example.test");
        /* an MX answer holds no A record, and the reverse */
        ck_assert_int_eq(dns_addr_parse(buf, n, AF_INET, &a), -ENODATA);
        ck_assert_int_eq(dns_ptr_parse(buf, n, &ptr), -ENODATA);

        n = make_answer("null.example.test", T_MX, buf);
        mx = dns_mx_list_free(mx);
        ck_assert_int_eq(dns_mx_parse(buf, n, &mx), 0);
        ck_assert(mx->null_mx);

        n = make_answer("invalid.example.test", T_MX, buf);
        mx = dns_mx_list_free(mx);
        ck_assert_int_eq(dns_mx_parse(buf, n, &mx), -EBADMSG);
        n = make_answer("nomx.example.test", T_MX, buf);
        ck_assert_int_eq(dns_mx_parse(buf, n, &mx), -ENODATA);

        n = make_answer("host.example.test", T_A, buf);
        ck_assert_int_eq(dns_addr_parse(buf, n, AF_INET, &a), 0);
        ck_assert_uint_eq(a->n, 2);
        a = dns_addr_list_free(a);
        ck_assert_int_eq(dns_addr_parse(buf, n, AF_UNIX, &a), -EAFNOSUPPORT);
        n = make_answer("host.example.test", T_AAAA, buf);
        ck_assert_int_eq(dns_addr_parse(buf, n, AF_INET6, &a), 0);
        ck_assert_uint_eq(a->n, 1);
        ck_assert_int_eq(a->items[0].family, AF_INET6);

        n = make_answer("2.0.0.127.in-addr.arpa", T_PTR, buf);
        ck_assert_int_eq(dns_ptr_parse(buf, n, &ptr), 0);
        ck_assert_str_eq(ptr, "client.example.test");
        ptr = mfree(ptr);
        n = make_answer("9.0.0.127.in-addr.arpa", T_PTR, buf);
        ck_assert_int_eq(dns_ptr_parse(buf, n, &ptr), -EBADMSG);
        n = make_answer("10.0.0.127.in-addr.arpa", T_PTR, buf);
        ck_assert_int_eq(dns_ptr_parse(buf, n, &ptr), -EBADMSG);

        /* empty, oversized */
        mx = dns_mx_list_free(mx);
        ck_assert_int_eq(dns_mx_parse(buf, 0, &mx), -EBADMSG);
        ck_assert_int_eq(dns_mx_parse(buf, 65536, &mx), -EBADMSG);
        ck_assert_int_eq(dns_ptr_parse(buf, 0, &ptr), -EBADMSG);
        ck_assert_int_eq(dns_addr_parse(buf, 0, AF_INET, &a), -EBADMSG);
}
END_TEST

/* Every truncation of a good answer is refused (or, cut after the last record, accepted), and
 * never read past. */
START_TEST(test_parse_truncated)
{
        static const struct {
                const char *name;
                uint16_t type;
        } cases[] = {
                { "example.test", T_MX },
                { "host.example.test", T_A },
                { "v6.example.test", T_AAAA },
                { "2.0.0.127.in-addr.arpa", T_PTR },
        };
        uint8_t buf[4096];

        for (size_t c = 0; c < ELEMENTSOF(cases); c++) {
                size_t n = make_answer(cases[c].name, cases[c].type, buf);

                for (size_t cut = 0; cut < n; cut++) {
                        _cleanup_free_ uint8_t *copy = malloc(MAX(cut, (size_t) 1));
                        DnsMxList *mx = NULL;
                        DnsAddrList *a = NULL;
                        char *ptr = NULL;
                        int r;

                        ck_assert_ptr_nonnull(copy);
                        memcpy(copy, buf, cut);
                        if (cases[c].type == T_MX)
                                r = dns_mx_parse(copy, cut, &mx);
                        else if (cases[c].type == T_PTR)
                                r = dns_ptr_parse(copy, cut, &ptr);
                        else
                                r = dns_addr_parse(copy, cut,
                                                   cases[c].type == T_A ? AF_INET : AF_INET6, &a);
                        ck_assert_msg(r == -EBADMSG || r == -ENODATA, "%s cut at %zu: %d",
                                      cases[c].name, cut, r);
                        ck_assert(!mx && !a && !ptr);
                }
        }
}
END_TEST

static Suite *dns_suite(void) {
        Suite *s = suite_create("dns");
        TCase *tc;

        tc = tcase_create("client_name");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_loop_test(tc, test_client_name, 0, (int) ELEMENTSOF(name_cases));
        tcase_add_loop_test(tc, test_client_name_sync, 0, (int) ELEMENTSOF(name_cases));
        tcase_add_test(tc, test_client_name_invalid);
        tcase_add_test(tc, test_client_name_hosts_file);
        tcase_add_test(tc, test_name_status_strings);
        tcase_set_timeout(tc, 60);
        suite_add_tcase(s, tc);

        tc = tcase_create("mx");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_mx_order);
        tcase_add_loop_test(tc, test_mx_outcomes, 0, (int) ELEMENTSOF(mx_cases));
        tcase_add_test(tc, test_mx_invalid_domain);
        tcase_set_timeout(tc, 60);
        suite_add_tcase(s, tc);

        tc = tcase_create("addr");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_loop_test(tc, test_addr, 0, (int) ELEMENTSOF(addr_cases));
        tcase_add_test(tc, test_addr_invalid);
        tcase_set_timeout(tc, 60);
        suite_add_tcase(s, tc);

        tc = tcase_create("parse");
        tcase_add_test(tc, test_parse);
        tcase_add_test(tc, test_parse_truncated);
        tcase_set_timeout(tc, 60);
        suite_add_tcase(s, tc);

        tc = tcase_create("lifecycle");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_add_test(tc, test_cancel);
        tcase_add_test(tc, test_cancel_from_callback);
        tcase_add_test(tc, test_free_pending);
        tcase_add_test(tc, test_sync_deadline);
        tcase_add_test(tc, test_new_bad_servers);
        tcase_set_timeout(tc, 60);
        suite_add_tcase(s, tc);
        return s;
}

TERN_CHECK_MAIN(dns_suite)
