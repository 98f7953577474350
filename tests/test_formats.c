/* Model formats behind rb_model_open: files written by other tools
 * (stories260K-hf by a converter outside the project, stories260K.gguf by
 * llama.cpp, tests/fixtures by a standard-library Python writer), round trips
 * through rotbench's own writers, and the format info. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include "core/dtype.h"
#include "core/gguf.h"
#include "core/model_open.h"
#include "core/model_save.h"
#include "core/safetensors.h"
#include "tests/ref_forward.h"
#include "core/tokenizer.h"
#include "tests/test_models.h"
#include "tests/test_util.h"

/* The files written by tests/fixtures/make_*_fixture(s).py, an independent
 * standard-library writer: generated on first use (the repository keeps no
 * model files, only the generators and the expected values), under a lock
 * because Criterion runs tests in parallel. */
static void need_python_fixtures(void) {
    char lock[1024], probe[3][1024];
    snprintf(lock, sizeof lock, "%s/tests/fixtures/.generate.lock", RB_SOURCE_ROOT);
    snprintf(probe[0], sizeof probe[0], "%s/tests/fixtures/llama_mixed.gguf", RB_SOURCE_ROOT);
    snprintf(probe[1], sizeof probe[1], "%s/tests/fixtures/qwen2_f16/model.safetensors",
             RB_SOURCE_ROOT);
    snprintf(probe[2], sizeof probe[2],
             "%s/tests/fixtures/llama_bf16_sharded/model-00002-of-00002.safetensors",
             RB_SOURCE_ROOT);
    int fd = open(lock, O_CREAT | O_RDWR, 0644);
    cr_assert(fd >= 0, "%s: cannot open", lock);
    cr_assert_eq(flock(fd, LOCK_EX), 0);
    if (access(probe[0], R_OK) || access(probe[1], R_OK) || access(probe[2], R_OK)) {
        char cmd[2400];
        snprintf(cmd, sizeof cmd,
                 "cd '%s' && python3 tests/fixtures/make_gguf_fixture.py >/dev/null && "
                 "python3 tests/fixtures/make_hf_fixtures.py >/dev/null",
                 RB_SOURCE_ROOT);
        cr_assert_eq(system(cmd), 0, "generating the fixtures failed: %s", cmd);
    }
    flock(fd, LOCK_UN);
    close(fd);
}

static rb_model *open_ok(const char *path, rb_model_info *info) {
    rb_model *m = NULL;
    rb_error err = {0};
    cr_assert_eq(rb_model_open(path, 0, &m, info, &err), RB_OK, "%s", err.msg);
    return m;
}

static size_t tensor_floats(const rb_config *c, rb_tensor_kind k) {
    int nd;
    int64_t d[2];
    rb_tensor_shape(c, k, &nd, d);
    return (size_t)(d[0] * d[1]);
}

/* Every tensor of a equals b's exactly (classifiers compared by value). */
static void expect_same_weights(const rb_model *a, const rb_model *b, const char *what) {
    const rb_config *c = &a->cfg;
    cr_assert_eq(memcmp(&a->cfg, &b->cfg, sizeof a->cfg), 0, "%s: configurations differ", what);
    for (int k = 0; k < RB_TENSOR_KIND_COUNT; k++) {
        if (!rb_tensor_present(c, 0, (rb_tensor_kind)k)) continue;
        int reps = rb_tensor_per_layer((rb_tensor_kind)k) ? c->n_layers : 1;
        for (int l = 0; l < reps; l++) {
            const float *x = *rb_model_tensor_slot((rb_model *)a, (rb_tensor_kind)k, l);
            const float *y = *rb_model_tensor_slot((rb_model *)b, (rb_tensor_kind)k, l);
            size_t n = tensor_floats(c, (rb_tensor_kind)k);
            size_t bad = 0;
            while (bad < n && x[bad] == y[bad]) bad++;
            cr_expect_eq(bad, n, "%s: %s[%d] differs at %zu: %g vs %g", what,
                         rb_tensor_kind_name((rb_tensor_kind)k), l, bad, bad < n ? x[bad] : 0.0,
                         bad < n ? y[bad] : 0.0);
        }
    }
}

Test(formats, hf_stories260K_is_the_bin) {
    const char *bin = rb_test_require_data("models/stories260K/stories260K.bin");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", rb_test_require_data("models/stories260K-hf/config.json"));
    dir[strlen(dir) - strlen("/config.json")] = '\0';
    rb_model_info info;
    rb_model *a = open_ok(bin, NULL), *b = open_ok(dir, &info);
    expect_same_weights(a, b, "stories260K-hf");
    cr_expect(b->classifier_shared);
    cr_expect_eq(info.format, RB_FORMAT_HF);
    cr_expect_str_eq(info.format_name, "hf-safetensors");
    cr_expect_str_eq(info.architecture, "LlamaForCausalLM");
    cr_expect_str_eq(info.dtype, "F32");
    cr_expect_eq(info.max_context, 512);
    cr_expect_eq(info.qk_layout, RB_QK_HALVES);
    cr_expect(strstr(info.tokenizer_path, "stories260K-hf/tokenizer.json") != NULL, "%s",
              info.tokenizer_path);
    cr_expect_eq(info.n_files, 2);
    /* the file really is permuted: raw q_proj row 1 of head 0 is not the
     * .bin's row 1, its row head_dim/2 = 4 is */
    char st_path[1100];
    snprintf(st_path, sizeof st_path, "%s/model.safetensors", dir);
    rb_safetensors st;
    rb_error err;
    cr_assert_eq(rb_safetensors_open(st_path, &st, &err), RB_OK, "%s", err.msg);
    const rb_st_tensor *q = rb_safetensors_find(&st, "model.layers.2.self_attn.q_proj.weight");
    cr_assert(q);
    const float *raw = (const float *)(st.data + q->begin);
    const float *wq = a->layers[2].wq;
    cr_expect_neq(memcmp(raw + 64, wq + 64, 64 * sizeof(float)), 0);
    cr_expect_eq(memcmp(raw + 4 * 64, wq + 64, 64 * sizeof(float)), 0);
    rb_safetensors_close(&st);
    float *la = rb_test_logits(a, NULL), *lb = rb_test_logits(b, NULL);
    cr_expect_eq(memcmp(la, lb, sizeof(float) * 48 * 512), 0, "logits differ");
    free(la);
    free(lb);
    rb_model_free(a);
    rb_model_free(b);
}

Test(formats, gguf_stories260K_is_the_bin) {
    const char *bin = rb_test_require_data("models/stories260K/stories260K.bin");
    const char *gguf = rb_test_require_data("models/stories260K/stories260K.gguf");
    rb_model_info info;
    rb_model *a = open_ok(bin, NULL), *b = open_ok(gguf, &info);
    /* llama.cpp's converter writes output.weight as a copy: an untied model */
    cr_expect(!b->classifier_shared);
    cr_expect_eq(memcmp(b->classifier, a->token_embedding, sizeof(float) * 512 * 64), 0);
    cr_assert_eq(rb_model_untie_classifier(a, NULL), RB_OK);
    expect_same_weights(a, b, "stories260K.gguf");
    cr_expect_eq(info.format, RB_FORMAT_GGUF);
    cr_expect_str_eq(info.architecture, "llama");
    cr_expect_str_eq(info.dtype, "F32");
    cr_expect(!info.dequantized);
    cr_expect_eq(info.max_context, 512);
    cr_expect_eq(info.qk_layout, RB_QK_INTERLEAVED);
    cr_expect(info.tokenizer_embedded);
    cr_expect_str_eq(info.tokenizer_kind, "llama");
    cr_expect_float_eq(b->cfg.norm_eps, 1e-5f, 0);
    cr_expect_float_eq(b->cfg.rope_theta, 10000.0f, 0);
    rb_model_free(a);
    rb_model_free(b);
}

Test(formats, gguf_stories260K_vocabulary_is_tok512) {
    const char *gguf = rb_test_require_data("models/stories260K/stories260K.gguf");
    const char *tokp = rb_test_require_data("models/stories260K/tok512.bin");
    rb_gguf g;
    rb_gguf_vocab v;
    rb_tokenizer *tok;
    rb_error err;
    cr_assert_eq(rb_gguf_open(gguf, &g, &err), RB_OK, "%s", err.msg);
    cr_assert_eq(rb_gguf_vocab_read(&g, &v, &err), RB_OK, "%s", err.msg);
    cr_assert_eq(rb_tokenizer_load(tokp, &tok, &err), RB_OK, "%s", err.msg);
    cr_expect_str_eq(v.kind, "llama");
    cr_assert_eq(v.n_tokens, rb_tokenizer_vocab_size(tok));
    cr_expect_eq(v.bos_id, 1);
    cr_expect_eq(v.eos_id, 2);
    cr_expect_eq(v.unk_id, 0);
    cr_expect_eq(v.add_bos, -1, "the file has no add_bos_token key");
    cr_expect_eq(v.n_merges, 0);
    cr_assert(v.scores && v.token_types);
    int same_pieces = 0;
    for (int i = 0; i < v.n_tokens; i++) {
        cr_expect_eq(v.scores[i], rb_tokenizer_score(tok, i), "score of token %d", i);
        size_t n;
        const char *p = rb_tokenizer_piece(tok, i, &n);
        same_pieces += n == v.token_lens[i] && memcmp(p, v.tokens[i], n) == 0;
    }
    /* byte tokens <0xNN> and ordinary pieces agree; llama.cpp's copy writes
     * the SentencePiece space as U+2581 where tok512.bin has ' ' */
    cr_expect_gt(same_pieces, 400, "%d of %d pieces identical", same_pieces, v.n_tokens);
    cr_expect_eq(v.token_types[3], 6, "<0x00> is a byte token");
    rb_tokenizer_free(tok);
    rb_gguf_vocab_free(&v);
    rb_gguf_close(&g);
}

/* A fixture of tests/fixtures against the values its writer dumped. */
static void check_file(const char *dir, const char *exp, const char *arch, const char *dtype);

static void check_fixture(const char *name, const char *arch, const char *dtype) {
    char dir[1024], exp[1100];
    snprintf(dir, sizeof dir, "%s/tests/fixtures/%s", RB_SOURCE_ROOT, name);
    snprintf(exp, sizeof exp, "%s/expected.f32", dir);
    check_file(dir, exp, arch, dtype);
}

/* The model at dir against the fp32 values in exp (canonical order). */
static void check_file(const char *dir, const char *exp, const char *arch, const char *dtype) {
    const char *name = dir;
    rb_model_info info;
    rb_model *m = open_ok(dir, &info);
    cr_expect_str_eq(info.architecture, arch);
    cr_expect_str_eq(info.dtype, dtype);
    FILE *f = fopen(exp, "rb");
    cr_assert(f, "%s", exp);
    const rb_config *c = &m->cfg;
    size_t checked = 0;
    for (int k = 0; k < RB_TENSOR_KIND_COUNT; k++) {
        if (!rb_tensor_present(c, m->classifier_shared, (rb_tensor_kind)k)) continue;
        int reps = rb_tensor_per_layer((rb_tensor_kind)k) ? c->n_layers : 1;
        size_t n = tensor_floats(c, (rb_tensor_kind)k);
        float *want = malloc(sizeof(float) * n);
        for (int l = 0; l < reps; l++) {
            cr_assert_eq(fread(want, sizeof(float), n, f), n, "%s ends early", exp);
            const float *got = *rb_model_tensor_slot(m, (rb_tensor_kind)k, l);
            size_t bad = 0;
            while (bad < n && got[bad] == want[bad]) bad++;
            cr_expect_eq(bad, n, "%s: %s[%d] element %zu: %g, expected %g", name,
                         rb_tensor_kind_name((rb_tensor_kind)k), l, bad, bad < n ? got[bad] : 0.0,
                         bad < n ? want[bad] : 0.0);
            checked += n;
        }
        free(want);
    }
    float extra;
    cr_expect_eq(fread(&extra, 4, 1, f), 0, "%s has values the model does not", exp);
    fclose(f);
    cr_expect_gt(checked, 1000);
    rb_model_free(m);
}

Test(formats, python_written_llama_bf16_sharded) {
    need_python_fixtures();
    check_fixture("llama_bf16_sharded", "LlamaForCausalLM", "BF16");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/tests/fixtures/llama_bf16_sharded", RB_SOURCE_ROOT);
    rb_model_info info;
    rb_model *m = open_ok(dir, &info);
    const rb_config *c = &m->cfg;
    cr_expect_eq(c->n_kv_heads, 2);
    cr_expect(!m->classifier_shared);
    cr_expect_float_eq(c->rope_theta, 500000.0f, 0);
    cr_expect_eq(c->rope_scaling, RB_ROPE_SCALING_LLAMA3);
    cr_expect_float_eq(c->rope_factor, 8.0f, 0);
    cr_expect_float_eq(c->rope_low_freq_factor, 1.0f, 0);
    cr_expect_float_eq(c->rope_high_freq_factor, 4.0f, 0);
    cr_expect_eq(c->rope_orig_max_pos, 32);
    cr_expect_eq(info.n_files, 4, "config, index and two shards");
    rb_model_free(m);
}

Test(formats, python_written_qwen2_f16_biases) {
    need_python_fixtures();
    check_fixture("qwen2_f16", "Qwen2ForCausalLM", "F16");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/tests/fixtures/qwen2_f16", RB_SOURCE_ROOT);
    rb_model *m = open_ok(dir, NULL);
    cr_expect(m->cfg.qkv_bias);
    cr_expect(m->classifier_shared);
    cr_expect_eq(m->cfg.seq_len, 128, "use_sliding_window false: the whole context");
    rb_model_free(m);
}

Test(formats, python_written_gguf_q8_0_f16_bf16) {
    need_python_fixtures();
    char path[1024], exp[1024];
    snprintf(path, sizeof path, "%s/tests/fixtures/llama_mixed.gguf", RB_SOURCE_ROOT);
    snprintf(exp, sizeof exp, "%s/tests/fixtures/llama_mixed.expected.f32", RB_SOURCE_ROOT);
    check_file(path, exp, "llama", "Q8_0+F32+F16+BF16");
    rb_model_info info;
    rb_model *m = open_ok(path, &info);
    cr_expect(info.dequantized, "Q8_0 is reported as dequantized");
    cr_expect_eq(m->cfg.rope_scaling, RB_ROPE_SCALING_FREQ_FACTORS);
    cr_expect_eq(m->cfg.seq_len, 256);
    cr_expect_float_eq(m->cfg.rope_theta, 500000.0f, 0);
    cr_expect_float_eq(m->cfg.norm_eps, 1e-6f, 0);
    cr_expect(!m->classifier_shared);
    cr_expect(info.tokenizer_embedded);
    rb_model_free(m);
}

/* A model with everything the formats carry. */
static rb_model *rich_model(int bias, int scaling, uint64_t seed) {
    rb_config c = {.dim = 32, .hidden_dim = 40, .n_layers = 2, .n_heads = 4, .n_kv_heads = 2,
                   .vocab_size = 23, .seq_len = 64, .head_dim = 8, .norm_eps = 1e-6f,
                   .rope_theta = 500000.0f, .qkv_bias = bias, .rope_scaling = scaling};
    if (scaling == RB_ROPE_SCALING_LLAMA3) {
        c.rope_factor = 8.0f;
        c.rope_low_freq_factor = 1.0f;
        c.rope_high_freq_factor = 4.0f;
        c.rope_orig_max_pos = 32;
    } else if (scaling == RB_ROPE_SCALING_LINEAR) {
        c.rope_factor = 2.0f;
    }
    rb_model *m;
    rb_error err;
    cr_assert_eq(rb_model_synthetic(&c, 0, seed, &m, &err), RB_OK, "%s", err.msg);
    return m;
}

static rb_model *save_and_open(const rb_model *m, const char *name, rb_save_options o,
                               rb_model_info *info) {
    char path[512];
    rb_test_tmp_path(name, path, sizeof path);
    rb_error err;
    cr_assert_eq(rb_model_save_as(m, path, &o, &err), RB_OK, "%s", err.msg);
    return open_ok(path, info);
}

/* m with every tensor rounded through dtype dt (1-D ones only when all_1d). */
static rb_model *rounded(const rb_model *m, rb_dtype dt, int all_1d) {
    rb_model *r;
    cr_assert_eq(rb_model_clone(m, &r, NULL), RB_OK);
    const rb_config *c = &r->cfg;
    for (int k = 0; k < RB_TENSOR_KIND_COUNT; k++) {
        if (!rb_tensor_present(c, r->classifier_shared, (rb_tensor_kind)k)) continue;
        int nd;
        int64_t d[2];
        rb_tensor_shape(c, (rb_tensor_kind)k, &nd, d);
        if (nd == 1 && !all_1d) continue;
        int reps = rb_tensor_per_layer((rb_tensor_kind)k) ? c->n_layers : 1;
        for (int l = 0; l < reps; l++) {
            float *w = *rb_model_tensor_slot(r, (rb_tensor_kind)k, l);
            for (int64_t i = 0; i < d[0] * d[1]; i++) {
                uint16_t h = dt == RB_DTYPE_BF16 ? rb_f32_to_bf16(w[i]) : rb_f32_to_f16(w[i]);
                rb_dtype_to_f32(dt, &h, &w[i], 1);
            }
        }
    }
    return r;
}

Test(formats, hf_round_trips_f32_bf16_sharded) {
    rb_model *m = rich_model(1, RB_ROPE_SCALING_LLAMA3, 7);
    rb_model_info info;
    rb_model *a = save_and_open(m, "rt_hf_f32", (rb_save_options){.format = RB_FORMAT_HF, .dtype = RB_DTYPE_F32, .shards = 3}, &info);
    expect_same_weights(m, a, "HF F32, 3 shards");
    cr_expect_eq(info.n_files, 5, "config, index, 3 shards");
    cr_expect_str_eq(info.architecture, "Qwen2ForCausalLM");
    float *lm = rb_test_logits(m, NULL), *la = rb_test_logits(a, NULL);
    cr_expect_eq(memcmp(lm, la, sizeof(float) * 48 * 23), 0, "logits differ");
    free(lm);
    free(la);
    rb_model *b = save_and_open(m, "rt_hf_bf16", (rb_save_options){.format = RB_FORMAT_HF, .dtype = RB_DTYPE_BF16, .shards = 1}, &info);
    rb_model *r = rounded(m, RB_DTYPE_BF16, 1);
    expect_same_weights(r, b, "HF BF16");
    cr_expect_str_eq(info.dtype, "BF16");
    rb_model *u = rich_model(0, RB_ROPE_SCALING_NONE, 8);
    rb_model *c = save_and_open(u, "rt_hf_llama", (rb_save_options){.format = RB_FORMAT_HF, .dtype = RB_DTYPE_F16, .shards = 2}, &info);
    rb_model *ru = rounded(u, RB_DTYPE_F16, 1);
    expect_same_weights(ru, c, "HF F16 Llama");
    cr_expect_str_eq(info.architecture, "LlamaForCausalLM");
    rb_model_free(m);
    rb_model_free(a);
    rb_model_free(b);
    rb_model_free(r);
    rb_model_free(u);
    rb_model_free(c);
    rb_model_free(ru);
}

Test(formats, gguf_round_trips) {
    /* llama with RoPE frequency factors, qwen2 with biases and linear scaling */
    rb_model *m = rich_model(0, RB_ROPE_SCALING_FREQ_FACTORS, 9);
    rb_model_info info;
    rb_model *a = save_and_open(m, "rt.gguf", (rb_save_options){.format = RB_FORMAT_GGUF, .dtype = RB_DTYPE_F32, .shards = 0}, &info);
    expect_same_weights(m, a, "GGUF F32 llama + rope_freqs");
    cr_expect_str_eq(info.architecture, "llama");
    cr_expect_eq(info.qk_layout, RB_QK_INTERLEAVED);
    rb_model *q = rich_model(1, RB_ROPE_SCALING_LINEAR, 10);
    rb_model *b = save_and_open(q, "rt_q.gguf", (rb_save_options){.format = RB_FORMAT_GGUF, .dtype = RB_DTYPE_BF16, .shards = 0}, &info);
    rb_model *r = rounded(q, RB_DTYPE_BF16, 0);
    expect_same_weights(r, b, "GGUF BF16 qwen2");
    cr_expect_str_eq(info.architecture, "qwen2");
    cr_expect_eq(info.qk_layout, RB_QK_HALVES);
    cr_expect_str_eq(info.dtype, "BF16+F32", "in file order");
    float *lr = rb_test_logits(r, NULL), *lb = rb_test_logits(b, NULL);
    cr_expect_eq(memcmp(lr, lb, sizeof(float) * 48 * 23), 0, "logits differ");
    free(lr);
    free(lb);
    rb_model_free(m);
    rb_model_free(a);
    rb_model_free(q);
    rb_model_free(b);
    rb_model_free(r);
}

Test(formats, llama2c_through_open_is_the_v0_loader) {
    rb_model *m = rb_test_synth(16, 24, 2, 4, 2, 13, 3);
    rb_model_info info;
    rb_model *a = save_and_open(m, "rt.bin", (rb_save_options){.format = RB_FORMAT_LLAMA2C, .dtype = RB_DTYPE_F32, .shards = 0}, &info);
    expect_same_weights(m, a, "llama2.c");
    cr_expect(a->map != NULL, "llama2.c weights stay mapped");
    cr_expect_str_eq(info.format_name, "llama2c");
    cr_expect_eq(info.max_context, 128);
    rb_model_free(m);
    rb_model_free(a);
}

Test(formats, dtype_conversions_match_the_definitions) {
    /* F16: 1 sign, 5 exponent (bias 15), 10 mantissa bits; subnormals 2^-24 units */
    struct { uint16_t h; float f; } f16[] = {
        {0x3c00, 1.0f},       {0xc000, -2.0f},        {0x7bff, 65504.0f},
        {0x0001, 5.9604645e-8f}, {0x0400, 6.1035156e-5f}, {0x3555, 0.33325195f},
        {0x8000, -0.0f},      {0x7c00, INFINITY}};
    for (size_t i = 0; i < sizeof f16 / sizeof *f16; i++) {
        cr_expect_eq(rb_f16_to_f32(f16[i].h), f16[i].f, "0x%04x", f16[i].h);
        cr_expect_eq(rb_f32_to_f16(f16[i].f), f16[i].h, "%g", (double)f16[i].f);
    }
    cr_expect(isnan(rb_f16_to_f32(0x7e00)));
    uint16_t b = 0x3fc0; /* BF16 1.5 */
    float x;
    rb_dtype_to_f32(RB_DTYPE_BF16, &b, &x, 1);
    cr_expect_eq(x, 1.5f);
    cr_expect_eq(rb_f32_to_bf16(1.00390625f), 0x3f80, "ties to even");
    cr_expect_eq(rb_f32_to_bf16(1.01171875f), 0x3f82, "ties to even (up)");
    /* Q8_0: one block, scale 0.5 (F16 0x3800), q = -128..127 pattern */
    unsigned char blk[34] = {0x00, 0x38};
    for (int i = 0; i < 32; i++) blk[2 + i] = (unsigned char)(int8_t)(i * 9 - 128);
    float q[32];
    rb_dtype_to_f32(RB_DTYPE_Q8_0, blk, q, 32);
    for (int i = 0; i < 32; i++) cr_expect_eq(q[i], 0.5f * (float)(int8_t)(i * 9 - 128));
}

/* max |a - b| over max |b|: logits compared relative to their scale. */
static double rel_to_max(const float *a, const double *b, size_t n) {
    double d = 0, s = 0;
    for (size_t i = 0; i < n; i++) {
        d = fmax(d, fabs((double)a[i] - b[i]));
        s = fmax(s, fabs(b[i]));
    }
    return d / s;
}

/* Small models of the real families' shapes (the variant features at real
 * settings, dimensions cut down): each written as HF and as GGUF and read
 * back gives the in-memory model's logits (bit for bit, except GGUF's llama3
 * scaling, which it stores as rope_freqs divisors rounded to float), and all
 * match the float64 reference forward (tests/ref_forward.c) to 1e-5. */
Test(formats, llama3_qwen2_mistral_shapes_agree_across_formats) {
    struct {
        const char *name;
        rb_config c;
        int shared;
    } shapes[] = {
        {"llama3", {.dim = 32, .hidden_dim = 56, .n_layers = 2, .n_heads = 4, .n_kv_heads = 1,
                    .vocab_size = 128256, .seq_len = 131072, .head_dim = 8, .norm_eps = 1e-5f,
                    .rope_theta = 500000.0f, .rope_scaling = RB_ROPE_SCALING_LLAMA3,
                    .rope_factor = 8.0f, .rope_low_freq_factor = 1.0f,
                    .rope_high_freq_factor = 4.0f, .rope_orig_max_pos = 8192}, 0},
        {"qwen2", {.dim = 28, .hidden_dim = 76, .n_layers = 2, .n_heads = 2, .n_kv_heads = 1,
                   .vocab_size = 151, .seq_len = 32768, .head_dim = 14, .norm_eps = 1e-6f,
                   .rope_theta = 1000000.0f, .qkv_bias = 1}, 1},
        {"mistral", {.dim = 32, .hidden_dim = 112, .n_layers = 2, .n_heads = 8, .n_kv_heads = 2,
                     .vocab_size = 320, .seq_len = 32768, .head_dim = 4, .norm_eps = 1e-5f,
                     .rope_theta = 1000000.0f}, 0},
    };
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        rb_model *m;
        rb_error err;
        cr_assert_eq(rb_model_synthetic(&shapes[s].c, shapes[s].shared, 40 + s, &m, &err), RB_OK,
                     "%s: %s", shapes[s].name, err.msg);
        char hf[64], gg[64];
        snprintf(hf, sizeof hf, "shape_%s_hf", shapes[s].name);
        snprintf(gg, sizeof gg, "shape_%s.gguf", shapes[s].name);
        rb_model_info info;
        rb_model *h = save_and_open(m, hf, (rb_save_options){.format = RB_FORMAT_HF, .dtype = RB_DTYPE_F32, .shards = 2}, &info);
        rb_model *g = save_and_open(m, gg, (rb_save_options){.format = RB_FORMAT_GGUF, .dtype = RB_DTYPE_F32, .shards = 0}, &info);
        int V = m->cfg.vocab_size, T = 48;
        size_t n = (size_t)T * V;
        float *lm = rb_test_logits(m, NULL), *lh = rb_test_logits(h, NULL), *lg = rb_test_logits(g, NULL);
        int32_t tok[48];
        for (int i = 0; i < T; i++) tok[i] = (int32_t)((i * 37 + 11) % V); /* rb_test_logits' window */
        double *ref = malloc(sizeof(double) * n);
        ref_forward(m, tok, T, ref);
        cr_expect_eq(memcmp(lm, lh, sizeof(float) * n), 0, "%s: HF logits differ", shapes[s].name);
        if (m->cfg.rope_scaling == RB_ROPE_SCALING_LLAMA3) {
            cr_expect_eq(g->cfg.rope_scaling, RB_ROPE_SCALING_FREQ_FACTORS, "%s", shapes[s].name);
            double *lgd = malloc(sizeof(double) * n);
            for (size_t i = 0; i < n; i++) lgd[i] = lm[i];
            double d = 0, sc = 0;
            for (size_t i = 0; i < n; i++) {
                d = fmax(d, fabs((double)lg[i] - lgd[i]));
                sc = fmax(sc, fabs(lgd[i]));
            }
            cr_expect_lt(d / sc, 1e-6, "%s: GGUF logits differ by %g", shapes[s].name, d / sc);
            free(lgd);
        } else {
            cr_expect_eq(memcmp(lm, lg, sizeof(float) * n), 0, "%s: GGUF logits differ",
                         shapes[s].name);
        }
        double dm = rel_to_max(lm, ref, n), dg = rel_to_max(lg, ref, n);
        cr_expect_lt(dm, 1e-5, "%s: fp32 forward vs float64 reference %g", shapes[s].name, dm);
        cr_expect_lt(dg, 1e-5, "%s: GGUF model vs float64 reference %g", shapes[s].name, dg);
        free(ref);
        free(lm);
        free(lh);
        free(lg);
        rb_model_free(m);
        rb_model_free(h);
        rb_model_free(g);
    }
}
