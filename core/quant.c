#include "core/quant.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const rb_quant_spec spec_off = {RB_QUANT_OFF, 0, RB_GRAN_TENSOR, 0, 1.0f, 0};

void rb_quant_config_init(rb_quant_config *q) {
    memset(q, 0, sizeof *q);
    q->w = q->a = q->kv = spec_off;
    q->a_high_bits = q->kv_high_bits = 8;
}

void rb_quant_config_free(rb_quant_config *q) {
    free(q->a_scale);
    free(q->a_zero);
    free(q->kv_scale);
    free(q->kv_zero);
    q->a_scale = q->a_zero = q->kv_scale = q->kv_zero = NULL;
}

int rb_quant_config_active(const rb_quant_config *q) {
    return !rb_quant_spec_off(&q->a) || !rb_quant_spec_off(&q->kv);
}

int rb_quant_config_mixed(const rb_quant_config *q) {
    for (int p = 0; p < RB_ACT_POINT_COUNT; p++)
        if (q->a_split[p].high > 0) return 1;
    return q->k_split.high > 0 || q->v_split.high > 0;
}

static int high_bits_ok(int bits) { return bits == RB_QUANT_OFF || (bits >= 2 && bits <= 8); }

int rb_quant_config_check(const rb_quant_config *q, const rb_config *c, rb_error *err) {
    int rc;
    if (!high_bits_ok(q->a_high_bits) || !high_bits_ok(q->kv_high_bits))
        return rb_error_set(err, RB_EINVAL,
                            "high-precision bits %d (activations) / %d (kv cache) outside 2..8 "
                            "(16 = off)",
                            q->a_high_bits, q->kv_high_bits);
    int qdim = c->n_heads * c->head_dim, kvdim = c->n_kv_heads * c->head_dim;
    /* every width the spec is applied to must accept its group size */
    int w_widths[] = {c->dim, qdim, c->hidden_dim};
    for (int i = 0; i < 3; i++)
        if ((rc = rb_quant_spec_check(&q->w, w_widths[i], "weights", err))) return rc;
    for (int i = 0; i < 3; i++)
        if ((rc = rb_quant_spec_check(&q->a, w_widths[i], "activations", err))) return rc;
    if ((rc = rb_quant_spec_check(&q->kv, kvdim, "kv cache", err))) return rc;
    if (q->a_static && !rb_quant_spec_off(&q->a) &&
        (q->a.gran != RB_GRAN_TENSOR || q->a.clip == RB_CLIP_MSE))
        return rb_error_set(err, RB_EINVAL,
                            "activations: static quantization is per-tensor with a fixed clip "
                            "ratio (per-token scales exist only dynamically)");
    if (q->kv_static && !rb_quant_spec_off(&q->kv) &&
        (q->kv.gran != RB_GRAN_TENSOR || q->kv.clip == RB_CLIP_MSE))
        return rb_error_set(err, RB_EINVAL,
                            "kv cache: static quantization is per-tensor with a fixed clip ratio");
    return RB_OK;
}

int rb_quant_parse_gran(const char *text, rb_quant_spec *s, const char *what, rb_error *err) {
    if (!strcmp(text, "tensor")) {
        s->gran = RB_GRAN_TENSOR;
        return RB_OK;
    }
    if (!strcmp(text, "channel") || !strcmp(text, "token") || !strcmp(text, "row")) {
        s->gran = RB_GRAN_ROW;
        return RB_OK;
    }
    char *end;
    if (!strncmp(text, "group:", 6)) {
        long g = strtol(text + 6, &end, 10);
        if (*end == 0 && g >= 1 && g <= (1 << 20)) {
            s->gran = RB_GRAN_GROUP;
            s->group = (int)g;
            return RB_OK;
        }
    }
    return rb_error_set(err, RB_EINVAL,
                        "%s: '%s' is not a granularity (tensor, channel, token, group:G)", what,
                        text);
}

int rb_quant_parse_clip(const char *text, rb_quant_spec *s, const char *what, rb_error *err) {
    if (!strcmp(text, "mse")) {
        s->clip = RB_CLIP_MSE;
        return RB_OK;
    }
    char *end;
    double v = strtod(text, &end);
    if (*text && !*end && v > 0 && v <= 1) {
        s->clip = (float)v;
        return RB_OK;
    }
    return rb_error_set(err, RB_EINVAL, "%s: '%s' is not a clip ratio in (0, 1] or 'mse'", what,
                        text);
}

/* ---- forward hooks ---------------------------------------------------- */

static const char *const static_mixed_msg =
    "mixed-precision channels are quantized dynamically only (drop --a-static / --kv-static)";

/* x [rows][cols] with spec s, or mixed with the high channels of sp at
 * high_bits. */
static int quant_dynamic(float *x, int rows, int cols, const rb_quant_spec *s,
                         const rb_quant_split *sp, int high_bits, rb_error *err) {
    if (sp->high <= 0) return rb_fake_quant_dynamic(x, rows, cols, s, err);
    rb_quant_spec hi = *s;
    hi.bits = high_bits;
    return rb_fake_quant_dynamic_split(x, rows, cols, sp->block, sp->high, s, &hi, err);
}

static int quant_activation(void *ctx, int layer, rb_act_point p, float *x, int rows, int cols,
                            rb_error *err) {
    rb_quant_config *q = ctx;
    if (rb_quant_spec_off(&q->a)) return RB_OK;
    if (p == RB_ACT_CLASSIFIER_IN && !q->quantize_classifier) return RB_OK;
    if (q->a_split[p].high > 0) {
        if (q->a_static) return rb_error_set(err, RB_EINVAL, "%s", static_mixed_msg);
        return quant_dynamic(x, rows, cols, &q->a, &q->a_split[p], q->a_high_bits, err);
    }
    if (q->a_static) {
        if (!q->a_scale)
            return rb_error_set(err, RB_EINVAL, "static activation quantization is not calibrated");
        size_t i = (size_t)layer * RB_ACT_POINT_COUNT + p;
        rb_fake_quant(x, rows, cols, &q->a, &q->a_scale[i], &q->a_zero[i]);
        return RB_OK;
    }
    return rb_fake_quant_dynamic(x, rows, cols, &q->a, err);
}

static int quant_kv(void *ctx, int layer, float *qv, float *k, float *v, int T,
                    const rb_config *c, rb_error *err) {
    (void)qv;
    rb_quant_config *q = ctx;
    if (rb_quant_spec_off(&q->kv)) return RB_OK;
    int kvdim = c->n_kv_heads * c->head_dim;
    float *kvs[2] = {k, v};
    const rb_quant_split *splits[2] = {&q->k_split, &q->v_split};
    for (int j = 0; j < 2; j++) {
        if (splits[j]->high > 0) {
            if (q->kv_static) return rb_error_set(err, RB_EINVAL, "%s", static_mixed_msg);
            int rc = quant_dynamic(kvs[j], T, kvdim, &q->kv, splits[j], q->kv_high_bits, err);
            if (rc) return rb_error_prefix(err, "%s: ", j ? "v" : "k");
        } else if (q->kv_static) {
            if (!q->kv_scale)
                return rb_error_set(err, RB_EINVAL, "static kv quantization is not calibrated");
            size_t i = (size_t)layer * 2 + j;
            rb_fake_quant(kvs[j], T, kvdim, &q->kv, &q->kv_scale[i], &q->kv_zero[i]);
        } else {
            int rc = rb_fake_quant_dynamic(kvs[j], T, kvdim, &q->kv, err);
            if (rc) return rc;
        }
    }
    return RB_OK;
}

void rb_quant_hooks(rb_quant_config *q, rb_hooks *h) {
    memset(h, 0, sizeof *h);
    h->ctx = q;
    h->activation = quant_activation;
    h->qkv = quant_kv;
    /* a dynamic per-tensor scale is taken over every row of the window */
    int mixed = rb_quant_config_mixed(q);
    h->window_dependent =
        ((q->a.bits < RB_QUANT_OFF || mixed) && !q->a_static && q->a.gran == RB_GRAN_TENSOR) ||
        ((q->kv.bits < RB_QUANT_OFF || mixed) && !q->kv_static && q->kv.gran == RB_GRAN_TENSOR);
}

/* ---- static calibration ------------------------------------------------ */

typedef struct range_log {
    float *lo, *hi; /* running min and max per slot */
} range_log;

static void track(range_log *r, size_t slot, const float *x, size_t n) {
    float lo = r->lo[slot], hi = r->hi[slot];
    for (size_t i = 0; i < n; i++) {
        lo = x[i] < lo ? x[i] : lo;
        hi = x[i] > hi ? x[i] : hi;
    }
    r->lo[slot] = lo;
    r->hi[slot] = hi;
}

typedef struct calib_state {
    range_log act, kv;
} calib_state;

static int log_activation(void *ctx, int layer, rb_act_point p, float *x, int rows, int cols,
                          rb_error *err) {
    (void)err;
    track(&((calib_state *)ctx)->act, (size_t)layer * RB_ACT_POINT_COUNT + p, x,
          (size_t)rows * cols);
    return RB_OK;
}

static int log_kv(void *ctx, int layer, float *qv, float *k, float *v, int T, const rb_config *c,
                  rb_error *err) {
    (void)qv; (void)err;
    calib_state *s = ctx;
    size_t n = (size_t)T * c->n_kv_heads * c->head_dim;
    track(&s->kv, (size_t)layer * 2, k, n);
    track(&s->kv, (size_t)layer * 2 + 1, v, n);
    return RB_OK;
}

/* Per-tensor parameters from an observed range: the range's two ends are a
 * two-element "tensor" with the same min/max. */
static void params_from_range(const rb_quant_spec *s, float lo, float hi, float *scale,
                              float *zero) {
    float ends[2] = {lo, hi};
    rb_quant_params(ends, 1, 2, s, scale, zero);
}

int rb_quant_calibrate(rb_quant_config *q, const rb_model *m, const rb_calib *calib,
                       rb_error *err) {
    int want_a = q->a_static && !rb_quant_spec_off(&q->a);
    int want_kv = q->kv_static && !rb_quant_spec_off(&q->kv);
    if (!want_a && !want_kv) return RB_OK;
    int mixed_a = 0;
    for (int p = 0; p < RB_ACT_POINT_COUNT; p++) mixed_a |= q->a_split[p].high > 0;
    if ((want_a && mixed_a) || (want_kv && (q->k_split.high > 0 || q->v_split.high > 0)))
        return rb_error_set(err, RB_EINVAL, "%s", static_mixed_msg);
    if (!calib) return rb_error_set(err, RB_EINVAL, "static quantization needs calibration data");
    size_t na = (size_t)(m->cfg.n_layers + 1) * RB_ACT_POINT_COUNT, nk = (size_t)m->cfg.n_layers * 2;
    calib_state s;
    s.act.lo = malloc(sizeof(float) * na);
    s.act.hi = malloc(sizeof(float) * na);
    s.kv.lo = malloc(sizeof(float) * nk);
    s.kv.hi = malloc(sizeof(float) * nk);
    rb_quant_config_free(q);
    q->a_scale = malloc(sizeof(float) * na);
    q->a_zero = malloc(sizeof(float) * na);
    q->kv_scale = malloc(sizeof(float) * nk);
    q->kv_zero = malloc(sizeof(float) * nk);
    int rc = RB_OK;
    if (!s.act.lo || !s.act.hi || !s.kv.lo || !s.kv.hi || !q->a_scale || !q->a_zero ||
        !q->kv_scale || !q->kv_zero)
        rc = rb_error_set(err, RB_ENOMEM, "out of memory for static quantization parameters");
    if (!rc) {
        for (size_t i = 0; i < na; i++) s.act.lo[i] = 0, s.act.hi[i] = 0;
        for (size_t i = 0; i < nk; i++) s.kv.lo[i] = 0, s.kv.hi[i] = 0;
        rb_hooks h = {.ctx = &s, .activation = log_activation, .qkv = log_kv};
        rc = rb_calib_forward(m, calib, &h, err);
    }
    if (!rc) {
        for (size_t i = 0; i < na; i++)
            params_from_range(&q->a, s.act.lo[i], s.act.hi[i], &q->a_scale[i], &q->a_zero[i]);
        for (size_t i = 0; i < nk; i++)
            params_from_range(&q->kv, s.kv.lo[i], s.kv.hi[i], &q->kv_scale[i], &q->kv_zero[i]);
        q->n_layers = m->cfg.n_layers;
    } else {
        rb_quant_config_free(q);
    }
    free(s.act.lo); free(s.act.hi); free(s.kv.lo); free(s.kv.hi);
    return rc;
}

/* ---- RTN weights ------------------------------------------------------- */

static int rtn_matrix(float *w, int rows, int cols, const rb_quant_spec *s, rb_error *err) {
    size_t np = rb_quant_n_params(s, rows, cols);
    float *scale = malloc(sizeof(float) * np), *zero = malloc(sizeof(float) * np);
    if (!scale || !zero) {
        free(scale);
        free(zero);
        return rb_error_set(err, RB_ENOMEM, "out of memory for weight quantization");
    }
    rb_quant_params(w, rows, cols, s, scale, zero);
    rb_fake_quant(w, rows, cols, s, scale, zero);
    free(scale);
    free(zero);
    return RB_OK;
}

int rb_quant_weights_rtn(rb_model *m, const rb_quant_config *q, rb_error *err) {
    if (rb_quant_spec_off(&q->w)) return RB_OK;
    int rc;
    for (int l = 0; l < m->cfg.n_layers; l++)
        for (int id = 0; id < RB_LINEAR_COUNT; id++) {
            rb_weight_view v = rb_model_weight(m, l, (rb_linear_id)id);
            if ((rc = rtn_matrix(v.w, v.rows, v.cols, &q->w, err)))
                return rb_error_prefix(err, "layer %d %s: ", l, rb_linear_name((rb_linear_id)id));
        }
    if (q->quantize_classifier) {
        if ((rc = rb_model_untie_classifier(m, err))) return rc;
        if ((rc = rtn_matrix(m->classifier, m->cfg.vocab_size, m->cfg.dim, &q->w, err)))
            return rb_error_prefix(err, "classifier: ");
    }
    return RB_OK;
}
