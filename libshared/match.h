/* SPDX-License-Identifier: GPL-3.0-or-later */
/* match: Postfix's pattern lists, as main.cf writes them for mydestination, relay_domains,
 * virtual_*_domains (domain lists) and mynetworks (address lists). A list is a comma or white
 * space separated sequence of patterns; the first pattern that matches decides; "!pattern"
 * negates (a match of a negated pattern is a definite "no"); "/file/name" reads more patterns
 * from a file (one or more per line, '#' comments); "type:table" looks the subject up in a
 * table (a found key is a match; for domains, parent domains are tried as dict_lookup_domain()
 * does).
 *
 * Domain patterns: "example.com" matches that domain, and its subdomains too when the list was
 * made with MATCH_PARENT_SUBDOMAINS (Postfix's parent_domain_matches_subdomains names the
 * parameter); ".example.com" matches subdomains only. Comparison is case-insensitive.
 * Address patterns: "192.0.2.1", "192.0.2.0/24", "[2001:db8::1]", "[2001:db8::]/32",
 * "2001:db8::/32". A network with host bits set is an error, as Postfix reports it.
 *
 * Patterns come from main.cf and files the administrator writes; subjects (client addresses,
 * domains) come from peers and are only compared, never parsed beyond inet_pton(). */
#pragma once

#include <stdbool.h>

#include "macro.h"

typedef struct MatchList MatchList;

typedef enum MatchType {
        MATCH_DOMAIN,
        MATCH_ADDRESS,
} MatchType;

typedef enum MatchFlags {
        MATCH_FLAG_NONE = 0,
        MATCH_PARENT_SUBDOMAINS = 1 << 0,
} MatchFlags;

/* Parses a list. Returns 0; -EBADMSG with *ret_error naming the pattern (and file, line) for a
 * bad pattern; -ENOENT and others when a file or table cannot be opened. */
int match_list_new(const char *spec, MatchType type, MatchFlags flags, MatchList **ret,
                   char **ret_error);
MatchList *match_list_free(MatchList *m);
DEFINE_PTR_CLEANUP(MatchList *, match_list_free);

/* Returns 1 when the list matches, 0 when it does not (no pattern, or a negated one, matched),
 * < 0 on a table lookup error (the caller defers: Postfix replies 451 4.3.0). */
int match_list_domain(MatchList *m, const char *domain);
int match_list_address(MatchList *m, const char *ip);

/* Parses "addr" or "addr/len" (IPv6 optionally in brackets) into family, address bytes and
 * prefix length (full length without "/len"). -EBADMSG on bad syntax or host bits set. */
int match_parse_network(const char *s, int *ret_family, unsigned char ret_addr[16],
                        unsigned *ret_prefix);
