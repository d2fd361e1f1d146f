/* SPDX-License-Identifier: GPL-3.0-or-later */
/* virtual: options and the request loop of the virtual delivery agent (STYLE.md §8). systemd
 * starts one instance per qmgr connection (tern-virtual.socket, Accept=yes) and passes the
 * connected socket as fd 3 (LISTEN_FDS); for tests:
 *     systemd-socket-activate --accept -l /path/sock /usr/libexec/tern/virtual -c DIR
 * The loop reads one request at a time with a deadline (max_idle while idle), answers it,
 * and exits after max_idle without a request, after max_use requests, or when qmgr closes
 * the connection. No protocol here: ipc.h parses, virtual_deliver.c delivers. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <systemd/sd-daemon.h>

#include "config.h"
#include "ipc.h"
#include "service.h"
#include "log.h"
#include "tern-config.h"
#include "virtual.h"

static ServiceArgs arg_service = {};

static int handle(void *userdata, const IpcRequest *req, Buf *out) {
        return virtual_request_handle(userdata, req, out);
}

static int run(void) {
        _cleanup_(virtual_settings_freep) VirtualSettings *s = NULL;
        _cleanup_free_ char *err = NULL;
        const char *dir = config_dir_resolve(arg_service.config_dir);
        ServiceLoopLimits limits;
        int r;

        (void) signal(SIGPIPE, SIG_IGN);

        r = virtual_settings_load(dir, arg_service.overrides, &s, &err);
        if (r < 0)
                return log_error_errno(r, "%s: %s", dir, err ? err : "cannot load settings");

        limits = (ServiceLoopLimits) {
                .max_use = s->max_use,
                .max_idle_usec = s->max_idle_usec,
                .ipc_timeout_usec = s->ipc_timeout_usec,
                .reply_max = SERVICE_REPLY_MAX,
        };
        return service_agent_serve(&limits, handle, s);
}

int main(int argc, char **argv) {
        return service_main("tern/virtual", "virtual",
                            "The tern virtual mailbox delivery agent. Takes one connected socket "
                            "from the\nservice manager (LISTEN_FDS, Accept=yes), e.g. from "
                            "tern-virtual.socket or\nsystemd-socket-activate --accept.", false,
                            argc, argv, &arg_service, run);
}
