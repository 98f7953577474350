/* Stored element types and their conversion to fp32 (see core/dtype.h). */
#include "core/dtype.h"

#include <math.h>
#include <string.h>

static const char *const names[] = {"F32", "F16", "BF16", "Q8_0", "Q4_0"};

const char *rb_dtype_name(rb_dtype t) {
    return t >= RB_DTYPE_F32 && t <= RB_DTYPE_Q4_0 ? names[t] : "?";
}

uint64_t rb_dtype_bytes(rb_dtype t, uint64_t n) {
    uint64_t per = t == RB_DTYPE_F32 ? 4 : 2;
    if (t == RB_DTYPE_Q8_0) return n / RB_Q8_0_BLOCK * RB_Q8_0_BLOCK_BYTES;
    if (t == RB_DTYPE_Q4_0) return n / RB_Q4_0_BLOCK * RB_Q4_0_BLOCK_BYTES;
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
    case RB_DTYPE_Q4_0:
        for (size_t b = 0; b < n / RB_Q4_0_BLOCK; b++) {
            const unsigned char *blk = s + b * RB_Q4_0_BLOCK_BYTES;
            float d = rb_f16_to_f32(load16(blk));
            float *o = dst + b * RB_Q4_0_BLOCK;
            for (int j = 0; j < RB_Q4_0_BLOCK / 2; j++) {
                o[j] = (float)((blk[2 + j] & 0x0F) - 8) * d;
                o[j + RB_Q4_0_BLOCK / 2] = (float)((blk[2 + j] >> 4) - 8) * d;
            }
        }
        break;
    }
}

int rb_dtype_is_block(rb_dtype t) { return t == RB_DTYPE_Q8_0 || t == RB_DTYPE_Q4_0; }

/* q[32] with x[i] == q[i]·d for the largest usable d = max|x| / k, k the
 * magnitude of the largest |q| (a binary16 d; qlo..qhi the code range).
 * 1 when found. */
static int block_codes(const float *x, int qlo, int qhi, float *d_out, int q[32]) {
    float amax = 0, vmax = 0;
    for (int i = 0; i < 32; i++)
        if (fabsf(x[i]) > amax) amax = fabsf(x[i]), vmax = x[i];
    if (amax == 0) {
        *d_out = 0;
        for (int i = 0; i < 32; i++) q[i] = 0;
        return 1;
    }
    int kmax = vmax < 0 ? -qlo : qhi;
    for (int k = kmax; k >= 1; k--) {
        float d = amax / (float)k;
        if (rb_f16_to_f32(rb_f32_to_f16(d)) != d) continue;
        int ok = 1;
        for (int i = 0; i < 32 && ok; i++) {
            float r = nearbyintf(x[i] / d);
            ok = r >= (float)qlo && r <= (float)qhi && r * d == x[i];
            q[i] = (int)r;
        }
        if (ok) {
            *d_out = d;
            return 1;
        }
    }
    return 0;
}

long rb_dtype_encode_exact(rb_dtype t, const float *src, size_t n, void *dst) {
    unsigned char *o = dst;
    int q4 = t == RB_DTYPE_Q4_0, bytes = q4 ? RB_Q4_0_BLOCK_BYTES : RB_Q8_0_BLOCK_BYTES;
    for (size_t b = 0; b < n / 32; b++) {
        float d;
        int q[32];
        if (!block_codes(src + 32 * b, q4 ? -8 : -127, q4 ? 7 : 127, &d, q)) return (long)b;
        unsigned char *blk = o + b * (size_t)bytes;
        uint16_t h = rb_f32_to_f16(d);
        blk[0] = (unsigned char)(h & 0xff);
        blk[1] = (unsigned char)(h >> 8);
        for (int j = 0; q4 && j < 16; j++)
            blk[2 + j] = (unsigned char)((q[j] + 8) | ((q[j + 16] + 8) << 4));
        for (int j = 0; !q4 && j < 32; j++) blk[2 + j] = (unsigned char)(int8_t)q[j];
    }
    return -1;
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
