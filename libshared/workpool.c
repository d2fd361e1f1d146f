/* SPDX-License-Identifier: GPL-3.0-or-later */
/* workpool: worker threads with group commit. Locking: one mutex guards the three job lists and
 * the flags; work and batch functions run without it. */
#include <pthread.h>
#include <sys/eventfd.h>

#include "workpool.h"

typedef struct Job Job;
struct Job {
        Job *next;
        WorkFn work;
        WorkDoneFn done;
        void *userdata;
        int result;
};

/* A FIFO of jobs. */
typedef struct JobList {
        Job *head, *tail;
} JobList;

struct WorkPool {
        pthread_mutex_t lock;
        pthread_cond_t wake;
        pthread_t threads[WORKPOOL_THREADS_MAX];
        unsigned n_threads;
        int event_fd;
        WorkBatchFn batch;
        void *batch_userdata;

        JobList queued;         /* waiting for a worker */
        JobList worked;         /* work done, waiting for the next batch */
        JobList completed;      /* waiting for workpool_dispatch() */
        bool batch_running;
        bool stopping;
        size_t pending;         /* submitted and not dispatched; owner's thread only */
};

static void list_push(JobList *l, Job *j) {
        j->next = NULL;
        if (l->tail)
                l->tail->next = j;
        else
                l->head = j;
        l->tail = j;
}

static Job *list_pop(JobList *l) {
        Job *j = l->head;

        if (j) {
                l->head = j->next;
                if (!l->head)
                        l->tail = NULL;
        }
        return j;
}

static void list_append(JobList *l, JobList *other) {
        if (!other->head)
                return;
        if (l->tail)
                l->tail->next = other->head;
        else
                l->head = other->head;
        l->tail = other->tail;
        *other = (JobList) {};
}

/* Called with the lock held. */
static void complete_locked(WorkPool *p, JobList *jobs) {
        if (!jobs->head)
                return;
        list_append(&p->completed, jobs);
        (void) eventfd_write(p->event_fd, 1);
}

static void *worker(void *userdata) {
        WorkPool *p = userdata;

        pthread_mutex_lock(&p->lock);
        for (;;) {
                Job *j = list_pop(&p->queued);

                if (j) {
                        pthread_mutex_unlock(&p->lock);
                        j->result = j->work ? j->work(j->userdata) : 0;
                        pthread_mutex_lock(&p->lock);

                        if (j->result < 0 || !p->batch) {
                                JobList one = {};

                                list_push(&one, j);
                                complete_locked(p, &one);
                        } else
                                list_push(&p->worked, j);
                        continue;
                }

                if (p->worked.head && !p->batch_running) {
                        /* This batch serves every job whose work finished before it began. */
                        JobList batch = p->worked;
                        int r;

                        p->worked = (JobList) {};
                        p->batch_running = true;
                        pthread_mutex_unlock(&p->lock);
                        r = p->batch(p->batch_userdata);
                        pthread_mutex_lock(&p->lock);
                        p->batch_running = false;

                        for (Job *k = batch.head; k; k = k->next)
                                k->result = r;
                        complete_locked(p, &batch);
                        /* This thread runs the next batch itself when the loop comes back to
                         * it; waking the others would only send them back to sleep. At stop
                         * they must see that the last batch is done. */
                        if (p->stopping)
                                pthread_cond_broadcast(&p->wake);
                        continue;
                }

                if (p->stopping && !p->worked.head)
                        break;
                pthread_cond_wait(&p->wake, &p->lock);
        }
        pthread_mutex_unlock(&p->lock);
        return NULL;
}

int workpool_new(unsigned n_threads, WorkBatchFn batch, void *batch_userdata, WorkPool **ret) {
        WorkPool *p;
        int r;

        if (n_threads == 0 || n_threads > WORKPOOL_THREADS_MAX)
                return -EINVAL;

        p = calloc(1, sizeof *p);
        if (!p)
                return -ENOMEM;
        p->event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (p->event_fd < 0) {
                r = -errno;
                free(p);
                return r;
        }
        pthread_mutex_init(&p->lock, NULL);
        pthread_cond_init(&p->wake, NULL);
        p->batch = batch;
        p->batch_userdata = batch_userdata;

        for (; p->n_threads < n_threads; p->n_threads++) {
                r = -pthread_create(&p->threads[p->n_threads], NULL, worker, p);
                if (r < 0) {
                        workpool_free(p);
                        return r;
                }
        }
        *ret = p;
        return 0;
}

WorkPool *workpool_free(WorkPool *p) {
        if (!p)
                return NULL;

        pthread_mutex_lock(&p->lock);
        p->stopping = true;
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->lock);
        for (unsigned i = 0; i < p->n_threads; i++)
                pthread_join(p->threads[i], NULL);

        (void) workpool_dispatch(p);
        pthread_cond_destroy(&p->wake);
        pthread_mutex_destroy(&p->lock);
        safe_close(p->event_fd);
        free(p);
        return NULL;
}

int workpool_submit(WorkPool *p, WorkFn work, WorkDoneFn done, void *userdata) {
        Job *j;

        assert(p);
        j = calloc(1, sizeof *j);
        if (!j)
                return -ENOMEM;
        *j = (Job) { .work = work, .done = done, .userdata = userdata };

        pthread_mutex_lock(&p->lock);
        list_push(&p->queued, j);
        pthread_cond_signal(&p->wake);
        pthread_mutex_unlock(&p->lock);
        p->pending++;
        return 0;
}

int workpool_fd(const WorkPool *p) {
        return p->event_fd;
}

int workpool_dispatch(WorkPool *p) {
        JobList done;
        eventfd_t counter;
        int n = 0;

        (void) eventfd_read(p->event_fd, &counter);

        pthread_mutex_lock(&p->lock);
        done = p->completed;
        p->completed = (JobList) {};
        pthread_mutex_unlock(&p->lock);

        for (Job *j; (j = list_pop(&done)); n++) {
                if (j->done)
                        j->done(j->result, j->userdata);
                free(j);
                p->pending--;
        }
        return n;
}

size_t workpool_pending(const WorkPool *p) {
        return p->pending;
}
