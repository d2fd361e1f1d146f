/* SPDX-License-Identifier: GPL-3.0-or-later */
/* smtp_cmd: SMTP command lines from untrusted client bytes into SmtpCmd (see smtp_cmd.h). Lines
 * are found by buf_getline() in a Buf bounded by the command line limit; the argument is parsed
 * from a scratch copy of the same bound, so the raw argument stays intact for the session's
 * replies and logs while paths and parameters are NUL-terminated and decoded in place.
 * RFC 5321 §4.1, §4.5.3.1.4; RFC 1870, 6152, 3030, 6531, 3461, 4954. */
#include <string.h>
#include <strings.h>

#include "parse.h"
#include "smtp_cmd.h"

struct SmtpCmdParser {
        SmtpLimits limits;
        Buf in;                 /* the current line; max = limits.command_line */
        char *scratch;          /* limits.command_line bytes: the argument, parsed in place */
        bool skipping;          /* after an error: dropping input up to the next CRLF */
        bool returned;          /* in holds the last returned line (the caller's SmtpCmd points
                                 * into it) and bytes given back: cleared by the next call */
};

static const char *const verb_table[_SMTP_VERB_MAX] = {
        [SMTP_VERB_UNKNOWN] = "UNKNOWN",
        [SMTP_VERB_HELO] = "HELO",
        [SMTP_VERB_EHLO] = "EHLO",
        [SMTP_VERB_MAIL] = "MAIL",
        [SMTP_VERB_RCPT] = "RCPT",
        [SMTP_VERB_DATA] = "DATA",
        [SMTP_VERB_BDAT] = "BDAT",
        [SMTP_VERB_RSET] = "RSET",
        [SMTP_VERB_NOOP] = "NOOP",
        [SMTP_VERB_QUIT] = "QUIT",
        [SMTP_VERB_VRFY] = "VRFY",
        [SMTP_VERB_EXPN] = "EXPN",
        [SMTP_VERB_ETRN] = "ETRN",
        [SMTP_VERB_HELP] = "HELP",
        [SMTP_VERB_STARTTLS] = "STARTTLS",
        [SMTP_VERB_AUTH] = "AUTH",
};

static const char *const body_table[_SMTP_BODY_MAX] = {
        [SMTP_BODY_7BIT] = "7BIT",
        [SMTP_BODY_8BITMIME] = "8BITMIME",
        [SMTP_BODY_BINARYMIME] = "BINARYMIME",
};

static const char *const ret_table[_SMTP_RET_MAX] = {
        [SMTP_RET_FULL] = "FULL",
        [SMTP_RET_HDRS] = "HDRS",
};

const char *smtp_cmd_verb_to_string(SmtpVerb v) {
        if (v < 0 || v >= _SMTP_VERB_MAX)
                return NULL;
        return verb_table[v];
}

SmtpVerb smtp_cmd_verb_from_string(const char *s, size_t n) {
        assert(s || n == 0);

        for (SmtpVerb v = SMTP_VERB_UNKNOWN + 1; v < _SMTP_VERB_MAX; v++)
                if (strlen(verb_table[v]) == n && strncasecmp(verb_table[v], s, n) == 0)
                        return v;
        return SMTP_VERB_UNKNOWN;
}

const char *smtp_cmd_body_to_string(SmtpBody b) {
        if (b < 0 || b >= _SMTP_BODY_MAX)
                return NULL;
        return body_table[b];
}

const char *smtp_cmd_ret_to_string(SmtpRet r) {
        if (r < 0 || r >= _SMTP_RET_MAX)
                return NULL;
        return ret_table[r];
}

/* ---- xtext (RFC 3461 §4) ---- */

static bool is_xchar(unsigned char c) {
        /* xchar = %d33-42 / %d44-60 / %d62-126 */
        return c >= 33 && c <= 126 && c != '+' && c != '=';
}

static int unhex(unsigned char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        return -EBADMSG;
}

int smtp_cmd_xtext_decode(const char *p, size_t n, char *ret, size_t *ret_len) {
        size_t o = 0;

        assert(p || n == 0);
        assert(ret);

        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char) p[i];
                int hi, lo;

                if (c != '+') {
                        if (!is_xchar(c))
                                return -EBADMSG;
                        ret[o++] = (char) c;
                        continue;
                }
                /* hexchar = "+" 2(%x30-39 / %x41-46) */
                if (n - i < 3)
                        return -EBADMSG;
                hi = unhex((unsigned char) p[i + 1]);
                lo = unhex((unsigned char) p[i + 2]);
                if (hi < 0 || lo < 0)
                        return -EBADMSG;
                ret[o++] = (char) (hi << 4 | lo);
                i += 2;
        }
        ret[o] = '\0';
        if (ret_len)
                *ret_len = o;
        return 0;
}

bool smtp_cmd_xtext_is_valid(const char *p, size_t n) {
        assert(p || n == 0);

        for (size_t i = 0; i < n; i++) {
                if (p[i] != '+') {
                        if (!is_xchar((unsigned char) p[i]))
                                return false;
                        continue;
                }
                if (n - i < 3 || unhex((unsigned char) p[i + 1]) < 0 ||
                    unhex((unsigned char) p[i + 2]) < 0)
                        return false;
                i += 2;
        }
        return true;
}

int smtp_cmd_xtext_encode(const char *p, size_t n, Buf *out) {
        static const char hex[] = "0123456789ABCDEF";
        size_t start = 0;
        int r;

        assert(p || n == 0);
        assert(out);

        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char) p[i];
                char esc[3] = { '+', hex[c >> 4], hex[c & 0xf] };

                if (is_xchar(c))
                        continue;
                r = buf_append(out, p + start, i - start);
                if (r < 0)
                        return r;
                r = buf_append(out, esc, sizeof(esc));
                if (r < 0)
                        return r;
                start = i + 1;
        }
        return buf_append(out, p + start, n - start);
}

/* ---- parser object ---- */

int smtp_cmd_parser_new(const SmtpLimits *limits, SmtpCmdParser **ret) {
        _cleanup_(smtp_cmd_parser_freep) SmtpCmdParser *p = NULL;

        assert(limits);
        assert(ret);

        if (limits->command_line < SMTP_CMD_LINE_MIN || limits->command_line > SIZE_MAX / 2)
                return -EINVAL;

        p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        p->limits = *limits;
        p->in = BUF_INIT(limits->command_line);
        p->scratch = malloc(limits->command_line);
        if (!p->scratch)
                return -ENOMEM;

        *ret = TAKE_PTR(p);
        return 0;
}

SmtpCmdParser *smtp_cmd_parser_free(SmtpCmdParser *p) {
        if (!p)
                return NULL;
        buf_done(&p->in);
        free(p->scratch);
        return mfree(p);
}

void smtp_cmd_parser_reset(SmtpCmdParser *p) {
        assert(p);
        buf_clear(&p->in);
        p->skipping = false;
        p->returned = false;
}

bool smtp_cmd_parser_pending(const SmtpCmdParser *p) {
        assert(p);
        return p->skipping || (!p->returned && buf_pending(&p->in) > 0);
}

/* ---- argument parsing ---- */

static bool is_wsp(char c) {
        /* RFC 5321 wants one SP; Postfix's tokenizer takes runs of SP and HTAB, and so do we. */
        return c == ' ' || c == '\t';
}

static char *skip_wsp(char *s) {
        while (is_wsp(*s))
                s++;
        return s;
}

/* Finds the end of the path that starts at s (NUL-terminated). A bracketed path runs to the
 * first '>' outside a quoted string; a bare one to the first white space outside a quoted
 * string (RFC 5321 §4.1.2 Quoted-string: '"' *(qtextSMTP / "\" any) '"'). Returns a pointer
 * after the path, or NULL when a quote or bracket is left open. */
static char *path_end(char *s) {
        bool bracketed = *s == '<';
        char *i = bracketed ? s + 1 : s;

        for (; *i; i++) {
                if (*i == '"') {
                        for (i++; *i != '"'; i++) {
                                if (!*i)
                                        return NULL;
                                if (*i == '\\' && !*++i)
                                        return NULL;
                        }
                        continue;
                }
                if (bracketed && *i == '>')
                        return i + 1;
                if (!bracketed && is_wsp(*i))
                        return i;
        }
        return bracketed ? NULL : i;
}

/* esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-") */
static bool keyword_is_valid(const char *k) {
        if (!((*k >= 'A' && *k <= 'Z') || (*k >= 'a' && *k <= 'z') || (*k >= '0' && *k <= '9')))
                return false;
        for (k++; *k; k++)
                if (!((*k >= 'A' && *k <= 'Z') || (*k >= 'a' && *k <= 'z') ||
                      (*k >= '0' && *k <= '9') || *k == '-'))
                        return false;
        return true;
}

/* esmtp-value = 1*(%d33-60 / %d62-126), and RFC 6531 §3.3 adds UTF8-non-ascii: any byte of
 * 0x80 and up is let through here (the UTF-8 check belongs to whoever uses the value). */
static bool value_is_valid(const char *v) {
        if (!*v)
                return false;
        for (; *v; v++) {
                unsigned char c = (unsigned char) *v;

                if (c < 33 || c == 127 || c == '=')
                        return false;
        }
        return true;
}

/* A decoded xtext value that becomes a C string and a queue file field: no NUL, no controls. */
static int xtext_decode_printable(char *v, const char **ret) {
        size_t len;
        int r;

        r = smtp_cmd_xtext_decode(v, strlen(v), v, &len);
        if (r < 0)
                return r;
        for (size_t i = 0; i < len; i++)
                if ((unsigned char) v[i] < 32 || v[i] == 127)
                        return -EBADMSG;
        *ret = v;
        return 0;
}

static int parse_notify(char *v, unsigned *ret) {
        unsigned bits = 0;

        /* RFC 3461 §4.1: "NEVER" / 1#( "SUCCESS" / "FAILURE" / "DELAY" ) */
        for (char *item = v, *next; item; item = next) {
                unsigned bit;

                next = strchr(item, ',');
                if (next)
                        *next++ = '\0';
                if (strcasecmp(item, "NEVER") == 0)
                        bit = SMTP_NOTIFY_NEVER;
                else if (strcasecmp(item, "SUCCESS") == 0)
                        bit = SMTP_NOTIFY_SUCCESS;
                else if (strcasecmp(item, "FAILURE") == 0)
                        bit = SMTP_NOTIFY_FAILURE;
                else if (strcasecmp(item, "DELAY") == 0)
                        bit = SMTP_NOTIFY_DELAY;
                else
                        return -EBADMSG;
                if (bits & bit)
                        return -EBADMSG;
                bits |= bit;
        }
        if ((bits & SMTP_NOTIFY_NEVER) && bits != SMTP_NOTIFY_NEVER)
                return -EBADMSG;
        *ret = bits;
        return 0;
}

static int parse_orcpt(char *v, SmtpCmd *c) {
        char *semi = strchr(v, ';');
        const char *addr;
        int r;

        /* RFC 3461 §4.2: addr-type ";" xtext, addr-type an atom */
        if (!semi || semi == v || !semi[1])
                return -EBADMSG;
        *semi = '\0';
        for (const char *t = v; *t; t++)
                if (!((*t >= 'A' && *t <= 'Z') || (*t >= 'a' && *t <= 'z') ||
                      (*t >= '0' && *t <= '9') || *t == '-'))
                        return -EBADMSG;
        if (strcasecmp(v, "utf-8") == 0)
                addr = semi + 1;        /* RFC 6533 §3: utf-8-addr-xtext, kept as sent */
        else {
                r = xtext_decode_printable(semi + 1, &addr);
                if (r < 0)
                        return r;
        }
        c->orcpt_type = v;
        c->orcpt = addr;
        return 0;
}

/* One "keyword[=value]" of MAIL (mail = true) or RCPT. */
static int parse_param(char *tok, bool mail, SmtpCmd *c) {
        char *eq = strchr(tok, '=');
        char *v = NULL;
        int r;

        c->bad_param = tok;
        if (eq) {
                *eq = '\0';
                v = eq + 1;
        }
        if (!keyword_is_valid(tok))
                return -EBADMSG;
        if (v && !value_is_valid(v))
                return -EBADMSG;

        if (mail && strcasecmp(tok, "SIZE") == 0) {
                if (c->size_set || !v)
                        return -EBADMSG;
                r = parse_uint64(v, &c->size);          /* RFC 1870: 1*20DIGIT */
                if (r < 0)
                        return -EBADMSG;
                c->size_set = true;
        } else if (mail && strcasecmp(tok, "BODY") == 0) {
                if (c->body != SMTP_BODY_UNSET || !v)
                        return -EBADMSG;
                for (SmtpBody b = SMTP_BODY_UNSET + 1; b < _SMTP_BODY_MAX; b++)
                        if (strcasecmp(v, body_table[b]) == 0)
                                c->body = b;
                if (c->body == SMTP_BODY_UNSET)
                        return -EBADMSG;
        } else if (mail && strcasecmp(tok, "SMTPUTF8") == 0) {
                if (c->smtputf8 || v)
                        return -EBADMSG;
                c->smtputf8 = true;
        } else if (mail && strcasecmp(tok, "RET") == 0) {
                if (c->ret != SMTP_RET_UNSET || !v)
                        return -EBADMSG;
                for (SmtpRet t = SMTP_RET_UNSET + 1; t < _SMTP_RET_MAX; t++)
                        if (strcasecmp(v, ret_table[t]) == 0)
                                c->ret = t;
                if (c->ret == SMTP_RET_UNSET)
                        return -EBADMSG;
        } else if (mail && strcasecmp(tok, "ENVID") == 0) {
                if (c->envid || !v)
                        return -EBADMSG;
                r = xtext_decode_printable(v, &c->envid);
                if (r < 0)
                        return r;
        } else if (mail && strcasecmp(tok, "AUTH") == 0) {
                /* RFC 4954 §5: xtext or "<>"; kept raw, the session decides what to trust. */
                if (c->auth || !v)
                        return -EBADMSG;
                if (!streq(v, "<>") && !smtp_cmd_xtext_is_valid(v, strlen(v)))
                        return -EBADMSG;
                c->auth = v;
        } else if (!mail && strcasecmp(tok, "NOTIFY") == 0) {
                if (c->notify != 0 || !v)
                        return -EBADMSG;
                r = parse_notify(v, &c->notify);
                if (r < 0)
                        return r;
        } else if (!mail && strcasecmp(tok, "ORCPT") == 0) {
                if (c->orcpt || !v)
                        return -EBADMSG;
                r = parse_orcpt(v, c);
                if (r < 0)
                        return r;
        } else
                return -EOPNOTSUPP;

        c->bad_param = NULL;
        return 0;
}

/* MAIL FROM:<path> [SP params] / RCPT TO:<path> [SP params]; a is a scratch copy. */
static int parse_mail_rcpt(char *a, bool mail, SmtpCmd *c) {
        const char *prefix = mail ? "FROM:" : "TO:";
        size_t plen = strlen(prefix);
        char *path, *end, *s;
        int r;

        if (strncasecmp(a, prefix, plen) != 0)
                return -EBADMSG;
        /* Postfix takes "MAIL FROM: <a@b>" too. */
        path = skip_wsp(a + plen);
        if (!*path)
                return -EBADMSG;
        end = path_end(path);
        if (!end || end == path)
                return -EBADMSG;
        if (*end && !is_wsp(*end))
                return -EBADMSG;                /* "<a@b>x" */

        s = end;
        if (*s)
                s = skip_wsp(s + 1);
        *end = '\0';
        c->path = path;
        c->path_len = (size_t) (end - path);
        c->path_bracketed = *path == '<';

        /* RFC 5321 §4.1.2: Mail-parameters = esmtp-param *(SP esmtp-param) */
        while (*s) {
                char *tok = s;

                while (*s && !is_wsp(*s))
                        s++;
                if (*s) {
                        *s = '\0';
                        s = skip_wsp(s + 1);
                }
                r = parse_param(tok, mail, c);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* BDAT SP chunk-size [SP end-marker] (RFC 3030 §2). */
static int parse_bdat(char *a, SmtpCmd *c) {
        char *s = a, *last;
        uint64_t size;
        int r;

        while (*s >= '0' && *s <= '9')
                s++;
        r = parse_uint64_n(a, (size_t) (s - a), &size);
        if (r < 0)
                return -EBADMSG;
        if (*s && !is_wsp(*s))
                return -EBADMSG;
        last = skip_wsp(s);
        if (*last && strcasecmp(last, "LAST") != 0)
                return -EBADMSG;

        c->chunk_size = size;
        c->last = !!*last;
        return 0;
}

/* Splits one complete line (NUL-terminated, no CRLF) into *c. */
static void parse_line(SmtpCmdParser *p, char *line, size_t len, SmtpCmd *c) {
        char *verb, *arg, *end;
        size_t vlen;
        int r = 0;

        *c = (SmtpCmd) {};

        verb = skip_wsp(line);
        for (arg = verb; *arg && !is_wsp(*arg); arg++)
                ;
        vlen = (size_t) (arg - verb);
        if (*arg) {
                *arg = '\0';
                arg = skip_wsp(arg + 1);
        }
        for (end = line + len; end > arg && is_wsp(end[-1]); end--)
                ;
        *end = '\0';

        c->verb = smtp_cmd_verb_from_string(verb, vlen);
        c->verb_text = verb;
        c->arg = arg;
        c->arg_len = (size_t) (end - arg);

        switch (c->verb) {
        case SMTP_VERB_UNKNOWN:
                if (vlen == 0)
                        r = -EBADMSG;
                break;
        case SMTP_VERB_HELO:
        case SMTP_VERB_EHLO:
        case SMTP_VERB_VRFY:
        case SMTP_VERB_EXPN:
        case SMTP_VERB_ETRN:
        case SMTP_VERB_AUTH:
                if (c->arg_len == 0)
                        r = -EBADMSG;
                break;
        case SMTP_VERB_DATA:
        case SMTP_VERB_RSET:
        case SMTP_VERB_STARTTLS:
                if (c->arg_len > 0)
                        r = -EBADMSG;
                break;
        case SMTP_VERB_NOOP:
        case SMTP_VERB_QUIT:
        case SMTP_VERB_HELP:
                break;
        case SMTP_VERB_MAIL:
        case SMTP_VERB_RCPT:
        case SMTP_VERB_BDAT:
                memcpy(p->scratch, arg, c->arg_len + 1);
                if (c->verb == SMTP_VERB_BDAT)
                        r = parse_bdat(p->scratch, c);
                else
                        r = parse_mail_rcpt(p->scratch, c->verb == SMTP_VERB_MAIL, c);
                break;
        default:
                assert(false);
        }
        c->error = r;
}

/* ---- feeding ---- */

/* Appends what fits of buf[*used..n) to p->in; returns the number of bytes taken. */
static size_t take_input(SmtpCmdParser *p, const char *buf, size_t n, size_t *used) {
        size_t room = p->in.max - buf_pending(&p->in);
        size_t take = MIN(n - *used, room);
        int r;

        if (take == 0)
                return 0;
        r = buf_append(&p->in, buf + *used, take);
        if (r < 0)
                return 0;       /* -ENOMEM: nothing taken; the caller treats it as a stall */
        *used += take;
        return take;
}

/* Gives back the bytes left in p->in after a line end: they were taken from the current call's
 * input, and belong to the next command. With keep, they stay in the buffer, unused, until the
 * next call (the returned line lies before them). */
static void give_back(SmtpCmdParser *p, size_t *used, bool keep) {
        size_t left = buf_pending(&p->in);

        assert(left <= *used);
        *used -= left;
        if (keep)
                p->returned = true;
        else
                buf_clear(&p->in);
}

int smtp_cmd_feed(SmtpCmdParser *p, const char *buf, size_t n, size_t *ret_used, SmtpCmd *ret) {
        size_t used = 0;
        char *line;
        size_t len;
        int r;

        assert(p);
        assert(buf || n == 0);
        assert(ret_used);
        assert(ret);

        if (p->returned) {
                buf_clear(&p->in);
                p->returned = false;
        }

        for (;;) {
                size_t took = take_input(p, buf, n, &used);

                if (p->skipping) {
                        if (buf_skip_line(&p->in)) {
                                p->skipping = false;
                                give_back(p, &used, /* keep= */ false);
                                continue;
                        }
                        /* At most a trailing CR is kept, so there is always room again. */
                        if (used < n && took > 0)
                                continue;
                        *ret_used = used;
                        return used < n ? -ENOMEM : 0;
                }

                r = buf_getline(&p->in, p->limits.command_line - 2, &line, &len);
                if (r > 0) {
                        give_back(p, &used, /* keep= */ true);
                        parse_line(p, line, len, ret);
                        *ret_used = used;
                        return 1;
                }
                if (r < 0) {
                        /* The session answers once for this line; drop it up to its CRLF. */
                        p->skipping = true;
                        if (buf_skip_line(&p->in)) {
                                p->skipping = false;
                                give_back(p, &used, /* keep= */ false);
                        }
                        *ret_used = used;
                        return r;
                }
                /* A full buffer always holds a line or an error, so all input was taken, unless
                 * the allocation failed. */
                *ret_used = used;
                return used < n ? -ENOMEM : 0;
        }
}
