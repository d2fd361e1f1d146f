/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Unit tests of ipc_client: transport names and socket paths (tables, valid and invalid),
 * Postfix's "transport:nexthop" values, connecting to a socket under $TMPDIR (present,
 * missing, not a socket, path too long), and the blocking exchange over a socketpair: a whole
 * reply, one trickled a byte at a time by a child, junk after "end", a partial reply then end
 * of file, a malformed and an oversized reply, a silent agent (deadline), an agent gone before
 * the request, and a request that cannot be sent. Every error code of the module is reached. */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check_main.h"
#include "ipc_client.h"

#define ID "0B3kz9Qx1a2b3c4D"

static const char *tmpdir(void) {
        const char *t = getenv("TMPDIR");

        return t && *t ? t : "/tmp";
}

START_TEST(test_transport_is_valid)
{
        static const struct {
                const char *name;
                bool valid;
        } cases[] = {
                { "lmtp", true },
                { "smtp", true },
                { "dovecot-lmtp", true },
                { "my_relay.2", true },
                { "A", true },
                { "", false },
                { ".", false },
                { "..", false },
                { "../qmgr", false },
                { "a/b", false },
                { "a b", false },
                { "lmtp:", false },
                { "l\xc3\xa9", false },
                { "0123456789012345678901234567890123456789012345678901234567890123", true },
                { "01234567890123456789012345678901234567890123456789012345678901234", false },
        };

        ck_assert(!ipc_client_transport_is_valid(NULL));
        for (size_t i = 0; i < ELEMENTSOF(cases); i++)
                ck_assert_msg(ipc_client_transport_is_valid(cases[i].name) == cases[i].valid,
                              "case %zu: %s", i, cases[i].name);
}
END_TEST

START_TEST(test_socket_path)
{
        static const struct {
                const char *dir, *transport;
                int ret;
                const char *path;
        } cases[] = {
                { "/run/tern", "lmtp", 0, "/run/tern/lmtp" },
                { "/tmp/x/run", "virtual", 0, "/tmp/x/run/virtual" },
                { "/run/tern", "../qmgr", -EINVAL, NULL },
                { "/run/tern", "", -EINVAL, NULL },
                { "/run/tern", NULL, -EINVAL, NULL },
                { "", "lmtp", -EINVAL, NULL },
                { NULL, "lmtp", -EINVAL, NULL },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *p = NULL;

                ck_assert_int_eq(ipc_client_socket_path(cases[i].dir, cases[i].transport, &p),
                                 cases[i].ret);
                if (cases[i].path)
                        ck_assert_str_eq(p, cases[i].path);
                else
                        ck_assert_ptr_null(p);
        }
}
END_TEST

START_TEST(test_service_split)
{
        static char long_hop[IPC_NEXTHOP_MAX + 8], max_hop[IPC_NEXTHOP_MAX + 8];
        const struct {
                const char *value, *def;
                int ret;
                const char *transport, *nexthop;
        } cases[] = {
                { "lmtp:unix:private/dovecot-lmtp", "mx", 0, "lmtp",
                  "unix:private/dovecot-lmtp" },
                { "lmtp:[127.0.0.1]:24", "mx", 0, "lmtp", "[127.0.0.1]:24" },
                { "smtp:[mail.example.com]:587", NULL, 0, "smtp", "[mail.example.com]:587" },
                { "virtual:", "mx.example.test", 0, "virtual", "mx.example.test" },
                { "virtual", "mx.example.test", 0, "virtual", "mx.example.test" },
                { "virtual", NULL, 0, "virtual", NULL },
                { "virtual:", NULL, 0, "virtual", NULL },
                { "  lmtp:inet:host:24\t\n", "mx", 0, "lmtp", "inet:host:24" },
                { "lmtp: x", "mx", 0, "lmtp", " x" },
                { max_hop, NULL, 0, "t", max_hop + 2 },
                { long_hop, NULL, -EINVAL, NULL, NULL },
                { ":nexthop", "mx", -EINVAL, NULL, NULL },
                { "", "mx", -EINVAL, NULL, NULL },
                { "   ", "mx", -EINVAL, NULL, NULL },
                { "../qmgr:x", "mx", -EINVAL, NULL, NULL },
                { "a b:x", "mx", -EINVAL, NULL, NULL },
        };

        memcpy(long_hop, "t:", 2);
        memset(long_hop + 2, 'h', IPC_NEXTHOP_MAX + 1);
        long_hop[IPC_NEXTHOP_MAX + 3] = '\0';
        memcpy(max_hop, "t:", 2);
        memset(max_hop + 2, 'h', IPC_NEXTHOP_MAX);
        max_hop[IPC_NEXTHOP_MAX + 2] = '\0';

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *t = NULL, *h = NULL;

                ck_assert_msg(ipc_client_service_split(cases[i].value, cases[i].def, &t, &h) ==
                              cases[i].ret, "case %zu", i);
                if (cases[i].ret < 0) {
                        ck_assert_ptr_null(t);
                        ck_assert_ptr_null(h);
                        continue;
                }
                ck_assert_str_eq(t, cases[i].transport);
                if (cases[i].nexthop)
                        ck_assert_str_eq(h, cases[i].nexthop);
                else
                        ck_assert_ptr_null(h);
        }
}
END_TEST

START_TEST(test_connect)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_free_ char *dir = NULL, *sock = NULL, *file = NULL, *missing = NULL;
        _cleanup_free_ char *longp = NULL;
        _cleanup_close_ int lfd = -EBADF, fd = -EBADF, afd = -EBADF, ffd = -EBADF;
        char *d;

        ck_assert_int_ge(asprintf(&dir, "%s/ipc_client.XXXXXX", tmpdir()), 0);
        d = mkdtemp(dir);
        ck_assert_ptr_nonnull(d);
        ck_assert_int_ge(asprintf(&sock, "%s/lmtp", dir), 0);
        ck_assert_int_ge(asprintf(&file, "%s/file", dir), 0);
        ck_assert_int_ge(asprintf(&missing, "%s/missing", dir), 0);
        ck_assert_int_ge(asprintf(&longp, "%s/%0200d", dir, 0), 0);

        ck_assert_uint_lt(strlen(sock), sizeof(sa.sun_path));
        strcpy(sa.sun_path, sock);
        lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ck_assert_int_ge(lfd, 0);
        ck_assert_int_eq(bind(lfd, (struct sockaddr *) &sa, sizeof(sa)), 0);
        ck_assert_int_eq(listen(lfd, 4), 0);

        fd = ipc_client_connect(sock, false);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_ne(fcntl(fd, F_GETFD) & FD_CLOEXEC, 0);
        ck_assert_int_eq(fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
        afd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        ck_assert_int_ge(afd, 0);
        fd = safe_close(fd);

        fd = ipc_client_connect(sock, true);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_ne(fcntl(fd, F_GETFL) & O_NONBLOCK, 0);

        ffd = open(file, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
        ck_assert_int_ge(ffd, 0);
        ck_assert_int_eq(ipc_client_connect(file, false), -ECONNREFUSED);
        ck_assert_int_eq(ipc_client_connect(missing, false), -ENOENT);
        ck_assert_int_eq(ipc_client_connect(longp, false), -ENAMETOOLONG);
        ck_assert_int_eq(ipc_client_connect("", false), -EINVAL);
        ck_assert_int_eq(ipc_client_connect(NULL, false), -EINVAL);

        (void) unlink(sock);
        (void) unlink(file);
        (void) rmdir(dir);
}
END_TEST

/* A request for recipients 3 and 7 of a message. */
static IpcRequest *request_two(void) {
        IpcRequest *r;

        ck_assert_int_eq(ipc_request_new(&r), 0);
        strcpy(r->id, ID);
        r->content_offset = 512;
        r->content_size = 2048;
        r->sender = strdup("alice@example.org");
        r->transport = strdup("lmtp");
        r->nexthop = strdup("unix:private/dovecot-lmtp");
        ck_assert_int_eq(ipc_request_add_rcpt(r, 3, 0, "bob@example.test", "bob@example.test",
                                              NULL), 0);
        ck_assert_int_eq(ipc_request_add_rcpt(r, 7, 6, "carol@example.test",
                                              "info@example.test", "rfc822;info@example.test"),
                         0);
        return r;
}

#define RES3 "result 3 sent 2.0.0 mx[private/dovecot-lmtp] 1830 250+202.0.0+20Saved\r\n"
#define RES7 "result 7 bounced 5.1.1 mx[private/dovecot-lmtp] - 550+205.1.1+20unknown\r\n"
#define END "end\r\n"

static void write_str(int fd, const char *s) {
        ck_assert_int_eq(write(fd, s, strlen(s)), (ssize_t) strlen(s));
}

/* Reads the request the client sent on peer and checks it is req. */
static void check_request_sent(int peer, const IpcRequest *req) {
        _cleanup_(ipc_request_parser_freep) IpcRequestParser *p = NULL;
        _cleanup_(ipc_request_freep) IpcRequest *got = NULL;

        ck_assert_int_eq(ipc_request_parser_new(&p), 0);
        ck_assert_int_eq(ipc_request_read(p, peer, 1000000, &got), 1);
        ck_assert(ipc_request_equal(got, req));
}

static void pair(int sv[2]) {
        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
}

START_TEST(test_call_reply)
{
        _cleanup_(ipc_request_freep) IpcRequest *req = request_two();
        _cleanup_(ipc_reply_freep) IpcReply *reply = NULL, *partial = NULL;
        const IpcResult *r;
        int sv[2];

        pair(sv);
        /* The reply is in the socket before the request goes out; bytes after "end" are
         * ignored. */
        write_str(sv[1], RES7 RES3 END "junk\r\n");
        ck_assert_int_eq(ipc_client_call(sv[0], req, 1000000, &reply, &partial), 0);
        ck_assert_ptr_null(partial);
        ck_assert_uint_eq(reply->n_results, 2);
        r = ipc_reply_find(reply, 3);
        ck_assert_ptr_nonnull(r);
        ck_assert_int_eq(r->status, IPC_STATUS_SENT);
        ck_assert_str_eq(r->dsn, "2.0.0");
        ck_assert_str_eq(r->relay, "mx[private/dovecot-lmtp]");
        ck_assert_str_eq(r->text, "250 2.0.0 Saved");
        ck_assert_uint_eq(r->delay_usec, 1830);
        r = ipc_reply_find(reply, 7);
        ck_assert_ptr_nonnull(r);
        ck_assert_int_eq(r->status, IPC_STATUS_BOUNCED);
        ck_assert_str_eq(r->text, "550 5.1.1 unknown");
        check_request_sent(sv[1], req);
        close(sv[0]);
        close(sv[1]);
}
END_TEST

START_TEST(test_call_trickle)
{
        static const char text[] = RES3 RES7 END;
        _cleanup_(ipc_request_freep) IpcRequest *req = request_two();
        _cleanup_(ipc_reply_freep) IpcReply *reply = NULL;
        int sv[2], status;
        pid_t pid;

        pair(sv);
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                /* The agent: reads the request, answers one byte per write. */
                _cleanup_(ipc_request_parser_freep) IpcRequestParser *p = NULL;
                IpcRequest *got = NULL;

                close(sv[0]);
                if (ipc_request_parser_new(&p) < 0 ||
                    ipc_request_read(p, sv[1], 10000000, &got) != 1)
                        _exit(1);
                ipc_request_free(got);
                for (size_t i = 0; i < sizeof(text) - 1; i++)
                        if (write(sv[1], text + i, 1) != 1)
                                _exit(2);
                _exit(0);
        }
        close(sv[1]);
        ck_assert_int_eq(ipc_client_call(sv[0], req, IPC_TIMEOUT_INFINITY, &reply, NULL), 0);
        ck_assert_uint_eq(reply->n_results, 2);
        ck_assert_ptr_nonnull(ipc_reply_find(reply, 3));
        ck_assert_ptr_nonnull(ipc_reply_find(reply, 7));
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        close(sv[0]);
}
END_TEST

START_TEST(test_call_errors)
{
        static const struct {
                const char *reply;      /* written before the call, then the peer is closed */
                bool close_peer;
                uint64_t timeout;
                int ret;
                size_t n_partial;       /* results in *ret_partial */
        } cases[] = {
                { RES3, true, 1000000, -ECONNRESET, 1 },
                { "", true, 1000000, -ECONNRESET, 0 },
                { RES3 END, true, 1000000, -EBADMSG, 1 },           /* 7 unanswered */
                { RES3 "result 3 sent 2.0.0 x - \r\n", false, 1000000, -EBADMSG, 1 },
                { "result 3 sent 4.0.0 x -\r\n", false, 1000000, -EBADMSG, 0 },
                { "result 9 sent 2.0.0 x -\r\n", false, 1000000, -EBADMSG, 0 },
                { "hello\n", false, 1000000, -EBADMSG, 0 },
                { RES3, false, 0, -ETIMEDOUT, 1 },
                { "", false, 0, -ETIMEDOUT, 0 },
                { NULL, false, 1000000, -EMSGSIZE, 0 },             /* a line too long */
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_(ipc_request_freep) IpcRequest *req = request_two();
                _cleanup_(ipc_reply_freep) IpcReply *reply = NULL, *partial = NULL;
                int sv[2];

                pair(sv);
                if (cases[i].reply)
                        write_str(sv[1], cases[i].reply);
                else {
                        static char big[IPC_LINE_MAX + 64];

                        memset(big, 'x', sizeof(big) - 1);
                        write_str(sv[1], big);
                }
                if (cases[i].close_peer) {
                        /* Shut down our writing side of the peer only: the request still
                         * goes out, then the client sees end of file. */
                        ck_assert_int_eq(shutdown(sv[1], SHUT_WR), 0);
                }
                ck_assert_msg(ipc_client_call(sv[0], req, cases[i].timeout, &reply,
                                              &partial) == cases[i].ret, "case %zu", i);
                ck_assert_ptr_null(reply);
                ck_assert_ptr_nonnull(partial);
                ck_assert_msg(partial->n_results == cases[i].n_partial, "case %zu: %zu", i,
                              partial->n_results);
                close(sv[0]);
                close(sv[1]);
        }
}
END_TEST

START_TEST(test_call_agent_gone)
{
        _cleanup_(ipc_request_freep) IpcRequest *req = request_two();
        _cleanup_(ipc_request_freep) IpcRequest *empty = NULL;
        _cleanup_(ipc_reply_freep) IpcReply *reply = NULL, *partial = NULL;
        int sv[2];

        /* The agent exited before the request: the send fails, nothing is delivered. */
        pair(sv);
        close(sv[1]);
        ck_assert_int_eq(ipc_client_call(sv[0], req, 1000000, &reply, &partial), -EPIPE);
        ck_assert_ptr_null(reply);
        ck_assert_ptr_nonnull(partial);
        ck_assert_uint_eq(partial->n_results, 0);
        partial = ipc_reply_free(partial);

        /* A request without recipients cannot be sent. */
        ck_assert_int_eq(ipc_request_new(&empty), 0);
        strcpy(empty->id, ID);
        empty->sender = strdup("");
        empty->transport = strdup("lmtp");
        empty->nexthop = strdup("x");
        ck_assert_int_eq(ipc_client_call(sv[0], empty, 1000000, &reply, &partial), -EINVAL);
        ck_assert_ptr_null(reply);
        ck_assert_ptr_null(partial);
        close(sv[0]);
}
END_TEST

static Suite *ipc_client_suite(void) {
        Suite *s = suite_create("ipc_client");
        TCase *tc;

        tc = tcase_create("names");
        tcase_add_test(tc, test_transport_is_valid);
        tcase_add_test(tc, test_socket_path);
        tcase_add_test(tc, test_service_split);
        suite_add_tcase(s, tc);

        tc = tcase_create("connect");
        tcase_add_test(tc, test_connect);
        suite_add_tcase(s, tc);

        tc = tcase_create("call");
        tcase_add_test(tc, test_call_reply);
        tcase_add_test(tc, test_call_trickle);
        tcase_add_test(tc, test_call_errors);
        tcase_add_test(tc, test_call_agent_gone);
        suite_add_tcase(s, tc);

        return s;
}

TERN_CHECK_MAIN(ipc_client_suite)
