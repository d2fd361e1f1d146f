/* SPDX-License-Identifier: GPL-3.0-or-later */
/* local_user: passwd lookups and the uid switch. Every write to a mailbox, file or command runs
 * in a child process that drops to the recipient's gid and uid (setgroups/initgroups, setresgid,
 * setresuid: real, effective and saved, so it cannot come back) before it touches anything; the
 * parent (which keeps CAP_SETUID/CAP_SETGID for the next delivery) only reads the child's
 * result from a pipe. The result is a fixed-size record, checked before use: the child runs
 * code that handles a user's files and is not trusted more than the user. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "fileio.h"
#include "local.h"
#include "log.h"

IpcStatus local_result_set(LocalResult *r, IpcStatus status, const char *dsn,
                           const char *format, ...) {
        va_list ap;

        assert(r);
        assert(dsn);

        r->status = status;
        snprintf(r->dsn, sizeof(r->dsn), "%s", dsn);
        va_start(ap, format);
        vsnprintf(r->text, sizeof(r->text), format, ap);
        va_end(ap);
        return status;
}

LocalUser *local_user_free(LocalUser *u) {
        if (!u)
                return NULL;
        free(u->name);
        free(u->home);
        free(u->shell);
        return mfree(u);
}

static int user_from_passwd(const struct passwd *pw, LocalUser **ret) {
        _cleanup_(local_user_freep) LocalUser *u = calloc(1, sizeof(*u));

        if (!u)
                return -ENOMEM;
        u->name = strdup(pw->pw_name);
        u->home = strdup(strempty(pw->pw_dir));
        u->shell = strdup(strempty(pw->pw_shell));
        if (!u->name || !u->home || !u->shell)
                return -ENOMEM;
        u->uid = pw->pw_uid;
        u->gid = pw->pw_gid;
        *ret = TAKE_PTR(u);
        return 1;
}

static int user_lookup(const char *name, uid_t uid, LocalUser **ret) {
        _cleanup_free_ char *buf = NULL;
        size_t size = 4096;

        for (;;) {
                struct passwd pw, *res = NULL;
                int e;

                free(buf);
                buf = malloc(size);
                if (!buf)
                        return -ENOMEM;
                e = name ? getpwnam_r(name, &pw, buf, size, &res)
                         : getpwuid_r(uid, &pw, buf, size, &res);
                if (e == ERANGE && size < 1024 * 1024) {
                        size *= 2;
                        continue;
                }
                if (IN_SET(e, 0, ENOENT, ESRCH, EBADF, EPERM) && !res)
                        return 0;
                if (e != 0)
                        return -e;
                return user_from_passwd(res, ret);
        }
}

int local_user_find(const char *name, LocalUser **ret) {
        assert(name);
        assert(ret);
        if (isempty(name))
                return 0;
        return user_lookup(name, 0, ret);
}

int local_user_find_uid(uid_t uid, LocalUser **ret) {
        assert(ret);
        return user_lookup(NULL, uid, ret);
}

static uint64_t now_usec(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}

static _noreturn_ void child(const LocalUser *u, bool with_groups, int fd,
                             int (*fn)(void *userdata, LocalResult *ret), void *userdata) {
        LocalResult res = {};

        (void) setpgid(0, 0);
        (void) signal(SIGPIPE, SIG_DFL);
        if ((with_groups ? initgroups(u->name, u->gid) : setgroups(1, &u->gid)) < 0 ||
            setresgid(u->gid, u->gid, u->gid) < 0 || setresuid(u->uid, u->uid, u->uid) < 0)
                local_result_set(&res, IPC_STATUS_DEFERRED, "4.3.0",
                                 "cannot switch to user %s: %s", u->name, strerror(errno));
        else if (geteuid() != u->uid || getegid() != u->gid)
                local_result_set(&res, IPC_STATUS_DEFERRED, "4.3.0",
                                 "cannot switch to user %s", u->name);
        else if (fn(userdata, &res) < 0 && res.dsn[0] == '\0')
                local_result_set(&res, IPC_STATUS_DEFERRED, "4.3.0", "mail system error");

        (void) fileio_write_full(fd, &res, sizeof(res));
        _exit(0);
}

int local_user_run(const LocalUser *u, bool with_groups, uint64_t timeout_usec,
                   int (*fn)(void *userdata, LocalResult *ret), void *userdata,
                   LocalResult *ret) {
        _cleanup_close_ int rfd = -EBADF, wfd = -EBADF;
        LocalResult res = {};
        size_t got = 0;
        uint64_t deadline = timeout_usec > 0 ? now_usec() + timeout_usec : UINT64_MAX;
        bool timed_out = false;
        int fds[2], status;
        pid_t pid;

        assert(u);
        assert(fn);
        assert(ret);

        if (u->uid == 0 || u->gid == 0)
                return -EPERM;
        if (pipe2(fds, O_CLOEXEC) < 0)
                return -errno;
        rfd = fds[0];
        wfd = fds[1];

        fflush(NULL);
        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                rfd = safe_close(rfd);
                child(u, with_groups, wfd, fn, userdata);
        }
        wfd = safe_close(wfd);

        while (got < sizeof(res)) {
                struct pollfd p = { .fd = rfd, .events = POLLIN };
                uint64_t now = now_usec();
                int wait_ms = deadline == UINT64_MAX ? -1
                        : now >= deadline ? 0 : (int) MIN((deadline - now + 999) / 1000,
                                                          (uint64_t) INT32_MAX);
                ssize_t k;
                int r;

                r = poll(&p, 1, wait_ms);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r == 0) {
                        timed_out = true;
                        (void) kill(-pid, SIGKILL);
                        (void) kill(pid, SIGKILL);
                        break;
                }
                k = read(rfd, (char *) &res + got, sizeof(res) - got);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        break;
                got += (size_t) k;
        }
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;

        if (timed_out)
                local_result_set(ret, IPC_STATUS_DEFERRED, "4.3.0",
                                 "delivery as user %s: time limit exceeded", u->name);
        else if (got != sizeof(res) || res.status < 0 || res.status >= _IPC_STATUS_MAX ||
                 !ipc_dsn_is_valid(res.dsn) ||
                 res.dsn[0] != ipc_status_dsn_class(res.status))
                local_result_set(ret, IPC_STATUS_DEFERRED, "4.3.0",
                                 "delivery as user %s: process died", u->name);
        else {
                res.text[sizeof(res.text) - 1] = '\0';
                *ret = res;
        }
        return 0;
}

/* What the reading child sends ahead of the bytes. */
typedef struct ReadHeader {
        int error;              /* 0 or a negative errno */
        uid_t owner;
        uint64_t size;
} ReadHeader;

static int read_direct(const char *path, size_t max, int out_fd, ReadHeader *h, char **ret) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *data = NULL;
        struct stat st;
        size_t got = 0;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EINVAL;
        if ((uint64_t) st.st_size > max)
                return -EFBIG;
        data = malloc((size_t) st.st_size + 1);
        if (!data)
                return -ENOMEM;
        while (got < (size_t) st.st_size) {
                ssize_t k = read(fd, data + got, (size_t) st.st_size - got);

                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                if (k == 0)
                        break;
                got += (size_t) k;
        }
        data[got] = '\0';
        h->owner = st.st_uid;
        h->size = got;
        (void) out_fd;
        *ret = TAKE_PTR(data);
        return 0;
}

int local_user_read_file(const LocalUser *u, const char *path, size_t max, char **ret,
                         size_t *ret_size, uid_t *ret_owner) {
        _cleanup_close_ int rfd = -EBADF, wfd = -EBADF;
        _cleanup_free_ char *data = NULL;
        ReadHeader h = {};
        int fds[2], status, r;
        pid_t pid;

        assert(u);
        assert(path);
        assert(ret);

        if (u->uid == 0) {
                r = read_direct(path, max, -1, &h, &data);
                if (r < 0)
                        return r;
                goto done;
        }

        if (pipe2(fds, O_CLOEXEC) < 0)
                return -errno;
        rfd = fds[0];
        wfd = fds[1];
        fflush(NULL);
        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                rfd = safe_close(rfd);
                if (setgroups(1, &u->gid) < 0 || setresgid(u->gid, u->gid, u->gid) < 0 ||
                    setresuid(u->uid, u->uid, u->uid) < 0)
                        h.error = -EPERM;
                else
                        h.error = read_direct(path, max, wfd, &h, &data);
                if (fileio_write_full(wfd, &h, sizeof(h)) >= 0 && h.error == 0)
                        (void) fileio_write_full(wfd, data, h.size);
                _exit(0);
        }
        wfd = safe_close(wfd);
        r = fileio_read_full(rfd, &h, sizeof(h));
        if (r == -ENODATA)
                r = -EIO;       /* the child died before it answered */
        if (r >= 0 && h.error < 0)
                r = h.error;
        if (r >= 0 && h.size > max)
                r = -EIO;
        if (r >= 0) {
                data = malloc(h.size + 1);
                if (!data)
                        r = -ENOMEM;
        }
        if (r >= 0) {
                r = fileio_read_full(rfd, data, h.size);
                if (r == -ENODATA)
                        r = -EIO;
                if (r >= 0)
                        data[h.size] = '\0';
        }
        rfd = safe_close(rfd);
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
        if (r < 0)
                return r;
done:
        if (memchr(data, '\0', h.size))
                return -EBADMSG;
        if (ret_size)
                *ret_size = h.size;
        if (ret_owner)
                *ret_owner = h.owner;
        *ret = TAKE_PTR(data);
        return 0;
}
