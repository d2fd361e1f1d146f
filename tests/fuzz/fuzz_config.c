/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Fuzzes main.cf: the bytes are parsed as a main.cf; on success every parameter set is expanded
 * (cycles, deep nesting and doubling must end in an error, never a hang or a crash), read as a
 * list and as every scalar type, and the editor must round-trip: setting a parameter in the text
 * and parsing again gives the value set. */
#include <stdint.h>

#include "config.h"
#include "log.h"

#define FUZZ_INPUT_MAX (8U * 1024U)

static int expand_each(Config *c, const char *name, void *userdata) {
        _cleanup_strv_free_ char **list = NULL, **undefined = NULL;
        _cleanup_free_ char *err = NULL, *text = NULL;
        const char *v = NULL;
        uint64_t u;
        int64_t i;
        bool b;
        int r;

        r = config_expand(c, name, &v, &err);
        assert(r == 0 || r == -ELOOP || r == -EBADMSG || r == -EMSGSIZE || r == -E2BIG);
        if (r < 0) {
                assert(err);            /* every failure says why */
                return 0;
        }
        assert(v);
        assert(strlen(v) <= CONFIG_VALUE_MAX);
        assert(config_get_list(c, name, &list) == 0);
        (void) config_get_bool(c, name, &b);
        (void) config_get_int(c, name, &i);
        (void) config_get_time(c, name, &u);
        (void) config_get_size(c, name, &u);
        r = config_expand_text(c, config_get_raw(c, name), &text, &undefined, NULL);
        if (r == 0)
                assert(streq(text, v));
        (void) config_name_is_referenced(c, name);
        return 0;
}

static int first_name(Config *c, const char *name, void *userdata) {
        char **ret = userdata;

        *ret = strdup(name);
        assert(*ret);
        return -ECANCELED;              /* the first one is enough */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(config_freep) Config *c = NULL, *again = NULL;
        _cleanup_free_ char *err = NULL, *name = NULL, *assignment = NULL, *edited = NULL;
        const char *p = (const char *) data;
        const char *value = "fuzzed ${value?x} $$";
        size_t len = 0;
        int r;

        if (size > FUZZ_INPUT_MAX)
                return 0;
        log_set_quiet(true);

        assert(config_new_with_hostname("fuzz.example", &c) == 0);
        r = config_load_string(c, p, size, "main.cf", &err);
        if (r < 0) {
                assert(r == -EBADMSG || r == -EMSGSIZE);
                assert(err && startswith(err, "main.cf, line "));
                return 0;
        }
        assert(config_foreach_set(c, expand_each, NULL) == 0);

        /* editor round trip on the first name set, or a new one */
        r = config_foreach_set(c, first_name, &name);
        assert(r == 0 || r == -ECANCELED);
        if (!name)
                name = strdup("fuzz_new_parameter");
        assert(name);
        assert(asprintf(&assignment, "%s = %s", name, value) > 0);
        char *assignments[] = { assignment, NULL };

        assert(config_edit_text(p, size, assignments, /* comment_out= */ false, &edited,
                                &len) == 0);
        assert(config_new_with_hostname("fuzz.example", &again) == 0);
        assert(config_load_string(again, edited, len, "edited", NULL) == 0);
        assert(streq(config_get_raw(again, name), value));

        /* and commenting it out leaves it unset (or only the default) */
        _cleanup_free_ char *commented = NULL;
        char *names[] = { name, NULL };
        size_t clen = 0;
        config_free(again);
        again = NULL;
        assert(config_edit_text(edited, len, names, /* comment_out= */ true, &commented,
                                &clen) == 0);
        assert(config_new_with_hostname("fuzz.example", &again) == 0);
        assert(config_load_string(again, commented, clen, "commented", NULL) == 0);
        assert(!config_is_set(again, name));
        return 0;
}
