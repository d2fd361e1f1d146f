/* SPDX-License-Identifier: GPL-3.0-or-later */
/* parse: bounded conversions of untrusted text to numbers. */
#include <strings.h>

#include "parse.h"

int parse_uint64_n(const char *p, size_t n, uint64_t *ret) {
        uint64_t v = 0;

        if (n == 0)
                return -EBADMSG;
        for (size_t i = 0; i < n; i++) {
                if (p[i] < '0' || p[i] > '9')
                        return -EBADMSG;
                if (__builtin_mul_overflow(v, 10, &v) ||
                    __builtin_add_overflow(v, (uint64_t) (p[i] - '0'), &v))
                        return -ERANGE;
        }
        *ret = v;
        return 0;
}

int parse_uint64(const char *s, uint64_t *ret) {
        return parse_uint64_n(s, strlen(s), ret);
}

int parse_int64(const char *s, int64_t *ret) {
        bool neg = s[0] == '-';
        uint64_t u;
        int r;

        r = parse_uint64(s + neg, &u);
        if (r < 0)
                return r;
        if (neg) {
                if (u > (uint64_t) INT64_MAX + 1)
                        return -ERANGE;
                *ret = u == (uint64_t) INT64_MAX + 1 ? INT64_MIN : -(int64_t) u;
        } else {
                if (u > INT64_MAX)
                        return -ERANGE;
                *ret = (int64_t) u;
        }
        return 0;
}

int parse_size(const char *s, uint64_t *ret) {
        return parse_uint64(s, ret);
}

static int unit_seconds(char unit, uint64_t *ret) {
        switch (unit) {
        case 's': case 'S': *ret = 1; return 0;
        case 'm': case 'M': *ret = 60; return 0;
        case 'h': case 'H': *ret = 3600; return 0;
        case 'd': case 'D': *ret = 86400; return 0;
        case 'w': case 'W': *ret = 604800; return 0;
        default: return -EBADMSG;
        }
}

int parse_time(const char *s, char default_unit, uint64_t *ret) {
        size_t n = strlen(s);
        uint64_t v, mult;
        char unit = default_unit;
        int r;

        if (n > 1 && !(s[n - 1] >= '0' && s[n - 1] <= '9')) {
                unit = s[n - 1];
                n--;
        }
        r = unit_seconds(unit, &mult);
        if (r < 0)
                return r;
        r = parse_uint64_n(s, n, &v);
        if (r < 0)
                return r;
        if (__builtin_mul_overflow(v, mult, &v))
                return -ERANGE;
        *ret = v;
        return 0;
}

int parse_bool(const char *s, bool *ret) {
        if (strcasecmp(s, "yes") == 0)
                *ret = true;
        else if (strcasecmp(s, "no") == 0)
                *ret = false;
        else
                return -EBADMSG;
        return 0;
}
