/* The AVX2 micro-kernel of kernels/qgemm.h: int8 or int4 weight codes are
 * widened to int16 (minus the zero point), multiplied with int16 activations
 * by vpmaddwd (exact: pairs of int16 products summed into int32, no
 * saturation) and accumulated in int32.  Compiled for AVX2 by function
 * attribute; qgemm.c calls it only when the CPU has AVX2. */
#include "kernels/qgemm_avx2.h"

#if RB_QGEMM_HAVE_AVX2
#include <immintrin.h>

#include "kernels/qgemm_common.h"

#define AVX2 __attribute__((target("avx2")))

/* 16 weight codes of a row from column k (k even for 4-bit), minus zero. */
static inline AVX2 __attribute__((always_inline)) __m256i
load_w(const uint8_t *row, int bits, int k, __m256i z) {
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

static inline AVX2 __attribute__((always_inline)) int32_t hsum(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
    return _mm_cvtsi128_si32(s);
}

/* acc[i][j] += Σ_{k < n} a[i][k]·wb[j][k] for i < MT, j < NT (int16 × int16). */
static inline AVX2 __attribute__((always_inline)) void
kern(int MT, int NT, int32_t *acc, int ldacc, const int16_t *a, size_t lda, const int16_t *wb,
     int ldw, int n) {
    __m256i c[4][2];
    for (int i = 0; i < MT; i++)
        for (int j = 0; j < NT; j++) c[i][j] = _mm256_setzero_si256();
    int nv = n & ~15;
    for (int k = 0; k < nv; k += 16) {
        __m256i wv[2];
        for (int j = 0; j < NT; j++)
            wv[j] = _mm256_loadu_si256((const __m256i *)(wb + (size_t)j * ldw + k));
        for (int i = 0; i < MT; i++) {
            __m256i av = _mm256_loadu_si256((const __m256i *)(a + (size_t)i * lda + k));
            for (int j = 0; j < NT; j++)
                c[i][j] = _mm256_add_epi32(c[i][j], _mm256_madd_epi16(av, wv[j]));
        }
    }
    for (int i = 0; i < MT; i++)
        for (int j = 0; j < NT; j++) {
            int32_t s = hsum(c[i][j]);
            for (int k = nv; k < n; k++)
                s += (int32_t)a[(size_t)i * lda + k] * wb[(size_t)j * ldw + k];
            acc[(size_t)i * ldacc + j] += s;
        }
}

AVX2 void rb_qgemm_widen_avx2(int16_t *wb, int ldw, const rb_qweight *w, int o0, int nt, int k0,
                              int n, const int16_t *z) {
    int nv = n & ~15;
    for (int j = 0; j < nt; j++) {
        const uint8_t *row = w->codes + (size_t)(o0 + j) * w->stride;
        __m256i zv = _mm256_set1_epi16(z[j]);
        int16_t *dst = wb + (size_t)j * ldw;
        for (int k = 0; k < nv; k += 16)
            _mm256_storeu_si256((__m256i *)(dst + k), load_w(row, w->bits, k0 + k, zv));
        for (int k = nv; k < n; k++) dst[k] = (int16_t)(rb_qweight_code(w, o0 + j, k0 + k) - z[j]);
    }
}

AVX2 void rb_qgemm_block_avx2(int32_t *acc, int ldacc, const int16_t *a, size_t lda,
                              const int16_t *wb, int ldw, int mt, int nt, int n) {
    for (int i = 0; i < mt; i += 4) {
        int mi = mt - i < 4 ? mt - i : 4;
        for (int j = 0; j < nt; j += 2) {
            int32_t *ac = acc + (size_t)i * ldacc + j;
            const int16_t *ai = a + (size_t)i * lda, *wj = wb + (size_t)j * ldw;
            if (mi == 4 && nt - j >= 2)
                kern(4, 2, ac, ldacc, ai, lda, wj, ldw, n);
            else if (nt - j >= 2)
                for (int ii = 0; ii < mi; ii++)
                    kern(1, 2, ac + (size_t)ii * ldacc, ldacc, ai + (size_t)ii * lda, lda, wj, ldw, n);
            else
                for (int ii = 0; ii < mi; ii++)
                    kern(1, 1, ac + (size_t)ii * ldacc, ldacc, ai + (size_t)ii * lda, lda, wj, ldw, n);
        }
    }
}
#endif
