/* Integer linears of a quantized model (`--kernels int`): the forward hooks
 * that run every quantized linear on integer codes (kernels/qgemm.h) instead
 * of fake quantization's fp32 GEMM on dequantized values.
 *
 * rb_qmodel_build packs each linear's weights, which a weight stage (rtn,
 * gptq) left fake-quantized in the model, into integer codes with the
 * parameters that stage recorded (rb_quant_config.w_scale / w_zero); every
 * weight is checked to lie exactly on that grid.  The hooks then:
 *   activation  at each point that feeds quantized linears, quantizes x into
 *               integer codes by the activation quantizer (dynamic, or the
 *               static per-tensor parameters), leaving x itself unchanged
 *   linear      y = codes · weight codes in int32, rescaled once per
 *               segment (kernels/qgemm.h)
 *   qkv         quantizes K and V (each unless its quantizer is off) into
 *               their integer codes (kernels/kv_codes.h), dynamic or with the
 *               static per-tensor parameters; kv_codes hands them to
 *               attention, which reads the codes instead of the floats (the
 *               same values as fake quantization's, bit for bit)
 * so the forward computes the same model as rb_quant_hooks with the same
 * config, up to float summation order in the linears.  The classifier runs in fp32 unless
 * quantize_classifier (then it must have recorded parameters too).
 *
 * Refused (RB_EINVAL, naming the reason) rather than approximated: weights
 * or activations off (16 bits), mixed-precision splits (resq), group sizes
 * that do not divide a linear's width or do not nest with the other
 * operand's, weights without recorded parameters (no rtn/gptq stage).
 *
 * The hooks hold one window's activation and K/V codes: one rb_qmodel serves
 * one forward at a time. */
#ifndef RB_QLINEAR_H
#define RB_QLINEAR_H

#include "core/forward.h"
#include "core/quant.h"
#include "kernels/kv_codes.h"
#include "kernels/qgemm.h"

typedef struct rb_qmodel {
    rb_quant_config *q;   /* borrowed, must outlive the hooks */
    int n_layers;
    rb_qweight *w;        /* [(n_layers + 1) · RB_LINEAR_COUNT]: slot as rb_quant_config.w_scale */
    rb_qact act;          /* codes of the last quantized activation point */
    int act_layer, act_point; /* which point act holds (-1: none) */
    rb_kv_codes kv[2];    /* K and V codes of layer kv_layer (-1: none) */
    int kv_on[2];         /* whether kv[j] holds this window's K (0) / V (1) */
    int kv_layer;
    rb_hooks fake;        /* rb_quant_hooks(q) */
} rb_qmodel;

/* Packs the integer weights of m (see above).  On error qm is empty. */
int rb_qmodel_build(rb_qmodel *qm, const rb_model *m, rb_quant_config *q, rb_error *err);
void rb_qmodel_free(rb_qmodel *qm);
/* Bytes held by the packed weights. */
size_t rb_qmodel_bytes(const rb_qmodel *qm);

/* Hooks of the integer forward; qm must outlive them. */
void rb_qmodel_hooks(rb_qmodel *qm, rb_hooks *hooks);

#endif
