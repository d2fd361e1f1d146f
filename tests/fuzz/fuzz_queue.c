/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Fuzz target for the queue file parser and the qmgr trigger parser. Arbitrary bytes go to
 * queue_file_parse(); when they parse, the envelope is formatted again with the same content and
 * must parse back equal, with the same content bytes, and every status offset must point at its
 * status byte in the input. A parse under tight limits may only succeed when the default one
 * does, with the same result. The same bytes go to queue_trigger_parse(). */
#include <stdint.h>

#include "log.h"
#include "queue.h"

#define FUZZ_INPUT_MAX (1024 * 1024)

static void check_queue_file(const char *p, size_t n) {
        _cleanup_(queue_envelope_freep) QueueEnvelope *e = NULL, *again = NULL, *tight = NULL;
        _cleanup_(buf_done) Buf b = BUF_INIT(BUF_MAX_UNBOUNDED);
        QueueLimits lim = { .envelope_max = 512, .rcpt_max = 3, .attr_max = 2 };
        int r, rt;

        r = queue_file_parse(p, n, NULL, &e);
        assert(r == 0 || r == -EBADMSG || r == -EMSGSIZE || r == -E2BIG || r == -ENOMEM);
        rt = queue_file_parse(p, n, &lim, &tight);
        assert(rt == 0 || rt == -EBADMSG || rt == -EMSGSIZE || rt == -E2BIG || rt == -ENOMEM);
        if (rt == 0) {
                assert(r == 0);
                assert(queue_envelope_equal(e, tight));
        }
        if (r < 0) {
                assert(!e);
                return;
        }

        assert(e->sender);
        assert(e->n_rcpts > 0);
        assert(e->content_offset >= QUEUE_HEADER_LEN);
        assert(e->content_offset + e->content_size <= n);
        for (size_t i = 0; i < e->n_rcpts; i++) {
                assert(e->rcpts[i].status_offset < n);
                assert(p[e->rcpts[i].status_offset] == e->rcpts[i].status);
                assert(queue_rcpt_status_is_valid(e->rcpts[i].status));
                assert(queue_notify_is_valid(e->rcpts[i].notify));
                assert(*e->rcpts[i].address);
        }

        r = queue_file_format(e, p + e->content_offset, (size_t) e->content_size, &b);
        assert(r == 0);
        r = queue_file_parse(buf_peek(&b), buf_pending(&b), NULL, &again);
        assert(r == 0);
        assert(queue_envelope_equal(e, again));
        assert(again->content_size == e->content_size);
        assert(memcmp(buf_peek(&b) + again->content_offset, p + e->content_offset,
                      (size_t) e->content_size) == 0);
}

static void check_trigger(const char *p, size_t n) {
        QueueTrigger t;
        int r;

        r = queue_trigger_parse(p, n, &t);
        assert(r == 0 || r == -EBADMSG);
        if (r < 0)
                return;
        assert(t.type == 'i' || t.type == 'f' || t.type == 'd');
        assert(strlen(t.domain) <= QUEUE_TRIGGER_DOMAIN_MAX);
        assert((t.type == 'd') == (t.domain[0] != '\0'));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        log_set_quiet(true);
        if (size > FUZZ_INPUT_MAX)
                return 0;
        check_queue_file((const char *) data, size);
        check_trigger((const char *) data, size);
        return 0;
}
