/* Writing Hugging Face checkpoint directories (see core/model_save.h). */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/formats.h"
#include "core/model_save.h"

typedef struct tensor_ref {
    rb_tensor_kind kind;
    int layer;
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

static int write_config(const rb_model *m, const char *dir, rb_dtype dt, rb_error *err) {
    const rb_config *c = &m->cfg;
    json_object *o = json_object_new_object();
    json_object *arch = json_object_new_array();
    json_object_array_add(arch, json_object_new_string(c->qkv_bias ? "Qwen2ForCausalLM"
                                                                   : "LlamaForCausalLM"));
    json_object_object_add(o, "architectures", arch);
    json_object_object_add(o, "model_type", json_object_new_string(c->qkv_bias ? "qwen2" : "llama"));
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
        int nd;
        int64_t d[2];
        rb_tensor_shape(&m->cfg, t[i].kind, &nd, d);
        len += (size_t)snprintf(h + len, cap - len, ",\"%s\":{\"dtype\":\"%s\",\"shape\":[%lld",
                                t[i].name, st_dtype(dt), (long long)d[0]);
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
        if (t[i].shard == s) rc = rb_write_tensor(f, m, t[i].kind, t[i].layer, 1, dt, path, err);
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

int rb_hf_save(const rb_model *m, const char *dir, rb_dtype dt, int shards, rb_error *err) {
    const rb_config *c = &m->cfg;
    if (rb_online_plan_active(&m->online))
        return rb_error_set(err, RB_EUNSUPPORTED,
                            "%s: the model has online transforms, which a Hugging Face "
                            "checkpoint cannot hold",
                            dir);
    if (c->rope_scaling == RB_ROPE_SCALING_FREQ_FACTORS)
        return rb_error_set(err, RB_EUNSUPPORTED,
                            "%s: RoPE frequency factors (GGUF rope_freqs) have no Hugging Face "
                            "config field",
                            dir);
    if (dt != RB_DTYPE_F32 && dt != RB_DTYPE_BF16 && dt != RB_DTYPE_F16)
        return rb_error_set(err, RB_EUNSUPPORTED, "%s: safetensors are written as F32, BF16 or F16", dir);
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return rb_error_set(err, RB_EIO, "%s: cannot create the directory: %s", dir, strerror(errno));
    size_t cap = (size_t)RB_TENSOR_KIND_COUNT * (size_t)c->n_layers, n = 0;
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
    int rc = write_config(m, dir, dt, err);
    for (int s = 0; s < shards && !rc; s++) rc = write_shard(m, dir, t, n, s, shards, dt, err);
    if (!rc && shards > 1) rc = write_index(dir, t, n, shards, err);
    free(t);
    return rc;
}
