/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Unit tests of mime: the 8BITMIME to 7BIT downgrade (7-bit mail byte for byte, 8-bit
 * text/plain, binary, multipart with mixed parts, nested multipart, message/rfc822,
 * multipart/digest, base64 and quoted-printable parts untouched, missing and garbled
 * boundaries, 8-bit headers, long header fields, the nesting limit), quoted-printable line
 * lengths and round trips, the DATA encoder (CRLF, dot-stuffing, line folding at every limit),
 * the chained encoder, and the same output whether the input is fed whole, byte by byte or
 * split at any position. */
#include <check.h>

#include "buf.h"
#include "check_main.h"
#include "mime.h"

#define S(x) x, sizeof(x) - 1

/* Runs the downgrader over s in pieces: first bytes first (when > 0), then step bytes at a time
 * (0: the rest at once). Returns the result of the first call that failed, or of finish. */
static int downgrade(const char *s, size_t n, size_t first, size_t step, Buf *out,
                     unsigned *ret_flags) {
        _cleanup_(mime_downgrader_freep) MimeDowngrader *m = NULL;
        size_t pos = 0;
        int r;

        ck_assert_int_eq(mime_downgrader_new(&m), 0);
        while (pos < n) {
                size_t k = pos == 0 && first > 0 ? first : step > 0 ? step : n - pos;

                k = MIN(k, n - pos);
                r = mime_downgrader_feed(m, s + pos, k, out);
                if (r < 0)
                        return r;
                pos += k;
        }
        r = mime_downgrader_finish(m, out);
        if (ret_flags)
                *ret_flags = mime_downgrader_flags(m);
        return r;
}

/* The output, fed whole, byte by byte and split at every position, all the same. */
static void check_downgrade(const char *in, size_t n, const char *want, size_t want_n,
                            unsigned want_flags) {
        _cleanup_(buf_done) Buf whole = BUF_INIT(1 << 22);
        unsigned flags = 0;

        ck_assert_int_eq(downgrade(in, n, 0, 0, &whole, &flags), 0);
        ck_assert_msg(buf_pending(&whole) == want_n &&
                      memcmp(buf_peek(&whole), want, want_n) == 0,
                      "input:\n%.*s\ngot:\n%.*s\nwant:\n%.*s", (int) n, in,
                      (int) buf_pending(&whole), buf_peek(&whole), (int) want_n, want);
        ck_assert_uint_eq(flags, want_flags);

        for (size_t split = 0; split <= n; split++) {
                _cleanup_(buf_done) Buf b = BUF_INIT(1 << 22);

                ck_assert_int_eq(downgrade(in, n, split, split == 0 ? 1 : 0, &b, NULL), 0);
                ck_assert_msg(buf_pending(&b) == want_n &&
                              memcmp(buf_peek(&b), want, want_n) == 0,
                              "split at %zu:\n%.*s", split, (int) buf_pending(&b),
                              buf_peek(&b));
        }
}

typedef struct DowngradeCase {
        const char *name;
        const char *in;
        const char *want;
        unsigned flags;
} DowngradeCase;

#define CTE_QP "Content-Transfer-Encoding: quoted-printable\n"
#define CTE_7 "Content-Transfer-Encoding: 7bit\n"
#define CONV MIME_DOWNGRADE_CONVERTED
#define LEFT MIME_DOWNGRADE_8BIT_LEFT

static const DowngradeCase downgrade_cases[] = {
        { "empty", "", "", 0 },
        { "plain 7-bit", "Subject: hi\nFrom: a@b\n\nHello\n.\n..x\n", NULL, 0 },
        { "7-bit without final LF", "Subject: hi\n\nHello", NULL, 0 },
        { "headers only", "Subject: hi\nX: y", NULL, 0 },
        { "7-bit MIME, 7bit label",
          "MIME-Version: 1.0\nContent-Type: text/plain\nContent-Transfer-Encoding: 7bit\n\n"
          "a = b \n", NULL, 0 },
        { "8-bit text/plain",
          "MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n"
          "Content-Transfer-Encoding: 8bit\nSubject: x\n\nGr\xc3\xbc\xc3\x9f" "e = 1 \nend\t\n"
          "\n\x01\r\n",
          "MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nSubject: x\n" CTE_QP
          "\nGr=C3=BC=C3=9Fe =3D 1=20\nend=09\n\n=01=0D\n", CONV },
        { "label case and comments",
          "Content-Transfer-Encoding: (x) 8BIT (y)\n\n\xff\n",
          CTE_QP "\n=FF\n", CONV },
        { "binary label",
          "Content-Type: text/plain\nContent-Transfer-Encoding: binary\n\n\xe9t\xe9\n",
          "Content-Type: text/plain\n" CTE_QP "\n=E9t=E9\n", CONV },
        { "8bit label on a 7-bit body", "Content-Transfer-Encoding: 8bit\n\nplain\n",
          CTE_QP "\nplain\n", CONV },
        { "folded label",
          "Content-Transfer-Encoding:\n 8bit\nX: y\n\n\xe9\n", "X: y\n" CTE_QP "\n=E9\n", CONV },
        { "8-bit body without label kept", "Subject: x\n\ncaf\xc3\xa9\n", NULL, LEFT },
        { "8-bit header kept",
          "Subject: caf\xc3\xa9\nContent-Transfer-Encoding: 8bit\n\ncaf\xc3\xa9\n",
          "Subject: caf\xc3\xa9\n" CTE_QP "\ncaf=C3=A9\n", CONV | LEFT },
        { "application/octet-stream 8bit is a leaf too",
          "Content-Type: application/octet-stream\nContent-Transfer-Encoding: 8bit\n\n\x80\n",
          "Content-Type: application/octet-stream\n" CTE_QP "\n=80\n", CONV },
        { "message/delivery-status is a leaf",
          "Content-Type: message/delivery-status\nContent-Transfer-Encoding: 8bit\n\n"
          "Diagnostic-Code: smtp; 550 \xc3\xa9\n",
          "Content-Type: message/delivery-status\n" CTE_QP "\n"
          "Diagnostic-Code: smtp; 550 =C3=A9\n", CONV },
        { "quoted-printable body untouched",
          "Content-Transfer-Encoding: quoted-printable\n\nx=3D\xe9\n", NULL, LEFT },
        { "base64 body untouched",
          "Content-Transfer-Encoding: base64\n\nw6k=\n", NULL, 0 },
        { "unknown label untouched",
          "Content-Transfer-Encoding: x-uuencode\n\n\xe9\n", NULL, LEFT },
        { "no final LF in a converted body",
          "Content-Transfer-Encoding: 8bit\n\nab\xc3 ",
          CTE_QP "\nab=C3=20", CONV },
        { "end of content inside the header block",
          "Subject: x\nContent-Transfer-Encoding: 8bit",
          "Subject: x\n" CTE_QP, CONV },
        { "end of content after a header without LF",
          "Content-Transfer-Encoding: 8bit\nSubject: x",
          "Subject: x\n" CTE_QP, CONV },
        { "garbage ends the header block",
          "Content-Transfer-Encoding: 8bit\nno header here \xe9\nmore\n",
          CTE_QP "no header here =E9\nmore\n", CONV },
        { "continuation first in block is garbage",
          " leading\nSubject: x\n", NULL, 0 },
        { "multipart with mixed parts",
          "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"=_b 1\"\n"
          "Content-Transfer-Encoding: 8bit\n\n"
          "preamble\n"
          "--=_b 1\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n"
          "h\xc3\xa9llo\n"
          "--=_b 1\nContent-Type: image/png\nContent-Transfer-Encoding: base64\n\niVBORw0=\n"
          "--=_b 1\n\nseven bit\n"
          "--=_b 1--\nepilogue\n",
          "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"=_b 1\"\n" CTE_7 "\n"
          "preamble\n"
          "--=_b 1\nContent-Type: text/plain; charset=utf-8\n" CTE_QP "\n"
          "h=C3=A9llo\n"
          "--=_b 1\nContent-Type: image/png\nContent-Transfer-Encoding: base64\n\niVBORw0=\n"
          "--=_b 1\n\nseven bit\n"
          "--=_b 1--\nepilogue\n", CONV },
        { "boundary with trailing cruft, parameter after it, folded type",
          "Content-Type: multipart/mixed;\n\tboundary=xyz;\n charset=x\n\n"
          "--xyz   cruft\nContent-Transfer-Encoding: 8bit\n\n\xe9\n--xyz--  \n",
          "Content-Type: multipart/mixed;\n\tboundary=xyz;\n charset=x\n\n"
          "--xyz   cruft\n" CTE_QP "\n=E9\n--xyz--  \n", CONV },
        { "nested multipart",
          "Content-Type: multipart/mixed; boundary=outer\n\n"
          "--outer\nContent-Type: multipart/alternative; boundary=inner\n\n"
          "--inner\nContent-Transfer-Encoding: 8bit\n\n\xe9 inner\n"
          "--inner\nContent-Type: text/html\nContent-Transfer-Encoding: 8bit\n\n<p>\xe9</p>\n"
          "--inner--\n"
          "--outer\nContent-Transfer-Encoding: 8bit\n\n\xe8 outer\n"
          "--outer--\n",
          "Content-Type: multipart/mixed; boundary=outer\n\n"
          "--outer\nContent-Type: multipart/alternative; boundary=inner\n\n"
          "--inner\n" CTE_QP "\n=E9 inner\n"
          "--inner\nContent-Type: text/html\n" CTE_QP "\n<p>=E9</p>\n"
          "--inner--\n"
          "--outer\n" CTE_QP "\n=E8 outer\n"
          "--outer--\n", CONV },
        { "inner close boundary missing: the outer one closes it",
          "Content-Type: multipart/mixed; boundary=outer\n\n"
          "--outer\nContent-Type: multipart/alternative; boundary=inner\n\n"
          "--inner\nContent-Transfer-Encoding: 8bit\n\n\xe9\n"
          "--outer\nContent-Transfer-Encoding: 8bit\n\n\xe8\n--outer--\n",
          "Content-Type: multipart/mixed; boundary=outer\n\n"
          "--outer\nContent-Type: multipart/alternative; boundary=inner\n\n"
          "--inner\n" CTE_QP "\n=E9\n"
          "--outer\n" CTE_QP "\n=E8\n--outer--\n", CONV },
        { "close boundary missing: the part runs to the end",
          "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Transfer-Encoding: 8bit\n"
          "\n\xe9\n--c\n\xe8",
          "Content-Type: multipart/mixed; boundary=b\n\n--b\n" CTE_QP
          "\n=E9\n--c\n=E8", CONV },
        { "multipart without boundary is a leaf",
          "Content-Type: multipart/mixed\nContent-Transfer-Encoding: 8bit\n\n--b\n\xe9\n",
          "Content-Type: multipart/mixed\n" CTE_QP "\n--b\n=E9\n", CONV },
        { "empty boundary is no boundary",
          "Content-Type: multipart/mixed; boundary=\"\"\n\n--\n\xe9\n", NULL, LEFT },
        { "garbled parameters: no boundary",
          "Content-Type: multipart/mixed; ; boundary=b\n\n--b\nContent-Transfer-Encoding: "
          "8bit\n\n\xe9\n", NULL, LEFT },
        { "unterminated quoted boundary",
          "Content-Type: multipart/mixed; boundary=\"b\n\n--b\n\xe9\n", NULL, LEFT },
        { "lines that are no boundary",
          "Content-Type: multipart/mixed; boundary=b\n\n-b\n- -b\n--\n--c\n--b\n"
          "Content-Transfer-Encoding: 8bit\n\n--\xe9\n -b\n--b--\n",
          "Content-Type: multipart/mixed; boundary=b\n\n-b\n- -b\n--\n--c\n--b\n" CTE_QP
          "\n--=E9\n -b\n--b--\n", CONV },
        { "message/rfc822 with 8-bit content",
          "Content-Type: message/rfc822\nContent-Transfer-Encoding: 8bit\n\n"
          "Subject: inner\nContent-Type: text/plain\nContent-Transfer-Encoding: 8bit\n\n"
          "\xe9t\xe9\n",
          "Content-Type: message/rfc822\n" CTE_7 "\n"
          "Subject: inner\nContent-Type: text/plain\n" CTE_QP "\n=E9t=E9\n", CONV },
        { "message/rfc822 in a multipart",
          "Content-Type: multipart/mixed; boundary=b\n\n"
          "--b\nContent-Type: message/rfc822\n\n"
          "Subject: fwd\nContent-Transfer-Encoding: 8bit\n\n\xe9\n"
          "--b--\n",
          "Content-Type: multipart/mixed; boundary=b\n\n"
          "--b\nContent-Type: message/rfc822\n\n"
          "Subject: fwd\n" CTE_QP "\n=E9\n"
          "--b--\n", CONV },
        { "quoted-printable message/rfc822 is a leaf",
          "Content-Type: message/rfc822\nContent-Transfer-Encoding: quoted-printable\n\n"
          "Content-Transfer-Encoding: 8bit\n\n\xe9\n", NULL, LEFT },
        { "multipart/digest parts are messages",
          "Content-Type: multipart/digest; boundary=d\n\n"
          "--d\n\nSubject: one\nContent-Transfer-Encoding: 8bit\n\n\xe9\n"
          "--d\nContent-Type: text/plain\nContent-Transfer-Encoding: 8bit\n\n\xe8\n--d--\n",
          "Content-Type: multipart/digest; boundary=d\n\n"
          "--d\n\nSubject: one\n" CTE_QP "\n=E9\n"
          "--d\nContent-Type: text/plain\n" CTE_QP "\n=E8\n--d--\n", CONV },
        { "second label wins",
          "Content-Transfer-Encoding: 8bit\nContent-Transfer-Encoding: 7bit\n\n\xe9\n",
          "Content-Transfer-Encoding: 7bit\n\n\xe9\n", CONV | LEFT },
        { "soft breaks at 76",
          "Content-Transfer-Encoding: 8bit\n\n"
          "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n"
          "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n"
          "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa \n"
          "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\xe9\n",
          CTE_QP "\n"
          "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n"
          "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa=\na\n"
          "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa=\n=20\n"
          "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa=\n=E9\n",
          CONV },
};

START_TEST(test_downgrade_table)
{
        const DowngradeCase *c = &downgrade_cases[_i];
        const char *want = c->want ? c->want : c->in;

        ck_assert_msg(true, "%s", c->name);
        check_downgrade(c->in, strlen(c->in), want, strlen(want), c->flags);
}
END_TEST

/* 7-bit content of any shape, including NUL and CR, comes out byte for byte. */
START_TEST(test_downgrade_7bit_identity)
{
        static const char in[] =
                "Received: from x\n\tby y\nContent-Type: multipart/mixed; boundary=q\n\n"
                "--q\nContent-Type: text/plain\n\na\0b\rc\n--q\n\n\n--q--\ntail";
        _cleanup_(buf_done) Buf out = BUF_INIT(1 << 20);

        check_downgrade(in, sizeof(in) - 1, in, sizeof(in) - 1, 0);
        ck_assert_int_eq(downgrade(in, sizeof(in) - 1, 0, 0, &out, NULL), 0);
}
END_TEST

/* A long 8-bit line: every encoded line within 76, and decoding gives the body back. */
START_TEST(test_downgrade_long_line_round_trip)
{
        _cleanup_(buf_done) Buf in = BUF_INIT(1 << 20), out = BUF_INIT(1 << 22);
        _cleanup_(buf_done) Buf body = BUF_INIT(1 << 20), dec = BUF_INIT(1 << 20);
        const char *hdr = "Content-Type: text/plain\nContent-Transfer-Encoding: 8bit\n\n";
        const char *p, *sep;
        size_t n;

        ck_assert_int_eq(buf_append_str(&in, hdr), 0);
        for (unsigned i = 0; i < 5000; i++) {
                char c = (char) (i % 7 == 0 ? ' ' : i % 11 == 0 ? '\t' : i % 13 == 0 ? '=' :
                                 i % 5 == 0 ? 0xe9 : 'a' + i % 26);

                ck_assert_int_eq(buf_append_char(&body, c), 0);
                if (i % 1999 == 1998 || i % 3001 == 3000)
                        ck_assert_int_eq(buf_append_str(&body, " \n"), 0);
        }
        ck_assert_int_eq(buf_append_str(&body, "\t\n"), 0);
        ck_assert_int_eq(buf_append(&in, buf_peek(&body), buf_pending(&body)), 0);

        ck_assert_int_eq(downgrade(buf_peek(&in), buf_pending(&in), 0, 0, &out, NULL), 0);
        p = buf_peek(&out);
        n = buf_pending(&out);
        sep = strstr(p, "\n\n");
        ck_assert_ptr_nonnull(sep);
        for (size_t i = 0, col = 0; i < n; i++) {
                ck_assert_uint_lt((unsigned char) p[i], 0x80);
                col = p[i] == '\n' ? 0 : col + 1;
                ck_assert_uint_le(col, MIME_QP_LINE_MAX);
        }
        ck_assert_int_eq(mime_qp_decode(sep + 2, n - (size_t) (sep + 2 - p), &dec), 0);
        ck_assert_uint_eq(buf_pending(&dec), buf_pending(&body));
        ck_assert_mem_eq(buf_peek(&dec), buf_peek(&body), buf_pending(&body));
}
END_TEST

/* A header field longer than MIME_HEADER_MAX passes unchanged, and a long
 * Content-Transfer-Encoding field is not taken for a label. */
START_TEST(test_downgrade_long_header)
{
        _cleanup_(buf_done) Buf in = BUF_INIT(1 << 20), out = BUF_INIT(1 << 20);
        unsigned flags;

        ck_assert_int_eq(buf_append_str(&in, "X-Long: "), 0);
        for (unsigned i = 0; i < MIME_HEADER_MAX; i++)
                ck_assert_int_eq(i % 100 == 99 ? buf_append_str(&in, "\n ") :
                                 buf_append_char(&in, 'x'), 0);
        ck_assert_int_eq(buf_append_str(&in, "\n\tmore\nContent-Transfer-Encoding: 8bit"), 0);
        for (unsigned i = 0; i < MIME_HEADER_MAX; i++)
                ck_assert_int_eq(buf_append_char(&in, ' '), 0);
        ck_assert_int_eq(buf_append_str(&in, "\n\n\xe9\n"), 0);

        ck_assert_int_eq(downgrade(buf_peek(&in), buf_pending(&in), 0, 0, &out, &flags), 0);
        ck_assert_uint_eq(buf_pending(&out), buf_pending(&in));
        ck_assert_mem_eq(buf_peek(&out), buf_peek(&in), buf_pending(&in));
        ck_assert_uint_eq(flags, MIME_DOWNGRADE_8BIT_LEFT);

        /* The same split in two at a few places. */
        for (size_t split = 1; split < buf_pending(&in); split += 4097) {
                _cleanup_(buf_done) Buf b = BUF_INIT(1 << 20);

                ck_assert_int_eq(downgrade(buf_peek(&in), buf_pending(&in), split, 0, &b, NULL),
                                 0);
                ck_assert_mem_eq(buf_peek(&b), buf_peek(&in), buf_pending(&in));
        }
}
END_TEST

/* A boundary longer than MIME_BOUNDARY_MAX is compared on its first MIME_BOUNDARY_MAX bytes. */
START_TEST(test_downgrade_long_boundary)
{
        _cleanup_(buf_done) Buf in = BUF_INIT(1 << 20), out = BUF_INIT(1 << 20);
        _cleanup_free_ char *b = malloc(MIME_BOUNDARY_MAX + 11);

        ck_assert_ptr_nonnull(b);
        memset(b, 'k', MIME_BOUNDARY_MAX + 10);
        b[MIME_BOUNDARY_MAX + 10] = 0;
        ck_assert_int_eq(buf_printf(&in, "Content-Type: multipart/mixed; boundary=%s\n\n--%s\n"
                                    "Content-Transfer-Encoding: 8bit\n\n\xe9\n--%.*s--\n"
                                    "\xe8\n", b, b, MIME_BOUNDARY_MAX, b), 0);
        ck_assert_int_eq(downgrade(buf_peek(&in), buf_pending(&in), 0, 0, &out, NULL), 0);
        ck_assert_ptr_nonnull(strstr(buf_peek(&out), "\n=E9\n"));
        /* The close delimiter matched on the cut boundary: the epilogue is not converted. */
        ck_assert_ptr_nonnull(strstr(buf_peek(&out), "kk--\n\xe8\n"));
}
END_TEST

static void nested(Buf *in, unsigned levels) {
        for (unsigned i = 0; i < levels; i++)
                ck_assert_int_eq(buf_printf(in, "Content-Type: multipart/mixed; boundary=b%u\n\n"
                                            "--b%u\n", i, i), 0);
        ck_assert_int_eq(buf_append_str(in, "Content-Transfer-Encoding: 8bit\n\n\xe9\n"), 0);
}

/* MIME_NESTING_MAX levels are followed; one more is -E2BIG, and it stays. */
START_TEST(test_downgrade_nesting_limit)
{
        _cleanup_(buf_done) Buf ok = BUF_INIT(1 << 20), bad = BUF_INIT(1 << 20);
        _cleanup_(buf_done) Buf out = BUF_INIT(1 << 22);
        _cleanup_(mime_downgrader_freep) MimeDowngrader *m = NULL;

        nested(&ok, MIME_NESTING_MAX);
        ck_assert_int_eq(downgrade(buf_peek(&ok), buf_pending(&ok), 0, 0, &out, NULL), 0);
        ck_assert_ptr_nonnull(strstr(buf_peek(&out), "\n=E9\n"));

        nested(&bad, MIME_NESTING_MAX + 1);
        buf_clear(&out);
        ck_assert_int_eq(downgrade(buf_peek(&bad), buf_pending(&bad), 0, 0, &out, NULL), -E2BIG);
        buf_clear(&out);
        ck_assert_int_eq(downgrade(buf_peek(&bad), buf_pending(&bad), 0, 1, &out, NULL), -E2BIG);

        ck_assert_int_eq(mime_downgrader_new(&m), 0);
        ck_assert_int_eq(mime_downgrader_feed(m, buf_peek(&bad), buf_pending(&bad), &out),
                         -E2BIG);
        ck_assert_int_eq(mime_downgrader_feed(m, "x\n", 2, &out), -E2BIG);
        ck_assert_int_eq(mime_downgrader_finish(m, &out), -E2BIG);
}
END_TEST

/* An output buffer that is full: -ENOBUFS. */
START_TEST(test_downgrade_enobufs)
{
        static const char in[] = "Content-Transfer-Encoding: 8bit\n\n\xe9\xe9\xe9\xe9\n";
        _cleanup_(buf_done) Buf out = BUF_INIT(8);
        _cleanup_(mime_downgrader_freep) MimeDowngrader *m = NULL;

        ck_assert_int_eq(downgrade(in, sizeof(in) - 1, 0, 0, &out, NULL), -ENOBUFS);
        buf_done(&out);
        out = BUF_INIT(8);
        ck_assert_int_eq(mime_downgrader_new(&m), 0);
        ck_assert_int_eq(mime_downgrader_feed(m, in, sizeof(in) - 1, &out), -ENOBUFS);
        ck_assert_int_eq(mime_downgrader_finish(m, &out), -ENOBUFS);
}
END_TEST

typedef struct WireCase {
        const char *in;
        size_t limit;
        const char *want;
} WireCase;

static const WireCase wire_cases[] = {
        { "", 998, ".\r\n" },
        { "a\nb\n", 998, "a\r\nb\r\n.\r\n" },
        { "abc", 998, "abc\r\n.\r\n" },
        { "\n\n", 998, "\r\n\r\n.\r\n" },
        { ".x\n..\n.\n", 998, "..x\r\n...\r\n..\r\n.\r\n" },
        { ".", 998, "..\r\n.\r\n" },
        { "a\r\nb\rc\n", 998, "a\r\r\nb\rc\r\n.\r\n" },
        { "abcd\n", 4, "abcd\r\n.\r\n" },
        { "abcde\n", 4, "abcd\r\n e\r\n.\r\n" },
        { "abcdefghij\n", 4, "abcd\r\n efg\r\n hij\r\n.\r\n" },
        { "abcdefghij", 4, "abcd\r\n efg\r\n hij\r\n.\r\n" },
        { ".abcdef\n", 4, "..ab\r\n cde\r\n f\r\n.\r\n" },
        { "...\n", 4, "....\r\n.\r\n" },
        { "....\n", 4, "....\r\n .\r\n.\r\n" },
        { "abcdefghij\n", 0, "abcdefghij\r\n.\r\n" },
        { "abc\n", 1, "ab\r\n c\r\n.\r\n" },
        { "abc\n", 2, "ab\r\n c\r\n.\r\n" },
        { ".a\n", 1, "..\r\n a\r\n.\r\n" },
};

static void wire_run(const char *in, size_t n, size_t limit, size_t first, size_t step,
                     Buf *out) {
        MimeWire w;
        size_t pos = 0;

        mime_wire_init(&w, limit);
        while (pos < n) {
                size_t k = pos == 0 && first > 0 ? first : step > 0 ? step : n - pos;

                k = MIN(k, n - pos);
                ck_assert_int_eq(mime_wire_feed(&w, in + pos, k, out), 0);
                pos += k;
        }
        ck_assert_int_eq(mime_wire_finish(&w, out), 0);
}

START_TEST(test_wire_table)
{
        const WireCase *c = &wire_cases[_i];
        size_t n = strlen(c->in);

        for (size_t split = 0; split <= n; split++) {
                _cleanup_(buf_done) Buf out = BUF_INIT(1 << 16);

                wire_run(c->in, n, c->limit, split, split == 0 ? 1 : 0, &out);
                ck_assert_msg(streq(buf_peek(&out), c->want), "'%s' limit %zu split %zu: '%s'",
                              c->in, c->limit, split, buf_peek(&out));
        }
}
END_TEST

/* A 2,000-byte line at the default 998: 998, then SPACE + 997, then SPACE + 5; unfolding
 * (dropping each CRLF SPACE) gives the line back. */
START_TEST(test_wire_fold_2000)
{
        _cleanup_(buf_done) Buf in = BUF_INIT(1 << 16), out = BUF_INIT(1 << 16);
        _cleanup_(buf_done) Buf unfolded = BUF_INIT(1 << 16);
        const char *p;

        for (unsigned i = 0; i < 2000; i++)
                ck_assert_int_eq(buf_append_char(&in, (char) ('a' + i % 26)), 0);
        ck_assert_int_eq(buf_append_char(&in, '\n'), 0);
        wire_run(buf_peek(&in), buf_pending(&in), MIME_LINE_LENGTH_DEFAULT, 0, 0, &out);
        p = buf_peek(&out);
        ck_assert_uint_eq(buf_pending(&out), 998 + 2 + 998 + 2 + 6 + 2 + 3);
        ck_assert_mem_eq(p + 998, "\r\n ", 3);
        ck_assert_mem_eq(p + 998 + 2 + 998, "\r\n ", 3);
        for (size_t i = 0; i < buf_pending(&out); i++) {
                if (memcmp(p + i, "\r\n ", 3) == 0) {
                        i += 2;
                        continue;
                }
                ck_assert_int_eq(buf_append_char(&unfolded, p[i]), 0);
        }
        ck_assert_int_eq(buf_append_str(&in, ".\r\n"), 0);
        /* in has LF, unfolded CRLF: compare the 2,000 bytes. */
        ck_assert_mem_eq(buf_peek(&unfolded), buf_peek(&in), 2000);
}
END_TEST

START_TEST(test_wire_enobufs)
{
        _cleanup_(buf_done) Buf out = BUF_INIT(4);
        MimeWire w;

        mime_wire_init(&w, 998);
        ck_assert_int_eq(mime_wire_feed(&w, "abcdef\n", 7, &out), -ENOBUFS);
        buf_done(&out);
        out = BUF_INIT(1);
        mime_wire_init(&w, 998);
        ck_assert_int_eq(mime_wire_feed(&w, "\n", 1, &out), -ENOBUFS);
        ck_assert_int_eq(mime_wire_finish(&w, &out), -ENOBUFS);
}
END_TEST

/* Encoder: with and without the downgrade, fed in pieces. */
START_TEST(test_encoder)
{
#define TEN "abcdefghij"
        static const char in[] = "Subject: x\nContent-Transfer-Encoding: 8bit\n\n.\xe9\n"
                                 TEN TEN TEN TEN TEN TEN "\n";
        static const char want_down[] = "Subject: x\r\n" "Content-Transfer-Encoding: "
                                        "quoted-printable\r\n\r\n..=E9\r\n"
                                        TEN TEN TEN TEN TEN "\r\n " TEN "\r\n.\r\n";
        static const char want_plain[] = "Subject: x\r\nContent-Transfer-Encoding: 8bit\r\n"
                                         "\r\n..\xe9\r\n" TEN TEN TEN TEN TEN "\r\n " TEN
                                         "\r\n.\r\n";

        for (int down = 0; down <= 1; down++)
                for (size_t split = 0; split <= sizeof(in) - 1; split++) {
                        _cleanup_(mime_encoder_freep) MimeEncoder *e = NULL;
                        _cleanup_(buf_done) Buf out = BUF_INIT(1 << 16);
                        MimeEncoderOptions o = { .downgrade = down, .line_length_limit = 50 };

                        ck_assert_int_eq(mime_encoder_new(&o, &e), 0);
                        ck_assert_int_eq(mime_encoder_feed(e, in, split, &out), 0);
                        ck_assert_int_eq(mime_encoder_feed(e, in + split, sizeof(in) - 1 - split,
                                                           &out), 0);
                        ck_assert_int_eq(mime_encoder_finish(e, &out), 0);
                        ck_assert_str_eq(buf_peek(&out), down ? want_down : want_plain);
                        ck_assert_uint_eq(mime_encoder_flags(e),
                                          down ? MIME_DOWNGRADE_CONVERTED : 0);
                }
#undef TEN
}
END_TEST

START_TEST(test_encoder_errors)
{
        _cleanup_(mime_encoder_freep) MimeEncoder *e = NULL;
        _cleanup_(buf_done) Buf in = BUF_INIT(1 << 20), out = BUF_INIT(1 << 22);
        _cleanup_(buf_done) Buf small = BUF_INIT(2);
        MimeEncoderOptions o = { .downgrade = true, .line_length_limit = 998 };

        nested(&in, MIME_NESTING_MAX + 1);
        ck_assert_int_eq(mime_encoder_new(&o, &e), 0);
        ck_assert_int_eq(mime_encoder_feed(e, buf_peek(&in), buf_pending(&in), &out), -E2BIG);
        ck_assert_int_eq(mime_encoder_finish(e, &out), -E2BIG);
        e = mime_encoder_free(e);

        ck_assert_int_eq(mime_encoder_new(&o, &e), 0);
        ck_assert_int_eq(mime_encoder_feed(e, "Subject: x\n\nbody\n", 17, &small), -ENOBUFS);
        e = mime_encoder_free(e);
        o.downgrade = false;
        ck_assert_int_eq(mime_encoder_new(&o, &e), 0);
        ck_assert_int_eq(mime_encoder_feed(e, "Subject: x\n", 11, &small), -ENOBUFS);
        ck_assert_int_eq(mime_encoder_finish(e, &small), -ENOBUFS);
}
END_TEST

typedef struct DecodeCase {
        const char *in;
        int ret;
        const char *want;
} DecodeCase;

static const DecodeCase decode_cases[] = {
        { "", 0, "" },
        { "abc\n", 0, "abc\n" },
        { "a=3Db=3d\n", 0, "a=b=\n" },
        { "soft=\nbreak\n", 0, "softbreak\n" },
        { "soft= \t\nbreak", 0, "softbreak" },
        { "trailing  \n", 0, "trailing\n" },
        { "=20\n=09\n", 0, " \n\t\n" },
        { "=E9t=C3=A9", 0, "\xe9t\xc3\xa9" },
        { "a=\n", 0, "a" },
        { "=", 0, "" },
        { "=4", -EBADMSG, NULL },
        { "=4\n", -EBADMSG, NULL },
        { "=G0\n", -EBADMSG, NULL },
        { "=0G\n", -EBADMSG, NULL },
        { "a=b\n", -EBADMSG, NULL },
        { "=\t=\n", -EBADMSG, NULL },
        { "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n", 0,
          "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n" },
        { "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
          -EBADMSG, NULL },
};

START_TEST(test_qp_decode_table)
{
        const DecodeCase *c = &decode_cases[_i];
        _cleanup_(buf_done) Buf out = BUF_INIT(1024);

        ck_assert_int_eq(mime_qp_decode(c->in, strlen(c->in), &out), c->ret);
        if (c->want)
                ck_assert_str_eq(buf_peek(&out), c->want);
}
END_TEST

START_TEST(test_qp_decode_enobufs)
{
        _cleanup_(buf_done) Buf out = BUF_INIT(2);

        ck_assert_int_eq(mime_qp_decode(S("abc\n"), &out), -ENOBUFS);
        buf_done(&out);
        out = BUF_INIT(3);
        ck_assert_int_eq(mime_qp_decode(S("abc\n"), &out), -ENOBUFS);
}
END_TEST

static Suite *mime_suite(void) {
        Suite *s = suite_create("mime");
        TCase *tc;

        tc = tcase_create("downgrade");
        tcase_add_loop_test(tc, test_downgrade_table, 0, (int) ELEMENTSOF(downgrade_cases));
        tcase_add_test(tc, test_downgrade_7bit_identity);
        tcase_add_test(tc, test_downgrade_long_line_round_trip);
        tcase_add_test(tc, test_downgrade_long_header);
        tcase_add_test(tc, test_downgrade_long_boundary);
        tcase_add_test(tc, test_downgrade_nesting_limit);
        tcase_add_test(tc, test_downgrade_enobufs);
        tcase_set_timeout(tc, 120);
        suite_add_tcase(s, tc);

        tc = tcase_create("wire");
        tcase_add_loop_test(tc, test_wire_table, 0, (int) ELEMENTSOF(wire_cases));
        tcase_add_test(tc, test_wire_fold_2000);
        tcase_add_test(tc, test_wire_enobufs);
        suite_add_tcase(s, tc);

        tc = tcase_create("encoder");
        tcase_add_test(tc, test_encoder);
        tcase_add_test(tc, test_encoder_errors);
        suite_add_tcase(s, tc);

        tc = tcase_create("qp_decode");
        tcase_add_loop_test(tc, test_qp_decode_table, 0, (int) ELEMENTSOF(decode_cases));
        tcase_add_test(tc, test_qp_decode_enobufs);
        suite_add_tcase(s, tc);

        return s;
}

TERN_CHECK_MAIN(mime_suite)
