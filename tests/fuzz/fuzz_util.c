#include "tests/fuzz/fuzz_util.h"

#include "core/model_open.h"
#include "core/tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static int write_all(int fd, const uint8_t *data, size_t size) {
    while (size) {
        ssize_t n = write(fd, data, size);
        if (n <= 0) return -1;
        data += n;
        size -= (size_t)n;
    }
    return 0;
}

int fuzz_memfd(const uint8_t *data, size_t size, char *path, size_t cap) {
    int fd = memfd_create("fuzz-input", MFD_CLOEXEC);
    if (fd < 0) return -1;
    if (write_all(fd, data, size) != 0) {
        close(fd);
        return -1;
    }
    snprintf(path, cap, "/proc/self/fd/%d", fd);
    return fd;
}

/* the per-process directory; fuzzing is single-threaded, and this is
 * harness state, not library state */
static char temp_dir[256];

static void remove_temp_dir(void) {
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", temp_dir);
    if (system(cmd) != 0) fprintf(stderr, "fuzz: could not remove %s\n", temp_dir);
}

void fuzz_temp_file(const char *name, const uint8_t *data, size_t size, char *path, size_t cap) {
    if (!temp_dir[0]) {
        const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
        snprintf(temp_dir, sizeof temp_dir, "%s/rb-fuzz-XXXXXX", base);
        if (!mkdtemp(temp_dir)) {
            perror("fuzz: mkdtemp");
            abort();
        }
        atexit(remove_temp_dir);
    }
    snprintf(path, cap, "%s/%s", temp_dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) {
        perror(path);
        abort();
    }
}

void fuzz_data_path(const char *rel, char *path, size_t cap) {
    const char *root = getenv("ROTBENCH_DATA");
    if (root && *root)
        snprintf(path, cap, "%s/%s", root, rel);
    else
        snprintf(path, cap, "%s/../shared/%s", RB_SOURCE_ROOT, rel);
}

void fuzz_split(const uint8_t *data, size_t size, size_t *first, size_t *second) {
    const uint8_t *nul = memchr(data, 0, size);
    *first = nul ? (size_t)(nul - data) : size;
    *second = nul ? *first + 1 : size;
}

void fuzz_open_model_and_tokenizer(const char *path) {
    rb_model *m = NULL;
    rb_model_info info;
    rb_error err = {0};
    if (rb_model_open(path, 0, &m, &info, &err) == RB_OK) {
        if (rb_config_validate(&m->cfg, "fuzz", NULL) != RB_OK) abort();
        rb_model_free(m);
    } else if (!err.msg[0]) {
        abort();
    }
    rb_tokenizer *t = NULL;
    rb_error terr = {0};
    if (rb_tokenizer_open(path, &t, &terr) == RB_OK)
        rb_tokenizer_free(t);
    else if (!terr.msg[0])
        abort();
}
