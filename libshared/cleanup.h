/* SPDX-License-Identifier: GPL-3.0-or-later */
/* cleanup: the library smtpd and pickup call in process to turn a received message into a queue
 * file (DESIGN.md, "Message flow"), doing what Postfix's cleanup(8) daemon does with it:
 *
 *   - canonicalises the envelope sender and recipients, and the addresses in sender and
 *     recipient headers (From, Sender, Reply-To, To, Cc, Bcc, Resent-*, Errors-To,
 *     Return-Receipt-To, ...; header.h's classes) when rewrite_headers allows it, through the
 *     canonical callback (rewrite_canonical(): append_at_myorigin, append_dot_mydomain, ...);
 *   - writes the Received: header in Postfix's forms, ahead of the message;
 *   - assembles each logical header (continuation lines, bounded by header_size_limit; the excess
 *     is discarded as Postfix does), counts Received: headers against hopcount_limit, removes the
 *     headers message_drop_headers names, notes Message-ID/Date/From/To/Cc/Resent-* presence;
 *   - adds the missing (Resent-)Message-Id:, (Resent-)Date:, (Resent-)From: and, when
 *     undisclosed_recipients_header is set, the To: header at the end of the header section,
 *     for local submissions or with always_add_missing_headers;
 *   - writes everything through queue.h's writer; the caller finishes the file (fsync) and the
 *     directory sync (group commit) before it answers 250.
 *
 * The content is untrusted (a client's DATA): it arrives in the bounded pieces smtp_data.h
 * produces, and every header is held in a buffer of at most header_size_limit bytes. The
 * settings are trusted. Where later issues plug in: canonical_maps, masquerade_domains and
 * virtual_alias_maps belong in the canonical callback chain and in header_flush() next to the
 * address rewrite; header_checks in header_flush() before the header is written; body_checks
 * in cleanup_emit()'s body branch. Logs at debug level only. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "macro.h"
#include "queue.h"

#define CLEANUP_HOPCOUNT_LIMIT_DEFAULT 50U
#define CLEANUP_HEADER_SIZE_LIMIT_DEFAULT 102400U
#define CLEANUP_DROP_HEADERS_DEFAULT "bcc, content-length, resent-bcc, return-path"

/* Rewrites an internal-form address (rewrite_canonical()'s contract): 0 with a malloc'd
 * *ret, -EBADMSG for an address it cannot rewrite (cleanup keeps it as it is), other negative
 * errno values abort the message. */
typedef int (*CleanupCanonicalFn)(void *userdata, const char *address, char **ret);

/* header_from_format. */
typedef enum CleanupFromFormat {
        CLEANUP_FROM_STANDARD,          /* From: Full Name <user@domain> (Postfix >= 3.3) */
        CLEANUP_FROM_OBSOLETE,          /* From: user@domain (Full Name) */
        _CLEANUP_FROM_MAX,
        _CLEANUP_FROM_INVALID = -EINVAL,
} CleanupFromFormat;

/* Per service (or per client, for rewrite_headers and add_missing_headers). Strings are
 * borrowed for the duration of cleanup_new() and copied. A zero member means Postfix's
 * default wherever it says so. */
typedef struct CleanupSettings {
        const char *myhostname;         /* Received "by", Message-ID domain; required */
        const char *myorigin;           /* documents the canonical callback's domain */
        const char *mail_name;          /* "(tern)" in Received; NULL: "tern" */
        unsigned hopcount_limit;        /* Received: headers allowed; 0: Postfix's 50 */
        bool rewrite_headers;           /* local_header_rewrite_clients said yes for this client */
        bool add_missing_headers;       /* local submission or always_add_missing_headers */
        CleanupCanonicalFn canonical;   /* rewrite_canonical() in practice; NULL: none */
        void *canonical_userdata;
        /* The rest defaults to Postfix's behaviour when left zero. */
        size_t header_size_limit;       /* 0: 102400 */
        size_t header_address_token_limit;      /* 0: 10240 */
        CleanupFromFormat header_from_format;   /* 0: standard */
        const char *undisclosed_recipients_header;      /* NULL or "": add no To: */
        const char *message_drop_headers;       /* NULL: CLEANUP_DROP_HEADERS_DEFAULT */
        bool tls_received_header;       /* smtpd_tls_received_header */
        bool sasl_authenticated_header; /* smtpd_sasl_authenticated_header */
} CleanupSettings;

/* Reads from c: myhostname, myorigin, mail_name, hopcount_limit, header_size_limit,
 * header_address_token_limit, header_from_format, undisclosed_recipients_header,
 * message_drop_headers, smtpd_tls_received_header, smtpd_sasl_authenticated_header, and
 * always_add_missing_headers into add_missing_headers (the caller ORs in "local submission").
 * rewrite_headers, canonical and canonical_userdata are left zero: they depend on the client
 * and on the rewrite library. Strings point into c (valid until c changes or is freed).
 * Returns 0, or a negative errno with *ret_error (malloc'd, optional) naming the parameter:
 * -EINVAL for a bad value, the typed getters' errors (-EBADMSG, -ERANGE, ...). */
int cleanup_settings_load(Config *c, CleanupSettings *ret, char **ret_error);

/* main.cf spelling of header_from_format; _CLEANUP_FROM_INVALID otherwise. */
CleanupFromFormat cleanup_from_format_from_string(const char *s);
const char *cleanup_from_format_to_string(CleanupFromFormat f);

/* Per message, not stored in the envelope. */
typedef struct CleanupExtra {
        const char *tls;                /* "TLSv1.3 with cipher X (256/256 bits)" or NULL */
        const char *tls_client;         /* the second TLS comment, e.g. Client CN "a", Issuer
                                         * "b" (verified OK); NULL: No client certificate
                                         * requested */
        long local_uid;                 /* >= 0: local submission by this uid; -1: network */
        const char *local_full_name;    /* sendmail -F, NULL */
} CleanupExtra;

typedef struct Cleanup Cleanup;

/* Canonicalises env's sender and recipients in place (settings->canonical; an address the
 * callback answers -EBADMSG for stays as it is), sets env->arrival_usec to now when it is 0,
 * creates the queue file through queue_writer_new(incoming_fd, env, size_limit) and writes the
 * Received: header:
 *   network:  Received: from HELO (NAME [ADDR])
 *                     (using TLS)  (client certificate)      if tls_received_header and x->tls
 *                     (Authenticated sender: USER)  if sasl_authenticated_header and sasl_user
 *                     by MYHOSTNAME (MAIL_NAME) with PROTOCOL id ID
 *                     for <RCPT>; DATE                   (one recipient; else "id ID;" DATE)
 *   local:    Received: by MYHOSTNAME (MAIL_NAME, from userid UID)
 *                     id ID; DATE                        (x->local_uid >= 0)
 *   other:    Received: by MYHOSTNAME (MAIL_NAME)
 *                     id ID; DATE                        (no client address, no uid)
 * HELO falls back to NAME, NAME to "unknown", IPv6 addresses get the "IPv6:" tag, RCPT is the
 * recipient as given before canonicalisation, DATE is the arrival time in Postfix's form
 * ("Tue,  5 Mar 2024 10:00:00 +0100 (CET)", local time, English names). x may be NULL (a
 * network message without TLS). Returns 0 with *ret, -EINVAL for missing settings or an env
 * the queue cannot carry, -ENOMEM, the callback's errors, or the writer's (-ENOSPC, -EDQUOT,
 * ...; the caller answers 452 4.3.1). env must outlive the Cleanup. */
int cleanup_new(const CleanupSettings *s, int incoming_fd, QueueEnvelope *env,
                const CleanupExtra *x, uint64_t size_limit, Cleanup **ret);
/* Frees; an unfinished file is unlinked. Accepts NULL, returns NULL. */
Cleanup *cleanup_free(Cleanup *c);
DEFINE_PTR_CLEANUP(Cleanup *, cleanup_free);
/* The queue ID, valid while c lives. */
const char *cleanup_queue_id(const Cleanup *c);

/* The SmtpDataEmit callback of smtp_data.h (userdata is the Cleanup): takes the content in
 * pieces with SMTP_DATA_PIECE_* flags. Header pieces are assembled into logical headers
 * (written when the next header or the body begins); body pieces are written as they come.
 * The first body piece, when it is not an empty line and begins with white space, gets an
 * empty line before it so that it cannot continue a header. Returns 0, -EPROTO after
 * cleanup_end_content(), the callback's or the writer's sticky error (-EMSGSIZE past
 * size_limit, -ENOSPC, ...). Too many hops are reported by cleanup_end_content(). */
int cleanup_emit(void *userdata, const char *p, size_t n, unsigned flags);

/* After the content: flushes a pending header, adds the missing headers (when the header
 * section did not end before) and ends an unterminated last line. Returns 0, -ELOOP when the
 * Received: headers (the one cleanup wrote included, as Postfix counts them) reached
 * hopcount_limit (smtpd answers 554 5.4.0 Error: too many hops), or the sticky error. A second
 * call returns the first one's result. */
int cleanup_end_content(Cleanup *c);

/* Re-injection (local's .forward and aliases, ternctl requeue): passes head (lines ending in
 * LF, may be NULL) and then the content of the queue file f through the content reader into c,
 * ends the content and runs queue_writer_finish(). Blocking. The caller then syncs incoming/
 * (queue.h, "Durability"). Returns 0, -ELOOP for too many hops, or the first error of the
 * reader, cleanup or the writer. */
int cleanup_copy_message(Cleanup *c, const char *head, QueueFile *f);

/* The writer, for queue_writer_finish() in a worker thread (queue.h's group commit). Owned
 * by c. */
QueueWriter *cleanup_writer(Cleanup *c);

/* The message's Message-ID value (as in the header, white space and line ends removed, or the
 * one added), for the log line "ID: message-id=<...>"; NULL when none. Valid while c lives. */
const char *cleanup_message_id(const Cleanup *c);

/* Received: headers counted so far (cleanup's own included). */
unsigned cleanup_hop_count(const Cleanup *c);

/* Postfix's date format for Date: and Received: ("%a, %e %b %Y %H:%M:%S %z (%Z)" in the C
 * locale) of a time in seconds, in the local time zone. Returns 0, -EINVAL when the time does
 * not convert, or Buf errors; appends to out. */
int cleanup_format_date(int64_t seconds, Buf *out);
