/* SPDX-License-Identifier: GPL-3.0-or-later */
/* header: header field recognition, header name classes and the address-list rewriter of
 * RFC 5322 §3.4 (see header.h). The input is untrusted: every scan is bounded by n, nesting of
 * comments is counted, and the number of tokens looked at is capped. */
#include <strings.h>

#include "addr.h"
#include "header.h"

static bool is_wsp(char c) {
        return c == ' ' || c == '\t';
}

bool header_is_field_start(const char *p, size_t n, size_t *ret_name_len,
                           size_t *ret_value_offset) {
        size_t i = 0, name_len;

        assert(p || n == 0);

        /* RFC 5322 §3.6.8: ftext is %d33-57 / %d59-126. */
        while (i < n && (unsigned char) p[i] > 32 && (unsigned char) p[i] < 127 && p[i] != ':')
                i++;
        if (i == 0)
                return false;
        name_len = i;
        /* RFC 5322 §4.5: obs-optional allows WSP between the name and the colon. */
        while (i < n && is_wsp(p[i]))
                i++;
        if (i >= n || p[i] != ':')
                return false;

        if (ret_name_len)
                *ret_name_len = name_len;
        if (ret_value_offset)
                *ret_value_offset = i + 1;
        return true;
}

typedef struct HeaderInfo {
        const char *name;
        unsigned flags;
} HeaderInfo;

/* Postfix's header classes (header_opts): which addresses a header holds. */
static const HeaderInfo header_table[_HEADER_MAX] = {
        [HEADER_APPARENTLY_TO] = { "Apparently-To", HEADER_FLAG_RECIPIENT },
        [HEADER_BCC] = { "Bcc", HEADER_FLAG_RECIPIENT },
        [HEADER_CC] = { "Cc", HEADER_FLAG_RECIPIENT },
        [HEADER_CONTENT_LENGTH] = { "Content-Length", 0 },
        [HEADER_DATE] = { "Date", 0 },
        [HEADER_DELIVERED_TO] = { "Delivered-To", 0 },
        [HEADER_DISPOSITION_NOTIFICATION_TO] = { "Disposition-Notification-To",
                                                 HEADER_FLAG_SENDER },
        [HEADER_ERRORS_TO] = { "Errors-To", HEADER_FLAG_SENDER },
        [HEADER_FROM] = { "From", HEADER_FLAG_SENDER },
        [HEADER_MAIL_FOLLOWUP_TO] = { "Mail-Followup-To", HEADER_FLAG_SENDER },
        [HEADER_MESSAGE_ID] = { "Message-Id", 0 },
        [HEADER_RECEIVED] = { "Received", 0 },
        [HEADER_REPLY_TO] = { "Reply-To", HEADER_FLAG_SENDER },
        [HEADER_RESENT_BCC] = { "Resent-Bcc", HEADER_FLAG_RECIPIENT | HEADER_FLAG_RESENT },
        [HEADER_RESENT_CC] = { "Resent-Cc", HEADER_FLAG_RECIPIENT | HEADER_FLAG_RESENT },
        [HEADER_RESENT_DATE] = { "Resent-Date", HEADER_FLAG_RESENT },
        [HEADER_RESENT_FROM] = { "Resent-From", HEADER_FLAG_SENDER | HEADER_FLAG_RESENT },
        [HEADER_RESENT_MESSAGE_ID] = { "Resent-Message-Id", HEADER_FLAG_RESENT },
        [HEADER_RESENT_REPLY_TO] = { "Resent-Reply-To",
                                     HEADER_FLAG_RECIPIENT | HEADER_FLAG_RESENT },
        [HEADER_RESENT_SENDER] = { "Resent-Sender", HEADER_FLAG_SENDER | HEADER_FLAG_RESENT },
        [HEADER_RESENT_TO] = { "Resent-To", HEADER_FLAG_RECIPIENT | HEADER_FLAG_RESENT },
        [HEADER_RETURN_PATH] = { "Return-Path", HEADER_FLAG_SENDER },
        [HEADER_RETURN_RECEIPT_TO] = { "Return-Receipt-To", HEADER_FLAG_SENDER },
        [HEADER_SENDER] = { "Sender", HEADER_FLAG_SENDER },
        [HEADER_TO] = { "To", HEADER_FLAG_RECIPIENT },
};

HeaderType header_type_from_name(const char *name, size_t n) {
        assert(name || n == 0);

        for (HeaderType t = 0; t < _HEADER_MAX; t++) {
                const char *s = header_table[t].name;

                if (strlen(s) == n && strncasecmp(s, name, n) == 0)
                        return t;
        }
        return _HEADER_INVALID;
}

const char *header_type_to_string(HeaderType t) {
        if (t < 0 || t >= _HEADER_MAX)
                return NULL;
        return header_table[t].name;
}

unsigned header_type_flags(HeaderType t) {
        if (t < 0 || t >= _HEADER_MAX)
                return 0;
        return header_table[t].flags;
}

int header_address_externalize(const char *address, Buf *out) {
        _cleanup_free_ char *local = NULL, *quoted = NULL;
        const char *at;
        int r;

        assert(address);
        assert(out);

        at = strrchr(address, '@');
        local = at ? strndup(address, at - address) : strdup(address);
        if (!local)
                return -ENOMEM;
        r = addr_local_quote(local, &quoted);
        if (r < 0)
                return r;
        r = buf_append_str(out, quoted);
        if (r < 0)
                return r;
        if (at)
                return buf_append_str(out, at);
        return 0;
}

/* ---- The address-list rewriter ---- */

typedef enum TokenType {
        TOKEN_WSP,              /* SP, HTAB, CR, LF: folding white space */
        TOKEN_COMMENT,          /* RFC 5322 §3.2.2, nested */
        TOKEN_QSTRING,          /* RFC 5322 §3.2.4 */
        TOKEN_DLITERAL,         /* RFC 5322 §3.4.1 domain-literal */
        TOKEN_ATOM,             /* a run of bytes that are not specials, white space or CTLs */
        TOKEN_SPECIAL,          /* one of ( ) < > @ , ; : \ " . [ ] */
        TOKEN_BAD,              /* a control byte, or an unterminated construct (to the end) */
} TokenType;

typedef struct Token {
        TokenType type;
        char c;                 /* TOKEN_SPECIAL: the byte */
        size_t start, end;
} Token;

static bool is_special(char c) {
        return strchr("()<>@,;:\\\".[]", c) && c != '\0';
}

static bool is_fws(char c) {
        return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool is_ctl(char c) {
        unsigned char u = (unsigned char) c;

        return (u < 32 && !is_fws(c)) || u == 127;
}

/* A quoted string, comment or domain literal starting at i (its opening byte). Returns the
 * offset after its closing byte, or n when it is not closed. */
static size_t scan_delimited(const char *p, size_t n, size_t i, char open, char close,
                             bool nest, bool *ret_closed) {
        size_t depth = 0;

        for (; i < n; i++) {
                if (p[i] == '\\') {
                        i++;            /* quoted-pair */
                        continue;
                }
                if (nest && p[i] == open && depth > 0)
                        depth++;
                else if (p[i] == open && depth == 0)
                        depth = 1;
                else if (p[i] == close) {
                        if (--depth == 0) {
                                *ret_closed = true;
                                return i + 1;
                        }
                }
        }
        *ret_closed = false;
        return n;
}

/* The rest of a quoted string after its opening quote at i - 1. Returns the offset after the
 * closing quote, or n when there is none. */
static size_t scan_quoted(const char *p, size_t n, size_t i, bool *ret_closed) {
        for (; i < n; i++) {
                if (p[i] == '\\')
                        i++;
                else if (p[i] == '"') {
                        *ret_closed = true;
                        return i + 1;
                }
        }
        *ret_closed = false;
        return n;
}

static void token_next(const char *p, size_t n, size_t i, Token *t) {
        bool closed = true;

        t->start = i;
        t->c = p[i];
        if (is_fws(p[i])) {
                t->type = TOKEN_WSP;
                while (i < n && is_fws(p[i]))
                        i++;
                t->end = i;
        } else if (p[i] == '(') {
                t->type = TOKEN_COMMENT;
                t->end = scan_delimited(p, n, i, '(', ')', /* nest= */ true, &closed);
        } else if (p[i] == '"') {
                t->type = TOKEN_QSTRING;
                t->end = scan_quoted(p, n, i + 1, &closed);
        } else if (p[i] == '[') {
                t->type = TOKEN_DLITERAL;
                t->end = scan_delimited(p, n, i, '[', ']', /* nest= */ false, &closed);
        } else if (is_special(p[i])) {
                t->type = TOKEN_SPECIAL;
                t->end = i + 1;
        } else if (is_ctl(p[i])) {
                t->type = TOKEN_BAD;
                t->end = i + 1;
        } else {
                t->type = TOKEN_ATOM;
                while (i < n && !is_fws(p[i]) && !is_special(p[i]) && !is_ctl(p[i]))
                        i++;
                t->end = i;
        }
        if (!closed)
                t->type = TOKEN_BAD;
        if (t->type == TOKEN_DLITERAL)
                for (size_t k = t->start + 1; k + 1 < t->end; k++)
                        if (p[k] == '[' || is_ctl(p[k]) || p[k] == '\0')
                                t->type = TOKEN_BAD;
        if (t->type == TOKEN_QSTRING)
                for (size_t k = t->start + 1; k + 1 < t->end; k++)
                        if (is_ctl(p[k]) || p[k] == '\0')
                                t->type = TOKEN_BAD;
}

/* The addr-spec grammar (RFC 5322 §3.4.1, with the CFWS between words of §4.4's obs-local-part
 * and obs-domain), one significant token at a time. */
typedef enum SpecState {
        SPEC_START,
        SPEC_LOCAL_WORD,        /* accepting: a local part without domain (Postfix appends one) */
        SPEC_LOCAL_DOT,
        SPEC_AT,
        SPEC_DOMAIN_ATOM,       /* accepting */
        SPEC_DOMAIN_DOT,
        SPEC_DOMAIN_LITERAL,    /* accepting */
        SPEC_INVALID,
} SpecState;

typedef struct Element {
        bool bad;               /* cannot be an address: copied unchanged */
        bool in_angle;          /* between '<' and '>' */
        bool angle_done;        /* '>' seen: the candidate is final */
        bool route;             /* in the obsolete route "@a,@b:" of an angle-addr */
        SpecState state;
        size_t first, last;     /* byte span of the candidate; first == SIZE_MAX: none */
        Buf internal;           /* the candidate in internal form */
} Element;

typedef struct Rewriter {
        const char *p;
        size_t n;
        HeaderAddressFn fn;
        void *userdata;
        Buf *out;
        size_t copied;          /* input bytes already in out */
        bool in_group;
        int replaced;
        Element e;
} Rewriter;


static void element_reset(Element *e) {
        e->bad = e->in_angle = e->angle_done = e->route = false;
        e->state = SPEC_START;
        e->first = SIZE_MAX;
        e->last = 0;
        buf_clear(&e->internal);
}

static void candidate_reset(Element *e) {
        e->state = SPEC_START;
        e->first = SIZE_MAX;
        e->last = 0;
        buf_clear(&e->internal);
}

/* Appends the unquoted content of a quoted string: quoted-pairs resolved, folding line ends
 * removed (RFC 5322 §3.2.4: the CRLF of FWS is not part of the content). */
static int append_unquoted(Buf *b, const char *p, size_t n) {
        int r;

        for (size_t i = 0; i < n; i++) {
                char c = p[i];

                if (c == '\\' && i + 1 < n)
                        c = p[++i];
                /* A line end never enters an address, not even as a quoted-pair. */
                if (c == '\r' || c == '\n')
                        continue;
                r = buf_append_char(b, c);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int candidate_feed(Rewriter *w, const Token *t) {
        Element *e = &w->e;
        const char *s = w->p + t->start;
        size_t len = t->end - t->start;
        bool word = t->type == TOKEN_ATOM || t->type == TOKEN_QSTRING;
        bool dot = t->type == TOKEN_SPECIAL && t->c == '.';
        bool at = t->type == TOKEN_SPECIAL && t->c == '@';
        SpecState next = SPEC_INVALID;

        switch (e->state) {
        case SPEC_START:
        case SPEC_LOCAL_DOT:
                if (word)
                        next = SPEC_LOCAL_WORD;
                break;
        case SPEC_LOCAL_WORD:
                if (dot)
                        next = SPEC_LOCAL_DOT;
                else if (at)
                        next = SPEC_AT;
                break;
        case SPEC_AT:
                if (t->type == TOKEN_ATOM)
                        next = SPEC_DOMAIN_ATOM;
                else if (t->type == TOKEN_DLITERAL)
                        next = SPEC_DOMAIN_LITERAL;
                break;
        case SPEC_DOMAIN_ATOM:
                if (dot)
                        next = SPEC_DOMAIN_DOT;
                break;
        case SPEC_DOMAIN_DOT:
                if (t->type == TOKEN_ATOM)
                        next = SPEC_DOMAIN_ATOM;
                break;
        case SPEC_DOMAIN_LITERAL:
        case SPEC_INVALID:
                break;
        }
        e->state = next;
        if (next == SPEC_INVALID)
                return 0;

        if (e->first == SIZE_MAX)
                e->first = t->start;
        e->last = t->end;
        if (t->type == TOKEN_QSTRING)
                return append_unquoted(&e->internal, s + 1, len - 2);
        return buf_append(&e->internal, s, len);
}

static int element_finish(Rewriter *w) {
        Element *e = &w->e;
        _cleanup_free_ char *result = NULL;
        int r;

        if (e->bad || e->in_angle || e->first == SIZE_MAX)
                return 0;
        if (!IN_SET(e->state, SPEC_LOCAL_WORD, SPEC_DOMAIN_ATOM, SPEC_DOMAIN_LITERAL))
                return 0;

        r = w->fn(w->userdata, buf_peek(&e->internal), &result);
        if (r < 0)
                return r;
        if (!result || streq(result, buf_peek(&e->internal)))
                return 0;

        assert(e->first >= w->copied);
        r = buf_append(w->out, w->p + w->copied, e->first - w->copied);
        if (r < 0)
                return r;
        r = header_address_externalize(result, w->out);
        if (r < 0)
                return r;
        w->copied = e->last;
        w->replaced++;
        return 0;
}

static int token_take(Rewriter *w, const Token *t) {
        Element *e = &w->e;
        char c = t->c;

        switch (t->type) {
        case TOKEN_WSP:
        case TOKEN_COMMENT:
                return 0;               /* CFWS may appear between any two tokens */
        case TOKEN_BAD:
                e->bad = true;
                return 0;
        case TOKEN_ATOM:
        case TOKEN_QSTRING:
        case TOKEN_DLITERAL:
                if (e->route && t->type == TOKEN_QSTRING)
                        e->bad = true;
                if (e->route)
                        return 0;       /* a domain of the route */
                break;
        case TOKEN_SPECIAL:
                if (e->route) {
                        /* obs-route (RFC 5322 §4.4): "@" domain *("," ["@" domain]) ":" */
                        if (c == ':')
                                e->route = false;
                        else if (c != '@' && c != ',' && c != '.')
                                e->bad = true;
                        return 0;
                }
                if (c == '<') {
                        if (e->in_angle || e->angle_done)
                                e->bad = true;
                        e->in_angle = true;
                        candidate_reset(e);     /* what came before was a display name */
                        return 0;
                }
                if (c == '>') {
                        if (!e->in_angle)
                                e->bad = true;
                        e->in_angle = false;
                        e->angle_done = true;
                        return 0;
                }
                if (c == '@' && e->in_angle && e->state == SPEC_START) {
                        e->route = true;
                        return 0;
                }
                if (c == ',' && !e->in_angle) {
                        int r = element_finish(w);
                        element_reset(e);
                        return r;
                }
                if (c == ':' && !e->in_angle && !w->in_group) {
                        /* RFC 5322 §3.4 group: display-name ":" [group-list] ";" */
                        element_reset(e);
                        w->in_group = true;
                        return 0;
                }
                if (c == ';' && !e->in_angle && w->in_group) {
                        int r = element_finish(w);
                        element_reset(e);
                        w->in_group = false;
                        return r;
                }
                if (c != '.' && c != '@') {
                        e->bad = true;
                        return 0;
                }
                break;
        }

        if (e->angle_done)
                return 0;               /* trailing words after an angle-addr are left alone */
        return candidate_feed(w, t);
}

int header_address_rewrite(const char *p, size_t n, size_t token_limit, HeaderAddressFn fn,
                           void *userdata, Buf *out) {
        Rewriter w = {
                .p = p,
                .n = n,
                .fn = fn,
                .userdata = userdata,
                .out = out,
                .e.internal = BUF_INIT(BUF_MAX_UNBOUNDED),
        };
        size_t tokens = 0, i = 0;
        bool stopped = false;
        int r = 0;

        assert(p || n == 0);
        assert(fn);
        assert(out);

        if (n == 0)
                return 0;
        element_reset(&w.e);
        while (i < n) {
                Token t;

                token_next(p, n, i, &t);
                assert(t.end > i);
                i = t.end;
                if (t.type != TOKEN_WSP && token_limit > 0 && ++tokens > token_limit) {
                        stopped = true;
                        break;
                }
                r = token_take(&w, &t);
                if (r < 0)
                        goto finish;
        }
        if (!stopped)
                r = element_finish(&w);
        if (r < 0)
                goto finish;

        r = buf_append(out, p + w.copied, n - w.copied);
        if (r >= 0)
                r = w.replaced;
finish:
        buf_done(&w.e.internal);
        return r;
}
