/* The batched fp32 Llama forward with quantization hooks.
 *
 * rb_forward runs one window of T tokens (positions 0..T-1) through the model:
 *   x = embed(tokens)                                           [T][dim]
 *   per layer: h = rmsnorm(x)·attn_norm → hook(QKV_IN) → q,k,v = h·Wq/Wk/Wvᵀ
 *              → RoPE(q,k) → [online H_hd on q, k] → [online dense per head on q, k]
 *              → hook qkv (KV-cache quantization)
 *              → causal GQA attention → [online H_heads across heads] → hook(O_IN)
 *              → x += ·Woᵀ
 *              h = rmsnorm(x)·ffn_norm → hook(GATE_UP_IN) → a = h·W1ᵀ, b = h·W3ᵀ
 *              → a = silu(a)·b → [online H_hidden] → [online dense] → hook(DOWN_IN)
 *              → x += a·W2ᵀ
 *   h = rmsnorm(x)·final_norm → hook(CLASSIFIER_IN) → logits = h·Clsᵀ  [T][vocab]
 * Every linear's weight goes through hooks->weight (if set), which may return
 * a different matrix of the same shape (fake-quantized or rotated weights).
 * The bracketed online transforms run when m->online asks for them (QuaRot,
 * ResQ).
 * With hooks == NULL (or all members NULL) it is the plain fp32 forward.
 */
#ifndef RB_FORWARD_H
#define RB_FORWARD_H

#include <stdint.h>

#include "base/error.h"
#include "core/model.h"
#include "kernels/ops.h" /* rb_segment */

typedef enum rb_act_point {
    RB_ACT_QKV_IN,        /* input of wq, wk, wv   [T][dim] */
    RB_ACT_O_IN,          /* input of wo           [T][n_heads*head_dim] */
    RB_ACT_GATE_UP_IN,    /* input of w1, w3       [T][dim] */
    RB_ACT_DOWN_IN,       /* input of w2           [T][hidden] */
    RB_ACT_CLASSIFIER_IN, /* input of the classifier (layer == n_layers) [T][dim] */
    RB_ACT_POINT_COUNT
} rb_act_point;

const char *rb_act_point_name(rb_act_point p);

typedef struct rb_hooks {
    void *ctx;
    /* Called on a linear's input x[rows][cols] in place, before the linear. */
    int (*activation)(void *ctx, int layer, rb_act_point point, float *x, int rows, int cols,
                      rb_error *err);
    /* Called after RoPE on q [T][n_heads*hd], k, v [T][n_kv_heads*hd] in place:
     * the K/V cache of this window. */
    int (*qkv)(void *ctx, int layer, float *q, float *k, float *v, int T, const rb_config *cfg,
               rb_error *err);
    /* Returns the weight matrix to use for linear `id` of `layer` (w is the
     * model's); must not return NULL. layer == n_layers means the classifier
     * (id is then RB_LINEAR_COUNT). */
    const float *(*weight)(void *ctx, int layer, rb_linear_id id, const float *w);
    /* Nonzero when a hook's result for a row depends on the other rows of
     * the window (dynamic per-tensor scales): then packed windows
     * (rb_forward_segments) do not reproduce separate windows, and callers
     * that pack must not. */
    int window_dependent;
} rb_hooks;

/* hooks->activation on x (if set), with "layer L POINT: " prefixed to its
 * error; RB_OK without hooks. */
int rb_hooks_activation(const rb_hooks *h, int layer, rb_act_point p, float *x, int rows,
                        int cols, rb_error *err);
/* hooks->weight's matrix for a linear, or w itself without hooks. */
const float *rb_hooks_weight(const rb_hooks *h, int layer, rb_linear_id id, const float *w);

/* Buffers for windows of up to max_T tokens; owned, freed by
 * rb_workspace_free.  `logits` [max_T][vocab] holds the last forward's
 * output. */
typedef struct rb_workspace {
    int max_T, threads;
    float *x, *xb, *q, *k, *v, *att, *hb, *hb2, *logits;
    float *rope_cos, *rope_sin; /* [max_T][head_dim/2] */
    float *att_scratch;         /* threads × rb_attention_scratch_floats */
} rb_workspace;

int rb_workspace_init(rb_workspace *ws, const rb_config *cfg, int max_T, rb_error *err);
void rb_workspace_free(rb_workspace *ws);

/* Runs tokens[0..T) (1 ≤ T ≤ ws->max_T, ids < vocab) and leaves logits in
 * ws->logits.  Errors: RB_EINVAL for bad T or token ids; hook errors are passed
 * through with the layer prefixed. */
int rb_forward(const rb_model *m, rb_workspace *ws, const int32_t *tokens, int T,
               const rb_hooks *hooks, rb_error *err);

/* rb_forward of a packed window (kernels/ops.h rb_segment): the segments tile
 * [0, T) in order; a segment's prefix is the beginning of an earlier segment
 * that has no prefix (its second prefix part, if any, the beginning of an
 * earlier segment with the same first prefix).  Each segment's rows of ws->logits equal rb_forward of
 * [its prefix, its tokens] alone when the hooks treat rows independently
 * (per-token or static quantizers; see rb_hooks.window_dependent).  RoPE
 * positions reach prefix_len + len - 1 < ws->max_T.  Bad tilings are
 * RB_EINVAL. */
int rb_forward_segments(const rb_model *m, rb_workspace *ws, const int32_t *tokens, int T,
                        const rb_segment *seg, int n_seg, const rb_hooks *hooks, rb_error *err);

#endif
