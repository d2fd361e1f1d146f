/* SPDX-License-Identifier: GPL-3.0-or-later */
/* queue: queue directories, IDs, the queue file writer and reader, scans and the qmgr trigger.
 * The format and the durability rules are documented in queue.h. Queue files are untrusted when
 * read back: the parser is pure, bounded by QueueLimits and QUEUE_RECORD_MAX, and never reads
 * outside the bytes it is given. */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

#include "fileio.h"
#include "parse.h"
#include "queue.h"

#define WRITER_FLUSH_AT (64 * 1024)
#define CREATE_ATTEMPTS 16

static const char *const queue_names[_QUEUE_MAX] = {
        [QUEUE_INCOMING] = "incoming",
        [QUEUE_ACTIVE] = "active",
        [QUEUE_DEFERRED] = "deferred",
        [QUEUE_HOLD] = "hold",
        [QUEUE_CORRUPT] = "corrupt",
        [QUEUE_DEFER] = "defer",
        [QUEUE_BOUNCE] = "bounce",
};

const char *queue_name_to_string(QueueName q) {
        if (q < 0 || q >= _QUEUE_MAX)
                return NULL;
        return queue_names[q];
}

QueueName queue_name_from_string(const char *s) {
        if (!s)
                return _QUEUE_INVALID;
        for (QueueName q = 0; q < _QUEUE_MAX; q++)
                if (streq(s, queue_names[q]))
                        return q;
        return _QUEUE_INVALID;
}

/* ---- Directories ---- */

int queue_dirs_create(const char *path) {
        _cleanup_close_ int root = -EBADF;

        assert(path);

        if (mkdir(path, 0700) < 0 && errno != EEXIST)
                return -errno;
        root = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (root < 0)
                return -errno;
        for (QueueName q = 0; q < _QUEUE_MAX; q++)
                if (mkdirat(root, queue_names[q], 0700) < 0 && errno != EEXIST)
                        return -errno;
        return 0;
}

QueueDirs *queue_dirs_free(QueueDirs *d) {
        if (!d)
                return NULL;
        safe_close(d->root_fd);
        for (QueueName q = 0; q < _QUEUE_MAX; q++)
                safe_close(d->fd[q]);
        return mfree(d);
}

int queue_dirs_open(const char *path, QueueDirs **ret) {
        _cleanup_(queue_dirs_freep) QueueDirs *d = NULL;

        assert(path);
        assert(ret);

        d = malloc(sizeof(*d));
        if (!d)
                return -ENOMEM;
        d->root_fd = -EBADF;
        for (QueueName q = 0; q < _QUEUE_MAX; q++)
                d->fd[q] = -EBADF;

        d->root_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (d->root_fd < 0)
                return -errno;
        for (QueueName q = 0; q < _QUEUE_MAX; q++) {
                d->fd[q] = openat(d->root_fd, queue_names[q],
                                  O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
                if (d->fd[q] < 0)
                        return -errno;
        }

        *ret = TAKE_PTR(d);
        return 0;
}

int queue_dirs_fd(const QueueDirs *d, QueueName q) {
        assert(d);
        if (q < 0 || q >= _QUEUE_MAX)
                return -EINVAL;
        return d->fd[q];
}

int queue_dir_sync(const QueueDirs *d, QueueName q) {
        int fd = queue_dirs_fd(d, q);

        if (fd < 0)
                return fd;
        return fsync(fd) < 0 ? -errno : 0;
}

int queue_dirs_sync_incoming(void *userdata) {
        return queue_dir_sync(userdata, QUEUE_INCOMING);
}

/* ---- Queue IDs ---- */

#define ID_TIME_DIGITS 10
#define ID_RANDOM_DIGITS 6

static const char id_alphabet[] =
        "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

static int id_digit(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'A' && c <= 'Z')
                return c - 'A' + 10;
        if (c >= 'a' && c <= 'z')
                return c - 'a' + 36;
        return -1;
}

static uint64_t id_pow62(unsigned n) {
        uint64_t v = 1;

        while (n-- > 0)
                v *= 62;
        return v;
}

static void id_put(char *p, unsigned digits, uint64_t v) {
        for (unsigned i = digits; i > 0; i--) {
                p[i - 1] = id_alphabet[v % 62];
                v /= 62;
        }
}

void queue_id_format(uint64_t usec, uint64_t rnd, char ret[static QUEUE_ID_MAX + 1]) {
        id_put(ret, ID_TIME_DIGITS, usec % id_pow62(ID_TIME_DIGITS));
        id_put(ret + ID_TIME_DIGITS, ID_RANDOM_DIGITS, rnd % id_pow62(ID_RANDOM_DIGITS));
        ret[QUEUE_ID_LEN] = '\0';
}

/* The last time used by this process: IDs of one process are strictly increasing. */
static _Atomic uint64_t id_last_usec;

int queue_id_new(char ret[static QUEUE_ID_MAX + 1]) {
        struct timespec ts;
        uint64_t now, last, t, rnd;
        ssize_t k;

        assert(ret);

        do
                k = getrandom(&rnd, sizeof(rnd), 0);
        while (k < 0 && errno == EINTR);
        if (k < 0)
                return -errno;
        if ((size_t) k != sizeof(rnd))
                return -EIO;

        (void) clock_gettime(CLOCK_REALTIME, &ts);
        now = (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
        last = atomic_load(&id_last_usec);
        do
                t = now > last ? now : last + 1;
        while (!atomic_compare_exchange_weak(&id_last_usec, &last, t));

        queue_id_format(t, rnd, ret);
        return 0;
}

bool queue_id_is_valid(const char *s) {
        if (!s)
                return false;
        for (size_t i = 0; i < QUEUE_ID_LEN; i++)
                if (id_digit(s[i]) < 0)
                        return false;       /* also stops at a NUL */
        return s[QUEUE_ID_LEN] == '\0';
}

int queue_id_get_time(const char *id, uint64_t *ret_usec) {
        uint64_t v = 0;

        assert(ret_usec);
        if (!queue_id_is_valid(id))
                return -EINVAL;
        for (size_t i = 0; i < ID_TIME_DIGITS; i++)
                v = v * 62 + (uint64_t) id_digit(id[i]);
        *ret_usec = v;
        return 0;
}

/* ---- Envelope ---- */

static void rcpt_done(QueueRcpt *r) {
        free(r->address);
        free(r->orcpt);
}

QueueEnvelope *queue_envelope_free(QueueEnvelope *e) {
        if (!e)
                return NULL;
        free(e->sender);
        free(e->envid);
        free(e->client_name);
        free(e->client_addr);
        free(e->helo);
        free(e->protocol);
        free(e->sasl_user);
        for (size_t i = 0; i < e->n_rcpts; i++)
                rcpt_done(&e->rcpts[i]);
        free(e->rcpts);
        for (size_t i = 0; i < e->n_attrs; i++) {
                free(e->attrs[i].name);
                free(e->attrs[i].value);
        }
        free(e->attrs);
        return mfree(e);
}

int queue_envelope_new(QueueEnvelope **ret) {
        QueueEnvelope *e;

        assert(ret);
        e = calloc(1, sizeof(*e));
        if (!e)
                return -ENOMEM;
        *ret = e;
        return 0;
}

static char **envelope_field(QueueEnvelope *e, QueueField f) {
        switch (f) {
        case QUEUE_FIELD_SENDER:
                return &e->sender;
        case QUEUE_FIELD_ENVID:
                return &e->envid;
        case QUEUE_FIELD_CLIENT_NAME:
                return &e->client_name;
        case QUEUE_FIELD_CLIENT_ADDR:
                return &e->client_addr;
        case QUEUE_FIELD_HELO:
                return &e->helo;
        case QUEUE_FIELD_PROTOCOL:
                return &e->protocol;
        case QUEUE_FIELD_SASL_USER:
                return &e->sasl_user;
        default:
                return NULL;
        }
}

static bool value_is_valid(const char *s, bool may_be_empty) {
        size_t n;

        if (!s)
                return false;
        n = strlen(s);
        return n <= QUEUE_VALUE_MAX && (may_be_empty || n > 0);
}

int queue_envelope_set(QueueEnvelope *e, QueueField f, const char *value) {
        char **field, *copy = NULL;

        assert(e);
        field = envelope_field(e, f);
        if (!field)
                return -EINVAL;
        if (value) {
                if (!value_is_valid(value, /* may_be_empty= */ f == QUEUE_FIELD_SENDER))
                        return -EINVAL;
                copy = strdup(value);
                if (!copy)
                        return -ENOMEM;
        }
        free(*field);
        *field = copy;
        return 0;
}

/* Makes room for element n of an array whose elements 0..n-1 are in use. The capacity is
 * implied by n: 4, then doubled whenever n reaches a power of two. */
static int grow(void **array, size_t n, size_t sz) {
        size_t want;
        void *p;

        if (n == 0)
                want = 4;
        else if (n >= 4 && (n & (n - 1)) == 0) {
                if (__builtin_mul_overflow(n, 2, &want))
                        return -ENOMEM;
        } else
                return 0;
        if (want > SIZE_MAX / sz)
                return -ENOMEM;
        p = realloc(*array, want * sz);
        if (!p)
                return -ENOMEM;
        *array = p;
        return 0;
}

static int rcpt_append(QueueEnvelope *e, char *address, char *orcpt, unsigned notify,
                       char status, uint64_t status_offset) {
        int r;

        r = grow((void **) &e->rcpts, e->n_rcpts, sizeof(QueueRcpt));
        if (r < 0)
                return r;
        e->rcpts[e->n_rcpts++] = (QueueRcpt) {
                .address = address,
                .orcpt = orcpt,
                .notify = notify,
                .status = status,
                .status_offset = status_offset,
        };
        return 0;
}

int queue_envelope_add_rcpt(QueueEnvelope *e, const char *address, const char *orcpt,
                            unsigned notify) {
        _cleanup_free_ char *a = NULL, *o = NULL;
        int r;

        assert(e);
        if (!value_is_valid(address, false) || (orcpt && !value_is_valid(orcpt, false)) ||
            !queue_notify_is_valid(notify))
                return -EINVAL;
        a = strdup(address);
        if (!a)
                return -ENOMEM;
        if (orcpt) {
                o = strdup(orcpt);
                if (!o)
                        return -ENOMEM;
        }
        r = rcpt_append(e, a, o, notify, QUEUE_RCPT_PENDING, 0);
        if (r < 0)
                return r;
        TAKE_PTR(a);
        TAKE_PTR(o);
        return 0;
}

static bool attr_name_is_valid_n(const char *p, size_t n) {
        if (n == 0 || n > QUEUE_ATTR_NAME_MAX)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= '0' && p[i] <= '9') || p[i] == '_'))
                        return false;
        return true;
}

const char *queue_envelope_get_attr(const QueueEnvelope *e, const char *name) {
        assert(e);
        for (size_t i = 0; i < e->n_attrs; i++)
                if (streq(e->attrs[i].name, name))
                        return e->attrs[i].value;
        return NULL;
}

static int attr_append(QueueEnvelope *e, char *name, char *value) {
        int r;

        r = grow((void **) &e->attrs, e->n_attrs, sizeof(QueueAttr));
        if (r < 0)
                return r;
        e->attrs[e->n_attrs++] = (QueueAttr) { .name = name, .value = value };
        return 0;
}

int queue_envelope_add_attr(QueueEnvelope *e, const char *name, const char *value) {
        _cleanup_free_ char *n = NULL, *v = NULL;
        int r;

        assert(e);
        if (!name || !attr_name_is_valid_n(name, strlen(name)) || !value_is_valid(value, true))
                return -EINVAL;
        if (queue_envelope_get_attr(e, name))
                return -EEXIST;
        n = strdup(name);
        v = strdup(value);
        if (!n || !v)
                return -ENOMEM;
        r = attr_append(e, n, v);
        if (r < 0)
                return r;
        TAKE_PTR(n);
        TAKE_PTR(v);
        return 0;
}

bool queue_envelope_equal(const QueueEnvelope *a, const QueueEnvelope *b) {
        if (!a || !b)
                return a == b;
        if (a->arrival_usec != b->arrival_usec || !streq_ptr(a->sender, b->sender) ||
            a->ret != b->ret || !streq_ptr(a->envid, b->envid) ||
            !streq_ptr(a->client_name, b->client_name) ||
            !streq_ptr(a->client_addr, b->client_addr) || a->client_port != b->client_port ||
            !streq_ptr(a->helo, b->helo) || !streq_ptr(a->protocol, b->protocol) ||
            !streq_ptr(a->sasl_user, b->sasl_user) || a->n_rcpts != b->n_rcpts ||
            a->n_attrs != b->n_attrs)
                return false;
        for (size_t i = 0; i < a->n_rcpts; i++) {
                const QueueRcpt *x = &a->rcpts[i], *y = &b->rcpts[i];

                if (!streq_ptr(x->address, y->address) || !streq_ptr(x->orcpt, y->orcpt) ||
                    x->notify != y->notify || x->status != y->status)
                        return false;
        }
        for (size_t i = 0; i < a->n_attrs; i++)
                if (!streq_ptr(a->attrs[i].name, b->attrs[i].name) ||
                    !streq_ptr(a->attrs[i].value, b->attrs[i].value))
                        return false;
        return true;
}

/* ---- Formatting ---- */

static bool xtext_literal(unsigned char c) {
        return c >= '!' && c <= '~' && c != '+' && c != '=';
}

static int xtext_append(Buf *out, const char *s) {
        static const char hex[] = "0123456789ABCDEF";
        int r;

        for (const unsigned char *p = (const unsigned char *) s; *p; p++) {
                if (xtext_literal(*p))
                        r = buf_append_char(out, (char) *p);
                else {
                        char esc[3] = { '+', hex[*p >> 4], hex[*p & 15] };

                        r = buf_append(out, esc, sizeof(esc));
                }
                if (r < 0)
                        return r;
        }
        return 0;
}

/* "keyword xtext\n"; "keyword\n" for ""; nothing for NULL. */
static int record_string(Buf *out, const char *keyword, const char *value) {
        int r;

        if (!value)
                return 0;
        r = buf_append_str(out, keyword);
        if (r >= 0 && *value) {
                r = buf_append_char(out, ' ');
                if (r >= 0)
                        r = xtext_append(out, value);
        }
        if (r >= 0)
                r = buf_append_char(out, '\n');
        return r;
}

static int record_rcpt(Buf *out, const QueueRcpt *rc) {
        int r;

        r = buf_printf(out, "rcpt %c %x ", rc->status, rc->notify);
        if (r >= 0)
                r = xtext_append(out, rc->address);
        if (r >= 0 && rc->orcpt) {
                r = buf_append_char(out, ' ');
                if (r >= 0)
                        r = xtext_append(out, rc->orcpt);
        }
        if (r >= 0)
                r = buf_append_char(out, '\n');
        return r;
}

static int rcpt_check(const QueueRcpt *rc) {
        if (!value_is_valid(rc->address, false) ||
            (rc->orcpt && !value_is_valid(rc->orcpt, false)) ||
            !queue_notify_is_valid(rc->notify) || !queue_rcpt_status_is_valid(rc->status))
                return -EINVAL;
        return 0;
}

/* Everything the format cannot carry is -EINVAL; the reader's default limits are -E2BIG. */
static int envelope_check(const QueueEnvelope *e) {
        const QueueLimits lim = QUEUE_LIMITS_DEFAULT;
        const char *const optional[] = {
                e->envid, e->client_name, e->client_addr, e->helo, e->protocol, e->sasl_user,
        };
        int r;

        if (!value_is_valid(e->sender, true) || e->client_port > 65535 ||
            (e->ret != QUEUE_RET_NONE && e->ret != QUEUE_RET_FULL && e->ret != QUEUE_RET_HDRS))
                return -EINVAL;
        for (size_t i = 0; i < ELEMENTSOF(optional); i++)
                if (optional[i] && !value_is_valid(optional[i], false))
                        return -EINVAL;
        if (e->n_rcpts > lim.rcpt_max || e->n_attrs > lim.attr_max)
                return -E2BIG;
        for (size_t i = 0; i < e->n_rcpts; i++) {
                r = rcpt_check(&e->rcpts[i]);
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; i < e->n_attrs; i++) {
                const QueueAttr *a = &e->attrs[i];

                if (!a->name || !attr_name_is_valid_n(a->name, strlen(a->name)) ||
                    !value_is_valid(a->value, true))
                        return -EINVAL;
                for (size_t j = 0; j < i; j++)
                        if (streq(a->name, e->attrs[j].name))
                                return -EINVAL;
        }
        return 0;
}

/* The head records after the header, without "content". e must have passed envelope_check(). */
static int format_head(const QueueEnvelope *e, Buf *out) {
        int r;

        r = buf_printf(out, "arrival %" PRIu64 "\n", e->arrival_usec);
        if (r < 0)
                return r;
        r = record_string(out, "sender", e->sender);
        if (r < 0)
                return r;
        if (e->ret != QUEUE_RET_NONE) {
                r = buf_append_str(out, e->ret == QUEUE_RET_FULL ? "ret FULL\n" : "ret HDRS\n");
                if (r < 0)
                        return r;
        }
        r = record_string(out, "envid", e->envid);
        if (r >= 0)
                r = record_string(out, "client_name", e->client_name);
        if (r >= 0)
                r = record_string(out, "client_addr", e->client_addr);
        if (r >= 0 && e->client_port > 0)
                r = buf_printf(out, "client_port %u\n", e->client_port);
        if (r >= 0)
                r = record_string(out, "helo", e->helo);
        if (r >= 0)
                r = record_string(out, "protocol", e->protocol);
        if (r >= 0)
                r = record_string(out, "sasl_user", e->sasl_user);
        if (r < 0)
                return r;
        for (size_t i = 0; i < e->n_attrs; i++) {
                r = buf_printf(out, "attr %s", e->attrs[i].name);
                if (r >= 0 && *e->attrs[i].value) {
                        r = buf_append_char(out, ' ');
                        if (r >= 0)
                                r = xtext_append(out, e->attrs[i].value);
                }
                if (r >= 0)
                        r = buf_append_char(out, '\n');
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; i < e->n_rcpts; i++) {
                r = record_rcpt(out, &e->rcpts[i]);
                if (r < 0)
                        return r;
        }
        return 0;
}

static void format_header(char h[static QUEUE_HEADER_LEN + 1], uint64_t off, uint64_t size) {
        (void) snprintf(h, QUEUE_HEADER_LEN + 1, "TERNQ/1 %016" PRIx64 " %016" PRIx64 "\n",
                        off, size);
}

int queue_file_format(const QueueEnvelope *e, const char *p, size_t n, Buf *out) {
        char header[QUEUE_HEADER_LEN + 1];
        size_t start, content_off;
        int r;

        assert(e);
        assert(out);
        assert(p || n == 0);

        r = envelope_check(e);
        if (r < 0)
                return r;
        if (e->n_rcpts == 0)
                return -EINVAL;

        start = buf_pending(out);
        format_header(header, 0, 0);
        r = buf_append(out, header, QUEUE_HEADER_LEN);
        if (r >= 0)
                r = format_head(e, out);
        if (r >= 0)
                r = buf_append_str(out, "content\n");
        if (r < 0)
                return r;
        content_off = buf_pending(out) - start;
        r = buf_append(out, p, n);
        if (r >= 0)
                r = buf_append_str(out, "end\n");
        if (r < 0)
                return r;
        format_header(header, content_off, n);
        memcpy(out->data + out->off + start, header, QUEUE_HEADER_LEN);
        return 0;
}

/* ---- Parsing ---- */

enum {
        SEEN_ARRIVAL = 1 << 0,
        SEEN_SENDER = 1 << 1,
        SEEN_RET = 1 << 2,
        SEEN_CLIENT_PORT = 1 << 3,
};

typedef struct Parser {
        QueueEnvelope *e;
        const QueueLimits *lim;
        unsigned seen;
} Parser;

static int hex_value(char c, bool upper) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (upper && c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        if (!upper && c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        return -1;
}

/* Decodes one xtext field. Returns 0 with a new string, -EBADMSG, -ENOMEM. */
static int xtext_decode(const char *p, size_t n, char **ret) {
        _cleanup_free_ char *s = NULL;
        size_t k = 0;

        s = malloc(n + 1);                      /* decoding never grows */
        if (!s)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char) p[i];

                if (c == '+') {
                        int hi, lo;

                        if (n - i < 3)
                                return -EBADMSG;
                        hi = hex_value(p[i + 1], true);
                        lo = hex_value(p[i + 2], true);
                        if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
                                return -EBADMSG;
                        s[k++] = (char) (hi << 4 | lo);
                        i += 2;
                } else if (xtext_literal(c))
                        s[k++] = (char) c;
                else
                        return -EBADMSG;
        }
        if (k > QUEUE_VALUE_MAX)
                return -EBADMSG;
        s[k] = '\0';
        *ret = TAKE_PTR(s);
        return 0;
}

/* Splits (p, n) at single spaces into at most max fields. Returns the count, -EBADMSG for an
 * empty field (two spaces, a leading or trailing space) or too many fields. */
static int split_fields(const char *p, size_t n, const char **f, size_t *len, size_t max) {
        size_t count = 0, start = 0;

        for (size_t i = 0; i <= n; i++) {
                if (i < n && p[i] != ' ')
                        continue;
                if (i == start || count == max)
                        return -EBADMSG;
                f[count] = p + start;
                len[count] = i - start;
                count++;
                start = i + 1;
        }
        return (int) count;
}

static bool field_is(const char *f, size_t n, const char *word) {
        return n == strlen(word) && memcmp(f, word, n) == 0;
}

static int parse_decimal(const char *f, size_t n, uint64_t *ret) {
        if (n == 0 || n > 20 || (n > 1 && f[0] == '0'))
                return -EBADMSG;                /* canonical form only */
        return parse_uint64_n(f, n, ret) < 0 ? -EBADMSG : 0;
}

static int parse_once_string(char **field, const char **f, const size_t *len, int nf) {
        if (*field || nf != 2)
                return -EBADMSG;
        return xtext_decode(f[1], len[1], field);
}

static int parse_rcpt(Parser *ps, const char **f, const size_t *len, int nf, uint64_t line_off) {
        _cleanup_free_ char *address = NULL, *orcpt = NULL;
        int notify, r;

        if (nf < 4 || nf > 5 || len[1] != 1 || len[2] != 1 || !queue_rcpt_status_is_valid(f[1][0]))
                return -EBADMSG;
        notify = hex_value(f[2][0], false);
        if (notify < 0 || !queue_notify_is_valid((unsigned) notify))
                return -EBADMSG;
        if (ps->e->n_rcpts >= ps->lim->rcpt_max)
                return -E2BIG;
        r = xtext_decode(f[3], len[3], &address);
        if (r < 0)
                return r;
        if (nf == 5) {
                r = xtext_decode(f[4], len[4], &orcpt);
                if (r < 0)
                        return r;
        }
        /* Fields are not empty (split_fields), and decoding keeps a non-empty field non-empty. */
        r = rcpt_append(ps->e, address, orcpt, (unsigned) notify, f[1][0], line_off + 5);
        if (r < 0)
                return r;
        TAKE_PTR(address);
        TAKE_PTR(orcpt);
        return 0;
}

static int parse_attr(Parser *ps, const char **f, const size_t *len, int nf) {
        _cleanup_free_ char *name = NULL, *value = NULL;
        int r;

        if (nf < 2 || nf > 3 || !attr_name_is_valid_n(f[1], len[1]))
                return -EBADMSG;
        name = strndup(f[1], len[1]);
        if (!name)
                return -ENOMEM;
        if (queue_envelope_get_attr(ps->e, name))
                return -EBADMSG;
        if (ps->e->n_attrs >= ps->lim->attr_max)
                return -E2BIG;
        if (nf == 3) {
                r = xtext_decode(f[2], len[2], &value);
                if (r < 0)
                        return r;
        } else {
                value = strdup("");
                if (!value)
                        return -ENOMEM;
        }
        r = attr_append(ps->e, name, value);
        if (r < 0)
                return r;
        TAKE_PTR(name);
        TAKE_PTR(value);
        return 0;
}

/* One record without its LF, at file offset line_off. */
static int parse_record(Parser *ps, const char *p, size_t n, uint64_t line_off, bool tail) {
        const char *f[5];
        size_t len[5];
        QueueEnvelope *e = ps->e;
        uint64_t v;
        int nf;

        nf = split_fields(p, n, f, len, ELEMENTSOF(f));
        if (nf < 0)
                return nf;

        if (field_is(f[0], len[0], "rcpt"))
                return parse_rcpt(ps, f, len, nf, line_off);
        if (tail)
                return -EBADMSG;

        if (field_is(f[0], len[0], "arrival")) {
                if ((ps->seen & SEEN_ARRIVAL) || nf != 2 || parse_decimal(f[1], len[1], &v) < 0)
                        return -EBADMSG;
                ps->seen |= SEEN_ARRIVAL;
                e->arrival_usec = v;
                return 0;
        }
        if (field_is(f[0], len[0], "sender")) {
                if ((ps->seen & SEEN_SENDER) || nf > 2)
                        return -EBADMSG;
                ps->seen |= SEEN_SENDER;
                if (nf == 1) {
                        e->sender = strdup("");
                        return e->sender ? 0 : -ENOMEM;
                }
                return xtext_decode(f[1], len[1], &e->sender);
        }
        if (field_is(f[0], len[0], "ret")) {
                if ((ps->seen & SEEN_RET) || nf != 2)
                        return -EBADMSG;
                ps->seen |= SEEN_RET;
                if (field_is(f[1], len[1], "FULL"))
                        e->ret = QUEUE_RET_FULL;
                else if (field_is(f[1], len[1], "HDRS"))
                        e->ret = QUEUE_RET_HDRS;
                else
                        return -EBADMSG;
                return 0;
        }
        if (field_is(f[0], len[0], "client_port")) {
                if ((ps->seen & SEEN_CLIENT_PORT) || nf != 2 ||
                    parse_decimal(f[1], len[1], &v) < 0 || v == 0 || v > 65535)
                        return -EBADMSG;
                ps->seen |= SEEN_CLIENT_PORT;
                e->client_port = (unsigned) v;
                return 0;
        }
        if (field_is(f[0], len[0], "attr"))
                return parse_attr(ps, f, len, nf);
        if (field_is(f[0], len[0], "envid"))
                return parse_once_string(&e->envid, f, len, nf);
        if (field_is(f[0], len[0], "client_name"))
                return parse_once_string(&e->client_name, f, len, nf);
        if (field_is(f[0], len[0], "client_addr"))
                return parse_once_string(&e->client_addr, f, len, nf);
        if (field_is(f[0], len[0], "helo"))
                return parse_once_string(&e->helo, f, len, nf);
        if (field_is(f[0], len[0], "protocol"))
                return parse_once_string(&e->protocol, f, len, nf);
        if (field_is(f[0], len[0], "sasl_user"))
                return parse_once_string(&e->sasl_user, f, len, nf);
        return -EBADMSG;
}

/* Parses the records of (p, n), which lies at file offset base, up to the final record
 * `last`, which must end exactly at p + n. */
static int parse_region(Parser *ps, const char *p, size_t n, uint64_t base, const char *last,
                        bool tail) {
        size_t pos = 0;
        int r;

        while (pos < n) {
                const char *lf = memchr(p + pos, '\n', MIN(n - pos, (size_t) QUEUE_RECORD_MAX));
                size_t len;

                if (!lf)
                        return n - pos >= QUEUE_RECORD_MAX ? -EMSGSIZE : -EBADMSG;
                len = (size_t) (lf - (p + pos));
                if (field_is(p + pos, len, last))
                        return pos + len + 1 == n ? 0 : -EBADMSG;
                r = parse_record(ps, p + pos, len, base + pos, tail);
                if (r < 0)
                        return r;
                pos += len + 1;
        }
        return -EBADMSG;                        /* the final record is missing */
}

typedef struct Header {
        uint64_t content_offset;
        uint64_t content_size;
} Header;

static int parse_hex16(const char *p, uint64_t *ret) {
        uint64_t v = 0;

        for (size_t i = 0; i < 16; i++) {
                int d = hex_value(p[i], false);

                if (d < 0)
                        return -EBADMSG;
                v = v << 4 | (uint64_t) d;
        }
        *ret = v;
        return 0;
}

/* Checks the header against the file size; the lengths of head and tail follow from it. */
static int parse_header(const char *p, size_t n, uint64_t file_size, const QueueLimits *lim,
                        Header *ret) {
        Header h;
        uint64_t tail;

        if (n < QUEUE_HEADER_LEN || memcmp(p, "TERNQ/1 ", 8) != 0 || p[24] != ' ' ||
            p[41] != '\n' || parse_hex16(p + 8, &h.content_offset) < 0 ||
            parse_hex16(p + 25, &h.content_size) < 0)
                return -EBADMSG;
        /* The head holds at least the header and "content\n"; the tail at least "end\n". */
        if (h.content_offset < QUEUE_HEADER_LEN + 8 || h.content_offset > file_size ||
            h.content_size > file_size - h.content_offset ||
            file_size - h.content_offset - h.content_size < 4)
                return -EBADMSG;
        tail = file_size - h.content_offset - h.content_size;
        if (h.content_offset > lim->envelope_max || tail > lim->envelope_max - h.content_offset)
                return -EMSGSIZE;
        *ret = h;
        return 0;
}

/* head: file bytes [0, content_offset); tail: [content_offset + content_size, EOF). */
static int parse_parts(const Header *h, const char *head, const char *tail, size_t tail_len,
                       const QueueLimits *lim, QueueEnvelope **ret) {
        _cleanup_(queue_envelope_freep) QueueEnvelope *e = NULL;
        Parser ps = { .lim = lim };
        int r;

        r = queue_envelope_new(&e);
        if (r < 0)
                return r;
        ps.e = e;

        r = parse_region(&ps, head + QUEUE_HEADER_LEN, h->content_offset - QUEUE_HEADER_LEN,
                         QUEUE_HEADER_LEN, "content", /* tail= */ false);
        if (r < 0)
                return r;
        r = parse_region(&ps, tail, tail_len, h->content_offset + h->content_size, "end",
                         /* tail= */ true);
        if (r < 0)
                return r;
        if (!(ps.seen & SEEN_ARRIVAL) || !(ps.seen & SEEN_SENDER) || e->n_rcpts == 0)
                return -EBADMSG;

        e->content_offset = h->content_offset;
        e->content_size = h->content_size;
        *ret = TAKE_PTR(e);
        return 0;
}

int queue_file_parse(const char *p, size_t n, const QueueLimits *limits, QueueEnvelope **ret) {
        const QueueLimits def = QUEUE_LIMITS_DEFAULT;
        const QueueLimits *lim = limits ? limits : &def;
        Header h;
        size_t tail_off;
        int r;

        assert(p || n == 0);
        assert(ret);

        r = parse_header(p, n, n, lim, &h);
        if (r < 0)
                return r;
        tail_off = (size_t) (h.content_offset + h.content_size);
        return parse_parts(&h, p, p + tail_off, n - tail_off, lim, ret);
}

/* ---- Writer ---- */

struct QueueWriter {
        int dir_fd;                     /* not owned */
        int fd;
        char id[QUEUE_ID_MAX + 1];
        Buf out;                        /* bytes not yet written to fd */
        uint64_t content_offset;
        uint64_t content_size;
        uint64_t size_limit;
        Buf tail;                       /* rcpt records for after the content */
        size_t n_rcpts;
        int error;                      /* sticky */
        bool finished;
        bool unlinked;
};

const char *queue_writer_id(const QueueWriter *w) {
        assert(w);
        return w->id;
}

uint64_t queue_writer_size(const QueueWriter *w) {
        assert(w);
        return w->content_size;
}

static int writer_fail(QueueWriter *w, int r) {
        if (w->error == 0)
                w->error = r;
        return w->error;
}

static int writer_flush(QueueWriter *w) {
        int r;

        r = fileio_write_full(w->fd, buf_peek(&w->out), buf_pending(&w->out));
        if (r < 0)
                return writer_fail(w, r);
        buf_clear(&w->out);
        return 0;
}

void queue_writer_abort(QueueWriter *w) {
        if (!w)
                return;
        if (!w->finished && !w->unlinked && w->fd >= 0) {
                (void) unlinkat(w->dir_fd, w->id, 0);
                w->unlinked = true;
        }
        w->fd = safe_close(w->fd);
        if (w->error == 0 && !w->finished)
                w->error = -ECANCELED;
}

QueueWriter *queue_writer_free(QueueWriter *w) {
        if (!w)
                return NULL;
        queue_writer_abort(w);
        buf_done(&w->out);
        buf_done(&w->tail);
        return mfree(w);
}

int queue_writer_new(int incoming_fd, const QueueEnvelope *env, uint64_t size_limit,
                     QueueWriter **ret) {
        _cleanup_(queue_writer_freep) QueueWriter *w = NULL;
        char header[QUEUE_HEADER_LEN + 1];
        int r;

        assert(incoming_fd >= 0);
        assert(env);
        assert(ret);

        r = envelope_check(env);
        if (r < 0)
                return r;

        w = calloc(1, sizeof(*w));
        if (!w)
                return -ENOMEM;
        w->dir_fd = incoming_fd;
        w->fd = -EBADF;
        w->out = BUF_INIT(BUF_MAX_UNBOUNDED);
        w->tail = BUF_INIT(BUF_MAX_UNBOUNDED);
        w->size_limit = size_limit;
        w->n_rcpts = env->n_rcpts;

        for (unsigned i = 0;; i++) {
                r = queue_id_new(w->id);
                if (r < 0)
                        return r;
                w->fd = openat(incoming_fd, w->id,
                               O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY,
                               0600);
                if (w->fd >= 0)
                        break;
                if (errno != EEXIST || i + 1 >= CREATE_ATTEMPTS)
                        return -errno;
        }

        format_header(header, 0, 0);
        r = buf_append(&w->out, header, QUEUE_HEADER_LEN);
        if (r >= 0)
                r = format_head(env, &w->out);
        if (r >= 0)
                r = buf_append_str(&w->out, "content\n");
        if (r < 0)
                return r;
        w->content_offset = buf_pending(&w->out);
        r = writer_flush(w);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(w);
        return 0;
}

int queue_writer_write(QueueWriter *w, const void *p, size_t n) {
        int r;

        assert(w);
        assert(p || n == 0);

        if (w->error < 0)
                return w->error;
        if (w->finished)
                return -EALREADY;
        if (w->size_limit > 0 &&
            (w->content_size > w->size_limit || n > w->size_limit - w->content_size))
                return writer_fail(w, -EMSGSIZE);
        if (n > UINT64_MAX - w->content_size)
                return writer_fail(w, -EMSGSIZE);

        r = buf_append(&w->out, p, n);
        if (r < 0)
                return writer_fail(w, r);
        w->content_size += n;
        if (buf_pending(&w->out) >= WRITER_FLUSH_AT)
                return writer_flush(w);
        return 0;
}

int queue_writer_put_line(QueueWriter *w, const char *p, size_t n) {
        int r;

        assert(w);
        if (w->error < 0)
                return w->error;
        if (w->size_limit > 0 && n >= w->size_limit - MIN(w->content_size, w->size_limit))
                return writer_fail(w, -EMSGSIZE);
        r = queue_writer_write(w, p, n);
        if (r < 0)
                return r;
        return queue_writer_write(w, "\n", 1);
}

int queue_writer_add_rcpt(QueueWriter *w, const char *address, const char *orcpt,
                          unsigned notify) {
        const QueueRcpt rc = {
                .address = (char *) address,
                .orcpt = (char *) orcpt,
                .notify = notify,
                .status = QUEUE_RCPT_PENDING,
        };
        int r;

        assert(w);
        if (w->error < 0)
                return w->error;
        if (w->finished)
                return -EALREADY;
        r = rcpt_check(&rc);
        if (r < 0)
                return r;
        if (w->n_rcpts >= QUEUE_LIMITS_DEFAULT.rcpt_max)
                return -E2BIG;
        r = record_rcpt(&w->tail, &rc);
        if (r < 0)
                return writer_fail(w, r);
        w->n_rcpts++;
        return 0;
}

int queue_writer_finish(QueueWriter *w) {
        char header[QUEUE_HEADER_LEN + 1];
        int r;

        assert(w);
        if (w->finished)
                return -EALREADY;
        if (w->error < 0)
                return w->error;
        if (w->fd < 0)
                return -EBADF;
        if (w->n_rcpts == 0)
                return -EDESTADDRREQ;

        r = buf_append(&w->out, buf_peek(&w->tail), buf_pending(&w->tail));
        if (r >= 0)
                r = buf_append_str(&w->out, "end\n");
        if (r < 0)
                return writer_fail(w, r);
        r = writer_flush(w);
        if (r < 0)
                return r;

        format_header(header, w->content_offset, w->content_size);
        r = fileio_pwrite_full(w->fd, header, QUEUE_HEADER_LEN, 0);
        if (r < 0)
                return writer_fail(w, r);

        /* queue.h, "Durability": marked complete, then one fsync makes bytes and mark durable. */
        if (fchmod(w->fd, 0700) < 0)
                return writer_fail(w, -errno);
        if (fsync(w->fd) < 0)
                return writer_fail(w, -errno);

        w->finished = true;
        return 0;
}

/* ---- Reader ---- */

QueueFile *queue_file_free(QueueFile *f) {
        if (!f)
                return NULL;
        safe_close(f->fd);
        queue_envelope_free(f->envelope);
        return mfree(f);
}

int queue_file_open(int dir_fd, const char *id, bool for_update, const QueueLimits *limits,
                    QueueFile **ret) {
        const QueueLimits def = QUEUE_LIMITS_DEFAULT;
        const QueueLimits *lim = limits ? limits : &def;
        _cleanup_(queue_file_freep) QueueFile *f = NULL;
        _cleanup_free_ char *head = NULL, *tail = NULL;
        char header[QUEUE_HEADER_LEN];
        uint64_t size, tail_off;
        size_t tail_len;
        Header h;
        int r;

        assert(ret);
        if (!queue_id_is_valid(id))
                return -EINVAL;

        f = calloc(1, sizeof(*f));
        if (!f)
                return -ENOMEM;
        strcpy(f->id, id);
        f->fd = openat(dir_fd, id,
                       (for_update ? O_RDWR : O_RDONLY) | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
        if (f->fd < 0)
                return -errno;
        if (fstat(f->fd, &f->st) < 0)
                return -errno;
        if (!S_ISREG(f->st.st_mode))
                return -EBADMSG;
        if (!(f->st.st_mode & S_IXUSR))
                return -EINPROGRESS;
        size = (uint64_t) f->st.st_size;

        if (size < QUEUE_HEADER_LEN)
                return -EBADMSG;
        r = fileio_pread_full(f->fd, header, sizeof(header), 0);
        if (r < 0)
                return r == -ENODATA ? -EBADMSG : r;    /* the file shrank under us */
        r = parse_header(header, sizeof(header), size, lim, &h);
        if (r < 0)
                return r;

        /* parse_header() bounded both parts by envelope_max. */
        head = malloc((size_t) h.content_offset);
        tail_off = h.content_offset + h.content_size;
        tail_len = (size_t) (size - tail_off);
        tail = malloc(tail_len);
        if (!head || !tail)
                return -ENOMEM;
        r = fileio_pread_full(f->fd, head, (size_t) h.content_offset, 0);
        if (r < 0)
                return r == -ENODATA ? -EBADMSG : r;    /* the file shrank under us */
        r = fileio_pread_full(f->fd, tail, tail_len, (off_t) tail_off);
        if (r < 0)
                return r == -ENODATA ? -EBADMSG : r;    /* the file shrank under us */
        r = parse_parts(&h, head, tail, tail_len, lim, &f->envelope);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(f);
        return 0;
}

ssize_t queue_file_read_content(QueueFile *f, uint64_t pos, void *buf, size_t n) {
        const QueueEnvelope *e;
        ssize_t k;

        assert(f);
        assert(buf || n == 0);
        e = f->envelope;
        if (pos >= e->content_size)
                return 0;
        n = (size_t) MIN((uint64_t) n, e->content_size - pos);
        n = MIN(n, (size_t) SSIZE_MAX);
        do
                k = pread(f->fd, buf, n, (off_t) (e->content_offset + pos));
        while (k < 0 && errno == EINTR);
        return k < 0 ? -errno : k;
}

int queue_file_set_status(QueueFile *f, size_t i, char status) {
        QueueRcpt *rc;
        int r;

        assert(f);
        if (i >= f->envelope->n_rcpts || !queue_rcpt_status_is_valid(status))
                return -EINVAL;
        rc = &f->envelope->rcpts[i];
        r = fileio_pwrite_full(f->fd, &status, 1, (off_t) rc->status_offset);
        if (r < 0)
                return r;
        rc->status = status;
        return 0;
}

bool queue_file_all_done(const QueueFile *f) {
        assert(f);
        for (size_t i = 0; i < f->envelope->n_rcpts; i++)
                if (f->envelope->rcpts[i].status == QUEUE_RCPT_PENDING)
                        return false;
        return true;
}

/* ---- Whole files ---- */

int queue_file_lock(int dir_fd, const char *id, bool wait, int *ret_fd) {
        _cleanup_close_ int fd = -EBADF;
        struct stat st, now;

        assert(ret_fd);
        if (!queue_id_is_valid(id))
                return -EINVAL;
        fd = openat(dir_fd, id, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
        if (fd < 0)
                return -errno;
        if (flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB)) < 0)
                return errno == EWOULDBLOCK ? -EBUSY : -errno;
        /* The file may have moved or gone while we waited: the lock is only good for the name
         * it still has in this directory. */
        if (fstat(fd, &st) < 0)
                return -errno;
        if (fstatat(dir_fd, id, &now, AT_SYMLINK_NOFOLLOW) < 0)
                return -errno;
        if (st.st_ino != now.st_ino || st.st_dev != now.st_dev)
                return -ENOENT;
        *ret_fd = TAKE_FD(fd);
        return 0;
}

int queue_file_move(const QueueDirs *d, const char *id, QueueName from, QueueName to) {
        int from_fd, to_fd;
        struct stat st;

        assert(d);
        from_fd = queue_dirs_fd(d, from);
        to_fd = queue_dirs_fd(d, to);
        if (from_fd < 0 || to_fd < 0 || !queue_id_is_valid(id))
                return -EINVAL;
        if (from == to)
                return 0;

        if (renameat2(from_fd, id, to_fd, id, RENAME_NOREPLACE) >= 0)
                return 0;
        if (errno != EINVAL && errno != ENOSYS)
                return -errno;
        /* No RENAME_NOREPLACE on this file system: qmgr is the single writer, so a check
         * before the rename is not raced. */
        if (fstatat(to_fd, id, &st, AT_SYMLINK_NOFOLLOW) >= 0)
                return -EEXIST;
        if (errno != ENOENT)
                return -errno;
        return renameat(from_fd, id, to_fd, id) < 0 ? -errno : 0;
}

int queue_file_remove(const QueueDirs *d, const char *id, QueueName q) {
        int fd;

        assert(d);
        fd = queue_dirs_fd(d, q);
        if (fd < 0 || !queue_id_is_valid(id))
                return -EINVAL;
        return unlinkat(fd, id, 0) < 0 ? -errno : 0;
}

int queue_file_set_mtime(int dir_fd, const char *id, uint64_t usec) {
        struct timespec ts[2];

        if (!queue_id_is_valid(id))
                return -EINVAL;
        ts[0].tv_sec = (time_t) (usec / 1000000u);
        ts[0].tv_nsec = (long) (usec % 1000000u) * 1000;
        ts[1] = ts[0];
        return utimensat(dir_fd, id, ts, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
}

static void closedirp(DIR **d) {
        if (*d)
                (void) closedir(*d);
}

int queue_scan(int dir_fd, uint64_t stale_before_usec, QueueScanFn fn, void *userdata) {
        _cleanup_(closedirp) DIR *dir = NULL;
        struct dirent *de;
        int fd, r;

        assert(fn);

        /* A fresh open file description: readdir() must not share a position with dir_fd. */
        fd = openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        dir = fdopendir(fd);
        if (!dir) {
                safe_close(fd);
                return -errno;
        }

        for (;;) {
                struct stat st;
                uint64_t mtime;
                bool complete;

                errno = 0;
                de = readdir(dir);
                if (!de) {
                        if (errno != 0)
                                return -errno;
                        return 0;
                }
                if (!queue_id_is_valid(de->d_name))
                        continue;
                if (de->d_type != DT_REG && de->d_type != DT_UNKNOWN)
                        continue;
                if (fstatat(dirfd(dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                        if (errno == ENOENT)
                                continue;       /* delivered or moved meanwhile */
                        return -errno;
                }
                if (!S_ISREG(st.st_mode))
                        continue;
                complete = st.st_mode & S_IXUSR;
                if (!complete) {
                        mtime = (uint64_t) MAX(st.st_mtim.tv_sec, (time_t) 0) * 1000000u +
                                (uint64_t) st.st_mtim.tv_nsec / 1000u;
                        if (stale_before_usec == 0 || mtime >= stale_before_usec)
                                continue;
                }
                r = fn(de->d_name, complete, &st, userdata);
                if (r != 0)
                        return r;
        }
}

typedef struct IdList {
        char **ids;
        size_t n;
} IdList;

static int collect_id(const char *id, bool complete, const struct stat *st, void *userdata) {
        IdList *l = userdata;
        int r;

        if (!complete)
                return 0;
        /* Keep the list NULL-terminated: grow for n + 1 entries. */
        r = grow((void **) &l->ids, l->n + 1, sizeof(char *));
        if (r < 0)
                return r;
        l->ids[l->n] = strdup(id);
        if (!l->ids[l->n])
                return -ENOMEM;
        l->n++;
        l->ids[l->n] = NULL;
        return 0;
}

static int cmp_ids(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

int queue_scan_sorted(int dir_fd, size_t max, char ***ret) {
        IdList l = {};
        int r;

        assert(ret);

        r = grow((void **) &l.ids, 0, sizeof(char *));
        if (r < 0)
                return r;
        l.ids[0] = NULL;
        r = queue_scan(dir_fd, 0, collect_id, &l);
        if (r < 0) {
                strv_free(l.ids);
                return r;
        }
        qsort(l.ids, l.n, sizeof(char *), cmp_ids);
        if (max > 0 && l.n > max) {
                for (size_t i = max; i < l.n; i++)
                        l.ids[i] = mfree(l.ids[i]);
                l.n = max;
        }
        *ret = l.ids;
        return l.n > INT32_MAX ? INT32_MAX : (int) l.n;
}

/* ---- Trigger ---- */

static bool trigger_domain_is_valid(const char *p, size_t n) {
        if (n == 0 || n > QUEUE_TRIGGER_DOMAIN_MAX)
                return false;
        for (size_t i = 0; i < n; i++)
                if (p[i] <= ' ' || p[i] > '~')
                        return false;
        return true;
}

static _Thread_local int trigger_fd = -EBADF;

int queue_trigger_send(const char *path, char type, const char *domain) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        char msg[2 + QUEUE_TRIGGER_DOMAIN_MAX + 1];
        size_t n, plen;
        ssize_t k;

        if (!path)
                path = QUEUE_TRIGGER_PATH;
        plen = strlen(path);
        if (plen == 0)
                return -EINVAL;
        if (plen >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        memcpy(sa.sun_path, path, plen);

        switch (type) {
        case QUEUE_TRIGGER_INCOMING:
        case QUEUE_TRIGGER_FLUSH:
                msg[0] = type;
                n = 1;
                break;
        case QUEUE_TRIGGER_DOMAIN:
                if (!domain || !trigger_domain_is_valid(domain, strlen(domain)))
                        return -EINVAL;
                n = (size_t) snprintf(msg, sizeof(msg), "d %s", domain);
                break;
        default:
                return -EINVAL;
        }

        /* One unbound socket per thread serves every trigger it sends: an enqueuer sends one
         * per message, and a socket() and close() each time were a tenth of smtpd's system
         * calls. */
        if (trigger_fd < 0) {
                trigger_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
                if (trigger_fd < 0)
                        return -errno;
        }
        k = sendto(trigger_fd, msg, n, MSG_DONTWAIT | MSG_NOSIGNAL, (const struct sockaddr *) &sa,
                   (socklen_t) (offsetof(struct sockaddr_un, sun_path) + plen + 1));
        if (k < 0) {
                /* qmgr not running, or already woken with a full queue: it scans anyway. */
                if (errno == ENOENT || errno == ECONNREFUSED || errno == EAGAIN)
                        return 0;
                return -errno;
        }
        return 1;
}

int queue_trigger_parse(const char *p, size_t n, QueueTrigger *ret) {
        QueueTrigger t = {};

        assert(p || n == 0);
        assert(ret);

        if (n > 0 && p[n - 1] == '\n')
                n--;
        if (n == 0)
                return -EBADMSG;
        switch (p[0]) {
        case QUEUE_TRIGGER_INCOMING:
        case QUEUE_TRIGGER_FLUSH:
                if (n != 1)
                        return -EBADMSG;
                break;
        case QUEUE_TRIGGER_DOMAIN:
                if (n < 3 || p[1] != ' ' || !trigger_domain_is_valid(p + 2, n - 2))
                        return -EBADMSG;
                memcpy(t.domain, p + 2, n - 2);
                t.domain[n - 2] = '\0';
                break;
        default:
                return -EBADMSG;
        }
        t.type = p[0];
        *ret = t;
        return 0;
}
