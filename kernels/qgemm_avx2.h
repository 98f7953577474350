/* The AVX2 micro-kernel of kernels/qgemm.h (internal to qgemm.c). */
#ifndef RB_KERNELS_QGEMM_AVX2_H
#define RB_KERNELS_QGEMM_AVX2_H

#include "kernels/qgemm.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define RB_QGEMM_HAVE_AVX2 1
/* acc [mt][ldacc] += a [mt][lda] (columns k0..k0+n) · (codes of weight rows
 * o0..o0+nt-1 - z[j])ᵀ, int32.  k0 even for 4-bit weights. */
void rb_qgemm_block_avx2(int32_t *acc, int ldacc, const int16_t *a, size_t lda,
                         const rb_qweight *w, int o0, int mt, int nt, int k0, int n,
                         const int16_t *z);
#else
#define RB_QGEMM_HAVE_AVX2 0
#endif

#endif
