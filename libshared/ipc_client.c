/* SPDX-License-Identifier: GPL-3.0-or-later */
/* ipc_client: connecting to a transport's agent socket and one blocking request/reply exchange
 * (ipc_client.h). The agent's bytes go only through ipc.h's bounded reply parser; reads are
 * bounded per call, and the whole exchange by one CLOCK_MONOTONIC deadline. Transport names
 * from main.cf or a table are checked before they become a path. */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "ipc_client.h"

/* Bytes of the request kept in memory: one recipient line is at most IPC_LINE_MAX, and a
 * request holds at most IPC_RCPT_MAX of them plus a few header lines. */
#define IPC_CLIENT_OUT_MAX ((size_t) (IPC_RCPT_MAX + 16) * (IPC_LINE_MAX + 2))
/* Bytes read from the agent per read(): the parser consumes them at once. */
#define IPC_CLIENT_READ_CHUNK 8192

bool ipc_client_transport_is_valid(const char *name) {
        size_t n;

        if (!name)
                return false;
        n = strlen(name);
        if (n == 0 || n > IPC_TRANSPORT_MAX || streq(name, ".") || streq(name, ".."))
                return false;
        for (const char *p = name; *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                      (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.'))
                        return false;
        return true;
}

int ipc_client_socket_path(const char *run_dir, const char *transport, char **ret) {
        char *p;

        assert(ret);

        if (isempty(run_dir) || !ipc_client_transport_is_valid(transport))
                return -EINVAL;
        if (asprintf(&p, "%s/%s", run_dir, transport) < 0)
                return -ENOMEM;
        *ret = p;
        return 0;
}

int ipc_client_connect(const char *path, bool nonblock) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_close_ int fd = -EBADF;
        size_t n;

        if (isempty(path))
                return -EINVAL;
        n = strlen(path);
        if (n >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        memcpy(sa.sun_path, path, n);

        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);
        if (fd < 0)
                return -errno;
        if (connect(fd, (const struct sockaddr *) &sa, sizeof(sa)) < 0)
                return -errno;
        return TAKE_FD(fd);
}

static void trim(const char **p, size_t *n) {
        while (*n > 0 && strchr(" \t\r\n", (*p)[0])) {
                (*p)++;
                (*n)--;
        }
        while (*n > 0 && strchr(" \t\r\n", (*p)[*n - 1]))
                (*n)--;
}

int ipc_client_service_split(const char *value, const char *default_nexthop,
                             char **ret_transport, char **ret_nexthop) {
        _cleanup_free_ char *transport = NULL, *nexthop = NULL;
        const char *p = value, *colon;
        size_t n;

        assert(value);
        assert(ret_transport);
        assert(ret_nexthop);

        n = strlen(p);
        trim(&p, &n);
        colon = memchr(p, ':', n);
        transport = strndup(p, colon ? (size_t) (colon - p) : n);
        if (!transport)
                return -ENOMEM;
        if (!ipc_client_transport_is_valid(transport))
                return -EINVAL;
        /* deliver_pass(): "transport:" or "transport" keeps the request's nexthop. */
        if (colon && colon + 1 < p + n)
                nexthop = strndup(colon + 1, (size_t) (p + n - colon - 1));
        else if (default_nexthop)
                nexthop = strdup(default_nexthop);
        if ((colon && colon + 1 < p + n) || default_nexthop) {
                if (!nexthop)
                        return -ENOMEM;
                if (strlen(nexthop) > IPC_NEXTHOP_MAX)
                        return -EINVAL;
        }
        *ret_transport = TAKE_PTR(transport);
        *ret_nexthop = TAKE_PTR(nexthop);
        return 0;
}

/* Reads and parses the reply before deadline. Returns 0 with *ret, or the error. */
static int read_reply(int fd, IpcReplyParser *p, uint64_t deadline, IpcReply **ret) {
        for (;;) {
                char chunk[IPC_CLIENT_READ_CHUNK];
                size_t off = 0;
                ssize_t k;
                int r;

                r = ipc_fd_wait(fd, POLLIN, deadline);
                if (r < 0)
                        return r;
                k = recv(fd, chunk, sizeof(chunk), MSG_DONTWAIT);
                if (k < 0) {
                        if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        return -ECONNRESET;
                /* ipc_reply_feed() consumes everything when it returns 0. */
                while (off < (size_t) k) {
                        size_t used = 0;

                        r = ipc_reply_feed(p, chunk + off, (size_t) k - off, &used, ret);
                        if (r < 0)
                                return r;
                        if (r > 0)
                                return 0;       /* anything after "end" is ignored */
                        if (used == 0)
                                return -EBADMSG;        /* no progress: cannot happen */
                        off += used;
                }
        }
}

int ipc_client_call(int fd, const IpcRequest *req, uint64_t timeout_usec, IpcReply **ret,
                    IpcReply **ret_partial) {
        _cleanup_(ipc_reply_parser_freep) IpcReplyParser *p = NULL;
        _cleanup_(buf_done) Buf out = BUF_INIT(IPC_CLIENT_OUT_MAX);
        IpcReply *reply = NULL;
        uint64_t deadline = ipc_deadline(timeout_usec);
        int r;

        assert(fd >= 0);
        assert(req);
        assert(ret);

        if (ret_partial)
                *ret_partial = NULL;

        r = ipc_reply_parser_new_for(req, &p);
        if (r < 0)
                return r;
        r = ipc_request_format(req, &out);
        if (r == -ENOBUFS)
                r = -EINVAL;
        if (r < 0)
                return r;

        r = ipc_write_until(fd, &out, deadline);
        if (r >= 0)
                r = read_reply(fd, p, deadline, &reply);
        if (r < 0) {
                /* The agent may have answered some recipients before it went away. */
                if (ret_partial && ipc_reply_parser_take_partial(p, ret_partial) < 0)
                        *ret_partial = NULL;
                return r;
        }
        *ret = reply;
        return 0;
}
