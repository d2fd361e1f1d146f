/* SPDX-License-Identifier: GPL-3.0-or-later */
/* command: fork, exec and pump for the delivery agents' external commands. The child is watched
 * through a pidfd, so that its exit wakes poll() like its descriptors do, and it is only ever
 * signalled by pid while it is not yet reaped (its pid cannot be reused before). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "command.h"

/* Output is read in pieces of this size, kept or not. */
#define COMMAND_READ_CHUNK 4096

typedef struct Child {
        pid_t pid;
        int pidfd;
        bool reaped;
        int status;                     /* once reaped */
} Child;

static uint64_t now_usec(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}

static _noreturn_ void child(const CommandSpec *spec, int in_fd, int out_fd) {
        int r;

        (void) signal(SIGPIPE, SIG_DFL);
        if (spec->new_session)
                (void) setsid();
        if (dup2(in_fd, STDIN_FILENO) < 0 || dup2(out_fd, STDOUT_FILENO) < 0 ||
            dup2(out_fd, STDERR_FILENO) < 0)
                _exit(EX_OSERR);
        if (spec->child_setup) {
                r = spec->child_setup(spec->userdata);
                if (r != 0)
                        _exit(r);
        }
        execve(spec->argv[0], spec->argv, spec->env);
        r = errno;
        _exit(spec->child_exec_failed ? spec->child_exec_failed(spec->userdata, r)
                                      : EX_UNAVAILABLE);
}

/* Reaps the child if it has exited, without waiting. */
static void child_try_reap(Child *c) {
        siginfo_t si = {};

        if (c->reaped || waitid(P_PIDFD, (id_t) c->pidfd, &si, WEXITED | WNOHANG) < 0 ||
            si.si_pid == 0)
                return;
        c->reaped = true;
        if (si.si_code == CLD_EXITED)
                c->status = W_EXITCODE(si.si_status, 0);
        else
                c->status = si.si_status | (si.si_code == CLD_DUMPED ? WCOREFLAG : 0);
}

/* The deadline passed or we failed: the command, and with new_session what it started, ends. */
static void child_kill(const CommandSpec *spec, Child *c) {
        if (spec->new_session)
                (void) kill(-c->pid, SIGKILL);
        if (c->reaped)
                return;
        (void) kill(c->pid, SIGKILL);
        while (waitpid(c->pid, &c->status, 0) < 0 && errno == EINTR)
                ;
        c->reaped = true;
}

/* Keeps what fits in output, drops the rest. Returns 0 or -ENOMEM. */
static int output_add(Buf *output, const char *p, size_t n) {
        size_t room = output->max - MIN(output->max, buf_pending(output));

        n = MIN(n, room);
        return n > 0 ? buf_append(output, p, n) : 0;
}

/* Feeds *in_fd and drains *out_fd (both non-blocking; closed here when done) until the child has
 * exited and its output is closed. Returns 1 then, 0 at the deadline, -errno. */
static int pump(const CommandSpec *spec, Child *c, int *in_fd, int *out_fd, uint64_t deadline,
                Buf *output) {
        _cleanup_(buf_done) Buf in = BUF_INIT(COMMAND_INPUT_MAX);
        bool fed = !spec->feed;
        int r;

        while (!c->reaped || *out_fd >= 0) {
                struct pollfd p[3] = {
                        { .fd = *out_fd, .events = POLLIN },
                        { .fd = *in_fd, .events = POLLOUT },
                        { .fd = c->reaped ? -1 : c->pidfd, .events = POLLIN },
                };
                uint64_t now;
                int wait_ms = -1;

                if (*in_fd >= 0 && buf_pending(&in) == 0) {
                        buf_clear(&in);
                        if (!fed) {
                                r = spec->feed(spec->userdata, &in);
                                if (r < 0)
                                        return r;
                                fed = r == 0;
                        }
                        if (fed && buf_pending(&in) == 0) {
                                *in_fd = safe_close(*in_fd);    /* EOF for the command */
                                p[1].fd = -1;
                        }
                }
                if (deadline != COMMAND_TIME_LIMIT_NONE) {
                        now = now_usec();
                        if (now >= deadline)
                                return 0;
                        wait_ms = (int) MIN((deadline - now + 999) / 1000, (uint64_t) INT32_MAX);
                }
                if (poll(p, ELEMENTSOF(p), wait_ms) < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (*out_fd >= 0 && (p[0].revents & (POLLIN | POLLHUP | POLLERR))) {
                        char tmp[COMMAND_READ_CHUNK];
                        ssize_t k = read(*out_fd, tmp, sizeof(tmp));

                        if (k == 0 || (k < 0 && !IN_SET(errno, EINTR, EAGAIN)))
                                *out_fd = safe_close(*out_fd);
                        else if (k > 0) {
                                r = output_add(output, tmp, (size_t) k);
                                if (r < 0)
                                        return r;
                        }
                }
                if (*in_fd >= 0 && (p[1].revents & (POLLOUT | POLLERR | POLLHUP))) {
                        ssize_t k = write(*in_fd, buf_peek(&in), buf_pending(&in));

                        /* EPIPE: the command stopped reading; that is its business. */
                        if (k < 0 && !IN_SET(errno, EINTR, EAGAIN))
                                *in_fd = safe_close(*in_fd);
                        else if (k > 0)
                                buf_consume(&in, (size_t) k);
                }
                if (!c->reaped && (p[2].revents & POLLIN)) {
                        child_try_reap(c);
                        if (c->reaped)
                                *in_fd = safe_close(*in_fd);
                }
        }
        return 1;
}

/* The line end of the last line is not text, nor is what pads it. */
static void output_trim(Buf *b) {
        while (b->len > b->off && IN_SET(b->data[b->len - 1], ' ', '\t', '\r', '\n', '\0'))
                b->len--;
        if (b->data)
                b->data[b->len] = '\0';
}

int command_run(const CommandSpec *spec, Buf *output, int *ret_wait_status) {
        _cleanup_close_ int in_r = -EBADF, in_w = -EBADF, out_r = -EBADF, out_w = -EBADF;
        _cleanup_close_ int pidfd = -EBADF;
        Child c = {};
        uint64_t deadline;
        int fds[2], r;

        assert(spec);
        assert(spec->argv && spec->argv[0]);
        assert(spec->env);
        assert(output);
        assert(ret_wait_status);

        if (pipe2(fds, O_CLOEXEC) < 0)
                return -errno;
        in_r = fds[0];
        in_w = fds[1];
        if (pipe2(fds, O_CLOEXEC) < 0)
                return -errno;
        out_r = fds[0];
        out_w = fds[1];

        fflush(NULL);
        c.pid = fork();
        if (c.pid < 0)
                return -errno;
        if (c.pid == 0)
                child(spec, in_r, out_w);
        in_r = safe_close(in_r);
        out_w = safe_close(out_w);
        if (spec->time_limit_usec == COMMAND_TIME_LIMIT_NONE ||
            __builtin_add_overflow(now_usec(), spec->time_limit_usec, &deadline))
                deadline = COMMAND_TIME_LIMIT_NONE;

        pidfd = (int) syscall(SYS_pidfd_open, c.pid, 0);        /* close-on-exec */
        if (pidfd < 0) {
                r = -errno;
                child_kill(spec, &c);
                return r;
        }
        c.pidfd = pidfd;
        (void) fcntl(in_w, F_SETFL, O_NONBLOCK);
        (void) fcntl(out_r, F_SETFL, O_NONBLOCK);

        r = pump(spec, &c, &in_w, &out_r, deadline, output);
        if (r <= 0)
                child_kill(spec, &c);
        output_trim(output);
        if (r < 0)
                return r;
        if (r == 0)
                return -ETIMEDOUT;
        *ret_wait_status = c.status;
        return 0;
}

int command_env_add(char ***env, const char *name, const char *value) {
        _cleanup_free_ char *s = NULL;
        size_t n = 0;
        char **l;

        assert(env);
        assert(name);

        if (asprintf(&s, "%s=%s", name, strempty(value)) < 0)
                return -ENOMEM;
        while (*env && (*env)[n])
                n++;
        l = realloc(*env, (n + 2) * sizeof(char *));
        if (!l)
                return -ENOMEM;
        l[n] = TAKE_PTR(s);
        l[n + 1] = NULL;
        *env = l;
        return 0;
}

int command_env_new(char *const *export, char ***ret) {
        _cleanup_strv_free_ char **env = NULL;
        int r;

        assert(ret);

        r = command_env_add(&env, "PATH", COMMAND_PATH);
        if (r < 0)
                return r;
        for (char *const *e = export; e && *e; e++) {
                const char *v = getenv(*e);

                if (!v || streq(*e, "PATH"))
                        continue;
                r = command_env_add(&env, *e, v);
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(env);
        return 0;
}
