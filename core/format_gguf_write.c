/* Writing GGUF v3 files (see core/model_save.h; the layout: core/gguf.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/io.h"
#include "core/forward.h" /* rb_rope_freqs */
#include "core/formats.h"
#include "core/gguf.h"
#include "core/model_save.h"

enum { ALIGN = 32 };

/* The key-value section, built in memory (its count goes in the header). */
typedef struct kvs {
    rb_buf b;
    uint64_t n;
} kvs;

static void put_u32(rb_buf *b, uint32_t v) {
    unsigned char x[4];
    for (int i = 0; i < 4; i++) x[i] = (unsigned char)(v >> (8 * i));
    rb_buf_append(b, (const char *)x, 4);
}
static void put_u64(rb_buf *b, uint64_t v) {
    unsigned char x[8];
    for (int i = 0; i < 8; i++) x[i] = (unsigned char)(v >> (8 * i));
    rb_buf_append(b, (const char *)x, 8);
}
static void put_bytes(rb_buf *b, const char *s, size_t n) {
    put_u64(b, n);
    rb_buf_append(b, s, n);
}
static void key(kvs *k, const char *name, rb_gguf_type t) {
    put_bytes(&k->b, name, strlen(name));
    put_u32(&k->b, t);
    k->n++;
}
static void kv_u32(kvs *k, const char *name, uint32_t v) {
    key(k, name, RB_GGUF_U32);
    put_u32(&k->b, v);
}
static void kv_f32(kvs *k, const char *name, float v) {
    uint32_t u;
    memcpy(&u, &v, 4);
    key(k, name, RB_GGUF_F32);
    put_u32(&k->b, u);
}
static void kv_bool(kvs *k, const char *name, int v) {
    key(k, name, RB_GGUF_BOOL);
    char c = (char)(v != 0);
    rb_buf_append(&k->b, &c, 1);
}
static void kv_str(kvs *k, const char *name, const char *v) {
    key(k, name, RB_GGUF_STRING);
    put_bytes(&k->b, v, strlen(v));
}
static void kv_strs(kvs *k, const char *name, int n, const char *const *s, const size_t *len) {
    key(k, name, RB_GGUF_ARRAY);
    put_u32(&k->b, RB_GGUF_STRING);
    put_u64(&k->b, (uint64_t)n);
    for (int i = 0; i < n; i++) put_bytes(&k->b, s[i], len ? len[i] : strlen(s[i]));
}
static void kv_arr32(kvs *k, const char *name, rb_gguf_type t, int n, const void *v) {
    key(k, name, RB_GGUF_ARRAY);
    put_u32(&k->b, t);
    put_u64(&k->b, (uint64_t)n);
    for (int i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, (const char *)v + 4 * (size_t)i, 4);
        put_u32(&k->b, u);
    }
}

static uint32_t ggml_type(rb_dtype dt) {
    switch (dt) {
    case RB_DTYPE_BF16: return RB_GGML_BF16;
    case RB_DTYPE_F16: return RB_GGML_F16;
    case RB_DTYPE_Q8_0: return RB_GGML_Q8_0;
    case RB_DTYPE_Q4_0: return RB_GGML_Q4_0;
    default: return RB_GGML_F32;
    }
}

/* One tensor of the file: a model tensor (kind, layer) or a dense online
 * matrix (dense != NULL, [n][n]). */
typedef struct entry {
    char name[128];
    rb_tensor_kind kind;
    int layer;
    const float *dense;
    int64_t rows, cols;
    int nd;
    rb_dtype dt;
    uint64_t bytes;
} entry;

/* The dtype tensor kind k is stored in for the requested dt. */
static rb_dtype tensor_dtype(rb_tensor_kind k, int nd, int64_t cols, rb_dtype dt) {
    if (nd == 1) return RB_DTYPE_F32;
    if (!rb_dtype_is_block(dt)) return dt;
    int linear = k == RB_TENSOR_WQ || k == RB_TENSOR_WK || k == RB_TENSOR_WV || k == RB_TENSOR_WO ||
                 k == RB_TENSOR_W1 || k == RB_TENSOR_W2 || k == RB_TENSOR_W3;
    return linear && cols % 32 == 0 ? dt : RB_DTYPE_F32;
}

static int list_entries(const rb_model *m, rb_dtype dt, entry **out, size_t *n_out,
                        rb_error *err) {
    const rb_config *c = &m->cfg;
    size_t cap = (size_t)(RB_TENSOR_KIND_COUNT + 2) * (size_t)c->n_layers + 8, n = 0;
    entry *e = calloc(cap, sizeof *e);
    if (!e) return rb_error_set(err, RB_ENOMEM, "out of memory");
    const char *const *names = rb_gguf_tensor_names();
    for (int k = 0; k < RB_TENSOR_KIND_COUNT; k++) {
        if (!rb_tensor_present(c, m->classifier_shared, (rb_tensor_kind)k)) continue;
        int64_t d[2];
        int nd;
        rb_tensor_shape(c, (rb_tensor_kind)k, &nd, d);
        int reps = rb_tensor_per_layer((rb_tensor_kind)k) ? c->n_layers : 1;
        for (int l = 0; l < reps; l++, n++) {
            snprintf(e[n].name, sizeof e[n].name, names[k], l);
            e[n].kind = (rb_tensor_kind)k;
            e[n].layer = l;
            e[n].nd = nd;
            e[n].rows = d[0];
            e[n].cols = nd == 2 ? d[1] : 1;
            e[n].dt = tensor_dtype((rb_tensor_kind)k, nd, e[n].cols, dt);
            e[n].bytes = rb_tensor_file_bytes(c, (rb_tensor_kind)k, e[n].dt);
        }
    }
    for (int which = 0; which < 2; which++) {
        const float *base = which ? m->online.down_dense : m->online.qk_dense;
        int64_t side = which ? c->hidden_dim : c->head_dim;
        if (!base) continue;
        for (int l = 0; l < c->n_layers; l++, n++) {
            snprintf(e[n].name, sizeof e[n].name,
                     which ? rb_saved_down_dense_gguf : rb_saved_qk_dense_gguf, l);
            e[n].dense = base + (size_t)l * (size_t)(side * side);
            e[n].nd = 2;
            e[n].rows = e[n].cols = side;
            e[n].dt = RB_DTYPE_F32;
            e[n].bytes = (uint64_t)(side * side) * 4;
        }
    }
    *out = e;
    *n_out = n;
    return RB_OK;
}

static void add_vocab(kvs *k, const rb_vocab_desc *v) {
    kv_str(k, "tokenizer.ggml.model", v->kind);
    if (v->pre) kv_str(k, "tokenizer.ggml.pre", v->pre);
    kv_strs(k, "tokenizer.ggml.tokens", v->n_tokens, v->tokens, v->token_lens);
    if (v->scores) kv_arr32(k, "tokenizer.ggml.scores", RB_GGUF_F32, v->n_tokens, v->scores);
    if (v->token_types)
        kv_arr32(k, "tokenizer.ggml.token_type", RB_GGUF_I32, v->n_tokens, v->token_types);
    if (v->n_merges) kv_strs(k, "tokenizer.ggml.merges", v->n_merges, v->merges, v->merge_lens);
    if (v->bos_id >= 0) kv_u32(k, "tokenizer.ggml.bos_token_id", (uint32_t)v->bos_id);
    if (v->eos_id >= 0) kv_u32(k, "tokenizer.ggml.eos_token_id", (uint32_t)v->eos_id);
    if (v->unk_id >= 0) kv_u32(k, "tokenizer.ggml.unknown_token_id", (uint32_t)v->unk_id);
    if (v->add_bos >= 0) kv_bool(k, "tokenizer.ggml.add_bos_token", v->add_bos);
}

static void add_meta(kvs *k, const rb_saved_meta *s, const entry *e, size_t n, rb_dtype dt) {
    kv_u32(k, "rotbench.version", 1);
    if (s->saved[0]) kv_str(k, "rotbench.saved", s->saved);
    kv_u32(k, "rotbench.online.qk_hadamard", (uint32_t)s->qk_hadamard);
    kv_u32(k, "rotbench.online.down_hadamard", (uint32_t)s->down_hadamard);
    kv_u32(k, "rotbench.online.o_head_hadamard", (uint32_t)s->o_head_hadamard);
    if (rb_saved_meta_has_split(s)) {
        int32_t a[2 * RB_ACT_POINT_COUNT], kv[4] = {s->k_split.block, s->k_split.high,
                                                    s->v_split.block, s->v_split.high};
        for (int p = 0; p < RB_ACT_POINT_COUNT; p++) {
            a[2 * p] = s->a_split[p].block;
            a[2 * p + 1] = s->a_split[p].high;
        }
        kv_arr32(k, "rotbench.split.a", RB_GGUF_I32, 2 * RB_ACT_POINT_COUNT, a);
        kv_arr32(k, "rotbench.split.kv", RB_GGUF_I32, 4, kv);
    }
    kv_str(k, "rotbench.quant.w", s->quant_w);
    kv_str(k, "rotbench.quant.a", s->quant_a);
    kv_str(k, "rotbench.quant.kv", s->quant_kv);
    /* the 2-D tensors kept in F32 although a block type was asked for */
    if (!rb_dtype_is_block(dt)) return;
    const char *f32[1024];
    int nf = 0;
    for (size_t i = 0; i < n && nf < 1024; i++)
        if (e[i].nd == 2 && !e[i].dense && e[i].dt == RB_DTYPE_F32) f32[nf++] = e[i].name;
    kv_strs(k, "rotbench.f32_tensors", nf, f32, NULL);
}

static int llama3_as_factors(const rb_model *m, const char *path, const rb_save_options *o,
                             rb_error *err) {
    /* as llama.cpp stores it: rope_freqs.weight, the divisor of each
     * frequency (default f_i over the llama3-scaled one), read back as
     * RB_ROPE_SCALING_FREQ_FACTORS; the same RoPE up to the float rounding
     * of the divisors */
    const rb_config *c = &m->cfg;
    int half = c->head_dim / 2;
    double *plain = malloc(sizeof(double) * 2 * (size_t)half);
    float *factors = malloc(sizeof(float) * (size_t)half);
    if (!plain || !factors) {
        free(plain);
        free(factors);
        return rb_error_set(err, RB_ENOMEM, "%s: out of memory", path);
    }
    rb_config flat = *c;
    flat.rope_scaling = RB_ROPE_SCALING_NONE;
    rb_rope_freqs(&flat, NULL, plain);
    rb_rope_freqs(c, NULL, plain + half);
    for (int i = 0; i < half; i++) factors[i] = (float)(plain[i] / plain[half + i]);
    rb_model with_factors = *m;
    with_factors.cfg.rope_scaling = RB_ROPE_SCALING_FREQ_FACTORS;
    with_factors.rope_freq_factors = factors;
    int rc = rb_gguf_save(&with_factors, path, o, err);
    free(plain);
    free(factors);
    return rc;
}

int rb_gguf_save(const rb_model *m, const char *path, const rb_save_options *o, rb_error *err) {
    const rb_config *c = &m->cfg;
    rb_dtype dt = o->dtype;
    if (m->online.resid_attn || m->online.resid_ffn)
        return rb_error_set(err, RB_EUNSUPPORTED,
                            "%s: residual basis changes (resq:bases=decoder|layer) are not "
                            "saved yet", path);
    if (c->rope_scaling == RB_ROPE_SCALING_LLAMA3) return llama3_as_factors(m, path, o, err);
    if (dt != RB_DTYPE_F32 && dt != RB_DTYPE_BF16 && dt != RB_DTYPE_F16 && !rb_dtype_is_block(dt))
        return rb_error_set(err, RB_EUNSUPPORTED,
                            "%s: GGUF tensors are written as F32, BF16, F16, Q8_0 or Q4_0", path);
    int online = rb_online_plan_active(&m->online);
    rb_saved_meta own;
    const rb_saved_meta *meta = o->meta;
    if (!meta) {
        rb_saved_meta_from(&own, m, NULL, "");
        meta = &own;
    }
    /* a model with online transforms gets an architecture llama.cpp does not
     * load: without them it would run a different function */
    const char *arch = c->qkv_bias ? (online ? "rotbench-qwen2" : "qwen2")
                                   : (online ? "rotbench-llama" : "llama");
    int halves = c->qkv_bias;
    entry *e = NULL;
    size_t n_t = 0;
    int rc = list_entries(m, dt, &e, &n_t, err);
    if (rc) return rc;
    kvs k = {{0}, 0};
    char name[96];
#define KEY(s) (snprintf(name, sizeof name, "%s.%s", arch, s), name)
    kv_str(&k, "general.architecture", arch);
    kv_u32(&k, "general.alignment", ALIGN);
    kv_u32(&k, KEY("context_length"), (uint32_t)c->seq_len);
    kv_u32(&k, KEY("embedding_length"), (uint32_t)c->dim);
    kv_u32(&k, KEY("feed_forward_length"), (uint32_t)c->hidden_dim);
    kv_u32(&k, KEY("block_count"), (uint32_t)c->n_layers);
    kv_u32(&k, KEY("attention.head_count"), (uint32_t)c->n_heads);
    kv_u32(&k, KEY("attention.head_count_kv"), (uint32_t)c->n_kv_heads);
    kv_u32(&k, KEY("attention.key_length"), (uint32_t)c->head_dim);
    kv_u32(&k, KEY("attention.value_length"), (uint32_t)c->head_dim);
    kv_f32(&k, KEY("attention.layer_norm_rms_epsilon"), c->norm_eps);
    kv_f32(&k, KEY("rope.freq_base"), c->rope_theta);
    kv_u32(&k, KEY("rope.dimension_count"), (uint32_t)c->head_dim);
    if (c->rope_scaling == RB_ROPE_SCALING_LINEAR) {
        kv_str(&k, KEY("rope.scaling.type"), "linear");
        kv_f32(&k, KEY("rope.scaling.factor"), c->rope_factor);
    }
#undef KEY
    if (o->vocab) add_vocab(&k, o->vocab);
    add_meta(&k, meta, e, n_t, dt);
    /* header, key-values, tensor infos */
    rb_buf h = {0};
    rb_buf_append(&h, "GGUF", 4);
    put_u32(&h, 3);
    put_u64(&h, n_t);
    put_u64(&h, k.n);
    rb_buf_append(&h, k.b.s ? k.b.s : "", k.b.len);
    rb_buf_free(&k.b);
    uint64_t off = 0;
    for (size_t i = 0; i < n_t; i++) {
        put_bytes(&h, e[i].name, strlen(e[i].name));
        put_u32(&h, (uint32_t)e[i].nd);
        if (e[i].nd == 2) put_u64(&h, (uint64_t)e[i].cols);
        put_u64(&h, (uint64_t)e[i].rows);
        put_u32(&h, ggml_type(e[i].dt));
        put_u64(&h, off);
        off += (e[i].bytes + ALIGN - 1) / ALIGN * ALIGN;
    }
    static const char zeros[ALIGN];
    rb_buf_append(&h, zeros, (ALIGN - h.len % ALIGN) % ALIGN);
    if (h.oom) {
        rb_buf_free(&h);
        free(e);
        return rb_error_set(err, RB_ENOMEM, "%s: out of memory for the GGUF header", path);
    }
    FILE *f;
    char tmp[1100];
    if ((rc = rb_atomic_create(path, tmp, sizeof tmp, &f, err))) {
        rb_buf_free(&h);
        free(e);
        return rc;
    }
    if (fwrite(h.s, 1, h.len, f) != h.len)
        rc = rb_error_set(err, RB_EIO, "%s: write failed: %s", path, strerror(errno));
    rb_buf_free(&h);
    for (size_t i = 0; i < n_t && !rc; i++) {
        if (e[i].dense)
            rc = rb_write_f32(f, e[i].dense, (size_t)(e[i].rows * e[i].cols), path, err);
        else
            rc = rb_write_tensor(f, m, e[i].kind, e[i].layer, halves, e[i].dt, path, err);
        size_t pad = (size_t)((ALIGN - e[i].bytes % ALIGN) % ALIGN);
        if (!rc && fwrite(zeros, 1, pad, f) != pad)
            rc = rb_error_set(err, RB_EIO, "%s: write failed: %s", path, strerror(errno));
    }
    free(e);
    if (rc) {
        rb_atomic_abort(f, tmp);
        return rc;
    }
    return rb_atomic_commit(f, tmp, path, err);
}
