#include "core/act_stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct collect_ctx {
    rb_act_absmax *a;
    const rb_hooks *inner; /* hooks applied first (e.g. quantization), may be NULL */
} collect_ctx;

static int collect(void *ctx, int layer, rb_act_point p, float *x, int rows, int cols,
                   rb_error *err) {
    collect_ctx *c = ctx;
    if (c->inner && c->inner->activation) {
        int rc = c->inner->activation(c->inner->ctx, layer, p, x, rows, cols, err);
        if (rc) return rc;
    }
    float *mx = c->a->max + ((size_t)layer * RB_ACT_POINT_COUNT + p) * c->a->stride;
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < cols; j++) {
            float v = fabsf(x[(size_t)r * cols + j]);
            mx[j] = v > mx[j] ? v : mx[j];
        }
    return RB_OK;
}

static int pass_qkv(void *ctx, int layer, float *q, float *k, float *v, int T, const rb_config *c,
                    rb_error *err) {
    collect_ctx *cc = ctx;
    return cc->inner && cc->inner->qkv ? cc->inner->qkv(cc->inner->ctx, layer, q, k, v, T, c, err)
                                       : RB_OK;
}

static const float *pass_weight(void *ctx, int layer, rb_linear_id id, const float *w) {
    collect_ctx *cc = ctx;
    return cc->inner && cc->inner->weight ? cc->inner->weight(cc->inner->ctx, layer, id, w) : w;
}

int rb_act_absmax_collect(const rb_model *m, const rb_calib *calib, const rb_hooks *inner,
                          rb_act_absmax *out, rb_error *err) {
    const rb_config *c = &m->cfg;
    memset(out, 0, sizeof *out);
    out->n_layers = c->n_layers;
    out->width[RB_ACT_QKV_IN] = c->dim;
    out->width[RB_ACT_O_IN] = c->n_heads * c->head_dim;
    out->width[RB_ACT_GATE_UP_IN] = c->dim;
    out->width[RB_ACT_DOWN_IN] = c->hidden_dim;
    out->width[RB_ACT_CLASSIFIER_IN] = c->dim;
    for (int p = 0; p < RB_ACT_POINT_COUNT; p++)
        if (out->width[p] > out->stride) out->stride = out->width[p];
    out->max = calloc((size_t)(c->n_layers + 1) * RB_ACT_POINT_COUNT * out->stride, sizeof(float));
    if (!out->max) return rb_error_set(err, RB_ENOMEM, "out of memory for activation statistics");
    collect_ctx cc = {out, inner};
    rb_hooks h = {.ctx = &cc, .activation = collect, .qkv = pass_qkv, .weight = pass_weight};
    int rc = rb_calib_forward(m, calib, &h, err);
    if (rc) rb_act_absmax_free(out);
    return rc;
}

const float *rb_act_absmax_get(const rb_act_absmax *a, int layer, rb_act_point p) {
    return a->max + ((size_t)layer * RB_ACT_POINT_COUNT + p) * a->stride;
}

void rb_act_absmax_free(rb_act_absmax *a) {
    free(a->max);
    a->max = NULL;
}
