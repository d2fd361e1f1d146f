/* SPDX-License-Identifier: GPL-3.0-or-later */
/* dsn: the one map from tern's error codes (negative errno values, STYLE.md §4) to SMTP replies:
 * a reply code (RFC 5321 §4.2), an enhanced status code (RFC 3463) and Postfix's text for the
 * condition. Services use it wherever an internal failure becomes a reply, so that one condition
 * always reads the same. Anything not caused by the client's input is temporary (4xx). Pure. */
#pragma once

#include <stdbool.h>

typedef struct DsnReply {
        unsigned code;          /* 250, 452, 552, ... */
        const char *enhanced;   /* "4.3.1" */
        const char *text;       /* "Insufficient system storage" */
} DsnReply;

/* The reply for an error met while accepting a message (writing the queue file, reading its
 * content): -ENOSPC, -EDQUOT → 452 4.3.1 Insufficient system storage; -EMSGSIZE → 552 5.3.4
 * Message size exceeds fixed limit; -ELOOP → 554 5.4.0 Error: too many hops; -EBADMSG →
 * 550 5.5.2 Error: bare <LF> received; -E2BIG → 452 4.5.3 Error: too many recipients; -ENOMEM
 * → 451 4.3.0 Error: insufficient memory; anything else → 451 4.3.0 Error: queue file write
 * error. Returns a pointer to static storage. */
const DsnReply *dsn_from_errno(int error);

/* True when s is an enhanced status code "C.S.D" (RFC 3463 §2: class 2, 4 or 5, subject 0-999,
 * detail 0-999, no leading zeros beyond one digit). */
bool dsn_status_is_valid(const char *s);

/* What a command's exit status from <sysexits.h> means for a delivery (Postfix's local(8) and
 * pipe(8)): the enhanced status code and the condition's text. */
typedef struct DsnSysexit {
        int code;               /* EX_NOUSER, ... */
        const char *enhanced;   /* "5.1.1"; class 4 for EX_OSERR and EX_TEMPFAIL */
        const char *text;       /* "user unknown" */
} DsnSysexit;

/* The entry for exit status code, or NULL for a status sysexits.h does not name. Returns a
 * pointer to static storage. */
const DsnSysexit *dsn_from_sysexit(int code);
