/* libFuzzer target: rotbench compare on a results file (eval/compare.h):
 * selection, pairing, the per-window NLL arrays (window_nll, window_tokens)
 * read and checked, the bootstrap; and a table cell's interval. */
#include <math.h>
#include <stdlib.h>

#include "eval/compare.h"
#include "eval/records.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    rb_records r;
    rb_error err = {0};
    if (rb_records_parse((const char *)data, size, "fuzz.jsonl", &r, &err) != RB_OK) {
        if (!err.msg[0]) abort();
        return 0;
    }
    rb_where a = {"method", "A"}, b = {NULL, "B"};
    rb_compare_source src = {"fuzz.jsonl", r.items};
    for (int metric = 0; metric < 2; metric++) {
        rb_compare_spec spec = {.a = &a, .n_a = 1, .b = &b, .n_b = 1, .bootstrap = 20,
                                .seed = 1, .confidence = 0.9, .expect = -1,
                                .metric = metric ? "nll" : NULL};
        rb_compare_result res;
        err.msg[0] = 0;
        if (rb_compare(&src, &spec, &res, &err) != RB_OK) {
            if (!err.msg[0]) abort();
            continue;
        }
        if (res.n_pairs == 0 || !res.pairs) abort();
        if (res.n_boot && !(res.boot_lo <= res.boot_hi)) abort();
        json_object_put(rb_compare_json(&res, &spec));
        rb_compare_result_free(&res);
    }
    size_t n = rb_records_count(&r);
    json_object **recs = malloc((n ? n : 1) * sizeof *recs);
    for (size_t i = 0; i < n; i++) recs[i] = rb_records_get(&r, i);
    double lo, hi;
    err.msg[0] = 0;
    int rc = rb_records_mean_interval(recs, n, RB_WINDOW_PPL, 20, 1, 0.9, &lo, &hi, &err);
    if (rc < 0 && !err.msg[0]) abort();
    if (rc == 0 && !(lo <= hi)) abort();
    free(recs);
    rb_records_free(&r);
    return 0;
}
