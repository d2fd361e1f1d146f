/* SPDX-License-Identifier: GPL-3.0-or-later */
/* smtpd_check: the restriction framework (Postfix's smtpd_check): smtpd_*_restrictions lists
 * are parsed once into operations and evaluated at their stage; the first operation that
 * decides ends the list (permit ends it quietly, reject and defer end it with a reply). This
 * issue implements the relay-control subset a default install needs; the access-control work
 * adds operations to the same table. It also holds the recipient table checks of
 * smtpd_reject_unlisted_recipient (local_recipient_maps and the virtual and relay tables).
 * Addresses reaching here are parsed (internal form); text put into replies is sanitised. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "log.h"
#include "smtpd.h"

static const char *const op_table[_SMTPD_RESTRICT_MAX] = {
        [SMTPD_RESTRICT_PERMIT] = "permit",
        [SMTPD_RESTRICT_REJECT] = "reject",
        [SMTPD_RESTRICT_DEFER] = "defer",
        [SMTPD_RESTRICT_PERMIT_MYNETWORKS] = "permit_mynetworks",
        [SMTPD_RESTRICT_PERMIT_SASL_AUTHENTICATED] = "permit_sasl_authenticated",
        [SMTPD_RESTRICT_PERMIT_TLS_CLIENTCERTS] = "permit_tls_clientcerts",
        [SMTPD_RESTRICT_PERMIT_AUTH_DESTINATION] = "permit_auth_destination",
        [SMTPD_RESTRICT_REJECT_UNAUTH_DESTINATION] = "reject_unauth_destination",
        [SMTPD_RESTRICT_DEFER_UNAUTH_DESTINATION] = "defer_unauth_destination",
        [SMTPD_RESTRICT_REJECT_UNLISTED_RECIPIENT] = "reject_unlisted_recipient",
        [SMTPD_RESTRICT_REJECT_UNLISTED_SENDER] = "reject_unlisted_sender",
};

/* What each stage calls the thing it judges, for "<x>: Client host rejected: ...". */
static const char *const stage_what[_SMTPD_STAGE_MAX] = {
        [SMTPD_STAGE_CLIENT] = "Client host rejected",
        [SMTPD_STAGE_HELO] = "Helo command rejected",
        [SMTPD_STAGE_SENDER] = "Sender address rejected",
        [SMTPD_STAGE_RELAY] = "Recipient address rejected",
        [SMTPD_STAGE_RECIPIENT] = "Recipient address rejected",
        [SMTPD_STAGE_DATA] = "Data command rejected",
        [SMTPD_STAGE_END_OF_DATA] = "End-of-data rejected",
        [SMTPD_STAGE_ETRN] = "Etrn command rejected",
};

void smtpd_reply_set(SmtpdReply *r, unsigned code, const char *enhanced, const char *fmt, ...) {
        va_list ap;

        r->code = code;
        snprintf(r->enhanced, sizeof(r->enhanced), "%s", enhanced);
        va_start(ap, fmt);
        (void) vsnprintf(r->text, sizeof(r->text), fmt, ap);
        va_end(ap);
}

int smtpd_restriction_list_parse(const char *spec, SmtpdRestrictionList *ret) {
        _cleanup_(strv_freep) char **l = NULL;
        SmtpdRestrictionList list = {};
        size_t n;
        int r;

        r = config_split_list(spec, &l);
        if (r < 0)
                return r;
        for (n = 0; l[n]; n++)
                ;
        if (n > 0) {
                list.items = calloc(n, sizeof(SmtpdRestriction));
                if (!list.items)
                        return -ENOMEM;
        }
        for (size_t i = 0; i < n; i++) {
                SmtpdRestriction *it = &list.items[list.n++];

                it->name = TAKE_PTR(l[i]);
                it->op = SMTPD_RESTRICT_UNKNOWN;
                for (SmtpdRestrictionOp o = 0; o < SMTPD_RESTRICT_UNKNOWN; o++)
                        if (strcasecmp(it->name, op_table[o]) == 0)
                                it->op = o;
        }
        *ret = list;
        return 0;
}

void smtpd_restriction_list_done(SmtpdRestrictionList *l) {
        for (size_t i = 0; i < l->n; i++)
                free(l->items[i].name);
        l->items = mfree(l->items);
        l->n = 0;
}

bool smtpd_restrictions_can_refuse_relay(const SmtpdSettings *s) {
        static const SmtpdStage stages[] = { SMTPD_STAGE_RELAY, SMTPD_STAGE_RECIPIENT };

        for (size_t k = 0; k < ELEMENTSOF(stages); k++) {
                const SmtpdRestrictionList *l = &s->restrictions[stages[k]];

                for (size_t i = 0; i < l->n; i++)
                        if (IN_SET(l->items[i].op, SMTPD_RESTRICT_REJECT, SMTPD_RESTRICT_DEFER,
                                   SMTPD_RESTRICT_REJECT_UNAUTH_DESTINATION,
                                   SMTPD_RESTRICT_DEFER_UNAUTH_DESTINATION))
                                return true;
        }
        return false;
}

/* "<x>" for a reply, sanitised and bounded. */
static const char *quote(char buf[static LOG_SANITIZE_BUFSIZE], const char *s) {
        return log_sanitize(buf, LOG_SANITIZE_BUFSIZE, strempty(s), strlen(strempty(s)),
                            LOG_SANITIZE_MAX);
}

/* The subject named in a stage's reply: the client, HELO name, sender, recipient... */
static const char *stage_subject(SmtpdStage stage, const SmtpdCheckContext *ctx,
                                 char buf[static LOG_SANITIZE_BUFSIZE]) {
        char tmp[LOG_SANITIZE_BUFSIZE];

        switch (stage) {
        case SMTPD_STAGE_CLIENT:
                snprintf(buf, LOG_SANITIZE_BUFSIZE, "%s[%s]", quote(tmp, ctx->client_name),
                         strempty(ctx->client_addr));
                return buf;
        case SMTPD_STAGE_HELO:
                return quote(buf, ctx->helo);
        case SMTPD_STAGE_SENDER:
                return quote(buf, ctx->sender);
        case SMTPD_STAGE_RELAY:
        case SMTPD_STAGE_RECIPIENT:
                return quote(buf, ctx->recipient);
        case SMTPD_STAGE_DATA:
                return "DATA";
        case SMTPD_STAGE_END_OF_DATA:
                return "END-OF-MESSAGE";
        case SMTPD_STAGE_ETRN:
                return quote(buf, ctx->etrn_domain);
        default:
                return "";
        }
}

/* permit_auth_destination / reject_unauth_destination on the recipient. 1: authorised, 0: not,
 * -EAGAIN: a table failed. Outside recipient stages there is no destination: not authorised. */
static int auth_destination(SmtpdSettings *s, const SmtpdCheckContext *ctx) {
        if (!ctx->recipient)
                return 0;
        return rewrite_is_auth_destination(s->rewrite, ctx->recipient);
}

typedef enum Verdict {
        VERDICT_DUNNO,
        VERDICT_PERMIT,
        VERDICT_REJECT,
} Verdict;

static Verdict evaluate(SmtpdSettings *s, SmtpdStage stage, const SmtpdRestriction *it,
                        const SmtpdCheckContext *ctx, SmtpdReply *ret) {
        char subj[LOG_SANITIZE_BUFSIZE], rcpt[LOG_SANITIZE_BUFSIZE];
        int r;

        switch (it->op) {
        case SMTPD_RESTRICT_PERMIT:
                return VERDICT_PERMIT;
        case SMTPD_RESTRICT_REJECT:
                smtpd_reply_set(ret, s->reject_code, "5.7.1", "<%s>: %s: Access denied",
                                stage_subject(stage, ctx, subj), stage_what[stage]);
                return VERDICT_REJECT;
        case SMTPD_RESTRICT_DEFER:
                smtpd_reply_set(ret, s->defer_code, "4.7.1", "<%s>: %s: Access denied",
                                stage_subject(stage, ctx, subj), stage_what[stage]);
                return VERDICT_REJECT;
        case SMTPD_RESTRICT_PERMIT_MYNETWORKS:
                if (!ctx->client_addr)
                        return VERDICT_DUNNO;
                r = match_list_address(s->mynetworks, ctx->client_addr);
                if (r < 0) {
                        smtpd_reply_set(ret, 451, "4.3.0", "<%s>: Temporary lookup failure",
                                        stage_subject(stage, ctx, subj));
                        return VERDICT_REJECT;
                }
                return r > 0 ? VERDICT_PERMIT : VERDICT_DUNNO;
        case SMTPD_RESTRICT_PERMIT_SASL_AUTHENTICATED:
                return ctx->sasl_authenticated ? VERDICT_PERMIT : VERDICT_DUNNO;
        case SMTPD_RESTRICT_PERMIT_TLS_CLIENTCERTS:
                return ctx->tls_client_cert ? VERDICT_PERMIT : VERDICT_DUNNO;
        case SMTPD_RESTRICT_PERMIT_AUTH_DESTINATION:
        case SMTPD_RESTRICT_REJECT_UNAUTH_DESTINATION:
        case SMTPD_RESTRICT_DEFER_UNAUTH_DESTINATION:
                r = auth_destination(s, ctx);
                if (r == -EAGAIN || (r < 0 && r != -EBADMSG)) {
                        smtpd_reply_set(ret, 451, "4.3.0", "<%s>: Temporary lookup failure",
                                        quote(rcpt, ctx->recipient));
                        return VERDICT_REJECT;
                }
                if (it->op == SMTPD_RESTRICT_PERMIT_AUTH_DESTINATION)
                        return r > 0 ? VERDICT_PERMIT : VERDICT_DUNNO;
                if (r > 0 || !ctx->recipient)
                        return VERDICT_DUNNO;
                /* Postfix: reject_unauth_destination answers relay_domains_reject_code (554
                 * 5.7.1); defer_unauth_destination the same text as a temporary 454 4.7.1. */
                if (it->op == SMTPD_RESTRICT_REJECT_UNAUTH_DESTINATION)
                        smtpd_reply_set(ret, s->relay_reject_code,
                                        s->relay_reject_code < 500 ? "4.7.1" : "5.7.1",
                                        "<%s>: Relay access denied", quote(rcpt, ctx->recipient));
                else
                        smtpd_reply_set(ret, 454, "4.7.1", "<%s>: Relay access denied",
                                        quote(rcpt, ctx->recipient));
                return VERDICT_REJECT;
        case SMTPD_RESTRICT_REJECT_UNLISTED_RECIPIENT:
                if (!ctx->recipient)
                        return VERDICT_DUNNO;
                r = smtpd_check_recipient_known(s, ctx->recipient, ret);
                return r > 0 ? VERDICT_REJECT : VERDICT_DUNNO;
        case SMTPD_RESTRICT_REJECT_UNLISTED_SENDER:
                if (isempty(ctx->sender))
                        return VERDICT_DUNNO;
                r = smtpd_check_sender_known(s, ctx->sender, ret);
                return r > 0 ? VERDICT_REJECT : VERDICT_DUNNO;
        default:
                /* Postfix answers an unknown restriction with a configuration error, so that
                 * a typo never opens the relay. */
                log_warning("unknown smtpd restriction '%s' in %s", it->name,
                            stage_what[stage]);
                smtpd_reply_set(ret, 451, "4.3.5", "Server configuration error");
                return VERDICT_REJECT;
        }
}

int smtpd_check_stage(SmtpdSettings *s, SmtpdStage stage, const SmtpdCheckContext *ctx,
                      SmtpdReply *ret) {
        const SmtpdRestrictionList *l;

        assert(s);
        assert(stage >= 0 && stage < _SMTPD_STAGE_MAX);

        l = &s->restrictions[stage];
        for (size_t i = 0; i < l->n; i++)
                switch (evaluate(s, stage, &l->items[i], ctx, ret)) {
                case VERDICT_PERMIT:
                        return 0;
                case VERDICT_REJECT:
                        return 1;
                case VERDICT_DUNNO:
                        break;
                }
        return 0;
}

/* Looks address up in maps the way Postfix's recipient checks do: the full address, then (for
 * a local domain) the local part alone, each first with and then without the address
 * extension. 1 found, 0 not found, < 0 lookup failure. */
static int lookup_user(SmtpdSettings *s, DictList *maps, const char *address, bool local) {
        _cleanup_free_ char *bare = NULL, *ext = NULL;
        const char *at = strrchr(address, '@');
        const char *keys[4];
        size_t n_keys = 0;
        int r;

        if (!isempty(s->recipient_delimiter) && at) {
                _cleanup_free_ char *local_part = strndup(address, (size_t) (at - address));
                _cleanup_free_ char *base = NULL;

                if (!local_part)
                        return -ENOMEM;
                r = addr_split_extension(local_part, s->recipient_delimiter,
                                         /* owner_request_special= */ true, &base, &ext);
                if (r < 0)
                        return r;
                if (ext && asprintf(&bare, "%s%s", base, at) < 0)
                        return -ENOMEM;
        }

        keys[n_keys++] = address;
        if (bare)
                keys[n_keys++] = bare;

        for (size_t k = 0; k < n_keys; k++) {
                _cleanup_free_ char *v = NULL;
                const char *key = keys[k];

                r = dict_list_lookup(maps, key, &v);
                if (r != 0)
                        return r;
                if (local) {
                        _cleanup_free_ char *lp = NULL;
                        const char *a = strrchr(key, '@');

                        if (!a)
                                continue;
                        lp = strndup(key, (size_t) (a - key));
                        if (!lp)
                                return -ENOMEM;
                        r = dict_list_lookup(maps, lp, &v);
                        if (r != 0)
                                return r;
                }
        }
        return 0;
}

/* 1 and a reply when address is in a class with a user table and not in it. */
static int check_known(SmtpdSettings *s, const char *address, const char *what, SmtpdReply *ret) {
        _cleanup_(rewrite_result_done) RewriteResult res = {};
        char q[LOG_SANITIZE_BUFSIZE];
        DictList *maps;
        const char *table;
        unsigned code;
        int r;

        r = rewrite_resolve(s->rewrite, address, &res);
        if (r < 0 || (res.flags & REWRITE_FLAG_FAIL)) {
                smtpd_reply_set(ret, 451, "4.3.0", "<%s>: %s rejected: Temporary lookup failure",
                                quote(q, address), what);
                return 1;
        }

        switch (res.cls) {
        case REWRITE_CLASS_LOCAL:
                maps = s->local_recipient_maps;
                table = "local recipient table";
                code = s->unknown_local_code;
                break;
        case REWRITE_CLASS_ALIAS:
                maps = s->virtual_alias_maps;
                table = "virtual alias table";
                code = s->unknown_virtual_alias_code;
                break;
        case REWRITE_CLASS_VIRTUAL:
                maps = s->virtual_mailbox_maps;
                table = "virtual mailbox table";
                code = s->unknown_virtual_mailbox_code;
                break;
        case REWRITE_CLASS_RELAY:
                maps = s->relay_recipient_maps;
                table = "relay recipient table";
                code = s->unknown_relay_code;
                break;
        default:
                return 0;
        }
        /* An empty table list means "accept every user" (Postfix: local_recipient_maps =). */
        if (!maps || dict_list_size(maps) == 0)
                return 0;

        /* Virtual mailbox recipients may also be virtual aliases (Postfix checks both). */
        r = lookup_user(s, maps, res.recipient, res.cls == REWRITE_CLASS_LOCAL);
        if (r == 0 && res.cls == REWRITE_CLASS_VIRTUAL && s->virtual_alias_maps &&
            dict_list_size(s->virtual_alias_maps) > 0)
                r = lookup_user(s, s->virtual_alias_maps, res.recipient, false);
        if (r < 0) {
                smtpd_reply_set(ret, 451, "4.3.0", "<%s>: %s rejected: Temporary lookup failure",
                                quote(q, address), what);
                return 1;
        }
        if (r > 0)
                return 0;
        smtpd_reply_set(ret, code, code < 500 ? "4.1.1" : "5.1.1",
                        "<%s>: %s rejected: User unknown in %s", quote(q, address), what, table);
        return 1;
}

int smtpd_check_recipient_known(SmtpdSettings *s, const char *recipient, SmtpdReply *ret) {
        return check_known(s, recipient, "Recipient address", ret);
}

int smtpd_check_sender_known(SmtpdSettings *s, const char *sender, SmtpdReply *ret) {
        return check_known(s, sender, "Sender address", ret);
}
