#include "base/io.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

int rb_read_file(const char *path, size_t max_bytes, char **data, size_t *len, rb_error *err) {
    *data = NULL;
    *len = 0;
    if (!max_bytes) max_bytes = (size_t)4 << 30;
    FILE *f = fopen(path, "rb");
    if (!f) return rb_error_set(err, RB_EIO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return rb_error_set(err, RB_EIO, "%s: not a regular file", path);
    }
    if ((size_t)st.st_size > max_bytes) {
        fclose(f);
        return rb_error_set(err, RB_EINVAL, "%s: %lld bytes is over the limit of %zu", path,
                            (long long)st.st_size, max_bytes);
    }
    char *buf = malloc((size_t)st.st_size + 1);
    if (!buf) {
        fclose(f);
        return rb_error_set(err, RB_ENOMEM, "%s: out of memory", path);
    }
    size_t got = fread(buf, 1, (size_t)st.st_size, f);
    int bad = ferror(f);
    fclose(f);
    if (bad || got != (size_t)st.st_size) {
        free(buf);
        return rb_error_set(err, RB_EIO, "%s: read error", path);
    }
    buf[got] = 0;
    *data = buf;
    *len = got;
    return RB_OK;
}

double rb_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}
