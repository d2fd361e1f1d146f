/* SPDX-License-Identifier: GPL-3.0-or-later */
/* virtual: options and the request loop of the virtual delivery agent (STYLE.md §8). systemd
 * starts one instance per qmgr connection (tern-virtual.socket, Accept=yes) and passes the
 * connected socket as fd 3 (LISTEN_FDS); for tests:
 *     systemd-socket-activate --accept -l /path/sock /usr/libexec/tern/virtual -c DIR
 * The loop reads one request at a time with a deadline (max_idle while idle), answers it,
 * and exits after max_idle without a request, after max_use requests, or when qmgr closes
 * the connection. No protocol here: ipc.h parses, virtual_deliver.c delivers. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <systemd/sd-daemon.h>

#include "config.h"
#include "ipc.h"
#include "log.h"
#include "tern-config.h"
#include "virtual.h"

/* Bytes of one reply: IPC_RCPT_MAX result lines of at most IPC_LINE_MAX bytes and the end. */
#define VIRTUAL_REPLY_MAX ((size_t) IPC_RCPT_MAX * (IPC_LINE_MAX + 2) + 16)

static const char *arg_config_dir = NULL;
static char **arg_overrides = NULL;
static size_t arg_n_overrides = 0;

static void help(void) {
        printf("Usage: virtual [OPTIONS]\n\n"
               "The tern virtual mailbox delivery agent. Takes one connected socket from the\n"
               "service manager (LISTEN_FDS, Accept=yes), e.g. from tern-virtual.socket or\n"
               "systemd-socket-activate --accept.\n\n"
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
                        printf("tern virtual %s\n", TERN_VERSION);
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

/* The connected socket: exactly one stream socket from LISTEN_FDS. */
static int take_socket(void) {
        struct stat st;
        int n;

        n = sd_listen_fds(/* unset_environment= */ true);
        if (n < 0)
                return log_error_errno(n, "Failed to read LISTEN_FDS: %m");
        if (n != 1)
                return log_error_errno(-EBADF, "expected one connected socket (LISTEN_FDS=1, "
                                       "Accept=yes), got %d", n);
        if (fstat(SD_LISTEN_FDS_START, &st) < 0 || !S_ISSOCK(st.st_mode))
                return log_error_errno(-ENOTSOCK, "fd %d is not a socket", SD_LISTEN_FDS_START);
        return SD_LISTEN_FDS_START;
}

static int run(void) {
        _cleanup_(virtual_settings_freep) VirtualSettings *s = NULL;
        _cleanup_(ipc_request_parser_freep) IpcRequestParser *p = NULL;
        _cleanup_free_ char *err = NULL;
        _cleanup_close_ int fd = -EBADF;
        const char *dir = config_dir_resolve(arg_config_dir);
        uint64_t served = 0;
        int r;

        (void) signal(SIGPIPE, SIG_IGN);

        r = virtual_settings_load(dir, arg_overrides, &s, &err);
        if (r < 0)
                return log_error_errno(r, "%s: %s", dir, err ? err : "cannot load settings");

        fd = take_socket();
        if (fd < 0)
                return fd;
        r = ipc_request_parser_new(&p);
        if (r < 0)
                return log_error_errno(r, "Out of memory.");

        (void) sd_notify(/* unset_environment= */ false, "READY=1");

        while (s->max_use == 0 || served < s->max_use) {
                _cleanup_(ipc_request_freep) IpcRequest *req = NULL;
                _cleanup_(buf_done) Buf out = BUF_INIT(VIRTUAL_REPLY_MAX);

                r = ipc_request_read(p, fd, s->max_idle_usec, &req);
                if (r == 0 || r == -ETIMEDOUT) {
                        log_debug("%s, exiting", r == 0 ? "qmgr closed the connection" :
                                  "idle for max_idle");
                        break;
                }
                if (r < 0)
                        return log_error_errno(r, "bad request from qmgr, closing: %m");

                r = virtual_request_handle(s, req, &out);
                if (r < 0)
                        return log_error_errno(r, "%s: cannot build the reply: %m", req->id);
                r = ipc_write(fd, &out, s->ipc_timeout_usec);
                if (r < 0)
                        return log_error_errno(r, "%s: cannot send the reply to qmgr: %m",
                                               req->id);
                served++;
        }

        (void) sd_notify(false, "STOPPING=1");
        (void) shutdown(fd, SHUT_WR);
        return 0;
}

int main(int argc, char **argv) {
        int r;

        log_set_ident("tern/virtual");
        r = parse_argv(argc, argv);
        if (r <= 0)
                return r < 0 ? EX_USAGE : EXIT_SUCCESS;

        r = run();
        for (size_t i = 0; i < arg_n_overrides; i++)
                free(arg_overrides[i]);
        free(arg_overrides);
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
