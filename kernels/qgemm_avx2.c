/* The AVX2 micro-kernels of kernels/qgemm.h: int8 or int4 weight codes are
 * widened to int16 (minus the zero point) into panels of column pairs
 * (kernels/qgemm_avx2.h), multiplied with a broadcast pair of int16
 * activations by vpmaddwd (exact: pairs of int16 products summed into int32,
 * no saturation) and accumulated in int32, 6 tokens × 16 rows at a time.
 * For 4-bit codes the u8 path (the end of this file) multiplies s8 quads of
 * the codes with u8 activations by vpmaddubsw instead: half the multiplies
 * and a quarter of the weight bytes of the int16 panels.
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

/* The 6-token asm kernels (kern6, kern6_u8): their 12 accumulators ymm4-15,
 * loaded from and stored to c[6][2] (32 bytes each). */
#define RB_QGEMM_ACC(OP)                                                                            \
    OP(0, "ymm4") OP(32, "ymm5") OP(64, "ymm6") OP(96, "ymm7") OP(128, "ymm8") OP(160, "ymm9")     \
    OP(192, "ymm10") OP(224, "ymm11") OP(256, "ymm12") OP(288, "ymm13") OP(320, "ymm14")            \
    OP(352, "ymm15")
#define RB_QGEMM_LOAD(OFF, R) "vmovdqu " #OFF "(%[c]), %%" R "\n\t"
#define RB_QGEMM_STORE(OFF, R) "vmovdqu %%" R ", " #OFF "(%[c])\n\t"
/* OP(address of token i's activations, its two accumulators) for the 6
 * tokens, rows p, p + ld, p + 2ld, p3 = p + 3ld, ... */
#define RB_QGEMM_TOKENS(OP)                                                                        \
    OP("(%[p])", "ymm4", "ymm5") OP("(%[p],%[ld],1)", "ymm6", "ymm7")                             \
    OP("(%[p],%[ld],2)", "ymm8", "ymm9") OP("(%[p3])", "ymm10", "ymm11")                          \
    OP("(%[p3],%[ld],1)", "ymm12", "ymm13") OP("(%[p3],%[ld],2)", "ymm14", "ymm15")

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
    __asm__ volatile(RB_QGEMM_ACC(RB_QGEMM_LOAD)
                     "1:\n\t"
                     "vmovdqu (%[wp]), %%ymm0\n\t"
                     "vmovdqu 32(%[wp]), %%ymm1\n\t"
                     RB_QGEMM_TOKENS(RB_QGEMM_ROW)
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

/* The u8 tiles' exact correction of a segment's dot products: dot = acc -
 * c·ws[j] - as·wz[j] for token i (c = c_t[i · ldc], as = as_t[i · lda]),
 * wrapping int32 (exact modulo 2^32; the true dot fits). */
typedef struct u8_fix {
    const int32_t *c_t, *as_t, *ws, *wz;
    size_t ldc, lda;
} u8_fix;

/* y[i][j] ← rb_qgemm_rescale(y[i][j], dot, sa[i · lds], sw[j]) with dot =
 * acc[i][j], corrected by fix when it is not NULL. */
INLINE AVX2 void rescale_rows(float *y, size_t ldy, const int32_t *acc, int ldacc, int mt, int nt,
                              const float *sa, size_t lds, const float *sw, const u8_fix *fix) {
    for (int i = 0; i < mt; i++) {
        float *yr = y + (size_t)i * ldy;
        const int32_t *ar = acc + (size_t)i * ldacc;
        __m256 s_a = _mm256_set1_ps(sa[(size_t)i * lds]);
        uint32_t fc = fix ? (uint32_t)fix->c_t[(size_t)i * fix->ldc] : 0;
        uint32_t fa = fix ? (uint32_t)fix->as_t[(size_t)i * fix->lda] : 0;
        __m256i cv = _mm256_set1_epi32((int32_t)fc), av = _mm256_set1_epi32((int32_t)fa);
        int j = 0;
        for (; j + 8 <= nt; j += 8) {
            __m256i d = _mm256_loadu_si256((const __m256i *)(ar + j));
            if (fix) { /* mullo and sub wrap modulo 2^32 */
                d = _mm256_sub_epi32(d, _mm256_mullo_epi32(cv, _mm256_loadu_si256((const __m256i *)(fix->ws + j))));
                d = _mm256_sub_epi32(d, _mm256_mullo_epi32(av, _mm256_loadu_si256((const __m256i *)(fix->wz + j))));
            }
            __m256 s = _mm256_mul_ps(s_a, _mm256_loadu_ps(sw + j));
            __m256 v = _mm256_mul_ps(_mm256_cvtepi32_ps(d), s);
            _mm256_storeu_ps(yr + j, _mm256_add_ps(_mm256_loadu_ps(yr + j), v));
        }
        for (; j < nt; j++) {
            uint32_t d = (uint32_t)ar[j];
            if (fix) d = d - fc * (uint32_t)fix->ws[j] - fa * (uint32_t)fix->wz[j];
            yr[j] = rb_qgemm_rescale(yr[j], (int32_t)d, sa[(size_t)i * lds], sw[j]);
        }
    }
}

AVX2 void rb_qgemm_rescale_avx2(float *y, size_t ldy, const int32_t *acc, int ldacc, int mt, int nt,
                                const float *sa, size_t lds, const float *sw) {
    rescale_rows(y, ldy, acc, ldacc, mt, nt, sa, lds, sw, NULL);
}

/* ---- the u8 path for 4-bit weights (kernels/qgemm_avx2.h) ---------------- */

static const int16_t ones16[16] __attribute__((aligned(32))) = {1, 1, 1, 1, 1, 1, 1, 1,
                                                                 1, 1, 1, 1, 1, 1, 1, 1};

/* wq (the layout of kernels/qgemm_avx2.h, kq = 4·ng quads a panel) ← the
 * 4-bit codes of rows o0..o0+nt-1 (o0 a multiple of 32), columns k0..k0+n-1
 * (n a multiple of 4), from the VNNI copy, whose unit of 32 rows × 4 columns
 * holds rows r and 16 + r in the low and high nibbles of bytes 4r..4r+3:
 * the first 32 bytes are rows 0-7 and 16-23, the next 32 rows 8-15 and
 * 24-31.  Quads from n/4 to kq are zero; ws[j] += row j's sum of the codes
 * (vpmaddubsw with ones: at most 64 quads · 30 in an int16 lane). */
INLINE AVX2 void codes4_panels(uint8_t *wq, int32_t *ws, const rb_qweight *w, int o0, int nt,
                               int k0, int n, int kq) {
    int K = w->cols, nq = n / 4;
    __m256i m = _mm256_set1_epi8(0x0F), ones8 = _mm256_set1_epi8(1);
    __m256i ones = _mm256_load_si256((const __m256i *)ones16);
    for (int pp = 0; pp < (nt + 31) / 32; pp++) { /* 32-row panel of the copy: wq panels 2pp, 2pp+1 */
        const uint8_t *unit = w->vnni + ((size_t)(o0 / 32 + pp) * (K / 4) + (size_t)(k0 / 4)) * 64;
        uint8_t *lo = wq + (size_t)(2 * pp) * kq * 64, *hi = lo + (size_t)kq * 64;
        __m256i s[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(),
                        _mm256_setzero_si256()}; /* rows 0-7, 8-15, 16-23, 24-31 */
        for (int q = 0; q < nq; q++) {
            for (int h = 0; h < 2; h++) {
                __m256i v = _mm256_loadu_si256((const __m256i *)(unit + (size_t)q * 64 + 32 * h));
                __m256i l = _mm256_and_si256(v, m), u = _mm256_and_si256(_mm256_srli_epi16(v, 4), m);
                _mm256_store_si256((__m256i *)(lo + (size_t)q * 64 + 32 * h), l);
                _mm256_store_si256((__m256i *)(hi + (size_t)q * 64 + 32 * h), u);
                s[h] = _mm256_add_epi16(s[h], _mm256_maddubs_epi16(ones8, l));
                s[2 + h] = _mm256_add_epi16(s[2 + h], _mm256_maddubs_epi16(ones8, u));
            }
        }
        for (int q = nq; q < kq; q++) {
            memset(lo + (size_t)q * 64, 0, 64);
            memset(hi + (size_t)q * 64, 0, 64);
        }
        for (int g = 0; g < 4; g++) { /* s[g] lanes: [8 rows][2 pair sums] */
            int32_t rows[8];
            _mm256_storeu_si256((__m256i *)rows, _mm256_madd_epi16(s[g], ones));
            int r0 = 32 * pp + (g % 2) * 8 + (g / 2) * 16;
            for (int r = 0; r < 8 && r0 + r < nt; r++) ws[r0 + r] += rows[r];
        }
    }
}

/* c[i][h] += Σ over ng groups of 16 columns of u[i][k] · panel rows 8h..8h+7
 * at k, for i < R ≤ 6 (the general case; kern6_u8 below is R = 6). */
INLINE AVX2 void kern_u8(int R, __m256i c[][2], const uint8_t *u, size_t ldu, const uint8_t *wq,
                         int ng) {
    __m256i ones = _mm256_load_si256((const __m256i *)ones16);
    for (int g = 0; g < ng; g++) {
        const uint8_t *wg = wq + (size_t)g * 256;
        for (int i = 0; i < R; i++) {
            __m256i s0 = _mm256_setzero_si256(), s1 = _mm256_setzero_si256();
            for (int q = 0; q < 4; q++) {
                int32_t quad;
                memcpy(&quad, u + (size_t)i * ldu + 16 * (size_t)g + 4 * q, sizeof quad);
                __m256i b = _mm256_set1_epi32(quad);
                s0 = _mm256_add_epi16(s0, _mm256_maddubs_epi16(b, _mm256_loadu_si256((const __m256i *)(wg + 64 * q))));
                s1 = _mm256_add_epi16(s1, _mm256_maddubs_epi16(b, _mm256_loadu_si256((const __m256i *)(wg + 64 * q + 32))));
            }
            c[i][0] = _mm256_add_epi32(c[i][0], _mm256_madd_epi16(s0, ones));
            c[i][1] = _mm256_add_epi32(c[i][1], _mm256_madd_epi16(s1, ones));
        }
    }
}

/* kern_u8 for 6 tokens, written out as kern6 is: 12 accumulators
 * (ymm4-15), the two int16 sums of a token (ymm0-1), a broadcast quad
 * (ymm2) and a product (ymm3); the weights and the ones are memory
 * operands. */
INLINE AVX2 void kern6_u8(__m256i c[][2], const uint8_t *u, size_t ldu, const uint8_t *wq, int ng) {
    long ld = (long)ldu, count = ng;
    const uint8_t *p = u, *p3 = u + 3 * ldu;
    if (count == 0) return;
#define RB_U8_QUAD(ADDR, OFF, FIRST)                                                               \
    "vpbroadcastd " ADDR ", %%ymm2\n\t"                                                             \
    FIRST("vpmaddubsw " #OFF "(%[wq]), %%ymm2, %%ymm0\n\t",                                        \
          "vpmaddubsw " #OFF "(%[wq]), %%ymm2, %%ymm3\n\tvpaddw %%ymm3, %%ymm0, %%ymm0\n\t")        \
    FIRST("vpmaddubsw " #OFF "+32(%[wq]), %%ymm2, %%ymm1\n\t",                                     \
          "vpmaddubsw " #OFF "+32(%[wq]), %%ymm2, %%ymm3\n\tvpaddw %%ymm3, %%ymm1, %%ymm1\n\t")
#define RB_U8_SET(A, B) A
#define RB_U8_ADD(A, B) B
#define RB_U8_TOKEN(BASE, C0, C1)                                                                  \
    RB_U8_QUAD(BASE, 0, RB_U8_SET) RB_U8_QUAD("4" BASE, 64, RB_U8_ADD)                            \
    RB_U8_QUAD("8" BASE, 128, RB_U8_ADD) RB_U8_QUAD("12" BASE, 192, RB_U8_ADD)                    \
    "vpmaddwd %[ones], %%ymm0, %%ymm0\n\t"                                                          \
    "vpaddd %%ymm0, %%" C0 ", %%" C0 "\n\t"                                                         \
    "vpmaddwd %[ones], %%ymm1, %%ymm1\n\t"                                                          \
    "vpaddd %%ymm1, %%" C1 ", %%" C1 "\n\t"
    __asm__ volatile(RB_QGEMM_ACC(RB_QGEMM_LOAD)
                     "1:\n\t"
                     RB_QGEMM_TOKENS(RB_U8_TOKEN)
                     "add $256, %[wq]\n\t"
                     "add $16, %[p]\n\t"
                     "add $16, %[p3]\n\t"
                     "dec %[count]\n\t"
                     "jnz 1b\n\t"
                     RB_QGEMM_ACC(RB_QGEMM_STORE)
                     : [wq] "+r"(wq), [p] "+r"(p), [p3] "+r"(p3), [count] "+r"(count)
                     : [ld] "r"(ld), [c] "r"(c), [ones] "m"(*(const __m256i *)ones16)
                     : "memory", "cc", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6",
                       "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14",
                       "xmm15");
#undef RB_U8_TOKEN
#undef RB_U8_ADD
#undef RB_U8_SET
#undef RB_U8_QUAD
}

/* acc[i][16p..16p+15] += the chunk's products for tokens i < mt, panel p. */
INLINE AVX2 void panel_u8(int mt, int32_t *acc, int ldacc, const uint8_t *u, size_t ldu,
                          const uint8_t *wq, int ng) {
    for (int i = 0; i < mt; i += 6) {
        int R = mt - i < 6 ? mt - i : 6;
        __m256i c[6][2];
        for (int t = 0; t < R; t++)
            for (int h = 0; h < 2; h++)
                c[t][h] = _mm256_loadu_si256((const __m256i *)(acc + (size_t)(i + t) * ldacc + 8 * h));
        if (R == 6)
            kern6_u8(c, u + (size_t)i * ldu, ldu, wq, ng);
        else
            kern_u8(R, c, u + (size_t)i * ldu, ldu, wq, ng);
        for (int t = 0; t < R; t++)
            for (int h = 0; h < 2; h++)
                _mm256_storeu_si256((__m256i *)(acc + (size_t)(i + t) * ldacc + 8 * h), c[t][h]);
    }
}

AVX2 void rb_qgemm_tile_u8_avx2(float *y, const rb_qact *a, const rb_qweight *w, const uint8_t *u,
                                size_t ldu, const int32_t *c, const int32_t *asum, int accumulate,
                                int t0, int mt, int o0, int nt, uint8_t *wbuf) {
    enum { OBU = 64 };
    int K = w->cols, N = w->rows, N32 = rb_qgemm_rows32(w), S = rb_qgemm_segment(a, w);
    int nseg = K / S, nga = K / a->group, np = (nt + 15) / 16;
    int32_t acc[RB_QGEMM_U8_TB * OBU], ws[OBU];
    if (!accumulate)
        for (int i = 0; i < mt; i++) memset(y + (size_t)(t0 + i) * N + o0, 0, sizeof(float) * nt);
    for (int s0 = 0; s0 < K; s0 += S) {
        int s = s0 / S, gw = s0 / w->group, ga = s0 / a->group;
        /* the segment's weight zeros and scales, 16 rows a vector (rows32 wide) */
        const int32_t *wz = w->vnni_zero + (size_t)gw * N32 + o0;
        const float *sw = w->vnni_scale + (size_t)gw * N32 + o0;
        memset(acc, 0, sizeof(int32_t) * (size_t)mt * OBU);
        memset(ws, 0, sizeof ws);
        for (int k0 = s0; k0 < s0 + S; k0 += RB_QGEMM_U8_KC) {
            int n = s0 + S - k0 < RB_QGEMM_U8_KC ? s0 + S - k0 : RB_QGEMM_U8_KC;
            int ng = (n + 15) / 16, kq = 4 * ng;
            codes4_panels(wbuf, ws, w, o0, nt, k0, n, kq);
            for (int p = 0; p < np; p++)
                panel_u8(mt, acc + 16 * p, OBU, u + (size_t)t0 * ldu + k0, ldu,
                         wbuf + (size_t)p * kq * 64, ng);
        }
        /* dot = Σ u·wc - c·Σ wc - wz·Σ a, then the rescale of the int16 tiles */
        u8_fix fix = {c + (size_t)t0 * nga + ga, asum + (size_t)t0 * nseg + s, ws, wz,
                      (size_t)nga, (size_t)nseg};
        rescale_rows(y + (size_t)t0 * N + o0, (size_t)N, acc, OBU, mt, nt,
                     a->scale + (size_t)t0 * nga + ga, (size_t)nga, sw, &fix);
    }
}
#undef RB_QGEMM_TOKENS
#undef RB_QGEMM_STORE
#undef RB_QGEMM_LOAD
#undef RB_QGEMM_ACC
#endif
