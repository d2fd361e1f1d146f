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

static int get_time(Config *c, const char *name, uint64_t *ret, char **ret_error) {
        uint64_t sec;
        int r;

        r = config_get_time(c, name, &sec);
        if (r < 0 || sec > UINT64_MAX / 1000000)
                return errmsg_set(ret_error, r < 0 ? r : -ERANGE, "%s: bad time value '%s'",
                                  name, strempty(config_get(c, name)));
        *ret = sec * 1000000;
        return 0;
}

static int get_uint(Config *c, const char *name, unsigned *ret, char **ret_error) {
        int64_t v;
        int r;

        r = config_get_int(c, name, &v);
        if (r < 0 || v < 0 || v > UINT32_MAX)
                return errmsg_set(ret_error, r < 0 ? r : -ERANGE, "%s: bad value '%s'", name,
                                  strempty(config_get(c, name)));
        *ret = (unsigned) v;
        return 0;
}

static int get_string(Config *c, const char *name, char **ret, char **ret_error) {
        const char *v;
        int r;

        r = config_expand(c, name, &v, ret_error);
        if (r < 0)
                return r;
        *ret = strdup(strempty(v));
        return *ret ? 0 : -ENOMEM;
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

        r = get_string(c, "queue_directory", &s->queue_directory, ret_error);
        if (r < 0)
                return r;
        r = get_string(c, "myhostname", &s->myhostname, ret_error);
        if (r < 0)
                return r;
        s->run_directory = config_runtime_dir();
        if (!s->run_directory)
                return -ENOMEM;

        r = get_time(c, "queue_run_delay", &s->queue_run_delay_usec, ret_error);
        if (r >= 0)
                r = get_time(c, "minimal_backoff_time", &s->minimal_backoff_usec, ret_error);
        if (r >= 0)
                r = get_time(c, "maximal_backoff_time", &s->maximal_backoff_usec, ret_error);
        if (r >= 0)
                r = get_time(c, "maximal_queue_lifetime", &s->maximal_queue_lifetime_usec,
                             ret_error);
        if (r >= 0)
                r = get_time(c, "bounce_queue_lifetime", &s->bounce_queue_lifetime_usec,
                             ret_error);
        if (r >= 0)
                r = get_time(c, "delay_warning_time", &s->delay_warning_usec, ret_error);
        if (r >= 0)
                r = get_time(c, "max_idle", &s->max_idle_usec, ret_error);
        if (r >= 0)
                r = get_uint(c, "qmgr_message_active_limit", &s->message_active_limit,
                             ret_error);
        if (r >= 0)
                r = get_uint(c, "initial_destination_concurrency", &s->initial_concurrency,
                             ret_error);
        if (r >= 0)
                r = get_uint(c, "default_process_limit", &s->process_limit, ret_error);
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

        r = config_get_bool(c, "soft_bounce", &s->soft_bounce);
        if (r < 0)
                return errmsg_set(ret_error, r, "soft_bounce: bad value");
        r = config_get_list(c, "defer_transports", &s->defer_transports);
        if (r < 0)
                return errmsg_set(ret_error, r, "defer_transports: cannot expand");
        r = config_get_list(c, "notify_classes", &classes);
        if (r < 0)
                return errmsg_set(ret_error, r, "notify_classes: cannot expand");
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
        r = config_new(&s->config);
        if (r < 0)
                return errmsg_set(ret_error, r, "cannot set up the configuration");
        r = config_load_dir(s->config, config_dir, ret_error);
        if (r < 0)
                return r;
        for (char *const *o = overrides; o && *o; o++) {
                r = config_set_override(s->config, *o);
                if (r < 0)
                        return errmsg_set(ret_error, r, "-o %s: not name=value", *o);
        }
        r = load(s, ret_error);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(s);
        return 0;
}
