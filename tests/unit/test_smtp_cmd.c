/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Unit tests of smtp_cmd: command lines and their arguments from tables, streams of pipelined
 * and broken commands fed whole, byte by byte and split at every position, the line limit, and
 * the xtext helpers. */
#include <check.h>
#include <inttypes.h>

#include "check_main.h"
#include "smtp_cmd.h"

/* A canonical one-line description of a command, for table comparisons. */
static void describe(const SmtpCmd *c, Buf *out) {
        ck_assert_int_eq(buf_printf(out, "%s", smtp_cmd_verb_to_string(c->verb)), 0);
        if (c->verb == SMTP_VERB_UNKNOWN)
                ck_assert_int_eq(buf_printf(out, " verb=[%s]", c->verb_text), 0);
        if (c->error)
                ck_assert_int_eq(buf_printf(out, " err=%s",
                                            c->error == -EBADMSG      ? "BADMSG"
                                            : c->error == -EOPNOTSUPP ? "OPNOTSUPP"
                                                                      : "?"),
                                 0);
        if (c->arg_len > 0)
                ck_assert_int_eq(buf_printf(out, " arg=[%s]", c->arg), 0);
        ck_assert_uint_eq(strlen(c->arg), c->arg_len);
        if (c->path) {
                ck_assert_uint_eq(strlen(c->path), c->path_len);
                ck_assert_int_eq(buf_printf(out, " path=[%s]%s", c->path,
                                            c->path_bracketed ? "" : " bare"),
                                 0);
        }
        if (c->bad_param)
                ck_assert_int_eq(buf_printf(out, " bad=[%s]", c->bad_param), 0);
        if (c->size_set)
                ck_assert_int_eq(buf_printf(out, " size=%" PRIu64, c->size), 0);
        if (c->body)
                ck_assert_int_eq(buf_printf(out, " body=%s", smtp_cmd_body_to_string(c->body)),
                                 0);
        if (c->smtputf8)
                ck_assert_int_eq(buf_printf(out, " smtputf8"), 0);
        if (c->ret)
                ck_assert_int_eq(buf_printf(out, " ret=%s", smtp_cmd_ret_to_string(c->ret)), 0);
        if (c->envid)
                ck_assert_int_eq(buf_printf(out, " envid=[%s]", c->envid), 0);
        if (c->auth)
                ck_assert_int_eq(buf_printf(out, " auth=[%s]", c->auth), 0);
        if (c->notify)
                ck_assert_int_eq(buf_printf(out, " notify=%s%s%s%s",
                                            c->notify & SMTP_NOTIFY_NEVER ? "N" : "",
                                            c->notify & SMTP_NOTIFY_SUCCESS ? "S" : "",
                                            c->notify & SMTP_NOTIFY_FAILURE ? "F" : "",
                                            c->notify & SMTP_NOTIFY_DELAY ? "D" : ""),
                                 0);
        if (c->orcpt)
                ck_assert_int_eq(buf_printf(out, " orcpt=[%s;%s]", c->orcpt_type, c->orcpt), 0);
        if (c->verb == SMTP_VERB_BDAT && c->error == 0)
                ck_assert_int_eq(buf_printf(out, " chunk=%" PRIu64 "%s", c->chunk_size,
                                            c->last ? " LAST" : ""),
                                 0);
}

/* Feeds s (n bytes) in pieces of at most step bytes (0: the whole, else a first piece of
 * `first` bytes when first > 0 and then the rest), recording every result into out. */
static void run_stream(const SmtpLimits *lim, const char *s, size_t n, size_t first, size_t step,
                       Buf *out) {
        _cleanup_(smtp_cmd_parser_freep) SmtpCmdParser *p = NULL;
        size_t pos = 0;

        ck_assert_int_eq(smtp_cmd_parser_new(lim, &p), 0);
        while (pos < n) {
                size_t len = n - pos;

                if (first > 0 && pos == 0)
                        len = MIN(first, n);
                else if (step > 0)
                        len = MIN(step, n - pos);

                for (size_t off = 0; off < len;) {
                        SmtpCmd c;
                        size_t used = SIZE_MAX;
                        int r;

                        r = smtp_cmd_feed(p, s + pos + off, len - off, &used, &c);
                        ck_assert_uint_le(used, len - off);
                        ck_assert_uint_gt(used, 0);     /* progress */
                        off += used;
                        if (r == 0) {
                                ck_assert_uint_eq(off, len);
                                continue;
                        }
                        if (r > 0)
                                describe(&c, out);
                        else
                                ck_assert_int_eq(buf_printf(out, "E%s",
                                                            r == -EBADMSG ? "BADMSG"
                                                            : r == -EMSGSIZE ? "MSGSIZE"
                                                                             : "?"),
                                                 0);
                        ck_assert_int_eq(buf_append_str(out, "|"), 0);
                }
                pos += len;
        }
        if (smtp_cmd_parser_pending(p))
                ck_assert_int_eq(buf_append_str(out, "pending"), 0);
}

static const struct {
        const char *line;       /* without CRLF */
        const char *expected;
} line_cases[] = {
        /* verbs, case-insensitive */
        { "EHLO client.example", "EHLO arg=[client.example]" },
        { "ehlo client.example", "EHLO arg=[client.example]" },
        { "HeLo x", "HELO arg=[x]" },
        { "EHLO [192.0.2.1]", "EHLO arg=[[192.0.2.1]]" },
        { "EHLO   a b  ", "EHLO arg=[a b]" },
        { "EHLO\ta", "EHLO arg=[a]" },
        { "  NOOP", "NOOP" },
        { "EHLO", "EHLO err=BADMSG" },
        { "HELO ", "HELO err=BADMSG" },
        { "DATA", "DATA" },
        { "data", "DATA" },
        { "DATA x", "DATA err=BADMSG arg=[x]" },
        { "DATA   ", "DATA" },
        { "RSET", "RSET" },
        { "RSET now", "RSET err=BADMSG arg=[now]" },
        { "NOOP", "NOOP" },
        { "NOOP hello there", "NOOP arg=[hello there]" },
        { "QUIT", "QUIT" },
        { "QUIT bye", "QUIT arg=[bye]" },
        { "VRFY postmaster", "VRFY arg=[postmaster]" },
        { "VRFY", "VRFY err=BADMSG" },
        { "EXPN staff", "EXPN arg=[staff]" },
        { "EXPN", "EXPN err=BADMSG" },
        { "ETRN @example.org", "ETRN arg=[@example.org]" },
        { "ETRN", "ETRN err=BADMSG" },
        { "HELP", "HELP" },
        { "HELP MAIL", "HELP arg=[MAIL]" },
        { "STARTTLS", "STARTTLS" },
        { "starttls x", "STARTTLS err=BADMSG arg=[x]" },
        { "AUTH PLAIN dGVzdAB0ZXN0AHRlc3Q=", "AUTH arg=[PLAIN dGVzdAB0ZXN0AHRlc3Q=]" },
        { "AUTH", "AUTH err=BADMSG" },
        { "XCLIENT NAME=x", "UNKNOWN verb=[XCLIENT] arg=[NAME=x]" },
        { "MAILFROM:<a@b>", "UNKNOWN verb=[MAILFROM:<a@b>]" },
        { "GET / HTTP/1.0", "UNKNOWN verb=[GET] arg=[/ HTTP/1.0]" },
        { "", "UNKNOWN verb=[] err=BADMSG" },
        { "   ", "UNKNOWN verb=[] err=BADMSG" },
        { "\xc3\xa9HLO x", "UNKNOWN verb=[\xc3\xa9HLO] arg=[x]" },

        /* MAIL paths */
        { "MAIL FROM:<a@b.example>", "MAIL arg=[FROM:<a@b.example>] path=[<a@b.example>]" },
        { "mail from:<a@b>", "MAIL arg=[from:<a@b>] path=[<a@b>]" },
        { "MAIL FROM:<>", "MAIL arg=[FROM:<>] path=[<>]" },
        { "MAIL FROM: <a@b>", "MAIL arg=[FROM: <a@b>] path=[<a@b>]" },
        { "MAIL FROM:  <a@b>  ", "MAIL arg=[FROM:  <a@b>] path=[<a@b>]" },
        { "MAIL FROM:a@b", "MAIL arg=[FROM:a@b] path=[a@b] bare" },
        { "MAIL FROM: a@b SIZE=5", "MAIL arg=[FROM: a@b SIZE=5] path=[a@b] bare size=5" },
        { "MAIL FROM:<\"a>b c\"@d>", "MAIL arg=[FROM:<\"a>b c\"@d>] path=[<\"a>b c\"@d>]" },
        { "MAIL FROM:<\"a\\\"> x\"@d> SIZE=1",
          "MAIL arg=[FROM:<\"a\\\"> x\"@d> SIZE=1] path=[<\"a\\\"> x\"@d>] size=1" },
        { "MAIL FROM:\"a b\"@d", "MAIL arg=[FROM:\"a b\"@d] path=[\"a b\"@d] bare" },
        { "MAIL FROM:<@r1,@r2:u@d>", "MAIL arg=[FROM:<@r1,@r2:u@d>] path=[<@r1,@r2:u@d>]" },
        { "MAIL FROM:<j\xc3\xb6rg@b\xc3\xa4r.example> SMTPUTF8",
          "MAIL arg=[FROM:<j\xc3\xb6rg@b\xc3\xa4r.example> SMTPUTF8] "
          "path=[<j\xc3\xb6rg@b\xc3\xa4r.example>] smtputf8" },
        { "MAIL", "MAIL err=BADMSG" },
        { "MAIL TO:<a@b>", "MAIL err=BADMSG arg=[TO:<a@b>]" },
        { "MAIL FROM:", "MAIL err=BADMSG arg=[FROM:]" },
        { "MAIL FROM:   ", "MAIL err=BADMSG arg=[FROM:]" },
        { "MAIL FROM :<a@b>", "MAIL err=BADMSG arg=[FROM :<a@b>]" },
        { "MAIL FROM:<a@b", "MAIL err=BADMSG arg=[FROM:<a@b]" },
        { "MAIL FROM:<\"a>@b", "MAIL err=BADMSG arg=[FROM:<\"a>@b]" },
        { "MAIL FROM:\"a@b", "MAIL err=BADMSG arg=[FROM:\"a@b]" },
        { "MAIL FROM:<\"a\\", "MAIL err=BADMSG arg=[FROM:<\"a\\]" },
        { "MAIL FROM:<a@b>x", "MAIL err=BADMSG arg=[FROM:<a@b>x]" },
        { "MAIL FROM:<a@b><c@d>", "MAIL err=BADMSG arg=[FROM:<a@b><c@d>]" },

        /* MAIL parameters */
        { "MAIL FROM:<a@b> SIZE=1000", "MAIL arg=[FROM:<a@b> SIZE=1000] path=[<a@b>] size=1000" },
        { "MAIL FROM:<a@b> size=0", "MAIL arg=[FROM:<a@b> size=0] path=[<a@b>] size=0" },
        { "MAIL FROM:<> SIZE=18446744073709551615",
          "MAIL arg=[FROM:<> SIZE=18446744073709551615] path=[<>] size=18446744073709551615" },
        { "MAIL FROM:<> SIZE=18446744073709551616",
          "MAIL err=BADMSG arg=[FROM:<> SIZE=18446744073709551616] path=[<>] bad=[SIZE]" },
        { "MAIL FROM:<> SIZE=12k", "MAIL err=BADMSG arg=[FROM:<> SIZE=12k] path=[<>] bad=[SIZE]" },
        { "MAIL FROM:<> SIZE=-1", "MAIL err=BADMSG arg=[FROM:<> SIZE=-1] path=[<>] bad=[SIZE]" },
        { "MAIL FROM:<> SIZE=", "MAIL err=BADMSG arg=[FROM:<> SIZE=] path=[<>] bad=[SIZE]" },
        { "MAIL FROM:<> SIZE", "MAIL err=BADMSG arg=[FROM:<> SIZE] path=[<>] bad=[SIZE]" },
        { "MAIL FROM:<> SIZE=1 SIZE=2",
          "MAIL err=BADMSG arg=[FROM:<> SIZE=1 SIZE=2] path=[<>] bad=[SIZE] size=1" },
        { "MAIL FROM:<> BODY=8BITMIME",
          "MAIL arg=[FROM:<> BODY=8BITMIME] path=[<>] body=8BITMIME" },
        { "MAIL FROM:<> body=7bit", "MAIL arg=[FROM:<> body=7bit] path=[<>] body=7BIT" },
        { "MAIL FROM:<> BODY=BINARYMIME",
          "MAIL arg=[FROM:<> BODY=BINARYMIME] path=[<>] body=BINARYMIME" },
        { "MAIL FROM:<> BODY=9BIT",
          "MAIL err=BADMSG arg=[FROM:<> BODY=9BIT] path=[<>] bad=[BODY]" },
        { "MAIL FROM:<> BODY", "MAIL err=BADMSG arg=[FROM:<> BODY] path=[<>] bad=[BODY]" },
        { "MAIL FROM:<> BODY=7BIT BODY=7BIT",
          "MAIL err=BADMSG arg=[FROM:<> BODY=7BIT BODY=7BIT] path=[<>] bad=[BODY] body=7BIT" },
        { "MAIL FROM:<> SMTPUTF8", "MAIL arg=[FROM:<> SMTPUTF8] path=[<>] smtputf8" },
        { "MAIL FROM:<> smtputf8=yes",
          "MAIL err=BADMSG arg=[FROM:<> smtputf8=yes] path=[<>] bad=[smtputf8]" },
        { "MAIL FROM:<> SMTPUTF8 SMTPUTF8",
          "MAIL err=BADMSG arg=[FROM:<> SMTPUTF8 SMTPUTF8] path=[<>] bad=[SMTPUTF8] smtputf8" },
        { "MAIL FROM:<> RET=HDRS", "MAIL arg=[FROM:<> RET=HDRS] path=[<>] ret=HDRS" },
        { "MAIL FROM:<> ret=full", "MAIL arg=[FROM:<> ret=full] path=[<>] ret=FULL" },
        { "MAIL FROM:<> RET=NONE", "MAIL err=BADMSG arg=[FROM:<> RET=NONE] path=[<>] bad=[RET]" },
        { "MAIL FROM:<> RET=FULL RET=HDRS",
          "MAIL err=BADMSG arg=[FROM:<> RET=FULL RET=HDRS] path=[<>] bad=[RET] ret=FULL" },
        { "MAIL FROM:<> ENVID=QQ314159",
          "MAIL arg=[FROM:<> ENVID=QQ314159] path=[<>] envid=[QQ314159]" },
        { "MAIL FROM:<> ENVID=a+2Bb+3Dc",
          "MAIL arg=[FROM:<> ENVID=a+2Bb+3Dc] path=[<>] envid=[a+b=c]" },
        { "MAIL FROM:<> ENVID=a+20b", "MAIL arg=[FROM:<> ENVID=a+20b] path=[<>] envid=[a b]" },
        { "MAIL FROM:<> ENVID=a+2",
          "MAIL err=BADMSG arg=[FROM:<> ENVID=a+2] path=[<>] bad=[ENVID]" },
        { "MAIL FROM:<> ENVID=a+0D",
          "MAIL err=BADMSG arg=[FROM:<> ENVID=a+0D] path=[<>] bad=[ENVID]" },
        { "MAIL FROM:<> ENVID=a+00",
          "MAIL err=BADMSG arg=[FROM:<> ENVID=a+00] path=[<>] bad=[ENVID]" },
        { "MAIL FROM:<> ENVID=x ENVID=y",
          "MAIL err=BADMSG arg=[FROM:<> ENVID=x ENVID=y] path=[<>] bad=[ENVID] envid=[x]" },
        { "MAIL FROM:<> AUTH=<>", "MAIL arg=[FROM:<> AUTH=<>] path=[<>] auth=[<>]" },
        { "MAIL FROM:<> AUTH=e+3Dmc2@example.com",
          "MAIL arg=[FROM:<> AUTH=e+3Dmc2@example.com] path=[<>] auth=[e+3Dmc2@example.com]" },
        { "MAIL FROM:<> AUTH=a+zz",
          "MAIL err=BADMSG arg=[FROM:<> AUTH=a+zz] path=[<>] bad=[AUTH]" },
        { "MAIL FROM:<> AUTH", "MAIL err=BADMSG arg=[FROM:<> AUTH] path=[<>] bad=[AUTH]" },
        { "MAIL FROM:<a@b> SIZE=10 BODY=8BITMIME SMTPUTF8 RET=HDRS ENVID=x AUTH=<>",
          "MAIL arg=[FROM:<a@b> SIZE=10 BODY=8BITMIME SMTPUTF8 RET=HDRS ENVID=x AUTH=<>] "
          "path=[<a@b>] size=10 body=8BITMIME smtputf8 ret=HDRS envid=[x] auth=[<>]" },
        { "MAIL FROM:<a@b>   SIZE=10\t BODY=7BIT  ",
          "MAIL arg=[FROM:<a@b>   SIZE=10\t BODY=7BIT] path=[<a@b>] size=10 body=7BIT" },
        { "MAIL FROM:<> XVERP", "MAIL err=OPNOTSUPP arg=[FROM:<> XVERP] path=[<>] bad=[XVERP]" },
        { "MAIL FROM:<> FOO=bar SIZE=x",
          "MAIL err=OPNOTSUPP arg=[FROM:<> FOO=bar SIZE=x] path=[<>] bad=[FOO]" },
        { "MAIL FROM:<> NOTIFY=NEVER",
          "MAIL err=OPNOTSUPP arg=[FROM:<> NOTIFY=NEVER] path=[<>] bad=[NOTIFY]" },
        { "MAIL FROM:<> -SIZE=1", "MAIL err=BADMSG arg=[FROM:<> -SIZE=1] path=[<>] bad=[-SIZE]" },
        { "MAIL FROM:<> =1", "MAIL err=BADMSG arg=[FROM:<> =1] path=[<>] bad=[]" },
        { "MAIL FROM:<> X_Y=1", "MAIL err=BADMSG arg=[FROM:<> X_Y=1] path=[<>] bad=[X_Y]" },
        { "MAIL FROM:<> X-Y=1", "MAIL err=OPNOTSUPP arg=[FROM:<> X-Y=1] path=[<>] bad=[X-Y]" },
        { "MAIL FROM:<> X=a=b", "MAIL err=BADMSG arg=[FROM:<> X=a=b] path=[<>] bad=[X]" },
        { "MAIL FROM:<> X=\x7f", "MAIL err=BADMSG arg=[FROM:<> X=\x7f] path=[<>] bad=[X]" },
        { "MAIL FROM:<> X=\xc3\xa9",
          "MAIL err=OPNOTSUPP arg=[FROM:<> X=\xc3\xa9] path=[<>] bad=[X]" },

        /* RCPT */
        { "RCPT TO:<u@d>", "RCPT arg=[TO:<u@d>] path=[<u@d>]" },
        { "rcpt to: <u@d>", "RCPT arg=[to: <u@d>] path=[<u@d>]" },
        { "RCPT TO:<Postmaster>", "RCPT arg=[TO:<Postmaster>] path=[<Postmaster>]" },
        { "RCPT TO:postmaster", "RCPT arg=[TO:postmaster] path=[postmaster] bare" },
        { "RCPT FROM:<u@d>", "RCPT err=BADMSG arg=[FROM:<u@d>]" },
        { "RCPT TO:", "RCPT err=BADMSG arg=[TO:]" },
        { "RCPT TO:<u@d> NOTIFY=NEVER", "RCPT arg=[TO:<u@d> NOTIFY=NEVER] path=[<u@d>] notify=N" },
        { "RCPT TO:<u@d> NOTIFY=SUCCESS,FAILURE,DELAY",
          "RCPT arg=[TO:<u@d> NOTIFY=SUCCESS,FAILURE,DELAY] path=[<u@d>] notify=SFD" },
        { "RCPT TO:<u@d> notify=delay,success",
          "RCPT arg=[TO:<u@d> notify=delay,success] path=[<u@d>] notify=SD" },
        { "RCPT TO:<u@d> NOTIFY=NEVER,DELAY",
          "RCPT err=BADMSG arg=[TO:<u@d> NOTIFY=NEVER,DELAY] path=[<u@d>] bad=[NOTIFY]" },
        { "RCPT TO:<u@d> NOTIFY=SUCCESS,SUCCESS",
          "RCPT err=BADMSG arg=[TO:<u@d> NOTIFY=SUCCESS,SUCCESS] path=[<u@d>] bad=[NOTIFY]" },
        { "RCPT TO:<u@d> NOTIFY=SUCCESS,",
          "RCPT err=BADMSG arg=[TO:<u@d> NOTIFY=SUCCESS,] path=[<u@d>] bad=[NOTIFY]" },
        { "RCPT TO:<u@d> NOTIFY=ALWAYS",
          "RCPT err=BADMSG arg=[TO:<u@d> NOTIFY=ALWAYS] path=[<u@d>] bad=[NOTIFY]" },
        { "RCPT TO:<u@d> NOTIFY=DELAY NOTIFY=DELAY",
          "RCPT err=BADMSG arg=[TO:<u@d> NOTIFY=DELAY NOTIFY=DELAY] path=[<u@d>] bad=[NOTIFY] "
          "notify=D" },
        { "RCPT TO:<u@d> ORCPT=rfc822;u+40d",
          "RCPT arg=[TO:<u@d> ORCPT=rfc822;u+40d] path=[<u@d>] orcpt=[rfc822;u@d]" },
        { "RCPT TO:<u@d> ORCPT=RFC822;\"a+20b\"@d",
          "RCPT arg=[TO:<u@d> ORCPT=RFC822;\"a+20b\"@d] path=[<u@d>] orcpt=[RFC822;\"a b\"@d]" },
        { "RCPT TO:<u@d> ORCPT=utf-8;j\\x{F6}rg@d",
          "RCPT arg=[TO:<u@d> ORCPT=utf-8;j\\x{F6}rg@d] path=[<u@d>] orcpt=[utf-8;j\\x{F6}rg@d]" },
        { "RCPT TO:<u@d> ORCPT=rfc822",
          "RCPT err=BADMSG arg=[TO:<u@d> ORCPT=rfc822] path=[<u@d>] bad=[ORCPT]" },
        { "RCPT TO:<u@d> ORCPT=;u@d",
          "RCPT err=BADMSG arg=[TO:<u@d> ORCPT=;u@d] path=[<u@d>] bad=[ORCPT]" },
        { "RCPT TO:<u@d> ORCPT=rfc822;",
          "RCPT err=BADMSG arg=[TO:<u@d> ORCPT=rfc822;] path=[<u@d>] bad=[ORCPT]" },
        { "RCPT TO:<u@d> ORCPT=rfc.822;u@d",
          "RCPT err=BADMSG arg=[TO:<u@d> ORCPT=rfc.822;u@d] path=[<u@d>] bad=[ORCPT]" },
        { "RCPT TO:<u@d> ORCPT=rfc822;u+4",
          "RCPT err=BADMSG arg=[TO:<u@d> ORCPT=rfc822;u+4] path=[<u@d>] bad=[ORCPT]" },
        { "RCPT TO:<u@d> ORCPT=rfc822;a+0Ab",
          "RCPT err=BADMSG arg=[TO:<u@d> ORCPT=rfc822;a+0Ab] path=[<u@d>] bad=[ORCPT]" },
        { "RCPT TO:<u@d> ORCPT=rfc822;a ORCPT=rfc822;b",
          "RCPT err=BADMSG arg=[TO:<u@d> ORCPT=rfc822;a ORCPT=rfc822;b] path=[<u@d>] bad=[ORCPT] "
          "orcpt=[rfc822;a]" },
        { "RCPT TO:<u@d> NOTIFY=FAILURE ORCPT=rfc822;u@d",
          "RCPT arg=[TO:<u@d> NOTIFY=FAILURE ORCPT=rfc822;u@d] path=[<u@d>] notify=F "
          "orcpt=[rfc822;u@d]" },
        { "RCPT TO:<u@d> SIZE=1",
          "RCPT err=OPNOTSUPP arg=[TO:<u@d> SIZE=1] path=[<u@d>] bad=[SIZE]" },
        { "RCPT TO:<u@d> SMTPUTF8",
          "RCPT err=OPNOTSUPP arg=[TO:<u@d> SMTPUTF8] path=[<u@d>] bad=[SMTPUTF8]" },

        /* BDAT */
        { "BDAT 0", "BDAT arg=[0] chunk=0" },
        { "BDAT 1000", "BDAT arg=[1000] chunk=1000" },
        { "BDAT 86 LAST", "BDAT arg=[86 LAST] chunk=86 LAST" },
        { "bdat 0 last", "BDAT arg=[0 last] chunk=0 LAST" },
        { "BDAT 5   LAST  ", "BDAT arg=[5   LAST] chunk=5 LAST" },
        { "BDAT 18446744073709551615",
          "BDAT arg=[18446744073709551615] chunk=18446744073709551615" },
        { "BDAT 18446744073709551616", "BDAT err=BADMSG arg=[18446744073709551616]" },
        { "BDAT 99999999999999999999999", "BDAT err=BADMSG arg=[99999999999999999999999]" },
        { "BDAT", "BDAT err=BADMSG" },
        { "BDAT LAST", "BDAT err=BADMSG arg=[LAST]" },
        { "BDAT -1", "BDAT err=BADMSG arg=[-1]" },
        { "BDAT +1", "BDAT err=BADMSG arg=[+1]" },
        { "BDAT 1x", "BDAT err=BADMSG arg=[1x]" },
        { "BDAT 1LAST", "BDAT err=BADMSG arg=[1LAST]" },
        { "BDAT 1 LAST x", "BDAT err=BADMSG arg=[1 LAST x]" },
        { "BDAT 1 FIRST", "BDAT err=BADMSG arg=[1 FIRST]" },
};

START_TEST(test_cmd_lines)
{
        SmtpLimits lim = SMTP_LIMITS_RFC5321;

        for (size_t i = 0; i < ELEMENTSOF(line_cases); i++) {
                _cleanup_(buf_done) Buf in = BUF_INIT(4096);
                _cleanup_(buf_done) Buf out = BUF_INIT(4096);
                _cleanup_free_ char *expected = NULL;

                ck_assert_int_eq(buf_printf(&in, "%s\r\n", line_cases[i].line), 0);
                run_stream(&lim, buf_peek(&in), buf_pending(&in), 0, 0, &out);
                ck_assert_int_ge(asprintf(&expected, "%s|", line_cases[i].expected), 0);
                ck_assert_msg(streq(buf_peek(&out), expected), "case %zu '%s': got '%s'", i,
                              line_cases[i].line, buf_peek(&out));
        }
}
END_TEST

/* Streams: several commands, errors in between; the results in order. */
static const struct {
        const char *input;
        size_t len;             /* 0: strlen */
        const char *expected;
} stream_cases[] = {
        { "EHLO a\r\nMAIL FROM:<x@y>\r\nRCPT TO:<z@y>\r\nDATA\r\n",
          0,
          "EHLO arg=[a]|MAIL arg=[FROM:<x@y>] path=[<x@y>]|RCPT arg=[TO:<z@y>] path=[<z@y>]|"
          "DATA|" },
        { "NOOP\r\nQUIT\r\n", 0, "NOOP|QUIT|" },
        { "NOOP\r\nQUI", 0, "NOOP|pending" },
        { "NOOP\r\nQUIT\r", 0, "NOOP|pending" },
        { "NOOP", 0, "pending" },
        { "", 0, "" },
        /* bare LF, bare CR, NUL: one error per line, then in step again */
        { "NOOP\nQUIT\r\nRSET\r\n", 0, "EBADMSG|RSET|" },
        { "NOOP\rQUIT\r\nRSET\r\n", 0, "EBADMSG|RSET|" },
        { "NO\0OP\r\nRSET\r\n", 13, "EBADMSG|RSET|" },
        { "\n\r\nRSET\r\n", 0, "EBADMSG|RSET|" },
        { "\r\r\nRSET\r\n", 0, "EBADMSG|RSET|" },
        { "\nRSET\r\n", 0, "EBADMSG|" },
        { "\n\n\n\r\nRSET\r\n", 0, "EBADMSG|RSET|" },
        { "NOOP\n", 0, "EBADMSG|pending" },
        { "NOOP\n\r", 0, "EBADMSG|pending" },
        { "NOOP\n\r\n", 0, "EBADMSG|" },
        { "A\nB\nC\r\nD\nE\r\nQUIT\r\n", 0, "EBADMSG|EBADMSG|QUIT|" },
        /* SMTP smuggling in commands: a bare LF never ends a command */
        { "RSET\nMAIL FROM:<evil@x>\r\nQUIT\r\n", 0, "EBADMSG|QUIT|" },
        { "\r\n", 0, "UNKNOWN verb=[] err=BADMSG|" },
        { "\r\n\r\nQUIT\r\n", 0, "UNKNOWN verb=[] err=BADMSG|UNKNOWN verb=[] err=BADMSG|QUIT|" },
        { "BDAT 5 LAST\r\nhello", 0, "BDAT arg=[5 LAST] chunk=5 LAST|pending" },
};

/* The results of a stream fed whole, byte by byte and split at every position agree. */
static void check_stream_splits(const SmtpLimits *lim, const char *s, size_t n,
                                const char *expected) {
        _cleanup_(buf_done) Buf whole = BUF_INIT(1 << 20);
        _cleanup_(buf_done) Buf bytes = BUF_INIT(1 << 20);

        run_stream(lim, s, n, 0, 0, &whole);
        if (expected)
                ck_assert_msg(streq(buf_peek(&whole), expected), "'%s': got '%s'", s,
                              buf_peek(&whole));
        run_stream(lim, s, n, 0, 1, &bytes);
        ck_assert_msg(streq(buf_peek(&whole), buf_peek(&bytes)), "byte by byte: '%s' != '%s'",
                      buf_peek(&whole), buf_peek(&bytes));
        for (size_t k = 1; k < n; k++) {
                _cleanup_(buf_done) Buf split = BUF_INIT(1 << 20);

                run_stream(lim, s, n, k, 0, &split);
                ck_assert_msg(streq(buf_peek(&whole), buf_peek(&split)),
                              "split at %zu: '%s' != '%s'", k, buf_peek(&whole), buf_peek(&split));
        }
}

START_TEST(test_cmd_streams)
{
        SmtpLimits lim = SMTP_LIMITS_RFC5321;

        for (size_t i = 0; i < ELEMENTSOF(stream_cases); i++) {
                const char *s = stream_cases[i].input;
                size_t n = stream_cases[i].len ?: strlen(s);

                check_stream_splits(&lim, s, n, stream_cases[i].expected);
        }
}
END_TEST

START_TEST(test_cmd_line_splits)
{
        SmtpLimits lim = SMTP_LIMITS_RFC5321;

        /* Every table line, pipelined behind a NOOP and before a QUIT, split everywhere. */
        for (size_t i = 0; i < ELEMENTSOF(line_cases); i++) {
                _cleanup_(buf_done) Buf in = BUF_INIT(4096);
                _cleanup_free_ char *expected = NULL;

                ck_assert_int_eq(buf_printf(&in, "NOOP\r\n%s\r\nQUIT\r\n", line_cases[i].line), 0);
                ck_assert_int_ge(asprintf(&expected, "NOOP|%s|QUIT|", line_cases[i].expected), 0);
                check_stream_splits(&lim, buf_peek(&in), buf_pending(&in), expected);
        }
}
END_TEST

static void check_small(const SmtpLimits *lim, const char *s, const char *expected) {
        check_stream_splits(lim, s, strlen(s), expected);
}

START_TEST(test_cmd_line_limit)
{
        SmtpLimits lim = SMTP_LIMITS_RFC5321;
        SmtpLimits small = SMTP_LIMITS_RFC5321;
        _cleanup_(buf_done) Buf in = BUF_INIT(1 << 20);
        _cleanup_(buf_done) Buf out = BUF_INIT(1 << 20);
        _cleanup_(smtp_cmd_parser_freep) SmtpCmdParser *p = NULL;
        char long_arg[600];

        /* 510 octets + CRLF = 512: accepted (RFC 5321 §4.5.3.1.4); one more is too long. */
        memset(long_arg, 'a', sizeof(long_arg));
        ck_assert_int_eq(buf_printf(&in, "NOOP %.*s\r\n", 505, long_arg), 0);
        ck_assert_int_eq(buf_pending(&in), 512);
        run_stream(&lim, buf_peek(&in), buf_pending(&in), 0, 0, &out);
        ck_assert(startswith(buf_peek(&out), "NOOP arg=[aaa"));
        check_stream_splits(&lim, buf_peek(&in), buf_pending(&in), NULL);

        buf_clear(&in);
        buf_clear(&out);
        ck_assert_int_eq(buf_printf(&in, "NOOP %.*s\r\nQUIT\r\n", 506, long_arg), 0);
        run_stream(&lim, buf_peek(&in), buf_pending(&in), 0, 0, &out);
        ck_assert_str_eq(buf_peek(&out), "EMSGSIZE|QUIT|");
        check_stream_splits(&lim, buf_peek(&in), buf_pending(&in), "EMSGSIZE|QUIT|");

        /* Far too long: skipped without bound, with CRs and LFs inside. */
        buf_clear(&in);
        buf_clear(&out);
        for (size_t i = 0; i < 3; i++)
                ck_assert_int_eq(buf_printf(&in, "%.*s\r%.*s\n", 599, long_arg, 300, long_arg), 0);
        ck_assert_int_eq(buf_append_str(&in, "\r\nRSET\r\n"), 0);
        check_stream_splits(&lim, buf_peek(&in), buf_pending(&in), "EMSGSIZE|RSET|");

        /* A line exactly at a small limit, and a CR right at the limit. */
        small.command_line = SMTP_CMD_LINE_MIN;
        check_small(&small, "NOOP 012345678\r\nQUIT\r\n", "NOOP arg=[012345678]|QUIT|");
        check_small(&small, "NOOP 0123456789\r\nQUIT\r\n", "EMSGSIZE|QUIT|");
        check_small(&small, "NOOP 012345678\rX\r\nQUIT\r\n", "EBADMSG|QUIT|");
        check_small(&small, "NOOP 01234567\n\r\nQUIT\r\n", "EBADMSG|QUIT|");

        /* Bad limits. */
        small.command_line = SMTP_CMD_LINE_MIN - 1;
        ck_assert_int_eq(smtp_cmd_parser_new(&small, &p), -EINVAL);
        ck_assert_ptr_null(p);
}
END_TEST

START_TEST(test_cmd_parser_state)
{
        SmtpLimits lim = SMTP_LIMITS_RFC5321;
        _cleanup_(smtp_cmd_parser_freep) SmtpCmdParser *p = NULL;
        SmtpCmd c;
        size_t used;

        ck_assert_int_eq(smtp_cmd_parser_new(&lim, &p), 0);
        ck_assert(!smtp_cmd_parser_pending(p));
        ck_assert_int_eq(smtp_cmd_feed(p, "RSET", 4, &used, &c), 0);
        ck_assert_uint_eq(used, 4);
        ck_assert(smtp_cmd_parser_pending(p));
        smtp_cmd_parser_reset(p);
        ck_assert(!smtp_cmd_parser_pending(p));
        ck_assert_int_eq(smtp_cmd_feed(p, "\r\nQUIT\r\n", 8, &used, &c), 1);
        ck_assert_uint_eq(used, 2);
        ck_assert_int_eq(c.verb, SMTP_VERB_UNKNOWN);
        ck_assert_int_eq(c.error, -EBADMSG);

        /* After an error the parser skips; a reset ends the skipping. */
        ck_assert_int_eq(smtp_cmd_feed(p, "X\nY", 3, &used, &c), -EBADMSG);
        ck_assert_uint_eq(used, 3);
        ck_assert(smtp_cmd_parser_pending(p));
        smtp_cmd_parser_reset(p);
        ck_assert_int_eq(smtp_cmd_feed(p, "QUIT\r\n", 6, &used, &c), 1);
        ck_assert_int_eq(c.verb, SMTP_VERB_QUIT);

        /* Nothing in, nothing out. */
        ck_assert_int_eq(smtp_cmd_feed(p, "", 0, &used, &c), 0);
        ck_assert_uint_eq(used, 0);

        /* The command's pointers survive until the next call; the rest is left to the caller. */
        ck_assert_int_eq(smtp_cmd_feed(p, "DATA\r\nSubject: x\r\n", 19, &used, &c), 1);
        ck_assert_uint_eq(used, 6);
        ck_assert(!smtp_cmd_parser_pending(p));
        ck_assert_str_eq(c.verb_text, "DATA");
}
END_TEST

START_TEST(test_cmd_verb_names)
{
        for (SmtpVerb v = 0; v < _SMTP_VERB_MAX; v++) {
                const char *s = smtp_cmd_verb_to_string(v);

                ck_assert_ptr_nonnull(s);
                if (v != SMTP_VERB_UNKNOWN)
                        ck_assert_int_eq(smtp_cmd_verb_from_string(s, strlen(s)), v);
        }
        ck_assert_ptr_null(smtp_cmd_verb_to_string(_SMTP_VERB_MAX));
        ck_assert_ptr_null(smtp_cmd_verb_to_string(_SMTP_VERB_INVALID));
        ck_assert_int_eq(smtp_cmd_verb_from_string("UNKNOWN", 7), SMTP_VERB_UNKNOWN);
        ck_assert_int_eq(smtp_cmd_verb_from_string("STARTTLSX", 8), SMTP_VERB_STARTTLS);
        ck_assert_int_eq(smtp_cmd_verb_from_string("STARTTLSX", 9), SMTP_VERB_UNKNOWN);
        ck_assert_int_eq(smtp_cmd_verb_from_string("", 0), SMTP_VERB_UNKNOWN);
        ck_assert_str_eq(smtp_cmd_body_to_string(SMTP_BODY_8BITMIME), "8BITMIME");
        ck_assert_ptr_null(smtp_cmd_body_to_string(SMTP_BODY_UNSET));
        ck_assert_ptr_null(smtp_cmd_body_to_string(_SMTP_BODY_MAX));
        ck_assert_str_eq(smtp_cmd_ret_to_string(SMTP_RET_HDRS), "HDRS");
        ck_assert_ptr_null(smtp_cmd_ret_to_string(SMTP_RET_UNSET));
        ck_assert_ptr_null(smtp_cmd_ret_to_string(_SMTP_RET_INVALID));
}
END_TEST

static const struct {
        const char *xtext;
        const char *decoded;    /* NULL: invalid */
} xtext_cases[] = {
        { "", "" },
        { "abc", "abc" },
        { "a+2Bb", "a+b" },
        { "a+3Db", "a=b" },
        { "+20", " " },
        { "+2b+3d", "+=" },
        { "!~\"*,<>", "!~\"*,<>" },
        { "+C3+A9", "\xc3\xa9" },
        { "+", NULL },
        { "+2", NULL },
        { "a+", NULL },
        { "+G0", NULL },
        { "+0G", NULL },
        { "a=b", NULL },
        { "a b", NULL },
        { "a\tb", NULL },
        { "\x7f", NULL },
        { "\xc3\xa9", NULL },
};

START_TEST(test_cmd_xtext)
{
        _cleanup_(buf_done) Buf b = BUF_INIT(4096);
        _cleanup_(buf_done) Buf small = BUF_INIT(4);
        char all[256], dec[3 * 256 + 1];
        size_t len;

        for (size_t i = 0; i < ELEMENTSOF(xtext_cases); i++) {
                const char *x = xtext_cases[i].xtext;
                char out[64];
                int r;

                r = smtp_cmd_xtext_decode(x, strlen(x), out, &len);
                ck_assert_int_eq(smtp_cmd_xtext_is_valid(x, strlen(x)), !!xtext_cases[i].decoded);
                if (!xtext_cases[i].decoded) {
                        ck_assert_msg(r == -EBADMSG, "'%s' should be invalid", x);
                        continue;
                }
                ck_assert_int_eq(r, 0);
                ck_assert_uint_eq(len, strlen(xtext_cases[i].decoded));
                ck_assert_str_eq(out, xtext_cases[i].decoded);
        }

        /* Encoding: every byte, then decoding gives them back (in place). */
        for (size_t i = 0; i < sizeof(all); i++)
                all[i] = (char) i;
        ck_assert_int_eq(smtp_cmd_xtext_encode(all, sizeof(all), &b), 0);
        ck_assert(smtp_cmd_xtext_is_valid(buf_peek(&b), buf_pending(&b)));
        ck_assert(strstr(buf_peek(&b), "+00+01"));
        ck_assert(strstr(buf_peek(&b), "+2A") == NULL);         /* '*' is itself */
        ck_assert(strstr(buf_peek(&b), "*+2B,"));
        ck_assert(strstr(buf_peek(&b), "<+3D>"));
        ck_assert(strstr(buf_peek(&b), "}~+7F+80"));
        ck_assert(strstr(buf_peek(&b), "+FF"));
        ck_assert_uint_lt(buf_pending(&b), sizeof(dec));
        memcpy(dec, buf_peek(&b), buf_pending(&b));
        ck_assert_int_eq(smtp_cmd_xtext_decode(dec, buf_pending(&b), dec, &len), 0);
        ck_assert_uint_eq(len, sizeof(all));
        ck_assert(memcmp(dec, all, sizeof(all)) == 0);

        buf_clear(&b);
        ck_assert_int_eq(smtp_cmd_xtext_encode("a=b c", 5, &b), 0);
        ck_assert_str_eq(buf_peek(&b), "a+3Db+20c");
        buf_clear(&b);
        ck_assert_int_eq(smtp_cmd_xtext_encode("", 0, &b), 0);
        ck_assert_str_eq(buf_peek(&b), "");
        ck_assert_int_eq(smtp_cmd_xtext_encode("a=b c", 5, &small), -ENOBUFS);
}
END_TEST

static Suite *smtp_cmd_suite(void) {
        Suite *s = suite_create("smtp_cmd");
        TCase *tc;

        tc = tcase_create("lines");
        tcase_add_test(tc, test_cmd_lines);
        tcase_add_test(tc, test_cmd_verb_names);
        suite_add_tcase(s, tc);

        tc = tcase_create("feed");
        tcase_add_test(tc, test_cmd_streams);
        tcase_add_test(tc, test_cmd_line_splits);
        tcase_add_test(tc, test_cmd_line_limit);
        tcase_add_test(tc, test_cmd_parser_state);
        tcase_set_timeout(tc, 120);
        suite_add_tcase(s, tc);

        tc = tcase_create("xtext");
        tcase_add_test(tc, test_cmd_xtext);
        suite_add_tcase(s, tc);

        return s;
}

TERN_CHECK_MAIN(smtp_cmd_suite)
