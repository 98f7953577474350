/* Linear layers on the machine's fastest fp32 GEMM.
 *
 * Backends (rb_gemm_backend, kernels/linear.h):
 *   openblas  cblas_sgemm of the OpenMP build of OpenBLAS (meson.build), so
 *             sgemm runs on the same libgomp thread pool as the other
 *             kernels.  Measured on 2 cores (stories260K, ctx 512): the
 *             pthread build beside OpenMP oversubscribes the cores (each pool
 *             spins while the other works) and runs 3.5x slower; the serial
 *             build called from several OpenMP threads at once is not
 *             thread-safe on Debian (wrong perplexities).  See results/perf/.
 *   onednn    dnnl_sgemm of oneDNN (libdnnl, when meson finds it:
 *             RB_HAVE_DNNL).  Debian's build runs on OpenMP too, the same
 *             libgomp, and takes its thread count from omp_get_max_threads()
 *             of the calling thread, i.e. rb_set_threads (checked: 1 and 2
 *             threads in /proc/self/task after a call).  Its results are the
 *             same bits run to run at a fixed thread count
 *             (tests/test_kernels.c checks at 1 and 2 threads).
 * The default is openblas on every CPU: measured round-robin on the 7B
 * shapes (results/perf/gemm.md), oneDNN 2.6.3 was not faster than OpenBLAS
 * 0.3.21 on AVX2 Zen 3 nor, by 5%, on AVX-512 Sapphire Rapids (quiet, 2
 * threads: 0.88x at T = 512, 1.04x at T = 2048), so the backend is a choice
 * per run:
 * RB_GEMM=openblas|onednn (an unknown or unavailable name keeps the
 * default), recorded as `gemm`.  OpenBLAS stays linked either way: LAPACK
 * (GPTQ, ResQ) needs it.
 *
 * Global state: the chosen backend, decided once (a benign race: every
 * thread computes the same value) or set by rb_gemm_set_backend. */
#include "kernels/linear.h"

#include <cblas.h>
#include <omp.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#if RB_HAVE_DNNL
#include <oneapi/dnnl/dnnl.h>
#endif

enum { GEMM_UNDECIDED = -1, GEMM_OPENBLAS = 0, GEMM_ONEDNN = 1 };
static const char *const gemm_names[] = {"openblas", "onednn"};
static int gemm = GEMM_UNDECIDED;

static int gemm_id(const char *name) {
    if (!name) return GEMM_UNDECIDED;
    for (int i = 0; i < (int)(sizeof gemm_names / sizeof *gemm_names); i++)
        if (!strcmp(name, gemm_names[i])) return rb_gemm_available(name) ? i : GEMM_UNDECIDED;
    return GEMM_UNDECIDED;
}

static int gemm_default(void) {
    int forced = gemm_id(getenv("RB_GEMM"));
    return forced != GEMM_UNDECIDED ? forced : GEMM_OPENBLAS;
}

static int gemm_backend(void) {
    if (gemm == GEMM_UNDECIDED) gemm = gemm_default();
    return gemm;
}

int rb_gemm_available(const char *name) {
    if (!strcmp(name, "openblas")) return 1;
#if RB_HAVE_DNNL
    if (!strcmp(name, "onednn")) return 1;
#endif
    return 0;
}

int rb_gemm_set_backend(const char *name, rb_error *err) {
    if (!name) {
        gemm = gemm_default();
        return RB_OK;
    }
    int id = gemm_id(name);
    if (id == GEMM_UNDECIDED)
        return rb_error_set(err, RB_EINVAL, "GEMM backend '%s': %s", name,
                            strcmp(name, "openblas") && strcmp(name, "onednn")
                                ? "unknown (openblas or onednn)"
                                : "not built in (meson did not find libdnnl)");
    gemm = id;
    return RB_OK;
}

const char *rb_gemm_backend(void) { return gemm_names[gemm_backend()]; }

static void sgemm(float *y, const float *x, const float *w, int T, int n_in, int n_out, float beta) {
#if RB_HAVE_DNNL
    /* dnnl_sgemm is row-major: C = alpha·op(A)·op(B) + beta·C.  It fails
     * only on invalid arguments (none here) or when it cannot allocate its
     * packing buffers; OpenBLAS then computes this call. */
    if (gemm_backend() == GEMM_ONEDNN &&
        dnnl_sgemm('N', 'T', T, n_out, n_in, 1.0f, x, n_in, w, n_in, beta, y, n_out) == dnnl_success)
        return;
#endif
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, n_out, n_in, 1.0f, x, n_in, w, n_in,
                beta, y, n_out);
}

void rb_linear(float *y, const float *x, const float *w, int T, int n_in, int n_out) {
    sgemm(y, x, w, T, n_in, n_out, 0.0f);
}

void rb_linear_acc(float *y, const float *x, const float *w, int T, int n_in, int n_out) {
    sgemm(y, x, w, T, n_in, n_out, 1.0f);
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

int rb_blas_threads(void) { return openblas_get_num_threads(); }

/* oneDNN has no thread setting of its own in its OpenMP build: it runs
 * omp_get_max_threads() threads, which omp_set_num_threads sets. */
void rb_set_threads(int threads) {
    omp_set_num_threads(threads);
    openblas_set_num_threads(threads);
}
