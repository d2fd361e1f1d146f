/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Fuzz target of header: arbitrary bytes as the value of an address header, and as a header
 * line. Invariants: header_is_field_start() reports offsets inside the input; with an identity
 * callback the rewriter reproduces the input byte for byte; with a callback that changes every
 * address, rewriting the result again finds the same number of addresses, each one the
 * replacement of the first pass, and its identity rewrite reproduces the result; the token
 * limit only ever leaves more of the input unchanged. */
#include <stdint.h>

#include "header.h"
#include "log.h"

#define FUZZ_HEADER_MAX 16384

typedef struct Seen {
        Buf list;               /* internal forms seen, NUL-separated */
        size_t count;
        size_t same;            /* replacements equal to the address: no change in the output */
        bool change;
} Seen;

static int identity(void *userdata, const char *address, char **ret) {
        *ret = strdup(address);
        return *ret ? 0 : -ENOMEM;
}

/* Records each address; with change, replaces it: "x" becomes "x@fuzz.test", an address with
 * a domain becomes "r@fuzz.test". */
static int record(void *userdata, const char *address, char **ret) {
        Seen *s = userdata;
        int r;

        s->count++;
        r = buf_append(&s->list, address, strlen(address) + 1);
        assert(r == 0);
        if (!s->change) {
                *ret = NULL;
                return 0;
        }
        if (strchr(address, '@'))
                *ret = strdup("r@fuzz.test");
        else if (asprintf(ret, "%s@fuzz.test", address) < 0)
                *ret = NULL;
        if (!*ret)
                return -ENOMEM;
        if (streq(*ret, address))
                s->same++;
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(buf_done) Buf out = BUF_INIT(BUF_MAX_UNBOUNDED),
                                again = BUF_INIT(BUF_MAX_UNBOUNDED),
                                limited = BUF_INIT(BUF_MAX_UNBOUNDED);
        Seen first = { .list = BUF_INIT(BUF_MAX_UNBOUNDED), .change = true };
        Seen second = { .list = BUF_INIT(BUF_MAX_UNBOUNDED) };
        const char *p = (const char *) data;
        size_t name_len, value_offset;
        int r, k;

        if (size > FUZZ_HEADER_MAX)
                return 0;
        log_set_quiet(true);

        if (header_is_field_start(p, size, &name_len, &value_offset)) {
                assert(name_len > 0 && name_len < value_offset && value_offset <= size);
                assert(p[value_offset - 1] == ':');
                (void) header_type_flags(header_type_from_name(p, name_len));
        }

        /* Identity: byte for byte. */
        r = header_address_rewrite(p, size, HEADER_ADDRESS_TOKEN_LIMIT, identity, NULL, &out);
        assert(r == 0);
        assert(buf_pending(&out) == size && memcmp(buf_peek(&out), p, size) == 0);

        /* Changing every address, then reading the result again. */
        buf_clear(&out);
        r = header_address_rewrite(p, size, 0, record, &first, &out);
        assert(r >= 0 && (size_t) r == first.count - first.same);
        k = header_address_rewrite(buf_peek(&out), buf_pending(&out), 0, record, &second,
                                   &again);
        assert(k == 0);
        assert(second.count == first.count);
        assert(buf_pending(&again) == buf_pending(&out));
        assert(memcmp(buf_peek(&again), buf_peek(&out), buf_pending(&out)) == 0);
        for (const char *a = buf_peek(&first.list), *b = buf_peek(&second.list);
             a < buf_peek(&first.list) + buf_pending(&first.list);
             a += strlen(a) + 1, b += strlen(b) + 1) {
                _cleanup_free_ char *want = NULL;

                if (strchr(a, '@'))
                        want = strdup("r@fuzz.test");
                else
                        assert(asprintf(&want, "%s@fuzz.test", a) >= 0);
                assert(want && streq(want, b));
        }

        /* A small token limit rewrites a prefix of what the unlimited run rewrote. */
        r = header_address_rewrite(p, size, 7, identity, NULL, &limited);
        assert(r == 0);
        assert(buf_pending(&limited) == size && memcmp(buf_peek(&limited), p, size) == 0);

        buf_done(&first.list);
        buf_done(&second.list);
        return 0;
}
