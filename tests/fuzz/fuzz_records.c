/* libFuzzer target: the results reader (rb_records_parse), the field
 * accessors the table and plot writers use on what it returns, and the paper
 * suite's metric diff (rb_records_diff): a set of records compared with
 * itself has no difference. */
#include <stdlib.h>
#include <string.h>

#include "eval/records.h"
#include "eval/records_diff.h"

/* Whether every record has a string run_key and no two share one. */
static int keys_unique(json_object *items) {
    size_t n = json_object_array_length(items);
    for (size_t i = 0; i < n; i++) {
        json_object *k;
        if (!json_object_object_get_ex(json_object_array_get_idx(items, i), "run_key", &k) ||
            !json_object_is_type(k, json_type_string))
            return 0;
        for (size_t j = 0; j < i; j++) {
            json_object *o;
            json_object_object_get_ex(json_object_array_get_idx(items, j), "run_key", &o);
            if (!strcmp(json_object_get_string(o), json_object_get_string(k))) return 0;
        }
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    rb_records r;
    rb_error err = {0};
    if (rb_records_parse((const char *)data, size, "fuzz.jsonl", &r, &err) != RB_OK) {
        if (!err.msg[0]) abort();
        return 0;
    }
    if (r.keep_bytes > size || r.n_issues > r.n_lines) abort();
    volatile double sum = 0;
    for (size_t i = 0; i < rb_records_count(&r); i++) {
        json_object *rec = rb_records_get(&r, i);
        if (!json_object_is_type(rec, json_type_object)) abort(); /* records are objects */
        double v;
        if (rb_record_number(rec, "ppl", &v) == 0) sum += v;
        if (rb_record_number(rec, "metrics.acc", &v) == 0) sum += v;
        if (rb_record_number(rec, "method.prepare_seconds", &v) == 0) sum += v;
        const char *l = rb_record_label(rec, "method");
        if (l) sum += l[0];
    }
    (void)sum;
    rb_diff d;
    if (r.items && rb_records_diff(r.items, r.items, 0, &d, &err) == RB_OK) {
        /* records pair by run_key: without one each, or with one twice, a
         * record may have no partner or another's */
        if (d.n_rows && keys_unique(r.items)) abort();
        free(rb_diff_format(&d, 10));
        rb_diff_free(&d);
    }
    rb_records_free(&r);
    return 0;
}
