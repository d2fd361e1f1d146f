/* SPDX-License-Identifier: GPL-3.0-or-later */
/* pipe_deliver: the pipe agent's settings and its answer to one qmgr request. The command
 * runs once per request (qmgr batches <transport>_destination_recipient_limit recipients;
 * recipient macros multiply the arguments) in a child that starts a new session, drops to
 * user= (setgroups, setresgid, setresuid: never root, never mail_owner), changes to
 * directory= (default queue_directory, else "/"), and execs the command directly, without a
 * shell, with a clean environment (PATH and the export_environment names). The parent feeds the
 * message on the command's standard input through the flags' transformation, keeps at most
 * PIPE_OUTPUT_MAX bytes of its output (untrusted: sanitised before it is logged or
 * reported), and kills the whole session at <transport>_time_limit (default
 * command_time_limit); the fork, the feeding and the killing are command.h's. The exit status
 * becomes one result for every recipient (pipe_args.c). Queue files are only read. */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "command.h"
#include "errmsg.h"
#include "log.h"
#include "pipe.h"
#include "service.h"

/* Bytes of the header section searched for a Delivered-To: loop (flag D). */
#define PIPE_HEADER_SCAN_MAX (1024U * 1024U)

static uint64_t mono_usec(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}

PipeSettings *pipe_settings_free(PipeSettings *s) {
        if (!s)
                return NULL;
        strv_free(s->export_environment);
        config_free(s->config);
        return mfree(s);
}

static int get_time(Config *c, const char *name, uint64_t *ret_usec, char **ret_error) {
        uint64_t secs;
        int r;

        r = config_get_time(c, name, &secs);
        if (r < 0)
                return errmsg_set(ret_error, r, "%s: bad value '%s'", name,
                                  strempty(config_get(c, name)));
        *ret_usec = secs > UINT64_MAX / 1000000 ? UINT64_MAX : secs * 1000000;
        return 0;
}

int pipe_settings_load(const char *config_dir, char *const *overrides, const PipeArgs *args,
                       PipeSettings **ret, char **ret_error) {
        _cleanup_(pipe_settings_freep) PipeSettings *s = NULL;
        _cleanup_free_ char *err = NULL;
        const char *owner;
        struct passwd *pw;
        int64_t n;
        int r;

        assert(config_dir);
        assert(args);
        assert(ret);

        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->args = args;
        r = config_new(&s->config);
        if (r < 0)
                return r;
        r = config_load_dir(s->config, config_dir, ret_error);
        if (r < 0)
                return r;
        for (char *const *o = overrides; o && *o; o++) {
                r = config_set_override(s->config, *o);
                if (r < 0)
                        return errmsg_set(ret_error, r, "-o %s: expected NAME=VALUE", *o);
        }
        r = config_expand(s->config, "queue_directory", &s->queue_directory, &err);
        if (r >= 0)
                r = config_expand(s->config, "recipient_delimiter", &s->recipient_delimiter,
                                  &err);
        if (r >= 0)
                r = config_expand(s->config, "mail_owner", &owner, &err);
        if (r < 0)
                return errmsg_set(ret_error, r, "%s", err ? err : "cannot expand");
        r = config_get_list(s->config, "export_environment", &s->export_environment);
        if (r < 0)
                return errmsg_set(ret_error, r, "export_environment: bad value");
        r = get_time(s->config, "command_time_limit", &s->command_time_limit_usec, ret_error);
        if (r >= 0)
                r = get_time(s->config, "max_idle", &s->max_idle_usec, ret_error);
        if (r >= 0)
                r = get_time(s->config, "ipc_timeout", &s->ipc_timeout_usec, ret_error);
        if (r < 0)
                return r;
        r = config_get_int(s->config, "max_use", &n);
        if (r < 0 || n < 0)
                return errmsg_set(ret_error, r < 0 ? r : -ERANGE, "max_use: bad value '%s'",
                                  strempty(config_get(s->config, "max_use")));
        s->max_use = (uint64_t) n;

        /* user=: pipe(8) never runs a command as root or as the mail system's owner. */
        errno = 0;
        pw = getpwnam(args->user);
        if (!pw)
                return errmsg_set(ret_error, errno > 0 ? -errno : -ESRCH,
                                  "user=%s: unknown user", args->user);
        s->uid = pw->pw_uid;
        s->gid = pw->pw_gid;
        if (args->group) {
                struct group *gr;

                errno = 0;
                gr = getgrnam(args->group);
                if (!gr)
                        return errmsg_set(ret_error, errno > 0 ? -errno : -ESRCH,
                                          "user=%s:%s: unknown group", args->user, args->group);
                s->gid = gr->gr_gid;
        }
        if (s->uid == 0 || s->gid == 0)
                return errmsg_set(ret_error, -EPERM, "user=%s: the command must not run with "
                                  "root privileges (uid or gid 0)", args->user);
        if (streq(args->user, owner))
                return errmsg_set(ret_error, -EPERM, "user=%s: the command must not run with "
                                  "the privileges of mail_owner", args->user);
        *ret = TAKE_PTR(s);
        return 0;
}

/* ---- Running the command ---- */

typedef struct Run {
        const PipeSettings *s;
        QueueFile *f;
        char **argv;
        const char *head;
        PipeStream stream;              /* the content's transformation for the flags */
        uint64_t pos;                   /* content bytes fed so far */
        bool head_done;
} Run;

/* In the child: user= (never root), then directory=. */
static int child_setup(void *userdata) {
        const Run *run = userdata;
        const PipeSettings *s = run->s;
        const char *dir = s->args->directory ? s->args->directory : s->queue_directory;
        gid_t gid = s->gid;

        if (geteuid() == 0 || getuid() != s->uid) {
                if (setgroups(1, &gid) < 0 || setresgid(gid, gid, gid) < 0 ||
                    setresuid(s->uid, s->uid, s->uid) < 0) {
                        fprintf(stderr, "pipe: cannot switch to uid %u gid %u: %m\n",
                                (unsigned) s->uid, (unsigned) gid);
                        return EX_TEMPFAIL;
                }
        }
        if (getuid() == 0 || geteuid() == 0 || getegid() == 0)
                return EX_SOFTWARE;     /* never run a command as root */
        /* directory= must work; the default, queue_directory, is tern's own (mode 0700) and
         * usually closed to user=, which then starts in "/". */
        if (chdir(dir) < 0 && (s->args->directory || chdir("/") < 0)) {
                fprintf(stderr, "pipe: cannot change to directory %s: %m\n", dir);
                return EX_TEMPFAIL;
        }
        return 0;
}

static int child_exec_failed(void *userdata, int error) {
        const Run *run = userdata;

        fprintf(stderr, "pipe: cannot execute %s: %s\n", run->argv[0], strerror(error));
        return EX_TEMPFAIL;
}

/* The head, then the content, through the flags' transformation. */
static int feed(void *userdata, Buf *in) {
        Run *run = userdata;
        const PipeArgs *a = run->s->args;
        char chunk[65536];
        ssize_t k;
        int r;

        if (!run->head_done) {
                /* The head only gets its line ends: the From_ line it may start with is not
                 * message content to quote. */
                PipeStream hs;

                pipe_stream_init(&hs, 0, a->eol, a->eol_len);
                run->head_done = true;
                r = pipe_stream_feed(&hs, run->head, strlen(run->head), in);
                return r < 0 ? r : 1;
        }
        k = queue_file_read_content(run->f, run->pos, chunk, sizeof(chunk));
        if (k < 0)
                return (int) k;
        if (k == 0) {
                r = pipe_stream_finish(&run->stream, in);
                return r < 0 ? r : 0;
        }
        run->pos += (uint64_t) k;
        r = pipe_stream_feed(&run->stream, chunk, (size_t) k, in);
        return r < 0 ? r : 1;
}

static int run_command(Run *run, char **env, uint64_t time_limit_usec, const char *service,
                       PipeOutcome *ret) {
        const PipeArgs *a = run->s->args;
        _cleanup_(buf_done) Buf out = BUF_INIT(PIPE_OUTPUT_MAX);
        CommandSpec spec = {
                .argv = run->argv,
                .env = env,
                .new_session = true,    /* so that the time limit kills everything it started */
                .child_setup = child_setup,
                .child_exec_failed = child_exec_failed,
                .feed = feed,
                .userdata = run,
                .time_limit_usec = time_limit_usec,
        };
        int status = 0, r;

        pipe_stream_init(&run->stream, a->flags, a->eol, a->eol_len);
        r = command_run(&spec, &out, &status);
        if (r < 0 && r != -ETIMEDOUT)
                return r;
        /* A command killed at the time limit is reported without its output, as pipe has always
         * done ("Command time limit exceeded: "COMMAND""). */
        pipe_outcome_from_exit(service, a->argv[0], status, r == -ETIMEDOUT, buf_peek(&out),
                               r == -ETIMEDOUT ? 0 : buf_pending(&out), ret);
        return 0;
}

/* Flag D's loop check: whether the header section has "Delivered-To: addr" (any case). */
static int has_delivered_to(QueueFile *f, const char *addr) {
        _cleanup_free_ char *h = NULL;
        size_t len = 0;

        h = malloc(PIPE_HEADER_SCAN_MAX + 1);
        if (!h)
                return -ENOMEM;
        while (len < PIPE_HEADER_SCAN_MAX) {
                ssize_t k = queue_file_read_content(f, len, h + len, PIPE_HEADER_SCAN_MAX - len);

                if (k < 0)
                        return (int) k;
                if (k == 0)
                        break;
                len += (size_t) k;
        }
        h[len] = '\0';
        for (char *line = h; line && *line && *line != '\n';) {
                char *end = strchr(line, '\n');
                const char *v;

                if (end)
                        *end = '\0';
                if (strncasecmp(line, "Delivered-To:", 13) == 0) {
                        size_t n;

                        v = line + 13 + strspn(line + 13, " \t");
                        n = strlen(v);
                        while (n > 0 && strchr(" \t\r", v[n - 1]))
                                n--;
                        if (n == strlen(addr) && strncasecmp(v, addr, n) == 0)
                                return 1;
                }
                line = end ? end + 1 : NULL;
        }
        return 0;
}

static void outcome_set(PipeOutcome *o, IpcStatus status, const char *dsn, const char *text) {
        o->status = status;
        snprintf(o->dsn, sizeof(o->dsn), "%s", dsn);
        snprintf(o->text, sizeof(o->text), "%s", text);
}

static void deliver(PipeSettings *s, const IpcRequest *req, QueueFile *f, PipeOutcome *o) {
        const PipeArgs *a = s->args;
        const QueueEnvelope *e = f->envelope;
        _cleanup_free_ PipeRecipient *rcpts = NULL;
        _cleanup_strv_free_ char **argv = NULL, **env = NULL;
        _cleanup_free_ char *head = NULL, *key = NULL, *text = NULL;
        char port[16] = "";
        uint64_t secs, time_limit_usec;
        int r;

        if (a->size_limit > 0 && e->content_size > a->size_limit) {
                outcome_set(o, IPC_STATUS_BOUNCED, "5.2.3", "message too large");
                return;
        }
        if ((a->flags & (PIPE_FLAG_DELIVERED_TO | PIPE_FLAG_ORIGINAL_TO)) && req->n_rcpts > 1) {
                log_warning("%s: flag '%s' requires %s_destination_recipient_limit = 1",
                            req->id, a->flags & PIPE_FLAG_DELIVERED_TO ? "D" : "O",
                            req->transport);
                outcome_set(o, IPC_STATUS_DEFERRED, "4.3.5", "mail system configuration error");
                return;
        }
        if (a->flags & PIPE_FLAG_DELIVERED_TO) {
                r = has_delivered_to(f, req->rcpts[0].address);
                if (r > 0) {
                        if (asprintf(&text, "mail forwarding loop for %s",
                                     req->rcpts[0].address) < 0)
                                text = NULL;
                        outcome_set(o, IPC_STATUS_BOUNCED, "5.4.6",
                                    text ? text : "mail forwarding loop");
                        return;
                }
                if (r < 0) {
                        outcome_set(o, IPC_STATUS_DEFERRED, "4.3.0", "cannot read the message");
                        return;
                }
        }
        if (req->flags & IPC_FLAG_VERIFY) {
                if (asprintf(&text, "delivers via %s service", req->transport) < 0)
                        text = NULL;
                outcome_set(o, IPC_STATUS_DELIVERABLE, "2.0.0", text ? text : "deliverable");
                return;
        }

        rcpts = calloc(req->n_rcpts, sizeof(PipeRecipient));
        if (!rcpts)
                goto oom;
        for (size_t i = 0; i < req->n_rcpts; i++)
                rcpts[i] = (PipeRecipient) { req->rcpts[i].address, req->rcpts[i].original };
        if (e->client_port > 0)
                snprintf(port, sizeof(port), "%u", e->client_port);
        PipeContext c = {
                .sender = req->sender,
                .nexthop = req->nexthop,
                .queue_id = req->id,
                .client_address = e->client_addr,
                .client_helo = e->helo,
                .client_hostname = e->client_name,
                .client_port = port,
                .client_protocol = e->protocol,
                .sasl_username = e->sasl_user,
                .size = e->content_size,
                .recipient_delimiter = s->recipient_delimiter,
                .rcpts = rcpts,
                .n_rcpts = req->n_rcpts,
        };
        r = pipe_argv_expand(a, &c, &argv);
        if (r == -E2BIG) {
                outcome_set(o, IPC_STATUS_DEFERRED, "4.3.0", "command line too long");
                return;
        }
        if (r < 0)
                goto oom;
        r = pipe_head_format(a->flags, a->null_sender, req->sender, &rcpts[0],
                             e->arrival_usec, &head);
        if (r < 0)
                goto oom;
        r = command_env_new(s->export_environment, &env);
        if (r < 0)
                goto oom;

        /* <transport>_time_limit, else command_time_limit (pipe(8)). */
        if (asprintf(&key, "%s_time_limit", req->transport) < 0)
                goto oom;
        time_limit_usec = s->command_time_limit_usec;
        if (config_get(s->config, key) && config_get_time(s->config, key, &secs) >= 0)
                time_limit_usec = secs > UINT64_MAX / 1000000 ? UINT64_MAX : secs * 1000000;

        Run run = { .s = s, .f = f, .argv = argv, .head = head };
        r = run_command(&run, env, time_limit_usec, req->transport, o);
        if (r < 0) {
                log_warning_errno(r, "%s: cannot run %s, deferring: %m", req->id, argv[0]);
                outcome_set(o, IPC_STATUS_DEFERRED, "4.3.0", "cannot run the command");
        }
        return;
oom:
        outcome_set(o, IPC_STATUS_DEFERRED, "4.3.0", "out of memory");
}

int pipe_request_handle(PipeSettings *s, const IpcRequest *req, Buf *out) {
        _cleanup_(queue_file_freep) QueueFile *f = NULL;
        uint64_t start = mono_usec(), delay;
        PipeOutcome o = {};
        char why[256];
        int r;

        assert(s);
        assert(req);
        assert(out);

        r = service_request_file(s->queue_directory, req, &f, why, sizeof(why));
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                outcome_set(&o, IPC_STATUS_DEFERRED, "4.3.0", why);
        else
                deliver(s, req, f, &o);

        /* An address probe reports what a delivery would do. */
        if ((req->flags & IPC_FLAG_VERIFY) && o.status == IPC_STATUS_BOUNCED)
                o.status = IPC_STATUS_UNDELIVERABLE;
        delay = mono_usec() - start;
        for (size_t i = 0; i < req->n_rcpts; i++) {
                const IpcRcpt *rcpt = &req->rcpts[i];

                log_delivery(req->id, rcpt->address, rcpt->original, req->transport,
                             f ? f->envelope->arrival_usec : 0, o.dsn,
                             ipc_status_to_string(o.status), o.text);
                r = ipc_result_format(rcpt->index, o.status, o.dsn, req->transport, delay,
                                      o.text, out);
                if (r < 0)
                        return r;
        }
        return 0;
}
