/* Hadamard transforms: the fast Walsh-Hadamard transform for powers of two
 * and Kronecker sizes n = k·2^m with a known Hadamard matrix of order k.
 *
 * Supported sizes: n = k·2^m, m ≥ 0, k ∈ {1, 12, 20, 28, 36, 40, 44, 52, 60,
 * 108, 140, 156, 172} (the base orders, kernels/hadamard_orders.c).  When
 * several factorisations exist the largest power of two is used (so 24 is
 * 12·2, not 1·24).  Every transform here is the *normalized* one, an
 * orthogonal matrix:
 *     H_n = (B_k ⊗ S_{2^m}) / √n
 * where B_k is the ±1 base matrix of order k (B_k·B_kᵀ = k·I) and S_{2^m} the
 * Sylvester matrix (S_1 = [1], S_2j = [[S_j, S_j], [S_j, -S_j]]).  A vector x
 * of length n is viewed as [k][2^m] (index i = a·2^m + b); the transform is
 * y = H_n·x, i.e. y_i = Σ_j H_n[i][j]·x_j.
 */
#ifndef RB_KERNELS_HADAMARD_H
#define RB_KERNELS_HADAMARD_H

#include <stddef.h>

#include "base/error.h"

/* The base orders k, ascending, terminated by 0. */
extern const int rb_hadamard_base_orders[];

/* The ±1 base matrix of order k ([k][k], row-major, static storage), or NULL
 * when k is not a base order.  k = 1 gives [1]. */
const signed char *rb_hadamard_base(int k);

/* Splits n into k·2^m as above.  RB_EINVAL (message listing the supported
 * forms) when n < 1 or no base order fits. */
int rb_hadamard_factor(int n, int *k, int *m, rb_error *err);

/* In place, for each of `rows` rows: the row x[r] (rows are n·inner floats
 * apart) is viewed as [n][inner] and every one of its `inner` columns
 * (stride inner) is replaced by H_n times it.  inner = 1 transforms whole
 * rows; e.g. the Hadamard across heads of attention outputs [T][heads][hd]
 * is rows = T, n = heads, inner = hd.  Parallel over rows (OpenMP), SIMD
 * chosen at run time.  RB_EINVAL for unsupported n or inner < 1. */
int rb_hadamard_apply(float *x, size_t rows, int n, int inner, rb_error *err);
/* The same with the transpose H_nᵀ (= H_n⁻¹): the backward of
 * rb_hadamard_apply.  H_n is symmetric only when its base B_k is (k = 1,
 * 12 is not, Paley bases are not in general), so this is a separate
 * transform: (B_kᵀ ⊗ S_{2^m})/√n.  Same layout, errors and threading. */
int rb_hadamard_apply_t(float *x, size_t rows, int n, int inner, rb_error *err);
/* The plain scalar reference of rb_hadamard_apply (serial, double
 * accumulation not required: same operation order is not promised). */
int rb_hadamard_apply_ref(float *x, size_t rows, int n, int inner, rb_error *err);

/* The explicit matrix H_n [n][n] (row-major, caller-allocated), so that
 * rb_hadamard_apply(x, 1, n, 1) equals y_i = Σ_j H[i][j]·x_j to float
 * rounding.  For fusing into weights. */
int rb_hadamard_matrix(int n, float *H, rb_error *err);

#endif
