#include "base/io.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

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

int rb_map_file(const char *path, void **map, uint64_t *size, rb_error *err) {
    *map = NULL;
    *size = 0;
    int fd = open(path, O_RDONLY);
    if (fd < 0) return rb_error_set(err, RB_EIO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return rb_error_set(err, RB_EIO, "%s: not a regular file", path);
    }
    uint64_t bytes = (uint64_t)sb.st_size;
    void *m = NULL;
    if (bytes) {
        m = mmap(NULL, bytes, PROT_READ, MAP_SHARED, fd, 0);
        if (m == MAP_FAILED) {
            close(fd);
            return rb_error_set(err, RB_EIO, "%s: mmap failed: %s", path, strerror(errno));
        }
    }
    close(fd);
    *map = m;
    *size = bytes;
    return RB_OK;
}

void rb_unmap_file(void *map, uint64_t size) {
    if (map) munmap(map, size);
}
