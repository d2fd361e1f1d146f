/* SPDX-License-Identifier: GPL-3.0-or-later */
/* fileio: write or read a whole buffer on a blocking fd (a file or a pipe), retrying on EINTR
 * and after short transfers, so that callers see all n bytes moved or one error. The fds are the
 * caller's and trusted; the bytes are not looked at. A non-blocking fd that would block is
 * -EAGAIN, with an unknown part of the buffer transferred: use these on blocking fds only. */
#pragma once

#include <sys/types.h>

#include "macro.h"

/* Writes all n bytes of p at the file position (write(2)); n == 0 makes no system call. Returns
 * 0, -EIO when write(2) moves no byte, or its -errno (-EPIPE when a pipe's reader is gone, if
 * SIGPIPE is ignored). */
int fileio_write_full(int fd, const void *p, size_t n);
/* Writes all n bytes of p at offset off (pwrite(2)); the file position does not move. Returns
 * as fileio_write_full(). */
int fileio_pwrite_full(int fd, const void *p, size_t n, off_t off);
/* Reads exactly n bytes into p from the file position (read(2)). Returns 0, -ENODATA when end of
 * file comes first (what was read is in p, how much is not told), or the read's -errno. */
int fileio_read_full(int fd, void *p, size_t n);
/* Reads exactly n bytes into p from offset off (pread(2)); the file position does not move.
 * Returns as fileio_read_full(). */
int fileio_pread_full(int fd, void *p, size_t n, off_t off);
