/* SPDX-License-Identifier: GPL-3.0-or-later */
/* smtp_reply: remote server replies and EHLO keywords, parsed without I/O (see smtp_reply.h).
 * RFC 5321 §4.2 (reply lines), §4.2.1 (multi-line replies: the same code on every line),
 * RFC 2034 §3 / RFC 3463 §2 (the enhanced status code after the reply code). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "parse.h"
#include "smtp_reply.h"

SmtpReply *smtp_reply_free(SmtpReply *r) {
        if (!r)
                return NULL;
        free(r->text);
        return mfree(r);
}

void smtp_reply_parser_done(SmtpReplyParser *p) {
        p->partial = smtp_reply_free(p->partial);
}

static bool is_digit(char c) {
        return c >= '0' && c <= '9';
}

/* Length of an RFC 3463 code "C.S.D" at p (n bytes) followed by a space or the end, with class
 * cls; 0 when there is none. Subject and detail: 1 to 3 digits. */
static size_t enhanced_code_len(const char *p, size_t n, char cls) {
        size_t i = 0;

        if (n < 5 || p[0] != cls || p[1] != '.')
                return 0;
        i = 2;
        for (int part = 0; part < 2; part++) {
                size_t start = i;

                while (i < n && is_digit(p[i]) && i - start < 4)
                        i++;
                if (i == start || i - start > 3)
                        return 0;
                if (part == 0) {
                        if (i >= n || p[i] != '.')
                                return 0;
                        i++;
                }
        }
        if (i < n && p[i] != ' ')
                return 0;
        return i;
}

static int text_append(SmtpReply *r, const char *p, size_t n) {
        size_t old = r->text ? strlen(r->text) : 0, need;
        char *t;

        /* old + separator + n + NUL */
        if (__builtin_add_overflow(old, n, &need) || __builtin_add_overflow(need, 2, &need))
                return -EMSGSIZE;
        if (need - 1 > SMTP_REPLY_TEXT_MAX)
                return -EMSGSIZE;
        t = realloc(r->text, need);
        if (!t)
                return -ENOMEM;
        r->text = t;
        if (r->n_lines > 0)
                t[old++] = '\n';
        memcpy(t + old, p, n);
        t[old + n] = '\0';
        return 0;
}

int smtp_reply_feed_line(SmtpReplyParser *p, const char *line, size_t n, SmtpReply **ret) {
        unsigned code;
        bool last;
        size_t skip;
        int r;

        assert(p);
        assert(line || n == 0);
        assert(ret);

        if (n > SMTP_REPLY_LINE_MAX) {
                r = -EMSGSIZE;
                goto fail;
        }
        if (n < 3 || !is_digit(line[0]) || !is_digit(line[1]) || !is_digit(line[2]) ||
            line[0] < '2' || line[0] > '5' || line[1] > '9' || memchr(line, '\0', n)) {
                r = -EBADMSG;
                goto fail;
        }
        if (n > 3 && line[3] != ' ' && line[3] != '-') {
                r = -EBADMSG;
                goto fail;
        }
        code = (unsigned) (line[0] - '0') * 100 + (unsigned) (line[1] - '0') * 10 +
               (unsigned) (line[2] - '0');
        last = n == 3 || line[3] == ' ';

        if (!p->partial) {
                p->partial = calloc(1, sizeof(SmtpReply));
                if (!p->partial)
                        return -ENOMEM;
                p->partial->code = code;
        } else if (p->partial->code != code) {
                r = -EBADMSG;
                goto fail;
        }
        if (p->partial->n_lines >= SMTP_REPLY_LINES_MAX) {
                r = -E2BIG;
                goto fail;
        }

        line += MIN(n, (size_t) 4);
        n -= MIN(n, (size_t) 4);
        skip = enhanced_code_len(line, n, (char) ('0' + code / 100));
        if (skip > 0) {
                if (p->partial->n_lines == 0) {
                        memcpy(p->partial->dsn, line, skip);
                        p->partial->dsn[skip] = '\0';
                }
                line += skip;
                n -= skip;
                if (n > 0) {            /* the space after the code */
                        line++;
                        n--;
                }
        }
        r = text_append(p->partial, line, n);
        if (r < 0)
                goto fail;
        p->partial->n_lines++;

        if (!last)
                return 0;
        *ret = TAKE_PTR(p->partial);
        return 1;

fail:
        smtp_reply_parser_done(p);
        return r;
}

void smtp_reply_dsn(const SmtpReply *r, char ret[static SMTP_REPLY_DSN_MAX + 1]) {
        assert(r);

        if (r->dsn[0])
                memcpy(ret, r->dsn, strlen(r->dsn) + 1);
        else {
                ret[0] = (char) ('0' + (r->code / 100) % 10);
                memcpy(ret + 1, ".0.0", 5);
        }
}

char *smtp_reply_format(const SmtpReply *r, char *buf, size_t size) {
        size_t k = 0;
        int m;

        assert(r);
        assert(buf);
        assert(size > 0);

        m = snprintf(buf, size, "%u%s%s", r->code, r->dsn[0] ? " " : "", r->dsn);
        if (m < 0)
                m = 0;
        k = MIN((size_t) m, size - 1);
        if (r->text && r->text[0] && k + 1 < size)
                buf[k++] = ' ';
        for (const char *t = r->text ? r->text : ""; *t && k + 1 < size; t++) {
                unsigned char c = (unsigned char) *t;

                buf[k++] = c == '\n' ? ' ' : (c < 0x20 || c > 0x7e) ? '?' : (char) c;
        }
        buf[k] = '\0';
        return buf;
}

int smtp_ehlo_parse(const SmtpReply *r, SmtpCaps *ret) {
        SmtpCaps caps = {};
        const char *line;

        assert(r);
        assert(ret);

        if (r->code / 100 != 2)
                return -EINVAL;

        /* The first line is the server's name and greeting, not a keyword. */
        line = r->text ? strchr(r->text, '\n') : NULL;
        while (line) {
                const char *kw = line + 1, *end = strchr(kw, '\n');
                size_t len = end ? (size_t) (end - kw) : strlen(kw);
                size_t wlen = strcspn(kw, " \n");

                if (wlen > len)
                        wlen = len;
#define KW(s) (wlen == strlen(s) && strncasecmp(kw, s, wlen) == 0)
                if (KW("PIPELINING"))
                        caps.caps |= SMTP_CAP_PIPELINING;
                else if (KW("8BITMIME"))
                        caps.caps |= SMTP_CAP_8BITMIME;
                else if (KW("SMTPUTF8"))
                        caps.caps |= SMTP_CAP_SMTPUTF8;
                else if (KW("DSN"))
                        caps.caps |= SMTP_CAP_DSN;
                else if (KW("STARTTLS"))
                        caps.caps |= SMTP_CAP_STARTTLS;
                else if (KW("ENHANCEDSTATUSCODES"))
                        caps.caps |= SMTP_CAP_ENHANCEDSTATUSCODES;
                else if (KW("SIZE")) {
                        char num[DECIMAL_STR_MAX(uint64_t)];
                        size_t an = len > wlen ? len - wlen - 1 : 0;
                        uint64_t v;

                        caps.caps |= SMTP_CAP_SIZE;
                        /* RFC 1870 §4: "SIZE" alone or "SIZE 0" mean no fixed limit. */
                        if (an > 0 && an < sizeof(num)) {
                                memcpy(num, kw + wlen + 1, an);
                                num[an] = '\0';
                                if (parse_uint64(num, &v) >= 0)
                                        caps.size_max = v;
                        }
                }
#undef KW
                line = end;
        }
        *ret = caps;
        return 0;
}
