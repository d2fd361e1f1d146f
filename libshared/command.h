/* SPDX-License-Identifier: GPL-3.0-or-later */
/* command: running an external command for a delivery agent (local(8)'s "|command" and
 * mailbox_command, pipe(8)): a child with a clean environment whose standard input is fed from
 * the caller and whose standard output and error go to one pipe; the parent pumps both with
 * poll() against one CLOCK_MONOTONIC deadline, keeps a bounded part of the output, kills the
 * command (and, with new_session, everything in its session) at the time limit or on its own
 * failure, and reaps it. The caller decides identity, directory and argv, and what the exit
 * status means: local(8) and pipe(8) map it differently, with dsn_from_sysexit() for the
 * <sysexits.h> codes. The command and its output are untrusted: the output is only ever
 * collected up to the caller's limit, never interpreted here. Silent (STYLE.md §2). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "macro.h"

/* time_limit_usec: no limit (the caller bounds the run some other way). */
#define COMMAND_TIME_LIMIT_NONE UINT64_MAX
/* Bytes one feed() call may leave in the input buffer. */
#define COMMAND_INPUT_MAX (256U * 1024U)
/* PATH in a command's environment (Postfix's default). */
#define COMMAND_PATH "/usr/bin:/bin"

typedef struct CommandSpec {
        char *const *argv;              /* argv[0] is the path execve()d; not owned */
        char *const *env;               /* the command's whole environment; not owned */
        /* setsid() in the child, so that the time limit kills what the command started. */
        bool new_session;
        /* In the child, after SIGPIPE is reset to its default and the standard descriptors are
         * set up, before execve(): changes identity and directory. Returns 0 to go on, or the
         * status to exit with. May write a diagnostic to stderr, which is the command's output.
         * NULL: nothing to do. */
        int (*child_setup)(void *userdata);
        /* In the child when execve() failed with error (a positive errno): returns the status
         * to exit with, and may write a diagnostic to stderr. NULL: EX_UNAVAILABLE, silently. */
        int (*child_exec_failed)(void *userdata, int error);
        /* In the parent, each time the command has taken everything fed so far: appends the next
         * bytes of its standard input to in (empty, at most COMMAND_INPUT_MAX bytes). Returns
         * > 0 when more follows, 0 when this was the end (the command then sees EOF), -errno to
         * give up. Not called again once the command has stopped reading or has exited. NULL:
         * empty input. */
        int (*feed)(void *userdata, Buf *in);
        void *userdata;                 /* for the three functions above */
        /* From the fork; COMMAND_TIME_LIMIT_NONE: none. */
        uint64_t time_limit_usec;
} CommandSpec;

/* Runs the command and waits until it has exited and its output is closed. The output (standard
 * output and error, interleaved as written) is appended to output up to output->max; the rest is
 * read and dropped, so the command never blocks on it. Trailing white space (and NUL bytes) is
 * removed from what was kept. SIGPIPE must be ignored in the calling process: a command may stop
 * reading its input, which ends the feeding, nothing else. Returns 0 with *ret_wait_status (as
 * waitpid()'s: WIFEXITED(), WEXITSTATUS(), WIFSIGNALED(), WTERMSIG()) when the command ended by
 * itself; -ETIMEDOUT when it was killed at the time limit (output holds what came before);
 * -errno from pipe2(), fork(), pidfd_open(), poll() or feed(), or -ENOMEM, in which case a
 * started command was killed (SIGKILL) and reaped. Every descriptor it opens is close-on-exec. */
int command_run(const CommandSpec *spec, Buf *output, int *ret_wait_status);

/* A clean environment for a command: "PATH=" COMMAND_PATH, then NAME=VALUE for each name in
 * export (NULL-terminated; NULL: none) that this process's environment has, except PATH.
 * Returns 0 with a malloc'd strv, -ENOMEM. */
int command_env_new(char *const *export, char ***ret);
/* Appends "NAME=VALUE" (value NULL: empty) to the strv *env, which it reallocates. Returns 0,
 * -ENOMEM (*env is unchanged then). */
int command_env_add(char ***env, const char *name, const char *value);
