/* QuaRot: every rotation kind, shipped Hadamard order and seed leaves the fp32
 * logits unchanged; options, errors and the effect on quantization error. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/quant.h"
#include "kernels/hadamard.h"
#include "kernels/rotation.h"
#include "methods/rotate.h"
#include "methods/prepare.h"
#include "tests/test_models.h"
#include "tests/test_util.h"

static const char *const kinds[] = {"hadamard", "random_hadamard", "random_orthogonal"};

/* Every kind with the given seeds, optionally after a prefix stage. */
static void expect_all_kinds_preserve(const rb_model *m, const char *prefix, const int *seeds,
                                      int n_seeds) {
    char text[256];
    for (int k = 0; k < 3; k++)
        for (int s = 0; s < n_seeds; s++) {
            snprintf(text, sizeof text, "%s%squarot:rotation=%s:seed=%d", prefix ? prefix : "",
                     prefix ? "," : "", kinds[k], seeds[s]);
            rb_test_expect_preserved(text, m);
        }
}

/* max |a - b| over every weight the residual and value rotations touch,
 * relative to max |a|. */
static double weights_rel_diff(const rb_model *a, const rb_model *b) {
    const rb_config *c = &a->cfg;
    double d = 0, mx = 0;
#define CMP(pa, pb, n)                                                       \
    for (size_t i = 0; i < (size_t)(n); i++) {                              \
        double x = fabs((double)(pa)[i] - (pb)[i]);                          \
        d = x > d ? x : d;                                                   \
        mx = fabs((pa)[i]) > mx ? fabs((pa)[i]) : mx;                        \
    }
    CMP(a->token_embedding, b->token_embedding, (size_t)c->vocab_size * c->dim);
    CMP(a->classifier, b->classifier, (size_t)c->vocab_size * c->dim);
    for (int l = 0; l < c->n_layers; l++) {
        for (rb_linear_id id = 0; id < RB_LINEAR_COUNT; id++) {
            rb_weight_view va = rb_model_weight(a, l, id), vb = rb_model_weight(b, l, id);
            CMP(va.w, vb.w, (size_t)va.rows * va.cols);
        }
        if (a->layers[l].bv) CMP(a->layers[l].bv, b->layers[l].bv, (size_t)c->n_kv_heads * c->head_dim);
    }
#undef CMP
    return d / mx;
}

/* The fast Hadamard fusion gives the weights of the dense products with
 * rb_rotation_matrix's R1/R2 (GQA, Kronecker sizes 48 = 12·4 with a
 * non-symmetric base, biases, 12-wide heads, odd column counts). */
Test(quarot, fast_hadamard_fusion_equals_the_dense_products) {
    struct { int dim, hidden, heads, kv, vocab; } shapes[] = {
        {64, 172, 8, 4, 97}, {48, 96, 6, 2, 37}, {96, 200, 8, 8, 53}, {256, 688, 16, 4, 131}};
    rb_rotation_kind kinds_h[] = {RB_ROT_HADAMARD, RB_ROT_RANDOM_HADAMARD};
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++)
        for (int kk = 0; kk < 2; kk++) {
            rb_model *a = rb_test_synth(shapes[i].dim, shapes[i].hidden, 2, shapes[i].heads,
                                        shapes[i].kv, shapes[i].vocab, 7 + i), *b = NULL;
            rb_error err = {0};
            if (i == 0) { /* a model with a q/k/v bias */
                rb_model_free(a);
                a = rb_test_arch_model(RB_TEST_QWEN2, 2, 53, 64);
            }
            const rb_config *c = &a->cfg;
            cr_assert_eq(rb_rotate_fuse_norms(a, &err), RB_OK, "%s", err.msg);
            cr_assert_eq(rb_model_clone(a, &b, &err), RB_OK, "%s", err.msg);
            int n1 = c->dim, n2 = c->head_dim;
            float *R1 = malloc(sizeof(float) * n1 * n1), *R2 = malloc(sizeof(float) * n2 * n2);
            float *s1 = malloc(sizeof(float) * n1), *s2 = malloc(sizeof(float) * n2);
            cr_assert_eq(rb_rotation_matrix(kinds_h[kk], n1, 11, R1, &err), RB_OK, "%s", err.msg);
            cr_assert_eq(rb_rotation_matrix(kinds_h[kk], n2, 12, R2, &err), RB_OK, "%s", err.msg);
            cr_assert_eq(rb_rotation_signs(kinds_h[kk], n1, 11, s1, &err), RB_OK, "%s", err.msg);
            cr_assert_eq(rb_rotation_signs(kinds_h[kk], n2, 12, s2, &err), RB_OK, "%s", err.msg);
            cr_assert_eq(rb_rotate_residual(a, R1, &err), RB_OK, "%s", err.msg);
            cr_assert_eq(rb_rotate_value_heads(a, R2, &err), RB_OK, "%s", err.msg);
            cr_assert_eq(rb_rotate_residual_hadamard(b, kk ? s1 : NULL, &err), RB_OK, "%s", err.msg);
            cr_assert_eq(rb_rotate_value_heads_hadamard(b, kk ? s2 : NULL, &err), RB_OK, "%s", err.msg);
            double d = weights_rel_diff(a, b);
            cr_expect_lt(d, 1e-5, "dim %d head_dim %d kind %d: max relative difference %g", n1, n2, kk, d);
            free(R1);
            free(R2);
            free(s1);
            free(s2);
            rb_model_free(a);
            rb_model_free(b);
        }
}

Test(quarot, preserves_stories260K_and_the_outlier_model) {
    rb_model *m = rb_test_stories_or_synth();
    const int seeds[] = {0, 1, 42};
    expect_all_kinds_preserve(m, NULL, seeds, 3);
    expect_all_kinds_preserve(m, "outliers:count=4:scale=20", seeds, 3);
    rb_model_free(m);
}

/* Biases (R2 rotates bv), untied classifier, GQA, llama3 RoPE scaling, and
 * head_dim 16 on dim 48 (q 64 wide: R1 is 48, R2 and R3 16, the head-wise
 * Hadamard 4); Mistral's GQA 4:1; Qwen2's 6 heads have no Hadamard, so its
 * head-wise transform is off. */
Test(quarot, preserves_architecture_variants) {
    const int seeds[] = {2};
    rb_model *m = rb_test_arch_model(RB_TEST_ALL, 2, 53, 60);
    expect_all_kinds_preserve(m, NULL, seeds, 1);
    expect_all_kinds_preserve(m, "outliers:count=4:scale=20", seeds, 1);
    rb_model_free(m);
    const rb_test_arch archs[] = {RB_TEST_ALL_HD, RB_TEST_LLAMA3, RB_TEST_MISTRAL};
    for (int i = 0; i < 3; i++) {
        m = rb_test_arch_model(archs[i], 2, 53, 61 + i);
        rb_test_expect_preserved("quarot:seed=3", m);
        rb_model_free(m);
    }
    m = rb_test_arch_model(RB_TEST_QWEN2, 2, 53, 64);
    rb_test_expect_preserved("quarot:heads=0", m);
    rb_test_expect_preserved("quarot:rotation=random_orthogonal:heads=0:seed=4", m);
    rb_model_free(m);
}

Test(quarot, preserves_models_needing_every_hadamard_order) {
    const int seeds[] = {3, 11};
    for (const int *k = rb_hadamard_base_orders; *k; k++) {
        /* R4 is H_hidden with hidden = 2k: the base order k times 2 */
        rb_model *m = rb_test_synth(64, 2 * *k, 2, 8, 4, 97, (uint64_t)*k);
        expect_all_kinds_preserve(m, NULL, seeds, 2);
        rb_model_free(m);
    }
}

Test(quarot, preserves_kronecker_residual_and_head_sizes) {
    /* dim, hidden, heads, kv heads: dim and head_dim need Kronecker factors */
    const int shapes[][4] = {{96, 344, 4, 2},   /* dim 12·8, head_dim 12·2, hidden 172·2 */
                             {160, 560, 4, 4},  /* dim 20·8, head_dim 40, hidden 140·4 */
                             {112, 312, 4, 2},  /* dim 28·4, head_dim 28, hidden 156·2 */
                             {240, 120, 4, 1}}; /* dim 60·4, head_dim 60, hidden 60·2 */
    const int seeds[] = {5};
    for (int i = 0; i < 4; i++) {
        rb_model *m = rb_test_synth(shapes[i][0], shapes[i][1], 2, shapes[i][2], shapes[i][3], 53,
                                    (uint64_t)i);
        expect_all_kinds_preserve(m, NULL, seeds, 1);
        rb_model_free(m);
    }
}

static int prepare(rb_model *m, const char *text, rb_error *err) {
    rb_pipeline p;
    cr_assert_eq(rb_pipeline_parse(text, &p, err), RB_OK, "%s", err->msg);
    rb_quant_config q;
    rb_quant_config_init(&q);
    rb_calib calib;
    rb_test_random_calib(&calib, m->cfg.vocab_size, 2, 32, 1);
    int rc = rb_prepare_model(m, &p, &q, &calib, 0, 0, err);
    rb_calib_free(&calib);
    rb_quant_config_free(&q);
    return rc;
}

Test(quarot, online_options_and_saving) {
    rb_model *m = rb_test_synth(64, 172, 2, 8, 4, 97, 1);
    rb_error err;
    cr_assert_eq(prepare(m, "quarot", &err), RB_OK, "%s", err.msg);
    cr_expect(m->online.qk_hadamard && m->online.down_hadamard && m->online.o_head_hadamard);
    char path[512];
    rb_test_tmp_path("quarot.bin", path, sizeof path);
    cr_expect_eq(rb_model_save(m, path, &err), RB_EUNSUPPORTED);
    cr_expect(strstr(err.msg, "online") != NULL, "%s", err.msg);
    /* smoothing scales cannot pass an online Hadamard */
    cr_expect_eq(prepare(m, "smoothquant:fc_fc=1", &err), RB_EINVAL);
    cr_expect(strstr(err.msg, "fc_fc") != NULL, "%s", err.msg);
    rb_model_free(m);

    m = rb_test_synth(64, 172, 2, 8, 4, 97, 1);
    cr_assert_eq(prepare(m, "quarot:online=0", &err), RB_OK, "%s", err.msg);
    cr_expect(!m->online.qk_hadamard && !m->online.down_hadamard && !m->online.o_head_hadamard);
    cr_expect_eq(rb_model_save(m, path, &err), RB_OK, "%s", err.msg);
    remove(path);
    rb_model_free(m);

    m = rb_test_synth(64, 172, 2, 8, 4, 97, 1);
    cr_assert_eq(prepare(m, "quarot:r3=0:heads=0", &err), RB_OK, "%s", err.msg);
    cr_expect(!m->online.qk_hadamard && m->online.down_hadamard && !m->online.o_head_hadamard);
    rb_model_free(m);

    /* the third W8A8 column: rotation without online transforms, then fc-fc smoothing */
    m = rb_test_stories_or_synth();
    rb_test_expect_preserved("quarot:online=0,smoothquant:alpha=0.5:fc_fc=1", m);
    rb_model_free(m);
}

Test(quarot, unsupported_sizes_are_clear_errors) {
    rb_error err;
    /* 6 heads: no Hadamard of order 6 for the head-wise transform */
    rb_model *m = rb_test_synth(48, 96, 2, 6, 2, 37, 1);
    cr_expect_eq(prepare(m, "quarot", &err), RB_EINVAL);
    cr_expect(strstr(err.msg, "head") && strstr(err.msg, "nearest supported sizes: 4 below, 8 above"),
              "%s", err.msg);
    rb_model_free(m);
    m = rb_test_synth(48, 96, 2, 6, 2, 37, 1);
    rb_test_expect_preserved("quarot:heads=0", m);
    rb_model_free(m);
    /* dim 50: only a random orthogonal R1 fits, and head_dim 10 allows no online R3 */
    m = rb_test_synth(50, 64, 2, 5, 5, 37, 1);
    cr_expect_eq(prepare(m, "quarot:online=0", &err), RB_EINVAL);
    cr_expect(strstr(err.msg, "R1") != NULL, "%s", err.msg);
    rb_model_free(m);
    m = rb_test_synth(50, 64, 2, 5, 5, 37, 1);
    rb_test_expect_preserved("quarot:rotation=random_orthogonal:online=0", m);
    rb_model_free(m);
    rb_pipeline p;
    cr_expect_eq(rb_pipeline_parse("quarot:rotation=givens", &p, &err), RB_EINVAL);
    cr_expect(strstr(err.msg, "random_orthogonal") != NULL, "%s", err.msg);
}

/* Relative RMS logit error of W4A4 (per-channel weights, per-token activations)
 * after `pipeline` on m, against m's fp32 logits. */
static double w4a4_error(const rb_model *m, const char *pipeline) {
    rb_error err;
    rb_model *t;
    cr_assert_eq(rb_model_clone(m, &t, &err), RB_OK);
    rb_quant_config q;
    rb_quant_config_init(&q);
    q.w = (rb_quant_spec){4, 0, RB_GRAN_ROW, 0, 1.0f, 0};
    q.a = (rb_quant_spec){4, 0, RB_GRAN_ROW, 0, 1.0f, 0};
    rb_pipeline p;
    cr_assert_eq(rb_pipeline_parse(pipeline, &p, &err), RB_OK, "%s", err.msg);
    cr_assert_eq(rb_pipeline_complete(&p, &q, &err), RB_OK, "%s", err.msg);
    rb_calib calib;
    rb_test_random_calib(&calib, m->cfg.vocab_size, 2, 32, 1);
    cr_assert_eq(rb_prepare_model(t, &p, &q, &calib, 0, 0, &err), RB_OK, "%s", err.msg);
    rb_hooks h;
    rb_quant_hooks(&q, &h);
    float *fp = rb_test_logits(m, NULL), *qz = rb_test_logits(t, &h);
    double d = rb_test_rel_rms(qz, fp, (size_t)48 * m->cfg.vocab_size);
    free(fp);
    free(qz);
    rb_calib_free(&calib);
    rb_quant_config_free(&q);
    rb_model_free(t);
    return d;
}

Test(quarot, rotation_lowers_w4a4_error_on_the_outlier_model) {
    rb_model *m = rb_test_stories_or_synth();
    rb_error err;
    cr_assert_eq(prepare(m, "outliers:count=4:scale=20", &err), RB_OK, "%s", err.msg);
    double plain = w4a4_error(m, "");
    double rotated = w4a4_error(m, "quarot:seed=1");
    fprintf(stderr, "W4A4 relative RMS logit error: %g without quarot, %g with\n", plain, rotated);
    cr_expect_lt(rotated, 0.5 * plain, "W4A4 logit error %g with quarot vs %g without", rotated,
                 plain);
    rb_model_free(m);
}

Test(quarot, the_rotation_seed_changes_symmetric_w4a4_results) {
    /* random signs must act before the Hadamard mixes: flipped after it,
     * symmetric per-row/per-token quantizers would not see them */
    rb_model *m = rb_test_stories_or_synth();
    double a = w4a4_error(m, "quarot:seed=1"), b = w4a4_error(m, "quarot:seed=2");
    double c = w4a4_error(m, "quarot:seed=1");
    cr_expect_neq(a, b, "seeds 1 and 2 give the same W4A4 error %g", a);
    cr_expect_eq(a, c, "seed 1 twice: %g vs %g", a, c);
    rb_model_free(m);
}

/* quarot:fallback=1 on sizes no Hadamard reaches (dim and hidden 92, head_dim
 * 46): random orthogonal R1/R2 and dense online R3/R4, the fp32 model
 * unchanged, each fallback named in the notes; without fallback refused. */
Test(quarot, fallback_to_random_orthogonal_where_no_hadamard_applies) {
    rb_model *m = rb_test_synth(92, 92, 2, 2, 2, 40, 17), *t;
    rb_error err = {0};
    rb_calib calib;
    rb_test_random_calib(&calib, 40, 2, 32, 1);
    rb_quant_config q;
    rb_quant_config_init(&q);
    rb_pipeline p;
    cr_assert_eq(rb_model_clone(m, &t, &err), RB_OK);
    cr_assert_eq(rb_pipeline_parse("quarot", &p, &err), RB_OK);
    cr_assert_eq(rb_prepare_model(t, &p, &q, &calib, 0, 0, &err), RB_EINVAL);
    rb_model_free(t);
    cr_assert_eq(rb_model_clone(m, &t, &err), RB_OK);
    cr_assert_eq(rb_pipeline_parse("quarot:fallback=1", &p, &err), RB_OK);
    json_object *notes = json_object_new_object();
    cr_assert_eq(rb_prepare_model_notes(t, &p, &q, &calib, 0, 0, notes, &err), RB_OK, "%s",
                 err.msg);
    json_object *qr, *fb;
    cr_assert(json_object_object_get_ex(notes, "quarot", &qr));
    cr_assert(json_object_object_get_ex(qr, "fallback", &fb));
    cr_assert_eq(json_object_array_length(fb), 4, "%s", json_object_to_json_string(fb));
    cr_assert(strstr(json_object_get_string(json_object_array_get_idx(fb, 3)), "R4 (online"));
    cr_assert(t->online.qk_dense && t->online.down_dense && !t->online.down_hadamard);
    float *a = rb_test_logits(m, NULL), *b = rb_test_logits(t, NULL);
    double d = rb_test_rel_rms(b, a, (size_t)48 * 40);
    cr_expect_lt(d, 1e-5, "rotated fp32 logits differ by %g (relative RMS)", d);
    free(a);
    free(b);
    json_object_put(notes);
    rb_model_free(t);
    /* where every size has a Hadamard, fallback=1 changes nothing and notes nothing */
    rb_model *s = rb_test_synth(64, 172, 2, 8, 4, 40, 3), *u, *v;
    cr_assert_eq(rb_model_clone(s, &u, &err), RB_OK);
    cr_assert_eq(rb_model_clone(s, &v, &err), RB_OK);
    notes = json_object_new_object();
    cr_assert_eq(rb_prepare_model_notes(u, &p, &q, &calib, 0, 0, notes, &err), RB_OK, "%s", err.msg);
    cr_assert_eq(rb_pipeline_parse("quarot", &p, &err), RB_OK);
    cr_assert_eq(rb_prepare_model(v, &p, &q, &calib, 0, 0, &err), RB_OK, "%s", err.msg);
    cr_assert_eq(json_object_object_length(notes), 0);
    rb_weight_view x = rb_model_weight(u, 1, RB_W2), y = rb_model_weight(v, 1, RB_W2);
    cr_assert_eq(memcmp(x.w, y.w, sizeof(float) * x.rows * x.cols), 0);
    json_object_put(notes);
    rb_model_free(s);
    rb_model_free(u);
    rb_model_free(v);
    rb_model_free(m);
    rb_calib_free(&calib);
}
