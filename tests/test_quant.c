/* Quantizer kernels: fast path vs reference, and the properties a uniform
 * quantizer promises. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/quant.h"
#include "tests/test_util.h"

static const int shapes[][2] = {{1, 1}, {3, 7}, {8, 64}, {5, 172}, {16, 128}, {33, 257}, {512, 64}};
static const int bits_list[] = {2, 3, 4, 8};
static const rb_granularity grans[] = {RB_GRAN_TENSOR, RB_GRAN_ROW, RB_GRAN_GROUP};
static const float clips[] = {1.0f, 0.9f, RB_CLIP_MSE};

static float *random_matrix(int rows, int cols, rb_rng *r) {
    float *x = malloc(sizeof(float) * (size_t)rows * cols);
    rb_test_fill_uniform(x, (size_t)rows * cols, -3, 3, r);
    /* a few outliers and exact zeros */
    for (int i = 0; i < rows * cols; i += 17) x[i] *= 20;
    for (int i = 5; i < rows * cols; i += 23) x[i] = 0;
    return x;
}

/* Calls fn(spec, rows, cols) for every combination. */
#define FOR_EACH_SPEC(...)                                                                   \
    for (size_t si = 0; si < sizeof shapes / sizeof *shapes; si++)                          \
        for (size_t bi = 0; bi < 4; bi++)                                                    \
            for (size_t gi = 0; gi < 3; gi++)                                                \
                for (int asym = 0; asym < 2; asym++)                                         \
                    for (size_t ci = 0; ci < 3; ci++) {                                      \
                        int rows = shapes[si][0], cols = shapes[si][1];                      \
                        rb_quant_spec s = {bits_list[bi], asym, grans[gi], 16, clips[ci], 0};\
                        if (s.group > cols) s.group = cols;                                  \
                        __VA_ARGS__                                                          \
                    }

Test(quant, fast_matches_reference_bit_for_bit) {
    rb_rng r;
    rb_rng_seed(&r, 1);
    FOR_EACH_SPEC({
        float *x = random_matrix(rows, cols, &r);
        size_t n = rb_quant_n_params(&s, rows, cols), sz = sizeof(float) * rows * cols;
        float *sa = malloc(4 * n), *za = malloc(4 * n), *sb = malloc(4 * n), *zb = malloc(4 * n);
        rb_quant_params(x, rows, cols, &s, sa, za);
        rb_quant_params_ref(x, rows, cols, &s, sb, zb);
        cr_assert_eq(memcmp(sa, sb, 4 * n), 0, "params differ: %dx%d bits %d gran %d asym %d clip %g",
                     rows, cols, s.bits, s.gran, asym, s.clip);
        cr_assert_eq(memcmp(za, zb, 4 * n), 0);
        float *a = malloc(sz), *b = malloc(sz);
        memcpy(a, x, sz);
        memcpy(b, x, sz);
        rb_fake_quant(a, rows, cols, &s, sa, za);
        rb_fake_quant_ref(b, rows, cols, &s, sb, zb);
        cr_assert_eq(memcmp(a, b, sz), 0, "fake quant differs: %dx%d bits %d gran %d", rows, cols,
                     s.bits, s.gran);
        free(x); free(a); free(b); free(sa); free(za); free(sb); free(zb);
    })
}

/* The integer codes (rb_quant_codes, the activations of --kernels int)
 * against their reference bit for bit, and against fake quantization:
 * code·scale is the fake-quantized value.  Inputs: random spans of odd and
 * SIMD-width lengths with values exactly halfway between codes (ties go to
 * even), past the clamp on both sides, infinities and signed zeros. */
Test(quant, codes_match_reference_and_fake_quant) {
    rb_rng r;
    rb_rng_seed(&r, 9);
    static const int lens[] = {1, 7, 16, 33, 64, 1031};
    for (size_t li = 0; li < sizeof lens / sizeof *lens; li++)
        for (size_t bi = 0; bi < 4; bi++)
            for (int asym = 0; asym < 2; asym++) {
                int n = lens[li];
                rb_quant_spec s = {bits_list[bi], asym, RB_GRAN_TENSOR, 0, 1.0f, 0};
                float *x = random_matrix(1, n, &r), scale = 0.0625f, zero = 0; /* exact ties */
                float qm = asym ? (float)((1 << s.bits) - 1) : (float)((1 << (s.bits - 1)) - 1);
                if (asym) zero = (float)(int)(qm / 3);
                for (int i = 0; i < n; i += 5) /* halfway: (k + 1/2)·scale for k around 0 */
                    x[i] = ((float)(int)rb_rng_below(&r, 9) - 4.0f + 0.5f) * scale;
                if (n > 3) x[1] = INFINITY, x[2] = -INFINITY, x[3] = -0.0f;
                int16_t *qa = malloc(sizeof(int16_t) * n), *qb = malloc(sizeof(int16_t) * n);
                rb_quant_codes(qa, x, n, &s, scale, zero);
                rb_quant_codes_ref(qb, x, n, &s, scale, zero);
                cr_assert_eq(memcmp(qa, qb, sizeof(int16_t) * n), 0,
                             "codes differ: n %d bits %d asym %d", n, s.bits, asym);
                float *f = malloc(sizeof(float) * n);
                memcpy(f, x, sizeof(float) * n);
                rb_fake_quant_ref(f, 1, n, &s, &scale, &zero);
                for (int i = 0; i < n; i++) {
                    cr_assert_eq((float)qa[i] * scale, f[i], "x %g: code %d, fake %g", x[i], qa[i], f[i]);
                    cr_assert(qa[i] >= (asym ? -zero : -qm) && qa[i] <= (asym ? qm - zero : qm));
                }
                free(x), free(qa), free(qb), free(f);
            }
}

Test(quant, properties) {
    rb_rng r;
    rb_rng_seed(&r, 2);
    FOR_EACH_SPEC({
        float *x = random_matrix(rows, cols, &r);
        size_t n = rb_quant_n_params(&s, rows, cols), sz = sizeof(float) * rows * cols;
        float *sc = malloc(4 * n), *zr = malloc(4 * n), *q = malloc(sz), *q2 = malloc(sz);
        rb_quant_params(x, rows, cols, &s, sc, zr);
        memcpy(q, x, sz);
        rb_fake_quant(q, rows, cols, &s, sc, zr);
        float qmax_sym = (float)((1 << (s.bits - 1)) - 1);
        for (size_t g = 0; g < n; g++) {
            cr_assert(sc[g] > 0 && isfinite(sc[g]));
            if (asym) {
                cr_assert(zr[g] >= 0 && zr[g] <= (float)((1 << s.bits) - 1) && zr[g] == floorf(zr[g]),
                          "zero point %g", zr[g]);
            } else {
                cr_assert_eq(zr[g], 0.0f);
            }
        }
        for (int i = 0; i < rows * cols; i++) {
            if (x[i] == 0) cr_assert_eq(q[i], 0.0f, "zero not preserved");
            size_t g = s.gran == RB_GRAN_TENSOR ? 0
                       : s.gran == RB_GRAN_ROW ? (size_t)(i / cols)
                       : (size_t)(i / cols) * ((cols + s.group - 1) / s.group) + (size_t)(i % cols) / s.group;
            /* inside the representable range the error is at most half a step */
            float lo = asym ? -zr[g] * sc[g] : -qmax_sym * sc[g];
            float hi = asym ? ((float)((1 << s.bits) - 1) - zr[g]) * sc[g] : qmax_sym * sc[g];
            if (x[i] >= lo && x[i] <= hi)
                cr_assert_leq(fabsf(x[i] - q[i]), sc[g] * 0.5f * (1 + 1e-5f) + 1e-6f,
                              "|%g - %g| > scale/2 = %g", x[i], q[i], sc[g] / 2);
        }
        /* idempotent with the same parameters, and under dynamic re-quantization */
        memcpy(q2, q, sz);
        rb_fake_quant(q2, rows, cols, &s, sc, zr);
        cr_assert_eq(memcmp(q, q2, sz), 0, "not idempotent");
        /* at most 2^bits distinct values per row (a row holds whole groups or is
         * part of the tensor group) */
        if (s.gran != RB_GRAN_GROUP)
            for (int rr = 0; rr < rows; rr++) {
                float seen[256];
                int k = 0;
                for (int c = 0; c < cols; c++) {
                    float v = q[(size_t)rr * cols + c];
                    int found = 0;
                    for (int j = 0; j < k; j++) found |= seen[j] == v;
                    if (!found) {
                        cr_assert_lt(k, 1 << s.bits, "more than 2^%d values in row %d", s.bits, rr);
                        seen[k++] = v;
                    }
                }
            }
        free(x); free(sc); free(zr); free(q); free(q2);
    })
}

Test(quant, mse_clip_never_worse_than_no_clip) {
    rb_rng r;
    rb_rng_seed(&r, 3);
    for (int asym = 0; asym < 2; asym++)
        for (size_t bi = 0; bi < 4; bi++) {
            int rows = 16, cols = 128;
            float *x = random_matrix(rows, cols, &r);
            double err[2];
            for (int k = 0; k < 2; k++) {
                rb_quant_spec s = {bits_list[bi], asym, RB_GRAN_ROW, 0, k ? RB_CLIP_MSE : 1.0f, 0};
                float *q = malloc(sizeof(float) * rows * cols);
                memcpy(q, x, sizeof(float) * rows * cols);
                rb_error e;
                cr_assert_eq(rb_fake_quant_dynamic(q, rows, cols, &s, &e), RB_OK);
                err[k] = 0;
                for (int i = 0; i < rows * cols; i++) err[k] += (double)(x[i] - q[i]) * (x[i] - q[i]);
                free(q);
            }
            cr_expect_leq(err[1], err[0], "bits %d asym %d: mse %g > plain %g", bits_list[bi], asym,
                          err[1], err[0]);
            free(x);
        }
}

Test(quant, groups_are_independent_and_ragged_groups_work) {
    rb_rng r;
    rb_rng_seed(&r, 4);
    int rows = 4, cols = 172; /* 5 groups of 32 and one of 12 per row */
    rb_quant_spec s = {4, 0, RB_GRAN_GROUP, 32, 1.0f, 0};
    cr_expect_eq(rb_quant_n_params(&s, rows, cols), (size_t)rows * 6);
    float *x = random_matrix(rows, cols, &r);
    float a[24], za[24], b[24], zb[24];
    rb_quant_params(x, rows, cols, &s, a, za);
    x[40] *= 100; /* row 0, group 1 */
    rb_quant_params(x, rows, cols, &s, b, zb);
    for (int g = 0; g < 24; g++)
        if (g == 1) cr_expect_neq(a[g], b[g]);
        else cr_expect_eq(a[g], b[g], "group %d changed", g);
    free(x);
}

Test(quant, off_is_untouched_and_bad_specs_are_errors) {
    float x[6] = {1.5f, -2.25f, 3.125f, 0.1f, NAN, 7};
    float y[6];
    memcpy(y, x, sizeof x);
    rb_quant_spec off = {RB_QUANT_OFF, 0, RB_GRAN_TENSOR, 0, 1, 0};
    rb_error err;
    cr_assert_eq(rb_fake_quant_dynamic(y, 2, 3, &off, &err), RB_OK);
    cr_expect_eq(memcmp(x, y, sizeof x), 0);
    struct { rb_quant_spec s; const char *needle; } bad[] = {
        {{1, 0, RB_GRAN_ROW, 0, 1, 0}, "1 bits"}, {{9, 0, RB_GRAN_ROW, 0, 1, 0}, "9 bits"},
        {{4, 0, RB_GRAN_GROUP, 0, 1, 0}, "group size 0"}, {{4, 0, RB_GRAN_GROUP, 65, 1, 0}, "group size 65"},
        {{4, 0, RB_GRAN_ROW, 0, 0, 0}, "clip"}, {{4, 0, RB_GRAN_ROW, 0, 1.5f, 0}, "clip"}};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        cr_expect_eq(rb_quant_spec_check(&bad[i].s, 64, "weights", &err), RB_EINVAL, "case %zu", i);
        cr_expect(strstr(err.msg, bad[i].needle) && strstr(err.msg, "weights"), "%s", err.msg);
    }
}
