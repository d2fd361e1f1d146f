/* SPDX-License-Identifier: GPL-3.0-or-later */
/* fileio: one loop for whole-buffer writes and reads (fileio.h). */
#include "fileio.h"

/* Moves n bytes: out of wbuf to fd when wbuf is set (a write), else from fd into rbuf (a read).
 * off < 0: at the file position; else at off plus the bytes moved so far. */
static int transfer(int fd, const char *wbuf, char *rbuf, size_t n, off_t off) {
        size_t done = 0;

        while (done < n) {
                size_t left = n - done;
                ssize_t k;

                if (wbuf)
                        k = off < 0 ? write(fd, wbuf + done, left)
                                    : pwrite(fd, wbuf + done, left, off + (off_t) done);
                else
                        k = off < 0 ? read(fd, rbuf + done, left)
                                    : pread(fd, rbuf + done, left, off + (off_t) done);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        return wbuf ? -EIO : -ENODATA;
                done += (size_t) k;
        }
        return 0;
}

int fileio_write_full(int fd, const void *p, size_t n) {
        assert(p || n == 0);
        return transfer(fd, p, NULL, n, -1);
}

int fileio_pwrite_full(int fd, const void *p, size_t n, off_t off) {
        assert(p || n == 0);
        assert(off >= 0);
        return transfer(fd, p, NULL, n, off);
}

int fileio_read_full(int fd, void *p, size_t n) {
        assert(p || n == 0);
        return transfer(fd, NULL, p, n, -1);
}

int fileio_pread_full(int fd, void *p, size_t n, off_t off) {
        assert(p || n == 0);
        assert(off >= 0);
        return transfer(fd, NULL, p, n, off);
}
