/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Unit tests of the regexp: table type and of the rule-file parser it shares with pcre:
 * (dict_pattern.c): table cases of flags, negation, if/endif nesting, $n substitution and
 * first-match-wins; every syntax error with its line number; the limits (line, nesting, rule
 * count, key and expanded result length); every prefix of a table parsed without harm; and the
 * DictType through dict_open() on files and inline tables. */
#include <fcntl.h>
#include <sys/stat.h>

#include "buf.h"
#include "check_main.h"
#include "dict.h"
#include "dict_pattern.h"

typedef struct LookupCase {
        const char *table;
        const char *key;
        int expected;                   /* 1 found, 0 not found, < 0 the lookup's error */
        const char *value;              /* when found */
} LookupCase;

static const LookupCase lookup_cases[] = {
        /* plain rules */
        { "/^a/ A\n", "abc", 1, "A" },
        { "/^a/ A\n", "xbc", 0, NULL },
        { "/^a/ A", "abc", 1, "A" },                                    /* no final newline */
        { "", "abc", 0, NULL },
        { "/^$/ empty\n", "", 1, "empty" },
        { "/a/ REJECT  spaced\ttext  \n", "a", 1, "REJECT  spaced\ttext" },
        /* flags: i toggles case sensitivity (insensitive by default) */
        { "/^abc$/ ok\n", "ABC", 1, "ok" },
        { "/^ABC$/ ok\n", "abc", 1, "ok" },
        { "/^abc$/i ok\n", "ABC", 0, NULL },
        { "/^abc$/i ok\n", "abc", 1, "ok" },
        { "/^abc$/ii ok\n", "ABC", 1, "ok" },
        { "/^(.*)@EXAMPLE\\.com$/ $1\n", "Joe@example.COM", 1, "Joe" },
        /* x toggles extended syntax: basic regular expressions when off */
        { "/^a+$/ ok\n", "aaa", 1, "ok" },
        { "/^a+$/x ok\n", "aaa", 0, NULL },
        { "/^a+$/x ok\n", "a+", 1, "ok" },
        { "/^\\(a*\\)b$/x [$1]\n", "aab", 1, "[aa]" },
        { "/^(a)$/x ok\n", "(a)", 1, "ok" },
        /* m: ^ and $ at newlines */
        { "/^b$/ ok\n", "a\nb", 0, NULL },
        { "/^b$/m ok\n", "a\nb", 1, "ok" },
        { "/^b$/mix ok\n", "a\nb", 1, "ok" },
        /* negation */
        { "!/^a/ not-a\n", "bcd", 1, "not-a" },
        { "!/^a/ not-a\n", "abc", 0, NULL },
        { "!/a/ x\n", "", 1, "x" },
        { "!/x/ cost $$5\n", "y", 1, "cost $5" },
        { "! /^a/ spaced\n", "b", 1, "spaced" },
        /* first match wins */
        { "/a/ first\n/a/ second\n", "a", 1, "first" },
        { "/b/ first\n/a/ second\n", "a", 1, "second" },
        { "!/z/ first\n/a/ second\n", "a", 1, "first" },
        /* if / endif */
        { "if /@example\\.com$/\n/^admin@/ A\nendif\n/^admin@/ B\n", "admin@example.com", 1,
          "A" },
        { "if /@example\\.com$/\n/^admin@/ A\nendif\n/^admin@/ B\n", "admin@other.org", 1, "B" },
        { "if !/^owner-/\n/^(.*)-outgoing@(.*)$/ 550 Use ${1}@${2} instead\nendif\n",
          "list-outgoing@example.org", 1, "550 Use list@example.org instead" },
        { "if !/^owner-/\n/^(.*)-outgoing@(.*)$/ 550 Use ${1}@${2} instead\nendif\n",
          "owner-list-outgoing@example.org", 0, NULL },
        { "if /a/\nif /b/\n/c/ abc\nendif\n/./ a-only\nendif\n", "abc", 1, "abc" },
        { "if /a/\nif /b/\n/c/ abc\nendif\n/./ a-only\nendif\n", "ab", 1, "a-only" },
        { "if /a/\nif /b/\n/c/ abc\nendif\n/./ a-only\nendif\n", "bc", 0, NULL },
        { "if /z/\nif /a/\n/a/ in\nendif\nendif\n/a/ out\n", "a", 1, "out" },
        { "IF /a/\n/a/ upper\nENDIF\n", "a", 1, "upper" },
        { "if,a,\n,b, ok\nendif\n", "ab", 1, "ok" },
        { "if !/a/\n/./ not-a\nendif\n/./ any\n", "a", 1, "any" },
        /* substitution */
        { "/^(.*)@(.*)$/ $2 ${1} $(1)x\n", "u@d", 1, "d u ux" },
        { "/^(a)?(b)$/ [$1][$2]\n", "b", 1, "[][b]" },
        { "/^(x)/ $$1$1$$\n", "x", 1, "$1x$" },
        { "/^(a)(b)(c)(d)(e)(f)(g)(h)(i)(j)$/ $10-$1-${10}\n", "abcdefghij", 1, "j-a-j" },
        { "/^(.)(.)/ $2$1\n", "AB", 1, "BA" },
        { "/(b+)/ <$1>\n", "abbbc", 1, "<bbb>" },
        /* continuation lines, comments, blank lines, CRLF */
        { "/^a/\n  ok\n", "a", 1, "ok" },
        { "/^a/ first\n second\n", "a", 1, "first second" },
        { "# comment\n\n   \n/a/ x # not a comment\n", "a", 1, "x # not a comment" },
        { "/a/ x\n  # a comment inside\n  y\n", "a", 1, "x  y" },
        { "/^a$/ ok\r\n/b/ no\r\n", "a", 1, "ok" },
        /* delimiters */
        { "|^a.b$| ok\n", "a/b", 1, "ok" },
        { "!|^a$| ok\n", "b", 1, "ok" },
        { "/^a\\/b$/ ok\n", "a/b", 1, "ok" },
        { "%^a%m ok\n", "abc", 1, "ok" },
        { "@^a b$@ ok\n", "a b", 1, "ok" },
        { "\"^x\" quoted\n", "xy", 1, "quoted" },
        /* repetitions within the expansion bound */
        { "/^<(.*?)>$/ [$1]\n", "<a>", 1, "[a]" },
        { "/^a{2}$/ two\n", "aa", 1, "two" },
        { "/^[0-9]{1,3}(\\.[0-9]{1,3}){3}$/ ipv4\n", "192.0.2.1", 1, "ipv4" },
        { "/^a\\{2\\}$/x two\n", "aa", 1, "two" },
        { "/^a{1,2000}$/ many\n", "aaa", 1, "many" },
        { "/^[]a]+$/ bracket\n", "]a]", 1, "bracket" },
        { "/^[[:digit:]]+$/ digits\n", "123", 1, "digits" },
        /* back-references run on short keys only */
        { "/^(a+)\\1$/ twice $1\n", "aaaa", 1, "twice aa" },
        { "/^(a+)\\1$/ twice\n/./ other\n",
          "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
          "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", -ERANGE, NULL },
        { "/^[\\1]$/ class\n", "1", 1, "class" },
};

typedef struct ErrorCase {
        const char *table;
        int expected;
        const char *message;            /* a substring of the message */
} ErrorCase;

static const ErrorCase error_cases[] = {
        { "/a/ ok\n/(b/ x\n", -EBADMSG, "t, line 2: bad regular expression /(b/" },
        { "/[a/ x\n", -EBADMSG, "t, line 1: bad regular expression" },
        { "/a{2,1}/ x\n", -EBADMSG, "t, line 1: bad regular expression" },
        /* patterns glibc would expand exponentially */
        { "/a{1,2001}/ x\n", -EBADMSG, "t, line 1: bad regular expression /a{1,2001}/: too "
          "large with its repetitions expanded" },
        { "/(a{1,100}){1,100}/ x\n", -EBADMSG, "too large" },
        { "/a\\{1,5000\\}/x x\n", -EBADMSG, "too large" },
        { "/a{,29991} / x\n", -EBADMSG, "too large" },
        { "/((((((((((((a+)+)+)+)+)+)+)+)+)+)+)+)/ x\n", -EBADMSG, "too large" },
        { "/a+++++/ x\n", -EBADMSG, "more than 4 repetition operators in a row" },
        { "/a*****/ x\n", -EBADMSG, "more than 4 repetition operators in a row" },
        { "/a/q ok\n", -EBADMSG, "t, line 1: unknown flag 'q'" },
        { "/a/s ok\n", -EBADMSG, "t, line 1: unknown flag 's'" },       /* pcre only */
        { "/a/ ok\n/b/\n", -EBADMSG, "t, line 2: missing result" },
        { "/a/ ok\n/b/i   \n", -EBADMSG, "t, line 2: missing result" },
        { "/a ok\n", -EBADMSG, "t, line 1: missing closing delimiter '/'" },
        { "/a\\/ ok\n", -EBADMSG, "t, line 1: missing closing delimiter" },
        { "!\n", -EBADMSG, "t, line 1: missing pattern" },
        { "\\a\\ x\n", -EBADMSG, "t, line 1: bad pattern delimiter '\\'" },
        { "a/ x\n", -EBADMSG, "t, line 1: unknown keyword \"a\"" },
        { "foo /a/ x\n", -EBADMSG, "t, line 1: unknown keyword \"foo\"" },
        { "if\nendif\n", -EBADMSG, "t, line 1: missing pattern" },
        { "if /a/ extra\nendif\n", -EBADMSG, "t, line 1: text after \"if\" pattern: extra" },
        { "if /a/\nendif x\n", -EBADMSG, "t, line 2: text after \"endif\"" },
        { "if /a/\n/a/ b\n", -EBADMSG, "t, line 1: \"if\" without \"endif\"" },
        { "if /a/\nif /b/\nendif\n", -EBADMSG, "t, line 1: \"if\" without \"endif\"" },
        { "if /a/\nendif\nif /b/\n", -EBADMSG, "t, line 3: \"if\" without \"endif\"" },
        { "endif\n", -EBADMSG, "t, line 1: \"endif\" without \"if\"" },
        { "/a/ x\n\nendif\n", -EBADMSG, "t, line 3: \"endif\" without \"if\"" },
        { "  /a/ x\n", -EBADMSG, "t, line 1: continuation line" },
        { "# c\n\t/a/ x\n", -EBADMSG, "t, line 2: continuation line" },
        /* $ syntax and group numbers */
        { "/(a)/ $2\n", -EBADMSG, "t, line 1: result \"$2\": $2 out of range (the pattern has "
          "1 group)" },
        { "/a/ $1\n", -EBADMSG, "$1 out of range (the pattern has 0 groups)" },
        { "/(a)/ $0\n", -EBADMSG, "t, line 1: result \"$0\": $0 out of range" },
        { "/(a)/ ${2}\n", -EBADMSG, "$2 out of range" },
        { "/(a)/ $(2)\n", -EBADMSG, "$2 out of range" },
        { "/(a)/ $100\n", -EBADMSG, "out of range (more than 99)" },
        { "/(a)/ $99999999999999999999999\n", -EBADMSG, "out of range (more than 99)" },
        { "/(a)/ $x\n", -EBADMSG, "t, line 1: bad '$' in result" },
        { "/(a)/ x$\n", -EBADMSG, "bad '$' in result \"x$\"" },
        { "/(a)/ $ 1\n", -EBADMSG, "bad '$'" },
        { "/(a)/ ${1\n", -EBADMSG, "bad '$'" },
        { "/(a)/ ${}\n", -EBADMSG, "bad '$'" },
        { "/(a)/ ${x}\n", -EBADMSG, "bad '$'" },
        { "/(a)/ $(1}\n", -EBADMSG, "bad '$'" },
        { "/(a)/ $1x\n", -EBADMSG, "bad '$' in result \"$1x\"" },
        { "/(a)/ $_\n", -EBADMSG, "bad '$'" },
        { "!/(a)/ $1\n", -EBADMSG, "t, line 1: result \"$1\": $1 in the result of a negated" },
        /* the line number is the first line of a logical line */
        { "/a/ x\n\n# c\n/b/\n  $1\n", -EBADMSG, "t, line 4: result \"$1\": $1 out of range" },
        { "/a/ x\nb\0c\n", -EBADMSG, "t, line 2: NUL byte" },
};

static DictPatternTable *parse_ok(const char *text, size_t n) {
        _cleanup_free_ char *error = NULL;
        DictPatternTable *t = NULL;
        int r;

        r = dict_pattern_parse(text, n, "t", DICT_PATTERN_REGEXP, &t, &error);
        ck_assert_msg(r == 0, "parse of \"%s\": %d %s", text, r, strempty(error));
        ck_assert_ptr_nonnull(t);
        return t;
}

START_TEST(test_lookup_cases)
{
        const LookupCase *c = &lookup_cases[_i];
        _cleanup_(dict_pattern_table_freep) DictPatternTable *t = NULL;
        _cleanup_free_ char *value = NULL;
        int r;

        t = parse_ok(c->table, strlen(c->table));
        r = dict_pattern_table_lookup(t, c->key, &value);
        ck_assert_msg(r == c->expected, "case %d: table \"%s\" key \"%s\": got %d, want %d", _i,
                      c->table, c->key, r, c->expected);
        if (r == 1)
                ck_assert_str_eq(value, c->value);
        else
                ck_assert_ptr_null(value);
}
END_TEST

START_TEST(test_error_cases)
{
        const ErrorCase *c = &error_cases[_i];
        _cleanup_(dict_pattern_table_freep) DictPatternTable *t = NULL;
        _cleanup_free_ char *error = NULL;
        size_t n = strlen(c->table);
        int r;

        /* The NUL case: the table text goes on after the NUL. */
        if (strstr(c->message, "NUL"))
                n += 1 + strlen(c->table + n + 1);

        r = dict_pattern_parse(c->table, n, "t", DICT_PATTERN_REGEXP, &t, &error);
        ck_assert_msg(r == c->expected, "case %d: \"%s\": got %d, want %d", _i, c->table, r,
                      c->expected);
        ck_assert_ptr_null(t);
        ck_assert_ptr_nonnull(error);
        ck_assert_msg(strstr(error, c->message), "case %d: message \"%s\" lacks \"%s\"", _i,
                      error, c->message);
}
END_TEST

START_TEST(test_error_without_message)
{
        DictPatternTable *t = NULL;

        /* ret_error may be NULL. */
        ck_assert_int_eq(dict_pattern_parse("/(/ x", 5, "t", DICT_PATTERN_REGEXP, &t, NULL),
                         -EBADMSG);
        ck_assert_int_eq(dict_pattern_parse("/a/ x", 5, "t", _DICT_PATTERN_SYNTAX_MAX, &t, NULL),
                         -EINVAL);
        ck_assert_int_eq(dict_pattern_parse("/a/ x", 5, "t", _DICT_PATTERN_SYNTAX_INVALID, &t,
                                            NULL), -EINVAL);
        ck_assert_ptr_null(t);
}
END_TEST

START_TEST(test_table_size)
{
        _cleanup_(dict_pattern_table_freep) DictPatternTable *t = NULL;
        static const char text[] = "# c\nif /a/\n/b/ x\n  continued\nendif\n\n/c/ y\n";

        t = parse_ok(text, strlen(text));
        ck_assert_uint_eq(dict_pattern_table_size(t), 4);
}
END_TEST

START_TEST(test_buffer_not_terminated)
{
        _cleanup_(dict_pattern_table_freep) DictPatternTable *t = NULL;
        _cleanup_free_ char *value = NULL;
        /* Only the first 8 bytes are the table: "/a/ one\n" */
        static const char text[] = "/a/ one\n/a/ two";

        t = parse_ok(text, 8);
        ck_assert_uint_eq(dict_pattern_table_size(t), 1);
        ck_assert_int_eq(dict_pattern_table_lookup(t, "a", &value), 1);
        ck_assert_str_eq(value, "one");
        t = dict_pattern_table_free(t);

        /* "/a/ on" cut inside a rule still parses; cut inside the pattern does not. */
        t = parse_ok(text, 6);
        t = dict_pattern_table_free(t);
        ck_assert_int_eq(dict_pattern_parse(text, 2, "t", DICT_PATTERN_REGEXP, &t, NULL),
                         -EBADMSG);
        ck_assert_int_eq(dict_pattern_parse(NULL, 0, "t", DICT_PATTERN_REGEXP, &t, NULL), 0);
        ck_assert_uint_eq(dict_pattern_table_size(t), 0);
}
END_TEST

/* Every prefix of a table parses to a table or a syntax error, never anything else. */
START_TEST(test_every_prefix)
{
        static const char text[] =
                "# access\n"
                "if !/^owner-/\n"
                "/^(.*)-outgoing@(.*)$/ 550 Use ${1}@${2} instead\n"
                "endif\n"
                "!/@/ 550 no domain $$\n"
                "/^(postmaster)@/i\n"
                "  OK $(1)\r\n";
        size_t n = strlen(text);
        unsigned ok = 0;

        for (size_t i = 0; i <= n; i++) {
                _cleanup_(dict_pattern_table_freep) DictPatternTable *t = NULL;
                _cleanup_free_ char *error = NULL, *value = NULL;
                int r;

                r = dict_pattern_parse(text, i, "t", DICT_PATTERN_REGEXP, &t, &error);
                ck_assert_msg(r == 0 || r == -EBADMSG, "prefix %zu: %d", i, r);
                if (r < 0) {
                        ck_assert_ptr_nonnull(error);
                        ck_assert_ptr_nonnull(strstr(error, "t, line "));
                        continue;
                }
                ok++;
                r = dict_pattern_table_lookup(t, "x-outgoing@y", &value);
                ck_assert_int_ge(r, 0);
        }
        ck_assert_uint_gt(ok, 3);
}
END_TEST

START_TEST(test_limit_line)
{
        _cleanup_(dict_pattern_table_freep) DictPatternTable *t = NULL;
        _cleanup_free_ char *text = NULL, *error = NULL;
        size_t n = DICT_PATTERN_LINE_MAX + 16;

        text = malloc(2 * n);
        ck_assert_ptr_nonnull(text);
        memcpy(text, "/a/ x\n/b/ ", 10);
        memset(text + 10, 'y', n - 10);
        ck_assert_int_eq(dict_pattern_parse(text, n, "t", DICT_PATTERN_REGEXP, &t, &error),
                         -EBADMSG);
        ck_assert_ptr_nonnull(strstr(error, "t, line 2: line longer than"));

        /* Continuation lines that each fit but together do not. */
        memcpy(text, "/a/ x\n/b/ y\n", 12);
        n *= 2;
        for (size_t i = 12; i < n; i++)
                text[i] = (i - 12) % 1000 == 0 ? ' ' : (i - 12) % 1000 == 999 ? '\n' : 'y';
        text[n - 1] = 'z';
        ck_assert_int_eq(dict_pattern_parse(text, n, "t", DICT_PATTERN_REGEXP, &t, &error),
                         -EBADMSG);
        ck_assert_msg(strstr(error, "t, line 68: logical line longer than 65536"), "%s", error);
}
END_TEST

START_TEST(test_limit_nesting)
{
        _cleanup_(dict_pattern_table_freep) DictPatternTable *t = NULL;
        _cleanup_(buf_done) Buf b = BUF_INIT(BUF_MAX_UNBOUNDED);
        _cleanup_free_ char *error = NULL, *value = NULL;

        for (unsigned i = 0; i < DICT_PATTERN_NESTING_MAX; i++)
                ck_assert_int_eq(buf_append_str(&b, "if /a/\n"), 0);
        ck_assert_int_eq(buf_append_str(&b, "/a/ deep\n"), 0);
        for (unsigned i = 0; i < DICT_PATTERN_NESTING_MAX; i++)
                ck_assert_int_eq(buf_append_str(&b, "endif\n"), 0);
        t = parse_ok(buf_peek(&b), buf_pending(&b));
        ck_assert_int_eq(dict_pattern_table_lookup(t, "a", &value), 1);
        ck_assert_str_eq(value, "deep");
        t = dict_pattern_table_free(t);

        buf_clear(&b);
        for (unsigned i = 0; i <= DICT_PATTERN_NESTING_MAX; i++)
                ck_assert_int_eq(buf_append_str(&b, "if /a/\n"), 0);
        ck_assert_int_eq(dict_pattern_parse(buf_peek(&b), buf_pending(&b), "t",
                                            DICT_PATTERN_REGEXP, &t, &error), -EBADMSG);
        ck_assert_ptr_nonnull(strstr(error, "t, line 101: \"if\" nested deeper than 100"));
}
END_TEST

START_TEST(test_limit_rules)
{
        _cleanup_(dict_pattern_table_freep) DictPatternTable *t = NULL;
        _cleanup_(buf_done) Buf b = BUF_INIT(BUF_MAX_UNBOUNDED);
        _cleanup_free_ char *error = NULL;

        for (unsigned i = 0; i <= DICT_PATTERN_RULES_MAX; i++)
                ck_assert_int_eq(buf_append_str(&b, "/a/ x\n"), 0);
        ck_assert_int_eq(dict_pattern_parse(buf_peek(&b), buf_pending(&b), "t",
                                            DICT_PATTERN_REGEXP, &t, &error), -E2BIG);
        ck_assert_ptr_nonnull(strstr(error, "t, line 100001: more than 100000 rules"));
        ck_assert_ptr_null(t);
}
END_TEST

START_TEST(test_limit_key_and_result)
{
        _cleanup_(dict_pattern_table_freep) DictPatternTable *t = NULL;
        _cleanup_free_ char *key = NULL, *value = NULL;
        static const char text[] = "/^(.*)$/ $1$1$1\n";
        size_t n = DICT_PATTERN_RESULT_MAX / 3;

        t = parse_ok(text, strlen(text));
        key = malloc(DICT_PATTERN_KEY_MAX + 2);
        ck_assert_ptr_nonnull(key);

        /* 3 * n bytes fit exactly, one more key byte does not. */
        memset(key, 'k', n);
        key[n] = '\0';
        ck_assert_int_eq(dict_pattern_table_lookup(t, key, &value), 1);
        ck_assert_uint_eq(strlen(value), 3 * n);
        value = mfree(value);
        key[n] = 'k';
        key[n + 1] = '\0';
        ck_assert_int_eq(dict_pattern_table_lookup(t, key, &value), -EMSGSIZE);
        ck_assert_ptr_null(value);

        memset(key, 'k', DICT_PATTERN_KEY_MAX + 1);
        key[DICT_PATTERN_KEY_MAX + 1] = '\0';
        ck_assert_int_eq(dict_pattern_table_lookup(t, key, &value), -EMSGSIZE);
        key[DICT_PATTERN_KEY_MAX] = '\0';
        ck_assert_int_eq(dict_pattern_table_lookup(t, key, &value), -EMSGSIZE);  /* result */
}
END_TEST

/* A fresh directory under $TMPDIR. */
static char *make_tmpdir(void) {
        const char *tmp = getenv("TMPDIR");
        char *d;

        ck_assert_int_ge(asprintf(&d, "%s/test-dict-regexp-XXXXXX", tmp ? tmp : "/tmp"), 0);
        ck_assert_ptr_nonnull(mkdtemp(d));
        return d;
}

static char *write_file(const char *dir, const char *name, const char *content) {
        _cleanup_close_ int fd = -EBADF;
        size_t n = strlen(content);
        char *path;

        ck_assert_int_ge(asprintf(&path, "%s/%s", dir, name), 0);
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(write(fd, content, n), (ssize_t) n);
        return path;
}

START_TEST(test_open_file)
{
        _cleanup_free_ char *dir = make_tmpdir(), *path = NULL, *spec = NULL, *error = NULL;
        _cleanup_free_ char *value = NULL;
        _cleanup_(dict_freep) Dict *d = NULL;

        path = write_file(dir, "access", "/^postmaster@/ OK\n/^(.*)@spam\\.example$/ 550 "
                                         "no mail from $1\n/^Case@/i exact\n");
        ck_assert_int_ge(asprintf(&spec, "regexp:%s", path), 0);
        ck_assert_int_eq(dict_open(spec, DICT_FLAGS_DEFAULT, &d, &error), 0);
        ck_assert_ptr_null(error);
        ck_assert_str_eq(d->spec, spec);
        ck_assert(d->flags & DICT_FLAG_PATTERN);
        ck_assert(!(d->flags & DICT_FLAG_FOLD_CASE));

        ck_assert_int_eq(dict_lookup(d, "PostMaster@example.org", &value), 1);
        ck_assert_str_eq(value, "OK");
        value = mfree(value);
        ck_assert_int_eq(dict_lookup(d, "Joe@SPAM.example", &value), 1);
        ck_assert_str_eq(value, "550 no mail from Joe");
        value = mfree(value);
        /* The key is not folded: the case-sensitive rule sees it as sent. */
        ck_assert_int_eq(dict_lookup(d, "Case@x", &value), 1);
        ck_assert_str_eq(value, "exact");
        value = mfree(value);
        ck_assert_int_eq(dict_lookup(d, "case@x", &value), 0);
        /* Pattern tables see the whole address once. */
        ck_assert_int_eq(dict_lookup_address(d, "joe@spam.example", "+", &value), 1);
        ck_assert_str_eq(value, "550 no mail from joe");
        value = mfree(value);

        ck_assert_int_eq(unlink(path), 0);
        ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

START_TEST(test_open_errors)
{
        _cleanup_free_ char *dir = make_tmpdir(), *path = NULL, *spec = NULL, *error = NULL;
        Dict *d = NULL;

        ck_assert_int_ge(asprintf(&spec, "regexp:%s/missing", dir), 0);
        ck_assert_int_eq(dict_open(spec, DICT_FLAGS_DEFAULT, &d, &error), -ENOENT);
        ck_assert_ptr_nonnull(strstr(error, dir));
        ck_assert_ptr_nonnull(strstr(error, "/missing"));
        spec = mfree(spec);

        ck_assert_int_ge(asprintf(&spec, "regexp:%s", dir), 0);
        ck_assert_int_eq(dict_open(spec, DICT_FLAGS_DEFAULT, &d, &error), -EISDIR);
        spec = mfree(spec);

        path = write_file(dir, "bad", "/a/ ok\n\n/b/q ok\n");
        ck_assert_int_ge(asprintf(&spec, "regexp:%s", path), 0);
        ck_assert_int_eq(dict_open(spec, DICT_FLAGS_DEFAULT, &d, &error), -EBADMSG);
        ck_assert_ptr_nonnull(strstr(error, path));
        ck_assert_ptr_nonnull(strstr(error, ", line 3: unknown flag"));
        ck_assert_ptr_null(d);

        ck_assert_int_eq(unlink(path), 0);
        ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

static const struct {
        const char *spec;
        const char *key;
        int expected;                   /* open error, or lookup result */
        const char *value;              /* value, or substring of the open message */
} inline_cases[] = {
        { "regexp:{ {/^a/ A}, { /^b(.)/ B$1 } }", "bz", 1, "Bz" },
        { "regexp:{ {/^a/ A}, { /^b(.)/ B$1 } }", "az", 1, "A" },
        { "regexp:{ {/^a/ A}, { /^b(.)/ B$1 } }", "cz", 0, NULL },
        { "regexp:{{if /a/},{/b/ ab},{endif}}", "ab", 1, "ab" },
        { "regexp:{ {/x{2}/ two} }", "axx", 1, "two" },
        { "regexp:{}", "a", 0, NULL },
        { "regexp:{ /a/ x }", "a", -EBADMSG, "each rule must be enclosed in { }" },
        { "regexp:{ {/a/ x }", "a", -EBADMSG, "unbalanced braces" },
        { "regexp:{", "a", -EBADMSG, "missing closing '}'" },
        { "regexp:{ {/a/ x}, {/a{/ y} }", "a", -EBADMSG, "unbalanced braces" },
        { "regexp:{ {/a/ x}, {/b/} }", "a", -EBADMSG, "regexp:{ {/a/ x}, {/b/} }, line 2: "
          "missing result" },
};

START_TEST(test_open_inline)
{
        _cleanup_free_ char *error = NULL, *value = NULL;
        _cleanup_(dict_freep) Dict *d = NULL;
        int r;

        r = dict_open(inline_cases[_i].spec, DICT_FLAGS_DEFAULT, &d, &error);
        if (inline_cases[_i].expected < 0) {
                ck_assert_msg(r == inline_cases[_i].expected, "%s: %d", inline_cases[_i].spec,
                              r);
                ck_assert_ptr_nonnull(error);
                ck_assert_msg(strstr(error, inline_cases[_i].value), "\"%s\" lacks \"%s\"",
                              error, inline_cases[_i].value);
                return;
        }
        ck_assert_msg(r == 0, "%s: %d %s", inline_cases[_i].spec, r, strempty(error));
        r = dict_lookup(d, inline_cases[_i].key, &value);
        ck_assert_int_eq(r, inline_cases[_i].expected);
        if (r == 1)
                ck_assert_str_eq(value, inline_cases[_i].value);
}
END_TEST

static Suite *dict_regexp_suite(void) {
        Suite *s = suite_create("dict_regexp");
        TCase *tc;

        tc = tcase_create("lookup");
        tcase_add_loop_test(tc, test_lookup_cases, 0, (int) ELEMENTSOF(lookup_cases));
        tcase_add_test(tc, test_buffer_not_terminated);
        tcase_add_test(tc, test_table_size);
        suite_add_tcase(s, tc);

        tc = tcase_create("parse_errors");
        tcase_add_loop_test(tc, test_error_cases, 0, (int) ELEMENTSOF(error_cases));
        tcase_add_test(tc, test_error_without_message);
        tcase_add_test(tc, test_every_prefix);
        suite_add_tcase(s, tc);

        tc = tcase_create("limits");
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_limit_line);
        tcase_add_test(tc, test_limit_nesting);
        tcase_add_test(tc, test_limit_rules);
        tcase_add_test(tc, test_limit_key_and_result);
        suite_add_tcase(s, tc);

        tc = tcase_create("open");
        tcase_add_test(tc, test_open_file);
        tcase_add_test(tc, test_open_errors);
        tcase_add_loop_test(tc, test_open_inline, 0, (int) ELEMENTSOF(inline_cases));
        suite_add_tcase(s, tc);

        return s;
}

TERN_CHECK_MAIN(dict_regexp_suite)
