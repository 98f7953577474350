/* K or V of one window in their quantized form (`--kernels int`): the
 * integer codes of the K/V quantizer (kernels/quant.h) with its scales and
 * zero points, which attention (kernels/ops.h rb_attention_segments_kv)
 * dequantizes row by row as it gathers each head's keys and values.
 *
 * x [rows][cols] (T × n_kv_heads·head_dim) is quantized group by group as
 * rb_fake_quant would (same parameters, same rounding: kernels/
 * quant_common.h), and each value is stored as an unsigned code u of `bits`
 * bits:
 *   symmetric   u = q + 2^(bits-1)   (q in [-(2^(bits-1)-1), 2^(bits-1)-1])
 *   asymmetric  u = q                (q in [0, 2^bits - 1], zero point z)
 * one byte a value for 5..8 bits, two a byte for 2..4 bits (column 2i in
 * the low nibble of byte i of its row, rows of (cols + 1) / 2 bytes).
 * Dequantization gives (u - 2^(bits-1))·s or (u - z)·s, exactly the float
 * rb_fake_quant leaves in x: attention over the codes equals attention over
 * fake-quantized K/V bit for bit, with 1/4 (8 bits) or 1/8 (4 bits) of the
 * float's memory for the values themselves. */
#ifndef RB_KERNELS_KV_CODES_H
#define RB_KERNELS_KV_CODES_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "kernels/quant.h"

typedef struct rb_kv_codes {
    int rows, cols;      /* T, n_kv_heads · head_dim */
    rb_quant_spec spec;  /* the quantizer: bits 2..8, granularity, symmetry */
    int nibbles;         /* 1: two codes a byte (bits ≤ 4) */
    size_t stride;       /* bytes per row */
    uint8_t *codes;      /* [rows][stride], owned */
    float *scale, *zero; /* [rb_quant_n_params(spec, rows, cols)], owned */
    size_t cap_codes, cap_params; /* capacities (bytes, parameters): reused across windows */
} rb_kv_codes;

/* Quantizes x [rows][cols] by s into c (its buffers grown as needed).
 * scale/zero: static parameters [rb_quant_n_params(s, rows, cols)], or NULL
 * for dynamic ones computed from x (rb_quant_params).  RB_EINVAL for an off
 * or invalid spec, RB_ENOMEM (c is then empty). */
int rb_kv_codes_quantize(rb_kv_codes *c, const float *x, int rows, int cols,
                         const rb_quant_spec *s, const float *scale, const float *zero,
                         rb_error *err);

/* out [n] = the dequantized values of row `row`, columns [c0, c0 + n). */
void rb_kv_codes_dequant(const rb_kv_codes *c, int row, int c0, int n, float *restrict out);

/* Bytes of codes and parameters of the current window. */
size_t rb_kv_codes_bytes(const rb_kv_codes *c);

void rb_kv_codes_free(rb_kv_codes *c);

#endif
