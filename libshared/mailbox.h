/* SPDX-License-Identifier: GPL-3.0-or-later */
/* mailbox: final delivery of one queued message into a Maildir or an mbox file, shared by
 * the local and virtual agents. It trusts its caller (the agent has resolved the recipient,
 * chosen the path and switched to the mailbox owner's uid and gid) and does not trust the
 * message content, which it copies byte for byte from the queue file, nor the mailbox files,
 * which other programs (MUAs, Dovecot) change at the same time. What a delivery puts in
 * front of the message follows Postfix's local(8)/virtual(8) order: "Return-Path:",
 * "X-Original-To:" when given, "Delivered-To:". Maildir names follow the Maildir++
 * convention Dovecot reads (time.unique.host); mbox files get the "From " line, ">From "
 * quoting, the locks of mailbox_delivery_lock and one fsync, and are cut back to their old
 * size on any failure. The module logs nothing (STYLE.md §1.6). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "macro.h"
#include "queue.h"

/* A dotlock file older than this is stale and removed (Postfix's stale_lock_time, 500 s). */
#define MAILBOX_DOTLOCK_STALE_USEC (500ULL * 1000000ULL)
/* Bytes of one header line added by a delivery (addresses are cut to QUEUE_VALUE_MAX). */
#define MAILBOX_HEADER_MAX (QUEUE_VALUE_MAX + 64)

/* What a delivery puts in front of the message (Postfix's local/virtual order):
 * "Return-Path: <sender>", "X-Original-To: <orig>" (when original_to is set),
 * "Delivered-To: <delivered_to>", then the message from the queue file. The strings are
 * borrowed; none may contain CR or LF (-EINVAL). */
typedef struct MailboxEnvelope {
        const char *return_path;        /* envelope sender, "" for <> */
        const char *delivered_to;       /* the final recipient address */
        const char *original_to;        /* NULL: no X-Original-To */
        uint64_t arrival_usec;          /* mbox "From " line date */
} MailboxEnvelope;

typedef enum MailboxLock {
        MAILBOX_LOCK_FCNTL = 1u << 0,
        MAILBOX_LOCK_DOTLOCK = 1u << 1,
        MAILBOX_LOCK_FLOCK = 1u << 2,
} MailboxLock;

/* Parses a mailbox_delivery_lock / virtual_mailbox_lock value ("fcntl, dotlock": names
 * separated by commas and/or white space, each at most once; "" is no lock) into
 * MailboxLock bits. Returns 0 with *ret set, -EINVAL for an unknown or repeated name. */
int mailbox_lock_from_string(const char *s, unsigned *ret);

/* Maildir delivery as Dovecot reads it: creates dir and dir/{tmp,new,cur} (0700) when
 * missing (dir's parent must exist), writes tmp/<unique> (Maildir++ name
 * "<sec>.M<usec>P<pid>R<random>.<host>"), fsync, then link into new/ and unlink tmp (rename
 * where link() is not supported); new/ itself is not synced (see mailbox.c). Runs with the
 * caller's credentials (the caller has switched to the recipient's uid/gid). size_limit: 0 none, else -EFBIG when the
 * message with the added headers would exceed it. Returns 0 with *ret_path (malloc'd, the
 * path of the file in new/) when ret_path is not NULL; -errno otherwise: -ENOSPC, -EDQUOT,
 * -EFBIG (mailbox full: 4.2.2 / 5.2.2), -EACCES, -ENOTDIR, -EINVAL (bad envelope), -EIO...
 * The tmp file is removed on every error. Content is read with queue_file_read_content(). */
int mailbox_maildir_deliver(const char *dir, QueueFile *f, const MailboxEnvelope *e,
                            uint64_t size_limit, char **ret_path);

/* mbox delivery: opens (creates 0600) path for append, takes the locks (dotlock: path.lock,
 * created with O_EXCL, stale after MAILBOX_DOTLOCK_STALE_USEC as Postfix; fcntl; flock; all
 * non-blocking), appends the "From sender asctime-date" line (sender "MAILER-DAEMON" for
 * <>), the headers above, the content with ">From " quoting of every line that starts with
 * "From " (header and body, as Postfix does), a blank line at the end (the content is
 * LF-terminated first if it is not); one fsync; on any error truncates the file back to its
 * old size. size_limit as above (mailbox_size_limit / virtual_mailbox_limit: the file size
 * after delivery; -EFBIG, nothing written). path must not be a symlink and must be a regular
 * file (-ELOOP, -EISDIR / -EPERM otherwise). Returns 0, -EAGAIN when a lock is busy (retry
 * later: 4.2.0), -errno. */
int mailbox_mbox_deliver(const char *path, QueueFile *f, const MailboxEnvelope *e,
                         unsigned locks, uint64_t size_limit);

/* Loop detection: 1 when the message's header section (the content up to the first empty
 * line) has a "Delivered-To:" field whose value, trimmed, equals address (case-insensitive;
 * folded continuation lines are joined), 0 when not, -errno from reading. Reads at most the
 * header section, in bounded pieces. */
int mailbox_has_delivered_to(QueueFile *f, const char *address);

/* The agent's result for an error of the functions above: status class, DSN code and
 * Postfix's text. -EDQUOT/-EFBIG → "5.2.2" "mailbox full" (permanent), -ENOSPC → "4.3.0"
 * "insufficient system storage", -EAGAIN → "4.2.0" "unable to lock mailbox", -EACCES/-EPERM
 * → "4.2.0" "permission denied" (temporary, as Postfix's default), -ELOOP/-EISDIR/-ENOTDIR
 * → "4.2.0" "mailbox is not a regular file", -EINVAL → "4.3.5" "mail system configuration
 * error", others → "4.3.0" "mail system error". error 0 → "2.0.0", text NULL (the caller
 * says "delivered to ..."). text is a static string. A loop found by
 * mailbox_has_delivered_to() the agent reports itself: "5.4.6" "mail forwarding loop for
 * <address>". */
typedef struct MailboxStatus {
        char dsn[8];
        bool permanent;
        const char *text;
} MailboxStatus;
void mailbox_status_from_errno(int error, MailboxStatus *ret);
