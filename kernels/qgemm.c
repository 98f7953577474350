/* The fast integer GEMM of kernels/qgemm.h: output tiles of TB tokens × OB
 * weight rows shared out by OpenMP; within a tile, the columns run in chunks
 * of at most KC_MAX inside one segment, each chunk adding into the tile's
 * int32 accumulators (AVX2 micro-kernel, or the scalar loop), and each
 * segment's end rescaling them into y (qgemm_common.h, no FMA: this file has
 * no target attribute, qgemm_avx2.c's is AVX2 without FMA).  4-bit weights
 * on avx2 take the u8 tiles of qgemm_avx2.h where the activations allow the
 * u8 re-coding (run_u8_avx2), the int16 ones otherwise.  Every output
 * belongs to one tile, so results do not depend on the thread count.  The
 * avx512-vnni path (kernels/qgemm_avx512.c) re-codes the activations to u8
 * and sums the weights' segments once a call, then runs its own tiles of
 * RB_QGEMM_VNNI_TB tokens × OB rows, rescaling in the same order;
 * rb_qweight_prepack (here) makes the weights' VNNI copy.
 *
 * Global state: the chosen path (rb_qgemm_kernel), decided once from the CPU
 * and RB_QGEMM; a benign race (every thread computes the same value). */
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/cpu.h"
#include "kernels/qgemm.h"
#include "kernels/qgemm_avx2.h"
#include "kernels/qgemm_avx512.h"
#include "kernels/qgemm_common.h"

enum { TB = 96, OB = 64, KC_MAX = RB_QGEMM_CHUNK_MAX };

static int chosen = -1;   /* rb_qgemm's path, -1 undecided */
static int amx_perm = -1; /* Linux granted the AMX tile data; -1 not asked */

/* ARCH_REQ_XCOMP_PERM for XFEATURE_XTILEDATA (asm/prctl.h, Linux 5.16). */
static int amx_granted(void) {
    if (amx_perm < 0) {
#if defined(__linux__) && defined(SYS_arch_prctl)
        amx_perm = syscall(SYS_arch_prctl, 0x1023, 18) == 0;
#else
        amx_perm = 0;
#endif
    }
    return amx_perm;
}

const char *rb_qgemm_path_name(rb_qgemm_path p) {
    static const char *const names[] = {"scalar", "avx2", "avx512-vnni", "amx"};
    return p >= 0 && p < RB_QGEMM_N_PATHS ? names[p] : "?";
}

int rb_qgemm_path_available(rb_qgemm_path p) {
    switch (p) {
    case RB_QGEMM_SCALAR: return 1;
    case RB_QGEMM_AVX2: return RB_QGEMM_HAVE_AVX2 && rb_cpu_has(RB_CPU_AVX2_FMA);
    case RB_QGEMM_AVX512_VNNI:
        return RB_QGEMM_HAVE_AVX512 && RB_QGEMM_HAVE_AVX2 && rb_cpu_has(RB_CPU_AVX512_VNNI);
    case RB_QGEMM_AMX:
        return RB_QGEMM_HAVE_AVX512 && RB_QGEMM_HAVE_AVX2 && rb_cpu_has(RB_CPU_AMX_INT8) &&
               amx_granted();
    default: return 0;
    }
}

/* The best available path at most p. */
static rb_qgemm_path at_most(rb_qgemm_path p) {
    while (p > RB_QGEMM_SCALAR && !rb_qgemm_path_available(p)) p--;
    return p;
}

static rb_qgemm_path default_path(void) {
    if (chosen < 0) {
        const char *e = getenv("RB_QGEMM");
        rb_qgemm_path want = RB_QGEMM_N_PATHS - 1;
        for (int p = 0; e && p < RB_QGEMM_N_PATHS; p++)
            if (!strcmp(e, rb_qgemm_path_name(p))) want = p;
        chosen = at_most(want);
    }
    return chosen;
}

const char *rb_qgemm_kernel(void) { return rb_qgemm_path_name(default_path()); }

int rb_qweight_prepack(rb_qweight *w, rb_error *err) {
#if RB_QGEMM_HAVE_AVX512 && RB_QGEMM_HAVE_AVX2
    int wanted = rb_qgemm_path_available(RB_QGEMM_AVX512_VNNI) ||
                 (w->bits == 4 && rb_qgemm_path_available(RB_QGEMM_AVX2));
    if (w->vnni || w->cols % 4 || !wanted) return RB_OK;
    int K = w->cols, N32 = rb_qgemm_rows32(w), ng = K / w->group, ub = w->bits == 8 ? 128 : 64;
    w->vnni = calloc((size_t)(N32 / 32) * (K / 4), ub);
    w->vnni_zero = malloc(sizeof(int32_t) * (size_t)ng * N32);
    w->vnni_scale = malloc(sizeof(float) * (size_t)ng * N32);
    if (!w->vnni || !w->vnni_zero || !w->vnni_scale) {
        free(w->vnni), free(w->vnni_zero), free(w->vnni_scale);
        w->vnni = NULL, w->vnni_zero = NULL, w->vnni_scale = NULL;
        return rb_error_set(err, RB_ENOMEM, "out of memory for the VNNI copy of %dx%d weights",
                            w->rows, w->cols);
    }
    /* one panel per thread at a time: with 4-bit codes rows r and r + 16 of
     * a panel share bytes (|= below), so rows must not be split across
     * threads inside a panel */
#pragma omp parallel for schedule(static) if ((long)w->rows * K > 1000000)
    for (int p = 0; p < N32 / 32; p++)
        for (int r = 0; r < 32 && 32 * p + r < w->rows; r++)
            for (int k = 0; k < K; k++) {
                uint8_t *unit = w->vnni + ((size_t)p * (K / 4) + (size_t)(k / 4)) * ub;
                int code = rb_qweight_code(w, 32 * p + r, k);
                if (w->bits == 8)
                    unit[(r / 16) * 64 + (r % 16) * 4 + k % 4] = (uint8_t)(int8_t)code;
                else
                    unit[(r % 16) * 4 + k % 4] |= (uint8_t)(code << (r / 16 * 4));
            }
    for (int g = 0; g < ng; g++)
        for (int o = 0; o < N32; o++) {
            size_t i = (size_t)g * N32 + o;
            w->vnni_zero[i] = o < w->rows ? w->zero[(size_t)o * ng + g] : 0;
            w->vnni_scale[i] = o < w->rows ? w->scale[(size_t)o * ng + g] : 0.0f;
        }
#else
    (void)w, (void)err;
#endif
    return RB_OK;
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
    int K = w->cols, N = w->rows, S = rb_qgemm_segment(a, w);
    int nga = K / a->group, ngw = K / w->group;
    int32_t acc[TB * OB];
    int16_t z[OB];
    int16_t *wb = wbuf; /* widened weights of one chunk (kernels/qgemm_avx2.h) */
    if (!accumulate)
        for (int i = 0; i < mt; i++) memset(y + (size_t)(t0 + i) * N + o0, 0, sizeof(float) * nt);
    for (int s0 = 0; s0 < K; s0 += S) {
        int gw = s0 / w->group, ga = s0 / a->group;
        float sw[OB];
        for (int j = 0; j < nt; j++) {
            z[j] = w->zero[(size_t)(o0 + j) * ngw + gw];
            sw[j] = w->scale[(size_t)(o0 + j) * ngw + gw];
        }
        const int16_t *at = a->q + (size_t)t0 * K;
        const float *sa = a->scale + (size_t)t0 * nga + ga; /* token i at sa[i · nga] */
        float *yt = y + (size_t)t0 * N + o0;
        if (!avx2) memset(acc, 0, sizeof(int32_t) * (size_t)mt * OB);
        for (int k0 = s0; k0 < s0 + S; k0 += KC_MAX) {
            int n = s0 + S - k0 < KC_MAX ? s0 + S - k0 : KC_MAX; /* even for 4-bit: S is */
#if RB_QGEMM_HAVE_AVX2
            if (avx2) { /* widen the chunk's weights once for all mt tokens */
                rb_qgemm_widen_avx2(wb, w, o0, nt, k0, n, z);
                rb_qgemm_block_avx2(acc, OB, at + k0, (size_t)K, wb, mt, nt, n, k0 == s0);
                continue;
            }
#endif
            block_scalar(acc, OB, at, (size_t)K, w, o0, mt, nt, k0, n, z);
        }
#if RB_QGEMM_HAVE_AVX2
        if (avx2) {
            rb_qgemm_rescale_avx2(yt, (size_t)N, acc, OB, mt, nt, sa, (size_t)nga, sw);
            continue;
        }
#endif
        (void)wb;
        for (int i = 0; i < mt; i++)
            for (int j = 0; j < nt; j++) {
                float *yv = yt + (size_t)i * N + j;
                *yv = rb_qgemm_rescale(*yv, acc[(size_t)i * OB + j], sa[(size_t)i * nga], sw[j]);
            }
    }
}

static void run_int16(float *y, const rb_qact *a, const rb_qweight *w, int accumulate, int avx2) {
    int T = a->rows, N = w->rows;
    long nbt = (T + TB - 1) / TB, nbo = (N + OB - 1) / OB, n = nbt * nbo;
    int S = rb_qgemm_segment(a, w);
    size_t wb_n = (size_t)OB * 2 * rb_qgemm_avx2_pairs(S < KC_MAX ? S : KC_MAX);
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

/* The u8 re-coding of token t of a (the avx512-vnni and avx2 u8 paths):
 * ur [cols] = a + c per group, c [t][group] = -min over the group (ur is
 * then 0..255), asum [t][segment] = Σ a over each segment of S columns; 0
 * if a group spans more than 255 values (ur is then not usable). */
static int recode_u8(const rb_qact *a, int t, int S, uint8_t *ur, int32_t *c, int32_t *asum) {
    int K = a->cols, G = a->group, nga = K / G, nseg = K / S, ok = 1;
    const int16_t *ar = a->q + (size_t)t * K;
    for (int g = 0; g < nga; g++) {
        int lo = ar[g * G], hi = lo;
        for (int k = g * G; k < (g + 1) * G; k++) {
            lo = ar[k] < lo ? ar[k] : lo;
            hi = ar[k] > hi ? ar[k] : hi;
        }
        if (hi - lo > 255) ok = 0;
        c[(size_t)t * nga + g] = -lo;
        for (int k = g * G; k < (g + 1) * G; k++) ur[k] = (uint8_t)(ar[k] - lo);
    }
    for (int s = 0; s < nseg; s++) {
        int32_t sum = 0;
        for (int k = s * S; k < (s + 1) * S; k++) sum += ar[k];
        asum[(size_t)t * nseg + s] = sum;
    }
    return ok;
}

/* The activations of a call re-coded to u8 (recode_u8 fills row t): u
 * [rows][ldu] (rows ≥ T; the bytes not filled are zero), c [T][cols /
 * group], asum [T][cols / S]. */
typedef struct u8_acts {
    uint8_t *u;
    size_t ldu;
    int32_t *c, *asum;
} u8_acts;

static int u8_acts_alloc(u8_acts *q, const rb_qact *a, int S, int rows, size_t ldu) {
    q->ldu = ldu;
    q->u = calloc((size_t)rows, ldu);
    q->c = malloc(sizeof(int32_t) * (size_t)a->rows * (a->cols / a->group));
    q->asum = malloc(sizeof(int32_t) * (size_t)a->rows * (a->cols / S));
    return q->u && q->c && q->asum;
}

static void u8_acts_free(u8_acts *q) { free(q->u), free(q->c), free(q->asum); }

#if RB_QGEMM_HAVE_AVX2
/* The avx2 path's u8 kernels for 4-bit weights (kernels/qgemm_avx2.h); 0
 * when a does not allow them (a (token, group) spans more than 255 values)
 * or memory runs out: the caller falls back to the int16 kernels. */
static int run_u8_avx2(float *y, const rb_qact *a, const rb_qweight *w, int accumulate) {
    int T = a->rows, K = w->cols, N = w->rows, S = rb_qgemm_segment(a, w);
    u8_acts q; /* rows K + 64 apart: ≥ K + 16, and the 6 token rows off one L1 set */
    int ok = u8_acts_alloc(&q, a, S, T, (size_t)K + 64);
    /* one weight buffer per thread, all allocated before any tile runs: a
     * call that falls back must not have written y */
    uint8_t *wbufs = aligned_alloc(32, (size_t)RB_QGEMM_U8_WBUF * omp_get_max_threads());
    ok = ok && wbufs;
    long nbt = (T + RB_QGEMM_U8_TB - 1) / RB_QGEMM_U8_TB, nbo = (N + OB - 1) / OB, n = nbt * nbo;
    if (ok) {
#pragma omp parallel if (n > 1 && (long)T * N * K > 1000000)
        {
#pragma omp for schedule(static) reduction(&& : ok)
            for (int t = 0; t < T; t++) ok = recode_u8(a, t, S, q.u + (size_t)t * q.ldu, q.c, q.asum) && ok;
            /* ok is final after the loop's implied barrier */
            uint8_t *wbuf = wbufs + (size_t)RB_QGEMM_U8_WBUF * omp_get_thread_num();
#pragma omp for schedule(static)
            for (long b = 0; b < (ok ? n : 0); b++) {
                /* consecutive tiles share a token block (its activations stay in cache) */
                int t0 = (int)(b / nbo) * RB_QGEMM_U8_TB, o0 = (int)(b % nbo) * OB;
                int mt = T - t0 < RB_QGEMM_U8_TB ? T - t0 : RB_QGEMM_U8_TB;
                int nt = N - o0 < OB ? N - o0 : OB;
                rb_qgemm_tile_u8_avx2(y, a, w, q.u, q.ldu, q.c, q.asum, accumulate, t0, mt, o0,
                                      nt, wbuf);
            }
        }
    }
    u8_acts_free(&q);
    free(wbufs);
    return ok;
}
#endif

#if RB_QGEMM_HAVE_AVX512
/* The avx512-vnni path (amx: the AMX tiles); 0 when a does not allow it (a
 * (token, group) spans more than 255 values) or memory runs out: the caller
 * falls back. */
static int run_vnni(float *y, const rb_qact *a, const rb_qweight *w, int accumulate, int amx) {
    int T = a->rows, K = w->cols, N = w->rows, N32 = rb_qgemm_rows32(w);
    int S = rb_qgemm_segment(a, w), nseg = K / S;
    int T32 = amx ? (T + 31) & ~31 : T; /* AMX reads whole blocks of 32 tokens */
    size_t unp_n = w->bits == 4 && amx ? (size_t)S * 32 : 0;
    /* u's row stride: K bytes for AMX's tile loads; K + 64 for the VNNI
     * micro-kernel, whose 12 token rows would otherwise fall in one L1 set
     * when K is a multiple of 4096 */
    u8_acts q;
    int ok = u8_acts_alloc(&q, a, S, T32, amx ? (size_t)K : (size_t)K + 64);
    uint8_t *unp = unp_n ? aligned_alloc(64, unp_n * (size_t)omp_get_max_threads()) : NULL;
    int32_t *wsum = malloc(sizeof(int32_t) * (size_t)nseg * N32);
    ok = ok && wsum && (!unp_n || unp);
    long nbt = (T + RB_QGEMM_VNNI_TB - 1) / RB_QGEMM_VNNI_TB, nbo = (N + OB - 1) / OB, n = nbt * nbo;
    if (ok) {
#pragma omp parallel if (n > 1 && (long)T * N * K > 1000000)
        {
            /* re-code a to u8 per (token, group): u = a + c, c = -min */
#pragma omp for schedule(static) reduction(&& : ok)
            for (int t = 0; t < T; t++) ok = recode_u8(a, t, S, q.u + (size_t)t * q.ldu, q.c, q.asum) && ok;
#pragma omp for schedule(static)
            for (int p = 0; p < N32 / 32; p++) rb_qgemm_wsum_avx512(wsum, w, S, p, p + 1);
            /* ok is final after the loop's implied barrier */
            if (ok) {
#pragma omp for schedule(static)
                for (long b = 0; b < n; b++) {
                    int t0 = (int)(b / nbo) * RB_QGEMM_VNNI_TB, o0 = (int)(b % nbo) * OB;
                    int mt = T - t0 < RB_QGEMM_VNNI_TB ? T - t0 : RB_QGEMM_VNNI_TB;
                    int nt = N - o0 < OB ? N - o0 : OB;
                    if (amx)
                        rb_qgemm_tile_amx(y, a, w, q.u, q.c, q.asum, wsum, accumulate, t0, mt,
                                          o0, nt, unp + unp_n * (size_t)omp_get_thread_num());
                    else
                        rb_qgemm_tile_avx512(y, a, w, q.u, q.ldu, q.c, q.asum, wsum, accumulate,
                                             t0, mt, o0, nt);
                }
            }
        }
    }
    u8_acts_free(&q);
    free(wsum), free(unp);
    return ok;
}
#endif

rb_qgemm_path rb_qgemm_on(rb_qgemm_path p, float *y, const rb_qact *a, const rb_qweight *w,
                          int accumulate) {
    p = at_most(p < RB_QGEMM_N_PATHS ? p : RB_QGEMM_N_PATHS - 1);
#if RB_QGEMM_HAVE_AVX512
    int S = rb_qgemm_segment(a, w);
    if (p == RB_QGEMM_AMX) {
        if (w->vnni && S % 64 == 0 && run_vnni(y, a, w, accumulate, 1)) return p;
        p = RB_QGEMM_AVX512_VNNI;
    }
    if (p == RB_QGEMM_AVX512_VNNI) {
        if (w->vnni && S % 4 == 0 && run_vnni(y, a, w, accumulate, 0)) return p;
        p = RB_QGEMM_AVX2;
    }
#endif
#if RB_QGEMM_HAVE_AVX2
    if (p == RB_QGEMM_AVX2 && w->bits == 4 && w->vnni && rb_qgemm_segment(a, w) % 4 == 0 &&
        run_u8_avx2(y, a, w, accumulate))
        return p;
#endif
    run_int16(y, a, w, accumulate, p == RB_QGEMM_AVX2);
    return p;
}

void rb_qgemm(float *y, const rb_qact *a, const rb_qweight *w, int accumulate) {
    rb_qgemm_on(default_path(), y, a, w, accumulate);
}
