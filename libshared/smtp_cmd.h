/* SPDX-License-Identifier: GPL-3.0-or-later */
/* smtp_cmd: the SMTP command parser that smtpd drives from its event loop. It takes the client's
 * bytes (untrusted, arbitrarily split), finds one CRLF-terminated command line at a time with
 * buf_getline() (CRLF only: a bare CR, bare LF or NUL makes the line an error, RFC 5321 §2.3.8),
 * bounds it (RFC 5321 §4.5.3.1.4: 512 octets by default), and splits it into a verb and its
 * arguments: the reverse- or forward-path of MAIL and RCPT (RFC 5321 §4.1.1.2, §4.1.1.3), their
 * ESMTP parameters (RFC 5321 §4.1.2) with SIZE (RFC 1870), BODY (RFC 6152, RFC 3030), SMTPUTF8
 * (RFC 6531), RET, ENVID, NOTIFY, ORCPT (RFC 3461) and AUTH (RFC 4954) decoded and checked, and
 * the chunk size of BDAT (RFC 3030). The address syntax inside a path is not checked here (addr
 * does that); this module only finds where the path ends. It also holds the xtext helpers of
 * RFC 3461 §4. Pure: no I/O, no logging, no globals.
 *
 * Storage: the parser keeps the bytes of the current line in its own bounded Buf (at most
 * limits.command_line bytes) and a scratch copy of the argument of the same size, both allocated
 * once by smtp_cmd_parser_new(); it never reads past the caller's buffer and never keeps bytes
 * after the command line it returns, so the bytes that follow a command (pipelining, RFC 2920;
 * message content after DATA) stay with the caller. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "macro.h"

/* RFC 5321 §4.5.3.1 size limits. smtp_cmd uses command_line; the other values are the RFC
 * defaults for the modules that check paths and text lines (addr, the DATA reader's caller). */
typedef struct SmtpLimits {
        size_t command_line;    /* command line, CRLF included (§4.5.3.1.4): 512 */
        size_t text_line;       /* text line, CRLF included (§4.5.3.1.6): 1000 */
        size_t local_part;      /* §4.5.3.1.1: 64 */
        size_t domain;          /* §4.5.3.1.2: 255 */
        size_t path;            /* §4.5.3.1.3, punctuation included: 256 */
} SmtpLimits;

#define SMTP_LIMITS_RFC5321                                                             \
        ((SmtpLimits) { .command_line = 512, .text_line = 1000, .local_part = 64,        \
                        .domain = 255, .path = 256 })
/* The smallest command_line smtp_cmd_parser_new() accepts ("QUIT" CRLF and then some). */
#define SMTP_CMD_LINE_MIN 16

typedef enum SmtpVerb {
        SMTP_VERB_UNKNOWN,      /* not a verb we know: 500 5.5.2 */
        SMTP_VERB_HELO,
        SMTP_VERB_EHLO,
        SMTP_VERB_MAIL,
        SMTP_VERB_RCPT,
        SMTP_VERB_DATA,
        SMTP_VERB_BDAT,
        SMTP_VERB_RSET,
        SMTP_VERB_NOOP,
        SMTP_VERB_QUIT,
        SMTP_VERB_VRFY,
        SMTP_VERB_EXPN,
        SMTP_VERB_ETRN,
        SMTP_VERB_HELP,
        SMTP_VERB_STARTTLS,
        SMTP_VERB_AUTH,
        _SMTP_VERB_MAX,
        _SMTP_VERB_INVALID = -EINVAL,
} SmtpVerb;

/* BODY= of MAIL (RFC 6152, RFC 3030 §3). */
typedef enum SmtpBody {
        SMTP_BODY_UNSET,        /* no BODY= parameter */
        SMTP_BODY_7BIT,
        SMTP_BODY_8BITMIME,
        SMTP_BODY_BINARYMIME,
        _SMTP_BODY_MAX,
        _SMTP_BODY_INVALID = -EINVAL,
} SmtpBody;

/* RET= of MAIL (RFC 3461 §4.3). */
typedef enum SmtpRet {
        SMTP_RET_UNSET,
        SMTP_RET_FULL,
        SMTP_RET_HDRS,
        _SMTP_RET_MAX,
        _SMTP_RET_INVALID = -EINVAL,
} SmtpRet;

/* NOTIFY= of RCPT (RFC 3461 §4.1): 0 when absent; NEVER is only ever alone. */
typedef enum SmtpNotify {
        SMTP_NOTIFY_NEVER = 1u << 0,
        SMTP_NOTIFY_SUCCESS = 1u << 1,
        SMTP_NOTIFY_FAILURE = 1u << 2,
        SMTP_NOTIFY_DELAY = 1u << 3,
} SmtpNotify;

/* One parsed command. Every pointer points into the parser and stays valid until the next call
 * of smtp_cmd_feed() or smtp_cmd_parser_reset()/_free() on it; strings are NUL-terminated.
 *
 * A complete line always yields a command (smtp_cmd_feed() returns 1); what is wrong with its
 * arguments is in `error`, so that the session can still name the verb in its reply:
 *   0            well-formed;
 *   -EBADMSG     bad argument syntax: missing or extra argument, path without its end, bad
 *                parameter syntax or value, duplicate parameter, BDAT size not digits or over
 *                UINT64_MAX (501 5.5.4; for BDAT the session cannot find the chunk and closes);
 *                an empty line (verb UNKNOWN) also has -EBADMSG (500 5.5.2 bad syntax);
 *   -EOPNOTSUPP  an ESMTP parameter keyword this verb does not know (555 5.5.4 Unsupported
 *                option); bad_param names it.
 * When error is set, fields after the failing part keep their "absent" values. */
typedef struct SmtpCmd {
        SmtpVerb verb;
        int error;
        const char *verb_text;  /* the verb as sent (for logging an unknown command) */
        /* Everything after the verb and its white space, trailing white space removed, "" when
         * none: the raw argument of HELO/EHLO/VRFY/EXPN/ETRN/HELP/AUTH/NOOP/QUIT/unknown. */
        const char *arg;
        size_t arg_len;

        /* MAIL and RCPT: the path exactly as sent, "<...>" with its brackets, or a bare address
         * when the client left them out (path_bracketed false; strict_rfc821_envelopes is the
         * session's decision). NULL when absent or unparsable. */
        const char *path;
        size_t path_len;
        bool path_bracketed;
        /* The keyword of the parameter that caused error, as sent; NULL when none. */
        const char *bad_param;

        /* MAIL parameters. */
        bool size_set;
        uint64_t size;          /* SIZE= (RFC 1870) */
        SmtpBody body;          /* BODY= */
        bool smtputf8;          /* SMTPUTF8 (RFC 6531 §3.4), no value */
        SmtpRet ret;            /* RET= */
        const char *envid;      /* ENVID=, xtext-decoded; NULL when absent */
        const char *auth;       /* AUTH= (RFC 4954 §5), raw xtext or "<>"; NULL when absent */

        /* RCPT parameters. */
        unsigned notify;        /* SmtpNotify bits; 0 when absent */
        const char *orcpt_type; /* ORCPT= addr-type as sent ("rfc822"); NULL when absent */
        /* ORCPT= address: xtext-decoded, except for the "utf-8" addr-type (RFC 6533 §3), which
         * is kept as sent (utf-8-addr-xtext) for the session to decode. */
        const char *orcpt;

        /* BDAT (RFC 3030 §2). */
        uint64_t chunk_size;
        bool last;
} SmtpCmd;

typedef struct SmtpCmdParser SmtpCmdParser;

/* Allocates a parser for lines of at most limits->command_line bytes (CRLF included; must be at
 * least SMTP_CMD_LINE_MIN). The limits are copied. Returns 0, -EINVAL, -ENOMEM. */
int smtp_cmd_parser_new(const SmtpLimits *limits, SmtpCmdParser **ret);
/* Frees the parser; accepts NULL, returns NULL. */
SmtpCmdParser *smtp_cmd_parser_free(SmtpCmdParser *p);
DEFINE_PTR_CLEANUP(SmtpCmdParser *, smtp_cmd_parser_free);
/* Forgets a partial line and the skip state (e.g. when the stream is replaced by STARTTLS). */
void smtp_cmd_parser_reset(SmtpCmdParser *p);
/* Whether bytes of an unfinished line are held (or an error line is still being skipped). */
bool smtp_cmd_parser_pending(const SmtpCmdParser *p);

/* Feeds n bytes at buf. *ret_used is always written: the number of bytes consumed, never more
 * than n. Returns
 *   1          a command line was complete: *ret is filled; the bytes after its CRLF are not
 *              consumed and the parser holds no input (they may be given to the DATA reader);
 *   0          all n bytes were consumed and more input is needed;
 *   -EBADMSG   a bare CR, bare LF or NUL in the line;
 *   -EMSGSIZE  the line is longer than limits.command_line;
 * after either error the parser skips input up to the next CRLF (in this call as far as the
 * bytes go, then in later calls), so that one bad line costs one error reply (500 5.5.2) and the
 * session stays in step; -ENOMEM when the line buffer cannot grow. Call again with
 * buf + *ret_used while bytes remain. */
int smtp_cmd_feed(SmtpCmdParser *p, const char *buf, size_t n, size_t *ret_used, SmtpCmd *ret);

/* "EHLO" etc.; "UNKNOWN" for SMTP_VERB_UNKNOWN; NULL when out of range. */
const char *smtp_cmd_verb_to_string(SmtpVerb v);
/* The verb named by n bytes at s, case-insensitive; SMTP_VERB_UNKNOWN when none matches. */
SmtpVerb smtp_cmd_verb_from_string(const char *s, size_t n);
/* "7BIT", "8BITMIME", "BINARYMIME"; NULL for SMTP_BODY_UNSET or out of range. */
const char *smtp_cmd_body_to_string(SmtpBody b);
/* "FULL", "HDRS"; NULL for SMTP_RET_UNSET or out of range. */
const char *smtp_cmd_ret_to_string(SmtpRet r);

/* RFC 3461 §4 xtext: printable ASCII 33-126 except '+' and '=' stand for themselves, any other
 * byte is "+XX" (two upper-case hex digits). */
/* Whether the n bytes at p are valid xtext (empty input is valid). Lower-case hex digits are
 * accepted, as Postfix does. */
bool smtp_cmd_xtext_is_valid(const char *p, size_t n);
/* Decodes n bytes of xtext at p into ret, which must have room for n + 1 bytes and may be p
 * itself (decoding never grows). The result is NUL-terminated; it may itself contain NUL bytes
 * ("+00"), so its length is returned in *ret_len. Returns 0, -EBADMSG on bad xtext (a '+' not
 * followed by two hex digits, a byte outside 33-126, a bare '='); ret is then unspecified. */
int smtp_cmd_xtext_decode(const char *p, size_t n, char *ret, size_t *ret_len);
/* Appends the xtext encoding of n arbitrary bytes at p to out (upper-case hex). Returns 0,
 * -ENOBUFS (out's limit; out keeps a prefix), -ENOMEM. */
int smtp_cmd_xtext_encode(const char *p, size_t n, Buf *out);
