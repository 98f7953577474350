/* Training forward and backward (core/train.h).  The backward mirrors the
 * forward line by line, in reverse. */
#include "core/train.h"

#include <cblas.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/hadamard.h"
#include "kernels/linear.h"
#include "kernels/ops.h"
#include "kernels/ops_backward.h"

/* ---- gradients ---------------------------------------------------------- */

void rb_grads_free(rb_grads *g) {
    free(g->arena);
    free(g->layers);
    memset(g, 0, sizeof *g);
}

int rb_grads_init(rb_grads *g, const rb_config *c, rb_error *err) {
    memset(g, 0, sizeof *g);
    g->cfg = *c;
    size_t dim = (size_t)c->dim, hid = (size_t)c->hidden_dim, V = (size_t)c->vocab_size;
    size_t qdim = (size_t)c->n_heads * c->head_dim, kvdim = (size_t)c->n_kv_heads * c->head_dim;
    size_t per_layer = 2 * dim + 2 * qdim * dim + 2 * kvdim * dim + 3 * hid * dim;
    if (c->qkv_bias) per_layer += qdim + 2 * kvdim;
    g->n_floats = 2 * V * dim + dim + per_layer * (size_t)c->n_layers;
    g->arena = calloc(g->n_floats, sizeof(float));
    g->layers = calloc((size_t)c->n_layers, sizeof *g->layers);
    if (!g->arena || !g->layers) {
        rb_grads_free(g);
        return rb_error_set(err, RB_ENOMEM, "cannot allocate gradients (%zu floats)",
                            (size_t)(2 * V * dim + per_layer * (size_t)c->n_layers));
    }
    float *p = g->arena;
    g->token_embedding = p, p += V * dim;
    g->classifier = p, p += V * dim;
    g->final_norm = p, p += dim;
    for (int l = 0; l < c->n_layers; l++) {
        rb_layer *L = &g->layers[l];
        L->attn_norm = p, p += dim;
        L->ffn_norm = p, p += dim;
        L->wq = p, p += qdim * dim;
        L->wk = p, p += kvdim * dim;
        L->wv = p, p += kvdim * dim;
        L->wo = p, p += qdim * dim;
        L->w1 = p, p += hid * dim;
        L->w2 = p, p += hid * dim;
        L->w3 = p, p += hid * dim;
        if (!c->qkv_bias) continue;
        L->bq = p, p += qdim;
        L->bk = p, p += kvdim;
        L->bv = p, p += kvdim;
    }
    return RB_OK;
}

void rb_grads_zero(rb_grads *g) { memset(g->arena, 0, sizeof(float) * g->n_floats); }

rb_weight_view rb_grads_weight(const rb_grads *g, int layer, rb_linear_id id) {
    const rb_config *c = &g->cfg;
    if (layer == c->n_layers) return (rb_weight_view){g->classifier, c->vocab_size, c->dim};
    rb_model view = {.cfg = *c, .layers = g->layers}; /* same shapes, gradient pointers */
    return rb_model_weight(&view, layer, id);
}

/* ---- workspace ---------------------------------------------------------- */

void rb_train_ws_free(rb_train_ws *ws) {
    float **bufs[] = {&ws->x_attn, &ws->h_attn, &ws->q, &ws->k, &ws->v, &ws->att, &ws->x_ffn,
                      &ws->h_ffn, &ws->a, &ws->b, &ws->g, &ws->x, &ws->x_final, &ws->h_final,
                      &ws->logits, &ws->dx, &ws->dh, &ws->dq, &ws->dk, &ws->dv, &ws->datt,
                      &ws->da, &ws->db, &ws->dg, &ws->dlogits, &ws->tmp, &ws->rope_cos,
                      &ws->rope_sin, &ws->att_scratch, &ws->att_bscratch};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) {
        free(*bufs[i]);
        *bufs[i] = NULL;
    }
    free(ws->tokens);
    free(ws->targets);
    free(ws->w_eff);
    free(ws->rope_freq);
    ws->tokens = ws->targets = NULL;
    ws->w_eff = NULL;
    ws->rope_freq = NULL;
}

int rb_train_ws_init(rb_train_ws *ws, const rb_config *c, int max_T, rb_error *err) {
    memset(ws, 0, sizeof *ws);
    if (max_T < 2 || max_T > (1 << 20))
        return rb_error_set(err, RB_EINVAL, "training window of %d tokens is outside 2..%d",
                            max_T, 1 << 20);
    ws->cfg = *c;
    ws->max_T = max_T;
    ws->threads = omp_get_max_threads();
    size_t T = (size_t)max_T, L = (size_t)c->n_layers, dim = (size_t)c->dim;
    size_t hid = (size_t)c->hidden_dim, V = (size_t)c->vocab_size;
    size_t qdim = (size_t)c->n_heads * c->head_dim, kvdim = (size_t)c->n_kv_heads * c->head_dim;
    size_t wide = dim > qdim ? dim : qdim;
    wide = wide > hid ? wide : hid;
    struct { float **p; size_t n; } plan[] = {
        {&ws->x_attn, L * T * dim}, {&ws->h_attn, L * T * dim}, {&ws->q, L * T * qdim},
        {&ws->k, L * T * kvdim}, {&ws->v, L * T * kvdim}, {&ws->att, L * T * qdim},
        {&ws->x_ffn, L * T * dim}, {&ws->h_ffn, L * T * dim}, {&ws->a, L * T * hid},
        {&ws->b, L * T * hid}, {&ws->g, L * T * hid}, {&ws->x, T * dim},
        {&ws->x_final, T * dim}, {&ws->h_final, T * dim}, {&ws->logits, T * V},
        {&ws->dx, T * dim}, {&ws->dh, T * dim}, {&ws->dq, T * qdim}, {&ws->dk, T * kvdim},
        {&ws->dv, T * kvdim}, {&ws->datt, T * qdim}, {&ws->da, T * hid}, {&ws->db, T * hid},
        {&ws->dg, T * hid}, {&ws->dlogits, T * V}, {&ws->tmp, T * wide},
        {&ws->rope_cos, T * (c->head_dim / 2)}, {&ws->rope_sin, T * (c->head_dim / 2)},
        {&ws->att_scratch, rb_attention_scratch_floats(max_T, c->head_dim) * ws->threads},
        {&ws->att_bscratch, rb_attention_backward_scratch_floats(max_T) * ws->threads}};
    int ok = 1;
    for (size_t i = 0; i < sizeof plan / sizeof *plan; i++)
        ok &= (*plan[i].p = aligned_alloc(64, (plan[i].n * sizeof(float) + 63) / 64 * 64)) != NULL;
    ws->tokens = malloc(sizeof(int32_t) * T);
    ws->targets = malloc(sizeof(int32_t) * T);
    ws->w_eff = calloc(L * RB_LINEAR_COUNT + 1, sizeof *ws->w_eff);
    ws->rope_freq = malloc(sizeof(double) * (size_t)(c->head_dim > 0 ? c->head_dim : 1));
    if (!ok || !ws->tokens || !ws->targets || !ws->w_eff || !ws->rope_freq) {
        rb_train_ws_free(ws);
        return rb_error_set(err, RB_ENOMEM, "cannot allocate training buffers for %d tokens",
                            max_T);
    }
    rb_rope_tables_init(c, ws->rope_freq, ws->rope_cos, ws->rope_sin, max_T);
    return RB_OK;
}

/* ---- forward ------------------------------------------------------------ */

/* x [rows][n] ← x·W: the backward of the forward's x ← x·Wᵀ, through tmp. */
static void dense_rows_backward(float *x, size_t rows, int n, const float *W, float *tmp) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, n, n, 1.0f, x, n, W, n,
                0.0f, tmp, n);
    memcpy(x, tmp, sizeof(float) * rows * (size_t)n);
}

/* Saved array of layer l: base + l·max_T·width. */
#define AT(ws, arr, l, width) ((ws)->arr + (size_t)(l) * (ws)->max_T * (size_t)(width))

int rb_train_forward(const rb_model *m, rb_train_ws *ws, const int32_t *tokens, int T,
                     const rb_hooks *hooks, double *loss, rb_error *err) {
    const rb_config *c = &m->cfg;
    ws->have_forward = 0;
    if (T < 2 || T > ws->max_T)
        return rb_error_set(err, RB_EINVAL, "training forward of %d tokens: window holds 2..%d",
                            T, ws->max_T);
    if (memcmp(c, &ws->cfg, sizeof *c))
        return rb_error_set(err, RB_EINVAL, "training buffers were made for another model shape");
    const int dim = c->dim, hid = c->hidden_dim, hd = c->head_dim;
    const int qdim = c->n_heads * hd, kvdim = c->n_kv_heads * hd;
    int rc = rb_forward_check_tokens(c, tokens, T, err);
    if (rc) return rc;
    rb_rope_tables_sync(m, ws->rope_freq, ws->rope_cos, ws->rope_sin, ws->max_T);
    ws->T = T;
    memcpy(ws->tokens, tokens, sizeof(int32_t) * T);
    for (int t = 0; t < T; t++) ws->targets[t] = t + 1 < T ? tokens[t + 1] : -1;
    rb_forward_embed(m, tokens, T, ws->x);
    rb_segment whole = {0, T, 0, 0, 0, 0};
    for (int l = 0; l < c->n_layers; l++) {
        /* every layer keeps its own activations for the backward */
        rb_layer_bufs b = {.x = ws->x, .x_attn = AT(ws, x_attn, l, dim),
                           .x_ffn = AT(ws, x_ffn, l, dim), .h_attn = AT(ws, h_attn, l, dim),
                           .h_ffn = AT(ws, h_ffn, l, dim), .q = AT(ws, q, l, qdim),
                           .k = AT(ws, k, l, kvdim), .v = AT(ws, v, l, kvdim),
                           .att = AT(ws, att, l, qdim), .a = AT(ws, a, l, hid),
                           .b = AT(ws, b, l, hid), .g = AT(ws, g, l, hid), .tmp_qk = ws->tmp,
                           .tmp_down = ws->tmp, .rope_cos = ws->rope_cos,
                           .rope_sin = ws->rope_sin, .att_scratch = ws->att_scratch,
                           .threads = ws->threads,
                           .w_used = ws->w_eff + (size_t)l * RB_LINEAR_COUNT};
        if ((rc = rb_layer_forward(m, l, &b, T, &whole, 1, hooks, err))) return rc;
    }
    memcpy(ws->x_final, ws->x, sizeof(float) * (size_t)T * dim);
    if ((rc = rb_forward_head(m, ws->x, ws->h_final, ws->logits, T, hooks,
                              &ws->w_eff[(size_t)c->n_layers * RB_LINEAR_COUNT], err)))
        return rc;
    /* the loss and its gradient in one pass; scale 1/(T−1) makes it the mean */
    double total = rb_softmax_xent_backward(ws->dlogits, ws->logits, ws->targets, T,
                                            c->vocab_size, 1.0f / (float)(T - 1));
    *loss = total / (T - 1);
    ws->have_forward = 1;
    return RB_OK;
}

/* ---- backward ----------------------------------------------------------- */

int rb_train_backward(const rb_model *m, rb_train_ws *ws, float scale, rb_grads *gr,
                      rb_error *err) {
    const rb_config *c = &m->cfg;
    if (!ws->have_forward)
        return rb_error_set(err, RB_EINVAL, "backward without a training forward");
    if (memcmp(c, &gr->cfg, sizeof *c))
        return rb_error_set(err, RB_EINVAL, "gradients were made for another model shape");
    const int T = ws->T, dim = c->dim, hid = c->hidden_dim, hd = c->head_dim, V = c->vocab_size;
    const int qdim = c->n_heads * hd, kvdim = c->n_kv_heads * hd;
    int rc;
    float *dx = ws->dx, *dh = ws->dh;
    /* dlogits holds the gradient of the mean NLL (rb_train_forward); scaled here */
    if (scale != 1.0f) cblas_sscal(T * V, scale, ws->dlogits, 1);
    const float *cls = ws->w_eff[(size_t)c->n_layers * RB_LINEAR_COUNT];
    rb_linear_backward(dh, gr->classifier, ws->dlogits, ws->h_final, cls, T, dim, V, 0);
    memset(dx, 0, sizeof(float) * (size_t)T * dim);
    rb_rmsnorm_backward(dx, gr->final_norm, dh, ws->x_final, m->final_norm, T, dim, c->norm_eps);
    for (int l = c->n_layers - 1; l >= 0; l--) {
        const rb_layer *L = &m->layers[l];
        rb_layer *G = &gr->layers[l];
        const float *const *w = ws->w_eff + (size_t)l * RB_LINEAR_COUNT;
        /* FFN: x += g·W2ᵀ, g = online(silu(a)·b), a = h2·W1ᵀ, b = h2·W3ᵀ */
        float *xf = AT(ws, x_ffn, l, dim), *h2 = AT(ws, h_ffn, l, dim);
        float *a = AT(ws, a, l, hid), *b = AT(ws, b, l, hid), *g = AT(ws, g, l, hid);
        rb_linear_backward(ws->dg, G->w2, dx, g, w[RB_W2], T, hid, dim, 0);
        if (m->online.down_dense)
            dense_rows_backward(ws->dg, (size_t)T, hid,
                                m->online.down_dense + (size_t)l * hid * hid, ws->tmp);
        if (m->online.down_hadamard && (rc = rb_hadamard_apply_t(ws->dg, (size_t)T, hid, 1, err)))
            return rb_error_prefix(err, "layer %d online down_proj Hadamard: ", l);
        rb_swiglu_backward(ws->da, ws->db, ws->dg, a, b, (size_t)T * hid);
        rb_linear_backward(dh, G->w1, ws->da, h2, w[RB_W1], T, dim, hid, 0);
        rb_linear_backward(dh, G->w3, ws->db, h2, w[RB_W3], T, dim, hid, 1);
        rb_rmsnorm_backward(dx, G->ffn_norm, dh, xf, L->ffn_norm, T, dim, c->norm_eps);

        /* attention: x += att·Woᵀ, att = online(attention(q, k, v)) */
        float *xa = AT(ws, x_attn, l, dim), *h = AT(ws, h_attn, l, dim);
        float *q = AT(ws, q, l, qdim), *k = AT(ws, k, l, kvdim), *v = AT(ws, v, l, kvdim);
        float *att = AT(ws, att, l, qdim);
        rb_linear_backward(ws->datt, G->wo, dx, att, w[RB_WO], T, qdim, dim, 0);
        if (m->online.o_head_hadamard &&
            (rc = rb_hadamard_apply_t(ws->datt, (size_t)T, c->n_heads, hd, err)))
            return rb_error_prefix(err, "layer %d online head Hadamard: ", l);
        rb_attention_backward(ws->dq, ws->dk, ws->dv, ws->datt, q, k, v, T, c->n_heads,
                              c->n_kv_heads, hd, ws->att_bscratch, ws->threads);
        if (m->online.qk_dense) {
            const float *W = m->online.qk_dense + (size_t)l * hd * hd;
            dense_rows_backward(ws->dq, (size_t)T * c->n_heads, hd, W, ws->tmp);
            dense_rows_backward(ws->dk, (size_t)T * c->n_kv_heads, hd, W, ws->tmp);
        }
        if (m->online.qk_hadamard &&
            ((rc = rb_hadamard_apply_t(ws->dq, (size_t)T * c->n_heads, hd, 1, err)) ||
             (rc = rb_hadamard_apply_t(ws->dk, (size_t)T * c->n_kv_heads, hd, 1, err))))
            return rb_error_prefix(err, "layer %d online q/k Hadamard: ", l);
        rb_rope_backward(ws->dq, T, c->n_heads, hd, 0, ws->rope_cos, ws->rope_sin);
        rb_rope_backward(ws->dk, T, c->n_kv_heads, hd, 0, ws->rope_cos, ws->rope_sin);
        if (c->qkv_bias) { /* q = h·Wqᵀ + bq, ... before RoPE */
            rb_bias_backward(G->bq, ws->dq, T, qdim);
            rb_bias_backward(G->bk, ws->dk, T, kvdim);
            rb_bias_backward(G->bv, ws->dv, T, kvdim);
        }
        rb_linear_backward(dh, G->wq, ws->dq, h, w[RB_WQ], T, dim, qdim, 0);
        rb_linear_backward(dh, G->wk, ws->dk, h, w[RB_WK], T, dim, kvdim, 1);
        rb_linear_backward(dh, G->wv, ws->dv, h, w[RB_WV], T, dim, kvdim, 1);
        rb_rmsnorm_backward(dx, G->attn_norm, dh, xa, L->attn_norm, T, dim, c->norm_eps);
    }
    for (int t = 0; t < T; t++) {
        float *row = gr->token_embedding + (size_t)ws->tokens[t] * dim;
        const float *d = dx + (size_t)t * dim;
        for (int i = 0; i < dim; i++) row[i] += d[i];
    }
    ws->have_forward = 0;
    return RB_OK;
}
