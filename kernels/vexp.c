/* Vectorisable exp: range reduction x = n·ln2 + r, |r| ≤ ln2/2, a degree-6
 * polynomial for e^r (Cephes expf coefficients), and 2^n by exponent bits.
 * Branch-free so the multiversioned loops vectorise; inputs below -87.3 are
 * clamped (result ≈ 1e-38, harmless in softmax sums). */
#include <math.h>
#include <stdint.h>

#include "kernels/ops.h"
#include "kernels/simd.h"
#include "kernels/vexp_inline.h"

RB_SIMD_INLINE void vexp_span_body(float *y, const float *x, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = rb_exp_inline(x[i]);
}
RB_SIMD_DISPATCH_VOID(vexp_span, (float *y, const float *x, size_t n), (y, x, n))

void rb_vexp(float *y, const float *x, size_t n) { vexp_span(y, x, n); }
