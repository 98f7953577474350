/* rtn: round-to-nearest weight quantization with the run's weight spec
 * (bits, sym/asym, per-tensor / per-channel / per-group, clip or MSE clip). */
#include "core/quant.h"
#include "methods/method.h"

static int rtn_apply(rb_stage_ctx *ctx, const rb_stage_opts *opt, rb_error *err) {
    (void)opt;
    return rb_quant_weights_rtn(ctx->model, ctx->quant, err);
}

static const rb_option_spec rtn_options[] = {{NULL}};

const rb_method rb_method_rtn = {
    .name = "rtn",
    .help = "round-to-nearest weight quantization with the --w-* settings",
    .options = rtn_options,
    .quantizes_weights = 1,
    .apply = rtn_apply,
};
