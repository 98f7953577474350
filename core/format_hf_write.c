/* Writing Hugging Face checkpoint directories (see core/model_save.h). */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/io.h"
#include "core/formats.h"
#include "core/model_save.h"

typedef struct tensor_ref {
    rb_tensor_kind kind;
    int layer;
    const float *dense; /* a dense online matrix [side][side] (F32), else NULL */
    int64_t side;
    char name[128];
    uint64_t bytes;
    int shard;
} tensor_ref;

static const char *st_dtype(rb_dtype dt) {
    return dt == RB_DTYPE_BF16 ? "BF16" : dt == RB_DTYPE_F16 ? "F16" : "F32";
}

/* Writes o, pretty-printed, to dir/name and releases o (also on failure). */
static int write_json_file(const char *dir, const char *name, json_object *o, rb_error *err) {
    char path[1400];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int rc = json_object_to_file_ext(path, o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE)
                 ? rb_error_set(err, RB_EIO, "%s: cannot write", path)
                 : RB_OK;
    json_object_put(o);
    return rc;
}

static json_object *split_json(const rb_quant_split *s, int n) {
    json_object *a = json_object_new_array();
    for (int i = 0; i < n; i++) {
        json_object_array_add(a, json_object_new_int(s[i].block));
        json_object_array_add(a, json_object_new_int(s[i].high));
    }
    return a;
}

/* config.json's "rotbench" object (core/saved_meta.h). */
static json_object *meta_json(const rb_saved_meta *s) {
    json_object *o = json_object_new_object(), *on = json_object_new_object();
    json_object_object_add(o, "version", json_object_new_int(1));
    json_object_object_add(o, "saved", json_object_new_string(s->saved));
    json_object_object_add(on, "qk_hadamard", json_object_new_int(s->qk_hadamard));
    json_object_object_add(on, "down_hadamard", json_object_new_int(s->down_hadamard));
    json_object_object_add(on, "o_head_hadamard", json_object_new_int(s->o_head_hadamard));
    json_object_object_add(o, "online", on);
    if (rb_saved_meta_has_split(s)) {
        json_object *sp = json_object_new_object();
        rb_quant_split kv[2] = {s->k_split, s->v_split};
        json_object_object_add(sp, "a", split_json(s->a_split, RB_ACT_POINT_COUNT));
        json_object_object_add(sp, "kv", split_json(kv, 2));
        json_object_object_add(o, "split", sp);
    }
    json_object *q = json_object_new_object();
    json_object_object_add(q, "w", json_object_new_string(s->quant_w));
    json_object_object_add(q, "a", json_object_new_string(s->quant_a));
    json_object_object_add(q, "kv", json_object_new_string(s->quant_kv));
    json_object_object_add(o, "quant", q);
    return o;
}

static int write_config(const rb_model *m, const char *dir, rb_dtype dt, const rb_saved_meta *meta,
                        rb_error *err) {
    const rb_config *c = &m->cfg;
    json_object *o = json_object_new_object();
    json_object *arch = json_object_new_array();
    /* with online transforms, names transformers does not load: it would run
     * the model without them */
    int online = rb_online_plan_active(&m->online);
    json_object_array_add(arch, json_object_new_string(
                                    online ? (c->qkv_bias ? "RotbenchQwen2ForCausalLM"
                                                          : "RotbenchLlamaForCausalLM")
                                           : (c->qkv_bias ? "Qwen2ForCausalLM" : "LlamaForCausalLM")));
    json_object_object_add(o, "architectures", arch);
    json_object_object_add(o, "model_type",
                           json_object_new_string(online ? (c->qkv_bias ? "rotbench_qwen2" : "rotbench_llama")
                                                         : (c->qkv_bias ? "qwen2" : "llama")));
    json_object_object_add(o, "hidden_size", json_object_new_int(c->dim));
    json_object_object_add(o, "intermediate_size", json_object_new_int(c->hidden_dim));
    json_object_object_add(o, "num_hidden_layers", json_object_new_int(c->n_layers));
    json_object_object_add(o, "num_attention_heads", json_object_new_int(c->n_heads));
    json_object_object_add(o, "num_key_value_heads", json_object_new_int(c->n_kv_heads));
    json_object_object_add(o, "head_dim", json_object_new_int(c->head_dim));
    json_object_object_add(o, "vocab_size", json_object_new_int(c->vocab_size));
    json_object_object_add(o, "max_position_embeddings", json_object_new_int(c->seq_len));
    json_object_object_add(o, "rms_norm_eps", json_object_new_double((double)c->norm_eps));
    json_object_object_add(o, "rope_theta", json_object_new_double((double)c->rope_theta));
    json_object *rs = NULL;
    if (c->rope_scaling == RB_ROPE_SCALING_LINEAR || c->rope_scaling == RB_ROPE_SCALING_LLAMA3) {
        rs = json_object_new_object();
        int l3 = c->rope_scaling == RB_ROPE_SCALING_LLAMA3;
        json_object_object_add(rs, "rope_type", json_object_new_string(l3 ? "llama3" : "linear"));
        json_object_object_add(rs, "factor", json_object_new_double((double)c->rope_factor));
        if (l3) {
            json_object_object_add(rs, "low_freq_factor",
                                   json_object_new_double((double)c->rope_low_freq_factor));
            json_object_object_add(rs, "high_freq_factor",
                                   json_object_new_double((double)c->rope_high_freq_factor));
            json_object_object_add(rs, "original_max_position_embeddings",
                                   json_object_new_int(c->rope_orig_max_pos));
        }
    }
    json_object_object_add(o, "rope_scaling", rs);
    json_object_object_add(o, "hidden_act", json_object_new_string("silu"));
    json_object_object_add(o, "tie_word_embeddings", json_object_new_boolean(m->classifier_shared));
    json_object_object_add(o, "torch_dtype",
                           json_object_new_string(dt == RB_DTYPE_BF16  ? "bfloat16"
                                                  : dt == RB_DTYPE_F16 ? "float16"
                                                                       : "float32"));
    json_object_object_add(o, "rotbench", meta_json(meta));
    return write_json_file(dir, "config.json", o, err);
}

static void shard_name(char *buf, size_t cap, int k, int n) {
    if (n <= 1) snprintf(buf, cap, "model.safetensors");
    else snprintf(buf, cap, "model-%05d-of-%05d.safetensors", k + 1, n);
}

/* One safetensors file with the tensors t[i] of shard s. */
static int write_shard(const rb_model *m, const char *dir, const tensor_ref *t, size_t n, int s,
                       int n_shards, rb_dtype dt, rb_error *err) {
    char name[64], path[1400];
    shard_name(name, sizeof name, s, n_shards);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    size_t cap = 256 + n * 256, len = 0;
    char *h = malloc(cap);
    if (!h) return rb_error_set(err, RB_ENOMEM, "%s: out of memory", path);
    len += (size_t)snprintf(h + len, cap - len, "{\"__metadata__\":{\"format\":\"pt\"}");
    uint64_t off = 0;
    for (size_t i = 0; i < n; i++) {
        if (t[i].shard != s) continue;
        int nd = 2;
        int64_t d[2] = {t[i].side, t[i].side};
        if (!t[i].dense) rb_tensor_shape(&m->cfg, t[i].kind, &nd, d);
        len += (size_t)snprintf(h + len, cap - len, ",\"%s\":{\"dtype\":\"%s\",\"shape\":[%lld",
                                t[i].name, st_dtype(t[i].dense ? RB_DTYPE_F32 : dt), (long long)d[0]);
        if (nd == 2) len += (size_t)snprintf(h + len, cap - len, ",%lld", (long long)d[1]);
        len += (size_t)snprintf(h + len, cap - len, "],\"data_offsets\":[%llu,%llu]}",
                                (unsigned long long)off, (unsigned long long)(off + t[i].bytes));
        off += t[i].bytes;
    }
    len += (size_t)snprintf(h + len, cap - len, "}");
    while (len % 8) h[len++] = ' ';
    FILE *f = fopen(path, "wb");
    if (!f) {
        free(h);
        return rb_error_set(err, RB_EIO, "%s: cannot create: %s", path, strerror(errno));
    }
    unsigned char lenbuf[8];
    for (int i = 0; i < 8; i++) lenbuf[i] = (unsigned char)((uint64_t)len >> (8 * i));
    int rc = fwrite(lenbuf, 1, 8, f) == 8 && fwrite(h, 1, len, f) == len
                 ? RB_OK
                 : rb_error_set(err, RB_EIO, "%s: write failed: %s", path, strerror(errno));
    free(h);
    for (size_t i = 0; i < n && !rc; i++)
        if (t[i].shard == s)
            rc = t[i].dense ? rb_write_f32(f, t[i].dense, (size_t)(t[i].side * t[i].side), path, err)
                            : rb_write_tensor(f, m, t[i].kind, t[i].layer, 1, dt, path, err);
    if (fclose(f) != 0 && !rc) rc = rb_error_set(err, RB_EIO, "%s: write failed: %s", path, strerror(errno));
    return rc;
}

static int write_index(const char *dir, const tensor_ref *t, size_t n, int n_shards,
                       rb_error *err) {
    json_object *o = json_object_new_object(), *meta = json_object_new_object();
    json_object *wm = json_object_new_object();
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        char name[64];
        shard_name(name, sizeof name, t[i].shard, n_shards);
        json_object_object_add(wm, t[i].name, json_object_new_string(name));
        total += t[i].bytes;
    }
    json_object_object_add(meta, "total_size", json_object_new_int64((int64_t)total));
    json_object_object_add(o, "metadata", meta);
    json_object_object_add(o, "weight_map", wm);
    return write_json_file(dir, "model.safetensors.index.json", o, err);
}

static int write_dir(const rb_model *m, const char *dir, const rb_save_options *o,
                     const rb_saved_meta *meta, rb_error *err) {
    const rb_config *c = &m->cfg;
    rb_dtype dt = o->dtype;
    size_t cap = (size_t)(RB_TENSOR_KIND_COUNT + 2) * (size_t)c->n_layers + 8, n = 0;
    tensor_ref *t = calloc(cap, sizeof *t);
    if (!t) return rb_error_set(err, RB_ENOMEM, "%s: out of memory", dir);
    const char *const *names = rb_hf_tensor_names();
    uint64_t total = 0;
    for (int k = 0; k < RB_TENSOR_KIND_COUNT; k++) {
        if (!rb_tensor_present(c, m->classifier_shared, (rb_tensor_kind)k)) continue;
        int reps = rb_tensor_per_layer((rb_tensor_kind)k) ? c->n_layers : 1;
        for (int l = 0; l < reps; l++, n++) {
            t[n].kind = (rb_tensor_kind)k;
            t[n].layer = l;
            snprintf(t[n].name, sizeof t[n].name, names[k], l);
            t[n].bytes = rb_tensor_file_bytes(c, (rb_tensor_kind)k, dt);
            total += t[n].bytes;
        }
    }
    for (int which = 0; which < 2; which++) {
        const float *base = which ? m->online.down_dense : m->online.qk_dense;
        int64_t side = which ? c->hidden_dim : c->head_dim;
        for (int l = 0; base && l < c->n_layers; l++, n++) {
            snprintf(t[n].name, sizeof t[n].name, which ? rb_saved_down_dense_hf : rb_saved_qk_dense_hf, l);
            t[n].dense = base + (size_t)l * (size_t)(side * side);
            t[n].side = side;
            t[n].bytes = (uint64_t)(side * side) * 4;
            total += t[n].bytes;
        }
    }
    int shards = o->shards;
    if (shards < 1) shards = 1;
    if ((size_t)shards > n) shards = (int)n;
    /* consecutive tensors, cut where the running size passes k/shards of the total */
    uint64_t run = 0;
    for (size_t i = 0; i < n; i++) {
        int s = (int)((long double)run * shards / (long double)(total ? total : 1));
        t[i].shard = s < shards ? s : shards - 1;
        run += t[i].bytes;
    }
    /* number the shards that got tensors consecutively */
    int used = 0, prev = -1;
    for (size_t i = 0; i < n; i++) {
        if (t[i].shard != prev) used++;
        prev = t[i].shard;
        t[i].shard = used - 1;
    }
    shards = used;
    int rc = write_config(m, dir, dt, meta, err);
    for (int s = 0; s < shards && !rc; s++) rc = write_shard(m, dir, t, n, s, shards, dt, err);
    if (!rc && shards > 1) rc = write_index(dir, t, n, shards, err);
    free(t);
    for (int i = 0; i < RB_SAVE_MAX_COPY && !rc; i++) {
        if (!o->copy_files[i]) continue;
        const char *b = strrchr(o->copy_files[i], '/');
        char dst[1400];
        snprintf(dst, sizeof dst, "%s/%s", dir, b ? b + 1 : o->copy_files[i]);
        rc = rb_copy_file(o->copy_files[i], dst, err);
    }
    return rc;
}

int rb_hf_save(const rb_model *m, const char *dir, const rb_save_options *o, rb_error *err) {
    const rb_config *c = &m->cfg;
    if (m->online.resid_attn || m->online.resid_ffn)
        return rb_error_set(err, RB_EUNSUPPORTED,
                            "%s: residual basis changes (resq:bases=decoder|layer) are not "
                            "saved yet", dir);
    if (c->rope_scaling == RB_ROPE_SCALING_FREQ_FACTORS)
        return rb_error_set(err, RB_EUNSUPPORTED,
                            "%s: RoPE frequency factors (GGUF rope_freqs) have no Hugging Face "
                            "config field",
                            dir);
    if (o->dtype != RB_DTYPE_F32 && o->dtype != RB_DTYPE_BF16 && o->dtype != RB_DTYPE_F16)
        return rb_error_set(err, RB_EUNSUPPORTED,
                            "%s: safetensors are written as F32, BF16 or F16 (not %s: quantized "
                            "blocks go to GGUF)",
                            dir, rb_dtype_name(o->dtype));
    rb_saved_meta own;
    const rb_saved_meta *meta = o->meta;
    if (!meta) {
        rb_saved_meta_from(&own, m, NULL, "");
        meta = &own;
    }
    char tmp[1100];
    int rc = rb_atomic_mkdir(dir, tmp, sizeof tmp, err);
    if (rc) return rc;
    if ((rc = write_dir(m, tmp, o, meta, err))) {
        /* name the output, not the temporary, in the message */
        rb_atomic_dir_abort(tmp);
        return rc;
    }
    return rb_atomic_dir_commit(tmp, dir, err);
}
