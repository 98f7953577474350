/* The papers' claims that the committed result tables support, as
 * assertions over the results/ JSONL files (meson test --suite tables).  Claims that
 * do not hold on these models are not asserted here; they are reported with
 * their numbers in results/README.md. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "eval/records.h"

#ifndef RB_SOURCE_ROOT
#define RB_SOURCE_ROOT "."
#endif

static rb_records load(const char *name) {
    char path[1024];
    snprintf(path, sizeof path, "%s/results/%s", RB_SOURCE_ROOT, name);
    rb_records r;
    rb_error err;
    cr_assert_eq(rb_records_read(path, 0, &r, &err), RB_OK, "%s", err.msg);
    cr_assert_gt(rb_records_count(&r), 0, "%s has no records", path);
    return r;
}

/* Mean ppl of the records whose labels match every axis=label pair given
 * (NULL-terminated pairs); fails the test when none matches. */
static double mean_ppl(const rb_records *r, const char *const *pairs) {
    double sum = 0;
    int n = 0;
    for (size_t i = 0; i < rb_records_count(r); i++) {
        json_object *rec = rb_records_get(r, i);
        int ok = 1;
        for (int k = 0; pairs[k]; k += 2) {
            const char *l = rb_record_label(rec, pairs[k]);
            ok &= l && !strcmp(l, pairs[k + 1]);
        }
        double v;
        if (ok && rb_record_number(rec, "ppl", &v) == 0) sum += v, n++;
    }
    cr_assert_gt(n, 0, "no record for %s=%s %s=%s %s=%s", pairs[0], pairs[1],
                 pairs[2] ? pairs[2] : "", pairs[2] ? pairs[3] : "",
                 pairs[2] && pairs[4] ? pairs[4] : "", pairs[2] && pairs[4] ? pairs[5] : "");
    return sum / n;
}

static const char *const models[] = {"stories260K", "stories260K+outliers"};

Test(tables, gptq_beats_rtn_at_w4_per_channel_and_group32) {
    rb_records r = load("gptq_vs_rtn.jsonl");
    const char *grans[] = {"W4 per-channel", "W4 group 32"};
    for (int m = 0; m < 2; m++)
        for (int g = 0; g < 2; g++) {
            const char *rtn[] = {"model", models[m], "gran", grans[g], "method", "RTN", NULL};
            const char *gptq[] = {"model", models[m], "gran", grans[g], "method", "GPTQ", NULL};
            double a = mean_ppl(&r, rtn), b = mean_ppl(&r, gptq);
            cr_expect_lt(b, a, "%s %s: GPTQ ppl %.3f is not below RTN %.3f", models[m], grans[g], b, a);
        }
    rb_records_free(&r);
}

/* Holds on stories260K in both columns and on the outlier model with
 * alpha 0.5; with alpha 0.85 the outlier model lands at +1.1% / +1.2%
 * (results/README.md), so that cell is not asserted. */
Test(tables, w8a8_per_channel_per_token_dynamic_within_1pct_of_fp) {
    rb_records r = load("w8a8_grid.jsonl");
    const char *cols[] = {"SmoothQuant a=0.85", "SmoothQuant a=0.5"};
    const char *rows[] = {"W per-channel, A per-token, dynamic",
                          "W per-channel, A per-token, KV per-token, dynamic"};
    for (int m = 0; m < 2; m++)
        for (int c = 0; c < 2; c++) {
            if (m == 1 && c == 0) continue;
            const char *fp[] = {"model", models[m], "col", cols[c], "row", "FP32 (no quantization)", NULL};
            double base = mean_ppl(&r, fp);
            for (int k = 0; k < 2; k++) {
                const char *q[] = {"model", models[m], "col", cols[c], "row", rows[k], NULL};
                double v = mean_ppl(&r, q);
                cr_expect_leq(v, 1.01 * base, "%s, %s, %s: ppl %.4f vs FP %.4f (+%.2f%%)", models[m],
                              cols[c], rows[k], v, base, 100 * (v / base - 1));
            }
        }
    rb_records_free(&r);
}

Test(tables, smoothing_helps_the_outlier_model_at_w8a8_per_tensor_static) {
    rb_records r = load("alpha_sweep.jsonl");
    const char *none[] = {"model", "stories260K+outliers", "alpha", "0.0", NULL};
    double base = mean_ppl(&r, none), best = INFINITY;
    char best_alpha[8] = "";
    for (int a = 1; a < 10; a++) {
        char label[8];
        snprintf(label, sizeof label, "0.%d", a);
        const char *q[] = {"model", "stories260K+outliers", "alpha", label, NULL};
        double v = mean_ppl(&r, q);
        if (v < best) best = v, snprintf(best_alpha, sizeof best_alpha, "%s", label);
    }
    cr_expect_lt(best, base, "best alpha %s gives %.3f, no smoothing %.3f", best_alpha, best, base);
    /* and the planted outliers really hurt the unsmoothed quantized model */
    const char *plain[] = {"model", "stories260K", "alpha", "0.0", NULL};
    cr_expect_gt(base, mean_ppl(&r, plain));
    rb_records_free(&r);
}

/* ---- QuaRot (results/quarot_table.jsonl, results/w8a8_grid.jsonl) ----------
 * Asserted on both models and both corpora.  What does not hold (QuaRot+RTN
 * behind RTN at W4A8KV8/W4A16 on stories260K) is in results/README.md. */

static double quarot_cell(const rb_records *r, const char *model, const char *task,
                          const char *bits, const char *method) {
    const char *q[] = {"model", model, "task", task, "bits", bits, "method", method, NULL};
    return mean_ppl(r, q);
}

static const char *const tasks[] = {"wikitext2", "tinystories"};

Test(tables, quarot_beats_rtn_and_smoothquant_at_w4a4kv4) {
    rb_records r = load("quarot_table.jsonl");
    for (int m = 0; m < 2; m++)
        for (int t = 0; t < 2; t++) {
            double q = quarot_cell(&r, models[m], tasks[t], "W4A4KV4", "QuaRot");
            double rtn = quarot_cell(&r, models[m], tasks[t], "W4A4KV4", "RTN");
            double sq = quarot_cell(&r, models[m], tasks[t], "W4A4KV4", "SmoothQuant");
            cr_expect_lt(q, rtn, "%s %s: QuaRot %.3f vs RTN %.3f", models[m], tasks[t], q, rtn);
            cr_expect_lt(q, sq, "%s %s: QuaRot %.3f vs SmoothQuant %.3f", models[m], tasks[t], q,
                         sq);
        }
    rb_records_free(&r);
}

Test(tables, quarot_gptq_beats_quarot_rtn_at_w4a4kv4) {
    rb_records r = load("quarot_table.jsonl");
    for (int m = 0; m < 2; m++)
        for (int t = 0; t < 2; t++) {
            double g = quarot_cell(&r, models[m], tasks[t], "W4A4KV4", "QuaRot+GPTQ");
            double q = quarot_cell(&r, models[m], tasks[t], "W4A4KV4", "QuaRot");
            cr_expect_lt(g, q, "%s %s: QuaRot+GPTQ %.3f vs QuaRot+RTN %.3f", models[m], tasks[t],
                         g, q);
        }
    rb_records_free(&r);
}

Test(tables, w8a8_with_rotation_within_1pct_of_fp) {
    rb_records r = load("quarot_table.jsonl");
    for (int m = 0; m < 2; m++)
        for (int t = 0; t < 2; t++) {
            double fp = quarot_cell(&r, models[m], tasks[t], "W4A4KV4", "FP");
            double q = quarot_cell(&r, models[m], tasks[t], "W8A8", "QuaRot");
            cr_expect_leq(q, 1.01 * fp, "%s %s: W8A8 QuaRot %.4f vs FP %.4f (+%.2f%%)", models[m],
                          tasks[t], q, fp, 100 * (q / fp - 1));
        }
    rb_records_free(&r);
    /* the W8A8 grid's third column, per-channel weights and per-token activations */
    r = load("w8a8_grid.jsonl");
    const char *rows[] = {"W per-channel, A per-token, dynamic",
                          "W per-channel, A per-token, KV per-token, dynamic"};
    for (int m = 0; m < 2; m++) {
        const char *col = "SmoothQuant fc-fc a=0.5 + rotation";
        const char *fp[] = {"model", models[m], "col", col, "row", "FP32 (no quantization)", NULL};
        double base = mean_ppl(&r, fp);
        for (int k = 0; k < 2; k++) {
            const char *q[] = {"model", models[m], "col", col, "row", rows[k], NULL};
            double v = mean_ppl(&r, q);
            cr_expect_leq(v, 1.01 * base, "%s, %s: ppl %.4f vs FP %.4f", models[m], rows[k], v, base);
        }
    }
    rb_records_free(&r);
}

/* ---- ResQ (results/quarot_table.jsonl, results/resq_fraction.jsonl) -------- */

Test(tables, resq_beats_quarot_at_w4a4kv4) {
    rb_records r = load("quarot_table.jsonl");
    for (int m = 0; m < 2; m++)
        for (int t = 0; t < 2; t++) {
            double resq = quarot_cell(&r, models[m], tasks[t], "W4A4KV4", "ResQ");
            double q = quarot_cell(&r, models[m], tasks[t], "W4A4KV4", "QuaRot");
            cr_expect_lt(resq, q, "%s %s: ResQ %.3f vs QuaRot %.3f", models[m], tasks[t], resq, q);
        }
    rb_records_free(&r);
}

/* Fraction 0 keeps no channel at high precision: a PCA basis and one random
 * rotation of the whole space, i.e. a QuaRot-like rotation.  Its perplexity
 * must land near QuaRot's (within 15%: both vary by ± 8-20% over seeds) and
 * above ResQ's 1/8. */
Test(tables, resq_fraction_zero_is_quarot_like) {
    rb_records q = load("quarot_table.jsonl"), f = load("resq_fraction.jsonl");
    for (int m = 0; m < 2; m++) {
        double quarot = quarot_cell(&q, models[m], "wikitext2", "W4A4KV4", "QuaRot");
        const char *zero[] = {"model", models[m], "fraction", "0", NULL};
        const char *eighth[] = {"model", models[m], "fraction", "0.125", NULL};
        double z = mean_ppl(&f, zero), e = mean_ppl(&f, eighth);
        cr_expect(z > 0.85 * quarot && z < 1.15 * quarot,
                  "%s: fraction 0 gives %.2f, QuaRot %.2f", models[m], z, quarot);
        cr_expect_lt(e, z, "%s: fraction 1/8 %.2f vs 0 %.2f", models[m], e, z);
    }
    rb_records_free(&q);
    rb_records_free(&f);
}

/* SpinQuant's claim over QuaRot, where it holds here: with GPTQ weights and
 * rotations learned in-domain (the rest of wikitext2, --calib-skip), learned
 * rotations beat QuaRot's random Hadamards at W4A4KV4 on wikitext2 for both
 * models (3 seeds; the margin is about one seed std).  Learned vs. their own
 * random-Hadamard start with RTN weights, and the tinystories columns, do
 * not hold: results/README.md "SpinQuant". */
Test(tables, spinquant_gptq_beats_quarot_gptq_at_w4a4kv4_on_wikitext2) {
    rb_records r = load("spinquant_table.jsonl");
    for (int m = 0; m < 2; m++) {
        const char *sq[] = {"model", models[m], "task", "wikitext2", "bits", "W4A4KV4",
                            "method", "SpinQuant+GPTQ", NULL};
        const char *qr[] = {"model", models[m], "task", "wikitext2", "bits", "W4A4KV4",
                            "method", "QuaRot+GPTQ", NULL};
        double a = mean_ppl(&r, sq), b = mean_ppl(&r, qr);
        cr_expect_lt(a, b, "%s: SpinQuant+GPTQ %.2f is not below QuaRot+GPTQ %.2f", models[m], a, b);
    }
    rb_records_free(&r);
}
