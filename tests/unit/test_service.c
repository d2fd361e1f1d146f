/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <errno.h>
#include <ftw.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check_main.h"
#include "service.h"

static const struct {
        const char *argv[8];
        bool with_role;
        int result;
        const char *config_dir;
        size_t n_overrides;
        const char *role;
} argv_cases[] = {
        { { "x", NULL }, false, SERVICE_ARGS_RUN, NULL, 0, NULL },
        { { "x", "-c", "/etc/t", "-v", NULL }, false, SERVICE_ARGS_RUN, "/etc/t", 0, NULL },
        { { "x", "-o", "a=b", "-o", "c = d", NULL }, false, SERVICE_ARGS_RUN, NULL, 2, NULL },
        { { "x", "--role=submission", NULL }, true, SERVICE_ARGS_RUN, NULL, 0, "submission" },
        { { "x", "--role=submission", NULL }, false, -EINVAL, NULL, 0, NULL },
        { { "x", "--help", NULL }, false, SERVICE_ARGS_HELP, NULL, 0, NULL },
        { { "x", "-h", NULL }, true, SERVICE_ARGS_HELP, NULL, 0, NULL },
        { { "x", "--version", NULL }, false, SERVICE_ARGS_VERSION, NULL, 0, NULL },
        { { "x", "-q", NULL }, false, -EINVAL, NULL, 0, NULL },
        { { "x", "-c", NULL }, false, -EINVAL, NULL, 0, NULL },
        { { "x", "extra", NULL }, false, -EINVAL, NULL, 0, NULL },
};

START_TEST(test_service_parse_argv)
{
        ServiceArgs a = {};
        char *argv[8] = {};
        char *error = NULL;
        int argc = 0, r;

        for (; argv_cases[_i].argv[argc]; argc++)
                argv[argc] = (char *) argv_cases[_i].argv[argc];
        r = service_parse_argv(argc, argv, argv_cases[_i].with_role, &a, &error);
        ck_assert_int_eq(r, argv_cases[_i].result);
        if (r == SERVICE_ARGS_RUN) {
                ck_assert(streq_ptr(a.config_dir, argv_cases[_i].config_dir));
                ck_assert_uint_eq(a.n_overrides, argv_cases[_i].n_overrides);
                ck_assert(streq_ptr(a.role, argv_cases[_i].role));
                if (a.n_overrides)
                        ck_assert_ptr_null(a.overrides[a.n_overrides]);
        }
        if (r < 0)
                ck_assert_ptr_nonnull(error);
        service_args_done(&a);
        free(error);
}
END_TEST

START_TEST(test_service_help)
{
        _cleanup_free_ char *h = service_help("smtpd", "The server.", true);
        _cleanup_free_ char *h2 = service_help("qmgr", "The manager.", false);

        ck_assert_ptr_nonnull(strstr(h, "Usage: smtpd [OPTIONS]\n\nThe server.\n"));
        ck_assert_ptr_nonnull(strstr(h, "--role=ROLE"));
        ck_assert_ptr_null(strstr(h2, "--role"));
}
END_TEST

static int answer(void *userdata, const IpcRequest *req, Buf *out) {
        int *calls = userdata;
        int r;

        (*calls)++;
        for (size_t i = 0; i < req->n_rcpts; i++) {
                r = ipc_result_format(req->rcpts[i].index, IPC_STATUS_SENT, "2.0.0", "test",
                                      IPC_DELAY_NONE, "ok", out);
                if (r < 0)
                        return r;
        }
        return 0;
}

static void send_request(int fd, const char *id) {
        _cleanup_(ipc_request_freep) IpcRequest *r = NULL;
        _cleanup_(buf_done) Buf b = BUF_INIT(1 << 20);

        ck_assert_int_eq(ipc_request_new(&r), 0);
        r->queue = QUEUE_ACTIVE;
        snprintf(r->id, sizeof(r->id), "%s", id);
        r->content_offset = 100;
        r->content_size = 10;
        r->sender = strdup("a@example.org");
        r->transport = strdup("test");
        r->nexthop = strdup("example.org");
        ck_assert_int_eq(ipc_request_add_rcpt(r, 3, 0, "b@example.org", "b@example.org", NULL),
                         0);
        ck_assert_int_eq(ipc_request_format(r, &b), 0);
        ck_assert_int_eq(write(fd, buf_peek(&b), buf_pending(&b)), (ssize_t) buf_pending(&b));
}

START_TEST(test_service_serve_max_use)
{
        ServiceLoopLimits limits = { .max_use = 2, .max_idle_usec = 5000000,
                                     .ipc_timeout_usec = 5000000, .reply_max = 1 << 20 };
        char id[QUEUE_ID_MAX + 1], reply[4096];
        int sv[2], calls = 0;
        ssize_t n;

        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        send_request(sv[1], "0123456789ABCDEF");
        send_request(sv[1], "0123456789ABCDEG");
        send_request(sv[1], "0123456789ABCDEH");
        ck_assert_int_eq(service_serve_requests(sv[0], &limits, answer, &calls, id), 0);
        ck_assert_int_eq(calls, 2);
        n = read(sv[1], reply, sizeof(reply) - 1);
        ck_assert_int_gt(n, 0);
        reply[n] = '\0';
        /* The loop adds the end lines; the one before max_use says it is the last. */
        ck_assert_str_eq(reply, "result 3 sent 2.0.0 test - ok\r\nend\r\n"
                                "result 3 sent 2.0.0 test - ok\r\nend last\r\n");
        close(sv[0]);
        close(sv[1]);
}
END_TEST

START_TEST(test_service_serve_idle_and_garbage)
{
        ServiceLoopLimits limits = { .max_idle_usec = 50000, .ipc_timeout_usec = 1000000,
                                     .reply_max = 1 << 20 };
        char id[QUEUE_ID_MAX + 1];
        int sv[2], calls = 0;

        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        /* Idle past max_idle: a normal end. */
        ck_assert_int_eq(service_serve_requests(sv[0], &limits, answer, &calls, id), 0);
        /* Garbage: the parser's error ends the loop. */
        ck_assert_int_eq(write(sv[1], "hello\r\n", 7), 7);
        ck_assert_int_eq(service_serve_requests(sv[0], &limits, answer, &calls, id), -EBADMSG);
        ck_assert_int_eq(calls, 0);
        /* The peer closed: a normal end. */
        close(sv[1]);
        ck_assert_int_eq(service_serve_requests(sv[0], &limits, answer, &calls, id), 0);
        close(sv[0]);
}
END_TEST

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        (void) st;
        (void) flag;
        (void) ftw;
        return remove(path);
}

/* The queue file a request names: found and matching, or a deferral reason for each way it
 * is not. */
START_TEST(test_service_request_file)
{
        _cleanup_(queue_envelope_freep) QueueEnvelope *env = NULL;
        _cleanup_(queue_writer_freep) QueueWriter *w = NULL;
        _cleanup_(queue_dirs_freep) QueueDirs *dirs = NULL;
        _cleanup_(ipc_request_freep) IpcRequest *req = NULL;
        _cleanup_free_ char *base = NULL;
        QueueFile *f = NULL;
        char why[256];

        ck_assert_int_ge(asprintf(&base, "%s/test_service_XXXXXX",
                                  getenv("TMPDIR") ?: "/tmp"), 0);
        ck_assert_ptr_nonnull(mkdtemp(base));
        ck_assert_int_eq(queue_dirs_create(base), 0);
        ck_assert_int_eq(queue_dirs_open(base, &dirs), 0);
        ck_assert_int_eq(queue_envelope_new(&env), 0);
        ck_assert_int_eq(queue_envelope_set(env, QUEUE_FIELD_SENDER, "a@example.org"), 0);
        ck_assert_int_eq(queue_envelope_add_rcpt(env, "b@example.org", NULL, 0), 0);
        ck_assert_int_eq(queue_writer_new(queue_dirs_fd(dirs, QUEUE_INCOMING), env, 0, &w), 0);
        ck_assert_int_eq(queue_writer_put_line(w, "Subject: x", 10), 0);
        ck_assert_int_eq(queue_writer_finish(w), 0);

        ck_assert_int_eq(ipc_request_new(&req), 0);
        req->queue = QUEUE_INCOMING;
        snprintf(req->id, sizeof(req->id), "%s", queue_writer_id(w));
        /* Offset and size 0: not what the file holds. */
        ck_assert_int_eq(service_request_file(base, req, &f, why, sizeof(why)), -EBADMSG);
        ck_assert_str_eq(why, "request does not match the queue file");
        ck_assert_ptr_null(f);

        /* What qmgr asks for: the file. */
        ck_assert_int_eq(queue_file_open(queue_dirs_fd(dirs, QUEUE_INCOMING), req->id, false,
                                         NULL, &f), 0);
        req->content_offset = f->envelope->content_offset;
        req->content_size = f->envelope->content_size;
        f = queue_file_free(f);
        ck_assert_int_eq(service_request_file(base, req, &f, why, sizeof(why)), 0);
        ck_assert_ptr_nonnull(f);
        ck_assert_str_eq(f->id, req->id);
        f = queue_file_free(f);
        ck_assert_int_eq(service_request_file_at(queue_dirs_fd(dirs, QUEUE_INCOMING),
                                                 "incoming", req, &f, why, sizeof(why)), 0);
        f = queue_file_free(f);

        /* A size that differs, a file in another queue, a queue that is not there. */
        req->content_size++;
        ck_assert_int_eq(service_request_file(base, req, &f, why, sizeof(why)), -EBADMSG);
        req->content_size--;
        req->queue = QUEUE_ACTIVE;
        ck_assert_int_eq(service_request_file(base, req, &f, why, sizeof(why)), -ENOENT);
        ck_assert_str_eq(why, "cannot open queue file: No such file or directory");
        ck_assert_int_eq(nftw(base, rm_entry, 16, FTW_DEPTH | FTW_PHYS), 0);
        ck_assert_int_eq(service_request_file(base, req, &f, why, sizeof(why)), -ENOENT);
        ck_assert_ptr_null(f);
}
END_TEST

START_TEST(test_service_take_connection_none)
{
        unsetenv("LISTEN_FDS");
        unsetenv("LISTEN_PID");
        ck_assert_int_eq(service_take_connection(), -EBADF);
}
END_TEST

static Suite *service_suite(void) {
        Suite *s = suite_create("service");
        TCase *tc;

        tc = tcase_create("argv");
        tcase_add_loop_test(tc, test_service_parse_argv, 0, ELEMENTSOF(argv_cases));
        tcase_add_test(tc, test_service_help);
        suite_add_tcase(s, tc);
        tc = tcase_create("serve");
        tcase_add_test(tc, test_service_serve_max_use);
        tcase_add_test(tc, test_service_serve_idle_and_garbage);
        tcase_add_test(tc, test_service_take_connection_none);
        tcase_add_test(tc, test_service_request_file);
        suite_add_tcase(s, tc);
        return s;
}

TERN_CHECK_MAIN(service_suite)
