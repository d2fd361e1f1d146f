/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Unit tests of queue: ID format, uniqueness and order; envelope building; the file format's
 * round trips (every record type, the null sender, many recipients, 8-bit content) and its
 * rejections, including truncation at every byte; the writer (size limit, sticky errors,
 * abort, crash-visible states), the reader (incomplete files, status bytes flipped in place,
 * content reads), moves, scans, and the qmgr trigger against a socket bound in $TMPDIR. */
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>

#include "check_main.h"
#include "queue.h"
#include "workpool.h"

/* ---- helpers ---- */

static char *tmpdir_new(void) {
        const char *tmp = getenv("TMPDIR");
        char *d;

        ck_assert_int_ge(asprintf(&d, "%s/test_queue_XXXXXX", tmp ? tmp : "/tmp"), 0);
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

/* A queue under a fresh temporary directory. */
typedef struct TestQueue {
        char *dir;
        char *path;
        QueueDirs *dirs;
} TestQueue;

static void test_queue_init(TestQueue *t) {
        t->dir = tmpdir_new();
        ck_assert_int_ge(asprintf(&t->path, "%s/spool", t->dir), 0);
        ck_assert_int_eq(queue_dirs_create(t->path), 0);
        ck_assert_int_eq(queue_dirs_open(t->path, &t->dirs), 0);
}

static void test_queue_done(TestQueue *t) {
        t->dirs = queue_dirs_free(t->dirs);
        free(t->path);
        tmpdir_free(t->dir);
}

static QueueEnvelope *envelope_full(void) {
        QueueEnvelope *e;

        ck_assert_int_eq(queue_envelope_new(&e), 0);
        e->arrival_usec = 1700000000123456;
        ck_assert_int_eq(queue_envelope_set(e, QUEUE_FIELD_SENDER, "alice@example.org"), 0);
        e->ret = QUEUE_RET_HDRS;
        ck_assert_int_eq(queue_envelope_set(e, QUEUE_FIELD_ENVID, "QQ314159+2B=x"), 0);
        ck_assert_int_eq(queue_envelope_set(e, QUEUE_FIELD_CLIENT_NAME, "mail.example.org"), 0);
        ck_assert_int_eq(queue_envelope_set(e, QUEUE_FIELD_CLIENT_ADDR, "2001:db8::1"), 0);
        e->client_port = 50123;
        ck_assert_int_eq(queue_envelope_set(e, QUEUE_FIELD_HELO, "[192.0.2.1] with space"), 0);
        ck_assert_int_eq(queue_envelope_set(e, QUEUE_FIELD_PROTOCOL, "ESMTPSA"), 0);
        ck_assert_int_eq(queue_envelope_set(e, QUEUE_FIELD_SASL_USER, "alice"), 0);
        ck_assert_int_eq(queue_envelope_add_attr(e, "rewrite_context", "remote"), 0);
        ck_assert_int_eq(queue_envelope_add_attr(e, "empty", ""), 0);
        ck_assert_int_eq(queue_envelope_add_rcpt(e, "bob@example.net", "rfc822;bob@example.net",
                                                 QUEUE_NOTIFY_SUCCESS | QUEUE_NOTIFY_FAILURE),
                         0);
        ck_assert_int_eq(queue_envelope_add_rcpt(e, "\"c d\"@example.net", NULL, 0), 0);
        ck_assert_int_eq(queue_envelope_add_rcpt(e, "j\xc3\xbcrgen@b\xc3\xbc\x63her.de",
                                                 "utf-8;j+00FCrgen@b\\x{FC}cher.de",
                                                 QUEUE_NOTIFY_NEVER), 0);
        return e;
}

static void format_image(const QueueEnvelope *e, const char *content, size_t n, Buf *out) {
        buf_clear(out);
        ck_assert_int_eq(queue_file_format(e, content, n, out), 0);
}

/* Builds "header head content\n content tail end\n" with a correct header. */
static void image_build(Buf *out, const char *head, const char *content, const char *tail) {
        char header[QUEUE_HEADER_LEN + 1];
        size_t off = QUEUE_HEADER_LEN + strlen(head) + strlen("content\n");

        buf_clear(out);
        snprintf(header, sizeof(header), "TERNQ/1 %016zx %016zx\n", off, strlen(content));
        ck_assert_int_eq(buf_append_str(out, header), 0);
        ck_assert_int_eq(buf_append_str(out, head), 0);
        ck_assert_int_eq(buf_append_str(out, "content\n"), 0);
        ck_assert_int_eq(buf_append_str(out, content), 0);
        ck_assert_int_eq(buf_append_str(out, tail), 0);
        ck_assert_int_eq(buf_append_str(out, "end\n"), 0);
}

static void write_file(int dir_fd, const char *name, const char *p, size_t n, mode_t mode) {
        _cleanup_close_ int fd = -EBADF;

        fd = openat(dir_fd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(write(fd, p, n), (ssize_t) n);
        ck_assert_int_eq(fchmod(fd, mode), 0);
}

/* ---- IDs ---- */

START_TEST(test_id_format)
{
        static const struct {
                uint64_t usec, rnd;
                const char *id;
        } cases[] = {
                { 0, 0, "0000000000000000" },
                { 61, 61, "000000000z00000z" },
                { 62, 62, "0000000010000010" },
                { 839299365868340223ULL, 56800235583ULL, "zzzzzzzzzzzzzzzz" },
                { 839299365868340224ULL, 56800235584ULL, "0000000000000000" },  /* wraps */
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                char id[QUEUE_ID_MAX + 1];
                uint64_t t;

                queue_id_format(cases[i].usec, cases[i].rnd, id);
                ck_assert_str_eq(id, cases[i].id);
                ck_assert(queue_id_is_valid(id));
                ck_assert_int_eq(queue_id_get_time(id, &t), 0);
                ck_assert_uint_eq(t, cases[i].usec % 839299365868340224ULL);
        }
}
END_TEST

START_TEST(test_id_valid)
{
        static const struct {
                const char *s;
                bool valid;
        } cases[] = {
                { "0123456789ABCDEF", true },   { "zzzzzzzzzzzzzzzz", true },
                { "", false },                  { "0123456789ABCDE", false },
                { "0123456789ABCDEFG", false }, { "0123456789ABCDE-", false },
                { "0123456789ABCDE.", false },  { "../../etc/passwd", false },
                { "0123456789ABCD/F", false },  { "0123456789ABCDE\xc3", false },
        };
        uint64_t t;

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                ck_assert_msg(queue_id_is_valid(cases[i].s) == cases[i].valid, "%s", cases[i].s);
                ck_assert_int_eq(queue_id_get_time(cases[i].s, &t), cases[i].valid ? 0 : -EINVAL);
        }
        ck_assert(!queue_id_is_valid(NULL));
}
END_TEST

START_TEST(test_id_unique_sorted)
{
        enum { N = 100000 };
        char (*ids)[QUEUE_ID_MAX + 1] = calloc(N, sizeof(*ids));
        struct timespec ts;
        uint64_t before, after, t;

        ck_assert_ptr_nonnull(ids);
        ck_assert_int_eq(clock_gettime(CLOCK_REALTIME, &ts), 0);
        before = (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
        for (size_t i = 0; i < N; i++) {
                ck_assert_int_eq(queue_id_new(ids[i]), 0);
                ck_assert_uint_eq(strlen(ids[i]), QUEUE_ID_LEN);
                ck_assert(queue_id_is_valid(ids[i]));
                /* Strictly increasing: creation order is sorted order, and no duplicate. */
                if (i > 0)
                        ck_assert_msg(strcmp(ids[i - 1], ids[i]) < 0, "%s >= %s", ids[i - 1],
                                      ids[i]);
        }
        ck_assert_int_eq(clock_gettime(CLOCK_REALTIME, &ts), 0);
        after = (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;

        ck_assert_int_eq(queue_id_get_time(ids[0], &t), 0);
        ck_assert_uint_ge(t, before);
        ck_assert_int_eq(queue_id_get_time(ids[N - 1], &t), 0);
        /* Bumped at most one microsecond per ID beyond the clock. */
        ck_assert_uint_le(t, after + N);
        free(ids);
}
END_TEST

static int cmp_id_n(const void *a, const void *b) {
        return memcmp(a, b, QUEUE_ID_LEN);
}

/* Several processes drawing IDs at the same time (smtpd and pickup instances): no duplicate. */
START_TEST(test_id_unique_processes)
{
        enum { PROCS = 4, PER = 20000 };
        char (*ids)[QUEUE_ID_LEN] = calloc(PROCS * PER, sizeof(*ids));
        int fds[PROCS];

        ck_assert_ptr_nonnull(ids);
        for (int p = 0; p < PROCS; p++) {
                int pfd[2];
                pid_t pid;

                ck_assert_int_eq(pipe2(pfd, O_CLOEXEC), 0);
                pid = fork();
                ck_assert_int_ge(pid, 0);
                if (pid == 0) {
                        FILE *f = fdopen(pfd[1], "w");

                        for (int i = 0; i < PER; i++) {
                                char id[QUEUE_ID_MAX + 1];

                                if (!f || queue_id_new(id) < 0 ||
                                    fwrite(id, QUEUE_ID_LEN, 1, f) != 1)
                                        _exit(EXIT_FAILURE);
                        }
                        _exit(fclose(f) == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
                }
                safe_close(pfd[1]);
                fds[p] = pfd[0];
        }
        for (int p = 0; p < PROCS; p++) {
                size_t want = (size_t) PER * QUEUE_ID_LEN, got = 0;
                char *dst = ids[p * PER];
                int status;

                while (got < want) {
                        ssize_t k = read(fds[p], dst + got, want - got);

                        ck_assert_int_gt(k, 0);
                        got += (size_t) k;
                }
                safe_close(fds[p]);
                ck_assert_int_gt(wait(&status), 0);
                ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        }
        qsort(ids, PROCS * PER, sizeof(*ids), cmp_id_n);
        for (size_t i = 1; i < PROCS * PER; i++)
                ck_assert(memcmp(ids[i - 1], ids[i], QUEUE_ID_LEN) < 0);
        free(ids);
}
END_TEST

/* ---- envelope building ---- */

START_TEST(test_envelope_build)
{
        _cleanup_(queue_envelope_freep) QueueEnvelope *e = NULL;
        char long_value[QUEUE_VALUE_MAX + 2];

        memset(long_value, 'a', sizeof(long_value) - 1);
        long_value[sizeof(long_value) - 1] = '\0';

        ck_assert_int_eq(queue_envelope_new(&e), 0);
        ck_assert_int_eq(queue_envelope_set(e, QUEUE_FIELD_SENDER, ""), 0);
        ck_assert_str_eq(e->sender, "");
        ck_assert_int_eq(queue_envelope_set(e, QUEUE_FIELD_ENVID, ""), -EINVAL);
        ck_assert_int_eq(queue_envelope_set(e, QUEUE_FIELD_HELO, long_value), -EINVAL);
        ck_assert_int_eq(queue_envelope_set(e, QUEUE_FIELD_HELO, long_value + 1), 0);
        ck_assert_int_eq(queue_envelope_set(e, QUEUE_FIELD_HELO, NULL), 0);
        ck_assert_ptr_null(e->helo);
        ck_assert_int_eq(queue_envelope_set(e, _QUEUE_FIELD_MAX, "x"), -EINVAL);

        ck_assert_int_eq(queue_envelope_add_rcpt(e, "", NULL, 0), -EINVAL);
        ck_assert_int_eq(queue_envelope_add_rcpt(e, "a@b", "", 0), -EINVAL);
        ck_assert_int_eq(queue_envelope_add_rcpt(e, "a@b", NULL, 16), -EINVAL);
        ck_assert_int_eq(queue_envelope_add_rcpt(e, "a@b", NULL,
                                                 QUEUE_NOTIFY_NEVER | QUEUE_NOTIFY_DELAY),
                         -EINVAL);
        ck_assert_int_eq(queue_envelope_add_rcpt(e, long_value, NULL, 0), -EINVAL);
        for (int i = 0; i < 100; i++)
                ck_assert_int_eq(queue_envelope_add_rcpt(e, "a@b", NULL, 0), 0);
        ck_assert_uint_eq(e->n_rcpts, 100);
        ck_assert_int_eq(e->rcpts[99].status, QUEUE_RCPT_PENDING);

        ck_assert_int_eq(queue_envelope_add_attr(e, "Upper", "x"), -EINVAL);
        ck_assert_int_eq(queue_envelope_add_attr(e, "", "x"), -EINVAL);
        ck_assert_int_eq(queue_envelope_add_attr(e, "a b", "x"), -EINVAL);
        ck_assert_int_eq(queue_envelope_add_attr(e, "ok_1", long_value), -EINVAL);
        ck_assert_int_eq(queue_envelope_add_attr(e, "ok_1", "v"), 0);
        ck_assert_int_eq(queue_envelope_add_attr(e, "ok_1", "w"), -EEXIST);
        ck_assert_str_eq(queue_envelope_get_attr(e, "ok_1"), "v");
        ck_assert_ptr_null(queue_envelope_get_attr(e, "ok_2"));
}
END_TEST

START_TEST(test_name_strings)
{
        for (QueueName q = 0; q < _QUEUE_MAX; q++)
                ck_assert_int_eq(queue_name_from_string(queue_name_to_string(q)), q);
        ck_assert_str_eq(queue_name_to_string(QUEUE_DEFERRED), "deferred");
        ck_assert_ptr_null(queue_name_to_string(_QUEUE_MAX));
        ck_assert_int_eq(queue_name_from_string("maildrop"), _QUEUE_INVALID);
        ck_assert_int_eq(queue_name_from_string(NULL), _QUEUE_INVALID);
}
END_TEST

/* ---- format and parse ---- */

START_TEST(test_roundtrip_all_records)
{
        _cleanup_(queue_envelope_freep) QueueEnvelope *e = envelope_full(), *p = NULL;
        _cleanup_(buf_done) Buf b = BUF_INIT(BUF_MAX_UNBOUNDED);
        static const char content[] = "Subject: \xe2\x98\x83 8-bit\n\nbody \x00\xff\x80 bytes\n"
                                      ".leading dot stays\n";

        e->rcpts[1].status = QUEUE_RCPT_DONE;
        e->rcpts[2].status = QUEUE_RCPT_FAILED;
        format_image(e, content, sizeof(content) - 1, &b);
        ck_assert_int_eq(queue_file_parse(buf_peek(&b), buf_pending(&b), NULL, &p), 0);
        ck_assert(queue_envelope_equal(e, p));
        ck_assert_uint_eq(p->content_size, sizeof(content) - 1);
        ck_assert_mem_eq(buf_peek(&b) + p->content_offset, content, sizeof(content) - 1);
        for (size_t i = 0; i < p->n_rcpts; i++)
                ck_assert_int_eq(buf_peek(&b)[p->rcpts[i].status_offset], p->rcpts[i].status);
        /* The envelope is printable ASCII: 8-bit and space are xtext-encoded. */
        for (size_t i = 0; i < p->content_offset; i++)
                ck_assert(buf_peek(&b)[i] == '\n' || (buf_peek(&b)[i] >= ' ' &&
                                                      buf_peek(&b)[i] <= '~'));
        ck_assert_ptr_nonnull(strstr(buf_peek(&b), "helo [192.0.2.1]+20with+20space\n"));
        ck_assert_ptr_nonnull(strstr(buf_peek(&b), "envid QQ314159+2B2B+3Dx\n"));
        ck_assert_ptr_nonnull(strstr(buf_peek(&b), "attr empty\n"));
        ck_assert_int_eq(p->ret, QUEUE_RET_HDRS);
        ck_assert_uint_eq(p->client_port, 50123);
        ck_assert_str_eq(p->rcpts[2].address, "j\xc3\xbcrgen@b\xc3\xbc\x63her.de");
}
END_TEST

START_TEST(test_roundtrip_null_sender_many_rcpts)
{
        _cleanup_(queue_envelope_freep) QueueEnvelope *e = NULL, *p = NULL;
        _cleanup_(buf_done) Buf b = BUF_INIT(BUF_MAX_UNBOUNDED);
        char addr[64];

        ck_assert_int_eq(queue_envelope_new(&e), 0);
        ck_assert_int_eq(queue_envelope_set(e, QUEUE_FIELD_SENDER, ""), 0);
        for (int i = 0; i < 5000; i++) {
                snprintf(addr, sizeof(addr), "user%d@example.com", i);
                ck_assert_int_eq(queue_envelope_add_rcpt(e, addr, NULL, (unsigned) i % 8 * 2), 0);
        }
        format_image(e, "", 0, &b);
        ck_assert_ptr_nonnull(strstr(buf_peek(&b), "\nsender\n"));
        ck_assert_int_eq(queue_file_parse(buf_peek(&b), buf_pending(&b), NULL, &p), 0);
        ck_assert(queue_envelope_equal(e, p));
        ck_assert_str_eq(p->sender, "");
        ck_assert_uint_eq(p->content_size, 0);
        ck_assert_uint_eq(p->n_rcpts, 5000);
        ck_assert_str_eq(p->rcpts[4999].address, "user4999@example.com");
}
END_TEST

START_TEST(test_roundtrip_max_values)
{
        _cleanup_(queue_envelope_freep) QueueEnvelope *e = NULL, *p = NULL;
        _cleanup_(buf_done) Buf b = BUF_INIT(BUF_MAX_UNBOUNDED);
        char v[QUEUE_VALUE_MAX + 1], name[QUEUE_ATTR_NAME_MAX + 1];

        /* Every byte escaped: the longest records the format allows must still parse. */
        memset(v, ' ', QUEUE_VALUE_MAX);
        v[QUEUE_VALUE_MAX] = '\0';
        ck_assert_int_eq(queue_envelope_new(&e), 0);
        ck_assert_int_eq(queue_envelope_set(e, QUEUE_FIELD_SENDER, v), 0);
        ck_assert_int_eq(queue_envelope_add_rcpt(e, v, v, 0xe), 0);
        memset(name, 'a', QUEUE_ATTR_NAME_MAX);
        name[QUEUE_ATTR_NAME_MAX] = '\0';
        ck_assert_int_eq(queue_envelope_add_attr(e, name, v), 0);
        format_image(e, "x\n", 2, &b);
        ck_assert_int_eq(queue_file_parse(buf_peek(&b), buf_pending(&b), NULL, &p), 0);
        ck_assert(queue_envelope_equal(e, p));
}
END_TEST

START_TEST(test_format_rejects)
{
        _cleanup_(queue_envelope_freep) QueueEnvelope *e = NULL;
        _cleanup_(buf_done) Buf b = BUF_INIT(BUF_MAX_UNBOUNDED);

        ck_assert_int_eq(queue_envelope_new(&e), 0);
        ck_assert_int_eq(queue_file_format(e, "", 0, &b), -EINVAL);        /* no sender */
        ck_assert_int_eq(queue_envelope_set(e, QUEUE_FIELD_SENDER, "a@b"), 0);
        ck_assert_int_eq(queue_file_format(e, "", 0, &b), -EINVAL);        /* no recipient */
        ck_assert_int_eq(queue_envelope_add_rcpt(e, "c@d", NULL, 0), 0);
        e->rcpts[0].status = 'x';
        ck_assert_int_eq(queue_file_format(e, "", 0, &b), -EINVAL);
        e->rcpts[0].status = QUEUE_RCPT_PENDING;
        e->client_port = 65536;
        ck_assert_int_eq(queue_file_format(e, "", 0, &b), -EINVAL);
        e->client_port = 0;
        e->ret = 7;
        ck_assert_int_eq(queue_file_format(e, "", 0, &b), -EINVAL);
        e->ret = QUEUE_RET_FULL;
        ck_assert_int_eq(queue_file_format(e, "", 0, &b), 0);
}
END_TEST

#define H "arrival 1\nsender a@b\n"
#define R "rcpt P 0 c@d\n"

static const struct {
        const char *head, *content, *tail;
        int expected;
} parse_cases[] = {
        { H R, "", "", 0 },
        { "rcpt D 6 c@d rfc822;c@d\nsender\nattr x\narrival 0\n", "a\n", R, 0 },
        { H, "body\n", R, 0 },                                  /* recipient in the tail only */
        { H R "ret FULL\nenvid x\nclient_name h\nclient_addr 1.2.3.4\nclient_port 65535\n"
          "helo h\nprotocol ESMTP\nsasl_user u\nattr a_1 v\n", "", "", 0 },
        { H R "envid a+2Bb+3D+20c\n", "", "", 0 },
        { H R "envid a+2b\n", "", "", -EBADMSG },               /* lower-case hex */
        { H R "envid a+2\n", "", "", -EBADMSG },                /* short escape */
        { H R "envid a+00b\n", "", "", -EBADMSG },              /* NUL */
        { H R "envid a=b\n", "", "", -EBADMSG },                /* '=' must be encoded */
        { H R "envid a\x80\n", "", "", -EBADMSG },              /* raw 8-bit */
        { H R "envid a\tb\n", "", "", -EBADMSG },
        { H R "envid a\rb\n", "", "", -EBADMSG },
        { H R "envid\n", "", "", -EBADMSG },
        { H R "envid a b\n", "", "", -EBADMSG },
        { H R "envid x\nenvid y\n", "", "", -EBADMSG },
        { H R "helo x\nhelo x\n", "", "", -EBADMSG },
        { H R "sender x\n", "", "", -EBADMSG },                 /* twice */
        { H R "arrival 2\n", "", "", -EBADMSG },
        { "sender a@b\n" R, "", "", -EBADMSG },                 /* no arrival */
        { "arrival 1\n" R, "", "", -EBADMSG },                  /* no sender */
        { H, "", "", -EBADMSG },                                /* no recipient */
        { "arrival 01\nsender a@b\n" R, "", "", -EBADMSG },
        { "arrival -1\nsender a@b\n" R, "", "", -EBADMSG },
        { "arrival 18446744073709551616\nsender a@b\n" R, "", "", -EBADMSG },
        { "arrival 18446744073709551615\nsender a@b\n" R, "", "", 0 },
        { "arrival  1\nsender a@b\n" R, "", "", -EBADMSG },     /* two spaces */
        { "arrival 1 \nsender a@b\n" R, "", "", -EBADMSG },     /* trailing space */
        { "arrival 1\nsender \n" R, "", "", -EBADMSG },
        { "arrival 1\nsender a b\n" R, "", "", -EBADMSG },
        { H R "\n", "", "", -EBADMSG },                         /* empty record */
        { H R "bogus x\n", "", "", -EBADMSG },
        { H R "Arrival 1\n", "", "", -EBADMSG },
        { H R "end\n", "", "", -EBADMSG },
        { H "rcpt P 0\n", "", "", -EBADMSG },
        { H "rcpt P 0 c@d e f\n", "", "", -EBADMSG },
        { H "rcpt X 0 c@d\n", "", "", -EBADMSG },
        { H "rcpt p 0 c@d\n", "", "", -EBADMSG },
        { H "rcpt PP 0 c@d\n", "", "", -EBADMSG },
        { H "rcpt P 3 c@d\n", "", "", -EBADMSG },               /* NEVER with SUCCESS */
        { H "rcpt P 1 c@d\n", "", "", 0 },
        { H "rcpt P f c@d\n", "", "", -EBADMSG },               /* NEVER with the rest */
        { H "rcpt P e c@d\n", "", "", 0 },
        { H "rcpt P E c@d\n", "", "", -EBADMSG },
        { H "rcpt P g c@d\n", "", "", -EBADMSG },
        { H R "ret full\n", "", "", -EBADMSG },
        { H R "ret FULL\nret HDRS\n", "", "", -EBADMSG },
        { H R "client_port 0\n", "", "", -EBADMSG },
        { H R "client_port 65536\n", "", "", -EBADMSG },
        { H R "client_port 1\nclient_port 1\n", "", "", -EBADMSG },
        { H R "attr A v\n", "", "", -EBADMSG },
        { H R "attr\n", "", "", -EBADMSG },
        { H R "attr a v w\n", "", "", -EBADMSG },
        { H R "attr a v\nattr a w\n", "", "", -EBADMSG },
        { H R "attr a\xc3\xa9 v\n", "", "", -EBADMSG },
        { H R, "", "sender x\n", -EBADMSG },                    /* only rcpt in the tail */
        { H R, "", "content\n", -EBADMSG },
        { H R, "", "rcpt P 0 c@d", -EBADMSG },                  /* glued to "end" */
        { H R "content\n", "", "", -EBADMSG },                  /* content twice */
};

START_TEST(test_parse_table)
{
        _cleanup_(buf_done) Buf b = BUF_INIT(BUF_MAX_UNBOUNDED);
        _cleanup_(queue_envelope_freep) QueueEnvelope *e = NULL;
        int r;

        image_build(&b, parse_cases[_i].head, parse_cases[_i].content, parse_cases[_i].tail);
        r = queue_file_parse(buf_peek(&b), buf_pending(&b), NULL, &e);
        ck_assert_msg(r == parse_cases[_i].expected, "case %d: %d, expected %d", _i, r,
                      parse_cases[_i].expected);
        if (r == 0) {
                _cleanup_(buf_done) Buf again = BUF_INIT(BUF_MAX_UNBOUNDED);
                _cleanup_(queue_envelope_freep) QueueEnvelope *e2 = NULL;

                ck_assert_int_eq(queue_file_format(e, parse_cases[_i].content,
                                                   strlen(parse_cases[_i].content), &again),
                                 0);
                ck_assert_int_eq(queue_file_parse(buf_peek(&again), buf_pending(&again), NULL,
                                                  &e2), 0);
                ck_assert(queue_envelope_equal(e, e2));
        }
}
END_TEST

static const struct {
        const char *image;
        int expected;
} header_cases[] = {
        { "", -EBADMSG },
        { "TERNQ/1 0000000000000050 0000000000000000\narrival 1\nsender\n" R "content\nend\n",
          0 },
        { "TERNQ/2 0000000000000050 0000000000000000\narrival 1\nsender\n" R "content\nend\n",
          -EBADMSG },
        { "ternq/1 0000000000000050 0000000000000000\narrival 1\nsender\n" R "content\nend\n",
          -EBADMSG },
        { "TERNQ/1 000000000000005A 0000000000000000\narrival 1\nsender\n" R "content\nend\n",
          -EBADMSG },
        { "TERNQ/1 0000000000000051 0000000000000000\narrival 1\nsender\n" R "content\nend\n",
          -EBADMSG },
        { "TERNQ/1 000000000000004f 0000000000000000\narrival 1\nsender\n" R "content\nend\n",
          -EBADMSG },
        { "TERNQ/1 0000000000000000 0000000000000000\narrival 1\nsender\n" R "content\nend\n",
          -EBADMSG },                                   /* never finished */
        { "TERNQ/1 0000000000000050 0000000000000001\narrival 1\nsender\n" R "content\nend\n",
          -EBADMSG },
        { "TERNQ/1 0000000000000050 ffffffffffffffff\narrival 1\nsender\n" R "content\nend\n",
          -EBADMSG },
        { "TERNQ/1 ffffffffffffffff 0000000000000000\narrival 1\nsender\n" R "content\nend\n",
          -EBADMSG },
        { "TERNQ/1 0000000000000050 0000000000000000\narrival 1\nsender\n" R "content\nend\nx",
          -EBADMSG },
        { "TERNQ/1 0000000000000050 0000000000000000 arrival 1\nsender\n" R "content\nend\n",
          -EBADMSG },
        { "TERNQ/1 0000000000000050 0000000000000000\narrival 1\nsender\n" R "content\nend\n\n",
          -EBADMSG },
        { "TERNQ/1 0000000000000050 0000000000000004\narrival 1\nsender\n" R "content\nend\n"
          "end\n", 0 },                                 /* the content is "end\n" */
};

START_TEST(test_parse_header)
{
        _cleanup_(queue_envelope_freep) QueueEnvelope *e = NULL;
        const char *p = header_cases[_i].image;

        ck_assert_msg(queue_file_parse(p, strlen(p), NULL, &e) == header_cases[_i].expected,
                      "case %d", _i);
}
END_TEST

START_TEST(test_parse_limits)
{
        _cleanup_(buf_done) Buf b = BUF_INIT(BUF_MAX_UNBOUNDED);
        QueueLimits lim = QUEUE_LIMITS_DEFAULT;
        QueueEnvelope *e = NULL;
        char *big;

        image_build(&b, H R R R "attr a x\nattr b y\n", "", "");
        lim.rcpt_max = 3;
        ck_assert_int_eq(queue_file_parse(buf_peek(&b), buf_pending(&b), &lim, &e), 0);
        e = queue_envelope_free(e);
        lim.rcpt_max = 2;
        ck_assert_int_eq(queue_file_parse(buf_peek(&b), buf_pending(&b), &lim, &e), -E2BIG);
        lim = QUEUE_LIMITS_DEFAULT;
        lim.attr_max = 1;
        ck_assert_int_eq(queue_file_parse(buf_peek(&b), buf_pending(&b), &lim, &e), -E2BIG);
        lim = QUEUE_LIMITS_DEFAULT;
        lim.envelope_max = buf_pending(&b) - 1;
        ck_assert_int_eq(queue_file_parse(buf_peek(&b), buf_pending(&b), &lim, &e), -EMSGSIZE);
        lim.envelope_max = buf_pending(&b);
        ck_assert_int_eq(queue_file_parse(buf_peek(&b), buf_pending(&b), &lim, &e), 0);
        e = queue_envelope_free(e);

        /* A record longer than QUEUE_RECORD_MAX. */
        big = malloc(QUEUE_RECORD_MAX + 64);
        ck_assert_ptr_nonnull(big);
        strcpy(big, H R "envid ");
        memset(big + strlen(big), 'x', QUEUE_RECORD_MAX);
        strcpy(big + strlen(H R "envid ") + QUEUE_RECORD_MAX, "\n");
        image_build(&b, big, "", "");
        ck_assert_int_eq(queue_file_parse(buf_peek(&b), buf_pending(&b), NULL, &e), -EMSGSIZE);
        free(big);
        ck_assert_ptr_null(e);
}
END_TEST

START_TEST(test_truncation_every_byte)
{
        _cleanup_(queue_envelope_freep) QueueEnvelope *e = envelope_full();
        _cleanup_(buf_done) Buf b = BUF_INIT(BUF_MAX_UNBOUNDED);
        static const char content[] = "Subject: x\n\nhello\n";
        size_t n;

        format_image(e, content, strlen(content), &b);
        n = buf_pending(&b);
        for (size_t k = 0; k < n; k++) {
                _cleanup_(queue_envelope_freep) QueueEnvelope *p = NULL;
                /* An exact-size copy so that ASan sees any read past the end. */
                _cleanup_free_ char *copy = malloc(k ? k : 1);

                ck_assert_ptr_nonnull(copy);
                memcpy(copy, buf_peek(&b), k);
                ck_assert_msg(queue_file_parse(copy, k, NULL, &p) == -EBADMSG, "length %zu", k);
                ck_assert_ptr_null(p);
        }
}
END_TEST

/* ---- writer and reader ---- */

START_TEST(test_write_read_roundtrip)
{
        TestQueue t;
        _cleanup_(queue_envelope_freep) QueueEnvelope *e = envelope_full();
        _cleanup_(queue_writer_freep) QueueWriter *w = NULL;
        _cleanup_(queue_file_freep) QueueFile *f = NULL;
        _cleanup_free_ char *content = NULL;
        int in_fd, r;
        char id[QUEUE_ID_MAX + 1], got[4096];
        size_t total = 0;
        struct stat st;
        uint64_t pos = 0;

        test_queue_init(&t);
        in_fd = queue_dirs_fd(t.dirs, QUEUE_INCOMING);

        ck_assert_int_eq(queue_writer_new(in_fd, e, 0, &w), 0);
        strcpy(id, queue_writer_id(w));
        ck_assert(queue_id_is_valid(id));

        /* While being written: mode 0600, and readers call it incomplete. */
        ck_assert_int_eq(fstatat(in_fd, id, &st, 0), 0);
        ck_assert_int_eq(st.st_mode & 07777, 0600);
        ck_assert_int_eq(queue_file_open(in_fd, id, false, NULL, &f), -EINPROGRESS);

        /* 200 KiB of 8-bit lines: more than one buffer flush. */
        content = malloc(200 * 1024);
        ck_assert_ptr_nonnull(content);
        while (total + 100 <= 200 * 1024) {
                char line[99];

                for (size_t i = 0; i < sizeof(line); i++)
                        line[i] = (char) (0x80 + (total + i) % 120);
                ck_assert_int_eq(queue_writer_put_line(w, line, sizeof(line)), 0);
                memcpy(content + total, line, sizeof(line));
                content[total + sizeof(line)] = '\n';
                total += 100;
        }
        ck_assert_uint_eq(queue_writer_size(w), total);
        ck_assert_int_eq(queue_writer_add_rcpt(w, "extracted@example.com", NULL, 0), 0);
        ck_assert_int_eq(queue_writer_add_rcpt(w, "", NULL, 0), -EINVAL);
        ck_assert_int_eq(queue_writer_finish(w), 0);
        ck_assert_int_eq(queue_writer_finish(w), -EALREADY);
        ck_assert_int_eq(queue_writer_write(w, "x", 1), -EALREADY);
        ck_assert_int_eq(queue_dir_sync(t.dirs, QUEUE_INCOMING), 0);
        w = queue_writer_free(w);               /* finished: the file stays */

        ck_assert_int_eq(fstatat(in_fd, id, &st, 0), 0);
        ck_assert_int_eq(st.st_mode & 07777, 0700);

        ck_assert_int_eq(queue_file_open(in_fd, id, false, NULL, &f), 0);
        ck_assert_str_eq(f->id, id);
        ck_assert_uint_eq(f->envelope->n_rcpts, 4);
        ck_assert_str_eq(f->envelope->rcpts[3].address, "extracted@example.com");
        e->rcpts[0].status = QUEUE_RCPT_PENDING;
        ck_assert_int_eq(queue_envelope_add_rcpt(e, "extracted@example.com", NULL, 0), 0);
        ck_assert(queue_envelope_equal(e, f->envelope));
        ck_assert_uint_eq(f->envelope->content_size, total);

        /* Content reads stop at the end of the content. */
        for (;;) {
                ssize_t k = queue_file_read_content(f, pos, got, sizeof(got));

                ck_assert_int_ge(k, 0);
                if (k == 0)
                        break;
                ck_assert_mem_eq(got, content + pos, (size_t) k);
                pos += (uint64_t) k;
        }
        ck_assert_uint_eq(pos, total);
        ck_assert_int_eq(queue_file_read_content(f, total + 5, got, sizeof(got)), 0);

        /* Read-only: status flips fail. */
        r = queue_file_set_status(f, 0, QUEUE_RCPT_DONE);
        ck_assert_int_eq(r, -EBADF);
        f = queue_file_free(f);

        /* Flip in place; the file's size and the other bytes stay. */
        ck_assert_int_eq(queue_file_open(in_fd, id, true, NULL, &f), 0);
        ck_assert(!queue_file_all_done(f));
        ck_assert_int_eq(queue_file_set_status(f, 4, QUEUE_RCPT_DONE), -EINVAL);
        ck_assert_int_eq(queue_file_set_status(f, 0, 'Z'), -EINVAL);
        for (size_t i = 0; i < 4; i++)
                ck_assert_int_eq(queue_file_set_status(f, i, i == 2 ? QUEUE_RCPT_FAILED :
                                                                      QUEUE_RCPT_DONE), 0);
        ck_assert(queue_file_all_done(f));
        f = queue_file_free(f);
        ck_assert_int_eq(queue_file_open(in_fd, id, false, NULL, &f), 0);
        ck_assert_int_eq(f->envelope->rcpts[0].status, QUEUE_RCPT_DONE);
        ck_assert_int_eq(f->envelope->rcpts[2].status, QUEUE_RCPT_FAILED);
        ck_assert_int_eq(f->envelope->rcpts[3].status, QUEUE_RCPT_DONE);
        ck_assert_uint_eq((uint64_t) f->st.st_size, (uint64_t) st.st_size);
        ck_assert(queue_file_all_done(f));
        f = queue_file_free(f);

        ck_assert_int_eq(queue_file_open(in_fd, "not-an-id", false, NULL, &f), -EINVAL);
        ck_assert_int_eq(queue_file_open(in_fd, "0000000000000000", false, NULL, &f), -ENOENT);
        test_queue_done(&t);
}
END_TEST

START_TEST(test_writer_size_limit)
{
        TestQueue t;
        _cleanup_(queue_envelope_freep) QueueEnvelope *e = envelope_full();
        _cleanup_(queue_writer_freep) QueueWriter *w = NULL;
        _cleanup_(queue_file_freep) QueueFile *f = NULL;
        int in_fd;
        char id[QUEUE_ID_MAX + 1];

        test_queue_init(&t);
        in_fd = queue_dirs_fd(t.dirs, QUEUE_INCOMING);

        /* Exactly at the limit is accepted. */
        ck_assert_int_eq(queue_writer_new(in_fd, e, 10, &w), 0);
        ck_assert_int_eq(queue_writer_put_line(w, "123456789", 9), 0);
        ck_assert_int_eq(queue_writer_finish(w), 0);
        strcpy(id, queue_writer_id(w));
        w = queue_writer_free(w);
        ck_assert_int_eq(queue_file_open(in_fd, id, false, NULL, &f), 0);
        ck_assert_uint_eq(f->envelope->content_size, 10);
        f = queue_file_free(f);

        /* One byte over: -EMSGSIZE, sticky; nothing of the refused call is counted. */
        ck_assert_int_eq(queue_writer_new(in_fd, e, 10, &w), 0);
        ck_assert_int_eq(queue_writer_write(w, "12345", 5), 0);
        ck_assert_int_eq(queue_writer_put_line(w, "12345", 5), -EMSGSIZE);
        ck_assert_uint_eq(queue_writer_size(w), 5);
        ck_assert_int_eq(queue_writer_write(w, "1", 1), -EMSGSIZE);
        ck_assert_int_eq(queue_writer_add_rcpt(w, "x@y", NULL, 0), -EMSGSIZE);
        ck_assert_int_eq(queue_writer_finish(w), -EMSGSIZE);
        strcpy(id, queue_writer_id(w));
        queue_writer_abort(w);
        queue_writer_abort(w);
        ck_assert_int_eq(faccessat(in_fd, id, F_OK, 0), -1);
        ck_assert_int_eq(errno, ENOENT);
        w = queue_writer_free(w);

        /* A writer freed unfinished removes its file. */
        ck_assert_int_eq(queue_writer_new(in_fd, e, 0, &w), 0);
        strcpy(id, queue_writer_id(w));
        ck_assert_int_eq(faccessat(in_fd, id, F_OK, 0), 0);
        w = queue_writer_free(w);
        ck_assert_int_eq(faccessat(in_fd, id, F_OK, 0), -1);

        test_queue_done(&t);
}
END_TEST

/* A file system error while writing (here EFBIG from RLIMIT_FSIZE, standing in for ENOSPC and
 * EDQUOT, which take the same path) comes back as such and sticks. Check runs each test in its
 * own process, so the limit does not leak. */
START_TEST(test_writer_fs_error)
{
        TestQueue t;
        _cleanup_(queue_envelope_freep) QueueEnvelope *e = envelope_full();
        _cleanup_(queue_writer_freep) QueueWriter *w = NULL;
        struct rlimit rl;
        char chunk[1000], id[QUEUE_ID_MAX + 1];
        int r = 0;

        test_queue_init(&t);
        ck_assert_ptr_ne(signal(SIGXFSZ, SIG_IGN), SIG_ERR);
        ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &rl) < 0 ? -errno : 0, 0);
        rl.rlim_cur = 64 * 1024;
        ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);

        ck_assert_int_eq(queue_writer_new(queue_dirs_fd(t.dirs, QUEUE_INCOMING), e, 0, &w), 0);
        strcpy(id, queue_writer_id(w));
        memset(chunk, 'x', sizeof(chunk));
        for (int i = 0; i < 200 && r == 0; i++)
                r = queue_writer_write(w, chunk, sizeof(chunk));
        ck_assert_int_eq(r, -EFBIG);
        ck_assert_int_eq(queue_writer_write(w, "x", 1), -EFBIG);
        ck_assert_int_eq(queue_writer_finish(w), -EFBIG);
        w = queue_writer_free(w);
        ck_assert_int_eq(faccessat(queue_dirs_fd(t.dirs, QUEUE_INCOMING), id, F_OK, 0), -1);
        test_queue_done(&t);
}
END_TEST

START_TEST(test_writer_recipients)
{
        TestQueue t;
        _cleanup_(queue_envelope_freep) QueueEnvelope *e = NULL;
        _cleanup_(queue_writer_freep) QueueWriter *w = NULL;
        _cleanup_(queue_file_freep) QueueFile *f = NULL;
        int in_fd;

        test_queue_init(&t);
        in_fd = queue_dirs_fd(t.dirs, QUEUE_INCOMING);
        ck_assert_int_eq(queue_envelope_new(&e), 0);

        /* No sender: the format cannot carry it. */
        ck_assert_int_eq(queue_writer_new(in_fd, e, 0, &w), -EINVAL);
        ck_assert_int_eq(queue_envelope_set(e, QUEUE_FIELD_SENDER, ""), 0);

        /* No recipient at all: -EDESTADDRREQ at finish. */
        ck_assert_int_eq(queue_writer_new(in_fd, e, 0, &w), 0);
        ck_assert_int_eq(queue_writer_put_line(w, "x", 1), 0);
        ck_assert_int_eq(queue_writer_finish(w), -EDESTADDRREQ);
        w = queue_writer_free(w);

        /* Recipients only from the tail (sendmail -t), with the null sender. */
        ck_assert_int_eq(queue_writer_new(in_fd, e, 0, &w), 0);
        ck_assert_int_eq(queue_writer_put_line(w, "To: a@b", 7), 0);
        ck_assert_int_eq(queue_writer_add_rcpt(w, "a@b", "rfc822;a@b", QUEUE_NOTIFY_DELAY), 0);
        ck_assert_int_eq(queue_writer_finish(w), 0);
        ck_assert_int_eq(queue_file_open(in_fd, queue_writer_id(w), true, NULL, &f), 0);
        ck_assert_str_eq(f->envelope->sender, "");
        ck_assert_uint_eq(f->envelope->n_rcpts, 1);
        ck_assert_str_eq(f->envelope->rcpts[0].orcpt, "rfc822;a@b");
        ck_assert_uint_eq(f->envelope->rcpts[0].notify, QUEUE_NOTIFY_DELAY);
        ck_assert_uint_gt(f->envelope->rcpts[0].status_offset, f->envelope->content_offset);
        ck_assert_int_eq(queue_file_set_status(f, 0, QUEUE_RCPT_DONE), 0);
        f = queue_file_free(f);
        ck_assert_int_eq(queue_file_open(in_fd, queue_writer_id(w), false, NULL, &f), 0);
        ck_assert_int_eq(f->envelope->rcpts[0].status, QUEUE_RCPT_DONE);
        test_queue_done(&t);
}
END_TEST

START_TEST(test_open_states)
{
        TestQueue t;
        _cleanup_(queue_envelope_freep) QueueEnvelope *e = envelope_full();
        _cleanup_(buf_done) Buf b = BUF_INIT(BUF_MAX_UNBOUNDED);
        _cleanup_(queue_file_freep) QueueFile *f = NULL;
        int fd;
        char id[QUEUE_ID_MAX + 1];

        test_queue_init(&t);
        fd = queue_dirs_fd(t.dirs, QUEUE_ACTIVE);
        format_image(e, "hi\n", 3, &b);
        queue_id_format(1, 1, id);

        /* Complete bytes but no x bit: incomplete, never parsed. */
        write_file(fd, id, buf_peek(&b), buf_pending(&b), 0600);
        ck_assert_int_eq(queue_file_open(fd, id, false, NULL, &f), -EINPROGRESS);
        ck_assert_int_eq(fchmodat(fd, id, 0700, 0), 0);
        ck_assert_int_eq(queue_file_open(fd, id, false, NULL, &f), 0);
        f = queue_file_free(f);

        /* The x bit over a truncated file, at every length: never accepted. */
        for (size_t k = 0; k < buf_pending(&b); k++) {
                write_file(fd, id, buf_peek(&b), k, 0700);
                ck_assert_msg(queue_file_open(fd, id, false, NULL, &f) == -EBADMSG, "len %zu",
                              k);
        }

        /* Not a regular file. */
        ck_assert_int_eq(unlinkat(fd, id, 0), 0);
        ck_assert_int_eq(mkdirat(fd, id, 0700), 0);
        ck_assert_int_eq(queue_file_open(fd, id, false, NULL, &f), -EBADMSG);
        test_queue_done(&t);
}
END_TEST

/* ---- directories, moves, scans ---- */

START_TEST(test_dirs)
{
        _cleanup_(tmpdir_freep) char *d = tmpdir_new();
        _cleanup_(queue_dirs_freep) QueueDirs *q = NULL;
        _cleanup_free_ char *path = NULL;
        struct stat st;

        ck_assert_int_ge(asprintf(&path, "%s/spool", d), 0);
        ck_assert_int_eq(queue_dirs_open(path, &q), -ENOENT);
        ck_assert_int_eq(queue_dirs_create(path), 0);
        ck_assert_int_eq(queue_dirs_create(path), 0);           /* idempotent */
        ck_assert_int_eq(queue_dirs_open(path, &q), 0);
        ck_assert_int_eq(fstat(q->root_fd, &st), 0);
        ck_assert_int_eq(st.st_mode & 07777, 0700);
        for (QueueName n = 0; n < _QUEUE_MAX; n++) {
                ck_assert_int_eq(fstatat(q->root_fd, queue_name_to_string(n), &st, 0), 0);
                ck_assert(S_ISDIR(st.st_mode));
                ck_assert_int_eq(st.st_mode & 07777, 0700);
                ck_assert_int_ge(queue_dirs_fd(q, n), 0);
                ck_assert_int_eq(queue_dir_sync(q, n), 0);
        }
        ck_assert_int_eq(queue_dirs_fd(q, _QUEUE_MAX), -EINVAL);
        ck_assert_int_eq(queue_dir_sync(q, _QUEUE_MAX), -EINVAL);
        q = queue_dirs_free(q);

        ck_assert_int_eq(unlinkat(AT_FDCWD, path, AT_REMOVEDIR) < 0 ? -errno : 0, -ENOTEMPTY);
        free(path);
        ck_assert_int_ge(asprintf(&path, "%s/spool/hold", d), 0);
        ck_assert_int_eq(rmdir(path), 0);
        free(path);
        ck_assert_int_ge(asprintf(&path, "%s/spool", d), 0);
        ck_assert_int_eq(queue_dirs_open(path, &q), -ENOENT);
        ck_assert_int_eq(queue_dirs_create(path), 0);           /* repairs */
        ck_assert_int_eq(queue_dirs_open(path, &q), 0);
        free(path);
        ck_assert_int_ge(asprintf(&path, "%s/missing/spool", d), 0);
        ck_assert_int_eq(queue_dirs_create(path), -ENOENT);
}
END_TEST

static QueueWriter *write_one(const TestQueue *t, QueueEnvelope *e, bool finish) {
        QueueWriter *w;

        ck_assert_int_eq(queue_writer_new(queue_dirs_fd(t->dirs, QUEUE_INCOMING), e, 0, &w), 0);
        ck_assert_int_eq(queue_writer_put_line(w, "hello", 5), 0);
        if (finish)
                ck_assert_int_eq(queue_writer_finish(w), 0);
        return w;
}

/* The group commit of DESIGN.md: finishes run as workpool jobs, one incoming/ fsync per batch. */
static int finish_job(void *userdata) {
        return queue_writer_finish(userdata);
}

static void finish_done(int result, void *userdata) {
        ck_assert_int_eq(result, 0);
        ck_assert_int_eq(queue_writer_finish(userdata), -EALREADY);
}

START_TEST(test_group_commit)
{
        enum { N = 16 };
        TestQueue t;
        _cleanup_(queue_envelope_freep) QueueEnvelope *e = envelope_full();
        _cleanup_(workpool_freep) WorkPool *pool = NULL;
        _cleanup_strv_free_ char **ids = NULL;
        QueueWriter *w[N];

        test_queue_init(&t);
        ck_assert_int_eq(workpool_new(4, queue_dirs_sync_incoming, t.dirs, &pool), 0);
        for (size_t i = 0; i < N; i++) {
                w[i] = write_one(&t, e, false);
                ck_assert_int_eq(workpool_submit(pool, finish_job, finish_done, w[i]), 0);
        }
        pool = workpool_free(pool);             /* runs every job, dispatches completions */
        ck_assert_int_eq(queue_scan_sorted(queue_dirs_fd(t.dirs, QUEUE_INCOMING), 0, &ids), N);
        for (size_t i = 0; i < N; i++)
                queue_writer_free(w[i]);
        test_queue_done(&t);
}
END_TEST

START_TEST(test_move_remove)
{
        TestQueue t;
        _cleanup_(queue_envelope_freep) QueueEnvelope *e = envelope_full();
        _cleanup_(queue_writer_freep) QueueWriter *w = NULL;
        _cleanup_(queue_file_freep) QueueFile *f = NULL;
        char id[QUEUE_ID_MAX + 1];
        struct stat st;

        test_queue_init(&t);
        w = write_one(&t, e, true);
        strcpy(id, queue_writer_id(w));
        w = queue_writer_free(w);

        ck_assert_int_eq(queue_file_move(t.dirs, id, QUEUE_INCOMING, QUEUE_ACTIVE), 0);
        ck_assert_int_eq(queue_file_move(t.dirs, id, QUEUE_INCOMING, QUEUE_ACTIVE), -ENOENT);
        ck_assert_int_eq(queue_file_open(queue_dirs_fd(t.dirs, QUEUE_ACTIVE), id, false, NULL,
                                         &f), 0);
        f = queue_file_free(f);
        ck_assert_int_eq(queue_file_move(t.dirs, id, QUEUE_ACTIVE, QUEUE_DEFERRED), 0);
        ck_assert_int_eq(queue_file_set_mtime(queue_dirs_fd(t.dirs, QUEUE_DEFERRED), id,
                                              1800000000500000ULL), 0);
        ck_assert_int_eq(fstatat(queue_dirs_fd(t.dirs, QUEUE_DEFERRED), id, &st, 0), 0);
        ck_assert_int_eq(st.st_mtim.tv_sec, 1800000000);
        ck_assert_int_eq(st.st_mtim.tv_nsec, 500000000);
        ck_assert_int_eq(queue_file_set_mtime(queue_dirs_fd(t.dirs, QUEUE_DEFERRED), "x", 0),
                         -EINVAL);

        /* Never clobbers a file of the same name. */
        write_file(queue_dirs_fd(t.dirs, QUEUE_HOLD), id, "x", 1, 0600);
        ck_assert_int_eq(queue_file_move(t.dirs, id, QUEUE_DEFERRED, QUEUE_HOLD), -EEXIST);
        ck_assert_int_eq(queue_file_remove(t.dirs, id, QUEUE_HOLD), 0);
        ck_assert_int_eq(queue_file_move(t.dirs, id, QUEUE_DEFERRED, QUEUE_HOLD), 0);
        ck_assert_int_eq(queue_dir_sync(t.dirs, QUEUE_HOLD), 0);

        ck_assert_int_eq(queue_file_move(t.dirs, "../x", QUEUE_HOLD, QUEUE_ACTIVE), -EINVAL);
        ck_assert_int_eq(queue_file_move(t.dirs, id, QUEUE_HOLD, _QUEUE_MAX), -EINVAL);
        ck_assert_int_eq(queue_file_remove(t.dirs, "../x", QUEUE_HOLD), -EINVAL);
        ck_assert_int_eq(queue_file_remove(t.dirs, id, QUEUE_HOLD), 0);
        ck_assert_int_eq(queue_file_remove(t.dirs, id, QUEUE_HOLD), -ENOENT);
        test_queue_done(&t);
}
END_TEST

START_TEST(test_lock)
{
        TestQueue t;
        _cleanup_(queue_envelope_freep) QueueEnvelope *e = envelope_full();
        _cleanup_(queue_writer_freep) QueueWriter *w = NULL;
        char id[QUEUE_ID_MAX + 1];
        int in_fd, fd = -EBADF, fd2 = -EBADF;

        test_queue_init(&t);
        in_fd = queue_dirs_fd(t.dirs, QUEUE_INCOMING);
        w = write_one(&t, e, true);
        strcpy(id, queue_writer_id(w));
        w = queue_writer_free(w);

        ck_assert_int_eq(queue_file_lock(in_fd, id, false, &fd), 0);
        /* Held: another taker is told so, without waiting. */
        ck_assert_int_eq(queue_file_lock(in_fd, id, false, &fd2), -EBUSY);
        /* Moving does not need the lock, but a later taker is told the name went away. */
        ck_assert_int_eq(queue_file_move(t.dirs, id, QUEUE_INCOMING, QUEUE_HOLD), 0);
        ck_assert_int_eq(queue_file_lock(in_fd, id, true, &fd2), -ENOENT);
        ck_assert_int_eq(queue_file_lock(queue_dirs_fd(t.dirs, QUEUE_HOLD), id, false, &fd2),
                         -EBUSY);
        fd = safe_close(fd);
        ck_assert_int_eq(queue_file_lock(queue_dirs_fd(t.dirs, QUEUE_HOLD), id, true, &fd2), 0);
        fd2 = safe_close(fd2);
        ck_assert_int_eq(queue_file_lock(in_fd, "../etc", false, &fd2), -EINVAL);
        test_queue_done(&t);
}
END_TEST

typedef struct ScanResult {
        char complete[8][QUEUE_ID_MAX + 1];
        char stale[8][QUEUE_ID_MAX + 1];
        size_t n_complete, n_stale;
        int stop_with;
} ScanResult;

static int on_scan(const char *id, bool complete, const struct stat *st, void *userdata) {
        ScanResult *s = userdata;

        ck_assert(queue_id_is_valid(id));
        ck_assert(S_ISREG(st->st_mode));
        if (complete) {
                ck_assert_uint_lt(s->n_complete, 8);
                strcpy(s->complete[s->n_complete++], id);
        } else {
                ck_assert_uint_lt(s->n_stale, 8);
                strcpy(s->stale[s->n_stale++], id);
        }
        return s->stop_with;
}

START_TEST(test_scan)
{
        TestQueue t;
        _cleanup_(queue_envelope_freep) QueueEnvelope *e = envelope_full();
        _cleanup_strv_free_ char **ids = NULL;
        QueueWriter *w[3], *young;
        char old_id[QUEUE_ID_MAX + 1];
        ScanResult s = {};
        int in_fd;

        test_queue_init(&t);
        in_fd = queue_dirs_fd(t.dirs, QUEUE_INCOMING);
        for (size_t i = 0; i < 3; i++)
                w[i] = write_one(&t, e, true);
        young = write_one(&t, e, false);

        /* An abandoned incomplete file, an hour old, and names that are not queue files. */
        queue_id_format(1, 7, old_id);
        write_file(in_fd, old_id, "TERNQ/1", 7, 0600);
        ck_assert_int_eq(queue_file_set_mtime(in_fd, old_id, 1000000), 0);
        write_file(in_fd, "README", "x", 1, 0700);
        write_file(in_fd, "0123456789abcdef.tmp", "x", 1, 0700);
        ck_assert_int_eq(mkdirat(in_fd, "0123456789abcdeX", 0700), 0);

        ck_assert_int_eq(queue_scan(in_fd, 0, on_scan, &s), 0);
        ck_assert_uint_eq(s.n_complete, 3);
        ck_assert_uint_eq(s.n_stale, 0);

        memset(&s, 0, sizeof(s));
        ck_assert_int_eq(queue_scan(in_fd, 2000000, on_scan, &s), 0);
        ck_assert_uint_eq(s.n_complete, 3);
        ck_assert_uint_eq(s.n_stale, 1);                /* the young one is not reported */
        ck_assert_str_eq(s.stale[0], old_id);

        memset(&s, 0, sizeof(s));
        s.stop_with = 42;
        ck_assert_int_eq(queue_scan(in_fd, 0, on_scan, &s), 42);
        ck_assert_uint_eq(s.n_complete, 1);
        memset(&s, 0, sizeof(s));
        s.stop_with = -EIO;
        ck_assert_int_eq(queue_scan(in_fd, 0, on_scan, &s), -EIO);

        ck_assert_int_eq(queue_scan_sorted(in_fd, 0, &ids), 3);
        for (size_t i = 0; i < 3; i++)
                ck_assert_str_eq(ids[i], queue_writer_id(w[i]));        /* arrival order */
        ck_assert_ptr_null(ids[3]);
        strv_free(ids);
        ids = NULL;
        ck_assert_int_eq(queue_scan_sorted(in_fd, 2, &ids), 2);
        ck_assert_str_eq(ids[0], queue_writer_id(w[0]));
        ck_assert_str_eq(ids[1], queue_writer_id(w[1]));
        ck_assert_ptr_null(ids[2]);
        strv_free(ids);
        ids = NULL;
        ck_assert_int_eq(queue_scan_sorted(queue_dirs_fd(t.dirs, QUEUE_HOLD), 0, &ids), 0);
        ck_assert_ptr_null(ids[0]);

        for (size_t i = 0; i < 3; i++)
                queue_writer_free(w[i]);
        queue_writer_free(young);
        test_queue_done(&t);
}
END_TEST

/* ---- trigger ---- */

START_TEST(test_trigger_send)
{
        _cleanup_(tmpdir_freep) char *d = tmpdir_new();
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *path = NULL, *gone = NULL, *longpath = NULL;
        char got[512], dom[QUEUE_TRIGGER_DOMAIN_MAX + 2];
        QueueTrigger tr;
        ssize_t k;

        ck_assert_int_ge(asprintf(&path, "%s/qmgr", d), 0);
        ck_assert_uint_lt(strlen(path), sizeof(sa.sun_path));
        strcpy(sa.sun_path, path);
        fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(bind(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);

        ck_assert_int_eq(queue_trigger_send(path, QUEUE_TRIGGER_INCOMING, NULL), 1);
        k = recv(fd, got, sizeof(got), 0);
        ck_assert_int_eq(k, 1);
        ck_assert_int_eq(got[0], 'i');
        ck_assert_int_eq(queue_trigger_send(path, QUEUE_TRIGGER_FLUSH, "ignored"), 1);
        k = recv(fd, got, sizeof(got), 0);
        ck_assert_int_eq(k, 1);
        ck_assert_int_eq(got[0], 'f');
        ck_assert_int_eq(queue_trigger_send(path, QUEUE_TRIGGER_DOMAIN, "example.com"), 1);
        k = recv(fd, got, sizeof(got), 0);
        ck_assert_int_eq(k, 13);
        ck_assert_mem_eq(got, "d example.com", 13);
        ck_assert_int_eq(queue_trigger_parse(got, (size_t) k, &tr), 0);
        ck_assert_int_eq(tr.type, QUEUE_TRIGGER_DOMAIN);
        ck_assert_str_eq(tr.domain, "example.com");

        memset(dom, 'a', sizeof(dom) - 1);
        dom[sizeof(dom) - 1] = '\0';
        ck_assert_int_eq(queue_trigger_send(path, QUEUE_TRIGGER_DOMAIN, dom), -EINVAL);
        ck_assert_int_eq(queue_trigger_send(path, QUEUE_TRIGGER_DOMAIN, dom + 1), 1);
        k = recv(fd, got, sizeof(got), 0);
        ck_assert_int_eq(k, 2 + QUEUE_TRIGGER_DOMAIN_MAX);
        ck_assert_int_eq(queue_trigger_send(path, QUEUE_TRIGGER_DOMAIN, NULL), -EINVAL);
        ck_assert_int_eq(queue_trigger_send(path, QUEUE_TRIGGER_DOMAIN, "a b"), -EINVAL);
        ck_assert_int_eq(queue_trigger_send(path, QUEUE_TRIGGER_DOMAIN, ""), -EINVAL);
        ck_assert_int_eq(queue_trigger_send(path, 'x', NULL), -EINVAL);
        ck_assert_int_eq(queue_trigger_send("", 'i', NULL), -EINVAL);

        /* Nobody there: not an error. */
        ck_assert_int_ge(asprintf(&gone, "%s/nothing", d), 0);
        ck_assert_int_eq(queue_trigger_send(gone, QUEUE_TRIGGER_INCOMING, NULL), 0);
        fd = safe_close(fd);                    /* the socket file stays, nobody reads */
        ck_assert_int_eq(queue_trigger_send(path, QUEUE_TRIGGER_INCOMING, NULL), 0);

        longpath = malloc(sizeof(sa.sun_path) + 1);
        ck_assert_ptr_nonnull(longpath);
        memset(longpath, 'x', sizeof(sa.sun_path));
        longpath[sizeof(sa.sun_path)] = '\0';
        ck_assert_int_eq(queue_trigger_send(longpath, 'i', NULL), -ENAMETOOLONG);
}
END_TEST

START_TEST(test_trigger_parse)
{
        static const struct {
                const char *p;
                int expected;
                char type;
                const char *domain;
        } cases[] = {
                { "i", 0, 'i', "" },
                { "i\n", 0, 'i', "" },
                { "f", 0, 'f', "" },
                { "d example.com", 0, 'd', "example.com" },
                { "d [192.0.2.1]\n", 0, 'd', "[192.0.2.1]" },
                { "", -EBADMSG, 0, NULL },
                { "\n", -EBADMSG, 0, NULL },
                { "i\n\n", -EBADMSG, 0, NULL },
                { "ii", -EBADMSG, 0, NULL },
                { "x", -EBADMSG, 0, NULL },
                { "d", -EBADMSG, 0, NULL },
                { "d ", -EBADMSG, 0, NULL },
                { "dexample.com", -EBADMSG, 0, NULL },
                { "d a b", -EBADMSG, 0, NULL },
                { "d a\tb", -EBADMSG, 0, NULL },
                { "d \xc3\xa9", -EBADMSG, 0, NULL },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                QueueTrigger t = { .type = 'q' };

                ck_assert_int_eq(queue_trigger_parse(cases[i].p, strlen(cases[i].p), &t),
                                 cases[i].expected);
                if (cases[i].expected == 0) {
                        ck_assert_int_eq(t.type, cases[i].type);
                        ck_assert_str_eq(t.domain, cases[i].domain);
                } else
                        ck_assert_int_eq(t.type, 'q');  /* untouched on error */
        }
        /* Embedded NUL and the longest domain. */
        {
                char m[2 + QUEUE_TRIGGER_DOMAIN_MAX + 1];
                QueueTrigger t;

                ck_assert_int_eq(queue_trigger_parse("d a\0b", 5, &t), -EBADMSG);
                m[0] = 'd';
                m[1] = ' ';
                memset(m + 2, 'a', QUEUE_TRIGGER_DOMAIN_MAX + 1);
                ck_assert_int_eq(queue_trigger_parse(m, sizeof(m), &t), -EBADMSG);
                ck_assert_int_eq(queue_trigger_parse(m, sizeof(m) - 1, &t), 0);
                ck_assert_uint_eq(strlen(t.domain), QUEUE_TRIGGER_DOMAIN_MAX);
        }
}
END_TEST

static Suite *queue_suite(void) {
        Suite *s = suite_create("queue");
        TCase *tc;

        tc = tcase_create("id");
        tcase_add_test(tc, test_id_format);
        tcase_add_test(tc, test_id_valid);
        tcase_add_test(tc, test_id_unique_sorted);
        tcase_add_test(tc, test_id_unique_processes);
        suite_add_tcase(s, tc);

        tc = tcase_create("envelope");
        tcase_add_test(tc, test_envelope_build);
        tcase_add_test(tc, test_name_strings);
        suite_add_tcase(s, tc);

        tc = tcase_create("format");
        tcase_add_test(tc, test_roundtrip_all_records);
        tcase_add_test(tc, test_roundtrip_null_sender_many_rcpts);
        tcase_add_test(tc, test_roundtrip_max_values);
        tcase_add_test(tc, test_format_rejects);
        tcase_add_loop_test(tc, test_parse_table, 0, ELEMENTSOF(parse_cases));
        tcase_add_loop_test(tc, test_parse_header, 0, ELEMENTSOF(header_cases));
        tcase_add_test(tc, test_parse_limits);
        tcase_add_test(tc, test_truncation_every_byte);
        suite_add_tcase(s, tc);

        tc = tcase_create("file");
        tcase_add_test(tc, test_write_read_roundtrip);
        tcase_add_test(tc, test_writer_size_limit);
        tcase_add_test(tc, test_writer_fs_error);
        tcase_add_test(tc, test_writer_recipients);
        tcase_add_test(tc, test_open_states);
        suite_add_tcase(s, tc);

        tc = tcase_create("dirs");
        tcase_add_test(tc, test_dirs);
        tcase_add_test(tc, test_move_remove);
        tcase_add_test(tc, test_lock);
        tcase_add_test(tc, test_group_commit);
        tcase_add_test(tc, test_scan);
        suite_add_tcase(s, tc);

        tc = tcase_create("trigger");
        tcase_add_test(tc, test_trigger_send);
        tcase_add_test(tc, test_trigger_parse);
        suite_add_tcase(s, tc);

        return s;
}

TERN_CHECK_MAIN(queue_suite)
