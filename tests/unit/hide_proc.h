/* SPDX-License-Identifier: GPL-3.0-or-later */
/* hide_proc(): covers /proc with an empty tmpfs in a mount namespace of the calling process, so
 * that a test reaches the code paths for a process without /proc (anonfile.h's fallback to
 * named files). Check runs each test in a process of its own, so nothing leaks into other
 * tests; /proc comes back at exit for the sanitizers' leak check, which reads it. As root a
 * mount namespace is enough; otherwise a user namespace comes with it. */
#pragma once

#include <check.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <unistd.h>

static void show_proc(void) {
        (void) umount2("/proc", MNT_DETACH);
}

static inline void hide_proc(void) {
        int flags = CLONE_NEWNS | (geteuid() == 0 ? 0 : CLONE_NEWUSER);

        ck_assert_int_eq(unshare(flags), 0);
        ck_assert_int_eq(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), 0);
        ck_assert_int_eq(mount("tmpfs", "/proc", "tmpfs", 0, "size=4k"), 0);
        ck_assert_int_ne(access("/proc/self/fd", F_OK), 0);
        ck_assert_int_eq(atexit(show_proc), 0);
}
