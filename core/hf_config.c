/* Hugging Face config.json parsing (see core/hf_config.h). */
#include "core/hf_config.h"

#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/json_text.h"

typedef struct arch_desc {
    const char *name, *model_type;
    int qkv_bias;        /* always present (Qwen2) */
    int default_max_pos;
} arch_desc;

static const arch_desc archs[] = {
    {"LlamaForCausalLM", "llama", 0, 2048},
    {"MistralForCausalLM", "mistral", 0, 131072},
    {"Qwen2ForCausalLM", "qwen2", 1, 32768},
    /* what rotbench writes for models with online transforms (core/model_save.h) */
    {"RotbenchLlamaForCausalLM", "rotbench_llama", 0, 2048},
    {"RotbenchQwen2ForCausalLM", "rotbench_qwen2", 1, 32768},
};
enum { N_ARCHS = sizeof archs / sizeof *archs };

static json_object *field(json_object *o, const char *key) {
    json_object *v = NULL;
    if (!json_object_object_get_ex(o, key, &v)) return NULL;
    return v; /* NULL also for JSON null */
}

/* An integer field in lo..hi; absent/null → def (or an error when def < 0). */
static int get_int(json_object *o, const char *key, long def, long lo, long hi, const char *what,
                   int *out, rb_error *err) {
    json_object *v = field(o, key);
    if (!v) {
        if (def < 0) return rb_error_set(err, RB_EFORMAT, "%s: required field %s is missing", what, key);
        *out = (int)def;
        return RB_OK;
    }
    if (!json_object_is_type(v, json_type_int))
        return rb_error_set(err, RB_EFORMAT, "%s: %s = %.64s is not an integer", what, key,
                            json_object_to_json_string(v));
    int64_t x = json_object_get_int64(v);
    if (x < lo || x > hi)
        return rb_error_set(err, RB_EFORMAT, "%s: %s = %lld is outside %ld..%ld", what, key,
                            (long long)x, lo, hi);
    *out = (int)x;
    return RB_OK;
}

static int get_num(json_object *o, const char *key, double def, const char *what, double *out,
                   rb_error *err) {
    json_object *v = field(o, key);
    if (!v) {
        if (isnan(def)) return rb_error_set(err, RB_EFORMAT, "%s: required field %s is missing", what, key);
        *out = def;
        return RB_OK;
    }
    if (!json_object_is_type(v, json_type_int) && !json_object_is_type(v, json_type_double))
        return rb_error_set(err, RB_EFORMAT, "%s: %s = %.64s is not a number", what, key,
                            json_object_to_json_string(v));
    *out = json_object_get_double(v);
    if (!isfinite(*out) || *out <= 0 || *out > 1e30)
        return rb_error_set(err, RB_EFORMAT, "%s: %s = %g must be positive and finite", what, key,
                            *out);
    return RB_OK;
}

static int get_bool(json_object *o, const char *key, int def, const char *what, int *out,
                    rb_error *err) {
    json_object *v = field(o, key);
    if (!v) {
        *out = def;
        return RB_OK;
    }
    if (!json_object_is_type(v, json_type_boolean))
        return rb_error_set(err, RB_EFORMAT, "%s: %s = %.64s is not true or false", what, key,
                            json_object_to_json_string(v));
    *out = json_object_get_boolean(v);
    return RB_OK;
}

static const char *get_str(json_object *o, const char *key) {
    json_object *v = field(o, key);
    return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

static int find_arch(json_object *root, const char *what, const arch_desc **out, rb_error *err) {
    json_object *a = field(root, "architectures");
    const char *name = NULL;
    if (a) {
        if (!json_object_is_type(a, json_type_array) || json_object_array_length(a) != 1 ||
            !json_object_is_type(json_object_array_get_idx(a, 0), json_type_string))
            return rb_error_set(err, RB_EFORMAT,
                                "%s: architectures = %.80s is not a list of one name", what,
                                json_object_to_json_string(a));
        name = json_object_get_string(json_object_array_get_idx(a, 0));
        for (int i = 0; i < N_ARCHS; i++)
            if (strcmp(name, archs[i].name) == 0) return *out = &archs[i], RB_OK;
    } else {
        const char *mt = get_str(root, "model_type");
        if (!mt)
            return rb_error_set(err, RB_EFORMAT,
                                "%s: neither architectures nor model_type says what model this is",
                                what);
        for (int i = 0; i < N_ARCHS; i++)
            if (strcmp(mt, archs[i].model_type) == 0) return *out = &archs[i], RB_OK;
        name = mt;
    }
    return rb_error_set(err, RB_EUNSUPPORTED,
                        "%s: architecture \"%.64s\" is not supported (supported: "
                        "LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM)",
                        what, name);
}

static int parse_rope_scaling(json_object *root, const char *what, rb_config *c, rb_error *err) {
    json_object *rs = field(root, "rope_scaling");
    if (!rs) return RB_OK;
    if (!json_object_is_type(rs, json_type_object))
        return rb_error_set(err, RB_EFORMAT, "%s: rope_scaling is neither null nor an object", what);
    const char *type = get_str(rs, "rope_type");
    if (!type) type = get_str(rs, "type");
    if (!type) return rb_error_set(err, RB_EFORMAT, "%s: rope_scaling has no rope_type/type", what);
    char w[1100];
    snprintf(w, sizeof w, "%s: rope_scaling", what);
    double f = 0, lo = 0, hi = 0;
    int rc;
    if (strcmp(type, "default") == 0) return RB_OK;
    if (strcmp(type, "linear") == 0) {
        if ((rc = get_num(rs, "factor", NAN, w, &f, err))) return rc;
        c->rope_scaling = RB_ROPE_SCALING_LINEAR;
        c->rope_factor = (float)f;
        return RB_OK;
    }
    if (strcmp(type, "llama3") == 0) {
        if ((rc = get_num(rs, "factor", NAN, w, &f, err)) ||
            (rc = get_num(rs, "low_freq_factor", NAN, w, &lo, err)) ||
            (rc = get_num(rs, "high_freq_factor", NAN, w, &hi, err)) ||
            (rc = get_int(rs, "original_max_position_embeddings", -1, 1, 1 << 24, w,
                          &c->rope_orig_max_pos, err)))
            return rc;
        if (!(hi > lo))
            return rb_error_set(err, RB_EFORMAT,
                                "%s: high_freq_factor %g must exceed low_freq_factor %g", w, hi, lo);
        c->rope_scaling = RB_ROPE_SCALING_LLAMA3;
        c->rope_factor = (float)f;
        c->rope_low_freq_factor = (float)lo;
        c->rope_high_freq_factor = (float)hi;
        return RB_OK;
    }
    return rb_error_set(err, RB_EUNSUPPORTED,
                        "%s: rope_scaling type \"%.32s\" is not supported (supported: llama3, "
                        "linear, default)",
                        what, type);
}

static int split_pairs(json_object *a, rb_quant_split *out, int n) {
    if (!a || !json_object_is_type(a, json_type_array) || (int)json_object_array_length(a) != 2 * n)
        return 0;
    for (int i = 0; i < 2 * n; i++) {
        json_object *v = json_object_array_get_idx(a, (size_t)i);
        if (!json_object_is_type(v, json_type_int)) return 0;
        int64_t x = json_object_get_int64(v);
        if (x < 0 || x > (1 << 20)) return 0;
        if (i % 2) out[i / 2].high = (int)x;
        else out[i / 2].block = (int)x;
    }
    for (int i = 0; i < n; i++)
        if (out[i].high > out[i].block) return 0;
    return 1;
}

/* config.json's "rotbench" object (core/saved_meta.h) into h->saved. */
static int parse_rotbench(json_object *root, const char *what, rb_hf_config *h, rb_error *err) {
    json_object *r = field(root, "rotbench");
    rb_saved_meta *s = &h->saved;
    if (!r) return RB_OK;
    int v = 0, rc;
    if (!json_object_is_type(r, json_type_object))
        return rb_error_set(err, RB_EFORMAT, "%s: rotbench is not an object", what);
    if ((rc = get_int(r, "version", -1, 1, 1, what, &v, err))) return rc;
    s->present = 1;
    const char *t;
    if ((t = get_str(r, "saved"))) snprintf(s->saved, sizeof s->saved, "%s", t);
    json_object *on = field(r, "online");
    if (on && !json_object_is_type(on, json_type_object))
        return rb_error_set(err, RB_EFORMAT, "%s: rotbench.online is not an object", what);
    if (on && ((rc = get_int(on, "qk_hadamard", 0, 0, 1, what, &s->qk_hadamard, err)) ||
               (rc = get_int(on, "down_hadamard", 0, 0, 1, what, &s->down_hadamard, err)) ||
               (rc = get_int(on, "o_head_hadamard", 0, 0, 1, what, &s->o_head_hadamard, err))))
        return rc;
    json_object *sp = field(r, "split");
    if (sp) {
        rb_quant_split kv[2];
        if (!json_object_is_type(sp, json_type_object) ||
            !split_pairs(field(sp, "a"), s->a_split, RB_ACT_POINT_COUNT) ||
            !split_pairs(field(sp, "kv"), kv, 2))
            return rb_error_set(err, RB_EFORMAT,
                                "%s: rotbench.split must hold a: %d and kv: 4 integers, {block, high} "
                                "pairs with 0 <= high <= block",
                                what, 2 * RB_ACT_POINT_COUNT);
        s->k_split = kv[0];
        s->v_split = kv[1];
    }
    json_object *q = field(r, "quant");
    if (q && json_object_is_type(q, json_type_object)) {
        if ((t = get_str(q, "w"))) snprintf(s->quant_w, sizeof s->quant_w, "%s", t);
        if ((t = get_str(q, "a"))) snprintf(s->quant_a, sizeof s->quant_a, "%s", t);
        if ((t = get_str(q, "kv"))) snprintf(s->quant_kv, sizeof s->quant_kv, "%s", t);
    }
    return RB_OK;
}

static int parse_root(json_object *root, const char *what, rb_hf_config *h, rb_error *err) {
    const arch_desc *a = NULL;
    int rc = find_arch(root, what, &a, err);
    if (rc) return rc;
    if ((rc = parse_rotbench(root, what, h, err))) return rc;
    if (!strncmp(a->name, "Rotbench", 8) && !h->saved.present)
        return rb_error_set(err, RB_EFORMAT, "%s: architecture %s without a \"rotbench\" object",
                            what, a->name);
    snprintf(h->architecture, sizeof h->architecture, "%s", a->name);
    rb_config *c = &h->cfg;
    int heads = 0, bias = 0, mlp_bias = 0, max_pos = 0, sliding = 0, use_sliding = 1;
    double eps, theta;
    if ((rc = get_int(root, "hidden_size", -1, 2, 1 << 16, what, &c->dim, err)) ||
        (rc = get_int(root, "intermediate_size", -1, 1, 1 << 18, what, &c->hidden_dim, err)) ||
        (rc = get_int(root, "num_hidden_layers", -1, 1, 1024, what, &c->n_layers, err)) ||
        (rc = get_int(root, "num_attention_heads", -1, 1, 1 << 16, what, &heads, err)) ||
        (rc = get_int(root, "vocab_size", -1, 3, 1 << 22, what, &c->vocab_size, err)))
        return rc;
    c->n_heads = heads;
    if ((rc = get_int(root, "num_key_value_heads", heads, 1, heads, what, &c->n_kv_heads, err)) ||
        (rc = get_int(root, "head_dim", c->dim / heads, 2, 1 << 12, what, &c->head_dim, err)) ||
        (rc = get_num(root, "rms_norm_eps", 1e-6, what, &eps, err)) ||
        (rc = get_num(root, "rope_theta", 10000.0, what, &theta, err)) ||
        (rc = get_int(root, "max_position_embeddings", a->default_max_pos, 1, 1 << 24, what,
                      &max_pos, err)) ||
        (rc = get_bool(root, "tie_word_embeddings", 0, what, &h->tie_word_embeddings, err)) ||
        (rc = get_bool(root, "attention_bias", 0, what, &bias, err)) ||
        (rc = get_bool(root, "mlp_bias", 0, what, &mlp_bias, err)) ||
        (rc = get_bool(root, "use_sliding_window", 1, what, &use_sliding, err)) ||
        (rc = get_int(root, "sliding_window", 0, 0, 1 << 24, what, &sliding, err)))
        return rc;
    if (bias || mlp_bias)
        return rb_error_set(err, RB_EUNSUPPORTED,
                            "%s: %s = true also puts a bias on %s, which rotbench's model does "
                            "not have",
                            what, bias ? "attention_bias" : "mlp_bias",
                            bias ? "o_proj" : "the MLP linears");
    const char *act = get_str(root, "hidden_act");
    if (act && strcmp(act, "silu") != 0)
        return rb_error_set(err, RB_EUNSUPPORTED,
                            "%s: hidden_act \"%.32s\" is not supported (SwiGLU with silu only)",
                            what, act);
    const char *dt = get_str(root, "torch_dtype");
    snprintf(h->torch_dtype, sizeof h->torch_dtype, "%s", dt ? dt : "");
    c->norm_eps = (float)eps;
    c->rope_theta = (float)theta;
    c->qkv_bias = a->qkv_bias;
    h->max_position_embeddings = max_pos;
    c->seq_len = max_pos > (1 << 20) ? 1 << 20 : max_pos;
    if (sliding && use_sliding && sliding < c->seq_len) c->seq_len = sliding;
    if ((rc = parse_rope_scaling(root, what, c, err))) return rc;
    return rb_config_validate(c, what, err);
}

int rb_hf_config_parse(const char *json, size_t len, const char *what, rb_hf_config *out,
                       rb_error *err) {
    memset(out, 0, sizeof *out);
    json_object *root;
    int rc = rb_json_parse_object(json, len, 1u << 24, what, "a config.json", &root, err);
    if (rc) return rc;
    rc = parse_root(root, what, out, err);
    json_object_put(root);
    return rc;
}
