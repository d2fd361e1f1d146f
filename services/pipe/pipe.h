/* SPDX-License-Identifier: GPL-3.0-or-later */
/* pipe: the pipe delivery agent (Postfix's pipe(8)): hands a message to an external command
 * that runs as an unprivileged user, with the message on its standard input and the recipients
 * in its argument vector. tern has no master.cf, so master.cf's attributes are the agent's own
 * command line, from the unit's ExecStart=:
 *     pipe [-c DIR] [-o NAME=VALUE]... flags=DRXhu user=vmail argv=/usr/bin/maildrop
 *          -d ${recipient}
 * pipe_args.c is pure: it parses those attributes (the administrator's input, checked strictly),
 * expands the ${...} macros of the command's arguments from a delivery request (the request and
 * the queue file are untrusted: the values only ever become separate argv strings, never shell
 * text), transforms the message stream for the flags (. > B eol), and maps a command's exit to
 * a result with Postfix's texts. pipe_deliver.c runs the command for one qmgr request; main.c
 * takes the connection and runs the request loop. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"
#include "config.h"
#include "ipc.h"
#include "macro.h"

/* Attributes after argv= (the command and its arguments). */
#define PIPE_ARGV_MAX 256
/* Bytes of one attribute value or argument template. */
#define PIPE_VALUE_MAX 4096
/* Bytes of the decoded eol= string. */
#define PIPE_EOL_MAX 16
/* Arguments and total bytes of an expanded argument vector (recipient macros multiply). */
#define PIPE_EXPANDED_ARGC_MAX 10000
#define PIPE_EXPANDED_BYTES_MAX (1024U * 1024U)
/* Bytes of a command's output kept for the diagnostic. */
#define PIPE_OUTPUT_MAX 1024
/* Bytes of a result text. */
#define PIPE_TEXT_MAX IPC_TEXT_MAX

/* flags= letters (pipe(8)). */
typedef enum PipeFlag {
        PIPE_FLAG_BLANK = 1u << 0,              /* B: a blank line after the message */
        PIPE_FLAG_DELIVERED_TO = 1u << 1,       /* D: Delivered-To:, and loop detection */
        PIPE_FLAG_FROM_LINE = 1u << 2,          /* F: a "From sender date" line */
        PIPE_FLAG_ORIGINAL_TO = 1u << 3,        /* O: X-Original-To: */
        PIPE_FLAG_RETURN_PATH = 1u << 4,        /* R: Return-Path: */
        PIPE_FLAG_FINAL = 1u << 5,              /* X: the command delivers finally */
        PIPE_FLAG_FOLD_HOST = 1u << 6,          /* h: domains and $nexthop to lower case */
        PIPE_FLAG_QUOTE = 1u << 7,              /* q: RFC 822 quoting of localparts */
        PIPE_FLAG_FOLD_USER = 1u << 8,          /* u: localparts to lower case */
        PIPE_FLAG_DOT = 1u << 9,                /* .: "." before lines starting with "." */
        PIPE_FLAG_QUOTE_FROM = 1u << 10,        /* >: ">" before lines starting with "From " */
} PipeFlag;

typedef struct PipeArgs {
        unsigned flags;                 /* PipeFlag bits */
        char *user;                     /* user=NAME[:GROUP]: the name; owned */
        char *group;                    /* the group, NULL when not given; owned */
        uint64_t size_limit;            /* size=, bytes; 0: none */
        char eol[PIPE_EOL_MAX + 1];     /* decoded eol=, default "\n"; no NUL inside */
        size_t eol_len;
        char *directory;                /* directory=, NULL: queue_directory; owned */
        char *null_sender;              /* null_sender=, default "MAILER-DAEMON"; owned */
        char **argv;                    /* argv=: the command and its argument templates,
                                         * NULL-terminated, macros checked; owned */
        size_t argc;
} PipeArgs;

/* Parses the attributes (n strings at args, as they follow the options on the command line):
 * "flags=", "user=", "size=", "eol=", "directory=", "null_sender=", each at most once, then
 * "argv=COMMAND" and every later string as the command's arguments. Postfix's "{ ... }"
 * grouping of one argument is accepted and removed. Returns 0 with a new PipeArgs, or with
 * *ret_error (malloc'd) saying what is wrong:
 *   -EINVAL    an unknown or repeated attribute, a missing user= or argv=, an empty command;
 *   -EBADMSG   a bad value: an unknown flag letter, a bad eol= escape, a bad size, a user or
 *              group name that is empty or holds anything but [A-Za-z0-9._-], a macro that is
 *              unknown or malformed ("$", "${x", "$%"), a relative command or directory path;
 *   -EPERM     user=root or user=NAME:root (pipe(8) never runs a command as root);
 *   -EOPNOTSUPP chroot= (the unit's RootDirectory= does that);
 *   -E2BIG     more than PIPE_ARGV_MAX strings after argv=;
 *   -EMSGSIZE  a value longer than PIPE_VALUE_MAX, an eol= longer than PIPE_EOL_MAX;
 *   -ENOMEM. Pure. */
int pipe_args_parse(char *const *args, size_t n, PipeArgs **ret, char **ret_error);
PipeArgs *pipe_args_free(PipeArgs *a);
DEFINE_PTR_CLEANUP(PipeArgs *, pipe_args_free);
/* "DRXhu" for the flag bits, in that canonical order (BDFORXhqu.>); into buf of at least 12
 * bytes. Returns buf. */
char *pipe_flags_to_string(unsigned flags, char buf[static 12]);

/* One recipient of a delivery. */
typedef struct PipeRecipient {
        const char *address;
        const char *original;           /* original recipient; NULL: the address */
} PipeRecipient;

/* What the macros expand to. NULL strings expand to "". */
typedef struct PipeContext {
        const char *sender;             /* "" for the null sender */
        const char *nexthop;
        const char *queue_id;
        const char *client_address;
        const char *client_helo;
        const char *client_hostname;
        const char *client_port;
        const char *client_protocol;
        const char *sasl_method;
        const char *sasl_sender;
        const char *sasl_username;
        uint64_t size;
        const char *recipient_delimiter; /* recipient_delimiter; "" or NULL: none */
        const PipeRecipient *rcpts;
        size_t n_rcpts;
} PipeContext;

/* Expands a's argument templates against c: ${name}, $name, $(name), $$ (pipe(8)); a template
 * that holds a recipient macro (recipient, original_recipient, user, extension, mailbox,
 * domain) becomes one argument per recipient, in order. The flags h, q, u apply as pipe(8)
 * says. Returns 0 with a NULL-terminated strv (malloc'd), -E2BIG past PIPE_EXPANDED_ARGC_MAX
 * arguments or PIPE_EXPANDED_BYTES_MAX bytes, -ENOMEM. Pure. */
int pipe_argv_expand(const PipeArgs *a, const PipeContext *c, char ***ret);
/* RFC 822 quoting of an address's localpart (text left of the right-most '@'), 8-bit
 * transparent, as the q flag does: the localpart is put in double quotes, with '"' and '\'
 * escaped, when it is not a dot-atom. Returns a malloc'd string or NULL. */
char *pipe_quote_address(const char *address);

/* The message stream to the command: LF lines in, lines ending in eol out, with "." before a
 * line starting with "." (flag .) and ">" before a line starting with "From " (flag >). Fed
 * with bytes split anywhere. */
typedef struct PipeStream {
        unsigned flags;
        const char *eol;                /* not owned */
        size_t eol_len;
        bool bol;                       /* at the start of a line */
        char pending[5];                /* a possible "From " at the start of a line */
        size_t n_pending;
} PipeStream;

/* Starts a stream for the flags and eol (which must outlive it). */
void pipe_stream_init(PipeStream *s, unsigned flags, const char *eol, size_t eol_len);
/* Appends the transformed form of n bytes at p to out. Returns 0, -ENOBUFS, -ENOMEM from
 * out. */
int pipe_stream_feed(PipeStream *s, const char *p, size_t n, Buf *out);
/* Ends the stream: the last line gets its eol if it had none, and flag B adds an empty line.
 * Returns as pipe_stream_feed(). */
int pipe_stream_finish(PipeStream *s, Buf *out);

/* The lines before the message for the flags F, R, D, O (in Postfix's order: From_,
 * Return-Path:, Delivered-To:, X-Original-To:), LF-terminated: give them their eol with a
 * stream without flags (a From_ line is not content to quote with ">").
 * sender "" is replaced by null_sender; D uses the lower-cased recipient. arrival_usec gives
 * the From_ line's date (UTC). Control characters in the values become spaces. Returns 0 with
 * a malloc'd string ("" when no flag asks for a line), -ENOMEM. */
int pipe_head_format(unsigned flags, const char *null_sender, const char *sender,
                     const PipeRecipient *rcpt, uint64_t arrival_usec, char **ret);

/* A result for every recipient of a command's run. */
typedef struct PipeOutcome {
        IpcStatus status;
        char dsn[IPC_DSN_MAX + 1];
        char text[PIPE_TEXT_MAX + 1];
} PipeOutcome;

/* Maps how a command ended to a result with Postfix's texts: exit 0 "delivered via SERVICE
 * service" (with " (output)" when it wrote something); killed at the time limit: deferred
 * 4.3.0 "Command time limit exceeded: "COMMAND""; a signal: deferred 4.3.0 "Command died with
 * signal N: "COMMAND""; a <sysexits.h> code: its text and status (EX_TEMPFAIL, EX_OSERR
 * deferred, the others bounced); another code: bounced 5.3.0 "Command died with status N:
 * "COMMAND"". A failure's output follows as ". Command output: ..." and, when it starts with an
 * RFC 3463 4.x.x or 5.x.x code, that code decides the dsn and status. output (n bytes, any
 * bytes) is sanitised and cut; trailing white space is dropped. */
void pipe_outcome_from_exit(const char *service, const char *command, int wait_status,
                            bool timed_out, const char *output, size_t n, PipeOutcome *ret);

/* ---- The agent (pipe_deliver.c, main.c) ---- */

typedef struct PipeSettings {
        Config *config;                 /* owned; the strings below point into it */
        const char *queue_directory;
        const char *recipient_delimiter;
        char **export_environment;      /* owned strv */
        uint64_t command_time_limit_usec;       /* command_time_limit */
        uint64_t max_idle_usec;
        uint64_t max_use;               /* 0: no limit */
        uint64_t ipc_timeout_usec;
        const PipeArgs *args;           /* not owned */
        uid_t uid;                      /* of user= */
        gid_t gid;                      /* of user= or its :group */
} PipeSettings;

/* Reads DIR/main.cf with the -o overrides (NULL-terminated, may be NULL) and resolves user=:
 * the user must exist and be neither root (uid or gid 0) nor mail_owner. Returns 0, or -errno
 * with *ret_error (malloc'd). */
int pipe_settings_load(const char *config_dir, char *const *overrides, const PipeArgs *args,
                       PipeSettings **ret, char **ret_error);
PipeSettings *pipe_settings_free(PipeSettings *s);
DEFINE_PTR_CLEANUP(PipeSettings *, pipe_settings_free);

/* Handles one request: runs the command once for all its recipients (a D or O flag with more
 * than one recipient defers them all, as Postfix does), logs one line per recipient and
 * appends the result lines to out (the request loop adds the end line). The time limit is
 * <transport>_time_limit, else command_time_limit. Returns 0, or -errno (-ENOMEM, -ENOBUFS from
 * out) when no reply could be built. */
int pipe_request_handle(PipeSettings *s, const IpcRequest *req, Buf *out);
