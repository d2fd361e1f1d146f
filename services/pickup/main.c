/* SPDX-License-Identifier: GPL-3.0-or-later */
/* pickup: options and the one connection of an Accept=yes instance (STYLE.md §8). systemd
 * starts one instance per client of tern-pickup.socket (the public socket
 * $RUNTIME_DIRECTORY/pickup, mode 0666) and passes the connected socket; for tests:
 *     systemd-socket-activate --accept -l /path/pickup /usr/libexec/tern/pickup -c DIR
 * The peer's uid comes from SO_PEERCRED here and nowhere else. No protocol here:
 * pickup_proto.h parses, pickup_session.c answers. */
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sysexits.h>
#include <systemd/sd-daemon.h>

#include "config.h"
#include "log.h"
#include "pickup.h"
#include "service.h"

static ServiceArgs arg_service = {};

static int run(void) {
        _cleanup_(pickup_settings_freep) PickupSettings *s = NULL;
        _cleanup_free_ char *err = NULL;
        const char *dir = config_dir_resolve(arg_service.config_dir);
        struct ucred cred;
        socklen_t len = sizeof(cred);
        int fd, r;

        (void) signal(SIGPIPE, SIG_IGN);

        r = pickup_settings_load(dir, arg_service.overrides, &s, &err);
        if (r < 0)
                return log_error_errno(r, "%s: %s", dir, err ? err : "cannot load settings");

        fd = service_take_connection();
        if (fd < 0)
                return log_error_errno(fd, "expected one connected socket from the service "
                                           "manager (LISTEN_FDS=1, Accept=yes): %m");
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
                r = -errno;
                safe_close(fd);
                return log_error_errno(r, "cannot learn the client's user ID (SO_PEERCRED): "
                                          "%m");
        }

        (void) sd_notify(/* unset_environment= */ false, "READY=1");
        r = pickup_session_run(s, fd, cred.uid);
        (void) sd_notify(false, "STOPPING=1");
        safe_close(fd);
        if (r < 0 && r != -ECONNRESET)
                return log_warning_errno(r, "uid=%u: connection ended: %m",
                                         (unsigned) cred.uid);
        return 0;
}

int main(int argc, char **argv) {
        return service_main("tern/pickup", "pickup",
                            "The tern local submission service (sendmail, mailq). Takes one "
                            "connected\nsocket from the service manager (LISTEN_FDS, "
                            "Accept=yes), e.g. from\ntern-pickup.socket or "
                            "systemd-socket-activate --accept.", false, argc, argv, &arg_service,
                            run);
}
