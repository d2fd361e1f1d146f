/* SPDX-License-Identifier: GPL-3.0-or-later */
/* smtpd: the SMTP server role (DESIGN.md, "Roles"): one single-threaded sd-event process that
 * serves every connection of its listening sockets (port 25, or 587/465 with --role). This
 * header ties its parts together:
 *   main.c              options, the event loop, signals, sd_notify;
 *   smtpd_settings.c    main.cf → SmtpdSettings, rebuilt on SIGHUP, shared by reference;
 *   smtpd_server.c      listening sockets, accepting, per-client connection counts, the fsync
 *                       worker pool, graceful stop;
 *   smtpd_session.c     one SMTP conversation: the state machine of RFC 5321 with ESMTP;
 *   smtpd_check.c       the restriction lists (smtpd_*_restrictions) and recipient tables.
 * Everything a client sends is untrusted; settings come from main.cf, trusted as its owner. */
#pragma once

#include <systemd/sd-event.h>

#include "cleanup.h"
#include "config.h"
#include "dict.h"
#include "dns.h"
#include "match.h"
#include "queue.h"
#include "rewrite.h"
#include "smtp_data.h"
#include "tls.h"
#include "workpool.h"

typedef enum SmtpdRole {
        SMTPD_ROLE_SMTPD,               /* port 25, the MX */
        SMTPD_ROLE_SUBMISSION,          /* port 587 */
        SMTPD_ROLE_SMTPS,               /* port 465, implicit TLS */
        _SMTPD_ROLE_MAX,
        _SMTPD_ROLE_INVALID = -EINVAL,
} SmtpdRole;

const char *smtpd_role_to_string(SmtpdRole r);
SmtpdRole smtpd_role_from_string(const char *s);

/* smtpd_tls_security_level (or the legacy smtpd_use_tls / smtpd_enforce_tls). */
typedef enum SmtpdTlsLevel {
        SMTPD_TLS_NONE,                 /* no STARTTLS */
        SMTPD_TLS_MAY,                  /* offered */
        SMTPD_TLS_ENCRYPT,              /* required before mail: 530 5.7.0 */
        _SMTPD_TLS_LEVEL_MAX,
        _SMTPD_TLS_LEVEL_INVALID = -EINVAL,
} SmtpdTlsLevel;

const char *smtpd_tls_level_to_string(SmtpdTlsLevel l);
SmtpdTlsLevel smtpd_tls_level_from_string(const char *s);

/* ---- Restrictions (smtpd_check.c) ---- */

/* The points where Postfix evaluates a restriction list. */
typedef enum SmtpdStage {
        SMTPD_STAGE_CLIENT,             /* smtpd_client_restrictions */
        SMTPD_STAGE_HELO,               /* smtpd_helo_restrictions */
        SMTPD_STAGE_SENDER,             /* smtpd_sender_restrictions */
        SMTPD_STAGE_RELAY,              /* smtpd_relay_restrictions */
        SMTPD_STAGE_RECIPIENT,          /* smtpd_recipient_restrictions */
        SMTPD_STAGE_DATA,               /* smtpd_data_restrictions */
        SMTPD_STAGE_END_OF_DATA,        /* smtpd_end_of_data_restrictions */
        SMTPD_STAGE_ETRN,               /* smtpd_etrn_restrictions */
        _SMTPD_STAGE_MAX,
        _SMTPD_STAGE_INVALID = -EINVAL,
} SmtpdStage;

typedef enum SmtpdRestrictionOp {
        SMTPD_RESTRICT_PERMIT,
        SMTPD_RESTRICT_REJECT,
        SMTPD_RESTRICT_DEFER,
        SMTPD_RESTRICT_PERMIT_MYNETWORKS,
        SMTPD_RESTRICT_PERMIT_SASL_AUTHENTICATED,
        SMTPD_RESTRICT_PERMIT_TLS_CLIENTCERTS,
        SMTPD_RESTRICT_PERMIT_AUTH_DESTINATION,
        SMTPD_RESTRICT_REJECT_UNAUTH_DESTINATION,
        SMTPD_RESTRICT_DEFER_UNAUTH_DESTINATION,
        SMTPD_RESTRICT_REJECT_UNLISTED_RECIPIENT,
        SMTPD_RESTRICT_REJECT_UNLISTED_SENDER,
        SMTPD_RESTRICT_UNKNOWN,         /* not (yet) known: 451 4.3.5 Server configuration error */
        _SMTPD_RESTRICT_MAX,
        _SMTPD_RESTRICT_INVALID = -EINVAL,
} SmtpdRestrictionOp;

typedef struct SmtpdRestriction {
        SmtpdRestrictionOp op;
        char *name;                     /* as written in main.cf */
} SmtpdRestriction;

typedef struct SmtpdRestrictionList {
        SmtpdRestriction *items;
        size_t n;
} SmtpdRestrictionList;

/* A reply decided by a check: "code enhanced text". */
typedef struct SmtpdReply {
        unsigned code;
        char enhanced[8];
        char text[640];
} SmtpdReply;

/* ---- Settings (smtpd_settings.c) ---- */

typedef struct SmtpdSettings {
        unsigned n_ref;
        Config *config;
        SmtpdRole role;

        char *myhostname;
        char *banner;                   /* smtpd_banner, expanded */
        char *queue_directory;
        char *trigger_path;             /* qmgr's trigger socket in the runtime directory */
        char *recipient_delimiter;

        uint64_t timeout_usec;          /* smtpd_timeout */
        uint64_t error_sleep_usec;      /* smtpd_error_sleep_time */
        uint64_t message_size_limit;    /* 0: none */
        uint64_t queue_minfree;
        size_t recipient_limit;         /* smtpd_recipient_limit */
        unsigned soft_error_limit;
        unsigned hard_error_limit;
        unsigned connection_count_limit;        /* 0: none */
        bool helo_required;
        bool disable_vrfy;
        bool delay_reject;
        bool strict_rfc821_envelopes;
        bool smtputf8_enable;
        bool reject_unlisted_recipient;
        bool reject_unlisted_sender;
        unsigned discard_ehlo;          /* SmtpdEhloKeyword bits not advertised */
        char **noop_commands;           /* smtpd_noop_commands, upper case */

        SmtpDataLimits data_limits;
        unsigned bare_lf_reject_code;   /* smtpd_forbid_bare_newline_reject_code */
        unsigned reject_code;           /* reject_code */
        unsigned defer_code;            /* defer_code */
        unsigned relay_reject_code;     /* relay_domains_reject_code */
        unsigned unknown_local_code;    /* unknown_local_recipient_reject_code */
        unsigned unknown_virtual_alias_code;
        unsigned unknown_virtual_mailbox_code;
        unsigned unknown_relay_code;

        MatchList *mynetworks;
        MatchList *bare_lf_exclusions;  /* smtpd_forbid_bare_newline_exclusions */
        MatchList *event_limit_exceptions;      /* smtpd_client_event_limit_exceptions */
        SmtpdRestrictionList restrictions[_SMTPD_STAGE_MAX];
        DictList *local_recipient_maps;
        DictList *virtual_alias_maps;
        DictList *virtual_mailbox_maps;
        DictList *relay_recipient_maps;
        RewriteSettings *rewrite;

        char *mail_name;
        char *myorigin;
        CleanupSettings cleanup;        /* rewrite_headers is decided per client */
        unsigned header_rewrite;        /* SmtpdHeaderRewrite bits */

        /* TLS. tls is NULL when TLS is off or its certificate could not be loaded (then
         * STARTTLS is not offered and answers 454); the smtps role refuses to start then. The
         * key and certificate may come from $CREDENTIALS_DIRECTORY (tls.h). */
        SmtpdTlsLevel tls_level;
        bool tls_wrappermode;           /* smtpd_tls_wrappermode: handshake before the banner */
        bool tls_auth_only;             /* smtpd_tls_auth_only (for AUTH, later) */
        unsigned tls_loglevel;          /* smtpd_tls_loglevel */
        uint64_t starttls_timeout_usec; /* smtpd_starttls_timeout */
        TlsServer *tls;
} SmtpdSettings;

/* local_header_rewrite_clients. */
typedef enum SmtpdHeaderRewrite {
        SMTPD_HEADER_REWRITE_INET_INTERFACES = 1u << 0, /* a client on one of our addresses */
        SMTPD_HEADER_REWRITE_MYNETWORKS = 1u << 1,
        SMTPD_HEADER_REWRITE_ALL = 1u << 2,
} SmtpdHeaderRewrite;

typedef enum SmtpdEhloKeyword {
        SMTPD_EHLO_PIPELINING = 1u << 0,
        SMTPD_EHLO_SIZE = 1u << 1,
        SMTPD_EHLO_VRFY = 1u << 2,
        SMTPD_EHLO_ETRN = 1u << 3,
        SMTPD_EHLO_ENHANCEDSTATUSCODES = 1u << 4,
        SMTPD_EHLO_8BITMIME = 1u << 5,
        SMTPD_EHLO_DSN = 1u << 6,
        SMTPD_EHLO_SMTPUTF8 = 1u << 7,
        SMTPD_EHLO_CHUNKING = 1u << 8,
        SMTPD_EHLO_STARTTLS = 1u << 9,
} SmtpdEhloKeyword;

/* Reads config_dir/main.cf, applies the -o overrides and builds the settings of role (the smtps
 * role defaults to smtpd_tls_wrappermode = yes, as master.cf's smtps line does; an -o wins).
 * Returns 0, or -errno with *ret_error saying what is wrong (file and line where main.cf is at
 * fault; the missing parameter when wrapper mode has no certificate). */
int smtpd_settings_load(const char *config_dir, char *const *overrides, SmtpdRole role,
                        SmtpdSettings **ret, char **ret_error);
SmtpdSettings *smtpd_settings_ref(SmtpdSettings *s);
SmtpdSettings *smtpd_settings_unref(SmtpdSettings *s);
DEFINE_PTR_CLEANUP(SmtpdSettings *, smtpd_settings_unref);

/* ---- Checks (smtpd_check.c) ---- */

/* What a check knows about the session. Strings may be NULL when not yet known. */
typedef struct SmtpdCheckContext {
        const char *client_addr;
        const char *client_name;
        const char *helo;
        const char *sender;             /* internal form; "" for <> */
        const char *recipient;          /* internal form */
        const char *etrn_domain;
        bool sasl_authenticated;
        bool tls_client_cert;
} SmtpdCheckContext;

/* Parses one restriction list. Returns 0, -ENOMEM. */
int smtpd_restriction_list_parse(const char *spec, SmtpdRestrictionList *ret);
void smtpd_restriction_list_done(SmtpdRestrictionList *l);
/* Whether the relay and recipient lists together can refuse relaying, as Postfix demands at
 * start-up (reject, defer, reject_unauth_destination or defer_unauth_destination). */
bool smtpd_restrictions_can_refuse_relay(const SmtpdSettings *s);

/* Evaluates the list of stage. Returns 0 when nothing rejected (permitted, or the list ran
 * out), 1 with *ret filled when the client is refused, -errno on an internal failure. */
int smtpd_check_stage(SmtpdSettings *s, SmtpdStage stage, const SmtpdCheckContext *ctx,
                      SmtpdReply *ret);
/* Postfix's implicit reject_unlisted_recipient (smtpd_reject_unlisted_recipient): is the
 * recipient known in the table of its address class (local_recipient_maps,
 * virtual_alias_maps, virtual_mailbox_maps, relay_recipient_maps)? Returns 0 when known or not
 * checkable, 1 with *ret filled when unknown or a lookup failed. */
int smtpd_check_recipient_known(SmtpdSettings *s, const char *recipient, SmtpdReply *ret);
/* The same for reject_unlisted_sender (only in a local or virtual domain). */
int smtpd_check_sender_known(SmtpdSettings *s, const char *sender, SmtpdReply *ret);

/* Fills a reply. text is formatted; it must carry already sanitised peer strings. */
void smtpd_reply_set(SmtpdReply *r, unsigned code, const char *enhanced, const char *fmt, ...)
        _printf_(4, 5);

/* ---- Server (smtpd_server.c) and sessions (smtpd_session.c) ---- */

typedef struct SmtpSession SmtpSession;

typedef struct Server {
        sd_event *event;
        SmtpdSettings *settings;
        const char *config_dir;
        char *const *overrides;
        SmtpdRole role;
        QueueDirs *queue;
        char *queue_path;               /* the path queue is open on */
        WorkPool *pool;
        sd_event_source *pool_source;
        Dns *dns;                       /* client name lookups; NULL: smtpd_peername_lookup = no */
        sd_event_source **listeners;
        size_t n_listeners;
        SmtpSession *sessions;          /* all live sessions, a doubly linked list */
        size_t n_sessions;
        void *client_counts;            /* tsearch() tree of ClientCount */
        bool stopping;
        bool freeing;                   /* server_free() is running */
        bool accept_paused;             /* out of file descriptors */
        bool trigger_due;               /* a batch queued mail: wake qmgr once after it */
        sd_event_source *accept_retry;
} Server;

int server_new(sd_event *e, const char *config_dir, char *const *overrides, SmtpdRole role,
               Server **ret);
Server *server_free(Server *srv);
DEFINE_PTR_CLEANUP(Server *, server_free);
/* Re-reads main.cf; on error keeps the old settings. New sessions get the new settings. */
int server_reload(Server *srv);
/* Whether new sessions look up the client name (smtpd_peername_lookup, and a resolver). */
bool server_peername_lookup(Server *srv);
/* Stops accepting, ends idle sessions, lets sessions in DATA finish; the loop exits when the
 * last one is gone. */
void server_stop(Server *srv);

/* Connection counts per client address, for smtpd_client_connection_count_limit. inc returns
 * the count including this connection, or -ENOMEM. */
int server_client_inc(Server *srv, const char *addr);
void server_client_dec(Server *srv, const char *addr);
/* Called when a session is freed: exits the loop when stopping and none is left. */
void server_session_gone(Server *srv);

/* Takes a connected socket (non-blocking, close-on-exec). On failure the fd is closed. */
int smtp_session_new(Server *srv, int fd, SmtpSession **ret);
SmtpSession *smtp_session_free(SmtpSession *s);
/* Graceful stop: ends the session now unless a message is being received or committed, in
 * which case it ends after its reply. */
void smtp_session_shutdown(SmtpSession *s);
SmtpSession *smtp_session_next(SmtpSession *s);
