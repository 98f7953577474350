/* The batched fp32 forward against the naive float64 reference, hooks, and
 * the known greedy generation of stories260K. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/calib.h"
#include "core/forward.h"
#include "core/quant.h"
#include "base/io.h"
#include "core/tokenizer.h"
#include "eval/perplexity.h"
#include "tests/ref_forward.h"
#include "tests/test_models.h"
#include "tests/test_util.h"

static rb_model *synth(int dim, int hidden, int layers, int heads, int kv, int vocab, int shared,
                       uint64_t seed) {
    rb_config c = {.dim = dim, .hidden_dim = hidden, .n_layers = layers, .n_heads = heads,
                   .n_kv_heads = kv, .vocab_size = vocab, .seq_len = 256,
                   .head_dim = dim / heads, .norm_eps = 1e-5f, .rope_theta = 10000.0f};
    rb_model *m = NULL;
    rb_error err;
    cr_assert_eq(rb_model_synthetic(&c, shared, seed, &m, &err), RB_OK, "%s", err.msg);
    return m;
}

static void random_tokens(int32_t *t, int n, int vocab, uint64_t seed) {
    rb_rng r;
    rb_rng_seed(&r, seed);
    for (int i = 0; i < n; i++) t[i] = (int32_t)rb_rng_below(&r, (uint64_t)vocab);
}

/* max |a-b| / max |b| over logits, a float, b double */
static double logits_rel_diff(const float *a, const double *b, size_t n) {
    double md = 0, mb = 1e-6;
    for (size_t i = 0; i < n; i++) {
        md = fmax(md, fabs(a[i] - b[i]));
        mb = fmax(mb, fabs(b[i]));
    }
    return md / mb;
}

Test(forward, matches_float64_reference_on_odd_shapes) {
    struct { int dim, hidden, layers, heads, kv, vocab, shared, T; } cases[] = {
        {12, 20, 2, 2, 1, 7, 1, 1},    /* head_dim 6, GQA 2:1, one token */
        {12, 20, 2, 2, 1, 7, 0, 9},
        {30, 47, 3, 5, 5, 13, 1, 33},  /* head_dim 6, odd hidden, MHA */
        {40, 61, 2, 4, 2, 29, 0, 40},  /* head_dim 10 */
        {64, 172, 2, 8, 4, 64, 1, 65}, /* stories260K-like shapes */
        {72, 100, 1, 6, 2, 11, 0, 130},/* head_dim 12, GQA 3:1 */
        {256, 688, 2, 8, 4, 97, 1, 128}, /* big enough for multi-threaded sgemm */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        rb_model *m = synth(cases[i].dim, cases[i].hidden, cases[i].layers, cases[i].heads,
                            cases[i].kv, cases[i].vocab, cases[i].shared, 100 + i);
        int T = cases[i].T, V = cases[i].vocab;
        int32_t *tok = malloc(sizeof(int32_t) * T);
        random_tokens(tok, T, V, 7 + i);
        rb_workspace ws;
        rb_error err;
        cr_assert_eq(rb_workspace_init(&ws, &m->cfg, T, &err), RB_OK);
        cr_assert_eq(rb_forward(m, &ws, tok, T, NULL, &err), RB_OK, "%s", err.msg);
        double *ref = malloc(sizeof(double) * T * V);
        ref_forward(m, tok, T, ref);
        double d = logits_rel_diff(ws.logits, ref, (size_t)T * V);
        cr_expect_lt(d, 2e-5, "case %zu: logits differ by %g (relative to max)", i, d);
        if (T > 1) {
            double nll_ref = ref_mean_nll(m, tok, T);
            rb_ppl_result res;
            cr_assert_eq(rb_perplexity(m, &ws, NULL, tok, T, T, 0, NULL, NULL, &res, NULL, NULL,
                                       &err),
                         RB_OK);
            cr_expect_lt(fabs(res.nll - nll_ref) / nll_ref, 1e-5, "case %zu: nll %.9f vs %.9f", i,
                         res.nll, nll_ref);
        }
        free(ref);
        free(tok);
        rb_workspace_free(&ws);
        rb_model_free(m);
    }
}

/* The fp32 forward's logits [T][vocab] of m (malloc'd). */
static float *fp32_logits(const rb_model *m, const int32_t *tok, int T) {
    size_t n = (size_t)T * m->cfg.vocab_size;
    rb_workspace ws;
    rb_error err;
    cr_assert_eq(rb_workspace_init(&ws, &m->cfg, T, &err), RB_OK, "%s", err.msg);
    cr_assert_eq(rb_forward(m, &ws, tok, T, NULL, &err), RB_OK, "%s", err.msg);
    float *out = malloc(sizeof(float) * n);
    memcpy(out, ws.logits, sizeof(float) * n);
    rb_workspace_free(&ws);
    return out;
}

/* The fp32 forward of m against the float64 reference (left in ref [T][vocab]
 * when not NULL): the max difference relative to the largest logit. */
static double forward_vs_ref(const rb_model *m, const int32_t *tok, int T, double *ref_out) {
    size_t n = (size_t)T * m->cfg.vocab_size;
    float *lg = fp32_logits(m, tok, T);
    double *ref = ref_out ? ref_out : malloc(sizeof(double) * n);
    ref_forward(m, tok, T, ref);
    double d = logits_rel_diff(lg, ref, n);
    if (!ref_out) free(ref);
    free(lg);
    return d;
}

/* With the variant's feature switched off (cfg edited), the fp32 logits must
 * leave the reference's (made with it) by more than 1e-3. */
static void expect_feature_matters(rb_model *m, const rb_config *off, const int32_t *tok, int T,
                                   const double *ref, const char *what) {
    rb_config saved = m->cfg;
    m->cfg = *off;
    float *lg = fp32_logits(m, tok, T);
    m->cfg = saved;
    double d = logits_rel_diff(lg, ref, (size_t)T * saved.vocab_size);
    cr_expect_gt(d, 1e-3, "%s changes the logits by only %g", what, d);
    free(lg);
}

/* Llama-3-, Qwen2- and Mistral-shaped models and one with every variant at
 * once (biases, untied, GQA, llama3 RoPE scaling, head_dim ≠ dim/n_heads):
 * the fp32 forward matches the float64 reference to 1e-5.  Each variant's
 * feature must matter: without it the reference's logits move by > 1e-3. */
Test(forward, architecture_variants_match_float64_reference) {
    const int T = 48, V = 67;
    int32_t tok[48];
    random_tokens(tok, T, V, 31);
    for (int a = 0; a < RB_TEST_ARCH_COUNT; a++) {
        rb_model *m = rb_test_arch_model((rb_test_arch)a, 2, V, 300 + a);
        double *ref = malloc(sizeof(double) * T * V);
        double d = forward_vs_ref(m, tok, T, ref);
        cr_expect_lt(d, 1e-5, "%s: logits differ by %g (relative to max)", rb_test_arch_name(a), d);
        cr_log_info("%s: fp32 vs float64 logits: %.2e relative to the largest", rb_test_arch_name(a),
                    d);
        rb_config off = m->cfg;
        off.rope_scaling = RB_ROPE_SCALING_NONE;
        if (m->cfg.rope_scaling == RB_ROPE_SCALING_LLAMA3)
            expect_feature_matters(m, &off, tok, T, ref, "the llama3 scaling");
        off = m->cfg;
        off.qkv_bias = 0;
        if (m->cfg.qkv_bias) expect_feature_matters(m, &off, tok, T, ref, "the biases");
        free(ref);
        rb_model_free(m);
    }
}

/* Linear scaling and llama.cpp's frequency factors; the workspace is made
 * from the configuration alone and follows the model's factors. */
Test(forward, linear_and_freq_factor_rope_match_float64_reference) {
    const int T = 40, V = 53;
    int32_t tok[40];
    random_tokens(tok, T, V, 41);
    int kinds[] = {RB_ROPE_SCALING_LINEAR, RB_ROPE_SCALING_FREQ_FACTORS};
    for (int i = 0; i < 2; i++) {
        rb_config c = rb_test_arch_config(RB_TEST_MISTRAL, 2, V);
        c.rope_theta = 10000.0f;
        c.rope_scaling = kinds[i];
        c.rope_factor = 4.0f;
        rb_model *m;
        rb_error err;
        cr_assert_eq(rb_model_synthetic(&c, 0, 50 + i, &m, &err), RB_OK, "%s", err.msg);
        double d = forward_vs_ref(m, tok, T, NULL);
        cr_expect_lt(d, 1e-5, "scaling %d: logits differ by %g", kinds[i], d);
        cr_log_info("rope_scaling %d: fp32 vs float64 logits: %.2e", kinds[i], d);
        rb_model_free(m);
    }
}

/* rb_forward_segments of tok [T] in ws against a plain rb_forward of each
 * segment's [prefix, tokens] in one (both workspaces of at least 64 tokens). */
static void expect_segments_match(const rb_model *m, const int32_t *tok, int T,
                                  const rb_segment *seg, int n_seg, rb_workspace *ws,
                                  rb_workspace *one) {
    int V = m->cfg.vocab_size;
    rb_error err;
    cr_assert_eq(rb_forward_segments(m, ws, tok, T, seg, n_seg, NULL, &err), RB_OK, "%s",
                 err.msg);
    for (int s = 0; s < n_seg; s++) {
        int P1 = seg[s].prefix_len, P = P1 + seg[s].prefix2_len, L = seg[s].len;
        int32_t w[64];
        memcpy(w, tok + seg[s].prefix_start, sizeof(int32_t) * (size_t)P1);
        memcpy(w + P1, tok + seg[s].prefix2_start, sizeof(int32_t) * (size_t)(P - P1));
        memcpy(w + P, tok + seg[s].start, sizeof(int32_t) * (size_t)L);
        cr_assert_eq(rb_forward(m, one, w, P + L, NULL, &err), RB_OK);
        float d = rb_test_rel_maxdiff(ws->logits + (size_t)seg[s].start * V,
                                      one->logits + (size_t)P * V, (size_t)L * V, 1e-3);
        cr_expect_lt(d, 1e-5, "segment %d: %g", s, d);
    }
}

/* A packed window on the variant model: prefixes shift RoPE positions and
 * every segment still equals its own window. */
Test(forward, packed_segments_on_variant_model) {
    rb_model *m = rb_test_arch_model(RB_TEST_ALL, 2, 50, 23);
    rb_segment seg[] = {{0, 11, 0, 0, 0, 0}, {11, 5, 0, 11, 0, 0}, {16, 9, 0, 0, 0, 0},
                        {25, 4, 16, 3, 0, 0}};
    int n_seg = 4, T = 29;
    int32_t tok[29];
    random_tokens(tok, T, 50, 24);
    rb_workspace ws, one;
    rb_error err;
    cr_assert_eq(rb_workspace_init(&ws, &m->cfg, 64, &err), RB_OK);
    cr_assert_eq(rb_workspace_init(&one, &m->cfg, 64, &err), RB_OK);
    expect_segments_match(m, tok, T, seg, n_seg, &ws, &one);
    rb_workspace_free(&ws);
    rb_workspace_free(&one);
    rb_model_free(m);
}

Test(forward, rejects_bad_windows_and_tokens) {
    rb_model *m = synth(12, 20, 1, 2, 1, 7, 1, 1);
    rb_workspace ws;
    rb_error err;
    cr_assert_eq(rb_workspace_init(&ws, &m->cfg, 4, &err), RB_OK);
    int32_t tok[5] = {1, 2, 3, 4, 5};
    cr_expect_eq(rb_forward(m, &ws, tok, 5, NULL, &err), RB_EINVAL);
    cr_expect_eq(rb_forward(m, &ws, tok, 0, NULL, &err), RB_EINVAL);
    tok[2] = 7;
    cr_expect_eq(rb_forward(m, &ws, tok, 4, NULL, &err), RB_EINVAL);
    cr_expect(strstr(err.msg, "token 7") != NULL, "%s", err.msg);
    tok[2] = -1;
    cr_expect_eq(rb_forward(m, &ws, tok, 4, NULL, &err), RB_EINVAL);
    rb_workspace_free(&ws);
    rb_model_free(m);
}

/* A packed window (shared prefixes, independent sequences) gives every
 * segment the logits of a plain forward of [its prefix, its tokens]. */
Test(forward, packed_segments_equal_separate_windows) {
    rb_model *m = synth(24, 40, 2, 6, 2, 50, 0, 21);
    /* ..., then a context sharing the first 6 tokens of the first (4 more)
     * and a choice after both (two-part prefix) */
    rb_segment seg[] = {{0, 11, 0, 0, 0, 0},  {11, 5, 0, 11, 0, 0}, {16, 1, 0, 11, 0, 0},
                        {17, 9, 0, 0, 0, 0},  {26, 4, 17, 3, 0, 0}, {30, 7, 0, 11, 0, 0},
                        {37, 4, 0, 6, 0, 0},  {41, 3, 0, 6, 37, 4}};
    int n_seg = 8, T = 44;
    int32_t tok[44];
    random_tokens(tok, T, 50, 22);
    rb_workspace ws, one;
    rb_error err;
    cr_assert_eq(rb_workspace_init(&ws, &m->cfg, 64, &err), RB_OK);
    cr_assert_eq(rb_workspace_init(&one, &m->cfg, 64, &err), RB_OK);
    expect_segments_match(m, tok, T, seg, n_seg, &ws, &one);
    /* bad tilings are errors */
    rb_segment gap[] = {{0, 5, 0, 0, 0, 0}, {6, 3, 0, 0, 0, 0}};
    cr_expect_eq(rb_forward_segments(m, &ws, tok, 9, gap, 2, NULL, &err), RB_EINVAL);
    rb_segment bad_prefix[] = {{0, 5, 0, 0, 0, 0}, {5, 3, 1, 2, 0, 0}};
    cr_expect_eq(rb_forward_segments(m, &ws, tok, 8, bad_prefix, 2, NULL, &err), RB_EINVAL);
    cr_expect(strstr(err.msg, "prefix") != NULL, "%s", err.msg);
    rb_segment long_prefix[] = {{0, 5, 0, 0, 0, 0}, {5, 3, 0, 6, 0, 0}};
    cr_expect_eq(rb_forward_segments(m, &ws, tok, 8, long_prefix, 2, NULL, &err), RB_EINVAL);
    /* a second prefix part must continue the same first part */
    rb_segment bad_second[] = {{0, 5, 0, 0, 0, 0}, {5, 2, 0, 3, 0, 0}, {7, 2, 0, 4, 5, 2}};
    cr_expect_eq(rb_forward_segments(m, &ws, tok, 9, bad_second, 3, NULL, &err), RB_EINVAL);
    cr_expect(strstr(err.msg, "second prefix") != NULL, "%s", err.msg);
    rb_workspace_free(&ws);
    rb_workspace_free(&one);
    rb_model_free(m);
}

/* The hooks of three cases for the head (q initialised; free it): kind 0
 * none (NULL), 1 a 4-bit per-token quantizer on every linear's input, the
 * classifier's included, 2 the same per tensor (dynamic: window-dependent). */
static const rb_hooks *quant_hooks_of_kind(int kind, rb_quant_config *q, rb_hooks *h) {
    rb_quant_config_init(q);
    if (!kind) return NULL;
    q->a = (rb_quant_spec){4, 0, kind == 1 ? RB_GRAN_ROW : RB_GRAN_TENSOR, 0, 1.0f, 0};
    q->quantize_classifier = 1;
    rb_quant_hooks(q, h);
    cr_assert_eq(h->window_dependent, kind == 2);
    return h;
}

/* rb_forward_segments_rows: the logits of scattered rows of a packed window
 * equal those rows of the whole head to rounding, with and without a
 * per-token classifier quantizer and with a window-dependent (per-tensor)
 * one, which sees every row; rows out of order, repeated or out of range
 * are refused. */
Test(forward, segments_rows_are_the_rows_of_the_whole_head) {
    rb_model *m = synth(24, 40, 2, 6, 2, 300, 0, 31);
    rb_segment seg[] = {{0, 11, 0, 0, 0, 0}, {11, 5, 0, 11, 0, 0}, {16, 9, 0, 0, 0, 0}};
    const int T = 25, V = m->cfg.vocab_size;
    int32_t tok[25];
    random_tokens(tok, T, V, 32);
    rb_workspace ws;
    rb_error err;
    cr_assert_eq(rb_workspace_init(&ws, &m->cfg, 32, &err), RB_OK);
    float *full = malloc(sizeof(float) * (size_t)T * V);
    const int rows[] = {0, 3, 10, 11, 12, 24}, n_rows = 6, one[] = {7};
    for (int kind = 0; kind < 3; kind++) {
        rb_quant_config q;
        rb_hooks h;
        const rb_hooks *hp = quant_hooks_of_kind(kind, &q, &h);
        cr_assert_eq(rb_forward_segments(m, &ws, tok, T, seg, 3, hp, &err), RB_OK, "%s", err.msg);
        memcpy(full, ws.logits, sizeof(float) * (size_t)T * V);
        for (int pass = 0; pass < 2; pass++) {
            const int *r = pass ? one : rows, n = pass ? 1 : n_rows;
            cr_assert_eq(rb_forward_segments_rows(m, &ws, tok, T, seg, 3, r, n, hp, &err), RB_OK,
                         "%s", err.msg);
            for (int i = 0; i < n; i++) {
                double d = rb_test_rel_maxdiff(ws.logits + (size_t)i * V,
                                               full + (size_t)r[i] * V, (size_t)V, 1.0);
                cr_expect_lt(d, 1e-5, "hooks %d: row %d (window row %d) off by %g", kind, i,
                             r[i], d);
            }
        }
        rb_quant_config_free(&q);
    }
    const int unordered[] = {3, 2}, repeated[] = {4, 4}, outside[] = {1, 25};
    cr_expect_eq(rb_forward_segments_rows(m, &ws, tok, T, seg, 3, unordered, 2, NULL, &err),
                 RB_EINVAL);
    cr_expect_eq(rb_forward_segments_rows(m, &ws, tok, T, seg, 3, repeated, 2, NULL, &err),
                 RB_EINVAL);
    cr_expect_eq(rb_forward_segments_rows(m, &ws, tok, T, seg, 3, outside, 2, NULL, &err),
                 RB_EINVAL);
    cr_expect(strstr(err.msg, "25") != NULL, "%s", err.msg);
    cr_expect_eq(rb_forward_segments_rows(m, &ws, tok, T, seg, 3, rows, 0, NULL, &err), RB_EINVAL);
    free(full);
    rb_workspace_free(&ws);
    rb_model_free(m);
}

/* Hooks that only count calls: must leave the result bit-identical. */
typedef struct hook_log {
    int act[RB_ACT_POINT_COUNT], qkv, weight;
    int zero_point; /* point to zero, or -1 */
} hook_log;

static int count_act(void *ctx, int layer, rb_act_point p, float *x, int rows, int cols,
                     rb_error *err) {
    (void)layer; (void)err;
    hook_log *h = ctx;
    h->act[p]++;
    if ((int)p == h->zero_point) memset(x, 0, sizeof(float) * rows * cols);
    return 0;
}
static int count_qkv(void *ctx, int layer, float *q, float *k, float *v, int T,
                     const rb_config *c, rb_error *err) {
    (void)layer; (void)q; (void)k; (void)v; (void)T; (void)c; (void)err;
    ((hook_log *)ctx)->qkv++;
    return 0;
}
static const float *count_weight(void *ctx, int layer, rb_linear_id id, const float *w) {
    (void)layer; (void)id;
    ((hook_log *)ctx)->weight++;
    return w;
}
static int failing_act(void *ctx, int layer, rb_act_point p, float *x, int rows, int cols,
                       rb_error *err) {
    (void)ctx; (void)x; (void)rows; (void)cols;
    if (layer == 1 && p == RB_ACT_DOWN_IN) return rb_error_set(err, RB_ENUMERIC, "boom");
    return 0;
}

Test(forward, hooks_are_called_at_every_point_and_identity_is_exact) {
    rb_model *m = synth(24, 40, 3, 4, 2, 17, 1, 9);
    int T = 21;
    int32_t tok[21];
    random_tokens(tok, T, 17, 3);
    rb_workspace ws;
    rb_error err;
    cr_assert_eq(rb_workspace_init(&ws, &m->cfg, T, &err), RB_OK);
    size_t n = (size_t)T * 17;
    float *plain = malloc(sizeof(float) * n);
    cr_assert_eq(rb_forward(m, &ws, tok, T, NULL, &err), RB_OK);
    memcpy(plain, ws.logits, sizeof(float) * n);
    hook_log log = {.zero_point = -1};
    rb_hooks h = {.ctx = &log, .activation = count_act, .qkv = count_qkv, .weight = count_weight};
    cr_assert_eq(rb_forward(m, &ws, tok, T, &h, &err), RB_OK);
    cr_expect_eq(memcmp(plain, ws.logits, sizeof(float) * n), 0, "identity hooks changed logits");
    for (int p = 0; p < RB_ACT_CLASSIFIER_IN; p++) cr_expect_eq(log.act[p], 3, "point %d", p);
    cr_expect_eq(log.act[RB_ACT_CLASSIFIER_IN], 1);
    cr_expect_eq(log.qkv, 3);
    cr_expect_eq(log.weight, 3 * 7 + 1);
    /* a hook that zeroes every down_proj input removes the FFN's contribution */
    hook_log zero = {.zero_point = RB_ACT_DOWN_IN};
    rb_hooks hz = {.ctx = &zero, .activation = count_act};
    cr_assert_eq(rb_forward(m, &ws, tok, T, &hz, &err), RB_OK);
    cr_expect_neq(memcmp(plain, ws.logits, sizeof(float) * n), 0);
    rb_hooks hf = {.activation = failing_act};
    cr_expect_eq(rb_forward(m, &ws, tok, T, &hf, &err), RB_ENUMERIC);
    cr_expect(strstr(err.msg, "layer 1 down_in: boom") != NULL, "%s", err.msg);
    free(plain);
    rb_workspace_free(&ws);
    rb_model_free(m);
}

Test(forward, stories260K_matches_float64_reference_on_real_text) {
    const char *model_path = rb_test_require_data("models/stories260K/stories260K.bin");
    const char *tok_path = rb_test_require_data("models/stories260K/tok512.bin");
    const char *text_path = rb_test_require_data("datasets/tinystories/TinyStories-valid-head.txt");
    rb_model *m;
    rb_tokenizer *tk;
    rb_error err;
    cr_assert_eq(rb_model_load(model_path, &m, &err), RB_OK, "%s", err.msg);
    cr_assert_eq(rb_tokenizer_load(tok_path, &tk, &err), RB_OK, "%s", err.msg);
    char *text;
    size_t len, n;
    int32_t *tok;
    cr_assert_eq(rb_read_file(text_path, 0, &text, &len, &err), RB_OK);
    cr_assert_eq(rb_tokenizer_encode(tk, text, len, 1, 0, &tok, &n, &err), RB_OK);
    int ctx = 512;
    cr_assert_geq(n, (size_t)2 * ctx);
    rb_workspace ws;
    cr_assert_eq(rb_workspace_init(&ws, &m->cfg, ctx, &err), RB_OK);
    rb_ppl_result res;
    cr_assert_eq(rb_perplexity(m, &ws, NULL, tok, 2 * ctx, ctx, 0, NULL, NULL, &res, NULL, NULL,
                               &err),
                 RB_OK);
    double ref = (ref_mean_nll(m, tok, ctx) + ref_mean_nll(m, tok + ctx, ctx)) / 2;
    cr_expect_eq(res.n_scored, (size_t)2 * (ctx - 1));
    cr_expect_lt(fabs(res.nll - ref) / ref, 1e-4, "fp32 nll %.9f vs float64 %.9f", res.nll, ref);
    cr_log_info("stories260K 2x512 window nll fp32 %.9f float64 %.9f rel %.2e", res.nll, ref,
                fabs(res.nll - ref) / ref);
    rb_workspace_free(&ws);
    free(tok);
    free(text);
    rb_tokenizer_free(tk);
    rb_model_free(m);
}

Test(forward, stories260K_greedy_generation_is_the_known_text) {
    const char *model_path = rb_test_require_data("models/stories260K/stories260K.bin");
    const char *tok_path = rb_test_require_data("models/stories260K/tok512.bin");
    rb_model *m;
    rb_tokenizer *tk;
    rb_error err;
    cr_assert_eq(rb_model_load(model_path, &m, &err), RB_OK, "%s", err.msg);
    cr_assert_eq(rb_tokenizer_load(tok_path, &tk, &err), RB_OK, "%s", err.msg);
    int steps = 200, V = m->cfg.vocab_size;
    int32_t seq[201] = {RB_TOKEN_BOS};
    rb_workspace ws;
    cr_assert_eq(rb_workspace_init(&ws, &m->cfg, steps + 1, &err), RB_OK);
    char out[4096] = "";
    size_t used = 0;
    for (int n = 1; n <= steps; n++) {
        cr_assert_eq(rb_forward(m, &ws, seq, n, NULL, &err), RB_OK);
        const float *l = ws.logits + (size_t)(n - 1) * V;
        int best = 0;
        for (int j = 1; j < V; j++) if (l[j] > l[best]) best = j;
        seq[n] = best;
        size_t len;
        const char *p = rb_tokenizer_decode(tk, seq[n - 1], best, &len);
        if (used + len < sizeof out) {
            memcpy(out + used, p, len);
            out[used += len] = 0;
        }
    }
    const char *known = "Once upon a time, there was a little girl named Lily. She loved to play "
                        "outside in the park. One day, she saw a big, red ball.";
    cr_expect_eq(strncmp(out, known, strlen(known)), 0, "generated: %s", out);
    rb_workspace_free(&ws);
    rb_tokenizer_free(tk);
    rb_model_free(m);
}

/* rb_forward_rows: the logits of positions [from, T) equal rb_forward's rows
 * to rounding (1e-5 relative), without hooks, with per-token quantizers on every input the
 * classifier's included, and with a per-tensor dynamic (window-dependent)
 * classifier input, which must see the whole window; a bad `from` is
 * refused.  On a synthetic model with a large vocabulary and on stories260K. */
Test(forward, classifier_rows_from_equal_the_whole_forward) {
    rb_model *models[2] = {synth(32, 64, 2, 4, 2, 700, 0, 5), rb_test_stories_or_synth()};
    for (int mi = 0; mi < 2; mi++) {
        rb_model *m = models[mi];
        const int T = 96, V = m->cfg.vocab_size;
        rb_workspace ws;
        rb_error err = {0};
        cr_assert_eq(rb_workspace_init(&ws, &m->cfg, T, &err), RB_OK);
        int32_t tok[96];
        random_tokens(tok, T, V, 40 + mi);
        float *full = malloc(sizeof(float) * (size_t)T * V);
        for (int kind = 0; kind < 3; kind++) {
            rb_quant_config q;
            rb_hooks h;
            const rb_hooks *hp = quant_hooks_of_kind(kind, &q, &h);
            cr_assert_eq(rb_forward(m, &ws, tok, T, hp, &err), RB_OK, "%s", err.msg);
            memcpy(full, ws.logits, sizeof(float) * (size_t)T * V);
            const int froms[] = {0, 1, T / 2, T - 1};
            for (int f = 0; f < 4; f++) {
                int from = froms[f];
                cr_assert_eq(rb_forward_rows(m, &ws, tok, T, from, hp, &err), RB_OK, "%s",
                             err.msg);
                size_t n = (size_t)(T - from) * V;
                /* BLAS need not sum a row the same way whatever rows
                 * surround it: OpenBLAS 0.3.21's SkylakeX kernels did, its
                 * Haswell kernels (its choice on a Zen 5) did not for 95 of
                 * 96 rows; so equal to rounding */
                double worst = 0;
                for (size_t i = 0; i < n; i++)
                    worst = fmax(worst, fabs(ws.logits[i] - full[(size_t)from * V + i]) /
                                            fmax(1.0, fabs(full[(size_t)from * V + i])));
                cr_expect_lt(worst, 1e-5, "model %d, hooks %d: rows from %d off by %g", mi, kind,
                             from, worst);
            }
            rb_quant_config_free(&q);
        }
        cr_expect_eq(rb_forward_rows(m, &ws, tok, T, T, NULL, &err), RB_EINVAL);
        cr_expect_eq(rb_forward_rows(m, &ws, tok, T, -1, NULL, &err), RB_EINVAL);
        free(full);
        rb_workspace_free(&ws);
        rb_model_free(m);
    }
}

/* ---- the calibration stream (core/calib.h) ---------------------------------- */

typedef struct point_copy {
    int layer;
    float *x[RB_ACT_POINT_COUNT]; /* [rows][cols] of the point at `layer`, malloc'd */
} point_copy;

static int copy_points(void *ctx, int layer, rb_act_point p, float *x, int rows, int cols,
                       rb_error *err) {
    (void)err;
    point_copy *c = ctx;
    if (layer != c->layer || p == RB_ACT_CLASSIFIER_IN) return RB_OK;
    free(c->x[p]);
    c->x[p] = malloc(sizeof(float) * (size_t)rows * cols);
    memcpy(c->x[p], x, sizeof(float) * (size_t)rows * cols);
    return RB_OK;
}

/* Looking at layer l through the stream sees, bit for bit, what rb_forward
 * from the embedding sees there, on every variant (biases, GQA, RoPE
 * scaling), with a layer changed between advances as GPTQ changes it; a
 * hook's return value stops a look and comes back as is. */
static void expect_stream_matches(rb_model *m, const char *name) {
    rb_calib cal;
    rb_test_random_calib(&cal, m->cfg.vocab_size, 3, 20, 7);
    rb_error err = {0};
    rb_calib_stream st;
    cr_assert_eq(rb_calib_stream_init(&st, m, &cal, 2, &err), RB_OK, "%s", err.msg);
    rb_workspace ws;
    cr_assert_eq(rb_workspace_init(&ws, &m->cfg, cal.window, &err), RB_OK);
    const rb_config *c = &m->cfg;
    int widths[RB_ACT_CLASSIFIER_IN] = {c->dim, c->n_heads * c->head_dim, c->dim, c->hidden_dim};
    for (int l = 0; l < c->n_layers; l++) {
        for (int w = 0; w < 2; w++) {
            point_copy whole = {.layer = l}, look = {.layer = l};
            rb_hooks hw = {.ctx = &whole, .activation = copy_points};
            rb_hooks hl = {.ctx = &look, .activation = copy_points};
            cr_assert_eq(rb_forward(m, &ws, cal.tokens + w * cal.window, cal.window, &hw, &err),
                         RB_OK, "%s", err.msg);
            cr_assert_eq(rb_calib_stream_look(&st, m, w, &hl, &err), RB_OK, "%s", err.msg);
            for (int p = 0; p < RB_ACT_CLASSIFIER_IN; p++) {
                cr_assert(whole.x[p] && look.x[p], "%s layer %d point %d not seen", name, l, p);
                cr_expect_eq(memcmp(whole.x[p], look.x[p],
                                    sizeof(float) * (size_t)cal.window * widths[p]), 0,
                             "%s layer %d window %d point %d differs", name, l, w, p);
                free(whole.x[p]);
                free(look.x[p]);
            }
        }
        /* change the layer just looked at before carrying the stream through it */
        rb_weight_view v = rb_model_weight(m, l, RB_W2);
        for (int i = 0; i < v.rows * v.cols; i += 3) v.w[i] *= 0.5f;
        cr_assert_eq(rb_calib_stream_advance(&st, m, &err), RB_OK, "%s", err.msg);
    }
    cr_expect_eq(st.layer, c->n_layers);
    rb_calib_stream_free(&st);
    rb_workspace_free(&ws);
    rb_calib_free(&cal);
}

Test(forward, calibration_stream_sees_what_the_whole_forward_sees) {
    for (int a = 0; a < RB_TEST_ARCH_COUNT; a++) {
        rb_model *m = rb_test_arch_model((rb_test_arch)a, 3, 50, 31 + a);
        expect_stream_matches(m, rb_test_arch_name((rb_test_arch)a));
        rb_model_free(m);
    }
    /* RoPE frequency factors (as GGUF Llama-3 files carry them) */
    rb_config c = rb_test_arch_config(RB_TEST_MISTRAL, 3, 50);
    c.rope_theta = 10000.0f;
    c.rope_scaling = RB_ROPE_SCALING_FREQ_FACTORS;
    c.rope_factor = 4.0f;
    rb_model *m;
    rb_error err;
    cr_assert_eq(rb_model_synthetic(&c, 0, 77, &m, &err), RB_OK, "%s", err.msg);
    expect_stream_matches(m, "freq factors");
    rb_model_free(m);
}

static int stop_at_o(void *ctx, int layer, rb_act_point p, float *x, int rows, int cols,
                     rb_error *err) {
    (void)ctx; (void)layer; (void)x; (void)rows; (void)cols; (void)err;
    return p == RB_ACT_O_IN ? 7 : RB_OK;
}

Test(forward, calibration_stream_refuses_bad_input_and_passes_stops) {
    rb_model *m = rb_test_synth(16, 24, 2, 2, 2, 30, 3);
    rb_calib cal;
    rb_test_random_calib(&cal, 30, 2, 10, 1);
    rb_error err = {0};
    rb_calib_stream st;
    cr_expect_eq(rb_calib_stream_init(&st, m, &cal, 3, &err), RB_EINVAL);
    cal.tokens[13] = 30; /* window 1: an id outside the vocabulary */
    cr_expect_eq(rb_calib_stream_init(&st, m, &cal, 2, &err), RB_EINVAL);
    cr_expect(strstr(err.msg, "outside"), "%s", err.msg);
    cr_assert_eq(rb_calib_stream_init(&st, m, &cal, 1, &err), RB_OK, "%s", err.msg);
    rb_hooks h = {.activation = stop_at_o};
    cr_expect_eq(rb_calib_stream_look(&st, m, 0, &h, &err), 7);
    rb_calib_stream_free(&st);
    rb_calib_free(&cal);
    rb_model_free(m);
}
