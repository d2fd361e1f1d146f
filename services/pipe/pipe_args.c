/* SPDX-License-Identifier: GPL-3.0-or-later */
/* pipe_args: the pure parts of the pipe agent (pipe.h): the master.cf-style attributes from
 * the unit's command line (the administrator's input: checked strictly, every error named),
 * the ${...} expansion of the command's arguments (the values come from the request and the
 * queue file and are untrusted, but each expansion only ever becomes a whole argv string, never
 * shell text), the stream transformation for the flags, the prepended header lines, and the
 * mapping of a command's exit to a result with pipe(8)'s texts and <sysexits.h>'s codes. No
 * I/O, no logging, no globals. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <time.h>

#include "errmsg.h"
#include "log.h"
#include "parse.h"
#include "dsn.h"
#include "pipe.h"

static const char flag_letters[] = "BDFORXhqu.>";

typedef enum Macro {
        MACRO_CLIENT_ADDRESS,
        MACRO_CLIENT_HELO,
        MACRO_CLIENT_HOSTNAME,
        MACRO_CLIENT_PORT,
        MACRO_CLIENT_PROTOCOL,
        MACRO_DOMAIN,
        MACRO_EXTENSION,
        MACRO_MAILBOX,
        MACRO_NEXTHOP,
        MACRO_ORIGINAL_RECIPIENT,
        MACRO_QUEUE_ID,
        MACRO_RECIPIENT,
        MACRO_SASL_METHOD,
        MACRO_SASL_SENDER,
        MACRO_SASL_USERNAME,
        MACRO_SENDER,
        MACRO_SIZE,
        MACRO_USER,
        _MACRO_MAX,
        _MACRO_INVALID = -EINVAL,
} Macro;

static const struct {
        const char *name;
        bool per_rcpt;
} macros[_MACRO_MAX] = {
        [MACRO_CLIENT_ADDRESS] = { "client_address", false },
        [MACRO_CLIENT_HELO] = { "client_helo", false },
        [MACRO_CLIENT_HOSTNAME] = { "client_hostname", false },
        [MACRO_CLIENT_PORT] = { "client_port", false },
        [MACRO_CLIENT_PROTOCOL] = { "client_protocol", false },
        [MACRO_DOMAIN] = { "domain", true },
        [MACRO_EXTENSION] = { "extension", true },
        [MACRO_MAILBOX] = { "mailbox", true },
        [MACRO_NEXTHOP] = { "nexthop", false },
        [MACRO_ORIGINAL_RECIPIENT] = { "original_recipient", true },
        [MACRO_QUEUE_ID] = { "queue_id", false },
        [MACRO_RECIPIENT] = { "recipient", true },
        [MACRO_SASL_METHOD] = { "sasl_method", false },
        [MACRO_SASL_SENDER] = { "sasl_sender", false },
        [MACRO_SASL_USERNAME] = { "sasl_username", false },
        [MACRO_SENDER] = { "sender", false },
        [MACRO_SIZE] = { "size", false },
        [MACRO_USER] = { "user", true },
};

static Macro macro_find(const char *p, size_t n) {
        for (size_t i = 0; i < _MACRO_MAX; i++)
                if (strlen(macros[i].name) == n && memcmp(macros[i].name, p, n) == 0)
                        return (Macro) i;
        return _MACRO_INVALID;
}

static bool is_name_char(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '_';
}

/* One token of a template at p: 1 with *ret_macro (or -1 for "$$") and *ret_len the bytes it
 * takes, 0 when p is not a '$', -EBADMSG for a malformed or unknown macro. */
static int macro_token(const char *p, Macro *ret_macro, size_t *ret_len) {
        const char *name;
        size_t n = 0, skip;
        Macro m;

        if (p[0] != '$')
                return 0;
        if (p[1] == '$') {
                *ret_macro = (Macro) -1;
                *ret_len = 2;
                return 1;
        }
        if (p[1] == '{' || p[1] == '(') {
                char close = p[1] == '{' ? '}' : ')';

                name = p + 2;
                while (is_name_char(name[n]))
                        n++;
                if (n == 0 || name[n] != close)
                        return -EBADMSG;
                skip = 3;
        } else {
                name = p + 1;
                while (is_name_char(name[n]))
                        n++;
                if (n == 0)
                        return -EBADMSG;
                skip = 1;
        }
        m = macro_find(name, n);
        if (m < 0)
                return -EBADMSG;
        *ret_macro = m;
        *ret_len = n + skip;
        return 1;
}

/* Checks every macro of a template; *ret_per_rcpt tells whether one is per recipient. */
static int template_check(const char *t, bool *ret_per_rcpt, const char **ret_bad) {
        bool per_rcpt = false;

        for (const char *p = t; *p;) {
                Macro m;
                size_t n;
                int r = macro_token(p, &m, &n);

                if (r < 0) {
                        *ret_bad = p;
                        return r;
                }
                if (r == 0) {
                        p++;
                        continue;
                }
                if ((int) m >= 0 && macros[m].per_rcpt)
                        per_rcpt = true;
                p += n;
        }
        if (ret_per_rcpt)
                *ret_per_rcpt = per_rcpt;
        return 0;
}

PipeArgs *pipe_args_free(PipeArgs *a) {
        if (!a)
                return NULL;
        free(a->user);
        free(a->group);
        free(a->directory);
        free(a->null_sender);
        strv_free(a->argv);
        return mfree(a);
}

char *pipe_flags_to_string(unsigned flags, char buf[static 12]) {
        size_t n = 0;

        for (size_t i = 0; flag_letters[i]; i++)
                if (flags & (1u << i))
                        buf[n++] = flag_letters[i];
        buf[n] = '\0';
        return buf;
}

static bool name_is_valid(const char *s) {
        if (isempty(s))
                return false;
        for (const char *p = s; *p; p++)
                if (!is_name_char(*p) && *p != '.' && *p != '-')
                        return false;
        return true;
}

/* C escapes of eol= (pipe(8)): \a \b \f \n \r \t \v \ddd (one to three octal digits) \\. */
static int eol_decode(const char *v, char out[static PIPE_EOL_MAX + 1], size_t *ret_len) {
        size_t n = 0;

        for (const char *p = v; *p; p++) {
                char c = *p;

                if (c == '\\') {
                        static const char esc[] = "a\ab\bf\fn\nr\rt\tv\v\\\\";
                        const char *e;

                        p++;
                        if (*p >= '0' && *p <= '7') {
                                unsigned o = 0;

                                for (int i = 0; i < 3 && *p >= '0' && *p <= '7'; i++, p++)
                                        o = o * 8 + (unsigned) (*p - '0');
                                p--;
                                if (o == 0 || o > 255)
                                        return -EBADMSG;
                                c = (char) o;
                        } else {
                                if (*p == '\0')
                                        return -EBADMSG;
                                for (e = esc; *e && *e != *p; e += 2)
                                        ;
                                if (!*e)
                                        return -EBADMSG;
                                c = e[1];
                        }
                }
                if (n >= PIPE_EOL_MAX)
                        return -EMSGSIZE;
                out[n++] = c;
        }
        if (n == 0)
                return -EBADMSG;
        out[n] = '\0';
        *ret_len = n;
        return 0;
}

/* "{ a b }" as one argument: the braces and the white space inside them go. */
static char *ungroup(const char *s) {
        size_t n = strlen(s);

        if (n < 2 || s[0] != '{' || s[n - 1] != '}')
                return strdup(s);
        s++;
        n -= 2;
        while (n > 0 && strchr(" \t", *s)) {
                s++;
                n--;
        }
        while (n > 0 && strchr(" \t", s[n - 1]))
                n--;
        return strndup(s, n);
}

int pipe_args_parse(char *const *args, size_t n, PipeArgs **ret, char **ret_error) {
        _cleanup_(pipe_args_freep) PipeArgs *a = NULL;
        bool seen[6] = {};
        static const char *const names[] = {
                "flags", "user", "size", "eol", "directory", "null_sender",
        };
        size_t i;
        int r;

        assert(args || n == 0);
        assert(ret);

        a = calloc(1, sizeof(*a));
        if (!a)
                return -ENOMEM;
        a->eol[0] = '\n';
        a->eol_len = 1;

        for (i = 0; i < n; i++) {
                const char *arg = args[i], *eq = strchr(arg, '='), *v;
                size_t k;

                if (strlen(arg) > PIPE_VALUE_MAX)
                        return errmsg_set(ret_error, -EMSGSIZE, "attribute %.20s...: value "
                                          "longer than %u bytes", arg, PIPE_VALUE_MAX);
                if (!eq)
                        return errmsg_set(ret_error, -EINVAL, "'%s': expected NAME=VALUE "
                                          "(flags=, user=, size=, eol=, directory=, "
                                          "null_sender=, argv=)", arg);
                v = eq + 1;
                if (startswith(arg, "argv="))
                        break;
                if (startswith(arg, "chroot="))
                        return errmsg_set(ret_error, -EOPNOTSUPP, "chroot= is not supported: "
                                          "set RootDirectory= in the unit instead");
                for (k = 0; k < ELEMENTSOF(names); k++)
                        if ((size_t) (eq - arg) == strlen(names[k]) &&
                            strncmp(arg, names[k], strlen(names[k])) == 0)
                                break;
                if (k == ELEMENTSOF(names))
                        return errmsg_set(ret_error, -EINVAL, "unknown attribute '%.*s'",
                                          (int) MIN((size_t) (eq - arg), (size_t) 64), arg);
                if (seen[k])
                        return errmsg_set(ret_error, -EINVAL, "attribute %s= given twice",
                                          names[k]);
                seen[k] = true;

                switch (k) {
                case 0:         /* flags */
                        for (const char *p = v; *p; p++) {
                                const char *f = strchr(flag_letters, *p);

                                if (!f)
                                        return errmsg_set(ret_error, -EBADMSG, "flags=%s: "
                                                          "unknown flag '%c' (one of %s)", v,
                                                          *p, flag_letters);
                                a->flags |= 1u << (f - flag_letters);
                        }
                        break;
                case 1: {       /* user */
                        const char *colon = strchr(v, ':');

                        a->user = colon ? strndup(v, (size_t) (colon - v)) : strdup(v);
                        if (!a->user)
                                return -ENOMEM;
                        if (colon) {
                                a->group = strdup(colon + 1);
                                if (!a->group)
                                        return -ENOMEM;
                        }
                        if (!name_is_valid(a->user) || (colon && !name_is_valid(a->group)))
                                return errmsg_set(ret_error, -EBADMSG, "user=%s: expected "
                                                  "user=NAME or user=NAME:GROUP", v);
                        if (streq(a->user, "root") || streq_ptr(a->group, "root"))
                                return errmsg_set(ret_error, -EPERM, "user=%s: the command "
                                                  "must not run with root privileges", v);
                        break;
                }
                case 2:         /* size */
                        r = parse_uint64(v, &a->size_limit);
                        if (r < 0)
                                return errmsg_set(ret_error, -EBADMSG, "size=%s: expected a "
                                                  "number of bytes", v);
                        break;
                case 3:         /* eol */
                        r = eol_decode(v, a->eol, &a->eol_len);
                        if (r < 0)
                                return errmsg_set(ret_error, r, "eol=%s: %s", v,
                                                  r == -EMSGSIZE ? "too long" :
                                                  "expected text with C escapes (\\r\\n)");
                        break;
                case 4:         /* directory */
                        if (v[0] != '/')
                                return errmsg_set(ret_error, -EBADMSG, "directory=%s: expected "
                                                  "an absolute path", v);
                        a->directory = strdup(v);
                        if (!a->directory)
                                return -ENOMEM;
                        break;
                case 5:         /* null_sender */
                        a->null_sender = strdup(v);
                        if (!a->null_sender)
                                return -ENOMEM;
                        break;
                }
        }

        if (!a->user)
                return errmsg_set(ret_error, -EINVAL, "user= is required");
        if (i == n)
                return errmsg_set(ret_error, -EINVAL, "argv= is required (as the last "
                                  "attribute)");
        if (n - i > PIPE_ARGV_MAX)
                return errmsg_set(ret_error, -E2BIG, "argv=: more than %u arguments",
                                  PIPE_ARGV_MAX);
        if (!a->null_sender) {
                a->null_sender = strdup("MAILER-DAEMON");
                if (!a->null_sender)
                        return -ENOMEM;
        }

        a->argv = calloc(n - i + 1, sizeof(char *));
        if (!a->argv)
                return -ENOMEM;
        for (size_t j = i; j < n; j++) {
                const char *t = j == i ? args[j] + strlen("argv=") : args[j];
                const char *bad = NULL;

                if (strlen(t) > PIPE_VALUE_MAX)
                        return errmsg_set(ret_error, -EMSGSIZE, "argv=: argument %zu longer "
                                          "than %u bytes", j - i, PIPE_VALUE_MAX);
                a->argv[a->argc] = ungroup(t);
                if (!a->argv[a->argc])
                        return -ENOMEM;
                r = template_check(a->argv[a->argc], NULL, &bad);
                if (r < 0)
                        return errmsg_set(ret_error, r, "argv=: bad or unknown macro at "
                                          "'%.32s'", bad);
                a->argc++;
        }
        if (a->argv[0][0] != '/')
                return errmsg_set(ret_error, a->argv[0][0] ? -EBADMSG : -EINVAL,
                                  "argv=%s: expected the command as an absolute path",
                                  a->argv[0]);

        *ret = TAKE_PTR(a);
        return 0;
}

/* ---- Expansion ---- */

static void lower(char *s, size_t n) {
        for (size_t i = 0; i < n && s[i]; i++)
                if (s[i] >= 'A' && s[i] <= 'Z')
                        s[i] = (char) (s[i] - 'A' + 'a');
}

static bool localpart_is_atom(const char *p, size_t n) {
        if (n == 0 || p[0] == '.' || p[n - 1] == '.')
                return false;
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char) p[i];

                if (c <= ' ' || c == 0x7f || strchr("()<>@,;:\\\"[]", c))
                        return false;
                if (c == '.' && i + 1 < n && p[i + 1] == '.')
                        return false;
        }
        return true;
}

char *pipe_quote_address(const char *address) {
        const char *at = strrchr(address, '@');
        size_t n = at ? (size_t) (at - address) : strlen(address);
        char *out, *o;

        if (n == 0 || localpart_is_atom(address, n))
                return strdup(address);
        out = malloc(2 * n + 3 + strlen(address + n) + 1);
        if (!out)
                return NULL;
        o = out;
        *o++ = '"';
        for (size_t i = 0; i < n; i++) {
                if (address[i] == '"' || address[i] == '\\')
                        *o++ = '\\';
                *o++ = address[i];
        }
        *o++ = '"';
        strcpy(o, address + n);
        return out;
}

/* An address after the h, u and q flags (for $recipient, $original_recipient, $sender). */
static char *address_form(const char *address, unsigned flags, bool fold) {
        _cleanup_free_ char *s = strdup(address);
        char *at;

        if (!s)
                return NULL;
        at = strrchr(s, '@');
        if (fold && (flags & PIPE_FLAG_FOLD_USER))
                lower(s, at ? (size_t) (at - s) : strlen(s));
        if (fold && at && (flags & PIPE_FLAG_FOLD_HOST))
                lower(at, strlen(at));
        if (flags & PIPE_FLAG_QUOTE)
                return pipe_quote_address(s);
        return TAKE_PTR(s);
}

typedef struct Parts {
        char *recipient, *original, *user, *extension, *mailbox, *domain;
} Parts;

static void parts_done(Parts *p) {
        free(p->recipient);
        free(p->original);
        free(p->user);
        free(p->extension);
        free(p->mailbox);
        free(p->domain);
}

static int parts_make(const PipeArgs *a, const PipeContext *c, const PipeRecipient *rc,
                      Parts *ret) {
        const char *addr = strempty(rc->address), *at = strrchr(addr, '@');
        size_t n = at ? (size_t) (at - addr) : strlen(addr), u;
        const char *delim = strempty(c->recipient_delimiter);
        Parts p = {};

        u = *delim ? strcspn(addr, delim) : n;
        if (u > n)
                u = n;
        p.recipient = address_form(addr, a->flags, true);
        p.original = address_form(rc->original ? rc->original : addr, a->flags, true);
        p.mailbox = strndup(addr, n);
        p.user = strndup(addr, u);
        p.extension = strndup(u < n ? addr + u + 1 : "", u < n ? n - u - 1 : 0);
        p.domain = strdup(at ? at + 1 : "");
        if (!p.recipient || !p.original || !p.mailbox || !p.user || !p.extension ||
            !p.domain) {
                parts_done(&p);
                return -ENOMEM;
        }
        if (a->flags & PIPE_FLAG_FOLD_USER) {
                lower(p.mailbox, SIZE_MAX);
                lower(p.user, SIZE_MAX);
                lower(p.extension, SIZE_MAX);
        }
        if (a->flags & PIPE_FLAG_FOLD_HOST)
                lower(p.domain, SIZE_MAX);
        *ret = p;
        return 0;
}

static int expand_one(const char *t, const PipeArgs *a, const PipeContext *c,
                      const char *sender, const char *nexthop, const Parts *p, Buf *out) {
        char num[32];
        int r = 0;

        for (const char *s = t; *s && r >= 0;) {
                const char *v = NULL;
                Macro m;
                size_t n;

                if (macro_token(s, &m, &n) <= 0) {
                        r = buf_append(out, s, 1);
                        s++;
                        continue;
                }
                s += n;
                switch ((int) m) {
                case -1:
                        v = "$";
                        break;
                case MACRO_CLIENT_ADDRESS: v = c->client_address; break;
                case MACRO_CLIENT_HELO: v = c->client_helo; break;
                case MACRO_CLIENT_HOSTNAME: v = c->client_hostname; break;
                case MACRO_CLIENT_PORT: v = c->client_port; break;
                case MACRO_CLIENT_PROTOCOL: v = c->client_protocol; break;
                case MACRO_NEXTHOP: v = nexthop; break;
                case MACRO_QUEUE_ID: v = c->queue_id; break;
                case MACRO_SASL_METHOD: v = c->sasl_method; break;
                case MACRO_SASL_SENDER: v = c->sasl_sender; break;
                case MACRO_SASL_USERNAME: v = c->sasl_username; break;
                case MACRO_SENDER: v = sender; break;
                case MACRO_SIZE:
                        snprintf(num, sizeof(num), "%llu", (unsigned long long) c->size);
                        v = num;
                        break;
                default:
                        if (!p)
                                break;          /* no recipient: expands to nothing */
                        v = m == MACRO_RECIPIENT ? p->recipient :
                            m == MACRO_ORIGINAL_RECIPIENT ? p->original :
                            m == MACRO_USER ? p->user : m == MACRO_EXTENSION ? p->extension :
                            m == MACRO_MAILBOX ? p->mailbox : p->domain;
                }
                if (!isempty(v))
                        r = buf_append(out, v, strlen(v));
        }
        (void) a;
        return r < 0 ? (r == -ENOBUFS ? -E2BIG : r) : 0;
}

static int strv_push(char ***l, size_t *n, const char *s, size_t len) {
        char **x;

        if (*n >= PIPE_EXPANDED_ARGC_MAX)
                return -E2BIG;
        x = realloc(*l, (*n + 2) * sizeof(char *));
        if (!x)
                return -ENOMEM;
        *l = x;
        x[*n] = strndup(s, len);
        if (!x[*n])
                return -ENOMEM;
        x[++*n] = NULL;
        return 0;
}

int pipe_argv_expand(const PipeArgs *a, const PipeContext *c, char ***ret) {
        _cleanup_strv_free_ char **out = NULL;
        _cleanup_free_ char *sender = NULL, *nexthop = NULL;
        _cleanup_(buf_done) Buf b = BUF_INIT(PIPE_EXPANDED_BYTES_MAX);
        Parts *parts = NULL;
        size_t n = 0, total = 0;
        int r = 0;

        assert(a);
        assert(c);
        assert(ret);

        /* The null sender becomes null_sender=, quoted by q unless it is empty. */
        if (isempty(c->sender))
                sender = !isempty(a->null_sender) && (a->flags & PIPE_FLAG_QUOTE) ?
                        pipe_quote_address(a->null_sender) : strdup(strempty(a->null_sender));
        else
                sender = address_form(c->sender, a->flags, false);
        nexthop = strdup(strempty(c->nexthop));
        if (!sender || !nexthop)
                return -ENOMEM;
        if (a->flags & PIPE_FLAG_FOLD_HOST)
                lower(nexthop, SIZE_MAX);

        parts = calloc(MAX(c->n_rcpts, (size_t) 1), sizeof(Parts));
        if (!parts)
                return -ENOMEM;
        for (size_t i = 0; i < c->n_rcpts && r >= 0; i++)
                r = parts_make(a, c, &c->rcpts[i], &parts[i]);

        out = calloc(1, sizeof(char *));
        if (!out)
                r = -ENOMEM;
        for (size_t i = 0; i < a->argc && r >= 0; i++) {
                bool per_rcpt = false;
                const char *bad;

                (void) template_check(a->argv[i], &per_rcpt, &bad);
                for (size_t k = 0; k < (per_rcpt ? c->n_rcpts : 1) && r >= 0; k++) {
                        b.off = b.len = 0;
                        r = expand_one(a->argv[i], a, c, sender, nexthop,
                                       per_rcpt ? &parts[k] : NULL, &b);
                        if (r < 0)
                                break;
                        if (__builtin_add_overflow(total, b.len - b.off + 1, &total) ||
                            total > PIPE_EXPANDED_BYTES_MAX)
                                r = -E2BIG;
                        else
                                r = strv_push(&out, &n, b.data ? b.data + b.off : "",
                                              b.len - b.off);
                }
        }
        for (size_t i = 0; i < c->n_rcpts; i++)
                parts_done(&parts[i]);
        free(parts);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(out);
        return 0;
}

/* ---- The message stream ---- */

void pipe_stream_init(PipeStream *s, unsigned flags, const char *eol, size_t eol_len) {
        assert(s);
        *s = (PipeStream) { .flags = flags, .eol = eol, .eol_len = eol_len, .bol = true };
}

int pipe_stream_feed(PipeStream *s, const char *p, size_t n, Buf *out) {
        static const char from[] = "From ";
        size_t start = 0;               /* the first byte not yet copied */
        int r;

        assert(s);
        assert(out);

        for (size_t i = 0; i < n; i++) {
                char ch = p[i];

                if (s->bol) {
                        if (s->n_pending == 0 && ch == '.' && (s->flags & PIPE_FLAG_DOT)) {
                                r = buf_append(out, p + start, i - start);
                                if (r >= 0)
                                        r = buf_append(out, ".", 1);
                                if (r < 0)
                                        return r;
                                start = i;
                        }
                        if (s->flags & PIPE_FLAG_QUOTE_FROM) {
                                if (s->n_pending < 5 && ch == from[s->n_pending]) {
                                        r = buf_append(out, p + start, i - start);
                                        if (r < 0)
                                                return r;
                                        s->pending[s->n_pending++] = ch;
                                        start = i + 1;
                                        if (s->n_pending == 5) {
                                                r = buf_append(out, ">From ", 6);
                                                if (r < 0)
                                                        return r;
                                                s->n_pending = 0;
                                                s->bol = false;
                                        }
                                        continue;
                                }
                                if (s->n_pending > 0) {
                                        r = buf_append(out, s->pending, s->n_pending);
                                        if (r < 0)
                                                return r;
                                        s->n_pending = 0;
                                }
                        }
                }
                if (ch == '\n') {
                        r = buf_append(out, p + start, i - start);
                        if (r >= 0)
                                r = buf_append(out, s->eol, s->eol_len);
                        if (r < 0)
                                return r;
                        start = i + 1;
                        s->bol = true;
                } else
                        s->bol = false;
        }
        return buf_append(out, p + start, n - start);
}

int pipe_stream_finish(PipeStream *s, Buf *out) {
        int r;

        assert(s);
        if (s->n_pending > 0) {
                r = buf_append(out, s->pending, s->n_pending);
                if (r < 0)
                        return r;
                s->n_pending = 0;
                s->bol = false;
        }
        if (!s->bol) {
                r = buf_append(out, s->eol, s->eol_len);
                if (r < 0)
                        return r;
                s->bol = true;
        }
        if (s->flags & PIPE_FLAG_BLANK)
                return buf_append(out, s->eol, s->eol_len);
        return 0;
}

/* A copy of an untrusted value for a header line: control bytes (CR, LF...) become spaces so
 * that no value can end its line or start another. */
static char *header_value(const char *v) {
        char *s = strdup(v);

        if (s)
                for (char *p = s; *p; p++)
                        if ((unsigned char) *p < ' ' || *p == 0x7f)
                                *p = ' ';
        return s;
}

int pipe_head_format(unsigned flags, const char *null_sender, const char *sender,
                     const PipeRecipient *rcpt, uint64_t arrival_usec, char **ret) {
        _cleanup_free_ char *snd = NULL, *to = NULL, *orig = NULL, *s = NULL;
        const char *addr = rcpt ? strempty(rcpt->address) : "";
        time_t t = (time_t) (arrival_usec / 1000000);
        char date[64] = "";
        struct tm tm;
        int n;

        assert(ret);
        snd = header_value(isempty(sender) ? strempty(null_sender) : sender);
        to = header_value(addr);
        orig = header_value(rcpt && rcpt->original ? rcpt->original : addr);
        if (!snd || !to || !orig)
                return -ENOMEM;
        lower(to, SIZE_MAX);
        if (gmtime_r(&t, &tm))
                (void) strftime(date, sizeof(date), "%a %b %e %H:%M:%S %Y", &tm);
        n = asprintf(&s, "%s%s%s%s%s%s%s%s%s%s%s%s%s%s",
                     flags & PIPE_FLAG_FROM_LINE ? "From " : "",
                     flags & PIPE_FLAG_FROM_LINE ? (isempty(snd) ? "MAILER-DAEMON" : snd) : "",
                     flags & PIPE_FLAG_FROM_LINE ? "  " : "",
                     flags & PIPE_FLAG_FROM_LINE ? date : "",
                     flags & PIPE_FLAG_FROM_LINE ? "\n" : "",
                     flags & PIPE_FLAG_RETURN_PATH ? "Return-Path: <" : "",
                     flags & PIPE_FLAG_RETURN_PATH ? snd : "",
                     flags & PIPE_FLAG_RETURN_PATH ? ">\n" : "",
                     flags & PIPE_FLAG_DELIVERED_TO ? "Delivered-To: " : "",
                     flags & PIPE_FLAG_DELIVERED_TO ? to : "",
                     flags & PIPE_FLAG_DELIVERED_TO ? "\n" : "",
                     flags & PIPE_FLAG_ORIGINAL_TO ? "X-Original-To: " : "",
                     flags & PIPE_FLAG_ORIGINAL_TO ? orig : "",
                     flags & PIPE_FLAG_ORIGINAL_TO ? "\n" : "");
        if (n < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(s);
        return 0;
}

/* ---- Results ---- */

static void outcome_set(PipeOutcome *o, IpcStatus status, const char *dsn, const char *fmt,
                        ...) _printf_(4, 5);
static void outcome_set(PipeOutcome *o, IpcStatus status, const char *dsn, const char *fmt,
                        ...) {
        va_list ap;

        o->status = status;
        snprintf(o->dsn, sizeof(o->dsn), "%s", dsn);
        va_start(ap, fmt);
        vsnprintf(o->text, sizeof(o->text), fmt, ap);
        va_end(ap);
}

void pipe_outcome_from_exit(const char *service, const char *command, int wait_status,
                            bool timed_out, const char *output, size_t n, PipeOutcome *ret) {
        char out[PIPE_OUTPUT_MAX * 4 + 4], cmd[LOG_SANITIZE_BUFSIZE], dsn[IPC_DSN_MAX + 1];
        const char *sep;
        size_t k;

        assert(ret);
        while (n > 0 && strchr(" \t\r\n", output[n - 1]))
                n--;
        log_sanitize(out, sizeof(out), output, n, PIPE_OUTPUT_MAX);
        log_sanitize(cmd, sizeof(cmd), strempty(command), strlen(strempty(command)),
                     LOG_SANITIZE_MAX);
        sep = n > 0 ? ". Command output: " : "";

        if (timed_out) {
                outcome_set(ret, IPC_STATUS_DEFERRED, "4.3.0",
                            "Command time limit exceeded: \"%s\"%s%s", cmd, sep, out);
                return;
        }
        if (WIFSIGNALED(wait_status)) {
                outcome_set(ret, IPC_STATUS_DEFERRED, "4.3.0",
                            "Command died with signal %d: \"%s\"%s%s", WTERMSIG(wait_status),
                            cmd, sep, out);
                return;
        }
        if (WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0) {
                outcome_set(ret, IPC_STATUS_SENT, "2.0.0", "delivered via %s service%s%s%s",
                            strempty(service), n > 0 ? " (" : "", n > 0 ? out : "",
                            n > 0 ? ")" : "");
                return;
        }

        /* Failure: a 4.x.x or 5.x.x code at the start of the output wins (pipe(8)). */
        k = strcspn(out, " \t");
        if (k > 0 && k <= IPC_DSN_MAX && (out[0] == '4' || out[0] == '5')) {
                memcpy(dsn, out, k);
                dsn[k] = '\0';
                if (ipc_dsn_is_valid(dsn)) {
                        outcome_set(ret, dsn[0] == '4' ? IPC_STATUS_DEFERRED : IPC_STATUS_BOUNCED,
                                    dsn, "%s", out + k + strspn(out + k, " \t"));
                        return;
                }
        }
        const DsnSysexit *x = WIFEXITED(wait_status) ? dsn_from_sysexit(WEXITSTATUS(wait_status))
                                                      : NULL;
        if (x) {
                outcome_set(ret, x->enhanced[0] == '4' ? IPC_STATUS_DEFERRED : IPC_STATUS_BOUNCED,
                            x->enhanced, "%s%s%s", x->text, sep, out);
                return;
        }
        outcome_set(ret, IPC_STATUS_BOUNCED, "5.3.0", "Command died with status %d: \"%s\"%s%s",
                    WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : -1, cmd, sep, out);
}
