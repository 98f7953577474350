#include "core/quant.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const rb_quant_spec spec_off = {RB_QUANT_OFF, 0, RB_GRAN_TENSOR, 0, 1.0f, 0};

void rb_quant_config_init(rb_quant_config *q) {
    memset(q, 0, sizeof *q);
    q->w = q->a = q->kv = q->k = q->v = spec_off;
    q->a_high_bits = q->kv_high_bits = q->w_high_bits = 8;
}

static void free_static_params(rb_quant_config *q) {
    free(q->a_scale);
    free(q->a_zero);
    free(q->kv_scale);
    free(q->kv_zero);
    q->a_scale = q->a_zero = q->kv_scale = q->kv_zero = NULL;
}

rb_quant_spec rb_quant_weight_spec(const rb_quant_config *q, int l, int n_layers,
                                   rb_linear_id id) {
    return rb_quant_overrides_spec(&q->w_override, &q->w, l, n_layers, id);
}

/* The linears reading each activation point. */
static const rb_linear_id point_readers[RB_ACT_CLASSIFIER_IN][3] = {
    {RB_WQ, RB_WK, RB_WV}, {RB_WO}, {RB_W1, RB_W3}, {RB_W2}};
static const int n_point_readers[RB_ACT_CLASSIFIER_IN] = {3, 1, 2, 1};

static int rule_selects_point(const rb_quant_override *r, int l, int n_layers, int p) {
    for (int k = 0; k < n_point_readers[p]; k++)
        if (rb_quant_override_selects(r, l, n_layers, point_readers[p][k])) return 1;
    return 0;
}

static int act_width(const rb_config *c, int p) {
    return p == RB_ACT_O_IN ? c->n_heads * c->head_dim : p == RB_ACT_DOWN_IN ? c->hidden_dim : c->dim;
}

rb_quant_spec rb_quant_act_spec(const rb_quant_config *q, int l, rb_act_point p) {
    if (p == RB_ACT_CLASSIFIER_IN || !q->a_override.n) return q->a;
    return rb_quant_overrides_spec_any(&q->a_override, &q->a, l, q->override_layers,
                                       point_readers[p], n_point_readers[p]);
}

/* Whether any activation is quantized (a, or an override that sets bits). */
static int act_on(const rb_quant_config *q) {
    return !rb_quant_spec_off(&q->a) || rb_quant_overrides_quantize(&q->a_override);
}

int rb_quant_weights_on(const rb_quant_config *q) {
    return !rb_quant_spec_off(&q->w) || rb_quant_overrides_quantize(&q->w_override);
}

const rb_quant_spec *rb_quant_kv_spec(const rb_quant_config *q, int which) {
    if (!q->kv_separate) return &q->kv;
    return which ? &q->v : &q->k;
}

/* Whether K or V is quantized at all. */
static int kv_on(const rb_quant_config *q) {
    return !rb_quant_spec_off(rb_quant_kv_spec(q, 0)) || !rb_quant_spec_off(rb_quant_kv_spec(q, 1));
}

void rb_quant_config_free(rb_quant_config *q) {
    free_static_params(q);
    for (int i = 0; i < q->w_slots; i++) {
        free(q->w_scale[i]);
        free(q->w_zero[i]);
    }
    free(q->w_scale);
    free(q->w_zero);
    q->w_scale = q->w_zero = NULL;
    q->w_slots = 0;
}

int rb_quant_keep_w_params(rb_quant_config *q, int n_layers, int layer, int id,
                           const float *scale, const float *zero, size_t n, rb_error *err) {
    int slots = (n_layers + 1) * RB_LINEAR_COUNT, i = rb_quant_w_slot(layer, id);
    if (i < 0 || i > n_layers * RB_LINEAR_COUNT)
        return rb_error_set(err, RB_EINVAL, "weight parameters of layer %d linear %d", layer, id);
    if (q->w_slots < slots) {
        float **s = realloc(q->w_scale, sizeof *s * (size_t)slots);
        if (s) q->w_scale = s;
        float **z = s ? realloc(q->w_zero, sizeof *z * (size_t)slots) : NULL;
        if (z) q->w_zero = z;
        if (!s || !z) return rb_error_set(err, RB_ENOMEM, "out of memory for weight parameters");
        for (int k = q->w_slots; k < slots; k++) q->w_scale[k] = q->w_zero[k] = NULL;
        q->w_slots = slots;
    }
    float *s = malloc(sizeof(float) * n), *z = malloc(sizeof(float) * n);
    if (!s || !z) {
        free(s);
        free(z);
        return rb_error_set(err, RB_ENOMEM, "out of memory for weight parameters");
    }
    memcpy(s, scale, sizeof(float) * n);
    memcpy(z, zero, sizeof(float) * n);
    free(q->w_scale[i]);
    free(q->w_zero[i]);
    q->w_scale[i] = s;
    q->w_zero[i] = z;
    return RB_OK;
}

void rb_quant_w_params(const rb_quant_config *q, int layer, int id, const float **scale,
                       const float **zero) {
    int i = rb_quant_w_slot(layer, id);
    *scale = i >= 0 && i < q->w_slots ? q->w_scale[i] : NULL;
    *zero = i >= 0 && i < q->w_slots ? q->w_zero[i] : NULL;
}

int rb_quant_config_active(const rb_quant_config *q) {
    return act_on(q) || kv_on(q);
}

int rb_quant_config_mixed(const rb_quant_config *q) {
    for (int p = 0; p < RB_ACT_POINT_COUNT; p++)
        if (q->a_split[p].high > 0) return 1;
    return q->k_split.high > 0 || q->v_split.high > 0;
}

static const char *kv_name(const rb_quant_config *q, int which) {
    return !q->kv_separate ? "kv cache" : which ? "v cache" : "k cache";
}

/* K (which 0) or V (1): the spec's own checks, groups inside a head (or
 * whole heads), static per-tensor only. */
static int kv_spec_check(const rb_quant_config *q, int which, const rb_config *c, rb_error *err) {
    const rb_quant_spec *s = rb_quant_kv_spec(q, which);
    const char *what = kv_name(q, which);
    int kvdim = c->n_kv_heads * c->head_dim, rc;
    if ((rc = rb_quant_spec_check(s, kvdim, what, err))) return rc;
    if (rb_quant_spec_off(s)) return RB_OK;
    if (s->gran == RB_GRAN_GROUP && c->head_dim % s->group &&
        (s->group % c->head_dim || kvdim % s->group))
        return rb_error_set(err, RB_EINVAL,
                            "%s: group size %d crosses a head boundary (head_dim %d): it must "
                            "divide head_dim or be a multiple of it dividing %d",
                            what, s->group, c->head_dim, kvdim);
    if (q->kv_static && (s->gran != RB_GRAN_TENSOR || s->clip == RB_CLIP_MSE))
        return rb_error_set(err, RB_EINVAL,
                            "%s: static quantization is per-tensor with a fixed clip ratio", what);
    if (s->clip == RB_CLIP_MSE)
        return rb_error_set(err, RB_EINVAL, "%s: the clip is a ratio in (0, 1] ('mse' is for "
                            "weights)", what);
    return RB_OK;
}

static int high_bits_ok(int bits) { return bits == RB_QUANT_OFF || (bits >= 2 && bits <= 8); }

int rb_quant_config_check(const rb_quant_config *q, const rb_config *c, rb_error *err) {
    int rc;
    if (!high_bits_ok(q->a_high_bits) || !high_bits_ok(q->kv_high_bits) ||
        !high_bits_ok(q->w_high_bits))
        return rb_error_set(err, RB_EINVAL,
                            "high-precision bits %d (activations) / %d (kv cache) / %d (weights) "
                            "outside 2..8 (16 = off)",
                            q->a_high_bits, q->kv_high_bits, q->w_high_bits);
    int qdim = c->n_heads * c->head_dim;
    /* every width the spec is applied to must accept its group size */
    int w_widths[] = {c->dim, qdim, c->hidden_dim};
    for (int i = 0; i < 3; i++)
        if ((rc = rb_quant_spec_check(&q->w, w_widths[i], "weights", err))) return rc;
    for (int i = 0; i < q->w_override.n; i++) { /* every weight a rule changes, at its width */
        int hit = 0;
        for (int l = 0; l < c->n_layers; l++)
            for (int id = 0; id < RB_LINEAR_COUNT; id++) {
                if (!rb_quant_override_selects(&q->w_override.rule[i], l, c->n_layers,
                                               (rb_linear_id)id))
                    continue;
                hit = 1;
                rb_quant_spec s = rb_quant_weight_spec(q, l, c->n_layers, (rb_linear_id)id);
                int cols = id == RB_WO ? qdim : id == RB_W2 ? c->hidden_dim : c->dim;
                if ((rc = rb_quant_spec_check(&s, cols, "weights", err)))
                    return rb_error_prefix(err, "--w-override rule %d, layer %d %s: ", i + 1, l,
                                           rb_linear_name((rb_linear_id)id));
            }
        if (!hit)
            return rb_error_set(err, RB_EINVAL,
                                "--w-override rule %d selects no weight of this %d-layer model",
                                i + 1, c->n_layers);
    }
    for (int i = 0; i < 3; i++)
        if ((rc = rb_quant_spec_check(&q->a, w_widths[i], "activations", err))) return rc;
    for (int j = 0; j < 2; j++)
        if ((rc = kv_spec_check(q, j, c, err))) return rc;
    rb_quant_config bound = *q; /* negative layer indices against this model */
    bound.override_layers = c->n_layers;
    for (int i = 0; i < q->a_override.n; i++) { /* every point a rule changes */
        int hit = 0;
        for (int l = 0; l < c->n_layers; l++)
            for (int p = 0; p < RB_ACT_CLASSIFIER_IN; p++) {
                if (!rule_selects_point(&q->a_override.rule[i], l, c->n_layers, p)) continue;
                hit = 1;
                rb_quant_spec s = rb_quant_act_spec(&bound, l, (rb_act_point)p);
                if ((rc = rb_quant_spec_check(&s, act_width(c, p), "activations", err)))
                    return rb_error_prefix(err, "--a-override rule %d, layer %d: ", i + 1, l);
                if (q->a_static && !rb_quant_spec_off(&s) &&
                    (s.gran != RB_GRAN_TENSOR || s.clip == RB_CLIP_MSE))
                    return rb_error_set(err, RB_EINVAL,
                                        "--a-override rule %d: static activations are per-tensor "
                                        "with a fixed clip ratio", i + 1);
            }
        if (!hit)
            return rb_error_set(err, RB_EINVAL,
                                "--a-override rule %d selects no input of this %d-layer model",
                                i + 1, c->n_layers);
    }
    if (q->a_static && !rb_quant_spec_off(&q->a) &&
        (q->a.gran != RB_GRAN_TENSOR || q->a.clip == RB_CLIP_MSE))
        return rb_error_set(err, RB_EINVAL,
                            "activations: static quantization is per-tensor with a fixed clip "
                            "ratio (per-token scales exist only dynamically)");
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

int rb_quant_clip_value(const char *text, float *clip) {
    if (!strcmp(text, "mse")) {
        *clip = RB_CLIP_MSE;
        return 0;
    }
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (!*text || *end || errno || isspace((unsigned char)text[0]) || !(v > 0 && v <= 1)) return -1;
    float f = (float)v; /* in (0, 1] as the float it is kept as: 1e-66 is 0 there */
    if (!(f > 0)) return -1;
    *clip = f;
    return 0;
}

int rb_quant_parse_clip(const char *text, rb_quant_spec *s, const char *what, rb_error *err) {
    if (!rb_quant_clip_value(text, &s->clip)) return RB_OK;
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
    if (p == RB_ACT_CLASSIFIER_IN && !q->quantize_classifier) return RB_OK;
    rb_quant_spec a = rb_quant_act_spec(q, layer, p);
    if (rb_quant_spec_off(&a)) return RB_OK;
    if (q->a_split[p].high > 0) {
        if (q->a_static) return rb_error_set(err, RB_EINVAL, "%s", static_mixed_msg);
        return quant_dynamic(x, rows, cols, &a, &q->a_split[p], q->a_high_bits, err);
    }
    if (q->a_static) {
        const float *sc, *zr;
        int rc = rb_quant_act_static_params(q, layer, p, &sc, &zr, err);
        if (rc) return rc;
        rb_fake_quant(x, rows, cols, &a, sc, zr);
        return RB_OK;
    }
    return rb_fake_quant_dynamic(x, rows, cols, &a, err);
}

int rb_quant_act_static_params(const rb_quant_config *q, int layer, rb_act_point p,
                               const float **scale, const float **zero, rb_error *err) {
    if (!q->a_scale)
        return rb_error_set(err, RB_EINVAL, "static activation quantization is not calibrated");
    size_t i = (size_t)layer * RB_ACT_POINT_COUNT + p;
    *scale = &q->a_scale[i];
    *zero = &q->a_zero[i];
    return RB_OK;
}

int rb_quant_kv_static_params(const rb_quant_config *q, int layer, int which,
                              const float **scale, const float **zero, rb_error *err) {
    if (!q->kv_scale)
        return rb_error_set(err, RB_EINVAL, "static kv quantization is not calibrated");
    *scale = &q->kv_scale[(size_t)layer * 2 + which];
    *zero = &q->kv_zero[(size_t)layer * 2 + which];
    return RB_OK;
}

static int quant_kv(void *ctx, int layer, float *qv, float *k, float *v, int T,
                    const rb_config *c, rb_error *err) {
    (void)qv;
    rb_quant_config *q = ctx;
    int kvdim = c->n_kv_heads * c->head_dim;
    float *kvs[2] = {k, v};
    const rb_quant_split *splits[2] = {&q->k_split, &q->v_split};
    for (int j = 0; j < 2; j++) {
        const rb_quant_spec *s = rb_quant_kv_spec(q, j);
        if (rb_quant_spec_off(s)) continue;
        if (splits[j]->high > 0) {
            if (q->kv_static) return rb_error_set(err, RB_EINVAL, "%s", static_mixed_msg);
            int rc = quant_dynamic(kvs[j], T, kvdim, s, splits[j], q->kv_high_bits, err);
            if (rc) return rb_error_prefix(err, "%s: ", j ? "v" : "k");
        } else if (q->kv_static) {
            const float *sc, *zr;
            int rc = rb_quant_kv_static_params(q, layer, j, &sc, &zr, err);
            if (rc) return rc;
            rb_fake_quant(kvs[j], T, kvdim, s, sc, zr);
        } else {
            int rc = rb_fake_quant_dynamic(kvs[j], T, kvdim, s, err);
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
    h->window_dependent = (q->a.bits < RB_QUANT_OFF || mixed) && !q->a_static &&
                          q->a.gran == RB_GRAN_TENSOR;
    h->window_dependent |= !q->a_static && rb_quant_overrides_tensor(&q->a_override);
    for (int j = 0; j < 2; j++) {
        const rb_quant_spec *s = rb_quant_kv_spec(q, j);
        h->window_dependent |=
            (s->bits < RB_QUANT_OFF || mixed) && !q->kv_static && s->gran == RB_GRAN_TENSOR;
    }
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
    int want_a = q->a_static && act_on(q);
    int want_kv = q->kv_static && kv_on(q);
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
    free_static_params(q);
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
        for (size_t i = 0; i < na; i++) { /* slot = layer · points + point */
            rb_quant_spec a = rb_quant_act_spec(q, (int)(i / RB_ACT_POINT_COUNT),
                                                (rb_act_point)(i % RB_ACT_POINT_COUNT));
            params_from_range(&a, s.act.lo[i], s.act.hi[i], &q->a_scale[i], &q->a_zero[i]);
        }
        for (size_t i = 0; i < nk; i++) /* slot 2l is K, 2l + 1 is V */
            params_from_range(rb_quant_kv_spec(q, (int)(i % 2)), s.kv.lo[i], s.kv.hi[i],
                              &q->kv_scale[i], &q->kv_zero[i]);
        q->n_layers = m->cfg.n_layers;
    } else {
        free_static_params(q);
    }
    free(s.act.lo); free(s.act.hi); free(s.kv.lo); free(s.kv.hi);
    return rc;
}

/* ---- RTN weights ------------------------------------------------------- */

/* RTN of one weight matrix with spec s; its scales and zeros are kept in q
 * (slot layer, id) for the integer kernels (core/qlinear.h); q NULL: not kept. */
static int rtn_matrix(float *w, int rows, int cols, const rb_quant_spec *s, rb_quant_config *q,
                      int n_layers, int layer, int id, rb_error *err) {
    size_t np = rb_quant_n_params(s, rows, cols);
    float *scale = malloc(sizeof(float) * np), *zero = malloc(sizeof(float) * np);
    if (!scale || !zero) {
        free(scale);
        free(zero);
        return rb_error_set(err, RB_ENOMEM, "out of memory for weight quantization");
    }
    rb_quant_params(w, rows, cols, s, scale, zero);
    rb_fake_quant(w, rows, cols, s, scale, zero);
    int rc = q ? rb_quant_keep_w_params(q, n_layers, layer, id, scale, zero, np, err) : RB_OK;
    free(scale);
    free(zero);
    return rc;
}

rb_quant_split rb_quant_weight_split(const rb_quant_config *q, int id) {
    static const rb_act_point reads[RB_LINEAR_COUNT + 1] = {
        [RB_WQ] = RB_ACT_QKV_IN,     [RB_WK] = RB_ACT_QKV_IN,   [RB_WV] = RB_ACT_QKV_IN,
        [RB_WO] = RB_ACT_O_IN,       [RB_W1] = RB_ACT_GATE_UP_IN, [RB_W3] = RB_ACT_GATE_UP_IN,
        [RB_W2] = RB_ACT_DOWN_IN,    [RB_LINEAR_COUNT] = RB_ACT_CLASSIFIER_IN};
    rb_quant_split none = {0, 0};
    if (!q->w_mixed || id < 0 || id > RB_LINEAR_COUNT) return none;
    return q->a_split[reads[id]].high > 0 ? q->a_split[reads[id]] : none;
}

rb_quant_spec rb_quant_weight_high_spec(const rb_quant_config *q) {
    rb_quant_spec hi = q->w;
    hi.bits = q->w_high_bits;
    return hi;
}

/* Columns of part `high` (1) or the rest (0) of every block, gathered from
 * w [rows][cols] into p [rows][n] (to_part) or scattered back. */
static void move_part(float *w, float *p, int rows, int cols, rb_quant_split sp, int high,
                      int to_part) {
    int width = high ? sp.high : sp.block - sp.high, first = high ? sp.block - sp.high : 0;
    int n = cols / sp.block * width;
    for (int r = 0; r < rows; r++)
        for (int b = 0; b < cols / sp.block; b++)
            for (int j = 0; j < width; j++) {
                float *a = w + (size_t)r * cols + (size_t)b * sp.block + first + j;
                float *c = p + (size_t)r * n + (size_t)b * width + j;
                if (to_part) *c = *a; else *a = *c;
            }
}

/* RTN of one matrix with spec s, the columns of a split at s with
 * q->w_high_bits; with keep and no split, the parameters are kept there. */
static int rtn_matrix_split(float *w, int rows, int cols, const rb_quant_spec *s,
                            const rb_quant_config *q, rb_quant_split split, rb_quant_config *keep,
                            int n_layers, int layer, int id, rb_error *err) {
    if (split.high <= 0) return rtn_matrix(w, rows, cols, s, keep, n_layers, layer, id, err);
    if (split.block < 1 || cols % split.block || split.high > split.block)
        return rb_error_set(err, RB_EINVAL,
                            "weight split: %d high columns of every %d do not tile %d columns",
                            split.high, split.block, cols);
    rb_quant_spec specs[2] = {*s, *s};
    specs[1].bits = q->w_high_bits;
    int widths[2] = {split.block - split.high, split.high};
    for (int part = 0; part < 2; part++)
        if (specs[part].gran == RB_GRAN_GROUP && widths[part] % specs[part].group)
            return rb_error_set(err, RB_EINVAL,
                                "weights: group size %d does not divide the %d %s-precision "
                                "columns of a %d-column block",
                                specs[part].group, widths[part], part ? "high" : "low",
                                split.block);
    float *buf = malloc(sizeof(float) * (size_t)rows * cols);
    if (!buf) return rb_error_set(err, RB_ENOMEM, "out of memory for weight quantization");
    int rc = RB_OK;
    for (int part = 0; !rc && part < 2; part++) {
        if (!widths[part] || rb_quant_spec_off(&specs[part])) continue;
        int n = cols / split.block * widths[part];
        move_part(w, buf, rows, cols, split, part, 1);
        if (!(rc = rtn_matrix(buf, rows, n, &specs[part], NULL, 0, 0, 0, err)))
            move_part(w, buf, rows, cols, split, part, 0);
    }
    free(buf);
    return rc;
}

int rb_quant_weight_matrix_rtn(float *w, int rows, int cols, const rb_quant_config *q,
                               rb_quant_split split, rb_error *err) {
    return rtn_matrix_split(w, rows, cols, &q->w, q, split, NULL, 0, 0, 0, err);
}

/* keep: where the parameters go (NULL: nowhere) */
static int weights_rtn(rb_model *m, const rb_quant_config *q, rb_quant_config *keep, rb_error *err) {
    if (!rb_quant_weights_on(q)) return RB_OK;
    int rc;
    for (int l = 0; l < m->cfg.n_layers; l++)
        for (int id = 0; id < RB_LINEAR_COUNT; id++) {
            rb_weight_view v = rb_model_weight(m, l, (rb_linear_id)id);
            rb_quant_spec s = rb_quant_weight_spec(q, l, m->cfg.n_layers, (rb_linear_id)id);
            if (rb_quant_spec_off(&s)) continue;
            if ((rc = rtn_matrix_split(v.w, v.rows, v.cols, &s, q, rb_quant_weight_split(q, id),
                                       keep, m->cfg.n_layers, l, id, err)))
                return rb_error_prefix(err, "layer %d %s: ", l, rb_linear_name((rb_linear_id)id));
        }
    if (q->quantize_classifier && !rb_quant_spec_off(&q->w)) {
        if ((rc = rb_model_untie_classifier(m, err))) return rc;
        if ((rc = rtn_matrix_split(m->classifier, m->cfg.vocab_size, m->cfg.dim, &q->w, q,
                                   rb_quant_weight_split(q, RB_LINEAR_COUNT), keep,
                                   m->cfg.n_layers, m->cfg.n_layers, RB_LINEAR_COUNT, err)))
            return rb_error_prefix(err, "classifier: ");
    }
    return RB_OK;
}

int rb_quant_weights_rtn(rb_model *m, rb_quant_config *q, rb_error *err) {
    return weights_rtn(m, q, q, err);
}

int rb_quant_weights_rtn_transient(rb_model *m, const rb_quant_config *q, rb_error *err) {
    return weights_rtn(m, q, NULL, err);
}
