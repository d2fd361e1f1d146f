/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Fuzz target for the smtp agent's reply parser (services/smtp/smtp_reply.c): arbitrary bytes
 * as a server's reply stream, taken apart into lines by buf_getline() as the agent does, fed
 * in pieces of SMTP_REPLY_LINE_MAX bytes and of a size from the first input byte. Invariants: the same replies
 * and errors whatever the split; every reply has a code 200..599, a dsn of its class or none,
 * at most SMTP_REPLY_LINES_MAX lines and SMTP_REPLY_TEXT_MAX bytes of text; formatting fits
 * its buffer; EHLO parsing accepts every 2xx reply. */
#include <stdint.h>

#include "buf.h"
#include "log.h"
#include "smtp_reply.h"

#define FUZZ_MAX (64 * 1024)

static void describe(const SmtpReply *r, Buf *out) {
        char f[128];
        SmtpCaps caps;

        assert(r->code >= 200 && r->code <= 599);
        assert(r->dsn[0] == '\0' || r->dsn[0] == (char) ('0' + r->code / 100));
        assert(r->n_lines >= 1 && r->n_lines <= SMTP_REPLY_LINES_MAX);
        assert(strlen(r->text) <= SMTP_REPLY_TEXT_MAX);
        smtp_reply_format(r, f, sizeof f);
        assert(strlen(f) < sizeof f);
        if (r->code / 100 == 2)
                assert(smtp_ehlo_parse(r, &caps) == 0);
        (void) buf_printf(out, "%u/%s/%zu/%s|", r->code, r->dsn, r->n_lines, r->text);
}

static int run(const uint8_t *data, size_t size, size_t step, Buf *out) {
        _cleanup_(buf_done) Buf b = BUF_INIT(SMTP_REPLY_LINE_MAX * 4);
        SmtpReplyParser p = SMTP_REPLY_PARSER_INIT;
        size_t off = 0;
        int r = 0;

        while (off < size) {
                size_t k = MIN(step, size - off);
                char *line;
                size_t len;

                if (buf_append(&b, data + off, k) < 0)
                        break;
                off += k;
                for (;;) {
                        SmtpReply *rep = NULL;

                        r = buf_getline(&b, SMTP_REPLY_LINE_MAX, &line, &len);
                        if (r <= 0)
                                break;
                        r = smtp_reply_feed_line(&p, line, len, &rep);
                        if (r < 0)
                                break;
                        if (r > 0) {
                                describe(rep, out);
                                smtp_reply_free(rep);
                        }
                }
                if (r < 0)
                        break;
        }
        smtp_reply_parser_done(&p);
        (void) buf_printf(out, "end %d", r < 0 ? r : 0);
        return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(buf_done) Buf whole = BUF_INIT(1024 * 1024);
        _cleanup_(buf_done) Buf split = BUF_INIT(1024 * 1024);
        size_t step;

        log_set_quiet(true);
        if (size < 1 || size > FUZZ_MAX)
                return 0;
        step = (size_t) data[0] % 17 + 1;
        data++;
        size--;

        (void) run(data, size, SMTP_REPLY_LINE_MAX, &whole);
        (void) run(data, size, step, &split);
        assert(buf_pending(&whole) == buf_pending(&split));
        assert(memcmp(buf_peek(&whole), buf_peek(&split), buf_pending(&whole)) == 0);
        return 0;
}
