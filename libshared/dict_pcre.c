/* SPDX-License-Identifier: GPL-3.0-or-later */
/* dict_pcre: placeholder while the module is written (see dict_pattern.c). */
#include "dict.h"
#include "dict_types.h"

static int pcre_open(const char *name, DictFlags flags, Dict **ret, char **ret_error) {
        (void) name;
        (void) flags;
        (void) ret;
        (void) ret_error;
        return -EOPNOTSUPP;
}

static int pcre_lookup(Dict *d, const char *key, char **ret_value) {
        (void) d;
        (void) key;
        (void) ret_value;
        return -EOPNOTSUPP;
}

static void pcre_free(Dict *d) {
        (void) d;
}

const DictType dict_pcre_type = {
        .name = "pcre",
        .open = pcre_open,
        .lookup = pcre_lookup,
        .free = pcre_free,
};
