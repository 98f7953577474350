#include "core/calib.h"

#include <stdlib.h>
#include <string.h>

#include "base/rng.h"

int rb_calib_from_tokens(const int32_t *tokens, size_t n, int n_windows, int window,
                         uint64_t seed, rb_calib *out, rb_error *err) {
    memset(out, 0, sizeof *out);
    if (n_windows < 1 || window < 2)
        return rb_error_set(err, RB_EINVAL, "calibration needs at least 1 window of 2 tokens "
                            "(got %d windows of %d)", n_windows, window);
    if (n < (size_t)window)
        return rb_error_set(err, RB_EINVAL,
                            "calibration corpus has %zu tokens, fewer than one window of %d", n,
                            window);
    out->tokens = malloc(sizeof(int32_t) * (size_t)n_windows * window);
    if (!out->tokens) return rb_error_set(err, RB_ENOMEM, "out of memory for calibration windows");
    rb_rng r;
    rb_rng_seed(&r, seed);
    for (int w = 0; w < n_windows; w++) {
        size_t start = (size_t)rb_rng_below(&r, (uint64_t)(n - (size_t)window + 1));
        memcpy(out->tokens + (size_t)w * window, tokens + start, sizeof(int32_t) * window);
    }
    out->n_windows = n_windows;
    out->window = window;
    return RB_OK;
}

void rb_calib_free(rb_calib *c) {
    free(c->tokens);
    memset(c, 0, sizeof *c);
}

int rb_calib_forward(const rb_model *m, const rb_calib *c, const rb_hooks *hooks, rb_error *err) {
    rb_workspace ws;
    int rc = rb_workspace_init(&ws, &m->cfg, c->window, err);
    for (int w = 0; !rc && w < c->n_windows; w++)
        rc = rb_forward(m, &ws, c->tokens + (size_t)w * c->window, c->window, hooks, err);
    rb_workspace_free(&ws);
    return rc;
}
