/* SPDX-License-Identifier: GPL-3.0-or-later */
/* local_settings: main.cf -> LocalSettings. The agent is short-lived (max_idle, max_use), so it
 * reads main.cf once at start; a changed main.cf reaches the next instance, as Postfix's local
 * picks up changes. Everything is checked here so that a bad value is named at start. main.cf
 * is trusted as far as its owner is. */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "errmsg.h"
#include "ipc_client.h"
#include "local.h"
#include "mailbox.h"

static const struct {
        const char *name;
        unsigned bit;
} class_names[] = {
        { "alias", LOCAL_CLASS_ALIAS },
        { "forward", LOCAL_CLASS_FORWARD },
        { "include", LOCAL_CLASS_INCLUDE },
        { "command", LOCAL_CLASS_COMMAND },
        { "file", LOCAL_CLASS_FILE },
};

int local_class_list_parse(const char *s, unsigned allowed, unsigned *ret) {
        unsigned bits = 0;

        assert(s);
        assert(ret);

        while (*s) {
                size_t n;
                bool found = false;

                s += strspn(s, ", \t\r\n");
                n = strcspn(s, ", \t\r\n");
                if (n == 0)
                        break;
                for (size_t i = 0; i < ELEMENTSOF(class_names); i++)
                        if ((class_names[i].bit & allowed) &&
                            strlen(class_names[i].name) == n &&
                            strncasecmp(s, class_names[i].name, n) == 0) {
                                bits |= class_names[i].bit;
                                found = true;
                        }
                if (!found)
                        return -EINVAL;
                s += n;
        }
        *ret = bits;
        return 0;
}

LocalSettings *local_settings_free(LocalSettings *s) {
        if (!s)
                return NULL;
        free(s->queue_directory);
        free(s->myhostname);
        free(s->recipient_delimiter);
        dict_list_free(s->alias_maps);
        free(s->alias_owner_path);
        free(s->forward_path);
        free(s->mailbox_command);
        dict_list_free(s->mailbox_command_maps);
        free(s->mailbox_transport);
        dict_list_free(s->mailbox_transport_maps);
        free(s->fallback_transport);
        dict_list_free(s->fallback_transport_maps);
        free(s->run_directory);
        free(s->home_mailbox);
        free(s->mail_spool_directory);
        free(s->luser_relay);
        free(s->default_privs);
        free(s->command_shell);
        free(s->forward_filter);
        rewrite_settings_free(s->rewrite);
        config_free(s->expand);
        config_free(s->config);
        return mfree(s);
}

static int get_classes(Config *c, const char *name, unsigned allowed, unsigned *ret,
                       char **ret_error) {
        const char *v;
        int r;

        r = config_expand(c, name, &v, ret_error);
        if (r < 0)
                return r;
        r = local_class_list_parse(strempty(v), allowed, ret);
        if (r < 0)
                return errmsg_set(ret_error, r, "%s: unknown class in '%s'", name, v);
        return 0;
}

/* The file behind the first table of alias_maps whose type reads a file: its owner decides the
 * rights of commands and files in aliases (local(8) DELIVERY RIGHTS). */
static int find_alias_owner_path(const char *maps, char **ret) {
        _cleanup_free_ char *copy = strdup(maps);
        char *save = NULL;

        if (!copy)
                return -ENOMEM;
        for (char *t = strtok_r(copy, ", \t", &save); t; t = strtok_r(NULL, ", \t", &save)) {
                const char *name = strchr(t, ':');

                if (!name || name[1] != '/')
                        continue;
                if (startswith(t, "hash:") || startswith(t, "texthash:")) {
                        *ret = strdup(name + 1);
                        return *ret ? 1 : -ENOMEM;
                }
        }
        *ret = NULL;
        return 0;
}

static int canonical_cb(void *userdata, const char *address, char **ret) {
        return rewrite_canonical(userdata, address, ret);
}

static int load(LocalSettings *s, char **ret_error) {
        Config *c = s->config;
        _cleanup_free_ char *locks = NULL;
        const char *v;
        int r;

        r = config_read_strdup(c, "queue_directory", &s->queue_directory, ret_error);
        if (r >= 0)
                r = config_read_strdup(c, "myhostname", &s->myhostname, ret_error);
        if (r >= 0)
                r = config_read_strdup(c, "recipient_delimiter", &s->recipient_delimiter,
                                       ret_error);
        if (r >= 0)
                r = config_read_strdup(c, "mailbox_command", &s->mailbox_command, ret_error);
        if (r >= 0)
                r = config_read_strdup(c, "mailbox_transport", &s->mailbox_transport, ret_error);
        if (r >= 0)
                r = config_read_strdup(c, "fallback_transport", &s->fallback_transport, ret_error);
        if (r >= 0)
                r = config_read_maps(c, "mailbox_command_maps", DICT_FLAGS_DEFAULT,
                                     &s->mailbox_command_maps, ret_error);
        if (r >= 0)
                r = config_read_maps(c, "mailbox_transport_maps", DICT_FLAGS_DEFAULT,
                                     &s->mailbox_transport_maps, ret_error);
        if (r >= 0)
                r = config_read_maps(c, "fallback_transport_maps", DICT_FLAGS_DEFAULT,
                                     &s->fallback_transport_maps, ret_error);
        if (r >= 0)
                r = config_read_strdup(c, "home_mailbox", &s->home_mailbox, ret_error);
        if (r >= 0)
                r = config_read_strdup(c, "mail_spool_directory", &s->mail_spool_directory,
                                       ret_error);
        if (r >= 0)
                r = config_read_strdup(c, "luser_relay", &s->luser_relay, ret_error);
        if (r >= 0)
                r = config_read_strdup(c, "default_privs", &s->default_privs, ret_error);
        if (r >= 0)
                r = config_read_strdup(c, "local_command_shell", &s->command_shell, ret_error);
        if (r >= 0)
                r = config_read_strdup(c, "forward_expansion_filter", &s->forward_filter,
                                       ret_error);
        if (r >= 0)
                r = config_read_strdup(c, "mailbox_delivery_lock", &locks, ret_error);
        if (r < 0)
                return r;

        /* forward_path is expanded per recipient ($home, $user, ...), keep it raw. */
        v = config_get_raw(c, "forward_path");
        s->forward_path = strdup(strempty(v));
        if (!s->forward_path)
                return -ENOMEM;

        r = mailbox_lock_from_string(locks, &s->mailbox_locks);
        if (r < 0)
                return errmsg_set(ret_error, r, "%s: bad value '%s' (fcntl, flock or dotlock)",
                                  "mailbox_delivery_lock", locks);

        r = get_classes(c, "allow_mail_to_commands",
                        LOCAL_CLASS_ALIAS | LOCAL_CLASS_FORWARD | LOCAL_CLASS_INCLUDE,
                        &s->allow_commands, ret_error);
        if (r >= 0)
                r = get_classes(c, "allow_mail_to_files",
                                LOCAL_CLASS_ALIAS | LOCAL_CLASS_FORWARD | LOCAL_CLASS_INCLUDE,
                                &s->allow_files, ret_error);
        if (r >= 0)
                r = get_classes(c, "prepend_delivered_header",
                                LOCAL_CLASS_COMMAND | LOCAL_CLASS_FILE | LOCAL_CLASS_FORWARD,
                                &s->prepend_delivered, ret_error);
        if (r >= 0)
                r = config_read_usec(c, "command_time_limit", &s->command_time_limit_usec,
                                     ret_error);
        if (r >= 0)
                r = config_read_usec(c, "max_idle", &s->max_idle_usec, ret_error);
        if (r >= 0)
                r = config_read_usec(c, "ipc_timeout", &s->ipc_timeout_usec, ret_error);
        if (r >= 0)
                r = config_read_usec(c, "daemon_timeout", &s->pass_timeout_usec, ret_error);
        if (r < 0)
                return r;

        for (unsigned i = 0; i < 2; i++) {
                const char *name = i == 0 ? "mailbox_transport" : "fallback_transport";
                const char *value = i == 0 ? s->mailbox_transport : s->fallback_transport;
                _cleanup_free_ char *transport = NULL, *nexthop = NULL;

                if (isempty(value))
                        continue;
                r = ipc_client_service_split(value, NULL, &transport, &nexthop);
                if (r < 0)
                        return errmsg_set(ret_error, r, "%s: bad transport:nexthop '%s'", name,
                                          value);
        }

        /* The agents mailbox_transport and fallback_transport name listen where qmgr finds
         * them. */
        s->run_directory = config_runtime_dir();
        if (!s->run_directory)
                return -ENOMEM;

        r = config_read_bool(c, "owner_request_special", &s->owner_request_special, ret_error);
        if (r >= 0)
                r = config_read_bool(c, "expand_owner_alias", &s->expand_owner_alias, ret_error);
        if (r >= 0)
                r = config_read_size(c, "mailbox_size_limit", &s->mailbox_size_limit,
                                     ret_error);
        if (r >= 0)
                r = config_read_uint64(c, "max_use", 0, INT64_MAX, &s->max_use, ret_error);
        if (r >= 0)
                r = config_read_uint64(c, "duplicate_filter_limit", 0, INT64_MAX, &s->dup_max,
                                       ret_error);
        if (r < 0)
                return r;

        r = config_read_maps(c, "alias_maps", DICT_FLAGS_DEFAULT, &s->alias_maps, ret_error);
        if (r < 0)
                return r;
        if (s->alias_maps) {
                r = find_alias_owner_path(config_get(c, "alias_maps"), &s->alias_owner_path);
                if (r < 0)
                        return r;
        }

        r = rewrite_settings_new(c, &s->rewrite, ret_error);
        if (r < 0)
                return r;
        r = cleanup_settings_load(c, &s->cleanup, ret_error);
        if (r < 0)
                return r;
        s->cleanup.canonical = canonical_cb;
        s->cleanup.canonical_userdata = s->rewrite;
        /* A forwarded message is a new message of ours: headers are canonicalised as for a
         * local submission, but no headers are added (Postfix's cleanup for local(8)). */
        s->cleanup.rewrite_headers = true;
        s->cleanup.add_missing_headers = false;
        return 0;
}

int local_settings_load(const char *dir, char **overrides, LocalSettings **ret, char **ret_error) {
        _cleanup_(local_settings_freep) LocalSettings *s = NULL;
        int r;

        assert(dir);
        assert(ret);

        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        r = config_new_from_dir(dir, overrides, &s->config, ret_error);
        if (r >= 0)
                r = config_new_from_dir(dir, overrides, &s->expand, ret_error);
        if (r < 0)
                return r;
        r = load(s, ret_error);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(s);
        return 0;
}
