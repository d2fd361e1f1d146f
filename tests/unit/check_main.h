/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The main() of every Check unit suite: runs the suite, prints Check's summary, exits non-zero on
 * any failure. TMPDIR is honoured by the tests that need a directory. */
#pragma once

#include <check.h>
#include <stdlib.h>

#include "log.h"

#define TERN_CHECK_MAIN(suite_fn)                                               \
        int main(void) {                                                        \
                SRunner *sr = srunner_create(suite_fn());                       \
                int failed;                                                     \
                                                                                \
                log_set_max_level(LOG_DEBUG);                                   \
                srunner_run_all(sr, CK_NORMAL);                                 \
                failed = srunner_ntests_failed(sr);                             \
                srunner_free(sr);                                               \
                return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;               \
        }
