/* Quantizer settings of a run and the forward hooks that apply them.
 *
 * Quantization points (DESIGN.md): every linear's input activation, every
 * linear's weight (quantized offline by a pipeline stage: rtn or gptq), and
 * the KV cache (K after RoPE and any online rotation, V).  The classifier's
 * input and weight stay in full precision unless quantize_classifier is set.
 * Activations and KV are quantized dynamically (parameters from each window)
 * or statically (parameters calibrated once by rb_quant_calibrate as the
 * maximum over the calibration windows; per-tensor granularity only).
 *
 * Mixed precision (ResQ): a pipeline stage that gathers the high-variance
 * directions of a point into known channels declares them in a_split /
 * k_split / v_split: in every block of `block` consecutive channels the LAST
 * `high` channels are high precision.  The hooks then quantize those
 * channels with a_high_bits / kv_high_bits and the rest with a / kv (same
 * granularity, symmetry and clip, separate parameters: kernels/quant.h,
 * rb_fake_quant_dynamic_split).  Dynamic quantization only.
 *
 * Mixed-precision weights (ResQ): when a stage also sets w_mixed, the weight
 * columns (input channels) of every linear that multiply its input point's
 * high channels are quantized with w_high_bits, the other columns with w
 * (rb_quant_weight_split gives the split of a linear; RTN: separate
 * parameters for the two column sets, each as w's granularity asks on the
 * columns gathered alone; a group size must then divide both parts' widths
 * per block).  w_mixed == 0 (the default) quantizes every column with w.
 */
#ifndef RB_QUANT_H
#define RB_QUANT_H

#include "core/calib.h"
#include "core/forward.h"
#include "core/quant_override.h"
#include "kernels/quant.h"

/* High-precision channels of one quantization point: the last `high` of
 * every `block` consecutive channels (high == 0: none). */
typedef struct rb_quant_split {
    int block, high;
} rb_quant_split;

typedef struct rb_quant_config {
    rb_quant_spec w;   /* weights (per-tensor / per-row = per output channel / group) */
    /* per-layer / per-linear changes to w (--w-override); rb_quant_weight_spec
     * gives the spec of one weight */
    rb_quant_overrides w_override;
    rb_quant_spec a;   /* linear inputs (per-tensor / per-row = per token) */
    int a_static;
    /* per-layer / per-linear changes to a (--a-override; a rule naming a
     * linear applies to its input point); rb_quant_act_spec gives one
     * point's spec.  Negative layer indices resolve against override_layers,
     * which rb_prepare_model sets to the model's n_layers. */
    rb_quant_overrides a_override;
    int override_layers;
    rb_quant_spec kv;  /* K and V (per-tensor / per-row = per token / group = per token and head) */
    int kv_static;
    /* K and V quantized separately (QuaRot's --k_* / --v_* flags): with
     * kv_separate set, K uses k and V uses v instead of kv (each its own
     * bits, granularity, symmetry and clip; kv_static still applies to
     * both).  rb_quant_kv_spec returns the one in force. */
    int kv_separate;
    rb_quant_spec k, v;
    int quantize_classifier;
    /* Mixed precision: bits of the high-precision channels (8 by default;
     * RB_QUANT_OFF leaves them in full precision), used only where a stage
     * declared a split.  Splits: per activation point (the same in every
     * layer), K after RoPE and any online transform, V; all {0, 0} unless a
     * stage (resq) set them. */
    int a_high_bits, kv_high_bits;
    rb_quant_split a_split[RB_ACT_POINT_COUNT], k_split, v_split;
    /* Weights: w_high_bits (8; RB_QUANT_OFF = full precision) for the
     * columns under a_split's high channels, only when w_mixed is set. */
    int w_high_bits, w_mixed;
    /* Static parameters, filled by rb_quant_calibrate (owned):
     * a_scale/a_zero [(n_layers + 1) * RB_ACT_POINT_COUNT],
     * kv_scale/kv_zero [n_layers * 2] (K then V per layer). */
    float *a_scale, *a_zero, *kv_scale, *kv_zero;
    int n_layers;
    /* The weight quantizer's parameters as the weight stage (rtn, gptq)
     * computed them, so that the integer kernels (core/qlinear.h) recover
     * the exact codes: slot layer·RB_LINEAR_COUNT + id, the classifier at
     * n_layers·RB_LINEAR_COUNT; each slot rb_quant_n_params(w, rows, cols)
     * scales and zeros (owned, NULL until recorded: rb_quant_keep_w_params). */
    float **w_scale, **w_zero;
    int w_slots;
} rb_quant_config;

/* All off (bits 16), no splits, high-precision bits 8; no static
 * parameters, no recorded weight parameters. */
void rb_quant_config_init(rb_quant_config *q);
void rb_quant_config_free(rb_quant_config *q);

/* Checks the specs against the model's shapes (group sizes dividing the
 * widths, static only with per-tensor granularity, bits range).  K/V
 * groups must stay inside a head: G divides head_dim, or G is a multiple of
 * head_dim (whole heads) that divides n_kv_heads·head_dim.
 * RB_EINVAL naming the quantizer and the problem. */
int rb_quant_config_check(const rb_quant_config *q, const rb_config *c, rb_error *err);

/* Parses a granularity for the command line into s: "tensor", "channel" or
 * "token" (per row), "group:G".  `what` names the flag in errors. */
int rb_quant_parse_gran(const char *text, rb_quant_spec *s, const char *what, rb_error *err);
/* Parses a clip setting: a ratio in (0, 1] or "mse". */
int rb_quant_parse_clip(const char *text, rb_quant_spec *s, const char *what, rb_error *err);
/* The clip value of text ("mse": RB_CLIP_MSE; else the whole text a ratio in
 * (0, 1], no leading space, not out of range) into *clip: 0, or -1 when text
 * is no clip setting.  The one reading of a clip for the flags above and the
 * override items (core/quant_override.h). */
int rb_quant_clip_value(const char *text, float *clip);

/* The spec quantizing K (which == 0) or V (which == 1): kv, or k / v when
 * kv_separate. */
const rb_quant_spec *rb_quant_kv_spec(const rb_quant_config *q, int which);

/* The static parameters of activation point p in layer `layer` (a_static:
 * one scale and zero point per point, borrowed from q): RB_EINVAL when
 * they are not calibrated yet. */
int rb_quant_act_static_params(const rb_quant_config *q, int layer, rb_act_point p,
                               const float **scale, const float **zero, rb_error *err);

/* The static parameters of K (which == 0) or V (1) in layer `layer`
 * (kv_static: one scale and zero point each, borrowed from q): RB_EINVAL
 * when they are not calibrated yet. */
int rb_quant_kv_static_params(const rb_quant_config *q, int layer, int which,
                              const float **scale, const float **zero, rb_error *err);

/* The weight spec of layer l's linear id: w with the overrides applied. */
rb_quant_spec rb_quant_weight_spec(const rb_quant_config *q, int l, int n_layers, rb_linear_id id);

/* The activation spec of point p of layer l: a with the overrides applied
 * (the classifier's input, layer == n_layers: a). */
rb_quant_spec rb_quant_act_spec(const rb_quant_config *q, int l, rb_act_point p);

/* Whether any weight is quantized (w, or an override that sets bits). */
int rb_quant_weights_on(const rb_quant_config *q);

/* Whether anything is quantized at activations / KV (i.e. hooks needed). */
int rb_quant_config_active(const rb_quant_config *q);

/* Whether a stage declared high-precision channels anywhere. */
int rb_quant_config_mixed(const rb_quant_config *q);

/* The split of linear id's weight columns: the a_split of the point the
 * linear reads (wq/wk/wv: qkv_in, wo: o_in, w1/w3: gate_up_in, w2: down_in)
 * when w_mixed, else {0, 0}.  id == RB_LINEAR_COUNT is the classifier
 * (classifier_in). */
rb_quant_split rb_quant_weight_split(const rb_quant_config *q, int id);

/* The weight spec of the high columns: w with bits = w_high_bits. */
rb_quant_spec rb_quant_weight_high_spec(const rb_quant_config *q);

/* Fake-quantizes one weight matrix w [rows][cols] (y = x·wᵀ) by RTN with
 * q->w, its high columns (split, see above) with the high spec.  RB_EINVAL
 * when the split does not tile cols or a group size does not divide the
 * parts; RB_ENOMEM. */
int rb_quant_weight_matrix_rtn(float *w, int rows, int cols, const rb_quant_config *q,
                               rb_quant_split split, rb_error *err);

/* Calibrates static parameters of activations and KV over the calibration
 * windows (no-op when neither is static).  RB_EINVAL when a static
 * quantizer meets a mixed-precision split (dynamic only). */
int rb_quant_calibrate(rb_quant_config *q, const rb_model *m, const rb_calib *calib,
                       rb_error *err);

/* Fills hooks that apply q during rb_forward (activation and KV
 * fake-quantization).  q must outlive the hooks. */
void rb_quant_hooks(rb_quant_config *q, rb_hooks *hooks);

/* Quantizes every linear weight of m in place with q->w by RTN (the
 * classifier only when quantize_classifier). */
int rb_quant_weights_rtn(rb_model *m, rb_quant_config *q, rb_error *err);
/* The same without keeping the scales and zeros in q (for the integer
 * kernels): a model quantized on the way, e.g. while SpinQuant learns. */
int rb_quant_weights_rtn_transient(rb_model *m, const rb_quant_config *q, rb_error *err);

/* Records (copies) the n weight-quantization parameters of linear id of
 * layer (layer == n_layers, id == RB_LINEAR_COUNT: the classifier), for a
 * model of n_layers layers; replaces an earlier record.  RB_ENOMEM. */
int rb_quant_keep_w_params(rb_quant_config *q, int n_layers, int layer, int id,
                           const float *scale, const float *zero, size_t n, rb_error *err);
/* The slot of linear id of layer (the classifier: layer n_layers, id
 * RB_LINEAR_COUNT, slot n_layers·RB_LINEAR_COUNT). */
static inline int rb_quant_w_slot(int layer, int id) {
    return layer * RB_LINEAR_COUNT + (id < RB_LINEAR_COUNT ? id : 0);
}
/* The recorded parameters of a linear (NULL, NULL when none). */
void rb_quant_w_params(const rb_quant_config *q, int layer, int id, const float **scale,
                       const float **zero);

#endif
