#include "core/forward.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/hadamard.h"
#include "kernels/linear.h"
#include "kernels/ops.h"

static const char *const point_names[RB_ACT_POINT_COUNT] = {"qkv_in", "o_in", "gate_up_in",
                                                            "down_in", "classifier_in"};

const char *rb_act_point_name(rb_act_point p) {
    return p >= 0 && p < RB_ACT_POINT_COUNT ? point_names[p] : "?";
}

void rb_workspace_free(rb_workspace *ws) {
    float **bufs[] = {&ws->x, &ws->xb, &ws->q, &ws->k, &ws->v, &ws->att, &ws->hb,
                      &ws->hb2, &ws->logits, &ws->rope_cos, &ws->rope_sin, &ws->att_scratch};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) {
        free(*bufs[i]);
        *bufs[i] = NULL;
    }
    free(ws->rope_freq);
    ws->rope_freq = NULL;
}

void rb_rope_freqs(const rb_config *c, const float *freq_factors, double *freq) {
    int hd = c->head_dim;
    rb_rope_freqs_default(freq, hd, c->rope_theta);
    switch (c->rope_scaling) {
    case RB_ROPE_SCALING_LINEAR: rb_rope_freqs_linear(freq, hd, c->rope_factor); break;
    case RB_ROPE_SCALING_LLAMA3:
        rb_rope_freqs_llama3(freq, hd, c->rope_factor, c->rope_low_freq_factor,
                             c->rope_high_freq_factor, c->rope_orig_max_pos);
        break;
    case RB_ROPE_SCALING_FREQ_FACTORS:
        if (freq_factors) rb_rope_freqs_divide(freq, hd, freq_factors);
        break;
    default: break;
    }
}

void rb_rope_tables_init(const rb_config *c, double *freq, float *cos_tab, float *sin_tab,
                         int max_pos) {
    rb_rope_freqs(c, NULL, freq);
    rb_rope_table_freqs(cos_tab, sin_tab, max_pos, c->head_dim, freq);
}

void rb_rope_tables_sync(const rb_model *m, double *freq, float *cos_tab, float *sin_tab,
                         int max_pos) {
    int half = m->cfg.head_dim / 2;
    double *now = freq + half;
    rb_rope_freqs(&m->cfg, m->rope_freq_factors, now);
    if (memcmp(now, freq, sizeof(double) * (size_t)half) == 0) return;
    memcpy(freq, now, sizeof(double) * (size_t)half);
    rb_rope_table_freqs(cos_tab, sin_tab, max_pos, m->cfg.head_dim, freq);
}

int rb_workspace_init(rb_workspace *ws, const rb_config *c, int max_T, rb_error *err) {
    memset(ws, 0, sizeof *ws);
    if (max_T < 1 || max_T > (1 << 20))
        return rb_error_set(err, RB_EINVAL, "window of %d tokens is outside 1..%d", max_T, 1 << 20);
    ws->max_T = max_T;
    ws->threads = omp_get_max_threads();
    size_t T = (size_t)max_T, qdim = (size_t)c->n_heads * c->head_dim;
    size_t kvdim = (size_t)c->n_kv_heads * c->head_dim;
    size_t wide = (size_t)c->dim > qdim ? (size_t)c->dim : qdim;
    struct { float **p; size_t n; } plan[] = {
        {&ws->x, T * c->dim}, {&ws->xb, T * wide}, {&ws->q, T * qdim}, {&ws->k, T * kvdim},
        {&ws->v, T * kvdim}, {&ws->att, T * qdim}, {&ws->hb, T * c->hidden_dim},
        {&ws->hb2, T * c->hidden_dim}, {&ws->logits, T * c->vocab_size},
        {&ws->rope_cos, T * (c->head_dim / 2)}, {&ws->rope_sin, T * (c->head_dim / 2)},
        {&ws->att_scratch, rb_attention_scratch_floats(max_T, c->head_dim) * ws->threads}};
    for (size_t i = 0; i < sizeof plan / sizeof *plan; i++) {
        *plan[i].p = aligned_alloc(64, ((plan[i].n * sizeof(float)) + 63) / 64 * 64);
        if (!*plan[i].p) {
            rb_workspace_free(ws);
            return rb_error_set(err, RB_ENOMEM, "cannot allocate forward buffers for %d tokens",
                                max_T);
        }
    }
    if (!(ws->rope_freq = malloc(sizeof(double) * (size_t)(c->head_dim > 0 ? c->head_dim : 1)))) {
        rb_workspace_free(ws);
        return rb_error_set(err, RB_ENOMEM, "cannot allocate forward buffers for %d tokens",
                            max_T);
    }
    rb_rope_tables_init(c, ws->rope_freq, ws->rope_cos, ws->rope_sin, max_T);
    return RB_OK;
}

rb_act_point rb_linear_input(rb_linear_id id) {
    static const rb_act_point input_of[RB_LINEAR_COUNT] = {
        RB_ACT_QKV_IN,     RB_ACT_QKV_IN,  RB_ACT_QKV_IN,    RB_ACT_O_IN,
        RB_ACT_GATE_UP_IN, RB_ACT_DOWN_IN, RB_ACT_GATE_UP_IN};
    return id < RB_LINEAR_COUNT ? input_of[id] : RB_ACT_CLASSIFIER_IN;
}

int rb_hooks_activation(const rb_hooks *h, int layer, rb_act_point p, float *x, int rows,
                        int cols, rb_error *err) {
    if (!h || !h->activation) return RB_OK;
    int rc = h->activation(h->ctx, layer, p, x, rows, cols, err);
    if (rc) rb_error_prefix(err, "layer %d %s: ", layer, point_names[p]);
    return rc;
}

const float *rb_hooks_weight(const rb_hooks *h, int layer, rb_linear_id id, const float *w) {
    return h && h->weight ? h->weight(h->ctx, layer, id, w) : w;
}

int rb_hooks_linear(const rb_hooks *h, int layer, rb_linear_id id, float *y, const float *x,
                    const float *w, int T, int n_in, int n_out, int accumulate, rb_error *err) {
    if (!h || !h->linear) {
        (accumulate ? rb_linear_acc : rb_linear)(y, x, w, T, n_in, n_out);
        return RB_OK;
    }
    int rc = h->linear(h->ctx, layer, id, y, x, w, T, n_in, n_out, accumulate, err);
    if (rc)
        rb_error_prefix(err, "layer %d %s: ", layer,
                        id == RB_LINEAR_COUNT ? "classifier" : rb_linear_name(id));
    return rc;
}

/* x [rows][n] ← x·Wᵀ (W [n][n]) through tmp [rows][n]. */
static void dense_rows(float *x, size_t rows, int n, const float *W, float *tmp) {
    rb_linear(tmp, x, W, (int)rows, n, n);
    memcpy(x, tmp, sizeof(float) * rows * (size_t)n);
}

/* Segments must tile [0, T) in order; a prefix is the beginning of an earlier
 * segment that has no prefix itself (so its positions are 0..prefix_len-1),
 * a second prefix part the beginning of an earlier segment whose only prefix
 * is the same first part (positions prefix_len..). */
static int check_segments(const rb_segment *seg, int n_seg, int T, rb_error *err) {
    int next = 0;
    for (int i = 0; i < n_seg; i++) {
        const rb_segment *s = &seg[i];
        if (s->start != next || s->len < 1 || s->start + s->len > T)
            return rb_error_set(err, RB_EINVAL,
                                "segment %d [%d, +%d) does not continue the tiling of the %d-token "
                                "window at %d",
                                i, s->start, s->len, T, next);
        next += s->len;
        if (s->prefix_len == 0 && s->prefix2_len != 0)
            return rb_error_set(err, RB_EINVAL, "segment %d: a second prefix without a first", i);
        if (s->prefix_len == 0) continue;
        int ok = 0;
        for (int j = 0; j < i && !ok; j++)
            ok = seg[j].prefix_len == 0 && seg[j].start == s->prefix_start &&
                 s->prefix_len > 0 && s->prefix_len <= seg[j].len;
        if (!ok)
            return rb_error_set(err, RB_EINVAL,
                                "segment %d: prefix [%d, +%d) is not the beginning of an earlier "
                                "segment without a prefix",
                                i, s->prefix_start, s->prefix_len);
        if (s->prefix2_len == 0) continue;
        ok = 0;
        for (int j = 0; j < i && !ok; j++)
            ok = seg[j].prefix2_len == 0 && seg[j].start == s->prefix2_start &&
                 seg[j].prefix_start == s->prefix_start && seg[j].prefix_len == s->prefix_len &&
                 s->prefix2_len > 0 && s->prefix2_len <= seg[j].len;
        if (!ok)
            return rb_error_set(err, RB_EINVAL,
                                "segment %d: second prefix [%d, +%d) is not the beginning of an "
                                "earlier segment with the same first prefix [%d, +%d)",
                                i, s->prefix2_start, s->prefix2_len, s->prefix_start,
                                s->prefix_len);
    }
    if (next != T)
        return rb_error_set(err, RB_EINVAL, "segments cover %d of the window's %d tokens", next, T);
    return RB_OK;
}

int rb_forward(const rb_model *m, rb_workspace *ws, const int32_t *tokens, int T,
               const rb_hooks *hooks, rb_error *err) {
    rb_segment whole = {0, T, 0, 0, 0, 0};
    return rb_forward_segments(m, ws, tokens, T, &whole, 1, hooks, err);
}

int rb_forward_check_tokens(const rb_config *c, const int32_t *tokens, int T, rb_error *err) {
    for (int t = 0; t < T; t++)
        if (tokens[t] < 0 || tokens[t] >= c->vocab_size)
            return rb_error_set(err, RB_EINVAL, "token %d at position %d is outside 0..%d",
                                tokens[t], t, c->vocab_size - 1);
    return RB_OK;
}

void rb_forward_embed(const rb_model *m, const int32_t *tokens, int T, float *x) {
    int dim = m->cfg.dim;
    for (int t = 0; t < T; t++)
        memcpy(x + (size_t)t * dim, m->token_embedding + (size_t)tokens[t] * dim,
               sizeof(float) * dim);
}

int rb_forward_head(const rb_model *m, const float *x, float *h, float *logits, int T,
                    const rb_hooks *hooks, const float **cls_used, rb_error *err) {
    const rb_config *c = &m->cfg;
    rb_rmsnorm(h, x, m->final_norm, T, c->dim, c->norm_eps);
    int rc = rb_hooks_activation(hooks, c->n_layers, RB_ACT_CLASSIFIER_IN, h, T, c->dim, err);
    if (rc) return rc;
    const float *cls = rb_hooks_weight(hooks, c->n_layers, RB_LINEAR_COUNT, m->classifier);
    if (cls_used) *cls_used = cls;
    return rb_hooks_linear(hooks, c->n_layers, RB_LINEAR_COUNT, logits, h, cls, T, c->dim,
                           c->vocab_size, 0, err);
}

int rb_layer_forward(const rb_model *m, int l, const rb_layer_bufs *b, int T,
                     const rb_segment *seg, int n_seg, const rb_hooks *hooks, rb_error *err) {
    const rb_config *c = &m->cfg;
    const rb_layer *L = &m->layers[l];
    const int dim = c->dim, hid = c->hidden_dim, hd = c->head_dim;
    const int qdim = c->n_heads * hd, kvdim = c->n_kv_heads * hd;
    const size_t nx = sizeof(float) * (size_t)T * dim;
    const float *w[RB_LINEAR_COUNT];
    int rc;
    /* attention */
    if (b->x_attn) memcpy(b->x_attn, b->x, nx);
    rb_rmsnorm(b->h_attn, b->x, L->attn_norm, T, dim, c->norm_eps);
    if ((rc = rb_hooks_activation(hooks, l, RB_ACT_QKV_IN, b->h_attn, T, dim, err))) return rc;
    w[RB_WQ] = rb_hooks_weight(hooks, l, RB_WQ, L->wq);
    w[RB_WK] = rb_hooks_weight(hooks, l, RB_WK, L->wk);
    w[RB_WV] = rb_hooks_weight(hooks, l, RB_WV, L->wv);
    if ((rc = rb_hooks_linear(hooks, l, RB_WQ, b->q, b->h_attn, w[RB_WQ], T, dim, qdim, 0, err)) ||
        (rc = rb_hooks_linear(hooks, l, RB_WK, b->k, b->h_attn, w[RB_WK], T, dim, kvdim, 0, err)) ||
        (rc = rb_hooks_linear(hooks, l, RB_WV, b->v, b->h_attn, w[RB_WV], T, dim, kvdim, 0, err)))
        return rc;
    if (c->qkv_bias) {
        rb_bias_add(b->q, L->bq, T, qdim);
        rb_bias_add(b->k, L->bk, T, kvdim);
        rb_bias_add(b->v, L->bv, T, kvdim);
    }
    for (int i = 0; i < n_seg; i++) {
        size_t r0 = (size_t)seg[i].start;
        int pos0 = seg[i].prefix_len + seg[i].prefix2_len;
        rb_rope(b->q + r0 * qdim, seg[i].len, c->n_heads, hd, pos0, b->rope_cos, b->rope_sin);
        rb_rope(b->k + r0 * kvdim, seg[i].len, c->n_kv_heads, hd, pos0, b->rope_cos, b->rope_sin);
    }
    if (m->online.qk_hadamard &&
        ((rc = rb_hadamard_apply(b->q, (size_t)T * c->n_heads, hd, 1, err)) ||
         (rc = rb_hadamard_apply(b->k, (size_t)T * c->n_kv_heads, hd, 1, err))))
        return rb_error_prefix(err, "layer %d online q/k Hadamard: ", l);
    if (m->online.qk_dense) { /* per head: q_h ← q_h·Wᵀ */
        const float *W = m->online.qk_dense + (size_t)l * hd * hd;
        dense_rows(b->q, (size_t)T * c->n_heads, hd, W, b->tmp_qk);
        dense_rows(b->k, (size_t)T * c->n_kv_heads, hd, W, b->tmp_qk);
    }
    if (hooks && hooks->qkv && (rc = hooks->qkv(hooks->ctx, l, b->q, b->k, b->v, T, c, err)))
        return rb_error_prefix(err, "layer %d qkv: ", l);
    const struct rb_kv_codes *kc = NULL, *vc = NULL;
    if (hooks && hooks->kv_codes) hooks->kv_codes(hooks->ctx, l, &kc, &vc);
    rb_attention_segments_kv(b->att, b->q, b->k, b->v, kc, vc, seg, n_seg, c->n_heads,
                             c->n_kv_heads, hd, b->att_scratch, b->threads);
    if (m->online.o_head_hadamard &&
        (rc = rb_hadamard_apply(b->att, (size_t)T, c->n_heads, hd, err)))
        return rb_error_prefix(err, "layer %d online head Hadamard: ", l);
    if ((rc = rb_hooks_activation(hooks, l, RB_ACT_O_IN, b->att, T, qdim, err))) return rc;
    if ((m->online.resid_attn || m->online.resid_ffn) && !b->tmp_x)
        return rb_error_set(err, RB_EUNSUPPORTED,
                            "layer %d: residual basis changes (resq:bases=decoder|layer) are "
                            "not supported by this forward (training)", l);
    if (m->online.resid_attn) /* the stream into o_proj's basis */
        dense_rows(b->x, (size_t)T, dim, m->online.resid_attn + (size_t)l * dim * dim, b->tmp_x);
    /* x += att·Woᵀ : sgemm with beta = 1 accumulates into the residual */
    w[RB_WO] = rb_hooks_weight(hooks, l, RB_WO, L->wo);
    if ((rc = rb_hooks_linear(hooks, l, RB_WO, b->x, b->att, w[RB_WO], T, qdim, dim, 1, err)))
        return rc;
    /* feed-forward */
    if (b->x_ffn) memcpy(b->x_ffn, b->x, nx);
    rb_rmsnorm(b->h_ffn, b->x, L->ffn_norm, T, dim, c->norm_eps);
    if ((rc = rb_hooks_activation(hooks, l, RB_ACT_GATE_UP_IN, b->h_ffn, T, dim, err))) return rc;
    w[RB_W1] = rb_hooks_weight(hooks, l, RB_W1, L->w1);
    w[RB_W3] = rb_hooks_weight(hooks, l, RB_W3, L->w3);
    if ((rc = rb_hooks_linear(hooks, l, RB_W1, b->a, b->h_ffn, w[RB_W1], T, dim, hid, 0, err)) ||
        (rc = rb_hooks_linear(hooks, l, RB_W3, b->b, b->h_ffn, w[RB_W3], T, dim, hid, 0, err)))
        return rc;
    if (b->g != b->a) memcpy(b->g, b->a, sizeof(float) * (size_t)T * hid);
    rb_swiglu(b->g, b->b, (size_t)T * hid);
    if (m->online.down_hadamard && (rc = rb_hadamard_apply(b->g, (size_t)T, hid, 1, err)))
        return rb_error_prefix(err, "layer %d online down_proj Hadamard: ", l);
    if (m->online.down_dense)
        dense_rows(b->g, (size_t)T, hid, m->online.down_dense + (size_t)l * hid * hid, b->tmp_down);
    if ((rc = rb_hooks_activation(hooks, l, RB_ACT_DOWN_IN, b->g, T, hid, err))) return rc;
    if (m->online.resid_ffn) /* the stream into down_proj's basis */
        dense_rows(b->x, (size_t)T, dim, m->online.resid_ffn + (size_t)l * dim * dim, b->tmp_x);
    w[RB_W2] = rb_hooks_weight(hooks, l, RB_W2, L->w2);
    if ((rc = rb_hooks_linear(hooks, l, RB_W2, b->x, b->g, w[RB_W2], T, hid, dim, 1, err)))
        return rc;
    if (b->w_used) memcpy(b->w_used, w, sizeof w);
    return RB_OK;
}

rb_layer_bufs rb_workspace_layer_bufs(rb_workspace *ws) {
    /* one set of buffers reused by every layer; the SwiGLU runs in place */
    return (rb_layer_bufs){.x = ws->x, .h_attn = ws->xb, .h_ffn = ws->xb, .q = ws->q, .k = ws->k,
                           .v = ws->v, .att = ws->att, .a = ws->hb, .b = ws->hb2, .g = ws->hb,
                           .tmp_qk = ws->att, .tmp_down = ws->hb2, .tmp_x = ws->xb,
                           .rope_cos = ws->rope_cos, .rope_sin = ws->rope_sin,
                           .att_scratch = ws->att_scratch, .threads = ws->threads};
}

/* The embedding and every layer of rb_forward_segments: the final residual
 * stream in ws->x. */
static int forward_layers(const rb_model *m, rb_workspace *ws, const int32_t *tokens, int T,
                          const rb_segment *seg, int n_seg, const rb_hooks *hooks, rb_error *err) {
    const rb_config *c = &m->cfg;
    if (T < 1 || T > ws->max_T)
        return rb_error_set(err, RB_EINVAL, "forward of %d tokens: window holds 1..%d", T,
                            ws->max_T);
    int rc = check_segments(seg, n_seg, T, err);
    if (rc || (rc = rb_forward_check_tokens(c, tokens, T, err))) return rc;
    rb_rope_tables_sync(m, ws->rope_freq, ws->rope_cos, ws->rope_sin, ws->max_T);
    rb_layer_bufs b = rb_workspace_layer_bufs(ws);
    rb_forward_embed(m, tokens, T, ws->x);
    for (int l = 0; l < c->n_layers; l++)
        if ((rc = rb_layer_forward(m, l, &b, T, seg, n_seg, hooks, err))) return rc;
    return RB_OK;
}

int rb_forward_segments(const rb_model *m, rb_workspace *ws, const int32_t *tokens, int T,
                        const rb_segment *seg, int n_seg, const rb_hooks *hooks, rb_error *err) {
    return rb_forward_segments_rows(m, ws, tokens, T, seg, n_seg, NULL, T, hooks, err);
}

/* dst row i = src row rows[i] (rows ascending, so rows[i] >= i: in place). */
static void gather_rows(float *x, const int *rows, int n_rows, size_t width) {
    for (int i = 0; i < n_rows; i++)
        if (rows[i] != i) memcpy(x + (size_t)i * width, x + (size_t)rows[i] * width,
                                 sizeof(float) * width);
}

int rb_forward_segments_rows(const rb_model *m, rb_workspace *ws, const int32_t *tokens, int T,
                             const rb_segment *seg, int n_seg, const int *rows, int n_rows,
                             const rb_hooks *hooks, rb_error *err) {
    if (rows) {
        if (n_rows < 1 || n_rows > T)
            return rb_error_set(err, RB_EINVAL, "logits of %d rows of a %d-token window", n_rows,
                                T);
        for (int i = 0; i < n_rows; i++)
            if (rows[i] < 0 || rows[i] >= T || (i && rows[i] <= rows[i - 1]))
                return rb_error_set(err, RB_EINVAL, "logits row %d: %d is not in [0, %d) after "
                                    "row %d", i, rows[i], T, i ? rows[i - 1] : -1);
    }
    int rc = forward_layers(m, ws, tokens, T, seg, n_seg, hooks, err);
    if (rc) return rc;
    if (!rows) return rb_forward_head(m, ws->x, ws->xb, ws->logits, T, hooks, NULL, err);
    if (hooks && hooks->window_dependent) { /* the head sees every row, as in rb_forward */
        if ((rc = rb_forward_head(m, ws->x, ws->xb, ws->logits, T, hooks, NULL, err))) return rc;
        gather_rows(ws->logits, rows, n_rows, (size_t)m->cfg.vocab_size);
        return RB_OK;
    }
    gather_rows(ws->x, rows, n_rows, (size_t)m->cfg.dim);
    return rb_forward_head(m, ws->x, ws->xb, ws->logits, n_rows, hooks, NULL, err);
}

int rb_forward_rows(const rb_model *m, rb_workspace *ws, const int32_t *tokens, int T, int from,
                    const rb_hooks *hooks, rb_error *err) {
    if (from < 0 || from >= T)
        return rb_error_set(err, RB_EINVAL, "logits from position %d of a %d-token window", from,
                            T);
    rb_segment whole = {0, T, 0, 0, 0, 0};
    int rc = forward_layers(m, ws, tokens, T, &whole, 1, hooks, err);
    if (rc) return rc;
    /* the head's first row: all rows for a hook that looks across rows (as
     * in rb_forward), else from, but at least two rows (one row would go
     * through BLAS's sgemv); the rows before `from` are then dropped */
    int f = (hooks && hooks->window_dependent) ? 0 : T - from < 2 && T >= 2 ? T - 2 : from;
    size_t dim = (size_t)m->cfg.dim, V = (size_t)m->cfg.vocab_size;
    if ((rc = rb_forward_head(m, ws->x + (size_t)f * dim, ws->xb, ws->logits, T - f, hooks, NULL,
                              err)))
        return rc;
    if (f < from)
        memmove(ws->logits, ws->logits + (size_t)(from - f) * V, sizeof(float) * (T - from) * V);
    return RB_OK;
}
