/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Fuzz target for smtp_data: arbitrary bytes as DATA or BDAT content, fed whole and in pieces
 * whose sizes come from the first input bytes. Invariants: *ret_used <= n, progress, the same
 * pieces, verdict and counters whatever the split, never more out than in, pieces within
 * line_length_limit, nothing emitted after an error, DATA ending exactly at the first
 * CRLF "." CRLF (counting the DATA command's CRLF) and nowhere else, and dot-stuffing round trips.
 * Layout: byte 0 mode and limits, bytes 1-4 piece sizes, bytes 5-6 BDAT chunk sizes. */
#include <stdint.h>

#include "buf.h"
#include "log.h"
#include "smtp_data.h"

#define FUZZ_MAX (64 * 1024)
#define HEADER 7

typedef struct Out {
        Buf content;
        Buf trace;
        size_t line_max;
        const SmtpDataReader *reader;
} Out;

static int on_piece(void *userdata, const char *p, size_t n, unsigned flags) {
        Out *o = userdata;

        assert(n <= o->line_max);
        assert(smtp_data_result(o->reader) == 0);       /* nothing after an error */
        (void) buf_append(&o->content, p, n);
        if (!(flags & SMTP_DATA_PIECE_PARTIAL))
                (void) buf_append_char(&o->content, '\n');
        (void) buf_printf(&o->trace, "%u:%zu:", flags, n);
        (void) buf_append(&o->trace, p, n);
        return 0;
}

typedef struct Result {
        int result;
        bool end;
        size_t used;
        SmtpDataInfo info;
} Result;

/* chunks: NULL for DATA, else two chunk sizes cycled until the input is used up. */
static void run(const SmtpDataLimits *lim, const uint8_t *chunks, const char *s, size_t n,
                const uint8_t *steps, Out *o, Result *res) {
        _cleanup_(smtp_data_freep) SmtpDataReader *r = NULL;
        size_t pos = 0, si = 0, ci = 0, used;
        bool end = false;

        o->content = BUF_INIT(SIZE_MAX);
        o->trace = BUF_INIT(SIZE_MAX);
        o->line_max = lim->line_length_limit;
        assert(smtp_data_new(lim, on_piece, o, &r) == 0);
        o->reader = r;
        if (chunks)
                assert(smtp_data_start_chunk(r, chunks[ci++ % 2]) == 0);
        else
                assert(smtp_data_start(r) == 0);

        while (pos < n && !end) {
                size_t step = steps ? (size_t) steps[si++ % 4] + 1 : SIZE_MAX;
                size_t len = MIN(step, n - pos);        /* MIN() evaluates twice */
                size_t off = 0;

                while (off < len) {
                        int k = smtp_data_feed(r, s + pos + off, len - off, &used);

                        assert(k == 0 || k == 1);
                        assert(used <= len - off);
                        off += used;
                        if (k == 0) {
                                assert(off == len);
                                break;
                        }
                        if (!chunks) {
                                end = true;
                                break;
                        }
                        /* The next chunk; a zero-sized one completes at once. */
                        assert(smtp_data_start_chunk(r, chunks[ci++ % 2]) == 0);
                }
                pos += off;
        }
        if (chunks)
                (void) smtp_data_finish(r);

        res->result = smtp_data_result(r);
        res->end = end;
        res->used = pos;
        res->info = *smtp_data_info(r);
        assert(res->info.octets == pos);
        assert(res->info.emitted <= res->info.octets);
        assert(res->info.emitted <= res->info.size);
        assert(res->info.emitted == buf_pending(&o->content));
        assert(res->result == 0 || res->result == -EMSGSIZE || res->result == -EBADMSG);
        if (res->result == -EBADMSG)
                assert(lim->bare_lf == SMTP_BARE_LF_REJECT && res->info.bare_lf);
        if (res->info.too_big)
                assert(res->info.size > lim->message_size_limit);
        o->reader = NULL;
}

static void out_done(Out *o) {
        buf_done(&o->content);
        buf_done(&o->trace);
}

static bool same(const Out *a, const Result *ra, const Out *b, const Result *rb) {
        return buf_pending(&a->trace) == buf_pending(&b->trace) &&
               memcmp(buf_peek(&a->trace), buf_peek(&b->trace), buf_pending(&a->trace)) == 0 &&
               ra->result == rb->result && ra->end == rb->end && ra->used == rb->used &&
               memcmp(&ra->info, &rb->info, sizeof(ra->info)) == 0;
}

/* Where DATA must end: after the first CRLF "." CRLF in CRLF + input, or nowhere. */
static bool expected_end(const char *s, size_t n, size_t *ret_used) {
        if (n >= 3 && memcmp(s, ".\r\n", 3) == 0) {
                *ret_used = 3;
                return true;
        }
        for (size_t i = 0; i + 5 <= n; i++)
                if (memcmp(s + i, "\r\n.\r\n", 5) == 0) {
                        *ret_used = i + 5;
                        return true;
                }
        return false;
}

/* Text without LFs in lines, stuffed as a client does: comes back exactly. */
static void check_round_trip(const char *s, size_t n, SmtpBareLf mode, size_t line_max) {
        _cleanup_(buf_done) Buf text = BUF_INIT(SIZE_MAX);
        _cleanup_(buf_done) Buf wire = BUF_INIT(SIZE_MAX);
        _cleanup_(out_done) Out o = {};
        SmtpDataLimits lim = {
                .line_length_limit = line_max, .header_size_limit = SIZE_MAX,
                .message_size_limit = 0, .bare_lf = mode,
        };
        Result res;

        for (size_t i = 0; i < n;) {
                const char *lf = memchr(s + i, '\n', n - i);
                size_t len = lf ? (size_t) (lf - (s + i)) : n - i;

                (void) buf_append(&text, s + i, len);
                (void) buf_append_char(&text, '\n');
                if (len > 0 && s[i] == '.')
                        (void) buf_append_char(&wire, '.');
                (void) buf_append(&wire, s + i, len);
                (void) buf_append_str(&wire, "\r\n");
                i += len + 1;
        }
        (void) buf_append_str(&wire, ".\r\nQUIT\r\n");

        run(&lim, NULL, buf_peek(&wire), buf_pending(&wire), NULL, &o, &res);
        assert(res.end && res.result == 0);
        assert(res.used == buf_pending(&wire) - 6);
        assert(buf_pending(&o.content) == buf_pending(&text));
        assert(memcmp(buf_peek(&o.content), buf_peek(&text), buf_pending(&text)) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(out_done) Out whole = {}, split = {}, bytes = {};
        SmtpDataLimits lim = SMTP_DATA_LIMITS_DEFAULT;
        static const uint8_t one[4] = { 0, 0, 0, 0 };
        static const uint8_t one_chunk[2] = { 0, 1 };
        Result rw, rs, rb;
        const uint8_t *chunks = NULL;
        const char *s;
        size_t n, end_used;

        log_set_quiet(true);
        if (size < HEADER || size > FUZZ_MAX)
                return 0;
        s = (const char *) data + HEADER;
        n = size - HEADER;

        lim.bare_lf = (SmtpBareLf) (data[0] % _SMTP_BARE_LF_MAX);
        if (data[0] & 0x04)
                lim.line_length_limit = 1 + data[1] % 64;
        if (data[0] & 0x08)
                lim.header_size_limit = 1 + data[2] % 128;
        if (data[0] & 0x10)
                lim.message_size_limit = data[3] * 16u;
        if (data[0] & 0x20)
                /* Two zero-sized chunks would never take a byte: make one of them 1. */
                chunks = data[5] || data[6] ? data + 5 : one_chunk;

        run(&lim, chunks, s, n, NULL, &whole, &rw);
        run(&lim, chunks, s, n, data + 1, &split, &rs);
        run(&lim, chunks, s, n, one, &bytes, &rb);
        assert(same(&whole, &rw, &split, &rs));
        assert(same(&whole, &rw, &bytes, &rb));

        if (!chunks) {
                bool e = expected_end(s, n, &end_used);

                assert(rw.end == e);
                assert(rw.used == (e ? end_used : n));
        }

        if (!(data[0] & 0x40))
                check_round_trip(s, MIN(n, (size_t) 8192),
                                 (data[0] & 0x80) ? SMTP_BARE_LF_NORMALIZE : SMTP_BARE_LF_NO,
                                 lim.line_length_limit);
        return 0;
}
