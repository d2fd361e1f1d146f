/* SPDX-License-Identifier: GPL-3.0-or-later */
/* dict_pattern: the rule files of the "regexp:" (regexp_table(5), POSIX ERE) and "pcre:"
 * (pcre_table(5), PCRE2) table types, which share one syntax and so one parser:
 *
 *     /pattern/flags result       a rule; any delimiter that is not alphanumeric or white space
 *     !/pattern/flags result      matches when the pattern does not ($n is not allowed then)
 *     if /pattern/flags           the rules up to the matching endif are tried only when the
 *     if !/pattern/flags          key matches (does not match); blocks nest
 *     endif
 *
 * plus blank lines, '#' comment lines and continuation lines (starting with white space). Rules
 * are tried in file order on the whole key; the first match wins and its result is returned with
 * $1..$N, ${n}, $(n) replaced by the text of group n (empty when the group did not take part in
 * the match) and $$ by '$'. The table file is administrator input: the parser is pure (a memory
 * buffer in, a table or "FILE, line N: ..." out), every line, rule count, nesting depth and
 * expanded result is bounded, and a bad rule fails the whole table (Postfix warns and skips it;
 * a skipped access rule would be a silent wrong answer). Keys are peer input: each match runs
 * under the engine's work limit (PCRE2 match, depth and heap limits) and a key longer than
 * DICT_PATTERN_KEY_MAX is refused before any pattern sees it.
 *
 * Only dict_regexp.c includes <regex.h> and only dict_pcre.c includes <pcre2.h>; each provides a
 * DictPatternEngine. */
#pragma once

#include <stddef.h>

#include "dict.h"
#include "macro.h"

/* A logical line (after joining continuation lines), as for every table source. */
#define DICT_PATTERN_LINE_MAX DICT_SOURCE_LINE_MAX
/* A table file larger than this is not read (-EFBIG). */
#define DICT_PATTERN_FILE_MAX (64U * 1024U * 1024U)
/* Rules (including if and endif lines) in one table; more is -E2BIG. */
#define DICT_PATTERN_RULES_MAX 100000U
/* if/endif nesting depth, far above any real table; deeper is -EBADMSG. */
#define DICT_PATTERN_NESTING_MAX 100U
/* Highest group number a result may name ($1..$99); higher is "out of range". */
#define DICT_PATTERN_GROUPS_MAX 99U
/* Bytes of an expanded result; a longer expansion fails the lookup with -EMSGSIZE. */
#define DICT_PATTERN_RESULT_MAX (64U * 1024U)
/* Bytes of a lookup key (header_checks see whole header lines, header_size_limit is 102400);
 * a longer key fails the lookup with -EMSGSIZE. */
#define DICT_PATTERN_KEY_MAX (256U * 1024U)

typedef enum DictPatternSyntax {
        DICT_PATTERN_REGEXP,            /* regexp_table(5): flags i (on), x (on), m (off) */
        DICT_PATTERN_PCRE,              /* pcre_table(5): i (on), s (on), m, x, A, E, U, X, u */
        _DICT_PATTERN_SYNTAX_MAX,
        _DICT_PATTERN_SYNTAX_INVALID = -EINVAL,
} DictPatternSyntax;

/* A regular-expression library seen by the parser. Flags are a bit set over flag_letters: bit i
 * is letter flag_letters[i]; each letter after a pattern toggles its bit of flags_default. */
typedef struct DictPatternEngine {
        const char *name;               /* "regexp", "pcre": the table type, for messages */
        const char *flag_letters;       /* at most 16 letters */
        unsigned flags_default;
        /* Compiles a NUL-terminated pattern. Returns 0 with *ret_re (freed by free()) and
         * *ret_n_groups (capture groups in the pattern), -EBADMSG for a bad pattern with a
         * malloc'd *ret_msg saying why (may be left NULL when out of memory), or -ENOMEM. */
        int (*compile)(const char *pattern, unsigned flags, void **ret_re, size_t *ret_n_groups,
                       char **ret_msg);
        /* Matches the whole key (len bytes, NUL-terminated). Returns 1 on a match with spans[]
         * filled: 2 * n_spans offsets, start and end of the whole match and then of groups 1 to
         * n_spans - 1, SIZE_MAX for both when that group took no part; 0 when the pattern does
         * not match (also for a key that is not valid UTF-8 under the 'u' flag); -ERANGE when
         * the match exceeded the engine's work limit; -ENOMEM; -EIO for any other failure of the
         * engine. */
        int (*match)(const void *re, const char *key, size_t len, size_t *spans, size_t n_spans);
        void (*free)(void *re);
} DictPatternEngine;

extern const DictPatternEngine dict_regexp_engine;     /* dict_regexp.c */
extern const DictPatternEngine dict_pcre_engine;       /* dict_pcre.c */

typedef struct DictPatternTable DictPatternTable;

/* Parses a rule file held in memory: text[0..n) (need not be NUL-terminated; a NUL byte inside
 * is an error). filename is used in messages only. Returns 0 with a new table in *ret, or
 * -EBADMSG with *ret_error = "FILENAME, line N: ..." for: a bad pattern (the engine's reason),
 * a missing or unknown delimiter, a missing closing delimiter, an unknown flag, a rule without a
 * result, text after "if /pattern/" or "endif", an unknown keyword, "endif" without "if", "if"
 * without "endif", nesting deeper than DICT_PATTERN_NESTING_MAX, a logical line longer than
 * DICT_PATTERN_LINE_MAX, a NUL byte, a continuation line with no line before it, and in a result
 * a '$' not followed by '$', a number, {number} or (number), a group number beyond the
 * pattern's groups (or DICT_PATTERN_GROUPS_MAX), or any $n in the result of a negated rule.
 * -E2BIG beyond DICT_PATTERN_RULES_MAX rules (message too), -EINVAL for an unknown syntax,
 * -ENOMEM. *ret_error must be NULL or malloc'd on entry (errmsg.h); the caller frees it. */
int dict_pattern_parse(const char *text, size_t n, const char *filename, DictPatternSyntax syntax,
                       DictPatternTable **ret, char **ret_error);
DictPatternTable *dict_pattern_table_free(DictPatternTable *t);
DEFINE_PTR_CLEANUP(DictPatternTable *, dict_pattern_table_free);

/* Number of rules (if and endif lines count as one each). */
size_t dict_pattern_table_size(const DictPatternTable *t);

/* Tries the rules on the whole key, first match wins. Returns 1 with the expanded result in
 * *ret_value (malloc'd, at most DICT_PATTERN_RESULT_MAX bytes), 0 when no rule matches,
 * -EMSGSIZE for a key longer than DICT_PATTERN_KEY_MAX or an expansion longer than
 * DICT_PATTERN_RESULT_MAX, -ERANGE when a match exceeded the engine's work limit (a
 * pathological pattern and key: an error, never a silent "not found"), -EIO when the engine
 * failed otherwise, -ENOMEM. The table is
 * not changed; lookups on one table from several threads are safe. */
int dict_pattern_table_lookup(const DictPatternTable *t, const char *key, char **ret_value);

/* The DictType half shared by regexp: and pcre:. Opens name as a file, or as inline rules
 * "{ { rule }, { rule } }" (Postfix 3.7; each braced rule is one line). Sets DICT_FLAG_PATTERN
 * (and drops DICT_FLAG_FOLD_CASE: case is the table's 'i' flag). Returns 0, -ENOENT (missing),
 * -EACCES, -EISDIR, -EFBIG (larger than DICT_PATTERN_FILE_MAX), each with a message naming the
 * file, or as dict_pattern_parse() (an inline table's messages name "TYPE:{...}"). */
int dict_pattern_open(const DictType *type, DictPatternSyntax syntax, const char *name,
                      DictFlags flags, Dict **ret, char **ret_error);
/* As dict_pattern_table_lookup() on a Dict opened by dict_pattern_open(). */
int dict_pattern_lookup(Dict *d, const char *key, char **ret_value);
void dict_pattern_free(Dict *d);
