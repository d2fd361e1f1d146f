/* SPDX-License-Identifier: GPL-3.0-or-later */
/* rcpt_extract: the recipients of "sendmail -t", taken from a message's header section as
 * Postfix's cleanup takes them: the addresses of To:, Cc: and Bcc:, or, when the message has
 * any Resent- header, of Resent-To:, Resent-Cc: and Resent-Bcc: only (RFC 5322 §3.6.6: a
 * resent message goes to the resent recipients). Duplicates are dropped, the first spelling
 * kept. The header text is untrusted (any local user's message); addresses are read with
 * header.h's address-list tokenizer, so groups, comments, quoted local parts and display names
 * are handled and anything that is not an address is skipped. Each logical header is bounded
 * (the excess is ignored, as cleanup discards it), and so is the number of recipients. Pure: no
 * I/O, no logging. The Bcc: header itself is removed by cleanup (message_drop_headers). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "macro.h"

#define RCPT_EXTRACT_HEADER_MAX_DEFAULT 102400U   /* header_size_limit */
#define RCPT_EXTRACT_RCPT_MAX_DEFAULT 10000U

typedef struct RcptExtract RcptExtract;

/* header_max bounds one logical header in bytes (0: the default), rcpt_max the recipients
 * kept (0: the default). Returns 0 with *ret, -ENOMEM. */
int rcpt_extract_new(size_t header_max, size_t rcpt_max, RcptExtract **ret);
RcptExtract *rcpt_extract_free(RcptExtract *x);
DEFINE_PTR_CLEANUP(RcptExtract *, rcpt_extract_free);

/* Feeds a piece of one header-section line: n bytes at p, without the LF; partial says that
 * the line goes on in the next piece (smtp_data.h's SMTP_DATA_PIECE_PARTIAL). A line that
 * begins with white space continues the previous header. Only feed header lines (the caller
 * knows where the body begins); after rcpt_extract_finish() nothing is taken. Returns 0,
 * -E2BIG once more than rcpt_max recipients were found (sticky), -ENOMEM. */
int rcpt_extract_feed(RcptExtract *x, const char *p, size_t n, bool partial);

/* Ends the header section (processes the last header). Idempotent. Returns 0 or the sticky
 * error. */
int rcpt_extract_finish(RcptExtract *x);

/* The recipients in internal form (local part unquoted), in order of appearance, after
 * rcpt_extract_finish(): a NULL-terminated list owned by x (never NULL; empty when none), the
 * count in *ret_n (optional). */
char *const *rcpt_extract_get(const RcptExtract *x, size_t *ret_n);

/* Convenience for a whole message in memory: splits (p, n) into lines at LF (a CR before the
 * LF is dropped), feeds the header section (up to the first empty line or the first line that
 * neither starts a header field nor continues one) and returns a malloc'd NULL-terminated
 * copy of the result in *ret (free with strv_free()). Returns the count, -E2BIG, -ENOMEM. */
int rcpt_extract_message(const char *p, size_t n, size_t header_max, size_t rcpt_max,
                         char ***ret);
