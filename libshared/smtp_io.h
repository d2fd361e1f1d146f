/* SPDX-License-Identifier: GPL-3.0-or-later */
/* smtp_io: the byte stream under an SMTP session, for the server (smtpd) and the client agents.
 * Input collects in a bounded Buf (lines are taken from it by the protocol code with
 * buf_getline() or the DATA reader); output replies collect in a bounded Buf and are flushed when
 * the socket can take them, so a slow reader never blocks the event loop and pipelined replies go
 * out in one write.
 *
 * The bytes move through a transport: plain read()/write() on the fd by default; STARTTLS swaps in
 * the TLS transport (tls.h, tls_transport) without the protocol code noticing. Swapping discards
 * any input received before the switch: commands pipelined before STARTTLS are never executed
 * after it (RFC 3207 §4.2, CVE-2011-0411). */
#pragma once

#include <stdarg.h>
#include <sys/types.h>

#include "buf.h"

typedef struct SmtpTransport {
        const char *name;                               /* "plain", "tls" */
        /* > 0 bytes, 0 at EOF, -EAGAIN when nothing is available now, other -errno. */
        ssize_t (*read)(void *ctx, int fd, void *p, size_t n);
        /* > 0 bytes written, -EAGAIN when the socket is full, other -errno. */
        ssize_t (*write)(void *ctx, int fd, const void *p, size_t n);
        /* Whether the transport needs the fd writable (rather than readable) to make progress on
         * a read, as TLS may during renegotiation; NULL means never. */
        bool (*read_wants_write)(void *ctx);
        /* Whether input is buffered inside the transport (decrypted TLS records), which a read
         * returns without the fd becoming readable; NULL means never. */
        bool (*pending)(void *ctx);
        void (*free)(void *ctx);
} SmtpTransport;

typedef struct SmtpStream {
        int fd;                         /* not owned */
        const SmtpTransport *transport;
        void *transport_ctx;            /* owned: freed with transport->free */
        Buf in;
        Buf out;
        bool eof;
} SmtpStream;

/* Room for pending replies: far more than a pipelined transaction can produce, and a bound on
 * what a peer that never reads can make us hold. */
#define SMTP_IO_OUT_MAX (256u * 1024)
/* One reply line, CRLF included: RFC 5321 §4.5.3.1.5 says 512; texts we compose stay well
 * inside this. */
#define SMTP_IO_REPLY_MAX 2048

/* Sets up a plain stream on fd (which should be non-blocking). in_max bounds unconsumed input. */
void smtp_stream_init(SmtpStream *s, int fd, size_t in_max, size_t out_max);
/* Frees buffers and the transport context; does not close the fd. */
void smtp_stream_done(SmtpStream *s);

/* Reads from the transport into s->in: once, and again while the transport holds buffered input
 * and s->in has room. Returns > 0 bytes, 0 at EOF (s->eof set), -EAGAIN, -ENOBUFS when s->in is
 * full (the protocol code has not consumed it), other -errno. */
ssize_t smtp_stream_fill(SmtpStream *s);
/* Whether the transport holds input that smtp_stream_fill() takes without the fd becoming
 * readable: an event loop fills again before it waits. */
bool smtp_stream_transport_pending(const SmtpStream *s);
/* Whether the transport's last read waits for the fd to become writable (TLS). */
bool smtp_stream_read_wants_write(const SmtpStream *s);
/* Writes pending output. Returns 1 when everything was written, 0 when some remains (wait for the
 * fd to become writable), -errno on a write error (-EPIPE, -ECONNRESET: the peer is gone). */
int smtp_stream_flush(SmtpStream *s);
static inline bool smtp_stream_has_output(const SmtpStream *s) {
        return buf_pending(&s->out) > 0;
}

/* Queues one reply line "CODE[-| ]TEXT\r\n". last=false gives "250-..." for multi-line replies.
 * An enhanced status code ("2.0.0"), when not NULL, is put before the text (RFC 2034).
 * Returns 0, -ENOBUFS when the output limit is reached (the peer is not reading: end it). */
int smtp_stream_reply(SmtpStream *s, unsigned code, bool last, const char *enhanced,
                      const char *fmt, ...) _printf_(5, 6);
int smtp_stream_vreply(SmtpStream *s, unsigned code, bool last, const char *enhanced,
                       const char *fmt, va_list ap) _printf_(5, 0);
/* Queues raw bytes (the client side's commands). Same returns as smtp_stream_reply(). */
int smtp_stream_write(SmtpStream *s, const void *p, size_t n);

/* Replaces the transport (after a TLS handshake). Pending input is discarded; pending output must
 * have been flushed (-EBUSY otherwise). Takes ownership of ctx. */
int smtp_stream_set_transport(SmtpStream *s, const SmtpTransport *t, void *ctx);

extern const SmtpTransport smtp_transport_plain;
