/* SPDX-License-Identifier: GPL-3.0-or-later */
/* smtp_io: buffered, bounded, non-blocking SMTP byte stream with a swappable transport. */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "smtp_io.h"

static ssize_t plain_read(void *ctx, int fd, void *p, size_t n) {
        ssize_t k = read(fd, p, n);

        if (k < 0)
                return errno == EWOULDBLOCK ? -EAGAIN : -errno;
        return k;
}

static ssize_t plain_write(void *ctx, int fd, const void *p, size_t n) {
        /* send() with MSG_NOSIGNAL: a peer that went away is -EPIPE, never SIGPIPE. Streams that
         * are not sockets (pipes in sendmail -bs) fall back to write(). */
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);

        if (k < 0 && errno == ENOTSOCK)
                k = write(fd, p, n);
        if (k < 0)
                return errno == EWOULDBLOCK ? -EAGAIN : -errno;
        return k;
}

const SmtpTransport smtp_transport_plain = {
        .name = "plain",
        .read = plain_read,
        .write = plain_write,
};

void smtp_stream_init(SmtpStream *s, int fd, size_t in_max, size_t out_max) {
        *s = (SmtpStream) {
                .fd = fd,
                .transport = &smtp_transport_plain,
                .in = BUF_INIT(in_max),
                .out = BUF_INIT(out_max),
        };
}

void smtp_stream_done(SmtpStream *s) {
        if (s->transport && s->transport->free && s->transport_ctx)
                s->transport->free(s->transport_ctx);
        s->transport_ctx = NULL;
        buf_done(&s->in);
        buf_done(&s->out);
}

static ssize_t fill_once(SmtpStream *s) {
        char tmp[16384];
        size_t room;
        ssize_t n;
        int r;

        if (buf_pending(&s->in) >= s->in.max)
                return -ENOBUFS;
        room = MIN(sizeof tmp, s->in.max - buf_pending(&s->in));

        n = s->transport->read(s->transport_ctx, s->fd, tmp, room);
        if (n < 0)
                return n;
        if (n == 0) {
                s->eof = true;
                return 0;
        }
        r = buf_append(&s->in, tmp, (size_t) n);
        if (r < 0)
                return r;
        return n;
}

bool smtp_stream_transport_pending(const SmtpStream *s) {
        return s->transport->pending && s->transport->pending(s->transport_ctx);
}

bool smtp_stream_read_wants_write(const SmtpStream *s) {
        return s->transport->read_wants_write && s->transport->read_wants_write(s->transport_ctx);
}

ssize_t smtp_stream_fill(SmtpStream *s) {
        ssize_t n, total = 0;

        n = fill_once(s);
        if (n <= 0)
                return n;
        total = n;
        /* A TLS record read in part leaves the rest inside the library, where no readiness
         * event will announce it. */
        while (smtp_stream_transport_pending(s) && buf_pending(&s->in) < s->in.max) {
                n = fill_once(s);
                if (n <= 0)
                        break;          /* reported by the next call */
                total += n;
        }
        return total;
}

int smtp_stream_flush(SmtpStream *s) {
        while (buf_pending(&s->out) > 0) {
                ssize_t n = s->transport->write(s->transport_ctx, s->fd, buf_peek(&s->out),
                                                buf_pending(&s->out));

                if (n == -EAGAIN)
                        return 0;
                if (n < 0)
                        return (int) n;
                buf_consume(&s->out, (size_t) n);
        }
        return 1;
}

int smtp_stream_vreply(SmtpStream *s, unsigned code, bool last, const char *enhanced,
                       const char *fmt, va_list ap) {
        /* Formatted apart and appended whole: never half a reply queued. */
        _cleanup_(buf_done) Buf line = BUF_INIT(SMTP_IO_REPLY_MAX);
        int r;

        assert(code >= 200 && code <= 599);

        r = buf_printf(&line, "%03u%c", code, last ? ' ' : '-');
        if (r >= 0 && enhanced)
                r = buf_printf(&line, "%s ", enhanced);
        if (r >= 0)
                r = buf_vprintf(&line, fmt, ap);
        if (r >= 0)
                r = buf_append(&line, "\r\n", 2);
        if (r < 0)
                return r;
        return buf_append(&s->out, buf_peek(&line), buf_pending(&line));
}

int smtp_stream_reply(SmtpStream *s, unsigned code, bool last, const char *enhanced,
                      const char *fmt, ...) {
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = smtp_stream_vreply(s, code, last, enhanced, fmt, ap);
        va_end(ap);
        return r;
}

int smtp_stream_write(SmtpStream *s, const void *p, size_t n) {
        return buf_append(&s->out, p, n);
}

int smtp_stream_set_transport(SmtpStream *s, const SmtpTransport *t, void *ctx) {
        if (smtp_stream_has_output(s))
                return -EBUSY;
        if (s->transport && s->transport->free && s->transport_ctx)
                s->transport->free(s->transport_ctx);
        s->transport = t;
        s->transport_ctx = ctx;
        buf_clear(&s->in);
        return 0;
}
