/* The ±1 base matrices B_k of kernels/hadamard.h, built by construction.
 *
 * Which construction an order k uses is decided by number theory alone, in
 * this order of preference (rb_hadamard_order_info):
 *   Sylvester   k = 2^j: S_1 = [1], S_2j = [[S_j, S_j], [S_j, -S_j]]
 *   Paley I     k = q + 1, q ≡ 3 mod 4 a prime power (k ≡ 0 mod 4)
 *   Paley II    k = 2(q + 1), q ≡ 1 mod 4 a prime power (k ≡ 4 mod 8)
 *   Williamson  k = 156 (m = 39) and 172 (m = 43), from stored first rows
 *   Kronecker   k = a·b, B_k = B_a ⊗ B_b with both reachable: a the
 *               largest power of two that works (a Sylvester factor), else
 *               the smallest a ≥ 3 with a ≤ b
 * up to RB_HADAMARD_MAX_BASE.  Paley fields are GF(p^e) of
 * kernels/hadamard_gf.h (not only primes).  The anchors, the orders of
 * rb_hadamard_base_orders that predate these rules, come out as before:
 *   1 Sylvester; 12, 20, 28 (q = 27 = 3^3), 44, 60, 108, 140 Paley I;
 *   36, 52 (q = 25 = 5^2) Paley II; 40 = 2 ⊗ 20 (the Sylvester doubling
 *   [[B_20, B_20], [B_20, -B_20]]); 156, 172 Williamson.
 * (tests/test_hadamard.c checks their bytes against hashes recorded before
 * the rules were generalised.)
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
 * Kronecker: (B_a ⊗ B_b)[i·b + j][i'·b + j'] = B_a[i][i']·B_b[j][j'].
 * Field elements are numbered as in hadamard_gf.h; row/column 0 of the
 * Paley core is the point at infinity, 1 + x the element x.
 *
 * Static state, both deliberate:
 *   - the table of constructions for k ≤ RB_HADAMARD_MAX_BASE, filled once
 *     (pthread_once) and read-only afterwards;
 *   - the cache of built matrices (int8, and their float copies and
 *     transposes for the fast transform), a list guarded by a mutex; entries
 *     are built on first use and live until the process ends (never freed,
 *     never moved), so the pointers handed out stay valid. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/hadamard.h"
#include "kernels/hadamard_gf.h"

const int rb_hadamard_base_orders[] = {1, 12, 20, 28, 36, 40, 44, 52, 60, 108, 140, 156, 172, 0};

static int is_pow2(int k) { return k > 0 && (k & (k - 1)) == 0; }

/* ---- which construction each order uses ------------------------------------ */

static rb_hadamard_order plan[RB_HADAMARD_MAX_BASE + 1];
static pthread_once_t plan_once = PTHREAD_ONCE_INIT;

static void plan_build(void) {
    for (int k = 1; k <= RB_HADAMARD_MAX_BASE; k++) {
        rb_hadamard_order *o = &plan[k];
        o->k = k;
        o->kind = RB_HADAMARD_NONE;
        for (const int *a = rb_hadamard_base_orders; *a; a++) o->anchor |= *a == k;
        int p, e;
        if (is_pow2(k)) {
            o->kind = RB_HADAMARD_SYLVESTER;
        } else if (k % 4 == 0 && rb_gf_prime_power(k - 1, &p, &e)) {
            *o = (rb_hadamard_order){k, RB_HADAMARD_PALEY1, k - 1, p, e, 0, 0, o->anchor};
        } else if (k % 8 == 4 && rb_gf_prime_power(k / 2 - 1, &p, &e)) {
            *o = (rb_hadamard_order){k, RB_HADAMARD_PALEY2, k / 2 - 1, p, e, 0, 0, o->anchor};
        } else if (k == 156 || k == 172) {
            o->kind = RB_HADAMARD_WILLIAMSON;
            o->a = k / 4;
        } else {
            int a = k & -k; /* the largest power of two with k / a reachable */
            while (a > 1 && !plan[k / a].kind) a /= 2;
            if (a == 1) /* else the smallest factor c ≤ k / c with both reachable */
                for (int c = 3; c <= k / c; c++)
                    if (k % c == 0 && plan[c].kind && plan[k / c].kind) {
                        a = c;
                        break;
                    }
            if (a > 1) {
                o->kind = RB_HADAMARD_KRONECKER;
                o->a = a;
                o->b = k / a;
            }
        }
    }
}

int rb_hadamard_order_info(int k, rb_hadamard_order *info, rb_error *err) {
    if (k < 1 || k > RB_HADAMARD_MAX_BASE)
        return rb_error_set(err, RB_EINVAL, "Hadamard base order %d is outside [1, %d]", k,
                            RB_HADAMARD_MAX_BASE);
    pthread_once(&plan_once, plan_build);
    if (!plan[k].kind)
        return rb_error_set(err, RB_EINVAL,
                            "no construction reaches a Hadamard matrix of order %d", k);
    if (info) *info = plan[k];
    return RB_OK;
}

int rb_hadamard_order_describe(int k, char *buf, size_t cap) {
    rb_hadamard_order o;
    if (cap) buf[0] = 0;
    if (rb_hadamard_order_info(k, &o, NULL)) return RB_EINVAL;
    char q[48] = "";
    if (o.kind == RB_HADAMARD_PALEY1 || o.kind == RB_HADAMARD_PALEY2) {
        if (o.e > 1) snprintf(q, sizeof q, "q=%d=%d^%d", o.q, o.p, o.e);
        else snprintf(q, sizeof q, "q=%d", o.q);
    }
    switch (o.kind) {
    case RB_HADAMARD_SYLVESTER: snprintf(buf, cap, "Sylvester"); break;
    case RB_HADAMARD_PALEY1: snprintf(buf, cap, "Paley I %s", q); break;
    case RB_HADAMARD_PALEY2: snprintf(buf, cap, "Paley II %s", q); break;
    case RB_HADAMARD_WILLIAMSON: snprintf(buf, cap, "Williamson m=%d", o.a); break;
    case RB_HADAMARD_KRONECKER: {
        char da[200], db[200];
        rb_hadamard_order_describe(o.a, da, sizeof da);
        rb_hadamard_order_describe(o.b, db, sizeof db);
        snprintf(buf, cap, "Kronecker %d ⊗ %d (%d = %s, %d = %s)", o.a, o.b, o.a, da, o.b, db);
        break;
    }
    default: break;
    }
    return RB_OK;
}

/* ---- constructions ------------------------------------------------------- */

/* Q[x][y] = χ(x - y) for the field f, into the core of an order q+1 matrix
 * (index 0 is the point at infinity). */
static int paley_core(const rb_gf *f, signed char *S, int n) {
    signed char *chi = malloc((size_t)f->q);
    if (!chi) return RB_ENOMEM;
    rb_gf_chi(f, chi);
    for (int x = 0; x < f->q; x++)
        for (int y = 0; y < f->q; y++) S[(size_t)(x + 1) * n + (y + 1)] = chi[rb_gf_sub(f, x, y)];
    free(chi);
    return RB_OK;
}

/* Paley I: B = I + [[0, 1ᵀ], [-1, Q]], order q + 1 (q ≡ 3 mod 4). */
static int paley1(const rb_gf *f, signed char *B) {
    int n = f->q + 1;
    if (paley_core(f, B, n)) return RB_ENOMEM;
    B[0] = 0;
    for (int j = 1; j < n; j++) {
        B[j] = 1;
        B[(size_t)j * n] = -1;
    }
    for (int i = 0; i < n; i++) B[(size_t)i * n + i] += 1;
    return RB_OK;
}

/* Paley II: C = [[0, 1ᵀ], [1, Q]], B = C ⊗ [[1,1],[1,-1]] + I ⊗ [[1,-1],[-1,-1]],
 * order 2(q + 1) (q ≡ 1 mod 4). */
static int paley2(const rb_gf *f, signed char *B) {
    int c = f->q + 1, n = 2 * c;
    signed char *C = malloc((size_t)c * c);
    if (!C || paley_core(f, C, c)) {
        free(C);
        return RB_ENOMEM;
    }
    C[0] = 0;
    for (int j = 1; j < c; j++) C[j] = C[(size_t)j * c] = 1;
    static const signed char P[2][2] = {{1, 1}, {1, -1}}, D[2][2] = {{1, -1}, {-1, -1}};
    for (int i = 0; i < c; i++)
        for (int j = 0; j < c; j++)
            for (int u = 0; u < 2; u++)
                for (int v = 0; v < 2; v++)
                    B[(size_t)(2 * i + u) * n + (2 * j + v)] =
                        (signed char)(C[(size_t)i * c + j] * P[u][v] + (i == j ? D[u][v] : 0));
    free(C);
    return RB_OK;
}

/* S_k[i][j] = (-1)^popcount(i & j), k a power of two. */
static void sylvester(int k, signed char *B) {
    for (int i = 0; i < k; i++)
        for (int j = 0; j < k; j++) B[(size_t)i * k + j] = __builtin_parity((unsigned)(i & j)) ? -1 : 1;
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

static int build(const rb_hadamard_order *o, signed char *B, rb_error *err);

/* B_a ⊗ B_b. */
static int kronecker(int a, int b, signed char *B, rb_error *err) {
    signed char *A = malloc((size_t)a * a), *C = malloc((size_t)b * b);
    int rc = A && C ? RB_OK : rb_error_set(err, RB_ENOMEM, "Hadamard base %d: out of memory", a * b);
    if (!rc) rc = build(&plan[a], A, err);
    if (!rc) rc = build(&plan[b], C, err);
    int k = a * b;
    for (int i = 0; !rc && i < a; i++)
        for (int j = 0; j < b; j++)
            for (int i2 = 0; i2 < a; i2++)
                for (int j2 = 0; j2 < b; j2++)
                    B[(size_t)(i * b + j) * k + (size_t)(i2 * b + j2)] =
                        (signed char)(A[(size_t)i * a + i2] * C[(size_t)j * b + j2]);
    free(A);
    free(C);
    return rc;
}

static int build(const rb_hadamard_order *o, signed char *B, rb_error *err) {
    rb_gf f;
    int rc;
    switch (o->kind) {
    case RB_HADAMARD_SYLVESTER: sylvester(o->k, B); return RB_OK;
    case RB_HADAMARD_PALEY1:
    case RB_HADAMARD_PALEY2:
        if ((rc = rb_gf_init(&f, o->q, err))) return rc;
        rc = o->kind == RB_HADAMARD_PALEY1 ? paley1(&f, B) : paley2(&f, B);
        return rc ? rb_error_set(err, rc, "Hadamard base %d: out of memory", o->k) : RB_OK;
    case RB_HADAMARD_WILLIAMSON: williamson(o->a == 39 ? williamson39 : williamson43, o->a, B); return RB_OK;
    case RB_HADAMARD_KRONECKER: return kronecker(o->a, o->b, B, err);
    default: return rb_error_set(err, RB_EINVAL, "no construction reaches a Hadamard matrix of order %d", o->k);
    }
}

int rb_hadamard_base_build(int k, signed char *B, rb_error *err) {
    int rc = rb_hadamard_order_info(k, NULL, err);
    return rc ? rc : build(&plan[k], B, err);
}

/* ---- the cache --------------------------------------------------------------- */

typedef struct cached {
    int k;
    signed char *b;
    float *f[2]; /* B_k and B_kᵀ as floats, filled on first request */
    struct cached *next;
} cached;

static cached *cache_head;
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;

/* The entry of k, built if new; NULL when out of memory.  Caller holds the lock. */
static cached *cache_get(int k) {
    for (cached *c = cache_head; c; c = c->next)
        if (c->k == k) return c;
    cached *c = calloc(1, sizeof *c);
    signed char *b = malloc((size_t)k * k);
    if (!c || !b || build(&plan[k], b, NULL)) {
        free(c);
        free(b);
        return NULL;
    }
    c->k = k;
    c->b = b;
    c->next = cache_head;
    cache_head = c;
    return c;
}

/* k is a base order the transforms use: reachable, and 1 or not a power of two. */
static int is_base(int k) {
    return rb_hadamard_order_info(k, NULL, NULL) == RB_OK && (k == 1 || !is_pow2(k));
}

const signed char *rb_hadamard_base(int k) {
    if (!is_base(k)) return NULL;
    pthread_mutex_lock(&cache_lock);
    cached *c = cache_get(k);
    pthread_mutex_unlock(&cache_lock);
    return c ? c->b : NULL;
}

const float *rb_hadamard_base_f32(int k, int transpose) {
    if (!is_base(k)) return NULL;
    transpose = !!transpose;
    pthread_mutex_lock(&cache_lock);
    cached *c = cache_get(k);
    if (c && !c->f[transpose] && (c->f[transpose] = malloc(sizeof(float) * (size_t)k * k)))
        for (int a = 0; a < k; a++)
            for (int b = 0; b < k; b++)
                c->f[transpose][(size_t)a * k + b] = transpose ? c->b[(size_t)b * k + a] : c->b[(size_t)a * k + b];
    const float *out = c ? c->f[transpose] : NULL;
    pthread_mutex_unlock(&cache_lock);
    return out;
}
