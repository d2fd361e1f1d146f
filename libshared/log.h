/* SPDX-License-Identifier: GPL-3.0-or-later */
/* log: the only module that talks to journald. Under journald (stderr connected to the journal,
 * as systemd sets it up) every entry is sent with sd_journal_sendv(): PRIORITY,
 * SYSLOG_IDENTIFIER, MESSAGE in Postfix's familiar shape and the TERN_* fields of DESIGN.md.
 * Anywhere else the MESSAGE line goes to stderr. Per STYLE.md, libshared logs at debug level
 * only; services decide what an administrator sees.
 *
 * Fields (DESIGN.md, Logging): TERN_QUEUE_ID TERN_CLIENT TERN_SENDER TERN_RECIPIENT TERN_RELAY
 * TERN_DSN TERN_STATUS TERN_DELAY TERN_SIZE TERN_MESSAGE_ID TERN_SASL_USER TERN_TLS. */
#pragma once

#include <stdbool.h>
#include <syslog.h>

#include "macro.h"

/* "tern/smtpd": the syslog_name, a slash, the program. Copied. */
void log_set_ident(const char *ident);
const char *log_get_ident(void);
/* LOG_INFO by default; LOG_DEBUG turns on verbose logging (-v). */
void log_set_max_level(int level);
int log_get_max_level(void);
/* Forces the destination: 1 journal, 0 stderr, -1 detect (default). */
void log_set_target_journal(int journal);
/* Silences everything (fuzz targets, unit tests of noisy paths). */
void log_set_quiet(bool quiet);

/* Logs a printf-style message; %m prints strerror(error). Returns -abs(error), or 0 when error
 * is 0, so that "return log_error_errno(r, ...)" propagates r. */
int log_internal(int level, int error, const char *file, int line, const char *func,
                 const char *format, ...) _printf_(6, 7);

/* Structured entry: after level and error, a NULL-terminated list of "FIELD=format" strings, each
 * followed by its arguments. The field "MESSAGE=" (use LOG_MESSAGE()) gives the human line. A
 * field whose value comes out empty is left out (an optional field).
 * Returns like log_internal(). */
int log_struct_internal(int level, int error, const char *file, int line, const char *func,
                        const char *format, ...) _sentinel_;

#define LOG_MESSAGE(fmt, ...) "MESSAGE=" fmt, ##__VA_ARGS__

#define log_full_errno(level, error, ...)                                                   \
        ({                                                                                  \
                int _l_ = (level), _e_ = (error);                                           \
                _l_ <= log_get_max_level()                                                  \
                        ? log_internal(_l_, _e_, __FILE__, __LINE__, __func__, __VA_ARGS__) \
                        : -abs(_e_);                                                        \
        })
#define log_full(level, ...) (void) log_full_errno(level, 0, __VA_ARGS__)

#define log_debug(...) log_full(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_full(LOG_INFO, __VA_ARGS__)
#define log_notice(...) log_full(LOG_NOTICE, __VA_ARGS__)
#define log_warning(...) log_full(LOG_WARNING, __VA_ARGS__)
#define log_error(...) log_full(LOG_ERR, __VA_ARGS__)

#define log_debug_errno(e, ...) log_full_errno(LOG_DEBUG, e, __VA_ARGS__)
#define log_info_errno(e, ...) log_full_errno(LOG_INFO, e, __VA_ARGS__)
#define log_notice_errno(e, ...) log_full_errno(LOG_NOTICE, e, __VA_ARGS__)
#define log_warning_errno(e, ...) log_full_errno(LOG_WARNING, e, __VA_ARGS__)
#define log_error_errno(e, ...) log_full_errno(LOG_ERR, e, __VA_ARGS__)

#define log_struct_errno(level, error, ...) \
        log_struct_internal(level, error, __FILE__, __LINE__, __func__, __VA_ARGS__, NULL)
#define log_struct(level, ...) (void) log_struct_errno(level, 0, __VA_ARGS__)

/* Copies at most max bytes of s into dst (size dstsize) as printable ASCII: other bytes become
 * \xNN, a backslash becomes \\. Always NUL-terminates; appends "..." when cut. For peer strings
 * in replies and logs (STYLE.md §7). Returns dst. */
char *log_sanitize(char *dst, size_t dstsize, const char *s, size_t n, size_t max);
#define LOG_SANITIZE_MAX 64
/* Room for a sanitised string of LOG_SANITIZE_MAX input bytes. */
#define LOG_SANITIZE_BUFSIZE (LOG_SANITIZE_MAX * 4 + 4)

/* MESSAGE_ID= of the events units/catalog/tern.catalog explains ("journalctl -x"). */
#define TERN_MESSAGE_ACCEPTED "fc13eab970f540cba1bf868536eadb30"
#define TERN_MESSAGE_DELIVERED "d012689c993449938c77521507665710"
#define TERN_MESSAGE_BOUNCED "0f6f01ed44914bc8b6b5868f1c2cf453"
#define TERN_MESSAGE_DEFERRED "7833edd6c3804e6db17bd071e1e4c2da"
#define TERN_MESSAGE_CORRUPT "e69bcebd182f4317acdee0612e88dbe7"
#define TERN_MESSAGE_RELAY_DENIED "80bad6c009824ff8abeb1f13adc76ae7"
#define TERN_MESSAGE_AUTH_FAILED "2157bae9bbe341fcad7ba9083d24ebe1"

/* One recipient's delivery result, as Postfix logs it:
 *   "ID: to=<to>[, orig_to=<orig>], relay=RELAY[, delay=D], dsn=X.Y.Z, status=STATUS (TEXT)"
 * with the TERN_* fields and the catalog's MESSAGE_ID for "sent", "bounced"/"expired" and
 * "deferred". to, orig_to (NULL or equal to to: not shown) and text are sanitised here.
 * arrival_usec is the message's arrival (CLOCK_REALTIME), 0 when unknown (no delay shown). */
void log_delivery(const char *id, const char *to, const char *orig_to, const char *relay,
                  uint64_t arrival_usec, const char *dsn, const char *status, const char *text);
