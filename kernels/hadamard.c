/* Fast Hadamard transforms (kernels/hadamard.h).
 *
 * A row of n·inner floats is [k][2^m][inner]: k chunks of M = 2^m·inner
 * contiguous floats.  rb_hadamard_apply does, for a group of rows at a time:
 *   1. the Walsh-Hadamard transform along the 2^m axis of every chunk:
 *      butterflies (u, v) -> (u+v, u-v) between floats d = h·inner apart,
 *      h = 1, 2, 4, ..., each stage one pass over the whole group (a stage's
 *      groups of 2d floats never cross a chunk);
 *      - stages with d < 16 (inner ∈ {1, 2, 4, 8}) inside 16-float registers
 *        with shuffles (AVX-512; two 8-float halves on AVX2);
 *      - the others two at a time (radix 4) over contiguous vectors;
 *      - the stages with d below min(M, 4096 floats) span by span (~16 KiB,
 *        in L1), the rest over the whole group;
 *   2. when k > 1, Y = B_k·X along the k axis (X a row as [k][M]): the columns
 *      (row, offset in [0, M)) are gathered in tiles [k][32], each multiplied
 *      by B_k (±1 as floats; 8 outputs × 32 columns in registers on AVX-512,
 *      2 × 32 on AVX2, like a GEMM micro-kernel) and scattered back; the
 *      scratch tiles are allocated per call, one pair per thread.
 *   The 1/√n goes into the scatter, or into the last butterfly pass (k = 1).
 * Rows are split over OpenMP threads in fixed groups (the rows whose columns
 * share tiles, and short rows batched to ~4096 floats); with fewer groups than
 * threads (k > 1), the butterflies go row by row and then the tiles are
 * shared out.  Every column goes through the same operations whatever tile
 * or thread it lands in, so the result does not depend on the number of
 * threads. */
#include "kernels/hadamard.h"

#include <math.h>
#include <omp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/simd.h"

#define TILE 32            /* columns per tile of the base multiply */
#define FWHT_BLOCK 4096    /* floats transformed together while in L1 */

/* ---- sizes ----------------------------------------------------------------- */

/* The factorisation of n with the smallest reachable base k (1 or not a
 * power of two), or 0 when none. */
static int choose(int n, int *k, int *m) {
    if (n < 1) return 0;
    int top = 0;
    while (top < 30 && n % (1 << (top + 1)) == 0) top++;
    for (int e = top; e >= 0; e--) {
        int kk = n >> e;
        if (kk > RB_HADAMARD_MAX_BASE) break;
        if ((kk == 1 || (kk & (kk - 1))) && rb_hadamard_order_info(kk, NULL, NULL) == RB_OK) {
            *k = kk;
            *m = e;
            return 1;
        }
    }
    return 0;
}

void rb_hadamard_nearest(int n, int *below, int *above) {
    int k, m;
    *below = *above = 0;
    for (int v = n - 1; v >= 1; v--)
        if (choose(v, &k, &m)) {
            *below = v;
            break;
        }
    for (int v = n < 0 ? 1 : n + 1; v > 0 && v <= (1 << 30); v++)
        if (choose(v, &k, &m)) {
            *above = v;
            break;
        }
}

static int unsupported(int n, rb_error *err) {
    if (n < 1) return rb_error_set(err, RB_EINVAL, "Hadamard size %d is not supported: sizes start at 1", n);
    int t = 0, u = n;
    while (u % 2 == 0) {
        u /= 2;
        t++;
    }
    int below, above;
    rb_hadamard_nearest(n, &below, &above);
    char why[300];
    if (t < 2)
        snprintf(why, sizeof why, "Hadamard matrices exist only for orders 1, 2 and multiples of 4");
    else
        snprintf(why, sizeof why,
                 "no base order k = %d·2^j (2 <= j <= %d, k <= %d) is reached by Paley I (k-1 a prime "
                 "power), Paley II (k/2-1 a prime power), Williamson (156, 172) or a Kronecker "
                 "product of reachable orders",
                 u, t, RB_HADAMARD_MAX_BASE);
    return rb_error_set(err, RB_EINVAL,
                        "Hadamard size %d = %d·2^%d is not supported: %s (the transforms need n = "
                        "k·2^m with a Hadamard base k); nearest supported sizes: %d below, %d above",
                        n, u, t, why, below, above);
}

int rb_hadamard_factor(int n, int *k, int *m, rb_error *err) {
    return choose(n, k, m) ? RB_OK : unsupported(n, err);
}

int rb_hadamard_describe(int n, char *buf, size_t cap) {
    int k, m;
    rb_error err = {0};
    if (cap) buf[0] = 0;
    int rc = rb_hadamard_factor(n, &k, &m, &err);
    if (rc) {
        snprintf(buf, cap, "%s", err.msg);
        return rc;
    }
    char how[400];
    rb_hadamard_order_describe(k, how, sizeof how);
    if (k == 1) snprintf(buf, cap, "%d = 2^%d (Sylvester)", n, m);
    else if (m == 0) snprintf(buf, cap, "%d = %s", n, how);
    else snprintf(buf, cap, "%d = %d · 2^%d, %d = %s", n, k, m, k, how);
    return RB_OK;
}

/* ---- Walsh-Hadamard butterflies ------------------------------------------- */

/* Stages d and 2d (radix 4) over len floats in blocks of 4d; outputs × s
 * when scaled. */
RB_SIMD_INLINE void pass4_body(float *x, size_t len, size_t d, int scaled, float s) {
    for (size_t o = 0; o < len; o += 4 * d) {
        float *restrict p0 = x + o, *restrict p1 = p0 + d, *restrict p2 = p1 + d,
                        *restrict p3 = p2 + d;
        if (!scaled) {
#pragma omp simd
            for (size_t t = 0; t < d; t++) {
                float a = p0[t] + p1[t], b = p0[t] - p1[t], c = p2[t] + p3[t], e = p2[t] - p3[t];
                p0[t] = a + c;
                p1[t] = b + e;
                p2[t] = a - c;
                p3[t] = b - e;
            }
        } else {
#pragma omp simd
            for (size_t t = 0; t < d; t++) {
                float a = p0[t] + p1[t], b = p0[t] - p1[t], c = p2[t] + p3[t], e = p2[t] - p3[t];
                p0[t] = (a + c) * s;
                p1[t] = (b + e) * s;
                p2[t] = (a - c) * s;
                p3[t] = (b - e) * s;
            }
        }
    }
}
RB_SIMD_DISPATCH_VOID(pass4, (float *x, size_t len, size_t d, int scaled, float s), (x, len, d, scaled, s))

/* Stages d, 2d and 4d (radix 8) over len floats in blocks of 8d. */
#define RADIX8_BODY(SCALE)                                                                   \
    for (size_t t = 0; t < d; t++) {                                                         \
        float a0 = p0[t] + p1[t], a1 = p0[t] - p1[t], a2 = p2[t] + p3[t], a3 = p2[t] - p3[t]; \
        float a4 = p4[t] + p5[t], a5 = p4[t] - p5[t], a6 = p6[t] + p7[t], a7 = p6[t] - p7[t]; \
        float b0 = a0 + a2, b2 = a0 - a2, b1 = a1 + a3, b3 = a1 - a3;                        \
        float b4 = a4 + a6, b6 = a4 - a6, b5 = a5 + a7, b7 = a5 - a7;                        \
        p0[t] = SCALE(b0 + b4);                                                              \
        p4[t] = SCALE(b0 - b4);                                                              \
        p1[t] = SCALE(b1 + b5);                                                              \
        p5[t] = SCALE(b1 - b5);                                                              \
        p2[t] = SCALE(b2 + b6);                                                              \
        p6[t] = SCALE(b2 - b6);                                                              \
        p3[t] = SCALE(b3 + b7);                                                              \
        p7[t] = SCALE(b3 - b7);                                                              \
    }
#define RB_AS_IS(v) (v)
#define RB_SCALED(v) ((v) * s)

RB_SIMD_INLINE void pass8_body(float *x, size_t len, size_t d, int scaled, float s) {
    for (size_t o = 0; o < len; o += 8 * d) {
        float *restrict p0 = x + o, *restrict p1 = p0 + d, *restrict p2 = p1 + d,
                        *restrict p3 = p2 + d, *restrict p4 = p3 + d, *restrict p5 = p4 + d,
                        *restrict p6 = p5 + d, *restrict p7 = p6 + d;
        if (!scaled) {
#pragma omp simd
            RADIX8_BODY(RB_AS_IS)
        } else {
#pragma omp simd
            RADIX8_BODY(RB_SCALED)
        }
    }
}
RB_SIMD_DISPATCH_VOID(pass8, (float *x, size_t len, size_t d, int scaled, float s), (x, len, d, scaled, s))

/* Stage d alone (radix 2) over len floats in blocks of 2d. */
RB_SIMD_INLINE void pass2_body(float *x, size_t len, size_t d, int scaled, float s) {
    for (size_t o = 0; o < len; o += 2 * d) {
        float *restrict p0 = x + o, *restrict p1 = p0 + d;
        if (!scaled) {
#pragma omp simd
            for (size_t t = 0; t < d; t++) {
                float a = p0[t], b = p1[t];
                p0[t] = a + b;
                p1[t] = a - b;
            }
        } else {
#pragma omp simd
            for (size_t t = 0; t < d; t++) {
                float a = p0[t], b = p1[t];
                p0[t] = (a + b) * s;
                p1[t] = (a - b) * s;
            }
        }
    }
}
RB_SIMD_DISPATCH_VOID(pass2, (float *x, size_t len, size_t d, int scaled, float s), (x, len, d, scaled, s))

/* Stages d = first, 2·first, ... < 16 inside every 16-float block of x
 * (len a multiple of 16, first ∈ {1, 2, 4, 8}); outputs × s when scaled.
 * Stage d maps v to shuffle(v, i ^ d) + v·sign, sign_i = -1 where i & d. */
#if defined(__GNUC__) && !defined(__clang__)
#define RB_HAVE_SHUFFLE 1
typedef float v16f __attribute__((vector_size(64)));
typedef int v16i __attribute__((vector_size(64)));
typedef float v8f __attribute__((vector_size(32)));
typedef int v8i __attribute__((vector_size(32)));

#if defined(__x86_64__)
__attribute__((target("avx512f")))
static void small_stages_avx512(float *x, size_t len, int first, int scaled, float s) {
    static const v16i perm[4] = {{1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14},
                                 {2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13},
                                 {4, 5, 6, 7, 0, 1, 2, 3, 12, 13, 14, 15, 8, 9, 10, 11},
                                 {8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7}};
    static const v16f sign[4] = {{1, -1, 1, -1, 1, -1, 1, -1, 1, -1, 1, -1, 1, -1, 1, -1},
                                 {1, 1, -1, -1, 1, 1, -1, -1, 1, 1, -1, -1, 1, 1, -1, -1},
                                 {1, 1, 1, 1, -1, -1, -1, -1, 1, 1, 1, 1, -1, -1, -1, -1},
                                 {1, 1, 1, 1, 1, 1, 1, 1, -1, -1, -1, -1, -1, -1, -1, -1}};
    int st0 = first == 1 ? 0 : first == 2 ? 1 : first == 4 ? 2 : 3;
    for (size_t o = 0; o < len; o += 16) {
        v16f v;
        memcpy(&v, x + o, sizeof v);
        for (int st = st0; st < 4; st++) v = __builtin_shuffle(v, perm[st]) + v * sign[st];
        if (scaled) v *= s;
        memcpy(x + o, &v, sizeof v);
    }
}
#endif

/* Two 8-float halves: stages 1, 2, 4 by shuffles inside each, stage 8 between
 * them.  Native on AVX2 (and AVX-512); the baseline clone lowers it. */
RB_SIMD_INLINE void small_stages_v8_body(float *x, size_t len, int first, int scaled, float s) {
    static const v8i perm[3] = {{1, 0, 3, 2, 5, 4, 7, 6}, {2, 3, 0, 1, 6, 7, 4, 5}, {4, 5, 6, 7, 0, 1, 2, 3}};
    static const v8f sign[3] = {{1, -1, 1, -1, 1, -1, 1, -1}, {1, 1, -1, -1, 1, 1, -1, -1},
                                {1, 1, 1, 1, -1, -1, -1, -1}};
    int st0 = first == 1 ? 0 : first == 2 ? 1 : first == 4 ? 2 : 3;
    for (size_t o = 0; o < len; o += 16) {
        v8f lo, hi;
        memcpy(&lo, x + o, sizeof lo);
        memcpy(&hi, x + o + 8, sizeof hi);
        for (int st = st0; st < 3; st++) {
            lo = __builtin_shuffle(lo, perm[st]) + lo * sign[st];
            hi = __builtin_shuffle(hi, perm[st]) + hi * sign[st];
        }
        v8f a = lo + hi, b = lo - hi;
        if (scaled) {
            a *= s;
            b *= s;
        }
        memcpy(x + o, &a, sizeof a);
        memcpy(x + o + 8, &b, sizeof b);
    }
}
RB_SIMD_DISPATCH_VOID(small_stages_v8, (float *x, size_t len, int first, int scaled, float s), (x, len, first, scaled, s))
#endif

static void small_stages(float *x, size_t len, int first, int scaled, float s) {
#if defined(RB_HAVE_SHUFFLE) && defined(__x86_64__)
    if (__builtin_cpu_supports("avx512f")) {
        small_stages_avx512(x, len, first, scaled, s);
        return;
    }
#endif
#if defined(RB_HAVE_SHUFFLE)
    small_stages_v8(x, len, first, scaled, s);
#else
    for (int d = first; d < 16; d *= 2) pass2(x, len, (size_t)d, scaled && 2 * d == 16, s);
#endif
}

/* Passes for stages d = d0, 2·d0, ... < d_end over len floats (radix 4, one
 * radix-2 pass first when the count is odd); the last pass scales when
 * scaled. */
static void passes(float *x, size_t len, size_t d0, size_t d_end, int scaled, float s) {
    int count = 0;
    for (size_t d = d0; d < d_end; d *= 2) count++;
    size_t d = d0;
    /* radix 8 while possible, then one radix-4 or radix-2 pass */
    for (; count >= 3 && count != 4; count -= 3, d *= 8) pass8(x, len, d, scaled && count == 3, s);
    for (; count >= 2; count -= 2, d *= 4) pass4(x, len, d, scaled && count == 2, s);
    if (count == 1) pass2(x, len, d, scaled, s);
}

/* The Walsh-Hadamard transform of order L of every chunk [L][w] of x (len
 * floats, chunks of M = L·w contiguous floats, w per element); outputs × s
 * when scaled.  Stage d pairs floats d apart inside aligned groups of 2d ≤ M,
 * so one pass over all of x does a stage for every chunk.  The stages below
 * `block` (w·2^j ≤ min(M, FWHT_BLOCK)) run span by span (about FWHT_BLOCK
 * floats, in L1), the rest over all of x. */
static void fwht(float *x, size_t len, size_t M, int w, int scaled, float s) {
    if (M == (size_t)w) { /* L = 1 */
        if (scaled)
            for (size_t i = 0; i < len; i++) x[i] *= s;
        return;
    }
    int fast_small = (w == 1 || w == 2 || w == 4 || w == 8) && M >= 16;
    size_t block = 2 * (size_t)w;
    while (2 * block <= M && 2 * block <= FWHT_BLOCK) block *= 2;
    size_t span = block >= FWHT_BLOCK ? block : FWHT_BLOCK / block * block;
    int last_in_span = block == M;
    for (size_t o = 0; o < len; o += span) {
        size_t n = len - o < span ? len - o : span, d = (size_t)w;
        if (fast_small) {
            small_stages(x + o, n, w, scaled && last_in_span && block == 16, s);
            d = 16;
        }
        if (d < block) passes(x + o, n, d, block, scaled && last_in_span, s);
    }
    if (!last_in_span) passes(x, len, block, M, scaled, s);
}

/* ---- Y = B·X along the k axis ---------------------------------------------- */

#if defined(__GNUC__)
typedef float tile_vec __attribute__((vector_size(64)));
#define TV (TILE / 16)

/* Q[a0..a0+R) = Bf[a0..a0+R)·P for R output rows (R × TV accumulators). */
#define BASE_BLOCK(R)                                                                         \
    do {                                                                                      \
        tile_vec acc[R][TV];                                                                  \
        for (int i = 0; i < R; i++)                                                           \
            for (int v = 0; v < TV; v++) acc[i][v] = (tile_vec){0};                           \
        const float *brow = Bf + (size_t)a * k;                                               \
        for (int b = 0; b < k; b++) {                                                         \
            tile_vec pv[TV];                                                                  \
            for (int v = 0; v < TV; v++) memcpy(&pv[v], P + (size_t)b * TILE + 16 * v, 64);   \
            for (int i = 0; i < R; i++) {                                                     \
                float sg = brow[(size_t)i * k + b];                                           \
                for (int v = 0; v < TV; v++) acc[i][v] += sg * pv[v];                         \
            }                                                                                 \
        }                                                                                     \
        for (int i = 0; i < R; i++)                                                           \
            for (int v = 0; v < TV; v++)                                                      \
                memcpy(Q + (size_t)(a + i) * TILE + 16 * v, &acc[i][v], 64);                 \
    } while (0)

/* Q[k][TILE] = Bf[k][k]·P[k][TILE]; k a multiple of 4.  Every output is
 * accumulated over b = 0, 1, ..., k-1 in order whatever the blocking or
 * vector width, and the AVX2 and AVX-512 variants both fuse each update
 * into an FMA, so those two give the same bits (the baseline build rounds
 * the product first).  Chosen at run time by CPU feature like small_stages:
 *   AVX-512: 8 output rows × 2 zmm (16 of the 32 registers);
 *   AVX2:    2 output rows × 4 ymm (64-byte vectors spilled on every
 *            update there: 3-4× slower);
 *   else:    the baseline build of the 8-row blocks. */
RB_SIMD_INLINE void base_tile_generic_body(float *restrict Q, const float *restrict P,
                                           const float *restrict Bf, int k) {
    int a = 0;
    for (; a + 8 <= k; a += 8) BASE_BLOCK(8);
    for (; a < k; a += 4) BASE_BLOCK(4);
}
RB_SIMD_DISPATCH_VOID(base_tile_generic,
                      (float *restrict Q, const float *restrict P, const float *restrict Bf, int k),
                      (Q, P, Bf, k))

#if defined(__x86_64__)
typedef float tile_vec8 __attribute__((vector_size(32)));
#define TV8 (TILE / 8)
/* Q rows [a, a + R) with 8-float vectors: R × TV8 accumulators. */
#define BASE_BLOCK8(R)                                                                        \
    do {                                                                                      \
        tile_vec8 acc[R][TV8];                                                                \
        for (int i = 0; i < R; i++)                                                           \
            for (int v = 0; v < TV8; v++) acc[i][v] = (tile_vec8){0};                         \
        const float *brow = Bf + (size_t)a * k;                                               \
        for (int b = 0; b < k; b++) {                                                         \
            tile_vec8 pv[TV8];                                                                \
            for (int v = 0; v < TV8; v++) memcpy(&pv[v], P + (size_t)b * TILE + 8 * v, 32);   \
            for (int i = 0; i < R; i++) {                                                     \
                float sg = brow[(size_t)i * k + b];                                           \
                for (int v = 0; v < TV8; v++) acc[i][v] += sg * pv[v];                        \
            }                                                                                 \
        }                                                                                     \
        for (int i = 0; i < R; i++)                                                           \
            for (int v = 0; v < TV8; v++)                                                     \
                memcpy(Q + (size_t)(a + i) * TILE + 8 * v, &acc[i][v], 32);                  \
    } while (0)

__attribute__((target("avx2,fma")))
static void base_tile_avx2(float *restrict Q, const float *restrict P, const float *restrict Bf, int k) {
    for (int a = 0; a < k; a += 2) BASE_BLOCK8(2);
}
#endif

static void base_tile(float *restrict Q, const float *restrict P, const float *restrict Bf, int k) {
#if defined(__x86_64__)
    if (!__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        base_tile_avx2(Q, P, Bf, k);
        return;
    }
#endif
    base_tile_generic(Q, P, Bf, k);
}
#else
static void base_tile(float *restrict Q, const float *restrict P, const float *restrict Bf, int k) {
    for (int a = 0; a < k; a++) {
        float acc[TILE] = {0};
        for (int b = 0; b < k; b++)
            for (int t = 0; t < TILE; t++) acc[t] += Bf[(size_t)a * k + b] * P[(size_t)b * TILE + t];
        memcpy(Q + (size_t)a * TILE, acc, sizeof acc);
    }
}
#endif

/* Row j of a tile of whole rows: P[b][j·M + t] = src[b·M + t], and back
 * (scaled).  Inlined with constant M where the caller knows it. */
static inline __attribute__((always_inline)) void gather_row(float *P, const float *src, int k,
                                                             size_t j, size_t M) {
    for (int b = 0; b < k; b++)
        for (size_t t = 0; t < M; t++) P[(size_t)b * TILE + j * M + t] = src[(size_t)b * M + t];
}

static inline __attribute__((always_inline)) void scatter_row(float *dst, const float *Q, int k,
                                                              size_t j, size_t M, float s) {
    for (int a = 0; a < k; a++)
        for (size_t t = 0; t < M; t++) dst[(size_t)a * M + t] = Q[(size_t)a * TILE + j * M + t] * s;
}

/* The base multiply over columns [c0, c1) of x, c0 a multiple of TILE:
 * column j is (row j / M, offset j % M), its k entries at
 * x[(j / M)·row_len + b·M + j % M].  P and Q: scratch of k·TILE floats each. */
static void base_cols(float *x, size_t c0, size_t c1, size_t row_len, int k, size_t M,
                      const float *Bf, float s, float *P, float *Q) {
    for (size_t s0 = c0; s0 < c1; s0 += TILE) {
        size_t nt = c1 - s0 < TILE ? c1 - s0 : TILE;
        size_t r = s0 / M, c = s0 % M;
        int contiguous = nt == TILE && c + TILE <= M; /* one row, one run */
        int whole_rows = !contiguous && c == 0 && TILE % M == 0; /* nt/M rows, M each */
        float *base = x + r * row_len + c;
        if (contiguous) {
            for (int b = 0; b < k; b++) memcpy(P + (size_t)b * TILE, base + (size_t)b * M, sizeof(float) * TILE);
        } else if (whole_rows) {
            for (size_t j = 0; j < nt / M; j++) switch (M) { /* constant M: unrolled copies */
                case 1: gather_row(P, base + j * row_len, k, j, 1); break;
                case 2: gather_row(P, base + j * row_len, k, j, 2); break;
                case 4: gather_row(P, base + j * row_len, k, j, 4); break;
                case 8: gather_row(P, base + j * row_len, k, j, 8); break;
                default: gather_row(P, base + j * row_len, k, j, M);
                }
            if (nt < TILE)
                for (int b = 0; b < k; b++) memset(P + (size_t)b * TILE + nt, 0, sizeof(float) * (TILE - nt));
        } else {
            for (size_t t = 0; t < TILE; t++) {
                size_t st = s0 + t;
                float *col = t < nt ? x + st / M * row_len + st % M : NULL;
                for (int b = 0; b < k; b++) P[(size_t)b * TILE + t] = col ? col[(size_t)b * M] : 0.0f;
            }
        }
        base_tile(Q, P, Bf, k);
        if (contiguous) {
            for (int a = 0; a < k; a++) {
                float *dst = base + (size_t)a * M;
                const float *src = Q + (size_t)a * TILE;
                for (int t = 0; t < TILE; t++) dst[t] = src[t] * s;
            }
        } else if (whole_rows) {
            for (size_t j = 0; j < nt / M; j++) switch (M) {
                case 1: scatter_row(base + j * row_len, Q, k, j, 1, s); break;
                case 2: scatter_row(base + j * row_len, Q, k, j, 2, s); break;
                case 4: scatter_row(base + j * row_len, Q, k, j, 4, s); break;
                case 8: scatter_row(base + j * row_len, Q, k, j, 8, s); break;
                default: scatter_row(base + j * row_len, Q, k, j, M, s);
                }
        } else {
            for (size_t t = 0; t < nt; t++) {
                size_t st = s0 + t;
                float *col = x + st / M * row_len + st % M;
                for (int a = 0; a < k; a++) col[(size_t)a * M] = Q[(size_t)a * TILE + t] * s;
            }
        }
    }
}

static size_t gcd_size(size_t a, size_t b) { return b ? gcd_size(b, a % b) : a; }

/* H_n (transpose = 0) or H_nᵀ = (B_kᵀ ⊗ S_{2^m})/√n (transpose = 1): the
 * Sylvester butterflies are symmetric, only the base multiply changes. */
static int hadamard_apply(float *x, size_t rows, int n, int inner, int transpose,
                          rb_error *err) {
    int k, m;
    int rc = rb_hadamard_factor(n, &k, &m, err);
    if (rc) return rc;
    if (inner < 1)
        return rb_error_set(err, RB_EINVAL, "Hadamard transform: inner stride %d < 1", inner);
    if (rows == 0 || n == 1) return RB_OK;
    int L = 1 << m;
    size_t M = (size_t)L * inner, row_len = (size_t)n * inner;
    float s = (float)(1.0 / sqrt((double)n));
    const float *Bf = k > 1 ? rb_hadamard_base_f32(k, transpose) : NULL;
    /* scratch of the base multiply: a gathered tile P and its product Q,
     * k·TILE floats each, per thread */
    int threads = omp_get_max_threads();
    size_t per_thread = 2 * (size_t)k * TILE;
    float *scratch = k > 1 ? malloc(sizeof(float) * per_thread * (size_t)threads) : NULL;
    if (k > 1 && (!Bf || !scratch)) {
        free(scratch);
        return rb_error_set(err, RB_ENOMEM, "Hadamard %d: out of memory for the base matrix of order %d", n, k);
    }
    /* rows per group: a multiple of TILE columns when M < TILE, so that tiles
     * never straddle two groups; short rows batched to about FWHT_BLOCK floats */
    size_t group = k > 1 && M % TILE ? TILE / gcd_size(M % TILE, TILE) : 1;
    if (group * row_len < FWHT_BLOCK) group *= FWHT_BLOCK / (group * row_len); /* short rows */
    size_t n_groups = (rows + group - 1) / group, n_tiles = (rows * M + TILE - 1) / TILE;
    double work = (double)rows * row_len * (m + k);
    int par = work > 1 << 16 ? omp_get_max_threads() : 1;
    if (k == 1 || n_groups >= (size_t)par || n_tiles < 2) {
        /* groups of rows: butterflies then the base multiply while in cache */
        long ng = (long)n_groups;
#pragma omp parallel for schedule(static) if (ng > 1 && par > 1)
        for (long g = 0; g < ng; g++) {
            size_t r0 = (size_t)g * group, r1 = r0 + group < rows ? r0 + group : rows;
            fwht(x + r0 * row_len, (r1 - r0) * row_len, M, inner, k == 1, s);
            if (k > 1) {
                float *P = scratch + per_thread * (size_t)omp_get_thread_num();
                base_cols(x, r0 * M, r1 * M, row_len, k, M, Bf, s, P, P + per_thread / 2);
            }
        }
    } else {
        /* fewer groups than threads (e.g. one long row): the tiles of the base
         * multiply are shared out instead */
        long nr = (long)rows, nt = (long)n_tiles;
#pragma omp parallel
        {
#pragma omp for schedule(static)
            for (long r = 0; r < nr; r++) fwht(x + (size_t)r * row_len, row_len, M, inner, 0, s);
#pragma omp for schedule(static)
            for (long t = 0; t < nt; t++) {
                size_t c0 = (size_t)t * TILE, c1 = c0 + TILE < rows * M ? c0 + TILE : rows * M;
                float *P = scratch + per_thread * (size_t)omp_get_thread_num();
                base_cols(x, c0, c1, row_len, k, M, Bf, s, P, P + per_thread / 2);
            }
        }
    }
    free(scratch);
    return RB_OK;
}

int rb_hadamard_apply(float *x, size_t rows, int n, int inner, rb_error *err) {
    return hadamard_apply(x, rows, n, inner, 0, err);
}

int rb_hadamard_apply_t(float *x, size_t rows, int n, int inner, rb_error *err) {
    return hadamard_apply(x, rows, n, inner, 1, err);
}

int rb_hadamard_matrix(int n, float *H, rb_error *err) {
    int k, m;
    int rc = rb_hadamard_factor(n, &k, &m, err);
    if (rc) return rc;
    const signed char *B = rb_hadamard_base(k);
    if (!B) return rb_error_set(err, RB_ENOMEM, "Hadamard %d: out of memory for the base matrix of order %d", n, k);
    int L = 1 << m;
    float s = (float)(1.0 / sqrt((double)n));
    /* H[a·L + b][a'·L + b'] = B[a][a']·(-1)^popcount(b & b')·s, row by row */
#pragma omp parallel for schedule(static) if ((long)n * n > 1 << 18)
    for (int i = 0; i < n; i++) {
        int ai = i >> m, bi = i & (L - 1);
        float *row = H + (size_t)i * n;
        for (int bj = 0; bj < L; bj++) row[bj] = __builtin_parity((unsigned)(bi & bj)) ? -s : s;
        for (int aj = k - 1; aj >= 0; aj--) { /* row[0..L) is still the Sylvester row */
            float *dst = row + (size_t)aj * L;
            if (B[(size_t)ai * k + aj] > 0) {
                if (aj) memcpy(dst, row, sizeof(float) * L);
            } else {
                for (int bj = 0; bj < L; bj++) dst[bj] = -row[bj];
            }
        }
    }
    return RB_OK;
}
