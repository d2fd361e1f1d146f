/* SPDX-License-Identifier: GPL-3.0-or-later */
/* tls: the server side of TLS for smtpd (STARTTLS, RFC 3207, and the implicit TLS of port 465,
 * RFC 8314), the only module that includes OpenSSL (STYLE.md §2). It builds an OpenSSL 3 server
 * context from Postfix's smtpd_tls_* parameters (passed in as TlsServerSettings: libshared reads
 * no configuration), runs a non-blocking handshake on a connected socket, and moves the bytes of
 * an established session through the SmtpStream transport vtable (tls_transport), so that the
 * SMTP protocol code does not know whether it talks plain or encrypted.
 *
 * Trust: the certificate and key files are trusted as their owner (root); everything the peer
 * sends is untrusted and handled by OpenSSL's record layer. The protocol-list parser takes
 * main.cf text (trusted, but checked: a bad value is an error naming it).
 *
 * Secrets (DESIGN.md, "Secrets that only root may read ... reach the unprivileged services as
 * systemd credentials"): the key and certificate are looked up with tls_credential_path(). When
 * the service runs with $CREDENTIALS_DIRECTORY (LoadCredential= in the unit) and that directory
 * holds a file named after the parameter ("smtpd_tls_key_file", "smtpd_tls_cert_file", and
 * "smtpd_tls_chain_files") and that file is at least TLS_CREDENTIAL_MIN bytes long, it is used
 * whatever main.cf says; a relative path in main.cf is taken relative to
 * $CREDENTIALS_DIRECTORY; an absolute path is used as it is (readable by the service's user, or
 * not at all). A shorter credential counts as absent: the units pair
 * "LoadCredential=smtpd_tls_key_file:/etc/ssl/private/..." with "SetCredential=
 * smtpd_tls_key_file:none", the fallback systemd passes when the source file does not exist, so
 * that a missing key does not stop the unit. The caller passes the directory (getenv() is the
 * service's business). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "macro.h"
#include "smtp_io.h"

/* Shorter credentials are placeholders; no PEM object is this short. */
#define TLS_CREDENTIAL_MIN 32

/* Postfix's protocol names, as bits of a protocol mask. */
typedef enum TlsProtocol {
        TLS_PROTOCOL_SSLV2 = 1u << 0,
        TLS_PROTOCOL_SSLV3 = 1u << 1,
        TLS_PROTOCOL_TLSV1 = 1u << 2,
        TLS_PROTOCOL_TLSV1_1 = 1u << 3,
        TLS_PROTOCOL_TLSV1_2 = 1u << 4,
        TLS_PROTOCOL_TLSV1_3 = 1u << 5,
        TLS_PROTOCOL_ALL = (1u << 6) - 1,
} TlsProtocol;

/* Parses a Postfix protocol list (smtpd_tls_protocols, smtpd_tls_mandatory_protocols) into the
 * mask of protocols it allows. Elements are separated by white space, commas or colons, names
 * are case-sensitive as in Postfix ("SSLv2", "SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"):
 *   NAME     include NAME: when any name is included, only the included ones are allowed;
 *   !NAME    exclude NAME;
 *   >=NAME   allow nothing below NAME;
 *   <=NAME   allow nothing above NAME.
 * An empty list allows everything. An excluded name that is unknown is ignored (a list written
 * for a newer library stays valid, as Postfix does); an unknown name anywhere else, an empty
 * name ("!", ">=") or another operator is an error. Pure: no I/O, no globals.
 * Returns 0 with *ret_mask (TlsProtocol bits, never 0), -EBADMSG on bad syntax or an unknown
 * name, -EINVAL when the list leaves no protocol allowed, -ENOMEM. */
int tls_protocols_parse(const char *p, size_t n, unsigned *ret_mask);
/* The name of one protocol bit ("TLSv1.2"), NULL for anything else. */
const char *tls_protocol_to_string(TlsProtocol p);

/* The credential lookup described above: name is the parameter ("smtpd_tls_key_file"), path its
 * value, credentials_dir $CREDENTIALS_DIRECTORY or NULL. Returns 0 with *ret (malloc'd) the file
 * to open, -ENOENT when path is empty and no credential of that name exists, -ENOMEM. */
int tls_credential_path(const char *credentials_dir, const char *name, const char *path,
                        char **ret);

/* What a server context is built from; strings are borrowed for tls_server_new() only. */
typedef struct TlsServerSettings {
        const char *cert_file;          /* smtpd_tls_cert_file: PEM certificate, then its chain */
        const char *key_file;           /* smtpd_tls_key_file: PEM key; NULL or "": cert_file */
        const char *chain_files;        /* smtpd_tls_chain_files: files each holding a key and
                                         * its chain; when not empty it replaces the two above */
        const char *protocols;          /* Postfix protocol list; NULL or "": all */
        const char *cipherlist;         /* OpenSSL cipher string for TLS <= 1.2 (the grade's
                                         * tls_*_cipherlist and the exclusions); NULL: "DEFAULT" */
        const char *credentials_dir;    /* $CREDENTIALS_DIRECTORY or NULL */
} TlsServerSettings;

typedef struct TlsServer TlsServer;

/* Builds a server context: protocols, ciphers, certificate chain and key (checked against each
 * other), renegotiation and compression off. Returns 0 with *ret, or a negative errno with
 * *ret_error (malloc'd, optional) naming the parameter and OpenSSL's reason: -ENOENT when no
 * certificate or key is configured (cert_file and chain_files empty), -EBADMSG for a bad
 * protocol list, -EINVAL when the protocols or the cipher list leave nothing usable, -EIO when a
 * file cannot be loaded or the key does not match, -ENOMEM. */
int tls_server_new(const TlsServerSettings *s, TlsServer **ret, char **ret_error);
/* Reference counting: a context outlives the settings object that made it while connections
 * still use it. unref accepts NULL and returns NULL. */
TlsServer *tls_server_ref(TlsServer *t);
TlsServer *tls_server_unref(TlsServer *t);
DEFINE_PTR_CLEANUP(TlsServer *, tls_server_unref);

typedef struct TlsConn TlsConn;

/* A server-side TLS session on the connected, non-blocking socket fd (not owned; it must stay
 * open while the TlsConn lives). OpenSSL writes with write(): the process must ignore SIGPIPE
 * (smtpd does), a peer that went away is then -EPIPE. Takes a reference on t. Returns 0,
 * -ENOMEM, -EIO. */
int tls_conn_new(TlsServer *t, int fd, TlsConn **ret);
/* Sends close_notify when the session was established and is intact (once, without waiting for
 * the reply), then frees. Accepts NULL, returns NULL. */
TlsConn *tls_conn_free(TlsConn *c);
DEFINE_PTR_CLEANUP(TlsConn *, tls_conn_free);

/* Advances the handshake. Returns 1 when it is complete, 0 when it must wait for the socket
 * (readable, or writable when tls_conn_wants_write() says so), -ECONNRESET when the peer went
 * away, -EPROTO when the handshake failed (tls_conn_error() says why), other -errno from the
 * socket. */
int tls_conn_handshake(TlsConn *c);
/* Whether the last operation that returned -EAGAIN (or handshake 0) waits for the socket to
 * become writable rather than readable. */
bool tls_conn_wants_write(const TlsConn *c);
/* Decrypted bytes held by the library that a read returns without touching the socket: the
 * event loop will not report them, so the caller reads them before waiting. */
bool tls_conn_pending(const TlsConn *c);
/* Reads decrypted bytes. Returns > 0, 0 at the end of the stream (close_notify or the peer's
 * EOF), -EAGAIN when it must wait (see tls_conn_wants_write()), -EPROTO on a TLS error,
 * -ECONNRESET, other -errno. */
ssize_t tls_conn_read(TlsConn *c, void *p, size_t n);
/* Writes bytes (at most one record's worth per call). Returns > 0 bytes taken, -EAGAIN, -EPIPE
 * or -ECONNRESET when the peer is gone, -EPROTO, other -errno. A write that returned -EAGAIN must
 * be repeated with the same bytes first (more may follow them), as SmtpStream does. */
ssize_t tls_conn_write(TlsConn *c, const void *p, size_t n);
/* OpenSSL's reason for the last failure ("error:0A00010B:SSL routines::wrong version number"),
 * or "" when there is none. Valid while c lives. */
const char *tls_conn_error(const TlsConn *c);

/* The negotiated parameters of an established session. Strings are valid while c lives. */
typedef struct TlsInfo {
        const char *protocol;           /* "TLSv1.3" */
        const char *cipher;             /* "TLS_AES_256_GCM_SHA384" */
        int cipher_bits;                /* secret bits, 256 */
        int cipher_alg_bits;            /* algorithm bits, 256 */
} TlsInfo;
/* Returns 0 with *ret, -ENOTCONN before the handshake is complete. */
int tls_conn_info(const TlsConn *c, TlsInfo *ret);
/* Formats Postfix's description "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)",
 * the text of the smtpd_tls_loglevel 1 line, TERN_TLS and the Received: comment. Returns the
 * number of characters (as snprintf(), truncated to size) or -ENOTCONN. */
int tls_conn_describe(const TlsConn *c, char *buf, size_t size);

/* The SmtpStream transport over a TlsConn (ctx is the TlsConn *; the transport's free releases
 * it with tls_conn_free()). Hand it over with smtp_stream_set_transport() after the handshake:
 * that discards whatever plain input was pipelined behind STARTTLS. */
extern const SmtpTransport tls_transport;
