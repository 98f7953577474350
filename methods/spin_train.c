/* SpinQuant's training forward and backward on the base weights, with R1
 * and R2 applied to the activations (methods/spin_train.h has the algebra).
 * The layer follows rb_layer_forward (core/forward.c) step by step, with
 * the rotation points added; tests/test_spinquant.c checks it against the
 * materialising path (rb_spin_effective + core/train.h), which runs
 * rb_layer_forward itself. */
#include "methods/spin_train.h"

#include <cblas.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/hadamard.h"
#include "kernels/linear.h"
#include "kernels/ops.h"
#include "kernels/ops_backward.h"

/* ---- workspace ------------------------------------------------------------ */

typedef struct plan_entry {
    float **p;
    size_t n;
} plan_entry;

static size_t max3(size_t a, size_t b, size_t c) {
    size_t m = a > b ? a : b;
    return m > c ? m : c;
}

/* The buffers of a workspace for cfg and T tokens, in plan[] (NULL: only
 * counted); returns how many. */
static int ws_plan(rb_spin_ws *ws, const rb_config *c, int max_T, int threads, plan_entry *plan) {
    size_t T = (size_t)max_T, L = (size_t)c->n_layers, d = (size_t)c->dim;
    size_t f = (size_t)c->hidden_dim, V = (size_t)c->vocab_size;
    size_t qdim = (size_t)c->n_heads * c->head_dim, kvdim = (size_t)c->n_kv_heads * c->head_dim;
    size_t wide = max3(d, qdim, f);
    plan_entry all[] = {
        {&ws->x_attn, L * T * d},  {&ws->h_attn, L * T * d},   {&ws->z_attn, L * T * d},
        {&ws->q, L * T * qdim},    {&ws->k, L * T * kvdim},    {&ws->v, L * T * kvdim},
        {&ws->v0, L * T * kvdim},  {&ws->att, L * T * qdim},   {&ws->x_ffn, L * T * d},
        {&ws->h_ffn, L * T * d},   {&ws->z_ffn, L * T * d},    {&ws->a, L * T * f},
        {&ws->b, L * T * f},       {&ws->emb, T * d},          {&ws->x_final, T * d},
        {&ws->h_final, T * d},     {&ws->logits, T * V},       {&ws->dlogits, T * V},
        {&ws->x, T * d},           {&ws->u, T * wide},         {&ws->t1, T * wide},
        {&ws->t2, T * wide},       {&ws->dx, T * d},           {&ws->dh, T * wide},
        {&ws->dq, T * qdim},       {&ws->dk, T * kvdim},       {&ws->dv, T * kvdim},
        {&ws->da, T * f},          {&ws->db, T * f},           {&ws->dg, T * f},
        {&ws->rope_cos, T * (size_t)(c->head_dim / 2)},
        {&ws->rope_sin, T * (size_t)(c->head_dim / 2)},
        {&ws->att_scratch, rb_attention_scratch_floats(max_T, c->head_dim) * (size_t)threads},
        {&ws->att_bscratch, rb_attention_backward_scratch_floats(max_T) * (size_t)threads}};
    int n = (int)(sizeof all / sizeof *all);
    if (plan) memcpy(plan, all, sizeof all);
    return n;
}

enum { PLAN_MAX = 40 };

size_t rb_spin_ws_floats(const rb_config *cfg, int max_T) {
    rb_spin_ws ws;
    plan_entry plan[PLAN_MAX];
    int n = ws_plan(&ws, cfg, max_T, omp_get_max_threads(), plan);
    size_t total = 0;
    for (int i = 0; i < n; i++) total += plan[i].n;
    return total;
}

void rb_spin_ws_free(rb_spin_ws *ws) {
    plan_entry plan[PLAN_MAX];
    int n = ws_plan(ws, &ws->cfg, ws->max_T, ws->threads, plan);
    for (int i = 0; i < n; i++) {
        free(*plan[i].p);
        *plan[i].p = NULL;
    }
    free(ws->targets);
    free(ws->rope_freq);
    ws->targets = NULL;
    ws->rope_freq = NULL;
    ws->have_forward = 0;
}

int rb_spin_ws_init(rb_spin_ws *ws, const rb_config *c, int max_T, rb_error *err) {
    memset(ws, 0, sizeof *ws);
    if (max_T < 2 || max_T > (1 << 20))
        return rb_error_set(err, RB_EINVAL, "training window of %d tokens is outside 2..%d",
                            max_T, 1 << 20);
    ws->cfg = *c;
    ws->max_T = max_T;
    ws->threads = omp_get_max_threads();
    plan_entry plan[PLAN_MAX];
    int n = ws_plan(ws, c, max_T, ws->threads, plan), ok = 1;
    for (int i = 0; i < n; i++)
        ok &= (*plan[i].p = aligned_alloc(64, (plan[i].n * sizeof(float) + 63) / 64 * 64 + 64)) !=
              NULL;
    ws->targets = malloc(sizeof(int32_t) * (size_t)max_T);
    ws->rope_freq = malloc(sizeof(double) * (size_t)(c->head_dim > 0 ? c->head_dim : 1));
    if (!ok || !ws->targets || !ws->rope_freq) {
        rb_spin_ws_free(ws);
        return rb_error_set(err, RB_ENOMEM,
                            "cannot allocate SpinQuant training buffers for %d tokens (%zu MiB)",
                            max_T, rb_spin_ws_floats(c, max_T) * sizeof(float) >> 20);
    }
    rb_rope_tables_init(c, ws->rope_freq, ws->rope_cos, ws->rope_sin, max_T);
    return RB_OK;
}

/* ---- small products --------------------------------------------------------- */

/* C [m][n] = A [m][k] · op(B) (+ C when acc); B [k][n] or, transposed, [n][k]. */
static void mm(float *C, const float *A, const float *B, int m, int n, int k, int bt, int acc) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, bt ? CblasTrans : CblasNoTrans, m, n, k, 1.0f, A, k,
                B, bt ? k : n, acc ? 1.0f : 0.0f, C, n);
}

/* G [n][n] += Aᵀ·B for A, B [rows][n]: a rotation's gradient. */
static void acc_at_b(float *G, const float *A, const float *B, int rows, int n) {
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n, n, rows, 1.0f, A, n, B, n, 1.0f, G, n);
}

/* x [rows][n] ← x·Wᵀ through tmp (rb_layer_forward's dense online transform). */
static void dense_rows(float *x, size_t rows, int n, const float *W, float *tmp) {
    rb_linear(tmp, x, W, (int)rows, n, n);
    memcpy(x, tmp, sizeof(float) * rows * (size_t)n);
}

/* x [rows][n] ← x·W: its backward. */
static void dense_rows_backward(float *x, size_t rows, int n, const float *W, float *tmp) {
    mm(tmp, x, W, (int)rows, n, n, 0, 0);
    memcpy(x, tmp, sizeof(float) * rows * (size_t)n);
}

#define AT(ws, arr, l, width) ((ws)->arr + (size_t)(l) * (ws)->max_T * (size_t)(width))

/* ---- forward ---------------------------------------------------------------- */

/* A reader: h (the normed input, T×dim) through its hook, then u = h·R1ᵀ. */
static int reader_in(const rb_hooks *hooks, int layer, rb_act_point p, float *h, float *u,
                     const float *R1, int T, int dim, rb_error *err) {
    int rc = rb_hooks_activation(hooks, layer, p, h, T, dim, err);
    if (!rc) mm(u, h, R1, T, dim, dim, 1, 0);
    return rc;
}

static int layer_forward(const rb_model *m, rb_spin_ws *ws, int l, const float *R1,
                         const float *R2l, int T, const rb_hooks *hooks, rb_error *err) {
    const rb_config *c = &m->cfg;
    const rb_layer *L = &m->layers[l];
    const int dim = c->dim, hid = c->hidden_dim, hd = c->head_dim;
    const int nh = c->n_heads, nkv = c->n_kv_heads, qdim = nh * hd, kvdim = nkv * hd;
    float *x = ws->x, *u = ws->u;
    float *q = AT(ws, q, l, qdim), *k = AT(ws, k, l, kvdim), *v = AT(ws, v, l, kvdim);
    float *v0 = AT(ws, v0, l, kvdim), *att = AT(ws, att, l, qdim);
    float *h = AT(ws, h_attn, l, dim), *z = AT(ws, z_attn, l, dim);
    int rc;
    /* attention: readers wq, wk, wv */
    memcpy(AT(ws, x_attn, l, dim), x, sizeof(float) * (size_t)T * dim);
    rb_rmsnorm(h, x, L->attn_norm, T, dim, c->norm_eps);
    if ((rc = reader_in(hooks, l, RB_ACT_QKV_IN, h, u, R1, T, dim, err))) return rc;
    rb_linear(q, u, L->wq, T, dim, qdim);
    rb_linear(k, u, L->wk, T, dim, kvdim);
    rb_linear(v0, u, L->wv, T, dim, kvdim);
    if (c->qkv_bias) {
        rb_bias_add(q, L->bq, T, qdim);
        rb_bias_add(k, L->bk, T, kvdim);
        rb_bias_add(v0, L->bv, T, kvdim);
    }
    /* v' = v·R2 per kv head: the rows of v are [n_kv][hd] */
    mm(v, v0, R2l, T * nkv, hd, hd, 0, 0);
    rb_rope(q, T, nh, hd, 0, ws->rope_cos, ws->rope_sin);
    rb_rope(k, T, nkv, hd, 0, ws->rope_cos, ws->rope_sin);
    if (m->online.qk_hadamard &&
        ((rc = rb_hadamard_apply(q, (size_t)T * nh, hd, 1, err)) ||
         (rc = rb_hadamard_apply(k, (size_t)T * nkv, hd, 1, err))))
        return rb_error_prefix(err, "layer %d online q/k Hadamard: ", l);
    if (m->online.qk_dense) {
        const float *W = m->online.qk_dense + (size_t)l * hd * hd;
        dense_rows(q, (size_t)T * nh, hd, W, ws->t2);
        dense_rows(k, (size_t)T * nkv, hd, W, ws->t2);
    }
    if (hooks && hooks->qkv && (rc = hooks->qkv(hooks->ctx, l, q, k, v, T, c, err)))
        return rb_error_prefix(err, "layer %d qkv: ", l);
    rb_segment whole = {0, T, 0, 0, 0, 0};
    rb_attention_segments(att, q, k, v, &whole, 1, nh, nkv, hd, ws->att_scratch, ws->threads);
    if (m->online.o_head_hadamard && (rc = rb_hadamard_apply(att, (size_t)T, nh, hd, err)))
        return rb_error_prefix(err, "layer %d online head Hadamard: ", l);
    if ((rc = rb_hooks_activation(hooks, l, RB_ACT_O_IN, att, T, qdim, err))) return rc;
    /* writer wo: a'' = Q(a')·R2ᵀ per head, z = a''·Woᵀ, x' += z·R1 */
    mm(ws->t1, att, R2l, T * nh, hd, hd, 1, 0);
    rb_linear(z, ws->t1, L->wo, T, qdim, dim);
    mm(x, z, R1, T, dim, dim, 0, 1);
    /* feed-forward: readers w1, w3, writer w2 */
    h = AT(ws, h_ffn, l, dim), z = AT(ws, z_ffn, l, dim);
    float *a = AT(ws, a, l, hid), *b = AT(ws, b, l, hid), *g = ws->t1;
    memcpy(AT(ws, x_ffn, l, dim), x, sizeof(float) * (size_t)T * dim);
    rb_rmsnorm(h, x, L->ffn_norm, T, dim, c->norm_eps);
    if ((rc = reader_in(hooks, l, RB_ACT_GATE_UP_IN, h, u, R1, T, dim, err))) return rc;
    rb_linear(a, u, L->w1, T, dim, hid);
    rb_linear(b, u, L->w3, T, dim, hid);
    memcpy(g, a, sizeof(float) * (size_t)T * hid);
    rb_swiglu(g, b, (size_t)T * hid);
    if (m->online.down_hadamard && (rc = rb_hadamard_apply(g, (size_t)T, hid, 1, err)))
        return rb_error_prefix(err, "layer %d online down_proj Hadamard: ", l);
    if (m->online.down_dense)
        dense_rows(g, (size_t)T, hid, m->online.down_dense + (size_t)l * hid * hid, ws->t2);
    if ((rc = rb_hooks_activation(hooks, l, RB_ACT_DOWN_IN, g, T, hid, err))) return rc;
    rb_linear(z, g, L->w2, T, hid, dim);
    mm(x, z, R1, T, dim, dim, 0, 1);
    return RB_OK;
}

int rb_spin_forward(const rb_model *m, rb_spin_ws *ws, const float *R1, const float *R2,
                    const int32_t *tokens, int T, const rb_hooks *hooks, double *loss,
                    rb_error *err) {
    const rb_config *c = &m->cfg;
    ws->have_forward = 0;
    if (T < 2 || T > ws->max_T)
        return rb_error_set(err, RB_EINVAL, "training forward of %d tokens: window holds 2..%d",
                            T, ws->max_T);
    if (memcmp(c, &ws->cfg, sizeof *c))
        return rb_error_set(err, RB_EINVAL, "training buffers were made for another model shape");
    if (hooks && (hooks->weight || hooks->linear))
        return rb_error_set(err, RB_EINVAL,
                            "the rotated-activation forward multiplies by the base weights: it "
                            "cannot take weight or linear hooks");
    int rc = rb_forward_check_tokens(c, tokens, T, err);
    if (rc) return rc;
    const int dim = c->dim, hd = c->head_dim, V = c->vocab_size;
    rb_rope_tables_sync(m, ws->rope_freq, ws->rope_cos, ws->rope_sin, ws->max_T);
    ws->T = T;
    ws->R1 = R1;
    ws->R2 = R2;
    for (int t = 0; t < T; t++) ws->targets[t] = t + 1 < T ? tokens[t + 1] : -1;
    /* x'₀ = E[tok]·R1 */
    rb_forward_embed(m, tokens, T, ws->emb);
    mm(ws->x, ws->emb, R1, T, dim, dim, 0, 0);
    for (int l = 0; l < c->n_layers; l++)
        if ((rc = layer_forward(m, ws, l, R1, R2 + (size_t)l * hd * hd, T, hooks, err)))
            return rc;
    /* the classifier, a reader */
    memcpy(ws->x_final, ws->x, sizeof(float) * (size_t)T * dim);
    rb_rmsnorm(ws->h_final, ws->x, m->final_norm, T, dim, c->norm_eps);
    if ((rc = reader_in(hooks, c->n_layers, RB_ACT_CLASSIFIER_IN, ws->h_final, ws->u, R1, T, dim,
                        err)))
        return rc;
    rb_linear(ws->logits, ws->u, m->classifier, T, dim, V);
    double total = rb_softmax_xent_backward(ws->dlogits, ws->logits, ws->targets, T, V,
                                            1.0f / (float)(T - 1));
    *loss = total / (T - 1);
    ws->have_forward = 1;
    return RB_OK;
}

/* ---- backward --------------------------------------------------------------- */

/* The backward of a reader whose input gradient du [T][dim] is complete:
 * dR1 += duᵀ·h, dh = du·R1, then the RMSNorm's backward into dx. */
static void reader_backward(rb_spin_ws *ws, const float *h, const float *x_in, const float *norm,
                            float *gR1, int T, int dim, float eps) {
    acc_at_b(gR1, ws->u, h, T, dim); /* du is in ws->u */
    mm(ws->dh, ws->u, ws->R1, T, dim, dim, 0, 0);
    rb_rmsnorm_backward(ws->dx, NULL, ws->dh, x_in, norm, T, dim, eps);
}

/* The backward of a writer x' += z·R1: dR1 += zᵀ·dx', dz = dx'·R1ᵀ (into out). */
static void writer_backward(rb_spin_ws *ws, const float *z, float *out, float *gR1, int T,
                            int dim) {
    acc_at_b(gR1, z, ws->dx, T, dim);
    mm(out, ws->dx, ws->R1, T, dim, dim, 1, 0);
}

int rb_spin_backward(const rb_model *m, rb_spin_ws *ws, float scale, float *gR1, float *gR2,
                     rb_error *err) {
    const rb_config *c = &m->cfg;
    if (!ws->have_forward) return rb_error_set(err, RB_EINVAL, "backward without a forward");
    if (memcmp(c, &ws->cfg, sizeof *c))
        return rb_error_set(err, RB_EINVAL, "training buffers were made for another model shape");
    const int T = ws->T, dim = c->dim, hid = c->hidden_dim, hd = c->head_dim, V = c->vocab_size;
    const int nh = c->n_heads, nkv = c->n_kv_heads, qdim = nh * hd, kvdim = nkv * hd;
    const float eps = c->norm_eps;
    int rc;
    if (scale != 1.0f) cblas_sscal(T * V, scale, ws->dlogits, 1);
    /* classifier: du = dlogits·Cls */
    rb_linear_backward(ws->u, NULL, ws->dlogits, NULL, m->classifier, T, dim, V, 0);
    memset(ws->dx, 0, sizeof(float) * (size_t)T * dim);
    reader_backward(ws, ws->h_final, ws->x_final, m->final_norm, gR1, T, dim, eps);
    for (int l = c->n_layers - 1; l >= 0; l--) {
        const rb_layer *L = &m->layers[l];
        const float *R2l = ws->R2 + (size_t)l * hd * hd;
        float *gR2l = gR2 + (size_t)l * hd * hd;
        /* FFN: x' += (g·W2ᵀ)·R1, g = online(silu(a)·b), a, b = u·W1ᵀ, u·W3ᵀ */
        writer_backward(ws, AT(ws, z_ffn, l, dim), ws->t1, gR1, T, dim);
        rb_linear_backward(ws->dg, NULL, ws->t1, NULL, L->w2, T, hid, dim, 0);
        if (m->online.down_dense)
            dense_rows_backward(ws->dg, (size_t)T, hid,
                                m->online.down_dense + (size_t)l * hid * hid, ws->t2);
        if (m->online.down_hadamard && (rc = rb_hadamard_apply_t(ws->dg, (size_t)T, hid, 1, err)))
            return rb_error_prefix(err, "layer %d online down_proj Hadamard: ", l);
        rb_swiglu_backward(ws->da, ws->db, ws->dg, AT(ws, a, l, hid), AT(ws, b, l, hid),
                           (size_t)T * hid);
        rb_linear_backward(ws->u, NULL, ws->da, NULL, L->w1, T, dim, hid, 0);
        rb_linear_backward(ws->u, NULL, ws->db, NULL, L->w3, T, dim, hid, 1);
        reader_backward(ws, AT(ws, h_ffn, l, dim), AT(ws, x_ffn, l, dim), L->ffn_norm, gR1, T,
                        dim, eps);
        /* attention: x' += ((Q(a')·R2ᵀ)·Woᵀ)·R1 */
        writer_backward(ws, AT(ws, z_attn, l, dim), ws->t1, gR1, T, dim);
        rb_linear_backward(ws->t2, NULL, ws->t1, NULL, L->wo, T, qdim, dim, 0); /* da'' */
        acc_at_b(gR2l, ws->t2, AT(ws, att, l, qdim), T * nh, hd);
        mm(ws->t1, ws->t2, R2l, T * nh, hd, hd, 0, 0); /* da' = da''·R2 */
        if (m->online.o_head_hadamard &&
            (rc = rb_hadamard_apply_t(ws->t1, (size_t)T, nh, hd, err)))
            return rb_error_prefix(err, "layer %d online head Hadamard: ", l);
        rb_attention_backward(ws->dq, ws->dk, ws->dv, ws->t1, AT(ws, q, l, qdim),
                              AT(ws, k, l, kvdim), AT(ws, v, l, kvdim), T, nh, nkv, hd,
                              ws->att_bscratch, ws->threads);
        if (m->online.qk_dense) {
            const float *W = m->online.qk_dense + (size_t)l * hd * hd;
            dense_rows_backward(ws->dq, (size_t)T * nh, hd, W, ws->t2);
            dense_rows_backward(ws->dk, (size_t)T * nkv, hd, W, ws->t2);
        }
        if (m->online.qk_hadamard &&
            ((rc = rb_hadamard_apply_t(ws->dq, (size_t)T * nh, hd, 1, err)) ||
             (rc = rb_hadamard_apply_t(ws->dk, (size_t)T * nkv, hd, 1, err))))
            return rb_error_prefix(err, "layer %d online q/k Hadamard: ", l);
        rb_rope_backward(ws->dq, T, nh, hd, 0, ws->rope_cos, ws->rope_sin);
        rb_rope_backward(ws->dk, T, nkv, hd, 0, ws->rope_cos, ws->rope_sin);
        /* v' = v·R2: dR2 += vᵀ·dv', dv = dv'·R2ᵀ (into t2) */
        acc_at_b(gR2l, AT(ws, v0, l, kvdim), ws->dv, T * nkv, hd);
        mm(ws->t2, ws->dv, R2l, T * nkv, hd, hd, 1, 0);
        rb_linear_backward(ws->u, NULL, ws->dq, NULL, L->wq, T, dim, qdim, 0);
        rb_linear_backward(ws->u, NULL, ws->dk, NULL, L->wk, T, dim, kvdim, 1);
        rb_linear_backward(ws->u, NULL, ws->t2, NULL, L->wv, T, dim, kvdim, 1);
        reader_backward(ws, AT(ws, h_attn, l, dim), AT(ws, x_attn, l, dim), L->attn_norm, gR1, T,
                        dim, eps);
    }
    /* x'₀ = e·R1 */
    acc_at_b(gR1, ws->emb, ws->dx, T, dim);
    ws->have_forward = 0;
    return RB_OK;
}
