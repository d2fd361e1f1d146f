/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Unit tests of match: domain lists (exact, .subdomain, parent matching, negation, files,
 * tables) and address lists (IPv4/IPv6 networks, brackets, host bits, negation, tables). */
#include <arpa/inet.h>
#include <fcntl.h>

#include "check_main.h"
#include "match.h"

static const struct {
        const char *list;
        MatchFlags flags;
        const char *domain;
        int expected;
} domain_cases[] = {
        { "example.com", 0, "example.com", 1 },
        { "example.com", 0, "EXAMPLE.Com", 1 },
        { "example.com", 0, "sub.example.com", 0 },
        { "example.com", MATCH_PARENT_SUBDOMAINS, "sub.example.com", 1 },
        { "example.com", MATCH_PARENT_SUBDOMAINS, "badexample.com", 0 },
        { ".example.com", 0, "sub.example.com", 1 },
        { ".example.com", 0, "example.com", 0 },
        { "a.test, b.test c.test", 0, "c.test", 1 },
        { "a.test,,b.test", 0, "b.test", 1 },
        { "!bad.example.com, .example.com", 0, "bad.example.com", 0 },
        { "!bad.example.com, .example.com", 0, "good.example.com", 1 },
        { "!!x.test", 0, "x.test", 1 },
        { "", 0, "example.com", 0 },
        { "mail.tern.test, localhost.tern.test, localhost", 0, "localhost", 1 },
        { "inline:{ listed.test=yes }", 0, "listed.test", 1 },
        { "inline:{ listed.test=yes }", 0, "other.test", 0 },
        { "!inline:{ listed.test=yes }, .test", 0, "listed.test", 0 },
};

START_TEST(test_domain_lists)
{
        _cleanup_(match_list_freep) MatchList *m = NULL;
        _cleanup_free_ char *error = NULL;

        ck_assert_int_eq(match_list_new(domain_cases[_i].list, MATCH_DOMAIN,
                                        domain_cases[_i].flags, &m, &error), 0);
        ck_assert_int_eq(match_list_domain(m, domain_cases[_i].domain), domain_cases[_i].expected);
}
END_TEST

static const struct {
        const char *list;
        const char *ip;
        int expected;
} address_cases[] = {
        { "127.0.0.0/8", "127.0.0.1", 1 },
        { "127.0.0.0/8", "127.255.255.255", 1 },
        { "127.0.0.0/8", "128.0.0.1", 0 },
        { "127.0.0.1/32", "127.0.0.2", 0 },
        { "127.0.0.1", "127.0.0.1", 1 },
        { "192.168.0.0/24, 127.0.0.0/8", "192.168.0.77", 1 },
        { "192.168.0.0/23", "192.168.1.5", 1 },
        { "192.168.0.0/23", "192.168.2.5", 0 },
        { "0.0.0.0/0", "203.0.113.9", 1 },
        { "[::1]/128", "::1", 1 },
        { "[::1]/128", "::2", 0 },
        { "[::1]", "::1", 1 },
        { "2001:db8::/32", "2001:db8:1::5", 1 },
        { "[2001:db8::]/32", "2001:db9::5", 0 },
        { "127.0.0.0/8", "::1", 0 },
        { "[::1]/128", "127.0.0.1", 0 },
        { "!127.0.0.2, 127.0.0.0/8", "127.0.0.2", 0 },
        { "!127.0.0.2, 127.0.0.0/8", "127.0.0.3", 1 },
        { "127.0.0.0/8", "not-an-address", 0 },
        { "cidr:/nonexistent-is-not-used-here 127.0.0.1", "127.0.0.1", -1 },
        { "inline:{ 10.1.2.3=OK }", "10.1.2.3", 1 },
        { "inline:{ 10.1.2=OK }", "10.1.2.3", 1 },
        { "inline:{ 10.1.2=OK }", "10.1.3.3", 0 },
};

START_TEST(test_address_lists)
{
        _cleanup_(match_list_freep) MatchList *m = NULL;
        _cleanup_free_ char *error = NULL;
        int r;

        r = match_list_new(address_cases[_i].list, MATCH_ADDRESS, 0, &m, &error);
        if (address_cases[_i].expected < 0) {
                ck_assert_int_lt(r, 0);
                ck_assert_ptr_nonnull(error);
                return;
        }
        ck_assert_int_eq(r, 0);
        ck_assert_int_eq(match_list_address(m, address_cases[_i].ip), address_cases[_i].expected);
}
END_TEST

static const char *const bad_networks[] = {
        "127.0.0.1/8",          /* host bits set */
        "127.0.0.0/33",
        "127.0.0.0/",
        "127.0.0.0/x",
        "[127.0.0.1]",          /* brackets are for IPv6 */
        "[::1]/129",
        "1.2.3",
        "::1::2",
        "2001:db8::1/32",
        "[]",
};

START_TEST(test_bad_networks)
{
        _cleanup_(match_list_freep) MatchList *m = NULL;
        _cleanup_free_ char *error = NULL;

        ck_assert_int_eq(match_list_new(bad_networks[_i], MATCH_ADDRESS, 0, &m, &error), -EBADMSG);
        ck_assert_ptr_nonnull(error);
        ck_assert_ptr_nonnull(strstr(error, bad_networks[_i]));
}
END_TEST

START_TEST(test_pattern_file)
{
        _cleanup_(match_list_freep) MatchList *m = NULL;
        _cleanup_free_ char *error = NULL, *path = NULL, *spec = NULL;
        int fd;

        ck_assert_int_ge(asprintf(&path, "%s/test-match-XXXXXX", getenv("TMPDIR") ?: "/tmp"), 0);
        fd = mkstemp(path);
        ck_assert_int_ge(fd, 0);
        dprintf(fd, "# networks we trust\n10.0.0.0/8 192.168.1.0/24\n\n[::1] # loopback\n");
        close(fd);

        ck_assert_int_ge(asprintf(&spec, "127.0.0.1, %s", path), 0);
        ck_assert_int_eq(match_list_new(spec, MATCH_ADDRESS, 0, &m, &error), 0);
        ck_assert_int_eq(match_list_address(m, "10.9.8.7"), 1);
        ck_assert_int_eq(match_list_address(m, "192.168.1.200"), 1);
        ck_assert_int_eq(match_list_address(m, "::1"), 1);
        ck_assert_int_eq(match_list_address(m, "192.168.2.1"), 0);
        m = match_list_free(m);

        ck_assert_int_eq(match_list_new("/nonexistent/networks", MATCH_ADDRESS, 0, &m, &error),
                         -ENOENT);
        ck_assert_ptr_nonnull(strstr(error, "/nonexistent/networks"));
        (void) unlink(path);
}
END_TEST

START_TEST(test_parse_network)
{
        unsigned char a[16];
        unsigned prefix;
        int family;

        ck_assert_int_eq(match_parse_network("192.0.2.0/24", &family, a, &prefix), 0);
        ck_assert_int_eq(family, AF_INET);
        ck_assert_uint_eq(prefix, 24);
        ck_assert_int_eq(a[0], 192);
        ck_assert_int_eq(match_parse_network("[2001:db8::]/48", &family, a, &prefix), 0);
        ck_assert_int_eq(family, AF_INET6);
        ck_assert_uint_eq(prefix, 48);
        ck_assert_int_eq(match_parse_network("::1", &family, a, &prefix), 0);
        ck_assert_uint_eq(prefix, 128);
}
END_TEST

static Suite *match_suite(void) {
        Suite *s = suite_create("match");
        TCase *tc;

        tc = tcase_create("domain");
        tcase_add_loop_test(tc, test_domain_lists, 0, ELEMENTSOF(domain_cases));
        suite_add_tcase(s, tc);

        tc = tcase_create("address");
        tcase_add_loop_test(tc, test_address_lists, 0, ELEMENTSOF(address_cases));
        tcase_add_loop_test(tc, test_bad_networks, 0, ELEMENTSOF(bad_networks));
        tcase_add_test(tc, test_pattern_file);
        tcase_add_test(tc, test_parse_network);
        suite_add_tcase(s, tc);
        return s;
}

TERN_CHECK_MAIN(match_suite)
