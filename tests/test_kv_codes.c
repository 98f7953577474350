/* K/V codes (kernels/kv_codes.h): they dequantize to exactly what fake
 * quantization leaves, and attention over them equals attention over those
 * floats bit for bit. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "kernels/kv_codes.h"
#include "kernels/ops.h"
#include "kernels/quant.h"

static void fill(float *x, size_t n, uint64_t seed) {
    rb_rng r;
    rb_rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++) x[i] = (float)(4.0 * rb_rng_uniform(&r) - 1.5);
}

/* Equal as numbers: a code cannot hold fake quantization's -0 (a small
 * negative value rounded to q = -0.0f), which dequantizes to +0; the two
 * zeros give the same sums in attention, whose accumulators start at +0. */
static int same_values(const float *a, const float *b, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!(a[i] == b[i])) return 0;
    return 1;
}

static void dequant_all(const rb_kv_codes *c, float *out) {
    for (int r = 0; r < c->rows; r++) rb_kv_codes_dequant(c, r, 0, c->cols, out + (size_t)r * c->cols);
}

Test(kv_codes, dequantize_to_the_fake_quantized_values) {
    const int rows = 33, widths[] = {40, 37};
    const int bits[] = {2, 3, 4, 5, 8};
    rb_kv_codes c = {0};
    rb_error err;
    for (int wi = 0; wi < 2; wi++) {
        int cols = widths[wi];
        float *x = malloc(sizeof(float) * rows * cols), *f = malloc(sizeof(float) * rows * cols);
        float *d = malloc(sizeof(float) * rows * cols);
        for (int bi = 0; bi < 5; bi++)
            for (int asym = 0; asym <= 1; asym++)
                for (int gran = 0; gran < 3; gran++) {
                    rb_quant_spec s = {bits[bi], asym, (rb_granularity)gran, 12, 1.0f, 0};
                    fill(x, (size_t)rows * cols, 100 + bi * 7 + asym * 3 + gran);
                    x[5] = 0.0f, x[6] = -x[7]; /* ties and zeros */
                    memcpy(f, x, sizeof(float) * rows * cols);
                    cr_assert_eq(rb_fake_quant_dynamic(f, rows, cols, &s, &err), RB_OK);
                    cr_assert_eq(rb_kv_codes_quantize(&c, x, rows, cols, &s, NULL, NULL, &err),
                                 RB_OK, "%s", err.msg);
                    cr_expect_eq(c.nibbles, bits[bi] <= 4);
                    dequant_all(&c, d);
                    cr_assert(same_values(d, f, (size_t)rows * cols),
                                 "cols %d, %d bits, asym %d, granularity %d", cols, bits[bi], asym,
                                 gran);
                    /* a slice inside a row, across a group boundary */
                    float part[9];
                    rb_kv_codes_dequant(&c, 3, 7, 9, part);
                    cr_assert(same_values(part, f + 3 * cols + 7, 9));
                }
        /* static parameters: one scale for the tensor */
        rb_quant_spec s = {4, 1, RB_GRAN_TENSOR, 0, 1.0f, 0};
        float sc = 0.3f, z = 5.0f;
        memcpy(f, x, sizeof(float) * rows * cols);
        rb_fake_quant(f, rows, cols, &s, &sc, &z);
        cr_assert_eq(rb_kv_codes_quantize(&c, x, rows, cols, &s, &sc, &z, &err), RB_OK);
        dequant_all(&c, d);
        cr_assert(same_values(d, f, (size_t)rows * cols), "static parameters");
        free(x), free(f), free(d);
    }
    cr_expect_lt(rb_kv_codes_bytes(&c), sizeof(float) * 33 * 37 / 4, "4 bits take < 1/4 of fp32");
    rb_quant_spec off = {RB_QUANT_OFF, 0, RB_GRAN_ROW, 0, 1.0f, 0};
    float x1[4] = {0};
    cr_expect_eq(rb_kv_codes_quantize(&c, x1, 1, 4, &off, NULL, NULL, &err), RB_EINVAL);
    rb_kv_codes_free(&c);
}

Test(kv_codes, attention_over_codes_equals_attention_over_fake_quantized_floats) {
    const int T = 150, nh = 4, nkv = 2, hd = 16, qdim = nh * hd, kvdim = nkv * hd;
    float *q = malloc(sizeof(float) * T * qdim), *k = malloc(sizeof(float) * T * kvdim);
    float *v = malloc(sizeof(float) * T * kvdim);
    float *a = calloc((size_t)T * qdim, sizeof(float)), *b = calloc((size_t)T * qdim, sizeof(float));
    fill(q, (size_t)T * qdim, 1), fill(k, (size_t)T * kvdim, 2), fill(v, (size_t)T * kvdim, 3);
    /* a packed window: a 40-token context, then two continuations */
    rb_segment seg[3] = {{0, 40, 0, 0, 0, 0}, {40, 60, 0, 40, 0, 0}, {100, 50, 0, 40, 0, 0}};
    size_t per = rb_attention_scratch_floats(T, hd);
    float *scratch = malloc(sizeof(float) * per * 2);
    rb_quant_spec specs[2] = {{4, 0, RB_GRAN_GROUP, hd, 1.0f, 0}, {3, 1, RB_GRAN_ROW, 0, 1.0f, 0}};
    rb_kv_codes kc = {0}, vc = {0};
    rb_error err;
    cr_assert_eq(rb_kv_codes_quantize(&kc, k, T, kvdim, &specs[0], NULL, NULL, &err), RB_OK);
    cr_assert_eq(rb_kv_codes_quantize(&vc, v, T, kvdim, &specs[1], NULL, NULL, &err), RB_OK);
    cr_assert_eq(rb_fake_quant_dynamic(k, T, kvdim, &specs[0], &err), RB_OK);
    cr_assert_eq(rb_fake_quant_dynamic(v, T, kvdim, &specs[1], &err), RB_OK);
    rb_attention_segments(a, q, k, v, seg, 3, nh, nkv, hd, scratch, 2);
    rb_attention_segments_kv(b, q, NULL, NULL, &kc, &vc, seg, 3, nh, nkv, hd, scratch, 2);
    cr_assert_eq(memcmp(a, b, sizeof(float) * T * qdim), 0, "codes for K and V");
    memset(b, 0, sizeof(float) * T * qdim);
    rb_attention_segments_kv(b, q, NULL, v, &kc, NULL, seg, 3, nh, nkv, hd, scratch, 1);
    cr_assert_eq(memcmp(a, b, sizeof(float) * T * qdim), 0, "codes for K only, one thread");
    /* and both agree with the float64 reference on those floats */
    rb_attention_segments_ref(b, q, k, v, seg, 3, nh, nkv, hd);
    for (int i = 0; i < T * qdim; i++)
        cr_assert(fabsf(a[i] - b[i]) <= 1e-5f * (1 + fabsf(b[i])), "element %d: %g vs %g", i,
                  a[i], b[i]);
    rb_kv_codes_free(&kc), rb_kv_codes_free(&vc);
    free(q), free(k), free(v), free(a), free(b), free(scratch);
}
