/* SPDX-License-Identifier: GPL-3.0-or-later */
/* pickup_settings: main.cf for pickup, and the user and sender authorisation checks
 * (authorized_*_users, local_login_sender_maps). main.cf is trusted. */
#include <string.h>

#include "pickup.h"

PickupSettings *pickup_settings_free(PickupSettings *s) {
        if (!s)
                return NULL;
        free(s->queue_directory);
        free(s->trigger_path);
        free(s->empty_sender_key);
        strv_free(s->submit_users);
        strv_free(s->mailq_users);
        strv_free(s->flush_users);
        dict_list_free(s->login_sender_maps);
        rewrite_settings_free(s->rewrite);
        config_free(s->config);
        free(s);
        return NULL;
}

static int canonical_cb(void *userdata, const char *address, char **ret) {
        return rewrite_canonical(userdata, address, ret);
}

int pickup_settings_load(const char *config_dir, char *const *overrides, PickupSettings **ret,
                         char **ret_error) {
        _cleanup_(pickup_settings_freep) PickupSettings *s = NULL;
        _cleanup_free_ char *run = NULL;
        uint64_t secs;
        int r;

        assert(config_dir);
        assert(ret);

        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        r = config_new_from_dir(config_dir, overrides, &s->config, ret_error);
        if (r < 0)
                return r;

        r = config_read_strdup(s->config, "queue_directory", &s->queue_directory, ret_error);
        if (r < 0)
                return r;
        run = config_runtime_dir();
        if (!run || asprintf(&s->trigger_path, "%s/qmgr", run) < 0)
                return -ENOMEM;
        r = config_read_size(s->config, "message_size_limit", &s->message_size_limit,
                             ret_error);
        if (r >= 0)
                r = config_read_uint64(s->config, "line_length_limit", 1, INT64_MAX,
                                       &s->line_length_limit, ret_error);
        if (r >= 0)
                r = config_read_uint64(s->config, "header_size_limit", 1, INT64_MAX,
                                       &s->header_size_limit, ret_error);
        if (r < 0)
                return r;
        r = config_get_time(s->config, "ipc_timeout", &secs);
        s->timeout_usec = (r < 0 || secs == 0 ? 3600 : secs) * UINT64_C(1000000);

        r = config_read_list(s->config, "authorized_submit_users", &s->submit_users,
                             ret_error);
        if (r >= 0)
                r = config_read_list(s->config, "authorized_mailq_users", &s->mailq_users,
                                     ret_error);
        if (r >= 0)
                r = config_read_list(s->config, "authorized_flush_users", &s->flush_users,
                                     ret_error);
        if (r >= 0)
                r = config_read_strdup(s->config,
                                       "empty_address_local_login_sender_maps_lookup_key",
                                       &s->empty_sender_key, ret_error);
        if (r >= 0)
                r = config_read_maps(s->config, "local_login_sender_maps", DICT_FLAG_NONE,
                                     &s->login_sender_maps, ret_error);
        if (r < 0)
                return r;

        r = rewrite_settings_new(s->config, &s->rewrite, ret_error);
        if (r < 0)
                return r;
        r = cleanup_settings_load(s->config, &s->cleanup, ret_error);
        if (r < 0)
                return r;
        s->cleanup.canonical = canonical_cb;
        s->cleanup.canonical_userdata = s->rewrite;
        s->cleanup.add_missing_headers = true;          /* a local submission */
        s->cleanup.rewrite_headers = true;              /* Postfix: local mail always */

        *ret = TAKE_PTR(s);
        return 0;
}

int pickup_user_allowed(char *const *list, const char *user) {
        for (char *const *e = list; e && *e; e++) {
                const char *item = *e;
                bool negate = item[0] == '!';
                int r;

                if (negate)
                        item++;
                if (streq(item, "static:anyone"))
                        return !negate;
                if (strchr(item, ':')) {
                        _cleanup_(dict_list_freep) DictList *l = NULL;
                        _cleanup_free_ char *v = NULL;

                        r = dict_list_open(item, DICT_FLAG_FOLD_CASE, &l, NULL);
                        if (r < 0)
                                return r;
                        r = dict_list_lookup(l, user, &v);
                        if (r < 0)
                                return r;
                        if (r > 0)
                                return !negate;
                } else if (streq(item, user))
                        return !negate;
        }
        return 0;
}

int pickup_sender_allowed(PickupSettings *s, const char *user, const char *sender) {
        _cleanup_free_ char *v = NULL;
        _cleanup_strv_free_ char **l = NULL;
        const char *want = isempty(sender) ? s->empty_sender_key : sender;
        int r;

        if (!s->login_sender_maps)
                return 0;               /* local_login_sender_maps is empty */
        r = dict_list_lookup(s->login_sender_maps, user, &v);
        if (r <= 0)
                return r;
        r = config_split_list(v, &l);
        if (r < 0)
                return r;
        for (char **e = l; e && *e; e++)
                if (streq(*e, "*") || strcasecmp(*e, want) == 0)
                        return 1;
        return 0;
}
