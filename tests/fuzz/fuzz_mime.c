/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Fuzz target for mime: arbitrary content through the downgrader and the DATA encoder.
 * Invariants: the same output and result whether fed whole or in pieces; only -E2BIG as a
 * result; 8-bit bytes come out only when the downgrader says it left some, and never more than
 * went in; every DATA line within the line length limit; the DATA ends in "." CRLF; without a
 * limit, undoing CRLF and dot-stuffing gives the content back; with one, removing every CRLF
 * SPACE gives what the unlimited encoding gives with the same removal; the chained encoder
 * gives the same bytes, each call within MIME_OUT_MAX(). In single-part mode the
 * input becomes the body of an 8bit text/plain message: the output is 7-bit, its lines are at
 * most 76 characters and decoding the quoted-printable body gives the input back.
 * Layout: byte 0 mode, byte 1 line length limit, bytes 2-3 piece sizes, then the content. */
#include <stdint.h>

#include "buf.h"
#include "log.h"
#include "mime.h"

#define FUZZ_MAX (256 * 1024)
#define HEADER 4

static size_t count_8bit(const char *p, size_t n) {
        size_t k = 0;

        for (size_t i = 0; i < n; i++)
                k += (unsigned char) p[i] >= 0x80;
        return k;
}

/* Downgrades s in pieces of the two step sizes in turn (0: at once). */
static int downgrade(const char *s, size_t n, const uint8_t *steps, Buf *out,
                     unsigned *ret_flags) {
        _cleanup_(mime_downgrader_freep) MimeDowngrader *m = NULL;
        size_t pos = 0, si = 0;
        int r;

        assert(mime_downgrader_new(&m) == 0);
        while (pos < n) {
                size_t k = steps ? (size_t) steps[si++ % 2] + 1 : n;

                k = MIN(k, n - pos);
                r = mime_downgrader_feed(m, s + pos, k, out);
                if (r < 0)
                        return r;
                pos += k;
        }
        r = mime_downgrader_finish(m, out);
        *ret_flags = mime_downgrader_flags(m);
        return r;
}

static void wire(const char *s, size_t n, size_t limit, const uint8_t *steps, Buf *out) {
        MimeWire w;
        size_t pos = 0, si = 0;

        mime_wire_init(&w, limit);
        while (pos < n) {
                size_t k = steps ? (size_t) steps[si++ % 2] + 1 : n;

                k = MIN(k, n - pos);
                assert(mime_wire_feed(&w, s + pos, k, out) == 0);
                pos += k;
        }
        assert(mime_wire_finish(&w, out) == 0);
}

/* Every CRLF SPACE removed. */
static void unfold(const char *p, size_t n, Buf *out) {
        for (size_t i = 0; i < n; i++) {
                if (i + 2 < n && p[i] == '\r' && p[i + 1] == '\n' && p[i + 2] == ' ') {
                        i += 2;
                        continue;
                }
                assert(buf_append_char(out, p[i]) == 0);
        }
}

static void check_wire(const char *s, size_t n, size_t limit, const uint8_t *steps) {
        _cleanup_(buf_done) Buf folded = BUF_INIT(SIZE_MAX), plain = BUF_INIT(SIZE_MAX);
        _cleanup_(buf_done) Buf a = BUF_INIT(SIZE_MAX), b = BUF_INIT(SIZE_MAX);
        _cleanup_(buf_done) Buf back = BUF_INIT(SIZE_MAX);
        const char *p;
        size_t m, col = 0;

        wire(s, n, limit, steps, &folded);
        wire(s, n, 0, NULL, &plain);
        p = buf_peek(&folded);
        m = buf_pending(&folded);
        assert(m >= 3 && memcmp(p + m - 3, ".\r\n", 3) == 0);
        assert(m == 3 || (m >= 5 && memcmp(p + m - 5, "\r\n", 2) == 0));
        for (size_t i = 0; i < m; i++) {
                if (p[i] == '\n' && i > 0 && p[i - 1] == '\r') {
                        col = 0;
                        continue;
                }
                col++;
                /* The CR of a CRLF is not counted; a bare CR is. */
                if (p[i] == '\r' && i + 1 < m && p[i + 1] == '\n')
                        col--;
                assert(limit == 0 || col <= MAX(limit, (size_t) 2));
        }
        unfold(p, m, &a);
        unfold(buf_peek(&plain), buf_pending(&plain), &b);
        assert(buf_pending(&a) == buf_pending(&b));
        assert(memcmp(buf_peek(&a), buf_peek(&b), buf_pending(&a)) == 0);

        /* Without a limit: CRLF to LF and one leading dot dropped give the content back. */
        p = buf_peek(&plain);
        m = buf_pending(&plain) - 3;
        for (size_t i = 0, bol = 1; i < m; i++) {
                if (bol && p[i] == '.') {
                        assert(i + 1 < m && p[i + 1] == '.');
                        i++;
                }
                if (p[i] == '\r' && i + 1 < m && p[i + 1] == '\n') {
                        assert(buf_append_char(&back, '\n') == 0);
                        i++;
                        bol = 1;
                        continue;
                }
                assert(buf_append_char(&back, p[i]) == 0);
                bol = 0;
        }
        if (n > 0 && s[n - 1] != '\n')
                assert(buf_pending(&back) == n + 1);
        else
                assert(buf_pending(&back) == n);
        assert(memcmp(buf_peek(&back), s, n) == 0);
}

/* The chained encoder in pieces: each call within MIME_OUT_MAX(), the same bytes as the two
 * stages run one after the other. */
static void check_encoder(const char *s, size_t n, size_t limit, const uint8_t *steps,
                          int want, const Buf *downgraded) {
        _cleanup_(mime_encoder_freep) MimeEncoder *e = NULL;
        _cleanup_(buf_done) Buf out = BUF_INIT(SIZE_MAX), want_out = BUF_INIT(SIZE_MAX);
        MimeEncoderOptions o = { .downgrade = true, .line_length_limit = limit };
        size_t pos = 0, si = 0, before;
        int r = 0;

        assert(mime_encoder_new(&o, &e) == 0);
        while (pos < n && r == 0) {
                size_t k = (size_t) steps[si++ % 2] * 64 + 1;

                k = MIN(k, n - pos);
                before = buf_pending(&out);
                r = mime_encoder_feed(e, s + pos, k, &out);
                assert(buf_pending(&out) - before <= MIME_OUT_MAX(k));
                pos += k;
        }
        if (r == 0) {
                before = buf_pending(&out);
                r = mime_encoder_finish(e, &out);
                assert(buf_pending(&out) - before <= MIME_OUT_MAX(0));
        }
        assert(r == want);
        if (r < 0)
                return;
        wire(buf_peek(downgraded), buf_pending(downgraded), limit, NULL, &want_out);
        assert(buf_pending(&out) == buf_pending(&want_out));
        assert(memcmp(buf_peek(&out), buf_peek(&want_out), buf_pending(&out)) == 0);
}

static void check_single_part(const char *s, size_t n, const uint8_t *steps) {
        static const char hdr[] = "Content-Type: text/plain; charset=utf-8\n"
                                  "Content-Transfer-Encoding: 8bit\n\n";
        static const char want_hdr[] = "Content-Type: text/plain; charset=utf-8\n"
                                       "Content-Transfer-Encoding: quoted-printable\n\n";
        _cleanup_(buf_done) Buf in = BUF_INIT(SIZE_MAX), out = BUF_INIT(SIZE_MAX);
        _cleanup_(buf_done) Buf dec = BUF_INIT(SIZE_MAX);
        const char *p;
        size_t m, col = 0;
        unsigned flags;

        assert(buf_append(&in, hdr, sizeof(hdr) - 1) == 0);
        assert(buf_append(&in, s, n) == 0);
        assert(downgrade(buf_peek(&in), buf_pending(&in), steps, &out, &flags) == 0);
        assert(flags == MIME_DOWNGRADE_CONVERTED);
        p = buf_peek(&out);
        m = buf_pending(&out);
        assert(m >= sizeof(want_hdr) - 1);
        assert(memcmp(p, want_hdr, sizeof(want_hdr) - 1) == 0);
        for (size_t i = 0; i < m; i++) {
                assert((unsigned char) p[i] < 0x80);
                col = p[i] == '\n' ? 0 : col + 1;
                assert(col <= MIME_QP_LINE_MAX);
        }
        p += sizeof(want_hdr) - 1;
        m -= sizeof(want_hdr) - 1;
        assert(mime_qp_decode(p, m, &dec) == 0);
        assert(buf_pending(&dec) == n);
        assert(memcmp(buf_peek(&dec), s, n) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(buf_done) Buf whole = BUF_INIT(SIZE_MAX), pieces = BUF_INIT(SIZE_MAX);
        const char *s;
        size_t n, limit;
        unsigned flags_whole = 0, flags_pieces = 0;
        int r_whole, r_pieces;

        if (size < HEADER || size > FUZZ_MAX)
                return 0;
        log_set_quiet(true);
        s = (const char *) data + HEADER;
        n = size - HEADER;
        limit = data[1] < 8 ? data[1] : data[1] < 128 ? (size_t) data[1] * 8 : 998;

        if (data[0] & 1) {
                check_single_part(s, n, data + 2);
                return 0;
        }

        r_whole = downgrade(s, n, NULL, &whole, &flags_whole);
        r_pieces = downgrade(s, n, data + 2, &pieces, &flags_pieces);
        assert(r_whole == 0 || r_whole == -E2BIG);
        assert(r_pieces == r_whole);
        if (r_whole == 0) {
                size_t k = count_8bit(buf_peek(&whole), buf_pending(&whole));

                assert(flags_pieces == flags_whole);
                assert(buf_pending(&whole) == buf_pending(&pieces));
                assert(memcmp(buf_peek(&whole), buf_peek(&pieces), buf_pending(&whole)) == 0);
                assert(k <= count_8bit(s, n));
                assert(k == 0 || (flags_whole & MIME_DOWNGRADE_8BIT_LEFT));
                /* Nothing converted: byte for byte. */
                if (!(flags_whole & MIME_DOWNGRADE_CONVERTED)) {
                        assert(buf_pending(&whole) == n);
                        assert(memcmp(buf_peek(&whole), s, n) == 0);
                }
                check_wire(buf_peek(&whole), buf_pending(&whole), limit, data + 2);
        }
        check_encoder(s, n, limit, data + 2, r_whole, &whole);
        check_wire(s, n, limit, data + 2);
        return 0;
}
