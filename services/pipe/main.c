/* SPDX-License-Identifier: GPL-3.0-or-later */
/* pipe: options and the request loop of the pipe delivery agent (STYLE.md §8). systemd starts
 * one instance per qmgr connection (tern-pipe.socket or a socket named after the transport,
 * Accept=yes) and passes the connected socket as fd 3 (LISTEN_FDS). master.cf's attributes
 * follow the options on the command line:
 *     pipe [-c DIR] [-o NAME=VALUE]... [-v] flags=... user=NAME[:GROUP] [size=N] [eol=\n]
 *          [directory=PATH] [null_sender=TEXT] argv=COMMAND ARGS...
 * For tests: systemd-socket-activate --accept -l /path/sock .../pipe -c DIR user=... argv=...
 * No protocol here: ipc.h parses, pipe_args.c reads the attributes, pipe_deliver.c delivers. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>

#include "config.h"
#include "ipc.h"
#include "log.h"
#include "pipe.h"
#include "service.h"

/* Bytes of one reply: IPC_RCPT_MAX result lines of at most IPC_LINE_MAX bytes and the end. */
#define PIPE_REPLY_MAX ((size_t) IPC_RCPT_MAX * (IPC_LINE_MAX + 2) + 16)

static ServiceArgs arg_service = {};
static PipeArgs *arg_pipe = NULL;

static int handle(void *userdata, const IpcRequest *req, Buf *out) {
        return pipe_request_handle(userdata, req, out);
}

/* Where the options end and the attributes begin: the first argument that is not an option
 * or an option's value, or the one after "--". */
static int options_end(int argc, char **argv, int *ret_attrs) {
        int i = 1;

        while (i < argc) {
                const char *a = argv[i];

                if (streq(a, "--")) {
                        *ret_attrs = i + 1;
                        return i;
                }
                if (a[0] != '-' || a[1] == '\0')
                        break;
                if (streq(a, "-c") || streq(a, "-o"))
                        i += 2;
                else
                        i++;
        }
        i = MIN(i, argc);
        *ret_attrs = i;
        return i;
}

static int run(void) {
        _cleanup_(pipe_settings_freep) PipeSettings *s = NULL;
        _cleanup_free_ char *err = NULL;
        const char *dir = config_dir_resolve(arg_service.config_dir);
        char id[QUEUE_ID_MAX + 1], flags[12];
        ServiceLoopLimits limits;
        int fd, r;

        (void) signal(SIGPIPE, SIG_IGN);

        r = pipe_settings_load(dir, arg_service.overrides, arg_pipe, &s, &err);
        if (r < 0)
                return log_error_errno(r, "%s: %s", dir, err ? err : "cannot load settings");

        fd = service_take_connection();
        if (fd < 0)
                return log_error_errno(fd, "expected one connected socket from the service "
                                           "manager (LISTEN_FDS=1, Accept=yes): %m");

        log_debug("running %s as %s (uid %u gid %u), flags=%s", arg_pipe->argv[0],
                  arg_pipe->user, (unsigned) s->uid, (unsigned) s->gid,
                  pipe_flags_to_string(arg_pipe->flags, flags));
        (void) sd_notify(/* unset_environment= */ false, "READY=1");
        limits = (ServiceLoopLimits) {
                .max_use = s->max_use,
                .max_idle_usec = s->max_idle_usec,
                .ipc_timeout_usec = s->ipc_timeout_usec,
                .reply_max = PIPE_REPLY_MAX,
        };
        r = service_serve_requests(fd, &limits, handle, s, id);
        (void) sd_notify(false, "STOPPING=1");
        safe_close(fd);
        if (r < 0)
                return log_error_errno(r, "%s%sclosing the connection with qmgr: %m", id,
                                       id[0] ? ": " : "");
        return 0;
}

int main(int argc, char **argv) {
        _cleanup_free_ char *err = NULL;
        int attrs, n_opts, r;

        log_set_ident("tern/pipe");
        n_opts = options_end(argc, argv, &attrs);
        r = service_main_args("pipe", "The tern pipe delivery agent: delivers to an external "
                              "command. Takes one connected\nsocket from the service manager "
                              "(LISTEN_FDS, Accept=yes). The options are followed\nby pipe(8)'s "
                              "attributes: flags=... user=NAME[:GROUP] [size=N] [eol=\\n]\n"
                              "[directory=PATH] [null_sender=TEXT] argv=COMMAND ARGS...", false,
                              n_opts, argv, &arg_service);
        if (r <= 0)
                return -r;
        r = pipe_args_parse(argv + attrs, (size_t) (argc - attrs), &arg_pipe, &err);
        if (r < 0) {
                log_error_errno(r, "bad attributes: %s", err ? err : "out of memory");
                service_args_done(&arg_service);
                return EX_USAGE;
        }
        r = run();
        arg_pipe = pipe_args_free(arg_pipe);
        service_args_done(&arg_service);
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
