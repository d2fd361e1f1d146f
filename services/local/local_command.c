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
 * output is untrusted: at most LOCAL_COMMAND_OUTPUT_MAX bytes are kept, sanitised. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <time.h>

#include "dsn.h"
#include "local.h"
#include "log.h"

typedef struct CommandJob {
        const LocalState *st;
        const LocalUser *user;
        const char *command;
        char **env;
        const char *head;               /* the lines written before the message */
        size_t head_len;
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

static _noreturn_ void exec_command(const CommandJob *j, int in_fd, int out_fd) {
        const LocalSettings *s = j->st->msg->settings;
        _cleanup_strv_free_ char **argv = NULL;
        size_t n = 0;

        (void) signal(SIGPIPE, SIG_DFL);
        if (dup2(in_fd, STDIN_FILENO) < 0 || dup2(out_fd, STDOUT_FILENO) < 0 ||
            dup2(out_fd, STDERR_FILENO) < 0)
                _exit(EX_OSERR);
        if (chdir(j->user->home) < 0 && chdir("/") < 0)
                _exit(EX_OSERR);

        argv = calloc(64, sizeof(char *));
        if (!argv)
                _exit(EX_OSERR);
        if (isempty(s->command_shell)) {
                argv[n++] = strdup("/bin/sh");
                argv[n++] = strdup("-c");
        } else {
                _cleanup_free_ char *copy = strdup(s->command_shell);
                char *save = NULL;

                if (!copy)
                        _exit(EX_OSERR);
                for (char *t = strtok_r(copy, " \t", &save); t && n < 60;
                     t = strtok_r(NULL, " \t", &save))
                        argv[n++] = strdup(t);
        }
        argv[n++] = strdup(j->command);
        execve(argv[0], argv, j->env);
        _exit(EX_UNAVAILABLE);
}

/* Feeds head and the message to in_fd while collecting output from out_fd, both
 * non-blocking. The command may stop reading early; that is its business. */
static int pump(const CommandJob *j, int in_fd, int out_fd, char *out, size_t out_max) {
        QueueFile *f = j->st->msg->file;
        char buf[65536];
        size_t buf_len = 0, buf_off = 0, out_len = 0;
        uint64_t pos = 0;
        bool head_done = false, content_done = false;

        while (out_fd >= 0 || in_fd >= 0) {
                struct pollfd p[2] = {
                        { .fd = out_fd, .events = POLLIN },
                        { .fd = in_fd, .events = POLLOUT },
                };

                if (in_fd >= 0 && buf_off == buf_len) {
                        if (!head_done) {
                                memcpy(buf, j->head, j->head_len);
                                buf_len = j->head_len;
                                head_done = true;
                        } else if (!content_done) {
                                ssize_t k = queue_file_read_content(f, pos, buf, sizeof(buf));

                                if (k < 0)
                                        return (int) k;
                                if (k == 0)
                                        content_done = true;
                                pos += (uint64_t) k;
                                buf_len = (size_t) k;
                        }
                        buf_off = 0;
                        if (content_done && buf_len == 0) {
                                in_fd = safe_close(in_fd);
                                p[1].fd = -1;
                        }
                }
                if (poll(p, 2, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (out_fd >= 0 && (p[0].revents & (POLLIN | POLLHUP | POLLERR))) {
                        char tmp[4096];
                        ssize_t k = read(out_fd, tmp, sizeof(tmp));

                        if (k <= 0 && !(k < 0 && IN_SET(errno, EINTR, EAGAIN)))
                                out_fd = safe_close(out_fd);
                        else if (k > 0 && out_len < out_max) {
                                size_t c = MIN((size_t) k, out_max - out_len);

                                memcpy(out + out_len, tmp, c);
                                out_len += c;
                        }
                }
                if (in_fd >= 0 && (p[1].revents & (POLLOUT | POLLERR | POLLHUP))) {
                        ssize_t k = write(in_fd, buf + buf_off, buf_len - buf_off);

                        if (k < 0 && !IN_SET(errno, EINTR, EAGAIN)) {
                                in_fd = safe_close(in_fd);      /* EPIPE: it stopped reading */
                                content_done = head_done = true;
                        } else if (k > 0)
                                buf_off += (size_t) k;
                }
        }
        while (out_len > 0 && strchr(" \t\r\n", out[out_len - 1]))
                out_len--;      /* the newline that ends the last line is not text */
        out[out_len] = '\0';
        return 0;
}

static int command_job(void *userdata, LocalResult *ret) {
        const CommandJob *j = userdata;
        _cleanup_close_ int in_r = -EBADF, in_w = -EBADF, out_r = -EBADF, out_w = -EBADF;
        char out[LOCAL_COMMAND_OUTPUT_MAX + 1];
        int fds[2], status, r;
        pid_t pid;

        (void) signal(SIGPIPE, SIG_IGN);
        if (pipe2(fds, O_CLOEXEC) < 0)
                return -errno;
        in_r = fds[0];
        in_w = fds[1];
        if (pipe2(fds, O_CLOEXEC) < 0)
                return -errno;
        out_r = fds[0];
        out_w = fds[1];

        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0)
                exec_command(j, in_r, out_w);
        in_r = safe_close(in_r);
        out_w = safe_close(out_w);
        (void) fcntl(in_w, F_SETFL, O_NONBLOCK);
        (void) fcntl(out_r, F_SETFL, O_NONBLOCK);

        r = pump(j, TAKE_FD(in_w), TAKE_FD(out_r), out, LOCAL_COMMAND_OUTPUT_MAX);
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        if (r < 0)
                return r;
        map_status(j, status, out, ret);
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

static int env_add(char ***env, size_t *n, const char *filter, const char *name,
                   const char *value) {
        _cleanup_free_ char *v = filter ? filtered(filter, value) : strdup(strempty(value));
        char **l;

        if (!v)
                return -ENOMEM;
        l = realloc(*env, (*n + 2) * sizeof(char *));
        if (!l)
                return -ENOMEM;
        *env = l;
        if (asprintf(&l[*n], "%s=%s", name, v) < 0)
                return -ENOMEM;
        l[++*n] = NULL;
        return 0;
}

static int build_env(const LocalState *st, const LocalUser *u, char ***ret) {
        const LocalSettings *s = st->msg->settings;
        _cleanup_strv_free_ char **env = NULL, **export = NULL;
        _cleanup_free_ char *local = NULL, *user = NULL, *ext = NULL, *domain = NULL;
        const char *filter = config_get(s->config, "command_expansion_filter");
        size_t n = 0;
        int r;

        r = local_address_split(s, st->address, &local, &user, &ext, &domain);
        if (r < 0)
                return r;
        env = calloc(1, sizeof(char *));
        if (!env)
                return -ENOMEM;
        r = env_add(&env, &n, NULL, "PATH", "/usr/bin:/bin");
        if (r >= 0 && config_get_list(s->config, "export_environment", &export) >= 0)
                for (char **e = export; *e && r >= 0; e++) {
                        const char *v = getenv(*e);

                        if (v && !streq(*e, "PATH"))
                                r = env_add(&env, &n, NULL, *e, v);
                }
        filter = strempty(filter);
        if (r >= 0)
                r = env_add(&env, &n, filter, "HOME", u->home);
        if (r >= 0)
                r = env_add(&env, &n, filter, "SHELL", u->shell);
        if (r >= 0)
                r = env_add(&env, &n, filter, "USER", user);
        if (r >= 0)
                r = env_add(&env, &n, filter, "LOGNAME", user);
        if (r >= 0 && ext)
                r = env_add(&env, &n, filter, "EXTENSION", ext);
        if (r >= 0)
                r = env_add(&env, &n, filter, "DOMAIN", domain);
        if (r >= 0)
                r = env_add(&env, &n, filter, "LOCAL", local);
        if (r >= 0)
                r = env_add(&env, &n, filter, "RECIPIENT", st->address);
        if (r >= 0)
                r = env_add(&env, &n, filter, "SENDER", st->sender);
        if (r >= 0)
                r = env_add(&env, &n, filter, "ORIGINAL_RECIPIENT", st->rcpt->original);
        if (r < 0)
                return r;
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
        _cleanup_strv_free_ char **env = NULL;
        _cleanup_free_ char *head = NULL;
        CommandJob j = { .st = &st, .user = u, .command = command };
        LocalResult res;
        int r;

        r = build_env(&st, u, &env);
        if (r >= 0)
                r = build_head(&st, &head, &j.head_len);
        if (r < 0)
                return r;
        if (j.head_len > 60000)
                j.head_len = 60000;
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
