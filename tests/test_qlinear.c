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
