/* SPDX-License-Identifier: GPL-3.0-or-later */
/* dict_unix: the "unix:" table type, the system's user and group databases through NSS:
 * unix:passwd.byname answers "name:passwd:uid:gid:gecos:dir:shell" (getpwnam_r), and
 * unix:group.byname answers "name:passwd:gid:member,member" (getgrnam_r), as Postfix's unix:
 * table does. Keys (user names from addresses) are only passed to NSS; answers are bounded by
 * the buffer limit below. */
#include <grp.h>
#include <pwd.h>

#include "buf.h"
#include "dict.h"
#include "dict_types.h"
#include "errmsg.h"

/* Bound on the NSS buffer (a group with very many members); the answer is an error beyond. */
#define DICT_UNIX_BUFFER_MAX (1024 * 1024)

typedef enum UnixMap {
        UNIX_PASSWD,
        UNIX_GROUP,
} UnixMap;

typedef struct DictUnix {
        Dict head;
        UnixMap map;
} DictUnix;

static void unix_free(Dict *d) {
        if (!d)
                return;
        dict_head_done(d);
        free(d);
}

static int unix_open(const char *name, DictFlags flags, Dict **ret, char **ret_error) {
        _cleanup_(dict_freep) Dict *d = NULL;
        DictUnix *u;
        int r;

        u = calloc(1, sizeof(*u));
        if (!u)
                return -ENOMEM;
        u->head.type = &dict_unix_type;
        d = &u->head;

        if (streq(name, "passwd.byname"))
                u->map = UNIX_PASSWD;
        else if (streq(name, "group.byname"))
                u->map = UNIX_GROUP;
        else
                return errmsg_set(ret_error, -EPROTONOSUPPORT,
                                  "unix:%s: unknown map (passwd.byname, group.byname)", name);

        r = dict_head_init(d, &dict_unix_type, name, flags & ~DICT_FLAG_PATTERN);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(d);
        return 0;
}

static int unix_format_passwd(const struct passwd *pw, char **ret) {
        if (asprintf(ret, "%s:%s:%ld:%ld:%s:%s:%s", pw->pw_name, strempty(pw->pw_passwd),
                     (long) pw->pw_uid, (long) pw->pw_gid, strempty(pw->pw_gecos),
                     strempty(pw->pw_dir), strempty(pw->pw_shell)) < 0)
                return -ENOMEM;
        return 0;
}

static int unix_format_group(const struct group *gr, char **ret) {
        _cleanup_(buf_done) Buf b = BUF_INIT(BUF_MAX_UNBOUNDED);
        int r;

        r = buf_printf(&b, "%s:%s:%ld:", gr->gr_name, strempty(gr->gr_passwd), (long) gr->gr_gid);
        for (char **m = gr->gr_mem; r >= 0 && m && *m; m++)
                r = buf_printf(&b, "%s%s", m == gr->gr_mem ? "" : ",", *m);
        if (r < 0)
                return r;
        *ret = buf_steal(&b);
        return *ret ? 0 : -ENOMEM;
}

static int unix_lookup(Dict *d, const char *key, char **ret_value) {
        DictUnix *u = (DictUnix *) d;
        size_t size = 4096;
        int r;

        /* No account or group name has an '@' (useradd, groupadd and systemd-userdb refuse it):
         * an address key (local_recipient_maps tries "user@domain" first) is answered here
         * rather than by a walk through every NSS module. Nor does one have a '/' or a control
         * byte. */
        if (*key == '\0' || strpbrk(key, "@/\n\r"))
                return 0;

        for (;;) {
                _cleanup_free_ char *buffer = malloc(size);
                struct passwd pw, *pwp = NULL;
                struct group gr, *grp = NULL;

                if (!buffer)
                        return -ENOMEM;
                if (u->map == UNIX_PASSWD)
                        r = getpwnam_r(key, &pw, buffer, size, &pwp);
                else
                        r = getgrnam_r(key, &gr, buffer, size, &grp);
                if (r == ERANGE) {
                        if (size >= DICT_UNIX_BUFFER_MAX)
                                return -E2BIG;
                        size *= 2;
                        continue;
                }
                /* "not found" may come back as 0 with a NULL result, or as ENOENT/ESRCH/EBADF/
                 * EPERM from some NSS modules (see getpwnam_r(3)) */
                if (r == ENOENT || r == ESRCH || r == EBADF || r == EPERM)
                        return 0;
                if (r != 0)
                        return -r;
                if (u->map == UNIX_PASSWD) {
                        if (!pwp)
                                return 0;
                        r = unix_format_passwd(pwp, ret_value);
                } else {
                        if (!grp)
                                return 0;
                        r = unix_format_group(grp, ret_value);
                }
                return r < 0 ? r : 1;
        }
}

const DictType dict_unix_type = {
        .name = "unix",
        .open = unix_open,
        .lookup = unix_lookup,
        .free = unix_free,
};
