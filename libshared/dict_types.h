/* SPDX-License-Identifier: GPL-3.0-or-later */
/* dict_types: private to libshared's dict modules. Declares the DictType of every table type so
 * that the registry in dict.c can name them; each is defined in its own module
 * (dict_<type>.c). Also the small helpers the types share (defined in dict.c). Nothing outside
 * libshared/dict*.c includes this header. */
#pragma once

#include <stdio.h>

#include "dict.h"

extern const DictType dict_gdbm_type;           /* hash:      dict_gdbm.c */
extern const DictType dict_texthash_type;       /* texthash:  dict_texthash.c */
extern const DictType dict_static_type;         /* static:    dict_inline.c */
extern const DictType dict_inline_type;         /* inline:    dict_inline.c */
extern const DictType dict_cidr_type;           /* cidr:      dict_cidr.c */
extern const DictType dict_unix_type;           /* unix:      dict_unix.c */
extern const DictType dict_socketmap_type;      /* socketmap: dict_socketmap.c */
extern const DictType dict_regexp_type;         /* regexp:    dict_regexp.c */
extern const DictType dict_pcre_type;           /* pcre:      dict_pcre.c */

/* Fills the common head of a newly allocated table: d->type = type, d->flags = flags and a
 * malloc'd d->spec = "TYPE:NAME". Returns 0 or -ENOMEM. */
int dict_head_init(Dict *d, const DictType *type, const char *name, DictFlags flags);
/* Frees what dict_head_init() allocated (d->spec), not d itself. */
void dict_head_done(Dict *d);

/* Returns a malloc'd copy of key, lower-cased (ASCII) when flags has DICT_FLAG_FOLD_CASE, or
 * NULL on allocation failure. */
char *dict_key_fold(const char *key, DictFlags flags);

/* Reads logical lines in the table source format of postmap(1) from f (name is used in
 * messages): continuation lines (starting with white space) are joined to the line before,
 * lines whose first non-blank is '#' and blank lines are skipped, trailing white space is
 * removed. Calls f(line, lineno, userdata) with the joined line (writable, valid during the
 * call) and the number of its first physical line. Limits and errors as dict_source_read(). */
int dict_source_read_lines(FILE *f, const char *name,
                           int (*cb)(char *line, unsigned lineno, void *userdata),
                           void *userdata, char **ret_error);

/* An in-memory table of string keys and values (texthash:, inline:). Insertion order is kept
 * for iteration. */
typedef struct DictMemtable DictMemtable;
int dict_memtable_new(DictMemtable **ret);
DictMemtable *dict_memtable_free(DictMemtable *t);
DEFINE_PTR_CLEANUP(DictMemtable *, dict_memtable_free);
/* Adds a copy of key and value. Returns 0, -EEXIST (first entry kept), -ENOMEM. */
int dict_memtable_add(DictMemtable *t, const char *key, const char *value);
/* Returns the stored value (owned by t) or NULL. */
const char *dict_memtable_get(const DictMemtable *t, const char *key);
/* A lookup as DictType's: 1 with a malloc'd copy of the value in *ret_value, 0 when key is not
 * there, -ENOMEM. */
int dict_memtable_lookup(const DictMemtable *t, const char *key, char **ret_value);
int dict_memtable_iterate(const DictMemtable *t,
                          int (*f)(const char *key, const char *value, void *userdata),
                          void *userdata);

/* Parses one socketmap reply netstring from (p, n) (dict_socketmap.c; pure, for the fuzz
 * target). Returns 0 when more bytes are needed; 1 for "OK value" with *ret_value malloc'd;
 * 2 for "NOTFOUND"; -EAGAIN ("TEMP"), -ETIMEDOUT ("TIMEOUT"), -EREMOTEIO ("PERM"); -EBADMSG
 * for a malformed netstring or reply; -EMSGSIZE beyond DICT_SOCKETMAP_REPLY_MAX. On a
 * complete reply *ret_used is the number of bytes it took. */
int dict_socketmap_parse_reply(const char *p, size_t n, size_t *ret_used, char **ret_value);
