/* SPDX-License-Identifier: GPL-3.0-or-later */
/* local_forward: ~/.forward files (forward_path) and forwarding (local(8) "MAIL FORWARDING").
 * A .forward is read with its user's rights and each line is an alias value, delivered with the
 * user's rights; an empty .forward means "no forwarding". Forwarded mail is a new message: the
 * same content, read from the queue file and fed through smtp_data.h and the cleanup library
 * into incoming/ with the Delivered-To: header of this delivery on top (so that a loop comes
 * back to us and bounces), made durable, and announced to qmgr with the trigger datagram. The
 * new file is the one thing the agent writes to the queue, as Postfix's local hands forwarded
 * mail to cleanup. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "local.h"
#include "log.h"
#include "smtp_data.h"

static char *filter_value(const char *filter, const char *v) {
        char *s = strdup(strempty(v));

        if (!s)
                return NULL;
        for (char *p = s; *p; p++)
                if (!strchr(filter, *p))
                        *p = '_';
        return s;
}

int local_expand(const LocalState *st, const char *text, char **ret) {
        const LocalSettings *s = st->msg->settings;
        _cleanup_free_ char *local = NULL, *user = NULL, *ext = NULL, *domain = NULL;
        _cleanup_(local_user_freep) LocalUser *u = NULL;
        _cleanup_free_ char *error = NULL;
        const char *filter = s->forward_filter;
        const char *names[] = { "user", "home", "shell", "recipient", "extension", "domain",
                                "local" };
        const char *values[ELEMENTSOF(names)];
        int r;

        r = local_address_split(s, st->address, &local, &user, &ext, &domain);
        if (r < 0)
                return r;
        r = local_user_find(user, &u);
        if (r < 0)
                return r;
        values[0] = user;
        values[1] = u ? u->home : NULL;
        values[2] = u ? u->shell : NULL;
        values[3] = st->address;
        values[4] = ext;
        values[5] = domain;
        values[6] = local;
        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                _cleanup_free_ char *v = filter_value(filter, values[i]);

                if (!v)
                        return -ENOMEM;
                /* An empty value is "undefined" for ${name?...} and ${name:...}. */
                r = config_set(s->expand, names[i], v);
                if (r < 0)
                        return r;
        }
        return config_expand_text(s->expand, text, ret, NULL, &error);
}

int local_forward_deliver(LocalState st, const LocalUser *u) {
        const LocalSettings *s = st.msg->settings;
        _cleanup_free_ char *paths = NULL, *key = NULL;
        char *save = NULL;
        int r;

        if (isempty(s->forward_path))
                return 0;
        if (asprintf(&key, "forward:%s", u->name) < 0)
                return -ENOMEM;
        /* A user named in their own .forward gets the mail in the mailbox. */
        for (size_t i = 0; i < st.out->n_seen; i++)
                if (streq(st.out->seen[i], key))
                        return 0;

        r = local_expand(&st, s->forward_path, &paths);
        if (r < 0) {
                LocalResult res;

                local_result_set(&res, IPC_STATUS_DEFERRED, "4.3.5",
                                 "mail system configuration error: forward_path");
                local_outcome_add(&st, &res, NULL);
                return 1;
        }

        for (char *p = strtok_r(paths, ", \t", &save); p; p = strtok_r(NULL, ", \t", &save)) {
                _cleanup_free_ char *data = NULL;
                size_t len;

                if (p[0] != '/')
                        continue;
                r = local_user_read_file(u, p, LOCAL_INCLUDE_FILE_MAX, &data, &len, NULL);
                if (r == -ENOENT || r == -ENOTDIR)
                        continue;
                if (r < 0) {
                        log_warning_errno(r, "%s: cannot read %s, ignoring: %m",
                                          st.msg->request->id, p);
                        continue;
                }
                /* Lines become comma-separated items; '#' lines are comments. */
                for (char *line = data, *next; line && *line; line = next) {
                        next = strchr(line, '\n');
                        if (next)
                                *next++ = '\0';
                        if (line[strspn(line, " \t\r")] == '#')
                                memset(line, ' ', strlen(line));
                        if (next)
                                next[-1] = ',';
                }
                if (strspn(data, " \t\r,") == len)
                        return 0;       /* an empty .forward: no forwarding */

                r = local_outcome_seen(st.out, UINT64_MAX, key);
                if (r < 0)
                        return r;
                st.privs = u;
                st.source = LOCAL_CLASS_FORWARD;
                st.level++;
                r = local_items_deliver(st, data);
                return r < 0 ? r : 1;
        }
        return 0;
}

int local_forward_address(LocalState st, const char *address) {
        const LocalSettings *s = st.msg->settings;
        QueueFile *f = st.msg->file;
        _cleanup_(queue_envelope_freep) QueueEnvelope *env = NULL;
        _cleanup_(cleanup_freep) Cleanup *c = NULL;
        _cleanup_close_ int dir_fd = -EBADF;
        _cleanup_free_ char *head = NULL, *dir = NULL, *lower = NULL;
        CleanupExtra extra = { .local_uid = -1 };
        LocalResult res;
        char id[QUEUE_ID_MAX + 1];
        int r;

        lower = strdup(st.rcpt->address);
        if (!lower)
                return -ENOMEM;
        for (char *p = lower; *p; p++)
                if (*p >= 'A' && *p <= 'Z')
                        *p = (char) (*p - 'A' + 'a');
        if (asprintf(&dir, "%s/incoming", s->queue_directory) < 0)
                return -ENOMEM;
        if ((s->prepend_delivered & LOCAL_CLASS_FORWARD) &&
            asprintf(&head, "Delivered-To: %s\n", lower) < 0)
                return -ENOMEM;

        r = queue_envelope_new(&env);
        if (r >= 0)
                r = queue_envelope_set(env, QUEUE_FIELD_SENDER, st.sender);
        if (r >= 0)
                r = queue_envelope_set(env, QUEUE_FIELD_PROTOCOL, "local");
        if (r >= 0)
                r = queue_envelope_add_rcpt(env, address, NULL, st.rcpt->notify);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                local_result_set(&res, IPC_STATUS_BOUNCED, "5.1.3", "bad address syntax");
                goto done;
        }

        dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dir_fd < 0) {
                r = -errno;
                goto fail;
        }
        r = cleanup_new(&s->cleanup, dir_fd, env, &extra, 0, &c);
        if (r < 0)
                goto fail;

        r = cleanup_copy_message(c, head, f);
        if (r >= 0)
                r = NEG_ERRNO(fsync(dir_fd));
        if (r == -ELOOP) {
                local_result_set(&res, IPC_STATUS_BOUNCED, "5.4.6", "too many hops");
                goto done;
        }
        if (r < 0)
                goto fail;

        snprintf(id, sizeof(id), "%s", cleanup_queue_id(c));
        c = cleanup_free(c);            /* finished: the file stays */
        (void) queue_trigger_send(NULL, QUEUE_TRIGGER_INCOMING, NULL);
        log_struct(LOG_INFO, "TERN_QUEUE_ID=%s", id,
                   LOG_MESSAGE("%s: forwarded from %s for <%s>", id, st.msg->request->id,
                               st.rcpt->original));
        st.out->n_forwarded++;
        local_result_set(&res, IPC_STATUS_SENT, "2.0.0", "forwarded as %s", id);
        goto done;

fail:
        local_result_set(&res, IPC_STATUS_DEFERRED, "4.3.0", "cannot forward: %s",
                         strerror(-r));
done:
        {
                LocalState fst = st;

                fst.address = address;
                local_outcome_add(&fst, &res, NULL);
        }
        return 0;
}
