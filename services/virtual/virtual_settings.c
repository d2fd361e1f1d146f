/* SPDX-License-Identifier: GPL-3.0-or-later */
/* virtual_settings: the main.cf parameters of the virtual agent, with Postfix's names and
 * defaults (virtual(8)): virtual_mailbox_base, virtual_mailbox_maps, virtual_uid_maps,
 * virtual_gid_maps, virtual_minimum_uid, virtual_mailbox_limit, virtual_mailbox_lock, and the
 * agent's own queue_directory, recipient_delimiter, max_idle, max_use, ipc_timeout. main.cf
 * is the administrator's input: every value is checked here and a bad one stops the agent
 * with a message naming the parameter. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "errmsg.h"
#include "mailbox.h"
#include "virtual.h"

VirtualSettings *virtual_settings_free(VirtualSettings *s) {
        if (!s)
                return NULL;
        dict_list_free(s->mailbox_maps);
        dict_list_free(s->uid_maps);
        dict_list_free(s->gid_maps);
        config_free(s->config);
        return mfree(s);
}

static int get_string(Config *c, const char *name, const char **ret, char **ret_error) {
        _cleanup_free_ char *err = NULL;
        int r;

        r = config_expand(c, name, ret, &err);
        if (r < 0)
                return errmsg_set(ret_error, r, "%s: %s", name, err ? err : "cannot expand");
        return 0;
}

static int open_maps(Config *c, const char *name, DictList **ret, char **ret_error) {
        _cleanup_free_ char *err = NULL;
        const char *v;
        int r;

        r = get_string(c, name, &v, ret_error);
        if (r < 0)
                return r;
        *ret = NULL;
        if (isempty(v))
                return 0;
        r = dict_list_open(v, DICT_FLAGS_DEFAULT, ret, &err);
        if (r < 0)
                return errmsg_set(ret_error, r, "%s: %s", name,
                                  err ? err : "cannot open table");
        return 0;
}

int virtual_settings_load(const char *config_dir, char *const *overrides,
                          VirtualSettings **ret, char **ret_error) {
        _cleanup_(virtual_settings_freep) VirtualSettings *s = NULL;
        const char *lock;
        uint64_t secs;
        int64_t n;
        int r;

        assert(config_dir);
        assert(ret);

        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        r = config_new(&s->config);
        if (r < 0)
                return r;
        r = config_load_dir(s->config, config_dir, ret_error);
        if (r < 0)
                return r;
        for (char *const *o = overrides; o && *o; o++) {
                r = config_set_override(s->config, *o);
                if (r < 0)
                        return errmsg_set(ret_error, r, "-o %s: expected NAME=VALUE", *o);
        }

        r = get_string(s->config, "queue_directory", &s->queue_directory, ret_error);
        if (r < 0)
                return r;
        r = get_string(s->config, "virtual_mailbox_base", &s->mailbox_base, ret_error);
        if (r < 0)
                return r;
        r = get_string(s->config, "recipient_delimiter", &s->recipient_delimiter, ret_error);
        if (r < 0)
                return r;

        r = open_maps(s->config, "virtual_mailbox_maps", &s->mailbox_maps, ret_error);
        if (r < 0)
                return r;
        r = open_maps(s->config, "virtual_uid_maps", &s->uid_maps, ret_error);
        if (r < 0)
                return r;
        r = open_maps(s->config, "virtual_gid_maps", &s->gid_maps, ret_error);
        if (r < 0)
                return r;

        r = config_get_int(s->config, "virtual_minimum_uid", &n);
        if (r < 0 || n < 1)
                return errmsg_set(ret_error, r < 0 ? r : -ERANGE, "%s: bad value '%s'",
                                  "virtual_minimum_uid",
                                  strempty(config_get(s->config, "virtual_minimum_uid")));
        s->minimum_uid = (uint64_t) n;
        r = config_get_size(s->config, "virtual_mailbox_limit", &s->mailbox_limit);
        if (r < 0)
                return errmsg_set(ret_error, r, "%s: bad value '%s'", "virtual_mailbox_limit",
                                  strempty(config_get(s->config, "virtual_mailbox_limit")));
        r = get_string(s->config, "virtual_mailbox_lock", &lock, ret_error);
        if (r < 0)
                return r;
        r = mailbox_lock_from_string(lock, &s->locks);
        if (r < 0)
                return errmsg_set(ret_error, r, "%s: unknown lock method in '%s' (fcntl, flock, "
                                  "dotlock)", "virtual_mailbox_lock", lock);

        r = config_get_time(s->config, "max_idle", &secs);
        if (r < 0)
                return errmsg_set(ret_error, r, "%s: bad value '%s'", "max_idle",
                                  strempty(config_get(s->config, "max_idle")));
        s->max_idle_usec = secs * 1000000ULL;
        r = config_get_int(s->config, "max_use", &n);
        if (r < 0 || n < 0)
                return errmsg_set(ret_error, r < 0 ? r : -ERANGE, "%s: bad value '%s'",
                                  "max_use",
                                  strempty(config_get(s->config, "max_use")));
        s->max_use = (uint64_t) n;
        r = config_get_time(s->config, "ipc_timeout", &secs);
        if (r < 0)
                return errmsg_set(ret_error, r, "%s: bad value '%s'", "ipc_timeout",
                                  strempty(config_get(s->config, "ipc_timeout")));
        s->ipc_timeout_usec = secs * 1000000ULL;

        *ret = TAKE_PTR(s);
        return 0;
}
