/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Unit tests of bounce: settings, routing (sender, 2bounce, dropped loops, postmaster copies),
 * whole notices of each kind compared with expected texts (fixed time, TZ=UTC, queue files
 * made by the queue writer under $TMPDIR, the queue ID masked), RET and bounce_size_limit,
 * ORCPT and ENVID, untrusted text, and enqueueing through cleanup read back with
 * queue_file_open(). */
#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bounce.h"
#include "check_main.h"
#include "config.h"
#include "queue.h"

/* Tue, 5 Mar 2024 09:00:00 UTC and one hour before. */
#define NOW_USEC UINT64_C(1709629200000000)
#define ARRIVAL_USEC UINT64_C(1709625600000000)

static const char message[] =
        "Received: from client.example.org (client.example.org [192.0.2.1])\n"
        "\tby mail.example.com (tern) with ESMTP id X; Tue,  5 Mar 2024 08:00:00 +0000 (UTC)\n"
        "From: Alice <alice@example.org>\n"
        "To: bob@example.com\n"
        "Subject: hello\n"
        "\n"
        "Hi Bob,\n"
        "\n"
        "see you.\n";

static const char message_headers[] =
        "Received: from client.example.org (client.example.org [192.0.2.1])\n"
        "\tby mail.example.com (tern) with ESMTP id X; Tue,  5 Mar 2024 08:00:00 +0000 (UTC)\n"
        "From: Alice <alice@example.org>\n"
        "To: bob@example.com\n"
        "Subject: hello\n";

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        (void) st;
        (void) flag;
        (void) ftw;
        return remove(path);
}

typedef struct TestQueue {
        char *dir;
        QueueDirs *dirs;
} TestQueue;

static void test_queue_init(TestQueue *t) {
        const char *tmp = getenv("TMPDIR");

        ck_assert_int_ge(asprintf(&t->dir, "%s/test_bounce_XXXXXX", tmp ? tmp : "/tmp"), 0);
        ck_assert_ptr_nonnull(mkdtemp(t->dir));
        ck_assert_int_eq(queue_dirs_create(t->dir), 0);
        ck_assert_int_eq(queue_dirs_open(t->dir, &t->dirs), 0);
}

static void test_queue_done(TestQueue *t) {
        t->dirs = queue_dirs_free(t->dirs);
        (void) nftw(t->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
        free(t->dir);
}

static int incoming_fd(TestQueue *t) {
        return queue_dirs_fd(t->dirs, QUEUE_INCOMING);
}

/* The original message: a queue file written by the queue writer, opened for reading. */
typedef struct Original {
        const char *sender;
        QueueRet ret;
        const char *envid;
        const char *content;
} Original;

static QueueFile *original_make(TestQueue *t, const Original *o) {
        _cleanup_(queue_envelope_freep) QueueEnvelope *env = NULL;
        _cleanup_(queue_writer_freep) QueueWriter *w = NULL;
        QueueFile *f = NULL;
        const char *content = o->content ?: message;
        char id[QUEUE_ID_MAX + 1];

        ck_assert_int_eq(queue_envelope_new(&env), 0);
        env->arrival_usec = ARRIVAL_USEC;
        ck_assert_int_eq(queue_envelope_set(env, QUEUE_FIELD_SENDER, o->sender), 0);
        env->ret = o->ret;
        ck_assert_int_eq(queue_envelope_set(env, QUEUE_FIELD_ENVID, o->envid), 0);
        ck_assert_int_eq(queue_envelope_add_rcpt(env, "bob@example.com", NULL, 0), 0);
        ck_assert_int_eq(queue_writer_new(incoming_fd(t), env, 0, &w), 0);
        ck_assert_int_eq(queue_writer_write(w, content, strlen(content)), 0);
        ck_assert_int_eq(queue_writer_finish(w), 0);
        snprintf(id, sizeof(id), "%s", queue_writer_id(w));
        ck_assert_int_eq(queue_file_open(incoming_fd(t), id, false, NULL, &f), 0);
        return f;
}

static BounceSettings settings(void) {
        return (BounceSettings) {
                .myhostname = "mail.example.com",
                .mail_name = "tern",
                .mydomain = "example.com",
                .myorigin = "example.com",
                .bounce_size_limit = 50000,
                .delay_warning_time = 4 * 3600,
                .maximal_queue_lifetime = 5 * 86400,
                .double_bounce_sender = "double-bounce",
                .bounce_notice_recipient = "postmaster",
                .delay_notice_recipient = "postmaster",
                .double_bounce_notice_recipient = "postmaster",
        };
}

/* Replaces every occurrence of id in s by "QID". */
static char *mask_id(const char *s, const char *id) {
        _cleanup_(buf_done) Buf b = BUF_INIT(BUF_MAX_UNBOUNDED);
        const char *m;

        while ((m = strstr(s, id))) {
                ck_assert_int_eq(buf_append(&b, s, m - s), 0);
                ck_assert_int_eq(buf_append_str(&b, "QID"), 0);
                s = m + strlen(id);
        }
        ck_assert_int_eq(buf_append_str(&b, s), 0);
        return buf_steal(&b);
}

typedef enum Which {
        WHICH_NOTICE,
        WHICH_COPY,
} Which;

/* Composes a notice about o (id masked), or returns NULL with *ret_r set on error. */
static char *compose(const BounceSettings *s, BounceKind kind, Which which, const Original *o,
                     const BounceRecipient *r, size_t n, int *ret_r) {
        _cleanup_(queue_file_freep) QueueFile *f = NULL;
        _cleanup_(buf_done) Buf out = BUF_INIT(BUF_MAX_UNBOUNDED);
        TestQueue t;
        char *text = NULL;
        int rr;

        test_queue_init(&t);
        f = original_make(&t, o);
        if (which == WHICH_NOTICE)
                rr = bounce_compose(s, kind, f, r, n, NOW_USEC, &out);
        else
                rr = bounce_compose_postmaster(s, kind, f, r, n, NOW_USEC, &out);
        if (rr < 0)
                ck_assert_uint_eq(buf_pending(&out), 0);
        else
                text = mask_id(buf_peek(&out), f->id);
        if (ret_r)
                *ret_r = rr;
        else
                ck_assert_int_eq(rr, 0);
        f = queue_file_free(f);
        test_queue_done(&t);
        return text;
}

static void setup(void) {
        ck_assert_int_eq(setenv("TZ", "UTC", 1), 0);
        tzset();
}

/* ---- Kinds ---- */

START_TEST(test_kind_strings)
{
        for (BounceKind k = 0; k < _BOUNCE_KIND_MAX; k++)
                ck_assert_int_eq(bounce_kind_from_string(bounce_kind_to_string(k)), k);
        ck_assert_str_eq(bounce_kind_to_string(BOUNCE_DELAY), "delay");
        ck_assert_ptr_null(bounce_kind_to_string(_BOUNCE_KIND_MAX));
        ck_assert_ptr_null(bounce_kind_to_string(_BOUNCE_KIND_INVALID));
        ck_assert_int_eq(bounce_kind_from_string("bounce"), _BOUNCE_KIND_INVALID);
        ck_assert_int_eq(bounce_kind_from_string(NULL), _BOUNCE_KIND_INVALID);
}
END_TEST

/* ---- Settings ---- */

START_TEST(test_settings_defaults)
{
        _cleanup_(config_freep) Config *c = NULL;
        BounceSettings s;

        ck_assert_int_eq(config_new_with_hostname("mail.example.com", &c), 0);
        ck_assert_int_eq(bounce_settings_load(c, &s, NULL), 0);
        ck_assert_str_eq(s.myhostname, "mail.example.com");
        ck_assert_str_eq(s.mydomain, "example.com");
        ck_assert_str_eq(s.myorigin, "mail.example.com");
        ck_assert_uint_eq(s.bounce_size_limit, 50000);
        ck_assert_uint_eq(s.delay_warning_time, 0);
        ck_assert_uint_eq(s.maximal_queue_lifetime, 5 * 86400);
        ck_assert_str_eq(s.double_bounce_sender, "double-bounce");
        ck_assert_str_eq(s.bounce_notice_recipient, "postmaster");
        ck_assert_str_eq(s.delay_notice_recipient, "postmaster");
        ck_assert_str_eq(s.double_bounce_notice_recipient, "postmaster");
        /* notify_classes = resource, software */
        ck_assert(!s.notify_bounce && !s.notify_2bounce && !s.notify_delay);
}
END_TEST

static const struct {
        const char *assignment;
        int expected;
        const char *error;
        bool bounce, twobounce, delay;
        uint64_t delay_warning_time, bounce_size_limit;
} settings_cases[] = {
        { "notify_classes = bounce", 0, NULL, true, true, false, 0, 50000 },
        { "notify_classes = 2bounce, resource", 0, NULL, false, true, false, 0, 50000 },
        { "notify_classes = delay software", 0, NULL, false, false, true, 0, 50000 },
        { "notify_classes = BOUNCE,delay", 0, NULL, true, true, true, 0, 50000 },
        { "delay_warning_time = 4h", 0, NULL, false, false, false, 4 * 3600, 50000 },
        { "delay_warning_time = 3", 0, NULL, false, false, false, 3 * 3600, 50000 },
        { "bounce_size_limit = 100", 0, NULL, false, false, false, 0, 100 },
        { "bounce_size_limit = lots", -EBADMSG, "parameter bounce_size_limit: ",
          false, false, false, 0, 0 },
        { "delay_warning_time = soon", -EBADMSG, "parameter delay_warning_time: ",
          false, false, false, 0, 0 },
        { "maximal_queue_lifetime = 1y", -EBADMSG, "parameter maximal_queue_lifetime: ",
          false, false, false, 0, 0 },
        { "double_bounce_sender =", -EINVAL, "parameter double_bounce_sender: bad value",
          false, false, false, 0, 0 },
        { "myhostname =", -EINVAL, "parameter myhostname: bad value",
          false, false, false, 0, 0 },
};

START_TEST(test_settings_table)
{
        _cleanup_(config_freep) Config *c = NULL;
        _cleanup_free_ char *error = NULL;
        BounceSettings s = {};
        int r;

        ck_assert_int_eq(config_new_with_hostname("mail.example.com", &c), 0);
        ck_assert_int_eq(config_set_override(c, settings_cases[_i].assignment), 0);
        r = bounce_settings_load(c, &s, &error);
        ck_assert_msg(r == settings_cases[_i].expected, "%s: %d",
                      settings_cases[_i].assignment, r);
        if (r < 0) {
                ck_assert_ptr_nonnull(error);
                ck_assert_msg(startswith(error, settings_cases[_i].error), "%s", error);
                ck_assert_ptr_null(s.myhostname);       /* untouched on error */
                return;
        }
        ck_assert_int_eq(s.notify_bounce, settings_cases[_i].bounce);
        ck_assert_int_eq(s.notify_2bounce, settings_cases[_i].twobounce);
        ck_assert_int_eq(s.notify_delay, settings_cases[_i].delay);
        ck_assert_uint_eq(s.delay_warning_time, settings_cases[_i].delay_warning_time);
        ck_assert_uint_eq(s.bounce_size_limit, settings_cases[_i].bounce_size_limit);
}
END_TEST

/* ---- Double-bounce sender ---- */

static const struct {
        const char *sender;
        bool expected;
} double_bounce_cases[] = {
        { "double-bounce", true },
        { "Double-Bounce", true },
        { "double-bounce@example.com", true },
        { "double-bounce@MAIL.example.com", true },
        { "double-bounce@example.org", false },
        { "double-bouncer@example.com", false },
        { "xdouble-bounce@example.com", false },
        { "alice@example.com", false },
        { "", false },
        { NULL, false },
};

START_TEST(test_double_bounce_sender)
{
        BounceSettings s = settings();

        ck_assert_int_eq(bounce_sender_is_double_bounce(&s, double_bounce_cases[_i].sender),
                         double_bounce_cases[_i].expected);
}
END_TEST

/* ---- Composition ---- */

static const BounceRecipient rcpt_unknown = {
        .address = "bob@example.com",
        .dsn = "5.1.1",
        .action = "failed",
        .remote_mta = "mx.example.com",
        .diagnostic = "smtp; 550 5.1.1 <bob@example.com>: Recipient address rejected: User "
                      "unknown in virtual mailbox table",
        .reason = "host mx.example.com[192.0.2.25] said: 550 5.1.1 <bob@example.com>: "
                  "Recipient address rejected: User unknown in virtual mailbox table (in "
                  "reply to RCPT TO command)",
};

static const char expected_failure_one[] =
        "Date: Tue,  5 Mar 2024 09:00:00 +0000 (UTC)\n"
        "From: MAILER-DAEMON@mail.example.com (Mail Delivery System)\n"
        "Subject: Undelivered Mail Returned to Sender\n"
        "To: alice@example.org\n"
        "Auto-Submitted: auto-replied\n"
        "MIME-Version: 1.0\n"
        "Content-Type: multipart/report; report-type=delivery-status;\n"
        "\tboundary=\"QID.1709629200/mail.example.com\"\n"
        "Content-Transfer-Encoding: 7bit\n"
        "Message-Id: <20240305090000.000000.QID.F@mail.example.com>\n"
        "\n"
        "This is a MIME-encapsulated message.\n"
        "\n"
        "--QID.1709629200/mail.example.com\n"
        "Content-Description: Notification\n"
        "Content-Type: text/plain; charset=us-ascii\n"
        "\n"
        "This is the mail system at host mail.example.com.\n"
        "\n"
        "I'm sorry to have to inform you that your message could not\n"
        "be delivered to one or more recipients. It's attached below.\n"
        "\n"
        "For further assistance, please send mail to postmaster.\n"
        "\n"
        "If you do so, please include this problem report. You can\n"
        "delete your own text from the attached returned message.\n"
        "\n"
        "                   The mail system\n"
        "\n"
        "<bob@example.com>: host mx.example.com[192.0.2.25] said: 550 5.1.1\n"
        "    <bob@example.com>: Recipient address rejected: User unknown in virtual\n"
        "    mailbox table (in reply to RCPT TO command)\n"
        "\n"
        "--QID.1709629200/mail.example.com\n"
        "Content-Description: Delivery report\n"
        "Content-Type: message/delivery-status\n"
        "\n"
        "Reporting-MTA: dns; mail.example.com\n"
        "X-Tern-Queue-ID: QID\n"
        "X-Tern-Sender: rfc822; alice@example.org\n"
        "Arrival-Date: Tue,  5 Mar 2024 08:00:00 +0000 (UTC)\n"
        "\n"
        "Final-Recipient: rfc822; bob@example.com\n"
        "Action: failed\n"
        "Status: 5.1.1\n"
        "Remote-MTA: dns; mx.example.com\n"
        "Diagnostic-Code: smtp; 550 5.1.1 <bob@example.com>: Recipient address rejected:\n"
        "    User unknown in virtual mailbox table\n"
        "\n"
        "--QID.1709629200/mail.example.com\n"
        "Content-Description: Undelivered Message\n"
        "Content-Type: message/rfc822\n"
        "\n"
        "Received: from client.example.org (client.example.org [192.0.2.1])\n"
        "\tby mail.example.com (tern) with ESMTP id X; Tue,  5 Mar 2024 08:00:00 +0000 (UTC)\n"
        "From: Alice <alice@example.org>\n"
        "To: bob@example.com\n"
        "Subject: hello\n"
        "\n"
        "Hi Bob,\n"
        "\n"
        "see you.\n"
        "\n"
        "--QID.1709629200/mail.example.com--\n";

START_TEST(test_compose_failure_one)
{
        BounceSettings s = settings();
        Original o = { .sender = "alice@example.org" };
        _cleanup_free_ char *got = compose(&s, BOUNCE_FAILURE, WHICH_NOTICE, &o, &rcpt_unknown,
                                           1, NULL);

        ck_assert_str_eq(got, expected_failure_one);
}
END_TEST

static const BounceRecipient rcpts_several[] = {
        {
                .address = "bob@example.com",
                .orcpt = "rfc822;Bob+2BX@example.com",
                .dsn = "5.2.2",
                .action = "failed",
                .diagnostic = "x-unix; mailbox full",
                .reason = "cannot update mailbox /var/mail/bob for user bob. mailbox full",
        },
        {
                .address = "carol@example.com",
                .original = "info@example.com",
                .dsn = "5.1.1",
                .reason = "unknown user: \"carol\"",
        },
        {
                .address = "dave@example.net",
                .dsn = "5.4.4",
                .action = "failed",
                .reason = "Host or domain name not found. Name service error for "
                          "name=example.net type=MX: Host not found",
        },
};

static const char expected_failure_several_middle[] =
        "                   The mail system\n"
        "\n"
        "<bob@example.com>: cannot update mailbox /var/mail/bob for user bob. mailbox\n"
        "    full\n"
        "\n"
        "<carol@example.com> (expanded from <info@example.com>): unknown user: \"carol\"\n"
        "\n"
        "<dave@example.net>: Host or domain name not found. Name service error for\n"
        "    name=example.net type=MX: Host not found\n"
        "\n"
        "--QID.1709629200/mail.example.com\n"
        "Content-Description: Delivery report\n"
        "Content-Type: message/delivery-status\n"
        "\n"
        "Reporting-MTA: dns; mail.example.com\n"
        "Original-Envelope-Id: envelope-42\n"
        "X-Tern-Queue-ID: QID\n"
        "X-Tern-Sender: rfc822; alice@example.org\n"
        "Arrival-Date: Tue,  5 Mar 2024 08:00:00 +0000 (UTC)\n"
        "\n"
        "Final-Recipient: rfc822; bob@example.com\n"
        "Original-Recipient: rfc822;Bob+X@example.com\n"
        "Action: failed\n"
        "Status: 5.2.2\n"
        "Diagnostic-Code: x-unix; mailbox full\n"
        "\n"
        "Final-Recipient: rfc822; carol@example.com\n"
        "Original-Recipient: rfc822; info@example.com\n"
        "Action: failed\n"
        "Status: 5.1.1\n"
        "\n"
        "Final-Recipient: rfc822; dave@example.net\n"
        "Action: failed\n"
        "Status: 5.4.4\n"
        "\n"
        "--QID.1709629200/mail.example.com\n";

START_TEST(test_compose_failure_several)
{
        BounceSettings s = settings();
        Original o = { .sender = "alice@example.org", .envid = "envelope-42" };
        _cleanup_free_ char *got = compose(&s, BOUNCE_FAILURE, WHICH_NOTICE, &o, rcpts_several,
                                           ELEMENTSOF(rcpts_several), NULL);

        ck_assert_msg(strstr(got, expected_failure_several_middle), "%s", got);
        ck_assert(startswith(got, "Date: Tue,  5 Mar 2024 09:00:00 +0000 (UTC)\n"));
        ck_assert(strstr(got, "Content-Type: message/rfc822\n\nReceived: from client"));
}
END_TEST

static const char expected_delay[] =
        "Date: Tue,  5 Mar 2024 09:00:00 +0000 (UTC)\n"
        "From: MAILER-DAEMON@mail.example.com (Mail Delivery System)\n"
        "Subject: Delayed Mail (still being retried)\n"
        "To: alice@example.org\n"
        "Auto-Submitted: auto-replied\n"
        "MIME-Version: 1.0\n"
        "Content-Type: multipart/report; report-type=delivery-status;\n"
        "\tboundary=\"QID.1709629200/mail.example.com\"\n"
        "Content-Transfer-Encoding: 7bit\n"
        "Message-Id: <20240305090000.000000.QID.D@mail.example.com>\n"
        "\n"
        "This is a MIME-encapsulated message.\n"
        "\n"
        "--QID.1709629200/mail.example.com\n"
        "Content-Description: Notification\n"
        "Content-Type: text/plain; charset=us-ascii\n"
        "\n"
        "This is the mail system at host mail.example.com.\n"
        "\n"
        "####################################################################\n"
        "# THIS IS A WARNING ONLY.  YOU DO NOT NEED TO RESEND YOUR MESSAGE. #\n"
        "####################################################################\n"
        "\n"
        "Your message could not be delivered for more than 4 hour(s).\n"
        "It will be retried until it is 5 day(s) old.\n"
        "\n"
        "For further assistance, please send mail to postmaster.\n"
        "\n"
        "If you do so, please include this problem report. You can\n"
        "delete your own text from the attached returned message.\n"
        "\n"
        "                   The mail system\n"
        "\n"
        "<bob@example.com>: connect to mx.example.com[192.0.2.25]:25: Connection timed\n"
        "    out\n"
        "\n"
        "--QID.1709629200/mail.example.com\n"
        "Content-Description: Delivery report\n"
        "Content-Type: message/delivery-status\n"
        "\n"
        "Reporting-MTA: dns; mail.example.com\n"
        "X-Tern-Queue-ID: QID\n"
        "X-Tern-Sender: rfc822; alice@example.org\n"
        "Arrival-Date: Tue,  5 Mar 2024 08:00:00 +0000 (UTC)\n"
        "\n"
        "Final-Recipient: rfc822; bob@example.com\n"
        "Action: delayed\n"
        "Status: 4.4.1\n"
        "Diagnostic-Code: X-Tern; connect to mx.example.com[192.0.2.25]:25: Connection\n"
        "    timed out\n"
        "Will-Retry-Until: Sun, 10 Mar 2024 08:00:00 +0000 (UTC)\n"
        "\n"
        "--QID.1709629200/mail.example.com\n"
        "Content-Description: Delayed Message Headers\n"
        "Content-Type: text/rfc822-headers\n"
        "\n"
        "Received: from client.example.org (client.example.org [192.0.2.1])\n"
        "\tby mail.example.com (tern) with ESMTP id X; Tue,  5 Mar 2024 08:00:00 +0000 (UTC)\n"
        "From: Alice <alice@example.org>\n"
        "To: bob@example.com\n"
        "Subject: hello\n"
        "\n"
        "--QID.1709629200/mail.example.com--\n";

START_TEST(test_compose_delay)
{
        BounceSettings s = settings();
        Original o = { .sender = "alice@example.org" };
        BounceRecipient r = {
                .address = "bob@example.com",
                .dsn = "4.4.1",
                .diagnostic = "connect to mx.example.com[192.0.2.25]:25: Connection timed out",
        };
        _cleanup_free_ char *got = compose(&s, BOUNCE_DELAY, WHICH_NOTICE, &o, &r, 1, NULL);

        ck_assert_str_eq(got, expected_delay);
}
END_TEST

static const char expected_success[] =
        "Date: Tue,  5 Mar 2024 09:00:00 +0000 (UTC)\n"
        "From: MAILER-DAEMON@mail.example.com (Mail Delivery System)\n"
        "Subject: Successful Mail Delivery Report\n"
        "To: alice@example.org\n"
        "Auto-Submitted: auto-replied\n"
        "MIME-Version: 1.0\n"
        "Content-Type: multipart/report; report-type=delivery-status;\n"
        "\tboundary=\"QID.1709629200/mail.example.com\"\n"
        "Content-Transfer-Encoding: 7bit\n"
        "Message-Id: <20240305090000.000000.QID.S@mail.example.com>\n"
        "\n"
        "This is a MIME-encapsulated message.\n"
        "\n"
        "--QID.1709629200/mail.example.com\n"
        "Content-Description: Notification\n"
        "Content-Type: text/plain; charset=us-ascii\n"
        "\n"
        "This is the mail system at host mail.example.com.\n"
        "\n"
        "Your message was successfully delivered to the destination(s)\n"
        "listed below. If the message was delivered to mailbox you will\n"
        "receive no further notifications. Otherwise you may still receive\n"
        "notifications of mail delivery errors from other systems.\n"
        "\n"
        "                   The mail system\n"
        "\n"
        "<bob@example.com>: delivered to mailbox\n"
        "\n"
        "<carol@example.org>: delivered\n"
        "\n"
        "--QID.1709629200/mail.example.com\n"
        "Content-Description: Delivery report\n"
        "Content-Type: message/delivery-status\n"
        "\n"
        "Reporting-MTA: dns; mail.example.com\n"
        "X-Tern-Queue-ID: QID\n"
        "X-Tern-Sender: rfc822; alice@example.org\n"
        "Arrival-Date: Tue,  5 Mar 2024 08:00:00 +0000 (UTC)\n"
        "\n"
        "Final-Recipient: rfc822; bob@example.com\n"
        "Action: delivered\n"
        "Status: 2.0.0\n"
        "Diagnostic-Code: X-Tern; delivered to mailbox\n"
        "\n"
        "Final-Recipient: rfc822; carol@example.org\n"
        "Action: relayed\n"
        "Status: 2.0.0\n"
        "Remote-MTA: dns; mx.example.org\n"
        "Diagnostic-Code: smtp; 250 2.0.0 Ok: queued as 4AB\n"
        "\n"
        "--QID.1709629200/mail.example.com\n"
        "Content-Description: Delivered Message Headers\n"
        "Content-Type: text/rfc822-headers\n"
        "\n"
        "Received: from client.example.org (client.example.org [192.0.2.1])\n"
        "\tby mail.example.com (tern) with ESMTP id X; Tue,  5 Mar 2024 08:00:00 +0000 (UTC)\n"
        "From: Alice <alice@example.org>\n"
        "To: bob@example.com\n"
        "Subject: hello\n"
        "\n"
        "--QID.1709629200/mail.example.com--\n";

START_TEST(test_compose_success)
{
        BounceSettings s = settings();
        Original o = { .sender = "alice@example.org", .ret = QUEUE_RET_FULL };
        BounceRecipient r[] = {
                { .address = "bob@example.com", .diagnostic = "delivered to mailbox" },
                { .address = "carol@example.org", .action = "relayed", .dsn = "2.0.0",
                  .remote_mta = "mx.example.org",
                  .diagnostic = "smtp; 250 2.0.0 Ok: queued as 4AB", .reason = "delivered" },
        };
        _cleanup_free_ char *got = compose(&s, BOUNCE_SUCCESS, WHICH_NOTICE, &o, r, 2, NULL);

        ck_assert_str_eq(got, expected_success);
}
END_TEST

/* What the third part carries, by RET and size. */
static const struct {
        QueueRet ret;
        uint64_t limit;
        bool full;
} ret_cases[] = {
        { QUEUE_RET_NONE, 50000, true },
        { QUEUE_RET_FULL, 50000, true },
        { QUEUE_RET_HDRS, 50000, false },
        { QUEUE_RET_FULL, sizeof(message) - 1, true },  /* exactly the limit */
        { QUEUE_RET_FULL, sizeof(message) - 2, false }, /* one byte over */
        { QUEUE_RET_NONE, 0, false },
};

START_TEST(test_compose_ret)
{
        BounceSettings s = settings();
        Original o = { .sender = "alice@example.org", .ret = ret_cases[_i].ret };
        _cleanup_free_ char *got = NULL, *expect = NULL;

        s.bounce_size_limit = ret_cases[_i].limit;
        got = compose(&s, BOUNCE_FAILURE, WHICH_NOTICE, &o, &rcpt_unknown, 1, NULL);
        ck_assert_int_ge(asprintf(&expect, "Content-Description: Undelivered Message%s\n"
                                           "Content-Type: %s\n\n%s\n"
                                           "--QID.1709629200/mail.example.com--\n",
                                  ret_cases[_i].full ? "" : " Headers",
                                  ret_cases[_i].full ? "message/rfc822" : "text/rfc822-headers",
                                  ret_cases[_i].full ? message : message_headers), 0);
        ck_assert_msg(strstr(got, expect), "%s", got);
        /* RFC 3464 message/delivery-status before the returned part. */
        ck_assert(strstr(got, "Content-Type: message/delivery-status\n") < strstr(got, expect));
}
END_TEST

/* Contents with unusual shapes: the returned part always ends with LF before the boundary. */
static const struct {
        const char *content;
        QueueRet ret;
        const char *part;
} shape_cases[] = {
        { "Subject: no body\n", QUEUE_RET_HDRS, "text/rfc822-headers\n\nSubject: no body\n\n--" },
        { "Subject: no LF", QUEUE_RET_FULL, "message/rfc822\n\nSubject: no LF\n\n--" },
        { "\nbody only\n", QUEUE_RET_HDRS, "text/rfc822-headers\n\n\n--" },
        { "\nbody only\n", QUEUE_RET_FULL, "message/rfc822\n\n\nbody only\n\n--" },
        { "A: 1\n\n\nB: 2\n", QUEUE_RET_HDRS, "text/rfc822-headers\n\nA: 1\n\n--" },
};

START_TEST(test_compose_shapes)
{
        BounceSettings s = settings();
        Original o = { .sender = "alice@example.org", .ret = shape_cases[_i].ret,
                       .content = shape_cases[_i].content };
        _cleanup_free_ char *got = compose(&s, BOUNCE_FAILURE, WHICH_NOTICE, &o, &rcpt_unknown,
                                           1, NULL);

        ck_assert_msg(strstr(got, shape_cases[_i].part), "%s", got);
}
END_TEST

/* A header section larger than a read chunk, with the blank line across a chunk border. */
START_TEST(test_compose_long_headers)
{
        _cleanup_(buf_done) Buf content = BUF_INIT(BUF_MAX_UNBOUNDED);
        _cleanup_free_ char *got = NULL;
        BounceSettings s = settings();
        Original o = { .sender = "alice@example.org", .ret = QUEUE_RET_HDRS };
        const char *part;

        for (unsigned i = 0; buf_pending(&content) < 4095 - 10; i++)
                ck_assert_int_eq(buf_printf(&content, "X-%u: y\n", i), 0);
        while (buf_pending(&content) < 4095)
                ck_assert_int_eq(buf_append_str(&content, buf_pending(&content) < 4094 ?
                                                "Y: z\n" : "\n"), 0);
        ck_assert_int_eq(buf_append_str(&content, "\nbody\n"), 0);
        o.content = buf_peek(&content);
        got = compose(&s, BOUNCE_FAILURE, WHICH_NOTICE, &o, &rcpt_unknown, 1, NULL);
        part = strstr(got, "text/rfc822-headers\n\n");
        ck_assert_ptr_nonnull(part);
        ck_assert_ptr_null(strstr(part, "body"));
        ck_assert(strstr(part, "X-0: y\n"));
}
END_TEST

static const struct {
        BounceRecipient rcpt;
        const char *expected;
} field_cases[] = {
        { { .address = "a@example.com", .orcpt = "rfc822;a@example.com" },
          "Final-Recipient: rfc822; a@example.com\nOriginal-Recipient: rfc822;a@example.com\n" },
        { { .address = "a@example.com", .orcpt = "rfc822;x+2Bx+3Dy@example.com" },
          "Original-Recipient: rfc822;x+x=y@example.com\n" },
        /* control bytes stay encoded, a bad escape stays as it is */
        { { .address = "a@example.com", .orcpt = "rfc822;x+0Ay+ZZ+4@example.com" },
          "Original-Recipient: rfc822;x+0Ay+ZZ+4@example.com\n" },
        { { .address = "a@example.com", .orcpt = "utf-8;a\\x{263A}@example.com" },
          "Original-Recipient: utf-8;a\\x{263A}@example.com\n" },
        { { .address = "a@example.com", .orcpt = "a@example.com" },
          "Original-Recipient: rfc822;a@example.com\n" },
        /* ORCPT wins over the pre-aliasing address */
        { { .address = "a@example.com", .orcpt = "rfc822;o@example.com",
            .original = "b@example.com" },
          "Original-Recipient: rfc822;o@example.com\nAction: failed\n" },
        { { .address = "a@example.com", .original = "A@EXAMPLE.COM" },
          "Final-Recipient: rfc822; a@example.com\nAction: failed\nStatus: 5.0.0\n" },
        { { .address = "a@example.com", .dsn = "5.9", .action = "exploded" },
          "Action: failed\nStatus: 5.0.0\n" },
        { { .address = "a@example.com", .action = "expanded", .dsn = "2.0.0" },
          "Action: expanded\nStatus: 2.0.0\n" },
        { { .address = "a@example.com" }, "<a@example.com>: failed\n" },
        { { .address = "a@example.com", .diagnostic = "smtp; 550 no" },
          "<a@example.com>: smtp; 550 no\n" },
};

START_TEST(test_compose_fields)
{
        BounceSettings s = settings();
        Original o = { .sender = "alice@example.org" };
        _cleanup_free_ char *got = compose(&s, BOUNCE_FAILURE, WHICH_NOTICE, &o,
                                           &field_cases[_i].rcpt, 1, NULL);

        ck_assert_msg(strstr(got, field_cases[_i].expected), "%s", got);
}
END_TEST

/* Untrusted text never starts a line of its own, long words stay whole, 8-bit is declared. */
START_TEST(test_compose_untrusted)
{
        BounceSettings s = settings();
        /* The queue holds the internal form; the header gets the quoted one. */
        Original o = { .sender = "alice smith@example.org",
                       .content = "Subject: caf\xc3\xa9\n\nbody\n" };
        BounceRecipient r = {
                .address = "bob@example.com",
                .remote_mta = "mx\r\nX-Evil: 1",
                .diagnostic = "smtp; 550 bad\r\nX-Evil: 2",
                .reason = "r\x01\nX-Evil: 3 "
                          "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                          "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa end",
        };
        _cleanup_free_ char *got = compose(&s, BOUNCE_FAILURE, WHICH_NOTICE, &o, &r, 1, NULL);

        ck_assert_ptr_null(strstr(got, "\nX-Evil"));
        ck_assert(strstr(got, "Remote-MTA: dns; mx  X-Evil: 1\n"));
        ck_assert(strstr(got, "Diagnostic-Code: smtp; 550 bad  X-Evil: 2\n"));
        ck_assert(strstr(got, "<bob@example.com>: r  X-Evil: 3\n    aaaaaaaaaaaaaaaa"));
        ck_assert(strstr(got, "aaaa\n    end\n"));
        ck_assert_msg(strstr(got, "To: \"alice smith\"@example.org\n"), "%s", got);
        ck_assert(strstr(got, "\nContent-Transfer-Encoding: 8bit\nMessage-Id: "));
        ck_assert(strstr(got, "Content-Type: message/rfc822\nContent-Transfer-Encoding: 8bit\n"));
        ck_assert(strstr(got, "charset=us-ascii\n"));
}
END_TEST

START_TEST(test_compose_utf8_reason)
{
        BounceSettings s = settings();
        Original o = { .sender = "alice@example.org" };
        BounceRecipient r = { .address = "b\xc3\xb6@example.com", .reason = "unknown" };
        _cleanup_free_ char *got = compose(&s, BOUNCE_FAILURE, WHICH_NOTICE, &o, &r, 1, NULL);

        ck_assert(strstr(got, "Content-Type: text/plain; charset=utf-8\n"));
        ck_assert(strstr(got, "<b\xc3\xb6@example.com>: unknown\n"));
}
END_TEST

/* A returned message that holds the first boundary candidate gets another boundary. */
START_TEST(test_compose_boundary_collision)
{
        _cleanup_(queue_file_freep) QueueFile *f = NULL;
        _cleanup_(buf_done) Buf out = BUF_INIT(BUF_MAX_UNBOUNDED);
        _cleanup_(queue_envelope_freep) QueueEnvelope *env = NULL;
        _cleanup_(queue_writer_freep) QueueWriter *w = NULL;
        _cleanup_free_ char *content = NULL, *b0 = NULL, *b1 = NULL;
        BounceSettings s = settings();
        char id[QUEUE_ID_MAX + 1];
        TestQueue t;

        test_queue_init(&t);
        /* The ID is known only once the writer exists: write the content after. */
        ck_assert_int_eq(queue_envelope_new(&env), 0);
        env->arrival_usec = ARRIVAL_USEC;
        ck_assert_int_eq(queue_envelope_set(env, QUEUE_FIELD_SENDER, "a@example.org"), 0);
        ck_assert_int_eq(queue_envelope_add_rcpt(env, "b@example.com", NULL, 0), 0);
        ck_assert_int_eq(queue_writer_new(incoming_fd(&t), env, 0, &w), 0);
        snprintf(id, sizeof(id), "%s", queue_writer_id(w));
        ck_assert_int_ge(asprintf(&b0, "%s.1709629200/mail.example.com", id), 0);
        ck_assert_int_ge(asprintf(&b1, "boundary=\"%s.1709629200.1/mail.example.com\"", id), 0);
        ck_assert_int_ge(asprintf(&content, "Subject: x\n\n--%s--\n", b0), 0);
        ck_assert_int_eq(queue_writer_write(w, content, strlen(content)), 0);
        ck_assert_int_eq(queue_writer_finish(w), 0);
        ck_assert_int_eq(queue_file_open(incoming_fd(&t), id, false, NULL, &f), 0);

        ck_assert_int_eq(bounce_compose(&s, BOUNCE_FAILURE, f, &rcpt_unknown, 1, NOW_USEC,
                                        &out), 0);
        ck_assert(strstr(buf_peek(&out), b1));

        /* A queue file shorter than its envelope says. */
        buf_clear(&out);
        f->envelope->content_size += 10;
        ck_assert_int_eq(bounce_compose(&s, BOUNCE_FAILURE, f, &rcpt_unknown, 1, NOW_USEC,
                                        &out), -EBADMSG);
        f = queue_file_free(f);
        test_queue_done(&t);
}
END_TEST

/* Who gets a notice, and which. */
static const struct {
        const char *sender;
        BounceKind kind;
        Which which;
        bool bounce, twobounce, delay;
        int expected;
        const char *to;
        const char *subject;
} route_cases[] = {
        { "alice@example.org", BOUNCE_FAILURE, WHICH_NOTICE, false, false, false, 0,
          "alice@example.org", "Undelivered Mail Returned to Sender" },
        /* bounce of a bounce: to the postmaster with notify_classes 2bounce, else dropped */
        { "", BOUNCE_FAILURE, WHICH_NOTICE, false, true, false, 0,
          "postmaster@example.com", "Postmaster Copy: Undelivered Mail" },
        { "", BOUNCE_DELAY, WHICH_NOTICE, true, true, false, 0,
          "postmaster@example.com", "Postmaster Warning: Delayed Mail" },
        { "", BOUNCE_FAILURE, WHICH_NOTICE, false, false, false, -ENOMSG, NULL, NULL },
        { "", BOUNCE_SUCCESS, WHICH_NOTICE, true, true, true, -ENOMSG, NULL, NULL },
        /* a double bounce that bounced is dropped */
        { "double-bounce@example.com", BOUNCE_FAILURE, WHICH_NOTICE, true, true, true, -ENOMSG,
          NULL, NULL },
        { "double-bounce", BOUNCE_DELAY, WHICH_NOTICE, true, true, true, -ENOMSG, NULL, NULL },
        /* notify_classes copies */
        { "alice@example.org", BOUNCE_FAILURE, WHICH_COPY, true, true, false, 0,
          "postmaster@example.com", "Postmaster Copy: Undelivered Mail" },
        { "alice@example.org", BOUNCE_FAILURE, WHICH_COPY, false, true, true, -ENOMSG,
          NULL, NULL },
        { "alice@example.org", BOUNCE_DELAY, WHICH_COPY, false, false, true, 0,
          "postmaster@example.com", "Postmaster Warning: Delayed Mail" },
        { "alice@example.org", BOUNCE_DELAY, WHICH_COPY, true, true, false, -ENOMSG,
          NULL, NULL },
        { "alice@example.org", BOUNCE_SUCCESS, WHICH_COPY, true, true, true, -ENOMSG,
          NULL, NULL },
        { "postmaster", BOUNCE_FAILURE, WHICH_COPY, true, true, true, -ENOMSG, NULL, NULL },
        { "", BOUNCE_FAILURE, WHICH_COPY, true, true, true, -ENOMSG, NULL, NULL },
        { "double-bounce@example.com", BOUNCE_FAILURE, WHICH_COPY, true, true, true, -ENOMSG,
          NULL, NULL },
};

START_TEST(test_compose_route)
{
        BounceSettings s = settings();
        Original o = { .sender = route_cases[_i].sender };
        _cleanup_free_ char *got = NULL, *to = NULL, *subject = NULL;
        int r;

        s.notify_bounce = route_cases[_i].bounce;
        s.notify_2bounce = route_cases[_i].twobounce;
        s.notify_delay = route_cases[_i].delay;
        got = compose(&s, route_cases[_i].kind, route_cases[_i].which, &o, &rcpt_unknown, 1,
                      &r);
        ck_assert_int_eq(r, route_cases[_i].expected);
        if (r < 0) {
                ck_assert_ptr_null(got);
                return;
        }
        ck_assert_int_ge(asprintf(&to, "\nTo: %s\n", route_cases[_i].to), 0);
        ck_assert_int_ge(asprintf(&subject, "\nSubject: %s\n", route_cases[_i].subject), 0);
        ck_assert_msg(strstr(got, to), "%s", got);
        ck_assert_msg(strstr(got, subject), "%s", got);
        ck_assert(strstr(got, route_cases[_i].which == WHICH_NOTICE && *route_cases[_i].sender ?
                              "Auto-Submitted: auto-replied\n" :
                              "Auto-Submitted: auto-generated\n"));
        /* copies return the headers; a double bounce returns the message */
        ck_assert(strstr(got, route_cases[_i].which == WHICH_COPY ||
                                      route_cases[_i].kind != BOUNCE_FAILURE ?
                              "Content-Type: text/rfc822-headers\n" :
                              "Content-Type: message/rfc822\n"));
        if (route_cases[_i].which == WHICH_COPY)
                ck_assert(strstr(got, ".QID.P"));
}
END_TEST

START_TEST(test_compose_invalid)
{
        BounceSettings s = settings();
        Original o = { .sender = "alice@example.org" };
        BounceRecipient no_address = { .reason = "x" }, empty_address = { .address = "" };
        _cleanup_free_ char *got = NULL;
        int r;

        got = compose(&s, BOUNCE_FAILURE, WHICH_NOTICE, &o, &rcpt_unknown, 0, &r);
        ck_assert_int_eq(r, -EINVAL);
        got = compose(&s, BOUNCE_FAILURE, WHICH_NOTICE, &o, &no_address, 1, &r);
        ck_assert_int_eq(r, -EINVAL);
        got = compose(&s, BOUNCE_FAILURE, WHICH_COPY, &o, &empty_address, 1, &r);
        ck_assert_int_eq(r, -EINVAL);
        got = compose(&s, _BOUNCE_KIND_MAX, WHICH_NOTICE, &o, &rcpt_unknown, 1, &r);
        ck_assert_int_eq(r, -EINVAL);
        got = compose(&s, _BOUNCE_KIND_INVALID, WHICH_NOTICE, &o, &rcpt_unknown, 1, &r);
        ck_assert_int_eq(r, -EINVAL);
        s.myhostname = "";
        got = compose(&s, BOUNCE_FAILURE, WHICH_NOTICE, &o, &rcpt_unknown, 1, &r);
        ck_assert_int_eq(r, -EINVAL);
        ck_assert_ptr_null(got);
}
END_TEST

/* ---- Enqueueing ---- */

static size_t incoming_ids(TestQueue *t, char ***ret) {
        int n = queue_scan_sorted(incoming_fd(t), 0, ret);

        ck_assert_int_ge(n, 0);
        return (size_t) n;
}

/* Reads a queue file's whole content. */
static char *read_content(QueueFile *f) {
        _cleanup_(buf_done) Buf b = BUF_INIT(BUF_MAX_UNBOUNDED);
        char chunk[1000];
        uint64_t pos = 0;
        ssize_t k;

        while ((k = queue_file_read_content(f, pos, chunk, sizeof(chunk))) > 0) {
                ck_assert_int_eq(buf_append(&b, chunk, (size_t) k), 0);
                pos += (uint64_t) k;
        }
        ck_assert_int_eq(k, 0);
        return buf_steal(&b);
}

static const struct {
        const char *sender;
        bool bounce, twobounce;
        size_t files;                   /* files in incoming/ besides the original */
        const char *env_sender;         /* of the notice */
        const char *env_rcpt;
        const char *to;
} enqueue_cases[] = {
        { "alice@example.org", false, false, 1, "", "alice@example.org",
          "To: alice@example.org\n" },
        { "", false, true, 1, "double-bounce@example.com", "postmaster@example.com",
          "To: postmaster@example.com\n" },
        { "", false, false, 0, NULL, NULL, NULL },
        { "double-bounce@example.com", true, true, 0, NULL, NULL, NULL },
        /* notify_classes = bounce: the sender's notice, and a copy to the postmaster */
        { "alice@example.org", true, true, 2, "", "alice@example.org",
          "To: alice@example.org\n" },
};

START_TEST(test_enqueue)
{
        _cleanup_(queue_file_freep) QueueFile *f = NULL, *n = NULL;
        _cleanup_(buf_done) Buf composed = BUF_INIT(BUF_MAX_UNBOUNDED);
        _cleanup_strv_free_ char **ids = NULL;
        _cleanup_free_ char *content = NULL;
        BounceSettings s = settings();
        Original o = { .sender = enqueue_cases[_i].sender };
        char id[QUEUE_ID_MAX + 1] = "unset";
        const char *body;
        TestQueue t;

        s.notify_bounce = enqueue_cases[_i].bounce;
        s.notify_2bounce = enqueue_cases[_i].twobounce;
        test_queue_init(&t);
        f = original_make(&t, &o);
        ck_assert_int_eq(bounce_enqueue(&s, BOUNCE_FAILURE, f, rcpts_several,
                                        ELEMENTSOF(rcpts_several), incoming_fd(&t), NOW_USEC,
                                        id), 0);
        ck_assert_uint_eq(incoming_ids(&t, &ids), 1 + enqueue_cases[_i].files);
        if (enqueue_cases[_i].files == 0) {
                ck_assert_str_eq(id, "");
                goto done;
        }
        ck_assert(queue_id_is_valid(id));
        ck_assert_str_ne(id, f->id);

        ck_assert_int_eq(queue_file_open(incoming_fd(&t), id, false, NULL, &n), 0);
        ck_assert_str_eq(n->envelope->sender, enqueue_cases[_i].env_sender);
        ck_assert_uint_eq(n->envelope->n_rcpts, 1);
        ck_assert_str_eq(n->envelope->rcpts[0].address, enqueue_cases[_i].env_rcpt);
        ck_assert_uint_eq(n->envelope->arrival_usec, NOW_USEC);

        /* The content is cleanup's Received: header, then the composed notice. */
        ck_assert_int_eq(bounce_compose(&s, BOUNCE_FAILURE, f, rcpts_several,
                                        ELEMENTSOF(rcpts_several), NOW_USEC, &composed), 0);
        content = read_content(n);
        ck_assert_msg(startswith(content, "Received: by mail.example.com (tern)"), "%s",
                      content);
        body = strstr(content, "\nDate: ");
        ck_assert_ptr_nonnull(body);
        ck_assert_str_eq(body + 1, buf_peek(&composed));
        ck_assert(strstr(content, enqueue_cases[_i].to));

        if (enqueue_cases[_i].files == 2) {
                _cleanup_(queue_file_freep) QueueFile *copy = NULL;
                _cleanup_free_ char *copy_content = NULL;
                const char *other = streq(ids[0], f->id) ? (streq(ids[1], id) ? ids[2] : ids[1])
                                                         : (streq(ids[0], id) ? ids[1] : ids[0]);

                ck_assert_str_ne(other, f->id);
                ck_assert_str_ne(other, id);
                ck_assert_int_eq(queue_file_open(incoming_fd(&t), other, false, NULL, &copy), 0);
                ck_assert_str_eq(copy->envelope->sender, "double-bounce@example.com");
                ck_assert_str_eq(copy->envelope->rcpts[0].address, "postmaster@example.com");
                copy_content = read_content(copy);
                ck_assert(strstr(copy_content, "\nSubject: Postmaster Copy: Undelivered Mail\n"));
                ck_assert(strstr(copy_content, "\nContent-Type: text/rfc822-headers\n"));
        }
done:
        n = queue_file_free(n);
        f = queue_file_free(f);
        test_queue_done(&t);
}
END_TEST

START_TEST(test_enqueue_errors)
{
        _cleanup_(queue_file_freep) QueueFile *f = NULL;
        _cleanup_strv_free_ char **ids = NULL;
        BounceSettings s = settings();
        Original o = { .sender = "alice@example.org" };
        char id[QUEUE_ID_MAX + 1] = "unset";
        _cleanup_close_ int fd = -EBADF;
        TestQueue t;

        test_queue_init(&t);
        f = original_make(&t, &o);
        ck_assert_int_eq(bounce_enqueue(&s, BOUNCE_FAILURE, f, &rcpt_unknown, 0,
                                        incoming_fd(&t), NOW_USEC, id), -EINVAL);
        /* An fd that is not a directory: the writer's openat() fails. */
        fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(bounce_enqueue(&s, BOUNCE_FAILURE, f, &rcpt_unknown, 1, fd, NOW_USEC,
                                        id), -ENOTDIR);
        ck_assert_str_eq(id, "unset");
        ck_assert_uint_eq(incoming_ids(&t, &ids), 1);
        f = queue_file_free(f);
        test_queue_done(&t);
}
END_TEST

static Suite *bounce_suite(void) {
        Suite *s = suite_create("bounce");
        TCase *tc;

        tc = tcase_create("kind");
        tcase_add_test(tc, test_kind_strings);
        suite_add_tcase(s, tc);

        tc = tcase_create("settings");
        tcase_add_test(tc, test_settings_defaults);
        tcase_add_loop_test(tc, test_settings_table, 0, ELEMENTSOF(settings_cases));
        tcase_add_loop_test(tc, test_double_bounce_sender, 0, ELEMENTSOF(double_bounce_cases));
        suite_add_tcase(s, tc);

        tc = tcase_create("compose");
        tcase_add_checked_fixture(tc, setup, NULL);
        tcase_add_test(tc, test_compose_failure_one);
        tcase_add_test(tc, test_compose_failure_several);
        tcase_add_test(tc, test_compose_delay);
        tcase_add_test(tc, test_compose_success);
        tcase_add_loop_test(tc, test_compose_ret, 0, ELEMENTSOF(ret_cases));
        tcase_add_loop_test(tc, test_compose_shapes, 0, ELEMENTSOF(shape_cases));
        tcase_add_test(tc, test_compose_long_headers);
        tcase_add_loop_test(tc, test_compose_fields, 0, ELEMENTSOF(field_cases));
        tcase_add_test(tc, test_compose_untrusted);
        tcase_add_test(tc, test_compose_utf8_reason);
        tcase_add_test(tc, test_compose_boundary_collision);
        tcase_add_loop_test(tc, test_compose_route, 0, ELEMENTSOF(route_cases));
        tcase_add_test(tc, test_compose_invalid);
        suite_add_tcase(s, tc);

        tc = tcase_create("enqueue");
        tcase_add_checked_fixture(tc, setup, NULL);
        tcase_add_loop_test(tc, test_enqueue, 0, ELEMENTSOF(enqueue_cases));
        tcase_add_test(tc, test_enqueue_errors);
        suite_add_tcase(s, tc);

        return s;
}

TERN_CHECK_MAIN(bounce_suite)
