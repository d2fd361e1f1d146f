/* SPDX-License-Identifier: GPL-3.0-or-later */
/* virtual_deliver: one qmgr request of the virtual agent. For each recipient, Postfix's
 * virtual(8) steps: loop detection by Delivered-To, the virtual_mailbox_maps lookup (the full
 * address, the address without its recipient_delimiter extension, then the "@domain"
 * catch-all), the owner from virtual_uid_maps / virtual_gid_maps (checked against
 * virtual_minimum_uid), then delivery under virtual_mailbox_base: a result ending in "/" is
 * a Maildir, anything else an mbox file; missing directories below the base are made
 * (mode 0700, by the owner), as virtual(8) makes them. The delivery runs with the owner's
 * file system identity (setgroups, setfsgid, setfsuid; see deliver_as()), never as root or
 * as the agent's own user. The request's strings are untrusted values:
 * addresses are checked before they go into a table key, a path or a header. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "mailbox.h"
#include "parse.h"
#include "queue.h"
#include "service.h"
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

/* Where a delivery failed. */
typedef enum Stage {
        STAGE_CREDENTIALS,      /* the agent could not take the mailbox owner's identity */
        STAGE_DELIVERY,         /* the mailbox function's own result */
} Stage;

/* Creates the missing directories between the mailbox base (its first base_len bytes, which
 * must exist) and the last component of path, mode 0700, as virtual(8) does for
 * "example.com/bob/". Returns 0 or -errno. */
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

/* The file system identity every path operation of a delivery is checked and owned with. */
typedef struct FsIdentity {
        uid_t uid;
        gid_t gid;
        gid_t *groups;          /* supplementary groups, owned */
        int n_groups;
} FsIdentity;

static bool fs_identity_is(uid_t uid, gid_t gid) {
        /* With an id it cannot take, setfs[ug]id() changes nothing and returns the current
         * one. */
        return (uid_t) setfsuid((uid_t) -1) == uid && (gid_t) setfsgid((gid_t) -1) == gid;
}

/* The agent's own identity, read once: nothing but deliver_as() changes it, and that puts it
 * back after each delivery. */
static FsIdentity own_identity;
static bool own_identity_known;

static int fs_identity_own(const FsIdentity **ret) {
        int n;

        if (!own_identity_known) {
                FsIdentity id = { .uid = geteuid(), .gid = getegid() };

                n = getgroups(0, NULL);
                if (n < 0)
                        return -errno;
                id.groups = calloc((size_t) n + 1, sizeof(gid_t));
                if (!id.groups)
                        return -ENOMEM;
                n = getgroups(n, id.groups);
                if (n < 0) {
                        free(id.groups);
                        return -errno;
                }
                id.n_groups = n;
                own_identity = id;
                own_identity_known = true;
        }
        *ret = &own_identity;
        return 0;
}

/* Takes uid, gid and {gid} as the file system identity. Returns 0 or -errno (-EPERM when the
 * kernel did not switch). */
static int fs_identity_take(uid_t uid, gid_t gid) {
        if (setgroups(1, &gid) < 0)
                return -errno;
        (void) setfsgid(gid);
        (void) setfsuid(uid);
        return fs_identity_is(uid, gid) ? 0 : -EPERM;
}

/* Goes back to the agent's own identity. An agent that cannot must not serve another
 * request with the wrong one: it exits, and qmgr defers what it had asked for. */
static void fs_identity_restore(const FsIdentity *own) {
        (void) setfsuid(own->uid);
        (void) setfsgid(own->gid);
        if (setgroups((size_t) own->n_groups, own->groups) < 0 ||
            !fs_identity_is(own->uid, own->gid)) {
                log_error("cannot return to uid %u gid %u after a delivery, exiting",
                          (unsigned) own->uid, (unsigned) own->gid);
                exit(EXIT_FAILURE);
        }
}

/* Delivers with the owner's file system identity (setfsuid/setfsgid, the owner's group as the
 * only supplementary one), as Postfix's virtual(8) switches its effective ids, in this
 * process: a fork per delivery was a quarter of the agent's CPU time. Every path lookup,
 * permission check and created file of the delivery is the owner's; the queue file was opened
 * before the switch. An agent that already runs as the owner (tests, a per-user setup) keeps
 * its credentials. Returns 0 or -errno, with the stage that failed in *ret_stage. */
static int deliver_as(uid_t uid, gid_t gid, const char *path, bool maildir, QueueFile *f,
                      const MailboxEnvelope *e, const VirtualSettings *s, Stage *ret_stage) {
        const FsIdentity *own;
        bool switched;
        int r;

        *ret_stage = STAGE_CREDENTIALS;
        r = fs_identity_own(&own);
        if (r < 0)
                return r;
        switched = own->uid != uid || own->gid != gid;
        if (switched)
                r = fs_identity_take(uid, gid);
        if (r == 0) {
                *ret_stage = STAGE_DELIVERY;
                /* The directories below the base are made when a delivery finds one missing. */
                for (unsigned attempt = 0;; attempt++) {
                        if (maildir)
                                r = mailbox_maildir_deliver(path, f, e, s->mailbox_limit, NULL);
                        else
                                r = mailbox_mbox_deliver(path, f, e, s->locks,
                                                         s->mailbox_limit);
                        if (r != -ENOENT || attempt > 0)
                                break;
                        r = mkdir_parents(path, strlen(s->mailbox_base));
                        if (r < 0)
                                break;
                }
        }
        if (switched)
                fs_identity_restore(own);
        return r;
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
        Outcome whole = {};
        char why[256];
        int r;

        assert(s);
        assert(req);
        assert(out);

        /* The file the request names; a problem with it defers every recipient. */
        r = service_request_file(s->queue_directory, req, &f, why, sizeof(why));
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                outcome_set(&whole, IPC_STATUS_DEFERRED, "4.3.0", "%s", why);

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
        return 0;
}
