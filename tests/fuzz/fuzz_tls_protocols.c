/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Fuzz target for tls_protocols_parse() (smtpd_tls_protocols, smtpd_tls_mandatory_protocols):
 * arbitrary bytes as a protocol list. Invariants: only documented codes; a mask is never 0 and
 * never has bits outside TLS_PROTOCOL_ALL; the list re-written from the mask (its names, one
 * by one) parses to the same mask; separators put in front change nothing. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "log.h"
#include "tls.h"

#define FUZZ_MAX 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(buf_done) Buf b = BUF_INIT(BUF_MAX_UNBOUNDED);
        unsigned mask = 0, again = 0;
        int r;

        log_set_quiet(true);
        if (size > FUZZ_MAX)
                return 0;

        r = tls_protocols_parse((const char *) data, size, &mask);
        assert(r == 0 || r == -EBADMSG || r == -EINVAL);
        if (r < 0)
                return 0;
        assert(mask != 0);
        assert((mask & ~(unsigned) TLS_PROTOCOL_ALL) == 0);

        /* Round trip: the names of the allowed protocols, as an inclusion list. */
        for (unsigned bit = 1; bit <= TLS_PROTOCOL_ALL; bit <<= 1)
                if (mask & bit)
                        assert(buf_printf(&b, "%s, ", tls_protocol_to_string(bit)) == 0);
        assert(tls_protocols_parse(buf_peek(&b), buf_pending(&b), &again) == 0);
        assert(again == mask);

        /* Separators in front change nothing. */
        buf_clear(&b);
        assert(buf_append(&b, " ,:\t", 4) == 0);
        assert(buf_append(&b, data, size) == 0);
        again = 0;
        assert(tls_protocols_parse(buf_peek(&b), buf_pending(&b), &again) == 0);
        assert(again == mask);
        return 0;
}
