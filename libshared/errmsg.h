/* SPDX-License-Identifier: GPL-3.0-or-later */
/* errmsg: the human half of an error that a library function hands up with its negative errno:
 * a malloc'd message naming what is wrong ("/etc/tern/main.cf, line 4: ..."), which the caller
 * prints or logs once. libshared never prints (STYLE.md §1.6), so this is how a parser tells an
 * administrator which file and line to fix. */
#pragma once

#include <stdarg.h>

#include "macro.h"

/* When ret_error is not NULL, replaces *ret_error with the formatted message (left NULL when out of
 * memory). Returns error, so that "return errmsg_set(ret_error, -EBADMSG, ...)" reads naturally. */
int errmsg_set(char **ret_error, int error, const char *fmt, ...) _printf_(3, 4);
