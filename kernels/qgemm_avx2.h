/* The AVX2 micro-kernel of kernels/qgemm.h (internal to qgemm.c). */
#ifndef RB_KERNELS_QGEMM_AVX2_H
#define RB_KERNELS_QGEMM_AVX2_H

#include "kernels/qgemm.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define RB_QGEMM_HAVE_AVX2 1
/* wb [nt][ldw] ← the codes of weight rows o0..o0+nt-1, columns k0..k0+n-1,
 * minus each row's zero z[j], as int16 (k0 even for 4-bit weights). */
void rb_qgemm_widen_avx2(int16_t *wb, int ldw, const rb_qweight *w, int o0, int nt, int k0,
                         int n, const int16_t *z);
/* acc [mt][ldacc] += a [mt][lda] (n columns) · wb [nt][ldw]ᵀ, int32. */
void rb_qgemm_block_avx2(int32_t *acc, int ldacc, const int16_t *a, size_t lda,
                         const int16_t *wb, int ldw, int mt, int nt, int n);
#else
#define RB_QGEMM_HAVE_AVX2 0
#endif

#endif
