/* SPDX-License-Identifier: GPL-3.0-or-later */
/* showq: the mail queue listing of mailq, "sendmail -bp" and "ternctl queue", in the layout of
 * Postfix's mailq for long queue IDs (tern's IDs are 16 characters, so Postfix's
 * enable_long_queue_ids layout is the one that lines up):
 *
 *   ----Queue ID----- --Size-- ---Arrival Time---- --Sender/Recipient------
 *   0123456789ABCDEF*      602 Sat May 19 04:16:20 sender@example.com
 *                                              (connect to ...: Connection refused)
 *                                                  recipient@example.org
 *   (blank line between messages)
 *   -- 0 Kbytes in 1 Request.
 *
 * "*" marks a message in active/, "!" one in hold/; the null sender is MAILER-DAEMON; only
 * recipients still pending are listed; a deferral reason (from qmgr's defer/ID log: an
 * optional first line "warned", then "address<TAB>dsn<TAB>reason" lines) is printed right-
 * aligned in parentheses before the first recipient it applies to and again when it changes.
 * An empty queue prints "Mail queue is empty". The JSON form is Postfix's "postqueue -j": one
 * object per line with queue_name, queue_id, arrival_time, message_size, forced_expire,
 * sender and recipients [{address, delay_reason}].
 *
 * Queue files and defer logs are untrusted input: they go through queue.h's bounded parser,
 * and defer log lines are bounded and sanitised (control bytes become '?'). Files that vanish,
 * are incomplete or corrupt are skipped. */
#pragma once

#include <stdbool.h>

#include "buf.h"
#include "queue.h"

/* Bytes of a defer log read per message; the rest is ignored. */
#define SHOWQ_DEFER_LOG_MAX (1u << 20)

/* Appends the listing of the incoming, active, deferred and hold queues of d to out (text or
 * JSON lines). Returns the number of messages listed, -ENOBUFS when out is full, -ENOMEM, or
 * -errno from reading a queue directory. */
int showq_format(const QueueDirs *d, bool json, Buf *out);

/* Appends one message's entry (no blank line before it) for the open file f found in queue
 * q; defer_log is the content of its defer/ID file or NULL. Returns 0, -ENOBUFS, -ENOMEM. */
int showq_format_message(const QueueFile *f, QueueName q, const char *defer_log, bool json,
                         Buf *out);
