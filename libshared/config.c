/* SPDX-License-Identifier: GPL-3.0-or-later */
/* config: main.cf parsing, the parameter store with defaults and overrides, lazy cycle-checked
 * "$name" expansion, typed getters, "did you mean" suggestions and the in-place editor behind
 * "ternctl config -e". main.cf is administrator input: every logical line is bounded
 * (CONFIG_LINE_MAX), every expanded value too (CONFIG_VALUE_MAX), reference nesting is bounded
 * (CONFIG_EXPAND_DEPTH_MAX) and a cycle is an error naming the parameter, never a hang.
 * Behaviour follows postconf(5) (Postfix 3.7); see config.h for the syntax. */
#include <arpa/inet.h>
#include <ctype.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/stat.h>

#include "buf.h"
#include "config.h"
#include "config_params.h"
#include "errmsg.h"
#include "fileio.h"
#include "parse.h"
#include "tern-config.h"

/* Largest main.cf we read. */
#define CONFIG_FILE_MAX (16U * 1024U * 1024U)
#define DEFAULT_MYDOMAIN "localdomain"

typedef struct Value {
        char *name;                     /* user-defined names only; else param->name */
        const ConfigParam *param;       /* NULL for a user-defined name */
        char *file_raw;                 /* set in main.cf */
        unsigned file_line;
        char *override_raw;             /* -o or config_set() */
        char *expanded;                 /* cache, dropped whenever c changes */
        bool expanding;                 /* on the expansion stack: a second visit is a cycle */
} Value;

typedef struct IfAddr {
        int family;
        union {
                struct in_addr in;
                struct in6_addr in6;
        } addr;
        unsigned prefix;
} IfAddr;

struct Config {
        Value *values;                  /* one per table row, table order */
        Value *extra;                   /* user-defined names */
        size_t n_extra;
        size_t cap_extra;
        char *file;
        char *dir;                      /* config_load_dir()'s directory: config_directory */
        size_t cache_bytes;

        char *host;                     /* gethostname() */
        char *def_myhostname;           /* host, or host.localdomain */
        char *myhostname_via_mydomain;  /* "host.$mydomain" when host has no dot */
        char *def_mydomain;
        char *def_mynetworks;
        char def_process_id[DECIMAL_STR_MAX(pid_t)];
        IfAddr *ifaddrs;
        size_t n_ifaddrs;
};

static const char *const type_names[_CONFIG_TYPE_MAX] = {
        [CONFIG_TYPE_STRING] = "string",
        [CONFIG_TYPE_LIST] = "list",
        [CONFIG_TYPE_BOOL] = "bool",
        [CONFIG_TYPE_INT] = "int",
        [CONFIG_TYPE_TIME] = "time",
        [CONFIG_TYPE_SIZE] = "size",
        [CONFIG_TYPE_MAPS] = "maps",
};

static const char *const status_names[_CONFIG_STATUS_MAX] = {
        [CONFIG_STATUS_IMPLEMENTED] = "implemented",
        [CONFIG_STATUS_OBSOLETE] = "accepted-obsolete",
        [CONFIG_STATUS_PLANNED] = "planned",
};

const char *config_type_to_string(ConfigType t) {
        if (t < 0 || t >= _CONFIG_TYPE_MAX)
                return NULL;
        return type_names[t];
}

const char *config_status_to_string(ConfigStatus s) {
        if (s < 0 || s >= _CONFIG_STATUS_MAX)
                return NULL;
        return status_names[s];
}

/* ---- the table ---- */

const ConfigParam *config_param_table(size_t *ret_count) {
        if (ret_count)
                *ret_count = config_params_count;
        return config_params;
}

static int param_cmp(const void *key, const void *elem) {
        return strcmp(key, ((const ConfigParam *) elem)->name);
}

const ConfigParam *config_param_find(const char *name) {
        assert(name);
        return bsearch(name, config_params, config_params_count, sizeof(ConfigParam), param_cmp);
}

/* Optimal string alignment distance (Levenshtein plus adjacent transpositions), giving up
 * above limit. */
static size_t edit_distance(const char *a, const char *b, size_t limit) {
        size_t la = strlen(a), lb = strlen(b), result;
        _cleanup_free_ size_t *rows = NULL;
        size_t *prev2, *prev, *cur;

        if ((la > lb ? la - lb : lb - la) > limit)
                return limit + 1;
        rows = malloc(3 * (lb + 1) * sizeof(size_t));
        if (!rows)
                return limit + 1;
        prev2 = rows;
        prev = rows + lb + 1;
        cur = rows + 2 * (lb + 1);
        for (size_t j = 0; j <= lb; j++)
                prev[j] = j;
        for (size_t i = 1; i <= la; i++) {
                size_t best;

                cur[0] = i;
                best = cur[0];
                for (size_t j = 1; j <= lb; j++) {
                        size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
                        size_t d = MIN(prev[j] + 1, cur[j - 1] + 1);

                        d = MIN(d, prev[j - 1] + cost);
                        if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                                d = MIN(d, prev2[j - 2] + 1);
                        cur[j] = d;
                        best = MIN(best, d);
                }
                if (best > limit)
                        return limit + 1;
                size_t *t = prev2;
                prev2 = prev;
                prev = cur;
                cur = t;
        }
        result = prev[lb];
        return result;
}

typedef struct Suggestion {
        size_t distance;
        const char *name;
} Suggestion;

static int suggestion_cmp(const void *a, const void *b) {
        const Suggestion *x = a, *y = b;

        if (x->distance != y->distance)
                return x->distance < y->distance ? -1 : 1;
        return strcmp(x->name, y->name);
}

int config_param_suggest(const char *name, size_t max, char ***ret_strv) {
        _cleanup_free_ Suggestion *found = NULL;
        _cleanup_strv_free_ char **l = NULL;
        size_t n = 0, limit = strlen(name) > 10 ? 3 : 2;

        assert(name);
        assert(ret_strv);

        found = calloc(config_params_count, sizeof(Suggestion));
        if (!found)
                return -ENOMEM;
        for (size_t i = 0; i < config_params_count; i++) {
                size_t d = edit_distance(name, config_params[i].name, limit);

                if (d <= limit && d > 0)
                        found[n++] = (Suggestion) { d, config_params[i].name };
        }
        qsort(found, n, sizeof(Suggestion), suggestion_cmp);
        n = MIN(n, max);
        l = calloc(n + 1, sizeof(char *));
        if (!l)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                l[i] = strdup(found[i].name);
                if (!l[i])
                        return -ENOMEM;
        }
        *ret_strv = TAKE_PTR(l);
        return 0;
}

/* ---- lifecycle and derived defaults ---- */

static bool name_char(char ch) {
        return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
               ch == '_';
}

/* Names in main.cf: what $name can reference, plus '-' and '.' which Postfix tolerates in
 * restriction class names. */
static bool name_valid(const char *name, size_t n) {
        if (n == 0)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!name_char(name[i]) && name[i] != '-' && name[i] != '.')
                        return false;
        return true;
}

static void value_done(Value *v) {
        free(v->name);
        free(v->file_raw);
        free(v->override_raw);
        free(v->expanded);
}

Config *config_free(Config *c) {
        if (!c)
                return NULL;
        if (c->values)
                for (size_t i = 0; i < config_params_count; i++)
                        value_done(&c->values[i]);
        free(c->values);
        for (size_t i = 0; i < c->n_extra; i++)
                value_done(&c->extra[i]);
        free(c->extra);
        free(c->file);
        free(c->dir);
        free(c->host);
        free(c->def_myhostname);
        free(c->myhostname_via_mydomain);
        free(c->def_mydomain);
        free(c->def_mynetworks);
        free(c->ifaddrs);
        free(c);
        return NULL;
}

static unsigned mask_prefix(const unsigned char *mask, size_t len) {
        unsigned n = 0;

        for (size_t i = 0; i < len; i++)
                for (int bit = 7; bit >= 0; bit--) {
                        if (!(mask[i] & (1U << bit)))
                                return n;
                        n++;
                }
        return n;
}

static int collect_ifaddrs(Config *c) {
        struct ifaddrs *list = NULL;
        size_t n = 0;

        if (getifaddrs(&list) < 0)
                return 0;               /* no addresses known: loopback only */
        for (struct ifaddrs *i = list; i; i = i->ifa_next)
                n++;
        c->ifaddrs = calloc(n ? n : 1, sizeof(IfAddr));
        if (!c->ifaddrs) {
                freeifaddrs(list);
                return -ENOMEM;
        }
        for (struct ifaddrs *i = list; i; i = i->ifa_next) {
                IfAddr *a = &c->ifaddrs[c->n_ifaddrs];

                if (!i->ifa_addr || !(i->ifa_flags & IFF_UP))
                        continue;
                if (i->ifa_addr->sa_family == AF_INET) {
                        a->family = AF_INET;
                        a->addr.in = ((struct sockaddr_in *) i->ifa_addr)->sin_addr;
                        a->prefix = i->ifa_netmask ? mask_prefix((const unsigned char *)
                                &((struct sockaddr_in *) i->ifa_netmask)->sin_addr, 4) : 32;
                } else if (i->ifa_addr->sa_family == AF_INET6) {
                        a->family = AF_INET6;
                        a->addr.in6 = ((struct sockaddr_in6 *) i->ifa_addr)->sin6_addr;
                        a->prefix = i->ifa_netmask ? mask_prefix((const unsigned char *)
                                &((struct sockaddr_in6 *) i->ifa_netmask)->sin6_addr, 16) : 128;
                } else
                        continue;
                c->n_ifaddrs++;
        }
        freeifaddrs(list);
        return 0;
}

static void addr_apply_prefix(unsigned char *bytes, size_t len, unsigned prefix) {
        for (size_t i = 0; i < len; i++) {
                unsigned bits = prefix >= 8 * (i + 1) ? 8 : prefix > 8 * i ? prefix - 8 * i : 0;

                bytes[i] &= (unsigned char) (bits == 8 ? 0xff : (0xff << (8 - bits)) & 0xff);
        }
}

/* mynetworks for a mynetworks_style: the loopback networks, then the interface addresses (host),
 * their subnets (subnet) or their class A/B/C networks (class). */
static int mynetworks_compute(const Config *c, const char *style, char **ret) {
        _cleanup_(buf_done) Buf b = BUF_INIT(CONFIG_VALUE_MAX);
        int r;

        if (strcasecmp(style, "host") != 0 && strcasecmp(style, "subnet") != 0 &&
            strcasecmp(style, "class") != 0)
                return -EBADMSG;

        r = buf_append_str(&b, "127.0.0.0/8 [::1]/128");
        if (r < 0)
                return r;
        for (size_t i = 0; i < c->n_ifaddrs; i++) {
                const IfAddr *a = &c->ifaddrs[i];
                char text[INET6_ADDRSTRLEN], item[INET6_ADDRSTRLEN + 8];
                unsigned char bytes[16];
                unsigned prefix;

                if (a->family == AF_INET) {
                        memcpy(bytes, &a->addr.in, 4);
                        if (bytes[0] == 127)
                                continue;
                        prefix = 32;
                        if (strcasecmp(style, "subnet") == 0)
                                prefix = a->prefix;
                        else if (strcasecmp(style, "class") == 0)
                                prefix = bytes[0] < 128 ? 8 : bytes[0] < 192 ? 16 : 24;
                        addr_apply_prefix(bytes, 4, prefix);
                        if (!inet_ntop(AF_INET, bytes, text, sizeof(text)))
                                continue;
                        (void) snprintf(item, sizeof(item), "%s/%u", text, prefix);
                } else {
                        memcpy(bytes, &a->addr.in6, 16);
                        if (IN6_IS_ADDR_LOOPBACK(&a->addr.in6))
                                continue;
                        prefix = strcasecmp(style, "host") == 0 ? 128 : a->prefix;
                        addr_apply_prefix(bytes, 16, prefix);
                        if (!inet_ntop(AF_INET6, bytes, text, sizeof(text)))
                                continue;
                        (void) snprintf(item, sizeof(item), "[%s]/%u", text, prefix);
                }
                /* interfaces often share a subnet: list each network once */
                const char *hay = buf_peek(&b), *hit;
                size_t il = strlen(item);
                bool dup = false;

                for (hit = strstr(hay, item); hit; hit = strstr(hit + 1, item))
                        if ((hit == hay || hit[-1] == ' ') && (hit[il] == ' ' || hit[il] == 0)) {
                                dup = true;
                                break;
                        }
                if (dup)
                        continue;
                r = buf_printf(&b, " %s", item);
                if (r < 0)
                        return r;
        }
        *ret = buf_steal(&b);
        return *ret ? 0 : -ENOMEM;
}

static int config_new_internal(const char *hostname, bool interfaces, Config **ret) {
        _cleanup_(config_freep) Config *c = NULL;
        const char *dot;
        int r;

        assert(ret);

        c = calloc(1, sizeof(Config));
        if (!c)
                return -ENOMEM;
        c->values = calloc(config_params_count, sizeof(Value));
        if (!c->values)
                return -ENOMEM;
        for (size_t i = 0; i < config_params_count; i++)
                c->values[i].param = &config_params[i];

        if (hostname)
                c->host = strdup(hostname);
        else {
                char h[HOST_NAME_MAX + 1] = {};

                if (gethostname(h, sizeof(h) - 1) < 0 || !h[0])
                        strcpy(h, "localhost");
                c->host = strdup(h);
        }
        if (!c->host)
                return -ENOMEM;

        /* Postfix: the host name, with ".$mydomain" appended when it is not qualified */
        dot = strchr(c->host, '.');
        if (dot) {
                c->def_myhostname = strdup(c->host);
        } else {
                if (asprintf(&c->def_myhostname, "%s." DEFAULT_MYDOMAIN, c->host) < 0)
                        c->def_myhostname = NULL;
                if (asprintf(&c->myhostname_via_mydomain, "%s.$mydomain", c->host) < 0)
                        return -ENOMEM;
        }
        if (!c->def_myhostname)
                return -ENOMEM;
        dot = strchr(c->def_myhostname, '.');
        c->def_mydomain = strdup(dot && dot[1] ? dot + 1 : DEFAULT_MYDOMAIN);
        if (!c->def_mydomain)
                return -ENOMEM;
        (void) snprintf(c->def_process_id, sizeof(c->def_process_id), "%d", (int) getpid());

        if (interfaces) {
                r = collect_ifaddrs(c);
                if (r < 0)
                        return r;
        }
        r = mynetworks_compute(c, "host", &c->def_mynetworks);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(c);
        return 0;
}

int config_new(Config **ret) {
        return config_new_internal(NULL, /* interfaces= */ true, ret);
}

int config_new_with_hostname(const char *hostname, Config **ret) {
        assert(hostname);
        return config_new_internal(hostname, /* interfaces= */ false, ret);
}

/* ---- the store ---- */

static Value *value_find(Config *c, const char *name) {
        const ConfigParam *p = config_param_find(name);

        if (p)
                return &c->values[p - config_params];
        for (size_t i = 0; i < c->n_extra; i++)
                if (streq(c->extra[i].name, name))
                        return &c->extra[i];
        return NULL;
}

static const char *value_name(const Value *v) {
        return v->param ? v->param->name : v->name;
}

static bool value_is_set(const Value *v) {
        return v->file_raw || v->override_raw;
}

static Value *value_find_or_add(Config *c, const char *name) {
        Value *v = value_find(c, name);

        if (v)
                return v;
        if (c->n_extra == c->cap_extra) {
                size_t cap = c->cap_extra ? c->cap_extra * 2 : 16;
                Value *n = reallocarray(c->extra, cap, sizeof(Value));

                if (!n)
                        return NULL;
                c->extra = n;
                c->cap_extra = cap;
        }
        v = &c->extra[c->n_extra];
        *v = (Value) {};
        v->name = strdup(name);
        if (!v->name)
                return NULL;
        c->n_extra++;
        return v;
}

/* Any change may change any expansion. */
static void cache_drop(Config *c) {
        for (size_t i = 0; i < config_params_count; i++)
                c->values[i].expanded = mfree(c->values[i].expanded);
        for (size_t i = 0; i < c->n_extra; i++)
                c->extra[i].expanded = mfree(c->extra[i].expanded);
        c->cache_bytes = 0;
}

static bool param_is(const Value *v, const char *name) {
        return v->param && streq(v->param->name, name);
}

/* The default of a table parameter before expansion; derived ones computed for this host. */
static const char *value_default(Config *c, const Value *v) {
        if (!v->param)
                return NULL;
        if (param_is(v, "config_directory") && c->dir)
                return c->dir;
        if (v->param->def)
                return v->param->def;
        if (param_is(v, "myhostname"))
                return c->def_myhostname;
        if (param_is(v, "mydomain"))
                return c->def_mydomain;
        if (param_is(v, "mynetworks"))
                return c->def_mynetworks;
        if (param_is(v, "process_id"))
                return c->def_process_id;
        if (param_is(v, "process_name"))
                return program_invocation_short_name;
        if (param_is(v, "mail_version"))
                return TERN_VERSION;
        return "";
}

static const char *value_raw(Config *c, const Value *v) {
        if (v->override_raw)
                return v->override_raw;
        if (v->file_raw)
                return v->file_raw;
        /* Postfix appends ".$mydomain" to an unqualified host name when mydomain is set */
        if (param_is(v, "myhostname") && c->myhostname_via_mydomain &&
            value_is_set(value_find(c, "mydomain")))
                return c->myhostname_via_mydomain;
        return value_default(c, v);
}

/* ---- expansion ---- */

typedef struct Expander {
        Config *c;
        const char *stack[CONFIG_EXPAND_DEPTH_MAX + 1];
        unsigned n_stack;               /* values being expanded */
        unsigned depth;                 /* values plus nested texts */
        char ***undefined;              /* direct references to unknown names, when wanted */
        char **error;
} Expander;

static int expand_text(Expander *e, const char *p, size_t n, Buf *out);

static int expander_fail(Expander *e, int r, const char *what) {
        if (e->error && !*e->error) {
                if (e->n_stack > 0)
                        (void) errmsg_set(e->error, r, "parameter %s: %s", e->stack[0], what);
                else
                        (void) errmsg_set(e->error, r, "%s", what);
        }
        return r;
}

static int fail_cycle(Expander *e, const char *name) {
        _cleanup_(buf_done) Buf b = BUF_INIT(BUF_MAX_UNBOUNDED);

        (void) buf_append_str(&b, "reference cycle: ");
        for (unsigned i = 0; i < e->n_stack; i++)
                (void) buf_printf(&b, "%s -> ", e->stack[i]);
        (void) buf_append_str(&b, name);
        return expander_fail(e, -ELOOP, buf_peek(&b));
}

static int strv_add_unique(char ***l, const char *s) {
        size_t n = 0;
        char **nl;

        if (*l)
                for (; (*l)[n]; n++)
                        if (streq((*l)[n], s))
                                return 0;
        nl = reallocarray(*l, n + 2, sizeof(char *));
        if (!nl)
                return -ENOMEM;
        *l = nl;
        nl[n] = strdup(s);
        if (!nl[n])
                return -ENOMEM;
        nl[n + 1] = NULL;
        return 0;
}

static int expand_value(Expander *e, Value *v, const char **ret);

/* Looks a name up for a reference: *ret is "" for an undefined name. */
static int expand_ref(Expander *e, const char *name, const char **ret) {
        Value *v = value_find(e->c, name);
        int r;

        if (!v) {
                if (e->undefined && e->n_stack == 0) {
                        r = strv_add_unique(e->undefined, name);
                        if (r < 0)
                                return r;
                }
                *ret = "";
                return 0;
        }
        return expand_value(e, v, ret);
}

static int expand_value(Expander *e, Value *v, const char **ret) {
        _cleanup_(buf_done) Buf b = BUF_INIT(CONFIG_VALUE_MAX);
        const char *raw;
        size_t len;
        int r;

        if (v->expanded) {
                *ret = v->expanded;
                return 0;
        }
        if (v->expanding)
                return fail_cycle(e, value_name(v));
        if (e->depth >= CONFIG_EXPAND_DEPTH_MAX)
                return expander_fail(e, -ELOOP, "references nested too deeply");

        e->stack[e->n_stack++] = value_name(v);
        e->depth++;
        v->expanding = true;

        if (param_is(v, "mydomain") && !value_is_set(v) &&
            value_is_set(value_find(e->c, "myhostname"))) {
                /* myhostname minus its first label */
                const char *h, *dot;

                r = expand_ref(e, "myhostname", &h);
                if (r >= 0) {
                        dot = strchr(h, '.');
                        r = buf_append_str(&b, dot && dot[1] ? dot + 1 : DEFAULT_MYDOMAIN);
                }
        } else if (param_is(v, "mynetworks") && !value_is_set(v)) {
                _cleanup_free_ char *nets = NULL;
                const char *style;

                r = expand_ref(e, "mynetworks_style", &style);
                if (r >= 0) {
                        r = mynetworks_compute(e->c, style, &nets);
                        if (r == -EBADMSG)
                                r = expander_fail(e, r, "bad mynetworks_style value");
                }
                if (r >= 0)
                        r = buf_append_str(&b, nets);
        } else {
                raw = value_raw(e->c, v);
                r = expand_text(e, raw, strlen(raw), &b);
        }

        v->expanding = false;
        e->depth--;
        e->n_stack--;
        if (r == -ENOBUFS)
                return expander_fail(e, -EMSGSIZE, "expanded value too long");
        if (r < 0)
                return r;

        len = buf_pending(&b);
        if (e->c->cache_bytes + len > CONFIG_CACHE_MAX)
                return expander_fail(e, -E2BIG, "too much expanded text");
        v->expanded = buf_steal(&b);
        if (!v->expanded)
                return -ENOMEM;
        e->c->cache_bytes += len + 1;
        *ret = v->expanded;
        return 0;
}

static size_t skip_ws(const char *p, size_t n, size_t i) {
        while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n'))
                i++;
        return i;
}

/* p[i] is the opening character; returns the index of the matching close, or n. */
static size_t match_close(const char *p, size_t n, size_t i, char open, char close) {
        unsigned level = 0;

        for (; i < n; i++) {
                if (p[i] == open)
                        level++;
                else if (p[i] == close && --level == 0)
                        return i;
        }
        return n;
}

/* "{text}" at p[*i] (after white space): sets the text's span and moves *i past it. */
static bool take_braced(const char *p, size_t n, size_t *i, size_t *ret_start, size_t *ret_len) {
        size_t j = skip_ws(p, n, *i), end;

        if (j >= n || p[j] != '{')
                return false;
        end = match_close(p, n, j, '{', '}');
        if (end >= n)
                return false;
        *ret_start = j + 1;
        *ret_len = end - j - 1;
        *i = end + 1;
        return true;
}

static int expand_sub(Expander *e, const char *p, size_t n, Buf *out) {
        int r;

        if (e->depth >= CONFIG_EXPAND_DEPTH_MAX)
                return expander_fail(e, -ELOOP, "references nested too deeply");
        e->depth++;
        r = expand_text(e, p, n, out);
        e->depth--;
        return r;
}

/* Expands (p, n) into a malloc'd string. */
static int expand_to_string(Expander *e, const char *p, size_t n, char **ret) {
        _cleanup_(buf_done) Buf b = BUF_INIT(CONFIG_VALUE_MAX);
        int r;

        r = expand_sub(e, p, n, &b);
        if (r == -ENOBUFS)
                return expander_fail(e, -EMSGSIZE, "expanded value too long");
        if (r < 0)
                return r;
        *ret = buf_steal(&b);
        return *ret ? 0 : -ENOMEM;
}

/* A compatibility level: "N", "N.M" or "N.M.P"; compared as a tuple. */
static int level_parse(const char *s, uint64_t ret[3]) {
        const char *p = s;

        ret[0] = ret[1] = ret[2] = 0;
        for (unsigned k = 0; k < 3; k++) {
                size_t len = strcspn(p, ".");
                int r;

                r = parse_uint64_n(p, len, &ret[k]);
                if (r < 0)
                        return -EBADMSG;
                if (!p[len])
                        return 0;
                p += len + 1;
        }
        return -EBADMSG;
}

static int relational_compare(const char *op, size_t oplen, const char *a, const char *b,
                              bool *ret) {
        int cmp;

        if (oplen > 5 && memcmp(op + oplen - 5, "level", 5) == 0) {
                uint64_t x[3], y[3];

                if (level_parse(a, x) < 0 || level_parse(b, y) < 0)
                        return -EBADMSG;
                cmp = 0;
                for (unsigned k = 0; k < 3 && cmp == 0; k++)
                        cmp = x[k] < y[k] ? -1 : x[k] > y[k] ? 1 : 0;
                oplen -= 5;
        } else if (oplen == 2 && (memcmp(op, "==", 2) == 0 || memcmp(op, "!=", 2) == 0)) {
                cmp = strcmp(a, b);
        } else {
                int64_t x, y;

                if (parse_int64(a, &x) < 0 || parse_int64(b, &y) < 0)
                        return -EBADMSG;
                cmp = x < y ? -1 : x > y ? 1 : 0;
        }

        if (oplen == 2 && memcmp(op, "==", 2) == 0)
                *ret = cmp == 0;
        else if (oplen == 2 && memcmp(op, "!=", 2) == 0)
                *ret = cmp != 0;
        else if (oplen == 1 && op[0] == '<')
                *ret = cmp < 0;
        else if (oplen == 2 && memcmp(op, "<=", 2) == 0)
                *ret = cmp <= 0;
        else if (oplen == 1 && op[0] == '>')
                *ret = cmp > 0;
        else if (oplen == 2 && memcmp(op, ">=", 2) == 0)
                *ret = cmp >= 0;
        else
                return -EBADMSG;
        return 0;
}

/* "${{a} OP {b} ? {x} : {y}}" from p[i] == the inner '{'; *ret_end gets the index after the
 * closing '}'. */
static int expand_relational(Expander *e, const char *p, size_t n, size_t i, Buf *out,
                             size_t *ret_end) {
        _cleanup_free_ char *a = NULL, *b = NULL;
        size_t as, al, bs, bl, ts, tl, fs = 0, fl = 0, ops, opl;
        bool have_false = false, truth;
        int r;

        if (!take_braced(p, n, &i, &as, &al))
                return expander_fail(e, -EBADMSG, "unmatched '{'");
        i = skip_ws(p, n, i);
        ops = i;
        while (i < n && strchr("=!<>", p[i]))
                i++;
        if (i + 5 <= n && memcmp(p + i, "level", 5) == 0)
                i += 5;
        opl = i - ops;
        if (opl == 0)
                return expander_fail(e, -EBADMSG, "missing relational operator");
        if (!take_braced(p, n, &i, &bs, &bl))
                return expander_fail(e, -EBADMSG, "missing '{' after relational operator");
        i = skip_ws(p, n, i);
        if (i >= n || p[i] != '?')
                return expander_fail(e, -EBADMSG, "missing '?' in relational expression");
        i++;
        if (!take_braced(p, n, &i, &ts, &tl))
                return expander_fail(e, -EBADMSG, "missing '{' after '?'");
        i = skip_ws(p, n, i);
        if (i < n && p[i] == ':') {
                i++;
                if (!take_braced(p, n, &i, &fs, &fl))
                        return expander_fail(e, -EBADMSG, "missing '{' after ':'");
                have_false = true;
                i = skip_ws(p, n, i);
        }
        if (i >= n || p[i] != '}')
                return expander_fail(e, -EBADMSG, "unmatched '{'");

        r = expand_to_string(e, p + as, al, &a);
        if (r < 0)
                return r;
        r = expand_to_string(e, p + bs, bl, &b);
        if (r < 0)
                return r;
        r = relational_compare(p + ops, opl, a, b, &truth);
        if (r < 0)
                return expander_fail(e, r, "bad relational expression");

        *ret_end = i + 1;
        if (truth)
                return expand_sub(e, p + ts, tl, out);
        if (have_false)
                return expand_sub(e, p + fs, fl, out);
        return 0;
}

/* "${" or "$(" at p[i]; expands the reference and sets *ret_end past it. */
static int expand_braced_ref(Expander *e, const char *p, size_t n, size_t i, Buf *out,
                             size_t *ret_end) {
        char open = p[i + 1], close = open == '{' ? '}' : ')';
        size_t start = i + 2, j = start, end;
        _cleanup_free_ char *name = NULL;
        const char *v;
        int r;

        end = match_close(p, n, i + 1, open, close);
        if (end >= n)
                return expander_fail(e, -EBADMSG, open == '{' ? "unmatched '{'" : "unmatched '('");
        if (open == '{' && j < n && p[j] == '{')
                return expand_relational(e, p, n, j, out, ret_end);

        while (j < end && name_char(p[j]))
                j++;
        if (j == start)
                return expander_fail(e, -EBADMSG, "missing parameter name after '$'");
        name = strndup(p + start, j - start);
        if (!name)
                return -ENOMEM;

        r = expand_ref(e, name, &v);
        if (r < 0)
                return r;

        if (j == end) {
                *ret_end = end + 1;
                return buf_append_str(out, v);
        }
        if (p[j] != '?' && p[j] != ':')
                return expander_fail(e, -EBADMSG, "bad character after parameter name");

        bool want_nonempty = p[j] == '?', cond = want_nonempty == !isempty(v);
        size_t k = j + 1, ts, tl, fs, fl;

        /* Postfix 3 forms: ${name?{a}}, ${name:{a}}, ${name?{a}:{b}} */
        if (take_braced(p, end, &k, &ts, &tl)) {
                size_t m = skip_ws(p, end, k);
                bool ok = m == end;

                fs = fl = 0;
                if (!ok && want_nonempty && p[m] == ':') {
                        m++;
                        ok = take_braced(p, end, &m, &fs, &fl) && skip_ws(p, end, m) == end;
                }
                if (ok) {
                        *ret_end = end + 1;
                        if (cond)
                                return expand_sub(e, p + ts, tl, out);
                        if (fl > 0)
                                return expand_sub(e, p + fs, fl, out);
                        return 0;
                }
        }
        /* Legacy form: the rest up to the closing brace is the text */
        *ret_end = end + 1;
        if (cond)
                return expand_sub(e, p + j + 1, end - j - 1, out);
        return 0;
}

static int expand_text(Expander *e, const char *p, size_t n, Buf *out) {
        size_t i = 0;
        int r;

        while (i < n) {
                const char *dollar = memchr(p + i, '$', n - i);
                size_t lit = dollar ? (size_t) (dollar - (p + i)) : n - i;

                if (lit > 0) {
                        r = buf_append(out, p + i, lit);
                        if (r < 0)
                                return r;
                        i += lit;
                        continue;
                }
                /* p[i] == '$' */
                if (i + 1 >= n) {
                        r = buf_append_char(out, '$');
                        i++;
                } else if (p[i + 1] == '$') {
                        r = buf_append_char(out, '$');
                        i += 2;
                } else if (name_char(p[i + 1])) {
                        _cleanup_free_ char *name = NULL;
                        const char *v;
                        size_t j = i + 1;

                        while (j < n && name_char(p[j]))
                                j++;
                        name = strndup(p + i + 1, j - i - 1);
                        if (!name)
                                return -ENOMEM;
                        r = expand_ref(e, name, &v);
                        if (r < 0)
                                return r;
                        r = buf_append_str(out, v);
                        i = j;
                } else if (p[i + 1] == '{' || p[i + 1] == '(') {
                        size_t end = n;

                        r = expand_braced_ref(e, p, n, i, out, &end);
                        i = end;
                } else {
                        /* a '$' that starts no reference is kept, as Postfix does */
                        r = buf_append_char(out, '$');
                        i++;
                }
                if (r < 0)
                        return r;
        }
        return 0;
}

int config_expand(Config *c, const char *name, const char **ret, char **ret_error) {
        Expander e = { .c = c, .error = ret_error };
        const char *v;
        Value *val;
        int r;

        assert(c);
        assert(name);

        val = value_find(c, name);
        if (!val)
                return errmsg_set(ret_error, -ENOENT, "%s: unknown parameter", name);
        r = expand_value(&e, val, &v);
        if (r < 0)
                return r;
        if (ret)
                *ret = v;
        return 0;
}

int config_expand_text(Config *c, const char *text, char **ret, char ***ret_undefined,
                       char **ret_error) {
        _cleanup_(buf_done) Buf b = BUF_INIT(CONFIG_VALUE_MAX);
        _cleanup_strv_free_ char **undefined = NULL;
        Expander e = { .c = c, .error = ret_error };
        int r;

        assert(c);
        assert(text);

        if (ret_undefined)
                e.undefined = &undefined;
        r = expand_text(&e, text, strlen(text), &b);
        if (r == -ENOBUFS)
                return expander_fail(&e, -EMSGSIZE, "expanded value too long");
        if (r < 0)
                return r;
        if (ret) {
                *ret = buf_steal(&b);
                if (!*ret)
                        return -ENOMEM;
        }
        if (ret_undefined) {
                if (!undefined) {
                        undefined = calloc(1, sizeof(char *));
                        if (!undefined)
                                return -ENOMEM;
                }
                *ret_undefined = TAKE_PTR(undefined);
        }
        return 0;
}

const char *config_get(Config *c, const char *name) {
        const char *v;

        if (config_expand(c, name, &v, NULL) < 0)
                return NULL;
        return v;
}

const char *config_get_raw(Config *c, const char *name) {
        Value *v;

        assert(c);
        assert(name);

        v = value_find(c, name);
        if (!v)
                return NULL;
        /* derived values have no '$' of their own; what they show is what they are */
        if (!value_is_set(v) && v->param && !v->param->def &&
            (param_is(v, "mydomain") || param_is(v, "mynetworks")))
                return config_get(c, name);
        return value_raw(c, v);
}

const char *config_get_default(Config *c, const char *name) {
        Value *v;

        assert(c);
        assert(name);

        v = value_find(c, name);
        if (!v)
                return NULL;
        return value_default(c, v);
}

int config_get_source(Config *c, const char *name, unsigned *ret_line) {
        Value *v = value_find(c, name);

        if (!v)
                return -ENOENT;
        if (ret_line)
                *ret_line = !v->override_raw && v->file_raw ? v->file_line : 0;
        if (v->override_raw)
                return CONFIG_SOURCE_OVERRIDE;
        if (v->file_raw)
                return CONFIG_SOURCE_FILE;
        return CONFIG_SOURCE_DEFAULT;
}

bool config_is_set(Config *c, const char *name) {
        Value *v = value_find(c, name);

        return v && value_is_set(v);
}

/* ---- typed getters ---- */

int config_value_check(ConfigType type, char time_unit, const char *value) {
        uint64_t u;
        int64_t i;
        bool b;

        switch (type) {
        case CONFIG_TYPE_BOOL:
                return parse_bool(value, &b);
        case CONFIG_TYPE_INT:
                return parse_int64(value, &i);
        case CONFIG_TYPE_TIME:
                return parse_time(value, time_unit ? time_unit : 's', &u);
        case CONFIG_TYPE_SIZE:
                return parse_size(value, &u);
        case CONFIG_TYPE_STRING:
        case CONFIG_TYPE_LIST:
        case CONFIG_TYPE_MAPS:
                return 0;
        default:
                return -EINVAL;
        }
}

int config_get_bool(Config *c, const char *name, bool *ret) {
        return config_read_bool(c, name, ret, NULL);
}

int config_get_int(Config *c, const char *name, int64_t *ret) {
        const char *v;
        int r;

        r = config_expand(c, name, &v, NULL);
        if (r < 0)
                return r;
        return parse_int64(v, ret);
}

/* A time value of name: bare numbers in the parameter's unit (table), else seconds. */
static int time_parse(const char *name, const char *v, uint64_t *ret_seconds) {
        const ConfigParam *p = config_param_find(name);

        return parse_time(v, p && p->time_unit ? p->time_unit : 's', ret_seconds);
}

int config_get_time(Config *c, const char *name, uint64_t *ret_seconds) {
        const char *v;
        int r;

        r = config_expand(c, name, &v, NULL);
        if (r < 0)
                return r;
        return time_parse(name, v, ret_seconds);
}

int config_get_size(Config *c, const char *name, uint64_t *ret_bytes) {
        return config_read_size(c, name, ret_bytes, NULL);
}

static bool list_sep(char ch) {
        return ch == ',' || ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

int config_split_list(const char *text, char ***ret_strv) {
        _cleanup_strv_free_ char **l = NULL;
        size_t n = 0, cap = 8, len = strlen(text), i = 0;

        assert(ret_strv);

        l = calloc(cap, sizeof(char *));
        if (!l)
                return -ENOMEM;
        while (i < len) {
                size_t start, end;
                char **nl;

                while (i < len && list_sep(text[i]))
                        i++;
                if (i >= len)
                        break;
                if (text[i] == '{') {
                        /* a group: up to the matching brace (or the end), braces dropped */
                        size_t close = match_close(text, len, i, '{', '}');

                        start = skip_ws(text, close, i + 1);
                        end = close;
                        while (end > start && strchr(" \t\r\n", text[end - 1]))
                                end--;
                        i = close < len ? close + 1 : len;
                } else {
                        start = i;
                        while (i < len && !list_sep(text[i]))
                                i++;
                        end = i;
                }
                if (n + 2 > cap) {
                        nl = reallocarray(l, cap * 2, sizeof(char *));
                        if (!nl)
                                return -ENOMEM;
                        l = nl;
                        cap *= 2;
                }
                l[n] = strndup(text + start, end - start);
                if (!l[n])
                        return -ENOMEM;
                l[++n] = NULL;
        }
        *ret_strv = TAKE_PTR(l);
        return 0;
}

int config_get_list(Config *c, const char *name, char ***ret_strv) {
        return config_read_list(c, name, ret_strv, NULL);
}

/* ---- typed getters with messages ---- */

/* The one form of a bad-value message: "NAME: bad value 'VALUE'" and an optional hint. */
static int bad_value(char **ret_error, int r, const char *name, const char *value,
                     const char *hint) {
        if (hint)
                return errmsg_set(ret_error, r, "%s: bad value '%s' (%s)", name, value, hint);
        return errmsg_set(ret_error, r, "%s: bad value '%s'", name, value);
}

int config_read_bool(Config *c, const char *name, bool *ret, char **ret_error) {
        const char *v;
        int r;

        r = config_expand(c, name, &v, ret_error);
        if (r < 0)
                return r;
        r = parse_bool(v, ret);
        if (r < 0)
                return bad_value(ret_error, r, name, v, "yes or no");
        return 0;
}

int config_read_uint64(Config *c, const char *name, uint64_t min, uint64_t max, uint64_t *ret,
                       char **ret_error) {
        char hint[2 * DECIMAL_STR_MAX(uint64_t) + sizeof("must be at least ..")];
        const char *v;
        int64_t n;
        int r;

        assert(ret);

        r = config_expand(c, name, &v, ret_error);
        if (r < 0)
                return r;
        r = parse_int64(v, &n);
        if (r < 0)
                return bad_value(ret_error, r, name, v, NULL);
        if (n < 0 || (uint64_t) n < min || (uint64_t) n > max) {
                if (max >= INT64_MAX)
                        (void) snprintf(hint, sizeof(hint), "must be at least %" PRIu64, min);
                else
                        (void) snprintf(hint, sizeof(hint), "must be %" PRIu64 "..%" PRIu64,
                                        min, max);
                return bad_value(ret_error, -ERANGE, name, v, hint);
        }
        *ret = (uint64_t) n;
        return 0;
}

int config_read_unsigned(Config *c, const char *name, unsigned min, unsigned max, unsigned *ret,
                         char **ret_error) {
        uint64_t n;
        int r;

        assert(ret);

        r = config_read_uint64(c, name, min, max, &n, ret_error);
        if (r < 0)
                return r;
        *ret = (unsigned) n;
        return 0;
}

int config_read_usec(Config *c, const char *name, uint64_t *ret_usec, char **ret_error) {
        uint64_t sec;
        const char *v;
        int r;

        assert(ret_usec);

        r = config_expand(c, name, &v, ret_error);
        if (r < 0)
                return r;
        r = time_parse(name, v, &sec);
        if (r >= 0 && sec > UINT64_MAX / 1000000)
                r = -ERANGE;
        if (r < 0)
                return bad_value(ret_error, r, name, v, NULL);
        *ret_usec = sec * 1000000;
        return 0;
}

int config_read_size(Config *c, const char *name, uint64_t *ret_bytes, char **ret_error) {
        const char *v;
        int r;

        r = config_expand(c, name, &v, ret_error);
        if (r < 0)
                return r;
        r = parse_size(v, ret_bytes);
        if (r < 0)
                return bad_value(ret_error, r, name, v, NULL);
        return 0;
}

int config_read_strdup(Config *c, const char *name, char **ret, char **ret_error) {
        const char *v;
        char *copy;
        int r;

        assert(ret);

        r = config_expand(c, name, &v, ret_error);
        if (r < 0)
                return r;
        copy = strdup(strempty(v));
        if (!copy)
                return -ENOMEM;
        free(*ret);
        *ret = copy;
        return 0;
}

int config_read_list(Config *c, const char *name, char ***ret_strv, char **ret_error) {
        const char *v;
        int r;

        r = config_expand(c, name, &v, ret_error);
        if (r < 0)
                return r;
        return config_split_list(v, ret_strv);
}

int config_read_enum(Config *c, const char *name, const char *const *table, size_t n, int *ret,
                     char **ret_error) {
        _cleanup_(buf_done) Buf hint = BUF_INIT(BUF_MAX_UNBOUNDED);
        const char *v;
        int r;

        assert(table || n == 0);
        assert(ret);

        r = config_expand(c, name, &v, ret_error);
        if (r < 0)
                return r;
        if (isempty(v)) {
                *ret = -1;
                return 0;
        }
        for (size_t i = 0; i < n; i++)
                if (streq_ptr(v, table[i])) {
                        *ret = (int) i;
                        return 0;
                }
        for (size_t i = 0; i < n; i++) {
                r = buf_printf(&hint, "%s%s", i == 0 ? "" : i + 1 == n ? " or " : ", ",
                               table[i]);
                if (r < 0)
                        return r;
        }
        return bad_value(ret_error, -EBADMSG, name, v, n > 0 ? buf_peek(&hint) : NULL);
}

int config_read_maps(Config *c, const char *name, DictFlags flags, DictList **ret,
                     char **ret_error) {
        _cleanup_free_ char *error = NULL;
        const char *v;
        int r;

        assert(ret);

        r = config_expand(c, name, &v, ret_error);
        if (r < 0)
                return r;
        if (v[strspn(v, ", \t\r\n")] == '\0') {
                *ret = NULL;
                return 0;
        }
        r = dict_list_open(v, flags, ret, &error);
        if (r < 0)
                return errmsg_set(ret_error, r, "%s: %s", name,
                                  error ? error : "cannot open the tables");
        return 0;
}

int config_new_from_dir(const char *dir, char *const *overrides, Config **ret, char **ret_error) {
        _cleanup_(config_freep) Config *c = NULL;
        int r;

        assert(dir);
        assert(ret);

        r = config_new(&c);
        if (r < 0)
                return errmsg_set(ret_error, r, "cannot set up the configuration");
        r = config_load_dir(c, dir, ret_error);
        if (r < 0)
                return r;
        for (char *const *o = overrides; o && *o; o++) {
                r = config_set_override(c, *o);
                if (r < 0)
                        return errmsg_set(ret_error, r, "-o %s: not name=value", *o);
        }
        *ret = TAKE_PTR(c);
        return 0;
}

/* ---- main.cf parsing ---- */

typedef enum LineKind {
        LINE_BLANK,
        LINE_COMMENT,
        LINE_CONTINUATION,
        LINE_START,
} LineKind;

static bool is_blank(char ch) {
        return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\v' || ch == '\f';
}

/* Classifies the physical line (p, n) (without its '\n'); *ret_len is n minus trailing white
 * space. */
static LineKind line_classify(const char *p, size_t n, size_t *ret_start, size_t *ret_len) {
        size_t s = 0;

        while (n > 0 && is_blank(p[n - 1]))
                n--;
        while (s < n && is_blank(p[s]))
                s++;
        *ret_start = s;
        *ret_len = n;
        if (s == n)
                return LINE_BLANK;
        if (p[s] == '#')
                return LINE_COMMENT;
        return s > 0 ? LINE_CONTINUATION : LINE_START;
}

/* Splits a logical line into name and value in place. Returns NULL or an error message. */
static const char *assignment_split(char *line, char **ret_name, char **ret_value) {
        char *p = line, *name = line, *v;
        size_t nl;

        while (*p && !is_blank(*p) && *p != '=')
                p++;
        nl = p - name;
        if (nl == 0)
                return "missing parameter name";
        while (is_blank(*p))
                p++;
        if (*p != '=')
                return "missing '=' after parameter name";
        name[nl] = '\0';
        if (!name_valid(name, nl))
                return "bad character in parameter name";
        v = p + 1;
        while (is_blank(*v))
                v++;
        *ret_name = name;
        *ret_value = v;
        return NULL;
}

typedef struct ParseState {
        Buf *logical;
        unsigned first_line;
        bool have;
} ParseState;

static int logical_flush(ParseState *s,
                         int (*f)(const char *name, const char *value, unsigned line, void *ud),
                         void *userdata, unsigned *ret_line, const char **ret_error) {
        char *name, *value;
        const char *err;

        if (!s->have)
                return 0;
        s->have = false;
        err = assignment_split(s->logical->data, &name, &value);
        if (err) {
                *ret_line = s->first_line;
                *ret_error = err;
                return -EBADMSG;
        }
        return f(name, value, s->first_line, userdata);
}

int config_parse(const char *p, size_t n,
                 int (*f)(const char *name, const char *value, unsigned line, void *userdata),
                 void *userdata, unsigned *ret_line, const char **ret_error) {
        _cleanup_(buf_done) Buf logical = BUF_INIT(CONFIG_LINE_MAX);
        ParseState s = { .logical = &logical };
        unsigned lineno = 0;
        size_t i = 0;
        int r;

        assert(p || n == 0);
        assert(f);
        assert(ret_line);
        assert(ret_error);

        if (n > 0 && memchr(p, '\0', n)) {
                const char *z = memchr(p, '\0', n);
                unsigned l = 1;

                for (const char *q = p; q < z; q++)
                        l += *q == '\n';
                *ret_line = l;
                *ret_error = "NUL byte";
                return -EBADMSG;
        }

        while (i < n) {
                const char *nlp = memchr(p + i, '\n', n - i);
                size_t len = nlp ? (size_t) (nlp - (p + i)) : n - i, start, end;
                const char *line = p + i;

                lineno++;
                i += len + (nlp ? 1 : 0);

                switch (line_classify(line, len, &start, &end)) {
                case LINE_BLANK:
                case LINE_COMMENT:
                        continue;
                case LINE_CONTINUATION:
                        if (!s.have) {
                                *ret_line = lineno;
                                *ret_error = "logical line must not start with white space";
                                return -EBADMSG;
                        }
                        r = buf_append_char(s.logical, ' ');
                        if (r >= 0)
                                r = buf_append(s.logical, line + start, end - start);
                        break;
                case LINE_START:
                        r = logical_flush(&s, f, userdata, ret_line, ret_error);
                        if (r < 0)
                                return r;
                        buf_clear(s.logical);
                        s.have = true;
                        s.first_line = lineno;
                        r = buf_append(s.logical, line, end);
                        break;
                default:
                        return -EINVAL;
                }
                if (r == -ENOBUFS) {
                        *ret_line = s.first_line;
                        *ret_error = "logical line too long";
                        return -EMSGSIZE;
                }
                if (r < 0)
                        return r;
        }
        return logical_flush(&s, f, userdata, ret_line, ret_error);
}

static int store_file_value(const char *name, const char *value, unsigned line, void *userdata) {
        Config *c = userdata;
        Value *v;
        char *copy;

        v = value_find_or_add(c, name);
        if (!v)
                return -ENOMEM;
        copy = strdup(value);
        if (!copy)
                return -ENOMEM;
        free(v->file_raw);
        v->file_raw = copy;
        v->file_line = line;
        return 0;
}

static int read_file(const char *path, Buf *b) {
        _cleanup_close_ int fd = -EBADF;
        int r;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        do
                r = buf_read_fd(b, fd);
        while (r > 0 || r == -EINTR);
        if (r == -ENOBUFS)
                return -EFBIG;
        return r;
}

int config_load_string(Config *c, const char *p, size_t n, const char *path,
                       char **ret_error) {
        const char *err = NULL;
        unsigned line = 0;
        char *copy;
        int r;

        assert(c);
        assert(p || n == 0);
        assert(path);

        copy = strdup(path);
        if (!copy)
                return -ENOMEM;
        free(c->file);
        c->file = copy;
        cache_drop(c);

        r = config_parse(p, n, store_file_value, c, &line, &err);
        if ((r == -EBADMSG || r == -EMSGSIZE) && err)
                return errmsg_set(ret_error, r, "%s, line %u: %s", path, line, err);
        return r;
}

int config_load_file(Config *c, const char *path, char **ret_error) {
        _cleanup_(buf_done) Buf b = BUF_INIT(CONFIG_FILE_MAX);
        int r;

        assert(c);
        assert(path);

        r = read_file(path, &b);
        if (r < 0)
                return errmsg_set(ret_error, r, "%s: %s", path, strerror(-r));
        return config_load_string(c, buf_peek(&b), buf_pending(&b), path, ret_error);
}

int config_load_dir(Config *c, const char *dir, char **ret_error) {
        _cleanup_free_ char *path = NULL;
        int r;

        assert(c);
        assert(dir);

        free(c->dir);
        c->dir = strdup(dir);
        if (!c->dir)
                return -ENOMEM;
        if (asprintf(&path, "%s/main.cf", dir) < 0)
                return -ENOMEM;
        r = config_load_file(c, path, ret_error);
        if (r == -ENOENT) {
                if (ret_error)
                        *ret_error = mfree(*ret_error);
                cache_drop(c);
                return 0;
        }
        return r;
}

const char *config_dir_resolve(const char *arg_c) {
        const char *e;

        if (arg_c)
                return arg_c;
        e = getenv("TERN_CONFIG");
        if (!isempty(e))
                return e;
        return TERN_CONFIG_DIR;
}

char *config_runtime_dir(void) {
        const char *e = getenv("RUNTIME_DIRECTORY");

        if (isempty(e))
                return strdup(CONFIG_RUNTIME_DIR);
        /* RuntimeDirectory= with several entries gives a colon-separated list. */
        return strndup(e, strcspn(e, ":"));
}

const char *config_file(const Config *c) {
        return c->file;
}

int config_set(Config *c, const char *name, const char *value) {
        Value *v;
        char *copy;

        assert(c);
        assert(name);
        assert(value);

        if (!name_valid(name, strlen(name)))
                return -EBADMSG;
        v = value_find_or_add(c, name);
        if (!v)
                return -ENOMEM;
        copy = strdup(value);
        if (!copy)
                return -ENOMEM;
        free(v->override_raw);
        v->override_raw = copy;
        cache_drop(c);
        return 0;
}

int config_set_override(Config *c, const char *assignment) {
        _cleanup_free_ char *copy = NULL;
        char *name, *value;
        size_t n;

        assert(c);
        assert(assignment);

        copy = strdup(assignment);
        if (!copy)
                return -ENOMEM;
        n = strlen(copy);
        while (n > 0 && is_blank(copy[n - 1]))
                copy[--n] = '\0';
        name = copy;
        while (is_blank(*name))
                name++;
        if (assignment_split(name, &name, &value))
                return -EBADMSG;
        return config_set(c, name, value);
}

/* ---- iteration and references ---- */

static int name_cmp(const void *a, const void *b) {
        return strcmp(*(const char *const *) a, *(const char *const *) b);
}

int config_foreach_set(Config *c, int (*f)(Config *c, const char *name, void *userdata),
                       void *userdata) {
        _cleanup_free_ const char **names = NULL;
        size_t n = 0;
        int r;

        assert(c);
        assert(f);

        names = calloc(config_params_count + c->n_extra + 1, sizeof(char *));
        if (!names)
                return -ENOMEM;
        for (size_t i = 0; i < config_params_count; i++)
                if (value_is_set(&c->values[i]))
                        names[n++] = c->values[i].param->name;
        for (size_t i = 0; i < c->n_extra; i++)
                if (value_is_set(&c->extra[i]))
                        names[n++] = c->extra[i].name;
        qsort(names, n, sizeof(char *), name_cmp);
        for (size_t i = 0; i < n; i++) {
                r = f(c, names[i], userdata);
                if (r < 0)
                        return r;
        }
        return 0;
}

static bool text_references(const char *text, const char *name) {
        size_t nl = strlen(name);

        for (const char *d = strchr(text, '$'); d; d = strchr(d + 1, '$')) {
                const char *s = d + 1;

                if (*s == '{' || *s == '(')
                        s++;
                if (strncmp(s, name, nl) == 0 && !name_char(s[nl]))
                        return true;
        }
        return false;
}

static bool value_references(Config *c, const Value *v, const char *name) {
        const char *raw = value_raw(c, v);

        return raw && text_references(raw, name);
}

bool config_name_is_referenced(Config *c, const char *name) {
        _cleanup_strv_free_ char **classes = NULL;

        assert(c);
        assert(name);

        for (size_t i = 0; i < config_params_count; i++)
                if (value_references(c, &c->values[i], name))
                        return true;
        for (size_t i = 0; i < c->n_extra; i++)
                if (value_references(c, &c->extra[i], name))
                        return true;
        if (config_get_list(c, "smtpd_restriction_classes", &classes) >= 0)
                for (char **l = classes; *l; l++)
                        if (streq(*l, name))
                                return true;
        return false;
}

/* ---- the editor ---- */

typedef struct PhysLine {
        size_t off;                     /* first byte */
        size_t len;                     /* bytes including the '\n' when there is one */
        LineKind kind;
} PhysLine;

typedef struct Span {
        size_t first, last;             /* physical line indexes of a logical line */
        char *name;
} Span;

static void spans_free(Span *s, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(s[i].name);
        free(s);
}

static int text_lines(const char *p, size_t n, PhysLine **ret, size_t *ret_n) {
        _cleanup_free_ PhysLine *l = NULL;
        size_t count = 0, cap = 0, i = 0;

        while (i < n) {
                const char *nlp = memchr(p + i, '\n', n - i);
                size_t len = nlp ? (size_t) (nlp - (p + i)) + 1 : n - i, s, e;

                if (count == cap) {
                        size_t nc = cap ? cap * 2 : 64;
                        PhysLine *nl = reallocarray(l, nc, sizeof(PhysLine));

                        if (!nl)
                                return -ENOMEM;
                        l = nl;
                        cap = nc;
                }
                l[count] = (PhysLine) { .off = i, .len = len,
                        .kind = line_classify(p + i, nlp ? len - 1 : len, &s, &e) };
                count++;
                i += len;
        }
        *ret = TAKE_PTR(l);
        *ret_n = count;
        return 0;
}

static int text_spans(const char *p, const PhysLine *l, size_t n, Span **ret, size_t *ret_n) {
        Span *spans = NULL;
        size_t count = 0;

        spans = calloc(n + 1, sizeof(Span));
        if (!spans)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                size_t k = 0;

                if (l[i].kind == LINE_CONTINUATION && count > 0) {
                        spans[count - 1].last = i;
                        continue;
                }
                if (l[i].kind != LINE_START)
                        continue;
                while (k < l[i].len && !is_blank(p[l[i].off + k]) && p[l[i].off + k] != '=' &&
                       p[l[i].off + k] != '\n')
                        k++;
                spans[count].first = spans[count].last = i;
                spans[count].name = strndup(p + l[i].off, k);
                if (!spans[count].name) {
                        spans_free(spans, count);
                        return -ENOMEM;
                }
                count++;
        }
        *ret = spans;
        *ret_n = count;
        return 0;
}

static int edit_one(const char *p, size_t n, const char *name, const char *value,
                    bool comment_out, Buf *out) {
        _cleanup_free_ PhysLine *lines = NULL;
        Span *spans = NULL;
        size_t n_lines = 0, n_spans = 0, last = SIZE_MAX;
        int r;

        r = text_lines(p, n, &lines, &n_lines);
        if (r < 0)
                return r;
        r = text_spans(p, lines, n_lines, &spans, &n_spans);
        if (r < 0)
                return r;

        for (size_t s = 0; s < n_spans; s++)
                if (streq(spans[s].name, name))
                        last = s;

        for (size_t i = 0, s = 0; i < n_lines && r >= 0; i++) {
                while (s < n_spans && spans[s].last < i)
                        s++;
                bool in_span = s < n_spans && spans[s].first <= i && i <= spans[s].last &&
                               streq(spans[s].name, name);

                if (in_span && comment_out && lines[i].kind != LINE_COMMENT &&
                    lines[i].kind != LINE_BLANK)
                        r = buf_append_char(out, '#');
                else if (in_span && !comment_out && s == last) {
                        if (i == spans[s].first)
                                r = buf_printf(out, "%s = %s\n", name, value);
                        continue;
                }
                if (r >= 0)
                        r = buf_append(out, p + lines[i].off, lines[i].len);
        }
        if (r >= 0 && !comment_out && last == SIZE_MAX) {
                if (n > 0 && p[n - 1] != '\n')
                        r = buf_append_char(out, '\n');
                if (r >= 0)
                        r = buf_printf(out, "%s = %s\n", name, value);
        }
        spans_free(spans, n_spans);
        return r;
}

int config_edit_text(const char *p, size_t n, char *const *assignments, bool comment_out,
                     char **ret, size_t *ret_len) {
        _cleanup_(buf_done) Buf cur = BUF_INIT(BUF_MAX_UNBOUNDED);
        int r;

        assert(p || n == 0);
        assert(ret);

        r = buf_append(&cur, p ? p : "", n);
        if (r < 0)
                return r;
        for (char *const *a = assignments; a && *a; a++) {
                _cleanup_(buf_done) Buf next = BUF_INIT(BUF_MAX_UNBOUNDED);
                _cleanup_free_ char *copy = NULL;
                char *name, *value;
                size_t len;

                if (strpbrk(*a, "\n\r") || strchr(*a, '\0') != *a + strlen(*a))
                        return -EBADMSG;
                copy = strdup(*a);
                if (!copy)
                        return -ENOMEM;
                len = strlen(copy);
                while (len > 0 && is_blank(copy[len - 1]))
                        copy[--len] = '\0';
                name = copy;
                while (is_blank(*name))
                        name++;
                if (comment_out) {
                        if (!name_valid(name, strlen(name)))
                                return -EBADMSG;
                        value = NULL;
                } else if (assignment_split(name, &name, &value))
                        return -EBADMSG;

                r = edit_one(buf_peek(&cur), buf_pending(&cur), name, value, comment_out, &next);
                if (r < 0)
                        return r;
                buf_done(&cur);
                cur = next;
                next = (Buf) {};
        }
        if (ret_len)
                *ret_len = buf_pending(&cur);
        *ret = buf_steal(&cur);
        return *ret ? 0 : -ENOMEM;
}

int config_edit_file(const char *path, char *const *assignments, bool comment_out) {
        _cleanup_(buf_done) Buf b = BUF_INIT(CONFIG_FILE_MAX);
        _cleanup_free_ char *text = NULL, *tmp = NULL, *dircopy = NULL;
        _cleanup_close_ int fd = -EBADF, dfd = -EBADF;
        mode_t mode = 0644;
        struct stat st;
        size_t len = 0;
        int r;

        assert(path);

        r = read_file(path, &b);
        if (r < 0 && r != -ENOENT)
                return r;
        if (stat(path, &st) >= 0)
                mode = st.st_mode & 07777;

        r = config_edit_text(buf_peek(&b), buf_pending(&b), assignments, comment_out, &text,
                             &len);
        if (r < 0)
                return r;

        if (asprintf(&tmp, "%s.tmpXXXXXX", path) < 0)
                return -ENOMEM;
        fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0)
                return -errno;
        r = NEG_ERRNO(fchmod(fd, mode));
        if (r >= 0)
                r = fileio_write_full(fd, text, len);
        if (r >= 0)
                r = NEG_ERRNO(fsync(fd));
        if (r >= 0)
                r = NEG_ERRNO(rename(tmp, path));
        if (r < 0) {
                (void) unlink(tmp);
                return r;
        }

        dircopy = strdup(path);
        if (!dircopy)
                return -ENOMEM;
        dfd = open(dirname(dircopy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return -errno;
        return NEG_ERRNO(fsync(dfd));
}
