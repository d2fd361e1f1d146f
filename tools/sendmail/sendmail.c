/* SPDX-License-Identifier: GPL-3.0-or-later */
/* sendmail: the Sendmail-compatible command line of local submission, also installed as mailq
 * (= sendmail -bp). Not set-uid or set-gid (DESIGN.md, Security): it connects to pickup's
 * public socket $RUNTIME_DIRECTORY/pickup and streams the envelope and the message in
 * pickup_proto.h's protocol; pickup learns who we are from SO_PEERCRED. What cron, mail(1),
 * PHP, git send-email and mutt use: -t, -f/-r, -F, -i/-oi, -oXXX (ignored as Postfix does),
 * -N, -R, -V, -B, -bm, -bs (SMTP on stdin/stdout), -bp, -bi (newaliases), -q (flush), -v.
 * Input is the user's own; it is bounded by pickup (message_size_limit). Exit statuses are
 * sysexits.h's, with a one-line reason on stderr. */
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sysexits.h>
#include <unistd.h>

#include "buf.h"
#include "config.h"
#include "pickup_proto.h"
#include "queue.h"
#include "showq.h"
#include "tern-config.h"

#define SENDMAIL_CHUNK 65536
#define SENDMAIL_SMTP_LINE_MAX 4096

typedef enum Mode { MODE_SEND, MODE_LIST, MODE_ALIASES, MODE_FLUSH, MODE_SMTP } Mode;

static const char *arg_prog = "sendmail";
static Mode arg_mode = MODE_SEND;
static bool arg_extract = false;
static bool arg_dot_ends = true;        /* without -i a line "." ends the message */
static const char *arg_sender = NULL;
static const char *arg_fullname = NULL;
static const char *arg_envid = NULL;
static const char *arg_ret = NULL;
static const char *arg_body = NULL;
static unsigned arg_notify = 0;
static bool arg_verbose = false;
static const char *arg_config_dir = NULL;

static int fail(int status, const char *fmt, ...) _printf_(2, 3);
static int fail(int status, const char *fmt, ...) {
        va_list ap;

        fprintf(stderr, "%s: fatal: ", arg_prog);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        return status;
}

static int socket_path(char **ret) {
        _cleanup_free_ char *run = config_runtime_dir();

        if (!run || asprintf(ret, "%s/pickup", run) < 0)
                return -ENOMEM;
        return 0;
}

/* Connects to pickup. Returns the fd, -errno. */
static int pickup_connect(const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd;

        if (strlen(path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                int r = -errno;

                close(fd);
                return r;
        }
        return fd;
}

static int send_buf(int fd, Buf *b) {
        int r = pickup_send(fd, buf_peek(b), buf_pending(b));

        buf_clear(b);
        return r;
}

/* Reads pickup's answer; DATA payloads go to out (stdout). Returns the exit status. */
static int read_reply(int fd, FILE *out, char **ret_text) {
        _cleanup_(buf_done) Buf in = BUF_INIT(PICKUP_LINE_MAX + SENDMAIL_CHUNK);
        uint64_t copy = 0;

        for (;;) {
                const char *p = buf_peek(&in);
                size_t n = buf_pending(&in);
                const char *lf;
                int r;

                if (copy > 0 && n > 0) {
                        size_t k = (size_t) MIN((uint64_t) n, copy);

                        if (fwrite(p, 1, k, out) != k)
                                return fail(EX_IOERR, "cannot write the output: %m");
                        buf_consume(&in, k);
                        copy -= k;
                        continue;
                }
                lf = copy == 0 ? memchr(p, '\n', n) : NULL;
                if (lf) {
                        _cleanup_free_ char *line = strndup(p, (size_t) (lf - p));
                        PickupReply rep;

                        if (!line)
                                return fail(EX_OSERR, "out of memory");
                        buf_consume(&in, (size_t) (lf - p) + 1);
                        if (pickup_reply_parse(line, strlen(line), &rep) < 0)
                                return fail(EX_PROTOCOL, "malformed reply from pickup");
                        if (rep.type == PICKUP_REPLY_DATA) {
                                copy = rep.size;
                                continue;
                        }
                        if (ret_text)
                                *ret_text = strdup(rep.text);
                        if (rep.type == PICKUP_REPLY_OK)
                                return EX_OK;
                        fprintf(stderr, "%s: fatal: %s\n", arg_prog, rep.text);
                        return rep.exit_status > 0 ? rep.exit_status : EX_SOFTWARE;
                }
                buf_compact(&in);
                r = buf_read_fd(&in, fd);
                if (r == 0)
                        return fail(EX_TEMPFAIL, "pickup closed the connection without an "
                                                 "answer; the message was not queued");
                if (r == -EINTR)
                        continue;
                if (r < 0)
                        return fail(EX_TEMPFAIL, "reading from pickup: %s", strerror(-r));
        }
}

/* Connects, or explains why not. Returns the fd or a negative exit status. */
static int connect_or_fail(void) {
        _cleanup_free_ char *path = NULL;
        int fd;

        if (socket_path(&path) < 0)
                return -fail(EX_OSERR, "out of memory");
        fd = pickup_connect(path);
        if (fd < 0)
                return -fail(EX_TEMPFAIL, "cannot connect to the mail system at %s (%s): "
                             "is tern running?", path, strerror(-fd));
        return fd;
}

/* Streams the envelope and the message from in to pickup. rcpts: NULL-terminated. The
 * content ends at EOF, or at a line "." unless -i. CRLF becomes LF. */
static int submit(const char *sender, char *const *rcpts, FILE *in, bool smtp_dot,
                  char **ret_id) {
        _cleanup_(buf_done) Buf b = BUF_INIT(BUF_MAX_UNBOUNDED);
        _cleanup_(buf_done) Buf chunk = BUF_INIT(BUF_MAX_UNBOUNDED);
        _cleanup_free_ char *line = NULL;
        _cleanup_close_ int fd = -EBADF;
        size_t cap = 0;
        ssize_t k;
        int r, q;

        fd = connect_or_fail();
        if (fd < 0)
                return -fd;

        r = pickup_line_append(&b, "submit", NULL);
        if (r >= 0 && sender)
                r = pickup_line_append(&b, "sender", sender);
        if (r >= 0 && arg_fullname)
                r = pickup_line_append(&b, "fullname", arg_fullname);
        if (r >= 0 && arg_extract)
                r = pickup_line_append(&b, "extract", NULL);
        if (r >= 0 && arg_ret)
                r = pickup_line_append(&b, "ret", arg_ret);
        if (r >= 0 && arg_envid)
                r = pickup_line_append(&b, "envid", arg_envid);
        if (r >= 0 && arg_body)
                r = pickup_line_append(&b, "body", arg_body);
        for (char *const *p = rcpts; r >= 0 && p && *p; p++) {
                r = buf_append_str(&b, "rcpt ");
                if (r >= 0)
                        r = pickup_xtext_append(&b, *p);
                if (r >= 0)
                        r = arg_notify ? buf_printf(&b, " %x\n", arg_notify)
                                       : buf_append_char(&b, '\n');
        }
        if (r < 0)
                return fail(EX_OSERR, "out of memory");
        r = send_buf(fd, &b);

        while (r >= 0 && (k = getline(&line, &cap, in)) > 0) {
                size_t n = (size_t) k;
                bool lf = line[n - 1] == '\n';

                if (lf)
                        n--;
                if (n > 0 && line[n - 1] == '\r' && lf)
                        n--;                    /* sendmail_fix_line_endings = always */
                if ((smtp_dot || arg_dot_ends) && n == 1 && line[0] == '.')
                        break;
                if (smtp_dot && n > 0 && line[0] == '.') {
                        /* SMTP: undo the client's dot-stuffing (RFC 5321 §4.5.2). */
                        memmove(line, line + 1, n - 1);
                        n--;
                }
                r = buf_append(&chunk, line, n);
                if (r >= 0)
                        r = buf_append_char(&chunk, '\n');
                if (r >= 0 && buf_pending(&chunk) >= SENDMAIL_CHUNK) {
                        r = buf_printf(&b, "data %zu\n", buf_pending(&chunk));
                        if (r >= 0)
                                r = send_buf(fd, &b);
                        if (r >= 0)
                                r = send_buf(fd, &chunk);
                }
        }
        if (r >= 0 && ferror(in))
                return fail(EX_IOERR, "cannot read the message: %m");
        if (r >= 0 && buf_pending(&chunk) > 0) {
                r = buf_printf(&b, "data %zu\n", buf_pending(&chunk));
                if (r >= 0)
                        r = send_buf(fd, &b);
                if (r >= 0)
                        r = send_buf(fd, &chunk);
        }
        if (r >= 0)
                r = pickup_line_append(&b, "end", NULL);
        if (r >= 0)
                r = send_buf(fd, &b);
        /* Even after a write error pickup may have told us why (it stops reading when it
         * refuses), so read its answer either way. */
        q = read_reply(fd, stdout, ret_id);
        if (q == EX_OK && r < 0)
                return fail(EX_TEMPFAIL, "writing to pickup: %s", strerror(-r));
        if (q == EX_OK && arg_verbose && ret_id && *ret_id)
                fprintf(stderr, "%s: queued as %s\n", arg_prog, *ret_id);
        return q;
}

static int simple_request(const char *verb) {
        _cleanup_(buf_done) Buf b = BUF_INIT(BUF_MAX_UNBOUNDED);
        _cleanup_close_ int fd = -EBADF;
        int r;

        fd = connect_or_fail();
        if (fd < 0) {
                _cleanup_(queue_dirs_freep) QueueDirs *d = NULL;
                _cleanup_(config_freep) Config *c = NULL;
                _cleanup_(buf_done) Buf out = BUF_INIT(BUF_MAX_UNBOUNDED);
                const char *qd;

                /* Postfix's mailq reads the queue directly when the mail system is down
                 * and the caller may (root). */
                if (!streq(verb, "list") || geteuid() != 0 || config_new(&c) < 0 ||
                    config_load_dir(c, config_dir_resolve(arg_config_dir), NULL) < 0 ||
                    config_expand(c, "queue_directory", &qd, NULL) < 0 ||
                    queue_dirs_open(strempty(qd), &d) < 0 || showq_format(d, false, &out) < 0)
                        return -fd;
                fprintf(stderr, "%s: warning: Mail system is down -- accessing queue "
                        "directly\n", arg_prog);
                fwrite(buf_peek(&out), 1, buf_pending(&out), stdout);
                return EX_OK;
        }
        r = pickup_line_append(&b, verb, NULL);
        if (r >= 0)
                r = send_buf(fd, &b);
        if (r < 0)
                return fail(EX_TEMPFAIL, "writing to pickup: %s", strerror(-r));
        return read_reply(fd, stdout, NULL);
}

/* ---- sendmail -bs: SMTP on stdin/stdout, each transaction submitted through pickup ---- */

static void smtp_reply(const char *text) {
        printf("%s\r\n", text);
        fflush(stdout);
}

/* "<addr>" after "FROM:" or "TO:"; returns a malloc'd address (the brackets removed) or NULL. */
static char *smtp_path(const char *arg) {
        const char *lt, *gt;

        while (*arg == ' ')
                arg++;
        lt = strchr(arg, '<');
        gt = lt ? strchr(lt, '>') : NULL;
        if (!lt || !gt)
                return NULL;
        return strndup(lt + 1, (size_t) (gt - lt - 1));
}

static int run_smtp(void) {
        _cleanup_free_ char *line = NULL, *sender = NULL, *host = NULL;
        _cleanup_strv_free_ char **rcpts = NULL;
        size_t n_rcpts = 0, cap = 0;
        bool have_mail = false;
        ssize_t k;

        host = malloc(256);
        if (!host || gethostname(host, 255) < 0)
                return fail(EX_OSERR, "cannot learn the host name");
        host[255] = '\0';
        printf("220 %s ESMTP tern\r\n", host);
        fflush(stdout);

        while ((k = getline(&line, &cap, stdin)) > 0) {
                size_t n = (size_t) k;

                while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
                        line[--n] = '\0';
                if (n > SENDMAIL_SMTP_LINE_MAX) {
                        smtp_reply("500 5.5.0 Error: line too long");
                        continue;
                }
                if (strncasecmp(line, "HELO", 4) == 0) {
                        printf("250 %s\r\n", host);
                        fflush(stdout);
                } else if (strncasecmp(line, "EHLO", 4) == 0) {
                        printf("250-%s\r\n250-PIPELINING\r\n250-8BITMIME\r\n"
                               "250 ENHANCEDSTATUSCODES\r\n", host);
                        fflush(stdout);
                } else if (strncasecmp(line, "MAIL FROM:", 10) == 0) {
                        if (have_mail) {
                                smtp_reply("503 5.5.1 Error: nested MAIL command");
                                continue;
                        }
                        free(sender);
                        sender = smtp_path(line + 10);
                        if (!sender) {
                                smtp_reply("501 5.5.4 Syntax: MAIL FROM:<address>");
                                continue;
                        }
                        have_mail = true;
                        smtp_reply("250 2.1.0 Ok");
                } else if (strncasecmp(line, "RCPT TO:", 8) == 0) {
                        char *a = have_mail ? smtp_path(line + 8) : NULL;
                        char **v;

                        if (!have_mail) {
                                smtp_reply("503 5.5.1 Error: need MAIL command");
                                continue;
                        }
                        if (!a || !*a) {
                                free(a);
                                smtp_reply("501 5.5.4 Syntax: RCPT TO:<address>");
                                continue;
                        }
                        v = reallocarray(rcpts, n_rcpts + 2, sizeof(char *));
                        if (!v) {
                                free(a);
                                return fail(EX_OSERR, "out of memory");
                        }
                        rcpts = v;
                        rcpts[n_rcpts++] = a;
                        rcpts[n_rcpts] = NULL;
                        smtp_reply("250 2.1.5 Ok");
                } else if (strcasecmp(line, "DATA") == 0) {
                        _cleanup_free_ char *id = NULL;
                        int r;

                        if (n_rcpts == 0) {
                                smtp_reply("554 5.5.1 Error: no valid recipients");
                                continue;
                        }
                        smtp_reply("354 End data with <CR><LF>.<CR><LF>");
                        r = submit(sender, rcpts, stdin, /* smtp_dot= */ true, &id);
                        if (r == EX_OK)
                                printf("250 2.0.0 Ok: queued as %s\r\n", strempty(id));
                        else if (r == EX_TEMPFAIL)
                                printf("451 4.3.0 Error: queue file write error\r\n");
                        else
                                printf("554 5.0.0 Error: message not accepted\r\n");
                        fflush(stdout);
                        strv_free(rcpts);
                        rcpts = NULL;
                        n_rcpts = 0;
                        have_mail = false;
                } else if (strcasecmp(line, "RSET") == 0) {
                        strv_free(rcpts);
                        rcpts = NULL;
                        n_rcpts = 0;
                        have_mail = false;
                        smtp_reply("250 2.0.0 Ok");
                } else if (strncasecmp(line, "NOOP", 4) == 0) {
                        smtp_reply("250 2.0.0 Ok");
                } else if (strncasecmp(line, "VRFY", 4) == 0) {
                        smtp_reply("252 2.0.0 Send mail to find out");
                } else if (strcasecmp(line, "QUIT") == 0) {
                        smtp_reply("221 2.0.0 Bye");
                        return EX_OK;
                } else
                        smtp_reply("502 5.5.2 Error: command not recognized");
        }
        return EX_OK;
}

/* -N never | success,delay,failure (RFC 3461 NOTIFY). */
static int parse_notify(const char *s, unsigned *ret) {
        _cleanup_free_ char *copy = strdup(s);
        unsigned bits = 0;
        char *save = NULL;

        if (!copy)
                return -ENOMEM;
        for (char *w = strtok_r(copy, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
                if (strcasecmp(w, "never") == 0)
                        bits |= QUEUE_NOTIFY_NEVER;
                else if (strcasecmp(w, "success") == 0)
                        bits |= QUEUE_NOTIFY_SUCCESS;
                else if (strcasecmp(w, "failure") == 0)
                        bits |= QUEUE_NOTIFY_FAILURE;
                else if (strcasecmp(w, "delay") == 0)
                        bits |= QUEUE_NOTIFY_DELAY;
                else
                        return -EINVAL;
        }
        if (!queue_notify_is_valid(bits) || bits == 0)
                return -EINVAL;
        *ret = bits;
        return 0;
}

static void help(void) {
        printf("Usage: %s [OPTIONS] [RECIPIENT...]\n\n"
               "Submits a message from standard input through tern's pickup service.\n\n"
               "  -t            take recipients from To:, Cc:, Bcc: (Bcc: is removed)\n"
               "  -f ADDR       envelope sender (also -r)\n"
               "  -F NAME       full name for a From: header tern adds\n"
               "  -i, -oi       a line with a single dot does not end the message\n"
               "  -N LIST       DSN notify: never or success,delay,failure\n"
               "  -R full|hdrs  DSN return\n"
               "  -V ENVID      DSN envelope id\n"
               "  -B TYPE       body type: 7BIT or 8BITMIME\n"
               "  -bm           deliver mail (the default)\n"
               "  -bs           SMTP on standard input and output\n"
               "  -bp           list the mail queue (mailq)\n"
               "  -bi           rebuild the aliases database (newaliases)\n"
               "  -q            retry deferred mail now\n"
               "  -C DIR        configuration directory\n"
               "  -v            verbose\n", arg_prog);
}

int main(int argc, char **argv) {
        int c, r;

        (void) signal(SIGPIPE, SIG_IGN);
        arg_prog = basename(argv[0]);
        if (streq(arg_prog, "mailq"))
                arg_mode = MODE_LIST;
        else if (streq(arg_prog, "newaliases"))
                arg_mode = MODE_ALIASES;

        /* Sendmail's option letters; those Postfix ignores are accepted and ignored. */
        while ((c = getopt(argc, argv, "B:C:F:GIL:N:R:UV:X:b:ce:f:h:imno:p:q:r:tvx")) >= 0)
                switch (c) {
                case 'B':
                        if (strcasecmp(optarg, "8BITMIME") != 0 &&
                            strcasecmp(optarg, "7BIT") != 0)
                                return fail(EX_USAGE, "-B: expected 7BIT or 8BITMIME, not "
                                            "'%s'", optarg);
                        arg_body = strcasecmp(optarg, "7BIT") == 0 ? "7BIT" : "8BITMIME";
                        break;
                case 'C':
                        arg_config_dir = optarg;
                        break;
                case 'F':
                        arg_fullname = optarg;
                        break;
                case 'I':
                        arg_mode = MODE_ALIASES;
                        break;
                case 'N':
                        if (parse_notify(optarg, &arg_notify) < 0)
                                return fail(EX_USAGE, "-N: bad DSN notification '%s'", optarg);
                        break;
                case 'R':
                        if (strcasecmp(optarg, "full") != 0 && strcasecmp(optarg, "hdrs") != 0)
                                return fail(EX_USAGE, "-R: expected full or hdrs");
                        arg_ret = strcasecmp(optarg, "full") == 0 ? "FULL" : "HDRS";
                        break;
                case 'V':
                        arg_envid = optarg;
                        break;
                case 'b':
                        switch (optarg[0]) {
                        case 'm': arg_mode = MODE_SEND; break;
                        case 'p': arg_mode = MODE_LIST; break;
                        case 'i': arg_mode = MODE_ALIASES; break;
                        case 's': arg_mode = MODE_SMTP; break;
                        default:
                                return fail(EX_USAGE, "unsupported: -b%s", optarg);
                        }
                        break;
                case 'f':
                case 'r':
                        arg_sender = optarg;
                        break;
                case 'i':
                        arg_dot_ends = false;
                        break;
                case 'o':
                        /* -oi as -i; -oem, -oep, -om and the other -o options are ignored,
                         * as Postfix ignores them. */
                        if (streq(optarg, "i"))
                                arg_dot_ends = false;
                        break;
                case 'q':
                        arg_mode = MODE_FLUSH;
                        break;
                case 't':
                        arg_extract = true;
                        break;
                case 'v':
                        arg_verbose = true;
                        break;
                case 'G': case 'L': case 'U': case 'X': case 'c': case 'e': case 'h':
                case 'm': case 'n': case 'p': case 'x':
                        break;          /* ignored, as by Postfix */
                default:
                        help();
                        return EX_USAGE;
                }
        if (arg_config_dir)
                (void) setenv("TERN_CONFIG", arg_config_dir, 1);
        if (arg_sender && arg_sender[0] == '<') {
                /* -f '<>' is the null sender, -f '<a@b>' is a@b. */
                size_t n = strlen(arg_sender);
                char *s = n >= 2 && arg_sender[n - 1] == '>' ?
                          strndup(arg_sender + 1, n - 2) : NULL;

                if (!s)
                        return fail(EX_USAGE, "-f: bad address '%s'", arg_sender);
                arg_sender = s;         /* lives until exit */
        }

        switch (arg_mode) {
        case MODE_LIST:
                return simple_request("list");
        case MODE_FLUSH:
                return simple_request("flush");
        case MODE_SMTP:
                return run_smtp();
        case MODE_ALIASES: {
                char *args[] = { (char *) "newaliases", NULL };

                fflush(NULL);
                execv(TERN_SBINDIR "/ternctl", args);
                return fail(EX_UNAVAILABLE, "cannot run %s/ternctl: %m", TERN_SBINDIR);
        }
        case MODE_SEND:
        default:
                if (optind >= argc && !arg_extract)
                        return fail(EX_USAGE, "Recipient addresses must be specified on the "
                                    "command line or via the -t option");
                r = submit(arg_sender, argv + optind, stdin, /* smtp_dot= */ false, NULL);
                return r;
        }
}
