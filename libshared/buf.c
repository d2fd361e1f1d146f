/* SPDX-License-Identifier: GPL-3.0-or-later */
/* buf: bounded byte buffer and the CRLF line reader. Input is untrusted: every append is checked
 * against the buffer's max before memory is touched, and line ends are CRLF only. */
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

#include "buf.h"

static int buf_reserve(Buf *b, size_t n) {
        size_t want, cap;
        char *p;

        if (buf_pending(b) > b->max || n > b->max - buf_pending(b))
                return -ENOBUFS;
        if (__builtin_add_overflow(b->len, n, &want) || __builtin_add_overflow(want, 1, &want))
                return -ENOBUFS;
        if (want <= b->cap)
                return 0;

        /* Reclaim consumed space before growing. */
        if (b->off > 0) {
                buf_compact(b);
                want = b->len + n + 1;
                if (want <= b->cap)
                        return 0;
        }

        cap = b->cap ? b->cap : 64;
        while (cap < want) {
                if (__builtin_mul_overflow(cap, 2, &cap)) {
                        cap = want;
                        break;
                }
        }

        p = realloc(b->data, cap);
        if (!p)
                return -ENOMEM;
        b->data = p;
        b->cap = cap;
        return 0;
}

int buf_append(Buf *b, const void *p, size_t n) {
        int r;

        assert(b);
        r = buf_reserve(b, n);
        if (r < 0)
                return r;
        if (n > 0)
                memcpy(b->data + b->len, p, n);
        b->len += n;
        b->data[b->len] = '\0';
        return 0;
}

int buf_append_str(Buf *b, const char *s) {
        return buf_append(b, s, strlen(s));
}

int buf_append_char(Buf *b, char c) {
        return buf_append(b, &c, 1);
}

int buf_vprintf(Buf *b, const char *fmt, va_list ap) {
        va_list aq;
        int n, r;

        va_copy(aq, ap);
        n = vsnprintf(NULL, 0, fmt, aq);
        va_end(aq);
        if (n < 0)
                return -EINVAL;

        r = buf_reserve(b, (size_t) n);
        if (r < 0)
                return r;
        (void) vsnprintf(b->data + b->len, (size_t) n + 1, fmt, ap);
        b->len += (size_t) n;
        return 0;
}

int buf_printf(Buf *b, const char *fmt, ...) {
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = buf_vprintf(b, fmt, ap);
        va_end(ap);
        return r;
}

int buf_read_fd(Buf *b, int fd) {
        size_t room = 4096;
        ssize_t n;
        int r;

        if (buf_pending(b) >= b->max)
                return -ENOBUFS;
        room = MIN(room, b->max - buf_pending(b));

        r = buf_reserve(b, room);
        if (r < 0)
                return r;

        n = read(fd, b->data + b->len, room);
        if (n < 0)
                return errno == EWOULDBLOCK ? -EAGAIN : -errno;
        b->len += (size_t) n;
        b->data[b->len] = '\0';
        return (int) n;
}

int buf_getline(Buf *b, size_t line_max, char **ret_line, size_t *ret_len) {
        const char *start = buf_peek(b);
        size_t n = buf_pending(b);

        assert(ret_line);

        for (size_t i = 0; i < n; i++) {
                char c = start[i];

                if (c == '\r') {
                        if (i + 1 >= n)
                                /* CR as the last byte: wait for what follows. */
                                return i > line_max ? -EMSGSIZE : 0;
                        if (start[i + 1] != '\n')
                                return -EBADMSG;
                        if (i > line_max)
                                return -EMSGSIZE;

                        b->data[b->off + i] = '\0';
                        *ret_line = b->data + b->off;
                        if (ret_len)
                                *ret_len = i;
                        b->off += i + 2;
                        return 1;
                }
                if (c == '\n' || c == '\0')
                        return -EBADMSG;
                if (i >= line_max)
                        return -EMSGSIZE;
        }
        return 0;
}

bool buf_skip_line(Buf *b) {
        const char *start = buf_peek(b);
        size_t n = buf_pending(b);

        for (size_t i = 0; i + 1 < n; i++)
                if (start[i] == '\r' && start[i + 1] == '\n') {
                        buf_consume(b, i + 2);
                        return true;
                }

        /* Keep a trailing CR: its LF may still come. */
        if (n > 0 && start[n - 1] == '\r')
                buf_consume(b, n - 1);
        else
                buf_consume(b, n);
        return false;
}

void buf_consume(Buf *b, size_t n) {
        assert(n <= buf_pending(b));
        b->off += n;
        if (b->off == b->len)
                buf_clear(b);
}

void buf_clear(Buf *b) {
        b->off = b->len = 0;
        if (b->data)
                b->data[0] = '\0';
}

void buf_compact(Buf *b) {
        if (b->off == 0 || !b->data)
                return;
        memmove(b->data, b->data + b->off, b->len - b->off + 1);
        b->len -= b->off;
        b->off = 0;
}

char *buf_steal(Buf *b) {
        char *s;

        if (!b->data)
                return strdup("");
        buf_compact(b);
        s = TAKE_PTR(b->data);
        b->len = b->cap = b->off = 0;
        return s;
}

void buf_done(Buf *b) {
        b->data = mfree(b->data);
        b->len = b->cap = b->off = 0;
}
