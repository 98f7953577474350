/* The quantizer configuration of a run (core/quant.h, run/prepare.c): K and V
 * quantized separately (QuaRot's --k_* / --v_*), checked against a float64
 * quantizer written here from the formula in kernels/quant.h. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/quant.h"
#include "run/prepare.h"
#include "run/spec.h"
#include "tests/test_models.h"
#include "tests/test_util.h"

/* A GQA layout: 4 kv heads of head_dim 8 (kvdim 32). */
static rb_config kv_config(void) {
    rb_config c;
    memset(&c, 0, sizeof c);
    c.dim = 64;
    c.hidden_dim = 96;
    c.n_layers = 2;
    c.n_heads = 8;
    c.n_kv_heads = 4;
    c.head_dim = 8;
    c.vocab_size = 32;
    c.seq_len = 64;
    return c;
}

/* x [rows][cols] fake-quantized in float64 per the formula, groups of g
 * columns (g = cols: per row; rows < 0: the whole matrix). */
static void naive_quant(const float *x, double *out, int rows, int cols, int g, int bits,
                        int asym, double clip, int whole) {
    int n_groups = whole ? 1 : rows * ((cols + g - 1) / g);
    for (int gi = 0; gi < n_groups; gi++) {
        int r0 = whole ? 0 : gi / ((cols + g - 1) / g), r1 = whole ? rows : r0 + 1;
        int c0 = whole ? 0 : (gi % ((cols + g - 1) / g)) * g;
        int c1 = whole ? cols : (c0 + g < cols ? c0 + g : cols);
        double lo = 0, hi = 0;
        for (int r = r0; r < r1; r++)
            for (int c = c0; c < c1; c++) {
                double v = x[(size_t)r * cols + c];
                lo = v < lo ? v : lo;
                hi = v > hi ? v : hi;
            }
        double s, z = 0, qmin, qmax;
        if (asym) {
            s = clip * (hi - lo) / (pow(2, bits) - 1);
            qmin = 0;
            qmax = pow(2, bits) - 1;
        } else {
            double m = fabs(lo) > hi ? fabs(lo) : hi;
            s = clip * m / (pow(2, bits - 1) - 1);
            qmax = pow(2, bits - 1) - 1;
            qmin = -qmax;
        }
        if (s == 0) s = 1;
        if (asym) z = nearbyint(-clip * lo / s);
        for (int r = r0; r < r1; r++)
            for (int c = c0; c < c1; c++) {
                double q = nearbyint(x[(size_t)r * cols + c] / s) + z;
                q = q < qmin ? qmin : q > qmax ? qmax : q;
                out[(size_t)r * cols + c] = (q - z) * s;
            }
    }
}

/* Runs the qkv hook of q on random K and V [T][kvdim]; returns them. */
static void run_kv_hook(rb_quant_config *q, const rb_config *c, int T, float *k, float *v,
                        float *k0, float *v0, uint64_t seed) {
    rb_rng r;
    rb_rng_seed(&r, seed);
    size_t n = (size_t)T * c->n_kv_heads * c->head_dim;
    rb_test_fill_uniform(k0, n, -2, 2, &r);
    rb_test_fill_uniform(v0, n, -2, 2, &r);
    for (size_t i = 3; i < n; i += 29) k0[i] *= 15; /* outliers */
    memcpy(k, k0, n * sizeof *k);
    memcpy(v, v0, n * sizeof *v);
    rb_hooks h;
    rb_quant_hooks(q, &h);
    rb_error err = {0};
    cr_assert_eq(h.qkv(h.ctx, 0, NULL, k, v, T, c, &err), RB_OK, "%s", err.msg);
}

/* max over elements of |got - want| / (the group's step); at most `ties`
 * elements may sit one step away (round-half-even in float vs double). */
static void assert_matches(const float *got, const double *want, size_t n, double step_bound,
                           const char *what) {
    int off = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs(got[i] - want[i]);
        if (d > 1e-5 * (fabs(want[i]) + 1)) off++;
        cr_assert(d <= step_bound * 1.0001 + 1e-6, "%s[%zu]: %g vs %g", what, i, got[i], want[i]);
    }
    cr_assert(off <= (int)(n / 500), "%s: %d of %zu elements differ from the float64 quantizer",
              what, off, n);
}

Test(quant_config, k_and_v_separately_match_a_float64_quantizer) {
    rb_config c = kv_config();
    int T = 37, kvdim = c.n_kv_heads * c.head_dim;
    size_t n = (size_t)T * kvdim;
    float *k = malloc(n * 4), *v = malloc(n * 4), *k0 = malloc(n * 4), *v0 = malloc(n * 4);
    double *want = malloc(n * 8);
    rb_quant_config q;
    rb_quant_config_init(&q);
    q.kv = (rb_quant_spec){8, 0, RB_GRAN_ROW, 0, 1.0f, 0}; /* ignored once separate */
    q.kv_separate = 1;
    q.k = (rb_quant_spec){4, 1, RB_GRAN_GROUP, 4, 0.95f, 0}; /* two groups inside each head */
    q.v = (rb_quant_spec){3, 0, RB_GRAN_ROW, 0, 0.9f, 0};    /* per token across heads */
    rb_error err = {0};
    cr_assert_eq(rb_quant_config_check(&q, &c, &err), RB_OK, "%s", err.msg);
    run_kv_hook(&q, &c, T, k, v, k0, v0, 7);
    naive_quant(k0, want, T, kvdim, 4, 4, 1, 0.95, 0);
    /* a step of the 4-bit asymmetric grid is at most clip·range/15 */
    assert_matches(k, want, n, 0.95 * 2 * 30 / 15.0, "k");
    naive_quant(v0, want, T, kvdim, kvdim, 3, 0, 0.9, 0);
    assert_matches(v, want, n, 0.9 * 2 / 3.0, "v");
    /* K and V really differ from the shared spec: V at 3 bits has at most 7 levels a row */
    for (int t = 0; t < T; t++) {
        float seen[64];
        int ns = 0;
        for (int j = 0; j < kvdim; j++) {
            int dup = 0;
            for (int i = 0; i < ns; i++) dup |= seen[i] == v[(size_t)t * kvdim + j];
            if (!dup) seen[ns++] = v[(size_t)t * kvdim + j];
        }
        cr_assert(ns <= 7, "token %d: %d levels at 3 bits", t, ns);
    }
    free(k); free(v); free(k0); free(v0); free(want);
}

Test(quant_config, kv_bounds_idempotence_and_groups_inside_heads) {
    rb_config c = kv_config();
    int T = 19, kvdim = c.n_kv_heads * c.head_dim;
    size_t n = (size_t)T * kvdim;
    float *k = malloc(n * 4), *v = malloc(n * 4), *k0 = malloc(n * 4), *v0 = malloc(n * 4);
    float *k2 = malloc(n * 4), *v2 = malloc(n * 4);
    rb_quant_config q;
    rb_quant_config_init(&q);
    q.kv_separate = 1;
    q.k = (rb_quant_spec){4, 0, RB_GRAN_GROUP, 2, 0.8f, 0};
    q.v = (rb_quant_spec){4, 1, RB_GRAN_GROUP, 8, 1.0f, 0};
    run_kv_hook(&q, &c, T, k, v, k0, v0, 11);
    /* bounds: symmetric K never exceeds clip · the group's max |x| */
    for (size_t g = 0; g < n; g += 2) {
        float m = fmaxf(fabsf(k0[g]), fabsf(k0[g + 1]));
        cr_assert(fabsf(k[g]) <= 0.8f * m * 1.0001f && fabsf(k[g + 1]) <= 0.8f * m * 1.0001f);
    }
    /* asymmetric V stays inside [min, max] of its head (0 included), give or
     * take the half step the rounded zero point moves the grid */
    for (size_t g = 0; g < n; g += 8) {
        float lo = 0, hi = 0;
        for (int i = 0; i < 8; i++) lo = fminf(lo, v0[g + i]), hi = fmaxf(hi, v0[g + i]);
        float half = 0.5f * (hi - lo) / 15 * 1.001f;
        for (int i = 0; i < 8; i++)
            cr_assert(v[g + i] >= lo - half && v[g + i] <= hi + half, "v[%zu] %g outside [%g, %g]",
                      g + i, v[g + i], lo, hi);
    }
    /* idempotence at clip 1: quantizing V again changes nothing (within a rounding step) */
    memcpy(v2, v, n * 4);
    memcpy(k2, k, n * 4);
    rb_hooks h;
    q.k.clip = 1.0f;
    rb_quant_hooks(&q, &h);
    rb_error err = {0};
    cr_assert_eq(h.qkv(h.ctx, 0, NULL, k2, v2, T, &c, &err), RB_OK);
    for (size_t i = 0; i < n; i++) {
        cr_assert(fabsf(v2[i] - v[i]) <= 1e-5f * (fabsf(v[i]) + 1), "v[%zu] %g -> %g", i, v[i], v2[i]);
        cr_assert(fabsf(k2[i] - k[i]) <= 1e-5f * (fabsf(k[i]) + 1), "k[%zu] %g -> %g", i, k[i], k2[i]);
    }
    /* groups inside a head are independent: a change in channel 0 of head 1
     * leaves channels 2.. of head 1 (other K groups) and the other heads' V alone */
    memcpy(k2, k0, n * 4);
    memcpy(v2, v0, n * 4);
    k2[8] *= 40;
    v2[8] *= 40;
    cr_assert_eq(h.qkv(h.ctx, 0, NULL, k2, v2, T, &c, &err), RB_OK);
    float *k1 = malloc(n * 4), *v1 = malloc(n * 4);
    memcpy(k1, k0, n * 4);
    memcpy(v1, v0, n * 4);
    cr_assert_eq(h.qkv(h.ctx, 0, NULL, k1, v1, T, &c, &err), RB_OK);
    for (int j = 0; j < kvdim; j++) {
        if (j >= 10) cr_assert_eq(k2[j], k1[j], "k channel %d changed", j);
        if (j < 8 || j >= 16) cr_assert_eq(v2[j], v1[j], "v channel %d changed", j);
    }
    free(k); free(v); free(k0); free(v0); free(k1); free(v1); free(k2); free(v2);
}

Test(quant_config, kv_groups_that_cross_heads_are_refused) {
    rb_config c = kv_config();
    rb_quant_config q;
    rb_quant_config_init(&q);
    rb_error err = {0};
    int ok_groups[] = {1, 2, 4, 8, 16, 32}, bad_groups[] = {3, 5, 12, 24};
    for (size_t i = 0; i < 6; i++) {
        q.kv = (rb_quant_spec){4, 0, RB_GRAN_GROUP, ok_groups[i], 1.0f, 0};
        cr_assert_eq(rb_quant_config_check(&q, &c, &err), RB_OK, "group %d: %s", ok_groups[i],
                     err.msg);
    }
    for (size_t i = 0; i < 4; i++) {
        q.kv_separate = 1;
        q.k = (rb_quant_spec){4, 0, RB_GRAN_ROW, 0, 1.0f, 0};
        q.v = (rb_quant_spec){4, 0, RB_GRAN_GROUP, bad_groups[i], 1.0f, 0};
        cr_assert_eq(rb_quant_config_check(&q, &c, &err), RB_EINVAL, "group %d", bad_groups[i]);
        cr_assert(strstr(err.msg, "v cache") && strstr(err.msg, "head"), "%s", err.msg);
    }
}

Test(quant_config, kv_flags_become_separate_specs_only_when_asked) {
    rb_config c = kv_config();
    rb_run_spec s;
    rb_run_spec_init(&s);
    s.kv_bits = 4;
    s.kv_asym = 1;
    rb_quant_config q;
    rb_error err = {0};
    cr_assert_eq(rb_run_quant(&s, &c, &q, &err), RB_OK, "%s", err.msg);
    cr_assert_eq(q.kv_separate, 0);
    cr_assert_eq(q.kv.gran, RB_GRAN_GROUP);
    cr_assert_eq(q.kv.group, 8);
    cr_assert_eq(q.kv.clip, 1.0f);
    cr_assert_eq(rb_quant_kv_spec(&q, 1), &q.kv);
    s.kv_clip = "0.95";
    s.v_bits = 3;
    s.k_gran = "group:4";
    cr_assert_eq(rb_run_quant(&s, &c, &q, &err), RB_OK, "%s", err.msg);
    cr_assert_eq(q.kv_separate, 1);
    cr_assert(q.k.bits == 4 && q.k.asym && q.k.gran == RB_GRAN_GROUP && q.k.group == 4);
    cr_assert(q.v.bits == 3 && q.v.asym && q.v.gran == RB_GRAN_GROUP && q.v.group == 8);
    cr_assert(q.k.clip == 0.95f && q.v.clip == 0.95f);
    s.v_clip = "0.5";
    cr_assert_eq(rb_run_quant(&s, &c, &q, &err), RB_OK);
    cr_assert(q.k.clip == 0.95f && q.v.clip == 0.5f);
    cr_assert_eq(rb_quant_kv_spec(&q, 0), &q.k);
    s.k_clip = "1.5";
    cr_assert_eq(rb_run_quant(&s, &c, &q, &err), RB_EINVAL);
    cr_assert(strstr(err.msg, "--k-clip"), "%s", err.msg);
}

/* ---- --w-override ---------------------------------------------------------------- */

Test(quant_config, overrides_parse_to_canonical_rules) {
    rb_quant_overrides o;
    rb_error err = {0};
    cr_assert_eq(rb_quant_overrides_parse("down_proj:bits=8;layer=0,-1:skip;wq:k_proj:group=32:"
                                          "asym=1:clip=0.9;layer=1..2:gran=tensor:clip=mse",
                                          &o, "--w-override", &err),
                 RB_OK, "%s", err.msg);
    cr_assert_eq(o.n, 4);
    char text[512];
    rb_quant_overrides_text(&o, text, sizeof text);
    cr_assert_str_eq(text, "w2:bits=8;layer=0,-1:skip;wq:wk:group=32:asym=1:clip=0.899999976;"
                           "layer=1..2:gran=tensor:clip=mse");
    rb_quant_overrides back;
    cr_assert_eq(rb_quant_overrides_parse(text, &back, "--w-override", &err), RB_OK, "%s", err.msg);
    char again[512];
    rb_quant_overrides_text(&back, again, sizeof again);
    cr_assert_str_eq(again, text);
    cr_assert_eq(rb_quant_overrides_parse("", &o, "--w-override", &err), RB_OK);
    cr_assert_eq(o.n, 0);
}

Test(quant_config, overrides_refuse_malformed_rules_naming_the_flag) {
    static const char *const bad[][2] = {
        {"down_proj", "sets nothing"},
        {"layer=0", "sets nothing"},
        {"down:bits=8", "unknown item"},
        {"w2:bits=9", "bits="},
        {"w2:bits=1", "bits="},
        {"w2:bits=8:bits=4", "twice"},
        {"w2:skip:bits=4", "twice"},
        {"w2:w2:skip", "named twice"},
        {"layer=:skip", "layer="},
        {"layer=1..:skip", "layer="},
        {"layer=a:skip", "layer="},
        {"layer=0:layer=1:skip", "twice"},
        {"w2:group=0", "group="},
        {"w2:gran=group:16", "gran="},
        {"w2:asym=2", "asym="},
        {"w2:clip=0", "clip="},
        {"w2:clip=1.5", "clip="},
        {"w2:clip=nan", "clip="},
        {"w2:clip=1e-66", "clip="}, /* > 0 as a double, 0 as the float it is kept as (fuzz) */
        {"w2:bits=8;", "empty item"},
        {"w2::bits=8", "empty item"},
        {"layer=0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16:skip", "16 at most"},
    };
    rb_quant_overrides o;
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        rb_error err = {0};
        cr_assert_eq(rb_quant_overrides_parse(bad[i][0], &o, "--w-override", &err), RB_EINVAL,
                     "'%s' accepted", bad[i][0]);
        cr_assert(strstr(err.msg, "--w-override") && strstr(err.msg, bad[i][1]),
                  "'%s': %s", bad[i][0], err.msg);
    }
    char many[512] = "";
    for (int i = 0; i < RB_QUANT_MAX_OVERRIDES + 1; i++) strcat(many, i ? ";w2:skip" : "w2:skip");
    rb_error err = {0};
    cr_assert_eq(rb_quant_overrides_parse(many, &o, "--w-override", &err), RB_EINVAL);
    cr_assert(strstr(err.msg, "more than"), "%s", err.msg);
}

Test(quant_config, overrides_apply_in_order_and_check_against_the_model) {
    rb_config c = kv_config(); /* 2 layers */
    rb_quant_config q;
    rb_quant_config_init(&q);
    q.w = (rb_quant_spec){4, 0, RB_GRAN_ROW, 0, 1.0f, 0};
    rb_error err = {0};
    cr_assert_eq(rb_quant_overrides_parse("down_proj:bits=8;layer=-1:skip;wq:group=16:asym=1",
                                          &q.w_override, "--w-override", &err),
                 RB_OK);
    rb_quant_spec s = rb_quant_weight_spec(&q, 0, 2, RB_W2);
    cr_assert(s.bits == 8 && s.gran == RB_GRAN_ROW);
    s = rb_quant_weight_spec(&q, 1, 2, RB_W2); /* the later skip wins */
    cr_assert_eq(s.bits, RB_QUANT_OFF);
    s = rb_quant_weight_spec(&q, 0, 2, RB_WQ);
    cr_assert(s.bits == 4 && s.gran == RB_GRAN_GROUP && s.group == 16 && s.asym);
    s = rb_quant_weight_spec(&q, 0, 2, RB_WK);
    cr_assert(s.bits == 4 && s.gran == RB_GRAN_ROW && !s.asym);
    cr_assert_eq(rb_quant_config_check(&q, &c, &err), RB_OK, "%s", err.msg);
    /* a group size the linear's width refuses names the rule and the weight */
    cr_assert_eq(rb_quant_overrides_parse("w2:group=200", &q.w_override, "--w-override", &err),
                 RB_OK);
    cr_assert_eq(rb_quant_config_check(&q, &c, &err), RB_EINVAL);
    cr_assert(strstr(err.msg, "rule 1") && strstr(err.msg, "w2"), "%s", err.msg);
    /* a rule that selects nothing in this model */
    cr_assert_eq(rb_quant_overrides_parse("layer=5:skip", &q.w_override, "--w-override", &err),
                 RB_OK);
    cr_assert_eq(rb_quant_config_check(&q, &c, &err), RB_EINVAL);
    cr_assert(strstr(err.msg, "selects no weight"), "%s", err.msg);
    /* weights on through an override alone */
    q.w.bits = RB_QUANT_OFF;
    cr_assert_eq(rb_quant_weights_on(&q), 0);
    cr_assert_eq(rb_quant_overrides_parse("w2:bits=8", &q.w_override, "--w-override", &err), RB_OK);
    cr_assert_eq(rb_quant_weights_on(&q), 1);
}

/* RTN with overrides: each weight equals the float64 quantizer of its own
 * spec; skipped weights are bit for bit the original. */
Test(quant_config, rtn_with_overrides_matches_per_weight_reference) {
    rb_model *m = rb_test_synth(32, 48, 3, 4, 2, 40, 5);
    rb_model *orig = rb_test_synth(32, 48, 3, 4, 2, 40, 5);
    rb_quant_config q;
    rb_quant_config_init(&q);
    q.w = (rb_quant_spec){4, 0, RB_GRAN_ROW, 0, 1.0f, 0};
    rb_error err = {0};
    cr_assert_eq(rb_quant_overrides_parse("down_proj:bits=8;layer=0,-1:skip;wq:group=8",
                                          &q.w_override, "--w-override", &err),
                 RB_OK);
    cr_assert_eq(rb_quant_config_check(&q, &m->cfg, &err), RB_OK, "%s", err.msg);
    cr_assert_eq(rb_quant_weights_rtn(m, &q, &err), RB_OK, "%s", err.msg);
    for (int l = 0; l < 3; l++)
        for (int id = 0; id < RB_LINEAR_COUNT; id++) {
            rb_weight_view v = rb_model_weight(m, l, (rb_linear_id)id);
            rb_weight_view o = rb_model_weight(orig, l, (rb_linear_id)id);
            size_t n = (size_t)v.rows * v.cols;
            if (l != 1) {
                cr_assert_eq(memcmp(v.w, o.w, n * 4), 0, "layer %d %s changed", l,
                             rb_linear_name((rb_linear_id)id));
                continue;
            }
            int bits = id == RB_W2 ? 8 : 4, g = id == RB_WQ ? 8 : v.cols;
            double *want = malloc(n * 8);
            naive_quant(o.w, want, v.rows, v.cols, g, bits, 0, 1.0, 0);
            double step = 0;
            for (size_t i = 0; i < n; i++) step = fmax(step, fabs(o.w[i]));
            assert_matches(v.w, want, n, step / ((1 << (bits - 1)) - 1),
                           rb_linear_name((rb_linear_id)id));
            free(want);
        }
    rb_quant_config_free(&q); /* the weight parameters rtn kept */
    rb_model_free(m);
    rb_model_free(orig);
}

Test(quant_config, overrides_reach_the_record_and_bad_text_names_the_flag) {
    rb_config c = kv_config();
    rb_run_spec s;
    rb_run_spec_init(&s);
    s.w_bits = 4;
    s.w_override = "down_proj:bits=8";
    rb_quant_config q;
    rb_error err = {0};
    cr_assert_eq(rb_run_quant(&s, &c, &q, &err), RB_OK, "%s", err.msg);
    cr_assert_eq(q.w_override.n, 1);
    s.w_override = "down_proj:bits=80";
    cr_assert_eq(rb_run_quant(&s, &c, &q, &err), RB_EINVAL);
    cr_assert(strstr(err.msg, "--w-override"), "%s", err.msg);
}

/* --a-override: the activation hook quantizes each linear input with its
 * own spec (checked against the float64 quantizer); a rule naming one of
 * wq/wk/wv selects their shared input. */
Test(quant_config, activation_overrides_per_layer_and_input) {
    rb_config c = kv_config(); /* 2 layers, dim 64, hidden 96 */
    rb_quant_config q;
    rb_quant_config_init(&q);
    q.a = (rb_quant_spec){4, 0, RB_GRAN_ROW, 0, 1.0f, 0};
    rb_error err = {0};
    cr_assert_eq(rb_quant_overrides_parse("down_proj:bits=8;layer=-1:skip;k_proj:layer=0:asym=1",
                                          &q.a_override, "--a-override", &err),
                 RB_OK);
    cr_assert_eq(rb_quant_config_check(&q, &c, &err), RB_OK, "%s", err.msg);
    q.override_layers = c.n_layers;
    rb_quant_spec s = rb_quant_act_spec(&q, 0, RB_ACT_DOWN_IN);
    cr_assert(s.bits == 8 && s.gran == RB_GRAN_ROW);
    s = rb_quant_act_spec(&q, 0, RB_ACT_QKV_IN); /* through k_proj: q/k/v share the input */
    cr_assert(s.bits == 4 && s.asym);
    s = rb_quant_act_spec(&q, 1, RB_ACT_QKV_IN);
    cr_assert_eq(s.bits, RB_QUANT_OFF);
    s = rb_quant_act_spec(&q, 0, RB_ACT_O_IN);
    cr_assert(s.bits == 4 && !s.asym);
    rb_hooks h;
    rb_quant_hooks(&q, &h);
    int T = 13, n = 96;
    float *x = malloc(sizeof(float) * T * n), *x0 = malloc(sizeof(float) * T * n);
    double *want = malloc(sizeof(double) * T * n);
    rb_rng r;
    rb_rng_seed(&r, 3);
    rb_test_fill_uniform(x0, (size_t)T * n, -2, 2, &r);
    memcpy(x, x0, sizeof(float) * T * n);
    cr_assert_eq(h.activation(h.ctx, 0, RB_ACT_DOWN_IN, x, T, n, &err), RB_OK);
    naive_quant(x0, want, T, n, n, 8, 0, 1.0, 0);
    assert_matches(x, want, (size_t)T * n, 2.0 / 127, "down_in at 8 bits");
    memcpy(x, x0, sizeof(float) * T * 64);
    cr_assert_eq(h.activation(h.ctx, 1, RB_ACT_QKV_IN, x, T, 64, &err), RB_OK);
    cr_assert_eq(memcmp(x, x0, sizeof(float) * T * 64), 0, "the skipped input changed");
    memcpy(x, x0, sizeof(float) * T * 64);
    cr_assert_eq(h.activation(h.ctx, 0, RB_ACT_O_IN, x, T, 64, &err), RB_OK);
    naive_quant(x0, want, T, 64, 64, 4, 0, 1.0, 0);
    assert_matches(x, want, (size_t)T * 64, 2.0 / 7, "o_in at the base 4 bits");
    /* a group size an input width refuses, a rule that selects nothing */
    cr_assert_eq(rb_quant_overrides_parse("w2:group=200", &q.a_override, "--a-override", &err),
                 RB_OK);
    cr_assert_eq(rb_quant_config_check(&q, &c, &err), RB_EINVAL);
    cr_assert(strstr(err.msg, "--a-override rule 1"), "%s", err.msg);
    cr_assert_eq(rb_quant_overrides_parse("layer=7:skip", &q.a_override, "--a-override", &err),
                 RB_OK);
    cr_assert_eq(rb_quant_config_check(&q, &c, &err), RB_EINVAL);
    cr_assert(strstr(err.msg, "selects no input"), "%s", err.msg);
    free(x); free(x0); free(want);
}
