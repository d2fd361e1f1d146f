/* SPDX-License-Identifier: GPL-3.0-or-later */
/* smtp: options and the request loop of the SMTP and LMTP delivery agents (STYLE.md §8). One
 * binary serves both: LMTP when started with --lmtp or --role=lmtp, or under the name "lmtp".
 * systemd starts one instance per qmgr connection (tern-smtp.socket / tern-lmtp.socket,
 * Accept=yes) and passes the connected socket as fd 3 (LISTEN_FDS); for tests:
 *     systemd-socket-activate --accept -l /path/smtp /usr/libexec/tern/smtp -c DIR
 * The loop reads one request at a time with a deadline (max_idle while idle), answers it,
 * and exits after max_idle without a request, after max_use requests, or when qmgr closes
 * the connection. Between requests a connection to the last destination may stay open for
 * smtp_connection_cache_time_limit. No protocol here: smtp_deliver.c does the delivery. */
#include <errno.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <systemd/sd-daemon.h>

#include "config.h"
#include "ipc.h"
#include "log.h"
#include "service.h"
#include "smtp.h"

static ServiceArgs arg_service = {};
static bool arg_lmtp = false;

static int handle(void *userdata, const IpcRequest *req, Buf *out) {
        return smtp_request_handle(userdata, req, out);
}

static int run(void) {
        _cleanup_(smtp_settings_freep) SmtpSettings *s = NULL;
        _cleanup_free_ char *err = NULL;
        const char *dir = config_dir_resolve(arg_service.config_dir);
        ServiceLoopLimits limits;
        SmtpAgent agent = {};
        int r;

        (void) signal(SIGPIPE, SIG_IGN);

        r = smtp_settings_load(dir, arg_service.overrides, arg_lmtp, &s, &err);
        if (r < 0)
                return log_error_errno(r, "%s: %s", dir, err ? err : "cannot load settings");

        smtp_cache_signal_install();
        agent.settings = s;
        limits = (ServiceLoopLimits) {
                .max_use = s->max_use,
                .max_idle_usec = s->max_idle_usec,
                .ipc_timeout_usec = s->ipc_timeout_usec,
                .reply_max = SERVICE_REPLY_MAX,
        };
        r = service_agent_serve(&limits, handle, &agent);
        smtp_agent_done(&agent);
        return r;
}

int main(int argc, char **argv) {
        _cleanup_free_ char *self = strdup(argc > 0 ? argv[0] : "smtp");
        const char *name;
        int n = 0, r;

        /* --lmtp is this binary's own switch: take it out before the shared parser. */
        for (int i = 0; i < argc; i++) {
                if (i > 0 && streq(argv[i], "--lmtp")) {
                        arg_lmtp = true;
                        continue;
                }
                argv[n++] = argv[i];
        }
        argc = n;
        argv[argc] = NULL;
        if (self && streq(basename(self), "lmtp"))
                arg_lmtp = true;

        r = service_main_args("smtp", "The tern SMTP and LMTP delivery agent. Takes one connected "
                              "socket from the\nservice manager (LISTEN_FDS, Accept=yes), e.g. "
                              "from tern-smtp.socket or\nsystemd-socket-activate --accept. "
                              "--lmtp or --role=lmtp (or the name \"lmtp\")\nspeaks LMTP.",
                              true, argc, argv, &arg_service);
        if (r <= 0)
                return -r;
        if (arg_service.role) {
                if (streq(arg_service.role, "lmtp"))
                        arg_lmtp = true;
                else if (!streq(arg_service.role, "smtp")) {
                        log_error("unknown role '%s' (smtp, lmtp)", arg_service.role);
                        service_args_done(&arg_service);
                        return EX_USAGE;
                }
        }
        name = arg_lmtp ? "tern/lmtp" : "tern/smtp";
        log_set_ident(name);
        r = run();
        service_args_done(&arg_service);
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
