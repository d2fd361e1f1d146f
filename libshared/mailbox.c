/* SPDX-License-Identifier: GPL-3.0-or-later */
/* mailbox: Maildir and mbox delivery of a queued message, the locks of mailbox_delivery_lock,
 * loop detection by Delivered-To and the map from delivery errors to DSN results (see
 * mailbox.h). The caller is trusted (it chose the path and switched credentials); message
 * content is copied byte for byte and only ever scanned for line starts, and mailbox files
 * are opened without following symbolic links. Maildir follows the Maildir(5) protocol:
 * tmp/ → fsync → link into new/ (the directory is not synced); mbox follows Postfix's local(8): "From " line,
 * ">From " quoting, one fsync, truncation to the old size on failure. */
#include <fcntl.h>
#include <limits.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>

#include "fileio.h"
#include "mailbox.h"

/* Bytes read from the queue file and written to a mailbox at a time. */
#define MAILBOX_IO_CHUNK (64 * 1024)

int mailbox_lock_from_string(const char *s, unsigned *ret) {
        unsigned bits = 0;

        assert(s);
        assert(ret);

        for (const char *p = s; *p;) {
                size_t n;
                unsigned bit;

                p += strspn(p, ", \t\r\n");
                n = strcspn(p, ", \t\r\n");
                if (n == 0)
                        break;
                if (n == 5 && strncmp(p, "fcntl", 5) == 0)
                        bit = MAILBOX_LOCK_FCNTL;
                else if (n == 7 && strncmp(p, "dotlock", 7) == 0)
                        bit = MAILBOX_LOCK_DOTLOCK;
                else if (n == 5 && strncmp(p, "flock", 5) == 0)
                        bit = MAILBOX_LOCK_FLOCK;
                else
                        return -EINVAL;
                if (bits & bit)
                        return -EINVAL;
                bits |= bit;
                p += n;
        }

        *ret = bits;
        return 0;
}

static bool value_ok(const char *s) {
        return s && strlen(s) <= QUEUE_VALUE_MAX && !strpbrk(s, "\r\n");
}

/* The lines a delivery puts in front of the message, malloc'd. */
static int headers_format(const MailboxEnvelope *e, char **ret, size_t *ret_len) {
        char *h;
        int n;

        if (!value_ok(e->return_path) || !value_ok(e->delivered_to) || isempty(e->delivered_to))
                return -EINVAL;
        if (e->original_to && !value_ok(e->original_to))
                return -EINVAL;

        if (e->original_to)
                n = asprintf(&h, "Return-Path: <%s>\nX-Original-To: %s\nDelivered-To: %s\n",
                             e->return_path, e->original_to, e->delivered_to);
        else
                n = asprintf(&h, "Return-Path: <%s>\nDelivered-To: %s\n",
                             e->return_path, e->delivered_to);
        if (n < 0)
                return -ENOMEM;

        *ret = h;
        *ret_len = (size_t) n;
        return 0;
}

/* Reads the next piece of content at *pos; a file shorter than its envelope says is -EIO. */
static ssize_t content_read(QueueFile *f, uint64_t *pos, char *buf, size_t n) {
        ssize_t k;

        if (*pos >= f->envelope->content_size)
                return 0;
        k = queue_file_read_content(f, *pos, buf, n);
        if (k < 0)
                return k;
        if (k == 0)
                return -EIO;
        *pos += (uint64_t) k;
        return k;
}

/* ---- Maildir ---- */

static int mkdir_at(int dir_fd, const char *name) {
        if (mkdirat(dir_fd, name, 0700) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

/* Opens dir and its tmp/ and new/ (no symbolic link followed below dir); the common case, a
 * Maildir that exists, costs three opens and no mkdir. Returns 0, -ENOENT when something is
 * missing (the fds opened so far are set for the caller to close), other -errno. */
static int maildir_open(const char *dir, int *dir_fd, int *tmp_fd, int *new_fd) {
        *dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (*dir_fd < 0)
                return -errno;
        *tmp_fd = openat(*dir_fd, "tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (*tmp_fd < 0)
                return -errno;
        *new_fd = openat(*dir_fd, "new", O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (*new_fd < 0)
                return -errno;
        return 0;
}

/* The host name as Maildir names carry it: '/' and ':' escaped as octal (Maildir++). */
static void maildir_host(char *buf, size_t size) {
        char host[HOST_NAME_MAX + 1] = "localhost";
        size_t o = 0;

        (void) gethostname(host, sizeof(host));
        host[HOST_NAME_MAX] = '\0';
        for (const char *p = host; *p && o + 5 < size; p++) {
                unsigned char c = (unsigned char) *p;

                if (c == '/' || c == ':' || c == ',' || c == '\\' || c < 0x21 || c > 0x7e)
                        o += (size_t) snprintf(buf + o, size - o, "\\%03o", c);
                else
                        buf[o++] = (char) c;
        }
        if (o == 0)
                o = (size_t) snprintf(buf, size, "localhost");
        buf[o] = '\0';
}

static int maildir_write(int fd, QueueFile *f, const char *hdr, size_t hdr_len) {
        _cleanup_free_ char *chunk = NULL;
        uint64_t pos = 0;
        int r;

        r = fileio_write_full(fd, hdr, hdr_len);
        if (r < 0)
                return r;

        chunk = malloc(MAILBOX_IO_CHUNK);
        if (!chunk)
                return -ENOMEM;
        for (;;) {
                ssize_t k = content_read(f, &pos, chunk, MAILBOX_IO_CHUNK);

                if (k < 0)
                        return (int) k;
                if (k == 0)
                        break;
                r = fileio_write_full(fd, chunk, (size_t) k);
                if (r < 0)
                        return r;
        }

        return NEG_ERRNO(fsync(fd));
}

int mailbox_maildir_deliver(const char *dir, QueueFile *f, const MailboxEnvelope *e,
                            uint64_t size_limit, char **ret_path) {
        _cleanup_close_ int dir_fd = -EBADF, tmp_fd = -EBADF, new_fd = -EBADF, fd = -EBADF;
        _cleanup_free_ char *hdr = NULL, *path = NULL;
        char host[(HOST_NAME_MAX + 1) * 4 + 1];
        char name[sizeof(host) + 128];
        struct timespec ts;
        uint64_t rnd = 0, size;
        size_t hdr_len;
        int r;

        assert(dir);
        assert(f);
        assert(f->envelope);
        assert(e);

        r = headers_format(e, &hdr, &hdr_len);
        if (r < 0)
                return r;
        if (__builtin_add_overflow(f->envelope->content_size, (uint64_t) hdr_len, &size))
                return -EFBIG;
        if (size_limit > 0 && size > size_limit)
                return -EFBIG;

        r = maildir_open(dir, &dir_fd, &tmp_fd, &new_fd);
        if (r == -ENOENT) {
                /* A first delivery: make what is missing, then open again. */
                r = mkdir_at(AT_FDCWD, dir);
                if (r < 0)
                        return r;
                dir_fd = safe_close(dir_fd);
                dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (dir_fd < 0)
                        return -errno;
                for (const char *const *s = (const char *const[]) { "tmp", "new", "cur", NULL };
                     *s; s++) {
                        r = mkdir_at(dir_fd, *s);
                        if (r < 0)
                                return r;
                }
                dir_fd = safe_close(dir_fd);
                tmp_fd = safe_close(tmp_fd);
                r = maildir_open(dir, &dir_fd, &tmp_fd, &new_fd);
        }
        if (r < 0)
                return r;

        /* Maildir++ unique name: seconds, then M<usec>P<pid>R<random> so that two deliveries
         * of one process in one microsecond (or a reused pid) still differ, then the host and
         * the size, which Dovecot reads for quota (",S="). */
        maildir_host(host, sizeof(host));
        for (unsigned attempt = 0;; attempt++) {
                if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != sizeof(rnd))
                        rnd ^= (uint64_t) attempt * UINT64_C(0x9e3779b97f4a7c15) +
                               (uint64_t) (uintptr_t) &rnd;
                (void) clock_gettime(CLOCK_REALTIME, &ts);
                (void) snprintf(name, sizeof(name), "%lld.M%ldP%dR%016llx.%s,S=%llu",
                                (long long) ts.tv_sec, (long) (ts.tv_nsec / 1000),
                                (int) getpid(), (unsigned long long) rnd, host,
                                (unsigned long long) size);
                fd = openat(tmp_fd, name,
                            O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
                if (fd >= 0)
                        break;
                if (errno != EEXIST || attempt >= 8)
                        return -errno;
        }

        r = maildir_write(fd, f, hdr, hdr_len);
        if (r >= 0)
                r = NEG_ERRNO(close(TAKE_FD(fd)));
        if (r < 0) {
                (void) unlinkat(tmp_fd, name, 0);
                return r;
        }

        /* link() keeps the tmp name until the new one exists; a file system without hard links
         * gets rename(), which is atomic too. */
        if (linkat(tmp_fd, name, new_fd, name, 0) >= 0)
                (void) unlinkat(tmp_fd, name, 0);
        else if (IN_SET(errno, EPERM, EOPNOTSUPP, ENOSYS, EMLINK)) {
                if (renameat(tmp_fd, name, new_fd, name) < 0) {
                        r = -errno;
                        (void) unlinkat(tmp_fd, name, 0);
                        return r;
                }
        } else {
                r = -errno;
                (void) unlinkat(tmp_fd, name, 0);
                return r;
        }

        /* One fsync per delivery (DESIGN.md), as Postfix's and Dovecot's Maildir writers do:
         * the file is durable before it gets its name in new/, and new/ is not synced. On a
         * journaled file system (ext4, XFS) that also holds the queue, the link is committed no
         * later than qmgr's removal of the queue file, which comes after it; a mailbox on
         * another file system, or one without a journal, keeps a window of a few seconds in
         * which a crash can lose the name after the queue file is gone. */
        if (ret_path) {
                if (asprintf(&path, "%s/new/%s", dir, name) < 0)
                        return -ENOMEM;
                *ret_path = TAKE_PTR(path);
        }
        return 0;
}

/* ---- mbox ---- */

/* Takes path.lock: created with O_EXCL; an existing lock older than
 * MAILBOX_DOTLOCK_STALE_USEC is removed once and the creation tried again. Returns 0 with
 * the lock's path, -EAGAIN when a live lock is there, -errno. */
static int dotlock_take(const char *path, char **ret_lock) {
        _cleanup_free_ char *lock = NULL;

        if (asprintf(&lock, "%s.lock", path) < 0)
                return -ENOMEM;

        for (unsigned attempt = 0; attempt < 2; attempt++) {
                struct timespec now;
                struct stat st;
                uint64_t mtime, t;
                int fd;

                fd = open(lock, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
                if (fd >= 0) {
                        (void) close(fd);
                        *ret_lock = TAKE_PTR(lock);
                        return 0;
                }
                if (errno != EEXIST)
                        return -errno;

                if (lstat(lock, &st) < 0) {
                        if (errno == ENOENT)
                                continue;       /* released meanwhile */
                        return -errno;
                }
                (void) clock_gettime(CLOCK_REALTIME, &now);
                t = (uint64_t) now.tv_sec * 1000000ULL + (uint64_t) now.tv_nsec / 1000;
                mtime = st.st_mtim.tv_sec < 0 ? 0 :
                        (uint64_t) st.st_mtim.tv_sec * 1000000ULL +
                        (uint64_t) st.st_mtim.tv_nsec / 1000;
                if (mtime > t || t - mtime < MAILBOX_DOTLOCK_STALE_USEC)
                        return -EAGAIN;
                /* Stale: its holder died. Remove it and try once more. */
                if (unlink(lock) < 0 && errno != ENOENT)
                        return -errno;
        }
        return -EAGAIN;
}

static void dotlock_release(char *lock) {
        if (!lock)
                return;
        (void) unlink(lock);
        free(lock);
}
DEFINE_PTR_CLEANUP(char *, dotlock_release);

/* The mbox writer: an output buffer and the ">From " quoting state across content pieces. */
typedef struct MboxOut {
        int fd;
        char *buf;
        size_t len;
        uint64_t written;               /* bytes added to the file so far */
        uint64_t room;                  /* bytes the size limit still allows; UINT64_MAX: none */
        int match;                      /* bytes of "From " matched at a line start, -1: none */
        char last;                      /* last content byte emitted, '\n' at first */
} MboxOut;

static int out_flush(MboxOut *o) {
        int r;

        if (o->len == 0)
                return 0;
        r = fileio_write_full(o->fd, o->buf, o->len);
        if (r < 0)
                return r;
        o->len = 0;
        return 0;
}

static int out_put(MboxOut *o, const char *p, size_t n) {
        int r;

        if (n > o->room - o->written)
                return -EFBIG;
        while (n > 0) {
                size_t k;

                if (o->len == MAILBOX_IO_CHUNK) {
                        r = out_flush(o);
                        if (r < 0)
                                return r;
                }
                k = MIN(n, (size_t) MAILBOX_IO_CHUNK - o->len);
                memcpy(o->buf + o->len, p, k);
                o->len += k;
                o->written += k;
                p += k;
                n -= k;
        }
        return 0;
}

/* Copies content bytes, quoting every line that starts with "From " as ">From " (the mbox
 * "From " line separates messages; Postfix quotes header and body lines alike). */
static int out_content(MboxOut *o, const char *p, size_t n) {
        static const char from[] = "From ";
        int r;

        for (size_t i = 0; i < n; i++) {
                char c = p[i];

                if (o->match >= 0) {
                        if (c == from[o->match]) {
                                o->match++;
                                if (o->match == 5) {
                                        r = out_put(o, ">From ", 6);
                                        if (r < 0)
                                                return r;
                                        o->match = -1;
                                        o->last = ' ';
                                }
                                continue;
                        }
                        /* Not "From ": emit the matched prefix as it was. */
                        r = out_put(o, from, (size_t) o->match);
                        if (r < 0)
                                return r;
                        o->match = -1;
                }

                /* Copy a run up to and including the next LF in one go. */
                const char *lf = memchr(p + i, '\n', n - i);
                size_t k = lf ? (size_t) (lf - (p + i)) + 1 : n - i;

                r = out_put(o, p + i, k);
                if (r < 0)
                        return r;
                o->last = p[i + k - 1];
                if (o->last == '\n')
                        o->match = 0;
                i += k - 1;
        }
        return 0;
}

static int out_content_end(MboxOut *o) {
        int r;

        if (o->match > 0) {
                r = out_put(o, "From ", (size_t) o->match);
                if (r < 0)
                        return r;
                o->last = 'F';
        }
        o->match = -1;
        if (o->last != '\n') {
                r = out_put(o, "\n", 1);
                if (r < 0)
                        return r;
        }
        /* The empty line that ends a message in an mbox. */
        return out_put(o, "\n", 1);
}

/* "From sender  Thu Nov 24 18:22:48 1986": two spaces and asctime() in local time, as Postfix
 * writes it. */
static int from_line_format(const MailboxEnvelope *e, char **ret, size_t *ret_len) {
        time_t t = (time_t) (e->arrival_usec / 1000000ULL);
        char date[64];
        struct tm tm;
        char *s;
        int n;

        if (!localtime_r(&t, &tm) || strftime(date, sizeof(date), "%a %b %e %H:%M:%S %Y",
                                               &tm) == 0)
                return -EINVAL;
        n = asprintf(&s, "From %s  %s\n", isempty(e->return_path) ? "MAILER-DAEMON" :
                     e->return_path, date);
        if (n < 0)
                return -ENOMEM;
        *ret = s;
        *ret_len = (size_t) n;
        return 0;
}

static int mbox_append(int fd, QueueFile *f, const MailboxEnvelope *e, uint64_t old_size,
                       uint64_t size_limit) {
        _cleanup_free_ char *hdr = NULL, *from = NULL, *chunk = NULL, *obuf = NULL;
        size_t hdr_len, from_len;
        uint64_t pos = 0, min;
        MboxOut o;
        int r;

        r = headers_format(e, &hdr, &hdr_len);
        if (r < 0)
                return r;
        r = from_line_format(e, &from, &from_len);
        if (r < 0)
                return r;

        /* Quoting only adds bytes: a message that cannot fit is refused before any write. */
        min = old_size + from_len + hdr_len + 1;
        if (__builtin_add_overflow(min, f->envelope->content_size, &min))
                return -EFBIG;
        if (size_limit > 0 && min > size_limit)
                return -EFBIG;

        chunk = malloc(MAILBOX_IO_CHUNK);
        obuf = malloc(MAILBOX_IO_CHUNK);
        if (!chunk || !obuf)
                return -ENOMEM;
        o = (MboxOut) {
                .fd = fd,
                .buf = obuf,
                .room = size_limit > 0 ? size_limit - old_size : UINT64_MAX,
                .match = -1,
                .last = '\n',
        };

        r = out_put(&o, from, from_len);
        if (r < 0)
                return r;
        r = out_put(&o, hdr, hdr_len);
        if (r < 0)
                return r;
        o.match = 0;
        for (;;) {
                ssize_t k = content_read(f, &pos, chunk, MAILBOX_IO_CHUNK);

                if (k < 0)
                        return (int) k;
                if (k == 0)
                        break;
                r = out_content(&o, chunk, (size_t) k);
                if (r < 0)
                        return r;
        }
        r = out_content_end(&o);
        if (r < 0)
                return r;
        r = out_flush(&o);
        if (r < 0)
                return r;

        return NEG_ERRNO(fsync(fd));
}

int mailbox_mbox_deliver(const char *path, QueueFile *f, const MailboxEnvelope *e,
                         unsigned locks, uint64_t size_limit) {
        _cleanup_(dotlock_releasep) char *lock = NULL;
        _cleanup_close_ int fd = -EBADF;
        struct stat st;
        off_t old_size;
        int r;

        assert(path);
        assert(f);
        assert(f->envelope);
        assert(e);

        if (locks & ~(unsigned) (MAILBOX_LOCK_FCNTL | MAILBOX_LOCK_DOTLOCK | MAILBOX_LOCK_FLOCK))
                return -EINVAL;

        if (locks & MAILBOX_LOCK_DOTLOCK) {
                r = dotlock_take(path, &lock);
                if (r < 0)
                        return r;
        }

        fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY |
                  O_NONBLOCK, 0600);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (S_ISDIR(st.st_mode))
                return -EISDIR;
        if (!S_ISREG(st.st_mode) || st.st_nlink > 1)
                return -EPERM;          /* a device, a fifo, or a hard link to elsewhere */

        if (locks & MAILBOX_LOCK_FCNTL) {
                struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };

                if (fcntl(fd, F_SETLK, &fl) < 0)
                        return IN_SET(errno, EAGAIN, EACCES) ? -EAGAIN : -errno;
        }
        if (locks & MAILBOX_LOCK_FLOCK)
                if (flock(fd, LOCK_EX | LOCK_NB) < 0)
                        return errno == EWOULDBLOCK ? -EAGAIN : -errno;

        /* The size under the locks: another writer may have appended before we got them. */
        old_size = lseek(fd, 0, SEEK_END);
        if (old_size < 0)
                return -errno;

        r = mbox_append(fd, f, e, (uint64_t) old_size, size_limit);
        if (r < 0) {
                /* Leave the mailbox as it was: no half message for a reader to trip over. A
                 * failing truncation cannot be reported better than the first error. */
                if (ftruncate(fd, old_size) < 0)
                        return r;
                return r;
        }
        r = NEG_ERRNO(close(TAKE_FD(fd)));
        if (r < 0)
                return r;
        return 0;
}

/* ---- Loop detection ---- */

/* Whether the logical header line (l, n) is "Delivered-To: address". */
static bool field_is_delivered_to(const char *l, size_t n, const char *address) {
        static const char name[] = "delivered-to:";
        size_t a = strlen(address);

        if (n < sizeof(name) - 1 || strncasecmp(l, name, sizeof(name) - 1) != 0)
                return false;
        l += sizeof(name) - 1;
        n -= sizeof(name) - 1;
        while (n > 0 && strchr(" \t\r\n", *l)) {
                l++;
                n--;
        }
        while (n > 0 && strchr(" \t\r\n", l[n - 1]))
                n--;
        return n == a && strncasecmp(l, address, a) == 0;
}

int mailbox_has_delivered_to(QueueFile *f, const char *address) {
        _cleanup_free_ char *chunk = NULL;
        /* A longer field cannot hold an address of at most QUEUE_VALUE_MAX bytes. */
        char line[QUEUE_VALUE_MAX + 64];
        size_t len = 0;
        bool overflow = false, eol = false;
        uint64_t pos = 0;

        assert(f);
        assert(f->envelope);
        assert(address);

        chunk = malloc(MAILBOX_IO_CHUNK);
        if (!chunk)
                return -ENOMEM;

        for (;;) {
                ssize_t k = content_read(f, &pos, chunk, MAILBOX_IO_CHUNK);

                if (k < 0)
                        return (int) k;
                if (k == 0)
                        break;

                for (ssize_t i = 0; i < k; i++) {
                        char c = chunk[i];

                        if (eol) {
                                eol = false;
                                if (c != ' ' && c != '\t') {
                                        /* The field ended at the LF before c. */
                                        if (!overflow &&
                                            field_is_delivered_to(line, len, address))
                                                return 1;
                                        len = 0;
                                        overflow = false;
                                        if (c == '\n')
                                                return 0;       /* end of the header */
                                }
                        }
                        if (c == '\n') {
                                if (len == 0 && !overflow)
                                        return 0;               /* empty first line */
                                eol = true;
                                continue;
                        }
                        if (len < sizeof(line))
                                line[len++] = c;
                        else
                                overflow = true;
                }
        }

        if (len > 0 && !overflow && field_is_delivered_to(line, len, address))
                return 1;
        return 0;
}

/* ---- Results ---- */

void mailbox_status_from_errno(int error, MailboxStatus *ret) {
        const char *dsn, *text;
        bool permanent = false;

        assert(ret);

        switch (abs(error)) {
        case 0:
                dsn = "2.0.0";
                text = NULL;
                break;
        case EDQUOT:
        case EFBIG:
                dsn = "5.2.2";
                text = "mailbox full";
                permanent = true;
                break;
        case ENOSPC:
                dsn = "4.3.0";
                text = "insufficient system storage";
                break;
        case EAGAIN:
                dsn = "4.2.0";
                text = "unable to lock mailbox";
                break;
        case EACCES:
        case EPERM:
                dsn = "4.2.0";
                text = "permission denied";
                break;
        case ELOOP:
        case EISDIR:
        case ENOTDIR:
                dsn = "4.2.0";
                text = "mailbox is not a regular file";
                break;
        case EINVAL:
                dsn = "4.3.5";
                text = "mail system configuration error";
                break;
        default:
                dsn = "4.3.0";
                text = "mail system error";
                break;
        }

        *ret = (MailboxStatus) { .permanent = permanent, .text = text };
        memcpy(ret->dsn, dsn, strlen(dsn) + 1);
}
