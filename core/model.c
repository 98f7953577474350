/* The in-memory model: the canonical tensor list, allocation, synthetic
 * weights, clones, views and configuration checks.  File formats live in
 * core/format_*.c and bind their tensors through core/tensor_table.h.
 *
 * One table (the rb_tensor_kind order with rb_tensor_shape) describes every
 * tensor; allocation, binding, synthetic filling and cloning all walk it. */
#include "core/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <sys/mman.h>

#include "base/rng.h"

static const char *const kind_names[RB_TENSOR_KIND_COUNT] = {
    "token_embedding", "attn_norm", "wq", "wk", "wv", "wo", "ffn_norm", "w1", "w2", "w3",
    "final_norm", "classifier", "bq", "bk", "bv", "rope_freqs"};

const char *rb_tensor_kind_name(rb_tensor_kind k) {
    return k >= 0 && k < RB_TENSOR_KIND_COUNT ? kind_names[k] : "?";
}

int rb_tensor_per_layer(rb_tensor_kind k) {
    return (k >= RB_TENSOR_ATTN_NORM && k <= RB_TENSOR_W3) ||
           (k >= RB_TENSOR_BQ && k <= RB_TENSOR_BV);
}

int rb_tensor_present(const rb_config *c, int shared, rb_tensor_kind k) {
    switch (k) {
    case RB_TENSOR_CLASSIFIER: return !shared;
    case RB_TENSOR_BQ: case RB_TENSOR_BK: case RB_TENSOR_BV: return c->qkv_bias != 0;
    case RB_TENSOR_ROPE_FREQS: return c->rope_scaling == RB_ROPE_SCALING_FREQ_FACTORS;
    case RB_TENSOR_KIND_COUNT: return 0;
    default: return 1;
    }
}

void rb_tensor_shape(const rb_config *c, rb_tensor_kind k, int *ndim, int64_t dims[2]) {
    int64_t dim = c->dim, hid = c->hidden_dim;
    int64_t qdim = (int64_t)c->n_heads * c->head_dim, kvdim = (int64_t)c->n_kv_heads * c->head_dim;
    int64_t r = 0, col = 0;
    switch (k) {
    case RB_TENSOR_EMBED: case RB_TENSOR_CLASSIFIER: r = c->vocab_size, col = dim; break;
    case RB_TENSOR_ATTN_NORM: case RB_TENSOR_FFN_NORM: case RB_TENSOR_FINAL_NORM: r = dim; break;
    case RB_TENSOR_WQ: r = qdim, col = dim; break;
    case RB_TENSOR_WK: case RB_TENSOR_WV: r = kvdim, col = dim; break;
    case RB_TENSOR_WO: r = dim, col = qdim; break;
    case RB_TENSOR_W1: case RB_TENSOR_W3: r = hid, col = dim; break;
    case RB_TENSOR_W2: r = dim, col = hid; break;
    case RB_TENSOR_BQ: r = qdim; break;
    case RB_TENSOR_BK: case RB_TENSOR_BV: r = kvdim; break;
    case RB_TENSOR_ROPE_FREQS: r = c->head_dim / 2; break;
    case RB_TENSOR_KIND_COUNT: break;
    }
    *ndim = col ? 2 : 1;
    dims[0] = r;
    dims[1] = col ? col : 1;
}

static uint64_t kind_floats(const rb_config *c, rb_tensor_kind k) {
    int nd;
    int64_t d[2];
    rb_tensor_shape(c, k, &nd, d);
    return (uint64_t)d[0] * (uint64_t)d[1];
}

float **rb_model_tensor_slot(rb_model *m, rb_tensor_kind k, int l) {
    rb_layer *L = &m->layers[rb_tensor_per_layer(k) ? l : 0];
    switch (k) {
    case RB_TENSOR_EMBED: return &m->token_embedding;
    case RB_TENSOR_ATTN_NORM: return &L->attn_norm;
    case RB_TENSOR_WQ: return &L->wq;
    case RB_TENSOR_WK: return &L->wk;
    case RB_TENSOR_WV: return &L->wv;
    case RB_TENSOR_WO: return &L->wo;
    case RB_TENSOR_FFN_NORM: return &L->ffn_norm;
    case RB_TENSOR_W1: return &L->w1;
    case RB_TENSOR_W2: return &L->w2;
    case RB_TENSOR_W3: return &L->w3;
    case RB_TENSOR_FINAL_NORM: return &m->final_norm;
    case RB_TENSOR_CLASSIFIER: return &m->classifier;
    case RB_TENSOR_BQ: return &L->bq;
    case RB_TENSOR_BK: return &L->bk;
    case RB_TENSOR_BV: return &L->bv;
    case RB_TENSOR_ROPE_FREQS: return &m->rope_freq_factors;
    case RB_TENSOR_KIND_COUNT: break;
    }
    return NULL;
}

/* Calls fn for every tensor instance m has, in canonical order. */
#define FOR_EACH_TENSOR(m, k, l)                                                         \
    for (int k = 0; k < RB_TENSOR_KIND_COUNT; k++)                                      \
        if (rb_tensor_present(&(m)->cfg, (m)->classifier_shared, (rb_tensor_kind)k))     \
            for (int l = 0; l < (rb_tensor_per_layer((rb_tensor_kind)k) ? (m)->cfg.n_layers : 1); l++)

static int check_range(rb_error *err, const char *what, const char *field, long v, long lo,
                       long hi) {
    if (v < lo || v > hi)
        return rb_error_set(err, RB_EINVAL, "%s: %s = %ld is outside the supported range %ld..%ld",
                            what, field, v, lo, hi);
    return RB_OK;
}

int rb_config_validate(const rb_config *c, const char *what, rb_error *err) {
    int rc;
    if ((rc = check_range(err, what, "dim", c->dim, 2, 1 << 16)) ||
        (rc = check_range(err, what, "hidden_dim", c->hidden_dim, 1, 1 << 18)) ||
        (rc = check_range(err, what, "n_layers", c->n_layers, 1, 1024)) ||
        (rc = check_range(err, what, "n_heads", c->n_heads, 1, c->dim)) ||
        (rc = check_range(err, what, "n_kv_heads", c->n_kv_heads, 1, c->n_heads)) ||
        (rc = check_range(err, what, "vocab_size", c->vocab_size, 3, 1 << 22)) ||
        (rc = check_range(err, what, "seq_len", c->seq_len, 1, 1 << 20)))
        return rc;
    if (c->n_heads % c->n_kv_heads)
        return rb_error_set(err, RB_EINVAL,
                            "%s: n_heads = %d is not a multiple of n_kv_heads = %d", what,
                            c->n_heads, c->n_kv_heads);
    /* q is n_heads·head_dim wide, which need not be dim (explicit head_dim) */
    if (c->head_dim < 2 || c->head_dim > (1 << 16) || c->head_dim % 2)
        return rb_error_set(err, RB_EINVAL, "%s: head_dim = %d must be even (RoPE pairs), 2..%d",
                            what, c->head_dim, 1 << 16);
    if (!(c->norm_eps > 0) || !(c->rope_theta > 0))
        return rb_error_set(err, RB_EINVAL, "%s: norm_eps and rope_theta must be positive", what);
    if (c->rope_scaling < RB_ROPE_SCALING_NONE || c->rope_scaling > RB_ROPE_SCALING_FREQ_FACTORS)
        return rb_error_set(err, RB_EINVAL, "%s: rope_scaling = %d is not a known kind", what,
                            c->rope_scaling);
    if ((c->rope_scaling == RB_ROPE_SCALING_LINEAR || c->rope_scaling == RB_ROPE_SCALING_LLAMA3) &&
        !(c->rope_factor > 0))
        return rb_error_set(err, RB_EINVAL, "%s: rope scaling factor = %g must be positive", what,
                            (double)c->rope_factor);
    return RB_OK;
}

static rb_model *model_alloc(const rb_config *cfg, int shared) {
    rb_model *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    m->cfg = *cfg;
    m->classifier_shared = shared;
    m->layers = calloc((size_t)cfg->n_layers, sizeof *m->layers);
    if (!m->layers) {
        free(m);
        return NULL;
    }
    return m;
}

int rb_model_alloc(const rb_config *cfg, int shared, rb_model **out, rb_error *err) {
    *out = NULL;
    int rc = rb_config_validate(cfg, "model", err);
    if (rc) return rc;
    if (!(*out = model_alloc(cfg, shared)))
        return rb_error_set(err, RB_ENOMEM, "cannot allocate the model's layer table");
    return RB_OK;
}

int rb_online_plan_active(const rb_online_plan *p) {
    return p->qk_hadamard || p->down_hadamard || p->o_head_hadamard || p->qk_dense ||
           p->down_dense || p->resid_attn || p->resid_ffn;
}

void rb_model_free(rb_model *m) {
    if (!m) return;
    free(m->online.qk_dense);
    free(m->online.down_dense);
    free(m->online.resid_attn);
    free(m->online.resid_ffn);
    if (m->map) munmap(m->map, m->map_bytes);
    free(m->owned);
    free(m->owned_classifier);
    free(m->owned_extra);
    free(m->layers);
    free(m);
}

int rb_model_new(const rb_config *cfg, int shared, rb_model **out, rb_error *err) {
    *out = NULL;
    int rc = rb_config_validate(cfg, "model", err);
    if (rc) return rc;
    rb_model *m = model_alloc(cfg, shared);
    uint64_t n = 0;
    if (m) FOR_EACH_TENSOR(m, k, l) n += kind_floats(cfg, (rb_tensor_kind)k);
    float *arena = NULL;
    if (m && n < SIZE_MAX / sizeof(float)) {
        size_t bytes = sizeof(float) * (size_t)n;
        if (bytes >= (64u << 20)) {
            /* big arenas on 2 MiB boundaries, as transparent huge pages where
             * the kernel allows them: 512x fewer page faults filling them */
            void *p = NULL;
            if (posix_memalign(&p, 2u << 20, bytes) == 0) {
                arena = p;
                madvise(p, bytes, MADV_HUGEPAGE);
            }
        } else {
            arena = malloc(bytes ? bytes : 1);
        }
    }
    if (!arena) {
        rb_model_free(m);
        return rb_error_set(err, RB_ENOMEM, "cannot allocate %.1f MiB for model weights",
                            4.0 * (double)n / 1048576.0);
    }
    m->owned = arena;
    float *p = arena;
    FOR_EACH_TENSOR(m, k, l) {
        *rb_model_tensor_slot(m, (rb_tensor_kind)k, l) = p;
        p += kind_floats(cfg, (rb_tensor_kind)k);
    }
    if (shared) m->classifier = m->token_embedding;
    *out = m;
    return RB_OK;
}

static void fill_uniform(float *w, uint64_t n, float center, float a, rb_rng *r) {
    for (uint64_t i = 0; i < n; i++) w[i] = center + a * (float)(2.0 * rb_rng_uniform(r) - 1.0);
}

int rb_model_synthetic(const rb_config *cfg, int shared, uint64_t seed, rb_model **out,
                       rb_error *err) {
    *out = NULL;
    int rc = rb_config_validate(cfg, "synthetic model", err);
    if (rc) return rc;
    rb_model *m;
    if ((rc = rb_model_new(cfg, shared, &m, err))) return rc;
    snprintf(m->source, sizeof m->source, "synthetic:seed=%llu", (unsigned long long)seed);
    rb_rng r;
    rb_rng_seed(&r, seed);
    FOR_EACH_TENSOR(m, k, l) {
        if (k > RB_TENSOR_CLASSIFIER) continue; /* the extras are drawn below */
        uint64_t n = kind_floats(cfg, (rb_tensor_kind)k);
        int fan_in = k == RB_TENSOR_W2 ? cfg->hidden_dim
                     : k == RB_TENSOR_WO ? cfg->n_heads * cfg->head_dim
                                         : cfg->dim;
        float *w = *rb_model_tensor_slot(m, (rb_tensor_kind)k, l);
        if (k == RB_TENSOR_ATTN_NORM || k == RB_TENSOR_FFN_NORM || k == RB_TENSOR_FINAL_NORM)
            fill_uniform(w, n, 1.0f, 0.1f, &r);
        else if (k == RB_TENSOR_EMBED)
            fill_uniform(w, n, 0.0f, 1.0f, &r);
        else
            fill_uniform(w, n, 0.0f, 1.0f / sqrtf((float)fan_in), &r);
    }
    /* drawn after the llama2.c payload (layer by layer), so models without
     * biases are unchanged */
    size_t qdim = (size_t)cfg->n_heads * cfg->head_dim;
    size_t kvdim = (size_t)cfg->n_kv_heads * cfg->head_dim;
    for (int l = 0; cfg->qkv_bias && l < cfg->n_layers; l++) {
        fill_uniform(m->layers[l].bq, qdim, 0.0f, 0.1f, &r);
        fill_uniform(m->layers[l].bk, kvdim, 0.0f, 0.1f, &r);
        fill_uniform(m->layers[l].bv, kvdim, 0.0f, 0.1f, &r);
    }
    if (m->rope_freq_factors) fill_uniform(m->rope_freq_factors, (size_t)cfg->head_dim / 2, 2.0f, 1.0f, &r);
    *out = m;
    return RB_OK;
}

int rb_model_clone(const rb_model *src, rb_model **out, rb_error *err) {
    *out = NULL;
    rb_model *m;
    int rc = rb_model_new(&src->cfg, src->classifier_shared, &m, err);
    if (rc) return rc;
    memcpy(m->source, src->source, sizeof m->source);
    const rb_config *c = &src->cfg;
    m->online = src->online;
    m->online.qk_dense = m->online.down_dense = NULL;
    m->online.resid_attn = m->online.resid_ffn = NULL;
    size_t resid = (size_t)c->n_layers * c->dim * c->dim;
    struct { float **dst; const float *src; size_t n; } dense[4] = {
        {&m->online.qk_dense, src->online.qk_dense,
         (size_t)c->n_layers * c->head_dim * c->head_dim},
        {&m->online.down_dense, src->online.down_dense,
         (size_t)c->n_layers * c->hidden_dim * c->hidden_dim},
        {&m->online.resid_attn, src->online.resid_attn, resid},
        {&m->online.resid_ffn, src->online.resid_ffn, resid}};
    for (int i = 0; i < 4; i++) {
        if (!dense[i].src) continue;
        if (!(*dense[i].dst = malloc(sizeof(float) * dense[i].n))) {
            rb_model_free(m);
            return rb_error_set(err, RB_ENOMEM, "cannot copy the online transforms");
        }
        memcpy(*dense[i].dst, dense[i].src, sizeof(float) * dense[i].n);
    }
    FOR_EACH_TENSOR(m, k, l)
        memcpy(*rb_model_tensor_slot(m, (rb_tensor_kind)k, l),
               *rb_model_tensor_slot((rb_model *)src, (rb_tensor_kind)k, l),
               sizeof(float) * kind_floats(c, (rb_tensor_kind)k));
    *out = m;
    return RB_OK;
}

int rb_model_own_weights(rb_model *m, rb_error *err) {
    if (!m->map) return RB_OK;
    const size_t bytes = m->map_bytes, huge = 2u << 20;
    char *arena = NULL;
    if (posix_memalign((void **)&arena, huge, bytes ? bytes : 1) != 0)
        return rb_error_set(err, RB_ENOMEM, "cannot allocate %.1f MiB to own the model's weights",
                            (double)bytes / 1048576.0);
    if (bytes >= (64u << 20)) madvise(arena, bytes, MADV_HUGEPAGE);
    const char *map = m->map;
    const long chunks = (long)((bytes + huge - 1) / huge);
#pragma omp parallel for schedule(static)
    for (long ch = 0; ch < chunks; ch++) {
        size_t off = (size_t)ch * huge, n = bytes - off < huge ? bytes - off : huge;
        memcpy(arena + off, map + off, n);
        /* the file's pages leave the process as they are copied, so the
         * peak stays one model, not two */
        madvise((char *)map + off, n, MADV_DONTNEED);
    }
    FOR_EACH_TENSOR(m, k, l) {
        float **slot = rb_model_tensor_slot(m, (rb_tensor_kind)k, l);
        uintptr_t p = (uintptr_t)*slot, lo = (uintptr_t)map;
        if (p >= lo && p - lo < bytes) *slot = (float *)(arena + (p - lo));
    }
    if (m->classifier_shared) m->classifier = m->token_embedding;
    munmap(m->map, bytes);
    m->map = NULL;
    m->map_bytes = 0;
    m->owned = (float *)arena;
    return RB_OK;
}

int rb_model_untie_classifier(rb_model *m, rb_error *err) {
    if (!m->classifier_shared) return RB_OK;
    size_t n = (size_t)m->cfg.vocab_size * m->cfg.dim;
    float *c = malloc(sizeof(float) * n);
    if (!c) return rb_error_set(err, RB_ENOMEM, "cannot allocate the untied classifier");
    memcpy(c, m->token_embedding, sizeof(float) * n);
    m->owned_classifier = c;
    m->classifier = c;
    m->classifier_shared = 0;
    return RB_OK;
}

static const char *const linear_names[RB_LINEAR_COUNT] = {"wq", "wk", "wv", "wo", "w1", "w2", "w3"};

const char *rb_linear_name(rb_linear_id id) {
    return id >= 0 && id < RB_LINEAR_COUNT ? linear_names[id] : "?";
}

rb_weight_view rb_model_weight(const rb_model *m, int layer, rb_linear_id id) {
    const rb_config *c = &m->cfg;
    const rb_layer *L = &m->layers[layer];
    int qdim = c->n_heads * c->head_dim, kvdim = c->n_kv_heads * c->head_dim;
    switch (id) {
    case RB_WQ: return (rb_weight_view){L->wq, qdim, c->dim};
    case RB_WK: return (rb_weight_view){L->wk, kvdim, c->dim};
    case RB_WV: return (rb_weight_view){L->wv, kvdim, c->dim};
    case RB_WO: return (rb_weight_view){L->wo, c->dim, qdim};
    case RB_W1: return (rb_weight_view){L->w1, c->hidden_dim, c->dim};
    case RB_W2: return (rb_weight_view){L->w2, c->dim, c->hidden_dim};
    case RB_W3: return (rb_weight_view){L->w3, c->hidden_dim, c->dim};
    default: return (rb_weight_view){NULL, 0, 0};
    }
}
