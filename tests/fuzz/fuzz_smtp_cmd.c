/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Fuzz target for smtp_cmd: arbitrary bytes fed as an SMTP command stream, whole and in pieces
 * whose sizes come from the first input bytes. Invariants: *ret_used <= n, progress on every
 * call, the same commands and errors whatever the split, consistent command fields, and xtext
 * encode/decode round trips. Layout: byte 0 picks the line limit, bytes 1-4 the piece sizes. */
#include <stdint.h>

#include "buf.h"
#include "log.h"
#include "smtp_cmd.h"

#define FUZZ_MAX (64 * 1024)
#define HEADER 5

static void describe(const SmtpCmd *c, Buf *out) {
        /* Output limits are generous; a failure to record would only weaken the comparison. */
        (void) buf_printf(out, "%d/%d/", (int) c->verb, c->error);
        (void) buf_append(out, c->arg, c->arg_len);
        assert(strlen(c->arg) == c->arg_len);
        assert(c->verb_text);
        if (c->path) {
                assert(strlen(c->path) == c->path_len);
                assert(c->path_len > 0);
                assert(c->path_bracketed == (c->path[0] == '<'));
                if (c->path_bracketed)
                        assert(c->path[c->path_len - 1] == '>');
                (void) buf_printf(out, "/p=%s", c->path);
        }
        if (c->bad_param)
                (void) buf_printf(out, "/bad=%s", c->bad_param);
        assert(!c->bad_param || c->error != 0);
        if (c->error == -EOPNOTSUPP)
                assert(c->bad_param);
        assert(c->error == 0 || c->error == -EBADMSG || c->error == -EOPNOTSUPP);
        if (c->size_set)
                (void) buf_printf(out, "/size=%llu", (unsigned long long) c->size);
        (void) buf_printf(out, "/b%d/u%d/r%d/n%u", (int) c->body, c->smtputf8, (int) c->ret,
                          c->notify);
        if (c->notify & SMTP_NOTIFY_NEVER)
                assert(c->notify == SMTP_NOTIFY_NEVER);
        if (c->envid) {
                for (const char *s = c->envid; *s; s++)
                        assert((unsigned char) *s >= 32 && *s != 127);
                (void) buf_printf(out, "/e=%s", c->envid);
        }
        if (c->auth)
                (void) buf_printf(out, "/a=%s", c->auth);
        if (c->orcpt)
                (void) buf_printf(out, "/o=%s;%s", c->orcpt_type, c->orcpt);
        assert(!c->orcpt == !c->orcpt_type);
        if (c->verb == SMTP_VERB_BDAT)
                (void) buf_printf(out, "/c=%llu%s", (unsigned long long) c->chunk_size,
                                  c->last ? "L" : "");
        (void) buf_append_char(out, '\n');
}

static void run(const SmtpLimits *lim, const char *s, size_t n, const uint8_t *steps, Buf *out) {
        _cleanup_(smtp_cmd_parser_freep) SmtpCmdParser *p = NULL;
        size_t pos = 0, si = 0;

        assert(smtp_cmd_parser_new(lim, &p) == 0);
        while (pos < n) {
                size_t step = steps ? (size_t) steps[si++ % 4] + 1 : SIZE_MAX;
                size_t len = MIN(step, n - pos);        /* MIN() evaluates twice */
                size_t off = 0;

                while (off < len) {
                        SmtpCmd c;
                        size_t used = SIZE_MAX;
                        int r;

                        r = smtp_cmd_feed(p, s + pos + off, len - off, &used, &c);
                        assert(used <= len - off);
                        assert(used > 0);
                        off += used;
                        if (r == 0) {
                                assert(off == len);
                                break;
                        }
                        if (r > 0)
                                describe(&c, out);
                        else {
                                assert(r == -EBADMSG || r == -EMSGSIZE);
                                (void) buf_printf(out, "E%d\n", r);
                        }
                }
                pos += len;
        }
        (void) buf_printf(out, "pending=%d", smtp_cmd_parser_pending(p));
}

static void check_xtext(const char *s, size_t n) {
        _cleanup_(buf_done) Buf enc = BUF_INIT(3 * FUZZ_MAX + 1);
        _cleanup_free_ char *dec = malloc(3 * n + 1);
        size_t len;

        assert(dec);
        /* Any bytes: encode, then decode gives them back. */
        assert(smtp_cmd_xtext_encode(s, n, &enc) == 0);
        assert(smtp_cmd_xtext_is_valid(buf_peek(&enc), buf_pending(&enc)));
        assert(smtp_cmd_xtext_decode(buf_peek(&enc), buf_pending(&enc), dec, &len) == 0);
        assert(len == n && memcmp(dec, s, n) == 0);

        /* The bytes as xtext: valid exactly when decoding succeeds, and never longer. */
        if (smtp_cmd_xtext_decode(s, n, dec, &len) == 0) {
                assert(smtp_cmd_xtext_is_valid(s, n));
                assert(len <= n);
        } else
                assert(!smtp_cmd_xtext_is_valid(s, n));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(buf_done) Buf whole = BUF_INIT(SIZE_MAX);
        _cleanup_(buf_done) Buf split = BUF_INIT(SIZE_MAX);
        _cleanup_(buf_done) Buf bytes = BUF_INIT(SIZE_MAX);
        SmtpLimits lim = SMTP_LIMITS_RFC5321;
        static const uint8_t one[4] = { 0, 0, 0, 0 };
        const char *s;
        size_t n;

        log_set_quiet(true);
        if (size < HEADER || size > FUZZ_MAX)
                return 0;
        s = (const char *) data + HEADER;
        n = size - HEADER;

        if (data[0] & 1)
                lim.command_line = SMTP_CMD_LINE_MIN + data[0] / 2;

        run(&lim, s, n, NULL, &whole);
        run(&lim, s, n, data + 1, &split);
        run(&lim, s, n, one, &bytes);
        assert(buf_pending(&whole) == buf_pending(&split));
        assert(memcmp(buf_peek(&whole), buf_peek(&split), buf_pending(&whole)) == 0);
        assert(buf_pending(&whole) == buf_pending(&bytes));
        assert(memcmp(buf_peek(&whole), buf_peek(&bytes), buf_pending(&whole)) == 0);

        check_xtext(s, MIN(n, (size_t) 4096));
        return 0;
}
