/* SPDX-License-Identifier: GPL-3.0-or-later */
/* smtp_reply: the pure parser of what a remote SMTP or LMTP server answers (RFC 5321 §4.2): a
 * reply is one or more lines "CODE-text" ending with a line "CODE text" (or just "CODE"), every
 * line with the same three-digit code, 2xx to 5xx. The lines come from buf_getline() on the
 * session's input (CRLF removed; it enforces the line limit and rejects bare CR and LF); this
 * parser joins them into one SmtpReply, with the RFC 3463 enhanced status code of the first line
 * when there is one (RFC 2034 §3), and bounds how many lines and bytes a reply may hold. The
 * server is untrusted: anything not in this grammar is an error, and texts are kept as received
 * (callers sanitise them before logging). Also here: the EHLO/LHLO keyword parser (RFC 5321
 * §4.1.1.1) that turns a 250 reply into the capabilities the client uses. No I/O, no logging. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "macro.h"

/* Lines in one reply; an EHLO reply of a real server has about a dozen. */
#define SMTP_REPLY_LINES_MAX 100
/* Bytes of the joined text of one reply. */
#define SMTP_REPLY_TEXT_MAX 8192
/* One reply line as buf_getline() may hand it over (CRLF not counted). */
#define SMTP_REPLY_LINE_MAX 2048
/* "5.999.999" */
#define SMTP_REPLY_DSN_MAX 9

typedef struct SmtpReply {
        unsigned code;                          /* 200..599 */
        char dsn[SMTP_REPLY_DSN_MAX + 1];       /* the first line's enhanced code, "" if none;
                                                 * its class always equals code / 100 */
        char *text;                             /* owned: the lines' texts after "CODE-" or
                                                 * "CODE ", each line's leading enhanced code
                                                 * removed, joined with '\n'; "" when empty */
        size_t n_lines;
} SmtpReply;

/* Frees the reply and its text; accepts NULL, returns NULL. */
SmtpReply *smtp_reply_free(SmtpReply *r);
DEFINE_PTR_CLEANUP(SmtpReply *, smtp_reply_free);

typedef struct SmtpReplyParser {
        SmtpReply *partial;                     /* owned; NULL between replies */
} SmtpReplyParser;

#define SMTP_REPLY_PARSER_INIT ((SmtpReplyParser) {})
/* Frees a reply in progress; the parser can be used again. */
void smtp_reply_parser_done(SmtpReplyParser *p);

/* Feeds one line of n bytes (without its CRLF; need not be NUL-terminated). Returns
 *   1          the line ended a reply: *ret is a new reply (owned by the caller), the parser is
 *              ready for the next one;
 *   0          a continuation line was taken; feed the next line;
 *   -EBADMSG   the line is not "DDD", "DDD text" or "DDD-text" with a code 200..599, or its code
 *              differs from the previous lines', or it holds a NUL byte;
 *   -E2BIG     more than SMTP_REPLY_LINES_MAX lines; -EMSGSIZE the text grew past
 *              SMTP_REPLY_TEXT_MAX or a line is longer than SMTP_REPLY_LINE_MAX; -ENOMEM.
 * After an error the reply in progress is dropped (the caller ends the session: the stream
 * cannot be trusted to be in step again). */
int smtp_reply_feed_line(SmtpReplyParser *p, const char *line, size_t n, SmtpReply **ret);

/* The dsn for a reply: its enhanced code when it has one, else "C.0.0" for code class C. Writes
 * SMTP_REPLY_DSN_MAX + 1 bytes at most into ret. */
void smtp_reply_dsn(const SmtpReply *r, char ret[static SMTP_REPLY_DSN_MAX + 1]);

/* Formats "CODE[ DSN] text text..." (lines joined with a space) into buf of size bytes, cut to
 * fit and always NUL-terminated; bytes outside printable ASCII become '?'. Returns buf. */
char *smtp_reply_format(const SmtpReply *r, char *buf, size_t size);

/* What an EHLO (LHLO) reply offers (RFC 5321 §4.1.1.1, RFC 2920, RFC 1870, RFC 6152, RFC 6531,
 * RFC 3461, RFC 3207, RFC 2034). */
typedef enum SmtpCap {
        SMTP_CAP_PIPELINING = 1u << 0,
        SMTP_CAP_SIZE = 1u << 1,
        SMTP_CAP_8BITMIME = 1u << 2,
        SMTP_CAP_SMTPUTF8 = 1u << 3,
        SMTP_CAP_DSN = 1u << 4,
        SMTP_CAP_STARTTLS = 1u << 5,
        SMTP_CAP_ENHANCEDSTATUSCODES = 1u << 6,
} SmtpCap;

typedef struct SmtpCaps {
        unsigned caps;                          /* SmtpCap bits */
        uint64_t size_max;                      /* SIZE's argument; 0 when none or no limit */
} SmtpCaps;

/* Parses the keywords of a 2xx EHLO reply: every line but the first (the server's greeting
 * name) is "KEYWORD[ params]", matched case-insensitively; unknown keywords and a bad SIZE
 * argument are ignored (a SIZE without a usable number imposes no limit), as RFC 5321 §4.1.1.1
 * lets a client ignore what it does not understand. Returns 0, -EINVAL when r is not 2xx. */
int smtp_ehlo_parse(const SmtpReply *r, SmtpCaps *ret);
