/* Function-preserving rotations of a model, the building blocks of QuaRot,
 * SpinQuant and ResQ.
 *
 * Row-vector convention (activations are rows, linears y = x·Wᵀ, [out][in]):
 *   residual rotation R1 [dim][dim] orthogonal: the residual stream becomes
 *   x' = x·R1.  Readers W [out][dim] (wq, wk, wv, w1, w3, classifier) become
 *   W·R1, writers W [dim][in] (wo, w2) become R1ᵀ·W, the embedding rows E·R1.
 *   RMSNorm commutes with R1 only when its weight is 1, so the norm weights
 *   are folded into the readers first (rb_rotate_fuse_norms).
 *   value rotation R2 [hd][hd]: every kv head's v rows become R2ᵀ·Wv_g (and
 *   its bias, when the model has one, R2ᵀ·bv_g: v_g = x·Wv_gᵀ + bv_g becomes
 *   v_g·R2) and every query head's wo columns Wo_h·R2, so the attention
 *   output of each head is att_h·R2 and o_proj's output is unchanged.
 *   Input-side transforms (R1, norm folding) leave the q/k/v biases alone;
 *   the online q/k transforms run after RoPE, so after the biases too.
 *   online transforms (rb_model.online, applied inside rb_forward): their
 *   inverses are folded into w2 (down) and wo (across heads); q·k is
 *   unchanged by the same rotation of q and k, so R3 needs no weight change.
 * All of these change weights in place; the fp32 logits stay the same up to
 * float rounding (tests check 1e-5 relative).
 */
#ifndef RB_METHODS_ROTATE_H
#define RB_METHODS_ROTATE_H

#include "base/error.h"
#include "core/model.h"

/* Folds attn_norm into wq/wk/wv columns, ffn_norm into w1/w3 columns and
 * final_norm into the classifier columns, then sets the norm weights to 1.
 * Unties a shared classifier (the embedding and the classifier then take
 * different transforms). */
int rb_rotate_fuse_norms(rb_model *m, rb_error *err);

/* Applies the residual rotation R1 [dim][dim] (orthogonal, row-major).
 * RB_EINVAL unless every norm weight is 1 (fuse them first). */
int rb_rotate_residual(rb_model *m, const float *R1, rb_error *err);

/* Applies the value/output rotation R2 [head_dim][head_dim] to every head. */
int rb_rotate_value_heads(rb_model *m, const float *R2, rb_error *err);

/* The same two rotations when R = diag(s)·H_n (kernels/rotation.h's Hadamard
 * kinds), given by the signs s [n] (n = dim for R1, head_dim for R2; NULL:
 * all +1) and applied as fast transforms of weight rows (readers: each row
 * w becomes Hᵀ·(s∘w)) and columns (writers: Hᵀ·diag(s)·W, in column blocks
 * in parallel): O(n log n) per row instead of a dense product and no n×n
 * matrix.  The weights equal those of the dense calls with
 * rb_rotation_matrix's R to float rounding.  RB_EINVAL as the dense calls
 * and for a size without a Hadamard transform, RB_ENOMEM. */
int rb_rotate_residual_hadamard(rb_model *m, const float *signs, rb_error *err);
int rb_rotate_value_heads_hadamard(rb_model *m, const float *signs, rb_error *err);

/* A value/output rotation per layer and kv head: R [n_layers][n_kv_heads]
 * [head_dim][head_dim]; kv head g of layer l takes R[l][g] (its v rows
 * R[l][g]ᵀ·Wv_g), and so does every query head h of its group
 * (g = h / (n_heads / n_kv_heads): wo columns Wo_h·R[l][g]). */
int rb_rotate_value_heads_each(rb_model *m, const float *R, rb_error *err);

/* A residual basis per layer (ResQ's one_per_decoder / per_layer bases):
 * A [n_layers+1][dim][dim] orthogonal, M [n_layers][dim][dim] or NULL
 * (then M[l] = A[l]).  The stream entering layer l becomes x·A[l]: wq/wk/wv
 * read in A[l] (W·A[l]), wo writes and w1/w3 read in M[l] (M[l]ᵀ·Wo,
 * W·M[l]), w2 writes in A[l+1] (A[l+1]ᵀ·W2), the embedding rows E·A[0], the
 * classifier Cls·A[n_layers].  The stream is carried from one basis to the
 * next by the online basis changes of rb_online_plan (x ← x·Wᵀ): resid_attn
 * [l] = M[l]ᵀ·A[l] before o_proj's add (only with M), resid_ffn[l] =
 * A[l+1]ᵀ·M[l] before down_proj's (float64 products, rounded to float).
 * RB_EINVAL unless the norms are folded, or when they are already on;
 * RB_ENOMEM. */
int rb_rotate_residual_each(rb_model *m, const float *A, const float *M, rb_error *err);

/* Turns on the online Hadamards asked for (nonzero flags) and folds the
 * inverses of R4 (into w2) and of the head-wise one (into wo).  RB_EINVAL
 * for a size with no Hadamard transform (the message lists the supported
 * ones) or for a transform that is already on. */
int rb_rotate_online(rb_model *m, int qk, int down, int heads, rb_error *err);

/* Dense online rotations per layer (ResQ's key and down_proj bases), in the
 * convention above: the values become x·R.  qk [n_layers][head_dim]
 * [head_dim] (or NULL): every head of q and k after RoPE (and after R3 when
 * on) becomes q_h·R[l], k_g·R[l]; no weight changes.  down [n_layers]
 * [hidden][hidden] (or NULL): the input of w2 becomes a·R[l] and w2 becomes
 * w2·R[l].  The model keeps copies (rb_online_plan.qk_dense / down_dense).
 * RB_EINVAL when the same slot is already on or down meets the online R4
 * Hadamard. */
int rb_rotate_online_dense(rb_model *m, const float *qk, const float *down, rb_error *err);

#endif
