/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Unit tests of smtp_io over a socketpair: replies and their shape, multi-line replies, output
 * bounds, partial flushes against a full socket, fills, EOF, and the transport swap discarding
 * pipelined input. */
#include <fcntl.h>
#include <sys/socket.h>

#include "check_main.h"
#include "smtp_io.h"

static void make_pair(int sv[2]) {
        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
}

static size_t read_all(int fd, char *p, size_t n) {
        ssize_t k = read(fd, p, n - 1);

        ck_assert_int_ge(k, 0);
        p[k] = '\0';
        return (size_t) k;
}

START_TEST(test_reply_shapes)
{
        _cleanup_(smtp_stream_done) SmtpStream s;
        char got[512];
        int sv[2];

        make_pair(sv);
        smtp_stream_init(&s, sv[0], 1024, SMTP_IO_OUT_MAX);
        ck_assert_int_eq(smtp_stream_reply(&s, 250, false, NULL, "mail.example.com"), 0);
        ck_assert_int_eq(smtp_stream_reply(&s, 250, false, NULL, "PIPELINING"), 0);
        ck_assert_int_eq(smtp_stream_reply(&s, 250, true, NULL, "SIZE %u", 10240000u), 0);
        ck_assert_int_eq(smtp_stream_reply(&s, 250, true, "2.0.0", "Ok: queued as %s", "ABC"),
                         0);
        ck_assert(smtp_stream_has_output(&s));
        ck_assert_int_eq(smtp_stream_flush(&s), 1);
        ck_assert(!smtp_stream_has_output(&s));
        read_all(sv[1], got, sizeof got);
        ck_assert_str_eq(got, "250-mail.example.com\r\n250-PIPELINING\r\n250 SIZE 10240000\r\n"
                              "250 2.0.0 Ok: queued as ABC\r\n");
        close(sv[0]);
        close(sv[1]);
}
END_TEST

START_TEST(test_output_bound)
{
        _cleanup_(smtp_stream_done) SmtpStream s;
        char big[3000];

        memset(big, 'x', sizeof big - 1);
        big[sizeof big - 1] = '\0';
        smtp_stream_init(&s, -1, 1024, 64);
        ck_assert_int_eq(smtp_stream_reply(&s, 250, true, "2.0.0", "Ok"), 0);
        ck_assert_int_eq(smtp_stream_reply(&s, 250, true, NULL, "%s", big), -ENOBUFS);
        ck_assert_int_eq(smtp_stream_reply(&s, 250, true, NULL, "%.60s", big), -ENOBUFS);
        /* Nothing half-written. */
        ck_assert_str_eq(buf_peek(&s.out), "250 2.0.0 Ok\r\n");
}
END_TEST

START_TEST(test_partial_flush)
{
        _cleanup_(smtp_stream_done) SmtpStream s;
        size_t total = 0, drained = 0;
        char tmp[65536];
        int sv[2], r;

        make_pair(sv);
        smtp_stream_init(&s, sv[0], 1024, 4 * 1024 * 1024);
        /* More than a socket buffer holds. */
        for (int i = 0; i < 20000; i++) {
                ck_assert_int_eq(smtp_stream_reply(&s, 250, true, "2.1.5", "Ok %05d", i), 0);
                total += strlen("250 2.1.5 Ok 00000\r\n");
        }
        r = smtp_stream_flush(&s);
        ck_assert_int_eq(r, 0);
        ck_assert(smtp_stream_has_output(&s));
        while ((r = smtp_stream_flush(&s)) == 0) {
                ssize_t k = read(sv[1], tmp, sizeof tmp);
                if (k > 0)
                        drained += (size_t) k;
        }
        ck_assert_int_eq(r, 1);
        for (ssize_t k; (k = read(sv[1], tmp, sizeof tmp)) > 0;)
                drained += (size_t) k;
        ck_assert_uint_eq(drained, total);
        close(sv[0]);
        close(sv[1]);
}
END_TEST

START_TEST(test_fill_and_eof)
{
        _cleanup_(smtp_stream_done) SmtpStream s;
        char *line;
        int sv[2];

        make_pair(sv);
        smtp_stream_init(&s, sv[0], 16, SMTP_IO_OUT_MAX);
        ck_assert_int_eq(smtp_stream_fill(&s), -EAGAIN);
        ck_assert_int_eq(write(sv[1], "NOOP\r\nQUIT\r\n0123456789", 22), 22);
        ck_assert_int_eq(smtp_stream_fill(&s), 16);
        ck_assert_int_eq(smtp_stream_fill(&s), -ENOBUFS);
        ck_assert_int_eq(buf_getline(&s.in, 512, &line, NULL), 1);
        ck_assert_str_eq(line, "NOOP");
        ck_assert_int_eq(smtp_stream_fill(&s), 6);
        close(sv[1]);
        ck_assert_int_eq(buf_getline(&s.in, 512, &line, NULL), 1);
        ck_assert_str_eq(line, "QUIT");
        ck_assert_int_eq(smtp_stream_fill(&s), 0);
        ck_assert(s.eof);
        close(sv[0]);
}
END_TEST

static int fake_freed;

static void fake_free(void *ctx) {
        fake_freed++;
}

static ssize_t upper_read(void *ctx, int fd, void *p, size_t n) {
        ssize_t k = smtp_transport_plain.read(NULL, fd, p, n);

        for (ssize_t i = 0; i < k; i++)
                ((char *) p)[i] = (char) (((char *) p)[i] == 'x' ? 'X' : ((char *) p)[i]);
        return k;
}

static const SmtpTransport upper = {
        .name = "test", .read = upper_read, .write = NULL, .free = fake_free,
};

START_TEST(test_transport_swap_discards_pipelined_input)
{
        _cleanup_(smtp_stream_done) SmtpStream s;
        int sv[2];

        make_pair(sv);
        smtp_stream_init(&s, sv[0], 1024, SMTP_IO_OUT_MAX);
        /* STARTTLS with a command pipelined behind it: the injected RSET must be dropped. */
        ck_assert_int_eq(write(sv[1], "STARTTLS\r\nRSET\r\n", 16), 16);
        ck_assert_int_eq(smtp_stream_fill(&s), 16);
        ck_assert_int_eq(smtp_stream_reply(&s, 220, true, "2.0.0", "Ready to start TLS"), 0);
        ck_assert_int_eq(smtp_stream_set_transport(&s, &upper, &s), -EBUSY);
        ck_assert_int_eq(smtp_stream_flush(&s), 1);
        fake_freed = 0;
        ck_assert_int_eq(smtp_stream_set_transport(&s, &upper, &s), 0);
        ck_assert_uint_eq(buf_pending(&s.in), 0);
        ck_assert_int_eq(write(sv[1], "xx", 2), 2);
        ck_assert_int_eq(smtp_stream_fill(&s), 2);
        ck_assert_str_eq(buf_peek(&s.in), "XX");
        smtp_stream_done(&s);
        ck_assert_int_eq(fake_freed, 1);
        smtp_stream_init(&s, -1, 16, 16);
        close(sv[0]);
        close(sv[1]);
}
END_TEST

static Suite *smtp_io_suite(void) {
        Suite *s = suite_create("smtp_io");
        TCase *tc = tcase_create("stream");

        tcase_add_test(tc, test_reply_shapes);
        tcase_add_test(tc, test_output_bound);
        tcase_add_test(tc, test_partial_flush);
        tcase_add_test(tc, test_fill_and_eof);
        tcase_add_test(tc, test_transport_swap_discards_pipelined_input);
        suite_add_tcase(s, tc);
        return s;
}

TERN_CHECK_MAIN(smtp_io_suite)
