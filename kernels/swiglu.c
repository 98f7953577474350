#include "kernels/ops.h"
#include "kernels/simd.h"
#include "kernels/vexp_inline.h"

RB_SIMD_INLINE void swiglu_chunk_body(float *a, const float *b, size_t n) {
#pragma omp simd
    for (size_t i = 0; i < n; i++) a[i] = a[i] / (1.0f + rb_exp_inline(-a[i])) * b[i];
}
RB_SIMD_DISPATCH_VOID(swiglu_chunk, (float *a, const float *b, size_t n), (a, b, n))

void rb_swiglu(float *a, const float *b, size_t n) {
    const size_t chunk = 16384;
    long nchunks = (long)((n + chunk - 1) / chunk);
#pragma omp parallel for schedule(static) if (nchunks > 1)
    for (long c = 0; c < nchunks; c++) {
        size_t lo = (size_t)c * chunk, len = n - lo < chunk ? n - lo : chunk;
        swiglu_chunk(a + lo, b + lo, len);
    }
}
