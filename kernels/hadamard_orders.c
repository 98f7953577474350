/* The ±1 base matrices B_k of kernels/hadamard.h, built by construction:
 *
 *   k    construction
 *   1    [1]
 *   12   Paley I,  q = 11          (q ≡ 3 mod 4 prime power, order q + 1)
 *   20   Paley I,  q = 19
 *   28   Paley I,  q = 27 = 3^3    (GF(27) = GF(3)[x]/(x^3 - x - 1))
 *   44   Paley I,  q = 43
 *   60   Paley I,  q = 59
 *   108  Paley I,  q = 107
 *   140  Paley I,  q = 139
 *   36   Paley II, q = 17          (q ≡ 1 mod 4 prime power, order 2(q + 1))
 *   52   Paley II, q = 25 = 5^2    (GF(25) = GF(5)[x]/(x^2 - 2))
 *   40   Sylvester doubling of B_20: [[B, B], [B, -B]]
 *   156  Williamson, m = 39        (first rows found by tools/find_williamson.c)
 *   172  Williamson, m = 43        (likewise)
 *
 * Paley I: with χ the quadratic character of GF(q) (χ(0) = 0), the
 * Jacobsthal matrix Q[x][y] = χ(x - y) is antisymmetric for q ≡ 3 mod 4;
 * S = [[0, 1ᵀ], [-1, Q]] satisfies S·Sᵀ = q·I and B = I + S.
 * Paley II: for q ≡ 1 mod 4, C = [[0, 1ᵀ], [1, Q]] is a symmetric conference
 * matrix (C² = q·I) and B = C ⊗ [[1, 1], [1, -1]] + I ⊗ [[1, -1], [-1, -1]].
 * Williamson: A, B, C, D symmetric circulant ±1 of order m with
 * A² + B² + C² + D² = 4m·I give
 *     [[ A,  B,  C,  D],
 *      [-B,  A, -D,  C],
 *      [-C,  D,  A, -B],
 *      [-D, -C,  B,  A]].
 *
 * Storage: every matrix lives in one static array, filled once on the first
 * call of rb_hadamard_base (pthread_once, so concurrent first calls are
 * safe) and read-only afterwards.  This and its float copy in hadamard.c
 * (built the same way) are the Hadamard module's only static state.
 * tests/test_hadamard.c checks B·Bᵀ = k·I exactly for every order. */
#include <pthread.h>
#include <string.h>

#include "kernels/hadamard.h"

const int rb_hadamard_base_orders[] = {1, 12, 20, 28, 36, 40, 44, 52, 60, 108, 140, 156, 172, 0};

#define N_ORDERS 13
/* Σ k² over the orders above */
#define STORAGE (1 + 144 + 400 + 784 + 1296 + 1600 + 1936 + 2704 + 3600 + 11664 + 19600 + 24336 + 29584)

static signed char storage[STORAGE];
static const signed char *base_of[N_ORDERS];
static pthread_once_t once = PTHREAD_ONCE_INIT;

/* ---- finite fields GF(p^e), elements as integers 0..q-1 (base-p digits are
 * the coefficients of 1, x, x², ...) ------------------------------------- */

typedef struct {
    int p, e, q;
    int poly[4]; /* x^e = Σ poly[i]·x^i (the reduction rule) */
} gf;

static void gf_digits(const gf *f, int a, int *d) {
    for (int i = 0; i < f->e; i++) {
        d[i] = a % f->p;
        a /= f->p;
    }
}

static int gf_pack(const gf *f, const int *d) {
    int a = 0;
    for (int i = f->e - 1; i >= 0; i--) a = a * f->p + d[i];
    return a;
}

static int gf_sub(const gf *f, int a, int b) {
    int da[4], db[4];
    gf_digits(f, a, da);
    gf_digits(f, b, db);
    for (int i = 0; i < f->e; i++) da[i] = (da[i] - db[i] + f->p) % f->p;
    return gf_pack(f, da);
}

static int gf_mul(const gf *f, int a, int b) {
    int da[4], db[4], prod[8] = {0};
    gf_digits(f, a, da);
    gf_digits(f, b, db);
    for (int i = 0; i < f->e; i++)
        for (int j = 0; j < f->e; j++) prod[i + j] = (prod[i + j] + da[i] * db[j]) % f->p;
    for (int k = 2 * f->e - 2; k >= f->e; k--) { /* x^k = x^(k-e)·Σ poly[i]·x^i */
        for (int i = 0; i < f->e; i++)
            prod[k - f->e + i] = (prod[k - f->e + i] + prod[k] * f->poly[i]) % f->p;
        prod[k] = 0;
    }
    return gf_pack(f, prod);
}

/* chi[a] = quadratic character of a: 0, 1 (nonzero square) or -1. */
static void gf_chi(const gf *f, signed char *chi) {
    for (int a = 0; a < f->q; a++) chi[a] = -1;
    chi[0] = 0;
    for (int a = 1; a < f->q; a++) chi[gf_mul(f, a, a)] = 1;
}

/* Q[x][y] = χ(x - y) for the field f, into the core of an order q+1 matrix
 * (index 0 is the point at infinity). */
static void paley_core(const gf *f, signed char *S, int n) {
    signed char chi[140];
    gf_chi(f, chi);
    for (int x = 0; x < f->q; x++)
        for (int y = 0; y < f->q; y++) S[(size_t)(x + 1) * n + (y + 1)] = chi[gf_sub(f, x, y)];
}

/* Paley I: B = I + [[0, 1ᵀ], [-1, Q]], order q + 1 (q ≡ 3 mod 4). */
static void paley1(const gf *f, signed char *B) {
    int n = f->q + 1;
    paley_core(f, B, n);
    B[0] = 0;
    for (int j = 1; j < n; j++) {
        B[j] = 1;
        B[(size_t)j * n] = -1;
    }
    for (int i = 0; i < n; i++) B[(size_t)i * n + i] += 1;
}

/* Paley II: C = [[0, 1ᵀ], [1, Q]], B = C ⊗ [[1,1],[1,-1]] + I ⊗ [[1,-1],[-1,-1]],
 * order 2(q + 1) (q ≡ 1 mod 4).  C is built in the first (q+1)² bytes of
 * scratch. */
static void paley2(const gf *f, signed char *B, signed char *C) {
    int c = f->q + 1, n = 2 * c;
    paley_core(f, C, c);
    C[0] = 0;
    for (int j = 1; j < c; j++) C[j] = C[(size_t)j * c] = 1;
    static const signed char P[2][2] = {{1, 1}, {1, -1}}, D[2][2] = {{1, -1}, {-1, -1}};
    for (int i = 0; i < c; i++)
        for (int j = 0; j < c; j++)
            for (int u = 0; u < 2; u++)
                for (int v = 0; v < 2; v++)
                    B[(size_t)(2 * i + u) * n + (2 * j + v)] =
                        (signed char)(C[(size_t)i * c + j] * P[u][v] + (i == j ? D[u][v] : 0));
}

/* [[B, B], [B, -B]] of order 2h from B of order h. */
static void sylvester_double(const signed char *B, int h, signed char *out) {
    int n = 2 * h;
    for (int i = 0; i < h; i++)
        for (int j = 0; j < h; j++) {
            signed char b = B[(size_t)i * h + j];
            out[(size_t)i * n + j] = b;
            out[(size_t)i * n + j + h] = b;
            out[(size_t)(i + h) * n + j] = b;
            out[(size_t)(i + h) * n + j + h] = (signed char)-b;
        }
}

/* First rows of Williamson matrices ('+' = 1, '-' = -1), symmetric
 * (x_j = x_{m-j}), found by tools/find_williamson.c: `find_williamson 39 19`
 * (the general symmetric search, multipliers {1, 38}; about 5 minutes) and
 * `find_williamson 43` (rows constant on the orbits of the multipliers
 * {1, 6, 7, 36, 37, 42}; instant).  The program verifies
 * A² + B² + C² + D² = 4m·I before printing. */
static const char *const williamson39[4] = {
    "++++---+--++----+-+--+-+----++--+---+++",
    "+++--++-+---+-+--+----+--+-+---+-++--++",
    "+---++-+-+-----+++-++-+++-----+-+-++---",
    "+++--+-+-----+--++----++--+-----+-+--++"};
static const char *const williamson43[4] = {
    "+-+------++++-+-++--+--+--++-+-++++------+-",
    "+++--++++-+-+++-++--------++-+++-+-++++--++",
    "+--+-+--++++-+--+++-++++-+++--+-++++--+-+--",
    "+-+-++--++-+++++---++--++---+++++-++--++-+-"};

/* Williamson's array from the four first rows (circulant X[i][j] = x[(j-i) mod m]). */
static void williamson(const char *const rows[4], int m, signed char *B) {
    /* block (r, c) of the array: which of A..D and its sign */
    static const int which[4][4] = {{0, 1, 2, 3}, {1, 0, 3, 2}, {2, 3, 0, 1}, {3, 2, 1, 0}};
    static const int sign[4][4] = {{1, 1, 1, 1}, {-1, 1, -1, 1}, {-1, 1, 1, -1}, {-1, -1, 1, 1}};
    int n = 4 * m;
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < 4; c++) {
            const char *x = rows[which[r][c]];
            for (int i = 0; i < m; i++)
                for (int j = 0; j < m; j++) {
                    int v = x[((j - i) % m + m) % m] == '+' ? 1 : -1;
                    B[(size_t)(r * m + i) * n + (c * m + j)] = (signed char)(sign[r][c] * v);
                }
        }
}

static void build_all(void) {
    static signed char scratch[26 * 26];
    signed char *next = storage;
    for (int o = 0; o < N_ORDERS; o++) {
        int k = rb_hadamard_base_orders[o];
        signed char *B = next;
        next += (size_t)k * k;
        base_of[o] = B;
        switch (k) {
        case 1: B[0] = 1; break;
        case 12: paley1(&(gf){11, 1, 11, {0}}, B); break;
        case 20: paley1(&(gf){19, 1, 19, {0}}, B); break;
        case 28: paley1(&(gf){3, 3, 27, {1, 1, 0}}, B); break; /* x^3 = x + 1 */
        case 44: paley1(&(gf){43, 1, 43, {0}}, B); break;
        case 60: paley1(&(gf){59, 1, 59, {0}}, B); break;
        case 108: paley1(&(gf){107, 1, 107, {0}}, B); break;
        case 140: paley1(&(gf){139, 1, 139, {0}}, B); break;
        case 36: paley2(&(gf){17, 1, 17, {0}}, B, scratch); break;
        case 52: paley2(&(gf){5, 2, 25, {2, 0}}, B, scratch); break; /* x^2 = 2 */
        case 40: sylvester_double(base_of[2], 20, B); break; /* base_of[2] is B_20 */
        case 156: williamson(williamson39, 39, B); break;
        case 172: williamson(williamson43, 43, B); break;
        }
    }
}

const signed char *rb_hadamard_base(int k) {
    pthread_once(&once, build_all);
    for (int o = 0; o < N_ORDERS; o++)
        if (rb_hadamard_base_orders[o] == k) return base_of[o];
    return NULL;
}
