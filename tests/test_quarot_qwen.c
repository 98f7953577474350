/* QuaRot at Qwen2.5-7B's sizes (suite 'slow', not in the default run: about
 * 1.5 TFLOP of fused rotations): a synthetic one-layer model with dim 3584,
 * FFN 18944 (= 148·2^7, the Paley II base q = 73, an order the anchors lack),
 * 28 heads of 128 (head-wise Hadamard 28), 4 KV heads and a small vocabulary
 * keeps its fp32 logits to 1e-5 relative after quarot with every online
 * Hadamard on.  Prints the difference and the time on stderr (results/
 * records a run). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "core/quant.h"
#include "kernels/hadamard.h"
#include "methods/prepare.h"
#include "tests/test_models.h"
#include "tests/test_util.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

Test(quarot_qwen, qwen25_7b_sizes_are_exact, .timeout = 3600) {
    int k, m;
    cr_assert_eq(rb_hadamard_factor(18944, &k, &m, NULL), RB_OK);
    cr_assert(k == 148 && m == 7, "18944 = %d·2^%d", k, m);
    double t0 = now();
    rb_model *model = rb_test_synth(3584, 18944, 1, 28, 4, 256, 7);
    cr_assert_eq(model->cfg.head_dim, 128);
    rb_model *rotated;
    rb_error err = {0};
    cr_assert_eq(rb_model_clone(model, &rotated, &err), RB_OK, "%s", err.msg);
    const char *text = "quarot:rotation=random_hadamard:seed=0";
    rb_pipeline p;
    cr_assert_eq(rb_pipeline_parse(text, &p, &err), RB_OK, "%s", err.msg);
    rb_quant_config q;
    rb_quant_config_init(&q);
    rb_calib calib;
    rb_test_random_calib(&calib, model->cfg.vocab_size, 2, 32, 5);
    double t1 = now();
    cr_assert_eq(rb_prepare_model(rotated, &p, &q, &calib, 0, 0, &err), RB_OK, "%s", err.msg);
    double t2 = now();
    cr_assert(rotated->online.down_hadamard && rotated->online.qk_hadamard &&
              rotated->online.o_head_hadamard, "online Hadamards not all on");
    float *a = rb_test_logits(model, NULL), *b = rb_test_logits(rotated, NULL);
    double t3 = now();
    double d = rb_test_rel_maxdiff(b, a, (size_t)48 * model->cfg.vocab_size, 1e-3);
    fprintf(stderr,
            "quarot_qwen: dim 3584, FFN 18944 (148·2^7), 28/4 heads, 1 layer, vocab 256, %s: "
            "max relative logit difference %.3g over 48 tokens; synth+clone %.1f s, quarot %.1f s, "
            "two forwards %.1f s\n",
            text, d, t1 - t0, t2 - t1, t3 - t2);
    cr_expect_lt(d, 1e-5, "%s changed the fp32 logits by %g (relative)", text, d);
    free(a);
    free(b);
    rb_calib_free(&calib);
    rb_model_free(rotated);
    rb_model_free(model);
}
