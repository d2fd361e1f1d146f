/* SPDX-License-Identifier: GPL-3.0-or-later */
/* addr: e-mail addresses as SMTP carries them (RFC 5321 §4.1.2 Path, Mailbox, Local-part,
 * Domain, address-literal; RFC 6531 SMTPUTF8), parsed from untrusted bytes into an internal
 * form and formatted back into the external (wire) form. The input is never trusted: the
 * parsers read at most the n bytes given, reject NUL, CR, LF and every other control byte,
 * reject 8-bit bytes unless the caller says SMTPUTF8 is in effect (then the bytes must be
 * strict UTF-8: no overlong forms, no surrogates, nothing past U+10FFFF), and enforce the
 * limits of RFC 5321 §4.5.3.1 passed in an AddrLimits. Every function is pure: no I/O, no
 * logging, no globals. This is the only module that includes idn2.h.
 *
 * Internal versus external form (as Postfix names them): the internal local part is the
 * unquoted text, e.g. `john doe` for the external `"john doe"@example.com`, and `a"b` for
 * `"a\"b"@example.com`. addr_format() quotes the local part back exactly when it is not a
 * valid RFC 5321 Dot-string. Domains are stored as lower-case A-labels (RFC 5890), converted
 * with libidn2 (IDNA2008 with UTS #46 non-transitional mapping, NFC input); address literals
 * are stored as given, brackets included: `[192.0.2.1]`, `[IPv6:2001:db8::1]`.
 *
 * Relay control (what the rewrite library needs to resolve like Postfix does): a stripped
 * source route is reported in Addr.source_route (`<@ours:user@other>` parses as user@other,
 * which is what Postfix resolves it to); the routing operators left in a local part (`%`,
 * `!`, and `@`, which only quoting can put there) are reported by addr_local_routing(), and
 * addr_local_split_route() performs one step of Postfix's resolve on them
 * (resolve_dequoted_address, allow_percent_hack, swap_bangpath). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "macro.h"

/* RFC 5321 §4.5.3.1.1-3. */
#define ADDR_LOCAL_MAX 64
#define ADDR_DOMAIN_MAX 255
#define ADDR_PATH_MAX 256
/* A DNS label (RFC 1035 §2.3.4). */
#define ADDR_LABEL_MAX 63

typedef struct AddrLimits {
        size_t local_max;       /* octets of the internal (unquoted) local part */
        size_t domain_max;      /* octets of the domain in A-label form, or of the literal */
        size_t path_max;        /* octets of the path as received, '<' and '>' included */
} AddrLimits;

#define ADDR_LIMITS_RFC5321 \
        ((AddrLimits) { .local_max = ADDR_LOCAL_MAX, .domain_max = ADDR_DOMAIN_MAX, \
                        .path_max = ADDR_PATH_MAX })

typedef enum AddrFlags {
        ADDR_FLAG_NONE = 0,
        /* SMTPUTF8 is in effect (RFC 6531 §3.3): UTF-8 is accepted in local parts and
         * domains; U-labels are converted to A-labels. Without it any byte >= 0x80 is a
         * syntax error. */
        ADDR_SMTPUTF8 = 1 << 0,
        /* strict_rfc821_envelopes = no (Postfix's default): a path may come without the
         * angle brackets, e.g. "MAIL FROM:user@example.com"; it then ends at the first SP
         * or at the end of the input. */
        ADDR_ALLOW_NO_BRACKETS = 1 << 1,
        /* Accept the null path "<>" (a reverse-path; RFC 5321 §4.5.5). Without it "<>" is a
         * syntax error, as in RCPT TO. */
        ADDR_ALLOW_NULL = 1 << 2,
        /* Accept an unquoted local part with leading, trailing or consecutive dots
         * ("a..b@example.com"), which Postfix accepts and some senders use, and one
         * trailing dot after a domain name ("user@example.com."), which Postfix strips. The
         * internal form keeps the local part's dots (addr_format() then quotes it) and
         * drops the domain's trailing dot. */
        ADDR_LAX_DOTS = 1 << 3,
        /* A domain is required: "<postmaster>" and "<user>" are syntax errors. By default
         * a mailbox without "@domain" is accepted with Addr.domain == NULL, as Postfix's
         * smtpd does (RFC 5321 §4.1.1.3 requires "<Postmaster>" to be accepted). */
        ADDR_REQUIRE_DOMAIN = 1 << 4,
} AddrFlags;

/* An address in internal form. */
typedef struct Addr {
        char *local;            /* unquoted local part; "" for the null path; never NULL */
        char *domain;           /* lower-case A-labels, or "[literal]" as received; NULL
                                 * when the address has no domain (and for the null path) */
        bool null;              /* the null path "<>" */
        bool domain_literal;    /* domain is an address literal */
        bool source_route;      /* a source route "@a,@b:" was present and stripped */
        bool utf8;              /* the local part has non-ASCII bytes: needs SMTPUTF8 at
                                 * the next hop (a UTF-8 domain alone can be downgraded to
                                 * A-labels) */
} Addr;

/* Parses a reverse-path or forward-path as it follows "MAIL FROM:" or "RCPT TO:" (RFC 5321
 * §4.1.2 Path, Reverse-path, Forward-path): "<" [A-d-l ":"] Mailbox ">", or "<>" when
 * ADDR_ALLOW_NULL is given, or a bare Mailbox when ADDR_ALLOW_NO_BRACKETS is given. p need
 * not be NUL-terminated and must start at the path (the caller skips any white space after
 * the colon). lim may be NULL for ADDR_LIMITS_RFC5321.
 *
 * With ret_used NULL the path must fill all n bytes. With ret_used non-NULL, *ret_used is set
 * to the bytes consumed (through '>', or through the last byte of a bare mailbox) and the
 * byte after them, if any, must be SP (RFC 5321 §4.1.1.2: parameters follow after SP).
 *
 * Returns 0 with *ret (owned by the caller, free with addr_free()); -EBADMSG on bad syntax
 * (including missing brackets, trailing garbage, 8-bit bytes without ADDR_SMTPUTF8, invalid
 * UTF-8, control bytes, a bad IP literal, a domain IDNA rejects); -EMSGSIZE when the path,
 * the local part or the domain exceeds its limit; -ENOMEM. Nothing is written on error. */
int addr_parse_path(const char *p, size_t n, const AddrLimits *lim, AddrFlags flags, Addr **ret,
                    size_t *ret_used);

/* Parses a Mailbox without brackets (RFC 5321 §4.1.2: Local-part ["@" (Domain /
 * address-literal)]), which must fill all n bytes: e.g. a recipient from the command line or
 * a configuration file. No source route, no null address (n == 0 is -EBADMSG). The path
 * limit applies to n + 2. ADDR_ALLOW_NO_BRACKETS and ADDR_ALLOW_NULL are ignored. Returns
 * as addr_parse_path(). */
int addr_parse_mailbox(const char *s, size_t n, const AddrLimits *lim, AddrFlags flags,
                       Addr **ret);

/* Builds an address from an internal local part and a domain (NULL for none), both copied
 * without validation (trusted callers: rewriting, configuration). domain_literal is set when
 * domain starts with '['. Returns 0 or -ENOMEM. */
int addr_new(const char *local, const char *domain, Addr **ret);
/* Deep copy. Returns 0 or -ENOMEM. */
int addr_dup(const Addr *a, Addr **ret);
/* Frees a and its strings; accepts NULL; returns NULL. */
Addr *addr_free(Addr *a);
DEFINE_PTR_CLEANUP(Addr *, addr_free);

/* True when both are the null path, or have equal local parts (byte for byte) and equal
 * domains (both NULL, or byte for byte: domains are stored lower-cased). The flags
 * source_route and utf8 are not compared. */
bool addr_equal(const Addr *a, const Addr *b);

/* External form: the local part quoted when needed, "@", the domain; "" for the null path;
 * the local part alone when there is no domain. Returns 0 with a malloc'ed string, or
 * -ENOMEM. */
int addr_format(const Addr *a, char **ret);
/* The same in angle brackets, as MAIL FROM and RCPT TO carry it: "<...>", "<>". */
int addr_format_path(const Addr *a, char **ret);

/* True when the internal local part must be quoted on the wire: it is empty, or it is not a
 * Dot-string (RFC 5321 §4.1.2: atoms of atext or non-ASCII bytes, separated by single dots). */
bool addr_local_needs_quoting(const char *local);
/* External form of an internal local part: unchanged when no quoting is needed, else in
 * double quotes with '"' and '\' escaped by '\'. Returns 0 with a malloc'ed string, -ENOMEM. */
int addr_local_quote(const char *local, char **ret);

/* Hostname syntax (RFC 5321 §4.1.2 Domain, RFC 1035 §2.3.1): ASCII labels of 1-63 letters,
 * digits and hyphens, not starting or ending with a hyphen, separated by single dots, total
 * at most 255 octets; no trailing dot. Case-insensitive. NULL and "" are invalid. */
bool addr_domain_is_valid(const char *d);
/* A fully qualified domain as Postfix's reject_non_fqdn_* checks it: a valid address literal,
 * or a valid hostname with at least one dot. */
bool addr_domain_is_fqdn(const char *d);
/* "[IPv4]" or "[IPv6:addr]" (tag case-insensitive), checked with inet_pton() (RFC 5321
 * §4.1.3). The general form "[tag:content]" is rejected: nobody routes it. */
bool addr_domain_literal_is_valid(const char *d);

/* Converts a domain (UTF-8, possibly with U-labels; NUL-terminated) to lower-case A-labels
 * and checks the result with addr_domain_is_valid(). ASCII input is lower-cased only; other
 * input goes through idn2_lookup_u8() with IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL (IDNA2008
 * with the UTS #46 non-transitional mapping, so "ß" stays "ß" and upper case maps to lower).
 * Returns 0 with a malloc'ed string, -EBADMSG when the input is not valid UTF-8, IDNA rejects
 * it or the result is not a valid hostname, -EMSGSIZE when the result would be longer than
 * 255 octets, -ENOMEM. */
int addr_domain_to_ascii(const char *d, char **ret);
/* Converts A-labels back to U-labels for display (idn2_to_unicode_8z8z()). Input without an
 * "xn--" label is copied lower-cased. Returns 0 with a malloc'ed UTF-8 string, -EBADMSG when
 * a label does not decode, -ENOMEM. */
int addr_domain_to_unicode(const char *d, char **ret);

/* Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing above U+10FFFF, no
 * truncated sequence. Does not look at control characters. */
bool addr_utf8_is_valid(const char *p, size_t n);

/* Splits a local part at the first recipient_delimiter character (Postfix >= 2.11: any of
 * the characters in delims). Not split: delims empty or NULL; no delimiter in local; a
 * delimiter as the first byte (the base would be empty); and, when owner_request_special is
 * true (Postfix's owner_request_special, default yes) and delims contains '-', local parts
 * starting with "owner-" or longer than and ending in "-request" (case-insensitive).
 * Returns 1 when split: *ret_base is the part before the delimiter, *ret_ext the rest
 * starting WITH the delimiter (so "user+foo" gives "user" and "+foo": ext + 1 is the bare
 * extension, and the original delimiter survives for propagate_unmatched_extensions).
 * Returns 0 when not split: *ret_base is a copy of local, *ret_ext NULL. -ENOMEM.
 * Either output pointer may be NULL. */
int addr_split_extension(const char *local, const char *delims, bool owner_request_special,
                         char **ret_base, char **ret_ext);

/* Routing operators in an internal local part: the relay tricks "user%other@ours",
 * "other!user@ours" and "\"user@other\"@ours". */
typedef enum AddrRouting {
        ADDR_ROUTING_NONE = 0,
        ADDR_ROUTING_AT = 1 << 0,       /* '@' (quoted): resolve_dequoted_address */
        ADDR_ROUTING_PERCENT = 1 << 1,  /* '%': allow_percent_hack */
        ADDR_ROUTING_BANG = 1 << 2,     /* '!': swap_bangpath */
} AddrRouting;

/* Which routing operators local contains. */
AddrRouting addr_local_routing(const char *local);

/* One step of Postfix's resolve on an internal local part, for the operators in `which`
 * (the caller passes those its main.cf enables), tried in this order:
 *   ADDR_ROUTING_AT       "user@other" -> user "user", domain "other" (rightmost '@')
 *   ADDR_ROUTING_BANG     "other!user" -> user "user", domain "other" (leftmost '!';
 *                         "a!b!user" gives user "b!user", domain "a")
 *   ADDR_ROUTING_PERCENT  "user%other" -> user "user", domain "other" (rightmost '%')
 * Postfix applies this only when the address's domain is one of its own (or absent), and
 * repeats it on the result; both decisions belong to the caller. A split whose user or
 * domain part would be empty is not done. Returns 1 with *ret_local and *ret_domain
 * (malloc'ed; the domain as written, not validated or lower-cased), 0 when no operator in
 * `which` applies (outputs untouched), -ENOMEM. */
int addr_local_split_route(const char *local, AddrRouting which, char **ret_local,
                           char **ret_domain);
