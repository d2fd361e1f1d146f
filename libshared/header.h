/* SPDX-License-Identifier: GPL-3.0-or-later */
/* header: the RFC 5322 message header pieces cleanup needs, as pure functions over untrusted
 * bytes (a message's header text as a client sent it): whether a line starts a header field
 * (RFC 5322 §2.2 and §3.6.8, with the obsolete white space before the colon of §4.5 that
 * Postfix still takes), the case-insensitive lookup of the header names cleanup treats
 * specially (Postfix's header classes: address headers of the sender and recipient kind,
 * Resent-*, Received, Message-ID, Date, and the ones message_drop_headers names), and an
 * address-list rewriter (RFC 5322 §3.4 address-list, group, angle-addr, addr-spec, with CFWS,
 * quoted strings, domain literals and the obsolete route of §4.4) that hands every address to a
 * callback in internal form and reproduces everything else byte for byte.
 *
 * The rewriter never fixes anything: an element of the list it cannot read as an address
 * (unbalanced quotes, comments or brackets, stray specials, control bytes, a display name with
 * no angle-addr) is copied unchanged, and so is the rest of a header after
 * header_address_token_limit tokens. No I/O, no logging, no globals. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "macro.h"

/* Postfix's header_address_token_limit: tokens of one header the rewriter looks at. */
#define HEADER_ADDRESS_TOKEN_LIMIT 10240

/* The headers cleanup treats specially, with the names in Postfix's preferred capitalisation. */
typedef enum HeaderType {
        HEADER_APPARENTLY_TO,
        HEADER_BCC,
        HEADER_CC,
        HEADER_CONTENT_LENGTH,
        HEADER_DATE,
        HEADER_DELIVERED_TO,
        HEADER_DISPOSITION_NOTIFICATION_TO,
        HEADER_ERRORS_TO,
        HEADER_FROM,
        HEADER_MAIL_FOLLOWUP_TO,
        HEADER_MESSAGE_ID,
        HEADER_RECEIVED,
        HEADER_REPLY_TO,
        HEADER_RESENT_BCC,
        HEADER_RESENT_CC,
        HEADER_RESENT_DATE,
        HEADER_RESENT_FROM,
        HEADER_RESENT_MESSAGE_ID,
        HEADER_RESENT_REPLY_TO,
        HEADER_RESENT_SENDER,
        HEADER_RESENT_TO,
        HEADER_RETURN_PATH,
        HEADER_RETURN_RECEIPT_TO,
        HEADER_SENDER,
        HEADER_TO,
        _HEADER_MAX,
        _HEADER_INVALID = -EINVAL,
} HeaderType;

typedef enum HeaderFlags {
        HEADER_FLAG_SENDER = 1u << 0,           /* holds sender-kind addresses (From, Reply-To) */
        HEADER_FLAG_RECIPIENT = 1u << 1,        /* holds recipient-kind addresses (To, Cc) */
        HEADER_FLAG_RESENT = 1u << 2,           /* a Resent-* header (RFC 5322 §3.6.6) */
} HeaderFlags;

/* When (p, n) begins a header field, i.e. 1 or more printable ASCII bytes other than ':'
 * (RFC 5322 §3.6.8 ftext), optional SP/HTAB (obsolete syntax), then ':', returns true with the
 * name's length in *ret_name_len and the offset just after the colon in *ret_value_offset
 * (either may be NULL). Returns false otherwise, and for a line that starts with white space
 * (a continuation line, RFC 5322 §2.2.3). */
bool header_is_field_start(const char *p, size_t n, size_t *ret_name_len,
                           size_t *ret_value_offset);

/* The type of a header name (n bytes at name, no colon, compared case-insensitively), or
 * _HEADER_INVALID for a name this module does not classify. */
HeaderType header_type_from_name(const char *name, size_t n);
/* "From", "Resent-Message-Id", ...; NULL when out of range. */
const char *header_type_to_string(HeaderType t) _const_;
/* HeaderFlags of a type; 0 when out of range. */
unsigned header_type_flags(HeaderType t) _const_;

/* Called for every address found: address is its internal form (local part unquoted, with
 * comments and folding white space removed, "@" and the domain when it has one; never the
 * null address "<>"), NUL-terminated, valid during the call. Return 0 with *ret NULL to keep
 * the address as written, 0 with *ret a malloc'd internal form to replace it (the rewriter
 * frees it; a result equal to the input keeps the original bytes), or a negative errno to stop
 * the rewrite. */
typedef int (*HeaderAddressFn)(void *userdata, const char *address, char **ret);

/* Reads the value of an address header (p, n: the text after the colon, continuation lines
 * included with their line ends) as an RFC 5322 address-list and appends it to out with every
 * address the callback replaced in external form (local part quoted when it is not a
 * dot-atom); all other bytes are copied unchanged, so an identity callback reproduces the
 * input. Elements that are not addresses, and everything after token_limit tokens (0: no
 * limit), are copied unchanged. Returns the number of addresses replaced, the callback's
 * error, -ENOBUFS when out is full, -ENOMEM. On error out holds a partial result. */
int header_address_rewrite(const char *p, size_t n, size_t token_limit, HeaderAddressFn fn,
                           void *userdata, Buf *out);

/* The external form of an internal address (split at the last '@'; the local part quoted with
 * addr_local_quote() when needed), appended to out. Returns 0, -ENOBUFS, -ENOMEM. */
int header_address_externalize(const char *address, Buf *out);
