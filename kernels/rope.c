/* RoPE: frequency rules, cos/sin tables and the rotation (kernels/ops.h). */
#include <math.h>
#include <stddef.h>

#include "kernels/ops.h"
#include "kernels/simd.h"

void rb_rope_freqs_default(double *freq, int head_dim, double theta) {
    for (int i = 0; i < head_dim / 2; i++) freq[i] = pow(theta, -(2.0 * i) / head_dim);
}

void rb_rope_freqs_linear(double *freq, int head_dim, double factor) {
    for (int i = 0; i < head_dim / 2; i++) freq[i] /= factor;
}

void rb_rope_freqs_llama3(double *freq, int head_dim, double factor, double low_freq_factor,
                          double high_freq_factor, double orig_max_pos) {
    const double pi = 3.14159265358979323846;
    double low_wavelen = orig_max_pos / low_freq_factor;   /* longer: scaled by 1/factor */
    double high_wavelen = orig_max_pos / high_freq_factor; /* shorter: kept */
    for (int i = 0; i < head_dim / 2; i++) {
        double f = freq[i], wavelen = 2.0 * pi / f;
        if (wavelen < high_wavelen) continue;
        if (wavelen > low_wavelen || !(high_freq_factor > low_freq_factor)) {
            freq[i] = f / factor;
            continue;
        }
        double s = (orig_max_pos / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor);
        freq[i] = (1.0 - s) * f / factor + s * f;
    }
}

void rb_rope_freqs_divide(double *freq, int head_dim, const float *factors) {
    for (int i = 0; i < head_dim / 2; i++) freq[i] /= factors[i];
}

void rb_rope_table_freqs(float *cos_tab, float *sin_tab, int max_pos, int head_dim,
                         const double *freq) {
    int half = head_dim / 2;
    for (int p = 0; p < max_pos; p++)
        for (int i = 0; i < half; i++) {
            double ang = p * freq[i];
            cos_tab[(size_t)p * half + i] = (float)cos(ang);
            sin_tab[(size_t)p * half + i] = (float)sin(ang);
        }
}

RB_SIMD_INLINE void rope_row_body(float *x, int n_heads, int head_dim, const float *c, const float *s) {
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
RB_SIMD_DISPATCH_VOID(rope_row, (float *x, int n_heads, int head_dim, const float *c, const float *s), (x, n_heads, head_dim, c, s))

void rb_rope(float *x, int T, int n_heads, int head_dim, int pos0, const float *cos_tab,
             const float *sin_tab) {
    int half = head_dim / 2;
#pragma omp parallel for schedule(static) if (T * (long)n_heads * head_dim > 32768)
    for (int t = 0; t < T; t++)
        rope_row(x + (size_t)t * n_heads * head_dim, n_heads, head_dim,
                 cos_tab + (size_t)(pos0 + t) * half, sin_tab + (size_t)(pos0 + t) * half);
}
