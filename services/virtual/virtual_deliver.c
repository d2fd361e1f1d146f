/* SPDX-License-Identifier: GPL-3.0-or-later */
/* virtual_deliver: one qmgr request of the virtual agent. For each recipient, Postfix's
 * virtual(8) steps: loop detection by Delivered-To, the virtual_mailbox_maps lookup (the full
 * address, the address without its recipient_delimiter extension, then the "@domain"
 * catch-all), the owner from virtual_uid_maps / virtual_gid_maps (checked against
 * virtual_minimum_uid), then delivery under virtual_mailbox_base: a result ending in "/" is
 * a Maildir, anything else an mbox file; missing directories below the base are made
 * (mode 0700, by the owner), as virtual(8) makes them. The delivery runs in a child that has dropped to the
 * owner's uid and gid (setgroups, setresgid, setresuid) and reports its result through a
 * pipe; the agent never writes a mailbox as root. The request's strings are untrusted values:
 * addresses are checked before they go into a table key, a path or a header. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "mailbox.h"
#include "parse.h"
#include "queue.h"
#include "virtual.h"

#define VIRTUAL_RELAY "virtual"

static uint64_t now_usec(clockid_t clock) {
        struct timespec ts;

        (void) clock_gettime(clock, &ts);
        return (uint64_t) ts.tv_sec * 1000000ULL + (uint64_t) ts.tv_nsec / 1000;
}

/* A recipient address fit for a table key, a path under the mailbox base and a header:
 * printable, no white space, one '@' with a domain after it. */
static bool address_ok(const char *a) {
        const char *at = strrchr(a, '@');

        if (!at || at == a || at[1] == '\0')
                return false;
        for (const char *p = a; *p; p++)
                if ((unsigned char) *p <= 0x20 || (unsigned char) *p == 0x7f)
                        return false;
        return true;
}

/* Looks address up as virtual(8) does: "user@domain", "user@domain" without the extension
 * after recipient_delimiter, then "@domain". Returns 1 with the value, 0 not found, -errno. */
static int maps_lookup(DictList *maps, const char *address, const char *delim, char **ret) {
        _cleanup_free_ char *base = NULL, *catchall = NULL;
        const char *at = strrchr(address, '@');
        int r;

        if (!maps)
                return 0;
        r = dict_list_lookup(maps, address, ret);
        if (r != 0)
                return r;

        if (!isempty(delim)) {
                size_t n = strcspn(address, delim);

                if (address + n < at) {
                        if (asprintf(&base, "%.*s%s", (int) n, address, at) < 0)
                                return -ENOMEM;
                        r = dict_list_lookup(maps, base, ret);
                        if (r != 0)
                                return r;
                }
        }

        catchall = strdup(at);
        if (!catchall)
                return -ENOMEM;
        return dict_list_lookup(maps, catchall, ret);
}

/* A recipient's outcome. */
typedef struct Outcome {
        IpcStatus status;
        char dsn[IPC_DSN_MAX + 1];
        char text[IPC_TEXT_MAX + 1];
} Outcome;

static void outcome_set(Outcome *o, IpcStatus status, const char *dsn, const char *fmt, ...)
        _printf_(4, 5);
static void outcome_set(Outcome *o, IpcStatus status, const char *dsn, const char *fmt, ...) {
        va_list ap;

        o->status = status;
        (void) snprintf(o->dsn, sizeof(o->dsn), "%s", dsn);
        va_start(ap, fmt);
        (void) vsnprintf(o->text, sizeof(o->text), fmt, ap);
        va_end(ap);
}

static void outcome_from_errno(Outcome *o, int error, const char *what) {
        MailboxStatus st;

        mailbox_status_from_errno(error, &st);
        outcome_set(o, st.permanent ? IPC_STATUS_BOUNCED : IPC_STATUS_DEFERRED, st.dsn,
                    "%s: %s", what, st.text);
}

static int id_lookup(DictList *maps, const char *address, const char *delim,
                     uint64_t *ret) {
        _cleanup_free_ char *v = NULL;
        int r;

        r = maps_lookup(maps, address, delim, &v);
        if (r <= 0)
                return r;
        r = parse_uint64(v, ret);
        if (r < 0 || *ret > (uint64_t) (uid_t) -2)
                return -EINVAL;
        return 1;
}

/* Where a delivery in a child failed. */
typedef enum Stage {
        STAGE_PROCESS,          /* pipe, fork, or the child died without a report */
        STAGE_CREDENTIALS,      /* the child could not become the mailbox owner */
        STAGE_DELIVERY,         /* the mailbox function's own result */
} Stage;

typedef struct ChildReport {
        int stage;              /* Stage */
        int error;              /* 0 or -errno */
} ChildReport;

/* Creates the missing directories between the mailbox base (its first base_len bytes, which
 * must exist) and the last component of path, mode 0700, as virtual(8) does for
 * "example.com/bob/". Returns 0 or -errno. */

/* The agent runs as tern with CAP_SETUID and CAP_SETGID (its unit grants them as ambient
 * capabilities). A switch between two non-root uids keeps capabilities, so the child clears them
 * itself: the mailbox is written with the owner's rights and nothing more. */
static int drop_capabilities(void) {
        struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
        struct __user_cap_data_struct d[2] = {};

        (void) prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
        if (syscall(SYS_capset, &h, d) < 0)
                return -errno;
        return 0;
}

static int mkdir_parents(const char *path, size_t base_len) {
        _cleanup_free_ char *p = strdup(path);

        if (!p)
                return -ENOMEM;
        for (char *slash = p + base_len; (slash = strchr(slash + 1, '/'));) {
                *slash = '\0';
                if (slash > p && slash[-1] != '/' && mkdir(p, 0700) < 0 && errno != EEXIST)
                        return -errno;
                *slash = '/';
        }
        return 0;
}

/* In the child: become uid/gid, deliver, report through the pipe. Never returns. */
_noreturn_ static void child_deliver(int pipe_fd, uid_t uid, gid_t gid, const char *path,
                                     bool maildir, QueueFile *f, const MailboxEnvelope *e,
                                     const VirtualSettings *s) {
        ChildReport rep = { .stage = STAGE_CREDENTIALS };

        /* An unprivileged agent that already runs as the owner (tests, a per-user setup)
         * keeps its credentials; anything else must switch, and a failed switch is final. */
        if (geteuid() != uid || getegid() != gid || getuid() != uid || getgid() != gid) {
                if (setgroups(1, &gid) < 0 || setresgid(gid, gid, gid) < 0 ||
                    setresuid(uid, uid, uid) < 0)
                        rep.error = -errno;
                else if (geteuid() != uid || getegid() != gid)
                        rep.error = -EPERM;
                else
                        rep.error = drop_capabilities();
        }
        if (rep.error == 0) {
                rep.stage = STAGE_DELIVERY;
                rep.error = mkdir_parents(path, strlen(s->mailbox_base));
        }
        if (rep.error == 0) {
                if (maildir)
                        rep.error = mailbox_maildir_deliver(path, f, e, s->mailbox_limit, NULL);
                else
                        rep.error = mailbox_mbox_deliver(path, f, e, s->locks,
                                                         s->mailbox_limit);
        }

        (void) !write(pipe_fd, &rep, sizeof(rep));
        _exit(0);
}

/* Delivers in a child with the owner's credentials. Returns 0 or -errno, with the stage that
 * failed in *ret_stage. */
static int deliver_as(uid_t uid, gid_t gid, const char *path, bool maildir, QueueFile *f,
                      const MailboxEnvelope *e, const VirtualSettings *s, Stage *ret_stage) {
        _cleanup_close_ int rfd = -EBADF, wfd = -EBADF;
        ChildReport rep = { .stage = STAGE_PROCESS, .error = -ECHILD };
        int fds[2], status;
        ssize_t k;
        pid_t pid;

        *ret_stage = STAGE_PROCESS;
        if (pipe2(fds, O_CLOEXEC) < 0)
                return -errno;
        rfd = fds[0];
        wfd = fds[1];

        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                rfd = safe_close(rfd);
                child_deliver(wfd, uid, gid, path, maildir, f, e, s);
        }
        wfd = safe_close(wfd);

        do
                k = read(rfd, &rep, sizeof(rep));
        while (k < 0 && errno == EINTR);

        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        if (k != (ssize_t) sizeof(rep) || !WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
            !IN_SET(rep.stage, STAGE_CREDENTIALS, STAGE_DELIVERY))
                return -ECHILD;
        *ret_stage = rep.stage;
        return rep.error;
}

static void recipient_handle(const VirtualSettings *s, const IpcRequest *req, QueueFile *f,
                             const IpcRcpt *rcpt, Outcome *o) {
        _cleanup_free_ char *value = NULL, *path = NULL;
        const char *addr = rcpt->address;
        uint64_t uid, gid;
        Stage stage;
        bool maildir;
        size_t n;
        int r;

        if (!address_ok(addr)) {
                outcome_set(o, IPC_STATUS_BOUNCED, "5.1.3", "bad address syntax");
                return;
        }

        r = mailbox_has_delivered_to(f, addr);
        if (r < 0) {
                outcome_set(o, IPC_STATUS_DEFERRED, "4.3.0", "cannot read queue file: %s",
                            strerror(-r));
                return;
        }
        if (r > 0) {
                outcome_set(o, IPC_STATUS_BOUNCED, "5.4.6", "mail forwarding loop for %s",
                            addr);
                return;
        }

        r = maps_lookup(s->mailbox_maps, addr, s->recipient_delimiter, &value);
        if (r < 0) {
                outcome_set(o, IPC_STATUS_DEFERRED, "4.3.0",
                            "virtual_mailbox_maps: table lookup failure");
                return;
        }
        if (r == 0) {
                outcome_set(o, IPC_STATUS_BOUNCED, "5.1.1", "unknown user: \"%s\"", addr);
                return;
        }

        r = id_lookup(s->uid_maps, addr, s->recipient_delimiter, &uid);
        if (r <= 0) {
                outcome_set(o, IPC_STATUS_DEFERRED, r == 0 ? "4.3.5" : "4.3.0",
                            "recipient %s: %s in virtual_uid_maps", addr,
                            r == 0 ? "uid not found" : r == -EINVAL ? "bad uid" :
                            "table lookup failure");
                return;
        }
        if (uid < s->minimum_uid) {
                outcome_set(o, IPC_STATUS_DEFERRED, "4.3.5",
                            "mail system configuration error: recipient %s: bad uid %llu in "
                            "virtual_uid_maps", addr, (unsigned long long) uid);
                return;
        }
        r = id_lookup(s->gid_maps, addr, s->recipient_delimiter, &gid);
        if (r <= 0 || gid == 0) {
                outcome_set(o, IPC_STATUS_DEFERRED, r == 0 ? "4.3.5" : "4.3.0",
                            "recipient %s: %s in virtual_gid_maps", addr,
                            r == 0 ? "gid not found" : r > 0 || r == -EINVAL ? "bad gid" :
                            "table lookup failure");
                return;
        }

        /* The table's value is the administrator's; it must still name something under the
         * base, not the base itself. */
        n = strlen(value);
        if (n == 0 || streq(value, "/") || strstr(value, "/../") || startswith(value, "../") ||
            (n >= 3 && streq(value + n - 3, "/..")) || streq(value, "..")) {
                outcome_set(o, IPC_STATUS_DEFERRED, "4.3.5",
                            "mail system configuration error: bad virtual_mailbox_maps value "
                            "for %s", addr);
                return;
        }
        maildir = value[n - 1] == '/';
        if (maildir)
                value[n - 1] = '\0';
        if (asprintf(&path, "%s%s%s", s->mailbox_base,
                     isempty(s->mailbox_base) || value[0] == '/' ? "" : "/", value) < 0) {
                outcome_set(o, IPC_STATUS_DEFERRED, "4.3.0", "out of memory");
                return;
        }

        if (req->flags & IPC_FLAG_VERIFY) {
                outcome_set(o, IPC_STATUS_DELIVERABLE, "2.0.0", "delivers to %s",
                            maildir ? "maildir" : "mailbox");
                return;
        }

        MailboxEnvelope e = {
                .return_path = req->sender,
                .delivered_to = addr,
                .original_to = rcpt->original,
                .arrival_usec = f->envelope->arrival_usec,
        };
        r = deliver_as((uid_t) uid, (gid_t) gid, path, maildir, f, &e, s, &stage);
        if (r == 0)
                outcome_set(o, IPC_STATUS_SENT, "2.0.0", "delivered to %s",
                            maildir ? "maildir" : "mailbox");
        else if (stage == STAGE_CREDENTIALS)
                outcome_set(o, IPC_STATUS_DEFERRED, "4.3.0",
                            "cannot switch to uid %llu gid %llu: %s", (unsigned long long) uid,
                            (unsigned long long) gid, strerror(-r));
        else if (stage == STAGE_PROCESS)
                outcome_set(o, IPC_STATUS_DEFERRED, "4.3.0", "delivery process failed: %s",
                            strerror(-r));
        else
                outcome_from_errno(o, r, maildir ? "maildir delivery failed" :
                                   "cannot update mailbox");
}


static void result_log(const IpcRequest *req, const QueueFile *f, const IpcRcpt *rcpt,
                       const Outcome *o) {
        log_delivery(req->id, rcpt->address, rcpt->original, VIRTUAL_RELAY,
                     f ? f->envelope->arrival_usec : 0, o->dsn, ipc_status_to_string(o->status),
                     o->text);
}

int virtual_request_handle(const VirtualSettings *s, const IpcRequest *req, Buf *out) {
        _cleanup_(queue_file_freep) QueueFile *f = NULL;
        _cleanup_free_ char *qdir = NULL;
        _cleanup_close_ int dir_fd = -EBADF;
        Outcome whole = {};
        int r;

        assert(s);
        assert(req);
        assert(out);

        /* The file the request names; a problem with it defers every recipient. */
        if (asprintf(&qdir, "%s/%s", s->queue_directory, queue_name_to_string(req->queue)) < 0)
                return -ENOMEM;
        dir_fd = open(qdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dir_fd < 0)
                r = -errno;
        else
                r = queue_file_open(dir_fd, req->id, /* for_update= */ false, NULL, &f);
        if (r < 0) {
                log_warning_errno(r, "%s: cannot open queue file in %s, deferring: %m",
                                  req->id, qdir);
                outcome_set(&whole, IPC_STATUS_DEFERRED, "4.3.0",
                            "cannot open queue file: %s", strerror(-r));
        } else if (f->envelope->content_offset != req->content_offset ||
                   f->envelope->content_size != req->content_size) {
                log_warning("%s: request does not match the queue file, deferring", req->id);
                outcome_set(&whole, IPC_STATUS_DEFERRED, "4.3.0",
                            "request does not match the queue file");
                f = queue_file_free(f);
        }

        for (size_t i = 0; i < req->n_rcpts; i++) {
                const IpcRcpt *rcpt = &req->rcpts[i];
                uint64_t start = now_usec(CLOCK_MONOTONIC);
                Outcome o = whole;

                if (f)
                        recipient_handle(s, req, f, rcpt, &o);
                /* An address probe reports what a delivery would do. */
                if ((req->flags & IPC_FLAG_VERIFY) && o.status == IPC_STATUS_BOUNCED)
                        o.status = IPC_STATUS_UNDELIVERABLE;
                result_log(req, f, rcpt, &o);
                r = ipc_result_format(rcpt->index, o.status, o.dsn, VIRTUAL_RELAY,
                                      now_usec(CLOCK_MONOTONIC) - start, o.text, out);
                if (r < 0)
                        return r;
        }
        return ipc_reply_end_format(out);
}
