/* Integer GEMM speed (kernels/qgemm.h) against the fp32 GEMM (rb_linear,
 * OpenBLAS sgemm) on the linear shapes of Llama-2-7B and Llama-3-8B at T
 * tokens: W8A8 (int8 weights per channel × int8 activations per token) and
 * W4A8 (packed int4 weights, groups of 128), symmetric; the activation
 * quantization (rb_qact_quantize, dynamic per token) is timed separately.
 * Each figure is the minimum over REPS runs (the machine is shared).  One
 * JSON object a line on stdout; a table on stderr.
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

int main(int argc, char **argv) {
    int T = argc > 1 ? atoi(argv[1]) : 2048, threads = argc > 2 ? atoi(argv[2]) : 2;
    int reps = argc > 3 ? atoi(argv[3]) : 3;
    const char *only = argc > 4 ? argv[4] : "all";
    rb_set_threads(threads);
    rb_rng r;
    rb_rng_seed(&r, 1);
    fprintf(stderr, "T=%d threads=%d reps=%d qgemm=%s blas=%s (minimum of the reps)\n", T,
            threads, reps, rb_qgemm_kernel(), rb_blas_kernels());
    fprintf(stderr, "%-10s %-8s %6s %6s | %9s %9s %9s %9s | %6s %6s\n", "model", "linear", "n_out",
            "n_in", "fp32 ms", "w8a8 ms", "w4a8 ms", "aquant ms", "x8", "x4");
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
        const shape *s = &shapes[i];
        char key[32];
        snprintf(key, sizeof key, "%dx%d", s->n_out, s->n_in);
        if (strcmp(only, "all") && !strstr(only, key)) continue;
        float *w = random_matrix((size_t)s->n_out * s->n_in, &r);
        float *x = random_matrix((size_t)T * s->n_in, &r);
        float *y = malloc(sizeof(float) * (size_t)T * s->n_out);
        rb_quant_spec w8 = {8, 0, RB_GRAN_ROW, 0, 1.0f}, w4 = {4, 0, RB_GRAN_GROUP, 128, 1.0f};
        rb_quant_spec a8 = {8, 0, RB_GRAN_ROW, 0, 1.0f};
        rb_qweight q8, q4;
        if (pack(&q8, w, s->n_out, s->n_in, &w8) || pack(&q4, w, s->n_out, s->n_in, &w4)) return 1;
        rb_qact qa = {0};
        double best[4] = {1e30, 1e30, 1e30, 1e30};
        rb_linear(y, x, w, T, s->n_in, s->n_out); /* warm up */
        rb_qact_quantize(&qa, x, T, s->n_in, &a8, NULL, NULL, NULL);
        for (int k = 0; k < reps; k++) {
            double t0 = rb_now();
            rb_linear(y, x, w, T, s->n_in, s->n_out);
            double t1 = rb_now();
            rb_qact_quantize(&qa, x, T, s->n_in, &a8, NULL, NULL, NULL);
            double t2 = rb_now();
            rb_qgemm(y, &qa, &q8, 0);
            double t3 = rb_now();
            rb_qgemm(y, &qa, &q4, 0);
            double t4 = rb_now();
            double d[4] = {t1 - t0, t3 - t2, t4 - t3, t2 - t1};
            for (int j = 0; j < 4; j++) best[j] = d[j] < best[j] ? d[j] : best[j];
        }
        double gop = 2.0 * T * s->n_out * s->n_in * 1e-9;
        fprintf(stderr, "%-10s %-8s %6d %6d | %9.1f %9.1f %9.1f %9.1f | %6.2f %6.2f\n", s->model,
                s->name, s->n_out, s->n_in, best[0] * 1e3, best[1] * 1e3, best[2] * 1e3,
                best[3] * 1e3, best[0] / best[1], best[0] / best[2]);
        printf("{\"bench\":\"qgemm\",\"model\":\"%s\",\"linear\":\"%s\",\"n_out\":%d,\"n_in\":%d,"
               "\"T\":%d,\"threads\":%d,\"reps\":%d,\"qgemm_kernel\":\"%s\",\"blas\":\"%s\","
               "\"fp32_s\":%.6f,\"w8a8_s\":%.6f,\"w4a8_s\":%.6f,\"act_quant_s\":%.6f,"
               "\"fp32_gops\":%.2f,\"w8a8_gops\":%.2f,\"w4a8_gops\":%.2f}\n",
               s->model, s->name, s->n_out, s->n_in, T, threads, reps, rb_qgemm_kernel(),
               rb_blas_kernels(), best[0], best[1], best[2], best[3], gop / best[0],
               gop / best[1], gop / best[2]);
        fflush(stdout);
        rb_qweight_free(&q8), rb_qweight_free(&q4), rb_qact_free(&qa);
        free(w), free(x), free(y);
    }
    return 0;
}
