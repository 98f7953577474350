/* GGUF model files (llama.cpp): the llama and qwen2 architectures.
 *
 * Configuration from the metadata (ARCH = general.architecture):
 *   ARCH.embedding_length, ARCH.feed_forward_length, ARCH.block_count,
 *   ARCH.attention.head_count (required); ARCH.attention.head_count_kv
 *   (= head_count); ARCH.attention.layer_norm_rms_epsilon (1e-5);
 *   ARCH.rope.freq_base (10000); ARCH.context_length (2048);
 *   ARCH.rope.dimension_count, ARCH.attention.key_length /
 *   value_length (must equal the head size when present);
 *   ARCH.rope.scaling.type ("none" or "linear" with ARCH.rope.scaling.factor;
 *   others refused by name); the vocabulary size from token_embd.weight.
 * Tensors: token_embd, output_norm, output (absent: tied), blk.N.attn_norm,
 * attn_q/k/v (+ .bias: q/k/v biases), attn_output, ffn_norm, ffn_gate,
 * ffn_down, ffn_up, and rope_freqs (llama3 RoPE factors →
 * RB_ROPE_SCALING_FREQ_FACTORS).  Types F32, F16, BF16, Q8_0 and Q4_0
 * (dequantized; the info says so); others refused by name.  llama's q/k rows
 * are already interleaved pairs; qwen2 (NEOX RoPE) stores rotate_half
 * order and is un-permuted. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/dtype.h"
#include "core/formats.h"
#include "core/gguf.h"
#include "core/saved_meta.h"
#include "core/tensor_table.h"

static const char *const gguf_names[RB_TENSOR_KIND_COUNT] = {
    [RB_TENSOR_EMBED] = "token_embd.weight",
    [RB_TENSOR_ATTN_NORM] = "blk.%d.attn_norm.weight",
    [RB_TENSOR_WQ] = "blk.%d.attn_q.weight",
    [RB_TENSOR_WK] = "blk.%d.attn_k.weight",
    [RB_TENSOR_WV] = "blk.%d.attn_v.weight",
    [RB_TENSOR_WO] = "blk.%d.attn_output.weight",
    [RB_TENSOR_FFN_NORM] = "blk.%d.ffn_norm.weight",
    [RB_TENSOR_W1] = "blk.%d.ffn_gate.weight",
    [RB_TENSOR_W2] = "blk.%d.ffn_down.weight",
    [RB_TENSOR_W3] = "blk.%d.ffn_up.weight",
    [RB_TENSOR_FINAL_NORM] = "output_norm.weight",
    [RB_TENSOR_CLASSIFIER] = "output.weight",
    [RB_TENSOR_BQ] = "blk.%d.attn_q.bias",
    [RB_TENSOR_BK] = "blk.%d.attn_k.bias",
    [RB_TENSOR_BV] = "blk.%d.attn_v.bias",
    [RB_TENSOR_ROPE_FREQS] = "rope_freqs.weight"};

const char *const *rb_gguf_tensor_names(void) { return gguf_names; }

enum { CHUNK_ELEMS = 1 << 22 };

/* An integer key ARCH.<name> in lo..hi (def < 0: required). */
static int meta_int(const rb_gguf *g, const char *arch, const char *name, long def, long lo,
                    long hi, int *out, rb_error *err) {
    char key[160];
    snprintf(key, sizeof key, "%s.%s", arch, name);
    int64_t v;
    int r = rb_gguf_get_int(g, key, &v);
    if (r < 0) return rb_error_set(err, RB_EFORMAT, "%s: %s is not an integer", g->path, key);
    if (r == 0) {
        if (def < 0) return rb_error_set(err, RB_EFORMAT, "%s: required key %s is missing", g->path, key);
        v = def;
    }
    if (v < lo || v > hi)
        return rb_error_set(err, RB_EFORMAT, "%s: %s = %lld is outside %ld..%ld", g->path, key,
                            (long long)v, lo, hi);
    *out = (int)v;
    return RB_OK;
}

static int meta_float(const rb_gguf *g, const char *arch, const char *name, double def,
                      double *out, rb_error *err) {
    char key[160];
    snprintf(key, sizeof key, "%s.%s", arch, name);
    int r = rb_gguf_get_float(g, key, out);
    if (r < 0) return rb_error_set(err, RB_EFORMAT, "%s: %s is not a number", g->path, key);
    if (r == 0) *out = def;
    if (!isfinite(*out) || *out <= 0)
        return rb_error_set(err, RB_EFORMAT, "%s: %s = %g must be positive", g->path, key, *out);
    return RB_OK;
}

static int parse_config(const rb_gguf *g, const char *arch, rb_config *c, int *shared,
                        rb_error *err) {
    int heads = 0, rope_dims = 0, key_len = 0, val_len = 0;
    double eps, theta;
    int rc;
    if ((rc = meta_int(g, arch, "embedding_length", -1, 2, 1 << 16, &c->dim, err)) ||
        (rc = meta_int(g, arch, "feed_forward_length", -1, 1, 1 << 18, &c->hidden_dim, err)) ||
        (rc = meta_int(g, arch, "block_count", -1, 1, 1024, &c->n_layers, err)) ||
        (rc = meta_int(g, arch, "attention.head_count", -1, 1, 1 << 16, &heads, err)))
        return rc;
    c->n_heads = heads;
    c->head_dim = c->dim / heads;
    if ((rc = meta_int(g, arch, "attention.head_count_kv", heads, 1, heads, &c->n_kv_heads, err)) ||
        (rc = meta_int(g, arch, "context_length", 2048, 1, 1 << 20, &c->seq_len, err)) ||
        (rc = meta_int(g, arch, "rope.dimension_count", c->head_dim, 0, 1 << 16, &rope_dims, err)) ||
        (rc = meta_int(g, arch, "attention.key_length", c->head_dim, 0, 1 << 16, &key_len, err)) ||
        (rc = meta_int(g, arch, "attention.value_length", c->head_dim, 0, 1 << 16, &val_len, err)) ||
        (rc = meta_float(g, arch, "attention.layer_norm_rms_epsilon", 1e-5, &eps, err)) ||
        (rc = meta_float(g, arch, "rope.freq_base", 10000.0, &theta, err)))
        return rc;
    if (key_len != c->head_dim || val_len != c->head_dim)
        return rb_error_set(err, RB_EUNSUPPORTED,
                            "%s: %s.attention.key_length/value_length = %d/%d differ from "
                            "embedding_length / head_count = %d",
                            g->path, arch, key_len, val_len, c->head_dim);
    if (rope_dims != c->head_dim)
        return rb_error_set(err, RB_EUNSUPPORTED,
                            "%s: %s.rope.dimension_count = %d: partial RoPE (not the head size "
                            "%d) is not supported",
                            g->path, arch, rope_dims, c->head_dim);
    c->norm_eps = (float)eps;
    c->rope_theta = (float)theta;
    char key[160];
    const char *st;
    size_t sl;
    snprintf(key, sizeof key, "%s.rope.scaling.type", arch);
    int r = rb_gguf_get_string(g, key, &st, &sl);
    if (r < 0) return rb_error_set(err, RB_EFORMAT, "%s: %s is not a string", g->path, key);
    if (r == 1 && !(sl == 4 && !memcmp(st, "none", 4))) {
        if (!(sl == 6 && !memcmp(st, "linear", 6)))
            return rb_error_set(err, RB_EUNSUPPORTED,
                                "%s: %s \"%.*s\" is not supported (none, linear; llama3 comes "
                                "as rope_freqs.weight)",
                                g->path, key, (int)(sl > 32 ? 32 : sl), st);
        double f;
        if ((rc = meta_float(g, arch, "rope.scaling.factor", NAN, &f, err))) return rc;
        c->rope_scaling = RB_ROPE_SCALING_LINEAR;
        c->rope_factor = (float)f;
    }
    const rb_gguf_tensor *emb = rb_gguf_find_tensor(g, "token_embd.weight");
    if (!emb) return rb_error_set(err, RB_EFORMAT, "%s: missing tensor \"token_embd.weight\"", g->path);
    c->vocab_size = emb->n_dims == 2 && emb->ne[1] <= (1u << 22) ? (int)emb->ne[1] : -1;
    *shared = rb_gguf_find_tensor(g, "output.weight") == NULL;
    if (rb_gguf_find_tensor(g, "rope_freqs.weight")) {
        if (c->rope_scaling != RB_ROPE_SCALING_NONE)
            return rb_error_set(err, RB_EFORMAT,
                                "%s: has both rope_freqs.weight and %s.rope.scaling.type linear",
                                g->path, arch);
        c->rope_scaling = RB_ROPE_SCALING_FREQ_FACTORS;
    }
    c->qkv_bias = rb_gguf_find_tensor(g, "blk.0.attn_q.bias") != NULL;
    return rb_config_validate(c, g->path, err);
}

static int gguf_dtype(uint32_t t, rb_dtype *d) {
    switch (t) {
    case RB_GGML_F32: *d = RB_DTYPE_F32; return 1;
    case RB_GGML_F16: *d = RB_DTYPE_F16; return 1;
    case RB_GGML_BF16: *d = RB_DTYPE_BF16; return 1;
    case RB_GGML_Q8_0: *d = RB_DTYPE_Q8_0; return 1;
    case RB_GGML_Q4_0: *d = RB_DTYPE_Q4_0; return 1;
    default: return 0;
    }
}

static void convert(const rb_gguf *g, const rb_gguf_tensor *t, rb_dtype dt, float *dst) {
    long page = sysconf(_SC_PAGESIZE);
    for (uint64_t at = 0; at < t->n; at += CHUNK_ELEMS) {
        uint64_t k = t->n - at < CHUNK_ELEMS ? t->n - at : CHUNK_ELEMS; /* multiple of 32 */
        uint64_t off = rb_dtype_bytes(dt, at), bytes = rb_dtype_bytes(dt, k);
        const unsigned char *src = g->data + t->offset + off;
        rb_dtype_to_f32(dt, src, dst + at, (size_t)k);
        if (g->map) {
            uintptr_t lo = (uintptr_t)src & ~(uintptr_t)(page - 1);
            uintptr_t hi = ((uintptr_t)src + bytes + (uintptr_t)page - 1) & ~(uintptr_t)(page - 1);
            madvise((void *)lo, hi - lo, MADV_DONTNEED);
        }
    }
}

/* rotbench.* keys (core/saved_meta.h) into info->saved and the online flags
 * into m. */
static int read_meta(const rb_gguf *g, rb_model *m, rb_saved_meta *s, rb_error *err) {
    int64_t v;
    memset(s, 0, sizeof *s);
    if (rb_gguf_get_int(g, "rotbench.version", &v) != 1) return RB_OK;
    if (v != 1)
        return rb_error_set(err, RB_EUNSUPPORTED, "%s: rotbench.version %lld (this rotbench reads 1)",
                            g->path, (long long)v);
    s->present = 1;
    const char *str;
    size_t len;
    struct { const char *key; char *dst; size_t cap; } strs[] = {
        {"rotbench.saved", s->saved, sizeof s->saved},
        {"rotbench.quant.w", s->quant_w, sizeof s->quant_w},
        {"rotbench.quant.a", s->quant_a, sizeof s->quant_a},
        {"rotbench.quant.kv", s->quant_kv, sizeof s->quant_kv}};
    for (size_t i = 0; i < sizeof strs / sizeof *strs; i++)
        if (rb_gguf_get_string(g, strs[i].key, &str, &len) == 1)
            snprintf(strs[i].dst, strs[i].cap, "%.*s", (int)(len < strs[i].cap ? len : strs[i].cap - 1), str);
    struct { const char *key; int *dst; } flags[] = {
        {"rotbench.online.qk_hadamard", &s->qk_hadamard},
        {"rotbench.online.down_hadamard", &s->down_hadamard},
        {"rotbench.online.o_head_hadamard", &s->o_head_hadamard}};
    for (size_t i = 0; i < 3; i++) {
        int r = rb_gguf_get_int(g, flags[i].key, &v);
        if (r < 0 || (r == 1 && v != 0 && v != 1))
            return rb_error_set(err, RB_EFORMAT, "%s: %s must be 0 or 1", g->path, flags[i].key);
        *flags[i].dst = r == 1 && v;
    }
    m->online.qk_hadamard = s->qk_hadamard;
    m->online.down_hadamard = s->down_hadamard;
    m->online.o_head_hadamard = s->o_head_hadamard;
    const rb_gguf_kv *a = rb_gguf_find(g, "rotbench.split.a"), *kv = rb_gguf_find(g, "rotbench.split.kv");
    if (!a != !kv)
        return rb_error_set(err, RB_EFORMAT, "%s: rotbench.split.a and rotbench.split.kv come together",
                            g->path);
    if (a) {
        if (a->type != RB_GGUF_ARRAY || a->elem_type != RB_GGUF_I32 ||
            a->count != 2 * RB_ACT_POINT_COUNT || kv->type != RB_GGUF_ARRAY ||
            kv->elem_type != RB_GGUF_I32 || kv->count != 4)
            return rb_error_set(err, RB_EFORMAT,
                                "%s: rotbench.split.a / .kv must be int32 arrays of %d / 4", g->path,
                                2 * RB_ACT_POINT_COUNT);
        int32_t x[2 * RB_ACT_POINT_COUNT + 4];
        memcpy(x, a->value, 4 * 2 * RB_ACT_POINT_COUNT);
        memcpy(x + 2 * RB_ACT_POINT_COUNT, kv->value, 16);
        for (int i = 0; i < 2 * RB_ACT_POINT_COUNT + 4; i += 2)
            if (x[i] < 0 || x[i + 1] < 0 || x[i + 1] > x[i] || x[i] > (1 << 20))
                return rb_error_set(err, RB_EFORMAT, "%s: rotbench.split entry %d: {%d, %d} is not "
                                    "{block, high} with 0 <= high <= block", g->path, i / 2, x[i], x[i + 1]);
        for (int p = 0; p < RB_ACT_POINT_COUNT; p++)
            s->a_split[p] = (rb_quant_split){x[2 * p], x[2 * p + 1]};
        s->k_split = (rb_quant_split){x[2 * RB_ACT_POINT_COUNT], x[2 * RB_ACT_POINT_COUNT + 1]};
        s->v_split = (rb_quant_split){x[2 * RB_ACT_POINT_COUNT + 2], x[2 * RB_ACT_POINT_COUNT + 3]};
    }
    return RB_OK;
}

static int bind_tensors(const rb_gguf *g, rb_model *m, int halves, rb_model_info *info,
                        rb_error *err) {
    rb_tensor_table tab;
    int rc = rb_tensor_table_init(&tab, m, gguf_names, g->path, err);
    if (rc) return rc;
    const rb_config *c = &m->cfg;
    for (size_t i = 0; i < g->n_t && !rc; i++) {
        const rb_gguf_tensor *t = &g->t[i];
        /* ggml lists the fastest dimension first; the table wants [rows][cols] */
        int64_t dims[4];
        for (uint32_t d = 0; d < t->n_dims; d++) dims[d] = (int64_t)t->ne[t->n_dims - 1 - d];
        if (t->n_dims == 1) dims[1] = 1;
        if (t->name_len > 9 && !memcmp(t->name, "rotbench.", 9)) {
            char name[160];
            snprintf(name, sizeof name, "%.*s", (int)(t->name_len < 150 ? t->name_len : 150), t->name);
            rc = rb_saved_bind_dense(m, name, 0, g->data + t->offset, t->type == RB_GGML_F32,
                                     (int)t->n_dims, dims, g->path, err);
            continue;
        }
        rb_tensor_entry *e;
        if ((rc = rb_tensor_table_claim(&tab, g->path, t->name, t->name_len, (int)t->n_dims, dims,
                                        &e, err)))
            break;
        rb_dtype dt;
        if (!gguf_dtype(t->type, &dt)) {
            rc = rb_error_set(err, RB_EUNSUPPORTED,
                              "%s: tensor \"%s\" has ggml type %s (supported: F32, F16, BF16, "
                              "Q8_0, Q4_0)",
                              g->path, e->name, rb_ggml_type_name(t->type));
            break;
        }
        rb_model_info_add_dtype(info, rb_dtype_name(dt));
        if (rb_dtype_is_block(dt)) info->dequantized = 1;
        convert(g, t, dt, *e->slot);
        int heads = e->kind == RB_TENSOR_WQ || e->kind == RB_TENSOR_BQ ? c->n_heads
                    : e->kind == RB_TENSOR_WK || e->kind == RB_TENSOR_BK ? c->n_kv_heads
                                                                         : 0;
        if (halves && heads) rc = rb_qk_relayout(*e->slot, heads, c->head_dim, e->dims[1], 1, g->path, err);
    }
    if (!rc) rc = rb_tensor_table_finish(&tab, g->path, err);
    if (!rc) rc = rb_saved_check_dense(m, 0, g->path, err);
    rb_tensor_table_free(&tab);
    return rc;
}

int rb_gguf_model_open(const char *path, rb_model **out, rb_model_info *info, rb_error *err) {
    *out = NULL;
    rb_gguf g;
    int rc = rb_gguf_open(path, &g, err);
    if (rc) return rc;
    const char *arch;
    size_t al;
    int r = rb_gguf_get_string(&g, "general.architecture", &arch, &al);
    char a[64] = "";
    if (r == 1) snprintf(a, sizeof a, "%.*s", (int)(al < 63 ? al : 63), arch);
    /* rotbench-llama / rotbench-qwen2: what rotbench writes for a model with
     * online transforms (core/model_save.h), otherwise llama / qwen2 */
    const char *base = strstr(a, "rotbench-") == a ? a + 9 : a;
    int halves = strcmp(base, "qwen2") == 0;
    if (r != 1)
        rc = rb_error_set(err, RB_EFORMAT, "%s: general.architecture is %s", path,
                          r ? "not a string" : "missing");
    else if (strcmp(base, "llama") != 0 && !halves)
        rc = rb_error_set(err, RB_EUNSUPPORTED,
                          "%s: general.architecture \"%s\" is not supported (llama, qwen2)", path, a);
    rb_config cfg = {0};
    int shared = 0;
    if (!rc) rc = parse_config(&g, a, &cfg, &shared, err);
    rb_model *m = NULL;
    if (!rc) rc = rb_model_new(&cfg, shared, &m, err);
    if (!rc) {
        snprintf(m->source, sizeof m->source, "%s", path);
        info->format = RB_FORMAT_GGUF;
        info->format_name = "gguf";
        snprintf(info->architecture, sizeof info->architecture, "%s", a);
        info->max_context = cfg.seq_len;
        info->qk_layout = halves ? RB_QK_HALVES : RB_QK_INTERLEAVED;
        info->tokenizer_embedded = rb_gguf_find(&g, "tokenizer.ggml.tokens") != NULL;
        const char *tk;
        size_t tl;
        if (rb_gguf_get_string(&g, "tokenizer.ggml.model", &tk, &tl) == 1)
            snprintf(info->tokenizer_kind, sizeof info->tokenizer_kind, "%.*s",
                     (int)(tl < 31 ? tl : 31), tk);
        rc = rb_model_info_add_file(info, path, g.size, err);
    }
    if (!rc) rc = read_meta(&g, m, &info->saved, err);
    if (!rc && base != a && !info->saved.present)
        rc = rb_error_set(err, RB_EFORMAT, "%s: architecture %s without rotbench.version", path, a);
    if (!rc) rc = bind_tensors(&g, m, halves, info, err);
    rb_gguf_close(&g);
    if (rc) {
        rb_model_free(m);
        return rc;
    }
    *out = m;
    return RB_OK;
}
