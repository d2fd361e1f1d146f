/* SPDX-License-Identifier: GPL-3.0-or-later */
/* local_alias: alias_maps expansion and the items of alias, :include: and .forward values
 * (aliases(5), local(8) "SYSTEM-WIDE AND USER-LEVEL ALIASING", "DELIVERY RIGHTS"). An alias
 * value is split by alias.h; each item is an address (delivered here when it resolves to this
 * transport, else forwarded), a :include: file (read with the current rights, its items
 * expanded with its owner's rights unless that is root), a |command or a /file (allowed by
 * allow_mail_to_commands / allow_mail_to_files for the class the item came from, run with the
 * current rights: the alias database's owner, the :include: file's owner, the .forward's user,
 * else default_privs). An "owner-NAME" alias makes owner-NAME the sender of what NAME expands
 * to (expand_owner_alias: its value). Recursion is bounded (LOCAL_LEVEL_MAX) and every
 * destination is handled once per recipient; an alias met again in its own expansion is
 * delivered to the user instead. Values and included files are input: bounded and parsed by
 * alias.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "alias.h"
#include "local.h"
#include "log.h"

static void record(const LocalState *st, IpcStatus status, const char *dsn, const char *text) {
        LocalResult r;

        local_result_set(&r, status, dsn, "%s", text);
        local_outcome_add(st, &r, NULL);
}

int local_address_deliver(LocalState st, const char *address) {
        const LocalSettings *s = st.msg->settings;
        _cleanup_free_ char *canon = NULL;
        RewriteResult rr = {};
        int r;

        r = rewrite_canonical(s->rewrite, address, &canon);
        if (r == -EBADMSG) {
                record(&st, IPC_STATUS_BOUNCED, "5.1.3", "bad address syntax");
                return 0;
        }
        if (r < 0)
                return r;
        r = local_outcome_seen(st.out, s->dup_max, canon);
        if (r != 0)
                return r < 0 ? r : 0;

        r = rewrite_resolve(s->rewrite, canon, &rr);
        if (r < 0)
                return r;
        if (rr.flags & REWRITE_FLAG_FAIL)
                record(&st, IPC_STATUS_DEFERRED, "4.3.0", "address resolver failure");
        else if (rr.flags & REWRITE_FLAG_ERROR)
                record(&st, IPC_STATUS_BOUNCED, "5.1.3", "bad address syntax");
        else if (rr.cls == REWRITE_CLASS_LOCAL &&
                 streq(rr.transport, st.msg->request->transport)) {
                /* Ours: deliver in this process, as a new recipient with no inherited rights. */
                st.address = rr.recipient;
                st.level++;
                st.privs = NULL;
                r = local_recipient_deliver(st);
        } else
                r = local_forward_address(st, canon);
        rewrite_result_done(&rr);
        return r;
}

static int include_deliver(LocalState st, const char *path) {
        const LocalSettings *s = st.msg->settings;
        _cleanup_(local_user_freep) LocalUser *reader = NULL, *owner = NULL;
        _cleanup_free_ char *data = NULL, *key = NULL, *value = NULL;
        char text[LOG_SANITIZE_BUFSIZE + 64], p[LOG_SANITIZE_BUFSIZE];
        size_t n = 0, len = 0;
        uid_t uid;
        int r;

        log_sanitize(p, sizeof(p), path, strlen(path), LOG_SANITIZE_MAX);
        if (path[0] != '/') {
                snprintf(text, sizeof(text), ":include: file is not an absolute path: %s", p);
                record(&st, IPC_STATUS_BOUNCED, "5.3.5", text);
                return 0;
        }
        if (asprintf(&key, "include:%s", path) < 0)
                return -ENOMEM;
        r = local_outcome_seen(st.out, s->dup_max, key);
        if (r != 0)
                return r < 0 ? r : 0;

        r = local_privs_user(&st, &reader);
        if (r < 0) {
                record(&st, IPC_STATUS_DEFERRED, "4.3.5",
                       "mail system configuration error: default_privs");
                return 0;
        }
        r = local_user_read_file(reader, path, LOCAL_INCLUDE_FILE_MAX, &data, &len, &uid);
        if (r < 0) {
                snprintf(text, sizeof(text), "cannot open include file %s: %s", p,
                         strerror(-r));
                record(&st, r == -ENOENT ? IPC_STATUS_BOUNCED : IPC_STATUS_DEFERRED,
                       r == -ENOENT ? "5.3.0" : "4.3.0", text);
                return 0;
        }

        /* The file's lines are items, as the right-hand side of an alias; '#' lines are
         * comments. Joined with commas for alias_parse_value(). */
        value = malloc(len + 2);
        if (!value)
                return -ENOMEM;
        for (char *line = data, *next; line && *line; line = next) {
                size_t k;

                next = strchr(line, '\n');
                if (next)
                        *next++ = '\0';
                line += strspn(line, " \t\r");
                if (*line == '#' || *line == '\0')
                        continue;
                k = strlen(line);
                if (n > 0)
                        value[n++] = ',';
                memcpy(value + n, line, k);
                n += k;
        }
        value[n] = '\0';
        if (n == 0)
                return 0;

        if (uid != 0) {
                r = local_user_find_uid(uid, &owner);
                if (r < 0)
                        return r;
                if (r > 0)
                        st.privs = owner;
        }
        st.source = LOCAL_CLASS_INCLUDE;
        st.level++;
        return local_items_deliver(st, value);
}

int local_items_deliver(LocalState st, const char *value) {
        const LocalSettings *s = st.msg->settings;
        _cleanup_strv_free_ char **items = NULL;
        char text[LOG_SANITIZE_BUFSIZE + 64];
        int r;

        if (st.level > LOCAL_LEVEL_MAX) {
                char a[LOG_SANITIZE_BUFSIZE];

                log_sanitize(a, sizeof(a), st.address, strlen(st.address), LOG_SANITIZE_MAX);
                snprintf(text, sizeof(text), "mail forwarding loop for %s", a);
                record(&st, IPC_STATUS_BOUNCED, "5.4.6", text);
                return 0;
        }
        r = alias_parse_value(value, &items);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                record(&st, IPC_STATUS_DEFERRED, "4.3.5",
                       "mail system configuration error: bad alias or .forward value");
                return 0;
        }

        for (char **i = items; *i; i++) {
                _cleanup_(local_user_freep) LocalUser *u = NULL;
                _cleanup_free_ char *key = NULL;
                const char *target;
                AliasItemType t = alias_item_classify(*i, &target);

                switch (t) {
                case ALIAS_ITEM_ADDRESS:
                        r = local_address_deliver(st, target);
                        break;
                case ALIAS_ITEM_INCLUDE:
                        r = include_deliver(st, target);
                        break;
                case ALIAS_ITEM_COMMAND:
                case ALIAS_ITEM_FILE: {
                        bool cmd = t == ALIAS_ITEM_COMMAND;

                        if (!((cmd ? s->allow_commands : s->allow_files) & st.source)) {
                                record(&st, IPC_STATUS_BOUNCED, "5.7.1",
                                       cmd ? "mail to command is restricted"
                                           : "mail to file is restricted");
                                r = 0;
                                break;
                        }
                        if (asprintf(&key, "%s:%s", cmd ? "command" : "file", target) < 0)
                                return -ENOMEM;
                        r = local_outcome_seen(st.out, s->dup_max, key);
                        if (r != 0)
                                break;
                        r = local_privs_user(&st, &u);
                        if (r < 0) {
                                record(&st, IPC_STATUS_DEFERRED, "4.3.5",
                                       "mail system configuration error: default_privs");
                                r = 0;
                                break;
                        }
                        r = cmd ? local_command_deliver(st, u, target)
                                : local_file_deliver(st, u, target);
                        break;
                }
                default:
                        r = 0;
                        break;
                }
                if (r < 0)
                        return r;
        }
        return 0;
}

/* The owner of the alias database: commands and files in aliases run with its rights unless
 * it is root (then default_privs). */
static int alias_owner(const LocalSettings *s, LocalUser **ret) {
        _cleanup_free_ char *db = NULL;
        struct stat st;

        *ret = NULL;
        if (!s->alias_owner_path)
                return 0;
        if (asprintf(&db, "%s.db", s->alias_owner_path) < 0)
                return -ENOMEM;
        if (stat(db, &st) < 0 && stat(s->alias_owner_path, &st) < 0)
                return 0;
        if (st.st_uid == 0)
                return 0;
        return local_user_find_uid(st.st_uid, ret);
}

int local_alias_deliver(LocalState st, const char *name) {
        const LocalSettings *s = st.msg->settings;
        _cleanup_free_ char *value = NULL, *key = NULL, *owner_key = NULL, *owner = NULL;
        _cleanup_free_ char *sender = NULL;
        _cleanup_(local_user_freep) LocalUser *privs = NULL;
        int r;

        if (!s->alias_maps)
                return 0;
        if (asprintf(&key, "alias:%s", name) < 0)
                return -ENOMEM;
        /* An alias met again inside its own expansion is the user, not the alias. */
        for (size_t i = 0; i < st.out->n_seen; i++)
                if (streq(st.out->seen[i], key))
                        return 0;

        r = dict_list_lookup(s->alias_maps, name, &value);
        if (r < 0) {
                record(&st, IPC_STATUS_DEFERRED, "4.3.0", "alias database unavailable");
                return 1;
        }
        if (r == 0)
                return 0;
        r = local_outcome_seen(st.out, UINT64_MAX, key);
        if (r < 0)
                return r;

        /* owner-NAME: errors about NAME's expansion go to the owner (aliases(5)). */
        if (asprintf(&owner_key, "owner-%s", name) < 0)
                return -ENOMEM;
        r = dict_list_lookup(s->alias_maps, owner_key, &owner);
        if (r > 0) {
                _cleanup_strv_free_ char **items = NULL;
                const char *target = NULL;

                if (s->expand_owner_alias && alias_parse_value(owner, &items) >= 0 &&
                    items[0] && !items[1] &&
                    alias_item_classify(items[0], &target) == ALIAS_ITEM_ADDRESS)
                        r = rewrite_canonical(s->rewrite, target, &sender);
                else
                        r = rewrite_canonical(s->rewrite, owner_key, &sender);
                if (r == -ENOMEM)
                        return r;
                if (r >= 0)
                        st.sender = sender;
        }

        r = alias_owner(s, &privs);
        if (r < 0)
                return r;
        st.privs = privs;
        st.source = LOCAL_CLASS_ALIAS;
        st.level++;
        r = local_items_deliver(st, value);
        return r < 0 ? r : 1;
}
