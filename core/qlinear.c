#include "core/qlinear.h"

#include <stdlib.h>
#include <string.h>

#include "kernels/linear.h"

static const char *slot_name(rb_linear_id id) {
    return id == RB_LINEAR_COUNT ? "classifier" : rb_linear_name(id);
}

void rb_qmodel_free(rb_qmodel *qm) {
    if (qm->w)
        for (int i = 0; i < (qm->n_layers + 1) * RB_LINEAR_COUNT; i++) rb_qweight_free(&qm->w[i]);
    free(qm->w);
    rb_qact_free(&qm->act);
    rb_kv_codes_free(&qm->kv[0]);
    rb_kv_codes_free(&qm->kv[1]);
    memset(qm, 0, sizeof *qm);
}

size_t rb_qmodel_bytes(const rb_qmodel *qm) {
    size_t n = 0;
    for (int i = 0; qm->w && i < (qm->n_layers + 1) * RB_LINEAR_COUNT; i++)
        if (qm->w[i].codes) n += rb_qweight_bytes(&qm->w[i]);
    return n;
}

static int pack_one(rb_qmodel *qm, const rb_quant_config *q, int layer, rb_linear_id id,
                    const float *w, int rows, int cols, rb_error *err) {
    const float *sc, *zr;
    rb_quant_w_params(q, layer, (int)id, &sc, &zr);
    if (!sc)
        return rb_error_set(err, RB_EINVAL,
                            "integer kernels: layer %d %s has no recorded weight quantization "
                            "(the pipeline needs an rtn or gptq stage)",
                            layer, slot_name(id));
    int rc = rb_qweight_pack(&qm->w[rb_quant_w_slot(layer, (int)id)], w, rows, cols, &q->w, sc, zr,
                             err);
    if (rc) return rb_error_prefix(err, "layer %d %s: ", layer, slot_name(id));
    return RB_OK;
}

int rb_qmodel_build(rb_qmodel *qm, const rb_model *m, rb_quant_config *q, rb_error *err) {
    memset(qm, 0, sizeof *qm);
    const rb_config *c = &m->cfg;
    if (rb_quant_spec_off(&q->w) || rb_quant_spec_off(&q->a))
        return rb_error_set(err, RB_EINVAL,
                            "integer kernels need quantized weights and activations (--w-bits and "
                            "--a-bits below 16)");
    if (q->w_override.n || q->a_override.n)
        return rb_error_set(err, RB_EINVAL,
                            "integer kernels: --w-override / --a-override are not supported "
                            "(one weight and one activation spec for every linear)");
    if (rb_quant_config_mixed(q))
        return rb_error_set(err, RB_EINVAL,
                            "integer kernels: mixed-precision channels (resq) are not supported");
    int widths[] = {c->dim, c->n_heads * c->head_dim, c->hidden_dim};
    for (int i = 0; i < 3; i++)
        if (q->a.gran == RB_GRAN_GROUP && widths[i] % q->a.group)
            return rb_error_set(err, RB_EINVAL,
                                "integer kernels: activation group size %d does not divide the "
                                "width %d",
                                q->a.group, widths[i]);
    qm->q = q;
    qm->n_layers = c->n_layers;
    qm->act_layer = qm->act_point = qm->kv_layer = -1;
    qm->w = calloc((size_t)(c->n_layers + 1) * RB_LINEAR_COUNT, sizeof *qm->w);
    if (!qm->w) return rb_error_set(err, RB_ENOMEM, "out of memory for integer weights");
    int rc = RB_OK;
    for (int l = 0; !rc && l < c->n_layers; l++)
        for (int id = 0; !rc && id < RB_LINEAR_COUNT; id++) {
            rb_weight_view v = rb_model_weight(m, l, (rb_linear_id)id);
            rc = pack_one(qm, q, l, (rb_linear_id)id, v.w, v.rows, v.cols, err);
        }
    if (!rc && q->quantize_classifier)
        rc = pack_one(qm, q, c->n_layers, RB_LINEAR_COUNT, m->classifier, c->vocab_size, c->dim,
                      err);
    if (rc) {
        rb_qmodel_free(qm);
        return rc;
    }
    rb_quant_hooks(q, &qm->fake);
    return RB_OK;
}

static int int_activation(void *ctx, int layer, rb_act_point p, float *x, int rows, int cols,
                          rb_error *err) {
    rb_qmodel *qm = ctx;
    const rb_quant_config *q = qm->q;
    qm->act_layer = qm->act_point = -1;
    if (p == RB_ACT_CLASSIFIER_IN && !q->quantize_classifier) return RB_OK;
    const float *sc = NULL, *zr = NULL;
    int rc = q->a_static ? rb_quant_act_static_params(q, layer, p, &sc, &zr, err) : RB_OK;
    if (rc || (rc = rb_qact_quantize(&qm->act, x, rows, cols, &q->a, sc, zr, err))) return rc;
    qm->act_layer = layer, qm->act_point = (int)p;
    return RB_OK;
}

static int int_linear(void *ctx, int layer, rb_linear_id id, float *y, const float *x,
                      const float *w, int T, int n_in, int n_out, int accumulate, rb_error *err) {
    rb_qmodel *qm = ctx;
    const rb_qweight *qw = &qm->w[rb_quant_w_slot(layer, (int)id)];
    if (!qw->codes) { /* an fp32 linear: the classifier without quantize_classifier */
        (accumulate ? rb_linear_acc : rb_linear)(y, x, w, T, n_in, n_out);
        return RB_OK;
    }
    if (qm->act_layer != layer || qm->act_point != (int)rb_linear_input(id) ||
        qm->act.rows != T || qw->cols != n_in || qw->rows != n_out)
        return rb_error_set(err, RB_EINVAL,
                            "integer kernels: no activation codes of %s for a %dx%d linear of %d "
                            "tokens",
                            rb_act_point_name(rb_linear_input(id)), n_out, n_in, T);
    int rc = rb_qgemm_check(&qm->act, qw, err);
    if (rc) return rc;
    rb_qgemm(y, &qm->act, qw, accumulate);
    return RB_OK;
}

static int int_qkv(void *ctx, int layer, float *qv, float *k, float *v, int T, const rb_config *c,
                   rb_error *err) {
    (void)qv;
    rb_qmodel *qm = ctx;
    const rb_quant_config *q = qm->q;
    const float *kvs[2] = {k, v};
    qm->kv_layer = -1;
    for (int j = 0; j < 2; j++) {
        const rb_quant_spec *s = rb_quant_kv_spec(q, j);
        qm->kv_on[j] = !rb_quant_spec_off(s);
        if (!qm->kv_on[j]) continue;
        const float *sc = NULL, *zr = NULL;
        int rc;
        if (q->kv_static && (rc = rb_quant_kv_static_params(q, layer, j, &sc, &zr, err))) return rc;
        rc = rb_kv_codes_quantize(&qm->kv[j], kvs[j], T, c->n_kv_heads * c->head_dim, s, sc, zr,
                                  err);
        if (rc) return rb_error_prefix(err, "%s: ", j ? "v" : "k");
    }
    qm->kv_layer = layer;
    return RB_OK;
}

static void int_kv_codes(void *ctx, int layer, const rb_kv_codes **k, const rb_kv_codes **v) {
    rb_qmodel *qm = ctx;
    *k = qm->kv_layer == layer && qm->kv_on[0] ? &qm->kv[0] : NULL;
    *v = qm->kv_layer == layer && qm->kv_on[1] ? &qm->kv[1] : NULL;
}

void rb_qmodel_hooks(rb_qmodel *qm, rb_hooks *h) {
    memset(h, 0, sizeof *h);
    h->ctx = qm;
    h->activation = int_activation;
    h->linear = int_linear;
    h->qkv = int_qkv;
    h->kv_codes = int_kv_codes;
    h->window_dependent = qm->fake.window_dependent;
}
