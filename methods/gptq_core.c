#include "methods/gptq_core.h"

#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/quant_common.h"

int rb_hessian_init(rb_hessian *h, int cols, rb_error *err) {
    h->cols = cols;
    h->n = 0;
    h->H = calloc((size_t)cols * cols, sizeof(float));
    if (!h->H) return rb_error_set(err, RB_ENOMEM, "cannot allocate a %dx%d Hessian", cols, cols);
    return RB_OK;
}

void rb_hessian_add(rb_hessian *h, const float *X, int rows) {
    if (rows <= 0) return;
    float keep = (float)h->n / (float)(h->n + rows);
    float add = 2.0f / (float)(h->n + rows);
    /* the upper triangle only (the lower stays 0): every reader reads the upper */
    cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, h->cols, rows, add, X, h->cols, keep, h->H,
                h->cols);
    h->n += rows;
}

void rb_hessian_free(rb_hessian *h) {
    free(h->H);
    h->H = NULL;
}

/* The column-major lower triangle of a [n][n] = J·Hp·J, Hp = H in the order
 * perm (H's upper triangle read; the diagonal of a dead input 1) and J the
 * order reversal: a(i, j) = Hp(n-1-i, n-1-j) at a[i + j*n], i ≥ j. */
static void reversed_permuted_lower(const float *H, int n, const int *perm, double *a) {
#pragma omp parallel for schedule(dynamic, 16)
    for (int j = 0; j < n; j++)
        for (int i = j; i < n; i++) {
            int x = perm[n - 1 - i], y = perm[n - 1 - j];
            double v = H[x < y ? (size_t)x * n + y : (size_t)y * n + x];
            a[i + (size_t)j * n] = i == j && v == 0 ? 1 : v;
        }
}

/* U [n][n] row-major = the upper Cholesky factor of (Hp + damping)⁻¹ (the
 * lower triangle 0): (Hp + D)⁻¹ = UᵀU.  The reference (IST-DASLab/gptq,
 * QuaRot) gets it as cholesky(cholesky_inverse(cholesky(H))): three
 * factorisations, 4n³/3 flops.  The same U in 2n³/3: with J the order
 * reversal, J(Hp + D)J = M·Mᵀ (M lower, dpotrf), so Hp + D = V·Vᵀ with
 * V = J·M·J upper, (Hp + D)⁻¹ = (V⁻¹)ᵀ·V⁻¹, and V⁻¹ = J·M⁻¹·J (dtrtri) is
 * upper with a positive diagonal: U, as the Cholesky factor is unique.
 * In float64, column-major (no LAPACKE transposed copies); a is rebuilt
 * from H for each damping attempt. */
static int inverse_cholesky(const float *H, int n, const int *perm, double damp, float *U,
                            rb_error *err) {
    double *a = malloc(sizeof(double) * (size_t)n * n);
    if (!a) return rb_error_set(err, RB_ENOMEM, "out of memory in GPTQ (a %dx%d factor)", n, n);
    for (int attempt = 0; attempt < 5; attempt++, damp *= 10) {
        reversed_permuted_lower(H, n, perm, a);
        double mean = 0; /* over Hp's diagonal in its order */
        for (int i = n - 1; i >= 0; i--) mean += a[(size_t)i * n + i];
        mean /= n;
        for (int i = 0; i < n; i++) a[(size_t)i * n + i] += damp * mean;
        if (LAPACKE_dpotrf(LAPACK_COL_MAJOR, 'L', n, a, n)) continue;
        if (LAPACKE_dtrtri(LAPACK_COL_MAJOR, 'L', 'N', n, a, n)) continue;
        /* U[r][c] = M⁻¹(n-1-r, n-1-c), r ≤ c, in tiles */
        enum { TILE = 64 };
#pragma omp parallel for schedule(static)
        for (int r0 = 0; r0 < n; r0 += TILE)
            for (int c0 = 0; c0 < n; c0 += TILE)
                for (int c = c0; c < c0 + TILE && c < n; c++)
                    for (int r = r0; r < r0 + TILE && r < n; r++)
                        U[(size_t)r * n + c] =
                            c < r ? 0 : (float)a[(size_t)(n - 1 - r) + (size_t)(n - 1 - c) * n];
        free(a);
        return RB_OK;
    }
    free(a);
    return rb_error_set(err, RB_ENUMERIC,
                        "GPTQ: the %dx%d Hessian is not positive definite even with damping "
                        "%g·mean(diag)",
                        n, n, damp / 10);
}

typedef struct order_item {
    float key;
    int idx;
} order_item;

static int by_key_desc(const void *a, const void *b) {
    const order_item *x = a, *y = b;
    if (x->key != y->key) return x->key < y->key ? 1 : -1;
    return x->idx - y->idx;
}

/* Column c is in the high-precision part of the split. */
static int col_high(const rb_quant_split *o, int c) {
    return o->high > 0 && c % o->block >= o->block - o->high;
}

/* Per-tensor / per-row parameters of one part (high or not) of the split:
 * its columns of W gathered alone. */
static int part_params(const float *W, int rows, int cols, const rb_quant_split *o, int high,
                       const rb_quant_spec *s, float *scale, float *zero, rb_error *err) {
    int n = 0;
    for (int c = 0; c < cols; c++) n += col_high(o, c) == high;
    if (!n) return RB_OK;
    float *buf = malloc(sizeof(float) * (size_t)rows * n);
    if (!buf) return rb_error_set(err, RB_ENOMEM, "out of memory in GPTQ");
    for (int r = 0; r < rows; r++)
        for (int c = 0, j = 0; c < cols; c++)
            if (col_high(o, c) == high) buf[(size_t)r * n + j++] = W[(size_t)r * cols + c];
    rb_quant_params(buf, rows, n, s, scale, zero);
    free(buf);
    return RB_OK;
}

int rb_gptq_factor_init(rb_gptq_factor *f, const float *H, int cols, const rb_gptq_options *o,
                        rb_error *err) {
    memset(f, 0, sizeof *f);
    if (cols < 1 || !(o->damp >= 0))
        return rb_error_set(err, RB_EINVAL, "gptq: %d columns, damp %g: need ≥ 1 and ≥ 0", cols,
                            o->damp);
    f->cols = cols;
    f->perm = malloc(sizeof(int) * cols);
    f->dead = calloc((size_t)cols, 1);
    f->U = malloc(sizeof(float) * (size_t)cols * cols);
    order_item *items = malloc(sizeof(order_item) * cols);
    int rc = RB_OK;
    if (!f->perm || !f->dead || !f->U || !items) {
        rc = rb_error_set(err, RB_ENOMEM, "out of memory in GPTQ (a %dx%d factor)", cols, cols);
        goto done;
    }
    /* dead inputs (H_ii = 0: their diagonal taken as 1) and the column order */
    for (int i = 0; i < cols; i++) {
        float d = H[(size_t)i * cols + i];
        f->dead[i] = d == 0;
        items[i] = (order_item){d == 0 ? 1.0f : d, i};
    }
    if (o->act_order) qsort(items, (size_t)cols, sizeof *items, by_key_desc);
    for (int i = 0; i < cols; i++) f->perm[i] = items[i].idx;
    rc = inverse_cholesky(H, cols, f->perm, o->damp, f->U, err);
done:
    free(items);
    if (rc) rb_gptq_factor_free(f);
    return rc;
}

void rb_gptq_factor_free(rb_gptq_factor *f) {
    free(f->perm);
    free(f->dead);
    free(f->U);
    memset(f, 0, sizeof *f);
}

int rb_gptq_quantize(float *W, int rows, int cols, const float *H, const rb_quant_spec *spec,
                     const rb_gptq_options *o, float *scale_out, float *zero_out, rb_error *err) {
    return rb_gptq_quantize_split(W, rows, cols, H, spec, o, (rb_quant_split){0, 0}, NULL, scale_out,
                                  zero_out, err);
}

int rb_gptq_quantize_split(float *W, int rows, int cols, const float *H,
                           const rb_quant_spec *spec, const rb_gptq_options *o,
                           rb_quant_split sp, const rb_quant_spec *high, float *scale_out,
                           float *zero_out, rb_error *err) {
    if (rb_quant_spec_off(spec)) return RB_OK;
    int rc = rb_gptq_check(cols, spec, o, sp, high, err);
    if (rc) return rc;
    rb_gptq_factor f;
    if ((rc = rb_gptq_factor_init(&f, H, cols, o, err))) return rc;
    rc = rb_gptq_quantize_factored(W, rows, &f, spec, o, sp, high, scale_out, zero_out, err);
    rb_gptq_factor_free(&f);
    return rc;
}

int rb_gptq_check(int cols, const rb_quant_spec *spec, const rb_gptq_options *o,
                  rb_quant_split sp, const rb_quant_spec *high, rb_error *err) {
    int rc = rb_quant_spec_check(spec, cols, "gptq weights", err);
    if (rc) return rc;
    int split = sp.high > 0;
    if (split && (!high || sp.block < 1 || cols % sp.block || sp.high > sp.block))
        return rb_error_set(err, RB_EINVAL,
                            "gptq: split of %d high columns in blocks of %d does not tile %d "
                            "columns",
                            sp.high, sp.block, cols);
    if (split && spec->gran == RB_GRAN_GROUP &&
        (sp.high % spec->group || (sp.block - sp.high) % spec->group))
        return rb_error_set(err, RB_EINVAL,
                            "gptq: group size %d does not divide the %d high and %d low columns "
                            "of a %d-column block",
                            spec->group, sp.high, sp.block - sp.high, sp.block);
    if (o->block < 1 || !(o->damp >= 0))
        return rb_error_set(err, RB_EINVAL, "gptq: block %d must be ≥ 1 and damp %g ≥ 0", o->block,
                            o->damp);
    return RB_OK;
}

int rb_gptq_quantize_factored(float *W, int rows, const rb_gptq_factor *f,
                              const rb_quant_spec *spec, const rb_gptq_options *o,
                              rb_quant_split sp, const rb_quant_spec *high, float *scale_out,
                              float *zero_out, rb_error *err) {
    int cols = f->cols;
    if (rb_quant_spec_off(spec)) return RB_OK;
    int rc = rb_gptq_check(cols, spec, o, sp, high, err);
    if (rc) return rc;
    int split = sp.high > 0;
    const rb_quant_spec *hspec = split ? high : spec;
    size_t nw = (size_t)rows * cols;
    int G = spec->gran == RB_GRAN_GROUP ? spec->group : cols;
    int groups = (cols + G - 1) / G;
    size_t n_params = rb_quant_n_params(spec, rows, cols);
    const int *perm = f->perm;
    const float *U = f->U;
    float *Wp = malloc(sizeof(float) * nw);
    float *scale = malloc(sizeof(float) * n_params), *zero = malloc(sizeof(float) * n_params);
    float *scale_h = malloc(sizeof(float) * n_params), *zero_h = malloc(sizeof(float) * n_params);
    float *Err = malloc(sizeof(float) * (size_t)rows * o->block);
    if (!Wp || !scale || !zero || !scale_h || !zero_h || !Err) {
        rc = rb_error_set(err, RB_ENOMEM, "out of memory in GPTQ (%dx%d)", rows, cols);
        goto done;
    }
    /* dead inputs zero their column */
    for (int i = 0; i < cols; i++)
        if (f->dead[i])
            for (int r = 0; r < rows; r++) W[(size_t)r * cols + i] = 0;
    /* parameters known up front: tensor, row, and static groups (act_order) */
    int params_upfront = spec->gran != RB_GRAN_GROUP || o->act_order;
    if (params_upfront && split && spec->gran != RB_GRAN_GROUP) {
        if ((rc = part_params(W, rows, cols, &sp, 0, spec, scale, zero, err)) ||
            (rc = part_params(W, rows, cols, &sp, 1, hspec, scale_h, zero_h, err)))
            goto done;
    } else if (params_upfront) {
        /* static groups lie in one part: each part's groups from its spec */
        rb_quant_params(W, rows, cols, spec, scale, zero);
        if (split) rb_quant_params(W, rows, cols, hspec, scale_h, zero_h);
    }
    /* W in the factor's column order */
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < cols; j++) Wp[(size_t)r * cols + j] = W[(size_t)r * cols + perm[j]];
    float qmax = spec->asym ? rb_qmax_asym(spec->bits) : rb_qmax_sym(spec->bits);
    float qmax_h = hspec->asym ? rb_qmax_asym(hspec->bits) : rb_qmax_sym(hspec->bits);
    for (int i1 = 0; i1 < cols; i1 += o->block) {
        int i2 = i1 + o->block < cols ? i1 + o->block : cols, B = i2 - i1;
        /* the block in segments that end where dynamic group parameters are due
         * (they are taken over all rows from the columns as they are then); inside
         * a segment each row is its own work: the rows go to the threads, and
         * each row's arithmetic is that of the column-by-column order */
        for (int s0 = i1, s1; s0 < i2; s0 = s1) {
            for (s1 = s0 + 1; s1 < i2 && (params_upfront || perm[s1] % G); s1++) {}
            int orig = perm[s0];
            if (!params_upfront && orig % G == 0) {
                /* dynamic group params from the current W of columns [orig, orig+G) */
                const rb_quant_spec *cs = col_high(&sp, orig) ? hspec : spec;
                int width = orig + G < cols ? G : cols - orig;
                rb_quant_spec rs = *cs;
                rs.gran = RB_GRAN_ROW;
                float *blk = malloc(sizeof(float) * (size_t)rows * width);
                float *sc = malloc(sizeof(float) * rows), *zr = malloc(sizeof(float) * rows);
                if (!blk || !sc || !zr) {
                    free(blk); free(sc); free(zr);
                    rc = rb_error_set(err, RB_ENOMEM, "out of memory in GPTQ");
                    goto done;
                }
                for (int r = 0; r < rows; r++)
                    memcpy(blk + (size_t)r * width, Wp + (size_t)r * cols + s0, sizeof(float) * width);
                rb_quant_params(blk, rows, width, &rs, sc, zr);
                for (int r = 0; r < rows; r++) {
                    scale[(size_t)r * groups + orig / G] = sc[r];
                    zero[(size_t)r * groups + orig / G] = zr[r];
                }
                free(blk); free(sc); free(zr);
            }
#pragma omp parallel for schedule(static) if ((size_t)rows * (s1 - s0) * B > 65536)
            for (int r = 0; r < rows; r++) {
                float *wr = Wp + (size_t)r * cols;
                for (int i = s0; i < s1; i++) {
                    int oi = perm[i], hi = col_high(&sp, oi);
                    const rb_quant_spec *cs = hi ? hspec : spec;
                    /* the high part's own parameters, except dynamic groups (one table) */
                    const float *sc = hi && params_upfront ? scale_h : scale;
                    const float *zr = hi && params_upfront ? zero_h : zero;
                    float cq = hi ? qmax_h : qmax, d = U[(size_t)i * cols + i];
                    int keep = rb_quant_spec_off(cs); /* a high part left in full precision */
                    size_t g = spec->gran == RB_GRAN_TENSOR ? 0
                               : spec->gran == RB_GRAN_ROW  ? (size_t)r
                                                            : (size_t)r * groups + oi / G;
                    float w = wr[i], inv = keep ? 0 : 1.0f / sc[g];
                    float q = keep      ? w
                              : cs->asym ? rb_fq_asym(w, inv, sc[g], zr[g], cq)
                                         : rb_fq_sym(w, inv, sc[g], cq);
                    float e = (w - q) / d;
                    wr[i] = q;
                    Err[(size_t)r * B + (i - i1)] = e;
                    const float *ur = U + (size_t)i * cols;
                    for (int j = i + 1; j < i2; j++) wr[j] -= e * ur[j];
                }
            }
        }
        if (i2 < cols) /* lazy batch: W[:, i2:] -= Err · U[i1:i2, i2:] */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, cols - i2, B, -1.0f, Err,
                        B, U + (size_t)i1 * cols + i2, cols, 1.0f, Wp + i2, cols);
    }
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < cols; j++) W[(size_t)r * cols + perm[j]] = Wp[(size_t)r * cols + j];
    if (scale_out && sp.high <= 0) memcpy(scale_out, scale, sizeof(float) * n_params);
    if (zero_out && sp.high <= 0) memcpy(zero_out, zero, sizeof(float) * n_params);
done:
    free(Wp); free(scale); free(zero); free(scale_h); free(zero_h); free(Err);
    return rc;
}
