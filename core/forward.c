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
    rb_rope_table(ws->rope_cos, ws->rope_sin, max_T, c->head_dim, c->rope_theta);
    return RB_OK;
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

int rb_forward_segments(const rb_model *m, rb_workspace *ws, const int32_t *tokens, int T,
                        const rb_segment *seg, int n_seg, const rb_hooks *hooks, rb_error *err) {
    const rb_config *c = &m->cfg;
    if (T < 1 || T > ws->max_T)
        return rb_error_set(err, RB_EINVAL, "forward of %d tokens: window holds 1..%d", T,
                            ws->max_T);
    int rc = check_segments(seg, n_seg, T, err);
    if (rc) return rc;
    const int dim = c->dim, hid = c->hidden_dim, hd = c->head_dim;
    const int qdim = c->n_heads * hd, kvdim = c->n_kv_heads * hd;
    for (int t = 0; t < T; t++)
        if (tokens[t] < 0 || tokens[t] >= c->vocab_size)
            return rb_error_set(err, RB_EINVAL, "token %d at position %d is outside 0..%d",
                                tokens[t], t, c->vocab_size - 1);
    for (int t = 0; t < T; t++)
        memcpy(ws->x + (size_t)t * dim, m->token_embedding + (size_t)tokens[t] * dim,
               sizeof(float) * dim);
    for (int l = 0; l < c->n_layers; l++) {
        const rb_layer *L = &m->layers[l];
        rb_rmsnorm(ws->xb, ws->x, L->attn_norm, T, dim, c->norm_eps);
        if ((rc = rb_hooks_activation(hooks, l, RB_ACT_QKV_IN, ws->xb, T, dim, err))) return rc;
        rb_linear(ws->q, ws->xb, rb_hooks_weight(hooks, l, RB_WQ, L->wq), T, dim, qdim);
        rb_linear(ws->k, ws->xb, rb_hooks_weight(hooks, l, RB_WK, L->wk), T, dim, kvdim);
        rb_linear(ws->v, ws->xb, rb_hooks_weight(hooks, l, RB_WV, L->wv), T, dim, kvdim);
        for (int i = 0; i < n_seg; i++) {
            size_t r0 = (size_t)seg[i].start;
            int pos0 = seg[i].prefix_len + seg[i].prefix2_len;
            rb_rope(ws->q + r0 * qdim, seg[i].len, c->n_heads, hd, pos0, ws->rope_cos,
                    ws->rope_sin);
            rb_rope(ws->k + r0 * kvdim, seg[i].len, c->n_kv_heads, hd, pos0, ws->rope_cos,
                    ws->rope_sin);
        }
        if (m->online.qk_hadamard &&
            ((rc = rb_hadamard_apply(ws->q, (size_t)T * c->n_heads, hd, 1, err)) ||
             (rc = rb_hadamard_apply(ws->k, (size_t)T * c->n_kv_heads, hd, 1, err))))
            return rb_error_prefix(err, "layer %d online q/k Hadamard: ", l);
        if (m->online.qk_dense) {
            /* per head: q_h ← q_h·Wᵀ (att is free until the attention writes it) */
            const float *W = m->online.qk_dense + (size_t)l * hd * hd;
            dense_rows(ws->q, (size_t)T * c->n_heads, hd, W, ws->att);
            dense_rows(ws->k, (size_t)T * c->n_kv_heads, hd, W, ws->att);
        }
        if (hooks && hooks->qkv &&
            (rc = hooks->qkv(hooks->ctx, l, ws->q, ws->k, ws->v, T, c, err)))
            return rb_error_prefix(err, "layer %d qkv: ", l);
        rb_attention_segments(ws->att, ws->q, ws->k, ws->v, seg, n_seg, c->n_heads,
                              c->n_kv_heads, hd, ws->att_scratch, ws->threads);
        if (m->online.o_head_hadamard &&
            (rc = rb_hadamard_apply(ws->att, (size_t)T, c->n_heads, hd, err)))
            return rb_error_prefix(err, "layer %d online head Hadamard: ", l);
        if ((rc = rb_hooks_activation(hooks, l, RB_ACT_O_IN, ws->att, T, qdim, err))) return rc;
        /* x += att·Woᵀ : sgemm with beta = 1 accumulates into the residual */
        rb_linear_acc(ws->x, ws->att, rb_hooks_weight(hooks, l, RB_WO, L->wo), T, qdim, dim);
        rb_rmsnorm(ws->xb, ws->x, L->ffn_norm, T, dim, c->norm_eps);
        if ((rc = rb_hooks_activation(hooks, l, RB_ACT_GATE_UP_IN, ws->xb, T, dim, err))) return rc;
        rb_linear(ws->hb, ws->xb, rb_hooks_weight(hooks, l, RB_W1, L->w1), T, dim, hid);
        rb_linear(ws->hb2, ws->xb, rb_hooks_weight(hooks, l, RB_W3, L->w3), T, dim, hid);
        rb_swiglu(ws->hb, ws->hb2, (size_t)T * hid);
        if (m->online.down_hadamard && (rc = rb_hadamard_apply(ws->hb, (size_t)T, hid, 1, err)))
            return rb_error_prefix(err, "layer %d online down_proj Hadamard: ", l);
        if (m->online.down_dense) /* hb2 is free after the SwiGLU */
            dense_rows(ws->hb, (size_t)T, hid, m->online.down_dense + (size_t)l * hid * hid,
                       ws->hb2);
        if ((rc = rb_hooks_activation(hooks, l, RB_ACT_DOWN_IN, ws->hb, T, hid, err))) return rc;
        rb_linear_acc(ws->x, ws->hb, rb_hooks_weight(hooks, l, RB_W2, L->w2), T, hid, dim);
    }
    rb_rmsnorm(ws->xb, ws->x, m->final_norm, T, dim, c->norm_eps);
    if ((rc = rb_hooks_activation(hooks, c->n_layers, RB_ACT_CLASSIFIER_IN, ws->xb, T, dim, err)))
        return rc;
    rb_linear(ws->logits, ws->xb,
              rb_hooks_weight(hooks, c->n_layers, RB_LINEAR_COUNT, m->classifier),
              T, dim, c->vocab_size);
    return RB_OK;
}
