/* SPDX-License-Identifier: GPL-3.0-or-later */
/* smtp: the SMTP and LMTP delivery agents (Postfix's smtp(8) and lmtp(8)), one binary. main.c
 * takes the connected qmgr socket and runs the request loop; smtp_settings.c reads main.cf
 * (smtp_* or lmtp_* parameters by the mode); smtp_conn.c finds the servers of a nexthop (MX,
 * A/AAAA, [host], unix sockets) and opens, reads and writes a connection with deadlines;
 * smtp_deliver.c holds the conversation (EHLO/LHLO, pipelined MAIL/RCPT, DATA, RSET, QUIT) and
 * answers one qmgr request with a result per recipient; smtp_reply.c parses server replies.
 * Remote servers and DNS answers are untrusted; queue files are only read. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "buf.h"
#include "config.h"
#include "dns.h"
#include "ipc.h"
#include "macro.h"
#include "smtp_io.h"
#include "smtp_reply.h"

typedef struct SmtpSettings {
        bool lmtp;                      /* LMTP mode: lmtp_* parameters, LHLO, per-rcpt DATA */
        Config *config;                 /* owned; the strings below point into it */
        const char *queue_directory;
        const char *myhostname;
        const char *helo_name;          /* smtp_helo_name / lmtp_lhlo_name */
        char **fallback_relays;         /* smtp_fallback_relay, owned strv, may be empty */
        char **inet_interfaces;         /* owned strv */
        int family;                     /* inet_protocols: AF_UNSPEC, AF_INET, AF_INET6 */
        bool dns;                       /* DNS lookups (not disable_dns_lookups, level) */
        bool host_lookup_native;        /* smtp_host_lookup has "native" */
        bool host_lookup_dns;           /* smtp_host_lookup has "dns" */
        const char *bind_address;       /* smtp_bind_address, "" none */
        const char *bind_address6;
        const char *tcp_port;           /* smtp_tcp_port ("smtp", "25"), lmtp_tcp_port */
        bool skip_5xx_greeting;
        bool cache_on_demand;           /* smtp_connection_cache_on_demand */
        char **cache_destinations;      /* smtp_connection_cache_destinations, owned strv */
        uint64_t cache_time_limit_usec;
        uint64_t reuse_time_limit_usec;
        uint64_t reuse_count_limit;     /* 0: none */
        uint64_t mx_address_limit;      /* 0: none */
        uint64_t mx_session_limit;      /* 0: none */
        uint64_t connect_timeout_usec;  /* 0: the kernel's */
        uint64_t helo_timeout_usec;
        uint64_t mail_timeout_usec;
        uint64_t rcpt_timeout_usec;
        uint64_t data_init_timeout_usec;
        uint64_t data_xfer_timeout_usec;
        uint64_t data_done_timeout_usec;
        uint64_t rset_timeout_usec;
        uint64_t quit_timeout_usec;
        uint64_t starttls_timeout_usec; /* for the TLS issue's STARTTLS hook */
        uint64_t max_idle_usec;
        uint64_t max_use;               /* 0: no limit */
        uint64_t ipc_timeout_usec;
        bool disable_mime_output_conversion;    /* no 8BITMIME to 7BIT downgrade */
        uint64_t line_length_limit;     /* smtp_line_length_limit / lmtp_..., 0: none */
} SmtpSettings;

/* Reads DIR/main.cf with the -o overrides (NULL-terminated, may be NULL), for the SMTP or the
 * LMTP agent. Returns 0, or -errno with *ret_error (malloc'd) naming the bad parameter. */
int smtp_settings_load(const char *config_dir, char *const *overrides, bool lmtp,
                       SmtpSettings **ret, char **ret_error);
SmtpSettings *smtp_settings_free(SmtpSettings *s);
DEFINE_PTR_CLEANUP(SmtpSettings *, smtp_settings_free);

/* ---- Servers and connections (smtp_conn.c) ---- */

/* One server to try: a resolved address and the name it was found under. */
typedef struct SmtpHost {
        char *name;                     /* "mx.example.com", "127.0.0.1", "/run/dovecot/lmtp" */
        struct sockaddr_storage sa;
        socklen_t sa_len;
        char relay[IPC_RELAY_MAX + 1];  /* "mx.example.com[192.0.2.1]:25", "host[/path]" */
} SmtpHost;

typedef struct SmtpHostList {
        SmtpHost *items;
        size_t n;
} SmtpHostList;

void smtp_host_list_done(SmtpHostList *l);

/* Why a nexthop has no server to try: dsn and Postfix's text. */
typedef struct SmtpFailure {
        char dsn[IPC_DSN_MAX + 1];
        char text[IPC_TEXT_MAX + 1];
} SmtpFailure;

/* Finds the servers for nexthop (SMTP: "domain", "domain:port", "[host]", "[host]:port"; LMTP:
 * "unix:/path", "unix:private/x" (under queue_directory), "inet:host:port", "[host]:port",
 * "host:port", "host") in the order to try them: MX preference order (equal ones shuffled by
 * the resolver), each host's addresses, cut at smtp_mx_address_limit; an MX list in which this
 * host appears keeps only the more preferred ones. dns is created on first use (TERN_DNS_SERVER
 * names test servers) and kept. Returns 1 with *ret filled, 0 with *ret_fail saying why there is
 * none (null MX 5.1.10, loop 5.4.6, not found 5.4.4 / 5.1.2, DNS trouble 4.4.3), -ENOMEM. */
int smtp_hosts_resolve(const SmtpSettings *s, Dns **dns, const char *nexthop,
                       SmtpHostList *ret, SmtpFailure *ret_fail);

/* A connection to one server. */
typedef struct SmtpConn {
        int fd;                         /* owned, non-blocking */
        SmtpStream stream;
        SmtpReplyParser parser;
        SmtpCaps caps;
        char key[IPC_NEXTHOP_MAX + 1];  /* the nexthop it serves (connection cache key) */
        char relay[IPC_RELAY_MAX + 1];
        uint64_t connected_usec;        /* CLOCK_MONOTONIC */
        uint64_t n_used;                /* transactions done on it */
        bool broken;                    /* I/O failed or protocol out of step: do not reuse */
} SmtpConn;

/* Connects to host (bind address, connect timeout), with a stream set up. Returns 0, -errno
 * from socket(), bind() or connect() (-ETIMEDOUT after connect_timeout). */
int smtp_conn_open(const SmtpSettings *s, const SmtpHost *host, SmtpConn **ret);
/* Closes and frees; accepts NULL, returns NULL. Does not send QUIT. */
SmtpConn *smtp_conn_free(SmtpConn *c);
DEFINE_PTR_CLEANUP(SmtpConn *, smtp_conn_free);
/* Queues bytes for the server. Returns 0, -ENOBUFS (flush first). */
int smtp_conn_write(SmtpConn *c, const void *p, size_t n);
/* Sends everything queued, waiting at most timeout_usec (0: for ever). Returns 0, -ETIMEDOUT,
 * -errno (-EPIPE, -ECONNRESET: the server is gone). */
int smtp_conn_flush(SmtpConn *c, uint64_t timeout_usec);
/* Reads one whole reply, waiting at most timeout_usec (0: for ever). Returns 0 with *ret,
 * -ETIMEDOUT, -ECONNRESET at end of file, the parser's errors, -errno. */
int smtp_conn_read_reply(SmtpConn *c, uint64_t timeout_usec, SmtpReply **ret);

/* ---- Deliveries (smtp_deliver.c) ---- */

/* The agent: settings, the resolver and the cached connection, across requests. */
typedef struct SmtpAgent {
        const SmtpSettings *settings;
        Dns *dns;                       /* owned, NULL until first needed */
        SmtpConn *cached;               /* owned: an idle connection kept for reuse */
        uint64_t cached_since_usec;
} SmtpAgent;

void smtp_agent_done(SmtpAgent *a);

/* Handles one request: finds the servers of its nexthop, delivers (reusing the cached
 * connection when it serves the same nexthop), logs each result and appends one result line
 * per recipient to out (the request loop adds the end line). Per-recipient failures are
 * results, not errors. Returns 0, or -errno (-ENOMEM, -ENOBUFS from out) when no reply could
 * be built. */
int smtp_request_handle(SmtpAgent *a, const IpcRequest *req, Buf *out);

/* Arms the idle timer of the cached connection (SIGALRM after smtp_connection_cache_time_limit
 * sends QUIT and shuts it down), or disarms it; main.c installs the handler. */
void smtp_cache_timer_arm(SmtpAgent *a);
void smtp_cache_timer_disarm(void);
void smtp_cache_signal_install(void);
