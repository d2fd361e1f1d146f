/* SPDX-License-Identifier: GPL-3.0-or-later */
/* alias: aliases(5) parsing and database building; see alias.h. The parser is pure and bounded;
 * alias_build() reads the source file whole (at most ALIAS_FILE_MAX bytes) and writes through
 * the dict_gdbm builder, so a failed build leaves the old database in place. */
#include <fcntl.h>
#include <limits.h>
#include <strings.h>
#include <sys/stat.h>

#include "alias.h"
#include "buf.h"
#include "dict_gdbm.h"
#include "errmsg.h"
#include "log.h"

static const char *const alias_item_type_table[_ALIAS_ITEM_TYPE_MAX] = {
        [ALIAS_ITEM_ADDRESS] = "address",
        [ALIAS_ITEM_INCLUDE] = "include",
        [ALIAS_ITEM_COMMAND] = "command",
        [ALIAS_ITEM_FILE] = "file",
};

const char *alias_item_type_to_string(AliasItemType t) {
        if (t < 0 || t >= _ALIAS_ITEM_TYPE_MAX)
                return NULL;
        return alias_item_type_table[t];
}

/* White space as Postfix trims it from table lines: blanks, CR, and the other C-locale spaces. */
static bool is_space(char c) {
        return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

static char ascii_lower(char c) {
        return c >= 'A' && c <= 'Z' ? (char) (c - 'A' + 'a') : c;
}

/* Splits one logical line into name and value, in place. Returns 0, or -EBADMSG with
 * *ret_error. */
static int entry_split(char *s, char **ret_name, char **ret_value, const char **ret_error) {
        char *name, *value, *e;

        if (*s == '"') {
                char *w;

                name = w = s + 1;
                for (e = s + 1; *e != '"'; e++) {
                        if (*e == '\0') {
                                *ret_error = "unterminated quoted name";
                                return -EBADMSG;
                        }
                        if (*e == '\\' && e[1] != '\0')
                                e++;
                        *w++ = *e;
                }
                *w = '\0';
                for (e++; is_space(*e); e++)
                        ;
                if (*e != ':') {
                        *ret_error = "missing ':' after the quoted name";
                        return -EBADMSG;
                }
                value = e + 1;
        } else {
                e = strchr(s, ':');
                if (!e) {
                        *ret_error = "missing ':' after the name";
                        return -EBADMSG;
                }
                *e = '\0';
                value = e + 1;
                name = s;
                for (e = name + strlen(name); e > name && is_space(e[-1]); e--)
                        ;
                *e = '\0';
        }

        if (*name == '\0') {
                *ret_error = "empty name";
                return -EBADMSG;
        }
        if (strchr(name, '@')) {
                *ret_error = "name must be local (no '@')";
                return -EBADMSG;
        }
        for (char *c = name; *c; c++)
                *c = ascii_lower(*c);

        while (is_space(*value))
                value++;
        for (e = value + strlen(value); e > value && is_space(e[-1]); e--)
                ;
        *e = '\0';
        if (*value == '\0') {
                *ret_error = "missing value after ':'";
                return -EBADMSG;
        }

        *ret_name = name;
        *ret_value = value;
        return 0;
}

typedef struct AliasParser {
        Buf entry;                      /* the logical line being collected */
        unsigned entry_line;            /* its first line, 0 when none */
        int (*f)(const char *name, const char *value, unsigned line, void *userdata);
        void *userdata;
        unsigned err_line;
        const char *err;
} AliasParser;

static void alias_parser_done(AliasParser *ap) {
        buf_done(&ap->entry);
}

static int parser_fail(AliasParser *ap, unsigned line, const char *err, int r) {
        ap->err_line = line;
        ap->err = err;
        return r;
}

/* Hands the collected entry, if any, to the callback. */
static int parser_flush(AliasParser *ap) {
        char *name, *value;
        unsigned line = ap->entry_line;
        const char *err = NULL;
        int r;

        if (line == 0)
                return 0;
        ap->entry_line = 0;

        r = entry_split(ap->entry.data + ap->entry.off, &name, &value, &err);
        if (r < 0)
                return parser_fail(ap, line, err, r);
        r = ap->f(name, value, line, ap->userdata);
        if (r < 0)
                return parser_fail(ap, line, NULL, r);
        buf_clear(&ap->entry);
        return 0;
}

static int parser_append(AliasParser *ap, const char *p, size_t n, unsigned line) {
        int r;

        r = buf_append(&ap->entry, p, n);
        if (r == -ENOBUFS)
                return parser_fail(ap, line, "entry too long", -EMSGSIZE);
        if (r < 0)
                return parser_fail(ap, line, NULL, r);
        return 0;
}

/* One physical line without its LF. */
static int parser_line(AliasParser *ap, const char *s, size_t len, unsigned line) {
        const char *e;
        int r;

        if (memchr(s, '\0', len))
                return parser_fail(ap, line, "NUL byte", -EBADMSG);
        for (e = s + len; e > s && is_space(e[-1]); e--)
                ;
        len = (size_t) (e - s);
        if (len == 0)
                return 0;                               /* blank line */

        if (is_space(*s)) {
                while (is_space(*s)) {
                        s++;
                        len--;
                }
                if (*s == '#')
                        return 0;                       /* indented comment */
                if (ap->entry_line == 0)
                        return parser_fail(ap, line,
                                           "continuation line without an entry before it",
                                           -EBADMSG);
                r = parser_append(ap, " ", 1, line);
                if (r < 0)
                        return r;
                return parser_append(ap, s, len, line);
        }
        if (*s == '#')
                return 0;

        r = parser_flush(ap);
        if (r < 0)
                return r;
        ap->entry_line = line;
        return parser_append(ap, s, len, line);
}

int alias_parse(const char *p, size_t n,
                int (*f)(const char *name, const char *value, unsigned line, void *userdata),
                void *userdata, unsigned *ret_line, const char **ret_error) {
        _cleanup_(alias_parser_done) AliasParser ap = {
                .entry = BUF_INIT(ALIAS_LINE_MAX),
                .f = f,
                .userdata = userdata,
        };
        unsigned line = 0;
        size_t i = 0;
        int r = 0;

        assert(p || n == 0);
        assert(f);

        while (i < n) {
                const char *s = p + i, *nl;
                size_t len;

                nl = memchr(s, '\n', n - i);
                len = nl ? (size_t) (nl - s) : n - i;
                i += len + (nl ? 1 : 0);
                if (line == UINT_MAX) {
                        r = parser_fail(&ap, line, "too many lines", -EMSGSIZE);
                        break;
                }
                r = parser_line(&ap, s, len, ++line);
                if (r < 0)
                        break;
        }
        if (r >= 0)
                r = parser_flush(&ap);
        if (r < 0) {
                if (ret_line)
                        *ret_line = ap.err_line;
                if (ret_error)
                        *ret_error = ap.err ? ap.err : "entry rejected";
                return r;
        }
        return 0;
}

#define INCLUDE_PREFIX ":include:"

AliasItemType alias_item_classify(const char *item, const char **ret_target) {
        const char *t = item;
        AliasItemType type;

        assert(item);

        if (strncasecmp(item, INCLUDE_PREFIX, strlen(INCLUDE_PREFIX)) == 0) {
                type = ALIAS_ITEM_INCLUDE;
                for (t = item + strlen(INCLUDE_PREFIX); is_space(*t); t++)
                        ;
        } else if (item[0] == '|') {
                type = ALIAS_ITEM_COMMAND;
                t = item + 1;
        } else if (item[0] == '/')
                type = ALIAS_ITEM_FILE;
        else
                type = ALIAS_ITEM_ADDRESS;

        if (ret_target)
                *ret_target = t;
        return type;
}

/* Makes one item from the n bytes at s (quotes already known to balance). Returns 1 with a
 * malloc'd item, 0 for an empty one, -EBADMSG with *ret_error, -ENOMEM. */
static int item_make(const char *s, size_t n, char **ret, const char **ret_error) {
        _cleanup_free_ char *item = NULL;
        const char *target, *lt = NULL;
        size_t i, first_end = SIZE_MAX;
        AliasItemType type;
        bool quoted = false;

        while (n > 0 && is_space(*s)) {
                s++;
                n--;
        }
        while (n > 0 && is_space(s[n - 1]))
                n--;
        if (n == 0)
                return 0;

        /* Where the first quoted string ends, and the first '<' outside quotes. */
        for (i = 0; i < n; i++) {
                if (quoted) {
                        if (s[i] == '\\' && i + 1 < n)
                                i++;
                        else if (s[i] == '"') {
                                quoted = false;
                                if (s[0] == '"' && first_end == SIZE_MAX)
                                        first_end = i;
                        }
                } else if (s[i] == '"')
                        quoted = true;
                else if (s[i] == '\\' && i + 1 < n)
                        i++;
                else if (s[i] == '<' && !lt)
                        lt = s + i;
        }

        if (first_end == n - 1) {                /* the item is one quoted string */
                char *w;

                item = w = malloc(n);
                if (!item)
                        return -ENOMEM;
                for (i = 1; i < n - 1; i++) {
                        if (s[i] == '\\' && i + 1 < n - 1)
                                i++;
                        *w++ = s[i];
                }
                *w = '\0';
        } else if (lt && s[0] != '|' && s[0] != '/' &&
                   strncasecmp(s, INCLUDE_PREFIX, MIN(n, strlen(INCLUDE_PREFIX))) != 0) {
                /* "<addr>" or "Name <addr>": RFC 5322 name-addr, the address is inside. */
                const char *a = lt + 1, *e = s + n - 1;

                if (*e != '>') {
                        *ret_error = "'<' without '>' at the end of the item";
                        return -EBADMSG;
                }
                while (a < e && is_space(*a))
                        a++;
                while (e > a && is_space(e[-1]))
                        e--;
                if (a == e || memchr(a, '<', (size_t) (e - a)) ||
                    memchr(a, '>', (size_t) (e - a))) {
                        *ret_error = "bad address in '<...>'";
                        return -EBADMSG;
                }
                item = strndup(a, (size_t) (e - a));
                if (!item)
                        return -ENOMEM;
        } else {
                item = strndup(s, n);
                if (!item)
                        return -ENOMEM;
        }

        type = alias_item_classify(item, &target);
        if (type == ALIAS_ITEM_COMMAND && *target == '\0') {
                *ret_error = "empty command after '|'";
                return -EBADMSG;
        }
        if (type == ALIAS_ITEM_INCLUDE && *target == '\0') {
                *ret_error = "empty path after ':include:'";
                return -EBADMSG;
        }
        if (*item == '\0')
                return 0;                       /* "" */

        *ret = TAKE_PTR(item);
        return 1;
}

static int value_split(const char *value, char ***ret_items, const char **ret_error) {
        _cleanup_strv_free_ char **items = NULL;
        size_t n_items = 0, n_alloc = 0;
        const char *p = value;
        int r;

        assert(value);
        assert(ret_items);

        for (;;) {
                const char *start = p;
                bool quoted = false;
                char *item = NULL;

                for (; *p; p++) {
                        if (quoted) {
                                if (*p == '\\' && p[1])
                                        p++;
                                else if (*p == '"')
                                        quoted = false;
                        } else if (*p == '"')
                                quoted = true;
                        else if (*p == '\\' && p[1])
                                p++;
                        else if (*p == ',')
                                break;
                }
                if (quoted) {
                        *ret_error = "unterminated quoted string";
                        return -EBADMSG;
                }

                r = item_make(start, (size_t) (p - start), &item, ret_error);
                if (r < 0)
                        return r;
                if (r > 0) {
                        char **l;

                        if (n_items >= ALIAS_ITEMS_MAX) {
                                free(item);
                                *ret_error = "too many items";
                                return -E2BIG;
                        }
                        if (n_items + 2 > n_alloc) {
                                /* geometric growth: a long list stays linear */
                                size_t want = MAX(n_alloc * 2, (size_t) 8);

                                l = reallocarray(items, want, sizeof(char *));
                                if (!l) {
                                        free(item);
                                        return -ENOMEM;
                                }
                                items = l;
                                n_alloc = want;
                        }
                        items[n_items++] = item;
                        items[n_items] = NULL;
                }
                if (*p == '\0')
                        break;
                p++;
        }
        if (n_items == 0) {
                *ret_error = "no item in the value";
                return -EBADMSG;
        }

        *ret_items = TAKE_PTR(items);
        return 0;
}

int alias_parse_value(const char *value, char ***ret_items) {
        const char *error = NULL;

        assert(value);
        assert(ret_items);

        return value_split(value, ret_items, &error);
}

typedef struct AliasBuild {
        const char *path;
        DictBuilder *builder;
        char **warnings;
        size_t n_warnings;
        char *error;
} AliasBuild;

static int build_warn(AliasBuild *b, unsigned line, const char *name) {
        char sane[LOG_SANITIZE_BUFSIZE];
        char *w = NULL, **l;

        log_sanitize(sane, sizeof sane, name, strlen(name), LOG_SANITIZE_MAX);
        if (asprintf(&w, "%s, line %u: duplicate entry: \"%s\"", b->path, line, sane) < 0)
                return -ENOMEM;
        l = reallocarray(b->warnings, b->n_warnings + 2, sizeof(char *));
        if (!l) {
                free(w);
                return -ENOMEM;
        }
        b->warnings = l;
        b->warnings[b->n_warnings++] = w;
        b->warnings[b->n_warnings] = NULL;
        return 0;
}

static int build_entry(const char *name, const char *value, unsigned line, void *userdata) {
        _cleanup_strv_free_ char **items = NULL;
        AliasBuild *b = userdata;
        const char *error = NULL;
        int r;

        r = value_split(value, &items, &error);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return errmsg_set(&b->error, r, "%s, line %u: bad value: %s", b->path, line,
                                  error);

        r = dict_builder_add(b->builder, name, value);
        if (r == -EEXIST)
                return build_warn(b, line, name);
        if (r < 0)
                return errmsg_set(&b->error, r, "%s, line %u: cannot store the entry: %s",
                                  b->path, line, strerror(-r));
        return 0;
}

/* Reads a whole file of at most max bytes. */
static int read_file(const char *path, size_t max, Buf *ret) {
        _cleanup_(buf_done) Buf b = BUF_INIT(max);
        _cleanup_close_ int fd = -EBADF;
        struct stat st;
        int r;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (S_ISDIR(st.st_mode))
                return -EISDIR;
        if (S_ISREG(st.st_mode) && (uint64_t) st.st_size > max)
                return -EFBIG;

        do
                r = buf_read_fd(&b, fd);
        while (r > 0);
        if (r == -ENOBUFS)
                return -EFBIG;
        if (r < 0)
                return r;

        *ret = b;
        b = (Buf) {};
        return 0;
}

static void alias_build_done(AliasBuild *b) {
        free(b->error);
        strv_free(b->warnings);
}

int alias_build(const char *source_path, const char *db_path, char ***ret_warnings,
                char **ret_error) {
        _cleanup_(dict_builder_freep) DictBuilder *builder = NULL;
        _cleanup_(alias_build_done) AliasBuild b = { .path = source_path };
        _cleanup_(buf_done) Buf text = {};
        const char *error = NULL;
        unsigned line = 0;
        int r;

        assert(source_path);
        assert(db_path);

        r = read_file(source_path, ALIAS_FILE_MAX, &text);
        if (r == -EFBIG)
                return errmsg_set(ret_error, r, "%s: larger than %u bytes", source_path,
                                  ALIAS_FILE_MAX);
        if (r < 0)
                return errmsg_set(ret_error, r, "%s: cannot read: %s", source_path,
                                  strerror(-r));

        r = dict_builder_new(db_path, &builder);
        if (r < 0)
                return errmsg_set(ret_error, r, "%s: cannot create: %s", db_path, strerror(-r));
        b.builder = builder;

        r = alias_parse(buf_peek(&text), buf_pending(&text), build_entry, &b, &line, &error);
        if (r < 0 && b.error) {
                if (ret_error) {
                        free(*ret_error);
                        *ret_error = TAKE_PTR(b.error);
                }
                return r;
        }
        if (r == -ENOMEM)
                return errmsg_set(ret_error, r, "%s: out of memory", source_path);
        if (r < 0)
                return errmsg_set(ret_error, r, "%s, line %u: %s", source_path, line, error);

        r = dict_builder_add(builder, ALIAS_SENTINEL_KEY, ALIAS_SENTINEL_VALUE);
        if (r < 0)
                return errmsg_set(ret_error, r, "%s: cannot store the \"%s\" entry: %s",
                                  db_path, ALIAS_SENTINEL_KEY, strerror(-r));
        r = dict_builder_commit(builder);
        if (r < 0)
                return errmsg_set(ret_error, r, "%s: cannot commit: %s", db_path, strerror(-r));

        r = (int) MIN(b.n_warnings, (size_t) INT_MAX);
        if (ret_warnings)
                *ret_warnings = TAKE_PTR(b.warnings);
        return r;
}
