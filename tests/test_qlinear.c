/* Integer linears in the forward (core/qlinear.h): the same model as fake
 * quantization up to float summation order, reproducible, and the settings
 * it refuses. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/qlinear.h"
#include "kernels/linear.h"
#include "tests/test_models.h"

typedef struct {
    int w_bits, w_asym, w_group, a_bits, a_asym, a_gran, a_group, classifier;
} qcase;

static void config(rb_quant_config *q, const qcase *c) {
    rb_quant_config_init(q);
    q->w = (rb_quant_spec){c->w_bits, c->w_asym, c->w_group ? RB_GRAN_GROUP : RB_GRAN_ROW,
                           c->w_group, 1.0f, 0};
    q->a = (rb_quant_spec){c->a_bits, c->a_asym, (rb_granularity)c->a_gran, c->a_group, 1.0f, 0};
    q->quantize_classifier = c->classifier;
}

/* Logits of m quantized by c, fake (int_kernels 0) or integer. */
static float *logits(const rb_model *base, const qcase *c, int int_kernels, int threads) {
    rb_model *m;
    rb_error err = {0};
    cr_assert_eq(rb_model_clone(base, &m, &err), RB_OK);
    rb_quant_config q;
    config(&q, c);
    cr_assert_eq(rb_quant_weights_rtn(m, &q, &err), RB_OK, "%s", err.msg);
    rb_hooks h;
    rb_qmodel qm = {0};
    if (int_kernels) {
        cr_assert_eq(rb_qmodel_build(&qm, m, &q, &err), RB_OK, "%s", err.msg);
        rb_qmodel_hooks(&qm, &h);
    } else {
        rb_quant_hooks(&q, &h);
    }
    rb_set_threads(threads);
    float *out = rb_test_logits(m, &h);
    rb_set_threads(2);
    rb_qmodel_free(&qm);
    rb_quant_config_free(&q);
    rb_model_free(m);
    return out;
}

static const qcase cases[] = {
    {8, 0, 0, 8, 0, RB_GRAN_ROW, 0, 0},    /* W8A8 per channel / per token */
    {8, 1, 0, 8, 1, RB_GRAN_ROW, 0, 1},    /* asymmetric, classifier too */
    {4, 0, 16, 8, 0, RB_GRAN_ROW, 0, 0},   /* W4A8, weight groups of 16 */
    {4, 1, 32, 4, 0, RB_GRAN_GROUP, 16, 0}, /* W4A4, nested groups */
    {8, 0, 0, 8, 0, RB_GRAN_TENSOR, 0, 0}, /* per-tensor activations */
};

Test(qlinear, integer_forward_matches_fake_quantization) {
    rb_model *m = rb_test_synth(64, 128, 2, 4, 2, 97, 5);
    int T = 48, V = m->cfg.vocab_size;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        float *f = logits(m, &cases[i], 0, 2), *q = logits(m, &cases[i], 1, 2);
        float *q1 = logits(m, &cases[i], 1, 2); /* (the fp32 parts depend on the thread count) */
        cr_assert_eq(memcmp(q, q1, sizeof(float) * T * V), 0,
                     "case %zu: integer logits differ between two runs", i);
        double amax = 0;
        for (int k = 0; k < T * V; k++) amax = fmax(amax, fabs(f[k]));
        /* float summation order changes a logit by ~1e-7 of the largest; where it
         * moves an activation across a rounding boundary, one code flips and
         * that token (and the later ones it attends to) moves by about one
         * quantization step: allowed for a few tokens, not for most */
        int flipped = 0;
        for (int t = 0; t < T; t++) {
            double d = 0;
            for (int v = 0; v < V; v++) d = fmax(d, fabs(f[t * V + v] - q[t * V + v]));
            flipped += d > 1e-5 * amax;
            cr_assert(d <= 1e-2 * amax, "case %zu token %d: |fake - int| %g of max |logit| %g",
                      i, t, d, amax);
        }
        cr_assert(flipped <= T / 8, "case %zu: %d of %d tokens differ by more than float order",
                  i, flipped, T);
        free(f), free(q), free(q1);
    }
    rb_model_free(m);
}

Test(qlinear, refuses_what_it_cannot_represent) {
    rb_model *m = rb_test_synth(64, 128, 1, 4, 2, 97, 5);
    rb_quant_config q;
    rb_qmodel qm;
    rb_error err = {0};
    qcase c = {8, 0, 0, 8, 0, RB_GRAN_ROW, 0, 0};
    config(&q, &c); /* no weight stage ran: no recorded parameters */
    cr_assert_eq(rb_qmodel_build(&qm, m, &q, &err), RB_EINVAL);
    cr_assert(strstr(err.msg, "rtn or gptq"), "%s", err.msg);
    cr_assert_eq(rb_quant_weights_rtn(m, &q, &err), RB_OK);
    q.a.bits = RB_QUANT_OFF;
    cr_assert_eq(rb_qmodel_build(&qm, m, &q, &err), RB_EINVAL);
    cr_assert(strstr(err.msg, "--a-bits"), "%s", err.msg);
    q.a.bits = 8;
    q.a_split[RB_ACT_DOWN_IN] = (rb_quant_split){16, 2};
    cr_assert_eq(rb_qmodel_build(&qm, m, &q, &err), RB_EINVAL);
    cr_assert(strstr(err.msg, "mixed-precision"), "%s", err.msg);
    q.a_split[RB_ACT_DOWN_IN] = (rb_quant_split){0, 0};
    m->layers[0].w2[3] += 1e-3f; /* changed after quantization */
    cr_assert_eq(rb_qmodel_build(&qm, m, &q, &err), RB_EINVAL);
    cr_assert(strstr(err.msg, "not on the quantizer's grid"), "%s", err.msg);
    rb_quant_config_free(&q);
    rb_model_free(m);
}

/* The fake K/V quantization in place on the floats, with the integer
 * linears: what the integer forward did before K/V were held as codes. */
static int fake_kv(void *ctx, int layer, float *q, float *k, float *v, int T, const rb_config *c,
                   rb_error *err) {
    rb_qmodel *qm = ctx;
    return qm->fake.qkv(qm->fake.ctx, layer, q, k, v, T, c, err);
}

Test(qlinear, attention_reads_kv_codes_equal_to_fake_quantized_kv) {
    rb_model *base = rb_test_synth(64, 128, 2, 4, 2, 97, 5);
    const int n = 48 * base->cfg.vocab_size;
    struct { int k_bits, k_asym, k_gran, v_bits, v_asym, v_gran; } kvs[] = {
        {4, 0, RB_GRAN_GROUP, 4, 1, RB_GRAN_GROUP}, /* KV4 per token and head */
        {8, 1, RB_GRAN_ROW, 3, 0, RB_GRAN_TENSOR},
        {RB_QUANT_OFF, 0, RB_GRAN_ROW, 2, 1, RB_GRAN_ROW}, /* V only */
    };
    for (size_t i = 0; i < sizeof kvs / sizeof *kvs; i++) {
        rb_model *m;
        rb_error err = {0};
        cr_assert_eq(rb_model_clone(base, &m, &err), RB_OK);
        rb_quant_config q;
        config(&q, &cases[0]);
        q.kv_separate = 1;
        q.k = (rb_quant_spec){kvs[i].k_bits, kvs[i].k_asym, (rb_granularity)kvs[i].k_gran, 16, 1.0f, 0};
        q.v = (rb_quant_spec){kvs[i].v_bits, kvs[i].v_asym, (rb_granularity)kvs[i].v_gran, 16, 1.0f, 0};
        cr_assert_eq(rb_quant_weights_rtn(m, &q, &err), RB_OK, "%s", err.msg);
        rb_qmodel qm = {0};
        cr_assert_eq(rb_qmodel_build(&qm, m, &q, &err), RB_OK, "%s", err.msg);
        rb_hooks codes, floats;
        rb_qmodel_hooks(&qm, &codes);
        floats = codes;
        floats.qkv = fake_kv;
        floats.kv_codes = NULL;
        float *a = rb_test_logits(m, &codes), *b = rb_test_logits(m, &floats);
        cr_assert_eq(memcmp(a, b, sizeof(float) * n), 0, "case %zu: codes and floats differ", i);
        cr_expect_eq(qm.kv_on[0], kvs[i].k_bits != RB_QUANT_OFF);
        cr_expect(qm.kv_on[1]);
        /* and the K/V quantization is not a no-op */
        rb_hooks none = codes;
        none.qkv = NULL;
        none.kv_codes = NULL;
        float *c = rb_test_logits(m, &none);
        cr_expect_neq(memcmp(a, c, sizeof(float) * n), 0, "case %zu: K/V quantization had no effect", i);
        free(a), free(b), free(c);
        rb_qmodel_free(&qm);
        rb_quant_config_free(&q);
        rb_model_free(m);
    }
    rb_model_free(base);
}
