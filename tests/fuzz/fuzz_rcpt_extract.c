/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Fuzz target of rcpt_extract (sendmail -t): arbitrary bytes as a message. Invariants: no
 * crash; every recipient is a non-empty string without NUL; the count is bounded by rcpt_max;
 * feeding the same header lines to the incremental API, each split in two pieces at a
 * position taken from the input, gives the same recipients as the whole-message helper. */
#include <stdint.h>
#include <string.h>

#include "header.h"
#include "log.h"
#include "rcpt_extract.h"

#define FUZZ_RCPT_EXTRACT_MAX 65536
#define FUZZ_RCPT_MAX 50

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(rcpt_extract_freep) RcptExtract *x = NULL;
        _cleanup_strv_free_ char **whole = NULL;
        const char *p = (const char *) data;
        char *const *v;
        size_t pos = 0, n, split = size > 0 ? data[0] : 0;
        int r, r2;

        log_set_quiet(true);
        if (size > FUZZ_RCPT_EXTRACT_MAX)
                return 0;

        r = rcpt_extract_message(p, size, 256, FUZZ_RCPT_MAX, &whole);
        if (r == -ENOMEM)
                return 0;
        assert(r == -E2BIG || (r >= 0 && r <= FUZZ_RCPT_MAX));
        for (char **a = r >= 0 ? whole : NULL; a && *a; a++)
                assert(**a != '\0');

        /* The same lines, each in two pieces. */
        assert(rcpt_extract_new(256, FUZZ_RCPT_MAX, &x) == 0);
        r2 = 0;
        while (pos < size && r2 >= 0) {
                const char *lf = memchr(p + pos, '\n', size - pos);
                size_t len = lf ? (size_t) (lf - (p + pos)) : size - pos, k;

                if (len > 0 && p[pos + len - 1] == '\r')
                        len--;
                if (len == 0)
                        break;
                if (p[pos] != ' ' && p[pos] != '\t' &&
                    !header_is_field_start(p + pos, len, NULL, NULL))
                        break;
                k = MIN(split, len);
                r2 = rcpt_extract_feed(x, p + pos, k, /* partial= */ true);
                if (r2 >= 0)
                        r2 = rcpt_extract_feed(x, p + pos + k, len - k, false);
                if (!lf)
                        break;
                pos = (size_t) (lf - p) + 1;
        }
        if (r2 >= 0)
                r2 = rcpt_extract_finish(x);
        if (r2 == -ENOMEM)
                return 0;
        assert((r < 0) == (r2 < 0));
        if (r < 0)
                return 0;
        v = rcpt_extract_get(x, &n);
        assert(n == (size_t) r);
        for (size_t i = 0; i < n; i++)
                assert(streq(v[i], whole[i]));
        return 0;
}
