/* SPDX-License-Identifier: GPL-3.0-or-later */
/* macro.h: scope-bound cleanups, ownership transfer and small helpers used by every module.
 * Nothing here allocates or does I/O. */
#pragma once

#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((__cleanup__(f)))
#define _printf_(a, b) __attribute__((__format__(printf, a, b)))
#define _unused_ __attribute__((__unused__))
#define _noreturn_ __attribute__((__noreturn__))
#define _pure_ __attribute__((__pure__))
#define _const_ __attribute__((__const__))
#define _likely_(x) (__builtin_expect(!!(x), 1))
#define _unlikely_(x) (__builtin_expect(!!(x), 0))
#define _sentinel_ __attribute__((__sentinel__))

#define ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))
/* Whether x equals one of the values that follow. */
#define IN_SET(x, first, ...)                                                  \
        ({                                                                      \
                const typeof(first) _set_[] = { first, __VA_ARGS__ };           \
                const typeof(first) _x_ = (x);                                  \
                bool _found_ = false;                                           \
                for (size_t _i_ = 0; _i_ < ELEMENTSOF(_set_); _i_++)            \
                        if (_set_[_i_] == _x_) {                                \
                                _found_ = true;                                 \
                                break;                                          \
                        }                                                       \
                _found_;                                                        \
        })
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

/* Characters needed to print any value of an integer type in decimal, with sign and NUL. */
#define DECIMAL_STR_MAX(type) (2 + (sizeof(type) <= 1 ? 3 : sizeof(type) <= 2 ? 5 : \
                                    sizeof(type) <= 4 ? 10 : sizeof(type) <= 8 ? 20 : 40))

/* Takes the value out of a variable that owns it, leaving the "empty" value behind, so that
 * the variable's cleanup does nothing. */
#define TAKE_GENERIC(var, type, nullvalue)                  \
        ({                                                  \
                type *_pvar_ = &(var);                      \
                type _var_ = *_pvar_;                       \
                type _nullvalue_ = nullvalue;               \
                *_pvar_ = _nullvalue_;                      \
                _var_;                                      \
        })
#define TAKE_PTR(p) TAKE_GENERIC((p), typeof(p), NULL)
#define TAKE_FD(fd) TAKE_GENERIC((fd), int, -EBADF)

/* Turns a call of the -1/errno convention into the negative errno convention. */
#define NEG_ERRNO(expr) ({ int _r_ = (expr); _r_ < 0 ? -errno : _r_; })

/* Defines "static inline void fnp(type *p)", which calls fn(*p) when *p is not NULL. */
#define DEFINE_PTR_CLEANUP(type, fn)                        \
        static inline void fn##p(type *p) {                 \
                if (*p)                                     \
                        fn(*p);                             \
        }                                                   \
        struct __useless_struct_to_allow_trailing_semicolon__

static inline void *mfree(void *p) {
        free(p);
        return NULL;
}

static inline void freep(void *p) {
        free(*(void **) p);
}
#define _cleanup_free_ _cleanup_(freep)

static inline int safe_close(int fd) {
        if (fd >= 0) {
                int saved = errno;
                (void) close(fd);
                errno = saved;
        }
        return -EBADF;
}

static inline void closep(int *fd) {
        *fd = safe_close(*fd);
}
#define _cleanup_close_ _cleanup_(closep)

static inline void fclosep(FILE **f) {
        if (*f)
                (void) fclose(*f);
}
#define _cleanup_fclose_ _cleanup_(fclosep)

/* A NULL-terminated array of strings that owns its strings. */
static inline void strv_free(char **l) {
        if (!l)
                return;
        for (char **i = l; *i; i++)
                free(*i);
        free(l);
}
DEFINE_PTR_CLEANUP(char **, strv_free);
#define _cleanup_strv_free_ _cleanup_(strv_freep)

static inline bool streq(const char *a, const char *b) {
        return strcmp(a, b) == 0;
}

static inline bool streq_ptr(const char *a, const char *b) {
        if (!a || !b)
                return a == b;
        return streq(a, b);
}

static inline bool isempty(const char *s) {
        return !s || !*s;
}

/* Returns a pointer after the prefix when s starts with it, else NULL. */
static inline const char *startswith(const char *s, const char *prefix) {
        size_t n = strlen(prefix);

        return strncmp(s, prefix, n) == 0 ? s + n : NULL;
}

static inline const char *strempty(const char *s) {
        return s ? s : "";
}

static inline const char *yes_no(bool b) {
        return b ? "yes" : "no";
}
