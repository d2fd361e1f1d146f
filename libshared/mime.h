/* SPDX-License-Identifier: GPL-3.0-or-later */
/* mime: what the smtp and lmtp agents do to a message's content on its way out. Two streaming
 * stages, each fed the content in chunks of any size and keeping bounded state:
 *
 * - MimeDowngrader: the 8BITMIME to 7BIT conversion of Postfix's SMTP client, for a server that
 *   did not announce 8BITMIME (RFC 6152 §3 wants the client to convert or not send). It parses
 *   the MIME structure (RFC 2045 §5 Content-Type, §6 Content-Transfer-Encoding, RFC 2046 §5.1
 *   multipart boundaries, §5.2.1 message/rfc822) without recursion: an explicit stack of at
 *   most MIME_NESTING_MAX multipart levels, boundaries cut at MIME_BOUNDARY_MAX bytes. Every
 *   entity whose Content-Transfer-Encoding header says 8bit or binary is converted: a leaf
 *   (anything but multipart/ * and message/rfc822) has its body re-encoded as quoted-printable
 *   (RFC 2045 §6.7: lines of at most 76 characters, "=" soft breaks, '=', control and 8-bit
 *   bytes and white space at the end of a line encoded) and its header says
 *   "Content-Transfer-Encoding: quoted-printable"; a multipart or message/rfc822 entity is
 *   relabelled "7bit" and converted inside. As in Postfix, the rewritten header is withheld
 *   and emitted at the end of its header block; an entity without the header, or one that
 *   says 7bit, is not touched (its 8-bit bytes, like 8-bit bytes in headers, cannot be
 *   downgraded without guessing a charset and are sent as they are); base64 and
 *   quoted-printable bodies pass unchanged. A message that is 7-bit throughout comes out byte
 *   for byte as it went in.
 *
 * - MimeWire: the queue file's LF lines as SMTP DATA (RFC 5321 §4.5.2): CRLF line ends, a
 *   leading "." doubled, a line longer than smtp_line_length_limit broken by inserting
 *   CRLF SPACE as Postfix does ("to minimize the damage to MIME formatted mail"; the stuffed
 *   dot counts, so no line on the wire is longer than the limit), a last line without LF
 *   ended, then "." CRLF.
 *
 * MimeEncoder chains the two (the downgrader only when asked) and is what the agent uses.
 * The content is untrusted (it came from a peer): nothing is ever held beyond the named limits
 * below, and a nesting deeper than MIME_NESTING_MAX is an error (Postfix bounces such mail with
 * 5.6.0 "MIME nesting exceeds safety limit" when it has to convert it). No I/O, no logging, no
 * globals. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "macro.h"

/* Postfix's mime_nesting_limit default: multipart levels the downgrader follows. */
#define MIME_NESTING_MAX 100
/* Postfix's mime_boundary_length_limit default: bytes of a boundary that are compared. */
#define MIME_BOUNDARY_MAX 2048
/* Bytes of one header field (with its continuation lines) held for Content-Type and
 * Content-Transfer-Encoding; a longer field is passed on as it comes and its tail not parsed. */
#define MIME_HEADER_MAX 16384
/* The longest line start held before deciding what the line is: a header name (1024 bytes),
 * or a boundary with its "--" before and after. */
#define MIME_LINE_HOLD_MAX (2 + MIME_BOUNDARY_MAX + 2)
/* RFC 2045 §6.7 rule 5: encoded lines are at most 76 characters. */
#define MIME_QP_LINE_MAX 76
/* Postfix's smtp_line_length_limit default. */
#define MIME_LINE_LENGTH_DEFAULT 998

/* An upper bound of the bytes one encoder feed of n bytes (or a finish, n = 0) can append to
 * out, whatever the line length limit, for sizing the output buffer: quoted-printable makes at
 * most 3 bytes and a share of a soft break of a byte, the DATA encoder at most 4 of a byte
 * (a fold, "CRLF SPACE", before every byte at the smallest limit), and the bytes held from
 * earlier feeds (a header field, a line start) come out too. */
#define MIME_OUT_MAX(n) (16 * ((size_t) (n) + MIME_HEADER_MAX + MIME_LINE_HOLD_MAX + 64) + 64)

typedef enum MimeDowngradeFlags {
        MIME_DOWNGRADE_CONVERTED = 1u << 0,     /* an entity was relabelled or re-encoded */
        MIME_DOWNGRADE_8BIT_LEFT = 1u << 1,     /* 8-bit bytes went out as they came (headers,
                                                 * entities not labelled 8bit or binary) */
} MimeDowngradeFlags;

typedef struct MimeDowngrader MimeDowngrader;

/* Allocates a downgrader at the start of a message. Returns 0, -ENOMEM. */
int mime_downgrader_new(MimeDowngrader **ret);
/* Frees; accepts NULL, returns NULL. */
MimeDowngrader *mime_downgrader_free(MimeDowngrader *m);
DEFINE_PTR_CLEANUP(MimeDowngrader *, mime_downgrader_free);
/* Feeds n bytes of LF-terminated content and appends the converted content (LF lines too) to
 * out; bytes of an undecided line start or header field may be held until a later feed.
 * Returns 0; -E2BIG when the multipart nesting exceeds MIME_NESTING_MAX (the output is then
 * incomplete and every later call fails the same way); -ENOBUFS or -ENOMEM from out (out may
 * then hold part of the output: the conversion cannot go on). */
int mime_downgrader_feed(MimeDowngrader *m, const char *p, size_t n, Buf *out);
/* Ends the content: appends what is held. A last line without LF stays without one, unless a
 * header has to follow it. Returns as mime_downgrader_feed(). Nothing may be fed after. */
int mime_downgrader_finish(MimeDowngrader *m, Buf *out);
/* MimeDowngradeFlags for what was done so far. */
unsigned mime_downgrader_flags(const MimeDowngrader *m) _pure_;

/* The DATA encoder; embedded by value, no allocation. */
typedef struct MimeWire {
        size_t limit;                   /* line length limit, 0: none */
        size_t col;                     /* bytes on the current output line */
        bool bol;                       /* at the start of an input line */
} MimeWire;

/* Starts a message. line_length_limit 0 means no limit; 1 acts as 2 (a continuation line is
 * a SPACE and at least one byte). */
void mime_wire_init(MimeWire *w, size_t line_length_limit);
/* Appends n bytes of LF content as CRLF lines, dot-stuffed and folded. Returns 0, -ENOBUFS
 * or -ENOMEM from out. */
int mime_wire_feed(MimeWire *w, const char *p, size_t n, Buf *out);
/* Ends the last line when it has no LF and appends the end of data, "." CRLF. Returns 0,
 * -ENOBUFS or -ENOMEM from out. */
int mime_wire_finish(MimeWire *w, Buf *out);

typedef struct MimeEncoderOptions {
        bool downgrade;                 /* the server lacks 8BITMIME and
                                         * disable_mime_output_conversion = no */
        size_t line_length_limit;       /* smtp_line_length_limit / lmtp_line_length_limit */
} MimeEncoderOptions;

typedef struct MimeEncoder MimeEncoder;

/* Returns 0, -ENOMEM. */
int mime_encoder_new(const MimeEncoderOptions *o, MimeEncoder **ret);
MimeEncoder *mime_encoder_free(MimeEncoder *e);
DEFINE_PTR_CLEANUP(MimeEncoder *, mime_encoder_free);
/* Feeds n bytes of the queue file's content; appends DATA bytes to out (at most
 * MIME_OUT_MAX(n)). Returns 0, -E2BIG (see mime_downgrader_feed()), -ENOBUFS, -ENOMEM. */
int mime_encoder_feed(MimeEncoder *e, const char *p, size_t n, Buf *out);
/* Appends what is held and the end of data ("." CRLF). Returns as mime_encoder_feed(). */
int mime_encoder_finish(MimeEncoder *e, Buf *out);
/* MimeDowngradeFlags; 0 without downgrading. */
unsigned mime_encoder_flags(const MimeEncoder *e) _pure_;

/* Decodes quoted-printable text with LF line ends (RFC 2045 §6.7): "=XX" (either case) to a
 * byte, "=" at the end of a line (after optional trailing white space) joins lines, white
 * space at the end of a line is dropped. Appends to out. Returns 0; -EBADMSG for "=" followed
 * by anything else or a line longer than MIME_QP_LINE_MAX (nothing is undone in out);
 * -ENOBUFS, -ENOMEM. */
int mime_qp_decode(const char *p, size_t n, Buf *out);
