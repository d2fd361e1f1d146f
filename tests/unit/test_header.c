/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Unit tests of header: header field starts, header name classes, and the address-list
 * rewriter on every RFC 5322 address form (bare addr-spec, name-addr, groups, obsolete routes,
 * comments, quoted strings, domain literals, folding), on malformed input (kept unchanged), at
 * the token limit, with failing callbacks and a full output buffer. */
#include <check.h>

#include "check_main.h"
#include "header.h"

/* ---- header_is_field_start() ---- */

static const struct {
        const char *line;
        bool ok;
        size_t name_len, value_offset;
} field_cases[] = {
        { "From: a@b", true, 4, 5 },
        { "From:", true, 4, 5 },
        { "From :x", true, 4, 6 },
        { "From \t : x", true, 4, 8 },
        { "X-Weird!#$%&'*+-/=?^_`{|}~: v", true, 26, 27 },
        { "a:", true, 1, 2 },
        { "From", false, 0, 0 },
        { ":value", false, 0, 0 },
        { " From: x", false, 0, 0 },
        { "\tcontinued", false, 0, 0 },
        { "Fr om: x", false, 0, 0 },
        { "Caf\xc3\xa9: x", false, 0, 0 },
        { "Nul\x01: x", false, 0, 0 },
        { "Del\x7f: x", false, 0, 0 },
        { "", false, 0, 0 },
        { "From a@b Mon Jan  1 00:00:00 2024", false, 0, 0 },
};

START_TEST(test_field_start)
{
        size_t name_len = 99, value_offset = 99;
        const char *line = field_cases[_i].line;
        bool ok = header_is_field_start(line, strlen(line), &name_len, &value_offset);

        ck_assert_msg(ok == field_cases[_i].ok, "%s", line);
        if (ok) {
                ck_assert_uint_eq(name_len, field_cases[_i].name_len);
                ck_assert_uint_eq(value_offset, field_cases[_i].value_offset);
        } else {
                ck_assert_uint_eq(name_len, 99);        /* untouched on failure */
                ck_assert_uint_eq(value_offset, 99);
        }
        /* The output parameters are optional. */
        ck_assert(header_is_field_start(line, strlen(line), NULL, NULL) == ok);
}
END_TEST

START_TEST(test_field_start_bounded)
{
        /* The colon lies past n: not a header. */
        ck_assert(!header_is_field_start("From: x", 4, NULL, NULL));
        ck_assert(header_is_field_start("From: x", 5, NULL, NULL));
        ck_assert(!header_is_field_start(NULL, 0, NULL, NULL));
}
END_TEST

/* ---- header types ---- */

static const struct {
        const char *name;
        HeaderType type;
        unsigned flags;
} type_cases[] = {
        { "From", HEADER_FROM, HEADER_FLAG_SENDER },
        { "fRoM", HEADER_FROM, HEADER_FLAG_SENDER },
        { "to", HEADER_TO, HEADER_FLAG_RECIPIENT },
        { "CC", HEADER_CC, HEADER_FLAG_RECIPIENT },
        { "bcc", HEADER_BCC, HEADER_FLAG_RECIPIENT },
        { "Sender", HEADER_SENDER, HEADER_FLAG_SENDER },
        { "reply-to", HEADER_REPLY_TO, HEADER_FLAG_SENDER },
        { "Errors-To", HEADER_ERRORS_TO, HEADER_FLAG_SENDER },
        { "Return-Receipt-To", HEADER_RETURN_RECEIPT_TO, HEADER_FLAG_SENDER },
        { "Return-Path", HEADER_RETURN_PATH, HEADER_FLAG_SENDER },
        { "Resent-From", HEADER_RESENT_FROM, HEADER_FLAG_SENDER | HEADER_FLAG_RESENT },
        { "RESENT-TO", HEADER_RESENT_TO, HEADER_FLAG_RECIPIENT | HEADER_FLAG_RESENT },
        { "Resent-Message-ID", HEADER_RESENT_MESSAGE_ID, HEADER_FLAG_RESENT },
        { "Message-ID", HEADER_MESSAGE_ID, 0 },
        { "received", HEADER_RECEIVED, 0 },
        { "Date", HEADER_DATE, 0 },
        { "Content-Length", HEADER_CONTENT_LENGTH, 0 },
        { "Disposition-Notification-To", HEADER_DISPOSITION_NOTIFICATION_TO,
          HEADER_FLAG_SENDER },
        { "Subject", _HEADER_INVALID, 0 },
        { "Fro", _HEADER_INVALID, 0 },
        { "Fromm", _HEADER_INVALID, 0 },
        { "", _HEADER_INVALID, 0 },
};

START_TEST(test_type_lookup)
{
        const char *name = type_cases[_i].name;
        HeaderType t = header_type_from_name(name, strlen(name));

        ck_assert_int_eq(t, type_cases[_i].type);
        ck_assert_uint_eq(header_type_flags(t), type_cases[_i].flags);
}
END_TEST

START_TEST(test_type_names)
{
        for (HeaderType t = 0; t < _HEADER_MAX; t++) {
                const char *s = header_type_to_string(t);

                ck_assert_ptr_nonnull(s);
                ck_assert_int_eq(header_type_from_name(s, strlen(s)), t);
        }
        ck_assert_ptr_null(header_type_to_string(_HEADER_MAX));
        ck_assert_ptr_null(header_type_to_string(_HEADER_INVALID));
        ck_assert_uint_eq(header_type_flags(_HEADER_INVALID), 0);
        ck_assert_str_eq(header_type_to_string(HEADER_MESSAGE_ID), "Message-Id");
        /* The name is compared over n bytes only. */
        ck_assert_int_eq(header_type_from_name("Tox", 2), HEADER_TO);
}
END_TEST

/* ---- header_address_rewrite() ---- */

/* Appends @origin.test to bare local parts; maps a few addresses to others. Records what it saw
 * in a Buf (userdata), one address per line. */
static int canon(void *userdata, const char *address, char **ret) {
        Buf *seen = userdata;
        static const char *const map[][2] = {
                { "old@example.org", "new@example.net" },
                { "spaced", "john doe@example.com" },
                { "quote\"me", "quote\"me@example.com" },
                { "fail", NULL },
        };

        if (seen) {
                ck_assert_int_eq(buf_append_str(seen, address), 0);
                ck_assert_int_eq(buf_append_char(seen, '\n'), 0);
        }
        for (size_t i = 0; i < ELEMENTSOF(map); i++)
                if (streq(address, map[i][0])) {
                        if (!map[i][1])
                                return -EIO;
                        *ret = strdup(map[i][1]);
                        return *ret ? 0 : -ENOMEM;
                }
        if (strchr(address, '@')) {
                *ret = NULL;
                return 0;
        }
        return asprintf(ret, "%s@origin.test", address) < 0 ? -ENOMEM : 0;
}

static int identity(void *userdata, const char *address, char **ret) {
        *ret = strdup(address);
        return *ret ? 0 : -ENOMEM;
}

static const struct {
        const char *in;
        const char *out;
        int replaced;
        const char *seen;               /* internal forms handed to the callback */
} rewrite_cases[] = {
        /* addr-spec */
        { " user", " user@origin.test", 1, "user\n" },
        { "user", "user@origin.test", 1, "user\n" },
        { " a@b.example", " a@b.example", 0, "a@b.example\n" },
        { " old@example.org", " new@example.net", 1, "old@example.org\n" },
        { " user (Some One)", " user@origin.test (Some One)", 1, "user\n" },
        { " (lead) user (trail) ", " (lead) user@origin.test (trail) ", 1, "user\n" },
        { " first.last", " first.last@origin.test", 1, "first.last\n" },
        { " first . last", " first.last@origin.test", 1, "first.last\n" },   /* obs */
        { " first(c).last", " first.last@origin.test", 1, "first.last\n" },
        { " \"john doe\"", " \"john doe\"@origin.test", 1, "john doe\n" },
        { " \"plain\"", " plain@origin.test", 1, "plain\n" },
        { " \"a\\\"b\"", " \"a\\\"b\"@origin.test", 1, "a\"b\n" },
        { " \"a@b\"", " \"a@b\"", 0, "a@b\n" },
        { " spaced", " \"john doe\"@example.com", 1, "spaced\n" },
        { " \"quote\\\"me\"", " \"quote\\\"me\"@example.com", 1, "quote\"me\n" },
        { " a@[192.0.2.1]", " a@[192.0.2.1]", 0, "a@[192.0.2.1]\n" },
        { " old @ example . org", " new@example.net", 1, "old@example.org\n" },
        { " j\xc3\xb6rg", " j\xc3\xb6rg@origin.test", 1, "j\xc3\xb6rg\n" },
        /* name-addr */
        { " John Doe <user>", " John Doe <user@origin.test>", 1, "user\n" },
        { " \"Doe, John\" <user>", " \"Doe, John\" <user@origin.test>", 1, "user\n" },
        { " <user>", " <user@origin.test>", 1, "user\n" },
        { "<user>", "<user@origin.test>", 1, "user\n" },
        { " < user >", " < user@origin.test >", 1, "user\n" },
        { " Name <old@example.org> (c)", " Name <new@example.net> (c)", 1,
          "old@example.org\n" },
        { " <@relay.example,@r2.example:user>", " <@relay.example,@r2.example:user@origin.test>",
          1, "user\n" },
        { " <@relay.example:old@example.org>", " <@relay.example:new@example.net>", 1,
          "old@example.org\n" },
        { " <>", " <>", 0, "" },
        { " Name <user> trailing words", " Name <user@origin.test> trailing words", 1,
          "user\n" },
        /* lists */
        { " a, b", " a@origin.test, b@origin.test", 2, "a\nb\n" },
        { " a,b,,c,", " a@origin.test,b@origin.test,,c@origin.test,", 3, "a\nb\nc\n" },
        { " x@y.example, \"Doe, J\" <jd>, old@example.org",
          " x@y.example, \"Doe, J\" <jd@origin.test>, new@example.net", 2,
          "x@y.example\njd\nold@example.org\n" },
        /* groups */
        { " undisclosed-recipients:;", " undisclosed-recipients:;", 0, "" },
        { " team: a, B <b>;, c", " team: a@origin.test, B <b@origin.test>;, c@origin.test", 3,
          "a\nb\nc\n" },
        { " g1: a; g2: b;", " g1: a@origin.test; g2: b@origin.test;", 2, "a\nb\n" },
        /* folding */
        { " a,\n\tb", " a@origin.test,\n\tb@origin.test", 2, "a\nb\n" },
        { " Some\n Body\n <user>", " Some\n Body\n <user@origin.test>", 1, "user\n" },
        { " \"john\n doe\"", " \"john doe\"@origin.test", 1, "john doe\n" },
        { " a,\r\n b", " a@origin.test,\r\n b@origin.test", 2, "a\nb\n" },
        /* malformed: kept as is */
        { " John Doe", " John Doe", 0, "" },
        { " \"unterminated", " \"unterminated", 0, "" },
        { " (unterminated user", " (unterminated user", 0, "" },
        { " user)", " user)", 0, "" },
        { " <user", " <user", 0, "" },
        { " user>", " user>", 0, "" },
        { " <a> <b>", " <a> <b>", 0, "" },
        { " <<a>>", " <<a>>", 0, "" },
        { " a@b@c", " a@b@c", 0, "" },
        { " a..b", " a..b", 0, "" },
        { " a.", " a.", 0, "" },
        { " .a", " .a", 0, "" },
        { " a@", " a@", 0, "" },
        { " a@b.", " a@b.", 0, "" },
        { " a@[1[2]", " a@[1[2]", 0, "" },
        { " a@[unclosed", " a@[unclosed", 0, "" },
        { " us\x01er, ok", " us\x01er, ok@origin.test", 1, "ok\n" },
        { " a\\b", " a\\b", 0, "" },
        { " a:b:c", " a:b:c", 0, "" },
        { " a; b", " a; b", 0, "" },
        { " <a:b>", " <a:b>", 0, "" },
        { " <a,b>", " <a,b>", 0, "" },
        { " <@r;x>", " <@r;x>", 0, "" },
        { " \"q\x01\"", " \"q\x01\"", 0, "" },
        { " \"trail\\", " \"trail\\", 0, "" },
        { " ]", " ]", 0, "" },
        { "", "", 0, "" },
        { "   ", "   ", 0, "" },
};

START_TEST(test_rewrite_table)
{
        _cleanup_(buf_done) Buf out = BUF_INIT(4096), seen = BUF_INIT(4096);
        const char *in = rewrite_cases[_i].in;
        int r;

        r = header_address_rewrite(in, strlen(in), HEADER_ADDRESS_TOKEN_LIMIT, canon, &seen,
                                   &out);
        ck_assert_msg(r == rewrite_cases[_i].replaced, "'%s': %d", in, r);
        ck_assert_str_eq(buf_peek(&out), rewrite_cases[_i].out);
        ck_assert_str_eq(buf_peek(&seen), rewrite_cases[_i].seen);
}
END_TEST

START_TEST(test_rewrite_identity)
{
        _cleanup_(buf_done) Buf out = BUF_INIT(4096);
        const char *in = rewrite_cases[_i].in;

        ck_assert_int_eq(header_address_rewrite(in, strlen(in), 0, identity, NULL, &out), 0);
        ck_assert_str_eq(buf_peek(&out), in);
}
END_TEST

START_TEST(test_rewrite_token_limit)
{
        static const struct {
                size_t limit;
                const char *out;
        } cases[] = {
                /* tokens: a , b , c (white space is not counted) */
                { 1, " a, b, c" },
                { 2, " a@origin.test, b, c" },
                { 3, " a@origin.test, b, c" },
                { 4, " a@origin.test, b@origin.test, c" },
                { 5, " a@origin.test, b@origin.test, c@origin.test" },
                { 0, " a@origin.test, b@origin.test, c@origin.test" },
        };
        const char *in = " a, b, c";

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_(buf_done) Buf out = BUF_INIT(4096);

                ck_assert_int_ge(header_address_rewrite(in, strlen(in), cases[i].limit, canon,
                                                        NULL, &out), 0);
                ck_assert_str_eq(buf_peek(&out), cases[i].out);
        }
}
END_TEST

START_TEST(test_rewrite_many_tokens)
{
        _cleanup_(buf_done) Buf in = BUF_INIT(BUF_MAX_UNBOUNDED), out = BUF_INIT(1 << 20);
        int r;

        /* 6000 addresses, 12000 tokens: the first 5120 get rewritten, the rest is kept. */
        for (unsigned i = 0; i < 6000; i++)
                ck_assert_int_eq(buf_printf(&in, "%su%u", i ? "," : " ", i), 0);
        r = header_address_rewrite(buf_peek(&in), buf_pending(&in), HEADER_ADDRESS_TOKEN_LIMIT,
                                   canon, NULL, &out);
        ck_assert_int_eq(r, HEADER_ADDRESS_TOKEN_LIMIT / 2);
        ck_assert_ptr_nonnull(strstr(buf_peek(&out), ",u5119@origin.test,u5120,u5121,"));
        ck_assert_ptr_nonnull(strstr(buf_peek(&out), ",u5999"));
}
END_TEST

START_TEST(test_rewrite_errors)
{
        _cleanup_(buf_done) Buf out = BUF_INIT(4096), small = BUF_INIT(8);

        /* The callback's error stops the rewrite. */
        ck_assert_int_eq(header_address_rewrite(" a, fail, b", 11, 0, canon, NULL, &out),
                         -EIO);
        /* A full output buffer. */
        ck_assert_int_eq(header_address_rewrite(" user, other", 12, 0, canon, NULL, &small),
                         -ENOBUFS);
        buf_clear(&small);
        ck_assert_int_eq(header_address_rewrite(" a@b.example.org", 16, 0, canon, NULL, &small),
                         -ENOBUFS);
}
END_TEST

START_TEST(test_rewrite_bounded)
{
        _cleanup_(buf_done) Buf out = BUF_INIT(4096);

        /* Only n bytes are read: the rest of the string does not exist for the rewriter. */
        ck_assert_int_eq(header_address_rewrite(" user, more", 5, 0, canon, NULL, &out), 1);
        ck_assert_str_eq(buf_peek(&out), " user@origin.test");
        buf_clear(&out);
        ck_assert_int_eq(header_address_rewrite(NULL, 0, 0, canon, NULL, &out), 0);
        ck_assert_uint_eq(buf_pending(&out), 0);
}
END_TEST

START_TEST(test_externalize)
{
        static const struct {
                const char *in, *out;
        } cases[] = {
                { "user@example.com", "user@example.com" },
                { "user", "user" },
                { "john doe@example.com", "\"john doe\"@example.com" },
                { "a@b@example.com", "\"a@b\"@example.com" },
                { "a\"b\\c@x", "\"a\\\"b\\\\c\"@x" },
                { "@example.com", "\"\"@example.com" },
                { ".a@x", "\".a\"@x" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_(buf_done) Buf out = BUF_INIT(4096);

                ck_assert_int_eq(header_address_externalize(cases[i].in, &out), 0);
                ck_assert_str_eq(buf_peek(&out), cases[i].out);
        }
}
END_TEST

static Suite *header_suite(void) {
        Suite *s = suite_create("header");
        TCase *tc;

        tc = tcase_create("field_start");
        tcase_add_loop_test(tc, test_field_start, 0, ELEMENTSOF(field_cases));
        tcase_add_test(tc, test_field_start_bounded);
        suite_add_tcase(s, tc);

        tc = tcase_create("type");
        tcase_add_loop_test(tc, test_type_lookup, 0, ELEMENTSOF(type_cases));
        tcase_add_test(tc, test_type_names);
        suite_add_tcase(s, tc);

        tc = tcase_create("address_rewrite");
        tcase_add_loop_test(tc, test_rewrite_table, 0, ELEMENTSOF(rewrite_cases));
        tcase_add_loop_test(tc, test_rewrite_identity, 0, ELEMENTSOF(rewrite_cases));
        tcase_add_test(tc, test_rewrite_token_limit);
        tcase_add_test(tc, test_rewrite_many_tokens);
        tcase_add_test(tc, test_rewrite_errors);
        tcase_add_test(tc, test_rewrite_bounded);
        tcase_add_test(tc, test_externalize);
        suite_add_tcase(s, tc);

        return s;
}

TERN_CHECK_MAIN(header_suite)
