/* SPDX-License-Identifier: GPL-3.0-or-later */
/* qmgr: options, the event loop, the trigger datagram socket, timers, signals, sd_notify. The
 * trigger socket comes from the service manager (tern-qmgr.socket, ListenDatagram=), or from
 * systemd-socket-activate --datagram in tests and the development run:
 *     systemd-socket-activate --datagram -l /run/tern/qmgr /usr/libexec/tern/qmgr -c /etc/tern
 * Datagrams are untrusted: anything but "i", "f" or "d DOMAIN" is ignored. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sysexits.h>
#include <systemd/sd-daemon.h>

#include "log.h"
#include "service.h"
#include "qmgr.h"
#include "tern-config.h"

static ServiceArgs arg_service = {};

/* How often idle agent connections are looked at. */
#define QMGR_IDLE_CHECK_USEC (UINT64_C(5) * 1000000)

static int on_trigger(sd_event_source *src, int fd, uint32_t revents, void *userdata) {
        Qmgr *q = userdata;
        bool incoming = false, flush = false;
        char domain[QUEUE_TRIGGER_DOMAIN_MAX + 1] = "";

        (void) src;
        (void) revents;
        /* Drain every waiting datagram, then act once: a burst of enqueues costs one scan. */
        for (unsigned i = 0; i < 1024; i++) {
                char buf[QUEUE_TRIGGER_DOMAIN_MAX + 8];
                QueueTrigger t;
                ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

                if (n < 0)
                        break;
                if (queue_trigger_parse(buf, (size_t) n, &t) < 0)
                        continue;
                if (t.type == QUEUE_TRIGGER_INCOMING)
                        incoming = true;
                else if (t.type == QUEUE_TRIGGER_FLUSH)
                        flush = true;
                else if (t.type == QUEUE_TRIGGER_DOMAIN)
                        snprintf(domain, sizeof(domain), "%s", t.domain);
        }
        if (incoming)
                (void) qmgr_scan_incoming(q);
        if (flush)
                (void) qmgr_scan_deferred(q, /* all= */ true, NULL);
        else if (domain[0])
                (void) qmgr_scan_deferred(q, /* all= */ true, domain);
        return 0;
}

static int on_scan_timer(sd_event_source *src, uint64_t usec, void *userdata) {
        Qmgr *q = userdata;

        (void) usec;
        (void) qmgr_scan_incoming(q);
        (void) qmgr_scan_deferred(q, /* all= */ false, NULL);
        (void) sd_event_source_set_time_relative(src, q->settings->queue_run_delay_usec);
        return 0;
}

static int on_idle_timer(sd_event_source *src, uint64_t usec, void *userdata) {
        Qmgr *q = userdata;

        (void) usec;
        qmgr_close_idle(q, now_usec());
        qmgr_update_status(q);
        (void) sd_event_source_set_time_relative(src, QMGR_IDLE_CHECK_USEC);
        return 0;
}

static int on_sighup(sd_event_source *src, const struct signalfd_siginfo *si, void *userdata) {
        Qmgr *q = userdata;
        _cleanup_(qmgr_settings_freep) QmgrSettings *s = NULL;
        _cleanup_free_ char *error = NULL;
        int r;

        (void) src;
        (void) si;
        (void) sd_notify(false, "RELOADING=1");
        r = qmgr_settings_load(q->config_dir, q->overrides, &s, &error);
        if (r < 0)
                log_error("reload failed, keeping the running configuration: %s",
                          strempty(error));
        else {
                /* Transports cache per-transport limits: rebuild them once idle ones close;
                 * the settings pointer itself is only read between events. */
                QmgrSettings *old = q->settings;

                q->settings = TAKE_PTR(s);
                s = old;
                log_info("reloaded the configuration from %s", q->config_dir);
        }
        (void) sd_notify(false, "READY=1");
        return 0;
}

static void raise_nofile(void) {
        struct rlimit rl;

        if (getrlimit(RLIMIT_NOFILE, &rl) >= 0 && rl.rlim_cur < rl.rlim_max) {
                rl.rlim_cur = rl.rlim_max;
                (void) setrlimit(RLIMIT_NOFILE, &rl);
        }
}

static int run(void) {
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        _cleanup_free_ char *error = NULL;
        Qmgr q = {};
        sigset_t mask;
        int n, r;

        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                return log_error_errno(errno, "Failed to block signals: %m");
        (void) signal(SIGPIPE, SIG_IGN);
        raise_nofile();

        q.config_dir = config_dir_resolve(arg_service.config_dir);
        q.overrides = arg_service.overrides;
        r = qmgr_settings_load(q.config_dir, q.overrides, &q.settings, &error);
        if (r < 0)
                return log_error_errno(r, "%s", strempty(error));

        r = queue_dirs_open(q.settings->queue_directory, &q.dirs);
        if (r == -ENOENT) {
                r = queue_dirs_create(q.settings->queue_directory);
                if (r >= 0)
                        r = queue_dirs_open(q.settings->queue_directory, &q.dirs);
        }
        if (r < 0) {
                log_error_errno(r, "cannot open the queue in %s: %m",
                                q.settings->queue_directory);
                goto finish;
        }

        r = sd_event_default(&e);
        if (r < 0)
                goto finish;
        q.event = e;
        (void) sd_event_set_watchdog(e, true);
        r = sd_event_set_signal_exit(e, true);
        if (r >= 0)
                r = sd_event_add_signal(e, NULL, SIGHUP, on_sighup, &q);
        if (r < 0) {
                log_error_errno(r, "Failed to watch signals: %m");
                goto finish;
        }

        n = sd_listen_fds(/* unset_environment= */ true);
        if (n != 1 || sd_is_socket(SD_LISTEN_FDS_START, AF_UNIX, SOCK_DGRAM, -1) <= 0) {
                r = log_error_errno(-EBADF, "expected one datagram trigger socket from the "
                                            "service manager (tern-qmgr.socket), got %d fd(s)",
                                    n);
                goto finish;
        }
        r = sd_event_add_io(e, &q.trigger, SD_LISTEN_FDS_START, EPOLLIN, on_trigger, &q);
        if (r >= 0)
                r = sd_event_add_time_relative(e, &q.scan_timer, CLOCK_MONOTONIC,
                                               q.settings->queue_run_delay_usec, 0,
                                               on_scan_timer, &q);
        if (r >= 0)
                r = sd_event_source_set_enabled(q.scan_timer, SD_EVENT_ON);
        if (r >= 0)
                r = sd_event_add_time_relative(e, &q.idle_timer, CLOCK_MONOTONIC,
                                               QMGR_IDLE_CHECK_USEC, 0, on_idle_timer, &q);
        if (r >= 0)
                r = sd_event_source_set_enabled(q.idle_timer, SD_EVENT_ON);
        if (r < 0) {
                log_error_errno(r, "Failed to set up the event sources: %m");
                goto finish;
        }

        (void) qmgr_recover(&q);
        (void) qmgr_scan_incoming(&q);
        (void) qmgr_scan_deferred(&q, /* all= */ false, NULL);

        log_info("queue manager ready, queue %s, agents in %s", q.settings->queue_directory,
                 q.settings->run_directory);
        (void) sd_notify(false, "READY=1");
        r = sd_event_loop(e);
        (void) sd_notify(false, "STOPPING=1");
finish:
        qmgr_transports_free(&q);
        qmgr_messages_free(&q);
        sd_event_source_disable_unref(q.trigger);
        sd_event_source_disable_unref(q.scan_timer);
        sd_event_source_disable_unref(q.idle_timer);
        sd_event_source_disable_unref(q.rescan);
        queue_dirs_free(q.dirs);
        qmgr_settings_free(q.settings);
        return r;
}

int main(int argc, char **argv) {
        return service_main("tern/qmgr", "qmgr",
                            "The tern queue manager. Takes its trigger socket from the service "
                            "manager\n(LISTEN_FDS). Agent sockets are looked up in "
                            "$RUNTIME_DIRECTORY (default /run/tern).", false, argc, argv,
                            &arg_service, run);
}
