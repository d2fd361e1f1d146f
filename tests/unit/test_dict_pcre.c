/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Unit tests of the pcre: table type (dict_pcre.c through the shared rule parser of
 * dict_pattern.c): table cases of every flag (i, m, s, x, A, E, U, X, u) and its default,
 * negation, if/endif nesting, $n substitution with PCRE2 group numbering, first-match-wins; bad
 * patterns and other syntax errors with their line numbers; patterns that backtrack
 * catastrophically end promptly with an error or "not found"; and the DictType through
 * dict_open(). */
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>

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
        { "/^a/ A\n", "abc", 1, "A" },
        { "/^a/ A\n", "xbc", 0, NULL },
        { "", "abc", 0, NULL },
        { "/^$/ empty\n", "", 1, "empty" },
        /* i: case-insensitive by default */
        { "/^abc$/ ok\n", "ABC", 1, "ok" },
        { "/^abc$/i ok\n", "ABC", 0, NULL },
        { "/^abc$/i ok\n", "abc", 1, "ok" },
        { "/^abc$/ii ok\n", "AbC", 1, "ok" },
        { "/^(.*)@EXAMPLE\\.com$/ $1\n", "Joe@example.COM", 1, "Joe" },
        /* s: DOTALL by default */
        { "/^a.b$/ ok\n", "a\nb", 1, "ok" },
        { "/^a.b$/s ok\n", "a\nb", 0, NULL },
        /* m: MULTILINE */
        { "/^b$/ ok\n", "a\nb", 0, NULL },
        { "/^b$/m ok\n", "a\nb", 1, "ok" },
        /* x: EXTENDED, off by default */
        { "/a b/ ok\n", "a b", 1, "ok" },
        { "/a b/x ok\n", "ab", 1, "ok" },
        { "/a b/x ok\n", "a b", 0, NULL },
        /* A: ANCHORED */
        { "/b/ ok\n", "ab", 1, "ok" },
        { "/b/A ok\n", "ab", 0, NULL },
        { "/b/A ok\n", "ba", 1, "ok" },
        /* E: DOLLAR_ENDONLY */
        { "/a$/ ok\n", "a\n", 1, "ok" },
        { "/a$/E ok\n", "a\n", 0, NULL },
        { "/a$/E ok\n", "a", 1, "ok" },
        /* U: UNGREEDY */
        { "/^(a+)/ [$1]\n", "aaa", 1, "[aaa]" },
        { "/^(a+)/U [$1]\n", "aaa", 1, "[a]" },
        { "/^(a+?)/U [$1]\n", "aaa", 1, "[aaa]" },
        /* X: accepted, PCRE2 always rejects unknown letter escapes */
        { "/a/X ok\n", "a", 1, "ok" },
        { "/a/XX ok\n", "A", 1, "ok" },
        /* u: UTF-8 */
        { "/^.$/u one\n", "\xc3\xa9", 1, "one" },
        { "/^.$/ one\n", "\xc3\xa9", 0, NULL },
        { "/^..$/ two\n", "\xc3\xa9", 1, "two" },
        { "/^\xc3\xa9$/u e-acute\n", "\xc3\x89", 1, "e-acute" },      /* caseless é = É */
        { "/./u any\n", "\xff\xfe", 0, NULL },                          /* not UTF-8 */
        { "/./u any\n/./ bytes\n", "\xff", 1, "bytes" },
        { "/^a.c$/imsxAEUXu all\n", "A\nC", 0, NULL },      /* i, s toggled off: case and \n */
        { "/^a.c$/imsxAEUXu all\n", "a-c", 1, "all" },
        /* PCRE2 syntax and group numbering */
        { "/^(\\d+)\\.(\\d+)$/ $2.$1\n", "12.34", 1, "34.12" },
        { "/^(?:a)(b)$/ [$1]\n", "ab", 1, "[b]" },
        { "/^(?<user>[^@]+)@/ $1\n", "joe@example.com", 1, "joe" },
        { "/^(?!postmaster@)(.+)@example\\.com$/ $1\n", "postmaster@example.com", 0, NULL },
        { "/^(?!postmaster@)(.+)@example\\.com$/ $1\n", "joe@example.com", 1, "joe" },
        { "/^(a)|(b)$/ [$1][$2]\n", "b", 1, "[][b]" },
        { "/(?i)^ABC$/i ok\n", "abc", 1, "ok" },
        { "/\\bspam\\b/ 550 spam\n", "no SPAM here", 1, "550 spam" },
        { "/^(a)(b)(c)(d)(e)(f)(g)(h)(i)(j)(k)$/ $11$10${1}\n", "abcdefghijk", 1, "kja" },
        /* negation, first match, if/endif, substitution */
        { "!/^a/ not-a\n", "bcd", 1, "not-a" },
        { "!/^a/ not-a\n", "ABC", 0, NULL },
        { "!/x/ $$ only\n", "y", 1, "$ only" },
        { "/a/ first\n/a/ second\n", "a", 1, "first" },
        { "/b/ first\n/a/ second\n", "a", 1, "second" },
        { "if /@example\\.com$/\n/^admin@/ A\nendif\n/^admin@/ B\n", "admin@EXAMPLE.com", 1,
          "A" },
        { "if /@example\\.com$/\n/^admin@/ A\nendif\n/^admin@/ B\n", "admin@other.org", 1, "B" },
        { "if !/^owner-/\n/^(.*)-outgoing@(.*)$/ 550 Use ${1}@${2} instead\nendif\n",
          "list-outgoing@example.org", 1, "550 Use list@example.org instead" },
        { "if !/^owner-/\n/^(.*)-outgoing@(.*)$/ 550 Use ${1}@${2} instead\nendif\n",
          "owner-x-outgoing@example.org", 0, NULL },
        { "if /a/\nif /b/\n/c/ abc\nendif\n/./ a-only\nendif\n", "abc", 1, "abc" },
        { "if /a/\nif /b/\n/c/ abc\nendif\n/./ a-only\nendif\n", "ab", 1, "a-only" },
        { "if /a/\nif /b/\n/c/ abc\nendif\n/./ a-only\nendif\n", "bc", 0, NULL },
        { "/^(.*)@(.*)$/ $2 ${1} $(1)x $$\n", "u@d", 1, "d u ux $" },
        { "/^Subject: (.*)/\n  REJECT subject $1\n", "subject: make money fast", 1,
          "REJECT subject make money fast" },
        { "~^[[:alnum:]+/]{60,}$~ OK\n", "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9"
          "wcXJzdHV2d3h5ejAxMjM0NTY3ODk=", 0, NULL },
        { "~^[[:alnum:]+/]{60,}$~ OK\n", "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9"
          "wcXJzdHV2d3h5ejAxMjM0NTY3ODk", 1, "OK" },
        { "/^a\\/b$/ ok\n", "a/b", 1, "ok" },
        { "|^a/b$| ok\n", "a/b", 1, "ok" },
        { "/^a$/ ok\r\n", "a", 1, "ok" },
};

typedef struct ErrorCase {
        const char *table;
        int expected;
        const char *message;            /* a substring of the message */
} ErrorCase;

static const ErrorCase error_cases[] = {
        { "/a/ ok\n/(b/ x\n", -EBADMSG, "t, line 2: bad regular expression /(b/: " },
        { "/a)/ x\n", -EBADMSG, "t, line 1: bad regular expression /a)/: " },
        { "/[z-a]/ x\n", -EBADMSG, "at offset" },
        { "/a{2,1}/ x\n", -EBADMSG, "t, line 1: bad regular expression" },
        { "/\\C/ x\n", -EBADMSG, "t, line 1: bad regular expression" },
        { "/\\xff/ x\n/\xff/u x\n", -EBADMSG, "t, line 2: bad regular expression" },
        { "/a/q ok\n", -EBADMSG, "t, line 1: unknown flag 'q' after /a/ (pcre flags are "
          "imsxAEUXu)" },
        { "/a/B ok\n", -EBADMSG, "unknown flag 'B'" },
        { "/a/ ok\n/b/\n", -EBADMSG, "t, line 2: missing result" },
        { "/a ok\n", -EBADMSG, "t, line 1: missing closing delimiter" },
        { "if /a/\n/a/ b\n", -EBADMSG, "t, line 1: \"if\" without \"endif\"" },
        { "/a/ x\nendif\n", -EBADMSG, "t, line 2: \"endif\" without \"if\"" },
        { "if /(/\nendif\n", -EBADMSG, "t, line 1: bad regular expression" },
        { "/(?:a)(b)/ $2\n", -EBADMSG, "$2 out of range (the pattern has 1 group)" },
        { "/(?<n>a)/ ${n}\n", -EBADMSG, "t, line 1: bad '$'" },
        { "/(a)/ $1a\n", -EBADMSG, "bad '$'" },
        { "!/(a)/ ok $1\n", -EBADMSG, "in the result of a negated pattern" },
        { "/a/ x\n\n  \n/(b)/\n\n  $2\n", -EBADMSG, "t, line 4: result \"$2\": $2 out of range" },
};

static DictPatternTable *parse_ok(const char *text) {
        _cleanup_free_ char *error = NULL;
        DictPatternTable *t = NULL;
        int r;

        r = dict_pattern_parse(text, strlen(text), "t", DICT_PATTERN_PCRE, &t, &error);
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

        t = parse_ok(c->table);
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
        int r;

        r = dict_pattern_parse(c->table, strlen(c->table), "t", DICT_PATTERN_PCRE, &t, &error);
        ck_assert_msg(r == c->expected, "case %d: \"%s\": got %d, want %d", _i, c->table, r,
                      c->expected);
        ck_assert_ptr_null(t);
        ck_assert_ptr_nonnull(error);
        ck_assert_msg(strstr(error, c->message), "case %d: message \"%s\" lacks \"%s\"", _i,
                      error, c->message);
}
END_TEST

/* The same text means different things to the two types: the flags and their defaults. */
START_TEST(test_syntax_differs_from_regexp)
{
        _cleanup_(dict_pattern_table_freep) DictPatternTable *t = NULL;
        _cleanup_free_ char *value = NULL;

        ck_assert_int_eq(dict_pattern_parse("/a/s x", 6, "t", DICT_PATTERN_REGEXP, &t, NULL),
                         -EBADMSG);
        ck_assert_int_eq(dict_pattern_parse("/a/s x", 6, "t", DICT_PATTERN_PCRE, &t, NULL), 0);
        t = dict_pattern_table_free(t);
        /* \d is PCRE; POSIX ERE has no such class. */
        t = parse_ok("/^\\d$/ digit");
        ck_assert_int_eq(dict_pattern_table_lookup(t, "7", &value), 1);
        ck_assert_str_eq(value, "digit");
}
END_TEST

static uint64_t now_usec(void) {
        struct timespec ts;

        ck_assert_int_eq(clock_gettime(CLOCK_MONOTONIC, &ts), 0);
        return (uint64_t) ts.tv_sec * 1000000U + (uint64_t) ts.tv_nsec / 1000U;
}

/* Patterns that backtrack exponentially on a key that almost matches: the lookup ends within the
 * match limit, with -ERANGE (or "not found" when PCRE2 sees through the pattern), never a hang. */
static const struct {
        const char *table;
        char fill;
        size_t len;
        const char *tail;
} catastrophic_cases[] = {
        { "/^(a+)+$/ x\n", 'a', 40, "!" },
        { "/^(a|aa)+$/ x\n", 'a', 60, "!" },
        { "/^(a|a?)+b$/ x\n", 'a', 40, "" },
        { "/^(\\w+\\s?)*$/ x\n", 'w', 50, "!" },
        { "/(x+x+)+y/ x\n", 'x', 40, "" },
        { "/^((a+)*)*(b)\\3$/ $3\n", 'a', 40, "c" },
};

START_TEST(test_catastrophic_backtracking)
{
        _cleanup_(dict_pattern_table_freep) DictPatternTable *t = NULL;
        _cleanup_free_ char *key = NULL, *value = NULL;
        size_t len = catastrophic_cases[_i].len;
        uint64_t start;
        int r;

        t = parse_ok(catastrophic_cases[_i].table);
        key = malloc(len + strlen(catastrophic_cases[_i].tail) + 1);
        ck_assert_ptr_nonnull(key);
        memset(key, catastrophic_cases[_i].fill, len);
        strcpy(key + len, catastrophic_cases[_i].tail);

        start = now_usec();
        r = dict_pattern_table_lookup(t, key, &value);
        ck_assert_msg(r == -ERANGE || r == 0, "case %d: %d", _i, r);
        ck_assert_ptr_null(value);
        /* Generous for ASan builds; without the limit these take years. */
        ck_assert_msg(now_usec() - start < 10 * 1000000U, "case %d took too long", _i);
}
END_TEST

START_TEST(test_match_limit_is_an_error)
{
        _cleanup_(dict_pattern_table_freep) DictPatternTable *t = NULL;
        _cleanup_free_ char *value = NULL;

        /* The error stops the search: a later rule must not answer instead. */
        t = parse_ok("/^(a+)+$/ x\n/./ fallback\n");
        ck_assert_int_eq(dict_pattern_table_lookup(t, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!",
                                                   &value), -ERANGE);
        ck_assert_ptr_null(value);
        ck_assert_int_eq(dict_pattern_table_lookup(t, "aaaa", &value), 1);
        ck_assert_str_eq(value, "x");
}
END_TEST

START_TEST(test_open)
{
        _cleanup_free_ char *dir = NULL, *path = NULL, *spec = NULL, *error = NULL;
        _cleanup_free_ char *value = NULL;
        _cleanup_(dict_freep) Dict *d = NULL;
        const char *tmp = getenv("TMPDIR");
        static const char content[] = "# header checks\n"
                                      "/^Subject:.*viagra/ REJECT\n"
                                      "/^X-Mailer: (\\S+)/ WARN mailer $1\n";
        _cleanup_close_ int fd = -EBADF;

        ck_assert_int_ge(asprintf(&dir, "%s/test-dict-pcre-XXXXXX", tmp ? tmp : "/tmp"), 0);
        ck_assert_ptr_nonnull(mkdtemp(dir));
        ck_assert_int_ge(asprintf(&path, "%s/header_checks", dir), 0);
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(write(fd, content, strlen(content)), (ssize_t) strlen(content));

        ck_assert_int_ge(asprintf(&spec, "pcre:%s", path), 0);
        ck_assert_int_eq(dict_open(spec, DICT_FLAGS_DEFAULT, &d, &error), 0);
        ck_assert(d->flags & DICT_FLAG_PATTERN);
        ck_assert_int_eq(dict_lookup(d, "SUBJECT: cheap VIAGRA", &value), 1);
        ck_assert_str_eq(value, "REJECT");
        value = mfree(value);
        ck_assert_int_eq(dict_lookup(d, "X-Mailer: Foo/1.0 (Linux)", &value), 1);
        ck_assert_str_eq(value, "WARN mailer Foo/1.0");
        value = mfree(value);
        ck_assert_int_eq(dict_lookup(d, "Subject: hello", &value), 0);
        d = dict_free(d);

        ck_assert_int_eq(unlink(path), 0);
        ck_assert_int_eq(dict_open(spec, DICT_FLAGS_DEFAULT, &d, &error), -ENOENT);
        ck_assert_ptr_nonnull(strstr(error, path));
        ck_assert_int_eq(rmdir(dir), 0);

        ck_assert_int_eq(dict_open("pcre:{ {/^(\\w+)@/ user $1}, {!/@/ local} }",
                                   DICT_FLAGS_DEFAULT, &d, &error), 0);
        ck_assert_int_eq(dict_lookup(d, "joe@example.com", &value), 1);
        ck_assert_str_eq(value, "user joe");
        value = mfree(value);
        ck_assert_int_eq(dict_lookup(d, "joe", &value), 1);
        ck_assert_str_eq(value, "local");
        d = dict_free(d);

        ck_assert_int_eq(dict_open("pcre:{ {/(/ x} }", DICT_FLAGS_DEFAULT, &d, &error),
                         -EBADMSG);
        ck_assert_ptr_nonnull(strstr(error, "pcre:{ {/(/ x} }, line 1: bad regular expression"));
}
END_TEST

static Suite *dict_pcre_suite(void) {
        Suite *s = suite_create("dict_pcre");
        TCase *tc;

        tc = tcase_create("lookup");
        tcase_add_loop_test(tc, test_lookup_cases, 0, (int) ELEMENTSOF(lookup_cases));
        tcase_add_test(tc, test_syntax_differs_from_regexp);
        suite_add_tcase(s, tc);

        tc = tcase_create("parse_errors");
        tcase_add_loop_test(tc, test_error_cases, 0, (int) ELEMENTSOF(error_cases));
        suite_add_tcase(s, tc);

        tc = tcase_create("limits");
        tcase_set_timeout(tc, 60);
        tcase_add_loop_test(tc, test_catastrophic_backtracking, 0,
                            (int) ELEMENTSOF(catastrophic_cases));
        tcase_add_test(tc, test_match_limit_is_an_error);
        suite_add_tcase(s, tc);

        tc = tcase_create("open");
        tcase_add_test(tc, test_open);
        suite_add_tcase(s, tc);

        return s;
}

TERN_CHECK_MAIN(dict_pcre_suite)
