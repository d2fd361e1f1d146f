/* SPDX-License-Identifier: GPL-3.0-or-later */
/* ternctl: option parsing common to every verb (-c DIR, -v) and the verb table. Invoked as
 * "newaliases" it is "ternctl alias build", as Postfix's newaliases is postalias on
 * alias_database. */
#include <getopt.h>
#include <libgen.h>
#include <sysexits.h>

#include "log.h"
#include "ternctl.h"
#include "tern-config.h"

const char *arg_config_dir = NULL;

static const struct {
        const char *name;
        int (*run)(int argc, char **argv);
        const char *help;
} verbs[] = {
        { "config", verb_config, "show or edit main.cf (postconf)" },
        { "map",    verb_map,    "build, query or dump a lookup table (postmap)" },
        { "alias",  verb_alias,  "build or query an aliases database (postalias, newaliases)" },
        { "queue",  verb_queue,  "list the mail queue (mailq, postqueue -p/-j)" },
        { "cat",    verb_cat,    "show a queued message (postcat -q)" },
        { "hold",   verb_hold,   "put messages on hold (postsuper -h)" },
        { "release", verb_release, "release held messages (postsuper -H)" },
        { "delete", verb_delete, "delete messages (postsuper -d)" },
        { "requeue", verb_requeue, "requeue messages (postsuper -r)" },
        { "flush",  verb_flush,  "retry deferred mail now (postqueue -f/-s)" },
        { "qshape", verb_qshape, "queue age by domain (qshape)" },
        { "trace",  verb_trace,  "a message's path through the log, by queue ID" },
        { "status", verb_status, "services, queue sizes, the oldest deferred message" },
};

static void help(void) {
        printf("Usage: ternctl [-c DIR] [-v] VERB [ARGS...]\n\n"
               "  -c DIR   configuration directory (default $TERN_CONFIG, else %s)\n"
               "  -v       verbose logging\n\nVerbs:\n", TERN_CONFIG_DIR);
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                printf("  %-8s %s\n", verbs[i].name, verbs[i].help);
        printf("\nSee 'ternctl VERB --help'.\n");
}

int main(int argc, char **argv) {
        const char *prog = basename(argv[0]);
        int c;

        log_set_ident("tern/ternctl");
        arg_config_dir = getenv("TERN_CONFIG");
        if (isempty(arg_config_dir))
                arg_config_dir = TERN_CONFIG_DIR;

        if (streq(prog, "newaliases")) {
                char *args[] = { (char *) "alias", (char *) "build", NULL };

                while ((c = getopt(argc, argv, "+c:vI")) >= 0)
                        switch (c) {
                        case 'c': arg_config_dir = optarg; break;
                        case 'v': log_set_max_level(LOG_DEBUG); break;
                        case 'I': break;        /* sendmail -bi compatibility */
                        default: return EX_USAGE;
                        }
                optind = 0;
                return verb_alias(2, args);
        }

        while ((c = getopt(argc, argv, "+c:vh")) >= 0)
                switch (c) {
                case 'c':
                        arg_config_dir = optarg;
                        break;
                case 'v':
                        log_set_max_level(LOG_DEBUG);
                        break;
                case 'h':
                        help();
                        return 0;
                default:
                        return EX_USAGE;
                }

        if (optind >= argc) {
                help();
                return EX_USAGE;
        }
        if (streq(argv[optind], "help") || streq(argv[optind], "--help")) {
                help();
                return 0;
        }

        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                if (streq(argv[optind], verbs[i].name)) {
                        int vargc = argc - optind;
                        char **vargv = argv + optind;

                        optind = 0;     /* the verb parses its own options from vargv[0] */
                        return verbs[i].run(vargc, vargv);
                }

        fprintf(stderr, "ternctl: unknown verb '%s'; see 'ternctl --help'\n", argv[optind]);
        return EX_USAGE;
}
