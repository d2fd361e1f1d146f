/* SPDX-License-Identifier: GPL-3.0-or-later */
/* mime: the 8BITMIME to 7BIT downgrade and the DATA encoder of the smtp and lmtp agents (see
 * mime.h). The content is untrusted bytes from a queue file: the downgrader looks at lines
 * through a held prefix of bounded size (a header field up to MIME_HEADER_MAX, a body line up
 * to the longest open boundary plus four bytes) and streams everything past it, keeps at most
 * MIME_NESTING_MAX boundaries, and never recurses. RFC 2045 §5.1, §6.1 and §6.7, RFC 2046
 * §5.1.1 and §5.2.1, RFC 5321 §4.5.2. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "header.h"
#include "mime.h"

/* Bytes of a line start held in a header block before deciding whether it is a header field:
 * a name longer than this is not one. */
#define MIME_NAME_HOLD 1024

typedef enum MimeCtype {
        MIME_CTYPE_OTHER,
        MIME_CTYPE_TEXT,
        MIME_CTYPE_MESSAGE,
        MIME_CTYPE_MULTIPART,
} MimeCtype;

typedef enum MimeEncoding {
        MIME_ENC_7BIT,                  /* also: no header, or one we do not know */
        MIME_ENC_8BIT,
        MIME_ENC_BINARY,
        MIME_ENC_QP,
        MIME_ENC_BASE64,
} MimeEncoding;

/* What happens to the rest of the current line once its start is decided. */
typedef enum MimeLineMode {
        MIME_LINE_START,                /* collecting the line start in hold */
        MIME_LINE_PASS,                 /* copied as it is */
        MIME_LINE_QP,                   /* quoted-printable encoded */
        MIME_LINE_HEADER,               /* appended to the held header field */
} MimeLineMode;

typedef struct MimeLevel {
        char *boundary;                 /* owned, not NUL-terminated past len */
        size_t len;
        bool digest;                    /* multipart/digest: parts default to message/rfc822 */
} MimeLevel;

struct MimeDowngrader {
        bool in_header;                 /* in a header block, else in a body */
        /* The entity whose header block is read, or whose body is sent. */
        MimeCtype ctype;
        bool rfc822;                    /* message/rfc822 */
        bool digest;                    /* multipart/digest */
        MimeEncoding enc;
        char *boundary;                 /* owned: from Content-Type, until pushed */
        size_t boundary_len;
        bool qp;                        /* body lines are encoded */

        MimeLineMode mode;
        Buf hold;                       /* the start of the current line */
        Buf hdr;                        /* the header field being read, with its LFs */
        bool hdr_open;                  /* a field was started in this header block */
        bool hdr_streaming;             /* ... and overflowed: it is passed on as it comes */
        bool hdr_is_cte;                /* ... and is Content-Transfer-Encoding */

        size_t qp_col;                  /* characters on the current encoded line */
        char qp_ws;                     /* white space not yet written, or 0 */

        MimeLevel stack[MIME_NESTING_MAX];
        size_t depth;
        size_t bound_max;               /* longest boundary on the stack */

        bool out_bol;                   /* the last byte written was LF (or none was) */
        unsigned flags;
        int error;                      /* sticky */
};

static bool is_wsp(char c) {
        return c == ' ' || c == '\t';
}

static bool has_8bit(const char *p, size_t n) {
        for (size_t i = 0; i < n; i++)
                if ((unsigned char) p[i] >= 0x80)
                        return true;
        return false;
}

static int emit(MimeDowngrader *m, const char *p, size_t n, Buf *out) {
        int r;

        if (n == 0)
                return 0;
        r = buf_append(out, p, n);
        if (r < 0)
                return r;
        m->out_bol = p[n - 1] == '\n';
        return 0;
}

/* Bytes that go out unconverted. */
static int emit_kept(MimeDowngrader *m, const char *p, size_t n, Buf *out) {
        if (has_8bit(p, n))
                m->flags |= MIME_DOWNGRADE_8BIT_LEFT;
        return emit(m, p, n, out);
}

/* ---- Quoted-printable (RFC 2045 §6.7) ---- */

static const char hexdigits[] = "0123456789ABCDEF";

/* One encoded unit of width 1 or 3; a soft break first when the line would pass 75, so that
 * with the "=" no line is longer than 76. */
static int qp_unit(MimeDowngrader *m, const char *u, size_t w, Buf *out) {
        int r;

        if (m->qp_col + w > MIME_QP_LINE_MAX - 1) {
                r = emit(m, "=\n", 2, out);
                if (r < 0)
                        return r;
                m->qp_col = 0;
        }
        m->qp_col += w;
        return emit(m, u, w, out);
}

static int qp_byte(MimeDowngrader *m, unsigned char c, bool literal, Buf *out) {
        char enc[3] = { '=', hexdigits[c >> 4], hexdigits[c & 0xf] };

        return literal ? qp_unit(m, (const char *) &c, 1, out) : qp_unit(m, enc, 3, out);
}

/* Writes the pending white space: literally when more follows on the line, encoded at its end
 * (rule 3). */
static int qp_flush_ws(MimeDowngrader *m, bool at_end, Buf *out) {
        char c = m->qp_ws;

        if (!c)
                return 0;
        m->qp_ws = 0;
        return qp_byte(m, (unsigned char) c, !at_end, out);
}

static int qp_encode(MimeDowngrader *m, const char *p, size_t n, Buf *out) {
        int r;

        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char) p[i];

                if (c == '\n') {
                        r = qp_flush_ws(m, /* at_end= */ true, out);
                        if (r >= 0)
                                r = emit(m, "\n", 1, out);
                        m->qp_col = 0;
                } else if (is_wsp((char) c)) {
                        r = qp_flush_ws(m, /* at_end= */ false, out);
                        m->qp_ws = (char) c;
                } else {
                        r = qp_flush_ws(m, /* at_end= */ false, out);
                        if (r >= 0)
                                r = qp_byte(m, c, c >= 33 && c <= 126 && c != '=', out);
                }
                if (r < 0)
                        return r;
        }
        return 0;
}

/* ---- Header values (RFC 2045 §5.1, RFC 5322 §3.2.2) ---- */

static bool is_tspecial(char c) {
        return strchr("()<>@,;:\\\"/[]?=", c) != NULL;
}

static bool is_token_char(char c) {
        return (unsigned char) c > 32 && (unsigned char) c < 127 && !is_tspecial(c);
}

/* Skips white space, line ends of continuation lines and comments; nesting is counted, not
 * recursed into. */
static size_t skip_cfws(const char *p, size_t n, size_t i) {
        size_t level = 0;

        while (i < n) {
                char c = p[i];

                if (level > 0) {
                        if (c == '\\')
                                i++;
                        else if (c == '(')
                                level++;
                        else if (c == ')')
                                level--;
                } else if (c == '(')
                        level = 1;
                else if (!is_wsp(c) && c != '\n' && c != '\r')
                        break;
                i++;
        }
        return MIN(i, n);
}

static size_t token_end(const char *p, size_t n, size_t i) {
        while (i < n && is_token_char(p[i]))
                i++;
        return i;
}

static bool token_is(const char *p, size_t a, size_t b, const char *word) {
        return b - a == strlen(word) && strncasecmp(p + a, word, b - a) == 0;
}

/* The value of a Content-Transfer-Encoding field: its first token. */
static MimeEncoding parse_cte(const char *p, size_t n) {
        size_t a = skip_cfws(p, n, 0), b = token_end(p, n, a);

        if (token_is(p, a, b, "8bit"))
                return MIME_ENC_8BIT;
        if (token_is(p, a, b, "binary"))
                return MIME_ENC_BINARY;
        if (token_is(p, a, b, "quoted-printable"))
                return MIME_ENC_QP;
        if (token_is(p, a, b, "base64"))
                return MIME_ENC_BASE64;
        /* "7bit", and what we do not know: nothing to convert (Postfix's domain 7bit). */
        return MIME_ENC_7BIT;
}

/* A parameter value: a token or a quoted-string (whose quoted pairs are unquoted into v, at
 * most MIME_BOUNDARY_MAX bytes kept). Returns the index after it, or 0 when there is none. */
static size_t parse_value(const char *p, size_t n, size_t i, char *v, size_t *ret_len) {
        size_t k = 0;

        if (i < n && p[i] == '"') {
                for (i++; i < n && p[i] != '"'; i++) {
                        char c = p[i];

                        if (c == '\\' && i + 1 < n)
                                c = p[++i];
                        else if (c == '\n' || c == '\r')
                                continue;       /* folding inside the quotes */
                        if (k < MIME_BOUNDARY_MAX)
                                v[k++] = c;
                }
                if (i >= n)
                        return 0;
                *ret_len = k;
                return i + 1;
        }
        size_t e = token_end(p, n, i);

        if (e == i)
                return 0;
        k = MIN(e - i, (size_t) MIME_BOUNDARY_MAX);
        memcpy(v, p + i, k);
        *ret_len = k;
        return e;
}

/* Content-Type: type "/" subtype *(";" attribute "=" value). Sets the entity's type and, for
 * a multipart, its boundary (the first non-empty one). A malformed parameter ends the
 * parameters; a malformed type is "other". Returns 0, -ENOMEM. */
static int parse_content_type(MimeDowngrader *m, const char *p, size_t n) {
        _cleanup_free_ char *v = NULL;
        size_t a, b, i, len = 0;
        bool multipart = false;

        m->ctype = MIME_CTYPE_OTHER;
        m->rfc822 = m->digest = false;
        m->boundary = mfree(m->boundary);
        m->boundary_len = 0;

        a = skip_cfws(p, n, 0);
        b = token_end(p, n, a);
        if (b == a)
                return 0;
        i = skip_cfws(p, n, b);
        if (i >= n || p[i] != '/')
                return 0;
        i = skip_cfws(p, n, i + 1);
        size_t sa = i, sb = token_end(p, n, i);

        if (sb == sa)
                return 0;
        if (token_is(p, a, b, "text"))
                m->ctype = MIME_CTYPE_TEXT;
        else if (token_is(p, a, b, "message")) {
                m->ctype = MIME_CTYPE_MESSAGE;
                m->rfc822 = token_is(p, sa, sb, "rfc822");
        } else if (token_is(p, a, b, "multipart")) {
                m->ctype = MIME_CTYPE_MULTIPART;
                m->digest = token_is(p, sa, sb, "digest");
                multipart = true;
        }
        if (!multipart)
                return 0;

        v = malloc(MIME_BOUNDARY_MAX);
        if (!v)
                return -ENOMEM;
        i = sb;
        for (;;) {
                i = skip_cfws(p, n, i);
                if (i >= n || p[i] != ';')
                        return 0;
                i = skip_cfws(p, n, i + 1);
                a = i;
                b = token_end(p, n, i);
                if (b == a)
                        return 0;
                i = skip_cfws(p, n, b);
                if (i >= n || p[i] != '=')
                        return 0;
                i = parse_value(p, n, skip_cfws(p, n, i + 1), v, &len);
                if (i == 0)
                        return 0;
                if (token_is(p, a, b, "boundary") && len > 0) {
                        m->boundary = TAKE_PTR(v);
                        m->boundary_len = len;
                        return 0;
                }
        }
}

/* ---- Header blocks ---- */

static bool enc_is_8bit(MimeEncoding e) {
        return e == MIME_ENC_8BIT || e == MIME_ENC_BINARY;
}

/* The entity at the start of a header block: RFC 2045 §5.2 and RFC 2046 §5.1.5 defaults. */
static void entity_reset(MimeDowngrader *m, bool digest_part) {
        m->ctype = digest_part ? MIME_CTYPE_MESSAGE : MIME_CTYPE_TEXT;
        m->rfc822 = digest_part;
        m->digest = false;
        m->enc = MIME_ENC_7BIT;
        m->boundary = mfree(m->boundary);
        m->boundary_len = 0;
        m->qp = false;
}

/* Looks at a complete (or overflowed) header field held in hdr. */
static int header_analyze(MimeDowngrader *m, bool overflowed) {
        const char *p = buf_peek(&m->hdr);
        size_t n = buf_pending(&m->hdr), name_len, value;

        if (!header_is_field_start(p, n, &name_len, &value))
                return 0;
        if (name_len == 12 && strncasecmp(p, "Content-Type", 12) == 0)
                return parse_content_type(m, p + value, n - value);
        if (name_len == 25 && strncasecmp(p, "Content-Transfer-Encoding", 25) == 0)
                /* The tail of an overflowed field is unknown: leave the entity alone. */
                m->enc = overflowed ? MIME_ENC_7BIT : parse_cte(p + value, n - value);
        return 0;
}

/* The held field is complete: analysed, then written, except a Content-Transfer-Encoding that
 * is rewritten at the end of the block. */
static int header_finish(MimeDowngrader *m, Buf *out) {
        int r = 0;

        if (!m->hdr_open)
                return 0;
        if (!m->hdr_streaming) {
                r = header_analyze(m, /* overflowed= */ false);
                if (r >= 0 && m->hdr_is_cte && enc_is_8bit(m->enc))
                        m->flags |= MIME_DOWNGRADE_CONVERTED;   /* rewritten at the end */
                else if (r >= 0)
                        r = emit_kept(m, buf_peek(&m->hdr), buf_pending(&m->hdr), out);
        }
        buf_clear(&m->hdr);
        m->hdr_open = m->hdr_streaming = m->hdr_is_cte = false;
        return r;
}

/* Appends bytes to the held field; past MIME_HEADER_MAX the field is analysed as far as it
 * goes, written, and the rest passed on. */
static int header_append(MimeDowngrader *m, const char *p, size_t n, Buf *out) {
        int r;

        if (m->hdr_streaming)
                return emit_kept(m, p, n, out);
        if (buf_pending(&m->hdr) + n <= MIME_HEADER_MAX)
                return buf_append(&m->hdr, p, n);

        r = header_analyze(m, /* overflowed= */ true);
        if (r >= 0)
                r = emit_kept(m, buf_peek(&m->hdr), buf_pending(&m->hdr), out);
        if (r < 0)
                return r;
        buf_clear(&m->hdr);
        m->hdr_streaming = true;
        return emit_kept(m, p, n, out);
}

static int push_level(MimeDowngrader *m) {
        if (m->depth >= MIME_NESTING_MAX)
                return -E2BIG;
        m->stack[m->depth++] = (MimeLevel) {
                .boundary = TAKE_PTR(m->boundary),
                .len = m->boundary_len,
                .digest = m->digest,
        };
        m->bound_max = MAX(m->bound_max, m->boundary_len);
        m->boundary_len = 0;
        return 0;
}

static void pop_level(MimeDowngrader *m) {
        assert(m->depth > 0);
        m->depth--;
        free(m->stack[m->depth].boundary);
        m->bound_max = 0;
        for (size_t i = 0; i < m->depth; i++)
                m->bound_max = MAX(m->bound_max, m->stack[i].len);
}

/* The end of a header block: at a blank line (blank), a line that is no header field, or the
 * end of the content. Writes the rewritten Content-Transfer-Encoding and picks what the body
 * is. The blank line itself is written by the caller. */
static int header_block_end(MimeDowngrader *m, bool blank, Buf *out) {
        bool multipart, nested;
        int r;

        r = header_finish(m, out);
        if (r < 0)
                return r;
        multipart = m->ctype == MIME_CTYPE_MULTIPART && m->boundary;
        nested = m->ctype == MIME_CTYPE_MESSAGE && m->rfc822 && blank &&
                 m->enc != MIME_ENC_QP && m->enc != MIME_ENC_BASE64;
        if (enc_is_8bit(m->enc)) {
                /* Postfix: a domain for multipart and message, an encoding for the rest. */
                bool composite = multipart || nested;
                const char *h = composite ? "Content-Transfer-Encoding: 7bit\n" :
                                            "Content-Transfer-Encoding: quoted-printable\n";

                /* A header block cut by the end of the content may lack its last LF. */
                if (!m->out_bol) {
                        r = emit(m, "\n", 1, out);
                        if (r < 0)
                                return r;
                }
                r = emit(m, h, strlen(h), out);
                if (r < 0)
                        return r;
                m->flags |= MIME_DOWNGRADE_CONVERTED;
        }

        m->in_header = false;
        if (multipart) {
                r = push_level(m);
                if (r < 0)
                        return r;
                /* The preamble: nothing to convert. */
                entity_reset(m, false);
                m->ctype = MIME_CTYPE_OTHER;
        } else if (nested) {
                /* RFC 2046 §5.2.1: the body is a message; its own header block follows. */
                entity_reset(m, false);
                m->in_header = true;
        } else
                m->qp = enc_is_8bit(m->enc);
        return 0;
}

/* ---- Lines ---- */

/* Bytes a body line start needs before it can be told from a boundary line. */
static size_t body_hold_need(const MimeDowngrader *m) {
        return m->depth > 0 ? 2 + m->bound_max + 2 : 1;
}

/* A body line that is a boundary of an open multipart (RFC 2046 §5.1.1; text after it is
 * ignored, as Postfix and MUAs do): closes the inner levels and starts a part, or with "--"
 * ends that multipart too. Returns true when it is one. */
static bool body_boundary(MimeDowngrader *m, const char *p, size_t n) {
        if (m->depth == 0 || n < 3 || p[0] != '-' || p[1] != '-')
                return false;
        for (size_t k = m->depth; k > 0; k--) {
                const MimeLevel *l = &m->stack[k - 1];
                bool digest = l->digest;

                if (n < 2 + l->len || memcmp(p + 2, l->boundary, l->len) != 0)
                        continue;
                while (m->depth > k)
                        pop_level(m);
                if (n >= 4 + l->len && p[2 + l->len] == '-' && p[3 + l->len] == '-') {
                        pop_level(m);
                        /* The epilogue: nothing to convert. */
                        entity_reset(m, false);
                        m->ctype = MIME_CTYPE_OTHER;
                        m->in_header = false;
                } else {
                        entity_reset(m, digest);
                        m->in_header = true;
                }
                return true;
        }
        return false;
}

/* Bytes of the current line after its start was decided. */
static int line_bytes(MimeDowngrader *m, const char *p, size_t n, Buf *out) {
        switch (m->mode) {
        case MIME_LINE_PASS:
                return emit_kept(m, p, n, out);
        case MIME_LINE_QP:
                return qp_encode(m, p, n, out);
        case MIME_LINE_HEADER:
                return header_append(m, p, n, out);
        default:
                assert(false);
                return -EINVAL;
        }
}

/* Bytes of a line start held before deciding: a header name, or a boundary and its "--". */
static size_t hold_need(const MimeDowngrader *m) {
        return m->in_header ? MIME_NAME_HOLD : body_hold_need(m);
}

/* Decides what the held line start is, when it is long enough, ends with LF, or (at_eof)
 * nothing more will come. Returns 1 when decided (hold is then written and empty), 0 when
 * more bytes are needed, or -errno. */
static int line_decide(MimeDowngrader *m, bool at_eof, Buf *out) {
        const char *p = buf_peek(&m->hold);
        size_t n = buf_pending(&m->hold);
        bool complete = at_eof || (n > 0 && p[n - 1] == '\n');
        size_t name_len;
        int r;

        if (n == 0)
                return 0;

        if (m->in_header) {
                if (is_wsp(p[0]) && m->hdr_open) {
                        m->mode = MIME_LINE_HEADER;     /* RFC 5322 §2.2.3 folding */
                        goto write;
                }
                if (!complete && n < MIME_NAME_HOLD && !is_wsp(p[0]))
                        return 0;
                r = header_finish(m, out);
                if (r < 0)
                        return r;
                if (p[0] == '\n') {
                        r = header_block_end(m, /* blank= */ true, out);
                        if (r < 0)
                                return r;
                        m->mode = MIME_LINE_PASS;
                        goto write;
                }
                if (header_is_field_start(p, n, &name_len, NULL)) {
                        m->hdr_open = true;
                        m->hdr_is_cte = name_len == 25 &&
                                        strncasecmp(p, "Content-Transfer-Encoding", 25) == 0;
                        m->mode = MIME_LINE_HEADER;
                        goto write;
                }
                /* Not a header field: the header block ends here and this is body. */
                r = header_block_end(m, /* blank= */ false, out);
                if (r < 0)
                        return r;
        }

        if (n < body_hold_need(m) && !complete)
                return 0;
        if (body_boundary(m, p, n - (p[n - 1] == '\n')))
                m->mode = MIME_LINE_PASS;
        else
                m->mode = m->qp ? MIME_LINE_QP : MIME_LINE_PASS;

write:
        r = line_bytes(m, p, n, out);
        buf_clear(&m->hold);
        return r < 0 ? r : 1;
}

static int feed(MimeDowngrader *m, const char *p, size_t n, Buf *out) {
        size_t i = 0;
        int r;

        while (i < n) {
                if (m->mode == MIME_LINE_START) {
                        /* Collect the line start, up to its LF or what the decision needs. */
                        const char *lf = memchr(p + i, '\n', n - i);
                        size_t end = lf ? (size_t) (lf - p) + 1 : n;
                        size_t held = buf_pending(&m->hold), need = hold_need(m);
                        size_t k = MIN(need > held ? need - held : 1, end - i);

                        r = buf_append(&m->hold, p + i, k);
                        if (r < 0)
                                return r;
                        i += k;
                        r = line_decide(m, /* at_eof= */ false, out);
                        if (r < 0)
                                return r;
                        if (r > 0 && p[i - 1] == '\n')
                                m->mode = MIME_LINE_START;
                        continue;
                }

                /* The rest of a decided line, up to and with its LF. */
                const char *lf = memchr(p + i, '\n', n - i);
                size_t end = lf ? (size_t) (lf - p) + 1 : n;

                r = line_bytes(m, p + i, end - i, out);
                if (r < 0)
                        return r;
                i = end;
                if (lf)
                        m->mode = MIME_LINE_START;
        }
        return 0;
}

int mime_downgrader_new(MimeDowngrader **ret) {
        MimeDowngrader *m;

        assert(ret);

        m = calloc(1, sizeof(*m));
        if (!m)
                return -ENOMEM;
        m->hold = BUF_INIT(MIME_HEADER_MAX);
        m->hdr = BUF_INIT(MIME_HEADER_MAX);
        m->in_header = true;
        m->out_bol = true;
        m->mode = MIME_LINE_START;
        entity_reset(m, false);
        *ret = m;
        return 0;
}

MimeDowngrader *mime_downgrader_free(MimeDowngrader *m) {
        if (!m)
                return NULL;
        while (m->depth > 0)
                pop_level(m);
        free(m->boundary);
        buf_done(&m->hold);
        buf_done(&m->hdr);
        return mfree(m);
}

int mime_downgrader_feed(MimeDowngrader *m, const char *p, size_t n, Buf *out) {
        assert(m);
        assert(p || n == 0);
        assert(out);

        if (m->error < 0)
                return m->error;
        m->error = feed(m, p, n, out);
        return m->error;
}

int mime_downgrader_finish(MimeDowngrader *m, Buf *out) {
        int r;

        assert(m);
        assert(out);

        if (m->error < 0)
                return m->error;
        if (m->mode == MIME_LINE_START) {
                r = line_decide(m, /* at_eof= */ true, out);
                if (r < 0)
                        return (m->error = r);
        }
        if (m->mode == MIME_LINE_QP) {
                r = qp_flush_ws(m, /* at_end= */ true, out);
                if (r < 0)
                        return (m->error = r);
        }
        if (m->in_header) {
                r = header_block_end(m, /* blank= */ false, out);
                if (r < 0)
                        return (m->error = r);
        }
        m->mode = MIME_LINE_START;
        return 0;
}

unsigned mime_downgrader_flags(const MimeDowngrader *m) {
        return m->flags;
}

/* ---- DATA (RFC 5321 §4.5.2) ---- */

void mime_wire_init(MimeWire *w, size_t line_length_limit) {
        assert(w);

        *w = (MimeWire) {
                .limit = line_length_limit == 1 ? 2 : line_length_limit,
                .bol = true,
        };
}

int mime_wire_feed(MimeWire *w, const char *p, size_t n, Buf *out) {
        size_t i = 0;
        int r;

        assert(w);
        assert(p || n == 0);
        assert(out);

        while (i < n) {
                if (p[i] == '\n') {
                        r = buf_append(out, "\r\n", 2);
                        if (r < 0)
                                return r;
                        w->col = 0;
                        w->bol = true;
                        i++;
                        continue;
                }
                if (w->bol && p[i] == '.') {
                        r = buf_append_char(out, '.');
                        if (r < 0)
                                return r;
                        w->col++;
                }
                w->bol = false;
                if (w->limit > 0 && w->col >= w->limit) {
                        /* Postfix's smtp_line_length_limit: CRLF SPACE, the rest follows. */
                        r = buf_append(out, "\r\n ", 3);
                        if (r < 0)
                                return r;
                        w->col = 1;
                }

                /* As many bytes as fit before the next LF or fold. */
                const char *lf = memchr(p + i, '\n', n - i);
                size_t k = (lf ? (size_t) (lf - p) : n) - i;

                if (w->limit > 0)
                        k = MIN(k, w->limit - w->col);
                r = buf_append(out, p + i, k);
                if (r < 0)
                        return r;
                w->col += k;
                i += k;
        }
        return 0;
}

int mime_wire_finish(MimeWire *w, Buf *out) {
        int r;

        assert(w);
        assert(out);

        if (!w->bol) {
                r = buf_append(out, "\r\n", 2);
                if (r < 0)
                        return r;
        }
        w->bol = true;
        w->col = 0;
        return buf_append(out, ".\r\n", 3);
}

/* ---- Both ---- */

struct MimeEncoder {
        MimeDowngrader *down;           /* owned, NULL without downgrading */
        MimeWire wire;
        Buf tmp;                        /* the downgrader's output of one feed */
};

int mime_encoder_new(const MimeEncoderOptions *o, MimeEncoder **ret) {
        _cleanup_(mime_encoder_freep) MimeEncoder *e = NULL;
        int r;

        assert(o);
        assert(ret);

        e = calloc(1, sizeof(*e));
        if (!e)
                return -ENOMEM;
        e->tmp = BUF_INIT(BUF_MAX_UNBOUNDED);
        mime_wire_init(&e->wire, o->line_length_limit);
        if (o->downgrade) {
                r = mime_downgrader_new(&e->down);
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(e);
        return 0;
}

MimeEncoder *mime_encoder_free(MimeEncoder *e) {
        if (!e)
                return NULL;
        mime_downgrader_free(e->down);
        buf_done(&e->tmp);
        return mfree(e);
}

int mime_encoder_feed(MimeEncoder *e, const char *p, size_t n, Buf *out) {
        int r;

        assert(e);

        if (!e->down)
                return mime_wire_feed(&e->wire, p, n, out);
        buf_clear(&e->tmp);
        r = mime_downgrader_feed(e->down, p, n, &e->tmp);
        if (r < 0)
                return r;
        return mime_wire_feed(&e->wire, buf_peek(&e->tmp), buf_pending(&e->tmp), out);
}

int mime_encoder_finish(MimeEncoder *e, Buf *out) {
        int r;

        assert(e);

        if (e->down) {
                buf_clear(&e->tmp);
                r = mime_downgrader_finish(e->down, &e->tmp);
                if (r < 0)
                        return r;
                r = mime_wire_feed(&e->wire, buf_peek(&e->tmp), buf_pending(&e->tmp), out);
                if (r < 0)
                        return r;
        }
        return mime_wire_finish(&e->wire, out);
}

unsigned mime_encoder_flags(const MimeEncoder *e) {
        return e->down ? mime_downgrader_flags(e->down) : 0;
}

/* ---- Decoding ---- */

static int hexval(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        return -1;
}

int mime_qp_decode(const char *p, size_t n, Buf *out) {
        size_t i = 0;
        int r;

        assert(p || n == 0);
        assert(out);

        while (i < n) {
                const char *lf = memchr(p + i, '\n', n - i);
                size_t end = lf ? (size_t) (lf - p) : n, e = end;
                bool soft = false;

                if (end - i > MIME_QP_LINE_MAX)
                        return -EBADMSG;
                /* Rule 3: white space at the end of a line is not part of the data. */
                while (e > i && is_wsp(p[e - 1]))
                        e--;
                if (e > i && p[e - 1] == '=') {
                        soft = true;
                        e--;
                }
                for (size_t j = i; j < e; j++) {
                        char c = p[j];

                        if (c == '=') {
                                int hi, lo;

                                if (j + 2 >= e || (hi = hexval(p[j + 1])) < 0 ||
                                    (lo = hexval(p[j + 2])) < 0)
                                        return -EBADMSG;
                                c = (char) (hi << 4 | lo);
                                j += 2;
                        }
                        r = buf_append_char(out, c);
                        if (r < 0)
                                return r;
                }
                if (lf && !soft) {
                        r = buf_append_char(out, '\n');
                        if (r < 0)
                                return r;
                }
                i = lf ? end + 1 : n;
        }
        return 0;
}
