/* The paper suite's metric diff (eval/records_diff.h): equal records agree;
 * a moved metric, a missing metric and missing or new records are each one
 * row; non-metric fields and fields only the fresh record has are ignored;
 * the tolerance applies across thread counts only. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "eval/records.h"
#include "eval/records_diff.h"

static json_object *recs(const char *text) {
    rb_records r;
    rb_error err = {0};
    cr_assert_eq(rb_records_parse(text, strlen(text), "x.jsonl", &r, &err), RB_OK, "%s", err.msg);
    json_object *items = json_object_get(r.items);
    rb_records_free(&r);
    return items;
}

#define REC(KEY, THREADS, PPL, EXTRA)                                                        \
    "{\"run_key\": \"" KEY "\", \"labels\": {\"m\": \"" KEY "\"}, \"threads\": " THREADS     \
    ", \"ppl\": " PPL ", \"seconds\": 1.5, \"tasks\": {\"piqa\": {\"acc\": 0.5}}, "            \
    "\"window_nll\": [1.25, 2.5]" EXTRA "}\n"

static rb_diff diff(const char *a, const char *b, double tol) {
    json_object *x = recs(a), *y = recs(b);
    rb_diff d;
    rb_error err = {0};
    cr_assert_eq(rb_records_diff(x, y, tol, &d, &err), RB_OK, "%s", err.msg);
    json_object_put(x);
    json_object_put(y);
    return d;
}

Test(records_diff, equal_records_agree_and_other_fields_are_ignored) {
    rb_diff d = diff(REC("a", "2", "120.5", "") REC("b", "2", "130.25", ""),
                     REC("b", "2", "130.25", ", \"host\": \"x\"")
                         "{\"run_key\": \"a\", \"labels\": {\"m\": \"a\"}, \"threads\": 2, "
                         "\"ppl\": 120.5, \"seconds\": 99, \"tasks\": {\"piqa\": {\"acc\": 0.5, "
                         "\"acc_norm\": 0.1}}, \"window_nll\": [1.25, 2.5]}\n",
                     0);
    cr_expect_eq(d.n_rows, 0);
    cr_expect_eq(d.n_records, 2);
    cr_expect_eq(d.n_values, 8); /* ppl, tasks.piqa.acc, window_nll x2, per record */
    rb_diff_free(&d);
}

Test(records_diff, a_moved_metric_is_a_row_with_both_values) {
    rb_diff d = diff(REC("a", "2", "120.5", ""), REC("a", "2", "120.50000000000001", ""), 0);
    cr_assert_eq(d.n_rows, 1);
    cr_expect_eq(d.rows[0].kind, RB_DIFF_CHANGED);
    cr_expect_str_eq(d.rows[0].metric, "ppl");
    cr_expect_str_eq(d.rows[0].labels, "m=a");
    cr_expect_eq(d.rows[0].committed, 120.5);
    cr_expect_gt(d.rows[0].fresh, 120.5);
    char *t = rb_diff_format(&d, 10);
    cr_expect(strstr(t, "| m=a | ppl | 120.5 | 120.50000000000001 |") != NULL, "%s", t);
    free(t);
    rb_diff_free(&d);
    /* a nested metric and one window */
    d = diff(REC("a", "2", "1", ""),
             "{\"run_key\": \"a\", \"threads\": 2, \"ppl\": 1, \"tasks\": {\"piqa\": {\"acc\": 0.75}}, "
             "\"window_nll\": [1.25, 2.75]}\n",
             0);
    cr_assert_eq(d.n_rows, 2);
    cr_expect_str_eq(d.rows[0].metric, "tasks.piqa.acc");
    cr_expect_str_eq(d.rows[1].metric, "window_nll.1");
    rb_diff_free(&d);
}

Test(records_diff, missing_metrics_and_records) {
    rb_diff d = diff(REC("a", "2", "1", "") REC("b", "2", "2", ""),
                     "{\"run_key\": \"a\", \"threads\": 2, \"tasks\": {\"piqa\": {\"acc\": 0.5}}, "
                     "\"window_nll\": [1.25, 2.5]}\n" REC("c", "2", "3", ""),
                     0);
    cr_assert_eq(d.n_rows, 3);
    cr_expect_eq(d.rows[0].kind, RB_DIFF_NO_METRIC);
    cr_expect_str_eq(d.rows[0].metric, "ppl");
    cr_expect_eq(d.rows[1].kind, RB_DIFF_NO_RECORD);
    cr_expect_str_eq(d.rows[1].labels, "m=b");
    cr_expect_eq(d.rows[2].kind, RB_DIFF_NEW_RECORD);
    rb_diff_free(&d);
}

Test(records_diff, nonfinite_values_compare_by_their_marker) {
    rb_diff d = diff("{\"run_key\": \"a\", \"threads\": 1, \"ppl\": null, \"ppl_nonfinite\": \"inf\"}\n",
                     "{\"run_key\": \"a\", \"threads\": 1, \"ppl\": null, \"ppl_nonfinite\": \"inf\"}\n", 0);
    cr_expect_eq(d.n_rows, 0);
    cr_expect_eq(d.n_values, 1);
    rb_diff_free(&d);
    d = diff("{\"run_key\": \"a\", \"threads\": 1, \"ppl\": null, \"ppl_nonfinite\": \"inf\"}\n",
             "{\"run_key\": \"a\", \"threads\": 1, \"ppl\": 5}\n", 0);
    cr_expect_eq(d.n_rows, 1);
    rb_diff_free(&d);
}

Test(records_diff, tolerance_only_across_thread_counts_and_kernels) {
    /* 1e-6 relative apart */
    const char *a = REC("a", "2", "100", ""), *b2 = REC("a", "2", "100.0001", ""),
               *b1 = REC("a", "1", "100.0001", "");
    rb_diff d = diff(a, b2, 1e-3);
    cr_expect_eq(d.n_rows, 1, "same thread count must be bit-identical");
    rb_diff_free(&d);
    d = diff(a, b1, 1e-3);
    cr_expect_eq(d.n_rows, 0);
    cr_expect_eq(d.n_cross_setup, 1);
    cr_expect(fabs(d.max_rel - 1e-6) < 1e-9, "%g", d.max_rel);
    rb_diff_free(&d);
    d = diff(a, b1, 1e-7);
    cr_expect_eq(d.n_rows, 1);
    rb_diff_free(&d);
    /* the same thread count on another CPU's kernels: tolerance; the same
     * kernels: bit-identical */
    const char *k0 = "{\"run_key\": \"a\", \"threads\": 2, \"simd\": \"avx2+fma\", "
                     "\"blas_kernels\": \"Zen\", \"ppl\": 100}\n";
    const char *k1 = "{\"run_key\": \"a\", \"threads\": 2, \"simd\": \"avx512\", "
                     "\"blas_kernels\": \"Zen\", \"ppl\": 100.0001}\n";
    const char *k2 = "{\"run_key\": \"a\", \"threads\": 2, \"simd\": \"avx2+fma\", "
                     "\"blas_kernels\": \"SkylakeX\", \"ppl\": 100.0001}\n";
    const char *k3 = "{\"run_key\": \"a\", \"threads\": 2, \"simd\": \"avx2+fma\", "
                     "\"blas_kernels\": \"Zen\", \"ppl\": 100.0001}\n";
    const char *k4 = "{\"run_key\": \"a\", \"threads\": 2, \"simd\": \"avx2+fma\", "
                     "\"ppl\": 100.0001}\n";
    const char *other[] = {k1, k2, k4};
    for (int i = 0; i < 3; i++) {
        d = diff(k0, other[i], 1e-3);
        cr_expect_eq(d.n_rows, 0, "case %d", i);
        cr_expect_eq(d.n_cross_setup, 1, "case %d", i);
        rb_diff_free(&d);
    }
    d = diff(k0, k3, 1e-3);
    cr_expect_eq(d.n_rows, 1, "the same kernels must be bit-identical");
    cr_expect_eq(d.n_cross_setup, 0);
    rb_diff_free(&d);
}
