/* The SIMD variant the dispatched kernels run (kernels/simd.h). */
#include "kernels/simd.h"

rb_simd_level_t rb_simd_level(void) {
#ifdef RB_SIMD_X86
    return rb_simd_level_inline();
#else
    return RB_SIMD_BASELINE;
#endif
}

const char *rb_simd_name(void) {
    switch (rb_simd_level()) {
    case RB_SIMD_AVX512: return "avx512";
    case RB_SIMD_AVX2: return "avx2+fma";
    default: return "baseline";
    }
}
