/* SPDX-License-Identifier: GPL-3.0-or-later */
/* ternctl: the administrator's tool (postconf, postmap, postalias, and the queue tools).
 * Each verb is a function taking the arguments after the verb name (argv[0] is the verb) and
 * returning the process exit status (0 success, 1 failure or warnings found, EX_USAGE for
 * bad usage). Verbs print their own errors, naming the file and line where there is one. */
#pragma once

/* The configuration directory: -c DIR, else $TERN_CONFIG, else TERN_CONFIG_DIR. */
extern const char *arg_config_dir;

int verb_config(int argc, char **argv);         /* ternctl_config.c */
int verb_map(int argc, char **argv);            /* ternctl_map.c */
int verb_alias(int argc, char **argv);          /* ternctl_map.c */

/* ternctl_queue.c: the queue verbs (mailq, postcat, postsuper, postqueue, qshape). */
int verb_queue(int argc, char **argv);
int verb_cat(int argc, char **argv);
int verb_hold(int argc, char **argv);
int verb_release(int argc, char **argv);
int verb_delete(int argc, char **argv);
int verb_requeue(int argc, char **argv);
int verb_flush(int argc, char **argv);
int verb_qshape(int argc, char **argv);
int verb_trace(int argc, char **argv);
int verb_status(int argc, char **argv);
