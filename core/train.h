/* A training forward and its backward pass: the gradient of the
 * next-token cross-entropy of one window with respect to every weight.
 *
 * rb_train_forward computes exactly what rb_forward computes: it runs the
 * same rb_layer_forward (core/forward.h) on every layer, with buffers of its
 * own per layer, so it keeps what the backward needs (as llm.c does):
 *   x_attn, x_ffn [T][dim]     the residual stream entering each RMSNorm
 *   h_attn, h_ffn [T][dim]     the normed inputs of the linears, after the
 *                              activation hook (what the linears saw)
 *   q [T][n_heads*hd], k, v [T][n_kv*hd]   after the biases, RoPE, the online q/k
 *                              transforms and the qkv hook (the attention's
 *                              inputs)
 *   att [T][n_heads*hd]        the input of wo, after the head Hadamard and
 *                              the hook
 *   a, b [T][hidden]           w1 and w3 outputs before the SwiGLU
 *   g [T][hidden]              the input of w2, after the online transforms
 *                              and the hook
 * plus x_final, h_final [T][dim] and the logits [T][vocab].  Attention
 * probabilities are not kept: the backward recomputes them from q and k.
 *
 * The loss is the mean over t < T−1 of −log softmax(logits[t])[tokens[t+1]]
 * (the same quantity as tests/ref_forward.c's ref_mean_nll).
 *
 * Backward conventions:
 *   - Gradients are with respect to the EFFECTIVE weights, i.e. the matrices
 *     hooks->weight returned during the forward (the model's own when there
 *     is no weight hook).  Those pointers must stay valid and unchanged until
 *     rb_train_backward returns.
 *   - The activation and qkv hooks (fake quantizers) are treated as the
 *     identity in the backward: the straight-through estimator.
 *   - The online transforms of m->online are differentiated exactly:
 *     Hadamards through their transposes (rb_hadamard_apply_t), dense ones
 *     through dy·W.
 *   - The q/k/v biases (cfg.qkv_bias) get gradients: Σ_t of dq, dk, dv
 *     once RoPE's backward has turned them back to the linears' outputs
 *     (the bias is added before RoPE).  RoPE's backward rotates by the same
 *     (scaled) angles in reverse, so every rope_scaling is differentiated.
 *   - The classifier gets its own gradient even when the model ties it to
 *     the embedding; the gradient of a tied matrix is the sum of the two.
 */
#ifndef RB_TRAIN_H
#define RB_TRAIN_H

#include <stdint.h>

#include "base/error.h"
#include "core/forward.h"
#include "core/model.h"

/* Gradients with the model's shapes (rb_model.h), in one owned arena; the
 * classifier [vocab][dim] always has its own block.  The rb_layer pointers
 * name the gradient of each tensor (bq, bk, bv only when cfg.qkv_bias). */
typedef struct rb_grads {
    rb_config cfg;
    float *arena;
    size_t n_floats;
    float *token_embedding;
    rb_layer *layers; /* [n_layers], owned */
    float *final_norm;
    float *classifier;
} rb_grads;

int rb_grads_init(rb_grads *g, const rb_config *cfg, rb_error *err);
void rb_grads_zero(rb_grads *g);
void rb_grads_free(rb_grads *g);
/* The gradient of linear id of layer (rows and cols as rb_model_weight);
 * layer == n_layers gives the classifier [vocab][dim]. */
rb_weight_view rb_grads_weight(const rb_grads *g, int layer, rb_linear_id id);

/* Saved activations for windows of up to max_T tokens and the backward's
 * scratch; owned, freed by rb_train_ws_free.  Members are described above;
 * per-layer arrays are [n_layers][max_T][width]. */
typedef struct rb_train_ws {
    rb_config cfg;
    int max_T, T, threads;
    int32_t *tokens, *targets; /* [max_T]; targets[T−1] = −1 (not scored) */
    float *x_attn, *h_attn, *q, *k, *v, *att, *x_ffn, *h_ffn, *a, *b, *g;
    float *x, *x_final, *h_final, *logits;
    float *dx, *dh, *dq, *dk, *dv, *datt, *da, *db, *dg, *dlogits, *tmp;
    float *rope_cos, *rope_sin, *att_scratch, *att_bscratch;
    double *rope_freq; /* [head_dim]: rb_rope_tables_sync */
    const float **w_eff; /* [n_layers*RB_LINEAR_COUNT + 1]: the weights the forward used */
    int have_forward;    /* a forward ran since the last backward */
} rb_train_ws;

int rb_train_ws_init(rb_train_ws *ws, const rb_config *cfg, int max_T, rb_error *err);
void rb_train_ws_free(rb_train_ws *ws);

/* Runs tokens[0..T) (2 ≤ T ≤ max_T) with hooks (NULL: plain fp32) and sets
 * *loss to the mean next-token NLL of the window.  Errors as rb_forward. */
int rb_train_forward(const rb_model *m, rb_train_ws *ws, const int32_t *tokens, int T,
                     const rb_hooks *hooks, double *loss, rb_error *err);

/* Adds scale × the gradient of the last forward's loss to g (accumulate over
 * windows with scale = 1/windows for the gradient of the mean).  m must be
 * the model of that forward.  RB_EINVAL without a forward. */
int rb_train_backward(const rb_model *m, rb_train_ws *ws, float scale, rb_grads *g,
                      rb_error *err);

#endif
