/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Unit tests of the pipe agent's pure parts (services/pipe/pipe_args.c): the attribute parser
 * (a table of command lines, valid and invalid, reaching every error code), the macro
 * expansion with the h, q, u flags and per-recipient arguments, address quoting, the message
 * stream for the flags . > B and eol= (whole, byte by byte and split at every position), the
 * prepended header lines, and the exit status → result mapping with Postfix's texts. */
#include <errno.h>
#include <string.h>
#include <sys/wait.h>
#include <sysexits.h>

#include "check_main.h"
#include "pipe.h"

/* ---- pipe_args_parse() ---- */

typedef struct ArgsCase {
        const char *args[8];            /* NULL-terminated */
        int expected;
        unsigned flags;
        const char *user, *group;
        uint64_t size;
        const char *eol;
        const char *null_sender;
        size_t argc;
        const char *argv0;
} ArgsCase;

static const ArgsCase args_cases[] = {
        { { "flags=DRXhu", "user=vmail", "argv=/usr/bin/maildrop", "-d", "${recipient}" }, 0,
          PIPE_FLAG_DELIVERED_TO | PIPE_FLAG_RETURN_PATH | PIPE_FLAG_FINAL |
          PIPE_FLAG_FOLD_HOST | PIPE_FLAG_FOLD_USER, "vmail", NULL, 0, "\n", "MAILER-DAEMON",
          3, "/usr/bin/maildrop" },
        { { "user=uucp:mail", "size=1000", "eol=\\r\\n", "null_sender=", "argv=/bin/x" }, 0,
          0, "uucp", "mail", 1000, "\r\n", "", 1, "/bin/x" },
        { { "flags=BDFORXhqu.>", "user=a", "eol=\\101\\t", "argv=/bin/x", "{ a b }" }, 0,
          0x7ff, "a", NULL, 0, "A\t", "MAILER-DAEMON", 2, "/bin/x" },
        { { "user=a", "directory=/tmp", "argv=/bin/x", "$$", "$(sender)", "${size}x" }, 0, 0,
          "a", NULL, 0, "\n", "MAILER-DAEMON", 4, "/bin/x" },
        /* argv= takes everything after it, attributes included. */
        { { "user=a", "argv=/bin/x", "user=b", "flags=zz" }, 0, 0, "a", NULL, 0, "\n",
          "MAILER-DAEMON", 3, "/bin/x" },
        { { "user=a", "argv={/bin/x}" }, 0, 0, "a", NULL, 0, "\n", "MAILER-DAEMON", 1,
          "/bin/x" },
        /* -EINVAL */
        { { "argv=/bin/x" }, -EINVAL },
        { { "user=a" }, -EINVAL },
        { { "user=a", "bogus=1", "argv=/bin/x" }, -EINVAL },
        { { "user=a", "user=b", "argv=/bin/x" }, -EINVAL },
        { { "user=a", "flags" , "argv=/bin/x" }, -EINVAL },
        { { "user=a", "argv=" }, -EINVAL },
        { {}, -EINVAL },
        /* -EBADMSG */
        { { "flags=DZ", "user=a", "argv=/bin/x" }, -EBADMSG },
        { { "user=", "argv=/bin/x" }, -EBADMSG },
        { { "user=a:", "argv=/bin/x" }, -EBADMSG },
        { { "user=a b", "argv=/bin/x" }, -EBADMSG },
        { { "user=a", "size=-1", "argv=/bin/x" }, -EBADMSG },
        { { "user=a", "size=", "argv=/bin/x" }, -EBADMSG },
        { { "user=a", "eol=", "argv=/bin/x" }, -EBADMSG },
        { { "user=a", "eol=\\q", "argv=/bin/x" }, -EBADMSG },
        { { "user=a", "eol=\\", "argv=/bin/x" }, -EBADMSG },
        { { "user=a", "eol=\\0", "argv=/bin/x" }, -EBADMSG },
        { { "user=a", "directory=tmp", "argv=/bin/x" }, -EBADMSG },
        { { "user=a", "argv=bin/x" }, -EBADMSG },
        { { "user=a", "argv=/bin/x", "${nosuch}" }, -EBADMSG },
        { { "user=a", "argv=/bin/x", "$" }, -EBADMSG },
        { { "user=a", "argv=/bin/x", "${recipient" }, -EBADMSG },
        { { "user=a", "argv=/bin/x", "$(recipient}" }, -EBADMSG },
        { { "user=a", "argv=/bin/x", "a$%" }, -EBADMSG },
        { { "user=a", "argv=/bin/x", "${}" }, -EBADMSG },
        /* -EPERM */
        { { "user=root", "argv=/bin/x" }, -EPERM },
        { { "user=a:root", "argv=/bin/x" }, -EPERM },
        /* -EOPNOTSUPP */
        { { "chroot=/x", "user=a", "argv=/bin/x" }, -EOPNOTSUPP },
        /* -EMSGSIZE */
        { { "user=a", "eol=\\r\\n\\r\\n\\r\\n\\r\\n\\r\\n\\r\\n\\r\\n\\r\\n\\r", "argv=/bin/x" },
          -EMSGSIZE },
};

START_TEST(test_args_table)
{
        const ArgsCase *c = &args_cases[_i];
        _cleanup_(pipe_args_freep) PipeArgs *a = NULL;
        _cleanup_free_ char *err = NULL;
        size_t n = 0;
        int r;

        while (n < ELEMENTSOF(c->args) && c->args[n])
                n++;
        r = pipe_args_parse((char *const *) c->args, n, &a, &err);
        ck_assert_msg(r == c->expected, "case %d: got %d (%s), expected %d", _i, r,
                      strempty(err), c->expected);
        if (r < 0) {
                ck_assert_ptr_null(a);
                ck_assert_ptr_nonnull(err);
                return;
        }
        if (c->flags != 0)
                ck_assert_uint_eq(a->flags, c->flags);
        ck_assert_str_eq(a->user, c->user);
        ck_assert_msg(streq_ptr(a->group, c->group), "group");
        ck_assert_uint_eq(a->size_limit, c->size);
        ck_assert_str_eq(a->eol, c->eol);
        ck_assert_uint_eq(a->eol_len, strlen(c->eol));
        ck_assert_str_eq(a->null_sender, c->null_sender);
        ck_assert_uint_eq(a->argc, c->argc);
        ck_assert_str_eq(a->argv[0], c->argv0);
        ck_assert_ptr_null(a->argv[a->argc]);
}
END_TEST

START_TEST(test_args_limits)
{
        _cleanup_(pipe_args_freep) PipeArgs *a = NULL;
        _cleanup_free_ char *err = NULL, *big = NULL;
        char *args[PIPE_ARGV_MAX + 3];
        int r;

        args[0] = (char *) "user=a";
        args[1] = (char *) "argv=/bin/x";
        for (size_t i = 2; i < ELEMENTSOF(args); i++)
                args[i] = (char *) "x";
        r = pipe_args_parse(args, PIPE_ARGV_MAX + 1, &a, &err);
        ck_assert_int_eq(r, 0);
        a = pipe_args_free(a);
        r = pipe_args_parse(args, PIPE_ARGV_MAX + 2, &a, &err);
        ck_assert_int_eq(r, -E2BIG);

        big = malloc(PIPE_VALUE_MAX + 16);
        ck_assert_ptr_nonnull(big);
        memset(big, 'a', PIPE_VALUE_MAX + 15);
        memcpy(big, "user=", 5);
        big[PIPE_VALUE_MAX + 15] = '\0';
        args[0] = big;
        err = mfree(err);
        ck_assert_int_eq(pipe_args_parse(args, 2, &a, &err), -EMSGSIZE);
        args[0] = (char *) "user=a";
        memcpy(big, "/bin/", 5);
        args[2] = big;
        err = mfree(err);
        ck_assert_int_eq(pipe_args_parse(args, 3, &a, &err), -EMSGSIZE);
}
END_TEST

START_TEST(test_flags_to_string)
{
        char buf[12];

        ck_assert_str_eq(pipe_flags_to_string(0, buf), "");
        ck_assert_str_eq(pipe_flags_to_string(0x7ff, buf), "BDFORXhqu.>");
        ck_assert_str_eq(pipe_flags_to_string(PIPE_FLAG_DELIVERED_TO | PIPE_FLAG_FOLD_USER,
                                              buf), "Du");
}
END_TEST

/* ---- pipe_argv_expand() ---- */

typedef struct ExpandCase {
        const char *flags;
        const char *templates[6];
        const char *sender;
        const char *expected;           /* the arguments joined with '|' */
} ExpandCase;

static const ExpandCase expand_cases[] = {
        { "", { "/bin/x", "-f", "$sender", "--", "${recipient}" }, "s@e.org",
          "/bin/x|-f|s@e.org|--|Bob+Ext@Example.COM|carol@d.org" },
        { "hu", { "/bin/x", "${recipient}", "${nexthop}" }, "s@e.org",
          "/bin/x|bob+ext@example.com|carol@d.org|mx.example" },
        { "h", { "/bin/x", "$recipient", "${domain}" }, "",
          "/bin/x|Bob+Ext@example.com|carol@d.org|example.com|d.org" },
        { "u", { "/bin/x", "${user}:${extension}:${mailbox}" }, "",
          "/bin/x|bob:ext:bob+ext|carol::carol" },
        { "", { "/bin/x", "${user}:${extension}:${mailbox}" }, "",
          "/bin/x|Bob:Ext:Bob+Ext|carol::carol" },
        { "", { "/bin/x", "$(original_recipient)" }, "", "/bin/x|orig@e.org|carol@d.org" },
        { "", { "/bin/x", "-f", "${sender}" }, "", "/bin/x|-f|MAILER-DAEMON" },
        { "q", { "/bin/x", "${sender}", "${recipient}" }, "a b@e.org",
          "/bin/x|\"a b\"@e.org|Bob+Ext@Example.COM|carol@d.org" },
        { "", { "/bin/x", "$$5", "${queue_id}", "${size}", "$client_address" }, "",
          "/bin/x|$5|QID|1234|192.0.2.1" },
        { "", { "/bin/x", "${client_helo}/${client_hostname}/${client_port}/${client_protocol}"
                "/${sasl_method}/${sasl_sender}/${sasl_username}" }, "",
          "/bin/x|helo/host/25/ESMTP/PLAIN/ss/su" },
        { "", { "/bin/x", "pre-${user}-post" }, "", "/bin/x|pre-Bob-post|pre-carol-post" },
};

START_TEST(test_expand_table)
{
        const ExpandCase *c = &expand_cases[_i];
        _cleanup_(pipe_args_freep) PipeArgs *a = NULL;
        _cleanup_strv_free_ char **argv = NULL;
        _cleanup_free_ char *err = NULL, *flags = NULL;
        const char *args[10];
        char joined[1024] = "";
        size_t n = 0;
        PipeRecipient rcpts[] = {
                { "Bob+Ext@Example.COM", "orig@e.org" },
                { "carol@d.org", NULL },
        };
        PipeContext ctx = {
                .sender = c->sender, .nexthop = "MX.Example", .queue_id = "QID",
                .client_address = "192.0.2.1", .client_helo = "helo",
                .client_hostname = "host", .client_port = "25", .client_protocol = "ESMTP",
                .sasl_method = "PLAIN", .sasl_sender = "ss", .sasl_username = "su",
                .size = 1234, .recipient_delimiter = "+", .rcpts = rcpts, .n_rcpts = 2,
        };

        ck_assert_int_ge(asprintf(&flags, "flags=%s", c->flags), 0);
        args[n++] = flags;
        args[n++] = "user=a";
        for (size_t i = 0; c->templates[i]; i++) {
                static char buf[6][128];

                snprintf(buf[i], sizeof(buf[i]), "%s%s", i == 0 ? "argv=" : "",
                         c->templates[i]);
                args[n++] = buf[i];
        }
        ck_assert_int_eq(pipe_args_parse((char *const *) args, n, &a, &err), 0);
        ck_assert_int_eq(pipe_argv_expand(a, &ctx, &argv), 0);
        for (char **p = argv; *p; p++) {
                if (p != argv)
                        strcat(joined, "|");
                strcat(joined, *p);
        }
        ck_assert_str_eq(joined, c->expected);
}
END_TEST

START_TEST(test_expand_limits)
{
        _cleanup_(pipe_args_freep) PipeArgs *a = NULL;
        _cleanup_strv_free_ char **argv = NULL;
        _cleanup_free_ char *err = NULL, *addr = NULL;
        const char *args[] = { "user=a", "argv=/bin/x", "${recipient}", "${recipient}" };
        PipeRecipient *rcpts = calloc(PIPE_EXPANDED_ARGC_MAX, sizeof(PipeRecipient));
        PipeContext ctx = { .rcpts = rcpts };

        ck_assert_ptr_nonnull(rcpts);
        addr = malloc(2000);
        ck_assert_ptr_nonnull(addr);
        memset(addr, 'x', 1999);
        addr[1999] = '\0';
        for (size_t i = 0; i < PIPE_EXPANDED_ARGC_MAX; i++)
                rcpts[i].address = "a@b";
        ck_assert_int_eq(pipe_args_parse((char *const *) args, 4, &a, &err), 0);

        /* Argument count: 1 + 2 * n. */
        ctx.n_rcpts = PIPE_EXPANDED_ARGC_MAX / 2 - 1;
        ck_assert_int_eq(pipe_argv_expand(a, &ctx, &argv), 0);
        argv = (strv_free(argv), NULL);
        ctx.n_rcpts = PIPE_EXPANDED_ARGC_MAX / 2;
        ck_assert_int_eq(pipe_argv_expand(a, &ctx, &argv), -E2BIG);

        /* Bytes. */
        for (size_t i = 0; i < 600; i++)
                rcpts[i].address = addr;
        ctx.n_rcpts = 600;
        ck_assert_int_eq(pipe_argv_expand(a, &ctx, &argv), -E2BIG);
        ck_assert_ptr_null(argv);

        /* No recipient: recipient arguments vanish. */
        ctx.n_rcpts = 0;
        ck_assert_int_eq(pipe_argv_expand(a, &ctx, &argv), 0);
        ck_assert_str_eq(argv[0], "/bin/x");
        ck_assert_ptr_null(argv[1]);
        free(rcpts);
}
END_TEST

static const struct {
        const char *in, *out;
} quote_cases[] = {
        { "a@b", "a@b" },
        { "a.b@c", "a.b@c" },
        { "a b@c", "\"a b\"@c" },
        { "a\"b@c", "\"a\\\"b\"@c" },
        { "a\\b@c", "\"a\\\\b\"@c" },
        { ".a@c", "\".a\"@c" },
        { "a..b@c", "\"a..b\"@c" },
        { "a.@c", "\"a.\"@c" },
        { "x@y@c", "\"x@y\"@c" },
        { "noat", "noat" },
        { "no at", "\"no at\"" },
        { "@c", "@c" },
        { "\xc3\xa9t\xc3\xa9@c", "\xc3\xa9t\xc3\xa9@c" },
        { "a\tb@c", "\"a\tb\"@c" },
};

START_TEST(test_quote)
{
        _cleanup_free_ char *s = pipe_quote_address(quote_cases[_i].in);

        ck_assert_str_eq(s, quote_cases[_i].out);
}
END_TEST

/* ---- The stream ---- */

static const struct {
        unsigned flags;
        const char *eol;
        const char *in, *out;
} stream_cases[] = {
        { 0, "\n", "a\nb\n", "a\nb\n" },
        { 0, "\n", "a\nb", "a\nb\n" },
        { 0, "\n", "", "" },
        { 0, "\r\n", "a\n\nb\n", "a\r\n\r\nb\r\n" },
        { PIPE_FLAG_DOT, "\r\n", ".\n..x\na.b\n", "..\r\n...x\r\na.b\r\n" },
        { PIPE_FLAG_QUOTE_FROM, "\n", "From a\nFrom\nFro\n From x\nFrom ", 
          ">From a\nFrom\nFro\n From x\n>From \n" },
        { PIPE_FLAG_QUOTE_FROM, "\n", "Fr", "Fr\n" },
        { PIPE_FLAG_QUOTE_FROM | PIPE_FLAG_DOT, "\n", ".From x\nFrom .\n",
          "..From x\n>From .\n" },
        { PIPE_FLAG_BLANK, "\n", "a\n", "a\n\n" },
        { PIPE_FLAG_BLANK, "\n", "a", "a\n\n" },
        { PIPE_FLAG_BLANK, "\n", "", "\n" },
        { 0, "\n", "a\r\nb", "a\r\nb\n" },
};

static void stream_run(size_t i, size_t split, bool bytewise, Buf *out) {
        PipeStream s;
        const char *in = stream_cases[i].in;
        size_t n = strlen(in);

        pipe_stream_init(&s, stream_cases[i].flags, stream_cases[i].eol,
                         strlen(stream_cases[i].eol));
        if (bytewise)
                for (size_t k = 0; k < n; k++)
                        ck_assert_int_eq(pipe_stream_feed(&s, in + k, 1, out), 0);
        else {
                ck_assert_int_eq(pipe_stream_feed(&s, in, split, out), 0);
                ck_assert_int_eq(pipe_stream_feed(&s, in + split, n - split, out), 0);
        }
        ck_assert_int_eq(pipe_stream_finish(&s, out), 0);
}

START_TEST(test_stream_table)
{
        size_t n = strlen(stream_cases[_i].in);

        for (size_t split = 0; split <= n; split++) {
                _cleanup_(buf_done) Buf b = BUF_INIT(1024);

                stream_run((size_t) _i, split, false, &b);
                ck_assert_str_eq(b.data ? b.data : "", stream_cases[_i].out);
        }
        {
                _cleanup_(buf_done) Buf b = BUF_INIT(1024);

                stream_run((size_t) _i, 0, true, &b);
                ck_assert_str_eq(b.data ? b.data : "", stream_cases[_i].out);
        }
}
END_TEST

START_TEST(test_stream_full)
{
        _cleanup_(buf_done) Buf b = BUF_INIT(4);
        PipeStream s;

        pipe_stream_init(&s, 0, "\r\n", 2);
        ck_assert_int_eq(pipe_stream_feed(&s, "abcdef", 6, &b), -ENOBUFS);
}
END_TEST

/* ---- pipe_head_format() ---- */

START_TEST(test_head)
{
        PipeRecipient r = { "Bob@Example.COM", "orig@e.org" };
        PipeRecipient evil = { "x\n Y@e", NULL };
        char *s = NULL;

        ck_assert_int_eq(pipe_head_format(0, "MAILER-DAEMON", "a@b", &r, 0, &s), 0);
        ck_assert_str_eq(s, "");
        s = mfree(s);
        ck_assert_int_eq(pipe_head_format(PIPE_FLAG_FROM_LINE | PIPE_FLAG_RETURN_PATH |
                                          PIPE_FLAG_DELIVERED_TO | PIPE_FLAG_ORIGINAL_TO,
                                          "MAILER-DAEMON", "a@b", &r, 1700000000000000, &s), 0);
        ck_assert_str_eq(s, "From a@b  Tue Nov 14 22:13:20 2023\nReturn-Path: <a@b>\n"
                         "Delivered-To: bob@example.com\nX-Original-To: orig@e.org\n");
        s = mfree(s);
        ck_assert_int_eq(pipe_head_format(PIPE_FLAG_RETURN_PATH | PIPE_FLAG_FROM_LINE, "", "",
                                          &r, 0, &s), 0);
        ck_assert_str_eq(s, "From MAILER-DAEMON  Thu Jan  1 00:00:00 1970\nReturn-Path: <>\n");
        s = mfree(s);
        ck_assert_int_eq(pipe_head_format(PIPE_FLAG_RETURN_PATH, "nobody", "", &r, 0, &s), 0);
        ck_assert_str_eq(s, "Return-Path: <nobody>\n");
        s = mfree(s);
        /* A line end in a value cannot start a header line of its own. */
        ck_assert_int_eq(pipe_head_format(PIPE_FLAG_ORIGINAL_TO, "", "", &evil, 0, &s), 0);
        ck_assert_str_eq(s, "X-Original-To: x  Y@e\n");
        s = mfree(s);
}
END_TEST

/* ---- pipe_outcome_from_exit() ---- */

typedef struct ExitCase {
        int status;
        bool timed_out;
        const char *output;
        IpcStatus expected;
        const char *dsn, *text;
} ExitCase;

static const ExitCase exit_cases[] = {
        { W_EXITCODE(0, 0), false, "", IPC_STATUS_SENT, "2.0.0",
          "delivered via maildrop service" },
        { W_EXITCODE(0, 0), false, "ok\n", IPC_STATUS_SENT, "2.0.0",
          "delivered via maildrop service (ok)" },
        { W_EXITCODE(EX_NOUSER, 0), false, "no such user\n", IPC_STATUS_BOUNCED, "5.1.1",
          "user unknown. Command output: no such user" },
        { W_EXITCODE(EX_TEMPFAIL, 0), false, "", IPC_STATUS_DEFERRED, "4.3.0",
          "temporary failure" },
        { W_EXITCODE(EX_OSERR, 0), false, "", IPC_STATUS_DEFERRED, "4.3.0",
          "system resource problem" },
        { W_EXITCODE(EX_CONFIG, 0), false, "", IPC_STATUS_BOUNCED, "5.3.5",
          "local configuration error" },
        { W_EXITCODE(1, 0), false, "oops", IPC_STATUS_BOUNCED, "5.3.0",
          "Command died with status 1: \"/bin/cmd\". Command output: oops" },
        { W_EXITCODE(1, 0), false, "4.2.2 mailbox full\n", IPC_STATUS_DEFERRED, "4.2.2",
          "mailbox full" },
        { W_EXITCODE(EX_TEMPFAIL, 0), false, "5.7.1 go away", IPC_STATUS_BOUNCED, "5.7.1",
          "go away" },
        /* Not a code: 2.x.x never decides a failure, a bad code is text. */
        { W_EXITCODE(1, 0), false, "2.0.0 fine", IPC_STATUS_BOUNCED, "5.3.0",
          "Command died with status 1: \"/bin/cmd\". Command output: 2.0.0 fine" },
        { W_EXITCODE(1, 0), false, "5.01.1 x", IPC_STATUS_BOUNCED, "5.3.0",
          "Command died with status 1: \"/bin/cmd\". Command output: 5.01.1 x" },
        { 9, false, "", IPC_STATUS_DEFERRED, "4.3.0",
          "Command died with signal 9: \"/bin/cmd\"" },
        { 9, true, "partial", IPC_STATUS_DEFERRED, "4.3.0",
          "Command time limit exceeded: \"/bin/cmd\". Command output: partial" },
        { W_EXITCODE(0, 0), false, "a\x01" "b\n\n", IPC_STATUS_SENT, "2.0.0",
          "delivered via maildrop service (a\\x01b)" },
};

START_TEST(test_exit_table)
{
        const ExitCase *c = &exit_cases[_i];
        PipeOutcome o;

        pipe_outcome_from_exit("maildrop", "/bin/cmd", c->status, c->timed_out, c->output,
                               strlen(c->output), &o);
        ck_assert_int_eq(o.status, c->expected);
        ck_assert_str_eq(o.dsn, c->dsn);
        ck_assert_str_eq(o.text, c->text);
        ck_assert(ipc_dsn_is_valid(o.dsn));
        ck_assert_int_eq(o.dsn[0], ipc_status_dsn_class(o.status));
}
END_TEST

START_TEST(test_exit_long_output)
{
        char out[PIPE_OUTPUT_MAX * 3];
        PipeOutcome o;

        memset(out, '\xff', sizeof(out));
        pipe_outcome_from_exit("x", "/bin/cmd", W_EXITCODE(1, 0), false, out, sizeof(out), &o);
        ck_assert_int_eq(o.status, IPC_STATUS_BOUNCED);
        ck_assert_uint_le(strlen(o.text), PIPE_TEXT_MAX);
}
END_TEST

static Suite *pipe_args_suite(void) {
        Suite *s = suite_create("pipe_args");
        TCase *tc;

        tc = tcase_create("parse");
        tcase_add_loop_test(tc, test_args_table, 0, (int) ELEMENTSOF(args_cases));
        tcase_add_test(tc, test_args_limits);
        tcase_add_test(tc, test_flags_to_string);
        suite_add_tcase(s, tc);

        tc = tcase_create("expand");
        tcase_add_loop_test(tc, test_expand_table, 0, (int) ELEMENTSOF(expand_cases));
        tcase_add_test(tc, test_expand_limits);
        tcase_add_loop_test(tc, test_quote, 0, (int) ELEMENTSOF(quote_cases));
        suite_add_tcase(s, tc);

        tc = tcase_create("stream");
        tcase_add_loop_test(tc, test_stream_table, 0, (int) ELEMENTSOF(stream_cases));
        tcase_add_test(tc, test_stream_full);
        tcase_add_test(tc, test_head);
        suite_add_tcase(s, tc);

        tc = tcase_create("outcome");
        tcase_add_loop_test(tc, test_exit_table, 0, (int) ELEMENTSOF(exit_cases));
        tcase_add_test(tc, test_exit_long_output);
        suite_add_tcase(s, tc);
        return s;
}

TERN_CHECK_MAIN(pipe_args_suite)
