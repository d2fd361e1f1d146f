/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Check suite of rcpt_extract: the recipients of sendmail -t from To/Cc/Bcc or the Resent-
 * set, whole messages (table), pieces split at every position, limits. */
#include <string.h>

#include "check_main.h"
#include "macro.h"
#include "rcpt_extract.h"

static const struct {
        const char *msg;
        const char *expected;           /* recipients joined by '|', "" for none */
} cases[] = {
        { "To: a@x.test\n\nbody\n", "a@x.test" },
        { "To: a@x.test, b@y.test\nCc: c@z.test\nBcc: d@w.test\n\n", "a@x.test|b@y.test|"
          "c@z.test|d@w.test" },
        { "TO: A <a@x.test>\ncc: \"b c\"@y.test (comment)\n\n", "a@x.test|b c@y.test" },
        { "To: group: a@x.test, b@x.test;, c@x.test\n\n", "a@x.test|b@x.test|c@x.test" },
        { "To: a@x.test,\n b@x.test,\n\tc@x.test\n\n", "a@x.test|b@x.test|c@x.test" },
        { "To: a@x.test\nTo: a@x.test\nCc: a@x.test\n\n", "a@x.test" },
        { "From: f@x.test\nReply-To: r@x.test\nSubject: To: s@x.test\n\n", "" },
        { "To: a@x.test\nResent-To: r@x.test\nResent-Cc: s@x.test\n\n", "r@x.test|s@x.test" },
        { "To: a@x.test\nResent-From: f@x.test\n\n", "" },
        { "To: a@x.test\r\nCc: b@x.test\r\n\r\nTo: body@x.test\r\n", "a@x.test|b@x.test" },
        { "To: a@x.test\nnot a header line\nCc: b@x.test\n\n", "a@x.test" },
        { "To: localuser\n\n", "localuser" },
        { "To: undisclosed-recipients:;\n\n", "" },
        { "Subject: no recipients\n\nTo: a@x.test\n", "" },
        { "", "" },
        { "To: <a@x.test\n\n", "" },
        { "To: a@x.test", "a@x.test" },
};

static char *join(char **v) {
        size_t n = 1;
        char *s;

        for (char **p = v; *p; p++)
                n += strlen(*p) + 1;
        s = calloc(1, n);
        ck_assert_ptr_nonnull(s);
        for (char **p = v; *p; p++) {
                if (p != v)
                        strcat(s, "|");
                strcat(s, *p);
        }
        return s;
}

START_TEST(test_message_table)
{
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_strv_free_ char **v = NULL;
                _cleanup_free_ char *got = NULL;
                int r = rcpt_extract_message(cases[i].msg, strlen(cases[i].msg), 0, 0, &v);

                ck_assert_int_ge(r, 0);
                got = join(v);
                ck_assert_msg(streq(got, cases[i].expected), "case %zu: got '%s', want '%s'",
                              i, got, cases[i].expected);
        }
}
END_TEST

/* Feeding the header lines of the table in two pieces split at every position gives the same
 * result as whole lines. */
START_TEST(test_feed_split)
{
        static const char *const lines[] = { "To: Alice <a@x.test>,", "  \"b c\"@y.test",
                                             "Cc: c@z.test", "Bcc: g: d@w.test;" };
        const char *want = "a@x.test|b c@y.test|c@z.test|d@w.test";

        for (size_t li = 0; li < ELEMENTSOF(lines); li++)
                for (size_t split = 0; split <= strlen(lines[li]); split++) {
                        _cleanup_(rcpt_extract_freep) RcptExtract *x = NULL;
                        _cleanup_free_ char *got = NULL;
                        char **copy;
                        char *const *v;
                        size_t n;

                        ck_assert_int_eq(rcpt_extract_new(0, 0, &x), 0);
                        for (size_t k = 0; k < ELEMENTSOF(lines); k++) {
                                if (k != li) {
                                        ck_assert_int_eq(rcpt_extract_feed(x, lines[k],
                                                                           strlen(lines[k]),
                                                                           false), 0);
                                        continue;
                                }
                                ck_assert_int_eq(rcpt_extract_feed(x, lines[k], split, true),
                                                 0);
                                ck_assert_int_eq(rcpt_extract_feed(x, lines[k] + split,
                                                                   strlen(lines[k]) - split,
                                                                   false), 0);
                        }
                        ck_assert_int_eq(rcpt_extract_finish(x), 0);
                        ck_assert_int_eq(rcpt_extract_finish(x), 0);
                        v = rcpt_extract_get(x, &n);
                        ck_assert_uint_eq(n, 4);
                        copy = (char **) v;
                        got = join(copy);
                        ck_assert_str_eq(got, want);
                        /* nothing is taken after finish */
                        ck_assert_int_eq(rcpt_extract_feed(x, "To: z@z.test", 12, false), 0);
                        ck_assert_uint_eq((rcpt_extract_get(x, &n), n), 4);
                }
}
END_TEST

START_TEST(test_limits)
{
        _cleanup_strv_free_ char **v = NULL;
        _cleanup_(rcpt_extract_freep) RcptExtract *x = NULL;
        const char *many = "To: a@x.test, b@x.test, c@x.test\n\n";
        const char *longh = "To: a@x.test, bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb@x.test\n\n";
        size_t n;

        /* -E2BIG past rcpt_max, sticky */
        ck_assert_int_eq(rcpt_extract_message(many, strlen(many), 0, 2, &v), -E2BIG);
        ck_assert_int_eq(rcpt_extract_new(0, 1, &x), 0);
        ck_assert_int_eq(rcpt_extract_feed(x, "To: a@x.test, b@x.test", 22, false), 0);
        ck_assert_int_eq(rcpt_extract_finish(x), -E2BIG);
        ck_assert_int_eq(rcpt_extract_feed(x, "Cc: c@x.test", 12, false), -E2BIG);
        x = rcpt_extract_free(x);

        /* a header past header_max is cut there, as cleanup cuts it */
        ck_assert_int_eq(rcpt_extract_message(longh, strlen(longh), 20, 0, &v), 2);
        ck_assert_str_eq(v[0], "a@x.test");
        ck_assert_str_eq(v[1], "bbbbbb");
        strv_free(TAKE_PTR(v));

        ck_assert_int_eq(rcpt_extract_new(0, 0, &x), 0);
        ck_assert_int_eq(rcpt_extract_finish(x), 0);
        ck_assert_ptr_null(rcpt_extract_get(x, &n)[0]);
        ck_assert_uint_eq(n, 0);
        ck_assert_ptr_null(rcpt_extract_free(NULL));
}
END_TEST

static Suite *rcpt_extract_suite(void) {
        Suite *s = suite_create("rcpt_extract");
        TCase *tc;

        tc = tcase_create("message");
        tcase_add_test(tc, test_message_table);
        suite_add_tcase(s, tc);
        tc = tcase_create("feed");
        tcase_add_test(tc, test_feed_split);
        tcase_add_test(tc, test_limits);
        suite_add_tcase(s, tc);
        return s;
}

TERN_CHECK_MAIN(rcpt_extract_suite)
