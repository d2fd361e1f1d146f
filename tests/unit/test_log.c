/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Unit tests of log: stderr output shape, %m from the error argument, return values, level
 * filtering, structured entries (their MESSAGE line), and sanitising peer strings. */
#include <fcntl.h>
#include <sys/stat.h>

#include "buf.h"
#include "check_main.h"
#include "log.h"

/* Runs f with stderr redirected to a temporary file and returns what was written. */
static char *capture_stderr(void (*f)(void)) {
        _cleanup_(buf_done) Buf b = BUF_INIT(65536);
        _cleanup_free_ char *path = NULL;
        int fd, saved;

        ck_assert_int_ge(asprintf(&path, "%s/test-log-XXXXXX", getenv("TMPDIR") ?: "/tmp"), 0);
        fd = mkstemp(path);
        ck_assert_int_ge(fd, 0);
        (void) unlink(path);
        fflush(stderr);
        saved = dup(STDERR_FILENO);
        ck_assert_int_ge(dup2(fd, STDERR_FILENO), 0);
        f();
        fflush(stderr);
        ck_assert_int_ge(dup2(saved, STDERR_FILENO), 0);
        close(saved);
        ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
        while (buf_read_fd(&b, fd) > 0)
                ;
        close(fd);
        return buf_steal(&b);
}

static int ret_errno;

static void emit_plain(void) {
        log_set_ident("tern/test");
        log_info("%s: client=%s", "3C868150", "localhost[127.0.0.1]");
        ret_errno = log_warning_errno(-ENOSPC, "cannot write queue file: %m");
        log_debug("hidden at info level");
}

START_TEST(test_stderr_shape)
{
        _cleanup_free_ char *out = NULL;

        log_set_target_journal(0);
        log_set_max_level(LOG_INFO);
        out = capture_stderr(emit_plain);
        ck_assert_str_eq(out, "tern/test: 3C868150: client=localhost[127.0.0.1]\n"
                              "tern/test: warning: cannot write queue file: "
                              "No space left on device\n");
        ck_assert_int_eq(ret_errno, -ENOSPC);
}
END_TEST

static void emit_struct(void) {
        log_set_ident("tern/qmgr");
        log_struct(LOG_INFO,
                   "TERN_QUEUE_ID=%s", "ABC", "TERN_RECIPIENT=%s", "a@b",
                   "TERN_DELAY=%.2f", 0.26, "TERN_SIZE=%zu", (size_t) 4096,
                   "TERN_STATUS=sent",
                   LOG_MESSAGE("%s: to=<%s>, relay=%s, delay=%.2g, dsn=%s, status=sent (%s)",
                               "ABC", "a@b", "local", 0.26, "2.0.0", "delivered to maildir"));
        ret_errno = log_struct_errno(LOG_ERR, EIO, "TERN_QUEUE_ID=%s", "ABC",
                                     LOG_MESSAGE("%s: read error: %m", "ABC"));
}

START_TEST(test_struct_message)
{
        _cleanup_free_ char *out = NULL;

        log_set_target_journal(0);
        log_set_max_level(LOG_INFO);
        out = capture_stderr(emit_struct);
        ck_assert_str_eq(out, "tern/qmgr: ABC: to=<a@b>, relay=local, delay=0.26, dsn=2.0.0, "
                              "status=sent (delivered to maildir)\n"
                              "tern/qmgr: error: ABC: read error: Input/output error\n");
        ck_assert_int_eq(ret_errno, -EIO);
}
END_TEST

static void emit_quiet(void) {
        log_set_quiet(true);
        log_error("must not appear");
        log_set_quiet(false);
}

START_TEST(test_quiet_and_levels)
{
        _cleanup_free_ char *out = NULL;

        log_set_target_journal(0);
        out = capture_stderr(emit_quiet);
        ck_assert_str_eq(out, "");
        log_set_max_level(LOG_WARNING);
        ck_assert_int_eq(log_get_max_level(), LOG_WARNING);
        ck_assert_int_eq(log_info_errno(-EPROTO, "x"), -EPROTO);
        ck_assert_int_eq(log_info_errno(EPROTO, "x"), -EPROTO);
        log_set_max_level(LOG_INFO);
}
END_TEST

static const struct {
        const char *in;
        size_t n;
        size_t max;
        const char *out;
} sanitize_cases[] = {
        { "mail.example.com", 0, 64, "mail.example.com" },
        { "a\r\nb", 0, 64, "a\\x0d\\x0ab" },
        { "back\\slash", 0, 64, "back\\\\slash" },
        { "\xc3\xa9t\xc3\xa9", 0, 64, "\\xc3\\xa9t\\xc3\\xa9" },
        { "abcdef", 0, 3, "abc..." },
        { "nul\0x", 5, 64, "nul\\x00x" },
        { "\x7f\x1f\xff~ ", 0, 64, "\\x7f\\x1f\\xff~ " },       /* the edges of printable */
        { "", 0, 64, "" },
};

START_TEST(test_sanitize)
{
        char dst[LOG_SANITIZE_BUFSIZE];
        size_t n = sanitize_cases[_i].n ?: strlen(sanitize_cases[_i].in);

        log_sanitize(dst, sizeof dst, sanitize_cases[_i].in, n, sanitize_cases[_i].max);
        ck_assert_str_eq(dst, sanitize_cases[_i].out);
}
END_TEST

START_TEST(test_sanitize_small_destination)
{
        char dst[8];

        log_sanitize(dst, sizeof dst, "\x01\x02\x03\x04", 4, 64);
        ck_assert_str_eq(dst, "\\x01");
}
END_TEST

static Suite *log_suite(void) {
        Suite *s = suite_create("log");
        TCase *tc;

        tc = tcase_create("output");
        tcase_add_test(tc, test_stderr_shape);
        tcase_add_test(tc, test_struct_message);
        tcase_add_test(tc, test_quiet_and_levels);
        suite_add_tcase(s, tc);

        tc = tcase_create("sanitize");
        tcase_add_loop_test(tc, test_sanitize, 0, ELEMENTSOF(sanitize_cases));
        tcase_add_test(tc, test_sanitize_small_destination);
        suite_add_tcase(s, tc);
        return s;
}

TERN_CHECK_MAIN(log_suite)
