/* The AVX2 micro-kernel of kernels/qgemm.h: int8 or int4 weight codes are
 * widened to int16 (minus the zero point) into panels of column pairs
 * (kernels/qgemm_avx2.h), multiplied with a broadcast pair of int16
 * activations by vpmaddwd (exact: pairs of int16 products summed into int32,
 * no saturation) and accumulated in int32, 6 tokens × 16 rows at a time.
 * Compiled for AVX2 by function attribute; qgemm.c calls it only when the
 * CPU has AVX2. */
#include "kernels/qgemm_avx2.h"

#if RB_QGEMM_HAVE_AVX2
#include <immintrin.h>
#include <string.h>

#include "kernels/qgemm_common.h"

#define AVX2 __attribute__((target("avx2")))
#define INLINE static inline __attribute__((always_inline))

/* 16 weight codes of a row from column k (k even for 4-bit), minus zero. */
INLINE AVX2 __m256i load_w(const uint8_t *row, int bits, int k, __m256i z) {
    __m256i w;
    if (bits == 8) {
        w = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(row + k)));
    } else {
        __m128i b = _mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)(row + (k >> 1))));
        __m128i lo = _mm_and_si128(b, _mm_set1_epi16(0xF)), hi = _mm_srli_epi16(b, 4);
        w = _mm256_set_m128i(_mm_unpackhi_epi16(lo, hi), _mm_unpacklo_epi16(lo, hi));
    }
    return _mm256_sub_epi16(w, z);
}

/* dst [len] ← row o's codes from column k0 (n of them) minus zero, then 0s
 * (len a multiple of 16, ≥ n). */
INLINE AVX2 void widen_row(int16_t *dst, int len, const rb_qweight *w, int o, int k0, int n,
                           int16_t zero) {
    const uint8_t *row = w->codes + (size_t)o * w->stride;
    __m256i zv = _mm256_set1_epi16(zero);
    int nv = n & ~15, k = 0;
    for (; k < nv; k += 16)
        _mm256_storeu_si256((__m256i *)(dst + k), load_w(row, w->bits, k0 + k, zv));
    for (; k < n; k++) dst[k] = (int16_t)(rb_qweight_code(w, o, k0 + k) - zero);
    for (; k < len; k++) dst[k] = 0;
}

/* out[q] ← pair q of rows r0..r7 (8 × 8 transpose of 32-bit elements). */
INLINE AVX2 void transpose8(__m256i r[8]) {
    __m256i t[8], u[8];
    for (int i = 0; i < 4; i++) {
        t[2 * i] = _mm256_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm256_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
    }
    for (int h = 0; h < 2; h++) { /* rows 0-3, rows 4-7 */
        __m256i *ti = t + 4 * h, *ui = u + 4 * h;
        ui[0] = _mm256_unpacklo_epi64(ti[0], ti[2]);
        ui[1] = _mm256_unpackhi_epi64(ti[0], ti[2]);
        ui[2] = _mm256_unpacklo_epi64(ti[1], ti[3]);
        ui[3] = _mm256_unpackhi_epi64(ti[1], ti[3]);
    }
    for (int q = 0; q < 4; q++) {
        r[q] = _mm256_permute2x128_si256(u[q], u[q + 4], 0x20);
        r[q + 4] = _mm256_permute2x128_si256(u[q], u[q + 4], 0x31);
    }
}

AVX2 void rb_qgemm_widen_avx2(int16_t *wb, const rb_qweight *w, int o0, int nt, int k0, int n,
                              const int16_t *z) {
    int kp = rb_qgemm_avx2_pairs(n), len = 2 * kp;
    int16_t rows[8][2 * (RB_QGEMM_CHUNK_MAX / 2 + 8)] __attribute__((aligned(32)));
    for (int j0 = 0; j0 < nt; j0 += 8) { /* 8 rows: half a panel */
        for (int r = 0; r < 8; r++) {
            if (j0 + r < nt)
                widen_row(rows[r], len, w, o0 + j0 + r, k0, n, z[j0 + r]);
            else
                memset(rows[r], 0, sizeof(int16_t) * (size_t)len);
        }
        int16_t *panel = wb + (size_t)(j0 / 16) * kp * 32 + (j0 % 16) * 2;
        for (int q0 = 0; q0 < kp; q0 += 8) {
            __m256i v[8];
            for (int r = 0; r < 8; r++)
                v[r] = _mm256_load_si256((const __m256i *)(rows[r] + 2 * q0));
            transpose8(v);
            for (int q = 0; q < 8; q++)
                _mm256_storeu_si256((__m256i *)(panel + (size_t)(q0 + q) * 32), v[q]);
        }
    }
    if (nt % 16 && nt % 16 <= 8) { /* the last panel's second half: zero rows */
        int16_t *panel = wb + (size_t)(nt / 16) * kp * 32 + 16;
        for (int q = 0; q < kp; q++) memset(panel + (size_t)q * 32, 0, 32);
    }
}

/* c[i][h] += Σ over the chunk's n columns of a[i][k] · panel rows 8h..8h+7
 * at k, for i < MT (MT ≤ 4 here; 6 in kern6 below). */
INLINE AVX2 void kern(int MT, __m256i c[][2], const int16_t *a, size_t lda, const int16_t *wp,
                      int n) {
    for (int q = 0; q < n / 2; q++) {
        __m256i w0 = _mm256_loadu_si256((const __m256i *)(wp + (size_t)q * 32));
        __m256i w1 = _mm256_loadu_si256((const __m256i *)(wp + (size_t)q * 32 + 16));
#pragma GCC unroll 4
        for (int i = 0; i < MT; i++) {
            int32_t pair;
            memcpy(&pair, a + (size_t)i * lda + 2 * q, sizeof pair);
            __m256i b = _mm256_set1_epi32(pair);
            c[i][0] = _mm256_add_epi32(c[i][0], _mm256_madd_epi16(b, w0));
            c[i][1] = _mm256_add_epi32(c[i][1], _mm256_madd_epi16(b, w1));
        }
    }
}

/* kern for 6 tokens, written out: 12 accumulators (ymm4-15), the two
 * weight vectors (ymm0-1), a broadcast and a product (ymm2-3) are the 16
 * registers, and the compiler's own schedule of the same loop spilled
 * accumulators to the stack (W8A8 at 4096² on Zen 3: 483 against 289 ms). */
INLINE AVX2 void kern6(__m256i c[][2], const int16_t *a, size_t lda, const int16_t *wp, int n) {
    long ld = (long)(lda * sizeof(int16_t)), count = n / 2;
    const int16_t *p = a, *p3 = a + 3 * lda;
    if (count == 0) return;
#define RB_QGEMM_ROW(ADDR, C0, C1)                                                                 \
    "vpbroadcastd " ADDR ", %%ymm2\n\t"                                                             \
    "vpmaddwd %%ymm0, %%ymm2, %%ymm3\n\t"                                                          \
    "vpaddd %%ymm3, %%" C0 ", %%" C0 "\n\t"                                                         \
    "vpmaddwd %%ymm1, %%ymm2, %%ymm2\n\t"                                                          \
    "vpaddd %%ymm2, %%" C1 ", %%" C1 "\n\t"
#define RB_QGEMM_ACC(OP)                                                                            \
    OP(0, "ymm4") OP(32, "ymm5") OP(64, "ymm6") OP(96, "ymm7") OP(128, "ymm8") OP(160, "ymm9")     \
    OP(192, "ymm10") OP(224, "ymm11") OP(256, "ymm12") OP(288, "ymm13") OP(320, "ymm14")            \
    OP(352, "ymm15")
#define RB_QGEMM_LOAD(OFF, R) "vmovdqu " #OFF "(%[c]), %%" R "\n\t"
#define RB_QGEMM_STORE(OFF, R) "vmovdqu %%" R ", " #OFF "(%[c])\n\t"
    __asm__ volatile(RB_QGEMM_ACC(RB_QGEMM_LOAD)
                     "1:\n\t"
                     "vmovdqu (%[wp]), %%ymm0\n\t"
                     "vmovdqu 32(%[wp]), %%ymm1\n\t"
                     RB_QGEMM_ROW("(%[p])", "ymm4", "ymm5")
                     RB_QGEMM_ROW("(%[p],%[ld],1)", "ymm6", "ymm7")
                     RB_QGEMM_ROW("(%[p],%[ld],2)", "ymm8", "ymm9")
                     RB_QGEMM_ROW("(%[p3])", "ymm10", "ymm11")
                     RB_QGEMM_ROW("(%[p3],%[ld],1)", "ymm12", "ymm13")
                     RB_QGEMM_ROW("(%[p3],%[ld],2)", "ymm14", "ymm15")
                     "add $64, %[wp]\n\t"
                     "add $4, %[p]\n\t"
                     "add $4, %[p3]\n\t"
                     "dec %[count]\n\t"
                     "jnz 1b\n\t"
                     RB_QGEMM_ACC(RB_QGEMM_STORE)
                     : [wp] "+r"(wp), [p] "+r"(p), [p3] "+r"(p3), [count] "+r"(count)
                     : [ld] "r"(ld), [c] "r"(c)
                     : "memory", "cc", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6",
                       "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14",
                       "xmm15");
#undef RB_QGEMM_STORE
#undef RB_QGEMM_LOAD
#undef RB_QGEMM_ACC
#undef RB_QGEMM_ROW
}

/* acc[i][0..15] (first: =, else +=) Σ_k a[i][k] · panel row (0..15) at k,
 * for i < mt ≤ 6. */
INLINE AVX2 void panel_rows(int mt, int32_t *acc, int ldacc, const int16_t *a, size_t lda,
                            const int16_t *wp, int n, int first) {
    __m256i c[6][2];
    for (int i = 0; i < 6; i++) c[i][0] = c[i][1] = _mm256_setzero_si256();
    switch (mt) {
    case 1: kern(1, c, a, lda, wp, n); break;
    case 2: kern(2, c, a, lda, wp, n); break;
    case 3: kern(3, c, a, lda, wp, n); break;
    case 4: kern(4, c, a, lda, wp, n); break;
    case 5: kern(4, c, a, lda, wp, n), kern(1, c + 4, a + 4 * lda, lda, wp, n); break;
    default: kern6(c, a, lda, wp, n); break;
    }
    if (n % 2) { /* the last column alone; its pair's second weight is 0 */
        const int16_t *wl = wp + (size_t)(n / 2) * 32;
        __m256i w0 = _mm256_loadu_si256((const __m256i *)wl);
        __m256i w1 = _mm256_loadu_si256((const __m256i *)(wl + 16));
        for (int i = 0; i < mt; i++) {
            __m256i b = _mm256_set1_epi32((uint16_t)a[(size_t)i * lda + n - 1]);
            c[i][0] = _mm256_add_epi32(c[i][0], _mm256_madd_epi16(b, w0));
            c[i][1] = _mm256_add_epi32(c[i][1], _mm256_madd_epi16(b, w1));
        }
    }
    for (int i = 0; i < mt; i++)
        for (int h = 0; h < 2; h++) {
            __m256i *dst = (__m256i *)(acc + (size_t)i * ldacc + 8 * h);
            __m256i sum = first ? c[i][h] : _mm256_add_epi32(_mm256_loadu_si256(dst), c[i][h]);
            _mm256_storeu_si256(dst, sum);
        }
}

AVX2 void rb_qgemm_block_avx2(int32_t *acc, int ldacc, const int16_t *a, size_t lda,
                              const int16_t *wb, int mt, int nt, int n, int first) {
    int kp = rb_qgemm_avx2_pairs(n);
    for (int p = 0; p < (nt + 15) / 16; p++) {
        const int16_t *wp = wb + (size_t)p * kp * 32;
        for (int i = 0; i < mt; i += 6)
            panel_rows(mt - i < 6 ? mt - i : 6, acc + (size_t)i * ldacc + 16 * p, ldacc,
                       a + (size_t)i * lda, lda, wp, n, first);
    }
}

AVX2 void rb_qgemm_rescale_avx2(float *y, size_t ldy, const int32_t *acc, int ldacc, int mt, int nt,
                                const float *sa, size_t lds, const float *sw) {
    for (int i = 0; i < mt; i++) {
        float *yr = y + (size_t)i * ldy;
        const int32_t *ar = acc + (size_t)i * ldacc;
        __m256 s_a = _mm256_set1_ps(sa[(size_t)i * lds]);
        int j = 0;
        for (; j + 8 <= nt; j += 8) {
            __m256 s = _mm256_mul_ps(s_a, _mm256_loadu_ps(sw + j));
            __m256 dot = _mm256_cvtepi32_ps(_mm256_loadu_si256((const __m256i *)(ar + j)));
            __m256 v = _mm256_mul_ps(dot, s);
            _mm256_storeu_ps(yr + j, _mm256_add_ps(_mm256_loadu_ps(yr + j), v));
        }
        for (; j < nt; j++) yr[j] = rb_qgemm_rescale(yr[j], ar[j], sa[(size_t)i * lds], sw[j]);
    }
}
#endif
