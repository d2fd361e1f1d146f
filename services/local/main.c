/* SPDX-License-Identifier: GPL-3.0-or-later */
/* local: options and the request loop of the local delivery agent (STYLE.md §8: a plain
 * blocking loop with deadlines). systemd starts one instance per qmgr connection
 * (tern-local.socket, Accept=yes) and passes the connected socket as fd 3; in tests
 *     systemd-socket-activate --accept -l /path/sock BUILD/services/local/local -c DIR
 * does the same. The instance reads one ipc request at a time (ipc.h), opens the queue file
 * read-only, delivers every recipient (local_recipient.c), answers one result per recipient and
 * the end line, and exits when qmgr closes the connection, after max_idle without a request or
 * after max_use requests. No delivery logic here. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sysexits.h>
#include <systemd/sd-daemon.h>
#include <time.h>

#include "local.h"
#include "log.h"
#include "tern-config.h"

static const char *arg_config_dir = NULL;
static char **arg_overrides = NULL;
static size_t arg_n_overrides = 0;

static void help(void) {
        printf("Usage: local [OPTIONS]\n\n"
               "The tern local delivery agent. Serves qmgr's delivery requests on the connected\n"
               "socket the service manager passes (LISTEN_FDS, Accept=yes).\n\n"
               "  -c DIR             configuration directory (default $TERN_CONFIG, else %s)\n"
               "  -o NAME=VALUE      override a main.cf parameter (as master.cf's -o)\n"
               "  -v                 verbose logging\n"
               "  -h, --help         show this help\n"
               "      --version      show the version\n", TERN_CONFIG_DIR);
}

static int add_override(const char *o) {
        char **l = realloc(arg_overrides, (arg_n_overrides + 2) * sizeof(char *));

        if (!l)
                return -ENOMEM;
        arg_overrides = l;
        l[arg_n_overrides] = strdup(o);
        if (!l[arg_n_overrides])
                return -ENOMEM;
        l[++arg_n_overrides] = NULL;
        return 0;
}

static int parse_argv(int argc, char **argv) {
        enum { ARG_VERSION = 0x100 };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                {}
        };
        int c;

        while ((c = getopt_long(argc, argv, "c:o:vh", options, NULL)) >= 0)
                switch (c) {
                case 'c':
                        arg_config_dir = optarg;
                        break;
                case 'o':
                        if (add_override(optarg) < 0)
                                return log_error_errno(-ENOMEM, "Out of memory.");
                        break;
                case 'v':
                        log_set_max_level(LOG_DEBUG);
                        break;
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        printf("tern local %s\n", TERN_VERSION);
                        return 0;
                default:
                        return -EINVAL;
                }
        if (optind < argc) {
                log_error("unexpected argument '%s'", argv[optind]);
                return -EINVAL;
        }
        return 1;
}

static uint64_t now_usec(clockid_t clock) {
        struct timespec ts;

        (void) clock_gettime(clock, &ts);
        return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}

/* Answers every recipient of r with the same result (the queue file could not be used). */
static int answer_all(const IpcRequest *r, IpcStatus status, const char *dsn, const char *text,
                      Buf *out) {
        for (size_t i = 0; i < r->n_rcpts; i++) {
                int k = ipc_result_format(r->rcpts[i].index, status, dsn, "local",
                                          IPC_DELAY_NONE, text, out);
                if (k < 0)
                        return k;
        }
        return 0;
}

/* The one result qmgr gets for a recipient, from everything its expansion did. */
static void outcome_result(const LocalOutcome *o, LocalResult *ret) {
        if (o->any_defer || o->any_bounce || o->n_done == 1)
                *ret = o->last;
        else if (o->n_done == 0)
                /* Everything was a duplicate of a destination already served. */
                local_result_set(ret, IPC_STATUS_EXPANDED, "2.0.0", "alias expanded");
        else
                local_result_set(ret, IPC_STATUS_EXPANDED, "2.0.0",
                                 "expanded to %u destinations", o->n_done);
}

/* An address probe (IPC_FLAG_VERIFY): nothing is delivered. Deliverable when the local part is
 * an alias, a passwd user, or luser_relay catches everything. */
static int verify(const LocalSettings *s, const IpcRcpt *rc, LocalResult *ret) {
        _cleanup_free_ char *local = NULL, *user = NULL, *ext = NULL, *domain = NULL;
        _cleanup_free_ char *value = NULL;
        _cleanup_(local_user_freep) LocalUser *u = NULL;
        int r;

        r = local_address_split(s, rc->address, &local, &user, &ext, &domain);
        if (r < 0)
                return r;
        r = s->alias_maps ? dict_list_lookup(s->alias_maps, local, &value) : 0;
        if (r == 0 && ext && s->alias_maps)
                r = dict_list_lookup(s->alias_maps, user, &value);
        if (r == 0)
                r = local_user_find(user, &u);
        if (r < 0)
                local_result_set(ret, IPC_STATUS_DEFERRED, "4.3.0", "lookup failure");
        else if (r > 0 || !isempty(s->luser_relay))
                local_result_set(ret, IPC_STATUS_DELIVERABLE, "2.1.5", "deliverable");
        else
                local_result_set(ret, IPC_STATUS_UNDELIVERABLE, "5.1.1", "unknown user: \"%s\"",
                                 user);
        return 0;
}

static int serve(const LocalSettings *s, QueueDirs *dirs, const IpcRequest *req, Buf *out) {
        _cleanup_(queue_file_freep) QueueFile *f = NULL;
        LocalMessage msg = { .settings = s, .request = req };
        int r;

        r = queue_file_open(queue_dirs_fd(dirs, req->queue), req->id, /* for_update= */ false,
                            NULL, &f);
        if (r < 0) {
                log_warning_errno(r, "%s: cannot open queue file, deferring: %m", req->id);
                return answer_all(req, IPC_STATUS_DEFERRED, "4.3.0",
                                  "cannot open the queue file", out);
        }
        if (f->envelope->content_offset != req->content_offset ||
            f->envelope->content_size != req->content_size) {
                log_warning("%s: request does not match the queue file, deferring", req->id);
                return answer_all(req, IPC_STATUS_DEFERRED, "4.3.0",
                                  "request does not match the queue file", out);
        }
        msg.file = f;
        msg.start_usec = now_usec(CLOCK_REALTIME);

        for (size_t i = 0; i < req->n_rcpts; i++) {
                const IpcRcpt *rc = &req->rcpts[i];
                LocalOutcome o = {};
                LocalResult res;
                uint64_t t0 = now_usec(CLOCK_MONOTONIC);
                LocalState st = {
                        .msg = &msg,
                        .rcpt = rc,
                        .address = rc->address,
                        .sender = req->sender,
                        .source = LOCAL_CLASS_ALIAS,
                        .out = &o,
                };

                if (req->flags & IPC_FLAG_VERIFY) {
                        r = verify(s, rc, &o.last);
                        o.n_done = 1;
                } else
                        r = local_recipient_deliver(st);
                if (r < 0) {
                        local_outcome_done(&o);
                        return log_error_errno(r, "%s: delivery failed: %m", req->id);
                }
                outcome_result(&o, &res);
                local_outcome_done(&o);
                r = ipc_result_format(rc->index, res.status, res.dsn, "local",
                                      now_usec(CLOCK_MONOTONIC) - t0, res.text, out);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int run(void) {
        _cleanup_(local_settings_freep) LocalSettings *s = NULL;
        _cleanup_(queue_dirs_freep) QueueDirs *dirs = NULL;
        _cleanup_(ipc_request_parser_freep) IpcRequestParser *parser = NULL;
        _cleanup_free_ char *error = NULL;
        uint64_t served = 0;
        int fd, n, r;

        (void) signal(SIGPIPE, SIG_IGN);

        r = local_settings_load(config_dir_resolve(arg_config_dir), arg_overrides, &s, &error);
        if (r < 0)
                return log_error_errno(r, "%s", error ? error : "cannot load the configuration");

        n = sd_listen_fds(/* unset_environment= */ true);
        if (n < 0)
                return log_error_errno(n, "Failed to take the socket: %m");
        if (n != 1)
                return log_error_errno(-EBADF, "expected exactly one connected socket, got %d "
                                       "(run with Accept=yes)", n);
        fd = SD_LISTEN_FDS_START;

        r = queue_dirs_open(s->queue_directory, &dirs);
        if (r < 0)
                return log_error_errno(r, "%s: cannot open the queue: %m", s->queue_directory);
        if (chdir(s->queue_directory) < 0)
                log_debug_errno(errno, "cannot change to %s, ignoring: %m", s->queue_directory);

        r = ipc_request_parser_new(&parser);
        if (r < 0)
                return log_error_errno(r, "Out of memory.");
        (void) sd_notify(false, "READY=1");

        for (;;) {
                _cleanup_(ipc_request_freep) IpcRequest *req = NULL;
                _cleanup_(buf_done) Buf out = BUF_INIT(IPC_RCPT_MAX * (IPC_LINE_MAX + 2) + 16);

                r = ipc_request_read(parser, fd, s->max_idle_usec, &req);
                if (r == 0 || r == -ETIMEDOUT)
                        break;          /* qmgr closed, or max_idle */
                if (r < 0)
                        return log_error_errno(r, "bad request from qmgr: %m");

                r = serve(s, dirs, req, &out);
                if (r >= 0)
                        r = ipc_reply_end_format(&out);
                if (r < 0)
                        return log_error_errno(r, "%s: cannot answer: %m", req->id);
                r = ipc_write(fd, &out, s->ipc_timeout_usec);
                if (r < 0)
                        return log_error_errno(r, "%s: cannot send the reply: %m", req->id);
                if (s->max_use > 0 && ++served >= s->max_use)
                        break;
        }
        (void) sd_notify(false, "STOPPING=1");
        return 0;
}

int main(int argc, char **argv) {
        int r;

        log_set_ident("tern/local");
        r = parse_argv(argc, argv);
        if (r <= 0)
                return r < 0 ? EX_USAGE : EXIT_SUCCESS;

        r = run();
        for (size_t i = 0; i < arg_n_overrides; i++)
                free(arg_overrides[i]);
        free(arg_overrides);
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
