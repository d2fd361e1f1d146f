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
#include "service.h"
#include "log.h"
#include "tern-config.h"

static ServiceArgs arg_service = {};

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

/* The one result qmgr gets for a recipient, from everything its expansion did, and where it
 * went: "local", or the relay another agent reported after a hand-off (local_pass.c). */
static const char *outcome_result(const LocalOutcome *o, LocalResult *ret) {
        if (o->any_defer || o->any_bounce || o->n_done == 1) {
                *ret = o->last;
                return isempty(o->relay) ? "local" : o->relay;
        }
        if (o->n_done == 0)
                /* Everything was a duplicate of a destination already served. */
                local_result_set(ret, IPC_STATUS_EXPANDED, "2.0.0", "alias expanded");
        else
                local_result_set(ret, IPC_STATUS_EXPANDED, "2.0.0",
                                 "expanded to %u destinations", o->n_done);
        return "local";
}

/* The "transport:nexthop" a probe of user is handed to, as delivery would choose it:
 * mailbox_transport_maps, mailbox_transport, and for a user not in passwd (known false)
 * fallback_transport_maps, fallback_transport. Returns 1 with *ret_value (malloc'd) and
 * *ret_param, 0 when none applies, < 0 on a lookup failure. */
static int verify_transport(const LocalSettings *s, const char *user, bool known,
                            char **ret_value, const char **ret_param) {
        int r;

        if (s->mailbox_transport_maps) {
                r = dict_list_lookup(s->mailbox_transport_maps, user, ret_value);
                if (r != 0) {
                        *ret_param = "mailbox_transport_maps";
                        return r;
                }
        }
        if (!isempty(s->mailbox_transport)) {
                *ret_param = "mailbox_transport";
                *ret_value = strdup(s->mailbox_transport);
                return *ret_value ? 1 : -ENOMEM;
        }
        if (known)
                return 0;
        if (s->fallback_transport_maps) {
                r = dict_list_lookup(s->fallback_transport_maps, user, ret_value);
                if (r != 0) {
                        *ret_param = "fallback_transport_maps";
                        return r;
                }
        }
        if (!isempty(s->fallback_transport)) {
                *ret_param = "fallback_transport";
                *ret_value = strdup(s->fallback_transport);
                return *ret_value ? 1 : -ENOMEM;
        }
        return 0;
}

/* An address probe (IPC_FLAG_VERIFY): nothing is delivered. Deliverable when the local part is
 * an alias, a passwd user, or luser_relay catches everything; a recipient that delivery would
 * hand to another transport is probed there (the request keeps its verify flag). Records the
 * result in st.out. */
static int verify(LocalState st) {
        const LocalSettings *s = st.msg->settings;
        _cleanup_free_ char *local = NULL, *user = NULL, *ext = NULL, *domain = NULL;
        _cleanup_free_ char *value = NULL, *service = NULL;
        _cleanup_(local_user_freep) LocalUser *u = NULL;
        const char *param = NULL;
        LocalResult res;
        int r;

        r = local_address_split(s, st.address, &local, &user, &ext, &domain);
        if (r < 0)
                return r;
        r = s->alias_maps ? dict_list_lookup(s->alias_maps, local, &value) : 0;
        if (r == 0 && ext && s->alias_maps)
                r = dict_list_lookup(s->alias_maps, user, &value);
        if (r == 0) {
                r = local_user_find(user, &u);
                if (r >= 0)
                        r = verify_transport(s, user, r > 0, &service, &param);
                if (r == -ENOMEM)
                        return r;
                if (r > 0 && service)
                        return local_pass_deliver(st, service, param);
                if (r == 0 && u)
                        r = 1;
        }
        if (r < 0)
                local_result_set(&res, IPC_STATUS_DEFERRED, "4.3.0", "lookup failure");
        else if (r > 0 || !isempty(s->luser_relay))
                local_result_set(&res, IPC_STATUS_DELIVERABLE, "2.1.5", "deliverable");
        else
                local_result_set(&res, IPC_STATUS_UNDELIVERABLE, "5.1.1", "unknown user: \"%s\"",
                                 user);
        local_outcome_record(st.out, &res, NULL);
        return 0;
}

static int serve(const LocalSettings *s, QueueDirs *dirs, const IpcRequest *req, Buf *out) {
        _cleanup_(queue_file_freep) QueueFile *f = NULL;
        LocalMessage msg = { .settings = s, .request = req };
        char why[256];
        int r;

        r = service_request_file_at(queue_dirs_fd(dirs, req->queue),
                                    queue_name_to_string(req->queue), req, &f, why,
                                    sizeof(why));
        if (r < 0)
                return answer_all(req, IPC_STATUS_DEFERRED, "4.3.0", why, out);
        msg.file = f;
        msg.start_usec = now_usec(CLOCK_REALTIME);

        for (size_t i = 0; i < req->n_rcpts; i++) {
                const IpcRcpt *rc = &req->rcpts[i];
                LocalOutcome o = {};
                LocalResult res;
                const char *relay;
                uint64_t t0 = now_usec(CLOCK_MONOTONIC);
                LocalState st = {
                        .msg = &msg,
                        .rcpt = rc,
                        .address = rc->address,
                        .sender = req->sender,
                        .source = LOCAL_CLASS_ALIAS,
                        .out = &o,
                };

                if (req->flags & IPC_FLAG_VERIFY)
                        r = verify(st);
                else
                        r = local_recipient_deliver(st);
                if (r < 0) {
                        local_outcome_done(&o);
                        return log_error_errno(r, "%s: delivery failed: %m", req->id);
                }
                relay = outcome_result(&o, &res);
                r = ipc_result_format(rc->index, res.status, res.dsn, relay,
                                      now_usec(CLOCK_MONOTONIC) - t0, res.text, out);
                local_outcome_done(&o);
                if (r < 0)
                        return r;
        }
        return 0;
}

typedef struct Serving {
        const LocalSettings *settings;
        QueueDirs *dirs;
} Serving;

static int handle(void *userdata, const IpcRequest *req, Buf *out) {
        Serving *sv = userdata;

        return serve(sv->settings, sv->dirs, req, out);
}

static int run(void) {
        _cleanup_(local_settings_freep) LocalSettings *s = NULL;
        _cleanup_(queue_dirs_freep) QueueDirs *dirs = NULL;
        _cleanup_free_ char *error = NULL;
        ServiceLoopLimits limits;
        Serving sv;
        int r;

        (void) signal(SIGPIPE, SIG_IGN);

        r = local_settings_load(config_dir_resolve(arg_service.config_dir), arg_service.overrides,
                                &s, &error);
        if (r < 0)
                return log_error_errno(r, "%s", error ? error : "cannot load the configuration");

        r = queue_dirs_open(s->queue_directory, &dirs);
        if (r < 0)
                return log_error_errno(r, "%s: cannot open the queue: %m", s->queue_directory);
        if (chdir(s->queue_directory) < 0)
                log_debug_errno(errno, "cannot change to %s, ignoring: %m", s->queue_directory);

        sv = (Serving) { .settings = s, .dirs = dirs };
        limits = (ServiceLoopLimits) {
                .max_use = s->max_use,
                .max_idle_usec = s->max_idle_usec,
                .ipc_timeout_usec = s->ipc_timeout_usec,
                .reply_max = SERVICE_REPLY_MAX,
        };
        return service_agent_serve(&limits, handle, &sv);
}

int main(int argc, char **argv) {
        return service_main("tern/local", "local",
                            "The tern local delivery agent. Serves qmgr's delivery requests on "
                            "the connected\nsocket the service manager passes (LISTEN_FDS, "
                            "Accept=yes).", false, argc, argv, &arg_service, run);
}
