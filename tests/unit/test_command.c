/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Unit tests of command: /bin/sh -c commands that read their input and echo it, exit with
 * <sysexits.h> codes, die by a signal, outlive a short time limit (and leave a child, which the
 * time limit must kill with them), write more than the output limit, stop reading a large input,
 * fail to execute; the child hooks, the environment and the session. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>

#include "check_main.h"
#include "command.h"

#define SEC (UINT64_C(1000000))
#define MIB (1024U * 1024U)

static char *empty_env[] = { NULL };

/* Input: n_pieces pieces of text, or n_bytes of 'a' in 64 KiB pieces, then an error (or EOF). */
typedef struct Feed {
        const char *const *pieces;
        size_t n_pieces;
        size_t n_bytes;
        int error;
        size_t i;
        size_t fed;
} Feed;

static int feed(void *userdata, Buf *in) {
        Feed *f = userdata;
        static char a[65536];

        if (f->i < f->n_pieces) {
                ck_assert_int_eq(buf_append_str(in, f->pieces[f->i++]), 0);
                return 1;
        }
        if (f->fed < f->n_bytes) {
                size_t n = MIN(sizeof(a), f->n_bytes - f->fed);

                memset(a, 'a', n);
                ck_assert_int_eq(buf_append(in, a, n), 0);
                f->fed += n;
                return 1;
        }
        return f->error;
}

/* Runs /bin/sh -c command in a new session with feed f (NULL: no input). */
static int run(const char *command, Feed *f, uint64_t time_limit_usec, size_t output_max,
               Buf *ret_output, int *ret_status) {
        char *argv[] = { (char *) "/bin/sh", (char *) "-c", (char *) command, NULL };
        CommandSpec spec = {
                .argv = argv,
                .env = empty_env,
                .new_session = true,
                .feed = f ? feed : NULL,
                .userdata = f,
                .time_limit_usec = time_limit_usec,
        };

        (void) signal(SIGPIPE, SIG_IGN);
        *ret_output = BUF_INIT(output_max);
        return command_run(&spec, ret_output, ret_status);
}

START_TEST(test_run_echoes_input)
{
        static const char *const pieces[] = { "hello\n", "", "wor", "ld\n" };
        _cleanup_(buf_done) Buf out = {};
        Feed f = { .pieces = pieces, .n_pieces = ELEMENTSOF(pieces) };
        int status = -1;

        ck_assert_int_eq(run("cat; echo done >&2", &f, COMMAND_TIME_LIMIT_NONE, 1024, &out,
                             &status), 0);
        ck_assert(WIFEXITED(status));
        ck_assert_int_eq(WEXITSTATUS(status), 0);
        ck_assert_str_eq(buf_peek(&out), "hello\nworld\ndone");
}
END_TEST

static const struct {
        const char *command;
        int exit_status;                /* -1: killed by signal */
        int signal;
        const char *output;
} exit_cases[] = {
        { "exit 0", 0, 0, "" },
        { "read x; echo \"got $x\"; exit 75", EX_TEMPFAIL, 0, "got line" },
        { "echo 5.1.1 no such user; exit 67", EX_NOUSER, 0, "5.1.1 no such user" },
        { "echo '  padded  '; printf '\\n\\t \\n'; exit 1", 1, 0, "  padded" },
        { "echo bye; kill -TERM $$", -1, SIGTERM, "bye" },
        { "kill -KILL $$", -1, SIGKILL, "" },
        { "exit 255", 255, 0, "" },
};

START_TEST(test_run_exit_status)
{
        static const char *const pieces[] = { "line\n" };
        _cleanup_(buf_done) Buf out = {};
        Feed f = { .pieces = pieces, .n_pieces = 1 };
        int status = -1;

        ck_assert_int_eq(run(exit_cases[_i].command, &f, 10 * SEC, 1024, &out, &status), 0);
        if (exit_cases[_i].exit_status >= 0) {
                ck_assert(WIFEXITED(status));
                ck_assert_int_eq(WEXITSTATUS(status), exit_cases[_i].exit_status);
        } else {
                ck_assert(WIFSIGNALED(status));
                ck_assert_int_eq(WTERMSIG(status), exit_cases[_i].signal);
        }
        ck_assert_str_eq(buf_peek(&out), exit_cases[_i].output);
}
END_TEST

START_TEST(test_run_time_limit_kills_session)
{
        _cleanup_(buf_done) Buf out = {};
        int status = -1, child_status;
        pid_t pid;

        /* The command's own child comes back to us once the command is gone: we can wait for it
         * and see how it ended. */
        ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
        ck_assert_int_eq(run("sleep 60 & echo $!; wait", NULL, SEC / 5, 1024, &out, &status),
                         -ETIMEDOUT);
        ck_assert_int_eq(status, -1);                   /* not written */
        pid = atoi(buf_peek(&out));
        ck_assert_int_gt(pid, 1);
        ck_assert_int_eq(waitpid(pid, &child_status, 0), pid);
        ck_assert(WIFSIGNALED(child_status));
        ck_assert_int_eq(WTERMSIG(child_status), SIGKILL);
}
END_TEST

static const struct {
        const char *command;
        size_t n_in;                    /* bytes of input */
        int feed_error;                 /* after them */
        uint64_t time_limit_usec;
        size_t output_max;
        int result;
        int exit_status;                /* when result is 0 */
        bool all_fed;
        const char *output;
} stream_cases[] = {
        { "wc -c", 4 * MIB + 7, 0, 10 * SEC, 64, 0, 0, true, "4194311" },
        /* It stops reading: the feeding stops, nothing else. */
        { "head -c 10 >/dev/null; echo ok", 4 * MIB, 0, 10 * SEC, 64, 0, 0, false, "ok" },
        /* It neither reads nor ends: the feeding does not block past the limit. */
        { "echo started; exec sleep 60", 4 * MIB, 0, SEC / 5, 64, -ETIMEDOUT, 0, false,
          "started" },
        /* 1 MB out, far more than a pipe holds: the first 16 bytes (the output limit) are kept,
         * all of them "x", the rest is read and dropped. */
        { "head -c 1000000 /dev/zero | tr '\\0' x; exit 3", 0, 0, 10 * SEC, 16, 0, 3, true,
          "xxxxxxxxxxxxxxxx" },
        /* Our failure ends it. */
        { "cat >/dev/null; echo read all", 5, -EIO, 10 * SEC, 64, -EIO, 0, true, "" },
};

START_TEST(test_run_streams)
{
        _cleanup_(buf_done) Buf out = {};
        Feed f = { .n_bytes = stream_cases[_i].n_in, .error = stream_cases[_i].feed_error };
        int status = -1;

        ck_assert_int_eq(run(stream_cases[_i].command, &f, stream_cases[_i].time_limit_usec,
                             stream_cases[_i].output_max, &out, &status),
                         stream_cases[_i].result);
        if (stream_cases[_i].result == 0) {
                ck_assert(WIFEXITED(status));
                ck_assert_int_eq(WEXITSTATUS(status), stream_cases[_i].exit_status);
        } else
                ck_assert_int_eq(status, -1);           /* not written */
        ck_assert_str_eq(buf_peek(&out), stream_cases[_i].output);
        ck_assert(stream_cases[_i].all_fed == (f.fed == f.n_bytes));
}
END_TEST

static int setup_exit_42(void *userdata) {
        ck_assert_ptr_eq(userdata, empty_env);
        fputs("setup failed\n", stderr);
        return 42;
}

static int setup_ok(void *userdata) {
        (void) userdata;
        return chdir("/") < 0 ? EX_OSERR : 0;
}

static int exec_failed(void *userdata, int error) {
        (void) userdata;
        fprintf(stderr, "cannot execute: %s\n", strerror(error));
        return EX_TEMPFAIL;
}

static const struct {
        const char *path;
        int (*setup)(void *userdata);
        int (*exec_failed)(void *userdata, int error);
        int exit_status;
        const char *output;
} hook_cases[] = {
        { "/bin/pwd", setup_ok, NULL, 0, "/" },
        { "/bin/pwd", setup_exit_42, NULL, 42, "setup failed" },
        { "/nonexistent/tern-command", NULL, NULL, EX_UNAVAILABLE, "" },
        { "/nonexistent/tern-command", setup_ok, exec_failed, EX_TEMPFAIL,
          "cannot execute: No such file or directory" },
};

START_TEST(test_run_child_hooks)
{
        char *argv[] = { (char *) hook_cases[_i].path, NULL };
        _cleanup_(buf_done) Buf out = BUF_INIT(256);
        CommandSpec spec = {
                .argv = argv,
                .env = empty_env,
                .child_setup = hook_cases[_i].setup,
                .child_exec_failed = hook_cases[_i].exec_failed,
                .userdata = empty_env,
                .time_limit_usec = 10 * SEC,
        };
        int status = -1;

        ck_assert_int_eq(command_run(&spec, &out, &status), 0);
        ck_assert(WIFEXITED(status));
        ck_assert_int_eq(WEXITSTATUS(status), hook_cases[_i].exit_status);
        ck_assert_str_eq(buf_peek(&out), hook_cases[_i].output);
}
END_TEST

START_TEST(test_run_session)
{
        /* Field 6 of /proc/PID/stat is the session. */
        char *argv[] = { (char *) "/bin/sh", (char *) "-c",
                         (char *) "read _ _ _ _ _ sid _ < /proc/$$/stat; [ \"$sid\" = \"$$\" ]",
                         NULL };
        _cleanup_(buf_done) Buf out = BUF_INIT(256);
        CommandSpec spec = {
                .argv = argv,
                .env = empty_env,
                .new_session = _i == 1,
                .time_limit_usec = COMMAND_TIME_LIMIT_NONE,
        };
        int status = -1;

        ck_assert_int_eq(command_run(&spec, &out, &status), 0);
        ck_assert(WIFEXITED(status));
        ck_assert_int_eq(WEXITSTATUS(status), _i == 1 ? 0 : 1);
}
END_TEST

START_TEST(test_run_environment)
{
        char *argv[] = { (char *) "/usr/bin/env", NULL };
        char *env[] = { (char *) "FOO=bar", (char *) "PATH=/nowhere", NULL };
        _cleanup_(buf_done) Buf out = BUF_INIT(256);
        CommandSpec spec = {
                .argv = argv,
                .env = env,
                .time_limit_usec = COMMAND_TIME_LIMIT_NONE,
        };
        int status = -1;

        ck_assert_int_eq(setenv("TERN_TEST_NOT_PASSED", "1", 1), 0);
        ck_assert_int_eq(command_run(&spec, &out, &status), 0);
        ck_assert_int_eq(status, 0);
        ck_assert_str_eq(buf_peek(&out), "FOO=bar\nPATH=/nowhere");
}
END_TEST

START_TEST(test_env_new)
{
        char *export[] = { (char *) "TERN_TEST_A", (char *) "PATH", (char *) "TERN_TEST_UNSET",
                           (char *) "TERN_TEST_EMPTY", NULL };
        _cleanup_strv_free_ char **env = NULL, **none = NULL;

        ck_assert_int_eq(setenv("TERN_TEST_A", "a=1 b", 1), 0);
        ck_assert_int_eq(setenv("TERN_TEST_EMPTY", "", 1), 0);
        ck_assert_int_eq(setenv("PATH", "/evil", 1), 0);
        ck_assert_int_eq(unsetenv("TERN_TEST_UNSET"), 0);

        ck_assert_int_eq(command_env_new(export, &env), 0);
        ck_assert_str_eq(env[0], "PATH=" COMMAND_PATH);
        ck_assert_str_eq(env[1], "TERN_TEST_A=a=1 b");
        ck_assert_str_eq(env[2], "TERN_TEST_EMPTY=");
        ck_assert_ptr_null(env[3]);

        ck_assert_int_eq(command_env_add(&env, "HOME", "/home/u"), 0);
        ck_assert_int_eq(command_env_add(&env, "EXTENSION", NULL), 0);
        ck_assert_str_eq(env[3], "HOME=/home/u");
        ck_assert_str_eq(env[4], "EXTENSION=");
        ck_assert_ptr_null(env[5]);

        ck_assert_int_eq(command_env_new(NULL, &none), 0);
        ck_assert_str_eq(none[0], "PATH=" COMMAND_PATH);
        ck_assert_ptr_null(none[1]);
}
END_TEST

static Suite *command_suite(void) {
        Suite *s = suite_create("command");
        TCase *tc;

        tc = tcase_create("run");
        tcase_set_timeout(tc, 30);
        tcase_add_test(tc, test_run_echoes_input);
        tcase_add_loop_test(tc, test_run_exit_status, 0, ELEMENTSOF(exit_cases));
        tcase_add_test(tc, test_run_time_limit_kills_session);
        tcase_add_loop_test(tc, test_run_streams, 0, ELEMENTSOF(stream_cases));
        tcase_add_loop_test(tc, test_run_child_hooks, 0, ELEMENTSOF(hook_cases));
        tcase_add_loop_test(tc, test_run_session, 0, 2);
        tcase_add_test(tc, test_run_environment);
        suite_add_tcase(s, tc);

        tc = tcase_create("env");
        tcase_add_test(tc, test_env_new);
        suite_add_tcase(s, tc);
        return s;
}

TERN_CHECK_MAIN(command_suite)
