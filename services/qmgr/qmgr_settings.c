/* SPDX-License-Identifier: GPL-3.0-or-later */
/* qmgr_settings: main.cf → QmgrSettings, once at start and on SIGHUP. Per-transport knobs
 * (<transport>_destination_concurrency_limit, <transport>_destination_recipient_limit) are
 * looked up by name when a transport is first used, as Postfix does. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errmsg.h"
#include "qmgr.h"

QmgrSettings *qmgr_settings_free(QmgrSettings *s) {
        if (!s)
                return NULL;
        free(s->queue_directory);
        free(s->run_directory);
        free(s->myhostname);
        strv_free(s->defer_transports);
        rewrite_settings_free(s->rewrite);
        config_free(s->config);
        return mfree(s);
}

unsigned qmgr_settings_transport_uint(QmgrSettings *s, const char *transport, const char *name,
                                      unsigned fallback) {
        char key[128];
        int64_t v;

        snprintf(key, sizeof(key), "%s_%s", transport, name);
        if (config_get(s->config, key) && config_get_int(s->config, key, &v) >= 0 && v >= 0 &&
            v <= UINT32_MAX)
                return (unsigned) v;
        snprintf(key, sizeof(key), "default_%s", name);
        if (config_get_int(s->config, key, &v) >= 0 && v >= 0 && v <= UINT32_MAX)
                return (unsigned) v;
        return fallback;
}

static int load(QmgrSettings *s, char **ret_error) {
        Config *c = s->config;
        _cleanup_(strv_freep) char **classes = NULL;
        int r;

        r = config_read_strdup(c, "queue_directory", &s->queue_directory, ret_error);
        if (r < 0)
                return r;
        r = config_read_strdup(c, "myhostname", &s->myhostname, ret_error);
        if (r < 0)
                return r;
        s->run_directory = config_runtime_dir();
        if (!s->run_directory)
                return -ENOMEM;

        r = config_read_usec(c, "queue_run_delay", &s->queue_run_delay_usec, ret_error);
        if (r >= 0)
                r = config_read_usec(c, "minimal_backoff_time", &s->minimal_backoff_usec,
                                     ret_error);
        if (r >= 0)
                r = config_read_usec(c, "maximal_backoff_time", &s->maximal_backoff_usec,
                                     ret_error);
        if (r >= 0)
                r = config_read_usec(c, "maximal_queue_lifetime",
                                     &s->maximal_queue_lifetime_usec, ret_error);
        if (r >= 0)
                r = config_read_usec(c, "bounce_queue_lifetime",
                                     &s->bounce_queue_lifetime_usec, ret_error);
        if (r >= 0)
                r = config_read_usec(c, "delay_warning_time", &s->delay_warning_usec, ret_error);
        if (r >= 0)
                r = config_read_usec(c, "max_idle", &s->max_idle_usec, ret_error);
        if (r >= 0)
                r = config_read_unsigned(c, "qmgr_message_active_limit", 0, UINT32_MAX,
                                         &s->message_active_limit, ret_error);
        if (r >= 0)
                r = config_read_unsigned(c, "initial_destination_concurrency", 0, UINT32_MAX,
                                         &s->initial_concurrency, ret_error);
        if (r >= 0)
                r = config_read_unsigned(c, "default_process_limit", 0, UINT32_MAX,
                                         &s->process_limit, ret_error);
        if (r < 0)
                return r;
        if (s->minimal_backoff_usec == 0 || s->maximal_backoff_usec < s->minimal_backoff_usec)
                return errmsg_set(ret_error, -EINVAL, "minimal_backoff_time must be > 0 and <= "
                                                      "maximal_backoff_time");
        s->message_active_limit = MAX(s->message_active_limit, 1u);
        s->initial_concurrency = MAX(s->initial_concurrency, 1u);
        s->process_limit = MAX(s->process_limit, 1u);
        /* Postfix's agents have daemon_timeout (5 h) to finish a delivery. */
        s->agent_timeout_usec = UINT64_C(18000) * 1000000;

        r = config_read_bool(c, "soft_bounce", &s->soft_bounce, ret_error);
        if (r >= 0)
                r = config_read_list(c, "defer_transports", &s->defer_transports, ret_error);
        if (r >= 0)
                r = config_read_list(c, "notify_classes", &classes, ret_error);
        if (r < 0)
                return r;
        for (char **k = classes; k && *k; k++)
                if (streq(*k, "bounce"))
                        s->notify_classes |= QMGR_NOTIFY_BOUNCE;
                else if (streq(*k, "delay"))
                        s->notify_classes |= QMGR_NOTIFY_DELAY;
                else if (streq(*k, "2bounce"))
                        s->notify_classes |= QMGR_NOTIFY_2BOUNCE;

        r = rewrite_settings_new(c, &s->rewrite, ret_error);
        if (r < 0)
                return r;
        return bounce_settings_load(c, &s->bounce, ret_error);
}

int qmgr_settings_load(const char *config_dir, char *const *overrides, QmgrSettings **ret,
                       char **ret_error) {
        _cleanup_(qmgr_settings_freep) QmgrSettings *s = NULL;
        int r;

        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        r = config_new_from_dir(config_dir, overrides, &s->config, ret_error);
        if (r < 0)
                return r;
        r = load(s, ret_error);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(s);
        return 0;
}
