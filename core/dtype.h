/* Stored element types of model files and their conversion to fp32.
 *
 * F32 (IEEE binary32), F16 (binary16), BF16 (the top half of a binary32) and
 * Q8_0 (ggml: blocks of 32 weights, each block an F16 scale d followed by
 * 32 int8 q; weight = d·q).  All little-endian. */
#ifndef RB_DTYPE_H
#define RB_DTYPE_H

#include <stddef.h>
#include <stdint.h>

typedef enum rb_dtype { RB_DTYPE_F32, RB_DTYPE_F16, RB_DTYPE_BF16, RB_DTYPE_Q8_0 } rb_dtype;

enum { RB_Q8_0_BLOCK = 32, RB_Q8_0_BLOCK_BYTES = 34 };

/* "F32", "F16", "BF16", "Q8_0". */
const char *rb_dtype_name(rb_dtype t);

/* Bytes of n elements of type t (n a multiple of 32 for Q8_0); UINT64_MAX
 * when that overflows. */
uint64_t rb_dtype_bytes(rb_dtype t, uint64_t n);

/* Converts n elements at src (any alignment) to fp32 at dst.  For Q8_0, n
 * is a multiple of 32. */
void rb_dtype_to_f32(rb_dtype t, const void *src, float *dst, size_t n);

/* fp32 → BF16 / F16 with round-to-nearest-even (NaN stays NaN), for writers. */
uint16_t rb_f32_to_bf16(float f);
uint16_t rb_f32_to_f16(float f);
float rb_f16_to_f32(uint16_t h);

#endif
