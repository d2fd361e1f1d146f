/* SPDX-License-Identifier: GPL-3.0-or-later */
/* dict: the table registry ("type:name" to a DictType), the access(5) key search order, lists of
 * tables, and the reader of table source files (postmap(1) format, aliases(5) format with
 * colon_key). Source files are written by administrators but still untrusted bytes: lines are
 * bounded, a NUL byte or a malformed line is an error naming the file and line. Lookup keys come
 * from peers (addresses, host names, IP addresses); they are only split and compared here. */
#include <arpa/inet.h>
#include <ctype.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "buf.h"
#include "dict.h"
#include "dict_types.h"
#include "errmsg.h"

static const DictType *const dict_types[] = {
        &dict_gdbm_type,
        &dict_texthash_type,
        &dict_static_type,
        &dict_inline_type,
        &dict_cidr_type,
        &dict_unix_type,
        &dict_socketmap_type,
        &dict_regexp_type,
        &dict_pcre_type,
};

int dict_head_init(Dict *d, const DictType *type, const char *name, DictFlags flags) {
        assert(d);
        assert(type);
        assert(name);

        if (asprintf(&d->spec, "%s:%s", type->name, name) < 0) {
                d->spec = NULL;
                return -ENOMEM;
        }
        d->type = type;
        d->flags = flags;
        return 0;
}

void dict_head_done(Dict *d) {
        if (d)
                d->spec = mfree(d->spec);
}

char *dict_key_fold(const char *key, DictFlags flags) {
        char *s;

        assert(key);

        s = strdup(key);
        if (!s || !(flags & DICT_FLAG_FOLD_CASE))
                return s;
        for (char *p = s; *p; p++)
                *p = (char) tolower((unsigned char) *p);
        return s;
}

/* Table type names are a letter, then letters, digits, '_' ("hash", "texthash"); anything else
 * before the first ':' (an IPv6 address given where a table may stand) is not a table spec. */
static bool dict_type_name_valid(const char *p, size_t n) {
        if (n == 0 || n > 32 || !isalpha((unsigned char) p[0]))
                return false;
        for (size_t i = 0; i < n; i++)
                if (!isalnum((unsigned char) p[i]) && p[i] != '_')
                        return false;
        return true;
}

int dict_open(const char *spec, DictFlags flags, Dict **ret, char **ret_error) {
        const char *colon, *name;
        size_t n;

        assert(spec);
        assert(ret);

        /* "proxy:" names Postfix's proxymap service; tables are opened in process here, so the
         * prefix is accepted and dropped, and main.cf files written for Postfix keep working. */
        while ((name = startswith(spec, "proxy:")))
                spec = name;

        colon = strchr(spec, ':');
        if (!colon)
                return errmsg_set(ret_error, -EBADMSG,
                                  "table \"%s\": need type:name (for example hash:/etc/tern/%s)",
                                  spec, spec);
        n = (size_t) (colon - spec);
        if (!dict_type_name_valid(spec, n))
                return errmsg_set(ret_error, -EBADMSG,
                                  "table \"%s\": need type:name, not a table type", spec);

        for (size_t i = 0; i < ELEMENTSOF(dict_types); i++)
                if (strlen(dict_types[i]->name) == n &&
                    strncmp(dict_types[i]->name, spec, n) == 0)
                        return dict_types[i]->open(colon + 1, flags, ret, ret_error);

        return errmsg_set(ret_error, -EPROTONOSUPPORT, "unsupported table type \"%.*s\" in \"%s\"",
                          (int) n, spec, spec);
}

Dict *dict_free(Dict *d) {
        if (d)
                d->type->free(d);
        return NULL;
}

int dict_lookup(Dict *d, const char *key, char **ret_value) {
        _cleanup_free_ char *folded = NULL;

        assert(d);
        assert(key);
        assert(ret_value);

        /* Fixed-string tables compare keys exactly, so case is folded here (Postfix's fold_fix);
         * pattern tables decide case sensitivity with their own flags. */
        if ((d->flags & DICT_FLAG_FOLD_CASE) && !(d->flags & DICT_FLAG_PATTERN)) {
                folded = dict_key_fold(key, d->flags);
                if (!folded)
                        return -ENOMEM;
                key = folded;
        }
        return d->type->lookup(d, key, ret_value);
}

/* The parent-domain part of an access lookup: "a.b.c" is asked as "a.b.c", then ".b.c", ".c" or,
 * when parent domains match subdomains, "b.c", "c". Returns as dict_lookup(). */
static int lookup_domain_fixed(Dict *d, const char *domain, char **ret_value) {
        bool bare = d->flags & DICT_FLAG_PARENT_MATCHES_SUBDOMAINS;
        int r;

        r = dict_lookup(d, domain, ret_value);
        if (r != 0)
                return r;

        for (const char *p = strchr(domain + 1, '.'); p; p = strchr(p + 1, '.')) {
                const char *key = bare ? p + 1 : p;

                if (*key == '\0' || streq(key, "."))
                        break;
                r = dict_lookup(d, key, ret_value);
                if (r != 0)
                        return r;
        }
        return 0;
}

static bool is_ip_address(const char *s) {
        unsigned char a[16];

        return inet_pton(AF_INET, s, a) == 1 || inet_pton(AF_INET6, s, a) == 1;
}

int dict_lookup_domain(Dict *d, const char *domain, char **ret_value) {
        assert(d);
        assert(domain);
        assert(ret_value);

        /* No parent-domain lookups for a numerical host name, as Postfix has it. */
        if ((d->flags & DICT_FLAG_PATTERN) || *domain == '\0' || is_ip_address(domain))
                return dict_lookup(d, domain, ret_value);
        return lookup_domain_fixed(d, domain, ret_value);
}

static bool local_is(const char *local, size_t n, const char *name) {
        return strlen(name) == n && strncasecmp(local, name, n) == 0;
}

/* Length of the local part without its extension: the extension starts at the first character
 * of the delimiter set, as with Postfix's recipient_delimiter. Returns n when nothing is
 * stripped. Like Postfix, never splits postmaster, MAILER-DAEMON and double-bounce, and, with
 * '-' among the delimiters, "owner-list" and "list-request". */
static size_t local_strip_extension(const char *local, size_t n, const char *delim) {
        size_t i;

        if (isempty(delim))
                return n;
        if (local_is(local, n, "postmaster") || local_is(local, n, "mailer-daemon") ||
            local_is(local, n, "double-bounce"))
                return n;
        if (strchr(delim, '-') &&
            ((n >= 6 && strncasecmp(local, "owner-", 6) == 0) ||
             (n >= 8 && strncasecmp(local + n - 8, "-request", 8) == 0)))
                return n;
        for (i = 0; i < n; i++)
                if (strchr(delim, local[i]))
                        break;
        return i == 0 ? n : i;
}

int dict_lookup_address(Dict *d, const char *address, const char *delim, char **ret_value) {
        _cleanup_free_ char *key = NULL;
        const char *at;
        size_t local_len, bare_len;
        int r;

        assert(d);
        assert(address);
        assert(ret_value);

        /* 1. user+ext@domain (the address as given) */
        r = dict_lookup(d, address, ret_value);
        if (r != 0 || (d->flags & DICT_FLAG_PATTERN))
                return r;

        at = strrchr(address, '@');
        local_len = at ? (size_t) (at - address) : strlen(address);
        bare_len = local_strip_extension(address, local_len, delim);

        /* 2. user@domain, when the address had an extension */
        if (bare_len < local_len) {
                if (asprintf(&key, "%.*s%s", (int) bare_len, address, at ? at : "") < 0) {
                        key = NULL;
                        return -ENOMEM;
                }
                r = dict_lookup(d, key, ret_value);
                if (r != 0)
                        return r;
                key = mfree(key);
        }
        if (!at)
                return 0;

        /* "user@": the keys above were already the "user@" forms */
        if (at[1] == '\0')
                return 0;

        /* 3. domain, then its parents */
        r = lookup_domain_fixed(d, at + 1, ret_value);
        if (r != 0)
                return r;

        /* 4. user+ext@, 5. user@ */
        if (local_len == 0)
                return 0;
        key = strndup(address, local_len + 1);
        if (!key)
                return -ENOMEM;
        r = dict_lookup(d, key, ret_value);
        if (r != 0 || bare_len == local_len)
                return r;
        key[bare_len] = '@';
        key[bare_len + 1] = '\0';
        return dict_lookup(d, key, ret_value);
}

int dict_lookup_client(Dict *d, const char *ip, char **ret_value) {
        _cleanup_free_ char *key = NULL;
        char sep;
        int r;

        assert(d);
        assert(ip);
        assert(ret_value);

        if (d->flags & DICT_FLAG_PATTERN)
                return dict_lookup(d, ip, ret_value);

        key = strdup(ip);
        if (!key)
                return -ENOMEM;
        /* "1.2.3.4", "1.2.3", "1.2", "1"; IPv6 "1:2::3" then "1:2:", "1:2", "1" */
        sep = strchr(key, ':') ? ':' : '.';
        for (;;) {
                char *p;

                r = dict_lookup(d, key, ret_value);
                if (r != 0)
                        return r;
                p = strrchr(key, sep);
                if (!p || p == key)
                        return 0;
                *p = '\0';
        }
}

struct DictList {
        Dict **dicts;
        size_t n;
};

DictList *dict_list_free(DictList *l) {
        if (!l)
                return NULL;
        for (size_t i = 0; i < l->n; i++)
                dict_free(l->dicts[i]);
        free(l->dicts);
        return mfree(l);
}

static bool is_list_separator(char c) {
        return c == ',' || c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

int dict_list_open(const char *specs, DictFlags flags, DictList **ret, char **ret_error) {
        _cleanup_(dict_list_freep) DictList *l = NULL;
        const char *p = specs;
        int r;

        assert(specs);
        assert(ret);

        l = calloc(1, sizeof(*l));
        if (!l)
                return -ENOMEM;

        for (;;) {
                _cleanup_free_ char *spec = NULL;
                const char *start;
                unsigned depth = 0;
                Dict **a;

                while (is_list_separator(*p))
                        p++;
                if (*p == '\0')
                        break;

                /* A brace group ("inline:{ a=b, c=d }") is one item, separators and all. */
                for (start = p; *p && (depth > 0 || !is_list_separator(*p)); p++)
                        if (*p == '{')
                                depth++;
                        else if (*p == '}' && depth > 0)
                                depth--;
                if (depth > 0)
                        return errmsg_set(ret_error, -EBADMSG,
                                          "table list \"%s\": missing '}'", specs);

                spec = strndup(start, (size_t) (p - start));
                if (!spec)
                        return -ENOMEM;

                a = reallocarray(l->dicts, l->n + 1, sizeof(Dict *));
                if (!a)
                        return -ENOMEM;
                l->dicts = a;
                r = dict_open(spec, flags, &l->dicts[l->n], ret_error);
                if (r < 0)
                        return r;
                l->n++;
        }

        *ret = TAKE_PTR(l);
        return 0;
}

int dict_list_lookup(DictList *l, const char *key, char **ret_value) {
        int r;

        assert(l);
        assert(key);
        assert(ret_value);

        for (size_t i = 0; i < l->n; i++) {
                r = dict_lookup(l->dicts[i], key, ret_value);
                if (r != 0)
                        return r;
        }
        return 0;
}

size_t dict_list_size(const DictList *l) {
        return l ? l->n : 0;
}

Dict *dict_list_get(const DictList *l, size_t i) {
        assert(l);
        assert(i < l->n);

        return l->dicts[i];
}

/* Reads one physical line (without its LF) into b. Returns 1 with a line, 0 at end of file,
 * -EBADMSG for a NUL byte, -EMSGSIZE for a line longer than DICT_SOURCE_LINE_MAX, -errno on read
 * errors. Bytes are gathered in a small chunk first: one append per chunk, not per byte. */
static int source_read_physical(FILE *f, Buf *b) {
        char chunk[1024];
        size_t k = 0;
        bool any = false;
        int c;

        buf_clear(b);
        for (;;) {
                c = getc_unlocked(f);
                if (c == EOF || c == '\n' || k == sizeof chunk) {
                        if (buf_append(b, chunk, k) < 0)
                                return -EMSGSIZE;
                        k = 0;
                }
                if (c == EOF) {
                        if (ferror(f))
                                return errno > 0 ? -errno : -EIO;
                        return any ? 1 : 0;
                }
                any = true;
                if (c == '\n')
                        return 1;
                if (c == '\0')
                        return -EBADMSG;
                chunk[k++] = (char) c;
        }
}

static void strip_trailing_space(Buf *b) {
        while (b->len > b->off && isspace((unsigned char) b->data[b->len - 1]))
                b->len--;
        if (b->data)
                b->data[b->len] = '\0';
}

int dict_source_read_lines(FILE *f, const char *name,
                           int (*cb)(char *line, unsigned lineno, void *userdata),
                           void *userdata, char **ret_error) {
        _cleanup_(buf_done) Buf phys = BUF_INIT(DICT_SOURCE_LINE_MAX);
        _cleanup_(buf_done) Buf logical = BUF_INIT(DICT_SOURCE_LINE_MAX);
        unsigned lineno = 0, first = 0;
        int r;

        assert(f);
        assert(name);
        assert(cb);

        for (;;) {
                const char *s;

                r = source_read_physical(f, &phys);
                if (r == -EBADMSG)
                        return errmsg_set(ret_error, r, "%s, line %u: NUL byte in line",
                                          name, lineno + 1);
                if (r == -EMSGSIZE)
                        return errmsg_set(ret_error, -EBADMSG,
                                          "%s, line %u: line longer than %u bytes", name,
                                          lineno + 1, (unsigned) DICT_SOURCE_LINE_MAX);
                if (r < 0)
                        return errmsg_set(ret_error, r, "%s: read error: %s", name,
                                          strerror(-r));
                if (r == 0)
                        break;
                lineno++;

                strip_trailing_space(&phys);
                s = buf_peek(&phys);
                s += strspn(s, " \t\r\f\v");
                if (*s == '\0' || *s == '#')
                        continue;

                if (isspace((unsigned char) buf_peek(&phys)[0])) {
                        if (first == 0)
                                return errmsg_set(ret_error, -EBADMSG,
                                                  "%s, line %u: continuation line (starting "
                                                  "with white space) without a line before it",
                                                  name, lineno);
                        if (buf_append(&logical, buf_peek(&phys), buf_pending(&phys)) < 0)
                                return errmsg_set(ret_error, -EBADMSG,
                                                  "%s, line %u: logical line longer than %u "
                                                  "bytes", name, lineno,
                                                  (unsigned) DICT_SOURCE_LINE_MAX);
                        continue;
                }

                if (first > 0) {
                        r = cb(logical.data, first, userdata);
                        if (r < 0)
                                return r;
                }
                buf_clear(&logical);
                r = buf_append(&logical, buf_peek(&phys), buf_pending(&phys));
                if (r < 0)
                        return r;
                first = lineno;
        }

        if (first > 0) {
                r = cb(logical.data, first, userdata);
                if (r < 0)
                        return r;
        }
        return 0;
}

typedef struct SourceContext {
        const char *path;
        bool colon_key;
        int (*f)(const char *key, const char *value, unsigned line, void *userdata);
        void *userdata;
        char **ret_error;
} SourceContext;

static int source_entry(char *line, unsigned lineno, void *userdata) {
        SourceContext *c = userdata;
        char *key_end, *value;

        if (c->colon_key) {
                /* aliases(5): "name: value"; a quoted name may contain ':' */
                bool quoted = false;

                for (key_end = line; *key_end; key_end++)
                        if (*key_end == '"')
                                quoted = !quoted;
                        else if (*key_end == '\\' && key_end[1])
                                key_end++;
                        else if (*key_end == ':' && !quoted)
                                break;
                if (*key_end != ':')
                        return errmsg_set(c->ret_error, -EBADMSG,
                                          "%s, line %u: need \"name: value\"", c->path, lineno);
                value = key_end + 1;
                while (key_end > line && isspace((unsigned char) key_end[-1]))
                        key_end--;
                if (key_end == line)
                        return errmsg_set(c->ret_error, -EBADMSG,
                                          "%s, line %u: empty name before ':'", c->path, lineno);
        } else {
                key_end = line + strcspn(line, " \t\r\f\v");
                value = key_end;
        }
        value += strspn(value, " \t\r\f\v");
        if (*value == '\0')
                return errmsg_set(c->ret_error, -EBADMSG,
                                  c->colon_key ? "%s, line %u: no value after ':'"
                                               : "%s, line %u: need \"key whitespace value\"",
                                  c->path, lineno);
        *key_end = '\0';
        return c->f(line, value, lineno, c->userdata);
}

int dict_source_read(const char *path, bool colon_key,
                     int (*f)(const char *key, const char *value, unsigned line, void *userdata),
                     void *userdata, char **ret_error) {
        _cleanup_fclose_ FILE *file = NULL;
        _cleanup_close_ int fd = -EBADF;
        SourceContext c = {
                .path = path,
                .colon_key = colon_key,
                .f = f,
                .userdata = userdata,
                .ret_error = ret_error,
        };
        struct stat st;

        assert(path);
        assert(f);

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return errmsg_set(ret_error, -errno, "cannot open %s: %m", path);
        if (fstat(fd, &st) < 0)
                return errmsg_set(ret_error, -errno, "cannot stat %s: %m", path);
        if (S_ISDIR(st.st_mode))
                return errmsg_set(ret_error, -EISDIR, "cannot read %s: is a directory", path);

        file = fdopen(fd, "r");
        if (!file)
                return errmsg_set(ret_error, -errno, "cannot open %s: %m", path);
        TAKE_FD(fd);

        return dict_source_read_lines(file, path, source_entry, &c, ret_error);
}
