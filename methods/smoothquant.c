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
 * inputs (quarot with online=1): a scale cannot be folded through them. */
#include <math.h>
#include <stdlib.h>

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

static int smoothquant_apply(rb_stage_ctx *ctx, const rb_stage_opts *opt, rb_error *err);

static const rb_option_spec smoothquant_options[] = {
    {"alpha", RB_OPT_FLOAT, 0.5, 0.0, 1.0, "migration strength α", NULL},
    {"fc_fc", RB_OPT_BOOL, 0, 0, 1, "also smooth v_proj→o_proj and up_proj→down_proj", NULL},
    {NULL}};

const rb_method rb_method_smoothquant = {
    .name = "smoothquant",
    .help = "per-channel smoothing scales folded into norms and linears (Xiao et al. 2023)",
    .options = smoothquant_options,
    .apply = smoothquant_apply,
};

static int smoothquant_apply(rb_stage_ctx *ctx, const rb_stage_opts *opt, rb_error *err) {
    float alpha = (float)rb_opt_get(&rb_method_smoothquant, opt, "alpha");
    int fc_fc = (int)rb_opt_get(&rb_method_smoothquant, opt, "fc_fc");
    if (!ctx->calib) return rb_error_set(err, RB_EINVAL, "needs calibration data");
    rb_model *m = ctx->model;
    /* a channel scale cannot be folded through an online Hadamard */
    if (fc_fc && (m->online.down_hadamard || m->online.o_head_hadamard || m->online.down_dense))
        return rb_error_set(err, RB_EINVAL,
                            "fc_fc=1 after online Hadamards before o_proj/down_proj: the "
                            "smoothing scales cannot be folded through them (use "
                            "quarot:online=0 before smoothquant, or smoothquant first)");
    const rb_config *c = &m->cfg;
    rb_act_absmax st;
    int rc = rb_act_absmax_collect(m, ctx->calib, NULL, &st, err);
    if (rc) return rc;
    int hd = c->head_dim, group = c->n_heads / c->n_kv_heads;
    for (int l = 0; l < c->n_layers; l++) {
        rb_layer *L = &m->layers[l];
        rb_weight_view qkv[3] = {rb_model_weight(m, l, RB_WQ), rb_model_weight(m, l, RB_WK),
                                 rb_model_weight(m, l, RB_WV)};
        rb_weight_view gu[2] = {rb_model_weight(m, l, RB_W1), rb_model_weight(m, l, RB_W3)};
        smooth_norm_input(L->attn_norm, qkv, 3, rb_act_absmax_get(&st, l, RB_ACT_QKV_IN), alpha);
        smooth_norm_input(L->ffn_norm, gu, 2, rb_act_absmax_get(&st, l, RB_ACT_GATE_UP_IN), alpha);
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
                float s = smooth_scale(xmax, wmax, alpha);
                scale_row(wv.w, wv.cols, g * hd + e, 1.0f / s);
                if (L->bv) L->bv[g * hd + e] *= 1.0f / s; /* the channel is x·wᵀ + b */
                for (int h = g * group; h < (g + 1) * group; h++)
                    scale_col(wo.w, wo.rows, wo.cols, h * hd + e, s);
            }
        /* up_proj → down_proj */
        rb_weight_view w2 = rb_model_weight(m, l, RB_W2), w3 = gu[1];
        const float *xd = rb_act_absmax_get(&st, l, RB_ACT_DOWN_IN);
        for (int j = 0; j < c->hidden_dim; j++) {
            float s = smooth_scale(xd[j], col_absmax(w2.w, w2.rows, w2.cols, j), alpha);
            scale_row(w3.w, w3.cols, j, 1.0f / s);
            scale_col(w2.w, w2.rows, w2.cols, j, s);
        }
    }
    rb_act_absmax_free(&st);
    return RB_OK;
}
