/* SPDX-License-Identifier: GPL-3.0-or-later */
/* bounce: delivery status notifications (RFC 3464 multipart/report) with Postfix's template
 * wording, composed from a queue file and enqueued through cleanup. See bounce.h for the
 * layout of a notice, who receives it, and what is trusted. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "addr.h"
#include "bounce.h"
#include "cleanup.h"
#include "dsn.h"
#include "smtp_data.h"

/* Bytes read from the queue file at a time. */
#define READ_CHUNK 4096U

static const char *const kind_table[_BOUNCE_KIND_MAX] = {
        [BOUNCE_FAILURE] = "failure",
        [BOUNCE_DELAY] = "delay",
        [BOUNCE_SUCCESS] = "success",
};

const char *bounce_kind_to_string(BounceKind k) {
        if (k < 0 || k >= _BOUNCE_KIND_MAX)
                return NULL;
        return kind_table[k];
}

BounceKind bounce_kind_from_string(const char *s) {
        if (!s)
                return _BOUNCE_KIND_INVALID;
        for (BounceKind k = 0; k < _BOUNCE_KIND_MAX; k++)
                if (streq(s, kind_table[k]))
                        return k;
        return _BOUNCE_KIND_INVALID;
}

/* Who a notice goes to. */
typedef enum Target {
        TARGET_SENDER,                  /* the original sender */
        TARGET_DOUBLE,                  /* 2bounce_notice_recipient: bounce of a bounce */
        TARGET_COPY,                    /* notify_classes copy to the postmaster */
} Target;

/* Per kind: Postfix's default template (bounce(5), "postconf -t"). */
static const struct {
        const char *subject;
        const char *postmaster_subject;
        const char *description;        /* of the returned message part */
        const char *action;             /* default Action: */
        const char *status;             /* default Status: */
} kind_info[_BOUNCE_KIND_MAX] = {
        [BOUNCE_FAILURE] = { "Undelivered Mail Returned to Sender",
                             "Postmaster Copy: Undelivered Mail", "Undelivered Message",
                             "failed", "5.0.0" },
        [BOUNCE_DELAY] = { "Delayed Mail (still being retried)",
                           "Postmaster Warning: Delayed Mail", "Delayed Message",
                           "delayed", "4.0.0" },
        [BOUNCE_SUCCESS] = { "Successful Mail Delivery Report", NULL, "Delivered Message",
                             "delivered", "2.0.0" },
};

/* ---- Settings ---- */

static int load_error(char **ret_error, int r, const char *name) {
        if (ret_error && asprintf(ret_error, "parameter %s: %s", name,
                                  r == -EINVAL ? "bad value" : strerror(-r)) < 0)
                *ret_error = NULL;
        return r;
}

int bounce_settings_load(Config *c, BounceSettings *ret, char **ret_error) {
        static const struct {
                const char *name;
                size_t offset;
        } strings[] = {
                { "mail_name", offsetof(BounceSettings, mail_name) },
                { "mydomain", offsetof(BounceSettings, mydomain) },
                { "myorigin", offsetof(BounceSettings, myorigin) },
                { "bounce_notice_recipient", offsetof(BounceSettings, bounce_notice_recipient) },
                { "delay_notice_recipient", offsetof(BounceSettings, delay_notice_recipient) },
                { "2bounce_notice_recipient",
                  offsetof(BounceSettings, double_bounce_notice_recipient) },
        };
        static const struct {
                const char *name;
                size_t offset;
        } times[] = {
                { "delay_warning_time", offsetof(BounceSettings, delay_warning_time) },
                { "maximal_queue_lifetime", offsetof(BounceSettings, maximal_queue_lifetime) },
        };
        _cleanup_strv_free_ char **classes = NULL;
        BounceSettings s = {};
        int r;

        assert(c);
        assert(ret);

        s.myhostname = config_get(c, "myhostname");
        if (isempty(s.myhostname))
                return load_error(ret_error, -EINVAL, "myhostname");
        s.double_bounce_sender = config_get(c, "double_bounce_sender");
        if (isempty(s.double_bounce_sender))
                return load_error(ret_error, -EINVAL, "double_bounce_sender");
        for (size_t i = 0; i < ELEMENTSOF(strings); i++) {
                const char *v = config_get(c, strings[i].name);

                if (!v)
                        return load_error(ret_error, -EINVAL, strings[i].name);
                *(const char **) ((char *) &s + strings[i].offset) = v;
        }
        for (size_t i = 0; i < ELEMENTSOF(times); i++) {
                r = config_get_time(c, times[i].name,
                                    (uint64_t *) ((char *) &s + times[i].offset));
                if (r < 0)
                        return load_error(ret_error, r, times[i].name);
        }
        r = config_get_size(c, "bounce_size_limit", &s.bounce_size_limit);
        if (r < 0)
                return load_error(ret_error, r, "bounce_size_limit");

        r = config_get_list(c, "notify_classes", &classes);
        if (r < 0)
                return load_error(ret_error, r, "notify_classes");
        for (char **i = classes; *i; i++) {
                /* postconf(5): "bounce (also implies 2bounce)". Other classes (resource,
                 * software, policy, protocol, data) are not about notices. */
                if (strcasecmp(*i, "bounce") == 0)
                        s.notify_bounce = s.notify_2bounce = true;
                else if (strcasecmp(*i, "2bounce") == 0)
                        s.notify_2bounce = true;
                else if (strcasecmp(*i, "delay") == 0)
                        s.notify_delay = true;
        }

        *ret = s;
        return 0;
}

static const char *origin(const BounceSettings *s) {
        return isempty(s->myorigin) ? s->myhostname : s->myorigin;
}

bool bounce_sender_is_double_bounce(const BounceSettings *s, const char *sender) {
        const char *at;
        size_t n;

        assert(s);

        if (isempty(sender) || isempty(s->double_bounce_sender))
                return false;
        if (strcasecmp(sender, s->double_bounce_sender) == 0)
                return true;
        at = strrchr(sender, '@');
        if (!at)
                return false;
        n = strlen(s->double_bounce_sender);
        if ((size_t) (at - sender) != n || strncasecmp(sender, s->double_bounce_sender, n) != 0)
                return false;
        return strcasecmp(at + 1, origin(s)) == 0 ||
               (s->myhostname && strcasecmp(at + 1, s->myhostname) == 0);
}

/* Which notice is due for a message from sender: a Target, or -ENOMSG. */
static int route(const BounceSettings *s, BounceKind kind, const char *sender) {
        if (bounce_sender_is_double_bounce(s, sender))
                return -ENOMSG;                 /* ends bounce loops */
        if (!isempty(sender))
                return TARGET_SENDER;
        if (kind == BOUNCE_SUCCESS || !s->notify_2bounce)
                return -ENOMSG;
        return TARGET_DOUBLE;
}

/* The postmaster copy's recipient, or NULL when none is due. */
static const char *copy_recipient(const BounceSettings *s, BounceKind kind, const char *sender) {
        const char *to;

        if (kind == BOUNCE_FAILURE && s->notify_bounce)
                to = s->bounce_notice_recipient;
        else if (kind == BOUNCE_DELAY && s->notify_delay)
                to = s->delay_notice_recipient;
        else
                return NULL;
        if (isempty(to) || isempty(sender) || bounce_sender_is_double_bounce(s, sender))
                return NULL;
        /* Postfix sends no copy to the postmaster of the postmaster's own mail. */
        if (strcasecmp(sender, to) == 0)
                return NULL;
        return to;
}

/* address, with "@myorigin" when it has no domain. */
static int qualify(const BounceSettings *s, const char *address, char **ret) {
        char *q;

        if (strchr(address, '@'))
                q = strdup(address);
        else if (asprintf(&q, "%s@%s", address, origin(s)) < 0)
                q = NULL;
        if (!q)
                return -ENOMEM;
        *ret = q;
        return 0;
}

/* ---- Text helpers ---- */

/* Untrusted text on a line of the notice: control bytes become spaces, so that nothing can
 * end a header or a line early. */
static int append_clean(Buf *b, const char *s) {
        int r;

        for (; *s; s++) {
                char ch = (unsigned char) *s < 32 || *s == 127 ? ' ' : *s;

                r = buf_append_char(b, ch);
                if (r < 0)
                        return r;
        }
        return 0;
}

static bool has_8bit(const char *p, size_t n) {
        for (size_t i = 0; i < n; i++)
                if ((unsigned char) p[i] >= 0x80)
                        return true;
        return false;
}

static bool str_has_8bit(const char *s) {
        return s && has_8bit(s, strlen(s));
}

/* Appends text as lines of at most width bytes where spaces allow, each ending in LF;
 * continuation lines begin with indent spaces (Postfix's line_wrap()). A word longer than a
 * line stays whole. */
static int append_wrapped(Buf *out, const char *text, size_t width, size_t indent) {
        const char *p = text;
        size_t lead = 0;
        int r;

        assert(width > indent);

        for (;;) {
                size_t room = width - lead, len = strlen(p), cut = 0, end;

                if (len <= room)
                        cut = end = len;
                else {
                        for (size_t i = room; i > 0; i--)
                                if (p[i] == ' ') {
                                        cut = i;
                                        break;
                                }
                        if (cut == 0) {
                                const char *sp = strchr(p + room, ' ');

                                cut = sp ? (size_t) (sp - p) : len;
                        }
                        end = cut;
                        while (end > 0 && p[end - 1] == ' ')
                                end--;
                }
                r = buf_printf(out, "%*s", (int) lead, "");
                if (r < 0)
                        return r;
                r = buf_append(out, p, end);
                if (r < 0)
                        return r;
                r = buf_append_char(out, '\n');
                if (r < 0)
                        return r;
                p += cut;
                while (*p == ' ')
                        p++;
                if (!*p)
                        return 0;
                lead = indent;
        }
}

/* "name: value" with the value cleaned and folded. */
static int append_field_wrapped(Buf *out, const char *name, const char *prefix,
                                const char *value) {
        _cleanup_(buf_done) Buf line = BUF_INIT(BUF_MAX_UNBOUNDED);
        int r;

        r = buf_printf(&line, "%s: %s", name, prefix);
        if (r < 0)
                return r;
        r = append_clean(&line, value);
        if (r < 0)
                return r;
        return append_wrapped(out, buf_peek(&line), BOUNCE_LINE_LENGTH, BOUNCE_LINE_INDENT);
}

/* An address for a header: the local part quoted when it needs it (addr.h), cleaned. */
static int append_header_address(Buf *out, const char *address) {
        _cleanup_free_ char *local = NULL, *quoted = NULL;
        const char *at = strrchr(address, '@');
        int r;

        local = at ? strndup(address, at - address) : strdup(address);
        if (!local)
                return -ENOMEM;
        r = addr_local_quote(local, &quoted);
        if (r < 0)
                return r;
        r = append_clean(out, quoted);
        if (r < 0)
                return r;
        return at ? append_clean(out, at) : 0;
}

/* An ORCPT "type;xtext" for Original-Recipient (RFC 3464 §2.3.1): xtext decoded where it
 * yields printable ASCII; anything else is kept encoded so that it stays on one line. */
static int append_orcpt(Buf *out, const char *orcpt) {
        static const char hex[] = "0123456789ABCDEF";
        const char *semi = strchr(orcpt, ';');
        int r;

        if (!semi)
                r = buf_append_str(out, "rfc822;");
        else {
                r = buf_append(out, orcpt, semi - orcpt + 1);
                orcpt = semi + 1;
        }
        if (r < 0)
                return r;
        for (const char *p = orcpt; *p; p++) {
                const char *h1, *h2;
                char ch = *p;

                if (ch == '+' && p[1] && p[2] && (h1 = strchr(hex, p[1])) &&
                    (h2 = strchr(hex, p[2]))) {
                        char d = (char) ((h1 - hex) << 4 | (h2 - hex));

                        if (d > 32 && d < 127) {
                                ch = d;
                                p += 2;
                        }
                }
                if ((unsigned char) ch < 32 || ch == 127)
                        ch = ' ';
                r = buf_append_char(out, ch);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int append_date(Buf *out, const char *name, uint64_t usec) {
        int r;

        r = buf_printf(out, "%s: ", name);
        if (r < 0)
                return r;
        r = cleanup_format_date((int64_t) (usec / 1000000), out);
        if (r < 0)
                return r;
        return buf_append_char(out, '\n');
}

/* ---- The returned message ---- */

/* Reads the content of f into msg: the whole content when !headers_only, else the header
 * section (up to and including the LF before the first empty line). The result ends with LF
 * when it is not empty. */
static int read_original(QueueFile *f, bool headers_only, Buf *msg) {
        uint64_t size = f->envelope->content_size, pos = 0;
        char chunk[READ_CHUNK];
        int r;

        while (pos < size) {
                size_t before = buf_pending(msg);
                ssize_t k;

                k = queue_file_read_content(f, pos, chunk, sizeof(chunk));
                if (k < 0)
                        return (int) k;
                if (k == 0)
                        return -EBADMSG;        /* shorter than the envelope says */
                r = buf_append(msg, chunk, (size_t) k);
                if (r < 0)
                        return r;
                pos += (uint64_t) k;

                if (headers_only) {
                        const char *d = buf_peek(msg);
                        size_t from = before > 0 ? before - 1 : 0;
                        const char *end;

                        if (d[0] == '\n') {     /* no header at all */
                                buf_clear(msg);
                                return 0;
                        }
                        end = memmem(d + from, buf_pending(msg) - from, "\n\n", 2);
                        if (end) {
                                msg->len = msg->off + (size_t) (end - d) + 1;
                                msg->data[msg->len] = '\0';
                                return 0;
                        }
                }
        }
        if (buf_pending(msg) > 0 && buf_peek(msg)[buf_pending(msg) - 1] != '\n')
                return buf_append_char(msg, '\n');
        return 0;
}

/* ---- Composition ---- */

static const char template_failure[] =
        "I'm sorry to have to inform you that your message could not\n"
        "be delivered to one or more recipients. It's attached below.\n"
        "\n";
static const char template_delay[] =
        "####################################################################\n"
        "# THIS IS A WARNING ONLY.  YOU DO NOT NEED TO RESEND YOUR MESSAGE. #\n"
        "####################################################################\n"
        "\n"
        "Your message could not be delivered for more than %" PRIu64 " hour(s).\n"
        "It will be retried until it is %" PRIu64 " day(s) old.\n"
        "\n";
static const char template_success[] =
        "Your message was successfully delivered to the destination(s)\n"
        "listed below. If the message was delivered to mailbox you will\n"
        "receive no further notifications. Otherwise you may still receive\n"
        "notifications of mail delivery errors from other systems.\n"
        "\n";
static const char template_contact[] =
        "For further assistance, please send mail to postmaster.\n"
        "\n"
        "If you do so, please include this problem report. You can\n"
        "delete your own text from the attached returned message.\n"
        "\n";

/* Postfix's default templates (bounce(5)) with $myhostname, $delay_warning_time_hours and
 * $maximal_queue_lifetime_days (whole units, rounded down, as Postfix computes them). */
static int append_template(const BounceSettings *s, BounceKind kind, Buf *out) {
        int r;

        r = buf_printf(out, "This is the mail system at host %s.\n\n", s->myhostname);
        if (r < 0)
                return r;
        if (kind == BOUNCE_FAILURE)
                r = buf_append_str(out, template_failure);
        else if (kind == BOUNCE_DELAY)
                r = buf_printf(out, template_delay, s->delay_warning_time / 3600,
                               s->maximal_queue_lifetime / 86400);
        else
                r = buf_append_str(out, template_success);
        if (r >= 0 && kind != BOUNCE_SUCCESS)
                r = buf_append_str(out, template_contact);
        if (r < 0)
                return r;
        return buf_append_str(out, "                   The mail system\n");
}

static const char *rcpt_action(BounceKind kind, const BounceRecipient *r) {
        if (r->action && (streq(r->action, "failed") || streq(r->action, "delayed") ||
                          streq(r->action, "delivered") || streq(r->action, "relayed") ||
                          streq(r->action, "expanded")))
                return r->action;
        return kind_info[kind].action;
}

static const char *rcpt_status(BounceKind kind, const BounceRecipient *r) {
        if (r->dsn && dsn_status_is_valid(r->dsn))
                return r->dsn;
        return kind_info[kind].status;
}

/* A diagnostic that starts with its own type ("smtp; 550 ...", "X-Unix; ..."): an atom of
 * letters, digits and '-', then ';'. Any other text ("no mail; go away") gets tern's type. */
static bool has_diagnostic_type(const char *s) {
        size_t n = strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-");

        return n > 0 && s[n + strspn(s + n, " ")] == ';';
}

static bool rcpt_was_expanded(const BounceRecipient *r) {
        return !isempty(r->original) && strcasecmp(r->original, r->address) != 0;
}

/* "<rcpt>: reason" (RFC 3464 leaves the human part free; these are Postfix's lines). */
static int append_rcpt_text(BounceKind kind, const BounceRecipient *r, Buf *out) {
        _cleanup_(buf_done) Buf line = BUF_INIT(BUF_MAX_UNBOUNDED);
        const char *reason = r->reason ?: r->diagnostic ?: rcpt_action(kind, r);
        int rr;

        rr = buf_append_char(&line, '<');
        if (rr >= 0)
                rr = append_clean(&line, r->address);
        if (rr >= 0)
                rr = buf_append_char(&line, '>');
        if (rr >= 0 && rcpt_was_expanded(r)) {
                rr = buf_append_str(&line, " (expanded from <");
                if (rr >= 0)
                        rr = append_clean(&line, r->original);
                if (rr >= 0)
                        rr = buf_append_str(&line, ">)");
        }
        if (rr >= 0)
                rr = buf_append_str(&line, ": ");
        if (rr >= 0)
                rr = append_clean(&line, reason);
        if (rr < 0)
                return rr;
        return append_wrapped(out, buf_peek(&line), BOUNCE_LINE_LENGTH, BOUNCE_LINE_INDENT);
}

/* One per-recipient group of the delivery-status part (RFC 3464 §2.3). */
static int append_rcpt_dsn(BounceKind kind, const QueueEnvelope *env,
                           const BounceSettings *s, const BounceRecipient *r, Buf *out) {
        int rr;

        rr = append_field_wrapped(out, "Final-Recipient", "rfc822; ", r->address);
        if (rr < 0)
                return rr;
        if (!isempty(r->orcpt)) {
                rr = buf_append_str(out, "Original-Recipient: ");
                if (rr >= 0)
                        rr = append_orcpt(out, r->orcpt);
                if (rr >= 0)
                        rr = buf_append_char(out, '\n');
        } else if (rcpt_was_expanded(r))
                rr = append_field_wrapped(out, "Original-Recipient", "rfc822; ", r->original);
        if (rr < 0)
                return rr;
        rr = buf_printf(out, "Action: %s\nStatus: %s\n", rcpt_action(kind, r),
                        rcpt_status(kind, r));
        if (rr < 0)
                return rr;
        if (!isempty(r->remote_mta)) {
                rr = append_field_wrapped(out, "Remote-MTA", "dns; ", r->remote_mta);
                if (rr < 0)
                        return rr;
        }
        if (!isempty(r->diagnostic)) {
                /* RFC 3464 §2.3.6: "diagnostic-type ; *text"; a bare text gets tern's type. */
                rr = append_field_wrapped(out, "Diagnostic-Code",
                                          has_diagnostic_type(r->diagnostic) ? "" : "X-Tern; ",
                                          r->diagnostic);
                if (rr < 0)
                        return rr;
        }
        if (kind == BOUNCE_DELAY && streq(rcpt_action(kind, r), "delayed")) {
                rr = append_date(out, "Will-Retry-Until",
                                 env->arrival_usec + s->maximal_queue_lifetime * 1000000);
                if (rr < 0)
                        return rr;
        }
        return 0;
}

/* A boundary that does not occur in the returned content: Postfix's "QUEUEID.TIME/HOST", with
 * a counter appended while it does. */
static int make_boundary(const QueueFile *f, const BounceSettings *s, uint64_t now_usec,
                         const Buf *msg, char **ret) {
        for (unsigned i = 0;; i++) {
                _cleanup_free_ char *b = NULL;
                int r;

                r = i == 0 ? asprintf(&b, "%s.%" PRIu64 "/%s", f->id, now_usec / 1000000,
                                      s->myhostname)
                           : asprintf(&b, "%s.%" PRIu64 ".%u/%s", f->id, now_usec / 1000000, i,
                                      s->myhostname);
                if (r < 0)
                        return -ENOMEM;
                if (!memmem(buf_peek(msg), buf_pending(msg), b, strlen(b))) {
                        *ret = TAKE_PTR(b);
                        return 0;
                }
        }
}

static int compose(const BounceSettings *s, BounceKind kind, Target target, QueueFile *f,
                   const BounceRecipient *rcpts, size_t n, uint64_t now_usec, const char *to,
                   Buf *out) {
        _cleanup_(buf_done) Buf msg = BUF_INIT(BUF_MAX_UNBOUNDED);
        _cleanup_free_ char *boundary = NULL;
        const QueueEnvelope *env = f->envelope;
        bool headers_only, eight_bit, text_8bit = false;
        const char *subject;
        time_t secs = (time_t) (now_usec / 1000000);
        struct tm tm;
        int r;

        /* What goes back (bounce.h): the message for failures unless RET=HDRS or it is
         * larger than bounce_size_limit (Postfix >= 2.5); headers only otherwise. */
        if (kind != BOUNCE_FAILURE || target == TARGET_COPY)
                headers_only = true;
        else if (target == TARGET_SENDER && env->ret == QUEUE_RET_HDRS)
                headers_only = true;
        else
                headers_only = env->content_size > s->bounce_size_limit;
        r = read_original(f, headers_only, &msg);
        if (r < 0)
                return r;

        for (size_t i = 0; i < n; i++)
                text_8bit = text_8bit || str_has_8bit(rcpts[i].address) ||
                            str_has_8bit(rcpts[i].original) || str_has_8bit(rcpts[i].reason) ||
                            str_has_8bit(rcpts[i].diagnostic);
        eight_bit = text_8bit || has_8bit(buf_peek(&msg), buf_pending(&msg)) ||
                    str_has_8bit(env->sender) || str_has_8bit(env->envid) ||
                    str_has_8bit(to);
        for (size_t i = 0; i < n && !eight_bit; i++)
                eight_bit = str_has_8bit(rcpts[i].orcpt) || str_has_8bit(rcpts[i].remote_mta);

        r = make_boundary(f, s, now_usec, &msg, &boundary);
        if (r < 0)
                return r;

        /* The message header. cleanup adds Received: in front of it. */
        subject = target == TARGET_SENDER ? kind_info[kind].subject
                                          : kind_info[kind].postmaster_subject;
        r = append_date(out, "Date", now_usec);
        if (r < 0)
                return r;
        r = buf_printf(out, "From: MAILER-DAEMON@%s (Mail Delivery System)\n"
                            "Subject: %s\n"
                            "To: ",
                       s->myhostname, subject);
        if (r < 0)
                return r;
        r = append_header_address(out, to);
        if (r < 0)
                return r;
        /* RFC 3834 §5: replies are auto-replied, notices of our own making auto-generated. */
        if (!gmtime_r(&secs, &tm))
                return -EINVAL;
        r = buf_printf(out, "\nAuto-Submitted: %s\n"
                            "MIME-Version: 1.0\n"
                            "Content-Type: multipart/report; report-type=delivery-status;\n"
                            "\tboundary=\"%s\"\n"
                            "Content-Transfer-Encoding: %s\n"
                            "Message-Id: <%04d%02d%02d%02d%02d%02d.%06" PRIu64 ".%s.%s%c@%s>\n"
                            "\n"
                            "This is a MIME-encapsulated message.\n"
                            "\n",
                       target == TARGET_SENDER ? "auto-replied" : "auto-generated", boundary,
                       eight_bit ? "8bit" : "7bit", tm.tm_year + 1900, tm.tm_mon + 1,
                       tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, now_usec % 1000000, f->id,
                       target == TARGET_COPY ? "P" : "", "FDS"[kind], s->myhostname);
        if (r < 0)
                return r;

        /* Part 1: the human-readable notification. */
        r = buf_printf(out, "--%s\n"
                            "Content-Description: Notification\n"
                            "Content-Type: text/plain; charset=%s\n"
                            "\n",
                       boundary, text_8bit ? "utf-8" : "us-ascii");
        if (r < 0)
                return r;
        r = append_template(s, kind, out);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                r = buf_append_char(out, '\n');
                if (r < 0)
                        return r;
                r = append_rcpt_text(kind, &rcpts[i], out);
                if (r < 0)
                        return r;
        }

        /* Part 2: RFC 3464 §2.2 per-message fields, §2.3 per-recipient fields. */
        r = buf_printf(out, "\n--%s\n"
                            "Content-Description: Delivery report\n"
                            "Content-Type: message/delivery-status\n"
                            "\n"
                            "Reporting-MTA: dns; %s\n",
                       boundary, s->myhostname);
        if (r < 0)
                return r;
        if (!isempty(env->envid)) {
                r = append_field_wrapped(out, "Original-Envelope-Id", "", env->envid);
                if (r < 0)
                        return r;
        }
        r = buf_printf(out, "X-Tern-Queue-ID: %s\n", f->id);
        if (r < 0)
                return r;
        r = append_field_wrapped(out, "X-Tern-Sender", "rfc822; ", strempty(env->sender));
        if (r < 0)
                return r;
        r = append_date(out, "Arrival-Date", env->arrival_usec);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                r = buf_append_char(out, '\n');
                if (r < 0)
                        return r;
                r = append_rcpt_dsn(kind, env, s, &rcpts[i], out);
                if (r < 0)
                        return r;
        }

        /* Part 3: the original message, or its header section. */
        r = buf_printf(out, "\n--%s\n"
                            "Content-Description: %s%s\n"
                            "Content-Type: %s\n",
                       boundary, kind_info[kind].description, headers_only ? " Headers" : "",
                       headers_only ? "text/rfc822-headers" : "message/rfc822");
        if (r < 0)
                return r;
        if (eight_bit) {
                r = buf_append_str(out, "Content-Transfer-Encoding: 8bit\n");
                if (r < 0)
                        return r;
        }
        r = buf_append_char(out, '\n');
        if (r < 0)
                return r;
        r = buf_append(out, buf_peek(&msg), buf_pending(&msg));
        if (r < 0)
                return r;
        return buf_printf(out, "\n--%s--\n", boundary);
}

static int check_args(const BounceSettings *s, BounceKind kind, QueueFile *f,
                      const BounceRecipient *r, size_t n) {
        assert(s);
        assert(f);
        assert(f->envelope);

        if (kind < 0 || kind >= _BOUNCE_KIND_MAX || n == 0 || !r || isempty(s->myhostname))
                return -EINVAL;
        for (size_t i = 0; i < n; i++)
                if (isempty(r[i].address))
                        return -EINVAL;
        return 0;
}

/* The notice of bounce_compose(): its target and envelope recipient (malloc'd). */
static int compose_notice(const BounceSettings *s, BounceKind kind, QueueFile *f,
                          const BounceRecipient *r, size_t n, uint64_t now_usec, Buf *out,
                          Target *ret_target, char **ret_to) {
        _cleanup_free_ char *to = NULL;
        const char *sender;
        int target, rr;

        rr = check_args(s, kind, f, r, n);
        if (rr < 0)
                return rr;
        sender = strempty(f->envelope->sender);
        target = route(s, kind, sender);
        if (target < 0)
                return target;
        if (target == TARGET_DOUBLE) {
                if (isempty(s->double_bounce_notice_recipient))
                        return -ENOMSG;
                rr = qualify(s, s->double_bounce_notice_recipient, &to);
        } else
                rr = (to = strdup(sender)) ? 0 : -ENOMEM;
        if (rr < 0)
                return rr;
        rr = compose(s, kind, target, f, r, n, now_usec, to, out);
        if (rr < 0)
                return rr;
        if (ret_target)
                *ret_target = target;
        if (ret_to)
                *ret_to = TAKE_PTR(to);
        return 0;
}

int bounce_compose(const BounceSettings *s, BounceKind kind, QueueFile *f,
                   const BounceRecipient *r, size_t n, uint64_t now_usec, Buf *out) {
        assert(out);
        return compose_notice(s, kind, f, r, n, now_usec, out, NULL, NULL);
}

static int compose_copy(const BounceSettings *s, BounceKind kind, QueueFile *f,
                        const BounceRecipient *r, size_t n, uint64_t now_usec, Buf *out,
                        char **ret_to) {
        _cleanup_free_ char *to = NULL;
        const char *rcpt;
        int rr;

        rr = check_args(s, kind, f, r, n);
        if (rr < 0)
                return rr;
        rcpt = copy_recipient(s, kind, strempty(f->envelope->sender));
        if (!rcpt)
                return -ENOMSG;
        rr = qualify(s, rcpt, &to);
        if (rr < 0)
                return rr;
        rr = compose(s, kind, TARGET_COPY, f, r, n, now_usec, to, out);
        if (rr < 0)
                return rr;
        if (ret_to)
                *ret_to = TAKE_PTR(to);
        return 0;
}

int bounce_compose_postmaster(const BounceSettings *s, BounceKind kind, QueueFile *f,
                              const BounceRecipient *r, size_t n, uint64_t now_usec, Buf *out) {
        assert(out);
        return compose_copy(s, kind, f, r, n, now_usec, out, NULL);
}

/* ---- Enqueueing ---- */

/* Feeds a composed notice to cleanup the way smtp_data would: header lines flagged HEADER,
 * the empty line that ends them BODY_START, the rest plain lines. */
static int feed(Cleanup *c, const char *p, size_t n) {
        bool header = true;

        while (n > 0) {
                const char *lf = memchr(p, '\n', n);
                size_t len = lf ? (size_t) (lf - p) : n;
                unsigned flags = 0;
                int r;

                if (header) {
                        if (len == 0)
                                header = false;
                        flags = header ? SMTP_DATA_PIECE_HEADER : SMTP_DATA_PIECE_BODY_START;
                }
                r = cleanup_emit(c, p, len, flags | (lf ? 0 : SMTP_DATA_PIECE_PARTIAL));
                if (r < 0)
                        return r;
                p += len + !!lf;
                n -= len + !!lf;
        }
        return 0;
}

static int enqueue_one(const BounceSettings *s, const char *sender, const char *rcpt,
                       const Buf *notice, int incoming_fd, uint64_t now_usec,
                       char ret_id[static QUEUE_ID_MAX + 1]) {
        _cleanup_(queue_envelope_freep) QueueEnvelope *env = NULL;
        _cleanup_(cleanup_freep) Cleanup *c = NULL;
        CleanupSettings cs = {
                .myhostname = s->myhostname,
                .myorigin = origin(s),
                .mail_name = isempty(s->mail_name) ? "tern" : s->mail_name,
        };
        int r;

        r = queue_envelope_new(&env);
        if (r < 0)
                return r;
        r = queue_envelope_set(env, QUEUE_FIELD_SENDER, sender);
        if (r < 0)
                return r;
        r = queue_envelope_add_rcpt(env, rcpt, /* orcpt= */ NULL, /* notify= */ 0);
        if (r < 0)
                return r;
        env->arrival_usec = now_usec;

        r = cleanup_new(&cs, incoming_fd, env, /* x= */ NULL, /* size_limit= */ 0, &c);
        if (r < 0)
                return r;
        r = feed(c, buf_peek(notice), buf_pending(notice));
        if (r < 0)
                return r;
        r = cleanup_end_content(c);
        if (r < 0)
                return r;
        r = queue_writer_finish(cleanup_writer(c));
        if (r < 0)
                return r;
        snprintf(ret_id, QUEUE_ID_MAX + 1, "%s", cleanup_queue_id(c));
        return 0;
}

int bounce_enqueue(const BounceSettings *s, BounceKind kind, QueueFile *f,
                   const BounceRecipient *r, size_t n, int incoming_fd, uint64_t now_usec,
                   char ret_id[static QUEUE_ID_MAX + 1]) {
        _cleanup_(buf_done) Buf notice = BUF_INIT(BUF_MAX_UNBOUNDED);
        _cleanup_(buf_done) Buf copy = BUF_INIT(BUF_MAX_UNBOUNDED);
        _cleanup_free_ char *to = NULL, *copy_to = NULL, *dbl = NULL;
        char id[QUEUE_ID_MAX + 1], copy_id[QUEUE_ID_MAX + 1];
        Target target;
        int rr;

        assert(ret_id);

        rr = compose_notice(s, kind, f, r, n, now_usec, &notice, &target, &to);
        if (rr == -ENOMSG) {
                ret_id[0] = '\0';
                return 0;
        }
        if (rr < 0)
                return rr;
        rr = qualify(s, s->double_bounce_sender, &dbl);
        if (rr < 0)
                return rr;

        rr = enqueue_one(s, target == TARGET_SENDER ? "" : dbl, to, &notice, incoming_fd,
                         now_usec, id);
        if (rr < 0)
                return rr;

        /* The copy is a courtesy to the postmaster: failing to enqueue it must not make the
         * caller retry, and send the sender's notice twice. */
        if (compose_copy(s, kind, f, r, n, now_usec, &copy, &copy_to) >= 0)
                (void) enqueue_one(s, dbl, copy_to, &copy, incoming_fd, now_usec, copy_id);

        memcpy(ret_id, id, sizeof(id));
        return 0;
}
