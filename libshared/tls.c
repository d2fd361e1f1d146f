/* SPDX-License-Identifier: GPL-3.0-or-later */
/* tls: OpenSSL 3 server contexts, non-blocking server sessions and their SmtpStream transport
 * (see tls.h). OpenSSL's error queue is per thread and shared by every session of the process:
 * each operation starts with it empty and leaves it empty, keeping its reason in the TlsConn. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "errmsg.h"
#include "tls.h"

DEFINE_PTR_CLEANUP(SSL_CTX *, SSL_CTX_free);
DEFINE_PTR_CLEANUP(SSL *, SSL_free);

/* One TLS record of plaintext: the most a write hands OpenSSL at a time. */
#define TLS_WRITE_MAX 16384
#define TLS_ERROR_MAX 256

struct TlsServer {
        unsigned n_ref;
        SSL_CTX *ctx;
};

struct TlsConn {
        TlsServer *server;
        SSL *ssl;
        bool established;
        bool failed;                    /* a fatal error: no close_notify */
        bool wants_write;
        char error[TLS_ERROR_MAX];
};

/* ---- Protocol lists ---- */

static const struct {
        const char *name;
        TlsProtocol bit;
        int version;                    /* OpenSSL's constant */
} protocols[] = {
        { "SSLv2", TLS_PROTOCOL_SSLV2, 0x0002 },
        { "SSLv3", TLS_PROTOCOL_SSLV3, SSL3_VERSION },
        { "TLSv1", TLS_PROTOCOL_TLSV1, TLS1_VERSION },
        { "TLSv1.1", TLS_PROTOCOL_TLSV1_1, TLS1_1_VERSION },
        { "TLSv1.2", TLS_PROTOCOL_TLSV1_2, TLS1_2_VERSION },
        { "TLSv1.3", TLS_PROTOCOL_TLSV1_3, TLS1_3_VERSION },
};

const char *tls_protocol_to_string(TlsProtocol p) {
        for (size_t i = 0; i < ELEMENTSOF(protocols); i++)
                if (protocols[i].bit == p)
                        return protocols[i].name;
        return NULL;
}

/* The index of the name p[0..n) in protocols[], or -1. */
static int protocol_lookup(const char *p, size_t n) {
        for (size_t i = 0; i < ELEMENTSOF(protocols); i++)
                if (strlen(protocols[i].name) == n && memcmp(protocols[i].name, p, n) == 0)
                        return (int) i;
        return -1;
}

static bool is_separator(char c) {
        return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == ',' || c == ':';
}

int tls_protocols_parse(const char *p, size_t n, unsigned *ret_mask) {
        unsigned include = 0, exclude = 0, mask;
        size_t i = 0;

        assert(p || n == 0);
        assert(ret_mask);

        while (i < n) {
                enum { OP_INCLUDE, OP_EXCLUDE, OP_MIN, OP_MAX } op = OP_INCLUDE;
                size_t start;
                int k;

                if (is_separator(p[i])) {
                        i++;
                        continue;
                }
                if (p[i] == '!') {
                        op = OP_EXCLUDE;
                        i++;
                } else if (n - i >= 2 && p[i] == '>' && p[i + 1] == '=') {
                        op = OP_MIN;
                        i += 2;
                } else if (n - i >= 2 && p[i] == '<' && p[i + 1] == '=') {
                        op = OP_MAX;
                        i += 2;
                }
                start = i;
                while (i < n && !is_separator(p[i]))
                        i++;
                if (i == start)
                        return -EBADMSG;
                k = protocol_lookup(p + start, i - start);
                if (k < 0) {
                        if (op == OP_EXCLUDE)
                                continue;       /* unknown to us: nothing to exclude */
                        return -EBADMSG;
                }
                switch (op) {
                case OP_INCLUDE:
                        include |= protocols[k].bit;
                        break;
                case OP_EXCLUDE:
                        exclude |= protocols[k].bit;
                        break;
                case OP_MIN:
                        exclude |= protocols[k].bit - 1;        /* every lower bit */
                        break;
                case OP_MAX:
                        exclude |= TLS_PROTOCOL_ALL & ~((protocols[k].bit << 1) - 1);
                        break;
                }
        }

        mask = (include ? include : TLS_PROTOCOL_ALL) & ~exclude;
        if (mask == 0)
                return -EINVAL;
        *ret_mask = mask;
        return 0;
}

/* ---- Credentials ---- */

int tls_credential_path(const char *credentials_dir, const char *name, const char *path,
                        char **ret) {
        char *f = NULL;

        assert(name);
        assert(ret);

        if (!isempty(credentials_dir)) {
                struct stat st;

                if (asprintf(&f, "%s/%s", credentials_dir, name) < 0)
                        return -ENOMEM;
                /* A tiny one is the unit's SetCredential= fallback for a LoadCredential=
                 * whose source file does not exist ("none"): no credential. */
                if (stat(f, &st) >= 0 && S_ISREG(st.st_mode) &&
                    st.st_size >= TLS_CREDENTIAL_MIN) {
                        *ret = f;
                        return 0;
                }
                f = mfree(f);
                if (!isempty(path) && path[0] != '/') {
                        if (asprintf(&f, "%s/%s", credentials_dir, path) < 0)
                                return -ENOMEM;
                        *ret = f;
                        return 0;
                }
        }
        if (isempty(path))
                return -ENOENT;
        f = strdup(path);
        if (!f)
                return -ENOMEM;
        *ret = f;
        return 0;
}

/* ---- Server contexts ---- */

/* OpenSSL's reason for the last failure, the error queue emptied. */
static void take_error(char *buf, size_t size) {
        unsigned long e, last = 0;

        while ((e = ERR_get_error()) != 0)
                last = e;       /* the outermost reason is queued last */
        if (last == 0)
                snprintf(buf, size, "%s", "");
        else
                ERR_error_string_n(last, buf, size);
}

static int ssl_error(char **ret_error, int error, const char *what) {
        char reason[TLS_ERROR_MAX];

        take_error(reason, sizeof(reason));
        return errmsg_set(ret_error, error, "%s%s%s", what, reason[0] ? ": " : "", reason);
}

static int set_protocols(SSL_CTX *ctx, const char *spec, char **ret_error) {
        unsigned mask;
        int lo = -1, hi = -1, r;

        r = tls_protocols_parse(strempty(spec), strlen(strempty(spec)), &mask);
        if (r == -EINVAL)
                return errmsg_set(ret_error, r, "TLS protocol list '%s' allows no protocol",
                                  spec);
        if (r < 0)
                return errmsg_set(ret_error, r, "bad TLS protocol list '%s'", strempty(spec));

        /* SSLv2 and SSLv3 are gone from OpenSSL 3 builds: the range starts at TLSv1 at best. */
        for (int i = 2; i < (int) ELEMENTSOF(protocols); i++)
                if (mask & protocols[i].bit) {
                        if (lo < 0)
                                lo = i;
                        hi = i;
                }
        if (lo < 0)
                return errmsg_set(ret_error, -EINVAL,
                                  "TLS protocol list '%s' allows no protocol this library has",
                                  spec);
        if (!SSL_CTX_set_min_proto_version(ctx, protocols[lo].version) ||
            !SSL_CTX_set_max_proto_version(ctx, protocols[hi].version))
                return ssl_error(ret_error, -EINVAL, "cannot set the TLS protocol range");
        /* Holes inside the range ("!TLSv1.1" between TLSv1 and TLSv1.2). */
        for (int i = lo + 1; i < hi; i++)
                if (!(mask & protocols[i].bit))
                        SSL_CTX_set_options(ctx, protocols[i].version == TLS1_VERSION
                                                         ? SSL_OP_NO_TLSv1
                                                 : protocols[i].version == TLS1_1_VERSION
                                                         ? SSL_OP_NO_TLSv1_1
                                                         : SSL_OP_NO_TLSv1_2);
        return 0;
}

/* Loads one certificate chain and its key; param names the setting in messages. */
static int load_pair(SSL_CTX *ctx, const char *param, const char *cert, const char *key,
                     char **ret_error) {
        char reason[TLS_ERROR_MAX];

        if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1)
                goto fail;
        cert = key;
        if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
            SSL_CTX_check_private_key(ctx) != 1)
                goto fail;
        return 0;
fail:
        take_error(reason, sizeof(reason));
        return errmsg_set(ret_error, -EIO, "%s: cannot load %s%s%s", param, cert,
                          reason[0] ? ": " : "", reason);
}

static int load_chain_files(SSL_CTX *ctx, const TlsServerSettings *s, char **ret_error) {
        _cleanup_free_ char *copy = NULL, *cred = NULL;
        char *save = NULL;
        int r;

        /* A credential of that name stands for the whole list. */
        r = tls_credential_path(s->credentials_dir, "smtpd_tls_chain_files", NULL, &cred);
        if (r >= 0)
                return load_pair(ctx, "smtpd_tls_chain_files", cred, cred, ret_error);
        if (r != -ENOENT)
                return r;

        copy = strdup(s->chain_files);
        if (!copy)
                return -ENOMEM;
        /* Each file: a key, then the certificate chain that goes with it (Postfix). */
        for (char *w = strtok_r(copy, " \t\r\n,", &save); w;
             w = strtok_r(NULL, " \t\r\n,", &save)) {
                _cleanup_free_ char *f = NULL;

                if (w[0] != '/' && !isempty(s->credentials_dir)) {
                        if (asprintf(&f, "%s/%s", s->credentials_dir, w) < 0)
                                return -ENOMEM;
                } else if (!(f = strdup(w)))
                        return -ENOMEM;
                r = load_pair(ctx, "smtpd_tls_chain_files", f, f, ret_error);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int load_credentials(SSL_CTX *ctx, const TlsServerSettings *s, char **ret_error) {
        _cleanup_free_ char *cert = NULL, *key = NULL;
        int r;

        if (!isempty(s->chain_files) && strspn(s->chain_files, " \t\r\n,") <
                                                strlen(s->chain_files))
                return load_chain_files(ctx, s, ret_error);

        r = tls_credential_path(s->credentials_dir, "smtpd_tls_cert_file", s->cert_file, &cert);
        if (r == -ENOENT)
                return errmsg_set(ret_error, r, "smtpd_tls_cert_file is empty: no server "
                                  "certificate configured");
        if (r < 0)
                return r;
        r = tls_credential_path(s->credentials_dir, "smtpd_tls_key_file",
                                isempty(s->key_file) ? s->cert_file : s->key_file, &key);
        if (r < 0)
                return r;
        return load_pair(ctx, "smtpd_tls_cert_file, smtpd_tls_key_file", cert, key, ret_error);
}

int tls_server_new(const TlsServerSettings *s, TlsServer **ret, char **ret_error) {
        _cleanup_(SSL_CTX_freep) SSL_CTX *ctx = NULL;
        static const unsigned char sid_ctx[] = "tern-smtpd";
        TlsServer *t;
        int r;

        assert(s);
        assert(ret);

        ERR_clear_error();
        ctx = SSL_CTX_new(TLS_server_method());
        if (!ctx)
                return ssl_error(ret_error, -ENOMEM, "cannot create a TLS context");

        r = set_protocols(ctx, s->protocols, ret_error);
        if (r < 0)
                goto fail;
        if (SSL_CTX_set_cipher_list(ctx, isempty(s->cipherlist) ? "DEFAULT" : s->cipherlist)
            != 1) {
                r = ssl_error(ret_error, -EINVAL, "TLS cipher list leaves no cipher");
                goto fail;
        }
        /* No renegotiation (a client-driven CPU sink and the source of WANT_WRITE inside reads),
         * no compression (CRIME), a peer's missing close_notify is an ordinary end of stream
         * (SMTP ends its data with "." and QUIT). */
        SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
                                         SSL_OP_IGNORE_UNEXPECTED_EOF);
        /* SmtpStream retries a write with its buffer's current address and possibly more bytes
         * behind the same prefix. */
        SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
                                      SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
        SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof(sid_ctx) - 1);

        r = load_credentials(ctx, s, ret_error);
        if (r < 0)
                goto fail;

        t = calloc(1, sizeof(*t));
        if (!t) {
                r = -ENOMEM;
                goto fail;
        }
        t->n_ref = 1;
        t->ctx = TAKE_PTR(ctx);
        *ret = t;
        return 0;
fail:
        ERR_clear_error();
        return r;
}

TlsServer *tls_server_ref(TlsServer *t) {
        if (t)
                t->n_ref++;
        return t;
}

TlsServer *tls_server_unref(TlsServer *t) {
        if (!t)
                return NULL;
        assert(t->n_ref > 0);
        if (--t->n_ref > 0)
                return NULL;
        SSL_CTX_free(t->ctx);
        free(t);
        return NULL;
}

/* ---- Sessions ---- */

int tls_conn_new(TlsServer *t, int fd, TlsConn **ret) {
        _cleanup_(SSL_freep) SSL *ssl = NULL;
        TlsConn *c;

        assert(t);
        assert(fd >= 0);
        assert(ret);

        ERR_clear_error();
        ssl = SSL_new(t->ctx);
        if (!ssl || SSL_set_fd(ssl, fd) != 1) {
                ERR_clear_error();
                return ssl ? -EIO : -ENOMEM;
        }
        SSL_set_accept_state(ssl);

        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->server = tls_server_ref(t);
        c->ssl = TAKE_PTR(ssl);
        *ret = c;
        return 0;
}

TlsConn *tls_conn_free(TlsConn *c) {
        if (!c)
                return NULL;
        if (c->established && !c->failed) {
                /* close_notify, once; the peer's answer is not awaited (Postfix's
                 * tls_fast_shutdown_enable). */
                (void) SSL_shutdown(c->ssl);
                ERR_clear_error();
        }
        SSL_free(c->ssl);
        tls_server_unref(c->server);
        return mfree(c);
}

/* Maps the result of an SSL_* call. Returns -EAGAIN (wants_write set), 0 for the end of the
 * stream, or a negative errno with the reason kept. */
static int map_error(TlsConn *c, int ret) {
        int e = SSL_get_error(c->ssl, ret), saved = errno;

        c->wants_write = false;
        switch (e) {
        case SSL_ERROR_WANT_READ:
                return -EAGAIN;
        case SSL_ERROR_WANT_WRITE:
                c->wants_write = true;
                return -EAGAIN;
        case SSL_ERROR_ZERO_RETURN:
                ERR_clear_error();
                return 0;
        case SSL_ERROR_SYSCALL:
                take_error(c->error, sizeof(c->error));
                c->failed = true;
                if (saved == 0 || saved == EPIPE || saved == ECONNRESET) {
                        if (!c->error[0])
                                snprintf(c->error, sizeof(c->error), "%s",
                                         "lost connection");
                        return saved == EPIPE ? -EPIPE : -ECONNRESET;
                }
                if (!c->error[0])
                        snprintf(c->error, sizeof(c->error), "%s", strerror(saved));
                return -saved;
        default:
                take_error(c->error, sizeof(c->error));
                c->failed = true;
                return -EPROTO;
        }
}

int tls_conn_handshake(TlsConn *c) {
        int k, r;

        assert(c);
        if (c->established)
                return 1;
        ERR_clear_error();
        k = SSL_do_handshake(c->ssl);
        if (k == 1) {
                c->established = true;
                c->wants_write = false;
                return 1;
        }
        r = map_error(c, k);
        if (r == -EAGAIN)
                return 0;
        if (r == 0) {
                /* A close_notify in the middle of the handshake: the peer gave up. */
                c->failed = true;
                snprintf(c->error, sizeof(c->error), "%s", "lost connection");
                return -ECONNRESET;
        }
        return r;
}

bool tls_conn_wants_write(const TlsConn *c) {
        return c && c->wants_write;
}

bool tls_conn_pending(const TlsConn *c) {
        return c && c->established && SSL_pending(c->ssl) > 0;
}

ssize_t tls_conn_read(TlsConn *c, void *p, size_t n) {
        size_t got = 0;

        assert(c);
        if (n == 0)
                return -ENOBUFS;
        ERR_clear_error();
        if (SSL_read_ex(c->ssl, p, n, &got) == 1) {
                c->wants_write = false;
                return (ssize_t) got;
        }
        return map_error(c, 0);
}

ssize_t tls_conn_write(TlsConn *c, const void *p, size_t n) {
        size_t done = 0;
        int r;

        assert(c);
        if (n == 0)
                return 0;
        ERR_clear_error();
        if (SSL_write_ex(c->ssl, p, MIN(n, (size_t) TLS_WRITE_MAX), &done) == 1) {
                c->wants_write = false;
                return (ssize_t) done;
        }
        r = map_error(c, 0);
        return r == 0 ? -EPIPE : r;
}

const char *tls_conn_error(const TlsConn *c) {
        return c ? c->error : "";
}

int tls_conn_info(const TlsConn *c, TlsInfo *ret) {
        const SSL_CIPHER *cipher;
        int alg_bits = 0;

        assert(ret);
        if (!c || !c->established)
                return -ENOTCONN;
        cipher = SSL_get_current_cipher(c->ssl);
        *ret = (TlsInfo) {
                .protocol = SSL_get_version(c->ssl),
                .cipher = cipher ? SSL_CIPHER_get_name(cipher) : "unknown",
                .cipher_bits = cipher ? SSL_CIPHER_get_bits(cipher, &alg_bits) : 0,
        };
        ret->cipher_alg_bits = alg_bits;
        return 0;
}

int tls_conn_describe(const TlsConn *c, char *buf, size_t size) {
        TlsInfo info;
        int r;

        r = tls_conn_info(c, &info);
        if (r < 0)
                return r;
        return snprintf(buf, size, "%s with cipher %s (%d/%d bits)", info.protocol, info.cipher,
                        info.cipher_bits, info.cipher_alg_bits);
}

/* ---- The SmtpStream transport ---- */

static ssize_t transport_read(void *ctx, int fd, void *p, size_t n) {
        return tls_conn_read(ctx, p, n);
}

static ssize_t transport_write(void *ctx, int fd, const void *p, size_t n) {
        return tls_conn_write(ctx, p, n);
}

static bool transport_read_wants_write(void *ctx) {
        return tls_conn_wants_write(ctx);
}

static bool transport_pending(void *ctx) {
        return tls_conn_pending(ctx);
}

static void transport_free(void *ctx) {
        tls_conn_free(ctx);
}

const SmtpTransport tls_transport = {
        .name = "tls",
        .read = transport_read,
        .write = transport_write,
        .read_wants_write = transport_read_wants_write,
        .pending = transport_pending,
        .free = transport_free,
};
