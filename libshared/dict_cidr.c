/* SPDX-License-Identifier: GPL-3.0-or-later */
/* dict_cidr: the "cidr:" table type, cidr_table(5). Rules are "pattern result", "!pattern
 * result", "if pattern" / "if !pattern" ... "endif" (nesting), where a pattern is an IPv4 or
 * IPv6 address or network/prefix (optionally in []); rules are tried in file order and the
 * first match wins. An address only matches patterns of its own family, negated ones too. The
 * content may also be given inline, "cidr:{ { rule }, { rule } }" (Postfix 3.7). The file is
 * administrator input: any bad rule, a network with host bits set, an unbalanced if/endif fails
 * the open with "FILE, line N: ..." (Postfix warns and skips; a skipped access rule is a silent
 * wrong answer). Lookup keys are peer addresses, only given to inet_pton(). */
#include <arpa/inet.h>
#include <ctype.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "dict.h"
#include "dict_types.h"
#include "errmsg.h"
#include "match.h"

/* if/endif nesting bound, far above any real table */
#define CIDR_NESTING_MAX 100

typedef enum CidrOp {
        CIDR_MATCH,                     /* pattern result */
        CIDR_IF,                        /* if pattern: unless it matches, skip to its endif */
        CIDR_ENDIF,
} CidrOp;

typedef struct CidrRule {
        CidrOp op;
        bool negate;
        int family;
        unsigned prefix;
        unsigned char addr[16];
        char *result;                   /* CIDR_MATCH only */
        size_t endif;                   /* CIDR_IF only: index of its endif */
} CidrRule;

typedef struct DictCidr {
        Dict head;
        CidrRule *rules;
        size_t n_rules;
        /* while loading */
        const char *source;
        size_t open_ifs[CIDR_NESTING_MAX];
        size_t n_open_ifs;
        char **ret_error;
} DictCidr;

static void cidr_free(Dict *d) {
        DictCidr *c = (DictCidr *) d;

        if (!c)
                return;
        for (size_t i = 0; i < c->n_rules; i++)
                free(c->rules[i].result);
        free(c->rules);
        dict_head_done(&c->head);
        free(c);
}

static int cidr_parse_pattern(DictCidr *c, CidrRule *rule, const char *word, unsigned lineno) {
        int r;

        if (*word == '!') {
                rule->negate = true;
                word++;
        }
        r = match_parse_network(word, &rule->family, rule->addr, &rule->prefix);
        if (r < 0)
                return errmsg_set(c->ret_error, -EBADMSG,
                                  "%s, line %u: bad address pattern \"%s\" (not an address, or a "
                                  "network with host bits set)", c->source, lineno, word);
        return 0;
}

static int cidr_add_line(char *line, unsigned lineno, void *userdata) {
        DictCidr *c = userdata;
        CidrRule rule = {}, *a;
        char *word = line, *rest;
        int r;

        rest = word + strcspn(word, " \t\r\f\v");
        if (*rest) {
                *rest++ = '\0';
                rest += strspn(rest, " \t\r\f\v");
        }

        if (streq(word, "endif")) {
                if (*rest)
                        return errmsg_set(c->ret_error, -EBADMSG,
                                          "%s, line %u: text after \"endif\"", c->source, lineno);
                if (c->n_open_ifs == 0)
                        return errmsg_set(c->ret_error, -EBADMSG,
                                          "%s, line %u: \"endif\" without \"if\"", c->source,
                                          lineno);
                rule.op = CIDR_ENDIF;
                c->n_open_ifs--;
                c->rules[c->open_ifs[c->n_open_ifs]].endif = c->n_rules;
        } else if (streq(word, "if")) {
                char *extra;

                if (*rest == '\0')
                        return errmsg_set(c->ret_error, -EBADMSG,
                                          "%s, line %u: \"if\" without a pattern", c->source,
                                          lineno);
                extra = rest + strcspn(rest, " \t\r\f\v");
                if (*extra)
                        return errmsg_set(c->ret_error, -EBADMSG,
                                          "%s, line %u: text after \"if %.*s\"", c->source,
                                          lineno, (int) (extra - rest), rest);
                if (c->n_open_ifs >= CIDR_NESTING_MAX)
                        return errmsg_set(c->ret_error, -EBADMSG,
                                          "%s, line %u: \"if\" nested deeper than %d",
                                          c->source, lineno, CIDR_NESTING_MAX);
                rule.op = CIDR_IF;
                r = cidr_parse_pattern(c, &rule, rest, lineno);
                if (r < 0)
                        return r;
                c->open_ifs[c->n_open_ifs++] = c->n_rules;
        } else {
                rule.op = CIDR_MATCH;
                r = cidr_parse_pattern(c, &rule, word, lineno);
                if (r < 0)
                        return r;
                if (*rest == '\0')
                        return errmsg_set(c->ret_error, -EBADMSG,
                                          "%s, line %u: no result after \"%s\"", c->source,
                                          lineno, word);
                rule.result = strdup(rest);
                if (!rule.result)
                        return -ENOMEM;
        }

        a = reallocarray(c->rules, c->n_rules + 1, sizeof(CidrRule));
        if (!a) {
                free(rule.result);
                return -ENOMEM;
        }
        c->rules = a;
        c->rules[c->n_rules++] = rule;
        return 0;
}

/* "cidr:{ { rule }, { rule } }" becomes one rule per line of an in-memory file. Returns the
 * text, or -EBADMSG for unbalanced braces. */
static int cidr_inline_text(const char *name, char **ret) {
        _cleanup_free_ char *text = NULL;
        size_t n = 0, len = strlen(name);
        const char *p, *end;

        assert(name[0] == '{');

        end = name + len;
        while (end > name && isspace((unsigned char) end[-1]))
                end--;
        if (end - name < 2 || end[-1] != '}')
                return -EBADMSG;
        end--;

        text = malloc(len + 2);
        if (!text)
                return -ENOMEM;
        for (p = name + 1; p < end;) {
                const char *s, *e;

                while (p < end && (*p == ',' || isspace((unsigned char) *p)))
                        p++;
                if (p >= end)
                        break;
                if (*p == '{') {
                        unsigned depth = 0;

                        for (e = p; e < end; e++)
                                if (*e == '{')
                                        depth++;
                                else if (*e == '}' && --depth == 0)
                                        break;
                        if (e >= end)
                                return -EBADMSG;
                        s = p + 1;
                        p = e + 1;
                } else {
                        s = p;
                        while (p < end && *p != ',' && !isspace((unsigned char) *p))
                                p++;
                        e = p;
                }
                while (s < e && isspace((unsigned char) *s))
                        s++;
                while (e > s && isspace((unsigned char) e[-1]))
                        e--;
                if (memchr(s, '\n', (size_t) (e - s)))
                        return -EBADMSG;
                memcpy(text + n, s, (size_t) (e - s));
                n += (size_t) (e - s);
                text[n++] = '\n';
        }
        text[n] = '\0';
        *ret = TAKE_PTR(text);
        return 0;
}

static int cidr_open(const char *name, DictFlags flags, Dict **ret, char **ret_error) {
        _cleanup_(dict_freep) Dict *d = NULL;
        _cleanup_fclose_ FILE *f = NULL;
        _cleanup_free_ char *text = NULL;
        DictCidr *c;
        int r;

        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->head.type = &dict_cidr_type;
        d = &c->head;

        r = dict_head_init(d, &dict_cidr_type, name, flags | DICT_FLAG_PATTERN);
        if (r < 0)
                return r;

        if (name[0] == '{') {
                r = cidr_inline_text(name, &text);
                if (r == -EBADMSG)
                        return errmsg_set(ret_error, r, "cidr:%s: unbalanced braces", name);
                if (r < 0)
                        return r;
                f = fmemopen(text, strlen(text), "r");
                if (!f)
                        return -errno;
                c->source = d->spec;
        } else {
                _cleanup_close_ int fd = -EBADF;
                struct stat st;

                fd = open(name, O_RDONLY | O_CLOEXEC | O_NOCTTY);
                if (fd < 0)
                        return errmsg_set(ret_error, -errno, "cannot open %s: %m", name);
                if (fstat(fd, &st) < 0)
                        return errmsg_set(ret_error, -errno, "cannot stat %s: %m", name);
                if (S_ISDIR(st.st_mode))
                        return errmsg_set(ret_error, -EISDIR, "cannot read %s: is a directory",
                                          name);
                f = fdopen(fd, "r");
                if (!f)
                        return -errno;
                TAKE_FD(fd);
                c->source = name;
        }

        c->ret_error = ret_error;
        r = dict_source_read_lines(f, c->source, cidr_add_line, c, ret_error);
        c->ret_error = NULL;
        if (r < 0)
                return r;
        if (c->n_open_ifs > 0)
                return errmsg_set(ret_error, -EBADMSG, "%s: \"if\" without \"endif\"",
                                  c->source);
        c->source = NULL;

        *ret = TAKE_PTR(d);
        return 0;
}

static bool rule_matches(const CidrRule *rule, int family, const unsigned char *a) {
        unsigned full = rule->prefix / 8, rest = rule->prefix % 8;
        bool in;

        if (rule->family != family)
                return false;           /* other family: no match, negated or not */
        in = memcmp(rule->addr, a, full) == 0 &&
             (rest == 0 ||
              ((rule->addr[full] ^ a[full]) & (unsigned char) (0xff << (8 - rest))) == 0);
        return in != rule->negate;
}

static int cidr_lookup(Dict *d, const char *key, char **ret_value) {
        DictCidr *c = (DictCidr *) d;
        unsigned char a[16] = {};
        char host[INET6_ADDRSTRLEN + 1];
        size_t n = strlen(key);
        int family;

        /* The key is a client address, optionally in brackets; anything else matches nothing. */
        if (n >= 2 && key[0] == '[' && key[n - 1] == ']') {
                key++;
                n -= 2;
        }
        if (n == 0 || n >= sizeof host)
                return 0;
        memcpy(host, key, n);
        host[n] = '\0';
        family = strchr(host, ':') ? AF_INET6 : AF_INET;
        if (inet_pton(family, host, a) != 1)
                return 0;

        for (size_t i = 0; i < c->n_rules; i++) {
                const CidrRule *rule = &c->rules[i];

                switch (rule->op) {
                case CIDR_MATCH:
                        if (rule_matches(rule, family, a)) {
                                char *v = strdup(rule->result);

                                if (!v)
                                        return -ENOMEM;
                                *ret_value = v;
                                return 1;
                        }
                        break;
                case CIDR_IF:
                        if (!rule_matches(rule, family, a))
                                i = rule->endif;
                        break;
                case CIDR_ENDIF:
                        break;
                }
        }
        return 0;
}

const DictType dict_cidr_type = {
        .name = "cidr",
        .open = cidr_open,
        .lookup = cidr_lookup,
        .free = cidr_free,
};
