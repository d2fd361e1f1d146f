/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Unit tests of dict: the source reader (entries, continuations, comments, bad and over-long
 * lines), every table type (hash: built with the builder and reopened after a rebuild,
 * texthash:, static:, inline:, cidr:, unix:, socketmap: against a server forked by the test),
 * open errors, the access(5) key search order for addresses, domains and client addresses
 * (recorded with a table type defined here), and table lists. */
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "buf.h"
#include "check_main.h"
#include "dict.h"
#include "dict_gdbm.h"
#include "dict_types.h"

/* A fresh directory under $TMPDIR for one test; removed by rm -rf at the end. */
static char *make_tmpdir(void) {
        const char *tmp = getenv("TMPDIR");
        char *d;

        ck_assert_int_ge(asprintf(&d, "%s/test-dict-XXXXXX", tmp ? tmp : "/tmp"), 0);
        ck_assert_ptr_nonnull(mkdtemp(d));
        return d;
}

static void remove_tree(char **dir) {
        _cleanup_free_ char *cmd = NULL;

        if (!*dir)
                return;
        ck_assert_int_ge(asprintf(&cmd, "rm -rf '%s'", *dir), 0);
        ck_assert_int_eq(system(cmd), 0);
        *dir = mfree(*dir);
}

static char *write_file(const char *dir, const char *name, const char *content, size_t n) {
        _cleanup_close_ int fd = -EBADF;
        char *path;

        ck_assert_int_ge(asprintf(&path, "%s/%s", dir, name), 0);
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(write(fd, content, n), (ssize_t) n);
        return path;
}

/* Collects entries as "key=value@line;" */
static int collect(const char *key, const char *value, unsigned line, void *userdata) {
        Buf *b = userdata;

        return buf_printf(b, "%s=%s@%u;", key, value, line);
}

static const struct {
        const char *content;
        bool colon_key;
        int expected;
        const char *entries;            /* on success */
        const char *error;              /* substring of the message on failure */
} source_cases[] = {
        { "a b\n", false, 0, "a=b@1;", NULL },
        { "a b", false, 0, "a=b@1;", NULL },                    /* no final newline */
        { "", false, 0, "", NULL },
        { "# comment\n\n   \na  b c  \n", false, 0, "a=b c@4;", NULL },
        { "a b\n  c\n\td\ne f\n", false, 0, "a=b  c\td@1;e=f@4;", NULL },
        { "a b\n  # inner comment\n  c\n", false, 0, "a=b  c@1;", NULL },
        { "a b\r\nc d\r\n", false, 0, "a=b@1;c=d@2;", NULL },
        { "user@example.com\tOK\n.example.com REJECT go away\n", false, 0,
          "user@example.com=OK@1;.example.com=REJECT go away@2;", NULL },
        { "  a b\n", false, -EBADMSG, NULL, ", line 1: continuation" },
        { "a b\nc\n", false, -EBADMSG, NULL, ", line 2: need \"key whitespace value\"" },
        { "a b\n\n\nnovalue   \n", false, -EBADMSG, NULL, ", line 4:" },
        { "a b\nc\0d e\n", false, -EBADMSG, NULL, ", line 2: NUL byte" },
        /* aliases(5) */
        { "postmaster: root\n", true, 0, "postmaster=root@1;", NULL },
        { "root : admin, other\n  third\n", true, 0, "root=admin, other  third@1;", NULL },
        { "\"odd:name\": x\n", true, 0, "\"odd:name\"=x@1;", NULL },
        { "a: b\nnocolon\n", true, -EBADMSG, NULL, ", line 2: need \"name: value\"" },
        { "a:\n", true, -EBADMSG, NULL, ", line 1: no value after ':'" },
        { ": x\n", true, -EBADMSG, NULL, ", line 1: empty name" },
};

START_TEST(test_source_cases)
{
        _cleanup_(remove_tree) char *dir = make_tmpdir();
        _cleanup_(buf_done) Buf b = BUF_INIT(BUF_MAX_UNBOUNDED);
        _cleanup_free_ char *path = NULL, *error = NULL;
        const char *content = source_cases[_i].content;
        /* the NUL case has an embedded NUL: its length is that of the literal */
        size_t n = strlen(content);
        int r;

        if (strstr(source_cases[_i].error ? source_cases[_i].error : "", "NUL"))
                n = 10;
        path = write_file(dir, "table", content, n);
        r = dict_source_read(path, source_cases[_i].colon_key, collect, &b, &error);
        ck_assert_int_eq(r, source_cases[_i].expected);
        if (r == 0) {
                ck_assert_str_eq(buf_peek(&b), source_cases[_i].entries);
                ck_assert_ptr_null(error);
        } else {
                ck_assert_ptr_nonnull(error);
                ck_assert_msg(strstr(error, path), "message without file name: %s", error);
                ck_assert_msg(strstr(error, source_cases[_i].error), "message: %s", error);
        }
}
END_TEST

START_TEST(test_source_long_lines)
{
        _cleanup_(remove_tree) char *dir = make_tmpdir();
        _cleanup_(buf_done) Buf b = BUF_INIT(BUF_MAX_UNBOUNDED);
        _cleanup_(buf_done) Buf content = BUF_INIT(BUF_MAX_UNBOUNDED);
        _cleanup_free_ char *path = NULL, *error = NULL;
        _cleanup_free_ char *vs = malloc(DICT_SOURCE_LINE_MAX);

        ck_assert_ptr_nonnull(vs);
        memset(vs, 'v', DICT_SOURCE_LINE_MAX);

        /* exactly at the limit: accepted */
        ck_assert_int_eq(buf_append_str(&content, "k "), 0);
        ck_assert_int_eq(buf_append(&content, vs, DICT_SOURCE_LINE_MAX - 2), 0);
        ck_assert_int_eq(buf_append_str(&content, "\n"), 0);
        path = write_file(dir, "ok", buf_peek(&content), buf_pending(&content));
        ck_assert_int_eq(dict_source_read(path, false, collect, &b, &error), 0);
        ck_assert_uint_eq(buf_pending(&b), DICT_SOURCE_LINE_MAX + 3);   /* "k " -> "k=", "@1;" */
        path = mfree(path);

        /* one byte more on line 2: rejected with the line number */
        buf_clear(&content);
        ck_assert_int_eq(buf_append_str(&content, "a b\nk "), 0);
        ck_assert_int_eq(buf_append(&content, vs, DICT_SOURCE_LINE_MAX - 1), 0);
        path = write_file(dir, "long", buf_peek(&content), buf_pending(&content));
        ck_assert_int_eq(dict_source_read(path, false, collect, &b, &error), -EBADMSG);
        ck_assert_msg(strstr(error, ", line 2: line longer than"), "%s", error);
        path = mfree(path);

        /* continuation lines each short, joined too long */
        buf_clear(&content);
        ck_assert_int_eq(buf_append_str(&content, "k v\n"), 0);
        for (size_t i = 0; i < DICT_SOURCE_LINE_MAX / 1000 + 1; i++) {
                ck_assert_int_eq(buf_append_char(&content, ' '), 0);
                ck_assert_int_eq(buf_append(&content, vs, 999), 0);
                ck_assert_int_eq(buf_append_char(&content, '\n'), 0);
        }
        path = write_file(dir, "joined", buf_peek(&content), buf_pending(&content));
        ck_assert_int_eq(dict_source_read(path, false, collect, &b, &error), -EBADMSG);
        ck_assert_msg(strstr(error, "logical line longer than"), "%s", error);
}
END_TEST

static int stop_at_second(const char *key, const char *value, unsigned line, void *userdata) {
        unsigned *count = userdata;

        return ++*count == 2 ? -ECANCELED : 0;
}

START_TEST(test_source_files)
{
        _cleanup_(remove_tree) char *dir = make_tmpdir();
        _cleanup_free_ char *path = NULL, *error = NULL, *missing = NULL;
        unsigned count = 0;

        ck_assert_int_ge(asprintf(&missing, "%s/nonexistent", dir), 0);
        ck_assert_int_eq(dict_source_read(missing, false, stop_at_second, &count, &error),
                         -ENOENT);
        ck_assert_msg(strstr(error, missing), "%s", error);

        /* a directory where a file is expected (tests run as root: chmod 000 proves nothing) */
        ck_assert_int_eq(dict_source_read(dir, false, stop_at_second, &count, &error), -EISDIR);
        ck_assert_msg(strstr(error, dir), "%s", error);

        /* the callback's error stops the read */
        path = write_file(dir, "t", "a 1\nb 2\nc 3\n", 12);
        ck_assert_int_eq(dict_source_read(path, false, stop_at_second, &count, &error),
                         -ECANCELED);
        ck_assert_uint_eq(count, 2);

        if (geteuid() != 0) {
                ck_assert_int_eq(chmod(path, 0), 0);
                ck_assert_int_eq(dict_source_read(path, false, stop_at_second, &count, &error),
                                 -EACCES);
        }
}
END_TEST

/* Looks key up in spec; expected NULL means "not found". */
static void assert_lookup(Dict *d, const char *key, const char *expected) {
        _cleanup_free_ char *v = NULL;
        int r;

        r = dict_lookup(d, key, &v);
        if (!expected) {
                ck_assert_msg(r == 0, "%s: lookup \"%s\" returned %d (%s)", d->spec, key, r,
                              strempty(v));
                return;
        }
        ck_assert_msg(r == 1, "%s: lookup \"%s\" returned %d", d->spec, key, r);
        ck_assert_str_eq(v, expected);
}

static int build_hash(const char *db_path, const char *const *kv) {
        _cleanup_(dict_builder_freep) DictBuilder *b = NULL;
        int r;

        r = dict_builder_new(db_path, &b);
        if (r < 0)
                return r;
        for (; *kv; kv += 2) {
                r = dict_builder_add(b, kv[0], kv[1]);
                if (r < 0)
                        return r;
        }
        return dict_builder_commit(b);
}

static int dump(const char *key, const char *value, void *userdata) {
        return buf_printf(userdata, "%s=%s;", key, value);
}

START_TEST(test_hash)
{
        _cleanup_(remove_tree) char *dir = make_tmpdir();
        _cleanup_free_ char *name = NULL, *db = NULL, *spec = NULL, *error = NULL;
        _cleanup_(dict_builder_freep) DictBuilder *b = NULL;
        _cleanup_(buf_done) Buf out = BUF_INIT(BUF_MAX_UNBOUNDED);
        _cleanup_(dict_freep) Dict *d = NULL;
        static const char *const v1[] = { "user@example.com", "OK", "example.com", "REJECT no",
                                          "mixed", "Value With Case", NULL };
        static const char *const v2[] = { "example.com", "DISCARD", "new.key", "1", NULL };
        struct stat st;

        ck_assert_int_ge(asprintf(&name, "%s/access", dir), 0);
        ck_assert_int_ge(asprintf(&db, "%s/access.db", dir), 0);
        ck_assert_int_ge(asprintf(&spec, "hash:%s", name), 0);

        /* missing: the message names NAME.db */
        ck_assert_int_eq(dict_open(spec, DICT_FLAGS_DEFAULT, &d, &error), -ENOENT);
        ck_assert_msg(strstr(error, db), "%s", error);

        /* duplicates keep the first; an uncommitted builder leaves nothing behind */
        ck_assert_int_eq(dict_builder_new(db, &b), 0);
        ck_assert_int_eq(dict_builder_add(b, "k", "1"), 0);
        ck_assert_int_eq(dict_builder_add(b, "k", "2"), -EEXIST);
        b = dict_builder_free(b);
        ck_assert_int_eq(dict_open(spec, DICT_FLAGS_DEFAULT, &d, &error), -ENOENT);
        {
                _cleanup_free_ char *cmd = NULL;

                ck_assert_int_ge(asprintf(&cmd, "test $(ls -A '%s' | wc -l) -eq 0", dir), 0);
                ck_assert_int_eq(system(cmd), 0);
        }

        ck_assert_int_eq(build_hash(db, v1), 0);
        ck_assert_int_eq(stat(db, &st), 0);
        ck_assert_int_eq(st.st_mode & 0777, 0644);
        ck_assert_int_eq(dict_open(spec, DICT_FLAGS_DEFAULT, &d, &error), 0);
        ck_assert_str_eq(d->spec, spec);
        assert_lookup(d, "user@example.com", "OK");
        assert_lookup(d, "USER@Example.COM", "OK");             /* folded lookup key */
        assert_lookup(d, "example.com", "REJECT no");
        assert_lookup(d, "mixed", "Value With Case");
        assert_lookup(d, "other", NULL);
        assert_lookup(d, "", NULL);
        ck_assert_int_eq(d->type->iterate(d, dump, &out), 0);
        ck_assert_uint_eq(buf_pending(&out), strlen("user@example.com=OK;example.com=REJECT no;"
                                                    "mixed=Value With Case;"));

        /* a rebuild (with a new mode kept by the next build) is seen by the open reader */
        ck_assert_int_eq(chmod(db, 0640), 0);
        ck_assert_int_eq(build_hash(db, v2), 0);
        ck_assert_int_eq(stat(db, &st), 0);
        ck_assert_int_eq(st.st_mode & 0777, 0640);
        assert_lookup(d, "example.com", "DISCARD");
        assert_lookup(d, "new.key", "1");
        assert_lookup(d, "user@example.com", NULL);

        /* NAME.db removed under the reader: it keeps answering from the file it has open */
        ck_assert_int_eq(unlink(db), 0);
        assert_lookup(d, "example.com", "DISCARD");
        ck_assert_int_eq(build_hash(db, v2), 0);
        d = dict_free(d);

        /* without folding, keys are exact */
        ck_assert_int_eq(dict_open(spec, DICT_FLAG_NONE, &d, &error), 0);
        assert_lookup(d, "Example.com", NULL);
        d = dict_free(d);

        /* not a GDBM file; a directory */
        ck_assert_int_eq(unlink(db), 0);
        free(write_file(dir, "access.db", "not a database\n", 15));
        ck_assert_int_eq(dict_open(spec, DICT_FLAGS_DEFAULT, &d, &error), -EBADMSG);
        ck_assert_msg(strstr(error, db), "%s", error);
        ck_assert_int_eq(unlink(db), 0);
        ck_assert_int_eq(mkdir(db, 0755), 0);
        ck_assert_int_eq(dict_open(spec, DICT_FLAGS_DEFAULT, &d, &error), -EISDIR);
        ck_assert_msg(strstr(error, db), "%s", error);
}
END_TEST

START_TEST(test_texthash)
{
        _cleanup_(remove_tree) char *dir = make_tmpdir();
        _cleanup_free_ char *path = NULL, *spec = NULL, *error = NULL;
        _cleanup_(buf_done) Buf out = BUF_INIT(BUF_MAX_UNBOUNDED);
        _cleanup_(dict_freep) Dict *d = NULL;
        static const char content[] = "# relocated\nAlice@Example.COM  OK\nbob@x  first\n"
                                      "bob@x second\nlong value\n   continued here\n";

        path = write_file(dir, "t", content, strlen(content));
        ck_assert_int_ge(asprintf(&spec, "texthash:%s", path), 0);
        ck_assert_int_eq(dict_open(spec, DICT_FLAGS_DEFAULT, &d, &error), 0);
        assert_lookup(d, "alice@example.com", "OK");
        assert_lookup(d, "ALICE@example.com", "OK");
        assert_lookup(d, "bob@x", "first");
        assert_lookup(d, "long", "value   continued here");
        assert_lookup(d, "nobody", NULL);
        ck_assert_int_eq(d->type->iterate(d, dump, &out), 0);
        ck_assert_str_eq(buf_peek(&out),
                         "alice@example.com=OK;bob@x=first;long=value   continued here;");
        d = dict_free(d);

        ck_assert_int_eq(dict_open(spec, DICT_FLAG_NONE, &d, &error), 0);
        assert_lookup(d, "alice@example.com", NULL);
        assert_lookup(d, "Alice@Example.COM", "OK");
        d = dict_free(d);

        /* many keys (table growth) */
        {
                _cleanup_(buf_done) Buf big = BUF_INIT(BUF_MAX_UNBOUNDED);
                _cleanup_free_ char *p2 = NULL, *s2 = NULL;

                for (unsigned i = 0; i < 1000; i++)
                        ck_assert_int_eq(buf_printf(&big, "key%u value%u\n", i, i), 0);
                p2 = write_file(dir, "big", buf_peek(&big), buf_pending(&big));
                ck_assert_int_ge(asprintf(&s2, "texthash:%s", p2), 0);
                ck_assert_int_eq(dict_open(s2, DICT_FLAGS_DEFAULT, &d, &error), 0);
                assert_lookup(d, "key0", "value0");
                assert_lookup(d, "key777", "value777");
                assert_lookup(d, "key999", "value999");
                assert_lookup(d, "key1000", NULL);
                d = dict_free(d);
        }

        free(write_file(dir, "t", "ok 1\nbad\n", 9));
        ck_assert_int_eq(dict_open(spec, DICT_FLAGS_DEFAULT, &d, &error), -EBADMSG);
        ck_assert_msg(strstr(error, ", line 2:") && strstr(error, path), "%s", error);
}
END_TEST

static const struct {
        const char *spec;
        const char *key;
        int expected;                   /* of the open when < 0, else of the lookup */
        const char *value;
} inline_cases[] = {
        { "static:OK", "anything", 1, "OK" },
        { "static:{ REJECT with spaces, and commas }", "x", 1, "REJECT with spaces, and commas" },
        { "static:{}", "x", 1, "" },
        { "static:", "x", 1, "" },
        { "static:{ unclosed", "x", -EBADMSG, NULL },
        { "static:{ a } trailing", "x", -EBADMSG, NULL },
        { "inline:{ a=1, b=2 }", "a", 1, "1" },
        { "inline:{ a=1, b=2 }", "b", 1, "2" },
        { "inline:{ a=1, b=2 }", "c", 0, NULL },
        { "inline:{ A=1 }", "a", 1, "1" },                      /* folded keys */
        { "inline:{a=1,b=2}", "B", 1, "2" },
        { "inline:{ a=1 b=2\tc=3 }", "c", 1, "3" },
        { "inline:{ { k = value with, commas }, x=y }", "k", 1, "value with, commas" },
        { "inline:{ { k = value with, commas }, x=y }", "x", 1, "y" },
        { "inline:{ {k=v{nested}} }", "k", 1, "v{nested}" },
        { "inline:{ a=1, a=2 }", "a", 1, "1" },                  /* first wins */
        { "inline:{ a= }", "a", 1, "" },
        { "inline:{ }", "a", 0, NULL },
        { "inline:{ a=1, b }", "a", -EBADMSG, NULL },
        { "inline:{ =1 }", "a", -EBADMSG, NULL },
        { "inline:{ { = 1 } }", "a", -EBADMSG, NULL },
        { "inline:a=1", "a", -EBADMSG, NULL },
        { "inline:{ a=1", "a", -EBADMSG, NULL },
        { "inline:{ {a=1 }", "a", -EBADMSG, NULL },
        { "inline:{ {a=1}x }", "a", -EBADMSG, NULL },
        { "inline:{ a=}1 }", "a", -EBADMSG, NULL },
};

START_TEST(test_inline_cases)
{
        _cleanup_(dict_freep) Dict *d = NULL;
        _cleanup_free_ char *error = NULL, *v = NULL;
        int r;

        r = dict_open(inline_cases[_i].spec, DICT_FLAGS_DEFAULT, &d, &error);
        if (inline_cases[_i].expected < 0) {
                ck_assert_int_eq(r, inline_cases[_i].expected);
                ck_assert_ptr_nonnull(error);
                return;
        }
        ck_assert_msg(r == 0, "%s: %s", inline_cases[_i].spec, strempty(error));
        ck_assert_int_eq(dict_lookup(d, inline_cases[_i].key, &v), inline_cases[_i].expected);
        if (inline_cases[_i].value)
                ck_assert_str_eq(v, inline_cases[_i].value);
}
END_TEST

static const char cidr_table[] =
        "# client.cidr\n"
        "192.168.1.1             OK\n"
        "192.168.0.0/16          REJECT local net\n"
        "2001:db8::1             OK v6\n"
        "2001:db8::/32           REJECT v6 net\n"
        "[2001:db9::]/32         bracketed\n"
        "if 10.0.0.0/8\n"
        "if !10.1.0.0/16\n"
        "10.2.3.4                inner\n"
        "endif\n"
        "10.0.0.0/9              outer\n"
        "endif\n"
        "!172.16.0.0/12          not private\n"
        "172.16.0.0/12           private\n"
        "::/0                    any v6\n";

static const struct {
        const char *key;
        const char *value;
} cidr_lookups[] = {
        { "192.168.1.1", "OK" },
        { "192.168.1.2", "REJECT local net" },
        { "[192.168.1.2]", "REJECT local net" },
        { "192.169.0.1", "not private" },
        { "2001:db8::1", "OK v6" },
        { "2001:0db8:0:0::1", "OK v6" },
        { "2001:DB8::2", "REJECT v6 net" },
        { "[2001:db8::2]", "REJECT v6 net" },
        { "2001:db9:ffff::1", "bracketed" },
        { "10.2.3.4", "inner" },
        { "10.1.3.4", "outer" },                /* the inner if excludes 10.1/16 */
        { "10.100.0.1", "outer" },
        { "10.200.0.1", "not private" },        /* past the /9, out of the if block */
        { "172.16.5.5", "private" },
        { "::1", "any v6" },                    /* a v4 negation never matches v6 */
        { "not-an-address", NULL },
        { "", NULL },
        { "1.2.3.4.5", NULL },
        { "01.2.3.4", NULL },
};

START_TEST(test_cidr)
{
        _cleanup_(remove_tree) char *dir = make_tmpdir();
        _cleanup_free_ char *path = NULL, *spec = NULL, *error = NULL;
        _cleanup_(dict_freep) Dict *d = NULL;

        path = write_file(dir, "client.cidr", cidr_table, strlen(cidr_table));
        ck_assert_int_ge(asprintf(&spec, "cidr:%s", path), 0);
        ck_assert_int_eq(dict_open(spec, DICT_FLAGS_DEFAULT, &d, &error), 0);
        ck_assert(d->flags & DICT_FLAG_PATTERN);
        for (size_t i = 0; i < ELEMENTSOF(cidr_lookups); i++)
                assert_lookup(d, cidr_lookups[i].key, cidr_lookups[i].value);
        d = dict_free(d);

        ck_assert_int_eq(dict_open("cidr:{ { 192.0.2.0/24 inline ok }, { ::/0 v6 } }",
                                   DICT_FLAGS_DEFAULT, &d, &error), 0);
        assert_lookup(d, "192.0.2.77", "inline ok");
        assert_lookup(d, "2001:db8::1", "v6");
        assert_lookup(d, "192.0.3.1", NULL);
        d = dict_free(d);
        ck_assert_int_eq(dict_open("cidr:{ { 192.0.2.0/24 ok }", DICT_FLAGS_DEFAULT, &d,
                                   &error), -EBADMSG);
}
END_TEST

static const struct {
        const char *content;
        const char *error;
} cidr_bad[] = {
        { "1.2.3.4 OK\n1.2.3.0/33 X\n", ", line 2: bad address pattern" },
        { "1.2.3.4/24 X\n", ", line 1: bad address pattern" },       /* host bits */
        { "# c\n1.2.3.4\n", ", line 2: no result" },
        { "bogus OK\n", ", line 1: bad address pattern" },
        { "1.2.3.256 OK\n", ", line 1: bad address pattern" },
        { "2001:db8::/129 OK\n", ", line 1: bad address pattern" },
        { "!!1.2.3.4 OK\n", ", line 1: bad address pattern" },
        { "endif\n", ", line 1: \"endif\" without \"if\"" },
        { "if 1.2.3.0/24\n1.2.3.4 OK\n", "\"if\" without \"endif\"" },
        { "if\nendif\n", ", line 1: \"if\" without a pattern" },
        { "if 1.2.3.0/24 extra\nendif\n", ", line 1: text after" },
        { "if 1.2.3.0/24\nendif x\n", ", line 2: text after \"endif\"" },
        { "  1.2.3.4 OK\n", ", line 1: continuation" },
};

START_TEST(test_cidr_bad)
{
        _cleanup_(remove_tree) char *dir = make_tmpdir();
        _cleanup_free_ char *path = NULL, *spec = NULL, *error = NULL;
        _cleanup_(dict_freep) Dict *d = NULL;

        path = write_file(dir, "bad.cidr", cidr_bad[_i].content, strlen(cidr_bad[_i].content));
        ck_assert_int_ge(asprintf(&spec, "cidr:%s", path), 0);
        ck_assert_int_eq(dict_open(spec, DICT_FLAGS_DEFAULT, &d, &error), -EBADMSG);
        ck_assert_msg(strstr(error, path) && strstr(error, cidr_bad[_i].error), "%s", error);
}
END_TEST

START_TEST(test_cidr_nesting)
{
        _cleanup_(buf_done) Buf text = BUF_INIT(BUF_MAX_UNBOUNDED);
        _cleanup_(remove_tree) char *dir = make_tmpdir();
        _cleanup_free_ char *path = NULL, *spec = NULL, *error = NULL;
        _cleanup_(dict_freep) Dict *d = NULL;

        for (unsigned i = 0; i < 101; i++)
                ck_assert_int_eq(buf_append_str(&text, "if 0.0.0.0/0\n"), 0);
        path = write_file(dir, "deep.cidr", buf_peek(&text), buf_pending(&text));
        ck_assert_int_ge(asprintf(&spec, "cidr:%s", path), 0);
        ck_assert_int_eq(dict_open(spec, DICT_FLAGS_DEFAULT, &d, &error), -EBADMSG);
        ck_assert_msg(strstr(error, ", line 101: \"if\" nested deeper"), "%s", error);
}
END_TEST

START_TEST(test_unix)
{
        _cleanup_(dict_freep) Dict *d = NULL;
        _cleanup_free_ char *error = NULL, *v = NULL;

        ck_assert_int_eq(dict_open("unix:passwd.byname", DICT_FLAGS_DEFAULT, &d, &error), 0);
        ck_assert_int_eq(dict_lookup(d, "root", &v), 1);
        ck_assert_msg(startswith(v, "root:") && strstr(v, ":0:0:") && strstr(v, ":/root:"),
                      "%s", v);
        v = mfree(v);
        ck_assert_int_eq(dict_lookup(d, "no-such-user-tern-test", &v), 0);
        ck_assert_int_eq(dict_lookup(d, "", &v), 0);
        /* Address keys and path-like keys are never account names. */
        ck_assert_int_eq(dict_lookup(d, "root@example.test", &v), 0);
        ck_assert_int_eq(dict_lookup(d, "root/x", &v), 0);
        d = dict_free(d);

        ck_assert_int_eq(dict_open("unix:group.byname", DICT_FLAGS_DEFAULT, &d, &error), 0);
        ck_assert_int_eq(dict_lookup(d, "root", &v), 1);
        ck_assert_msg(startswith(v, "root:") && strstr(v, ":0:"), "%s", v);
        v = mfree(v);
        ck_assert_int_eq(dict_lookup(d, "no-such-group-tern-test", &v), 0);
        d = dict_free(d);

        ck_assert_int_eq(dict_open("unix:shadow.byname", DICT_FLAGS_DEFAULT, &d, &error),
                         -EPROTONOSUPPORT);
        ck_assert_msg(strstr(error, "shadow.byname"), "%s", error);
}
END_TEST

/* The socketmap server of the tests: answers by key. */
static void sockmap_reply(int fd, const char *reply) {
        char out[256];
        int n = snprintf(out, sizeof out, "%zu:%s,", strlen(reply), reply);

        (void) !write(fd, out, (size_t) n);
}

static void sockmap_serve_connection(int fd) {
        char req[1024];

        for (;;) {
                size_t n = 0;
                const char *key;
                char *colon;

                /* read one netstring (small, test-only; the client side is what is tested) */
                for (;;) {
                        ssize_t k = read(fd, req + n, 1);

                        if (k <= 0)
                                return;
                        n++;
                        colon = memchr(req, ':', n);
                        if (colon && req[n - 1] == ',' &&
                            n - (size_t) (colon - req) - 2 == strtoul(req, NULL, 10))
                                break;
                        if (n == sizeof req - 1)
                                return;
                }
                req[n - 1] = '\0';
                key = strchr(colon, ' ');
                if (!key || strncmp(colon + 1, "mymap ", 6) != 0) {
                        sockmap_reply(fd, "PERM bad map");
                        continue;
                }
                key++;
                if (streq(key, "found"))
                        sockmap_reply(fd, "OK the value");
                else if (streq(key, "empty"))
                        sockmap_reply(fd, "OK ");
                else if (streq(key, "temp"))
                        sockmap_reply(fd, "TEMP try later");
                else if (streq(key, "timeout"))
                        sockmap_reply(fd, "TIMEOUT slow backend");
                else if (streq(key, "perm"))
                        sockmap_reply(fd, "PERM broken");
                else if (streq(key, "garbage"))
                        (void) !write(fd, "hello world", 11);
                else if (streq(key, "badword"))
                        sockmap_reply(fd, "MAYBE so");
                else if (streq(key, "toolong")) {
                        (void) !write(fd, "100001:", 7);
                } else if (streq(key, "extra")) {
                        /* one write: the client sees both netstrings at once */
                        (void) !write(fd, "4:OK x,3:abc,", 13);
                } else if (streq(key, "bye")) {
                        sockmap_reply(fd, "OK bye");
                        return;                         /* closes the connection */
                } else if (streq(key, "hangup"))
                        return;
                else if (streq(key, "silent"))
                        continue;                       /* never answers */
                else if (streq(key, "half")) {
                        (void) !write(fd, "10:OK ", 6);
                        return;
                } else
                        sockmap_reply(fd, "NOTFOUND ");
        }
}

static pid_t sockmap_server_start(const char *path) {
        struct sockaddr_un sun = { .sun_family = AF_UNIX };
        int fd;
        pid_t pid;

        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ck_assert_int_ge(fd, 0);
        ck_assert_uint_lt(strlen(path), sizeof sun.sun_path);
        strcpy(sun.sun_path, path);
        ck_assert_int_eq(bind(fd, (struct sockaddr *) &sun, sizeof sun), 0);
        ck_assert_int_eq(listen(fd, 8), 0);

        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                for (;;) {
                        int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);

                        if (c < 0)
                                _exit(EXIT_FAILURE);
                        sockmap_serve_connection(c);
                        close(c);
                }
        }
        close(fd);
        return pid;
}

static void sockmap_server_stop(pid_t *pid) {
        if (*pid <= 0)
                return;
        (void) kill(*pid, SIGKILL);
        (void) waitpid(*pid, NULL, 0);
}

static const struct {
        const char *key;
        int expected;
        const char *value;
} sockmap_cases[] = {
        { "found", 1, "the value" },
        { "empty", 1, "" },
        { "other", 0, NULL },
        { "temp", -EAGAIN, NULL },
        { "timeout", -ETIMEDOUT, NULL },
        { "perm", -EREMOTEIO, NULL },
        { "garbage", -EBADMSG, NULL },
        { "badword", -EBADMSG, NULL },
        { "toolong", -EMSGSIZE, NULL },
        { "extra", -EBADMSG, NULL },
        { "half", -EBADMSG, NULL },
        { "found", 1, "the value" },            /* a fresh connection after the errors */
        { "bye", 1, "bye" },
        { "found", 1, "the value" },            /* the server closed: reconnected, retried */
        { "Found", 0, NULL },                   /* whole keys, not folded */
};

START_TEST(test_socketmap)
{
        _cleanup_(remove_tree) char *dir = make_tmpdir();
        _cleanup_(sockmap_server_stop) pid_t pid = 0;
        _cleanup_free_ char *path = NULL, *spec = NULL, *error = NULL;
        _cleanup_(dict_freep) Dict *d = NULL;

        ck_assert_int_ge(asprintf(&path, "%s/sockmap", dir), 0);
        ck_assert_int_ge(asprintf(&spec, "socketmap:unix:%s:mymap", path), 0);

        /* no server yet: the open succeeds, the lookup fails */
        ck_assert_int_eq(dict_open(spec, DICT_FLAGS_DEFAULT, &d, &error), 0);
        ck_assert(d->flags & DICT_FLAG_PATTERN);
        ck_assert_int_eq(dict_socketmap_set_timeout(d, 5 * UINT64_C(1000000)), 0);
        {
                _cleanup_free_ char *v = NULL;

                ck_assert_int_eq(dict_lookup(d, "found", &v), -ENOENT);
        }

        pid = sockmap_server_start(path);
        for (size_t i = 0; i < ELEMENTSOF(sockmap_cases); i++) {
                _cleanup_free_ char *v = NULL;
                int r = dict_lookup(d, sockmap_cases[i].key, &v);

                ck_assert_msg(r == sockmap_cases[i].expected, "%s: %d", sockmap_cases[i].key, r);
                if (sockmap_cases[i].value)
                        ck_assert_str_eq(v, sockmap_cases[i].value);
        }

        /* a connection that the server closes without replying, on a fresh connection */
        {
                _cleanup_free_ char *v = NULL;

                ck_assert_int_eq(dict_lookup(d, "hangup", &v), -ECONNRESET);
                ck_assert_int_eq(dict_lookup(d, "found", &v), 1);
        }

        /* a server that does not answer: the lookup times out, the next one reconnects */
        {
                _cleanup_free_ char *v = NULL;

                ck_assert_int_eq(dict_socketmap_set_timeout(d, 100 * 1000), 0);
                ck_assert_int_eq(dict_lookup(d, "silent", &v), -ETIMEDOUT);
                ck_assert_int_eq(dict_socketmap_set_timeout(d, 5 * UINT64_C(1000000)), 0);
                ck_assert_int_eq(dict_lookup(d, "found", &v), 1);
                ck_assert_str_eq(v, "the value");
        }

        /* the map name goes into the request */
        d = dict_free(d);
        spec = mfree(spec);
        ck_assert_int_ge(asprintf(&spec, "socketmap:unix:%s:othermap", path), 0);
        ck_assert_int_eq(dict_open(spec, DICT_FLAGS_DEFAULT, &d, &error), 0);
        {
                _cleanup_free_ char *v = NULL;

                ck_assert_int_eq(dict_lookup(d, "found", &v), -EREMOTEIO);
        }
        d = dict_free(d);

        ck_assert_int_eq(dict_open("static:x", DICT_FLAGS_DEFAULT, &d, &error), 0);
        ck_assert_int_eq(dict_socketmap_set_timeout(d, 1), -EINVAL);
}
END_TEST

static const struct {
        const char *reply;
        int expected;
        const char *value;
} reply_cases[] = {
        { "12:OK the value,", 1, "the value" },
        { "3:OK ,", 1, "" },
        { "9:NOTFOUND ,", 2, NULL },
        { "8:NOTFOUND,", 2, NULL },
        { "14:TEMP try later,", -EAGAIN, NULL },
        { "4:TEMP,", -EAGAIN, NULL },
        { "12:TIMEOUT slow,", -ETIMEDOUT, NULL },
        { "11:PERM broken,", -EREMOTEIO, NULL },
        { "2:OK,", -EBADMSG, NULL },            /* "OK" needs its space */
        { "9:NOTFOUNDX,", -EBADMSG, NULL },
        { "8:TEMPORARY,", -EBADMSG, NULL },
        { "5:OK \\0x,", -EBADMSG, NULL },        /* see below: a NUL inside */
        { "4:OK x;", -EBADMSG, NULL },
        { "01:x,", -EBADMSG, NULL },
        { ":OK,", -EBADMSG, NULL },
        { "x:OK,", -EBADMSG, NULL },
        { "-1:x,", -EBADMSG, NULL },
        { "100000:", 0, NULL },                 /* at the limit: waits for the data */
        { "100001:", -EMSGSIZE, NULL },
        { "1000000", -EMSGSIZE, NULL },
        { "99999", 0, NULL },
        { "", 0, NULL },
};

START_TEST(test_socketmap_reply_cases)
{
        _cleanup_free_ char *reply = strdup(reply_cases[_i].reply);
        size_t n = strlen(reply), used = 0;
        char *nul = strstr(reply, "\\0");
        int r;

        ck_assert_ptr_nonnull(reply);
        if (nul) {                              /* "\\0" in the table stands for a NUL byte */
                nul[0] = '\0';
                memmove(nul + 1, nul + 2, strlen(nul + 2) + 1);
                n--;
        }

        /* every proper prefix needs more bytes, or fails the same way */
        for (size_t k = 0; k < n; k++) {
                _cleanup_free_ char *v = NULL;
                size_t u = 0;
                int q = dict_socketmap_parse_reply(reply, k, &u, &v);

                ck_assert_msg(q == 0 || q == reply_cases[_i].expected,
                              "%s: prefix %zu gave %d", reply_cases[_i].reply, k, q);
                ck_assert_int_le(q, 0);
        }
        {
                _cleanup_free_ char *v = NULL;

                r = dict_socketmap_parse_reply(reply, n, &used, &v);
                ck_assert_int_eq(r, reply_cases[_i].expected);
                if (r > 0)
                        ck_assert_uint_eq(used, n);
                if (reply_cases[_i].value)
                        ck_assert_str_eq(v, reply_cases[_i].value);
                else
                        ck_assert_ptr_null(v);
        }
}
END_TEST

static const struct {
        const char *spec;
        int expected;
} open_cases[] = {
        { "socketmap:unix:/run/x:name", 0 },
        { "socketmap:inet:127.0.0.1:9999:name", 0 },
        { "socketmap:inet:[::1]:9999:name", 0 },
        { "socketmap:inet:localhost:name", -EBADMSG },
        { "socketmap:unix:/run/x", -EBADMSG },
        { "socketmap:unix::name", -EBADMSG },
        { "socketmap:tcp:/run/x:name", -EBADMSG },
        { "socketmap:unix:/run/x:", -EBADMSG },
        { "nosuchtype:/etc/x", -EPROTONOSUPPORT },
        { "bad-type:/etc/x", -EBADMSG },
        { ":x", -EBADMSG },
        { "::1::2", -EBADMSG },
        { "2001:db8::1/32", -EBADMSG },
        { "x2:y", -EPROTONOSUPPORT },
        { "/etc/tern/access", -EBADMSG },
        { "hash:", -EBADMSG },
        { "proxy:static:yes", 0 },
        { "proxy:nosuchtype:x", -EPROTONOSUPPORT },
        { "cidr:/nonexistent/tern/x.cidr", -ENOENT },
        { "texthash:/nonexistent/tern/x", -ENOENT },
        { "hash:/nonexistent/tern/x", -ENOENT },
        { "cidr:/", -EISDIR },                  /* unreadable as a table (tests run as root) */
        { "texthash:/", -EISDIR },
        { "cidr:{ { 1.2.3.4 x }, { 1.2.3.4/8 y } }", -EBADMSG },
};

START_TEST(test_open_cases)
{
        _cleanup_(dict_freep) Dict *d = NULL;
        _cleanup_free_ char *error = NULL;
        int r;

        r = dict_open(open_cases[_i].spec, DICT_FLAGS_DEFAULT, &d, &error);
        ck_assert_msg(r == open_cases[_i].expected, "%s: %d %s", open_cases[_i].spec, r,
                      strempty(error));
        if (r < 0)
                ck_assert_ptr_nonnull(error);
        if (r == -EPROTONOSUPPORT || r == -ENOENT) {
                const char *colon = strrchr(open_cases[_i].spec, ':');
                const char *spec = startswith(open_cases[_i].spec, "proxy:");

                /* the message names the table or the file */
                if (!spec)
                        spec = open_cases[_i].spec;
                ck_assert_msg(strstr(error, r == -ENOENT ? colon + 1 : spec), "%s", error);
        }
}
END_TEST

/* A table type that records the keys it is asked and finds nothing, or finds one key. */
typedef struct Recorder {
        Dict head;
        Buf keys;
        const char *answer_key;
} Recorder;

static int recorder_lookup(Dict *d, const char *key, char **ret_value) {
        Recorder *rec = (Recorder *) d;

        ck_assert_int_eq(buf_printf(&rec->keys, "%s|", key), 0);
        if (rec->answer_key && streq(key, rec->answer_key)) {
                *ret_value = strdup("hit");
                return 1;
        }
        return 0;
}

static void recorder_free(Dict *d) {
}

static const DictType recorder_type = {
        .name = "recorder",
        .lookup = recorder_lookup,
        .free = recorder_free,
};

enum { ADDRESS, DOMAIN, CLIENT };

static const struct {
        int kind;
        DictFlags flags;
        const char *key;
        const char *delim;
        const char *keys;               /* the keys asked, in order */
} order_cases[] = {
        { ADDRESS, 0, "user@mail.example.com", NULL,
          "user@mail.example.com|mail.example.com|.example.com|.com|user@|" },
        { ADDRESS, DICT_FLAG_PARENT_MATCHES_SUBDOMAINS, "user@mail.example.com", NULL,
          "user@mail.example.com|mail.example.com|example.com|com|user@|" },
        { ADDRESS, 0, "user+ext@example.com", "+",
          "user+ext@example.com|user@example.com|example.com|.com|user+ext@|user@|" },
        { ADDRESS, 0, "user+ext@example.com", NULL,
          "user+ext@example.com|example.com|.com|user+ext@|" },
        { ADDRESS, 0, "user-ext@example.com", "+-",
          "user-ext@example.com|user@example.com|example.com|.com|user-ext@|user@|" },
        { ADDRESS, 0, "user@example.com", "+",
          "user@example.com|example.com|.com|user@|" },
        { ADDRESS, 0, "+ext@example.com", "+",
          "+ext@example.com|example.com|.com|+ext@|" },
        { ADDRESS, 0, "owner-list@example.com", "-",
          "owner-list@example.com|example.com|.com|owner-list@|" },
        { ADDRESS, 0, "list-request@example.com", "-",
          "list-request@example.com|example.com|.com|list-request@|" },
        { ADDRESS, 0, "User+X@Example.COM", "+",
          "user+x@example.com|user@example.com|example.com|.com|user+x@|user@|" },
        { ADDRESS, 0, "postmaster+x@example.com", "+",
          "postmaster+x@example.com|postmaster@example.com|example.com|.com|postmaster+x@|"
          "postmaster@|" },
        { ADDRESS, 0, "postmaster@example.com", "+",
          "postmaster@example.com|example.com|.com|postmaster@|" },
        { ADDRESS, 0, "MAILER-DAEMON@example.com", "-",
          "mailer-daemon@example.com|example.com|.com|mailer-daemon@|" },
        { ADDRESS, 0, "double-bounce@example.com", "-",
          "double-bounce@example.com|example.com|.com|double-bounce@|" },
        { ADDRESS, 0, "localonly", "+", "localonly|" },
        { ADDRESS, 0, "local+x", "+", "local+x|local|" },
        { ADDRESS, 0, "user@", NULL, "user@|" },
        { ADDRESS, 0, "@example.com", NULL, "@example.com|example.com|.com|" },
        { ADDRESS, 0, "", NULL, "|" },
        { ADDRESS, 0, "a@b@c.example", NULL, "a@b@c.example|c.example|.example|a@b@|" },
        { ADDRESS, DICT_FLAG_PATTERN, "user+ext@mail.example.com", "+",
          "user+ext@mail.example.com|" },
        { DOMAIN, 0, "a.b.example.com", NULL,
          "a.b.example.com|.b.example.com|.example.com|.com|" },
        { DOMAIN, DICT_FLAG_PARENT_MATCHES_SUBDOMAINS, "a.b.example.com", NULL,
          "a.b.example.com|b.example.com|example.com|com|" },
        { DOMAIN, 0, "localhost", NULL, "localhost|" },
        { DOMAIN, 0, "192.0.2.1", NULL, "192.0.2.1|" },
        { DOMAIN, 0, "2001:db8::1", NULL, "2001:db8::1|" },
        { DOMAIN, 0, "192.0.2.example", NULL, "192.0.2.example|.0.2.example|.2.example|"
          ".example|" },
        { DOMAIN, 0, "example.com.", NULL, "example.com.|.com.|" },
        { DOMAIN, DICT_FLAG_PATTERN, "a.b.example.com", NULL, "a.b.example.com|" },
        { CLIENT, 0, "192.0.2.10", NULL, "192.0.2.10|192.0.2|192.0|192|" },
        { CLIENT, 0, "2001:db8:1:2:3:4:5:6", NULL,
          "2001:db8:1:2:3:4:5:6|2001:db8:1:2:3:4:5|2001:db8:1:2:3:4|2001:db8:1:2:3|"
          "2001:db8:1:2|2001:db8:1|2001:db8|2001|" },
        { CLIENT, 0, "2001:db8::1", NULL, "2001:db8::1|2001:db8:|2001:db8|2001|" },
        { CLIENT, 0, "::1", NULL, "::1|:|" },
        { CLIENT, DICT_FLAG_PATTERN, "192.0.2.10", NULL, "192.0.2.10|" },
};

START_TEST(test_order_cases)
{
        Recorder rec = {
                .head = { .type = &recorder_type, .spec = (char *) "recorder:",
                          .flags = order_cases[_i].flags | DICT_FLAG_FOLD_CASE },
                .keys = BUF_INIT(BUF_MAX_UNBOUNDED),
        };
        char *v = NULL;
        int r;

        switch (order_cases[_i].kind) {
        case ADDRESS:
                r = dict_lookup_address(&rec.head, order_cases[_i].key, order_cases[_i].delim, &v);
                break;
        case DOMAIN:
                r = dict_lookup_domain(&rec.head, order_cases[_i].key, &v);
                break;
        default:
                r = dict_lookup_client(&rec.head, order_cases[_i].key, &v);
                break;
        }
        ck_assert_int_eq(r, 0);
        ck_assert_str_eq(buf_peek(&rec.keys), order_cases[_i].keys);
        buf_done(&rec.keys);
}
END_TEST

/* The search stops at the first key found: every prefix of the recorded order. */
START_TEST(test_order_stops_at_first_hit)
{
        for (size_t c = 0; c < ELEMENTSOF(order_cases); c++) {
                _cleanup_free_ char *all = strdup(order_cases[c].keys);
                char *save = NULL;
                size_t asked = 0;

                ck_assert_ptr_nonnull(all);
                for (char *k = strtok_r(all, "|", &save); k; k = strtok_r(NULL, "|", &save)) {
                        _cleanup_free_ char *expected = NULL, *v = NULL;
                        Recorder rec = {
                                .head = { .type = &recorder_type, .spec = (char *) "recorder:",
                                          .flags = order_cases[c].flags },
                                .keys = BUF_INIT(BUF_MAX_UNBOUNDED),
                                .answer_key = k,
                        };
                        int r;

                        asked += strlen(k) + 1;
                        expected = strndup(order_cases[c].keys, asked);
                        if (strpbrk(order_cases[c].key, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
                                continue;       /* folded case: keys differ from the input */
                        switch (order_cases[c].kind) {
                        case ADDRESS:
                                r = dict_lookup_address(&rec.head, order_cases[c].key,
                                                        order_cases[c].delim, &v);
                                break;
                        case DOMAIN:
                                r = dict_lookup_domain(&rec.head, order_cases[c].key, &v);
                                break;
                        default:
                                r = dict_lookup_client(&rec.head, order_cases[c].key, &v);
                                break;
                        }
                        ck_assert_int_eq(r, 1);
                        ck_assert_str_eq(v, "hit");
                        ck_assert_str_eq(buf_peek(&rec.keys), expected);
                        buf_done(&rec.keys);
                }
        }
}
END_TEST

/* Winners with a real table holding several candidate keys. */
static const struct {
        const char *address;
        const char *winner;
} winner_cases[] = {
        { "user+x@mail.example.com", "full" },
        { "user+y@mail.example.com", "bare" },
        { "other@mail.example.com", "domain" },
        { "other@deep.sub.example.com", "parent" },
        { "other@example.com", "toplevel" },
        { "user+z@elsewhere.test", "local-ext" },
        { "user@elsewhere.test", "local" },
        { "nobody@elsewhere.test", NULL },
};

START_TEST(test_address_winners)
{
        _cleanup_(dict_freep) Dict *d = NULL;
        _cleanup_free_ char *error = NULL;

        ck_assert_int_eq(dict_open("inline:{ user+x@mail.example.com=full, "
                                   "user@mail.example.com=bare, mail.example.com=domain, "
                                   ".example.com=parent, example.com=toplevel, "
                                   "user+z@=local-ext, user@=local }",
                                   DICT_FLAGS_DEFAULT, &d, &error), 0);
        for (size_t i = 0; i < ELEMENTSOF(winner_cases); i++) {
                _cleanup_free_ char *v = NULL;
                int r = dict_lookup_address(d, winner_cases[i].address, "+", &v);

                ck_assert_int_eq(r, winner_cases[i].winner ? 1 : 0);
                if (winner_cases[i].winner)
                        ck_assert_str_eq(v, winner_cases[i].winner);
        }
}
END_TEST

START_TEST(test_client_winners)
{
        _cleanup_(dict_freep) Dict *d = NULL;
        _cleanup_free_ char *error = NULL;
        static const struct {
                const char *ip, *winner;
        } cases[] = {
                { "192.0.2.1", "host" },
                { "192.0.2.2", "net24" },
                { "192.0.3.2", "net16" },
                { "10.1.1.1", NULL },
                { "2001:db8::5", "v6" },
                { "2001:db9::5", NULL },
        };

        ck_assert_int_eq(dict_open("inline:{ 192.0.2.1=host, 192.0.2=net24, 192.0=net16, "
                                   "2001:db8=v6 }", DICT_FLAGS_DEFAULT, &d, &error), 0);
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *v = NULL;

                ck_assert_int_eq(dict_lookup_client(d, cases[i].ip, &v), cases[i].winner ? 1 : 0);
                if (cases[i].winner)
                        ck_assert_str_eq(v, cases[i].winner);
        }
}
END_TEST

START_TEST(test_list)
{
        _cleanup_(dict_list_freep) DictList *l = NULL;
        _cleanup_free_ char *error = NULL;
        static const struct {
                const char *key, *value;
        } cases[] = {
                { "a", "1" }, { "b", "2" }, { "c", "3" }, { "zzz", "fallback value" },
        };

        ck_assert_int_eq(dict_list_open("inline:{ a=1 },inline:{ a=2, b=2 }\n\t"
                                        "inline:{ {c = 3}, {a=4} } ,, static:{ fallback value }",
                                        DICT_FLAGS_DEFAULT, &l, &error), 0);
        ck_assert_uint_eq(dict_list_size(l), 4);
        ck_assert_str_eq(dict_list_get(l, 0)->spec, "inline:{ a=1 }");
        ck_assert_str_eq(dict_list_get(l, 3)->spec, "static:{ fallback value }");
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *v = NULL;

                ck_assert_int_eq(dict_list_lookup(l, cases[i].key, &v), 1);
                ck_assert_str_eq(v, cases[i].value);
        }
        l = dict_list_free(l);

        ck_assert_int_eq(dict_list_open("", DICT_FLAGS_DEFAULT, &l, &error), 0);
        ck_assert_uint_eq(dict_list_size(l), 0);
        {
                _cleanup_free_ char *v = NULL;

                ck_assert_int_eq(dict_list_lookup(l, "a", &v), 0);
        }
        l = dict_list_free(l);

        /* an error in one table is returned; the tables after it are not asked */
        ck_assert_int_eq(dict_list_open("socketmap:unix:/nonexistent/tern/s:m, static:x",
                                        DICT_FLAGS_DEFAULT, &l, &error), 0);
        {
                _cleanup_free_ char *v = NULL;

                ck_assert_int_eq(dict_list_lookup(l, "a", &v), -ENOENT);
        }
        l = dict_list_free(l);

        ck_assert_int_eq(dict_list_open("static:a, nosuch:x", DICT_FLAGS_DEFAULT, &l, &error),
                         -EPROTONOSUPPORT);
        ck_assert_msg(strstr(error, "nosuch"), "%s", error);
        ck_assert_int_eq(dict_list_open("static:a, inline:{ a=1", DICT_FLAGS_DEFAULT, &l,
                                        &error), -EBADMSG);
        ck_assert_ptr_null(l);
}
END_TEST

static Suite *dict_suite(void) {
        Suite *s = suite_create("dict");
        TCase *tc;

        tc = tcase_create("source");
        tcase_add_loop_test(tc, test_source_cases, 0, ELEMENTSOF(source_cases));
        tcase_add_test(tc, test_source_long_lines);
        tcase_add_test(tc, test_source_files);
        suite_add_tcase(s, tc);

        tc = tcase_create("hash");
        tcase_add_test(tc, test_hash);
        suite_add_tcase(s, tc);

        tc = tcase_create("texthash");
        tcase_add_test(tc, test_texthash);
        suite_add_tcase(s, tc);

        tc = tcase_create("inline");
        tcase_add_loop_test(tc, test_inline_cases, 0, ELEMENTSOF(inline_cases));
        suite_add_tcase(s, tc);

        tc = tcase_create("cidr");
        tcase_add_test(tc, test_cidr);
        tcase_add_loop_test(tc, test_cidr_bad, 0, ELEMENTSOF(cidr_bad));
        tcase_add_test(tc, test_cidr_nesting);
        suite_add_tcase(s, tc);

        tc = tcase_create("unix");
        tcase_add_test(tc, test_unix);
        suite_add_tcase(s, tc);

        tc = tcase_create("socketmap");
        tcase_add_test(tc, test_socketmap);
        tcase_add_loop_test(tc, test_socketmap_reply_cases, 0, ELEMENTSOF(reply_cases));
        suite_add_tcase(s, tc);

        tc = tcase_create("open");
        tcase_add_loop_test(tc, test_open_cases, 0, ELEMENTSOF(open_cases));
        suite_add_tcase(s, tc);

        tc = tcase_create("access_order");
        tcase_add_loop_test(tc, test_order_cases, 0, ELEMENTSOF(order_cases));
        tcase_add_test(tc, test_order_stops_at_first_hit);
        tcase_add_test(tc, test_address_winners);
        tcase_add_test(tc, test_client_winners);
        suite_add_tcase(s, tc);

        tc = tcase_create("list");
        tcase_add_test(tc, test_list);
        suite_add_tcase(s, tc);

        return s;
}

TERN_CHECK_MAIN(dict_suite)
