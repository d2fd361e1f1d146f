/* SPDX-License-Identifier: GPL-3.0-or-later */
/* dict_gdbm: the "hash:" table type, a GDBM file NAME.db built from the text file NAME (Postfix's
 * hash: is Berkeley DB; the name and the postmap workflow are kept, the file format is GDBM's).
 * Only this module includes gdbm.h.
 *
 * Building never disturbs readers: entries go into a new file beside the old one, which is
 * fsync'd and renamed over NAME.db. Readers open NAME.db read-only and reopen it when its inode
 * or mtime changes, so a running service sees a rebuilt table without a restart.
 *
 * Keys and values are stored with their terminating NUL, as Postfix does for hash tables. */
#pragma once

#include "dict.h"

extern const DictType dict_gdbm_type;

typedef struct DictBuilder DictBuilder;

/* Starts a new database that will replace db_path ("/etc/tern/access.db") when committed.
 * The new file is created with the mode of the old one if it exists, else 0644. */
int dict_builder_new(const char *db_path, DictBuilder **ret);
/* Adds one entry. Returns 0, or -EEXIST for a key already added (the entry is not changed;
 * postmap warns about duplicates and keeps the first). The key is stored as given: callers fold
 * it to lower case as postmap does by default (readers opened with DICT_FLAG_FOLD_CASE fold
 * lookup keys only). -ESTALE after commit, -EMSGSIZE for a key or value over INT_MAX bytes. */
int dict_builder_add(DictBuilder *b, const char *key, const char *value);
/* fsync()s the new file, renames it over db_path and fsync()s the directory. After this the
 * builder only frees. -ESTALE when called twice. */
int dict_builder_commit(DictBuilder *b);
/* Frees; unlinks the new file when not committed. Returns NULL. */
DictBuilder *dict_builder_free(DictBuilder *b);
DEFINE_PTR_CLEANUP(DictBuilder *, dict_builder_free);
