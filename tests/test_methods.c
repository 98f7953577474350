/* Pipeline stages: parsing, function preservation of smoothquant and
 * outliers, and the quantization hooks' "off" path. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/act_stats.h"
#include "core/forward.h"
#include "core/quant.h"
#include "methods/prepare.h"
#include "tests/test_models.h"
#include "tests/test_util.h"

Test(methods, smoothquant_and_outliers_preserve_fp_logits) {
    rb_model *models[2] = {rb_test_stories_or_synth(), rb_test_synth(48, 100, 2, 6, 2, 37, 3)};
    const char *pipelines[] = {"smoothquant:alpha=0.5", "smoothquant:alpha=0.85",
                               "smoothquant:alpha=0.5:fc_fc=1", "smoothquant:alpha=1:fc_fc=1",
                               "outliers", "outliers:count=8:scale=100:ffn=1",
                               "outliers:scale=30,smoothquant:alpha=0.5:fc_fc=1"};
    for (int i = 0; i < 2; i++) {
        for (size_t k = 0; k < sizeof pipelines / sizeof *pipelines; k++)
            rb_test_expect_preserved(pipelines[k], models[i]);
        rb_model_free(models[i]);
    }
}

/* The same on models with q/k/v biases, an untied classifier, GQA, llama3
 * RoPE scaling and head_dim ≠ dim/n_heads (RB_TEST_ALL), and the Qwen2- and
 * Mistral-shaped ones: fc_fc must scale bv with wv's rows. */
Test(methods, smoothquant_and_outliers_preserve_variant_models) {
    const rb_test_arch archs[] = {RB_TEST_ALL, RB_TEST_ALL_HD, RB_TEST_QWEN2, RB_TEST_MISTRAL};
    const char *pipelines[] = {"smoothquant:alpha=0.5", "smoothquant:alpha=0.5:fc_fc=1",
                               "smoothquant:alpha=1:fc_fc=1", "outliers:count=8:scale=100:ffn=1",
                               "outliers:scale=30,smoothquant:alpha=0.5:fc_fc=1"};
    for (int i = 0; i < 4; i++) {
        rb_model *m = rb_test_arch_model(archs[i], 2, 37, 40 + i);
        for (size_t k = 0; k < sizeof pipelines / sizeof *pipelines; k++)
            rb_test_expect_preserved(pipelines[k], m);
        rb_model_free(m);
    }
}

/* RTN and GPTQ quantize the weight matrices only: the biases stay fp32,
 * bit for bit. */
Test(methods, rtn_and_gptq_leave_biases_in_fp32) {
    const char *pipelines[] = {"rtn", "gptq", "quarot,gptq"};
    rb_model *m = rb_test_arch_model(RB_TEST_ALL, 2, 37, 9);
    const rb_config *c = &m->cfg;
    size_t qdim = (size_t)c->n_heads * c->head_dim, kvdim = (size_t)c->n_kv_heads * c->head_dim;
    for (int k = 0; k < 3; k++) {
        rb_model *t;
        rb_error err;
        cr_assert_eq(rb_model_clone(m, &t, &err), RB_OK);
        rb_pipeline p;
        cr_assert_eq(rb_pipeline_parse(pipelines[k], &p, &err), RB_OK, "%s", err.msg);
        rb_quant_config q;
        rb_quant_config_init(&q);
        q.w = (rb_quant_spec){4, 0, RB_GRAN_ROW, 0, 1.0f, 0};
        rb_calib calib;
        rb_test_random_calib(&calib, c->vocab_size, 4, 32, 5);
        cr_assert_eq(rb_prepare_model(t, &p, &q, &calib, 0, 0, &err), RB_OK, "%s: %s",
                     pipelines[k], err.msg);
        for (int l = 0; l < c->n_layers; l++) {
            cr_expect_eq(memcmp(t->layers[l].bq, m->layers[l].bq, sizeof(float) * qdim), 0,
                         "%s: layer %d bq", pipelines[k], l);
            cr_expect_eq(memcmp(t->layers[l].bk, m->layers[l].bk, sizeof(float) * kvdim), 0,
                         "%s: layer %d bk", pipelines[k], l);
            /* quarot rotates bv by R2 (an output-side transform), rtn/gptq leave it */
            if (k < 2)
                cr_expect_eq(memcmp(t->layers[l].bv, m->layers[l].bv, sizeof(float) * kvdim), 0,
                             "%s: layer %d bv", pipelines[k], l);
        }
        rb_calib_free(&calib);
        rb_quant_config_free(&q);
        rb_model_free(t);
    }
    rb_model_free(m);
}

Test(methods, outliers_make_outliers) {
    rb_model *m = rb_test_synth(64, 172, 2, 8, 4, 64, 2);
    rb_calib calib;
    rb_test_random_calib(&calib, 64, 4, 32, 1);
    rb_error err;
    rb_act_absmax before, after;
    cr_assert_eq(rb_act_absmax_collect(m, &calib, NULL, &before, &err), RB_OK);
    rb_pipeline p;
    cr_assert_eq(rb_pipeline_parse("outliers:count=2:scale=50", &p, &err), RB_OK);
    rb_quant_config q;
    rb_quant_config_init(&q);
    cr_assert_eq(rb_prepare_model(m, &p, &q, &calib, 0, 0, &err), RB_OK, "%s", err.msg);
    cr_assert_eq(rb_act_absmax_collect(m, &calib, NULL, &after, &err), RB_OK);
    for (int pt = 0; pt < RB_ACT_CLASSIFIER_IN; pt++) {
        if (pt == RB_ACT_O_IN) continue; /* attention outputs are not touched */
        const float *b = rb_act_absmax_get(&before, 0, pt), *a = rb_act_absmax_get(&after, 0, pt);
        float mb = 0, ma = 0;
        for (int j = 0; j < before.width[pt]; j++) mb = fmaxf(mb, b[j]), ma = fmaxf(ma, a[j]);
        cr_expect_gt(ma, 10 * mb, "point %d: max %g before, %g after", pt, mb, ma);
    }
    rb_act_absmax_free(&before);
    rb_act_absmax_free(&after);
    rb_calib_free(&calib);
    rb_model_free(m);
}

Test(methods, pipeline_parsing_and_errors) {
    rb_pipeline p;
    rb_error err;
    char buf[512];
    cr_assert_eq(rb_pipeline_parse("outliers:scale=30,smoothquant:alpha=0.85", &p, &err), RB_OK);
    cr_expect_eq(p.n, 2);
    rb_pipeline_format(&p, buf, sizeof buf);
    cr_expect_str_eq(buf, "outliers:count=4:scale=30:ffn=1:seed=0,smoothquant:alpha=0.85:fc_fc=0:"
                          "search=0:step=0.1:rows=2048");
    cr_assert_eq(rb_pipeline_parse("", &p, &err), RB_OK);
    cr_expect_eq(p.n, 0);
    struct { const char *text, *needle; } bad[] = {
        {"quaternion", "unknown method 'quaternion'"},
        {"smoothquant:beta=1", "unknown option 'beta'"},
        {"smoothquant:alpha=1.5", "alpha=1.5"},
        {"smoothquant:alpha=x", "alpha=x"},
        {"smoothquant:alpha", "needs a value"},
        {"outliers:count=2.5", "an integer"},
        {"smoothquant:fc_fc=2", "boolean"},
        {"rtn,,rtn", NULL},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int rc = rb_pipeline_parse(bad[i].text, &p, &err);
        if (!bad[i].needle) continue; /* empty stages between commas are skipped by strtok */
        cr_expect_eq(rc, RB_EINVAL, "%s accepted", bad[i].text);
        cr_expect(strstr(err.msg, bad[i].needle) != NULL, "%s: %s", bad[i].text, err.msg);
    }
    rb_quant_config q;
    rb_quant_config_init(&q);
    cr_assert_eq(rb_pipeline_parse("smoothquant", &p, &err), RB_OK);
    cr_assert_eq(rb_pipeline_complete(&p, &q, &err), RB_OK);
    cr_expect_eq(p.n, 1, "no rtn appended while weights are off");
    q.w.bits = 4;
    cr_assert_eq(rb_pipeline_complete(&p, &q, &err), RB_OK);
    cr_expect_eq(p.n, 2);
    cr_expect_str_eq(p.stages[1].method->name, "rtn");
}

/* rb_stage_opts holds RB_MAX_OPTIONS values: a method with more options
 * would write past them (spinquant's 17th did before the limit was raised). */
Test(methods, every_method_fits_the_option_slots) {
    for (const rb_method *const *m = rb_method_all(); *m; m++) {
        int n = 0;
        while ((*m)->options[n].name) n++;
        cr_expect_leq(n, RB_MAX_OPTIONS, "%s has %d options, rb_stage_opts holds %d", (*m)->name,
                      n, RB_MAX_OPTIONS);
    }
}

Test(methods, quantizers_off_are_bit_identical) {
    rb_model *m = rb_test_synth(48, 100, 2, 6, 2, 37, 9);
    rb_quant_config q;
    rb_quant_config_init(&q);
    rb_hooks h;
    rb_quant_hooks(&q, &h);
    float *a = rb_test_logits(m, NULL), *b = rb_test_logits(m, &h);
    cr_expect_eq(memcmp(a, b, sizeof(float) * 48 * 37), 0);
    free(a);
    free(b);
    rb_model_free(m);
}

Test(methods, w8a8_is_close_and_w4_static_is_calibrated) {
    rb_model *m = rb_test_synth(64, 172, 2, 8, 4, 64, 4);
    rb_error err;
    rb_quant_config q;
    rb_quant_config_init(&q);
    q.a = (rb_quant_spec){8, 0, RB_GRAN_ROW, 0, 1.0f, 0};
    q.kv = (rb_quant_spec){8, 0, RB_GRAN_GROUP, 8, 1.0f, 0};
    q.w = (rb_quant_spec){8, 0, RB_GRAN_ROW, 0, 1.0f, 0};
    float *fp = rb_test_logits(m, NULL);
    rb_model *t;
    cr_assert_eq(rb_model_clone(m, &t, &err), RB_OK);
    rb_pipeline p = {0};
    cr_assert_eq(rb_pipeline_complete(&p, &q, &err), RB_OK);
    cr_assert_eq(rb_prepare_model(t, &p, &q, NULL, 0, 0, &err), RB_OK, "%s", err.msg);
    rb_hooks h;
    rb_quant_hooks(&q, &h);
    float *w8 = rb_test_logits(t, &h);
    double d = rb_test_rel_maxdiff(w8, fp, (size_t)48 * 64, 1e-3);
    cr_expect_lt(d, 0.05, "W8A8KV8 moved logits by %g", d);
    cr_expect_gt(d, 0.0, "quantization had no effect");
    /* static per-tensor activations need calibration, and get it */
    rb_quant_config s;
    rb_quant_config_init(&s);
    s.a = (rb_quant_spec){8, 0, RB_GRAN_TENSOR, 0, 1.0f, 0};
    s.a_static = 1;
    rb_calib calib;
    rb_test_random_calib(&calib, 64, 2, 32, 3);
    cr_assert_eq(rb_prepare_model(t, &p, &s, &calib, 0, 0, &err), RB_OK, "%s", err.msg);
    cr_assert_not_null(s.a_scale);
    for (int i = 0; i < 2 * RB_ACT_POINT_COUNT; i++)
        cr_expect(isfinite(s.a_scale[i]) && s.a_scale[i] > 0, "scale %d = %g", i, s.a_scale[i]);
    s.a.gran = RB_GRAN_ROW;
    cr_expect_eq(rb_quant_config_check(&s, &m->cfg, &err), RB_EINVAL);
    cr_expect(strstr(err.msg, "static") != NULL, "%s", err.msg);
    rb_calib_free(&calib);
    rb_quant_config_free(&s);
    rb_quant_config_free(&q);
    free(fp);
    free(w8);
    rb_model_free(t);
    rb_model_free(m);
}
