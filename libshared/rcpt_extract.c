/* SPDX-License-Identifier: GPL-3.0-or-later */
/* rcpt_extract: recipients from To/Cc/Bcc or Resent-To/Resent-Cc/Resent-Bcc (see
 * rcpt_extract.h). Each logical header is assembled in a bounded Buf; the address list is read
 * by header_address_rewrite() with a callback that records the addresses and replaces none. */
#include <string.h>

#include "buf.h"
#include "header.h"
#include "rcpt_extract.h"

typedef struct List {
        char **v;               /* NULL-terminated */
        size_t n;
} List;

struct RcptExtract {
        size_t header_max;
        size_t rcpt_max;
        Buf header;             /* the logical header being assembled */
        bool in_line;           /* the last piece was partial */
        bool truncated;         /* the current header exceeded header_max */
        bool resent;            /* a Resent- header was seen */
        bool finished;
        int error;
        List plain, resent_list;
};

static void list_done(List *l) {
        strv_free(l->v);
        *l = (List) {};
}

static bool list_has(const List *l, const char *s) {
        for (size_t i = 0; i < l->n; i++)
                if (streq(l->v[i], s))
                        return true;
        return false;
}

static int list_add(List *l, const char *s, size_t max) {
        char **v, *copy;

        if (list_has(l, s))
                return 0;
        if (l->n >= max)
                return -E2BIG;
        copy = strdup(s);
        if (!copy)
                return -ENOMEM;
        v = reallocarray(l->v, l->n + 2, sizeof(char *));
        if (!v) {
                free(copy);
                return -ENOMEM;
        }
        v[l->n++] = copy;
        v[l->n] = NULL;
        l->v = v;
        return 0;
}

int rcpt_extract_new(size_t header_max, size_t rcpt_max, RcptExtract **ret) {
        RcptExtract *x;

        assert(ret);
        x = calloc(1, sizeof(*x));
        if (!x)
                return -ENOMEM;
        x->header_max = header_max > 0 ? header_max : RCPT_EXTRACT_HEADER_MAX_DEFAULT;
        x->rcpt_max = rcpt_max > 0 ? rcpt_max : RCPT_EXTRACT_RCPT_MAX_DEFAULT;
        x->header = BUF_INIT(x->header_max);
        *ret = x;
        return 0;
}

RcptExtract *rcpt_extract_free(RcptExtract *x) {
        if (!x)
                return NULL;
        buf_done(&x->header);
        list_done(&x->plain);
        list_done(&x->resent_list);
        free(x);
        return NULL;
}

typedef struct Collect {
        RcptExtract *x;
        List *list;
} Collect;

static int on_address(void *userdata, const char *address, char **ret) {
        Collect *c = userdata;

        *ret = NULL;
        if (isempty(address))
                return 0;               /* "" or <""@>: nothing to deliver to */
        return list_add(c->list, address, c->x->rcpt_max);
}

/* The assembled header is complete: take its addresses when it is one of ours. */
static int header_flush(RcptExtract *x) {
        _cleanup_(buf_done) Buf scratch = BUF_INIT(BUF_MAX_UNBOUNDED);
        const char *p = buf_peek(&x->header);
        size_t n = buf_pending(&x->header), name_len, value_off;
        HeaderType t;
        Collect c = { .x = x };
        int r;

        x->truncated = false;
        if (n == 0)
                return 0;
        if (!header_is_field_start(p, n, &name_len, &value_off)) {
                buf_clear(&x->header);
                return 0;
        }
        t = header_type_from_name(p, name_len);
        if (t >= 0 && header_type_flags(t) & HEADER_FLAG_RESENT)
                x->resent = true;
        if (IN_SET(t, HEADER_TO, HEADER_CC, HEADER_BCC))
                c.list = &x->plain;
        else if (IN_SET(t, HEADER_RESENT_TO, HEADER_RESENT_CC, HEADER_RESENT_BCC))
                c.list = &x->resent_list;
        if (c.list) {
                r = header_address_rewrite(p + value_off, n - value_off,
                                           HEADER_ADDRESS_TOKEN_LIMIT, on_address, &c, &scratch);
                if (r < 0) {
                        buf_clear(&x->header);
                        return r;
                }
        }
        buf_clear(&x->header);
        return 0;
}

static int append_bounded(RcptExtract *x, const char *p, size_t n) {
        size_t room = x->header_max - buf_pending(&x->header);

        if (x->truncated)
                return 0;
        if (n > room) {
                /* Past header_size_limit: the rest of this header is ignored. */
                x->truncated = true;
                n = room;
        }
        return n > 0 ? buf_append(&x->header, p, n) : 0;
}

int rcpt_extract_feed(RcptExtract *x, const char *p, size_t n, bool partial) {
        int r;

        assert(x);
        assert(p || n == 0);

        if (x->error < 0)
                return x->error;
        if (x->finished)
                return 0;
        if (n == 0 && partial)
                return 0;               /* nothing yet to tell a continuation from a header */

        if (!x->in_line) {
                /* A new line: white space continues the header, anything else begins one. */
                if (n > 0 && (p[0] == ' ' || p[0] == '\t') && buf_pending(&x->header) > 0)
                        r = append_bounded(x, "\n", 1);
                else
                        r = header_flush(x);
                if (r < 0)
                        return x->error = r;
        }
        r = append_bounded(x, p, n);
        if (r < 0)
                return x->error = r;
        x->in_line = partial;
        return 0;
}

int rcpt_extract_finish(RcptExtract *x) {
        int r;

        assert(x);
        if (x->error < 0)
                return x->error;
        if (x->finished)
                return 0;
        r = header_flush(x);
        if (r < 0)
                return x->error = r;
        x->finished = true;
        return 0;
}

char *const *rcpt_extract_get(const RcptExtract *x, size_t *ret_n) {
        static char *const empty[] = { NULL };
        const List *l = x->resent ? &x->resent_list : &x->plain;

        if (ret_n)
                *ret_n = l->n;
        return l->v ? l->v : empty;
}

int rcpt_extract_message(const char *p, size_t n, size_t header_max, size_t rcpt_max,
                         char ***ret) {
        _cleanup_(rcpt_extract_freep) RcptExtract *x = NULL;
        char *const *v;
        char **copy;
        size_t count, pos = 0;
        int r;

        assert(p || n == 0);
        assert(ret);

        r = rcpt_extract_new(header_max, rcpt_max, &x);
        if (r < 0)
                return r;
        while (pos < n) {
                const char *lf = memchr(p + pos, '\n', n - pos);
                size_t len = lf ? (size_t) (lf - (p + pos)) : n - pos;

                if (len > 0 && p[pos + len - 1] == '\r')
                        len--;
                if (len == 0)
                        break;                  /* the empty line ends the headers */
                if (p[pos] != ' ' && p[pos] != '\t' &&
                    !header_is_field_start(p + pos, len, NULL, NULL))
                        break;                  /* the body began without an empty line */
                r = rcpt_extract_feed(x, p + pos, len, /* partial= */ false);
                if (r < 0)
                        return r;
                if (!lf)
                        break;
                pos = (size_t) (lf - p) + 1;
        }
        r = rcpt_extract_finish(x);
        if (r < 0)
                return r;

        v = rcpt_extract_get(x, &count);
        copy = calloc(count + 1, sizeof(char *));
        if (!copy)
                return -ENOMEM;
        for (size_t i = 0; i < count; i++) {
                copy[i] = strdup(v[i]);
                if (!copy[i]) {
                        strv_free(copy);
                        return -ENOMEM;
                }
        }
        *ret = copy;
        return (int) count;
}
