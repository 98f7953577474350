/* Results files: robust JSONL reading (torn last line, corrupt lines) and
 * non-finite numbers as null. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <glob.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/io.h"
#include "base/process.h"
#include "eval/aggregate.h"
#include "eval/plot.h"
#include "eval/records.h"
#include "eval/table.h"
#include "run/sweep.h"
#include "tests/sweep_fixtures.h"
#include "tests/test_util.h"

/* ---- reading results files ------------------------------------------------------- */

Test(records, jsonl_partial_last_line_and_corrupt_middle_line) {
    const char *text = "{\"ppl\": 1.5, \"labels\": {\"x\": \"a\"}}\n"
                       "{\"ppl\": 2.5, \"lab\n"                  /* corrupt (torn, then more) */
                       "\n"                                      /* blank: skipped silently */
                       "[1, 2]\n"                                /* not an object */
                       "{\"ppl\": 3.5} trailing\n"               /* garbage after the value */
                       "{\"ppl\": 4.5, \"labels\": {\"x\": \"b\"}}\n"
                       "{\"ppl\": 5.5, \"lab";                   /* partial last line */
    rb_records r;
    rb_error err = {0};
    cr_assert_eq(rb_records_parse(text, strlen(text), "res.jsonl", &r, &err), RB_OK, "%s", err.msg);
    cr_assert_eq(rb_records_count(&r), 2);
    double v;
    cr_assert_eq(rb_record_number(rb_records_get(&r, 1), "ppl", &v), 0);
    cr_assert_float_eq(v, 4.5, 0);
    cr_assert_str_eq(rb_record_label(rb_records_get(&r, 1), "x"), "b");
    cr_assert_eq(r.n_issues, 4);
    cr_assert_eq(r.issues[0].line, 2);
    cr_assert(strncmp(r.issues[0].msg, "res.jsonl:2: ", 13) == 0, "%s", r.issues[0].msg);
    cr_assert_str_eq(r.issues[1].msg, "res.jsonl:4: not a JSON object; ignored");
    cr_assert(strstr(r.issues[2].msg, "res.jsonl:5: text after the JSON value"), "%s", r.issues[2].msg);
    cr_assert(strncmp(r.issues[3].msg, "res.jsonl:7: partial last line (no newline", 42) == 0,
              "%s", r.issues[3].msg);
    cr_assert_eq(r.tail, RB_TAIL_PARTIAL);
    cr_assert_eq(r.keep_bytes, (size_t)(strstr(text, "{\"ppl\": 5.5") - text));
    cr_assert_eq(r.n_lines, 7);
    rb_records_free(&r);

    /* a complete last record without its newline is kept */
    const char *t2 = "{\"a\": 1}\n{\"a\": 2}";
    cr_assert_eq(rb_records_parse(t2, strlen(t2), "t2", &r, &err), RB_OK);
    cr_assert_eq(rb_records_count(&r), 2);
    cr_assert_eq(r.n_issues, 0);
    cr_assert_eq(r.tail, RB_TAIL_NO_NEWLINE);
    rb_records_free(&r);

    /* empty and missing files */
    cr_assert_eq(rb_records_parse("", 0, "e", &r, &err), RB_OK);
    cr_assert_eq(rb_records_count(&r), 0);
    cr_assert_eq(r.tail, RB_TAIL_CLEAN);
    rb_records_free(&r);
    cr_assert_eq(rb_records_read("/nonexistent/rotbench.jsonl", 1, &r, &err), RB_OK);
    cr_assert_eq(rb_records_count(&r), 0);
    rb_records_free(&r);
    cr_assert_neq(rb_records_read("/nonexistent/rotbench.jsonl", 0, &r, &err), RB_OK);
    cr_assert(strstr(err.msg, "/nonexistent/rotbench.jsonl"), "%s", err.msg);

    /* dotted metric paths */
    json_object *o = json_tokener_parse("{\"method\": {\"prepare_seconds\": 2}, \"s\": \"x\"}");
    cr_assert_eq(rb_record_number(o, "method.prepare_seconds", &v), 0);
    cr_assert_float_eq(v, 2.0, 0);
    cr_assert_eq(rb_record_number(o, "s", &v), -1);
    cr_assert_eq(rb_record_number(o, "method.nope", &v), -1);
    json_object_put(o);
}


/* ---- non-finite numbers ------------------------------------------------------------ */

/* Results files are standard JSON: a non-finite number becomes null with a
 * sibling "<key>_nonfinite"; tables read both that and old files with
 * Infinity/NaN tokens as the same values. */
Test(records, nonfinite_numbers_written_as_null_and_read_back) {
    json_object *o = json_tokener_parse("{\"ppl\": 1, \"nll\": 2, \"tasks\": {\"piqa\": "
                                        "{\"acc\": 0.5}}, \"list\": [1, 2]}");
    cr_assert_not_null(o);
    json_object_object_add(o, "ppl", json_object_new_double(INFINITY));
    json_object_object_add(o, "nll", json_object_new_double(NAN));
    json_object *t = json_object_object_get(json_object_object_get(o, "tasks"), "piqa");
    json_object_object_add(t, "acc", json_object_new_double(-INFINITY));
    json_object_array_put_idx(json_object_object_get(o, "list"), 1, json_object_new_double(NAN));
    cr_expect_eq(rb_json_null_nonfinite(o), 4);
    const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
    cr_expect_str_eq(s, "{\"ppl\":null,\"nll\":null,\"tasks\":{\"piqa\":{\"acc\":null,"
                        "\"acc_nonfinite\":\"-inf\"}},\"list\":[1,null],"
                        "\"ppl_nonfinite\":\"inf\",\"nll_nonfinite\":\"nan\"}");
    double v;
    cr_expect_eq(rb_record_number(o, "ppl", &v), 0);
    cr_expect(isinf(v) && v > 0);
    cr_expect_eq(rb_record_number(o, "nll", &v), 0);
    cr_expect(isnan(v));
    cr_expect_eq(rb_record_number(o, "tasks.piqa.acc", &v), 0);
    cr_expect(isinf(v) && v < 0);
    json_object_put(o);

    /* old (Infinity/NaN tokens) and new files aggregate alike */
    const char *old_file = "{\"ppl\": Infinity, \"labels\": {\"m\": \"a\"}}\n"
                           "{\"ppl\": NaN, \"labels\": {\"m\": \"b\"}}\n"
                           "{\"ppl\": 3, \"labels\": {\"m\": \"c\"}}\n";
    const char *new_file = "{\"ppl\": null, \"ppl_nonfinite\": \"inf\", \"labels\": {\"m\": \"a\"}}\n"
                           "{\"ppl\": null, \"ppl_nonfinite\": \"nan\", \"labels\": {\"m\": \"b\"}}\n"
                           "{\"ppl\": 3, \"labels\": {\"m\": \"c\"}}\n"
                           "{\"ppl\": null, \"labels\": {\"m\": \"d\"}}\n";
    const char *files[2] = {old_file, new_file};
    for (int f = 0; f < 2; f++) {
        rb_records r;
        rb_error err = {0};
        cr_assert_eq(rb_records_parse(files[f], strlen(files[f]), "r.jsonl", &r, &err), RB_OK);
        const char *axes[1] = {"m"};
        rb_agg agg;
        cr_assert_eq(rb_agg_init(&agg, axes, 1, &err), RB_OK);
        cr_assert_eq(rb_agg_add(&agg, r.items, "ppl", NULL, 0, &err), RB_OK);
        cr_expect_eq(agg.n_cells, 3, "file %d", f);
        cr_expect_eq(agg.n_no_metric, (size_t)f, "file %d: a plain null is no number", f);
        char cell[64];
        size_t idx[1];
        const char *want[3] = {"inf", "nan", "3.000"};
        for (size_t i = 0; i < 3; i++) {
            idx[0] = i;
            const rb_agg_cell *c = rb_agg_find(&agg, idx);
            cr_assert_not_null(c);
            rb_table_format(c->mean, c->std, c->n, cell, sizeof cell);
            cr_expect_str_eq(cell, want[i], "file %d, row %zu", f, i);
        }
        rb_agg_free(&agg);
        rb_records_free(&r);
    }
}

/* The runner writes a child's non-finite numbers as null too (a child that
 * still prints Infinity, as rotbench before this change did). */
Test(records, records_of_a_child_printing_infinity_are_standard_json) {
    char dir[1024], fake[1200], cfgp[1200], res[1200];
    test_dir("nonfinite", dir, sizeof dir);
    snprintf(fake, sizeof fake, "%s/fake-rotbench", dir);
    write_script(fake, "#!/bin/sh\necho '{\"ppl\": Infinity, \"nll\": 800.5}'\n");
    snprintf(res, sizeof res, "%s/res.jsonl", dir);
    char text[2048];
    one_run_cfg(text, sizeof text, "nf", res);
    rb_sweep_config cfg;
    rb_error err = {0};
    load_cfg_file(dir, text, cfgp, sizeof cfgp, &cfg);
    rb_sweep_opts o = {.rotbench = fake, .jobs = 1};
    rb_sweep_summary sum;
    cr_assert_eq(rb_sweep_execute(&cfg, &o, &sum, &err), RB_OK, "%s", err.msg);
    cr_assert_eq(sum.n_done, 1);
    char *line = read_text(res);
    cr_expect(!strstr(line, "Infinity") && strstr(line, "\"ppl\":null") &&
                  strstr(line, "\"ppl_nonfinite\":\"inf\""),
              "%s", line);
    free(line);
    rb_sweep_config_free(&cfg);
    cleanup_dir(dir);
}
