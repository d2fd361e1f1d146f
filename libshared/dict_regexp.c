/* SPDX-License-Identifier: GPL-3.0-or-later */
/* dict_regexp: placeholder while the module is written (see dict_pattern.c). */
#include "dict.h"
#include "dict_types.h"

static int regexp_open(const char *name, DictFlags flags, Dict **ret, char **ret_error) {
        (void) name;
        (void) flags;
        (void) ret;
        (void) ret_error;
        return -EOPNOTSUPP;
}

static int regexp_lookup(Dict *d, const char *key, char **ret_value) {
        (void) d;
        (void) key;
        (void) ret_value;
        return -EOPNOTSUPP;
}

static void regexp_free(Dict *d) {
        (void) d;
}

const DictType dict_regexp_type = {
        .name = "regexp",
        .open = regexp_open,
        .lookup = regexp_lookup,
        .free = regexp_free,
};
