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

int rb_calib_stream_init(rb_calib_stream *s, const rb_model *m, const rb_calib *calib,
                         int n_windows, rb_error *err) {
    memset(s, 0, sizeof *s);
    if (n_windows < 0 || n_windows > calib->n_windows)
        return rb_error_set(err, RB_EINVAL, "calibration stream of %d of %d windows", n_windows,
                            calib->n_windows);
    s->calib = calib;
    s->n_windows = n_windows;
    int rc = rb_workspace_init(&s->ws, &m->cfg, calib->window, err);
    size_t wlen = (size_t)calib->window * m->cfg.dim;
    if (!rc && !(s->x = malloc(sizeof(float) * wlen * (n_windows ? n_windows : 1))))
        rc = rb_error_set(err, RB_ENOMEM, "out of memory for the calibration stream (%d × %d × %d)",
                          n_windows, calib->window, m->cfg.dim);
    for (int w = 0; !rc && w < n_windows; w++) {
        const int32_t *tok = calib->tokens + (size_t)w * calib->window;
        if (!(rc = rb_forward_check_tokens(&m->cfg, tok, calib->window, err)))
            rb_forward_embed(m, tok, calib->window, s->x + w * wlen);
    }
    if (rc) {
        rb_calib_stream_free(s);
        return rc;
    }
    rb_rope_tables_sync(m, s->ws.rope_freq, s->ws.rope_cos, s->ws.rope_sin, s->ws.max_T);
    s->bufs = rb_workspace_layer_bufs(&s->ws);
    return RB_OK;
}

int rb_calib_stream_look(rb_calib_stream *s, const rb_model *m, int w, const rb_hooks *hooks,
                         rb_error *err) {
    int T = s->calib->window;
    size_t wlen = (size_t)T * m->cfg.dim;
    rb_segment whole = {0, T, 0, 0, 0, 0};
    memcpy(s->ws.x, s->x + w * wlen, sizeof(float) * wlen);
    return rb_layer_forward(m, s->layer, &s->bufs, T, &whole, 1, hooks, err);
}

int rb_calib_stream_advance(rb_calib_stream *s, const rb_model *m, rb_error *err) {
    size_t wlen = (size_t)s->calib->window * m->cfg.dim;
    for (int w = 0; w < s->n_windows; w++) {
        int rc = rb_calib_stream_look(s, m, w, NULL, err);
        if (rc) return rc;
        memcpy(s->x + w * wlen, s->ws.x, sizeof(float) * wlen);
    }
    s->layer++;
    return RB_OK;
}

void rb_calib_stream_free(rb_calib_stream *s) {
    free(s->x);
    rb_workspace_free(&s->ws);
    memset(s, 0, sizeof *s);
}
