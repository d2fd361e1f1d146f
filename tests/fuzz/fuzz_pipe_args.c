/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Fuzz target for the pipe agent's pure parts (services/pipe/pipe_args.c). The input is split
 * at LF into attribute strings (a command line after the options) and parsed; the parse either
 * fails with a documented code and a message, or yields attributes whose argument templates
 * then expand against a request whose recipient and sender are also taken from the input.
 * Invariants: the expanded vector is NULL-terminated, within PIPE_EXPANDED_ARGC_MAX arguments
 * and PIPE_EXPANDED_BYTES_MAX bytes; the message stream of the whole input under the parsed
 * flags and eol is the same whatever the split (in two, byte by byte); with no flag and eol LF
 * the stream changes nothing but a missing last LF; quoting an address and undoing the quotes
 * gives the address back; the exit mapping always gives a dsn of its status's class. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "log.h"
#include "pipe.h"

#define FUZZ_MAX (16 * 1024)

static void stream(const PipeArgs *a, const uint8_t *data, size_t size, size_t step, Buf *out) {
        PipeStream s;

        pipe_stream_init(&s, a->flags, a->eol, a->eol_len);
        for (size_t off = 0; off < size; off += step)
                assert(pipe_stream_feed(&s, (const char *) data + off, MIN(step, size - off),
                                        out) == 0);
        assert(pipe_stream_finish(&s, out) == 0);
}

static void check_quote(const char *addr) {
        _cleanup_free_ char *q = pipe_quote_address(addr);
        _cleanup_free_ char *back = NULL;
        size_t i, k = 0;

        assert(q);
        if (q[0] != '"' || streq(q, addr))
                return;
        back = malloc(strlen(q) + 1);
        assert(back);
        /* The closing quote is the first unescaped one; the domain may hold others. */
        for (i = 1; q[i] != '"'; i++) {
                assert(q[i] != '\0');
                if (q[i] == '\\')
                        i++;
                back[k++] = q[i];
        }
        strcpy(back + k, q + i + 1);
        assert(streq(back, addr));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(pipe_args_freep) PipeArgs *a = NULL;
        _cleanup_strv_free_ char **args = NULL, **argv = NULL;
        _cleanup_free_ char *err = NULL, *copy = NULL, *head = NULL;
        size_t n = 0, total = 0, count = 0;
        int r;

        log_set_quiet(true);
        if (size > FUZZ_MAX)
                return 0;
        copy = strndup((const char *) data, size);     /* up to the first NUL */
        assert(copy);
        args = calloc(strlen(copy) + 2, sizeof(char *));
        assert(args);
        for (char *p = copy, *e; p; p = e ? e + 1 : NULL) {
                e = strchr(p, '\n');
                args[n] = e ? strndup(p, (size_t) (e - p)) : strdup(p);
                assert(args[n]);
                n++;
        }

        check_quote(copy);
        r = pipe_args_parse(args, n, &a, &err);
        if (r < 0) {
                assert(IN_SET(r, -EINVAL, -EBADMSG, -EPERM, -EOPNOTSUPP, -E2BIG, -EMSGSIZE));
                assert(!a);
                assert(err);
                return 0;
        }
        assert(a && a->argc >= 1 && a->argv[0][0] == '/' && a->user && a->null_sender);
        assert(a->eol_len >= 1 && a->eol_len <= PIPE_EOL_MAX);

        PipeRecipient rcpts[] = { { args[0], NULL }, { "Bob+x@Example.com", args[n - 1] } };
        PipeContext c = {
                .sender = args[n / 2], .nexthop = args[0], .queue_id = "Q",
                .recipient_delimiter = "+-", .rcpts = rcpts, .n_rcpts = 2, .size = size,
        };
        r = pipe_argv_expand(a, &c, &argv);
        assert(r == 0 || r == -E2BIG);
        if (r == 0) {
                for (char **p = argv; *p; p++) {
                        count++;
                        total += strlen(*p) + 1;
                }
                assert(count >= a->argc && count <= PIPE_EXPANDED_ARGC_MAX);
                assert(total <= PIPE_EXPANDED_BYTES_MAX);
        }
        assert(pipe_head_format(a->flags, a->null_sender, c.sender, &rcpts[0], 0, &head) == 0);
        for (size_t i = 0; head[i]; i++)
                assert(head[i] == '\n' || (unsigned char) head[i] >= ' ');

        {
                _cleanup_(buf_done) Buf whole = BUF_INIT(SIZE_MAX / 2);
                _cleanup_(buf_done) Buf half = BUF_INIT(SIZE_MAX / 2);
                _cleanup_(buf_done) Buf bytes = BUF_INIT(SIZE_MAX / 2);

                stream(a, data, size, MAX(size, (size_t) 1), &whole);
                stream(a, data, size, MAX(size / 2, (size_t) 1), &half);
                stream(a, data, size, 1, &bytes);
                assert(whole.len == half.len && whole.len == bytes.len);
                assert(whole.len == 0 || memcmp(whole.data, half.data, whole.len) == 0);
                assert(whole.len == 0 || memcmp(whole.data, bytes.data, whole.len) == 0);
                if ((a->flags & (PIPE_FLAG_DOT | PIPE_FLAG_QUOTE_FROM | PIPE_FLAG_BLANK)) == 0 &&
                    streq(a->eol, "\n") && size > 0) {
                        assert(whole.len == size + (data[size - 1] != '\n'));
                        assert(memcmp(whole.data, data, size) == 0);
                }
        }

        {
                PipeOutcome o;
                int status = size > 0 ? data[0] : 0;

                pipe_outcome_from_exit(a->user, a->argv[0], W_EXITCODE(status, 0), false, copy,
                                       strlen(copy), &o);
                assert(ipc_dsn_is_valid(o.dsn));
                assert(o.dsn[0] == ipc_status_dsn_class(o.status));
        }
        return 0;
}
