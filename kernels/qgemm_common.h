/* Scalar pieces shared by the reference and the fast integer GEMM
 * (kernels/qgemm.h), so that both rescale in the same order: the weight
 * code of one element and the rescale of one segment's dot product. */
#ifndef RB_KERNELS_QGEMM_COMMON_H
#define RB_KERNELS_QGEMM_COMMON_H

#include "kernels/qgemm.h"

/* The stored code of w[o][k] (int8 for bits 8, the nibble 0..15 for 4). */
static inline int rb_qweight_code(const rb_qweight *w, int o, int k) {
    const uint8_t *row = w->codes + (size_t)o * w->stride;
    if (w->bits == 8) return (int8_t)row[k];
    return (row[k >> 1] >> ((k & 1) * 4)) & 0xF;
}

/* Rows of w rounded up to a whole panel of 32 (the VNNI copy's rows). */
static inline int rb_qgemm_rows32(const rb_qweight *w) { return (w->rows + 31) & ~31; }

/* y ← y + dot·(sa·sw): the one rescale of a segment.  Callers compile this
 * without FMA (no target attribute), so the reference and the fast path
 * round alike. */
static inline float rb_qgemm_rescale(float y, int32_t dot, float sa, float sw) {
    float s = sa * sw;
    float v = (float)dot * s;
    return y + v;
}

#endif
