/* SPDX-License-Identifier: GPL-3.0-or-later */
/* qmgr_queue: the life of a message in qmgr. A complete file is moved to active/ and opened for
 * update, its pending recipients are resolved and grouped into batches per transport and
 * destination; agents' results flip status bytes; when the last batch is done the message is
 * removed (every recipient done or failed, notices sent) or moved to deferred/ with its next
 * retry time as mtime and the reasons in defer/ID (for mailq). Files that do not parse go to
 * corrupt/, logged, never deleted. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "dsn.h"
#include "log.h"
#include "qmgr.h"

/* Incomplete files in incoming/ older than this were abandoned by a crashed writer. */
#define QMGR_STALE_INCOMPLETE_USEC (UINT64_C(24) * 3600 * 1000000)
/* The first line of defer/ID once a delay notice went out. */
#define QMGR_DEFER_WARNED "warned"

uint64_t now_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}

static void outcomes_free(Outcome *o, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(o[i].relay);
                free(o[i].text);
                free(o[i].address);
        }
        free(o);
}

static Message *message_free(Message *m) {
        Qmgr *q;

        if (!m)
                return NULL;
        q = m->q;
        if (m->prev)
                m->prev->next = m->next;
        else if (q->messages == m)
                q->messages = m->next;
        if (m->next)
                m->next->prev = m->prev;
        q->n_messages--;
        queue_file_free(m->file);
        safe_close(m->lock_fd);
        outcomes_free(m->failed, m->n_failed);
        outcomes_free(m->deferred, m->n_deferred);
        outcomes_free(m->delivered, m->n_delivered);
        return mfree(m);
}

void qmgr_messages_free(Qmgr *q) {
        while (q->messages)
                message_free(q->messages);
}

static int outcome_add(Outcome **list, size_t *n, size_t index, const char *address,
                       const char *dsn, const char *relay, const char *text) {
        Outcome *l = realloc(*list, (*n + 1) * sizeof(Outcome));
        Outcome *o;

        if (!l)
                return -ENOMEM;
        *list = l;
        o = &l[*n];
        *o = (Outcome) { .index = index };
        snprintf(o->dsn, sizeof(o->dsn), "%s", dsn);
        o->relay = strdup(strempty(relay));
        o->text = strdup(strempty(text));
        o->address = strdup(strempty(address));
        if (!o->relay || !o->text || !o->address) {
                outcomes_free(o, 1);
                return -ENOMEM;
        }
        (*n)++;
        return 0;
}

static const char *sender_of(const Message *m) {
        return m->file->envelope->sender;
}

/* Postfix logs the status of every recipient qmgr settles itself (error, discard, expiry). */
static void log_status(Message *m, const char *address, const char *relay, const char *dsn,
                       const char *status, const char *text) {
        log_delivery(m->id, address, NULL, relay, m->arrival_usec, dsn, status, text);
}

void qmgr_message_result(Message *m, size_t index, const char *address, IpcStatus status,
                         const char *dsn, const char *relay, const char *text) {
        QmgrSettings *s = m->q->settings;
        char soft[IPC_DSN_MAX + 1];
        int r = 0;

        if (index >= m->file->envelope->n_rcpts)
                return;
        switch (status) {
        case IPC_STATUS_SENT:
        case IPC_STATUS_EXPANDED:
        case IPC_STATUS_DELIVERABLE:
                r = queue_file_set_status(m->file, index, QUEUE_RCPT_DONE);
                if (r >= 0 && (m->file->envelope->rcpts[index].notify & QUEUE_NOTIFY_SUCCESS))
                        r = outcome_add(&m->delivered, &m->n_delivered, index, address, dsn,
                                        relay, text);
                m->q->n_delivered++;
                break;
        case IPC_STATUS_BOUNCED:
        case IPC_STATUS_UNDELIVERABLE:
                if (s->soft_bounce) {
                        /* soft_bounce: a permanent failure becomes a temporary one. */
                        snprintf(soft, sizeof(soft), "4%s", dsn + 1);
                        r = outcome_add(&m->deferred, &m->n_deferred, index, address, soft,
                                        relay, text);
                } else
                        r = outcome_add(&m->failed, &m->n_failed, index, address, dsn, relay,
                                        text);
                break;
        default:
                r = outcome_add(&m->deferred, &m->n_deferred, index, address, dsn, relay, text);
                break;
        }
        if (r < 0)
                log_warning_errno(r, "%s: cannot record the result for recipient %zu, it stays "
                                     "pending: %m", m->id, index);
}

/* Fills BounceRecipients from outcomes (pointers into m and o). */
static BounceRecipient *bounce_recipients(Message *m, const Outcome *o, size_t n,
                                          const char *action) {
        BounceRecipient *r = calloc(MAX(n, (size_t) 1), sizeof(BounceRecipient));

        if (!r)
                return NULL;
        for (size_t i = 0; i < n; i++) {
                const QueueRcpt *qr = &m->file->envelope->rcpts[o[i].index];

                r[i] = (BounceRecipient) {
                        .address = o[i].address,
                        .orcpt = qr->orcpt,
                        .original = qr->address,
                        .dsn = o[i].dsn,
                        .action = action,
                        .remote_mta = NULL,
                        .diagnostic = o[i].text,
                        .reason = o[i].text,
                };
        }
        return r;
}

/* The outcomes of o whose recipient's NOTIFY asks for this kind of notice (RFC 3461 §4.1:
 * FAILURE and DELAY are the default), as a shallow copy. Returns NULL on -ENOMEM. */
static Outcome *select_notify(Message *m, const Outcome *o, size_t n, unsigned bit,
                              bool by_default, size_t *ret_n) {
        Outcome *sel = calloc(MAX(n, (size_t) 1), sizeof(Outcome));
        size_t k = 0;

        if (!sel)
                return NULL;
        for (size_t i = 0; i < n; i++) {
                unsigned notify = m->file->envelope->rcpts[o[i].index].notify;

                if ((notify == 0 && by_default) || (notify & bit))
                        sel[k++] = o[i];
        }
        *ret_n = k;
        return sel;
}

/* Sends one notice. Returns 0 (also when nobody wants it), < 0 when it could not be queued. */
static int notify(Message *m, BounceKind kind, Outcome *o, size_t n, const char *action) {
        Qmgr *q = m->q;
        _cleanup_free_ BounceRecipient *r = NULL;
        char id[QUEUE_ID_MAX + 1] = "";
        int k;

        if (n == 0)
                return 0;
        r = bounce_recipients(m, o, n, action);
        if (!r)
                return -ENOMEM;
        k = bounce_enqueue(&q->settings->bounce, kind, m->file, r, n,
                           queue_dirs_fd(q->dirs, QUEUE_INCOMING), now_usec(), id);
        if (k < 0)
                return log_warning_errno(k, "%s: cannot queue a delivery status notification: "
                                            "%m", m->id);
        if (!isempty(id)) {
                /* The notice's name must survive a crash before the original's fate is
                 * recorded (bounce_enqueue() synced the file itself). */
                k = queue_dir_sync(q->dirs, QUEUE_INCOMING);
                if (k < 0)
                        return log_warning_errno(k, "%s: cannot sync incoming/: %m", m->id);
                /* A bounce of a null-sender message goes to the postmaster: Postfix's word. */
                log_struct(LOG_INFO, "TERN_QUEUE_ID=%s", m->id,
                           LOG_MESSAGE("%s: %s %s notification: %s", m->id,
                                       isempty(m->file->envelope->sender) ? "postmaster"
                                                                          : "sender",
                                       kind == BOUNCE_FAILURE ? "non-delivery"
                                       : kind == BOUNCE_DELAY ? "delay status"
                                                              : "delivery status", id));
                qmgr_request_scan(q);
        }
        return 0;
}

static bool defer_log_warned(Qmgr *q, const char *id) {
        char line[16] = "";
        int fd = openat(queue_dirs_fd(q->dirs, QUEUE_DEFER), id, O_RDONLY | O_CLOEXEC);
        ssize_t n;

        if (fd < 0)
                return false;
        n = read(fd, line, sizeof(line) - 1);
        close(fd);
        return n > 0 && startswith(line, QMGR_DEFER_WARNED "\n");
}

/* defer/ID: "warned" when a delay notice went out, then "address<TAB>dsn<TAB>reason" per
 * deferred recipient: what mailq shows. Written to a temporary name and renamed. */
static int defer_log_write(Message *m, bool warned) {
        int dfd = queue_dirs_fd(m->q->dirs, QUEUE_DEFER);
        _cleanup_(buf_done) Buf b = BUF_INIT(4u << 20);
        char tmp[QUEUE_ID_MAX + 8];
        int fd, r;

        if (warned)
                (void) buf_append_str(&b, QMGR_DEFER_WARNED "\n");
        for (size_t i = 0; i < m->n_deferred; i++) {
                const Outcome *o = &m->deferred[i];
                char *p;

                /* One line each: no tabs or line ends inside the fields. */
                for (p = o->text; *p; p++)
                        if (*p == '\n' || *p == '\t' || *p == '\r')
                                *p = ' ';
                (void) buf_printf(&b, "%s\t%s\t%s\n", o->address, o->dsn, o->text);
        }
        snprintf(tmp, sizeof(tmp), "%s.tmp", m->id);
        fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0)
                return -errno;
        r = buf_pending(&b) == 0 || write(fd, buf_peek(&b), buf_pending(&b)) ==
                                            (ssize_t) buf_pending(&b) ? 0 : -EIO;
        close(fd);
        if (r >= 0)
                r = NEG_ERRNO(renameat(dfd, tmp, dfd, m->id));
        if (r < 0)
                (void) unlinkat(dfd, tmp, 0);
        return r;
}

/* The message's batches are all done: settle it. */
static void message_complete(Message *m) {
        Qmgr *q = m->q;
        QmgrSettings *s = q->settings;
        uint64_t now = now_usec(), age = now > m->arrival_usec ? now - m->arrival_usec : 0;
        uint64_t lifetime = isempty(sender_of(m)) ? s->bounce_queue_lifetime_usec
                                                  : s->maximal_queue_lifetime_usec;
        bool warned = defer_log_warned(q, m->id);
        int r;

        /* Expired: what is still deferred fails now (Postfix: maximal_queue_lifetime). */
        if (m->n_deferred > 0 && age >= lifetime) {
                for (size_t i = 0; i < m->n_deferred; i++) {
                        Outcome *o = &m->deferred[i];
                        char *text = NULL;

                        if (asprintf(&text, "message expired: %s", o->text) < 0)
                                continue;
                        log_status(m, o->address, o->relay, o->dsn, "expired", text);
                        (void) outcome_add(&m->failed, &m->n_failed, o->index, o->address,
                                           o->dsn, o->relay, text);
                        free(text);
                }
                outcomes_free(m->deferred, m->n_deferred);
                m->deferred = NULL;
                m->n_deferred = 0;
        }

        if (m->n_failed > 0) {
                size_t n = 0;
                _cleanup_free_ Outcome *want = select_notify(m, m->failed, m->n_failed,
                                                             QUEUE_NOTIFY_FAILURE, true, &n);

                r = want ? notify(m, BOUNCE_FAILURE, want, n, "failed") : -ENOMEM;
                for (size_t i = 0; i < m->n_failed; i++) {
                        const Outcome *o = &m->failed[i];
                        bool wanted = false;

                        for (size_t k = 0; want && k < n; k++)
                                wanted = wanted || want[k].index == o->index;
                        if (r < 0 && (wanted || !want))
                                /* No notice, no failure: try again later. */
                                (void) outcome_add(&m->deferred, &m->n_deferred, o->index,
                                                   o->address, "4.3.0", o->relay,
                                                   "cannot queue the non-delivery notice");
                        else
                                (void) queue_file_set_status(m->file, o->index,
                                                             QUEUE_RCPT_FAILED);
                }
                if (r >= 0)
                        q->n_bounced += m->n_failed;
        }

        /* A recipient neither settled nor deferred (it could not be scheduled) is deferred:
         * nothing leaves the queue without a result. */
        for (size_t i = 0; i < m->file->envelope->n_rcpts; i++) {
                bool known = false;

                if (m->file->envelope->rcpts[i].status != QUEUE_RCPT_PENDING)
                        continue;
                for (size_t k = 0; k < m->n_deferred && !known; k++)
                        known = m->deferred[k].index == i;
                if (!known)
                        (void) outcome_add(&m->deferred, &m->n_deferred, i,
                                           m->file->envelope->rcpts[i].address, "4.3.0",
                                           "none", "not yet scheduled");
        }

        if (m->n_delivered > 0) {
                size_t n = 0;
                _cleanup_free_ Outcome *want = select_notify(m, m->delivered, m->n_delivered,
                                                             QUEUE_NOTIFY_SUCCESS, false, &n);

                if (want)
                        (void) notify(m, BOUNCE_SUCCESS, want, n, "delivered");
        }

        if (m->n_deferred == 0) {
                r = queue_file_remove(q->dirs, m->id, QUEUE_ACTIVE);
                if (r < 0 && r != -ENOENT)
                        log_warning_errno(r, "%s: cannot remove the queue file: %m", m->id);
                (void) unlinkat(queue_dirs_fd(q->dirs, QUEUE_DEFER), m->id, 0);
                log_struct(LOG_INFO, "TERN_QUEUE_ID=%s", m->id,
                           LOG_MESSAGE("%s: removed", m->id));
                message_free(m);
                return;
        }

        if (s->delay_warning_usec > 0 && age >= s->delay_warning_usec && !warned) {
                _cleanup_free_ Outcome *copy = calloc(m->n_deferred, sizeof(Outcome));
                size_t n = 0;

                /* Delay notices go to recipients with NOTIFY=DELAY or no NOTIFY at all. */
                for (size_t i = 0; copy && i < m->n_deferred; i++) {
                        unsigned nt = m->file->envelope->rcpts[m->deferred[i].index].notify;

                        if (nt == 0 || (nt & QUEUE_NOTIFY_DELAY))
                                copy[n++] = m->deferred[i];
                }
                if (n == 0 || notify(m, BOUNCE_DELAY, copy, n, "delayed") >= 0)
                        warned = true;
        }

        {
                uint64_t backoff = MIN(MAX(age, s->minimal_backoff_usec),
                                       s->maximal_backoff_usec);

                r = defer_log_write(m, warned);
                if (r < 0)
                        log_warning_errno(r, "%s: cannot write the defer log, ignoring: %m",
                                          m->id);
                r = queue_file_set_mtime(queue_dirs_fd(q->dirs, QUEUE_ACTIVE), m->id,
                                         now + backoff);
                if (r >= 0)
                        r = queue_file_move(q->dirs, m->id, QUEUE_ACTIVE, QUEUE_DEFERRED);
                if (r < 0)
                        log_warning_errno(r, "%s: cannot move to the deferred queue: %m",
                                          m->id);
                q->n_deferred++;
        }
        message_free(m);
}

void qmgr_message_batch_done(Message *m) {
        Qmgr *q = m->q;

        assert(m->batches > 0);
        if (--m->batches > 0)
                return;
        message_complete(m);
        /* Room in the active set: take more mail in. */
        if (q->scan_incoming)
                qmgr_request_scan(q);
        qmgr_update_status(q);
}

static void move_corrupt(Qmgr *q, QueueName from, const char *id, int error) {
        int r = queue_file_move(q->dirs, id, from, QUEUE_CORRUPT);

        log_struct_errno(LOG_CRIT, error, "MESSAGE_ID=%s", TERN_MESSAGE_CORRUPT,
                         "TERN_QUEUE_ID=%s", id,
                         LOG_MESSAGE("%s: queue file does not parse, %s corrupt/: %m", id,
                                     r >= 0 ? "moved to" : "cannot move it to"));
}

/* Settles a recipient inside qmgr (error, discard, retry, defer_transports, resolver). */
static void settle(Message *m, size_t i, const char *address, IpcStatus status,
                   const char *dsn, const char *relay, const char *text) {
        log_status(m, address, relay, dsn,
                   status == IPC_STATUS_SENT ? "sent"
                   : status == IPC_STATUS_BOUNCED ? "bounced" : "deferred", text);
        qmgr_message_result(m, i, address, status, dsn, relay, text);
}

/* "5.1.1 text" → dsn and text; else the default dsn. */
static void split_error_text(const char *nexthop, const char *def, char dsn[static 16],
                             const char **text) {
        size_t n = strcspn(nexthop, " ");

        if (n < 16 && n > 0) {
                char tmp[16];

                memcpy(tmp, nexthop, n);
                tmp[n] = '\0';
                if (dsn_status_is_valid(tmp)) {
                        memcpy(dsn, tmp, n + 1);
                        *text = nexthop[n] ? nexthop + n + 1 : "";
                        return;
                }
        }
        snprintf(dsn, 16, "%s", def);
        *text = nexthop;
}

static bool is_deferred_transport(QmgrSettings *s, const char *t) {
        for (char **k = s->defer_transports; k && *k; k++)
                if (streq(*k, t))
                        return true;
        return false;
}

/* Groups a message's pending recipients into batches. */
static int message_plan(Message *m) {
        Qmgr *q = m->q;
        QueueEnvelope *env = m->file->envelope;
        Batch **open = NULL;            /* the batch being filled per (transport, nexthop) */
        char **keys = NULL;
        size_t n_open = 0;
        int r = 0;

        m->batches = 1;                 /* held while planning, so nothing completes early */
        for (size_t i = 0; i < env->n_rcpts; i++) {
                _cleanup_(rewrite_result_done) RewriteResult res = {};
                QueueRcpt *rc = &env->rcpts[i];
                _cleanup_free_ char *key = NULL;
                Transport *t;
                Batch *b = NULL;
                size_t k;

                if (rc->status != QUEUE_RCPT_PENDING)
                        continue;
                r = rewrite_resolve(q->settings->rewrite, rc->address, &res);
                if (r < 0)
                        break;
                if (res.flags & REWRITE_FLAG_FAIL) {
                        settle(m, i, rc->address, IPC_STATUS_DEFERRED, "4.3.0", "none",
                               "address resolver failure");
                        continue;
                }
                if (streq(res.transport, "error") || (res.flags & REWRITE_FLAG_ERROR)) {
                        char dsn[16];
                        const char *text;

                        split_error_text(res.nexthop, "5.0.0", dsn, &text);
                        if (dsn[0] == '4')
                                settle(m, i, rc->address, IPC_STATUS_DEFERRED, dsn, "none",
                                       text);
                        else
                                settle(m, i, rc->address, IPC_STATUS_BOUNCED, dsn, "none",
                                       text);
                        continue;
                }
                if (streq(res.transport, "retry")) {
                        char dsn[16];
                        const char *text;

                        split_error_text(res.nexthop, "4.3.0", dsn, &text);
                        settle(m, i, rc->address, IPC_STATUS_DEFERRED, "4.3.0", "none", text);
                        continue;
                }
                if (streq(res.transport, "discard")) {
                        settle(m, i, rc->address, IPC_STATUS_SENT, "2.0.0", "none",
                               isempty(res.nexthop) ? "discarded" : res.nexthop);
                        continue;
                }
                if (is_deferred_transport(q->settings, res.transport)) {
                        settle(m, i, rc->address, IPC_STATUS_DEFERRED, "4.3.2", "none",
                               "deferred transport");
                        continue;
                }

                if (asprintf(&key, "%s:%s", res.transport, res.nexthop) < 0) {
                        r = -ENOMEM;
                        break;
                }
                t = qmgr_transport_get(q, res.transport);
                if (!t) {
                        r = -ENOMEM;
                        break;
                }
                for (k = 0; k < n_open; k++)
                        if (streq(keys[k], key))
                                break;
                if (k < n_open && open[k]->n < MAX(t->recipient_limit, 1u))
                        b = open[k];
                if (!b) {
                        Batch **no;
                        char **nk;

                        b = calloc(1, sizeof(Batch));
                        no = realloc(open, (n_open + 1) * sizeof(Batch *));
                        if (no)
                                open = no;
                        nk = realloc(keys, (n_open + 1) * sizeof(char *));
                        if (nk)
                                keys = nk;
                        if (!b || !no || !nk) {
                                free(b);
                                r = -ENOMEM;
                                break;
                        }
                        b->msg = m;
                        if (k < n_open) {
                                /* The old batch for this key is full: send it off. */
                                m->batches++;
                                r = qmgr_enqueue_batch(q, res.transport, res.nexthop, open[k]);
                                open[k] = b;
                                if (r < 0)
                                        break;
                        } else {
                                open[n_open] = b;
                                keys[n_open] = TAKE_PTR(key);
                                n_open++;
                        }
                }
                {
                        size_t *ni = realloc(b->index, (b->n + 1) * sizeof(size_t));
                        char **na;

                        if (ni)
                                b->index = ni;
                        na = realloc(b->address, (b->n + 1) * sizeof(char *));
                        if (na)
                                b->address = na;
                        if (!ni || !na) {
                                r = -ENOMEM;
                                break;
                        }
                        b->address[b->n] = strdup(res.recipient);
                        if (!b->address[b->n]) {
                                r = -ENOMEM;
                                break;
                        }
                        b->index[b->n++] = i;
                }
        }
        for (size_t k = 0; k < n_open; k++) {
                const char *colon = strchr(keys[k], ':');
                _cleanup_free_ char *transport = strndup(keys[k], (size_t) (colon - keys[k]));

                if (r >= 0 && transport && open[k]->n > 0) {
                        m->batches++;
                        if (qmgr_enqueue_batch(q, transport, colon + 1, open[k]) < 0) {
                                m->batches--;
                                r = -ENOMEM;
                        }
                } else
                        qmgr_batch_free(open[k]);
                free(keys[k]);
        }
        free(open);
        free(keys);
        if (r < 0)
                log_warning_errno(r, "%s: cannot schedule every recipient, the rest waits for "
                                     "the next queue run: %m", m->id);
        qmgr_message_batch_done(m);     /* drops the planning hold */
        return r;
}

/* Takes id from queue `from` into the active set. Returns 0, or 1 when the active set is full
 * (the file stays where it is). */
static int activate(Qmgr *q, QueueName from, const char *id) {
        _cleanup_close_ int lock_fd = -EBADF;
        Message *m;
        QueueFile *f = NULL;
        int r;

        if (q->n_messages >= q->settings->message_active_limit)
                return 1;
        /* The queue-file lock (queue.h): a tool working on this file keeps it where it is
         * until the next scan. */
        r = queue_file_lock(queue_dirs_fd(q->dirs, from), id, /* wait= */ false, &lock_fd);
        if (r == -EBUSY || r == -ENOENT)
                return 0;
        if (r < 0)
                return log_warning_errno(r, "%s: cannot lock the queue file: %m", id), 0;
        if (from != QUEUE_ACTIVE) {
                r = queue_file_move(q->dirs, id, from, QUEUE_ACTIVE);
                if (r == -ENOENT)
                        return 0;
                if (r < 0)
                        return log_warning_errno(r, "%s: cannot move to active/: %m", id), 0;
        }
        r = queue_file_open(queue_dirs_fd(q->dirs, QUEUE_ACTIVE), id, /* for_update= */ true,
                            NULL, &f);
        if (r == -ENOENT || r == -EINPROGRESS)
                return 0;
        if (IN_SET(r, -EBADMSG, -EMSGSIZE, -E2BIG, -EINVAL)) {
                move_corrupt(q, QUEUE_ACTIVE, id, r);
                return 0;
        }
        if (r < 0)
                return log_warning_errno(r, "%s: cannot open the queue file: %m", id), 0;

        m = calloc(1, sizeof(*m));
        if (!m) {
                queue_file_free(f);
                return log_error_errno(-ENOMEM, "%s: out of memory", id), 0;
        }
        m->q = q;
        m->file = f;
        m->lock_fd = TAKE_FD(lock_fd);
        snprintf(m->id, sizeof(m->id), "%s", id);
        m->arrival_usec = f->envelope->arrival_usec;
        m->next = q->messages;
        if (m->next)
                m->next->prev = m;
        q->messages = m;
        q->n_messages++;

        log_struct(LOG_INFO, "TERN_QUEUE_ID=%s", id, "TERN_SENDER=%s", f->envelope->sender,
                   "TERN_SIZE=%" PRIu64, f->envelope->content_size,
                   LOG_MESSAGE("%s: from=<%s>, size=%" PRIu64 ", nrcpt=%zu (queue active)", id,
                               f->envelope->sender, f->envelope->content_size,
                               f->envelope->n_rcpts));
        (void) message_plan(m);
        return 0;
}

typedef struct ScanContext {
        Qmgr *q;
        QueueName queue;
        uint64_t due;                   /* deferred: activate files with mtime <= due */
        const char *domain;
        unsigned n;
} ScanContext;

static bool has_domain(Qmgr *q, const char *id, const char *domain) {
        _cleanup_(queue_file_freep) QueueFile *f = NULL;

        if (queue_file_open(queue_dirs_fd(q->dirs, QUEUE_DEFERRED), id, false, NULL, &f) < 0)
                return true;            /* let activation decide */
        for (size_t i = 0; i < f->envelope->n_rcpts; i++) {
                const char *at = strrchr(f->envelope->rcpts[i].address, '@');

                if (f->envelope->rcpts[i].status == QUEUE_RCPT_PENDING && at &&
                    strcasecmp(at + 1, domain) == 0)
                        return true;
        }
        return false;
}

static int on_scan_file(const char *id, bool complete, const struct stat *st, void *userdata) {
        ScanContext *c = userdata;
        int r;

        if (!complete) {
                /* An abandoned, incomplete file (its writer crashed before the 250). */
                if (c->queue == QUEUE_INCOMING) {
                        (void) queue_file_remove(c->q->dirs, id, QUEUE_INCOMING);
                        log_notice("%s: removed an incomplete queue file older than a day", id);
                }
                return 0;
        }
        if (c->queue == QUEUE_DEFERRED) {
                uint64_t mtime = (uint64_t) st->st_mtim.tv_sec * 1000000 +
                                 (uint64_t) st->st_mtim.tv_nsec / 1000;

                if (mtime > c->due)
                        return 0;
                if (c->domain && !has_domain(c->q, id, c->domain))
                        return 0;
        }
        r = activate(c->q, c->queue, id);
        if (r > 0) {
                c->q->scan_incoming = true;
                return 1;               /* active set full */
        }
        c->n++;
        return 0;
}

static int scan(Qmgr *q, QueueName queue, uint64_t due, const char *domain) {
        ScanContext c = { .q = q, .queue = queue, .due = due, .domain = domain };
        uint64_t stale = queue == QUEUE_INCOMING ? now_usec() - QMGR_STALE_INCOMPLETE_USEC : 0;
        int r;

        r = queue_scan(queue_dirs_fd(q->dirs, queue), stale, on_scan_file, &c);
        if (r < 0)
                log_warning_errno(r, "cannot scan %s/: %m", queue_name_to_string(queue));
        qmgr_schedule(q);
        qmgr_update_status(q);
        return r < 0 ? r : (int) c.n;
}

int qmgr_scan_incoming(Qmgr *q) {
        q->scan_incoming = false;
        return scan(q, QUEUE_INCOMING, 0, NULL);
}

static int on_rescan(sd_event_source *src, void *userdata) {
        Qmgr *q = userdata;

        (void) src;
        (void) qmgr_scan_incoming(q);
        return 0;
}

void qmgr_request_scan(Qmgr *q) {
        /* From the loop, not from here: completions may run inside a scan. */
        if (!q->rescan && sd_event_add_defer(q->event, &q->rescan, on_rescan, q) < 0)
                return;
        (void) sd_event_source_set_enabled(q->rescan, SD_EVENT_ONESHOT);
}

int qmgr_scan_deferred(Qmgr *q, bool all, const char *domain) {
        return scan(q, QUEUE_DEFERRED, all ? UINT64_MAX : now_usec(), domain);
}

/* Mail in active/ when qmgr starts was in flight when it stopped: deliver it again
 * (at-least-once, DESIGN.md). */
int qmgr_recover(Qmgr *q) {
        int r = scan(q, QUEUE_ACTIVE, 0, NULL);

        if (r > 0)
                log_info("recovered %d message(s) from active/", r);
        return r;
}

static unsigned count_files(int dir_fd) {
        _cleanup_(strv_freep) char **l = NULL;
        int n = queue_scan_sorted(dir_fd, 0, &l);

        return n > 0 ? (unsigned) n : 0;
}

void qmgr_update_status(Qmgr *q) {
        uint64_t now = now_usec();

        /* Counting files costs a directory scan: at most once a second. */
        if (now - q->status_usec < 1000000)
                return;
        q->status_usec = now;
        (void) sd_notifyf(false, "STATUS=active %u, deferred %u, hold %u; delivered %" PRIu64
                                 ", deferred %" PRIu64 ", bounced %" PRIu64,
                          q->n_messages, count_files(queue_dirs_fd(q->dirs, QUEUE_DEFERRED)),
                          count_files(queue_dirs_fd(q->dirs, QUEUE_HOLD)), q->n_delivered,
                          q->n_deferred, q->n_bounced);
}
