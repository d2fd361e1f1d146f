/* SPDX-License-Identifier: GPL-3.0-or-later */
/* bounce: delivery status notifications (what Postfix's bounce(8), defer(8) and trace(8) daemons
 * send): non-delivery notices, delay warnings and success reports (DSN NOTIFY=SUCCESS) as RFC
 * 3464 multipart/report messages with Postfix's default template wording (bounce(5)), from
 * MAILER-DAEMON, and their enqueueing through the cleanup library. qmgr calls it when
 * recipients fail, stay deferred past delay_warning_time, or are delivered with
 * NOTIFY=SUCCESS; soft_bounce is qmgr's business, not this module's.
 *
 * A notice has three parts (RFC 3462 multipart/report; report-type=delivery-status):
 *   1. text/plain "Notification": the template text, then one "<rcpt>: reason" paragraph per
 *      recipient ("<rcpt> (expanded from <original>): reason" after aliasing), folded at 79
 *      columns with 4-space continuation lines as Postfix folds them;
 *   2. message/delivery-status "Delivery report" (RFC 3464 §2.2, §2.3): Reporting-MTA,
 *      Original-Envelope-Id (ENVID), X-Tern-Queue-ID, X-Tern-Sender, Arrival-Date, then per
 *      recipient Final-Recipient, Original-Recipient (ORCPT, else the pre-aliasing address),
 *      Action, Status, Remote-MTA, Diagnostic-Code, and Will-Retry-Until for delays;
 *   3. the original message: for failures, message/rfc822 when RET is not HDRS and the content
 *      is at most bounce_size_limit bytes, else text/rfc822-headers (the header section only),
 *      as Postfix >= 2.5 does; delay warnings, success reports and postmaster copies of bounces
 *      always carry the headers only (RFC 3461 §4.3: RET concerns failed DSNs).
 *
 * Who gets what (Postfix's rules, notify_classes):
 *   - the notice goes to the original sender, with the null sender;
 *   - a failure or delay notice about a message with the null sender (a bounce of a bounce)
 *     goes to 2bounce_notice_recipient, with sender double_bounce_sender@myorigin and the full
 *     message, when notify_classes has "2bounce" (or "bounce", which implies it); otherwise it
 *     is dropped, as Postfix drops it;
 *   - a notice about a message from double_bounce_sender (a double bounce that bounced) is
 *     dropped, which ends bounce loops; so is a success report to the null sender;
 *   - notify_classes "bounce" (failures) and "delay" (delays) add a headers-only copy to
 *     bounce_notice_recipient / delay_notice_recipient, from double_bounce_sender, unless the
 *     sender is that recipient already.
 *
 * Trust: the queue file (envelope and content) and every BounceRecipient string are untrusted
 * (remote servers write the diagnostics): control characters become spaces before they reach a
 * header or a line, 8-bit bytes make the notice "Content-Transfer-Encoding: 8bit", and the MIME
 * boundary is chosen so that it does not occur in the returned content. The settings are
 * trusted. Blocking file I/O; no logging (libshared is silent). */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "config.h"
#include "queue.h"

/* Postfix's line_wrap() parameters for the recipient paragraphs and Diagnostic-Code. */
#define BOUNCE_LINE_LENGTH 79U
#define BOUNCE_LINE_INDENT 4U
#define BOUNCE_SIZE_LIMIT_DEFAULT 50000U

typedef enum BounceKind {
        BOUNCE_FAILURE,                 /* "Undelivered Mail Returned to Sender" */
        BOUNCE_DELAY,                   /* "Delayed Mail (still being retried)" */
        BOUNCE_SUCCESS,                 /* "Successful Mail Delivery Report" */
        _BOUNCE_KIND_MAX,
        _BOUNCE_KIND_INVALID = -EINVAL,
} BounceKind;

/* "failure", "delay", "success"; NULL for an invalid value. */
const char *bounce_kind_to_string(BounceKind k);
/* The inverse; _BOUNCE_KIND_INVALID otherwise. */
BounceKind bounce_kind_from_string(const char *s);

/* One recipient of the notice. Strings are borrowed for the call. */
typedef struct BounceRecipient {
        const char *address;            /* final recipient; required */
        const char *orcpt;              /* "rfc822;addr" (xtext as received) or NULL */
        const char *original;           /* original recipient before aliasing, or NULL */
        const char *dsn;                /* "5.1.1"; NULL: 5.0.0, 4.0.0 or 2.0.0 by kind */
        const char *action;             /* "failed", "delayed", "delivered", "relayed",
                                         * "expanded"; NULL: by kind */
        const char *remote_mta;         /* "mx.example.com" or NULL */
        const char *diagnostic;         /* "smtp; 550 5.1.1 user unknown" or "x-unix; ..." or
                                         * NULL */
        const char *reason;             /* the human text: "host x said: ...", "unknown user";
                                         * NULL: the diagnostic, else the action */
} BounceRecipient;

/* From main.cf (bounce_settings_load()). Strings are borrowed: they must outlive every call
 * that takes the settings. */
typedef struct BounceSettings {
        const char *myhostname;         /* Reporting-MTA, From:, Message-Id, boundary; required */
        const char *mail_name;          /* Received: "(tern)"; NULL: "tern" */
        const char *mydomain;
        const char *myorigin;           /* qualifies double_bounce_sender and the postmaster
                                         * recipients; NULL or "": myhostname */
        uint64_t bounce_size_limit;     /* 50000 */
        uint64_t delay_warning_time;    /* seconds, for the delay notice text */
        uint64_t maximal_queue_lifetime;        /* seconds, idem, and Will-Retry-Until */
        const char *double_bounce_sender;       /* "double-bounce" */
        const char *bounce_notice_recipient;    /* "postmaster" */
        const char *delay_notice_recipient;     /* "postmaster" */
        const char *double_bounce_notice_recipient;     /* 2bounce_notice_recipient */
        bool notify_bounce;             /* notify_classes has "bounce" */
        bool notify_2bounce;            /* notify_classes has "2bounce" or "bounce" */
        bool notify_delay;              /* notify_classes has "delay" */
} BounceSettings;

/* Reads myhostname, mail_name, mydomain, myorigin, bounce_size_limit, delay_warning_time,
 * maximal_queue_lifetime, double_bounce_sender, bounce_notice_recipient,
 * delay_notice_recipient, 2bounce_notice_recipient and notify_classes from c. Strings point
 * into c (valid until c changes or is freed). Returns 0, or a negative errno with *ret_error
 * (malloc'd, optional) naming the parameter: -EINVAL for an empty myhostname or
 * double_bounce_sender, the typed getters' errors (-EBADMSG, -ERANGE, ...), -ENOMEM. */
int bounce_settings_load(Config *c, BounceSettings *ret, char **ret_error);

/* True when sender is the double-bounce address: double_bounce_sender alone, or with the
 * domain myorigin or myhostname (case-insensitive). Mail from it is never bounced. */
bool bounce_sender_is_double_bounce(const BounceSettings *s, const char *sender);

/* Composes the notice about the original message f (its envelope and content are read from the
 * queue file) for recipients r[0..n), addressed as the rules above say (the sender, or
 * 2bounce_notice_recipient for a message with the null sender): a complete RFC 5322 message
 * (Date:, From: MAILER-DAEMON@myhostname (Mail Delivery System), Subject:, To:,
 * Auto-Submitted: auto-replied (auto-generated to the postmaster), MIME-Version:, Content-Type:
 * multipart/report; report-type=delivery-status, Content-Transfer-Encoding:, Message-Id:, and
 * the three parts) appended to out with LF line ends. now_usec gives Date: (local time, as
 * cleanup writes it), Will-Retry-Until's base is the arrival time. The Message-Id
 * <YYYYMMDDHHMMSS.uuuuuu.QUEUEID.KIND@myhostname> (UTC, microseconds) is unique as long as
 * one message gets one notice of a kind per microsecond. Returns 0; -ENOMSG when no notice is
 * due (a double-bounce sender, the null sender without notify_2bounce, a success report to the
 * null sender), nothing appended then; -EINVAL for n == 0, a recipient without address, an
 * invalid kind or settings without myhostname; -EBADMSG when the content is shorter than the
 * envelope says; -errno from reading; Buf errors (-ENOBUFS, -ENOMEM). On error, out may hold a
 * partial notice: the caller discards it. */
int bounce_compose(const BounceSettings *s, BounceKind kind, QueueFile *f,
                   const BounceRecipient *r, size_t n, uint64_t now_usec, Buf *out);

/* Composes the notify_classes copy to the postmaster (bounce_notice_recipient for failures
 * with notify_bounce, delay_notice_recipient for delays with notify_delay): Subject:
 * "Postmaster Copy: Undelivered Mail" or "Postmaster Warning: Delayed Mail", headers only.
 * Returns as bounce_compose(); -ENOMSG when no copy is due (not asked for, a success report,
 * a null or double-bounce sender, or a sender that is the notice recipient). */
int bounce_compose_postmaster(const BounceSettings *s, BounceKind kind, QueueFile *f,
                              const BounceRecipient *r, size_t n, uint64_t now_usec, Buf *out);

/* Enqueues the notice of bounce_compose() through the cleanup library into incoming
 * (incoming_fd, not owned): a new queue file with sender "" (null) and the original sender as
 * its recipient, or, for a message with the null sender, sender double_bounce_sender@myorigin
 * and recipient 2bounce_notice_recipient (qualified with @myorigin when it has no domain).
 * cleanup writes the Received: header ("by MYHOSTNAME (MAIL_NAME) id ID; DATE"), the content
 * follows it unchanged. When no notice is due (-ENOMSG above) returns 0 with ret_id "".
 * Then, when bounce_compose_postmaster() has a copy to send, enqueues it too (sender
 * double_bounce_sender@myorigin) as a second file whose ID is not returned; a failure there is
 * not reported (retrying would send the sender's notice twice). Each file is finished
 * (queue_writer_finish(): fsync, fchmod, fsync) inside: this function blocks. The caller syncs
 * incoming/ (queue_dir_sync()) and triggers qmgr. Returns 0 with the new queue ID of the
 * notice in ret_id; a negative errno as bounce_compose(), cleanup_new() or the writer
 * (-ENOSPC, -EDQUOT, -EIO, ...), and then no file is left behind. */
int bounce_enqueue(const BounceSettings *s, BounceKind kind, QueueFile *f,
                   const BounceRecipient *r, size_t n, int incoming_fd, uint64_t now_usec,
                   char ret_id[static QUEUE_ID_MAX + 1]);
