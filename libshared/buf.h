/* SPDX-License-Identifier: GPL-3.0-or-later */
/* buf: a bounded, growable byte buffer. Bytes from peers, users and files are collected here;
 * it grows on demand but never holds more than `max` unconsumed bytes, and keeps
 * data[len] == '\0' so that a complete line can be used as a C string. buf_getline() is the
 * only place that looks for line ends in protocol input: CRLF only (RFC 5321 §2.3.8), a bare
 * CR or LF is an error, never a line end. */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include "macro.h"

typedef struct Buf {
        char *data;             /* NULL until the first append */
        size_t off;             /* first unconsumed byte */
        size_t len;             /* end of valid bytes; data[len] == '\0' */
        size_t cap;             /* allocated bytes, always > len */
        size_t max;             /* hard limit on len - off, fixed at init */
} Buf;

#define BUF_INIT(limit) ((Buf) { .max = (limit) })
/* A limit for buffers filled by trusted code only (formatting replies, building files). */
#define BUF_MAX_UNBOUNDED SIZE_MAX

/* Appends n bytes. Returns 0, -ENOBUFS when the unconsumed bytes would exceed max (nothing is
 * appended then), -ENOMEM. */
int buf_append(Buf *b, const void *p, size_t n);
int buf_append_str(Buf *b, const char *s);
int buf_append_char(Buf *b, char c);
/* printf-style append; the same limits and return values as buf_append(). */
int buf_printf(Buf *b, const char *fmt, ...) _printf_(2, 3);
int buf_vprintf(Buf *b, const char *fmt, va_list ap) _printf_(2, 0);

/* Reads once from a (possibly non-blocking) fd into the buffer, at most up to max.
 * Returns > 0 bytes read, 0 at EOF, -EAGAIN, -ENOBUFS when the buffer is full, or -errno. */
int buf_read_fd(Buf *b, int fd);

/* Takes one CRLF-terminated line. Returns 1 with the line (CRLF removed, NUL-terminated in
 * place, valid until the next call that changes b), 0 when no CRLF has arrived yet and fewer
 * than line_max bytes are pending, -EMSGSIZE once a line exceeds line_max bytes (CRLF not
 * counted), -EBADMSG on a bare CR or LF or a NUL byte. After an error the bytes stay; the
 * caller drops them with buf_skip_line(). */
int buf_getline(Buf *b, size_t line_max, char **ret_line, size_t *ret_len);
/* Drops input up to and including the next CRLF (or everything pending when there is none).
 * Returns true when a CRLF was found. */
bool buf_skip_line(Buf *b);

/* Unconsumed bytes. */
static inline const char *buf_peek(const Buf *b) {
        return b->data ? b->data + b->off : "";
}
static inline size_t buf_pending(const Buf *b) {
        return b->len - b->off;
}
/* Marks n unconsumed bytes as consumed; n must not exceed buf_pending(). */
void buf_consume(Buf *b, size_t n);
/* Forgets the content, keeps the allocation. */
void buf_clear(Buf *b);
/* Moves the unconsumed bytes to the start of the allocation. */
void buf_compact(Buf *b);
/* Hands the content (NUL-terminated, unconsumed part only) to the caller and empties b.
 * Returns NULL with -ENOMEM semantics left to the caller only if nothing was ever appended
 * and the empty string cannot be allocated. */
char *buf_steal(Buf *b);
/* Frees data; usable as _cleanup_(buf_done). */
void buf_done(Buf *b);
