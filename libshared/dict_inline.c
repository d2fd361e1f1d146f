/* SPDX-License-Identifier: GPL-3.0-or-later */
/* dict_inline: the "static:" and "inline:" table types, whose content is the table name itself
 * (main.cf text, written by the administrator). static:VALUE answers VALUE for every key;
 * "static:{ text with spaces }" answers the text between the braces, trimmed. inline: is
 * Postfix 3.0's "inline:{ key=value, { key = text with spaces, or commas }, ... }": items are
 * separated by commas or white space, a braced item may hold both, and white space around the
 * braced item's '=' is ignored. A malformed name fails the open with -EBADMSG. */
#include <ctype.h>
#include <errno.h>

#include "dict.h"
#include "dict_types.h"
#include "errmsg.h"

typedef struct DictStatic {
        Dict head;
        char *value;
} DictStatic;

typedef struct DictInline {
        Dict head;
        DictMemtable *table;
} DictInline;

/* If s is "{ text }" returns a malloc'd copy of the trimmed text in *ret and 1; 0 when s does
 * not start with '{'; -EBADMSG when the closing brace is missing or text follows it. */
static int unbrace(const char *s, char **ret) {
        const char *p, *end;
        unsigned depth = 0;
        char *t;

        if (*s != '{')
                return 0;
        for (p = s; *p; p++)
                if (*p == '{')
                        depth++;
                else if (*p == '}' && --depth == 0)
                        break;
        if (*p != '}' || p[1] != '\0')
                return -EBADMSG;

        s++;
        end = p;
        while (s < end && isspace((unsigned char) *s))
                s++;
        while (end > s && isspace((unsigned char) end[-1]))
                end--;
        t = strndup(s, (size_t) (end - s));
        if (!t)
                return -ENOMEM;
        *ret = t;
        return 1;
}

static void static_free(Dict *d) {
        DictStatic *s = (DictStatic *) d;

        if (!s)
                return;
        free(s->value);
        dict_head_done(&s->head);
        free(s);
}

static int static_open(const char *name, DictFlags flags, Dict **ret, char **ret_error) {
        _cleanup_(dict_freep) Dict *d = NULL;
        DictStatic *s;
        int r;

        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->head.type = &dict_static_type;
        d = &s->head;

        r = dict_head_init(d, &dict_static_type, name, flags);
        if (r < 0)
                return r;
        r = unbrace(name, &s->value);
        if (r == -EBADMSG)
                return errmsg_set(ret_error, r, "static:%s: missing or misplaced '}'", name);
        if (r < 0)
                return r;
        if (r == 0) {
                s->value = strdup(name);
                if (!s->value)
                        return -ENOMEM;
        }

        *ret = TAKE_PTR(d);
        return 0;
}

static int static_lookup(Dict *d, const char *key, char **ret_value) {
        char *v;

        v = strdup(((DictStatic *) d)->value);
        if (!v)
                return -ENOMEM;
        *ret_value = v;
        return 1;
}

const DictType dict_static_type = {
        .name = "static",
        .open = static_open,
        .lookup = static_lookup,
        .free = static_free,
};

static void inline_free(Dict *d) {
        DictInline *t = (DictInline *) d;

        if (!t)
                return;
        dict_memtable_free(t->table);
        dict_head_done(&t->head);
        free(t);
}

static bool is_item_separator(char c) {
        return c == ',' || isspace((unsigned char) c);
}

/* Adds "key=value" (from a plain item) or "key = value" (from a braced item, already trimmed). */
static int inline_add_item(DictInline *t, char *item, const char *name, char **ret_error) {
        _cleanup_free_ char *key = NULL;
        char *eq, *k_end, *v;
        int r;

        eq = strchr(item, '=');
        if (!eq)
                return errmsg_set(ret_error, -EBADMSG, "inline:%s: item \"%s\": need key=value",
                                  name, item);
        for (k_end = eq; k_end > item && isspace((unsigned char) k_end[-1]); k_end--)
                ;
        if (k_end == item)
                return errmsg_set(ret_error, -EBADMSG, "inline:%s: item \"%s\": empty key",
                                  name, item);
        *k_end = '\0';
        for (v = eq + 1; isspace((unsigned char) *v); v++)
                ;

        key = dict_key_fold(item, t->head.flags);
        if (!key)
                return -ENOMEM;
        r = dict_memtable_add(t->table, key, v);
        if (r == -EEXIST)
                return 0;               /* the first of duplicate keys wins, as in postmap */
        return r;
}

static int inline_parse(DictInline *t, const char *name, char **ret_error) {
        _cleanup_free_ char *body = NULL;
        const char *p;
        int r;

        r = unbrace(name, &body);
        if (r == 0 || r == -EBADMSG)
                return errmsg_set(ret_error, -EBADMSG,
                                  "inline:%s: need inline:{ key=value, ... }", name);
        if (r < 0)
                return r;

        for (p = body;;) {
                _cleanup_free_ char *item = NULL;
                const char *start;

                while (is_item_separator(*p))
                        p++;
                if (*p == '\0')
                        return 0;

                start = p;
                if (*p == '{') {
                        _cleanup_free_ char *raw = NULL;
                        unsigned depth = 0;

                        for (; *p; p++)
                                if (*p == '{')
                                        depth++;
                                else if (*p == '}' && --depth == 0)
                                        break;
                        if (*p != '}')
                                return errmsg_set(ret_error, -EBADMSG,
                                                  "inline:%s: missing '}'", name);
                        p++;
                        if (*p && !is_item_separator(*p))
                                return errmsg_set(ret_error, -EBADMSG,
                                                  "inline:%s: text after '}'", name);
                        raw = strndup(start, (size_t) (p - start));
                        if (!raw)
                                return -ENOMEM;
                        r = unbrace(raw, &item);
                        if (r < 0)
                                return r == -EBADMSG ? errmsg_set(ret_error, r,
                                                                  "inline:%s: bad braces",
                                                                  name)
                                                     : r;
                } else {
                        while (*p && !is_item_separator(*p))
                                p++;
                        item = strndup(start, (size_t) (p - start));
                        if (!item)
                                return -ENOMEM;
                        if (strpbrk(item, "{}"))
                                return errmsg_set(ret_error, -EBADMSG,
                                                  "inline:%s: item \"%s\": misplaced brace",
                                                  name, item);
                }

                r = inline_add_item(t, item, name, ret_error);
                if (r < 0)
                        return r;
        }
}

static int inline_open(const char *name, DictFlags flags, Dict **ret, char **ret_error) {
        _cleanup_(dict_freep) Dict *d = NULL;
        DictInline *t;
        int r;

        t = calloc(1, sizeof(*t));
        if (!t)
                return -ENOMEM;
        t->head.type = &dict_inline_type;
        d = &t->head;

        r = dict_head_init(d, &dict_inline_type, name, flags & ~DICT_FLAG_PATTERN);
        if (r < 0)
                return r;
        r = dict_memtable_new(&t->table);
        if (r < 0)
                return r;
        r = inline_parse(t, name, ret_error);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(d);
        return 0;
}

static int inline_lookup(Dict *d, const char *key, char **ret_value) {
        return dict_memtable_lookup(((DictInline *) d)->table, key, ret_value);
}

static int inline_iterate(Dict *d, int (*f)(const char *key, const char *value, void *userdata),
                          void *userdata) {
        return dict_memtable_iterate(((DictInline *) d)->table, f, userdata);
}

const DictType dict_inline_type = {
        .name = "inline",
        .open = inline_open,
        .lookup = inline_lookup,
        .free = inline_free,
        .iterate = inline_iterate,
};
