/* SPDX-License-Identifier: GPL-3.0-or-later */
/* cleanup: canonicalisation, Received:, header assembly and checks, missing headers, and the
 * queue file writing of a received message (see cleanup.h). The message content is untrusted
 * and arrives in bounded pieces; the settings and the envelope are trusted (smtpd checked the
 * envelope's syntax). RFC 5322 §3.6 (header fields), §3.6.7 (Received:), RFC 5321 §4.4 (trace
 * information). */
#include <inttypes.h>
#include <limits.h>
#include <strings.h>
#include <time.h>

#include "buf.h"
#include "cleanup.h"
#include "header.h"
#include "log.h"
#include "smtp_data.h"

/* Bytes of a queue file's content read at a time by cleanup_copy_message(). */
#define CLEANUP_COPY_CHUNK (64 * 1024)

struct Cleanup {
        char *myhostname;
        char *mail_name;
        char *undisclosed;              /* NULL: add no To: */
        char **drop;                    /* message_drop_headers, lower case */
        unsigned hopcount_limit;
        size_t header_size_limit;
        size_t token_limit;
        CleanupFromFormat from_format;
        bool rewrite_headers;
        bool add_missing;
        CleanupCanonicalFn canonical;
        void *canonical_userdata;

        QueueEnvelope *env;             /* not owned */
        QueueWriter *writer;
        char *full_name;

        Buf header;                     /* the logical header being assembled */
        Buf scratch;                    /* a rewritten header */
        bool header_open;               /* header holds a header's text */
        bool line_partial;              /* the last piece did not end its line */
        bool header_cut;                /* header_size_limit reached: the rest is discarded */
        bool in_body;
        bool body_first;                /* the first body byte is still to come */
        bool body_partial;
        bool ended;

        unsigned hops;
        uint64_t seen;                  /* 1 << HeaderType of every header seen */
        bool resent;                    /* a Resent-* header was seen */
        char *message_id;
        int error;                      /* sticky */
        int end_result;
};

static const char *const from_format_table[_CLEANUP_FROM_MAX] = {
        [CLEANUP_FROM_STANDARD] = "standard",
        [CLEANUP_FROM_OBSOLETE] = "obsolete",
};

CleanupFromFormat cleanup_from_format_from_string(const char *s) {
        if (!s)
                return _CLEANUP_FROM_INVALID;
        for (CleanupFromFormat f = 0; f < _CLEANUP_FROM_MAX; f++)
                if (strcasecmp(s, from_format_table[f]) == 0)
                        return f;
        return _CLEANUP_FROM_INVALID;
}

const char *cleanup_from_format_to_string(CleanupFromFormat f) {
        if (f < 0 || f >= _CLEANUP_FROM_MAX)
                return NULL;
        return from_format_table[f];
}

static int load_error(char **ret_error, int r, const char *name) {
        if (ret_error && asprintf(ret_error, "parameter %s: %s", name,
                                  r == -EINVAL ? "bad value" : strerror(-r)) < 0)
                *ret_error = NULL;
        return r;
}

static int load_count(Config *c, const char *name, uint64_t max, uint64_t *ret,
                      char **ret_error) {
        int64_t v;
        int r;

        r = config_get_int(c, name, &v);
        if (r < 0)
                return load_error(ret_error, r, name);
        if (v < 0 || (uint64_t) v > max)
                return load_error(ret_error, -ERANGE, name);
        *ret = (uint64_t) v;
        return 0;
}

int cleanup_settings_load(Config *c, CleanupSettings *ret, char **ret_error) {
        CleanupSettings s = {};
        const char *v;
        uint64_t n;
        int r;

        assert(c);
        assert(ret);

        s.myhostname = config_get(c, "myhostname");
        if (isempty(s.myhostname))
                return load_error(ret_error, -EINVAL, "myhostname");
        s.myorigin = config_get(c, "myorigin");
        s.mail_name = config_get(c, "mail_name");
        if (isempty(s.mail_name))
                return load_error(ret_error, -EINVAL, "mail_name");

        r = load_count(c, "hopcount_limit", UINT_MAX, &n, ret_error);
        if (r < 0)
                return r;
        if (n == 0)
                return load_error(ret_error, -ERANGE, "hopcount_limit");
        s.hopcount_limit = (unsigned) n;

        r = config_get_size(c, "header_size_limit", &n);
        if (r < 0)
                return load_error(ret_error, r, "header_size_limit");
        if (n == 0 || n > SIZE_MAX / 2)
                return load_error(ret_error, -ERANGE, "header_size_limit");
        s.header_size_limit = (size_t) n;

        r = load_count(c, "header_address_token_limit", SIZE_MAX, &n, ret_error);
        if (r < 0)
                return r;
        if (n == 0)
                return load_error(ret_error, -ERANGE, "header_address_token_limit");
        s.header_address_token_limit = (size_t) n;

        s.header_from_format =
                cleanup_from_format_from_string(config_get(c, "header_from_format"));
        if (s.header_from_format < 0)
                return load_error(ret_error, -EINVAL, "header_from_format");

        v = config_get(c, "undisclosed_recipients_header");
        if (!isempty(v) && !header_is_field_start(v, strlen(v), NULL, NULL))
                return load_error(ret_error, -EINVAL, "undisclosed_recipients_header");
        s.undisclosed_recipients_header = v;

        s.message_drop_headers = config_get(c, "message_drop_headers");
        if (!s.message_drop_headers)
                return load_error(ret_error, -EINVAL, "message_drop_headers");

        r = config_get_bool(c, "smtpd_tls_received_header", &s.tls_received_header);
        if (r < 0)
                return load_error(ret_error, r, "smtpd_tls_received_header");
        r = config_get_bool(c, "smtpd_sasl_authenticated_header",
                            &s.sasl_authenticated_header);
        if (r < 0)
                return load_error(ret_error, r, "smtpd_sasl_authenticated_header");
        r = config_get_bool(c, "always_add_missing_headers", &s.add_missing_headers);
        if (r < 0)
                return load_error(ret_error, r, "always_add_missing_headers");

        *ret = s;
        return 0;
}

/* ---- Formatting ---- */

int cleanup_format_date(int64_t seconds, Buf *out) {
        static const char days[7][4] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
        static const char months[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
        time_t t = (time_t) seconds;
        struct tm tm;
        long off;

        if (!localtime_r(&t, &tm) || tm.tm_wday < 0 || tm.tm_wday > 6 || tm.tm_mon < 0 ||
            tm.tm_mon > 11)
                return -EINVAL;
        off = tm.tm_gmtoff / 60;
        /* Postfix's mail_date(): day of month padded with a space (%e), zone name last. */
        return buf_printf(out, "%s, %2d %s %d %02d:%02d:%02d %c%02ld%02ld (%s)",
                          days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900,
                          tm.tm_hour, tm.tm_min, tm.tm_sec, off < 0 ? '-' : '+',
                          labs(off) / 60, labs(off) % 60, strempty(tm.tm_zone));
}

/* Text from a peer or a user inside a header: control bytes become '?', so that nothing can
 * end the header line or start a new one. In comments, '(' ')' and '\' are quoted
 * (RFC 5322 §3.2.2 quoted-pair) so that the comment stays balanced. */
static int append_sanitized(Buf *b, const char *s, bool comment) {
        int r;

        for (; *s; s++) {
                char ch = *s;

                if ((unsigned char) ch < 32 || ch == 127)
                        ch = '?';
                if (comment && (ch == '(' || ch == ')' || ch == '\\')) {
                        r = buf_append_char(b, '\\');
                        if (r < 0)
                                return r;
                }
                r = buf_append_char(b, ch);
                if (r < 0)
                        return r;
        }
        return 0;
}

static bool is_atext_phrase(const char *s) {
        if (isempty(s))
                return false;
        for (; *s; s++) {
                unsigned char u = (unsigned char) *s;

                if (u == ' ' || u >= 0x80 || (u > 32 && u < 127 && !strchr("()<>[]:;@\\,.\"", u)))
                        continue;
                return false;
        }
        return true;
}

/* The full name as an RFC 5322 phrase: as is when it is atoms and spaces, else quoted. */
static int append_phrase(Buf *b, const char *name) {
        int r;

        if (is_atext_phrase(name))
                return append_sanitized(b, name, /* comment= */ false);
        r = buf_append_char(b, '"');
        if (r < 0)
                return r;
        for (const char *s = name; *s; s++) {
                char ch = (unsigned char) *s < 32 || *s == 127 ? '?' : *s;

                if (ch == '"' || ch == '\\') {
                        r = buf_append_char(b, '\\');
                        if (r < 0)
                                return r;
                }
                r = buf_append_char(b, ch);
                if (r < 0)
                        return r;
        }
        return buf_append_char(b, '"');
}

/* ---- Writing ---- */

static int fail(Cleanup *c, int r) {
        assert(r < 0);
        if (c->error == 0)
                c->error = r;
        return c->error;
}

static bool too_many_hops(const Cleanup *c) {
        return c->hops >= c->hopcount_limit;
}

/* Writes a complete header (lines separated by LF, without the final LF). Nothing is written
 * once the message is refused for its hops: the file will be removed anyway. */
static int put_header(Cleanup *c, const char *p, size_t n) {
        int r;

        if (too_many_hops(c))
                return 0;
        r = queue_writer_put_line(c->writer, p, n);
        if (r < 0)
                return fail(c, r);
        return 0;
}

static int put_buf(Cleanup *c, const Buf *b) {
        return put_header(c, buf_peek(b), buf_pending(b));
}

static int write_received(Cleanup *c, const CleanupSettings *s, const CleanupExtra *x,
                          const char *first_rcpt) {
        _cleanup_(buf_done) Buf b = BUF_INIT(BUF_MAX_UNBOUNDED);
        const QueueEnvelope *e = c->env;
        const char *id = queue_writer_id(c->writer);
        int r;

        if (x && x->local_uid >= 0)
                r = buf_printf(&b, "Received: by %s (%s, from userid %ld)\n\tid %s; ",
                               c->myhostname, c->mail_name, x->local_uid, id);
        else if (!e->client_addr)
                r = buf_printf(&b, "Received: by %s (%s)\n\tid %s; ", c->myhostname,
                               c->mail_name, id);
        else {
                const char *name = e->client_name ?: "unknown";
                bool v6 = strchr(e->client_addr, ':') && !startswith(e->client_addr, "IPv6:");

                r = buf_append_str(&b, "Received: from ");
                if (r >= 0)
                        r = append_sanitized(&b, e->helo ?: name, /* comment= */ false);
                if (r >= 0)
                        r = buf_append_str(&b, " (");
                if (r >= 0)
                        r = append_sanitized(&b, name, /* comment= */ true);
                if (r >= 0)
                        r = buf_printf(&b, " [%s", v6 ? "IPv6:" : "");
                if (r >= 0)
                        r = append_sanitized(&b, e->client_addr, /* comment= */ true);
                if (r >= 0)
                        r = buf_append_str(&b, "])");
                if (r >= 0 && s->tls_received_header && x && x->tls) {
                        r = buf_append_str(&b, "\n\t(using ");
                        if (r >= 0)
                                r = append_sanitized(&b, x->tls, /* comment= */ false);
                        if (r >= 0)
                                r = buf_append_str(&b, ")\n\t(");
                        if (r >= 0)
                                r = append_sanitized(&b, x->tls_client ?:
                                                     "No client certificate requested",
                                                     /* comment= */ false);
                        if (r >= 0)
                                r = buf_append_char(&b, ')');
                }
                if (r >= 0 && s->sasl_authenticated_header && e->sasl_user) {
                        r = buf_append_str(&b, "\n\t(Authenticated sender: ");
                        if (r >= 0)
                                r = append_sanitized(&b, e->sasl_user, /* comment= */ true);
                        if (r >= 0)
                                r = buf_append_char(&b, ')');
                }
                if (r >= 0)
                        r = buf_printf(&b, "\n\tby %s (%s) with %s id %s", c->myhostname,
                                       c->mail_name, e->protocol ?: "SMTP", id);
                if (r >= 0 && first_rcpt) {
                        r = buf_append_str(&b, "\n\tfor <");
                        if (r >= 0)
                                r = header_address_externalize(first_rcpt, &b);
                        if (r >= 0)
                                r = buf_append_str(&b, ">; ");
                } else if (r >= 0)
                        r = buf_append_str(&b, ";\n\t");
        }
        if (r >= 0)
                r = cleanup_format_date((int64_t) (e->arrival_usec / 1000000), &b);
        if (r < 0)
                return r;

        c->hops++;      /* as Postfix counts it: our own Received: is in the content */
        return put_buf(c, &b);
}

/* ---- Envelope ---- */

static int canonicalize(Cleanup *c, const char *address, char **ret) {
        _cleanup_free_ char *result = NULL;
        int r;

        *ret = NULL;
        if (!c->canonical || isempty(address))
                return 0;
        r = c->canonical(c->canonical_userdata, address, &result);
        if (r == -EBADMSG)
                return 0;               /* not rewritable: kept as it is */
        if (r < 0)
                return r;
        if (result && !streq(result, address))
                *ret = TAKE_PTR(result);
        return 0;
}

static int canonicalize_envelope(Cleanup *c) {
        QueueEnvelope *e = c->env;
        int r;

        if (e->sender) {
                _cleanup_free_ char *s = NULL;

                r = canonicalize(c, e->sender, &s);
                if (r < 0)
                        return r;
                if (s) {
                        r = queue_envelope_set(e, QUEUE_FIELD_SENDER, s);
                        if (r < 0)
                                return r;
                }
        }
        for (size_t i = 0; i < e->n_rcpts; i++) {
                char *a = NULL;

                r = canonicalize(c, e->rcpts[i].address, &a);
                if (r < 0)
                        return r;
                if (a) {
                        if (strlen(a) > QUEUE_VALUE_MAX) {
                                free(a);
                                return -EINVAL;
                        }
                        free(e->rcpts[i].address);
                        e->rcpts[i].address = a;
                }
        }
        return 0;
}

static int drop_list_parse(const char *list, char ***ret) {
        char **l = NULL;
        int r;

        r = config_split_list(list, &l);
        if (r < 0)
                return r;
        *ret = l;
        return 0;
}

int cleanup_new(const CleanupSettings *s, int incoming_fd, QueueEnvelope *env,
                const CleanupExtra *x, uint64_t size_limit, Cleanup **ret) {
        _cleanup_(cleanup_freep) Cleanup *c = NULL;
        _cleanup_free_ char *first_rcpt = NULL;
        int r;

        assert(s);
        assert(env);
        assert(ret);

        if (isempty(s->myhostname) || !env->sender || env->n_rcpts == 0)
                return -EINVAL;
        if (s->header_from_format < 0 || s->header_from_format >= _CLEANUP_FROM_MAX)
                return -EINVAL;
        if (s->undisclosed_recipients_header && *s->undisclosed_recipients_header &&
            !header_is_field_start(s->undisclosed_recipients_header,
                                   strlen(s->undisclosed_recipients_header), NULL, NULL))
                return -EINVAL;

        c = calloc(1, sizeof(Cleanup));
        if (!c)
                return -ENOMEM;
        c->end_result = 1;
        c->env = env;
        c->hopcount_limit = s->hopcount_limit ?: CLEANUP_HOPCOUNT_LIMIT_DEFAULT;
        c->header_size_limit = s->header_size_limit ?: CLEANUP_HEADER_SIZE_LIMIT_DEFAULT;
        c->token_limit = s->header_address_token_limit ?: HEADER_ADDRESS_TOKEN_LIMIT;
        c->from_format = s->header_from_format;
        c->rewrite_headers = s->rewrite_headers;
        c->add_missing = s->add_missing_headers;
        c->canonical = s->canonical;
        c->canonical_userdata = s->canonical_userdata;
        c->header = BUF_INIT(c->header_size_limit);
        c->scratch = BUF_INIT(BUF_MAX_UNBOUNDED);

        c->myhostname = strdup(s->myhostname);
        c->mail_name = strdup(s->mail_name ?: "tern");
        if (!c->myhostname || !c->mail_name)
                return -ENOMEM;
        if (!isempty(s->undisclosed_recipients_header)) {
                c->undisclosed = strdup(s->undisclosed_recipients_header);
                if (!c->undisclosed)
                        return -ENOMEM;
        }
        r = drop_list_parse(s->message_drop_headers ?: CLEANUP_DROP_HEADERS_DEFAULT, &c->drop);
        if (r < 0)
                return r;
        if (x && x->local_full_name) {
                c->full_name = strdup(x->local_full_name);
                if (!c->full_name)
                        return -ENOMEM;
        }

        if (env->n_rcpts == 1) {
                first_rcpt = strdup(env->rcpts[0].address);
                if (!first_rcpt)
                        return -ENOMEM;
        }
        r = canonicalize_envelope(c);
        if (r < 0)
                return r;

        if (env->arrival_usec == 0) {
                struct timespec ts;

                r = NEG_ERRNO(clock_gettime(CLOCK_REALTIME, &ts));
                if (r < 0)
                        return r;
                env->arrival_usec = (uint64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
        }

        r = queue_writer_new(incoming_fd, env, size_limit, &c->writer);
        if (r < 0)
                return r;

        r = write_received(c, s, x, first_rcpt);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(c);
        return 0;
}

Cleanup *cleanup_free(Cleanup *c) {
        if (!c)
                return NULL;
        queue_writer_free(c->writer);
        free(c->myhostname);
        free(c->mail_name);
        free(c->undisclosed);
        strv_free(c->drop);
        free(c->full_name);
        buf_done(&c->header);
        buf_done(&c->scratch);
        free(c->message_id);
        return mfree(c);
}

const char *cleanup_queue_id(const Cleanup *c) {
        assert(c);
        return queue_writer_id(c->writer);
}

QueueWriter *cleanup_writer(Cleanup *c) {
        assert(c);
        return c->writer;
}

const char *cleanup_message_id(const Cleanup *c) {
        assert(c);
        return c->message_id;
}

unsigned cleanup_hop_count(const Cleanup *c) {
        assert(c);
        return c->hops;
}

/* ---- Headers ---- */

static bool seen(const Cleanup *c, HeaderType t) {
        return c->seen & (UINT64_C(1) << t);
}

static bool drop_listed(const Cleanup *c, const char *name, size_t n) {
        for (char **d = c->drop; d && *d; d++)
                if (strlen(*d) == n && strncasecmp(*d, name, n) == 0)
                        return true;
        return false;
}

static int header_canonical(void *userdata, const char *address, char **ret) {
        return canonicalize(userdata, address, ret);
}

/* The value of a header without its leading and trailing white space and line ends: the
 * Message-ID as Postfix logs it. Bounded by the header, which is bounded. */
static int note_message_id(Cleanup *c, const char *v, size_t n) {
        _cleanup_(buf_done) Buf b = BUF_INIT(BUF_MAX_UNBOUNDED);
        int r;

        for (size_t i = 0; i < n; i++) {
                if (v[i] == '\n' || v[i] == '\r')
                        continue;
                if ((v[i] == ' ' || v[i] == '\t') && buf_pending(&b) == 0)
                        continue;
                r = buf_append_char(&b, v[i]);
                if (r < 0)
                        return r;
        }
        while (buf_pending(&b) > 0 && (b.data[b.len - 1] == ' ' || b.data[b.len - 1] == '\t'))
                b.data[--b.len] = '\0';
        if (buf_pending(&b) == 0)
                return 0;
        free(c->message_id);
        c->message_id = buf_steal(&b);
        return c->message_id ? 0 : -ENOMEM;
}

/* Handles one complete logical header: classify, count, note, drop or rewrite, write. This is
 * where header_checks will act, before the header is written. */
static int header_flush(Cleanup *c) {
        const char *p = buf_peek(&c->header);
        size_t n = buf_pending(&c->header), name_len, value_offset;
        HeaderType t;
        unsigned flags;
        int r;

        if (!c->header_open)
                return 0;
        c->header_open = false;
        if (c->header_cut) {
                /* A cut may leave folding white space at the end: never write an empty or
                 * blank last line, which would end the header section. */
                while (n > 0 && strchr(" \t\n", p[n - 1]))
                        n--;
                c->header_cut = false;
        }

        if (!header_is_field_start(p, n, &name_len, &value_offset))
                goto write;             /* not a header field: passed on as it came */

        t = header_type_from_name(p, name_len);
        flags = header_type_flags(t);
        if (t >= 0)
                c->seen |= UINT64_C(1) << t;
        if (flags & HEADER_FLAG_RESENT)
                c->resent = true;
        if (t == HEADER_RECEIVED)
                c->hops++;
        if (t == HEADER_MESSAGE_ID && !c->message_id) {
                r = note_message_id(c, p + value_offset, n - value_offset);
                if (r < 0)
                        return fail(c, r);
        }

        if (drop_listed(c, p, name_len))
                return 0;

        if (c->rewrite_headers && c->canonical &&
            (flags & (HEADER_FLAG_SENDER | HEADER_FLAG_RECIPIENT))) {
                buf_clear(&c->scratch);
                r = buf_append(&c->scratch, p, value_offset);
                if (r < 0)
                        return fail(c, r);
                r = header_address_rewrite(p + value_offset, n - value_offset, c->token_limit,
                                           header_canonical, c, &c->scratch);
                if (r < 0)
                        return fail(c, r);
                return put_buf(c, &c->scratch);
        }
write:
        return put_header(c, p, n);
}

static int add_missing_headers(Cleanup *c) {
        _cleanup_(buf_done) Buf b = BUF_INIT(BUF_MAX_UNBOUNDED);
        const char *resent = c->resent ? "Resent-" : "";
        uint64_t secs = c->env->arrival_usec / 1000000;
        int r;

        if (!c->add_missing)
                return 0;

        if (!seen(c, c->resent ? HEADER_RESENT_MESSAGE_ID : HEADER_MESSAGE_ID)) {
                time_t t = (time_t) secs;
                struct tm tm;
                size_t start;

                if (!gmtime_r(&t, &tm))
                        return fail(c, -EINVAL);
                /* Postfix: the time in UTC, the queue ID, myhostname. */
                r = buf_printf(&b, "%sMessage-Id: ", resent);
                start = buf_pending(&b);
                if (r >= 0)
                        r = buf_printf(&b, "<%04d%02d%02d%02d%02d%02d.%s@%s>",
                                       tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                                       tm.tm_hour, tm.tm_min, tm.tm_sec,
                                       queue_writer_id(c->writer), c->myhostname);
                if (r >= 0 && !c->resent && !c->message_id) {
                        c->message_id = strdup(buf_peek(&b) + start);
                        if (!c->message_id)
                                r = -ENOMEM;
                }
                if (r >= 0)
                        r = put_buf(c, &b);
                if (r < 0)
                        return fail(c, r);
                buf_clear(&b);
        }

        if (!seen(c, c->resent ? HEADER_RESENT_DATE : HEADER_DATE)) {
                r = buf_printf(&b, "%sDate: ", resent);
                if (r >= 0)
                        r = cleanup_format_date((int64_t) secs, &b);
                if (r >= 0)
                        r = put_buf(c, &b);
                if (r < 0)
                        return fail(c, r);
                buf_clear(&b);
        }

        if (!seen(c, c->resent ? HEADER_RESENT_FROM : HEADER_FROM)) {
                const char *sender = isempty(c->env->sender) ? "MAILER-DAEMON" : c->env->sender;
                bool name = !isempty(c->env->sender) && !isempty(c->full_name);

                r = buf_printf(&b, "%sFrom: ", resent);
                if (r >= 0 && name && c->from_format == CLEANUP_FROM_STANDARD) {
                        r = append_phrase(&b, c->full_name);
                        if (r >= 0)
                                r = buf_append_str(&b, " <");
                        if (r >= 0)
                                r = header_address_externalize(sender, &b);
                        if (r >= 0)
                                r = buf_append_char(&b, '>');
                } else {
                        if (r >= 0)
                                r = header_address_externalize(sender, &b);
                        if (r >= 0 && name) {
                                r = buf_append_str(&b, " (");
                                if (r >= 0)
                                        r = append_sanitized(&b, c->full_name,
                                                             /* comment= */ true);
                                if (r >= 0)
                                        r = buf_append_char(&b, ')');
                        }
                }
                if (r >= 0)
                        r = put_buf(c, &b);
                if (r < 0)
                        return fail(c, r);
                buf_clear(&b);
        }

        /* Postfix: To:, Cc:, Resent-To: and Resent-Cc: make the recipients visible. */
        if (c->undisclosed && !seen(c, HEADER_TO) && !seen(c, HEADER_CC) &&
            !seen(c, HEADER_RESENT_TO) && !seen(c, HEADER_RESENT_CC)) {
                r = put_header(c, c->undisclosed, strlen(c->undisclosed));
                if (r < 0)
                        return r;
        }
        return 0;
}

static int headers_end(Cleanup *c) {
        int r;

        r = header_flush(c);
        if (r < 0)
                return r;
        r = add_missing_headers(c);
        if (r < 0)
                return r;
        c->in_body = true;
        c->body_first = true;
        return 0;
}

/* Appends a header piece, keeping at most header_size_limit bytes of a logical header. */
static int header_append(Cleanup *c, const char *p, size_t n) {
        size_t room = c->header.max - buf_pending(&c->header);
        int r;

        if (c->header_cut)
                return 0;
        if (n > room) {
                n = room;
                c->header_cut = true;
        }
        r = buf_append(&c->header, p, n);
        if (r < 0)
                return fail(c, r);
        return 0;
}

static int body_write(Cleanup *c, const char *p, size_t n, bool partial) {
        int r;

        if (too_many_hops(c) || (n == 0 && partial))
                return 0;
        r = queue_writer_write(c->writer, p, n);
        if (r >= 0 && !partial)
                r = queue_writer_write(c->writer, "\n", 1);
        if (r < 0)
                return fail(c, r);
        c->body_partial = partial;
        return 0;
}

int cleanup_emit(void *userdata, const char *p, size_t n, unsigned flags) {
        Cleanup *c = userdata;
        bool partial = flags & SMTP_DATA_PIECE_PARTIAL;
        int r;

        assert(c);
        assert(p || n == 0);

        if (c->ended)
                return -EPROTO;
        if (c->error < 0)
                return c->error;

        if (!c->in_body && (flags & SMTP_DATA_PIECE_HEADER) &&
            (c->line_partial || n > 0 || partial)) {
                if (!c->line_partial && n == 0)
                        return 0;       /* nothing yet tells a new header from a continuation */
                if (!c->line_partial) {
                        /* A new line: a continuation (RFC 5322 §2.2.3) or a new header. */
                        if (c->header_open && n > 0 && (p[0] == ' ' || p[0] == '\t')) {
                                r = header_append(c, "\n", 1);
                                if (r < 0)
                                        return r;
                        } else {
                                r = header_flush(c);
                                if (r < 0)
                                        return r;
                                buf_clear(&c->header);
                                c->header_open = true;
                        }
                }
                c->line_partial = partial;
                return header_append(c, p, n);
        }

        if (!c->in_body) {
                c->line_partial = false;
                r = headers_end(c);
                if (r < 0)
                        return r;
        }
        if (c->body_first && (n > 0 || !partial)) {
                c->body_first = false;
                /* Postfix's smtpd: a body that begins with white space must not continue a
                 * header above it. */
                if (n > 0 && (p[0] == ' ' || p[0] == '\t')) {
                        r = body_write(c, "", 0, /* partial= */ false);
                        if (r < 0)
                                return r;
                }
        }
        /* body_checks will act here. */
        return body_write(c, p, n, partial);
}

int cleanup_end_content(Cleanup *c) {
        int r;

        assert(c);

        if (c->ended)
                return c->end_result;
        c->ended = true;

        if (c->error == 0 && !c->in_body) {
                c->line_partial = false;
                (void) headers_end(c);
        } else if (c->error == 0 && c->body_partial)
                (void) body_write(c, "", 0, /* partial= */ false);

        if (c->error < 0)
                r = c->error;
        else if (too_many_hops(c))
                r = -ELOOP;
        else
                r = 0;
        c->end_result = r;
        return r;
}

int cleanup_copy_message(Cleanup *c, const char *head, QueueFile *f) {
        _cleanup_(smtp_data_freep) SmtpDataReader *reader = NULL;
        SmtpDataLimits limits = SMTP_DATA_LIMITS_DEFAULT;
        size_t head_len = head ? strlen(head) : 0, used;
        _cleanup_free_ char *chunk = NULL;
        uint64_t pos = 0;
        int r;

        assert(c);
        assert(f);

        chunk = malloc(CLEANUP_COPY_CHUNK);
        if (!chunk)
                return -ENOMEM;
        limits.message_size_limit = 0;
        limits.bare_lf = SMTP_BARE_LF_NORMALIZE;        /* queue content has LF line ends */
        r = smtp_data_new(&limits, cleanup_emit, c, &reader);
        if (r >= 0)
                r = smtp_data_start_chunk(reader, head_len + f->envelope->content_size);
        if (r >= 0 && head_len > 0)
                r = smtp_data_feed(reader, head, head_len, &used);
        while (r >= 0) {
                ssize_t k = queue_file_read_content(f, pos, chunk, CLEANUP_COPY_CHUNK);

                if (k <= 0) {
                        r = (int) k;
                        break;
                }
                pos += (uint64_t) k;
                r = smtp_data_feed(reader, chunk, (size_t) k, &used);
        }
        if (r >= 0)
                r = smtp_data_finish(reader);
        if (r >= 0)
                r = cleanup_end_content(c);
        if (r >= 0)
                r = queue_writer_finish(cleanup_writer(c));
        return r;
}
