/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Unit tests of workpool: every job completes exactly once with the right result, work errors
 * skip the batch, one batch serves many jobs (group commit), completions arrive only through
 * dispatch, and freeing runs what was submitted. */
#include <poll.h>
#include <stdatomic.h>

#include "check_main.h"
#include "workpool.h"

typedef struct Counters {
        atomic_int worked;
        atomic_int batches;
        int batch_result;
        int done[1000];
        int result[1000];
} Counters;

static Counters counters;

static int work_ok(void *userdata) {
        counters.worked++;
        (void) usleep(200);             /* an fsync's worth of waiting, so that jobs overlap */
        return (intptr_t) userdata % 7 == 3 ? -EIO : 0;
}

static int batch(void *userdata) {
        Counters *c = userdata;

        c->batches++;
        (void) usleep(2000);
        return c->batch_result;
}

static void done(int result, void *userdata) {
        intptr_t i = (intptr_t) userdata;

        counters.done[i]++;
        counters.result[i] = result;
}

static void wait_all(WorkPool *p) {
        while (workpool_pending(p) > 0) {
                struct pollfd pfd = { .fd = workpool_fd(p), .events = POLLIN };

                ck_assert_int_ge(poll(&pfd, 1, 10000), 1);
                (void) workpool_dispatch(p);
        }
}

START_TEST(test_group_commit)
{
        _cleanup_(workpool_freep) WorkPool *p = NULL;

        memset(&counters, 0, sizeof counters);
        counters.batch_result = _i == 0 ? 0 : -ENOSPC;
        ck_assert_int_eq(workpool_new(4, batch, &counters, &p), 0);

        for (intptr_t i = 0; i < 1000; i++)
                ck_assert_int_eq(workpool_submit(p, work_ok, done, (void *) i), 0);
        wait_all(p);

        ck_assert_int_eq(counters.worked, 1000);
        for (int i = 0; i < 1000; i++) {
                ck_assert_int_eq(counters.done[i], 1);
                if (i % 7 == 3)
                        ck_assert_int_eq(counters.result[i], -EIO);
                else
                        ck_assert_int_eq(counters.result[i], counters.batch_result);
        }
        /* Batches are shared: far fewer than the jobs that needed one. */
        ck_assert_int_ge(counters.batches, 1);
        ck_assert_int_lt(counters.batches, 500);
}
END_TEST

START_TEST(test_no_batch_and_free_runs_submitted)
{
        WorkPool *p = NULL;

        memset(&counters, 0, sizeof counters);
        ck_assert_int_eq(workpool_new(2, NULL, NULL, &p), 0);
        for (intptr_t i = 0; i < 50; i++)
                ck_assert_int_eq(workpool_submit(p, work_ok, done, (void *) i), 0);
        p = workpool_free(p);
        for (int i = 0; i < 50; i++) {
                ck_assert_int_eq(counters.done[i], 1);
                ck_assert_int_eq(counters.result[i], i % 7 == 3 ? -EIO : 0);
        }
}
END_TEST

START_TEST(test_completions_only_through_dispatch)
{
        _cleanup_(workpool_freep) WorkPool *p = NULL;
        struct pollfd pfd;

        memset(&counters, 0, sizeof counters);
        ck_assert_int_eq(workpool_new(1, batch, &counters, &p), 0);
        ck_assert_int_eq(workpool_submit(p, work_ok, done, (void *) 1), 0);
        pfd = (struct pollfd) { .fd = workpool_fd(p), .events = POLLIN };
        ck_assert_int_eq(poll(&pfd, 1, 10000), 1);
        ck_assert_int_eq(counters.done[1], 0);
        ck_assert_int_eq(workpool_dispatch(p), 1);
        ck_assert_int_eq(counters.done[1], 1);
        ck_assert_uint_eq(workpool_pending(p), 0);
}
END_TEST

START_TEST(test_bad_arguments)
{
        WorkPool *p = NULL;

        ck_assert_int_eq(workpool_new(0, NULL, NULL, &p), -EINVAL);
        ck_assert_int_eq(workpool_new(WORKPOOL_THREADS_MAX + 1, NULL, NULL, &p), -EINVAL);
}
END_TEST

static Suite *workpool_suite(void) {
        Suite *s = suite_create("workpool");
        TCase *tc = tcase_create("jobs");

        tcase_set_timeout(tc, 60);
        tcase_add_loop_test(tc, test_group_commit, 0, 2);
        tcase_add_test(tc, test_no_batch_and_free_runs_submitted);
        tcase_add_test(tc, test_completions_only_through_dispatch);
        tcase_add_test(tc, test_bad_arguments);
        suite_add_tcase(s, tc);
        return s;
}

TERN_CHECK_MAIN(workpool_suite)
