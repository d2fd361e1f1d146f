/* SPDX-License-Identifier: GPL-3.0-or-later */
/* pickup_proto: the small line protocol between sendmail/mailq (any local user, untrusted) and
 * the pickup service on the public socket $RUNTIME_DIRECTORY/pickup (DESIGN.md, Security: no
 * set-uid program; pickup learns the user from SO_PEERCRED, never from this protocol). This
 * module holds the server's incremental request parser (pure: no I/O, no logging), the
 * client's reply parser, and the xtext encoder both sides use.
 *
 * == Requests (client to pickup) ==
 * A request line is a keyword, optionally one space and one field, and an LF; at most
 * PICKUP_LINE_MAX bytes with the LF. Fields marked xtext are RFC 3461 §4 xtext (bytes '!'..'~'
 * except '+' and '=' stand for themselves, other bytes are "+" and two upper-case hex digits);
 * decoded they hold no NUL and at most PICKUP_VALUE_MAX bytes. A connection carries exactly one
 * request, one of:
 *
 *   list                      the mail queue in mailq's format (any user)
 *   flush                     ask qmgr to retry the deferred queue (postqueue -f; any user)
 *   submit                    a message, followed by the envelope lines, in any order:
 *     sender[ <xtext>]          sendmail -f; without a field the null sender; at most once.
 *                               Absent: the user's own address.
 *     fullname <xtext>          sendmail -F; at most once
 *     rcpt <xtext>[ <hex>]      a recipient; the hex digit is the NOTIFY bits (queue.h)
 *     extract                   sendmail -t: recipients from the headers too
 *     ret FULL|HDRS             DSN RET; at most once
 *     envid <xtext>             DSN ENVID (sendmail -V); at most once
 *     body 7BIT|8BITMIME        sendmail -B; at most once
 *   then the content in one or more chunks:
 *     data <decimal>            followed by exactly that many bytes (1..PICKUP_CHUNK_MAX): the
 *                               message with LF line ends, no dot-stuffing
 *   and finally:
 *     end                       the content is complete; pickup answers
 *
 * == Replies (pickup to client) ==
 *   ok <text>                 success: the queue ID for submit, "" otherwise
 *   error <exit> <text>       failure: a sysexits.h status and a one-line reason
 *   data <decimal>            followed by that many bytes of output (list), then ok or error
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "macro.h"

#define PICKUP_LINE_MAX 4096
#define PICKUP_VALUE_MAX 1024
#define PICKUP_CHUNK_MAX (1u << 20)

typedef enum PickupVerb {
        PICKUP_LIST,
        PICKUP_FLUSH,
        PICKUP_SUBMIT,
        PICKUP_SENDER,
        PICKUP_FULLNAME,
        PICKUP_RCPT,
        PICKUP_EXTRACT,
        PICKUP_RET,
        PICKUP_ENVID,
        PICKUP_BODY,
        PICKUP_DATA,            /* an event carries content bytes, not the "data" line */
        PICKUP_END,
        _PICKUP_VERB_MAX,
        _PICKUP_VERB_INVALID = -EINVAL,
} PickupVerb;

/* One parsed request element. value/n point into the parser (decoded xtext, NUL-terminated)
 * or, for PICKUP_DATA, into the caller's input; valid until the next pickup_parser_feed(). */
typedef struct PickupEvent {
        PickupVerb verb;
        const char *value;      /* NULL when the line had no field */
        size_t n;               /* bytes at value */
        unsigned notify;        /* PICKUP_RCPT: NOTIFY bits (0 when not given) */
} PickupEvent;

typedef struct PickupParser PickupParser;

/* Returns 0 with a new parser, -ENOMEM. */
int pickup_parser_new(PickupParser **ret);
PickupParser *pickup_parser_free(PickupParser *p);
DEFINE_PTR_CLEANUP(PickupParser *, pickup_parser_free);

/* Feeds n bytes. *ret_used is always written (bytes consumed, <= n). Returns 1 with *ret filled
 * when an element is complete (the rest stays unconsumed), 0 when all n bytes were consumed and
 * more are needed. Errors are final (every later call returns the same error and consumes
 * nothing): -EBADMSG for a malformed line (unknown keyword, bad field, bad xtext, NUL, a bad
 * chunk size), -EMSGSIZE for a line longer than PICKUP_LINE_MAX or a value longer than
 * PICKUP_VALUE_MAX, -EPROTO for a line out of sequence (an envelope line outside submit, a
 * second submit, data before submit, a repeated once-only line, anything after end, list or
 * flush). Never reads past p + n. */
int pickup_parser_feed(PickupParser *p, const char *in, size_t n, size_t *ret_used,
                       PickupEvent *ret);
/* True when the request is complete (after end, list or flush). */
bool pickup_parser_done(const PickupParser *p);

/* The keyword of a verb ("list", ...); NULL when out of range. */
const char *pickup_verb_to_string(PickupVerb v) _const_;

/* Appends "keyword[ xtext(value)]\n" to out (value NULL: no field; "" gives "keyword \n"...
 * never: an empty value is sent without a field, which only "sender" accepts). Returns 0,
 * -ENOBUFS, -ENOMEM. */
int pickup_line_append(Buf *out, const char *keyword, const char *value);
/* Appends the xtext form of s. Returns 0, -ENOBUFS, -ENOMEM. */
int pickup_xtext_append(Buf *out, const char *s);

/* A reply line (without its LF) as the client reads it. */
typedef struct PickupReply {
        enum { PICKUP_REPLY_OK, PICKUP_REPLY_ERROR, PICKUP_REPLY_DATA } type;
        int exit_status;        /* ERROR: the sysexits.h status */
        uint64_t size;          /* DATA: the bytes that follow */
        const char *text;       /* OK, ERROR: points into line */
} PickupReply;

/* Parses a reply line (line, n; no LF). Pure. Returns 0, -EBADMSG. */
int pickup_reply_parse(const char *line, size_t n, PickupReply *ret);

/* Sends all n bytes on the (blocking) pickup socket fd, either side of it, without SIGPIPE;
 * retries on EINTR. Returns 0 or -errno (-EPIPE when the peer is gone). */
int pickup_send(int fd, const void *p, size_t n);
