/* SPDX-License-Identifier: GPL-3.0-or-later */
/* rewrite: Postfix's trivial-rewrite(8) as a library. Two jobs:
 *
 * - rewrite_canonical(): the "local" rewriting ruleset cleanup applies to envelope and header
 *   addresses (ADDRESS_REWRITING_README "Rewrite addresses to standard form"): strip an RFC 821
 *   source route, swap_bangpath (site!user -> user@site), allow_percent_hack (user%site ->
 *   user@site), append_at_myorigin (user -> user@$myorigin), append_dot_mydomain (user@host ->
 *   user@host.$mydomain), drop one trailing dot of the domain.
 *
 * - rewrite_resolve(): the resolver that decides where a recipient goes (trivial-rewrite(8)
 *   "ADDRESS RESOLUTION", ADDRESS_CLASS_README, transport(5)): it strips every local domain
 *   ($mydestination, $inet_interfaces/$proxy_interfaces literals) and re-resolves what is left of
 *   the local part through the percent hack, the bang path, source routes and quoted local parts
 *   (resolve_dequoted_address), so that the relay tricks "user%other@ours", "other!user@ours",
 *   "\"user@other\"@ours" and "@ours:user@other" come out as the non-local destination "other";
 *   then classifies the domain (local, virtual alias, virtual mailbox, relay, default), picks the
 *   class's transport and nexthop (relayhost for relay and default), and lets transport_maps and
 *   relocated_maps override them.
 *
 * Addresses are in the internal form (unquoted local part, as addr.h gives it). They come from
 * peers and are never trusted: every step is bounded (REWRITE_ADDRESS_MAX, a loop limit), and a
 * malformed address is a result (REWRITE_FLAG_ERROR), not a failure. Configuration is trusted as
 * far as main.cf is. The functions are silent (STYLE.md §1.6): callers log.
 *
 * Known differences from Postfix, none of which changes a relay decision: domain lists here are
 * match.h lists, so ".example.com" in mydestination or virtual_*_domains matches subdomains and
 * a table in such a list is asked for parent domains too (Postfix's string lists compare the
 * whole name); inet_interfaces host names are resolved once, when the settings are made. */
#pragma once

#include <errno.h>
#include <stdbool.h>

#include "config.h"
#include "macro.h"

/* Longest address either function looks at; longer input is -EBADMSG (canonical) or
 * REWRITE_FLAG_ERROR (resolve). Generous: RFC 5321 paths are at most 256 octets. */
#define REWRITE_ADDRESS_MAX 4096U

typedef struct RewriteSettings RewriteSettings;

/* Reads from c: myhostname, mydomain, myorigin, mydestination, inet_interfaces, proxy_interfaces,
 * relay_domains, virtual_alias_domains, virtual_mailbox_domains, parent_domain_matches_subdomains,
 * local_transport, virtual_transport, relay_transport, default_transport, relayhost,
 * transport_maps, relocated_maps, sender_dependent_relayhost_maps,
 * sender_dependent_default_transport_maps, empty_address_relayhost_maps_lookup_key,
 * empty_address_default_transport_maps_lookup_key, swap_bangpath, allow_percent_hack,
 * append_at_myorigin, append_dot_mydomain, resolve_dequoted_address, resolve_null_domain,
 * resolve_numeric_domain, recipient_delimiter, owner_request_special, empty_address_recipient,
 * show_user_unknown_table_name, allow_min_user, allow_untrusted_routing. Opens the domain lists
 * and tables, and takes the interface addresses ("all" from getifaddrs(), "loopback-only", numeric
 * addresses, host names through getaddrinfo()). Everything is copied: c may be freed afterwards.
 * Returns 0 with *ret (free with rewrite_settings_free()), or -errno with *ret_error (malloc'd,
 * optional, NULL or malloc'd on entry) naming the parameter and the problem: -EBADMSG a bad value
 * or pattern, -ENOENT and others a table or pattern file that cannot be opened, -EADDRNOTAVAIL
 * an interface name that does not resolve, -ENOMEM. */
int rewrite_settings_new(Config *c, RewriteSettings **ret, char **ret_error);
RewriteSettings *rewrite_settings_free(RewriteSettings *s);
DEFINE_PTR_CLEANUP(RewriteSettings *, rewrite_settings_free);

/* The "local" canonical form (Postfix's rewrite ruleset "local", with $myorigin and $mydomain):
 * strip a source route "@a,@b:user@domain" -> "user@domain"; when there is no '@': swap_bangpath
 * ("site!user" -> "user@site", leftmost '!'), else allow_percent_hack ("user%site" ->
 * "user@site", rightmost '%'), else append_at_myorigin ("user" -> "user@$myorigin"); then
 * append_dot_mydomain ("user@host" -> "user@host.$mydomain" when host has no dot and is not a
 * [literal]); then drop one trailing dot after the domain. Operators inside a local part that
 * needs quoting ("a b%c") are text, not operators, as in Postfix. "" (the null sender) stays "",
 * and so does a lone "@". Returns 0 with *ret (malloc'd), -EBADMSG when address is longer than
 * REWRITE_ADDRESS_MAX or contains a control byte, -ENOMEM. */
int rewrite_canonical(const RewriteSettings *s, const char *address, char **ret);

typedef enum RewriteClass {
        REWRITE_CLASS_LOCAL,    /* mydestination, inet_interfaces/proxy_interfaces literals */
        REWRITE_CLASS_ALIAS,    /* virtual_alias_domains */
        REWRITE_CLASS_VIRTUAL,  /* virtual_mailbox_domains */
        REWRITE_CLASS_RELAY,    /* relay_domains */
        REWRITE_CLASS_DEFAULT,  /* everything else */
        _REWRITE_CLASS_MAX,
        _REWRITE_CLASS_INVALID = -EINVAL,
} RewriteClass;

typedef enum RewriteFlags {
        REWRITE_FLAG_ROUTED = 1u << 0,  /* source route / % / ! left in a non-local address */
        REWRITE_FLAG_ERROR = 1u << 1,   /* malformed address (Postfix RESOLVE_FLAG_ERROR) */
        REWRITE_FLAG_FAIL = 1u << 2,    /* a table lookup failed: try again later */
        REWRITE_FLAG_FINAL = 1u << 3,   /* class LOCAL, ALIAS or VIRTUAL */
} RewriteFlags;

typedef struct RewriteResult {
        RewriteClass cls;
        unsigned flags;
        char *transport;        /* "local", "smtp", "error", ... */
        char *nexthop;          /* "$myhostname", "[relay]:port", domain, error text ... */
        char *recipient;        /* the resolved recipient address */
} RewriteResult;

/* Resolves a recipient address as Postfix's trivial-rewrite does:
 *  1. the local domains are stripped, repeatedly, and what is left re-resolved: the percent hack
 *     (allow_percent_hack), bang paths (swap_bangpath), source routes, and quoted local parts that
 *     contain '@' (or '%', '!' when those are enabled) when resolve_dequoted_address is set; an
 *     address without a domain gets @$myhostname; an empty local part becomes
 *     $empty_address_recipient (so "" resolves as MAILER-DAEMON@$myhostname);
 *  2. the domain must be a valid host name or [address literal] (or, with resolve_numeric_domain,
 *     a bare IP address, which becomes a literal), else REWRITE_FLAG_ERROR, class DEFAULT,
 *     transport "error", nexthop "5.1.3 bad address syntax";
 *  3. REWRITE_FLAG_ROUTED is set when the first of '@', '!', '%' in the resolved recipient is
 *     not the '@' before its domain, whatever swap_bangpath and allow_percent_hack say (the next
 *     hop may honour them): e.g. "user%other@ours" with allow_percent_hack = no is class LOCAL,
 *     ROUTED;
 *  4. class and default transport:nexthop: LOCAL local_transport (nexthop the domain, or the
 *     transport's ":nexthop", $myhostname by default); ALIAS "error" and "5.1.1 User unknown in
 *     virtual alias table" (show_user_unknown_table_name); VIRTUAL virtual_transport and the
 *     domain; RELAY relay_transport; DEFAULT default_transport; for RELAY and DEFAULT the nexthop
 *     is relayhost when set, else the domain, and a ":nexthop" in the transport wins;
 *  5. transport_maps (not for ALIAS), in transport(5) order: the full address, the address
 *     without its recipient_delimiter extension, the domain and its parents (".parent", or bare
 *     parents when transport_maps is in parent_domain_matches_subdomains), then "*"; pattern
 *     tables see the full address only (and "*"). "transport:nexthop" with an empty part keeps
 *     the old transport or resets the nexthop to the domain, as transport(5) says;
 *  6. relocated_maps ("5.1.6 User has moved to ..."), then a recipient starting with '-' is an
 *     ERROR unless allow_min_user.
 * A failed table lookup (a domain list, transport_maps, relocated_maps) sets REWRITE_FLAG_FAIL:
 * the caller defers (451 4.3.0). The strings in *ret are never NULL and are owned by *ret.
 * Returns 0 with *ret filled (free with rewrite_result_done()), -ENOMEM. */
int rewrite_resolve(RewriteSettings *s, const char *address, RewriteResult *ret);
/* The same with the envelope sender known ("" for the null sender), which is what
 * sender_dependent_relayhost_maps and sender_dependent_default_transport_maps look up (sender
 * address, then its local part when its domain is local, then "@domain"; the null sender as
 * $empty_address_*_lookup_key). rewrite_resolve() is this with sender NULL: no sender-dependent
 * lookups. */
int rewrite_resolve_sender(RewriteSettings *s, const char *sender, const char *address,
                           RewriteResult *ret);
/* Frees the strings of r and zeroes it; accepts a zeroed or already done r. */
void rewrite_result_done(RewriteResult *r);

const char *rewrite_class_to_string(RewriteClass c) _const_;
/* "local", "alias", "virtual", "relay", "default"; _REWRITE_CLASS_INVALID otherwise. */
RewriteClass rewrite_class_from_string(const char *s) _pure_;

/* The unauthorised-destination test of smtpd's reject_unauth_destination, as Postfix's
 * permit_auth_destination: 1 when address may be received from anyone (final destination or
 * relay_domains, and not ROUTED unless allow_untrusted_routing), 0 when not (also for a
 * malformed address), -EAGAIN when a lookup failed (FAIL), -ENOMEM. */
int rewrite_is_auth_destination(RewriteSettings *s, const char *address);

/* Postfix's resolve_local(): 1 when domain is one of ours (matches mydestination after dropping
 * one trailing dot, or is an address literal of an inet_interfaces or proxy_interfaces address),
 * 0 when not, < 0 when a table lookup failed. For smtpd's local_recipient_maps and cleanup. */
int rewrite_domain_is_local(RewriteSettings *s, const char *domain);
