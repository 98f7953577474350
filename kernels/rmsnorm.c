#include <math.h>

#include "kernels/ops.h"
#include "kernels/simd.h"

RB_SIMD_INLINE void rmsnorm_row_body(float *out, const float *x, const float *w, int cols, float eps) {
    float ss = 0;
#pragma omp simd reduction(+ : ss)
    for (int c = 0; c < cols; c++) ss += x[c] * x[c];
    float inv = 1.0f / sqrtf(ss / cols + eps);
#pragma omp simd
    for (int c = 0; c < cols; c++) out[c] = x[c] * inv * w[c];
}
RB_SIMD_DISPATCH_VOID(rmsnorm_row, (float *out, const float *x, const float *w, int cols, float eps), (out, x, w, cols, eps))

void rb_rmsnorm(float *out, const float *x, const float *w, int rows, int cols, float eps) {
#pragma omp parallel for schedule(static) if (rows * (long)cols > 32768)
    for (int r = 0; r < rows; r++)
        rmsnorm_row(out + (size_t)r * cols, x + (size_t)r * cols, w, cols, eps);
}
