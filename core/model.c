/* llama2.c v0 loading, saving, synthetic models and weight views.
 *
 * One table (v0_sections) describes the v0 payload; binding pointers, saving,
 * and NaN checks all walk it, so the layout is written down exactly once. */
#include "core/model.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/rng.h"

enum { V0_HEADER_INTS = 7 };
#define AK42_MAGIC 0x616b3432u

typedef enum section {
    S_EMBED, S_ATTN_NORM, S_WQ, S_WK, S_WV, S_WO, S_FFN_NORM, S_W1, S_W2, S_W3,
    S_FINAL_NORM, S_ROPE_REAL, S_ROPE_IMAG, S_CLASSIFIER, S_COUNT
} section;

static const char *const section_names[S_COUNT] = {
    "token_embedding", "attn_norm", "wq", "wk", "wv", "wo", "ffn_norm",
    "w1", "w2", "w3", "final_norm", "freq_cis_real", "freq_cis_imag", "classifier"};

static int section_per_layer(section s) { return s >= S_ATTN_NORM && s <= S_W3; }

/* Floats of one instance of section s (one layer's worth for per-layer ones). */
static uint64_t section_floats(const rb_config *c, section s) {
    uint64_t dim = (uint64_t)c->dim, hid = (uint64_t)c->hidden_dim;
    uint64_t qdim = (uint64_t)c->n_heads * c->head_dim;
    uint64_t kvdim = (uint64_t)c->n_kv_heads * c->head_dim;
    switch (s) {
    case S_EMBED: case S_CLASSIFIER: return (uint64_t)c->vocab_size * dim;
    case S_ATTN_NORM: case S_FFN_NORM: case S_FINAL_NORM: return dim;
    case S_WQ: case S_WO: return qdim * dim;
    case S_WK: case S_WV: return kvdim * dim;
    case S_W1: case S_W2: case S_W3: return hid * dim;
    case S_ROPE_REAL: case S_ROPE_IMAG: return (uint64_t)c->seq_len * (c->head_dim / 2);
    case S_COUNT: break;
    }
    return 0;
}

static uint64_t section_total(const rb_config *c, section s) {
    return section_floats(c, s) * (section_per_layer(s) ? (uint64_t)c->n_layers : 1);
}

uint64_t rb_llama2c_payload_floats(const rb_config *cfg, int shared_classifier) {
    uint64_t n = 0;
    for (int s = 0; s < S_COUNT; s++)
        if (s != S_CLASSIFIER || !shared_classifier) n += section_total(cfg, (section)s);
    return n;
}

/* Address of the pointer that holds section s for layer l (NULL for RoPE). */
static float **section_slot(rb_model *m, section s, int l) {
    rb_layer *L = &m->layers[l];
    switch (s) {
    case S_EMBED: return &m->token_embedding;
    case S_ATTN_NORM: return &L->attn_norm;
    case S_WQ: return &L->wq;
    case S_WK: return &L->wk;
    case S_WV: return &L->wv;
    case S_WO: return &L->wo;
    case S_FFN_NORM: return &L->ffn_norm;
    case S_W1: return &L->w1;
    case S_W2: return &L->w2;
    case S_W3: return &L->w3;
    case S_FINAL_NORM: return &m->final_norm;
    case S_CLASSIFIER: return &m->classifier;
    default: return NULL;
    }
}

/* Points every weight into `base`, laid out as the v0 payload. */
static void bind_weights(rb_model *m, float *base) {
    const rb_config *c = &m->cfg;
    float *p = base;
    for (int s = 0; s < S_COUNT; s++) {
        if (s == S_CLASSIFIER && m->classifier_shared) break;
        uint64_t n = section_floats(c, (section)s);
        int reps = section_per_layer((section)s) ? c->n_layers : 1;
        for (int l = 0; l < reps; l++, p += n) {
            float **slot = section_slot(m, (section)s, l);
            if (slot) *slot = p;
        }
    }
    if (m->classifier_shared) m->classifier = m->token_embedding;
}

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

int rb_online_plan_active(const rb_online_plan *p) {
    return p->qk_hadamard || p->down_hadamard || p->o_head_hadamard || p->qk_dense ||
           p->down_dense;
}

void rb_model_free(rb_model *m) {
    if (!m) return;
    free(m->online.qk_dense);
    free(m->online.down_dense);
    if (m->map) munmap(m->map, m->map_bytes);
    free(m->owned);
    free(m->owned_classifier);
    free(m->owned_extra);
    free(m->layers);
    free(m);
}

static int check_finite(rb_model *m, const char *path, rb_error *err) {
    const rb_config *c = &m->cfg;
    for (int s = 0; s < S_COUNT; s++) {
        if (s == S_ROPE_REAL || s == S_ROPE_IMAG) continue;
        if (s == S_CLASSIFIER && m->classifier_shared) continue;
        uint64_t n = section_floats(c, (section)s);
        int reps = section_per_layer((section)s) ? c->n_layers : 1;
        for (int l = 0; l < reps; l++) {
            const float *w = *section_slot(m, (section)s, l);
            for (uint64_t i = 0; i < n; i++)
                if (!isfinite(w[i]))
                    return rb_error_set(err, RB_ENUMERIC,
                                        "%s: weight %s%s[%d] element %llu is %s", path,
                                        section_names[s], reps > 1 ? " of layer" : "",
                                        reps > 1 ? l : 0, (unsigned long long)i,
                                        isnan(w[i]) ? "NaN" : "infinite");
        }
    }
    return RB_OK;
}

int rb_model_load(const char *path, rb_model **out, rb_error *err) {
    *out = NULL;
    int fd = open(path, O_RDONLY);
    if (fd < 0) return rb_error_set(err, RB_EIO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return rb_error_set(err, RB_EIO, "%s: cannot stat: %s", path, strerror(errno));
    }
    if (!S_ISREG(st.st_mode)) { /* where checkpoint directories will be recognised */
        close(fd);
        return rb_error_set(err, RB_EINVAL,
                            S_ISDIR(st.st_mode)
                                ? "%s: is a directory, not a model file (rotbench reads llama2.c "
                                  "v0 .bin checkpoints: give the file itself)"
                                : "%s: not a regular file",
                            path);
    }
    uint64_t size = (uint64_t)st.st_size;
    int32_t h[V0_HEADER_INTS];
    ssize_t got = size >= sizeof h ? pread(fd, h, sizeof h, 0) : 0;
    if (got != (ssize_t)sizeof h) {
        close(fd);
        return rb_error_set(err, RB_EFORMAT,
                            "%s: file has %llu bytes, too short for a llama2.c header (28 bytes)",
                            path, (unsigned long long)size);
    }
    if ((uint32_t)h[0] == AK42_MAGIC) {
        close(fd);
        return rb_error_set(err, RB_EUNSUPPORTED,
                            "%s: llama2.c versioned format (magic \"ak42\", version %d) is not "
                            "supported yet; export the checkpoint with llama2.c's legacy v0 "
                            "layout (export.py --version 0)",
                            path, h[1]);
    }
    rb_config cfg = {.dim = h[0], .hidden_dim = h[1], .n_layers = h[2], .n_heads = h[3],
                     .n_kv_heads = h[4], .vocab_size = abs(h[5]), .seq_len = h[6],
                     .norm_eps = 1e-5f, .rope_theta = 10000.0f};
    int shared = h[5] > 0;
    if (h[5] == INT32_MIN) cfg.vocab_size = -1;
    cfg.head_dim = cfg.n_heads > 0 ? cfg.dim / cfg.n_heads : 0;
    char what[1100];
    snprintf(what, sizeof what, "%s: header", path);
    int rc = RB_OK;
    if (cfg.n_heads > 0 && cfg.dim % cfg.n_heads) /* the format's head_dim is dim/n_heads */
        rc = rb_error_set(err, RB_EINVAL, "%s: dim = %d is not a multiple of n_heads = %d", what,
                          cfg.dim, cfg.n_heads);
    if (!rc) rc = rb_config_validate(&cfg, what, err);
    if (rc) {
        close(fd);
        return rc;
    }
    uint64_t expect = sizeof h + 4 * rb_llama2c_payload_floats(&cfg, shared);
    if (size != expect) {
        close(fd);
        return rb_error_set(err, RB_EFORMAT,
                            "%s: file has %llu bytes but its header (dim %d, hidden %d, layers "
                            "%d, heads %d, kv_heads %d, vocab %d %s, seq_len %d) implies %llu%s",
                            path, (unsigned long long)size, cfg.dim, cfg.hidden_dim,
                            cfg.n_layers, cfg.n_heads, cfg.n_kv_heads, cfg.vocab_size,
                            shared ? "shared" : "separate", cfg.seq_len,
                            (unsigned long long)expect,
                            size < expect ? " (truncated?)" : " (trailing data or wrong header)");
    }
    void *map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) return rb_error_set(err, RB_EIO, "%s: mmap failed: %s", path, strerror(errno));
    rb_model *m = model_alloc(&cfg, shared);
    if (!m) {
        munmap(map, size);
        return rb_error_set(err, RB_ENOMEM, "%s: out of memory", path);
    }
    m->map = map;
    m->map_bytes = size;
    snprintf(m->source, sizeof m->source, "%s", path);
    bind_weights(m, (float *)((char *)map + sizeof h));
    if ((rc = check_finite(m, path, err))) {
        rb_model_free(m);
        return rc;
    }
    *out = m;
    return RB_OK;
}

static int write_all(FILE *f, const void *p, size_t bytes) { return fwrite(p, 1, bytes, f) == bytes; }

int rb_model_save(const rb_model *m, const char *path, rb_error *err) {
    const rb_config *c = &m->cfg;
    if (rb_online_plan_active(&m->online))
        return rb_error_set(err, RB_EUNSUPPORTED,
                            "%s: the model has online transforms (Hadamards from quarot or "
                            "spinquant, bases from resq) that the llama2.c format cannot "
                            "store; put the stages that need them in the same pipeline "
                            "instead of saving",
                            path);
    if (c->qkv_bias || c->rope_scaling != RB_ROPE_SCALING_NONE || c->rope_theta != 10000.0f ||
        c->head_dim != c->dim / c->n_heads)
        return rb_error_set(err, RB_EUNSUPPORTED,
                            "%s: the llama2.c format cannot store q/k/v biases, RoPE scaling, "
                            "a rope_theta other than 10000 or a head_dim other than dim/n_heads",
                            path);
    FILE *f = fopen(path, "wb");
    if (!f) return rb_error_set(err, RB_EIO, "%s: cannot create: %s", path, strerror(errno));
    int32_t h[V0_HEADER_INTS] = {c->dim, c->hidden_dim, c->n_layers,
                                 c->n_heads, c->n_kv_heads,
                                 m->classifier_shared ? c->vocab_size : -c->vocab_size,
                                 c->seq_len};
    int ok = write_all(f, h, sizeof h);
    int half = c->head_dim / 2;
    float *rope = malloc(sizeof(float) * (size_t)(half > 0 ? half : 1));
    ok = ok && rope;
    for (int s = 0; ok && s < S_COUNT; s++) {
        if (s == S_CLASSIFIER && m->classifier_shared) break;
        if (s == S_ROPE_REAL || s == S_ROPE_IMAG) {
            for (int pos = 0; ok && pos < c->seq_len; pos++) {
                for (int i = 0; i < half; i++) {
                    double freq = pow((double)c->rope_theta, -(2.0 * i) / c->head_dim);
                    rope[i] = (float)(s == S_ROPE_REAL ? cos(pos * freq) : sin(pos * freq));
                }
                ok = write_all(f, rope, sizeof(float) * (size_t)half);
            }
            continue;
        }
        uint64_t n = section_floats(c, (section)s);
        int reps = section_per_layer((section)s) ? c->n_layers : 1;
        for (int l = 0; ok && l < reps; l++)
            ok = write_all(f, *section_slot((rb_model *)m, (section)s, l), sizeof(float) * n);
    }
    free(rope);
    if (fclose(f) != 0) ok = 0;
    if (!ok) {
        unlink(path);
        return rb_error_set(err, RB_EIO, "%s: write failed: %s", path, strerror(errno));
    }
    return RB_OK;
}

/* Floats of the tensors outside the llama2.c payload: the q/k/v biases of
 * every layer and the RoPE frequency factors. */
static size_t extra_floats(const rb_config *c) {
    size_t n = 0;
    if (c->qkv_bias)
        n += (size_t)c->n_layers * (size_t)(c->n_heads + 2 * c->n_kv_heads) * c->head_dim;
    if (c->rope_scaling == RB_ROPE_SCALING_FREQ_FACTORS) n += (size_t)c->head_dim / 2;
    return n;
}

/* Allocates m->owned_extra and points the biases and frequency factors into it. */
static int bind_extra(rb_model *m, rb_error *err) {
    const rb_config *c = &m->cfg;
    size_t n = extra_floats(c);
    if (!n) return RB_OK;
    float *p = calloc(n, sizeof(float));
    if (!p) return rb_error_set(err, RB_ENOMEM, "cannot allocate the model's biases");
    m->owned_extra = p;
    size_t qdim = (size_t)c->n_heads * c->head_dim, kvdim = (size_t)c->n_kv_heads * c->head_dim;
    for (int l = 0; c->qkv_bias && l < c->n_layers; l++) {
        rb_layer *L = &m->layers[l];
        L->bq = p, p += qdim;
        L->bk = p, p += kvdim;
        L->bv = p, p += kvdim;
    }
    if (c->rope_scaling == RB_ROPE_SCALING_FREQ_FACTORS) m->rope_freq_factors = p;
    return RB_OK;
}

static int model_new_owned(const rb_config *cfg, int shared, rb_model **out, rb_error *err) {
    uint64_t n = rb_llama2c_payload_floats(cfg, shared);
    rb_model *m = model_alloc(cfg, shared);
    float *arena = m ? malloc(sizeof(float) * n) : NULL;
    if (!arena) {
        rb_model_free(m);
        return rb_error_set(err, RB_ENOMEM, "cannot allocate %.1f MiB for model weights",
                            4.0 * n / 1048576.0);
    }
    m->owned = arena;
    bind_weights(m, arena);
    int rc = bind_extra(m, err);
    if (rc) {
        rb_model_free(m);
        return rc;
    }
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
    if ((rc = model_new_owned(cfg, shared, &m, err))) return rc;
    snprintf(m->source, sizeof m->source, "synthetic:seed=%llu", (unsigned long long)seed);
    rb_rng r;
    rb_rng_seed(&r, seed);
    for (int s = 0; s < S_COUNT; s++) {
        if (s == S_ROPE_REAL || s == S_ROPE_IMAG) continue;
        if (s == S_CLASSIFIER && shared) continue;
        uint64_t n = section_floats(cfg, (section)s);
        int reps = section_per_layer((section)s) ? cfg->n_layers : 1;
        int fan_in = s == S_W2 ? cfg->hidden_dim : s == S_WO ? cfg->n_heads * cfg->head_dim : cfg->dim;
        for (int l = 0; l < reps; l++) {
            float *w = *section_slot(m, (section)s, l);
            if (s == S_ATTN_NORM || s == S_FFN_NORM || s == S_FINAL_NORM)
                fill_uniform(w, n, 1.0f, 0.1f, &r);
            else if (s == S_EMBED)
                fill_uniform(w, n, 0.0f, 1.0f, &r);
            else
                fill_uniform(w, n, 0.0f, 1.0f / sqrtf((float)fan_in), &r);
        }
    }
    /* drawn after the v0 payload, so models without biases are unchanged */
    if (m->owned_extra) {
        size_t qdim = (size_t)cfg->n_heads * cfg->head_dim;
        size_t kvdim = (size_t)cfg->n_kv_heads * cfg->head_dim;
        for (int l = 0; cfg->qkv_bias && l < cfg->n_layers; l++) {
            fill_uniform(m->layers[l].bq, qdim, 0.0f, 0.1f, &r);
            fill_uniform(m->layers[l].bk, kvdim, 0.0f, 0.1f, &r);
            fill_uniform(m->layers[l].bv, kvdim, 0.0f, 0.1f, &r);
        }
        if (m->rope_freq_factors) fill_uniform(m->rope_freq_factors, (size_t)cfg->head_dim / 2, 2.0f, 1.0f, &r);
    }
    *out = m;
    return RB_OK;
}

int rb_model_clone(const rb_model *src, rb_model **out, rb_error *err) {
    *out = NULL;
    rb_model *m;
    int rc = model_new_owned(&src->cfg, src->classifier_shared, &m, err);
    if (rc) return rc;
    memcpy(m->source, src->source, sizeof m->source);
    const rb_config *c = &src->cfg;
    m->online = src->online;
    m->online.qk_dense = m->online.down_dense = NULL;
    struct { float **dst; const float *src; size_t n; } dense[2] = {
        {&m->online.qk_dense, src->online.qk_dense,
         (size_t)c->n_layers * c->head_dim * c->head_dim},
        {&m->online.down_dense, src->online.down_dense,
         (size_t)c->n_layers * c->hidden_dim * c->hidden_dim}};
    for (int i = 0; i < 2; i++) {
        if (!dense[i].src) continue;
        if (!(*dense[i].dst = malloc(sizeof(float) * dense[i].n))) {
            rb_model_free(m);
            return rb_error_set(err, RB_ENOMEM, "cannot copy the online transforms");
        }
        memcpy(*dense[i].dst, dense[i].src, sizeof(float) * dense[i].n);
    }
    for (int s = 0; s < S_COUNT; s++) {
        if (s == S_ROPE_REAL || s == S_ROPE_IMAG) continue;
        if (s == S_CLASSIFIER && src->classifier_shared) continue;
        uint64_t n = section_floats(c, (section)s);
        int reps = section_per_layer((section)s) ? c->n_layers : 1;
        for (int l = 0; l < reps; l++)
            memcpy(*section_slot(m, (section)s, l), *section_slot((rb_model *)src, (section)s, l),
                   sizeof(float) * n);
    }
    size_t qdim = (size_t)c->n_heads * c->head_dim, kvdim = (size_t)c->n_kv_heads * c->head_dim;
    for (int l = 0; c->qkv_bias && l < c->n_layers; l++) {
        memcpy(m->layers[l].bq, src->layers[l].bq, sizeof(float) * qdim);
        memcpy(m->layers[l].bk, src->layers[l].bk, sizeof(float) * kvdim);
        memcpy(m->layers[l].bv, src->layers[l].bv, sizeof(float) * kvdim);
    }
    if (m->rope_freq_factors)
        memcpy(m->rope_freq_factors, src->rope_freq_factors, sizeof(float) * (size_t)(c->head_dim / 2));
    *out = m;
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
