/* Scalar references for kernels/ops.h: the definitions the fast kernels are
 * tested against.  Straightforward loops, double accumulation, libm. */
#include <math.h>
#include <stdlib.h>

#include "kernels/ops.h"

void rb_rmsnorm_ref(float *out, const float *x, const float *w, int rows, int cols, float eps) {
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * cols;
        double ss = 0;
        for (int c = 0; c < cols; c++) ss += (double)xr[c] * xr[c];
        double inv = 1.0 / sqrt(ss / cols + eps);
        for (int c = 0; c < cols; c++) out[(size_t)r * cols + c] = (float)(xr[c] * inv * w[c]);
    }
}

void rb_swiglu_ref(float *a, const float *b, size_t n) {
    for (size_t i = 0; i < n; i++) a[i] = (float)(a[i] / (1.0 + exp(-(double)a[i])) * b[i]);
}

void rb_rope_ref(float *x, int T, int n_heads, int head_dim, int pos0, const double *freq) {
    for (int t = 0; t < T; t++)
        for (int h = 0; h < n_heads; h++)
            for (int i = 0; i < head_dim; i += 2) {
                double ang = (pos0 + t) * freq[i / 2];
                float *p = x + (size_t)t * n_heads * head_dim + (size_t)h * head_dim + i;
                double a = p[0], b = p[1];
                p[0] = (float)(a * cos(ang) - b * sin(ang));
                p[1] = (float)(a * sin(ang) + b * cos(ang));
            }
}

void rb_attention_segments_ref(float *out, const float *q, const float *k, const float *v,
                               const rb_segment *seg, int n_seg, int n_heads, int n_kv_heads,
                               int hd) {
    int qdim = n_heads * hd, kvdim = n_kv_heads * hd, group = n_heads / n_kv_heads;
    for (int si = 0; si < n_seg; si++) {
        const rb_segment *sg = &seg[si];
        int nk = rb_segment_keys(sg), P = nk - sg->len;
        double *s = malloc(sizeof(double) * (size_t)nk);
        for (int h = 0; h < n_heads; h++) {
            int g = h / group;
            for (int i = 0; i < sg->len; i++) {
                int qi = sg->start + i, n = P + i + 1;
                double mx = -INFINITY, sum = 0;
                for (int j = 0; j < n; j++) {
                    int kj = rb_segment_key_row(sg, j);
                    double d = 0;
                    for (int e = 0; e < hd; e++)
                        d += (double)q[(size_t)qi * qdim + h * hd + e] * k[(size_t)kj * kvdim + g * hd + e];
                    s[j] = d / sqrt((double)hd);
                    if (s[j] > mx) mx = s[j];
                }
                for (int j = 0; j < n; j++) sum += (s[j] = exp(s[j] - mx));
                for (int e = 0; e < hd; e++) {
                    double o = 0;
                    for (int j = 0; j < n; j++) {
                        int kj = rb_segment_key_row(sg, j);
                        o += s[j] * v[(size_t)kj * kvdim + g * hd + e];
                    }
                    out[(size_t)qi * qdim + h * hd + e] = (float)(o / sum);
                }
            }
        }
        free(s);
    }
}

void rb_attention_ref(float *out, const float *q, const float *k, const float *v, int T,
                      int n_heads, int n_kv_heads, int hd) {
    rb_segment whole = {0, T, 0, 0, 0, 0};
    rb_attention_segments_ref(out, q, k, v, &whole, 1, n_heads, n_kv_heads, hd);
}

void rb_nll_rows_ref(double *nll, const float *logits, const int32_t *target, int rows, int cols) {
    for (int r = 0; r < rows; r++) {
        const float *l = logits + (size_t)r * cols;
        double mx = -INFINITY, sum = 0;
        for (int c = 0; c < cols; c++) if (l[c] > mx) mx = l[c];
        for (int c = 0; c < cols; c++) sum += exp((double)l[c] - mx);
        nll[r] = mx + log(sum) - l[target[r]];
    }
}

void rb_vexp_ref(float *y, const float *x, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = expf(x[i]);
}
