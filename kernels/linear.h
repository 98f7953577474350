/* GEMM wrappers for linear layers.
 *   y [T][n_out] = x [T][n_in] · Wᵀ, W [n_out][n_in] (row-major, llama2.c layout)
 * rb_linear is OpenBLAS cblas_sgemm (OpenMP build: one thread pool with the
 * other kernels, see linear.c); rb_linear_ref is the triple loop with double
 * accumulation that tests compare against.  Results are deterministic for a
 * given thread count. */
#ifndef RB_KERNELS_LINEAR_H
#define RB_KERNELS_LINEAR_H

void rb_linear(float *y, const float *x, const float *w, int T, int n_in, int n_out);
/* y += x · Wᵀ (residual accumulate, beta = 1) */
void rb_linear_acc(float *y, const float *x, const float *w, int T, int n_in, int n_out);
void rb_linear_ref(float *y, const float *x, const float *w, int T, int n_in, int n_out);

/* y [T][n] += b [n] on every row: a linear's output bias (y = x·Wᵀ + b). */
void rb_bias_add(float *y, const float *b, int T, int n);
void rb_bias_add_ref(float *y, const float *b, int T, int n);

/* The fp32 GEMM backend rb_linear runs: "openblas".  Measured on the
 * 2-core AMD EPYC (Zen 3, AVX2+FMA) with bench/bench_gemm, round-robin on
 * the 7B shapes (results/perf/gemm.md): OpenBLAS 0.3.21 (Zen/Haswell
 * kernels) was at least as fast as oneDNN 2.6.3 and 4x BLIS 0.9.0's OpenMP
 * build at 2 threads, so it stays the one backend; the record carries this
 * name beside blas_kernels. */
const char *rb_gemm_backend(void);

/* The name of the kernel set OpenBLAS chose ("Haswell", "SkylakeX", ...). */
const char *rb_blas_kernels(void);

/* Threads OpenBLAS uses. */
int rb_blas_threads(void);

/* Sets the threads of OpenMP and OpenBLAS (process-wide settings of those
 * libraries; the only global state rotbench changes). */
void rb_set_threads(int threads);

#endif
