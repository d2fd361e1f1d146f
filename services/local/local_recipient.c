/* SPDX-License-Identifier: GPL-3.0-or-later */
/* local_recipient: what local(8) does with one recipient, in Postfix's order: a Delivered-To:
 * loop check, the domain stripped and the local part folded to lower case, the
 * recipient_delimiter extension split off, alias_maps (with, then without the extension), the
 * passwd user, ~/.forward (forward_path), the mailbox (mailbox_transport_maps and
 * mailbox_transport apply to every user, in passwd or not); an unknown user goes to
 * fallback_transport_maps, fallback_transport, luser_relay, or bounces "unknown user". Also the
 * per-recipient bookkeeping: the destinations already handled (duplicates are skipped, an alias
 * that names itself is delivered to the user), the log line of every delivery and the one
 * result qmgr gets. The address comes from qmgr and is bounded by the
 * ipc layer; it is only ever used as a table key, compared, or logged sanitised. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "local.h"
#include "log.h"
#include "mailbox.h"

static void lower(char *s) {
        for (; *s; s++)
                if (*s >= 'A' && *s <= 'Z')
                        *s = (char) (*s - 'A' + 'a');
}

int local_address_split(const LocalSettings *s, const char *address, char **ret_local,
                        char **ret_user, char **ret_extension, char **ret_domain) {
        _cleanup_free_ char *local = NULL, *user = NULL, *ext = NULL, *domain = NULL;
        const char *at = strrchr(address, '@');
        const char *delims = strempty(s->recipient_delimiter);
        size_t n;

        local = at ? strndup(address, (size_t) (at - address)) : strdup(address);
        domain = strdup(at ? at + 1 : "");
        if (!local || !domain)
                return -ENOMEM;
        lower(local);
        lower(domain);

        n = strlen(local);
        if (*delims && !(s->owner_request_special && strchr(delims, '-') &&
                         (startswith(local, "owner-") ||
                          (n > 8 && streq(local + n - 8, "-request"))))) {
                size_t k = strcspn(local, delims);

                if (k > 0 && k < n) {
                        user = strndup(local, k);
                        ext = strdup(local + k + 1);
                        if (!user || !ext)
                                return -ENOMEM;
                }
        }
        if (!user) {
                user = strdup(local);
                if (!user)
                        return -ENOMEM;
        }
        *ret_local = TAKE_PTR(local);
        *ret_user = TAKE_PTR(user);
        *ret_extension = TAKE_PTR(ext);
        *ret_domain = TAKE_PTR(domain);
        return 0;
}

int local_outcome_seen(LocalOutcome *o, uint64_t max, const char *key) {
        char **l;

        for (size_t i = 0; i < o->n_seen; i++)
                if (streq(o->seen[i], key))
                        return 1;
        if (o->n_seen >= max)
                return 0;
        l = realloc(o->seen, (o->n_seen + 1) * sizeof(char *));
        if (!l)
                return -ENOMEM;
        o->seen = l;
        l[o->n_seen] = strdup(key);
        if (!l[o->n_seen])
                return -ENOMEM;
        o->n_seen++;
        return 0;
}

void local_outcome_done(LocalOutcome *o) {
        for (size_t i = 0; i < o->n_seen; i++)
                free(o->seen[i]);
        free(o->seen);
        *o = (LocalOutcome) {};
}


static void outcome_set_last(LocalOutcome *o, const LocalResult *r, const char *relay) {
        o->last = *r;
        snprintf(o->relay, sizeof(o->relay), "%s", strempty(relay));
}

void local_outcome_record(LocalOutcome *o, const LocalResult *r, const char *relay) {
        o->n_done++;
        if (r->status == IPC_STATUS_DEFERRED) {
                if (!o->any_defer)
                        outcome_set_last(o, r, relay);
                o->any_defer = true;
        } else if (r->status == IPC_STATUS_BOUNCED) {
                if (!o->any_defer && !o->any_bounce)
                        outcome_set_last(o, r, relay);
                o->any_bounce = true;
        } else if (!o->any_defer && !o->any_bounce)
                outcome_set_last(o, r, relay);
}

void local_outcome_add(const LocalState *st, const LocalResult *r, const char *relay) {
        log_delivery(st->msg->request->id, st->address, st->rcpt->original,
                     isempty(relay) ? "local" : relay, st->msg->file->envelope->arrival_usec,
                     r->dsn, ipc_status_to_string(r->status), r->text);
        local_outcome_record(st->out, r, relay);
}

static void fail(const LocalState *st, IpcStatus status, const char *dsn, const char *text) {
        LocalResult r;

        local_result_set(&r, status, dsn, "%s", text);
        local_outcome_add(st, &r, NULL);
}

int local_unknown_deliver(LocalState st, const char *user) {
        const LocalSettings *s = st.msg->settings;
        char name[LOG_SANITIZE_BUFSIZE], text[LOG_SANITIZE_BUFSIZE + 32];
        int r;

        /* local(8): fallback_transport_maps, fallback_transport, then luser_relay. */
        if (s->fallback_transport_maps) {
                _cleanup_free_ char *service = NULL;

                r = dict_list_lookup(s->fallback_transport_maps, user, &service);
                if (r < 0) {
                        fail(&st, IPC_STATUS_DEFERRED, "4.3.0", "table lookup failure");
                        return 0;
                }
                if (r > 0)
                        return local_pass_deliver(st, service, "fallback_transport_maps");
        }
        if (!isempty(s->fallback_transport))
                return local_pass_deliver(st, s->fallback_transport, "fallback_transport");

        if (!isempty(s->luser_relay)) {
                _cleanup_free_ char *relay = NULL;

                r = local_expand(&st, s->luser_relay, &relay);
                if (r < 0)
                        return r;
                if (!isempty(relay))
                        return local_address_deliver(st, relay);
        }
        log_sanitize(name, sizeof(name), user, strlen(user), LOG_SANITIZE_MAX);
        snprintf(text, sizeof(text), "unknown user: \"%s\"", name);
        fail(&st, IPC_STATUS_BOUNCED, "5.1.1", text);
        return 0;
}

int local_recipient_deliver(LocalState st) {
        _cleanup_free_ char *local = NULL, *user = NULL, *ext = NULL, *domain = NULL;
        _cleanup_(local_user_freep) LocalUser *u = NULL;
        char text[LOG_SANITIZE_BUFSIZE + 64], addr[LOG_SANITIZE_BUFSIZE];
        int r;

        log_sanitize(addr, sizeof(addr), st.address, strlen(st.address), LOG_SANITIZE_MAX);
        if (st.level > LOCAL_LEVEL_MAX) {
                snprintf(text, sizeof(text), "mail forwarding loop for %s", addr);
                fail(&st, IPC_STATUS_BOUNCED, "5.4.6", text);
                return 0;
        }

        /* local(8) MAIL FORWARDING: a recipient already named in a Delivered-To: header. */
        r = mailbox_has_delivered_to(st.msg->file, st.address);
        if (r < 0) {
                fail(&st, IPC_STATUS_DEFERRED, "4.3.0", "cannot read the queue file");
                return 0;
        }
        if (r > 0) {
                snprintf(text, sizeof(text), "mail forwarding loop for %s", addr);
                fail(&st, IPC_STATUS_BOUNCED, "5.4.6", text);
                return 0;
        }

        r = local_address_split(st.msg->settings, st.address, &local, &user, &ext, &domain);
        if (r < 0)
                return r;
        if (isempty(local)) {
                fail(&st, IPC_STATUS_BOUNCED, "5.1.3", "bad address syntax");
                return 0;
        }

        r = local_alias_deliver(st, local);
        if (r == 0 && ext)
                r = local_alias_deliver(st, user);
        if (r != 0)
                return r < 0 ? r : 0;

        r = local_user_find(user, &u);
        if (r < 0) {
                fail(&st, IPC_STATUS_DEFERRED, "4.3.0", "user lookup failed");
                return 0;
        }

        /* local(8) DELIVERY METHOD CONTROLS: aliases, .forward files, then the mailbox
         * (mailbox_transport_maps and mailbox_transport whether or not the user is in passwd),
         * and for an unknown user fallback_transport_maps, fallback_transport, luser_relay. */
        if (u) {
                r = local_forward_deliver(st, u);
                if (r != 0)
                        return r < 0 ? r : 0;
        }
        r = local_mailbox_deliver(st, user, u);
        if (r != 0)
                return r < 0 ? r : 0;
        return local_unknown_deliver(st, user);
}
