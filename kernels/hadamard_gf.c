/* Finite fields GF(p^e) (kernels/hadamard_gf.h). */
#include "kernels/hadamard_gf.h"

#include <string.h>

int rb_gf_prime_power(int q, int *p, int *e) {
    if (q < 2) return 0;
    int r = q, d = 2;
    while (d <= r / d && r % d) d++;
    if (d > r / d) d = r; /* q has no divisor up to √q: prime */
    int k = 0;
    while (r % d == 0) {
        r /= d;
        k++;
    }
    if (r != 1) return 0;
    if (p) *p = d;
    if (e) *e = k;
    return 1;
}

static void digits(const rb_gf *f, int a, int *d) {
    for (int i = 0; i < f->e; i++) {
        d[i] = a % f->p;
        a /= f->p;
    }
}

static int pack(const rb_gf *f, const int *d) {
    int a = 0;
    for (int i = f->e - 1; i >= 0; i--) a = a * f->p + d[i];
    return a;
}

int rb_gf_add(const rb_gf *f, int a, int b) {
    if (f->e == 1) return (a + b) % f->p;
    int da[RB_GF_MAX_E], db[RB_GF_MAX_E];
    digits(f, a, da);
    digits(f, b, db);
    for (int i = 0; i < f->e; i++) da[i] = (da[i] + db[i]) % f->p;
    return pack(f, da);
}

int rb_gf_sub(const rb_gf *f, int a, int b) {
    if (f->e == 1) return (a - b + f->p) % f->p;
    int da[RB_GF_MAX_E], db[RB_GF_MAX_E];
    digits(f, a, da);
    digits(f, b, db);
    for (int i = 0; i < f->e; i++) da[i] = (da[i] - db[i] + f->p) % f->p;
    return pack(f, da);
}

int rb_gf_mul(const rb_gf *f, int a, int b) {
    if (f->e == 1) return (int)((long)a * b % f->p);
    int da[RB_GF_MAX_E], db[RB_GF_MAX_E], prod[2 * RB_GF_MAX_E] = {0};
    digits(f, a, da);
    digits(f, b, db);
    for (int i = 0; i < f->e; i++)
        for (int j = 0; j < f->e; j++) prod[i + j] = (prod[i + j] + da[i] * db[j]) % f->p;
    for (int k = 2 * f->e - 2; k >= f->e; k--) { /* x^k = x^(k-e)·Σ red[i]·x^i */
        for (int i = 0; i < f->e; i++)
            prod[k - f->e + i] = (prod[k - f->e + i] + prod[k] * f->red[i]) % f->p;
        prod[k] = 0;
    }
    return pack(f, prod);
}

void rb_gf_chi(const rb_gf *f, signed char *chi) {
    for (int a = 0; a < f->q; a++) chi[a] = -1;
    chi[0] = 0;
    for (int a = 1; a < f->q; a++) chi[rb_gf_mul(f, a, a)] = 1;
}

/* Whether the monic g (coefficients g[0..dg], g[dg] = 1) divides the monic
 * h (h[0..dh]) over GF(p): the remainder of long division is zero. */
static int divides(const int *g, int dg, const int *h, int dh, int p) {
    int r[RB_GF_MAX_E + 1];
    memcpy(r, h, sizeof(int) * (size_t)(dh + 1));
    for (int k = dh; k >= dg; k--) {
        int c = r[k]; /* g monic: subtract c·x^(k-dg)·g */
        if (!c) continue;
        for (int i = 0; i <= dg; i++) r[k - dg + i] = ((r[k - dg + i] - c * g[i]) % p + p) % p;
    }
    for (int i = 0; i < dg; i++)
        if (r[i]) return 0;
    return 1;
}

/* h (degree e, monic) has no monic factor of degree 1..e/2. */
static int irreducible(const int *h, int e, int p) {
    for (int d = 1; 2 * d <= e; d++) {
        int count = 1;
        for (int i = 0; i < d; i++) count *= p;
        for (int c = 0; c < count; c++) { /* the monic g of degree d with low digits c */
            int g[RB_GF_MAX_E + 1], v = c;
            for (int i = 0; i < d; i++) {
                g[i] = v % p;
                v /= p;
            }
            g[d] = 1;
            if (divides(g, d, h, e, p)) return 0;
        }
    }
    return 1;
}

int rb_gf_init(rb_gf *f, int q, rb_error *err) {
    int p, e;
    if (q > RB_GF_MAX_Q || !rb_gf_prime_power(q, &p, &e))
        return rb_error_set(err, RB_EINVAL, "GF(%d): %d is not a prime power in [2, %d]", q, q,
                            RB_GF_MAX_Q);
    memset(f, 0, sizeof *f);
    f->p = p;
    f->e = e;
    f->q = q;
    if (e == 1) return RB_OK;
    for (int r = 0; r < q; r++) { /* x^e - Σ red[i]·x^i for red = digits of r */
        int h[RB_GF_MAX_E + 1], v = r;
        for (int i = 0; i < e; i++) {
            f->red[i] = v % p;
            h[i] = (p - f->red[i]) % p;
            v /= p;
        }
        h[e] = 1;
        if (irreducible(h, e, p)) return RB_OK;
    }
    return rb_error_set(err, RB_ENUMERIC, "GF(%d): no irreducible polynomial of degree %d found", q,
                        e); /* cannot happen: one exists for every degree */
}
