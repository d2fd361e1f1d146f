/* SPDX-License-Identifier: GPL-3.0-or-later */
/* smtpd_session: one SMTP conversation (RFC 5321 with ESMTP: RFC 1870 SIZE, RFC 2920
 * PIPELINING, RFC 2034 ENHANCEDSTATUSCODES, RFC 6152 8BITMIME, RFC 3461 DSN, RFC 6531 SMTPUTF8,
 * RFC 3030 CHUNKING, RFC 1985 ETRN). Everything the client sends is untrusted: commands come
 * through smtp_cmd's bounded parser, message content through smtp_data's reader (which closes
 * SMTP smuggling), addresses through addr, and every peer string that reaches a reply or a log is
 * sanitised.
 *
 * The session is an explicit state machine (SessionState) driven by the event loop:
 *   RESOLVING the client name is being looked up (smtpd_peername_lookup, through dns); the
 *             connection is logged and greeted when the lookup is over, as Postfix does;
 *   COMMAND   reading commands; the transaction (MAIL, RCPT) is data, not a state, as in
 *             RFC 5321 §4.1.4;
 *   DATA      content after 354, until CRLF "." CRLF;
 *   BDAT      the octets of a BDAT chunk;
 *   DISCARD   the octets of a BDAT chunk that will be refused (no MAIL, no recipient), so that
 *             the conversation stays in step;
 *   COMMIT    the queue file is being made durable by the worker pool; input waits (pipelined
 *             commands after the message are read when the 250 has been decided);
 *   SLEEP     smtpd_error_sleep_time after too many errors;
 *   STARTTLS  the 220 to STARTTLS is being flushed, then the TLS handshake runs (RFC 3207):
 *             smtp_stream_set_transport() puts the TLS transport under the stream and discards
 *             whatever the client pipelined behind STARTTLS (CVE-2011-0411), the command
 *             parser forgets a partial line, and when the handshake is done the session is
 *             back to its state before EHLO (RFC 3207 §4.2). With smtpd_tls_wrappermode (the
 *             smtps role, RFC 8314) the session starts here and the banner follows the
 *             handshake. The handshake is bounded by smtpd_starttls_timeout;
 *   AUTH      a SASL exchange (the SASL issue);
 *   QUIT      the last reply is being flushed; then the session ends.
 * Replies are queued and flushed when no complete command is left in the input, so a pipelined
 * transaction is answered in one write (RFC 2920 §3.1). A client that does not read its replies
 * is disconnected at SMTP_IO_OUT_MAX; one that sends without bound is stopped by the input
 * limit. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "addr.h"
#include "dsn.h"
#include "log.h"
#include "smtp_cmd.h"
#include "smtp_io.h"
#include "smtpd.h"

typedef enum SessionState {
        SESSION_RESOLVING,
        SESSION_COMMAND,
        SESSION_DATA,
        SESSION_BDAT,
        SESSION_DISCARD,
        SESSION_COMMIT,
        SESSION_SLEEP,
        SESSION_STARTTLS,
        SESSION_AUTH,
        SESSION_QUIT,
        _SESSION_STATE_MAX,
        _SESSION_STATE_INVALID = -EINVAL,
} SessionState;

/* Input held while replies wait (COMMIT, or a client not reading): a pipelined transaction and
 * then some. Past it the session stops reading until the backlog is worked off. */
#define SESSION_IN_MAX (64u * 1024)
/* Pending output above which input is not processed (the peer must read first). */
#define SESSION_OUT_HIGH (64u * 1024)
#define SESSION_HELO_MAX 255

typedef struct Transaction {
        QueueEnvelope *env;             /* sender at MAIL, recipients at RCPT */
        Cleanup *cleanup;               /* from DATA or the first BDAT */
        bool bdat;                      /* content arrives by BDAT */
        bool bdat_last;                 /* the current chunk is the LAST one */
        bool smtputf8;
        SmtpBody body;
        uint64_t size_declared;
} Transaction;

struct SmtpSession {
        Server *srv;
        SmtpdSettings *settings;        /* a reference: a reload does not change a session */
        SmtpSession *prev, *next;

        int fd;
        SmtpStream stream;
        sd_event_source *io;
        sd_event_source *timer;
        SmtpCmdParser *parser;
        SmtpDataReader *reader;         /* allocated at the first message */

        SessionState state;
        SessionState resume_state;      /* after SLEEP */
        char addr[INET6_ADDRSTRLEN];
        unsigned port;
        char client[LOG_SANITIZE_BUFSIZE + INET6_ADDRSTRLEN + 4];      /* "name[addr]" */
        char *name;                     /* verified client host name, or "unknown" */
        char *reverse_name;             /* the PTR name, not verified, or "unknown" */
        DnsNameStatus name_status;      /* for reject_unknown_client_hostname */
        DnsNameStatus reverse_status;   /* for reject_unknown_reverse_client_hostname */
        DnsQuery *dns_query;            /* while RESOLVING */
        char *helo;                     /* as sent, bounded; NULL before HELO/EHLO */
        bool esmtp;
        bool in_mynetworks;
        bool bare_lf_excluded;
        bool rewrite_headers;           /* local_header_rewrite_clients */
        bool counted;                   /* in the server's per-client count */
        unsigned count;                 /* connections from the client, this one included */
        bool shutdown;                  /* the server is stopping */
        bool tls_active;                /* the handshake is complete */
        bool tls_wrapper;               /* the handshake precedes the banner */
        TlsConn *tls;                   /* owned by the stream once the handshake began */
        char tls_desc[160];             /* "TLSv1.3 with cipher ... (256/256 bits)" */
        bool dead;                      /* socket closed while a commit was in flight */

        Transaction tx;
        bool tx_active;
        uint64_t discard_left;
        SmtpdReply discard_reply;       /* sent when a discarded chunk has been read */
        bool discard_close;             /* ... and then end the session */

        unsigned errors;
        const char *last_verb;          /* for "lost connection after X" */
        unsigned n_total[_SMTP_VERB_MAX];
        unsigned n_ok[_SMTP_VERB_MAX];
};

static int session_run(SmtpSession *s);
static void session_end(SmtpSession *s, int reason);
static int session_greet(SmtpSession *s);
static int session_banner(SmtpSession *s);
static void on_client_name(DnsQuery *q, int r, DnsClientName *result, void *userdata);

SmtpSession *smtp_session_next(SmtpSession *s) {
        return s ? s->next : NULL;
}

/* ---- Replies ---- */

static bool is_error(unsigned code) {
        return code >= 400;
}

/* Queues a reply. Counts errors; beyond smtpd_hard_error_limit the session is told to end. */
_printf_(4, 5) static int reply(SmtpSession *s, unsigned code, const char *enhanced,
                                const char *fmt, ...) {
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = smtp_stream_vreply(&s->stream, code, /* last= */ true, enhanced, fmt, ap);
        va_end(ap);
        if (r < 0)
                return r;
        if (is_error(code))
                s->errors++;
        return 0;
}

static int reply_check(SmtpSession *s, const SmtpdReply *r) {
        return reply(s, r->code, r->enhanced, "%s", r->text);
}

static int reply_dsn(SmtpSession *s, int error) {
        const DsnReply *d = dsn_from_errno(error);

        if (error == -EBADMSG)          /* a bare LF: the code is configurable */
                return reply(s, s->settings->bare_lf_reject_code, d->enhanced, "%s", d->text);
        return reply(s, d->code, d->enhanced, "%s", d->text);
}

/* ---- Logging ---- */

/* Postfix's protocol names: ESMTPS over TLS (ESMTPSA with AUTH, later). */
static const char *session_protocol(const SmtpSession *s) {
        if (!s->esmtp)
                return "SMTP";
        return s->tls_active ? "ESMTPS" : "ESMTP";
}

static const char *verb_name(SmtpVerb v) {
        return v == SMTP_VERB_UNKNOWN ? "unknown" : smtp_cmd_verb_to_string(v);
}

static void log_reject(SmtpSession *s, const char *id, const char *what, const SmtpdReply *r,
                       const char *rcpt) {
        const char *sender = s->tx_active ? s->tx.env->sender : NULL;
        char helo[LOG_SANITIZE_BUFSIZE];

        log_sanitize(helo, sizeof(helo), strempty(s->helo), strlen(strempty(s->helo)),
                     LOG_SANITIZE_MAX);
        log_struct(LOG_INFO,
                   "MESSAGE_ID=%s", strstr(r->text, "Relay access denied")
                                            ? TERN_MESSAGE_RELAY_DENIED : "",
                   "TERN_QUEUE_ID=%s", id ? id : "NOQUEUE",
                   "TERN_CLIENT=%s", s->client,
                   "TERN_STATUS=reject",
                   "TERN_DSN=%s", r->enhanced,
                   LOG_MESSAGE("%s: reject: %s from %s: %u %s %s; from=<%s> to=<%s> proto=%s "
                               "helo=<%s>",
                               id ? id : "NOQUEUE", what, s->client, r->code, r->enhanced,
                               r->text, strempty(sender), strempty(rcpt),
                               session_protocol(s), helo));
}

static void log_disconnect(SmtpSession *s, const char *how) {
        static const SmtpVerb order[] = {
                SMTP_VERB_HELO, SMTP_VERB_EHLO, SMTP_VERB_STARTTLS, SMTP_VERB_AUTH,
                SMTP_VERB_MAIL, SMTP_VERB_RCPT, SMTP_VERB_DATA,     SMTP_VERB_BDAT,
                SMTP_VERB_RSET, SMTP_VERB_NOOP, SMTP_VERB_VRFY,     SMTP_VERB_EXPN,
                SMTP_VERB_ETRN, SMTP_VERB_HELP, SMTP_VERB_QUIT,     SMTP_VERB_UNKNOWN,
        };
        char stats[512];
        unsigned ok = 0, total = 0;
        size_t len = 0;

        stats[0] = '\0';
        for (size_t i = 0; i < ELEMENTSOF(order); i++) {
                SmtpVerb v = order[i];
                char name[16];
                int n;

                if (s->n_total[v] == 0)
                        continue;
                snprintf(name, sizeof(name), "%s", verb_name(v));
                for (char *p = name; *p; p++)
                        *p = (char) tolower((unsigned char) *p);
                if (s->n_ok[v] == s->n_total[v])
                        n = snprintf(stats + len, sizeof(stats) - len, " %s=%u", name,
                                     s->n_total[v]);
                else
                        n = snprintf(stats + len, sizeof(stats) - len, " %s=%u/%u", name,
                                     s->n_ok[v], s->n_total[v]);
                if (n > 0 && (size_t) n < sizeof(stats) - len)
                        len += (size_t) n;
                ok += s->n_ok[v];
                total += s->n_total[v];
        }
        if (ok == total)
                log_struct(LOG_INFO, "TERN_CLIENT=%s", s->client,
                           LOG_MESSAGE("%s from %s%s commands=%u", how, s->client, stats, total));
        else
                log_struct(LOG_INFO, "TERN_CLIENT=%s", s->client,
                           LOG_MESSAGE("%s from %s%s commands=%u/%u", how, s->client, stats, ok,
                                       total));
}

/* ---- The transaction ---- */

static void tx_reset(SmtpSession *s) {
        s->tx.cleanup = cleanup_free(s->tx.cleanup);
        s->tx.env = queue_envelope_free(s->tx.env);
        s->tx = (Transaction) {};
        s->tx_active = false;
        if (s->reader)
                smtp_data_reset(s->reader);
}

/* The internal form of a parsed address: unquoted local part, '@', domain; "" for <>. */
static int addr_internal(const Addr *a, char **ret) {
        char *p;

        if (a->null)
                p = strdup("");
        else if (!a->domain)
                p = strdup(a->local);
        else if (asprintf(&p, "%s@%s", a->local, a->domain) < 0)
                p = NULL;
        if (!p)
                return -ENOMEM;
        *ret = p;
        return 0;
}

static bool has_8bit(const char *p, size_t n) {
        for (size_t i = 0; i < n; i++)
                if ((unsigned char) p[i] >= 0x80)
                        return true;
        return false;
}

/* Parses MAIL's or RCPT's path. Returns 0 with the internal form, or replies and returns 1. */
static int parse_path(SmtpSession *s, const SmtpCmd *c, bool sender, char **ret) {
        _cleanup_(addr_freep) Addr *a = NULL;
        AddrFlags flags = ADDR_LAX_DOTS;
        bool smtputf8 = sender ? c->smtputf8 : s->tx.smtputf8;
        int r;

        if (sender)
                flags |= ADDR_ALLOW_NULL;
        if (smtputf8 && s->settings->smtputf8_enable)
                flags |= ADDR_SMTPUTF8;
        if (!c->path_bracketed) {
                if (s->settings->strict_rfc821_envelopes)
                        goto bad;
                flags |= ADDR_ALLOW_NO_BRACKETS;
        }
        if (!(flags & ADDR_SMTPUTF8) && has_8bit(c->path, c->path_len)) {
                r = reply(s, 553, "5.6.7", "Must declare SMTPUTF8 to send unicode address");
                return r < 0 ? r : 1;
        }
        r = addr_parse_path(c->path, c->path_len, NULL, flags, &a, NULL);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                goto bad;
        r = addr_internal(a, ret);
        return r < 0 ? r : 0;
bad:
        r = sender ? reply(s, 501, "5.1.7", "Bad sender address syntax")
                   : reply(s, 501, "5.1.3", "Bad recipient address syntax");
        return r < 0 ? r : 1;
}

static SmtpdCheckContext check_context(SmtpSession *s, const char *rcpt) {
        return (SmtpdCheckContext) {
                .client_addr = s->addr,
                .client_name = s->name,
                .helo = s->helo,
                .sender = s->tx_active ? s->tx.env->sender : NULL,
                .recipient = rcpt,
        };
}

/* Runs the stages in order; 1 with *ret when one refuses. */
static int check_stages(SmtpSession *s, const SmtpdStage *stages, size_t n, const char *rcpt,
                        SmtpdReply *ret) {
        SmtpdCheckContext ctx = check_context(s, rcpt);
        int r;

        for (size_t i = 0; i < n; i++) {
                r = smtpd_check_stage(s->settings, stages[i], &ctx, ret);
                if (r != 0)
                        return r;
        }
        return 0;
}

/* Free space in the queue file system against queue_minfree and the announced size. */
static bool queue_has_room(SmtpSession *s, uint64_t size) {
        struct statvfs sv;
        uint64_t avail, need;

        if (fstatvfs(queue_dirs_fd(s->srv->queue, QUEUE_INCOMING), &sv) < 0)
                return true;            /* cannot tell: the write will tell */
        avail = (uint64_t) sv.f_bavail * sv.f_frsize;
        need = MAX(s->settings->queue_minfree, (uint64_t) sv.f_frsize);
        return avail >= need && avail - need >= size;
}

/* ---- Commands ---- */

/* STARTTLS is advertised when TLS is on and usable and not yet active (RFC 3207 §4.2: not
 * after the handshake). */
static bool tls_offered(const SmtpSession *s) {
        return s->settings->tls_level >= SMTPD_TLS_MAY && s->settings->tls && !s->tls_active;
}

/* smtpd_tls_security_level = encrypt: mail only over TLS. */
static bool tls_required(const SmtpSession *s) {
        return s->settings->tls_level == SMTPD_TLS_ENCRYPT && !s->tls_active;
}

static int cmd_starttls(SmtpSession *s, const SmtpCmd *c) {
        if (s->tls_active)
                return reply(s, 554, "5.5.1", "Error: TLS already active");
        if (s->settings->tls_level == SMTPD_TLS_NONE)
                return reply(s, 502, "5.5.1", "Error: command not implemented");
        if (c->arg_len > 0)
                return reply(s, 501, "5.5.4", "Syntax: STARTTLS");
        if (!s->settings->tls)
                return reply(s, 454, "4.7.0", "TLS not available due to local problem");
        s->state = SESSION_STARTTLS;
        return reply(s, 220, "2.0.0", "Ready to start TLS");
}

static int cmd_helo(SmtpSession *s, const SmtpCmd *c) {
        static const struct {
                unsigned bit;
                const char *text;
        } keywords[] = {
                { SMTPD_EHLO_PIPELINING, "PIPELINING" },
                { SMTPD_EHLO_SIZE, NULL },
                { SMTPD_EHLO_VRFY, "VRFY" },
                { SMTPD_EHLO_ETRN, "ETRN" },
                { SMTPD_EHLO_STARTTLS, "STARTTLS" },
                { SMTPD_EHLO_ENHANCEDSTATUSCODES, "ENHANCEDSTATUSCODES" },
                { SMTPD_EHLO_8BITMIME, "8BITMIME" },
                { SMTPD_EHLO_DSN, "DSN" },
                { SMTPD_EHLO_SMTPUTF8, "SMTPUTF8" },
                { SMTPD_EHLO_CHUNKING, "CHUNKING" },
        };
        SmtpdSettings *st = s->settings;
        bool ehlo = c->verb == SMTP_VERB_EHLO;
        const char *last = NULL;
        SmtpdReply rej;
        char *helo;
        int r;

        if (c->arg_len == 0)
                return reply(s, 501, NULL, "Syntax: %s hostname", ehlo ? "EHLO" : "HELO");

        helo = strndup(c->arg, MIN(c->arg_len, (size_t) SESSION_HELO_MAX));
        if (!helo)
                return -ENOMEM;
        free(s->helo);
        s->helo = helo;
        s->esmtp = ehlo;
        tx_reset(s);                    /* RFC 5321 §4.1.4: EHLO implies RSET */

        if (!st->delay_reject) {
                r = check_stages(s, (const SmtpdStage[]) { SMTPD_STAGE_HELO }, 1, NULL, &rej);
                if (r < 0)
                        return r;
                if (r > 0) {
                        log_reject(s, NULL, ehlo ? "EHLO" : "HELO", &rej, NULL);
                        return reply_check(s, &rej);
                }
        }

        if (!ehlo)
                return reply(s, 250, NULL, "%s", st->myhostname);

        /* Find the last advertised line: it gets "250 " instead of "250-". */
        for (size_t i = 0; i < ELEMENTSOF(keywords); i++) {
                if (st->discard_ehlo & keywords[i].bit)
                        continue;
                if (keywords[i].bit == SMTPD_EHLO_VRFY && st->disable_vrfy)
                        continue;
                if (keywords[i].bit == SMTPD_EHLO_SMTPUTF8 && !st->smtputf8_enable)
                        continue;
                if (keywords[i].bit == SMTPD_EHLO_STARTTLS && !tls_offered(s))
                        continue;
                last = keywords[i].text ? keywords[i].text : "SIZE";
        }
        r = smtp_stream_reply(&s->stream, 250, !last, NULL, "%s", st->myhostname);
        for (size_t i = 0; r >= 0 && i < ELEMENTSOF(keywords); i++) {
                const char *kw = keywords[i].text ? keywords[i].text : "SIZE";
                bool is_last = streq(kw, strempty(last));

                if (st->discard_ehlo & keywords[i].bit)
                        continue;
                if (keywords[i].bit == SMTPD_EHLO_VRFY && st->disable_vrfy)
                        continue;
                if (keywords[i].bit == SMTPD_EHLO_SMTPUTF8 && !st->smtputf8_enable)
                        continue;
                if (keywords[i].bit == SMTPD_EHLO_STARTTLS && !tls_offered(s))
                        continue;
                if (keywords[i].bit == SMTPD_EHLO_SIZE && st->message_size_limit > 0)
                        r = smtp_stream_reply(&s->stream, 250, is_last, NULL, "SIZE %" PRIu64,
                                              st->message_size_limit);
                else
                        r = smtp_stream_reply(&s->stream, 250, is_last, NULL, "%s", kw);
        }
        return r;
}

static int cmd_mail(SmtpSession *s, const SmtpCmd *c) {
        _cleanup_(queue_envelope_freep) QueueEnvelope *env = NULL;
        _cleanup_free_ char *sender = NULL;
        SmtpdSettings *st = s->settings;
        char bad[LOG_SANITIZE_BUFSIZE];
        SmtpdReply rej;
        int r;

        if (st->helo_required && !s->helo)
                return reply(s, 503, "5.5.1", "Error: send HELO/EHLO first");
        if (s->tx_active)
                return reply(s, 503, "5.5.1", "Error: nested MAIL command");
        if (c->error == -EOPNOTSUPP)
                return reply(s, 555, "5.5.4", "Unsupported option: %s",
                             log_sanitize(bad, sizeof(bad), c->bad_param, strlen(c->bad_param),
                                          LOG_SANITIZE_MAX));
        if (c->error < 0 || !c->path)
                return reply(s, 501, "5.5.4", "Syntax: MAIL FROM:<address>");
        if (c->smtputf8 && !st->smtputf8_enable)
                return reply(s, 555, "5.5.4", "Unsupported option: SMTPUTF8");

        s->tx.smtputf8 = c->smtputf8;
        r = parse_path(s, c, /* sender= */ true, &sender);
        if (r != 0)
                return r < 0 ? r : 0;

        if (c->size_set && st->message_size_limit > 0 && c->size > st->message_size_limit)
                return reply(s, 552, "5.3.4", "Message size exceeds fixed limit");
        if (!queue_has_room(s, c->size_set ? c->size : 0)) {
                log_warning("not enough free space in the queue file system for a message "
                            "from %s", s->client);
                return reply(s, 452, "4.3.1", "Insufficient system storage");
        }

        r = queue_envelope_new(&env);
        if (r < 0)
                return r;
        r = queue_envelope_set(env, QUEUE_FIELD_SENDER, sender);
        if (r == -EINVAL)
                return reply(s, 501, "5.1.7", "Bad sender address syntax");
        if (r < 0)
                return r;
        if (c->envid) {
                r = queue_envelope_set(env, QUEUE_FIELD_ENVID, c->envid);
                if (r == -EINVAL)
                        return reply(s, 501, "5.5.4", "Bad ENVID parameter syntax");
                if (r < 0)
                        return r;
        }
        env->ret = c->ret == SMTP_RET_FULL ? QUEUE_RET_FULL
                 : c->ret == SMTP_RET_HDRS ? QUEUE_RET_HDRS : QUEUE_RET_NONE;
        if (c->body != SMTP_BODY_UNSET) {
                r = queue_envelope_add_attr(env, "body", smtp_cmd_body_to_string(c->body));
                if (r < 0)
                        return r;
        }
        if (c->smtputf8) {
                r = queue_envelope_add_attr(env, "smtputf8", "yes");
                if (r < 0)
                        return r;
        }

        s->tx.env = TAKE_PTR(env);
        s->tx.body = c->body;
        s->tx.size_declared = c->size_set ? c->size : 0;
        s->tx_active = true;

        if (!st->delay_reject) {
                static const SmtpdStage stages[] = { SMTPD_STAGE_CLIENT, SMTPD_STAGE_SENDER };

                r = check_stages(s, stages, ELEMENTSOF(stages), NULL, &rej);
                if (r < 0)
                        return r;
                if (r > 0) {
                        log_reject(s, NULL, "MAIL", &rej, NULL);
                        tx_reset(s);
                        return reply_check(s, &rej);
                }
        }
        return reply(s, 250, "2.1.0", "Ok");
}

static int cmd_rcpt(SmtpSession *s, const SmtpCmd *c) {
        _cleanup_free_ char *rcpt = NULL, *orcpt = NULL;
        SmtpdSettings *st = s->settings;
        char bad[LOG_SANITIZE_BUFSIZE];
        SmtpdReply rej;
        int r;

        if (!s->tx_active)
                return reply(s, 503, "5.5.1", "Error: need MAIL command");
        if (c->error == -EOPNOTSUPP)
                return reply(s, 555, "5.5.4", "Unsupported option: %s",
                             log_sanitize(bad, sizeof(bad), c->bad_param, strlen(c->bad_param),
                                          LOG_SANITIZE_MAX));
        if (c->error < 0 || !c->path)
                return reply(s, 501, "5.5.4", "Syntax: RCPT TO:<address>");

        r = parse_path(s, c, /* sender= */ false, &rcpt);
        if (r != 0)
                return r < 0 ? r : 0;
        if (s->tx.env->n_rcpts >= st->recipient_limit)
                return reply(s, 452, "4.5.3", "Error: too many recipients");

        {
                static const SmtpdStage delayed[] = {
                        SMTPD_STAGE_CLIENT, SMTPD_STAGE_HELO, SMTPD_STAGE_SENDER,
                        SMTPD_STAGE_RELAY, SMTPD_STAGE_RECIPIENT,
                };
                size_t skip = st->delay_reject ? 0 : 3;

                r = check_stages(s, delayed + skip, ELEMENTSOF(delayed) - skip, rcpt, &rej);
                if (r == 0 && st->reject_unlisted_recipient)
                        r = smtpd_check_recipient_known(st, rcpt, &rej);
                if (r == 0 && st->reject_unlisted_sender && !isempty(s->tx.env->sender))
                        r = smtpd_check_sender_known(st, s->tx.env->sender, &rej);
                if (r < 0)
                        return r;
                if (r > 0) {
                        log_reject(s, NULL, "RCPT", &rej, rcpt);
                        return reply_check(s, &rej);
                }
        }

        if (c->orcpt && asprintf(&orcpt, "%s;%s", c->orcpt_type, c->orcpt) < 0)
                return -ENOMEM;
        r = queue_envelope_add_rcpt(s->tx.env, rcpt, orcpt, c->notify);
        if (r == -EINVAL)
                return reply(s, 501, "5.5.4", "Bad ORCPT parameter syntax");
        if (r < 0)
                return r;
        return reply(s, 250, "2.1.5", "Ok");
}

/* The cleanup's piece callback, through the session (the reader outlives a transaction). */
static int on_content(void *userdata, const char *p, size_t n, unsigned flags) {
        SmtpSession *s = userdata;

        if (!s->tx.cleanup)
                return -EPROTO;
        return cleanup_emit(s->tx.cleanup, p, n, flags);
}

/* Starts receiving a message (DATA, or the first BDAT): checks, creates the queue file. Returns
 * 0 when started, 1 with *ret_refusal when refused (the caller replies: at once for DATA, after
 * the chunk for BDAT), < 0 on failure. */
static int message_begin(SmtpSession *s, bool bdat, SmtpdReply *ret_refusal) {
        SmtpdSettings *st = s->settings;
        QueueEnvelope *env;
        CleanupExtra extra = { .local_uid = -1, .tls = s->tls_active ? s->tls_desc : NULL };
        CleanupSettings cs;
        int r;

        if (!s->tx_active) {
                smtpd_reply_set(ret_refusal, 503, "5.5.1", bdat ? "Error: need MAIL command"
                                                                : "Error: need RCPT command");
                return 1;
        }
        env = s->tx.env;
        if (env->n_rcpts == 0) {
                smtpd_reply_set(ret_refusal, 554, "5.5.1", "Error: no valid recipients");
                return 1;
        }

        r = check_stages(s, (const SmtpdStage[]) { SMTPD_STAGE_DATA }, 1, NULL, ret_refusal);
        if (r < 0)
                return r;
        if (r > 0) {
                log_reject(s, NULL, bdat ? "BDAT" : "DATA", ret_refusal, NULL);
                return 1;
        }

        if (!s->reader) {
                SmtpDataLimits limits = st->data_limits;

                if (s->bare_lf_excluded)
                        limits.bare_lf = SMTP_BARE_LF_NO;
                r = smtp_data_new(&limits, on_content, s, &s->reader);
                if (r < 0)
                        return r;
        }
        smtp_data_reset(s->reader);

        r = queue_envelope_set(env, QUEUE_FIELD_CLIENT_NAME, s->name);
        if (r >= 0)
                r = queue_envelope_set(env, QUEUE_FIELD_CLIENT_ADDR, s->addr);
        if (r >= 0 && s->helo)
                r = queue_envelope_set(env, QUEUE_FIELD_HELO, s->helo);
        if (r >= 0)
                r = queue_envelope_set(env, QUEUE_FIELD_PROTOCOL, session_protocol(s));
        if (r < 0)
                return r;
        env->client_port = s->port;

        cs = st->cleanup;
        cs.rewrite_headers = s->rewrite_headers;
        /* Postfix >= 2.6 adds a missing Date:, Message-ID: and From: for the clients of
         * local_header_rewrite_clients only, or for all with always_add_missing_headers. */
        cs.add_missing_headers = st->cleanup.add_missing_headers || s->rewrite_headers;
        r = cleanup_new(&cs, queue_dirs_fd(s->srv->queue, QUEUE_INCOMING), env, &extra,
                        st->message_size_limit, &s->tx.cleanup);
        if (r < 0) {
                const DsnReply *d = dsn_from_errno(r);

                log_warning_errno(r, "cannot create a queue file for a message from %s: %m",
                                  s->client);
                smtpd_reply_set(ret_refusal, d->code, d->enhanced, "%s", d->text);
                return 1;
        }
        log_struct(LOG_INFO, "TERN_QUEUE_ID=%s", cleanup_queue_id(s->tx.cleanup),
                   "TERN_CLIENT=%s", s->client,
                   "TERN_TLS=%s", s->tls_active ? s->tls_desc : "",
                   LOG_MESSAGE("%s: client=%s", cleanup_queue_id(s->tx.cleanup), s->client));
        s->tx.bdat = bdat;
        return 0;
}

static int cmd_data(SmtpSession *s, const SmtpCmd *c) {
        SmtpdReply rej;
        int r;

        if (c->error < 0 || c->arg_len > 0)
                return reply(s, 501, "5.5.4", "Syntax: DATA");
        if (s->tx_active && s->tx.bdat)
                return reply(s, 503, "5.5.1", "Error: DATA after BDAT");

        r = message_begin(s, /* bdat= */ false, &rej);
        if (r < 0)
                return r;
        if (r > 0)
                return reply_check(s, &rej);
        r = smtp_data_start(s->reader);
        if (r < 0)
                return r;
        s->state = SESSION_DATA;
        return reply(s, 354, NULL, "End data with <CR><LF>.<CR><LF>");
}

/* Reads and drops a BDAT chunk, then sends rej (RFC 3030 §2: the reply follows the chunk). */
static int discard_chunk(SmtpSession *s, uint64_t size, const SmtpdReply *rej, bool close) {
        s->discard_left = size;
        s->discard_reply = *rej;
        s->discard_close = close;
        s->state = SESSION_DISCARD;
        return 0;
}

static int message_end(SmtpSession *s);

static int cmd_bdat(SmtpSession *s, const SmtpCmd *c) {
        SmtpdReply rej;
        int r;

        if (c->error < 0) {
                /* Without a size the chunk cannot be found: the session is out of step. */
                r = reply(s, 501, "5.5.4", "Syntax: BDAT count [LAST]");
                s->state = SESSION_QUIT;
                return r;
        }

        if (!s->tx.cleanup) {
                /* The first chunk: the same checks and file as DATA; a refusal is replied after
                 * the chunk has been read. */
                r = message_begin(s, /* bdat= */ true, &rej);
                if (r < 0)
                        return r;
                if (r > 0)
                        return discard_chunk(s, c->chunk_size, &rej, false);
        }

        r = smtp_data_start_chunk(s->reader, c->chunk_size);
        if (r < 0)
                return r;
        s->tx.bdat = true;
        s->tx.bdat_last = c->last;
        s->state = SESSION_BDAT;
        if (c->chunk_size == 0)
                return c->last ? message_end(s) : reply(s, 250, "2.0.0", "Ok: 0 bytes");
        return 0;
}

static int cmd_rset(SmtpSession *s, const SmtpCmd *c) {
        if (c->arg_len > 0)
                return reply(s, 501, "5.5.4", "Syntax: RSET");
        tx_reset(s);
        return reply(s, 250, "2.0.0", "Ok");
}

static int cmd_vrfy(SmtpSession *s, const SmtpCmd *c) {
        _cleanup_(addr_freep) Addr *a = NULL;
        _cleanup_free_ char *rcpt = NULL;
        char q[LOG_SANITIZE_BUFSIZE];
        SmtpdReply rej;
        int r;

        if (s->settings->disable_vrfy)
                return reply(s, 502, "5.5.1", "VRFY command is disabled");
        if (c->arg_len == 0)
                return reply(s, 501, "5.5.4", "Syntax: VRFY address");
        r = addr_parse_path(c->arg, c->arg_len, NULL, ADDR_ALLOW_NO_BRACKETS | ADDR_LAX_DOTS, &a,
                            NULL);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return reply(s, 501, "5.1.3", "Bad recipient address syntax");
        r = addr_internal(a, &rcpt);
        if (r < 0)
                return r;
        r = smtpd_check_recipient_known(s->settings, rcpt, &rej);
        if (r < 0)
                return r;
        if (r > 0)
                return reply_check(s, &rej);
        return reply(s, 252, "2.0.0", "%s",
                     log_sanitize(q, sizeof(q), c->arg, c->arg_len, LOG_SANITIZE_MAX));
}

static int cmd_etrn(SmtpSession *s, const SmtpCmd *c) {
        _cleanup_free_ char *domain = NULL;
        SmtpdCheckContext ctx;
        const char *d;
        SmtpdReply rej;
        int r;

        if (!s->helo)
                return reply(s, 503, "5.5.1", "Error: send HELO/EHLO first");
        if (s->tx_active)
                return reply(s, 503, "5.5.1", "Error: MAIL transaction in progress");
        if (c->arg_len == 0)
                return reply(s, 500, "5.5.4", "Syntax: ETRN domain");

        /* RFC 1985 §5.3: "@domain" asks for the subdomains too; "#queue" names a queue. */
        d = c->arg[0] == '@' || c->arg[0] == '#' ? c->arg + 1 : c->arg;
        if (!addr_domain_is_valid(d))
                return reply(s, 501, "5.5.4", "Error: invalid parameter syntax");
        r = addr_domain_to_ascii(d, &domain);
        if (r < 0)
                return reply(s, 501, "5.5.4", "Error: invalid parameter syntax");

        ctx = check_context(s, NULL);
        ctx.etrn_domain = domain;
        r = smtpd_check_stage(s->settings, SMTPD_STAGE_ETRN, &ctx, &rej);
        if (r < 0)
                return r;
        if (r > 0)
                return reply_check(s, &rej);

        r = queue_trigger_send(s->settings->trigger_path, QUEUE_TRIGGER_DOMAIN, domain);
        if (r < 0)
                log_warning_errno(r, "ETRN %s from %s: cannot wake qmgr, ignoring: %m", domain,
                                  s->client);
        return reply(s, 250, NULL, "Queuing started");
}

static bool is_noop_command(SmtpSession *s, const SmtpCmd *c) {
        for (char **k = s->settings->noop_commands; k && *k; k++)
                if (strcasecmp(*k, c->verb_text) == 0)
                        return true;
        return false;
}

static int dispatch(SmtpSession *s, const SmtpCmd *c) {
        unsigned errors = s->errors;
        int r;

        s->last_verb = c->verb == SMTP_VERB_UNKNOWN ? "UNKNOWN" : smtp_cmd_verb_to_string(c->verb);

        if (is_noop_command(s, c))
                return reply(s, 250, "2.0.0", "Ok");

        /* Postfix's order: MAIL without a required HELO hears 503 first; AUTH (not offered yet)
         * hears that it is not enabled. */
        if (tls_required(s) && IN_SET(c->verb, SMTP_VERB_MAIL, SMTP_VERB_RCPT, SMTP_VERB_DATA,
                                      SMTP_VERB_BDAT, SMTP_VERB_VRFY, SMTP_VERB_ETRN) &&
            !(c->verb == SMTP_VERB_MAIL && s->settings->helo_required && !s->helo)) {
                SmtpdReply rej;

                s->n_total[c->verb]++;
                smtpd_reply_set(&rej, 530, "5.7.0", "Must issue a STARTTLS command first");
                if (c->verb == SMTP_VERB_BDAT && c->error >= 0)
                        /* The chunk follows the command: read it, then refuse (RFC 3030). */
                        return discard_chunk(s, c->chunk_size, &rej, false);
                if (c->verb == SMTP_VERB_BDAT)
                        s->state = SESSION_QUIT;        /* no size: out of step */
                return reply_check(s, &rej);
        }

        switch (c->verb) {
        case SMTP_VERB_HELO:
        case SMTP_VERB_EHLO:
                r = cmd_helo(s, c);
                break;
        case SMTP_VERB_MAIL:
                r = cmd_mail(s, c);
                break;
        case SMTP_VERB_RCPT:
                r = cmd_rcpt(s, c);
                break;
        case SMTP_VERB_DATA:
                r = cmd_data(s, c);
                break;
        case SMTP_VERB_BDAT:
                r = cmd_bdat(s, c);
                break;
        case SMTP_VERB_RSET:
                r = cmd_rset(s, c);
                break;
        case SMTP_VERB_NOOP:
                r = reply(s, 250, "2.0.0", "Ok");
                break;
        case SMTP_VERB_QUIT:
                r = reply(s, 221, "2.0.0", "Bye");
                s->state = SESSION_QUIT;
                break;
        case SMTP_VERB_VRFY:
                r = cmd_vrfy(s, c);
                break;
        case SMTP_VERB_ETRN:
                r = cmd_etrn(s, c);
                break;
        case SMTP_VERB_HELP:
                r = reply(s, 214, "2.0.0", "Commands: HELO EHLO MAIL RCPT DATA BDAT RSET NOOP "
                                           "QUIT VRFY ETRN HELP");
                break;
        case SMTP_VERB_STARTTLS:
                r = cmd_starttls(s, c);
                break;
        case SMTP_VERB_AUTH:
                r = reply(s, 503, "5.5.1", "Error: authentication not enabled");
                break;
        case SMTP_VERB_EXPN:
                r = reply(s, 502, "5.5.1", "Error: command not implemented");
                break;
        default:
                r = reply(s, 500, "5.5.2", "Error: command not recognized");
                break;
        }
        if (c->verb == SMTP_VERB_UNKNOWN || c->verb == SMTP_VERB_EXPN)
                /* Postfix counts a command it does not know under "unknown". */
                s->n_total[SMTP_VERB_UNKNOWN]++;
        else {
                s->n_total[c->verb]++;
                /* BDAT and DATA are judged when the message is, by message_end(). */
                if (s->errors == errors && !IN_SET(c->verb, SMTP_VERB_DATA, SMTP_VERB_BDAT))
                        s->n_ok[c->verb]++;
        }
        return r;
}

/* ---- Message content and the commit ---- */

static void commit_done(int result, void *userdata);

static int commit_work(void *userdata) {
        SmtpSession *s = userdata;

        return queue_writer_finish(cleanup_writer(s->tx.cleanup));
}

/* The content is complete (DATA's end, or BDAT LAST): judge it and commit it. */
static int message_end(SmtpSession *s) {
        SmtpVerb verb = s->tx.bdat ? SMTP_VERB_BDAT : SMTP_VERB_DATA;
        const char *id = cleanup_queue_id(s->tx.cleanup);
        SmtpdReply rej;
        int r;

        r = s->tx.bdat ? smtp_data_finish(s->reader) : smtp_data_result(s->reader);
        if (r >= 0)
                r = cleanup_end_content(s->tx.cleanup);
        if (r < 0) {
                const DsnReply *d = dsn_from_errno(r);

                smtpd_reply_set(&rej, r == -EBADMSG ? s->settings->bare_lf_reject_code : d->code,
                                d->enhanced, "%s", d->text);
                log_reject(s, id, s->tx.bdat ? "BDAT" : "DATA", &rej, NULL);
                tx_reset(s);
                s->state = SESSION_COMMAND;
                return reply_check(s, &rej);
        }

        r = check_stages(s, (const SmtpdStage[]) { SMTPD_STAGE_END_OF_DATA }, 1, NULL, &rej);
        if (r < 0)
                return r;
        if (r > 0) {
                log_reject(s, id, "END-OF-MESSAGE", &rej, NULL);
                tx_reset(s);
                s->state = SESSION_COMMAND;
                return reply_check(s, &rej);
        }

        r = workpool_submit(s->srv->pool, commit_work, commit_done, s);
        if (r < 0)
                return r;
        s->n_ok[verb]++;
        s->state = SESSION_COMMIT;
        (void) sd_event_source_set_enabled(s->timer, SD_EVENT_OFF);
        return 0;
}

static void commit_done(int result, void *userdata) {
        SmtpSession *s = userdata;
        const char *id = cleanup_queue_id(s->tx.cleanup);
        const char *msgid = cleanup_message_id(s->tx.cleanup);
        int r;

        if (s->srv->freeing) {
                tx_reset(s);
                s->state = SESSION_QUIT;
                return;
        }
        if (s->dead) {
                /* The client went away while its message was made durable: the message is
                 * queued all the same (Postfix does the same). */
                if (result >= 0)
                        s->srv->trigger_due = true;
                smtp_session_free(s);
                return;
        }

        s->state = SESSION_COMMAND;
        if (result < 0) {
                log_struct_errno(LOG_WARNING, result, "TERN_QUEUE_ID=%s", id,
                                 LOG_MESSAGE("%s: cannot make the queue file durable, "
                                             "refusing the message: %m", id));
                s->n_ok[s->tx.bdat ? SMTP_VERB_BDAT : SMTP_VERB_DATA]--;
                r = reply_dsn(s, result);
        } else {
                log_struct(LOG_INFO, "MESSAGE_ID=%s", TERN_MESSAGE_ACCEPTED,
                           "TERN_QUEUE_ID=%s", id, "TERN_MESSAGE_ID=%s", strempty(msgid),
                           "TERN_CLIENT=%s", s->client, "TERN_SENDER=%s", s->tx.env->sender,
                           LOG_MESSAGE("%s: message-id=%s", id, msgid ? msgid : "<>"));
                r = reply(s, 250, "2.0.0", "Ok: queued as %s", id);
                s->srv->trigger_due = true;     /* one trigger for the batch, on_pool() */
                s->errors = 0;
        }
        tx_reset(s);
        if (r >= 0 && s->shutdown) {
                s->state = SESSION_QUIT;
                r = reply(s, 421, "4.3.2", "%s Service shutting down", s->settings->myhostname);
        }
        if (r >= 0)
                r = session_run(s);
        if (r < 0)
                session_end(s, r);
}

/* A BDAT chunk (not LAST) was read. */
static int chunk_end(SmtpSession *s) {
        const SmtpDataInfo *info = smtp_data_info(s->reader);
        int r;

        if (s->tx.bdat_last)
                return message_end(s);

        s->state = SESSION_COMMAND;
        r = smtp_data_result(s->reader);
        if (r < 0) {
                const DsnReply *d = dsn_from_errno(r);
                SmtpdReply rej;

                smtpd_reply_set(&rej, r == -EBADMSG ? s->settings->bare_lf_reject_code : d->code,
                                d->enhanced, "%s", d->text);
                log_reject(s, cleanup_queue_id(s->tx.cleanup), "BDAT", &rej, NULL);
                /* The transaction is over; later chunks of it are read and refused. */
                tx_reset(s);
                return reply_check(s, &rej);
        }
        return reply(s, 250, "2.0.0", "Ok: %" PRIu64 " bytes", info->octets);
}

/* ---- Input ---- */

static int process_input(SmtpSession *s) {
        int r;

        for (;;) {
                const char *p = buf_peek(&s->stream.in);
                size_t avail = buf_pending(&s->stream.in), used = 0;

                if (!IN_SET(s->state, SESSION_COMMAND, SESSION_DATA, SESSION_BDAT,
                            SESSION_DISCARD))
                        return 0;
                if (avail == 0 || buf_pending(&s->stream.out) > SESSION_OUT_HIGH)
                        return 0;

                switch (s->state) {
                case SESSION_COMMAND: {
                        SmtpCmd c;

                        r = smtp_cmd_feed(s->parser, p, avail, &used, &c);
                        buf_consume(&s->stream.in, used);
                        if (r == 0)
                                return 0;
                        if (r == -EBADMSG || r == -EMSGSIZE) {
                                s->n_total[SMTP_VERB_UNKNOWN]++;
                                r = r == -EMSGSIZE
                                        ? reply(s, 500, "5.5.2", "Error: line too long")
                                        : reply(s, 500, "5.5.2", "Error: bad syntax");
                        } else if (r > 0)
                                r = dispatch(s, &c);
                        break;
                }
                case SESSION_DATA:
                case SESSION_BDAT:
                        r = smtp_data_feed(s->reader, p, avail, &used);
                        buf_consume(&s->stream.in, used);
                        if (r == 1)
                                r = s->state == SESSION_DATA ? message_end(s) : chunk_end(s);
                        else if (r == 0)
                                return 0;
                        break;
                case SESSION_DISCARD:
                        used = (size_t) MIN((uint64_t) avail, s->discard_left);
                        buf_consume(&s->stream.in, used);
                        s->discard_left -= used;
                        if (s->discard_left > 0)
                                return 0;
                        s->state = s->discard_close ? SESSION_QUIT : SESSION_COMMAND;
                        r = reply_check(s, &s->discard_reply);
                        break;
                default:
                        return 0;
                }
                if (r < 0)
                        return r;

                if (s->settings->hard_error_limit > 0 &&
                    s->errors >= s->settings->hard_error_limit) {
                        log_warning("%s: too many errors after %s from %s", "NOQUEUE",
                                    strempty(s->last_verb), s->client);
                        s->state = SESSION_QUIT;
                        return reply(s, 421, "4.7.0", "%s Error: too many errors",
                                     s->settings->myhostname);
                }
                if (s->state == SESSION_COMMAND && s->settings->error_sleep_usec > 0 &&
                    s->errors > s->settings->soft_error_limit) {
                        /* Slow the client down (smtpd_error_sleep_time): the reply waits. */
                        s->resume_state = s->state;
                        s->state = SESSION_SLEEP;
                        (void) sd_event_source_set_time_relative(s->timer,
                                                                 s->settings->error_sleep_usec);
                        (void) sd_event_source_set_enabled(s->timer, SD_EVENT_ONESHOT);
                        return 0;
                }
        }
}

static void update_events(SmtpSession *s) {
        uint32_t events = 0;

        if (s->state == SESSION_STARTTLS && s->tls) {
                /* The handshake: one direction at a time, as OpenSSL asks. */
                events = tls_conn_wants_write(s->tls) ? EPOLLOUT : EPOLLIN;
                (void) sd_event_source_set_io_events(s->io, events);
                return;
        }
        if (smtp_stream_has_output(&s->stream) && s->state != SESSION_SLEEP)
                events |= EPOLLOUT;
        if (IN_SET(s->state, SESSION_COMMAND, SESSION_DATA, SESSION_BDAT, SESSION_DISCARD) &&
            buf_pending(&s->stream.in) < SESSION_IN_MAX &&
            buf_pending(&s->stream.out) <= SESSION_OUT_HIGH && !s->stream.eof)
                events |= smtp_stream_read_wants_write(&s->stream) ? EPOLLOUT : EPOLLIN;
        (void) sd_event_source_set_io_events(s->io, events);
}

static void arm_timeout(SmtpSession *s) {
        if (s->state == SESSION_COMMIT || s->state == SESSION_SLEEP)
                return;
        if (s->state == SESSION_STARTTLS && s->tls)
                return;         /* smtpd_starttls_timeout runs from the handshake's start */
        (void) sd_event_source_set_time_relative(s->timer, s->settings->timeout_usec);
        (void) sd_event_source_set_enabled(s->timer, SD_EVENT_ONESHOT);
}

/* ---- TLS ---- */

/* The handshake is over: log it as Postfix does (smtpd_tls_loglevel >= 1), forget what the
 * client said before (RFC 3207 §4.2), and greet in wrapper mode. Returns < 0 when the session
 * is to end. */
static int tls_established(SmtpSession *s) {
        int r;

        s->tls_active = true;
        r = tls_conn_describe(s->tls, s->tls_desc, sizeof(s->tls_desc));
        if (r < 0)
                return r;
        log_struct(s->settings->tls_loglevel >= 1 ? LOG_INFO : LOG_DEBUG,
                   "TERN_CLIENT=%s", s->client, "TERN_TLS=%s", s->tls_desc,
                   LOG_MESSAGE("Anonymous TLS connection established from %s: %s", s->client,
                               s->tls_desc));

        s->helo = mfree(s->helo);
        s->esmtp = false;
        tx_reset(s);
        smtp_cmd_parser_reset(s->parser);
        s->state = SESSION_COMMAND;
        arm_timeout(s);
        if (s->tls_wrapper)
                return session_banner(s);
        return 0;
}

/* Puts TLS under the stream: the pipelined plain input goes, the handshake starts. */
static int tls_start(SmtpSession *s) {
        TlsConn *c;
        int r;

        r = tls_conn_new(s->settings->tls, s->fd, &c);
        if (r < 0)
                return r;
        r = smtp_stream_set_transport(&s->stream, &tls_transport, c);
        if (r < 0) {
                tls_conn_free(c);
                return r;
        }
        s->tls = c;
        smtp_cmd_parser_reset(s->parser);
        tx_reset(s);
        (void) sd_event_source_set_time_relative(s->timer, s->settings->starttls_timeout_usec);
        (void) sd_event_source_set_enabled(s->timer, SD_EVENT_ONESHOT);
        return 0;
}

/* Advances the handshake. Returns 0 (done or waiting), < 0 when the session is to end. */
static int tls_step(SmtpSession *s) {
        int r;

        r = tls_conn_handshake(s->tls);
        if (r == 0) {
                update_events(s);
                return 0;
        }
        if (r < 0) {
                log_struct(LOG_INFO, "TERN_CLIENT=%s", s->client,
                           LOG_MESSAGE("SSL_accept error from %s: %s", s->client,
                                       tls_conn_error(s->tls)[0] ? tls_conn_error(s->tls)
                                                                 : "lost connection"));
                s->last_verb = s->tls_wrapper ? "CONNECT" : "STARTTLS";
                return -ECONNRESET;     /* "lost connection after STARTTLS" */
        }
        r = tls_established(s);
        if (r < 0)
                return r;
        return session_run(s);
}

/* Works off buffered input, flushes replies, and sets what to wait for. Returns < 0 when the
 * session is over (-ECONNRESET for a normal end after QUIT). */
static int session_run(SmtpSession *s) {
        int r;

        for (;;) {
                ssize_t n;

                r = process_input(s);
                if (r < 0)
                        return r;
                /* Decrypted input the socket will not announce: take it now. */
                if (!IN_SET(s->state, SESSION_COMMAND, SESSION_DATA, SESSION_BDAT,
                            SESSION_DISCARD) ||
                    !smtp_stream_transport_pending(&s->stream) ||
                    buf_pending(&s->stream.in) >= SESSION_IN_MAX ||
                    buf_pending(&s->stream.out) > SESSION_OUT_HIGH)
                        break;
                n = smtp_stream_fill(&s->stream);
                if (n < 0 && n != -EAGAIN && n != -ENOBUFS)
                        return (int) n;
                if (n <= 0)
                        break;
        }
        if (s->state != SESSION_SLEEP) {
                r = smtp_stream_flush(&s->stream);
                if (r < 0)
                        return r;
        }
        if (s->state == SESSION_STARTTLS && !smtp_stream_has_output(&s->stream)) {
                /* The 220 is out (or, in wrapper mode, nothing was said): start TLS. */
                if (!s->tls) {
                        r = tls_start(s);
                        if (r < 0)
                                return r;
                }
                return tls_step(s);
        }
        if (s->state == SESSION_QUIT && !smtp_stream_has_output(&s->stream))
                return -ESHUTDOWN;
        if (s->stream.eof && s->state != SESSION_COMMIT)
                return -ECONNRESET;
        update_events(s);
        return 0;
}

static int on_client_io(sd_event_source *src, int fd, uint32_t revents, void *userdata) {
        SmtpSession *s = userdata;
        ssize_t n;
        int r = 0;

        (void) src;
        (void) fd;

        if (s->state == SESSION_STARTTLS && s->tls) {
                r = tls_step(s);
                if (r < 0)
                        session_end(s, r);
                return 0;
        }
        if ((revents & (EPOLLIN | EPOLLHUP | EPOLLERR)) ||
            ((revents & EPOLLOUT) && smtp_stream_read_wants_write(&s->stream))) {
                n = smtp_stream_fill(&s->stream);
                if (n > 0)
                        arm_timeout(s);
                else if (n < 0 && n != -EAGAIN && n != -ENOBUFS)
                        r = (int) n;
        }
        if (r >= 0)
                r = session_run(s);
        if (r < 0)
                session_end(s, r);
        return 0;
}

static int on_timer(sd_event_source *src, uint64_t usec, void *userdata) {
        SmtpSession *s = userdata;
        int r;

        (void) src;
        (void) usec;

        if (s->state == SESSION_SLEEP) {
                s->state = s->resume_state;
                r = session_run(s);
                if (r < 0)
                        session_end(s, r);
                return 0;
        }

        log_struct(LOG_INFO, "TERN_CLIENT=%s", s->client,
                   LOG_MESSAGE("timeout after %s from %s", s->last_verb ?: "CONNECT",
                               s->client));
        if (s->state == SESSION_STARTTLS && s->tls)
                s->state = SESSION_QUIT;        /* mid-handshake: nothing can be said */
        if (s->state != SESSION_QUIT) {
                s->state = SESSION_QUIT;
                if (reply(s, 421, "4.4.2", "%s Error: timeout exceeded",
                          s->settings->myhostname) >= 0)
                        (void) smtp_stream_flush(&s->stream);
        }
        session_end(s, -ETIMEDOUT);
        return 0;
}

/* ---- Life cycle ---- */

/* Ends the session after an error or the client's QUIT/EOF: logs, frees (or, with a commit in
 * flight, closes the socket and lets commit_done() free). */
static void session_end(SmtpSession *s, int reason) {
        if (reason == -ECONNRESET || reason == -EPIPE) {
                if (s->state != SESSION_QUIT && s->state != SESSION_COMMIT &&
                    (s->last_verb || s->tx_active))
                        log_struct(LOG_INFO, "TERN_CLIENT=%s", s->client,
                                   LOG_MESSAGE("lost connection after %s from %s",
                                               s->last_verb ?: "CONNECT", s->client));
        } else if (reason != -ESHUTDOWN && reason != -ETIMEDOUT)
                log_struct_errno(LOG_WARNING, reason, "TERN_CLIENT=%s", s->client,
                                 LOG_MESSAGE("session with %s ended: %m", s->client));

        if (s->state == SESSION_COMMIT) {
                log_disconnect(s, "disconnect");
                s->io = sd_event_source_disable_unref(s->io);
                s->timer = sd_event_source_disable_unref(s->timer);
                s->fd = safe_close(s->fd);
                s->dead = true;
                return;
        }
        log_disconnect(s, "disconnect");
        smtp_session_free(s);
}

void smtp_session_shutdown(SmtpSession *s) {
        s->shutdown = true;
        if (s->dead || IN_SET(s->state, SESSION_DATA, SESSION_BDAT, SESSION_COMMIT))
                return;         /* ends after the message's reply */
        if (s->state == SESSION_STARTTLS && s->tls) {
                session_end(s, -ESHUTDOWN);     /* mid-handshake: nothing can be said */
                return;
        }
        s->state = SESSION_QUIT;
        if (reply(s, 421, "4.3.2", "%s Service shutting down", s->settings->myhostname) < 0 ||
            session_run(s) < 0)
                session_end(s, -ESHUTDOWN);
}

SmtpSession *smtp_session_free(SmtpSession *s) {
        Server *srv;

        if (!s)
                return NULL;
        srv = s->srv;
        if (s->prev)
                s->prev->next = s->next;
        else if (srv->sessions == s)
                srv->sessions = s->next;
        if (s->next)
                s->next->prev = s->prev;
        srv->n_sessions--;
        if (s->counted)
                server_client_dec(srv, s->addr);

        tx_reset(s);
        s->io = sd_event_source_disable_unref(s->io);
        s->timer = sd_event_source_disable_unref(s->timer);
        smtp_stream_done(&s->stream);
        safe_close(s->fd);
        smtp_cmd_parser_free(s->parser);
        smtp_data_free(s->reader);
        dns_query_cancel(s->dns_query);
        free(s->name);
        free(s->reverse_name);
        free(s->helo);
        smtpd_settings_unref(s->settings);
        free(s);
        server_session_gone(srv);
        return NULL;
}

/* The peer's address as text, IPv4-mapped IPv6 shown as IPv4 (as Postfix does). */
static int peer_address(int fd, char ret[static INET6_ADDRSTRLEN], unsigned *ret_port) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);

        if (getpeername(fd, (struct sockaddr *) &ss, &len) < 0)
                return -errno;
        if (ss.ss_family == AF_INET) {
                struct sockaddr_in *in = (struct sockaddr_in *) &ss;

                inet_ntop(AF_INET, &in->sin_addr, ret, INET6_ADDRSTRLEN);
                *ret_port = ntohs(in->sin_port);
        } else if (ss.ss_family == AF_INET6) {
                struct sockaddr_in6 *in6 = (struct sockaddr_in6 *) &ss;

                if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
                        inet_ntop(AF_INET, &in6->sin6_addr.s6_addr[12], ret, INET6_ADDRSTRLEN);
                else
                        inet_ntop(AF_INET6, &in6->sin6_addr, ret, INET6_ADDRSTRLEN);
                *ret_port = ntohs(in6->sin6_port);
        } else {
                /* A unix socket (tests, local relays): Postfix calls it localhost. */
                snprintf(ret, INET6_ADDRSTRLEN, "127.0.0.1");
                *ret_port = 0;
        }
        return 0;
}

/* Whether the client is on one of this host's own addresses (permit_inet_interfaces): a
 * loopback address, or the address it connected to. */
static bool peer_is_local(int fd, const char *addr) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);
        char local[INET6_ADDRSTRLEN] = "";

        if (startswith(addr, "127.") || streq(addr, "::1"))
                return true;
        if (getsockname(fd, (struct sockaddr *) &ss, &len) < 0)
                return false;
        if (ss.ss_family == AF_INET)
                inet_ntop(AF_INET, &((struct sockaddr_in *) &ss)->sin_addr, local, sizeof(local));
        else if (ss.ss_family == AF_INET6)
                inet_ntop(AF_INET6, &((struct sockaddr_in6 *) &ss)->sin6_addr, local,
                          sizeof(local));
        return streq(local, addr);
}

int smtp_session_new(Server *srv, int fd, SmtpSession **ret) {
        SmtpdSettings *st = srv->settings;
        SmtpLimits limits = SMTP_LIMITS_RFC5321;
        SmtpSession *s;
        int r;

        s = calloc(1, sizeof(*s));
        if (!s) {
                safe_close(fd);
                return -ENOMEM;
        }
        s->srv = srv;
        s->fd = fd;
        s->settings = smtpd_settings_ref(st);
        s->state = SESSION_COMMAND;
        smtp_stream_init(&s->stream, fd, SESSION_IN_MAX, SMTP_IO_OUT_MAX);
        s->next = srv->sessions;
        if (s->next)
                s->next->prev = s;
        srv->sessions = s;
        srv->n_sessions++;

        r = peer_address(fd, s->addr, &s->port);
        if (r < 0)
                goto fail;
        /* "unknown" until a lookup verifies a name, as Postfix names a client whose name it
         * cannot verify or does not look up (smtpd_peername_lookup = no). */
        s->name = strdup("unknown");
        s->reverse_name = strdup("unknown");
        if (!s->name || !s->reverse_name) {
                r = -ENOMEM;
                goto fail;
        }
        s->name_status = s->reverse_status = DNS_NAME_NOT_FOUND;
        snprintf(s->client, sizeof(s->client), "%s[%s]", s->name, s->addr);

        r = match_list_address(st->mynetworks, s->addr);
        s->in_mynetworks = r > 0;
        r = match_list_address(st->bare_lf_exclusions, s->addr);
        s->bare_lf_excluded = r > 0;
        s->rewrite_headers = (st->header_rewrite & SMTPD_HEADER_REWRITE_ALL) ||
                             ((st->header_rewrite & SMTPD_HEADER_REWRITE_MYNETWORKS) &&
                              s->in_mynetworks) ||
                             ((st->header_rewrite & SMTPD_HEADER_REWRITE_INET_INTERFACES) &&
                              peer_is_local(fd, s->addr));

        r = smtp_cmd_parser_new(&limits, &s->parser);
        if (r < 0)
                goto fail;
        r = sd_event_add_io(srv->event, &s->io, fd, EPOLLIN, on_client_io, s);
        if (r < 0)
                goto fail;
        r = sd_event_add_time_relative(srv->event, &s->timer, CLOCK_MONOTONIC, st->timeout_usec,
                                       /* accuracy= */ 0, on_timer, s);
        if (r < 0)
                goto fail;

        if (server_peername_lookup(srv)) {
                r = dns_client_name_lookup(srv->dns, s->addr, on_client_name, s, &s->dns_query);
                if (r >= 0) {
                        s->state = SESSION_RESOLVING;
                        (void) sd_event_source_set_io_events(s->io, 0);
                        if (ret)
                                *ret = s;
                        return 0;
                }
                log_warning_errno(r, "cannot look up the name of %s, ignoring: %m", s->addr);
        }
        r = session_greet(s);
        if (r < 0)
                return r;
        if (ret)
                *ret = s;
        return 0;
fail:
        log_warning_errno(r, "cannot set up a session for %s, closing it: %m", s->client);
        smtp_session_free(s);
        return r;
}

/* Logs the connection and greets (or refuses) the client; in wrapper mode the handshake comes
 * first and session_banner() follows it. Returns 0, or < 0 when the session has been ended
 * and freed. */
static int session_greet(SmtpSession *s) {
        Server *srv = s->srv;
        int count, r;

        log_struct(LOG_INFO, "TERN_CLIENT=%s", s->client,
                   LOG_MESSAGE("connect from %s", s->client));

        count = server_client_inc(srv, s->addr);
        if (count < 0) {
                log_warning_errno(count, "cannot set up a session for %s, closing it: %m",
                                  s->client);
                smtp_session_free(s);
                return count;
        }
        s->counted = true;
        s->count = (unsigned) count;
        if (s->settings->tls_wrappermode) {
                s->tls_wrapper = true;
                s->state = SESSION_STARTTLS;
        } else {
                r = session_banner(s);
                if (r < 0) {
                        log_warning_errno(r, "cannot set up a session for %s, closing it: %m",
                                          s->client);
                        smtp_session_free(s);
                        return r;
                }
        }
        r = session_run(s);
        if (r < 0) {
                session_end(s, r);
                return r;
        }
        return 0;
}

/* Queues the 220 banner, or the 421 of smtpd_client_connection_count_limit. Returns 0 or
 * -ENOBUFS/-ENOMEM; the caller runs or ends the session. */
static int session_banner(SmtpSession *s) {
        SmtpdSettings *st = s->settings;

        if (st->connection_count_limit > 0 && s->count > st->connection_count_limit &&
            match_list_address(st->event_limit_exceptions, s->addr) <= 0) {
                log_struct(LOG_WARNING, "TERN_CLIENT=%s", s->client,
                           LOG_MESSAGE("Connection concurrency limit exceeded: %u from %s for "
                                       "service %s", s->count, s->client,
                                       smtpd_role_to_string(st->role)));
                s->state = SESSION_QUIT;
                return reply(s, 421, "4.7.0", "%s Error: too many connections from %s",
                             st->myhostname, s->addr);
        }
        return reply(s, 220, NULL, "%s", st->banner);
}

/* The end of the client name lookup: Postfix's warnings for names that do not verify, then the
 * greeting. Names from the resolver are valid lower-case host names (dns.h). */
static void on_client_name(DnsQuery *q, int r, DnsClientName *result, void *userdata) {
        _cleanup_(dns_client_name_freep) DnsClientName *n = result;
        SmtpSession *s = userdata;

        (void) q;
        s->dns_query = NULL;            /* finished: dns frees it */
        s->state = SESSION_COMMAND;
        if (r < 0)
                log_warning_errno(r, "cannot look up the name of %s, ignoring: %m", s->addr);
        else {
                if (n->name_status == DNS_NAME_FORGED && n->error == -EADDRNOTAVAIL)
                        log_warning("hostname %s does not resolve to address %s",
                                    n->reverse_name, s->addr);
                else if (n->name_status == DNS_NAME_FORGED)
                        log_warning_errno(n->error, "hostname %s does not resolve to address %s: "
                                          "%m", n->reverse_name, s->addr);
                else if (n->name_status == DNS_NAME_TEMPFAIL &&
                         n->reverse_status == DNS_NAME_OK)
                        log_warning_errno(n->error, "%s: hostname %s verification failed: %m",
                                          s->addr, n->reverse_name);
                else if (n->reverse_status == DNS_NAME_TEMPFAIL)
                        log_warning_errno(n->error, "%s: reverse lookup failed temporarily: %m",
                                          s->addr);
                else if (n->reverse_status == DNS_NAME_NOT_FOUND && n->error == -EBADMSG)
                        log_warning("%s: the PTR record is not a valid host name", s->addr);

                free(s->name);
                s->name = TAKE_PTR(n->name);
                free(s->reverse_name);
                s->reverse_name = TAKE_PTR(n->reverse_name);
                s->name_status = n->name_status;
                s->reverse_status = n->reverse_status;
                snprintf(s->client, sizeof(s->client), "%s[%s]", s->name, s->addr);
        }
        (void) sd_event_source_set_io_events(s->io, EPOLLIN);
        (void) session_greet(s);
}
