/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Unit tests of addr: RFC 5321 paths and mailboxes (brackets, null path, source routes, quoted
 * local parts, IP literals, IDN, SMTPUTF8, control bytes, limits), the external form and its
 * round trips, recipient_delimiter splitting, routing operators, domain predicates and IDN
 * conversion. Every table input is also parsed from each of its prefixes, in an exact-size
 * copy, so that ASan catches a read past n. */
#include "addr.h"
#include "check_main.h"

#define U ADDR_SMTPUTF8
#define NB ADDR_ALLOW_NO_BRACKETS
#define NL ADDR_ALLOW_NULL
#define LX ADDR_LAX_DOTS
#define RD ADDR_REQUIRE_DOMAIN

/* len 0: strlen(in). Expected local/domain only checked on success; NULL domain: none. */
static const struct {
        const char *in;
        size_t len;
        AddrFlags flags;
        int r;
        const char *local;
        const char *domain;
        bool null;
        bool route;
} path_cases[] = {
        /* plain */
        { "<user@example.com>", 0, 0, 0, "user", "example.com", false, false },
        { "<User@Example.COM>", 0, 0, 0, "User", "example.com", false, false },
        { "<a@b>", 0, 0, 0, "a", "b", false, false },
        { "<a.b.c@example.com>", 0, 0, 0, "a.b.c", "example.com", false, false },
        { "<user@123.example>", 0, 0, 0, "user", "123.example", false, false },
        { "<user@a-b.example>", 0, 0, 0, "user", "a-b.example", false, false },
        { "<user@xn--bcher-kva.example>", 0, 0, 0, "user", "xn--bcher-kva.example", false,
          false },
        { "<user+ext@example.com>", 0, 0, 0, "user+ext", "example.com", false, false },
        { "<!#$%&'*+-/=?^_`{|}~@example.com>", 0, 0, 0, "!#$%&'*+-/=?^_`{|}~", "example.com",
          false, false },
        /* null path */
        { "<>", 0, NL, 0, "", NULL, true, false },
        { "<>", 0, NL | NB, 0, "", NULL, true, false },
        { "<>", 0, 0, -EBADMSG, NULL, NULL, false, false },
        /* brackets */
        { "user@example.com", 0, 0, -EBADMSG, NULL, NULL, false, false },
        { "user@example.com", 0, NB, 0, "user", "example.com", false, false },
        { "\"john doe\"@example.com", 0, NB, 0, "john doe", "example.com", false, false },
        { "<user@example.com", 0, 0, -EBADMSG, NULL, NULL, false, false },
        { "<user@example.com", 0, NB, -EBADMSG, NULL, NULL, false, false },
        { "user@example.com>", 0, NB, -EBADMSG, NULL, NULL, false, false },
        { "<<user@example.com>>", 0, 0, -EBADMSG, NULL, NULL, false, false },
        { "", 0, 0, -EBADMSG, NULL, NULL, false, false },
        { "", 0, NB | NL, -EBADMSG, NULL, NULL, false, false },
        { "<", 0, 0, -EBADMSG, NULL, NULL, false, false },
        { ">", 0, NB, -EBADMSG, NULL, NULL, false, false },
        /* trailing garbage (the whole input must be the path) */
        { "<user@example.com>x", 0, 0, -EBADMSG, NULL, NULL, false, false },
        { "<user@example.com> ", 0, 0, -EBADMSG, NULL, NULL, false, false },
        { "<user@example.com>>", 0, 0, -EBADMSG, NULL, NULL, false, false },
        { "<user@example.com@other>", 0, 0, -EBADMSG, NULL, NULL, false, false },
        { "<us(er)@example.com>", 0, 0, -EBADMSG, NULL, NULL, false, false },
        { "<us er@example.com>", 0, 0, -EBADMSG, NULL, NULL, false, false },
        { "<user@exa mple.com>", 0, 0, -EBADMSG, NULL, NULL, false, false },
        { "<user@ex%ample.com>", 0, 0, -EBADMSG, NULL, NULL, false, false },
        /* quoted local parts: internal form is unquoted */
        { "<\"john doe\"@example.com>", 0, 0, 0, "john doe", "example.com", false, false },
        { "<\"a\\\"b\"@example.com>", 0, 0, 0, "a\"b", "example.com", false, false },
        { "<\"a\\\\b\"@example.com>", 0, 0, 0, "a\\b", "example.com", false, false },
        { "<\"\\a\\b\"@example.com>", 0, 0, 0, "ab", "example.com", false, false },
        { "<\"\"@example.com>", 0, 0, 0, "", "example.com", false, false },
        { "<\"a b\"@[192.0.2.1]>", 0, 0, 0, "a b", "[192.0.2.1]", false, false },
        { "<\"unterminated@example.com>", 0, 0, -EBADMSG, NULL, NULL, false, false },
        { "<\"a\\", 0, 0, -EBADMSG, NULL, NULL, false, false },
        { "<\"a\\\tb\"@x.example>", 0, 0, -EBADMSG, NULL, NULL, false, false },
        { "<\"a\tb\"@x.example>", 0, 0, -EBADMSG, NULL, NULL, false, false },
        { "<\"a\"b@x.example>", 0, 0, -EBADMSG, NULL, NULL, false, false },
        /* relay tricks: parsed, reported, not resolved */
        { "<\"user@other\"@example.com>", 0, 0, 0, "user@other", "example.com", false, false },
        { "<user%other@example.com>", 0, 0, 0, "user%other", "example.com", false, false },
        { "<other!user@example.com>", 0, 0, 0, "other!user", "example.com", false, false },
        /* source routes: accepted and stripped (RFC 5321 Appendix C) */
        { "<@a.example,@b.example:user@c.example>", 0, 0, 0, "user", "c.example", false,
          true },
        { "<@ours.example:user@other.example>", 0, 0, 0, "user", "other.example", false,
          true },
        { "<@a.example user@c.example>", 0, 0, -EBADMSG, NULL, NULL, false, false },
        { "<@:user@c.example>", 0, 0, -EBADMSG, NULL, NULL, false, false },
        { "<@a,b:user@c.example>", 0, 0, -EBADMSG, NULL, NULL, false, false },
        { "<@a,@b>", 0, 0, -EBADMSG, NULL, NULL, false, false },
        { "<@[192.0.2.1]:user@c.example>", 0, 0, -EBADMSG, NULL, NULL, false, false },
        { "<@-a:user@c.example>", 0, 0, -EBADMSG, NULL, NULL, false, false },
        { "@a:user@c.example", 0, NB, -EBADMSG, NULL, NULL, false, false },
        /* IP literals */
        { "<user@[192.0.2.1]>", 0, 0, 0, "user", "[192.0.2.1]", false, false },
        { "<user@[IPv6:2001:db8::1]>", 0, 0, 0, "user", "[IPv6:2001:db8::1]", false, false },
        { "<user@[ipv6:2001:db8::1]>", 0, 0, 0, "user", "[ipv6:2001:db8::1]", false, false },
        { "<user@[IPv6:::ffff:192.0.2.1]>", 0, 0, 0, "user", "[IPv6:::ffff:192.0.2.1]",
          false, false },
        { "<user@[192.0.2.256]>", 0, 0, -EBADMSG, NULL, NULL, false, false },
        { "<user@[192.0.2]>", 0, 0, -EBADMSG, NULL, NULL, false, false },
        { "<user@[192.0.02.1]>", 0, 0, -EBADMSG, NULL, NULL, false, false },
        { "<user@[2001:db8::1]>", 0, 0, -EBADMSG, NULL, NULL, false, false },
        { "<user@[IPv6:2001:db8::g]>", 0, 0, -EBADMSG, NULL, NULL, false, false },
        { "<user@[IPv6:192.0.2.1]>", 0, 0, -EBADMSG, NULL, NULL, false, false },
        { "<user@[IPv6:2001:db8::1%eth0]>", 0, 0, -EBADMSG, NULL, NULL, false, false },
        { "<user@[x-tag:foo]>", 0, 0, -EBADMSG, NULL, NULL, false, false },
        { "<user@[192.0.2.1>", 0, 0, -EBADMSG, NULL, NULL, false, false },
        { "<user@[]>", 0, 0, -EBADMSG, NULL, NULL, false, false },
        { "<user@[ 192.0.2.1]>", 0, 0, -EBADMSG, NULL, NULL, false, false },
        { "<user@[192.0.2.1].example>", 0, 0, -EBADMSG, NULL, NULL, false, false },
        /* IDN and SMTPUTF8 */
        { "<user@bücher.example>", 0, U, 0, "user", "xn--bcher-kva.example", false, false },
        { "<user@BÜCHER.example>", 0, U, 0, "user", "xn--bcher-kva.example", false, false },
        { "<user@bücher。example>", 0, U, 0, "user", "xn--bcher-kva.example", false, false },
        { "<user@münchen.de>", 0, U, 0, "user", "xn--mnchen-3ya.de", false, false },
        { "<user@faß.de>", 0, U, 0, "user", "xn--fa-hia.de", false, false },
        { "<user@bücher.example>", 0, 0, -EBADMSG, NULL, NULL, false, false },
        { "<user@-ü.de>", 0, U, -EBADMSG, NULL, NULL, false, false },
        { "<üser@example.com>", 0, U, 0, "üser", "example.com", false, false },
        { "<üser@example.com>", 0, 0, -EBADMSG, NULL, NULL, false, false },
        { "<\"üser x\"@example.com>", 0, U, 0, "üser x", "example.com", false, false },
        { "<\"üser x\"@example.com>", 0, 0, -EBADMSG, NULL, NULL, false, false },
        { "<\xF0\x9F\x98\x80@example.com>", 0, U, 0, "\xF0\x9F\x98\x80", "example.com",
          false, false },
        { "<\xC0\xAF@example.com>", 0, U, -EBADMSG, NULL, NULL, false, false },
        { "<\xE0\x80\xAF@example.com>", 0, U, -EBADMSG, NULL, NULL, false, false },
        { "<\xED\xA0\x80@example.com>", 0, U, -EBADMSG, NULL, NULL, false, false },
        { "<\xF4\x90\x80\x80@example.com>", 0, U, -EBADMSG, NULL, NULL, false, false },
        { "<\xE2\x82@example.com>", 0, U, -EBADMSG, NULL, NULL, false, false },
        { "<\x80@example.com>", 0, U, -EBADMSG, NULL, NULL, false, false },
        { "<\xFF@example.com>", 0, U, -EBADMSG, NULL, NULL, false, false },
        { "<user@\xC3\x28.example>", 0, U, -EBADMSG, NULL, NULL, false, false },
        { "<\"\\\xC3\xBC\"@example.com>", 0, U, -EBADMSG, NULL, NULL, false, false },
        /* NUL, CR, LF and other controls, always */
        { "<us\0er@example.com>", 19, U, -EBADMSG, NULL, NULL, false, false },
        { "<user@exam\0ple.com>", 19, U, -EBADMSG, NULL, NULL, false, false },
        { "<\"us\0er\"@example.com>", 21, U, -EBADMSG, NULL, NULL, false, false },
        { "<user\r@example.com>", 0, U, -EBADMSG, NULL, NULL, false, false },
        { "<user@exam\nple.com>", 0, U, -EBADMSG, NULL, NULL, false, false },
        { "<\"us\rer\"@example.com>", 0, U, -EBADMSG, NULL, NULL, false, false },
        { "<\"us\\\ner\"@example.com>", 0, U, -EBADMSG, NULL, NULL, false, false },
        { "<us\x7f" "er@example.com>", 0, U, -EBADMSG, NULL, NULL, false, false },
        { "<\"us\x1b" "er\"@example.com>", 0, U, -EBADMSG, NULL, NULL, false, false },
        { "user@example.com\r\n", 0, NB, -EBADMSG, NULL, NULL, false, false },
        /* domain syntax */
        { "<user@-example.com>", 0, 0, -EBADMSG, NULL, NULL, false, false },
        { "<user@example-.com>", 0, 0, -EBADMSG, NULL, NULL, false, false },
        { "<user@exa_mple.com>", 0, 0, -EBADMSG, NULL, NULL, false, false },
        { "<user@example..com>", 0, 0, -EBADMSG, NULL, NULL, false, false },
        { "<user@.example.com>", 0, 0, -EBADMSG, NULL, NULL, false, false },
        { "<user@example.com.>", 0, 0, -EBADMSG, NULL, NULL, false, false },
        { "<user@>", 0, 0, -EBADMSG, NULL, NULL, false, false },
        { "<@example.com>", 0, 0, -EBADMSG, NULL, NULL, false, false },
        /* unqualified */
        { "<user>", 0, 0, 0, "user", NULL, false, false },
        { "<Postmaster>", 0, 0, 0, "Postmaster", NULL, false, false },
        { "<user>", 0, RD, -EBADMSG, NULL, NULL, false, false },
        { "user", 0, NB, 0, "user", NULL, false, false },
        /* dots */
        { "<a..b@example.com>", 0, 0, -EBADMSG, NULL, NULL, false, false },
        { "<a..b@example.com>", 0, LX, 0, "a..b", "example.com", false, false },
        { "<.a@example.com>", 0, 0, -EBADMSG, NULL, NULL, false, false },
        { "<a.@example.com>", 0, 0, -EBADMSG, NULL, NULL, false, false },
        { "<a.@example.com>", 0, LX, 0, "a.", "example.com", false, false },
        { "<user@example.com.>", 0, LX, 0, "user", "example.com", false, false },
        { "<user@bücher.example.>", 0, LX | U, 0, "user", "xn--bcher-kva.example", false,
          false },
        { "<user@example.com..>", 0, LX, -EBADMSG, NULL, NULL, false, false },
        { "<user@.>", 0, LX, -EBADMSG, NULL, NULL, false, false },
        { "<user@[192.0.2.1].>", 0, LX, -EBADMSG, NULL, NULL, false, false },
};

static char *dup_exact(const char *p, size_t n) {
        char *c = malloc(n ? n : 1);

        ck_assert_ptr_nonnull(c);
        memcpy(c, p, n);
        return c;
}

START_TEST(test_path_table)
{
        _cleanup_(addr_freep) Addr *a = NULL;
        size_t n = path_cases[_i].len ?: strlen(path_cases[_i].in);
        _cleanup_free_ char *copy = dup_exact(path_cases[_i].in, n);
        int r;

        r = addr_parse_path(copy, n, NULL, path_cases[_i].flags, &a, NULL);
        ck_assert_msg(r == path_cases[_i].r, "case %d \"%s\": got %d, expected %d", _i,
                      path_cases[_i].in, r, path_cases[_i].r);
        if (r < 0) {
                ck_assert_ptr_null(a);
                return;
        }
        ck_assert_str_eq(a->local, path_cases[_i].local);
        if (path_cases[_i].domain)
                ck_assert_str_eq(a->domain, path_cases[_i].domain);
        else
                ck_assert_ptr_null(a->domain);
        ck_assert(a->null == path_cases[_i].null);
        ck_assert(a->source_route == path_cases[_i].route);
        ck_assert(a->domain_literal == (a->domain && a->domain[0] == '['));
}
END_TEST

/* Every prefix, in an exact-size copy: never reads past n; a bracketed path is incomplete
 * without its last byte. */
START_TEST(test_path_prefixes)
{
        size_t n = path_cases[_i].len ?: strlen(path_cases[_i].in);

        for (size_t k = 0; k < n; k++) {
                _cleanup_(addr_freep) Addr *a = NULL;
                _cleanup_free_ char *copy = dup_exact(path_cases[_i].in, k);
                size_t used = SIZE_MAX;
                int r;

                r = addr_parse_path(copy, k, NULL, path_cases[_i].flags, &a, NULL);
                if (path_cases[_i].in[0] == '<' && (k == 0 || path_cases[_i].in[k - 1] != '>'))
                        ck_assert_int_eq(r, -EBADMSG);
                a = addr_free(a);
                r = addr_parse_path(copy, k, NULL, path_cases[_i].flags, &a, &used);
                if (r == 0)
                        ck_assert_uint_le(used, k);
                else
                        ck_assert_uint_eq(used, SIZE_MAX);
        }
}
END_TEST

static const struct {
        const char *in;
        AddrFlags flags;
        int r;
        size_t used;
} used_cases[] = {
        { "<a@b.example> SIZE=10", 0, 0, 13 },
        { "<a@b.example>", 0, 0, 13 },
        { "<a@b.example>SIZE=10", 0, -EBADMSG, 0 },
        { "<a@b.example>\tSIZE=10", 0, -EBADMSG, 0 },
        { "<> BODY=8BITMIME", NL, 0, 2 },
        { "<>BODY=8BITMIME", NL, -EBADMSG, 0 },
        { "a@b.example SIZE=10", NB, 0, 11 },
        { "a@b.example", NB, 0, 11 },
        { "\"a b\"@c.example SIZE=1", NB, 0, 15 },
        { "a@b.example,x", NB, -EBADMSG, 0 },
        { "<@r.example:a@b.example> NOTIFY=NEVER", 0, 0, 24 },
};

START_TEST(test_path_used)
{
        _cleanup_(addr_freep) Addr *a = NULL;
        size_t used = SIZE_MAX;
        int r;

        r = addr_parse_path(used_cases[_i].in, strlen(used_cases[_i].in), NULL,
                            used_cases[_i].flags, &a, &used);
        ck_assert_msg(r == used_cases[_i].r, "case %d: got %d", _i, r);
        if (r == 0)
                ck_assert_uint_eq(used, used_cases[_i].used);
        else
                ck_assert_uint_eq(used, SIZE_MAX);
}
END_TEST

static char *repeat(char c, size_t n) {
        char *s = malloc(n + 1);

        ck_assert_ptr_nonnull(s);
        memset(s, c, n);
        s[n] = '\0';
        return s;
}

static int parse_str(const char *s, const AddrLimits *lim, AddrFlags flags) {
        _cleanup_(addr_freep) Addr *a = NULL;

        return addr_parse_path(s, strlen(s), lim, flags, &a, NULL);
}

START_TEST(test_path_limits)
{
        _cleanup_free_ char *l64 = repeat('a', 64), *l65 = repeat('a', 65);
        _cleanup_free_ char *lab63 = repeat('b', 63), *lab64 = repeat('b', 64);
        const AddrLimits small = { .local_max = 4, .domain_max = 9, .path_max = 20 };
        AddrLimits long_path = ADDR_LIMITS_RFC5321;
        char buf[1024];

        long_path.path_max = 512;

        snprintf(buf, sizeof(buf), "<%s@example.com>", l64);
        ck_assert_int_eq(parse_str(buf, NULL, 0), 0);
        snprintf(buf, sizeof(buf), "<%s@example.com>", l65);
        ck_assert_int_eq(parse_str(buf, NULL, 0), -EMSGSIZE);
        snprintf(buf, sizeof(buf), "<\"%s\"@example.com>", l65);
        ck_assert_int_eq(parse_str(buf, NULL, 0), -EMSGSIZE);
        snprintf(buf, sizeof(buf), "%s@example.com", l65);
        ck_assert_int_eq(parse_str(buf, NULL, NB), -EMSGSIZE);
        /* the local-part limit counts the internal form: 64 escaped characters fit */
        buf[0] = '<';
        buf[1] = '"';
        for (size_t k = 0; k < 64; k++) {
                buf[2 + 2 * k] = '\\';
                buf[3 + 2 * k] = 'q';
        }
        snprintf(buf + 130, sizeof(buf) - 130, "\"@x.example>");
        ck_assert_int_eq(parse_str(buf, NULL, 0), 0);

        /* label 63 fine, 64 not a hostname */
        snprintf(buf, sizeof(buf), "<u@%s.example>", lab63);
        ck_assert_int_eq(parse_str(buf, NULL, 0), 0);
        snprintf(buf, sizeof(buf), "<u@%s.example>", lab64);
        ck_assert_int_eq(parse_str(buf, NULL, 0), -EBADMSG);

        /* domain of 255 octets fits (in a longer path), 257 does not; path 256 */
        snprintf(buf, sizeof(buf), "<u@%s.%s.%s.%s>", lab63, lab63, lab63, lab63);
        ck_assert_int_eq(parse_str(buf, &long_path, 0), 0);
        ck_assert_int_eq(parse_str(buf, NULL, 0), -EMSGSIZE);
        snprintf(buf, sizeof(buf), "<u@%s.%s.%s.%s.b>", lab63, lab63, lab63, lab63);
        ck_assert_int_eq(parse_str(buf, &long_path, 0), -EMSGSIZE);
        snprintf(buf, sizeof(buf), "<u@%s.%s.%s.%s.>", lab63, lab63, lab63, lab63);
        ck_assert_int_eq(parse_str(buf, &long_path, LX), 0);
        ck_assert_int_eq(parse_str(buf, &long_path, 0), -EMSGSIZE);
        snprintf(buf, sizeof(buf), "<u@%s.%s.%s.%s>", lab63, lab63, lab63, l64 + 4);
        ck_assert_uint_eq(strlen(buf), 256);
        ck_assert_int_eq(parse_str(buf, NULL, 0), 0);
        snprintf(buf, sizeof(buf), "<u@%s.%s.%s.%s>", lab63, lab63, lab63, l64 + 3);
        ck_assert_int_eq(parse_str(buf, NULL, 0), -EMSGSIZE);
        snprintf(buf, sizeof(buf), "<%s@%s.%s.%s.%s>", l64, lab63, lab63, lab63, lab63);
        ck_assert_int_eq(parse_str(buf, NULL, 0), -EMSGSIZE);
        snprintf(buf, sizeof(buf), "<@%s.%s:u@example.com>", lab63, lab63);
        ck_assert_int_eq(parse_str(buf, NULL, 0), 0);
        snprintf(buf, sizeof(buf), "<@%s.%s,@%s.%s,@%s:u@example.com>", lab63, lab63, lab63,
                 lab63, lab63);
        ck_assert_int_eq(parse_str(buf, NULL, 0), -EMSGSIZE);

        /* caller's limits */
        ck_assert_int_eq(parse_str("<abcd@b.example>", &small, 0), 0);
        ck_assert_int_eq(parse_str("<abcde@b.example>", &small, 0), -EMSGSIZE);
        ck_assert_int_eq(parse_str("<a@bc.example>", &small, 0), -EMSGSIZE);
        ck_assert_int_eq(parse_str("<a@[192.0.2.1]>", &small, 0), -EMSGSIZE);
        ck_assert_int_eq(parse_str("<a@[1.2.3.4]>", &small, 0), 0);
        ck_assert_int_eq(parse_str("<a@b.example>", &small, 0), 0);
        ck_assert_int_eq(parse_str("<@a.a,@b.b,@c.c:a@b.example>", &small, 0), -EMSGSIZE);
        ck_assert_int_eq(parse_str("a@b.example", &small, NB), 0);
        ck_assert_int_eq(parse_str("<@aaaaaaa.b:a@b.example>", &small, 0), -EMSGSIZE);
        /* U-labels count in A-label form */
        ck_assert_int_eq(parse_str("<a@ü.example>", &small, U), -EMSGSIZE);
}
END_TEST

static const struct {
        const char *in;
        AddrFlags flags;
        int r;
        const char *local;
        const char *domain;
} mailbox_cases[] = {
        { "user@example.com", 0, 0, "user", "example.com" },
        { "\"a b\"@example.com", 0, 0, "a b", "example.com" },
        { "postmaster", 0, 0, "postmaster", NULL },
        { "postmaster", RD, -EBADMSG, NULL, NULL },
        { "üser@bücher.example", U, 0, "üser", "xn--bcher-kva.example" },
        { "<user@example.com>", 0, -EBADMSG, NULL, NULL },
        { "@a:user@example.com", 0, -EBADMSG, NULL, NULL },
        { "", NB | NL, -EBADMSG, NULL, NULL },
        { "user@example.com ", 0, -EBADMSG, NULL, NULL },
        { "user@[IPv6:::1]", 0, 0, "user", "[IPv6:::1]" },
};

START_TEST(test_mailbox_table)
{
        _cleanup_(addr_freep) Addr *a = NULL;
        size_t n = strlen(mailbox_cases[_i].in);
        _cleanup_free_ char *copy = dup_exact(mailbox_cases[_i].in, n);
        int r;

        r = addr_parse_mailbox(copy, n, NULL, mailbox_cases[_i].flags, &a);
        ck_assert_msg(r == mailbox_cases[_i].r, "case %d: got %d", _i, r);
        if (r < 0)
                return;
        ck_assert_str_eq(a->local, mailbox_cases[_i].local);
        if (mailbox_cases[_i].domain)
                ck_assert_str_eq(a->domain, mailbox_cases[_i].domain);
        else
                ck_assert_ptr_null(a->domain);
        ck_assert(!a->null);
}
END_TEST

START_TEST(test_mailbox_limits)
{
        _cleanup_(addr_freep) Addr *a = NULL;
        const AddrLimits small = { .local_max = 64, .domain_max = 255, .path_max = 10 };

        ck_assert_int_eq(addr_parse_mailbox("ab@cd.ef", 8, &small, 0, &a), 0);
        a = addr_free(a);
        ck_assert_int_eq(addr_parse_mailbox("abc@cd.ef", 9, &small, 0, &a), -EMSGSIZE);
        ck_assert_ptr_null(a);
}
END_TEST

/* internal local, domain (NULL none), external form */
static const struct {
        const char *local;
        const char *domain;
        const char *external;
} format_cases[] = {
        { "user", "example.com", "user@example.com" },
        { "a.b.c", "example.com", "a.b.c@example.com" },
        { "john doe", "example.com", "\"john doe\"@example.com" },
        { "a\"b", "example.com", "\"a\\\"b\"@example.com" },
        { "a\\b", "example.com", "\"a\\\\b\"@example.com" },
        { "", "example.com", "\"\"@example.com" },
        { "a..b", "example.com", "\"a..b\"@example.com" },
        { ".a", "example.com", "\".a\"@example.com" },
        { "a.", "example.com", "\"a.\"@example.com" },
        { "user@other", "example.com", "\"user@other\"@example.com" },
        { "user%other", "example.com", "user%other@example.com" },
        { "a(b)", "example.com", "\"a(b)\"@example.com" },
        { "üser", "example.com", "üser@example.com" },
        { "ü ser", "example.com", "\"ü ser\"@example.com" },
        { "a b", NULL, "\"a b\"" },
        { "postmaster", NULL, "postmaster" },
        { "user", "[192.0.2.1]", "user@[192.0.2.1]" },
        { "user", "[IPv6:2001:db8::1]", "user@[IPv6:2001:db8::1]" },
};

START_TEST(test_format_table)
{
        _cleanup_(addr_freep) Addr *a = NULL, *b = NULL;
        _cleanup_free_ char *ext = NULL, *path = NULL, *expect_path = NULL;

        ck_assert_int_eq(addr_new(format_cases[_i].local, format_cases[_i].domain, &a), 0);
        ck_assert_int_eq(addr_format(a, &ext), 0);
        ck_assert_str_eq(ext, format_cases[_i].external);
        ck_assert_int_eq(addr_format_path(a, &path), 0);
        ck_assert_int_eq(asprintf(&expect_path, "<%s>", format_cases[_i].external) > 0, 1);
        ck_assert_str_eq(path, expect_path);

        /* round trip: the external form parses back to the same internal form */
        ck_assert_int_eq(addr_parse_path(path, strlen(path), NULL, U | LX, &b, NULL), 0);
        ck_assert(addr_equal(a, b));
        ck_assert(a->domain_literal == b->domain_literal);
        ck_assert(a->utf8 == b->utf8);
}
END_TEST

START_TEST(test_format_null_and_dup)
{
        _cleanup_(addr_freep) Addr *a = NULL, *b = NULL, *c = NULL;
        _cleanup_free_ char *ext = NULL, *path = NULL;

        ck_assert_int_eq(addr_parse_path("<>", 2, NULL, NL, &a, NULL), 0);
        ck_assert_int_eq(addr_format(a, &ext), 0);
        ck_assert_str_eq(ext, "");
        ck_assert_int_eq(addr_format_path(a, &path), 0);
        ck_assert_str_eq(path, "<>");
        ck_assert_int_eq(addr_dup(a, &b), 0);
        ck_assert(b->null);
        ck_assert(addr_equal(a, b));

        ck_assert_int_eq(addr_new("", NULL, &c), 0);
        ck_assert(!addr_equal(a, c));   /* <""> is not <> */
        ck_assert(!addr_equal(c, a));
        ck_assert_ptr_null(addr_free(NULL));
}
END_TEST

/* Round trips of every valid table case: parse, format, parse again, equal. */
START_TEST(test_format_round_trip)
{
        _cleanup_(addr_freep) Addr *a = NULL, *b = NULL, *c = NULL;
        _cleanup_free_ char *path = NULL;
        size_t n = path_cases[_i].len ?: strlen(path_cases[_i].in);

        if (path_cases[_i].r != 0)
                return;
        ck_assert_int_eq(addr_parse_path(path_cases[_i].in, n, NULL, path_cases[_i].flags, &a,
                                         NULL), 0);
        ck_assert_int_eq(addr_format_path(a, &path), 0);
        ck_assert_int_eq(addr_parse_path(path, strlen(path), NULL,
                                         path_cases[_i].flags & ~NB, &b, NULL), 0);
        ck_assert(addr_equal(a, b));
        ck_assert_int_eq(addr_dup(b, &c), 0);
        ck_assert(addr_equal(a, c));
        ck_assert(c->utf8 == a->utf8);
}
END_TEST

static const struct {
        const char *local;
        const char *delims;
        bool ors;
        int r;
        const char *base;
        const char *ext;
} ext_cases[] = {
        { "user+foo", "+", true, 1, "user", "+foo" },
        { "user+foo+bar", "+", true, 1, "user", "+foo+bar" },
        { "user-foo", "+-", true, 1, "user", "-foo" },
        { "user+foo-bar", "-+", true, 1, "user", "+foo-bar" },
        { "user-foo+bar", "+-", true, 1, "user", "-foo+bar" },
        { "user+", "+", true, 1, "user", "+" },
        { "x.y+z", "+", true, 1, "x.y", "+z" },
        { "+foo", "+", true, 0, "+foo", NULL },
        { "user", "+", true, 0, "user", NULL },
        { "user+foo", "", true, 0, "user+foo", NULL },
        { "user+foo", NULL, true, 0, "user+foo", NULL },
        { "owner-list", "-", true, 0, "owner-list", NULL },
        { "OWNER-list", "-", true, 0, "OWNER-list", NULL },
        { "owner-list", "-", false, 1, "owner", "-list" },
        { "owner-list", "+", true, 0, "owner-list", NULL },
        { "owner-list+foo", "+-", true, 0, "owner-list+foo", NULL },
        { "owner-list+foo", "+", true, 1, "owner-list", "+foo" },
        { "owner+foo", "+-", true, 1, "owner", "+foo" },
        { "list-request", "-", true, 0, "list-request", NULL },
        { "list-REQUEST", "-", true, 0, "list-REQUEST", NULL },
        { "list-request", "-", false, 1, "list", "-request" },
        { "a-request", "-", true, 0, "a-request", NULL },
        { "-request", "-", true, 0, "-request", NULL },
        { "list-request+x", "+-", true, 1, "list", "-request+x" },
        { "", "+", true, 0, "", NULL },
};

START_TEST(test_split_extension)
{
        _cleanup_free_ char *base = NULL, *ext = NULL;
        int r;

        r = addr_split_extension(ext_cases[_i].local, ext_cases[_i].delims, ext_cases[_i].ors,
                                 &base, &ext);
        ck_assert_msg(r == ext_cases[_i].r, "case %d: got %d", _i, r);
        ck_assert_str_eq(base, ext_cases[_i].base);
        if (ext_cases[_i].ext)
                ck_assert_str_eq(ext, ext_cases[_i].ext);
        else
                ck_assert_ptr_null(ext);
}
END_TEST

START_TEST(test_split_extension_null_outputs)
{
        ck_assert_int_eq(addr_split_extension("a+b", "+", true, NULL, NULL), 1);
        ck_assert_int_eq(addr_split_extension("ab", "+", true, NULL, NULL), 0);
}
END_TEST

#define AT ADDR_ROUTING_AT
#define PC ADDR_ROUTING_PERCENT
#define BG ADDR_ROUTING_BANG

static const struct {
        const char *local;
        AddrRouting has;
        AddrRouting which;
        int r;
        const char *user;
        const char *domain;
} route_cases[] = {
        { "plain", ADDR_ROUTING_NONE, AT | PC | BG, 0, NULL, NULL },
        { "user@other", AT, AT, 1, "user", "other" },
        { "a@b@c", AT, AT, 1, "a@b", "c" },
        { "user@other", AT, PC | BG, 0, NULL, NULL },
        { "@other", AT, AT, 0, NULL, NULL },
        { "user@", AT, AT, 0, NULL, NULL },
        { "user%other", PC, PC, 1, "user", "other" },
        { "user%a%b", PC, PC, 1, "user%a", "b" },
        { "user%other", PC, AT | BG, 0, NULL, NULL },
        { "other!user", BG, BG, 1, "user", "other" },
        { "a!b!user", BG, BG, 1, "b!user", "a" },
        { "!user", BG, BG, 0, NULL, NULL },
        { "a!b%c", BG | PC, BG | PC, 1, "b%c", "a" },
        { "a!b%c", BG | PC, PC, 1, "a!b", "c" },
        { "a%b@c", AT | PC, AT | PC | BG, 1, "a%b", "c" },
        { "a%b!c@d", AT | PC | BG, AT | PC | BG, 1, "a%b!c", "d" },
};

START_TEST(test_routing)
{
        _cleanup_free_ char *user = NULL, *domain = NULL;
        int r;

        ck_assert_int_eq(addr_local_routing(route_cases[_i].local), route_cases[_i].has);
        r = addr_local_split_route(route_cases[_i].local, route_cases[_i].which, &user,
                                   &domain);
        ck_assert_msg(r == route_cases[_i].r, "case %d: got %d", _i, r);
        if (r == 0) {
                ck_assert_ptr_null(user);
                ck_assert_ptr_null(domain);
                return;
        }
        ck_assert_str_eq(user, route_cases[_i].user);
        ck_assert_str_eq(domain, route_cases[_i].domain);
}
END_TEST

/* The classic relay tricks, end to end: what a caller sees. */
START_TEST(test_relay_tricks)
{
        _cleanup_(addr_freep) Addr *a = NULL, *b = NULL, *c = NULL, *d = NULL;

        ck_assert_int_eq(parse_str("<user%other.example@ours.example>", NULL, 0), 0);
        ck_assert_int_eq(addr_parse_path("<user%other.example@ours.example>", 33, NULL, 0, &a,
                                         NULL), 0);
        ck_assert_int_eq(addr_local_routing(a->local), PC);
        ck_assert_int_eq(addr_parse_path("<other.example!user@ours.example>", 33, NULL, 0, &b,
                                         NULL), 0);
        ck_assert_int_eq(addr_local_routing(b->local), BG);
        ck_assert_int_eq(addr_parse_path("<\"user@other.example\"@ours.example>", 35, NULL, 0,
                                         &c, NULL), 0);
        ck_assert_int_eq(addr_local_routing(c->local), AT);
        ck_assert_int_eq(addr_parse_path("<@ours.example:user@other.example>", 34, NULL, 0, &d,
                                         NULL), 0);
        ck_assert(d->source_route);
        ck_assert_str_eq(d->domain, "other.example");
}
END_TEST

static const struct {
        const char *d;
        bool valid;
        bool fqdn;
        bool literal;
} domain_cases[] = {
        { "example.com", true, true, false },
        { "EXAMPLE.com", true, true, false },
        { "localhost", true, false, false },
        { "a", true, false, false },
        { "1.2.3.4", true, true, false },
        { "a-b.c-d", true, true, false },
        { "xn--bcher-kva.example", true, true, false },
        { "", false, false, false },
        { ".", false, false, false },
        { "example.com.", false, false, false },
        { ".example.com", false, false, false },
        { "example..com", false, false, false },
        { "-a.com", false, false, false },
        { "a-.com", false, false, false },
        { "a.-b", false, false, false },
        { "a_b.com", false, false, false },
        { "a b.com", false, false, false },
        { "bücher.example", false, false, false },
        { "[192.0.2.1]", false, true, true },
        { "[IPv6:2001:db8::1]", false, true, true },
        { "[IPv6:]", false, false, false },
        { "[]", false, false, false },
        { "[192.0.2.1", false, false, false },
        { "[2001:db8::1]", false, false, false },
        { "[IPv6:1:2:3:4:5:6:7:8:9:10:11:12:13:14:15:16:17:18]", false, false, false },
};

START_TEST(test_domain_predicates)
{
        ck_assert_msg(addr_domain_is_valid(domain_cases[_i].d) == domain_cases[_i].valid,
                      "valid %s", domain_cases[_i].d);
        ck_assert_msg(addr_domain_is_fqdn(domain_cases[_i].d) == domain_cases[_i].fqdn,
                      "fqdn %s", domain_cases[_i].d);
        ck_assert_msg(addr_domain_literal_is_valid(domain_cases[_i].d) ==
                      domain_cases[_i].literal, "literal %s", domain_cases[_i].d);
}
END_TEST

START_TEST(test_domain_lengths)
{
        _cleanup_free_ char *l63 = repeat('x', 63), *l64 = repeat('x', 64);
        char buf[512];

        ck_assert(!addr_domain_is_valid(NULL));
        ck_assert(!addr_domain_is_fqdn(NULL));
        ck_assert(!addr_domain_literal_is_valid(NULL));
        ck_assert(addr_domain_is_valid(l63));
        ck_assert(!addr_domain_is_valid(l64));
        snprintf(buf, sizeof(buf), "%s.%s.%s.%s", l63, l63, l63, l63);
        ck_assert_uint_eq(strlen(buf), 255);
        ck_assert(addr_domain_is_valid(buf));
        snprintf(buf, sizeof(buf), "%s.%s.%s.%s.a", l63, l63, l63, l63);
        ck_assert(!addr_domain_is_valid(buf));
}
END_TEST

static const struct {
        const char *in;
        int r;
        const char *out;
} ascii_cases[] = {
        { "bücher.example", 0, "xn--bcher-kva.example" },
        { "BÜCHER.EXAMPLE", 0, "xn--bcher-kva.example" },
        { "Example.COM", 0, "example.com" },
        { "faß.de", 0, "xn--fa-hia.de" },
        { "münchen.de", 0, "xn--mnchen-3ya.de" },
        { "-ü.de", -EBADMSG, NULL },
        { "a_b.ü", -EBADMSG, NULL },
        { "\xC3\x28.de", -EBADMSG, NULL },
        { "\xED\xA0\x80.de", -EBADMSG, NULL },
        { "example..com", -EBADMSG, NULL },
        { "", -EBADMSG, NULL },
};

START_TEST(test_domain_to_ascii)
{
        _cleanup_free_ char *out = NULL;
        int r;

        r = addr_domain_to_ascii(ascii_cases[_i].in, &out);
        ck_assert_msg(r == ascii_cases[_i].r, "case %d: got %d", _i, r);
        if (r == 0)
                ck_assert_str_eq(out, ascii_cases[_i].out);
        else
                ck_assert_ptr_null(out);
}
END_TEST

static const struct {
        const char *in;
        int r;
        const char *out;
} unicode_cases[] = {
        { "xn--bcher-kva.example", 0, "bücher.example" },
        { "XN--BCHER-KVA.example", 0, "bücher.example" },
        { "www.xn--mnchen-3ya.de", 0, "www.münchen.de" },
        { "Example.COM", 0, "example.com" },
        { "xn--.example", -EBADMSG, NULL },
};

START_TEST(test_domain_to_unicode)
{
        _cleanup_free_ char *out = NULL;
        int r;

        r = addr_domain_to_unicode(unicode_cases[_i].in, &out);
        ck_assert_msg(r == unicode_cases[_i].r, "case %d: got %d", _i, r);
        if (r == 0)
                ck_assert_str_eq(out, unicode_cases[_i].out);
}
END_TEST

START_TEST(test_domain_to_ascii_too_long)
{
        _cleanup_free_ char *out = NULL, *l63 = repeat('x', 63);
        char buf[512];

        snprintf(buf, sizeof(buf), "%s.%s.%s.%s.ü", l63, l63, l63, l63);
        ck_assert_int_eq(addr_domain_to_ascii(buf, &out), -EMSGSIZE);
        snprintf(buf, sizeof(buf), "%s.%s.%s.%s.a", l63, l63, l63, l63);
        ck_assert_int_eq(addr_domain_to_ascii(buf, &out), -EMSGSIZE);
        ck_assert_ptr_null(out);
}
END_TEST

static const struct {
        const char *s;
        bool valid;
} utf8_cases[] = {
        { "plain", true },
        { "\xC3\xBC", true },                   /* ü */
        { "\xE2\x82\xAC", true },               /* € */
        { "\xF0\x9F\x98\x80", true },           /* U+1F600 */
        { "\xF4\x8F\xBF\xBF", true },           /* U+10FFFF */
        { "\xEF\xBF\xBF", true },               /* U+FFFF, a noncharacter but valid */
        { "\xC0\x80", false },                  /* overlong NUL */
        { "\xC1\xBF", false },
        { "\xE0\x9F\xBF", false },              /* overlong */
        { "\xF0\x8F\xBF\xBF", false },          /* overlong */
        { "\xED\xA0\x80", false },              /* U+D800 */
        { "\xED\xBF\xBF", false },              /* U+DFFF */
        { "\xF4\x90\x80\x80", false },          /* U+110000 */
        { "\xF5\x80\x80\x80", false },
        { "\xFE", false },
        { "\x80", false },
        { "\xC3", false },                      /* truncated */
        { "\xE2\x82", false },
        { "\xC3\x28", false },
        { "a\xF0\x9F\x98", false },
};

START_TEST(test_utf8)
{
        ck_assert_msg(addr_utf8_is_valid(utf8_cases[_i].s, strlen(utf8_cases[_i].s)) ==
                      utf8_cases[_i].valid, "case %d", _i);
}
END_TEST

static Suite *addr_suite(void) {
        Suite *s = suite_create("addr");
        TCase *tc;

        tc = tcase_create("parse_path");
        tcase_add_loop_test(tc, test_path_table, 0, ELEMENTSOF(path_cases));
        tcase_add_loop_test(tc, test_path_prefixes, 0, ELEMENTSOF(path_cases));
        tcase_add_loop_test(tc, test_path_used, 0, ELEMENTSOF(used_cases));
        tcase_add_test(tc, test_path_limits);
        tcase_add_test(tc, test_relay_tricks);
        suite_add_tcase(s, tc);

        tc = tcase_create("parse_mailbox");
        tcase_add_loop_test(tc, test_mailbox_table, 0, ELEMENTSOF(mailbox_cases));
        tcase_add_test(tc, test_mailbox_limits);
        suite_add_tcase(s, tc);

        tc = tcase_create("format");
        tcase_add_loop_test(tc, test_format_table, 0, ELEMENTSOF(format_cases));
        tcase_add_test(tc, test_format_null_and_dup);
        tcase_add_loop_test(tc, test_format_round_trip, 0, ELEMENTSOF(path_cases));
        suite_add_tcase(s, tc);

        tc = tcase_create("split_extension");
        tcase_add_loop_test(tc, test_split_extension, 0, ELEMENTSOF(ext_cases));
        tcase_add_test(tc, test_split_extension_null_outputs);
        suite_add_tcase(s, tc);

        tc = tcase_create("routing");
        tcase_add_loop_test(tc, test_routing, 0, ELEMENTSOF(route_cases));
        suite_add_tcase(s, tc);

        tc = tcase_create("domain");
        tcase_add_loop_test(tc, test_domain_predicates, 0, ELEMENTSOF(domain_cases));
        tcase_add_test(tc, test_domain_lengths);
        tcase_add_loop_test(tc, test_domain_to_ascii, 0, ELEMENTSOF(ascii_cases));
        tcase_add_loop_test(tc, test_domain_to_unicode, 0, ELEMENTSOF(unicode_cases));
        tcase_add_test(tc, test_domain_to_ascii_too_long);
        suite_add_tcase(s, tc);

        tc = tcase_create("utf8");
        tcase_add_loop_test(tc, test_utf8, 0, ELEMENTSOF(utf8_cases));
        suite_add_tcase(s, tc);

        return s;
}

TERN_CHECK_MAIN(addr_suite)
