/* SPDX-License-Identifier: GPL-3.0-or-later */
/* pickup_proto: the sendmail <-> pickup line protocol (see pickup_proto.h). The request parser
 * is an explicit state machine over untrusted bytes from any local user: every line is bounded
 * by PICKUP_LINE_MAX, every value by PICKUP_VALUE_MAX, every chunk by PICKUP_CHUNK_MAX. */
#include <string.h>
#include <sys/socket.h>

#include "parse.h"
#include "pickup_proto.h"

typedef enum ParserState {
        STATE_START,            /* before the first line: list, flush or submit */
        STATE_ENVELOPE,         /* after submit: envelope lines, data */
        STATE_CONTENT,          /* after the first data chunk: data, end */
        STATE_CHUNK,            /* inside a chunk: raw bytes */
        STATE_DONE,             /* after end, list, flush: nothing more */
} ParserState;

struct PickupParser {
        ParserState state;
        int error;              /* sticky */
        uint64_t chunk_left;
        unsigned seen;          /* once-only verbs seen, bit per PickupVerb */
        size_t len;             /* bytes in line */
        char line[PICKUP_LINE_MAX + 1];
        char value[PICKUP_VALUE_MAX + 1];
};

static const char *const verbs[_PICKUP_VERB_MAX] = {
        [PICKUP_LIST] = "list",
        [PICKUP_FLUSH] = "flush",
        [PICKUP_SUBMIT] = "submit",
        [PICKUP_SENDER] = "sender",
        [PICKUP_FULLNAME] = "fullname",
        [PICKUP_RCPT] = "rcpt",
        [PICKUP_EXTRACT] = "extract",
        [PICKUP_RET] = "ret",
        [PICKUP_ENVID] = "envid",
        [PICKUP_BODY] = "body",
        [PICKUP_DATA] = "data",
        [PICKUP_END] = "end",
};

const char *pickup_verb_to_string(PickupVerb v) {
        return v >= 0 && v < _PICKUP_VERB_MAX ? verbs[v] : NULL;
}

int pickup_parser_new(PickupParser **ret) {
        PickupParser *p;

        assert(ret);
        p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        *ret = p;
        return 0;
}

PickupParser *pickup_parser_free(PickupParser *p) {
        free(p);
        return NULL;
}

bool pickup_parser_done(const PickupParser *p) {
        return p->state == STATE_DONE && p->error == 0;
}

static int hexval(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

/* Decodes xtext (p, n) into out (PICKUP_VALUE_MAX + 1 bytes). Returns the decoded length,
 * -EBADMSG, -EMSGSIZE. */
static int xtext_decode(const char *p, size_t n, char *out) {
        size_t o = 0;

        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char) p[i];
                int hi, lo;

                if (o >= PICKUP_VALUE_MAX)
                        return -EMSGSIZE;
                if (c == '+') {
                        if (n - i < 3)
                                return -EBADMSG;
                        hi = hexval(p[i + 1]);
                        lo = hexval(p[i + 2]);
                        if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
                                return -EBADMSG;
                        out[o++] = (char) (hi << 4 | lo);
                        i += 2;
                } else if (c >= '!' && c <= '~' && c != '=')
                        out[o++] = (char) c;
                else
                        return -EBADMSG;
        }
        out[o] = '\0';
        return (int) o;
}

static bool verb_once(PickupVerb v) {
        return IN_SET(v, PICKUP_SENDER, PICKUP_FULLNAME, PICKUP_EXTRACT, PICKUP_RET,
                      PICKUP_ENVID, PICKUP_BODY);
}

/* One complete line (NUL-terminated in p->line, p->len bytes, no LF). */
static int parse_line(PickupParser *p, PickupEvent *ret) {
        const char *sp = memchr(p->line, ' ', p->len);
        size_t klen = sp ? (size_t) (sp - p->line) : p->len;
        const char *field = sp ? sp + 1 : NULL;
        size_t flen = sp ? p->len - klen - 1 : 0;
        PickupVerb v = _PICKUP_VERB_INVALID;
        int r;

        if (memchr(p->line, '\0', p->len))
                return -EBADMSG;
        for (PickupVerb i = 0; i < _PICKUP_VERB_MAX; i++)
                if (strlen(verbs[i]) == klen && memcmp(verbs[i], p->line, klen) == 0)
                        v = i;
        if (v < 0)
                return -EBADMSG;
        if (sp && flen == 0)
                return -EBADMSG;

        /* Sequence. */
        switch (p->state) {
        case STATE_START:
                if (!IN_SET(v, PICKUP_LIST, PICKUP_FLUSH, PICKUP_SUBMIT))
                        return -EPROTO;
                break;
        case STATE_ENVELOPE:
                if (IN_SET(v, PICKUP_LIST, PICKUP_FLUSH, PICKUP_SUBMIT))
                        return -EPROTO;
                break;
        case STATE_CONTENT:
                if (!IN_SET(v, PICKUP_DATA, PICKUP_END))
                        return -EPROTO;
                break;
        default:
                return -EPROTO;
        }
        if (verb_once(v)) {
                if (p->seen & (1u << v))
                        return -EPROTO;
                p->seen |= 1u << v;
        }

        *ret = (PickupEvent) { .verb = v };
        switch (v) {
        case PICKUP_LIST:
        case PICKUP_FLUSH:
        case PICKUP_SUBMIT:
        case PICKUP_EXTRACT:
        case PICKUP_END:
                if (field)
                        return -EBADMSG;
                if (v == PICKUP_SUBMIT)
                        p->state = STATE_ENVELOPE;
                else if (v != PICKUP_EXTRACT)
                        p->state = STATE_DONE;
                return 1;

        case PICKUP_SENDER:
        case PICKUP_FULLNAME:
        case PICKUP_ENVID:
                if (!field) {
                        if (v != PICKUP_SENDER)
                                return -EBADMSG;
                        return 1;
                }
                r = xtext_decode(field, flen, p->value);
                if (r < 0)
                        return r;
                ret->value = p->value;
                ret->n = (size_t) r;
                return 1;

        case PICKUP_RCPT: {
                const char *sp2 = field ? memchr(field, ' ', flen) : NULL;
                size_t alen = sp2 ? (size_t) (sp2 - field) : flen;

                if (!field || alen == 0)
                        return -EBADMSG;
                if (sp2) {
                        int h = flen - alen == 2 ? hexval(sp2[1]) : -1;

                        if (h < 0 || (h & 1 && h != 1))
                                return -EBADMSG;
                        ret->notify = (unsigned) h;
                }
                r = xtext_decode(field, alen, p->value);
                if (r < 0)
                        return r;
                if (r == 0)
                        return -EBADMSG;
                ret->value = p->value;
                ret->n = (size_t) r;
                return 1;
        }

        case PICKUP_RET:
        case PICKUP_BODY: {
                const char *a = v == PICKUP_RET ? "FULL" : "7BIT";
                const char *b = v == PICKUP_RET ? "HDRS" : "8BITMIME";

                if (!field || (!streq(field, a) && !streq(field, b)))
                        return -EBADMSG;
                ret->value = field;
                ret->n = flen;
                return 1;
        }

        case PICKUP_DATA: {
                uint64_t size;

                if (!field || parse_uint64_n(field, flen, &size) < 0 || size == 0 ||
                    size > PICKUP_CHUNK_MAX)
                        return -EBADMSG;
                p->chunk_left = size;
                p->state = STATE_CHUNK;
                return 0;               /* no event: the bytes come next */
        }

        default:
                return -EBADMSG;
        }
}

int pickup_parser_feed(PickupParser *p, const char *in, size_t n, size_t *ret_used,
                       PickupEvent *ret) {
        size_t used = 0;
        int r;

        assert(p);
        assert(ret_used);
        assert(ret);
        assert(in || n == 0);

        *ret_used = 0;
        if (p->error < 0)
                return p->error;

        while (used < n) {
                if (p->state == STATE_CHUNK) {
                        size_t k = (size_t) MIN((uint64_t) (n - used), p->chunk_left);

                        p->chunk_left -= k;
                        if (p->chunk_left == 0)
                                p->state = STATE_CONTENT;
                        *ret = (PickupEvent) { .verb = PICKUP_DATA, .value = in + used, .n = k };
                        *ret_used = used + k;
                        return 1;
                }
                if (p->state == STATE_DONE) {
                        *ret_used = used;
                        return p->error = -EPROTO;
                }

                const char *lf = memchr(in + used, '\n', n - used);
                size_t k = lf ? (size_t) (lf - (in + used)) : n - used;

                if (p->len + k + (lf ? 1 : 0) > PICKUP_LINE_MAX) {
                        *ret_used = used;
                        return p->error = -EMSGSIZE;
                }
                memcpy(p->line + p->len, in + used, k);
                p->len += k;
                used += k;
                if (!lf)
                        break;
                used++;                 /* the LF */
                p->line[p->len] = '\0';
                r = parse_line(p, ret);
                p->len = 0;
                if (r < 0) {
                        *ret_used = used;
                        return p->error = r;
                }
                if (r > 0) {
                        *ret_used = used;
                        return 1;
                }
        }
        *ret_used = used;
        return 0;
}

int pickup_xtext_append(Buf *out, const char *s) {
        static const char hex[] = "0123456789ABCDEF";
        int r = 0;

        for (const unsigned char *c = (const unsigned char *) s; *c && r >= 0; c++)
                if (*c >= '!' && *c <= '~' && *c != '+' && *c != '=')
                        r = buf_append_char(out, (char) *c);
                else
                        r = buf_append(out, (char[]) { '+', hex[*c >> 4], hex[*c & 15] }, 3);
        return r;
}

int pickup_line_append(Buf *out, const char *keyword, const char *value) {
        int r;

        r = buf_append_str(out, keyword);
        if (r >= 0 && !isempty(value)) {
                r = buf_append_char(out, ' ');
                if (r >= 0)
                        r = pickup_xtext_append(out, value);
        }
        if (r >= 0)
                r = buf_append_char(out, '\n');
        return r;
}

int pickup_reply_parse(const char *line, size_t n, PickupReply *ret) {
        assert(ret);

        if (memchr(line, '\0', n) || memchr(line, '\n', n))
                return -EBADMSG;
        if (n >= 2 && memcmp(line, "ok", 2) == 0 && (n == 2 || line[2] == ' ')) {
                *ret = (PickupReply) { .type = PICKUP_REPLY_OK, .text = n > 2 ? line + 3 : "" };
                return 0;
        }
        if (n > 6 && memcmp(line, "error ", 6) == 0) {
                const char *sp = memchr(line + 6, ' ', n - 6);
                uint64_t status;

                if (!sp || parse_uint64_n(line + 6, (size_t) (sp - line - 6), &status) < 0 ||
                    status > 255)
                        return -EBADMSG;
                *ret = (PickupReply) { .type = PICKUP_REPLY_ERROR, .exit_status = (int) status,
                                       .text = sp + 1 };
                return 0;
        }
        if (n > 5 && memcmp(line, "data ", 5) == 0) {
                uint64_t size;

                if (parse_uint64_n(line + 5, n - 5, &size) < 0)
                        return -EBADMSG;
                *ret = (PickupReply) { .type = PICKUP_REPLY_DATA, .size = size };
                return 0;
        }
        return -EBADMSG;
}

int pickup_send(int fd, const void *p, size_t n) {
        const char *c = p;

        while (n > 0) {
                ssize_t k = send(fd, c, n, MSG_NOSIGNAL);

                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                c += k;
                n -= (size_t) k;
        }
        return 0;
}
