/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Unit tests of tls: the protocol-list parser (a table of valid and invalid lists reaching every
 * return code, and lengths that cut the text), the credential lookup, server contexts from a
 * certificate made at test time with "openssl req" under $TMPDIR (every error code), and
 * handshakes over a non-blocking socketpair against an OpenSSL client driven by the test:
 * session information, the SmtpStream transport with one-byte records and input split by a
 * small buffer (bytes held inside the library), a writer against a full socket, protocol
 * mismatch, a peer that goes away, and close_notify both ways. */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "check_main.h"
#include "tls.h"

/* ---- Protocol lists ---- */

#define P_ALL TLS_PROTOCOL_ALL
#define P_10_UP (TLS_PROTOCOL_TLSV1 | TLS_PROTOCOL_TLSV1_1 | TLS_PROTOCOL_TLSV1_2 | \
                 TLS_PROTOCOL_TLSV1_3)
#define P_12_UP (TLS_PROTOCOL_TLSV1_2 | TLS_PROTOCOL_TLSV1_3)

static const struct {
        const char *spec;
        int ret;
        unsigned mask;
} protocol_cases[] = {
        { "", 0, P_ALL },
        { " \t,,::\n", 0, P_ALL },
        { ">=TLSv1.2", 0, P_12_UP },
        { ">=TLSv1", 0, P_10_UP },
        { "!SSLv2, !SSLv3", 0, P_10_UP },
        { "!SSLv2 !SSLv3 !TLSv1 !TLSv1.1", 0, P_12_UP },
        { "!SSLv2:!SSLv3:!TLSv1:!TLSv1.1", 0, P_12_UP },
        { "TLSv1.2 TLSv1.3", 0, P_12_UP },
        { "TLSv1.3", 0, TLS_PROTOCOL_TLSV1_3 },
        { "<=TLSv1.2", 0, P_ALL & ~TLS_PROTOCOL_TLSV1_3 },
        { ">=TLSv1.2, <=TLSv1.2", 0, TLS_PROTOCOL_TLSV1_2 },
        { ">=TLSv1 !TLSv1.1", 0, P_10_UP & ~TLS_PROTOCOL_TLSV1_1 },
        { "TLSv1 TLSv1.2 TLSv1.3 !TLSv1.2", 0, TLS_PROTOCOL_TLSV1 | TLS_PROTOCOL_TLSV1_3 },
        { "!TLSv1.4", 0, P_ALL },                       /* unknown exclusion: ignored */
        { "!TLSv1.4, >=TLSv1.2", 0, P_12_UP },
        { "TLSv1.4", -EBADMSG, 0 },
        { ">=TLSv1.4", -EBADMSG, 0 },
        { "<=SSLv4", -EBADMSG, 0 },
        { "tlsv1.2", -EBADMSG, 0 },                     /* names are case-sensitive */
        { "=TLSv1.2", -EBADMSG, 0 },
        { "=>TLSv1.2", -EBADMSG, 0 },
        { "!", -EBADMSG, 0 },
        { ">=", -EBADMSG, 0 },
        { "<=, TLSv1.2", -EBADMSG, 0 },
        { "! TLSv1", -EBADMSG, 0 },
        { ">=TLSv1.3, !TLSv1.3", -EINVAL, 0 },
        { "TLSv1.2 !TLSv1.2", -EINVAL, 0 },
        { ">=TLSv1.3 <=TLSv1.2", -EINVAL, 0 },
        { "!SSLv2 !SSLv3 !TLSv1 !TLSv1.1 !TLSv1.2 !TLSv1.3", -EINVAL, 0 },
};

START_TEST(test_protocols_table)
{
        for (size_t i = 0; i < ELEMENTSOF(protocol_cases); i++) {
                unsigned mask = 0xdead;
                int r;

                r = tls_protocols_parse(protocol_cases[i].spec, strlen(protocol_cases[i].spec),
                                        &mask);
                ck_assert_msg(r == protocol_cases[i].ret, "'%s': %d, expected %d",
                              protocol_cases[i].spec, r, protocol_cases[i].ret);
                if (r == 0)
                        ck_assert_msg(mask == protocol_cases[i].mask,
                                      "'%s': mask %#x, expected %#x", protocol_cases[i].spec,
                                      mask, protocol_cases[i].mask);
                else
                        ck_assert_uint_eq(mask, 0xdead);        /* untouched on error */
        }
}
END_TEST

START_TEST(test_protocols_length)
{
        unsigned mask;

        /* Only n bytes count: no NUL needed, nothing read beyond. */
        ck_assert_int_eq(tls_protocols_parse("TLSv1.2junk", 7, &mask), 0);
        ck_assert_uint_eq(mask, TLS_PROTOCOL_TLSV1_2);
        ck_assert_int_eq(tls_protocols_parse(">=TLSv1.3", 2, &mask), -EBADMSG);
        ck_assert_int_eq(tls_protocols_parse(NULL, 0, &mask), 0);
        ck_assert_uint_eq(mask, P_ALL);
        ck_assert_int_eq(tls_protocols_parse("TLSv1.3", 6, &mask), -EBADMSG);  /* "TLSv1." */
        ck_assert_int_eq(tls_protocols_parse("TLSv1.3", 5, &mask), 0);         /* "TLSv1" */
        ck_assert_uint_eq(mask, TLS_PROTOCOL_TLSV1);
}
END_TEST

START_TEST(test_protocol_names)
{
        ck_assert_str_eq(tls_protocol_to_string(TLS_PROTOCOL_SSLV2), "SSLv2");
        ck_assert_str_eq(tls_protocol_to_string(TLS_PROTOCOL_TLSV1_3), "TLSv1.3");
        ck_assert_ptr_null(tls_protocol_to_string(TLS_PROTOCOL_ALL));
        ck_assert_ptr_null(tls_protocol_to_string(0));
}
END_TEST

/* ---- Files ---- */

static char *tmpdir_path;
static char *cert_path, *key_path, *other_key_path, *chain_path;

static char *path_in(const char *dir, const char *name) {
        char *p;

        ck_assert_int_ge(asprintf(&p, "%s/%s", dir, name), 0);
        return p;
}

static void write_file(const char *path, const char *text) {
        FILE *f = fopen(path, "we");

        ck_assert_ptr_nonnull(f);
        ck_assert_int_ge(fputs(text, f), 0);
        ck_assert_int_eq(fclose(f), 0);
}

static char *read_file(const char *path) {
        FILE *f = fopen(path, "re");
        char *p = calloc(1, 65536);
        size_t n;

        ck_assert_ptr_nonnull(f);
        ck_assert_ptr_nonnull(p);
        n = fread(p, 1, 65535, f);
        p[n] = '\0';
        fclose(f);
        return p;
}

static void make_cert(const char *cert, const char *key) {
        char cmd[2048];

        snprintf(cmd, sizeof cmd, "openssl req -x509 -newkey ec -pkeyopt "
                 "ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=mx.example.test "
                 "-keyout '%s' -out '%s' >/dev/null 2>&1", key, cert);
        ck_assert_int_eq(system(cmd), 0);
}

static void setup_files(void) {
        const char *tmp = getenv("TMPDIR");
        _cleanup_free_ char *tmpl = NULL, *other_cert = NULL, *k = NULL, *c = NULL;

        ck_assert_int_ge(asprintf(&tmpl, "%s/test-tls.XXXXXX", tmp ? tmp : "/tmp"), 0);
        ck_assert_ptr_nonnull(mkdtemp(tmpl));
        tmpdir_path = TAKE_PTR(tmpl);
        cert_path = path_in(tmpdir_path, "cert.pem");
        key_path = path_in(tmpdir_path, "key.pem");
        other_key_path = path_in(tmpdir_path, "other-key.pem");
        other_cert = path_in(tmpdir_path, "other-cert.pem");
        chain_path = path_in(tmpdir_path, "chain.pem");
        make_cert(cert_path, key_path);
        make_cert(other_cert, other_key_path);
        /* smtpd_tls_chain_files: the key, then its certificate. */
        k = read_file(key_path);
        c = read_file(cert_path);
        {
                _cleanup_free_ char *both = NULL;

                ck_assert_int_ge(asprintf(&both, "%s%s", k, c), 0);
                write_file(chain_path, both);
        }
}

static void teardown_files(void) {
        char cmd[1024];

        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir_path);
        ck_assert_int_eq(system(cmd), 0);
        tmpdir_path = mfree(tmpdir_path);
        cert_path = mfree(cert_path);
        key_path = mfree(key_path);
        other_key_path = mfree(other_key_path);
        chain_path = mfree(chain_path);
}

/* ---- Credentials ---- */

START_TEST(test_credential_path)
{
        _cleanup_free_ char *creds = path_in(tmpdir_path, "creds");
        _cleanup_free_ char *cred_key = NULL, *placeholder = NULL;
        char *p = NULL;

        ck_assert_int_eq(mkdir(creds, 0700), 0);
        cred_key = path_in(creds, "smtpd_tls_key_file");
        placeholder = path_in(creds, "smtpd_tls_cert_file");
        write_file(cred_key, "-----BEGIN PRIVATE KEY-----\nnot really a key but long enough\n");
        write_file(placeholder, "none");        /* SetCredential= fallback: absent */

        /* No credentials directory: the path as it is. */
        ck_assert_int_eq(tls_credential_path(NULL, "smtpd_tls_key_file", "/etc/k.pem", &p), 0);
        ck_assert_str_eq(p, "/etc/k.pem");
        p = mfree(p);
        ck_assert_int_eq(tls_credential_path("", "smtpd_tls_key_file", "k.pem", &p), 0);
        ck_assert_str_eq(p, "k.pem");
        p = mfree(p);
        ck_assert_int_eq(tls_credential_path(NULL, "smtpd_tls_key_file", "", &p), -ENOENT);
        ck_assert_int_eq(tls_credential_path(NULL, "smtpd_tls_key_file", NULL, &p), -ENOENT);
        ck_assert_ptr_null(p);

        /* The credential of that name wins over any path. */
        ck_assert_int_eq(tls_credential_path(creds, "smtpd_tls_key_file", "/etc/k.pem", &p), 0);
        ck_assert_str_eq(p, cred_key);
        p = mfree(p);
        ck_assert_int_eq(tls_credential_path(creds, "smtpd_tls_key_file", "", &p), 0);
        ck_assert_str_eq(p, cred_key);
        p = mfree(p);

        /* A placeholder or a missing credential: relative paths in the directory, absolute
         * ones as they are. */
        ck_assert_int_eq(tls_credential_path(creds, "smtpd_tls_cert_file", "/etc/c.pem", &p), 0);
        ck_assert_str_eq(p, "/etc/c.pem");
        p = mfree(p);
        ck_assert_int_eq(tls_credential_path(creds, "smtpd_tls_cert_file", "c.pem", &p), 0);
        ck_assert_str_eq(p + strlen(creds), "/c.pem");
        p = mfree(p);
        ck_assert_int_eq(tls_credential_path(creds, "smtpd_tls_chain_files", "", &p), -ENOENT);
        ck_assert_int_eq(tls_credential_path(creds, "smtpd_tls_cert_file", "", &p), -ENOENT);
        ck_assert_ptr_null(p);
}
END_TEST

/* ---- Server contexts ---- */

static int server_from(const char *cert, const char *key, const char *chain, const char *protos,
                       const char *ciphers, const char *creds, char **ret_error) {
        TlsServerSettings s = {
                .cert_file = cert,
                .key_file = key,
                .chain_files = chain,
                .protocols = protos,
                .cipherlist = ciphers,
                .credentials_dir = creds,
        };
        TlsServer *t = NULL;
        int r;

        r = tls_server_new(&s, &t, ret_error);
        if (r >= 0)
                ck_assert_ptr_nonnull(t);
        tls_server_unref(t);
        return r;
}

START_TEST(test_server_new)
{
        _cleanup_free_ char *error = NULL, *creds = path_in(tmpdir_path, "creds2");
        _cleanup_free_ char *missing = path_in(tmpdir_path, "missing.pem");
        static const char *medium = "aNULL:-aNULL:HIGH:MEDIUM:+RC4:@STRENGTH";

        ck_assert_int_eq(server_from(cert_path, key_path, NULL, "!SSLv2, !SSLv3", medium, NULL,
                                     &error), 0);
        ck_assert_int_eq(server_from(cert_path, NULL, NULL, NULL, NULL, NULL, &error), -EIO);
        ck_assert_ptr_nonnull(strstr(error, "smtpd_tls_cert_file, smtpd_tls_key_file"));
        /* A file with both key and certificate does as cert_file alone. */
        ck_assert_int_eq(server_from(chain_path, NULL, NULL, NULL, NULL, NULL, &error), 0);
        ck_assert_int_eq(server_from(NULL, NULL, chain_path, ">=TLSv1.2", NULL, NULL, &error),
                         0);
        ck_assert_int_eq(server_from("", "", "  ", NULL, NULL, NULL, &error), -ENOENT);
        ck_assert_ptr_nonnull(strstr(error, "smtpd_tls_cert_file"));
        ck_assert_int_eq(server_from(missing, key_path, NULL, NULL, NULL, NULL, &error), -EIO);
        ck_assert_ptr_nonnull(strstr(error, "missing.pem"));
        ck_assert_int_eq(server_from(cert_path, other_key_path, NULL, NULL, NULL, NULL, &error),
                         -EIO);
        ck_assert_ptr_nonnull(strstr(error, "other-key.pem"));
        ck_assert_int_eq(server_from(NULL, NULL, missing, NULL, NULL, NULL, &error), -EIO);
        ck_assert_ptr_nonnull(strstr(error, "smtpd_tls_chain_files"));
        ck_assert_int_eq(server_from(cert_path, key_path, NULL, "TLSv9", NULL, NULL, &error),
                         -EBADMSG);
        ck_assert_ptr_nonnull(strstr(error, "TLSv9"));
        ck_assert_int_eq(server_from(cert_path, key_path, NULL, "TLSv1.2 !TLSv1.2", NULL, NULL,
                                     &error), -EINVAL);
        /* OpenSSL 3 has no SSLv2 or SSLv3. */
        ck_assert_int_eq(server_from(cert_path, key_path, NULL, "SSLv2 SSLv3", NULL, NULL,
                                     &error), -EINVAL);
        ck_assert_int_eq(server_from(cert_path, key_path, NULL, NULL, "NO-SUCH-CIPHER", NULL,
                                     &error), -EINVAL);
        ck_assert_int_eq(server_from(cert_path, key_path, NULL, NULL, NULL, NULL, NULL), 0);

        /* Credentials: main.cf names files that do not exist. */
        ck_assert_int_eq(mkdir(creds, 0700), 0);
        {
                _cleanup_free_ char *k = path_in(creds, "smtpd_tls_key_file");
                _cleanup_free_ char *c = path_in(creds, "smtpd_tls_cert_file");
                _cleanup_free_ char *kt = read_file(key_path), *ct = read_file(cert_path);

                write_file(k, kt);
                write_file(c, ct);
                ck_assert_int_eq(server_from(missing, missing, NULL, NULL, NULL, creds, &error),
                                 0);
                ck_assert_int_eq(server_from("", "", NULL, NULL, NULL, creds, &error), 0);
                /* A placeholder credential: main.cf's (missing) file is used. */
                write_file(c, "none");
                ck_assert_int_eq(server_from(missing, NULL, NULL, NULL, NULL, creds, &error),
                                 -EIO);
        }
        ERR_clear_error();
}
END_TEST

START_TEST(test_server_ref)
{
        TlsServerSettings s = { .cert_file = cert_path, .key_file = key_path };
        TlsServer *t = NULL;

        ck_assert_int_eq(tls_server_new(&s, &t, NULL), 0);
        ck_assert_ptr_eq(tls_server_ref(t), t);
        ck_assert_ptr_null(tls_server_unref(t));
        ck_assert_ptr_null(tls_server_unref(t));
        ck_assert_ptr_null(tls_server_unref(NULL));
        ck_assert_ptr_null(tls_conn_free(NULL));
}
END_TEST

/* ---- Handshakes ---- */

typedef struct Pair {
        int sv[2];                      /* [0] server, [1] client */
        TlsServer *server;
        TlsConn *conn;                  /* NULL once handed to a stream */
        SSL_CTX *client_ctx;
        SSL *client;
} Pair;

static void pair_open(Pair *p, const char *server_protos, int client_max_version) {
        TlsServerSettings s = { .cert_file = cert_path, .key_file = key_path,
                                .protocols = server_protos };

        *p = (Pair) {};
        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
                                    p->sv), 0);
        ck_assert_int_eq(tls_server_new(&s, &p->server, NULL), 0);
        ck_assert_int_eq(tls_conn_new(p->server, p->sv[0], &p->conn), 0);
        p->client_ctx = SSL_CTX_new(TLS_client_method());
        ck_assert_ptr_nonnull(p->client_ctx);
        SSL_CTX_set_verify(p->client_ctx, SSL_VERIFY_NONE, NULL);
        if (client_max_version)
                ck_assert_int_eq(SSL_CTX_set_max_proto_version(p->client_ctx,
                                                               client_max_version), 1);
        p->client = SSL_new(p->client_ctx);
        ck_assert_ptr_nonnull(p->client);
        ck_assert_int_eq(SSL_set_fd(p->client, p->sv[1]), 1);
        SSL_set_connect_state(p->client);
}

static void pair_close(Pair *p) {
        tls_conn_free(p->conn);
        tls_server_unref(p->server);
        SSL_free(p->client);
        SSL_CTX_free(p->client_ctx);
        if (p->sv[0] >= 0)
                close(p->sv[0]);
        if (p->sv[1] >= 0)
                close(p->sv[1]);
        ERR_clear_error();
}

/* Runs both sides, one step each, until both are done or one fails. Returns the server's last
 * handshake result. */
static int pair_handshake(Pair *p) {
        bool client_done = false;
        int r = 0;

        for (unsigned i = 0; i < 1000; i++) {
                if (!client_done) {
                        int k = SSL_do_handshake(p->client);

                        if (k == 1)
                                client_done = true;
                        else {
                                int e = SSL_get_error(p->client, k);

                                if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
                                        ERR_clear_error();
                                        client_done = true;     /* failed: the server sees */
                                }
                        }
                }
                r = tls_conn_handshake(p->conn);
                if (r < 0 || (r == 1 && client_done))
                        return r;
                if (r == 1) {
                        /* the client's last flight (TLS 1.3: Finished) is already read */
                        continue;
                }
                ck_assert(!tls_conn_wants_write(p->conn));      /* a socketpair has room */
        }
        ck_abort_msg("handshake did not finish");
        return r;
}

static void client_write(Pair *p, const char *s, size_t n) {
        size_t done;

        ck_assert_int_eq(SSL_write_ex(p->client, s, n, &done), 1);
        ck_assert_uint_eq(done, n);
}

START_TEST(test_handshake_info)
{
        TlsInfo info;
        char desc[160];
        Pair p;

        pair_open(&p, NULL, 0);
        ck_assert_int_eq(tls_conn_info(p.conn, &info), -ENOTCONN);
        ck_assert_int_eq(tls_conn_describe(p.conn, desc, sizeof desc), -ENOTCONN);
        ck_assert(!tls_conn_pending(p.conn));
        ck_assert_int_eq(pair_handshake(&p), 1);
        ck_assert_int_eq(tls_conn_handshake(p.conn), 1);       /* idempotent */
        ck_assert_int_eq(tls_conn_info(p.conn, &info), 0);
        ck_assert_str_eq(info.protocol, "TLSv1.3");
        ck_assert_str_eq(info.cipher, "TLS_AES_256_GCM_SHA384");
        ck_assert_int_eq(info.cipher_bits, 256);
        ck_assert_int_eq(info.cipher_alg_bits, 256);
        ck_assert_int_gt(tls_conn_describe(p.conn, desc, sizeof desc), 0);
        ck_assert_str_eq(desc, "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)");
        ck_assert_str_eq(tls_conn_error(p.conn), "");
        pair_close(&p);
}
END_TEST

START_TEST(test_handshake_tls12)
{
        TlsInfo info;
        Pair p;

        pair_open(&p, ">=TLSv1.2", TLS1_2_VERSION);
        ck_assert_int_eq(pair_handshake(&p), 1);
        ck_assert_int_eq(tls_conn_info(p.conn, &info), 0);
        ck_assert_str_eq(info.protocol, "TLSv1.2");
        pair_close(&p);
}
END_TEST

START_TEST(test_handshake_protocol_mismatch)
{
        Pair p;

        pair_open(&p, ">=TLSv1.3", TLS1_2_VERSION);
        ck_assert_int_eq(pair_handshake(&p), -EPROTO);
        ck_assert_str_ne(tls_conn_error(p.conn), "");
        pair_close(&p);
}
END_TEST

START_TEST(test_handshake_garbage)
{
        static const char junk[] = "EHLO this is not TLS\r\n";
        Pair p;

        pair_open(&p, NULL, 0);
        ck_assert_int_eq(write(p.sv[1], junk, sizeof junk - 1), (ssize_t) sizeof junk - 1);
        ck_assert_int_eq(tls_conn_handshake(p.conn), -EPROTO);
        ck_assert_ptr_nonnull(strstr(tls_conn_error(p.conn), "wrong version number"));
        pair_close(&p);
}
END_TEST

START_TEST(test_handshake_peer_gone)
{
        Pair p;

        pair_open(&p, NULL, 0);
        ck_assert_int_eq(tls_conn_handshake(p.conn), 0);        /* waits for a ClientHello */
        ck_assert(!tls_conn_wants_write(p.conn));
        close(p.sv[1]);
        p.sv[1] = -1;
        ck_assert_int_eq(tls_conn_handshake(p.conn), -ECONNRESET);
        pair_close(&p);
}
END_TEST

/* Bytes through SmtpStream over TLS: one-byte records, then a record larger than the stream's
 * input limit, which stays partly inside the library (tls_conn_pending()). */
START_TEST(test_stream_split_reads)
{
        _cleanup_(smtp_stream_done) SmtpStream s;
        static const char cmd[] = "EHLO client.example\r\n";
        char big[200];
        Pair p;

        pair_open(&p, NULL, 0);
        ck_assert_int_eq(pair_handshake(&p), 1);
        smtp_stream_init(&s, p.sv[0], 64, SMTP_IO_OUT_MAX);
        ck_assert_int_eq(smtp_stream_set_transport(&s, &tls_transport, TAKE_PTR(p.conn)), 0);

        ck_assert_int_eq(smtp_stream_fill(&s), -EAGAIN);
        ck_assert(!smtp_stream_read_wants_write(&s));
        for (size_t i = 0; i < sizeof cmd - 1; i++)
                client_write(&p, cmd + i, 1);
        while (buf_pending(&s.in) < sizeof cmd - 1)
                ck_assert_int_gt(smtp_stream_fill(&s), 0);
        ck_assert_str_eq(buf_peek(&s.in), cmd);
        buf_consume(&s.in, buf_pending(&s.in));

        /* 200 bytes in one record into a 64-byte input: the rest waits inside OpenSSL, where
         * no readiness event announces it. */
        memset(big, 'x', sizeof big);
        client_write(&p, big, sizeof big);
        ck_assert_int_eq(smtp_stream_fill(&s), 64);
        ck_assert(smtp_stream_transport_pending(&s));
        ck_assert_int_eq(smtp_stream_fill(&s), -ENOBUFS);
        for (size_t got = 64; got < sizeof big;) {
                ssize_t n;

                buf_consume(&s.in, buf_pending(&s.in));
                n = smtp_stream_fill(&s);
                ck_assert_int_gt(n, 0);
                got += (size_t) n;
        }
        ck_assert(!smtp_stream_transport_pending(&s));
        ck_assert_int_eq(smtp_stream_fill(&s), -EAGAIN);

        /* The client's close_notify is the end of the stream. */
        ck_assert_int_ge(SSL_shutdown(p.client), 0);
        buf_consume(&s.in, buf_pending(&s.in));
        ck_assert_int_eq(smtp_stream_fill(&s), 0);
        ck_assert(s.eof);
        pair_close(&p);
}
END_TEST

/* Replies larger than the socket can take: partial flushes, -EAGAIN with wants-write, resumed
 * with the same bytes, all of it arriving in order. */
START_TEST(test_stream_full_socket)
{
        _cleanup_(smtp_stream_done) SmtpStream s;
        static const size_t total = 300 * 1024;
        size_t received = 0, queued = 0;
        int small = 4096;
        char line[1100];
        Pair p;

        pair_open(&p, NULL, 0);
        ck_assert_int_eq(setsockopt(p.sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small), 0);
        ck_assert_int_eq(pair_handshake(&p), 1);
        smtp_stream_init(&s, p.sv[0], 1024, 2 * total);
        ck_assert_int_eq(smtp_stream_set_transport(&s, &tls_transport, TAKE_PTR(p.conn)), 0);

        memset(line, 'a', 1000);
        for (unsigned i = 0; queued < total; i++) {
                line[0] = (char) ('a' + i % 26);
                ck_assert_int_eq(smtp_stream_reply(&s, 250, false, NULL, "%.1000s", line), 0);
                queued += 1006;
        }

        {
                _cleanup_free_ char *expected = malloc(queued), *got = malloc(queued);
                bool saw_partial = false;
                unsigned i = 0;

                ck_assert_ptr_nonnull(expected);
                ck_assert_ptr_nonnull(got);
                ck_assert_uint_eq(buf_pending(&s.out), queued);
                memcpy(expected, buf_peek(&s.out), queued);
                for (;;) {
                        int r = smtp_stream_flush(&s);
                        size_t n = 0;

                        ck_assert_int_ge(r, 0);
                        if (r == 0)
                                saw_partial = true;
                        while (received < queued &&
                               SSL_read_ex(p.client, got + received, queued - received, &n) == 1)
                                received += n;
                        ERR_clear_error();
                        if (r == 1 && received >= queued)
                                break;
                        ck_assert_uint_lt(++i, 100000);
                }
                ck_assert(saw_partial);
                ck_assert(memcmp(expected, got, queued) == 0);
        }
        ck_assert_uint_eq(received, queued);
        pair_close(&p);
}
END_TEST

START_TEST(test_free_sends_close_notify)
{
        char b[16];
        size_t n;
        Pair p;

        pair_open(&p, NULL, 0);
        ck_assert_int_eq(pair_handshake(&p), 1);
        p.conn = tls_conn_free(p.conn);
        ck_assert_int_eq(SSL_read_ex(p.client, b, sizeof b, &n), 0);
        ck_assert_int_eq(SSL_get_error(p.client, 0), SSL_ERROR_ZERO_RETURN);
        pair_close(&p);
}
END_TEST

START_TEST(test_write_after_peer_gone)
{
        ssize_t n = 0;
        Pair p;

        (void) signal(SIGPIPE, SIG_IGN);        /* as smtpd does (tls.h) */
        pair_open(&p, NULL, 0);
        ck_assert_int_eq(pair_handshake(&p), 1);
        close(p.sv[1]);
        p.sv[1] = -1;
        for (unsigned i = 0; i < 100 && n >= 0; i++)
                n = tls_conn_write(p.conn, "250 Ok\r\n", 8);
        ck_assert(n == -EPIPE || n == -ECONNRESET);
        ck_assert_int_eq(tls_conn_write(p.conn, "", 0), 0);
        pair_close(&p);
}
END_TEST

static Suite *tls_suite(void) {
        Suite *s = suite_create("tls");
        TCase *tc;

        tc = tcase_create("protocols");
        tcase_add_test(tc, test_protocols_table);
        tcase_add_test(tc, test_protocols_length);
        tcase_add_test(tc, test_protocol_names);
        suite_add_tcase(s, tc);

        tc = tcase_create("credentials");
        tcase_add_checked_fixture(tc, setup_files, teardown_files);
        tcase_add_test(tc, test_credential_path);
        suite_add_tcase(s, tc);

        tc = tcase_create("server");
        tcase_add_checked_fixture(tc, setup_files, teardown_files);
        tcase_add_test(tc, test_server_new);
        tcase_add_test(tc, test_server_ref);
        suite_add_tcase(s, tc);

        tc = tcase_create("conn");
        tcase_add_unchecked_fixture(tc, setup_files, teardown_files);
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_handshake_info);
        tcase_add_test(tc, test_handshake_tls12);
        tcase_add_test(tc, test_handshake_protocol_mismatch);
        tcase_add_test(tc, test_handshake_garbage);
        tcase_add_test(tc, test_handshake_peer_gone);
        tcase_add_test(tc, test_stream_split_reads);
        tcase_add_test(tc, test_stream_full_socket);
        tcase_add_test(tc, test_free_sends_close_notify);
        tcase_add_test(tc, test_write_after_peer_gone);
        suite_add_tcase(s, tc);
        return s;
}

TERN_CHECK_MAIN(tls_suite)
