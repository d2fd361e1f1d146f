/* SPDX-License-Identifier: GPL-3.0-or-later */
/* config: main.cf, Postfix syntax and semantics. A Config holds the defaults of every parameter
 * (config_params.c, one table), the values read from main.cf and the -o overrides, and expands
 * "$name" references lazily, at lookup time, with cycle detection.
 *
 * Syntax (postconf(5)): "name = value", white space around '=' optional; a line that begins with
 * white space continues the previous logical line (joined with one space); a line whose first
 * non-blank character is '#' is a comment; blank lines are ignored; trailing white space is
 * dropped; a later assignment overrides an earlier one. main.cf is trusted only as far as its
 * owner is: lines and values are bounded, expansion is bounded in depth and size.
 *
 * Expansion: $name ${name} $(name), ${name?text} (text when name is non-empty), ${name:text}
 * (text when name is empty), ${name?{text}} ${name:{text}} ${name?{a}:{b}}, the Postfix 3.6
 * relational form ${{x} OP {y} ? {a} : {b}} with OP one of == != < <= > >= (numbers) and ==level
 * !=level <level <=level >level >=level (compatibility levels), and $$ for a literal '$'. An
 * undefined name expands to the empty string.
 *
 * Defaults that depend on the host (myhostname, mydomain, mynetworks) are computed as Postfix
 * does: myhostname from gethostname() with ".$mydomain" (else ".localdomain") appended when it
 * has no dot; mydomain is myhostname minus its first label ("localdomain" when it has none);
 * mynetworks from mynetworks_style and the interface addresses (getifaddrs()). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dict.h"
#include "macro.h"

typedef struct Config Config;

typedef enum ConfigType {
        CONFIG_TYPE_STRING,
        CONFIG_TYPE_LIST,               /* comma/space separated, "{ ... }" kept whole */
        CONFIG_TYPE_BOOL,               /* yes | no */
        CONFIG_TYPE_INT,                /* optional '-', digits */
        CONFIG_TYPE_TIME,               /* digits + optional unit s m h d w */
        CONFIG_TYPE_SIZE,               /* bytes, digits only */
        CONFIG_TYPE_MAPS,               /* a list of type:name tables */
        _CONFIG_TYPE_MAX,
        _CONFIG_TYPE_INVALID = -EINVAL,
} ConfigType;

typedef enum ConfigStatus {
        CONFIG_STATUS_IMPLEMENTED,      /* tern reads it (now or in a role DESIGN.md plans) */
        CONFIG_STATUS_OBSOLETE,         /* accepted, has no effect: see note */
        CONFIG_STATUS_PLANNED,          /* accepted, not yet acted upon */
        _CONFIG_STATUS_MAX,
        _CONFIG_STATUS_INVALID = -EINVAL,
} ConfigStatus;

/* One row of the parameter table. */
typedef struct ConfigParam {
        const char *name;
        ConfigType type;
        const char *def;                /* Postfix's default (tern's where it differs); NULL when
                                         * derived at run time (myhostname, mydomain, ...) */
        char time_unit;                 /* CONFIG_TYPE_TIME: the unit of a bare number */
        ConfigStatus status;
        const char *note;               /* CONFIG_STATUS_OBSOLETE: what replaces it */
} ConfigParam;

/* Longest logical line of main.cf, and longest expanded value. */
#define CONFIG_LINE_MAX (64U * 1024U)
#define CONFIG_VALUE_MAX (256U * 1024U)
/* Bytes of expanded values one Config caches at most; past it lookups fail with -E2BIG. */
#define CONFIG_CACHE_MAX (32U * 1024U * 1024U)
/* Nesting of $name references. */
#define CONFIG_EXPAND_DEPTH_MAX 100U

const char *config_type_to_string(ConfigType t) _const_;
const char *config_status_to_string(ConfigStatus s) _const_;

/* The parameter table, sorted by name; valid for the life of the program. */
const ConfigParam *config_param_table(size_t *ret_count);
/* The table row of name, or NULL when Postfix does not know the name. */
const ConfigParam *config_param_find(const char *name);
/* Up to max table names closest to name by edit distance (at most 2, or 3 for names longer
 * than 10 characters), best first, as a NULL-terminated strv. Returns 0 (possibly an empty
 * strv), -ENOMEM. */
int config_param_suggest(const char *name, size_t max, char ***ret_strv);

/* A Config with the defaults only; derives the host-specific defaults now. */
int config_new(Config **ret);
/* The same with the host name given instead of gethostname() and no interface addresses
 * (mynetworks is then 127.0.0.0/8 [::1]/128 for style host); for tests. */
int config_new_with_hostname(const char *hostname, Config **ret);
Config *config_free(Config *c);
DEFINE_PTR_CLEANUP(Config *, config_free);

/* Parses main.cf text (p, n) and calls f(name, value, line, userdata) for every assignment, in
 * order; value is the joined logical line. A negative return from f stops and is returned.
 * Returns 0, or -EBADMSG with *ret_line and *ret_error (a static message without file or line:
 * "missing '=' after parameter name"), -EMSGSIZE for a logical line over CONFIG_LINE_MAX.
 * Pure: no I/O. NUL bytes are errors. */
int config_parse(const char *p, size_t n,
                 int (*f)(const char *name, const char *value, unsigned line, void *userdata),
                 void *userdata, unsigned *ret_line, const char **ret_error);

/* Reads a main.cf file. Returns 0, -ENOENT when missing, -errno when unreadable, -EBADMSG or
 * -EMSGSIZE with *ret_error "FILE, line N: ..." (malloc'd, when ret_error is not NULL). */
int config_load_file(Config *c, const char *path, char **ret_error);
/* The same on main.cf text already in memory; path names it in messages and config_file(). */
int config_load_string(Config *c, const char *p, size_t n, const char *path,
                       char **ret_error);
/* Reads DIR/main.cf; a missing main.cf is not an error (the defaults apply). Sets
 * config_directory to dir unless main.cf sets it. */
int config_load_dir(Config *c, const char *dir, char **ret_error);
/* The config directory for programs: arg_c if not NULL, else $TERN_CONFIG, else the compiled-in
 * TERN_CONFIG_DIR. The returned string is arg_c, the environment's, or static. */
const char *config_dir_resolve(const char *arg_c);
/* Where tern's sockets live (qmgr's trigger, the agents): $RUNTIME_DIRECTORY as systemd's
 * RuntimeDirectory= sets it (its first entry), else CONFIG_RUNTIME_DIR. Returns a malloc'd
 * string, NULL on -ENOMEM. */
#define CONFIG_RUNTIME_DIR "/run/tern"
char *config_runtime_dir(void);
/* The file main.cf was read from (malloc'd by c), or NULL. */
const char *config_file(const Config *c);

/* "name=value" (white space around '=' allowed), as -o gives it. Overrides win over main.cf
 * whatever the order of calls. Returns 0, -EBADMSG on a missing '=' or a bad name, -ENOMEM. */
int config_set_override(Config *c, const char *assignment);
/* The same with name and value apart. */
int config_set(Config *c, const char *name, const char *value);

/* Expanded value, owned by c and valid until c is changed or freed; NULL for a name that is
 * neither in the table nor set (user-defined names set in main.cf are allowed, as Postfix allows
 * them for restriction classes), and NULL when expansion fails (config_expand() says why). */
const char *config_get(Config *c, const char *name);
/* Unexpanded value: the override, else main.cf's, else the default; NULL as above. */
const char *config_get_raw(Config *c, const char *name);
/* The default value (derived ones computed for this host), NULL for an unknown name. */
const char *config_get_default(Config *c, const char *name);
/* Expanded value like config_get(), with the reason on failure: -ENOENT unknown name, -ELOOP a
 * reference cycle or nesting deeper than CONFIG_EXPAND_DEPTH_MAX, -EBADMSG bad syntax (unmatched
 * brace, bad relational operator), -EMSGSIZE a value over CONFIG_VALUE_MAX, -E2BIG cache
 * exhausted, -ENOMEM. *ret_error (malloc'd, optional) names the parameter:
 * "parameter a: reference cycle: a -> b -> a". */
int config_expand(Config *c, const char *name, const char **ret, char **ret_error);
/* Expands an arbitrary text against c. *ret is malloc'd. When ret_undefined is not NULL it gets a
 * strv of the names the text references directly that are neither known nor set (each once).
 * Returns as config_expand(). */
int config_expand_text(Config *c, const char *text, char **ret, char ***ret_undefined,
                       char **ret_error);

/* Typed getters: 0 with the value, -ENOENT unknown name, -EBADMSG a bad value (naming nothing:
 * callers log), -ERANGE out of range, or an expansion error as config_expand(). */
int config_get_bool(Config *c, const char *name, bool *ret);
int config_get_int(Config *c, const char *name, int64_t *ret);
/* Bare numbers take the parameter's default unit (table), else seconds. */
int config_get_time(Config *c, const char *name, uint64_t *ret_seconds);
int config_get_size(Config *c, const char *name, uint64_t *ret_bytes);
/* Splits on commas and white space (Postfix list semantics, "{ ... }" groups kept whole, braces
 * removed). *ret_strv is malloc'd, possibly empty. */
int config_get_list(Config *c, const char *name, char ***ret_strv);
/* The same splitting on any text. */
int config_split_list(const char *text, char ***ret_strv);

/* Typed getters for settings loaders: the same as above, but a failure comes with one message
 * form in *ret_error (malloc'd, optional), "NAME: bad value 'VALUE'", with a hint in parentheses
 * where one helps ("(yes or no)", "(must be 1..599)", "(none, may or encrypt)"); an expansion
 * failure keeps config_expand()'s message. They return 0 with the value, -ENOENT unknown name,
 * -EBADMSG a value that does not parse, -ERANGE a number outside [min, max], -ENOMEM, or an
 * expansion error as config_expand(). Nothing is written to ret on failure. */
int config_read_bool(Config *c, const char *name, bool *ret, char **ret_error);
int config_read_uint64(Config *c, const char *name, uint64_t min, uint64_t max, uint64_t *ret,
                       char **ret_error);
int config_read_unsigned(Config *c, const char *name, unsigned min, unsigned max, unsigned *ret,
                         char **ret_error);
/* A time (Postfix's units, bare numbers in the parameter's default unit) in microseconds. */
int config_read_usec(Config *c, const char *name, uint64_t *ret_usec, char **ret_error);
int config_read_size(Config *c, const char *name, uint64_t *ret_bytes, char **ret_error);
/* The expanded value, a malloc'd copy ("" for an empty value) that replaces *ret, whose old
 * value is freed. */
int config_read_strdup(Config *c, const char *name, char **ret, char **ret_error);
/* The list as config_get_list(); *ret_strv is malloc'd, possibly empty. */
int config_read_list(Config *c, const char *name, char ***ret_strv, char **ret_error);
/* The index in table[0..n) of the value (exact match); -1 for an empty value, which callers
 * take as "unset" (a default, a legacy parameter) or reject. The hint lists the table. */
int config_read_enum(Config *c, const char *name, const char *const *table, size_t n, int *ret,
                     char **ret_error);
/* The "type:name, ..." tables the value names, opened with flags (dict_list_open()); *ret is
 * NULL when the value names none (Postfix creates no list then). Open errors are "NAME: what
 * dict_list_open() said". *ret is owned by the caller (dict_list_free()). */
int config_read_maps(Config *c, const char *name, DictFlags flags, DictList **ret,
                     char **ret_error);

/* config_new(), config_load_dir(dir) and each "name=value" of overrides (-o), in that order:
 * the Config a service starts from. Returns 0, or a negative errno with *ret_error saying what
 * failed ("-o x: not name=value", "cannot set up the configuration", or config_load_dir()'s). */
int config_new_from_dir(const char *dir, char *const *overrides, Config **ret, char **ret_error);

/* Checks a value against a type: 0 when valid, -EBADMSG otherwise (-ERANGE on overflow). */
int config_value_check(ConfigType type, char time_unit, const char *value);

/* Where a value came from. */
typedef enum ConfigSource {
        CONFIG_SOURCE_DEFAULT,
        CONFIG_SOURCE_FILE,             /* main.cf */
        CONFIG_SOURCE_OVERRIDE,         /* -o, config_set() */
        _CONFIG_SOURCE_MAX,
        _CONFIG_SOURCE_INVALID = -EINVAL,
} ConfigSource;
/* Where the effective value of name comes from; *ret_line (optional) gets the main.cf line for
 * CONFIG_SOURCE_FILE, else 0. Returns the source, or -ENOENT for an unknown name. */
int config_get_source(Config *c, const char *name, unsigned *ret_line);
/* True when name was set in main.cf or overridden. */
bool config_is_set(Config *c, const char *name);

/* Calls f for every name set in main.cf or overridden (table names and user-defined ones),
 * sorted by name. A negative return from f stops and is returned. */
int config_foreach_set(Config *c, int (*f)(Config *c, const char *name, void *userdata),
                       void *userdata);
/* True when some value (set or default) references name as $name, ${name...} or $(name), or
 * smtpd_restriction_classes lists it: a user-defined name that is used. */
bool config_name_is_referenced(Config *c, const char *name);

/* Edits main.cf text: for each "name = value" in assignments, replaces the logical line that sets
 * name (its first line and continuation lines; the last one when set twice, earlier ones are
 * kept, being overridden anyway) or, when not set, appends it at the end; with comment_out,
 * prefixes each line of the logical lines setting the names in assignments (names only) with
 * "#". Every other byte is kept. Values may not contain line ends. *ret is malloc'd. Returns 0,
 * -EBADMSG for a bad assignment (missing '=', bad name, line end), -ENOMEM. Pure. */
int config_edit_text(const char *p, size_t n, char *const *assignments, bool comment_out,
                     char **ret, size_t *ret_len);
/* config_edit_text() on a file: the result is written to a temporary file in the same directory
 * (same mode), fsync'd, renamed over path and the directory fsync'd. A missing file is created
 * (mode 0644). Returns 0, -EBADMSG, or -errno. */
int config_edit_file(const char *path, char *const *assignments, bool comment_out);
