/* Uniform integer fake quantization (quantize then dequantize, in fp32).
 *
 * A matrix x [rows][cols] is split into quantization groups by granularity:
 *   RB_GRAN_TENSOR   one group: the whole matrix            n_params = 1
 *   RB_GRAN_ROW      one group per row (weights: per output channel;
 *                    activations: per token)                 n_params = rows
 *   RB_GRAN_GROUP    per row, groups of `group` consecutive columns; the
 *                    last group of a row is shorter when group does not
 *                    divide cols (172 = 5·32 + 12)    n_params = rows * ceil(cols/group)
 * Each group g has a scale s_g > 0 and a zero point z_g (an integer stored as
 * float; 0 for symmetric).  With b bits:
 *   symmetric:  q = clamp(round(x·(1/s)), -(2^(b-1)-1), 2^(b-1)-1),  x' = q·s,
 *               s = clip·max|x| / (2^(b-1)-1)
 *   asymmetric: q = clamp(round(x·(1/s)) + z, 0, 2^b-1),  x' = (q - z)·s,
 *               s = clip·(max - min) / (2^b - 1),  z = round(-clip·min/s)
 *               (min ≤ 0 ≤ max is enforced by including 0 in the range)
 * round() is round-half-to-even (nearbyintf).  A group of all zeros gets
 * s = 1 (any positive value reproduces zeros exactly).  bits == 16 (or 0)
 * means "off": the functions leave x untouched.  `clip` in (0, 1] shrinks the
 * range; RB_CLIP_MSE asks rb_quant_params to search it per group.
 * With scale_f16 the scale (asymmetric: before the zero point is derived)
 * is rounded to the nearest binary16 value (a result of 0 becomes 1, a
 * result past 65504 becomes 65504).
 */
#ifndef RB_KERNELS_QUANT_H
#define RB_KERNELS_QUANT_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

typedef enum rb_granularity { RB_GRAN_TENSOR, RB_GRAN_ROW, RB_GRAN_GROUP } rb_granularity;

#define RB_QUANT_OFF 16
#define RB_CLIP_MSE (-1.0f)

typedef struct rb_quant_spec {
    int bits;              /* 2..8, or RB_QUANT_OFF */
    int asym;              /* 0 symmetric, 1 asymmetric */
    rb_granularity gran;
    int group;             /* columns per group for RB_GRAN_GROUP */
    float clip;            /* (0, 1], or RB_CLIP_MSE for a grid search */
    int scale_f16;         /* round every scale to the nearest IEEE binary16 value (ties
                            * to even), as ggml's Q8_0/Q4_0 blocks store it: the
                            * fake-quantized values are then exactly what such a block
                            * dequantizes to.  0: fp32 scales. */
} rb_quant_spec;

/* RB_EINVAL with a message for bad bits, clip, or a group size outside
 * 1..cols.  `what` names the quantizer in the message. */
int rb_quant_spec_check(const rb_quant_spec *s, int cols, const char *what, rb_error *err);

int rb_quant_spec_off(const rb_quant_spec *s);
size_t rb_quant_n_params(const rb_quant_spec *s, int rows, int cols);

/* Computes scale/zero [n_params] for x.  With clip == RB_CLIP_MSE, each
 * group's clip ratio is the one of {1, 0.99, ..., 0.5} (grid of 51) that
 * minimises that group's squared error. */
void rb_quant_params(const float *x, int rows, int cols, const rb_quant_spec *s, float *scale,
                     float *zero);
void rb_quant_params_ref(const float *x, int rows, int cols, const rb_quant_spec *s,
                         float *scale, float *zero);

/* x ← dequant(quant(x)) with the given parameters, in place. */
void rb_fake_quant(float *x, int rows, int cols, const rb_quant_spec *s, const float *scale,
                   const float *zero);
void rb_fake_quant_ref(float *x, int rows, int cols, const rb_quant_spec *s,
                       const float *scale, const float *zero);

/* q [n] ← the integer codes of x [n] under one quantizer (scale, zero; zero
 * ignored when symmetric) minus its zero point, as int16: the code is
 * rb_fake_quant's (round half to even of x/scale, plus zero, clamped), so
 * dequant(quant(x)) = q·scale.  x finite (a NaN has no code). */
void rb_quant_codes(int16_t *q, const float *x, int n, const rb_quant_spec *s, float scale,
                    float zero);
void rb_quant_codes_ref(int16_t *q, const float *x, int n, const rb_quant_spec *s, float scale,
                        float zero);

/* Dynamic quantization: parameters from x itself, then fake-quant, in place
 * (RB_ENOMEM is the only failure). */
int rb_fake_quant_dynamic(float *x, int rows, int cols, const rb_quant_spec *s, rb_error *err);

/* Mixed-precision dynamic quantization (ResQ's low/high-precision
 * subspaces).  x [rows][cols] is viewed as cols/block blocks of `block`
 * consecutive columns; in every block the LAST `high` columns form the
 * high-precision part, quantized with `hi`, and the first block - high
 * columns the low-precision part, quantized with `lo`.  Each part has its
 * own parameters, computed as rb_fake_quant_dynamic would on the part alone
 * (its columns gathered in order, [rows][(cols/block)·width]):
 *   tensor    one scale (and zero) for the whole part
 *   row       one per row: per token, the low and the high channels of a
 *             token each get their own scale
 *   group G   G must be a multiple of block: each group of G columns keeps
 *             its own low and high parameters (e.g. per token and head with
 *             block = G = head_dim)
 * An off spec leaves its part untouched.  high == 0 is rb_fake_quant_dynamic
 * with lo.  RB_EINVAL when block < 1 or does not divide cols, high is
 * outside 0..block, or a group size is not a multiple of block; RB_ENOMEM. */
int rb_fake_quant_dynamic_split(float *x, int rows, int cols, int block, int high,
                                const rb_quant_spec *lo, const rb_quant_spec *hi, rb_error *err);

#endif
