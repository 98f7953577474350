#include "core/context_limit.h"

int rb_model_max_ctx(const rb_config *c) { return c->seq_len; }

int rb_ctx_check(const rb_config *c, long ctx, int allow_long, const char *what,
                 const char *model, rb_error *err) {
    int max = rb_model_max_ctx(c);
    if (ctx <= max || allow_long) return RB_OK;
    return rb_error_set(err, RB_EINVAL,
                        "%s %ld exceeds the maximum context of %s (%d positions, what it was "
                        "trained for): results past it are not comparable; give "
                        "--allow-long-ctx to run anyway (the result records it)",
                        what, ctx, model ? model : "the model", max);
}
