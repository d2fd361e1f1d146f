/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Fuzzes regexp: tables (dict_pattern.c with the POSIX regex engine); the input format and the invariants
 * are in fuzz_dict_pattern.h, shared with the other pattern engine. */
#define FUZZ_DICT_PATTERN_TYPE DICT_PATTERN_REGEXP
#include "fuzz_dict_pattern.h"
