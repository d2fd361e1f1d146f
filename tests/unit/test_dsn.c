/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <errno.h>
#include <sysexits.h>

#include "check_main.h"
#include "dsn.h"

static const struct {
        int error;
        unsigned code;
        const char *enhanced;
        const char *text;
} map_cases[] = {
        { -ENOSPC, 452, "4.3.1", "Insufficient system storage" },
        { -EDQUOT, 452, "4.3.1", "Insufficient system storage" },
        { ENOSPC, 452, "4.3.1", "Insufficient system storage" },
        { -EMSGSIZE, 552, "5.3.4", "Message size exceeds fixed limit" },
        { -ELOOP, 554, "5.4.0", "Error: too many hops" },
        { -EBADMSG, 550, "5.5.2", "Error: bare <LF> received" },
        { -E2BIG, 452, "4.5.3", "Error: too many recipients" },
        { -ENOMEM, 451, "4.3.0", "Error: insufficient memory" },
        { -EIO, 451, "4.3.0", "Error: queue file write error" },
        { 0, 451, "4.3.0", "Error: queue file write error" },
};

START_TEST(test_dsn_from_errno)
{
        const DsnReply *d = dsn_from_errno(map_cases[_i].error);

        ck_assert_uint_eq(d->code, map_cases[_i].code);
        ck_assert_str_eq(d->enhanced, map_cases[_i].enhanced);
        ck_assert_str_eq(d->text, map_cases[_i].text);
        ck_assert(dsn_status_is_valid(d->enhanced));
        ck_assert_uint_eq(d->code / 100, (unsigned) (d->enhanced[0] - '0'));
}
END_TEST

static const struct {
        const char *s;
        bool valid;
} status_cases[] = {
        { "2.0.0", true },   { "4.3.1", true },   { "5.7.1", true },    { "5.999.999", true },
        { "5.10.0", true },  { "3.0.0", false },  { "1.0.0", false },   { "5.0", false },
        { "5.01.0", false }, { "5.1000.0", false }, { "5..0", false },  { "", false },
        { "5.1.1 ", false }, { "52.1.1", false }, { "5.1.x", false },
};

START_TEST(test_dsn_status_is_valid)
{
        ck_assert_int_eq(dsn_status_is_valid(status_cases[_i].s), status_cases[_i].valid);
}
END_TEST

START_TEST(test_dsn_status_null)
{
        ck_assert(!dsn_status_is_valid(NULL));
}
END_TEST

static const struct {
        int code;
        const char *enhanced;   /* NULL: not a sysexits.h status */
        const char *text;
} sysexit_cases[] = {
        { EX_NOUSER, "5.1.1", "user unknown" },
        { EX_TEMPFAIL, "4.3.0", "temporary failure" },
        { EX_OSERR, "4.3.0", "system resource problem" },
        { EX_CONFIG, "5.3.5", "local configuration error" },
        { EX_USAGE, "5.3.0", "command line usage error" },
        { EX_NOPERM, "5.7.0", "permission denied" },
        { 0, NULL, NULL },
        { 1, NULL, NULL },
        { 63, NULL, NULL },
        { 79, NULL, NULL },
        { -1, NULL, NULL },
};

START_TEST(test_dsn_from_sysexit) {
        const DsnSysexit *x = dsn_from_sysexit(sysexit_cases[_i].code);

        if (!sysexit_cases[_i].enhanced) {
                ck_assert_ptr_null(x);
                return;
        }
        ck_assert_ptr_nonnull(x);
        ck_assert_int_eq(x->code, sysexit_cases[_i].code);
        ck_assert_str_eq(x->enhanced, sysexit_cases[_i].enhanced);
        ck_assert_str_eq(x->text, sysexit_cases[_i].text);
}
END_TEST

START_TEST(test_dsn_from_sysexit_all) {
        /* Every status sysexits.h names has an entry with a valid code, class 4 or 5. */
        for (int c = EX__BASE; c <= EX__MAX; c++) {
                const DsnSysexit *x = dsn_from_sysexit(c);

                ck_assert_ptr_nonnull(x);
                ck_assert(dsn_status_is_valid(x->enhanced));
                ck_assert(x->enhanced[0] == '4' || x->enhanced[0] == '5');
        }
}
END_TEST

static Suite *dsn_suite(void) {
        Suite *s = suite_create("dsn");
        TCase *tc;

        tc = tcase_create("from_errno");
        tcase_add_loop_test(tc, test_dsn_from_errno, 0, ELEMENTSOF(map_cases));
        suite_add_tcase(s, tc);
        tc = tcase_create("status");
        tcase_add_loop_test(tc, test_dsn_status_is_valid, 0, ELEMENTSOF(status_cases));
        tcase_add_test(tc, test_dsn_status_null);
        suite_add_tcase(s, tc);
        tc = tcase_create("from_sysexit");
        tcase_add_loop_test(tc, test_dsn_from_sysexit, 0, ELEMENTSOF(sysexit_cases));
        tcase_add_test(tc, test_dsn_from_sysexit_all);
        suite_add_tcase(s, tc);
        return s;
}

TERN_CHECK_MAIN(dsn_suite)
