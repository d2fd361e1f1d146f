/* SPDX-License-Identifier: GPL-3.0-or-later */
/* smtpd: options, the event loop, signals and service-manager notifications. No protocol here
 * (smtpd_session.c). Runs under systemd (tern-smtpd.socket) or any launcher that passes
 * listening sockets with the LISTEN_FDS protocol, e.g.
 *     systemd-socket-activate -l 127.0.0.1:2525 /usr/libexec/tern/smtpd -c /etc/tern
 * SIGTERM/SIGINT stop it gracefully (messages being received are finished), SIGHUP re-reads
 * main.cf. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sysexits.h>
#include <systemd/sd-daemon.h>

#include "log.h"
#include "service.h"
#include "smtpd.h"
#include "tern-config.h"

static ServiceArgs arg_service = {};
static SmtpdRole arg_role = SMTPD_ROLE_SMTPD;

static int on_sigterm(sd_event_source *src, const struct signalfd_siginfo *si, void *userdata) {
        Server *srv = userdata;

        (void) src;
        (void) si;
        (void) sd_notify(/* unset_environment= */ false, "STOPPING=1");
        log_info("stopping: finishing %zu session(s)", srv->n_sessions);
        server_stop(srv);
        return 0;
}

static int on_sighup(sd_event_source *src, const struct signalfd_siginfo *si, void *userdata) {
        Server *srv = userdata;

        (void) src;
        (void) si;
        (void) sd_notify(false, "RELOADING=1");
        (void) server_reload(srv);
        (void) sd_notify(false, "READY=1");
        return 0;
}

/* Many idle sessions need many descriptors: use the hard limit the service manager allows. */
static void raise_nofile(void) {
        struct rlimit rl;

        if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= rl.rlim_max)
                return;
        rl.rlim_cur = rl.rlim_max;
        (void) setrlimit(RLIMIT_NOFILE, &rl);
}

static int run(void) {
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        _cleanup_(server_freep) Server *srv = NULL;
        sigset_t mask;
        int r;

        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                return log_error_errno(errno, "Failed to block signals: %m");
        (void) signal(SIGPIPE, SIG_IGN);
        raise_nofile();

        r = sd_event_default(&e);
        if (r < 0)
                return log_error_errno(r, "Failed to allocate event loop: %m");
        (void) sd_event_set_watchdog(e, true);

        r = server_new(e, config_dir_resolve(arg_service.config_dir), arg_service.overrides, arg_role,
                       &srv);
        if (r < 0)
                return r;

        r = sd_event_add_signal(e, NULL, SIGTERM, on_sigterm, srv);
        if (r >= 0)
                r = sd_event_add_signal(e, NULL, SIGINT, on_sigterm, srv);
        if (r >= 0)
                r = sd_event_add_signal(e, NULL, SIGHUP, on_sighup, srv);
        if (r < 0)
                return log_error_errno(r, "Failed to watch signals: %m");

        log_info("%s ready on %zu socket(s), queue %s", smtpd_role_to_string(arg_role),
                 srv->n_listeners, srv->settings->queue_directory);
        (void) sd_notify(false, "READY=1");
        r = sd_event_loop(e);
        (void) sd_notify(false, "STOPPING=1");
        return r;
}

int main(int argc, char **argv) {
        int r;

        log_set_ident("tern/smtpd");
        r = service_main_args("smtpd", "The tern SMTP server. Takes its listening sockets from "
                              "the service manager\n(LISTEN_FDS), e.g. from tern-smtpd.socket or "
                              "systemd-socket-activate.", true, argc, argv, &arg_service);
        if (r <= 0)
                return -r;
        if (arg_service.role) {
                static char ident[32];

                arg_role = smtpd_role_from_string(arg_service.role);
                if (arg_role < 0) {
                        log_error("--role=%s: expected smtpd, submission or smtps",
                                  arg_service.role);
                        service_args_done(&arg_service);
                        return EX_USAGE;
                }
                snprintf(ident, sizeof(ident), "tern/%s", smtpd_role_to_string(arg_role));
                log_set_ident(ident);
        }

        r = run();
        service_args_done(&arg_service);
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
