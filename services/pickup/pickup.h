/* SPDX-License-Identifier: GPL-3.0-or-later */
/* pickup: local submission (DESIGN.md, "Message flow" and "Security"). One instance per
 * connection on the public socket $RUNTIME_DIRECTORY/pickup (tern-pickup.socket, Accept=yes,
 * mode 0666). The client (sendmail, mailq) speaks pickup_proto.h's protocol; who it is comes
 * from SO_PEERCRED only. A submission runs the cleanup library with the local-submission rules
 * and lands in incoming/; "list" answers mailq's listing (the queue is 0700 tern, so any user
 * reads it through this service, as Postfix's showq); "flush" wakes qmgr (postqueue -f). */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "cleanup.h"
#include "config.h"
#include "dict.h"
#include "queue.h"
#include "rewrite.h"

typedef struct PickupSettings {
        Config *config;
        char *queue_directory;
        char *trigger_path;             /* <runtime dir>/qmgr */
        uint64_t message_size_limit;
        uint64_t line_length_limit;
        uint64_t header_size_limit;
        uint64_t timeout_usec;          /* reading the client, writing replies */
        char **submit_users;            /* authorized_submit_users */
        char **mailq_users;             /* authorized_mailq_users */
        char **flush_users;             /* authorized_flush_users */
        DictList *login_sender_maps;    /* local_login_sender_maps */
        char *empty_sender_key;         /* empty_address_local_login_sender_maps_lookup_key */
        RewriteSettings *rewrite;
        CleanupSettings cleanup;        /* strings point into config */
} PickupSettings;

/* Loads main.cf from config_dir with -o overrides. Returns 0, or a negative errno with
 * *ret_error (malloc'd) naming the parameter. */
int pickup_settings_load(const char *config_dir, char *const *overrides, PickupSettings **ret,
                         char **ret_error);
PickupSettings *pickup_settings_free(PickupSettings *s);
DEFINE_PTR_CLEANUP(PickupSettings *, pickup_settings_free);

/* Whether the user (name) is in a Postfix user list such as authorized_submit_users:
 * "static:anyone" matches everybody, "!name" excludes, a "type:table" matches the names it
 * has a value for, a plain word matches that name. Returns 1, 0, or a negative errno from a
 * table. */
int pickup_user_allowed(char *const *list, const char *user);

/* Whether user may use sender as envelope sender (local_login_sender_maps: the user's entry
 * lists the addresses they may use, "*" any, "<>" the null sender; empty_sender_key is the
 * lookup key for the null sender). Returns 1, 0, -errno. */
int pickup_sender_allowed(PickupSettings *s, const char *user, const char *sender);

/* Serves one connection: reads one request, answers it. uid/gid are the peer's (SO_PEERCRED).
 * Returns 0 when answered (success or a refusal the client heard), else the error that ended
 * the connection. */
int pickup_session_run(PickupSettings *s, int fd, uid_t uid);
