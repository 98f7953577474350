/* Function-preserving rotations of a model (see rotate.h for the algebra). */
#include "methods/rotate.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/hadamard.h"

static void scale_columns(float *w, int rows, int cols, const float *g) {
    for (int o = 0; o < rows; o++)
        for (int i = 0; i < cols; i++) w[(size_t)o * cols + i] *= g[i];
}

static void set_ones(float *g, int n) {
    for (int i = 0; i < n; i++) g[i] = 1.0f;
}

int rb_rotate_fuse_norms(rb_model *m, rb_error *err) {
    int rc = rb_model_untie_classifier(m, err);
    if (rc) return rc;
    const rb_config *c = &m->cfg;
    for (int l = 0; l < c->n_layers; l++) {
        rb_layer *L = &m->layers[l];
        for (rb_linear_id id = 0; id < RB_LINEAR_COUNT; id++) {
            if (id == RB_WO || id == RB_W2) continue;
            rb_weight_view v = rb_model_weight(m, l, id);
            scale_columns(v.w, v.rows, v.cols, id <= RB_WV ? L->attn_norm : L->ffn_norm);
        }
        set_ones(L->attn_norm, c->dim);
        set_ones(L->ffn_norm, c->dim);
    }
    scale_columns(m->classifier, c->vocab_size, c->dim, m->final_norm);
    set_ones(m->final_norm, c->dim);
    return RB_OK;
}

/* W [rows][n] ← W·R (R [n][n]); tmp holds rows·n floats. */
static void mul_right(float *w, int rows, int n, int ldw, const float *R, float *tmp) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, n, n, 1.0f, w, ldw, R, n, 0.0f,
                tmp, n);
    for (int r = 0; r < rows; r++) memcpy(w + (size_t)r * ldw, tmp + (size_t)r * n, sizeof(float) * n);
}

/* W [n][cols] ← Rᵀ·W (R [n][n]); tmp holds n·cols floats. */
static void mul_left_t(float *w, int n, int cols, const float *R, float *tmp) {
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n, cols, n, 1.0f, R, n, w, cols, 0.0f,
                tmp, cols);
    memcpy(w, tmp, sizeof(float) * (size_t)n * cols);
}

static int norms_are_one(const rb_model *m) {
    const rb_config *c = &m->cfg;
    for (int i = 0; i < c->dim; i++) {
        if (m->final_norm[i] != 1.0f) return 0;
        for (int l = 0; l < c->n_layers; l++)
            if (m->layers[l].attn_norm[i] != 1.0f || m->layers[l].ffn_norm[i] != 1.0f) return 0;
    }
    return 1;
}

/* R1 commutes with RMSNorm only once the norm weights are 1 and the
 * classifier is untied; 0 (and err set) otherwise. */
static int norms_folded(const rb_model *m, rb_error *err) {
    if (norms_are_one(m) && !m->classifier_shared) return 1;
    rb_error_set(err, RB_EINVAL,
                 "the residual rotation needs the norm weights folded into the linears first "
                 "(rb_rotate_fuse_norms)");
    return 0;
}

int rb_rotate_residual(rb_model *m, const float *R1, rb_error *err) {
    const rb_config *c = &m->cfg;
    if (!norms_folded(m, err)) return RB_EINVAL;
    size_t widest = (size_t)c->vocab_size;
    if ((size_t)c->hidden_dim > widest) widest = (size_t)c->hidden_dim;
    if ((size_t)c->n_heads * c->head_dim > widest) widest = (size_t)c->n_heads * c->head_dim;
    float *tmp = malloc(sizeof(float) * widest * c->dim);
    if (!tmp) return rb_error_set(err, RB_ENOMEM, "cannot allocate the rotation buffer");
    mul_right(m->token_embedding, c->vocab_size, c->dim, c->dim, R1, tmp);
    mul_right(m->classifier, c->vocab_size, c->dim, c->dim, R1, tmp);
    for (int l = 0; l < c->n_layers; l++)
        for (rb_linear_id id = 0; id < RB_LINEAR_COUNT; id++) {
            rb_weight_view v = rb_model_weight(m, l, id);
            if (id == RB_WO || id == RB_W2)
                mul_left_t(v.w, v.rows, v.cols, R1, tmp);
            else
                mul_right(v.w, v.rows, v.cols, v.cols, R1, tmp);
        }
    free(tmp);
    return RB_OK;
}

/* Rows per chunk of hadamard_right: the signs and the transform run on a
 * chunk while it is in cache (one memory pass, not two). */
enum { ROW_CHUNK = 16 };

/* W [rows][n] ← W·diag(s)·H_n: row w becomes Hᵀ·(s∘w). */
static int hadamard_right(float *w, size_t rows, int n, const float *s, rb_error *err) {
    int k, e, rc = rb_hadamard_factor(n, &k, &e, err);
    if (rc) return rc;
    if (!s || (double)rows * n < 1 << 16) {
        if (s)
            for (size_t r = 0; r < rows; r++)
                for (int i = 0; i < n; i++) w[r * n + i] *= s[i];
        return rb_hadamard_apply_t(w, rows, n, 1, err);
    }
    long nc = (long)((rows + ROW_CHUNK - 1) / ROW_CHUNK);
    int failed = 0;
#pragma omp parallel for schedule(static) reduction(| : failed)
    for (long ch = 0; ch < nc; ch++) {
        size_t r0 = (size_t)ch * ROW_CHUNK, r1 = r0 + ROW_CHUNK < rows ? r0 + ROW_CHUNK : rows;
        for (size_t r = r0; r < r1; r++)
            for (int i = 0; i < n; i++) w[r * n + i] *= s[i];
        failed |= rb_hadamard_apply_t(w + r0 * n, r1 - r0, n, 1, NULL) != RB_OK;
    }
    return failed ? rb_error_set(err, RB_ENOMEM, "Hadamard %d over %zu rows: out of memory", n, rows)
                  : RB_OK;
}

/* Columns per block of hadamard_left_t: [n][COL_BLOCK] floats (1 MiB at
 * n = 4096) stay in L2 through the butterflies. */
enum { COL_BLOCK = 64 };

/* W [n][cols] ← (diag(s)·H_n)ᵀ·W = H_nᵀ·diag(s)·W: every column c becomes
 * Hᵀ·(s∘W[:, c]).  Blocks of columns are copied out (times the signs),
 * transformed along their n axis and copied back, one block per thread at a
 * time. */
static int hadamard_left_t(float *w, int n, size_t cols, const float *s, rb_error *err) {
    int k, e, rc = rb_hadamard_factor(n, &k, &e, err);
    if (rc) return rc;
    if (cols <= COL_BLOCK || (double)cols * n < 1 << 16) {
        if (s)
            for (int i = 0; i < n; i++)
                for (size_t c = 0; c < cols; c++) w[(size_t)i * cols + c] *= s[i];
        return rb_hadamard_apply_t(w, 1, n, (int)cols, err);
    }
    long nb = (long)((cols + COL_BLOCK - 1) / COL_BLOCK);
    int failed = 0;
#pragma omp parallel reduction(| : failed)
    {
        float *buf = malloc(sizeof(float) * (size_t)n * COL_BLOCK);
        failed |= !buf;
#pragma omp for schedule(static)
        for (long b = 0; b < nb; b++) {
            if (!buf) continue;
            size_t c0 = (size_t)b * COL_BLOCK, cw = cols - c0 < COL_BLOCK ? cols - c0 : COL_BLOCK;
            for (int i = 0; i < n; i++) {
                const float *src = w + (size_t)i * cols + c0;
                float *dst = buf + (size_t)i * cw, si = s ? s[i] : 1.0f;
                if (s)
                    for (size_t c = 0; c < cw; c++) dst[c] = src[c] * si;
                else
                    memcpy(dst, src, sizeof(float) * cw);
            }
            failed |= rb_hadamard_apply_t(buf, 1, n, (int)cw, NULL) != RB_OK;
            for (int i = 0; i < n; i++) memcpy(w + (size_t)i * cols + c0, buf + (size_t)i * cw, sizeof(float) * cw);
        }
        free(buf);
    }
    return failed ? rb_error_set(err, RB_ENOMEM, "Hadamard %d over %zu columns: out of memory", n, cols) : RB_OK;
}

int rb_rotate_residual_hadamard(rb_model *m, const float *signs, rb_error *err) {
    const rb_config *c = &m->cfg;
    if (!norms_folded(m, err)) return RB_EINVAL;
    int rc = hadamard_right(m->token_embedding, (size_t)c->vocab_size, c->dim, signs, err);
    if (!rc) rc = hadamard_right(m->classifier, (size_t)c->vocab_size, c->dim, signs, err);
    for (int l = 0; !rc && l < c->n_layers; l++)
        for (rb_linear_id id = 0; !rc && id < RB_LINEAR_COUNT; id++) {
            rb_weight_view v = rb_model_weight(m, l, id);
            if (id == RB_WO || id == RB_W2)
                rc = hadamard_left_t(v.w, v.rows, (size_t)v.cols, signs, err);
            else
                rc = hadamard_right(v.w, (size_t)v.rows, v.cols, signs, err);
        }
    return rc ? rb_error_prefix(err, "residual Hadamard rotation (dim %d): ", c->dim) : RB_OK;
}

int rb_rotate_value_heads_hadamard(rb_model *m, const float *signs, rb_error *err) {
    const rb_config *c = &m->cfg;
    int hd = c->head_dim, rc = RB_OK;
    for (int l = 0; !rc && l < c->n_layers; l++) {
        rb_weight_view wv = rb_model_weight(m, l, RB_WV), wo = rb_model_weight(m, l, RB_WO);
        float *bv = m->layers[l].bv;
        for (int g = 0; !rc && g < c->n_kv_heads; g++) {
            rc = hadamard_left_t(wv.w + (size_t)g * hd * wv.cols, hd, (size_t)wv.cols, signs, err);
            if (!rc && bv) rc = hadamard_left_t(bv + (size_t)g * hd, hd, 1, signs, err);
        }
        /* each row of wo is [n_heads][hd]: every head's hd columns are a row of length hd */
        if (!rc) rc = hadamard_right(wo.w, (size_t)wo.rows * c->n_heads, hd, signs, err);
    }
    return rc ? rb_error_prefix(err, "value Hadamard rotation (head_dim %d): ", hd) : RB_OK;
}

int rb_rotate_value_heads(rb_model *m, const float *R2, rb_error *err) {
    const rb_config *c = &m->cfg;
    int hd = c->head_dim;
    float *tmp = malloc(sizeof(float) * (size_t)hd * c->dim);
    if (!tmp) return rb_error_set(err, RB_ENOMEM, "cannot allocate the rotation buffer");
    for (int l = 0; l < c->n_layers; l++) {
        rb_weight_view wv = rb_model_weight(m, l, RB_WV), wo = rb_model_weight(m, l, RB_WO);
        float *bv = m->layers[l].bv;
        for (int g = 0; g < c->n_kv_heads; g++) {
            mul_left_t(wv.w + (size_t)g * hd * wv.cols, hd, wv.cols, R2, tmp);
            if (bv) mul_left_t(bv + (size_t)g * hd, hd, 1, R2, tmp); /* v_g = x·Wv_gᵀ + b_g */
        }
        for (int h = 0; h < c->n_heads; h++)
            mul_right(wo.w + (size_t)h * hd, wo.rows, hd, wo.cols, R2, tmp);
    }
    free(tmp);
    return RB_OK;
}

int rb_rotate_value_heads_each(rb_model *m, const float *R, rb_error *err) {
    const rb_config *c = &m->cfg;
    int hd = c->head_dim, group = c->n_heads / c->n_kv_heads;
    float *tmp = malloc(sizeof(float) * (size_t)hd * c->dim);
    if (!tmp) return rb_error_set(err, RB_ENOMEM, "cannot allocate the rotation buffer");
    for (int l = 0; l < c->n_layers; l++) {
        rb_weight_view wv = rb_model_weight(m, l, RB_WV), wo = rb_model_weight(m, l, RB_WO);
        const float *Rl = R + (size_t)l * c->n_kv_heads * hd * hd;
        float *bv = m->layers[l].bv;
        for (int g = 0; g < c->n_kv_heads; g++) {
            const float *Rg = Rl + (size_t)g * hd * hd;
            mul_left_t(wv.w + (size_t)g * hd * wv.cols, hd, wv.cols, Rg, tmp);
            if (bv) mul_left_t(bv + (size_t)g * hd, hd, 1, Rg, tmp);
        }
        for (int h = 0; h < c->n_heads; h++)
            mul_right(wo.w + (size_t)h * hd, wo.rows, hd, wo.cols,
                      Rl + (size_t)(h / group) * hd * hd, tmp);
    }
    free(tmp);
    return RB_OK;
}

/* The transposes of R [n_layers][n][n], as the plan's linears. */
static float *transposed_copy(const float *R, int layers, int n) {
    float *W = malloc(sizeof(float) * (size_t)layers * n * n);
    if (!W) return NULL;
    for (int l = 0; l < layers; l++)
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
                W[((size_t)l * n + j) * n + i] = R[((size_t)l * n + i) * n + j];
    return W;
}

int rb_rotate_online_dense(rb_model *m, const float *qk, const float *down, rb_error *err) {
    const rb_config *c = &m->cfg;
    rb_online_plan *p = &m->online;
    if (qk && p->qk_dense)
        return rb_error_set(err, RB_EINVAL, "the online dense q/k rotation is already on");
    if (down && (p->down_dense || p->down_hadamard))
        return rb_error_set(err, RB_EINVAL,
                            "the input of down_proj already has an online transform");
    float *wqk = qk ? transposed_copy(qk, c->n_layers, c->head_dim) : NULL;
    float *wdown = down ? transposed_copy(down, c->n_layers, c->hidden_dim) : NULL;
    float *tmp = down ? malloc(sizeof(float) * (size_t)c->dim * c->hidden_dim) : NULL;
    if ((qk && !wqk) || (down && (!wdown || !tmp))) {
        free(wqk);
        free(wdown);
        free(tmp);
        return rb_error_set(err, RB_ENOMEM, "cannot allocate the online rotations");
    }
    for (int l = 0; down && l < c->n_layers; l++) {
        rb_weight_view w2 = rb_model_weight(m, l, RB_W2);
        mul_right(w2.w, w2.rows, w2.cols, w2.cols, down + (size_t)l * c->hidden_dim * c->hidden_dim,
                  tmp);
    }
    free(tmp);
    if (wqk) p->qk_dense = wqk;
    if (wdown) p->down_dense = wdown;
    return RB_OK;
}

/* out [n][n] = Bᵀ·A in float64, rounded to float (the linear that takes a
 * row in basis A to basis B: x·A·Aᵀ·B = x·(Bᵀ·A)ᵀ); a holds n·n doubles,
 * b 2·n·n. */
static void basis_change(const float *A, const float *B, int n, double *a, double *b, float *out) {
    for (size_t i = 0; i < (size_t)n * n; i++) {
        a[i] = A[i];
        b[i] = B[i];
    }
    double *o = b + (size_t)n * n;
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n, n, n, 1.0, b, n, a, n, 0.0, o, n);
    for (size_t i = 0; i < (size_t)n * n; i++) out[i] = (float)o[i];
}

int rb_rotate_residual_each(rb_model *m, const float *A, const float *M, rb_error *err) {
    const rb_config *c = &m->cfg;
    rb_online_plan *p = &m->online;
    if (!norms_folded(m, err)) return RB_EINVAL;
    if (p->resid_attn || p->resid_ffn)
        return rb_error_set(err, RB_EINVAL, "the residual basis changes are already on");
    const int n = c->dim, L = c->n_layers;
    const size_t nn = (size_t)n * n;
    size_t widest = (size_t)c->vocab_size;
    if ((size_t)c->hidden_dim > widest) widest = (size_t)c->hidden_dim;
    if ((size_t)c->n_heads * c->head_dim > widest) widest = (size_t)c->n_heads * c->head_dim;
    float *tmp = malloc(sizeof(float) * widest * n);
    double *da = malloc(sizeof(double) * nn), *db = malloc(sizeof(double) * 2 * nn);
    float *ra = M ? malloc(sizeof(float) * L * nn) : NULL, *rf = malloc(sizeof(float) * L * nn);
    if (!tmp || !da || !db || (M && !ra) || !rf) {
        free(tmp); free(da); free(db); free(ra); free(rf);
        return rb_error_set(err, RB_ENOMEM, "cannot allocate the residual basis changes");
    }
    mul_right(m->token_embedding, c->vocab_size, n, n, A, tmp);
    mul_right(m->classifier, c->vocab_size, n, n, A + (size_t)L * nn, tmp);
    for (int l = 0; l < L; l++) {
        const float *Al = A + (size_t)l * nn, *Ml = M ? M + (size_t)l * nn : Al;
        const float *Anext = A + (size_t)(l + 1) * nn;
        for (rb_linear_id id = 0; id < RB_LINEAR_COUNT; id++) {
            rb_weight_view v = rb_model_weight(m, l, id);
            if (id == RB_WO)
                mul_left_t(v.w, v.rows, v.cols, Ml, tmp);
            else if (id == RB_W2)
                mul_left_t(v.w, v.rows, v.cols, Anext, tmp);
            else
                mul_right(v.w, v.rows, v.cols, v.cols, id == RB_W1 || id == RB_W3 ? Ml : Al, tmp);
        }
        if (M) basis_change(Al, Ml, n, da, db, ra + (size_t)l * nn);
        basis_change(Ml, Anext, n, da, db, rf + (size_t)l * nn);
    }
    free(tmp);
    free(da);
    free(db);
    p->resid_attn = ra;
    p->resid_ffn = rf;
    return RB_OK;
}

int rb_rotate_online(rb_model *m, int qk, int down, int heads, rb_error *err) {
    const rb_config *c = &m->cfg;
    rb_online_plan *p = &m->online;
    int k, e, rc;
    struct { int want, *on, n; const char *what; } t[] = {
        {qk, &p->qk_hadamard, c->head_dim, "q/k Hadamard (head_dim)"},
        {down, &p->down_hadamard, c->hidden_dim, "down_proj Hadamard (hidden_dim)"},
        {heads, &p->o_head_hadamard, c->n_heads, "head-wise Hadamard (n_heads)"}};
    if (down && p->down_dense)
        return rb_error_set(err, RB_EINVAL,
                            "the input of down_proj already has an online dense rotation");
    for (int i = 0; i < 3; i++) {
        if (!t[i].want) continue;
        if (*t[i].on) return rb_error_set(err, RB_EINVAL, "the online %s is already on", t[i].what);
        if ((rc = rb_hadamard_factor(t[i].n, &k, &e, err)))
            return rb_error_prefix(err, "online %s of size %d: ", t[i].what, t[i].n);
    }
    for (int l = 0; l < c->n_layers; l++) {
        rb_weight_view w2 = rb_model_weight(m, l, RB_W2), wo = rb_model_weight(m, l, RB_WO);
        /* the forward feeds H·a to the linear; W·Hᵀ restores its output, and
         * each row of W·Hᵀ is H applied to that row of W */
        if (down && (rc = rb_hadamard_apply(w2.w, (size_t)w2.rows, c->hidden_dim, 1, err)))
            return rc;
        if (heads && (rc = rb_hadamard_apply(wo.w, (size_t)wo.rows, c->n_heads, c->head_dim, err)))
            return rc;
    }
    p->qk_hadamard |= qk;
    p->down_hadamard |= down;
    p->o_head_hadamard |= heads;
    return RB_OK;
}
