/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Unit tests of anonfile: an unnamed file is invisible until linked, keeps its bytes and mode
 * through the link, refuses a name that exists, vanishes when closed unlinked, and a process
 * without /proc is told -EOPNOTSUPP so that its caller names files the classic way. */
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "anonfile.h"
#include "check_main.h"
#include "hide_proc.h"

static char *tmpdir_new(void) {
        const char *tmp = getenv("TMPDIR");
        char *d;

        ck_assert_int_ge(asprintf(&d, "%s/test_anonfile_XXXXXX", tmp ? tmp : "/tmp"), 0);
        ck_assert_ptr_nonnull(mkdtemp(d));
        return d;
}

static unsigned dir_entries(int dir_fd) {
        DIR *d = fdopendir(fcntl(dir_fd, F_DUPFD_CLOEXEC, 3));
        struct dirent *de;
        unsigned n = 0;

        ck_assert_ptr_nonnull(d);
        rewinddir(d);                   /* the duplicate shares dir_fd's position */
        while ((de = readdir(d)))
                if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
                        n++;
        (void) closedir(d);
        return n;
}

START_TEST(test_link_when_complete)
{
        _cleanup_free_ char *dir = tmpdir_new();
        _cleanup_close_ int dfd = -EBADF, fd = -EBADF, fd2 = -EBADF, rfd = -EBADF;
        struct stat st;
        char got[16] = {};

        (void) umask(022);
        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        ck_assert_int_ge(dfd, 0);

        fd = anonfile_open(dfd, O_WRONLY | O_CLOEXEC, 0600);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(write(fd, "complete", 8), 8);
        ck_assert_uint_eq(dir_entries(dfd), 0);         /* nothing to see while written */
        ck_assert_int_eq(fsync(fd), 0);

        ck_assert_int_eq(anonfile_link(fd, dfd, "msg"), 0);
        ck_assert_int_eq(fstatat(dfd, "msg", &st, AT_SYMLINK_NOFOLLOW), 0);
        ck_assert(S_ISREG(st.st_mode));
        ck_assert_int_eq(st.st_mode & 07777, 0600);
        ck_assert_uint_eq(st.st_nlink, 1);
        rfd = openat(dfd, "msg", O_RDONLY | O_CLOEXEC);
        ck_assert_int_ge(rfd, 0);
        ck_assert_int_eq(read(rfd, got, sizeof(got)), 8);
        ck_assert_str_eq(got, "complete");

        /* A second file may not take the name; a file already named cannot be named twice
         * over an existing name either. */
        fd2 = anonfile_open(dfd, O_RDWR | O_CLOEXEC, 0644);
        ck_assert_int_ge(fd2, 0);
        ck_assert_int_eq(anonfile_link(fd2, dfd, "msg"), -EEXIST);
        ck_assert_int_eq(anonfile_link(fd, dfd, "msg"), -EEXIST);
        ck_assert_int_eq(anonfile_link(fd2, dfd, "other"), 0);
        ck_assert_int_eq(fstatat(dfd, "other", &st, 0), 0);
        ck_assert_int_eq(st.st_mode & 07777, 0644);
        ck_assert_uint_eq(dir_entries(dfd), 2);

        ck_assert_int_eq(unlinkat(dfd, "msg", 0), 0);
        ck_assert_int_eq(unlinkat(dfd, "other", 0), 0);
        ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

START_TEST(test_abandoned_leaves_nothing)
{
        _cleanup_free_ char *dir = tmpdir_new();
        _cleanup_close_ int dfd = -EBADF;
        int fd;

        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        ck_assert_int_ge(dfd, 0);
        fd = anonfile_open(dfd, O_WRONLY | O_CLOEXEC, 0600);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(write(fd, "half", 4), 4);
        ck_assert_int_eq(close(fd), 0);
        ck_assert_uint_eq(dir_entries(dfd), 0);
        ck_assert_int_eq(rmdir(dir), 0);                /* empty: nothing was left */
}
END_TEST

START_TEST(test_errors)
{
        _cleanup_free_ char *dir = tmpdir_new();
        _cleanup_close_ int dfd = -EBADF, fd = -EBADF;

        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        ck_assert_int_ge(dfd, 0);

        /* Not a directory. */
        fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(anonfile_open(fd, O_WRONLY | O_CLOEXEC, 0600), -ENOTDIR);
        fd = safe_close(fd);

        /* A link into a directory that does not exist. */
        fd = anonfile_open(dfd, O_WRONLY | O_CLOEXEC, 0600);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(anonfile_link(fd, dfd, "nodir/msg"), -ENOENT);
        ck_assert_uint_eq(dir_entries(dfd), 0);
        ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

START_TEST(test_without_proc)
{
        _cleanup_free_ char *dir = tmpdir_new();
        _cleanup_close_ int dfd = -EBADF;

        hide_proc();
        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        ck_assert_int_ge(dfd, 0);
        ck_assert_int_eq(anonfile_open(dfd, O_WRONLY | O_CLOEXEC, 0600), -EOPNOTSUPP);
        ck_assert_uint_eq(dir_entries(dfd), 0);
        ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

static Suite *anonfile_suite(void) {
        Suite *s = suite_create("anonfile");
        TCase *tc = tcase_create("core");

        tcase_add_test(tc, test_link_when_complete);
        tcase_add_test(tc, test_abandoned_leaves_nothing);
        tcase_add_test(tc, test_errors);
        tcase_add_test(tc, test_without_proc);
        suite_add_tcase(s, tc);
        return s;
}

TERN_CHECK_MAIN(anonfile_suite)
