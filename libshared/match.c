/* SPDX-License-Identifier: GPL-3.0-or-later */
/* match: Postfix-style pattern lists for domains and client addresses. */
#include <arpa/inet.h>
#include <ctype.h>
#include <fcntl.h>
#include <strings.h>

#include "buf.h"
#include "dict.h"
#include "errmsg.h"
#include "match.h"
#include "parse.h"

#define MATCH_PATTERNS_MAX 100000
#define MATCH_FILE_DEPTH_MAX 8
#define MATCH_FILE_SIZE_MAX (16u * 1024 * 1024)

typedef enum PatternKind {
        PATTERN_NAME,           /* domain; leading '.' means subdomains only */
        PATTERN_NETWORK,
        PATTERN_TABLE,
} PatternKind;

typedef struct Pattern {
        PatternKind kind;
        bool negate;
        char *name;                     /* lower-cased domain pattern */
        int family;
        unsigned char addr[16];
        unsigned prefix;
        Dict *dict;
} Pattern;

struct MatchList {
        MatchType type;
        MatchFlags flags;
        Pattern *patterns;
        size_t n;
};

static void pattern_done(Pattern *p) {
        free(p->name);
        dict_free(p->dict);
}

MatchList *match_list_free(MatchList *m) {
        if (!m)
                return NULL;
        for (size_t i = 0; i < m->n; i++)
                pattern_done(&m->patterns[i]);
        free(m->patterns);
        free(m);
        return NULL;
}

int match_parse_network(const char *s, int *ret_family, unsigned char ret_addr[16],
                        unsigned *ret_prefix) {
        char host[INET6_ADDRSTRLEN + 2];
        const char *slash = strchr(s, '/');
        size_t hlen = slash ? (size_t) (slash - s) : strlen(s);
        unsigned char a[16] = {};
        uint64_t prefix;
        int family;

        if (hlen >= 2 && s[0] == '[' && s[hlen - 1] == ']') {
                s++;
                hlen -= 2;
                if (!memchr(s, ':', hlen))
                        return -EBADMSG;        /* brackets are for IPv6 only */
        }
        if (hlen == 0 || hlen >= sizeof host)
                return -EBADMSG;
        memcpy(host, s, hlen);
        host[hlen] = '\0';

        family = strchr(host, ':') ? AF_INET6 : AF_INET;
        if (inet_pton(family, host, a) != 1)
                return -EBADMSG;

        prefix = family == AF_INET ? 32 : 128;
        if (slash) {
                uint64_t max = prefix;

                if (parse_uint64_n(slash + 1, strlen(slash + 1), &prefix) < 0 || prefix > max)
                        return -EBADMSG;
        }

        /* Host bits set below the prefix are a configuration error, as Postfix reports it. */
        for (unsigned bit = (unsigned) prefix; bit < (family == AF_INET ? 32u : 128u); bit++)
                if (a[bit / 8] & (0x80 >> (bit % 8)))
                        return -EBADMSG;

        *ret_family = family;
        memcpy(ret_addr, a, 16);
        *ret_prefix = (unsigned) prefix;
        return 0;
}

static bool network_contains(const Pattern *p, int family, const unsigned char *a) {
        unsigned full = p->prefix / 8, rest = p->prefix % 8;

        if (p->family != family)
                return false;
        if (memcmp(p->addr, a, full) != 0)
                return false;
        if (rest == 0)
                return true;
        return ((p->addr[full] ^ a[full]) & (unsigned char) (0xff << (8 - rest))) == 0;
}

static int list_add(MatchList *m, const char *word, unsigned depth, char **ret_error);

/* "/file/name": patterns from a file, any number per line, '#' comments. */
static int list_add_file(MatchList *m, const char *path, unsigned depth, char **ret_error) {
        _cleanup_(buf_done) Buf b = BUF_INIT(MATCH_FILE_SIZE_MAX);
        _cleanup_close_ int fd = -EBADF;
        char *line, *save = NULL;
        int r;

        if (depth >= MATCH_FILE_DEPTH_MAX)
                return errmsg_set(ret_error, -ELOOP, "%s: pattern files nested too deeply", path);
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0) {
                r = -errno;
                return errmsg_set(ret_error, r, "%s: cannot open: %s", path, strerror(-r));
        }
        while ((r = buf_read_fd(&b, fd)) > 0)
                ;
        if (r < 0)
                return errmsg_set(ret_error, r, "%s: cannot read: %s", path,
                                  r == -ENOBUFS ? "file too large" : strerror(-r));
        if (memchr(buf_peek(&b), '\0', buf_pending(&b)))
                return errmsg_set(ret_error, -EBADMSG, "%s: NUL byte in pattern file", path);

        for (line = strtok_r(b.data ?: (char[]) { 0 }, "\n", &save); line;
             line = strtok_r(NULL, "\n", &save)) {
                char *hash = strchr(line, '#'), *w, *wsave = NULL;

                if (hash)
                        *hash = '\0';
                for (w = strtok_r(line, ", \t\r", &wsave); w; w = strtok_r(NULL, ", \t\r", &wsave)) {
                        r = list_add(m, w, depth + 1, ret_error);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

static int list_add(MatchList *m, const char *word, unsigned depth, char **ret_error) {
        Pattern p = {};
        Pattern *np;
        int r;

        while (*word == '!') {
                p.negate = !p.negate;
                word++;
        }
        if (!*word)
                return errmsg_set(ret_error, -EBADMSG, "empty pattern after '!'");

        if (word[0] == '/') {
                if (p.negate)
                        return errmsg_set(ret_error, -EBADMSG, "%s: a file cannot be negated",
                                          word);
                return list_add_file(m, word, depth, ret_error);
        }

        if (m->n >= MATCH_PATTERNS_MAX)
                return errmsg_set(ret_error, -E2BIG, "too many patterns");

        if (strchr(word, ':') && !strchr(word, '[') &&
            !(m->type == MATCH_ADDRESS && match_parse_network(word, &p.family, p.addr,
                                                               &p.prefix) == 0)) {
                /* "type:table"; IPv6 networks also contain ':' and were tried first. */
                p.kind = PATTERN_TABLE;
                r = dict_open(word, DICT_FLAG_FOLD_CASE |
                              ((m->flags & MATCH_PARENT_SUBDOMAINS) ?
                               DICT_FLAG_PARENT_MATCHES_SUBDOMAINS : 0), &p.dict, ret_error);
                if (r < 0)
                        return r;
        } else if (m->type == MATCH_ADDRESS) {
                p.kind = PATTERN_NETWORK;
                r = match_parse_network(word, &p.family, p.addr, &p.prefix);
                if (r < 0)
                        return errmsg_set(ret_error, r, "bad network pattern: %s", word);
        } else {
                p.kind = PATTERN_NAME;
                p.name = strdup(word);
                if (!p.name)
                        return -ENOMEM;
                for (char *c = p.name; *c; c++)
                        *c = (char) tolower((unsigned char) *c);
        }

        np = reallocarray(m->patterns, m->n + 1, sizeof *np);
        if (!np) {
                pattern_done(&p);
                return -ENOMEM;
        }
        m->patterns = np;
        m->patterns[m->n++] = p;
        return 0;
}

int match_list_new(const char *spec, MatchType type, MatchFlags flags, MatchList **ret,
                   char **ret_error) {
        _cleanup_(match_list_freep) MatchList *m = NULL;
        _cleanup_free_ char *copy = NULL;
        char *p;
        int r;

        m = calloc(1, sizeof *m);
        copy = strdup(spec);
        if (!m || !copy)
                return -ENOMEM;
        m->type = type;
        m->flags = flags;

        /* Split on commas and white space, keeping "{ ... }" groups (inline:, static:) whole. */
        p = copy;
        for (;;) {
                char *start;
                int depth = 0;

                p += strspn(p, ", \t\r\n");
                if (!*p)
                        break;
                start = p;
                for (; *p; p++) {
                        if (*p == '{')
                                depth++;
                        else if (*p == '}' && depth > 0)
                                depth--;
                        else if (depth == 0 && strchr(", \t\r\n", *p))
                                break;
                }
                if (*p)
                        *p++ = '\0';
                r = list_add(m, start, 0, ret_error);
                if (r < 0)
                        return r;
        }

        *ret = TAKE_PTR(m);
        return 0;
}

static bool domain_matches(const MatchList *m, const char *pattern, const char *domain) {
        size_t pl = strlen(pattern), dl = strlen(domain);

        if (pattern[0] == '.')
                return dl > pl && strcasecmp(domain + dl - pl, pattern) == 0;
        if (strcasecmp(pattern, domain) == 0)
                return true;
        if (!(m->flags & MATCH_PARENT_SUBDOMAINS))
                return false;
        return dl > pl && domain[dl - pl - 1] == '.' && strcasecmp(domain + dl - pl, pattern) == 0;
}

int match_list_domain(MatchList *m, const char *domain) {
        assert(m);

        for (size_t i = 0; i < m->n; i++) {
                Pattern *p = &m->patterns[i];
                bool hit = false;

                switch (p->kind) {
                case PATTERN_NAME:
                        hit = domain_matches(m, p->name, domain);
                        break;
                case PATTERN_TABLE: {
                        _cleanup_free_ char *value = NULL;
                        int r = dict_lookup_domain(p->dict, domain, &value);

                        if (r < 0)
                                return r;
                        hit = r > 0;
                        break;
                }
                case PATTERN_NETWORK:
                        break;
                }
                if (hit)
                        return !p->negate;
        }
        return 0;
}

int match_list_address(MatchList *m, const char *ip) {
        unsigned char a[16] = {};
        int family;

        assert(m);

        family = strchr(ip, ':') ? AF_INET6 : AF_INET;
        if (inet_pton(family, ip, a) != 1)
                return 0;       /* not an address: no network pattern can match it */

        for (size_t i = 0; i < m->n; i++) {
                Pattern *p = &m->patterns[i];
                bool hit = false;

                switch (p->kind) {
                case PATTERN_NETWORK:
                        hit = network_contains(p, family, a);
                        break;
                case PATTERN_TABLE: {
                        _cleanup_free_ char *value = NULL;
                        int r = dict_lookup_client(p->dict, ip, &value);

                        if (r < 0)
                                return r;
                        hit = r > 0;
                        break;
                }
                case PATTERN_NAME:
                        break;
                }
                if (hit)
                        return !p->negate;
        }
        return 0;
}
