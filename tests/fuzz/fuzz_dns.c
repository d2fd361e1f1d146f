/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Fuzz target of dns' answer parsers: arbitrary bytes as a DNS answer to an MX, A, AAAA and PTR
 * query (c-ares parses the packet, dns normalises and bounds what comes out). Invariants: only
 * the documented codes; the output is written exactly on success; an MX list is bounded, sorted
 * by preference, non-empty unless it is a null MX; addresses are bounded and of the family
 * asked for; every name is a valid lower-case host name without a trailing dot, not an IPv4
 * address. */
#include <arpa/inet.h>
#include <stdint.h>

#include "addr.h"
#include "dns.h"
#include "log.h"

#define FUZZ_DNS_MAX 8192

static void check_name(const char *n) {
        struct in_addr a;

        assert(n);
        assert(strlen(n) <= DNS_NAME_MAX);
        assert(addr_domain_is_valid(n));
        assert(inet_pton(AF_INET, n, &a) != 1);
        for (const char *c = n; *c; c++)
                assert(!(*c >= 'A' && *c <= 'Z'));
}

static void check_mx(const uint8_t *data, size_t size) {
        DnsMxList *l = NULL;
        int r;

        r = dns_mx_parse(data, size, &l);
        assert(IN_SET(r, 0, -ENODATA, -EBADMSG, -ENOMEM));
        assert((r == 0) == (l != NULL));
        if (r < 0)
                return;
        assert(l->n <= DNS_MX_MAX);
        assert(l->null_mx == (l->n == 0));
        for (size_t i = 0; i < l->n; i++) {
                check_name(l->items[i].host);
                if (i > 0)
                        assert(l->items[i - 1].preference <= l->items[i].preference);
        }
        dns_mx_list_free(l);
}

static void check_addr(const uint8_t *data, size_t size, int family) {
        DnsAddrList *l = NULL;
        int r;

        r = dns_addr_parse(data, size, family, &l);
        assert(IN_SET(r, 0, -ENODATA, -EBADMSG, -ENOMEM));
        assert((r == 0) == (l != NULL));
        if (r < 0)
                return;
        assert(l->n > 0 && l->n <= DNS_ADDR_MAX);
        for (size_t i = 0; i < l->n; i++)
                assert(l->items[i].family == family);
        dns_addr_list_free(l);
}

static void check_ptr(const uint8_t *data, size_t size) {
        char *name = NULL;
        int r;

        r = dns_ptr_parse(data, size, &name);
        assert(IN_SET(r, 0, -ENODATA, -EBADMSG, -ENOMEM));
        assert((r == 0) == (name != NULL));
        if (r == 0)
                check_name(name);
        free(name);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        log_set_quiet(true);
        if (size > FUZZ_DNS_MAX)
                return 0;

        check_mx(data, size);
        check_addr(data, size, AF_INET);
        check_addr(data, size, AF_INET6);
        check_ptr(data, size);
        return 0;
}
