/* K/V codes (kv_codes.h): the quantizer's rounding from quant_common.h, so
 * the codes dequantize to what rb_fake_quant computes. */
#include "kernels/kv_codes.h"

#include <stdlib.h>
#include <string.h>

#include "kernels/quant_common.h"

void rb_kv_codes_free(rb_kv_codes *c) {
    free(c->codes);
    free(c->scale);
    free(c->zero);
    memset(c, 0, sizeof *c);
}

size_t rb_kv_codes_bytes(const rb_kv_codes *c) {
    return c->stride * (size_t)c->rows +
           2 * sizeof(float) * rb_quant_n_params(&c->spec, c->rows, c->cols);
}

/* Columns per parameter along a row. */
static int group_width(const rb_quant_spec *s, int cols) {
    return s->gran == RB_GRAN_GROUP ? s->group : cols;
}

/* *p grown to `need` elements of `elem` bytes: 0, or -1 (left as it was). */
static int grow(void **p, size_t need, size_t elem) {
    void *n = realloc(*p, need * elem);
    if (!n) return -1;
    *p = n;
    return 0;
}

int rb_kv_codes_quantize(rb_kv_codes *c, const float *x, int rows, int cols,
                         const rb_quant_spec *s, const float *scale, const float *zero,
                         rb_error *err) {
    if (rb_quant_spec_off(s))
        return rb_error_set(err, RB_EINVAL, "K/V codes: the quantizer is off (16 bits)");
    int rc = rb_quant_spec_check(s, cols, "K/V codes", err);
    if (rc) return rc;
    const int nibbles = s->bits <= 4;
    const size_t stride = nibbles ? (size_t)(cols + 1) / 2 : (size_t)cols;
    const size_t np = rb_quant_n_params(s, rows, cols);
    int failed = 0;
    if (stride * (size_t)rows > c->cap_codes) {
        failed |= grow((void **)&c->codes, stride * (size_t)rows, 1);
        if (!failed) c->cap_codes = stride * (size_t)rows;
    }
    if (np > c->cap_params) {
        failed |= grow((void **)&c->scale, np, sizeof(float)) |
                  grow((void **)&c->zero, np, sizeof(float));
        if (!failed) c->cap_params = np;
    }
    if (failed) {
        rb_kv_codes_free(c);
        return rb_error_set(err, RB_ENOMEM, "out of memory for %dx%d K/V codes", rows, cols);
    }
    c->rows = rows, c->cols = cols, c->spec = *s, c->nibbles = nibbles, c->stride = stride;
    if (scale) {
        memcpy(c->scale, scale, sizeof(float) * np);
        memcpy(c->zero, zero, sizeof(float) * np);
    } else {
        rb_quant_params(x, rows, cols, s, c->scale, c->zero);
    }
    const int width = group_width(s, cols), per_row = (cols + width - 1) / width;
    const float qmax = s->asym ? rb_qmax_asym(s->bits) : rb_qmax_sym(s->bits);
    const float off = s->asym ? 0.0f : (float)(1 << (s->bits - 1));
#pragma omp parallel for schedule(static) if ((long)rows * cols > 65536)
    for (int r = 0; r < rows; r++) {
        uint8_t *cr = c->codes + (size_t)r * stride;
        if (nibbles) memset(cr, 0, stride);
        for (int k = 0; k < per_row; k++) {
            size_t pi = rb_quant_param_index(s, cols, r, k * width);
            float sc = c->scale[pi], inv = 1.0f / sc, z = c->zero[pi];
            int c0 = k * width, c1 = c0 + width < cols ? c0 + width : cols;
            const float *xr = x + (size_t)r * cols;
            for (int j = c0; j < c1; j++) {
                float q = s->asym ? rb_q_asym(xr[j], inv, z, qmax) : rb_q_sym(xr[j], inv, qmax);
                uint8_t u = (uint8_t)(int)(q + off);
                if (nibbles)
                    cr[j / 2] |= (uint8_t)(j % 2 ? u << 4 : u);
                else
                    cr[j] = u;
            }
        }
    }
    return RB_OK;
}

void rb_kv_codes_dequant(const rb_kv_codes *c, int row, int c0, int n, float *restrict out) {
    const rb_quant_spec *s = &c->spec;
    const uint8_t *restrict cr = c->codes + (size_t)row * c->stride;
    const int width = group_width(s, c->cols);
    const float off = s->asym ? 0.0f : (float)(1 << (s->bits - 1));
    for (int j = c0; j < c0 + n;) {
        int k = j / width, end = (k + 1) * width < c0 + n ? (k + 1) * width : c0 + n;
        size_t pi = rb_quant_param_index(s, c->cols, row, j);
        /* symmetric: (u - off)·s = q·s; asymmetric: (u - z)·s, as rb_fq_asym */
        float sc = c->scale[pi], z = s->asym ? c->zero[pi] : off;
        if (c->nibbles)
            for (; j < end; j++) out[j - c0] = ((float)((cr[j / 2] >> (4 * (j % 2))) & 15) - z) * sc;
        else
            for (; j < end; j++) out[j - c0] = ((float)cr[j] - z) * sc;
    }
}
