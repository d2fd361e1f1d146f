/* SPDX-License-Identifier: GPL-3.0-or-later */
/* ipc: builders and incremental parsers of the qmgr <-> delivery agent protocol (the format is
 * specified in ipc.h), and the agents' blocking reader and writer. The peer's bytes are
 * untrusted on both sides: lines are taken with buf_getline() only (CRLF, bounded), every value
 * is checked against its named limit after xtext decoding (RFC 3461 §4), and what a peer can
 * make us allocate is bounded by IPC_LINE_MAX and IPC_RCPT_MAX. */
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>

#include "ipc.h"
#include "parse.h"
#include "smtp_cmd.h"

/* The longest lines the builders write must parse (the values are xtext, up to 3 bytes per
 * byte; numbers up to 20 digits). */
_Static_assert(sizeof("rcpt") + 10 + 2 + 3 * (1 + 3 * IPC_ADDRESS_MAX) <= IPC_LINE_MAX,
               "rcpt line does not fit IPC_LINE_MAX");
_Static_assert(sizeof("result") + 10 + 14 + 10 + 1 + 3 * IPC_RELAY_MAX + 21 +
               1 + 3 * IPC_TEXT_MAX <= IPC_LINE_MAX, "result line does not fit IPC_LINE_MAX");
_Static_assert(sizeof("nexthop") + 3 * IPC_NEXTHOP_MAX <= IPC_LINE_MAX, "nexthop line too long");

/* Fields of the longest line we accept: "flags" and its five flags. */
#define FIELDS_MAX 8
/* How much of the caller's input is taken at least per step while looking for a line end. */
#define LINE_CHUNK 256
/* ipc_request_read(): bytes read from the socket ahead of the parser. */
#define READ_AHEAD_MAX (64 * 1024)

static const char *const status_table[_IPC_STATUS_MAX] = {
        [IPC_STATUS_SENT] = "sent",
        [IPC_STATUS_EXPANDED] = "expanded",
        [IPC_STATUS_DELIVERABLE] = "deliverable",
        [IPC_STATUS_DEFERRED] = "deferred",
        [IPC_STATUS_BOUNCED] = "bounced",
        [IPC_STATUS_UNDELIVERABLE] = "undeliverable",
};

static const char status_class[_IPC_STATUS_MAX] = {
        [IPC_STATUS_SENT] = '2',
        [IPC_STATUS_EXPANDED] = '2',
        [IPC_STATUS_DELIVERABLE] = '2',
        [IPC_STATUS_DEFERRED] = '4',
        [IPC_STATUS_BOUNCED] = '5',
        [IPC_STATUS_UNDELIVERABLE] = '5',
};

/* In the order of the IpcFlag bits. */
static const char *const flag_table[] = {
        "dsn", "8bitmime", "smtputf8", "verify", "trace",
};
_Static_assert(ELEMENTSOF(flag_table) == 5 && _IPC_FLAG_ALL == (1u << 5) - 1,
               "flag_table and IpcFlag disagree");

const char *ipc_status_to_string(IpcStatus s) {
        if (s < 0 || s >= _IPC_STATUS_MAX)
                return NULL;
        return status_table[s];
}

IpcStatus ipc_status_from_string(const char *s) {
        if (!s)
                return _IPC_STATUS_INVALID;
        for (IpcStatus i = 0; i < _IPC_STATUS_MAX; i++)
                if (streq(s, status_table[i]))
                        return i;
        return _IPC_STATUS_INVALID;
}

char ipc_status_dsn_class(IpcStatus s) {
        if (s < 0 || s >= _IPC_STATUS_MAX)
                return 0;
        return status_class[s];
}

const char *ipc_flag_to_string(IpcFlag f) {
        for (size_t i = 0; i < ELEMENTSOF(flag_table); i++)
                if ((unsigned) f == 1u << i)
                        return flag_table[i];
        return NULL;
}

static bool is_digit(char c) {
        return c >= '0' && c <= '9';
}

bool ipc_dsn_is_valid(const char *s) {
        /* RFC 3463 §2: class "." subject "." detail; class 2, 4 or 5; subject and detail
         * 1*3digit, "expressed without leading zero digits". */
        if (!s || (s[0] != '2' && s[0] != '4' && s[0] != '5') || s[1] != '.')
                return false;
        s += 2;
        for (int part = 0; part < 2; part++) {
                size_t d = 0;

                while (is_digit(s[d]))
                        d++;
                if (d < 1 || d > 3 || (d > 1 && s[0] == '0'))
                        return false;
                s += d;
                if (part == 0) {
                        if (*s != '.')
                                return false;
                        s++;
                }
        }
        return *s == '\0';
}

static bool queue_ok(QueueName q) {
        return q == QUEUE_INCOMING || q == QUEUE_ACTIVE || q == QUEUE_DEFERRED || q == QUEUE_HOLD;
}

/* A value the format can carry: not NULL, at most max bytes, not empty unless allowed. */
static bool string_ok(const char *s, size_t max, bool may_be_empty) {
        size_t n;

        if (!s)
                return false;
        n = strnlen(s, max + 1);
        return n <= max && (may_be_empty || n > 0);
}

static bool rcpt_ok(uint32_t index, unsigned notify, const char *address, const char *original,
                    const char *orcpt) {
        return index <= IPC_INDEX_MAX && queue_notify_is_valid(notify) &&
               string_ok(address, IPC_ADDRESS_MAX, false) &&
               string_ok(original, IPC_ADDRESS_MAX, false) &&
               (!orcpt || string_ok(orcpt, IPC_ADDRESS_MAX, false));
}

/* ---- Lines and fields ---- */

/* Whether the bytes of in after its first `from` (a prefix on which buf_getline() returned 0)
 * cannot change that answer: no CR, LF or NUL among them, no CR left waiting at the end of the
 * prefix, and the line still within IPC_LINE_MAX. */
static bool bytes_plain(const Buf *in, size_t from) {
        const char *p = buf_peek(in);
        size_t n = buf_pending(in);

        if (n > IPC_LINE_MAX || p[from - 1] == '\r')
                return false;
        for (size_t i = from; i < n; i++)
                if (p[i] == '\r' || p[i] == '\n' || p[i] == '\0')
                        return false;
        return true;
}

/* Takes bytes from buf[*used..n) into in until it holds a complete line. Returns 1 with the
 * line (NUL-terminated in in; the caller calls line_done() once it has used it), 0 when all
 * input was taken and no line is complete, -EMSGSIZE, -EBADMSG (buf_getline()), -ENOMEM. */
static int line_next(Buf *in, const char *buf, size_t n, size_t *used, char **ret_line,
                     size_t *ret_len) {
        for (;;) {
                size_t before = buf_pending(in);
                size_t room = in->max - before;
                size_t take = MIN(n - *used, room);
                int r;

                /* The read-ahead grows with the line: a buffer of many short lines is not copied
                 * whole for each, and a long line is not rescanned too often. */
                take = MIN(take, MAX(before, (size_t) LINE_CHUNK));
                if (take > 0) {
                        r = buf_append(in, buf + *used, take);
                        if (r < 0)
                                return r;
                        *used += take;
                }

                /* buf_getline() decides, but it rescans from the start of the line: a peer
                 * sending a long line a byte at a time would cost quadratic time. The held
                 * prefix was scanned already (it gave 0), so unless the new bytes hold a byte
                 * that can end or break a line, or the line grew too long, the answer is 0. */
                if (before == 0 || !bytes_plain(in, before))
                        r = buf_getline(in, IPC_LINE_MAX, ret_line, ret_len);
                else
                        r = 0;
                if (r != 0)
                        return r;
                if (*used >= n)
                        return 0;
                /* A full buffer always holds a line or one too long; never loop on nothing. */
                if (take == 0)
                        return -EMSGSIZE;
        }
}

/* After a line has been used: the bytes read ahead past it were taken from this call's input
 * (a line ends in the bytes of the call that completes it) and go back to the caller. */
static void line_done(Buf *in, size_t *used) {
        size_t left = buf_pending(in);

        assert(left <= *used);
        *used -= left;
        buf_clear(in);
}

/* Splits a line in place at single spaces. Returns the number of fields, -EBADMSG for an
 * empty field (two spaces, a leading or trailing space, an empty line) or too many fields. */
static int fields_split(char *line, char *f[static FIELDS_MAX]) {
        int k = 0;
        char *s = line;

        for (;;) {
                char *sp = strchr(s, ' ');

                if (k >= FIELDS_MAX)
                        return -EBADMSG;
                f[k++] = s;
                if (!sp)
                        break;
                *sp = '\0';
                s = sp + 1;
        }
        for (int i = 0; i < k; i++)
                if (f[i][0] == '\0')
                        return -EBADMSG;
        return k;
}

/* Decodes an xtext field into a new string of 1..max bytes without NUL. Returns 0, -EBADMSG,
 * -ENOMEM. */
static int value_decode(const char *s, size_t max, char **ret) {
        _cleanup_free_ char *v = NULL;
        size_t n = strlen(s), len;
        int r;

        /* Each decoded byte takes at most 3 bytes of xtext; anything longer is too long. */
        if (n == 0 || n / 3 > max)
                return -EBADMSG;
        v = malloc(n + 1);
        if (!v)
                return -ENOMEM;
        r = smtp_cmd_xtext_decode(s, n, v, &len);
        if (r < 0)
                return -EBADMSG;
        if (len == 0 || len > max || memchr(v, '\0', len))
                return -EBADMSG;
        *ret = TAKE_PTR(v);
        return 0;
}

/* A decimal field without sign or leading zeros. Returns 0, -EBADMSG. */
static int number_parse(const char *s, uint64_t *ret) {
        if (s[0] == '0' && s[1] != '\0')
                return -EBADMSG;
        return parse_uint64(s, ret) < 0 ? -EBADMSG : 0;
}

static int index_parse(const char *s, uint32_t *ret) {
        uint64_t v;

        if (number_parse(s, &v) < 0 || v > IPC_INDEX_MAX)
                return -EBADMSG;
        *ret = (uint32_t) v;
        return 0;
}

/* " " and the xtext of s. */
static int field_append(Buf *out, const char *s) {
        int r;

        r = buf_append_char(out, ' ');
        if (r < 0)
                return r;
        return smtp_cmd_xtext_encode(s, strlen(s), out);
}

/* ---- Requests ---- */

static void rcpt_done(IpcRcpt *r) {
        free(r->address);
        free(r->original);
        free(r->orcpt);
}

int ipc_request_new(IpcRequest **ret) {
        IpcRequest *r;

        assert(ret);
        r = calloc(1, sizeof(*r));
        if (!r)
                return -ENOMEM;
        r->queue = QUEUE_ACTIVE;
        r->ret = QUEUE_RET_NONE;
        *ret = r;
        return 0;
}

IpcRequest *ipc_request_free(IpcRequest *r) {
        if (!r)
                return NULL;
        for (size_t i = 0; i < r->n_rcpts; i++)
                rcpt_done(&r->rcpts[i]);
        free(r->rcpts);
        free(r->sender);
        free(r->envid);
        free(r->transport);
        free(r->nexthop);
        return mfree(r);
}

static bool request_has_index(const IpcRequest *r, uint32_t index) {
        for (size_t i = 0; i < r->n_rcpts; i++)
                if (r->rcpts[i].index == index)
                        return true;
        return false;
}

/* Appends a recipient whose strings are taken over (on success only). */
static int request_push_rcpt(IpcRequest *r, IpcRcpt *rc) {
        if (r->n_rcpts >= IPC_RCPT_MAX)
                return -E2BIG;
        if ((r->n_rcpts & (r->n_rcpts - 1)) == 0) {
                /* Powers of two: 1, 2, 4, ... capped by IPC_RCPT_MAX. */
                size_t want = MIN(r->n_rcpts ? r->n_rcpts * 2 : 1, (size_t) IPC_RCPT_MAX);
                IpcRcpt *n = reallocarray(r->rcpts, want, sizeof(*n));

                if (!n)
                        return -ENOMEM;
                r->rcpts = n;
        }
        r->rcpts[r->n_rcpts++] = *rc;
        *rc = (IpcRcpt) {};
        return 0;
}

int ipc_request_add_rcpt(IpcRequest *r, uint32_t index, unsigned notify, const char *address,
                         const char *original, const char *orcpt) {
        IpcRcpt rc = { .index = index, .notify = notify };
        int r2;

        assert(r);
        if (!rcpt_ok(index, notify, address, original, orcpt))
                return -EINVAL;
        if (request_has_index(r, index))
                return -EEXIST;
        if (r->n_rcpts >= IPC_RCPT_MAX)
                return -E2BIG;

        rc.address = strdup(address);
        rc.original = strdup(original);
        rc.orcpt = orcpt ? strdup(orcpt) : NULL;
        if (!rc.address || !rc.original || (orcpt && !rc.orcpt)) {
                rcpt_done(&rc);
                return -ENOMEM;
        }
        r2 = request_push_rcpt(r, &rc);
        if (r2 < 0)
                rcpt_done(&rc);
        return r2;
}

bool ipc_request_equal(const IpcRequest *a, const IpcRequest *b) {
        if (!a || !b)
                return a == b;
        if (a->queue != b->queue || !streq(a->id, b->id) ||
            a->content_offset != b->content_offset || a->content_size != b->content_size ||
            !streq_ptr(a->sender, b->sender) || !streq_ptr(a->envid, b->envid) ||
            a->ret != b->ret || !streq_ptr(a->transport, b->transport) ||
            !streq_ptr(a->nexthop, b->nexthop) || a->flags != b->flags ||
            a->n_rcpts != b->n_rcpts)
                return false;
        for (size_t i = 0; i < a->n_rcpts; i++) {
                const IpcRcpt *x = &a->rcpts[i], *y = &b->rcpts[i];

                if (x->index != y->index || x->notify != y->notify ||
                    !streq_ptr(x->address, y->address) || !streq_ptr(x->original, y->original) ||
                    !streq_ptr(x->orcpt, y->orcpt))
                        return false;
        }
        return true;
}

static int request_check(const IpcRequest *r) {
        uint64_t end;

        if (!queue_ok(r->queue) || !queue_id_is_valid(r->id) ||
            __builtin_add_overflow(r->content_offset, r->content_size, &end) ||
            !string_ok(r->sender, IPC_ADDRESS_MAX, true) ||
            (r->envid && !string_ok(r->envid, IPC_ENVID_MAX, false)) ||
            (r->ret != QUEUE_RET_NONE && r->ret != QUEUE_RET_FULL &&
             r->ret != QUEUE_RET_HDRS) ||
            !string_ok(r->transport, IPC_TRANSPORT_MAX, false) ||
            !string_ok(r->nexthop, IPC_NEXTHOP_MAX, false) ||
            (r->flags & ~(unsigned) _IPC_FLAG_ALL) || r->n_rcpts == 0)
                return -EINVAL;
        if (r->n_rcpts > IPC_RCPT_MAX)
                return -E2BIG;
        for (size_t i = 0; i < r->n_rcpts; i++) {
                const IpcRcpt *rc = &r->rcpts[i];

                if (!rcpt_ok(rc->index, rc->notify, rc->address, rc->original, rc->orcpt))
                        return -EINVAL;
                for (size_t j = 0; j < i; j++)
                        if (r->rcpts[j].index == rc->index)
                                return -EINVAL;
        }
        return 0;
}

/* "keyword[ xtext]" CRLF; no field for NULL or "". */
static int line_optional_append(Buf *out, const char *keyword, const char *value) {
        int r;

        r = buf_append_str(out, keyword);
        if (r < 0)
                return r;
        if (!isempty(value)) {
                r = field_append(out, value);
                if (r < 0)
                        return r;
        }
        return buf_append(out, "\r\n", 2);
}

int ipc_request_format(const IpcRequest *r, Buf *out) {
        int k;

        assert(r);
        assert(out);

        k = request_check(r);
        if (k < 0)
                return k;

        k = buf_printf(out, "request %d %s %s %" PRIu64 " %" PRIu64 "\r\n", IPC_VERSION,
                       queue_name_to_string(r->queue), r->id, r->content_offset,
                       r->content_size);
        if (k < 0)
                return k;
        k = line_optional_append(out, "sender", r->sender);
        if (k < 0)
                return k;
        k = line_optional_append(out, "envid", r->envid);
        if (k < 0)
                return k;
        k = buf_printf(out, "ret%s\r\n", r->ret == QUEUE_RET_FULL ? " FULL" :
                                         r->ret == QUEUE_RET_HDRS ? " HDRS" : "");
        if (k < 0)
                return k;
        k = line_optional_append(out, "transport", r->transport);
        if (k < 0)
                return k;
        k = line_optional_append(out, "nexthop", r->nexthop);
        if (k < 0)
                return k;

        k = buf_append_str(out, "flags");
        if (k < 0)
                return k;
        for (size_t i = 0; i < ELEMENTSOF(flag_table); i++)
                if (r->flags & (1u << i)) {
                        k = buf_printf(out, " %s", flag_table[i]);
                        if (k < 0)
                                return k;
                }
        k = buf_append(out, "\r\n", 2);
        if (k < 0)
                return k;

        for (size_t i = 0; i < r->n_rcpts; i++) {
                const IpcRcpt *rc = &r->rcpts[i];

                k = buf_printf(out, "rcpt %" PRIu32 " %x", rc->index, rc->notify);
                if (k < 0)
                        return k;
                k = field_append(out, rc->address);
                if (k < 0)
                        return k;
                k = field_append(out, rc->original);
                if (k < 0)
                        return k;
                if (rc->orcpt) {
                        k = field_append(out, rc->orcpt);
                        if (k < 0)
                                return k;
                }
                k = buf_append(out, "\r\n", 2);
                if (k < 0)
                        return k;
        }
        return buf_append(out, "end\r\n", 5);
}

/* The line a request parser expects next. */
typedef enum RequestState {
        REQUEST_HEADER,         /* "request 1 ..." */
        REQUEST_SENDER,
        REQUEST_ENVID,
        REQUEST_RET,
        REQUEST_TRANSPORT,
        REQUEST_NEXTHOP,
        REQUEST_FLAGS,
        REQUEST_RCPT,           /* "rcpt ...", or "end" after at least one */
        _REQUEST_STATE_MAX,
} RequestState;

static const char *const request_keyword[_REQUEST_STATE_MAX] = {
        [REQUEST_HEADER] = "request",
        [REQUEST_SENDER] = "sender",
        [REQUEST_ENVID] = "envid",
        [REQUEST_RET] = "ret",
        [REQUEST_TRANSPORT] = "transport",
        [REQUEST_NEXTHOP] = "nexthop",
        [REQUEST_FLAGS] = "flags",
        [REQUEST_RCPT] = "rcpt",
};

struct IpcRequestParser {
        Buf in;                 /* the current line, at most IPC_LINE_MAX + CRLF */
        Buf raw;                /* ipc_request_read(): bytes read but not fed yet */
        RequestState state;
        IpcRequest *req;        /* the request being built; NULL before its first line */
        int error;              /* sticky */
};

int ipc_request_parser_new(IpcRequestParser **ret) {
        IpcRequestParser *p;

        assert(ret);
        p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        p->in = BUF_INIT(IPC_LINE_MAX + 2);
        p->raw = BUF_INIT(READ_AHEAD_MAX);
        p->state = REQUEST_HEADER;
        *ret = p;
        return 0;
}

IpcRequestParser *ipc_request_parser_free(IpcRequestParser *p) {
        if (!p)
                return NULL;
        buf_done(&p->in);
        buf_done(&p->raw);
        ipc_request_free(p->req);
        return mfree(p);
}

bool ipc_request_parser_pending(const IpcRequestParser *p) {
        assert(p);
        return p->state != REQUEST_HEADER || buf_pending(&p->in) > 0 ||
               buf_pending(&p->raw) > 0;
}

static int request_header(IpcRequestParser *p, char **f, int k) {
        _cleanup_(ipc_request_freep) IpcRequest *req = NULL;
        uint64_t end;
        int r;

        if (k != 6 || !streq(f[1], "1"))
                return -EBADMSG;
        r = ipc_request_new(&req);
        if (r < 0)
                return r;
        req->queue = queue_name_from_string(f[2]);
        if (!queue_ok(req->queue))
                return -EBADMSG;
        if (!queue_id_is_valid(f[3]))
                return -EBADMSG;
        strcpy(req->id, f[3]);
        if (number_parse(f[4], &req->content_offset) < 0 ||
            number_parse(f[5], &req->content_size) < 0 ||
            __builtin_add_overflow(req->content_offset, req->content_size, &end))
                return -EBADMSG;
        p->req = TAKE_PTR(req);
        return 0;
}

static int request_flags(IpcRequest *req, char **f, int k) {
        for (int i = 1; i < k; i++) {
                size_t j;

                for (j = 0; j < ELEMENTSOF(flag_table); j++)
                        if (streq(f[i], flag_table[j]))
                                break;
                if (j >= ELEMENTSOF(flag_table) || (req->flags & (1u << j)))
                        return -EBADMSG;
                req->flags |= 1u << j;
        }
        return 0;
}

static int request_rcpt(IpcRequest *req, char **f, int k) {
        IpcRcpt rc = {};
        static const char hex[] = "0123456789abcdef";
        const char *d;
        int r;

        if (k != 5 && k != 6)
                return -EBADMSG;
        if (req->n_rcpts >= IPC_RCPT_MAX)
                return -E2BIG;
        if (index_parse(f[1], &rc.index) < 0 || request_has_index(req, rc.index))
                return -EBADMSG;
        d = f[2][0] != '\0' && f[2][1] == '\0' ? strchr(hex, f[2][0]) : NULL;
        if (!d || !queue_notify_is_valid((unsigned) (d - hex)))
                return -EBADMSG;
        rc.notify = (unsigned) (d - hex);

        r = value_decode(f[3], IPC_ADDRESS_MAX, &rc.address);
        if (r >= 0)
                r = value_decode(f[4], IPC_ADDRESS_MAX, &rc.original);
        if (r >= 0 && k == 6)
                r = value_decode(f[5], IPC_ADDRESS_MAX, &rc.orcpt);
        if (r >= 0)
                r = request_push_rcpt(req, &rc);
        if (r < 0)
                rcpt_done(&rc);
        return r;
}

/* One line of a request. Returns 1 when it was the last, 0 for more, < 0 on error. */
static int request_line(IpcRequestParser *p, char *line) {
        char *f[FIELDS_MAX];
        IpcRequest *req;
        int k, r;

        k = fields_split(line, f);
        if (k < 0)
                return k;
        if (p->state == REQUEST_RCPT && p->req->n_rcpts > 0 && streq(f[0], "end"))
                return k == 1 ? 1 : -EBADMSG;
        if (!streq(f[0], request_keyword[p->state]))
                return -EBADMSG;
        if (p->state == REQUEST_HEADER) {
                r = request_header(p, f, k);
                if (r < 0)
                        return r;
                p->state++;
                return 0;
        }

        req = p->req;
        switch (p->state) {
        case REQUEST_SENDER:
                if (k > 2)
                        return -EBADMSG;
                if (k == 2)
                        r = value_decode(f[1], IPC_ADDRESS_MAX, &req->sender);
                else {
                        req->sender = strdup("");
                        r = req->sender ? 0 : -ENOMEM;
                }
                break;
        case REQUEST_ENVID:
                if (k > 2)
                        return -EBADMSG;
                r = k == 2 ? value_decode(f[1], IPC_ENVID_MAX, &req->envid) : 0;
                break;
        case REQUEST_RET:
                if (k > 2)
                        return -EBADMSG;
                if (k == 1)
                        req->ret = QUEUE_RET_NONE;
                else if (streq(f[1], "FULL"))
                        req->ret = QUEUE_RET_FULL;
                else if (streq(f[1], "HDRS"))
                        req->ret = QUEUE_RET_HDRS;
                else
                        return -EBADMSG;
                r = 0;
                break;
        case REQUEST_TRANSPORT:
                if (k != 2)
                        return -EBADMSG;
                r = value_decode(f[1], IPC_TRANSPORT_MAX, &req->transport);
                break;
        case REQUEST_NEXTHOP:
                if (k != 2)
                        return -EBADMSG;
                r = value_decode(f[1], IPC_NEXTHOP_MAX, &req->nexthop);
                break;
        case REQUEST_FLAGS:
                r = request_flags(req, f, k);
                break;
        case REQUEST_RCPT:
                return request_rcpt(req, f, k);
        default:
                assert(false);
                return -EBADMSG;
        }
        if (r < 0)
                return r;
        p->state++;
        return 0;
}

int ipc_request_feed(IpcRequestParser *p, const char *buf, size_t n, size_t *ret_used,
                     IpcRequest **ret) {
        size_t used = 0;
        int r;

        assert(p);
        assert(buf || n == 0);
        assert(ret_used);
        assert(ret);

        if (p->error < 0) {
                *ret_used = 0;
                return p->error;
        }

        for (;;) {
                char *line;
                size_t len;

                r = line_next(&p->in, buf, n, &used, &line, &len);
                if (r == 0)
                        break;
                if (r > 0) {
                        r = request_line(p, line);
                        line_done(&p->in, &used);
                }
                if (r < 0) {
                        p->error = r;
                        p->req = ipc_request_free(p->req);
                        buf_done(&p->in);
                        break;
                }
                if (r > 0) {
                        *ret = TAKE_PTR(p->req);
                        p->state = REQUEST_HEADER;
                        *ret_used = used;
                        return 1;
                }
        }
        *ret_used = used;
        return r;
}

/* ---- Blocking I/O for agents ---- */

static uint64_t now_usec(void) {
        struct timespec ts;

        /* CLOCK_MONOTONIC cannot fail with a valid pointer. */
        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * UINT64_C(1000000) + (uint64_t) ts.tv_nsec / 1000;
}

uint64_t ipc_deadline(uint64_t timeout_usec) {
        uint64_t d;

        if (timeout_usec == IPC_TIMEOUT_INFINITY ||
            __builtin_add_overflow(now_usec(), timeout_usec, &d) || d == IPC_TIMEOUT_INFINITY)
                return IPC_TIMEOUT_INFINITY;
        return d;
}

int ipc_fd_wait(int fd, short events, uint64_t deadline) {
        for (;;) {
                struct pollfd pfd = { .fd = fd, .events = events };
                uint64_t left = 0;
                int timeout_ms = -1, r;

                if (deadline != IPC_TIMEOUT_INFINITY) {
                        uint64_t now = now_usec();

                        left = deadline > now ? deadline - now : 0;
                        timeout_ms = (int) MIN((left + 999) / 1000, (uint64_t) INT_MAX);
                }
                r = poll(&pfd, 1, timeout_ms);
                if (r < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (r == 0) {
                        if (left == 0)
                                return -ETIMEDOUT;
                        continue;       /* woke early (rounding); look at the clock again */
                }
                if (pfd.revents & POLLNVAL)
                        return -EBADF;
                return 0;               /* ready, or POLLHUP/POLLERR: the I/O call reports it */
        }
}

int ipc_request_read(IpcRequestParser *p, int fd, uint64_t timeout_usec, IpcRequest **ret) {
        uint64_t deadline = ipc_deadline(timeout_usec);
        int r;

        assert(p);
        assert(fd >= 0);
        assert(ret);

        for (;;) {
                if (buf_pending(&p->raw) > 0 || p->error < 0) {
                        size_t used;

                        r = ipc_request_feed(p, buf_peek(&p->raw), buf_pending(&p->raw), &used,
                                             ret);
                        buf_consume(&p->raw, used);
                        if (r != 0)
                                return r;
                }

                r = ipc_fd_wait(fd, POLLIN, deadline);
                if (r < 0)
                        return r;
                r = buf_read_fd(&p->raw, fd);
                if (r == -EAGAIN || r == -EINTR)
                        continue;
                if (r < 0)
                        return r;
                if (r == 0)
                        return ipc_request_parser_pending(p) ? -ECONNRESET : 0;
        }
}

int ipc_write(int fd, Buf *b, uint64_t timeout_usec) {
        return ipc_write_until(fd, b, ipc_deadline(timeout_usec));
}

int ipc_write_until(int fd, Buf *b, uint64_t deadline) {
        int r;

        assert(fd >= 0);
        assert(b);

        while (buf_pending(b) > 0) {
                ssize_t k;

                /* MSG_NOSIGNAL: a vanished qmgr is -EPIPE, not SIGPIPE; MSG_DONTWAIT: the
                 * deadline holds even on a blocking socket. */
                k = send(fd, buf_peek(b), buf_pending(b), MSG_NOSIGNAL | MSG_DONTWAIT);
                if (k < 0 && errno == ENOTSOCK)
                        k = write(fd, buf_peek(b), buf_pending(b));
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno != EAGAIN && errno != EWOULDBLOCK)
                                return -errno;
                        r = ipc_fd_wait(fd, POLLOUT, deadline);
                        if (r < 0)
                                return r;
                        continue;
                }
                buf_consume(b, (size_t) k);
        }
        return 0;
}

/* ---- Replies ---- */

static void result_done(IpcResult *r) {
        free(r->relay);
        free(r->text);
}

IpcReply *ipc_reply_free(IpcReply *r) {
        if (!r)
                return NULL;
        for (size_t i = 0; i < r->n_results; i++)
                result_done(&r->results[i]);
        free(r->results);
        return mfree(r);
}

const IpcResult *ipc_reply_find(const IpcReply *r, uint32_t index) {
        assert(r);
        for (size_t i = 0; i < r->n_results; i++)
                if (r->results[i].index == index)
                        return &r->results[i];
        return NULL;
}

bool ipc_reply_equal(const IpcReply *a, const IpcReply *b) {
        if (!a || !b)
                return a == b;
        if (a->n_results != b->n_results || a->last != b->last)
                return false;
        for (size_t i = 0; i < a->n_results; i++) {
                const IpcResult *x = &a->results[i], *y = &b->results[i];

                if (x->index != y->index || x->status != y->status || !streq(x->dsn, y->dsn) ||
                    !streq_ptr(x->relay, y->relay) || x->delay_usec != y->delay_usec ||
                    !streq_ptr(x->text, y->text))
                        return false;
        }
        return true;
}

static bool dsn_matches(IpcStatus status, const char *dsn) {
        return ipc_dsn_is_valid(dsn) && dsn[0] == ipc_status_dsn_class(status);
}

int ipc_result_format(uint32_t index, IpcStatus status, const char *dsn, const char *relay,
                      uint64_t delay_usec, const char *text, Buf *out) {
        size_t tlen;
        int r;

        assert(out);

        if (index > IPC_INDEX_MAX || !ipc_status_to_string(status) || !dsn_matches(status, dsn) ||
            !string_ok(relay, IPC_RELAY_MAX, false))
                return -EINVAL;

        r = buf_printf(out, "result %" PRIu32 " %s %s", index, ipc_status_to_string(status), dsn);
        if (r < 0)
                return r;
        r = field_append(out, relay);
        if (r < 0)
                return r;
        if (delay_usec == IPC_DELAY_NONE)
                r = buf_append(out, " -", 2);
        else
                r = buf_printf(out, " %" PRIu64, delay_usec);
        if (r < 0)
                return r;
        tlen = text ? strnlen(text, IPC_TEXT_MAX) : 0;
        if (tlen > 0) {
                r = buf_append_char(out, ' ');
                if (r < 0)
                        return r;
                r = smtp_cmd_xtext_encode(text, tlen, out);
                if (r < 0)
                        return r;
        }
        return buf_append(out, "\r\n", 2);
}

int ipc_reply_end_format(Buf *out, bool last) {
        assert(out);
        return last ? buf_append_str(out, "end last\r\n") : buf_append(out, "end\r\n", 5);
}

int ipc_reply_format(const IpcReply *reply, Buf *out) {
        int r;

        assert(reply);
        assert(out);

        for (size_t i = 0; i < reply->n_results; i++)
                for (size_t j = 0; j < i; j++)
                        if (reply->results[j].index == reply->results[i].index)
                                return -EINVAL;
        for (size_t i = 0; i < reply->n_results; i++) {
                const IpcResult *x = &reply->results[i];

                r = ipc_result_format(x->index, x->status, x->dsn, x->relay, x->delay_usec,
                                      x->text, out);
                if (r < 0)
                        return r;
        }
        return ipc_reply_end_format(out, reply->last);
}

struct IpcReplyParser {
        Buf in;                 /* the current line */
        uint32_t *indexes;      /* the request's recipient indexes, sorted */
        bool *seen;             /* seen[i]: indexes[i] had its result */
        size_t n;
        IpcReply *reply;        /* results so far; room for n */
        int error;              /* sticky */
        bool done;
};

static int index_cmp(const void *a, const void *b) {
        uint32_t x = *(const uint32_t *) a, y = *(const uint32_t *) b;

        return x < y ? -1 : x > y;
}

static int reply_new(size_t n, IpcReply **ret) {
        _cleanup_(ipc_reply_freep) IpcReply *r = NULL;

        r = calloc(1, sizeof(*r));
        if (!r)
                return -ENOMEM;
        if (n > 0) {
                r->results = calloc(n, sizeof(*r->results));
                if (!r->results)
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(r);
        return 0;
}

int ipc_reply_parser_new(const uint32_t *indexes, size_t n, IpcReplyParser **ret) {
        _cleanup_(ipc_reply_parser_freep) IpcReplyParser *p = NULL;
        int r;

        assert(indexes || n == 0);
        assert(ret);

        if (n == 0 || n > IPC_RCPT_MAX)
                return -EINVAL;

        p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        p->in = BUF_INIT(IPC_LINE_MAX + 2);
        p->n = n;
        p->indexes = malloc(n * sizeof(*p->indexes));
        p->seen = calloc(n, sizeof(*p->seen));
        if (!p->indexes || !p->seen)
                return -ENOMEM;
        memcpy(p->indexes, indexes, n * sizeof(*p->indexes));
        qsort(p->indexes, n, sizeof(*p->indexes), index_cmp);
        for (size_t i = 0; i < n; i++)
                if (p->indexes[i] > IPC_INDEX_MAX || (i > 0 && p->indexes[i - 1] == p->indexes[i]))
                        return -EINVAL;
        r = reply_new(n, &p->reply);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(p);
        return 0;
}

int ipc_reply_parser_new_for(const IpcRequest *req, IpcReplyParser **ret) {
        _cleanup_free_ uint32_t *indexes = NULL;

        assert(req);
        assert(ret);

        if (req->n_rcpts == 0 || req->n_rcpts > IPC_RCPT_MAX)
                return -EINVAL;
        indexes = malloc(req->n_rcpts * sizeof(*indexes));
        if (!indexes)
                return -ENOMEM;
        for (size_t i = 0; i < req->n_rcpts; i++)
                indexes[i] = req->rcpts[i].index;
        return ipc_reply_parser_new(indexes, req->n_rcpts, ret);
}

IpcReplyParser *ipc_reply_parser_free(IpcReplyParser *p) {
        if (!p)
                return NULL;
        buf_done(&p->in);
        free(p->indexes);
        free(p->seen);
        ipc_reply_free(p->reply);
        return mfree(p);
}

/* One result line. Returns 0, -EBADMSG, -ENOMEM. */
static int reply_result(IpcReplyParser *p, char **f, int k) {
        _cleanup_(result_done) IpcResult x = {};
        uint32_t *slot;
        size_t pos;
        int r;

        if (k != 6 && k != 7)
                return -EBADMSG;
        if (index_parse(f[1], &x.index) < 0)
                return -EBADMSG;
        slot = bsearch(&x.index, p->indexes, p->n, sizeof(*p->indexes), index_cmp);
        if (!slot)
                return -EBADMSG;                /* not in the request */
        pos = (size_t) (slot - p->indexes);
        if (p->seen[pos])
                return -EBADMSG;                /* answered twice */

        x.status = ipc_status_from_string(f[2]);
        if (x.status < 0)
                return -EBADMSG;
        if (strlen(f[3]) > IPC_DSN_MAX || !dsn_matches(x.status, f[3]))
                return -EBADMSG;
        strcpy(x.dsn, f[3]);
        r = value_decode(f[4], IPC_RELAY_MAX, &x.relay);
        if (r < 0)
                return r;
        if (streq(f[5], "-"))
                x.delay_usec = IPC_DELAY_NONE;
        else if (number_parse(f[5], &x.delay_usec) < 0)
                return -EBADMSG;
        if (k == 7)
                r = value_decode(f[6], IPC_TEXT_MAX, &x.text);
        else {
                x.text = strdup("");
                r = x.text ? 0 : -ENOMEM;
        }
        if (r < 0)
                return r;

        assert(p->reply->n_results < p->n);
        p->reply->results[p->reply->n_results++] = x;
        x = (IpcResult) {};
        p->seen[pos] = true;
        return 0;
}

/* One line of a reply. Returns 1 after the final line, 0 for more, < 0 on error. */
static int reply_line(IpcReplyParser *p, char *line) {
        char *f[FIELDS_MAX];
        int k;

        k = fields_split(line, f);
        if (k < 0)
                return k;
        if (streq(f[0], "end")) {
                if (k > 2 || (k == 2 && !streq(f[1], "last")))
                        return -EBADMSG;
                if (p->reply->n_results != p->n)
                        return -EBADMSG;        /* recipients without a result */
                p->reply->last = k == 2;
                return 1;
        }
        if (!streq(f[0], "result"))
                return -EBADMSG;
        return reply_result(p, f, k);
}

int ipc_reply_feed(IpcReplyParser *p, const char *buf, size_t n, size_t *ret_used,
                   IpcReply **ret) {
        size_t used = 0;
        int r;

        assert(p);
        assert(buf || n == 0);
        assert(ret_used);
        assert(ret);

        if (p->error < 0 || p->done) {
                *ret_used = 0;
                return p->done ? -EALREADY : p->error;
        }

        for (;;) {
                char *line;
                size_t len;

                r = line_next(&p->in, buf, n, &used, &line, &len);
                if (r == 0)
                        break;
                if (r > 0) {
                        r = reply_line(p, line);
                        line_done(&p->in, &used);
                }
                if (r < 0) {
                        p->error = r;
                        buf_done(&p->in);
                        break;
                }
                if (r > 0) {
                        *ret = TAKE_PTR(p->reply);
                        p->done = true;
                        *ret_used = used;
                        return 1;
                }
        }
        *ret_used = used;
        return r;
}

int ipc_reply_parser_take_partial(IpcReplyParser *p, IpcReply **ret) {
        int r;

        assert(p);
        assert(ret);

        if (!p->reply) {
                /* Handed over already, whole or partial: nothing is left. */
                r = reply_new(0, ret);
                if (r < 0)
                        return r;
        } else
                *ret = TAKE_PTR(p->reply);
        /* The parser's picture of the reply is gone with it. */
        if (p->error == 0)
                p->done = true;
        return 0;
}
