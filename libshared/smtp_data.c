/* SPDX-License-Identifier: GPL-3.0-or-later */
/* smtp_data: DATA and BDAT content from untrusted client bytes into LF-terminated, dot-unstuffed
 * pieces (see smtp_data.h). A byte-level state machine; the only buffer is one line piece of
 * line_length_limit bytes, allocated once. Piece boundaries depend only on the content, never
 * on how the input was split. RFC 5321 §4.1.4, §4.5.2; RFC 3030 §2, §3. */
#include <string.h>
#include <strings.h>

#include "smtp_data.h"

/* Where the reader stands. The bytes each state accepts are all bytes; what they mean: */
typedef enum DataState {
        STATE_IDLE,     /* no DATA or chunk started: feeding is -EPROTO */
        /* BDAT uses TEXT and CR only; a chunk is complete when chunk_left is 0. */
        STATE_BOL,      /* at the start of a line: '.' (DATA) may begin stuffing or the end */
        STATE_DOT,      /* "." at the start of a line: CR may end the message, others follow the
                         * deleted period */
        STATE_DOT_CR,   /* ".\r" at the start of a line: LF ends the message when the previous
                         * line end was CRLF */
        STATE_TEXT,     /* inside a line: CR is held, LF is bare, others are data */
        STATE_CR,       /* a CR inside a line: LF ends the line, others make it a bare CR */
        STATE_END,      /* DATA: CRLF "." CRLF was consumed */
} DataState;

typedef enum DataMode {
        MODE_NONE,
        MODE_DATA,
        MODE_BDAT,
} DataMode;

/* The section of the line being emitted. */
typedef enum LineSection {
        SECTION_HEADER,
        SECTION_BODY,
} LineSection;

struct SmtpDataReader {
        SmtpDataLimits limits;
        SmtpDataEmit emit;
        void *userdata;

        DataMode mode;
        DataState state;
        bool bol_crlf;          /* the line end before this line was CRLF (or DATA's own) */
        uint64_t chunk_left;    /* BDAT: octets still to take in this chunk */
        bool finished;          /* smtp_data_finish() was called */

        char *line;             /* limits.line_length_limit bytes */
        size_t line_len;
        uint64_t line_pieces;   /* pieces of the current line already emitted */
        LineSection section;    /* of the current line, decided at its first piece */

        bool header_open;       /* a header field was seen: whitespace lines continue it */
        bool header_dropping;   /* the current logical header went over header_size_limit */
        size_t header_cur;      /* bytes of the current logical header, LFs counted */

        int result;
        SmtpDataInfo info;
};

static const char *const bare_lf_table[_SMTP_BARE_LF_MAX] = {
        [SMTP_BARE_LF_NO] = "no",
        [SMTP_BARE_LF_NORMALIZE] = "normalize",
        [SMTP_BARE_LF_REJECT] = "reject",
};

SmtpBareLf smtp_data_bare_lf_from_string(const char *s) {
        if (!s)
                return _SMTP_BARE_LF_INVALID;
        /* "yes" rejects, as when Postfix introduced the parameter (3.5.23 to 3.8.x); Postfix
         * 3.9 made it an alias of "normalize". tern's default is "yes" (config_params.c). */
        if (strcasecmp(s, "yes") == 0)
                return SMTP_BARE_LF_REJECT;
        for (SmtpBareLf m = 0; m < _SMTP_BARE_LF_MAX; m++)
                if (strcasecmp(s, bare_lf_table[m]) == 0)
                        return m;
        return _SMTP_BARE_LF_INVALID;
}

const char *smtp_data_bare_lf_to_string(SmtpBareLf m) {
        if (m < 0 || m >= _SMTP_BARE_LF_MAX)
                return NULL;
        return bare_lf_table[m];
}

int smtp_data_new(const SmtpDataLimits *limits, SmtpDataEmit emit, void *userdata,
                  SmtpDataReader **ret) {
        _cleanup_(smtp_data_freep) SmtpDataReader *r = NULL;

        assert(limits);
        assert(emit);
        assert(ret);

        if (limits->line_length_limit == 0 || limits->header_size_limit == 0 ||
            limits->bare_lf < 0 || limits->bare_lf >= _SMTP_BARE_LF_MAX)
                return -EINVAL;

        r = calloc(1, sizeof(*r));
        if (!r)
                return -ENOMEM;
        r->limits = *limits;
        r->emit = emit;
        r->userdata = userdata;
        r->line = malloc(limits->line_length_limit);
        if (!r->line)
                return -ENOMEM;
        smtp_data_reset(r);

        *ret = TAKE_PTR(r);
        return 0;
}

SmtpDataReader *smtp_data_free(SmtpDataReader *r) {
        if (!r)
                return NULL;
        free(r->line);
        return mfree(r);
}

void smtp_data_reset(SmtpDataReader *r) {
        assert(r);

        r->mode = MODE_NONE;
        r->state = STATE_IDLE;
        r->bol_crlf = true;
        r->chunk_left = 0;
        r->finished = false;
        r->line_len = 0;
        r->line_pieces = 0;
        r->section = SECTION_HEADER;
        r->header_open = false;
        r->header_dropping = false;
        r->header_cur = 0;
        r->result = 0;
        r->info = (SmtpDataInfo) {};
}

int smtp_data_start(SmtpDataReader *r) {
        assert(r);

        if (r->mode != MODE_NONE)
                return -EPROTO;
        r->mode = MODE_DATA;
        /* RFC 5321 §4.1.4: the DATA command's own CRLF counts, so "." CRLF at once ends an
         * empty message. */
        r->state = STATE_BOL;
        r->bol_crlf = true;
        return 0;
}

int smtp_data_start_chunk(SmtpDataReader *r, uint64_t size) {
        assert(r);

        if (r->mode == MODE_DATA || r->finished || (r->mode == MODE_BDAT && r->chunk_left > 0))
                return -EPROTO;
        if (r->mode == MODE_NONE) {
                r->mode = MODE_BDAT;
                r->state = STATE_TEXT;  /* RFC 3030 §2: no dot-stuffing, no end marker */
        }
        /* Later chunks carry the line state (TEXT or a held CR) over from the previous one. */
        r->chunk_left = size;
        return 0;
}

static bool is_wsp(char c) {
        return c == ' ' || c == '\t';
}

/* A header field's first line: a name of printable ASCII other than ':', then optional white
 * space (RFC 822's obsolete syntax, which Postfix still takes), then ':' (RFC 5322 §2.2). */
static bool is_header(const char *p, size_t n) {
        size_t i = 0;

        while (i < n && (unsigned char) p[i] > 32 && (unsigned char) p[i] < 127 && p[i] != ':')
                i++;
        if (i == 0)
                return false;
        while (i < n && is_wsp(p[i]))
                i++;
        return i < n && p[i] == ':';
}

static void fail(SmtpDataReader *r, int error) {
        assert(error < 0);
        if (r->result == 0)
                r->result = error;
}

static void emit(SmtpDataReader *r, const char *p, size_t n, unsigned flags) {
        int k;

        if (r->result < 0)
                return;
        k = r->emit(r->userdata, p, n, flags);
        if (k < 0) {
                fail(r, k);
                return;
        }
        r->info.emitted += n + !(flags & SMTP_DATA_PIECE_PARTIAL);
        if (flags & SMTP_DATA_PIECE_HEADER)
                r->info.header_size += n + !(flags & SMTP_DATA_PIECE_PARTIAL);
}

/* A header piece, cut to header_size_limit per logical header as Postfix's cleanup does: the
 * text that fits is kept and its line ended; the rest of that header, continuation lines
 * included, is discarded. */
static void emit_header(SmtpDataReader *r, bool partial) {
        size_t limit = r->limits.header_size_limit;
        size_t room = limit - r->header_cur;            /* header_cur <= limit */
        unsigned flags = SMTP_DATA_PIECE_HEADER | (partial ? SMTP_DATA_PIECE_PARTIAL : 0);

        if (r->header_dropping)
                return;
        /* A piece needs its bytes and, now or later, the LF of its line. */
        if (r->line_len < room) {
                r->header_cur += r->line_len + !partial;
                emit(r, r->line, r->line_len, flags);
                return;
        }
        r->info.header_truncated = true;
        r->header_dropping = true;
        if (room == 0)
                return;         /* the previous line ended exactly at the limit */
        r->header_cur = limit;
        /* An empty first piece would be an empty line: the end of the header. Emit nothing
         * then; an empty later piece just ends the line its earlier pieces began. */
        if (room - 1 > 0 || r->line_pieces > 1)
                emit(r, r->line, room - 1, SMTP_DATA_PIECE_HEADER);
}

/* Hands on the buffered piece of the current line; partial: the line goes on. */
static void flush_piece(SmtpDataReader *r, bool partial) {
        unsigned flags = partial ? SMTP_DATA_PIECE_PARTIAL : 0;
        uint64_t limit = r->limits.message_size_limit;

        if (r->line_pieces == 0) {
                if (r->info.in_body)
                        r->section = SECTION_BODY;
                else if (r->line_len == 0 && !partial) {
                        r->section = SECTION_BODY;      /* the empty line after the header */
                        r->info.in_body = true;
                        flags |= SMTP_DATA_PIECE_BODY_START;
                } else if (r->header_open && r->line_len > 0 && is_wsp(r->line[0]))
                        r->section = SECTION_HEADER;    /* RFC 5322 §2.2.3 folding */
                else if (is_header(r->line, r->line_len)) {
                        r->section = SECTION_HEADER;
                        r->header_open = true;
                        r->header_dropping = false;
                        r->header_cur = 0;
                } else {
                        /* Neither a header nor a continuation: the body begins here. */
                        r->section = SECTION_BODY;
                        r->info.in_body = true;
                        flags |= SMTP_DATA_PIECE_BODY_START;
                }
        }
        r->line_pieces++;

        r->info.size += r->line_len + !partial;
        if (limit > 0 && r->info.size > limit && !r->info.too_big) {
                r->info.too_big = true;
                fail(r, -EMSGSIZE);
        }

        if (r->section == SECTION_HEADER)
                emit_header(r, partial);
        else
                emit(r, r->line, r->line_len, flags);
        r->line_len = 0;
}

static void end_line(SmtpDataReader *r) {
        flush_piece(r, /* partial= */ false);
        r->line_pieces = 0;
}

/* Appends content bytes to the current line, chopping it at line_length_limit. The piece is
 * handed on only when a byte beyond the limit arrives, so that a line of exactly the limit is
 * not split. */
static void put_bytes(SmtpDataReader *r, const char *p, size_t n) {
        size_t cap = r->limits.line_length_limit;

        while (n > 0) {
                size_t k;

                if (r->line_len == cap) {
                        r->info.line_split = true;
                        flush_piece(r, /* partial= */ true);
                }
                k = MIN(n, cap - r->line_len);
                memcpy(r->line + r->line_len, p, k);
                r->line_len += k;
                p += k;
                n -= k;
        }
}

static void put_byte(SmtpDataReader *r, char c) {
        put_bytes(r, &c, 1);
}

/* An LF without CR before it (smtpd_forbid_bare_newline). Never part of an end of data. */
static void bare_lf(SmtpDataReader *r) {
        r->info.bare_lf = true;
        if (r->limits.bare_lf == SMTP_BARE_LF_NO) {
                put_byte(r, '\n');
                r->state = STATE_TEXT;
                return;
        }
        /* normalize and reject: a line end (reject also makes it the verdict). */
        if (r->limits.bare_lf == SMTP_BARE_LF_REJECT)
                fail(r, -EBADMSG);
        end_line(r);
        r->bol_crlf = false;
        r->state = r->mode == MODE_DATA ? STATE_BOL : STATE_TEXT;
}

/* Runs the state machine over n bytes; returns the number consumed, stopping after DATA's end. */
static size_t run(SmtpDataReader *r, const char *p, size_t n) {
        size_t i = 0;

        while (i < n && r->state != STATE_END) {
                char c = p[i];

                switch (r->state) {
                case STATE_BOL:
                        r->state = STATE_TEXT;
                        if (c == '.') {
                                r->state = STATE_DOT;
                                i++;
                        }
                        break;

                case STATE_DOT:
                        if (c == '\r') {
                                r->state = STATE_DOT_CR;
                                i++;
                        } else
                                /* RFC 5321 §4.5.2: the first period is deleted; c is seen
                                 * again as the line's next byte. */
                                r->state = STATE_TEXT;
                        break;

                case STATE_DOT_CR:
                        if (c == '\n') {
                                i++;
                                if (r->bol_crlf) {
                                        /* CRLF "." CRLF: the end (RFC 5321 §4.1.4). */
                                        r->state = STATE_END;
                                        break;
                                }
                                /* "." CRLF after a bare LF: not the end; an emptied line. */
                                end_line(r);
                                r->bol_crlf = true;
                                r->state = STATE_BOL;
                        } else {
                                r->info.bare_cr = true;
                                put_byte(r, '\r');
                                r->state = STATE_TEXT;
                        }
                        break;

                case STATE_TEXT: {
                        size_t j = i;

                        if (c == '\r') {
                                r->state = STATE_CR;
                                i++;
                                break;
                        }
                        if (c == '\n') {
                                i++;
                                bare_lf(r);
                                break;
                        }
                        while (j < n && p[j] != '\r' && p[j] != '\n')
                                j++;
                        put_bytes(r, p + i, j - i);
                        i = j;
                        break;
                }

                case STATE_CR:
                        if (c == '\n') {
                                i++;
                                end_line(r);
                                r->bol_crlf = true;
                                r->state = r->mode == MODE_DATA ? STATE_BOL : STATE_TEXT;
                        } else {
                                /* A bare CR is data; c is seen again. */
                                r->info.bare_cr = true;
                                put_byte(r, '\r');
                                r->state = STATE_TEXT;
                        }
                        break;

                default:
                        assert(false);
                }
        }
        return i;
}

int smtp_data_feed(SmtpDataReader *r, const char *p, size_t n, size_t *ret_used) {
        size_t used;

        assert(r);
        assert(p || n == 0);
        assert(ret_used);

        *ret_used = 0;
        if (r->mode == MODE_NONE || r->finished)
                return -EPROTO;

        if (r->mode == MODE_DATA) {
                if (r->state == STATE_END)
                        return 1;
                used = run(r, p, n);
                r->info.octets += used;
                *ret_used = used;
                return r->state == STATE_END;
        }

        if (r->chunk_left == 0)
                return 1;
        used = run(r, p, (size_t) MIN((uint64_t) n, r->chunk_left));
        r->chunk_left -= used;
        r->info.octets += used;
        *ret_used = used;
        return r->chunk_left == 0;
}

int smtp_data_finish(SmtpDataReader *r) {
        assert(r);

        if (r->mode == MODE_DATA)
                return r->state == STATE_END ? r->result : -EPROTO;
        if (r->mode != MODE_BDAT || r->chunk_left > 0)
                return -EPROTO;
        if (r->finished)
                return r->result;

        r->finished = true;
        if (r->state == STATE_CR) {
                r->info.bare_cr = true;
                put_byte(r, '\r');
                r->state = STATE_TEXT;
        }
        /* RFC 3030 does not require a final CRLF; the last line stays without LF. */
        if (r->line_len > 0)
                flush_piece(r, /* partial= */ true);
        return r->result;
}

int smtp_data_result(const SmtpDataReader *r) {
        assert(r);
        return r->result;
}

const SmtpDataInfo *smtp_data_info(const SmtpDataReader *r) {
        assert(r);
        return &r->info;
}
