/* GEMM wrappers for linear layers.
 *   y [T][n_out] = x [T][n_in] · Wᵀ, W [n_out][n_in] (row-major, llama2.c layout)
 * rb_linear is the chosen backend's sgemm (OpenBLAS cblas_sgemm or oneDNN
 * dnnl_sgemm, both on the libgomp thread pool of the other kernels, see
 * linear.c); rb_linear_ref is the triple loop with double accumulation that
 * tests compare against.  Results are deterministic for a given backend and
 * thread count. */
#ifndef RB_KERNELS_LINEAR_H
#define RB_KERNELS_LINEAR_H

#include "base/error.h"

void rb_linear(float *y, const float *x, const float *w, int T, int n_in, int n_out);
/* y += x · Wᵀ (residual accumulate, beta = 1) */
void rb_linear_acc(float *y, const float *x, const float *w, int T, int n_in, int n_out);
void rb_linear_ref(float *y, const float *x, const float *w, int T, int n_in, int n_out);

/* y [T][n] += b [n] on every row: a linear's output bias (y = x·Wᵀ + b). */
void rb_bias_add(float *y, const float *b, int T, int n);
void rb_bias_add_ref(float *y, const float *b, int T, int n);

/* The fp32 GEMM backend rb_linear runs: "openblas" (the default) or
 * "onednn" (when libdnnl was found at build time), recorded as `gemm`
 * beside blas_kernels in every eval record.  The environment variable
 * RB_GEMM=openblas|onednn chooses, once per process (an unknown or
 * unavailable name keeps the default).  OpenBLAS is the default because
 * nothing measured beat it by 5% (bench/bench_gemm round-robin on the
 * Llama-2-7B shapes, results/perf/gemm.md): on AMD Zen 3 (AVX2) oneDNN
 * 2.6.3 was at most as fast and BLIS 0.9.0 4x slower; on Sapphire Rapids
 * (AVX-512) oneDNN was 0.82-0.88x OpenBLAS's SkylakeX kernels at T = 512
 * and 1.02-1.04x at T = 2048 (2 threads), BLIS (Haswell kernels there)
 * 0.13x. */
const char *rb_gemm_backend(void);

/* Whether backend `name` ("openblas", "onednn") is built in. */
int rb_gemm_available(const char *name);

/* Switches rb_linear to backend `name` (NULL: back to the default above), a
 * process-wide setting like rb_set_threads; RB_EINVAL if the name is unknown
 * or not built in. */
int rb_gemm_set_backend(const char *name, rb_error *err);

/* The name of the kernel set OpenBLAS chose ("Haswell", "SkylakeX", ...). */
const char *rb_blas_kernels(void);

/* Threads OpenBLAS uses. */
int rb_blas_threads(void);

/* Sets the threads of OpenMP and OpenBLAS (process-wide settings of those
 * libraries; oneDNN follows OpenMP's). */
void rb_set_threads(int threads);

#endif
