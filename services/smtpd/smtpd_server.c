/* SPDX-License-Identifier: GPL-3.0-or-later */
/* smtpd_server: the listening side. The sockets come only from the service manager
 * (sd_listen_fds_with_names(), DESIGN.md: one way a service gets its sockets); each readable
 * listener is drained with accept4() into new sessions. The server owns the settings (replaced on
 * reload), the queue directories, the worker pool that makes queue files durable (group commit,
 * workpool.h) and the per-client connection counts. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "errmsg.h"
#include "log.h"
#include "smtpd.h"

/* Threads running queue_writer_finish(): fsyncs of different files proceed in parallel and share
 * the file system's journal commits; the directory fsync of each batch is shared by all. */
#define SMTPD_FSYNC_THREADS 16
/* When accept() runs out of file descriptors, try again after this long. */
#define SMTPD_ACCEPT_RETRY_USEC (100 * 1000)

typedef struct ClientCount {
        unsigned count;
        char addr[INET6_ADDRSTRLEN];
} ClientCount;

static int client_compare(const void *a, const void *b) {
        return strcmp(((const ClientCount *) a)->addr, ((const ClientCount *) b)->addr);
}

int server_client_inc(Server *srv, const char *addr) {
        ClientCount *key, **found;

        key = calloc(1, sizeof(ClientCount));
        if (!key)
                return -ENOMEM;
        snprintf(key->addr, sizeof(key->addr), "%s", addr);
        found = tsearch(key, &srv->client_counts, client_compare);
        if (!found) {
                free(key);
                return -ENOMEM;
        }
        if (*found != key)
                free(key);
        return (int) ++(*found)->count;
}

void server_client_dec(Server *srv, const char *addr) {
        ClientCount key = {}, **found;

        snprintf(key.addr, sizeof(key.addr), "%s", addr);
        found = tfind(&key, &srv->client_counts, client_compare);
        if (!found)
                return;
        if (--(*found)->count == 0) {
                ClientCount *c = *found;

                tdelete(&key, &srv->client_counts, client_compare);
                free(c);
        }
}

void server_session_gone(Server *srv) {
        if (srv->stopping && srv->n_sessions == 0)
                (void) sd_event_exit(srv->event, 0);
}

static int on_accept_retry(sd_event_source *src, uint64_t usec, void *userdata) {
        Server *srv = userdata;

        (void) src;
        (void) usec;
        srv->accept_paused = false;
        srv->accept_retry = sd_event_source_disable_unref(srv->accept_retry);
        for (size_t i = 0; i < srv->n_listeners; i++)
                (void) sd_event_source_set_enabled(srv->listeners[i], SD_EVENT_ON);
        return 0;
}

static void pause_accepting(Server *srv) {
        if (srv->accept_paused)
                return;
        for (size_t i = 0; i < srv->n_listeners; i++)
                (void) sd_event_source_set_enabled(srv->listeners[i], SD_EVENT_OFF);
        srv->accept_paused = true;
        if (sd_event_add_time_relative(srv->event, &srv->accept_retry, CLOCK_MONOTONIC,
                                       SMTPD_ACCEPT_RETRY_USEC, 0, on_accept_retry, srv) < 0)
                on_accept_retry(NULL, 0, srv);
}

static int on_listen(sd_event_source *src, int fd, uint32_t revents, void *userdata) {
        Server *srv = userdata;

        (void) src;
        (void) revents;

        /* A bounded batch per wake-up, so that a flood of connections does not starve the
         * sessions already open. */
        for (unsigned i = 0; i < 64 && !srv->stopping; i++) {
                int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

                if (cfd < 0) {
                        if (IN_SET(errno, EAGAIN, EINTR, ECONNABORTED, EPROTO))
                                return 0;
                        if (IN_SET(errno, EMFILE, ENFILE, ENOBUFS, ENOMEM)) {
                                log_warning_errno(errno, "cannot accept connections, pausing: %m");
                                pause_accepting(srv);
                                return 0;
                        }
                        log_error_errno(errno, "accept() failed, ignoring: %m");
                        return 0;
                }
                (void) smtp_session_new(srv, cfd, NULL);
        }
        return 0;
}

/* Completed commits: their sessions reply, and qmgr gets one trigger for all the mail the batch
 * queued rather than one per message (it scans incoming/ once either way). */
static int on_pool(sd_event_source *src, int fd, uint32_t revents, void *userdata) {
        Server *srv = userdata;

        (void) src;
        (void) fd;
        (void) revents;
        (void) workpool_dispatch(srv->pool);
        if (srv->trigger_due) {
                srv->trigger_due = false;
                (void) queue_trigger_send(srv->settings->trigger_path, QUEUE_TRIGGER_INCOMING,
                                          NULL);
        }
        return 0;
}

static int open_queue(Server *srv) {
        _cleanup_(queue_dirs_freep) QueueDirs *q = NULL;
        const char *path = srv->settings->queue_directory;
        char *copy;
        int r;

        if (srv->queue && streq_ptr(srv->queue_path, path))
                return 0;
        r = queue_dirs_open(path, &q);
        if (r == -ENOENT) {
                /* A fresh spool: tmpfiles.d creates it under systemd; make it for launchers
                 * that do not. */
                r = queue_dirs_create(path);
                if (r < 0)
                        return log_error_errno(r, "cannot create the queue in %s: %m", path);
                r = queue_dirs_open(path, &q);
        }
        if (r < 0)
                return log_error_errno(r, "cannot open the queue in %s: %m", path);
        copy = strdup(path);
        if (!copy)
                return -ENOMEM;
        /* Sessions keep no fd of their own: swapping is safe between events (files being
         * committed hold their own descriptors). */
        queue_dirs_free(srv->queue);
        srv->queue = TAKE_PTR(q);
        free(srv->queue_path);
        srv->queue_path = copy;
        return 0;
}

/* smtpd_peername_lookup: the resolver for client names, made when the setting is on (at start
 * or at a reload that turns it on). TERN_DNS_SERVER (e.g. "127.0.0.1:5353") replaces the servers
 * of /etc/resolv.conf: a test hook, as no Postfix parameter names the resolver's servers. */
static int setup_dns(Server *srv) {
        const char *servers = getenv("TERN_DNS_SERVER");
        bool lookup;
        int r;

        r = config_get_bool(srv->settings->config, "smtpd_peername_lookup", &lookup);
        if (r < 0)
                return log_error_errno(r, "smtpd_peername_lookup: bad value: %m");
        if (!lookup || srv->dns)
                return 0;
        r = dns_new_with_servers(srv->event, isempty(servers) ? NULL : servers,
                                 /* options= */ NULL, &srv->dns);
        if (r < 0)
                return log_error_errno(r, "cannot set up the resolver%s%s: %m",
                                       isempty(servers) ? "" : " for TERN_DNS_SERVER=",
                                       strempty(servers));
        return 0;
}

bool server_peername_lookup(Server *srv) {
        bool lookup;

        return srv->dns &&
               config_get_bool(srv->settings->config, "smtpd_peername_lookup", &lookup) >= 0 &&
               lookup;
}

static int take_listeners(Server *srv) {
        _cleanup_(strv_freep) char **names = NULL;
        int n, r;

        n = sd_listen_fds_with_names(/* unset_environment= */ true, &names);
        if (n < 0)
                return log_error_errno(n, "cannot take the sockets passed by the service "
                                          "manager: %m");
        if (n == 0)
                return log_error_errno(-EBADF, "no listening socket was passed (LISTEN_FDS): run "
                                               "me from tern-smtpd.socket or "
                                               "systemd-socket-activate");
        srv->listeners = calloc((size_t) n, sizeof(sd_event_source *));
        if (!srv->listeners)
                return -ENOMEM;
        for (int i = 0; i < n; i++) {
                int fd = SD_LISTEN_FDS_START + i;

                r = sd_is_socket(fd, AF_UNSPEC, SOCK_STREAM, /* listening= */ 1);
                if (r <= 0)
                        return log_error_errno(r < 0 ? r : -ENOTSOCK,
                                               "passed fd %d (%s) is not a listening stream "
                                               "socket", fd, names && names[i] ? names[i] : "?");
                /* The manager may pass blocking sockets (systemd-socket-activate does): accept()
                 * must never block the loop. */
                r = fcntl(fd, F_GETFL);
                if (r < 0 || fcntl(fd, F_SETFL, r | O_NONBLOCK) < 0)
                        return log_error_errno(errno, "cannot make socket %d non-blocking: %m",
                                               fd);
                r = sd_event_add_io(srv->event, &srv->listeners[srv->n_listeners], fd, EPOLLIN,
                                    on_listen, srv);
                if (r < 0)
                        return log_error_errno(r, "cannot watch listening socket %d: %m", fd);
                srv->n_listeners++;
                (void) sd_event_source_set_io_fd_own(srv->listeners[srv->n_listeners - 1], true);
        }
        return 0;
}

int server_new(sd_event *e, const char *config_dir, char *const *overrides, SmtpdRole role,
               Server **ret) {
        _cleanup_(server_freep) Server *srv = NULL;
        _cleanup_free_ char *error = NULL;
        int r;

        srv = calloc(1, sizeof(*srv));
        if (!srv)
                return -ENOMEM;
        srv->event = sd_event_ref(e);
        srv->config_dir = config_dir;
        srv->overrides = overrides;
        srv->role = role;

        r = smtpd_settings_load(config_dir, overrides, role, &srv->settings, &error);
        if (r < 0)
                return log_error_errno(r, "%s", error ? error : "cannot load the configuration");
        r = open_queue(srv);
        if (r < 0)
                return r;
        r = setup_dns(srv);
        if (r < 0)
                return r;

        r = workpool_new(SMTPD_FSYNC_THREADS, queue_dirs_sync_incoming, srv->queue, &srv->pool);
        if (r < 0)
                return log_error_errno(r, "cannot start the fsync workers: %m");
        r = sd_event_add_io(e, &srv->pool_source, workpool_fd(srv->pool), EPOLLIN, on_pool, srv);
        if (r < 0)
                return log_error_errno(r, "cannot watch the fsync workers: %m");

        r = take_listeners(srv);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(srv);
        return 0;
}

int server_reload(Server *srv) {
        _cleanup_(smtpd_settings_unrefp) SmtpdSettings *s = NULL;
        _cleanup_free_ char *error = NULL;
        int r;

        r = smtpd_settings_load(srv->config_dir, srv->overrides, srv->role, &s, &error);
        if (r < 0)
                return log_error_errno(r, "reload failed, keeping the running configuration: %s",
                                       error ? error : "cannot load the configuration");
        if (!streq_ptr(s->queue_directory, srv->settings->queue_directory))
                log_warning("queue_directory changed to %s: it takes effect at the next restart",
                            s->queue_directory);
        smtpd_settings_unref(srv->settings);
        srv->settings = TAKE_PTR(s);
        (void) setup_dns(srv);          /* logs; sessions go on without names */
        log_info("reloaded the configuration from %s", srv->config_dir);
        return 0;
}

void server_stop(Server *srv) {
        SmtpSession *next;

        if (srv->stopping)
                return;
        srv->stopping = true;
        for (size_t i = 0; i < srv->n_listeners; i++)
                (void) sd_event_source_set_enabled(srv->listeners[i], SD_EVENT_OFF);
        for (SmtpSession *s = srv->sessions; s; s = next) {
                next = smtp_session_next(s);
                smtp_session_shutdown(s);
        }
        server_session_gone(srv);
}

static void client_count_free(void *p) {
        free(p);
}

Server *server_free(Server *srv) {
        if (!srv)
                return NULL;
        /* Commits in flight finish first: their completions reach sessions that still exist
         * (and, with freeing set, only let go of their transaction). */
        srv->freeing = true;
        srv->pool = workpool_free(srv->pool);
        srv->pool_source = sd_event_source_disable_unref(srv->pool_source);
        while (srv->sessions)
                smtp_session_free(srv->sessions);
        srv->dns = dns_free(srv->dns);  /* after the sessions: they cancel their lookups */
        for (size_t i = 0; i < srv->n_listeners; i++)
                sd_event_source_disable_unref(srv->listeners[i]);
        free(srv->listeners);
        srv->accept_retry = sd_event_source_disable_unref(srv->accept_retry);
        tdestroy(srv->client_counts, client_count_free);
        queue_dirs_free(srv->queue);
        free(srv->queue_path);
        smtpd_settings_unref(srv->settings);
        sd_event_unref(srv->event);
        return mfree(srv);
}
