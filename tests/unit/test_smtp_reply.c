/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Unit tests of the smtp agent's reply parser (services/smtp/smtp_reply.c): tables of replies
 * as CRLF-separated lines, valid and invalid, reaching every error code; the same input taken
 * apart by buf_getline() from a Buf fed byte by byte and split at every position; dsn and
 * format helpers; EHLO keyword parsing. */
#include <errno.h>

#include "buf.h"
#include "check_main.h"
#include "smtp_reply.h"

typedef struct Case {
        const char *input;              /* lines separated by CRLF, the last one too */
        int expected;                   /* 1 a reply, or the error of the failing line */
        unsigned code;
        const char *dsn;
        const char *text;
        size_t n_lines;
} Case;

static const Case cases[] = {
        { "250 ok\r\n", 1, 250, "", "ok", 1 },
        { "250\r\n", 1, 250, "", "", 1 },
        { "250 \r\n", 1, 250, "", "", 1 },
        { "550 5.1.1 <x@y>: unknown\r\n", 1, 550, "5.1.1", "<x@y>: unknown", 1 },
        { "250-mx.example\r\n250-PIPELINING\r\n250 SIZE 100\r\n", 1, 250, "",
          "mx.example\nPIPELINING\nSIZE 100", 3 },
        { "451-4.3.0 first\r\n451 4.3.0 second\r\n", 1, 451, "4.3.0", "first\nsecond", 2 },
        /* An enhanced code of another class is text, not the dsn. */
        { "450 5.1.1 odd\r\n", 1, 450, "", "5.1.1 odd", 1 },
        { "250 2.0.0\r\n", 1, 250, "2.0.0", "", 1 },
        { "250 2.1234.0 x\r\n", 1, 250, "", "2.1234.0 x", 1 },
        { "354 go ahead\r\n", 1, 354, "", "go ahead", 1 },
        { "199 no\r\n", -EBADMSG },
        { "600 no\r\n", -EBADMSG },
        { "25 short\r\n", -EBADMSG },
        { "25x bad\r\n", -EBADMSG },
        { "250_bad\r\n", -EBADMSG },
        { "250-a\r\n251 b\r\n", -EBADMSG },
        { "\r\n", -EBADMSG },
        { "250 a\nb\r\n", -EBADMSG },             /* bare LF: buf_getline() */
};

/* Feeds input as lines from a Buf filled in pieces of at most step bytes (0: whole). Returns
 * 1 with *ret, or the first error. */
static int run(const char *input, size_t step, SmtpReply **ret) {
        _cleanup_(buf_done) Buf b = BUF_INIT(SMTP_REPLY_LINE_MAX * 2);
        SmtpReplyParser p = SMTP_REPLY_PARSER_INIT;
        size_t n = strlen(input), off = 0;
        int r = 0;

        while (off < n) {
                size_t k = step == 0 ? n - off : MIN(step, n - off);
                char *line;
                size_t len;

                ck_assert_int_eq(buf_append(&b, input + off, k), 0);
                off += k;
                for (;;) {
                        r = buf_getline(&b, SMTP_REPLY_LINE_MAX, &line, &len);
                        if (r <= 0)
                                break;
                        r = smtp_reply_feed_line(&p, line, len, ret);
                        if (r != 0)
                                goto done;
                }
                if (r < 0)
                        goto done;
        }
        r = 0;
done:
        smtp_reply_parser_done(&p);
        return r;
}

static void check_case(const Case *c, size_t step) {
        _cleanup_(smtp_reply_freep) SmtpReply *rep = NULL;
        int r = run(c->input, step, &rep);

        ck_assert_msg(r == c->expected, "%s (step %zu): got %d, want %d", c->input, step, r,
                      c->expected);
        if (r != 1)
                return;
        ck_assert_uint_eq(rep->code, c->code);
        ck_assert_str_eq(rep->dsn, c->dsn);
        ck_assert_str_eq(rep->text, c->text);
        ck_assert_uint_eq(rep->n_lines, c->n_lines);
}

START_TEST(test_table)
{
        for (size_t i = 0; i < ELEMENTSOF(cases); i++)
                check_case(&cases[i], 0);
}
END_TEST

START_TEST(test_byte_by_byte_and_splits)
{
        for (size_t i = 0; i < ELEMENTSOF(cases); i++)
                for (size_t step = 1; step <= strlen(cases[i].input); step++)
                        check_case(&cases[i], step);
}
END_TEST

START_TEST(test_limits)
{
        SmtpReplyParser p = SMTP_REPLY_PARSER_INIT;
        SmtpReply *rep = NULL;
        char big[SMTP_REPLY_LINE_MAX + 2];

        for (size_t i = 0; i < SMTP_REPLY_LINES_MAX; i++)
                ck_assert_int_eq(smtp_reply_feed_line(&p, "250-x", 5, &rep), 0);
        ck_assert_int_eq(smtp_reply_feed_line(&p, "250-x", 5, &rep), -E2BIG);
        ck_assert_ptr_null(p.partial);

        memset(big, 'a', sizeof big);
        memcpy(big, "250-", 4);
        ck_assert_int_eq(smtp_reply_feed_line(&p, big, sizeof big, &rep), -EMSGSIZE);
        for (size_t i = 0; i < SMTP_REPLY_TEXT_MAX / (SMTP_REPLY_LINE_MAX - 4) + 2; i++) {
                int r = smtp_reply_feed_line(&p, big, SMTP_REPLY_LINE_MAX, &rep);

                if (r < 0) {
                        ck_assert_int_eq(r, -EMSGSIZE);
                        break;
                }
                ck_assert_int_eq(r, 0);
        }
        ck_assert_ptr_null(p.partial);
        ck_assert_int_eq(smtp_reply_feed_line(&p, "250 a\0b", 7, &rep), -EBADMSG);
        smtp_reply_parser_done(&p);
}
END_TEST

START_TEST(test_dsn_and_format)
{
        _cleanup_(smtp_reply_freep) SmtpReply *a = NULL, *b = NULL;
        char dsn[SMTP_REPLY_DSN_MAX + 1], out[64];

        ck_assert_int_eq(run("550-5.7.1 no\r\n550 5.7.1 \x01more\r\n", 0, &a), 1);
        smtp_reply_dsn(a, dsn);
        ck_assert_str_eq(dsn, "5.7.1");
        ck_assert_str_eq(smtp_reply_format(a, out, sizeof out), "550 5.7.1 no ?more");
        ck_assert_str_eq(smtp_reply_format(a, out, 8), "550 5.7");
        ck_assert_int_eq(run("421 bye\r\n", 0, &b), 1);
        smtp_reply_dsn(b, dsn);
        ck_assert_str_eq(dsn, "4.0.0");
        ck_assert_str_eq(smtp_reply_format(b, out, sizeof out), "421 bye");
}
END_TEST

START_TEST(test_ehlo)
{
        static const struct {
                const char *input;
                int expected;
                unsigned caps;
                uint64_t size_max;
        } t[] = {
                { "250-mx\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-8BITMIME\r\n"
                  "250-DSN\r\n250-SMTPUTF8\r\n250-STARTTLS\r\n250 ENHANCEDSTATUSCODES\r\n", 0,
                  SMTP_CAP_PIPELINING | SMTP_CAP_SIZE | SMTP_CAP_8BITMIME | SMTP_CAP_DSN |
                  SMTP_CAP_SMTPUTF8 | SMTP_CAP_STARTTLS | SMTP_CAP_ENHANCEDSTATUSCODES,
                  10240000 },
                { "250-mx PIPELINING\r\n250 size\r\n", 0, SMTP_CAP_SIZE, 0 },
                { "250-mx\r\n250-pipelining\r\n250 SIZE x12\r\n", 0,
                  SMTP_CAP_PIPELINING | SMTP_CAP_SIZE, 0 },
                { "250-mx\r\n250-PIPELININGX\r\n250 XFORWARD NAME\r\n", 0, 0, 0 },
                { "250 mx\r\n", 0, 0, 0 },
                { "550 no\r\n", -EINVAL, 0, 0 },
        };

        for (size_t i = 0; i < ELEMENTSOF(t); i++) {
                _cleanup_(smtp_reply_freep) SmtpReply *rep = NULL;
                SmtpCaps caps = {};

                ck_assert_int_eq(run(t[i].input, 0, &rep), 1);
                ck_assert_int_eq(smtp_ehlo_parse(rep, &caps), t[i].expected);
                ck_assert_uint_eq(caps.caps, t[i].caps);
                ck_assert_uint_eq(caps.size_max, t[i].size_max);
        }
}
END_TEST

static Suite *smtp_reply_suite(void) {
        Suite *s = suite_create("smtp_reply");
        TCase *tc;

        tc = tcase_create("feed");
        tcase_add_test(tc, test_table);
        tcase_add_test(tc, test_byte_by_byte_and_splits);
        tcase_add_test(tc, test_limits);
        suite_add_tcase(s, tc);
        tc = tcase_create("dsn_format");
        tcase_add_test(tc, test_dsn_and_format);
        suite_add_tcase(s, tc);
        tc = tcase_create("ehlo");
        tcase_add_test(tc, test_ehlo);
        suite_add_tcase(s, tc);
        return s;
}

TERN_CHECK_MAIN(smtp_reply_suite)
