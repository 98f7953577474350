/* Explicit orthogonal matrices for rotating weights (QuaRot's fused R1/R2,
 * SpinQuant's initialisation, ResQ's subspace rotations).
 *
 *   RB_ROT_HADAMARD          H_n of kernels/hadamard.h (no randomness; the
 *                            seed is ignored)
 *   RB_ROT_RANDOM_HADAMARD   diag(s)·H_n, s_i = ±1 drawn from the seed: a
 *                            row vector x rotated as x·R has its signs
 *                            flipped *before* the Hadamard mixes it (QuaRot's
 *                            random Hadamard).  Flipping after it
 *                            (x·H·diag(s)) would be useless: symmetric
 *                            per-row and per-column quantizers do not see
 *                            sign flips of whole columns.
 *   RB_ROT_RANDOM_ORTHOGONAL Q of the QR decomposition of an n×n matrix of
 *                            standard normals drawn from the seed, signs
 *                            fixed so that diag(R) > 0 (Haar-distributed);
 *                            any n ≥ 1 (LAPACKE, double precision)
 * Same (kind, n, seed) → bit-identical matrix on every machine and thread
 * count.
 */
#ifndef RB_KERNELS_ROTATION_H
#define RB_KERNELS_ROTATION_H

#include <stdint.h>

#include "base/error.h"

typedef enum rb_rotation_kind {
    RB_ROT_HADAMARD,
    RB_ROT_RANDOM_HADAMARD,
    RB_ROT_RANDOM_ORTHOGONAL,
} rb_rotation_kind;

/* "hadamard", "random_hadamard", "random_orthogonal". */
const char *rb_rotation_kind_name(rb_rotation_kind kind);
/* Parses those names; RB_EINVAL listing them. */
int rb_rotation_kind_parse(const char *text, rb_rotation_kind *kind, rb_error *err);

/* Fills R [n][n] (row-major, caller-allocated) with an orthogonal matrix of
 * the given kind.  RB_EINVAL for a size the kind does not support (Hadamard
 * kinds: see rb_hadamard_factor), RB_ENUMERIC if LAPACK fails. */
int rb_rotation_matrix(rb_rotation_kind kind, int n, uint64_t seed, float *R, rb_error *err);

/* The Hadamard kinds without the matrix: fills s [n] with the signs of
 * diag(s)·H_n (all +1 for RB_ROT_HADAMARD), the same draws as
 * rb_rotation_matrix, so that R = diag(s)·H_n can be applied as a fast
 * transform (rb_hadamard_apply).  RB_EINVAL for RB_ROT_RANDOM_ORTHOGONAL or
 * a size without a Hadamard transform. */
int rb_rotation_signs(rb_rotation_kind kind, int n, uint64_t seed, float *s, rb_error *err);

#endif
