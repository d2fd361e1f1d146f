/* SPDX-License-Identifier: GPL-3.0-or-later */
/* service: what every tern service shares outside its protocol: the command line (-c DIR,
 * -o NAME=VALUE as master.cf's -o, -v, --help, --version, and --role where the service has
 * roles), and, for the delivery agents (local, virtual, smtp, lmtp, pipe), the connected socket
 * systemd passes for Accept=yes and the request loop of DESIGN.md's IPC: read one request with a
 * deadline, answer it, exit after max_idle without a request, after max_use requests, or when
 * qmgr closes the connection. Silent: the caller logs and prints (STYLE.md §2). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "ipc.h"
#include "macro.h"

typedef struct ServiceArgs {
        const char *config_dir;         /* -c DIR, NULL when not given */
        char **overrides;               /* -o NAME=VALUE, NULL-terminated, owned */
        size_t n_overrides;
        const char *role;               /* --role=ROLE, NULL when not given */
        bool verbose;                   /* -v */
} ServiceArgs;

typedef enum ServiceArgsResult {
        SERVICE_ARGS_RUN = 1,           /* go on */
        SERVICE_ARGS_HELP = 2,          /* print service_help() and exit 0 */
        SERVICE_ARGS_VERSION = 3,       /* print the version and exit 0 */
} ServiceArgsResult;

/* Parses argv. with_role accepts --role=ROLE. Returns a ServiceArgsResult, -EINVAL for a bad
 * option or an extra argument (*ret_error names it: "unexpected argument 'x'"), -ENOMEM. */
int service_parse_argv(int argc, char **argv, bool with_role, ServiceArgs *ret,
                       char **ret_error);
void service_args_done(ServiceArgs *a);
/* The --help text: "Usage: NAME [OPTIONS]", summary, the options. Returns a malloc'd string or
 * NULL. */
char *service_help(const char *name, const char *summary, bool with_role);

/* The connected socket of an Accept=yes instance: exactly one socket in LISTEN_FDS. Returns the
 * fd, -EBADF when there is not exactly one, -ENOTSOCK, -errno. */
int service_take_connection(void);

/* Answers one request: appends one result line per recipient to out (the loop adds the end
 * line). A negative return ends the loop with that error. */
typedef int (*ServiceRequestFn)(void *userdata, const IpcRequest *req, Buf *out);

typedef struct ServiceLoopLimits {
        uint64_t max_use;               /* requests before exiting; 0: no limit */
        uint64_t max_idle_usec;         /* waiting for a request */
        uint64_t ipc_timeout_usec;      /* writing a reply */
        size_t reply_max;               /* bytes of one reply */
} ServiceLoopLimits;

/* Opens the queue file a request names, read-only, in the queue directory queue_fd (queue_name
 * only for the log), and checks that the request's content offset and size are the file's, so
 * that an agent never delivers from a file other than the one qmgr meant. Returns 0 with *ret;
 * otherwise logs a warning, puts the reason for deferring every recipient in why (size n) and
 * returns queue_file_open()'s error or -EBADMSG for a request that does not match. */
int service_request_file_at(int queue_fd, const char *queue_name, const IpcRequest *req,
                            QueueFile **ret, char *why, size_t n);
/* The same for an agent that has not opened its queue: the request's queue below
 * queue_directory. */
int service_request_file(const char *queue_directory, const IpcRequest *req, QueueFile **ret,
                         char *why, size_t n);

/* The agent's request loop on fd. Returns 0 when it ended normally (qmgr closed the
 * connection, max_idle, max_use), else the error that ended it: the request parser's
 * (-EBADMSG...), fn's, or ipc_write()'s. *ret_id names the request being answered when the
 * error came from fn or the write ("" otherwise). */
int service_serve_requests(int fd, const ServiceLoopLimits *limits, ServiceRequestFn fn,
                           void *userdata, char ret_id[static QUEUE_ID_MAX + 1]);

/* For main() only (the one place that may print): parses argv into *args, prints --help,
 * --version or the error, and sets -v's log level. Returns 1 to go on, else the exit status
 * (EXIT_SUCCESS after --help or --version, EX_USAGE after an error) as a negative number, so
 * that main() does: r = service_main_args(...); if (r <= 0) return -r; */
#include <stdio.h>
#include <sysexits.h>

#include "log.h"
#include "tern-config.h"

static inline int service_main_args(const char *name, const char *summary, bool with_role,
                                    int argc, char **argv, ServiceArgs *args) {
        _cleanup_free_ char *error = NULL, *help = NULL;
        int r = service_parse_argv(argc, argv, with_role, args, &error);

        switch (r) {
        case SERVICE_ARGS_RUN:
                if (args->verbose)
                        log_set_max_level(LOG_DEBUG);
                return 1;
        case SERVICE_ARGS_HELP:
                help = service_help(name, summary, with_role);
                fputs(strempty(help), stdout);
                return -EXIT_SUCCESS;
        case SERVICE_ARGS_VERSION:
                printf("tern %s %s\n", name, TERN_VERSION);
                return -EXIT_SUCCESS;
        default:
                log_error("%s", error ? error : "out of memory");
                return -EX_USAGE;
        }
}

/* For main() only: the whole main() of a service without options of its own: sets the log
 * identifier ident ("tern/local", a string that outlives the program), parses argv into *args
 * with service_main_args(), calls run(), frees *args. Returns the exit status. */
static inline int service_main(const char *ident, const char *name, const char *summary,
                               bool with_role, int argc, char **argv, ServiceArgs *args,
                               int (*run)(void)) {
        int r;

        log_set_ident(ident);
        r = service_main_args(name, summary, with_role, argc, argv, args);
        if (r <= 0)
                return -r;
        r = run();
        service_args_done(args);
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* Bytes of one agent reply: IPC_RCPT_MAX result lines of at most IPC_LINE_MAX bytes and the
 * end line. */
#define SERVICE_REPLY_MAX ((size_t) IPC_RCPT_MAX * (IPC_LINE_MAX + 2) + 16)

/* For an agent's run() only (it logs): takes the connection of an Accept=yes instance, tells
 * the service manager READY=1, serves qmgr's requests with fn under limits, tells it
 * STOPPING=1 and closes the connection. Returns 0 when the loop ended normally, else the
 * error, logged here ("expected one connected socket ...", "ID: closing the connection with
 * qmgr: ..."). */
#include <systemd/sd-daemon.h>

static inline int service_agent_serve(const ServiceLoopLimits *limits, ServiceRequestFn fn,
                                      void *userdata) {
        char id[QUEUE_ID_MAX + 1];
        int fd, r;

        fd = service_take_connection();
        if (fd < 0)
                return log_error_errno(fd, "expected one connected socket from the service "
                                           "manager (LISTEN_FDS=1, Accept=yes): %m");

        (void) sd_notify(/* unset_environment= */ false, "READY=1");
        r = service_serve_requests(fd, limits, fn, userdata, id);
        (void) sd_notify(false, "STOPPING=1");
        safe_close(fd);
        if (r < 0)
                return log_error_errno(r, "%s%sclosing the connection with qmgr: %m", id,
                                       id[0] ? ": " : "");
        return 0;
}
