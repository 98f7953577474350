/* Linear layers on OpenBLAS sgemm.
 *
 * rotbench links the OpenMP build of OpenBLAS (meson.build), so sgemm runs on
 * the same libgomp thread pool as the other kernels.  Measured on 2 cores
 * (stories260K, ctx 512): the pthread build beside OpenMP oversubscribes the
 * cores (each pool spins while the other works) and runs 3.5x slower; the
 * serial build called from several OpenMP threads at once is not
 * thread-safe on Debian (wrong perplexities).  See results/perf/. */
#include "kernels/linear.h"

#include <cblas.h>
#include <omp.h>
#include <stddef.h>

void rb_linear(float *y, const float *x, const float *w, int T, int n_in, int n_out) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, n_out, n_in, 1.0f, x, n_in, w, n_in,
                0.0f, y, n_out);
}

void rb_linear_acc(float *y, const float *x, const float *w, int T, int n_in, int n_out) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, n_out, n_in, 1.0f, x, n_in, w, n_in,
                1.0f, y, n_out);
}

void rb_linear_ref(float *y, const float *x, const float *w, int T, int n_in, int n_out) {
    for (int t = 0; t < T; t++)
        for (int o = 0; o < n_out; o++) {
            double acc = 0;
            for (int i = 0; i < n_in; i++)
                acc += (double)x[(size_t)t * n_in + i] * w[(size_t)o * n_in + i];
            y[(size_t)t * n_out + o] = (float)acc;
        }
}

void rb_bias_add(float *y, const float *b, int T, int n) {
#pragma omp parallel for schedule(static) if (T * (long)n > 65536)
    for (int t = 0; t < T; t++) {
        float *yt = y + (size_t)t * n;
#pragma omp simd
        for (int j = 0; j < n; j++) yt[j] += b[j];
    }
}

void rb_bias_add_ref(float *y, const float *b, int T, int n) {
    for (int t = 0; t < T; t++)
        for (int j = 0; j < n; j++) y[(size_t)t * n + j] = (float)((double)y[(size_t)t * n + j] + b[j]);
}

const char *rb_blas_kernels(void) { return openblas_get_corename(); }

const char *rb_gemm_backend(void) { return "openblas"; }

int rb_blas_threads(void) { return openblas_get_num_threads(); }

void rb_set_threads(int threads) {
    omp_set_num_threads(threads);
    openblas_set_num_threads(threads);
}
