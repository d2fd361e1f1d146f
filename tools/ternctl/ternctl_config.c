/* SPDX-License-Identifier: GPL-3.0-or-later */
/* ternctl config: postconf(1) for tern. Shows parameters (all, named, set in main.cf with -n,
 * defaults with -d, expanded with -x, values only with -h), edits main.cf in place (-e, -#),
 * applies -o overrides, and with --check reports unknown names (with a "did you mean" hint), bad
 * values, undefined $name references, reference cycles and missing or unreadable tables, each
 * with the file and line, and exits 1 when it reported anything. Obsolete parameters are a
 * notice saying what replaces them, not an error. main.cf is read with libshared/config. */
#include <getopt.h>
#include <stdarg.h>
#include <sysexits.h>

#include "config.h"
#include "dict.h"
#include "log.h"
#include "ternctl.h"

typedef struct Options {
        bool set_only;                  /* -n */
        bool defaults;                  /* -d */
        bool expand;                    /* -x */
        bool value_only;                /* -h */
        bool edit;                      /* -e */
        bool comment;                   /* -# */
        bool check;                     /* --check */
} Options;

static void help(void) {
        printf("Usage: ternctl config [OPTIONS] [NAME...]\n"
               "       ternctl config -e 'name = value'...\n"
               "       ternctl config -# name...\n"
               "       ternctl config --check\n\n"
               "Shows main.cf parameters as postconf(1) does.\n\n"
               "  -c DIR        configuration directory\n"
               "  -n            only parameters set in main.cf\n"
               "  -d            default values\n"
               "  -x            expand $name references\n"
               "  -h            values only, without 'name = '\n"
               "  -e            edit main.cf: set each 'name = value' argument\n"
               "  -#            edit main.cf: comment out each named parameter\n"
               "  -o NAME=VALUE override a parameter for this command\n"
               "  --check       report unknown names, bad values, undefined references and\n"
               "                missing tables; exit 1 if anything was reported\n");
}

static void warn_unknown(const char *name) {
        _cleanup_strv_free_ char **hints = NULL;

        if (config_param_suggest(name, 1, &hints) >= 0 && hints[0])
                fprintf(stderr, "ternctl: warning: %s: unknown parameter; did you mean '%s'?\n",
                        name, hints[0]);
        else
                fprintf(stderr, "ternctl: warning: %s: unknown parameter\n", name);
}

static int print_one(Config *c, const char *name, const Options *o) {
        _cleanup_free_ char *expanded = NULL, *error = NULL;
        const char *v;
        int r;

        if (o->defaults) {
                v = config_get_default(c, name);
                if (!v) {
                        /* user-defined names have no default */
                        warn_unknown(name);
                        return 0;
                }
                if (o->expand) {
                        r = config_expand_text(c, v, &expanded, NULL, &error);
                        if (r < 0) {
                                fprintf(stderr, "ternctl: error: %s\n",
                                        error ? error : strerror(-r));
                                return r;
                        }
                        v = expanded;
                }
        } else if (o->expand) {
                r = config_expand(c, name, &v, &error);
                if (r == -ENOENT) {
                        warn_unknown(name);
                        return 0;
                }
                if (r < 0) {
                        fprintf(stderr, "ternctl: error: %s\n", error ? error : strerror(-r));
                        return r;
                }
        } else {
                v = config_get_raw(c, name);
                if (!v) {
                        warn_unknown(name);
                        return 0;
                }
        }

        if (o->value_only)
                printf("%s\n", v);
        else if (isempty(v))
                printf("%s =\n", name);
        else
                printf("%s = %s\n", name, v);
        return 0;
}

static int print_set(Config *c, const char *name, void *userdata) {
        return print_one(c, name, userdata);
}

/* ---- --check ---- */

typedef struct Checker {
        const char *file;
        unsigned problems;
} Checker;

static void location(Config *c, const Checker *k, const char *name, char *buf, size_t size) {
        unsigned line = 0;
        int src = config_get_source(c, name, &line);

        if (src == CONFIG_SOURCE_FILE)
                (void) snprintf(buf, size, "%s, line %u: ", k->file, line);
        else if (src == CONFIG_SOURCE_OVERRIDE)
                (void) snprintf(buf, size, "-o %s: ", name);
        else
                buf[0] = '\0';
}

static void problem(Checker *k, const char *where, const char *fmt, ...) _printf_(3, 4);
static void problem(Checker *k, const char *where, const char *fmt, ...) {
        va_list ap;

        fprintf(stderr, "ternctl: warning: %s", where);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        k->problems++;
}

static const char *type_complaint(ConfigType t) {
        switch (t) {
        case CONFIG_TYPE_BOOL:
                return "bad boolean value (yes or no)";
        case CONFIG_TYPE_TIME:
                return "bad time value (a number with an optional unit s, m, h, d or w)";
        case CONFIG_TYPE_INT:
        case CONFIG_TYPE_SIZE:
                return "bad numerical value";
        default:
                return "bad value";
        }
}

/* Splits a table list as dict_list_open() does: a brace group ("inline:{ a=b, c=d }") stays in
 * one item. */
static int split_tables(const char *specs, char ***ret) {
        _cleanup_strv_free_ char **l = NULL;
        size_t n = 0;
        const char *p = specs;

        l = calloc(1, sizeof(char *));
        if (!l)
                return -ENOMEM;
        for (;;) {
                const char *start;
                unsigned depth = 0;
                char **nl;

                while (*p && strchr(", \t\r\n", *p))
                        p++;
                if (!*p)
                        break;
                for (start = p; *p && (depth > 0 || !strchr(", \t\r\n", *p)); p++)
                        if (*p == '{')
                                depth++;
                        else if (*p == '}' && depth > 0)
                                depth--;
                nl = reallocarray(l, n + 2, sizeof(char *));
                if (!nl)
                        return -ENOMEM;
                l = nl;
                l[n] = strndup(start, p - start);
                if (!l[n])
                        return -ENOMEM;
                l[++n] = NULL;
        }
        *ret = TAKE_PTR(l);
        return 0;
}

static void check_table(Checker *k, const char *where, const char *name, const char *spec) {
        _cleanup_(dict_freep) Dict *d = NULL;
        _cleanup_free_ char *error = NULL;
        int r;

        r = dict_open(spec, DICT_FLAG_NONE, &d, &error);
        if (r == -EPROTONOSUPPORT && startswith(spec, "nis:"))
                /* Postfix's own default alias_maps names nis:mail.aliases, which finds nothing on
                 * a host without NIS; tern has no NIS client */
                fprintf(stderr, "ternctl: notice: %s%s: table type nis is not supported by tern; "
                        "%s is skipped\n", where, name, spec);
        else if (r < 0)
                problem(k, where, "%s: %s", name, error ? error : strerror(-r));
}

static void check_tables(Checker *k, const char *where, const char *name, const char *specs) {
        _cleanup_strv_free_ char **items = NULL;

        if (split_tables(specs, &items) < 0)
                return;
        for (char **i = items; *i; i++)
                check_table(k, where, name, *i);
}

/* Tables named in lists ("check_sender_access hash:/etc/tern/access", "mynetworks =
 * hash:/etc/tern/mynetworks"): the table types whose name is a file. */
static void check_list_tables(Checker *k, const char *where, const char *name,
                              const char *value) {
        static const char *const file_types[] = {
                "hash:", "btree:", "texthash:", "regexp:", "pcre:", "cidr:", "lmdb:",
        };
        _cleanup_strv_free_ char **items = NULL;

        if (split_tables(value, &items) < 0)
                return;
        for (char **i = items; *i; i++)
                for (size_t t = 0; t < ELEMENTSOF(file_types); t++)
                        if (startswith(*i, file_types[t]))
                                check_table(k, where, name, *i);
}

static int check_one(Config *c, const char *name, void *userdata) {
        Checker *k = userdata;
        const ConfigParam *p = config_param_find(name);
        _cleanup_strv_free_ char **undefined = NULL;
        _cleanup_free_ char *error = NULL;
        char where[4200];
        const char *raw, *v;
        int r;

        location(c, k, name, where, sizeof(where));
        raw = config_get_raw(c, name);

        if (!p) {
                if (config_name_is_referenced(c, name)) {
                        /* a user-defined name (restriction class, $name): check its tables */
                        r = config_expand(c, name, &v, &error);
                        if (r >= 0)
                                check_list_tables(k, where, name, v);
                        return 0;
                }
                _cleanup_strv_free_ char **hints = NULL;

                if (config_param_suggest(name, 1, &hints) >= 0 && hints[0])
                        problem(k, where, "unknown parameter '%s'; did you mean '%s'?", name,
                                hints[0]);
                else
                        problem(k, where, "unknown parameter '%s'", name);
                return 0;
        }

        if (p->status == CONFIG_STATUS_OBSOLETE)
                fprintf(stderr, "ternctl: notice: %s%s is accepted but has no effect in tern: %s\n",
                        where, name, p->note);

        r = config_expand_text(c, raw, NULL, &undefined, NULL);
        if (r >= 0)
                for (char **u = undefined; *u; u++)
                        problem(k, where, "%s: undefined parameter '$%s'", name, *u);

        r = config_expand(c, name, &v, &error);
        if (r < 0) {
                problem(k, where, "%s", error ? error : strerror(-r));
                return 0;
        }

        r = config_value_check(p->type, p->time_unit, v);
        if (r == -ERANGE)
                problem(k, where, "value out of range for parameter %s: %s", name, v);
        else if (r < 0)
                problem(k, where, "%s for parameter %s: %s", type_complaint(p->type), name, v);

        if (p->type == CONFIG_TYPE_MAPS)
                check_tables(k, where, name, v);
        else if (p->type == CONFIG_TYPE_LIST ||
                 (strlen(name) > 13 && streq(name + strlen(name) - 13, "_restrictions")))
                check_list_tables(k, where, name, v);
        return 0;
}

static int run_check(Config *c) {
        Checker k = { .file = config_file(c) ? config_file(c) : "main.cf" };
        int r;

        r = config_foreach_set(c, check_one, &k);
        if (r < 0) {
                fprintf(stderr, "ternctl: error: %s\n", strerror(-r));
                return EXIT_FAILURE;
        }
        return k.problems > 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* ---- -e and -# ---- */

static int run_edit(const char *dir, char **args, bool comment) {
        _cleanup_free_ char *path = NULL;
        int r;

        for (char **a = args; *a; a++) {
                _cleanup_free_ char *name = strndup(*a, strcspn(*a, " \t="));

                if (!name)
                        return EXIT_FAILURE;
                if (!config_param_find(name))
                        warn_unknown(name);
        }
        if (asprintf(&path, "%s/main.cf", dir) < 0)
                return EXIT_FAILURE;
        r = config_edit_file(path, args, comment);
        if (r == -EBADMSG) {
                fprintf(stderr, "ternctl: error: %s: bad assignment; expected 'name = value'\n",
                        comment ? "-#" : "-e");
                return EX_USAGE;
        }
        if (r < 0) {
                fprintf(stderr, "ternctl: error: %s: %s\n", path, strerror(-r));
                return EXIT_FAILURE;
        }
        return EXIT_SUCCESS;
}

int verb_config(int argc, char **argv) {
        enum { ARG_CHECK = 0x100, ARG_HELP };
        static const struct option options[] = {
                { "check", no_argument, NULL, ARG_CHECK },
                { "help", no_argument, NULL, ARG_HELP },
                {}
        };
        _cleanup_(config_freep) Config *c = NULL;
        _cleanup_strv_free_ char **overrides = NULL;
        _cleanup_free_ char *error = NULL;
        size_t n_overrides = 0;
        const char *dir = arg_config_dir;
        Options o = {};
        int opt, r;

        while ((opt = getopt_long(argc, argv, "c:ndxhe#o:", options, NULL)) >= 0)
                switch (opt) {
                case 'c':
                        dir = optarg;
                        break;
                case 'n':
                        o.set_only = true;
                        break;
                case 'd':
                        o.defaults = true;
                        break;
                case 'x':
                        o.expand = true;
                        break;
                case 'h':
                        o.value_only = true;
                        break;
                case 'e':
                        o.edit = true;
                        break;
                case '#':
                        o.comment = true;
                        break;
                case 'o': {
                        char **n = reallocarray(overrides, n_overrides + 2, sizeof(char *));

                        if (!n)
                                return EXIT_FAILURE;
                        overrides = n;
                        overrides[n_overrides] = strdup(optarg);
                        if (!overrides[n_overrides])
                                return EXIT_FAILURE;
                        overrides[++n_overrides] = NULL;
                        break;
                }
                case ARG_CHECK:
                        o.check = true;
                        break;
                case ARG_HELP:
                        help();
                        return EXIT_SUCCESS;
                default:
                        return EX_USAGE;
                }
        dir = config_dir_resolve(dir);

        if (o.edit + o.comment + o.check > 1 || (o.edit && o.defaults)) {
                fprintf(stderr, "ternctl: -e, -# and --check do not go together\n");
                return EX_USAGE;
        }
        if ((o.edit || o.comment) && optind >= argc) {
                fprintf(stderr, "ternctl: %s needs arguments\n", o.edit ? "-e" : "-#");
                return EX_USAGE;
        }
        if (o.edit || o.comment)
                return run_edit(dir, argv + optind, o.comment);

        r = config_new(&c);
        if (r < 0) {
                fprintf(stderr, "ternctl: error: %s\n", strerror(-r));
                return EXIT_FAILURE;
        }
        if (!o.defaults) {
                r = config_load_dir(c, dir, &error);
                if (r < 0) {
                        fprintf(stderr, "ternctl: error: %s\n", error ? error : strerror(-r));
                        return EXIT_FAILURE;
                }
        }
        for (size_t i = 0; i < n_overrides; i++) {
                r = config_set_override(c, overrides[i]);
                if (r < 0) {
                        fprintf(stderr, "ternctl: error: -o %s: expected name=value\n",
                                overrides[i]);
                        return EX_USAGE;
                }
        }

        if (o.check)
                return run_check(c);

        if (optind < argc) {
                bool failed = false;

                for (int i = optind; i < argc; i++)
                        if (print_one(c, argv[i], &o) < 0)
                                failed = true;
                return failed ? EXIT_FAILURE : EXIT_SUCCESS;
        }
        if (o.set_only) {
                r = config_foreach_set(c, print_set, &o);
                return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
        }

        size_t n;
        const ConfigParam *t = config_param_table(&n);

        bool failed = false;

        for (size_t i = 0; i < n; i++)
                if (print_one(c, t[i].name, &o) < 0)
                        failed = true;          /* reported; the listing goes on */
        return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
