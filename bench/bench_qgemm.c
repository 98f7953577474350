/* Integer GEMM speed (kernels/qgemm.h) against the fp32 GEMM (rb_linear,
 * OpenBLAS sgemm) on the linear shapes of Llama-2-7B and Llama-3-8B at T
 * tokens: W8A8 (int8 weights per channel × int8 activations per token) and
 * W4A8 (packed int4 weights, groups of 128, and per channel: W4A8c),
 * symmetric; the activation
 * quantization (rb_qact_quantize, dynamic per token) is timed separately.
 * Every integer path the CPU has from avx2 up (rb_qgemm_on) is timed, one
 * table row and one JSON object (qgemm_kernel = the path) each.  Each
 * figure is the minimum over REPS runs (the machine is shared).  First the
 * int8 VNNI peak of a register-only vpdpbusd loop (where the CPU has it).
 * One JSON object a line on stdout; a table on stderr.
 *
 * usage: bench_qgemm [T [THREADS [REPS [SHAPES]]]]   (2048 2 3 all)
 *        SHAPES: "all" or a comma list of NOUTxNIN, e.g. 4096x4096 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/io.h"
#include "base/rng.h"
#include "kernels/linear.h"
#include "kernels/qgemm.h"
#include "kernels/quant.h"

typedef struct {
    const char *model, *name;
    int n_out, n_in;
} shape;

static const shape shapes[] = {
    {"llama2-7b", "q/k/v/o", 4096, 4096},   {"llama2-7b", "gate/up", 11008, 4096},
    {"llama2-7b", "down", 4096, 11008},     {"llama3-8b", "q/o", 4096, 4096},
    {"llama3-8b", "k/v", 1024, 4096},       {"llama3-8b", "gate/up", 14336, 4096},
    {"llama3-8b", "down", 4096, 14336},
};

static float *random_matrix(size_t n, rb_rng *r) {
    float *x = malloc(sizeof(float) * n);
    if (!x) exit(1);
    for (size_t i = 0; i < n; i++) x[i] = (float)rb_rng_normal(r);
    return x;
}

static int pack(rb_qweight *q, float *w, int rows, int cols, const rb_quant_spec *s) {
    size_t np = rb_quant_n_params(s, rows, cols);
    float *sc = malloc(sizeof(float) * np), *z = malloc(sizeof(float) * np);
    rb_quant_params(w, rows, cols, s, sc, z);
    float *wq = malloc(sizeof(float) * (size_t)rows * cols);
    memcpy(wq, w, sizeof(float) * (size_t)rows * cols);
    rb_fake_quant(wq, rows, cols, s, sc, z);
    rb_error err = {0};
    int rc = rb_qweight_pack(q, wq, rows, cols, s, sc, z, &err);
    if (rc) fprintf(stderr, "bench_qgemm: %s\n", err.msg);
    free(sc), free(z), free(wq);
    return rc;
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
/* 12 independent vpdpbusd chains on registers, iters times: the CPU's int8
 * VNNI peak, as bench_gemm's FMA loop is its fp32 one. */
__attribute__((target("avx512f,avx512vnni"))) static int vnni_loop(long iters) {
    __m512i acc[12], u = _mm512_set1_epi8(1), w = _mm512_set1_epi8(2);
    for (int i = 0; i < 12; i++) acc[i] = _mm512_set1_epi32(i);
    for (long k = 0; k < iters; k++) {
#pragma GCC unroll 12
        for (int i = 0; i < 12; i++) acc[i] = _mm512_dpbusd_epi32(acc[i], u, w);
        __asm__("" : "+v"(u)); /* keeps the loop from being folded */
    }
    __m512i s = acc[0];
    for (int i = 1; i < 12; i++) s = _mm512_add_epi32(s, acc[i]);
    return _mm512_reduce_add_epi32(s);
}

/* Int8 ops/s (2 per multiply-add) of `threads` threads running vnni_loop,
 * best of 3; 0 without AVX-512 VNNI. */
static double vnni_peak(int threads) {
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx512vnni")) return 0;
    const long iters = 50000000;
    double best = 1e30;
    for (int r = 0; r < 3; r++) {
        int sink = 0;
        double t0 = rb_now();
#pragma omp parallel num_threads(threads) reduction(+ : sink)
        sink += vnni_loop(iters);
        double t = rb_now() - t0;
        if (sink == 12345) fprintf(stderr, " ");
        if (t < best) best = t;
    }
    return (double)threads * iters * 12 * 64 * 2 / best;
}
#else
static double vnni_peak(int threads) {
    (void)threads;
    return 0;
}
#endif

int main(int argc, char **argv) {
    int T = argc > 1 ? atoi(argv[1]) : 2048, threads = argc > 2 ? atoi(argv[2]) : 2;
    int reps = argc > 3 ? atoi(argv[3]) : 3;
    const char *only = argc > 4 ? argv[4] : "all";
    rb_set_threads(threads);
    rb_rng r;
    rb_rng_seed(&r, 1);
    fprintf(stderr, "T=%d threads=%d reps=%d qgemm=%s blas=%s (minimum of the reps)\n", T,
            threads, reps, rb_qgemm_kernel(), rb_blas_kernels());
    double peak = vnni_peak(threads);
    if (peak > 0) {
        fprintf(stderr, "vnni peak (a register-only vpdpbusd loop): %.0f GOPS\n", peak / 1e9);
        printf("{\"bench\":\"vnni_peak\",\"threads\":%d,\"gops\":%.1f}\n", threads, peak / 1e9);
    }
    fprintf(stderr, "%-10s %-8s %6s %6s %-11s | %9s %9s %9s %9s %9s | %6s %6s %6s\n", "model",
            "linear", "n_out", "n_in", "path", "fp32 ms", "w8a8 ms", "w4a8 ms", "w4a8c ms",
            "aquant ms", "x8", "x4", "x4c");
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
        const shape *s = &shapes[i];
        char key[32];
        snprintf(key, sizeof key, "%dx%d", s->n_out, s->n_in);
        if (strcmp(only, "all") && !strstr(only, key)) continue;
        float *w = random_matrix((size_t)s->n_out * s->n_in, &r);
        float *x = random_matrix((size_t)T * s->n_in, &r);
        float *y = malloc(sizeof(float) * (size_t)T * s->n_out);
        rb_quant_spec w8 = {8, 0, RB_GRAN_ROW, 0, 1.0f, 0}, w4 = {4, 0, RB_GRAN_GROUP, 128, 1.0f, 0};
        rb_quant_spec w4c = {4, 0, RB_GRAN_ROW, 0, 1.0f, 0};
        rb_quant_spec a8 = {8, 0, RB_GRAN_ROW, 0, 1.0f, 0};
        rb_qweight q8, q4, q4c;
        if (pack(&q8, w, s->n_out, s->n_in, &w8) || pack(&q4, w, s->n_out, s->n_in, &w4) ||
            pack(&q4c, w, s->n_out, s->n_in, &w4c))
            return 1;
        rb_error err = {0};
        if (rb_qweight_prepack(&q8, &err) || rb_qweight_prepack(&q4, &err) ||
            rb_qweight_prepack(&q4c, &err)) {
            fprintf(stderr, "bench_qgemm: %s\n", err.msg);
            return 1;
        }
        rb_qact qa = {0};
        /* best[0] fp32, best[1] act quant, best[2 + 3p + b] on path p: b = 0 w8a8, 1 w4a8
         * (groups of 128), 2 w4a8c (per channel) */
        double best[2 + 3 * RB_QGEMM_N_PATHS];
        for (int j = 0; j < 2 + 3 * RB_QGEMM_N_PATHS; j++) best[j] = 1e30;
        const rb_qweight *qs[3] = {&q8, &q4, &q4c};
        rb_linear(y, x, w, T, s->n_in, s->n_out); /* warm up */
        rb_qact_quantize(&qa, x, T, s->n_in, &a8, NULL, NULL, NULL);
        for (int k = 0; k < reps; k++) {
            double t0 = rb_now();
            rb_linear(y, x, w, T, s->n_in, s->n_out);
            double t1 = rb_now();
            rb_qact_quantize(&qa, x, T, s->n_in, &a8, NULL, NULL, NULL);
            double t2 = rb_now();
            best[0] = t1 - t0 < best[0] ? t1 - t0 : best[0];
            best[1] = t2 - t1 < best[1] ? t2 - t1 : best[1];
            for (int p = RB_QGEMM_AVX2; p < RB_QGEMM_N_PATHS; p++) {
                if (!rb_qgemm_path_available(p)) continue;
                for (int b = 0; b < 3; b++) {
                    double ta = rb_now();
                    if ((int)rb_qgemm_on(p, y, &qa, qs[b], 0) != p) {
                        fprintf(stderr, "bench_qgemm: path %s fell back\n", rb_qgemm_path_name(p));
                        return 1;
                    }
                    double d = rb_now() - ta;
                    if (d < best[2 + 3 * p + b]) best[2 + 3 * p + b] = d;
                }
            }
        }
        double gop = 2.0 * T * s->n_out * s->n_in * 1e-9;
        for (int p = RB_QGEMM_AVX2; p < RB_QGEMM_N_PATHS; p++) {
            if (!rb_qgemm_path_available(p)) continue;
            double b8 = best[2 + 3 * p], b4 = best[3 + 3 * p], b4c = best[4 + 3 * p];
            fprintf(stderr, "%-10s %-8s %6d %6d %-11s | %9.1f %9.1f %9.1f %9.1f %9.1f | %6.2f %6.2f %6.2f\n",
                    s->model, s->name, s->n_out, s->n_in, rb_qgemm_path_name(p), best[0] * 1e3,
                    b8 * 1e3, b4 * 1e3, b4c * 1e3, best[1] * 1e3, best[0] / b8, best[0] / b4,
                    best[0] / b4c);
            printf("{\"bench\":\"qgemm\",\"model\":\"%s\",\"linear\":\"%s\",\"n_out\":%d,"
                   "\"n_in\":%d,\"T\":%d,\"threads\":%d,\"reps\":%d,\"qgemm_kernel\":\"%s\","
                   "\"blas\":\"%s\",\"fp32_s\":%.6f,\"w8a8_s\":%.6f,\"w4a8_s\":%.6f,"
                   "\"act_quant_s\":%.6f,\"fp32_gops\":%.2f,\"w8a8_gops\":%.2f,"
                   "\"w4a8_gops\":%.2f,\"w8a8_x_fp32\":%.3f,\"w4a8_x_fp32\":%.3f,"
                   "\"w4a8c_s\":%.6f,\"w4a8c_x_fp32\":%.3f}\n",
                   s->model, s->name, s->n_out, s->n_in, T, threads, reps, rb_qgemm_path_name(p),
                   rb_blas_kernels(), best[0], b8, b4, best[1], gop / best[0], gop / b8, gop / b4,
                   best[0] / b8, best[0] / b4, b4c, best[0] / b4c);
        }
        fflush(stdout);
        rb_qweight_free(&q8), rb_qweight_free(&q4), rb_qweight_free(&q4c), rb_qact_free(&qa);
        free(w), free(x), free(y);
    }
    return 0;
}
