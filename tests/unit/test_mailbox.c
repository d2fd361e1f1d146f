/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Unit tests of mailbox: lock names, the errno → DSN map, Maildir delivery (layout, unique
 * names, content byte for byte, size limit, bad paths), mbox delivery ("From " line, the
 * added headers, ">From " quoting in header and body including across read pieces, a final
 * newline supplied, appends, truncation back to the old size when the limit is hit midway,
 * fcntl, flock and dotlock contention, stale dotlocks, symlinks and hard links refused) and
 * loop detection by Delivered-To. Queue files are made by the queue writer under $TMPDIR. */
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "check_main.h"
#include "mailbox.h"
#include "queue.h"

/* ---- helpers ---- */

static char *tmpdir_new(void) {
        const char *tmp = getenv("TMPDIR");
        char *d;

        ck_assert_int_ge(asprintf(&d, "%s/test_mailbox_XXXXXX", tmp ? tmp : "/tmp"), 0);
        ck_assert_ptr_nonnull(mkdtemp(d));
        return d;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        return remove(path);
}

static void tmpdir_free(char *d) {
        if (!d)
                return;
        (void) nftw(d, rm_one, 16, FTW_DEPTH | FTW_PHYS);
        free(d);
}
DEFINE_PTR_CLEANUP(char *, tmpdir_free);

static char *path_join(const char *a, const char *b) {
        char *p;

        ck_assert_int_ge(asprintf(&p, "%s/%s", a, b), 0);
        return p;
}

/* A finished queue file holding content (p, n), opened read-only, in a queue under dir. */
static QueueFile *queue_file_make(const char *dir, const char *sender, const char *p,
                                  size_t n) {
        _cleanup_(queue_envelope_freep) QueueEnvelope *e = NULL;
        _cleanup_(queue_writer_freep) QueueWriter *w = NULL;
        _cleanup_(queue_dirs_freep) QueueDirs *dirs = NULL;
        _cleanup_free_ char *spool = path_join(dir, "spool");
        QueueFile *f;
        char id[QUEUE_ID_MAX + 1];
        int in_fd;

        ck_assert_int_eq(queue_dirs_create(spool), 0);
        ck_assert_int_eq(queue_dirs_open(spool, &dirs), 0);
        in_fd = queue_dirs_fd(dirs, QUEUE_INCOMING);

        ck_assert_int_eq(queue_envelope_new(&e), 0);
        e->arrival_usec = 1700000000123456;
        ck_assert_int_eq(queue_envelope_set(e, QUEUE_FIELD_SENDER, sender), 0);
        ck_assert_int_eq(queue_envelope_add_rcpt(e, "bob@example.net", NULL, 0), 0);
        ck_assert_int_eq(queue_writer_new(in_fd, e, 0, &w), 0);
        strcpy(id, queue_writer_id(w));
        if (n > 0)
                ck_assert_int_eq(queue_writer_write(w, p, n), 0);
        ck_assert_int_eq(queue_writer_finish(w), 0);
        ck_assert_int_eq(queue_file_open(in_fd, id, false, NULL, &f), 0);
        ck_assert_uint_eq(f->envelope->content_size, n);
        return f;
}

static char *file_read(const char *path, size_t *ret_len) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        struct stat st;
        char *p;

        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(fstat(fd, &st), 0);
        p = malloc((size_t) st.st_size + 1);
        ck_assert_ptr_nonnull(p);
        ck_assert_int_eq(read(fd, p, (size_t) st.st_size), st.st_size);
        p[st.st_size] = '\0';
        *ret_len = (size_t) st.st_size;
        return p;
}

static void file_write(const char *path, const char *s) {
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(write(fd, s, strlen(s)), (ssize_t) strlen(s));
}

static size_t dir_count(const char *path) {
        DIR *d = opendir(path);
        struct dirent *de;
        size_t n = 0;

        ck_assert_ptr_nonnull(d);
        while ((de = readdir(d)))
                if (de->d_name[0] != '.')
                        n++;
        closedir(d);
        return n;
}

/* The "From " line Postfix would write for the test arrival time, in local time. */
static void from_line(const char *sender, char *buf, size_t size) {
        time_t t = 1700000000;
        struct tm tm;
        char date[64];

        ck_assert_ptr_nonnull(localtime_r(&t, &tm));
        ck_assert_uint_gt(strftime(date, sizeof(date), "%a %b %e %H:%M:%S %Y", &tm), 0);
        snprintf(buf, size, "From %s  %s\n", sender, date);
}

static const MailboxEnvelope test_env = {
        .return_path = "alice@example.org",
        .delivered_to = "bob@example.net",
        .original_to = "info@example.net",
        .arrival_usec = 1700000000123456,
};

/* ---- mailbox_lock_from_string ---- */

START_TEST(test_lock_from_string)
{
        static const struct {
                const char *in;
                int r;
                unsigned bits;
        } t[] = {
                { "fcntl, dotlock", 0, MAILBOX_LOCK_FCNTL | MAILBOX_LOCK_DOTLOCK },
                { "fcntl", 0, MAILBOX_LOCK_FCNTL },
                { "dotlock", 0, MAILBOX_LOCK_DOTLOCK },
                { "flock", 0, MAILBOX_LOCK_FLOCK },
                { "  flock,fcntl\tdotlock ", 0,
                  MAILBOX_LOCK_FLOCK | MAILBOX_LOCK_FCNTL | MAILBOX_LOCK_DOTLOCK },
                { "", 0, 0 },
                { " , ", 0, 0 },
                { "fcntl, fcntl", -EINVAL, 0 },
                { "lockf", -EINVAL, 0 },
                { "FCNTL", -EINVAL, 0 },
                { "fcntl,dotlocks", -EINVAL, 0 },
                { "fcnt", -EINVAL, 0 },
        };

        for (size_t i = 0; i < ELEMENTSOF(t); i++) {
                unsigned bits = 0xdead;

                ck_assert_msg(mailbox_lock_from_string(t[i].in, &bits) == t[i].r, "%s",
                              t[i].in);
                ck_assert_uint_eq(bits, t[i].r == 0 ? t[i].bits : 0xdead);
        }
}
END_TEST

/* ---- mailbox_status_from_errno ---- */

START_TEST(test_status_from_errno)
{
        static const struct {
                int error;
                const char *dsn;
                bool permanent;
                const char *text;
        } t[] = {
                { 0, "2.0.0", false, NULL },
                { -EDQUOT, "5.2.2", true, "mailbox full" },
                { -EFBIG, "5.2.2", true, "mailbox full" },
                { -ENOSPC, "4.3.0", false, "insufficient system storage" },
                { -EAGAIN, "4.2.0", false, "unable to lock mailbox" },
                { -EACCES, "4.2.0", false, "permission denied" },
                { -EPERM, "4.2.0", false, "permission denied" },
                { -ELOOP, "4.2.0", false, "mailbox is not a regular file" },
                { -EISDIR, "4.2.0", false, "mailbox is not a regular file" },
                { -ENOTDIR, "4.2.0", false, "mailbox is not a regular file" },
                { -EINVAL, "4.3.5", false, "mail system configuration error" },
                { -EIO, "4.3.0", false, "mail system error" },
                { EFBIG, "5.2.2", true, "mailbox full" },
        };

        for (size_t i = 0; i < ELEMENTSOF(t); i++) {
                MailboxStatus s;

                mailbox_status_from_errno(t[i].error, &s);
                ck_assert_str_eq(s.dsn, t[i].dsn);
                ck_assert(s.permanent == t[i].permanent);
                if (t[i].text)
                        ck_assert_str_eq(s.text, t[i].text);
                else
                        ck_assert_ptr_null(s.text);
        }
}
END_TEST

/* ---- Maildir ---- */

START_TEST(test_maildir_deliver)
{
        static const char msg[] = "Subject: hi\nFrom: alice@example.org\n\nFrom the body\n";
        static const char want[] = "Return-Path: <alice@example.org>\n"
                                   "X-Original-To: info@example.net\n"
                                   "Delivered-To: bob@example.net\n"
                                   "Subject: hi\nFrom: alice@example.org\n\nFrom the body\n";
        _cleanup_(tmpdir_freep) char *dir = tmpdir_new();
        _cleanup_(queue_file_freep) QueueFile *f = NULL;
        _cleanup_free_ char *md = path_join(dir, "Maildir"), *p1 = NULL, *p2 = NULL,
                            *got = NULL, *tmp = NULL, *cur = NULL, *new = NULL;
        struct stat st;
        size_t n;

        f = queue_file_make(dir, "alice@example.org", msg, strlen(msg));
        ck_assert_int_eq(mailbox_maildir_deliver(md, f, &test_env, 0, &p1), 0);
        ck_assert_ptr_nonnull(p1);
        ck_assert_ptr_nonnull(startswith(p1, md));
        ck_assert_ptr_nonnull(strstr(p1, "/new/"));
        ck_assert_ptr_nonnull(strstr(p1, ",S=")); /* Maildir++ size for Dovecot's quota */
        got = file_read(p1, &n);
        ck_assert_uint_eq(n, strlen(want));
        ck_assert_mem_eq(got, want, n);
        ck_assert_int_eq(stat(p1, &st), 0);
        ck_assert_int_eq(st.st_mode & 07777, 0600);
        ck_assert_int_eq(stat(md, &st), 0);
        ck_assert_int_eq(st.st_mode & 07777, 0700);

        /* A second delivery gets another name; no file is left in tmp/. */
        ck_assert_int_eq(mailbox_maildir_deliver(md, f, &test_env, 0, &p2), 0);
        ck_assert_str_ne(p1, p2);
        ck_assert_int_eq(mailbox_maildir_deliver(md, f, &test_env, 0, NULL), 0);
        tmp = path_join(md, "tmp");
        new = path_join(md, "new");
        cur = path_join(md, "cur");
        ck_assert_uint_eq(dir_count(tmp), 0);
        ck_assert_uint_eq(dir_count(new), 3);
        ck_assert_uint_eq(dir_count(cur), 0);
}
END_TEST

START_TEST(test_maildir_null_sender_no_orig)
{
        static const char msg[] = "Subject: bounce\n\nbody";   /* no final LF: kept as is */
        static const char want[] = "Return-Path: <>\n"
                                   "Delivered-To: bob@example.net\n"
                                   "Subject: bounce\n\nbody";
        _cleanup_(tmpdir_freep) char *dir = tmpdir_new();
        _cleanup_(queue_file_freep) QueueFile *f = NULL;
        _cleanup_free_ char *md = path_join(dir, "md"), *p = NULL, *got = NULL;
        MailboxEnvelope e = { .return_path = "", .delivered_to = "bob@example.net" };
        size_t n;

        f = queue_file_make(dir, "", msg, strlen(msg));
        ck_assert_int_eq(mailbox_maildir_deliver(md, f, &e, 0, &p), 0);
        got = file_read(p, &n);
        ck_assert_uint_eq(n, strlen(want));
        ck_assert_mem_eq(got, want, n);
}
END_TEST

START_TEST(test_maildir_errors)
{
        static const char msg[] = "Subject: x\n\n0123456789\n";
        _cleanup_(tmpdir_freep) char *dir = tmpdir_new();
        _cleanup_(queue_file_freep) QueueFile *f = NULL;
        _cleanup_free_ char *md = path_join(dir, "Maildir"), *nodir = path_join(dir, "a/b/c"),
                            *file = path_join(dir, "plain"), *tmp = NULL, *new = NULL;
        MailboxEnvelope bad = test_env;
        size_t hdr = strlen("Return-Path: <alice@example.org>\nX-Original-To: info@example.net\n"
                            "Delivered-To: bob@example.net\n");
        char *p = NULL;

        f = queue_file_make(dir, "alice@example.org", msg, strlen(msg));

        /* The limit counts the added headers too; exactly at the limit is fine. */
        ck_assert_int_eq(mailbox_maildir_deliver(md, f, &test_env, hdr + strlen(msg) - 1, &p),
                         -EFBIG);
        ck_assert_ptr_null(p);
        ck_assert_int_eq(mailbox_maildir_deliver(md, f, &test_env, hdr + strlen(msg), NULL), 0);
        tmp = path_join(md, "tmp");
        new = path_join(md, "new");
        ck_assert_uint_eq(dir_count(tmp), 0);
        ck_assert_uint_eq(dir_count(new), 1);

        /* Parents are not created; a file where the Maildir should be. */
        ck_assert_int_eq(mailbox_maildir_deliver(nodir, f, &test_env, 0, NULL), -ENOENT);
        file_write(file, "x");
        ck_assert_int_eq(mailbox_maildir_deliver(file, f, &test_env, 0, NULL), -ENOTDIR);

        /* Header injection through an address is refused. */
        bad.delivered_to = "bob@example.net\nBcc: eve@example.com";
        ck_assert_int_eq(mailbox_maildir_deliver(md, f, &bad, 0, NULL), -EINVAL);
        bad = test_env;
        bad.original_to = "x\ry";
        ck_assert_int_eq(mailbox_maildir_deliver(md, f, &bad, 0, NULL), -EINVAL);
        bad = test_env;
        bad.delivered_to = "";
        ck_assert_int_eq(mailbox_maildir_deliver(md, f, &bad, 0, NULL), -EINVAL);
        ck_assert_uint_eq(dir_count(new), 1);
}
END_TEST

/* Credentials are the caller's: a Maildir the delivering user may not write is -EACCES. As
 * root the check runs in a child that has become an unprivileged user. */
static int deliver_unprivileged(const char *md, QueueFile *f) {
        int status, r;
        pid_t pid;

        if (geteuid() != 0)
                return mailbox_maildir_deliver(md, f, &test_env, 0, NULL);
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                if (setresgid(65534, 65534, 65534) < 0 || setresuid(65534, 65534, 65534) < 0)
                        _exit(100);
                r = mailbox_maildir_deliver(md, f, &test_env, 0, NULL);
                _exit(r == -EACCES ? 0 : r == 0 ? 1 : 2);
        }
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert(WIFEXITED(status));
        ck_assert_int_eq(WEXITSTATUS(status), 0);
        return -EACCES;
}

START_TEST(test_maildir_permission)
{
        static const char msg[] = "Subject: x\n\n.\n";
        _cleanup_(tmpdir_freep) char *dir = tmpdir_new();
        _cleanup_(queue_file_freep) QueueFile *f = NULL;
        _cleanup_free_ char *md = path_join(dir, "Maildir"), *new = NULL;

        f = queue_file_make(dir, "alice@example.org", msg, strlen(msg));
        ck_assert_int_eq(mailbox_maildir_deliver(md, f, &test_env, 0, NULL), 0);
        new = path_join(md, "new");
        ck_assert_int_eq(chmod(dir, 0755), 0);
        ck_assert_int_eq(chmod(md, 0755), 0);
        ck_assert_int_eq(chmod(new, 0500), 0);
        ck_assert_int_eq(deliver_unprivileged(md, f), -EACCES);
        ck_assert_int_eq(chmod(new, 0700), 0);
        ck_assert_uint_eq(dir_count(new), 1);
}
END_TEST

/* ---- mbox ---- */

/* What delivering content (p, n) into an empty mbox gives after the "From " line and the
 * added headers. */
static const struct {
        const char *content;
        const char *body;
} quote_table[] = {
        { "Subject: x\n\nhello\n", "Subject: x\n\nhello\n\n" },
        { "Subject: x\n\nFrom me\n", "Subject: x\n\n>From me\n\n" },
        { "From x\nSubject: y\n\nb\n", ">From x\nSubject: y\n\nb\n\n" },
        { "S: x\n\nFrom\nFromage\nFrom:\n From \n>From a\n",
          "S: x\n\nFrom\nFromage\nFrom:\n From \n>From a\n\n" },
        { "S: x\n\nFrom a\nFrom b\n\nFrom c", "S: x\n\n>From a\n>From b\n\n>From c\n\n" },
        { "S: x\n\nno newline", "S: x\n\nno newline\n\n" },
        { "S: x\n\nFrom", "S: x\n\nFrom\n\n" },
        { "S: x\n\nFrom ", "S: x\n\n>From \n\n" },
        { "S: x\n\nFro", "S: x\n\nFro\n\n" },
        { "S: x\n\nxFrom a\n", "S: x\n\nxFrom a\n\n" },
        { "", "\n" },
        { "\n", "\n\n" },
        { "From ", ">From \n\n" },
        { "S: x\n\n\xff\x80\x00" "From \n", "S: x\n\n\xff\x80\x00" "From \n\n" },
};

START_TEST(test_mbox_quoting)
{
        _cleanup_(tmpdir_freep) char *dir = tmpdir_new();
        _cleanup_free_ char *mbox = path_join(dir, "mbox"), *got = NULL, *lock = NULL;
        _cleanup_(queue_file_freep) QueueFile *f = NULL;
        const char *content = quote_table[_i].content, *body = quote_table[_i].body;
        size_t clen = strlen(content), blen = strlen(body), n, flen;
        char from[256];
        /* "\x00" in the 8-bit row: lengths by hand */
        bool nul_row = strstr(content, "\xff\x80") != NULL;

        if (nul_row) {
                clen = strlen("S: x\n\n\xff\x80") + 1 + strlen("From \n");
                blen = clen + 1;
        }
        f = queue_file_make(dir, "alice@example.org", content, clen);
        ck_assert_int_eq(mailbox_mbox_deliver(mbox, f, &test_env,
                                              MAILBOX_LOCK_FCNTL | MAILBOX_LOCK_DOTLOCK, 0), 0);
        got = file_read(mbox, &n);
        from_line("alice@example.org", from, sizeof(from));
        flen = strlen(from);
        ck_assert_mem_eq(got, from, flen);
        ck_assert_ptr_nonnull(startswith(got + flen, "Return-Path: <alice@example.org>\n"
                                                     "X-Original-To: info@example.net\n"
                                                     "Delivered-To: bob@example.net\n"));
        flen += strlen("Return-Path: <alice@example.org>\nX-Original-To: info@example.net\n"
                       "Delivered-To: bob@example.net\n");
        ck_assert_uint_eq(n, flen + blen);
        ck_assert_mem_eq(got + flen, body, blen);

        /* The dotlock is gone after delivery. */
        lock = path_join(dir, "mbox.lock");
        ck_assert_int_eq(access(lock, F_OK), -1);
}
END_TEST

/* "From " lines that straddle the 64 KiB read pieces are still quoted. */
START_TEST(test_mbox_quoting_across_pieces)
{
        _cleanup_(tmpdir_freep) char *dir = tmpdir_new();
        _cleanup_free_ char *mbox = path_join(dir, "mbox"), *got = NULL, *content = NULL;
        _cleanup_(queue_file_freep) QueueFile *f = NULL;
        size_t chunk = 64 * 1024, n, quoted = 0;

        /* Line k starts at 5 - k bytes before the end of piece k: every split of "From "
         * (and one right at the boundary) is met once. */
        content = malloc(8 * chunk);
        ck_assert_ptr_nonnull(content);
        memset(content, 'a', 8 * chunk);
        memcpy(content, "S: x\n\n", 6);
        for (size_t k = 0; k < 6; k++) {
                size_t start = chunk * (k + 1) - 5 + k;

                content[start - 1] = '\n';
                memcpy(content + start, "From x", 6);
        }
        content[8 * chunk - 1] = '\n';
        f = queue_file_make(dir, "a@b", content, 8 * chunk);
        ck_assert_int_eq(mailbox_mbox_deliver(mbox, f, &test_env, 0, 0), 0);
        got = file_read(mbox, &n);
        for (const char *p = got; (p = strstr(p, "\n>From x")); p++)
                quoted++;
        ck_assert_uint_eq(quoted, 6);
        ck_assert_ptr_null(strstr(got, "\nFrom x"));
}
END_TEST

START_TEST(test_mbox_append_null_sender)
{
        static const char msg[] = "Subject: x\n\nbody\n";
        _cleanup_(tmpdir_freep) char *dir = tmpdir_new();
        _cleanup_free_ char *mbox = path_join(dir, "mbox"), *got = NULL, *want = NULL;
        _cleanup_(queue_file_freep) QueueFile *f = NULL;
        MailboxEnvelope e = { .return_path = "", .delivered_to = "bob@example.net",
                              .arrival_usec = 1700000000000000 };
        char from[256];
        size_t n;

        file_write(mbox, "old\n\n");
        f = queue_file_make(dir, "", msg, strlen(msg));
        ck_assert_int_eq(mailbox_mbox_deliver(mbox, f, &e, MAILBOX_LOCK_FLOCK, 0), 0);
        ck_assert_int_eq(mailbox_mbox_deliver(mbox, f, &e, MAILBOX_LOCK_FLOCK, 0), 0);
        from_line("MAILER-DAEMON", from, sizeof(from));
        ck_assert_int_ge(asprintf(&want, "old\n\n"
                                  "%sReturn-Path: <>\nDelivered-To: bob@example.net\n%s\n"
                                  "%sReturn-Path: <>\nDelivered-To: bob@example.net\n%s\n",
                                  from, msg, from, msg), 0);
        got = file_read(mbox, &n);
        ck_assert_str_eq(got, want);
}
END_TEST

START_TEST(test_mbox_size_limit_truncates)
{
        /* 10 "From " lines: each quoted line adds one byte the first check cannot see. */
        static const char msg[] = "S: x\n\nFrom 1\nFrom 2\nFrom 3\nFrom 4\nFrom 5\n"
                                  "From 6\nFrom 7\nFrom 8\nFrom 9\nFrom 0\n";
        _cleanup_(tmpdir_freep) char *dir = tmpdir_new();
        _cleanup_free_ char *mbox = path_join(dir, "mbox"), *got = NULL;
        _cleanup_(queue_file_freep) QueueFile *f = NULL;
        char from[256];
        size_t n, need;
        struct stat st;

        file_write(mbox, "old message\n\n");
        f = queue_file_make(dir, "alice@example.org", msg, strlen(msg));
        from_line("alice@example.org", from, sizeof(from));
        need = 13 + strlen(from) +
               strlen("Return-Path: <alice@example.org>\nX-Original-To: info@example.net\n"
                      "Delivered-To: bob@example.net\n") + strlen(msg) + 10 + 1;

        /* Refused before writing: the message alone does not fit. */
        ck_assert_int_eq(mailbox_mbox_deliver(mbox, f, &test_env, MAILBOX_LOCK_FCNTL, 100),
                         -EFBIG);
        /* Fits before quoting, not after: refused midway, the file cut back. */
        ck_assert_int_eq(mailbox_mbox_deliver(mbox, f, &test_env, MAILBOX_LOCK_FCNTL, need - 1),
                         -EFBIG);
        ck_assert_int_eq(stat(mbox, &st), 0);
        ck_assert_int_eq(st.st_size, 13);
        got = file_read(mbox, &n);
        ck_assert_str_eq(got, "old message\n\n");

        ck_assert_int_eq(mailbox_mbox_deliver(mbox, f, &test_env, MAILBOX_LOCK_FCNTL, need), 0);
        ck_assert_int_eq(stat(mbox, &st), 0);
        ck_assert_int_eq((size_t) st.st_size, need);
}
END_TEST

/* The truncation path with bytes really written before the failure: a message larger than
 * the output buffer, whose quoting pushes it over the limit at its end. */
START_TEST(test_mbox_truncate_after_partial_write)
{
        _cleanup_(tmpdir_freep) char *dir = tmpdir_new();
        _cleanup_free_ char *mbox = path_join(dir, "mbox"), *got = NULL, *content = NULL;
        _cleanup_(queue_file_freep) QueueFile *f = NULL;
        size_t len = 300 * 1024, n, need;
        char from[256];
        struct stat st;

        content = malloc(len);
        ck_assert_ptr_nonnull(content);
        memset(content, 'z', len);
        memcpy(content, "S: x\n\n", 6);
        memcpy(content + len - 8, "\nFrom x\n", 8);
        file_write(mbox, "old\n\n");
        f = queue_file_make(dir, "a@b", content, len);
        from_line("alice@example.org", from, sizeof(from));
        need = 5 + strlen(from) +
               strlen("Return-Path: <alice@example.org>\nX-Original-To: info@example.net\n"
                      "Delivered-To: bob@example.net\n") + len + 1 + 1;
        /* One byte short: the first check passes, the final empty line does not fit after
         * more than one buffer of output went to the file. */
        ck_assert_int_eq(mailbox_mbox_deliver(mbox, f, &test_env, 0, need - 1), -EFBIG);
        ck_assert_int_eq(stat(mbox, &st), 0);
        ck_assert_int_eq(st.st_size, 5);
        got = file_read(mbox, &n);
        ck_assert_str_eq(got, "old\n\n");
        ck_assert_int_eq(mailbox_mbox_deliver(mbox, f, &test_env, 0, need), 0);
        ck_assert_int_eq(stat(mbox, &st), 0);
        ck_assert_int_eq((size_t) st.st_size, need);
}
END_TEST

START_TEST(test_mbox_locks_busy)
{
        static const char msg[] = "S: x\n\nb\n";
        _cleanup_(tmpdir_freep) char *dir = tmpdir_new();
        _cleanup_free_ char *mbox = path_join(dir, "mbox"), *lock = NULL;
        _cleanup_(queue_file_freep) QueueFile *f = NULL;
        _cleanup_close_ int fd = -EBADF;
        struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
        struct stat st;

        file_write(mbox, "");
        f = queue_file_make(dir, "a@b", msg, strlen(msg));

        /* fcntl: an open-file-description lock conflicts with ours even in this process. */
        fd = open(mbox, O_RDWR | O_CLOEXEC);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(fcntl(fd, F_OFD_SETLK, &fl), 0);
        ck_assert_int_eq(mailbox_mbox_deliver(mbox, f, &test_env, MAILBOX_LOCK_FCNTL, 0), -EAGAIN);
        /* Without that lock type the delivery goes through. */
        ck_assert_int_eq(mailbox_mbox_deliver(mbox, f, &test_env, MAILBOX_LOCK_FLOCK, 0), 0);
        ck_assert_int_eq(stat(mbox, &st), 0);
        ck_assert_int_gt(st.st_size, 0);
        fd = safe_close(fd);

        /* flock on another open file description. */
        fd = open(mbox, O_RDWR | O_CLOEXEC);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(flock(fd, LOCK_EX), 0);
        ck_assert_int_eq(mailbox_mbox_deliver(mbox, f, &test_env, MAILBOX_LOCK_FLOCK, 0), -EAGAIN);
        ck_assert_int_eq(mailbox_mbox_deliver(mbox, f, &test_env,
                                              MAILBOX_LOCK_FCNTL | MAILBOX_LOCK_FLOCK, 0),
                         -EAGAIN);
        fd = safe_close(fd);

        /* Bad lock bits. */
        ck_assert_int_eq(mailbox_mbox_deliver(mbox, f, &test_env, 1u << 7, 0), -EINVAL);

        /* A fresh dotlock is respected and left alone. */
        lock = path_join(dir, "mbox.lock");
        file_write(lock, "");
        ck_assert_int_eq(mailbox_mbox_deliver(mbox, f, &test_env, MAILBOX_LOCK_DOTLOCK, 0),
                         -EAGAIN);
        ck_assert_int_eq(access(lock, F_OK), 0);
}
END_TEST

START_TEST(test_mbox_dotlock_stale)
{
        static const char msg[] = "S: x\n\nb\n";
        _cleanup_(tmpdir_freep) char *dir = tmpdir_new();
        _cleanup_free_ char *mbox = path_join(dir, "mbox"), *lock = NULL;
        _cleanup_(queue_file_freep) QueueFile *f = NULL;
        struct timespec now, ts[2];
        struct stat st;

        f = queue_file_make(dir, "a@b", msg, strlen(msg));
        lock = path_join(dir, "mbox.lock");
        file_write(lock, "");
        ck_assert_int_eq(clock_gettime(CLOCK_REALTIME, &now), 0);

        /* 499 s old: still held. */
        ts[0] = ts[1] = (struct timespec) { .tv_sec = now.tv_sec - 499 };
        ck_assert_int_eq(utimensat(AT_FDCWD, lock, ts, 0), 0);
        ck_assert_int_eq(mailbox_mbox_deliver(mbox, f, &test_env, MAILBOX_LOCK_DOTLOCK, 0),
                         -EAGAIN);
        ck_assert_int_eq(access(lock, F_OK), 0);

        /* In the future (clock stepped back): held, not stale. */
        ts[0] = ts[1] = (struct timespec) { .tv_sec = now.tv_sec + 3600 };
        ck_assert_int_eq(utimensat(AT_FDCWD, lock, ts, 0), 0);
        ck_assert_int_eq(mailbox_mbox_deliver(mbox, f, &test_env, MAILBOX_LOCK_DOTLOCK, 0),
                         -EAGAIN);

        /* 501 s old: stale, removed, the delivery takes and then drops its own lock. */
        ts[0] = ts[1] = (struct timespec) { .tv_sec = now.tv_sec - 501 };
        ck_assert_int_eq(utimensat(AT_FDCWD, lock, ts, 0), 0);
        ck_assert_int_eq(mailbox_mbox_deliver(mbox, f, &test_env,
                                              MAILBOX_LOCK_DOTLOCK | MAILBOX_LOCK_FCNTL, 0), 0);
        ck_assert_int_eq(access(lock, F_OK), -1);
        ck_assert_int_eq(stat(mbox, &st), 0);
        ck_assert_int_gt(st.st_size, 0);
}
END_TEST

START_TEST(test_mbox_refuses)
{
        static const char msg[] = "S: x\n\nb\n";
        _cleanup_(tmpdir_freep) char *dir = tmpdir_new();
        _cleanup_free_ char *mbox = path_join(dir, "mbox"), *target = path_join(dir, "target"),
                            *link2 = path_join(dir, "hard"), *sub = path_join(dir, "sub"),
                            *missing = path_join(dir, "no/such/mbox");
        _cleanup_(queue_file_freep) QueueFile *f = NULL;
        struct stat st;

        f = queue_file_make(dir, "a@b", msg, strlen(msg));
        file_write(target, "");
        ck_assert_int_eq(symlink(target, mbox), 0);
        ck_assert_int_eq(mailbox_mbox_deliver(mbox, f, &test_env, MAILBOX_LOCK_FCNTL, 0), -ELOOP);
        ck_assert_int_eq(link(target, link2), 0);
        ck_assert_int_eq(mailbox_mbox_deliver(link2, f, &test_env, 0, 0), -EPERM);
        ck_assert_int_eq(stat(target, &st), 0);
        ck_assert_int_eq(st.st_size, 0);
        ck_assert_int_eq(mkdir(sub, 0700), 0);
        ck_assert_int_eq(mailbox_mbox_deliver(sub, f, &test_env, 0, 0), -EISDIR);
        ck_assert_int_eq(mailbox_mbox_deliver(missing, f, &test_env, 0, 0), -ENOENT);
        ck_assert_int_eq(mailbox_mbox_deliver(missing, f, &test_env, MAILBOX_LOCK_DOTLOCK, 0),
                         -ENOENT);
}
END_TEST

/* ---- mailbox_has_delivered_to ---- */

START_TEST(test_has_delivered_to)
{
        static const struct {
                const char *content;
                int r;
        } t[] = {
                { "Delivered-To: bob@example.net\nSubject: x\n\nb\n", 1 },
                { "Subject: x\nDELIVERED-TO:   Bob@Example.NET  \n\nb\n", 1 },
                { "Subject: x\ndelivered-to:bob@example.net\n\n", 1 },
                { "Subject: x\nDelivered-To:\n bob@example.net\n\nb\n", 1 },   /* folded */
                { "Subject: x\nDelivered-To: bob@example.net", 1 },       /* no LF at all */
                { "Delivered-To: bob@example.net\n", 1 },
                { "Delivered-To: alice@example.net\nSubject: x\n\nb\n", 0 },
                { "Delivered-To: bob@example.net.evil\n\n", 0 },
                { "Delivered-To: xbob@example.net\n\n", 0 },
                { "X-Delivered-To: bob@example.net\n\n", 0 },
                { "Delivered-To bob@example.net\n\n", 0 },
                { "Subject: x\n\nDelivered-To: bob@example.net\n", 0 },   /* in the body */
                { "\nDelivered-To: bob@example.net\n", 0 },               /* no header */
                { "Subject: x\n folded\nDelivered-To: bob@example.net\n\n", 1 },
                { "Delivered-To: bob@example.net, other\n\n", 0 },
                { "", 0 },
        };
        _cleanup_(tmpdir_freep) char *dir = tmpdir_new();

        for (size_t i = 0; i < ELEMENTSOF(t); i++) {
                _cleanup_(queue_file_freep) QueueFile *f = NULL;

                f = queue_file_make(dir, "a@b", t[i].content, strlen(t[i].content));
                ck_assert_msg(mailbox_has_delivered_to(f, "bob@example.net") == t[i].r,
                              "case %zu", i);
        }
}
END_TEST

/* A long header section: the field is found past the first read piece, and an overlong
 * field does not match. */
START_TEST(test_has_delivered_to_long)
{
        _cleanup_(tmpdir_freep) char *dir = tmpdir_new();
        _cleanup_free_ char *content = NULL;
        _cleanup_(queue_file_freep) QueueFile *f = NULL, *g = NULL;
        size_t len = 200 * 1024;
        const char *dt = "\nDelivered-To: bob@example.net\n\nbody\n";

        content = malloc(len + 64);
        ck_assert_ptr_nonnull(content);
        memcpy(content, "X-Long: ", 8);
        memset(content + 8, 'q', len - 8);
        memcpy(content + len, dt, strlen(dt));
        f = queue_file_make(dir, "a@b", content, len + strlen(dt));
        ck_assert_int_eq(mailbox_has_delivered_to(f, "bob@example.net"), 1);

        /* Delivered-To: followed by 200 KiB of white space and the address: no match. */
        memcpy(content, "Delivered-To:", 13);
        memset(content + 13, ' ', len - 13);
        memcpy(content + len - 15, "bob@example.net", 15);
        content[len] = '\n';
        g = queue_file_make(dir, "a@b", content, len + 1);
        ck_assert_int_eq(mailbox_has_delivered_to(g, "bob@example.net"), 0);
}
END_TEST

static Suite *mailbox_suite(void) {
        Suite *s = suite_create("mailbox");
        TCase *tc;

        tc = tcase_create("lock");
        tcase_add_test(tc, test_lock_from_string);
        suite_add_tcase(s, tc);

        tc = tcase_create("status");
        tcase_add_test(tc, test_status_from_errno);
        suite_add_tcase(s, tc);

        tc = tcase_create("maildir");
        tcase_add_test(tc, test_maildir_deliver);
        tcase_add_test(tc, test_maildir_null_sender_no_orig);
        tcase_add_test(tc, test_maildir_errors);
        tcase_add_test(tc, test_maildir_permission);
        suite_add_tcase(s, tc);

        tc = tcase_create("mbox");
        tcase_add_loop_test(tc, test_mbox_quoting, 0, ELEMENTSOF(quote_table));
        tcase_add_test(tc, test_mbox_quoting_across_pieces);
        tcase_add_test(tc, test_mbox_append_null_sender);
        tcase_add_test(tc, test_mbox_size_limit_truncates);
        tcase_add_test(tc, test_mbox_truncate_after_partial_write);
        tcase_add_test(tc, test_mbox_locks_busy);
        tcase_add_test(tc, test_mbox_dotlock_stale);
        tcase_add_test(tc, test_mbox_refuses);
        suite_add_tcase(s, tc);

        tc = tcase_create("delivered_to");
        tcase_add_test(tc, test_has_delivered_to);
        tcase_add_test(tc, test_has_delivered_to_long);
        suite_add_tcase(s, tc);

        return s;
}

TERN_CHECK_MAIN(mailbox_suite)
