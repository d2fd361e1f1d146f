/* SPDX-License-Identifier: GPL-3.0-or-later */
/* smtp_deliver: one qmgr request of the smtp or lmtp agent. The nexthop's servers are tried in
 * order (smtp_conn.c), then smtp_fallback_relay's; on each, the conversation of RFC 5321 §3:
 * greeting, EHLO (HELO when refused; LHLO for LMTP, RFC 2033 §4.1), the STARTTLS hook, MAIL and
 * RCPT in one write when the server offers PIPELINING (RFC 2920 §3.1), DATA with the queue
 * file's content sent as CRLF lines with dot-stuffing (RFC 5321 §4.5.2; mime.h: long lines
 * folded, 8-bit MIME made 7-bit for a server without 8BITMIME), and the end-of-data
 * reply (LMTP: one per accepted recipient, RFC 2033 §4.2). SIZE (RFC 1870), BODY=8BITMIME
 * (RFC 6152), SMTPUTF8 (RFC 6531) and the DSN parameters (RFC 3461: RET, ENVID, NOTIFY, ORCPT)
 * are passed when the server offers them. A 2xx or 5xx answer for a recipient is final; a 4xx,
 * a connection that fails or is lost leaves it for the next server and, when none is left,
 * defers it, with Postfix's diagnostic texts ("host X said: ... (in reply to RCPT TO command)",
 * "connect to X: Connection refused", "lost connection with X while ..."). After a delivery
 * the connection is kept for the next request to the same nexthop (RSET first, RFC 5321
 * §4.1.1.5) and closed after smtp_connection_cache_time_limit idle. Server replies and the
 * request's strings are untrusted: addresses are checked before they go into a command,
 * replies are parsed by smtp_reply.c and sanitised before they are logged. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "log.h"
#include "mime.h"
#include "queue.h"
#include "service.h"
#include "smtp.h"
#include "smtp_cmd.h"

/* A command line we compose: well inside RFC 5321's 512 plus the extension parameters. */
#define SMTP_CMD_MAX 4096
/* Content read from the queue file at a time. */
#define SMTP_CHUNK (64u * 1024)

/* snprintf() that cuts silently: texts from servers are cut to the room there is. */
static void xsnprintf(char *buf, size_t size, const char *fmt, ...) _printf_(3, 4);
static void xsnprintf(char *buf, size_t size, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        (void) vsnprintf(buf, size, fmt, ap);
        va_end(ap);
}

static uint64_t mono_usec(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000ULL + (uint64_t) ts.tv_nsec / 1000;
}

static uint64_t real_usec(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t) ts.tv_sec * 1000000ULL + (uint64_t) ts.tv_nsec / 1000;
}

/* A recipient's state during the request. */
typedef struct Rcpt {
        const IpcRcpt *rcpt;
        bool final;                     /* sent or bounced: no server is asked again */
        bool sent;                      /* RCPT sent in the transaction under way */
        bool accepted;                  /* ... and accepted */
        bool has_result;
        IpcStatus status;
        char dsn[IPC_DSN_MAX + 1];
        char relay[IPC_RELAY_MAX + 1];
        char text[IPC_TEXT_MAX + 1];
        char *path;                     /* owned: "<user@domain>" for RCPT TO */
} Rcpt;

typedef struct Delivery {
        SmtpAgent *agent;
        const SmtpSettings *s;
        const IpcRequest *req;
        QueueFile *f;
        Rcpt *rcpts;
        size_t n;
        char *sender_path;              /* owned: "<...>" */
        uint64_t start_usec;
} Delivery;

static void rcpt_set(Rcpt *r, IpcStatus status, const char *dsn, const char *relay,
                     const char *fmt, ...) _printf_(5, 6);
static void rcpt_set(Rcpt *r, IpcStatus status, const char *dsn, const char *relay,
                     const char *fmt, ...) {
        va_list ap;

        r->status = status;
        r->has_result = true;
        r->final = !IN_SET(status, IPC_STATUS_DEFERRED);
        xsnprintf(r->dsn, sizeof(r->dsn), "%s", dsn);
        xsnprintf(r->relay, sizeof(r->relay), "%s", relay);
        va_start(ap, fmt);
        (void) vsnprintf(r->text, sizeof(r->text), fmt, ap);
        va_end(ap);
}

static size_t pending(const Delivery *d) {
        size_t k = 0;

        for (size_t i = 0; i < d->n; i++)
                k += !d->rcpts[i].final;
        return k;
}

/* Sets every recipient that is not final (and, with only_accepted, accepted in the current
 * transaction) to the same outcome. A 4xx stays open for the next server. */
static void set_open(Delivery *d, bool only_accepted, IpcStatus status, const char *dsn,
                     const char *relay, const char *text) {
        for (size_t i = 0; i < d->n; i++) {
                Rcpt *r = &d->rcpts[i];

                if (r->final || (only_accepted && !r->accepted))
                        continue;
                if (d->req->flags & IPC_FLAG_VERIFY)
                        status = status == IPC_STATUS_BOUNCED ? IPC_STATUS_UNDELIVERABLE :
                                 status == IPC_STATUS_SENT ? IPC_STATUS_DELIVERABLE : status;
                rcpt_set(r, status, dsn, relay, "%s", text);
        }
}

static IpcStatus status_of_code(unsigned code) {
        return code / 100 == 2 ? IPC_STATUS_SENT : code / 100 == 5 ? IPC_STATUS_BOUNCED :
               IPC_STATUS_DEFERRED;
}

/* The dsn for a reply whose class decides the status: the server's enhanced code, or C.0.0;
 * 3xx where 2xx was wanted (a confused server) counts as 4xx. */
static void reply_dsn(const SmtpReply *rep, char dsn[static IPC_DSN_MAX + 1]) {
        char d[SMTP_REPLY_DSN_MAX + 1];

        smtp_reply_dsn(rep, d);
        if (d[0] == '3' || d[0] == '1')
                xsnprintf(dsn, IPC_DSN_MAX + 1, "4.0.0");
        else
                xsnprintf(dsn, IPC_DSN_MAX + 1, "%s", d);
        if (!ipc_dsn_is_valid(dsn))
                xsnprintf(dsn, IPC_DSN_MAX + 1, "%c.0.0", dsn[0] == '5' ? '5' :
                         dsn[0] == '2' ? '2' : '4');
}

/* "host X said: 550 5.1.1 ... (in reply to RCPT TO command)", X without the port, as Postfix
 * writes it ("mx.example.com[192.0.2.1]"; the relay= field keeps ":25"). */
static void said_text(const SmtpConn *c, const SmtpReply *rep, const char *cmd, char *buf,
                      size_t size) {
        const char *bracket = strrchr(c->relay, ']');
        int n = bracket ? (int) (bracket - c->relay + 1) : (int) strlen(c->relay);
        char r[IPC_TEXT_MAX];

        smtp_reply_format(rep, r, sizeof(r));
        xsnprintf(buf, size, "host %.*s said: %s (in reply to %s command)", n, c->relay, r,
                  cmd);
}

/* The outcome of a reply for the open recipients (or the accepted ones). */
static void set_from_reply(Delivery *d, bool only_accepted, const SmtpConn *c,
                           const SmtpReply *rep, const char *cmd) {
        char text[IPC_TEXT_MAX + 1], dsn[IPC_DSN_MAX + 1];
        unsigned code = rep->code / 100 == 3 ? 450 : rep->code;

        said_text(c, rep, cmd, text, sizeof(text));
        reply_dsn(rep, dsn);
        if (code / 100 == 2)
                code = 450;             /* a failure path: a 2xx here is out of step */
        if (dsn[0] != (char) ('0' + code / 100))
                xsnprintf(dsn, sizeof(dsn), "%u.0.0", code / 100);
        set_open(d, only_accepted, status_of_code(code), dsn, c->relay, text);
}

/* I/O failures: Postfix's texts, dsn 4.4.2 (a lost or timed out conversation). */
static void set_io_failure(Delivery *d, const SmtpConn *c, int r, const char *stage) {
        char text[IPC_TEXT_MAX + 1];

        if (r == -ETIMEDOUT)
                xsnprintf(text, sizeof(text), "conversation with %s timed out while %s",
                         c->relay, stage);
        else if (IN_SET(r, -ECONNRESET, -EPIPE))
                xsnprintf(text, sizeof(text), "lost connection with %s while %s", c->relay,
                         stage);
        else if (IN_SET(r, -EBADMSG, -EMSGSIZE, -E2BIG))
                xsnprintf(text, sizeof(text), "malformed reply from %s while %s", c->relay,
                         stage);
        else
                xsnprintf(text, sizeof(text), "error talking to %s while %s: %s", c->relay,
                         stage, strerror(-r));
        set_open(d, false, IPC_STATUS_DEFERRED, "4.4.2", c->relay, text);
}

static int send_cmd(SmtpConn *c, const char *fmt, ...) _printf_(2, 3);
static int send_cmd(SmtpConn *c, const char *fmt, ...) {
        char line[SMTP_CMD_MAX];
        va_list ap;
        int k, r;

        va_start(ap, fmt);
        k = vsnprintf(line, sizeof(line) - 2, fmt, ap);
        va_end(ap);
        if (k < 0 || (size_t) k >= sizeof(line) - 2)
                return -EMSGSIZE;
        memcpy(line + k, "\r\n", 2);
        r = smtp_conn_write(c, line, (size_t) k + 2);
        if (r == -ENOBUFS) {
                /* Many pipelined recipients: let the server have what is queued. */
                r = smtp_conn_flush(c, 0);
                if (r >= 0)
                        r = smtp_conn_write(c, line, (size_t) k + 2);
        }
        return r;
}

static int command(SmtpConn *c, uint64_t timeout, SmtpReply **ret, const char *fmt, ...)
        _printf_(4, 5);
static int command(SmtpConn *c, uint64_t timeout, SmtpReply **ret, const char *fmt, ...) {
        char line[SMTP_CMD_MAX];
        va_list ap;
        int k, r;

        va_start(ap, fmt);
        k = vsnprintf(line, sizeof(line), fmt, ap);
        va_end(ap);
        if (k < 0 || (size_t) k >= sizeof(line))
                return -EMSGSIZE;
        r = send_cmd(c, "%s", line);
        if (r >= 0)
                r = smtp_conn_flush(c, timeout);
        if (r >= 0)
                r = smtp_conn_read_reply(c, timeout, ret);
        return r;
}

/* STARTTLS hook (RFC 3207): the TLS issue negotiates here when the server offers STARTTLS and
 * the policy asks for it, swaps the stream's transport (smtp_stream_set_transport()) and sends
 * EHLO again. Without TLS support the session goes on in plain text. Returns 0, or -errno that
 * ends the session. */
static int session_starttls(Delivery *d, SmtpConn *c) {
        (void) d;
        (void) c;
        return 0;
}

/* Greeting and EHLO/HELO/LHLO on a new connection. Returns 1 when the session is ready, 0 when
 * the open recipients got a result from this server (try the next one if they are not final),
 * -ENOMEM. */
static int session_open(Delivery *d, SmtpConn *c) {
        const SmtpSettings *s = d->s;
        _cleanup_(smtp_reply_freep) SmtpReply *rep = NULL;
        char text[IPC_TEXT_MAX + 1], r_text[IPC_TEXT_MAX], dsn[IPC_DSN_MAX + 1];
        int r;

        r = smtp_conn_read_reply(c, s->helo_timeout_usec, &rep);
        if (r < 0) {
                set_io_failure(d, c, r, "receiving the initial server greeting");
                return r == -ENOMEM ? r : 0;
        }
        if (rep->code / 100 != 2) {
                smtp_reply_format(rep, r_text, sizeof(r_text));
                xsnprintf(text, sizeof(text), "host %s refused to talk to me: %s", c->relay,
                         r_text);
                reply_dsn(rep, dsn);
                if (rep->code / 100 == 5 && s->skip_5xx_greeting) {
                        /* Move on to the next server; the outcome stays temporary. */
                        dsn[0] = '4';
                        set_open(d, false, IPC_STATUS_DEFERRED, dsn, c->relay, text);
                } else
                        set_open(d, false, status_of_code(rep->code / 100 == 5 ? 500 : 400),
                                 dsn, c->relay, text);
                c->broken = true;
                return 0;
        }
        rep = smtp_reply_free(rep);

        r = command(c, s->helo_timeout_usec, &rep, "%s %s", s->lmtp ? "LHLO" : "EHLO",
                    s->helo_name);
        if (r < 0) {
                set_io_failure(d, c, r, s->lmtp ? "performing the LHLO handshake" :
                               "performing the EHLO handshake");
                return r == -ENOMEM ? r : 0;
        }
        if (rep->code / 100 == 2)
                (void) smtp_ehlo_parse(rep, &c->caps);
        else if (!s->lmtp) {
                /* RFC 5321 §3.2: a server that does not know EHLO gets HELO. */
                rep = smtp_reply_free(rep);
                r = command(c, s->helo_timeout_usec, &rep, "HELO %s", s->helo_name);
                if (r < 0) {
                        set_io_failure(d, c, r, "performing the HELO handshake");
                        return r == -ENOMEM ? r : 0;
                }
                c->caps = (SmtpCaps) {};
                if (rep->code / 100 != 2) {
                        set_from_reply(d, false, c, rep, "HELO");
                        c->broken = true;
                        return 0;
                }
        } else {
                set_from_reply(d, false, c, rep, "LHLO");
                c->broken = true;
                return 0;
        }

        r = session_starttls(d, c);
        if (r < 0) {
                set_io_failure(d, c, r, "starting TLS");
                return r == -ENOMEM ? r : 0;
        }
        return 1;
}

/* RSET on a cached connection before its next transaction (RFC 5321 §4.1.1.5); a failure only
 * means the connection is no longer usable. Returns 0 or -errno. */
static int session_reset(const SmtpSettings *s, SmtpConn *c) {
        _cleanup_(smtp_reply_freep) SmtpReply *rep = NULL;
        int r;

        r = command(c, s->rset_timeout_usec, &rep, "RSET");
        if (r < 0)
                return r;
        if (rep->code / 100 != 2) {
                c->broken = true;
                return -EPROTO;
        }
        return 0;
}

/* QUIT without waiting for the answer (Postfix's smtp_skip_quit_response), then close. */
static SmtpConn *session_close(const SmtpSettings *s, SmtpConn *c) {
        if (!c)
                return NULL;
        if (!c->broken && send_cmd(c, "QUIT") >= 0)
                (void) smtp_conn_flush(c, MIN(s->quit_timeout_usec, 5ULL * 1000000ULL));
        return smtp_conn_free(c);
}

/* Appends "=xtext" of s to b. */
static int xtext_param(Buf *b, const char *name, const char *v) {
        int r;

        r = buf_printf(b, " %s=", name);
        if (r >= 0)
                r = smtp_cmd_xtext_encode(v, strlen(v), b);
        return r;
}

static int mail_params(Delivery *d, const SmtpConn *c, Buf *b) {
        const IpcRequest *req = d->req;
        int r = 0;

        if (c->caps.caps & SMTP_CAP_SIZE)
                r = buf_printf(b, " SIZE=%llu", (unsigned long long) req->content_size);
        if (r >= 0 && (req->flags & IPC_FLAG_8BITMIME) && (c->caps.caps & SMTP_CAP_8BITMIME))
                r = buf_append_str(b, " BODY=8BITMIME");
        if (r >= 0 && (req->flags & IPC_FLAG_SMTPUTF8))
                r = buf_append_str(b, " SMTPUTF8");
        if (r >= 0 && (req->flags & IPC_FLAG_DSN) && (c->caps.caps & SMTP_CAP_DSN)) {
                if (req->ret != QUEUE_RET_NONE)
                        r = buf_printf(b, " RET=%s", req->ret == QUEUE_RET_FULL ? "FULL" :
                                       "HDRS");
                if (r >= 0 && req->envid)
                        r = xtext_param(b, "ENVID", req->envid);
        }
        return r;
}

static int rcpt_params(Delivery *d, const SmtpConn *c, const IpcRcpt *rc, Buf *b) {
        int r = 0;

        if (!(d->req->flags & IPC_FLAG_DSN) || !(c->caps.caps & SMTP_CAP_DSN))
                return 0;
        if (rc->notify & QUEUE_NOTIFY_NEVER)
                r = buf_append_str(b, " NOTIFY=NEVER");
        else if (rc->notify) {
                const char *sep = "";

                r = buf_append_str(b, " NOTIFY=");
                if (r >= 0 && (rc->notify & QUEUE_NOTIFY_SUCCESS)) {
                        r = buf_append_str(b, "SUCCESS");
                        sep = ",";
                }
                if (r >= 0 && (rc->notify & QUEUE_NOTIFY_FAILURE)) {
                        r = buf_printf(b, "%sFAILURE", sep);
                        sep = ",";
                }
                if (r >= 0 && (rc->notify & QUEUE_NOTIFY_DELAY))
                        r = buf_printf(b, "%sDELAY", sep);
        }
        if (r >= 0 && rc->orcpt) {
                const char *semi = strchr(rc->orcpt, ';');

                /* RFC 3461 §4.2: ORCPT=addr-type;xtext. */
                if (semi && semi > rc->orcpt) {
                        r = buf_printf(b, " ORCPT=%.*s;", (int) (semi - rc->orcpt), rc->orcpt);
                        if (r >= 0)
                                r = smtp_cmd_xtext_encode(semi + 1, strlen(semi + 1), b);
                }
        }
        return r;
}

/* Sends the content through the DATA encoder (mime.h), the one path for every message: LF lines
 * become CRLF lines, a leading "." is doubled (RFC 5321 §4.5.2), lines longer than
 * smtp_line_length_limit are folded, a last line without LF gets its CRLF, then "." CRLF.
 * When the server did not announce 8BITMIME and disable_mime_output_conversion = no, the
 * content goes through the 8BITMIME to 7BIT downgrade first, as Postfix's SMTP client does for
 * any mail not known to be 7-bit (RFC 6152 §3). Returns 0, -E2BIG when the MIME nesting is too
 * deep to convert (the DATA is then incomplete), -errno (I/O or queue). */
static int send_content(Delivery *d, SmtpConn *c) {
        const SmtpSettings *s = d->s;
        const MimeEncoderOptions opts = {
                .downgrade = !s->disable_mime_output_conversion &&
                             !(c->caps.caps & SMTP_CAP_8BITMIME),
                .line_length_limit = (size_t) MIN(s->line_length_limit, (uint64_t) SIZE_MAX),
        };
        _cleanup_(mime_encoder_freep) MimeEncoder *enc = NULL;
        _cleanup_free_ char *in = malloc(SMTP_CHUNK);
        _cleanup_(buf_done) Buf out = BUF_INIT(MIME_OUT_MAX(SMTP_CHUNK));
        uint64_t pos = 0;
        bool eof = false;
        int r;

        if (!in)
                return -ENOMEM;
        r = mime_encoder_new(&opts, &enc);
        if (r < 0)
                return r;
        while (!eof) {
                ssize_t k = queue_file_read_content(d->f, pos, in, SMTP_CHUNK);

                if (k < 0)
                        return (int) k;
                buf_clear(&out);
                if (k == 0) {
                        eof = true;
                        r = mime_encoder_finish(enc, &out);
                } else {
                        pos += (uint64_t) k;
                        r = mime_encoder_feed(enc, in, (size_t) k, &out);
                }
                if (r < 0)
                        return r;
                /* In slices the stream's buffer can take (the encoder may triple a chunk). */
                while (buf_pending(&out) > 0) {
                        size_t m = MIN(buf_pending(&out), (size_t) SMTP_CHUNK);

                        r = smtp_conn_write(c, buf_peek(&out), m);
                        if (r == -ENOBUFS) {
                                r = smtp_conn_flush(c, s->data_xfer_timeout_usec);
                                if (r >= 0)
                                        r = smtp_conn_write(c, buf_peek(&out), m);
                        }
                        if (r < 0)
                                return r;
                        buf_consume(&out, m);
                }
                r = smtp_conn_flush(c, s->data_xfer_timeout_usec);
                if (r < 0)
                        return r;
        }
        if (mime_encoder_flags(enc) & MIME_DOWNGRADE_CONVERTED)
                log_debug("%s: converted 8BITMIME content to 7BIT for %s", d->req->id, c->relay);
        return 0;
}

/* One mail transaction on an open session for the open recipients. Returns 0 (results set;
 * c->broken says whether the session can go on), -ENOMEM. */
static int transaction(Delivery *d, SmtpConn *c) {
        const SmtpSettings *s = d->s;
        const IpcRequest *req = d->req;
        _cleanup_(smtp_reply_freep) SmtpReply *rep = NULL;
        _cleanup_(buf_done) Buf params = BUF_INIT(SMTP_CMD_MAX);
        bool pipelining = c->caps.caps & SMTP_CAP_PIPELINING, mail_ok;
        size_t n_accepted = 0;
        char text[IPC_TEXT_MAX + 1];
        int r;

        for (size_t i = 0; i < d->n; i++)
                d->rcpts[i].accepted = d->rcpts[i].sent = false;

        /* What the server said it will not take is not sent (RFC 1870 §6). */
        if (c->caps.size_max > 0 && req->content_size > c->caps.size_max) {
                xsnprintf(text, sizeof(text), "message size %llu exceeds size limit %llu of "
                         "server %s", (unsigned long long) req->content_size,
                         (unsigned long long) c->caps.size_max, c->relay);
                set_open(d, false, IPC_STATUS_BOUNCED, "5.3.4", c->relay, text);
                return 0;
        }
        if ((req->flags & IPC_FLAG_SMTPUTF8) && !(c->caps.caps & SMTP_CAP_SMTPUTF8)) {
                xsnprintf(text, sizeof(text), "SMTPUTF8 is required, but was not offered by "
                         "host %s", c->relay);
                set_open(d, false, IPC_STATUS_BOUNCED, "5.6.7", c->relay, text);
                return 0;
        }

        r = mail_params(d, c, &params);
        if (r < 0)
                return r == -ENOMEM ? r : -EMSGSIZE;
        r = send_cmd(c, "MAIL FROM:%s%s", d->sender_path, strempty(buf_peek(&params)));
        if (r >= 0 && !pipelining)
                r = smtp_conn_flush(c, s->mail_timeout_usec);
        if (r >= 0 && !pipelining)
                r = smtp_conn_read_reply(c, s->mail_timeout_usec, &rep);
        if (r < 0)
                goto io_fail_mail;
        if (!pipelining && rep->code / 100 != 2) {
                set_from_reply(d, false, c, rep, "MAIL FROM");
                (void) session_reset(s, c);
                return 0;
        }

        for (size_t i = 0; i < d->n; i++) {
                Rcpt *rc = &d->rcpts[i];

                if (rc->final)
                        continue;
                buf_clear(&params);
                r = rcpt_params(d, c, rc->rcpt, &params);
                if (r < 0)
                        return r == -ENOMEM ? r : -EMSGSIZE;
                r = send_cmd(c, "RCPT TO:%s%s", rc->path, strempty(buf_peek(&params)));
                if (r < 0)
                        goto io_fail_rcpt;
                rc->sent = true;
                if (!pipelining) {
                        r = smtp_conn_flush(c, s->rcpt_timeout_usec);
                        if (r >= 0)
                                r = smtp_conn_read_reply(c, s->rcpt_timeout_usec, &rep);
                        if (r < 0)
                                goto io_fail_rcpt;
                        if (rep->code / 100 == 2) {
                                rc->accepted = true;
                                n_accepted++;
                        } else {
                                char dsn[IPC_DSN_MAX + 1];

                                said_text(c, rep, "RCPT TO", text, sizeof(text));
                                reply_dsn(rep, dsn);
                                rcpt_set(rc, status_of_code(rep->code / 100 == 5 ? 500 : 400),
                                         dsn, c->relay, "%s", text);
                        }
                        rep = smtp_reply_free(rep);
                }
        }

        if (pipelining) {
                /* RFC 2920 §3.1: MAIL and the RCPTs went in one write; replies in order. */
                r = smtp_conn_flush(c, s->mail_timeout_usec);
                if (r >= 0)
                        r = smtp_conn_read_reply(c, s->mail_timeout_usec, &rep);
                if (r < 0)
                        goto io_fail_mail;
                mail_ok = rep->code / 100 == 2;
                if (!mail_ok)
                        set_from_reply(d, false, c, rep, "MAIL FROM");
                rep = smtp_reply_free(rep);
                for (size_t i = 0; i < d->n; i++) {
                        Rcpt *rc = &d->rcpts[i];

                        if (!rc->sent)
                                continue;
                        r = smtp_conn_read_reply(c, s->rcpt_timeout_usec, &rep);
                        if (r < 0)
                                goto io_fail_rcpt;
                        /* After a refused MAIL the RCPT replies are read only to stay in
                         * step. */
                        if (mail_ok && rep->code / 100 == 2) {
                                rc->accepted = true;
                                n_accepted++;
                        } else if (mail_ok) {
                                char dsn[IPC_DSN_MAX + 1];

                                said_text(c, rep, "RCPT TO", text, sizeof(text));
                                reply_dsn(rep, dsn);
                                rcpt_set(rc, status_of_code(rep->code / 100 == 5 ? 500 : 400),
                                         dsn, c->relay, "%s", text);
                        }
                        rep = smtp_reply_free(rep);
                }
                if (!mail_ok) {
                        (void) session_reset(s, c);
                        return 0;
                }
        }

        if (n_accepted == 0 || (req->flags & IPC_FLAG_VERIFY)) {
                /* Verify: what RCPT said is the answer; nothing is delivered. */
                for (size_t i = 0; i < d->n; i++)
                        if (d->rcpts[i].accepted)
                                rcpt_set(&d->rcpts[i], IPC_STATUS_DELIVERABLE, "2.0.0",
                                         c->relay, "host %s accepted the recipient",
                                         c->relay);
                (void) session_reset(s, c);
                return 0;
        }

        r = command(c, s->data_init_timeout_usec, &rep, "DATA");
        if (r < 0) {
                set_io_failure(d, c, r, "sending DATA command");
                return r == -ENOMEM ? r : 0;
        }
        if (rep->code != 354) {
                set_from_reply(d, true, c, rep, "DATA");
                (void) session_reset(s, c);
                return 0;
        }
        rep = smtp_reply_free(rep);

        r = send_content(d, c);
        if (r == -E2BIG) {
                /* Postfix: a MIME error while downgrading bounces the mail; the only way to
                 * cancel the transaction under way is to drop the connection. */
                c->broken = true;
                set_open(d, true, IPC_STATUS_BOUNCED, "5.6.0", c->relay,
                         "MIME nesting exceeds safety limit");
                return 0;
        }
        if (r < 0) {
                c->broken = true;
                set_io_failure(d, c, r, "sending message body");
                return r == -ENOMEM ? r : 0;
        }

        /* SMTP: one reply for the message; LMTP: one per accepted recipient, in RCPT order
         * (RFC 2033 §4.2). */
        for (size_t i = 0; i < d->n; i++) {
                Rcpt *rc = &d->rcpts[i];
                char dsn[IPC_DSN_MAX + 1];

                if (!rc->accepted || rc->final)
                        continue;
                r = smtp_conn_read_reply(c, s->data_done_timeout_usec, &rep);
                if (r < 0) {
                        set_io_failure(d, c, r, "sending end of data -- message may be sent "
                                       "more than once");
                        return r == -ENOMEM ? r : 0;
                }
                reply_dsn(rep, dsn);
                if (rep->code / 100 == 2) {
                        char rt[IPC_TEXT_MAX];

                        smtp_reply_format(rep, rt, sizeof(rt));
                        if (s->lmtp)
                                rcpt_set(rc, IPC_STATUS_SENT, dsn, c->relay, "%s", rt);
                        else
                                for (size_t j = i; j < d->n; j++)
                                        if (d->rcpts[j].accepted && !d->rcpts[j].final)
                                                rcpt_set(&d->rcpts[j], IPC_STATUS_SENT, dsn,
                                                         c->relay, "%s", rt);
                } else {
                        said_text(c, rep, "end of DATA", text, sizeof(text));
                        if (dsn[0] == '3')
                                dsn[0] = '4';
                        if (s->lmtp)
                                rcpt_set(rc, status_of_code(rep->code / 100 == 5 ? 500 : 400),
                                         dsn, c->relay, "%s", text);
                        else
                                set_open(d, true, status_of_code(rep->code / 100 == 5 ? 500 :
                                                                 400), dsn, c->relay, text);
                }
                rep = smtp_reply_free(rep);
                if (!s->lmtp)
                        break;
        }
        c->n_used++;
        return 0;

io_fail_mail:
        set_io_failure(d, c, r, "sending MAIL FROM");
        return r == -ENOMEM ? r : 0;
io_fail_rcpt:
        set_io_failure(d, c, r, "sending RCPT TO");
        return r == -ENOMEM ? r : 0;
}

/* The cached connection's idle timer (see smtp_cache_timer_arm()). */
static volatile sig_atomic_t cache_fd = -1;
static volatile sig_atomic_t cache_expired = 0;

/* Whether a connection to key may be kept after the delivery. */
static bool cacheable(const SmtpSettings *s, const SmtpConn *c, const char *key) {
        if (c->broken)
                return false;
        if (s->reuse_count_limit > 0 && c->n_used >= s->reuse_count_limit)
                return false;
        if (s->reuse_time_limit_usec > 0 &&
            mono_usec() - c->connected_usec >= s->reuse_time_limit_usec)
                return false;
        if (s->cache_on_demand)
                return true;
        for (char **p = s->cache_destinations; p && *p; p++)
                if (streq(*p, key))
                        return true;
        return false;
}

static void cache_put(Delivery *d, SmtpConn *c, const char *key) {
        SmtpAgent *a = d->agent;

        a->cached = session_close(d->s, a->cached);
        if (!cacheable(d->s, c, key)) {
                (void) session_close(d->s, c);
                return;
        }
        xsnprintf(c->key, sizeof(c->key), "%s", key);
        a->cached = c;
        a->cached_since_usec = mono_usec();
}

/* Delivers the open recipients to one destination (the nexthop or a fallback relay). */
static int deliver_to(Delivery *d, const char *dest, bool is_fallback) {
        const SmtpSettings *s = d->s;
        SmtpAgent *a = d->agent;
        _cleanup_(smtp_host_list_done) SmtpHostList hosts = {};
        SmtpFailure fail = {};
        uint64_t sessions = 0;
        int r;

        /* The cached connection first, when it serves this destination. */
        if (a->cached && streq(a->cached->key, dest)) {
                SmtpConn *c = TAKE_PTR(a->cached);

                if (session_reset(s, c) >= 0) {
                        r = transaction(d, c);
                        if (r < 0) {
                                smtp_conn_free(c);
                                return r;
                        }
                        if (pending(d) == 0 || !c->broken) {
                                cache_put(d, c, dest);
                                if (pending(d) == 0)
                                        return 0;
                        } else
                                smtp_conn_free(c);
                } else
                        smtp_conn_free(c);
        }

        r = smtp_hosts_resolve(s, &a->dns, dest, &hosts, &fail);
        if (r < 0)
                return r;
        if (r == 0) {
                IpcStatus st = fail.dsn[0] == '5' ? IPC_STATUS_BOUNCED : IPC_STATUS_DEFERRED;

                /* A fallback relay that cannot be found does not make the mail bounce. */
                if (is_fallback)
                        st = IPC_STATUS_DEFERRED, fail.dsn[0] = '4';
                set_open(d, false, st, fail.dsn, "none", fail.text);
                return 0;
        }

        for (size_t i = 0; i < hosts.n && pending(d) > 0; i++) {
                _cleanup_(smtp_conn_freep) SmtpConn *c = NULL;

                if (s->mx_session_limit > 0 && sessions >= s->mx_session_limit)
                        break;
                r = smtp_conn_open(s, &hosts.items[i], &c);
                if (r == -ENOMEM)
                        return r;
                if (r < 0) {
                        char text[IPC_TEXT_MAX + 1];

                        xsnprintf(text, sizeof(text), "connect to %s: %s", hosts.items[i].relay,
                                 r == -ETIMEDOUT ? "Connection timed out" : strerror(-r));
                        log_info("%s", text);   /* Postfix's line for each host it gives up on */
                        set_open(d, false, IPC_STATUS_DEFERRED, "4.4.1", "none", text);
                        continue;
                }
                sessions++;
                r = session_open(d, c);
                if (r < 0)
                        return r;
                if (r == 0) {
                        c = session_close(s, TAKE_PTR(c));
                        continue;
                }
                r = transaction(d, c);
                if (r < 0)
                        return r;
                if (pending(d) == 0 || !c->broken) {
                        cache_put(d, TAKE_PTR(c), dest);
                        continue;
                }
                c = session_close(s, TAKE_PTR(c));
        }
        return 0;
}

static bool address_ok(const char *a) {
        for (const char *p = a; *p; p++)
                if ((unsigned char) *p < 0x20 || *p == 0x7f)
                        return false;
        return true;
}

/* "<local@domain>" with the local part quoted when needed; "<>" for "". Returns 0, -EINVAL,
 * -ENOMEM. */
static int path_format(const char *addr, char **ret) {
        _cleanup_free_ char *local = NULL, *quoted = NULL;
        const char *at;

        if (!address_ok(addr) || strlen(addr) > 1000)
                return -EINVAL;
        if (isempty(addr))
                return asprintf(ret, "<>") < 0 ? -ENOMEM : 0;
        at = strrchr(addr, '@');
        local = at ? strndup(addr, (size_t) (at - addr)) : strdup(addr);
        if (!local)
                return -ENOMEM;
        if (addr_local_quote(local, &quoted) < 0)
                return -ENOMEM;
        return asprintf(ret, "<%s%s>", quoted, at ? at : "") < 0 ? -ENOMEM : 0;
}

/* Postfix's delay= shape: two significant digits below 10 s, whole seconds above. */
static void delay_format(double v, char *buf, size_t size) {
        if (v < 10)
                xsnprintf(buf, size, "%.2g", v);
        else
                xsnprintf(buf, size, "%.0f", v);
}

static void result_log(const Delivery *d, const Rcpt *rc) {
        char to[LOG_SANITIZE_BUFSIZE], orig[LOG_SANITIZE_BUFSIZE], text[IPC_TEXT_MAX * 4 + 4];
        char relay[IPC_RELAY_MAX * 4 + 4], delay_s[32];
        const IpcRcpt *r = rc->rcpt;
        uint64_t arrival = d->f ? d->f->envelope->arrival_usec : 0, now = real_usec();
        double delay = arrival > 0 && now > arrival ? (double) (now - arrival) / 1e6 : 0;
        const char *status = ipc_status_to_string(rc->status);
        bool show_orig = !streq(r->original, r->address);

        log_sanitize(to, sizeof(to), r->address, strlen(r->address), LOG_SANITIZE_MAX);
        log_sanitize(orig, sizeof(orig), r->original, strlen(r->original), LOG_SANITIZE_MAX);
        log_sanitize(text, sizeof(text), rc->text, strlen(rc->text), IPC_TEXT_MAX);
        log_sanitize(relay, sizeof(relay), rc->relay, strlen(rc->relay), IPC_RELAY_MAX);
        delay_format(delay, delay_s, sizeof(delay_s));
        log_struct(rc->status == IPC_STATUS_SENT ? LOG_INFO : LOG_NOTICE,
                   "TERN_QUEUE_ID=%s", d->req->id,
                   "TERN_RECIPIENT=%s", to,
                   "TERN_RELAY=%s", relay,
                   "TERN_DSN=%s", rc->dsn,
                   "TERN_STATUS=%s", status,
                   "TERN_DELAY=%s", delay_s,
                   LOG_MESSAGE("%s: to=<%s>%s%s%s, relay=%s, delay=%s, dsn=%s, status=%s (%s)",
                               d->req->id, to, show_orig ? ", orig_to=<" : "",
                               show_orig ? orig : "", show_orig ? ">" : "", relay, delay_s,
                               rc->dsn, status, text));
}

static void delivery_done(Delivery *d) {
        for (size_t i = 0; i < d->n; i++)
                free(d->rcpts[i].path);
        free(d->rcpts);
        free(d->sender_path);
        queue_file_free(d->f);
}

int smtp_request_handle(SmtpAgent *a, const IpcRequest *req, Buf *out) {
        _cleanup_(delivery_done) Delivery d = {
                .agent = a, .s = a->settings, .req = req, .start_usec = mono_usec(),
        };
        char text[IPC_TEXT_MAX + 1];
        int r;

        assert(a);
        assert(req);
        assert(out);

        smtp_cache_timer_disarm();
        if (cache_expired && a->cached) {
                /* The idle timer already said QUIT on it. */
                a->cached->broken = true;
                a->cached = smtp_conn_free(a->cached);
        }
        d.rcpts = calloc(MAX(req->n_rcpts, (size_t) 1), sizeof(Rcpt));
        if (!d.rcpts)
                return -ENOMEM;
        d.n = req->n_rcpts;
        for (size_t i = 0; i < d.n; i++)
                d.rcpts[i].rcpt = &req->rcpts[i];

        if (service_request_file(d.s->queue_directory, req, &d.f, text, sizeof(text)) < 0)
                set_open(&d, false, IPC_STATUS_DEFERRED, "4.3.0", "none", text);
        else if (path_format(req->sender, &d.sender_path) < 0)
                set_open(&d, false, IPC_STATUS_BOUNCED, "5.1.7", "none",
                         "bad sender address syntax");
        for (size_t i = 0; i < d.n; i++) {
                Rcpt *rc = &d.rcpts[i];

                if (rc->final)
                        continue;
                r = path_format(rc->rcpt->address, &rc->path);
                if (r == -ENOMEM)
                        return r;
                if (r < 0 || isempty(rc->rcpt->address))
                        rcpt_set(rc, IPC_STATUS_BOUNCED, "5.1.3", "none",
                                 "bad address syntax");
        }

        if (pending(&d) > 0) {
                r = deliver_to(&d, req->nexthop, false);
                if (r < 0)
                        return r;
        }
        /* smtp_fallback_relay: for what the nexthop's servers could not take now. */
        for (char **fb = d.s->fallback_relays; fb && *fb && pending(&d) > 0; fb++) {
                if (streq(*fb, req->nexthop))
                        continue;
                r = deliver_to(&d, *fb, true);
                if (r < 0)
                        return r;
        }

        for (size_t i = 0; i < d.n; i++) {
                Rcpt *rc = &d.rcpts[i];

                if (!rc->has_result)
                        rcpt_set(rc, IPC_STATUS_DEFERRED, "4.4.1", "none",
                                 "no server of %s could be reached", req->nexthop);
                if ((req->flags & IPC_FLAG_VERIFY) && rc->status == IPC_STATUS_BOUNCED)
                        rc->status = IPC_STATUS_UNDELIVERABLE;
                if ((req->flags & IPC_FLAG_VERIFY) && rc->status == IPC_STATUS_SENT)
                        rc->status = IPC_STATUS_DELIVERABLE;
                result_log(&d, rc);
                r = ipc_result_format(rc->rcpt->index, rc->status, rc->dsn, rc->relay,
                                      mono_usec() - d.start_usec, rc->text, out);
                if (r < 0)
                        return r;
        }
        smtp_cache_timer_arm(a);
        return 0;
}

/* ---- The cached connection's idle timer ---- */


static void on_sigalrm(int sig) {
        int saved = errno;

        (void) sig;
        if (cache_fd >= 0) {
                /* write() and shutdown() are async-signal-safe; the SmtpConn is freed by the
                 * next request or at exit. */
                (void) !write(cache_fd, "QUIT\r\n", 6);
                (void) shutdown(cache_fd, SHUT_WR);
                cache_expired = 1;
        }
        errno = saved;
}

void smtp_cache_signal_install(void) {
        struct sigaction sa = { .sa_handler = on_sigalrm };

        (void) sigemptyset(&sa.sa_mask);
        (void) sigaction(SIGALRM, &sa, NULL);
}

void smtp_cache_timer_disarm(void) {
        struct itimerval it = {};

        (void) setitimer(ITIMER_REAL, &it, NULL);
        cache_fd = -1;
}

void smtp_cache_timer_arm(SmtpAgent *a) {
        uint64_t t = a->settings->cache_time_limit_usec;
        struct itimerval it = {};

        if (!a->cached)
                return;
        if (t == 0)
                t = 1;
        it.it_value.tv_sec = (time_t) (t / 1000000ULL);
        it.it_value.tv_usec = (suseconds_t) (t % 1000000ULL);
        cache_expired = 0;
        cache_fd = a->cached->fd;
        (void) setitimer(ITIMER_REAL, &it, NULL);
}

void smtp_agent_done(SmtpAgent *a) {
        smtp_cache_timer_disarm();
        if (cache_expired && a->cached)
                a->cached->broken = true;
        a->cached = session_close(a->settings, a->cached);
        a->dns = dns_free(a->dns);
}
