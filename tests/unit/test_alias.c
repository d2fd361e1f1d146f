/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Unit tests of alias: the aliases(5) parser (tables of good and bad text, fed whole and split at
 * every line), value splitting and item types, and building a database read back through the
 * dict layer. */
#include <fcntl.h>
#include <sys/stat.h>

#include "alias.h"
#include "buf.h"
#include "check_main.h"
#include "dict.h"

/* Collects the entries as "line|name|value\n". */
static int collect(const char *name, const char *value, unsigned line, void *userdata) {
        Buf *out = userdata;

        return buf_printf(out, "%u|%s|%s\n", line, name, value);
}

static int fail_on_second(const char *name, const char *value, unsigned line, void *userdata) {
        unsigned *n = userdata;

        return ++*n == 2 ? -ECANCELED : 0;
}

static const struct {
        const char *text;
        const char *expected;
} good_cases[] = {
        { "", "" },
        { "\n\n   \n", "" },
        { "# only a comment\n", "" },
        { "root: john\n", "1|root|john\n" },
        { "root: john", "1|root|john\n" },                     /* no final LF */
        { "root:john\n", "1|root|john\n" },
        { "Root : John\n", "1|root|John\n" },                  /* names fold, values do not */
        { "root:\tjohn  \t\n", "1|root|john\n" },
        { "root: john\r\n", "1|root|john\n" },                 /* CR is trailing white space */
        { "a: b, c\nd: e\n", "1|a|b, c\n2|d|e\n" },
        { "a: b,\n c\n", "1|a|b, c\n" },                       /* continuation */
        { "a: b\n\tc\n  d\n", "1|a|b c d\n" },
        { "a: b\n# comment\n c\n", "1|a|b c\n" },              /* comments do not end entries */
        { "a: b\n\n c\n", "1|a|b c\n" },                       /* neither do blank lines */
        { "a: b\n   # indented comment\nc: d\n", "1|a|b\n3|c|d\n" },
        { "# head\n\nx: y\n", "3|x|y\n" },
        { "\"a b\": c\n", "1|a b|c\n" },                        /* quoted name */
        { "\"A:B\" : c\n", "1|a:b|c\n" },                       /* colon inside quotes */
        { "\"a\\\"b\": c\n", "1|a\"b|c\n" },                    /* escaped quote */
        { "c d: e\n", "1|c d|e\n" },                            /* postalias keeps it too */
        { "a: \"|/bin/cat x\", :include:/etc/l, /tmp/f\n",
          "1|a|\"|/bin/cat x\", :include:/etc/l, /tmp/f\n" },
        { "a: b: c\n", "1|a|b: c\n" },                          /* only the first colon */
        { "MAILER-DAEMON: postmaster\n", "1|mailer-daemon|postmaster\n" },
};

#define TEXT(s) s, sizeof(s) - 1

static const struct {
        const char *text;
        size_t n;
        int error;
        unsigned line;
} bad_cases[] = {
        { TEXT("nocolon\n"), -EBADMSG, 1 },
        { TEXT("a: b\nnocolon\n"), -EBADMSG, 2 },
        { TEXT("a: b\n\n# c\nbad line here\n"), -EBADMSG, 4 },
        { TEXT(": value\n"), -EBADMSG, 1 },                     /* empty name */
        { TEXT("\"\": value\n"), -EBADMSG, 1 },
        { TEXT("a:\n"), -EBADMSG, 1 },                          /* empty value */
        { TEXT("a:   \t\n"), -EBADMSG, 1 },
        { TEXT("x: y\na:\n"), -EBADMSG, 2 },
        { TEXT(" a: b\n"), -EBADMSG, 1 },                       /* continuation first */
        { TEXT("# c\n  more\n"), -EBADMSG, 2 },
        { TEXT("\"unterminated: x\n"), -EBADMSG, 1 },
        { TEXT("\"a\" b: c\n"), -EBADMSG, 1 },                  /* text after quoted name */
        { TEXT("root@example.com: x\n"), -EBADMSG, 1 },         /* name must be local */
        { TEXT("\"a@b\": x\n"), -EBADMSG, 1 },
        { TEXT("a: b\nc: d\0e\n"), -EBADMSG, 2 },               /* NUL byte */
        { TEXT("\0"), -EBADMSG, 1 },
        { TEXT("a: b\n c\nd\n"), -EBADMSG, 3 },
};

static void run_parse(const char *text, size_t n, Buf *out, int *ret_r, unsigned *ret_line) {
        const char *error = NULL;
        unsigned line = 0;

        *ret_r = alias_parse(text, n, collect, out, &line, &error);
        if (*ret_r < 0) {
                ck_assert_ptr_nonnull(error);
                ck_assert_uint_gt(line, 0);
        }
        *ret_line = line;
}

START_TEST(test_parse_good)
{
        const char *text = good_cases[_i].text;
        _cleanup_(buf_done) Buf out = BUF_INIT(BUF_MAX_UNBOUNDED);
        unsigned line;
        int r;

        run_parse(text, strlen(text), &out, &r, &line);
        ck_assert_msg(r == 0, "case %d: %s", _i, strerror(-r));
        ck_assert_str_eq(buf_peek(&out), good_cases[_i].expected);
}
END_TEST

START_TEST(test_parse_bad)
{
        _cleanup_(buf_done) Buf out = BUF_INIT(BUF_MAX_UNBOUNDED);
        unsigned line;
        int r;

        run_parse(bad_cases[_i].text, bad_cases[_i].n, &out, &r, &line);
        ck_assert_msg(r == bad_cases[_i].error, "case %d: got %d", _i, r);
        ck_assert_uint_eq(line, bad_cases[_i].line);
}
END_TEST

START_TEST(test_parse_nul_in_middle)
{
        static const char text[] = "a: b\nc: d\0e\n";
        const char *error = NULL;
        unsigned line = 0, n = 0;

        ck_assert_int_eq(alias_parse(text, sizeof text - 1, fail_on_second, &n, &line, &error),
                         -EBADMSG);
        ck_assert_uint_eq(line, 2);
        ck_assert_str_eq(error, "NUL byte");
}
END_TEST

/* Feeding a prefix that ends at a line boundary must give a prefix of the entries: the parser
 * has no hidden state across lines that a split could expose. Entries are only complete when
 * the next entry starts, so compare the whole against prefix + rest for every line split. */
START_TEST(test_parse_split_lines)
{
        const char *text = "# aliases\nroot: john\n\tbob\npostmaster: root\n\"x y\": z,\n  w\n"
                           "\nlast: one\n";
        _cleanup_(buf_done) Buf whole = BUF_INIT(BUF_MAX_UNBOUNDED);
        size_t n = strlen(text);
        unsigned line;
        int r;

        run_parse(text, n, &whole, &r, &line);
        ck_assert_int_eq(r, 0);
        ck_assert_str_eq(buf_peek(&whole),
                         "2|root|john bob\n4|postmaster|root\n5|x y|z, w\n8|last|one\n");

        /* A continuation line cut off from its entry is an error, never a new entry. */
        for (size_t i = 0; i < n; i++) {
                _cleanup_(buf_done) Buf part = BUF_INIT(BUF_MAX_UNBOUNDED);

                if (i > 0 && text[i - 1] != '\n')
                        continue;
                run_parse(text + i, n - i, &part, &r, &line);
                if (text[i] == '\t' || text[i] == ' ')
                        ck_assert_int_eq(r, -EBADMSG);
                else {
                        ck_assert_int_eq(r, 0);
                        /* what parses from here is a suffix of the whole result */
                        ck_assert(strlen(buf_peek(&part)) <= strlen(buf_peek(&whole)));
                }
        }
}
END_TEST

/* Every byte prefix either parses or fails cleanly, and never reads past n (ASan). */
START_TEST(test_parse_every_prefix)
{
        const char *text = "root: john,\n \"|/usr/bin/x y\"\n\"a b\": c # not a comment\n";
        size_t n = strlen(text);

        for (size_t i = 0; i <= n; i++) {
                _cleanup_free_ char *copy = malloc(i ? i : 1);
                _cleanup_(buf_done) Buf out = BUF_INIT(BUF_MAX_UNBOUNDED);
                unsigned line;
                int r;

                ck_assert_ptr_nonnull(copy);
                memcpy(copy, text, i);
                run_parse(copy, i, &out, &r, &line);
                ck_assert(r == 0 || r == -EBADMSG);
        }
}
END_TEST

START_TEST(test_parse_callback_error)
{
        const char *text = "a: b\nc: d\ne: f\n";
        const char *error = NULL;
        unsigned line = 0, n = 0;

        ck_assert_int_eq(alias_parse(text, strlen(text), fail_on_second, &n, &line, &error),
                         -ECANCELED);
        ck_assert_uint_eq(line, 2);
        ck_assert_uint_eq(n, 2);
}
END_TEST

START_TEST(test_parse_too_long)
{
        size_t n = ALIAS_LINE_MAX + 1024;
        _cleanup_free_ char *text = malloc(n);
        const char *error = NULL;
        unsigned line = 0;
        Buf out = BUF_INIT(BUF_MAX_UNBOUNDED);

        ck_assert_ptr_nonnull(text);
        memcpy(text, "a: b\nc: ", 8);
        memset(text + 8, 'x', n - 9);
        text[n - 1] = '\n';
        ck_assert_int_eq(alias_parse(text, n, collect, &out, &line, &error), -EMSGSIZE);
        ck_assert_uint_eq(line, 2);
        buf_done(&out);

        /* The same length reached through continuation lines. */
        for (size_t i = 8; i + 1 < n; i += 100)
                text[i] = i % 200 == 8 ? '\n' : 'y';
        for (size_t i = 9; i + 1 < n; i += 200)
                text[i] = ' ';
        line = 0;
        ck_assert_int_eq(alias_parse(text, n, collect, &out, &line, &error), -EMSGSIZE);
        ck_assert_uint_gt(line, 2);
        buf_done(&out);
}
END_TEST

static const struct {
        const char *value;
        const char *items[6];
} value_cases[] = {
        { "john", { "john" } },
        { "john, bob@example.com", { "john", "bob@example.com" } },
        { " a ,b,  c ", { "a", "b", "c" } },
        { "a,,b,", { "a", "b" } },                              /* empty items dropped */
        { "\"|/usr/bin/vacation -a x\", john", { "|/usr/bin/vacation -a x", "john" } },
        { "\"|cmd a, b\"", { "|cmd a, b" } },                    /* comma inside quotes */
        { "|/usr/bin/procmail", { "|/usr/bin/procmail" } },
        { ":include:/etc/tern/list", { ":include:/etc/tern/list" } },
        { "/var/log/mail.archive, /home/x/Maildir/", { "/var/log/mail.archive",
                                                        "/home/x/Maildir/" } },
        { "\"quoted local\"@example.com", { "\"quoted local\"@example.com" } },
        { "\"a\"@\"b\"", { "\"a\"@\"b\"" } },                    /* not one quoted string */
        { "<john@example.com>", { "john@example.com" } },
        { "John Doe <john@example.com>, x", { "john@example.com", "x" } },
        { "\"Doe, John\" <j@example.com>", { "j@example.com" } },
        { "\"/path with space\"", { "/path with space" } },
        { "\"a\\\"b\"", { "a\"b" } },                            /* escape inside quotes */
        { "a\\,b", { "a\\,b" } },                                /* escaped comma */
        { "|cmd <in", { "|cmd <in" } },                          /* commands keep '<' */
        { "\"\", a", { "a" } },
};

START_TEST(test_value_good)
{
        _cleanup_strv_free_ char **items = NULL;
        size_t i;

        ck_assert_int_eq(alias_parse_value(value_cases[_i].value, &items), 0);
        for (i = 0; value_cases[_i].items[i]; i++) {
                ck_assert_ptr_nonnull(items[i]);
                ck_assert_str_eq(items[i], value_cases[_i].items[i]);
        }
        ck_assert_ptr_null(items[i]);
}
END_TEST

static const struct {
        const char *value;
        int error;
} value_bad_cases[] = {
        { "", -EBADMSG },
        { " , ,", -EBADMSG },
        { "\"|cmd", -EBADMSG },                                  /* unterminated quote */
        { "a, \"b", -EBADMSG },
        { "|", -EBADMSG },                                       /* empty command */
        { "\"|\"", -EBADMSG },
        { ":include:", -EBADMSG },                               /* empty include */
        { ":INCLUDE:   ", -EBADMSG },
        { "John <john@example.com", -EBADMSG },                  /* '<' without '>' */
        { "<>", -EBADMSG },
        { "a <b <c>>", -EBADMSG },
        { "\"\"", -EBADMSG },
};

START_TEST(test_value_bad)
{
        char **items = NULL;

        ck_assert_int_eq(alias_parse_value(value_bad_cases[_i].value, &items),
                         value_bad_cases[_i].error);
        ck_assert_ptr_null(items);
}
END_TEST

START_TEST(test_value_too_many)
{
        _cleanup_(buf_done) Buf v = BUF_INIT(BUF_MAX_UNBOUNDED);
        _cleanup_strv_free_ char **items = NULL;

        for (unsigned i = 0; i < ALIAS_ITEMS_MAX; i++)
                ck_assert_int_eq(buf_append_str(&v, "a,"), 0);
        ck_assert_int_eq(alias_parse_value(buf_peek(&v), &items), 0);
        ck_assert_ptr_nonnull(items[ALIAS_ITEMS_MAX - 1]);
        ck_assert_ptr_null(items[ALIAS_ITEMS_MAX]);
        ck_assert_int_eq(buf_append_str(&v, "b"), 0);
        strv_freep(&items);
        items = NULL;
        ck_assert_int_eq(alias_parse_value(buf_peek(&v), &items), -E2BIG);
        ck_assert_ptr_null(items);
}
END_TEST

static const struct {
        const char *item;
        AliasItemType type;
        const char *target;
} classify_cases[] = {
        { "john", ALIAS_ITEM_ADDRESS, "john" },
        { "john@example.com", ALIAS_ITEM_ADDRESS, "john@example.com" },
        { ":include:/etc/list", ALIAS_ITEM_INCLUDE, "/etc/list" },
        { ":Include: /etc/list", ALIAS_ITEM_INCLUDE, "/etc/list" },
        { "|/usr/bin/x -y", ALIAS_ITEM_COMMAND, "/usr/bin/x -y" },
        { "/var/mail/archive", ALIAS_ITEM_FILE, "/var/mail/archive" },
        { "/home/j/Maildir/", ALIAS_ITEM_FILE, "/home/j/Maildir/" },
        { "include:/x", ALIAS_ITEM_ADDRESS, "include:/x" },
        { "\"|x\"@example.com", ALIAS_ITEM_ADDRESS, "\"|x\"@example.com" },
};

START_TEST(test_classify)
{
        const char *target = NULL;

        ck_assert_int_eq(alias_item_classify(classify_cases[_i].item, &target),
                         classify_cases[_i].type);
        ck_assert_str_eq(target, classify_cases[_i].target);
        ck_assert_int_eq(alias_item_classify(classify_cases[_i].item, NULL),
                         classify_cases[_i].type);
}
END_TEST

START_TEST(test_item_type_to_string)
{
        ck_assert_str_eq(alias_item_type_to_string(ALIAS_ITEM_ADDRESS), "address");
        ck_assert_str_eq(alias_item_type_to_string(ALIAS_ITEM_INCLUDE), "include");
        ck_assert_str_eq(alias_item_type_to_string(ALIAS_ITEM_COMMAND), "command");
        ck_assert_str_eq(alias_item_type_to_string(ALIAS_ITEM_FILE), "file");
        ck_assert_ptr_null(alias_item_type_to_string(_ALIAS_ITEM_TYPE_MAX));
        ck_assert_ptr_null(alias_item_type_to_string(_ALIAS_ITEM_TYPE_INVALID));
}
END_TEST

/* A fresh directory under $TMPDIR; *ret is malloc'd. */
static void make_tmpdir(char **ret) {
        const char *tmp = getenv("TMPDIR");
        char *d = NULL;

        ck_assert_int_ge(asprintf(&d, "%s/test_alias.XXXXXX", isempty(tmp) ? "/tmp" : tmp), 0);
        ck_assert_ptr_nonnull(mkdtemp(d));
        *ret = d;
}

static void write_file(const char *path, const char *text) {
        FILE *f = fopen(path, "we");

        ck_assert_ptr_nonnull(f);
        ck_assert_int_eq(fputs(text, f) >= 0, 1);
        ck_assert_int_eq(fclose(f), 0);
}

static void rm_rf(const char *dir) {
        _cleanup_free_ char *cmd = NULL;

        ck_assert_int_ge(asprintf(&cmd, "rm -rf '%s'", dir), 0);
        ck_assert_int_eq(system(cmd), 0);
}

static void expect_lookup(const char *spec, const char *key, const char *value) {
        _cleanup_(dict_freep) Dict *d = NULL;
        _cleanup_free_ char *error = NULL, *v = NULL;
        int r;

        ck_assert_msg(dict_open(spec, DICT_FLAG_FOLD_CASE, &d, &error) == 0, "%s: %s", spec,
                      strempty(error));
        r = dict_lookup(d, key, &v);
        if (!value) {
                ck_assert_int_eq(r, 0);
                return;
        }
        ck_assert_msg(r == 1, "%s: lookup %s: %d", spec, key, r);
        ck_assert_str_eq(v, value);
}

START_TEST(test_build_round_trip)
{
        _cleanup_free_ char *dir = NULL, *src = NULL, *db = NULL, *spec = NULL, *error = NULL;
        _cleanup_free_ char *expected = NULL, *root = NULL;
        _cleanup_strv_free_ char **warnings = NULL, **items = NULL;
        _cleanup_(dict_freep) Dict *d = NULL;
        struct stat st;

        make_tmpdir(&dir);
        ck_assert_int_ge(asprintf(&src, "%s/aliases", dir), 0);
        ck_assert_int_ge(asprintf(&db, "%s/aliases.db", dir), 0);
        ck_assert_int_ge(asprintf(&spec, "hash:%s", src), 0);
        write_file(src,
                   "# system aliases\n"
                   "MAILER-DAEMON: postmaster\n"
                   "postmaster: root\n"
                   "root: john,\n"
                   "\t\"|/usr/bin/logger -t mail\",\n"
                   "  /var/log/root.mail\n"
                   "list: :include:/etc/tern/list\n"
                   "\"Jane Doe\": jane\n"
                   "Root: duplicate\n");

        ck_assert_int_eq(alias_build(src, db, &warnings, &error), 1);
        ck_assert_ptr_null(error);
        ck_assert_int_ge(asprintf(&expected, "%s, line 9: duplicate entry: \"root\"", src), 0);
        ck_assert_ptr_nonnull(warnings);
        ck_assert_str_eq(warnings[0], expected);
        ck_assert_ptr_null(warnings[1]);
        ck_assert_int_eq(stat(db, &st), 0);

        expect_lookup(spec, "mailer-daemon", "postmaster");
        expect_lookup(spec, "MAILER-DAEMON", "postmaster");
        expect_lookup(spec, "root", "john, \"|/usr/bin/logger -t mail\", /var/log/root.mail");
        expect_lookup(spec, "jane doe", "jane");
        expect_lookup(spec, "list", ":include:/etc/tern/list");
        expect_lookup(spec, ALIAS_SENTINEL_KEY, ALIAS_SENTINEL_VALUE);
        expect_lookup(spec, "nobody", NULL);

        /* The local agent's view of a value read back. */
        ck_assert_int_eq(dict_open(spec, DICT_FLAG_FOLD_CASE, &d, &error), 0);
        ck_assert_int_eq(dict_lookup(d, "root", &root), 1);
        ck_assert_int_eq(alias_parse_value(root, &items), 0);
        ck_assert_int_eq(alias_item_classify(items[0], NULL), ALIAS_ITEM_ADDRESS);
        ck_assert_int_eq(alias_item_classify(items[1], NULL), ALIAS_ITEM_COMMAND);
        ck_assert_int_eq(alias_item_classify(items[2], NULL), ALIAS_ITEM_FILE);
        ck_assert_ptr_null(items[3]);

        rm_rf(dir);
}
END_TEST

/* A failed build names the file and line and leaves the old database answering. */
static const struct {
        const char *text;
        int error;
        const char *message;            /* after "SRC" */
} build_bad_cases[] = {
        { "a: b\nnocolon\n", -EBADMSG, ", line 2: missing ':' after the name" },
        { "a: b\nc: \"unterminated\n", -EBADMSG,
          ", line 2: bad value: unterminated quoted string" },
        { "a: b\n\nc: |\n", -EBADMSG, ", line 3: bad value: empty command after '|'" },
        { "  x\n", -EBADMSG, ", line 1: continuation line without an entry before it" },
        { "x@y: z\n", -EBADMSG, ", line 1: name must be local (no '@')" },
};

START_TEST(test_build_bad_keeps_old)
{
        _cleanup_free_ char *dir = NULL, *src = NULL, *db = NULL, *spec = NULL, *error = NULL;
        _cleanup_free_ char *expected = NULL;
        char **warnings = NULL;

        make_tmpdir(&dir);
        ck_assert_int_ge(asprintf(&src, "%s/aliases", dir), 0);
        ck_assert_int_ge(asprintf(&db, "%s/aliases.db", dir), 0);
        ck_assert_int_ge(asprintf(&spec, "hash:%s", src), 0);
        write_file(src, "old: value\n");
        ck_assert_int_eq(alias_build(src, db, NULL, &error), 0);
        ck_assert_ptr_null(error);

        write_file(src, build_bad_cases[_i].text);
        ck_assert_int_eq(alias_build(src, db, &warnings, &error), build_bad_cases[_i].error);
        ck_assert_ptr_null(warnings);
        ck_assert_int_ge(asprintf(&expected, "%s%s", src, build_bad_cases[_i].message), 0);
        ck_assert_ptr_nonnull(error);
        ck_assert_str_eq(error, expected);

        expect_lookup(spec, "old", "value");
        expect_lookup(spec, "a", NULL);
        rm_rf(dir);
}
END_TEST

START_TEST(test_build_missing_source)
{
        _cleanup_free_ char *dir = NULL, *src = NULL, *db = NULL, *error = NULL;

        make_tmpdir(&dir);
        ck_assert_int_ge(asprintf(&src, "%s/none", dir), 0);
        ck_assert_int_ge(asprintf(&db, "%s/none.db", dir), 0);
        ck_assert_int_eq(alias_build(src, db, NULL, &error), -ENOENT);
        ck_assert_ptr_nonnull(error);
        ck_assert_ptr_nonnull(strstr(error, src));
        ck_assert_int_eq(access(db, F_OK), -1);
        free(error);
        error = NULL;

        /* A directory is not an aliases file. */
        ck_assert_int_eq(alias_build(dir, db, NULL, &error), -EISDIR);
        ck_assert_ptr_nonnull(error);
        rm_rf(dir);
}
END_TEST

static Suite *alias_suite(void) {
        Suite *s = suite_create("alias");
        TCase *tc;

        tc = tcase_create("parse");
        tcase_add_loop_test(tc, test_parse_good, 0, ELEMENTSOF(good_cases));
        tcase_add_loop_test(tc, test_parse_bad, 0, ELEMENTSOF(bad_cases));
        tcase_add_test(tc, test_parse_nul_in_middle);
        tcase_add_test(tc, test_parse_split_lines);
        tcase_add_test(tc, test_parse_every_prefix);
        tcase_add_test(tc, test_parse_callback_error);
        tcase_add_test(tc, test_parse_too_long);
        suite_add_tcase(s, tc);

        tc = tcase_create("value");
        tcase_add_loop_test(tc, test_value_good, 0, ELEMENTSOF(value_cases));
        tcase_add_loop_test(tc, test_value_bad, 0, ELEMENTSOF(value_bad_cases));
        tcase_add_test(tc, test_value_too_many);
        tcase_add_loop_test(tc, test_classify, 0, ELEMENTSOF(classify_cases));
        tcase_add_test(tc, test_item_type_to_string);
        suite_add_tcase(s, tc);

        tc = tcase_create("build");
        tcase_add_test(tc, test_build_round_trip);
        tcase_add_loop_test(tc, test_build_bad_keeps_old, 0, ELEMENTSOF(build_bad_cases));
        tcase_add_test(tc, test_build_missing_source);
        suite_add_tcase(s, tc);

        return s;
}

TERN_CHECK_MAIN(alias_suite)
