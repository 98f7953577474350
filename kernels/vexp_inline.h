/* rb_exp_inline: the scalar body of rb_vexp, for use inside other
 * vectorised loops (softmax, SiLU).  See kernels/vexp.c. */
#ifndef RB_VEXP_INLINE_H
#define RB_VEXP_INLINE_H

#include <math.h>
#include <stdint.h>

static inline float rb_exp_inline(float x) {
    /* ternaries, not fminf/fmaxf: those keep NaN semantics and become libm calls */
    x = x < -87.3f ? -87.3f : x;
    x = x > 88.7f ? 88.7f : x;
    /* n = round(x·log2 e) by the 1.5·2^23 trick (floorf would be a libm call) */
    const float magic = 12582912.0f;
    float n = (x * 1.44269504088896341f + magic) - magic;
    float r = x - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    union { int32_t i; float f; } s;
    s.i = ((int32_t)n + 127) << 23;
    return p * s.f;
}

#endif
