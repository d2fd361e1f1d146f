/* SPDX-License-Identifier: GPL-3.0-or-later */
/* dsn: see dsn.h. The texts are Postfix's, so that logs and bounces read as administrators know
 * them. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dsn.h"
#include "macro.h"

static const struct {
        int error;
        DsnReply reply;
} dsn_table[] = {
        { ENOSPC,   { 452, "4.3.1", "Insufficient system storage" } },
        { EDQUOT,   { 452, "4.3.1", "Insufficient system storage" } },
        { EMSGSIZE, { 552, "5.3.4", "Message size exceeds fixed limit" } },
        { ELOOP,    { 554, "5.4.0", "Error: too many hops" } },
        { EBADMSG,  { 550, "5.5.2", "Error: bare <LF> received" } },
        { E2BIG,    { 452, "4.5.3", "Error: too many recipients" } },
        { ENOMEM,   { 451, "4.3.0", "Error: insufficient memory" } },
};

static const DsnReply dsn_default = { 451, "4.3.0", "Error: queue file write error" };

const DsnReply *dsn_from_errno(int error) {
        error = abs(error);
        for (size_t i = 0; i < ELEMENTSOF(dsn_table); i++)
                if (dsn_table[i].error == error)
                        return &dsn_table[i].reply;
        return &dsn_default;
}

/* One to three digits, no leading zero unless the number is 0. */
static const char *number(const char *p) {
        size_t n = strspn(p, "0123456789");

        if (n == 0 || n > 3 || (n > 1 && p[0] == '0'))
                return NULL;
        return p + n;
}

bool dsn_status_is_valid(const char *s) {
        if (!s || (s[0] != '2' && s[0] != '4' && s[0] != '5') || s[1] != '.')
                return false;
        s = number(s + 2);
        if (!s || *s != '.')
                return false;
        s = number(s + 1);
        return s && *s == '\0';
}
