/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Unit tests of fileio: whole writes to a pipe (also one larger than the pipe, drained by a
 * thread) and to a file, pwrite at an offset leaving the file position alone, reads at the file
 * position and at offsets, end of file first (-ENODATA), a bad fd (-EBADF), a pipe whose reader
 * is gone (-EPIPE, SIGPIPE ignored), an offset on a pipe (-ESPIPE), and a blocking write to a
 * full pipe interrupted by a signal without SA_RESTART (EINTR), which must be retried. Files are
 * made under $TMPDIR. */
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "check_main.h"
#include "fileio.h"

/* ---- helpers ---- */

/* An unlinked, empty file under $TMPDIR, open for reading and writing. */
static int tmpfile_new(void) {
        const char *tmp = getenv("TMPDIR");
        _cleanup_free_ char *path = NULL;
        int fd;

        ck_assert_int_ge(asprintf(&path, "%s/test_fileio_XXXXXX", tmp ? tmp : "/tmp"), 0);
        fd = mkostemp(path, O_CLOEXEC);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(unlink(path), 0);
        return fd;
}

static void pipe_new(int fds[static 2]) {
        ck_assert_int_eq(pipe2(fds, O_CLOEXEC), 0);
}

/* Byte i of a payload: a pattern that does not repeat at the pipe's page size. */
static char pattern(size_t i) {
        return (char) (i % 251);
}

static char *payload_new(size_t n) {
        char *p = malloc(n);

        ck_assert_ptr_nonnull(p);
        for (size_t i = 0; i < n; i++)
                p[i] = pattern(i);
        return p;
}

/* Fills the pipe until a non-blocking write would block, then makes it blocking again. Returns
 * the bytes written, all 'f'. */
static size_t pipe_fill(int fd) {
        char chunk[4096];
        size_t total = 0;
        int flags = fcntl(fd, F_GETFL);

        memset(chunk, 'f', sizeof(chunk));
        ck_assert_int_ge(flags, 0);
        ck_assert_int_eq(fcntl(fd, F_SETFL, flags | O_NONBLOCK), 0);
        /* Page-sized writes first, then single bytes into what is left of the last page. */
        for (int i = 0; i < 2; i++) {
                size_t size = i == 0 ? sizeof(chunk) : 1;
                ssize_t k;

                while ((k = write(fd, chunk, size)) > 0)
                        total += (size_t) k;
                ck_assert_int_eq(k < 0 ? errno : 0, EAGAIN);
        }
        ck_assert_int_eq(fcntl(fd, F_SETFL, flags), 0);
        return total;
}

/* ---- a reader thread that drains a pipe, after an optional signal to the writer ---- */

typedef struct Drain {
        int fd;                 /* the pipe's read end */
        size_t prefill;         /* 'f' bytes ahead of the payload */
        size_t n;               /* payload bytes, pattern(i) */
        pid_t writer_tid;       /* > 0: signal this thread once it blocks in write(2) */
        pthread_t writer;
        bool skipped;           /* the writer's state could not be seen: no signal sent */
        bool ok;                /* every byte read back as written, then end of file */
} Drain;

static atomic_int signals_handled;

static void on_sigusr1(int sig) {
        signals_handled++;
}

/* Whether thread tid sits in write(2), going by /proc/self/task/<tid>/syscall (its first field
 * is the syscall number). -errno when the file cannot be read. */
static int in_write(pid_t tid) {
        char path[64], line[64] = "";
        _cleanup_close_ int fd = -EBADF;
        ssize_t k;

        snprintf(path, sizeof(path), "/proc/self/task/%d/syscall", (int) tid);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        k = read(fd, line, sizeof(line) - 1);
        if (k < 0)
                return -errno;
        return strtol(line, NULL, 10) == SYS_write;
}

/* No ck_assert() here: it belongs to the test's own thread. */
static void *drain_run(void *userdata) {
        Drain *d = userdata;
        char buf[8192];
        size_t got = 0;

        d->ok = true;
        if (d->writer_tid > 0) {
                int r;

                /* The pipe is full, so once the writer is in write(2) it stays there until the
                 * signal: without SA_RESTART the call fails with EINTR (nothing was moved). */
                while ((r = in_write(d->writer_tid)) == 0)
                        sched_yield();
                if (r < 0)
                        d->skipped = true;
                else if (pthread_kill(d->writer, SIGUSR1) != 0)
                        d->ok = false;
                else
                        while (signals_handled == 0)
                                sched_yield();
        }

        for (;;) {
                ssize_t k = read(d->fd, buf, sizeof(buf));

                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0) {
                        d->ok = d->ok && k == 0 && got == d->prefill + d->n;
                        return NULL;
                }
                for (ssize_t i = 0; i < k; i++, got++)
                        if (buf[i] != (got < d->prefill ? 'f' : pattern(got - d->prefill)))
                                d->ok = false;
        }
}

/* Writes a payload of n bytes into a full pipe while a thread drains it; with interrupt, the
 * thread first signals the blocked writer. */
static void write_through_full_pipe(size_t n, bool interrupt, Drain *d) {
        _cleanup_free_ char *payload = payload_new(n);
        pthread_t thread;
        int fds[2];

        pipe_new(fds);
        *d = (Drain) {
                .fd = fds[0],
                .prefill = pipe_fill(fds[1]),
                .n = n,
                .writer_tid = interrupt ? gettid() : 0,
                .writer = pthread_self(),
        };
        ck_assert_int_eq(pthread_create(&thread, NULL, drain_run, d), 0);
        ck_assert_int_eq(fileio_write_full(fds[1], payload, n), 0);
        (void) close(fds[1]);
        ck_assert_int_eq(pthread_join(thread, NULL), 0);
        (void) close(fds[0]);
        ck_assert(d->ok);
}

/* ---- fileio_write_full, fileio_pwrite_full ---- */

START_TEST(test_write_full_pipe)
{
        _cleanup_free_ char *payload = payload_new(1000);
        char back[1000];
        int fds[2];

        pipe_new(fds);
        ck_assert_int_eq(fileio_write_full(fds[1], payload, 1000), 0);
        ck_assert_int_eq(fileio_write_full(fds[1], NULL, 0), 0);
        (void) close(fds[1]);
        ck_assert_int_eq(fileio_read_full(fds[0], back, sizeof(back)), 0);
        ck_assert_mem_eq(back, payload, sizeof(back));
        ck_assert_int_eq(fileio_read_full(fds[0], back, 1), -ENODATA);
        (void) close(fds[0]);
}
END_TEST

START_TEST(test_write_full_pipe_larger_than_pipe)
{
        Drain d;

        write_through_full_pipe(1024 * 1024, /* interrupt= */ false, &d);
}
END_TEST

START_TEST(test_write_full_file)
{
        _cleanup_free_ char *payload = payload_new(300000);
        _cleanup_free_ char *back = malloc(300000);
        _cleanup_close_ int fd = tmpfile_new();
        struct stat st;

        ck_assert_ptr_nonnull(back);
        ck_assert_int_eq(fileio_write_full(fd, payload, 100000), 0);
        ck_assert_int_eq(fileio_write_full(fd, payload + 100000, 200000), 0);
        ck_assert_int_eq(fstat(fd, &st), 0);
        ck_assert_int_eq(st.st_size, 300000);
        ck_assert_int_eq(lseek(fd, 0, SEEK_CUR), 300000);
        ck_assert_int_eq(fileio_pread_full(fd, back, 300000, 0), 0);
        ck_assert_mem_eq(back, payload, 300000);
}
END_TEST

START_TEST(test_pwrite_full_offset)
{
        _cleanup_close_ int fd = tmpfile_new();
        char back[32];
        struct stat st;

        ck_assert_int_eq(fileio_write_full(fd, "0123456789", 10), 0);
        ck_assert_int_eq(fileio_pwrite_full(fd, "abc", 3, 2), 0);
        ck_assert_int_eq(fileio_pwrite_full(fd, "XY", 2, 9), 0);              /* past the end */
        /* nothing written, no growth */
        ck_assert_int_eq(fileio_pwrite_full(fd, "", 0, 100), 0);
        ck_assert_int_eq(lseek(fd, 0, SEEK_CUR), 10);                  /* position untouched */
        ck_assert_int_eq(fstat(fd, &st), 0);
        ck_assert_int_eq(st.st_size, 11);
        ck_assert_int_eq(fileio_pread_full(fd, back, 11, 0), 0);
        ck_assert_mem_eq(back, "01abc5678XY", 11);

        /* A hole: the bytes between the old end and off read as zeros. */
        ck_assert_int_eq(fileio_pwrite_full(fd, "Z", 1, 20), 0);
        ck_assert_int_eq(fileio_pread_full(fd, back, 21, 0), 0);
        ck_assert_mem_eq(back, "01abc5678XY\0\0\0\0\0\0\0\0\0Z", 21);
}
END_TEST

/* ---- fileio_read_full, fileio_pread_full ---- */

static const struct {
        off_t off;
        size_t n;
        int expected;
} pread_cases[] = {
        { 0, 0, 0 },
        { 0, 1, 0 },
        { 0, 26, 0 },                   /* the whole file */
        { 5, 10, 0 },
        { 25, 1, 0 },                   /* the last byte */
        { 26, 0, 0 },                   /* nothing, at the end */
        { 100, 0, 0 },                  /* nothing, past the end */
        { 26, 1, -ENODATA },            /* at the end */
        { 20, 7, -ENODATA },            /* one byte short */
        { 0, 27, -ENODATA },
        { 1000, 1, -ENODATA },          /* past the end */
};

START_TEST(test_pread_full_offsets)
{
        const char *text = "abcdefghijklmnopqrstuvwxyz";
        _cleanup_close_ int fd = tmpfile_new();
        off_t off = pread_cases[_i].off;
        size_t n = pread_cases[_i].n;
        char back[64];

        ck_assert_int_eq(fileio_write_full(fd, text, 26), 0);
        ck_assert_int_eq(lseek(fd, 3, SEEK_SET), 3);
        memset(back, '-', sizeof(back));
        ck_assert_int_eq(fileio_pread_full(fd, back, n, off), pread_cases[_i].expected);
        if (pread_cases[_i].expected == 0) {
                ck_assert_mem_eq(back, text + MIN(off, 26), n);
                ck_assert_int_eq(back[n], '-');                 /* nothing past n */
        }
        ck_assert_int_eq(lseek(fd, 0, SEEK_CUR), 3);            /* position untouched */
}
END_TEST

START_TEST(test_read_full_position)
{
        _cleanup_close_ int fd = tmpfile_new();
        char back[8];

        ck_assert_int_eq(fileio_write_full(fd, "abcdefghij", 10), 0);
        ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
        ck_assert_int_eq(fileio_read_full(fd, back, 4), 0);
        ck_assert_mem_eq(back, "abcd", 4);
        ck_assert_int_eq(fileio_read_full(fd, back, 4), 0);
        ck_assert_mem_eq(back, "efgh", 4);
        ck_assert_int_eq(fileio_read_full(fd, back, 4), -ENODATA);    /* two bytes left */
        ck_assert_int_eq(fileio_read_full(fd, back, 0), 0);
}
END_TEST

START_TEST(test_read_full_pipe_short)
{
        char back[16];
        int fds[2];

        /* The writer sends fewer bytes than the reader wants, in two pieces, and closes. */
        pipe_new(fds);
        ck_assert_int_eq(fileio_write_full(fds[1], "abc", 3), 0);
        ck_assert_int_eq(fileio_write_full(fds[1], "de", 2), 0);
        (void) close(fds[1]);
        ck_assert_int_eq(fileio_read_full(fds[0], back, 6), -ENODATA);
        ck_assert_mem_eq(back, "abcde", 5);
        (void) close(fds[0]);
}
END_TEST

/* ---- errors ---- */

START_TEST(test_bad_fd)
{
        char c = 'x';
        int fd = tmpfile_new();

        (void) close(fd);
        ck_assert_int_eq(fileio_write_full(fd, &c, 1), -EBADF);
        ck_assert_int_eq(fileio_pwrite_full(fd, &c, 1, 0), -EBADF);
        ck_assert_int_eq(fileio_read_full(fd, &c, 1), -EBADF);
        ck_assert_int_eq(fileio_pread_full(fd, &c, 1, 0), -EBADF);
        ck_assert_int_eq(fileio_write_full(-1, &c, 1), -EBADF);
        ck_assert_int_eq(fileio_read_full(-1, &c, 1), -EBADF);
}
END_TEST

START_TEST(test_wrong_direction)
{
        _cleanup_close_ int fd = -EBADF;
        char c = 'x';
        int fds[2];

        pipe_new(fds);
        ck_assert_int_eq(fileio_write_full(fds[0], &c, 1), -EBADF);   /* the read end */
        ck_assert_int_eq(fileio_read_full(fds[1], &c, 1), -EBADF);    /* the write end */
        (void) close(fds[0]);
        (void) close(fds[1]);

        fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(fileio_write_full(fd, &c, 1), -EBADF);
        ck_assert_int_eq(fileio_read_full(fd, &c, 1), -ENODATA);
}
END_TEST

START_TEST(test_offset_on_pipe)
{
        char c = 'x';
        int fds[2];

        pipe_new(fds);
        ck_assert_int_eq(fileio_pwrite_full(fds[1], &c, 1, 0), -ESPIPE);
        ck_assert_int_eq(fileio_pread_full(fds[0], &c, 1, 0), -ESPIPE);
        (void) close(fds[0]);
        (void) close(fds[1]);
}
END_TEST

START_TEST(test_epipe)
{
        char c = 'x';
        int fds[2];

        /* Check runs each test in its own process, so ignoring SIGPIPE does not leak. */
        ck_assert_ptr_ne(signal(SIGPIPE, SIG_IGN), SIG_ERR);
        pipe_new(fds);
        (void) close(fds[0]);
        ck_assert_int_eq(fileio_write_full(fds[1], &c, 1), -EPIPE);
        (void) close(fds[1]);
}
END_TEST

/* ---- EINTR ---- */

START_TEST(test_eintr_retried)
{
        struct sigaction sa = { .sa_handler = on_sigusr1, .sa_flags = 0 };      /* no SA_RESTART */
        Drain d;

        ck_assert_int_eq(sigemptyset(&sa.sa_mask), 0);
        ck_assert_int_eq(sigaction(SIGUSR1, &sa, NULL), 0);
        write_through_full_pipe(256 * 1024, /* interrupt= */ true, &d);
        if (d.skipped)
                return;         /* no /proc/self/task/<tid>/syscall: EINTR not provoked */
        ck_assert_int_eq(signals_handled, 1);
}
END_TEST

static Suite *fileio_suite(void) {
        Suite *s = suite_create("fileio");
        TCase *tc;

        tc = tcase_create("write");
        tcase_add_test(tc, test_write_full_pipe);
        tcase_add_test(tc, test_write_full_pipe_larger_than_pipe);
        tcase_add_test(tc, test_write_full_file);
        tcase_add_test(tc, test_pwrite_full_offset);
        suite_add_tcase(s, tc);

        tc = tcase_create("read");
        tcase_add_loop_test(tc, test_pread_full_offsets, 0, ELEMENTSOF(pread_cases));
        tcase_add_test(tc, test_read_full_position);
        tcase_add_test(tc, test_read_full_pipe_short);
        suite_add_tcase(s, tc);

        tc = tcase_create("errors");
        tcase_add_test(tc, test_bad_fd);
        tcase_add_test(tc, test_wrong_direction);
        tcase_add_test(tc, test_offset_on_pipe);
        tcase_add_test(tc, test_epipe);
        tcase_add_test(tc, test_eintr_retried);
        suite_add_tcase(s, tc);
        return s;
}

TERN_CHECK_MAIN(fileio_suite)
