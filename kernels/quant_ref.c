/* Scalar references of kernels/quant.h: loops over groups, one value at a
 * time; the fast path (quant.c) must agree with these bit for bit. */
#include <math.h>

#include "kernels/quant.h"
#include "kernels/quant_common.h"

static double group_sq_error(const float *x, int cols, int r0, int r1, int c0, int c1,
                             const rb_quant_spec *s, float scale, float zero) {
    double e = 0;
    float inv = 1.0f / scale;
    for (int r = r0; r < r1; r++)
        for (int c = c0; c < c1; c++) {
            float v = x[(size_t)r * cols + c];
            float d = v - (s->asym ? rb_fq_asym(v, inv, scale, zero, rb_qmax_asym(s->bits))
                                   : rb_fq_sym(v, inv, scale, rb_qmax_sym(s->bits)));
            e += (double)d * d;
        }
    return e;
}

void rb_quant_params_ref(const float *x, int rows, int cols, const rb_quant_spec *s,
                         float *scale, float *zero) {
    size_t n = rb_quant_n_params(s, rows, cols);
    for (size_t g = 0; g < n; g++) {
        int r0, r1, c0, c1;
        rb_group_span(s, rows, cols, g, &r0, &r1, &c0, &c1);
        float lo = 0, hi = 0;
        for (int r = r0; r < r1; r++)
            for (int c = c0; c < c1; c++) {
                float v = x[(size_t)r * cols + c];
                lo = v < lo ? v : lo;
                hi = v > hi ? v : hi;
            }
        if (s->clip != RB_CLIP_MSE) {
            rb_group_params(lo, hi, s, s->clip, &scale[g], &zero[g]);
            continue;
        }
        double best = INFINITY;
        for (int k = 0; k < RB_CLIP_GRID; k++) {
            float sc, z;
            rb_group_params(lo, hi, s, rb_clip_ratio(k), &sc, &z);
            double e = group_sq_error(x, cols, r0, r1, c0, c1, s, sc, z);
            if (e < best) {
                best = e;
                scale[g] = sc;
                zero[g] = z;
            }
        }
    }
}

void rb_quant_codes_ref(int16_t *q, const float *x, int n, const rb_quant_spec *s, float scale,
                        float zero) {
    float inv = 1.0f / scale;
    for (int i = 0; i < n; i++)
        q[i] = (int16_t)(s->asym ? rb_q_asym(x[i], inv, zero, rb_qmax_asym(s->bits)) - zero
                                 : rb_q_sym(x[i], inv, rb_qmax_sym(s->bits)));
}

void rb_fake_quant_ref(float *x, int rows, int cols, const rb_quant_spec *s, const float *scale,
                       const float *zero) {
    if (rb_quant_spec_off(s)) return;
    size_t n = rb_quant_n_params(s, rows, cols);
    for (size_t g = 0; g < n; g++) {
        int r0, r1, c0, c1;
        rb_group_span(s, rows, cols, g, &r0, &r1, &c0, &c1);
        float inv = 1.0f / scale[g];
        for (int r = r0; r < r1; r++)
            for (int c = c0; c < c1; c++) {
                float *v = &x[(size_t)r * cols + c];
                *v = s->asym ? rb_fq_asym(*v, inv, scale[g], zero[g], rb_qmax_asym(s->bits))
                             : rb_fq_sym(*v, inv, scale[g], rb_qmax_sym(s->bits));
            }
    }
}
