/* gptq: the pipeline stage.  Layer by layer, the calibration windows run
 * through the model whose earlier layers are already quantized (each
 * window's residual stream is kept between layers, n_windows·window·dim
 * floats, and carried through a layer once it is quantized, so each layer
 * is run twice, not every earlier one again); the inputs of this layer's
 * linears give their Hessians (wq/wk/wv share one, w1/w3
 * share one), and the seven linears are quantized with their weight specs
 * (ctx->quant->w with --w-override; the columns a resq stage declared high
 * at --w-high-bits, core/quant.h).  Activations stay in full precision
 * while calibrating.
 *
 * sequential=0 (one pass): one pass of the layer per window collects all four
 * Hessians of the layer from its original weights.  sequential=1 (true
 * sequential, QuaRot's fake_quant/gptq_utils.py and IST-DASLab/gptq's
 * --true-sequential): the layer's sub-layers are quantized in the order
 * q/k/v, o, gate/up, down, and each group's Hessian is collected after the
 * earlier groups of the same layer are quantized (a pass of the layer that
 * stops at its input point), so it sees their quantized outputs. */
#include <stdio.h>
#include <stdlib.h>

#include "base/io.h"
#include "core/calib.h"
#include "methods/gptq_core.h"
#include "methods/method.h"

enum { STOP_AFTER_LAYER = 1 }; /* hook return value: not an error, just stop the forward */

typedef struct collect_ctx {
    int layer;
    int only;                         /* collect this point only and stop there; -1: all */
    rb_hessian h[RB_ACT_POINT_COUNT]; /* QKV_IN, O_IN, GATE_UP_IN, DOWN_IN */
} collect_ctx;

static int collect(void *ctx, int layer, rb_act_point p, float *x, int rows, int cols,
                   rb_error *err) {
    (void)cols; (void)err;
    collect_ctx *c = ctx;
    if (layer != c->layer || p == RB_ACT_CLASSIFIER_IN) return RB_OK;
    if (c->only >= 0 && (int)p != c->only) return RB_OK;
    rb_hessian_add(&c->h[p], x, rows);
    return p == RB_ACT_DOWN_IN || (int)p == c->only ? STOP_AFTER_LAYER : RB_OK;
}

static int gptq_apply(rb_stage_ctx *ctx, const rb_stage_opts *opt, rb_error *err);

static const rb_option_spec gptq_options[] = {
    {"damp", RB_OPT_FLOAT, 0.01, 0, 1, "dampening, fraction of mean(diag H)", NULL},
    {"block", RB_OPT_INT, 128, 1, 4096, "columns per lazy-batch block", NULL},
    {"act_order", RB_OPT_BOOL, 0, 0, 1, "quantize columns by decreasing H_ii", NULL},
    {"sequential", RB_OPT_BOOL, 0, 0, 1,
     "true sequential: q/k/v, then o, gate/up, down, each after the earlier are quantized", NULL},
    {NULL}};

const rb_method rb_method_gptq = {
    .name = "gptq",
    .help = "GPTQ weight quantization with the --w-* settings (Frantar et al. 2022)",
    .options = gptq_options,
    .quantizes_weights = 1,
    .apply = gptq_apply,
};

/* GPTQ of linear id of layer l with the Hessian h of its input; *fac is
 * made from h at the first call that needs it (and then shared). */
static int quantize_linear(rb_stage_ctx *ctx, int l, rb_linear_id id, const rb_hessian *h,
                           rb_gptq_factor *fac, const rb_gptq_options *go, double *t_factor,
                           double *t_quant, rb_error *err) {
    const rb_config *c = &ctx->model->cfg;
    rb_weight_view v = rb_model_weight(ctx->model, l, id);
    rb_quant_spec spec = rb_quant_weight_spec(ctx->quant, l, c->n_layers, id);
    if (rb_quant_spec_off(&spec)) return RB_OK;
    rb_quant_spec high = spec; /* resq's mixed weights */
    high.bits = ctx->quant->w_high_bits;
    rb_quant_split split = rb_quant_weight_split(ctx->quant, id);
    size_t np = rb_quant_n_params(&spec, v.rows, v.cols);
    float *sc = malloc(sizeof(float) * np), *zr = malloc(sizeof(float) * np);
    double t = rb_now();
    int rc = !sc || !zr ? rb_error_set(err, RB_ENOMEM, "out of memory for weight parameters")
                        : rb_gptq_check(v.cols, &spec, go, split, &high, err);
    if (!rc && !fac->U) rc = rb_gptq_factor_init(fac, h->H, v.cols, go, err);
    *t_factor += rb_now() - t;
    t = rb_now();
    if (!rc) rc = rb_gptq_quantize_factored(v.w, v.rows, fac, &spec, go, split, &high, sc, zr, err);
    *t_quant += rb_now() - t;
    /* kept for the integer kernels (core/qlinear.h; they refuse splits) */
    if (!rc && split.high <= 0)
        rc = rb_quant_keep_w_params(ctx->quant, c->n_layers, l, id, sc, zr, np, err);
    free(sc);
    free(zr);
    if (rc) rb_error_prefix(err, "layer %d %s: ", l, rb_linear_name(id));
    return rc;
}

static int gptq_apply(rb_stage_ctx *ctx, const rb_stage_opts *opt, rb_error *err) {
    if (!rb_quant_weights_on(ctx->quant)) return RB_OK;
    if (!ctx->calib) return rb_error_set(err, RB_EINVAL, "needs calibration data");
    rb_gptq_options go = {rb_opt_get(&rb_method_gptq, opt, "damp"),
                          (int)rb_opt_get(&rb_method_gptq, opt, "block"),
                          (int)rb_opt_get(&rb_method_gptq, opt, "act_order")};
    rb_model *m = ctx->model;
    const rb_config *c = &m->cfg;
    const rb_calib *cal = ctx->calib;
    int widths[RB_ACT_POINT_COUNT] = {c->dim, c->n_heads * c->head_dim, c->dim, c->hidden_dim, 0};
    /* each window's residual stream, carried through each layer once it is
     * quantized (as the reference keeps its layer inputs) */
    rb_calib_stream st;
    int rc = rb_calib_stream_init(&st, m, cal, cal->n_windows, err);
    if (rc) return rc;
    double t0 = rb_now(), t_collect = 0, t_factor = 0, t_quant = 0;
    int sequential = (int)rb_opt_get(&rb_method_gptq, opt, "sequential");
    for (int l = 0; !rc && l < c->n_layers; l++) {
        collect_ctx cc = {.layer = l};
        for (int p = 0; !rc && p < RB_ACT_CLASSIFIER_IN; p++)
            rc = rb_hessian_init(&cc.h[p], widths[p], err);
        /* one pass: all points at once (point -1); sequential: point by point */
        for (int step = sequential ? 0 : -1; !rc && step < (sequential ? RB_ACT_CLASSIFIER_IN : 0);
             step++) {
            cc.only = step;
            rb_hooks hooks = {.ctx = &cc, .activation = collect};
            double t = rb_now();
            for (int w = 0; !rc && w < cal->n_windows; w++) {
                rc = rb_calib_stream_look(&st, m, w, &hooks, err);
                if (rc == STOP_AFTER_LAYER) rc = RB_OK;
            }
            t_collect += rb_now() - t;
            /* point by point: one factor of its Hessian for all the linears that read
             * it (q/k/v, gate/up), made at the first of them and freed, with the
             * Hessian, after the last (each linear's result does not depend on the
             * others': their Hessians were collected before any is quantized) */
            for (int in = 0; !rc && in < RB_ACT_CLASSIFIER_IN; in++) {
                if (step >= 0 && in != step) continue;
                rb_gptq_factor fac = {0};
                for (int id = 0; !rc && id < RB_LINEAR_COUNT; id++) {
                    if ((int)rb_linear_input((rb_linear_id)id) != in) continue;
                    rc = quantize_linear(ctx, l, (rb_linear_id)id, &cc.h[in], &fac, &go, &t_factor,
                                         &t_quant, err);
                }
                rb_gptq_factor_free(&fac);
                rb_hessian_free(&cc.h[in]);
            }
        }
        for (int p = 0; p < RB_ACT_CLASSIFIER_IN; p++) rb_hessian_free(&cc.h[p]);
        /* the stream through the quantized layer, for the next one */
        double t = rb_now();
        if (!rc && l + 1 < c->n_layers) rc = rb_calib_stream_advance(&st, m, err);
        t_collect += rb_now() - t;
        if (!rc)
            rb_logf(ctx->log,
                    "gptq: layer %d/%d done, %.1f s (so far: calibration forward and Hessians "
                    "%.1f s, factors %.1f s, quantizing %.1f s)",
                    l + 1, c->n_layers, rb_now() - t0, t_collect, t_factor, t_quant);
    }
    rb_calib_stream_free(&st);
    return rc;
}
