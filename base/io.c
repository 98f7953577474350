#include "base/io.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <dirent.h>
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

/* tmp = DIR/.BASE.tmp.XXXXXX for path = DIR/BASE. */
static int temp_name(const char *path, char *tmp, size_t cap, rb_error *err) {
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/') n--; /* "out/" names the directory out */
    const char *slash = NULL;
    for (size_t i = 0; i < n; i++)
        if (path[i] == '/') slash = path + i;
    int dir_len = slash ? (int)(slash - path) + 1 : 0;
    const char *base = slash ? slash + 1 : path;
    int len = snprintf(tmp, cap, "%.*s.%.*s.tmp.XXXXXX", dir_len, path,
                       (int)(n - (size_t)(base - path)), base);
    if (len < 0 || (size_t)len >= cap || base == path + n)
        return rb_error_set(err, RB_EINVAL, "%s: not a usable output path", path);
    return RB_OK;
}

int rb_atomic_create(const char *path, char *tmp, size_t cap, FILE **f, rb_error *err) {
    *f = NULL;
    int rc = temp_name(path, tmp, cap, err);
    if (rc) return rc;
    int fd = mkstemp(tmp);
    if (fd < 0) return rb_error_set(err, RB_EIO, "%s: cannot create: %s", path, strerror(errno));
    fchmod(fd, 0644);
    if (!(*f = fdopen(fd, "wb"))) {
        close(fd);
        unlink(tmp);
        return rb_error_set(err, RB_EIO, "%s: cannot create: %s", path, strerror(errno));
    }
    return RB_OK;
}

int rb_atomic_commit(FILE *f, const char *tmp, const char *path, rb_error *err) {
    int ok = fflush(f) == 0 && fsync(fileno(f)) == 0;
    int e = errno;
    if (fclose(f) != 0 && ok) ok = 0, e = errno;
    if (ok && rename(tmp, path) != 0) ok = 0, e = errno;
    if (!ok) {
        unlink(tmp);
        return rb_error_set(err, RB_EIO, "%s: write failed: %s", path, strerror(e));
    }
    return RB_OK;
}

void rb_atomic_abort(FILE *f, const char *tmp) {
    if (f) fclose(f);
    unlink(tmp);
}

int rb_atomic_mkdir(const char *path, char *tmp, size_t cap, rb_error *err) {
    int rc = temp_name(path, tmp, cap, err);
    if (rc) return rc;
    if (!mkdtemp(tmp))
        return rb_error_set(err, RB_EIO, "%s: cannot create the directory: %s", path,
                            strerror(errno));
    chmod(tmp, 0755);
    return RB_OK;
}

void rb_atomic_dir_abort(const char *tmp) {
    DIR *d = opendir(tmp);
    if (d) {
        struct dirent *e;
        char p[4096];
        while ((e = readdir(d)))
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") &&
                snprintf(p, sizeof p, "%s/%s", tmp, e->d_name) < (int)sizeof p)
                unlink(p);
        closedir(d);
    }
    rmdir(tmp);
}

int rb_atomic_dir_commit(const char *tmp, const char *path, rb_error *err) {
    DIR *d = opendir(tmp);
    int ok = d != NULL;
    struct dirent *e;
    char p[4096];
    while (ok && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(p, sizeof p, "%s/%s", tmp, e->d_name);
        int fd = open(p, O_RDONLY);
        ok = fd >= 0 && fsync(fd) == 0;
        if (fd >= 0) close(fd);
    }
    if (d) closedir(d);
    int e2 = errno;
    if (ok) {
        rmdir(path); /* an empty directory of that name gives way; a non-empty one stays */
        if (rename(tmp, path) != 0) {
            e2 = errno;
            rb_atomic_dir_abort(tmp);
            if (e2 == ENOTEMPTY || e2 == EEXIST || e2 == ENOTDIR)
                return rb_error_set(err, RB_EIO,
                                    "%s: exists and is not empty: remove it or choose another "
                                    "path",
                                    path);
            return rb_error_set(err, RB_EIO, "%s: cannot rename the written directory: %s", path,
                                strerror(e2));
        }
        return RB_OK;
    }
    rb_atomic_dir_abort(tmp);
    return rb_error_set(err, RB_EIO, "%s: write failed: %s", path, strerror(e2));
}

int rb_copy_file(const char *src, const char *dst, rb_error *err) {
    char *data;
    size_t len;
    int rc = rb_read_file(src, 0, &data, &len, err);
    if (rc) return rc;
    FILE *f = fopen(dst, "wb");
    if (!f) rc = rb_error_set(err, RB_EIO, "%s: cannot create: %s", dst, strerror(errno));
    else {
        int ok = fwrite(data, 1, len, f) == len;
        if (fclose(f) != 0) ok = 0;
        if (!ok) rc = rb_error_set(err, RB_EIO, "%s: write failed: %s", dst, strerror(errno));
    }
    free(data);
    return rc;
}
