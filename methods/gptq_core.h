/* GPTQ (Frantar et al. 2022): one-shot weight quantization that quantizes the
 * columns (input features) of W one at a time and corrects the columns not
 * yet quantized with the inverse Hessian of the layer's inputs.
 *
 * Shapes: W [rows][cols] = [out][in] (y = x·Wᵀ), H [cols][cols]. */
#ifndef RB_METHODS_GPTQ_CORE_H
#define RB_METHODS_GPTQ_CORE_H

#include "base/error.h"
#include "core/quant.h"
#include "kernels/quant.h"

/* H = 2/n Σ x xᵀ over the n input rows seen so far (a running average, as
 * the reference implementation keeps it), float32.  Only the upper triangle
 * (H[i][j], i ≤ j) is kept; the lower stays 0.  Every H this module reads
 * is read by its upper triangle. */
typedef struct rb_hessian {
    int cols;
    long n;
    float *H; /* [cols][cols], owned */
} rb_hessian;

int rb_hessian_init(rb_hessian *h, int cols, rb_error *err);
/* Adds the rows of X [rows][cols]. */
void rb_hessian_add(rb_hessian *h, const float *X, int rows);
void rb_hessian_free(rb_hessian *h);

typedef struct rb_gptq_options {
    double damp;   /* fraction of mean(diag H) added to the diagonal (0.01) */
    int block;     /* columns per lazy-batch block (128) */
    int act_order; /* process columns by decreasing H_ii */
} rb_gptq_options;

/* What GPTQ needs of H alone, shared by the linears that read the same
 * input (q/k/v, gate/up): the column order (act_order: by decreasing H_ii,
 * ties by index), the dead inputs (H_ii = 0, their diagonal taken as 1), and
 * U = the upper Cholesky factor of (H + damping)⁻¹ in that order, computed
 * in float64 by one Cholesky factorisation and one triangular inverse of the
 * order-reversed matrix (LAPACK dpotrf, dtrtri; 2n³/3 flops where the
 * reference's three factorisations take 4n³/3), damping o->damp·mean(diag),
 * ×10 up to 4 times while not positive definite, then RB_ENUMERIC.  Peak
 * extra memory while factoring: one [cols][cols] float64. */
typedef struct rb_gptq_factor {
    int cols;
    int *perm;           /* [cols] owned: perm[i] = the original column processed i-th */
    unsigned char *dead; /* [cols] owned, by original column */
    float *U;            /* [cols][cols] owned, row-major, upper triangle (lower 0) */
} rb_gptq_factor;

/* H [cols][cols]: its upper triangle is read.  Uses o->damp and o->act_order. */
int rb_gptq_factor_init(rb_gptq_factor *f, const float *H, int cols, const rb_gptq_options *o,
                        rb_error *err);
void rb_gptq_factor_free(rb_gptq_factor *f);

/* The checks rb_gptq_quantize_split makes of its arguments, before any work. */
int rb_gptq_check(int cols, const rb_quant_spec *spec, const rb_gptq_options *o,
                  rb_quant_split split, const rb_quant_spec *high, rb_error *err);

/* rb_gptq_quantize_split with the factor of H made beforehand (f->cols
 * columns; o->act_order must be the one f was made with). */
int rb_gptq_quantize_factored(float *W, int rows, const rb_gptq_factor *f,
                              const rb_quant_spec *spec, const rb_gptq_options *o,
                              rb_quant_split split, const rb_quant_spec *high, float *scale_out,
                              float *zero_out, rb_error *err);

/* Quantizes W in place (fake quantization: W holds dequantized values).
 * Quantization parameters: per tensor / per row from the original W; per
 * group of spec->group columns: without act_order from the current W when
 * the group's first column is reached (as the reference), with act_order
 * from the original W ("static groups"), so groups stay contiguous in the
 * original column order.  Dead inputs (H_ii = 0) zero their column.  H's
 * upper triangle is read; the factor as rb_gptq_factor_init.
 * scale_out / zero_out [rb_quant_n_params(spec, rows, cols)] (NULL: not
 * wanted) receive the parameters W was quantized with. */
int rb_gptq_quantize(float *W, int rows, int cols, const float *H, const rb_quant_spec *spec,
                     const rb_gptq_options *o, float *scale_out, float *zero_out, rb_error *err);

/* Mixed precision (ResQ): in every split.block consecutive columns the last
 * split.high are quantized with *high (their own parameters: per tensor /
 * per row over those columns alone; with groups, the group size must divide
 * both parts' widths, so a group lies in one part), the rest with spec.
 * split.high == 0 is rb_gptq_quantize.  A high spec that is off leaves
 * those columns in full precision (they still absorb the others' error).
 * scale_out / zero_out as rb_gptq_quantize, filled only without a split. */
int rb_gptq_quantize_split(float *W, int rows, int cols, const float *H,
                           const rb_quant_spec *spec, const rb_gptq_options *o,
                           rb_quant_split split, const rb_quant_spec *high, float *scale_out,
                           float *zero_out, rb_error *err);

#endif
