/* SPDX-License-Identifier: GPL-3.0-or-later */
/* local_command: delivery to "|command" destinations and mailbox_command (local(8) "EXTERNAL
 * COMMAND DELIVERY"). The command runs through /bin/sh -c (or local_command_shell) as the user
 * (local_user_run(): a child that dropped root first), with the message on standard input after
 * a "From " line, Return-Path:, X-Original-To: and, per prepend_delivered_header, Delivered-To:;
 * a reset environment (PATH, the export_environment names, HOME SHELL USER LOGNAME EXTENSION
 * DOMAIN LOCAL RECIPIENT SENDER ORIGINAL_RECIPIENT, values passed through
 * command_expansion_filter); at most command_time_limit of run time; and its exit status mapped
 * through <sysexits.h> as Postfix does: 0 delivered, EX_TEMPFAIL and EX_OSERR deferred, other
 * codes bounced, unless the output starts with an RFC 3463 code, which then wins. The command's
 * output is untrusted: at most LOCAL_COMMAND_OUTPUT_MAX bytes are kept, sanitised. The fork and
 * the feeding are command.h's; the time limit is local_user_run()'s, for the whole job. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <time.h>

#include "command.h"
#include "dsn.h"
#include "local.h"
#include "log.h"

/* Words of local_command_shell used; more are ignored. */
#define LOCAL_COMMAND_SHELL_WORDS_MAX 60U

typedef struct CommandJob {
        const LocalState *st;
        const LocalUser *user;
        const char *command;
        char **argv;                    /* the shell's words, then the command */
        char **env;
        const char *head;               /* the lines written before the message */
        size_t head_len;
        bool head_done;
        uint64_t pos;                   /* content bytes fed so far */
} CommandJob;

/* An RFC 3463 code at the start of the output ("5.1.1 ..."), copied to dsn. */
static bool output_dsn(const char *out, char dsn[static IPC_DSN_MAX + 1]) {
        size_t n = strcspn(out, " \t\n");

        if (n == 0 || n > IPC_DSN_MAX)
                return false;
        memcpy(dsn, out, n);
        dsn[n] = '\0';
        return ipc_dsn_is_valid(dsn);
}

static void map_status(const CommandJob *j, int status, const char *out, LocalResult *ret) {
        char dsn[IPC_DSN_MAX + 1] = "";
        char cmd[LOG_SANITIZE_BUFSIZE], text[LOG_SANITIZE_BUFSIZE * 2];
        const char *dsn_text = NULL;
        bool have_dsn = output_dsn(out, dsn);

        log_sanitize(cmd, sizeof(cmd), j->command, strlen(j->command), LOG_SANITIZE_MAX);
        log_sanitize(text, sizeof(text), out, strlen(out), LOG_SANITIZE_MAX * 2);

        if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
                local_result_set(ret, IPC_STATUS_SENT, "2.0.0", "delivered to command: %s", cmd);
                return;
        }
        if (WIFSIGNALED(status)) {
                local_result_set(ret, IPC_STATUS_DEFERRED, "4.3.0",
                                 "Command died with signal %d: \"%s\"%s%s", WTERMSIG(status),
                                 cmd, *out ? ". Command output: " : "", text);
                return;
        }
        if (!have_dsn) {
                strcpy(dsn, "5.3.0");
                const DsnSysexit *x = dsn_from_sysexit(WEXITSTATUS(status));

                if (x) {
                        strcpy(dsn, x->enhanced);
                        dsn_text = x->text;
                }
        }
        if (dsn[0] == '2')
                strcpy(dsn, "5.3.0");   /* a failure never reports success */
        local_result_set(ret, dsn[0] == '4' ? IPC_STATUS_DEFERRED : IPC_STATUS_BOUNCED, dsn,
                         "Command died with status %d: \"%s\"%s%s%s", WEXITSTATUS(status),
                         cmd, dsn_text ? " (" : "", strempty(dsn_text), dsn_text ? ")" : "");
        if (*out) {
                size_t n = strlen(ret->text);

                snprintf(ret->text + n, sizeof(ret->text) - n, ". Command output: %s", text);
        }
}

/* In the child, before the shell starts. */
static int child_setup(void *userdata) {
        const CommandJob *j = userdata;

        if (chdir(j->user->home) < 0 && chdir("/") < 0)
                return EX_OSERR;
        return 0;
}

/* The head, then the message as it is in the queue file. */
static int feed(void *userdata, Buf *in) {
        CommandJob *j = userdata;
        char chunk[65536];
        ssize_t k;
        int r;

        if (!j->head_done) {
                j->head_done = true;
                r = buf_append(in, j->head, j->head_len);
                return r < 0 ? r : 1;
        }
        k = queue_file_read_content(j->st->msg->file, j->pos, chunk, sizeof(chunk));
        if (k <= 0)
                return (int) k;
        j->pos += (uint64_t) k;
        r = buf_append(in, chunk, (size_t) k);
        return r < 0 ? r : 1;
}

/* Runs as the user, in local_user_run()'s child. */
static int command_job(void *userdata, LocalResult *ret) {
        CommandJob *j = userdata;
        _cleanup_(buf_done) Buf out = BUF_INIT(LOCAL_COMMAND_OUTPUT_MAX);
        CommandSpec spec = {
                .argv = j->argv,
                .env = j->env,
                .child_setup = child_setup,
                .child_exec_failed = NULL,      /* EX_UNAVAILABLE */
                .feed = feed,
                .userdata = j,
                /* local_user_run() kills this process's group, the command's too, at
                 * command_time_limit. */
                .time_limit_usec = COMMAND_TIME_LIMIT_NONE,
        };
        int status, r;

        (void) signal(SIGPIPE, SIG_IGN);
        r = command_run(&spec, &out, &status);
        if (r < 0)
                return r;
        map_status(j, status, buf_peek(&out), ret);
        return 0;
}

/* local_command_shell split at blanks, else /bin/sh -c; then the command. */
static int build_argv(const LocalSettings *s, const char *command, char ***ret) {
        _cleanup_strv_free_ char **argv = NULL;
        _cleanup_free_ char *shell = NULL;
        char *save = NULL;
        size_t n = 0;

        shell = strdup(isempty(s->command_shell) ? "/bin/sh -c" : s->command_shell);
        argv = calloc(LOCAL_COMMAND_SHELL_WORDS_MAX + 2, sizeof(char *));
        if (!shell || !argv)
                return -ENOMEM;
        for (char *t = strtok_r(shell, " \t", &save); t && n < LOCAL_COMMAND_SHELL_WORDS_MAX;
             t = strtok_r(NULL, " \t", &save)) {
                argv[n] = strdup(t);
                if (!argv[n++])
                        return -ENOMEM;
        }
        argv[n] = strdup(command);
        if (!argv[n])
                return -ENOMEM;
        *ret = TAKE_PTR(argv);
        return 0;
}

/* command_expansion_filter: characters outside the set become '_'. */
static char *filtered(const char *filter, const char *v) {
        char *s = strdup(strempty(v));

        if (!s)
                return NULL;
        for (char *p = s; *p; p++)
                if (!strchr(filter, *p))
                        *p = '_';
        return s;
}

/* PATH, the export_environment names, then the recipient's variables through
 * command_expansion_filter. */
static int build_env(const LocalState *st, const LocalUser *u, char ***ret) {
        const LocalSettings *s = st->msg->settings;
        _cleanup_strv_free_ char **env = NULL, **export = NULL;
        _cleanup_free_ char *local = NULL, *user = NULL, *ext = NULL, *domain = NULL;
        const char *filter = strempty(config_get(s->config, "command_expansion_filter"));
        int r;

        r = local_address_split(s, st->address, &local, &user, &ext, &domain);
        if (r < 0)
                return r;
        (void) config_get_list(s->config, "export_environment", &export); /* bad: none */
        r = command_env_new(export, &env);
        if (r < 0)
                return r;

        const char *vars[][2] = {
                { "HOME", u->home },
                { "SHELL", u->shell },
                { "USER", user },
                { "LOGNAME", user },
                { "EXTENSION", ext },           /* only with an extension */
                { "DOMAIN", domain },
                { "LOCAL", local },
                { "RECIPIENT", st->address },
                { "SENDER", st->sender },
                { "ORIGINAL_RECIPIENT", st->rcpt->original },
        };
        for (size_t i = 0; i < ELEMENTSOF(vars); i++) {
                _cleanup_free_ char *v = NULL;

                if (streq(vars[i][0], "EXTENSION") && !ext)
                        continue;
                v = filtered(filter, vars[i][1]);
                if (!v)
                        return -ENOMEM;
                r = command_env_add(&env, vars[i][0], v);
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(env);
        return 0;
}

/* "From sender date", Return-Path:, X-Original-To:, Delivered-To: (local(8) order). */
static int build_head(const LocalState *st, char **ret, size_t *ret_len) {
        const LocalSettings *s = st->msg->settings;
        time_t t = (time_t) (st->msg->file->envelope->arrival_usec / 1000000);
        char date[64] = "";
        struct tm tm;
        _cleanup_free_ char *lower = strdup(st->rcpt->address);
        int n;

        if (!lower)
                return -ENOMEM;
        for (char *p = lower; *p; p++)
                *p = (char) (*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
        if (gmtime_r(&t, &tm))
                (void) strftime(date, sizeof(date), "%a %b %e %H:%M:%S %Y", &tm);
        n = asprintf(ret, "From %s  %s\nReturn-Path: <%s>\nX-Original-To: %s\n%s%s%s",
                     isempty(st->sender) ? "MAILER-DAEMON" : st->sender, date, st->sender,
                     st->rcpt->original,
                     (s->prepend_delivered & LOCAL_CLASS_COMMAND) ? "Delivered-To: " : "",
                     (s->prepend_delivered & LOCAL_CLASS_COMMAND) ? lower : "",
                     (s->prepend_delivered & LOCAL_CLASS_COMMAND) ? "\n" : "");
        if (n < 0)
                return -ENOMEM;
        for (char *p = *ret; *p; p++)
                if (*p == '\r')
                        *p = ' ';
        *ret_len = (size_t) n;
        return 0;
}

int local_command_deliver(LocalState st, const LocalUser *u, const char *command) {
        _cleanup_strv_free_ char **argv = NULL, **env = NULL;
        _cleanup_free_ char *head = NULL;
        CommandJob j = { .st = &st, .user = u, .command = command };
        LocalResult res;
        int r;

        r = build_argv(st.msg->settings, command, &argv);
        if (r >= 0)
                r = build_env(&st, u, &env);
        if (r >= 0)
                r = build_head(&st, &head, &j.head_len);
        if (r < 0)
                return r;
        if (j.head_len > 60000)
                j.head_len = 60000;
        j.argv = argv;
        j.env = env;
        j.head = head;

        r = local_user_run(u, /* with_groups= */ false, st.msg->settings->command_time_limit_usec,
                           command_job, &j, &res);
        if (r < 0)
                local_result_set(&res, IPC_STATUS_DEFERRED, "4.3.0",
                                 "cannot run command as %s: %s", u->name, strerror(-r));
        local_outcome_add(&st, &res, NULL);
        return 0;
}
