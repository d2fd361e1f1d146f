/* SPDX-License-Identifier: GPL-3.0-or-later */
/* errmsg: formatted error messages for the caller to report. */
#include <stdio.h>

#include "errmsg.h"

int errmsg_set(char **ret_error, int error, const char *fmt, ...) {
        char *s = NULL;
        va_list ap;

        if (!ret_error)
                return error;

        va_start(ap, fmt);
        if (vasprintf(&s, fmt, ap) < 0)
                s = NULL;
        va_end(ap);

        free(*ret_error);
        *ret_error = s;
        return error;
}
