/* Stored element types and their conversion to fp32 (see core/dtype.h). */
#include "core/dtype.h"

#include <math.h>
#include <string.h>

static const char *const names[] = {"F32", "F16", "BF16", "Q8_0"};

const char *rb_dtype_name(rb_dtype t) {
    return t >= RB_DTYPE_F32 && t <= RB_DTYPE_Q8_0 ? names[t] : "?";
}

uint64_t rb_dtype_bytes(rb_dtype t, uint64_t n) {
    uint64_t per = t == RB_DTYPE_F32 ? 4 : 2;
    if (t == RB_DTYPE_Q8_0) return n / RB_Q8_0_BLOCK * RB_Q8_0_BLOCK_BYTES;
    return n > UINT64_MAX / per ? UINT64_MAX : n * per;
}

static float bits_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

float rb_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 31, man = h & 1023;
    if (exp == 31) return bits_f32(sign | 0x7f800000u | (man << 13)); /* inf / NaN */
    if (exp == 0) {                                                   /* zero / subnormal */
        float v = ldexpf((float)man, -24);
        return sign ? -v : v;
    }
    return bits_f32(sign | ((exp + 112) << 23) | (man << 13));
}

static uint16_t load16(const unsigned char *p) { return (uint16_t)(p[0] | (p[1] << 8)); }

void rb_dtype_to_f32(rb_dtype t, const void *src, float *dst, size_t n) {
    const unsigned char *s = src;
    switch (t) {
    case RB_DTYPE_F32: memcpy(dst, src, 4 * n); break;
    case RB_DTYPE_BF16:
        /* memcpy'd 16-bit loads (any alignment; little-endian hosts) vectorize */
        for (size_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, s + 2 * i, 2);
            uint32_t u = (uint32_t)h << 16;
            memcpy(&dst[i], &u, 4);
        }
        break;
    case RB_DTYPE_F16:
        for (size_t i = 0; i < n; i++) dst[i] = rb_f16_to_f32(load16(s + 2 * i));
        break;
    case RB_DTYPE_Q8_0:
        for (size_t b = 0; b < n / RB_Q8_0_BLOCK; b++) {
            const unsigned char *blk = s + b * RB_Q8_0_BLOCK_BYTES;
            float d = rb_f16_to_f32(load16(blk));
            for (int i = 0; i < RB_Q8_0_BLOCK; i++)
                dst[b * RB_Q8_0_BLOCK + i] = d * (float)(int8_t)blk[2 + i];
        }
        break;
    }
}

uint16_t rb_f32_to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40); /* quiet NaN */
    u += 0x7fffu + ((u >> 16) & 1);
    return (uint16_t)(u >> 16);
}

uint16_t rb_f32_to_f16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    uint32_t sign = (u >> 16) & 0x8000u, a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return (uint16_t)(sign | 0x7e00u);
    if (a >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); /* rounds to inf */
    if (a < 0x38800000u) {                                    /* subnormal or zero in f16 */
        float v = bits_f32(a) * 16777216.0f;                  /* in units of 2^-24 */
        return (uint16_t)(sign | (uint32_t)nearbyintf(v));
    }
    uint32_t r = a + 0xfffu + ((a >> 13) & 1);
    return (uint16_t)(sign | ((r - 0x38000000u) >> 13));
}
