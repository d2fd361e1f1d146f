/* SPDX-License-Identifier: GPL-3.0-or-later */
/* anonfile: O_TMPFILE files linked once complete (see anonfile.h). The link goes through
 * /proc/self/fd with AT_SYMLINK_FOLLOW, which open(2) documents for this purpose and which,
 * unlike AT_EMPTY_PATH, needs no CAP_DAC_READ_SEARCH. */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <unistd.h>

#include "anonfile.h"
#include "macro.h"

/* Whether /proc/self/fd exists in this process: 1 yes, 0 no, -1 not checked yet. It does not
 * change while the process runs, so one check serves every thread. */
static atomic_int proc_fd_usable = -1;

static bool proc_fd_ok(void) {
        int v = atomic_load(&proc_fd_usable);

        if (v < 0) {
                v = faccessat(AT_FDCWD, "/proc/self/fd", F_OK, 0) == 0;
                atomic_store(&proc_fd_usable, v);
        }
        return v;
}

int anonfile_open(int dir_fd, int flags, mode_t mode) {
        int fd;

        assert(dir_fd >= 0 || dir_fd == AT_FDCWD);
        if (!proc_fd_ok())
                return -EOPNOTSUPP;
        /* O_EXCL would forbid the link; O_CREAT is not allowed with O_TMPFILE. */
        fd = openat(dir_fd, ".", (flags & ~(O_CREAT | O_EXCL)) | O_TMPFILE, mode);
        if (fd >= 0)
                return fd;
        /* Kernels before 3.11 see O_DIRECTORY in O_TMPFILE's bits and fail with EISDIR; file
         * systems without support fail with EOPNOTSUPP. */
        if (IN_SET(errno, EOPNOTSUPP, EISDIR, EINVAL))
                return -EOPNOTSUPP;
        return -errno;
}

int anonfile_link(int fd, int dir_fd, const char *name) {
        char path[sizeof("/proc/self/fd/") + DECIMAL_STR_MAX(int)];

        assert(fd >= 0);
        assert(name);
        (void) snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        return linkat(AT_FDCWD, path, dir_fd, name, AT_SYMLINK_FOLLOW) < 0 ? -errno : 0;
}
