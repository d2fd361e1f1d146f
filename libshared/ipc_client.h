/* SPDX-License-Identifier: GPL-3.0-or-later */
/* ipc_client: the client side of the qmgr <-> delivery agent exchange (ipc.h) that qmgr and the
 * local agent share: where a transport's agents listen (<runtime directory>/<transport>, one
 * agent per connection under systemd's Accept=yes), the connection to that socket, Postfix's
 * "transport:nexthop" form of mailbox_transport and friends, and a blocking exchange of one
 * request and its reply for agents that hand a recipient on (local(8)'s "deliver_pass"). qmgr
 * drives its non-blocking connections from its event loop with ipc.h's parser itself.
 *
 * The agent's reply is untrusted: it is parsed by ipc.h's bounded reply parser, and the
 * exchange has a deadline so that a stuck agent cannot hold its client for ever. The
 * transport name comes from main.cf or a lookup table and is checked before it becomes part of
 * a path. This module does no logging. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "ipc.h"
#include "macro.h"

/* Whether name can be a transport's socket name: 1..IPC_TRANSPORT_MAX bytes of letters, digits,
 * '-', '_' and '.', and not "." or "..": nothing that could leave the runtime directory. */
bool ipc_client_transport_is_valid(const char *name);

/* The agent socket of transport: "<run_dir>/<transport>". Returns 0 with *ret (malloc'd),
 * -EINVAL when transport is not valid (ipc_client_transport_is_valid()) or run_dir is empty,
 * -ENOMEM. */
int ipc_client_socket_path(const char *run_dir, const char *transport, char **ret);

/* Connects a new stream socket to the AF_UNIX socket at path (O_CLOEXEC; SOCK_NONBLOCK when
 * nonblock: the connect then still completes or fails at once, as it does for local sockets).
 * Returns the fd (>= 0, owned by the caller), -ENAMETOOLONG when path does not fit sun_path,
 * -EINVAL for an empty path, -errno of socket() or connect(): -ENOENT (no socket: the agent's
 * socket unit is not running), -ECONNREFUSED (nobody listens), -EACCES, -EAGAIN (backlog
 * full on a non-blocking socket). */
int ipc_client_connect(const char *path, bool nonblock);

/* Splits a Postfix "transport:nexthop" value (mailbox_transport, fallback_transport, their
 * maps, local(8)'s deliver_pass()): the transport is what precedes the first ':' (the whole
 * value when there is none), the nexthop what follows; an empty or missing nexthop is
 * default_nexthop, which may be NULL (then *ret_nexthop is NULL too). Leading and trailing
 * white space of value is ignored. Returns 0 with *ret_transport and *ret_nexthop (malloc'd),
 * -EINVAL when the transport is empty or not valid (ipc_client_transport_is_valid()) or the
 * nexthop is longer than IPC_NEXTHOP_MAX, -ENOMEM. Pure. */
int ipc_client_service_split(const char *value, const char *default_nexthop,
                             char **ret_transport, char **ret_nexthop);

/* Sends req on the connected stream socket fd and reads the agent's whole reply, blocking for at
 * most timeout_usec in total (IPC_TIMEOUT_INFINITY: for ever). Bytes the agent sends after its
 * final line are ignored; the connection serves one exchange and the caller closes it.
 * Returns
 *   0           with *ret, a reply with exactly one result per recipient of req (owned by the
 *               caller);
 *   -EINVAL     req cannot be sent (ipc_request_format());
 *   -ETIMEDOUT  the deadline passed;
 *   -ECONNRESET the agent closed the connection before its reply was complete;
 *   -EBADMSG, -EMSGSIZE the agent's reply is malformed (ipc_reply_feed());
 *   -EPIPE and other -errno of send(), recv() or poll(); -ENOMEM.
 * On every failure *ret is untouched and, when ret_partial is not NULL, *ret_partial is set to
 * the results that did arrive (a reply with zero or more results, owned by the caller, NULL
 * after -ENOMEM or -EINVAL): the caller applies those and defers the other recipients. */
int ipc_client_call(int fd, const IpcRequest *req, uint64_t timeout_usec, IpcReply **ret,
                    IpcReply **ret_partial);
