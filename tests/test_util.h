/* Helpers shared by the Criterion test suites.
 *
 * Test data lives in the shared data directory: $ROTBENCH_DATA when set,
 * else RB_SOURCE_ROOT/../shared (RB_SOURCE_ROOT is defined by meson).  A
 * suite that needs a data file calls rb_test_require_data: when the file is
 * missing the test is skipped with a message, or fails when CI=true (so a CI
 * run can never pass by skipping everything).
 */
#ifndef RB_TEST_UTIL_H
#define RB_TEST_UTIL_H

#include <stddef.h>

#include "base/rng.h"

/* The data directory (see above). */
const char *rb_test_data_dir(void);

/* data_dir/rel.  The result lives in one of 8 rotating per-thread buffers:
 * valid until 8 more calls of the rb_test_*_path/file helpers. */
const char *rb_test_data_path(const char *rel);

/* Nonzero when the environment variable CI is "true" or "1". */
int rb_test_in_ci(void);

/* rb_test_data_path(rel) if that file exists; otherwise skips the current
 * test (cr_skip_test) or, under CI=true, fails it.  Call from a test body. */
const char *rb_test_require_data(const char *rel);

/* Writes data[0..len) to a new temporary file and returns its path (rotating
 * buffer as above); the caller unlinks it.  Fails the test on error. */
const char *rb_test_tmp_file(const void *data, size_t len);

/* A path "<tmp>/rotbench-test-<pid>/<name>" (directory created) in buf. */
const char *rb_test_tmp_path(const char *name, char *buf, size_t cap);

/* Writes bytes to path; returns 0 on success. */
int rb_test_write_file(const char *path, const void *data, size_t n);

/* Fills x[n] with uniform values in [lo, hi). */
void rb_test_fill_uniform(float *x, size_t n, float lo, float hi, rb_rng *r);

/* ||a - b||_2 / ||b||_2 over n values, in double. */
double rb_test_rel_rms(const float *a, const float *b, size_t n);

/* max_i |a_i - b_i| / max(max_i |b_i|, floor); NaN anywhere gives NaN. */
double rb_test_rel_maxdiff(const float *a, const float *b, size_t n, double floor);

#endif
