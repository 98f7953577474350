/* outliers: plant LLM-like outlier channels, preserving the function.
 *
 * `count` residual channels (the same in every layer, as massive activations
 * are in real LLMs) chosen with the run's seed: their attn_norm and ffn_norm
 * weights are multiplied by `scale` and the matching input columns of
 * wq/wk/wv and w1/w3 divided by it, so the linear inputs at those channels
 * are `scale` times larger and the outputs are unchanged.  With ffn=1 also
 * `count` FFN channels per layer: w3 (up) rows × scale, w2 (down) columns ÷
 * scale, so down_proj inputs carry outliers too.  The fp32 logits are
 * unchanged up to rounding (tests check 1e-5 relative).  Only input columns
 * of wq/wk/wv change, so their output biases (cfg.qkv_bias) stay as they are. */
#include <stdlib.h>

#include "base/rng.h"
#include "methods/method.h"

static int outliers_apply(rb_stage_ctx *ctx, const rb_stage_opts *opt, rb_error *err);

static const rb_option_spec outliers_options[] = {
    {"count", RB_OPT_INT, 4, 1, 65536, "outlier channels (residual, and per layer in the FFN)", NULL},
    {"scale", RB_OPT_FLOAT, 20, 1, 1e6, "factor by which those channels grow", NULL},
    {"ffn", RB_OPT_BOOL, 1, 0, 1, "also plant outliers at down_proj inputs", NULL},
    {"seed", RB_OPT_INT, 0, 0, 1e9, "channel choice (independent of the run's seed)", NULL},
    {NULL}};

const rb_method rb_method_outliers = {
    .name = "outliers",
    .help = "plant function-preserving outlier channels of a given size",
    .options = outliers_options,
    .apply = outliers_apply,
};

/* k distinct channels of n (partial Fisher-Yates). */
static int pick_channels(int n, int k, rb_rng *r, int *out) {
    int *perm = malloc(sizeof(int) * (size_t)n);
    if (!perm) return -1;
    for (int i = 0; i < n; i++) perm[i] = i;
    for (int i = 0; i < k; i++) {
        int j = i + (int)rb_rng_below(r, (uint64_t)(n - i));
        int t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
        out[i] = perm[i];
    }
    free(perm);
    return 0;
}

static void scale_col(rb_weight_view v, int j, float s) {
    for (int o = 0; o < v.rows; o++) v.w[(size_t)o * v.cols + j] *= s;
}

static int outliers_apply(rb_stage_ctx *ctx, const rb_stage_opts *opt, rb_error *err) {
    const rb_method *me = &rb_method_outliers;
    int count = (int)rb_opt_get(me, opt, "count");
    float s = (float)rb_opt_get(me, opt, "scale");
    int ffn = (int)rb_opt_get(me, opt, "ffn");
    rb_model *m = ctx->model;
    const rb_config *c = &m->cfg;
    if (count > c->dim || (ffn && count > c->hidden_dim))
        return rb_error_set(err, RB_EINVAL, "count=%d exceeds the model's width (dim %d, hidden %d)",
                            count, c->dim, c->hidden_dim);
    rb_rng r;
    rb_rng_seed(&r, (uint64_t)rb_opt_get(me, opt, "seed") * 7919 + 17);
    int *ch = malloc(sizeof(int) * (size_t)(c->hidden_dim > c->dim ? c->hidden_dim : c->dim));
    if (!ch || pick_channels(c->dim, count, &r, ch)) {
        free(ch);
        return rb_error_set(err, RB_ENOMEM, "out of memory");
    }
    for (int l = 0; l < c->n_layers; l++) {
        rb_layer *L = &m->layers[l];
        for (int i = 0; i < count; i++) {
            int j = ch[i];
            L->attn_norm[j] *= s;
            L->ffn_norm[j] *= s;
            rb_linear_id readers[] = {RB_WQ, RB_WK, RB_WV, RB_W1, RB_W3};
            for (int k = 0; k < 5; k++) scale_col(rb_model_weight(m, l, readers[k]), j, 1.0f / s);
        }
    }
    for (int l = 0; ffn && l < c->n_layers; l++) {
        int *hch = ch + 0;
        if (pick_channels(c->hidden_dim, count, &r, hch)) {
            free(ch);
            return rb_error_set(err, RB_ENOMEM, "out of memory");
        }
        rb_weight_view w3 = rb_model_weight(m, l, RB_W3), w2 = rb_model_weight(m, l, RB_W2);
        for (int i = 0; i < count; i++) {
            for (int k = 0; k < w3.cols; k++) w3.w[(size_t)hch[i] * w3.cols + k] *= s;
            scale_col(w2, hch[i], 1.0f / s);
        }
    }
    free(ch);
    return RB_OK;
}
