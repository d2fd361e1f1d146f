/* SPDX-License-Identifier: GPL-3.0-or-later */
/* service: see service.h. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>

#include "errmsg.h"
#include "log.h"
#include "service.h"
#include "tern-config.h"

void service_args_done(ServiceArgs *a) {
        strv_free(a->overrides);
        *a = (ServiceArgs) {};
}

static int add_override(ServiceArgs *a, const char *o) {
        char **l = realloc(a->overrides, (a->n_overrides + 2) * sizeof(char *));

        if (!l)
                return -ENOMEM;
        a->overrides = l;
        l[a->n_overrides] = strdup(o);
        if (!l[a->n_overrides])
                return -ENOMEM;
        l[++a->n_overrides] = NULL;
        return 0;
}

int service_parse_argv(int argc, char **argv, bool with_role, ServiceArgs *ret,
                       char **ret_error) {
        enum { ARG_ROLE = 0x100, ARG_VERSION };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                { "role", required_argument, NULL, ARG_ROLE },
                {}
        };
        ServiceArgs a = {};
        int c, r;

        optind = 0;
        opterr = 0;
        while ((c = getopt_long(argc, argv, "c:o:vh", options, NULL)) >= 0)
                switch (c) {
                case 'c':
                        a.config_dir = optarg;
                        break;
                case 'o':
                        r = add_override(&a, optarg);
                        if (r < 0) {
                                service_args_done(&a);
                                return r;
                        }
                        break;
                case 'v':
                        a.verbose = true;
                        break;
                case ARG_ROLE:
                        if (!with_role)
                                goto bad;
                        a.role = optarg;
                        break;
                case 'h':
                        service_args_done(&a);
                        return SERVICE_ARGS_HELP;
                case ARG_VERSION:
                        service_args_done(&a);
                        return SERVICE_ARGS_VERSION;
                default:
                        goto bad;
                }
        if (optind < argc) {
                service_args_done(&a);
                return errmsg_set(ret_error, -EINVAL, "unexpected argument '%s'", argv[optind]);
        }
        *ret = a;
        return SERVICE_ARGS_RUN;
bad:
        service_args_done(&a);
        return errmsg_set(ret_error, -EINVAL, "unknown or incomplete option '%s' (see --help)",
                          argv[optind - 1]);
}

char *service_help(const char *name, const char *summary, bool with_role) {
        char *s;

        if (asprintf(&s,
                     "Usage: %s [OPTIONS]\n\n%s\n\n"
                     "  -c DIR             configuration directory (default $TERN_CONFIG, else %s)\n"
                     "  -o NAME=VALUE      override a main.cf parameter (as master.cf's -o)\n"
                     "%s"
                     "  -v                 verbose logging\n"
                     "  -h, --help         show this help\n"
                     "      --version      show the version\n",
                     name, summary, TERN_CONFIG_DIR,
                     with_role ? "      --role=ROLE    smtpd (port 25), submission (587) or "
                                 "smtps (465)\n" : "") < 0)
                return NULL;
        return s;
}

int service_take_connection(void) {
        struct stat st;
        int n;

        n = sd_listen_fds(/* unset_environment= */ true);
        if (n < 0)
                return n;
        if (n != 1)
                return -EBADF;
        if (fstat(SD_LISTEN_FDS_START, &st) < 0)
                return -errno;
        if (!S_ISSOCK(st.st_mode))
                return -ENOTSOCK;
        return SD_LISTEN_FDS_START;
}

int service_request_file_at(int queue_fd, const char *queue_name, const IpcRequest *req,
                            QueueFile **ret, char *why, size_t n) {
        _cleanup_(queue_file_freep) QueueFile *f = NULL;
        int r;

        assert(req);
        assert(ret);
        assert(why);

        r = queue_file_open(queue_fd, req->id, /* for_update= */ false, NULL, &f);
        if (r < 0) {
                log_warning_errno(r, "%s: cannot open queue file in %s, deferring: %m", req->id,
                                  queue_name);
                snprintf(why, n, "cannot open queue file: %s", strerror(-r));
                return r;
        }
        if (f->envelope->content_offset != req->content_offset ||
            f->envelope->content_size != req->content_size) {
                log_warning("%s: request does not match the queue file, deferring", req->id);
                snprintf(why, n, "request does not match the queue file");
                return -EBADMSG;
        }
        *ret = TAKE_PTR(f);
        return 0;
}

int service_request_file(const char *queue_directory, const IpcRequest *req, QueueFile **ret,
                         char *why, size_t n) {
        _cleanup_free_ char *qdir = NULL;
        _cleanup_close_ int dir_fd = -EBADF;

        assert(queue_directory);
        assert(req);
        if (asprintf(&qdir, "%s/%s", queue_directory, queue_name_to_string(req->queue)) < 0) {
                snprintf(why, n, "out of memory");
                return -ENOMEM;
        }
        dir_fd = open(qdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dir_fd < 0) {
                int r = -errno;

                log_warning_errno(r, "%s: cannot open %s, deferring: %m", req->id, qdir);
                snprintf(why, n, "cannot open queue file: %s", strerror(-r));
                return r;
        }
        return service_request_file_at(dir_fd, qdir, req, ret, why, n);
}

int service_serve_requests(int fd, const ServiceLoopLimits *limits, ServiceRequestFn fn,
                           void *userdata, char ret_id[static QUEUE_ID_MAX + 1]) {
        _cleanup_(ipc_request_parser_freep) IpcRequestParser *p = NULL;
        uint64_t served = 0;
        int r;

        ret_id[0] = '\0';
        r = ipc_request_parser_new(&p);
        if (r < 0)
                return r;

        while (limits->max_use == 0 || served < limits->max_use) {
                _cleanup_(ipc_request_freep) IpcRequest *req = NULL;
                _cleanup_(buf_done) Buf out = BUF_INIT(limits->reply_max);

                r = ipc_request_read(p, fd, limits->max_idle_usec, &req);
                if (r == 0 || r == -ETIMEDOUT) {
                        log_debug("%s, exiting", r == 0 ? "qmgr closed the connection"
                                                        : "idle for max_idle");
                        break;
                }
                if (r < 0)
                        return r;

                snprintf(ret_id, QUEUE_ID_MAX + 1, "%s", req->id);
                r = fn(userdata, req, &out);
                if (r < 0)
                        return r;
                /* The last reply before max_use says so: qmgr closes the connection instead of
                 * sending the next request to a process that is exiting (ipc.h). */
                r = ipc_reply_end_format(&out, limits->max_use > 0 &&
                                                       served + 1 >= limits->max_use);
                if (r < 0)
                        return r;
                r = ipc_write(fd, &out, limits->ipc_timeout_usec);
                if (r < 0)
                        return r;
                ret_id[0] = '\0';
                served++;
        }
        (void) shutdown(fd, SHUT_WR);
        return 0;
}
