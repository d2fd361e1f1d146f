/* SPDX-License-Identifier: GPL-3.0-or-later */
/* showq: mailq's listing of the queue (see showq.h). Reads queue files through queue.h's
 * bounded parser and the defer logs qmgr writes; formats text or JSON into a Buf. */
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <time.h>

#include "header.h"
#include "showq.h"

#define SHOWQ_DEFER_WARNED "warned"

/* The deferral reason of address in a defer log, or NULL. *ret_len is the reason's length. */
static const char *defer_reason(const char *log, const char *address, size_t *ret_len) {
        size_t alen = strlen(address);

        for (const char *line = log; line && *line;) {
                const char *end = strchrnul(line, '\n');
                const char *tab1 = memchr(line, '\t', (size_t) (end - line));
                const char *tab2 = tab1 ? memchr(tab1 + 1, '\t', (size_t) (end - tab1 - 1)) : NULL;

                if (tab2 && (size_t) (tab1 - line) == alen && memcmp(line, address, alen) == 0) {
                        *ret_len = (size_t) (end - tab2 - 1);
                        return tab2 + 1;
                }
                line = *end ? end + 1 : NULL;
        }
        return NULL;
}

/* Appends s (n bytes) with bytes outside printable ASCII replaced by '?'. */
static int append_printable(Buf *out, const char *s, size_t n) {
        int r = 0;

        for (size_t i = 0; i < n && r >= 0; i++) {
                unsigned char c = (unsigned char) s[i];

                r = buf_append_char(out, c >= ' ' && c < 0x7f ? (char) c : '?');
        }
        return r;
}

static int append_json_string(Buf *out, const char *s, size_t n) {
        int r;

        r = buf_append_char(out, '"');
        for (size_t i = 0; i < n && r >= 0; i++) {
                unsigned char c = (unsigned char) s[i];

                if (c == '"' || c == '\\')
                        r = buf_printf(out, "\\%c", c);
                else if (c < ' ' || c >= 0x7f)
                        r = buf_printf(out, "\\u%04x", c);
                else
                        r = buf_append_char(out, (char) c);
        }
        if (r >= 0)
                r = buf_append_char(out, '"');
        return r;
}

/* The external form of an address, "MAILER-DAEMON" for the null sender. */
static int external(const char *address, bool sender, Buf *out) {
        if (isempty(address))
                return buf_append_str(out, sender ? "MAILER-DAEMON" : "");
        return header_address_externalize(address, out);
}

int showq_format_message(const QueueFile *f, QueueName q, const char *defer_log, bool json,
                         Buf *out) {
        const QueueEnvelope *e = f->envelope;
        time_t t = (time_t) (e->arrival_usec / 1000000);
        _cleanup_(buf_done) Buf a = BUF_INIT(BUF_MAX_UNBOUNDED);
        const char *saved = NULL;
        size_t saved_len = 0;
        bool first = true;
        struct tm tm;
        char when[64];
        int r;

        if (!localtime_r(&t, &tm) || strftime(when, sizeof(when), "%a %b %e %H:%M:%S", &tm) == 0)
                strcpy(when, "?");

        r = external(e->sender, true, &a);
        if (r < 0)
                return r;

        if (json) {
                r = buf_printf(out, "{\"queue_name\": \"%s\", \"queue_id\": \"%s\", "
                               "\"arrival_time\": %" PRIu64 ", \"message_size\": %" PRIu64
                               ", \"forced_expire\": false, \"sender\": ",
                               queue_name_to_string(q), f->id, e->arrival_usec / 1000000,
                               e->content_size);
                if (r >= 0)
                        r = append_json_string(out, buf_peek(&a), buf_pending(&a));
                if (r >= 0)
                        r = buf_append_str(out, ", \"recipients\": [");
                for (size_t i = 0; i < e->n_rcpts && r >= 0; i++) {
                        const QueueRcpt *rc = &e->rcpts[i];
                        const char *why;
                        size_t wlen = 0;

                        if (rc->status != QUEUE_RCPT_PENDING)
                                continue;
                        buf_clear(&a);
                        r = external(rc->address, false, &a);
                        if (r >= 0)
                                r = buf_printf(out, "%s{\"address\": ", first ? "" : ", ");
                        if (r >= 0)
                                r = append_json_string(out, buf_peek(&a), buf_pending(&a));
                        why = defer_log ? defer_reason(defer_log, rc->address, &wlen) : NULL;
                        if (r >= 0 && why) {
                                r = buf_append_str(out, ", \"delay_reason\": ");
                                if (r >= 0)
                                        r = append_json_string(out, why, wlen);
                        }
                        if (r >= 0)
                                r = buf_append_char(out, '}');
                        first = false;
                }
                if (r >= 0)
                        r = buf_append_str(out, "]}\n");
                return r;
        }

        /* "%-17s %8s %19.19s %s": the ID with its status mark, size, arrival, sender. */
        r = buf_printf(out, "%s%c%*s %8" PRIu64 " %-19.19s ", f->id,
                       q == QUEUE_ACTIVE ? '*' : q == QUEUE_HOLD ? '!' : ' ',
                       (int) (16 - MIN(strlen(f->id), (size_t) 16)), "", e->content_size, when);
        if (r >= 0)
                r = append_printable(out, buf_peek(&a), buf_pending(&a));
        if (r >= 0)
                r = buf_append_char(out, '\n');

        for (size_t i = 0; i < e->n_rcpts && r >= 0; i++) {
                const QueueRcpt *rc = &e->rcpts[i];
                const char *why = NULL;
                size_t wlen = 0;

                if (rc->status != QUEUE_RCPT_PENDING)
                        continue;
                if (defer_log)
                        why = defer_reason(defer_log, rc->address, &wlen);
                if (!why)
                        why = "", wlen = 0;
                /* A reason line when it differs from the previous recipient's; "reason
                 * unavailable" when a previous one had a reason and this one has none. */
                if (wlen != saved_len || (wlen > 0 && memcmp(why, saved, wlen) != 0)) {
                        const char *show = wlen > 0 ? why : "reason unavailable";
                        size_t slen = wlen > 0 ? wlen : strlen(show);
                        int pad = slen < 76 ? (int) (76 - slen) : 0;

                        r = buf_printf(out, "%*s(", pad, "");
                        if (r >= 0)
                                r = append_printable(out, show, slen);
                        if (r >= 0)
                                r = buf_append_str(out, ")\n");
                        saved = why;
                        saved_len = wlen;
                }
                buf_clear(&a);
                if (r >= 0)
                        r = external(rc->address, false, &a);
                if (r >= 0)
                        r = buf_printf(out, "%47s", "");
                if (r >= 0)
                        r = append_printable(out, buf_peek(&a), buf_pending(&a));
                if (r >= 0)
                        r = buf_append_char(out, '\n');
        }
        return r;
}

static char *read_defer_log(int dfd, const char *id) {
        _cleanup_(buf_done) Buf b = BUF_INIT(SHOWQ_DEFER_LOG_MAX);
        _cleanup_close_ int fd = -EBADF;
        char chunk[4096];
        ssize_t k;

        fd = openat(dfd, id, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
        if (fd < 0)
                return NULL;
        while ((k = read(fd, chunk, sizeof(chunk))) > 0) {
                size_t room = SHOWQ_DEFER_LOG_MAX - buf_pending(&b);

                if (buf_append(&b, chunk, MIN((size_t) k, room)) < 0 || (size_t) k > room)
                        break;
        }
        /* NUL bytes would cut the log short; that only loses reasons. */
        return buf_steal(&b);
}

int showq_format(const QueueDirs *d, bool json, Buf *out) {
        static const QueueName order[] = { QUEUE_INCOMING, QUEUE_ACTIVE, QUEUE_DEFERRED,
                                           QUEUE_HOLD };
        uint64_t bytes = 0;
        unsigned count = 0;
        int r;

        assert(d);
        assert(out);

        for (size_t qi = 0; qi < ELEMENTSOF(order); qi++) {
                _cleanup_strv_free_ char **ids = NULL;
                int dfd = queue_dirs_fd(d, order[qi]);

                r = queue_scan_sorted(dfd, 0, &ids);
                if (r < 0)
                        return r;
                for (char **id = ids; *id; id++) {
                        _cleanup_(queue_file_freep) QueueFile *f = NULL;
                        _cleanup_free_ char *log = NULL;

                        r = queue_file_open(dfd, *id, false, NULL, &f);
                        if (r == -ENOMEM)
                                return r;
                        if (r < 0)
                                continue;       /* gone, incomplete or corrupt */
                        if (!json) {
                                r = buf_append_str(out, count == 0
                                                   ? "----Queue ID----- --Size-- "
                                                     "---Arrival Time---- "
                                                     "--Sender/Recipient------\n"
                                                   : "\n");
                                if (r < 0)
                                        return r;
                        }
                        log = read_defer_log(queue_dirs_fd(d, QUEUE_DEFER), *id);
                        r = showq_format_message(f, order[qi], log, json, out);
                        if (r < 0)
                                return r;
                        bytes += f->envelope->content_size;
                        count++;
                }
        }
        if (json)
                return (int) MIN(count, (unsigned) INT32_MAX);
        if (count == 0)
                r = buf_append_str(out, "Mail queue is empty\n");
        else
                r = buf_printf(out, "\n-- %" PRIu64 " Kbytes in %u Request%s.\n", bytes / 1024,
                               count, count == 1 ? "" : "s");
        return r < 0 ? r : (int) MIN(count, (unsigned) INT32_MAX);
}
