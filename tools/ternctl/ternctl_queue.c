/* SPDX-License-Identifier: GPL-3.0-or-later */
/* ternctl_queue: the administrator's queue verbs, reading the queue directly (root or the tern
 * user): queue (mailq, --json), cat (postcat -q), hold/release/delete/requeue (postsuper
 * -h/-H/-d/-r), flush (postqueue -f/-s), qshape, trace (journald by TERN_QUEUE_ID) and status.
 * A verb that moves or removes a file takes queue.h's queue-file lock first, without waiting:
 * a file qmgr holds is being delivered and is skipped with a message. Queue files are parsed
 * by queue.h's bounded parser; nothing here trusts their content. */
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <systemd/sd-journal.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "queue.h"
#include "showq.h"
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

typedef struct OpCtx {
        QueueDirs *d;
        Op op;
        unsigned done;
        unsigned busy;
        bool failed;
} OpCtx;

static void remove_logs(const QueueDirs *d, const char *id) {
        (void) unlinkat(queue_dirs_fd(d, QUEUE_DEFER), id, 0);
        (void) unlinkat(queue_dirs_fd(d, QUEUE_BOUNCE), id, 0);
}

/* Applies the operation to id in queue q. Which queues an operation takes from is Postfix's:
 * hold from incoming, active, deferred; release from hold; delete and requeue from all. */
static int apply_one(OpCtx *x, const char *id, QueueName q) {
        _cleanup_close_ int lock = -EBADF;
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
                to = QUEUE_DEFERRED;
                break;
        case OP_REQUEUE:
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

        if (x->op == OP_DELETE) {
                r = queue_file_remove(x->d, id, q);
                if (r >= 0)
                        remove_logs(x->d, id);
        } else {
                if (to == QUEUE_DEFERRED || to == QUEUE_INCOMING)
                        /* Eligible at once: the retry time is the mtime in deferred/. */
                        (void) queue_file_set_mtime(queue_dirs_fd(x->d, q), id, 0);
                r = q == to ? 0 : queue_file_move(x->d, id, q, to);
                if (r >= 0 && x->op == OP_REQUEUE)
                        remove_logs(x->d, id);
        }
        if (r < 0) {
                fprintf(stderr, "ternctl: %s: %s\n", id, strerror(-r));
                x->failed = true;
                return 0;
        }
        r = queue_dir_sync(x->d, q);
        if (r >= 0 && x->op != OP_DELETE && q != to)
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
        OpCtx x = { .op = op };
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
                log_info("%s: %u message%s (ternctl %s, uid %u)", done_words[op], x.done,
                         x.done == 1 ? "" : "s", verb, (unsigned) getuid());
                /* Wake qmgr for what it can deliver now. */
                if (IN_SET(op, OP_REQUEUE, OP_RELEASE) && trigger_path(&tp) >= 0)
                        (void) queue_trigger_send(tp, op == OP_REQUEUE ? QUEUE_TRIGGER_INCOMING
                                                                       : QUEUE_TRIGGER_FLUSH,
                                                  NULL);
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

int verb_trace(int argc, char **argv) {
        _cleanup_free_ char *match = NULL;
        sd_journal *j = NULL;
        unsigned n = 0;
        int r;

        if (argc != 2 || !queue_id_is_valid(argv[1])) {
                fprintf(stderr, "Usage: ternctl trace ID\n");
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
                        char when[32] = "?", ident[128] = "tern";

                        if (sd_journal_get_data(j, "MESSAGE", &data, &len) < 0)
                                continue;
                        (void) sd_journal_get_realtime_usec(j, &usec);
                        t = (time_t) (usec / 1000000);
                        if (localtime_r(&t, &tm))
                                strftime(when, sizeof(when), "%b %e %H:%M:%S", &tm);
                        {
                                const void *idd;
                                size_t il;

                                if (sd_journal_get_data(j, "SYSLOG_IDENTIFIER", &idd, &il) >= 0
                                    && il > 18)
                                        snprintf(ident, sizeof(ident), "%.*s", (int) (il - 18),
                                                 (const char *) idd + 18);
                        }
                        printf("%s %s: %.*s\n", when, ident, (int) (len - 8),
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
                fprintf(stderr, "ternctl trace: %s: no log entries for this queue ID (unknown "
                        "ID, or the journal is not readable: run as root or in the "
                        "systemd-journal group)\n", argv[1]);
                return 1;
        }
        return 0;
}

/* ---- status ---- */

static const char *const units[] = {
        "tern.target", "tern-smtpd.socket", "tern-qmgr.socket", "tern-qmgr.service",
        "tern-pickup.socket", "tern-local.socket", "tern-virtual.socket",
};

int verb_status(int argc, char **argv) {
        _cleanup_(queue_dirs_freep) QueueDirs *d = NULL;
        int r;

        if (argc > 1) {
                fprintf(stderr, "Usage: ternctl status\n");
                return EX_USAGE;
        }

        printf("Services:\n");
        for (size_t i = 0; i < ELEMENTSOF(units); i++) {
                _cleanup_free_ char *cmd = NULL, *line = NULL;
                size_t cap = 0;
                FILE *p;

                if (asprintf(&cmd, "systemctl show -p ActiveState -p SubState --value %s "
                             "2>/dev/null", units[i]) < 0)
                        return EX_OSERR;
                p = popen(cmd, "re");
                if (p) {
                        _cleanup_free_ char *active = NULL;

                        if (getline(&line, &cap, p) > 0) {
                                line[strcspn(line, "\n")] = '\0';
                                active = strdup(line);
                                if (getline(&line, &cap, p) > 0)
                                        line[strcspn(line, "\n")] = '\0';
                        }
                        printf("  %-22s %s%s%s%s\n", units[i],
                               active ? active : "unknown (systemd not reachable)",
                               active && line ? " (" : "", active && line ? line : "",
                               active && line ? ")" : "");
                        pclose(p);
                }
        }

        r = open_queue(&d);
        if (r < 0)
                return 1;
        printf("Queues:\n");
        for (QueueName q = QUEUE_INCOMING; q <= QUEUE_CORRUPT; q++) {
                _cleanup_strv_free_ char **ids = NULL;

                r = queue_scan_sorted(queue_dirs_fd(d, q), 0, &ids);
                printf("  %-10s %d\n", queue_name_to_string(q), r);
                if (q == QUEUE_DEFERRED && r > 0) {
                        uint64_t usec = 0;

                        if (queue_id_get_time(ids[0], &usec) >= 0) {
                                uint64_t age = (uint64_t) time(NULL) - usec / 1000000;

                                printf("             oldest: %s, %" PRIu64 "h%02" PRIu64
                                       "m old\n", ids[0], age / 3600, age / 60 % 60);
                        }
                }
        }
        return 0;
}
