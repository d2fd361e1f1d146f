/* SPDX-License-Identifier: GPL-3.0-or-later */
/* log: journald or stderr. The journal is used when stderr is the journal stream systemd gave us
 * (JOURNAL_STREAM names stderr's device and inode), the way systemd's own tools decide. */
#include <stdarg.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <systemd/sd-journal.h>

#include "buf.h"
#include "log.h"

#define LOG_FIELDS_MAX 32

static char log_ident[64] = "tern";
static int log_max_level = LOG_INFO;
static int log_target_journal = -1;
static bool log_quiet;

void log_set_ident(const char *ident) {
        snprintf(log_ident, sizeof log_ident, "%s", ident);
}

const char *log_get_ident(void) {
        return log_ident;
}

void log_set_max_level(int level) {
        log_max_level = level;
}

int log_get_max_level(void) {
        return log_quiet ? -1 : log_max_level;
}

void log_set_target_journal(int journal) {
        log_target_journal = journal;
}

void log_set_quiet(bool quiet) {
        log_quiet = quiet;
}

static bool stderr_is_journal(void) {
        const char *e = getenv("JOURNAL_STREAM");
        unsigned long long dev, ino;
        struct stat st;

        if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2)
                return false;
        if (fstat(STDERR_FILENO, &st) < 0)
                return false;
        return (unsigned long long) st.st_dev == dev && (unsigned long long) st.st_ino == ino;
}

static bool use_journal(void) {
        if (log_target_journal < 0)
                log_target_journal = stderr_is_journal();
        return log_target_journal > 0;
}

/* Advances ap past the arguments that format consumes, for the conversions we use. */
static void va_skip_format(const char *format, va_list *ap) {
        for (const char *p = format; *p; p++) {
                enum { LEN_INT, LEN_LONG, LEN_LLONG, LEN_SIZE, LEN_INTMAX, LEN_PTRDIFF, LEN_LDBL }
                        len = LEN_INT;

                if (*p != '%')
                        continue;
                p++;
                if (*p == '%')
                        continue;
                while (*p && strchr("-+ #0'", *p))
                        p++;
                if (*p == '*') {
                        (void) va_arg(*ap, int);
                        p++;
                } else
                        while (*p >= '0' && *p <= '9')
                                p++;
                if (*p == '.') {
                        p++;
                        if (*p == '*') {
                                (void) va_arg(*ap, int);
                                p++;
                        } else
                                while (*p >= '0' && *p <= '9')
                                        p++;
                }
                for (;; p++) {
                        if (*p == 'h')
                                continue;
                        if (*p == 'l')
                                len = len == LEN_LONG ? LEN_LLONG : LEN_LONG;
                        else if (*p == 'z')
                                len = LEN_SIZE;
                        else if (*p == 'j')
                                len = LEN_INTMAX;
                        else if (*p == 't')
                                len = LEN_PTRDIFF;
                        else if (*p == 'L')
                                len = LEN_LDBL;
                        else
                                break;
                }
                switch (*p) {
                case 'd': case 'i': case 'u': case 'x': case 'X': case 'o': case 'c':
                        switch (len) {
                        case LEN_LONG: (void) va_arg(*ap, long); break;
                        case LEN_LLONG: (void) va_arg(*ap, long long); break;
                        case LEN_SIZE: (void) va_arg(*ap, size_t); break;
                        case LEN_INTMAX: (void) va_arg(*ap, intmax_t); break;
                        case LEN_PTRDIFF: (void) va_arg(*ap, ptrdiff_t); break;
                        default: (void) va_arg(*ap, int); break;
                        }
                        break;
                case 'e': case 'E': case 'f': case 'F': case 'g': case 'G': case 'a': case 'A':
                        if (len == LEN_LDBL)
                                (void) va_arg(*ap, long double);
                        else
                                (void) va_arg(*ap, double);
                        break;
                case 's': case 'p':
                        (void) va_arg(*ap, void *);
                        break;
                case '\0':
                        return;
                default:        /* %m takes no argument */
                        break;
                }
        }
}

static void write_stderr(int level, const char *message) {
        static const char *const prefix[] = {
                [LOG_EMERG] = "panic: ", [LOG_ALERT] = "panic: ", [LOG_CRIT] = "fatal: ",
                [LOG_ERR] = "error: ", [LOG_WARNING] = "warning: ", [LOG_NOTICE] = "",
                [LOG_INFO] = "", [LOG_DEBUG] = "",
        };

        fprintf(stderr, "%s: %s%s\n", log_ident, prefix[level & 7], message);
}

static int log_send(int level, int error, const char *file, int line, const char *func,
                    struct iovec *iov, size_t n_iov, const char *message) {
        char prio[sizeof "PRIORITY=" + DECIMAL_STR_MAX(int)];
        char ident[sizeof "SYSLOG_IDENTIFIER=" + sizeof log_ident];
        char errnofield[sizeof "ERRNO=" + DECIMAL_STR_MAX(int)];
        char codefile[256], codeline[sizeof "CODE_LINE=" + DECIMAL_STR_MAX(int)];
        char codefunc[128];

        if (!use_journal()) {
                write_stderr(level, message);
                return error == 0 ? 0 : -abs(error);
        }

        snprintf(prio, sizeof prio, "PRIORITY=%i", level & 7);
        snprintf(ident, sizeof ident, "SYSLOG_IDENTIFIER=%s", log_ident);
        snprintf(codefile, sizeof codefile, "CODE_FILE=%s", file);
        snprintf(codeline, sizeof codeline, "CODE_LINE=%i", line);
        snprintf(codefunc, sizeof codefunc, "CODE_FUNC=%s", func);
        iov[n_iov++] = (struct iovec) { prio, strlen(prio) };
        iov[n_iov++] = (struct iovec) { ident, strlen(ident) };
        iov[n_iov++] = (struct iovec) { codefile, strlen(codefile) };
        iov[n_iov++] = (struct iovec) { codeline, strlen(codeline) };
        iov[n_iov++] = (struct iovec) { codefunc, strlen(codefunc) };
        if (error != 0) {
                snprintf(errnofield, sizeof errnofield, "ERRNO=%i", abs(error));
                iov[n_iov++] = (struct iovec) { errnofield, strlen(errnofield) };
        }
        if (sd_journal_sendv(iov, (int) n_iov) < 0)
                write_stderr(level, message);
        return error == 0 ? 0 : -abs(error);
}

int log_internal(int level, int error, const char *file, int line, const char *func,
                 const char *format, ...) {
        char buf[2048 + sizeof "MESSAGE="] = "MESSAGE=";
        struct iovec iov[8];
        va_list ap;
        int saved = errno;

        if (level > log_get_max_level())
                return error == 0 ? 0 : -abs(error);

        errno = abs(error);
        va_start(ap, format);
        (void) vsnprintf(buf + strlen("MESSAGE="), sizeof buf - strlen("MESSAGE="), format, ap);
        va_end(ap);
        errno = saved;

        iov[0] = (struct iovec) { buf, strlen(buf) };
        return log_send(level, error, file, line, func, iov, 1, buf + strlen("MESSAGE="));
}

int log_struct_internal(int level, int error, const char *file, int line, const char *func,
                        const char *format, ...) {
        char *fields[LOG_FIELDS_MAX] = {};
        struct iovec iov[LOG_FIELDS_MAX + 8];
        const char *message = "";
        size_t n = 0;
        va_list ap;
        int saved = errno, r;

        if (level > log_get_max_level())
                return error == 0 ? 0 : -abs(error);

        va_start(ap, format);
        for (const char *f = format; f && n < LOG_FIELDS_MAX; f = va_arg(ap, const char *)) {
                va_list aq;
                int k;

                errno = abs(error);
                va_copy(aq, ap);
/* Each field's format is a literal at the log_struct() call site; the list form hides it. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
                k = vasprintf(&fields[n], f, aq);
#pragma GCC diagnostic pop
                va_end(aq);
                va_skip_format(f, &ap);
                if (k < 0) {
                        fields[n] = NULL;
                        continue;
                }
                if (k > 0 && fields[n][k - 1] == '=') {
                        /* "FIELD=" with an empty value: a field this event does not have. */
                        fields[n] = mfree(fields[n]);
                        continue;
                }
                iov[n] = (struct iovec) { fields[n], (size_t) k };
                if (startswith(fields[n], "MESSAGE="))
                        message = fields[n] + strlen("MESSAGE=");
                n++;
        }
        va_end(ap);
        errno = saved;

        r = log_send(level, error, file, line, func, iov, n, message);
        for (size_t i = 0; i < n; i++)
                free(fields[i]);
        return r;
}

char *log_sanitize(char *dst, size_t dstsize, const char *s, size_t n, size_t max) {
        size_t o = 0;

        assert(dstsize >= 5);
        /* Byte by byte without printf: every delivery's log line passes through here. */
        for (size_t i = 0; i < n; i++) {
                static const char hex[] = "0123456789abcdef";
                unsigned char c = (unsigned char) s[i];
                char tmp[4];
                size_t k;

                if (i >= max) {
                        if (o + 4 <= dstsize)
                                memcpy(dst + o, "...", 3), o += 3;
                        break;
                }
                if (c == '\\')
                        tmp[0] = tmp[1] = '\\', k = 2;
                else if (c >= 0x20 && c < 0x7f)
                        tmp[0] = (char) c, k = 1;
                else {
                        tmp[0] = '\\';
                        tmp[1] = 'x';
                        tmp[2] = hex[c >> 4];
                        tmp[3] = hex[c & 0xf];
                        k = 4;
                }
                if (o + k + 1 > dstsize)
                        break;
                memcpy(dst + o, tmp, k);
                o += k;
        }
        dst[o] = '\0';
        return dst;
}

void log_delivery(const char *id, const char *to, const char *orig_to, const char *relay,
                  uint64_t arrival_usec, const char *dsn, const char *status, const char *text) {
        char t[LOG_SANITIZE_BUFSIZE], o[LOG_SANITIZE_BUFSIZE + 16], d[48] = "", msg[1024 * 4 + 4];
        const char *mid = streq(status, "sent") ? TERN_MESSAGE_DELIVERED
                        : streq(status, "deferred") ? TERN_MESSAGE_DEFERRED
                                                    : TERN_MESSAGE_BOUNCED;
        double delay = 0;
        struct timespec ts;

        log_sanitize(t, sizeof(t), strempty(to), strlen(strempty(to)), LOG_SANITIZE_MAX);
        o[0] = '\0';
        if (orig_to && strcasecmp(orig_to, strempty(to)) != 0) {
                char tmp[LOG_SANITIZE_BUFSIZE];

                log_sanitize(tmp, sizeof(tmp), orig_to, strlen(orig_to), LOG_SANITIZE_MAX);
                snprintf(o, sizeof(o), ", orig_to=<%s>", tmp);
        }
        if (arrival_usec > 0) {
                uint64_t now;

                clock_gettime(CLOCK_REALTIME, &ts);
                now = (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
                delay = now > arrival_usec ? (double) (now - arrival_usec) / 1e6 : 0;
                snprintf(d, sizeof(d), delay < 10 ? ", delay=%.2g" : ", delay=%.0f", delay);
        }
        log_sanitize(msg, sizeof(msg), strempty(text), strlen(strempty(text)), 1024);
        log_struct(streq(status, "sent") ? LOG_INFO : LOG_NOTICE,
                   "MESSAGE_ID=%s", mid,
                   "TERN_QUEUE_ID=%s", id, "TERN_RECIPIENT=%s", t, "TERN_RELAY=%s", relay,
                   "TERN_DSN=%s", dsn, "TERN_STATUS=%s", status, "TERN_DELAY=%.3f", delay,
                   LOG_MESSAGE("%s: to=<%s>%s, relay=%s%s, dsn=%s, status=%s (%s)", id, t, o,
                               relay, d, dsn, status, msg));
}
