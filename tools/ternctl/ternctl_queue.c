/* SPDX-License-Identifier: GPL-3.0-or-later */
/* ternctl_queue: the administrator's queue verbs, reading the queue directly (root or the tern
 * user): queue (mailq, --json), cat (postcat -q), hold/release/delete/requeue (postsuper
 * -h/-H/-d/-r), flush (postqueue -f/-s), qshape, trace (journald by TERN_QUEUE_ID) and status.
 * A verb that moves or removes a file takes queue.h's queue-file lock first, without waiting:
 * a file qmgr holds is being delivered and is skipped with a message. release moves a held
 * message to incoming/ and wakes qmgr for it alone; requeue runs the content through the
 * cleanup library again into a new queue file, and removes the old one only once the new one is
 * durable. Each changed message is logged with its TERN_QUEUE_ID (to the journal when there is
 * one), so that trace shows it. Queue files are parsed by queue.h's bounded parser; nothing
 * here trusts their content. status asks systemctl for the units' states. */
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <inttypes.h>
#include <stddef.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <systemd/sd-journal.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "config.h"
#include "log.h"
#include "queue.h"
#include "rewrite.h"
#include "showq.h"
#include "smtp_data.h"
#include "ternctl.h"

static const QueueName message_queues[] = { QUEUE_INCOMING, QUEUE_ACTIVE, QUEUE_DEFERRED,
                                            QUEUE_HOLD };

static int load_config(Config **ret) {
        _cleanup_(config_freep) Config *c = NULL;
        _cleanup_free_ char *err = NULL;
        int r;

        r = config_new(&c);
        if (r >= 0)
                r = config_load_dir(c, arg_config_dir, &err);
        if (r < 0) {
                fprintf(stderr, "ternctl: %s: %s\n", arg_config_dir,
                        err ? err : strerror(-r));
                return r;
        }
        *ret = TAKE_PTR(c);
        return 0;
}

static int open_queue(QueueDirs **ret) {
        _cleanup_(config_freep) Config *c = NULL;
        const char *qd;
        int r;

        r = load_config(&c);
        if (r < 0)
                return r;
        r = config_expand(c, "queue_directory", &qd, NULL);
        if (r < 0)
                return r;
        r = queue_dirs_open(strempty(qd), ret);
        if (r == -EACCES || r == -EPERM)
                fprintf(stderr, "ternctl: %s: permission denied: the queue is readable by "
                        "root and the tern user only (others use mailq)\n", qd);
        else if (r < 0)
                fprintf(stderr, "ternctl: %s: cannot open the queue: %s\n", qd, strerror(-r));
        return r;
}

static int trigger_path(char **ret) {
        _cleanup_free_ char *run = config_runtime_dir();

        if (!run || asprintf(ret, "%s/qmgr", run) < 0)
                return -ENOMEM;
        return 0;
}

/* Which message queue holds id: QUEUE_* or -ENOENT. */
static int find_message(const QueueDirs *d, const char *id) {
        struct stat st;

        for (size_t i = 0; i < ELEMENTSOF(message_queues); i++)
                if (fstatat(queue_dirs_fd(d, message_queues[i]), id, &st,
                            AT_SYMLINK_NOFOLLOW) >= 0)
                        return (int) message_queues[i];
        return -ENOENT;
}

/* ---- queue ---- */

int verb_queue(int argc, char **argv) {
        static const struct option opts[] = {
                { "json", no_argument, NULL, 'j' },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        _cleanup_(queue_dirs_freep) QueueDirs *d = NULL;
        _cleanup_(buf_done) Buf out = BUF_INIT(BUF_MAX_UNBOUNDED);
        bool json = false;
        int c, r;

        while ((c = getopt_long(argc, argv, "jh", opts, NULL)) >= 0)
                switch (c) {
                case 'j':
                        json = true;
                        break;
                case 'h':
                        printf("Usage: ternctl queue [--json]\n\nLists the mail queue as "
                               "mailq does; --json as postqueue -j.\n");
                        return 0;
                default:
                        return EX_USAGE;
                }
        if (optind < argc) {
                fprintf(stderr, "ternctl queue: unexpected argument '%s'\n", argv[optind]);
                return EX_USAGE;
        }
        r = open_queue(&d);
        if (r < 0)
                return 1;
        r = showq_format(d, json, &out);
        if (r < 0) {
                fprintf(stderr, "ternctl queue: cannot read the queue: %s\n", strerror(-r));
                return 1;
        }
        fwrite(buf_peek(&out), 1, buf_pending(&out), stdout);
        return 0;
}

/* ---- cat ---- */

static void print_time(const char *label, uint64_t usec) {
        time_t t = (time_t) (usec / 1000000);
        struct tm tm;
        char s[64];

        if (!localtime_r(&t, &tm) || strftime(s, sizeof(s), "%a %b %e %H:%M:%S %Y", &tm) == 0)
                strcpy(s, "?");
        printf("%s: %s\n", label, s);
}

int verb_cat(int argc, char **argv) {
        _cleanup_(queue_dirs_freep) QueueDirs *d = NULL;
        bool env_only = false, header_only = false, body_only = false;
        int c, r, status = 0;

        while ((c = getopt(argc, argv, "ehb")) >= 0)
                switch (c) {
                case 'e': env_only = true; break;
                case 'h': header_only = true; break;
                case 'b': body_only = true; break;
                default:
                        fprintf(stderr, "Usage: ternctl cat [-e|-h|-b] ID...\n");
                        return EX_USAGE;
                }
        if (optind >= argc) {
                fprintf(stderr, "Usage: ternctl cat [-e|-h|-b] ID...\n");
                return EX_USAGE;
        }
        r = open_queue(&d);
        if (r < 0)
                return 1;

        for (int i = optind; i < argc; i++) {
                _cleanup_(queue_file_freep) QueueFile *f = NULL;
                const char *id = argv[i], *qn;
                const QueueEnvelope *e;
                bool in_header = true, at_line_start = true, show_all;
                char chunk[65536];
                uint64_t pos = 0;
                ssize_t k;
                int q;

                if (!queue_id_is_valid(id)) {
                        fprintf(stderr, "ternctl cat: '%s' is not a queue ID\n", id);
                        status = 1;
                        continue;
                }
                q = find_message(d, id);
                if (q >= 0)
                        r = queue_file_open(queue_dirs_fd(d, (QueueName) q), id, false, NULL,
                                            &f);
                else
                        r = q;
                if (r < 0) {
                        fprintf(stderr, "ternctl cat: %s: %s\n", id,
                                r == -ENOENT ? "no such message in the queue"
                                : r == -EINPROGRESS ? "still being written"
                                : strerror(-r));
                        status = 1;
                        continue;
                }
                qn = queue_name_to_string((QueueName) q);
                e = f->envelope;
                show_all = !env_only && !header_only && !body_only;
                if (show_all || env_only) {
                        printf("*** ENVELOPE RECORDS %s/%s ***\n", qn, id);
                        printf("message_size: %" PRIu64 "\n", e->content_size);
                        print_time("message_arrival_time", e->arrival_usec);
                        print_time("create_time", e->arrival_usec);
                        printf("sender: %s\n", e->sender);
                        if (e->client_name)
                                printf("named_attribute: client_name=%s\n", e->client_name);
                        if (e->client_addr)
                                printf("named_attribute: client_address=%s\n", e->client_addr);
                        if (e->helo)
                                printf("named_attribute: helo_name=%s\n", e->helo);
                        if (e->protocol)
                                printf("named_attribute: protocol_name=%s\n", e->protocol);
                        if (e->envid)
                                printf("dsn_envid: %s\n", e->envid);
                        if (e->ret != QUEUE_RET_NONE)
                                printf("dsn_ret: %s\n", e->ret == QUEUE_RET_FULL ? "FULL"
                                                                                 : "HDRS");
                        for (size_t a = 0; a < e->n_attrs; a++)
                                printf("named_attribute: %s=%s\n", e->attrs[a].name,
                                       e->attrs[a].value);
                        for (size_t a = 0; a < e->n_rcpts; a++) {
                                const QueueRcpt *rc = &e->rcpts[a];

                                if (rc->orcpt)
                                        printf("original_recipient: %s\n", rc->orcpt);
                                printf("%s: %s\n", rc->status == QUEUE_RCPT_PENDING
                                       ? "recipient" : "done_recipient", rc->address);
                        }
                }
                if (env_only)
                        continue;
                if (show_all)
                        printf("*** MESSAGE CONTENTS %s/%s ***\n", qn, id);
                while ((k = queue_file_read_content(f, pos, chunk, sizeof(chunk))) > 0) {
                        for (ssize_t j = 0; j < k; j++) {
                                /* The header ends at the first empty line. */
                                if (in_header && at_line_start && chunk[j] == '\n') {
                                        in_header = false;
                                        if (header_only)
                                                break;
                                        if (body_only) {
                                                at_line_start = true;
                                                continue;
                                        }
                                }
                                at_line_start = chunk[j] == '\n';
                                if ((in_header && !body_only) || (!in_header && !header_only))
                                        putchar(chunk[j]);
                        }
                        if (header_only && !in_header)
                                break;
                        pos += (uint64_t) k;
                }
                if (k < 0) {
                        fprintf(stderr, "ternctl cat: %s: cannot read: %s\n", id,
                                strerror((int) -k));
                        status = 1;
                }
                if (show_all)
                        printf("*** MESSAGE FILE END %s/%s ***\n", qn, id);
        }
        return status;
}

/* ---- hold, release, delete, requeue ---- */

typedef enum Op { OP_HOLD, OP_RELEASE, OP_DELETE, OP_REQUEUE } Op;

/* What requeue needs to pass a message through cleanup again: main.cf's rewriting and cleanup
 * settings, loaded once per run. */
typedef struct Requeue {
        Config *config;
        RewriteSettings *rewrite;
        CleanupSettings cleanup;        /* strings point into config */
        uid_t owner_uid;                /* of queue_directory: new files are given to it */
        gid_t owner_gid;
} Requeue;

typedef struct OpCtx {
        QueueDirs *d;
        Op op;
        unsigned done;
        unsigned busy;
        bool failed;
        Requeue *requeue;               /* OP_REQUEUE, loaded at the first message */
} OpCtx;

static Requeue *requeue_free(Requeue *rq) {
        if (!rq)
                return NULL;
        rewrite_settings_free(rq->rewrite);
        config_free(rq->config);
        free(rq);
        return NULL;
}
DEFINE_PTR_CLEANUP(Requeue *, requeue_free);

static void op_ctx_done(OpCtx *x) {
        x->requeue = requeue_free(x->requeue);
}

/* What an administrator changed goes to the journal (as postsuper's actions go to syslog)
 * when there is one, not to the terminal, which gets its own lines on stdout. */
static void audit_begin(void) {
        if (access("/run/systemd/journal/socket", W_OK) >= 0)
                log_set_target_journal(true);
}

static void audit_end(void) {
        log_set_target_journal(-1);     /* back to stderr unless it is the journal stream */
}

static int canonical_cb(void *userdata, const char *address, char **ret) {
        return rewrite_canonical(userdata, address, ret);
}

static int requeue_load(const QueueDirs *d, Requeue **ret) {
        _cleanup_(requeue_freep) Requeue *rq = NULL;
        _cleanup_free_ char *err = NULL;
        struct stat st;
        int r;

        rq = calloc(1, sizeof(*rq));
        if (!rq)
                return -ENOMEM;
        r = load_config(&rq->config);
        if (r < 0)
                return r;
        r = rewrite_settings_new(rq->config, &rq->rewrite, &err);
        if (r >= 0)
                r = cleanup_settings_load(rq->config, &rq->cleanup, &err);
        if (r < 0) {
                fprintf(stderr, "ternctl requeue: %s: %s\n", arg_config_dir,
                        err ? err : strerror(-r));
                return r;
        }
        rq->cleanup.canonical = canonical_cb;
        rq->cleanup.canonical_userdata = rq->rewrite;
        if (fstat(d->root_fd, &st) < 0)
                return -errno;
        rq->owner_uid = st.st_uid;
        rq->owner_gid = st.st_gid;
        *ret = TAKE_PTR(rq);
        return 0;
}

/* The envelope of a requeued message: the old one's sender, DSN values, SASL login, named
 * attributes and pending recipients. The client's name and address are left out: they would
 * make cleanup write a second "Received: from" line naming the original client; the new file
 * gets "Received: by MYHOSTNAME (tern)" instead. The arrival time is new, as Postfix's pickup
 * gives a requeued message (postsuper(1): -r after a long hold restarts the queue lifetime). */
static int requeue_envelope(const QueueEnvelope *old, QueueEnvelope **ret) {
        _cleanup_(queue_envelope_freep) QueueEnvelope *e = NULL;
        int r;

        r = queue_envelope_new(&e);
        if (r >= 0)
                r = queue_envelope_set(e, QUEUE_FIELD_SENDER, old->sender);
        if (r >= 0 && old->envid)
                r = queue_envelope_set(e, QUEUE_FIELD_ENVID, old->envid);
        if (r >= 0 && old->sasl_user)
                r = queue_envelope_set(e, QUEUE_FIELD_SASL_USER, old->sasl_user);
        if (r >= 0 && old->protocol)
                r = queue_envelope_set(e, QUEUE_FIELD_PROTOCOL, old->protocol);
        if (r < 0)
                return r;
        e->ret = old->ret;
        for (size_t i = 0; i < old->n_attrs; i++) {
                r = queue_envelope_add_attr(e, old->attrs[i].name, old->attrs[i].value);
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; i < old->n_rcpts; i++) {
                const QueueRcpt *rc = &old->rcpts[i];

                if (rc->status != QUEUE_RCPT_PENDING)
                        continue;
                r = queue_envelope_add_rcpt(e, rc->address, rc->orcpt, rc->notify);
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(e);
        return 0;
}

/* postsuper -r: the content of id (in queue q, locked by the caller) passes through cleanup
 * again into a new file in incoming/ with a new queue ID (canonical and virtual rewriting and
 * header handling of today's main.cf apply); the old file is removed only once the new one and
 * its name are durable. A message without pending recipients is only removed. Returns 0 with
 * the new ID in ret_id ("" when nothing was requeued), or -errno. */
static int requeue_one(OpCtx *x, const char *id, QueueName q, char ret_id[QUEUE_ID_MAX + 1]) {
        _cleanup_(queue_file_freep) QueueFile *f = NULL;
        _cleanup_(queue_envelope_freep) QueueEnvelope *env = NULL;
        _cleanup_(cleanup_freep) Cleanup *c = NULL;
        CleanupSettings cs;
        CleanupExtra extra = { .local_uid = -1 };
        int in_fd = queue_dirs_fd(x->d, QUEUE_INCOMING);
        int r;

        if (!x->requeue) {
                r = requeue_load(x->d, &x->requeue);
                if (r < 0)
                        return r;
        }
        r = queue_file_open(queue_dirs_fd(x->d, q), id, /* for_update= */ false, NULL, &f);
        if (r < 0)
                return r;
        r = requeue_envelope(f->envelope, &env);
        if (r < 0)
                return r;
        ret_id[0] = '\0';
        if (env->n_rcpts == 0)
                return 0;

        /* Postfix: "the address rewriting context (local or remote) is the same as when the
         * message was received": header addresses are rewritten for local mail only. */
        cs = x->requeue->cleanup;
        cs.rewrite_headers = !f->envelope->client_addr;
        cs.add_missing_headers = false;
        r = cleanup_new(&cs, in_fd, env, &extra, /* size_limit= */ 0, &c);
        if (r < 0)
                return r;
        /* Run by root, the file must still belong to the queue's owner (qmgr runs as tern). */
        if (geteuid() != x->requeue->owner_uid &&
            fchownat(in_fd, cleanup_queue_id(c), x->requeue->owner_uid, x->requeue->owner_gid,
                     AT_SYMLINK_NOFOLLOW) < 0)
                return -errno;

        r = cleanup_copy_message(c, NULL, f);
        if (r >= 0)
                r = queue_dir_sync(x->d, QUEUE_INCOMING);
        if (r < 0)
                return r;
        snprintf(ret_id, QUEUE_ID_MAX + 1, "%s", cleanup_queue_id(c));
        c = cleanup_free(c);            /* finished: the new file stays */
        return 0;
}

static void remove_logs(const QueueDirs *d, const char *id) {
        (void) unlinkat(queue_dirs_fd(d, QUEUE_DEFER), id, 0);
        (void) unlinkat(queue_dirs_fd(d, QUEUE_BOUNCE), id, 0);
}

/* Applies the operation to id in queue q. Which queues an operation takes from is Postfix's:
 * hold from incoming, active, deferred; release from hold; delete and requeue from all.
 *
 * Release moves the message to incoming/ rather than to deferred/ as postsuper -H does: the
 * incoming trigger then makes qmgr take exactly this message now, where a deferred/ file with
 * a retry time of now would wait for the next deferred queue run, and qmgr's flush trigger
 * would retry every deferred message. The file is complete and keeps its defer log, so mailq
 * and qmgr treat it as they treat any queued message. */
static int apply_one(OpCtx *x, const char *id, QueueName q) {
        _cleanup_close_ int lock = -EBADF;
        char new_id[QUEUE_ID_MAX + 1] = "";
        QueueName to;
        int r;

        switch (x->op) {
        case OP_HOLD:
                if (q == QUEUE_HOLD)
                        return 0;
                to = QUEUE_HOLD;
                break;
        case OP_RELEASE:
                if (q != QUEUE_HOLD)
                        return 0;
                to = QUEUE_INCOMING;
                break;
        default:
                to = _QUEUE_INVALID;
        }

        r = queue_file_lock(queue_dirs_fd(x->d, q), id, /* wait= */ false, &lock);
        if (r == -EBUSY) {
                fprintf(stderr, "ternctl: %s: being delivered (qmgr holds it), skipped\n", id);
                x->busy++;
                return 0;
        }
        if (r == -ENOENT)
                return 0;               /* delivered or moved meanwhile */
        if (r < 0) {
                fprintf(stderr, "ternctl: %s: cannot lock: %s\n", id, strerror(-r));
                x->failed = true;
                return 0;
        }

        if (x->op == OP_REQUEUE) {
                r = requeue_one(x, id, q, new_id);
                if (r < 0) {
                        fprintf(stderr, "ternctl requeue: %s: %s, the message stays in %s/\n",
                                id, r == -EINPROGRESS ? "still being written"
                                : r == -EBADMSG ? "corrupt queue file" : strerror(-r),
                                queue_name_to_string(q));
                        x->failed = true;
                        return 0;
                }
                /* The new file and its name are durable: the old one can go. */
                r = queue_file_remove(x->d, id, q);
                if (r >= 0)
                        remove_logs(x->d, id);
                if (r >= 0 && new_id[0]) {
                        printf("%s: requeued as %s\n", id, new_id);
                        audit_begin();
                        log_struct(LOG_INFO, "TERN_QUEUE_ID=%s", id,
                                   LOG_MESSAGE("%s: requeued as %s (uid %u)", id,
                                               new_id, (unsigned) getuid()));
                        log_struct(LOG_INFO, "TERN_QUEUE_ID=%s", new_id,
                                   LOG_MESSAGE("%s: requeued from %s (uid %u)",
                                               new_id, id, (unsigned) getuid()));
                        audit_end();
                } else if (r >= 0)
                        printf("%s: no recipient left to deliver, removed\n", id);
        } else if (x->op == OP_DELETE) {
                r = queue_file_remove(x->d, id, q);
                if (r >= 0)
                        remove_logs(x->d, id);
        } else
                r = queue_file_move(x->d, id, q, to);
        if (r < 0) {
                fprintf(stderr, "ternctl: %s: %s\n", id, strerror(-r));
                x->failed = true;
                return 0;
        }
        if (x->op != OP_REQUEUE) {
                /* One line per message with its ID, as postsuper logs them, for trace. */
                audit_begin();
                log_struct(LOG_INFO, "TERN_QUEUE_ID=%s", id,
                           LOG_MESSAGE("%s: %s (uid %u)", id,
                                       x->op == OP_HOLD ? "placed on hold"
                                       : x->op == OP_RELEASE ? "released from hold"
                                       : "removed", (unsigned) getuid()));
                audit_end();
        }
        r = queue_dir_sync(x->d, q);
        if (r >= 0 && to >= 0 && q != to)
                r = queue_dir_sync(x->d, to);
        if (r < 0)
                fprintf(stderr, "ternctl: %s: cannot sync the queue directory: %s\n", id,
                        strerror(-r));
        x->done++;
        return 0;
}

static bool queue_selected(QueueName q, const bool *sel, bool any) {
        return !any || sel[q];
}

static int verb_op(Op op, const char *verb, int argc, char **argv) {
        static const char *const done_words[] = { "Placed on hold", "Released from hold",
                                                  "Deleted", "Requeued" };
        _cleanup_(queue_dirs_freep) QueueDirs *d = NULL;
        bool sel[_QUEUE_MAX] = {}, any_sel = false, all = false, from_stdin = false;
        _cleanup_strv_free_ char **ids = NULL;
        size_t n_ids = 0;
        _cleanup_(op_ctx_done) OpCtx x = { .op = op };
        int r;

        if (argc < 2 || streq(argv[1], "--help") || streq(argv[1], "-h")) {
                fprintf(argc < 2 ? stderr : stdout,
                        "Usage: ternctl %s ID...|ALL|- [incoming|active|deferred|hold...]\n",
                        verb);
                return argc < 2 ? EX_USAGE : 0;
        }
        for (int i = 1; i < argc; i++) {
                QueueName q = queue_name_from_string(argv[i]);

                if (streq(argv[i], "ALL"))
                        all = true;
                else if (streq(argv[i], "-"))
                        from_stdin = true;
                else if (q >= 0 && q <= QUEUE_HOLD && q != QUEUE_CORRUPT) {
                        sel[q] = true;
                        any_sel = true;
                } else if (queue_id_is_valid(argv[i])) {
                        char **v = reallocarray(ids, n_ids + 2, sizeof(char *));

                        if (!v)
                                return EX_OSERR;
                        ids = v;
                        ids[n_ids] = strdup(argv[i]);
                        ids[++n_ids] = NULL;
                        if (!ids[n_ids - 1])
                                return EX_OSERR;
                } else {
                        fprintf(stderr, "ternctl %s: '%s' is neither a queue ID, ALL, - nor a "
                                "queue name\n", verb, argv[i]);
                        return EX_USAGE;
                }
        }
        if (from_stdin) {
                _cleanup_free_ char *line = NULL;
                size_t cap = 0;
                ssize_t k;

                while ((k = getline(&line, &cap, stdin)) > 0) {
                        char **v;

                        line[strcspn(line, " \t\r\n")] = '\0';
                        if (!*line)
                                continue;
                        if (!queue_id_is_valid(line)) {
                                fprintf(stderr, "ternctl %s: '%s' is not a queue ID, "
                                        "skipped\n", verb, line);
                                continue;
                        }
                        v = reallocarray(ids, n_ids + 2, sizeof(char *));
                        if (!v)
                                return EX_OSERR;
                        ids = v;
                        ids[n_ids] = strdup(line);
                        ids[++n_ids] = NULL;
                        if (!ids[n_ids - 1])
                                return EX_OSERR;
                }
        }

        r = open_queue(&d);
        if (r < 0)
                return 1;
        x.d = d;

        if (all)
                for (size_t i = 0; i < ELEMENTSOF(message_queues); i++) {
                        _cleanup_strv_free_ char **list = NULL;
                        QueueName q = message_queues[i];

                        if (!queue_selected(q, sel, any_sel))
                                continue;
                        r = queue_scan_sorted(queue_dirs_fd(d, q), 0, &list);
                        if (r < 0) {
                                fprintf(stderr, "ternctl %s: cannot read %s/: %s\n", verb,
                                        queue_name_to_string(q), strerror(-r));
                                return 1;
                        }
                        for (char **id = list; *id; id++)
                                (void) apply_one(&x, *id, q);
                }
        for (size_t i = 0; i < n_ids; i++) {
                int q = find_message(d, ids[i]);

                if (q < 0 || !queue_selected((QueueName) q, sel, any_sel)) {
                        fprintf(stderr, "ternctl %s: %s: no such message in the queue\n", verb,
                                ids[i]);
                        x.failed = true;
                        continue;
                }
                (void) apply_one(&x, ids[i], (QueueName) q);
        }

        if (x.done > 0) {
                _cleanup_free_ char *tp = NULL;

                printf("ternctl: %s: %u message%s\n", done_words[op], x.done,
                       x.done == 1 ? "" : "s");
                audit_begin();
                log_info("%s: %u message%s (ternctl %s, uid %u)", done_words[op], x.done,
                         x.done == 1 ? "" : "s", verb, (unsigned) getuid());
                audit_end();
                /* Wake qmgr for what it can deliver now. */
                if (IN_SET(op, OP_REQUEUE, OP_RELEASE) && trigger_path(&tp) >= 0)
                        (void) queue_trigger_send(tp, QUEUE_TRIGGER_INCOMING, NULL);
        }
        return x.failed ? 1 : 0;
}

int verb_hold(int argc, char **argv) {
        return verb_op(OP_HOLD, "hold", argc, argv);
}

int verb_release(int argc, char **argv) {
        return verb_op(OP_RELEASE, "release", argc, argv);
}

int verb_delete(int argc, char **argv) {
        return verb_op(OP_DELETE, "delete", argc, argv);
}

int verb_requeue(int argc, char **argv) {
        return verb_op(OP_REQUEUE, "requeue", argc, argv);
}

/* ---- flush ---- */

int verb_flush(int argc, char **argv) {
        _cleanup_free_ char *tp = NULL;
        int r;

        if (argc > 2 || (argc == 2 && (streq(argv[1], "-h") || streq(argv[1], "--help")))) {
                fprintf(argc > 2 ? stderr : stdout, "Usage: ternctl flush [DOMAIN]\n");
                return argc > 2 ? EX_USAGE : 0;
        }
        if (trigger_path(&tp) < 0)
                return EX_OSERR;
        r = queue_trigger_send(tp, argc == 2 ? QUEUE_TRIGGER_DOMAIN : QUEUE_TRIGGER_FLUSH,
                               argc == 2 ? argv[1] : NULL);
        if (r == -EINVAL) {
                fprintf(stderr, "ternctl flush: '%s' is not a domain\n", argv[1]);
                return EX_USAGE;
        }
        if (r <= 0) {
                fprintf(stderr, "ternctl flush: the mail system is not running (no qmgr at "
                        "%s)%s%s\n", tp, r < 0 ? ": " : "", r < 0 ? strerror(-r) : "");
                return EX_UNAVAILABLE;
        }
        return 0;
}

/* ---- qshape ---- */

#define QSHAPE_BUCKETS 10
static const unsigned qshape_minutes[QSHAPE_BUCKETS - 1] = { 5, 10, 20, 40, 80, 160, 320,
                                                             640, 1280 };

typedef struct Shape {
        char *domain;
        unsigned total;
        unsigned bucket[QSHAPE_BUCKETS];
} Shape;

static Shape *shape_get(Shape **v, size_t *n, const char *domain) {
        Shape *nv;

        for (size_t i = 0; i < *n; i++)
                if (streq((*v)[i].domain, domain))
                        return &(*v)[i];
        nv = reallocarray(*v, *n + 1, sizeof(Shape));
        if (!nv)
                return NULL;
        *v = nv;
        nv[*n] = (Shape) { .domain = strdup(domain) };
        if (!nv[*n].domain)
                return NULL;
        return &nv[(*n)++];
}

static int shape_cmp(const void *a, const void *b) {
        const Shape *x = a, *y = b;

        if (x->total != y->total)
                return x->total < y->total ? 1 : -1;
        return strcmp(x->domain, y->domain);
}

static void shape_print(const char *name, const Shape *s) {
        printf("%22s %5u", name, s->total);
        for (size_t b = 0; b < QSHAPE_BUCKETS; b++)
                printf(" %*u", b < QSHAPE_BUCKETS - 1 ? 4 : 5, s->bucket[b]);
        printf("\n");
}

int verb_qshape(int argc, char **argv) {
        _cleanup_(queue_dirs_freep) QueueDirs *d = NULL;
        bool sel[_QUEUE_MAX] = {}, any = false, by_sender = false;
        Shape *shapes = NULL, total = {};
        size_t n_shapes = 0;
        uint64_t now = (uint64_t) time(NULL) * 1000000;
        int r, status = 0;

        for (int i = 1; i < argc; i++) {
                QueueName q = queue_name_from_string(argv[i]);

                if (streq(argv[i], "-s"))
                        by_sender = true;
                else if (q >= 0 && q <= QUEUE_HOLD && q != QUEUE_CORRUPT)
                        sel[q] = any = true;
                else {
                        fprintf(stderr, "Usage: ternctl qshape [-s] "
                                "[incoming|active|deferred|hold...]\n");
                        return EX_USAGE;
                }
        }
        if (!any)
                sel[QUEUE_INCOMING] = sel[QUEUE_ACTIVE] = true;         /* qshape's default */
        r = open_queue(&d);
        if (r < 0)
                return 1;

        for (size_t i = 0; i < ELEMENTSOF(message_queues); i++) {
                _cleanup_strv_free_ char **ids = NULL;
                QueueName q = message_queues[i];

                if (!sel[q])
                        continue;
                r = queue_scan_sorted(queue_dirs_fd(d, q), 0, &ids);
                if (r < 0) {
                        fprintf(stderr, "ternctl qshape: cannot read %s/: %s\n",
                                queue_name_to_string(q), strerror(-r));
                        status = 1;
                        goto finish;
                }
                for (char **id = ids; *id; id++) {
                        _cleanup_(queue_file_freep) QueueFile *f = NULL;
                        uint64_t age, minutes;
                        size_t b = 0;

                        if (queue_file_open(queue_dirs_fd(d, q), *id, false, NULL, &f) < 0)
                                continue;
                        age = now > f->envelope->arrival_usec ? now - f->envelope->arrival_usec
                                                              : 0;
                        minutes = age / 60000000;
                        while (b < QSHAPE_BUCKETS - 1 && minutes >= qshape_minutes[b])
                                b++;
                        for (size_t k = 0; k < f->envelope->n_rcpts; k++) {
                                const QueueRcpt *rc = &f->envelope->rcpts[k];
                                const char *addr = by_sender ? f->envelope->sender
                                                             : rc->address;
                                const char *at = strrchr(addr, '@');
                                Shape *s;

                                if (!by_sender && rc->status != QUEUE_RCPT_PENDING)
                                        continue;
                                s = shape_get(&shapes, &n_shapes, at ? at + 1 : "");
                                if (!s) {
                                        status = EX_OSERR;
                                        goto finish;
                                }
                                s->total++;
                                s->bucket[b]++;
                                total.total++;
                                total.bucket[b]++;
                                if (by_sender)
                                        break;  /* one sender per message */
                        }
                }
        }

        qsort(shapes, n_shapes, sizeof(Shape), shape_cmp);
        printf("%22s %5s", "", "T");
        for (size_t b = 0; b < QSHAPE_BUCKETS - 1; b++)
                printf(" %4u", qshape_minutes[b]);
        printf(" %5s\n", "1280+");
        shape_print("TOTAL", &total);
        for (size_t i = 0; i < n_shapes; i++)
                shape_print(shapes[i].domain[0] ? shapes[i].domain : "<>", &shapes[i]);
finish:
        for (size_t i = 0; i < n_shapes; i++)
                free(shapes[i].domain);
        free(shapes);
        return status;
}

/* ---- trace ---- */

/* The value of field (e.g. "_PID") of the current entry, copied into buf (cut to fit), or
 * false. */
static bool journal_field(sd_journal *j, const char *field, char *buf, size_t size) {
        size_t flen = strlen(field), len;
        const void *data;

        if (sd_journal_get_data(j, field, &data, &len) < 0 || len <= flen ||
            ((const char *) data)[flen] != '=')
                return false;
        len -= flen + 1;
        snprintf(buf, size, "%.*s", (int) MIN(len, size - 1), (const char *) data + flen + 1);
        return true;
}

static bool in_group(const char *name) {
        struct group *g = getgrnam(name);
        gid_t groups[256];
        int n;

        if (!g)
                return false;
        if (getegid() == g->gr_gid)
                return true;
        n = getgroups(ELEMENTSOF(groups), groups);
        for (int i = 0; i < n; i++)
                if (groups[i] == g->gr_gid)
                        return true;
        return false;
}

/* The message's path through the services, from journald by TERN_QUEUE_ID, in the order the
 * journal has it, as syslog lines: "Mon DD HH:MM:SS host tern/smtpd[pid]: ID: client=...". */
int verb_trace(int argc, char **argv) {
        _cleanup_free_ char *match = NULL;
        sd_journal *j = NULL;
        unsigned n = 0;
        int r;

        if (argc != 2 || streq(argv[1], "-h") || streq(argv[1], "--help")) {
                fprintf(argc != 2 ? stderr : stdout, "Usage: ternctl trace ID\n\nShows the "
                        "message's log lines from the journal (journalctl TERN_QUEUE_ID=ID).\n");
                return argc != 2 ? EX_USAGE : 0;
        }
        if (!queue_id_is_valid(argv[1])) {
                fprintf(stderr, "ternctl trace: '%s' is not a queue ID\n", argv[1]);
                return EX_USAGE;
        }
        if (asprintf(&match, "TERN_QUEUE_ID=%s", argv[1]) < 0)
                return EX_OSERR;
        r = sd_journal_open(&j, SD_JOURNAL_LOCAL_ONLY);
        if (r < 0) {
                fprintf(stderr, "ternctl trace: cannot open the journal: %s\n", strerror(-r));
                return 1;
        }
        r = sd_journal_add_match(j, match, 0);
        if (r >= 0) {
                SD_JOURNAL_FOREACH(j) {
                        const void *data;
                        size_t len;
                        uint64_t usec = 0;
                        time_t t;
                        struct tm tm;
                        char when[32] = "?", ident[128] = "tern", pid[32] = "", host[256] = "";

                        if (sd_journal_get_data(j, "MESSAGE", &data, &len) < 0 || len < 8)
                                continue;
                        (void) sd_journal_get_realtime_usec(j, &usec);
                        t = (time_t) (usec / 1000000);
                        if (localtime_r(&t, &tm))
                                strftime(when, sizeof(when), "%b %e %H:%M:%S", &tm);
                        (void) journal_field(j, "SYSLOG_IDENTIFIER", ident, sizeof(ident));
                        (void) journal_field(j, "_PID", pid, sizeof(pid));
                        if (!journal_field(j, "_HOSTNAME", host, sizeof(host)))
                                strcpy(host, "localhost");
                        printf("%s %s %s%s%s%s: %.*s\n", when, host, ident, pid[0] ? "[" : "",
                               pid, pid[0] ? "]" : "", (int) (len - 8),
                               (const char *) data + 8);
                        n++;
                }
        }
        sd_journal_close(j);
        if (r < 0) {
                fprintf(stderr, "ternctl trace: %s\n", strerror(-r));
                return 1;
        }
        if (n == 0) {
                bool privileged = geteuid() == 0 || in_group("systemd-journal") ||
                                  in_group("adm");

                fprintf(stderr, "ternctl trace: %s: no log entries for this queue ID in the "
                        "journal%s\n", argv[1], privileged ? "" : " (you may not read the "
                        "system journal: run as root or in the systemd-journal group)");
                return 1;
        }
        return 0;
}

/* ---- status ---- */

/* The units DESIGN.md lists; those not installed are not shown. Templates (Accept=yes) are
 * shown by their socket and the number of instances running. */
static const char *const status_units[] = {
        "tern.target",
        "tern-smtpd.socket", "tern-smtpd.service",
        "tern-submission.socket", "tern-submission.service",
        "tern-smtps.socket", "tern-smtps.service",
        "tern-qmgr.socket", "tern-qmgr.service",
        "tern-pickup.socket", "tern-local.socket", "tern-virtual.socket", "tern-smtp.socket",
        "tern-relay.socket", "tern-lmtp.socket", "tern-pipe.socket",
};

#define FIELD_SIZE(f) sizeof(((UnitState *) NULL)->f)

static bool has_suffix(const char *s, const char *suffix) {
        size_t a = strlen(s), b = strlen(suffix);

        return a >= b && streq(s + a - b, suffix);
}

typedef struct UnitState {
        char id[64];
        char load[32];
        char active[32];
        char sub[32];
        char status[256];
        unsigned instances;
} UnitState;

static void unit_state_set(UnitState *u, const char *line) {
        static const struct {
                const char *key;
                size_t off, size;
        } keys[] = {
                { "Id=", offsetof(UnitState, id), FIELD_SIZE(id) },
                { "LoadState=", offsetof(UnitState, load), FIELD_SIZE(load) },
                { "ActiveState=", offsetof(UnitState, active),
                  FIELD_SIZE(active) },
                { "SubState=", offsetof(UnitState, sub), FIELD_SIZE(sub) },
                { "StatusText=", offsetof(UnitState, status),
                  FIELD_SIZE(status) },
        };

        for (size_t k = 0; k < ELEMENTSOF(keys); k++)
                if (startswith(line, keys[k].key)) {
                        char *dst = (char *) u + keys[k].off;

                        snprintf(dst, keys[k].size, "%s", line + strlen(keys[k].key));
                        return;
                }
}

/* Asks systemd (systemctl show) for the state of status_units, then counts the running
 * instances of each template. Returns the number of units filled in (0: systemd not
 * reachable). */
static size_t units_query(UnitState *v) {
        _cleanup_(buf_done) Buf cmd = BUF_INIT(BUF_MAX_UNBOUNDED);
        _cleanup_free_ char *line = NULL;
        size_t cap = 0, n = 0;
        FILE *p;
        int r;

        r = buf_append_str(&cmd, "systemctl show --no-pager -p Id -p LoadState -p ActiveState "
                           "-p SubState -p StatusText");
        for (size_t i = 0; i < ELEMENTSOF(status_units) && r >= 0; i++)
                r = buf_printf(&cmd, " %s", status_units[i]);
        if (r < 0 || buf_append_str(&cmd, " 2>/dev/null") < 0)
                return 0;
        p = popen(buf_peek(&cmd), "re");
        if (!p)
                return 0;
        /* One block of Key=value lines per unit, blocks separated by an empty line. */
        while (getline(&line, &cap, p) > 0) {
                line[strcspn(line, "\n")] = '\0';
                if (!*line) {
                        if (n < ELEMENTSOF(status_units) && v[n].id[0])
                                n++;
                        continue;
                }
                if (n < ELEMENTSOF(status_units))
                        unit_state_set(&v[n], line);
        }
        if (n < ELEMENTSOF(status_units) && v[n].id[0])
                n++;
        if (pclose(p) != 0 && n == 0)
                return 0;

        p = popen("systemctl list-units --no-pager --no-legend --plain --state=active "
                  "'tern-*@*.service' 2>/dev/null", "re");
        if (!p)
                return n;
        while (getline(&line, &cap, p) > 0) {
                const char *at = strchr(line, '@');

                if (!at)
                        continue;
                for (size_t i = 0; i < n; i++) {
                        size_t base = strlen(v[i].id) - strlen(".socket");

                        if (has_suffix(v[i].id, ".socket") && (size_t) (at - line) == base &&
                            strncmp(line, v[i].id, base) == 0)
                                v[i].instances++;
                }
        }
        pclose(p);
        return n;
}

/* The first deferral reason in the defer log of id, sanitised and cut, into buf. */
static void defer_reason_first(const QueueDirs *d, const char *id, char *buf, size_t size) {
        _cleanup_close_ int fd = -EBADF;
        char log[4096];
        ssize_t k;

        buf[0] = '\0';
        fd = openat(queue_dirs_fd(d, QUEUE_DEFER), id, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return;
        k = read(fd, log, sizeof(log) - 1);
        if (k <= 0)
                return;
        log[k] = '\0';
        for (char *l = log; l && *l;) {
                char *end = strchrnul(l, '\n'), *tab2 = NULL, *tab1;

                *end = '\0';
                tab1 = strchr(l, '\t');
                if (tab1)
                        tab2 = strchr(tab1 + 1, '\t');
                if (tab2) {
                        size_t o = 0;

                        for (const char *c = tab2 + 1; *c && o + 1 < size; c++)
                                buf[o++] = *c >= ' ' && *c < 0x7f ? *c : '?';
                        buf[o] = '\0';
                        return;
                }
                l = end + 1 < log + k ? end + 1 : NULL;
        }
}

static void format_age(uint64_t seconds, char *buf, size_t size) {
        if (seconds < 60)
                snprintf(buf, size, "%" PRIu64 "s", seconds);
        else if (seconds >= 86400)
                snprintf(buf, size, "%" PRIu64 "d%02" PRIu64 "h", seconds / 86400,
                         seconds / 3600 % 24);
        else
                snprintf(buf, size, "%" PRIu64 "h%02" PRIu64 "m", seconds / 3600,
                         seconds / 60 % 60);
}

int verb_status(int argc, char **argv) {
        _cleanup_(queue_dirs_freep) QueueDirs *d = NULL;
        UnitState units[ELEMENTSOF(status_units)] = {};
        size_t n_units;
        int r;

        if (argc > 1) {
                bool help = streq(argv[1], "-h") || streq(argv[1], "--help");

                fprintf(help ? stdout : stderr, "Usage: ternctl status\n\nThe state of each "
                        "tern unit from systemd, the queue sizes and the oldest deferred "
                        "message.\n");
                return help ? 0 : EX_USAGE;
        }

        n_units = units_query(units);
        printf("Services:\n");
        if (n_units == 0)
                printf("  unknown: systemd is not reachable (systemctl show failed)\n");
        for (size_t i = 0; i < n_units; i++) {
                const UnitState *u = &units[i];

                if (!streq(u->load, "loaded"))
                        continue;       /* not installed */
                printf("  %-24s %s (%s)", u->id, u->active, u->sub);
                if (u->instances > 0)
                        printf(", %u instance%s running", u->instances,
                               u->instances == 1 ? "" : "s");
                if (u->status[0])
                        printf(": %s", u->status);
                printf("\n");
        }

        r = open_queue(&d);
        if (r < 0)
                return 1;
        printf("Queues:\n");
        for (QueueName q = QUEUE_INCOMING; q <= QUEUE_CORRUPT; q++) {
                _cleanup_strv_free_ char **ids = NULL;
                uint64_t now = (uint64_t) time(NULL), usec = 0;
                char age[32], retry[32], reason[128];
                struct stat st;

                r = queue_scan_sorted(queue_dirs_fd(d, q), 0, &ids);
                if (r < 0) {
                        printf("  %-10s cannot read: %s\n", queue_name_to_string(q),
                               strerror(-r));
                        continue;
                }
                printf("  %-10s %d\n", queue_name_to_string(q), r);
                if (q != QUEUE_DEFERRED || r == 0 || queue_id_get_time(ids[0], &usec) < 0)
                        continue;
                /* The oldest by arrival: IDs sort by arrival time (queue.h). */
                format_age(now > usec / 1000000 ? now - usec / 1000000 : 0, age, sizeof(age));
                defer_reason_first(d, ids[0], reason, sizeof(reason));
                printf("  oldest deferred: %s, arrived %s ago", ids[0], age);
                if (fstatat(queue_dirs_fd(d, q), ids[0], &st, AT_SYMLINK_NOFOLLOW) >= 0) {
                        uint64_t due = (uint64_t) st.st_mtim.tv_sec;

                        format_age(due > now ? due - now : 0, retry, sizeof(retry));
                        printf(", next retry %s%s", due > now ? "in " : "now",
                               due > now ? retry : "");
                }
                if (reason[0])
                        printf(" (%s)", reason);
                printf("\n");
        }
        return 0;
}
