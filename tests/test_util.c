#include "tests/test_util.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <math.h>
#include <sys/stat.h>

#ifndef RB_SOURCE_ROOT
#define RB_SOURCE_ROOT "."
#endif

enum { N_BUFFERS = 8, BUFFER_BYTES = 4096 };

static char *next_buffer(void) {
    static _Thread_local char buffers[N_BUFFERS][BUFFER_BYTES];
    static _Thread_local unsigned next;
    return buffers[next++ % N_BUFFERS];
}

const char *rb_test_data_dir(void) {
    const char *env = getenv("ROTBENCH_DATA");
    if (env && *env) return env;
    return RB_SOURCE_ROOT "/../shared";
}

const char *rb_test_data_path(const char *rel) {
    char *buf = next_buffer();
    int n = snprintf(buf, BUFFER_BYTES, "%s/%s", rb_test_data_dir(), rel);
    if (n < 0 || n >= BUFFER_BYTES) cr_assert_fail("data path for %s is too long", rel);
    return buf;
}

int rb_test_in_ci(void) {
    const char *ci = getenv("CI");
    return ci && (strcasecmp(ci, "true") == 0 || strcmp(ci, "1") == 0);
}

const char *rb_test_require_data(const char *rel) {
    const char *path = rb_test_data_path(rel);
    if (access(path, R_OK) == 0) return path;
    if (rb_test_in_ci())
        cr_assert_fail("test data %s is missing (CI=true, so this is a failure); set "
                       "ROTBENCH_DATA to the shared data directory",
                       path);
    cr_skip_test("test data %s is missing; set ROTBENCH_DATA to the shared data directory", path);
    return NULL; /* not reached */
}

const char *rb_test_tmp_file(const void *data, size_t len) {
    char *buf = next_buffer();
    const char *dir = getenv("TMPDIR");
    snprintf(buf, BUFFER_BYTES, "%s/rotbench-test-XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(buf);
    if (fd < 0) cr_assert_fail("cannot create a temporary file %s", buf);
    const char *p = data;
    while (len) {
        ssize_t w = write(fd, p, len);
        if (w <= 0) {
            close(fd);
            unlink(buf);
            cr_assert_fail("cannot write temporary file %s", buf);
        }
        p += w;
        len -= (size_t)w;
    }
    close(fd);
    return buf;
}

const char *rb_test_tmp_path(const char *name, char *buf, size_t cap) {
    char dir[256];
    const char *base = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/rotbench-test-%d", base && *base ? base : "/tmp", (int)getpid());
    mkdir(dir, 0700);
    snprintf(buf, cap, "%s/%s", dir, name);
    return buf;
}

int rb_test_write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = fwrite(data, 1, n, f);
    return (fclose(f) == 0 && w == n) ? 0 : -1;
}

void rb_test_fill_uniform(float *x, size_t n, float lo, float hi, rb_rng *r) {
    for (size_t i = 0; i < n; i++) x[i] = lo + (hi - lo) * (float)rb_rng_uniform(r);
}

double rb_test_rel_maxdiff(const float *a, const float *b, size_t n, double floor) {
    double md = 0, mb = floor;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (!(d <= md)) md = d;
        if (fabs(b[i]) > mb) mb = fabs(b[i]);
    }
    return md / mb;
}

double rb_test_rel_rms(const float *a, const float *b, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)a[i] - b[i];
        num += d * d;
        den += (double)b[i] * b[i];
    }
    return sqrt(num / den);
}
