/* SPDX-License-Identifier: GPL-3.0-or-later */
/* qmgr_sched: transports, destinations and agent connections. Each (transport, nexthop) is a
 * destination with its own queue of batches and a concurrency window that starts at
 * initial_destination_concurrency and grows by one with every successful delivery up to
 * <transport>_destination_concurrency_limit (Postfix's slow start); a delivery that fails for the
 * whole destination halves the window, and at a window of one the destination is throttled:
 * its waiting mail is deferred at once and new mail for it is deferred until minimal_backoff_time
 * has passed, so that one dead destination never holds up the others. Destinations with work are
 * served round robin per transport. A transport's agents are reached on <run_directory>/<name>;
 * connections are pooled (systemd starts one agent per connection) and closed after max_idle.
 * Agent replies are untrusted (ipc.h parses them); what an agent did not answer is deferred. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ipc_client.h"
#include "log.h"
#include "qmgr.h"

#define QMGR_AGENT_IN_MAX (IPC_LINE_MAX * 4)
#define QMGR_AGENT_OUT_MAX (IPC_LINE_MAX * (IPC_RCPT_MAX + 16))

Batch *qmgr_batch_free(Batch *b) {
        if (!b)
                return NULL;
        for (size_t i = 0; i < b->n; i++)
                free(b->address[i]);
        free(b->address);
        free(b->index);
        return mfree(b);
}

Transport *qmgr_transport_get(Qmgr *q, const char *name) {
        QmgrSettings *s = q->settings;
        Transport *t;

        for (t = q->transports; t; t = t->next)
                if (streq(t->name, name))
                        return t;
        t = calloc(1, sizeof(*t));
        if (!t)
                return NULL;
        t->q = q;
        t->name = strdup(name);
        if (!t->name || asprintf(&t->socket_path, "%s/%s", s->run_directory, name) < 0) {
                free(t->name);
                free(t);
                return NULL;
        }
        t->recipient_limit = qmgr_settings_transport_uint(s, name, "destination_recipient_limit",
                                                          50);
        t->concurrency_limit = qmgr_settings_transport_uint(s, name,
                                                            "destination_concurrency_limit", 20);
        t->process_limit = s->process_limit;
        t->next = q->transports;
        q->transports = t;
        return t;
}

static void ready_add(Destination *d) {
        Transport *t = d->transport;

        if (d->ready)
                return;
        d->ready = true;
        if (!t->ready) {
                d->ready_next = d->ready_prev = d;
                t->ready = d;
                return;
        }
        /* At the end of the ring, just before the current head. */
        d->ready_next = t->ready;
        d->ready_prev = t->ready->ready_prev;
        d->ready_prev->ready_next = d;
        t->ready->ready_prev = d;
}

static void ready_remove(Destination *d) {
        Transport *t = d->transport;

        if (!d->ready)
                return;
        d->ready = false;
        if (d->ready_next == d)
                t->ready = NULL;
        else {
                d->ready_prev->ready_next = d->ready_next;
                d->ready_next->ready_prev = d->ready_prev;
                if (t->ready == d)
                        t->ready = d->ready_next;
        }
        d->ready_next = d->ready_prev = NULL;
}

/* Defers every recipient of b with one reason and finishes it. */
static void batch_defer_all(Batch *b, const char *dsn, const char *relay, const char *text) {
        Message *m = b->msg;

        for (size_t i = 0; i < b->n; i++) {
                log_delivery(m->id, b->address[i], NULL, relay, m->arrival_usec, dsn,
                             "deferred", text);
                qmgr_message_result(m, b->index[i], b->address[i], IPC_STATUS_DEFERRED, dsn,
                                    relay, text);
        }
        qmgr_batch_free(b);
        qmgr_message_batch_done(m);
}

int qmgr_enqueue_batch(Qmgr *q, const char *transport, const char *nexthop, Batch *b) {
        Transport *t = qmgr_transport_get(q, transport);
        Destination *d;

        if (!t) {
                qmgr_batch_free(b);
                return -ENOMEM;
        }
        for (d = t->dests; d; d = d->next)
                if (streq(d->nexthop, nexthop))
                        break;
        if (!d) {
                d = calloc(1, sizeof(*d));
                if (!d || !(d->nexthop = strdup(nexthop))) {
                        free(d);
                        qmgr_batch_free(b);
                        return -ENOMEM;
                }
                d->transport = t;
                d->limit = t->concurrency_limit > 0 ? t->concurrency_limit : t->process_limit;
                d->window = MIN(q->settings->initial_concurrency, d->limit);
                d->next = t->dests;
                t->dests = d;
        }
        b->dest = d;
        if (d->throttled_until > now_usec()) {
                batch_defer_all(b, "4.4.1", "none", "delivery temporarily suspended: "
                                                    "destination is not responding");
                return 0;
        }
        if (d->tail)
                d->tail->next = b;
        else
                d->head = b;
        d->tail = b;
        d->n_waiting++;
        ready_add(d);
        return 0;
}

/* ---- Agent connections ---- */

static AgentConn *conn_free(AgentConn *c) {
        Transport *t;

        if (!c)
                return NULL;
        t = c->transport;
        if (c->all_prev)
                c->all_prev->all_next = c->all_next;
        else if (t->all == c)
                t->all = c->all_next;
        if (c->all_next)
                c->all_next->all_prev = c->all_prev;
        qmgr_batch_free(c->batch);
        c->io = sd_event_source_disable_unref(c->io);
        c->timer = sd_event_source_disable_unref(c->timer);
        safe_close(c->fd);
        buf_done(&c->out);
        buf_done(&c->in);
        ipc_reply_parser_free(c->parser);
        c->transport->n_conns--;
        return mfree(c);
}

/* A delivery ended (reply, error, timeout): feedback to the destination's window. */
static void destination_feedback(Destination *d, bool dest_failed) {
        Qmgr *q = d->transport->q;

        assert(d->active > 0);
        d->active--;
        if (!dest_failed) {
                d->failures = 0;
                if (d->window < d->limit)
                        d->window++;
        } else if (d->window > 1)
                d->window = MAX(d->window / 2, 1u);
        else {
                /* Throttle: defer what waits, and new mail for a while. */
                d->failures++;
                d->throttled_until = now_usec() + q->settings->minimal_backoff_usec;
                log_warning("%s:%s: destination throttled after repeated failures",
                            d->transport->name, d->nexthop);
                while (d->head) {
                        Batch *b = d->head;

                        d->head = b->next;
                        if (!d->head)
                                d->tail = NULL;
                        d->n_waiting--;
                        b->next = NULL;
                        batch_defer_all(b, "4.4.1", "none", "delivery temporarily suspended: "
                                                            "destination is not responding");
                }
        }
        if (d->head)
                ready_add(d);
}

/* Applies a reply, and defers what it does not cover. */
static bool apply_reply(Batch *b, IpcReply *reply, const char *why) {
        Message *m = b->msg;
        size_t answered = 0, dest_failures = 0;

        for (size_t i = 0; i < b->n; i++) {
                const IpcResult *r = reply ? ipc_reply_find(reply, (uint32_t) b->index[i]) : NULL;

                if (!r) {
                        qmgr_message_result(m, b->index[i], b->address[i], IPC_STATUS_DEFERRED,
                                            "4.3.0", b->dest->transport->name, why);
                        log_delivery(m->id, b->address[i], NULL, b->dest->transport->name,
                                     m->arrival_usec, "4.3.0", "deferred", why);
                        continue;
                }
                answered++;
                if (r->status == IPC_STATUS_DEFERRED && startswith(r->dsn, "4.4."))
                        dest_failures++;
                qmgr_message_result(m, r->index, b->address[i], r->status, r->dsn, r->relay,
                                    r->text);
        }
        /* Every recipient deferred for a network reason: the destination failed. */
        return answered > 0 && dest_failures == answered;
}

static void conn_finish(AgentConn *c, IpcReply *reply, const char *why) {
        Transport *t = c->transport;
        Qmgr *q = t->q;
        Batch *b = TAKE_PTR(c->batch);
        Destination *d;
        bool dest_failed;

        if (!b)
                return;
        d = b->dest;
        dest_failed = apply_reply(b, reply, why);
        destination_feedback(d, dest_failed);
        {
                Message *m = b->msg;

                qmgr_batch_free(b);
                qmgr_message_batch_done(m);
        }
        (void) q;
}

static void conn_fail(AgentConn *c, int error, const char *what) {
        _cleanup_(ipc_reply_freep) IpcReply *partial = NULL;
        char why[256];

        snprintf(why, sizeof(why), "delivery temporarily suspended: %s %s agent: %s", what,
                 c->transport->name, strerror(abs(error)));
        if (c->parser)
                (void) ipc_reply_parser_take_partial(c->parser, &partial);
        if (c->batch && c->uses > 1 && !c->batch->retried && (!partial || partial->n_results == 0)
            && buf_pending(&c->in) == 0 && error != -ETIMEDOUT) {
                /* A pooled connection whose agent had just exited (max_idle, max_use) as the
                 * request went out: nothing was delivered, so try once more on a new one. */
                Batch *b = TAKE_PTR(c->batch);
                Destination *d = b->dest;

                b->retried = true;
                b->next = d->head;
                d->head = b;
                if (!d->tail)
                        d->tail = b;
                d->n_waiting++;
                d->active--;
                ready_add(d);
                conn_free(c);
                return;
        }
        if (c->batch)
                log_warning("%s: %s", c->batch->msg->id, why);
        conn_finish(c, partial, why);
        conn_free(c);
}

static void conn_idle(AgentConn *c) {
        Transport *t = c->transport;

        c->parser = ipc_reply_parser_free(c->parser);
        buf_clear(&c->in);
        buf_clear(&c->out);
        (void) sd_event_source_set_io_events(c->io, EPOLLIN);   /* notices EOF */
        (void) sd_event_source_set_enabled(c->timer, SD_EVENT_OFF);
        c->idle_since = now_usec();
        c->next_idle = t->idle;
        t->idle = c;
}

static void idle_remove(AgentConn *c) {
        Transport *t = c->transport;

        for (AgentConn **p = &t->idle; *p; p = &(*p)->next_idle)
                if (*p == c) {
                        *p = c->next_idle;
                        break;
                }
        c->next_idle = NULL;
}

static int on_conn_io(sd_event_source *src, int fd, uint32_t revents, void *userdata) {
        AgentConn *c = userdata;
        Qmgr *q = c->transport->q;
        int r;

        (void) src;

        if (!c->batch) {
                /* Idle: the agent went away (max_idle, max_use) or sent junk. */
                idle_remove(c);
                conn_free(c);
                return 0;
        }
        if (revents & EPOLLOUT) {
                while (buf_pending(&c->out) > 0) {
                        ssize_t n = write(fd, buf_peek(&c->out), buf_pending(&c->out));

                        if (n < 0 && errno == EAGAIN)
                                break;
                        if (n < 0) {
                                conn_fail(c, -errno, "lost connection with");
                                qmgr_schedule(q);
                                return 0;
                        }
                        buf_consume(&c->out, (size_t) n);
                }
                if (buf_pending(&c->out) == 0)
                        (void) sd_event_source_set_io_events(c->io, EPOLLIN);
        }
        if (revents & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                _cleanup_(ipc_reply_freep) IpcReply *reply = NULL;
                char tmp[8192];
                ssize_t n = read(fd, tmp, sizeof(tmp));
                size_t used = 0;
                bool last;

                if (n < 0 && errno == EAGAIN)
                        return 0;
                if (n <= 0) {
                        conn_fail(c, n == 0 ? -ECONNRESET : -errno, "lost connection with");
                        qmgr_schedule(q);
                        return 0;
                }
                r = buf_append(&c->in, tmp, (size_t) n);
                if (r >= 0)
                        r = ipc_reply_feed(c->parser, buf_peek(&c->in), buf_pending(&c->in),
                                           &used, &reply);
                buf_consume(&c->in, used);
                if (r < 0) {
                        conn_fail(c, r, "malformed reply from");
                        qmgr_schedule(q);
                        return 0;
                }
                if (r == 0)
                        return 0;
                last = reply->last;
                conn_finish(c, reply, "no result from agent");
                if (last)
                        conn_free(c);   /* the agent reached max_use and is exiting */
                else
                        conn_idle(c);
                qmgr_schedule(q);
        }
        return 0;
}

static int on_conn_timeout(sd_event_source *src, uint64_t usec, void *userdata) {
        AgentConn *c = userdata;
        Qmgr *q = c->transport->q;

        (void) src;
        (void) usec;
        conn_fail(c, -ETIMEDOUT, "timeout waiting for");
        qmgr_schedule(q);
        return 0;
}

static int conn_open(Transport *t, AgentConn **ret) {
        Qmgr *q = t->q;
        AgentConn *c;
        int fd, r;

        fd = ipc_client_connect(t->socket_path, /* nonblock= */ true);
        if (fd < 0)
                return fd;
        c = calloc(1, sizeof(*c));
        if (!c) {
                close(fd);
                return -ENOMEM;
        }
        c->transport = t;
        c->fd = fd;
        c->all_next = t->all;
        if (c->all_next)
                c->all_next->all_prev = c;
        t->all = c;
        c->in = BUF_INIT(QMGR_AGENT_IN_MAX);
        c->out = BUF_INIT(QMGR_AGENT_OUT_MAX);
        t->n_conns++;
        r = sd_event_add_io(q->event, &c->io, fd, EPOLLIN, on_conn_io, c);
        if (r >= 0)
                r = sd_event_add_time_relative(q->event, &c->timer, CLOCK_MONOTONIC,
                                               q->settings->agent_timeout_usec, 0,
                                               on_conn_timeout, c);
        if (r < 0) {
                conn_free(c);
                return r;
        }
        (void) sd_event_source_set_enabled(c->timer, SD_EVENT_OFF);
        *ret = c;
        return 0;
}

static int build_request(Batch *b, IpcRequest **ret) {
        _cleanup_(ipc_request_freep) IpcRequest *r = NULL;
        Message *m = b->msg;
        QueueEnvelope *env = m->file->envelope;
        const char *body = queue_envelope_get_attr(env, "body");
        int k;

        k = ipc_request_new(&r);
        if (k < 0)
                return k;
        r->queue = QUEUE_ACTIVE;
        snprintf(r->id, sizeof(r->id), "%s", m->id);
        r->content_offset = env->content_offset;
        r->content_size = env->content_size;
        r->sender = strdup(env->sender);
        r->transport = strdup(b->dest->transport->name);
        r->nexthop = strdup(b->dest->nexthop);
        if (!r->sender || !r->transport || !r->nexthop)
                return -ENOMEM;
        if (env->envid) {
                r->envid = strdup(env->envid);
                if (!r->envid)
                        return -ENOMEM;
        }
        r->ret = env->ret;
        if (env->envid || env->ret != QUEUE_RET_NONE)
                r->flags |= IPC_FLAG_DSN;
        if (body && strcasecmp(body, "8BITMIME") == 0)
                r->flags |= IPC_FLAG_8BITMIME;
        if (queue_envelope_get_attr(env, "smtputf8"))
                r->flags |= IPC_FLAG_SMTPUTF8;
        for (size_t i = 0; i < b->n; i++) {
                const QueueRcpt *qr = &env->rcpts[b->index[i]];

                if (qr->notify || qr->orcpt)
                        r->flags |= IPC_FLAG_DSN;
                k = ipc_request_add_rcpt(r, (uint32_t) b->index[i], qr->notify, b->address[i],
                                         qr->address, qr->orcpt);
                if (k < 0)
                        return k;
        }
        *ret = TAKE_PTR(r);
        return 0;
}

/* Sends b on c. On failure b is deferred and c closed. */
static void conn_send(AgentConn *c, Batch *b) {
        _cleanup_(ipc_request_freep) IpcRequest *req = NULL;
        int r;

        c->batch = b;
        c->uses++;
        r = build_request(b, &req);
        if (r >= 0)
                r = ipc_reply_parser_new_for(req, &c->parser);
        if (r >= 0)
                r = ipc_request_format(req, &c->out);
        if (r < 0) {
                conn_fail(c, r, "cannot send a request to");
                return;
        }
        (void) sd_event_source_set_io_events(c->io, EPOLLIN | EPOLLOUT);
        (void) sd_event_source_set_time_relative(c->timer, c->transport->q->settings
                                                                   ->agent_timeout_usec);
        (void) sd_event_source_set_enabled(c->timer, SD_EVENT_ONESHOT);
}

static Batch *destination_pop(Destination *d) {
        Batch *b = d->head;

        d->head = b->next;
        if (!d->head)
                d->tail = NULL;
        b->next = NULL;
        d->n_waiting--;
        return b;
}

static void schedule_transport(Transport *t) {
        while (t->ready) {
                Destination *d = t->ready;
                AgentConn *c = NULL;
                Batch *b;
                int r;

                if (!d->head || d->active >= MIN(d->window, d->limit)) {
                        ready_remove(d);
                        continue;
                }
                if (t->idle) {
                        c = t->idle;
                        t->idle = c->next_idle;
                        c->next_idle = NULL;
                } else if (t->n_conns < t->process_limit) {
                        r = conn_open(t, &c);
                        if (r < 0) {
                                char why[256];

                                /* No agent: everything waiting for this transport is deferred
                                 * (its socket unit is not running). */
                                snprintf(why, sizeof(why), "delivery temporarily suspended: "
                                         "connect to %s: %s", t->socket_path, strerror(-r));
                                log_warning("%s", why);
                                while (t->ready) {
                                        Destination *dd = t->ready;

                                        while (dd->head)
                                                batch_defer_all(destination_pop(dd), "4.3.0",
                                                                t->name, why);
                                        ready_remove(dd);
                                }
                                return;
                        }
                } else
                        return;                 /* all connections busy */

                b = destination_pop(d);
                d->active++;
                t->ready = d->ready_next;       /* round robin */
                conn_send(c, b);
        }
}

void qmgr_schedule(Qmgr *q) {
        for (Transport *t = q->transports; t; t = t->next)
                schedule_transport(t);
}

void qmgr_close_idle(Qmgr *q, uint64_t now) {
        for (Transport *t = q->transports; t; t = t->next) {
                AgentConn **p = &t->idle;

                while (*p) {
                        AgentConn *c = *p;

                        /* Half of max_idle: the agent, which waits max_idle, never exits
                         * under a request we are about to send. */
                        if (now - c->idle_since >= q->settings->max_idle_usec / 2) {
                                *p = c->next_idle;
                                conn_free(c);
                        } else
                                p = &c->next_idle;
                }
        }
}

bool qmgr_busy(Qmgr *q) {
        return q->n_messages > 0;
}

void qmgr_transports_free(Qmgr *q) {
        while (q->transports) {
                Transport *t = q->transports;

                q->transports = t->next;
                /* Deliveries in flight are abandoned: their files stay in active/ and are
                 * recovered at the next start. */
                t->idle = NULL;
                while (t->all)
                        conn_free(t->all);
                while (t->dests) {
                        Destination *d = t->dests;

                        t->dests = d->next;
                        while (d->head)
                                qmgr_batch_free(destination_pop(d));
                        free(d->nexthop);
                        free(d);
                }
                free(t->name);
                free(t->socket_path);
                free(t);
        }
}
