/* SPDX-License-Identifier: GPL-3.0-or-later */
/* smtp_settings: the main.cf parameters of the smtp and lmtp agents, with Postfix's names and
 * defaults: the smtp_* names for SMTP and the lmtp_* names for LMTP (smtp_helo_name becomes
 * lmtp_lhlo_name, smtp_tcp_port lmtp_tcp_port), plus the shared myhostname, inet_interfaces,
 * inet_protocols, disable_dns_lookups, queue_directory, max_idle, max_use and ipc_timeout, and
 * for the content: disable_mime_output_conversion and smtp_line_length_limit (lmtp_...).
 * main.cf is the administrator's input: a bad value stops the agent with a message naming the
 * parameter. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "errmsg.h"
#include "smtp.h"

SmtpSettings *smtp_settings_free(SmtpSettings *s) {
        if (!s)
                return NULL;
        strv_free(s->fallback_relays);
        strv_free(s->inet_interfaces);
        strv_free(s->cache_destinations);
        config_free(s->config);
        return mfree(s);
}

/* The parameter name for this mode: "smtp_x" or "lmtp_x". */
static const char *pname(const SmtpSettings *s, const char *suffix, char *buf, size_t size) {
        (void) snprintf(buf, size, "%s_%s", s->lmtp ? "lmtp" : "smtp", suffix);
        return buf;
}

static int load_protocols(SmtpSettings *s, char **ret_error) {
        _cleanup_strv_free_ char **l = NULL;
        bool v4 = false, v6 = false;
        int r;

        r = config_read_list(s->config, "inet_protocols", &l, ret_error);
        if (r < 0)
                return r;
        for (char **p = l; *p; p++) {
                if (streq(*p, "all"))
                        v4 = v6 = true;
                else if (streq(*p, "ipv4"))
                        v4 = true;
                else if (streq(*p, "ipv6"))
                        v6 = true;
                else
                        return errmsg_set(ret_error, -EINVAL, "inet_protocols: unknown "
                                          "protocol '%s' (all, ipv4, ipv6)", *p);
        }
        if (!v4 && !v6)
                return errmsg_set(ret_error, -EINVAL, "inet_protocols: no protocol");
        s->family = v4 && v6 ? AF_UNSPEC : v4 ? AF_INET : AF_INET6;
        return 0;
}

static int load_dns(SmtpSettings *s, char **ret_error) {
        static const char *const levels[] = { "disabled", "enabled", "dnssec" };
        _cleanup_strv_free_ char **lookup = NULL;
        bool disable;
        int level;
        char n[64];
        int r;

        r = config_read_bool(s->config, "disable_dns_lookups", &disable, ret_error);
        if (r >= 0)
                r = config_read_enum(s->config, pname(s, "dns_support_level", n, sizeof(n)),
                                     levels, ELEMENTSOF(levels), &level, ret_error);
        if (r < 0)
                return r;
        /* An explicit smtp_dns_support_level wins over disable_dns_lookups (postconf(5)). */
        s->dns = level < 0 ? !disable : level > 0;

        r = config_read_list(s->config, pname(s, "host_lookup", n, sizeof(n)), &lookup,
                             ret_error);
        if (r < 0)
                return r;
        for (char **p = lookup; *p; p++) {
                if (streq(*p, "dns"))
                        s->host_lookup_dns = true;
                else if (streq(*p, "native"))
                        s->host_lookup_native = true;
                else
                        return errmsg_set(ret_error, -EINVAL, "%s: unknown method '%s' (dns, "
                                          "native)", n, *p);
        }
        /* Without DNS, host names are looked up as the system does (/etc/hosts). */
        if (!s->dns) {
                s->host_lookup_dns = false;
                s->host_lookup_native = true;
        }
        if (!s->host_lookup_dns && !s->host_lookup_native)
                s->host_lookup_dns = true;
        return 0;
}

int smtp_settings_load(const char *config_dir, char *const *overrides, bool lmtp,
                       SmtpSettings **ret, char **ret_error) {
        _cleanup_(smtp_settings_freep) SmtpSettings *s = NULL;
        Config *c;
        char n[64];
        int r;

        assert(config_dir);
        assert(ret);

        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->lmtp = lmtp;
        r = config_new_from_dir(config_dir, overrides, &s->config, ret_error);
        if (r < 0)
                return r;
        c = s->config;

        r = config_expand(c, "queue_directory", &s->queue_directory, ret_error);
        if (r >= 0)
                r = config_expand(c, "myhostname", &s->myhostname, ret_error);
        if (r >= 0)
                r = config_expand(c, lmtp ? "lmtp_lhlo_name" : "smtp_helo_name", &s->helo_name,
                                  ret_error);
        if (r < 0)
                return r;
        if (isempty(s->helo_name))
                return errmsg_set(ret_error, -EINVAL, "%s: empty",
                                  lmtp ? "lmtp_lhlo_name" : "smtp_helo_name");
        r = config_read_list(c, pname(s, "fallback_relay", n, sizeof(n)), &s->fallback_relays,
                             ret_error);
        if (r >= 0)
                r = config_read_list(c, "inet_interfaces", &s->inet_interfaces, ret_error);
        if (r >= 0)
                r = load_protocols(s, ret_error);
        if (r >= 0)
                r = load_dns(s, ret_error);
        if (r >= 0)
                r = config_expand(c, pname(s, "bind_address", n, sizeof(n)), &s->bind_address,
                                  ret_error);
        if (r >= 0)
                r = config_expand(c, pname(s, "bind_address6", n, sizeof(n)),
                                  &s->bind_address6, ret_error);
        if (r >= 0)
                r = config_expand(c, pname(s, "tcp_port", n, sizeof(n)), &s->tcp_port,
                                  ret_error);
        if (r < 0)
                return r;
        if (isempty(s->tcp_port))
                return errmsg_set(ret_error, -EINVAL, "%s: empty", n);
        r = config_read_bool(c, pname(s, "skip_5xx_greeting", n, sizeof(n)),
                             &s->skip_5xx_greeting, ret_error);
        if (r >= 0)
                r = config_read_bool(c, pname(s, "connection_cache_on_demand", n, sizeof(n)),
                                     &s->cache_on_demand, ret_error);
        if (r >= 0)
                r = config_read_list(c, pname(s, "connection_cache_destinations", n, sizeof(n)),
                                     &s->cache_destinations, ret_error);
        if (r < 0)
                return r;

        static const struct {
                const char *suffix;
                size_t offset;
        } times[] = {
                { "connection_cache_time_limit",
                  offsetof(SmtpSettings, cache_time_limit_usec) },
                { "connection_reuse_time_limit",
                  offsetof(SmtpSettings, reuse_time_limit_usec) },
                { "connect_timeout", offsetof(SmtpSettings, connect_timeout_usec) },
                { "mail_timeout", offsetof(SmtpSettings, mail_timeout_usec) },
                { "rcpt_timeout", offsetof(SmtpSettings, rcpt_timeout_usec) },
                { "data_init_timeout", offsetof(SmtpSettings, data_init_timeout_usec) },
                { "data_xfer_timeout", offsetof(SmtpSettings, data_xfer_timeout_usec) },
                { "data_done_timeout", offsetof(SmtpSettings, data_done_timeout_usec) },
                { "rset_timeout", offsetof(SmtpSettings, rset_timeout_usec) },
                { "quit_timeout", offsetof(SmtpSettings, quit_timeout_usec) },
                { "starttls_timeout", offsetof(SmtpSettings, starttls_timeout_usec) },
        };
        for (size_t i = 0; i < ELEMENTSOF(times); i++) {
                r = config_read_usec(c, pname(s, times[i].suffix, n, sizeof(n)),
                                     (uint64_t *) ((char *) s + times[i].offset), ret_error);
                if (r < 0)
                        return r;
        }
        r = config_read_usec(c, lmtp ? "lmtp_lhlo_timeout" : "smtp_helo_timeout",
                             &s->helo_timeout_usec, ret_error);
        if (r >= 0)
                r = config_read_uint64(c, pname(s, "connection_reuse_count_limit", n, sizeof(n)),
                                       0, INT64_MAX, &s->reuse_count_limit, ret_error);
        if (r >= 0)
                r = config_read_uint64(c, pname(s, "mx_address_limit", n, sizeof(n)), 0,
                                       INT64_MAX, &s->mx_address_limit, ret_error);
        if (r >= 0)
                r = config_read_uint64(c, pname(s, "mx_session_limit", n, sizeof(n)), 0,
                                       INT64_MAX, &s->mx_session_limit, ret_error);
        if (r >= 0)
                r = config_read_usec(c, "max_idle", &s->max_idle_usec, ret_error);
        if (r >= 0)
                r = config_read_uint64(c, "max_use", 0, INT64_MAX, &s->max_use, ret_error);
        if (r >= 0)
                r = config_read_usec(c, "ipc_timeout", &s->ipc_timeout_usec, ret_error);
        if (r >= 0)
                r = config_read_bool(c, "disable_mime_output_conversion",
                                     &s->disable_mime_output_conversion, ret_error);
        if (r >= 0)
                r = config_read_uint64(c, pname(s, "line_length_limit", n, sizeof(n)), 0,
                                       INT64_MAX, &s->line_length_limit, ret_error);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(s);
        return 0;
}
