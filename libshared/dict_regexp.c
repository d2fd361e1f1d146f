/* SPDX-License-Identifier: GPL-3.0-or-later */
/* dict_regexp: the "regexp:" table type, regexp_table(5): POSIX regular expressions through
 * regcomp(3)/regexec(3). The rule file syntax, the lookup loop and $n substitution live in
 * dict_pattern.c; this module is the engine. Flags after a pattern toggle: i (case-insensitive,
 * on by default), x (extended syntax, REG_EXTENDED, on by default), m (REG_NEWLINE: ^ and $ also
 * match at newlines, off by default). The key is matched as a whole, once. POSIX offers no work
 * limit: keys are bounded by DICT_PATTERN_KEY_MAX, and patterns are the administrator's. */
#include <regex.h>

#include "dict_pattern.h"
#include "dict_types.h"

enum {
        REGEXP_FLAG_I = 1U << 0,
        REGEXP_FLAG_M = 1U << 1,
        REGEXP_FLAG_X = 1U << 2,
};

static void regexp_engine_free(void *re) {
        if (!re)
                return;
        regfree(re);
        free(re);
}

static int regexp_engine_compile(const char *pattern, unsigned flags, void **ret_re,
                                 size_t *ret_n_groups, char **ret_msg) {
        regex_t *re;
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

        re = calloc(1, sizeof(*re));
        if (!re)
                return -ENOMEM;
        r = regcomp(re, pattern, cflags);
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
        *ret_n_groups = re->re_nsub;
        *ret_re = re;
        return 0;
}

static int regexp_engine_match(const void *re, const char *key, size_t len, size_t *spans,
                               size_t n_spans) {
        regmatch_t m[DICT_PATTERN_GROUPS_MAX + 1];
        int r;

        assert(re);
        assert(key);
        assert(n_spans >= 1 && n_spans <= ELEMENTSOF(m));

        /* REG_STARTEND bounds the subject by len rather than by a NUL. */
        m[0].rm_so = 0;
        m[0].rm_eo = (regoff_t) len;
        r = regexec(re, key, n_spans, m, REG_STARTEND);
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
