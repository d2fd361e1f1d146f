/* SPDX-License-Identifier: GPL-3.0-or-later */
/* smtp_data: the reader of message content after DATA (RFC 5321 §4.1.4, §4.5.2) and BDAT
 * (RFC 3030 §2), driven by smtpd with the client's bytes as they arrive (untrusted, split
 * anywhere). It hands the message on as the queue file stores it (DESIGN.md): LF line ends, no
 * dot-stuffing, in pieces of at most line_length_limit bytes, and stops consuming exactly at the
 * end of the content, so that pipelined commands after it stay with the caller.
 *
 * SMTP smuggling is closed in every mode: DATA ends only at CRLF "." CRLF where both line ends
 * are real CRLFs (the first line may be "." CRLF right after the DATA reply). A bare CR is never
 * a line end: it is data (and flagged). A bare LF is never part of an end-of-data sequence, so
 * "\n.\n", "\r.\r", "\r\n.\n" and "\n.\r\n" never end a message; what else a bare LF does is
 * smtpd_forbid_bare_newline's choice (SmtpBareLf).
 *
 * Dot-unstuffing follows RFC 5321 §4.5.2: the first period of every line that starts with one is
 * deleted, so "..x" becomes ".x" and ".x" becomes "x" (the latter was never sent by a correct
 * client, which would have doubled it). BDAT content is taken as is: no dot handling, no end
 * marker, exactly the announced number of octets; CRLF still becomes LF.
 *
 * Limits, with Postfix's meaning:
 *   line_length_limit   longer lines are chopped into pieces of at most this many bytes (the
 *                       emit callback is told a piece continues; Postfix's REC_TYPE_CONT);
 *   header_size_limit   a logical header (a header line and its continuation lines) larger than
 *                       this is cut at the limit, the excess is discarded (Postfix's cleanup);
 *   message_size_limit  once the content exceeds it, nothing more is emitted; the reader still
 *                       reads to the end and then reports -EMSGSIZE (552 5.3.4).
 * The header section ends at the first empty line, or at the first line that is neither a header
 * field ("name:") nor a continuation of one, as Postfix's MIME reader decides; that line is the
 * first of the body. Pure: no I/O, no logging, no globals. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "macro.h"

/* smtpd_forbid_bare_newline. */
typedef enum SmtpBareLf {
        SMTP_BARE_LF_NO,        /* "no": a bare LF is message data, passed on as is */
        SMTP_BARE_LF_NORMALIZE, /* "normalize": a bare LF ends a line as CRLF would */
        SMTP_BARE_LF_REJECT,    /* "reject", "yes": read to the end, emit nothing more,
                                 * -EBADMSG */
        _SMTP_BARE_LF_MAX,
        _SMTP_BARE_LF_INVALID = -EINVAL,
} SmtpBareLf;

typedef struct SmtpDataLimits {
        size_t line_length_limit;       /* >= 1; Postfix 2048 */
        size_t header_size_limit;       /* >= 1; Postfix 102400 */
        uint64_t message_size_limit;    /* 0: none; Postfix 10240000 */
        SmtpBareLf bare_lf;             /* Postfix < 3.9: "no" */
} SmtpDataLimits;

#define SMTP_DATA_LIMITS_DEFAULT                                                          \
        ((SmtpDataLimits) { .line_length_limit = 2048, .header_size_limit = 102400,        \
                            .message_size_limit = 10240000, .bare_lf = SMTP_BARE_LF_NO })

/* Flags of an emitted piece. */
typedef enum SmtpDataPiece {
        SMTP_DATA_PIECE_PARTIAL = 1u << 0,      /* no LF follows: the line goes on in the next
                                                 * piece (or the BDAT content ended mid-line) */
        SMTP_DATA_PIECE_HEADER = 1u << 1,       /* the piece is part of the header section */
        SMTP_DATA_PIECE_BODY_START = 1u << 2,   /* the first piece of the body (once at most) */
} SmtpDataPiece;

/* Receives one piece of content: n bytes at p (valid during the call only; without its LF),
 * followed by an LF unless flags has SMTP_DATA_PIECE_PARTIAL. May contain bare CRs, and bare
 * LFs in SMTP_BARE_LF_NO mode. Returns >= 0, or a negative errno: the reader then stops
 * emitting, keeps reading to the end of the content, and reports that error. */
typedef int (*SmtpDataEmit)(void *userdata, const char *p, size_t n, unsigned flags);

/* What the reader has seen, for the session's replies, logs and header checks. */
typedef struct SmtpDataInfo {
        uint64_t octets;        /* input bytes consumed, the end-of-data line included */
        uint64_t size;          /* content bytes with LF line ends and periods removed, counted
                                 * even past message_size_limit and in discarded header text */
        uint64_t emitted;       /* bytes handed to the callback, LFs counted */
        uint64_t header_size;   /* bytes of the header section emitted, LFs counted */
        bool in_body;           /* the header/body boundary was passed */
        bool bare_cr;           /* a CR not followed by LF was received */
        bool bare_lf;           /* an LF not preceded by CR was received */
        bool header_truncated;  /* header text beyond header_size_limit was discarded */
        bool line_split;        /* a line longer than line_length_limit was chopped */
        bool too_big;           /* size exceeded message_size_limit */
} SmtpDataInfo;

typedef struct SmtpDataReader SmtpDataReader;

/* Allocates a reader (its line buffer has line_length_limit bytes). The limits are copied; emit
 * receives userdata. Returns 0, -EINVAL on a zero line or header limit or a bad bare_lf value,
 * -ENOMEM. The reader is idle until smtp_data_start() or smtp_data_start_chunk(). */
int smtp_data_new(const SmtpDataLimits *limits, SmtpDataEmit emit, void *userdata,
                  SmtpDataReader **ret);
/* Accepts NULL, returns NULL. */
SmtpDataReader *smtp_data_free(SmtpDataReader *r);
DEFINE_PTR_CLEANUP(SmtpDataReader *, smtp_data_free);
/* Forgets the message: idle again, counters and result cleared, for the next transaction. */
void smtp_data_reset(SmtpDataReader *r);

/* Begins DATA content (after the 354 reply). Returns 0, -EPROTO when this reader already holds a
 * message (reset it first). */
int smtp_data_start(SmtpDataReader *r);
/* Begins a BDAT chunk of size octets. The first chunk begins a message; later chunks continue it
 * (a line may run across chunks, a CRLF may be split between them). Returns 0, -EPROTO when the
 * reader is in DATA mode or the previous chunk is not complete. */
int smtp_data_start_chunk(SmtpDataReader *r, uint64_t size);

/* Feeds n bytes at p. *ret_used is always written: bytes consumed, never more than n. Returns 1
 * when the end was reached (DATA: CRLF "." CRLF consumed, the message is complete; BDAT: the
 * chunk's octets are consumed), with the bytes after it left unconsumed; 0 when all n bytes were
 * consumed and more are needed. Once at the end, further calls return 1 and consume nothing until
 * the next start. Errors in the content never stop the reading: see smtp_data_result(). Returns
 * -EPROTO when no DATA or chunk was started. */
int smtp_data_feed(SmtpDataReader *r, const char *p, size_t n, size_t *ret_used);

/* Completes a BDAT message after its LAST chunk: a pending CR becomes data and an unfinished last
 * line is emitted (flagged SMTP_DATA_PIECE_PARTIAL: no LF is added). A no-op after DATA. Returns
 * smtp_data_result(); -EPROTO while a chunk or DATA is still incomplete. */
int smtp_data_finish(SmtpDataReader *r);

/* The verdict on the content so far, the first error that happened: 0; -EMSGSIZE when
 * message_size_limit was exceeded (552 5.3.4); -EBADMSG when a bare LF came in
 * SMTP_BARE_LF_REJECT mode (smtpd_forbid_bare_newline_reject_code, 5.5.2 "bare <LF> received");
 * or the emit callback's error. Nothing is emitted after the first error. */
int smtp_data_result(const SmtpDataReader *r);
/* Counters and flags; the pointer is valid as long as the reader. */
const SmtpDataInfo *smtp_data_info(const SmtpDataReader *r);

/* main.cf spelling of smtpd_forbid_bare_newline (case-insensitive): "no", "normalize", "reject"
 * and "yes" (reject, its meaning before Postfix 3.9; 3.9 made it normalize). Returns
 * _SMTP_BARE_LF_INVALID otherwise. */
SmtpBareLf smtp_data_bare_lf_from_string(const char *s);
/* "no", "normalize", "reject"; NULL when out of range. */
const char *smtp_data_bare_lf_to_string(SmtpBareLf m);
