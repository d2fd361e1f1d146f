/* SPDX-License-Identifier: GPL-3.0-or-later */
/* alias: the aliases(5) file format, the items of an alias value, and building an aliases
 * database (postalias, newaliases). An aliases file is written by an administrator, but it is
 * still input: lines are bounded, a line that is not "name: value" is an error naming the file
 * and line (never a silent wrong entry), and a value is checked before it is stored.
 *
 * Format: "name: value, value, ..."; a line that begins with white space continues the previous
 * entry (joined with one space); a line whose first non-blank character is '#' is a comment and
 * blank lines are ignored (neither ends an entry); trailing white space, CR included, is dropped.
 * A name is everything before the first ':' (trimmed), or a double-quoted string ("a b": x, with
 * backslash escapes). Names are folded to lower case (ASCII) and must be local: an unquoted name
 * with '@' is an error, as postalias refuses it.
 *
 * Values are comma-separated items; commas inside double quotes do not separate. An item is an
 * address, ":include:/path" (a file of more items), "|command" or "/file/path"; an item that is
 * one quoted string ("|cmd with spaces") loses its quotes, and "<addr>" or "Name <addr>" becomes
 * the address. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "macro.h"

/* Longest logical line (an entry with its continuation lines joined). */
#define ALIAS_LINE_MAX (64U * 1024U)
/* Most items in one value. */
#define ALIAS_ITEMS_MAX 10000U
/* Largest aliases source file alias_build() reads. */
#define ALIAS_FILE_MAX (1024U * 1024U * 1024U)

/* The key postalias adds to every aliases database, with itself as value, after all entries:
 * Sendmail takes its presence as "the database is complete". */
#define ALIAS_SENTINEL_KEY "@"
#define ALIAS_SENTINEL_VALUE "@"

typedef enum AliasItemType {
        ALIAS_ITEM_ADDRESS,             /* user, user@domain: delivered to the address */
        ALIAS_ITEM_INCLUDE,             /* :include:/path: the file lists more items */
        ALIAS_ITEM_COMMAND,             /* |command: the message is piped to it */
        ALIAS_ITEM_FILE,                /* /path: appended to the file (or Maildir when "/") */
        _ALIAS_ITEM_TYPE_MAX,
        _ALIAS_ITEM_TYPE_INVALID = -EINVAL,
} AliasItemType;

/* "address", "include", "command", "file"; NULL for an invalid value. */
const char *alias_item_type_to_string(AliasItemType t) _const_;

/* Parses aliases(5) text (p, n) and calls f(name, value, line, userdata) for every entry, in
 * order: name unquoted and folded to lower case, value trimmed with continuation lines joined by
 * one space, line the number of the entry's first line. Both strings are valid during the call
 * only. A negative return from f stops the parse and is returned, with *ret_line set to the
 * entry's line. Returns 0, or on bad input -EBADMSG with *ret_line and *ret_error (a static
 * message without file or line, e.g. "missing ':' after the name"), -EMSGSIZE for an entry
 * longer than ALIAS_LINE_MAX; -ENOMEM. NUL bytes are errors. ret_line and ret_error may be NULL.
 * Pure: no I/O. */
int alias_parse(const char *p, size_t n,
                int (*f)(const char *name, const char *value, unsigned line, void *userdata),
                void *userdata, unsigned *ret_line, const char **ret_error);

/* Splits an alias value into its items (see the top of this file): trimmed, empty items
 * dropped, an item that is one quoted string unquoted, "<addr>" and "Name <addr>" reduced to
 * addr. *ret_items is a malloc'd NULL-terminated strv with at least one item. Returns 0,
 * -EBADMSG for an unterminated quoted string or '<', a value with no item, an empty command
 * ("|") or include path (":include:"), -E2BIG for more than ALIAS_ITEMS_MAX items, -ENOMEM. */
int alias_parse_value(const char *value, char ***ret_items);

/* The type of one item from alias_parse_value(). When ret_target is not NULL it points into
 * item at what the type acts on: the address, the path after ":include:" (the prefix is matched
 * without regard to case, and blanks after it are skipped), the command after '|', the file
 * path (the whole item). Never fails. */
AliasItemType alias_item_classify(const char *item, const char **ret_target);

/* Builds the aliases database db_path ("/etc/aliases.db", GDBM through dict_builder) from the
 * aliases file source_path: every entry's name and its value (as written, trimmed), then the
 * ALIAS_SENTINEL_KEY entry. Each value must pass alias_parse_value(). A duplicate name keeps the
 * first entry and adds a warning "FILE, line N: duplicate entry: \"name\"" to *ret_warnings
 * (malloc'd strv, NULL when there is none; ret_warnings may be NULL). On any error nothing is
 * replaced: the old database stays. Returns the number of warnings (>= 0), or -ENOENT/-EACCES/
 * -errno when the source cannot be read, -EFBIG when it is larger than ALIAS_FILE_MAX, -EBADMSG
 * or -EMSGSIZE for a bad entry or value, -E2BIG for too many items, or a builder error; then
 * *ret_error (malloc'd, when ret_error is not NULL) names the file and line:
 * "/etc/aliases, line 4: missing ':' after the name". */
int alias_build(const char *source_path, const char *db_path, char ***ret_warnings,
                char **ret_error);
