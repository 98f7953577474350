/* Finite fields GF(q), q = p^e, for the Paley constructions of Hadamard base
 * matrices (kernels/hadamard_orders.c).
 *
 * An element is an integer a in [0, q): its base-p digits a_0, a_1, ... are
 * the coefficients of 1, x, ..., x^(e-1) of a polynomial over GF(p), and
 * products are reduced modulo a monic irreducible polynomial of degree e,
 * written as the rule x^e = Σ red[i]·x^i.  rb_gf_init chooses the rule
 * deterministically: the smallest r = Σ red[i]·p^i (red's digits read as a
 * number) whose polynomial x^e - Σ red[i]·x^i is irreducible.  For the two
 * prime powers the Hadamard anchors use this gives GF(25) = GF(5)[x]/(x² - 2)
 * and GF(27) = GF(3)[x]/(x³ - x - 1), the fields those matrices were built
 * over.  Fields are small (q ≤ RB_GF_MAX_Q); no tables, no allocation. */
#ifndef RB_KERNELS_HADAMARD_GF_H
#define RB_KERNELS_HADAMARD_GF_H

#include "base/error.h"

#define RB_GF_MAX_E 16   /* largest degree (2^16 > RB_GF_MAX_Q) */
#define RB_GF_MAX_Q 65536

typedef struct rb_gf {
    int p, e, q;
    int red[RB_GF_MAX_E]; /* x^e = Σ_{i<e} red[i]·x^i */
} rb_gf;

/* 1 when q = p^e with p prime and e ≥ 1 (then *p, *e are set, either may be
 * NULL), else 0. */
int rb_gf_prime_power(int q, int *p, int *e);

/* The field of order q as above.  RB_EINVAL when q is not a prime power in
 * [2, RB_GF_MAX_Q]. */
int rb_gf_init(rb_gf *f, int q, rb_error *err);

int rb_gf_add(const rb_gf *f, int a, int b);
int rb_gf_sub(const rb_gf *f, int a, int b);
int rb_gf_mul(const rb_gf *f, int a, int b);

/* chi[a] for a in [0, q) (caller-allocated, q entries): the quadratic
 * character, 0 for a = 0, 1 for a nonzero square, -1 otherwise.  q odd. */
void rb_gf_chi(const rb_gf *f, signed char *chi);

#endif
