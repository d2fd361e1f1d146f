/* SPDX-License-Identifier: GPL-3.0-or-later */
/* dict_socketmap: the "socketmap:" table type, socketmap_table(5): "socketmap:unix:PATH:NAME" or
 * "socketmap:inet:HOST:PORT:NAME". Each lookup sends the netstring "NAME KEY" and reads one
 * netstring reply, "OK value", "NOTFOUND ", "TEMP reason", "TIMEOUT reason" or "PERM reason".
 * The server is untrusted: replies are bounded (DICT_SOCKETMAP_REPLY_MAX, the protocol's
 * limit), every connect, write and read has a deadline (poll()), a malformed reply is an error
 * and closes the connection. The connection is kept between lookups; when a reused connection
 * fails (the server closed it while idle) the lookup is retried once on a new one. Like regexp:
 * and cidr:, the table gets whole keys only (DICT_FLAG_PATTERN). inet: host names are resolved
 * with getaddrinfo(), which blocks: use it from agents, not from event loops. */
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

#include "buf.h"
#include "dict.h"
#include "dict_types.h"
#include "errmsg.h"
#include "parse.h"

typedef struct DictSocketmap {
        Dict head;
        bool inet;
        char *path;                     /* unix: socket path */
        char *host, *port;              /* inet: */
        char *map;                      /* NAME in the request */
        int fd;
        uint64_t timeout_usec;
} DictSocketmap;

static void socketmap_free(Dict *d) {
        DictSocketmap *s = (DictSocketmap *) d;

        if (!s)
                return;
        safe_close(s->fd);
        free(s->path);
        free(s->host);
        free(s->port);
        free(s->map);
        dict_head_done(&s->head);
        free(s);
}

static int socketmap_parse_spec(DictSocketmap *s, const char *name) {
        _cleanup_free_ char *endpoint = NULL;
        const char *rest, *colon;

        if ((rest = startswith(name, "unix:")))
                s->inet = false;
        else if ((rest = startswith(name, "inet:")))
                s->inet = true;
        else
                return -EBADMSG;

        colon = strrchr(rest, ':');
        if (!colon || colon == rest || colon[1] == '\0')
                return -EBADMSG;
        s->map = strdup(colon + 1);
        endpoint = strndup(rest, (size_t) (colon - rest));
        if (!s->map || !endpoint)
                return -ENOMEM;
        if (strpbrk(s->map, " \t\r\n"))
                return -EBADMSG;

        if (!s->inet) {
                if (strlen(endpoint) >= sizeof(((struct sockaddr_un *) NULL)->sun_path))
                        return -EBADMSG;
                s->path = TAKE_PTR(endpoint);
                return 0;
        }

        colon = strrchr(endpoint, ':');
        if (!colon || colon == endpoint || colon[1] == '\0')
                return -EBADMSG;
        s->port = strdup(colon + 1);
        if (endpoint[0] == '[' && colon[-1] == ']')
                s->host = strndup(endpoint + 1, (size_t) (colon - endpoint) - 2);
        else
                s->host = strndup(endpoint, (size_t) (colon - endpoint));
        if (!s->port || !s->host)
                return -ENOMEM;
        if (s->host[0] == '\0')
                return -EBADMSG;
        return 0;
}

static int socketmap_open(const char *name, DictFlags flags, Dict **ret, char **ret_error) {
        _cleanup_(dict_freep) Dict *d = NULL;
        DictSocketmap *s;
        int r;

        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->head.type = &dict_socketmap_type;
        s->fd = -EBADF;
        s->timeout_usec = DICT_SOCKETMAP_TIMEOUT_USEC;
        d = &s->head;

        r = dict_head_init(d, &dict_socketmap_type, name, flags | DICT_FLAG_PATTERN);
        if (r < 0)
                return r;
        r = socketmap_parse_spec(s, name);
        if (r == -EBADMSG)
                return errmsg_set(ret_error, r,
                                  "socketmap:%s: need socketmap:unix:PATH:NAME or "
                                  "socketmap:inet:HOST:PORT:NAME", name);
        if (r < 0)
                return r;

        /* Like Postfix, connect at the first lookup: a server that is down at start-up only
         * makes lookups fail (temporarily) until it is back. */
        *ret = TAKE_PTR(d);
        return 0;
}

int dict_socketmap_set_timeout(Dict *d, uint64_t usec) {
        assert(d);

        if (d->type != &dict_socketmap_type)
                return -EINVAL;
        ((DictSocketmap *) d)->timeout_usec = usec;
        return 0;
}

static uint64_t now_usec(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

/* Waits for events on fd until the deadline. Returns 0, -ETIMEDOUT, or -errno. */
static int wait_fd(int fd, short events, uint64_t deadline) {
        for (;;) {
                struct pollfd p = { .fd = fd, .events = events };
                uint64_t now = now_usec();
                int r;

                if (now >= deadline)
                        return -ETIMEDOUT;
                r = poll(&p, 1, (int) MIN((deadline - now + 999) / 1000, (uint64_t) INT32_MAX));
                if (r < 0 && errno == EINTR)
                        continue;
                if (r < 0)
                        return -errno;
                if (r > 0)
                        return 0;
        }
}

static int connect_with_deadline(int family, const struct sockaddr *sa, socklen_t salen,
                                 uint64_t deadline) {
        _cleanup_close_ int fd = -EBADF;
        socklen_t len = sizeof(int);
        int r, err = 0;

        fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;
        if (connect(fd, sa, salen) < 0) {
                if (errno != EINPROGRESS && errno != EAGAIN)
                        return -errno;
                r = wait_fd(fd, POLLOUT, deadline);
                if (r < 0)
                        return r;
                if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
                        return -errno;
                if (err != 0)
                        return -err;
        }
        return TAKE_FD(fd);
}

static int socketmap_connect(DictSocketmap *s, uint64_t deadline) {
        struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_ADDRCONFIG };
        struct addrinfo *res = NULL;
        int r, fd = -ECONNREFUSED;

        if (!s->inet) {
                struct sockaddr_un sun = { .sun_family = AF_UNIX };

                memcpy(sun.sun_path, s->path, strlen(s->path));
                return connect_with_deadline(AF_UNIX, (struct sockaddr *) &sun, sizeof(sun),
                                             deadline);
        }

        r = getaddrinfo(s->host, s->port, &hints, &res);
        if (r == EAI_NONAME)
                return -EHOSTUNREACH;
        if (r == EAI_SYSTEM)
                return -errno;
        if (r != 0)
                return r == EAI_MEMORY ? -ENOMEM : -EHOSTUNREACH;
        for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
                fd = connect_with_deadline(ai->ai_family, ai->ai_addr, ai->ai_addrlen, deadline);
                if (fd >= 0 || fd == -ETIMEDOUT)
                        break;
        }
        freeaddrinfo(res);
        return fd;
}

int dict_socketmap_parse_reply(const char *p, size_t n, size_t *ret_used, char **ret_value) {
        uint64_t len;
        size_t i;
        int r;

        assert(p || n == 0);
        assert(ret_used);
        assert(ret_value);

        /* netstring: decimal length, ':', data, ',' */
        for (i = 0; i < n && p[i] >= '0' && p[i] <= '9'; i++)
                if (i >= 6)
                        return -EMSGSIZE;       /* more digits than 100000 needs */
        if (i == n)
                return 0;
        if (i == 0 || p[i] != ':' || (i > 1 && p[0] == '0'))
                return -EBADMSG;
        r = parse_uint64_n(p, i, &len);
        if (r < 0)
                return -EBADMSG;
        if (len > DICT_SOCKETMAP_REPLY_MAX)
                return -EMSGSIZE;
        i++;
        if (n - i < len + 1)
                return 0;
        if (p[i + len] != ',')
                return -EBADMSG;
        *ret_used = i + len + 1;
        p += i;

        if (len >= 3 && memcmp(p, "OK ", 3) == 0) {
                char *v;

                if (memchr(p + 3, '\0', len - 3))
                        return -EBADMSG;
                v = strndup(p + 3, len - 3);
                if (!v)
                        return -ENOMEM;
                *ret_value = v;
                return 1;
        }
        if ((len == 8 && memcmp(p, "NOTFOUND", 8) == 0) ||
            (len >= 9 && memcmp(p, "NOTFOUND ", 9) == 0))
                return 2;
        if ((len == 4 && memcmp(p, "TEMP", 4) == 0) || (len >= 5 && memcmp(p, "TEMP ", 5) == 0))
                return -EAGAIN;
        if ((len == 7 && memcmp(p, "TIMEOUT", 7) == 0) ||
            (len >= 8 && memcmp(p, "TIMEOUT ", 8) == 0))
                return -ETIMEDOUT;
        if ((len == 4 && memcmp(p, "PERM", 4) == 0) || (len >= 5 && memcmp(p, "PERM ", 5) == 0))
                return -EREMOTEIO;
        return -EBADMSG;
}

/* One request on the open connection. Returns as lookup(), or -EPIPE when the connection
 * broke before any reply byte arrived (the caller may retry on a new connection). */
static int socketmap_exchange(DictSocketmap *s, const char *request, size_t n, uint64_t deadline,
                              char **ret_value) {
        _cleanup_(buf_done) Buf b = BUF_INIT(DICT_SOCKETMAP_REPLY_MAX + 16);
        size_t off = 0, used = 0;
        int r;

        while (off < n) {
                ssize_t k = send(s->fd, request + off, n - off, MSG_NOSIGNAL);

                if (k < 0 && (errno == EAGAIN || errno == EINTR)) {
                        r = wait_fd(s->fd, POLLOUT, deadline);
                        if (r < 0)
                                return r;
                        continue;
                }
                if (k < 0)
                        return errno == ECONNRESET || errno == EPIPE ? -EPIPE : -errno;
                off += (size_t) k;
        }

        for (;;) {
                r = dict_socketmap_parse_reply(buf_peek(&b), buf_pending(&b), &used, ret_value);
                if (r > 0 && used != buf_pending(&b)) {
                        /* bytes nobody asked for: the stream is out of step */
                        if (r == 1)
                                *ret_value = mfree(*ret_value);
                        return -EBADMSG;
                }
                if (r != 0)
                        return r == 1 ? 1 : r == 2 ? 0 : r;
                r = buf_read_fd(&b, s->fd);
                if (r == -EAGAIN || r == -EINTR) {
                        r = wait_fd(s->fd, POLLIN, deadline);
                        if (r < 0)
                                return r;
                        continue;
                }
                if (r == -ENOBUFS)
                        return -EMSGSIZE;
                if (r == -ECONNRESET || (r == 0 && buf_pending(&b) == 0))
                        return -EPIPE;
                if (r == 0)
                        return -EBADMSG;        /* closed in the middle of a reply */
                if (r < 0)
                        return r;
        }
}

static int socketmap_lookup(Dict *d, const char *key, char **ret_value) {
        DictSocketmap *s = (DictSocketmap *) d;
        _cleanup_free_ char *request = NULL;
        size_t payload;
        int r, n;

        payload = strlen(s->map) + 1 + strlen(key);
        if (payload > DICT_SOCKETMAP_REPLY_MAX)
                return -EMSGSIZE;
        n = asprintf(&request, "%zu:%s %s,", payload, s->map, key);
        if (n < 0) {
                request = NULL;
                return -ENOMEM;
        }

        for (unsigned attempt = 0;; attempt++) {
                uint64_t deadline = now_usec() + s->timeout_usec;
                bool reused = s->fd >= 0;
                char *value = NULL;

                if (!reused) {
                        r = socketmap_connect(s, deadline);
                        if (r < 0)
                                return r;
                        s->fd = r;
                }

                r = socketmap_exchange(s, request, (size_t) n, deadline, &value);
                if (r >= 0) {
                        if (r > 0)
                                *ret_value = value;
                        return r;
                }
                free(value);

                /* After any error the stream may be out of step: start over next time. */
                s->fd = safe_close(s->fd);
                if (r == -EPIPE && reused && attempt == 0)
                        continue;
                return r == -EPIPE ? -ECONNRESET : r;
        }
}

const DictType dict_socketmap_type = {
        .name = "socketmap",
        .open = socketmap_open,
        .lookup = socketmap_lookup,
        .free = socketmap_free,
};
