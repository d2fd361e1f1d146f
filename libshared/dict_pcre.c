/* SPDX-License-Identifier: GPL-3.0-or-later */
/* dict_pcre: the "pcre:" table type, pcre_table(5), through PCRE2 (the only module that includes
 * pcre2.h). The rule file syntax, the lookup loop and $n substitution live in dict_pattern.c;
 * this module is the engine. Flags after a pattern toggle PCRE2 options: i (CASELESS, on by
 * default), s (DOTALL, on by default), m (MULTILINE), x (EXTENDED), A (ANCHORED), E
 * (DOLLAR_ENDONLY), U (UNGREEDY), u (UTF: the pattern must be UTF-8, and a key that is not valid
 * UTF-8 does not match it). X (PCRE's EXTRA) is accepted and changes nothing: PCRE2 always
 * rejects an unknown letter escape, which is what it used to turn on. Keys are peer input: every
 * match runs under a match, depth and heap limit, so a pattern that backtracks catastrophically
 * fails the lookup with -ERANGE instead of holding a service. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "dict_pattern.h"
#include "dict_types.h"

/* Work limits of one match (PCRE2's defaults are 10000000 calls, 20 GB of heap). A million
 * backtracking steps take a few milliseconds; real tables need far fewer. */
#define PCRE_MATCH_LIMIT 1000000U
#define PCRE_DEPTH_LIMIT 10000U
#define PCRE_HEAP_LIMIT_KIB 16384U

enum {
        PCRE_FLAG_I = 1U << 0,
        PCRE_FLAG_M = 1U << 1,
        PCRE_FLAG_S = 1U << 2,
        PCRE_FLAG_X = 1U << 3,
        PCRE_FLAG_A = 1U << 4,
        PCRE_FLAG_E = 1U << 5,
        PCRE_FLAG_U = 1U << 6,
        PCRE_FLAG_EXTRA = 1U << 7,
        PCRE_FLAG_UTF = 1U << 8,
};

typedef struct PcrePattern {
        pcre2_code *code;
        pcre2_match_context *mctx;      /* the limits; read-only after compile */
} PcrePattern;

DEFINE_PTR_CLEANUP(pcre2_match_data *, pcre2_match_data_free);

static void pcre_engine_free(void *re) {
        PcrePattern *p = re;

        if (!p)
                return;
        pcre2_code_free(p->code);
        pcre2_match_context_free(p->mctx);
        free(p);
}

static int pcre_engine_compile(const char *pattern, unsigned flags, void **ret_re,
                               size_t *ret_n_groups, char **ret_msg) {
        PcrePattern *p;
        uint32_t options = PCRE2_NEVER_BACKSLASH_C, n_groups = 0;
        PCRE2_SIZE erroff = 0;
        int errcode = 0;

        assert(pattern);
        assert(ret_re);
        assert(ret_n_groups);

        if (flags & PCRE_FLAG_I)
                options |= PCRE2_CASELESS;
        if (flags & PCRE_FLAG_M)
                options |= PCRE2_MULTILINE;
        if (flags & PCRE_FLAG_S)
                options |= PCRE2_DOTALL;
        if (flags & PCRE_FLAG_X)
                options |= PCRE2_EXTENDED;
        if (flags & PCRE_FLAG_A)
                options |= PCRE2_ANCHORED;
        if (flags & PCRE_FLAG_E)
                options |= PCRE2_DOLLAR_ENDONLY;
        if (flags & PCRE_FLAG_U)
                options |= PCRE2_UNGREEDY;
        if (flags & PCRE_FLAG_UTF)
                options |= PCRE2_UTF;

        p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;

        p->code = pcre2_compile((PCRE2_SPTR) pattern, PCRE2_ZERO_TERMINATED, options, &errcode,
                                &erroff, /* ccontext= */ NULL);
        if (!p->code) {
                PCRE2_UCHAR msg[256];

                pcre_engine_free(p);
                if (errcode == PCRE2_ERROR_NOMEMORY)
                        return -ENOMEM;
                if (ret_msg) {
                        if (pcre2_get_error_message(errcode, msg, sizeof(msg)) < 0)
                                (void) snprintf((char *) msg, sizeof(msg), "error %d", errcode);
                        free(*ret_msg);
                        if (asprintf(ret_msg, "%s at offset %zu", (const char *) msg,
                                     (size_t) erroff) < 0)
                                *ret_msg = NULL;
                }
                return -EBADMSG;
        }

        p->mctx = pcre2_match_context_create(/* gcontext= */ NULL);
        if (!p->mctx) {
                pcre_engine_free(p);
                return -ENOMEM;
        }
        (void) pcre2_set_match_limit(p->mctx, PCRE_MATCH_LIMIT);
        (void) pcre2_set_depth_limit(p->mctx, PCRE_DEPTH_LIMIT);
        (void) pcre2_set_heap_limit(p->mctx, PCRE_HEAP_LIMIT_KIB);

        if (pcre2_pattern_info(p->code, PCRE2_INFO_CAPTURECOUNT, &n_groups) < 0)
                n_groups = 0;

        *ret_n_groups = n_groups;
        *ret_re = p;
        return 0;
}

static int pcre_engine_match(const void *re, const char *key, size_t len, size_t *spans,
                             size_t n_spans) {
        _cleanup_(pcre2_match_data_freep) pcre2_match_data *md = NULL;
        const PcrePattern *p = re;
        PCRE2_SIZE *ov;
        int rc;

        assert(p);
        assert(key);
        assert(n_spans >= 1);

        md = pcre2_match_data_create((uint32_t) n_spans, /* gcontext= */ NULL);
        if (!md)
                return -ENOMEM;

        rc = pcre2_match(p->code, (PCRE2_SPTR) key, len, /* startoffset= */ 0, /* options= */ 0,
                         md, p->mctx);
        if (rc == PCRE2_ERROR_NOMATCH)
                return 0;
        /* A key that is not valid UTF-8 cannot match a UTF pattern. */
        if (rc <= PCRE2_ERROR_UTF8_ERR1 && rc >= PCRE2_ERROR_UTF8_ERR21)
                return 0;
        if (rc == PCRE2_ERROR_NOMEMORY)
                return -ENOMEM;
        /* The work limits, and a recursion that would loop without consuming the key. */
        if (rc == PCRE2_ERROR_MATCHLIMIT || rc == PCRE2_ERROR_DEPTHLIMIT ||
            rc == PCRE2_ERROR_HEAPLIMIT || rc == PCRE2_ERROR_RECURSELOOP)
                return -ERANGE;
        if (rc < 0)
                return -EIO;

        /* rc == 0: more groups than n_spans, which all are filled. */
        ov = pcre2_get_ovector_pointer(md);
        for (size_t i = 0; i < n_spans; i++) {
                PCRE2_SIZE s = ov[2 * i], e = ov[2 * i + 1];

                /* Unset groups are PCRE2_UNSET; \K can put a start after its end. */
                if (s == PCRE2_UNSET || e == PCRE2_UNSET || s > e || e > len) {
                        spans[2 * i] = spans[2 * i + 1] = SIZE_MAX;
                        continue;
                }
                spans[2 * i] = s;
                spans[2 * i + 1] = e;
        }
        return 1;
}

const DictPatternEngine dict_pcre_engine = {
        .name = "pcre",
        .flag_letters = "imsxAEUXu",
        .flags_default = PCRE_FLAG_I | PCRE_FLAG_S,
        .compile = pcre_engine_compile,
        .match = pcre_engine_match,
        .free = pcre_engine_free,
};

static int pcre_open(const char *name, DictFlags flags, Dict **ret, char **ret_error) {
        return dict_pattern_open(&dict_pcre_type, DICT_PATTERN_PCRE, name, flags, ret, ret_error);
}

const DictType dict_pcre_type = {
        .name = "pcre",
        .open = pcre_open,
        .lookup = dict_pattern_lookup,
        .free = dict_pattern_free,
};
