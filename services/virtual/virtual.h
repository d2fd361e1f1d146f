/* SPDX-License-Identifier: GPL-3.0-or-later */
/* virtual: the virtual mailbox delivery agent (Postfix's virtual(8)). main.c takes the
 * connected socket from the service manager and runs the request loop; virtual_settings.c
 * reads main.cf; virtual_deliver.c answers one qmgr request: per recipient the
 * virtual_mailbox_maps lookup, uid/gid from virtual_uid_maps/virtual_gid_maps, and a
 * delivery into a Maildir or an mbox under virtual_mailbox_base in a child process that runs
 * with the mailbox owner's credentials. Requests come from qmgr over a private socket, but
 * are still parsed as untrusted input (ipc.h); queue files are only read. */
#pragma once

#include <stdint.h>
#include <sys/types.h>

#include "buf.h"
#include "config.h"
#include "dict.h"
#include "ipc.h"
#include "macro.h"

typedef struct VirtualSettings {
        Config *config;                 /* owned; the strings below point into it */
        const char *queue_directory;
        const char *mailbox_base;       /* virtual_mailbox_base */
        const char *recipient_delimiter;
        DictList *mailbox_maps;         /* NULL when empty */
        DictList *uid_maps;
        DictList *gid_maps;
        uint64_t minimum_uid;           /* virtual_minimum_uid */
        uint64_t mailbox_limit;         /* virtual_mailbox_limit, bytes, 0 none */
        unsigned locks;                 /* virtual_mailbox_lock, MailboxLock bits */
        uint64_t max_idle_usec;
        uint64_t max_use;               /* 0: no limit */
        uint64_t ipc_timeout_usec;
} VirtualSettings;

/* Reads DIR/main.cf (config_dir) with the -o overrides (NULL-terminated, may be NULL) and
 * opens the tables. Returns 0, or -errno with *ret_error (malloc'd) saying what is wrong. */
int virtual_settings_load(const char *config_dir, char *const *overrides,
                          VirtualSettings **ret, char **ret_error);
VirtualSettings *virtual_settings_free(VirtualSettings *s);
DEFINE_PTR_CLEANUP(VirtualSettings *, virtual_settings_free);

/* Handles one request: opens the queue file it names, delivers (or, with IPC_FLAG_VERIFY,
 * checks) each recipient, logs each result and appends one result line per recipient to out
 * (the request loop adds the end line). Per-recipient failures are results, not errors.
 * Returns 0, or -errno (-ENOMEM, -ENOBUFS from out) when no reply could be built. */
int virtual_request_handle(const VirtualSettings *s, const IpcRequest *req, Buf *out);
