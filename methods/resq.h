/* ResQ's pieces (methods/resq.c has the stage): activation second moments
 * over the calibration set, their PCA bases, and the rotations built from
 * them.  Exposed for the tests and the calibration benchmark.
 *
 * Basis convention: a PCA basis U [n][n] holds the eigenvectors as COLUMNS
 * in ASCENDING order of eigenvalue, so the r highest-variance directions are
 * the LAST r columns.  A value x (a row) in that basis is x·U.  ResQ then
 * rotates inside each subspace independently: R = U·diag(R_low, R_high)
 * with R_low [n-r][n-r], R_high [r][r] orthogonal; the last r channels of
 * x·R span exactly the high-variance subspace, which is what the
 * mixed-precision quantizer (core/quant.h, rb_quant_split) keeps at 8 bits.
 */
#ifndef RB_METHODS_RESQ_H
#define RB_METHODS_RESQ_H

#include <stdint.h>

#include "core/calib.h"
#include "base/error.h"
#include "core/model.h"
#include "kernels/rotation.h"

/* Second moments E[x·xᵀ] (not centred) in float64, accumulated with dsyrk
 * and normalised by the number of vectors; full symmetric matrices. */
typedef struct rb_resq_cov {
    int n_layers, dim, head_dim, n_kv_heads, hidden;
    int down_block; /* B of down (0: no down statistics) */
    long n_tokens;  /* tokens through the forward (windows × window) */
    double *resid;  /* [dim][dim]: inputs of wq/wk/wv and w1/w3 of every layer,
                     * pooled (ResQ's global basis, where QuaRot puts R1) */
    double *attn, *ffn; /* [n_layers][dim][dim] or NULL: the inputs of wq/wk/wv
                         * and of w1/w3 per layer (resid is then their mean) */
    double *value;  /* [n_layers][n_kv_heads][hd][hd]: v per layer and kv head */
    double *key;    /* [n_layers][hd][hd]: k after RoPE (and any online
                     * transform), pooled over the kv heads of a layer */
    double *down;   /* [n_layers][B][B], or NULL: the input of w2 cut into
                     * hidden/B blocks of B channels, pooled over the blocks
                     * (B = down_block; B = hidden: the whole input) */
} rb_resq_cov;

/* Runs the calibration windows through m (fp32, no quantization) and
 * collects the moments above: down when down_block > 0 (it must divide
 * hidden), attn/ffn when per_layer.  Owned by out (rb_resq_cov_free).
 * RB_EINVAL for a block that does not divide hidden, RB_ENOMEM; forward
 * errors pass through. */
int rb_resq_collect(const rb_model *m, const rb_calib *calib, int down_block, int per_layer,
                    rb_resq_cov *out, rb_error *err);
void rb_resq_cov_free(rb_resq_cov *c);

/* PCA of a symmetric a [n][n] in place (LAPACKE dsyevd, float64): on return
 * a holds the eigenvectors as columns and w [n] the eigenvalues, both in
 * ascending order of eigenvalue.  RB_ENUMERIC if LAPACK fails. */
int rb_pca(double *a, int n, double *w, rb_error *err);

/* High-precision channels of a width-n space: floor(fraction·n). */
int rb_resq_high_count(double fraction, int n);

/* The random rotations inside the two subspaces of an n-wide space with r
 * high channels: low [n-r][n-r] and high [r][r] (either may be empty),
 * drawn from seed (the two with different derived seeds).  Hadamard kinds
 * fall back to random_orthogonal for a size with no Hadamard matrix.
 * Owned (rb_resq_blocks_free). */
typedef struct rb_resq_blocks {
    int n, r;
    float *low, *high;
} rb_resq_blocks;
int rb_resq_blocks_make(int n, int r, rb_rotation_kind kind, uint64_t seed, rb_resq_blocks *out,
                        rb_error *err);
void rb_resq_blocks_free(rb_resq_blocks *b);

/* R [n][n] = U·diag(b->low, b->high) (float64 products, rounded to float);
 * U as above.  RB_ENOMEM. */
int rb_resq_compose(const double *U, const rb_resq_blocks *b, float *R, rb_error *err);

/* The residual bases of resq:bases=decoder (M NULL) and bases=layer, from
 * per-layer moments (rb_resq_collect with per_layer; cov->attn and ffn are
 * destroyed): A [n_layers+1][dim][dim], A[l] = PCA basis of layer l's
 * (attn+ffn)/2 (decoder) or attn (layer) · diag(b->low, b->high), the last
 * A[n_layers] = diag(b->low, b->high) alone (the classifier's: the
 * reference rotates lm_head by its R1 only); with M [n_layers][dim][dim],
 * M[l] from ffn likewise.  The input of rb_rotate_residual_each.
 * RB_EINVAL without per-layer moments, RB_ENOMEM, RB_ENUMERIC. */
int rb_resq_layer_bases(rb_resq_cov *cov, const rb_resq_blocks *b, float *A, float *M,
                        rb_error *err);

#endif
