/* SPDX-License-Identifier: GPL-3.0-or-later */
/* workpool: a few threads that run blocking work (fsync) for a single-threaded event loop and
 * report back on an eventfd. It implements DESIGN.md's group commit: each job's work runs alone
 * (the queue file's fsync), then one "batch" call (the incoming/ directory fsync) serves every
 * job whose work finished before that call began, so concurrent sessions share it.
 *
 * Threads only run the work and batch functions; completion callbacks run in the owner's thread,
 * from workpool_dispatch(), which the event loop calls when workpool_fd() is readable. Nothing
 * the pool does depends on peer input. */
#pragma once

#include "macro.h"

typedef struct WorkPool WorkPool;

/* Runs in a worker thread. Returns 0 or a negative errno. */
typedef int (*WorkFn)(void *userdata);
/* Runs in the owner's thread with the job's result: the work's error, else the batch's. */
typedef void (*WorkDoneFn)(int result, void *userdata);
/* Runs in a worker thread, once for a batch of jobs whose work succeeded. */
typedef int (*WorkBatchFn)(void *batch_userdata);

#define WORKPOOL_THREADS_MAX 64

/* Starts n_threads workers (1..WORKPOOL_THREADS_MAX). batch may be NULL (no batch step). */
int workpool_new(unsigned n_threads, WorkBatchFn batch, void *batch_userdata, WorkPool **ret);
/* Stops the workers after the jobs already submitted have run, dispatches their completions,
 * frees. Returns NULL. */
WorkPool *workpool_free(WorkPool *p);
DEFINE_PTR_CLEANUP(WorkPool *, workpool_free);

/* Queues a job. userdata must stay valid until done has been called. Returns 0 or -ENOMEM. */
int workpool_submit(WorkPool *p, WorkFn work, WorkDoneFn done, void *userdata);
/* An eventfd that is readable while completions wait for workpool_dispatch(). */
int workpool_fd(const WorkPool *p);
/* Calls the done callbacks of completed jobs, in completion order. Returns how many ran. */
int workpool_dispatch(WorkPool *p);
/* Jobs submitted and not yet dispatched. */
size_t workpool_pending(const WorkPool *p);
