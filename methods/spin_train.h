/* SpinQuant's training forward and backward with the rotations applied to
 * the activations: the loss of the rotated model f(base, R1, R2)
 * (methods/spinquant.h) and its gradients with respect to R1 and R2,
 * without forming the rotated weights.
 *
 * Algebra (row vectors, y = x·Wᵀ; base has its norm weights folded and the
 * online Hadamards' inverses in w2/wo, as the stage builds it).  The rotated
 * model's residual stream x' is carried as such; every product with a
 * rotated weight is re-associated so that the GEMM takes the base weight:
 *   embedding   x'₀ = E[tok]·R1                          (E' = E·R1)
 *   readers     u = Q(rmsnorm(x'))·R1ᵀ,  y = u·Wᵀ        (W' = W·R1: wq, wk,
 *               wv, w1, w3, and the classifier Cls' = Cls·R1)
 *   values      v' = (u·Wvᵀ + bv)·R2 per kv head          (Wv'_g = R2ᵀ·(Wv·R1)_g,
 *                                                          bv'_g = R2ᵀ·bv_g)
 *   o_proj in   a'' = Q(a')·R2ᵀ per query head            (a' the attention output
 *                                                          after the head Hadamard)
 *   writers     x' += (a''·Woᵀ)·R1,  x' += (Q(g)·W2ᵀ)·R1   (Wo'_h = (R1ᵀ·Wo)_h·R2,
 *                                                          W2' = R1ᵀ·W2)
 * so the quantizers (Q: the activation hooks at qkv_in, o_in, gate_up_in,
 * down_in, classifier_in and the KV hook on q, k, v') see exactly the
 * activations of the model with the rotated weights, for any R1, R2
 * (orthogonal or not: nothing uses R⁻¹ = Rᵀ).  RoPE, R3 on q/k and R4 before
 * down_proj, the head-wise Hadamard (it mixes heads at the same index, so it
 * commutes with one R2 for all heads of a layer), GQA and the q/k/v biases
 * are untouched; the classifier is a reader whether or not
 * --quantize-classifier puts a quantizer on its input; a tied classifier is
 * untied by the norm folding, so base always has its own.
 *
 * Gradients come from the rotation points (straight-through quantizers):
 *   x'₀ = e·R1:   dR1 += eᵀ·dx'₀
 *   u = h·R1ᵀ:    dR1 += duᵀ·h,   dh = du·R1         (h = Q(rmsnorm(x')))
 *   x' += z·R1:   dR1 += zᵀ·dx',  dz = dx'·R1ᵀ
 *   v' = v·R2:    dR2 += Σ_g v_gᵀ·dv'_g,  dv_g = dv'_g·R2ᵀ
 *   a'' = a·R2ᵀ:  dR2 += Σ_h da''_hᵀ·a_h,  da_h = da''_h·R2
 * and the linears only pass dx = dy·W back (no weight gradients).
 *
 * Cost per window of T tokens (dim d, hidden f, L layers): the base model's
 * forward and input-gradient GEMMs plus 2·T·d² flops at each of the 4L + 2
 * rotation points in the forward and twice that in the backward, against
 * the materialising path's 2·d flops per parameter to form f(base, R1, R2)
 * and as much again to chain the weight gradients back, every iteration.
 *
 * Memory (floats; qdim = n_heads·hd, kvdim = n_kv·hd): saved per layer
 * T·(6d + 2·qdim + 3·kvdim + 2f) (x' entering both norms, both quantized
 * reader inputs, both writer outputs before R1, q, k, v', v before R2, the
 * quantized o_proj input, w1 and w3 outputs); once T·(3d + 2·vocab)
 * (embedding rows, x' and the quantized input of the classifier, logits and
 * their gradient) and the scratch T·(2d + 4·max(d, qdim, f) + qdim + 2·kvdim
 * + 3f) plus the attention scratch.  No copy of the weights and no weight
 * gradients (the materialising path holds both: 2× the model). */
#ifndef RB_METHODS_SPIN_TRAIN_H
#define RB_METHODS_SPIN_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "core/forward.h"
#include "core/model.h"

typedef struct rb_spin_ws {
    rb_config cfg;
    int max_T, T, threads;
    int32_t *targets; /* [max_T]; targets[T−1] = −1 (not scored) */
    /* saved, [n_layers][max_T][width] */
    float *x_attn, *h_attn, *z_attn, *q, *k, *v, *v0, *att, *x_ffn, *h_ffn, *z_ffn, *a, *b;
    /* saved once, [max_T][width] */
    float *emb, *x_final, *h_final, *logits, *dlogits;
    /* scratch */
    float *x, *u, *t1, *t2, *dx, *dh, *dq, *dk, *dv, *da, *db, *dg;
    float *rope_cos, *rope_sin, *att_scratch, *att_bscratch;
    double *rope_freq; /* [head_dim]: rb_rope_tables_sync */
    const float *R1, *R2; /* the rotations of the last forward (caller's) */
    int have_forward;
} rb_spin_ws;

/* Buffers for windows of up to max_T tokens (2..2^20) of cfg's shape;
 * rb_spin_ws_floats is their size in floats (the memory stated above). */
int rb_spin_ws_init(rb_spin_ws *ws, const rb_config *cfg, int max_T, rb_error *err);
void rb_spin_ws_free(rb_spin_ws *ws);
size_t rb_spin_ws_floats(const rb_config *cfg, int max_T);

/* The mean next-token NLL of tokens[0..T) under f(base, R1, R2) with the
 * activation and KV hooks of hooks (NULL: none), computed on the base
 * weights as above.  R1 [dim][dim], R2 [n_layers][hd][hd] (float32) must
 * stay unchanged until rb_spin_backward.  RB_EINVAL for bad T, another
 * shape, token ids outside the vocabulary, or hooks that replace weights or
 * linears (hooks->weight, hooks->linear: use the materialising path). */
int rb_spin_forward(const rb_model *base, rb_spin_ws *ws, const float *R1, const float *R2,
                    const int32_t *tokens, int T, const rb_hooks *hooks, double *loss,
                    rb_error *err);

/* Adds scale × the gradients of the last forward's loss with respect to R1
 * (gR1 [dim][dim]) and R2 (gR2 [n_layers][hd][hd]), float32 accumulators.
 * RB_EINVAL without a forward, or for another model shape. */
int rb_spin_backward(const rb_model *base, rb_spin_ws *ws, float scale, float *gR1, float *gR2,
                     rb_error *err);

#endif
