/* spinquant: learned rotations by Cayley SGD through the backward pass of
 * the quantized model (methods/spinquant.h has the algebra).
 *
 * In order:
 *   1. fold the RMSNorm weights into the linears (rb_rotate_fuse_norms) and
 *      turn on the online Hadamards R3 (q/k), R4 (down_proj) and the
 *      head-wise one, as QuaRot does (they stay fixed Hadamards);
 *   2. R1, R2 start as random Hadamards and are learned: every iteration
 *      runs `batch` calibration windows through the model with the effective
 *      weights f(base, R1, R2) (learn_path=activations: the base weights
 *      with R1/R2 on the activations, methods/spin_train.h, what auto picks
 *      for learn_w=fp; learn_path=weights, today's default: the rotated
 *      weights formed every iteration), in full precision (learn_w=fp) or
 *      fake-quantized by RTN with the run's weight settings (learn_w=rtn,
 *      straight-through), and the run's activation and KV quantizers on
 *      (dynamic during learning, even where the run asks for static ones:
 *      their scales would change with R), back-propagates the mean
 *      cross-entropy (straight-through quantizers) to R1 and R2 and takes a
 *      step of SGDG (optimizer=sgdg, the reference's, with momentum) or of
 *      the plain Cayley SGD (optimizer=cayley), the learning rate following
 *      a cosine (the reference's), linear or constant schedule;
 *      or, with rotations=FILE, R1 and R2 are loaded instead of learned;
 *   3. the learned R1, R2 are fused into the weights (save_rotations=FILE
 *      keeps them for a later run).
 * Weights stay in full precision: a later stage (gptq, rtn) quantizes them
 * ("spinquant,gptq").  Progress (iteration, loss, seconds) goes to the
 * stage's log (ctx->log); loss_log=FILE writes the loss curve as CSV. */
#include "methods/spinquant.h"

#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/quant.h"
#include "kernels/rotation.h"
#include "methods/method.h"
#include "methods/rotate.h"
#include "methods/rotation_desc.h"
#include "methods/spin_train.h"

/* ---- rotations ---------------------------------------------------------- */

void rb_spin_rotations_free(rb_spin_rotations *r) {
    free(r->R1);
    free(r->R2);
    memset(r, 0, sizeof *r);
}

static int rotations_alloc(rb_spin_rotations *r, const rb_config *c, rb_error *err) {
    memset(r, 0, sizeof *r);
    r->dim = c->dim;
    r->head_dim = c->head_dim;
    r->n_layers = c->n_layers;
    r->R1 = malloc(sizeof(double) * (size_t)c->dim * c->dim);
    r->R2 = malloc(sizeof(double) * (size_t)c->n_layers * c->head_dim * c->head_dim);
    if (!r->R1 || !r->R2) {
        rb_spin_rotations_free(r);
        return rb_error_set(err, RB_ENOMEM, "cannot allocate the rotations");
    }
    return RB_OK;
}

/* A derived seed per R2, so R1 and the R2s differ for the same seed. */
static uint64_t r2_seed(uint64_t seed, int layer) {
    return (seed ^ 0x9e3779b97f4a7c15ull) + 0x632be59bd9b4e019ull * (uint64_t)(layer + 1);
}

int rb_spin_rotations_init(rb_spin_rotations *r, const rb_config *c, uint64_t seed,
                           rb_error *err) {
    int rc = rotations_alloc(r, c, err);
    if (rc) return rc;
    size_t n1 = (size_t)c->dim * c->dim, n2 = (size_t)c->head_dim * c->head_dim;
    float *tmp = malloc(sizeof(float) * n1);
    if (!tmp) rc = rb_error_set(err, RB_ENOMEM, "cannot allocate the rotations");
    if (!rc && (rc = rb_rotation_matrix(RB_ROT_RANDOM_HADAMARD, c->dim, seed, tmp, err)))
        rb_error_prefix(err, "R1 (dim %d): ", c->dim);
    /* entries are ±1/√n: exact in double, so R starts orthogonal to double rounding */
    for (size_t i = 0; !rc && i < n1; i++) r->R1[i] = copysign(1.0 / sqrt(c->dim), tmp[i]);
    for (int l = 0; !rc && l < c->n_layers; l++) {
        if ((rc = rb_rotation_matrix(RB_ROT_RANDOM_HADAMARD, c->head_dim, r2_seed(seed, l), tmp,
                                     err))) {
            rb_error_prefix(err, "R2 (head_dim %d): ", c->head_dim);
            break;
        }
        for (size_t i = 0; i < n2; i++)
            r->R2[(size_t)l * n2 + i] = copysign(1.0 / sqrt(c->head_dim), tmp[i]);
    }
    free(tmp);
    if (rc) rb_spin_rotations_free(r);
    return rc;
}

double rb_spin_orthogonality_error(const double *R, int n) {
    double *P = malloc(sizeof(double) * (size_t)n * n), worst = 0;
    if (!P) return INFINITY;
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n, n, n, 1.0, R, n, R, n, 0.0, P, n);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            double e = fabs(P[(size_t)i * n + j] - (i == j));
            worst = e > worst || isnan(e) ? e : worst;
        }
    free(P);
    return worst;
}

static const char rot_magic[8] = {'R', 'B', 'S', 'P', 'I', 'N', 'R', '1'};

int rb_spin_rotations_save(const rb_spin_rotations *r, const char *path, rb_error *err) {
    FILE *f = fopen(path, "wb");
    if (!f) return rb_error_set(err, RB_EIO, "%s: cannot create the rotations file", path);
    int32_t hdr[3] = {r->dim, r->head_dim, r->n_layers};
    size_t n1 = (size_t)r->dim * r->dim, n2 = (size_t)r->n_layers * r->head_dim * r->head_dim;
    int ok = fwrite(rot_magic, 1, 8, f) == 8 && fwrite(hdr, sizeof hdr, 1, f) == 1 &&
             fwrite(r->R1, sizeof(double), n1, f) == n1 &&
             fwrite(r->R2, sizeof(double), n2, f) == n2;
    if (fclose(f) || !ok) return rb_error_set(err, RB_EIO, "%s: cannot write the rotations", path);
    return RB_OK;
}

int rb_spin_rotations_load(rb_spin_rotations *r, const rb_config *c, const char *path,
                           rb_error *err) {
    memset(r, 0, sizeof *r);
    FILE *f = fopen(path, "rb");
    if (!f) return rb_error_set(err, RB_EIO, "%s: cannot open the rotations file", path);
    char magic[8], shown[8 * 4 + 1] = "";
    int32_t hdr[3];
    int rc = RB_OK;
    size_t got = fread(magic, 1, 8, f);
    for (size_t i = 0; i < got; i++) /* printable as is, the rest as \xNN */
        snprintf(shown + strlen(shown), sizeof shown - strlen(shown),
                 magic[i] >= 0x20 && magic[i] < 0x7f && magic[i] != '"' && magic[i] != '\\'
                     ? "%c" : "\\x%02x",
                 (unsigned char)magic[i]);
    if (got != 8)
        rc = rb_error_set(err, RB_EFORMAT,
                          "%s: not a rotbench rotations file: %zu bytes, too short for the 8-byte "
                          "magic \"%.8s\"",
                          path, got, rot_magic);
    else if (memcmp(magic, rot_magic, 8))
        rc = rb_error_set(err, RB_EFORMAT,
                          "%s: not a rotbench rotations file: its magic is \"%s\", expected "
                          "\"%.8s\"",
                          path, shown, rot_magic);
    else if (fread(hdr, sizeof hdr, 1, f) != 1)
        rc = rb_error_set(err, RB_EFORMAT, "%s: truncated header", path);
    else if (hdr[0] != c->dim || hdr[1] != c->head_dim || hdr[2] != c->n_layers)
        rc = rb_error_set(err, RB_EINVAL,
                          "%s: rotations for dim %d, head_dim %d, %d layers; the model has dim "
                          "%d, head_dim %d, %d layers",
                          path, hdr[0], hdr[1], hdr[2], c->dim, c->head_dim, c->n_layers);
    if (!rc) rc = rotations_alloc(r, c, err);
    size_t n1 = (size_t)c->dim * c->dim, n2 = (size_t)c->n_layers * c->head_dim * c->head_dim;
    if (!rc && (fread(r->R1, sizeof(double), n1, f) != n1 ||
                fread(r->R2, sizeof(double), n2, f) != n2))
        rc = rb_error_set(err, RB_EFORMAT, "%s: truncated: expected %zu bytes", path,
                          8 + sizeof hdr + sizeof(double) * (n1 + n2));
    if (!rc && fgetc(f) != EOF)
        rc = rb_error_set(err, RB_EFORMAT, "%s: trailing bytes after %zu bytes of rotations",
                          path, 8 + sizeof hdr + sizeof(double) * (n1 + n2));
    fclose(f);
    for (size_t i = 0; !rc && i < n1 + n2; i++) {
        double v = i < n1 ? r->R1[i] : r->R2[i - n1];
        if (!isfinite(v))
            rc = rb_error_set(err, RB_EFORMAT, "%s: %s entry %zu is not finite", path,
                              i < n1 ? "R1" : "R2", i < n1 ? i : i - n1);
    }
    if (!rc) {
        double e = rb_spin_orthogonality_error(r->R1, c->dim);
        if (!(e <= 1e-6))
            rc = rb_error_set(err, RB_EFORMAT, "%s: R1 is not orthogonal (max |RᵀR - I| = %g)",
                              path, e);
    }
    for (int l = 0; !rc && l < c->n_layers; l++) {
        double e = rb_spin_orthogonality_error(r->R2 + (size_t)l * c->head_dim * c->head_dim,
                                               c->head_dim);
        if (!(e <= 1e-6))
            rc = rb_error_set(err, RB_EFORMAT,
                              "%s: R2 of layer %d is not orthogonal (max |RᵀR - I| = %g)", path,
                              l, e);
    }
    if (rc) rb_spin_rotations_free(r);
    return rc;
}

/* ---- effective weights and their chain rule ----------------------------- */

/* Copies every weight tensor (embedding, linears, q/k/v biases, classifier;
 * not norms) of src into dst (same shapes, dst untied). */
static void copy_weights(rb_model *dst, const rb_model *src) {
    const rb_config *c = &src->cfg;
    size_t emb = (size_t)c->vocab_size * c->dim;
    size_t qdim = (size_t)c->n_heads * c->head_dim, kvdim = (size_t)c->n_kv_heads * c->head_dim;
    memcpy(dst->token_embedding, src->token_embedding, sizeof(float) * emb);
    memcpy(dst->classifier, src->classifier, sizeof(float) * emb);
    for (int l = 0; l < c->n_layers; l++) {
        for (int id = 0; id < RB_LINEAR_COUNT; id++) {
            rb_weight_view d = rb_model_weight(dst, l, (rb_linear_id)id);
            rb_weight_view s = rb_model_weight(src, l, (rb_linear_id)id);
            memcpy(d.w, s.w, sizeof(float) * (size_t)s.rows * s.cols);
        }
        if (!c->qkv_bias) continue;
        memcpy(dst->layers[l].bq, src->layers[l].bq, sizeof(float) * qdim);
        memcpy(dst->layers[l].bk, src->layers[l].bk, sizeof(float) * kvdim);
        memcpy(dst->layers[l].bv, src->layers[l].bv, sizeof(float) * kvdim);
    }
}

/* R2 [n_layers][hd][hd] → [n_layers][n_kv][hd][hd] (rb_rotate_value_heads_each). */
static float *expand_r2(const float *R2, const rb_config *c) {
    size_t n2 = (size_t)c->head_dim * c->head_dim;
    float *R = malloc(sizeof(float) * (size_t)c->n_layers * c->n_kv_heads * n2);
    if (!R) return NULL;
    for (int l = 0; l < c->n_layers; l++)
        for (int g = 0; g < c->n_kv_heads; g++)
            memcpy(R + ((size_t)l * c->n_kv_heads + g) * n2, R2 + (size_t)l * n2,
                   sizeof(float) * n2);
    return R;
}

int rb_spin_effective(rb_model *dst, const rb_model *base, const float *R1, const float *R2,
                      rb_error *err) {
    if (dst->classifier_shared || memcmp(&dst->cfg, &base->cfg, sizeof dst->cfg))
        return rb_error_set(err, RB_EINVAL,
                            "effective weights need an untied model of the base's shape");
    copy_weights(dst, base);
    float *R2x = expand_r2(R2, &base->cfg);
    if (!R2x) return rb_error_set(err, RB_ENOMEM, "cannot allocate the value rotations");
    int rc = rb_rotate_residual(dst, R1, err);
    if (!rc) rc = rb_rotate_value_heads_each(dst, R2x, err);
    free(R2x);
    return rc;
}

/* acc [dim][dim] += Aᵀ·B for A, B [rows][dim] (a reader W' = W·R1: dR1 += Wᵀ·G). */
static void add_at_b(float *acc, const float *A, const float *B, int rows, int dim) {
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, dim, dim, rows, 1.0f, A, dim, B, dim,
                1.0f, acc, dim);
}

/* acc [dim][dim] += A·Bᵀ for A, B [dim][cols] (a writer W' = R1ᵀ·W: dR1 += W·Gᵀ). */
static void add_a_bt(float *acc, const float *A, const float *B, int dim, int cols) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, dim, dim, cols, 1.0f, A, cols, B, cols,
                1.0f, acc, dim);
}

int rb_spin_rotation_grads(const rb_model *base, const float *R1, const float *R2,
                           const rb_grads *g, double *gR1, double *gR2, rb_error *err) {
    const rb_config *c = &base->cfg;
    const int dim = c->dim, hd = c->head_dim, V = c->vocab_size;
    const int qdim = c->n_heads * hd, kvdim = c->n_kv_heads * hd;
    size_t n2 = (size_t)hd * hd;
    float *a1 = calloc((size_t)dim * dim, sizeof(float));
    float *a2 = calloc((size_t)c->n_layers * n2, sizeof(float));
    float *B = malloc(sizeof(float) * (size_t)dim * (qdim > kvdim ? qdim : kvdim));
    float *GB = malloc(sizeof(float) * (size_t)dim * (qdim > kvdim ? qdim : kvdim));
    if (!a1 || !a2 || !B || !GB) {
        free(a1); free(a2); free(B); free(GB);
        return rb_error_set(err, RB_ENOMEM, "cannot allocate the rotation gradients");
    }
    add_at_b(a1, base->token_embedding, g->token_embedding, V, dim);
    add_at_b(a1, base->classifier, g->classifier, V, dim);
    for (int l = 0; l < c->n_layers; l++) {
        const float *R2l = R2 + (size_t)l * n2;
        float *a2l = a2 + (size_t)l * n2;
        for (int id = 0; id < RB_LINEAR_COUNT; id++) {
            rb_weight_view w = rb_model_weight(base, l, (rb_linear_id)id);
            rb_weight_view gw = rb_grads_weight(g, l, (rb_linear_id)id);
            if (id == RB_WV) {
                /* B = Wv·R1 [kvdim][dim]; Wv'_g = R2ᵀ·B_g: dR2 += B_g·G_gᵀ, G_B_g = R2·G_g */
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, kvdim, dim, dim, 1.0f,
                            w.w, dim, R1, dim, 0.0f, B, dim);
                for (int kv = 0; kv < c->n_kv_heads; kv++) {
                    const float *Bg = B + (size_t)kv * hd * dim, *Gg = gw.w + (size_t)kv * hd * dim;
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, hd, hd, dim, 1.0f, Bg,
                                dim, Gg, dim, 1.0f, a2l, hd);
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, hd, dim, hd, 1.0f, R2l,
                                hd, Gg, dim, 0.0f, GB + (size_t)kv * hd * dim, dim);
                }
                add_at_b(a1, w.w, GB, kvdim, dim);
                /* bv'_g = R2ᵀ·bv_g (R1 does not reach it): dR2 += bv_g·gbv_gᵀ */
                const float *bv = base->layers[l].bv, *gbv = g->layers[l].bv;
                for (int kv = 0; bv && kv < c->n_kv_heads; kv++)
                    cblas_sger(CblasRowMajor, hd, hd, 1.0f, bv + (size_t)kv * hd, 1,
                               gbv + (size_t)kv * hd, 1, a2l, hd);
            } else if (id == RB_WO) {
                /* C = R1ᵀ·Wo [dim][qdim]; Wo'_h = C_h·R2: dR2 += C_hᵀ·G_h, G_C_h = G_h·R2ᵀ */
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, dim, qdim, dim, 1.0f, R1, dim,
                            w.w, qdim, 0.0f, B, qdim);
                for (int h = 0; h < c->n_heads; h++) {
                    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, hd, hd, dim, 1.0f,
                                B + (size_t)h * hd, qdim, gw.w + (size_t)h * hd, qdim, 1.0f, a2l, hd);
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, dim, hd, hd, 1.0f,
                                gw.w + (size_t)h * hd, qdim, R2l, hd, 0.0f, GB + (size_t)h * hd,
                                qdim);
                }
                add_a_bt(a1, w.w, GB, dim, qdim);
            } else if (id == RB_W2) {
                add_a_bt(a1, w.w, gw.w, dim, w.cols);
            } else {
                add_at_b(a1, w.w, gw.w, w.rows, dim);
            }
        }
    }
    for (size_t i = 0; i < (size_t)dim * dim; i++) gR1[i] = a1[i];
    for (size_t i = 0; i < (size_t)c->n_layers * n2; i++) gR2[i] = a2[i];
    free(a1); free(a2); free(B); free(GB);
    return RB_OK;
}

/* ---- Cayley SGD ----------------------------------------------------------- */

int rb_cayley_step(double *R, const double *G, int n, double lr, rb_error *err) {
    size_t nn = (size_t)n * n;
    double *W = malloc(sizeof(double) * nn), *A = malloc(sizeof(double) * nn);
    double *Bm = malloc(sizeof(double) * nn);
    lapack_int *piv = malloc(sizeof(lapack_int) * (size_t)n);
    int rc = RB_OK;
    if (!W || !A || !Bm || !piv) rc = rb_error_set(err, RB_ENOMEM, "Cayley step: out of memory");
    if (!rc) {
        /* W = G·Rᵀ − R·Gᵀ */
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, n, 1.0, G, n, R, n, 0.0, W, n);
        for (int i = 0; i < n; i++)
            for (int j = 0; j < i; j++) {
                double a = W[(size_t)i * n + j], b = W[(size_t)j * n + i];
                W[(size_t)i * n + j] = a - b;
                W[(size_t)j * n + i] = b - a;
            }
        for (int i = 0; i < n; i++) W[(size_t)i * n + i] = 0;
        /* the step: lr, capped at 1/‖W‖₁ as in Li et al.'s Cayley SGD, so that
         * one step never turns R by more than about a radian */
        double norm1 = 0;
        for (int j = 0; j < n; j++) {
            double col = 0;
            for (int i = 0; i < n; i++) col += fabs(W[(size_t)i * n + j]);
            norm1 = col > norm1 ? col : norm1;
        }
        if (norm1 > 0 && lr > 1.0 / norm1) lr = 1.0 / norm1;
        /* A = I + lr/2·W, B = (I − lr/2·W)·R */
        for (size_t i = 0; i < nn; i++) A[i] = 0.5 * lr * W[i];
        for (int i = 0; i < n; i++) A[(size_t)i * n + i] += 1.0;
        memcpy(Bm, R, sizeof(double) * nn);
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, -0.5 * lr, W, n, R, n, 1.0,
                    Bm, n);
        lapack_int info = LAPACKE_dgesv(LAPACK_ROW_MAJOR, n, n, A, n, piv, Bm, n);
        if (info)
            rc = rb_error_set(err, RB_ENUMERIC, "Cayley step: LAPACKE_dgesv failed (info %d)",
                              (int)info);
        else
            memcpy(R, Bm, sizeof(double) * nn);
    }
    free(W); free(A); free(Bm); free(piv);
    return rc;
}

/* Tiles of the strided (transposing) passes over n×n float64 matrices. */
enum { TILE = 32 };

int rb_sgdg_step(double *R, double *V, const double *G, int n, double lr, double momentum,
                 rb_error *err) {
    size_t nn = (size_t)n * n, N = (size_t)n;
    if (!V && momentum != 0)
        return rb_error_set(err, RB_EINVAL, "SGDG step: momentum %g needs a velocity", momentum);
    /* two n×n buffers and two products (one without a velocity): RᵀR = I
     * to rounding (the Cayley transform keeps R orthogonal; the stage prints
     * |RᵀR − I| at the end), so the reference's Rᵀ·(R·M) is M and Ŵ = M/2;
     * the solve runs in column-major order on the transposed system, which
     * gives the new R itself, with no transposing copies in LAPACKE */
    double *M = malloc(sizeof(double) * nn), *B = malloc(sizeof(double) * nn);
    lapack_int *piv = malloc(sizeof(lapack_int) * N);
    int rc = RB_OK;
    if (!M || !B || !piv) rc = rb_error_set(err, RB_ENOMEM, "SGDG step: out of memory");
    if (!rc) {
        /* V ← μV − Gᵀ, M = V·R (without V: M = −Gᵀ·R) */
        if (V) {
            for (size_t i0 = 0; i0 < N; i0 += TILE)
                for (size_t j0 = 0; j0 < N; j0 += TILE)
                    for (size_t i = i0; i < i0 + TILE && i < N; i++)
                        for (size_t j = j0; j < j0 + TILE && j < N; j++)
                            V[i * N + j] = momentum * V[i * N + j] - G[j * N + i];
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0, V, n, R, n, 0.0,
                        M, n);
        } else {
            cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n, n, n, -1.0, G, n, R, n, 0.0,
                        M, n);
        }
        /* W = Ŵ − Ŵᵀ = (M − Mᵀ)/2 (in M) */
        for (size_t i0 = 0; i0 < N; i0 += TILE)
            for (size_t j0 = 0; j0 <= i0; j0 += TILE)
                for (size_t i = i0; i < i0 + TILE && i < N; i++)
                    for (size_t j = j0; j < j0 + TILE && j < i; j++) {
                        double a = M[i * N + j], b = M[j * N + i];
                        M[i * N + j] = 0.5 * (a - b);
                        M[j * N + i] = 0.5 * (b - a);
                    }
        for (size_t i = 0; i < N; i++) M[i * N + i] = 0;
        /* its 1-norm (max column sum) */
        double norm1 = 0, *col = B; /* B is free until the right-hand side */
        memset(col, 0, sizeof(double) * N);
        for (size_t i = 0; i < N; i++)
            for (size_t j = 0; j < N; j++) col[j] += fabs(M[i * N + j]);
        for (size_t j = 0; j < N; j++) norm1 = col[j] > norm1 ? col[j] : norm1;
        double a = 1.0 / (norm1 + 1e-8);
        if (lr < a) a = lr;
        /* V ← W·Rᵀ with the R before the step */
        if (V)
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, n, 1.0, M, n, R, n, 0.0, V,
                        n);
        /* Rᵀ ← A⁻¹·(I + α/2·W)·Rᵀ with A = I − α/2·W: A⁻¹·(Rᵀ + α/2·V), or
         * without V, 2·A⁻¹·Rᵀ − Rᵀ (as (I + X) = 2I − (I − X)).  Read as
         * column-major, the row-major I + α/2·W is A (W is skew), the
         * row-major R + α/2·Vᵀ (or R) the right-hand side, and the
         * column-major solution, read row-major, the new R (or Aᵀ⁻¹ row by
         * row: R ← 2·it − R) */
        for (size_t i = 0; i < nn; i++) M[i] *= 0.5 * a;
        for (size_t i = 0; i < N; i++) M[i * N + i] += 1.0;
        if (V) {
            for (size_t i0 = 0; i0 < N; i0 += TILE)
                for (size_t j0 = 0; j0 < N; j0 += TILE)
                    for (size_t i = i0; i < i0 + TILE && i < N; i++)
                        for (size_t j = j0; j < j0 + TILE && j < N; j++)
                            B[i * N + j] = R[i * N + j] + 0.5 * a * V[j * N + i];
        } else {
            memcpy(B, R, sizeof(double) * nn);
        }
        lapack_int info = LAPACKE_dgesv(LAPACK_COL_MAJOR, n, n, M, n, piv, B, n);
        if (info)
            rc = rb_error_set(err, RB_ENUMERIC, "SGDG step: LAPACKE_dgesv failed (info %d)",
                              (int)info);
        else if (V)
            memcpy(R, B, sizeof(double) * nn);
        else
            for (size_t i = 0; i < nn; i++) R[i] = 2.0 * B[i] - R[i];
    }
    free(M); free(B); free(piv);
    return rc;
}

/* ---- the stage ------------------------------------------------------------ */

static int spinquant_apply(rb_stage_ctx *ctx, const rb_stage_opts *opt, rb_error *err);

static const char *const schedules[] = {"linear", "constant", "cosine", NULL};
static const char *const optimizers[] = {"sgdg", "cayley", NULL};
static const char *const weight_modes[] = {"fp", "rtn", NULL};
static const char *const learn_paths[] = {"auto", "activations", "weights", NULL};
enum { SCHED_LINEAR, SCHED_CONSTANT, SCHED_COSINE };
enum { OPT_SGDG, OPT_CAYLEY };
enum { LEARN_W_FP, LEARN_W_RTN };
enum { PATH_AUTO, PATH_ACTIVATIONS, PATH_WEIGHTS };

static const rb_option_spec spinquant_options[] = {
    {"iters", RB_OPT_INT, 100, 0, 1e6, "Cayley SGD iterations (0: keep the initial rotations)",
     NULL},
    {"lr", RB_OPT_FLOAT, 1.5, 0, 1e6, "learning rate of the Cayley SGD", NULL},
    {"schedule", RB_OPT_CHOICE, SCHED_COSINE, 0, 2,
     "learning rate schedule: cosine (lr·½(1 + cos(π·t/iters)), the reference's), linear "
     "(decays to 0 over iters) or constant", schedules},
    {"optimizer", RB_OPT_CHOICE, OPT_SGDG, 0, 1,
     "sgdg (the reference's SGDG Cayley step, with momentum) or cayley (step "
     "min(lr, 1/|W|_1) with W = G·Rᵀ − R·Gᵀ, twice sgdg's first-order step; no momentum)",
     optimizers},
    {"momentum", RB_OPT_FLOAT, 0, 0, 0.999, "SGDG momentum (the reference script's: 0)", NULL},
    {"learn_w", RB_OPT_CHOICE, LEARN_W_FP, 0, 1,
     "weights while learning: fp (full precision, the reference's w_bits=16 for GPTQ) or rtn "
     "(fake-quantized by RTN with the --w-* settings every iteration, straight-through; the "
     "reference's w_bits=4 for RTN)",
     weight_modes},
    {"learn_path", RB_OPT_CHOICE, PATH_WEIGHTS, 0, 2,
     "how an iteration applies R1/R2: activations (the base weights stay, the rotations act on "
     "the activations at the residual stream's readers and writers and on v/o_proj's inputs: "
     "methods/spin_train.h), weights (forms the rotated weights every iteration and chains their "
     "gradients back: 2·dim flops per parameter twice, and two more copies of the model; the "
     "default, until the committed SpinQuant tables are re-run with the faster path) or auto "
     "(activations for learn_w=fp, weights for learn_w=rtn, which quantizes the rotated weights)",
     learn_paths},
    {"windows", RB_OPT_INT, 0, 0, 1 << 20,
     "calibration windows used for learning (0: all the run has)", NULL},
    {"batch", RB_OPT_INT, 4, 1, 4096, "calibration windows per iteration", NULL},
    {"seed", RB_OPT_INT, -1, -1, 1e9, "seed of the initial random Hadamards (-1: the run's --seed)",
     NULL},
    {"online", RB_OPT_BOOL, 1, 0, 1, "online Hadamards at all", NULL},
    {"r3", RB_OPT_BOOL, 1, 0, 1, "online Hadamard on q and k after RoPE (KV cache)", NULL},
    {"r4", RB_OPT_BOOL, 1, 0, 1, "online Hadamard before down_proj", NULL},
    {"heads", RB_OPT_BOOL, 1, 0, 1, "online Hadamard across heads before o_proj", NULL},
    {"rotations", RB_OPT_TEXT, 0, 0, 0,
     "load R1/R2 instead of learning: a file from save_rotations, or FILE.json describing raw "
     "float32/float64 arrays (methods/rotation_desc.h)",
     NULL},
    {"save_rotations", RB_OPT_TEXT, 0, 0, 0, "write the learned R1/R2 to this file", NULL},
    {"loss_log", RB_OPT_TEXT, 0, 0, 0, "write iteration,loss,lr,seconds as CSV to this file",
     NULL},
    {NULL}};

const rb_method rb_method_spinquant = {
    .name = "spinquant",
    .help = "R1/R2 learned by Cayley SGD on the quantized network's loss, online Hadamards "
            "R3/R4 (Liu et al. 2024)",
    .options = spinquant_options,
    .apply = spinquant_apply,
};

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void to_float(float *dst, const double *src, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = (float)src[i];
}

typedef struct learn_opts {
    int iters, schedule, windows, batch;
    const rb_log *log; /* progress lines; may be NULL */
    double lr;
    const char *loss_log;
    int optimizer, learn_w;
    double momentum;
    int path;
} learn_opts;

/* The learning rate of iteration it (0-based) of iters. */
static double lr_at(const learn_opts *o, int it) {
    double t = (double)it / o->iters;
    if (o->schedule == SCHED_LINEAR) return o->lr * (1.0 - t);
    if (o->schedule == SCHED_COSINE) return o->lr * 0.5 * (1.0 + cos(M_PI * t));
    return o->lr;
}

/* Learns r (initialised) on base with the quantizers q (dynamic copies). */
static int learn(const rb_model *base, rb_spin_rotations *r, const rb_calib *calib,
                 const rb_quant_config *q, const learn_opts *o, rb_error *err) {
    const rb_config *c = &base->cfg;
    size_t n1 = (size_t)c->dim * c->dim, n2 = (size_t)c->n_layers * c->head_dim * c->head_dim;
    int nwin = o->windows > 0 && o->windows < calib->n_windows ? o->windows : calib->n_windows;
    rb_quant_config lq = *q; /* learning quantizers: dynamic, no static tables */
    lq.a_static = lq.kv_static = 0;
    lq.a_scale = lq.a_zero = lq.kv_scale = lq.kv_zero = NULL;
    rb_hooks hooks;
    rb_quant_hooks(&lq, &hooks);
    /* activations: the base weights and rb_spin_ws; weights: a model of
     * rotated weights, its training buffers and its weight gradients */
    int on_acts = o->path == PATH_ACTIVATIONS || (o->path == PATH_AUTO && o->learn_w == LEARN_W_FP);
    rb_model *work = NULL;
    rb_train_ws ws = {0};
    rb_spin_ws sws = {0};
    rb_grads g = {0};
    float *R1f = malloc(sizeof(float) * n1), *R2f = malloc(sizeof(float) * n2);
    float *aR1 = on_acts ? malloc(sizeof(float) * n1) : NULL;
    float *aR2 = on_acts ? malloc(sizeof(float) * n2) : NULL;
    double *gR1 = malloc(sizeof(double) * n1), *gR2 = malloc(sizeof(double) * n2);
    /* SGDG velocities, only with momentum */
    int keep_v = o->optimizer == OPT_SGDG && o->momentum != 0;
    double *V1 = keep_v ? calloc(n1, sizeof(double)) : NULL;
    double *V2 = keep_v ? calloc(n2, sizeof(double)) : NULL;
    FILE *log = NULL;
    int rc = R1f && R2f && gR1 && gR2 && (!keep_v || (V1 && V2)) && (!on_acts || (aR1 && aR2))
                 ? RB_OK
                 : rb_error_set(err, RB_ENOMEM, "cannot allocate SpinQuant");
    if (!rc && o->learn_w == LEARN_W_RTN && rb_quant_spec_off(&q->w))
        rc = rb_error_set(err, RB_EINVAL, "learn_w=rtn needs quantized weights (--w-bits below 16)");
    if (!rc && on_acts && o->learn_w == LEARN_W_RTN)
        rc = rb_error_set(err, RB_EINVAL,
                          "learn_path=activations keeps the base weights: learn_w=rtn, which "
                          "quantizes the rotated weights, needs learn_path=weights (or auto)");
    if (!rc && on_acts) rc = rb_spin_ws_init(&sws, c, calib->window, err);
    if (!rc && !on_acts) rc = rb_model_clone(base, &work, err);
    if (!rc && !on_acts) rc = rb_train_ws_init(&ws, c, calib->window, err);
    if (!rc && !on_acts) rc = rb_grads_init(&g, c, err);
    if (!rc && o->loss_log && *o->loss_log) {
        if (!(log = fopen(o->loss_log, "w")))
            rc = rb_error_set(err, RB_EIO, "%s: cannot create the loss log", o->loss_log);
        else
            fprintf(log, "iteration,loss,lr,seconds\n");
    }
    double t0 = now_s();
    for (int it = 0; !rc && it < o->iters; it++) {
        double lr = lr_at(o, it), t_fb = now_s();
        to_float(R1f, r->R1, n1);
        to_float(R2f, r->R2, n2);
        if (!on_acts && (rc = rb_spin_effective(work, base, R1f, R2f, err))) break;
        /* RTN weights: the gradients below are taken at the quantized
         * weights and passed straight through to the effective ones */
        if (o->learn_w == LEARN_W_RTN && (rc = rb_quant_weights_rtn_transient(work, q, err))) break;
        if (on_acts) {
            memset(aR1, 0, sizeof(float) * n1);
            memset(aR2, 0, sizeof(float) * n2);
        } else {
            rb_grads_zero(&g);
        }
        double loss = 0;
        for (int b = 0; !rc && b < o->batch; b++) {
            int w = (int)(((size_t)it * o->batch + b) % (size_t)nwin);
            const int32_t *tok = calib->tokens + (size_t)w * calib->window;
            double l = 0;
            if (on_acts) {
                rc = rb_spin_forward(base, &sws, R1f, R2f, tok, calib->window, &hooks, &l, err);
                if (!rc) rc = rb_spin_backward(base, &sws, 1.0f / o->batch, aR1, aR2, err);
            } else {
                rc = rb_train_forward(work, &ws, tok, calib->window, &hooks, &l, err);
                if (!rc) rc = rb_train_backward(work, &ws, 1.0f / o->batch, &g, err);
            }
            loss += l / o->batch;
        }
        if (!rc && on_acts) {
            for (size_t i = 0; i < n1; i++) gR1[i] = aR1[i];
            for (size_t i = 0; i < n2; i++) gR2[i] = aR2[i];
        } else if (!rc) {
            rc = rb_spin_rotation_grads(base, R1f, R2f, &g, gR1, gR2, err);
        }
        double t_step = now_s();
        t_fb = t_step - t_fb;
        if (!rc && !isfinite(loss))
            rc = rb_error_set(err, RB_ENUMERIC, "iteration %d: the loss is %g", it, loss);
        if (!rc)
            rc = o->optimizer == OPT_SGDG
                     ? rb_sgdg_step(r->R1, V1, gR1, c->dim, lr, o->momentum, err)
                     : rb_cayley_step(r->R1, gR1, c->dim, lr, err);
        for (int l = 0; !rc && l < c->n_layers; l++) {
            size_t o2 = (size_t)l * c->head_dim * c->head_dim;
            rc = o->optimizer == OPT_SGDG
                     ? rb_sgdg_step(r->R2 + o2, V2 ? V2 + o2 : NULL, gR2 + o2, c->head_dim, lr,
                                    o->momentum, err)
                     : rb_cayley_step(r->R2 + o2, gR2 + o2, c->head_dim, lr, err);
        }
        double t = now_s() - t0;
        t_step = now_s() - t_step;
        if (!rc)
            rb_logf(o->log,
                    "spinquant: iteration %d/%d loss %.5f lr %.4g %.2f s (this one: "
                    "%.2f s to the gradients of R, %.2f s rotation steps)",
                    it + 1, o->iters, loss, lr, t, t_fb, t_step);
        if (!rc && log) fprintf(log, "%d,%.8g,%.6g,%.4f\n", it + 1, loss, lr, t);
    }
    if (log && fclose(log) && !rc)
        rc = rb_error_set(err, RB_EIO, "%s: cannot write the loss log", o->loss_log);
    if (!rc && o->iters > 0) {
        double e1 = rb_spin_orthogonality_error(r->R1, c->dim), e2 = 0;
        for (int l = 0; l < c->n_layers; l++) {
            double e = rb_spin_orthogonality_error(r->R2 + (size_t)l * c->head_dim * c->head_dim,
                                                   c->head_dim);
            e2 = e > e2 ? e : e2;
        }
        rb_logf(o->log, "spinquant: %d iterations in %.2f s; max |RᵀR - I|: R1 %.2g, R2 %.2g",
                o->iters, now_s() - t0, e1, e2);
    }
    rb_grads_free(&g);
    rb_train_ws_free(&ws);
    rb_spin_ws_free(&sws);
    rb_model_free(work);
    free(aR1); free(aR2);
    free(R1f); free(R2f); free(gR1); free(gR2); free(V1); free(V2);
    return rc;
}

static int spinquant_apply(rb_stage_ctx *ctx, const rb_stage_opts *opt, rb_error *err) {
    const rb_method *me = &rb_method_spinquant;
    rb_model *m = ctx->model;
    const rb_config *c = &m->cfg;
    double seed_opt = rb_opt_get(me, opt, "seed");
    uint64_t seed = seed_opt < 0 ? ctx->seed : (uint64_t)seed_opt;
    const char *load = rb_opt_get_text(me, opt, "rotations");
    const char *save = rb_opt_get_text(me, opt, "save_rotations");
    learn_opts lo = {(int)rb_opt_get(me, opt, "iters"), (int)rb_opt_get(me, opt, "schedule"),
                     (int)rb_opt_get(me, opt, "windows"), (int)rb_opt_get(me, opt, "batch"),
                     ctx->log, rb_opt_get(me, opt, "lr"), rb_opt_get_text(me, opt, "loss_log"),
                     (int)rb_opt_get(me, opt, "optimizer"), (int)rb_opt_get(me, opt, "learn_w"),
                     rb_opt_get(me, opt, "momentum"), (int)rb_opt_get(me, opt, "learn_path")};
    if (!*load && lo.iters > 0 && (!ctx->calib || ctx->calib->n_windows < 1))
        return rb_error_set(err, RB_EINVAL, "learning the rotations needs calibration windows");
    if (!*load && lo.iters > 0 && !rb_quant_config_active(ctx->quant))
        rb_logf(ctx->log, "spinquant: warning: activations and KV cache are not quantized; the "
                          "fp32 loss does not depend on the rotations");
    int rc = rb_rotate_fuse_norms(m, err);
    if (!rc && rb_opt_get(me, opt, "online"))
        rc = rb_rotate_online(m, (int)rb_opt_get(me, opt, "r3"), (int)rb_opt_get(me, opt, "r4"),
                              (int)rb_opt_get(me, opt, "heads"), err);
    if (rc) return rc;
    rb_spin_rotations r;
    if (*load) {
        size_t n = strlen(load);
        rc = n > 5 && !strcmp(load + n - 5, ".json") ? rb_spin_rotations_load_raw(&r, c, load, err)
                                                     : rb_spin_rotations_load(&r, c, load, err);
    } else {
        rc = rb_spin_rotations_init(&r, c, seed, err);
        if (!rc && (rc = learn(m, &r, ctx->calib, ctx->quant, &lo, err))) rb_spin_rotations_free(&r);
    }
    if (rc) return rc;
    if (*save) rc = rb_spin_rotations_save(&r, save, err);
    size_t n1 = (size_t)c->dim * c->dim, n2 = (size_t)c->n_layers * c->head_dim * c->head_dim;
    float *R1f = malloc(sizeof(float) * n1), *R2f = malloc(sizeof(float) * n2), *R2x = NULL;
    if (!rc && (!R1f || !R2f)) rc = rb_error_set(err, RB_ENOMEM, "cannot allocate the rotations");
    if (!rc) {
        to_float(R1f, r.R1, n1);
        to_float(R2f, r.R2, n2);
        if (!(R2x = expand_r2(R2f, c))) rc = rb_error_set(err, RB_ENOMEM, "out of memory");
    }
    /* the same operations as rb_spin_effective, in place */
    if (!rc) rc = rb_rotate_residual(m, R1f, err);
    if (!rc) rc = rb_rotate_value_heads_each(m, R2x, err);
    free(R1f); free(R2f); free(R2x);
    rb_spin_rotations_free(&r);
    return rc;
}
