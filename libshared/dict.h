/* SPDX-License-Identifier: GPL-3.0-or-later */
/* dict: Postfix-compatible lookup tables, "type:name". A Dict answers one question: the value
 * for a key. Table files are input written by administrators: they are parsed with bounded
 * readers, a bad line is an error naming the file and line (never a silent wrong entry), a
 * missing or unreadable table is an error naming the file (never an empty answer).
 *
 * Types: hash: (GDBM file NAME.db built from the text file NAME, dict_gdbm.c), texthash:, static:,
 * inline:{ k=v, ... }, regexp: (regexp_table(5), dict_regexp.c), pcre: (pcre_table(5),
 * dict_pcre.c), cidr: (cidr_table(5)), unix:passwd.byname, unix:group.byname, socketmap:
 * (socketmap protocol over unix: and inet:).
 *
 * Key search order for access-style lookups (Postfix access(5)) is in dict_lookup_address() and
 * dict_lookup_client(): pattern tables (regexp, pcre, cidr) see the whole key once; fixed-string
 * tables are asked for partial keys in Postfix's order. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "macro.h"

typedef struct Dict Dict;
typedef struct DictList DictList;

typedef enum DictFlags {
        DICT_FLAG_NONE = 0,
        DICT_FLAG_FOLD_CASE = 1 << 0,           /* lower-case keys (Postfix's fold_fix) */
        /* "example.com" also matches sub.example.com (parent_domain_matches_subdomains) */
        DICT_FLAG_PARENT_MATCHES_SUBDOMAINS = 1 << 1,
        DICT_FLAG_PATTERN = 1 << 2,             /* set by the type: no partial-key lookups */
} DictFlags;

/* What every table type implements; each type's module defines one const DictType. */
typedef struct DictType {
        const char *name;                       /* "hash" */
        /* Opens the table named by `name` (the part after "type:"). On failure returns -errno
         * (-ENOENT missing, -EACCES unreadable, -EBADMSG syntax) and, when ret_error is not NULL,
         * a malloc'd message naming the file and line. */
        int (*open)(const char *name, DictFlags flags, Dict **ret, char **ret_error);
        /* 1 with a malloc'd value, 0 not found, < 0 a lookup error (-EIO, -ETIMEDOUT, ...). */
        int (*lookup)(Dict *d, const char *key, char **ret_value);
        void (*free)(Dict *d);
        /* Optional: calls f for every key and value, in table order; for "map dump". */
        int (*iterate)(Dict *d, int (*f)(const char *key, const char *value, void *userdata),
                       void *userdata);
} DictType;

/* The common head of every table; a type embeds it first in its own struct. */
struct Dict {
        const DictType *type;
        char *spec;                             /* "hash:/etc/tern/access", as opened */
        DictFlags flags;
};

/* What services pass when they open tables as Postfix does: fixed-string tables fold keys to
 * lower case (postmap builds them folded by default); pattern tables ignore the flag. */
#define DICT_FLAGS_DEFAULT DICT_FLAG_FOLD_CASE

/* Opens "type:name". An unknown type is -EPROTONOSUPPORT with a message naming it; a spec that
 * is not "type:name" (no ':', an empty or malformed type) is -EBADMSG; "proxy:type:name" opens
 * type:name (no proxymap here). Missing file -ENOENT, unreadable -EACCES, a directory -EISDIR,
 * syntax -EBADMSG ("FILE, line N: ...").
 * *ret_error must be NULL or a malloc'd string on entry (it is replaced, see errmsg.h); the
 * caller frees it. Opening reads files only; socketmap: connects at the first lookup. */
int dict_open(const char *spec, DictFlags flags, Dict **ret, char **ret_error);
Dict *dict_free(Dict *d);
DEFINE_PTR_CLEANUP(Dict *, dict_free);

/* socketmap: (socketmap_table(5)): replies longer than this are an error (-EMSGSIZE); every
 * connect, write and read of a lookup has the timeout below (-ETIMEDOUT). A reply "TEMP" is
 * -EAGAIN, "TIMEOUT" -ETIMEDOUT, "PERM" -EREMOTEIO, a malformed reply -EBADMSG. */
#define DICT_SOCKETMAP_REPLY_MAX 100000
#define DICT_SOCKETMAP_TIMEOUT_USEC (100 * UINT64_C(1000000))
/* Changes the lookup timeout of a socketmap: table. -EINVAL for another type. */
int dict_socketmap_set_timeout(Dict *d, uint64_t usec);

/* Plain lookup of the exact key (folded when the table folds case). Returns as DictType.lookup. */
int dict_lookup(Dict *d, const char *key, char **ret_value);

/* Access-table lookup of an e-mail address, Postfix access(5) order: "user@domain", then
 * "domain" and its parent domains (".parent" forms, or bare parents when
 * DICT_FLAG_PARENT_MATCHES_SUBDOMAINS), then "user@". recipient_delimiter extensions are tried
 * first with, then without the extension when delim is not NULL. Returns as dict_lookup(). */
int dict_lookup_address(Dict *d, const char *address, const char *delim, char **ret_value);
/* Access-table lookup of a host name: the name, then its parent domains as above. */
int dict_lookup_domain(Dict *d, const char *domain, char **ret_value);
/* Access-table lookup of a client IP address: the full address, then shorter prefixes
 * ("1.2.3.4", "1.2.3", "1.2", "1"; IPv6 by ':'-separated groups), as Postfix does. */
int dict_lookup_client(Dict *d, const char *ip, char **ret_value);

/* A comma- or space-separated list of tables, as in "alias_maps = hash:/etc/aliases, ...".
 * Lookups ask each table in turn; the first answer wins; an error in one table is returned. */
int dict_list_open(const char *specs, DictFlags flags, DictList **ret, char **ret_error);
DictList *dict_list_free(DictList *l);
DEFINE_PTR_CLEANUP(DictList *, dict_list_free);
int dict_list_lookup(DictList *l, const char *key, char **ret_value);
size_t dict_list_size(const DictList *l);
Dict *dict_list_get(const DictList *l, size_t i);

/* Reads a table source file in postmap(1) format: "key value" lines (key ends at the first white
 * space, or at ':' when colon_key is set, as aliases(5) has it), continuation lines start with
 * white space, comments are lines whose first non-blank is '#', blank lines are skipped. Lines
 * are bounded (DICT_SOURCE_LINE_MAX after joining continuations). For each entry calls
 * f(key, value, line, userdata) with line = the entry's first line number; a negative return
 * from f stops the read and is returned. A line with no value, a continuation with no entry
 * before it, a NUL byte or an over-long line is -EBADMSG with *ret_error = "FILE, line N: ...".
 * Returns 0, or -errno when the file cannot be opened or read (message names the file). */
#define DICT_SOURCE_LINE_MAX (64 * 1024)
int dict_source_read(const char *path, bool colon_key,
                     int (*f)(const char *key, const char *value, unsigned line, void *userdata),
                     void *userdata, char **ret_error);
