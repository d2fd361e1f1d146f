/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Fuzz target of ipc_client: arbitrary bytes as an agent's answer to ipc_client_call(), and as
 * a "transport:nexthop" value. The first byte picks how many recipients the request has (1 to
 * 8, indexes 0, 2, 4, ...); the rest is what the agent writes before it closes its side.
 * Invariants: no crash, no hang (the answer is in the socket, then end of file); success gives
 * exactly one result per recipient of the request; a failure gives a partial reply whose
 * results are distinct recipients of the request; a value that splits has a valid transport
 * and a bounded nexthop, and its parts, joined again, split to the same parts. */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ipc_client.h"
#include "log.h"

/* Fits a socketpair's buffer, so that the writer never blocks. */
#define FUZZ_IPC_CLIENT_MAX 65536

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_split(const uint8_t *data, size_t size) {
        _cleanup_free_ char *value = NULL, *t = NULL, *h = NULL, *joined = NULL;
        _cleanup_free_ char *t2 = NULL, *h2 = NULL;
        int r;

        value = strndup((const char *) data, size);
        if (!value)
                return;
        r = ipc_client_service_split(value, "default.example", &t, &h);
        if (r == -ENOMEM)
                return;
        assert(r == 0 || r == -EINVAL);
        if (r < 0)
                return;
        assert(ipc_client_transport_is_valid(t));
        assert(h && strlen(h) <= IPC_NEXTHOP_MAX);
        /* A nexthop with outer white space does not survive the trim of a second split. */
        if (h[0] == '\0' || strchr(" \t\r\n", h[0]) || strchr(" \t\r\n", h[strlen(h) - 1]))
                return;
        if (asprintf(&joined, "%s:%s", t, h) < 0)
                return;
        r = ipc_client_service_split(joined, NULL, &t2, &h2);
        if (r == -ENOMEM)
                return;
        assert(r == 0);
        assert(streq(t, t2) && streq(h, h2));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(ipc_request_freep) IpcRequest *req = NULL;
        _cleanup_(ipc_reply_freep) IpcReply *reply = NULL, *partial = NULL;
        unsigned n;
        int sv[2], r;

        log_set_quiet(true);
        if (size > FUZZ_IPC_CLIENT_MAX)
                return 0;
        check_split(data, size);
        if (size == 0)
                return 0;

        n = (data[0] & 7u) + 1;
        if (ipc_request_new(&req) < 0)
                return 0;
        strcpy(req->id, "0B3kz9Qx1a2b3c4D");
        req->content_offset = 100;
        req->content_size = 10;
        req->sender = strdup("a@example.org");
        req->transport = strdup("lmtp");
        req->nexthop = strdup("unix:private/dovecot-lmtp");
        if (!req->sender || !req->transport || !req->nexthop)
                return 0;
        for (unsigned i = 0; i < n; i++)
                if (ipc_request_add_rcpt(req, 2 * i, 0, "b@example.org", "b@example.org",
                                         NULL) < 0)
                        return 0;

        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
                return 0;
        if (size > 1 && write(sv[1], data + 1, size - 1) != (ssize_t) (size - 1))
                abort();
        (void) shutdown(sv[1], SHUT_WR);

        r = ipc_client_call(sv[0], req, 5000000, &reply, &partial);
        if (r == 0) {
                assert(!partial);
                assert(reply->n_results == n);
                for (unsigned i = 0; i < n; i++)
                        assert(ipc_reply_find(reply, 2 * i));
        } else if (r != -ENOMEM) {
                assert(r != -ETIMEDOUT);        /* the answer ends in end of file */
                assert(!reply);
                assert(partial);
                assert(partial->n_results <= n);
                for (size_t i = 0; i < partial->n_results; i++) {
                        uint32_t idx = partial->results[i].index;

                        assert(idx % 2 == 0 && idx < 2 * n);
                        for (size_t k = 0; k < i; k++)
                                assert(partial->results[k].index != idx);
                }
        }
        close(sv[0]);
        close(sv[1]);
        return 0;
}
