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

int virtual_settings_load(const char *config_dir, char *const *overrides,
                          VirtualSettings **ret, char **ret_error) {
        _cleanup_(virtual_settings_freep) VirtualSettings *s = NULL;
        const char *lock;
        Config *c;
        int r;

        assert(config_dir);
        assert(ret);

        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        r = config_new_from_dir(config_dir, overrides, &s->config, ret_error);
        if (r < 0)
                return r;
        c = s->config;

        r = config_expand(c, "queue_directory", &s->queue_directory, ret_error);
        if (r >= 0)
                r = config_expand(c, "virtual_mailbox_base", &s->mailbox_base, ret_error);
        if (r >= 0)
                r = config_expand(c, "recipient_delimiter", &s->recipient_delimiter, ret_error);
        if (r >= 0)
                r = config_read_maps(c, "virtual_mailbox_maps", DICT_FLAGS_DEFAULT,
                                     &s->mailbox_maps, ret_error);
        if (r >= 0)
                r = config_read_maps(c, "virtual_uid_maps", DICT_FLAGS_DEFAULT, &s->uid_maps,
                                     ret_error);
        if (r >= 0)
                r = config_read_maps(c, "virtual_gid_maps", DICT_FLAGS_DEFAULT, &s->gid_maps,
                                     ret_error);
        if (r >= 0)
                r = config_read_uint64(c, "virtual_minimum_uid", 1, INT64_MAX, &s->minimum_uid,
                                       ret_error);
        if (r >= 0)
                r = config_read_size(c, "virtual_mailbox_limit", &s->mailbox_limit, ret_error);
        if (r >= 0)
                r = config_expand(c, "virtual_mailbox_lock", &lock, ret_error);
        if (r < 0)
                return r;
        r = mailbox_lock_from_string(lock, &s->locks);
        if (r < 0)
                return errmsg_set(ret_error, r, "%s: bad value '%s' (fcntl, flock or dotlock)",
                                  "virtual_mailbox_lock", lock);

        r = config_read_usec(c, "max_idle", &s->max_idle_usec, ret_error);
        if (r >= 0)
                r = config_read_uint64(c, "max_use", 0, INT64_MAX, &s->max_use, ret_error);
        if (r >= 0)
                r = config_read_usec(c, "ipc_timeout", &s->ipc_timeout_usec, ret_error);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(s);
        return 0;
}
