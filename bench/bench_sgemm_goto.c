/* Would an own fp32 GEMM beat the libraries?  A Goto-style AVX-512 sgemm
 * written for this measurement, against OpenBLAS's cblas_sgemm on the
 * Llama-2-7B linear shapes at T tokens, y [T][N] = x [T][K] · Wᵀ with W
 * [N][K] as rotbench stores it; and its micro-kernel alone on operands that
 * stay in L1/L2 (what the design could reach without memory traffic).
 *
 * The design (the usual one of BLIS and OpenBLAS):
 *   micro-kernel  C [12][32] += A [kc][12] · B [kc][32]: 24 zmm accumulators,
 *                 two B vectors a step, the twelve A values as embedded
 *                 broadcasts of the FMAs (inline asm: the compiler's own
 *                 schedule is not trusted with 24 accumulators);
 *   packing       x into [K/KC][T/12][KC][12] once a call (8x8 and 4x4
 *                 transposes, both threads), W per thread into [K/KC][NC/32]
 *                 [KC][32] for each block of NC of its output columns;
 *   loops         per thread its half of the output columns, in blocks of NC;
 *                 inside a block, token blocks of MC, then KC slices, then
 *                 every 12-token panel against every 32-column panel, so the
 *                 C tile block (MC × NC) stays in L2 across the K slices.
 * Not used by rotbench: results/perf/gemm.md has why (it lands where
 * OpenBLAS does).  Needs N a multiple of 32 and K of KC (every Llama-2-7B
 * shape); T is padded.  Each figure is the best of REPS runs, the two GEMMs
 * alternating; the result is checked against OpenBLAS's (largest difference
 * over sqrt(n_in), the scale of the sums: at most 1e-4; a wrong tile is
 * off by O(1)).
 *
 * usage: bench_sgemm_goto [T [THREADS [REPS]]]   (2048 2 3) */
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cpu.h"
#include "base/io.h"
#include "base/rng.h"
#include "kernels/linear.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

enum { MR = 12, NR = 32, KC = 256, MC = 240, NC = 256 };

/* C [12][32] (row stride ldc floats) += ap [kc][12] · bp [kc][32], kc a
 * multiple of 4. */
__attribute__((target("avx512f"))) static void kern(const float *ap, const float *bp, float *c,
                                                     long ldc, long kc) {
    long ldb = ldc * 4, n4 = kc / 4;
    float *c3 = c + 3 * ldc, *c6 = c + 6 * ldc, *c9 = c + 9 * ldc;
#define FMA2(OFFA, R0, R1)                                                                         \
    "vfmadd231ps " OFFA "(%[a])%{1to16%}, %%zmm0, %%" R0 "\n\t"                                   \
    "vfmadd231ps " OFFA "(%[a])%{1to16%}, %%zmm1, %%" R1 "\n\t"
#define STEP(A, B)                                                                                 \
    "vmovups " #B "(%[b]), %%zmm0\n\t"                                                             \
    "vmovups " #B "+64(%[b]), %%zmm1\n\t"                                                          \
    FMA2(#A "+0", "zmm8", "zmm9") FMA2(#A "+4", "zmm10", "zmm11")                                 \
    FMA2(#A "+8", "zmm12", "zmm13") FMA2(#A "+12", "zmm14", "zmm15")                              \
    FMA2(#A "+16", "zmm16", "zmm17") FMA2(#A "+20", "zmm18", "zmm19")                             \
    FMA2(#A "+24", "zmm20", "zmm21") FMA2(#A "+28", "zmm22", "zmm23")                             \
    FMA2(#A "+32", "zmm24", "zmm25") FMA2(#A "+36", "zmm26", "zmm27")                             \
    FMA2(#A "+40", "zmm28", "zmm29") FMA2(#A "+44", "zmm30", "zmm31")
#define LD(R, ADDR) "vmovups " ADDR ", %%" R "\n\t"
#define ST(R, ADDR) "vmovups %%" R ", " ADDR "\n\t"
#define CTILE(OP)                                                                                  \
    OP("zmm8", "(%[c])") OP("zmm9", "64(%[c])")                                                    \
    OP("zmm10", "(%[c],%[ldb],1)") OP("zmm11", "64(%[c],%[ldb],1)")                                \
    OP("zmm12", "(%[c],%[ldb],2)") OP("zmm13", "64(%[c],%[ldb],2)")                                \
    OP("zmm14", "(%[c3])") OP("zmm15", "64(%[c3])")                                                \
    OP("zmm16", "(%[c3],%[ldb],1)") OP("zmm17", "64(%[c3],%[ldb],1)")                              \
    OP("zmm18", "(%[c3],%[ldb],2)") OP("zmm19", "64(%[c3],%[ldb],2)")                              \
    OP("zmm20", "(%[c6])") OP("zmm21", "64(%[c6])")                                                \
    OP("zmm22", "(%[c6],%[ldb],1)") OP("zmm23", "64(%[c6],%[ldb],1)")                              \
    OP("zmm24", "(%[c6],%[ldb],2)") OP("zmm25", "64(%[c6],%[ldb],2)")                              \
    OP("zmm26", "(%[c9])") OP("zmm27", "64(%[c9])")                                                \
    OP("zmm28", "(%[c9],%[ldb],1)") OP("zmm29", "64(%[c9],%[ldb],1)")                              \
    OP("zmm30", "(%[c9],%[ldb],2)") OP("zmm31", "64(%[c9],%[ldb],2)")
    __asm__ volatile(CTILE(LD)
                     "1:\n\t"
                     STEP(0, 0) STEP(48, 128) STEP(96, 256) STEP(144, 384)
                     "add $192, %[a]\n\t"
                     "add $512, %[b]\n\t"
                     "dec %[n]\n\t"
                     "jnz 1b\n\t"
                     CTILE(ST)
                     : [a] "+r"(ap), [b] "+r"(bp), [n] "+r"(n4)
                     : [c] "r"(c), [c3] "r"(c3), [c6] "r"(c6), [c9] "r"(c9), [ldb] "r"(ldb)
                     : "memory", "cc", "xmm0", "xmm1", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12",
                       "xmm13", "xmm14", "xmm15", "xmm16", "xmm17", "xmm18", "xmm19", "xmm20",
                       "xmm21", "xmm22", "xmm23", "xmm24", "xmm25", "xmm26", "xmm27", "xmm28",
                       "xmm29", "xmm30", "xmm31");
#undef CTILE
#undef ST
#undef LD
#undef STEP
#undef FMA2
}

/* dst[k·ldd + i] = src[i·lds + k] for i, k < 8. */
__attribute__((target("avx2"))) static void transpose8x8(float *dst, long ldd, const float *src,
                                                         long lds) {
    __m256 r[8], t[8];
    for (int i = 0; i < 8; i++) r[i] = _mm256_loadu_ps(src + i * lds);
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int h = 0; h < 8; h += 4) {
        r[h] = _mm256_shuffle_ps(t[h], t[h + 2], 0x44);
        r[h + 1] = _mm256_shuffle_ps(t[h], t[h + 2], 0xEE);
        r[h + 2] = _mm256_shuffle_ps(t[h + 1], t[h + 3], 0x44);
        r[h + 3] = _mm256_shuffle_ps(t[h + 1], t[h + 3], 0xEE);
    }
    for (int q = 0; q < 4; q++) {
        _mm256_storeu_ps(dst + q * ldd, _mm256_permute2f128_ps(r[q], r[q + 4], 0x20));
        _mm256_storeu_ps(dst + (q + 4) * ldd, _mm256_permute2f128_ps(r[q], r[q + 4], 0x31));
    }
}

/* dst [KC][12] ← rows 0..11 of x (row stride ldx) from column 0; rows at or
 * past `rows` are zero. */
__attribute__((target("avx2"))) static void pack_a(float *dst, const float *x, long ldx,
                                                   int rows) {
    if (rows < MR) {
        for (int k = 0; k < KC; k++)
            for (int i = 0; i < MR; i++) dst[k * MR + i] = i < rows ? x[i * ldx + k] : 0.0f;
        return;
    }
    for (int k = 0; k < KC; k += 8) {
        transpose8x8(dst + k * MR, MR, x + k, ldx);
        for (int h = 0; h < 8; h += 4) { /* rows 8..11, 4 columns at a time */
            __m128 r0 = _mm_loadu_ps(x + 8 * ldx + k + h), r1 = _mm_loadu_ps(x + 9 * ldx + k + h);
            __m128 r2 = _mm_loadu_ps(x + 10 * ldx + k + h), r3 = _mm_loadu_ps(x + 11 * ldx + k + h);
            _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
            float *d = dst + (k + h) * MR + 8;
            _mm_storeu_ps(d, r0), _mm_storeu_ps(d + MR, r1);
            _mm_storeu_ps(d + 2 * MR, r2), _mm_storeu_ps(d + 3 * MR, r3);
        }
    }
}

/* dst [KC][32] ← rows 0..31 of w (row stride ldw) from column 0. */
__attribute__((target("avx2"))) static void pack_b(float *dst, const float *w, long ldw) {
    for (int k = 0; k < KC; k += 8)
        for (int g = 0; g < 4; g++) transpose8x8(dst + k * NR + 8 * g, NR, w + 8 * g * ldw + k, ldw);
}

/* y [T][N] = x [T][K] · Wᵀ; y and x hold T rounded up to 12 rows (x's extra
 * rows zero: they are computed too), ap as many rows of K floats, bp_all
 * K·NC floats per thread. */
static void goto_sgemm(float *y, const float *x, const float *w, int T, int K, int N, float *ap,
                       float *bp_all) {
    int nq = (T + MR - 1) / MR, nkb = K / KC;
#pragma omp parallel
    {
#pragma omp for schedule(static) collapse(2)
        for (int kb = 0; kb < nkb; kb++)
            for (int q = 0; q < nq; q++)
                pack_a(ap + ((size_t)kb * nq + q) * KC * MR, x + (size_t)q * MR * K + (size_t)kb * KC,
                       K, T - q * MR < MR ? T - q * MR : MR);
        int nt = omp_get_num_threads(), id = omp_get_thread_num();
        int per = (N / NR + nt - 1) / nt * NR, n0 = id * per, n1 = n0 + per < N ? n0 + per : N;
        float *bp = bp_all + (size_t)id * K * NC;
        for (int nc = n0; nc < n1; nc += NC) {
            int np = ((n1 - nc < NC ? n1 - nc : NC)) / NR;
            for (int kb = 0; kb < nkb; kb++)
                for (int p = 0; p < np; p++)
                    pack_b(bp + ((size_t)kb * np + p) * KC * NR,
                           w + (size_t)(nc + p * NR) * K + (size_t)kb * KC, K);
            for (int q0 = 0; q0 < nq; q0 += MC / MR) {
                int q1 = q0 + MC / MR < nq ? q0 + MC / MR : nq;
                for (int q = q0; q < q1; q++)
                    for (int i = 0; i < MR; i++) memset(y + ((size_t)q * MR + i) * N + nc, 0, sizeof(float) * np * NR);
                for (int kb = 0; kb < nkb; kb++)
                    for (int q = q0; q < q1; q++)
                        for (int p = 0; p < np; p++)
                            kern(ap + ((size_t)kb * nq + q) * KC * MR, bp + ((size_t)kb * np + p) * KC * NR,
                                 y + (size_t)q * MR * N + nc + p * NR, N, KC);
            }
        }
    }
}

/* The micro-kernel alone, one thread: 16 B panels (512 KiB, in L2) against
 * one A panel (12 KiB, in L1) into one C block, GFLOP/s. */
static double kernel_alone(void) {
    float *ap = aligned_alloc(64, sizeof(float) * KC * MR);
    float *bp = aligned_alloc(64, sizeof(float) * KC * NR * 16);
    float *c = aligned_alloc(64, sizeof(float) * MR * NR * 16);
    for (int i = 0; i < KC * MR; i++) ap[i] = 1e-3f;
    for (int i = 0; i < KC * NR * 16; i++) bp[i] = 1e-3f;
    memset(c, 0, sizeof(float) * MR * NR * 16);
    double best = 1e30;
    long reps = 2000;
    for (int r = 0; r < 5; r++) {
        double t0 = rb_now();
        for (long i = 0; i < reps; i++)
            for (int p = 0; p < 16; p++) kern(ap, bp + (size_t)p * KC * NR, c + p * NR, NR * 16, KC);
        double t = rb_now() - t0;
        best = t < best ? t : best;
    }
    free(ap), free(bp), free(c);
    return 2.0 * reps * 16 * KC * MR * NR / best * 1e-9;
}

int main(int argc, char **argv) {
    int T = argc > 1 ? atoi(argv[1]) : 2048, threads = argc > 2 ? atoi(argv[2]) : 2;
    int reps = argc > 3 ? atoi(argv[3]) : 3;
    if (!rb_cpu_has(RB_CPU_AVX512)) {
        fprintf(stderr, "bench_sgemm_goto: needs AVX-512F: SKIPPED\n");
        return 0;
    }
    rb_set_threads(threads);
    fprintf(stderr, "T=%d threads=%d reps=%d blas=%s (best of the reps)\n", T, threads, reps,
            rb_blas_kernels());
    double kg = kernel_alone();
    fprintf(stderr, "micro-kernel alone (1 thread, in L1/L2): %.1f GFLOP/s\n", kg);
    printf("{\"bench\":\"sgemm_goto_kernel\",\"threads\":1,\"gflops\":%.2f}\n", kg);
    static const struct { const char *name; int n_out, n_in; } shapes[] = {
        {"wq/wk/wv/wo", 4096, 4096}, {"w1/w3", 11008, 4096}, {"w2", 4096, 11008},
        {"classifier", 32000, 4096}};
    rb_rng r;
    rb_rng_seed(&r, 1);
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        int N = shapes[s].n_out, K = shapes[s].n_in, Tp = (T + MR - 1) / MR * MR;
        float *x = malloc(sizeof(float) * (size_t)Tp * K), *w = malloc(sizeof(float) * (size_t)N * K);
        float *y0 = malloc(sizeof(float) * (size_t)T * N), *y1 = malloc(sizeof(float) * (size_t)Tp * N);
        float *ap = aligned_alloc(64, sizeof(float) * (size_t)Tp * K);
        float *bp = aligned_alloc(64, sizeof(float) * (size_t)threads * K * NC);
        if (!x || !w || !y0 || !y1 || !ap || !bp) return 1;
        for (size_t i = 0; i < (size_t)Tp * K; i++) x[i] = i < (size_t)T * K ? (float)rb_rng_normal(&r) : 0.0f;
        for (size_t i = 0; i < (size_t)N * K; i++) w[i] = (float)rb_rng_normal(&r);
        double best_blas = 1e30, best_own = 1e30;
        for (int k = 0; k < reps + 1; k++) { /* the first round warms up */
            double t0 = rb_now();
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, N, K, 1.0f, x, K, w, K, 0.0f, y0, N);
            double t1 = rb_now();
            goto_sgemm(y1, x, w, T, K, N, ap, bp);
            double t2 = rb_now();
            if (k) {
                best_blas = t1 - t0 < best_blas ? t1 - t0 : best_blas;
                best_own = t2 - t1 < best_own ? t2 - t1 : best_own;
            }
        }
        double worst = 0;
        for (size_t i = 0; i < (size_t)T * N; i++) {
            /* entries ~N(0,1): sums of K products are ~sqrt(K), and so is the
             * scale of their rounding, whatever the order */
            double d = fabs((double)y0[i] - y1[i]) / sqrt((double)K);
            worst = d > worst ? d : worst;
        }
        double fl = 2.0 * T * N * K;
        fprintf(stderr, "T=%d %-12s %5d -> %5d: openblas %7.1f GFLOP/s, own %7.1f GFLOP/s (%.2fx), max |diff|/sqrt(n_in) %.1e\n",
                T, shapes[s].name, K, N, fl / best_blas * 1e-9, fl / best_own * 1e-9, best_blas / best_own, worst);
        printf("{\"bench\":\"sgemm_goto\",\"threads\":%d,\"T\":%d,\"linear\":\"%s\",\"n_in\":%d,"
               "\"n_out\":%d,\"openblas_gflops\":%.2f,\"own_gflops\":%.2f,\"max_diff_over_sqrt_n_in\":%.2e}\n",
               threads, T, shapes[s].name, K, N, fl / best_blas * 1e-9, fl / best_own * 1e-9, worst);
        if (worst > 1e-4) {
            fprintf(stderr, "bench_sgemm_goto: wrong result\n");
            return 1;
        }
        free(x), free(w), free(y0), free(y1), free(ap), free(bp);
    }
    return 0;
}
#else
int main(void) {
    fprintf(stderr, "bench_sgemm_goto: x86-64 with GCC only: SKIPPED\n");
    return 0;
}
#endif
