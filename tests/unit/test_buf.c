/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Unit tests of buf: bounded appends, the CRLF-only line reader fed whole, byte by byte and split
 * at every position, skipping after errors, and reading from fds. */
#include <fcntl.h>

#include "buf.h"
#include "check_main.h"

START_TEST(test_append_limits)
{
        _cleanup_(buf_done) Buf b = BUF_INIT(8);

        ck_assert_int_eq(buf_append(&b, "12345", 5), 0);
        ck_assert_int_eq(buf_append(&b, "678", 3), 0);
        ck_assert_int_eq(buf_append(&b, "9", 1), -ENOBUFS);
        ck_assert_uint_eq(buf_pending(&b), 8);
        ck_assert_str_eq(buf_peek(&b), "12345678");
        buf_consume(&b, 3);
        ck_assert_int_eq(buf_append(&b, "abc", 3), 0);
        ck_assert_str_eq(buf_peek(&b), "45678abc");
        ck_assert_int_eq(buf_append(&b, "", 0), 0);
        ck_assert_int_eq(buf_append(&b, "x", SIZE_MAX), -ENOBUFS);
}
END_TEST

START_TEST(test_printf)
{
        _cleanup_(buf_done) Buf b = BUF_INIT(16);

        ck_assert_int_eq(buf_printf(&b, "%s=%d", "a", 42), 0);
        ck_assert_str_eq(buf_peek(&b), "a=42");
        ck_assert_int_eq(buf_printf(&b, "%0100d", 1), -ENOBUFS);
        ck_assert_str_eq(buf_peek(&b), "a=42");
}
END_TEST

START_TEST(test_steal_and_clear)
{
        _cleanup_(buf_done) Buf b = BUF_INIT(BUF_MAX_UNBOUNDED);
        _cleanup_free_ char *s = NULL, *e = NULL;

        e = buf_steal(&b);
        ck_assert_str_eq(e, "");
        ck_assert_int_eq(buf_append_str(&b, "hello world"), 0);
        buf_consume(&b, 6);
        s = buf_steal(&b);
        ck_assert_str_eq(s, "world");
        ck_assert_uint_eq(buf_pending(&b), 0);
        ck_assert_int_eq(buf_append_char(&b, 'x'), 0);
        buf_clear(&b);
        ck_assert_str_eq(buf_peek(&b), "");
}
END_TEST

static const struct {
        const char *input;
        size_t len;                     /* 0: strlen(input) */
        size_t line_max;
        int expected[4];                /* results of successive getline calls */
        const char *lines[4];
} getline_cases[] = {
        { "HELO a\r\n", 0,                 64, { 1, 0 },        { "HELO a" } },
        { "HELO a\r\nQUIT\r\n", 0,         64, { 1, 1, 0 },     { "HELO a", "QUIT" } },
        { "\r\n", 0,                       64, { 1, 0 },        { "" } },
        { "HELO a", 0,                     64, { 0 },           {} },
        { "HELO a\r", 0,                   64, { 0 },           {} },
        { "HELO a\nQUIT\r\n", 0,           64, { -EBADMSG },    {} },
        { "HELO a\rQUIT\r\n", 0,           64, { -EBADMSG },    {} },
        { "HE\0LO\r\n", 7,                 64, { -EBADMSG },    {} },
        { "12345\r\n", 0,                  5,  { 1, 0 },        { "12345" } },
        { "123456\r\n", 0,                 5,  { -EMSGSIZE },   {} },
        { "123456", 0,                     5,  { -EMSGSIZE },   {} },
        { "12345\r", 0,                    5,  { 0 },           {} },
        { "ok\r\n123456", 0,               5,  { 1, -EMSGSIZE }, { "ok" } },
};

START_TEST(test_getline_table)
{
        size_t n = getline_cases[_i].len ?: strlen(getline_cases[_i].input);
        _cleanup_(buf_done) Buf b = BUF_INIT(1024);
        ck_assert_int_eq(buf_append(&b, getline_cases[_i].input, n), 0);

        for (size_t k = 0; k < ELEMENTSOF(getline_cases[_i].expected); k++) {
                char *line = NULL;
                size_t len = 0;
                int r = buf_getline(&b, getline_cases[_i].line_max, &line, &len);

                ck_assert_int_eq(r, getline_cases[_i].expected[k]);
                if (r != 1)
                        break;
                ck_assert_str_eq(line, getline_cases[_i].lines[k]);
                ck_assert_uint_eq(len, strlen(getline_cases[_i].lines[k]));
        }
}
END_TEST

/* The same stream, split at every position, yields the same lines. */
START_TEST(test_getline_split_everywhere)
{
        static const char stream[] = "EHLO x\r\nMAIL FROM:<a@b>\r\n\r\nQUIT\r\n";
        static const char *const want[] = { "EHLO x", "MAIL FROM:<a@b>", "", "QUIT" };
        size_t total = strlen(stream);

        for (size_t split = 0; split <= total; split++) {
                _cleanup_(buf_done) Buf b = BUF_INIT(64);
                size_t got = 0;
                char *line;

                ck_assert_int_eq(buf_append(&b, stream, split), 0);
                while (buf_getline(&b, 64, &line, NULL) == 1)
                        ck_assert_str_eq(line, want[got++]);
                ck_assert_int_eq(buf_append(&b, stream + split, total - split), 0);
                while (buf_getline(&b, 64, &line, NULL) == 1)
                        ck_assert_str_eq(line, want[got++]);
                ck_assert_uint_eq(got, ELEMENTSOF(want));
        }
}
END_TEST

START_TEST(test_getline_byte_by_byte)
{
        static const char stream[] = "RCPT TO:<x@y>\r\nDATA\r\n";
        _cleanup_(buf_done) Buf b = BUF_INIT(32);
        size_t got = 0;
        char *line;

        for (size_t i = 0; i < strlen(stream); i++) {
                ck_assert_int_eq(buf_append(&b, stream + i, 1), 0);
                int r = buf_getline(&b, 32, &line, NULL);
                ck_assert_int_ge(r, 0);
                if (r == 1)
                        ck_assert_str_eq(line, got++ == 0 ? "RCPT TO:<x@y>" : "DATA");
        }
        ck_assert_uint_eq(got, 2);
}
END_TEST

START_TEST(test_getline_rejects_bare_lf)
{
        _cleanup_(buf_done) Buf b = BUF_INIT(64);
        char *line;
        size_t len;

        ck_assert_int_eq(buf_append(&b, "HELO a\nQUIT\r\n", 13), 0);
        ck_assert_int_eq(buf_getline(&b, 64, &line, &len), -EBADMSG);
        ck_assert(buf_skip_line(&b));
        ck_assert_int_eq(buf_getline(&b, 64, &line, &len), 0);
}
END_TEST

START_TEST(test_skip_line)
{
        _cleanup_(buf_done) Buf b = BUF_INIT(64);
        char *line;

        ck_assert_int_eq(buf_append_str(&b, "garbage\r\nNOOP\r\n"), 0);
        ck_assert(buf_skip_line(&b));
        ck_assert_int_eq(buf_getline(&b, 64, &line, NULL), 1);
        ck_assert_str_eq(line, "NOOP");

        /* No CRLF: everything goes but a trailing CR, whose LF may follow. */
        ck_assert_int_eq(buf_append_str(&b, "abc\r"), 0);
        ck_assert(!buf_skip_line(&b));
        ck_assert_int_eq(buf_append_str(&b, "\nQUIT\r\n"), 0);
        ck_assert(buf_skip_line(&b));
        ck_assert_int_eq(buf_getline(&b, 64, &line, NULL), 1);
        ck_assert_str_eq(line, "QUIT");
}
END_TEST

START_TEST(test_read_fd)
{
        _cleanup_(buf_done) Buf b = BUF_INIT(10);
        int p[2];

        ck_assert_int_eq(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
        ck_assert_int_eq(buf_read_fd(&b, p[0]), -EAGAIN);
        ck_assert_int_eq(write(p[1], "0123456789abcdef", 16), 16);
        ck_assert_int_eq(buf_read_fd(&b, p[0]), 10);
        ck_assert_int_eq(buf_read_fd(&b, p[0]), -ENOBUFS);
        buf_consume(&b, 10);
        ck_assert_int_eq(buf_read_fd(&b, p[0]), 6);
        close(p[1]);
        ck_assert_int_eq(buf_read_fd(&b, p[0]), 0);
        close(p[0]);
        ck_assert_str_eq(buf_peek(&b), "abcdef");
}
END_TEST

static Suite *buf_suite(void) {
        Suite *s = suite_create("buf");
        TCase *tc;

        tc = tcase_create("append");
        tcase_add_test(tc, test_append_limits);
        tcase_add_test(tc, test_printf);
        tcase_add_test(tc, test_steal_and_clear);
        suite_add_tcase(s, tc);

        tc = tcase_create("getline");
        tcase_add_loop_test(tc, test_getline_table, 0, ELEMENTSOF(getline_cases));
        tcase_add_test(tc, test_getline_split_everywhere);
        tcase_add_test(tc, test_getline_byte_by_byte);
        tcase_add_test(tc, test_getline_rejects_bare_lf);
        tcase_add_test(tc, test_skip_line);
        suite_add_tcase(s, tc);

        tc = tcase_create("read_fd");
        tcase_add_test(tc, test_read_fd);
        suite_add_tcase(s, tc);
        return s;
}

TERN_CHECK_MAIN(buf_suite)
