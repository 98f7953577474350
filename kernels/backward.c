/* Backward passes of the forward kernels (kernels/ops_backward.h). */
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <string.h>

#include "kernels/ops_backward.h"

void rb_linear_backward(float *dx, float *dw, const float *dy, const float *x, const float *w,
                        int T, int n_in, int n_out, int accumulate_dx) {
    if (dx) /* dx [T][n_in] = dy [T][n_out] · W [n_out][n_in] */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, n_in, n_out, 1.0f, dy, n_out, w,
                    n_in, accumulate_dx ? 1.0f : 0.0f, dx, n_in);
    if (dw) /* dW [n_out][n_in] += dyᵀ [n_out][T] · x [T][n_in] */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n_out, n_in, T, 1.0f, dy, n_out, x,
                    n_in, 1.0f, dw, n_in);
}

void rb_bias_backward(float *db, const float *dy, int T, int n) {
    for (int t = 0; t < T; t++) {
        const float *d = dy + (size_t)t * n;
        for (int j = 0; j < n; j++) db[j] += d[j];
    }
}

static double inv_rms(const float *x, int cols, float eps) {
    double ss = 0;
    for (int c = 0; c < cols; c++) ss += (double)x[c] * x[c];
    return 1.0 / sqrt(ss / cols + eps);
}

void rb_rmsnorm_backward(float *dx, float *dw, const float *dy, const float *x, const float *w,
                         int rows, int cols, float eps) {
#pragma omp parallel for schedule(static) if (rows * (long)cols > 32768)
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * cols, *dyr = dy + (size_t)r * cols;
        float *dxr = dx + (size_t)r * cols;
        double inv = inv_rms(xr, cols, eps), dot = 0;
        for (int c = 0; c < cols; c++) dot += (double)xr[c] * w[c] * dyr[c];
        float a = (float)inv, b = (float)(inv * inv * inv * dot / cols);
        for (int c = 0; c < cols; c++) dxr[c] += a * w[c] * dyr[c] - b * xr[c];
    }
    if (!dw) return;
    for (int r = 0; r < rows; r++) { /* rows in order: the same sum for any thread count */
        const float *xr = x + (size_t)r * cols, *dyr = dy + (size_t)r * cols;
        float inv = (float)inv_rms(xr, cols, eps);
        for (int c = 0; c < cols; c++) dw[c] += dyr[c] * xr[c] * inv;
    }
}

void rb_swiglu_backward(float *da, float *db, const float *dg, const float *a, const float *b,
                        size_t n) {
    long nl = (long)n;
#pragma omp parallel for schedule(static) if (nl > 65536)
    for (long i = 0; i < nl; i++) {
        float s = 1.0f / (1.0f + expf(-a[i])), g = dg[i];
        db[i] = g * a[i] * s;
        da[i] = g * b[i] * s * (1.0f + a[i] * (1.0f - s));
    }
}

void rb_rope_backward(float *dx, int T, int n_heads, int head_dim, int pos0,
                      const float *cos_tab, const float *sin_tab) {
    int half = head_dim / 2;
#pragma omp parallel for schedule(static) if (T * (long)n_heads * head_dim > 32768)
    for (int t = 0; t < T; t++) {
        const float *c = cos_tab + (size_t)(pos0 + t) * half, *s = sin_tab + (size_t)(pos0 + t) * half;
        for (int h = 0; h < n_heads; h++) {
            float *p = dx + ((size_t)t * n_heads + h) * head_dim;
            for (int i = 0; i < half; i++) { /* transpose of [[c, −s], [s, c]] */
                float a = p[2 * i], b = p[2 * i + 1];
                p[2 * i] = a * c[i] + b * s[i];
                p[2 * i + 1] = -a * s[i] + b * c[i];
            }
        }
    }
}

size_t rb_attention_backward_scratch_floats(int T) { return 2 * (size_t)T; }

/* One query head h reading kv head g: adds its share to dk, dv (kv head g's
 * columns) and writes dq's head h.  p, dp: T floats each. */
static void attention_head_backward(float *dq, float *dk, float *dv, const float *dout,
                                    const float *q, const float *k, const float *v, int T,
                                    int qdim, int kvdim, int hd, float *p, float *dp) {
    const float scale = 1.0f / sqrtf((float)hd);
    for (int i = 0; i < T; i++) {
        const float *qi = q + (size_t)i * qdim, *doi = dout + (size_t)i * qdim;
        float mx = -INFINITY;
        for (int j = 0; j <= i; j++) {
            const float *kj = k + (size_t)j * kvdim;
            float s = 0;
            for (int e = 0; e < hd; e++) s += qi[e] * kj[e];
            p[j] = s * scale;
            mx = p[j] > mx ? p[j] : mx;
        }
        double sum = 0;
        for (int j = 0; j <= i; j++) sum += p[j] = expf(p[j] - mx);
        float inv = (float)(1.0 / sum), D = 0;
        for (int j = 0; j <= i; j++) {
            const float *vj = v + (size_t)j * kvdim;
            float d = 0;
            for (int e = 0; e < hd; e++) d += doi[e] * vj[e];
            p[j] *= inv;
            dp[j] = d;
            D += p[j] * d;
        }
        float *dqi = dq + (size_t)i * qdim;
        memset(dqi, 0, sizeof(float) * hd);
        for (int j = 0; j <= i; j++) {
            float ds = p[j] * (dp[j] - D) * scale, pj = p[j];
            const float *kj = k + (size_t)j * kvdim;
            float *dkj = dk + (size_t)j * kvdim, *dvj = dv + (size_t)j * kvdim;
            for (int e = 0; e < hd; e++) {
                dqi[e] += ds * kj[e];
                dkj[e] += ds * qi[e];
                dvj[e] += pj * doi[e];
            }
        }
    }
}

void rb_attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *q,
                           const float *k, const float *v, int T, int n_heads, int n_kv_heads,
                           int hd, float *scratch, int threads) {
    int qdim = n_heads * hd, kvdim = n_kv_heads * hd, group = n_heads / n_kv_heads;
    size_t per = rb_attention_backward_scratch_floats(T);
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
    for (int g = 0; g < n_kv_heads; g++) {
        float *p = scratch + per * (size_t)omp_get_thread_num();
        for (int t = 0; t < T; t++) {
            memset(dk + (size_t)t * kvdim + (size_t)g * hd, 0, sizeof(float) * hd);
            memset(dv + (size_t)t * kvdim + (size_t)g * hd, 0, sizeof(float) * hd);
        }
        for (int h = g * group; h < (g + 1) * group; h++)
            attention_head_backward(dq + (size_t)h * hd, dk + (size_t)g * hd, dv + (size_t)g * hd,
                                    dout + (size_t)h * hd, q + (size_t)h * hd, k + (size_t)g * hd,
                                    v + (size_t)g * hd, T, qdim, kvdim, hd, p, p + T);
    }
}

double rb_softmax_xent_backward(float *dlogits, const float *logits, const int32_t *target,
                                int rows, int cols, float scale) {
    double total = 0;
#pragma omp parallel for schedule(static) reduction(+ : total) if (rows * (long)cols > 65536)
    for (int r = 0; r < rows; r++) {
        const float *l = logits + (size_t)r * cols;
        float *d = dlogits + (size_t)r * cols;
        if (target[r] < 0) {
            memset(d, 0, sizeof(float) * cols);
            continue;
        }
        float mx = l[0];
        for (int c = 1; c < cols; c++) mx = l[c] > mx ? l[c] : mx;
        double sum = 0;
        for (int c = 0; c < cols; c++) sum += d[c] = expf(l[c] - mx);
        float inv = (float)(1.0 / sum);
        for (int c = 0; c < cols; c++) d[c] *= inv * scale;
        d[target[r]] -= scale;
        total += (double)mx + log(sum) - l[target[r]];
    }
    return total;
}
