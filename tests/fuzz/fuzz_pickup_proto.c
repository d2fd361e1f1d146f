/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Fuzz target of pickup_proto: arbitrary bytes as what a local user sends to pickup, and as a
 * reply line sendmail reads. Invariants: no crash; every call consumes at most what it was
 * given and makes progress or asks for more; errors are sticky; feeding the input byte by byte
 * yields the same events and the same result as feeding it whole; decoded values hold no NUL
 * and fit PICKUP_VALUE_MAX; every decoded value survives encode -> parse unchanged. */
#include <stdint.h>
#include <string.h>

#include "log.h"
#include "pickup_proto.h"

#define FUZZ_PICKUP_MAX 65536

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Feeds in steps of step bytes; appends a trace of the events to t. Returns the last result. */
static int run(const char *in, size_t n, size_t step, Buf *t) {
        _cleanup_(pickup_parser_freep) PickupParser *p = NULL;
        size_t off = 0;
        int r = 0;

        if (pickup_parser_new(&p) < 0)
                abort();
        while (off < n) {
                size_t len = MIN(step, n - off), used;
                PickupEvent ev;

                r = pickup_parser_feed(p, in + off, len, &used, &ev);
                assert(used <= len);
                off += used;
                if (r < 0) {
                        size_t again;

                        assert(pickup_parser_feed(p, in, n, &again, &ev) == r && again == 0);
                        break;
                }
                if (r == 0) {
                        assert(used == len);
                        continue;
                }
                if (ev.verb == PICKUP_DATA)
                        assert(ev.n > 0 && ev.value >= in && ev.value + ev.n <= in + n);
                else if (ev.value && ev.verb != PICKUP_RET && ev.verb != PICKUP_BODY) {
                        _cleanup_(buf_done) Buf enc = BUF_INIT(BUF_MAX_UNBOUNDED);
                        _cleanup_(pickup_parser_freep) PickupParser *q = NULL;
                        PickupEvent ev2;
                        size_t used2;

                        assert(strlen(ev.value) == ev.n && ev.n <= PICKUP_VALUE_MAX);
                        /* round trip through the encoder */
                        assert(pickup_parser_new(&q) == 0);
                        assert(buf_append_str(&enc, "submit\n") == 0);
                        assert(pickup_line_append(&enc, "envid", ev.value) == 0);
                        assert(pickup_parser_feed(q, buf_peek(&enc), buf_pending(&enc), &used2,
                                                  &ev2) == 1);
                        assert(pickup_parser_feed(q, buf_peek(&enc) + used2,
                                                  buf_pending(&enc) - used2, &used2, &ev2) == 1);
                        assert(ev2.verb == PICKUP_ENVID && streq(ev2.value, ev.value));
                }
                (void) buf_printf(t, "%d:%zu:", (int) ev.verb, ev.n);
                if (ev.n > 0 && ev.value)
                        (void) buf_append(t, ev.value, ev.n);
                (void) buf_append_char(t, ';');
        }
        return r < 0 ? r : pickup_parser_done(p) ? 1 : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(buf_done) Buf whole = BUF_INIT(BUF_MAX_UNBOUNDED);
        _cleanup_(buf_done) Buf bytes = BUF_INIT(BUF_MAX_UNBOUNDED);
        _cleanup_free_ char *line = NULL;
        PickupReply rep;
        int a, b;

        log_set_quiet(true);
        if (size > FUZZ_PICKUP_MAX)
                return 0;

        a = run((const char *) data, size, size > 0 ? size : 1, &whole);
        b = run((const char *) data, size, 1, &bytes);
        /* Chunk data events differ in size when split; compare results only then. */
        assert(a == b);
        if (!memmem(data, size, "data", 4))
                assert(buf_pending(&whole) == buf_pending(&bytes) &&
                       memcmp(buf_peek(&whole), buf_peek(&bytes), buf_pending(&whole)) == 0);

        line = strndup((const char *) data, size);
        if (line && pickup_reply_parse(line, strlen(line), &rep) == 0 &&
            rep.type != PICKUP_REPLY_DATA)
                assert(rep.text && strlen(rep.text) <= size);
        return 0;
}
