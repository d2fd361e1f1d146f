/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Unit tests of smtp_data: DATA streams (end detection, every SMTP smuggling variant in the three
 * bare-LF modes, dot-unstuffing), the header/body boundary, every limit, BDAT chunks, and the
 * same results whether a stream is fed whole, byte by byte or split at any position. */
#include <check.h>
#include <inttypes.h>

#include "buf.h"
#include "check_main.h"
#include "smtp_data.h"

typedef struct Run {
        Buf content;            /* the message as the queue would store it */
        Buf trace;              /* every piece: flags and bytes */
        unsigned fail_at;       /* the callback fails (-ENOSPC) on this piece; 0: never */
        unsigned pieces;
        int result;
        bool end;
        size_t used;
        SmtpDataInfo info;
} Run;

static void run_done(Run *r) {
        buf_done(&r->content);
        buf_done(&r->trace);
}

static int on_piece(void *userdata, const char *p, size_t n, unsigned flags) {
        Run *run = userdata;

        if (++run->pieces == run->fail_at)
                return -ENOSPC;
        ck_assert_int_eq(buf_append(&run->content, p, n), 0);
        if (!(flags & SMTP_DATA_PIECE_PARTIAL))
                ck_assert_int_eq(buf_append_char(&run->content, '\n'), 0);
        ck_assert_int_eq(buf_printf(&run->trace, "%s%s%s[%.*s]",
                                    flags & SMTP_DATA_PIECE_HEADER ? "H" : "",
                                    flags & SMTP_DATA_PIECE_BODY_START ? "B" : "",
                                    flags & SMTP_DATA_PIECE_PARTIAL ? "P" : "", (int) n, p),
                         0);
        return 0;
}

/* Feeds s (n bytes) to a reader in DATA mode (chunks NULL) or BDAT mode (the chunk sizes; the
 * message is finished after them when last). Pieces: the whole when step is 0 and first is 0;
 * else `first` bytes first (when > 0), then pieces of `step` bytes (or the rest). */
static void run_reader(const SmtpDataLimits *lim, const uint64_t *chunks, size_t n_chunks,
                       bool last, const char *s, size_t n, size_t first, size_t step, Run *run) {
        _cleanup_(smtp_data_freep) SmtpDataReader *r = NULL;
        size_t pos = 0, ci = 0, used;
        bool done = false;

        run->content = BUF_INIT(1 << 24);
        run->trace = BUF_INIT(1 << 24);
        ck_assert_int_eq(smtp_data_new(lim, on_piece, run, &r), 0);
        if (chunks) {
                ck_assert_uint_gt(n_chunks, 0);
                ck_assert_int_eq(smtp_data_start_chunk(r, chunks[ci++]), 0);
        } else
                ck_assert_int_eq(smtp_data_start(r), 0);

        for (;;) {
                size_t len = n - pos, off = 0;

                /* Completed chunks (zero-sized ones included) move on to the next. */
                while (smtp_data_feed(r, s + pos, 0, &used) == 1) {
                        ck_assert_uint_eq(used, 0);
                        if (!chunks || ci == n_chunks) {
                                done = true;
                                break;
                        }
                        ck_assert_int_eq(smtp_data_start_chunk(r, chunks[ci++]), 0);
                }
                if (done || pos == n)
                        break;

                if (first > 0 && pos == 0)
                        len = MIN(first, n);
                else if (step > 0)
                        len = MIN(step, n - pos);
                while (off < len) {
                        int k = smtp_data_feed(r, s + pos + off, len - off, &used);

                        ck_assert_int_ge(k, 0);
                        ck_assert_uint_le(used, len - off);
                        off += used;
                        if (k == 0) {
                                ck_assert_uint_eq(off, len);
                                break;
                        }
                        if (!chunks || ci == n_chunks)
                                break;
                        ck_assert_int_eq(smtp_data_start_chunk(r, chunks[ci++]), 0);
                }
                pos += off;
                if (off < len)
                        break;          /* the end, with bytes left over */
        }
        if (!done && smtp_data_feed(r, s + pos, 0, &used) == 1 && (!chunks || ci == n_chunks))
                done = true;

        run->end = done;
        run->used = pos;
        if (chunks && done && last)
                ck_assert_int_eq(smtp_data_finish(r), smtp_data_result(r));
        run->result = smtp_data_result(r);
        run->info = *smtp_data_info(r);
        /* Never more out than in. */
        ck_assert_uint_le(run->info.emitted, run->info.octets);
        ck_assert_uint_eq(run->info.octets, pos);
        ck_assert_uint_eq(run->info.emitted, buf_pending(&run->content));
}

/* Runs s whole, byte by byte and split at every position; all must agree. Returns the whole run
 * in *ret. */
static void run_all_splits(const SmtpDataLimits *lim, const uint64_t *chunks, size_t n_chunks,
                           bool last, const char *s, size_t n, Run *ret) {
        Run bytes = { .fail_at = ret->fail_at };

        run_reader(lim, chunks, n_chunks, last, s, n, 0, 0, ret);
        run_reader(lim, chunks, n_chunks, last, s, n, 0, 1, &bytes);
        for (size_t k = 0; k <= n; k++) {
                Run split = { .fail_at = ret->fail_at };
                Run *other = k == n ? &bytes : &split;

                if (k < n)
                        run_reader(lim, chunks, n_chunks, last, s, n, k, 0, &split);
                ck_assert_msg(streq(buf_peek(&ret->trace), buf_peek(&other->trace)),
                              "split %zu: trace '%s' != '%s'", k, buf_peek(&ret->trace),
                              buf_peek(&other->trace));
                ck_assert_int_eq(ret->result, other->result);
                ck_assert_int_eq(ret->end, other->end);
                ck_assert_uint_eq(ret->used, other->used);
                ck_assert(memcmp(&ret->info, &other->info, sizeof(ret->info)) == 0);
                run_done(&split);
        }
        run_done(&bytes);
}

#define M_NO (1u << SMTP_BARE_LF_NO)
#define M_NORM (1u << SMTP_BARE_LF_NORMALIZE)
#define M_REJ (1u << SMTP_BARE_LF_REJECT)
#define M_ALL (M_NO | M_NORM | M_REJ)

static const struct {
        const char *input;
        unsigned modes;         /* the bare-LF modes this expectation holds for */
        const char *content;    /* NULL: not checked (but still split-tested) */
        const char *rest;       /* what is left unconsumed; NULL: the end was not reached */
        int result;
} data_cases[] = {
        /* the end, and only the end */
        { ".\r\n", M_ALL, "", "", 0 },
        { ".\r\nQUIT\r\n", M_ALL, "", "QUIT\r\n", 0 },
        { "a\r\n.\r\n", M_ALL, "a\n", "", 0 },
        { "a\r\n.\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\n", M_ALL, "a\n",
          "MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\n", 0 },
        { "a\r\n.\r\n.\r\n", M_ALL, "a\n", ".\r\n", 0 },
        { "\r\n.\r\n", M_ALL, "\n", "", 0 },
        { "a\r\n\r\n.\r\n", M_ALL, "a\n\n", "", 0 },
        { "a\r\n", M_ALL, "a\n", NULL, 0 },
        { "a\r\n.", M_ALL, "a\n", NULL, 0 },
        { "a\r\n.\r", M_ALL, "a\n", NULL, 0 },
        { "", M_ALL, "", NULL, 0 },
        { ".", M_ALL, "", NULL, 0 },
        { "a", M_ALL, "", NULL, 0 },
        /* dot-unstuffing (RFC 5321 §4.5.2) */
        { "..\r\n.\r\n", M_ALL, ".\n", "", 0 },
        { "..a\r\n.\r\n", M_ALL, ".a\n", "", 0 },
        { "...\r\n.\r\n", M_ALL, "..\n", "", 0 },
        { ".a\r\n.\r\n", M_ALL, "a\n", "", 0 },
        { ". \r\n.\r\n", M_ALL, " \n", "", 0 },
        { "a.\r\n.b\r\n..c\r\n.\r\n", M_ALL, "a.\n" "b\n" ".c\n", "", 0 },
        { "x\r\n..\r\n\r\n...\r\n.\r\n", M_ALL, "x\n.\n\n..\n", "", 0 },
        /* bare CR: data, never a line end */
        { "a\rb\r\n.\r\n", M_ALL, "a\rb\n", "", 0 },
        { "a\r\r\n.\r\n", M_ALL, "a\r\n", "", 0 },
        { "a\r\r\r\n.\r\n", M_ALL, "a\r\r\n", "", 0 },
        { "\r.\r\n.\r\n", M_ALL, "\r.\n", "", 0 },
        /* smuggling: \r.\r */
        { "a\r.\rb\r\n.\r\n", M_ALL, "a\r.\rb\n", "", 0 },
        { "a\r\n.\r.\r\n.\r\n", M_ALL, "a\n\r.\n", "", 0 },
        { "a\r\n.\r\r\n.\r\n", M_ALL, "a\n\r\n", "", 0 },
        { "a\r.\r", M_ALL, "", NULL, 0 },
        /* smuggling: \n.\n */
        { "a\n.\nb\r\n.\r\n", M_NO, "a\n.\nb\n", "", 0 },
        { "a\n.\nb\r\n.\r\n", M_NORM, "a\n\nb\n", "", 0 },
        { "a\n.\nb\r\n.\r\n", M_REJ, "", "", -EBADMSG },
        { "a\n.\n", M_NO | M_NORM, NULL, NULL, 0 },
        { "a\n.\n", M_REJ, "", NULL, -EBADMSG },
        /* smuggling: \r\n.\n */
        { "a\r\n.\nb\r\n.\r\n", M_NO, "a\n\nb\n", "", 0 },
        { "a\r\n.\nb\r\n.\r\n", M_NORM, "a\n\nb\n", "", 0 },
        { "a\r\n.\nb\r\n.\r\n", M_REJ, "a\n", "", -EBADMSG },
        { "a\r\n.\n", M_NO, "a\n", NULL, 0 },
        { "a\r\n.\n", M_REJ, "a\n", NULL, -EBADMSG },
        { "a\r\n.\n", M_NORM, "a\n\n", NULL, 0 },
        /* smuggling: \n.\r\n */
        { "a\n.\r\nb\r\n.\r\n", M_NO, "a\n.\nb\n", "", 0 },
        { "a\n.\r\nb\r\n.\r\n", M_NORM, "a\n\nb\n", "", 0 },
        { "a\n.\r\nb\r\n.\r\n", M_REJ, "", "", -EBADMSG },
        { "a\n.\r\n", M_NO | M_NORM, NULL, NULL, 0 },
        { "\n.\r\n.\r\n", M_NO, "\n.\n", "", 0 },
        { "\n.\r\n.\r\n", M_NORM, "\n\n", "", 0 },
        { "\r\n.\n.\r\n", M_NORM, "\n\n\n", NULL, 0 },
        { "\r\n.\n.\r\n", M_NO, "\n\n.\n", NULL, 0 },
        /* the classic smuggled second message: one message, never two */
        { "Subject: a\r\n\r\nx\n.\nMAIL FROM:<e@v>\r\nRCPT TO:<v@t>\r\nDATA\r\n"
          "Subject: b\r\n\r\ny\r\n.\r\nQUIT\r\n",
          M_NORM,
          "Subject: a\n\nx\n\nMAIL FROM:<e@v>\nRCPT TO:<v@t>\nDATA\nSubject: b\n\ny\n", "QUIT\r\n",
          0 },
        { "Subject: a\r\n\r\nx\r\n.\nMAIL FROM:<e@v>\r\n.\r\n", M_NO,
          "Subject: a\n\nx\n\nMAIL FROM:<e@v>\n", "", 0 },
        { "Subject: a\r\n\r\nx\n.\r\nMAIL FROM:<e@v>\r\n.\r\n", M_REJ, "Subject: a\n\n", "",
          -EBADMSG },
        /* bare LF as data (no) or as a line end (normalize) */
        { "a\nb\r\n.\r\n", M_NO, "a\nb\n", "", 0 },
        { "a\nb\r\n.\r\n", M_NORM, "a\nb\n", "", 0 },
        { "a\n..b\r\n.\r\n", M_NO, "a\n..b\n", "", 0 },
        { "a\n..b\r\n.\r\n", M_NORM, "a\n.b\n", "", 0 },
        { "\n\r\n.\r\n", M_NO, "\n\n", "", 0 },
        { "\n\r\n.\r\n", M_NORM, "\n\n", "", 0 },
        { "\n\r\n.\r\n", M_REJ, "", "", -EBADMSG },
};

static bool has_bare_lf(const char *s, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r'))
                        return true;
        return false;
}

static void check_data_case(size_t i, SmtpBareLf mode) {
        SmtpDataLimits lim = SMTP_DATA_LIMITS_DEFAULT;
        const char *s = data_cases[i].input;
        size_t n = strlen(s);
        _cleanup_(run_done) Run run = {};

        lim.bare_lf = mode;
        run_all_splits(&lim, NULL, 0, false, s, n, &run);
        if (data_cases[i].content)
                ck_assert_msg(streq(buf_peek(&run.content), data_cases[i].content),
                              "case %zu mode %s: content '%s'", i,
                              smtp_data_bare_lf_to_string(mode), buf_peek(&run.content));
        ck_assert_msg(run.end == !!data_cases[i].rest, "case %zu mode %s: end %d", i,
                      smtp_data_bare_lf_to_string(mode), run.end);
        if (data_cases[i].rest)
                ck_assert_uint_eq(run.used, n - strlen(data_cases[i].rest));
        else
                ck_assert_uint_eq(run.used, n);
        ck_assert_msg(run.result == data_cases[i].result, "case %zu mode %s: result %d", i,
                      smtp_data_bare_lf_to_string(mode), run.result);
        ck_assert_int_eq(run.info.bare_lf, has_bare_lf(s, run.used));
}

START_TEST(test_data_table)
{
        for (size_t i = 0; i < ELEMENTSOF(data_cases); i++)
                for (SmtpBareLf m = 0; m < _SMTP_BARE_LF_MAX; m++)
                        if (data_cases[i].modes & (1u << m))
                                check_data_case(i, m);
}
END_TEST

START_TEST(test_data_flags)
{
        SmtpDataLimits lim = SMTP_DATA_LIMITS_DEFAULT;
        _cleanup_(run_done) Run plain = {}, cr = {}, lf = {};

        run_all_splits(&lim, NULL, 0, false, "a\r\nb\r\n.\r\n", 9, &plain);
        ck_assert(!plain.info.bare_cr && !plain.info.bare_lf);
        ck_assert_uint_eq(plain.info.octets, 9);
        ck_assert_uint_eq(plain.info.size, 4);
        ck_assert_uint_eq(plain.info.emitted, 4);

        run_all_splits(&lim, NULL, 0, false, "a\rb\r\n.\r\n", 8, &cr);
        ck_assert(cr.info.bare_cr && !cr.info.bare_lf);

        run_all_splits(&lim, NULL, 0, false, "a\nb\r\n.\r\n", 8, &lf);
        ck_assert(!lf.info.bare_cr && lf.info.bare_lf);
        ck_assert_int_eq(lf.result, 0);
}
END_TEST

/* Dot-stuffing round trip: any text, stuffed as a client does, comes back unchanged. */
START_TEST(test_data_dot_round_trip)
{
        static const char *const lines[] = {
                ".", "..", "...", ".x", "..x", "x.", "", " .", "From x", ".\r", "a\rb",
                "Subject: .", "\t.", ". .",
        };
        SmtpDataLimits lim = SMTP_DATA_LIMITS_DEFAULT;
        uint32_t seed = 12345;

        for (unsigned round = 0; round < 40; round++) {
                _cleanup_(buf_done) Buf text = BUF_INIT(1 << 20);
                _cleanup_(buf_done) Buf wire = BUF_INIT(1 << 20);
                _cleanup_(run_done) Run run = {};
                unsigned count = 1 + round % 7;

                for (unsigned j = 0; j < count; j++) {
                        const char *l;

                        seed = seed * 1103515245u + 12345u;
                        l = lines[(seed >> 16) % ELEMENTSOF(lines)];
                        ck_assert_int_eq(buf_printf(&text, "%s\n", l), 0);
                        ck_assert_int_eq(buf_printf(&wire, "%s%s\r\n", l[0] == '.' ? "." : "",
                                                    l), 0);
                }
                ck_assert_int_eq(buf_append_str(&wire, ".\r\nQUIT\r\n"), 0);
                run_all_splits(&lim, NULL, 0, false, buf_peek(&wire), buf_pending(&wire), &run);
                ck_assert(run.end);
                ck_assert_uint_eq(run.used, buf_pending(&wire) - 6);
                ck_assert_str_eq(buf_peek(&run.content), buf_peek(&text));
        }
}
END_TEST

static const struct {
        const char *input;
        size_t line_limit, header_limit;
        uint64_t size_limit;
        const char *trace;
        int result;
        bool truncated, split, too_big, in_body;
        uint64_t header_size;
} limit_cases[] = {
        /* header/body boundary */
        { "Subject: x\r\nFrom: a\r\n\r\nbody\r\n.\r\n", 2048, 102400, 0,
          "H[Subject: x]H[From: a]B[][body]", 0, false, false, false, true, 19 },
        { "hello world\r\n.\r\n", 2048, 102400, 0, "B[hello world]", 0, false, false, false, true,
          0 },
        { "Subject: a\r\n b\r\n\tc\r\nX: y\r\nbody\r\n.\r\n", 2048, 102400, 0,
          "H[Subject: a]H[ b]H[\tc]H[X: y]B[body]", 0, false, false, false, true, 22 },
        { " x\r\nSubject: y\r\n.\r\n", 2048, 102400, 0, "B[ x][Subject: y]", 0, false, false,
          false, true, 0 },
        { "Name : v\r\n:x\r\n.\r\n", 2048, 102400, 0, "H[Name : v]B[:x]", 0, false, false, false,
          true, 9 },
        { "Subject: x\r\n.\r\n", 2048, 102400, 0, "H[Subject: x]", 0, false, false, false, false,
          11 },
        { "A: b\r\n\r\n\r\nC: d\r\n.\r\n", 2048, 102400, 0, "H[A: b]B[][][C: d]", 0, false,
          false, false, true, 5 },
        /* line_length_limit: chopped, not rejected */
        { "abcd\r\n.\r\n", 4, 102400, 0, "B[abcd]", 0, false, false, false, true, 0 },
        { "abcde\r\n.\r\n", 4, 102400, 0, "BP[abcd][e]", 0, false, true, false, true, 0 },
        { "abcdefgh\r\n.\r\n", 4, 102400, 0, "BP[abcd][efgh]", 0, false, true, false, true, 0 },
        { "abcdefghij\r\nk\r\n.\r\n", 4, 102400, 0, "BP[abcd]P[efgh][ij][k]", 0, false, true,
          false, true, 0 },
        { "..abcde\r\n.\r\n", 4, 102400, 0, "BP[.abc][de]", 0, false, true, false, true, 0 },
        { "abcd.e\r\n.\r\n", 4, 102400, 0, "BP[abcd][.e]", 0, false, true, false, true, 0 },
        { "abcd\r\r\n.\r\n", 4, 102400, 0, "BP[abcd][\r]", 0, false, true, false, true, 0 },
        { "X: abcdefg\r\n\r\n.\r\n", 4, 102400, 0, "HP[X: a]HP[bcde]H[fg]B[]", 0, false, true,
          false, true, 11 },
        { "Xabcdefg: 1\r\n.\r\n", 4, 102400, 0, "BP[Xabc]P[defg][: 1]", 0, false, true, false,
          true, 0 },
        /* header_size_limit: per logical header; the excess is discarded */
        { "Subject: 0123456789\r\n more\r\nX: y\r\n\r\nb\r\n.\r\n", 2048, 16, 0,
          "H[Subject: 012345]H[X: y]B[][b]", 0, true, false, false, true, 21 },
        { "Subject: 0123456\r\n more\r\nX: y\r\n\r\n.\r\n", 2048, 16, 0,
          "H[Subject: 012345]H[X: y]B[]", 0, true, false, false, true, 21 },
        { "Subject: 012345\r\n more\r\n m2\r\nX: y\r\n\r\n.\r\n", 2048, 16, 0,
          "H[Subject: 012345]H[X: y]B[]", 0, true, false, false, true, 21 },
        /* no empty line may appear inside the header: a continuation cut to nothing goes */
        { "Subject: 01234\r\n more\r\n\r\n.\r\n", 2048, 16, 0, "H[Subject: 01234]B[]", 0,
          true, false, false, true, 15 },
        { "Subject: 012\r\n m\r\n\r\n.\r\n", 2048, 16, 0, "H[Subject: 012]H[ m]B[]", 0,
          false, false, false, true, 16 },
        { "Subject: 0123\r\n mm\r\n\r\n.\r\n", 2048, 16, 0, "H[Subject: 0123]H[ ]B[]", 0,
          true, false, false, true, 16 },
        { "X: 0123456789abcdefghij\r\n\r\n.\r\n", 8, 16, 0, "HP[X: 01234]H[56789ab]B[]", 0,
          true, true, false, true, 16 },
        { "X: 0123456789abc\r\n\r\n.\r\n", 8, 16, 0, "HP[X: 01234]H[56789ab]B[]", 0, true,
          true, false, true, 16 },
        { "X: 012345678901\r\n\r\n.\r\n", 8, 16, 0, "HP[X: 01234]H[5678901]B[]", 0, false,
          true, false, true, 16 },
        /* message_size_limit: LFs counted, periods removed; read to the end */
        { "0123456789\r\n.\r\n", 2048, 102400, 11, "B[0123456789]", 0, false, false, false,
          true, 0 },
        { "0123456789\r\n.\r\n", 2048, 102400, 10, "", -EMSGSIZE, false, false, true, true, 0 },
        { "..23456789\r\n.\r\n", 2048, 102400, 10, "B[.23456789]", 0, false, false, false,
          true, 0 },
        { "a\r\nb\r\nc\r\n.\r\nQUIT\r\n", 2048, 102400, 5, "B[a][b]", -EMSGSIZE, false, false,
          true, true, 0 },
        { "abcdefgh\r\n.\r\n", 4, 102400, 6, "BP[abcd]", -EMSGSIZE, false, true, true, true,
          0 },
        { "X: y\r\n\r\nb\r\n.\r\n", 2048, 2, 6, "H[X]B[]", -EMSGSIZE, true, false, true, true,
          2 },
};

START_TEST(test_data_limits)
{
        for (size_t i = 0; i < ELEMENTSOF(limit_cases); i++) {
                SmtpDataLimits lim = SMTP_DATA_LIMITS_DEFAULT;
                const char *s = limit_cases[i].input;
                _cleanup_(run_done) Run run = {};

                lim.line_length_limit = limit_cases[i].line_limit;
                lim.header_size_limit = limit_cases[i].header_limit;
                lim.message_size_limit = limit_cases[i].size_limit;
                run_all_splits(&lim, NULL, 0, false, s, strlen(s), &run);
                ck_assert_msg(streq(buf_peek(&run.trace), limit_cases[i].trace),
                              "case %zu: trace '%s'", i, buf_peek(&run.trace));
                ck_assert_msg(run.result == limit_cases[i].result, "case %zu: result %d", i,
                              run.result);
                ck_assert(run.end);
                ck_assert_msg(run.info.header_truncated == limit_cases[i].truncated, "case %zu",
                              i);
                ck_assert_msg(run.info.line_split == limit_cases[i].split, "case %zu", i);
                ck_assert_msg(run.info.too_big == limit_cases[i].too_big, "case %zu", i);
                ck_assert_msg(run.info.in_body == limit_cases[i].in_body, "case %zu", i);
                ck_assert_msg(run.info.header_size == limit_cases[i].header_size,
                              "case %zu: header_size %" PRIu64, i, run.info.header_size);
        }
}
END_TEST

START_TEST(test_data_errors_first_wins)
{
        SmtpDataLimits lim = SMTP_DATA_LIMITS_DEFAULT;
        _cleanup_(run_done) Run big = {}, lf = {}, cb = {};

        /* Too big, then a bare LF in reject mode: the first error is the verdict. */
        lim.bare_lf = SMTP_BARE_LF_REJECT;
        lim.message_size_limit = 3;
        run_all_splits(&lim, NULL, 0, false, "abcd\r\nx\ny\r\n.\r\n", 14, &big);
        ck_assert_int_eq(big.result, -EMSGSIZE);
        ck_assert(big.end);
        ck_assert(big.info.bare_lf);

        lim.message_size_limit = 100;
        run_all_splits(&lim, NULL, 0, false, "x\ny\r\nabcdefghijklmnopqrstuvwxyz0123456789"
                       "abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz\r\n.\r\n",
                       117, &lf);
        ck_assert_int_eq(lf.result, -EBADMSG);
        ck_assert(lf.info.too_big);
        ck_assert_str_eq(buf_peek(&lf.content), "");

        /* The callback fails on its second piece: nothing more is emitted, the end is read. */
        lim = SMTP_DATA_LIMITS_DEFAULT;
        cb.fail_at = 2;
        run_all_splits(&lim, NULL, 0, false, "a\r\nb\r\nc\r\n.\r\nQUIT\r\n", 18, &cb);
        ck_assert_int_eq(cb.result, -ENOSPC);
        ck_assert(cb.end);
        ck_assert_uint_eq(cb.used, 12);
        ck_assert_str_eq(buf_peek(&cb.content), "a\n");
        ck_assert_uint_eq(cb.info.emitted, 2);
        ck_assert_uint_eq(cb.info.size, 6);
}
END_TEST

static const struct {
        const char *input;
        uint64_t chunks[4];
        size_t n_chunks;
        bool last;
        unsigned modes;
        const char *trace;
        const char *rest;       /* NULL: the chunks were not all received */
        int result;
} bdat_cases[] = {
        { "Subject: x\r\n\r\nhi\r\n", { 18 }, 1, true, M_ALL, "H[Subject: x]B[][hi]", "", 0 },
        { "Subject: x\r\n\r\nhi\r\nQUIT\r\n", { 18 }, 1, true, M_ALL, "H[Subject: x]B[][hi]",
          "QUIT\r\n", 0 },
        { "a\r\nb", { 2, 2 }, 2, true, M_ALL, "B[a]P[b]", "", 0 },
        { "a\r\nb", { 2, 0, 2 }, 3, true, M_ALL, "B[a]P[b]", "", 0 },
        { "a\r\nb", { 2, 2 }, 2, false, M_ALL, "B[a]", "", 0 },
        { "a\r", { 2 }, 1, true, M_ALL, "BP[a\r]", "", 0 },
        { "a\r", { 1, 1 }, 2, false, M_ALL, "", "", 0 },
        { "..a\r\n.\r\n", { 8 }, 1, true, M_ALL, "B[..a][.]", "", 0 },
        { ".\r\n", { 3 }, 1, true, M_ALL, "B[.]", "", 0 },
        { "abcQUIT\r\n", { 3 }, 1, true, M_ALL, "BP[abc]", "QUIT\r\n", 0 },
        { "", { 0 }, 1, true, M_ALL, "", "", 0 },
        { "abc", { 5 }, 1, true, M_ALL, "", NULL, 0 },
        { "a\nb\r\n", { 5 }, 1, true, M_NO, "B[a\nb]", "", 0 },
        { "a\nb\r\n", { 5 }, 1, true, M_NORM, "B[a][b]", "", 0 },
        { "a\nb\r\n", { 5 }, 1, true, M_REJ, "", "", -EBADMSG },
        { "a\rb\r\n", { 5 }, 1, true, M_ALL, "B[a\rb]", "", 0 },
        { "X: 1\r\n\r\nb\r\n\r\n.\r\n", { 1, 5, 4, 6 }, 4, true, M_ALL, "H[X: 1]B[][b][][.]", "",
          0 },
};

START_TEST(test_data_bdat)
{
        for (size_t i = 0; i < ELEMENTSOF(bdat_cases); i++)
                for (SmtpBareLf m = 0; m < _SMTP_BARE_LF_MAX; m++) {
                        SmtpDataLimits lim = SMTP_DATA_LIMITS_DEFAULT;
                        const char *s = bdat_cases[i].input;
                        _cleanup_(run_done) Run run = {};

                        if (!(bdat_cases[i].modes & (1u << m)))
                                continue;
                        lim.bare_lf = m;
                        run_all_splits(&lim, bdat_cases[i].chunks, bdat_cases[i].n_chunks,
                                       bdat_cases[i].last, s, strlen(s), &run);
                        ck_assert_msg(streq(buf_peek(&run.trace), bdat_cases[i].trace),
                                      "case %zu mode %d: trace '%s'", i, m, buf_peek(&run.trace));
                        ck_assert_int_eq(run.result, bdat_cases[i].result);
                        ck_assert_int_eq(run.end, !!bdat_cases[i].rest);
                        if (bdat_cases[i].rest)
                                ck_assert_uint_eq(run.used,
                                                  strlen(s) - strlen(bdat_cases[i].rest));
                }
}
END_TEST

START_TEST(test_data_sequence)
{
        SmtpDataLimits lim = SMTP_DATA_LIMITS_DEFAULT;
        _cleanup_(smtp_data_freep) SmtpDataReader *r = NULL;
        _cleanup_(run_done) Run run = {};
        size_t used = 99;

        run.content = BUF_INIT(4096);
        run.trace = BUF_INIT(4096);
        ck_assert_int_eq(smtp_data_new(&lim, on_piece, &run, &r), 0);

        /* Idle: nothing to feed, nothing to finish. */
        ck_assert_int_eq(smtp_data_feed(r, "x", 1, &used), -EPROTO);
        ck_assert_uint_eq(used, 0);
        ck_assert_int_eq(smtp_data_finish(r), -EPROTO);

        /* DATA: no chunks meanwhile, no second start; the end is sticky. */
        ck_assert_int_eq(smtp_data_start(r), 0);
        ck_assert_int_eq(smtp_data_start(r), -EPROTO);
        ck_assert_int_eq(smtp_data_start_chunk(r, 1), -EPROTO);
        ck_assert_int_eq(smtp_data_finish(r), -EPROTO);
        ck_assert_int_eq(smtp_data_feed(r, "a\r\n.\r\nb", 7, &used), 1);
        ck_assert_uint_eq(used, 6);
        ck_assert_int_eq(smtp_data_feed(r, "b", 1, &used), 1);
        ck_assert_uint_eq(used, 0);
        ck_assert_int_eq(smtp_data_finish(r), 0);
        ck_assert_str_eq(buf_peek(&run.content), "a\n");

        /* Reset: a BDAT message next. */
        smtp_data_reset(r);
        ck_assert_uint_eq(smtp_data_info(r)->octets, 0);
        ck_assert_int_eq(smtp_data_start_chunk(r, 3), 0);
        ck_assert_int_eq(smtp_data_start_chunk(r, 3), -EPROTO);
        ck_assert_int_eq(smtp_data_start(r), -EPROTO);
        ck_assert_int_eq(smtp_data_finish(r), -EPROTO);
        ck_assert_int_eq(smtp_data_feed(r, "b\r\nc", 4, &used), 1);
        ck_assert_uint_eq(used, 3);
        ck_assert_int_eq(smtp_data_feed(r, "c", 1, &used), 1);
        ck_assert_uint_eq(used, 0);
        ck_assert_int_eq(smtp_data_finish(r), 0);
        ck_assert_int_eq(smtp_data_finish(r), 0);
        ck_assert_int_eq(smtp_data_start_chunk(r, 1), -EPROTO);
        ck_assert_int_eq(smtp_data_feed(r, "c", 1, &used), -EPROTO);
        ck_assert_str_eq(buf_peek(&run.content), "a\nb\n");

        /* A huge announced chunk is just a counter. */
        smtp_data_reset(r);
        ck_assert_int_eq(smtp_data_start_chunk(r, UINT64_MAX), 0);
        ck_assert_int_eq(smtp_data_feed(r, "xyz", 3, &used), 0);
        ck_assert_uint_eq(used, 3);
}
END_TEST

START_TEST(test_data_config)
{
        SmtpDataLimits lim = SMTP_DATA_LIMITS_DEFAULT;
        _cleanup_(smtp_data_freep) SmtpDataReader *r = NULL;
        static const struct {
                const char *s;
                SmtpBareLf m;
        } names[] = {
                { "no", SMTP_BARE_LF_NO },
                { "NO", SMTP_BARE_LF_NO },
                { "normalize", SMTP_BARE_LF_NORMALIZE },
                { "yes", SMTP_BARE_LF_REJECT },
                { "Yes", SMTP_BARE_LF_REJECT },
                { "reject", SMTP_BARE_LF_REJECT },
                { "REJECT", SMTP_BARE_LF_REJECT },
                { "note", _SMTP_BARE_LF_INVALID },
                { "", _SMTP_BARE_LF_INVALID },
                { "no ", _SMTP_BARE_LF_INVALID },
                { NULL, _SMTP_BARE_LF_INVALID },
        };

        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                ck_assert_int_eq(smtp_data_bare_lf_from_string(names[i].s), names[i].m);
        ck_assert_str_eq(smtp_data_bare_lf_to_string(SMTP_BARE_LF_NORMALIZE), "normalize");
        ck_assert_ptr_null(smtp_data_bare_lf_to_string(_SMTP_BARE_LF_MAX));
        ck_assert_ptr_null(smtp_data_bare_lf_to_string(_SMTP_BARE_LF_INVALID));

        ck_assert_uint_eq(lim.line_length_limit, 2048);
        ck_assert_uint_eq(lim.header_size_limit, 102400);
        ck_assert_uint_eq(lim.message_size_limit, 10240000);

        lim.line_length_limit = 0;
        ck_assert_int_eq(smtp_data_new(&lim, on_piece, NULL, &r), -EINVAL);
        lim = SMTP_DATA_LIMITS_DEFAULT;
        lim.header_size_limit = 0;
        ck_assert_int_eq(smtp_data_new(&lim, on_piece, NULL, &r), -EINVAL);
        lim = SMTP_DATA_LIMITS_DEFAULT;
        lim.bare_lf = _SMTP_BARE_LF_MAX;
        ck_assert_int_eq(smtp_data_new(&lim, on_piece, NULL, &r), -EINVAL);
        ck_assert_ptr_null(r);
        ck_assert_ptr_null(smtp_data_free(NULL));
}
END_TEST

static Suite *smtp_data_suite(void) {
        Suite *s = suite_create("smtp_data");
        TCase *tc;

        tc = tcase_create("data");
        tcase_add_test(tc, test_data_table);
        tcase_add_test(tc, test_data_flags);
        tcase_add_test(tc, test_data_dot_round_trip);
        tcase_set_timeout(tc, 120);
        suite_add_tcase(s, tc);

        tc = tcase_create("limits");
        tcase_add_test(tc, test_data_limits);
        tcase_add_test(tc, test_data_errors_first_wins);
        tcase_set_timeout(tc, 120);
        suite_add_tcase(s, tc);

        tc = tcase_create("bdat");
        tcase_add_test(tc, test_data_bdat);
        tcase_add_test(tc, test_data_sequence);
        suite_add_tcase(s, tc);

        tc = tcase_create("config");
        tcase_add_test(tc, test_data_config);
        suite_add_tcase(s, tc);

        return s;
}

TERN_CHECK_MAIN(smtp_data_suite)
