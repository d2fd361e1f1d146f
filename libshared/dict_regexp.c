/* SPDX-License-Identifier: GPL-3.0-or-later */
/* dict_regexp: the "regexp:" table type, regexp_table(5): POSIX regular expressions through
 * regcomp(3)/regexec(3). The rule file syntax, the lookup loop and $n substitution live in
 * dict_pattern.c; this module is the engine. Flags after a pattern toggle: i (case-insensitive,
 * on by default), x (extended syntax, REG_EXTENDED, on by default), m (REG_NEWLINE: ^ and $ also
 * match at newlines, off by default). The key is matched as a whole, once. POSIX offers no work
 * limit: keys are bounded by DICT_PATTERN_KEY_MAX. glibc's regcomp() copies the subexpression of
 * every '+' and interval, so stacked repetitions ("a+++", "(a{1,255}){1,255}") take time and
 * memory exponential in the pattern: before compiling, a pattern is sized with repetitions
 * expanded and refused beyond REGEXP_EXPANDED_MAX, and so is a run of more than
 * REGEXP_REPEAT_RUN_MAX repetition operators in a row (undefined in POSIX; "x.*?" from a PCRE
 * habit still compiles, as it does with Postfix). glibc matches back-references ("\\1") by
 * search that grows steeply with the key (a 1000-byte key can take minutes), so a pattern with
 * one is not run on keys longer than REGEXP_BACKREF_KEY_MAX: such a lookup fails with -ERANGE,
 * the work-limit error (use pcre:, which has a real limit, for back-references on long keys). */
#include <ctype.h>
#include <regex.h>

#include "dict_pattern.h"
#include "dict_types.h"

typedef struct RegexpPattern {
        regex_t re;
        bool backref;                   /* has a back-reference: keys are limited */
} RegexpPattern;

enum {
        REGEXP_FLAG_I = 1U << 0,
        REGEXP_FLAG_M = 1U << 1,
        REGEXP_FLAG_X = 1U << 2,
};

/* A pattern's size with repetitions expanded as glibc does, in atoms. a{1,2000} compiles in about
 * 20 ms; real tables stay far below ("[0-9]{1,3}", "{60,}"). */
#define REGEXP_EXPANDED_MAX 2000U
/* Repetition operators in a row ("a*?" is 2); 2000 stars take glibc seconds. */
#define REGEXP_REPEAT_RUN_MAX 4U
/* Longest key a pattern with back-references is run on (100 bytes take about 0.1 s). */
#define REGEXP_BACKREF_KEY_MAX 128U
/* Parenthesis nesting the size check follows. */
#define REGEXP_NESTING_MAX 256U

typedef struct RegexpLevel {
        size_t total;                   /* expanded size of this group so far */
        size_t last;                    /* size of the last atom, 0 when there is none */
        unsigned run;                   /* repetition operators in a row just before */
} RegexpLevel;

static size_t sat_mul(size_t a, size_t b) {
        size_t r;

        if (__builtin_mul_overflow(a, b, &r) || r > REGEXP_EXPANDED_MAX)
                return REGEXP_EXPANDED_MAX + 1;
        return r;
}

static void level_atom(RegexpLevel *l, size_t w) {
        l->total = MIN(l->total + w, (size_t) REGEXP_EXPANDED_MAX + 1);
        l->last = w;
        l->run = 0;
}

/* Applies a repetition that makes `factor` copies of the last atom. Returns false for a run of
 * more than REGEXP_REPEAT_RUN_MAX repetition operators. */
static bool level_repeat(RegexpLevel *l, size_t factor) {
        size_t w;

        if (l->last == 0)
                return true;            /* nothing to repeat: regcomp() decides */
        if (++l->run > REGEXP_REPEAT_RUN_MAX)
                return false;
        w = sat_mul(l->last, factor);
        l->total = MIN(l->total - l->last + w, (size_t) REGEXP_EXPANDED_MAX + 1);
        l->last = w;
        return true;
}

/* Parses "n}", "n,}", "n,m}" and ",m}" (glibc takes "{,m}" as "{0,m}"; closing "\\}" in basic
 * syntax) at p. Returns the number of bytes or 0 when this is not an interval, with the largest
 * count in *ret_max. */
static size_t parse_interval(const char *p, bool extended, size_t *ret_max) {
        const char *q = p;
        size_t n = 0, m = 0;
        bool comma = false, have_m = false;

        if (!isdigit((unsigned char) *q) && *q != ',')
                return 0;
        for (; isdigit((unsigned char) *q); q++)
                n = MIN(n * 10 + (size_t) (*q - '0'), (size_t) REGEXP_EXPANDED_MAX + 1);
        if (*q == ',') {
                comma = true;
                q++;
                for (; isdigit((unsigned char) *q); q++) {
                        have_m = true;
                        m = MIN(m * 10 + (size_t) (*q - '0'), (size_t) REGEXP_EXPANDED_MAX + 1);
                }
        }
        if (extended ? *q != '}' : (q[0] != '\\' || q[1] != '}'))
                return 0;
        *ret_max = have_m ? MAX(n, m) : comma ? n + 1 : n;
        return (size_t) (q - p) + (extended ? 1 : 2);
}

/* Skips a bracket expression starting at p ('['). Returns the byte after its ']', or NULL when
 * it does not end (regcomp() reports that). */
static const char *skip_bracket(const char *p) {
        p++;
        if (*p == '^')
                p++;
        if (*p == ']')
                p++;
        while (*p && *p != ']') {
                if (p[0] == '[' && (p[1] == ':' || p[1] == '=' || p[1] == '.')) {
                        char close = p[1];

                        p += 2;
                        while (*p && !(p[0] == close && p[1] == ']'))
                                p++;
                        if (!*p)
                                return NULL;
                        p += 2;
                        continue;
                }
                p++;
        }
        return *p ? p + 1 : NULL;
}

/* Refuses patterns that glibc would expand beyond REGEXP_EXPANDED_MAX atoms, or with more than
 * REGEXP_REPEAT_RUN_MAX repetition operators in a row. Returns NULL when the pattern may be
 * compiled, else the reason; *ret_backref tells whether it has a back-reference. Patterns
 * malformed otherwise are left to regcomp(). */
static const char *regexp_pattern_check(const char *p, bool extended, bool *ret_backref) {
        RegexpLevel levels[REGEXP_NESTING_MAX + 1] = {};
        size_t depth = 0, k, factor;
        static const char *const too_large = "too large with its repetitions expanded (more than "
                                             "2000 atoms)";
        static const char *const in_a_row = "more than 4 repetition operators in a row";

        while (*p) {
                RegexpLevel *l = &levels[depth];
                bool open = false, close = false, alt = false, rep = false;
                size_t w = 1;

                if (*p == '[') {
                        p = skip_bracket(p);
                        if (!p)
                                return NULL;
                        level_atom(l, 1);
                        goto check;
                }
                if (*p == '\\') {
                        char c = p[1];

                        if (c == '\0')
                                return NULL;
                        if (c >= '1' && c <= '9')
                                *ret_backref = true;
                        p += 2;
                        if (!extended) {
                                open = c == '(';
                                close = c == ')';
                                alt = c == '|';
                                rep = c == '+' || c == '?';
                                if (c == '{') {
                                        k = parse_interval(p, false, &factor);
                                        if (k == 0)
                                                return NULL;
                                        p += k;
                                        if (!level_repeat(l, factor))
                                                return in_a_row;
                                        goto check;
                                }
                        }
                        factor = c == '+' ? 2 : 1;
                } else {
                        char c = *p++;

                        factor = c == '+' ? 2 : 1;
                        if (c == '*')
                                rep = true;
                        else if (extended) {
                                open = c == '(';
                                close = c == ')' && depth > 0;
                                alt = c == '|';
                                rep = c == '+' || c == '?';
                                if (c == '{') {
                                        k = parse_interval(p, true, &factor);
                                        if (k > 0) {
                                                p += k;
                                                if (!level_repeat(l, factor))
                                                        return in_a_row;
                                                goto check;
                                        }
                                }
                        }
                        if (c == '^' || c == '$') {
                                l->last = 0;
                                l->run = 0;
                                continue;
                        }
                }

                if (open) {
                        if (depth >= REGEXP_NESTING_MAX)
                                return "parentheses nested too deeply";
                        levels[++depth] = (RegexpLevel) {};
                        continue;
                }
                if (close) {
                        if (depth == 0)
                                return NULL;
                        w = MAX(levels[depth].total, (size_t) 1);
                        depth--;
                        level_atom(&levels[depth], w);
                } else if (alt) {
                        l->last = 0;
                        l->run = 0;
                } else if (rep) {
                        if (!level_repeat(l, factor))
                                return in_a_row;
                } else
                        level_atom(l, w);
        check:
                if (levels[depth].total > REGEXP_EXPANDED_MAX)
                        return too_large;
        }
        return NULL;
}

static void regexp_engine_free(void *re) {
        RegexpPattern *p = re;

        if (!p)
                return;
        regfree(&p->re);
        free(p);
}

static int regexp_engine_compile(const char *pattern, unsigned flags, void **ret_re,
                                 size_t *ret_n_groups, char **ret_msg) {
        const char *reason;
        RegexpPattern *re;
        bool backref = false;
        int cflags = 0, r;

        assert(pattern);
        assert(ret_re);
        assert(ret_n_groups);

        if (flags & REGEXP_FLAG_I)
                cflags |= REG_ICASE;
        if (flags & REGEXP_FLAG_M)
                cflags |= REG_NEWLINE;
        if (flags & REGEXP_FLAG_X)
                cflags |= REG_EXTENDED;

        reason = regexp_pattern_check(pattern, flags & REGEXP_FLAG_X, &backref);
        if (reason) {
                if (ret_msg) {
                        free(*ret_msg);
                        *ret_msg = strdup(reason);
                }
                return -EBADMSG;
        }

        re = calloc(1, sizeof(*re));
        if (!re)
                return -ENOMEM;
        re->backref = backref;
        r = regcomp(&re->re, pattern, cflags);
        if (r != 0) {
                char msg[256];

                free(re);
                if (r == REG_ESPACE)
                        return -ENOMEM;
                if (ret_msg) {
                        (void) regerror(r, /* preg= */ NULL, msg, sizeof(msg));
                        free(*ret_msg);
                        *ret_msg = strdup(msg);
                }
                return -EBADMSG;
        }
        *ret_n_groups = re->re.re_nsub;
        *ret_re = re;
        return 0;
}

static int regexp_engine_match(const void *re, const char *key, size_t len, size_t *spans,
                               size_t n_spans) {
        const RegexpPattern *p = re;
        regmatch_t m[DICT_PATTERN_GROUPS_MAX + 1];
        int r;

        assert(p);
        assert(key);
        assert(n_spans >= 1 && n_spans <= ELEMENTSOF(m));

        if (p->backref && len > REGEXP_BACKREF_KEY_MAX)
                return -ERANGE;

        /* REG_STARTEND bounds the subject by len rather than by a NUL. */
        m[0].rm_so = 0;
        m[0].rm_eo = (regoff_t) len;
        r = regexec(&p->re, key, n_spans, m, REG_STARTEND);
        if (r == REG_NOMATCH)
                return 0;
        if (r == REG_ESPACE)
                return -ENOMEM;
        if (r != 0)
                return -EIO;

        for (size_t i = 0; i < n_spans; i++) {
                if (m[i].rm_so < 0 || m[i].rm_eo < m[i].rm_so || (size_t) m[i].rm_eo > len) {
                        spans[2 * i] = spans[2 * i + 1] = SIZE_MAX;
                        continue;
                }
                spans[2 * i] = (size_t) m[i].rm_so;
                spans[2 * i + 1] = (size_t) m[i].rm_eo;
        }
        return 1;
}

const DictPatternEngine dict_regexp_engine = {
        .name = "regexp",
        .flag_letters = "imx",
        .flags_default = REGEXP_FLAG_I | REGEXP_FLAG_X,
        .compile = regexp_engine_compile,
        .match = regexp_engine_match,
        .free = regexp_engine_free,
};

static int regexp_open(const char *name, DictFlags flags, Dict **ret, char **ret_error) {
        return dict_pattern_open(&dict_regexp_type, DICT_PATTERN_REGEXP, name, flags, ret,
                                 ret_error);
}

const DictType dict_regexp_type = {
        .name = "regexp",
        .open = regexp_open,
        .lookup = dict_pattern_lookup,
        .free = dict_pattern_free,
};
