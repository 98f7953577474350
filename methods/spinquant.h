/* SpinQuant's learned rotations (Liu et al. 2024, "SpinQuant: LLM
 * quantization with learned rotations"): the building blocks of the
 * `spinquant` stage (methods/spinquant.c), exposed for tests and tools.
 *
 * Parameters: R1 [dim][dim] on the residual stream and one R2 [head_dim]
 * [head_dim] per layer on the values and o_proj inputs (every head of the
 * layer takes the same R2), both orthogonal.  With the norm weights folded
 * into the linears and the online Hadamards' inverses folded into w2 and wo
 * (the `base` model, methods/rotate.h), the effective weights are
 *   E' = E·R1, Cls' = Cls·R1, readers W' = W·R1 (wq, wk, w1, w3),
 *   writers W' = R1ᵀ·W (w2), wv'_g = R2ᵀ·(Wv·R1)_g per kv head,
 *   wo'_h = (R1ᵀ·Wo)_h·R2 per query head (columns of head h),
 * i.e. rb_rotate_residual then rb_rotate_value_heads_each; all are linear
 * in R1 for fixed R2 and in R2 for fixed R1.  The loss is the cross-entropy
 * of the network with these weights (activation and KV quantizers on,
 * straight-through); its gradients with respect to R1 and R2 follow from the
 * effective weights' gradients (core/train.h) by the chain rule, and Cayley
 * SGD on the Stiefel manifold keeps R orthogonal (Li et al. 2020, "Efficient
 * Riemannian optimization on the Stiefel manifold via the Cayley
 * transform").
 *
 * Rotations are kept in float64 (orthogonal to double rounding) and cast to
 * float32 where they meet the weights. */
#ifndef RB_METHODS_SPINQUANT_H
#define RB_METHODS_SPINQUANT_H

#include <stdint.h>

#include "base/error.h"
#include "core/model.h"
#include "core/train.h"

typedef struct rb_spin_rotations {
    int dim, head_dim, n_layers;
    double *R1; /* [dim][dim], owned */
    double *R2; /* [n_layers][head_dim][head_dim], owned */
} rb_spin_rotations;

/* Allocates rotations for cfg, R1 = diag(s)·H_dim and every R2 = diag(s)·H_hd
 * (random Hadamards, kernels/rotation.h) drawn from seed (R2 of layer l from
 * a seed derived from seed and l).  RB_EINVAL for sizes without a Hadamard
 * matrix. */
int rb_spin_rotations_init(rb_spin_rotations *r, const rb_config *cfg, uint64_t seed,
                           rb_error *err);
void rb_spin_rotations_free(rb_spin_rotations *r);

/* max_ij |(RᵀR − I)_ij| for R [n][n]. */
double rb_spin_orthogonality_error(const double *R, int n);

/* Writes the rotations to path: the 8-byte magic "RBSPINR1", int32 dim,
 * head_dim, n_layers (little-endian), then R1 and R2 as float64.  Loading
 * checks the magic, that the shapes match cfg, the exact file size, finite
 * values and orthogonality (max |RᵀR − I| ≤ 1e-6), naming the file and
 * the field in errors (RB_EIO, RB_EFORMAT, RB_EINVAL). */
int rb_spin_rotations_save(const rb_spin_rotations *r, const char *path, rb_error *err);
int rb_spin_rotations_load(rb_spin_rotations *r, const rb_config *cfg, const char *path,
                           rb_error *err);

/* Writes the effective weights f(base, R1, R2) into dst (a model of base's
 * shape with an untied classifier, e.g. a clone of base; its norms and
 * online plan are left as they are).  R1 [dim][dim], R2 [n_layers][hd][hd]
 * in float32; they need not be orthogonal (the map is what tests
 * differentiate).  base must have unit norm weights (rb_rotate_fuse_norms). */
int rb_spin_effective(rb_model *dst, const rb_model *base, const float *R1, const float *R2,
                      rb_error *err);

/* The gradients of the loss with respect to R1 [dim][dim] and R2
 * [n_layers][hd][hd] (written, float64) from g, the gradients with respect
 * to the effective weights f(base, R1, R2) (norm gradients are ignored: the
 * norms are not functions of R). */
int rb_spin_rotation_grads(const rb_model *base, const float *R1, const float *R2,
                           const rb_grads *g, double *gR1, double *gR2, rb_error *err);

/* One Cayley SGD step on the Stiefel manifold for R [n][n] with Euclidean
 * gradient G: W = G·Rᵀ − R·Gᵀ (skew: the gradient projected to the tangent
 * space, times R⁻¹), R ← (I + α/2·W)⁻¹ (I − α/2·W) R, solved by LU
 * (LAPACKE_dgesv), with α = min(lr, 1/‖W‖₁) (max column sum; the cap of
 * Li et al.'s Cayley SGD).  The Cayley transform of a skew matrix is orthogonal, so
 * R stays orthogonal to rounding; for small α the loss decreases by about
 * α/2·‖W‖²_F.  RB_ENUMERIC if the solve fails. */
int rb_cayley_step(double *R, const double *G, int n, double lr, rb_error *err);

/* One step of SpinQuant's optimizer, SGDG on the Stiefel manifold
 * (facebookresearch/SpinQuant train_utils/optimizer.py, stiefel=True, after
 * Li et al. 2020), for R [n][n] with Euclidean gradient G and the velocity
 * V [n][n] (zero before the first step; updated):
 *   V ← μ·V − Gᵀ,  M = V·R,  Ŵ = M − ½·Rᵀ·(R·M),  W = Ŵ − Ŵᵀ,
 *   α = min(lr, 1/(‖W‖₁ + 1e-8)),
 *   Rᵀ ← (I − α/2·W)⁻¹ (I + α/2·W) Rᵀ,   V ← W·Rᵀ (the R before the step).
 * The Cayley transform is solved exactly (LAPACKE_dgesv, float64) where the
 * reference iterates its fixed point 5 times, and the reference's random
 * QR re-orthogonalisation (1 step in 101) is not needed.  With μ = 0 and
 * orthogonal R the first-order step is R − α/2·(G − R·Gᵀ·R): half of
 * rb_cayley_step's for the same lr.  R must be orthogonal (as every step
 * leaves it, to rounding): Rᵀ·(R·M) is taken as M, so a step costs two
 * n³ products and the solve.  V may be NULL when momentum is 0 (no
 * velocity is kept; one product less; the same R to rounding).
 * RB_EINVAL for a NULL V with momentum; RB_ENUMERIC if the solve fails (V
 * is then already changed). */
int rb_sgdg_step(double *R, double *V, const double *G, int n, double lr, double momentum,
                 rb_error *err);

#endif
