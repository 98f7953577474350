/* Backward passes of the Llama forward's kernels (kernels/ops.h, linear.h),
 * in the style of llm.c: one function per forward function, taking the
 * forward's inputs (the activations a training forward saved) and the
 * gradient of the loss with respect to the forward's output.
 *
 * Conventions: row-major float32, shapes as in the forward.  `d<name>` is
 * the gradient with respect to <name>.  Parameter gradients (dw) are always
 * accumulated (+=) so that several windows or several uses of a weight add
 * up; input gradients say whether they are written or accumulated.  Plain C
 * with OpenMP over rows or heads; float accumulation except where noted.
 * Checked against float64 finite differences in tests/test_backward.c. */
#ifndef RB_KERNELS_OPS_BACKWARD_H
#define RB_KERNELS_OPS_BACKWARD_H

#include <stddef.h>
#include <stdint.h>

/* y [T][n_out] = x [T][n_in] · Wᵀ, W [n_out][n_in]:
 *   dx [T][n_in]  = dy·W   (written, or added when accumulate_dx; dx may be NULL)
 *   dw [n_out][n_in] += dyᵀ·x  (dw may be NULL)
 * Two cblas_sgemm calls. */
void rb_linear_backward(float *dx, float *dw, const float *dy, const float *x, const float *w,
                        int T, int n_in, int n_out, int accumulate_dx);

/* y [T][n] += b [n] (rb_bias_add): db [n] += Σ_t dy[t]  (rows in order, so
 * the sum is the same for any thread count). */
void rb_bias_backward(float *db, const float *dy, int T, int n);

/* y[r] = x[r] · w / sqrt(mean(x[r]²) + eps)   (rb_rmsnorm):
 *   dx [rows][cols] += r·(w⊙dy) − r³/cols · x · Σ_c x_c w_c dy_c
 *   dw [cols] += Σ_rows dy ⊙ x · r      (dw may be NULL)
 * with r = 1/sqrt(mean(x²) + eps) recomputed from x (sums in double). */
void rb_rmsnorm_backward(float *dx, float *dw, const float *dy, const float *x, const float *w,
                         int rows, int cols, float eps);

/* g = silu(a)·b (rb_swiglu; a, b are the values before it):
 *   da = dg·b·σ(a)·(1 + a·(1 − σ(a))),  db = dg·silu(a)   (written; n values;
 * da may alias dg, db may not). */
void rb_swiglu_backward(float *da, float *db, const float *dg, const float *a, const float *b,
                        size_t n);

/* RoPE is a rotation of each pair; its backward is the inverse rotation
 * (angle −pos·θ_i), applied in place to dx [T][n_heads*head_dim].  Same
 * tables as rb_rope. */
void rb_rope_backward(float *dx, int T, int n_heads, int head_dim, int pos0,
                      const float *cos_tab, const float *sin_tab);

/* Causal GQA attention (rb_attention) backward, recomputing the softmax
 * probabilities from q and k (nothing but the inputs is saved):
 *   p_ij = softmax_j≤i(q_i·k_j/√hd),  dp_ij = dout_i·v_j,
 *   ds_ij = p_ij (dp_ij − Σ_j' p_ij' dp_ij'),
 *   dq_i = Σ_j ds_ij k_j/√hd,  dk_j = Σ_i ds_ij q_i/√hd,  dv_j = Σ_i p_ij dout_i
 * (dk, dv summed over the query heads of each kv head).  dq [T][n_heads*hd],
 * dk, dv [T][n_kv*hd] are written.  Parallel over kv heads;
 * scratch: rb_attention_backward_scratch_floats(T) floats per thread ×
 * threads. */
size_t rb_attention_backward_scratch_floats(int T);
void rb_attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *q,
                           const float *k, const float *v, int T, int n_heads, int n_kv_heads,
                           int head_dim, float *scratch, int threads);

/* Softmax cross-entropy over rows of logits [rows][cols]:
 *   dlogits[r] = scale·(softmax(logits[r]) − onehot(target[r]))   (written)
 * Rows with target[r] < 0 are not scored (dlogits[r] = 0).  Returns the sum of
 * the scored rows' negative log-likelihoods (double accumulation). */
double rb_softmax_xent_backward(float *dlogits, const float *logits, const int32_t *target,
                                int rows, int cols, float scale);

#endif
