/* Hugging Face checkpoint directories: config.json + safetensors weights.
 *
 * Weights: model.safetensors, else the shards that model.safetensors.index.json
 * names in its weight_map (every shard must exist, every tensor of a shard
 * must be mapped to that shard by the index, every tensor the index names
 * must be found).  F32, F16 and BF16 tensors are converted into the model's
 * fp32 arena a few MiB at a time; the mapped pages are dropped after each
 * piece, so the file data never sits in memory beside its converted copy.
 * q_proj/k_proj rows (and Qwen2's biases) are stored in rotate_half order
 * and un-permuted into interleaved pairs (core/formats.h). */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/io.h"
#include "core/dtype.h"
#include "core/formats.h"
#include "core/hf_config.h"
#include "core/safetensors.h"
#include "core/tensor_table.h"

static const char *const hf_names[RB_TENSOR_KIND_COUNT] = {
    [RB_TENSOR_EMBED] = "model.embed_tokens.weight",
    [RB_TENSOR_ATTN_NORM] = "model.layers.%d.input_layernorm.weight",
    [RB_TENSOR_WQ] = "model.layers.%d.self_attn.q_proj.weight",
    [RB_TENSOR_WK] = "model.layers.%d.self_attn.k_proj.weight",
    [RB_TENSOR_WV] = "model.layers.%d.self_attn.v_proj.weight",
    [RB_TENSOR_WO] = "model.layers.%d.self_attn.o_proj.weight",
    [RB_TENSOR_FFN_NORM] = "model.layers.%d.post_attention_layernorm.weight",
    [RB_TENSOR_W1] = "model.layers.%d.mlp.gate_proj.weight",
    [RB_TENSOR_W2] = "model.layers.%d.mlp.down_proj.weight",
    [RB_TENSOR_W3] = "model.layers.%d.mlp.up_proj.weight",
    [RB_TENSOR_FINAL_NORM] = "model.norm.weight",
    [RB_TENSOR_CLASSIFIER] = "lm_head.weight",
    [RB_TENSOR_BQ] = "model.layers.%d.self_attn.q_proj.bias",
    [RB_TENSOR_BK] = "model.layers.%d.self_attn.k_proj.bias",
    [RB_TENSOR_BV] = "model.layers.%d.self_attn.v_proj.bias"};

const char *const *rb_hf_tensor_names(void) { return hf_names; }

/* Elements converted between two drops of the mapped pages. */
enum { CHUNK_ELEMS = 1 << 22 };

static int file_exists(const char *p, uint64_t *bytes) {
    struct stat st;
    if (stat(p, &st) != 0 || !S_ISREG(st.st_mode)) return 0;
    if (bytes) *bytes = (uint64_t)st.st_size;
    return 1;
}

static int parse_dtype(const char *s, rb_dtype *t) {
    if (strcmp(s, "F32") == 0) *t = RB_DTYPE_F32;
    else if (strcmp(s, "BF16") == 0) *t = RB_DTYPE_BF16;
    else if (strcmp(s, "F16") == 0) *t = RB_DTYPE_F16;
    else return 0;
    return 1;
}

/* Converts tensor t of st into dst (n elements), dropping the source pages as it goes. */
static void convert(const rb_safetensors *st, const rb_st_tensor *t, rb_dtype dt, float *dst,
                    uint64_t n) {
    long page = sysconf(_SC_PAGESIZE);
    uint64_t eb = (uint64_t)t->elem_bytes;
    for (uint64_t at = 0; at < n; at += CHUNK_ELEMS) {
        uint64_t k = n - at < CHUNK_ELEMS ? n - at : CHUNK_ELEMS;
        const unsigned char *src = st->data + t->begin + at * eb;
        rb_dtype_to_f32(dt, src, dst + at, (size_t)k);
        if (st->map) {
            uintptr_t lo = (uintptr_t)src & ~(uintptr_t)(page - 1);
            uintptr_t hi = ((uintptr_t)src + k * eb + (uintptr_t)page - 1) & ~(uintptr_t)(page - 1);
            madvise((void *)lo, hi - lo, MADV_DONTNEED);
        }
    }
}

static int ends_with(const char *s, const char *tail) {
    size_t n = strlen(s), t = strlen(tail);
    return n >= t && strcmp(s + n - t, tail) == 0;
}

typedef struct hf_load {
    const char *dir;
    rb_model *m;
    rb_tensor_table table;
    rb_model_info *info;
    json_object *weight_map; /* NULL for a single model.safetensors */
    size_t found_in_index;   /* tensors of the shards that the index named */
    json_object *found;      /* their names (a set) */
} hf_load;

/* Binds every tensor of one safetensors file. */
static int load_file(hf_load *L, const char *file, const char *shard_name, rb_error *err) {
    rb_safetensors st;
    int rc = rb_safetensors_open(file, &st, err);
    if (rc) return rc;
    if ((rc = rb_model_info_add_file(L->info, file, st.size, err))) {
        rb_safetensors_close(&st);
        return rc;
    }
    const rb_config *c = &L->m->cfg;
    for (size_t i = 0; i < st.n && !rc; i++) {
        const rb_st_tensor *t = &st.t[i];
        if (L->weight_map) {
            json_object *v;
            if (!json_object_object_get_ex(L->weight_map, t->name, &v) ||
                !json_object_is_type(v, json_type_string)) {
                rc = rb_error_set(err, RB_EFORMAT,
                                  "%s: tensor \"%.200s\" is not in model.safetensors.index.json",
                                  file, t->name);
                break;
            }
            if (strcmp(json_object_get_string(v), shard_name) != 0) {
                rc = rb_error_set(err, RB_EFORMAT,
                                  "%s: tensor \"%.200s\" is here but "
                                  "model.safetensors.index.json puts it in %.200s",
                                  file, t->name, json_object_get_string(v));
                break;
            }
            L->found_in_index++;
            json_object_object_add(L->found, t->name, NULL);
        }
        /* RoPE frequencies some old checkpoints saved: derived, not weights */
        if (ends_with(t->name, ".rotary_emb.inv_freq")) continue;
        if (strcmp(t->name, "lm_head.weight") == 0 && L->m->classifier_shared) {
            rc = rb_error_set(err, RB_EFORMAT,
                              "%s: has lm_head.weight but config.json says "
                              "tie_word_embeddings = true (the head is the embedding)",
                              file);
            break;
        }
        int64_t dims[2] = {t->ndim > 0 ? t->shape[0] : 0, t->ndim > 1 ? t->shape[1] : 1};
        if (!strncmp(t->name, "rotbench.", 9)) { /* dense online matrices (core/saved_meta.h) */
            rc = rb_saved_bind_dense(L->m, t->name, 1, st.data + t->begin, !strcmp(t->dtype, "F32"),
                                     t->ndim, dims, file, err);
            continue;
        }
        rb_tensor_entry *e;
        if ((rc = rb_tensor_table_claim(&L->table, file, t->name, strlen(t->name), t->ndim,
                                        t->ndim <= 2 ? dims : t->shape, &e, err)))
            break;
        rb_dtype dt;
        if (!parse_dtype(t->dtype, &dt)) {
            rc = rb_error_set(err, RB_EUNSUPPORTED,
                              "%s: tensor \"%s\" has dtype %s (supported: F32, BF16, F16)", file,
                              t->name, t->dtype);
            break;
        }
        rb_model_info_add_dtype(L->info, t->dtype);
        convert(&st, t, dt, *e->slot, e->n);
        int heads = e->kind == RB_TENSOR_WQ || e->kind == RB_TENSOR_BQ ? c->n_heads
                    : e->kind == RB_TENSOR_WK || e->kind == RB_TENSOR_BK ? c->n_kv_heads
                                                                         : 0;
        if (heads)
            rc = rb_qk_relayout(*e->slot, heads, c->head_dim, e->dims[1], 1, file, err);
    }
    rb_safetensors_close(&st);
    return rc;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Loads the shards of model.safetensors.index.json at path. */
static int load_index(hf_load *L, const char *path, rb_error *err) {
    char *text;
    size_t len;
    int rc = rb_read_file(path, 64u << 20, &text, &len, err);
    if (rc) return rc;
    if ((rc = rb_model_info_add_file(L->info, path, len, err))) {
        free(text);
        return rc;
    }
    json_object *root = json_tokener_parse(text);
    free(text);
    json_object *wm = NULL;
    if (!root || !json_object_is_type(root, json_type_object) ||
        !json_object_object_get_ex(root, "weight_map", &wm) ||
        !json_object_is_type(wm, json_type_object)) {
        json_object_put(root);
        return rb_error_set(err, RB_EFORMAT, "%s: not a JSON object with a weight_map object", path);
    }
    L->weight_map = wm;
    L->found = json_object_new_object();
    /* the distinct shard names, sorted */
    size_t n = (size_t)json_object_object_length(wm), n_shards = 0;
    const char **shards = calloc(n ? n : 1, sizeof *shards);
    if (!shards) rc = rb_error_set(err, RB_ENOMEM, "%s: out of memory", path);
    if (!rc) {
        json_object_object_foreach(wm, key, val) {
            if (!json_object_is_type(val, json_type_string)) {
                rc = rb_error_set(err, RB_EFORMAT, "%s: weight_map[\"%.200s\"] is not a file name",
                                  path, key);
                break;
            }
            const char *s = json_object_get_string(val);
            if (!*s || strchr(s, '/') || s[0] == '.') {
                rc = rb_error_set(err, RB_EFORMAT,
                                  "%s: weight_map[\"%.200s\"] = \"%.200s\" is not a file name in "
                                  "the checkpoint directory",
                                  path, key, s);
                break;
            }
            shards[n_shards++] = s;
        }
    }
    if (!rc) {
        qsort(shards, n_shards, sizeof *shards, cmp_str);
        size_t u = 0;
        for (size_t i = 0; i < n_shards; i++)
            if (!u || strcmp(shards[u - 1], shards[i])) shards[u++] = shards[i];
        n_shards = u;
        for (size_t i = 0; i < n_shards && !rc; i++) {
            char file[1400];
            snprintf(file, sizeof file, "%s/%s", L->dir, shards[i]);
            if (!file_exists(file, NULL))
                rc = rb_error_set(err, RB_EIO,
                                  "%s: names shard %.200s, which does not exist in %s", path,
                                  shards[i], L->dir);
        }
        for (size_t i = 0; i < n_shards && !rc; i++) {
            char file[1400];
            snprintf(file, sizeof file, "%s/%s", L->dir, shards[i]);
            rc = load_file(L, file, shards[i], err);
        }
    }
    if (!rc && L->found_in_index != n) {
        /* name a tensor the index lists that its shard does not hold */
        const char *missing = "?", *shard = "?";
        json_object_object_foreach(wm, key, val) {
            if (!json_object_object_get_ex(L->found, key, NULL)) {
                missing = key;
                shard = json_object_get_string(val);
                break;
            }
        }
        rc = rb_error_set(err, RB_EFORMAT,
                          "%s: puts tensor \"%.200s\" in %.200s, which does not hold it", path,
                          missing, shard);
    }
    free(shards);
    L->weight_map = NULL;
    json_object_put(L->found);
    L->found = NULL;
    json_object_put(root);
    return rc;
}

int rb_hf_open(const char *dir, rb_model **out, rb_model_info *info, rb_error *err) {
    *out = NULL;
    char path[1400];
    snprintf(path, sizeof path, "%s/config.json", dir);
    char *text;
    size_t len;
    int rc = rb_read_file(path, 16u << 20, &text, &len, err);
    if (rc) return rc;
    rb_hf_config hc;
    rc = rb_hf_config_parse(text, len, path, &hc, err);
    free(text);
    if (!rc) rc = rb_model_info_add_file(info, path, len, err);
    if (rc) return rc;
    info->format = RB_FORMAT_HF;
    info->format_name = "hf-safetensors";
    snprintf(info->architecture, sizeof info->architecture, "%s", hc.architecture);
    info->max_context = hc.max_position_embeddings;
    info->qk_layout = RB_QK_HALVES;
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    if (file_exists(path, NULL)) snprintf(info->tokenizer_path, sizeof info->tokenizer_path, "%.1000s", path);

    hf_load L = {.dir = dir, .info = info};
    if ((rc = rb_model_new(&hc.cfg, hc.tie_word_embeddings, &L.m, err))) return rc;
    snprintf(L.m->source, sizeof L.m->source, "%s", dir);
    info->saved = hc.saved;
    L.m->online.qk_hadamard = hc.saved.qk_hadamard;
    L.m->online.down_hadamard = hc.saved.down_hadamard;
    L.m->online.o_head_hadamard = hc.saved.o_head_hadamard;
    if ((rc = rb_tensor_table_init(&L.table, L.m, hf_names, dir, err))) {
        rb_model_free(L.m);
        return rc;
    }
    char single[1400], index[1400];
    snprintf(single, sizeof single, "%s/model.safetensors", dir);
    snprintf(index, sizeof index, "%s/model.safetensors.index.json", dir);
    if (file_exists(single, NULL))
        rc = load_file(&L, single, NULL, err);
    else if (file_exists(index, NULL))
        rc = load_index(&L, index, err);
    else
        rc = rb_error_set(err, RB_EIO,
                          "%s: no model.safetensors and no model.safetensors.index.json (only "
                          "safetensors weights are read)",
                          dir);
    if (!rc) rc = rb_tensor_table_finish(&L.table, dir, err);
    if (!rc) rc = rb_saved_check_dense(L.m, 1, dir, err);
    rb_tensor_table_free(&L.table);
    if (rc) {
        rb_model_free(L.m);
        return rc;
    }
    *out = L.m;
    return RB_OK;
}
