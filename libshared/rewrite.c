/* SPDX-License-Identifier: GPL-3.0-or-later */
/* rewrite: Postfix's trivial-rewrite as a library: the "local" canonical rewriting of addresses
 * and the resolver that maps a recipient to (class, transport, nexthop, recipient). See rewrite.h
 * for the rules; this file follows the order in which Postfix applies them.
 *
 * An address is modelled the way Postfix's token tree sees it after quoting the local part: an
 * optional source route ("@a,@b:"), a local part that is either plain text whose '%' and '!' are
 * routing operators, or one quoted string whose operators are hidden (resolve_dequoted_address
 * opens it), and the text after the rightmost '@' (absent when there is none). Addresses are
 * untrusted; the resolver loop is bounded by the address length. */
#include <arpa/inet.h>
#include <ctype.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <netinet/in.h>
#include <strings.h>
#include <sys/socket.h>

#include "addr.h"
#include "dict.h"
#include "errmsg.h"
#include "match.h"
#include "rewrite.h"

typedef struct Interface {
        int family;
        unsigned char addr[16];
} Interface;

struct RewriteSettings {
        char *myhostname;
        char *mydomain;
        char *myorigin;
        char *local_transport;
        char *virtual_transport;
        char *relay_transport;
        char *default_transport;
        char *relayhost;
        char *empty_address_recipient;
        char *recipient_delimiter;
        char *null_relay_key;
        char *null_def_xport_key;

        bool swap_bangpath;
        bool percent_hack;
        bool append_at_myorigin;
        bool append_dot_mydomain;
        bool resolve_dequoted;
        bool resolve_null_domain;
        bool resolve_numeric_domain;
        bool owner_request_special;
        bool show_unknown_table;
        bool allow_min_user;
        bool allow_untrusted_routing;
        bool transport_parent;

        /* NULL when the parameter is empty. */
        MatchList *mydestination;
        MatchList *virtual_alias_domains;
        MatchList *virtual_mailbox_domains;
        MatchList *relay_domains;
        DictList *transport_maps;
        DictList *relocated_maps;
        DictList *snd_relay_maps;
        DictList *snd_def_xport_maps;

        Interface *interfaces;          /* inet_interfaces and proxy_interfaces */
        size_t n_interfaces;
};

static const char *const class_names[_REWRITE_CLASS_MAX] = {
        [REWRITE_CLASS_LOCAL] = "local",
        [REWRITE_CLASS_ALIAS] = "alias",
        [REWRITE_CLASS_VIRTUAL] = "virtual",
        [REWRITE_CLASS_RELAY] = "relay",
        [REWRITE_CLASS_DEFAULT] = "default",
};

const char *rewrite_class_to_string(RewriteClass c) {
        if (c < 0 || c >= _REWRITE_CLASS_MAX)
                return NULL;
        return class_names[c];
}

RewriteClass rewrite_class_from_string(const char *s) {
        if (!s)
                return _REWRITE_CLASS_INVALID;
        for (int i = 0; i < _REWRITE_CLASS_MAX; i++)
                if (streq(class_names[i], s))
                        return (RewriteClass) i;
        return _REWRITE_CLASS_INVALID;
}

RewriteSettings *rewrite_settings_free(RewriteSettings *s) {
        if (!s)
                return NULL;
        free(s->myhostname);
        free(s->mydomain);
        free(s->myorigin);
        free(s->local_transport);
        free(s->virtual_transport);
        free(s->relay_transport);
        free(s->default_transport);
        free(s->relayhost);
        free(s->empty_address_recipient);
        free(s->recipient_delimiter);
        free(s->null_relay_key);
        free(s->null_def_xport_key);
        match_list_free(s->mydestination);
        match_list_free(s->virtual_alias_domains);
        match_list_free(s->virtual_mailbox_domains);
        match_list_free(s->relay_domains);
        dict_list_free(s->transport_maps);
        dict_list_free(s->relocated_maps);
        dict_list_free(s->snd_relay_maps);
        dict_list_free(s->snd_def_xport_maps);
        free(s->interfaces);
        free(s);
        return NULL;
}

/* ---- settings ---- */

/* Whether name is listed in parent_domain_matches_subdomains. */
static int parent_style(Config *c, const char *name, bool *ret, char **ret_error) {
        _cleanup_strv_free_ char **l = NULL;
        _cleanup_free_ char *v = NULL;
        int r;

        r = config_read_strdup(c, "parent_domain_matches_subdomains", &v, ret_error);
        if (r < 0)
                return r;
        r = config_split_list(v, &l);
        if (r < 0)
                return r;
        *ret = false;
        for (char **i = l; *i; i++)
                if (streq(*i, name))
                        *ret = true;
        return 0;
}

static int open_list(Config *c, const char *name, MatchList **ret, char **ret_error) {
        _cleanup_free_ char *v = NULL, *error = NULL;
        bool parent;
        int r;

        r = config_read_strdup(c, name, &v, ret_error);
        if (r < 0)
                return r;
        r = parent_style(c, name, &parent, ret_error);
        if (r < 0)
                return r;
        if (v[strspn(v, ", \t\r\n")] == '\0') {
                *ret = NULL;            /* Postfix creates no list for an empty value */
                return 0;
        }
        r = match_list_new(v, MATCH_DOMAIN, parent ? MATCH_PARENT_SUBDOMAINS : MATCH_FLAG_NONE,
                           ret, &error);
        if (r < 0)
                return errmsg_set(ret_error, r, "parameter %s: %s", name,
                                  error ?: strerror(-r));
        return 0;
}

static int interface_add(RewriteSettings *s, int family, const void *a) {
        Interface *n;

        if (s->n_interfaces >= 4096)
                return 0;               /* more is no configuration anyone has */
        n = reallocarray(s->interfaces, s->n_interfaces + 1, sizeof *n);
        if (!n)
                return -ENOMEM;
        s->interfaces = n;
        n = &s->interfaces[s->n_interfaces++];
        *n = (Interface) { .family = family };
        memcpy(n->addr, a, family == AF_INET ? 4 : 16);
        return 0;
}

static int interfaces_all(RewriteSettings *s) {
        struct ifaddrs *ifa = NULL;
        int r = 0;

        /* Without netlink (a sandbox that forbids AF_NETLINK) the interface list is unknown:
         * only loopback is ours then, as config.c decides for mynetworks. */
        if (getifaddrs(&ifa) < 0) {
                struct in_addr a4;

                a4.s_addr = htonl(INADDR_LOOPBACK);
                r = interface_add(s, AF_INET, &a4);
                if (r >= 0)
                        r = interface_add(s, AF_INET6, &in6addr_loopback);
                return r;
        }
        for (struct ifaddrs *i = ifa; i && r >= 0; i = i->ifa_next) {
                void *sa = i->ifa_addr;

                if (!sa)
                        continue;
                if (i->ifa_addr->sa_family == AF_INET)
                        r = interface_add(s, AF_INET, &((struct sockaddr_in *) sa)->sin_addr);
                else if (i->ifa_addr->sa_family == AF_INET6)
                        r = interface_add(s, AF_INET6, &((struct sockaddr_in6 *) sa)->sin6_addr);
        }
        freeifaddrs(ifa);
        return r;
}

static int interfaces_add_param(RewriteSettings *s, Config *c, const char *name,
                                char **ret_error) {
        _cleanup_strv_free_ char **l = NULL;
        _cleanup_free_ char *v = NULL;
        int r;

        r = config_read_strdup(c, name, &v, ret_error);
        if (r < 0)
                return r;
        r = config_split_list(v, &l);
        if (r < 0)
                return r;

        for (char **i = l; *i; i++) {
                unsigned char a[16];
                char host[NI_MAXHOST];
                const char *w = *i;
                size_t n = strlen(w);
                struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res = NULL;

                if (streq(name, "inet_interfaces") && strcasecmp(w, "all") == 0) {
                        r = interfaces_all(s);
                        if (r < 0)
                                return errmsg_set(ret_error, r, "parameter %s: %s", name,
                                                  strerror(-r));
                        continue;
                }
                if (strcasecmp(w, "loopback-only") == 0) {
                        r = interface_add(s, AF_INET, &(struct in_addr) {
                                          .s_addr = htonl(INADDR_LOOPBACK) });
                        if (r >= 0)
                                r = interface_add(s, AF_INET6, &in6addr_loopback);
                        if (r < 0)
                                return r;
                        continue;
                }
                if (n >= 2 && w[0] == '[' && w[n - 1] == ']') {
                        w++;
                        n -= 2;
                }
                if (n == 0 || n >= sizeof host)
                        return errmsg_set(ret_error, -EBADMSG, "parameter %s: bad address: %s",
                                          name, *i);
                memcpy(host, w, n);
                host[n] = '\0';
                if (inet_pton(AF_INET, host, a) == 1) {
                        r = interface_add(s, AF_INET, a);
                        if (r < 0)
                                return r;
                        continue;
                }
                if (inet_pton(AF_INET6, host, a) == 1) {
                        r = interface_add(s, AF_INET6, a);
                        if (r < 0)
                                return r;
                        continue;
                }
                /* A host name, as Postfix allows: resolved once, now. */
                if (getaddrinfo(host, NULL, &hints, &res) != 0 || !res)
                        return errmsg_set(ret_error, -EADDRNOTAVAIL,
                                          "parameter %s: host not found: %s", name, host);
                for (struct addrinfo *ai = res; ai && r >= 0; ai = ai->ai_next)
                        if (ai->ai_family == AF_INET)
                                r = interface_add(s, AF_INET, &((struct sockaddr_in *)
                                                  (void *) ai->ai_addr)->sin_addr);
                        else if (ai->ai_family == AF_INET6)
                                r = interface_add(s, AF_INET6, &((struct sockaddr_in6 *)
                                                  (void *) ai->ai_addr)->sin6_addr);
                freeaddrinfo(res);
                if (r < 0)
                        return r;
        }
        return 0;
}

int rewrite_settings_new(Config *c, RewriteSettings **ret, char **ret_error) {
        _cleanup_(rewrite_settings_freep) RewriteSettings *s = NULL;
        static const struct {
                const char *name;
                size_t offset;
        } strings[] = {
                { "myhostname", offsetof(RewriteSettings, myhostname) },
                { "mydomain", offsetof(RewriteSettings, mydomain) },
                { "myorigin", offsetof(RewriteSettings, myorigin) },
                { "local_transport", offsetof(RewriteSettings, local_transport) },
                { "virtual_transport", offsetof(RewriteSettings, virtual_transport) },
                { "relay_transport", offsetof(RewriteSettings, relay_transport) },
                { "default_transport", offsetof(RewriteSettings, default_transport) },
                { "relayhost", offsetof(RewriteSettings, relayhost) },
                { "empty_address_recipient", offsetof(RewriteSettings, empty_address_recipient) },
                { "recipient_delimiter", offsetof(RewriteSettings, recipient_delimiter) },
                { "empty_address_relayhost_maps_lookup_key",
                  offsetof(RewriteSettings, null_relay_key) },
                { "empty_address_default_transport_maps_lookup_key",
                  offsetof(RewriteSettings, null_def_xport_key) },
        }, bools[] = {
                { "swap_bangpath", offsetof(RewriteSettings, swap_bangpath) },
                { "allow_percent_hack", offsetof(RewriteSettings, percent_hack) },
                { "append_at_myorigin", offsetof(RewriteSettings, append_at_myorigin) },
                { "append_dot_mydomain", offsetof(RewriteSettings, append_dot_mydomain) },
                { "resolve_dequoted_address", offsetof(RewriteSettings, resolve_dequoted) },
                { "resolve_null_domain", offsetof(RewriteSettings, resolve_null_domain) },
                { "resolve_numeric_domain", offsetof(RewriteSettings, resolve_numeric_domain) },
                { "owner_request_special", offsetof(RewriteSettings, owner_request_special) },
                { "show_user_unknown_table_name",
                  offsetof(RewriteSettings, show_unknown_table) },
                { "allow_min_user", offsetof(RewriteSettings, allow_min_user) },
                { "allow_untrusted_routing", offsetof(RewriteSettings, allow_untrusted_routing) },
        }, lists[] = {
                { "mydestination", offsetof(RewriteSettings, mydestination) },
                { "virtual_alias_domains", offsetof(RewriteSettings, virtual_alias_domains) },
                { "virtual_mailbox_domains", offsetof(RewriteSettings, virtual_mailbox_domains) },
                { "relay_domains", offsetof(RewriteSettings, relay_domains) },
        }, maps[] = {
                { "transport_maps", offsetof(RewriteSettings, transport_maps) },
                { "relocated_maps", offsetof(RewriteSettings, relocated_maps) },
                { "sender_dependent_relayhost_maps", offsetof(RewriteSettings, snd_relay_maps) },
                { "sender_dependent_default_transport_maps",
                  offsetof(RewriteSettings, snd_def_xport_maps) },
        };
        int r;

        assert(c);
        assert(ret);

        s = calloc(1, sizeof *s);
        if (!s)
                return -ENOMEM;

        for (size_t i = 0; i < ELEMENTSOF(strings); i++) {
                r = config_read_strdup(c, strings[i].name,
                                       (char **) (void *) ((char *) s + strings[i].offset),
                                       ret_error);
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; i < ELEMENTSOF(bools); i++) {
                r = config_read_bool(c, bools[i].name,
                                     (bool *) (void *) ((char *) s + bools[i].offset),
                                     ret_error);
                if (r < 0)
                        return r;
        }
        r = parent_style(c, "transport_maps", &s->transport_parent, ret_error);
        if (r < 0)
                return r;
        for (size_t i = 0; i < ELEMENTSOF(lists); i++) {
                r = open_list(c, lists[i].name,
                              (MatchList **) (void *) ((char *) s + lists[i].offset), ret_error);
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; i < ELEMENTSOF(maps); i++) {
                r = config_read_maps(c, maps[i].name, DICT_FLAGS_DEFAULT,
                                     (DictList **) (void *) ((char *) s + maps[i].offset),
                                     ret_error);
                if (r < 0)
                        return r;
        }
        r = interfaces_add_param(s, c, "inet_interfaces", ret_error);
        if (r < 0)
                return r;
        r = interfaces_add_param(s, c, "proxy_interfaces", ret_error);
        if (r < 0)
                return r;

        if (isempty(s->myhostname))
                return errmsg_set(ret_error, -EBADMSG, "parameter myhostname: empty value");
        if (isempty(s->local_transport) || isempty(s->default_transport) ||
            isempty(s->relay_transport) || isempty(s->virtual_transport))
                return errmsg_set(ret_error, -EBADMSG,
                                  "parameter %s: null transport is not allowed",
                                  isempty(s->local_transport) ? "local_transport" :
                                  isempty(s->default_transport) ? "default_transport" :
                                  isempty(s->relay_transport) ? "relay_transport" :
                                  "virtual_transport");

        *ret = TAKE_PTR(s);
        return 0;
}

/* ---- the address model ---- */

typedef struct Tree {
        char *route;            /* "@a,@b:" as written, or NULL */
        char *local;            /* internal local part; never NULL */
        bool quoted;            /* the local part is one quoted string: operators are text */
        char *domain;           /* after the '@'; NULL when there is no '@' */
} Tree;

static void tree_done(Tree *t) {
        t->route = mfree(t->route);
        t->local = mfree(t->local);
        t->domain = mfree(t->domain);
}

/* Postfix quotes a local part that is not an RFC 822 dot-string (8-bit bytes are let through). */
static bool is_dot_string(const char *p, size_t n) {
        if (n == 0 || p[0] == '.' || p[n - 1] == '.')
                return false;
        for (size_t i = 0; i < n; i++) {
                unsigned char ch = (unsigned char) p[i];

                if (ch == '.' && i + 1 < n && p[i + 1] == '.')
                        return false;
                if (ch <= ' ' || ch == 0x7f || strchr("()<>@,;:\\\"[]", ch))
                        return false;
        }
        return true;
}

/* Splits an internal address into the model, as Postfix's quote-then-tokenise does: the source
 * route is recognised only at the start, the local part ends at the rightmost '@'. */
static int tree_parse(const char *s, Tree *ret) {
        _cleanup_free_ char *route = NULL, *local = NULL, *domain = NULL;
        const char *rest = s, *colon, *at;
        bool quoted;

        if (s[0] == '@' && (colon = strchr(s, ':'))) {
                route = strndup(s, (size_t) (colon + 1 - s));
                if (!route)
                        return -ENOMEM;
                rest = colon + 1;
        }
        at = strrchr(rest, '@');
        local = at ? strndup(rest, (size_t) (at - rest)) : strdup(rest);
        if (!local)
                return -ENOMEM;
        if (at) {
                domain = strdup(at + 1);
                if (!domain)
                        return -ENOMEM;
        }

        quoted = !is_dot_string(local, strlen(local));
        *ret = (Tree) {
                .route = TAKE_PTR(route),
                .quoted = quoted,
                .local = TAKE_PTR(local),
                .domain = TAKE_PTR(domain),
        };
        return 0;
}

static char *strjoin3(const char *a, const char *b, const char *c) {
        size_t la = strlen(a), lb = strlen(b), lc = strlen(c);
        char *p = malloc(la + lb + lc + 1);

        if (!p)
                return NULL;
        memcpy(p, a, la);
        memcpy(p + la, b, lb);
        memcpy(p + la + lb, c, lc + 1);
        return p;
}

static int tree_format(const Tree *t, char **ret) {
        _cleanup_free_ char *head = NULL;
        char *p;

        head = strjoin3(strempty(t->route), t->local, t->domain ? "@" : "");
        if (!head)
                return -ENOMEM;
        p = strjoin3(head, strempty(t->domain), "");
        if (!p)
                return -ENOMEM;
        *ret = p;
        return 0;
}

static int set_str(char **p, const char *v) {
        char *n = strdup(v);

        if (!n)
                return -ENOMEM;
        free(*p);
        *p = n;
        return 0;
}

/* Postfix's rewrite_tree() with the "local" context ($myorigin, $mydomain). */
static int tree_rewrite(const RewriteSettings *s, Tree *t) {
        char *op;
        size_t n;

        /* The null address stays. */
        if (!t->route && !t->domain && t->local[0] == '\0')
                return 0;

        /* Strip a source route, unless nothing follows it. */
        if (t->route) {
                if (t->local[0] == '\0' && !t->domain)
                        return 0;
                t->route = mfree(t->route);
        }

        if (!t->domain) {
                if (s->swap_bangpath && !t->quoted && (op = strchr(t->local, '!'))) {
                        /* site!user -> user@site; the leftmost '!' */
                        char *user = strdup(op + 1);

                        if (!user)
                                return -ENOMEM;
                        *op = '\0';
                        t->domain = t->local;
                        t->local = user;
                } else if (s->percent_hack && !t->quoted && (op = strrchr(t->local, '%'))) {
                        /* user%site -> user@site; the rightmost '%' */
                        t->domain = strdup(op + 1);
                        if (!t->domain)
                                return -ENOMEM;
                        *op = '\0';
                } else if (s->append_at_myorigin && !isempty(s->myorigin)) {
                        t->domain = strdup(s->myorigin);
                        if (!t->domain)
                                return -ENOMEM;
                }
        }

        /* Append .$mydomain to a domain without a dot, but not to a [literal] or nothing. */
        if (s->append_dot_mydomain && !isempty(s->mydomain) && !isempty(t->domain) &&
            !strchr(t->domain, '[') && !strchr(t->domain, '.')) {
                char *d = strjoin3(t->domain, ".", s->mydomain);

                if (!d)
                        return -ENOMEM;
                free(t->domain);
                t->domain = d;
        }

        /* Strip one trailing dot, but not dot-dot or "@.". */
        if (t->domain && (n = strlen(t->domain)) >= 2 && t->domain[n - 1] == '.' &&
            t->domain[n - 2] != '.')
                t->domain[n - 1] = '\0';
        return 0;
}

static bool address_is_sane(const char *a) {
        size_t n = 0;

        for (const char *p = a; *p; p++, n++) {
                unsigned char ch = (unsigned char) *p;

                if (n >= REWRITE_ADDRESS_MAX || ch < ' ' || ch == 0x7f)
                        return false;
        }
        return true;
}

int rewrite_canonical(const RewriteSettings *s, const char *address, char **ret) {
        _cleanup_(tree_done) Tree t = {};
        int r;

        assert(s);
        assert(address);
        assert(ret);

        if (!address_is_sane(address))
                return -EBADMSG;
        if (address[0] == '\0') {
                char *e = strdup("");

                if (!e)
                        return -ENOMEM;
                *ret = e;
                return 0;
        }

        r = tree_parse(address, &t);
        if (r < 0)
                return r;
        r = tree_rewrite(s, &t);
        if (r < 0)
                return r;
        return tree_format(&t, ret);
}

/* ---- resolving ---- */

/* Parses "[1.2.3.4]" or "[IPv6:...]" (Postfix's valid_mailhost_addr()). */
static bool literal_parse(const char *d, size_t n, int *ret_family, unsigned char ret[16]) {
        char host[INET6_ADDRSTRLEN + 8];

        if (n < 2 || d[0] != '[' || d[n - 1] != ']' || n - 2 >= sizeof host)
                return false;
        memcpy(host, d + 1, n - 2);
        host[n - 2] = '\0';
        if (strncasecmp(host, "IPv6:", 5) == 0) {
                *ret_family = AF_INET6;
                return inet_pton(AF_INET6, host + 5, ret) == 1;
        }
        *ret_family = AF_INET;
        return inet_pton(AF_INET, host, ret) == 1;
}

int rewrite_domain_is_local(RewriteSettings *s, const char *domain) {
        _cleanup_free_ char *d = NULL;
        unsigned char a[16] = {};
        size_t n;
        int family, r;

        assert(s);
        assert(domain);

        /* One trailing dot is dropped; "" and a name ending in ".." are not ours. */
        n = strlen(domain);
        if (n > 0 && domain[n - 1] == '.')
                n--;
        if (n == 0 || domain[n - 1] == '.')
                return 0;
        d = strndup(domain, n);
        if (!d)
                return -ENOMEM;

        if (s->mydestination) {
                r = match_list_domain(s->mydestination, d);
                if (r != 0)
                        return r;
        }

        if (!literal_parse(d, n, &family, a))
                return 0;
        for (size_t i = 0; i < s->n_interfaces; i++)
                if (s->interfaces[i].family == family &&
                    memcmp(s->interfaces[i].addr, a, family == AF_INET ? 4 : 16) == 0)
                        return 1;
        return 0;
}

/* Postfix's valid_hostname(): labels of letters, digits, '_' and inner '-', at most 63 octets
 * each, 255 in all, no empty label, not all-numeric. */
static bool hostname_is_valid(const char *d) {
        size_t label = 0, n = 0;
        bool non_numeric = false;

        for (const char *p = d; *p; p++, n++) {
                unsigned char ch = (unsigned char) *p;

                if (n >= ADDR_DOMAIN_MAX)
                        return false;
                if (isalnum(ch) || ch == '_') {
                        if (++label > ADDR_LABEL_MAX)
                                return false;
                        if (!isdigit(ch))
                                non_numeric = true;
                } else if (ch == '.') {
                        if (label == 0 || p[1] == '\0')
                                return false;
                        label = 0;
                } else if (ch == '-') {
                        non_numeric = true;
                        if (++label == 1 || p[1] == '\0' || p[1] == '.' || label > ADDR_LABEL_MAX)
                                return false;
                } else
                        return false;
        }
        return n > 0 && non_numeric;
}

static bool hostaddr_is_valid(const char *d) {
        unsigned char a[16];

        return inet_pton(AF_INET, d, a) == 1 || inet_pton(AF_INET6, d, a) == 1;
}

/* Postfix's maps_find(): asks each table in turn; partial keys skip pattern tables. Returns 1
 * with *ret, 0 not found, < 0 a lookup error. */
static int maps_find(DictList *l, const char *key, bool partial, char **ret) {
        int r;

        for (size_t i = 0; i < dict_list_size(l); i++) {
                Dict *d = dict_list_get(l, i);

                if (partial && (d->flags & DICT_FLAG_PATTERN))
                        continue;
                r = dict_lookup(d, key, ret);
                if (r != 0)
                        return r;
        }
        return 0;
}

/* Postfix's mail_addr_find() order for relocated_maps and the sender-dependent tables:
 * user+ext@domain, user@domain, then for our own domains user+ext and user, then @domain. */
static int addr_find(RewriteSettings *s, DictList *l, const char *address, char **ret) {
        _cleanup_free_ char *local = NULL, *base = NULL, *key = NULL;
        const char *at = strrchr(address, '@');
        int r, split;

        r = maps_find(l, address, /* partial= */ false, ret);
        if (r != 0)
                return r;

        local = at ? strndup(address, (size_t) (at - address)) : strdup(address);
        if (!local)
                return -ENOMEM;
        split = addr_split_extension(local, s->recipient_delimiter, s->owner_request_special,
                                     &base, NULL);
        if (split < 0)
                return split;
        if (split > 0) {
                key = strjoin3(base, at ? at : "", "");
                if (!key)
                        return -ENOMEM;
                r = maps_find(l, key, /* partial= */ true, ret);
                if (r != 0)
                        return r;
        }
        if (!at)
                return 0;

        r = rewrite_domain_is_local(s, at + 1);
        if (r < 0)
                return r;
        if (r > 0) {
                r = maps_find(l, local, /* partial= */ true, ret);
                if (r != 0)
                        return r;
                if (split > 0) {
                        r = maps_find(l, base, /* partial= */ true, ret);
                        if (r != 0)
                                return r;
                }
        }
        return maps_find(l, at, /* partial= */ true, ret);
}

typedef struct Route {
        char *transport;
        char *nexthop;
} Route;

/* transport(5) RESULT FORMAT: "transport:nexthop"; an empty transport keeps the old one (and the
 * nexthop unless one is given); a new transport without nexthop resets the nexthop to the
 * recipient domain ("Address is undeliverable" for the error transport). */
static int route_update(Route *rt, const char *value, const char *rcpt_domain) {
        _cleanup_free_ char *channel = NULL;
        const char *colon = strchr(value, ':');
        const char *hop = colon ? colon + 1 : "";
        int r;

        channel = colon ? strndup(value, (size_t) (colon - value)) : strdup(value);
        if (!channel)
                return -ENOMEM;
        if (channel[0] == '\0')
                return hop[0] ? set_str(&rt->nexthop, hop) : 0;

        r = set_str(&rt->transport, channel);
        if (r < 0)
                return r;
        if (hop[0])
                return set_str(&rt->nexthop, hop);
        return set_str(&rt->nexthop, streq(channel, "error") ? "Address is undeliverable" :
                       rcpt_domain);
}

static int route_update_found(Route *rt, int found, char **value, const char *rcpt_domain) {
        int r;

        if (found <= 0)
                return found;
        r = route_update(rt, *value, rcpt_domain);
        *value = mfree(*value);
        return r < 0 ? r : 1;
}

/* Postfix's transport_lookup(). Returns 1 when an entry applied, 0 not found, < 0 an error. */
static int transport_lookup(RewriteSettings *s, const char *rcpt, const char *rcpt_domain,
                            Route *rt) {
        _cleanup_free_ char *value = NULL, *local = NULL, *base = NULL, *key = NULL;
        const char *at = strrchr(rcpt, '@'), *name;
        int r;

        if (rcpt[0] == '\0' || !at || at[1] == '\0')
                return 0;

        r = maps_find(s->transport_maps, rcpt, /* partial= */ false, &value);
        r = route_update_found(rt, r, &value, rcpt_domain);
        if (r != 0)
                return r;

        local = strndup(rcpt, (size_t) (at - rcpt));
        if (!local)
                return -ENOMEM;
        r = addr_split_extension(local, s->recipient_delimiter, s->owner_request_special,
                                 &base, NULL);
        if (r < 0)
                return r;
        if (r > 0) {
                key = strjoin3(base, at, "");
                if (!key)
                        return -ENOMEM;
                r = maps_find(s->transport_maps, key, /* partial= */ true, &value);
                r = route_update_found(rt, r, &value, rcpt_domain);
                if (r != 0)
                        return r;
        }

        /* The domain, then ".parent" forms (or bare parents with parent-style matching). */
        for (name = at + 1; *name; ) {
                const char *next;

                r = maps_find(s->transport_maps, name, /* partial= */ true, &value);
                r = route_update_found(rt, r, &value, rcpt_domain);
                if (r != 0)
                        return r;
                next = strchr(name + 1, '.');
                if (!next)
                        break;
                name = s->transport_parent ? next + 1 : next;
        }

        r = maps_find(s->transport_maps, "*", /* partial= */ false, &value);
        return route_update_found(rt, r, &value, rcpt_domain);
}

/* Why the resolver loop stopped. */
typedef enum Stop {
        STOP_LOCAL,             /* no domain left: ours */
        STOP_REMOTE,            /* a domain that is not ours */
        STOP_FAIL,              /* a lookup failed, or the loop did not end */
} Stop;

/* The preliminary resolver: strips our domains and re-resolves what the local part routes to.
 * On STOP_LOCAL the final domain is put back (the last one stripped, or $myhostname). */
static int resolve_loop(RewriteSettings *s, Tree *t, size_t len, Stop *ret) {
        _cleanup_free_ char *saved = NULL;
        size_t n;
        int r;

        for (size_t loop = 0; ; loop++) {
                char *op;

                if (loop > len + 100) {
                        *ret = STOP_FAIL;
                        return 0;
                }

                /* One trailing dot of the domain goes, but not dot-dot or "@.". */
                if (t->domain && (n = strlen(t->domain)) >= 2 && t->domain[n - 1] == '.' &&
                    t->domain[n - 2] != '.')
                        t->domain[n - 1] = '\0';

                if (s->resolve_null_domain && t->domain && t->domain[0] == '\0')
                        t->domain = mfree(t->domain);

                /* A source route with nothing after it: its '@' is the last one, and what follows
                 * is no domain of ours. */
                if (!t->domain && t->route) {
                        *ret = STOP_REMOTE;
                        return 0;
                }

                /* Strip (and save) the domain when it is ours. */
                if (t->domain) {
                        if (t->domain[0] != '\0') {
                                r = rewrite_domain_is_local(s, t->domain);
                                if (r == -ENOMEM)
                                        return r;
                                if (r < 0) {
                                        *ret = STOP_FAIL;
                                        return 0;
                                }
                                if (r == 0) {
                                        *ret = STOP_REMOTE;
                                        return 0;
                                }
                        }
                        free(saved);
                        saved = TAKE_PTR(t->domain);
                }

                /* Operators left in the local part: rewrite and start over. */
                if (t->route ||
                    (!t->quoted && s->swap_bangpath && strchr(t->local, '!')) ||
                    (!t->quoted && s->percent_hack && strchr(t->local, '%'))) {
                        r = tree_rewrite(s, t);
                        if (r < 0)
                                return r;
                        continue;
                }

                /* A quoted local part is opened (resolve_dequoted_address) when it hides an
                 * operator: '@', then '%' (percent hack), then '!' (bang path). */
                if (s->resolve_dequoted && t->quoted &&
                    ((op = strrchr(t->local, '@')) ||
                     (s->percent_hack && (op = strrchr(t->local, '%'))) ||
                     (s->swap_bangpath && (op = strrchr(t->local, '!'))))) {
                        if (*op == '!') {
                                t->quoted = false;
                        } else {
                                _cleanup_free_ char *opened = NULL;

                                *op = '@';
                                opened = TAKE_PTR(t->local);
                                tree_done(t);
                                r = tree_parse(opened, t);
                                if (r < 0)
                                        return r;
                        }
                        r = tree_rewrite(s, t);
                        if (r < 0)
                                return r;
                        continue;
                }

                /* An empty local part becomes $empty_address_recipient, resolved again. */
                if (t->local[0] == '\0') {
                        tree_done(t);
                        r = tree_parse(s->empty_address_recipient, t);
                        if (r < 0)
                                return r;
                        continue;
                }

                /* No domain at all: @$myhostname, resolved again. */
                if (!saved) {
                        t->domain = strdup(s->myhostname);
                        if (!t->domain)
                                return -ENOMEM;
                        continue;
                }

                t->domain = TAKE_PTR(saved);
                *ret = STOP_LOCAL;
                return 0;
        }
}

static int result_set(RewriteResult *res, const char *transport, const char *nexthop) {
        int r;

        r = set_str(&res->transport, transport);
        if (r < 0)
                return r;
        return set_str(&res->nexthop, nexthop);
}

static int result_error(RewriteResult *res) {
        res->flags |= REWRITE_FLAG_ERROR;
        return result_set(res, "error", "5.1.3 bad address syntax");
}

static int result_fail(RewriteResult *res) {
        res->flags |= REWRITE_FLAG_FAIL;
        return result_set(res, "retry", "4.3.0 address resolver lookup failure");
}

/* Class, transport and nexthop of a recipient whose domain is rcpt_domain. Returns 0, or 1 when
 * a lookup failed (the caller marks FAIL), < 0 on ENOMEM. */
static int classify(RewriteSettings *s, const char *sender, const char *rcpt_domain, bool local,
                    RewriteResult *res, Route *rt) {
        _cleanup_free_ char *value = NULL;
        const char *channel;
        char *colon;
        int r;

        if (local) {
                res->cls = REWRITE_CLASS_LOCAL;
                channel = s->local_transport;
                r = set_str(&rt->nexthop, rcpt_domain);
                if (r < 0)
                        return r;
                goto done;
        }

        r = s->virtual_alias_domains ? match_list_domain(s->virtual_alias_domains,
                                                         rcpt_domain) : 0;
        if (r < 0)
                return r == -ENOMEM ? r : 1;
        if (r > 0) {
                res->cls = REWRITE_CLASS_ALIAS;
                r = set_str(&rt->transport, "error");
                if (r < 0)
                        return r;
                return set_str(&rt->nexthop, s->show_unknown_table ?
                               "5.1.1 User unknown in virtual alias table" :
                               "5.1.1 User unknown");
        }

        r = s->virtual_mailbox_domains ? match_list_domain(s->virtual_mailbox_domains,
                                                           rcpt_domain) : 0;
        if (r < 0)
                return r == -ENOMEM ? r : 1;
        if (r > 0) {
                res->cls = REWRITE_CLASS_VIRTUAL;
                channel = s->virtual_transport;
                r = set_str(&rt->nexthop, rcpt_domain);
                if (r < 0)
                        return r;
                goto done;
        }

        r = s->relay_domains ? match_list_domain(s->relay_domains, rcpt_domain) : 0;
        if (r < 0)
                return r == -ENOMEM ? r : 1;
        if (r > 0) {
                res->cls = REWRITE_CLASS_RELAY;
                channel = s->relay_transport;
        } else {
                res->cls = REWRITE_CLASS_DEFAULT;
                channel = s->default_transport;
                if (sender && s->snd_def_xport_maps) {
                        r = sender[0] ? addr_find(s, s->snd_def_xport_maps, sender, &value) :
                                maps_find(s->snd_def_xport_maps, s->null_def_xport_key,
                                          /* partial= */ false, &value);
                        if (r < 0)
                                return r == -ENOMEM ? r : 1;
                        if (r > 0 && value[0] && strcasecmp(value, "DUNNO") != 0)
                                channel = value;
                }
        }

        /* Off-host: sender_dependent_relayhost_maps, else relayhost, else the domain. */
        r = set_str(&rt->nexthop, isempty(s->relayhost) ? rcpt_domain : s->relayhost);
        if (r < 0)
                return r;
        if (sender && s->snd_relay_maps) {
                _cleanup_free_ char *relay = NULL;

                r = sender[0] ? addr_find(s, s->snd_relay_maps, sender, &relay) :
                        maps_find(s->snd_relay_maps, s->null_relay_key, /* partial= */ false,
                                  &relay);
                if (r < 0)
                        return r == -ENOMEM ? r : 1;
                if (r > 0) {
                        r = set_str(&rt->nexthop, relay[0] && strcasecmp(relay, "DUNNO") != 0 ?
                                    relay : rcpt_domain);
                        if (r < 0)
                                return r;
                }
        }

done:
        /* An explicit "transport:nexthop" in main.cf overrides the nexthop. */
        r = set_str(&rt->transport, channel);
        if (r < 0)
                return r;
        colon = strchr(rt->transport, ':');
        if (colon) {
                *colon = '\0';
                if (colon[1]) {
                        r = set_str(&rt->nexthop, colon + 1);
                        if (r < 0)
                                return r;
                }
        }
        if (rt->transport[0] == '\0')
                return 1;       /* a null transport (e.g. from a sender-dependent table) */
        return 0;
}

static int resolve(RewriteSettings *s, const char *sender, const char *address,
                   RewriteResult *res) {
        _cleanup_(tree_done) Tree t = {};
        _cleanup_free_ char *value = NULL;
        Route rt = {};
        const char *rcpt_domain, *op;
        bool local;
        Stop stop;
        int r;

        res->cls = REWRITE_CLASS_DEFAULT;

        if (!address_is_sane(address)) {
                /* Too long, or a control byte: ERROR, with a bounded, printable recipient. */
                res->recipient = strndup(address, REWRITE_ADDRESS_MAX);
                if (!res->recipient)
                        return -ENOMEM;
                for (char *p = res->recipient; *p; p++)
                        if ((unsigned char) *p < ' ' || *p == 0x7f)
                                *p = '?';
                return result_error(res);
        }

        r = tree_parse(address, &t);
        if (r < 0)
                return r;
        r = resolve_loop(s, &t, strlen(address), &stop);
        if (r < 0)
                return r;
        if (stop == STOP_FAIL) {
                r = set_str(&res->recipient, address);
                if (r < 0)
                        return r;
                return result_fail(res);
        }
        local = stop == STOP_LOCAL;

        r = tree_format(&t, &res->recipient);
        if (r < 0)
                return r;
        rcpt_domain = strrchr(res->recipient, '@');
        assert(rcpt_domain);
        rcpt_domain++;

        if (rcpt_domain[0] == '[') {
                if (!addr_domain_literal_is_valid(rcpt_domain))
                        return result_error(res);
        } else if (!hostname_is_valid(rcpt_domain)) {
                _cleanup_free_ char *bracketed = NULL;
                size_t keep = (size_t) (rcpt_domain - res->recipient);

                if (!s->resolve_numeric_domain || !hostaddr_is_valid(rcpt_domain))
                        return result_error(res);
                /* resolve_numeric_domain: user@1.2.3.4 is user@[1.2.3.4] */
                bracketed = malloc(strlen(res->recipient) + 3);
                if (!bracketed)
                        return -ENOMEM;
                memcpy(bracketed, res->recipient, keep);
                bracketed[keep] = '[';
                strcpy(bracketed + keep + 1, rcpt_domain);
                strcat(bracketed, "]");
                free(res->recipient);
                res->recipient = TAKE_PTR(bracketed);
                rcpt_domain = res->recipient + keep;
                r = rewrite_domain_is_local(s, rcpt_domain);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        return result_fail(res);
                if (r > 0)
                        local = true;
        }

        /* Routing operators before the final '@', whatever this host would make of them. */
        op = res->recipient + strcspn(res->recipient, "@!%");
        if (*op == '\0' || !streq(op + 1, rcpt_domain))
                res->flags |= REWRITE_FLAG_ROUTED;

        r = classify(s, sender, rcpt_domain, local, res, &rt);
        if (r == 0 && res->cls != REWRITE_CLASS_ALIAS && s->transport_maps) {
                r = transport_lookup(s, res->recipient, rcpt_domain, &rt);
                r = r > 0 ? 0 : r == -ENOMEM ? r : r < 0 ? 1 : 0;
        }
        if (r == 0 && s->relocated_maps) {
                r = addr_find(s, s->relocated_maps, res->recipient, &value);
                if (r > 0) {
                        _cleanup_free_ char *hop = strjoin3("5.1.6 User has moved to ", value,
                                                            "");

                        if (!hop || set_str(&rt.transport, "error") < 0) {
                                r = -ENOMEM;
                        } else {
                                free(rt.nexthop);
                                rt.nexthop = TAKE_PTR(hop);
                                r = 0;
                        }
                } else
                        r = r == -ENOMEM ? r : r < 0 ? 1 : 0;
        }
        if (r >= 0 && res->cls <= REWRITE_CLASS_VIRTUAL)
                res->flags |= REWRITE_FLAG_FINAL;
        res->transport = TAKE_PTR(rt.transport);
        res->nexthop = TAKE_PTR(rt.nexthop);
        if (r < 0)
                return r;
        if (r > 0)
                return result_fail(res);

        /* A recipient that looks like a command-line option. */
        if (!s->allow_min_user && res->recipient[0] == '-')
                return result_error(res);
        return 0;
}

int rewrite_resolve_sender(RewriteSettings *s, const char *sender, const char *address,
                           RewriteResult *ret) {
        RewriteResult res = {};
        int r;

        assert(s);
        assert(address);
        assert(ret);

        r = resolve(s, sender, address, &res);
        if (r >= 0 && (!res.transport || !res.nexthop || !res.recipient))
                r = -ENOMEM;    /* only reachable when a set_str() above failed */
        if (r < 0) {
                rewrite_result_done(&res);
                return r;
        }
        *ret = res;
        return 0;
}

int rewrite_resolve(RewriteSettings *s, const char *address, RewriteResult *ret) {
        return rewrite_resolve_sender(s, /* sender= */ NULL, address, ret);
}

void rewrite_result_done(RewriteResult *r) {
        if (!r)
                return;
        free(r->transport);
        free(r->nexthop);
        free(r->recipient);
        *r = (RewriteResult) {};
}

int rewrite_is_auth_destination(RewriteSettings *s, const char *address) {
        _cleanup_(rewrite_result_done) RewriteResult res = {};
        int r;

        r = rewrite_resolve(s, address, &res);
        if (r < 0)
                return r;
        if (res.flags & REWRITE_FLAG_FAIL)
                return -EAGAIN;
        if (res.flags & REWRITE_FLAG_ERROR)
                return 0;
        if ((res.flags & REWRITE_FLAG_ROUTED) && !s->allow_untrusted_routing)
                return 0;
        if (res.flags & REWRITE_FLAG_FINAL)
                return 1;
        return res.cls == REWRITE_CLASS_RELAY;
}
