/* Fast Hadamard transforms (kernels/hadamard.h).
 *
 * A row of n·inner floats is [k][2^m][inner].  rb_hadamard_apply does, per row:
 *   1. the Walsh-Hadamard transform along the 2^m axis of each of the k chunks
 *      of M = 2^m·inner contiguous floats: butterflies (u, v) -> (u+v, u-v)
 *      between float runs d = h·inner apart, h = 1, 2, 4, ...;
 *      - runs shorter than 16 floats (inner ∈ {1, 2, 4, 8}) are done inside
 *        16-float registers with shuffles (AVX-512; 2×8 floats otherwise);
 *      - longer runs two stages at a time (radix 4) over contiguous vectors;
 *      - the stages that fit a 4096-float block are done block by block so
 *        the block stays in L1; the remaining ones go over the whole chunk;
 *   2. when k > 1, Y = B_k·X along the k axis (X = the row as [k][M]): the
 *      columns of all rows are gathered in tiles of 32, each tile [k][32]
 *      multiplied by B_k (±1 as floats, 4 outputs × 32 columns in registers)
 *      and scattered back; the 1/√n goes into the scatter (into the last
 *      butterfly pass when k = 1).
 * Rows are split over OpenMP threads in fixed groups (a group holds the rows
 * whose columns share tiles), and every column is computed by the same
 * operations whatever tile or thread it lands in, so the result does not
 * depend on the number of threads. */
#include "kernels/hadamard.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/simd.h"

#define TILE 32            /* columns per tile of the base multiply */
#define MAX_K 172          /* largest base order */
#define FWHT_BLOCK 4096    /* floats transformed together while in L1 */

/* ---- sizes ----------------------------------------------------------------- */

static int is_base_order(int k) {
    for (const int *o = rb_hadamard_base_orders; *o; o++)
        if (*o == k) return 1;
    return 0;
}

static int unsupported(int n, rb_error *err) {
    char list[160];
    size_t len = 0;
    list[0] = 0;
    for (const int *o = rb_hadamard_base_orders; *o; o++)
        len += (size_t)snprintf(list + len, sizeof list - len, "%s%d", len ? ", " : "", *o);
    return rb_error_set(err, RB_EINVAL,
                        "Hadamard size %d is not supported: need n = k·2^m (m >= 0) with k in {%s}",
                        n, list);
}

int rb_hadamard_factor(int n, int *k, int *m, rb_error *err) {
    if (n < 1) return unsupported(n, err);
    int top = 0;
    while (top < 30 && n % (1 << (top + 1)) == 0) top++;
    for (int e = top; e >= 0; e--)
        if (is_base_order(n >> e)) {
            *k = n >> e;
            *m = e;
            return RB_OK;
        }
    return unsupported(n, err);
}

/* ---- Walsh-Hadamard butterflies ------------------------------------------- */

/* Stages d and 2d (radix 4) over len floats in blocks of 4d; outputs × s
 * when scaled. */
RB_MULTIVERSION
static void pass4(float *x, size_t len, size_t d, int scaled, float s) {
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

/* Stage d alone (radix 2) over len floats in blocks of 2d. */
RB_MULTIVERSION
static void pass2(float *x, size_t len, size_t d, int scaled, float s) {
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
RB_MULTIVERSION
static void small_stages_v8(float *x, size_t len, int first, int scaled, float s) {
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
    if (count % 2) {
        pass2(x, len, d, scaled && count == 1, s);
        d *= 2;
        count--;
    }
    for (; count > 0; count -= 2, d *= 4) pass4(x, len, d, scaled && count == 2, s);
}

/* The Walsh-Hadamard transform of order L of a chunk [L][w] (contiguous,
 * w floats per element); outputs × s when scaled.  The stages with d below
 * `block` (w·2^j ≤ FWHT_BLOCK floats) run block by block, the rest over the
 * whole chunk. */
static void fwht_chunk(float *x, int L, int w, int scaled, float s) {
    size_t len = (size_t)L * w;
    if (L == 1) {
        if (scaled)
            for (size_t i = 0; i < len; i++) x[i] *= s;
        return;
    }
    int fast_small = (w == 1 || w == 2 || w == 4 || w == 8) && len >= 16;
    size_t block = (size_t)w;
    while (block < len && 2 * block <= FWHT_BLOCK) block *= 2;
    if (block == (size_t)w) block = len; /* elements wider than half a block */
    int last_in_block = block == len;
    for (size_t o = 0; o < len; o += block) {
        size_t d = (size_t)w;
        if (fast_small) {
            small_stages(x + o, block, w, scaled && last_in_block && block == 16, s);
            d = 16;
        }
        if (d < block) passes(x + o, block, d, block, scaled && last_in_block, s);
    }
    if (!last_in_block) passes(x, len, block, len, scaled, s);
}

/* ---- Y = B·X along the k axis ---------------------------------------------- */

#if defined(__GNUC__)
typedef float tile_vec __attribute__((vector_size(64)));
#define TV (TILE / 16)

/* Q[k][TILE] = Bf[k][k]·P[k][TILE]; k a multiple of 4; P, Q 64-byte aligned. */
RB_MULTIVERSION
static void base_tile(float *restrict Q, const float *restrict P, const float *restrict Bf, int k) {
    for (int a = 0; a < k; a += 4) {
        tile_vec acc[4][TV];
        for (int i = 0; i < 4; i++)
            for (int v = 0; v < TV; v++) acc[i][v] = (tile_vec){0};
        const float *b0 = Bf + (size_t)a * k, *b1 = b0 + k, *b2 = b1 + k, *b3 = b2 + k;
        for (int b = 0; b < k; b++) {
            float s0 = b0[b], s1 = b1[b], s2 = b2[b], s3 = b3[b];
            for (int v = 0; v < TV; v++) {
                tile_vec pv;
                memcpy(&pv, P + (size_t)b * TILE + 16 * v, sizeof pv);
                acc[0][v] += s0 * pv;
                acc[1][v] += s1 * pv;
                acc[2][v] += s2 * pv;
                acc[3][v] += s3 * pv;
            }
        }
        for (int i = 0; i < 4; i++)
            memcpy(Q + (size_t)(a + i) * TILE, acc[i], sizeof acc[i]);
    }
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

/* The base multiply over the columns of rows [r0, r1): a column is (row r,
 * offset c in [0, M)), its k entries at x[r·n·inner + b·M + c]. */
static void base_rows(float *x, size_t r0, size_t r1, size_t row_len, int k, size_t M,
                      const float *Bf, float s) {
    _Alignas(64) float P[MAX_K * TILE];
    _Alignas(64) float Q[MAX_K * TILE];
    size_t total = (r1 - r0) * M;
    for (size_t s0 = 0; s0 < total; s0 += TILE) {
        size_t nt = total - s0 < TILE ? total - s0 : TILE;
        size_t r = s0 / M, c = s0 % M;
        int contiguous = nt == TILE && c + TILE <= M; /* one row, one run */
        float *base = x + (r0 + r) * row_len + c;
        if (contiguous) {
            for (int b = 0; b < k; b++) memcpy(P + (size_t)b * TILE, base + (size_t)b * M, sizeof(float) * TILE);
        } else {
            for (size_t t = 0; t < TILE; t++) {
                size_t st = s0 + t;
                float *col = t < nt ? x + (r0 + st / M) * row_len + st % M : NULL;
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
        } else {
            for (size_t t = 0; t < nt; t++) {
                size_t st = s0 + t;
                float *col = x + (r0 + st / M) * row_len + st % M;
                for (int a = 0; a < k; a++) col[(size_t)a * M] = Q[(size_t)a * TILE + t] * s;
            }
        }
    }
}

static size_t gcd_size(size_t a, size_t b) { return b ? gcd_size(b, a % b) : a; }

int rb_hadamard_apply(float *x, size_t rows, int n, int inner, rb_error *err) {
    int k, m;
    int rc = rb_hadamard_factor(n, &k, &m, err);
    if (rc) return rc;
    if (inner < 1)
        return rb_error_set(err, RB_EINVAL, "Hadamard transform: inner stride %d < 1", inner);
    if (rows == 0 || n == 1) return RB_OK;
    int L = 1 << m;
    size_t M = (size_t)L * inner, row_len = (size_t)n * inner;
    float s = (float)(1.0 / sqrt((double)n));
    float *Bf = NULL;
    if (k > 1) {
        const signed char *B = rb_hadamard_base(k);
        Bf = malloc(sizeof(float) * (size_t)k * k);
        if (!Bf) return rb_error_set(err, RB_ENOMEM, "Hadamard transform: out of memory");
        for (size_t i = 0; i < (size_t)k * k; i++) Bf[i] = B[i];
    }
    /* rows per group: a multiple of TILE columns when M < TILE, so that tiles
     * never straddle two groups */
    size_t group = k > 1 && M % TILE ? TILE / gcd_size(M % TILE, TILE) : 1;
    size_t n_groups = (rows + group - 1) / group;
    double work = (double)rows * row_len * (m + k);
    long ng = (long)n_groups;
#pragma omp parallel for schedule(static) if (ng > 1 && work > 1 << 16)
    for (long g = 0; g < ng; g++) {
        size_t r0 = (size_t)g * group, r1 = r0 + group < rows ? r0 + group : rows;
        for (size_t r = r0; r < r1; r++)
            for (int a = 0; a < k; a++)
                fwht_chunk(x + r * row_len + (size_t)a * M, L, inner, k == 1, s);
        if (k > 1) base_rows(x, r0, r1, row_len, k, M, Bf, s);
    }
    free(Bf);
    return RB_OK;
}

int rb_hadamard_matrix(int n, float *H, rb_error *err) {
    int k, m;
    int rc = rb_hadamard_factor(n, &k, &m, err);
    if (rc) return rc;
    const signed char *B = rb_hadamard_base(k);
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
