/* SPDX-License-Identifier: GPL-3.0-or-later */
/* queue: the mail queue on disk (DESIGN.md, "Queue"): the directory layout under
 * queue_directory, queue IDs, the queue file format with its writer (cleanup) and reader (qmgr,
 * agents, tools), status bytes flipped in place, moves, deletion, directory scans, and the
 * datagram that wakes qmgr. Queue files are untrusted input: a corrupt or hostile file must
 * never crash the reader, so the envelope parser is a pure, bounded function that answers
 * -EBADMSG to anything malformed. Directory names and IDs given by callers are checked.
 *
 * == Layout ==
 * queue_directory (default /var/spool/tern), mode 0700, holds the directories incoming/
 * active/ deferred/ hold/ corrupt/ defer/ bounce/ (mode 0700). One file per message, named by
 * its queue ID, in exactly one of incoming/ active/ deferred/ hold/ corrupt/ (rename(2) is
 * atomic, so after a crash the file is in one of them). defer/ and bounce/ hold per-message
 * logs named by the same ID; this module only creates those directories.
 *
 * == Queue IDs ==
 * QUEUE_ID_LEN (16) characters of the base-62 alphabet "0-9A-Z a-z" (in ASCII order, so
 * strcmp() order is numeric order):
 *     TTTTTTTTTT RRRRRR
 * T: 10 digits, the arrival time in microseconds since the epoch (good for 26,000 years).
 *    Within one process the value is strictly increasing (a clock that did not move, or moved
 *    back, is bumped by one microsecond), so IDs of one process sort in creation order.
 * R: 6 digits (~35.7 bits) from getrandom(), which separate processes that create a file in
 *    the same microsecond and keep IDs unique across restarts even if the clock stepped back.
 * The writer creates the file with O_EXCL and draws a new ID on EEXIST, so two writers never
 * share a file. IDs of different processes sort by arrival time to the microsecond.
 *
 * == Queue file format, version 1 ==
 * All offsets are in bytes from the start of the file. The file is:
 *
 *   header    "TERNQ/1 " <16 hex digits: content offset> " " <16 hex digits: content size> LF
 *             (exactly QUEUE_HEADER_LEN = 42 bytes, lower-case hex). The writer writes zeros
 *             first and the real values when it finishes; a zero content offset means
 *             "never finished". "TERNQ" is the magic, "1" the format version.
 *   head      envelope records, one per line, up to and including the record "content" LF,
 *             which ends exactly at the content offset.
 *   content   exactly <content size> bytes: the message, header and body, with LF line ends
 *             and no dot-stuffing. It is opaque to the parser (8-bit, any bytes).
 *   tail      at the content offset + content size: zero or more "rcpt" records (recipients
 *             added after the content, e.g. extracted from headers), then "end" LF, which must
 *             be the last byte of the file.
 *
 * A record is a keyword, then fields each preceded by exactly one space, then LF; at most
 * QUEUE_RECORD_MAX bytes with the LF. String fields are xtext (RFC 3461 §4): bytes '!'..'~'
 * except '+' and '=' stand for themselves, every other byte is "+" and two upper-case hex
 * digits. Decoded strings hold no NUL byte and at most QUEUE_VALUE_MAX bytes. Records:
 *
 *   arrival <decimal>           arrival time, microseconds since the epoch. Required, once.
 *   sender[ <xtext>]            envelope sender; without a field it is the null sender <>.
 *                               Required, once.
 *   ret FULL|HDRS               DSN RET (RFC 3461 §4.3). Optional, once.
 *   envid <xtext>               DSN ENVID (RFC 3461 §4.4). Optional, once.
 *   client_name <xtext>         the client's verified host name. Optional, once.
 *   client_addr <xtext>         the client's IP address. Optional, once.
 *   client_port <decimal>       the client's port, 1..65535. Optional, once.
 *   helo <xtext>                the HELO/EHLO argument. Optional, once.
 *   protocol <xtext>            SMTP, ESMTP, ESMTPS, ESMTPSA, LMTP, local... Optional, once.
 *   sasl_user <xtext>           the SASL login name. Optional, once.
 *   attr <name>[ <xtext>]       a named attribute for later stages; name is 1..64 of
 *                               [a-z0-9_], unique in the file; no field means "".
 *   rcpt <S> <N> <xtext>[ <xtext>]
 *                               a recipient: S is its status byte (QueueRcptStatus: 'P', 'D'
 *                               or 'F'), always at record offset 5 so it can be flipped in
 *                               place; N one hex digit, the NOTIFY bits (QueueNotify; NEVER
 *                               never with another bit); then the address (not empty) and
 *                               the ORCPT (RFC 3461 §4.2, "type;xtext" as received) if given.
 *                               At least one recipient per file, in the head or the tail.
 *   content                     last record of the head.
 *   end                         last record of the tail and of the file.
 *
 * Any other keyword, a repeated once-only record, a missing required record, a header whose
 * offsets do not match the records or the file size, trailing bytes after "end", a file
 * shorter than its header claims: -EBADMSG. Truncation at any byte is therefore detected.
 *
 * == Durability (DESIGN.md, STYLE.md §1.8) ==
 * The writer creates incoming/ID with mode 0600 and O_EXCL, writes header, head, content,
 * tail, then rewrites the header with the real offsets. queue_writer_finish() then runs
 *   fchmod(0700)  ->  fsync(file)
 * the one fsync per accepted message of DESIGN.md: it makes the bytes and the completeness mark
 * durable together. A crash before that fsync returns may leave the mark on a file whose bytes
 * did not all reach the disk; its client has had no 250. A truncated file is caught by every
 * reader (the header's offsets, the records, the "end" record and the file size must agree:
 * -EBADMSG, qmgr moves it to corrupt/, nothing is silently lost or delivered half); file
 * systems that write data before the metadata that exposes it (ext4 data=ordered, xfs, btrfs)
 * do not show unwritten blocks inside a file. The caller then makes the NAME durable with
 * queue_dir_sync(incoming) -- one call for a whole batch of finished files (group commit, see
 * workpool.h) -- and only after that replies 250.
 *
 * Readers take a file without the owner-execute bit as incomplete (-EINPROGRESS) and never
 * parse it. Status bytes are written with pwrite() and no fsync: a lost flip only repeats a
 * delivery (at-least-once). Moves and deletions are not synced either (a lost rename leaves
 * the file in its old queue, a lost unlink repeats deliveries already done); call
 * queue_dir_sync() where an administrator's action must survive a crash. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "buf.h"
#include "macro.h"

#define QUEUE_ID_LEN 16
/* Queue IDs never exceed this many characters (DESIGN.md); buffers are QUEUE_ID_MAX + 1. */
#define QUEUE_ID_MAX 20
#define QUEUE_HEADER_LEN 42
#define QUEUE_RECORD_MAX 8192
#define QUEUE_VALUE_MAX 1024
#define QUEUE_ATTR_NAME_MAX 64
#define QUEUE_DEFAULT_DIRECTORY "/var/spool/tern"
#define QUEUE_TRIGGER_PATH "/run/tern/qmgr"
#define QUEUE_TRIGGER_DOMAIN_MAX 255

typedef enum QueueName {
        QUEUE_INCOMING,
        QUEUE_ACTIVE,
        QUEUE_DEFERRED,
        QUEUE_HOLD,
        QUEUE_CORRUPT,
        QUEUE_DEFER,            /* per-message defer logs */
        QUEUE_BOUNCE,           /* per-message bounce logs */
        _QUEUE_MAX,
        _QUEUE_INVALID = -EINVAL,
} QueueName;

/* "incoming", "active", ...; NULL for an invalid value. */
const char *queue_name_to_string(QueueName q);
/* The inverse; _QUEUE_INVALID for an unknown name. */
QueueName queue_name_from_string(const char *s);

/* ---- Directories ---- */

/* Open directory fds (O_DIRECTORY | O_CLOEXEC) of queue_directory and of each queue. */
typedef struct QueueDirs {
        int root_fd;
        int fd[_QUEUE_MAX];
} QueueDirs;

/* Creates queue_directory (one level, not its parents) and every queue directory in it with
 * mode 0700; existing directories are left as they are. Returns 0 or -errno. */
int queue_dirs_create(const char *path);
/* Opens queue_directory and all its queues. Returns 0, -ENOENT when one is missing, -errno.
 * The result is freed with queue_dirs_free(). */
int queue_dirs_open(const char *path, QueueDirs **ret);
QueueDirs *queue_dirs_free(QueueDirs *d);
DEFINE_PTR_CLEANUP(QueueDirs *, queue_dirs_free);
/* The fd of one queue (owned by d). */
int queue_dirs_fd(const QueueDirs *d, QueueName q);
/* fsync() of one queue directory: makes names created, renamed or removed in it durable.
 * Blocking; event loops run it from the worker pool. Returns 0 or -errno. */
int queue_dir_sync(const QueueDirs *d, QueueName q);
/* queue_dir_sync(userdata, QUEUE_INCOMING) with the signature of workpool.h's WorkBatchFn:
 * userdata is the QueueDirs. The batch step of the group commit. */
int queue_dirs_sync_incoming(void *userdata);

/* ---- Queue IDs ---- */

/* Writes a new ID (QUEUE_ID_LEN characters and a NUL) to ret. Thread-safe. Returns 0 or
 * -errno when getrandom() fails. */
int queue_id_new(char ret[static QUEUE_ID_MAX + 1]);
/* The same with a given time and random value (tests, tools); no state is touched. */
void queue_id_format(uint64_t usec, uint64_t rnd, char ret[static QUEUE_ID_MAX + 1]);
/* True when s is a well-formed queue ID of this format. */
bool queue_id_is_valid(const char *s);
/* The arrival time in an ID, microseconds since the epoch. Returns 0, -EINVAL for a bad ID. */
int queue_id_get_time(const char *id, uint64_t *ret_usec);

/* ---- Envelope ---- */

typedef enum QueueRcptStatus {
        QUEUE_RCPT_PENDING = 'P',       /* still to be delivered */
        QUEUE_RCPT_DONE = 'D',          /* delivered (or expanded); no further attempt */
        QUEUE_RCPT_FAILED = 'F',        /* failed for good, bounce recorded; no attempt */
} QueueRcptStatus;

static inline bool queue_rcpt_status_is_valid(int s) {
        return s == QUEUE_RCPT_PENDING || s == QUEUE_RCPT_DONE || s == QUEUE_RCPT_FAILED;
}

/* NOTIFY (RFC 3461 §4.1). 0: not given, the default (FAILURE,DELAY) applies. */
typedef enum QueueNotify {
        QUEUE_NOTIFY_NEVER = 1 << 0,
        QUEUE_NOTIFY_SUCCESS = 1 << 1,
        QUEUE_NOTIFY_FAILURE = 1 << 2,
        QUEUE_NOTIFY_DELAY = 1 << 3,
} QueueNotify;

static inline bool queue_notify_is_valid(unsigned n) {
        return n <= 0xf && (!(n & QUEUE_NOTIFY_NEVER) || n == QUEUE_NOTIFY_NEVER);
}

typedef enum QueueRet {
        QUEUE_RET_NONE,                 /* not given */
        QUEUE_RET_FULL,
        QUEUE_RET_HDRS,
} QueueRet;

typedef struct QueueRcpt {
        char *address;                  /* not empty; as it goes to the agent */
        char *orcpt;                    /* NULL when not given */
        unsigned notify;                /* QueueNotify bits */
        char status;                    /* QueueRcptStatus */
        uint64_t status_offset;         /* file offset of the status byte; set by the parser */
} QueueRcpt;

typedef struct QueueAttr {
        char *name;
        char *value;
} QueueAttr;

/* String members are owned by the envelope; NULL means "not given". */
typedef struct QueueEnvelope {
        uint64_t arrival_usec;
        char *sender;                   /* "" for the null sender; NULL only while building */
        QueueRet ret;
        char *envid;
        char *client_name;
        char *client_addr;
        unsigned client_port;           /* 0: not given */
        char *helo;
        char *protocol;
        char *sasl_user;
        QueueRcpt *rcpts;
        size_t n_rcpts;
        QueueAttr *attrs;
        size_t n_attrs;
        uint64_t content_offset;        /* set by the parser */
        uint64_t content_size;          /* set by the parser */
} QueueEnvelope;

/* The string members queue_envelope_set() can set. */
typedef enum QueueField {
        QUEUE_FIELD_SENDER,
        QUEUE_FIELD_ENVID,
        QUEUE_FIELD_CLIENT_NAME,
        QUEUE_FIELD_CLIENT_ADDR,
        QUEUE_FIELD_HELO,
        QUEUE_FIELD_PROTOCOL,
        QUEUE_FIELD_SASL_USER,
        _QUEUE_FIELD_MAX,
        _QUEUE_FIELD_INVALID = -EINVAL,
} QueueField;

/* Bounds for reading a file; NULL means QUEUE_LIMITS_DEFAULT. */
typedef struct QueueLimits {
        size_t envelope_max;            /* bytes of head plus tail */
        size_t rcpt_max;                /* recipients per file */
        size_t attr_max;                /* attr records (queue_file_attribute_count_limit) */
} QueueLimits;

#define QUEUE_LIMITS_DEFAULT \
        ((QueueLimits) { .envelope_max = 64 << 20, .rcpt_max = 200000, .attr_max = 100 })

/* An empty envelope (sender NULL, no recipients). Returns 0 or -ENOMEM. */
int queue_envelope_new(QueueEnvelope **ret);
QueueEnvelope *queue_envelope_free(QueueEnvelope *e);
DEFINE_PTR_CLEANUP(QueueEnvelope *, queue_envelope_free);
/* Copies value into a string member (NULL clears it; "" is the null sender for SENDER and
 * invalid for the others). Returns 0, -EINVAL for an empty value other than the sender or a
 * value longer than QUEUE_VALUE_MAX, -ENOMEM. */
int queue_envelope_set(QueueEnvelope *e, QueueField f, const char *value);
/* Appends a recipient with status PENDING. orcpt may be NULL. Returns 0, -EINVAL for an empty
 * or too long address or ORCPT or invalid notify bits, -ENOMEM. */
int queue_envelope_add_rcpt(QueueEnvelope *e, const char *address, const char *orcpt,
                            unsigned notify);
/* Appends an attribute. Returns 0, -EINVAL for a bad name or a too long value, -EEXIST when
 * the name is already there, -ENOMEM. */
int queue_envelope_add_attr(QueueEnvelope *e, const char *name, const char *value);
/* The value of an attribute, or NULL. Owned by e. */
const char *queue_envelope_get_attr(const QueueEnvelope *e, const char *name);
/* Equal in every member but the offsets. */
bool queue_envelope_equal(const QueueEnvelope *a, const QueueEnvelope *b);

/* Parses a whole queue file held in memory (p, n): the pure, bounded parser behind
 * queue_file_open(). Returns 0 with a new envelope (offsets filled in), -EBADMSG for anything
 * malformed or truncated, -EMSGSIZE when a record exceeds QUEUE_RECORD_MAX or head plus tail
 * exceed limits->envelope_max, -E2BIG when recipients or attributes exceed their limits,
 * -ENOMEM. Never reads outside (p, n). The content is not examined. */
int queue_file_parse(const char *p, size_t n, const QueueLimits *limits, QueueEnvelope **ret);
/* Appends a complete queue file image for e and content (p, n) to out: every recipient in the
 * head, with its status. Returns 0, -EINVAL when e lacks a sender or recipients or holds a
 * value the format cannot carry, -E2BIG past QUEUE_LIMITS_DEFAULT, -ENOBUFS or -ENOMEM from
 * out. */
int queue_file_format(const QueueEnvelope *e, const char *p, size_t n, Buf *out);

/* ---- Writer (cleanup) ---- */

typedef struct QueueWriter QueueWriter;

/* Creates incoming/ID (mode 0600, O_EXCL, a new ID on EEXIST) under the open incoming
 * directory incoming_fd (not owned) and writes the header and the head for env (sender and
 * recipients may be completed in the tail, see queue_writer_add_rcpt()). size_limit bounds
 * the content in bytes, 0 for none (message_size_limit). Returns 0, -EINVAL when env holds a
 * value the format cannot carry, -errno from the file system (-ENOSPC and -EDQUOT as such;
 * the caller answers 452 4.3.1), -E2BIG past QUEUE_LIMITS_DEFAULT. */
int queue_writer_new(int incoming_fd, const QueueEnvelope *env, uint64_t size_limit,
                     QueueWriter **ret);
/* Closes; a writer that was not finished is aborted first (its file is unlinked). Returns
 * NULL. */
QueueWriter *queue_writer_free(QueueWriter *w);
DEFINE_PTR_CLEANUP(QueueWriter *, queue_writer_free);
/* The file's queue ID, valid while w lives. */
const char *queue_writer_id(const QueueWriter *w);
/* Content bytes taken so far. */
uint64_t queue_writer_size(const QueueWriter *w);
/* Appends content bytes (already with LF line ends and no dot-stuffing), buffered. Returns 0,
 * -EMSGSIZE when the content would exceed size_limit (nothing of this call is kept), -ENOSPC,
 * -EDQUOT, -EIO, ... Errors are sticky: every later call returns the first one, and the
 * caller aborts (the SMTP caller keeps reading DATA to its end before replying). */
int queue_writer_write(QueueWriter *w, const void *p, size_t n);
/* Appends the line (p, n) and an LF; the same results as queue_writer_write(). */
int queue_writer_put_line(QueueWriter *w, const char *p, size_t n);
/* Adds a recipient after the content (status PENDING). Returns 0, -EINVAL for values the
 * format cannot carry, -E2BIG past QUEUE_LIMITS_DEFAULT.rcpt_max, -ENOMEM, or the sticky
 * error. */
int queue_writer_add_rcpt(QueueWriter *w, const char *address, const char *orcpt,
                          unsigned notify);
/* Writes the tail, the final header, and runs fsync -> fchmod(0700) -> fsync (see
 * "Durability" above). Blocking; it touches nothing but w, so an event loop runs it as the
 * work of a workpool job, with queue_dirs_sync_incoming() as the pool's batch step: incoming/
 * must be synced after this returns and before the reply 250. Returns 0, -EDESTADDRREQ when
 * the file has no recipient, the sticky error, or -errno (-ENOSPC, -EDQUOT, -EIO). After an
 * error the caller aborts. Calling it twice returns -EALREADY. */
int queue_writer_finish(QueueWriter *w);
/* Unlinks the file unless it was finished, closes it. Idempotent. */
void queue_writer_abort(QueueWriter *w);

/* ---- Reader (qmgr, agents, tools) ---- */

typedef struct QueueFile {
        int fd;                         /* O_RDONLY, or O_RDWR when opened for update */
        char id[QUEUE_ID_MAX + 1];
        QueueEnvelope *envelope;        /* owned */
        struct stat st;                 /* as at open; st_mtime is the retry time in deferred/ */
} QueueFile;

/* Opens dir_fd/id, checks that it is complete and parses its envelope. for_update opens it
 * read-write so that queue_file_set_status() can flip status bytes (qmgr only: single
 * writer). Returns 0, -EINVAL for an id that is not a queue ID, -ENOENT, -EINPROGRESS when
 * the file lacks the owner-execute bit (still being written, or abandoned), the parser's
 * errors (-EBADMSG: move it to corrupt/), -errno. */
int queue_file_open(int dir_fd, const char *id, bool for_update, const QueueLimits *limits,
                    QueueFile **ret);
QueueFile *queue_file_free(QueueFile *f);
DEFINE_PTR_CLEANUP(QueueFile *, queue_file_free);
/* Reads content bytes from content position pos (0 is the first content byte), at most n,
 * never past the content. Returns the number read (0 at the end of the content), -errno. */
ssize_t queue_file_read_content(QueueFile *f, uint64_t pos, void *buf, size_t n);
/* Flips recipient i's status byte in place with one pwrite() and no fsync (DESIGN.md). Returns
 * 0, -EINVAL for a bad index or status, -EBADF when not opened for update, -errno. */
int queue_file_set_status(QueueFile *f, size_t i, char status);
/* True when every recipient is DONE or FAILED: the message can be deleted. */
bool queue_file_all_done(const QueueFile *f);

/* ---- Whole files in the queues ---- */

/* The queue-file lock (flock(2) LOCK_EX on the file), the rule that keeps qmgr and the tools
 * from changing one file at once. qmgr takes it before it moves a file into active/ and holds
 * it while the message is active; a tool (ternctl hold/release/delete/requeue) takes it before
 * it moves or removes a file and lets go afterwards. Opens dir_fd/id and locks it; wait=false
 * gives -EBUSY when someone holds it. After locking, the file must still be dir_fd/id
 * (-ENOENT otherwise: it moved or went while we waited). Returns 0 with the locked fd in
 * *ret_fd (close it to unlock), -EINVAL for a bad id, -ENOENT, -EBUSY, -errno. */
int queue_file_lock(int dir_fd, const char *id, bool wait, int *ret_fd);

/* Moves id from one queue to another (renameat2 with RENAME_NOREPLACE where supported).
 * Not synced (see "Durability"). Returns 0, -EINVAL for a bad id or queue, -ENOENT, -EEXIST
 * when the target queue already holds the ID, -errno. */
int queue_file_move(const QueueDirs *d, const char *id, QueueName from, QueueName to);
/* Unlinks id from a queue. Returns 0, -EINVAL, -ENOENT, -errno. */
int queue_file_remove(const QueueDirs *d, const char *id, QueueName q);
/* Sets the file's mtime (and atime), the next retry time in deferred/. Returns 0, -errno. */
int queue_file_set_mtime(int dir_fd, const char *id, uint64_t usec);

/* Called by queue_scan() for each complete file, and for each incomplete file whose mtime is
 * older than the scan's bound (complete = false: the caller may delete it). Names that are not
 * queue IDs and incomplete files younger than the bound are skipped. Return 0 to go on, > 0 to
 * stop the scan (queue_scan() returns it), < 0 to stop with that error. */
typedef int (*QueueScanFn)(const char *id, bool complete, const struct stat *st, void *userdata);
/* Walks the queue directory dir_fd in directory order. stale_before_usec: incomplete files
 * with an older mtime are reported (0 reports none). Files that vanish during the scan are
 * skipped. Returns 0, the callback's non-zero value, or -errno. Allocates nothing per file. */
int queue_scan(int dir_fd, uint64_t stale_before_usec, QueueScanFn fn, void *userdata);
/* The IDs of the complete files in dir_fd, sorted (by arrival time), at most max of them
 * (the oldest; 0 for no bound). Memory while scanning is proportional to the directory's
 * size; qmgr uses queue_scan() where that matters. Returns the count with a NULL-terminated
 * list (free with strv_free()), -errno. */
int queue_scan_sorted(int dir_fd, size_t max, char ***ret);

/* ---- The qmgr trigger ---- */

typedef enum QueueTriggerType {
        QUEUE_TRIGGER_INCOMING = 'i',   /* new mail in incoming/ */
        QUEUE_TRIGGER_FLUSH = 'f',      /* retry the deferred queue now */
        QUEUE_TRIGGER_DOMAIN = 'd',     /* retry one destination now ("d DOMAIN") */
} QueueTriggerType;

typedef struct QueueTrigger {
        char type;                      /* QueueTriggerType */
        char domain[QUEUE_TRIGGER_DOMAIN_MAX + 1];      /* "" unless type is 'd' */
} QueueTrigger;

/* Sends the trigger datagram to the unix datagram socket at path (NULL: QUEUE_TRIGGER_PATH)
 * without blocking. domain is required for QUEUE_TRIGGER_DOMAIN and ignored otherwise.
 * Returns 1 when the datagram was sent; 0 when no qmgr listens (ENOENT, ECONNREFUSED) or its
 * queue is full (EAGAIN) -- not an error for an enqueuer: the file is safe in incoming/ and
 * qmgr finds it when it starts or at its next scan; -EINVAL for a bad type or domain,
 * -ENAMETOOLONG for a path that does not fit sun_path, other -errno. The first call in a
 * thread opens a datagram socket that the thread keeps (close-on-exec) for the next ones. */
int queue_trigger_send(const char *path, char type, const char *domain);
/* Parses a received datagram: "i", "f" or "d DOMAIN" (DOMAIN 1..255 printable ASCII bytes, no
 * space), optionally followed by one LF. Pure. Returns 0, -EBADMSG. */
int queue_trigger_parse(const char *p, size_t n, QueueTrigger *ret);
