/* Writing GGUF v3 files (see core/model_save.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/formats.h"
#include "core/gguf.h"
#include "core/model_save.h"

enum { ALIGN = 32 };

typedef struct writer {
    FILE *f;
    int ok;
} writer;

static void put(writer *w, const void *p, size_t n) {
    if (w->ok && fwrite(p, 1, n, w->f) != n) w->ok = 0;
}
static void put_u32(writer *w, uint32_t v) {
    unsigned char b[4];
    for (int i = 0; i < 4; i++) b[i] = (unsigned char)(v >> (8 * i));
    put(w, b, 4);
}
static void put_u64(writer *w, uint64_t v) {
    unsigned char b[8];
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)(v >> (8 * i));
    put(w, b, 8);
}
static void put_str(writer *w, const char *s) {
    put_u64(w, strlen(s));
    put(w, s, strlen(s));
}
static void kv_u32(writer *w, const char *k, uint32_t v) {
    put_str(w, k);
    put_u32(w, RB_GGUF_U32);
    put_u32(w, v);
}
static void kv_f32(writer *w, const char *k, float v) {
    uint32_t u;
    memcpy(&u, &v, 4);
    put_str(w, k);
    put_u32(w, RB_GGUF_F32);
    put_u32(w, u);
}
static void kv_str(writer *w, const char *k, const char *v) {
    put_str(w, k);
    put_u32(w, RB_GGUF_STRING);
    put_str(w, v);
}

static uint32_t ggml_type(rb_dtype dt) {
    return dt == RB_DTYPE_BF16 ? RB_GGML_BF16 : dt == RB_DTYPE_F16 ? RB_GGML_F16 : RB_GGML_F32;
}

int rb_gguf_save(const rb_model *m, const char *path, rb_dtype dt, rb_error *err) {
    const rb_config *c = &m->cfg;
    if (rb_online_plan_active(&m->online))
        return rb_error_set(err, RB_EUNSUPPORTED,
                            "%s: the model has online transforms, which a GGUF file cannot hold",
                            path);
    if (c->rope_scaling == RB_ROPE_SCALING_LLAMA3)
        return rb_error_set(err, RB_EUNSUPPORTED,
                            "%s: llama3 RoPE scaling is stored by llama.cpp as rope_freqs.weight "
                            "factors, which rotbench does not compute; save as HF instead",
                            path);
    if (dt != RB_DTYPE_F32 && dt != RB_DTYPE_BF16 && dt != RB_DTYPE_F16)
        return rb_error_set(err, RB_EUNSUPPORTED, "%s: GGUF tensors are written as F32, BF16 or F16",
                            path);
    const char *arch = c->qkv_bias ? "qwen2" : "llama";
    int halves = c->qkv_bias;
    const char *const *names = rb_gguf_tensor_names();
    FILE *f = fopen(path, "wb");
    if (!f) return rb_error_set(err, RB_EIO, "%s: cannot create: %s", path, strerror(errno));
    writer w = {f, 1};
    uint64_t n_t = 0;
    for (int k = 0; k < RB_TENSOR_KIND_COUNT; k++)
        if (rb_tensor_present(c, m->classifier_shared, (rb_tensor_kind)k))
            n_t += rb_tensor_per_layer((rb_tensor_kind)k) ? (uint64_t)c->n_layers : 1;
    int linear = c->rope_scaling == RB_ROPE_SCALING_LINEAR;
    put(&w, "GGUF", 4);
    put_u32(&w, 3);
    put_u64(&w, n_t);
    put_u64(&w, 12 + (uint64_t)(linear ? 2 : 0));
    char key[96];
#define KEY(name) (snprintf(key, sizeof key, "%s.%s", arch, name), key)
    kv_str(&w, "general.architecture", arch);
    kv_u32(&w, "general.alignment", ALIGN);
    kv_u32(&w, KEY("context_length"), (uint32_t)c->seq_len);
    kv_u32(&w, KEY("embedding_length"), (uint32_t)c->dim);
    kv_u32(&w, KEY("feed_forward_length"), (uint32_t)c->hidden_dim);
    kv_u32(&w, KEY("block_count"), (uint32_t)c->n_layers);
    kv_u32(&w, KEY("attention.head_count"), (uint32_t)c->n_heads);
    kv_u32(&w, KEY("attention.head_count_kv"), (uint32_t)c->n_kv_heads);
    kv_u32(&w, KEY("attention.key_length"), (uint32_t)c->head_dim);
    kv_f32(&w, KEY("attention.layer_norm_rms_epsilon"), c->norm_eps);
    kv_f32(&w, KEY("rope.freq_base"), c->rope_theta);
    kv_u32(&w, KEY("rope.dimension_count"), (uint32_t)c->head_dim);
    if (linear) {
        kv_str(&w, KEY("rope.scaling.type"), "linear");
        kv_f32(&w, KEY("rope.scaling.factor"), c->rope_factor);
    }
#undef KEY
    /* tensor infos, in canonical order */
    uint64_t off = 0;
    for (int k = 0; k < RB_TENSOR_KIND_COUNT; k++) {
        if (!rb_tensor_present(c, m->classifier_shared, (rb_tensor_kind)k)) continue;
        int nd;
        int64_t d[2];
        rb_tensor_shape(c, (rb_tensor_kind)k, &nd, d);
        rb_dtype tdt = nd == 1 ? RB_DTYPE_F32 : dt;
        int reps = rb_tensor_per_layer((rb_tensor_kind)k) ? c->n_layers : 1;
        for (int l = 0; l < reps; l++) {
            char name[128];
            snprintf(name, sizeof name, names[k], l);
            put_str(&w, name);
            put_u32(&w, (uint32_t)nd);
            if (nd == 2) put_u64(&w, (uint64_t)d[1]);
            put_u64(&w, (uint64_t)d[0]);
            put_u32(&w, ggml_type(tdt));
            put_u64(&w, off);
            off += (rb_tensor_file_bytes(c, (rb_tensor_kind)k, tdt) + ALIGN - 1) / ALIGN * ALIGN;
        }
    }
    static const unsigned char zeros[ALIGN];
    long pos = w.ok ? ftell(f) : 0;
    if (pos < 0) w.ok = 0;
    put(&w, zeros, (size_t)((ALIGN - pos % ALIGN) % ALIGN));
    int rc = w.ok ? RB_OK : rb_error_set(err, RB_EIO, "%s: write failed: %s", path, strerror(errno));
    for (int k = 0; k < RB_TENSOR_KIND_COUNT && !rc; k++) {
        if (!rb_tensor_present(c, m->classifier_shared, (rb_tensor_kind)k)) continue;
        int nd;
        int64_t d[2];
        rb_tensor_shape(c, (rb_tensor_kind)k, &nd, d);
        rb_dtype tdt = nd == 1 ? RB_DTYPE_F32 : dt;
        uint64_t bytes = rb_tensor_file_bytes(c, (rb_tensor_kind)k, tdt);
        int reps = rb_tensor_per_layer((rb_tensor_kind)k) ? c->n_layers : 1;
        for (int l = 0; l < reps && !rc; l++) {
            rc = rb_write_tensor(f, m, (rb_tensor_kind)k, l, halves, tdt, path, err);
            put(&w, zeros, (size_t)((ALIGN - bytes % ALIGN) % ALIGN));
            if (!rc && !w.ok) rc = rb_error_set(err, RB_EIO, "%s: write failed: %s", path, strerror(errno));
        }
    }
    if (fclose(f) != 0 && !rc) rc = rb_error_set(err, RB_EIO, "%s: write failed: %s", path, strerror(errno));
    if (rc) unlink(path);
    return rc;
}
