/* SPDX-License-Identifier: GPL-3.0-or-later */
/* ipc: the protocol between qmgr and the delivery agents (local, virtual, smtp, lmtp, pipe) on
 * an agent's stream socket (DESIGN.md, "IPC"). qmgr sends one delivery request -- which queue
 * file, where its content is, the envelope sender, transport, nexthop and a batch of recipients
 * -- and the agent answers one result line per recipient, then a final line. One request at a
 * time per connection; a connection serves many requests in sequence.
 *
 * Neither side trusts the other (STYLE.md §1.1): the request parser (agents) and the reply
 * parser (qmgr) are pure, incremental, bounded state machines fed with bytes split anywhere.
 * Every line, value and count has a named limit; anything malformed, oversized or out of
 * place is an error, and an error is final for the connection: the stream cannot be trusted
 * to be in step again, so the caller closes it (qmgr then defers the recipients without a
 * result, an agent simply exits). String fields are xtext (RFC 3461 §4), encoded with the
 * helpers of smtp_cmd.h. This module does no logging; the blocking reader and writer for
 * agents are the only functions here that do I/O.
 *
 * == Wire format, version 1 ==
 * Lines end in CRLF and nothing else (a bare CR or LF, or a NUL, is an error); a line holds at
 * most IPC_LINE_MAX bytes before its CRLF. A line is a keyword, then fields, each preceded by
 * exactly one space; no other space anywhere. Decimal numbers are digits without a sign and
 * without leading zeros ("0" itself is fine), at most UINT64_MAX unless said otherwise. String
 * fields are xtext: bytes '!'..'~' except '+' and '=' stand for themselves, every other byte is
 * "+" and two hex digits (written upper-case; lower-case is accepted). A decoded string holds
 * no NUL byte, is not empty, and is at most the named limit long, unless said otherwise. Any
 * other byte may occur (controls, CR, LF, 8-bit): this layer only carries values; an agent
 * checks an address before it puts it in an SMTP command, a header or a file name.
 *
 * The request stays small: what an agent needs only for headers or logs (client name and
 * address, HELO, protocol, SASL login, arrival time, attributes) it reads from the queue file,
 * which the request names.
 *
 * A request (qmgr -> agent) is these lines, in this order, every one required:
 *
 *   request 1 <queue> <id> <offset> <size>
 *           "1" is the protocol version (any other is an error). <queue> is the queue the
 *           file is in: "incoming", "active", "deferred" or "hold" (queue_name_to_string());
 *           <id> a queue ID (queue_id_is_valid()); <offset> and <size> the content's offset
 *           in the file and its size in bytes (queue.h), offset + size <= UINT64_MAX.
 *   sender[ <xtext>]        the envelope sender, <= IPC_ADDRESS_MAX; no field: the null
 *                           sender <>.
 *   envid[ <xtext>]         DSN ENVID (RFC 3461 §4.4), <= IPC_ENVID_MAX; no field: none.
 *   ret[ FULL|HDRS]         DSN RET (RFC 3461 §4.3); no field: not given.
 *   transport <xtext>       the transport name ("smtp", "local", "relay"), <= IPC_TRANSPORT_MAX.
 *   nexthop <xtext>         the nexthop as the resolver gives it ("example.com",
 *                           "[192.0.2.1]:587", "[mail.example.com]", the local $myhostname),
 *                           <= IPC_NEXTHOP_MAX. Postfix's "transport:nexthop" forms
 *                           ("smtp:[mail.example.com]:587", "local:$myhostname") travel as
 *                           these two lines, split at the first colon.
 *   flags[ <flag>...]       per-message flags, each at most once, in any order (written in
 *                           the order of IpcFlag): "dsn" (the client asked for DSN: pass
 *                           NOTIFY/ORCPT/ENVID/RET on), "8bitmime" (the body is 8BITMIME),
 *                           "smtputf8" (the message needs SMTPUTF8), "verify" (an address
 *                           probe: find out, do not deliver), "trace" (record every result,
 *                           sendmail -v).
 *   rcpt <index> <notify> <address> <original>[ <orcpt>]
 *                           one recipient, 1..IPC_RCPT_MAX of these lines, indexes distinct.
 *                           <index> is the recipient's position in the queue file
 *                           (QueueEnvelope.rcpts[]), 0..IPC_INDEX_MAX, so that qmgr can flip
 *                           its status byte; <notify> one lower-case hex digit, the NOTIFY
 *                           bits of queue.h (QueueNotify, queue_notify_is_valid()); then
 *                           xtext, each <= IPC_ADDRESS_MAX: the address to deliver to, the
 *                           original recipient (X-Original-To, Delivered-To, DSN; the address
 *                           itself when nothing rewrote it) and the DSN ORCPT
 *                           ("rfc822;user@example.com", as received) when there is one.
 *   end                     the end of the request.
 *
 * A reply (agent -> qmgr) is one result line for each recipient of the request, in any order,
 * then the final line:
 *
 *   result <index> <status> <dsn> <relay> <delay>[ <text>]
 *           <index> a recipient index of the request, each exactly once. <status> one of
 *           "sent", "expanded" (an alias or .forward took it), "deliverable" (verify),
 *           "deferred", "bounced", "undeliverable" (verify). <dsn> the RFC 3463 enhanced
 *           status code "class.subject.detail" (class 2, 4 or 5; subject and detail 1 to 3
 *           digits without leading zeros) whose class matches the status: 2 for sent,
 *           expanded and deliverable, 4 for deferred, 5 for bounced and undeliverable.
 *           <relay> xtext, <= IPC_RELAY_MAX: where it went ("local", "virtual",
 *           "mx.example.com[192.0.2.1]:25", "none"). <delay> the agent's time on this
 *           recipient in microseconds, or "-" when it did not measure. <text> xtext, at most
 *           IPC_TEXT_MAX bytes, the diagnostic ("delivered to maildir", the remote server's
 *           reply); no field: no text.
 *   end[ last]
 *           the end of the reply; every recipient of the request must have had its line.
 *           "last": the agent takes no further request on this connection (max_use), so
 *           qmgr closes it rather than keep it for the next delivery, where the request
 *           would meet an agent that has gone.
 *
 * Example:
 *   request 1 active 0B3kz9Qx1a2b3c4D 512 2048
 *   sender alice@example.org
 *   envid
 *   ret
 *   transport local
 *   nexthop mail.example.com
 *   flags 8bitmime
 *   rcpt 0 0 bob@mail.example.com bob@mail.example.com
 *   rcpt 2 6 carol@mail.example.com info@example.com rfc822;info@example.com
 *   end
 * answered by
 *   result 2 sent 2.0.0 local 1830 delivered+20to+20maildir
 *   result 0 deferred 4.2.2 local - mailbox+20full
 *   end
 *
 * Whatever does not fit this grammar -- an unknown keyword, a line out of order, a missing or
 * extra field, bad xtext, a value too long, a bad number, an unknown queue, status or flag, a
 * duplicate flag or index, a dsn whose class does not match its status, a result for an index
 * the request did not have or had already answered, an "end" before every recipient was
 * answered -- is -EBADMSG. A line longer than IPC_LINE_MAX is -EMSGSIZE; more than
 * IPC_RCPT_MAX recipients in a request is -E2BIG. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "macro.h"
#include "queue.h"

#define IPC_VERSION 1
/* Bytes of a line, CRLF not counted. Large enough for the longest line the builders can
 * write (checked at compile time in ipc.c). */
#define IPC_LINE_MAX 16384
/* Recipients in one request. Postfix's *_destination_recipient_limit defaults to 50. */
#define IPC_RCPT_MAX 1000
/* The highest recipient index. */
#define IPC_INDEX_MAX UINT32_C(0xfffffffe)
/* Decoded value lengths in bytes. Addresses as in queue files (QUEUE_VALUE_MAX). */
#define IPC_ADDRESS_MAX QUEUE_VALUE_MAX
#define IPC_ENVID_MAX 100               /* RFC 3461 §4.4 */
#define IPC_TRANSPORT_MAX 64
#define IPC_NEXTHOP_MAX 512
#define IPC_RELAY_MAX 512
#define IPC_TEXT_MAX 1024
/* "5.999.999" */
#define IPC_DSN_MAX 9
/* IpcResult.delay_usec when the agent did not measure. */
#define IPC_DELAY_NONE UINT64_MAX
/* ipc_request_read() and ipc_write() without a deadline. */
#define IPC_TIMEOUT_INFINITY UINT64_MAX

/* Per-message flags of a request. */
typedef enum IpcFlag {
        IPC_FLAG_DSN = 1u << 0,         /* the client gave DSN parameters: pass them on */
        IPC_FLAG_8BITMIME = 1u << 1,    /* BODY=8BITMIME */
        IPC_FLAG_SMTPUTF8 = 1u << 2,    /* SMTPUTF8 required */
        IPC_FLAG_VERIFY = 1u << 3,      /* address probe: no delivery */
        IPC_FLAG_TRACE = 1u << 4,       /* report every result (sendmail -v) */
        _IPC_FLAG_ALL = (1u << 5) - 1,
} IpcFlag;

/* The outcome for one recipient. */
typedef enum IpcStatus {
        IPC_STATUS_SENT,                /* delivered; dsn 2.x.x */
        IPC_STATUS_EXPANDED,            /* an alias or .forward took it; dsn 2.x.x */
        IPC_STATUS_DELIVERABLE,         /* verify: it would be delivered; dsn 2.x.x */
        IPC_STATUS_DEFERRED,            /* try again later; dsn 4.x.x */
        IPC_STATUS_BOUNCED,             /* failed for good; dsn 5.x.x */
        IPC_STATUS_UNDELIVERABLE,       /* verify: it would bounce; dsn 5.x.x */
        _IPC_STATUS_MAX,
        _IPC_STATUS_INVALID = -EINVAL,
} IpcStatus;

/* "sent", "expanded", ...; NULL when out of range. */
const char *ipc_status_to_string(IpcStatus s);
/* The inverse; _IPC_STATUS_INVALID for anything else. */
IpcStatus ipc_status_from_string(const char *s);
/* The class digit a status requires in its dsn: '2', '4' or '5'; 0 when out of range. */
char ipc_status_dsn_class(IpcStatus s);
/* "dsn", "8bitmime", ... for one IpcFlag bit; NULL for anything else. */
const char *ipc_flag_to_string(IpcFlag f);
/* Whether s is an RFC 3463 §2 enhanced status code: class 2, 4 or 5, then ".", 1 to 3 digits
 * without leading zeros, ".", 1 to 3 digits without leading zeros, and nothing else. */
bool ipc_dsn_is_valid(const char *s);

/* ---- Requests ---- */

typedef struct IpcRcpt {
        uint32_t index;                 /* position in the queue file */
        unsigned notify;                /* QueueNotify bits */
        char *address;                  /* owned, not empty */
        char *original;                 /* owned, not empty */
        char *orcpt;                    /* owned; NULL when none */
} IpcRcpt;

/* A request. Every string member is owned (malloc'ed, freed by ipc_request_free()); callers
 * building one may assign strdup()'ed strings to the scalar members directly (ipc_request_format()
 * checks them) and add recipients with ipc_request_add_rcpt() only (it manages the array). */
typedef struct IpcRequest {
        QueueName queue;                /* QUEUE_INCOMING, _ACTIVE, _DEFERRED or _HOLD */
        char id[QUEUE_ID_MAX + 1];      /* queue ID */
        uint64_t content_offset;
        uint64_t content_size;
        char *sender;                   /* "" for the null sender */
        char *envid;                    /* NULL: none */
        QueueRet ret;
        char *transport;
        char *nexthop;
        unsigned flags;                 /* IpcFlag bits */
        IpcRcpt *rcpts;
        size_t n_rcpts;
} IpcRequest;

/* An empty request: queue QUEUE_ACTIVE, everything else zero or NULL. Returns 0, -ENOMEM. */
int ipc_request_new(IpcRequest **ret);
/* Frees the request and everything it owns; accepts NULL, returns NULL. */
IpcRequest *ipc_request_free(IpcRequest *r);
DEFINE_PTR_CLEANUP(IpcRequest *, ipc_request_free);
/* Appends a recipient (the strings are copied; orcpt may be NULL). Returns 0, -EINVAL for an
 * index above IPC_INDEX_MAX, invalid notify bits, an empty or NULL address or original, a
 * value longer than IPC_ADDRESS_MAX or holding nothing, -EEXIST when the index is already in
 * the request, -E2BIG when it already holds IPC_RCPT_MAX recipients, -ENOMEM. */
int ipc_request_add_rcpt(IpcRequest *r, uint32_t index, unsigned notify, const char *address,
                         const char *original, const char *orcpt);
/* Whether two requests are equal in every member (recipients in the same order). */
bool ipc_request_equal(const IpcRequest *a, const IpcRequest *b);
/* Appends the wire form of r to out. Returns 0; -EINVAL when r cannot be sent: a queue other
 * than incoming/active/deferred/hold, a bad queue ID, offset + size overflowing, a NULL or too
 * long string, an empty transport or nexthop or envid, a bad ret, unknown flags, a bad
 * recipient (see ipc_request_add_rcpt()), duplicate indexes, no recipient; -E2BIG for more than
 * IPC_RCPT_MAX recipients; -ENOBUFS or -ENOMEM from out (which then holds a prefix). */
int ipc_request_format(const IpcRequest *r, Buf *out);

typedef struct IpcRequestParser IpcRequestParser;

/* Allocates a request parser. Returns 0, -ENOMEM. */
int ipc_request_parser_new(IpcRequestParser **ret);
/* Frees; accepts NULL, returns NULL. */
IpcRequestParser *ipc_request_parser_free(IpcRequestParser *p);
DEFINE_PTR_CLEANUP(IpcRequestParser *, ipc_request_parser_free);
/* Whether the parser holds bytes of an unfinished request. */
bool ipc_request_parser_pending(const IpcRequestParser *p);

/* Feeds n bytes at buf. *ret_used is always written: the bytes consumed, never more than n,
 * and at least one unless n is 0 or the parser has already failed. Returns
 *   1          a request is complete: *ret is a new request (owned by the caller); the bytes
 *              after its "end" CRLF are not consumed; the parser is ready for the next one;
 *   0          all n bytes were consumed and the request is not complete yet;
 *   -EBADMSG   anything malformed (see the format above); -EMSGSIZE a line longer than
 *              IPC_LINE_MAX; -E2BIG more than IPC_RCPT_MAX recipients; -ENOMEM.
 * An error is final: the parser returns it again on every later call (consuming nothing), and
 * the caller closes the connection. Never reads past buf + n. */
int ipc_request_feed(IpcRequestParser *p, const char *buf, size_t n, size_t *ret_used,
                     IpcRequest **ret);

/* The agent's blocking reader: reads from the stream socket fd (blocking or not) and feeds p
 * until a request is complete, waiting with poll() for at most timeout_usec in total
 * (CLOCK_MONOTONIC; IPC_TIMEOUT_INFINITY waits for ever), so that a peer trickling bytes cannot
 * hold the agent longer. Bytes read past the request stay in p for the next call. Returns
 *   1          with a new request in *ret;
 *   0          end of file before any byte of a request: qmgr closed the connection (the agent
 *              exits, its work done);
 *   -ETIMEDOUT the deadline passed (max_idle while idle, or a request too slow to arrive);
 *   -ECONNRESET end of file inside a request;
 *   the parser's errors; -errno from poll() or read() (-EBADF for a closed fd).
 * After -ETIMEDOUT the bytes of a partial request stay in p, and a later call goes on with
 * them. */
int ipc_request_read(IpcRequestParser *p, int fd, uint64_t timeout_usec, IpcRequest **ret);

/* ---- Replies ---- */

typedef struct IpcResult {
        uint32_t index;
        IpcStatus status;
        char dsn[IPC_DSN_MAX + 1];      /* "2.0.0" */
        char *relay;                    /* owned, not empty */
        uint64_t delay_usec;            /* IPC_DELAY_NONE when not measured */
        char *text;                     /* owned, "" when none */
} IpcResult;

/* The results of one reply, in the order they arrived. */
typedef struct IpcReply {
        IpcResult *results;
        size_t n_results;
        bool last;                      /* "end last": the agent's last reply on its connection */
} IpcReply;

/* Frees the reply and everything it owns; accepts NULL, returns NULL. */
IpcReply *ipc_reply_free(IpcReply *r);
DEFINE_PTR_CLEANUP(IpcReply *, ipc_reply_free);
/* The result for a recipient index, or NULL. Owned by r. */
const IpcResult *ipc_reply_find(const IpcReply *r, uint32_t index);
/* Whether two replies are equal in every member (results in the same order). */
bool ipc_reply_equal(const IpcReply *a, const IpcReply *b);

/* Appends one result line to out (what an agent sends per recipient). text may be NULL (no
 * text); a longer text than IPC_TEXT_MAX is cut to IPC_TEXT_MAX bytes, since an agent reports
 * whatever a remote server said and has nothing better to do with the excess. Returns 0,
 * -EINVAL for an index above IPC_INDEX_MAX, a status out of range, a dsn that is not valid or
 * whose class does not match the status, an empty, NULL or too long relay; -ENOBUFS or
 * -ENOMEM from out. */
int ipc_result_format(uint32_t index, IpcStatus status, const char *dsn, const char *relay,
                      uint64_t delay_usec, const char *text, Buf *out);
/* Appends the final line of a reply, "end last" when last. Returns 0, -ENOBUFS, -ENOMEM. */
int ipc_reply_end_format(Buf *out, bool last);
/* Appends every result of r and the final line (with r->last). Returns as ipc_result_format(),
 * and -EINVAL for duplicate indexes. */
int ipc_reply_format(const IpcReply *r, Buf *out);

typedef struct IpcReplyParser IpcReplyParser;

/* Allocates a parser for the reply to a request with the n recipient indexes at indexes
 * (copied). Returns 0, -EINVAL when n is 0 or
 * above IPC_RCPT_MAX, or an index is above IPC_INDEX_MAX or repeated, -ENOMEM. */
int ipc_reply_parser_new(const uint32_t *indexes, size_t n, IpcReplyParser **ret);
/* The same for the recipients of r. */
int ipc_reply_parser_new_for(const IpcRequest *r, IpcReplyParser **ret);
/* Frees; accepts NULL, returns NULL. */
IpcReplyParser *ipc_reply_parser_free(IpcReplyParser *p);
DEFINE_PTR_CLEANUP(IpcReplyParser *, ipc_reply_parser_free);

/* Feeds n bytes at buf, as ipc_request_feed() does. Returns
 *   1          the reply is complete: *ret is a new reply (owned by the caller) with exactly
 *              one result per recipient; the bytes after "end" CRLF are not consumed; the
 *              parser is done (every later call returns -EALREADY, consuming nothing);
 *   0          all n bytes were consumed and more are needed;
 *   -EBADMSG   anything malformed, a bad dsn, an unknown or repeated index, "end" before
 *              every recipient had a result; -EMSGSIZE a line longer than IPC_LINE_MAX;
 *              -ENOMEM.
 * An error is final (returned again by every later call). The results that arrived before it
 * stay available through ipc_reply_parser_take_partial(), so that qmgr applies them and
 * defers only the others. */
int ipc_reply_feed(IpcReplyParser *p, const char *buf, size_t n, size_t *ret_used,
                   IpcReply **ret);
/* Hands over the results received so far (possibly none; none after the parser returned 1)
 * as a new reply, after an error or at end of file. The parser is finished then: later feeds
 * return its error, or -EALREADY. Returns 0, -ENOMEM. */
int ipc_reply_parser_take_partial(IpcReplyParser *p, IpcReply **ret);

/* ---- Blocking output for agents ---- */

/* Writes the unconsumed bytes of b to fd, waiting with poll() for at most timeout_usec in
 * total (IPC_TIMEOUT_INFINITY: for ever), and consumes what was written. On a socket it uses
 * send() with MSG_NOSIGNAL | MSG_DONTWAIT: a vanished qmgr is -EPIPE rather than SIGPIPE, and
 * the deadline holds even on a blocking socket. Any other fd (a pipe) gets write(): it must be
 * non-blocking for the deadline to hold, and SIGPIPE is the caller's business. Returns 0 when
 * everything was written, -ETIMEDOUT (b keeps what is left), -errno from send(), write() or
 * poll(). */
int ipc_write(int fd, Buf *b, uint64_t timeout_usec);
/* The same against a deadline from ipc_deadline(), for an exchange bounded as a whole. */
int ipc_write_until(int fd, Buf *b, uint64_t deadline);
/* The CLOCK_MONOTONIC time, in microseconds, timeout_usec from now; IPC_TIMEOUT_INFINITY for
 * IPC_TIMEOUT_INFINITY or on overflow. */
uint64_t ipc_deadline(uint64_t timeout_usec);
/* Waits with poll() until fd is ready for events or deadline (IPC_TIMEOUT_INFINITY: none)
 * passes; polls at least once, so that a passed deadline still sees what is ready. Returns 0
 * when ready (or hung up: the I/O call reports it), -ETIMEDOUT, -EBADF, -errno. */
int ipc_fd_wait(int fd, short events, uint64_t deadline);
