/* Broken HF directories, safetensors and GGUF files: each a clear error that
 * names the file and the problem, never a crash or a model. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/gguf.h"
#include "core/hf_config.h"
#include "core/model_open.h"
#include "core/model_save.h"
#include "core/safetensors.h"
#include "tests/test_models.h"
#include "tests/test_util.h"

static unsigned char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    cr_assert(f, "%s", path);
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    rewind(f);
    unsigned char *b = malloc(*n + 1);
    cr_assert_eq(fread(b, 1, *n, f), *n);
    fclose(f);
    return b;
}

/* rb_model_open(path) fails with status want and a message naming `names`
 * (the file) and containing needle. */
static void open_fails(const char *path, const char *names, rb_status want, const char *needle) {
    rb_model *m = (rb_model *)0x1;
    rb_error err = {0};
    int rc = rb_model_open(path, 0, &m, NULL, &err);
    cr_expect_eq(rc, want, "%s: got %d (%s), expected %d", path, rc, err.msg, want);
    cr_expect_null(m, "%s: a model despite the error", path);
    cr_expect(strstr(err.msg, names) != NULL, "file %s not named in: %s", names, err.msg);
    cr_expect(strstr(err.msg, needle) != NULL, "'%s' not in: %s", needle, err.msg);
}

/* A fresh HF directory of a small synthetic model (F32). */
static const char *hf_dir(const char *name, int shared, int shards, char *buf, size_t cap) {
    rb_test_tmp_path(name, buf, cap);
    rb_config c = {.dim = 16, .hidden_dim = 24, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2,
                   .vocab_size = 11, .seq_len = 32, .head_dim = 4, .norm_eps = 1e-5f,
                   .rope_theta = 10000.0f};
    rb_model *m;
    rb_error err;
    cr_assert_eq(rb_model_synthetic(&c, shared, 1, &m, &err), RB_OK);
    rb_save_options o = {.format = RB_FORMAT_HF, .dtype = RB_DTYPE_F32, .shards = shards};
    cr_assert_eq(rb_model_save_as(m, buf, &o, &err), RB_OK, "%s", err.msg);
    rb_model_free(m);
    return buf;
}

/* Replaces the first occurrence of from by to in dir/file. */
static void edit(const char *dir, const char *file, const char *from, const char *to) {
    char p[1200];
    snprintf(p, sizeof p, "%s/%s", dir, file);
    size_t n;
    char *t = (char *)slurp(p, &n);
    t[n] = '\0';
    char *at = strstr(t, from);
    cr_assert(at, "'%s' not in %s", from, p);
    size_t out_n = n - strlen(from) + strlen(to);
    char *o = malloc(out_n + 1);
    size_t pre = (size_t)(at - t);
    memcpy(o, t, pre);
    memcpy(o + pre, to, strlen(to));
    memcpy(o + pre + strlen(to), at + strlen(from), n - pre - strlen(from));
    cr_assert_eq(rb_test_write_file(p, o, out_n), 0);
    free(t);
    free(o);
}

/* A safetensors file with the given header JSON and `data` zero bytes. */
static void write_st(const char *path, const char *json, size_t data) {
    size_t hl = strlen(json), n = 8 + hl + data;
    unsigned char *b = calloc(n, 1);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)hl >> (8 * i));
    memcpy(b + 8, json, hl);
    cr_assert_eq(rb_test_write_file(path, b, n), 0);
    free(b);
}

static void parse_st_fails(const char *json, size_t data, const char *needle) {
    const char *p = rb_test_tmp_file("", 0);
    write_st(p, json, data);
    rb_safetensors st;
    rb_error err = {0};
    int rc = rb_safetensors_open(p, &st, &err);
    cr_expect_eq(rc, RB_EFORMAT, "%s accepted (%s)", json, err.msg);
    cr_expect(strstr(err.msg, p) != NULL, "file not named: %s", err.msg);
    cr_expect(strstr(err.msg, needle) != NULL, "'%s' not in: %s", needle, err.msg);
    unlink(p);
}

Test(format_errors, safetensors_headers) {
    const char *ok = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
    const char *p = rb_test_tmp_file("", 0);
    write_st(p, ok, 8);
    rb_safetensors st;
    rb_error err;
    cr_assert_eq(rb_safetensors_open(p, &st, &err), RB_OK, "%s", err.msg);
    cr_expect_eq(st.n, 1);
    rb_safetensors_close(&st);
    unlink(p);
    parse_st_fails(ok, 4, "out of range");
    parse_st_fails("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                   "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
                   12, "overlap");
    parse_st_fails("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,1000]}}", 8,
                   "out of range");
    parse_st_fails("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8,
                   "out of range");
    parse_st_fails("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8,
                   "needs 12 bytes");
    parse_st_fails("{\"a\":{\"dtype\":\"F99\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
                   "unknown dtype \"F99\"");
    parse_st_fails("{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8, "shape[0]");
    parse_st_fails("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "hole");
    parse_st_fails(ok, 16, "trailing");
    parse_st_fails("{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8, "data_offsets");
    parse_st_fails("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}", 8, "JSON");
    parse_st_fails("[1, 2]", 0, "'{'");
    /* the header may be padded with spaces only: a tab, a newline or a second
     * object after it is an error naming its byte */
    parse_st_fails("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}  \t", 8,
                   "at byte 56");
    parse_st_fails("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}\n", 8,
                   "text after the JSON object of the header");
    parse_st_fails("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}{}", 8,
                   "text after the JSON object");
    {
        rb_safetensors st2;
        rb_error e2 = {0};
        const char *pad = rb_test_tmp_file("", 0);
        write_st(pad, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}     ", 8);
        int rc2 = rb_safetensors_open(pad, &st2, &e2);
        cr_expect_eq(rc2, RB_OK, "space padding: %s", e2.msg);
        if (rc2 == RB_OK) rb_safetensors_close(&st2);
        unlink(pad);
    }
    parse_st_fails("{\"__metadata__\":7}", 0, "__metadata__");
    /* header length past the end, and too short for a length */
    unsigned char b[16] = {0xff, 0xff, 0, 0, 0, 0, 0, 0, '{', '}'};
    p = rb_test_tmp_file(b, sizeof b);
    cr_expect_eq(rb_safetensors_open(p, &st, &err), RB_EFORMAT);
    cr_expect(strstr(err.msg, "header length 65535 runs past the end") != NULL, "%s", err.msg);
    unlink(p);
    p = rb_test_tmp_file(b, 5);
    cr_expect_eq(rb_safetensors_open(p, &st, &err), RB_EFORMAT);
    cr_expect(strstr(err.msg, "too short") != NULL, "%s", err.msg);
    unlink(p);
}

Test(format_errors, hf_truncated_and_corrupt_weights) {
    char dir[512], st[700];
    hf_dir("hf_trunc", 1, 1, dir, sizeof dir);
    snprintf(st, sizeof st, "%s/model.safetensors", dir);
    size_t n;
    unsigned char *b = slurp(st, &n);
    cr_assert_eq(rb_test_write_file(st, b, n - 100), 0);
    open_fails(dir, st, RB_EFORMAT, "out of range");
    cr_assert_eq(rb_test_write_file(st, b, 100), 0);
    open_fails(dir, st, RB_EFORMAT, "runs past the end");
    /* a NaN in the first tensor's data */
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = hl << 8 | b[i];
    float nanv = NAN;
    memcpy(b + 8 + hl, &nanv, 4);
    cr_assert_eq(rb_test_write_file(st, b, n), 0);
    open_fails(dir, dir, RB_ENUMERIC, "NaN");
    free(b);
}

Test(format_errors, hf_config_against_tensors) {
    char dir[512];
    hf_dir("hf_shape", 1, 1, dir, sizeof dir);
    edit(dir, "config.json", "\"intermediate_size\":24", "\"intermediate_size\":28");
    open_fails(dir, "model.safetensors", RB_EFORMAT,
               "\"model.layers.0.mlp.gate_proj.weight\" has shape [24, 16] but the "
               "configuration implies [28, 16]");
    hf_dir("hf_missing", 1, 1, dir, sizeof dir);
    edit(dir, "config.json", "\"tie_word_embeddings\":true", "\"tie_word_embeddings\":false");
    open_fails(dir, dir, RB_EFORMAT, "missing tensor \"lm_head.weight\"");
    hf_dir("hf_extra", 1, 1, dir, sizeof dir);
    edit(dir, "config.json", "\"num_hidden_layers\":2", "\"num_hidden_layers\":1");
    open_fails(dir, "model.safetensors", RB_EFORMAT, "extra tensor \"model.layers.1.");
    hf_dir("hf_tied_head", 0, 1, dir, sizeof dir);
    edit(dir, "config.json", "\"tie_word_embeddings\":false", "\"tie_word_embeddings\":true");
    open_fails(dir, "model.safetensors", RB_EFORMAT, "lm_head.weight");
}

Test(format_errors, hf_dtype_refused_by_name) {
    char dir[512], st[700];
    hf_dir("hf_dtype", 1, 1, dir, sizeof dir);
    snprintf(st, sizeof st, "%s/model.safetensors", dir);
    size_t n;
    char *b = (char *)slurp(st, &n);
    /* the embedding as I32 (same element size): a dtype the loader refuses */
    char *at = memmem(b, n, "\"dtype\":\"F32\"", 13);
    cr_assert(at);
    memcpy(at, "\"dtype\":\"I32\"", 13);
    cr_assert_eq(rb_test_write_file(st, b, n), 0);
    open_fails(dir, st, RB_EUNSUPPORTED, "dtype I32 (supported: F32, BF16, F16)");
    free(b);
}

Test(format_errors, hf_shards_and_index) {
    char dir[512], shard[700];
    hf_dir("hf_shards", 0, 3, dir, sizeof dir);
    rb_model *m = NULL;
    rb_error err;
    cr_assert_eq(rb_model_open(dir, 0, &m, NULL, &err), RB_OK, "%s", err.msg);
    rb_model_free(m);
    snprintf(shard, sizeof shard, "%s/model-00002-of-00003.safetensors", dir);
    cr_assert_eq(unlink(shard), 0);
    open_fails(dir, "model.safetensors.index.json", RB_EIO,
               "names shard model-00002-of-00003.safetensors, which does not exist");
    hf_dir("hf_index_moved", 0, 2, dir, sizeof dir);
    edit(dir, "model.safetensors.index.json",
         "\"model.embed_tokens.weight\":\"model-00001-of-00002.safetensors\"",
         "\"model.embed_tokens.weight\":\"model-00002-of-00002.safetensors\"");
    open_fails(dir, "model-00001-of-00002.safetensors", RB_EFORMAT, "index.json puts it in");
    /* the index names a tensor its shard does not have */
    hf_dir("hf_index_extra", 0, 2, dir, sizeof dir);
    edit(dir, "model.safetensors.index.json", "\"weight_map\":{",
         "\"weight_map\":{\n    \"model.extra.weight\":\"model-00002-of-00002.safetensors\",");
    open_fails(dir, "index.json", RB_EFORMAT,
               "puts tensor \"model.extra.weight\" in model-00002-of-00002.safetensors, which "
               "does not hold it");
    hf_dir("hf_index_escape", 0, 2, dir, sizeof dir);
    edit(dir, "model.safetensors.index.json", "\"model-00001-of-00002.safetensors\"",
         "\"../model-00001-of-00002.safetensors\"");
    open_fails(dir, "index.json", RB_EFORMAT, "is not a file name in the checkpoint directory");
    hf_dir("hf_no_weights", 0, 1, dir, sizeof dir);
    snprintf(shard, sizeof shard, "%s/model.safetensors", dir);
    cr_assert_eq(unlink(shard), 0);
    open_fails(dir, dir, RB_EIO, "no model.safetensors");
}

static void config_fails(const char *json, rb_status want, const char *needle) {
    rb_hf_config h;
    rb_error err = {0};
    int rc = rb_hf_config_parse(json, strlen(json), "x/config.json", &h, &err);
    cr_expect_eq(rc, want, "%s: got %d (%s)", json, rc, err.msg);
    cr_expect(strstr(err.msg, "x/config.json") != NULL, "file not named: %s", err.msg);
    cr_expect(strstr(err.msg, needle) != NULL, "'%s' not in: %s", needle, err.msg);
}

#define BASE "\"hidden_size\":16,\"intermediate_size\":24,\"num_hidden_layers\":2," \
             "\"num_attention_heads\":4,\"vocab_size\":11"

Test(format_errors, hf_config_fields) {
    rb_hf_config h;
    const char *good = "{\"architectures\":[\"MistralForCausalLM\"]," BASE ",\"sliding_window\":8}";
    cr_assert_eq(rb_hf_config_parse(good, strlen(good), "c", &h, NULL), RB_OK);
    cr_expect_eq(h.cfg.seq_len, 8, "Mistral's sliding window caps the context");
    cr_expect_eq(h.max_position_embeddings, 131072);
    cr_expect_float_eq(h.cfg.norm_eps, 1e-6f, 0);
    config_fails("{\"architectures\":[\"GPT2LMHeadModel\"]," BASE "}", RB_EUNSUPPORTED,
                 "architecture \"GPT2LMHeadModel\" is not supported");
    config_fails("{\"architectures\":[\"LlamaForCausalLM\"]," BASE
                 ",\"rope_scaling\":{\"rope_type\":\"yarn\",\"factor\":4}}",
                 RB_EUNSUPPORTED, "rope_scaling type \"yarn\" is not supported");
    config_fails("{\"architectures\":[\"LlamaForCausalLM\"]," BASE
                 ",\"rope_scaling\":{\"type\":\"dynamic\",\"factor\":4}}",
                 RB_EUNSUPPORTED, "\"dynamic\"");
    config_fails("{\"architectures\":[\"LlamaForCausalLM\"]," BASE
                 ",\"rope_scaling\":{\"rope_type\":\"llama3\",\"factor\":8}}",
                 RB_EFORMAT, "low_freq_factor");
    config_fails("{\"architectures\":[\"LlamaForCausalLM\"],\"hidden_size\":16}", RB_EFORMAT,
                 "required field intermediate_size is missing");
    config_fails("{\"architectures\":[\"LlamaForCausalLM\"]," BASE ",\"num_key_value_heads\":3}",
                 RB_EINVAL, "n_kv_heads");
    config_fails("{\"architectures\":[\"LlamaForCausalLM\"]," BASE ",\"hidden_act\":\"gelu\"}",
                 RB_EUNSUPPORTED, "gelu");
    config_fails("{\"architectures\":[\"LlamaForCausalLM\"]," BASE ",\"attention_bias\":true}",
                 RB_EUNSUPPORTED, "o_proj");
    config_fails("{\"architectures\":[\"LlamaForCausalLM\"]," BASE ",\"rms_norm_eps\":\"x\"}",
                 RB_EFORMAT, "rms_norm_eps");
    config_fails("{\"architectures\":[\"LlamaForCausalLM\"]," BASE, RB_EFORMAT, "not valid JSON");
    config_fails("{\"architectures\":\"LlamaForCausalLM\"," BASE "}", RB_EFORMAT, "architectures");
}

/* ---- GGUF ---------------------------------------------------------------- */

static unsigned char *gguf_bytes(size_t *n, char *path, size_t cap) {
    rb_test_tmp_path("bad.gguf", path, cap);
    rb_model *m = rb_test_synth(16, 24, 2, 4, 2, 11, 2);
    rb_save_options o = {.format = RB_FORMAT_GGUF, .dtype = RB_DTYPE_F32};
    rb_error err;
    cr_assert_eq(rb_model_save_as(m, path, &o, &err), RB_OK, "%s", err.msg);
    rb_model_free(m);
    return slurp(path, n);
}

static void put_le(unsigned char *p, uint64_t v, int n) {
    for (int i = 0; i < n; i++) p[i] = (unsigned char)(v >> (8 * i));
}

/* Offset of the tensor info after the name `name` (its n_dims field). */
static size_t tensor_info(const unsigned char *b, size_t n, const char *name) {
    const unsigned char *at = memmem(b, n, name, strlen(name));
    cr_assert(at, "%s", name);
    return (size_t)(at - b) + strlen(name);
}

static void gguf_case(const unsigned char *good, size_t n, const char *path,
                      void (*patch)(unsigned char *, size_t), size_t len, rb_status want,
                      const char *needle) {
    unsigned char *b = malloc(n);
    memcpy(b, good, n);
    if (patch) patch(b, n);
    cr_assert_eq(rb_test_write_file(path, b, len), 0);
    open_fails(path, path, want, needle);
    free(b);
}

static void p_v2(unsigned char *b, size_t n) { (void)n, put_le(b + 4, 2, 4); }
static void p_magic(unsigned char *b, size_t n) { (void)n, b[0] = 'X'; }
static void p_v1(unsigned char *b, size_t n) { (void)n, put_le(b + 4, 1, 4); }
static void p_v9(unsigned char *b, size_t n) { (void)n, put_le(b + 4, 9, 4); }
static void p_ntensors(unsigned char *b, size_t n) { (void)n, put_le(b + 8, 1ull << 40, 8); }
static void p_nkv(unsigned char *b, size_t n) { (void)n, put_le(b + 16, 1ull << 50, 8); }
static void p_align(unsigned char *b, size_t n) {
    const unsigned char *at = memmem(b, n, "general.alignment", 17);
    put_le((unsigned char *)at + 17 + 4, 24, 4);
}
static void p_type(unsigned char *b, size_t n) {
    size_t o = tensor_info(b, n, "blk.1.attn_q.weight");
    put_le(b + o + 4 + 16, 12, 4); /* Q4_K: ne[0] = 16 is not a multiple of 256 */
}
static void p_type_unknown(unsigned char *b, size_t n) {
    size_t o = tensor_info(b, n, "output_norm.weight");
    put_le(b + o + 4 + 8, 200, 4);
}
static void p_type_i32(unsigned char *b, size_t n) {
    size_t o = tensor_info(b, n, "output_norm.weight");
    put_le(b + o + 4 + 8, 26, 4); /* I32: same size as F32, a type ggml has */
}
static void p_offset(unsigned char *b, size_t n) {
    size_t o = tensor_info(b, n, "output_norm.weight");
    put_le(b + o + 4 + 8 + 4, 1ull << 30, 8);
}
static void p_misaligned(unsigned char *b, size_t n) {
    size_t o = tensor_info(b, n, "output_norm.weight");
    uint64_t off = 0;
    for (int i = 7; i >= 0; i--) off = off << 8 | b[o + 4 + 8 + 4 + i];
    put_le(b + o + 4 + 8 + 4, off + 4, 8);
}
static void p_overlap(unsigned char *b, size_t n) {
    size_t o = tensor_info(b, n, "output_norm.weight");
    put_le(b + o + 4 + 8 + 4, 0, 8); /* on top of token_embd */
}
static void p_ndims(unsigned char *b, size_t n) {
    size_t o = tensor_info(b, n, "token_embd.weight");
    put_le(b + o, 7, 4);
}
static void p_dup(unsigned char *b, size_t n) {
    size_t o = tensor_info(b, n, "blk.1.attn_q.weight");
    b[o - 15] = '0'; /* blk.1.attn_q → blk.0.attn_q */
}
static void p_keytype(unsigned char *b, size_t n) {
    const unsigned char *at = memmem(b, n, "llama.block_count", 17);
    put_le((unsigned char *)at + 17, 99, 4);
}

Test(format_errors, gguf_files) {
    char path[512];
    size_t n;
    unsigned char *good = gguf_bytes(&n, path, sizeof path);
    rb_model *m;
    rb_error err;
    cr_assert_eq(rb_model_open(path, 0, &m, NULL, &err), RB_OK, "%s", err.msg);
    rb_model_free(m);
    /* version 2 has the same layout (64-bit counts): accepted */
    unsigned char *v2 = malloc(n);
    memcpy(v2, good, n);
    p_v2(v2, n);
    cr_assert_eq(rb_test_write_file(path, v2, n), 0);
    cr_expect_eq(rb_model_open(path, 0, &m, NULL, &err), RB_OK, "v2: %s", err.msg);
    rb_model_free(m);
    free(v2);
    gguf_case(good, n, path, p_magic, n, RB_EINVAL, "header"); /* no magic: read as llama2.c */
    gguf_case(good, n, path, p_v1, n, RB_EUNSUPPORTED, "version 1 is not supported");
    gguf_case(good, n, path, p_v9, n, RB_EFORMAT, "version 9 is not 2 or 3");
    gguf_case(good, n, path, p_ntensors, n, RB_EFORMAT, "cannot fit");
    gguf_case(good, n, path, p_nkv, n, RB_EFORMAT, "cannot fit");
    gguf_case(good, n, path, p_align, n, RB_EFORMAT, "general.alignment = 24 is not a power of two");
    gguf_case(good, n, path, p_type, n, RB_EFORMAT, "not a multiple of Q4_K's block of 256");
    gguf_case(good, n, path, p_type_unknown, n, RB_EFORMAT, "unknown ggml type 200");
    gguf_case(good, n, path, p_type_i32, n, RB_EUNSUPPORTED,
              "\"output_norm.weight\" has ggml type I32 (supported: F32, F16, BF16, Q8_0, Q4_0)");
    gguf_case(good, n, path, p_offset, n, RB_EFORMAT, "runs past the end of the file");
    gguf_case(good, n, path, p_misaligned, n, RB_EFORMAT, "is not a multiple of the alignment 32");
    gguf_case(good, n, path, p_overlap, n, RB_EFORMAT, "overlap");
    gguf_case(good, n, path, p_ndims, n, RB_EFORMAT, "n_dims = 7");
    gguf_case(good, n, path, p_dup, n, RB_EFORMAT, "appears twice");
    gguf_case(good, n, path, p_keytype, n, RB_EFORMAT, "unknown value type 99");
    gguf_case(good, n, path, NULL, n / 2, RB_EFORMAT, "runs past the end");
    gguf_case(good, n, path, NULL, 100, RB_EFORMAT, "cannot fit in 100 bytes");
    gguf_case(good, n, path, NULL, tensor_info(good, n, "blk.1.ffn_up.weight"), RB_EFORMAT,
              "truncated");
    free(good);
}

Test(format_errors, gguf_unknown_architecture) {
    char path[512];
    size_t n;
    unsigned char *b = gguf_bytes(&n, path, sizeof path);
    unsigned char *at = memmem(b, n, "llama", 5); /* general.architecture's value */
    memcpy(at, "gpt2x", 5);
    cr_assert_eq(rb_test_write_file(path, b, n), 0);
    open_fails(path, path, RB_EUNSUPPORTED, "general.architecture \"gpt2x\" is not supported");
    free(b);
}

Test(format_errors, directory_without_config) {
    char dir[512];
    rb_test_tmp_path("not_a_checkpoint", dir, sizeof dir);
    mkdir(dir, 0777);
    open_fails(dir, dir, RB_EINVAL, "no config.json");
}
