#include <math.h>

#include "kernels/ops.h"
#include "kernels/simd.h"
#include "kernels/vexp_inline.h"

RB_SIMD_INLINE double nll_row_body(const float *l, int target, int cols) {
    float mx = l[0];
#pragma omp simd reduction(max : mx)
    for (int c = 0; c < cols; c++) mx = l[c] > mx ? l[c] : mx;
    double sum = 0;
    const int block = 256;
    for (int c0 = 0; c0 < cols; c0 += block) {
        int c1 = c0 + block < cols ? c0 + block : cols;
        float part = 0;
#pragma omp simd reduction(+ : part)
        for (int c = c0; c < c1; c++) part += rb_exp_inline(l[c] - mx);
        sum += part;
    }
    return (double)mx + log(sum) - (double)l[target];
}
RB_SIMD_DISPATCH(double, nll_row, (const float *l, int target, int cols), (l, target, cols))

void rb_nll_rows(double *nll, const float *logits, const int32_t *target, int rows, int cols) {
#pragma omp parallel for schedule(static) if (rows * (long)cols > 65536)
    for (int r = 0; r < rows; r++) nll[r] = nll_row(logits + (size_t)r * cols, target[r], cols);
}
