/* SPDX-License-Identifier: GPL-3.0-or-later */
/* parse: numbers, sizes, times and booleans from untrusted text, with Postfix's syntax for
 * main.cf values. No strtol/atoi anywhere else (STYLE.md §7). Every function is pure. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "macro.h"

/* Decimal digits only (no sign, no white space, no leading '+'). Returns 0, -EBADMSG on bad
 * syntax or empty input, -ERANGE on overflow. */
int parse_uint64(const char *s, uint64_t *ret);
/* The same on (p, n) bytes that need not be NUL-terminated. */
int parse_uint64_n(const char *p, size_t n, uint64_t *ret);
/* Signed: an optional '-' then digits. Postfix's int parameters accept negatives for a few. */
int parse_int64(const char *s, int64_t *ret);
/* A byte count as Postfix reads size parameters (message_size_limit): decimal digits, no unit
 * suffix ("10M" is an error, as postconf reports it). */
int parse_size(const char *s, uint64_t *ret);
/* A time as Postfix reads time parameters: digits with an optional unit s, m, h, d or w
 * (case-insensitive); without a unit default_unit applies ('s', 'm', 'h', 'd' or 'w').
 * Returns seconds. */
int parse_time(const char *s, char default_unit, uint64_t *ret);
/* Postfix booleans: "yes" or "no", case-insensitive. Returns 0, -EBADMSG otherwise. */
int parse_bool(const char *s, bool *ret);
