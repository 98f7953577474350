/* Per-layer / per-linear overrides of the weight quantizer (--w-override).
 *
 * Text: rules separated by ';', each rule items separated by ':':
 *   LINEAR        a linear the rule applies to: wq wk wv wo w1 w2 w3, or the
 *                 Hugging Face names q_proj k_proj v_proj o_proj gate_proj
 *                 down_proj up_proj (several allowed; none: every linear)
 *   layer=LIST    the layers: comma-separated indices or ranges A..B, a
 *                 negative index counts from the end (-1 = the last layer);
 *                 absent: every layer
 *   bits=N        2..8, or 16 (full precision)
 *   gran=G        tensor | channel
 *   group=G       per group of G input columns (the group granularity)
 *   asym=0|1      symmetry
 *   clip=R|mse    clip ratio in (0, 1], or the MSE search
 *   skip          leave the weight in full precision (= bits=16)
 * e.g. "down_proj:bits=8;layer=0,-1:skip;wq:wk:group=32".  For activations
 * (--a-override) a rule applies to a linear's input point, shared by the
 * linears that read it (wq/wk/wv, w1/w3): naming any of them selects it;
 * gran=channel there means per token.  A rule needs at
 * least one setting; rules apply in order, a later one overriding an
 * earlier one's settings for the weights both select.  The canonical text
 * (rb_quant_overrides_text) writes every rule with names in the model's
 * spelling, e.g. "w2:bits=8;layer=0,-1:skip;wq:wk:group=32". */
#ifndef RB_QUANT_OVERRIDE_H
#define RB_QUANT_OVERRIDE_H

#include <stddef.h>

#include "base/error.h"
#include "core/model.h"
#include "kernels/quant.h"

#define RB_QUANT_MAX_OVERRIDES 16
#define RB_QUANT_MAX_OVERRIDE_LAYERS 16

typedef struct rb_quant_override {
    unsigned linears;  /* bit (1 << id) per rb_linear_id; 0: every linear */
    int n_layers;      /* ranges in layer_lo/hi; 0: every layer */
    int layer_lo[RB_QUANT_MAX_OVERRIDE_LAYERS], layer_hi[RB_QUANT_MAX_OVERRIDE_LAYERS];
    int set_bits, bits;
    int set_gran;      /* gran (tensor / row) or group (RB_GRAN_GROUP) */
    rb_granularity gran;
    int group;
    int set_asym, asym;
    int set_clip;
    float clip;
} rb_quant_override;

typedef struct rb_quant_overrides {
    int n;
    rb_quant_override rule[RB_QUANT_MAX_OVERRIDES];
} rb_quant_overrides;

/* Parses text into o (n = 0 for an empty string).  RB_EINVAL naming `flag`,
 * the rule and the problem: unknown item, bad number, empty rule, too
 * many rules or layers. */
int rb_quant_overrides_parse(const char *text, rb_quant_overrides *o, const char *flag,
                             rb_error *err);

/* Whether the rule selects layer l (of n_layers) and linear id. */
int rb_quant_override_selects(const rb_quant_override *r, int l, int n_layers, rb_linear_id id);

/* The spec of layer l's linear id: base with every selecting rule applied
 * in order. */
rb_quant_spec rb_quant_overrides_spec(const rb_quant_overrides *o, const rb_quant_spec *base,
                                      int l, int n_layers, rb_linear_id id);

/* The spec of an input shared by the linears ids[0..n_ids) of layer l (an
 * activation point): base with every rule that selects any of them applied
 * in order. */
rb_quant_spec rb_quant_overrides_spec_any(const rb_quant_overrides *o, const rb_quant_spec *base,
                                          int l, int n_layers, const rb_linear_id *ids,
                                          int n_ids);

/* Whether any rule sets the tensor granularity. */
int rb_quant_overrides_tensor(const rb_quant_overrides *o);

/* Whether any rule sets bits below 16 (weights quantized even when the base
 * spec is off). */
int rb_quant_overrides_quantize(const rb_quant_overrides *o);

/* The canonical text into buf (cap bytes, truncated but terminated);
 * "" when there are no rules. */
void rb_quant_overrides_text(const rb_quant_overrides *o, char *buf, size_t cap);

#endif
