/* Hadamard transforms and rotation matrices: the base matrices are Hadamard
 * (every order the constructions reach up to 1000, plus the model sizes'),
 * the anchors' matrices are the ones recorded before the constructions were
 * generalised, the explicit matrices orthogonal, the fast transform agrees
 * with the scalar reference and with the explicit matrix, sizes outside the
 * supported forms are refused with the nearest supported sizes, and
 * rotations are orthogonal and reproducible for a seed. */
#include <cblas.h>
#include <criterion/criterion.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "base/sha256.h"
#include "kernels/hadamard.h"
#include "kernels/hadamard_gf.h"
#include "kernels/linear.h"
#include "kernels/rotation.h"
#include "tests/test_util.h"

static float *rand_array(size_t n, rb_rng *r) {
    float *x = malloc(sizeof(float) * (n ? n : 1));
    cr_assert(x, "out of memory");
    rb_test_fill_uniform(x, n, -1, 1, r);
    return x;
}

/* max_i |(A·Aᵀ - I)_ij| for A [n][n] (float64 accumulation for n <= 512,
 * sgemm above). */
static double orthogonality_error(const float *A, int n) {
    double worst = 0;
    if (n <= 512) {
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) {
                double acc = 0;
                for (int l = 0; l < n; l++) acc += (double)A[(size_t)i * n + l] * A[(size_t)j * n + l];
                double e = fabs(acc - (i == j));
                worst = e > worst ? e : worst;
            }
        return worst;
    }
    float *G = malloc(sizeof(float) * (size_t)n * n);
    cr_assert(G);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, n, 1.0f, A, n, A, n, 0.0f, G, n);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            double e = fabs(G[(size_t)i * n + j] - (i == j));
            worst = e > worst ? e : worst;
        }
    free(G);
    return worst;
}

/* max |Aᵀ·(A·x) - x| / ||x|| and max |A·(Aᵀ·x) - x| / ||x|| over three random
 * x: orthogonality of a matrix too large to square. */
static double orthogonality_error_mv(const float *A, int n, rb_rng *r) {
    float *x = rand_array((size_t)n, r), *y = malloc(4 * (size_t)n), *z = malloc(4 * (size_t)n);
    double worst = 0;
    for (int rep = 0; rep < 3; rep++) {
        rb_test_fill_uniform(x, (size_t)n, -1, 1, r);
        double nx = 0;
        for (int i = 0; i < n; i++) nx += (double)x[i] * x[i];
        nx = sqrt(nx);
        for (int t = 0; t < 2; t++) {
            CBLAS_TRANSPOSE first = t ? CblasTrans : CblasNoTrans, second = t ? CblasNoTrans : CblasTrans;
            cblas_sgemv(CblasRowMajor, first, n, n, 1.0f, A, n, x, 1, 0.0f, y, 1);
            cblas_sgemv(CblasRowMajor, second, n, n, 1.0f, A, n, y, 1, 0.0f, z, 1);
            for (int i = 0; i < n; i++) {
                double e = fabs((double)z[i] - x[i]) / nx;
                worst = e > worst ? e : worst;
            }
        }
    }
    free(x); free(y); free(z);
    return worst;
}

/* For x [rows][n][inner] transformed into y: max over (row, column) of
 * max_i |y_i - ref_i| / ||x column||. */
static double column_rel_error(const float *y, const float *ref, const float *x, size_t rows,
                               int n, int inner) {
    double worst = 0;
    for (size_t r = 0; r < rows; r++)
        for (int c = 0; c < inner; c++) {
            size_t o = r * (size_t)n * inner + c;
            double nx = 0, e = 0;
            for (int i = 0; i < n; i++) {
                double v = x[o + (size_t)i * inner], d = fabs((double)y[o + (size_t)i * inner] - ref[o + (size_t)i * inner]);
                nx += v * v;
                e = d > e ? d : e;
            }
            e /= nx > 0 ? sqrt(nx) : 1;
            worst = e > worst ? e : worst;
        }
    return worst;
}

static const int pow2_sizes[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384};
/* 12, 24, 172, 344, 688, 172·64, 156·4, 108·2, 20·256, 28·512, 40·8 (= 20·16) */
static const int kron_sizes[] = {12, 24, 172, 344, 688, 11008, 624, 216, 5120, 14336, 320};

Test(hadamard, base_orders_are_hadamard) {
    int count = 0;
    for (const int *o = rb_hadamard_base_orders; *o; o++, count++) {
        int k = *o;
        const signed char *B = rb_hadamard_base(k);
        cr_assert(B, "order %d has no matrix", k);
        int bad_entries = 0, bad_dots = 0;
        for (int i = 0; i < k; i++)
            for (int j = 0; j < k; j++) {
                bad_entries += B[i * k + j] != 1 && B[i * k + j] != -1;
                int dot = 0;
                for (int l = 0; l < k; l++) dot += B[i * k + l] * B[j * k + l];
                bad_dots += dot != (i == j ? k : 0);
            }
        cr_assert_eq(bad_entries, 0, "B_%d has %d entries other than ±1", k, bad_entries);
        cr_assert_eq(bad_dots, 0, "B_%d·B_%dᵀ != %d·I in %d places", k, k, k, bad_dots);
        if (o != rb_hadamard_base_orders) cr_assert_gt(k, o[-1], "orders not ascending");
    }
    cr_assert_eq(count, 13);
    cr_assert_null(rb_hadamard_base(7));
    cr_assert_null(rb_hadamard_base(0));
    cr_assert_null(rb_hadamard_base(2)); /* powers of two come from Sylvester */
}

/* The anchors' matrices byte for byte, and H_n for some of their sizes
 * float for float: sha256 recorded from the code before the general
 * constructions (commit 24c4b44), which committed QuaRot numbers depend on. */
Test(hadamard, anchor_matrices_are_unchanged) {
    static const struct { int k; const char *hex; } base[] = {
        {1, "4bf5122f344554c53bde2ebb8cd2b7e3d1600ad631c385a5d7cce23c7785459a"},
        {12, "db7478025ce74776a8a2669368885b71737288dabf1e23985366a367b4f78ab9"},
        {20, "d04b560308676ee7cb59dd0f11653ead6c5f5efcbe97f1b57fe11bd39ee46faa"},
        {28, "1f861bb05e411db840005722898d32c36305700d241aca724ed7722b07bd2066"},
        {36, "1a7aed2f42a8c71de2ae13e765a6df2c2023519ef899b00d5d0baa7ee26f341b"},
        {40, "3c2e966aff899a31dcc64a9536d7f95ee8b86b6b1d0f35991fef2de1b351cf96"},
        {44, "7608149d896734a0526d38f2538474511db07117b2551d012c30cd4f07e6a477"},
        {52, "0f34f05b9d09382de51a5eaad9abb9b255cede34414878c8d141458f1dc213cc"},
        {60, "91a505ae266d3871fefff665af8234c0af0e225d5b5438311f0a63a803939a2f"},
        {108, "7deb180ca8331131e11b581731bbc5a32d5d2c0a6c1e19b9e79c1a6718fee996"},
        {140, "902eb66771c67a6bb94b14a2e76ed61dd7750a6e5ef6ba36d100274666339d8f"},
        {156, "e3f7e85a8b8f166799f2fc37a9de14e2f8d1421a712fe9d16000cacbade8b54c"},
        {172, "a38fcda7525518faca8718e2bd84175141949bd06dd0c8bc6cf2ee4700af548a"}};
    static const struct { int n; const char *hex; } dense[] = {
        {12, "31d029080ba8b9c182bbe144b23c4de1e7bd1d58567a79ee5332c56a78c1619b"},
        {24, "287c5e415b1589a44e2007b4338777d953536bb7b15402873ba7472d6db86aeb"},
        {40, "d746110aa40ced1bb49ce7d05445869df14733ed55f629bf85cfe386b9d63030"},
        {108, "0c507bcd0bf603d0f758e05f27655cfb1d13599d79c706d91c59cfc30559511a"},
        {140, "04cb519b6a5f2a0575c79b32e5774f453a3e48278f2475a2c9de21ed1dafd73f"},
        {156, "4635279b560a80535a5e5c255966aa6f57d5d4aca3c6dbede1a781004978ebc2"},
        {172, "2bb849e86f942edbc4c4df43b2a0865e65a98db19f8094e3155a5d8e6e135501"},
        {344, "261b335cfe3334ad9ecd2d68e8c86c9c074ca52fd3a657f283a3f8bef1198a48"},
        {688, "cdbdeb4102fbdf762148ed201a44f3376988f87b9aee2e25e702d0100c9761c8"}};
    char hex[65];
    for (size_t i = 0; i < sizeof base / sizeof *base; i++) {
        int k = base[i].k;
        rb_sha256_hex(rb_hadamard_base(k), (size_t)k * k, hex);
        cr_expect_str_eq(hex, base[i].hex, "B_%d changed", k);
        rb_hadamard_order o;
        cr_assert_eq(rb_hadamard_order_info(k, &o, NULL), RB_OK);
        cr_expect(o.anchor, "%d not flagged as an anchor", k);
    }
    for (size_t i = 0; i < sizeof dense / sizeof *dense; i++) {
        int n = dense[i].n;
        float *H = malloc(sizeof(float) * (size_t)n * n);
        cr_assert_eq(rb_hadamard_matrix(n, H, NULL), RB_OK);
        rb_sha256_hex(H, sizeof(float) * (size_t)n * n, hex);
        cr_expect_str_eq(hex, dense[i].hex, "H_%d changed", n);
        free(H);
    }
}

/* Exactly B·Bᵀ = k·I in integers, with rows packed as bits (1 for -1): the
 * dot product of rows i, j is k - 2·popcount(row_i xor row_j). */
static int hadamard_defects(const signed char *B, int k) {
    int words = (k + 63) / 64, bad = 0;
    unsigned long long *bits = calloc((size_t)k * words, sizeof *bits);
    cr_assert(bits);
    for (int i = 0; i < k; i++)
        for (int j = 0; j < k; j++) {
            signed char v = B[(size_t)i * k + j];
            if (v != 1 && v != -1) bad++;
            if (v < 0) bits[(size_t)i * words + j / 64] |= 1ull << (j % 64);
        }
    for (int i = 0; i < k; i++)
        for (int j = 0; j < k; j++) {
            long diff = 0;
            for (int w = 0; w < words; w++)
                diff += __builtin_popcountll(bits[(size_t)i * words + w] ^ bits[(size_t)j * words + w]);
            bad += k - 2 * diff != (i == j ? k : 0);
        }
    free(bits);
    return bad;
}

/* Every order up to 1000 that some construction claims (and the model sizes'
 * orders above it) is a Hadamard matrix; no construction claims an order
 * for which none exists (odd > 1, 2 mod 4), nor the orders these
 * constructions are known not to reach (92, 116: Williamson's, 668). */
Test(hadamard, every_reached_order_is_hadamard, .timeout = 240) {
    static const int extra[] = {1460 /* Paley II, q = 729 = 3^6 */, 1332 /* Paley I, q = 11^3 */,
                                1904 /* 28 ⊗ 68 */, 2048 /* Sylvester */, 1848 /* 2 ⊗ 924 */};
    int reached = 0, kinds[8] = {0};
    signed char *B = malloc((size_t)2048 * 2048);
    cr_assert(B);
    for (int i = 1; i <= 1000 + (int)(sizeof extra / sizeof *extra); i++) {
        int k = i <= 1000 ? i : extra[i - 1001];
        rb_hadamard_order o;
        rb_error err = {0};
        if (rb_hadamard_order_info(k, &o, &err) != RB_OK) {
            cr_expect(strstr(err.msg, "no construction"), "%d: %s", k, err.msg);
            cr_expect_null(rb_hadamard_base(k));
            continue;
        }
        cr_expect(k <= 2 || k % 4 == 0, "order %d claimed, but no Hadamard matrix of it exists", k);
        cr_assert_eq(o.k, k);
        kinds[o.kind]++;
        reached++;
        cr_assert_eq(rb_hadamard_base_build(k, B, &err), RB_OK, "%d: %s", k, err.msg);
        int bad = hadamard_defects(B, k);
        char how[400];
        rb_hadamard_order_describe(k, how, sizeof how);
        cr_expect_eq(bad, 0, "B_%d (%s): %d defects in B·Bᵀ = k·I", k, how, bad);
        if (k > 200 && k != 924 && k != 1904) continue; /* the cache keeps what it builds */
        const signed char *cached = rb_hadamard_base(k);
        if (k == 1 || (k & (k - 1))) {
            cr_assert(cached, "%d not cached", k);
            cr_expect_eq(memcmp(cached, B, (size_t)k * k), 0, "B_%d: cache and build differ", k);
        } else {
            cr_expect_null(cached, "power of two %d handed out as a base", k);
        }
    }
    free(B);
    cr_expect(kinds[RB_HADAMARD_PALEY1] && kinds[RB_HADAMARD_PALEY2] && kinds[RB_HADAMARD_KRONECKER] &&
                  kinds[RB_HADAMARD_WILLIAMSON] == 2 && kinds[RB_HADAMARD_SYLVESTER] == 11,
              "constructions used: Paley I %d, Paley II %d, Kronecker %d, Williamson %d, Sylvester %d",
              kinds[RB_HADAMARD_PALEY1], kinds[RB_HADAMARD_PALEY2], kinds[RB_HADAMARD_KRONECKER],
              kinds[RB_HADAMARD_WILLIAMSON], kinds[RB_HADAMARD_SYLVESTER]);
    cr_expect_geq(reached, 200, "only %d orders reached", reached);
    static const int not_reached[] = {92, 116, 668, 184, 3, 6, 14, 1002};
    for (size_t i = 0; i < sizeof not_reached / sizeof *not_reached; i++)
        cr_expect_eq(rb_hadamard_order_info(not_reached[i], NULL, NULL), RB_EINVAL, "%d claimed",
                     not_reached[i]);
    cr_expect_eq(rb_hadamard_order_info(0, NULL, NULL), RB_EINVAL);
    cr_expect_eq(rb_hadamard_order_info(RB_HADAMARD_MAX_BASE + 4, NULL, NULL), RB_EINVAL);
}

/* Paley I and II over GF(p^e): the fields are fields (every nonzero element
 * has an inverse, multiplication distributes), for the prime powers the
 * constructions up to 4096 use. */
Test(hadamard, prime_power_fields) {
    static const int qs[] = {9, 25, 27, 49, 81, 121, 125, 243, 343, 729, 1331, 2187};
    for (size_t i = 0; i < sizeof qs / sizeof *qs; i++) {
        rb_gf f;
        rb_error err = {0};
        cr_assert_eq(rb_gf_init(&f, qs[i], &err), RB_OK, "%s", err.msg);
        cr_assert_eq(f.q, qs[i]);
        int q = f.q, step = q > 200 ? 7 : 1, squares = 0;
        for (int a = 1; a < q; a += step) {
            int inv = 0;
            for (int b = 1; b < q && !inv; b++) inv = rb_gf_mul(&f, a, b) == 1;
            cr_expect(inv, "GF(%d): %d has no inverse", q, a);
            for (int b = 0; b < q; b += step) {
                int c = (a * 7 + b * 3) % q;
                cr_expect_eq(rb_gf_mul(&f, a, rb_gf_add(&f, b, c)),
                             rb_gf_add(&f, rb_gf_mul(&f, a, b), rb_gf_mul(&f, a, c)),
                             "GF(%d): not distributive at %d, %d, %d", q, a, b, c);
                cr_expect_eq(rb_gf_add(&f, rb_gf_sub(&f, a, b), b), a);
            }
        }
        signed char *chi = malloc((size_t)(unsigned)q);
        rb_gf_chi(&f, chi);
        for (int a = 1; a < q; a++) squares += chi[a] == 1;
        cr_expect_eq(squares, (q - 1) / 2, "GF(%d): %d nonzero squares", q, squares);
        free(chi);
    }
    int p, e;
    cr_expect(rb_gf_prime_power(2187, &p, &e) && p == 3 && e == 7);
    cr_expect(!rb_gf_prime_power(91, NULL, NULL) && !rb_gf_prime_power(1, NULL, NULL));
    cr_expect(rb_gf_prime_power(461, &p, &e) && p == 461 && e == 1);
    rb_gf f;
    cr_expect_eq(rb_gf_init(&f, 100, NULL), RB_EINVAL);
}

Test(hadamard, factor_uses_largest_power_of_two) {
    static const int cases[][3] = {{1, 1, 0},      {2, 1, 1},       {4096, 1, 12},  {12, 12, 0},
                                   {24, 12, 1},    {40, 20, 1},     {172, 172, 0},  {344, 172, 1},
                                   {11008, 172, 6}, {5120, 20, 8},  {14336, 28, 9}, {624, 156, 2},
                                   {216, 108, 1},  {1 << 30, 1, 30}, {60 * 1024, 60, 10},
                                   /* new orders: Qwen2.5-7B/72B FFN, 0.5B FFN, GF(49), Kronecker */
                                   {18944, 148, 7}, {29568, 924, 5}, {4864, 76, 6}, {100, 100, 0},
                                   {1904, 1904, 0}, {1904 * 4, 1904, 2}, {1536, 12, 7}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int k = -1, m = -1;
        rb_error err = {0};
        cr_assert_eq(rb_hadamard_factor(cases[i][0], &k, &m, &err), RB_OK, "%d: %s", cases[i][0], err.msg);
        cr_expect(k == cases[i][1] && m == cases[i][2], "%d = %d·2^%d, expected %d·2^%d", cases[i][0],
                  k, m, cases[i][1], cases[i][2]);
    }
}

Test(hadamard, unsupported_sizes_are_refused) {
    /* no Hadamard matrix (odd, 2 mod 4: 14 is Qwen2.5-0.5B's head count), or
     * none of the constructions reaches any k = u·2^j: 92 = 4·23 and 184,
     * 668 = 4·167 and 1336 (668·4 = 2672 is Paley I, q = 2671) */
    static const int bad[] = {7, 22, 13 * 2, 0, -4, 3, 14, 92, 184, 668, 1336};
    float x[64] = {0};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int n = bad[i], k, m;
        rb_error err = {0};
        cr_assert_eq(rb_hadamard_factor(n, &k, &m, &err), RB_EINVAL, "n = %d accepted", n);
        char size[32];
        snprintf(size, sizeof size, "size %d", n);
        cr_expect(strstr(err.msg, size), "message does not name the size: %s", err.msg);
        if (n >= 1) {
            cr_expect(strstr(err.msg, "k·2^m") && strstr(err.msg, "nearest supported sizes"),
                      "message does not give the form and the nearest sizes: %s", err.msg);
            int below, above;
            rb_hadamard_nearest(n, &below, &above);
            char want[96];
            snprintf(want, sizeof want, "%d below, %d above", below, above);
            cr_expect(strstr(err.msg, want), "message lacks \"%s\": %s", want, err.msg);
            /* they are supported, and nothing between them and n is */
            cr_expect(below < n && above > n && rb_hadamard_factor(above, &k, &m, NULL) == RB_OK &&
                          (below == 0 || rb_hadamard_factor(below, &k, &m, NULL) == RB_OK),
                      "n %d: nearest %d, %d", n, below, above);
            for (int v = below + 1; v < above; v++)
                cr_expect(v == n || rb_hadamard_factor(v, &k, &m, NULL) != RB_OK,
                          "n %d: %d is supported and nearer than %d/%d", n, v, below, above);
        }
        memset(&err, 0, sizeof err);
        cr_expect_eq(rb_hadamard_apply(x, 1, n, 1, &err), RB_EINVAL, "apply n = %d", n);
        cr_expect_eq(rb_hadamard_apply_ref(x, 1, n, 1, &err), RB_EINVAL, "ref n = %d", n);
        cr_expect_eq(rb_hadamard_matrix(n, x, &err), RB_EINVAL, "matrix n = %d", n);
    }
    /* refused before the general constructions, supported now */
    static const int now_ok[] = {100, 11008 * 3, 172 * 3, 18944, 29568, 4864, 2672};
    for (size_t i = 0; i < sizeof now_ok / sizeof *now_ok; i++) {
        int k, m;
        cr_expect_eq(rb_hadamard_factor(now_ok[i], &k, &m, NULL), RB_OK, "%d refused", now_ok[i]);
    }
    rb_error err = {0};
    cr_expect_eq(rb_hadamard_apply(x, 1, 8, 0, &err), RB_EINVAL);
    cr_expect(strstr(err.msg, "inner"), "%s", err.msg);
    cr_expect_eq(rb_hadamard_apply_ref(x, 1, 8, -1, &err), RB_EINVAL);
    cr_expect_eq(rb_hadamard_apply(x, 0, 8, 1, &err), RB_OK); /* no rows: nothing to do */
}

Test(hadamard, matrix_is_orthogonal, .timeout = 240) {
    rb_rng r;
    rb_rng_seed(&r, 7);
    int sizes[sizeof pow2_sizes / sizeof *pow2_sizes + sizeof kron_sizes / sizeof *kron_sizes];
    int ns = 0;
    for (size_t i = 0; i < sizeof pow2_sizes / sizeof *pow2_sizes; i++) sizes[ns++] = pow2_sizes[i];
    for (size_t i = 0; i < sizeof kron_sizes / sizeof *kron_sizes; i++) sizes[ns++] = kron_sizes[i];
    /* one buffer for all sizes: first-touch page faults dominate otherwise */
    float *H = malloc(sizeof(float) * 16384 * 16384);
    cr_assert(H, "out of memory for H_16384");
    for (int i = 0; i < ns; i++) {
        int n = sizes[i];
        rb_error err = {0};
        cr_assert_eq(rb_hadamard_matrix(n, H, &err), RB_OK, "%d: %s", n, err.msg);
        float s = (float)(1.0 / sqrt((double)n));
        size_t bad = 0;
        for (size_t j = 0; j < (size_t)n * n; j++) bad += H[j] != s && H[j] != -s;
        cr_assert_eq(bad, 0, "H_%d: %zu entries are not ±1/√n", n, bad);
        /* squaring is O(n³): explicit H·Hᵀ up to 4096, matrix-vector checks above */
        double e = n <= 4096 ? orthogonality_error(H, n) : orthogonality_error_mv(H, n, &r);
        cr_expect_lt(e, 1e-5, "H_%d: orthogonality error %g", n, e);
    }
    free(H);
}

/* Inputs [rows][n][inner] for fast vs reference, keeping the O(n²) reference
 * affordable. */
typedef struct { int n; size_t rows; int inner; } shape;

static int shapes(shape *out, int cap) {
    static const int ns[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096, 16384,
                             12, 20, 28, 36, 40, 44, 52, 60, 108, 140, 156, 172,
                             24, 48, 80, 112, 144, 208, 240, 344, 432, 560, 624, 688,
                             12 * 256, 20 * 64, 172 * 64, 28 * 512,
                             /* new orders: Paley II over primes and GF(49), Paley I over
                              * GF(11^3), Kronecker 28 ⊗ 68, Qwen2.5's FFN bases */
                             148, 924, 100, 76, 1332, 1904, 148 * 8, 76 * 64};
    static const int inners[] = {1, 3, 8, 64, 2, 4, 16, 5};
    static const size_t rows_list[] = {1, 3, 7, 33};
    int c = 0;
    for (size_t i = 0; i < sizeof ns / sizeof *ns; i++)
        for (size_t j = 0; j < sizeof inners / sizeof *inners; j++)
            for (size_t q = 0; q < sizeof rows_list / sizeof *rows_list; q++) {
                double cost = (double)ns[i] * ns[i] * inners[j] * rows_list[q];
                if (cost > 2e7 && !(j == 0 && q == 0)) continue; /* always one row of inner 1 */
                if (c < cap) out[c] = (shape){ns[i], rows_list[q], inners[j]};
                c++;
            }
    return c;
}

Test(hadamard, fast_matches_reference, .timeout = 240) {
    rb_rng r;
    rb_rng_seed(&r, 11);
    shape sh[2048];
    int count = shapes(sh, 2048), seen_inner[65] = {0};
    cr_assert_leq(count, 2048);
    for (int i = 0; i < count; i++) {
        int n = sh[i].n, inner = sh[i].inner;
        size_t rows = sh[i].rows, len = rows * (size_t)n * inner;
        float *x = rand_array(len, &r), *a = malloc(4 * len), *b = malloc(4 * len);
        memcpy(a, x, 4 * len);
        memcpy(b, x, 4 * len);
        rb_error err = {0};
        cr_assert_eq(rb_hadamard_apply(a, rows, n, inner, &err), RB_OK, "%s", err.msg);
        cr_assert_eq(rb_hadamard_apply_ref(b, rows, n, inner, &err), RB_OK, "%s", err.msg);
        double e = column_rel_error(a, b, x, rows, n, inner);
        cr_expect_lt(e, 1e-5, "n %d rows %zu inner %d: error %g", n, rows, inner, e);
        seen_inner[inner] = 1;
        free(x); free(a); free(b);
    }
    cr_assert(seen_inner[1] && seen_inner[3] && seen_inner[8] && seen_inner[64]);
}

Test(hadamard, fast_matches_matrix_and_inverts) {
    rb_rng r;
    rb_rng_seed(&r, 13);
    static const int ns[] = {1, 2, 8, 64, 512, 2048, 12, 24, 40, 52, 172, 344, 156 * 4, 108 * 2, 20 * 32,
                             148, 148 * 4, 924, 100 * 2};
    for (size_t i = 0; i < sizeof ns / sizeof *ns; i++) {
        int n = ns[i], rows = 5, inner = 3;
        size_t len = (size_t)rows * n * inner;
        float *H = malloc(sizeof(float) * (size_t)n * n);
        float *x = rand_array(len, &r), *y = malloc(4 * len), *want = malloc(4 * len), *back = malloc(4 * len);
        cr_assert_eq(rb_hadamard_matrix(n, H, NULL), RB_OK);
        memcpy(y, x, 4 * len);
        cr_assert_eq(rb_hadamard_apply(y, rows, n, inner, NULL), RB_OK);
        /* want = H·x and back = Hᵀ·y per column, in float64 */
        for (int q = 0; q < rows; q++)
            for (int c = 0; c < inner; c++) {
                size_t o = (size_t)q * n * inner + c;
                for (int a = 0; a < n; a++) {
                    double s = 0, t = 0;
                    for (int b = 0; b < n; b++) {
                        s += (double)H[(size_t)a * n + b] * x[o + (size_t)b * inner];
                        t += (double)H[(size_t)b * n + a] * y[o + (size_t)b * inner];
                    }
                    want[o + (size_t)a * inner] = (float)s;
                    back[o + (size_t)a * inner] = (float)t;
                }
            }
        double e = column_rel_error(y, want, x, (size_t)rows, n, inner);
        cr_expect_lt(e, 1e-5, "n %d: fast vs matrix %g", n, e);
        e = column_rel_error(back, x, x, (size_t)rows, n, inner);
        cr_expect_lt(e, 1e-5, "n %d: Hᵀ·(H·x) vs x %g", n, e);
        if ((n & (n - 1)) == 0) { /* Sylvester: symmetric, so applying twice gives x */
            int asym = 0;
            for (int a = 0; a < n; a++)
                for (int b = 0; b < a; b++) asym += H[(size_t)a * n + b] != H[(size_t)b * n + a];
            cr_assert_eq(asym, 0, "H_%d not symmetric", n);
            cr_assert_eq(rb_hadamard_apply(y, rows, n, inner, NULL), RB_OK);
            e = column_rel_error(y, x, x, (size_t)rows, n, inner);
            cr_expect_lt(e, 1e-5, "n %d: H·(H·x) vs x %g", n, e);
        }
        /* the identity gives the matrix exactly: rows of the result are Hᵀ's */
        float *ident = calloc((size_t)n * n, sizeof(float));
        for (int a = 0; a < n; a++) ident[(size_t)a * n + a] = 1;
        cr_assert_eq(rb_hadamard_apply(ident, (size_t)n, n, 1, NULL), RB_OK);
        int wrong = 0;
        for (int a = 0; a < n; a++)
            for (int b = 0; b < n; b++) wrong += ident[(size_t)a * n + b] != H[(size_t)b * n + a];
        cr_assert_eq(wrong, 0, "n %d: apply(I) differs from Hᵀ in %d entries", n, wrong);
        free(ident); free(H); free(x); free(y); free(want); free(back);
    }
}

/* rb_hadamard_apply_t is Hᵀ: against the explicit matrix, inverting the
 * forward, and with the base orders whose H is not symmetric (the case a
 * backward pass that reused rb_hadamard_apply would get wrong). */
Test(hadamard, transpose_matches_matrix_and_inverts) {
    rb_rng r;
    rb_rng_seed(&r, 17);
    static const int ns[] = {1, 2, 64, 12, 20, 28, 36, 40, 44, 52, 60, 108, 140, 156, 172,
                             344, 156 * 4, 20 * 32, 172 * 64, 148 * 2, 924, 100, 1904};
    int asymmetric = 0;
    for (size_t i = 0; i < sizeof ns / sizeof *ns; i++) {
        int n = ns[i], rows = 3, inner = n > 4096 ? 1 : 3;
        size_t len = (size_t)rows * n * inner;
        float *H = malloc(sizeof(float) * (size_t)n * n);
        float *x = rand_array(len, &r), *y = malloc(4 * len), *want = malloc(4 * len);
        cr_assert(H && y && want);
        cr_assert_eq(rb_hadamard_matrix(n, H, NULL), RB_OK);
        int asym = 0;
        for (int a = 0; a < n && !asym; a++)
            for (int b = 0; b < a; b++) asym |= H[(size_t)a * n + b] != H[(size_t)b * n + a];
        asymmetric += asym;
        memcpy(y, x, 4 * len);
        rb_error err = {0};
        cr_assert_eq(rb_hadamard_apply_t(y, rows, n, inner, &err), RB_OK, "%s", err.msg);
        for (int q = 0; q < rows; q++)
            for (int c = 0; c < inner; c++) {
                size_t o = (size_t)q * n * inner + c;
                for (int a = 0; a < n; a++) {
                    double t = 0;
                    for (int b = 0; b < n; b++) t += (double)H[(size_t)b * n + a] * x[o + (size_t)b * inner];
                    want[o + (size_t)a * inner] = (float)t;
                }
            }
        double e = column_rel_error(y, want, x, (size_t)rows, n, inner);
        cr_expect_lt(e, 1e-5, "n %d: transpose vs matrix %g", n, e);
        cr_assert_eq(rb_hadamard_apply(y, rows, n, inner, NULL), RB_OK);
        e = column_rel_error(y, x, x, (size_t)rows, n, inner);
        cr_expect_lt(e, 1e-5, "n %d: H·(Hᵀ·x) vs x %g", n, e);
        free(H); free(x); free(y); free(want);
    }
    cr_expect_gt(asymmetric, 0, "no asymmetric H among the sizes: the test shows nothing");
    cr_expect_eq(rb_hadamard_apply_t(NULL, 1, 7, 1, NULL), RB_EINVAL);
}

Test(hadamard, result_does_not_depend_on_threads) {
    rb_rng r;
    rb_rng_seed(&r, 17);
    static const shape cases[] = {{4096, 37, 1}, {11008, 9, 1}, {172, 101, 1}, {688, 50, 3},
                                  {32, 257, 64}, {12, 1000, 5}, {5120, 21, 1},
                                  /* one group of rows: tiles shared out over threads */
                                  {11008, 1, 1}, {688, 3, 3}, {344, 1, 5}, {14336, 1, 2},
                                  /* new orders, one of them wider than the old MAX_K */
                                  {18944, 3, 1}, {18944, 1, 1}, {924, 40, 2}, {1904, 9, 1}};
    int threads = omp_get_max_threads();
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        size_t len = cases[i].rows * (size_t)cases[i].n * cases[i].inner;
        float *a = rand_array(len, &r), *b = malloc(4 * len);
        memcpy(b, a, 4 * len);
        omp_set_num_threads(1);
        cr_assert_eq(rb_hadamard_apply(a, cases[i].rows, cases[i].n, cases[i].inner, NULL), RB_OK);
        omp_set_num_threads(threads > 1 ? threads : 2);
        cr_assert_eq(rb_hadamard_apply(b, cases[i].rows, cases[i].n, cases[i].inner, NULL), RB_OK);
        omp_set_num_threads(threads);
        cr_expect_eq(memcmp(a, b, 4 * len), 0, "n %d: 1 thread and %d threads differ", cases[i].n,
                     threads > 1 ? threads : 2);
        free(a); free(b);
    }
}

Test(hadamard, rotation_kind_names) {
    for (int i = 0; i < 3; i++) {
        rb_rotation_kind k = (rb_rotation_kind)-1;
        cr_assert_eq(rb_rotation_kind_parse(rb_rotation_kind_name((rb_rotation_kind)i), &k, NULL), RB_OK);
        cr_expect_eq((int)k, i);
    }
    cr_expect_str_eq(rb_rotation_kind_name(RB_ROT_RANDOM_HADAMARD), "random_hadamard");
    rb_rotation_kind k;
    rb_error err = {0};
    cr_expect_eq(rb_rotation_kind_parse("givens", &k, &err), RB_EINVAL);
    cr_expect(strstr(err.msg, "givens") && strstr(err.msg, "random_orthogonal"), "%s", err.msg);
}

Test(hadamard, rotations_are_orthogonal_and_seeded, .timeout = 120) {
    static const struct { rb_rotation_kind kind; int n; } cases[] = {
        {RB_ROT_HADAMARD, 8}, {RB_ROT_HADAMARD, 64}, {RB_ROT_HADAMARD, 172},
        {RB_ROT_RANDOM_HADAMARD, 8}, {RB_ROT_RANDOM_HADAMARD, 64}, {RB_ROT_RANDOM_HADAMARD, 172},
        {RB_ROT_RANDOM_ORTHOGONAL, 8}, {RB_ROT_RANDOM_ORTHOGONAL, 64},
        {RB_ROT_RANDOM_ORTHOGONAL, 172}, {RB_ROT_RANDOM_ORTHOGONAL, 100},
        {RB_ROT_RANDOM_ORTHOGONAL, 1}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int n = cases[i].n;
        size_t sz = sizeof(float) * (size_t)n * n;
        float *a = malloc(sz), *b = malloc(sz), *c = malloc(sz);
        rb_error err = {0};
        const char *name = rb_rotation_kind_name(cases[i].kind);
        cr_assert_eq(rb_rotation_matrix(cases[i].kind, n, 42, a, &err), RB_OK, "%s %d: %s", name, n, err.msg);
        cr_assert_eq(rb_rotation_matrix(cases[i].kind, n, 42, b, &err), RB_OK);
        cr_assert_eq(rb_rotation_matrix(cases[i].kind, n, 43, c, &err), RB_OK);
        double e = orthogonality_error(a, n);
        cr_expect_lt(e, 1e-5, "%s %d: orthogonality error %g", name, n, e);
        cr_expect_eq(memcmp(a, b, sz), 0, "%s %d: not deterministic for a seed", name, n);
        int differ = memcmp(a, c, sz) != 0;
        if (cases[i].kind == RB_ROT_HADAMARD) cr_expect(!differ, "hadamard %d depends on the seed", n);
        else if (n > 1) cr_expect(differ, "%s %d: seeds 42 and 43 give the same matrix", name, n);
        if (cases[i].kind == RB_ROT_RANDOM_HADAMARD) { /* diag(±1)·H: rows flipped */
            float *H = malloc(sz);
            cr_assert_eq(rb_hadamard_matrix(n, H, NULL), RB_OK);
            int flips = 0, wrong = 0;
            for (int q = 0; q < n; q++) {
                float sg = a[(size_t)q * n] == H[(size_t)q * n] ? 1.0f : -1.0f;
                flips += sg < 0;
                for (int j = 0; j < n; j++) wrong += a[(size_t)q * n + j] != sg * H[(size_t)q * n + j];
            }
            cr_assert_eq(wrong, 0, "%d: not diag(±1)·H in %d entries", n, wrong);
            cr_expect(flips > 0 && flips < n, "%d: %d of the rows flipped", n, flips);
            free(H);
        }
        free(a); free(b); free(c);
    }
    float R[92 * 92];
    rb_error err = {0};
    cr_expect_eq(rb_rotation_matrix(RB_ROT_HADAMARD, 92, 1, R, &err), RB_EINVAL);
    cr_expect(strstr(err.msg, "k·2^m") && strstr(err.msg, "88 below, 96 above"), "%s", err.msg);
    cr_expect_eq(rb_rotation_matrix(RB_ROT_RANDOM_HADAMARD, 92, 1, R, &err), RB_EINVAL);
    cr_expect_eq(rb_rotation_matrix(RB_ROT_RANDOM_ORTHOGONAL, 0, 1, R, &err), RB_EINVAL);
}

Test(hadamard, random_orthogonal_does_not_depend_on_threads) {
    int n = 300, threads = omp_get_max_threads();
    size_t sz = sizeof(float) * (size_t)n * n;
    float *a = malloc(sz), *b = malloc(sz);
    rb_set_threads(1);
    cr_assert_eq(rb_rotation_matrix(RB_ROT_RANDOM_ORTHOGONAL, n, 5, a, NULL), RB_OK);
    rb_set_threads(threads > 1 ? threads : 2);
    cr_assert_eq(rb_rotation_matrix(RB_ROT_RANDOM_ORTHOGONAL, n, 5, b, NULL), RB_OK);
    rb_set_threads(threads);
    cr_expect_eq(memcmp(a, b, sz), 0, "1 and %d threads give different matrices", threads > 1 ? threads : 2);
    free(a); free(b);
}
