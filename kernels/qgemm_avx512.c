/* The AVX-512 VNNI micro-kernel of kernels/qgemm.h: vpdpbusd multiplies u8
 * activations (a + c) with the stored weight codes as s8 (int8 codes, or
 * nibbles 0..15) and adds groups of 4 products into int32 lanes without
 * saturation; each segment's dot product is then corrected exactly,
 *   dot = Σ u·wc - c·Σ wc - wz·Σ a,
 * in wrapping int32 arithmetic (exact modulo 2^32; the true dot fits int32),
 * and rescaled 16 outputs at a time with the same float operations, in the
 * same order, as rb_qgemm_rescale (no FMA: an empty asm keeps the product
 * from being contracted into the add).  Compiled for AVX-512 VNNI by
 * function attribute; qgemm.c calls it only when the CPU has it. */
#include "kernels/qgemm_avx512.h"

#if RB_QGEMM_HAVE_AVX512
#include <immintrin.h>
#include <string.h>

#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni")))
#define INLINE static inline __attribute__((always_inline))

enum { MR = 12, KCV = 256 }; /* tokens per micro-kernel, columns per chunk */

/* Bytes of one (panel, quad) unit of the VNNI copy. */
static int unit_bytes(const rb_qweight *w) { return w->bits == 8 ? 128 : 64; }

/* The two weight vectors (rows 0-15 and 16-31 of the panel) of one unit. */
INLINE AVX512 void load_unit(int bits, const uint8_t *p, __m512i *w0, __m512i *w1) {
    if (bits == 8) {
        *w0 = _mm512_loadu_si512(p);
        *w1 = _mm512_loadu_si512(p + 64);
    } else {
        __m512i v = _mm512_loadu_si512(p), m = _mm512_set1_epi8(0x0F);
        *w0 = _mm512_and_si512(v, m);
        *w1 = _mm512_and_si512(_mm512_srli_epi16(v, 4), m);
    }
}

/* acc [R][32] (row stride ldacc) = (first: 0, else acc) + Σ over nq quads
 * of u [R][4·nq] (row stride ldu) · the panel's units wp. */
INLINE AVX512 void micro(int R, int bits, int first, int32_t *acc, int ldacc, const uint8_t *u,
                         size_t ldu, const uint8_t *wp, int nq) {
    __m512i c0[MR], c1[MR];
    for (int i = 0; i < R; i++) {
        c0[i] = first ? _mm512_setzero_si512() : _mm512_loadu_si512(acc + (size_t)i * ldacc);
        c1[i] = first ? _mm512_setzero_si512() : _mm512_loadu_si512(acc + (size_t)i * ldacc + 16);
    }
    int ub = bits == 8 ? 128 : 64;
    for (int q = 0; q < nq; q++) {
        __m512i w0, w1;
        load_unit(bits, wp + (size_t)q * ub, &w0, &w1);
        for (int i = 0; i < R; i++) {
            int32_t b;
            memcpy(&b, u + (size_t)i * ldu + 4 * (size_t)q, 4);
            __m512i bv = _mm512_set1_epi32(b);
            c0[i] = _mm512_dpbusd_epi32(c0[i], bv, w0);
            c1[i] = _mm512_dpbusd_epi32(c1[i], bv, w1);
        }
    }
    for (int i = 0; i < R; i++) {
        _mm512_storeu_si512(acc + (size_t)i * ldacc, c0[i]);
        _mm512_storeu_si512(acc + (size_t)i * ldacc + 16, c1[i]);
    }
}

#define MICRO_CASE(R)                                                                     \
    case R:                                                                               \
        if (bits == 8)                                                                    \
            micro(R, 8, first, acc, ldacc, u, ldu, wp, nq);                               \
        else                                                                              \
            micro(R, 4, first, acc, ldacc, u, ldu, wp, nq);                               \
        break;

static AVX512 void micro_any(int R, int bits, int first, int32_t *acc, int ldacc, const uint8_t *u,
                             size_t ldu, const uint8_t *wp, int nq) {
    switch (R) {
        MICRO_CASE(1) MICRO_CASE(2) MICRO_CASE(3) MICRO_CASE(4) MICRO_CASE(5) MICRO_CASE(6)
        MICRO_CASE(7) MICRO_CASE(8) MICRO_CASE(9) MICRO_CASE(10) MICRO_CASE(11) MICRO_CASE(12)
    default: break;
    }
}

AVX512 void rb_qgemm_wsum_avx512(int32_t *wsum, const rb_qweight *w, int S, int p0, int p1) {
    int K = w->cols, N32 = rb_qgemm_rows32(w), ub = unit_bytes(w), nq = S / 4;
    __m512i ones = _mm512_set1_epi8(1);
    for (int p = p0; p < p1; p++) {
        const uint8_t *wp = w->vnni + (size_t)p * (K / 4) * ub;
        for (int s = 0; s < K / S; s++) {
            __m512i c0 = _mm512_setzero_si512(), c1 = _mm512_setzero_si512();
            for (int q = s * nq; q < (s + 1) * nq; q++) {
                __m512i w0, w1;
                if (w->bits == 8)
                    load_unit(8, wp + (size_t)q * ub, &w0, &w1);
                else
                    load_unit(4, wp + (size_t)q * ub, &w0, &w1);
                c0 = _mm512_dpbusd_epi32(c0, ones, w0);
                c1 = _mm512_dpbusd_epi32(c1, ones, w1);
            }
            _mm512_storeu_si512(wsum + (size_t)s * N32 + 32 * p, c0);
            _mm512_storeu_si512(wsum + (size_t)s * N32 + 32 * p + 16, c1);
        }
    }
}

AVX512 void rb_qgemm_finish_avx512(float *y, const rb_qact *a, const rb_qweight *w,
                                   const int32_t *acc, int ldacc, const int32_t *c,
                                   const int32_t *asum, const int32_t *wsum, int t0, int mt, int o0,
                                   int nt, int s0) {
    int K = w->cols, N = w->rows, N32 = rb_qgemm_rows32(w), S = rb_qgemm_segment(a, w);
    int nga = K / a->group, nseg = K / S, s = s0 / S, gw = s0 / w->group, ga = s0 / a->group;
    const int32_t *ws = wsum + (size_t)s * N32 + o0;
    const int32_t *wz = w->vnni_zero + (size_t)gw * N32 + o0;
    const float *sw = w->vnni_scale + (size_t)gw * N32 + o0;
    for (int i = 0; i < mt; i++) {
        int t = t0 + i;
        __m512i cv = _mm512_set1_epi32(c[(size_t)t * nga + ga]);
        __m512i av = _mm512_set1_epi32(asum[(size_t)t * nseg + s]);
        __m512 sa = _mm512_set1_ps(a->scale[(size_t)t * nga + ga]);
        float *yr = y + (size_t)t * N + o0;
        for (int j = 0; j < nt; j += 16) {
            __mmask16 m = nt - j >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (nt - j)) - 1);
            __m512i d = _mm512_loadu_si512(acc + (size_t)i * ldacc + j);
            d = _mm512_sub_epi32(d, _mm512_mullo_epi32(cv, _mm512_loadu_si512(ws + j)));
            d = _mm512_sub_epi32(d, _mm512_mullo_epi32(av, _mm512_loadu_si512(wz + j)));
            __m512 sc = _mm512_mul_ps(sa, _mm512_loadu_ps(sw + j));
            __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(d), sc);
            __asm__("" : "+v"(v)); /* no FMA: round the product as the reference does */
            __m512 yv = _mm512_maskz_loadu_ps(m, yr + j);
            _mm512_mask_storeu_ps(yr + j, m, _mm512_add_ps(yv, v));
        }
    }
}

AVX512 void rb_qgemm_tile_avx512(float *y, const rb_qact *a, const rb_qweight *w, const uint8_t *u,
                                 size_t ldu, const int32_t *c, const int32_t *asum,
                                 const int32_t *wsum, int accumulate, int t0, int mt, int o0,
                                 int nt) {
    enum { OBV = 64 };
    int K = w->cols, N = w->rows, S = rb_qgemm_segment(a, w), ub = unit_bytes(w);
    int np = (nt + 31) / 32, bits = w->bits;
    int32_t acc[RB_QGEMM_VNNI_TB * OBV];
    if (!accumulate)
        for (int i = 0; i < mt; i++) memset(y + (size_t)(t0 + i) * N + o0, 0, sizeof(float) * nt);
    for (int s0 = 0; s0 < K; s0 += S) {
        for (int k0 = s0; k0 < s0 + S; k0 += KCV) {
            int nq = (s0 + S - k0 < KCV ? s0 + S - k0 : KCV) / 4;
            for (int jp = 0; jp < np; jp++) {
                const uint8_t *wp =
                    w->vnni + ((size_t)(o0 / 32 + jp) * (K / 4) + (size_t)(k0 / 4)) * ub;
                for (int i = 0; i < mt; i += MR) {
                    int R = mt - i < MR ? mt - i : MR;
                    const uint8_t *ui = u + (size_t)(t0 + i) * ldu + k0;
                    int32_t *ac = acc + (size_t)i * OBV + 32 * jp;
                    micro_any(R, bits, k0 == s0, ac, OBV, ui, ldu, wp, nq);
                }
            }
        }
        rb_qgemm_finish_avx512(y, a, w, acc, OBV, c, asum, wsum, t0, mt, o0, nt, s0);
    }
}
#endif
