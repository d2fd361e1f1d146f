/* SPDX-License-Identifier: GPL-3.0-or-later */
/* dict_pattern: the rule-file parser, the lookup loop and the $n substitution shared by the
 * regexp: and pcre: table types (regexp_table(5), pcre_table(5)); see dict_pattern.h. The rule
 * file is administrator input and is parsed here with every size bounded; the regular
 * expressions themselves are compiled and run by the engine of each type (dict_regexp.c,
 * dict_pcre.c). Keys are peer input: they reach only the engine's match function, under its work
 * limit, and are copied into results only as the spans the engine reported. */
#include <ctype.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "buf.h"
#include "dict_pattern.h"
#include "dict_types.h"
#include "errmsg.h"

/* How much of a rule's text a message quotes. */
#define QUOTE_MAX 64

typedef enum RuleOp {
        RULE_MATCH,                     /* /pattern/flags result */
        RULE_IF,                        /* if /pattern/: skip to its endif unless it matches */
        RULE_ENDIF,
} RuleOp;

typedef struct Rule {
        RuleOp op;
        bool negate;
        void *re;                       /* the engine's compiled pattern (not for RULE_ENDIF) */
        size_t n_spans;                 /* 1 + the highest group the result names */
        char *result;                   /* RULE_MATCH only */
        size_t endif;                   /* RULE_IF only: index of its endif */
} Rule;

struct DictPatternTable {
        const DictPatternEngine *engine;
        Rule *rules;
        size_t n_rules;
        size_t n_alloc;
};

typedef struct DictPattern {
        Dict head;
        DictPatternTable *table;
} DictPattern;

/* The parser's state while it reads one text. */
typedef struct Parser {
        DictPatternTable *table;
        const char *filename;
        unsigned lineno;
        size_t open_ifs[DICT_PATTERN_NESTING_MAX];       /* rule index of each open if */
        unsigned open_if_lines[DICT_PATTERN_NESTING_MAX];  /* and its line */
        size_t n_open_ifs;
        char **ret_error;
} Parser;

static const DictPatternEngine *engine_from_syntax(DictPatternSyntax syntax) {
        switch (syntax) {
        case DICT_PATTERN_REGEXP:
                return &dict_regexp_engine;
        case DICT_PATTERN_PCRE:
                return &dict_pcre_engine;
        default:
                return NULL;
        }
}

DictPatternTable *dict_pattern_table_free(DictPatternTable *t) {
        if (!t)
                return NULL;
        for (size_t i = 0; i < t->n_rules; i++) {
                if (t->rules[i].re)
                        t->engine->free(t->rules[i].re);
                free(t->rules[i].result);
        }
        free(t->rules);
        free(t);
        return NULL;
}

size_t dict_pattern_table_size(const DictPatternTable *t) {
        assert(t);
        return t->n_rules;
}

static bool is_space(char c) {
        return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v' || c == '\n';
}

static bool is_name_char(char c) {
        return isalnum((unsigned char) c) || c == '_';
}

/* Walks a result text. With out == NULL it only checks: every '$' must start "$$", "$n",
 * "${n}" or "$(n)" with n in 1..limit; returns 0 and *ret_max (highest n named, 0 for none), or
 * -EBADMSG for bad '$' syntax and -ERANGE for a group number out of range, with the offset of
 * the '$' in *ret_pos (and the group number, saturated, in *ret_group for -ERANGE). With out it
 * appends the expansion, taking group n from key at spans[2n], spans[2n + 1] (nothing when
 * SIZE_MAX): -EMSGSIZE when out would exceed its limit. Both uses share this one scanner so that
 * what the check accepts is exactly what the expansion understands. */
static int result_walk(const char *s, size_t limit, const char *key, const size_t *spans,
                       Buf *out, size_t *ret_max, size_t *ret_pos, size_t *ret_group) {
        size_t max = 0;
        const char *p = s;

        for (;;) {
                const char *dollar, *q, *num, *num_end;
                size_t group = 0;

                dollar = strchr(p, '$');
                if (out && buf_append(out, p, dollar ? (size_t) (dollar - p) : strlen(p)) < 0)
                        return -EMSGSIZE;
                if (!dollar)
                        break;

                q = dollar + 1;
                if (*q == '$') {
                        if (out && buf_append_char(out, '$') < 0)
                                return -EMSGSIZE;
                        p = q + 1;
                        continue;
                }
                if (*q == '{' || *q == '(') {
                        char close = *q == '{' ? '}' : ')';

                        num = q + 1;
                        num_end = num;
                        while (isdigit((unsigned char) *num_end))
                                num_end++;
                        if (num_end == num || *num_end != close)
                                goto bad_syntax;
                        p = num_end + 1;
                } else if (is_name_char(*q)) {
                        /* "$1x" is the name "1x", as Postfix reads it: not a number. */
                        num = q;
                        num_end = num;
                        while (is_name_char(*num_end))
                                num_end++;
                        for (const char *c = num; c < num_end; c++)
                                if (!isdigit((unsigned char) *c))
                                        goto bad_syntax;
                        p = num_end;
                } else
                        goto bad_syntax;

                for (const char *c = num; c < num_end; c++) {
                        group = group * 10 + (size_t) (*c - '0');
                        if (group > DICT_PATTERN_GROUPS_MAX) {
                                group = DICT_PATTERN_GROUPS_MAX + 1;
                                break;
                        }
                }

                if (!out) {
                        if (group == 0 || group > limit) {
                                if (ret_pos)
                                        *ret_pos = (size_t) (dollar - s);
                                if (ret_group)
                                        *ret_group = group;
                                return -ERANGE;
                        }
                        max = MAX(max, group);
                        continue;
                }

                assert(spans);
                if (spans[2 * group] != SIZE_MAX &&
                    buf_append(out, key + spans[2 * group],
                               spans[2 * group + 1] - spans[2 * group]) < 0)
                        return -EMSGSIZE;
                continue;

        bad_syntax:
                if (ret_pos)
                        *ret_pos = (size_t) (dollar - s);
                return -EBADMSG;
        }

        if (ret_max)
                *ret_max = max;
        return 0;
}

static int parser_error(Parser *p, int error, const char *fmt, ...) _printf_(3, 4);
static int parser_error(Parser *p, int error, const char *fmt, ...) {
        _cleanup_free_ char *msg = NULL;
        va_list ap;
        int r;

        if (!p->ret_error)
                return error;
        va_start(ap, fmt);
        r = vasprintf(&msg, fmt, ap);
        va_end(ap);
        if (r < 0)
                return error;
        return errmsg_set(p->ret_error, error, "%s, line %u: %s", p->filename, p->lineno, msg);
}

static int parser_add(Parser *p, Rule *rule) {
        DictPatternTable *t = p->table;

        if (t->n_rules >= DICT_PATTERN_RULES_MAX)
                return parser_error(p, -E2BIG, "more than %u rules in one table",
                                    DICT_PATTERN_RULES_MAX);
        if (t->n_rules == t->n_alloc) {
                size_t n = t->n_alloc ? t->n_alloc * 2 : 16;
                Rule *a;

                n = MIN(n, (size_t) DICT_PATTERN_RULES_MAX);
                a = reallocarray(t->rules, n, sizeof(Rule));
                if (!a)
                        return -ENOMEM;
                t->rules = a;
                t->n_alloc = n;
        }
        t->rules[t->n_rules++] = *rule;
        *rule = (Rule) {};
        return 0;
}

/* Parses "[!]<d>pattern<d>flags" at *pp, compiles it into rule (negate, re) and leaves *pp at
 * the first byte after the flags. Returns 0, -EBADMSG (message set), -ENOMEM. */
static int parse_pattern(Parser *p, char **pp, Rule *rule, size_t *ret_n_groups) {
        const DictPatternEngine *engine = p->table->engine;
        _cleanup_free_ char *pattern = NULL, *msg = NULL;
        char *s = *pp, *q, delim;
        unsigned flags = engine->flags_default;
        int r;

        if (*s == '!') {
                rule->negate = true;
                s++;
                while (is_space(*s))
                        s++;
        }
        delim = *s;
        if (delim == '\0')
                return parser_error(p, -EBADMSG, "missing pattern");
        if (isalnum((unsigned char) delim) || is_space(delim) || delim == '\\')
                return parser_error(p, -EBADMSG,
                                    "bad pattern delimiter '%c' (expected /pattern/ or another "
                                    "delimiter that is not a letter, digit, backslash or space)",
                                    delim);

        /* A backslash escapes the next byte, the delimiter too; it stays in the pattern, where
         * "\<d>" means the character d itself for every delimiter allowed above. */
        for (q = s + 1; *q && *q != delim; q++)
                if (*q == '\\' && q[1] != '\0')
                        q++;
        if (*q == '\0')
                return parser_error(p, -EBADMSG, "missing closing delimiter '%c' in %.*s", delim,
                                    QUOTE_MAX, s);

        pattern = strndup(s + 1, (size_t) (q - s - 1));
        if (!pattern)
                return -ENOMEM;

        for (q++; *q && !is_space(*q); q++) {
                const char *f = strchr(engine->flag_letters, *q);

                if (!f)
                        return parser_error(p, -EBADMSG, "unknown flag '%c' after %c%.*s%c "
                                            "(%s flags are %s)", *q, delim, QUOTE_MAX, pattern,
                                            delim, engine->name, engine->flag_letters);
                flags ^= 1U << (f - engine->flag_letters);
        }

        r = engine->compile(pattern, flags, &rule->re, ret_n_groups, &msg);
        if (r == -EBADMSG)
                return parser_error(p, r, "bad regular expression %c%.*s%c: %s", delim,
                                    QUOTE_MAX, pattern, delim, strempty(msg));
        if (r < 0)
                return r;

        *pp = q;
        return 0;
}

static int parse_rule(Parser *p, char *line) {
        Rule rule = {};
        size_t n_groups = 0, max = 0, pos = 0, group = 0;
        char *s = line;
        int r;

        if (isalnum((unsigned char) *s)) {
                size_t n = 0;

                while (isalnum((unsigned char) s[n]))
                        n++;
                if (n == 2 && strncasecmp(s, "if", 2) == 0) {
                        s += n;
                        while (is_space(*s))
                                s++;
                        if (p->n_open_ifs >= DICT_PATTERN_NESTING_MAX)
                                return parser_error(p, -EBADMSG, "\"if\" nested deeper than %u",
                                                    DICT_PATTERN_NESTING_MAX);
                        rule.op = RULE_IF;
                        r = parse_pattern(p, &s, &rule, &n_groups);
                        if (r >= 0 && *s != '\0') {
                                while (is_space(*s))
                                        s++;
                                r = parser_error(p, -EBADMSG, "text after \"if\" pattern: %.*s",
                                                 QUOTE_MAX, s);
                        }
                        if (r >= 0) {
                                p->open_if_lines[p->n_open_ifs] = p->lineno;
                                p->open_ifs[p->n_open_ifs++] = p->table->n_rules;
                                rule.n_spans = 1;
                                r = parser_add(p, &rule);
                                if (r < 0)
                                        p->n_open_ifs--;
                        }
                        if (rule.re)
                                p->table->engine->free(rule.re);
                        return r;
                }
                if (n == 5 && strncasecmp(s, "endif", 5) == 0) {
                        s += n;
                        while (is_space(*s))
                                s++;
                        if (*s != '\0')
                                return parser_error(p, -EBADMSG, "text after \"endif\": %.*s",
                                                    QUOTE_MAX, s);
                        if (p->n_open_ifs == 0)
                                return parser_error(p, -EBADMSG, "\"endif\" without \"if\"");
                        rule.op = RULE_ENDIF;
                        r = parser_add(p, &rule);
                        if (r < 0)
                                return r;
                        p->n_open_ifs--;
                        p->table->rules[p->open_ifs[p->n_open_ifs]].endif = p->table->n_rules - 1;
                        return 0;
                }
                return parser_error(p, -EBADMSG,
                                    "unknown keyword \"%.*s\" (expected /pattern/, if or endif)",
                                    (int) MIN(n, (size_t) QUOTE_MAX), s);
        }

        rule.op = RULE_MATCH;
        r = parse_pattern(p, &s, &rule, &n_groups);
        if (r < 0)
                goto fail;
        while (is_space(*s))
                s++;
        if (*s == '\0') {
                r = parser_error(p, -EBADMSG, "missing result after the pattern");
                goto fail;
        }

        r = result_walk(s, MIN(n_groups, (size_t) DICT_PATTERN_GROUPS_MAX), /* key= */ NULL,
                        /* spans= */ NULL, /* out= */ NULL, &max, &pos, &group);
        if (r == -EBADMSG) {
                r = parser_error(p, r, "bad '$' in result \"%.*s\": expected $$, $number, "
                                 "${number} or $(number) at \"%.*s\"", QUOTE_MAX, s, 16, s + pos);
                goto fail;
        }
        if (r == -ERANGE) {
                if (group > DICT_PATTERN_GROUPS_MAX)
                        r = parser_error(p, -EBADMSG, "result \"%.*s\": group number at \"%.*s\" "
                                         "out of range (more than %u)", QUOTE_MAX, s, 16,
                                         s + pos, DICT_PATTERN_GROUPS_MAX);
                else
                        r = parser_error(p, -EBADMSG, "result \"%.*s\": $%zu out of range (the "
                                         "pattern has %zu group%s)", QUOTE_MAX, s, group,
                                         n_groups, n_groups == 1 ? "" : "s");
                goto fail;
        }
        if (r < 0)
                goto fail;
        if (rule.negate && max > 0) {
                r = parser_error(p, -EBADMSG, "result \"%.*s\": $%zu in the result of a negated "
                                 "pattern (it matches when the pattern does not, so there are no "
                                 "groups)", QUOTE_MAX, s, max);
                goto fail;
        }

        rule.result = strdup(s);
        if (!rule.result) {
                r = -ENOMEM;
                goto fail;
        }
        rule.n_spans = 1 + max;
        r = parser_add(p, &rule);
        if (r >= 0)
                return 0;

fail:
        if (rule.re)
                p->table->engine->free(rule.re);
        free(rule.result);
        return r;
}

int dict_pattern_parse(const char *text, size_t n, const char *filename, DictPatternSyntax syntax,
                       DictPatternTable **ret, char **ret_error) {
        _cleanup_(dict_pattern_table_freep) DictPatternTable *t = NULL;
        _cleanup_(buf_done) Buf logical = BUF_INIT(DICT_PATTERN_LINE_MAX);
        const DictPatternEngine *engine;
        unsigned lineno = 0, first = 0;
        Parser p = {};
        size_t off = 0;
        int r;

        assert(text || n == 0);
        assert(filename);
        assert(ret);

        engine = engine_from_syntax(syntax);
        if (!engine)
                return -EINVAL;

        t = calloc(1, sizeof(*t));
        if (!t)
                return -ENOMEM;
        t->engine = engine;
        p = (Parser) { .table = t, .filename = filename, .ret_error = ret_error };

        /* One more turn than there are lines: the last turn (off == n) flushes the pending
         * logical line. */
        for (;;) {
                const char *line, *nl, *end, *s;
                bool eof = off >= n;

                if (!eof) {
                        line = text + off;
                        nl = memchr(line, '\n', n - off);
                        end = nl ? nl : text + n;
                        off = nl ? (size_t) (nl - text) + 1 : n;
                        lineno++;
                        p.lineno = lineno;

                        if (memchr(line, '\0', (size_t) (end - line)))
                                return parser_error(&p, -EBADMSG, "NUL byte in line");
                        if ((size_t) (end - line) > DICT_PATTERN_LINE_MAX)
                                return parser_error(&p, -EBADMSG, "line longer than %u bytes",
                                                    DICT_PATTERN_LINE_MAX);
                        while (end > line && is_space(end[-1]))
                                end--;
                        for (s = line; s < end && is_space(*s); s++)
                                ;
                        if (s == end || *s == '#')
                                continue;
                        if (s != line) {
                                /* A continuation line, joined as it is. */
                                if (first == 0)
                                        return parser_error(&p, -EBADMSG,
                                                            "continuation line (starting with "
                                                            "white space) without a line before "
                                                            "it");
                                if (buf_append(&logical, line, (size_t) (end - line)) < 0)
                                        return parser_error(&p, -EBADMSG, "logical line longer "
                                                            "than %u bytes",
                                                            DICT_PATTERN_LINE_MAX);
                                continue;
                        }
                }

                if (first > 0) {
                        p.lineno = first;
                        r = parse_rule(&p, logical.data);
                        if (r < 0)
                                return r;
                        p.lineno = lineno;
                }
                if (eof)
                        break;

                buf_clear(&logical);
                r = buf_append(&logical, line, (size_t) (end - line));
                if (r < 0)
                        return r;
                first = lineno;
        }

        if (p.n_open_ifs > 0) {
                p.lineno = p.open_if_lines[p.n_open_ifs - 1];
                return parser_error(&p, -EBADMSG, "\"if\" without \"endif\"");
        }

        *ret = TAKE_PTR(t);
        return 0;
}

static int rule_match(const DictPatternTable *t, const Rule *rule, const char *key, size_t len,
                      size_t *spans) {
        for (size_t i = 0; i < 2 * rule->n_spans; i++)
                spans[i] = SIZE_MAX;
        return t->engine->match(rule->re, key, len, spans, rule->n_spans);
}

int dict_pattern_table_lookup(const DictPatternTable *t, const char *key, char **ret_value) {
        size_t spans[2 * (DICT_PATTERN_GROUPS_MAX + 1)];
        size_t len;
        int r;

        assert(t);
        assert(key);
        assert(ret_value);

        len = strlen(key);
        if (len > DICT_PATTERN_KEY_MAX)
                return -EMSGSIZE;

        for (size_t i = 0; i < t->n_rules; i++) {
                const Rule *rule = &t->rules[i];
                _cleanup_(buf_done) Buf out = BUF_INIT(DICT_PATTERN_RESULT_MAX);
                char *value;

                if (rule->op == RULE_ENDIF)
                        continue;

                r = rule_match(t, rule, key, len, spans);
                if (r < 0)
                        return r;
                if ((r > 0) == rule->negate) {
                        /* No match: a failed "if" skips its block. */
                        if (rule->op == RULE_IF)
                                i = rule->endif;
                        continue;
                }
                if (rule->op == RULE_IF)
                        continue;

                /* The engine reports spans inside the key; negated rules name no groups. */
                r = result_walk(rule->result, rule->n_spans - 1, key, spans, &out,
                                /* ret_max= */ NULL, /* ret_pos= */ NULL, /* ret_group= */ NULL);
                if (r < 0)
                        return r;
                value = buf_steal(&out);
                if (!value)
                        return -ENOMEM;
                *ret_value = value;
                return 1;
        }
        return 0;
}

/* "{ { rule }, { rule } }" becomes one rule per line. Returns the text (malloc'd) or -EBADMSG
 * with a reason in *ret_reason. */
static int inline_text(const char *name, char **ret, size_t *ret_len, const char **ret_reason) {
        _cleanup_free_ char *text = NULL;
        const char *p, *end;
        size_t n = 0;

        assert(name[0] == '{');

        end = name + strlen(name);
        while (end > name && is_space(end[-1]))
                end--;
        if (end - name < 2 || end[-1] != '}') {
                *ret_reason = "missing closing '}'";
                return -EBADMSG;
        }
        end--;

        text = malloc((size_t) (end - name) + 1);
        if (!text)
                return -ENOMEM;
        for (p = name + 1; p < end;) {
                const char *s, *e;
                unsigned depth = 0;

                while (p < end && (*p == ',' || is_space(*p)))
                        p++;
                if (p >= end)
                        break;
                if (*p != '{') {
                        *ret_reason = "each rule must be enclosed in { }";
                        return -EBADMSG;
                }
                for (e = p; e < end; e++)
                        if (*e == '{')
                                depth++;
                        else if (*e == '}' && --depth == 0)
                                break;
                if (e >= end) {
                        *ret_reason = "unbalanced braces";
                        return -EBADMSG;
                }
                s = p + 1;
                p = e + 1;
                while (s < e && is_space(*s))
                        s++;
                while (e > s && is_space(e[-1]))
                        e--;
                if (memchr(s, '\n', (size_t) (e - s))) {
                        *ret_reason = "newline inside a rule";
                        return -EBADMSG;
                }
                memcpy(text + n, s, (size_t) (e - s));
                n += (size_t) (e - s);
                text[n++] = '\n';
        }
        *ret_len = n;
        *ret = TAKE_PTR(text);
        return 0;
}

/* Reads a whole table file, at most DICT_PATTERN_FILE_MAX bytes. */
static int read_file(const char *path, char **ret, size_t *ret_len, char **ret_error) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *data = NULL;
        size_t n = 0, cap = 0;
        struct stat st;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return errmsg_set(ret_error, -errno, "cannot open %s: %s", path, strerror(errno));
        if (fstat(fd, &st) < 0)
                return errmsg_set(ret_error, -errno, "cannot stat %s: %s", path, strerror(errno));
        if (S_ISDIR(st.st_mode))
                return errmsg_set(ret_error, -EISDIR, "cannot read %s: is a directory", path);
        if (S_ISREG(st.st_mode) && (uint64_t) st.st_size > DICT_PATTERN_FILE_MAX)
                return errmsg_set(ret_error, -EFBIG, "%s: larger than %u bytes", path,
                                  DICT_PATTERN_FILE_MAX);

        for (;;) {
                ssize_t k;

                if (cap - n < 4096) {
                        size_t c = cap ? cap * 2 : 16384;
                        char *a;

                        if (cap > DICT_PATTERN_FILE_MAX)
                                return errmsg_set(ret_error, -EFBIG, "%s: larger than %u bytes",
                                                  path, DICT_PATTERN_FILE_MAX);
                        a = realloc(data, c);
                        if (!a)
                                return -ENOMEM;
                        data = a;
                        cap = c;
                }
                k = read(fd, data + n, cap - n);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return errmsg_set(ret_error, -errno, "cannot read %s: %s", path,
                                          strerror(errno));
                if (k == 0)
                        break;
                n += (size_t) k;
                if (n > DICT_PATTERN_FILE_MAX)
                        return errmsg_set(ret_error, -EFBIG, "%s: larger than %u bytes", path,
                                          DICT_PATTERN_FILE_MAX);
        }
        *ret_len = n;
        *ret = TAKE_PTR(data);
        return 0;
}

int dict_pattern_open(const DictType *type, DictPatternSyntax syntax, const char *name,
                      DictFlags flags, Dict **ret, char **ret_error) {
        _cleanup_(dict_freep) Dict *d = NULL;
        _cleanup_free_ char *text = NULL;
        const char *source;
        DictPattern *dp;
        size_t n = 0;
        int r;

        assert(type);
        assert(name);
        assert(ret);

        if (!engine_from_syntax(syntax))
                return -EINVAL;

        dp = calloc(1, sizeof(*dp));
        if (!dp)
                return -ENOMEM;
        dp->head.type = type;
        d = &dp->head;

        r = dict_head_init(d, type, name, (flags | DICT_FLAG_PATTERN) & ~DICT_FLAG_FOLD_CASE);
        if (r < 0)
                return r;

        if (name[0] == '{') {
                const char *reason = NULL;

                r = inline_text(name, &text, &n, &reason);
                if (r == -EBADMSG)
                        return errmsg_set(ret_error, r, "%.*s: %s", QUOTE_MAX + 8, d->spec,
                                          reason);
                if (r < 0)
                        return r;
                source = d->spec;
        } else {
                r = read_file(name, &text, &n, ret_error);
                if (r < 0)
                        return r;
                source = name;
        }

        r = dict_pattern_parse(text, n, source, syntax, &dp->table, ret_error);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(d);
        return 0;
}

int dict_pattern_lookup(Dict *d, const char *key, char **ret_value) {
        DictPattern *dp = (DictPattern *) d;

        assert(dp);
        assert(dp->table);
        return dict_pattern_table_lookup(dp->table, key, ret_value);
}

void dict_pattern_free(Dict *d) {
        DictPattern *dp = (DictPattern *) d;

        if (!dp)
                return;
        dp->table = dict_pattern_table_free(dp->table);
        dict_head_done(&dp->head);
        free(dp);
}
