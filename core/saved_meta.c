/* rotbench metadata of saved models (see core/saved_meta.h). */
#include "core/saved_meta.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const rb_saved_qk_dense_gguf = "rotbench.qk_dense.%d";
const char *const rb_saved_down_dense_gguf = "rotbench.down_dense.%d";
const char *const rb_saved_qk_dense_hf = "rotbench.layers.%d.qk_dense";
const char *const rb_saved_down_dense_hf = "rotbench.layers.%d.down_dense";

void rb_quant_spec_describe(const rb_quant_spec *s, int is_static, char *buf, size_t cap) {
    if (rb_quant_spec_off(s)) {
        snprintf(buf, cap, "off");
        return;
    }
    char gran[32], clip[32];
    if (s->gran == RB_GRAN_GROUP) snprintf(gran, sizeof gran, "group:%d", s->group);
    else snprintf(gran, sizeof gran, "%s", s->gran == RB_GRAN_ROW ? "row" : "tensor");
    if (s->clip == RB_CLIP_MSE) snprintf(clip, sizeof clip, "mse");
    else snprintf(clip, sizeof clip, "%.9g", (double)s->clip);
    snprintf(buf, cap, "bits=%d %s %s clip=%s%s%s", s->bits, s->asym ? "asym" : "sym", gran, clip,
             is_static ? " static" : "", s->scale_f16 ? " scale=f16" : "");
}

void rb_saved_meta_from(rb_saved_meta *meta, const rb_model *m, const rb_quant_config *q,
                        const char *saved) {
    memset(meta, 0, sizeof *meta);
    meta->present = 1;
    snprintf(meta->saved, sizeof meta->saved, "%s", saved ? saved : "");
    meta->qk_hadamard = m->online.qk_hadamard;
    meta->down_hadamard = m->online.down_hadamard;
    meta->o_head_hadamard = m->online.o_head_hadamard;
    meta->a_high_bits = meta->kv_high_bits = 8;
    snprintf(meta->quant_w, sizeof meta->quant_w, "off");
    snprintf(meta->quant_a, sizeof meta->quant_a, "off");
    snprintf(meta->quant_kv, sizeof meta->quant_kv, "off");
    if (!q) return;
    memcpy(meta->a_split, q->a_split, sizeof meta->a_split);
    meta->k_split = q->k_split;
    meta->v_split = q->v_split;
    meta->a_high_bits = q->a_high_bits;
    meta->kv_high_bits = q->kv_high_bits;
    rb_quant_spec_describe(&q->w, 0, meta->quant_w, sizeof meta->quant_w);
    rb_quant_spec_describe(&q->a, q->a_static, meta->quant_a, sizeof meta->quant_a);
    rb_quant_spec_describe(&q->kv, q->kv_static, meta->quant_kv, sizeof meta->quant_kv);
}

int rb_saved_meta_has_split(const rb_saved_meta *meta) {
    for (int p = 0; p < RB_ACT_POINT_COUNT; p++)
        if (meta->a_split[p].high) return 1;
    return meta->k_split.high || meta->v_split.high;
}

void rb_saved_meta_apply_splits(const rb_saved_meta *meta, rb_quant_config *q) {
    if (!meta->present || !rb_saved_meta_has_split(meta)) return;
    memcpy(q->a_split, meta->a_split, sizeof q->a_split);
    q->k_split = meta->k_split;
    q->v_split = meta->v_split;
}

static const char *dense_name(int hf, int which) {
    return hf ? (which ? rb_saved_down_dense_hf : rb_saved_qk_dense_hf)
              : (which ? rb_saved_down_dense_gguf : rb_saved_qk_dense_gguf);
}

/* Whether name is pattern pat ("...%d..." once) with a layer in 0..n-1. */
static int match_layer(const char *name, const char *pat, int n, int *layer) {
    const char *pc = strstr(pat, "%d");
    size_t pre = (size_t)(pc - pat);
    if (strncmp(name, pat, pre)) return 0;
    char *end;
    long l = strtol(name + pre, &end, 10);
    if (end == name + pre || name[pre] == '-' || name[pre] == '+' || strcmp(end, pc + 2)) return 0;
    if (l < 0 || l >= n) return 0;
    *layer = (int)l;
    return 1;
}

int rb_saved_bind_dense(rb_model *m, const char *name, int hf, const void *data, int is_f32,
                        int ndim, const int64_t *dims, const char *what, rb_error *err) {
    const rb_config *c = &m->cfg;
    for (int which = 0; which < 2; which++) {
        int l;
        if (!match_layer(name, dense_name(hf, which), c->n_layers, &l)) continue;
        size_t side = (size_t)(which ? c->hidden_dim : c->head_dim);
        if (!is_f32 || ndim != 2 || dims[0] != (int64_t)side || dims[1] != (int64_t)side)
            return rb_error_set(err, RB_EFORMAT, "%s: tensor \"%s\" must be F32 [%zu][%zu]", what,
                                name, side, side);
        float **slot = which ? &m->online.down_dense : &m->online.qk_dense;
        if (!*slot && !(*slot = calloc((size_t)c->n_layers * side * side, sizeof(float))))
            return rb_error_set(err, RB_ENOMEM, "%s: out of memory for %s", what, name);
        float *dst = *slot + (size_t)l * side * side;
        memcpy(dst, data, sizeof(float) * side * side);
        for (size_t i = 0; i < side * side; i++)
            if (!isfinite(dst[i]))
                return rb_error_set(err, RB_EFORMAT, "%s: tensor \"%s\" has a NaN or Inf", what, name);
        return RB_OK;
    }
    return rb_error_set(err, RB_EFORMAT, "%s: unexpected tensor \"%s\"", what, name);
}

int rb_saved_check_dense(const rb_model *m, int hf, const char *what, rb_error *err) {
    /* a layer's matrix is all zeros only when its tensor was missing (an
     * orthogonal matrix has no zero row) */
    for (int which = 0; which < 2; which++) {
        const float *base = which ? m->online.down_dense : m->online.qk_dense;
        size_t side = (size_t)(which ? m->cfg.hidden_dim : m->cfg.head_dim);
        for (int l = 0; base && l < m->cfg.n_layers; l++) {
            const float *row = base + (size_t)l * side * side;
            int zero = 1;
            for (size_t i = 0; i < side && zero; i++) zero = row[i] == 0;
            if (zero) {
                char name[96];
                snprintf(name, sizeof name, dense_name(hf, which), l);
                return rb_error_set(err, RB_EFORMAT, "%s: missing tensor \"%s\" (or its first row is zero)",
                                    what, name);
            }
        }
    }
    return RB_OK;
}
