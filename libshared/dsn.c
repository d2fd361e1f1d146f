/* SPDX-License-Identifier: GPL-3.0-or-later */
/* dsn: see dsn.h. The texts are Postfix's, so that logs and bounces read as administrators know
 * them. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

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

static const DsnSysexit sysexits[] = {
        { EX_USAGE, "5.3.0", "command line usage error" },
        { EX_DATAERR, "5.6.0", "data format error" },
        { EX_NOINPUT, "5.3.0", "cannot open input" },
        { EX_NOUSER, "5.1.1", "user unknown" },
        { EX_NOHOST, "5.1.2", "host name unknown" },
        { EX_UNAVAILABLE, "5.3.0", "service unavailable" },
        { EX_SOFTWARE, "5.3.0", "internal software error" },
        { EX_OSERR, "4.3.0", "system resource problem" },
        { EX_OSFILE, "5.3.0", "critical OS file missing" },
        { EX_CANTCREAT, "5.2.0", "can't create user output file" },
        { EX_IOERR, "5.3.0", "input/output error" },
        { EX_TEMPFAIL, "4.3.0", "temporary failure" },
        { EX_PROTOCOL, "5.5.0", "remote error in protocol" },
        { EX_NOPERM, "5.7.0", "permission denied" },
        { EX_CONFIG, "5.3.5", "local configuration error" },
};

const DsnSysexit *dsn_from_sysexit(int code) {
        for (size_t i = 0; i < ELEMENTSOF(sysexits); i++)
                if (sysexits[i].code == code)
                        return &sysexits[i];
        return NULL;
}
