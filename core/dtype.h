/* Stored element types of model files and their conversion to fp32.
 *
 * F32 (IEEE binary32), F16 (binary16), BF16 (the top half of a binary32),
 * and ggml's blocks of 32 consecutive weights of a row (ggml-common.h,
 * block_q8_0 / block_q4_0; dequantize_row_q8_0 / _q4_0 in ggml-quants.c):
 *   Q8_0  34 bytes: F16 scale d, then 32 int8 q;       weight j = d·q[j]
 *   Q4_0  18 bytes: F16 scale d, then 16 bytes qs; byte j holds weight j in
 *         its low nibble and weight j+16 in its high nibble, each stored
 *         offset by 8:                                  weight = d·(nibble − 8)
 * All little-endian. */
#ifndef RB_DTYPE_H
#define RB_DTYPE_H

#include <stddef.h>
#include <stdint.h>

typedef enum rb_dtype {
    RB_DTYPE_F32, RB_DTYPE_F16, RB_DTYPE_BF16, RB_DTYPE_Q8_0, RB_DTYPE_Q4_0
} rb_dtype;

enum { RB_Q8_0_BLOCK = 32, RB_Q8_0_BLOCK_BYTES = 34, RB_Q4_0_BLOCK = 32, RB_Q4_0_BLOCK_BYTES = 18 };

/* Whether t stores blocks of 32 (Q8_0, Q4_0). */
int rb_dtype_is_block(rb_dtype t);

/* "F32", "F16", "BF16", "Q8_0", "Q4_0". */
const char *rb_dtype_name(rb_dtype t);

/* Bytes of n elements of type t (n a multiple of 32 for Q8_0/Q4_0);
 * UINT64_MAX when that overflows. */
uint64_t rb_dtype_bytes(rb_dtype t, uint64_t n);

/* Converts n elements at src (any alignment) to fp32 at dst.  For Q8_0 and
 * Q4_0, n is a multiple of 32. */
void rb_dtype_to_f32(rb_dtype t, const void *src, float *dst, size_t n);

/* Encodes n fp32 values (a multiple of 32) as Q8_0 or Q4_0 blocks at dst
 * (rb_dtype_bytes(t, n) bytes) such that rb_dtype_to_f32 gives back exactly
 * src (as float ==): each block's values must be q·d for one binary16 d > 0
 * (or all zero) and integers q in -127..127 (Q8_0) or -8..7 (Q4_0), which
 * is what rotbench's symmetric group-32 quantizer with fp16 scales produces
 * (kernels/quant.h, scale_f16).  Returns -1 when every block was
 * representable, else the index of the first block that is not (dst is then
 * incomplete).  This is not ggml's quantizer (quantize_row_q4_0 picks
 * d = max/−8 from unquantized values): it stores a model that is already
 * quantized, without changing it. */
long rb_dtype_encode_exact(rb_dtype t, const float *src, size_t n, void *dst);

/* fp32 → BF16 / F16 with round-to-nearest-even (NaN stays NaN), for writers. */
uint16_t rb_f32_to_bf16(float f);
uint16_t rb_f32_to_f16(float f);
float rb_f16_to_f32(uint16_t h);

#endif
