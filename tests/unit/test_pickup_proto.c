/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Check suite of pickup_proto: the request parser (table of whole requests, valid and invalid,
 * every error code; byte-by-byte and split feeding), the xtext line encoder, the reply parser. */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check_main.h"
#include "macro.h"
#include "pickup_proto.h"

/* Runs a whole request through the parser; returns the final result (1 when done, 0 when
 * incomplete, < 0 the error) and a trace of the events ("verb=value;" and "data:N;"). */
static int run(const char *in, size_t n, size_t step, Buf *trace) {
        _cleanup_(pickup_parser_freep) PickupParser *p = NULL;
        size_t off = 0;
        int r = 0;

        ck_assert_int_eq(pickup_parser_new(&p), 0);
        while (off < n) {
                size_t len = MIN(step, n - off), used;
                PickupEvent ev;

                r = pickup_parser_feed(p, in + off, len, &used, &ev);
                ck_assert_uint_le(used, len);
                off += used;
                if (r < 0)
                        return r;
                if (r == 0) {
                        ck_assert_uint_eq(used, len);
                        continue;
                }
                if (ev.verb == PICKUP_DATA)
                        ck_assert_int_eq(buf_append(trace, ev.value, ev.n), 0);
                else
                        ck_assert_int_ge(buf_printf(trace, "%s%s%s%s;",
                                                    pickup_verb_to_string(ev.verb),
                                                    ev.value ? "=" : "", strempty(ev.value),
                                                    ev.notify ? "+n" : ""), 0);
        }
        return pickup_parser_done(p) ? 1 : 0;
}

static const struct {
        const char *in;
        int result;
        const char *trace;
} cases[] = {
        { "list\n", 1, "list;" },
        { "flush\n", 1, "flush;" },
        { "submit\nrcpt a@b\nend\n", 1, "submit;rcpt=a@b;end;" },
        { "submit\nsender\nrcpt a+20b@c 6\ndata 4\nab\ncdata 1\n\nend\n", 1,
          "submit;sender;rcpt=a b@c+n;ab\nc\nend;" },
        { "submit\nsender x+2By\nfullname A+20B\nextract\nret HDRS\nenvid e1\nbody 8BITMIME\n"
          "end\n", 1, "submit;sender=x+y;fullname=A B;extract;ret=HDRS;envid=e1;body=8BITMIME;"
          "end;" },
        { "submit\nrcpt a@b\n", 0, "submit;rcpt=a@b;" },
        { "submit\ndata 3\nab", 0, "submit;ab" },
        /* -EBADMSG */
        { "hello\n", -EBADMSG, "" },
        { "list x\n", -EBADMSG, "" },
        { "list \n", -EBADMSG, "" },
        { "submit\nrcpt\n", -EBADMSG, "submit;" },
        { "submit\nrcpt a@b 3\n", -EBADMSG, "submit;" },
        { "submit\nrcpt a@b 1x\n", -EBADMSG, "submit;" },
        { "submit\nrcpt a+2@b\n", -EBADMSG, "submit;" },
        { "submit\nrcpt a+00@b\n", -EBADMSG, "submit;" },
        { "submit\nrcpt a=b\n", -EBADMSG, "submit;" },
        { "submit\nfullname\n", -EBADMSG, "submit;" },
        { "submit\nret NONE\n", -EBADMSG, "submit;" },
        { "submit\nbody\n", -EBADMSG, "submit;" },
        { "submit\ndata 0\n", -EBADMSG, "submit;" },
        { "submit\ndata x\n", -EBADMSG, "submit;" },
        { "submit\ndata 99999999999\n", -EBADMSG, "submit;" },
        { "li\0st\n", -EBADMSG, "" },
        /* -EPROTO */
        { "rcpt a@b\n", -EPROTO, "" },
        { "end\n", -EPROTO, "" },
        { "submit\nsubmit\n", -EPROTO, "submit;" },
        { "submit\nlist\n", -EPROTO, "submit;" },
        { "submit\nend\n", 1, "submit;end;" },
        { "submit\nsender a\nsender b\n", -EPROTO, "submit;sender=a;" },
        { "submit\nextract\nextract\n", -EPROTO, "submit;extract;" },
        { "submit\ndata 1\nxrcpt a@b\n", -EPROTO, "submit;x" },
        { "list\nlist\n", -EPROTO, "list;" },
        { "submit\nrcpt a@b\nend\nx", -EPROTO, "submit;rcpt=a@b;end;" },
};

START_TEST(test_parser_table)
{
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                size_t n = strlen(cases[i].in);

                /* "li\0st\n" carries a NUL: its length is the literal's */
                if (streq(cases[i].in, "li"))
                        n = 6;
                for (size_t step = 1; step <= n + 1; step++) {
                        _cleanup_(buf_done) Buf t = BUF_INIT(BUF_MAX_UNBOUNDED);
                        int r = run(cases[i].in, n, step, &t);

                        ck_assert_msg(r == cases[i].result, "case %zu step %zu: %d", i, step,
                                      r);
                        ck_assert_msg(streq(buf_peek(&t), cases[i].trace),
                                      "case %zu step %zu: trace '%s'", i, step, buf_peek(&t));
                }
        }
}
END_TEST

START_TEST(test_parser_limits)
{
        _cleanup_(pickup_parser_freep) PickupParser *p = NULL;
        _cleanup_free_ char *line = malloc(PICKUP_LINE_MAX + 2);
        _cleanup_(buf_done) Buf b = BUF_INIT(BUF_MAX_UNBOUNDED);
        PickupEvent ev;
        size_t used;

        ck_assert_int_eq(pickup_parser_new(&p), 0);
        memset(line, 'a', PICKUP_LINE_MAX + 1);
        ck_assert_int_eq(pickup_parser_feed(p, "submit\n", 7, &used, &ev), 1);
        ck_assert_int_eq(pickup_parser_feed(p, line, PICKUP_LINE_MAX + 1, &used, &ev),
                         -EMSGSIZE);
        /* sticky */
        ck_assert_int_eq(pickup_parser_feed(p, "end\n", 4, &used, &ev), -EMSGSIZE);
        ck_assert_uint_eq(used, 0);
        p = pickup_parser_free(p);

        /* a value longer than PICKUP_VALUE_MAX */
        ck_assert_int_eq(pickup_parser_new(&p), 0);
        ck_assert_int_eq(buf_append_str(&b, "submit\nrcpt "), 0);
        for (size_t i = 0; i <= PICKUP_VALUE_MAX; i++)
                ck_assert_int_eq(buf_append_char(&b, 'x'), 0);
        ck_assert_int_eq(buf_append_char(&b, '\n'), 0);
        ck_assert_int_eq(pickup_parser_feed(p, buf_peek(&b), buf_pending(&b), &used, &ev), 1);
        ck_assert_int_eq(pickup_parser_feed(p, buf_peek(&b) + used, buf_pending(&b) - used,
                                            &used, &ev), -EMSGSIZE);
}
END_TEST

START_TEST(test_encode_roundtrip)
{
        static const char *const values[] = { "a@b.test", "a b+c=d@x", "\x01\xff", "ü" };

        for (size_t i = 0; i < ELEMENTSOF(values); i++) {
                _cleanup_(buf_done) Buf b = BUF_INIT(BUF_MAX_UNBOUNDED);
                _cleanup_(buf_done) Buf t = BUF_INIT(BUF_MAX_UNBOUNDED);
                _cleanup_free_ char *want = NULL;

                ck_assert_int_eq(pickup_line_append(&b, "submit", NULL), 0);
                ck_assert_int_eq(pickup_line_append(&b, "fullname", values[i]), 0);
                ck_assert_int_eq(pickup_line_append(&b, "sender", ""), 0);
                ck_assert_int_eq(pickup_line_append(&b, "rcpt", values[i]), 0);
                ck_assert_int_eq(pickup_line_append(&b, "end", NULL), 0);
                ck_assert_int_eq(run(buf_peek(&b), buf_pending(&b), 3, &t), 1);
                ck_assert_int_ge(asprintf(&want, "submit;fullname=%s;sender;rcpt=%s;end;",
                                          values[i], values[i]), 0);
                ck_assert_str_eq(buf_peek(&t), want);
        }
}
END_TEST

START_TEST(test_reply_parse)
{
        PickupReply r;

        ck_assert_int_eq(pickup_reply_parse("ok 0123", 7, &r), 0);
        ck_assert_int_eq(r.type, PICKUP_REPLY_OK);
        ck_assert_str_eq(r.text, "0123");
        ck_assert_int_eq(pickup_reply_parse("ok", 2, &r), 0);
        ck_assert_str_eq(r.text, "");
        ck_assert_int_eq(pickup_reply_parse("error 75 down", 13, &r), 0);
        ck_assert_int_eq(r.type, PICKUP_REPLY_ERROR);
        ck_assert_int_eq(r.exit_status, 75);
        ck_assert_str_eq(r.text, "down");
        ck_assert_int_eq(pickup_reply_parse("data 12", 7, &r), 0);
        ck_assert_int_eq(r.type, PICKUP_REPLY_DATA);
        ck_assert_uint_eq(r.size, 12);
        ck_assert_int_eq(pickup_reply_parse("okay", 4, &r), -EBADMSG);
        ck_assert_int_eq(pickup_reply_parse("error 999 x", 11, &r), -EBADMSG);
        ck_assert_int_eq(pickup_reply_parse("error x y", 9, &r), -EBADMSG);
        ck_assert_int_eq(pickup_reply_parse("error 75", 8, &r), -EBADMSG);
        ck_assert_int_eq(pickup_reply_parse("data -1", 7, &r), -EBADMSG);
        ck_assert_int_eq(pickup_reply_parse("", 0, &r), -EBADMSG);
        ck_assert_ptr_null(pickup_verb_to_string(_PICKUP_VERB_MAX));
}
END_TEST

START_TEST(test_send) {
        char big[200000], got[sizeof(big)];
        size_t have = 0;
        int sv[2], status;
        pid_t pid;

        for (size_t i = 0; i < sizeof(big); i++)
                big[i] = (char) ('a' + i % 26);
        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
        /* More than the socket buffer holds: the writer must loop over short sends. */
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                close(sv[0]);
                _exit(pickup_send(sv[1], big, sizeof(big)) == 0 ? 0 : 1);
        }
        close(sv[1]);
        while (have < sizeof(got)) {
                ssize_t k = read(sv[0], got + have, sizeof(got) - have);

                ck_assert_int_gt(k, 0);
                have += (size_t) k;
        }
        ck_assert(memcmp(big, got, sizeof(big)) == 0);
        close(sv[0]);
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);

        /* A peer that is gone is -EPIPE, not a signal. */
        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
        close(sv[0]);
        ck_assert_int_eq(pickup_send(sv[1], "x", 1), -EPIPE);
        close(sv[1]);
}
END_TEST

static Suite *pickup_proto_suite(void) {
        Suite *s = suite_create("pickup_proto");
        TCase *tc;

        tc = tcase_create("parser");
        tcase_add_test(tc, test_parser_table);
        tcase_add_test(tc, test_parser_limits);
        suite_add_tcase(s, tc);
        tc = tcase_create("encode");
        tcase_add_test(tc, test_encode_roundtrip);
        tcase_add_test(tc, test_reply_parse);
        suite_add_tcase(s, tc);
        tc = tcase_create("send");
        tcase_add_test(tc, test_send);
        suite_add_tcase(s, tc);
        return s;
}

TERN_CHECK_MAIN(pickup_proto_suite)
