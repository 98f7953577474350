/* Dynamic fake quantization speed: rb_fake_quant_dynamic (fast: multiversioned
 * and OpenMP over rows) against the scalar reference (rb_quant_params_ref +
 * rb_fake_quant_ref) on a [512][4096] fp32 matrix (8 MiB), per-tensor,
 * per-row and per-group-128, symmetric and asymmetric, 8 and 4 bits.
 * GB/s = matrix bytes / time per call (each call reads and writes it).  The
 * fast path is also timed on one thread.  Calls repeat in place on the same
 * buffer: after the first call the data is on the grid, which costs the same.
 *
 * usage: bench_quant [ROWS COLS] */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/io.h"
#include "base/rng.h"
#include "kernels/quant.h"

typedef struct {
    float *x, *scale, *zero;
    int rows, cols, ref;
    rb_quant_spec s;
} job;

static void run(job *j) {
    if (!j->ref) {
        rb_fake_quant_dynamic(j->x, j->rows, j->cols, &j->s, NULL);
    } else {
        rb_quant_params_ref(j->x, j->rows, j->cols, &j->s, j->scale, j->zero);
        rb_fake_quant_ref(j->x, j->rows, j->cols, &j->s, j->scale, j->zero);
    }
}

/* Seconds per call: repeats for at least 0.3 s, best of 3 rounds. */
static double seconds_per_call(job *j, const float *src) {
    size_t bytes = sizeof(float) * (size_t)j->rows * j->cols;
    memcpy(j->x, src, bytes);
    run(j); /* warm up */
    double best = 1e30;
    for (int round = 0; round < 3; round++) {
        int n = 0;
        double t0 = rb_now(), t;
        do {
            run(j);
            n++;
        } while ((t = rb_now() - t0) < 0.3);
        if (t / n < best) best = t / n;
    }
    return best;
}

int main(int argc, char **argv) {
    int rows = argc > 2 ? atoi(argv[1]) : 512, cols = argc > 2 ? atoi(argv[2]) : 4096;
    if (rows < 1 || cols < 1) {
        fprintf(stderr, "usage: bench_quant [ROWS COLS]\n");
        return 1;
    }
    size_t n = (size_t)rows * cols;
    float *src = malloc(sizeof(float) * n), *x = malloc(sizeof(float) * n);
    float *scale = malloc(sizeof(float) * n), *zero = malloc(sizeof(float) * n);
    if (!src || !x || !scale || !zero) {
        fprintf(stderr, "bench_quant: out of memory\n");
        return 1;
    }
    rb_rng r;
    rb_rng_seed(&r, 1);
    for (size_t i = 0; i < n; i++) src[i] = (float)rb_rng_normal(&r);
    int threads = omp_get_max_threads();
    double gb = sizeof(float) * (double)n / 1e9;
    printf("dynamic fake quant of a [%d][%d] fp32 matrix (%.1f MB), %d threads; GB/s\n", rows,
           cols, gb * 1e3, threads);
    printf("%-10s %-4s %4s  %9s %9s %9s %8s\n", "gran", "sym", "bits", "fast", "fast-1t", "ref",
           "speedup");
    static const struct {
        rb_granularity g;
        int group;
        const char *name;
    } grans[] = {{RB_GRAN_TENSOR, 0, "tensor"}, {RB_GRAN_ROW, 0, "row"}, {RB_GRAN_GROUP, 128, "group128"}};
    for (size_t gi = 0; gi < 3; gi++)
        for (int asym = 0; asym < 2; asym++)
            for (int bits = 8; bits >= 4; bits -= 4) {
                job j = {x, scale, zero, rows, cols, 0, {bits, asym, grans[gi].g, grans[gi].group, 1.0f, 0}};
                double fast = seconds_per_call(&j, src);
                omp_set_num_threads(1);
                double fast1 = seconds_per_call(&j, src);
                omp_set_num_threads(threads);
                j.ref = 1;
                double ref = seconds_per_call(&j, src);
                printf("%-10s %-4s %4d  %9.2f %9.2f %9.2f %7.1fx\n", grans[gi].name,
                       asym ? "asym" : "sym", bits, gb / fast, gb / fast1, gb / ref, ref / fast);
                fflush(stdout);
            }
    /* the clip search (51 candidates) per row, for scale */
    job j = {x, scale, zero, rows, cols, 0, {4, 0, RB_GRAN_ROW, 0, RB_CLIP_MSE, 0}};
    double fast = seconds_per_call(&j, src);
    j.ref = 1;
    double ref = seconds_per_call(&j, src);
    printf("%-10s %-4s %4d  %9.2f %9s %9.2f %7.1fx   (clip mse)\n", "row", "sym", 4, gb / fast, "",
           gb / ref, ref / fast);
    free(src); free(x); free(scale); free(zero);
    return 0;
}
