/* SPDX-License-Identifier: GPL-3.0-or-later */
/* local_pass: local(8)'s hand-off of one recipient to another transport's agent, what Postfix
 * calls deliver_pass(), for mailbox_transport(_maps) and fallback_transport(_maps): "lmtp:unix:
 * private/dovecot-lmtp" hands a local user's mail to Dovecot through the lmtp agent. local
 * connects to that transport's agent socket exactly as qmgr does (<run_directory>/<transport>;
 * systemd starts one agent per connection), sends one ipc.h request for this recipient -- the
 * queue file, content, sender, DSN fields and flags of qmgr's request, the nexthop of the
 * value or else qmgr's nexthop -- and reports the agent's result for the recipient (status,
 * enhanced code, text, relay) to qmgr as its own. The agent reads the queue file itself and
 * logs the delivery; local logs only what it settles itself: a bad value, an agent that cannot
 * be reached or that goes away. Those are deferrals: the recipient stays in the queue.
 *
 * The value comes from main.cf or a lookup table and is checked (ipc_client.h) before its
 * transport name becomes a path; the agent's reply is parsed by ipc.h's bounded parser. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ipc_client.h"
#include "local.h"
#include "log.h"

/* Settles the recipient locally (logged, relay "none" as Postfix shows it). */
static void pass_fail(const LocalState *st, const char *dsn, const char *format, ...)
        _printf_(3, 4);

static void pass_fail(const LocalState *st, const char *dsn, const char *format, ...) {
        LocalResult res;
        va_list ap;

        res.status = IPC_STATUS_DEFERRED;
        snprintf(res.dsn, sizeof(res.dsn), "%s", dsn);
        va_start(ap, format);
        vsnprintf(res.text, sizeof(res.text), format, ap);
        va_end(ap);
        local_outcome_add(st, &res, "none");
}

/* The request for the one recipient st.address, from qmgr's request. */
static int pass_request(const LocalState *st, const char *transport, const char *nexthop,
                        IpcRequest **ret) {
        const IpcRequest *req = st->msg->request;
        const IpcRcpt *rc = st->rcpt;
        _cleanup_(ipc_request_freep) IpcRequest *p = NULL;
        int r;

        r = ipc_request_new(&p);
        if (r < 0)
                return r;
        p->queue = req->queue;
        memcpy(p->id, req->id, sizeof(p->id));
        p->content_offset = req->content_offset;
        p->content_size = req->content_size;
        /* deliver_pass() sends the request's sender, not one an owner- alias set. */
        p->sender = strdup(req->sender);
        p->transport = strdup(transport);
        p->nexthop = strdup(nexthop);
        if (!p->sender || !p->transport || !p->nexthop)
                return -ENOMEM;
        if (req->envid) {
                p->envid = strdup(req->envid);
                if (!p->envid)
                        return -ENOMEM;
        }
        p->ret = req->ret;
        p->flags = req->flags;
        r = ipc_request_add_rcpt(p, rc->index, rc->notify, st->address, rc->original,
                                 rc->orcpt);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(p);
        return 0;
}

int local_pass_deliver(LocalState st, const char *service, const char *param) {
        const LocalSettings *s = st.msg->settings;
        const IpcRequest *req = st.msg->request;
        _cleanup_free_ char *transport = NULL, *nexthop = NULL, *path = NULL;
        _cleanup_(ipc_request_freep) IpcRequest *pass = NULL;
        _cleanup_(ipc_reply_freep) IpcReply *reply = NULL, *partial = NULL;
        _cleanup_close_ int fd = -EBADF;
        char value[LOG_SANITIZE_BUFSIZE];
        const IpcResult *res;
        LocalResult lr;
        int r;

        assert(service);
        assert(param);

        log_sanitize(value, sizeof(value), service, strlen(service), LOG_SANITIZE_MAX);
        /* Without a nexthop, the one qmgr gave this request (Postfix: request->nexthop). */
        r = ipc_client_service_split(service, req->nexthop, &transport, &nexthop);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                log_warning("%s: %s: bad transport:nexthop '%s', deferring", req->id, param,
                            value);
                pass_fail(&st, "4.3.5", "mail system configuration error: %s: bad "
                          "transport:nexthop '%s'", param, value);
                return 0;
        }
        /* Handing the recipient back to this very transport would loop for ever. */
        if (streq(transport, req->transport)) {
                log_warning("%s: %s names this transport '%s', deferring", req->id, param,
                            transport);
                pass_fail(&st, "4.3.5", "mail system configuration error: %s names the %s "
                          "transport itself", param, transport);
                return 0;
        }

        r = pass_request(&st, transport, nexthop, &pass);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                pass_fail(&st, "4.3.0", "mail transport unavailable: cannot build a request "
                          "for the %s agent: %s", transport, strerror(-r));
                return 0;
        }

        r = ipc_client_socket_path(s->run_directory, transport, &path);
        if (r < 0)
                return r;
        fd = ipc_client_connect(path, /* nonblock= */ false);
        if (fd < 0) {
                log_warning_errno(fd, "%s: connect to %s: %m, deferring", req->id, path);
                pass_fail(&st, "4.3.0", "mail transport unavailable: connect to %s: %s", path,
                          strerror(-fd));
                return 0;
        }

        r = ipc_client_call(fd, pass, s->pass_timeout_usec, &reply, &partial);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                /* The agent may have reported this recipient before it went away. */
                res = partial ? ipc_reply_find(partial, st.rcpt->index) : NULL;
                if (!res) {
                        log_warning_errno(r, "%s: %s agent: %m, deferring", req->id,
                                          transport);
                        pass_fail(&st, "4.3.0", "mail transport unavailable: %s %s agent: %s",
                                  r == -ETIMEDOUT ? "timeout waiting for the" :
                                  r == -EBADMSG || r == -EMSGSIZE ? "malformed reply from the" :
                                  "lost connection with the", transport, strerror(-r));
                        return 0;
                }
        } else
                res = ipc_reply_find(reply, st.rcpt->index);
        assert(res);            /* the reply parser insists on one result per recipient */

        lr.status = res->status;
        snprintf(lr.dsn, sizeof(lr.dsn), "%s", res->dsn);
        snprintf(lr.text, sizeof(lr.text), "%s", res->text);
        /* The agent that delivered has logged it, as Postfix's agents do after a pass. */
        local_outcome_record(st.out, &lr, res->relay);
        return 0;
}
