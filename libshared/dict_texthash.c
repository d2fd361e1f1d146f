/* SPDX-License-Identifier: GPL-3.0-or-later */
/* dict_texthash: the "texthash:" table type, a postmap(1) source file read into memory when the
 * table is opened (no .db file; a changed file is seen at the next open). Also the in-memory
 * table (DictMemtable) that texthash: and inline: share: a chained hash table that keeps
 * insertion order for iteration. The file is administrator input, read through the bounded
 * source reader of dict.c; a bad line fails the open with the file and line. */
#include <errno.h>

#include "dict.h"
#include "dict_types.h"
#include "errmsg.h"

typedef struct MemEntry {
        char *key;
        char *value;
        struct MemEntry *next_in_bucket;
        struct MemEntry *next_in_order;
} MemEntry;

struct DictMemtable {
        MemEntry **buckets;
        size_t n_buckets;
        size_t n_entries;
        MemEntry *first, *last;
};

static size_t mem_hash(const char *s) {
        size_t h = 5381;

        /* djb2; the keys come from administrators' files, not from peers */
        for (; *s; s++)
                h = h * 33 + (unsigned char) *s;
        return h;
}

int dict_memtable_new(DictMemtable **ret) {
        _cleanup_(dict_memtable_freep) DictMemtable *t = NULL;

        assert(ret);

        t = calloc(1, sizeof(*t));
        if (!t)
                return -ENOMEM;
        t->n_buckets = 64;
        t->buckets = calloc(t->n_buckets, sizeof(MemEntry *));
        if (!t->buckets)
                return -ENOMEM;

        *ret = TAKE_PTR(t);
        return 0;
}

DictMemtable *dict_memtable_free(DictMemtable *t) {
        MemEntry *e, *next;

        if (!t)
                return NULL;
        for (e = t->first; e; e = next) {
                next = e->next_in_order;
                free(e->key);
                free(e->value);
                free(e);
        }
        free(t->buckets);
        return mfree(t);
}

static int mem_grow(DictMemtable *t) {
        MemEntry **b;
        size_t n;

        if (__builtin_mul_overflow(t->n_buckets, 2, &n))
                return -ENOMEM;
        b = calloc(n, sizeof(MemEntry *));
        if (!b)
                return -ENOMEM;
        for (MemEntry *e = t->first; e; e = e->next_in_order) {
                size_t i = mem_hash(e->key) % n;

                e->next_in_bucket = b[i];
                b[i] = e;
        }
        free(t->buckets);
        t->buckets = b;
        t->n_buckets = n;
        return 0;
}

const char *dict_memtable_get(const DictMemtable *t, const char *key) {
        assert(t);
        assert(key);

        for (MemEntry *e = t->buckets[mem_hash(key) % t->n_buckets]; e; e = e->next_in_bucket)
                if (streq(e->key, key))
                        return e->value;
        return NULL;
}

int dict_memtable_lookup(const DictMemtable *t, const char *key, char **ret_value) {
        const char *v = dict_memtable_get(t, key);
        char *s;

        if (!v)
                return 0;
        s = strdup(v);
        if (!s)
                return -ENOMEM;
        *ret_value = s;
        return 1;
}

int dict_memtable_add(DictMemtable *t, const char *key, const char *value) {
        MemEntry *e;
        size_t i;
        int r;

        assert(t);
        assert(key);
        assert(value);

        if (dict_memtable_get(t, key))
                return -EEXIST;
        if (t->n_entries >= t->n_buckets) {
                r = mem_grow(t);
                if (r < 0)
                        return r;
        }

        e = calloc(1, sizeof(*e));
        if (!e)
                return -ENOMEM;
        e->key = strdup(key);
        e->value = strdup(value);
        if (!e->key || !e->value) {
                free(e->key);
                free(e->value);
                free(e);
                return -ENOMEM;
        }

        i = mem_hash(key) % t->n_buckets;
        e->next_in_bucket = t->buckets[i];
        t->buckets[i] = e;
        if (t->last)
                t->last->next_in_order = e;
        else
                t->first = e;
        t->last = e;
        t->n_entries++;
        return 0;
}

int dict_memtable_iterate(const DictMemtable *t,
                          int (*f)(const char *key, const char *value, void *userdata),
                          void *userdata) {
        int r;

        assert(t);
        assert(f);

        for (MemEntry *e = t->first; e; e = e->next_in_order) {
                r = f(e->key, e->value, userdata);
                if (r < 0)
                        return r;
        }
        return 0;
}

typedef struct DictTexthash {
        Dict head;
        DictMemtable *table;
} DictTexthash;

static void texthash_free(Dict *d) {
        DictTexthash *t = (DictTexthash *) d;

        if (!t)
                return;
        dict_memtable_free(t->table);
        dict_head_done(&t->head);
        free(t);
}

static int texthash_add(const char *key, const char *value, unsigned line, void *userdata) {
        DictTexthash *t = userdata;
        _cleanup_free_ char *folded = NULL;
        int r;

        folded = dict_key_fold(key, t->head.flags);
        if (!folded)
                return -ENOMEM;
        /* postmap keeps the first of duplicate keys (with a warning); so does texthash: */
        r = dict_memtable_add(t->table, folded, value);
        if (r == -EEXIST)
                return 0;
        return r;
}

static int texthash_open(const char *name, DictFlags flags, Dict **ret, char **ret_error) {
        DictTexthash *t;
        _cleanup_(dict_freep) Dict *d = NULL;
        int r;

        t = calloc(1, sizeof(*t));
        if (!t)
                return -ENOMEM;
        t->head.type = &dict_texthash_type;
        d = &t->head;

        r = dict_head_init(d, &dict_texthash_type, name, flags & ~DICT_FLAG_PATTERN);
        if (r < 0)
                return r;
        r = dict_memtable_new(&t->table);
        if (r < 0)
                return r;
        r = dict_source_read(name, /* colon_key= */ false, texthash_add, t, ret_error);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(d);
        return 0;
}

static int texthash_lookup(Dict *d, const char *key, char **ret_value) {
        return dict_memtable_lookup(((DictTexthash *) d)->table, key, ret_value);
}

static int texthash_iterate(Dict *d, int (*f)(const char *key, const char *value, void *userdata),
                            void *userdata) {
        return dict_memtable_iterate(((DictTexthash *) d)->table, f, userdata);
}

const DictType dict_texthash_type = {
        .name = "texthash",
        .open = texthash_open,
        .lookup = texthash_lookup,
        .free = texthash_free,
        .iterate = texthash_iterate,
};
