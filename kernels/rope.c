#include <math.h>
#include <stddef.h>

#include "kernels/ops.h"
#include "kernels/simd.h"

void rb_rope_table(float *cos_tab, float *sin_tab, int max_pos, int head_dim, float theta) {
    int half = head_dim / 2;
    for (int p = 0; p < max_pos; p++)
        for (int i = 0; i < half; i++) {
            double ang = p * pow((double)theta, -(2.0 * i) / head_dim);
            cos_tab[(size_t)p * half + i] = (float)cos(ang);
            sin_tab[(size_t)p * half + i] = (float)sin(ang);
        }
}

RB_MULTIVERSION
static void rope_row(float *x, int n_heads, int head_dim, const float *c, const float *s) {
    int half = head_dim / 2;
    for (int h = 0; h < n_heads; h++) {
        float *p = x + (size_t)h * head_dim;
#pragma omp simd
        for (int i = 0; i < half; i++) {
            float a = p[2 * i], b = p[2 * i + 1];
            p[2 * i] = a * c[i] - b * s[i];
            p[2 * i + 1] = a * s[i] + b * c[i];
        }
    }
}

void rb_rope(float *x, int T, int n_heads, int head_dim, int pos0, const float *cos_tab,
             const float *sin_tab) {
    int half = head_dim / 2;
#pragma omp parallel for schedule(static) if (T * (long)n_heads * head_dim > 32768)
    for (int t = 0; t < T; t++)
        rope_row(x + (size_t)t * n_heads * head_dim, n_heads, head_dim,
                 cos_tab + (size_t)(pos0 + t) * half, sin_tab + (size_t)(pos0 + t) * half);
}
