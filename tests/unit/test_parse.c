/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Unit tests of parse: integers, Postfix sizes, times with units, booleans. */
#include "check_main.h"
#include "parse.h"

static const struct {
        const char *s;
        int r;
        uint64_t v;
} uint_cases[] = {
        { "0", 0, 0 },
        { "42", 0, 42 },
        { "18446744073709551615", 0, UINT64_MAX },
        { "18446744073709551616", -ERANGE, 0 },
        { "99999999999999999999999", -ERANGE, 0 },
        { "", -EBADMSG, 0 },
        { "-1", -EBADMSG, 0 },
        { "+1", -EBADMSG, 0 },
        { " 1", -EBADMSG, 0 },
        { "1 ", -EBADMSG, 0 },
        { "1k", -EBADMSG, 0 },
        { "0x10", -EBADMSG, 0 },
};

START_TEST(test_uint64)
{
        uint64_t v = 12345;

        ck_assert_int_eq(parse_uint64(uint_cases[_i].s, &v), uint_cases[_i].r);
        if (uint_cases[_i].r == 0)
                ck_assert_uint_eq(v, uint_cases[_i].v);
        else
                ck_assert_uint_eq(v, 12345);    /* untouched on failure */
}
END_TEST

START_TEST(test_int64)
{
        int64_t v;

        ck_assert_int_eq(parse_int64("-5", &v), 0);
        ck_assert_int_eq(v, -5);
        ck_assert_int_eq(parse_int64("9223372036854775807", &v), 0);
        ck_assert_int_eq(v, INT64_MAX);
        ck_assert_int_eq(parse_int64("-9223372036854775808", &v), 0);
        ck_assert(v == INT64_MIN);
        ck_assert_int_eq(parse_int64("9223372036854775808", &v), -ERANGE);
        ck_assert_int_eq(parse_int64("-9223372036854775809", &v), -ERANGE);
        ck_assert_int_eq(parse_int64("-", &v), -EBADMSG);
        ck_assert_int_eq(parse_int64("--1", &v), -EBADMSG);
}
END_TEST

START_TEST(test_size)
{
        uint64_t v;

        ck_assert_int_eq(parse_size("10240000", &v), 0);
        ck_assert_uint_eq(v, 10240000);
        /* postconf rejects unit suffixes on size parameters. */
        ck_assert_int_eq(parse_size("10M", &v), -EBADMSG);
        ck_assert_int_eq(parse_size("10k", &v), -EBADMSG);
}
END_TEST

static const struct {
        const char *s;
        char unit;
        int r;
        uint64_t v;
} time_cases[] = {
        { "300", 's', 0, 300 },
        { "300s", 'd', 0, 300 },
        { "5m", 's', 0, 300 },
        { "5M", 's', 0, 300 },
        { "2h", 's', 0, 7200 },
        { "5d", 's', 0, 432000 },
        { "1w", 's', 0, 604800 },
        { "5", 'd', 0, 432000 },
        { "0", 's', 0, 0 },
        { "3600s", 's', 0, 3600 },
        { "5y", 's', -EBADMSG, 0 },
        { "s", 's', -EBADMSG, 0 },
        { "", 's', -EBADMSG, 0 },
        { "1.5h", 's', -EBADMSG, 0 },
        { "-1s", 's', -EBADMSG, 0 },
        { "5", 'q', -EBADMSG, 0 },
        { "99999999999999999999w", 's', -ERANGE, 0 },
        { "9999999999999999999w", 's', -ERANGE, 0 },
};

START_TEST(test_time)
{
        uint64_t v;

        ck_assert_int_eq(parse_time(time_cases[_i].s, time_cases[_i].unit, &v), time_cases[_i].r);
        if (time_cases[_i].r == 0)
                ck_assert_uint_eq(v, time_cases[_i].v);
}
END_TEST

START_TEST(test_bool)
{
        bool b;

        ck_assert_int_eq(parse_bool("yes", &b), 0);
        ck_assert(b);
        ck_assert_int_eq(parse_bool("NO", &b), 0);
        ck_assert(!b);
        ck_assert_int_eq(parse_bool("Yes", &b), 0);
        ck_assert(b);
        ck_assert_int_eq(parse_bool("affirmative", &b), -EBADMSG);
        ck_assert_int_eq(parse_bool("true", &b), -EBADMSG);
        ck_assert_int_eq(parse_bool("", &b), -EBADMSG);
        ck_assert_int_eq(parse_bool("yes ", &b), -EBADMSG);
}
END_TEST

static Suite *parse_suite(void) {
        Suite *s = suite_create("parse");
        TCase *tc;

        tc = tcase_create("integers");
        tcase_add_loop_test(tc, test_uint64, 0, ELEMENTSOF(uint_cases));
        tcase_add_test(tc, test_int64);
        tcase_add_test(tc, test_size);
        suite_add_tcase(s, tc);

        tc = tcase_create("time");
        tcase_add_loop_test(tc, test_time, 0, ELEMENTSOF(time_cases));
        suite_add_tcase(s, tc);

        tc = tcase_create("bool");
        tcase_add_test(tc, test_bool);
        suite_add_tcase(s, tc);
        return s;
}

TERN_CHECK_MAIN(parse_suite)
