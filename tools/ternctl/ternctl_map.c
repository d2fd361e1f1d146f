/* SPDX-License-Identifier: GPL-3.0-or-later */
/* ternctl map (postmap) and ternctl alias (postalias, newaliases): build a hash: table from its
 * source file, query tables, dump them. The source files are the administrator's; a bad line is
 * an error naming the file and line and leaves the old database in place (the dict_gdbm builder
 * renames the new file over the old one only when everything went in). Keys are folded to lower
 * case unless -f, duplicates keep the first entry with a warning, as postmap does.
 *
 * Exit status: 0 success (a query found something), 1 a query found nothing or a build failed,
 * 2 a table could not be opened or read, EX_USAGE bad usage. For an administrator used to
 * Postfix, "ternctl map -q KEY FILE", "ternctl map -s FILE" and "ternctl map [-f] FILE" also work
 * (FILE with a '/' or a type: prefix; the same for alias). */
#include <getopt.h>
#include <sysexits.h>

#include "alias.h"
#include "config.h"
#include "dict.h"
#include "dict_gdbm.h"
#include "errmsg.h"
#include "log.h"
#include "ternctl.h"

#define MAP_TYPE_DEFAULT "hash"
#define MAP_EXIT_TABLE_ERROR 2
/* Longest key read from standard input by "query -". */
#define MAP_QUERY_KEY_MAX DICT_SOURCE_LINE_MAX

typedef enum MapKind {
        MAP_KIND_MAP,                   /* postmap: "key<TAB>value" */
        MAP_KIND_ALIAS,                 /* postalias: "key:<TAB>value" */
} MapKind;

static const char *kind_verb(MapKind kind) {
        return kind == MAP_KIND_ALIAS ? "alias" : "map";
}

static void usage(FILE *f, MapKind kind) {
        const char *v = kind_verb(kind);

        if (kind == MAP_KIND_ALIAS)
                fprintf(f,
                        "Usage: ternctl alias build [[type:]FILE...]\n"
                        "       ternctl alias query [-f] NAME|- [[type:]FILE...]\n"
                        "       ternctl alias dump [[type:]FILE...]\n"
                        "Without FILE: the tables in alias_database (main.cf).\n");
        else
                fprintf(f,
                        "Usage: ternctl %s build [-f] [type:]FILE...\n"
                        "       ternctl %s query [-f] KEY|- [type:]FILE...\n"
                        "       ternctl %s dump [type:]FILE...\n", v, v, v);
        fprintf(f, "  -f  do not fold keys to lower case; type defaults to %s\n",
                MAP_TYPE_DEFAULT);
}

static int usage_error(MapKind kind, const char *what) {
        fprintf(stderr, "ternctl %s: %s\n", kind_verb(kind), what);
        usage(stderr, kind);
        return EX_USAGE;
}

/* A table argument, "type:name" or a bare name (default_type). */
typedef struct MapTable {
        char *type;
        char *name;
        char *spec;                     /* "type:name" */
} MapTable;

static void map_table_done(MapTable *t) {
        free(t->type);
        free(t->name);
        free(t->spec);
}

static bool type_char(char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

static int map_table_parse(const char *arg, const char *default_type, MapTable *ret) {
        _cleanup_free_ char *type = NULL, *name = NULL, *spec = NULL;
        const char *colon = strchr(arg, ':'), *p;

        for (p = arg; colon && p < colon && type_char(*p); p++)
                ;
        if (colon && p == colon && p > arg) {
                type = strndup(arg, (size_t) (colon - arg));
                name = strdup(colon + 1);
        } else {
                type = strdup(default_type);
                name = strdup(arg);
        }
        if (!type || !name)
                return -ENOMEM;
        if (asprintf(&spec, "%s:%s", type, name) < 0)
                return -ENOMEM;

        *ret = (MapTable) {
                .type = TAKE_PTR(type),
                .name = TAKE_PTR(name),
                .spec = TAKE_PTR(spec),
        };
        return 0;
}

static int log_oom(void) {
        return log_error_errno(-ENOMEM, "out of memory");
}

static void ascii_lower(char *s) {
        for (; *s; s++)
                if (*s >= 'A' && *s <= 'Z')
                        *s = (char) (*s - 'A' + 'a');
}

static const char *sanitize(char *buf, size_t size, const char *s) {
        return log_sanitize(buf, size, s, strlen(s), LOG_SANITIZE_MAX);
}

/* The configuration, for alias_database and default_database_type. */
static int load_config(Config **ret) {
        _cleanup_(config_freep) Config *c = NULL;
        _cleanup_free_ char *error = NULL;
        int r;

        r = config_new(&c);
        if (r < 0)
                return log_error_errno(r, "cannot set up the configuration: %m");
        r = config_load_dir(c, arg_config_dir, &error);
        if (r < 0) {
                if (error)
                        return log_error_errno(r, "%s", error);
                return log_error_errno(r, "%s/main.cf: cannot read: %m", arg_config_dir);
        }
        *ret = TAKE_PTR(c);
        return 0;
}

/* postmap: builds NAME.db from NAME. */
typedef struct MapBuild {
        const char *path;
        DictBuilder *builder;
        bool fold;
        char *error;
} MapBuild;

static int map_build_entry(const char *key, const char *value, unsigned line, void *userdata) {
        char sane[LOG_SANITIZE_BUFSIZE];
        _cleanup_free_ char *k = NULL;
        MapBuild *b = userdata;
        int r;

        k = strdup(key);
        if (!k)
                return -ENOMEM;
        if (b->fold)
                ascii_lower(k);

        r = dict_builder_add(b->builder, k, value);
        if (r == -EEXIST) {
                log_warning("%s, line %u: duplicate entry: \"%s\", ignored", b->path, line,
                            sanitize(sane, sizeof sane, k));
                return 0;
        }
        if (r < 0)
                return errmsg_set(&b->error, r, "%s, line %u: cannot store the entry: %s",
                                  b->path, line, strerror(-r));
        return 0;
}

static int map_build_hash(const MapTable *t, bool fold) {
        _cleanup_(dict_builder_freep) DictBuilder *builder = NULL;
        _cleanup_free_ char *db = NULL, *error = NULL;
        MapBuild b = { .path = t->name, .fold = fold };
        int r;

        if (asprintf(&db, "%s.db", t->name) < 0)
                return log_oom();

        r = dict_builder_new(db, &builder);
        if (r < 0)
                return log_error_errno(r, "%s: cannot create: %m", db);
        b.builder = builder;

        r = dict_source_read(t->name, /* colon_key= */ false, map_build_entry, &b, &error);
        if (r < 0) {
                const char *msg = b.error ? b.error : error;

                if (msg)
                        log_error("%s; %s not changed", msg, db);
                else
                        log_error_errno(r, "%s: %m; %s not changed", t->name, db);
                free(b.error);
                return r;
        }

        r = dict_builder_commit(builder);
        if (r < 0)
                return log_error_errno(r, "%s: cannot commit: %m", db);
        log_debug("%s: built from %s", db, t->name);
        return 0;
}

static int alias_build_hash(const MapTable *t) {
        _cleanup_free_ char *db = NULL, *error = NULL;
        _cleanup_strv_free_ char **warnings = NULL;
        int r;

        if (asprintf(&db, "%s.db", t->name) < 0)
                return log_oom();

        r = alias_build(t->name, db, &warnings, &error);
        for (char **w = warnings; w && *w; w++)
                log_warning("%s, ignored", *w);
        if (r < 0) {
                if (error)
                        return log_error_errno(r, "%s; %s not changed", error, db);
                return log_error_errno(r, "%s: %m; %s not changed", t->name, db);
        }
        log_debug("%s: built from %s", db, t->name);
        return 0;
}

static int build_one(MapKind kind, const char *arg, const char *default_type, bool fold) {
        _cleanup_(map_table_done) MapTable t = {};
        int r;

        r = map_table_parse(arg, default_type, &t);
        if (r < 0)
                return log_oom();
        if (!streq(t.type, "hash")) {
                log_error("%s: type %s: nothing to build", arg, t.type);
                return -EOPNOTSUPP;
        }
        if (isempty(t.name)) {
                log_error("%s: no file name", arg);
                return -EINVAL;
        }
        return kind == MAP_KIND_ALIAS ? alias_build_hash(&t) : map_build_hash(&t, fold);
}

/* "alias build" without files: every hash: table in alias_database (newaliases). */
static int alias_build_configured(void) {
        _cleanup_(config_freep) Config *c = NULL;
        _cleanup_strv_free_ char **tables = NULL;
        const char *default_type;
        int r, ret = 0;

        r = load_config(&c);
        if (r < 0)
                return 1;
        r = config_get_list(c, "alias_database", &tables);
        if (r < 0) {
                log_error_errno(r, "alias_database: bad value: %m");
                return 1;
        }
        default_type = config_get(c, "default_database_type");
        if (isempty(default_type))
                default_type = MAP_TYPE_DEFAULT;

        for (char **t = tables; *t; t++) {
                _cleanup_(map_table_done) MapTable mt = {};

                r = map_table_parse(*t, default_type, &mt);
                if (r < 0) {
                        (void) log_oom();
                        return 1;
                }
                if (!streq(mt.type, "hash")) {
                        log_notice("alias_database: %s: type %s: nothing to build, skipped",
                                   *t, mt.type);
                        continue;
                }
                r = alias_build_hash(&mt);
                if (r < 0)
                        ret = 1;
        }
        return ret;
}

/* Opens every table argument. Prints the error and returns < 0 on failure. */
typedef struct MapTables {
        Dict **dicts;
        size_t n;
} MapTables;

static void map_tables_done(MapTables *m) {
        for (size_t i = 0; i < m->n; i++)
                dict_free(m->dicts[i]);
        free(m->dicts);
}

static int map_tables_open(char **args, size_t n, const char *default_type, bool fold,
                           MapTables *ret) {
        _cleanup_(map_tables_done) MapTables m = {};
        int r;

        m.dicts = calloc(n ? n : 1, sizeof(Dict *));
        if (!m.dicts)
                return log_oom();
        for (size_t i = 0; i < n; i++) {
                _cleanup_(map_table_done) MapTable t = {};
                _cleanup_free_ char *error = NULL;

                r = map_table_parse(args[i], default_type, &t);
                if (r < 0)
                        return log_oom();
                r = dict_open(t.spec, fold ? DICT_FLAG_FOLD_CASE : DICT_FLAG_NONE,
                              &m.dicts[m.n], &error);
                if (r < 0) {
                        if (error)
                                return log_error_errno(r, "%s", error);
                        return log_error_errno(r, "%s: cannot open: %m", t.spec);
                }
                m.n++;
        }
        *ret = m;
        m = (MapTables) {};
        return 0;
}

/* 1 with the first table's answer, 0 none, < 0 an error (printed). */
static int map_tables_lookup(MapTables *m, const char *key, char **ret) {
        int r;

        for (size_t i = 0; i < m->n; i++) {
                r = dict_lookup(m->dicts[i], key, ret);
                if (r < 0)
                        return log_error_errno(r, "%s: lookup error: %m", m->dicts[i]->spec);
                if (r > 0)
                        return 1;
        }
        return 0;
}

static int query(MapKind kind, const char *key, char **args, size_t n, const char *default_type,
                 bool fold) {
        _cleanup_(map_tables_done) MapTables m = {};
        _cleanup_free_ char *line = NULL;
        size_t size = 0;
        bool found = false;
        ssize_t len;
        int r;

        r = map_tables_open(args, n, default_type, fold, &m);
        if (r < 0)
                return MAP_EXIT_TABLE_ERROR;

        if (!streq(key, "-")) {
                _cleanup_free_ char *value = NULL;

                r = map_tables_lookup(&m, key, &value);
                if (r < 0)
                        return MAP_EXIT_TABLE_ERROR;
                if (r == 0)
                        return 1;
                printf("%s\n", value);
                return fflush(stdout) == 0 ? 0 : MAP_EXIT_TABLE_ERROR;
        }

        while ((len = getline(&line, &size, stdin)) >= 0) {
                _cleanup_free_ char *value = NULL;

                if (len > 0 && line[len - 1] == '\n')
                        line[--len] = '\0';
                if ((size_t) len > MAP_QUERY_KEY_MAX) {
                        log_error("standard input: key longer than %u bytes",
                                  (unsigned) MAP_QUERY_KEY_MAX);
                        return MAP_EXIT_TABLE_ERROR;
                }
                if (len == 0)
                        continue;
                r = map_tables_lookup(&m, line, &value);
                if (r < 0)
                        return MAP_EXIT_TABLE_ERROR;
                if (r == 0)
                        continue;
                found = true;
                printf(kind == MAP_KIND_ALIAS ? "%s:\t%s\n" : "%s\t%s\n", line, value);
        }
        if (ferror(stdin)) {
                log_error_errno(-EIO, "standard input: read error");
                return MAP_EXIT_TABLE_ERROR;
        }
        if (fflush(stdout) != 0)
                return MAP_EXIT_TABLE_ERROR;
        return found ? 0 : 1;
}

static int dump_entry(const char *key, const char *value, void *userdata) {
        const MapKind *kind = userdata;

        printf(*kind == MAP_KIND_ALIAS ? "%s:\t%s\n" : "%s\t%s\n", key, value);
        return 0;
}

static int dump(MapKind kind, char **args, size_t n, const char *default_type) {
        _cleanup_(map_tables_done) MapTables m = {};
        int r;

        r = map_tables_open(args, n, default_type, /* fold= */ true, &m);
        if (r < 0)
                return MAP_EXIT_TABLE_ERROR;
        for (size_t i = 0; i < m.n; i++) {
                Dict *d = m.dicts[i];

                if (!d->type->iterate) {
                        log_error("%s: type %s cannot be dumped", d->spec, d->type->name);
                        return MAP_EXIT_TABLE_ERROR;
                }
                r = d->type->iterate(d, dump_entry, &kind);
                if (r < 0) {
                        log_error_errno(r, "%s: read error: %m", d->spec);
                        return MAP_EXIT_TABLE_ERROR;
                }
        }
        return fflush(stdout) == 0 ? 0 : MAP_EXIT_TABLE_ERROR;
}

/* With no table argument, alias query and dump use alias_database. */
static int configured_alias_tables(char ***ret) {
        _cleanup_(config_freep) Config *c = NULL;
        int r;

        r = load_config(&c);
        if (r < 0)
                return r;
        r = config_get_list(c, "alias_database", ret);
        if (r < 0)
                return log_error_errno(r, "alias_database: bad value: %m");
        return 0;
}

typedef enum MapCommand {
        MAP_COMMAND_BUILD,
        MAP_COMMAND_QUERY,
        MAP_COMMAND_DUMP,
} MapCommand;

static int run(MapKind kind, MapCommand cmd, const char *key, char **args, size_t n, bool fold) {
        _cleanup_strv_free_ char **configured = NULL;
        int r, ret = 0;

        if (n == 0 && kind == MAP_KIND_ALIAS) {
                if (cmd == MAP_COMMAND_BUILD)
                        return alias_build_configured();
                r = configured_alias_tables(&configured);
                if (r < 0)
                        return MAP_EXIT_TABLE_ERROR;
                args = configured;
                while (args[n])
                        n++;
                if (n == 0) {
                        log_error("alias_database is empty: name a table");
                        return MAP_EXIT_TABLE_ERROR;
                }
        }

        switch (cmd) {
        case MAP_COMMAND_BUILD:
                for (size_t i = 0; i < n; i++)
                        if (build_one(kind, args[i], MAP_TYPE_DEFAULT, fold) < 0)
                                ret = 1;
                return ret;
        case MAP_COMMAND_QUERY:
                return query(kind, key, args, n, MAP_TYPE_DEFAULT, fold);
        case MAP_COMMAND_DUMP:
                return dump(kind, args, n, MAP_TYPE_DEFAULT);
        }
        return EX_SOFTWARE;
}

/* "ternctl map -q KEY FILE", "-s FILE", "[-f] FILE...": postmap's own options. */
static int run_postfix_style(MapKind kind, int argc, char **argv) {
        MapCommand cmd = MAP_COMMAND_BUILD;
        const char *key = NULL;
        bool fold = true;
        int c;

        optind = 0;
        while ((c = getopt(argc, argv, "+fq:s")) >= 0)
                switch (c) {
                case 'f':
                        fold = false;
                        break;
                case 'q':
                        cmd = MAP_COMMAND_QUERY;
                        key = optarg;
                        break;
                case 's':
                        cmd = MAP_COMMAND_DUMP;
                        break;
                default:
                        usage(stderr, kind);
                        return EX_USAGE;
                }
        if (kind == MAP_KIND_ALIAS && cmd == MAP_COMMAND_BUILD && !fold)
                return usage_error(kind, "alias names are always folded (no -f)");
        if (optind >= argc && (kind == MAP_KIND_MAP || cmd == MAP_COMMAND_QUERY))
                return usage_error(kind, "missing table");
        return run(kind, cmd, key, argv + optind, (size_t) (argc - optind), fold);
}

static int verb_run(MapKind kind, int argc, char **argv) {
        static const char *const commands[] = {
                [MAP_COMMAND_BUILD] = "build",
                [MAP_COMMAND_QUERY] = "query",
                [MAP_COMMAND_DUMP] = "dump",
        };
        MapCommand cmd = MAP_COMMAND_BUILD;
        const char *key = NULL;
        bool fold = true, found = false;
        int c, sargc;
        char **sargv;

        if (argc < 2)
                return usage_error(kind, "missing command");
        if (streq(argv[1], "-h") || streq(argv[1], "--help") || streq(argv[1], "help")) {
                usage(stdout, kind);
                return 0;
        }
        /* postmap's options, or a path where a command would be: "ternctl map /etc/x" */
        if (argv[1][0] == '-' || strpbrk(argv[1], "/:"))
                return run_postfix_style(kind, argc, argv);

        for (size_t i = 0; i < ELEMENTSOF(commands); i++)
                if (streq(argv[1], commands[i])) {
                        cmd = (MapCommand) i;
                        found = true;
                }
        if (!found) {
                char sane[LOG_SANITIZE_BUFSIZE];

                fprintf(stderr, "ternctl %s: unknown command '%s'\n", kind_verb(kind),
                        sanitize(sane, sizeof sane, argv[1]));
                usage(stderr, kind);
                return EX_USAGE;
        }

        /* The command name stands in for argv[0] of its own option parsing. */
        sargc = argc - 1;
        sargv = argv + 1;
        optind = 0;
        while ((c = getopt(sargc, sargv, "+fh")) >= 0)
                switch (c) {
                case 'f':
                        fold = false;
                        break;
                case 'h':
                        usage(stdout, kind);
                        return 0;
                default:
                        usage(stderr, kind);
                        return EX_USAGE;
                }

        if (kind == MAP_KIND_ALIAS && cmd == MAP_COMMAND_BUILD && !fold)
                return usage_error(kind, "build: alias names are always folded (no -f)");
        if (cmd == MAP_COMMAND_QUERY) {
                if (optind >= sargc)
                        return usage_error(kind, "query: missing key");
                key = sargv[optind++];
        }
        if (optind >= sargc && kind == MAP_KIND_MAP)
                return usage_error(kind, "missing table");
        return run(kind, cmd, key, sargv + optind, (size_t) (sargc - optind), fold);
}

int verb_map(int argc, char **argv) {
        return verb_run(MAP_KIND_MAP, argc, argv);
}

int verb_alias(int argc, char **argv) {
        return verb_run(MAP_KIND_ALIAS, argc, argv);
}
