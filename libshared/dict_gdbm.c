/* SPDX-License-Identifier: GPL-3.0-or-later */
/* dict_gdbm: the "hash:" table type on GDBM files, and the builder that writes them (the only
 * module that includes gdbm.h). hash:NAME reads NAME.db, opened read-only without locks
 * (GDBM_READER | GDBM_NOLOCK) so that any number of readers share it; builders never write
 * NAME.db in place but rename a complete, fsync'd file over it. Before each lookup the reader
 * stat()s NAME.db and reopens it when its inode, device, size or mtime changed, so a rebuilt
 * table is seen at once. Keys and values carry their terminating NUL, as Postfix writes them.
 * The file's content is trusted as far as GDBM parses it; values are checked for the NUL. */
#include <fcntl.h>
#include <gdbm.h>
#include <libgen.h>
#include <limits.h>
#include <sys/stat.h>

#include "dict_gdbm.h"
#include "dict_types.h"
#include "errmsg.h"

typedef struct DictGdbm {
        Dict head;
        char *path;                     /* NAME.db */
        GDBM_FILE dbf;
        struct stat st;                 /* of the file dbf reads */
} DictGdbm;

/* Maps a GDBM failure to an errno: the system error when GDBM reports one, else -EIO. */
static int gdbm_to_errno(int saved_errno) {
        if (gdbm_check_syserr(gdbm_errno) && saved_errno > 0)
                return -saved_errno;
        return -EIO;
}

/* Opens path read-only; on success *ret_dbf and *ret_st describe the file opened. */
static int gdbm_open_reader(const char *path, GDBM_FILE *ret_dbf, struct stat *ret_st,
                            char **ret_error) {
        _cleanup_close_ int fd = -EBADF;
        GDBM_FILE dbf;
        struct stat st;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return errmsg_set(ret_error, -errno, "cannot open %s: %m", path);
        if (fstat(fd, &st) < 0)
                return errmsg_set(ret_error, -errno, "cannot stat %s: %m", path);
        if (S_ISDIR(st.st_mode))
                return errmsg_set(ret_error, -EISDIR, "cannot read %s: is a directory", path);

        dbf = gdbm_fd_open(fd, path, 0, GDBM_READER | GDBM_NOLOCK | GDBM_CLOEXEC, NULL);
        if (!dbf) {
                int r = gdbm_to_errno(errno);

                return errmsg_set(ret_error, r == -EIO ? -EBADMSG : r,
                                  "%s: not a valid database: %s", path,
                                  gdbm_strerror(gdbm_errno));
        }
        TAKE_FD(fd);            /* owned by dbf now */

        *ret_dbf = dbf;
        *ret_st = st;
        return 0;
}

static void gdbm_dict_free(Dict *d) {
        DictGdbm *g = (DictGdbm *) d;

        if (!g)
                return;
        if (g->dbf)
                gdbm_close(g->dbf);
        free(g->path);
        dict_head_done(&g->head);
        free(g);
}

static int gdbm_dict_open(const char *name, DictFlags flags, Dict **ret, char **ret_error) {
        _cleanup_(dict_freep) Dict *d = NULL;
        DictGdbm *g;
        int r;

        if (isempty(name))
                return errmsg_set(ret_error, -EBADMSG, "hash: needs a file name");

        g = calloc(1, sizeof(*g));
        if (!g)
                return -ENOMEM;
        g->head.type = &dict_gdbm_type;
        d = &g->head;

        r = dict_head_init(d, &dict_gdbm_type, name, flags & ~DICT_FLAG_PATTERN);
        if (r < 0)
                return r;
        if (asprintf(&g->path, "%s.db", name) < 0) {
                g->path = NULL;
                return -ENOMEM;
        }
        r = gdbm_open_reader(g->path, &g->dbf, &g->st, ret_error);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(d);
        return 0;
}

/* Reopens NAME.db when it was replaced or changed. A failure keeps the old file (a table being
 * replaced or briefly missing is not a reason to stop answering). */
static void gdbm_refresh(DictGdbm *g) {
        GDBM_FILE dbf;
        struct stat st;

        if (stat(g->path, &st) < 0)
                return;
        if (st.st_ino == g->st.st_ino && st.st_dev == g->st.st_dev &&
            st.st_size == g->st.st_size && st.st_mtim.tv_sec == g->st.st_mtim.tv_sec &&
            st.st_mtim.tv_nsec == g->st.st_mtim.tv_nsec)
                return;
        if (gdbm_open_reader(g->path, &dbf, &st, /* ret_error= */ NULL) < 0)
                return;
        gdbm_close(g->dbf);
        g->dbf = dbf;
        g->st = st;
}

/* Copies a datum that should end in NUL into a C string. -EBADMSG when it holds a NUL inside. */
static int datum_to_string(datum v, char **ret) {
        size_t n;
        char *s;

        if (v.dsize < 0)
                return -EBADMSG;
        n = (size_t) v.dsize;
        if (n > 0 && v.dptr[n - 1] == '\0')
                n--;
        if (memchr(v.dptr, '\0', n))
                return -EBADMSG;
        s = strndup(v.dptr, n);
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

static int gdbm_dict_lookup(Dict *d, const char *key, char **ret_value) {
        DictGdbm *g = (DictGdbm *) d;
        _cleanup_free_ char *dptr = NULL;
        size_t n = strlen(key) + 1;
        datum k, v;
        int r;

        if (n > INT_MAX)
                return 0;

        gdbm_refresh(g);

        k = (datum) { .dptr = (char *) key, .dsize = (int) n };
        v = gdbm_fetch(g->dbf, k);
        dptr = v.dptr;
        if (!v.dptr) {
                if (gdbm_errno == GDBM_ITEM_NOT_FOUND)
                        return 0;
                return gdbm_to_errno(errno);
        }

        r = datum_to_string(v, ret_value);
        if (r < 0)
                return r;
        return 1;
}

static int gdbm_iterate_one(DictGdbm *g, datum k,
                            int (*f)(const char *key, const char *value, void *userdata),
                            void *userdata) {
        _cleanup_free_ char *vp = NULL, *key = NULL, *value = NULL;
        datum v;
        int r;

        v = gdbm_fetch(g->dbf, k);
        vp = v.dptr;
        if (!v.dptr)
                return gdbm_errno == GDBM_ITEM_NOT_FOUND ? -EIO : gdbm_to_errno(errno);
        r = datum_to_string(k, &key);
        if (r < 0)
                return r;
        r = datum_to_string(v, &value);
        if (r < 0)
                return r;
        return f(key, value, userdata);
}

static int gdbm_dict_iterate(Dict *d, int (*f)(const char *key, const char *value, void *userdata),
                             void *userdata) {
        DictGdbm *g = (DictGdbm *) d;
        datum k;
        int r;

        gdbm_refresh(g);

        k = gdbm_firstkey(g->dbf);
        while (k.dptr) {
                datum next;

                r = gdbm_iterate_one(g, k, f, userdata);
                if (r < 0) {
                        free(k.dptr);
                        return r;
                }
                next = gdbm_nextkey(g->dbf, k);
                free(k.dptr);
                k = next;
        }
        if (gdbm_errno != GDBM_ITEM_NOT_FOUND && gdbm_errno != GDBM_NO_ERROR)
                return gdbm_to_errno(errno);
        return 0;
}

const DictType dict_gdbm_type = {
        .name = "hash",
        .open = gdbm_dict_open,
        .lookup = gdbm_dict_lookup,
        .free = gdbm_dict_free,
        .iterate = gdbm_dict_iterate,
};

struct DictBuilder {
        char *db_path;
        char *tmp_path;
        GDBM_FILE dbf;
        bool committed;
};

DictBuilder *dict_builder_free(DictBuilder *b) {
        if (!b)
                return NULL;
        if (b->dbf)
                gdbm_close(b->dbf);
        if (!b->committed && b->tmp_path)
                (void) unlink(b->tmp_path);
        free(b->tmp_path);
        free(b->db_path);
        return mfree(b);
}

int dict_builder_new(const char *db_path, DictBuilder **ret) {
        _cleanup_(dict_builder_freep) DictBuilder *b = NULL;
        _cleanup_close_ int fd = -EBADF;
        struct stat st;
        mode_t mode = 0644;

        assert(db_path);
        assert(ret);

        b = calloc(1, sizeof(*b));
        if (!b)
                return -ENOMEM;
        b->db_path = strdup(db_path);
        if (!b->db_path)
                return -ENOMEM;
        if (asprintf(&b->tmp_path, "%s.tmpXXXXXX", db_path) < 0) {
                b->tmp_path = NULL;
                return -ENOMEM;
        }

        if (stat(db_path, &st) == 0)
                mode = st.st_mode & 07777;
        else if (errno != ENOENT)
                return -errno;

        fd = mkostemp(b->tmp_path, O_CLOEXEC);
        if (fd < 0) {
                int r = -errno;

                b->tmp_path = mfree(b->tmp_path);       /* nothing to unlink */
                return r;
        }
        if (fchmod(fd, mode) < 0)
                return -errno;

        b->dbf = gdbm_fd_open(fd, b->tmp_path, 0,
                              GDBM_NEWDB | GDBM_NOLOCK | GDBM_CLOEXEC, NULL);
        if (!b->dbf)
                return gdbm_to_errno(errno);
        TAKE_FD(fd);

        *ret = TAKE_PTR(b);
        return 0;
}

int dict_builder_add(DictBuilder *b, const char *key, const char *value) {
        size_t kn, vn;
        datum k, v;
        int r;

        assert(b);
        assert(key);
        assert(value);

        if (!b->dbf || b->committed)
                return -ESTALE;

        kn = strlen(key) + 1;
        vn = strlen(value) + 1;
        if (kn > INT_MAX || vn > INT_MAX)
                return -EMSGSIZE;
        k = (datum) { .dptr = (char *) key, .dsize = (int) kn };
        v = (datum) { .dptr = (char *) value, .dsize = (int) vn };

        r = gdbm_store(b->dbf, k, v, GDBM_INSERT);
        if (r == 1)
                return -EEXIST;
        if (r != 0)
                return gdbm_to_errno(errno);
        return 0;
}

static int fsync_parent_dir(const char *path) {
        _cleanup_free_ char *copy = NULL;
        _cleanup_close_ int dfd = -EBADF;

        copy = strdup(path);
        if (!copy)
                return -ENOMEM;
        dfd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return -errno;
        return NEG_ERRNO(fsync(dfd));
}

int dict_builder_commit(DictBuilder *b) {
        int r;

        assert(b);

        if (!b->dbf || b->committed)
                return -ESTALE;

        if (gdbm_sync(b->dbf) != 0)
                return gdbm_to_errno(errno);
        r = NEG_ERRNO(fsync(gdbm_fdesc(b->dbf)));
        if (r < 0)
                return r;
        if (gdbm_close(b->dbf) != 0) {
                b->dbf = NULL;
                return gdbm_to_errno(errno);
        }
        b->dbf = NULL;

        r = NEG_ERRNO(rename(b->tmp_path, b->db_path));
        if (r < 0)
                return r;
        b->committed = true;

        return fsync_parent_dir(b->db_path);
}
