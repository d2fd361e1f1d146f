/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Fuzz target for ipc: arbitrary bytes fed to the request parser (as a stream of requests) or to
 * the reply parser (one reply), whole and in pieces whose sizes come from the input. Invariants:
 * *ret_used <= n and progress on every call, the same messages and the same final result
 * whatever the split, every parsed message formats again and parses back equal (parse -> build
 * -> parse), and a reply's results name distinct indexes of the request. Layout: byte 0 picks
 * the parser (bit 0) and, for replies, the number of recipient indexes (0..k-1, k = 1 + bits
 * 1-3); bytes 1-4 the piece sizes; the rest is the stream. */
#include <stdint.h>

#include "buf.h"
#include "ipc.h"
#include "log.h"

#define FUZZ_MAX (256 * 1024)
#define HEADER 5

/* Parse -> format -> parse of one request; the formatted text goes to the transcript. */
static void request_check(const IpcRequest *r, Buf *transcript) {
        _cleanup_(ipc_request_parser_freep) IpcRequestParser *p = NULL;
        _cleanup_(ipc_request_freep) IpcRequest *back = NULL;
        _cleanup_(buf_done) Buf out = BUF_INIT(BUF_MAX_UNBOUNDED);
        size_t used;

        assert(r->n_rcpts >= 1 && r->n_rcpts <= IPC_RCPT_MAX);
        assert(r->sender && r->transport && r->nexthop);
        assert(ipc_request_format(r, &out) == 0);
        assert(ipc_request_parser_new(&p) == 0);
        assert(ipc_request_feed(p, buf_peek(&out), buf_pending(&out), &used, &back) == 1);
        assert(used == buf_pending(&out));
        assert(ipc_request_equal(r, back));
        assert(buf_append(transcript, buf_peek(&out), buf_pending(&out)) == 0);
}

static void reply_check(const IpcReply *r, size_t k, bool complete, Buf *transcript) {
        _cleanup_(buf_done) Buf out = BUF_INIT(BUF_MAX_UNBOUNDED);
        bool seen[8] = {};

        assert(r->n_results <= k);
        assert(!complete || r->n_results == k);
        for (size_t i = 0; i < r->n_results; i++) {
                const IpcResult *x = &r->results[i];

                assert(x->index < k && !seen[x->index]);
                seen[x->index] = true;
                assert(ipc_dsn_is_valid(x->dsn));
                assert(x->dsn[0] == ipc_status_dsn_class(x->status));
                assert(x->relay && x->relay[0] && x->text);
                assert(ipc_reply_find(r, x->index) == x);
        }
        assert(ipc_reply_format(r, &out) == 0);
        if (complete) {
                _cleanup_(ipc_reply_parser_freep) IpcReplyParser *p = NULL;
                _cleanup_(ipc_reply_freep) IpcReply *back = NULL;
                uint32_t idx[8];
                size_t used;

                for (size_t i = 0; i < k; i++)
                        idx[i] = (uint32_t) (k - 1 - i);
                assert(ipc_reply_parser_new(idx, k, &p) == 0);
                assert(ipc_reply_feed(p, buf_peek(&out), buf_pending(&out), &used, &back) == 1);
                assert(used == buf_pending(&out));
                assert(ipc_reply_equal(r, back));
        }
        assert(buf_append(transcript, buf_peek(&out), buf_pending(&out)) == 0);
}

/* Feeds s in pieces (steps NULL: whole) and records every message and the final result. */
static void run(bool reply, size_t k, const char *s, size_t n, const uint8_t *steps,
                Buf *transcript) {
        _cleanup_(ipc_request_parser_freep) IpcRequestParser *rp = NULL;
        _cleanup_(ipc_reply_parser_freep) IpcReplyParser *yp = NULL;
        size_t pos = 0, si = 0;
        int last = 0;

        if (reply) {
                uint32_t idx[8];

                for (size_t i = 0; i < k; i++)
                        idx[i] = (uint32_t) i;
                assert(ipc_reply_parser_new(idx, k, &yp) == 0);
        } else
                assert(ipc_request_parser_new(&rp) == 0);

        while (pos < n && last >= 0) {
                size_t step = steps ? (size_t) steps[si++ % 4] + 1 : SIZE_MAX;
                size_t len = n - pos;
                size_t off = 0;

                len = MIN(step, len);
                while (off < len) {
                        size_t used = SIZE_MAX;
                        int r;

                        if (reply) {
                                _cleanup_(ipc_reply_freep) IpcReply *y = NULL;

                                r = ipc_reply_feed(yp, s + pos + off, len - off, &used, &y);
                                if (r > 0)
                                        reply_check(y, k, true, transcript);
                        } else {
                                _cleanup_(ipc_request_freep) IpcRequest *q = NULL;

                                r = ipc_request_feed(rp, s + pos + off, len - off, &used, &q);
                                if (r > 0)
                                        request_check(q, transcript);
                        }
                        /* Progress: a parser that has not failed takes at least a byte. */
                        assert(used > 0 && used <= len - off);
                        off += used;
                        if (r == 0) {
                                assert(off == len);
                                break;
                        }
                        if (r < 0) {
                                assert(r == -EBADMSG || r == -EMSGSIZE || r == -E2BIG ||
                                       (reply && r == -EALREADY));
                                last = r;
                                break;
                        }
                        if (reply) {
                                /* One reply per parser; what follows is the caller's. */
                                last = -EALREADY;
                                break;
                        }
                }
                pos += off;
                if (last < 0)
                        break;
        }

        if (reply && last != -EALREADY) {
                _cleanup_(ipc_reply_freep) IpcReply *part = NULL;

                assert(ipc_reply_parser_take_partial(yp, &part) == 0);
                reply_check(part, k, false, transcript);
        }
        /* After a line error the bytes consumed depend on the split (the parser reads ahead
         * within the line); after a message they do not. */
        if (last == 0 || last == -EALREADY)
                assert(buf_printf(transcript, "\n=%d@%zu\n", last, pos) == 0);
        else
                assert(buf_printf(transcript, "\n=%d\n", last) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(buf_done) Buf whole = BUF_INIT(BUF_MAX_UNBOUNDED);
        _cleanup_(buf_done) Buf split = BUF_INIT(BUF_MAX_UNBOUNDED);
        _cleanup_(buf_done) Buf trickle = BUF_INIT(BUF_MAX_UNBOUNDED);
        static const uint8_t ones[4] = { 0, 0, 0, 0 };
        bool reply;
        size_t k;

        log_set_quiet(true);
        if (size < HEADER || size > FUZZ_MAX)
                return 0;

        reply = data[0] & 1;
        k = 1 + ((data[0] >> 1) & 7);
        run(reply, k, (const char *) data + HEADER, size - HEADER, NULL, &whole);
        run(reply, k, (const char *) data + HEADER, size - HEADER, data + 1, &split);
        assert(buf_pending(&whole) == buf_pending(&split));
        assert(memcmp(buf_peek(&whole), buf_peek(&split), buf_pending(&whole)) == 0);
        if (size - HEADER <= 4096) {
                run(reply, k, (const char *) data + HEADER, size - HEADER, ones, &trickle);
                assert(buf_pending(&whole) == buf_pending(&trickle));
                assert(memcmp(buf_peek(&whole), buf_peek(&trickle), buf_pending(&whole)) == 0);
        }
        return 0;
}
