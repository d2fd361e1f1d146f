/* SPDX-License-Identifier: GPL-3.0-or-later */
/* bench_dict: times lookups through the dict layer, as a service would do them: opens one table
 * ("hash:/path"), reads keys (one per line) from a file into memory, then looks every key up
 * once, in file order. Prints the number of keys, hits and the seconds spent in the lookups only
 * (the open and the key loading are not counted). Not a test: map_bench.sh builds and runs it.
 *
 * Usage: bench_dict TYPE:NAME KEYFILE */
#include <fcntl.h>
#include <time.h>

#include "buf.h"
#include "dict.h"
#include "log.h"

#define BENCH_KEYS_FILE_MAX (1024U * 1024U * 1024U)

static double now(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
        _cleanup_(buf_done) Buf keys = BUF_INIT(BENCH_KEYS_FILE_MAX);
        _cleanup_(dict_freep) Dict *d = NULL;
        _cleanup_free_ char *error = NULL;
        _cleanup_close_ int fd = -EBADF;
        size_t n = 0, hits = 0;
        double start, elapsed;
        char *p, *end;
        int r;

        if (argc != 3) {
                fprintf(stderr, "Usage: %s TYPE:NAME KEYFILE\n", argv[0]);
                return 64;
        }
        log_set_quiet(true);

        r = dict_open(argv[1], DICT_FLAG_FOLD_CASE, &d, &error);
        if (r < 0) {
                fprintf(stderr, "%s: %s\n", argv[1], error ? error : strerror(-r));
                return 2;
        }

        fd = open(argv[2], O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
                fprintf(stderr, "%s: %m\n", argv[2]);
                return 2;
        }
        do
                r = buf_read_fd(&keys, fd);
        while (r > 0);
        if (r < 0) {
                fprintf(stderr, "%s: %s\n", argv[2], strerror(-r));
                return 2;
        }
        /* NUL-terminate every key in place. */
        p = keys.data ? keys.data + keys.off : NULL;
        end = p ? keys.data + keys.len : NULL;
        for (char *c = p; c && c < end; c++)
                if (*c == '\n')
                        *c = '\0';

        start = now();
        for (char *k = p; k && k < end; k += strlen(k) + 1) {
                _cleanup_free_ char *value = NULL;

                if (*k == '\0')
                        continue;
                n++;
                r = dict_lookup(d, k, &value);
                if (r < 0) {
                        fprintf(stderr, "%s: lookup of '%s' failed: %s\n", argv[1], k,
                                strerror(-r));
                        return 2;
                }
                if (r > 0)
                        hits++;
        }
        elapsed = now() - start;

        printf("keys=%zu hits=%zu seconds=%.3f\n", n, hits, elapsed);
        return 0;
}
