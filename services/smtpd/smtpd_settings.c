/* SPDX-License-Identifier: GPL-3.0-or-later */
/* smtpd_settings: main.cf → SmtpdSettings. Everything smtpd consults is read, checked and
 * converted once here, at start and on SIGHUP, so that a bad value is reported with its name at
 * load time and sessions never parse configuration. The object is reference-counted: a reload
 * builds a new one while live sessions keep the one they started with. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errmsg.h"
#include "log.h"
#include "smtpd.h"

static const char *const role_table[_SMTPD_ROLE_MAX] = {
        [SMTPD_ROLE_SMTPD] = "smtpd",
        [SMTPD_ROLE_SUBMISSION] = "submission",
        [SMTPD_ROLE_SMTPS] = "smtps",
};

const char *smtpd_role_to_string(SmtpdRole r) {
        return r >= 0 && r < _SMTPD_ROLE_MAX ? role_table[r] : NULL;
}

SmtpdRole smtpd_role_from_string(const char *s) {
        for (SmtpdRole r = 0; r < _SMTPD_ROLE_MAX; r++)
                if (streq_ptr(s, role_table[r]))
                        return r;
        return _SMTPD_ROLE_INVALID;
}

static const char *const stage_param[_SMTPD_STAGE_MAX] = {
        [SMTPD_STAGE_CLIENT] = "smtpd_client_restrictions",
        [SMTPD_STAGE_HELO] = "smtpd_helo_restrictions",
        [SMTPD_STAGE_SENDER] = "smtpd_sender_restrictions",
        [SMTPD_STAGE_RELAY] = "smtpd_relay_restrictions",
        [SMTPD_STAGE_RECIPIENT] = "smtpd_recipient_restrictions",
        [SMTPD_STAGE_DATA] = "smtpd_data_restrictions",
        [SMTPD_STAGE_END_OF_DATA] = "smtpd_end_of_data_restrictions",
        [SMTPD_STAGE_ETRN] = "smtpd_etrn_restrictions",
};

static const struct {
        const char *name;
        unsigned bit;
} ehlo_keywords[] = {
        { "pipelining", SMTPD_EHLO_PIPELINING },
        { "size", SMTPD_EHLO_SIZE },
        { "vrfy", SMTPD_EHLO_VRFY },
        { "etrn", SMTPD_EHLO_ETRN },
        { "enhancedstatuscodes", SMTPD_EHLO_ENHANCEDSTATUSCODES },
        { "8bitmime", SMTPD_EHLO_8BITMIME },
        { "dsn", SMTPD_EHLO_DSN },
        { "smtputf8", SMTPD_EHLO_SMTPUTF8 },
        { "chunking", SMTPD_EHLO_CHUNKING },
        { "starttls", SMTPD_EHLO_STARTTLS },
};

static const char *const tls_level_table[_SMTPD_TLS_LEVEL_MAX] = {
        [SMTPD_TLS_NONE] = "none",
        [SMTPD_TLS_MAY] = "may",
        [SMTPD_TLS_ENCRYPT] = "encrypt",
};

const char *smtpd_tls_level_to_string(SmtpdTlsLevel l) {
        return l >= 0 && l < _SMTPD_TLS_LEVEL_MAX ? tls_level_table[l] : NULL;
}

SmtpdTlsLevel smtpd_tls_level_from_string(const char *s) {
        for (SmtpdTlsLevel l = 0; l < _SMTPD_TLS_LEVEL_MAX; l++)
                if (streq_ptr(s, tls_level_table[l]))
                        return l;
        return _SMTPD_TLS_LEVEL_INVALID;
}

SmtpdSettings *smtpd_settings_ref(SmtpdSettings *s) {
        if (s)
                s->n_ref++;
        return s;
}

static SmtpdSettings *settings_free(SmtpdSettings *s) {
        free(s->myhostname);
        free(s->banner);
        free(s->queue_directory);
        free(s->trigger_path);
        free(s->recipient_delimiter);
        free(s->mail_name);
        free(s->myorigin);
        strv_free(s->noop_commands);
        match_list_free(s->mynetworks);
        match_list_free(s->bare_lf_exclusions);
        match_list_free(s->event_limit_exceptions);
        for (SmtpdStage i = 0; i < _SMTPD_STAGE_MAX; i++)
                smtpd_restriction_list_done(&s->restrictions[i]);
        dict_list_free(s->local_recipient_maps);
        dict_list_free(s->virtual_alias_maps);
        dict_list_free(s->virtual_mailbox_maps);
        dict_list_free(s->relay_recipient_maps);
        rewrite_settings_free(s->rewrite);
        tls_server_unref(s->tls);
        config_free(s->config);
        return mfree(s);
}

SmtpdSettings *smtpd_settings_unref(SmtpdSettings *s) {
        if (!s)
                return NULL;
        assert(s->n_ref > 0);
        if (--s->n_ref == 0)
                settings_free(s);
        return NULL;
}

static int get_match(Config *c, const char *name, MatchType type, MatchList **ret,
                     char **ret_error) {
        _cleanup_free_ char *error = NULL;
        const char *v;
        int r;

        r = config_expand(c, name, &v, ret_error);
        if (r < 0)
                return r;
        r = match_list_new(strempty(v), type, MATCH_FLAG_NONE, ret, &error);
        if (r < 0)
                return errmsg_set(ret_error, r, "%s: %s", name, strempty(error));
        return 0;
}

static int load_ehlo_discard(Config *c, unsigned *ret, char **ret_error) {
        _cleanup_(strv_freep) char **l = NULL;
        unsigned bits = 0;
        int r;

        r = config_read_list(c, "smtpd_discard_ehlo_keywords", &l, ret_error);
        if (r < 0)
                return r;
        for (char **k = l; k && *k; k++)
                for (size_t i = 0; i < ELEMENTSOF(ehlo_keywords); i++)
                        if (strcasecmp(*k, ehlo_keywords[i].name) == 0)
                                bits |= ehlo_keywords[i].bit;
        /* Unknown keywords (silent-discard, auth) have nothing to hide yet. */
        *ret = bits;
        return 0;
}

static int load_noop_commands(Config *c, char ***ret, char **ret_error) {
        _cleanup_(strv_freep) char **l = NULL;
        int r;

        r = config_read_list(c, "smtpd_noop_commands", &l, ret_error);
        if (r < 0)
                return r;
        for (char **k = l; k && *k; k++)
                for (char *p = *k; *p; p++)
                        *p = (char) toupper((unsigned char) *p);
        *ret = TAKE_PTR(l);
        return 0;
}

static int canonical_cb(void *userdata, const char *address, char **ret) {
        return rewrite_canonical(userdata, address, ret);
}

/* local_header_rewrite_clients: which clients get their header addresses canonicalised. */
static int load_header_rewrite_clients(SmtpdSettings *s, char **ret_error) {
        _cleanup_(strv_freep) char **l = NULL;
        int r;

        r = config_read_list(s->config, "local_header_rewrite_clients", &l, ret_error);
        if (r < 0)
                return r;
        for (char **k = l; k && *k; k++) {
                if (streq(*k, "permit_inet_interfaces"))
                        s->header_rewrite |= SMTPD_HEADER_REWRITE_INET_INTERFACES;
                else if (streq(*k, "permit_mynetworks"))
                        s->header_rewrite |= SMTPD_HEADER_REWRITE_MYNETWORKS;
                else if (streq(*k, "permit") || streq(*k, "static:all"))
                        s->header_rewrite |= SMTPD_HEADER_REWRITE_ALL;
                else
                        /* permit_sasl_authenticated and permit_tls_clientcerts arrive with
                         * SASL and TLS; access tables with the access-control work. */
                        log_warning("local_header_rewrite_clients: '%s' is not supported yet, "
                                    "ignoring it", *k);
        }
        return 0;
}

/* The OpenSSL cipher list of a Postfix grade (smtpd_tls_ciphers, smtpd_tls_mandatory_ciphers):
 * tls_<grade>_cipherlist, then "!X" for each excluded cipher. */
static int tls_cipherlist(Config *c, bool mandatory, char **ret, char **ret_error) {
        static const char *const grades[] = { "export", "low", "medium", "high", "null" };
        const char *grade_param = mandatory ? "smtpd_tls_mandatory_ciphers" : "smtpd_tls_ciphers";
        _cleanup_(buf_done) Buf b = BUF_INIT(BUF_MAX_UNBOUNDED);
        _cleanup_free_ char *grade = NULL, *param = NULL;
        const char *list;
        bool known = false;
        int r;

        r = config_read_strdup(c, grade_param, &grade, ret_error);
        if (r < 0)
                return r;
        for (size_t i = 0; i < ELEMENTSOF(grades); i++)
                known = known || strcasecmp(grade, grades[i]) == 0;
        if (!known)
                return errmsg_set(ret_error, -EINVAL, "%s: bad value '%s' (high, medium, low, "
                                  "export or null)", grade_param, grade);
        for (char *p = grade; *p; p++)
                *p = (char) tolower((unsigned char) *p);
        if (asprintf(&param, "tls_%s_cipherlist", grade) < 0)
                return -ENOMEM;
        r = config_expand(c, param, &list, ret_error);
        if (r < 0)
                return r;
        r = buf_append_str(&b, strempty(list));
        if (r < 0)
                return r;

        for (int pass = 0; pass < (mandatory ? 2 : 1); pass++) {
                const char *name = pass == 0 ? "smtpd_tls_exclude_ciphers"
                                             : "smtpd_tls_mandatory_exclude_ciphers";
                _cleanup_(strv_freep) char **l = NULL;

                r = config_read_list(c, name, &l, ret_error);
                if (r < 0)
                        return r;
                for (char **k = l; k && *k; k++) {
                        r = buf_printf(&b, ":!%s", *k);
                        if (r < 0)
                                return r;
                }
        }
        *ret = buf_steal(&b);
        return *ret ? 0 : -ENOMEM;
}

/* smtpd_tls_*: the level (with Postfix's legacy smtpd_use_tls and smtpd_enforce_tls when
 * smtpd_tls_security_level is empty) and the server context. A certificate that cannot be loaded
 * turns TLS off with a warning, as Postfix does, except in wrapper mode, where nothing works
 * without it: then it is an error naming the parameter. Bad values are errors. */
static int load_tls(SmtpdSettings *s, char **ret_error) {
        Config *c = s->config;
        _cleanup_free_ char *cert = NULL, *key = NULL, *chain = NULL,
                            *protocols = NULL, *ciphers = NULL, *error = NULL;
        bool use = false, enforce = false;
        TlsServerSettings ts;
        int level;
        int r;

        r = config_read_enum(c, "smtpd_tls_security_level", tls_level_table,
                             _SMTPD_TLS_LEVEL_MAX, &level, ret_error);
        if (r < 0)
                return r;
        if (level >= 0)
                s->tls_level = level;
        else {
                r = config_read_bool(c, "smtpd_use_tls", &use, ret_error);
                if (r < 0)
                        return r;
                r = config_read_bool(c, "smtpd_enforce_tls", &enforce, ret_error);
                if (r < 0)
                        return r;
                s->tls_level = enforce ? SMTPD_TLS_ENCRYPT
                             : use     ? SMTPD_TLS_MAY : SMTPD_TLS_NONE;
        }
        r = config_read_bool(c, "smtpd_tls_wrappermode", &s->tls_wrappermode, ret_error);
        if (r < 0)
                return r;
        r = config_read_bool(c, "smtpd_tls_auth_only", &s->tls_auth_only, ret_error);
        if (r < 0)
                return r;
        r = config_read_unsigned(c, "smtpd_tls_loglevel", 0, 4, &s->tls_loglevel, ret_error);
        if (r < 0)
                return r;
        r = config_read_usec(c, "smtpd_starttls_timeout", &s->starttls_timeout_usec, ret_error);
        if (r < 0)
                return r;
        if (s->starttls_timeout_usec == 0)
                s->starttls_timeout_usec = s->timeout_usec;
        if (s->tls_wrappermode && s->tls_level < SMTPD_TLS_ENCRYPT)
                s->tls_level = SMTPD_TLS_ENCRYPT;       /* nothing is said in clear text */
        if (s->tls_level == SMTPD_TLS_NONE)
                return 0;

        r = config_read_strdup(c, "smtpd_tls_cert_file", &cert, ret_error);
        if (r >= 0)
                r = config_read_strdup(c, "smtpd_tls_key_file", &key, ret_error);
        if (r >= 0)
                r = config_read_strdup(c, "smtpd_tls_chain_files", &chain, ret_error);
        if (r >= 0)
                r = config_read_strdup(c, s->tls_level == SMTPD_TLS_ENCRYPT
                                          ? "smtpd_tls_mandatory_protocols"
                                          : "smtpd_tls_protocols", &protocols, ret_error);
        if (r >= 0)
                r = tls_cipherlist(c, s->tls_level == SMTPD_TLS_ENCRYPT, &ciphers, ret_error);
        if (r < 0)
                return r;

        ts = (TlsServerSettings) {
                .cert_file = cert,
                .key_file = key,
                .chain_files = chain,
                .protocols = protocols,
                .cipherlist = ciphers,
                .credentials_dir = getenv("CREDENTIALS_DIRECTORY"),
        };
        r = tls_server_new(&ts, &s->tls, &error);
        if (r == -ENOMEM)
                return r;
        if (r == -EBADMSG || (r == -EINVAL && !s->tls_wrappermode))
                return errmsg_set(ret_error, r, "%s: %s",
                                  s->tls_level == SMTPD_TLS_ENCRYPT
                                          ? "smtpd_tls_mandatory_protocols or _ciphers"
                                          : "smtpd_tls_protocols or smtpd_tls_ciphers",
                                  strempty(error));
        if (r < 0 && s->tls_wrappermode)
                return errmsg_set(ret_error, r, "smtpd_tls_wrappermode = yes needs a server "
                                  "certificate and key (smtpd_tls_cert_file and "
                                  "smtpd_tls_key_file, or smtpd_tls_chain_files): %s",
                                  strempty(error));
        if (r < 0)
                log_warning("TLS is not available, STARTTLS will not be offered: %s",
                            strempty(error));
        return 0;
}

static int load(SmtpdSettings *s, char **ret_error) {
        Config *c = s->config;
        _cleanup_free_ char *bare_lf = NULL;
        uint64_t line_length, header_size;
        unsigned recipient_limit;
        int r;

        static const struct {
                const char *name;
                size_t offset;
        } strings[] = {
                { "myhostname", offsetof(SmtpdSettings, myhostname) },
                { "smtpd_banner", offsetof(SmtpdSettings, banner) },
                { "queue_directory", offsetof(SmtpdSettings, queue_directory) },
                { "recipient_delimiter", offsetof(SmtpdSettings, recipient_delimiter) },
                { "mail_name", offsetof(SmtpdSettings, mail_name) },
                { "myorigin", offsetof(SmtpdSettings, myorigin) },
        }, bools[] = {
                { "smtpd_helo_required", offsetof(SmtpdSettings, helo_required) },
                { "disable_vrfy_command", offsetof(SmtpdSettings, disable_vrfy) },
                { "smtpd_delay_reject", offsetof(SmtpdSettings, delay_reject) },
                { "strict_rfc821_envelopes", offsetof(SmtpdSettings, strict_rfc821_envelopes) },
                { "smtputf8_enable", offsetof(SmtpdSettings, smtputf8_enable) },
                { "smtpd_reject_unlisted_recipient",
                  offsetof(SmtpdSettings, reject_unlisted_recipient) },
                { "smtpd_reject_unlisted_sender",
                  offsetof(SmtpdSettings, reject_unlisted_sender) },
        }, counts[] = {
                { "smtpd_soft_error_limit", offsetof(SmtpdSettings, soft_error_limit) },
                { "smtpd_hard_error_limit", offsetof(SmtpdSettings, hard_error_limit) },
                { "smtpd_client_connection_count_limit",
                  offsetof(SmtpdSettings, connection_count_limit) },
        };

        for (size_t i = 0; i < ELEMENTSOF(strings); i++) {
                r = config_read_strdup(c, strings[i].name,
                                       (char **) ((char *) s + strings[i].offset), ret_error);
                if (r < 0)
                        return r;
        }
        {
                _cleanup_free_ char *run = config_runtime_dir();

                if (!run || asprintf(&s->trigger_path, "%s/qmgr", run) < 0)
                        return -ENOMEM;
        }

        r = config_read_usec(c, "smtpd_timeout", &s->timeout_usec, ret_error);
        if (r >= 0)
                r = config_read_usec(c, "smtpd_error_sleep_time", &s->error_sleep_usec,
                                     ret_error);
        if (r >= 0)
                r = config_read_size(c, "message_size_limit", &s->message_size_limit,
                                     ret_error);
        if (r >= 0)
                r = config_read_size(c, "queue_minfree", &s->queue_minfree, ret_error);
        if (r >= 0)
                r = config_read_unsigned(c, "smtpd_recipient_limit", 0, UINT32_MAX,
                                         &recipient_limit, ret_error);
        if (r < 0)
                return r;
        s->recipient_limit = recipient_limit;
        for (size_t i = 0; i < ELEMENTSOF(counts); i++) {
                r = config_read_unsigned(c, counts[i].name, 0, UINT32_MAX,
                                         (unsigned *) ((char *) s + counts[i].offset),
                                         ret_error);
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; i < ELEMENTSOF(bools); i++) {
                r = config_read_bool(c, bools[i].name, (bool *) ((char *) s + bools[i].offset),
                                     ret_error);
                if (r < 0)
                        return r;
        }
        r = load_ehlo_discard(c, &s->discard_ehlo, ret_error);
        if (r < 0)
                return r;
        r = load_noop_commands(c, &s->noop_commands, ret_error);
        if (r < 0)
                return r;

        /* The DATA reader's limits (smtp_data.h). */
        r = config_read_size(c, "line_length_limit", &line_length, ret_error);
        if (r < 0)
                return r;
        r = config_read_size(c, "header_size_limit", &header_size, ret_error);
        if (r < 0)
                return r;
        if (line_length < 1 || line_length > 1024 * 1024 || header_size < 1 ||
            header_size > SIZE_MAX)
                return errmsg_set(ret_error, -ERANGE,
                                  "line_length_limit and header_size_limit must be 1..1048576");
        r = config_read_strdup(c, "smtpd_forbid_bare_newline", &bare_lf, ret_error);
        if (r < 0)
                return r;
        s->data_limits = (SmtpDataLimits) {
                .line_length_limit = line_length,
                .header_size_limit = header_size,
                .message_size_limit = s->message_size_limit,
                .bare_lf = smtp_data_bare_lf_from_string(bare_lf),
        };
        if (s->data_limits.bare_lf < 0)
                return errmsg_set(ret_error, -EINVAL,
                                  "smtpd_forbid_bare_newline: bad value '%s' "
                                  "(yes, reject, normalize or no)", bare_lf);

        static const struct {
                const char *name;
                unsigned lo, hi;
                size_t offset;
        } codes[] = {
                { "smtpd_forbid_bare_newline_reject_code", 500, 599,
                  offsetof(SmtpdSettings, bare_lf_reject_code) },
                { "reject_code", 500, 599, offsetof(SmtpdSettings, reject_code) },
                { "defer_code", 400, 499, offsetof(SmtpdSettings, defer_code) },
                { "relay_domains_reject_code", 400, 599,
                  offsetof(SmtpdSettings, relay_reject_code) },
                { "unknown_local_recipient_reject_code", 400, 599,
                  offsetof(SmtpdSettings, unknown_local_code) },
                { "unknown_virtual_alias_reject_code", 400, 599,
                  offsetof(SmtpdSettings, unknown_virtual_alias_code) },
                { "unknown_virtual_mailbox_reject_code", 400, 599,
                  offsetof(SmtpdSettings, unknown_virtual_mailbox_code) },
                { "unknown_relay_recipient_reject_code", 400, 599,
                  offsetof(SmtpdSettings, unknown_relay_code) },
        };
        for (size_t i = 0; i < ELEMENTSOF(codes); i++) {
                r = config_read_unsigned(c, codes[i].name, codes[i].lo, codes[i].hi,
                                         (unsigned *) ((char *) s + codes[i].offset),
                                         ret_error);
                if (r < 0)
                        return r;
        }

        r = get_match(c, "mynetworks", MATCH_ADDRESS, &s->mynetworks, ret_error);
        if (r < 0)
                return r;
        r = get_match(c, "smtpd_forbid_bare_newline_exclusions", MATCH_ADDRESS,
                      &s->bare_lf_exclusions, ret_error);
        if (r < 0)
                return r;
        r = get_match(c, "smtpd_client_event_limit_exceptions", MATCH_ADDRESS,
                      &s->event_limit_exceptions, ret_error);
        if (r < 0)
                return r;

        for (SmtpdStage i = 0; i < _SMTPD_STAGE_MAX; i++) {
                const char *v;

                r = config_expand(c, stage_param[i], &v, ret_error);
                if (r < 0)
                        return r;
                r = smtpd_restriction_list_parse(strempty(v), &s->restrictions[i]);
                if (r < 0)
                        return errmsg_set(ret_error, r, "%s: cannot parse", stage_param[i]);
        }
        if (!smtpd_restrictions_can_refuse_relay(s))
                return errmsg_set(ret_error, -EINVAL,
                                  "smtpd_relay_restrictions and smtpd_recipient_restrictions: "
                                  "neither contains reject, defer, reject_unauth_destination or "
                                  "defer_unauth_destination; refusing to run an open relay");

        r = config_read_maps(c, "local_recipient_maps", DICT_FLAG_FOLD_CASE,
                             &s->local_recipient_maps, ret_error);
        if (r >= 0)
                r = config_read_maps(c, "virtual_alias_maps", DICT_FLAG_FOLD_CASE,
                                     &s->virtual_alias_maps, ret_error);
        if (r >= 0)
                r = config_read_maps(c, "virtual_mailbox_maps", DICT_FLAG_FOLD_CASE,
                                     &s->virtual_mailbox_maps, ret_error);
        if (r >= 0)
                r = config_read_maps(c, "relay_recipient_maps", DICT_FLAG_FOLD_CASE,
                                     &s->relay_recipient_maps, ret_error);
        if (r < 0)
                return r;

        r = rewrite_settings_new(c, &s->rewrite, ret_error);
        if (r < 0)
                return r;

        r = cleanup_settings_load(c, &s->cleanup, ret_error);
        if (r < 0)
                return r;
        s->cleanup.canonical = canonical_cb;
        s->cleanup.canonical_userdata = s->rewrite;
        r = load_tls(s, ret_error);
        if (r < 0)
                return r;
        return load_header_rewrite_clients(s, ret_error);
}

int smtpd_settings_load(const char *config_dir, char *const *overrides, SmtpdRole role,
                        SmtpdSettings **ret, char **ret_error) {
        _cleanup_(smtpd_settings_unrefp) SmtpdSettings *s = NULL;
        _cleanup_free_ char **all = NULL;       /* the strings are not ours */
        int r;

        assert(config_dir);
        assert(ret);

        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->n_ref = 1;
        s->role = role;

        /* master.cf's smtps line: "-o smtpd_tls_wrappermode=yes", before the -o options. */
        if (role == SMTPD_ROLE_SMTPS) {
                size_t n = 0;

                while (overrides && overrides[n])
                        n++;
                all = calloc(n + 2, sizeof(char *));
                if (!all)
                        return -ENOMEM;
                all[0] = (char *) "smtpd_tls_wrappermode=yes";
                for (size_t i = 0; i < n; i++)
                        all[i + 1] = overrides[i];
                overrides = all;
        }
        r = config_new_from_dir(config_dir, overrides, &s->config, ret_error);
        if (r < 0)
                return r;

        r = load(s, ret_error);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(s);
        return 0;
}
