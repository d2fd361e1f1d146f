/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The body of the pattern-table fuzz targets (fuzz_dict_pcre.c, fuzz_dict_regexp.c), which
 * differ only in the engine: each defines FUZZ_DICT_PATTERN_TYPE (a DictPatternType) and includes
 * this file once. The input is a table text, a NUL byte and a lookup key (no NUL: the whole input
 * is the table and the key is empty). The table is parsed; a failure must be a syntax error (or
 * too many rules) with a "FILE, line N: " message. A table that parses is asked for the key
 * twice: the answer is found, not found, or a bounded error, the value is bounded, and both
 * answers are the same (a lookup changes nothing). */
#pragma once

#ifndef FUZZ_DICT_PATTERN_TYPE
#error "define FUZZ_DICT_PATTERN_TYPE before including fuzz_dict_pattern.h"
#endif

#include <stdint.h>

#include "dict_pattern.h"
#include "log.h"

/* Small enough that a table of many patterns still compiles quickly. */
#define FUZZ_INPUT_MAX (8U * 1024U)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(dict_pattern_table_freep) DictPatternTable *t = NULL;
        _cleanup_free_ char *err = NULL, *key = NULL, *v1 = NULL, *v2 = NULL;
        const char *p = (const char *) data, *nul;
        size_t n = size, lines = 1;
        int r, r2;

        if (size > FUZZ_INPUT_MAX)
                return 0;
        log_set_quiet(true);

        nul = memchr(p, '\0', size);
        if (nul) {
                n = (size_t) (nul - p);
                key = strndup(nul + 1, size - n - 1);
        } else
                key = strdup("");
        assert(key);

        r = dict_pattern_parse(p, n, "f", FUZZ_DICT_PATTERN_TYPE, &t, &err);
        if (r < 0) {
                assert(r == -EBADMSG || r == -E2BIG);
                assert(!t);
                assert(err);
                assert(startswith(err, "f, line "));
                return 0;
        }
        assert(t);
        for (size_t i = 0; i < n; i++)
                if (p[i] == '\n')
                        lines++;
        assert(dict_pattern_table_size(t) <= lines);

        r = dict_pattern_table_lookup(t, key, &v1);
        assert(r == 1 || r == 0 || r == -ERANGE || r == -EMSGSIZE);
        assert((r == 1) == (v1 != NULL));
        if (v1)
                assert(strlen(v1) <= DICT_PATTERN_RESULT_MAX);

        r2 = dict_pattern_table_lookup(t, key, &v2);
        assert(r2 == r);
        assert(streq_ptr(v1, v2));
        return 0;
}
