/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Fuzz target of addr: arbitrary bytes as a MAIL FROM/RCPT TO path, strict (brackets required,
 * no 8-bit) and lenient (SMTPUTF8, no brackets, lax dots), and as a bare mailbox. Invariants:
 * only -EBADMSG or -EMSGSIZE as errors; ret_used within n and followed by SP or the end; the
 * result respects the limits, has no control bytes and only valid UTF-8; formatting and
 * parsing the external form again gives an equal address and the same external form; the
 * extension and routing helpers split the local part without losing bytes. */
#include <stdint.h>

#include "addr.h"
#include "log.h"

#define FUZZ_ADDR_MAX 4096

static void check_addr(const Addr *a, const AddrLimits *lim, AddrFlags flags) {
        size_t ll = strlen(a->local);
        bool eight = false;

        assert(ll <= lim->local_max);
        for (const char *c = a->local; *c; c++) {
                unsigned char u = (unsigned char) *c;

                assert(u >= 32 && u != 127);
                assert(u < 0x80 || (flags & ADDR_SMTPUTF8));
                eight = eight || u >= 0x80;
        }
        assert(addr_utf8_is_valid(a->local, ll));
        assert(a->utf8 == eight);
        if (a->null) {
                assert(ll == 0 && !a->domain);
                return;
        }
        if (a->domain) {
                assert(strlen(a->domain) <= lim->domain_max);
                if (a->domain_literal)
                        assert(addr_domain_literal_is_valid(a->domain));
                else
                        assert(addr_domain_is_valid(a->domain));
        } else
                assert(!(flags & ADDR_REQUIRE_DOMAIN));
}

static void round_trip(const Addr *a, AddrFlags flags) {
        AddrLimits unlimited_path = ADDR_LIMITS_RFC5321;
        _cleanup_(addr_freep) Addr *b = NULL;
        _cleanup_free_ char *path = NULL, *again = NULL;
        int r;

        /* Quoting can make the external form longer than the input was. */
        unlimited_path.path_max = SIZE_MAX;

        r = addr_format_path(a, &path);
        assert(r == 0);
        r = addr_parse_path(path, strlen(path), &unlimited_path,
                            (flags & ~ADDR_ALLOW_NO_BRACKETS) | ADDR_ALLOW_NULL, &b, NULL);
        assert(r == 0);
        assert(addr_equal(a, b));
        assert(a->utf8 == b->utf8);
        assert(a->domain_literal == b->domain_literal);
        r = addr_format_path(b, &again);
        assert(r == 0);
        assert(streq(path, again));
}

static void helpers(const Addr *a) {
        _cleanup_free_ char *base = NULL, *ext = NULL, *user = NULL, *domain = NULL;
        _cleanup_free_ char *uni = NULL;
        int r;

        r = addr_split_extension(a->local, "+-", true, &base, &ext);
        assert(r == 0 || r == 1);
        assert(strlen(base) + (ext ? strlen(ext) : 0) == strlen(a->local));
        assert(strncmp(a->local, base, strlen(base)) == 0);
        if (ext)
                assert(streq(a->local + strlen(base), ext));

        r = addr_local_split_route(a->local, ADDR_ROUTING_AT | ADDR_ROUTING_PERCENT |
                                   ADDR_ROUTING_BANG, &user, &domain);
        assert(r == 0 || r == 1);
        if (r == 1)
                assert(strlen(user) + strlen(domain) + 1 == strlen(a->local));
        else
                assert(addr_local_routing(a->local) == ADDR_ROUTING_NONE ||
                       strchr("@%!", a->local[0]) ||
                       strchr("@%!", a->local[strlen(a->local) - 1]));

        if (a->domain && !a->domain_literal) {
                r = addr_domain_to_unicode(a->domain, &uni);
                assert(r == 0 || r == -EBADMSG);
        }
}

static void one(const char *p, size_t n, AddrFlags flags) {
        const AddrLimits lim = ADDR_LIMITS_RFC5321;
        _cleanup_(addr_freep) Addr *a = NULL, *m = NULL;
        size_t used = SIZE_MAX;
        int r;

        r = addr_parse_path(p, n, &lim, flags, &a, &used);
        assert(r == 0 || r == -EBADMSG || r == -EMSGSIZE);
        if (r == 0) {
                assert(used <= n);
                assert(used == n || p[used] == ' ');
                check_addr(a, &lim, flags);
                round_trip(a, flags);
                helpers(a);
        } else {
                assert(!a);
                assert(used == SIZE_MAX);
        }

        r = addr_parse_mailbox(p, n, &lim, flags, &m);
        assert(r == 0 || r == -EBADMSG || r == -EMSGSIZE);
        if (r == 0) {
                assert(!m->null && !m->source_route);
                check_addr(m, &lim, flags);
                round_trip(m, flags);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        const char *p = (const char *) data;

        log_set_quiet(true);
        if (size > FUZZ_ADDR_MAX)
                return 0;

        one(p, size, ADDR_ALLOW_NULL);
        one(p, size, ADDR_SMTPUTF8 | ADDR_ALLOW_NO_BRACKETS | ADDR_ALLOW_NULL | ADDR_LAX_DOTS);
        one(p, size, ADDR_SMTPUTF8 | ADDR_REQUIRE_DOMAIN);
        return 0;
}
