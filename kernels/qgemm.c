/* The fast integer GEMM of kernels/qgemm.h: output tiles of TB tokens × OB
 * weight rows shared out by OpenMP; within a tile, the columns run in chunks
 * of at most KC inside one segment, each chunk adding into the tile's int32
 * accumulators (AVX2 micro-kernel, or the scalar loop), and each segment's
 * end rescaling them into y (qgemm_common.h, no FMA: this file has no target
 * attribute).  Every output belongs to one tile, so results do not depend on
 * the thread count.
 *
 * Global state: the chosen path (rb_qgemm_kernel), decided once from the CPU
 * and RB_QGEMM; a benign race (every thread computes the same value). */
#include <stdlib.h>
#include <string.h>

#include "base/cpu.h"
#include "kernels/qgemm.h"
#include "kernels/qgemm_avx2.h"
#include "kernels/qgemm_common.h"

enum { TB = 64, OB = 64, KC_MAX = 512 };

static int use_avx2 = -1; /* -1 undecided, 0 scalar, 1 AVX2 */

static int want_avx2(void) {
    if (use_avx2 < 0) {
        const char *e = getenv("RB_QGEMM");
        int ok = 0;
#if RB_QGEMM_HAVE_AVX2
        ok = rb_cpu_has(RB_CPU_AVX2_FMA);
#endif
        use_avx2 = ok && !(e && !strcmp(e, "scalar"));
    }
    return use_avx2;
}

const char *rb_qgemm_kernel(void) { return want_avx2() ? "avx2" : "scalar"; }

/* The chunk width: the largest divisor of S that is at most KC_MAX (even
 * when S is even, for 4-bit weights). */
static int chunk_width(int S) {
    if (S <= KC_MAX) return S;
    for (int c = KC_MAX; c > 1; c--)
        if (S % c == 0 && (c % 2 == 0 || S % 2)) return c;
    return S;
}

static void block_scalar(int32_t *acc, int ldacc, const int16_t *a, size_t lda,
                         const rb_qweight *w, int o0, int mt, int nt, int k0, int n,
                         const int16_t *z) {
    for (int i = 0; i < mt; i++)
        for (int j = 0; j < nt; j++) {
            int32_t s = 0;
            for (int k = k0; k < k0 + n; k++)
                s += (int32_t)a[(size_t)i * lda + k] * (rb_qweight_code(w, o0 + j, k) - z[j]);
            acc[(size_t)i * ldacc + j] += s;
        }
}

static void tile(float *y, const rb_qact *a, const rb_qweight *w, int accumulate, int t0, int mt,
                 int o0, int nt, int avx2, int16_t *wbuf) {
    int K = w->cols, N = w->rows, S = rb_qgemm_segment(a, w), KC = chunk_width(S);
    int nga = K / a->group, ngw = K / w->group;
    int32_t acc[TB * OB];
    int16_t z[OB];
    int16_t *wb = wbuf; /* [nt][KC] widened weights of one chunk */
    if (!accumulate)
        for (int i = 0; i < mt; i++) memset(y + (size_t)(t0 + i) * N + o0, 0, sizeof(float) * nt);
    for (int s0 = 0; s0 < K; s0 += S) {
        int gw = s0 / w->group, ga = s0 / a->group;
        for (int j = 0; j < nt; j++) z[j] = w->zero[(size_t)(o0 + j) * ngw + gw];
        memset(acc, 0, sizeof(int32_t) * (size_t)mt * OB);
        const int16_t *at = a->q + (size_t)t0 * K;
        for (int k0 = s0; k0 < s0 + S; k0 += KC) {
#if RB_QGEMM_HAVE_AVX2
            if (avx2) { /* widen the chunk's weights once for all mt tokens */
                rb_qgemm_widen_avx2(wb, KC, w, o0, nt, k0, KC, z);
                rb_qgemm_block_avx2(acc, OB, at + k0, (size_t)K, wb, KC, mt, nt, KC);
                continue;
            }
#endif
            (void)avx2;
            block_scalar(acc, OB, at, (size_t)K, w, o0, mt, nt, k0, KC, z);
        }
        for (int i = 0; i < mt; i++) {
            float sa = a->scale[(size_t)(t0 + i) * nga + ga];
            float *yr = y + (size_t)(t0 + i) * N + o0;
            for (int j = 0; j < nt; j++)
                yr[j] = rb_qgemm_rescale(yr[j], acc[(size_t)i * OB + j], sa,
                                         w->scale[(size_t)(o0 + j) * ngw + gw]);
        }
    }
}

void rb_qgemm(float *y, const rb_qact *a, const rb_qweight *w, int accumulate) {
    int T = a->rows, N = w->rows, avx2 = want_avx2();
    long nbt = (T + TB - 1) / TB, nbo = (N + OB - 1) / OB, n = nbt * nbo;
    size_t wb_n = (size_t)OB * chunk_width(rb_qgemm_segment(a, w));
#pragma omp parallel if (n > 1 && (long)T * N * w->cols > 1000000)
    {
        /* one widened-weights buffer per thread; without it, the scalar path */
        int16_t *wbuf = avx2 ? malloc(sizeof(int16_t) * wb_n) : NULL;
#pragma omp for schedule(static)
        for (long b = 0; b < n; b++) {
            /* consecutive tiles share a token block (its activations stay in cache) */
            int t0 = (int)(b / nbo) * TB, o0 = (int)(b % nbo) * OB;
            int mt = T - t0 < TB ? T - t0 : TB, nt = N - o0 < OB ? N - o0 : OB;
            tile(y, a, w, accumulate, t0, mt, o0, nt, avx2 && wbuf, wbuf);
        }
        free(wbuf);
    }
}
