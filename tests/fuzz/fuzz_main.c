/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Replays a fuzz corpus without libFuzzer: every file named on the command line, or every file in
 * every directory named, goes through LLVMFuzzerTestOneInput() once. Built into each fuzz target
 * for ordinary (non -Dfuzz) builds, so that the corpus and every crash found stay regression
 * tests in `meson test --suite fuzz`. */
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>

#include "buf.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(int dir_fd, const char *path) {
        _cleanup_(buf_done) Buf b = BUF_INIT(16 * 1024 * 1024);
        _cleanup_close_ int fd = -EBADF;
        int r;

        fd = openat(dir_fd, path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        do
                r = buf_read_fd(&b, fd);
        while (r > 0);
        if (r < 0)
                return r;

        /* Hand the fuzzer an exact-size copy so that ASan sees reads past the end. */
        _cleanup_free_ uint8_t *copy = malloc(buf_pending(&b) ? buf_pending(&b) : 1);
        if (!copy)
                return -ENOMEM;
        memcpy(copy, buf_peek(&b), buf_pending(&b));
        (void) LLVMFuzzerTestOneInput(copy, buf_pending(&b));
        return 0;
}

int main(int argc, char **argv) {
        unsigned n = 0;

        log_set_quiet(true);
        for (int i = 1; i < argc; i++) {
                struct stat st;

                if (stat(argv[i], &st) < 0) {
                        fprintf(stderr, "%s: %m\n", argv[i]);
                        return EXIT_FAILURE;
                }
                if (S_ISDIR(st.st_mode)) {
                        DIR *d = opendir(argv[i]);
                        struct dirent *de;

                        if (!d) {
                                fprintf(stderr, "%s: %m\n", argv[i]);
                                return EXIT_FAILURE;
                        }
                        while ((de = readdir(d))) {
                                if (de->d_name[0] == '.')
                                        continue;
                                if (replay_file(dirfd(d), de->d_name) < 0) {
                                        fprintf(stderr, "%s/%s: cannot read\n", argv[i], de->d_name);
                                        closedir(d);
                                        return EXIT_FAILURE;
                                }
                                n++;
                        }
                        closedir(d);
                } else {
                        if (replay_file(AT_FDCWD, argv[i]) < 0) {
                                fprintf(stderr, "%s: cannot read\n", argv[i]);
                                return EXIT_FAILURE;
                        }
                        n++;
                }
        }
        printf("replayed %u inputs\n", n);
        return n > 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
