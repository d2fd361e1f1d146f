/* SPDX-License-Identifier: GPL-3.0-or-later */
/* local_deliver: mailbox and file delivery (local(8) "MAILBOX DELIVERY", "EXTERNAL FILE
 * DELIVERY"). The precedence for a user's mailbox is Postfix's: mailbox_transport_maps and
 * mailbox_transport (handed to another agent by local_pass.c, for users in passwd or not),
 * mailbox_command_maps, mailbox_command, home_mailbox (a name ending in '/' is a Maildir), then
 * the mbox file in mail_spool_directory. The writing itself is mailbox.h's (Maildir: tmp,
 * fsync, new; mbox: locks, "From " line and quoting, truncation on failure); this file chooses
 * the path and the user and runs the write in a child with that user's uid and gid
 * (local_user_run()).
 *
 * Root's mail is never written as root: it is delivered with default_privs' rights, as Postfix
 * does for commands. Spool mailboxes are created by the agent (the spool directory belongs to
 * root) with the user as owner and mode 0600 before the child appends to them; the child then
 * runs with the spool directory's group when that directory is group-writable, so that the
 * dotlock can be made, as mail delivery agents traditionally do with the "mail" group. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "local.h"
#include "log.h"
#include "mailbox.h"

int local_privs_user(const LocalState *st, LocalUser **ret) {
        const LocalUser *p = st->privs;
        LocalUser *u;
        int r;

        if (p && p->uid != 0) {
                u = calloc(1, sizeof(*u));
                if (!u)
                        return -ENOMEM;
                u->name = strdup(p->name);
                u->home = strdup(p->home);
                u->shell = strdup(p->shell);
                u->uid = p->uid;
                u->gid = p->gid;
                if (!u->name || !u->home || !u->shell) {
                        local_user_free(u);
                        return -ENOMEM;
                }
                *ret = u;
                return 0;
        }
        r = local_user_find(st->msg->settings->default_privs, ret);
        if (r < 0)
                return r;
        if (r == 0 || (*ret)->uid == 0) {
                if (r > 0)
                        *ret = local_user_free(*ret);
                return -ENOENT;
        }
        return 0;
}

typedef struct WriteJob {
        QueueFile *file;
        MailboxEnvelope env;
        const char *path;
        bool maildir;
        unsigned locks;
        uint64_t size_limit;
        const char *what;               /* "mailbox", "file: /x" */
} WriteJob;

static int write_job(void *userdata, LocalResult *ret) {
        WriteJob *j = userdata;
        MailboxStatus ms;
        int r;

        if (j->maildir)
                r = mailbox_maildir_deliver(j->path, j->file, &j->env, j->size_limit, NULL);
        else
                r = mailbox_mbox_deliver(j->path, j->file, &j->env, j->locks, j->size_limit);
        if (r >= 0) {
                local_result_set(ret, IPC_STATUS_SENT, "2.0.0", "delivered to %s", j->what);
                return 0;
        }
        mailbox_status_from_errno(r, &ms);
        local_result_set(ret, ms.permanent ? IPC_STATUS_BOUNCED : IPC_STATUS_DEFERRED, ms.dsn,
                         "cannot deliver to %s: %s: %s", j->what, strempty(ms.text),
                         strerror(-r));
        return 0;
}

static void job_init(WriteJob *j, const LocalState *st, bool delivered_to) {
        const IpcRcpt *rc = st->rcpt;

        *j = (WriteJob) {
                .file = st->msg->file,
                .env = {
                        .return_path = st->sender,
                        .delivered_to = rc->address,
                        .original_to = rc->original,
                        .arrival_usec = st->msg->file->envelope->arrival_usec,
                },
                .locks = st->msg->settings->mailbox_locks,
                .size_limit = st->msg->settings->mailbox_size_limit,
        };
        /* mailbox.h always adds Delivered-To:; prepend_delivered_header without "file" has no
         * effect here (a documented difference). */
        (void) delivered_to;
}

static int run_job(const LocalState *st, const LocalUser *u, WriteJob *j, gid_t gid) {
        LocalUser as = *u;
        LocalResult res;
        int r;

        as.gid = gid;
        r = local_user_run(&as, /* with_groups= */ false, 0, write_job, j, &res);
        if (r < 0)
                local_result_set(&res, IPC_STATUS_DEFERRED, "4.3.0",
                                 "cannot start a delivery process: %s", strerror(-r));
        local_outcome_add(st, &res, NULL);
        return 0;
}

int local_file_deliver(LocalState st, const LocalUser *u, const char *path) {
        _cleanup_free_ char *what = NULL;
        WriteJob j;
        size_t n = strlen(path);

        job_init(&j, &st, st.msg->settings->prepend_delivered & LOCAL_CLASS_FILE);
        j.path = path;
        j.maildir = n > 1 && path[n - 1] == '/';
        if (asprintf(&what, "file: %s", path) < 0)
                return -ENOMEM;
        j.what = what;
        return run_job(&st, u, &j, u->gid);
}

/* The spool mbox: created here (root may write the spool directory, the user may not) with
 * the user as its owner, never through a symbolic link. Returns the gid the writer runs with. */
static int spool_prepare(const char *dir, const char *path, const LocalUser *u, gid_t *ret_gid) {
        _cleanup_close_ int fd = -EBADF;
        struct stat st;

        if (stat(dir, &st) < 0)
                return -errno;
        *ret_gid = (st.st_mode & S_IWGRP) && !(st.st_mode & S_IWOTH) ? st.st_gid : u->gid;
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600);
        if (fd < 0)
                return errno == EEXIST ? 0 : -errno;
        if (fchown(fd, u->uid, u->gid) < 0)
                return -errno;
        return 0;
}

/* mailbox_transport_maps then mailbox_transport: 1 when one of them took the recipient. */
static int mailbox_transport_deliver(LocalState st, const char *name) {
        const LocalSettings *s = st.msg->settings;
        int r;

        if (s->mailbox_transport_maps) {
                _cleanup_free_ char *service = NULL;
                LocalResult res;

                r = dict_list_lookup(s->mailbox_transport_maps, name, &service);
                if (r < 0) {
                        local_result_set(&res, IPC_STATUS_DEFERRED, "4.3.0",
                                         "table lookup failure");
                        local_outcome_add(&st, &res, NULL);
                        return 1;
                }
                if (r > 0) {
                        r = local_pass_deliver(st, service, "mailbox_transport_maps");
                        return r < 0 ? r : 1;
                }
        }
        if (!isempty(s->mailbox_transport)) {
                r = local_pass_deliver(st, s->mailbox_transport, "mailbox_transport");
                return r < 0 ? r : 1;
        }
        return 0;
}

/* mailbox_command_maps then mailbox_command: 1 when one of them took the recipient. */
static int mailbox_command_deliver(LocalState st, const char *name, const LocalUser *u) {
        const LocalSettings *s = st.msg->settings;
        int r;

        if (s->mailbox_command_maps) {
                _cleanup_free_ char *command = NULL;
                LocalResult res;

                r = dict_list_lookup(s->mailbox_command_maps, name, &command);
                if (r < 0) {
                        local_result_set(&res, IPC_STATUS_DEFERRED, "4.3.0",
                                         "table lookup failure");
                        local_outcome_add(&st, &res, NULL);
                        return 1;
                }
                if (r > 0 && !isempty(command)) {
                        r = local_command_deliver(st, u, command);
                        return r < 0 ? r : 1;
                }
        }
        if (!isempty(s->mailbox_command)) {
                r = local_command_deliver(st, u, s->mailbox_command);
                return r < 0 ? r : 1;
        }
        return 0;
}

int local_mailbox_deliver(LocalState st, const char *name, const LocalUser *user) {
        const LocalSettings *s = st.msg->settings;
        _cleanup_(local_user_freep) LocalUser *privs = NULL;
        _cleanup_free_ char *path = NULL, *key = NULL, *dir = NULL;
        const LocalUser *u = user;
        LocalResult res;
        WriteJob j;
        gid_t gid;
        int r;

        assert(name);

        if (asprintf(&key, "mailbox:%s", name) < 0)
                return -ENOMEM;
        r = local_outcome_seen(st.out, s->dup_max, key);
        if (r != 0)
                return r < 0 ? r : 1;

        /* For every local recipient, whether or not passwd knows it (local(8)). */
        r = mailbox_transport_deliver(st, name);
        if (r != 0)
                return r;
        if (!user)
                return 0;

        /* Never as root: root's mailbox is written with default_privs' rights. */
        if (user->uid == 0 || user->gid == 0) {
                st.privs = NULL;
                r = local_privs_user(&st, &privs);
                if (r < 0) {
                        local_result_set(&res, IPC_STATUS_DEFERRED, "4.3.5",
                                         "mail system configuration error: default_privs");
                        local_outcome_add(&st, &res, NULL);
                        return 1;
                }
                u = privs;
        }

        r = mailbox_command_deliver(st, name, u);
        if (r != 0)
                return r;

        job_init(&j, &st, true);
        /* The user's own group, unless the spool directory's group owns the mailboxes. */
        gid = u->gid;
        if (!isempty(s->home_mailbox)) {
                size_t n = strlen(s->home_mailbox);

                if (asprintf(&path, "%s/%s", user->home, s->home_mailbox) < 0)
                        return -ENOMEM;
                j.maildir = s->home_mailbox[n - 1] == '/';
                j.what = j.maildir ? "maildir" : "mailbox";
        } else {
                dir = strdup(s->mail_spool_directory);
                if (!dir)
                        return -ENOMEM;
                if (asprintf(&path, "%s/%s", dir, user->name) < 0)
                        return -ENOMEM;
                j.maildir = dir[0] && dir[strlen(dir) - 1] == '/';
                j.what = j.maildir ? "maildir" : "mailbox";
                if (j.maildir) {
                        free(path);
                        if (asprintf(&path, "%s%s/", dir, user->name) < 0)
                                return -ENOMEM;
                } else {
                        r = spool_prepare(dir, path, u, &gid);
                        if (r < 0) {
                                local_result_set(&res, IPC_STATUS_DEFERRED, "4.2.0",
                                                 "cannot create mailbox %s: %s", path,
                                                 strerror(-r));
                                local_outcome_add(&st, &res, NULL);
                                return 1;
                        }
                }
        }
        j.path = path;
        r = run_job(&st, u, &j, gid);
        return r < 0 ? r : 1;
}
