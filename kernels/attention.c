/* Causal GQA attention, one (segment, head) per OpenMP task, tiled with an
 * online softmax (FlashAttention's recurrence on a CPU):
 *   per head, K of its kv head is gathered transposed, kt [hd][Tp] with
 *   rows ldk = Tp + 16 floats apart, and V as rows, vr [Tp][hd] (Tp: keys
 *   rounded up to BK, zero-padded; the 64 bytes past each row of kt keep
 *   a power-of-two T from putting every row of a tile in one L1 set);
 *   queries go in passes of BQO = NB·BQ rows, each pass walking the key
 *   tiles of BK once and, per tile, its blocks of BQ rows: the scores of a
 *   BQ×BK tile, S = (q·scale)·Kᵀ, then per row the running max m, the
 *   running sum l and the output o [hd] are rescaled by exp(m_old - m_new)
 *   and o += exp(S - m_new)·V_tile.  At the end out = o / l.
 * Memory per thread is O(T·hd) (the gathered K and V) plus
 * O(BQO·hd + BQ·BK), never T² (no row of T scores) nor heads × anything.
 * A BK×hd tile of K and of V (32 KiB each at hd = 128) is read by the BQO
 * queries of a pass while it sits in L2 (the whole gathered K and V of a
 * long window does not fit there); the score loop keeps BQ×16 accumulators
 * in registers (one load of K per BQ FMAs), the output loop BQ×16.
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

/* BQ queries a register block, NB register blocks a pass over the key
 * tiles (each K/V tile is read from L2 by BQO = NB·BQ queries, not from L3
 * by BQ), BK keys a tile, VW columns a vector step. */
enum { BQ = 6, NB = 8, BQO = NB * BQ, BK = 64, VW = 16 };

static int padded(int T) { return (T + BK - 1) / BK * BK; }
/* The row stride of kt for Tp keys. */
static int kt_stride(int Tp) { return Tp + 16; }

size_t rb_attention_scratch_floats(int T, int head_dim) {
    /* kt, vr; then qs [BQO][hd], o [BQO][hd], p [BQ][BK] */
    int Tp = padded(T);
    return ((size_t)kt_stride(Tp) + Tp) * (size_t)head_dim + 2 * (size_t)BQO * head_dim +
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
    float *o = qs + (size_t)BQO * hd, *p = o + (size_t)BQO * hd;
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
    for (int s0 = 0; s0 < sg->len; s0 += BQO) {
        int ns = sg->len - s0 < BQO ? sg->len - s0 : BQO, lim[BQO];
        float m[BQO], l[BQO];
        for (int i = 0; i < BQO; i++) {
            const float *qi = q + (size_t)(sg->start + s0 + i) * qdim;
            for (int e = 0; e < hd; e++) qs[(size_t)i * hd + e] = i < ns ? qi[e] * scale : 0.0f;
            lim[i] = i < ns ? P + s0 + i + 1 : 0; /* keys row i sees */
            m[i] = -INFINITY;
            l[i] = 0.0f;
        }
        memset(o, 0, sizeof(float) * (size_t)BQO * hd);
        for (int j0 = 0; j0 < P + s0 + ns; j0 += BK)
            for (int b0 = 0; b0 < ns; b0 += BQ) { /* a block of BQ rows, as if alone */
                int nq = ns - b0 < BQ ? ns - b0 : BQ;
                if (j0 >= P + s0 + b0 + nq) continue; /* its rows see no key of this tile */
                tile_scores(p, qs + (size_t)b0 * hd, kt, ldk, j0, hd);
                for (int i = 0; i < BQ; i++) {
                    float *pi = p + i * BK;
                    int r = b0 + i, valid = lim[r] - j0 < BK ? lim[r] - j0 : BK;
                    if (valid <= 0) {
                        memset(pi, 0, sizeof(float) * BK);
                        continue;
                    }
                    float mx = m[r];
                    for (int jj = 0; jj < valid; jj++) mx = pi[jj] > mx ? pi[jj] : mx;
                    float alpha = m[r] == -INFINITY ? 0.0f : rb_exp_inline(m[r] - mx), sum = 0;
#pragma omp simd reduction(+ : sum)
                    for (int jj = 0; jj < BK; jj++) {
                        float e = jj < valid ? rb_exp_inline(pi[jj] - mx) : 0.0f;
                        pi[jj] = e;
                        sum += e;
                    }
                    l[r] = l[r] * alpha + sum;
                    m[r] = mx;
                    float *oi = o + (size_t)r * hd;
                    for (int e = 0; e < hd; e++) oi[e] *= alpha;
                }
                tile_values(o + (size_t)b0 * hd, p, vr, j0, hd);
            }
        for (int i = 0; i < ns; i++) {
            float inv = 1.0f / l[i], *oi = out + (size_t)(sg->start + s0 + i) * qdim;
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
