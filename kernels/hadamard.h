/* Hadamard transforms: the fast Walsh-Hadamard transform for powers of two
 * and Kronecker sizes n = k·2^m with a Hadamard base matrix of order k.
 *
 * Supported sizes: n = k·2^m, m ≥ 0, with k = 1 or a base order that one of
 * the constructions of kernels/hadamard_orders.c reaches (Sylvester, Paley I
 * and II over GF(p^e), the Williamson orders 156 and 172, Kronecker products
 * of these; k ≤ RB_HADAMARD_MAX_BASE).  Of the factorisations the one with
 * the largest power of two (the smallest k) is used, so 24 is 12·2 and
 * 18944 = 148·2^7 (148 = Paley II, q = 73).  A size none reaches (n odd,
 * n ≡ 2 mod 4, or e.g. 668 = 4·167) is refused with RB_EINVAL and a message
 * naming the nearest supported sizes.  rb_hadamard_base_orders lists the
 * anchors, the orders supported before the general constructions; their
 * matrices are unchanged.  Every transform here is the *normalized* one, an
 * orthogonal matrix:
 *     H_n = (B_k ⊗ S_{2^m}) / √n
 * where B_k is the ±1 base matrix of order k (B_k·B_kᵀ = k·I) and S_{2^m} the
 * Sylvester matrix (S_1 = [1], S_2j = [[S_j, S_j], [S_j, -S_j]]).  A vector x
 * of length n is viewed as [k][2^m] (index i = a·2^m + b); the transform is
 * y = H_n·x, i.e. y_i = Σ_j H_n[i][j]·x_j.  The fast transform costs about
 * m + k operations per element (the butterflies, then B_k along the k axis).
 */
#ifndef RB_KERNELS_HADAMARD_H
#define RB_KERNELS_HADAMARD_H

#include <stddef.h>

#include "base/error.h"

/* The anchor orders (supported before the general constructions), ascending,
 * terminated by 0: 1, 12, 20, 28, 36, 40, 44, 52, 60, 108, 140, 156, 172. */
extern const int rb_hadamard_base_orders[];

/* Largest base order k; a base matrix costs 9·k² bytes once built (int8 and
 * two float copies). */
#define RB_HADAMARD_MAX_BASE 4096

typedef enum rb_hadamard_kind {
    RB_HADAMARD_NONE = 0,   /* no construction reaches the order */
    RB_HADAMARD_SYLVESTER,  /* k = 2^j */
    RB_HADAMARD_PALEY1,     /* k = q + 1, q ≡ 3 mod 4 a prime power */
    RB_HADAMARD_PALEY2,     /* k = 2(q + 1), q ≡ 1 mod 4 a prime power */
    RB_HADAMARD_WILLIAMSON, /* k = 4·a, a ∈ {39, 43} (stored first rows) */
    RB_HADAMARD_KRONECKER,  /* k = a·b, B_k = B_a ⊗ B_b */
} rb_hadamard_kind;

/* How the Hadamard matrix of order k is constructed. */
typedef struct rb_hadamard_order {
    int k;
    rb_hadamard_kind kind;
    int q, p, e; /* Paley: over GF(q), q = p^e */
    int a, b;    /* Kronecker: k = a·b (a a power of two when one works); Williamson: m = a */
    int anchor;  /* 1 when k is in rb_hadamard_base_orders */
} rb_hadamard_order;

/* The construction of order k (kernels/hadamard_orders.c says which rule
 * wins when several apply).  RB_EINVAL when k is outside
 * [1, RB_HADAMARD_MAX_BASE] or no construction reaches it. */
int rb_hadamard_order_info(int k, rb_hadamard_order *info, rb_error *err);

/* Writes a one-line description of order k's construction into buf (cap
 * bytes, always terminated when cap > 0): "Paley II q=73", "Paley I
 * q=27=3^3", "Williamson m=39", "Sylvester", "Kronecker 12 ⊗ 20 (12 = Paley
 * I q=11, 20 = Paley I q=19)".  RB_EINVAL (buf empty) when none reaches k. */
int rb_hadamard_order_describe(int k, char *buf, size_t cap);

/* Builds the ±1 matrix of any reachable order k (powers of two included)
 * into B [k][k] (row-major, caller-allocated), without caching.  RB_EINVAL as
 * rb_hadamard_order_info, RB_ENOMEM. */
int rb_hadamard_base_build(int k, signed char *B, rb_error *err);

/* The ±1 base matrix of order k ([k][k], row-major), built on the first call
 * and cached for the life of the process (module-owned, never freed; safe to
 * call from several threads), or NULL when k is not a base order (powers of
 * two above 1 are not: they come from Sylvester) or memory ran out.  k = 1
 * gives [1]. */
const signed char *rb_hadamard_base(int k);

/* The same matrix as floats, B_k (transpose = 0) or B_kᵀ (1), cached
 * likewise: the operand of the fast transform's base multiply. */
const float *rb_hadamard_base_f32(int k, int transpose);

/* Splits n into k·2^m as above (the smallest reachable k).  RB_EINVAL when
 * n < 1 or no base order fits; the message names n, why no construction
 * applies and the nearest supported sizes below and above. */
int rb_hadamard_factor(int n, int *k, int *m, rb_error *err);

/* The nearest supported sizes: *below the largest < n (0 if none), *above
 * the smallest > n (0 if none up to 2^30). */
void rb_hadamard_nearest(int n, int *below, int *above);

/* Writes how size n is transformed into buf (cap bytes), e.g.
 * "18944 = 148 · 2^7, 148 = Paley II q=73", "4096 = 2^12 (Sylvester)",
 * "172 = Williamson m=43".  Returns what
 * rb_hadamard_factor returns; on failure buf holds its message. */
int rb_hadamard_describe(int n, char *buf, size_t cap);

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
