/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Unit tests of cleanup: full round trips cleanup_new -> emit -> end_content ->
 * queue_writer_finish -> queue_file_open that read the queue file back and compare the content
 * with the expected text: the Received: forms, envelope and header canonicalisation, missing
 * headers in both From: formats and the Resent- forms, header folding, header_size_limit,
 * message_drop_headers, hopcount exactly at and over the limit, a body that begins with white
 * space, unterminated last lines; the same results when the content comes in PARTIAL pieces
 * split at every position, directly or through smtp_data with every line length limit; every
 * error code; the settings loader and the date format. Time zone: TZ is set by each test. */
#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <time.h>

#include "check_main.h"
#include "cleanup.h"
#include "header.h"
#include "smtp_data.h"

/* 2024-02-01 10:00:00 UTC */
#define ARRIVAL_USEC UINT64_C(1706781600000000)
#define DATE_UTC "Thu,  1 Feb 2024 10:00:00 +0000 (UTC)"

static void set_tz(const char *tz) {
        ck_assert_int_eq(setenv("TZ", tz, 1), 0);
        tzset();
}

/* ---- helpers ---- */

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        return remove(path);
}

typedef struct TestQueue {
        char *dir;
        QueueDirs *dirs;
} TestQueue;

static void test_queue_init(TestQueue *t) {
        const char *tmp = getenv("TMPDIR");

        ck_assert_int_ge(asprintf(&t->dir, "%s/test_cleanup_XXXXXX", tmp ? tmp : "/tmp"), 0);
        ck_assert_ptr_nonnull(mkdtemp(t->dir));
        ck_assert_int_eq(queue_dirs_create(t->dir), 0);
        ck_assert_int_eq(queue_dirs_open(t->dir, &t->dirs), 0);
}

static void test_queue_done(TestQueue *t) {
        t->dirs = queue_dirs_free(t->dirs);
        (void) nftw(t->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
        free(t->dir);
}

/* Files in incoming/, complete or not. */
static size_t incoming_count(TestQueue *t) {
        struct dirent *de;
        size_t n = 0;
        DIR *d;
        int fd;

        fd = openat(queue_dirs_fd(t->dirs, QUEUE_INCOMING), ".", O_RDONLY | O_DIRECTORY |
                    O_CLOEXEC);
        ck_assert_int_ge(fd, 0);
        d = fdopendir(fd);
        ck_assert_ptr_nonnull(d);
        while ((de = readdir(d)))
                if (de->d_name[0] != '.')
                        n++;
        closedir(d);
        return n;
}

/* append_at_myorigin and append_dot_mydomain in miniature: "user" -> "user@origin.test",
 * "user@host" -> "user@host.example"; "bad!" cannot be rewritten, "ioerr" fails. */
static int canon(void *userdata, const char *address, char **ret) {
        const char *at = strrchr(address, '@');
        unsigned *calls = userdata;

        if (calls)
                (*calls)++;
        if (streq(address, "bad!"))
                return -EBADMSG;
        if (streq(address, "ioerr") || streq(address, "ioerr@origin.test"))
                return -EIO;
        if (!at)
                return asprintf(ret, "%s@origin.test", address) < 0 ? -ENOMEM : 0;
        if (!strchr(at, '.') && at[1] != '[')
                return asprintf(ret, "%s.example", address) < 0 ? -ENOMEM : 0;
        *ret = strdup(address);
        return *ret ? 0 : -ENOMEM;
}

static CleanupSettings settings(void) {
        return (CleanupSettings) {
                .myhostname = "mx.test",
                .myorigin = "origin.test",
                .mail_name = "tern",
                .hopcount_limit = 50,
                .canonical = canon,
        };
}

static QueueEnvelope *envelope(const char *sender, const char *const *rcpts) {
        QueueEnvelope *e;

        ck_assert_int_eq(queue_envelope_new(&e), 0);
        e->arrival_usec = ARRIVAL_USEC;
        ck_assert_int_eq(queue_envelope_set(e, QUEUE_FIELD_SENDER, sender), 0);
        for (; *rcpts; rcpts++)
                ck_assert_int_eq(queue_envelope_add_rcpt(e, *rcpts, NULL, 0), 0);
        return e;
}

static QueueEnvelope *network_envelope(const char *sender, const char *const *rcpts) {
        QueueEnvelope *e = envelope(sender, rcpts);

        ck_assert_int_eq(queue_envelope_set(e, QUEUE_FIELD_CLIENT_NAME, "mail.example.org"), 0);
        ck_assert_int_eq(queue_envelope_set(e, QUEUE_FIELD_CLIENT_ADDR, "192.0.2.1"), 0);
        ck_assert_int_eq(queue_envelope_set(e, QUEUE_FIELD_HELO, "helo.example.org"), 0);
        ck_assert_int_eq(queue_envelope_set(e, QUEUE_FIELD_PROTOCOL, "ESMTP"), 0);
        return e;
}

typedef enum Feed {
        FEED_LINES,             /* one piece per line */
        FEED_SPLIT,             /* every line in two pieces at `arg`, the first PARTIAL */
        FEED_SMTP_DATA,         /* through smtp_data with line_length_limit `arg` */
} Feed;

/* Feeds content (LF line ends) to emit as smtp_data would: header lines flagged HEADER, the
 * first body line BODY_START. */
static int feed_direct(Cleanup *c, const char *content, Feed how, size_t arg) {
        bool header = true, open = false;
        const char *p = content;

        while (*p) {
                const char *lf = strchr(p, '\n');
                size_t n = lf ? (size_t) (lf - p) : strlen(p);
                unsigned flags = 0;
                int r;

                if (header) {
                        if (n == 0)
                                header = false;
                        else if (open && (p[0] == ' ' || p[0] == '\t'))
                                ;
                        else if (header_is_field_start(p, n, NULL, NULL))
                                open = true;
                        else
                                header = false;
                        flags = header ? SMTP_DATA_PIECE_HEADER : SMTP_DATA_PIECE_BODY_START;
                }
                if (how == FEED_SPLIT && arg < n) {
                        r = cleanup_emit(c, p, arg, flags | SMTP_DATA_PIECE_PARTIAL);
                        if (r < 0)
                                return r;
                        r = cleanup_emit(c, p + arg, n - arg,
                                         (flags & ~SMTP_DATA_PIECE_BODY_START) |
                                         (lf ? 0 : SMTP_DATA_PIECE_PARTIAL));
                } else
                        r = cleanup_emit(c, p, n, flags | (lf ? 0 : SMTP_DATA_PIECE_PARTIAL));
                if (r < 0)
                        return r;
                p += n + !!lf;
        }
        return 0;
}

static int feed_smtp_data(Cleanup *c, const char *content, size_t line_limit) {
        _cleanup_(smtp_data_freep) SmtpDataReader *rd = NULL;
        _cleanup_(buf_done) Buf wire = BUF_INIT(BUF_MAX_UNBOUNDED);
        SmtpDataLimits lim = SMTP_DATA_LIMITS_DEFAULT;
        size_t used;

        lim.line_length_limit = line_limit;
        for (const char *p = content; *p; p++) {
                if (*p == '\n')
                        ck_assert_int_eq(buf_append_str(&wire, "\r\n"), 0);
                else {
                        if (*p == '.' && (p == content || p[-1] == '\n'))
                                ck_assert_int_eq(buf_append_char(&wire, '.'), 0);
                        ck_assert_int_eq(buf_append_char(&wire, *p), 0);
                }
        }
        if (*content && content[strlen(content) - 1] != '\n')
                ck_assert_int_eq(buf_append_str(&wire, "\r\n"), 0);
        ck_assert_int_eq(buf_append_str(&wire, ".\r\n"), 0);

        ck_assert_int_eq(smtp_data_new(&lim, cleanup_emit, c, &rd), 0);
        ck_assert_int_eq(smtp_data_start(rd), 0);
        ck_assert_int_eq(smtp_data_feed(rd, buf_peek(&wire), buf_pending(&wire), &used), 1);
        ck_assert_uint_eq(used, buf_pending(&wire));
        return smtp_data_result(rd);
}

/* Replaces every occurrence of id in s by "ID". */
static char *mask_id(const char *s, const char *id) {
        _cleanup_(buf_done) Buf b = BUF_INIT(BUF_MAX_UNBOUNDED);
        const char *m;

        while ((m = strstr(s, id))) {
                ck_assert_int_eq(buf_append(&b, s, m - s), 0);
                ck_assert_int_eq(buf_append_str(&b, "ID"), 0);
                s = m + strlen(id);
        }
        ck_assert_int_eq(buf_append_str(&b, s), 0);
        return buf_steal(&b);
}

typedef struct Result {
        int end;                /* cleanup_end_content() */
        char *content;          /* read back, the queue ID masked; NULL when not finished */
        char *message_id;       /* masked */
        unsigned hops;
        QueueEnvelope *env;     /* read back */
} Result;

static void result_done(Result *r) {
        free(r->content);
        free(r->message_id);
        queue_envelope_free(r->env);
}

/* Runs one message through cleanup and the queue, and reads it back. */
static void run(const CleanupSettings *s, const CleanupExtra *x, QueueEnvelope *env,
                const char *content, Feed how, size_t arg, Result *ret) {
        _cleanup_(cleanup_freep) Cleanup *c = NULL;
        _cleanup_(queue_file_freep) QueueFile *f = NULL;
        _cleanup_(buf_done) Buf got = BUF_INIT(BUF_MAX_UNBOUNDED);
        TestQueue q;
        char id[QUEUE_ID_MAX + 1], chunk[7];
        uint64_t pos = 0;
        ssize_t k;
        int r;

        *ret = (Result) {};
        test_queue_init(&q);
        ck_assert_int_eq(cleanup_new(s, queue_dirs_fd(q.dirs, QUEUE_INCOMING), env, x, 0, &c),
                         0);
        snprintf(id, sizeof(id), "%s", cleanup_queue_id(c));
        ck_assert(queue_id_is_valid(id));

        if (how == FEED_SMTP_DATA)
                r = feed_smtp_data(c, content, arg);
        else
                r = feed_direct(c, content, how, arg);
        ck_assert_int_eq(r, 0);
        ret->end = cleanup_end_content(c);
        ck_assert_int_eq(cleanup_end_content(c), ret->end);     /* idempotent */
        ck_assert_int_eq(cleanup_emit(c, "x", 1, 0), -EPROTO);
        ret->hops = cleanup_hop_count(c);
        if (cleanup_message_id(c))
                ret->message_id = mask_id(cleanup_message_id(c), id);

        if (ret->end == 0) {
                ck_assert_int_eq(queue_writer_finish(cleanup_writer(c)), 0);
                ck_assert_int_eq(queue_dir_sync(q.dirs, QUEUE_INCOMING), 0);
                c = cleanup_free(c);
                ck_assert_int_eq(queue_file_open(queue_dirs_fd(q.dirs, QUEUE_INCOMING), id,
                                                 false, NULL, &f), 0);
                /* Read in small chunks: content boundaries are the reader's job. */
                while ((k = queue_file_read_content(f, pos, chunk, sizeof(chunk))) > 0) {
                        ck_assert_int_eq(buf_append(&got, chunk, k), 0);
                        pos += k;
                }
                ck_assert_int_eq(k, 0);
                ret->content = mask_id(buf_peek(&got), id);
                ret->env = TAKE_PTR(f->envelope);
        } else {
                c = cleanup_free(c);
                ck_assert_uint_eq(incoming_count(&q), 0);
        }
        test_queue_done(&q);
}

static void check_all_feeds(const CleanupSettings *s, const CleanupExtra *x,
                            QueueEnvelope *(*make_env)(void), const char *content,
                            const char *expected, int expected_end) {
        size_t longest = 0, shortest_limit = 1;

        for (const char *p = content; *p;) {
                size_t n = strcspn(p, "\n"), value_offset;

                longest = MAX(longest, n);
                /* smtp_data tells a header from the body by a line's first piece, which must
                 * hold the name and the colon. */
                if (header_is_field_start(p, n, NULL, &value_offset))
                        shortest_limit = MAX(shortest_limit, value_offset);
                p += n + (p[n] == '\n');
        }

        for (size_t split = 0; split <= longest + 1; split++) {
                _cleanup_(queue_envelope_freep) QueueEnvelope *e = make_env();
                _cleanup_(result_done) Result res;

                run(s, x, e, content, split == 0 ? FEED_LINES : FEED_SPLIT, split - 1, &res);
                ck_assert_int_eq(res.end, expected_end);
                if (expected)
                        ck_assert_str_eq(res.content, expected);
        }
        for (size_t limit = shortest_limit; limit <= longest + 1; limit++) {
                _cleanup_(queue_envelope_freep) QueueEnvelope *e = make_env();
                _cleanup_(result_done) Result res;

                run(s, x, e, content, FEED_SMTP_DATA, limit, &res);
                ck_assert_int_eq(res.end, expected_end);
                if (expected)
                        ck_assert_str_eq(res.content, expected);
        }
}

/* ---- network messages ---- */

static QueueEnvelope *env_one(void) {
        return network_envelope("alice", (const char *const[]) { "bob@host", NULL });
}

static QueueEnvelope *env_two(void) {
        return network_envelope("alice@a.example",
                                (const char *const[]) { "bob@b.example", "carol", NULL });
}

#define NET_RECEIVED_ONE                                                        \
        "Received: from helo.example.org (mail.example.org [192.0.2.1])\n"      \
        "\tby mx.test (tern) with ESMTP id ID\n"                                \
        "\tfor <bob@host>; " DATE_UTC "\n"

static const char message[] =
        "From: Alice <alice>\n"
        "To: bob@host,\n"
        "  \"Carol C\" <carol>\n"
        "Subject: hello\n"
        "\tworld\n"
        "\n"
        "Body line\n"
        ".leading dot\n"
        "\n"
        "last\n";

START_TEST(test_network_plain)
{
        CleanupSettings s = settings();

        set_tz("UTC");
        check_all_feeds(&s, NULL, env_one, message, NET_RECEIVED_ONE "From: Alice <alice>\n"
                        "To: bob@host,\n  \"Carol C\" <carol>\nSubject: hello\n\tworld\n\n"
                        "Body line\n.leading dot\n\nlast\n", 0);
}
END_TEST

START_TEST(test_network_envelope)
{
        _cleanup_(queue_envelope_freep) QueueEnvelope *e = env_two();
        _cleanup_(result_done) Result res;
        CleanupSettings s = settings();

        set_tz("UTC");
        run(&s, NULL, e, "Subject: x\n\nbody\n", FEED_LINES, 0, &res);
        ck_assert_int_eq(res.end, 0);
        /* Two recipients: no "for", the date on its own line. */
        ck_assert_str_eq(res.content,
                         "Received: from helo.example.org (mail.example.org [192.0.2.1])\n"
                         "\tby mx.test (tern) with ESMTP id ID;\n"
                         "\t" DATE_UTC "\n"
                         "Subject: x\n\nbody\n");
        ck_assert_str_eq(res.env->sender, "alice@a.example");
        ck_assert_uint_eq(res.env->n_rcpts, 2);
        ck_assert_str_eq(res.env->rcpts[0].address, "bob@b.example");
        ck_assert_str_eq(res.env->rcpts[1].address, "carol@origin.test");
        ck_assert_str_eq(res.env->client_addr, "192.0.2.1");
        ck_assert_str_eq(res.env->helo, "helo.example.org");
        ck_assert_str_eq(res.env->protocol, "ESMTP");
        ck_assert_ptr_null(res.message_id);
        ck_assert_uint_eq(res.hops, 1);
        /* The caller's envelope was canonicalised in place. */
        ck_assert_str_eq(e->rcpts[1].address, "carol@origin.test");
}
END_TEST

START_TEST(test_network_rewrite_headers)
{
        CleanupSettings s = settings();

        set_tz("UTC");
        s.rewrite_headers = true;
        check_all_feeds(&s, NULL, env_one, message, NET_RECEIVED_ONE
                        "From: Alice <alice@origin.test>\n"
                        "To: bob@host.example,\n  \"Carol C\" <carol@origin.test>\n"
                        "Subject: hello\n\tworld\n\nBody line\n.leading dot\n\nlast\n", 0);
}
END_TEST

static const char address_headers[] =
        "Sender: s\n"
        "Reply-To: r\n"
        "Cc: c1, c2@h\n"
        "Errors-To: e\n"
        "Return-Receipt-To: rr\n"
        "Resent-To: rt\n"
        "Resent-Cc: rc\n"
        "Resent-From: rf\n"
        "Resent-Sender: rs\n"
        "Resent-Reply-To: rrt\n"
        "Disposition-Notification-To: d\n"
        "Mail-Followup-To: m\n"
        "Apparently-To: at\n"
        "Delivered-To: dt\n"
        "X-Other: x\n"
        "Message-ID: <not@rewritten>\n"
        "Comments: bad!\n"
        "\n";

START_TEST(test_every_address_header)
{
        _cleanup_(queue_envelope_freep) QueueEnvelope *e = env_two();
        _cleanup_(result_done) Result res;
        CleanupSettings s = settings();

        set_tz("UTC");
        s.rewrite_headers = true;
        run(&s, NULL, e, address_headers, FEED_LINES, 0, &res);
        ck_assert_int_eq(res.end, 0);
        ck_assert_ptr_nonnull(strstr(res.content,
                "Sender: s@origin.test\n"
                "Reply-To: r@origin.test\n"
                "Cc: c1@origin.test, c2@h.example\n"
                "Errors-To: e@origin.test\n"
                "Return-Receipt-To: rr@origin.test\n"
                "Resent-To: rt@origin.test\n"
                "Resent-Cc: rc@origin.test\n"
                "Resent-From: rf@origin.test\n"
                "Resent-Sender: rs@origin.test\n"
                "Resent-Reply-To: rrt@origin.test\n"
                "Disposition-Notification-To: d@origin.test\n"
                "Mail-Followup-To: m@origin.test\n"
                "Apparently-To: at@origin.test\n"
                "Delivered-To: dt\n"
                "X-Other: x\n"
                "Message-ID: <not@rewritten>\n"
                "Comments: bad!\n"
                "\n"));
        ck_assert_str_eq(res.message_id, "<not@rewritten>");
}
END_TEST

START_TEST(test_rewrite_unrewritable)
{
        _cleanup_(queue_envelope_freep) QueueEnvelope *e =
                network_envelope("bad!", (const char *const[]) { "bad!", NULL });
        _cleanup_(result_done) Result res;
        CleanupSettings s = settings();

        set_tz("UTC");
        s.rewrite_headers = true;
        run(&s, NULL, e, "From: bad!, ok\n\n", FEED_LINES, 0, &res);
        ck_assert_int_eq(res.end, 0);
        /* The callback refuses "bad!" (-EBADMSG): kept as it is, in the envelope and in the
         * header. */
        ck_assert_str_eq(res.env->sender, "bad!");
        ck_assert_str_eq(res.env->rcpts[0].address, "bad!");
        ck_assert_ptr_nonnull(strstr(res.content, "\nFrom: bad!, ok@origin.test\n\n"));
}
END_TEST

START_TEST(test_tls_sasl_ipv6)
{
        _cleanup_(queue_envelope_freep) QueueEnvelope *e = env_one();
        _cleanup_(result_done) Result res;
        CleanupSettings s = settings();
        CleanupExtra x = {
                .tls = "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)",
                .local_uid = -1,
        };

        set_tz("UTC");
        ck_assert_int_eq(queue_envelope_set(e, QUEUE_FIELD_CLIENT_ADDR, "2001:db8::1"), 0);
        ck_assert_int_eq(queue_envelope_set(e, QUEUE_FIELD_CLIENT_NAME, NULL), 0);
        ck_assert_int_eq(queue_envelope_set(e, QUEUE_FIELD_HELO, NULL), 0);
        ck_assert_int_eq(queue_envelope_set(e, QUEUE_FIELD_PROTOCOL, "ESMTPSA"), 0);
        ck_assert_int_eq(queue_envelope_set(e, QUEUE_FIELD_SASL_USER, "al(i)ce"), 0);

        /* Postfix's defaults: neither comment. */
        run(&s, &x, e, "Subject: x\n\n", FEED_LINES, 0, &res);
        ck_assert_str_eq(res.content,
                         "Received: from unknown (unknown [IPv6:2001:db8::1])\n"
                         "\tby mx.test (tern) with ESMTPSA id ID\n"
                         "\tfor <bob@host>; " DATE_UTC "\n"
                         "Subject: x\n\n");
        result_done(&res);

        s.tls_received_header = true;
        s.sasl_authenticated_header = true;
        run(&s, &x, e, "Subject: x\n\n", FEED_LINES, 0, &res);
        ck_assert_str_eq(res.content,
                         "Received: from unknown (unknown [IPv6:2001:db8::1])\n"
                         "\t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits))\n"
                         "\t(No client certificate requested)\n"
                         "\t(Authenticated sender: al\\(i\\)ce)\n"
                         "\tby mx.test (tern) with ESMTPSA id ID\n"
                         "\tfor <bob@host.example>; " DATE_UTC "\n"
                         "Subject: x\n\n");
        result_done(&res);

        x.tls_client = "Client CN \"c\", Issuer \"i\" (verified OK)";
        ck_assert_int_eq(queue_envelope_set(e, QUEUE_FIELD_HELO, "[2001:db8::1]"), 0);
        run(&s, &x, e, "Subject: x\n\n", FEED_LINES, 0, &res);
        ck_assert_ptr_nonnull(strstr(res.content,
                                     "Received: from [2001:db8::1] (unknown [IPv6:2001:db8::1])\n"
                                     "\t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384"
                                     " (256/256 bits))\n"
                                     "\t(Client CN \"c\", Issuer \"i\" (verified OK))\n"));
        result_done(&res);
        res = (Result) {};
}
END_TEST

START_TEST(test_received_quoted_rcpt)
{
        _cleanup_(queue_envelope_freep) QueueEnvelope *e =
                network_envelope("", (const char *const[]) { "john doe@x.example", NULL });
        _cleanup_(result_done) Result res;
        CleanupSettings s = settings();

        set_tz("UTC");
        ck_assert_int_eq(queue_envelope_set(e, QUEUE_FIELD_HELO, "evil\r\nX-Injected: 1"), 0);
        run(&s, NULL, e, "Subject: x\n\n", FEED_LINES, 0, &res);
        ck_assert_str_eq(res.content,
                         "Received: from evil??X-Injected: 1 (mail.example.org [192.0.2.1])\n"
                         "\tby mx.test (tern) with ESMTP id ID\n"
                         "\tfor <\"john doe\"@x.example>; " DATE_UTC "\n"
                         "Subject: x\n\n");
        ck_assert_str_eq(res.env->sender, "");
}
END_TEST

/* ---- local submissions and missing headers ---- */

static QueueEnvelope *env_local(void) {
        return envelope("alice", (const char *const[]) { "bob", NULL });
}

START_TEST(test_local_missing_headers)
{
        CleanupSettings s = settings();
        CleanupExtra x = { .local_uid = 1000, .local_full_name = "Alice Example" };

        set_tz("UTC");
        s.add_missing_headers = true;
        s.undisclosed_recipients_header = "To: undisclosed-recipients:;";
        check_all_feeds(&s, &x, env_local, "Subject: hi\n\nbody\n",
                        "Received: by mx.test (tern, from userid 1000)\n"
                        "\tid ID; " DATE_UTC "\n"
                        "Subject: hi\n"
                        "Message-Id: <20240201100000.ID@mx.test>\n"
                        "Date: " DATE_UTC "\n"
                        "From: Alice Example <alice@origin.test>\n"
                        "To: undisclosed-recipients:;\n"
                        "\nbody\n", 0);
}
END_TEST

START_TEST(test_local_message_id)
{
        _cleanup_(queue_envelope_freep) QueueEnvelope *e = env_local();
        _cleanup_(result_done) Result res;
        CleanupSettings s = settings();
        CleanupExtra x = { .local_uid = 0, .local_full_name = "Doe, John \"JD\"" };

        set_tz("UTC");
        s.add_missing_headers = true;
        run(&s, &x, e, "", FEED_LINES, 0, &res);
        ck_assert_int_eq(res.end, 0);
        ck_assert_str_eq(res.message_id, "<20240201100000.ID@mx.test>");
        /* No header section at all: the headers are added, no body follows. No To: without
         * undisclosed_recipients_header (Postfix's default). */
        ck_assert_str_eq(res.content,
                         "Received: by mx.test (tern, from userid 0)\n"
                         "\tid ID; " DATE_UTC "\n"
                         "Message-Id: <20240201100000.ID@mx.test>\n"
                         "Date: " DATE_UTC "\n"
                         "From: \"Doe, John \\\"JD\\\"\" <alice@origin.test>\n");
}
END_TEST

START_TEST(test_local_obsolete_from)
{
        _cleanup_(queue_envelope_freep) QueueEnvelope *e = env_local();
        _cleanup_(result_done) Result res;
        CleanupSettings s = settings();
        CleanupExtra x = { .local_uid = 7, .local_full_name = "Alice (the) Example" };

        set_tz("UTC");
        s.add_missing_headers = true;
        s.header_from_format = CLEANUP_FROM_OBSOLETE;
        run(&s, &x, e, "Date: yesterday\nMessage-ID:\n <given@x>  \n\nbody", FEED_LINES, 0,
            &res);
        ck_assert_int_eq(res.end, 0);
        ck_assert_str_eq(res.message_id, "<given@x>");
        ck_assert_str_eq(res.content,
                         "Received: by mx.test (tern, from userid 7)\n"
                         "\tid ID; " DATE_UTC "\n"
                         "Date: yesterday\n"
                         "Message-ID:\n <given@x>  \n"
                         "From: alice@origin.test (Alice \\(the\\) Example)\n"
                         "\nbody\n");
}
END_TEST

START_TEST(test_local_null_sender_and_resent)
{
        _cleanup_(queue_envelope_freep) QueueEnvelope *e =
                envelope("", (const char *const[]) { "bob", NULL });
        _cleanup_(result_done) Result res;
        CleanupSettings s = settings();
        CleanupExtra x = { .local_uid = 7, .local_full_name = "Ignored" };

        set_tz("UTC");
        s.add_missing_headers = true;
        s.undisclosed_recipients_header = "To: undisclosed-recipients:;";
        run(&s, &x, e, "From: a@b.example\nTo: c@d.example\nResent-To: x@y.example\n\n",
            FEED_LINES, 0, &res);
        ck_assert_int_eq(res.end, 0);
        /* A Resent- header: the Resent- forms are added; the plain Message-ID is unknown. */
        ck_assert_ptr_null(res.message_id);
        ck_assert_str_eq(res.content,
                         "Received: by mx.test (tern, from userid 7)\n"
                         "\tid ID; " DATE_UTC "\n"
                         "From: a@b.example\nTo: c@d.example\nResent-To: x@y.example\n"
                         "Resent-Message-Id: <20240201100000.ID@mx.test>\n"
                         "Resent-Date: " DATE_UTC "\n"
                         "Resent-From: MAILER-DAEMON\n"
                         "\n");
}
END_TEST

START_TEST(test_no_client_no_uid)
{
        _cleanup_(queue_envelope_freep) QueueEnvelope *e = env_local();
        _cleanup_(result_done) Result res;
        CleanupSettings s = settings();

        set_tz("UTC");
        s.mail_name = NULL;
        run(&s, NULL, e, "Subject: x\n", FEED_LINES, 0, &res);
        ck_assert_str_eq(res.content, "Received: by mx.test (tern)\n\tid ID; " DATE_UTC "\n"
                                      "Subject: x\n");
}
END_TEST

/* ---- header limits, drops, odd shapes ---- */

START_TEST(test_header_size_limit)
{
        CleanupSettings s = settings();

        set_tz("UTC");
        s.header_size_limit = 20;
        /* The logical header is cut at 20 bytes, folding LFs counted; the rest is discarded. */
        check_all_feeds(&s, NULL, env_one,
                        "Subject: 0123456789\n more text\n more\nX: y\n\nbody\n",
                        NET_RECEIVED_ONE "Subject: 0123456789\nX: y\n\nbody\n", 0);
}
END_TEST

START_TEST(test_drop_headers)
{
        _cleanup_(queue_envelope_freep) QueueEnvelope *e = env_one(), *e2 = env_one(),
                                                      *e3 = env_one();
        _cleanup_(result_done) Result res;
        CleanupSettings s = settings();
        const char *msg = "Return-Path: <x@y>\nBcc: secret\nResent-Bcc: s2\n"
                          "Content-Length: 12\nX-Drop: me\n  continued\nTo: t@h.example\n\nb\n";

        set_tz("UTC");
        run(&s, NULL, e, msg, FEED_LINES, 0, &res);
        ck_assert_str_eq(res.content, NET_RECEIVED_ONE "X-Drop: me\n  continued\n"
                                      "To: t@h.example\n\nb\n");
        result_done(&res);

        s.message_drop_headers = "x-drop, BCC";
        run(&s, NULL, e2, msg, FEED_LINES, 0, &res);
        ck_assert_str_eq(res.content, NET_RECEIVED_ONE "Return-Path: <x@y>\nResent-Bcc: s2\n"
                                      "Content-Length: 12\nTo: t@h.example\n\nb\n");
        result_done(&res);

        s.message_drop_headers = "";
        run(&s, NULL, e3, msg, FEED_LINES, 0, &res);
        ck_assert_str_eq(res.content, NET_RECEIVED_ONE "Return-Path: <x@y>\nBcc: secret\n"
                                      "Resent-Bcc: s2\nContent-Length: 12\nX-Drop: me\n"
                                      "  continued\nTo: t@h.example\n\nb\n");
        result_done(&res);
        res = (Result) {};
}
END_TEST

START_TEST(test_body_begins_with_space)
{
        CleanupSettings s = settings();

        set_tz("UTC");
        /* No header at all and a first line with leading white space: it must not continue
         * the Received: header. */
        check_all_feeds(&s, NULL, env_one, "  indented\nsecond\n",
                        NET_RECEIVED_ONE "\n  indented\nsecond\n", 0);
        /* A non-header line ends the header section without an empty line. */
        check_all_feeds(&s, NULL, env_one, "Subject: s\nnot a header\n",
                        NET_RECEIVED_ONE "Subject: s\nnot a header\n", 0);
}
END_TEST

START_TEST(test_unterminated_last_line)
{
        CleanupSettings s = settings();

        set_tz("UTC");
        /* BDAT content may end mid-line: the line is ended in the queue file. */
        check_all_feeds(&s, NULL, env_one, "Subject: s\n\nno newline",
                        NET_RECEIVED_ONE "Subject: s\n\nno newline\n", 0);
        check_all_feeds(&s, NULL, env_one, "Subject: s",
                        NET_RECEIVED_ONE "Subject: s\n", 0);
}
END_TEST

/* ---- hop count ---- */

static char *received_lines(unsigned n) {
        _cleanup_(buf_done) Buf b = BUF_INIT(BUF_MAX_UNBOUNDED);

        for (unsigned i = 0; i < n; i++)
                ck_assert_int_eq(buf_printf(&b, "Received: from h%u\n\tby x; date\n", i), 0);
        ck_assert_int_eq(buf_append_str(&b, "Subject: s\n\nbody\n"), 0);
        return buf_steal(&b);
}

START_TEST(test_hopcount)
{
        static const struct {
                unsigned limit, received;
                int end;
                unsigned hops;
        } cases[] = {
                /* Postfix counts its own Received: and refuses at the limit. */
                { 5, 0, 0, 1 },
                { 5, 3, 0, 4 },
                { 5, 4, -ELOOP, 5 },
                { 5, 5, -ELOOP, 6 },
                { 5, 30, -ELOOP, 31 },
                { 1, 0, -ELOOP, 1 },
                { 2, 0, 0, 1 },
                { 0, 48, 0, 49 },       /* 0: Postfix's 50 */
                { 0, 49, -ELOOP, 50 },
        };

        set_tz("UTC");
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_(queue_envelope_freep) QueueEnvelope *e = env_one();
                _cleanup_free_ char *msg = received_lines(cases[i].received);
                _cleanup_(result_done) Result res;
                CleanupSettings s = settings();

                s.hopcount_limit = cases[i].limit;
                run(&s, NULL, e, msg, FEED_LINES, 0, &res);
                ck_assert_int_eq(res.end, cases[i].end);
                ck_assert_uint_eq(res.hops, cases[i].hops);
                if (res.end == 0 && cases[i].received > 0)
                        ck_assert_ptr_nonnull(strstr(res.content, "Received: from h0\n"));
        }
}
END_TEST

START_TEST(test_hopcount_piecewise)
{
        _cleanup_free_ char *at = received_lines(4), *below = received_lines(3);
        CleanupSettings s = settings();

        set_tz("UTC");
        s.hopcount_limit = 5;
        check_all_feeds(&s, NULL, env_one, below, NULL, 0);
        check_all_feeds(&s, NULL, env_one, at, NULL, -ELOOP);
}
END_TEST

/* ---- errors ---- */

START_TEST(test_errors)
{
        _cleanup_(queue_envelope_freep) QueueEnvelope *e = env_one(), *bare = NULL,
                                                      *io = NULL;
        _cleanup_(cleanup_freep) Cleanup *c = NULL;
        CleanupSettings s = settings();
        TestQueue q;
        int fd;

        set_tz("UTC");
        test_queue_init(&q);
        fd = queue_dirs_fd(q.dirs, QUEUE_INCOMING);

        s.myhostname = NULL;
        ck_assert_int_eq(cleanup_new(&s, fd, e, NULL, 0, &c), -EINVAL);
        s.myhostname = "";
        ck_assert_int_eq(cleanup_new(&s, fd, e, NULL, 0, &c), -EINVAL);
        s = settings();
        s.undisclosed_recipients_header = "no colon here";
        ck_assert_int_eq(cleanup_new(&s, fd, e, NULL, 0, &c), -EINVAL);
        s = settings();
        s.header_from_format = _CLEANUP_FROM_MAX;
        ck_assert_int_eq(cleanup_new(&s, fd, e, NULL, 0, &c), -EINVAL);
        s = settings();

        /* No recipient, no sender. */
        ck_assert_int_eq(queue_envelope_new(&bare), 0);
        ck_assert_int_eq(cleanup_new(&s, fd, bare, NULL, 0, &c), -EINVAL);
        ck_assert_int_eq(queue_envelope_set(bare, QUEUE_FIELD_SENDER, "x"), 0);
        ck_assert_int_eq(cleanup_new(&s, fd, bare, NULL, 0, &c), -EINVAL);

        /* The canonical callback's hard errors abort. */
        io = network_envelope("ioerr", (const char *const[]) { "a@b.example", NULL });
        ck_assert_int_eq(cleanup_new(&s, fd, io, NULL, 0, &c), -EIO);
        ck_assert_ptr_null(c);

        /* A header rewrite that fails aborts the message. */
        s.rewrite_headers = true;
        ck_assert_int_eq(cleanup_new(&s, fd, e, NULL, 0, &c), 0);
        ck_assert_int_eq(cleanup_emit(c, "From: ioerr", 11, SMTP_DATA_PIECE_HEADER), 0);
        ck_assert_int_eq(cleanup_emit(c, "", 0, SMTP_DATA_PIECE_BODY_START), -EIO);
        ck_assert_int_eq(cleanup_emit(c, "x", 1, 0), -EIO);             /* sticky */
        ck_assert_int_eq(cleanup_end_content(c), -EIO);
        c = cleanup_free(c);
        ck_assert_uint_eq(incoming_count(&q), 0);

        /* size_limit: the writer's -EMSGSIZE, sticky. */
        s = settings();
        ck_assert_int_eq(cleanup_new(&s, fd, e, NULL, 300, &c), 0);
        ck_assert_int_eq(cleanup_emit(c, "", 0, SMTP_DATA_PIECE_BODY_START), 0);
        for (int i = 0; i < 100; i++) {
                int r = cleanup_emit(c, "0123456789", 10, 0);

                if (r < 0) {
                        ck_assert_int_eq(r, -EMSGSIZE);
                        break;
                }
                ck_assert_int_lt(i, 99);
        }
        ck_assert_int_eq(cleanup_end_content(c), -EMSGSIZE);
        c = cleanup_free(c);

        /* An unfinished file is removed by cleanup_free(). */
        ck_assert_int_eq(cleanup_new(&s, fd, e, NULL, 0, &c), 0);
        ck_assert_int_eq(cleanup_emit(c, "Subject: x", 10, SMTP_DATA_PIECE_HEADER), 0);
        ck_assert_int_eq(cleanup_end_content(c), 0);
        c = cleanup_free(c);
        ck_assert_uint_eq(incoming_count(&q), 0);
        ck_assert_ptr_null(cleanup_free(NULL));

        test_queue_done(&q);
}
END_TEST

/* ---- settings and formats ---- */

START_TEST(test_settings_load)
{
        _cleanup_(config_freep) Config *cfg = NULL;
        _cleanup_free_ char *err = NULL;
        CleanupSettings s;

        ck_assert_int_eq(config_new_with_hostname("mx.example.com", &cfg), 0);
        ck_assert_int_eq(cleanup_settings_load(cfg, &s, &err), 0);
        ck_assert_str_eq(s.myhostname, "mx.example.com");
        ck_assert_str_eq(s.myorigin, "mx.example.com");
        ck_assert_str_eq(s.mail_name, "tern");
        ck_assert_uint_eq(s.hopcount_limit, 50);
        ck_assert_uint_eq(s.header_size_limit, 102400);
        ck_assert_uint_eq(s.header_address_token_limit, 10240);
        ck_assert_int_eq(s.header_from_format, CLEANUP_FROM_STANDARD);
        ck_assert_str_eq(s.undisclosed_recipients_header, "");
        ck_assert_str_eq(s.message_drop_headers, CLEANUP_DROP_HEADERS_DEFAULT);
        ck_assert(!s.tls_received_header && !s.sasl_authenticated_header);
        ck_assert(!s.add_missing_headers && !s.rewrite_headers && !s.canonical);

        ck_assert_int_eq(config_set(cfg, "header_from_format", "obsolete"), 0);
        ck_assert_int_eq(config_set(cfg, "always_add_missing_headers", "yes"), 0);
        ck_assert_int_eq(config_set(cfg, "smtpd_tls_received_header", "yes"), 0);
        ck_assert_int_eq(config_set(cfg, "undisclosed_recipients_header",
                                    "To: undisclosed-recipients:;"), 0);
        ck_assert_int_eq(config_set(cfg, "hopcount_limit", "7"), 0);
        ck_assert_int_eq(cleanup_settings_load(cfg, &s, NULL), 0);
        ck_assert_int_eq(s.header_from_format, CLEANUP_FROM_OBSOLETE);
        ck_assert(s.add_missing_headers && s.tls_received_header);
        ck_assert_uint_eq(s.hopcount_limit, 7);
        ck_assert_str_eq(s.undisclosed_recipients_header, "To: undisclosed-recipients:;");
}
END_TEST

START_TEST(test_settings_load_errors)
{
        static const struct {
                const char *name, *value;
                int error;
        } cases[] = {
                { "header_from_format", "fancy", -EINVAL },
                { "undisclosed_recipients_header", "undisclosed", -EINVAL },
                { "hopcount_limit", "0", -ERANGE },
                { "hopcount_limit", "-1", -ERANGE },
                { "hopcount_limit", "many", -EBADMSG },
                { "header_size_limit", "0", -ERANGE },
                { "header_size_limit", "1k", -EBADMSG },
                { "header_address_token_limit", "0", -ERANGE },
                { "smtpd_sasl_authenticated_header", "maybe", -EBADMSG },
                { "always_add_missing_headers", "maybe", -EBADMSG },
                { "mail_name", "", -EINVAL },
                { "myhostname", "", -EINVAL },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_(config_freep) Config *cfg = NULL;
                _cleanup_free_ char *err = NULL;
                CleanupSettings s;

                ck_assert_int_eq(config_new_with_hostname("mx.example.com", &cfg), 0);
                ck_assert_int_eq(config_set(cfg, cases[i].name, cases[i].value), 0);
                ck_assert_int_eq(cleanup_settings_load(cfg, &s, &err), cases[i].error);
                ck_assert_ptr_nonnull(err);
                ck_assert_ptr_nonnull(strstr(err, cases[i].name));
        }
}
END_TEST

START_TEST(test_from_format_strings)
{
        ck_assert_int_eq(cleanup_from_format_from_string("standard"), CLEANUP_FROM_STANDARD);
        ck_assert_int_eq(cleanup_from_format_from_string("Obsolete"), CLEANUP_FROM_OBSOLETE);
        ck_assert_int_eq(cleanup_from_format_from_string("other"), _CLEANUP_FROM_INVALID);
        ck_assert_int_eq(cleanup_from_format_from_string(NULL), _CLEANUP_FROM_INVALID);
        ck_assert_str_eq(cleanup_from_format_to_string(CLEANUP_FROM_OBSOLETE), "obsolete");
        ck_assert_ptr_null(cleanup_from_format_to_string(_CLEANUP_FROM_MAX));
}
END_TEST

START_TEST(test_format_date)
{
        static const struct {
                const char *tz;
                int64_t t;
                const char *out;
        } cases[] = {
                { "UTC", 0, "Thu,  1 Jan 1970 00:00:00 +0000 (UTC)" },
                { "UTC", 1706781600, DATE_UTC },
                { "CET-1CEST,M3.5.0,M10.5.0/3", 1709632800,
                  "Tue,  5 Mar 2024 11:00:00 +0100 (CET)" },
                { "CET-1CEST,M3.5.0,M10.5.0/3", 1719136800,
                  "Sun, 23 Jun 2024 12:00:00 +0200 (CEST)" },
                { "EST5", 1709632800, "Tue,  5 Mar 2024 05:00:00 -0500 (EST)" },
                { "IST-5:30", 1709632800, "Tue,  5 Mar 2024 15:30:00 +0530 (IST)" },
                { "NST3:30", 1709632800, "Tue,  5 Mar 2024 06:30:00 -0330 (NST)" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_(buf_done) Buf b = BUF_INIT(BUF_MAX_UNBOUNDED);

                set_tz(cases[i].tz);
                ck_assert_int_eq(cleanup_format_date(cases[i].t, &b), 0);
                ck_assert_str_eq(buf_peek(&b), cases[i].out);
        }
        set_tz("UTC");
        {
                _cleanup_(buf_done) Buf small = BUF_INIT(10);

                ck_assert_int_eq(cleanup_format_date(0, &small), -ENOBUFS);
        }
}
END_TEST

static Suite *cleanup_suite(void) {
        Suite *s = suite_create("cleanup");
        TCase *tc;

        tc = tcase_create("network");
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_network_plain);
        tcase_add_test(tc, test_network_envelope);
        tcase_add_test(tc, test_network_rewrite_headers);
        tcase_add_test(tc, test_every_address_header);
        tcase_add_test(tc, test_rewrite_unrewritable);
        tcase_add_test(tc, test_tls_sasl_ipv6);
        tcase_add_test(tc, test_received_quoted_rcpt);
        suite_add_tcase(s, tc);

        tc = tcase_create("missing_headers");
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_local_missing_headers);
        tcase_add_test(tc, test_local_message_id);
        tcase_add_test(tc, test_local_obsolete_from);
        tcase_add_test(tc, test_local_null_sender_and_resent);
        tcase_add_test(tc, test_no_client_no_uid);
        suite_add_tcase(s, tc);

        tc = tcase_create("content");
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_header_size_limit);
        tcase_add_test(tc, test_drop_headers);
        tcase_add_test(tc, test_body_begins_with_space);
        tcase_add_test(tc, test_unterminated_last_line);
        suite_add_tcase(s, tc);

        tc = tcase_create("hopcount");
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_hopcount);
        tcase_add_test(tc, test_hopcount_piecewise);
        suite_add_tcase(s, tc);

        tc = tcase_create("errors");
        tcase_add_test(tc, test_errors);
        suite_add_tcase(s, tc);

        tc = tcase_create("settings");
        tcase_add_test(tc, test_settings_load);
        tcase_add_test(tc, test_settings_load_errors);
        tcase_add_test(tc, test_from_format_strings);
        tcase_add_test(tc, test_format_date);
        suite_add_tcase(s, tc);

        return s;
}

TERN_CHECK_MAIN(cleanup_suite)
