/* Causal GQA attention, one (segment, head) per OpenMP task.  Per head, K and V of its
 * kv head are transposed to [head_dim][T] so that both the score loop
 * (axpy over keys) and the output loop (dot over keys) run along contiguous
 * memory and vectorise for any head_dim. */
#include <math.h>
#include <omp.h>
#include <string.h>

#include "kernels/ops.h"
#include "kernels/simd.h"
#include "kernels/vexp_inline.h"

/* Keys are processed in blocks of KB so that a block of scores stays in
 * registers while it accumulates over head_dim (one load per FMA); kt is
 * zero-padded to a multiple of KB keys, and scores past the causal limit are
 * computed but never used. */
enum { KB = 16 };

static int padded(int T) { return (T + KB - 1) / KB * KB; }

size_t rb_attention_scratch_floats(int T, int head_dim) {
    return (size_t)padded(T) * (2 * (size_t)head_dim + 1);
}

/* One head of one segment: queries rows [start, start+len) of q, keys and
 * values the segment's prefix rows (rb_segment_key_row) followed by its own
 * rows up to the query (causal).  Keys are gathered into kt/vt [hd][padded(n_keys)]
 * in that order, so a segment is computed exactly like a window holding its
 * prefix and its own tokens alone. */
RB_SIMD_INLINE void attention_head_body(float *out, const float *q, const float *k, const float *v,
                                        const rb_segment *sg, int qdim, int kvdim, int hd, float *kt,
                                        float *vt, float *s) {
    const int nk = rb_segment_keys(sg), Tp = padded(nk), P = nk - sg->len;
    for (int e = 0; e < hd; e++) {
        for (int j = 0; j < nk; j++) {
            int row = rb_segment_key_row(sg, j);
            kt[(size_t)e * Tp + j] = k[(size_t)row * kvdim + e];
            vt[(size_t)e * Tp + j] = v[(size_t)row * kvdim + e];
        }
        for (int j = nk; j < Tp; j++) kt[(size_t)e * Tp + j] = vt[(size_t)e * Tp + j] = 0.0f;
    }
    const float scale = 1.0f / sqrtf((float)hd);
    for (int i = 0; i < sg->len; i++) {
        const float *qi = q + (size_t)(sg->start + i) * qdim;
        int n = P + i + 1;
        for (int j0 = 0; j0 < n; j0 += KB) {
            float acc[KB] = {0};
            for (int e = 0; e < hd; e++) {
                float qe = qi[e] * scale;
                const float *kr = kt + (size_t)e * Tp + j0;
#pragma omp simd
                for (int jj = 0; jj < KB; jj++) acc[jj] += qe * kr[jj];
            }
            for (int jj = 0; jj < KB; jj++) s[j0 + jj] = acc[jj];
        }
        float mx = s[0];
#pragma omp simd reduction(max : mx)
        for (int j = 0; j < n; j++) mx = s[j] > mx ? s[j] : mx;
        float sum = 0;
#pragma omp simd reduction(+ : sum)
        for (int j = 0; j < n; j++) {
            s[j] = rb_exp_inline(s[j] - mx);
            sum += s[j];
        }
        float inv = 1.0f / sum;
        float *oi = out + (size_t)(sg->start + i) * qdim;
        for (int e = 0; e < hd; e++) {
            const float *vr = vt + (size_t)e * Tp;
            float acc = 0;
#pragma omp simd reduction(+ : acc)
            for (int j = 0; j < n; j++) acc += s[j] * vr[j];
            oi[e] = acc * inv;
        }
    }
}
RB_SIMD_DISPATCH_VOID(attention_head, (float *out, const float *q, const float *k, const float *v, const rb_segment *sg, int qdim, int kvdim, int hd, float *kt, float *vt, float *s), (out, q, k, v, sg, qdim, kvdim, hd, kt, vt, s))

void rb_attention_segments(float *out, const float *q, const float *k, const float *v,
                           const rb_segment *seg, int n_seg, int n_heads, int n_kv_heads, int hd,
                           float *scratch, int threads) {
    int qdim = n_heads * hd, kvdim = n_kv_heads * hd, group = n_heads / n_kv_heads;
    int max_keys = 0;
    for (int i = 0; i < n_seg; i++)
        if (rb_segment_keys(&seg[i]) > max_keys) max_keys = rb_segment_keys(&seg[i]);
    size_t per = rb_attention_scratch_floats(max_keys, hd);
    long tasks = (long)n_seg * n_heads;
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
    for (long task = 0; task < tasks; task++) {
        float *kt = scratch + per * (size_t)omp_get_thread_num();
        const rb_segment *sg = &seg[task / n_heads];
        int h = (int)(task % n_heads), g = h / group, Tp = padded(rb_segment_keys(sg));
        attention_head(out + (size_t)h * hd, q + (size_t)h * hd, k + (size_t)g * hd,
                       v + (size_t)g * hd, sg, qdim, kvdim, hd, kt, kt + (size_t)hd * Tp,
                       kt + 2 * (size_t)hd * Tp);
    }
}

void rb_attention(float *out, const float *q, const float *k, const float *v, int T,
                  int n_heads, int n_kv_heads, int hd, float *scratch, int threads) {
    rb_segment whole = {0, T, 0, 0, 0, 0};
    rb_attention_segments(out, q, k, v, &whole, 1, n_heads, n_kv_heads, hd, scratch, threads);
}
