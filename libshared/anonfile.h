/* SPDX-License-Identifier: GPL-3.0-or-later */
/* anonfile: files that get their name only once they are complete (O_TMPFILE, open(2)). A
 * queue file or a Maildir message is written and fsync'd without a directory entry, then linked
 * under its final name in one step. Readers never see a partial file; an abort or a crash before
 * the link leaves no name behind to clean up (the kernel frees the inode); and the file's fsync
 * does not also write the directory it will be named in (ext4 without a journal writes the
 * parent directory of a newly named file on each fsync of that file). File systems or kernels
 * without O_TMPFILE, and processes without /proc, get -EOPNOTSUPP from anonfile_open(): the
 * caller then creates a named file the classic way. */
#pragma once

#include <sys/types.h>

/* Opens an unnamed regular file on dir_fd's file system with mode and flags (O_WRONLY or
 * O_RDWR, plus O_CLOEXEC and the like). Returns the fd, -EOPNOTSUPP when unnamed files cannot
 * be made or named here, or -errno (-EACCES, -ENOSPC, ...). */
int anonfile_open(int dir_fd, int flags, mode_t mode);

/* Names the unnamed file fd dir_fd/name (the name must not exist). Returns 0, -EEXIST, -errno. */
int anonfile_link(int fd, int dir_fd, const char *name);
