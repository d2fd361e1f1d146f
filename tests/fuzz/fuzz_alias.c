/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Fuzzes the aliases(5) parser and the value splitter: the bytes are an aliases file. Every
 * entry must come out with a non-empty, lower-case, local name and a trimmed non-empty value on a
 * line that exists, in order; every value the splitter accepts must give non-empty items whose
 * type has a target, and writing the items back as quoted strings and splitting again must give
 * the same items. The bytes are also split as one value directly. */
#include <stdint.h>

#include "alias.h"
#include "buf.h"
#include "log.h"

#define FUZZ_INPUT_MAX (256U * 1024U)

typedef struct FuzzState {
        unsigned lines;                 /* physical lines in the input */
        unsigned last_line;
} FuzzState;

static bool is_trim_space(char c) {
        return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

/* Items written back as one quoted string each, joined by ", ". */
static void check_round_trip(char **items) {
        _cleanup_(buf_done) Buf b = BUF_INIT(BUF_MAX_UNBOUNDED);
        _cleanup_strv_free_ char **again = NULL;
        size_t i;

        for (i = 0; items[i]; i++) {
                assert(buf_append_str(&b, i ? ", \"" : "\"") == 0);
                for (const char *c = items[i]; *c; c++) {
                        if (*c == '"' || *c == '\\')
                                assert(buf_append_char(&b, '\\') == 0);
                        assert(buf_append_char(&b, *c) == 0);
                }
                assert(buf_append_char(&b, '"') == 0);
        }
        assert(alias_parse_value(buf_peek(&b), &again) == 0);
        for (i = 0; items[i]; i++) {
                assert(again[i]);
                assert(streq(items[i], again[i]));
        }
        assert(!again[i]);
}

static void check_value(const char *value) {
        _cleanup_strv_free_ char **items = NULL;
        int r;

        r = alias_parse_value(value, &items);
        assert(r == 0 || r == -EBADMSG || r == -E2BIG || r == -ENOMEM);
        if (r < 0) {
                assert(!items);
                return;
        }
        assert(items && items[0]);
        for (char **i = items; *i; i++) {
                const char *target = NULL;
                AliasItemType t;

                assert(**i);
                t = alias_item_classify(*i, &target);
                assert(alias_item_type_to_string(t));
                assert(target);
                if (t == ALIAS_ITEM_COMMAND || t == ALIAS_ITEM_INCLUDE)
                        assert(*target);
        }
        check_round_trip(items);
}

static int on_entry(const char *name, const char *value, unsigned line, void *userdata) {
        FuzzState *s = userdata;
        size_t n = strlen(value);

        assert(*name);
        assert(!strchr(name, '@'));
        for (const char *c = name; *c; c++)
                assert(!(*c >= 'A' && *c <= 'Z'));
        assert(n > 0 && n <= ALIAS_LINE_MAX);
        assert(!is_trim_space(value[0]) && !is_trim_space(value[n - 1]));
        assert(line > s->last_line && line <= s->lines);
        s->last_line = line;

        check_value(value);
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *copy = NULL;
        FuzzState s = {};
        const char *error = NULL;
        unsigned line = 0;
        int r;

        if (size > FUZZ_INPUT_MAX)
                return 0;
        log_set_quiet(true);

        s.lines = size > 0 ? 1 : 0;
        for (size_t i = 0; i + 1 < size; i++)
                if (data[i] == '\n')
                        s.lines++;

        r = alias_parse((const char *) data, size, on_entry, &s, &line, &error);
        assert(r == 0 || r == -EBADMSG || r == -EMSGSIZE || r == -ENOMEM);
        if (r < 0) {
                assert(error);
                assert(line >= 1 && line <= s.lines);
        }

        /* The whole input as one value, when it is a C string. */
        if (!memchr(data, '\0', size)) {
                copy = strndup((const char *) data, size);
                assert(copy);
                check_value(copy);
        }
        return 0;
}
