/* SPDX-License-Identifier: GPL-3.0-or-later */
/* local: the local delivery agent (Postfix's local(8)). The pieces the request loop in main.c
 * calls: settings from main.cf (local_settings.c), the per-recipient switch (local_recipient.c:
 * domain, extension, Delivered-To loop, aliases, .forward, mailbox, luser_relay), alias and
 * .forward expansion (local_alias.c, local_forward.c), forwarding through the cleanup library
 * (local_forward.c), external commands (local_command.c), mailbox and file delivery through
 * mailbox.h (local_deliver.c), the hand-off of a recipient to another transport's agent for
 * mailbox_transport and fallback_transport (local_pass.c) and the uid switch every delivery runs
 * under (local_user.c).
 *
 * Trust: the request comes from qmgr but is still checked (ipc.h); the queue file, the message,
 * aliases values, :include: files and users' .forward files are input and bounded. Every write
 * to a mailbox, file or command runs in a child process with the recipient's (or
 * default_privs') uid and gid, never as root. */
#pragma once

#include <pwd.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "cleanup.h"
#include "config.h"
#include "dict.h"
#include "ipc.h"
#include "macro.h"
#include "queue.h"
#include "rewrite.h"

/* Recursion depth of alias, :include: and .forward expansion (Postfix bounces deeper ones). */
#define LOCAL_LEVEL_MAX 100U
/* Bytes of a :include: or .forward file read; more is an error. */
#define LOCAL_INCLUDE_FILE_MAX (1024U * 1024U)
/* Destinations remembered per recipient against duplicates (duplicate_filter_limit). */
#define LOCAL_DUP_MAX_DEFAULT 1000U
/* Bytes of a command's output kept for the diagnostic. */
#define LOCAL_COMMAND_OUTPUT_MAX 512U

/* The sources of a destination, for allow_mail_to_commands, allow_mail_to_files and
 * prepend_delivered_header ("alias, forward, include"; "command, file, forward"). */
typedef enum LocalClass {
        LOCAL_CLASS_ALIAS = 1u << 0,
        LOCAL_CLASS_FORWARD = 1u << 1,
        LOCAL_CLASS_INCLUDE = 1u << 2,
        LOCAL_CLASS_COMMAND = 1u << 3,
        LOCAL_CLASS_FILE = 1u << 4,
} LocalClass;

/* Parses a class list ("alias, forward" or "command, file, forward"), names separated by commas
 * or white space, case-insensitive; allowed is the set of LocalClass bits accepted in it.
 * Returns 0 with *ret, -EINVAL for another name. Pure. */
int local_class_list_parse(const char *s, unsigned allowed, unsigned *ret);

typedef struct LocalSettings {
        Config *config;                 /* owned; never changed after loading */
        Config *expand;                 /* owned: a second copy, where local_expand() sets
                                         * $user, $home, ... (config_set() would invalidate
                                         * strings taken from config) */
        char *forward_filter;           /* forward_expansion_filter */
        char *queue_directory;
        char *myhostname;
        char *recipient_delimiter;      /* "" for none */
        DictList *alias_maps;           /* NULL when alias_maps is empty */
        char *alias_owner_path;         /* first file-backed alias table, for its owner */
        char *forward_path;             /* unexpanded */
        unsigned allow_commands;        /* LocalClass bits */
        unsigned allow_files;
        unsigned prepend_delivered;
        char *mailbox_command;          /* "" for none */
        DictList *mailbox_command_maps; /* NULL when empty */
        char *mailbox_transport;        /* "transport:nexthop", "" for none */
        DictList *mailbox_transport_maps;       /* NULL when empty */
        char *fallback_transport;       /* "transport:nexthop", "" for none */
        DictList *fallback_transport_maps;      /* NULL when empty */
        char *run_directory;            /* agent sockets: <run_directory>/<transport> */
        uint64_t pass_timeout_usec;     /* a hand-off to another agent (daemon_timeout) */
        char *home_mailbox;
        char *mail_spool_directory;
        unsigned mailbox_locks;         /* MailboxLock bits */
        uint64_t mailbox_size_limit;
        char *luser_relay;
        char *default_privs;
        char *command_shell;            /* local_command_shell, "" means /bin/sh -c */
        uint64_t command_time_limit_usec;
        bool owner_request_special;
        bool expand_owner_alias;
        uint64_t max_idle_usec;
        uint64_t ipc_timeout_usec;
        uint64_t max_use;
        uint64_t dup_max;
        RewriteSettings *rewrite;       /* owned */
        CleanupSettings cleanup;        /* strings point into config */
} LocalSettings;

/* Reads main.cf from dir with the -o overrides (NULL-terminated, may be NULL). Returns 0 with
 * *ret (free with local_settings_free()), or -errno with *ret_error (malloc'd) naming the
 * parameter. */
int local_settings_load(const char *dir, char **overrides, LocalSettings **ret, char **ret_error);
LocalSettings *local_settings_free(LocalSettings *s);
DEFINE_PTR_CLEANUP(LocalSettings *, local_settings_free);

/* A user whose rights a delivery runs with. Strings owned. */
typedef struct LocalUser {
        char *name;
        char *home;
        char *shell;
        uid_t uid;
        gid_t gid;
} LocalUser;

/* Looks a user up in the passwd database (getpwnam_r). Returns 1 with *ret (free with
 * local_user_free()), 0 when there is no such user, -errno on a lookup failure. */
int local_user_find(const char *name, LocalUser **ret);
/* The same by uid. */
int local_user_find_uid(uid_t uid, LocalUser **ret);
LocalUser *local_user_free(LocalUser *u);
DEFINE_PTR_CLEANUP(LocalUser *, local_user_free);

/* The outcome of one delivery or of a whole recipient. */
typedef struct LocalResult {
        IpcStatus status;
        char dsn[IPC_DSN_MAX + 1];
        char text[IPC_TEXT_MAX + 1];
} LocalResult;

/* Sets r to status, dsn and printf text. Returns status. */
IpcStatus local_result_set(LocalResult *r, IpcStatus status, const char *dsn,
                           const char *format, ...) _printf_(4, 5);

/* Runs fn(userdata, ret) in a child process that has dropped to u's uid and gid (initgroups
 * with u's name when with_groups, else only the primary group) and the result back through a
 * pipe. u must not be root (-EPERM). timeout_usec bounds the child (0: none): it is killed and
 * the result is a deferral "... time limit exceeded". Returns 0 with *ret filled (from the
 * child, or a deferral when the child died), -errno when the child could not be started. */
int local_user_run(const LocalUser *u, bool with_groups, uint64_t timeout_usec,
                   int (*fn)(void *userdata, LocalResult *ret), void *userdata,
                   LocalResult *ret);

/* One request being served: the settings, the open queue file, the request. */
typedef struct LocalMessage {
        const LocalSettings *settings;
        const IpcRequest *request;
        QueueFile *file;
        uint64_t start_usec;            /* CLOCK_REALTIME when the request arrived */
} LocalMessage;

/* What one recipient's expansion has done so far. */
typedef struct LocalOutcome {
        unsigned n_done;                /* destinations delivered, forwarded or skipped */
        unsigned n_forwarded;
        bool any_bounce;
        bool any_defer;
        LocalResult last;               /* the result to report: worst so far, else last */
        char relay[IPC_RELAY_MAX + 1];  /* where last went: "" for "local" */
        char **seen;                    /* destinations handled, against duplicates */
        size_t n_seen;
} LocalOutcome;

/* The state of one step of delivery, passed by value down the recursion as Postfix does. */
typedef struct LocalState {
        LocalMessage *msg;
        const IpcRcpt *rcpt;            /* the recipient of the request */
        const char *address;            /* what is being delivered now: user@domain */
        const char *sender;             /* the envelope sender ("" for <>), owner- changes it */
        unsigned level;
        unsigned source;                /* LocalClass of what the destination came from */
        const LocalUser *privs;         /* rights for commands and files; NULL: default_privs */
        LocalOutcome *out;
} LocalState;

/* Delivers one recipient of the request (the recursion entry point too): domain, extension,
 * aliases, .forward, mailbox, luser_relay. Records results in st.out. Returns 0, or -ENOMEM
 * and other failures that end the request. */
int local_recipient_deliver(LocalState st);
/* Records and logs the result of one terminal delivery of st.address. relay is where it went
 * (NULL: "local"), as the result line to qmgr and the log show it. */
void local_outcome_add(const LocalState *st, const LocalResult *r, const char *relay);
/* Records a result without logging it (another agent, which delivered, has logged it). */
void local_outcome_record(LocalOutcome *o, const LocalResult *r, const char *relay);
/* 1 when key was already handled for this recipient, else remembers it and returns 0;
 * -ENOMEM. Keys past dup_max are not remembered (duplicates may then happen, as Postfix). */
int local_outcome_seen(LocalOutcome *o, uint64_t max, const char *key);
void local_outcome_done(LocalOutcome *o);

/* Alias lookup of name (lower-case local part). Returns 1 when name is an alias and it was
 * expanded (results recorded), 0 when it is not an alias, < 0 on failure of the request. A
 * lookup error is a deferral, recorded, and returns 1. */
int local_alias_deliver(LocalState st, const char *name);
/* Delivers to an address found in an alias, a .forward or luser_relay: canonicalised, resolved
 * (rewrite.h); one for this transport is delivered here (recursion), any other is forwarded. */
int local_address_deliver(LocalState st, const char *address);
/* Expands text (forward_path, luser_relay) with $user $home $shell $recipient $extension $domain
 * $local $recipient_delimiter of st.address and the main.cf names; the substituted values pass
 * forward_expansion_filter (others become '_'). Returns 0 with *ret (malloc'd), -errno. */
int local_expand(const LocalState *st, const char *text, char **ret);
/* Delivers each item of an alias, :include: or .forward value as st.source says. Returns 0 or
 * a failure of the request. */
int local_items_deliver(LocalState st, const char *value);
/* .forward of user u (forward_path). Returns 1 when a .forward took the mail, 0 when there is
 * none, < 0 on failure of the request. */
int local_forward_deliver(LocalState st, const LocalUser *u);
/* Forwards the message to address through the cleanup library (a new queue file in incoming/,
 * Delivered-To added) and wakes qmgr. Records the result. Returns 0, or a failure of the
 * request. */
int local_forward_address(LocalState st, const char *address);
/* Pipes the message to command (through the shell) as user u. Records the result. */
int local_command_deliver(LocalState st, const LocalUser *u, const char *command);
/* Appends to the file path (mbox; Maildir when it ends in '/') as u. Records the result. */
int local_file_deliver(LocalState st, const LocalUser *u, const char *path);
/* Mailbox delivery of the recipient whose user name (local part without extension, lower case)
 * is name, and whose passwd entry is u (NULL: not in the passwd database), in local(8)'s order:
 * mailbox_transport_maps (looked up by name), mailbox_transport -- these two whether or not the
 * user exists -- then, for a passwd user only, mailbox_command_maps (by name),
 * mailbox_command, home_mailbox, and the mbox in mail_spool_directory. Returns 1 when the
 * recipient was handled (its result recorded), 0 when u is NULL and no mailbox transport took
 * it (the caller then tries the unknown-user steps), < 0 on a failure of the request. */
int local_mailbox_deliver(LocalState st, const char *name, const LocalUser *u);
/* The unknown-user steps for name (not an alias, not in passwd, no mailbox transport):
 * fallback_transport_maps (looked up by name), fallback_transport, luser_relay, else a bounce
 * "unknown user". Records the result. Returns 0, < 0 on a failure of the request. */
int local_unknown_deliver(LocalState st, const char *name);
/* local(8)'s deliver_pass(): hands st.address to the agent of another transport. service is a
 * "transport:nexthop" value (mailbox_transport, fallback_transport or a value of their maps;
 * without a nexthop the request's nexthop is used, as Postfix does); param names where it came
 * from, for messages. Connects to <run_directory>/<transport>, sends one request for this one
 * recipient (the same queue file, content, sender, DSN fields and flags; the address being
 * delivered, its original recipient, NOTIFY and ORCPT) and records the agent's result (status,
 * dsn, text, relay) as this recipient's; the agent logged its delivery. A bad value is a
 * deferral 4.3.5; an agent that cannot be reached, hangs up or answers nonsense a deferral
 * 4.3.0 "mail transport unavailable", logged, never a loss. Returns 0, -ENOMEM. */
int local_pass_deliver(LocalState st, const char *service, const char *param);
/* The user whose rights commands and files of st run with: st.privs, else default_privs.
 * Returns 0 with *ret (owned by the caller), -ENOENT when default_privs does not exist. */
int local_privs_user(const LocalState *st, LocalUser **ret);
/* Reads the regular file path with u's rights (in a child that switched to u; directly when u
 * is root), at most max bytes. Returns 0 with *ret (malloc'd, NUL-terminated, *ret_size bytes)
 * and *ret_owner (the file's uid); -ENOENT, -EACCES, -EFBIG past max, -EINVAL for a file that
 * is not regular, other -errno. */
int local_user_read_file(const LocalUser *u, const char *path, size_t max, char **ret,
                         size_t *ret_size, uid_t *ret_owner);
/* Splits address at its rightmost '@' into the lower-cased local part, the user (the local part
 * without its recipient_delimiter extension; owner-xxx and xxx-request are not split when
 * owner_request_special is set and '-' is a delimiter), the extension (NULL when none) and the
 * domain ("" when none). All malloc'd. Returns 0, -ENOMEM. Pure. */
int local_address_split(const LocalSettings *s, const char *address, char **ret_local,
                        char **ret_user, char **ret_extension, char **ret_domain);
