/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Unit tests of config: main.cf syntax (continuations, comments, errors with line numbers),
 * expansion forms and cycles, overrides, typed values, lists, derived defaults, the table, the
 * suggestions and the editor. */
#include <check.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "check_main.h"
#include "config.h"
#include "tern-config.h"

static Config *new_config(const char *text) {
        Config *c = NULL;
        char path[4096];
        _cleanup_free_ char *err = NULL;
        FILE *f;

        ck_assert_int_eq(config_new_with_hostname("mx.example.com", &c), 0);
        if (!text)
                return c;
        snprintf(path, sizeof(path), "%s/test_config_XXXXXX", getenv("TMPDIR") ?: "/tmp");
        int fd = mkstemp(path);
        ck_assert_int_ge(fd, 0);
        f = fdopen(fd, "w");
        ck_assert_ptr_nonnull(f);
        fputs(text, f);
        fclose(f);
        ck_assert_int_eq(config_load_file(c, path, &err), 0);
        unlink(path);
        return c;
}

/* ---- parsing ---- */

typedef struct Collected {
        char names[16][64];
        char values[16][256];
        unsigned lines[16];
        unsigned n;
} Collected;

static int collect(const char *name, const char *value, unsigned line, void *userdata) {
        Collected *c = userdata;

        if (c->n >= 16)
                return -E2BIG;
        snprintf(c->names[c->n], sizeof(c->names[0]), "%s", name);
        snprintf(c->values[c->n], sizeof(c->values[0]), "%s", value);
        c->lines[c->n++] = line;
        return 0;
}

static const struct {
        const char *input;
        int ret;
        unsigned n;                     /* assignments, or the error line */
        const char *name, *value;       /* the last assignment, or the error message */
} parse_cases[] = {
        { "a = b\n", 0, 1, "a", "b" },
        { "a=b", 0, 1, "a", "b" },
        { "a  =   b c   \n", 0, 1, "a", "b c" },
        { "a =\n", 0, 1, "a", "" },
        { "a = 1\na = 2\n", 0, 2, "a", "2" },
        { "a = x,\n  y\n", 0, 1, "a", "x, y" },
        { "a = x,\n\n  y\n", 0, 1, "a", "x, y" },          /* a blank line does not end it */
        { "a = x\n# c\n  y\n", 0, 1, "a", "x y" },         /* nor does a comment */
        { "a = x\n   # comment\n\ty\n", 0, 1, "a", "x y" },
        { "a = x # not a comment\n", 0, 1, "a", "x # not a comment" },
        { "# only\n\n   \n", 0, 0, NULL, NULL },
        { "a = b\r\nc = d\r\n", 0, 2, "c", "d" },
        { "", 0, 0, NULL, NULL },
        { "relayhost\n", -EBADMSG, 1, NULL, "missing '=' after parameter name" },
        { "a = 1\n\nrelayhost\n", -EBADMSG, 3, NULL, "missing '=' after parameter name" },
        { "=x\n", -EBADMSG, 1, NULL, "missing parameter name" },
        { "  a = 1\n", -EBADMSG, 1, NULL, "logical line must not start with white space" },
        { "a/b = 1\n", -EBADMSG, 1, NULL, "bad character in parameter name" },
        { "a = 1\nb = 2\0\n", -EBADMSG, 2, NULL, "NUL byte" },
};

START_TEST(test_parse_table)
{
        Collected col = {};
        const char *err = NULL;
        unsigned line = 0;
        const char *in = parse_cases[_i].input;
        size_t n = strlen(in);
        int r;

        if (parse_cases[_i].ret == -EBADMSG && streq(parse_cases[_i].value, "NUL byte"))
                n = 13;
        r = config_parse(in, n, collect, &col, &line, &err);
        ck_assert_int_eq(r, parse_cases[_i].ret);
        if (r == 0) {
                ck_assert_uint_eq(col.n, parse_cases[_i].n);
                if (col.n > 0) {
                        ck_assert_str_eq(col.names[col.n - 1], parse_cases[_i].name);
                        ck_assert_str_eq(col.values[col.n - 1], parse_cases[_i].value);
                }
        } else {
                ck_assert_uint_eq(line, parse_cases[_i].n);
                ck_assert_str_eq(err, parse_cases[_i].value);
        }
}
END_TEST

START_TEST(test_parse_line_numbers)
{
        Collected col = {};
        const char *err = NULL, *in = "# c\na = 1,\n  2\n\nb = 3\n";
        unsigned line = 0;

        ck_assert_int_eq(config_parse(in, strlen(in), collect, &col, &line, &err), 0);
        ck_assert_uint_eq(col.n, 2);
        ck_assert_uint_eq(col.lines[0], 2);
        ck_assert_uint_eq(col.lines[1], 5);
}
END_TEST

START_TEST(test_parse_too_long)
{
        _cleanup_free_ char *in = malloc(CONFIG_LINE_MAX + 16);
        Collected col = {};
        const char *err = NULL;
        unsigned line = 0;

        memcpy(in, "a = ", 4);
        memset(in + 4, 'x', CONFIG_LINE_MAX + 4);
        ck_assert_int_eq(config_parse(in, CONFIG_LINE_MAX + 8, collect, &col, &line, &err),
                         -EMSGSIZE);
        ck_assert_uint_eq(line, 1);
}
END_TEST

START_TEST(test_load_file_errors)
{
        _cleanup_(config_freep) Config *c = NULL;
        _cleanup_free_ char *err = NULL;
        char path[4096];
        FILE *f;

        ck_assert_int_eq(config_new_with_hostname("h.example", &c), 0);
        ck_assert_int_eq(config_load_file(c, "/nonexistent/main.cf", &err), -ENOENT);
        ck_assert_int_eq(config_load_dir(c, "/nonexistent", NULL), 0);
        ck_assert_str_eq(config_get(c, "config_directory"), "/nonexistent");

        snprintf(path, sizeof(path), "%s/test_config_err.cf", getenv("TMPDIR") ?: "/tmp");
        f = fopen(path, "w");
        ck_assert_ptr_nonnull(f);
        fputs("# x\nmyhostname = a.b\nrelayhost\n", f);
        fclose(f);
        err = mfree(err);
        ck_assert_int_eq(config_load_file(c, path, &err), -EBADMSG);
        char expect[4200];
        snprintf(expect, sizeof(expect), "%s, line 3: missing '=' after parameter name", path);
        ck_assert_str_eq(err, expect);
        unlink(path);
}
END_TEST

/* ---- expansion ---- */

static const struct {
        const char *text;
        const char *expected;
} expand_cases[] = {
        { "$a", "1" },
        { "${a}", "1" },
        { "$(a)", "1" },
        { "$a$a", "11" },
        { "x$a-y", "x1-y" },
        { "$$a", "$a" },
        { "$$", "$" },
        { "a$", "a$" },
        { "$-", "$-" },
        { "${a?yes}", "yes" },
        { "${e?yes}", "" },
        { "${a:no}", "" },
        { "${e:no}", "no" },
        { "${undefined_name:no}", "no" },
        { "${a?{yes}}", "yes" },
        { "${e:{no}}", "no" },
        { "${a?{T}:{F}}", "T" },
        { "${e?{T}:{F}}", "F" },
        { "${a?{T} : {F}}", "T" },
        { "${a?$b}", "1-1" },
        { "${a?${e:{in}}}", "in" },
        { "$nested", "[1-1]" },
        { "$undefined_name", "" },
        { "${undefined_name}", "" },
        { "${{$a} == {1} ? {eq} : {ne}}", "eq" },
        { "${{$a} != {1} ? {eq} : {ne}}", "ne" },
        { "${{2} < {10} ? {lt} : {ge}}", "lt" },
        { "${{2} >= {10} ? {ge} : {lt}}", "lt" },
        { "${{3.6} <level {3.10} ? {old} : {new}}", "old" },
        { "${{3.7} >=level {3.6} ? {new}}", "new" },
        { "${{2} <=level {2} ? {same}}", "same" },
        { "${{1} ==level {1.0} ? {a} : {b}}", "a" },
        { "${{$compatibility_level} <level {2} ? {subnet} : {host}}", "host" },
        { "$mydestination", "mx.example.com, localhost.example.com, localhost" },
};

START_TEST(test_expand_table)
{
        _cleanup_(config_freep) Config *c =
                new_config("a = 1\nb = $a-$a\ne =\nnested = [$b]\n");
        _cleanup_free_ char *out = NULL, *err = NULL;

        ck_assert_int_eq(config_expand_text(c, expand_cases[_i].text, &out, NULL, &err), 0);
        ck_assert_str_eq(out, expand_cases[_i].expected);
}
END_TEST

static const struct {
        const char *text;
        int ret;
} expand_error_cases[] = {
        { "${a", -EBADMSG },
        { "$(a", -EBADMSG },
        { "${}", -EBADMSG },
        { "${a!x}", -EBADMSG },
        { "${a ? {T} : {F}}", -EBADMSG },              /* no white space after the name */
        { "${{1} <> {2} ? {x}}", -EBADMSG },
        { "${{x} < {2} ? {x}}", -EBADMSG },
        { "${{1.x} <level {2} ? {x}}", -EBADMSG },
        { "${{1} == {2} {x}}", -EBADMSG },
        { "${{1} {2} ? {x}}", -EBADMSG },
        { "${{1} == 2 ? {x}}", -EBADMSG },
        { "$cycle1", -ELOOP },
        { "$self", -ELOOP },
};

START_TEST(test_expand_errors)
{
        _cleanup_(config_freep) Config *c =
                new_config("a = 1\ncycle1 = x$cycle2\ncycle2 = ${cycle3}\ncycle3 = $cycle1\n"
                           "self = ${self?x}\n");
        _cleanup_free_ char *out = NULL, *err = NULL;

        ck_assert_int_eq(config_expand_text(c, expand_error_cases[_i].text, &out, NULL, &err),
                         expand_error_cases[_i].ret);
        ck_assert_ptr_nonnull(err);
}
END_TEST

START_TEST(test_expand_cycle_names_parameter)
{
        _cleanup_(config_freep) Config *c = new_config("a = $b\nb = $c\nc = $a\nd = $a\n");
        _cleanup_free_ char *err = NULL;
        const char *v = NULL;

        ck_assert_int_eq(config_expand(c, "a", &v, &err), -ELOOP);
        ck_assert_str_eq(err, "parameter a: reference cycle: a -> b -> c -> a");
        ck_assert_ptr_null(config_get(c, "d"));
        ck_assert_str_eq(config_get_raw(c, "d"), "$a");
}
END_TEST

START_TEST(test_expand_deep_and_long)
{
        _cleanup_(config_freep) Config *c = NULL;
        char name[32], value[32];
        _cleanup_free_ char *err = NULL;
        const char *v;

        ck_assert_int_eq(config_new_with_hostname("h", &c), 0);
        /* a chain longer than the nesting limit */
        for (unsigned i = 0; i < CONFIG_EXPAND_DEPTH_MAX + 10; i++) {
                snprintf(name, sizeof(name), "p%u", i);
                snprintf(value, sizeof(value), "$p%u", i + 1);
                ck_assert_int_eq(config_set(c, name, value), 0);
        }
        ck_assert_int_eq(config_expand(c, "p0", &v, &err), -ELOOP);
        /* doubling: 2^30 bytes if nothing stopped it */
        ck_assert_int_eq(config_set(c, "d0", "xxxxxxxxxxxxxxxx"), 0);
        for (unsigned i = 1; i < 30; i++) {
                snprintf(name, sizeof(name), "d%u", i);
                snprintf(value, sizeof(value), "$d%u$d%u", i - 1, i - 1);
                ck_assert_int_eq(config_set(c, name, value), 0);
        }
        ck_assert_int_eq(config_expand(c, "d29", &v, NULL), -EMSGSIZE);
        ck_assert_int_eq(config_expand(c, "d10", &v, NULL), 0);
        ck_assert_uint_eq(strlen(v), 16U << 10);
        /* a deep text nesting is bounded too */
        char deep[4096] = "";
        for (unsigned i = 0; i < 200; i++)
                strcat(deep, "${d0?");
        for (unsigned i = 0; i < 200; i++)
                strcat(deep, "}");
        err = mfree(err);
        _cleanup_free_ char *out = NULL;
        ck_assert_int_eq(config_expand_text(c, deep, &out, NULL, &err), -ELOOP);
}
END_TEST

START_TEST(test_expand_undefined_reported)
{
        _cleanup_(config_freep) Config *c = new_config("a = $nosuch ${other?x} $myhostname\n");
        _cleanup_strv_free_ char **undef = NULL;
        _cleanup_free_ char *out = NULL;

        ck_assert_int_eq(config_expand_text(c, config_get_raw(c, "a"), &out, &undef, NULL), 0);
        ck_assert_str_eq(out, "  mx.example.com");
        ck_assert_ptr_nonnull(undef[0]);
        ck_assert_str_eq(undef[0], "nosuch");
        ck_assert_str_eq(undef[1], "other");
        ck_assert_ptr_null(undef[2]);
}
END_TEST

START_TEST(test_unknown_and_user_names)
{
        _cleanup_(config_freep) Config *c =
                new_config("my_class = check_sender_access hash:/x\n"
                           "smtpd_restriction_classes = my_class\nother = 1\n");

        ck_assert_ptr_null(config_get(c, "no_such_parameter"));
        ck_assert_ptr_null(config_get_raw(c, "no_such_parameter"));
        ck_assert_str_eq(config_get(c, "my_class"), "check_sender_access hash:/x");
        ck_assert(config_is_set(c, "my_class"));
        ck_assert(!config_is_set(c, "relayhost"));
        ck_assert(config_name_is_referenced(c, "my_class"));
        ck_assert(!config_name_is_referenced(c, "other"));
        ck_assert_ptr_nonnull(config_param_find("relayhost"));
        ck_assert_ptr_null(config_param_find("my_class"));
        int64_t i;
        ck_assert_int_eq(config_get_int(c, "no_such_parameter", &i), -ENOENT);
}
END_TEST

START_TEST(test_overrides)
{
        _cleanup_(config_freep) Config *c = NULL;
        unsigned line = 99;

        ck_assert_int_eq(config_new_with_hostname("h.example.org", &c), 0);
        ck_assert_int_eq(config_set_override(c, "relayhost=[smart.example]:587"), 0);
        ck_assert_int_eq(config_set_override(c, "  mydomain =  x.test  "), 0);
        ck_assert_int_eq(config_set_override(c, "relayhost"), -EBADMSG);
        ck_assert_int_eq(config_set_override(c, "=x"), -EBADMSG);
        ck_assert_int_eq(config_set(c, "bad name", "x"), -EBADMSG);

        /* main.cf read after the overrides does not beat them */
        char path[4096];
        snprintf(path, sizeof(path), "%s/test_config_ov.cf", getenv("TMPDIR") ?: "/tmp");
        FILE *f = fopen(path, "w");
        ck_assert_ptr_nonnull(f);
        fputs("relayhost = file.example\nmyorigin = $mydomain\n", f);
        fclose(f);
        ck_assert_int_eq(config_load_file(c, path, NULL), 0);
        unlink(path);

        ck_assert_str_eq(config_get(c, "relayhost"), "[smart.example]:587");
        ck_assert_str_eq(config_get(c, "myorigin"), "x.test");
        ck_assert_int_eq(config_get_source(c, "relayhost", &line), CONFIG_SOURCE_OVERRIDE);
        ck_assert_int_eq(config_get_source(c, "myorigin", &line), CONFIG_SOURCE_FILE);
        ck_assert_uint_eq(line, 2);
        ck_assert_int_eq(config_get_source(c, "biff", &line), CONFIG_SOURCE_DEFAULT);
        ck_assert_int_eq(config_get_source(c, "nosuch", &line), -ENOENT);
}
END_TEST

/* ---- typed values ---- */

static const struct {
        const char *name, *value;
        int ret;
        uint64_t seconds;
} time_cases[] = {
        { "smtpd_timeout", "300", 0, 300 },
        { "smtpd_timeout", "300s", 0, 300 },
        { "smtpd_timeout", "5m", 0, 300 },
        { "smtpd_timeout", "1h", 0, 3600 },
        { "smtpd_timeout", "2d", 0, 172800 },
        { "smtpd_timeout", "1w", 0, 604800 },
        { "smtpd_timeout", "1H", 0, 3600 },
        { "maximal_queue_lifetime", "5", 0, 5 * 86400 },        /* default unit d */
        { "delay_warning_time", "4", 0, 4 * 3600 },              /* default unit h */
        { "smtpd_timeout", "5x", -EBADMSG, 0 },
        { "smtpd_timeout", "m", -EBADMSG, 0 },
        { "smtpd_timeout", "", -EBADMSG, 0 },
        { "smtpd_timeout", "-5s", -EBADMSG, 0 },
        { "smtpd_timeout", "5 s", -EBADMSG, 0 },
        { "smtpd_timeout", "99999999999999999999", -ERANGE, 0 },
};

START_TEST(test_time)
{
        _cleanup_(config_freep) Config *c = new_config(NULL);
        uint64_t s = 0;

        ck_assert_int_eq(config_set(c, time_cases[_i].name, time_cases[_i].value), 0);
        ck_assert_int_eq(config_get_time(c, time_cases[_i].name, &s), time_cases[_i].ret);
        if (time_cases[_i].ret == 0)
                ck_assert_uint_eq(s, time_cases[_i].seconds);
}
END_TEST

START_TEST(test_time_defaults)
{
        _cleanup_(config_freep) Config *c = new_config(NULL);
        uint64_t s = 0;

        ck_assert_int_eq(config_get_time(c, "smtpd_timeout", &s), 0);  /* ${stress?{10}:{300}}s */
        ck_assert_uint_eq(s, 300);
        ck_assert_int_eq(config_set(c, "stress", "yes"), 0);
        ck_assert_int_eq(config_get_time(c, "smtpd_timeout", &s), 0);
        ck_assert_uint_eq(s, 10);
        ck_assert_int_eq(config_get_time(c, "maximal_queue_lifetime", &s), 0);
        ck_assert_uint_eq(s, 5 * 86400);
}
END_TEST

static const struct {
        const char *value;
        int ret;
        uint64_t bytes;
} size_cases[] = {
        { "10240000", 0, 10240000 },
        { "0", 0, 0 },
        { "10M", -EBADMSG, 0 },
        { "10k", -EBADMSG, 0 },
        { "", -EBADMSG, 0 },
        { "-1", -EBADMSG, 0 },
        { "1 0", -EBADMSG, 0 },
        { "99999999999999999999", -ERANGE, 0 },
};

START_TEST(test_size)
{
        _cleanup_(config_freep) Config *c = new_config(NULL);
        uint64_t b = 0;

        ck_assert_int_eq(config_set(c, "message_size_limit", size_cases[_i].value), 0);
        ck_assert_int_eq(config_get_size(c, "message_size_limit", &b), size_cases[_i].ret);
        if (size_cases[_i].ret == 0)
                ck_assert_uint_eq(b, size_cases[_i].bytes);
        ck_assert_int_eq(config_value_check(CONFIG_TYPE_SIZE, 0, size_cases[_i].value),
                         size_cases[_i].ret);
}
END_TEST

static const struct {
        const char *value;
        int ret;
        bool b;
} bool_cases[] = {
        { "yes", 0, true }, { "no", 0, false }, { "YES", 0, true }, { "No", 0, false },
        { "affirmative", -EBADMSG, false }, { "1", -EBADMSG, false }, { "", -EBADMSG, false },
        { "true", -EBADMSG, false },
};

START_TEST(test_bool)
{
        _cleanup_(config_freep) Config *c = new_config(NULL);
        bool b = !bool_cases[_i].b;

        ck_assert_int_eq(config_set(c, "biff", bool_cases[_i].value), 0);
        ck_assert_int_eq(config_get_bool(c, "biff", &b), bool_cases[_i].ret);
        if (bool_cases[_i].ret == 0)
                ck_assert(b == bool_cases[_i].b);
}
END_TEST

START_TEST(test_int)
{
        _cleanup_(config_freep) Config *c = new_config(NULL);
        int64_t i = 0;

        ck_assert_int_eq(config_get_int(c, "smtpd_recipient_limit", &i), 0);
        ck_assert_int_eq(i, 1000);
        ck_assert_int_eq(config_set(c, "smtpd_recipient_limit", "-3"), 0);
        ck_assert_int_eq(config_get_int(c, "smtpd_recipient_limit", &i), 0);
        ck_assert_int_eq(i, -3);
        ck_assert_int_eq(config_set(c, "smtpd_recipient_limit", "ten"), 0);
        ck_assert_int_eq(config_get_int(c, "smtpd_recipient_limit", &i), -EBADMSG);
        ck_assert_int_eq(config_value_check(CONFIG_TYPE_INT, 0, "12"), 0);
        ck_assert_int_eq(config_value_check(CONFIG_TYPE_BOOL, 0, "maybe"), -EBADMSG);
        ck_assert_int_eq(config_value_check(CONFIG_TYPE_TIME, 'd', "3d"), 0);
        ck_assert_int_eq(config_value_check(CONFIG_TYPE_STRING, 0, "anything"), 0);
        ck_assert_int_eq(config_value_check(_CONFIG_TYPE_MAX, 0, "x"), -EINVAL);
}
END_TEST

static const struct {
        const char *text;
        const char *items[6];
} list_cases[] = {
        { "a, b,c", { "a", "b", "c" } },
        { "  a\tb\n c  ,,, ", { "a", "b", "c" } },
        { "", { NULL } },
        { " , ", { NULL } },
        { "permit_mynetworks, check_policy_service { inet:127.0.0.1:10023, timeout=10s }, x",
          { "permit_mynetworks", "check_policy_service", "inet:127.0.0.1:10023, timeout=10s",
            "x" } },
        { "{a b}{c}", { "a b", "c" } },
        { "{ unterminated, x", { "unterminated, x" } },
        { "hash:/etc/tern/a hash:/etc/tern/b", { "hash:/etc/tern/a", "hash:/etc/tern/b" } },
};

START_TEST(test_list)
{
        _cleanup_strv_free_ char **l = NULL;
        size_t k = 0;

        ck_assert_int_eq(config_split_list(list_cases[_i].text, &l), 0);
        for (; list_cases[_i].items[k]; k++) {
                ck_assert_ptr_nonnull(l[k]);
                ck_assert_str_eq(l[k], list_cases[_i].items[k]);
        }
        ck_assert_ptr_null(l[k]);
}
END_TEST

START_TEST(test_list_from_config)
{
        _cleanup_(config_freep) Config *c = new_config("mydestination = $myhostname, local\n");
        _cleanup_strv_free_ char **l = NULL;

        ck_assert_int_eq(config_get_list(c, "mydestination", &l), 0);
        ck_assert_str_eq(l[0], "mx.example.com");
        ck_assert_str_eq(l[1], "local");
        ck_assert_ptr_null(l[2]);
}
END_TEST

/* ---- defaults ---- */

START_TEST(test_derived_defaults)
{
        _cleanup_(config_freep) Config *c = NULL;

        ck_assert_int_eq(config_new_with_hostname("mx.example.com", &c), 0);
        ck_assert_str_eq(config_get(c, "myhostname"), "mx.example.com");
        ck_assert_str_eq(config_get(c, "mydomain"), "example.com");
        ck_assert_str_eq(config_get(c, "myorigin"), "mx.example.com");
        ck_assert_str_eq(config_get_raw(c, "myorigin"), "$myhostname");
        ck_assert_str_eq(config_get(c, "mynetworks_style"), "host");
        ck_assert_str_eq(config_get(c, "mynetworks"), "127.0.0.0/8 [::1]/128");
        ck_assert_str_eq(config_get(c, "relay_domains"), "");
        ck_assert_str_eq(config_get(c, "inet_interfaces"), "all");
        ck_assert_str_eq(config_get(c, "biff"), "yes");
        ck_assert_str_eq(config_get(c, "config_directory"), "/etc/tern");
        ck_assert_str_eq(config_get(c, "queue_directory"), "/var/spool/tern");
        ck_assert_str_eq(config_get(c, "mail_owner"), "tern");
        ck_assert_str_eq(config_get(c, "alias_maps"), "hash:/etc/aliases");
        ck_assert_str_eq(config_get(c, "syslog_name"), "tern");
        ck_assert_str_eq(config_get(c, "smtpd_relay_restrictions"),
                         "permit_mynetworks, permit_sasl_authenticated, defer_unauth_destination");
        ck_assert_str_eq(config_get(c, "smtputf8_enable"), "yes");
        ck_assert_str_eq(config_get(c, "smtp_tls_dane_insecure_mx_policy"), "may");
        c = config_free(c);

        /* unqualified host name: .localdomain, or .$mydomain when mydomain is set */
        ck_assert_int_eq(config_new_with_hostname("vm", &c), 0);
        ck_assert_str_eq(config_get(c, "myhostname"), "vm.localdomain");
        ck_assert_str_eq(config_get(c, "mydomain"), "localdomain");
        ck_assert_str_eq(config_get_default(c, "myhostname"), "vm.localdomain");
        ck_assert_int_eq(config_set(c, "mydomain", "example.org"), 0);
        ck_assert_str_eq(config_get(c, "myhostname"), "vm.example.org");
        c = config_free(c);

        /* mydomain follows myhostname when only myhostname is set */
        ck_assert_int_eq(config_new_with_hostname("vm", &c), 0);
        ck_assert_int_eq(config_set(c, "myhostname", "mail.example.net"), 0);
        ck_assert_str_eq(config_get(c, "mydomain"), "example.net");
        ck_assert_str_eq(config_get_raw(c, "mydomain"), "example.net");
        ck_assert_int_eq(config_set(c, "myhostname", "single"), 0);
        ck_assert_str_eq(config_get(c, "mydomain"), "localdomain");
        ck_assert_int_eq(config_set(c, "mynetworks_style", "bogus"), 0);
        ck_assert_ptr_null(config_get(c, "mynetworks"));
        ck_assert_int_eq(config_set(c, "mynetworks_style", "subnet"), 0);
        ck_assert_str_eq(config_get(c, "mynetworks"), "127.0.0.0/8 [::1]/128");
}
END_TEST

START_TEST(test_real_host)
{
        _cleanup_(config_freep) Config *c = NULL;
        const char *h, *d;

        ck_assert_int_eq(config_new(&c), 0);
        h = config_get(c, "myhostname");
        d = config_get(c, "mydomain");
        ck_assert_ptr_nonnull(h);
        ck_assert_ptr_nonnull(strchr(h, '.'));
        ck_assert_str_eq(strchr(h, '.') + 1, d);
        ck_assert_ptr_nonnull(config_get(c, "mynetworks"));
        ck_assert(startswith(config_get(c, "mynetworks"), "127.0.0.0/8 [::1]/128"));
        ck_assert_ptr_nonnull(config_get(c, "process_id"));
}
END_TEST

START_TEST(test_table)
{
        size_t n = 0;
        const ConfigParam *t = config_param_table(&n);
        const ConfigParam *p;

        ck_assert_uint_ge(n, 800);
        for (size_t i = 1; i < n; i++)
                ck_assert_int_lt(strcmp(t[i - 1].name, t[i].name), 0);
        for (size_t i = 0; i < n; i++) {
                ck_assert_ptr_nonnull(config_type_to_string(t[i].type));
                ck_assert_ptr_nonnull(config_status_to_string(t[i].status));
                if (t[i].status == CONFIG_STATUS_OBSOLETE)
                        ck_assert_ptr_nonnull(t[i].note);
                if (t[i].type == CONFIG_TYPE_TIME)
                        ck_assert_ptr_nonnull(strchr("smhdw", t[i].time_unit));
        }
        p = config_param_find("default_process_limit");
        ck_assert_ptr_nonnull(p);
        ck_assert_int_eq(p->status, CONFIG_STATUS_OBSOLETE);
        ck_assert_ptr_nonnull(strstr(p->note, "MaxConnections="));
        p = config_param_find("message_size_limit");
        ck_assert_int_eq(p->type, CONFIG_TYPE_SIZE);
        ck_assert_str_eq(p->def, "10240000");
        ck_assert_int_eq(config_param_find("maximal_queue_lifetime")->time_unit, 'd');
        ck_assert_int_eq(config_param_find("transport_maps")->type, CONFIG_TYPE_MAPS);
        ck_assert_int_eq(config_param_find("biff")->type, CONFIG_TYPE_BOOL);
        ck_assert_ptr_null(config_type_to_string(_CONFIG_TYPE_MAX));
        ck_assert_ptr_null(config_status_to_string(_CONFIG_STATUS_INVALID));
}
END_TEST

static const struct {
        const char *typo, *first;
} suggest_cases[] = {
        { "mydestinaton", "mydestination" },
        { "mydestinaiton", "mydestination" },
        { "relay_host", "relayhost" },
        { "smtpd_tls_cert_fiel", "smtpd_tls_cert_file" },
        { "mesage_size_limit", "message_size_limit" },
        { "home_mailboxx", "home_mailbox" },
};

START_TEST(test_suggest)
{
        _cleanup_strv_free_ char **l = NULL;

        ck_assert_int_eq(config_param_suggest(suggest_cases[_i].typo, 3, &l), 0);
        ck_assert_ptr_nonnull(l[0]);
        ck_assert_str_eq(l[0], suggest_cases[_i].first);
}
END_TEST

START_TEST(test_suggest_none)
{
        _cleanup_strv_free_ char **l = NULL;

        ck_assert_int_eq(config_param_suggest("completely_unrelated_words_here", 3, &l), 0);
        ck_assert_ptr_null(l[0]);
}
END_TEST

/* ---- config_dir_resolve ---- */

START_TEST(test_dir_resolve)
{
        ck_assert_str_eq(config_dir_resolve("/x"), "/x");
        setenv("TERN_CONFIG", "/from/env", 1);
        ck_assert_str_eq(config_dir_resolve(NULL), "/from/env");
        setenv("TERN_CONFIG", "", 1);
        ck_assert_str_eq(config_dir_resolve(NULL), TERN_CONFIG_DIR);
        unsetenv("TERN_CONFIG");
        ck_assert_str_eq(config_dir_resolve(NULL), TERN_CONFIG_DIR);
}
END_TEST

/* ---- editor ---- */

static const struct {
        const char *input;
        const char *assignments[3];
        bool comment_out;
        int ret;
        const char *expected;
} edit_cases[] = {
        { "# top\nmyhostname = a\n\n# keep\nrelayhost = x\n", { "myhostname = b" }, false, 0,
          "# top\nmyhostname = b\n\n# keep\nrelayhost = x\n" },
        { "a = 1,\n   2\n# c\n  3\nb = 4\n", { "a=9" }, false, 0, "a = 9\nb = 4\n" },
        { "a = 1\n# after\n\nb = 2\n", { "a = 9" }, false, 0, "a = 9\n# after\n\nb = 2\n" },
        { "a = 1\nb = 2", { "c = 3" }, false, 0, "a = 1\nb = 2\nc = 3\n" },
        { "", { "c = 3", "d=" }, false, 0, "c = 3\nd = \n" },
        { "a = 1\na = 2\n", { "a = 3" }, false, 0, "a = 1\na = 3\n" },
        { "ab = 1\na = 2\n", { "a = 3" }, false, 0, "ab = 1\na = 3\n" },
        { "a=1\r\nb = 2\r\n", { "b = 3" }, false, 0, "a=1\r\nb = 3\n" },
        { "a = 1,\n  2\n# c\nb = 3\n", { "a" }, true, 0, "#a = 1,\n#  2\n# c\nb = 3\n" },
        { "a = 1\na = 2\n", { "a", "b" }, true, 0, "#a = 1\n#a = 2\n" },
        { "a = 1\n", { "a 1" }, false, -EBADMSG, NULL },
        { "a = 1\n", { "a = 1\nb = 2" }, false, -EBADMSG, NULL },
        { "a = 1\n", { "=1" }, false, -EBADMSG, NULL },
        { "a = 1\n", { "a b" }, true, -EBADMSG, NULL },
};

START_TEST(test_edit_text)
{
        _cleanup_free_ char *out = NULL;
        size_t len = 0;
        char *a[4] = {};

        for (size_t k = 0; k < 3 && edit_cases[_i].assignments[k]; k++)
                a[k] = (char *) edit_cases[_i].assignments[k];
        ck_assert_int_eq(config_edit_text(edit_cases[_i].input, strlen(edit_cases[_i].input), a,
                                          edit_cases[_i].comment_out, &out, &len),
                         edit_cases[_i].ret);
        if (edit_cases[_i].ret == 0) {
                ck_assert_str_eq(out, edit_cases[_i].expected);
                ck_assert_uint_eq(len, strlen(out));
        }
}
END_TEST

START_TEST(test_edit_file)
{
        char dir[4096], path[4200];
        char *a[] = { (char *) "relayhost = [smart]:587", (char *) "new_one = x", NULL };
        char *h[] = { (char *) "new_one", NULL };
        _cleanup_(config_freep) Config *c = NULL;
        struct stat st;
        FILE *f;

        snprintf(dir, sizeof(dir), "%s/test_config_editXXXXXX", getenv("TMPDIR") ?: "/tmp");
        ck_assert_ptr_nonnull(mkdtemp(dir));
        snprintf(path, sizeof(path), "%s/main.cf", dir);
        f = fopen(path, "w");
        ck_assert_ptr_nonnull(f);
        fputs("# The comment stays.\nrelayhost =\n    old\nmyhostname = m.example\n", f);
        fclose(f);
        ck_assert_int_eq(chmod(path, 0640), 0);

        ck_assert_int_eq(config_edit_file(path, a, false), 0);
        ck_assert_int_eq(stat(path, &st), 0);
        ck_assert_int_eq(st.st_mode & 0777, 0640);
        ck_assert_int_eq(config_new_with_hostname("h", &c), 0);
        ck_assert_int_eq(config_load_dir(c, dir, NULL), 0);
        ck_assert_str_eq(config_get(c, "relayhost"), "[smart]:587");
        ck_assert_str_eq(config_get(c, "new_one"), "x");
        ck_assert_str_eq(config_get(c, "myhostname"), "m.example");

        ck_assert_int_eq(config_edit_file(path, h, true), 0);
        c = config_free(c);
        ck_assert_int_eq(config_new_with_hostname("h", &c), 0);
        ck_assert_int_eq(config_load_dir(c, dir, NULL), 0);
        ck_assert(!config_is_set(c, "new_one"));

        char buf[512] = "";
        f = fopen(path, "r");
        ck_assert_ptr_nonnull(f);
        size_t n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = 0;
        ck_assert_str_eq(buf, "# The comment stays.\nrelayhost = [smart]:587\n"
                              "myhostname = m.example\n#new_one = x\n");

        /* a missing file is created */
        unlink(path);
        ck_assert_int_eq(config_edit_file(path, a, false), 0);
        ck_assert_int_eq(stat(path, &st), 0);
        unlink(path);
        rmdir(dir);
        ck_assert_int_eq(config_edit_file("/nonexistent/dir/main.cf", a, false), -ENOENT);
}
END_TEST

/* the editor's output parses back to the values it was given */
START_TEST(test_edit_round_trip)
{
        const char *in = "a = 1\n  2\n# x\nb = $a\n";
        char *assign[] = { (char *) "b = two", (char *) "c = ${a?x}", NULL };
        _cleanup_free_ char *out = NULL;
        Collected col = {};
        const char *err;
        unsigned line;

        ck_assert_int_eq(config_edit_text(in, strlen(in), assign, false, &out, NULL), 0);
        ck_assert_int_eq(config_parse(out, strlen(out), collect, &col, &line, &err), 0);
        ck_assert_uint_eq(col.n, 3);
        ck_assert_str_eq(col.values[0], "1 2");
        ck_assert_str_eq(col.values[1], "two");
        ck_assert_str_eq(col.values[2], "${a?x}");
}
END_TEST

static int append_name(Config *c, const char *name, void *userdata) {
        strcat(userdata, name);
        strcat(userdata, " ");
        return 0;
}

START_TEST(test_foreach_set)
{
        _cleanup_(config_freep) Config *c = new_config("zeta = 1\nrelayhost = x\nalpha = 2\n");
        char seen[256] = "";

        ck_assert_int_eq(config_set(c, "biff", "no"), 0);
        ck_assert_int_eq(config_foreach_set(c, append_name, seen), 0);
        ck_assert_str_eq(seen, "alpha biff relayhost zeta ");
}
END_TEST

/* ---- typed getters with messages (config_read_*) ---- */

typedef enum ReadKind { READ_BOOL, READ_U64, READ_UNSIGNED, READ_USEC, READ_SIZE, READ_STRDUP,
                        READ_LIST, READ_ENUM } ReadKind;

static const struct {
        ReadKind kind;
        const char *name, *value;       /* value NULL: the default */
        uint64_t lo, hi;
        int ret;
        uint64_t number;                /* bool, numbers, enum index (+1, 0 for empty) */
        const char *text;               /* strdup; list joined by '|'; else the message */
} read_cases[] = {
        { READ_BOOL, "biff", "yes", 0, 0, 0, 1, NULL },
        { READ_BOOL, "biff", "no", 0, 0, 0, 0, NULL },
        { READ_BOOL, "biff", "maybe", 0, 0, -EBADMSG, 0, "biff: bad value 'maybe' (yes or no)" },
        { READ_BOOL, "biff", "$a", 0, 0, -EBADMSG, 0, "biff: bad value '' (yes or no)" },
        { READ_U64, "max_use", "7", 0, INT64_MAX, 0, 7, NULL },
        { READ_U64, "max_use", "-1", 0, INT64_MAX, -ERANGE, 0,
          "max_use: bad value '-1' (must be at least 0)" },
        { READ_U64, "max_use", "0", 1, INT64_MAX, -ERANGE, 0,
          "max_use: bad value '0' (must be at least 1)" },
        { READ_U64, "max_use", "ten", 0, INT64_MAX, -EBADMSG, 0, "max_use: bad value 'ten'" },
        { READ_UNSIGNED, "reject_code", NULL, 500, 599, 0, 554, NULL },
        { READ_UNSIGNED, "reject_code", "450", 500, 599, -ERANGE, 0,
          "reject_code: bad value '450' (must be 500..599)" },
        { READ_UNSIGNED, "reject_code", "600", 500, 599, -ERANGE, 0,
          "reject_code: bad value '600' (must be 500..599)" },
        { READ_USEC, "max_idle", NULL, 0, 0, 0, 100000000, NULL },
        { READ_USEC, "max_idle", "2m", 0, 0, 0, 120000000, NULL },
        { READ_USEC, "maximal_queue_lifetime", "2", 0, 0, 0, UINT64_C(172800000000), NULL },
        { READ_USEC, "max_idle", "5x", 0, 0, -EBADMSG, 0, "max_idle: bad value '5x'" },
        { READ_USEC, "max_idle", "99999999999999999", 0, 0, -ERANGE, 0,
          "max_idle: bad value '99999999999999999'" },
        { READ_SIZE, "message_size_limit", "1024", 0, 0, 0, 1024, NULL },
        { READ_SIZE, "message_size_limit", "1k", 0, 0, -EBADMSG, 0,
          "message_size_limit: bad value '1k'" },
        { READ_STRDUP, "myhostname", NULL, 0, 0, 0, 0, "mx.example.com" },
        { READ_STRDUP, "luser_relay", NULL, 0, 0, 0, 0, "" },
        { READ_STRDUP, "nosuch_parameter", NULL, 0, 0, -ENOENT, 0,
          "nosuch_parameter: unknown parameter" },
        { READ_STRDUP, "myorigin", "$myorigin", 0, 0, -ELOOP, 0,
          "parameter myorigin: reference cycle: myorigin -> myorigin" },
        { READ_LIST, "mydestination", "a, b {c d}", 0, 0, 0, 0, "a|b|c d" },
        { READ_LIST, "mydestination", "", 0, 0, 0, 0, "" },
        { READ_ENUM, "smtpd_tls_security_level", "", 0, 0, 0, 0, NULL },
        { READ_ENUM, "smtpd_tls_security_level", "may", 0, 0, 0, 2, NULL },
        { READ_ENUM, "smtpd_tls_security_level", "dane", 0, 0, -EBADMSG, 0,
          "smtpd_tls_security_level: bad value 'dane' (none, may or encrypt)" },
};

START_TEST(test_read)
{
        static const char *const levels[] = { "none", "may", "encrypt" };
        _cleanup_(config_freep) Config *c = new_config(NULL);
        _cleanup_free_ char *err = NULL, *str = NULL;
        _cleanup_strv_free_ char **l = NULL;
        uint64_t n = 0;
        unsigned u = 0;
        bool b = false;
        int e = 0, r;

        if (read_cases[_i].value)
                ck_assert_int_eq(config_set(c, read_cases[_i].name, read_cases[_i].value), 0);
        switch (read_cases[_i].kind) {
        case READ_BOOL:
                r = config_read_bool(c, read_cases[_i].name, &b, &err);
                n = b;
                break;
        case READ_U64:
                r = config_read_uint64(c, read_cases[_i].name, read_cases[_i].lo,
                                       read_cases[_i].hi, &n, &err);
                break;
        case READ_UNSIGNED:
                r = config_read_unsigned(c, read_cases[_i].name, (unsigned) read_cases[_i].lo,
                                         (unsigned) read_cases[_i].hi, &u, &err);
                n = u;
                break;
        case READ_USEC:
                r = config_read_usec(c, read_cases[_i].name, &n, &err);
                break;
        case READ_SIZE:
                r = config_read_size(c, read_cases[_i].name, &n, &err);
                break;
        case READ_STRDUP:
                r = config_read_strdup(c, read_cases[_i].name, &str, &err);
                break;
        case READ_LIST:
                r = config_read_list(c, read_cases[_i].name, &l, &err);
                break;
        case READ_ENUM:
                r = config_read_enum(c, read_cases[_i].name, levels, ELEMENTSOF(levels), &e,
                                     &err);
                n = (uint64_t) (e + 1);
                break;
        default:
                ck_abort();
        }
        ck_assert_int_eq(r, read_cases[_i].ret);
        if (r < 0) {
                ck_assert_str_eq(strempty(err), read_cases[_i].text);
                return;
        }
        ck_assert_ptr_null(err);
        if (read_cases[_i].kind == READ_STRDUP)
                ck_assert_str_eq(str, read_cases[_i].text);
        else if (read_cases[_i].kind == READ_LIST) {
                char joined[256] = "";

                for (char **i = l; *i; i++) {
                        if (i != l)
                                strcat(joined, "|");
                        strcat(joined, *i);
                }
                ck_assert_str_eq(joined, read_cases[_i].text);
        } else
                ck_assert_uint_eq(n, read_cases[_i].number);
}
END_TEST

START_TEST(test_read_maps)
{
        _cleanup_(config_freep) Config *c = new_config(NULL);
        _cleanup_(dict_list_freep) DictList *l = NULL;
        _cleanup_free_ char *err = NULL;

        ck_assert_int_eq(config_set(c, "virtual_alias_maps", " , "), 0);
        ck_assert_int_eq(config_read_maps(c, "virtual_alias_maps", DICT_FLAGS_DEFAULT, &l, &err),
                         0);
        ck_assert_ptr_null(l);
        ck_assert_int_eq(config_set(c, "virtual_alias_maps", "inline:{a=b}, static:x"), 0);
        ck_assert_int_eq(config_read_maps(c, "virtual_alias_maps", DICT_FLAGS_DEFAULT, &l, &err),
                         0);
        ck_assert_uint_eq(dict_list_size(l), 2);
        l = dict_list_free(l);
        ck_assert_int_eq(config_set(c, "virtual_alias_maps", "nosuchtype:x"), 0);
        ck_assert_int_eq(config_read_maps(c, "virtual_alias_maps", DICT_FLAGS_DEFAULT, &l, &err),
                         -EPROTONOSUPPORT);
        ck_assert_ptr_null(l);
        ck_assert(startswith(err, "virtual_alias_maps: unsupported table type"));
}
END_TEST

START_TEST(test_new_from_dir)
{
        char dir[4096], path[4200];
        char *ok[] = { (char *) "biff = no", NULL }, *bad[] = { (char *) "biff", NULL };
        _cleanup_free_ char *err = NULL;
        Config *c = NULL;
        bool b = true;
        FILE *f;

        snprintf(dir, sizeof(dir), "%s/test_config_dir_XXXXXX", getenv("TMPDIR") ?: "/tmp");
        ck_assert_ptr_nonnull(mkdtemp(dir));
        ck_assert_int_eq(config_new_from_dir(dir, NULL, &c, &err), 0);     /* no main.cf */
        ck_assert_int_eq(config_get_bool(c, "biff", &b), 0);
        ck_assert(b);
        c = config_free(c);

        snprintf(path, sizeof(path), "%s/main.cf", dir);
        f = fopen(path, "we");
        ck_assert_ptr_nonnull(f);
        fputs("biff = yes\nmyhostname = a.example\n", f);
        fclose(f);
        ck_assert_int_eq(config_new_from_dir(dir, ok, &c, &err), 0);
        ck_assert_int_eq(config_get_bool(c, "biff", &b), 0);
        ck_assert(!b);                  /* -o wins over main.cf */
        ck_assert_str_eq(config_get(c, "myhostname"), "a.example");
        c = config_free(c);
        ck_assert_int_eq(config_new_from_dir(dir, bad, &c, &err), -EBADMSG);
        ck_assert_ptr_null(c);
        ck_assert_str_eq(err, "-o biff: not name=value");

        f = fopen(path, "we");
        ck_assert_ptr_nonnull(f);
        fputs("biff\n", f);
        fclose(f);
        err = mfree(err);
        ck_assert_int_eq(config_new_from_dir(dir, NULL, &c, &err), -EBADMSG);
        ck_assert_ptr_nonnull(err);
        ck_assert_int_eq(unlink(path), 0);
        ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

static Suite *config_suite(void) {
        Suite *s = suite_create("config");
        TCase *tc;

        tc = tcase_create("parse");
        tcase_add_loop_test(tc, test_parse_table, 0, ELEMENTSOF(parse_cases));
        tcase_add_test(tc, test_parse_line_numbers);
        tcase_add_test(tc, test_parse_too_long);
        tcase_add_test(tc, test_load_file_errors);
        suite_add_tcase(s, tc);

        tc = tcase_create("expand");
        tcase_add_loop_test(tc, test_expand_table, 0, ELEMENTSOF(expand_cases));
        tcase_add_loop_test(tc, test_expand_errors, 0, ELEMENTSOF(expand_error_cases));
        tcase_add_test(tc, test_expand_cycle_names_parameter);
        tcase_add_test(tc, test_expand_deep_and_long);
        tcase_add_test(tc, test_expand_undefined_reported);
        suite_add_tcase(s, tc);

        tc = tcase_create("set");
        tcase_add_test(tc, test_unknown_and_user_names);
        tcase_add_test(tc, test_overrides);
        tcase_add_test(tc, test_foreach_set);
        tcase_add_test(tc, test_dir_resolve);
        suite_add_tcase(s, tc);

        tc = tcase_create("typed");
        tcase_add_loop_test(tc, test_time, 0, ELEMENTSOF(time_cases));
        tcase_add_test(tc, test_time_defaults);
        tcase_add_loop_test(tc, test_size, 0, ELEMENTSOF(size_cases));
        tcase_add_loop_test(tc, test_bool, 0, ELEMENTSOF(bool_cases));
        tcase_add_test(tc, test_int);
        tcase_add_loop_test(tc, test_list, 0, ELEMENTSOF(list_cases));
        tcase_add_test(tc, test_list_from_config);
        suite_add_tcase(s, tc);

        tc = tcase_create("read");
        tcase_add_loop_test(tc, test_read, 0, ELEMENTSOF(read_cases));
        tcase_add_test(tc, test_read_maps);
        tcase_add_test(tc, test_new_from_dir);
        suite_add_tcase(s, tc);

        tc = tcase_create("defaults");
        tcase_add_test(tc, test_derived_defaults);
        tcase_add_test(tc, test_real_host);
        tcase_add_test(tc, test_table);
        tcase_add_loop_test(tc, test_suggest, 0, ELEMENTSOF(suggest_cases));
        tcase_add_test(tc, test_suggest_none);
        suite_add_tcase(s, tc);

        tc = tcase_create("edit");
        tcase_add_loop_test(tc, test_edit_text, 0, ELEMENTSOF(edit_cases));
        tcase_add_test(tc, test_edit_file);
        tcase_add_test(tc, test_edit_round_trip);
        suite_add_tcase(s, tc);

        return s;
}

TERN_CHECK_MAIN(config_suite)
