/* The paper suite's claims and their check (tests/paper/paper_claims.h).
 * Which claims are here, which are within noise in the reduced runs and which
 * are contradicted: README "Paper tables". */
#include "tests/paper/paper_claims.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "base/process.h"
#include "eval/records.h"

#define OUT "stories260K+outliers"

const rb_paper_claim rb_paper_claims[] = {
    /* gptq_vs_rtn: GPTQ beats RTN at W4, per-channel and group 32, both models */
    {"gptq_vs_rtn", "GPTQ beats RTN, W4 per-channel",
     {"method=GPTQ"}, {"method=RTN"}, {"model=stories260K", "gran=W4 per-channel"}, NULL, "a<b"},
    {"gptq_vs_rtn", "GPTQ beats RTN, W4 group 32",
     {"method=GPTQ"}, {"method=RTN"}, {"model=stories260K", "gran=W4 group 32"}, NULL, "a<b"},
    {"gptq_vs_rtn", "GPTQ beats RTN, W4 per-channel, outlier model",
     {"method=GPTQ"}, {"method=RTN"}, {"model=" OUT, "gran=W4 per-channel"}, NULL, "a<b"},
    {"gptq_vs_rtn", "GPTQ beats RTN, W4 group 32, outlier model",
     {"method=GPTQ"}, {"method=RTN"}, {"model=" OUT, "gran=W4 group 32"}, NULL, "a<b"},
    /* alpha_sweep: the planted outliers hurt the unsmoothed quantized model
     * (that some alpha beats alpha 0 is within noise, in the full sweep too) */
    {"alpha_sweep", "planted outliers hurt W8A8 per-tensor static without smoothing",
     {"model=" OUT}, {"model=stories260K"}, {"alpha=0.0"}, NULL, "a>b"},
    /* w8a8_grid: on the outlier model per-tensor static activations lose to
     * per-channel/per-token dynamic, and the rotation column repairs them */
    {"w8a8_grid", "outlier model: A per-tensor static worse than per-token dynamic (a=0.5)",
     {"row=W per-tensor, A per-tensor, static"}, {"row=W per-channel, A per-token, dynamic"},
     {"model=" OUT, "col=SmoothQuant a=0.5"}, NULL, "a>b"},
    {"w8a8_grid", "outlier model, per-tensor static: rotation + fc-fc beats SmoothQuant a=0.5",
     {"col=SmoothQuant fc-fc a=0.5 + rotation"}, {"col=SmoothQuant a=0.5"},
     {"model=" OUT, "row=W per-tensor, A per-tensor, static"}, NULL, "a<b"},
    /* quarot_table (W4A4KV4, wikitext2) */
    {"quarot_table", "QuaRot beats RTN", {"method=QuaRot"}, {"method=RTN"},
     {"model=stories260K"}, NULL, "a<b"},
    {"quarot_table", "QuaRot beats RTN, outlier model", {"method=QuaRot"}, {"method=RTN"},
     {"model=" OUT}, NULL, "a<b"},
    {"quarot_table", "QuaRot beats SmoothQuant", {"method=QuaRot"}, {"method=SmoothQuant"},
     {"model=stories260K"}, NULL, "a<b"},
    {"quarot_table", "QuaRot beats SmoothQuant, outlier model", {"method=QuaRot"},
     {"method=SmoothQuant"}, {"model=" OUT}, NULL, "a<b"},
    {"quarot_table", "ResQ beats QuaRot", {"method=ResQ"}, {"method=QuaRot"},
     {"model=stories260K"}, NULL, "a<b"},
    {"quarot_table", "ResQ beats QuaRot, outlier model", {"method=ResQ"}, {"method=QuaRot"},
     {"model=" OUT}, NULL, "a<b"},
    {"quarot_table", "QuaRot+GPTQ beats QuaRot+RTN, outlier model", {"method=QuaRot+GPTQ"},
     {"method=QuaRot"}, {"model=" OUT}, NULL, "a<b"},
    /* resq_fraction: 1/8 at 8 bits beats fraction 0 (on the outlier model
     * too in the committed reduced run, made on an AVX2 machine, but on an
     * AVX-512 one the same run is within noise: 233.08 vs 258.05, interval
     * [-75.9, +11.3] over its 8 windows; not asserted there) */
    {"resq_fraction", "ResQ 1/8 beats fraction 0", {"fraction=0.125"}, {"fraction=0"},
     {"model=stories260K"}, NULL, "a<b"},
    /* spinquant_table: SpinQuant+GPTQ < QuaRot+GPTQ is within noise in the
     * reduced run under the published recipe (SGDG, cosine; 20 iterations):
     * 179.28 vs 173.35, [-14.28, 18.24] (175.85 vs 173.48 before the SGDG step
     * dropped Rᵀ·(R·M)); not asserted (README) */
    /* zeroshot: W4A4KV4 RTN hurts wikitext2 perplexity */
    {"zeroshot", "W4A4KV4 RTN raises wikitext2 perplexity over FP", {"method=W4A4KV4 RTN"},
     {"method=FP"}, {"task=wikitext2"}, NULL, "a>b"},
    {"zeroshot", "W4A4KV4 QuaRot beats RTN on wikitext2 perplexity", {"method=W4A4KV4 QuaRot"},
     {"method=W4A4KV4 RTN"}, {"task=wikitext2"}, NULL, "a<b"},
    {NULL, NULL, {NULL}, {NULL}, {NULL}, NULL, NULL},
};

static int n_items(const char *const *s) {
    int n = 0;
    while (n < 4 && s[n]) n++;
    return n;
}

/* compare splits a selector at every ',', so it cannot name such a label. */
static int compare_can_select(const rb_paper_claim *c) {
    const char *const *lists[] = {c->a, c->b, c->where};
    for (int l = 0; l < 3; l++)
        for (int i = 0; i < n_items(lists[l]); i++)
            if (strchr(lists[l][i], ',')) return 0;
    return 1;
}

static int have_compare(const char *exe) {
    char *argv[] = {(char *)exe, "compare", "--help", NULL};
    char *out = NULL, *errs = NULL;
    int status = 0;
    rb_error err;
    int rc = rb_run_capture(argv, NULL, &out, &errs, &status, &err);
    free(out);
    free(errs);
    return !rc && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static int matches(json_object *rec, const char *const *sel) {
    for (int i = 0; i < n_items(sel); i++) {
        const char *eq = strchr(sel[i], '=');
        char axis[128];
        snprintf(axis, sizeof axis, "%.*s", (int)(eq - sel[i]), sel[i]);
        const char *l = rb_record_label(rec, axis);
        if (!l || strcmp(l, eq + 1)) return 0;
    }
    return 1;
}

/* The fallback: mean of the metric on each side, compared as numbers (no
 * interval: a claim within noise passes).  1 holds, 0 not, -1 no records. */
static int bare_inequality_of_means(const char *fresh, const rb_paper_claim *c) {
    rb_records r;
    rb_error err;
    if (rb_records_read(fresh, 0, &r, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    double sum[2] = {0, 0};
    int n[2] = {0, 0};
    for (size_t i = 0; i < rb_records_count(&r); i++) {
        json_object *rec = rb_records_get(&r, i);
        double v;
        if (!matches(rec, c->where) || rb_record_number(rec, c->metric ? c->metric : "ppl", &v))
            continue;
        for (int s = 0; s < 2; s++)
            if (matches(rec, s ? c->b : c->a)) sum[s] += v, n[s]++;
    }
    rb_records_free(&r);
    if (!n[0] || !n[1]) {
        printf("  no records on side %s\n", n[0] ? "b" : "a");
        return -1;
    }
    double ma = sum[0] / n[0], mb = sum[1] / n[1];
    int holds = !strcmp(c->expect, "a<b") ? ma < mb : ma > mb;
    printf("  bare_inequality_of_means: mean a %.6g (%d), mean b %.6g (%d): %s\n", ma, n[0], mb,
           n[1], holds ? "holds" : "does not hold");
    return holds;
}

static int check_with_compare(const char *exe, const char *fresh, const rb_paper_claim *c) {
    char *argv[40];
    int k = 0;
    argv[k++] = (char *)exe, argv[k++] = "compare", argv[k++] = (char *)fresh;
    for (int i = 0; i < n_items(c->a); i++) argv[k++] = "--a", argv[k++] = (char *)c->a[i];
    for (int i = 0; i < n_items(c->b); i++) argv[k++] = "--b", argv[k++] = (char *)c->b[i];
    for (int i = 0; i < n_items(c->where); i++)
        argv[k++] = "--where", argv[k++] = (char *)c->where[i];
    if (c->metric) argv[k++] = "--metric", argv[k++] = (char *)c->metric;
    argv[k++] = "--expect", argv[k++] = (char *)c->expect;
    argv[k] = NULL;
    char *line = rb_shell_join(argv), *out = NULL, *errs = NULL;
    printf("  %s\n", line ? line : "");
    free(line);
    int status = 0;
    rb_error err;
    if (rb_run_capture(argv, NULL, &out, &errs, &status, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    for (char *s = out; s && *s;) {
        char *nl = strchr(s, '\n');
        printf("    %.*s\n", (int)(nl ? nl - s : (long)strlen(s)), s);
        s = nl ? nl + 1 : s + strlen(s);
    }
    if (errs && *errs) printf("    (stderr) %s", errs);
    free(out);
    free(errs);
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (code == 0) return 1;
    if (code == 3 || code == 4) {
        printf("  %s\n", code == 3 ? "within noise" : "contradicted");
        return 0;
    }
    return -1;
}

int rb_paper_check_claims(const char *exe, const char *config, const char *fresh,
                          int *n_checked) {
    int compare = have_compare(exe), bad = 0;
    *n_checked = 0;
    if (!compare) printf("(rotbench has no compare command: every claim is a bare inequality)\n");
    for (const rb_paper_claim *c = rb_paper_claims; c->config; c++) {
        if (strcmp(c->config, config)) continue;
        (*n_checked)++;
        printf("claim: %s (%s)\n", c->what, c->expect);
        int ok = compare && compare_can_select(c) ? check_with_compare(exe, fresh, c)
                                                  : bare_inequality_of_means(fresh, c);
        if (ok < 0) return -1;
        printf("  %s\n", ok ? "HOLDS" : "FAILED");
        bad += !ok;
    }
    return bad;
}
