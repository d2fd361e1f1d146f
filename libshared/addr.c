/* SPDX-License-Identifier: GPL-3.0-or-later */
/* addr: RFC 5321 §4.1.2 paths and mailboxes from untrusted bytes, RFC 6531 SMTPUTF8, RFC 5890
 * IDNA through libidn2, and the local-part helpers Postfix's address rewriting needs
 * (recipient_delimiter, percent hack, bang paths, dequoted '@'). The parsers are recursive
 * descent over (p, n) with a cursor that never passes n; they copy what they accept into an
 * internal form and reject everything else. See addr.h for the contract. */
#include <arpa/inet.h>
#include <idn2.h>
#include <strings.h>

#include "addr.h"

DEFINE_PTR_CLEANUP(char *, idn2_free);

typedef struct Scanner {
        const char *p;
        size_t n;
        size_t i;
        AddrFlags flags;
        const AddrLimits *lim;
} Scanner;

static int peek(const Scanner *s) {
        return s->i < s->n ? (unsigned char) s->p[s->i] : -1;
}

static bool is_alpha(int c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(int c) {
        return c >= '0' && c <= '9';
}

static char to_lower(char c) {
        return c >= 'A' && c <= 'Z' ? (char) (c - 'A' + 'a') : c;
}

/* RFC 5322 §3.2.3 atext, ASCII part (RFC 5321 §4.1.2 uses it for Atom). */
static bool is_atext(int c) {
        return is_alpha(c) || is_digit(c) || (c > 0 && strchr("!#$%&'*+-/=?^_`{|}~", c));
}

/* Length of the valid UTF-8 sequence at p (1 for ASCII), 0 when it is invalid (RFC 3629 §4:
 * no overlongs, no surrogates D800-DFFF, nothing above 10FFFF, no truncation). */
static size_t utf8_seq_len(const unsigned char *p, size_t n) {
        unsigned char c = p[0], lo = 0x80, hi = 0xBF;
        size_t len;

        if (c < 0x80)
                return 1;
        if (c < 0xC2)
                return 0;               /* continuation byte, or overlong C0/C1 */
        if (c < 0xE0)
                len = 2;
        else if (c < 0xF0) {
                len = 3;
                if (c == 0xE0)
                        lo = 0xA0;      /* overlong */
                else if (c == 0xED)
                        hi = 0x9F;      /* surrogates */
        } else if (c < 0xF5) {
                len = 4;
                if (c == 0xF0)
                        lo = 0x90;      /* overlong */
                else if (c == 0xF4)
                        hi = 0x8F;      /* above U+10FFFF */
        } else
                return 0;

        if (n < len)
                return 0;
        if (p[1] < lo || p[1] > hi)
                return 0;
        for (size_t k = 2; k < len; k++)
                if (p[k] < 0x80 || p[k] > 0xBF)
                        return 0;
        return len;
}

bool addr_utf8_is_valid(const char *p, size_t n) {
        size_t i = 0;

        assert(p || n == 0);

        while (i < n) {
                size_t len = utf8_seq_len((const unsigned char *) p + i, n - i);

                if (len == 0)
                        return false;
                i += len;
        }
        return true;
}

static bool is_ascii(const char *s) {
        for (; *s; s++)
                if ((unsigned char) *s >= 0x80)
                        return false;
        return true;
}

/* Copies the valid UTF-8 sequence at the cursor to *out. Returns -EBADMSG when 8-bit input
 * is not allowed or the sequence is invalid. */
static int take_utf8(Scanner *s, char **out) {
        size_t len;

        if (!(s->flags & ADDR_SMTPUTF8))
                return -EBADMSG;        /* RFC 6531 §3.3: 8-bit only under SMTPUTF8 */
        len = utf8_seq_len((const unsigned char *) s->p + s->i, s->n - s->i);
        if (len == 0)
                return -EBADMSG;
        memcpy(*out, s->p + s->i, len);
        *out += len;
        s->i += len;
        return 0;
}

/* RFC 5321 §4.1.2 Dot-string: Atom *("." Atom). */
static bool dot_string_ok(const char *l, size_t len) {
        if (len == 0 || l[0] == '.' || l[len - 1] == '.')
                return false;
        for (size_t k = 1; k < len; k++)
                if (l[k] == '.' && l[k - 1] == '.')
                        return false;
        return true;
}

/* Local-part = Dot-string / Quoted-string (RFC 5321 §4.1.2, RFC 6531 §3.3). Stores the
 * internal (unquoted) form. */
static int parse_local(Scanner *s, char **ret_local, bool *ret_utf8) {
        _cleanup_free_ char *buf = NULL;
        char *o;
        bool utf8 = false;
        int r;

        /* The internal form is never longer than the input it comes from. */
        buf = malloc(s->n - s->i + 1);
        if (!buf)
                return -ENOMEM;
        o = buf;

        if (peek(s) == '"') {
                s->i++;
                for (;;) {
                        int c = peek(s);

                        if (c < 0)
                                return -EBADMSG;        /* unterminated */
                        if (c == '"') {
                                s->i++;
                                break;
                        }
                        if (c == '\\') {
                                /* quoted-pairSMTP = %d92 %d32-126 */
                                if (s->i + 1 >= s->n)
                                        return -EBADMSG;
                                c = (unsigned char) s->p[s->i + 1];
                                if (c < 32 || c > 126)
                                        return -EBADMSG;
                                *o++ = (char) c;
                                s->i += 2;
                        } else if (c >= 0x80) {
                                r = take_utf8(s, &o);
                                if (r < 0)
                                        return r;
                                utf8 = true;
                        } else if (c < 32 || c == 127)
                                return -EBADMSG;        /* qtextSMTP is %d32-126 */
                        else {
                                *o++ = (char) c;
                                s->i++;
                        }
                        if ((size_t) (o - buf) > s->lim->local_max)
                                return -EMSGSIZE;
                }
        } else {
                for (;;) {
                        int c = peek(s);

                        if (c >= 0x80) {
                                r = take_utf8(s, &o);
                                if (r < 0)
                                        return r;
                                utf8 = true;
                        } else if (c >= 0 && (is_atext(c) || c == '.')) {
                                *o++ = (char) c;
                                s->i++;
                        } else
                                break;
                        if ((size_t) (o - buf) > s->lim->local_max)
                                return -EMSGSIZE;
                }
                if (o == buf)
                        return -EBADMSG;
                if (!(s->flags & ADDR_LAX_DOTS) && !dot_string_ok(buf, (size_t) (o - buf)))
                        return -EBADMSG;
        }

        *o = '\0';
        *ret_local = TAKE_PTR(buf);
        *ret_utf8 = utf8;
        return 0;
}

/* ASCII lower-casing, or IDNA for non-ASCII; no hostname check. */
static int domain_ascii(const char *d, char **ret) {
        _cleanup_(idn2_freep) char *a = NULL;
        char *copy;
        int r;

        if (is_ascii(d)) {
                copy = strdup(d);
                if (!copy)
                        return -ENOMEM;
                for (char *c = copy; *c; c++)
                        *c = to_lower(*c);
                *ret = copy;
                return 0;
        }

        if (!addr_utf8_is_valid(d, strlen(d)))
                return -EBADMSG;
        r = idn2_lookup_u8((const uint8_t *) d, (uint8_t **) &a,
                           IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL);
        if (r == IDN2_MALLOC)
                return -ENOMEM;
        if (r == IDN2_TOO_BIG_DOMAIN)
                return -EMSGSIZE;
        if (r != IDN2_OK || !a)
                return -EBADMSG;

        copy = strdup(a);
        if (!copy)
                return -ENOMEM;
        for (char *c = copy; *c; c++)
                *c = to_lower(*c);
        *ret = copy;
        return 0;
}

int addr_domain_to_ascii(const char *d, char **ret) {
        _cleanup_free_ char *a = NULL;
        int r;

        assert(d);
        assert(ret);

        r = domain_ascii(d, &a);
        if (r < 0)
                return r;
        if (strlen(a) > ADDR_DOMAIN_MAX)
                return -EMSGSIZE;
        if (!addr_domain_is_valid(a))
                return -EBADMSG;

        *ret = TAKE_PTR(a);
        return 0;
}

static bool has_alabel(const char *d) {
        for (const char *l = d; l; l = strchr(l, '.')) {
                if (*l == '.')
                        l++;
                if (strncasecmp(l, "xn--", 4) == 0)
                        return true;
        }
        return false;
}

int addr_domain_to_unicode(const char *d, char **ret) {
        _cleanup_(idn2_freep) char *u = NULL;
        _cleanup_free_ char *lower = NULL;
        char *copy;
        int r;

        assert(d);
        assert(ret);

        lower = strdup(d);
        if (!lower)
                return -ENOMEM;
        for (char *c = lower; *c; c++)
                *c = to_lower(*c);
        if (!has_alabel(lower)) {
                *ret = TAKE_PTR(lower);
                return 0;
        }

        r = idn2_to_unicode_8z8z(lower, &u, 0);
        if (r == IDN2_MALLOC)
                return -ENOMEM;
        if (r != IDN2_OK || !u)
                return -EBADMSG;

        copy = strdup(u);
        if (!copy)
                return -ENOMEM;
        *ret = copy;
        return 0;
}

bool addr_domain_is_valid(const char *d) {
        size_t label = 0, total = 0;
        char prev = '.';

        if (isempty(d))
                return false;

        for (const char *c = d; *c; c++) {
                if (++total > ADDR_DOMAIN_MAX)
                        return false;
                if (*c == '.') {
                        if (label == 0 || prev == '-')
                                return false;   /* empty label, or hyphen at the end */
                        label = 0;
                } else if (is_alpha(*c) || is_digit(*c)) {
                        label++;
                } else if (*c == '-') {
                        if (label == 0)
                                return false;   /* hyphen at the start */
                        label++;
                } else
                        return false;
                if (label > ADDR_LABEL_MAX)
                        return false;
                prev = *c;
        }
        return label > 0 && prev != '-';
}

bool addr_domain_literal_is_valid(const char *d) {
        char buf[INET6_ADDRSTRLEN + 1];
        unsigned char bin[sizeof(struct in6_addr)];
        const char *inner;
        size_t len;
        int family = AF_INET;

        if (!d)
                return false;
        len = strlen(d);
        if (len < 3 || d[0] != '[' || d[len - 1] != ']')
                return false;
        inner = d + 1;
        len -= 2;

        /* RFC 5321 §4.1.3: IPv6-address-literal = "IPv6:" IPv6-addr */
        if (len >= 5 && strncasecmp(inner, "IPv6:", 5) == 0) {
                family = AF_INET6;
                inner += 5;
                len -= 5;
        }
        if (len == 0 || len >= sizeof(buf))
                return false;
        memcpy(buf, inner, len);
        buf[len] = '\0';
        return inet_pton(family, buf, bin) == 1;
}

bool addr_domain_is_fqdn(const char *d) {
        if (!d)
                return false;
        if (d[0] == '[')
                return addr_domain_literal_is_valid(d);
        return addr_domain_is_valid(d) && strchr(d, '.');
}

/* Domain / address-literal (RFC 5321 §4.1.2, §4.1.3). Returns the stored form. */
static int parse_domain(Scanner *s, bool allow_literal, char **ret_domain, bool *ret_literal) {
        _cleanup_free_ char *raw = NULL, *ascii = NULL;
        size_t start = s->i, len;
        bool eight = false;
        int r;

        if (peek(s) == '[') {
                if (!allow_literal)
                        return -EBADMSG;
                s->i++;
                for (;;) {
                        int c = peek(s);

                        if (c < 0)
                                return -EBADMSG;
                        s->i++;
                        if (c == ']')
                                break;
                        /* dcontent = %d33-90 / %d94-126 */
                        if (c < 33 || c > 126 || c == '[' || c == '\\')
                                return -EBADMSG;
                }
                len = s->i - start;
                if (len > s->lim->domain_max)
                        return -EMSGSIZE;
                raw = strndup(s->p + start, len);
                if (!raw)
                        return -ENOMEM;
                if (!addr_domain_literal_is_valid(raw))
                        return -EBADMSG;
                *ret_domain = TAKE_PTR(raw);
                *ret_literal = true;
                return 0;
        }

        for (;;) {
                int c = peek(s);

                if (c >= 0x80) {
                        if (!(s->flags & ADDR_SMTPUTF8))
                                return -EBADMSG;
                        eight = true;
                } else if (c < 0 || !(is_alpha(c) || is_digit(c) || c == '-' || c == '.'))
                        break;
                s->i++;
        }
        len = s->i - start;
        if (len == 0)
                return -EBADMSG;
        /* ASCII keeps its length (less a trailing dot under ADDR_LAX_DOTS): refuse early.
         * U-labels are measured once converted to A-labels, below. */
        if (!eight) {
                size_t stored = len;

                if ((s->flags & ADDR_LAX_DOTS) && s->p[s->i - 1] == '.')
                        stored--;
                if (stored > s->lim->domain_max)
                        return -EMSGSIZE;
        }

        raw = strndup(s->p + start, len);
        if (!raw)
                return -ENOMEM;
        r = domain_ascii(raw, &ascii);
        if (r < 0)
                return r;
        len = strlen(ascii);
        if ((s->flags & ADDR_LAX_DOTS) && len > 0 && ascii[len - 1] == '.')
                ascii[len - 1] = '\0';         /* the root, as Postfix's resolve strips it */
        if (strlen(ascii) > s->lim->domain_max)
                return -EMSGSIZE;
        if (!addr_domain_is_valid(ascii))
                return -EBADMSG;

        *ret_domain = TAKE_PTR(ascii);
        *ret_literal = false;
        return 0;
}

/* A-d-l ":" (RFC 5321 §4.1.2, Appendix C): "@" Domain *("," "@" Domain) ":". The domains are
 * checked and dropped. */
static int parse_source_route(Scanner *s) {
        for (;;) {
                _cleanup_free_ char *d = NULL;
                bool literal;
                int r;

                if (peek(s) != '@')
                        return -EBADMSG;
                s->i++;
                r = parse_domain(s, /* allow_literal= */ false, &d, &literal);
                if (r < 0)
                        return r;
                if (peek(s) == ':') {
                        s->i++;
                        return 0;
                }
                if (peek(s) != ',')
                        return -EBADMSG;
                s->i++;
        }
}

static int parse_mailbox(Scanner *s, Addr *a) {
        int r;

        r = parse_local(s, &a->local, &a->utf8);
        if (r < 0)
                return r;

        if (peek(s) == '@') {
                s->i++;
                return parse_domain(s, /* allow_literal= */ true, &a->domain,
                                    &a->domain_literal);
        }
        if (s->flags & ADDR_REQUIRE_DOMAIN)
                return -EBADMSG;
        return 0;
}

int addr_parse_path(const char *p, size_t n, const AddrLimits *lim, AddrFlags flags, Addr **ret,
                    size_t *ret_used) {
        const AddrLimits def = ADDR_LIMITS_RFC5321;
        _cleanup_(addr_freep) Addr *a = NULL;
        Scanner s = { .p = p, .n = n, .flags = flags, .lim = lim ?: &def };
        size_t wire;
        int r;

        assert(p || n == 0);
        assert(ret);

        a = calloc(1, sizeof(Addr));
        if (!a)
                return -ENOMEM;

        if (peek(&s) == '<') {
                s.i++;
                if (peek(&s) == '>') {
                        if (!(flags & ADDR_ALLOW_NULL))
                                return -EBADMSG;
                        s.i++;
                        a->null = true;
                        a->local = strdup("");
                        if (!a->local)
                                return -ENOMEM;
                } else {
                        if (peek(&s) == '@') {
                                r = parse_source_route(&s);
                                if (r < 0)
                                        return r;
                                a->source_route = true;
                        }
                        r = parse_mailbox(&s, a);
                        if (r < 0)
                                return r;
                        if (peek(&s) != '>')
                                return -EBADMSG;
                        s.i++;
                }
                wire = s.i;
        } else {
                if (!(flags & ADDR_ALLOW_NO_BRACKETS))
                        return -EBADMSG;
                r = parse_mailbox(&s, a);
                if (r < 0)
                        return r;
                wire = s.i + 2;         /* as if it had come in brackets */
        }

        if (wire > s.lim->path_max)
                return -EMSGSIZE;

        if (ret_used) {
                if (s.i < n && p[s.i] != ' ')
                        return -EBADMSG;
                *ret_used = s.i;
        } else if (s.i != n)
                return -EBADMSG;

        *ret = TAKE_PTR(a);
        return 0;
}

int addr_parse_mailbox(const char *str, size_t n, const AddrLimits *lim, AddrFlags flags,
                       Addr **ret) {
        const AddrLimits def = ADDR_LIMITS_RFC5321;
        _cleanup_(addr_freep) Addr *a = NULL;
        Scanner s = { .p = str, .n = n, .flags = flags, .lim = lim ?: &def };
        int r;

        assert(str || n == 0);
        assert(ret);

        a = calloc(1, sizeof(Addr));
        if (!a)
                return -ENOMEM;

        r = parse_mailbox(&s, a);
        if (r < 0)
                return r;
        if (s.i != n)
                return -EBADMSG;
        if (n > SIZE_MAX - 2 || n + 2 > s.lim->path_max)
                return -EMSGSIZE;

        *ret = TAKE_PTR(a);
        return 0;
}

Addr *addr_free(Addr *a) {
        if (!a)
                return NULL;
        free(a->local);
        free(a->domain);
        free(a);
        return NULL;
}

int addr_new(const char *local, const char *domain, Addr **ret) {
        _cleanup_(addr_freep) Addr *a = NULL;

        assert(local);
        assert(ret);

        a = calloc(1, sizeof(Addr));
        if (!a)
                return -ENOMEM;
        a->local = strdup(local);
        if (!a->local)
                return -ENOMEM;
        if (domain) {
                a->domain = strdup(domain);
                if (!a->domain)
                        return -ENOMEM;
                a->domain_literal = domain[0] == '[';
        }
        a->utf8 = !is_ascii(local);

        *ret = TAKE_PTR(a);
        return 0;
}

int addr_dup(const Addr *a, Addr **ret) {
        _cleanup_(addr_freep) Addr *d = NULL;
        int r;

        assert(a);
        assert(ret);

        r = addr_new(a->local, a->domain, &d);
        if (r < 0)
                return r;
        d->null = a->null;
        d->domain_literal = a->domain_literal;
        d->source_route = a->source_route;
        d->utf8 = a->utf8;

        *ret = TAKE_PTR(d);
        return 0;
}

bool addr_equal(const Addr *a, const Addr *b) {
        assert(a);
        assert(b);

        if (a->null || b->null)
                return a->null == b->null;
        return streq(a->local, b->local) && streq_ptr(a->domain, b->domain);
}

bool addr_local_needs_quoting(const char *local) {
        assert(local);

        for (const char *c = local; *c; c++) {
                unsigned char u = (unsigned char) *c;

                if (u < 0x80 && !is_atext(u) && u != '.')
                        return true;
        }
        return !dot_string_ok(local, strlen(local));
}

int addr_local_quote(const char *local, char **ret) {
        size_t len, extra = 0;
        char *q, *o;

        assert(local);
        assert(ret);

        if (!addr_local_needs_quoting(local)) {
                q = strdup(local);
                if (!q)
                        return -ENOMEM;
                *ret = q;
                return 0;
        }

        len = strlen(local);
        for (const char *c = local; *c; c++)
                if (*c == '"' || *c == '\\')
                        extra++;
        /* len + extra <= 2 * len, and len came from memory: no overflow below. */
        q = malloc(len + extra + 3);
        if (!q)
                return -ENOMEM;
        o = q;
        *o++ = '"';
        for (const char *c = local; *c; c++) {
                if (*c == '"' || *c == '\\')
                        *o++ = '\\';
                *o++ = *c;
        }
        *o++ = '"';
        *o = '\0';
        *ret = q;
        return 0;
}

static int format(const Addr *a, bool brackets, char **ret) {
        _cleanup_free_ char *local = NULL;
        size_t ll, dl, size;
        char *s, *o;
        int r;

        assert(a);
        assert(ret);

        if (a->null) {
                s = strdup(brackets ? "<>" : "");
                if (!s)
                        return -ENOMEM;
                *ret = s;
                return 0;
        }

        r = addr_local_quote(a->local, &local);
        if (r < 0)
                return r;
        ll = strlen(local);
        dl = a->domain ? strlen(a->domain) : 0;
        size = ll + dl + 4;     /* '@', '<', '>', NUL */
        s = malloc(size);
        if (!s)
                return -ENOMEM;

        o = s;
        if (brackets)
                *o++ = '<';
        memcpy(o, local, ll);
        o += ll;
        if (a->domain) {
                *o++ = '@';
                memcpy(o, a->domain, dl);
                o += dl;
        }
        if (brackets)
                *o++ = '>';
        *o = '\0';
        *ret = s;
        return 0;
}

int addr_format(const Addr *a, char **ret) {
        return format(a, /* brackets= */ false, ret);
}

int addr_format_path(const Addr *a, char **ret) {
        return format(a, /* brackets= */ true, ret);
}

int addr_split_extension(const char *local, const char *delims, bool owner_request_special,
                         char **ret_base, char **ret_ext) {
        _cleanup_free_ char *base = NULL, *ext = NULL;
        size_t len, k = 0;

        assert(local);

        len = strlen(local);
        if (!isempty(delims)) {
                k = strcspn(local, delims);
                /* Postfix keeps owner-list and list-request whole when '-' delimits. */
                if (owner_request_special && strchr(delims, '-') &&
                    (strncasecmp(local, "owner-", 6) == 0 ||
                     (len > 8 && strcasecmp(local + len - 8, "-request") == 0)))
                        k = len;
                /* An empty base is not split. */
                if (k == 0)
                        k = len;
        } else
                k = len;

        base = strndup(local, k);
        if (!base)
                return -ENOMEM;
        if (k < len) {
                ext = strdup(local + k);
                if (!ext)
                        return -ENOMEM;
        }

        if (ret_base)
                *ret_base = TAKE_PTR(base);
        if (ret_ext)
                *ret_ext = TAKE_PTR(ext);
        return k < len;
}

AddrRouting addr_local_routing(const char *local) {
        AddrRouting r = ADDR_ROUTING_NONE;

        assert(local);

        if (strchr(local, '@'))
                r |= ADDR_ROUTING_AT;
        if (strchr(local, '%'))
                r |= ADDR_ROUTING_PERCENT;
        if (strchr(local, '!'))
                r |= ADDR_ROUTING_BANG;
        return r;
}

/* Splits s at position k into user and domain; user_first tells which side is which. */
static int split_at(const char *s, size_t k, bool user_first, char **ret_local,
                    char **ret_domain) {
        _cleanup_free_ char *left = NULL, *right = NULL;

        left = strndup(s, k);
        right = strdup(s + k + 1);
        if (!left || !right)
                return -ENOMEM;

        *ret_local = user_first ? TAKE_PTR(left) : TAKE_PTR(right);
        *ret_domain = user_first ? TAKE_PTR(right) : TAKE_PTR(left);
        return 1;
}

int addr_local_split_route(const char *local, AddrRouting which, char **ret_local,
                           char **ret_domain) {
        const char *c;

        assert(local);
        assert(ret_local);
        assert(ret_domain);

        /* resolve_dequoted_address: "user@other" -> user@other, rightmost '@' */
        if ((which & ADDR_ROUTING_AT) && (c = strrchr(local, '@')) && c > local && c[1])
                return split_at(local, (size_t) (c - local), true, ret_local, ret_domain);

        /* swap_bangpath: "site!user" -> user@site, leftmost '!' */
        if ((which & ADDR_ROUTING_BANG) && (c = strchr(local, '!')) && c > local && c[1])
                return split_at(local, (size_t) (c - local), false, ret_local, ret_domain);

        /* allow_percent_hack: "user%site" -> user@site, rightmost '%' */
        if ((which & ADDR_ROUTING_PERCENT) && (c = strrchr(local, '%')) && c > local && c[1])
                return split_at(local, (size_t) (c - local), true, ret_local, ret_domain);

        return 0;
}
