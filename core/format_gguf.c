#include "core/formats.h"
int rb_gguf_model_open(const char *path, rb_model **out, rb_model_info *info, rb_error *err) {
    (void)out; (void)info;
    return rb_error_set(err, RB_EUNSUPPORTED, "%s: GGUF not yet", path);
}
