#include "tests/test_models.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "core/forward.h"
#include "core/quant.h"
#include "methods/prepare.h"
#include "tests/test_util.h"

rb_model *rb_test_synth(int dim, int hidden, int layers, int heads, int kv, int vocab,
                        uint64_t seed) {
    rb_config c = {.dim = dim, .hidden_dim = hidden, .n_layers = layers, .n_heads = heads,
                   .n_kv_heads = kv, .vocab_size = vocab, .seq_len = 128,
                   .head_dim = dim / heads, .norm_eps = 1e-5f, .rope_theta = 10000.0f};
    rb_model *m;
    rb_error err;
    cr_assert_eq(rb_model_synthetic(&c, 1, seed, &m, &err), RB_OK, "%s", err.msg);
    return m;
}

static const char *const arch_names[RB_TEST_ARCH_COUNT] = {"llama3", "qwen2", "mistral", "all",
                                                           "all_hd"};

const char *rb_test_arch_name(rb_test_arch a) { return arch_names[a]; }

rb_config rb_test_arch_config(rb_test_arch a, int layers, int vocab) {
    /* dim, hidden, heads, kv, head_dim, theta, llama3, bias, tied */
    static const struct { int dim, hid, nh, nkv, hd; float theta; int llama3, bias, tied; } t[] = {
        [RB_TEST_LLAMA3] = {64, 96, 4, 2, 16, 500000.0f, 1, 0, 0},
        [RB_TEST_QWEN2] = {48, 80, 6, 2, 8, 1000000.0f, 0, 1, 1},
        [RB_TEST_MISTRAL] = {64, 112, 8, 2, 8, 1000000.0f, 0, 0, 0},
        [RB_TEST_ALL] = {48, 64, 4, 2, 16, 500000.0f, 1, 1, 0},
        [RB_TEST_ALL_HD] = {64, 96, 4, 2, 16, 500000.0f, 1, 1, 0}};
    rb_config c = {.dim = t[a].dim, .hidden_dim = t[a].hid, .n_layers = layers,
                   .n_heads = t[a].nh, .n_kv_heads = t[a].nkv, .vocab_size = vocab,
                   .seq_len = 256, .head_dim = t[a].hd, .norm_eps = 1e-5f,
                   .rope_theta = t[a].theta, .qkv_bias = t[a].bias};
    if (t[a].llama3) {
        c.rope_scaling = RB_ROPE_SCALING_LLAMA3;
        c.rope_factor = 8.0f;
        c.rope_low_freq_factor = 1.0f;
        c.rope_high_freq_factor = 4.0f;
        c.rope_orig_max_pos = 256;
    }
    return c;
}

rb_model *rb_test_arch_model(rb_test_arch a, int layers, int vocab, uint64_t seed) {
    rb_config c = rb_test_arch_config(a, layers, vocab);
    rb_model *m;
    rb_error err;
    cr_assert_eq(rb_model_synthetic(&c, a == RB_TEST_QWEN2, seed, &m, &err), RB_OK, "%s: %s",
                 arch_names[a], err.msg);
    return m;
}

rb_model *rb_test_stories_or_synth(void) {
    const char *path = rb_test_data_path("models/stories260K/stories260K.bin");
    rb_model *m;
    rb_error err;
    if (rb_model_load(path, &m, &err) == RB_OK) return m;
    if (rb_test_in_ci()) cr_assert_fail("%s", err.msg);
    return rb_test_synth(64, 172, 3, 8, 4, 512, 1);
}

void rb_test_random_calib(rb_calib *c, int vocab, int windows, int len, uint64_t seed) {
    int32_t *tok = malloc(sizeof(int32_t) * 4096);
    rb_rng r;
    rb_rng_seed(&r, seed);
    for (int i = 0; i < 4096; i++) tok[i] = (int32_t)rb_rng_below(&r, (uint64_t)vocab);
    rb_error err;
    cr_assert_eq(rb_calib_from_tokens(tok, 4096, windows, len, seed, c, &err), RB_OK);
    free(tok);
}

float *rb_test_logits(const rb_model *m, const rb_hooks *hooks) {
    int T = 48, V = m->cfg.vocab_size;
    int32_t tok[48];
    for (int i = 0; i < T; i++) tok[i] = (int32_t)((i * 37 + 11) % V);
    rb_workspace ws;
    rb_error err;
    cr_assert_eq(rb_workspace_init(&ws, &m->cfg, T, &err), RB_OK);
    cr_assert_eq(rb_forward(m, &ws, tok, T, hooks, &err), RB_OK, "%s", err.msg);
    float *out = malloc(sizeof(float) * T * V);
    memcpy(out, ws.logits, sizeof(float) * T * V);
    rb_workspace_free(&ws);
    return out;
}

void rb_test_expect_preserved(const char *pipeline_text, const rb_model *m) {
    rb_model *t;
    rb_error err;
    cr_assert_eq(rb_model_clone(m, &t, &err), RB_OK);
    rb_pipeline p;
    cr_assert_eq(rb_pipeline_parse(pipeline_text, &p, &err), RB_OK, "%s", err.msg);
    rb_quant_config q;
    rb_quant_config_init(&q);
    rb_calib calib;
    rb_test_random_calib(&calib, m->cfg.vocab_size, 4, 32, 5);
    cr_assert_eq(rb_prepare_model(t, &p, &q, &calib, 0, 0, &err), RB_OK, "%s: %s", pipeline_text,
                 err.msg);
    float *a = rb_test_logits(m, NULL), *b = rb_test_logits(t, NULL);
    size_t n = (size_t)48 * m->cfg.vocab_size;
    double d = rb_test_rel_maxdiff(b, a, n, 1e-3);
    cr_expect_lt(d, 1e-5, "%s changed the fp32 logits by %g (relative)", pipeline_text, d);
    free(a);
    free(b);
    rb_calib_free(&calib);
    rb_model_free(t);
}

rb_tokenizer *rb_test_tok512(void) {
    const char *path = rb_test_require_data("models/stories260K/tok512.bin");
    rb_tokenizer *t;
    rb_error err;
    cr_assert_eq(rb_tokenizer_load(path, &t, &err), RB_OK, "%s", err.msg);
    return t;
}
