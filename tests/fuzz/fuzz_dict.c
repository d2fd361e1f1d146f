/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Fuzz target for dict's parsers of untrusted text: the first byte picks one.
 *   0  table source lines (dict_source_read_lines): every line handed out is NUL-free,
 *      LF-free, bounded, not blank, not a comment, with strictly increasing line numbers;
 *   1  a texthash: table (memfd): every key iterated looks up to its own value;
 *   2  a cidr: table (memfd), then the rest of the input as lookup keys;
 *   3  an inline: spec, then lookups of every key it holds;
 *   4  socketmap replies (dict_socketmap_parse_reply): the same result whole and fed in
 *      growing prefixes, consumed bytes within the input;
 *   5  access-order lookups of the input as address, domain and client address. */
#include <ctype.h>
#include <stdint.h>
#include <sys/mman.h>

#include "dict.h"
#include "dict_types.h"
#include "log.h"

#define FUZZ_INPUT_MAX (256 * 1024)

typedef struct LineState {
        unsigned last;
} LineState;

static int check_line(char *line, unsigned lineno, void *userdata) {
        LineState *s = userdata;
        size_t n = strlen(line);

        assert(lineno > s->last);
        s->last = lineno;
        assert(n > 0 && n <= DICT_SOURCE_LINE_MAX);
        assert(!strchr(line, '\n'));
        assert(!isspace((unsigned char) line[0]) && line[0] != '#');
        assert(!isspace((unsigned char) line[n - 1]));
        return 0;
}

static void fuzz_lines(const uint8_t *data, size_t size) {
        _cleanup_fclose_ FILE *f = NULL;
        _cleanup_free_ char *error = NULL;
        LineState s = {};
        int r;

        if (size == 0)
                return;
        f = fmemopen((void *) data, size, "r");
        if (!f)
                return;
        r = dict_source_read_lines(f, "fuzz", check_line, &s, &error);
        assert(r == 0 || r == -EBADMSG);
        assert(r == 0 || error);
}

/* A table of `type` from the bytes, through a memfd named as a path. */
static int open_memfd_table(const char *type, const uint8_t *data, size_t size, Dict **ret) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *spec = NULL, *error = NULL;
        int r;

        fd = memfd_create("fuzz-table", MFD_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (size > 0 && write(fd, data, size) != (ssize_t) size)
                return -EIO;
        if (asprintf(&spec, "%s:/proc/self/fd/%d", type, fd) < 0)
                return -ENOMEM;
        r = dict_open(spec, DICT_FLAGS_DEFAULT, ret, &error);
        assert(r >= 0 || error || r == -ENOMEM);
        return r;
}

static int check_own_value(const char *key, const char *value, void *userdata) {
        Dict *d = userdata;
        _cleanup_free_ char *v = NULL;

        assert(dict_lookup(d, key, &v) == 1);
        assert(streq(v, value));
        return 0;
}

static void fuzz_texthash(const uint8_t *data, size_t size) {
        _cleanup_(dict_freep) Dict *d = NULL;

        if (open_memfd_table("texthash", data, size, &d) < 0)
                return;
        assert(d->type->iterate(d, check_own_value, d) == 0);
}

static void fuzz_cidr(const uint8_t *data, size_t size) {
        _cleanup_(dict_freep) Dict *d = NULL;
        const uint8_t *sep;
        size_t table_size = size;

        /* table, a NUL, then keys separated by NULs */
        sep = memchr(data, '\0', size);
        if (sep)
                table_size = (size_t) (sep - data);
        if (open_memfd_table("cidr", data, table_size, &d) < 0)
                return;
        if (!sep)
                return;
        for (const char *k = (const char *) sep + 1; k < (const char *) data + size;) {
                size_t n = strnlen(k, (size_t) ((const char *) data + size - k));
                _cleanup_free_ char *key = strndup(k, n), *v = NULL;
                int r;

                if (!key)
                        return;
                r = dict_lookup(d, key, &v);
                assert(r == 0 || r == 1);
                assert((r == 1) == (v != NULL));
                k += n + 1;
        }
}

static void fuzz_inline(const uint8_t *data, size_t size) {
        _cleanup_(dict_freep) Dict *d = NULL;
        _cleanup_free_ char *spec = NULL, *error = NULL;
        int r;

        if (memchr(data, '\0', size))
                return;
        if (asprintf(&spec, "inline:%.*s", (int) size, (const char *) data) < 0)
                return;
        r = dict_open(spec, DICT_FLAGS_DEFAULT, &d, &error);
        assert(r == 0 || r == -EBADMSG || r == -ENOMEM);
        if (r < 0)
                return;
        assert(d->type->iterate(d, check_own_value, d) == 0);
}

static void fuzz_socketmap_reply(const uint8_t *data, size_t size) {
        const char *p = (const char *) data;
        _cleanup_free_ char *whole = NULL;
        size_t used = 0;
        int r;

        r = dict_socketmap_parse_reply(p, size, &used, &whole);
        assert(r >= -EREMOTEIO && r <= 2);
        if (r > 0)
                assert(used <= size);

        /* Any prefix that parses completely gives the answer of the whole input. */
        for (size_t n = 0; n < size && n < 64; n++) {
                _cleanup_free_ char *v = NULL;
                size_t u = 0;
                int q = dict_socketmap_parse_reply(p, n, &u, &v);

                if (q > 0) {
                        assert(q == r && u == used && u <= n);
                        assert((q == 1) == (v != NULL));
                        if (q == 1)
                                assert(streq(v, whole));
                }
        }
}

static void fuzz_access(const uint8_t *data, size_t size) {
        _cleanup_(dict_freep) Dict *d = NULL;
        _cleanup_free_ char *key = NULL, *error = NULL, *v = NULL;
        int r;

        if (memchr(data, '\0', size))
                return;
        key = strndup((const char *) data, size);
        if (!key)
                return;
        r = dict_open("inline:{ user@example.com=a, .example.com=b, user@=c, 192.0.2=d, "
                      "2001:db8=e }", DICT_FLAGS_DEFAULT, &d, &error);
        assert(r == 0);

        r = dict_lookup_address(d, key, "+-", &v);
        assert(r == 0 || r == 1);
        v = mfree(v);
        d->flags |= DICT_FLAG_PARENT_MATCHES_SUBDOMAINS;
        r = dict_lookup_domain(d, key, &v);
        assert(r == 0 || r == 1);
        v = mfree(v);
        r = dict_lookup_client(d, key, &v);
        assert(r == 0 || r == 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        log_set_quiet(true);

        if (size < 1 || size > FUZZ_INPUT_MAX)
                return 0;

        switch (data[0] % 6) {
        case 0:
                fuzz_lines(data + 1, size - 1);
                break;
        case 1:
                fuzz_texthash(data + 1, size - 1);
                break;
        case 2:
                fuzz_cidr(data + 1, size - 1);
                break;
        case 3:
                fuzz_inline(data + 1, size - 1);
                break;
        case 4:
                fuzz_socketmap_reply(data + 1, size - 1);
                break;
        default:
                fuzz_access(data + 1, size - 1);
                break;
        }
        return 0;
}
