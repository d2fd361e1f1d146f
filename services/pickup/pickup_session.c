/* SPDX-License-Identifier: GPL-3.0-or-later */
/* pickup_session: one connection on the pickup socket (see pickup.h). The client is any local
 * user and untrusted: its bytes go through pickup_proto.h's bounded parser, the content
 * through smtp_data.h's reader (pickup turns the LF content into the DATA form the reader
 * takes: CRLF line ends, dot-stuffed) into the cleanup library, so a local message meets the
 * same limits and header handling as one from the network. Who submits is the peer's uid from
 * SO_PEERCRED; the sender it may use is checked against local_login_sender_maps. */
#include <ctype.h>
#include <pwd.h>
#include <string.h>
#include <sys/socket.h>
#include <sysexits.h>
#include <unistd.h>

#include "dsn.h"
#include "log.h"
#include "pickup.h"
#include "pickup_proto.h"
#include "rcpt_extract.h"
#include "showq.h"
#include "smtp_data.h"

#define PICKUP_RCPT_MAX 10000U
#define PICKUP_LIST_MAX ((size_t) 1 << 30)
#define PICKUP_HELD_MAX ((size_t) 256 << 20)

typedef struct Session {
        PickupSettings *s;
        int fd;
        uid_t uid;
        char *user;             /* login name of uid */
        char *gecos;            /* full name from passwd, or NULL */
        QueueDirs *dirs;
        QueueEnvelope *env;
        char *fullname;         /* -F */
        bool sender_given;
        bool extract;
        Cleanup *cleanup;
        SmtpDataReader *reader;
        Buf held;               /* -t: the content, until the recipients are known */
        bool at_line_start;
        Buf conv;               /* content turned into DATA form */
} Session;

static void session_done(Session *se) {
        se->reader = smtp_data_free(se->reader);
        se->cleanup = cleanup_free(se->cleanup);
        buf_done(&se->held);
        se->env = queue_envelope_free(se->env);
        se->dirs = queue_dirs_free(se->dirs);
        free(se->user);
        free(se->gecos);
        free(se->fullname);
        buf_done(&se->conv);
}

static int reply(Session *se, int status, const char *fmt, ...) _printf_(3, 4);
static int reply(Session *se, int status, const char *fmt, ...) {
        _cleanup_(buf_done) Buf b = BUF_INIT(BUF_MAX_UNBOUNDED);
        va_list ap;
        int r;

        r = status == 0 ? buf_append_str(&b, "ok ") : buf_printf(&b, "error %d ", status);
        if (r < 0)
                return r;
        va_start(ap, fmt);
        r = buf_vprintf(&b, fmt, ap);
        va_end(ap);
        if (r < 0)
                return r;
        /* One line: a reason never carries a line end to the client. */
        for (char *p = b.data + b.off; *p; p++)
                if (*p == '\n' || *p == '\r')
                        *p = ' ';
        r = buf_append_char(&b, '\n');
        if (r < 0)
                return r;
        return pickup_send(se->fd, buf_peek(&b), buf_pending(&b));
}

/* The passwd entry of the peer: its login name and the first field of its gecos, with '&'
 * standing for the capitalised login name (as Postfix reads gecos). */
static int lookup_user(Session *se) {
        _cleanup_free_ char *mem = NULL;
        struct passwd pw, *res = NULL;
        long sz = sysconf(_SC_GETPW_R_SIZE_MAX);
        size_t size = sz > 0 ? (size_t) sz : 16384;
        int r;

        mem = malloc(size);
        if (!mem)
                return -ENOMEM;
        r = getpwuid_r(se->uid, &pw, mem, size, &res);
        if (r != 0)
                return -r;
        if (!res)
                return -ESRCH;
        se->user = strdup(pw.pw_name);
        if (!se->user)
                return -ENOMEM;
        if (!isempty(pw.pw_gecos)) {
                _cleanup_(buf_done) Buf g = BUF_INIT(1024);
                size_t end = strcspn(pw.pw_gecos, ",");

                for (size_t i = 0; i < end && r >= 0; i++)
                        if (pw.pw_gecos[i] == '&') {
                                r = buf_append_char(&g, (char) toupper((unsigned char)
                                                                       pw.pw_name[0]));
                                if (r >= 0 && pw.pw_name[0])
                                        r = buf_append_str(&g, pw.pw_name + 1);
                        } else
                                r = buf_append_char(&g, pw.pw_gecos[i]);
                if (r >= 0 && buf_pending(&g) > 0)
                        se->gecos = buf_steal(&g);
        }
        return 0;
}

static int on_content(void *userdata, const char *p, size_t n, unsigned flags) {
        Session *se = userdata;

        return cleanup_emit(se->cleanup, p, n, flags);
}

/* The envelope is complete (the first data chunk or end came): create the queue file. */
static int message_begin(Session *se) {
        SmtpDataLimits limits = {
                .line_length_limit = se->s->line_length_limit,
                .header_size_limit = se->s->header_size_limit,
                .message_size_limit = se->s->message_size_limit,
                .bare_lf = SMTP_BARE_LF_NO,
        };
        CleanupExtra extra = {
                .local_uid = (long) se->uid,
                .local_full_name = se->fullname ? se->fullname : se->gecos,
        };
        int r;

        if (!se->sender_given) {
                r = queue_envelope_set(se->env, QUEUE_FIELD_SENDER, se->user);
                if (r < 0)
                        return r;
        }
        r = smtp_data_new(&limits, on_content, se, &se->reader);
        if (r < 0)
                return r;
        r = smtp_data_start(se->reader);
        if (r < 0)
                return r;
        r = queue_dirs_open(se->s->queue_directory, &se->dirs);
        if (r < 0)
                return r;
        r = cleanup_new(&se->s->cleanup, queue_dirs_fd(se->dirs, QUEUE_INCOMING), se->env,
                        &extra, se->s->message_size_limit, &se->cleanup);
        if (r < 0)
                return r;
        se->at_line_start = true;
        se->conv = BUF_INIT(BUF_MAX_UNBOUNDED);
        return 0;
}

static int feed_reader(Session *se) {
        const char *p = buf_peek(&se->conv);
        size_t n = buf_pending(&se->conv), used;
        int r;

        while (n > 0) {
                r = smtp_data_feed(se->reader, p, n, &used);
                if (r < 0)
                        return r;
                p += used;
                n -= used;
                if (r > 0)
                        break;
        }
        buf_clear(&se->conv);
        return 0;
}

/* Content bytes with LF line ends: into DATA form (RFC 5321 §4.5.2 dot-stuffing, CRLF). */
static int message_data(Session *se, const char *p, size_t n) {
        int r = 0;

        if (se->extract && !se->cleanup) {
                /* -t: the queue file needs its recipients first, so the message waits here,
                 * bounded by message_size_limit (or PICKUP_HELD_MAX). */
                r = buf_append(&se->held, p, n);
                return r == -ENOBUFS ? -EMSGSIZE : r;
        }

        for (size_t i = 0; i < n && r >= 0; i++) {
                if (se->at_line_start && p[i] == '.')
                        r = buf_append_char(&se->conv, '.');
                if (r < 0)
                        break;
                if (p[i] == '\n') {
                        r = buf_append(&se->conv, "\r\n", 2);
                        se->at_line_start = true;
                } else {
                        r = buf_append_char(&se->conv, p[i]);
                        se->at_line_start = false;
                }
        }
        if (r < 0)
                return r;
        return feed_reader(se);
}

/* Maps a failure to the client's exit status and reason. */
static int reply_error(Session *se, int error) {
        switch (error) {
        case -EMSGSIZE:
                return reply(se, EX_DATAERR, "message file too big");
        case -E2BIG:
                return reply(se, EX_DATAERR, "too many recipients");
        case -ELOOP:
                return reply(se, EX_DATAERR, "too many hops (mail forwarding loop?)");
        case -EDESTADDRREQ:
                return reply(se, EX_USAGE, "No recipient addresses found in message header");
        case -EINVAL:
                return reply(se, EX_DATAERR, "bad envelope: an address or value the queue "
                             "cannot carry");
        default:
                return reply(se, EX_TEMPFAIL, "%s", dsn_from_errno(error)->text);
        }
}

static int message_end(Session *se) {
        QueueWriter *w;
        const char *id, *msgid;
        int r;

        if (se->extract) {
                _cleanup_strv_free_ char **v = NULL;

                r = rcpt_extract_message(buf_peek(&se->held), buf_pending(&se->held),
                                         se->s->header_size_limit, PICKUP_RCPT_MAX, &v);
                if (r < 0)
                        return r;
                for (char **a = v; *a; a++) {
                        bool dup = false;

                        for (size_t i = 0; i < se->env->n_rcpts && !dup; i++)
                                dup = streq(se->env->rcpts[i].address, *a);
                        if (dup)
                                continue;
                        if (se->env->n_rcpts >= PICKUP_RCPT_MAX)
                                return -E2BIG;
                        r = queue_envelope_add_rcpt(se->env, *a, NULL, 0);
                        if (r < 0)
                                return r;
                }
                if (se->env->n_rcpts == 0)
                        return -EDESTADDRREQ;
        }
        if (!se->cleanup) {
                r = message_begin(se);
                if (r < 0)
                        return r;
        }
        if (se->extract && buf_pending(&se->held) > 0) {
                _cleanup_(buf_done) Buf held = se->held;

                se->held = BUF_INIT(0);
                r = message_data(se, buf_peek(&held), buf_pending(&held));
                if (r < 0)
                        return r;
        }
        if (!se->at_line_start)
                r = buf_append(&se->conv, "\r\n", 2);
        else
                r = 0;
        if (r >= 0)
                r = buf_append(&se->conv, ".\r\n", 3);
        if (r >= 0)
                r = feed_reader(se);
        if (r >= 0)
                r = smtp_data_result(se->reader);
        if (r >= 0)
                r = cleanup_end_content(se->cleanup);
        if (r < 0)
                return r;

        w = cleanup_writer(se->cleanup);
        r = queue_writer_finish(w);
        if (r < 0)
                return r;
        r = queue_dir_sync(se->dirs, QUEUE_INCOMING);
        if (r < 0)
                return r;

        id = cleanup_queue_id(se->cleanup);
        msgid = cleanup_message_id(se->cleanup);
        log_struct(LOG_INFO, "TERN_QUEUE_ID=%s", id,
                   LOG_MESSAGE("%s: uid=%u from=<%s>", id, (unsigned) se->uid,
                               se->env->sender));
        if (msgid)
                log_struct(LOG_INFO, "TERN_QUEUE_ID=%s", id, "TERN_MESSAGE_ID=%s", msgid,
                           LOG_MESSAGE("%s: message-id=%s", id, msgid));
        (void) queue_trigger_send(se->s->trigger_path, QUEUE_TRIGGER_INCOMING, NULL);
        return reply(se, 0, "%s", id);
}

static int do_list(Session *se) {
        _cleanup_(buf_done) Buf out = BUF_INIT(PICKUP_LIST_MAX);
        char head[64];
        int r;

        r = pickup_user_allowed(se->s->mailq_users, se->user);
        if (r < 0)
                return r;
        if (r == 0) {
                log_warning("uid=%u (%s): not allowed to list the queue "
                            "(authorized_mailq_users)", (unsigned) se->uid, se->user);
                return reply(se, EX_NOPERM, "User %s(%u) is not allowed to view the mail queue",
                             se->user, (unsigned) se->uid);
        }
        r = queue_dirs_open(se->s->queue_directory, &se->dirs);
        if (r < 0)
                return reply(se, EX_UNAVAILABLE, "cannot open the queue %s: %s",
                             se->s->queue_directory, strerror(-r));
        r = showq_format(se->dirs, /* json= */ false, &out);
        if (r < 0)
                return reply(se, EX_SOFTWARE, "cannot read the queue: %s", strerror(-r));
        snprintf(head, sizeof(head), "data %zu\n", buf_pending(&out));
        r = pickup_send(se->fd, head, strlen(head));
        if (r >= 0)
                r = pickup_send(se->fd, buf_peek(&out), buf_pending(&out));
        if (r >= 0)
                r = reply(se, 0, "%s", "");
        return r;
}

static int do_flush(Session *se) {
        int r;

        r = pickup_user_allowed(se->s->flush_users, se->user);
        if (r < 0)
                return r;
        if (r == 0)
                return reply(se, EX_NOPERM, "User %s(%u) is not allowed to flush the queue",
                             se->user, (unsigned) se->uid);
        r = queue_trigger_send(se->s->trigger_path, QUEUE_TRIGGER_FLUSH, NULL);
        if (r <= 0)
                return reply(se, EX_TEMPFAIL, "the queue manager is not running (%s)",
                             se->s->trigger_path);
        log_info("uid=%u: flush the deferred queue", (unsigned) se->uid);
        return reply(se, 0, "%s", "");
}

/* One envelope line or content chunk. Returns 0 to go on, 1 when answered, < 0 on errors
 * to answer with reply_error(). */
static int handle(Session *se, const PickupEvent *ev) {
        bool exempt = se->uid == 0 || se->uid == geteuid();
        int r;

        switch (ev->verb) {
        case PICKUP_LIST:
                r = do_list(se);
                return r < 0 ? r : 1;
        case PICKUP_FLUSH:
                r = do_flush(se);
                return r < 0 ? r : 1;
        case PICKUP_SUBMIT:
                r = pickup_user_allowed(se->s->submit_users, se->user);
                if (r < 0)
                        return r;
                if (r == 0) {
                        log_warning("uid=%u (%s): not allowed to submit mail "
                                    "(authorized_submit_users)", (unsigned) se->uid, se->user);
                        r = reply(se, EX_NOPERM, "User %s(%u) is not allowed to submit mail",
                                  se->user, (unsigned) se->uid);
                        return r < 0 ? r : 1;
                }
                return queue_envelope_new(&se->env);
        case PICKUP_SENDER: {
                const char *sender = ev->value ? ev->value : "";

                if (!exempt) {
                        r = pickup_sender_allowed(se->s, se->user, sender);
                        if (r < 0)
                                return r;
                        if (r == 0) {
                                log_warning("uid=%u (%s): not allowed to send mail as <%s> "
                                            "(local_login_sender_maps)", (unsigned) se->uid,
                                            se->user, sender);
                                r = reply(se, EX_NOPERM, "User %s(%u) is not allowed to send "
                                          "mail as %s", se->user, (unsigned) se->uid,
                                          isempty(sender) ? "<>" : sender);
                                return r < 0 ? r : 1;
                        }
                }
                se->sender_given = true;
                return queue_envelope_set(se->env, QUEUE_FIELD_SENDER, sender);
        }
        case PICKUP_FULLNAME:
                free(se->fullname);
                se->fullname = strdup(ev->value);
                return se->fullname ? 0 : -ENOMEM;
        case PICKUP_RCPT:
                if (se->env->n_rcpts >= PICKUP_RCPT_MAX)
                        return -E2BIG;
                return queue_envelope_add_rcpt(se->env, ev->value, NULL, ev->notify);
        case PICKUP_EXTRACT:
                se->extract = true;
                se->held = BUF_INIT(se->s->message_size_limit > 0 ?
                                    (size_t) MIN(se->s->message_size_limit,
                                                 (uint64_t) PICKUP_HELD_MAX)
                                    : PICKUP_HELD_MAX);
                return 0;
        case PICKUP_RET:
                se->env->ret = streq(ev->value, "FULL") ? QUEUE_RET_FULL : QUEUE_RET_HDRS;
                return 0;
        case PICKUP_ENVID:
                return queue_envelope_set(se->env, QUEUE_FIELD_ENVID, ev->value);
        case PICKUP_BODY:
                return queue_envelope_add_attr(se->env, "body", ev->value);
        case PICKUP_DATA:
                if (!se->cleanup && !se->extract) {
                        if (se->env->n_rcpts == 0)
                                return -EDESTADDRREQ;
                        r = message_begin(se);
                        if (r < 0)
                                return r;
                }
                return message_data(se, ev->value, ev->n);
        case PICKUP_END:
                if (se->env->n_rcpts == 0 && !se->extract)
                        return -EDESTADDRREQ;
                r = message_end(se);
                return r < 0 ? r : 1;
        default:
                return -EBADMSG;
        }
}

static int session_serve(Session *se) {
        _cleanup_(pickup_parser_freep) PickupParser *parser = NULL;
        char in[65536];
        int r;

        r = pickup_parser_new(&parser);
        if (r < 0)
                return r;
        for (;;) {
                ssize_t k = recv(se->fd, in, sizeof(in), 0);
                size_t off = 0;

                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return errno == EAGAIN ? -ETIMEDOUT : -errno;
                if (k == 0)
                        return -ECONNRESET;     /* the client gave up: nothing is queued */
                while (off < (size_t) k) {
                        PickupEvent ev;
                        size_t used;

                        r = pickup_parser_feed(parser, in + off, (size_t) k - off, &used, &ev);
                        off += used;
                        if (r < 0) {
                                (void) reply(se, EX_PROTOCOL, "protocol error: %s",
                                             strerror(-r));
                                return r;
                        }
                        if (r == 0)
                                break;
                        r = handle(se, &ev);
                        if (r > 0)
                                return 0;
                        if (r < 0) {
                                int q = reply_error(se, r);

                                if (!IN_SET(r, -EMSGSIZE, -E2BIG, -ELOOP, -EDESTADDRREQ,
                                            -EINVAL))
                                        log_warning_errno(r, "uid=%u: cannot queue the "
                                                          "message: %m", (unsigned) se->uid);
                                return q < 0 ? q : 0;
                        }
                }
        }
}

int pickup_session_run(PickupSettings *s, int fd, uid_t uid) {
        Session se = { .s = s, .fd = fd, .uid = uid };
        struct timeval tv = {
                .tv_sec = (time_t) (s->timeout_usec / 1000000),
                .tv_usec = (suseconds_t) (s->timeout_usec % 1000000),
        };
        int r;

        (void) setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        (void) setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));

        r = lookup_user(&se);
        if (r < 0) {
                log_warning_errno(r, "uid=%u: no login name for this user ID: %m",
                                  (unsigned) uid);
                r = reply(&se, EX_NOUSER, "no login name found for user ID %u",
                          (unsigned) uid);
                session_done(&se);
                return r;
        }
        r = session_serve(&se);
        session_done(&se);
        return r;
}
