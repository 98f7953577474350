/* Hadamard transforms and rotation matrices: the base matrices are Hadamard,
 * the explicit matrices orthogonal, the fast transform agrees with the scalar
 * reference and with the explicit matrix, sizes outside the supported forms
 * are refused, and rotations are orthogonal and reproducible for a seed. */
#include <cblas.h>
#include <criterion/criterion.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/hadamard.h"
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

Test(hadamard, factor_uses_largest_power_of_two) {
    static const int cases[][3] = {{1, 1, 0},      {2, 1, 1},       {4096, 1, 12},  {12, 12, 0},
                                   {24, 12, 1},    {40, 20, 1},     {172, 172, 0},  {344, 172, 1},
                                   {11008, 172, 6}, {5120, 20, 8},  {14336, 28, 9}, {624, 156, 2},
                                   {216, 108, 1},  {1 << 30, 1, 30}, {60 * 1024, 60, 10}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int k = -1, m = -1;
        rb_error err = {0};
        cr_assert_eq(rb_hadamard_factor(cases[i][0], &k, &m, &err), RB_OK, "%d: %s", cases[i][0], err.msg);
        cr_expect(k == cases[i][1] && m == cases[i][2], "%d = %d·2^%d, expected %d·2^%d", cases[i][0],
                  k, m, cases[i][1], cases[i][2]);
    }
}

Test(hadamard, unsupported_sizes_are_refused) {
    /* (13·8 = 104 = 52·2 is supported; 13·2 is not) */
    static const int bad[] = {7, 22, 13 * 2, 0, -4, 3, 100, 11008 * 3, 172 * 3};
    float x[64] = {0};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int n = bad[i], k, m;
        rb_error err = {0};
        cr_assert_eq(rb_hadamard_factor(n, &k, &m, &err), RB_EINVAL, "n = %d accepted", n);
        cr_expect(strstr(err.msg, "k·2^m") && strstr(err.msg, "172") && strstr(err.msg, "12, 20"),
                  "message does not list the forms: %s", err.msg);
        memset(&err, 0, sizeof err);
        cr_expect_eq(rb_hadamard_apply(x, 1, n, 1, &err), RB_EINVAL, "apply n = %d", n);
        cr_expect_eq(rb_hadamard_apply_ref(x, 1, n, 1, &err), RB_EINVAL, "ref n = %d", n);
        cr_expect_eq(rb_hadamard_matrix(n, x, &err), RB_EINVAL, "matrix n = %d", n);
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
                             12 * 256, 20 * 64, 172 * 64, 28 * 512};
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
    static const int ns[] = {1, 2, 8, 64, 512, 2048, 12, 24, 40, 52, 172, 344, 156 * 4, 108 * 2, 20 * 32};
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
                             344, 156 * 4, 20 * 32, 172 * 64};
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
                                  {11008, 1, 1}, {688, 3, 3}, {344, 1, 5}, {14336, 1, 2}};
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
    float R[100 * 100];
    rb_error err = {0};
    cr_expect_eq(rb_rotation_matrix(RB_ROT_HADAMARD, 100, 1, R, &err), RB_EINVAL);
    cr_expect(strstr(err.msg, "k·2^m"), "%s", err.msg);
    cr_expect_eq(rb_rotation_matrix(RB_ROT_RANDOM_HADAMARD, 100, 1, R, &err), RB_EINVAL);
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
