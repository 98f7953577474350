/* smoothquant: migrate activation outliers into the weights (Xiao et al.).
 *
 * For an input X [T][n] read by linears W_k [out_k][n], per-channel scales
 *   s_j = max|X_j|^α / max_k,o |W_k[o][j]|^(1-α)        (s_j = 1 if either max is 0)
 * divide X's channels and multiply the weights' columns: X·diag(1/s)·(W·diag(s))ᵀ
 * is unchanged.  1/s folds into what produces X:
 *   qkv input   ← attn_norm weights     (wq, wk, wv columns × s)
 *   gate/up in  ← ffn_norm weights      (w1, w3 columns × s)
 *   fc_fc=1 also:
 *   o_proj in   ← wv rows and bv (per kv-head channel; with GQA the query
 *                 heads that share a kv head share the scale)   (wo columns × s)
 *   down in     ← w3 rows                            (w2 columns × s)
 * Channel maxima come from the calibration windows on the model as it is
 * when the stage runs.  fc_fc is refused after online Hadamards at those
 * inputs (quarot with online=1): a scale cannot be folded through them.
 *
 * search=1 (per-layer α, as Quark's AutoSmoothQuant and Intel Neural
 * Compressor's layer-wise auto-tuning): for every smoothed pair of every
 * layer, α is the point of the grid 0, step, 2·step, ..., 1 whose scales give
 * the least output error of the pair's linears on calibration rows X (the
 * first `rows` input rows of the layer, from the windows in order, through
 * the earlier layers as already smoothed; those windows' residual stream is
 * kept between layers, core/calib.h rb_calib_stream):
 *   err(α) = Σ_k ‖X·W_kᵀ − Q_a(X·diag(1/s))·Q_w(W_k·diag(s))ᵀ‖²_F
 * with Q_a the run's activation quantizer applied dynamically (a static one
 * is measured as dynamic per-tensor over the rows) and Q_w RTN with the
 * weight's spec (the proxy when gptq follows); ties go to the smaller α.
 * The error of o_proj (v→o) and down_proj (up→down) measures the fc_fc
 * pairs.  With both quantizers off every α is exact and `alpha` is used.
 * The chosen α per layer and pair go to the record (ctx->notes). */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "core/act_stats.h"
#include "methods/method.h"

static float col_absmax(const float *w, int rows, int cols, int j) {
    float m = 0;
    for (int o = 0; o < rows; o++) m = fmaxf(m, fabsf(w[(size_t)o * cols + j]));
    return m;
}

static float smooth_scale(float xmax, float wmax, float alpha) {
    if (!(xmax > 0) || !(wmax > 0)) return 1.0f;
    float s = powf(xmax, alpha) / powf(wmax, 1.0f - alpha);
    return s < 1e-5f ? 1e-5f : s;
}

static void scale_col(float *w, int rows, int cols, int j, float s) {
    for (int o = 0; o < rows; o++) w[(size_t)o * cols + j] *= s;
}

static void scale_row(float *w, int cols, int row, float s) {
    for (int i = 0; i < cols; i++) w[(size_t)row * cols + i] *= s;
}

/* Smooths the input of `n_lin` linears (same input width n) whose input is
 * produced through norm weights g. */
static void smooth_norm_input(float *g, rb_weight_view *lin, int n_lin, const float *xmax,
                              float alpha) {
    int n = lin[0].cols;
    for (int j = 0; j < n; j++) {
        float wmax = 0;
        for (int k = 0; k < n_lin; k++) wmax = fmaxf(wmax, col_absmax(lin[k].w, lin[k].rows, n, j));
        float s = smooth_scale(xmax[j], wmax, alpha);
        g[j] /= s;
        for (int k = 0; k < n_lin; k++) scale_col(lin[k].w, lin[k].rows, n, j, s);
    }
}

/* ---- per-layer α search ---------------------------------------------------- */

enum { STOP_AFTER_LAYER = 1 }; /* hook return value: the rows are in, stop the forward */

/* The first `cap` input rows of one layer's four points. */
typedef struct layer_rows {
    int layer, cap;
    int n[RB_ACT_CLASSIFIER_IN];
    int width[RB_ACT_CLASSIFIER_IN];
    float *x[RB_ACT_CLASSIFIER_IN]; /* [cap][width], owned */
} layer_rows;

static int keep_rows(void *ctx, int layer, rb_act_point p, float *x, int rows, int cols,
                     rb_error *err) {
    (void)err;
    layer_rows *r = ctx;
    if (layer != r->layer || p == RB_ACT_CLASSIFIER_IN) return RB_OK;
    int take = r->cap - r->n[p] < rows ? r->cap - r->n[p] : rows;
    memcpy(r->x[p] + (size_t)r->n[p] * cols, x, sizeof(float) * (size_t)take * cols);
    r->n[p] += take;
    return p == RB_ACT_DOWN_IN ? STOP_AFTER_LAYER : RB_OK;
}

static void layer_rows_free(layer_rows *r) {
    for (int p = 0; p < RB_ACT_CLASSIFIER_IN; p++) free(r->x[p]);
}

/* Collects the rows of the layer the stream enters, from its windows (the
 * earlier layers as they are now). */
static int collect_rows(const rb_model *m, rb_calib_stream *st, int cap, layer_rows *r,
                        rb_error *err) {
    const rb_config *c = &m->cfg;
    int widths[RB_ACT_CLASSIFIER_IN] = {c->dim, c->n_heads * c->head_dim, c->dim, c->hidden_dim};
    memset(r, 0, sizeof *r);
    r->layer = st->layer;
    r->cap = cap;
    for (int p = 0; p < RB_ACT_CLASSIFIER_IN; p++) {
        r->width[p] = widths[p];
        if (!(r->x[p] = malloc(sizeof(float) * (size_t)cap * widths[p]))) {
            layer_rows_free(r);
            return rb_error_set(err, RB_ENOMEM, "out of memory for %d calibration rows", cap);
        }
    }
    rb_hooks h = {.ctx = r, .activation = keep_rows};
    int rc = RB_OK;
    for (int w = 0; !rc && w < st->n_windows && r->n[RB_ACT_DOWN_IN] < cap; w++) {
        rc = rb_calib_stream_look(st, m, w, &h, err);
        if (rc == STOP_AFTER_LAYER) rc = RB_OK;
    }
    if (rc) layer_rows_free(r);
    return rc;
}

/* Output error of linears lin[0..n_lin) (input width n, ids ids[]) on rows
 * X [T][n] when the input is smoothed by s [n] (per channel; the linears'
 * columns × s, X's ÷ s) and both are fake-quantized.  work: scratch. */
typedef struct pair_eval {
    const rb_quant_config *q;
    int layer, n_layers;
    rb_act_point point; /* the input measured */
} pair_eval;

static int pair_error(const pair_eval *pe, const float *X, int T, int n, rb_weight_view *lin,
                      const rb_linear_id *ids, int n_lin, const float *s, double *out,
                      rb_error *err) {
    int max_rows = 0;
    for (int k = 0; k < n_lin; k++) max_rows = lin[k].rows > max_rows ? lin[k].rows : max_rows;
    float *Xs = malloc(sizeof(float) * (size_t)T * n);
    float *Ws = malloc(sizeof(float) * (size_t)max_rows * n);
    float *Y = malloc(sizeof(float) * (size_t)T * max_rows);
    float *Yq = malloc(sizeof(float) * (size_t)T * max_rows);
    int rc = RB_OK;
    if (!Xs || !Ws || !Y || !Yq) rc = rb_error_set(err, RB_ENOMEM, "out of memory in the α search");
    rb_quant_spec a = rb_quant_act_spec(pe->q, pe->layer, pe->point);
    if (!rc) {
        for (int t = 0; t < T; t++)
            for (int j = 0; j < n; j++) Xs[(size_t)t * n + j] = X[(size_t)t * n + j] / s[j];
        rc = rb_fake_quant_dynamic(Xs, T, n, &a, err);
    }
    double e = 0;
    for (int k = 0; !rc && k < n_lin; k++) {
        int rows = lin[k].rows;
        for (int o = 0; o < rows; o++)
            for (int j = 0; j < n; j++)
                Ws[(size_t)o * n + j] = lin[k].w[(size_t)o * n + j] * s[j];
        rb_quant_spec w = rb_quant_weight_spec(pe->q, pe->layer, pe->n_layers, ids[k]);
        if ((rc = rb_fake_quant_dynamic(Ws, rows, n, &w, err))) break;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, rows, n, 1.0f, X, n, lin[k].w, n,
                    0.0f, Y, rows);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, rows, n, 1.0f, Xs, n, Ws, n, 0.0f,
                    Yq, rows);
        for (size_t i = 0; i < (size_t)T * rows; i++) {
            double d = (double)Y[i] - Yq[i];
            e += d * d;
        }
    }
    free(Xs); free(Ws); free(Y); free(Yq);
    *out = e;
    return rc;
}

/* The scales of a norm-input pair for α: s_j from xmax and the linears'
 * column maxima. */
static void norm_pair_scales(rb_weight_view *lin, int n_lin, const float *xmax, float alpha,
                             float *s) {
    int n = lin[0].cols;
    for (int j = 0; j < n; j++) {
        float wmax = 0;
        for (int k = 0; k < n_lin; k++) wmax = fmaxf(wmax, col_absmax(lin[k].w, lin[k].rows, n, j));
        s[j] = smooth_scale(xmax[j], wmax, alpha);
    }
}

/* Scales of a pair for α: norm pairs per channel; v→o (kind 1) shared by
 * the query heads of a kv head; up→down (kind 2) per hidden channel. */
typedef struct pair_def {
    int kind;              /* 0 norm input, 1 v→o, 2 up→down */
    rb_weight_view lin[3]; /* the consuming linears */
    rb_linear_id ids[3];
    int n_lin;
    const float *xmax;
    const float *X;
    int T, n;
} pair_def;

static void pair_scales(const pair_def *d, const rb_config *c, float alpha, float *s) {
    if (d->kind != 1) {
        norm_pair_scales((rb_weight_view *)d->lin, d->n_lin, d->xmax, alpha, s);
        return;
    }
    int hd = c->head_dim, group = c->n_heads / c->n_kv_heads;
    const rb_weight_view *wo = &d->lin[0];
    for (int g = 0; g < c->n_kv_heads; g++)
        for (int e = 0; e < hd; e++) {
            float xmax = 0, wmax = 0;
            for (int h = g * group; h < (g + 1) * group; h++) {
                xmax = fmaxf(xmax, d->xmax[h * hd + e]);
                wmax = fmaxf(wmax, col_absmax(wo->w, wo->rows, wo->cols, h * hd + e));
            }
            float sc = smooth_scale(xmax, wmax, alpha);
            for (int h = g * group; h < (g + 1) * group; h++) s[h * hd + e] = sc;
        }
}

/* The α of the grid with the least pair error (ties: the smaller). */
static int search_alpha(const pair_eval *pe, const pair_def *d, const rb_config *c, double step,
                        float *best, rb_error *err) {
    float *s = malloc(sizeof(float) * (size_t)d->n);
    if (!s) return rb_error_set(err, RB_ENOMEM, "out of memory in the α search");
    int n_grid = (int)floor(1.0 / step + 1e-9) + 1, rc = RB_OK;
    double best_e = INFINITY;
    for (int i = 0; !rc && i < n_grid; i++) {
        float alpha = i == n_grid - 1 && fabs((n_grid - 1) * step - 1.0) < 1e-9 ? 1.0f
                                                                               : (float)(i * step);
        pair_scales(d, c, alpha, s);
        double e;
        rc = pair_error(pe, d->X, d->T, d->n, (rb_weight_view *)d->lin, d->ids, d->n_lin, s, &e,
                        err);
        if (!rc && e < best_e) best_e = e, *best = alpha;
    }
    free(s);
    return rc;
}

static int smoothquant_apply(rb_stage_ctx *ctx, const rb_stage_opts *opt, rb_error *err);

static const rb_option_spec smoothquant_options[] = {
    {"alpha", RB_OPT_FLOAT, 0.5, 0.0, 1.0, "migration strength α", NULL},
    {"fc_fc", RB_OPT_BOOL, 0, 0, 1, "also smooth v_proj→o_proj and up_proj→down_proj", NULL},
    {"search", RB_OPT_BOOL, 0, 0, 1,
     "per-layer α: the grid point of least output error of each smoothed pair", NULL},
    {"step", RB_OPT_FLOAT, 0.1, 0.01, 1.0, "α grid step of the search (0, step, ..., 1)", NULL},
    {"rows", RB_OPT_INT, 2048, 16, 1 << 20, "calibration rows per layer the search measures",
     NULL},
    {NULL}};

const rb_method rb_method_smoothquant = {
    .name = "smoothquant",
    .help = "per-channel smoothing scales folded into norms and linears (Xiao et al. 2023)",
    .options = smoothquant_options,
    .apply = smoothquant_apply,
};

/* The four pairs of layer l (the last two only with fc_fc), measured on r. */
static int search_layer(const pair_eval *pe, rb_model *m, int l, const rb_act_absmax *st,
                        const layer_rows *r, int fc_fc, double step, float alpha[4],
                        rb_error *err) {
    pair_def d[4] = {
        {0, {rb_model_weight(m, l, RB_WQ), rb_model_weight(m, l, RB_WK), rb_model_weight(m, l, RB_WV)},
         {RB_WQ, RB_WK, RB_WV}, 3, rb_act_absmax_get(st, l, RB_ACT_QKV_IN),
         r->x[RB_ACT_QKV_IN], r->n[RB_ACT_QKV_IN], r->width[RB_ACT_QKV_IN]},
        {0, {rb_model_weight(m, l, RB_W1), rb_model_weight(m, l, RB_W3)}, {RB_W1, RB_W3}, 2,
         rb_act_absmax_get(st, l, RB_ACT_GATE_UP_IN), r->x[RB_ACT_GATE_UP_IN],
         r->n[RB_ACT_GATE_UP_IN], r->width[RB_ACT_GATE_UP_IN]},
        {1, {rb_model_weight(m, l, RB_WO)}, {RB_WO}, 1, rb_act_absmax_get(st, l, RB_ACT_O_IN),
         r->x[RB_ACT_O_IN], r->n[RB_ACT_O_IN], r->width[RB_ACT_O_IN]},
        {2, {rb_model_weight(m, l, RB_W2)}, {RB_W2}, 1, rb_act_absmax_get(st, l, RB_ACT_DOWN_IN),
         r->x[RB_ACT_DOWN_IN], r->n[RB_ACT_DOWN_IN], r->width[RB_ACT_DOWN_IN]},
    };
    static const rb_act_point points[4] = {RB_ACT_QKV_IN, RB_ACT_GATE_UP_IN, RB_ACT_O_IN,
                                           RB_ACT_DOWN_IN};
    int rc = RB_OK;
    for (int k = 0; !rc && k < (fc_fc ? 4 : 2); k++) {
        pair_eval at = *pe;
        at.point = points[k];
        rc = search_alpha(&at, &d[k], &m->cfg, step, &alpha[k], err);
    }
    return rc;
}

static const char *const pair_names[4] = {"qkv", "gate_up", "o", "down"};

static int smoothquant_apply(rb_stage_ctx *ctx, const rb_stage_opts *opt, rb_error *err) {
    float alpha_opt = (float)rb_opt_get(&rb_method_smoothquant, opt, "alpha");
    int fc_fc = (int)rb_opt_get(&rb_method_smoothquant, opt, "fc_fc");
    int search = (int)rb_opt_get(&rb_method_smoothquant, opt, "search");
    double step = rb_opt_get(&rb_method_smoothquant, opt, "step");
    int cap = (int)rb_opt_get(&rb_method_smoothquant, opt, "rows");
    if (!ctx->calib) return rb_error_set(err, RB_EINVAL, "needs calibration data");
    rb_model *m = ctx->model;
    /* a channel scale cannot be folded through an online Hadamard */
    if (fc_fc && (m->online.down_hadamard || m->online.o_head_hadamard || m->online.down_dense))
        return rb_error_set(err, RB_EINVAL,
                            "fc_fc=1 after online Hadamards before o_proj/down_proj: the "
                            "smoothing scales cannot be folded through them (use "
                            "quarot:online=0 before smoothquant, or smoothquant first)");
    /* with nothing quantized every α is exact: nothing to search */
    if (search && rb_quant_spec_off(&ctx->quant->a) &&
        !rb_quant_overrides_quantize(&ctx->quant->a_override) && !rb_quant_weights_on(ctx->quant)) {
        rb_logf(ctx->log, "smoothquant: search=1 with no quantizer on: alpha=%g everywhere",
                alpha_opt);
        search = 0;
    }
    const rb_config *c = &m->cfg;
    rb_act_absmax st;
    int rc = rb_act_absmax_collect(m, ctx->calib, NULL, &st, err);
    if (rc) return rc;
    json_object *chosen[4] = {NULL, NULL, NULL, NULL};
    if (search && ctx->notes)
        for (int k = 0; k < (fc_fc ? 4 : 2); k++) chosen[k] = json_object_new_array();
    int hd = c->head_dim, group = c->n_heads / c->n_kv_heads;
    pair_eval pe = {ctx->quant, 0, c->n_layers, RB_ACT_QKV_IN};
    /* the search's windows (enough for `cap` rows) layer by layer */
    rb_calib_stream sst = {0};
    if (search) {
        int nw = (cap + ctx->calib->window - 1) / ctx->calib->window;
        rc = rb_calib_stream_init(&sst, m, ctx->calib,
                                  nw < ctx->calib->n_windows ? nw : ctx->calib->n_windows, err);
    }
    for (int l = 0; !rc && l < c->n_layers; l++) {
        rb_layer *L = &m->layers[l];
        float alpha[4] = {alpha_opt, alpha_opt, alpha_opt, alpha_opt};
        /* the stream through layer l - 1, now smoothed */
        if (search && l > 0 && (rc = rb_calib_stream_advance(&sst, m, err))) break;
        if (search) {
            layer_rows r;
            pe.layer = l;
            if ((rc = collect_rows(m, &sst, cap, &r, err))) break;
            rc = search_layer(&pe, m, l, &st, &r, fc_fc, step, alpha, err);
            layer_rows_free(&r);
            if (rc) break;
            for (int k = 0; chosen[0] && k < (fc_fc ? 4 : 2); k++)
                json_object_array_add(chosen[k], /* the grid value, not its float */
                                      json_object_new_double(round(alpha[k] * 1e6) / 1e6));
            rb_logf(ctx->log, "smoothquant: layer %d alpha qkv %.2f gate_up %.2f%s", l, alpha[0],
                    alpha[1], fc_fc ? " (+ o, down)" : "");
        }
        rb_weight_view qkv[3] = {rb_model_weight(m, l, RB_WQ), rb_model_weight(m, l, RB_WK),
                                 rb_model_weight(m, l, RB_WV)};
        rb_weight_view gu[2] = {rb_model_weight(m, l, RB_W1), rb_model_weight(m, l, RB_W3)};
        smooth_norm_input(L->attn_norm, qkv, 3, rb_act_absmax_get(&st, l, RB_ACT_QKV_IN), alpha[0]);
        smooth_norm_input(L->ffn_norm, gu, 2, rb_act_absmax_get(&st, l, RB_ACT_GATE_UP_IN), alpha[1]);
        if (!fc_fc) continue;
        /* v_proj → o_proj, one scale per kv-head channel */
        rb_weight_view wo = rb_model_weight(m, l, RB_WO), wv = qkv[2];
        const float *xo = rb_act_absmax_get(&st, l, RB_ACT_O_IN);
        for (int g = 0; g < c->n_kv_heads; g++)
            for (int e = 0; e < hd; e++) {
                float xmax = 0, wmax = 0;
                for (int h = g * group; h < (g + 1) * group; h++) {
                    xmax = fmaxf(xmax, xo[h * hd + e]);
                    wmax = fmaxf(wmax, col_absmax(wo.w, wo.rows, wo.cols, h * hd + e));
                }
                float s = smooth_scale(xmax, wmax, alpha[2]);
                scale_row(wv.w, wv.cols, g * hd + e, 1.0f / s);
                if (L->bv) L->bv[g * hd + e] *= 1.0f / s; /* the channel is x·wᵀ + b */
                for (int h = g * group; h < (g + 1) * group; h++)
                    scale_col(wo.w, wo.rows, wo.cols, h * hd + e, s);
            }
        /* up_proj → down_proj */
        rb_weight_view w2 = rb_model_weight(m, l, RB_W2), w3 = gu[1];
        const float *xd = rb_act_absmax_get(&st, l, RB_ACT_DOWN_IN);
        for (int j = 0; j < c->hidden_dim; j++) {
            float s = smooth_scale(xd[j], col_absmax(w2.w, w2.rows, w2.cols, j), alpha[3]);
            scale_row(w3.w, w3.cols, j, 1.0f / s);
            scale_col(w2.w, w2.rows, w2.cols, j, s);
        }
    }
    rb_act_absmax_free(&st);
    rb_calib_stream_free(&sst);
    if (chosen[0]) { /* notes: {"smoothquant": {"alpha_qkv": [per layer], ...}} */
        json_object *o = json_object_new_object();
        char key[32];
        for (int k = 0; k < 4; k++) {
            if (!chosen[k]) continue;
            snprintf(key, sizeof key, "alpha_%s", pair_names[k]);
            json_object_object_add(o, key, chosen[k]);
        }
        json_object_object_add(o, "step", json_object_new_double(step));
        json_object_object_add(o, "rows", json_object_new_int(cap));
        if (rc) json_object_put(o);
        else json_object_object_add(ctx->notes, "smoothquant", o);
    }
    return rc;
}
