/* SPDX-License-Identifier: GPL-3.0-or-later */
/* qmgr: the queue manager (DESIGN.md, "Roles", "Queue", "IPC"). One single-threaded sd-event
 * process, woken by the trigger datagram, that moves queue files incoming → active →
 * deferred/removed, resolves recipients with the rewrite library, schedules deliveries per
 * transport and destination with Postfix's concurrency and batching knobs, talks to the delivery
 * agents over their sockets (libshared/ipc.h), flips recipient status bytes (it is the single
 * writer of queue files after cleanup), and has notices composed by the bounce library.
 *   main.c            options, the loop, signals, sd_notify STATUS=;
 *   qmgr_settings.c   main.cf → QmgrSettings;
 *   qmgr_queue.c      scans, activation, results, completion, deferral, the defer log;
 *   qmgr_sched.c      transports, destinations, batches, agent connections.
 * Queue files and agents' replies are untrusted: a file that does not parse goes to corrupt/,
 * a reply that does not parse defers what it did not answer. */
#pragma once

#include <systemd/sd-event.h>

#include "bounce.h"
#include "buf.h"
#include "config.h"
#include "ipc.h"
#include "queue.h"
#include "rewrite.h"

typedef struct QmgrSettings {
        Config *config;
        char *queue_directory;
        char *run_directory;            /* agent sockets: <run_directory>/<transport> */
        char *myhostname;
        uint64_t queue_run_delay_usec;
        uint64_t minimal_backoff_usec;
        uint64_t maximal_backoff_usec;
        uint64_t maximal_queue_lifetime_usec;
        uint64_t bounce_queue_lifetime_usec;
        uint64_t delay_warning_usec;    /* 0: no delay notices */
        uint64_t agent_timeout_usec;    /* a delivery that takes longer is deferred */
        uint64_t max_idle_usec;         /* idle agent connections are closed after this */
        unsigned message_active_limit;
        unsigned initial_concurrency;
        unsigned process_limit;         /* connections per transport (default_process_limit) */
        bool soft_bounce;
        char **defer_transports;
        unsigned notify_classes;        /* QMGR_NOTIFY_* */
        RewriteSettings *rewrite;
        BounceSettings bounce;
} QmgrSettings;

typedef enum QmgrNotify {
        QMGR_NOTIFY_BOUNCE = 1u << 0,
        QMGR_NOTIFY_DELAY = 1u << 1,
        QMGR_NOTIFY_2BOUNCE = 1u << 2,
} QmgrNotify;

int qmgr_settings_load(const char *config_dir, char *const *overrides, QmgrSettings **ret,
                       char **ret_error);
QmgrSettings *qmgr_settings_free(QmgrSettings *s);
DEFINE_PTR_CLEANUP(QmgrSettings *, qmgr_settings_free);
/* <transport>_<name> when set in main.cf, else default_<name>. */
unsigned qmgr_settings_transport_uint(QmgrSettings *s, const char *transport, const char *name,
                                      unsigned fallback);

typedef struct Qmgr Qmgr;
typedef struct Message Message;
typedef struct Transport Transport;
typedef struct Destination Destination;
typedef struct Batch Batch;
typedef struct AgentConn AgentConn;

/* A recipient's fate noted while the message is active, applied when it completes. */
typedef struct Outcome {
        size_t index;
        char dsn[IPC_DSN_MAX + 1];
        char *relay;
        char *text;
        char *address;                  /* as delivered */
} Outcome;

struct Message {
        Qmgr *q;
        char id[QUEUE_ID_MAX + 1];
        QueueFile *file;                /* open for update in active/ */
        int lock_fd;                    /* holds the queue-file lock while active */
        uint64_t arrival_usec;
        unsigned batches;               /* batches not yet finished */
        Outcome *failed;                /* bounced recipients */
        size_t n_failed;
        Outcome *deferred;              /* recipients to try again */
        size_t n_deferred;
        Outcome *delivered;             /* for success notices (NOTIFY=SUCCESS) */
        size_t n_delivered;
        Message *prev, *next;
};

struct Batch {
        Message *msg;
        Destination *dest;
        size_t *index;                  /* recipient indexes in the queue file */
        char **address;                 /* resolved recipient addresses */
        size_t n;
        bool retried;                   /* already resent after a stale pooled connection */
        Batch *next;
};

struct Destination {
        Transport *transport;
        char *nexthop;
        Batch *head, *tail;             /* waiting batches */
        size_t n_waiting;
        unsigned active;                /* batches in delivery */
        unsigned window;                /* slow-start concurrency */
        unsigned limit;
        unsigned failures;              /* consecutive destination failures */
        uint64_t throttled_until;       /* CLOCK_REALTIME usec; 0: not throttled */
        bool ready;                     /* on the transport's ready ring */
        Destination *ready_next, *ready_prev;
        Destination *next;              /* all destinations of the transport */
};

struct Transport {
        Qmgr *q;
        char *name;
        char *socket_path;
        unsigned recipient_limit;
        unsigned concurrency_limit;
        unsigned process_limit;
        unsigned n_conns;               /* open or opening */
        AgentConn *idle;                /* idle connections, a stack */
        AgentConn *all;                 /* every connection */
        Destination *dests;
        Destination *ready;             /* ring of destinations with work to start */
        Transport *next;
};

struct AgentConn {
        Transport *transport;
        int fd;
        sd_event_source *io;
        sd_event_source *timer;
        Buf out;
        Buf in;
        IpcReplyParser *parser;
        Batch *batch;                   /* in delivery; NULL when idle */
        uint64_t idle_since;
        AgentConn *next_idle;
        AgentConn *all_next, *all_prev;
        unsigned uses;                  /* requests sent on this connection */
};

struct Qmgr {
        sd_event *event;
        QmgrSettings *settings;
        const char *config_dir;
        char *const *overrides;
        QueueDirs *dirs;
        Message *messages;              /* active messages */
        unsigned n_messages;
        Transport *transports;
        sd_event_source *trigger;
        sd_event_source *scan_timer;    /* deferred queue runs */
        sd_event_source *idle_timer;    /* closes idle agent connections */
        sd_event_source *rescan;        /* a scan of incoming/ asked for by qmgr itself */
        bool scan_incoming;             /* more incoming than the active limit allowed */
        bool stopping;
        uint64_t status_usec;           /* last STATUS= update */
        uint64_t n_delivered, n_deferred, n_bounced;
};

/* qmgr_queue.c */
int qmgr_recover(Qmgr *q);
int qmgr_scan_incoming(Qmgr *q);
/* Scans incoming/ soon, from the event loop (new notices, room in the active set). */
void qmgr_request_scan(Qmgr *q);
int qmgr_scan_deferred(Qmgr *q, bool all, const char *domain);
void qmgr_message_result(Message *m, size_t index, const char *address, IpcStatus status,
                         const char *dsn, const char *relay, const char *text);
void qmgr_message_batch_done(Message *m);
void qmgr_update_status(Qmgr *q);
/* At exit: active messages are dropped from memory; their files stay in active/. */
void qmgr_messages_free(Qmgr *q);

/* qmgr_sched.c */
Transport *qmgr_transport_get(Qmgr *q, const char *name);
/* Queues a batch for transport/nexthop. Takes ownership of b. */
int qmgr_enqueue_batch(Qmgr *q, const char *transport, const char *nexthop, Batch *b);
Batch *qmgr_batch_free(Batch *b);
void qmgr_schedule(Qmgr *q);
void qmgr_transports_free(Qmgr *q);
void qmgr_close_idle(Qmgr *q, uint64_t now);
bool qmgr_busy(Qmgr *q);

uint64_t now_usec(void);
