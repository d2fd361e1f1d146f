/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Unit tests of ipc: requests and replies built and parsed back field by field, tables of valid
 * and broken messages reaching every error code, feeding whole, byte by byte and split at every
 * position, the sticky error, and the agents' blocking reader and writer over a socketpair with
 * deadlines that expire. */
#include <check.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "check_main.h"
#include "ipc.h"

#define ID "0B3kz9Qx1a2b3c4D"
#define H "request 1 active " ID " 512 2048\r\n"
#define S "sender alice@example.org\r\n"
#define E "envid\r\n"
#define R "ret\r\n"
#define T "transport local\r\n"
#define N "nexthop mail.example.com\r\n"
#define F "flags 8bitmime\r\n"
#define RC0 "rcpt 0 0 bob@example.com bob@example.com\r\n"
#define END "end\r\n"
#define BASE H S E R T N F RC0 END

static const char *errname(int r) {
        switch (r) {
        case 1: return "complete";
        case 0: return "more";
        case -EBADMSG: return "EBADMSG";
        case -EMSGSIZE: return "EMSGSIZE";
        case -E2BIG: return "E2BIG";
        case -EALREADY: return "EALREADY";
        case -EINVAL: return "EINVAL";
        case -ETIMEDOUT: return "ETIMEDOUT";
        case -ECONNRESET: return "ECONNRESET";
        default: return "other";
        }
}

/* A string of n copies of c (static storage, n < 20000). */
static const char *rep(char c, size_t n) {
        static char s[4][20000];
        static unsigned k;
        char *p = s[k++ % 4];

        ck_assert_uint_lt(n, sizeof(s[0]));
        memset(p, c, n);
        p[n] = '\0';
        return p;
}

/* Feeds the n bytes at s: a first piece of `first` bytes, then pieces of `step` bytes, each
 * piece in as many calls as the parser wants. Checks ret_used and progress. Returns the first
 * non-zero result (0 when the input ran out) with the bytes consumed in *ret_consumed. */
static int request_feed_pieces(IpcRequestParser *p, const char *s, size_t n, size_t first,
                               size_t step, size_t *ret_consumed, IpcRequest **ret) {
        size_t pos = 0;

        while (pos < n) {
                size_t len = pos == 0 && first > 0 ? first : step, off = 0;

                len = MIN(len, n - pos);
                while (off < len) {
                        size_t used = SIZE_MAX;
                        int r;

                        r = ipc_request_feed(p, s + pos + off, len - off, &used, ret);
                        ck_assert_uint_le(used, len - off);
                        off += used;
                        if (r != 0) {
                                *ret_consumed = pos + off;
                                return r;
                        }
                        ck_assert_uint_eq(off, len);
                }
                pos += len;
        }
        *ret_consumed = n;
        return 0;
}

static int reply_feed_pieces(IpcReplyParser *p, const char *s, size_t n, size_t first,
                             size_t step, size_t *ret_consumed, IpcReply **ret) {
        size_t pos = 0;

        while (pos < n) {
                size_t len = pos == 0 && first > 0 ? first : step, off = 0;

                len = MIN(len, n - pos);
                while (off < len) {
                        size_t used = SIZE_MAX;
                        int r;

                        r = ipc_reply_feed(p, s + pos + off, len - off, &used, ret);
                        ck_assert_uint_le(used, len - off);
                        off += used;
                        if (r != 0) {
                                *ret_consumed = pos + off;
                                return r;
                        }
                        ck_assert_uint_eq(off, len);
                }
                pos += len;
        }
        *ret_consumed = n;
        return 0;
}

/* Parses a whole text with a new parser. */
static int request_parse(const char *s, size_t n, IpcRequest **ret) {
        _cleanup_(ipc_request_parser_freep) IpcRequestParser *p = NULL;
        size_t used;

        ck_assert_int_eq(ipc_request_parser_new(&p), 0);
        return request_feed_pieces(p, s, n, SIZE_MAX, SIZE_MAX, &used, ret);
}

/* The same, a byte at a time. */
static int request_parse_trickle(const char *s, size_t n, IpcRequest **ret) {
        _cleanup_(ipc_request_parser_freep) IpcRequestParser *p = NULL;
        size_t used;

        ck_assert_int_eq(ipc_request_parser_new(&p), 0);
        return request_feed_pieces(p, s, n, 1, 1, &used, ret);
}

/* A request with every field set. */
static IpcRequest *request_full(void) {
        IpcRequest *r;

        ck_assert_int_eq(ipc_request_new(&r), 0);
        r->queue = QUEUE_DEFERRED;
        strcpy(r->id, ID);
        r->content_offset = 731;
        r->content_size = UINT64_C(1) << 40;
        r->sender = strdup("Ann Smith+tag=x@example.org");
        r->envid = strdup("QQ314159 with space");
        r->ret = QUEUE_RET_HDRS;
        r->transport = strdup("smtp");
        r->nexthop = strdup("[mail.example.com]:587");
        r->flags = _IPC_FLAG_ALL;
        ck_assert_ptr_nonnull(r->sender);
        ck_assert_ptr_nonnull(r->envid);
        ck_assert_ptr_nonnull(r->transport);
        ck_assert_ptr_nonnull(r->nexthop);
        ck_assert_int_eq(ipc_request_add_rcpt(r, 7, QUEUE_NOTIFY_SUCCESS | QUEUE_NOTIFY_FAILURE,
                                              "b\xc3\xbc@example.com", "info@example.com",
                                              "rfc822;info@example.com"), 0);
        ck_assert_int_eq(ipc_request_add_rcpt(r, 0, QUEUE_NOTIFY_NEVER, "a@example.com",
                                              "a@example.com", NULL), 0);
        ck_assert_int_eq(ipc_request_add_rcpt(r, IPC_INDEX_MAX, 0, "\"x y\"@[192.0.2.1]",
                                              "\x01\x7f\xff", "utf-8;\xe2\x98\x83"), 0);
        return r;
}

/* ---- names and codes ---- */

START_TEST(test_dsn_is_valid)
{
        static const struct {
                const char *s;
                bool valid;
        } t[] = {
                { "2.0.0", true },      { "4.4.1", true },      { "5.7.1", true },
                { "5.999.999", true },  { "2.10.100", true },   { "4.0.10", true },
                { "3.0.0", false },     { "1.0.0", false },     { "6.0.0", false },
                { "2.0", false },       { "2.0.", false },      { "2..0", false },
                { "2.00.0", false },    { "2.0.00", false },    { "2.01.1", false },
                { "2.1000.0", false },  { "2.0.1000", false },  { "", false },
                { "2", false },         { "2.0.0.", false },    { "2.0.0 ", false },
                { " 2.0.0", false },    { "2.0.0x", false },    { "22.0.0", false },
                { "2.a.0", false },     { "2.0.-1", false },    { "2,0,0", false },
        };

        for (size_t i = 0; i < ELEMENTSOF(t); i++)
                ck_assert_msg(ipc_dsn_is_valid(t[i].s) == t[i].valid, "%s", t[i].s);
        ck_assert(!ipc_dsn_is_valid(NULL));
}
END_TEST

START_TEST(test_names)
{
        for (IpcStatus s = 0; s < _IPC_STATUS_MAX; s++) {
                ck_assert_ptr_nonnull(ipc_status_to_string(s));
                ck_assert_int_eq(ipc_status_from_string(ipc_status_to_string(s)), s);
                ck_assert(ipc_status_dsn_class(s) == '2' || ipc_status_dsn_class(s) == '4' ||
                          ipc_status_dsn_class(s) == '5');
        }
        ck_assert_str_eq(ipc_status_to_string(IPC_STATUS_SENT), "sent");
        ck_assert_str_eq(ipc_status_to_string(IPC_STATUS_BOUNCED), "bounced");
        ck_assert_int_eq(ipc_status_dsn_class(IPC_STATUS_DEFERRED), '4');
        ck_assert_int_eq(ipc_status_dsn_class(IPC_STATUS_UNDELIVERABLE), '5');
        ck_assert_int_eq(ipc_status_dsn_class(IPC_STATUS_EXPANDED), '2');
        ck_assert_ptr_null(ipc_status_to_string(_IPC_STATUS_MAX));
        ck_assert_ptr_null(ipc_status_to_string(_IPC_STATUS_INVALID));
        ck_assert_int_eq(ipc_status_dsn_class(_IPC_STATUS_MAX), 0);
        ck_assert_int_eq(ipc_status_from_string("Sent"), _IPC_STATUS_INVALID);
        ck_assert_int_eq(ipc_status_from_string(""), _IPC_STATUS_INVALID);
        ck_assert_int_eq(ipc_status_from_string(NULL), _IPC_STATUS_INVALID);

        ck_assert_str_eq(ipc_flag_to_string(IPC_FLAG_DSN), "dsn");
        ck_assert_str_eq(ipc_flag_to_string(IPC_FLAG_8BITMIME), "8bitmime");
        ck_assert_str_eq(ipc_flag_to_string(IPC_FLAG_SMTPUTF8), "smtputf8");
        ck_assert_str_eq(ipc_flag_to_string(IPC_FLAG_VERIFY), "verify");
        ck_assert_str_eq(ipc_flag_to_string(IPC_FLAG_TRACE), "trace");
        ck_assert_ptr_null(ipc_flag_to_string(0));
        ck_assert_ptr_null(ipc_flag_to_string(IPC_FLAG_DSN | IPC_FLAG_TRACE));
        ck_assert_ptr_null(ipc_flag_to_string(1u << 5));
}
END_TEST

/* ---- requests ---- */

START_TEST(test_request_format_exact)
{
        _cleanup_(ipc_request_freep) IpcRequest *r = NULL;
        _cleanup_(buf_done) Buf out = BUF_INIT(BUF_MAX_UNBOUNDED);

        ck_assert_int_eq(ipc_request_new(&r), 0);
        strcpy(r->id, ID);
        r->content_offset = 512;
        r->content_size = 2048;
        r->sender = strdup("alice@example.org");
        r->transport = strdup("local");
        r->nexthop = strdup("mail.example.com");
        r->flags = IPC_FLAG_8BITMIME;
        ck_assert_int_eq(ipc_request_add_rcpt(r, 0, 0, "bob@mail.example.com",
                                              "bob@mail.example.com", NULL), 0);
        ck_assert_int_eq(ipc_request_add_rcpt(r, 2, 6, "carol@mail.example.com",
                                              "info@example.com", "rfc822;info@example.com"),
                         0);
        ck_assert_int_eq(ipc_request_format(r, &out), 0);
        ck_assert_str_eq(buf_peek(&out),
                         "request 1 active 0B3kz9Qx1a2b3c4D 512 2048\r\n"
                         "sender alice@example.org\r\n"
                         "envid\r\n"
                         "ret\r\n"
                         "transport local\r\n"
                         "nexthop mail.example.com\r\n"
                         "flags 8bitmime\r\n"
                         "rcpt 0 0 bob@mail.example.com bob@mail.example.com\r\n"
                         "rcpt 2 6 carol@mail.example.com info@example.com "
                         "rfc822;info@example.com\r\n"
                         "end\r\n");

        /* Everything set: strings are xtext, flags in IpcFlag order, the null sender bare. */
        r = ipc_request_free(r);
        r = request_full();
        free(r->sender);
        r->sender = strdup("");
        buf_clear(&out);
        ck_assert_int_eq(ipc_request_format(r, &out), 0);
        ck_assert_str_eq(buf_peek(&out),
                         "request 1 deferred 0B3kz9Qx1a2b3c4D 731 1099511627776\r\n"
                         "sender\r\n"
                         "envid QQ314159+20with+20space\r\n"
                         "ret HDRS\r\n"
                         "transport smtp\r\n"
                         "nexthop [mail.example.com]:587\r\n"
                         "flags dsn 8bitmime smtputf8 verify trace\r\n"
                         "rcpt 7 6 b+C3+BC@example.com info@example.com "
                         "rfc822;info@example.com\r\n"
                         "rcpt 0 1 a@example.com a@example.com\r\n"
                         "rcpt 4294967294 0 \"x+20y\"@[192.0.2.1] +01+7F+FF utf-8;+E2+98+83\r\n"
                         "end\r\n");
}
END_TEST

START_TEST(test_request_round_trip)
{
        _cleanup_(ipc_request_freep) IpcRequest *r = request_full();
        _cleanup_(buf_done) Buf out = BUF_INIT(BUF_MAX_UNBOUNDED);

        /* Each variant changes fields; each must come back equal. */
        for (int v = 0; v < 8; v++) {
                _cleanup_(ipc_request_freep) IpcRequest *back = NULL;

                switch (v) {
                case 1:
                        free(r->sender);
                        r->sender = strdup("");
                        break;
                case 2:
                        r->envid = mfree(r->envid);
                        r->ret = QUEUE_RET_NONE;
                        break;
                case 3:
                        r->ret = QUEUE_RET_FULL;
                        r->flags = 0;
                        break;
                case 4:
                        r->queue = QUEUE_INCOMING;
                        r->content_offset = 0;
                        r->content_size = 0;
                        break;
                case 5:
                        r->queue = QUEUE_HOLD;
                        r->content_offset = UINT64_MAX;
                        r->content_size = 0;
                        r->flags = IPC_FLAG_VERIFY;
                        break;
                case 6:
                        /* Values at their limits. */
                        free(r->sender);
                        r->sender = strdup(rep('\n', IPC_ADDRESS_MAX));
                        free(r->envid);
                        r->envid = strdup(rep('+', IPC_ENVID_MAX));
                        free(r->transport);
                        r->transport = strdup(rep('t', IPC_TRANSPORT_MAX));
                        free(r->nexthop);
                        r->nexthop = strdup(rep(' ', IPC_NEXTHOP_MAX));
                        ck_assert_int_eq(ipc_request_add_rcpt(r, 9, 0xe,
                                                              rep('\r', IPC_ADDRESS_MAX),
                                                              rep('=', IPC_ADDRESS_MAX),
                                                              rep('\xfe', IPC_ADDRESS_MAX)), 0);
                        break;
                case 7:
                        r->queue = QUEUE_ACTIVE;
                        break;
                }
                buf_clear(&out);
                ck_assert_int_eq(ipc_request_format(r, &out), 0);
                ck_assert_int_eq(request_parse(buf_peek(&out), buf_pending(&out), &back), 1);
                ck_assert_msg(ipc_request_equal(r, back), "variant %d", v);
                ck_assert(!ipc_request_equal(r, NULL));
        }

        /* Many recipients, up to the limit. */
        r = ipc_request_free(r);
        r = request_full();
        for (uint32_t i = 1000; r->n_rcpts < IPC_RCPT_MAX; i++)
                ck_assert_int_eq(ipc_request_add_rcpt(r, i, 0, "x@y", "x@y", NULL), 0);
        ck_assert_int_eq(ipc_request_add_rcpt(r, 1, 0, "x@y", "x@y", NULL), -E2BIG);
        buf_clear(&out);
        ck_assert_int_eq(ipc_request_format(r, &out), 0);
        {
                _cleanup_(ipc_request_freep) IpcRequest *back = NULL;

                ck_assert_int_eq(request_parse(buf_peek(&out), buf_pending(&out), &back), 1);
                ck_assert(ipc_request_equal(r, back));
                ck_assert_uint_eq(back->n_rcpts, IPC_RCPT_MAX);
        }
}
END_TEST

START_TEST(test_request_equal)
{
        _cleanup_(ipc_request_freep) IpcRequest *a = request_full(), *b = request_full();

        ck_assert(ipc_request_equal(a, b));
        ck_assert(ipc_request_equal(NULL, NULL));
        b->rcpts[1].notify = 0;
        ck_assert(!ipc_request_equal(a, b));
        b->rcpts[1].notify = a->rcpts[1].notify;
        b->rcpts[0].orcpt = mfree(b->rcpts[0].orcpt);
        ck_assert(!ipc_request_equal(a, b));
        ck_assert(!ipc_request_equal(b, a));
        b = ipc_request_free(b);
        b = request_full();
        b->flags = 0;
        ck_assert(!ipc_request_equal(a, b));
        b->flags = a->flags;
        b->id[0] = '1';
        ck_assert(!ipc_request_equal(a, b));
}
END_TEST

START_TEST(test_request_add_rcpt)
{
        _cleanup_(ipc_request_freep) IpcRequest *r = NULL;

        ck_assert_int_eq(ipc_request_new(&r), 0);
        ck_assert_int_eq(r->queue, QUEUE_ACTIVE);
        ck_assert_int_eq(ipc_request_add_rcpt(r, 3, 0, "a@b", "a@b", NULL), 0);
        ck_assert_int_eq(ipc_request_add_rcpt(r, 3, 0, "c@b", "c@b", NULL), -EEXIST);
        ck_assert_int_eq(ipc_request_add_rcpt(r, IPC_INDEX_MAX + 1, 0, "a@b", "a@b", NULL),
                         -EINVAL);
        ck_assert_int_eq(ipc_request_add_rcpt(r, 4, 0x10, "a@b", "a@b", NULL), -EINVAL);
        ck_assert_int_eq(ipc_request_add_rcpt(r, 4, QUEUE_NOTIFY_NEVER | QUEUE_NOTIFY_DELAY,
                                              "a@b", "a@b", NULL), -EINVAL);
        ck_assert_int_eq(ipc_request_add_rcpt(r, 4, 0, "", "a@b", NULL), -EINVAL);
        ck_assert_int_eq(ipc_request_add_rcpt(r, 4, 0, NULL, "a@b", NULL), -EINVAL);
        ck_assert_int_eq(ipc_request_add_rcpt(r, 4, 0, "a@b", "", NULL), -EINVAL);
        ck_assert_int_eq(ipc_request_add_rcpt(r, 4, 0, "a@b", NULL, NULL), -EINVAL);
        ck_assert_int_eq(ipc_request_add_rcpt(r, 4, 0, "a@b", "a@b", ""), -EINVAL);
        ck_assert_int_eq(ipc_request_add_rcpt(r, 4, 0, rep('a', IPC_ADDRESS_MAX + 1), "a@b",
                                              NULL), -EINVAL);
        ck_assert_int_eq(ipc_request_add_rcpt(r, 4, 0, "a@b", rep('a', IPC_ADDRESS_MAX + 1),
                                              NULL), -EINVAL);
        ck_assert_int_eq(ipc_request_add_rcpt(r, 4, 0, "a@b", "a@b",
                                              rep('a', IPC_ADDRESS_MAX + 1)), -EINVAL);
        ck_assert_uint_eq(r->n_rcpts, 1);
        ck_assert_int_eq(ipc_request_add_rcpt(r, 4, 0xe, "a@b", "o@b", "rfc822;o@b"), 0);
        ck_assert_uint_eq(r->n_rcpts, 2);
        ck_assert_str_eq(r->rcpts[1].orcpt, "rfc822;o@b");
        ck_assert_uint_eq(r->rcpts[1].notify, 0xe);
}
END_TEST

START_TEST(test_request_format_rejects)
{
        _cleanup_(buf_done) Buf out = BUF_INIT(BUF_MAX_UNBOUNDED);
        _cleanup_(buf_done) Buf small = BUF_INIT(100);

        for (int v = 0; v < 26; v++) {
                _cleanup_(ipc_request_freep) IpcRequest *r = request_full();
                int expect = -EINVAL;

                switch (v) {
                case 0: r->queue = QUEUE_CORRUPT; break;
                case 1: r->queue = QUEUE_BOUNCE; break;
                case 2: r->queue = _QUEUE_INVALID; break;
                case 3: strcpy(r->id, "short"); break;
                case 4: r->content_offset = UINT64_MAX; r->content_size = 1; break;
                case 5: r->sender = mfree(r->sender); break;
                case 6: free(r->sender); r->sender = strdup(rep('a', IPC_ADDRESS_MAX + 1)); break;
                case 7: free(r->envid); r->envid = strdup(""); break;
                case 8: free(r->envid); r->envid = strdup(rep('a', IPC_ENVID_MAX + 1)); break;
                case 9: r->ret = 7; break;
                case 10: r->transport = mfree(r->transport); break;
                case 11: free(r->transport); r->transport = strdup(""); break;
                case 12:
                        free(r->transport);
                        r->transport = strdup(rep('a', IPC_TRANSPORT_MAX + 1));
                        break;
                case 13: r->nexthop = mfree(r->nexthop); break;
                case 14: free(r->nexthop); r->nexthop = strdup(""); break;
                case 15:
                        free(r->nexthop);
                        r->nexthop = strdup(rep('a', IPC_NEXTHOP_MAX + 1));
                        break;
                case 16: r->flags = 1u << 5; break;
                case 17: r->rcpts[1].index = r->rcpts[0].index; break;
                case 18: r->rcpts[2].index = IPC_INDEX_MAX + 1; break;
                case 19: r->rcpts[0].notify = 0x10; break;
                case 20: free(r->rcpts[0].address); r->rcpts[0].address = strdup(""); break;
                case 21: r->rcpts[0].original = mfree(r->rcpts[0].original); break;
                case 22: free(r->rcpts[0].orcpt); r->rcpts[0].orcpt = strdup(""); break;
                case 23:
                        /* No recipient. */
                        for (size_t i = 0; i < r->n_rcpts; i++) {
                                free(r->rcpts[i].address);
                                free(r->rcpts[i].original);
                                free(r->rcpts[i].orcpt);
                        }
                        r->n_rcpts = 0;
                        break;
                case 24:
                        r->n_rcpts = IPC_RCPT_MAX + 1;  /* checked before the array is read */
                        expect = -E2BIG;
                        break;
                case 25:
                        /* out's limit: a prefix stays. */
                        ck_assert_int_eq(ipc_request_format(r, &small), -ENOBUFS);
                        ck_assert_uint_le(buf_pending(&small), 100);
                        continue;
                }
                buf_clear(&out);
                ck_assert_msg(ipc_request_format(r, &out) == expect, "variant %d", v);
                if (v == 24)
                        r->n_rcpts = 3;
        }
}
END_TEST

static const struct {
        const char *text;
        int expect;
} request_cases[] = {
        { BASE, 1 },
        { H "sender\r\n" E R T N F RC0 END, 1 },
        { H S "envid x+2ay\r\n" "ret FULL\r\n" T N F RC0 END, 1 },
        { H S E "ret HDRS\r\n" T N "flags\r\n" RC0 END, 1 },
        { H S E R T N "flags trace verify smtputf8 8bitmime dsn\r\n" RC0 END, 1 },
        { H S E R T N F "rcpt 4294967294 e bob@x bob@x\r\n" END, 1 },
        { H S E R T N F RC0 "rcpt 1 e a@x b@x rfc822;b@x\r\n" END, 1 },
        { "request 1 incoming " ID " 0 0\r\n" S E R T N F RC0 END, 1 },
        { "request 1 deferred " ID " 18446744073709551615 0\r\n" S E R T N F RC0 END, 1 },
        { "request 1 hold " ID " 0 18446744073709551615\r\n" S E R T N F RC0 END, 1 },

        /* header */
        { "request 2 active " ID " 512 2048\r\n" S E R T N F RC0 END, -EBADMSG },
        { "request 01 active " ID " 512 2048\r\n" S E R T N F RC0 END, -EBADMSG },
        { "request 1 corrupt " ID " 512 2048\r\n" S E R T N F RC0 END, -EBADMSG },
        { "request 1 bounce " ID " 512 2048\r\n" S E R T N F RC0 END, -EBADMSG },
        { "request 1 Active " ID " 512 2048\r\n" S E R T N F RC0 END, -EBADMSG },
        { "request 1 active 0B3kz9Qx1a2b3c4 512 2048\r\n" S E R T N F RC0 END, -EBADMSG },
        { "request 1 active 0B3kz9Qx1a2b3c4D- 512 2048\r\n" S E R T N F RC0 END, -EBADMSG },
        { "request 1 active " ID " 0512 2048\r\n" S E R T N F RC0 END, -EBADMSG },
        { "request 1 active " ID " -1 2048\r\n" S E R T N F RC0 END, -EBADMSG },
        { "request 1 active " ID " 512 +2048\r\n" S E R T N F RC0 END, -EBADMSG },
        { "request 1 active " ID " 18446744073709551616 0\r\n" S E R T N F RC0 END, -EBADMSG },
        { "request 1 active " ID " 18446744073709551615 1\r\n" S E R T N F RC0 END, -EBADMSG },
        { "request 1 active " ID " 512\r\n" S E R T N F RC0 END, -EBADMSG },
        { "request 1 active " ID " 512 2048 9\r\n" S E R T N F RC0 END, -EBADMSG },
        { "request\r\n", -EBADMSG },
        { "REQUEST 1 active " ID " 512 2048\r\n", -EBADMSG },
        /* order and keywords */
        { S H, -EBADMSG },
        { H E, -EBADMSG },
        { H S R, -EBADMSG },
        { H S E R N, -EBADMSG },
        { H S E R T F, -EBADMSG },
        { H S E R T N RC0, -EBADMSG },
        { H S E R T N F END, -EBADMSG },
        { H S E R T N F RC0 "end x\r\n", -EBADMSG },
        { H S E R T N F RC0 "End\r\n", -EBADMSG },
        { H S E R T N F RC0 "bogus\r\n", -EBADMSG },
        { H H, -EBADMSG },
        { "\r\n", -EBADMSG },
        /* field syntax */
        { H "sender  alice@example.org\r\n", -EBADMSG },
        { H "sender alice@example.org \r\n", -EBADMSG },
        { H " sender alice@example.org\r\n", -EBADMSG },
        { H "sender \r\n", -EBADMSG },
        { H "sender a b\r\n", -EBADMSG },
        { H "sender a+2\r\n", -EBADMSG },
        { H "sender a+zz\r\n", -EBADMSG },
        { H "sender a=b\r\n", -EBADMSG },
        { H "sender a+00b\r\n", -EBADMSG },
        { H "sender a\xc3\xbc\r\n", -EBADMSG },
        { H "sender a\tb\r\n", -EBADMSG },
        { H S "envid a b\r\n", -EBADMSG },
        { H S "envid QQ314159+2\r\n", -EBADMSG },
        { H S E "ret full\r\n", -EBADMSG },
        { H S E "ret FULL HDRS\r\n", -EBADMSG },
        { H S E "ret NEVER\r\n", -EBADMSG },
        { H S E R "transport\r\n", -EBADMSG },
        { H S E R "transport a b\r\n", -EBADMSG },
        { H S E R T "nexthop\r\n", -EBADMSG },
        { H S E R T "nexthop a b\r\n", -EBADMSG },
        { H S E R T N "flags foo\r\n", -EBADMSG },
        { H S E R T N "flags dsn dsn\r\n", -EBADMSG },
        { H S E R T N "flags DSN\r\n", -EBADMSG },
        { H S E R T N "flags dsn 8bitmime smtputf8 verify trace dsn trace\r\n", -EBADMSG },
        /* recipients */
        { H S E R T N F "rcpt x 0 a@b a@b\r\n", -EBADMSG },
        { H S E R T N F "rcpt 01 0 a@b a@b\r\n", -EBADMSG },
        { H S E R T N F "rcpt -1 0 a@b a@b\r\n", -EBADMSG },
        { H S E R T N F "rcpt 4294967295 0 a@b a@b\r\n", -EBADMSG },
        { H S E R T N F RC0 "rcpt 0 0 c@b c@b\r\n", -EBADMSG },
        { H S E R T N F "rcpt 0 10 a@b a@b\r\n", -EBADMSG },
        { H S E R T N F "rcpt 0 g a@b a@b\r\n", -EBADMSG },
        { H S E R T N F "rcpt 0 E a@b a@b\r\n", -EBADMSG },
        { H S E R T N F "rcpt 0 3 a@b a@b\r\n", -EBADMSG },
        { H S E R T N F "rcpt 0 9 a@b a@b\r\n", -EBADMSG },
        { H S E R T N F "rcpt 0 f a@b a@b\r\n", -EBADMSG },
        { H S E R T N F "rcpt 0 0 a@b\r\n", -EBADMSG },
        { H S E R T N F "rcpt 0 0 a@b a@b o x\r\n", -EBADMSG },
        { H S E R T N F "rcpt 0 0  a@b\r\n", -EBADMSG },
        { H S E R T N F "rcpt 0 0 a@b a+00b\r\n", -EBADMSG },
        { H S E R T N F "rcpt 0 0 a@b a@b +\r\n", -EBADMSG },
        /* line ends */
        { H "sender a@b\n", -EBADMSG },
        { H "sender a@b\rx\r\n", -EBADMSG },
        { "request 1 active " ID "\n 512 2048\r\n", -EBADMSG },
};

START_TEST(test_request_table)
{
        for (size_t i = 0; i < ELEMENTSOF(request_cases); i++) {
                const char *s = request_cases[i].text;
                _cleanup_(ipc_request_freep) IpcRequest *r = NULL;
                int k;

                k = request_parse(s, strlen(s), &r);
                ck_assert_msg(k == request_cases[i].expect, "case %zu: %s, expected %s", i,
                              errname(k), errname(request_cases[i].expect));
        }
        {
                /* A NUL byte in a line. */
                static const char nul[] = H "sender a\0b\r\n";
                _cleanup_(ipc_request_freep) IpcRequest *r = NULL;

                ck_assert_int_eq(request_parse(nul, sizeof(nul) - 1, &r), -EBADMSG);
        }
}
END_TEST

START_TEST(test_request_fields)
{
        _cleanup_(ipc_request_freep) IpcRequest *r = NULL;
        static const char s[] =
                "request 1 deferred " ID " 42 4242\r\n"
                "sender\r\n"
                "envid x+2ay+20z\r\n"
                "ret FULL\r\n"
                "transport relay\r\n"
                "nexthop [192.0.2.1]:2525\r\n"
                "flags trace dsn\r\n"
                "rcpt 5 e b+c3+bc@x o@y rfc822;o@y\r\n"
                "rcpt 0 1 a@x a@x\r\n"
                "end\r\n";

        ck_assert_int_eq(request_parse(s, strlen(s), &r), 1);
        ck_assert_int_eq(r->queue, QUEUE_DEFERRED);
        ck_assert_str_eq(r->id, ID);
        ck_assert_uint_eq(r->content_offset, 42);
        ck_assert_uint_eq(r->content_size, 4242);
        ck_assert_str_eq(r->sender, "");
        ck_assert_str_eq(r->envid, "x*y z");
        ck_assert_int_eq(r->ret, QUEUE_RET_FULL);
        ck_assert_str_eq(r->transport, "relay");
        ck_assert_str_eq(r->nexthop, "[192.0.2.1]:2525");
        ck_assert_uint_eq(r->flags, IPC_FLAG_TRACE | IPC_FLAG_DSN);
        ck_assert_uint_eq(r->n_rcpts, 2);
        ck_assert_uint_eq(r->rcpts[0].index, 5);
        ck_assert_uint_eq(r->rcpts[0].notify,
                          QUEUE_NOTIFY_SUCCESS | QUEUE_NOTIFY_FAILURE | QUEUE_NOTIFY_DELAY);
        ck_assert_str_eq(r->rcpts[0].address, "b\xc3\xbc@x");
        ck_assert_str_eq(r->rcpts[0].original, "o@y");
        ck_assert_str_eq(r->rcpts[0].orcpt, "rfc822;o@y");
        ck_assert_uint_eq(r->rcpts[1].index, 0);
        ck_assert_uint_eq(r->rcpts[1].notify, QUEUE_NOTIFY_NEVER);
        ck_assert_str_eq(r->rcpts[1].address, "a@x");
        ck_assert_ptr_null(r->rcpts[1].orcpt);
        r = ipc_request_free(r);

        ck_assert_int_eq(request_parse(BASE, strlen(BASE), &r), 1);
        ck_assert_str_eq(r->sender, "alice@example.org");
        ck_assert_ptr_null(r->envid);
        ck_assert_int_eq(r->ret, QUEUE_RET_NONE);
        ck_assert_uint_eq(r->flags, IPC_FLAG_8BITMIME);
}
END_TEST

START_TEST(test_request_limits)
{
        _cleanup_(buf_done) Buf b = BUF_INIT(BUF_MAX_UNBOUNDED);
        _cleanup_(ipc_request_freep) IpcRequest *r = NULL;

        /* A line of exactly IPC_LINE_MAX bytes is read (and found bad); one more is too long. */
        ck_assert_int_eq(buf_printf(&b, H "sender %s\r\n", rep('a', IPC_LINE_MAX - 7)), 0);
        ck_assert_int_eq(request_parse(buf_peek(&b), buf_pending(&b), &r), -EBADMSG);
        ck_assert_int_eq(request_parse_trickle(buf_peek(&b), buf_pending(&b), &r), -EBADMSG);
        buf_clear(&b);
        ck_assert_int_eq(buf_printf(&b, H "sender %s\r\n", rep('a', IPC_LINE_MAX - 6)), 0);
        ck_assert_int_eq(request_parse(buf_peek(&b), buf_pending(&b), &r), -EMSGSIZE);
        ck_assert_int_eq(request_parse_trickle(buf_peek(&b), buf_pending(&b), &r), -EMSGSIZE);
        /* Without its CRLF yet, too. */
        buf_clear(&b);
        ck_assert_int_eq(buf_printf(&b, H "sender %s", rep('a', IPC_LINE_MAX + 5)), 0);
        ck_assert_int_eq(request_parse(buf_peek(&b), buf_pending(&b), &r), -EMSGSIZE);
        ck_assert_int_eq(request_parse_trickle(buf_peek(&b), buf_pending(&b), &r), -EMSGSIZE);
        /* A long line trickled in, broken by a bare CR, bare LF or NUL late in it, or ended
         * by a CRLF split across calls. */
        for (int v = 0; v < 4; v++) {
                static const char *const tails[] = { "\rx\r\n", "x\nx\r\n", "\r", "\r\n" };

                buf_clear(&b);
                ck_assert_int_eq(buf_printf(&b, H "sender %s%s", rep('a', IPC_ADDRESS_MAX),
                                            tails[v]), 0);
                ck_assert_int_eq(request_parse_trickle(buf_peek(&b), buf_pending(&b), &r),
                                 v < 2 ? -EBADMSG : 0);
        }
        buf_clear(&b);
        ck_assert_int_eq(buf_printf(&b, H "sender %sx", rep('a', IPC_ADDRESS_MAX)), 0);
        b.data[b.len - 1] = '\0';
        ck_assert_int_eq(request_parse_trickle(buf_peek(&b), buf_pending(&b), &r), -EBADMSG);

        /* Values one byte over their limits. */
        buf_clear(&b);
        ck_assert_int_eq(buf_printf(&b, H "sender %s\r\n", rep('a', IPC_ADDRESS_MAX)), 0);
        ck_assert_int_eq(request_parse(buf_peek(&b), buf_pending(&b), &r), 0);
        buf_clear(&b);
        ck_assert_int_eq(buf_printf(&b, H "sender %s\r\n", rep('a', IPC_ADDRESS_MAX + 1)), 0);
        ck_assert_int_eq(request_parse(buf_peek(&b), buf_pending(&b), &r), -EBADMSG);
        buf_clear(&b);
        ck_assert_int_eq(buf_printf(&b, H S "envid %s\r\n", rep('e', IPC_ENVID_MAX + 1)), 0);
        ck_assert_int_eq(request_parse(buf_peek(&b), buf_pending(&b), &r), -EBADMSG);
        buf_clear(&b);
        ck_assert_int_eq(buf_printf(&b, H S E R "transport %s\r\n",
                                    rep('t', IPC_TRANSPORT_MAX + 1)), 0);
        ck_assert_int_eq(request_parse(buf_peek(&b), buf_pending(&b), &r), -EBADMSG);
        buf_clear(&b);
        ck_assert_int_eq(buf_printf(&b, H S E R T "nexthop %s\r\n",
                                    rep('n', IPC_NEXTHOP_MAX + 1)), 0);
        ck_assert_int_eq(request_parse(buf_peek(&b), buf_pending(&b), &r), -EBADMSG);
        buf_clear(&b);
        ck_assert_int_eq(buf_printf(&b, H S E R T N F "rcpt 0 0 a@b a@b %s\r\n",
                                    rep('o', IPC_ADDRESS_MAX + 1)), 0);
        ck_assert_int_eq(request_parse(buf_peek(&b), buf_pending(&b), &r), -EBADMSG);

        /* IPC_RCPT_MAX recipients are fine, one more is -E2BIG. */
        buf_clear(&b);
        ck_assert_int_eq(buf_append_str(&b, H S E R T N F), 0);
        for (unsigned i = 0; i < IPC_RCPT_MAX; i++)
                ck_assert_int_eq(buf_printf(&b, "rcpt %u 0 a@b a@b\r\n", i), 0);
        ck_assert_int_eq(buf_append_str(&b, END), 0);
        ck_assert_int_eq(request_parse(buf_peek(&b), buf_pending(&b), &r), 1);
        ck_assert_uint_eq(r->n_rcpts, IPC_RCPT_MAX);
        r = ipc_request_free(r);
        b.len -= strlen(END);
        ck_assert_int_eq(buf_printf(&b, "rcpt %u 0 a@b a@b\r\n" END, IPC_RCPT_MAX), 0);
        ck_assert_int_eq(request_parse(buf_peek(&b), buf_pending(&b), &r), -E2BIG);
}
END_TEST

START_TEST(test_request_splits)
{
        _cleanup_(buf_done) Buf b = BUF_INIT(BUF_MAX_UNBOUNDED);
        _cleanup_(ipc_request_freep) IpcRequest *want = request_full();
        size_t n;

        ck_assert_int_eq(ipc_request_format(want, &b), 0);
        n = buf_pending(&b);

        /* Split at every position; byte by byte; two requests and a tail in one stream. */
        for (size_t k = 0; k <= n; k++) {
                _cleanup_(ipc_request_parser_freep) IpcRequestParser *p = NULL;
                _cleanup_(ipc_request_freep) IpcRequest *got = NULL;
                size_t used;

                ck_assert_int_eq(ipc_request_parser_new(&p), 0);
                ck_assert_int_eq(request_feed_pieces(p, buf_peek(&b), n, k, SIZE_MAX, &used,
                                                     &got), 1);
                ck_assert_uint_eq(used, n);
                ck_assert(ipc_request_equal(want, got));
                ck_assert(!ipc_request_parser_pending(p));
        }
        {
                _cleanup_(ipc_request_parser_freep) IpcRequestParser *p = NULL;
                _cleanup_(ipc_request_freep) IpcRequest *got = NULL;
                size_t used;

                ck_assert_int_eq(ipc_request_parser_new(&p), 0);
                ck_assert_int_eq(request_feed_pieces(p, buf_peek(&b), n, 1, 1, &used, &got), 1);
                ck_assert_uint_eq(used, n);
                ck_assert(ipc_request_equal(want, got));
        }

        ck_assert_int_eq(ipc_request_format(want, &b), 0);
        ck_assert_int_eq(buf_append_str(&b, "request 1 act"), 0);
        for (size_t step = 1; step <= buf_pending(&b); step += 97) {
                _cleanup_(ipc_request_parser_freep) IpcRequestParser *p = NULL;
                const char *s = buf_peek(&b);
                size_t total = buf_pending(&b), pos = 0, used;

                ck_assert_int_eq(ipc_request_parser_new(&p), 0);
                for (int i = 0; i < 2; i++) {
                        _cleanup_(ipc_request_freep) IpcRequest *got = NULL;

                        ck_assert_int_eq(request_feed_pieces(p, s + pos, total - pos, step, step,
                                                             &used, &got), 1);
                        ck_assert(ipc_request_equal(want, got));
                        pos += used;
                        ck_assert_uint_eq(pos, n * (size_t) (i + 1));
                        ck_assert(!ipc_request_parser_pending(p));
                }
                {
                        IpcRequest *none = NULL;

                        ck_assert_int_eq(request_feed_pieces(p, s + pos, total - pos, step,
                                                             step, &used, &none), 0);
                        ck_assert_ptr_null(none);
                        ck_assert(ipc_request_parser_pending(p));
                }
        }
}
END_TEST

START_TEST(test_request_sticky_error)
{
        _cleanup_(ipc_request_parser_freep) IpcRequestParser *p = NULL;
        IpcRequest *r = NULL;
        size_t used;

        ck_assert_int_eq(ipc_request_parser_new(&p), 0);
        ck_assert_int_eq(ipc_request_feed(p, "", 0, &used, &r), 0);
        ck_assert_uint_eq(used, 0);
        ck_assert_int_eq(ipc_request_feed(p, "bogus\r\n" BASE, strlen("bogus\r\n" BASE), &used,
                                          &r), -EBADMSG);
        ck_assert_uint_le(used, strlen("bogus\r\n" BASE));
        ck_assert_int_eq(ipc_request_feed(p, BASE, strlen(BASE), &used, &r), -EBADMSG);
        ck_assert_uint_eq(used, 0);
        ck_assert_ptr_null(r);
}
END_TEST

/* ---- replies ---- */

static const uint32_t reply_indexes[] = { 7, 0, 2 };

#define RS0 "result 0 sent 2.0.0 local 1830 delivered+20to+20maildir\r\n"
#define RS2 "result 2 deferred 4.2.2 local - mailbox+20full\r\n"
#define RS7 "result 7 bounced 5.1.1 mx.example.com[192.0.2.1]:25 0 550+205.1.1+20no\r\n"

static int reply_parse(const char *s, size_t n, IpcReply **ret) {
        _cleanup_(ipc_reply_parser_freep) IpcReplyParser *p = NULL;
        size_t used;

        ck_assert_int_eq(ipc_reply_parser_new(reply_indexes, ELEMENTSOF(reply_indexes), &p), 0);
        return reply_feed_pieces(p, s, n, SIZE_MAX, SIZE_MAX, &used, ret);
}

static const struct {
        const char *text;
        int expect;
} reply_cases[] = {
        { RS0 RS2 RS7 END, 1 },
        { RS7 RS0 RS2 END, 1 },
        { "result 0 expanded 2.0.0 local -\r\n" RS2 RS7 END, 1 },
        { "result 0 deliverable 2.1.5 local 0\r\n" RS2 RS7 END, 1 },
        { "result 0 undeliverable 5.1.1 local 0 x\r\n" RS2 RS7 END, 1 },
        { "result 0 sent 2.999.999 local 18446744073709551615 x\r\n" RS2 RS7 END, 1 },
        { "result 0 sent 2.0.0 a+2fb 1 lower+2dcase\r\n" RS2 RS7 END, 1 },
        { RS0 RS2 RS7 "end last\r\n", 1 },                      /* the agent's last */

        { RS0 RS2 END, -EBADMSG },                              /* missing */
        { END, -EBADMSG },
        { RS0 RS0, -EBADMSG },                                  /* twice */
        { "result 5 sent 2.0.0 local 1 x\r\n", -EBADMSG },      /* unknown index */
        { "result 4294967295 sent 2.0.0 local 1 x\r\n", -EBADMSG },
        { "result 00 sent 2.0.0 local 1 x\r\n", -EBADMSG },
        { "result x sent 2.0.0 local 1 x\r\n", -EBADMSG },
        { "result 0 delivered 2.0.0 local 1 x\r\n", -EBADMSG },
        { "result 0 Sent 2.0.0 local 1 x\r\n", -EBADMSG },
        { "result 0 sent 4.0.0 local 1 x\r\n", -EBADMSG },     /* class mismatch */
        { "result 0 sent 5.0.0 local 1 x\r\n", -EBADMSG },
        { "result 0 deferred 2.0.0 local 1 x\r\n", -EBADMSG },
        { "result 0 deferred 5.0.0 local 1 x\r\n", -EBADMSG },
        { "result 0 bounced 4.0.0 local 1 x\r\n", -EBADMSG },
        { "result 0 undeliverable 2.0.0 local 1 x\r\n", -EBADMSG },
        { "result 0 expanded 4.0.0 local 1 x\r\n", -EBADMSG },
        { "result 0 sent 2.0 local 1 x\r\n", -EBADMSG },       /* bad dsn */
        { "result 0 sent 2.00.0 local 1 x\r\n", -EBADMSG },
        { "result 0 sent 2.0.0000 local 1 x\r\n", -EBADMSG },
        { "result 0 sent 2.1000.0 local 1 x\r\n", -EBADMSG },
        { "result 0 sent 250 local 1 x\r\n", -EBADMSG },
        { "result 0 sent 2.0.0 local 01 x\r\n", -EBADMSG },    /* bad delay */
        { "result 0 sent 2.0.0 local -1 x\r\n", -EBADMSG },
        { "result 0 sent 2.0.0 local 18446744073709551616 x\r\n", -EBADMSG },
        { "result 0 sent 2.0.0 local x\r\n", -EBADMSG },       /* fields */
        { "result 0 sent 2.0.0 local 1 x y\r\n", -EBADMSG },
        { "result 0 sent 2.0.0 local 1 \r\n", -EBADMSG },
        { "result 0 sent 2.0.0  local 1\r\n", -EBADMSG },
        { "result 0 sent 2.0.0 lo+0 1 x\r\n", -EBADMSG },      /* bad xtext */
        { "result 0 sent 2.0.0 local 1 a+00\r\n", -EBADMSG },
        { "result 0 sent 2.0.0 local 1 a=b\r\n", -EBADMSG },
        { "result\r\n", -EBADMSG },
        { "Result 0 sent 2.0.0 local 1 x\r\n", -EBADMSG },
        { "status 0 sent 2.0.0 local 1 x\r\n", -EBADMSG },
        { RS0 RS2 RS7 "end x\r\n", -EBADMSG },
        { RS0 RS2 RS7 "end Last\r\n", -EBADMSG },
        { RS0 RS2 RS7 "end last last\r\n", -EBADMSG },
        { RS0 RS2 RS7 "end  last\r\n", -EBADMSG },
        { RS0 RS2 RS7 "end last \r\n", -EBADMSG },
        { RS0 RS2 "end last\r\n", -EBADMSG },
        { RS0 RS2 RS7 "\r\n", -EBADMSG },
        { "result 0 sent 2.0.0 local 1 x\n", -EBADMSG },
        { "result 0 sent 2.0.0 local 1 x\rx\r\n", -EBADMSG },
        { RS0 RS2, 0 },
        { RS0 RS2 RS7, 0 },
        { RS0 RS2 RS7 "en", 0 },
};

START_TEST(test_reply_table)
{
        for (size_t i = 0; i < ELEMENTSOF(reply_cases); i++) {
                _cleanup_(ipc_reply_freep) IpcReply *r = NULL;
                int k;

                k = reply_parse(reply_cases[i].text, strlen(reply_cases[i].text), &r);
                ck_assert_msg(k == reply_cases[i].expect, "case %zu: %s, expected %s", i,
                              errname(k), errname(reply_cases[i].expect));
                if (k == 1) {
                        ck_assert_uint_eq(r->n_results, 3);
                        ck_assert(r->last == !!strstr(reply_cases[i].text, "end last"));
                        for (size_t j = 0; j < ELEMENTSOF(reply_indexes); j++)
                                ck_assert_ptr_nonnull(ipc_reply_find(r, reply_indexes[j]));
                        ck_assert_ptr_null(ipc_reply_find(r, 1));
                }
        }
}
END_TEST

START_TEST(test_reply_fields)
{
        _cleanup_(ipc_reply_freep) IpcReply *r = NULL;
        const IpcResult *x;

        ck_assert_int_eq(reply_parse(RS2 RS7 "result 0 sent 2.0.0 local -\r\n" END,
                                     strlen(RS2 RS7 "result 0 sent 2.0.0 local -\r\n" END), &r),
                         1);
        ck_assert_uint_eq(r->n_results, 3);
        x = &r->results[0];
        ck_assert_uint_eq(x->index, 2);
        ck_assert_int_eq(x->status, IPC_STATUS_DEFERRED);
        ck_assert_str_eq(x->dsn, "4.2.2");
        ck_assert_str_eq(x->relay, "local");
        ck_assert_uint_eq(x->delay_usec, IPC_DELAY_NONE);
        ck_assert_str_eq(x->text, "mailbox full");
        x = ipc_reply_find(r, 7);
        ck_assert_ptr_eq(x, &r->results[1]);
        ck_assert_int_eq(x->status, IPC_STATUS_BOUNCED);
        ck_assert_str_eq(x->dsn, "5.1.1");
        ck_assert_str_eq(x->relay, "mx.example.com[192.0.2.1]:25");
        ck_assert_uint_eq(x->delay_usec, 0);
        ck_assert_str_eq(x->text, "550 5.1.1 no");
        x = ipc_reply_find(r, 0);
        ck_assert_int_eq(x->status, IPC_STATUS_SENT);
        ck_assert_str_eq(x->text, "");
}
END_TEST

START_TEST(test_result_format)
{
        _cleanup_(buf_done) Buf out = BUF_INIT(BUF_MAX_UNBOUNDED);
        _cleanup_(buf_done) Buf small = BUF_INIT(10);
        _cleanup_free_ char *longtext = malloc(IPC_TEXT_MAX + 51);

        ck_assert_int_eq(ipc_result_format(0, IPC_STATUS_SENT, "2.0.0", "local", 1830,
                                           "delivered to maildir", &out), 0);
        ck_assert_int_eq(ipc_result_format(2, IPC_STATUS_DEFERRED, "4.2.2", "local",
                                           IPC_DELAY_NONE, "mailbox full", &out), 0);
        ck_assert_int_eq(ipc_result_format(7, IPC_STATUS_BOUNCED, "5.1.1",
                                           "mx.example.com[192.0.2.1]:25", 0, "550 5.1.1 no",
                                           &out), 0);
        ck_assert_int_eq(ipc_reply_end_format(&out, false), 0);
        ck_assert_str_eq(buf_peek(&out), RS0 RS2 RS7 END);
        ck_assert_int_eq(ipc_reply_end_format(&out, true), 0);
        ck_assert_str_eq(buf_peek(&out), RS0 RS2 RS7 END "end last\r\n");

        buf_clear(&out);
        ck_assert_int_eq(ipc_result_format(IPC_INDEX_MAX, IPC_STATUS_EXPANDED, "2.0.0", "l", 1,
                                           NULL, &out), 0);
        ck_assert_int_eq(ipc_result_format(1, IPC_STATUS_EXPANDED, "2.0.0", "l", 1, "", &out),
                         0);
        ck_assert_str_eq(buf_peek(&out), "result 4294967294 expanded 2.0.0 l 1\r\n"
                                         "result 1 expanded 2.0.0 l 1\r\n");

        /* A long text is cut to IPC_TEXT_MAX bytes. */
        ck_assert_ptr_nonnull(longtext);
        memset(longtext, ' ', IPC_TEXT_MAX + 50);
        longtext[IPC_TEXT_MAX + 50] = '\0';
        buf_clear(&out);
        ck_assert_int_eq(ipc_result_format(0, IPC_STATUS_SENT, "2.0.0", "l", 1, longtext, &out),
                         0);
        ck_assert_uint_eq(buf_pending(&out), strlen("result 0 sent 2.0.0 l 1 \r\n") +
                                             3 * IPC_TEXT_MAX);

        ck_assert_int_eq(ipc_result_format(IPC_INDEX_MAX + 1, IPC_STATUS_SENT, "2.0.0", "l", 1,
                                           NULL, &out), -EINVAL);
        ck_assert_int_eq(ipc_result_format(0, _IPC_STATUS_MAX, "2.0.0", "l", 1, NULL, &out),
                         -EINVAL);
        ck_assert_int_eq(ipc_result_format(0, _IPC_STATUS_INVALID, "2.0.0", "l", 1, NULL, &out),
                         -EINVAL);
        ck_assert_int_eq(ipc_result_format(0, IPC_STATUS_SENT, "4.0.0", "l", 1, NULL, &out),
                         -EINVAL);
        ck_assert_int_eq(ipc_result_format(0, IPC_STATUS_DEFERRED, "5.0.0", "l", 1, NULL, &out),
                         -EINVAL);
        ck_assert_int_eq(ipc_result_format(0, IPC_STATUS_SENT, "2.0", "l", 1, NULL, &out),
                         -EINVAL);
        ck_assert_int_eq(ipc_result_format(0, IPC_STATUS_SENT, NULL, "l", 1, NULL, &out),
                         -EINVAL);
        ck_assert_int_eq(ipc_result_format(0, IPC_STATUS_SENT, "2.0.0", "", 1, NULL, &out),
                         -EINVAL);
        ck_assert_int_eq(ipc_result_format(0, IPC_STATUS_SENT, "2.0.0", NULL, 1, NULL, &out),
                         -EINVAL);
        ck_assert_int_eq(ipc_result_format(0, IPC_STATUS_SENT, "2.0.0",
                                           rep('r', IPC_RELAY_MAX + 1), 1, NULL, &out),
                         -EINVAL);
        ck_assert_int_eq(ipc_result_format(0, IPC_STATUS_SENT, "2.0.0", "local", 1, "text",
                                           &small), -ENOBUFS);
        ck_assert_int_eq(ipc_reply_end_format(&small, false), 0);
}
END_TEST

START_TEST(test_reply_round_trip)
{
        _cleanup_(buf_done) Buf out = BUF_INIT(BUF_MAX_UNBOUNDED);
        _cleanup_(ipc_reply_freep) IpcReply *want = NULL, *got = NULL;
        static const struct {
                uint32_t index;
                IpcStatus status;
                const char *dsn;
                uint64_t delay;
        } t[] = {
                { 2, IPC_STATUS_UNDELIVERABLE, "5.999.999", 5 },
                { 7, IPC_STATUS_DELIVERABLE, "2.1.5", IPC_DELAY_NONE },
                { 0, IPC_STATUS_EXPANDED, "2.0.0", UINT64_MAX - 1 },
        };

        want = calloc(1, sizeof(*want));
        ck_assert_ptr_nonnull(want);
        want->results = calloc(ELEMENTSOF(t), sizeof(IpcResult));
        ck_assert_ptr_nonnull(want->results);
        for (size_t i = 0; i < ELEMENTSOF(t); i++) {
                IpcResult *x = &want->results[want->n_results++];

                x->index = t[i].index;
                x->status = t[i].status;
                strcpy(x->dsn, t[i].dsn);
                x->delay_usec = t[i].delay;
                x->relay = strdup(i == 0 ? rep('\xff', IPC_RELAY_MAX) : "a b=c+d");
                x->text = strdup(i == 0 ? rep('=', IPC_TEXT_MAX) : i == 1 ? "" : "\x01\r\n");
                ck_assert_ptr_nonnull(x->relay);
                ck_assert_ptr_nonnull(x->text);
        }
        ck_assert_int_eq(ipc_reply_format(want, &out), 0);
        ck_assert_int_eq(reply_parse(buf_peek(&out), buf_pending(&out), &got), 1);
        ck_assert(ipc_reply_equal(want, got));
        ck_assert(!ipc_reply_equal(want, NULL));
        ck_assert(ipc_reply_equal(NULL, NULL));

        got->results[2].delay_usec = 3;
        ck_assert(!ipc_reply_equal(want, got));
        got->results[2].delay_usec = want->results[2].delay_usec;
        got->results[1].dsn[4] = '6';
        ck_assert(!ipc_reply_equal(want, got));
        got->n_results--;
        ck_assert(!ipc_reply_equal(want, got));
        got->n_results++;
        got->results[1].dsn[4] = want->results[1].dsn[4];
        ck_assert(ipc_reply_equal(want, got));

        /* "end last" goes out and comes back. */
        want->last = true;
        ck_assert(!ipc_reply_equal(want, got));
        buf_clear(&out);
        ck_assert_int_eq(ipc_reply_format(want, &out), 0);
        got = ipc_reply_free(got);
        ck_assert_int_eq(reply_parse(buf_peek(&out), buf_pending(&out), &got), 1);
        ck_assert(got->last);
        ck_assert(ipc_reply_equal(want, got));

        /* Duplicate indexes do not go out. */
        want->results[1].index = 2;
        ck_assert_int_eq(ipc_reply_format(want, &out), -EINVAL);
        want->results[1].index = 7;
        want->results[1].status = IPC_STATUS_BOUNCED;
        ck_assert_int_eq(ipc_reply_format(want, &out), -EINVAL);
}
END_TEST

START_TEST(test_reply_splits)
{
        static const char s[] = RS7 RS0 RS2 END "result 0";
        const size_t n = strlen(RS7 RS0 RS2 END);
        _cleanup_(ipc_reply_freep) IpcReply *want = NULL;

        ck_assert_int_eq(reply_parse(s, n, &want), 1);
        for (size_t k = 0; k <= strlen(s); k++)
                for (size_t step = 1; step <= strlen(s); step = step * 3 + 1) {
                        _cleanup_(ipc_reply_parser_freep) IpcReplyParser *p = NULL;
                        _cleanup_(ipc_reply_freep) IpcReply *got = NULL;
                        size_t used;

                        ck_assert_int_eq(ipc_reply_parser_new(reply_indexes,
                                                              ELEMENTSOF(reply_indexes), &p), 0);
                        ck_assert_int_eq(reply_feed_pieces(p, s, strlen(s), k, step, &used,
                                                           &got), 1);
                        ck_assert_uint_eq(used, n);     /* the tail stays with the caller */
                        ck_assert(ipc_reply_equal(want, got));
                        ck_assert_int_eq(ipc_reply_feed(p, s + used, strlen(s) - used, &used,
                                                        &got), -EALREADY);
                        ck_assert_uint_eq(used, 0);
                }
}
END_TEST

START_TEST(test_reply_partial)
{
        _cleanup_(ipc_reply_parser_freep) IpcReplyParser *p = NULL;
        _cleanup_(ipc_reply_freep) IpcReply *part = NULL, *again = NULL;
        IpcReply *none = NULL;
        static const char s[] = RS2 RS0 "result 2 sent 2.0.0 local 1\r\n" RS7 END;
        size_t used;

        ck_assert_int_eq(ipc_reply_parser_new(reply_indexes, ELEMENTSOF(reply_indexes), &p), 0);
        ck_assert_int_eq(ipc_reply_feed(p, s, strlen(s), &used, &none), -EBADMSG);
        ck_assert_uint_eq(used, strlen(RS2 RS0 "result 2 sent 2.0.0 local 1\r\n"));
        ck_assert_ptr_null(none);
        ck_assert_int_eq(ipc_reply_feed(p, RS7, strlen(RS7), &used, &none), -EBADMSG);
        ck_assert_uint_eq(used, 0);

        /* Two results arrived before the error; qmgr applies them, defers index 7. */
        ck_assert_int_eq(ipc_reply_parser_take_partial(p, &part), 0);
        ck_assert_uint_eq(part->n_results, 2);
        ck_assert_ptr_nonnull(ipc_reply_find(part, 2));
        ck_assert_ptr_nonnull(ipc_reply_find(part, 0));
        ck_assert_ptr_null(ipc_reply_find(part, 7));
        ck_assert_int_eq(ipc_reply_parser_take_partial(p, &again), 0);
        ck_assert_uint_eq(again->n_results, 0);
        ck_assert_int_eq(ipc_reply_feed(p, RS7, strlen(RS7), &used, &none), -EBADMSG);
        ipc_reply_free(TAKE_PTR(part));
        ipc_reply_free(TAKE_PTR(again));

        /* At end of file without an error: what came, and the parser is finished. */
        p = ipc_reply_parser_free(p);
        ck_assert_int_eq(ipc_reply_parser_new(reply_indexes, ELEMENTSOF(reply_indexes), &p), 0);
        ck_assert_int_eq(ipc_reply_feed(p, RS0 "resu", strlen(RS0 "resu"), &used, &none), 0);
        ck_assert_int_eq(ipc_reply_parser_take_partial(p, &part), 0);
        ck_assert_uint_eq(part->n_results, 1);
        ck_assert_uint_eq(part->results[0].index, 0);
        ck_assert_int_eq(ipc_reply_feed(p, RS7, strlen(RS7), &used, &none), -EALREADY);

        /* After a complete reply, nothing is left. */
        p = ipc_reply_parser_free(p);
        ck_assert_int_eq(ipc_reply_parser_new(reply_indexes, ELEMENTSOF(reply_indexes), &p), 0);
        ck_assert_int_eq(ipc_reply_feed(p, RS0 RS2 RS7 END, strlen(RS0 RS2 RS7 END), &used,
                                        &none), 1);
        ipc_reply_free(none);
        ck_assert_int_eq(ipc_reply_parser_take_partial(p, &again), 0);
        ck_assert_uint_eq(again->n_results, 0);
}
END_TEST

START_TEST(test_reply_parser_new)
{
        _cleanup_(ipc_reply_parser_freep) IpcReplyParser *p = NULL;
        _cleanup_(ipc_request_freep) IpcRequest *req = request_full();
        _cleanup_(buf_done) Buf b = BUF_INIT(BUF_MAX_UNBOUNDED);
        _cleanup_(ipc_reply_freep) IpcReply *got = NULL;
        static const uint32_t dup[] = { 1, 2, 1 };
        static const uint32_t big[] = { IPC_INDEX_MAX + 1 };
        uint32_t *many;
        size_t used;

        ck_assert_int_eq(ipc_reply_parser_new(dup, 0, &p), -EINVAL);
        ck_assert_int_eq(ipc_reply_parser_new(dup, ELEMENTSOF(dup), &p), -EINVAL);
        ck_assert_int_eq(ipc_reply_parser_new(big, ELEMENTSOF(big), &p), -EINVAL);
        many = calloc(IPC_RCPT_MAX + 1, sizeof(*many));
        ck_assert_ptr_nonnull(many);
        for (size_t i = 0; i <= IPC_RCPT_MAX; i++)
                many[i] = (uint32_t) i;
        ck_assert_int_eq(ipc_reply_parser_new(many, IPC_RCPT_MAX + 1, &p), -EINVAL);
        ck_assert_int_eq(ipc_reply_parser_new(many, IPC_RCPT_MAX, &p), 0);
        p = ipc_reply_parser_free(p);
        free(many);

        /* From a request: its indexes 7, 0 and IPC_INDEX_MAX. */
        ck_assert_int_eq(ipc_reply_parser_new_for(req, &p), 0);
        for (size_t i = 0; i < req->n_rcpts; i++)
                ck_assert_int_eq(ipc_result_format(req->rcpts[i].index, IPC_STATUS_SENT,
                                                   "2.0.0", "local", 1, "ok", &b), 0);
        ck_assert_int_eq(ipc_reply_end_format(&b, false), 0);
        ck_assert_int_eq(ipc_reply_feed(p, buf_peek(&b), buf_pending(&b), &used, &got), 1);
        ck_assert_uint_eq(got->n_results, 3);
        p = ipc_reply_parser_free(p);
        req->n_rcpts = 0;
        ck_assert_int_eq(ipc_reply_parser_new_for(req, &p), -EINVAL);
        req->n_rcpts = 3;
}
END_TEST

START_TEST(test_reply_limits)
{
        _cleanup_(buf_done) Buf b = BUF_INIT(BUF_MAX_UNBOUNDED);
        _cleanup_(ipc_reply_freep) IpcReply *r = NULL;

        ck_assert_int_eq(buf_printf(&b, "result 0 sent 2.0.0 local 1 %s\r\n",
                                    rep('t', IPC_TEXT_MAX)), 0);
        ck_assert_int_eq(reply_parse(buf_peek(&b), buf_pending(&b), &r), 0);
        buf_clear(&b);
        ck_assert_int_eq(buf_printf(&b, "result 0 sent 2.0.0 local 1 %s\r\n",
                                    rep('t', IPC_TEXT_MAX + 1)), 0);
        ck_assert_int_eq(reply_parse(buf_peek(&b), buf_pending(&b), &r), -EBADMSG);
        buf_clear(&b);
        ck_assert_int_eq(buf_printf(&b, "result 0 sent 2.0.0 %s 1\r\n",
                                    rep('r', IPC_RELAY_MAX + 1)), 0);
        ck_assert_int_eq(reply_parse(buf_peek(&b), buf_pending(&b), &r), -EBADMSG);
        buf_clear(&b);
        ck_assert_int_eq(buf_printf(&b, "result 0 sent 2.0.0 local 1 %s\r\n",
                                    rep('t', IPC_LINE_MAX)), 0);
        ck_assert_int_eq(reply_parse(buf_peek(&b), buf_pending(&b), &r), -EMSGSIZE);
        buf_clear(&b);
        ck_assert_int_eq(buf_printf(&b, "%s", rep('x', IPC_LINE_MAX + 1)), 0);
        ck_assert_int_eq(reply_parse(buf_peek(&b), buf_pending(&b), &r), -EMSGSIZE);
}
END_TEST

/* ---- blocking reader and writer ---- */

static void pair(int sv[2]) {
        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
}

static void send_str(int fd, const char *s, size_t n) {
        ck_assert_int_eq(send(fd, s, n, MSG_NOSIGNAL), (ssize_t) n);
}

START_TEST(test_read_requests)
{
        _cleanup_(ipc_request_parser_freep) IpcRequestParser *p = NULL;
        _cleanup_(ipc_request_freep) IpcRequest *want = request_full();
        _cleanup_(buf_done) Buf b = BUF_INIT(BUF_MAX_UNBOUNDED);
        IpcRequest *got = NULL;
        int sv[2];

        ck_assert_int_eq(ipc_request_format(want, &b), 0);
        ck_assert_int_eq(ipc_request_format(want, &b), 0);
        pair(sv);
        ck_assert_int_eq(ipc_request_parser_new(&p), 0);

        /* Two requests in one write, then one in two pieces, then a clean end of file. */
        send_str(sv[1], buf_peek(&b), buf_pending(&b));
        for (int i = 0; i < 2; i++) {
                ck_assert_int_eq(ipc_request_read(p, sv[0], 5 * 1000000, &got), 1);
                ck_assert(ipc_request_equal(want, got));
                got = ipc_request_free(got);
        }
        send_str(sv[1], buf_peek(&b), 10);
        send_str(sv[1], buf_peek(&b) + 10, buf_pending(&b) / 2 - 10);
        ck_assert_int_eq(ipc_request_read(p, sv[0], IPC_TIMEOUT_INFINITY, &got), 1);
        ck_assert(ipc_request_equal(want, got));
        got = ipc_request_free(got);
        ck_assert(!ipc_request_parser_pending(p));
        (void) close(sv[1]);
        ck_assert_int_eq(ipc_request_read(p, sv[0], 5 * 1000000, &got), 0);
        ck_assert_ptr_null(got);
        (void) close(sv[0]);

        /* End of file inside a request. */
        p = ipc_request_parser_free(p);
        ck_assert_int_eq(ipc_request_parser_new(&p), 0);
        pair(sv);
        send_str(sv[1], buf_peek(&b), 100);
        (void) close(sv[1]);
        ck_assert_int_eq(ipc_request_read(p, sv[0], 5 * 1000000, &got), -ECONNRESET);
        (void) close(sv[0]);

        /* A malformed request; the error stays. */
        p = ipc_request_parser_free(p);
        ck_assert_int_eq(ipc_request_parser_new(&p), 0);
        pair(sv);
        send_str(sv[1], "hello\r\n", 7);
        ck_assert_int_eq(ipc_request_read(p, sv[0], 5 * 1000000, &got), -EBADMSG);
        ck_assert_int_eq(ipc_request_read(p, sv[0], 5 * 1000000, &got), -EBADMSG);
        (void) close(sv[1]);
        (void) close(sv[0]);

        /* A closed fd. */
        p = ipc_request_parser_free(p);
        ck_assert_int_eq(ipc_request_parser_new(&p), 0);
        pair(sv);
        (void) close(sv[1]);
        (void) close(sv[0]);
        ck_assert_int_eq(ipc_request_read(p, sv[0], 0, &got), -EBADF);
}
END_TEST

START_TEST(test_read_deadline)
{
        _cleanup_(ipc_request_parser_freep) IpcRequestParser *p = NULL;
        IpcRequest *got = NULL;
        int sv[2];

        pair(sv);
        ck_assert_int_eq(ipc_request_parser_new(&p), 0);

        /* Idle: nothing comes. A zero timeout still polls once. */
        ck_assert_int_eq(ipc_request_read(p, sv[0], 0, &got), -ETIMEDOUT);
        ck_assert_int_eq(ipc_request_read(p, sv[0], 20 * 1000, &got), -ETIMEDOUT);
        ck_assert(!ipc_request_parser_pending(p));

        /* Half a request, then silence: the deadline covers the whole request. */
        send_str(sv[1], H S, strlen(H S));
        ck_assert_int_eq(ipc_request_read(p, sv[0], 20 * 1000, &got), -ETIMEDOUT);
        ck_assert(ipc_request_parser_pending(p));
        ck_assert_ptr_null(got);

        /* The rest arrives later; the same parser completes it. With a zero timeout what is
         * ready is still read. */
        send_str(sv[1], E R T N F RC0 END, strlen(E R T N F RC0 END));
        ck_assert_int_eq(ipc_request_read(p, sv[0], 0, &got), 1);
        ck_assert_str_eq(got->sender, "alice@example.org");
        ipc_request_free(got);
        (void) close(sv[0]);
        (void) close(sv[1]);
}
END_TEST

START_TEST(test_write)
{
        _cleanup_(buf_done) Buf b = BUF_INIT(BUF_MAX_UNBOUNDED);
        _cleanup_(buf_done) Buf big = BUF_INIT(BUF_MAX_UNBOUNDED);
        char got[64];
        int sv[2], fds[2], sndbuf = 4096;

        pair(sv);
        ck_assert_int_eq(ipc_result_format(0, IPC_STATUS_SENT, "2.0.0", "local", 1, NULL, &b),
                         0);
        ck_assert_int_eq(ipc_reply_end_format(&b, false), 0);
        ck_assert_int_eq(ipc_write(sv[1], &b, 1000000), 0);
        ck_assert_uint_eq(buf_pending(&b), 0);
        ck_assert_int_eq(read(sv[0], got, sizeof(got)), (ssize_t) strlen(
                "result 0 sent 2.0.0 local 1\r\nend\r\n"));

        /* Nobody reads: the deadline passes and the rest stays in the buffer. */
        ck_assert_int_eq(setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)), 0);
        for (int i = 0; i < 4096; i++)
                ck_assert_int_eq(buf_append_str(&big, "0123456789abcdef0123456789abcdef"), 0);
        ck_assert_int_eq(ipc_write(sv[1], &big, 20 * 1000), -ETIMEDOUT);
        ck_assert_uint_gt(buf_pending(&big), 0);
        ck_assert_uint_lt(buf_pending(&big), 4096 * 32);

        /* The peer went away: -EPIPE, no SIGPIPE. */
        (void) close(sv[0]);
        ck_assert_int_eq(ipc_write(sv[1], &big, 1000000), -EPIPE);
        (void) close(sv[1]);

        /* Not a socket: a pipe. */
        ck_assert_int_eq(pipe2(fds, O_CLOEXEC), 0);
        ck_assert_int_eq(ipc_reply_end_format(&b, false), 0);
        ck_assert_int_eq(ipc_write(fds[1], &b, IPC_TIMEOUT_INFINITY), 0);
        ck_assert_int_eq(read(fds[0], got, sizeof(got)), 5);
        (void) close(fds[0]);
        (void) close(fds[1]);
}
END_TEST

/* The agent side of a conversation: answers every request until qmgr hangs up; even indexes
 * are sent, odd ones deferred. Returns the exit status. */
static int agent_loop(int fd) {
        _cleanup_(ipc_request_parser_freep) IpcRequestParser *p = NULL;
        _cleanup_(buf_done) Buf out = BUF_INIT(BUF_MAX_UNBOUNDED);

        if (ipc_request_parser_new(&p) < 0)
                return 10;
        for (;;) {
                _cleanup_(ipc_request_freep) IpcRequest *req = NULL;
                int r;

                r = ipc_request_read(p, fd, 10 * 1000000, &req);
                if (r == 0)
                        return 0;
                if (r < 0)
                        return 11;
                for (size_t i = 0; i < req->n_rcpts; i++) {
                        bool even = req->rcpts[i].index % 2 == 0;

                        r = ipc_result_format(req->rcpts[i].index,
                                              even ? IPC_STATUS_SENT : IPC_STATUS_DEFERRED,
                                              even ? "2.0.0" : "4.2.2", req->transport, i,
                                              req->rcpts[i].address, &out);
                        if (r < 0)
                                return 12;
                }
                if (ipc_reply_end_format(&out, false) < 0 || ipc_write(fd, &out, 10 * 1000000) < 0)
                        return 13;
        }
}

START_TEST(test_conversation)
{
        _cleanup_(ipc_request_freep) IpcRequest *req = request_full();
        _cleanup_(buf_done) Buf out = BUF_INIT(BUF_MAX_UNBOUNDED);
        int sv[2], status;
        pid_t pid;

        pair(sv);
        pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                (void) close(sv[0]);
                _exit(agent_loop(sv[1]));
        }
        (void) close(sv[1]);

        for (int round = 0; round < 3; round++) {
                _cleanup_(ipc_reply_parser_freep) IpcReplyParser *yp = NULL;
                _cleanup_(ipc_reply_freep) IpcReply *reply = NULL;
                _cleanup_(buf_done) Buf in = BUF_INIT(1 << 20);
                int r = 0;

                ck_assert_int_eq(ipc_request_add_rcpt(req, 100 + round, 0, "x@example.com",
                                                      "x@example.com", NULL), 0);
                ck_assert_int_eq(ipc_request_format(req, &out), 0);
                ck_assert_int_eq(ipc_write(sv[0], &out, 10 * 1000000), 0);

                /* qmgr's side: whatever read() returns goes to the parser as it comes. */
                ck_assert_int_eq(ipc_reply_parser_new_for(req, &yp), 0);
                while (r == 0) {
                        size_t used;

                        ck_assert_int_gt(buf_read_fd(&in, sv[0]), 0);
                        r = ipc_reply_feed(yp, buf_peek(&in), buf_pending(&in), &used, &reply);
                        buf_consume(&in, used);
                }
                ck_assert_int_eq(r, 1);
                ck_assert_uint_eq(buf_pending(&in), 0);
                ck_assert_uint_eq(reply->n_results, req->n_rcpts);
                for (size_t i = 0; i < req->n_rcpts; i++) {
                        const IpcResult *x = ipc_reply_find(reply, req->rcpts[i].index);

                        ck_assert_ptr_nonnull(x);
                        ck_assert_int_eq(x->status, req->rcpts[i].index % 2 == 0 ?
                                         IPC_STATUS_SENT : IPC_STATUS_DEFERRED);
                        ck_assert_str_eq(x->text, req->rcpts[i].address);
                        ck_assert_str_eq(x->relay, "smtp");
                        ck_assert_uint_eq(x->delay_usec, i);
                }
        }
        (void) close(sv[0]);
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert(WIFEXITED(status));
        ck_assert_int_eq(WEXITSTATUS(status), 0);
}
END_TEST

static Suite *ipc_suite(void) {
        Suite *s = suite_create("ipc");
        TCase *tc;

        tc = tcase_create("names");
        tcase_add_test(tc, test_dsn_is_valid);
        tcase_add_test(tc, test_names);
        suite_add_tcase(s, tc);

        tc = tcase_create("request");
        tcase_add_test(tc, test_request_format_exact);
        tcase_add_test(tc, test_request_round_trip);
        tcase_add_test(tc, test_request_equal);
        tcase_add_test(tc, test_request_add_rcpt);
        tcase_add_test(tc, test_request_format_rejects);
        tcase_add_test(tc, test_request_table);
        tcase_add_test(tc, test_request_fields);
        tcase_add_test(tc, test_request_limits);
        tcase_add_test(tc, test_request_splits);
        tcase_add_test(tc, test_request_sticky_error);
        suite_add_tcase(s, tc);

        tc = tcase_create("reply");
        tcase_add_test(tc, test_reply_table);
        tcase_add_test(tc, test_reply_fields);
        tcase_add_test(tc, test_result_format);
        tcase_add_test(tc, test_reply_round_trip);
        tcase_add_test(tc, test_reply_splits);
        tcase_add_test(tc, test_reply_partial);
        tcase_add_test(tc, test_reply_parser_new);
        tcase_add_test(tc, test_reply_limits);
        suite_add_tcase(s, tc);

        tc = tcase_create("blocking");
        tcase_add_test(tc, test_read_requests);
        tcase_add_test(tc, test_read_deadline);
        tcase_add_test(tc, test_write);
        tcase_add_test(tc, test_conversation);
        suite_add_tcase(s, tc);

        return s;
}

TERN_CHECK_MAIN(ipc_suite)
