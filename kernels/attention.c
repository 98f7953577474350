/* Causal GQA attention, one (segment, head) per OpenMP task, tiled with an
 * online softmax (FlashAttention's recurrence on a CPU):
 *   per head, K of its kv head is gathered transposed, kt [hd][Tp] with
 *   rows ldk = Tp + 16 floats apart, and V as rows, vr [Tp][hd] (Tp: keys
 *   rounded up to BK, zero-padded; the 64 bytes past each row of kt keep
 *   a power-of-two T from putting every row of a tile in one L1 set);
 *   queries go in blocks of BQ rows, keys in tiles of BK: the scores of a
 *   BQ×BK tile, S = (q·scale)·Kᵀ, then per row the running max m, the
 *   running sum l and the output o [hd] are rescaled by exp(m_old - m_new)
 *   and o += exp(S - m_new)·V_tile.  At the end out = o / l.
 * Memory per thread is O(T·hd) (the gathered K and V) plus O(BQ·(hd + BK)),
 * never T² (no row of T scores) nor heads × anything.  A BK×hd tile of K
 * and of V (32 KiB each at hd = 128) is reused by the BQ queries of a block
 * while it sits in L1/L2; the score loop keeps BQ×16 accumulators in
 * registers (one load of K per BQ FMAs), the output loop BQ×16.
 * Every query sees its key tiles in the same order with the same masking
 * whatever block it falls in (masked and padded scores give p = 0 exactly,
 * padded V rows are 0), so a segment's rows equal those of a window holding
 * its prefix and its own tokens bit for bit.
 * Quantized K/V (rb_kv_codes) are dequantized row by row as they are
 * gathered, into the same kt/vr: the rest of the kernel is unchanged, so
 * the result equals attention over the fake-quantized floats bit for bit. */
#include <math.h>
#include <omp.h>
#include <string.h>

#include "kernels/kv_codes.h"
#include "kernels/ops.h"
#include "kernels/simd.h"
#include "kernels/vexp_inline.h"

enum { BQ = 6, BK = 64, VW = 16 };

static int padded(int T) { return (T + BK - 1) / BK * BK; }
/* The row stride of kt for Tp keys. */
static int kt_stride(int Tp) { return Tp + 16; }

size_t rb_attention_scratch_floats(int T, int head_dim) {
    /* kt, vr; then qs [BQ][hd], o [BQ][hd], p [BQ][BK] */
    int Tp = padded(T);
    return ((size_t)kt_stride(Tp) + Tp) * (size_t)head_dim + 2 * (size_t)BQ * head_dim +
           (size_t)BQ * BK;
}

/* S [BQ][BK] = qs [BQ][hd] · kt[:, j0 .. j0+BK) (row stride ldk). */
RB_SIMD_INLINE void tile_scores(float *p, const float *qs, const float *kt, int ldk, int j0, int hd) {
    for (int jc = 0; jc < BK; jc += VW) {
        float acc[BQ][VW];
        for (int i = 0; i < BQ; i++)
            for (int jj = 0; jj < VW; jj++) acc[i][jj] = 0.0f;
        for (int e = 0; e < hd; e++) {
            const float *kr = kt + (size_t)e * ldk + j0 + jc;
            for (int i = 0; i < BQ; i++) {
                float qe = qs[(size_t)i * hd + e];
#pragma omp simd
                for (int jj = 0; jj < VW; jj++) acc[i][jj] += qe * kr[jj];
            }
        }
        for (int i = 0; i < BQ; i++)
            for (int jj = 0; jj < VW; jj++) p[i * BK + jc + jj] = acc[i][jj];
    }
}

/* o [BQ][hd] += p [BQ][BK] · vr[j0 .. j0+BK) [hd], keys in order. */
RB_SIMD_INLINE void tile_values(float *o, const float *p, const float *vr, int j0, int hd) {
    int e0 = 0;
    for (; e0 + VW <= hd; e0 += VW) {
        float acc[BQ][VW];
        for (int i = 0; i < BQ; i++)
            for (int ee = 0; ee < VW; ee++) acc[i][ee] = o[(size_t)i * hd + e0 + ee];
        for (int j = 0; j < BK; j++) {
            const float *vj = vr + (size_t)(j0 + j) * hd + e0;
            for (int i = 0; i < BQ; i++) {
                float pij = p[i * BK + j];
#pragma omp simd
                for (int ee = 0; ee < VW; ee++) acc[i][ee] += pij * vj[ee];
            }
        }
        for (int i = 0; i < BQ; i++)
            for (int ee = 0; ee < VW; ee++) o[(size_t)i * hd + e0 + ee] = acc[i][ee];
    }
    if (e0 < hd)
        for (int i = 0; i < BQ; i++)
            for (int j = 0; j < BK; j++) {
                const float *vj = vr + (size_t)(j0 + j) * hd;
                float pij = p[i * BK + j];
                for (int e = e0; e < hd; e++) o[(size_t)i * hd + e] += pij * vj[e];
            }
}

/* One head of one segment: queries rows [start, start+len) of q, keys and
 * values the segment's prefix rows (rb_segment_key_row) followed by its own
 * rows up to the query (causal).  scratch as rb_attention_scratch_floats. */
RB_SIMD_INLINE void attention_head_body(float *out, const float *q, const float *k,
                                        const float *v, const rb_kv_codes *kc,
                                        const rb_kv_codes *vc, int col0, const rb_segment *sg,
                                        int qdim, int kvdim, int hd, float *scratch) {
    const int nk = rb_segment_keys(sg), Tp = padded(nk), ldk = kt_stride(Tp), P = nk - sg->len;
    float *kt = scratch, *vr = kt + (size_t)hd * ldk, *qs = vr + (size_t)Tp * hd;
    float *o = qs + (size_t)BQ * hd, *p = o + (size_t)BQ * hd;
    for (int j = 0; j < nk; j++) {
        int row = rb_segment_key_row(sg, j);
        const float *kr = k + (size_t)row * kvdim;
        if (kc) { /* o is free until the first query block */
            rb_kv_codes_dequant(kc, row, col0, hd, o);
            kr = o;
        }
        for (int e = 0; e < hd; e++) kt[(size_t)e * ldk + j] = kr[e];
        if (vc)
            rb_kv_codes_dequant(vc, row, col0, hd, vr + (size_t)j * hd);
        else
            memcpy(vr + (size_t)j * hd, v + (size_t)row * kvdim, sizeof(float) * hd);
    }
    for (int e = 0; e < hd; e++)
        for (int j = nk; j < Tp; j++) kt[(size_t)e * ldk + j] = 0.0f;
    memset(vr + (size_t)nk * hd, 0, sizeof(float) * (size_t)(Tp - nk) * hd);
    const float scale = 1.0f / sqrtf((float)hd);
    for (int i0 = 0; i0 < sg->len; i0 += BQ) {
        int nq = sg->len - i0 < BQ ? sg->len - i0 : BQ, lim[BQ];
        float m[BQ], l[BQ];
        for (int i = 0; i < BQ; i++) {
            const float *qi = q + (size_t)(sg->start + i0 + i) * qdim;
            for (int e = 0; e < hd; e++) qs[(size_t)i * hd + e] = i < nq ? qi[e] * scale : 0.0f;
            lim[i] = i < nq ? P + i0 + i + 1 : 0; /* keys row i sees */
            m[i] = -INFINITY;
            l[i] = 0.0f;
        }
        memset(o, 0, sizeof(float) * (size_t)BQ * hd);
        for (int j0 = 0; j0 < P + i0 + nq; j0 += BK) {
            tile_scores(p, qs, kt, ldk, j0, hd);
            for (int i = 0; i < BQ; i++) {
                float *pi = p + i * BK;
                int valid = lim[i] - j0 < BK ? lim[i] - j0 : BK;
                if (valid <= 0) {
                    memset(pi, 0, sizeof(float) * BK);
                    continue;
                }
                float mx = m[i];
                for (int jj = 0; jj < valid; jj++) mx = pi[jj] > mx ? pi[jj] : mx;
                float alpha = m[i] == -INFINITY ? 0.0f : rb_exp_inline(m[i] - mx), sum = 0;
#pragma omp simd reduction(+ : sum)
                for (int jj = 0; jj < BK; jj++) {
                    float e = jj < valid ? rb_exp_inline(pi[jj] - mx) : 0.0f;
                    pi[jj] = e;
                    sum += e;
                }
                l[i] = l[i] * alpha + sum;
                m[i] = mx;
                float *oi = o + (size_t)i * hd;
                for (int e = 0; e < hd; e++) oi[e] *= alpha;
            }
            tile_values(o, p, vr, j0, hd);
        }
        for (int i = 0; i < nq; i++) {
            float inv = 1.0f / l[i], *oi = out + (size_t)(sg->start + i0 + i) * qdim;
            for (int e = 0; e < hd; e++) oi[e] = o[(size_t)i * hd + e] * inv;
        }
    }
}
RB_SIMD_DISPATCH_VOID(attention_head,
                      (float *out, const float *q, const float *k, const float *v,
                       const rb_kv_codes *kc, const rb_kv_codes *vc, int col0,
                       const rb_segment *sg, int qdim, int kvdim, int hd, float *scratch),
                      (out, q, k, v, kc, vc, col0, sg, qdim, kvdim, hd, scratch))

void rb_attention_segments(float *out, const float *q, const float *k, const float *v,
                           const rb_segment *seg, int n_seg, int n_heads, int n_kv_heads, int hd,
                           float *scratch, int threads) {
    rb_attention_segments_kv(out, q, k, v, NULL, NULL, seg, n_seg, n_heads, n_kv_heads, hd,
                             scratch, threads);
}

void rb_attention_segments_kv(float *out, const float *q, const float *k, const float *v,
                              const rb_kv_codes *kc, const rb_kv_codes *vc, const rb_segment *seg,
                              int n_seg, int n_heads, int n_kv_heads, int hd, float *scratch,
                              int threads) {
    int qdim = n_heads * hd, kvdim = n_kv_heads * hd, group = n_heads / n_kv_heads;
    int max_keys = 0;
    for (int i = 0; i < n_seg; i++)
        if (rb_segment_keys(&seg[i]) > max_keys) max_keys = rb_segment_keys(&seg[i]);
    size_t per = rb_attention_scratch_floats(max_keys, hd);
    long tasks = (long)n_seg * n_heads;
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
    for (long task = 0; task < tasks; task++) {
        float *sc = scratch + per * (size_t)omp_get_thread_num();
        const rb_segment *sg = &seg[task / n_heads];
        int h = (int)(task % n_heads), g = h / group;
        attention_head(out + (size_t)h * hd, q + (size_t)h * hd, k ? k + (size_t)g * hd : NULL,
                       v ? v + (size_t)g * hd : NULL, kc, vc, g * hd, sg, qdim, kvdim, hd, sc);
    }
}

void rb_attention(float *out, const float *q, const float *k, const float *v, int T,
                  int n_heads, int n_kv_heads, int hd, float *scratch, int threads) {
    rb_segment whole = {0, T, 0, 0, 0, 0};
    rb_attention_segments(out, q, k, v, &whole, 1, n_heads, n_kv_heads, hd, scratch, threads);
}
