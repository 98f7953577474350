/* Tables from results files: aggregation by hand, metric columns, CSV, cell
 * format, config order. */
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

/* ---- tables --------------------------------------------------------------------- */


Test(table, table_mean_std_by_hand) {
    rb_records r;
    rb_agg agg;
    rb_table_spec spec = {.rows = "row", .cols = "col", .split = "model", .metric = "ppl"};
    fixture_agg(&r, &agg, &spec);
    cr_assert_eq(agg.n_used, 8);
    cr_assert_eq(agg.n_no_metric, 1);
    cr_assert_eq(agg.n_no_label, 1);
    cr_assert_eq(agg.n_over, 1);
    cr_assert_str_eq(agg.over[0], "seed");
    /* A / r1 / c1: 10, 12, 14 -> mean 12, std sqrt((4 + 0 + 4) / 2) = 2 */
    size_t idx[3] = {0, 0, 0};
    const rb_agg_cell *c = rb_agg_find(&agg, idx);
    cr_assert_not_null(c);
    cr_assert_eq(c->n, 3);
    cr_assert_float_eq(c->mean, 12.0, 1e-12);
    cr_assert_float_eq(c->std, 2.0, 1e-12);
    /* A / r1 / c2: 5.5, 5.75 -> mean 5.625, std sqrt(2 * 0.125^2) = 0.1767767 */
    idx[2] = 1;
    c = rb_agg_find(&agg, idx);
    cr_assert_float_eq(c->mean, 5.625, 1e-12);
    cr_assert_float_eq(c->std, sqrt(2 * 0.125 * 0.125), 1e-12);
    /* B / r2, big / c1: nothing */
    size_t none[3] = {1, 1, 0};
    cr_assert_null(rb_agg_find(&agg, none));

    char *md;
    rb_error err = {0};
    cr_assert_eq(rb_table_markdown(&agg, &spec, &md, &err), RB_OK);
    cr_assert_str_eq(md,
                     "### model = A\n"
                     "\n"
                     "| row | c1 | c2 |\n"
                     "|---|---:|---:|\n"
                     "| r1 | 12.00 ± 2.00 | 5.625 ± 0.177 |\n"
                     "| r2, big | 7.250 | — |\n"
                     "\n"
                     "### model = B\n"
                     "\n"
                     "| row | c1 | c2 |\n"
                     "|---|---:|---:|\n"
                     "| r1 | 100.50 ± 0.71 | — |\n"
                     "| r2, big | — | — |\n"
                     "\n"
                     "*ppl: mean ± sample std over seed (n = 1 to 3 per cell); rows: row, "
                     "columns: col; — = no result.*\n");
    free(md);
    rb_agg_free(&agg);

    /* --where, no split */
    rb_where w = {"col", "c1"};
    rb_table_spec s2 = {.rows = "model", .cols = "row", .metric = "ppl", .where = &w, .n_where = 1,
                        .title = "t"};
    cr_assert_eq(rb_table_aggregate(r.items, &s2, NULL, &agg, &err), RB_OK);
    cr_assert_eq(rb_table_markdown(&agg, &s2, &md, &err), RB_OK);
    cr_assert_str_eq(md, "## t\n\n"
                         "| model | r1 | r2, big |\n"
                         "|---|---:|---:|\n"
                         "| A | 12.00 ± 2.00 | 7.250 |\n"
                         "| B | 100.50 ± 0.71 | — |\n"
                         "\n"
                         "*ppl: mean ± sample std over seed (n = 1 to 3 per cell); rows: model, "
                         "columns: row; only col = c1; — = no result.*\n");
    free(md);
    rb_agg_free(&agg);
    rb_records_free(&r);
}

/* Metric lists: perplexity and zero-shot records side by side along the
 * "metric" pseudo-axis, nested paths and "a|b" alternatives. */
Test(table, table_metric_columns) {
    static const char recs[] =
        "{\"ppl\": 10, \"labels\": {\"m\": \"FP\", \"task\": \"wt2\", \"seed\": \"1\"}}\n"
        "{\"acc\": 0.25, \"tasks\": {\"piqa\": {\"acc\": 0.5}}, \"labels\": {\"m\": \"FP\", "
        "\"task\": \"zs\", \"seed\": \"1\"}}\n"
        "{\"ppl\": 20, \"labels\": {\"m\": \"Q\", \"task\": \"wt2\", \"seed\": \"1\"}}\n"
        "{\"ppl\": 22, \"labels\": {\"m\": \"Q\", \"task\": \"wt2\", \"seed\": \"2\"}}\n"
        "{\"acc\": 0.5, \"tasks\": {\"piqa\": {\"acc\": 0.75}}, \"labels\": {\"m\": \"Q\", "
        "\"task\": \"zs\", \"seed\": \"1\"}}\n";
    rb_records r;
    rb_error err = {0};
    cr_assert_eq(rb_records_parse(recs, strlen(recs), "m.jsonl", &r, &err), RB_OK);
    rb_agg agg;
    rb_table_spec spec = {.rows = "m", .cols = "metric",
                          .metric = "Wiki ppl=ppl,avg=acc,PIQA=tasks.piqa.acc"};
    cr_assert_eq(rb_table_aggregate(r.items, &spec, NULL, &agg, &err), RB_OK, "%s", err.msg);
    char *md;
    cr_assert_eq(rb_table_markdown(&agg, &spec, &md, &err), RB_OK);
    cr_expect(strstr(md, "| m | Wiki ppl | avg | PIQA |\n") != NULL, "%s", md);
    cr_expect(strstr(md, "| FP | 10.00 | 0.2500 | 0.5000 |\n") != NULL, "%s", md);
    cr_expect(strstr(md, "| Q | 21.00 ± 1.41 | 0.5000 | 0.7500 |\n") != NULL, "%s", md);
    free(md);
    rb_agg_free(&agg);
    /* alternatives: one column over both kinds of record */
    rb_table_spec alt = {.rows = "m", .cols = "task", .metric = "ppl|acc"};
    cr_assert_eq(rb_table_aggregate(r.items, &alt, NULL, &agg, &err), RB_OK, "%s", err.msg);
    cr_assert_eq(agg.n_used, 5);
    rb_agg_free(&agg);
    /* several metrics need the metric axis */
    rb_table_spec bad = {.rows = "m", .cols = "task", .metric = "ppl,acc"};
    cr_expect_eq(rb_table_aggregate(r.items, &bad, NULL, &agg, &err), RB_EINVAL);
    cr_expect(strstr(err.msg, "metric") != NULL, "%s", err.msg);
    rb_table_spec empty = {.rows = "m", .cols = "metric", .metric = "a=,b"};
    cr_expect_eq(rb_table_aggregate(r.items, &empty, NULL, &agg, &err), RB_EINVAL);
    rb_records_free(&r);
}

Test(table, table_csv) {
    rb_records r;
    rb_agg agg;
    rb_table_spec spec = {.rows = "row", .cols = "col", .split = "model", .metric = "ppl"};
    fixture_agg(&r, &agg, &spec);
    char *csv;
    rb_error err = {0};
    cr_assert_eq(rb_table_csv(&agg, &spec, &csv, &err), RB_OK);
    cr_assert_str_eq(csv, "split,row,col,mean,std,n\n"
                          "A,r1,c1,12,2,3\n"
                          "A,r1,c2,5.625,0.1767766953,2\n"
                          "A,\"r2, big\",c1,7.25,,1\n"
                          "B,r1,c1,100.5,0.7071067812,2\n");
    free(csv);
    rb_agg_free(&agg);
    rb_table_spec s2 = {.rows = "row", .cols = "model", .metric = "ppl"};
    cr_assert_eq(rb_table_aggregate(r.items, &s2, NULL, &agg, &err), RB_OK);
    cr_assert_eq(rb_table_csv(&agg, &s2, &csv, &err), RB_OK);
    /* averaged over col and seed: A/r1 = mean(10, 12, 14, 5.5, 5.75, 3) (the record
       without a col counts here) = 50.25 / 6 */
    const char *want = "split,row,col,mean,std,n\n,r1,A,8.375,";
    cr_assert(strncmp(csv, want, strlen(want)) == 0, "%s", csv);
    free(csv);
    rb_agg_free(&agg);
    rb_records_free(&r);
}

Test(table, table_cell_format) {
    char b[64];
    rb_table_format(122.3159, NAN, 1, b, sizeof b);
    cr_assert_str_eq(b, "122.32");
    rb_table_format(5.5381, NAN, 1, b, sizeof b);
    cr_assert_str_eq(b, "5.538");
    rb_table_format(0.65234, 0.0123, 3, b, sizeof b);
    cr_assert_str_eq(b, "0.6523 ± 0.0123");
    rb_table_format(9.99996, NAN, 1, b, sizeof b);
    cr_assert_str_eq(b, "10.00");
    rb_table_format(1.5e7, 2e5, 2, b, sizeof b);
    cr_assert_str_eq(b, "1.500e+07 ± 2.000e+05");
    rb_table_format(INFINITY, NAN, 2, b, sizeof b);
    cr_assert_str_eq(b, "inf");
    rb_table_format(0, 0, 0, b, sizeof b);
    cr_assert_str_eq(b, "—");
}

Test(table, table_in_config_order) {
    /* with the config, labels follow its order and every label appears */
    const char *text =
        HEAD "\"axes\": [{\"name\": \"row\", \"values\": [{\"label\": \"r0\"}, {\"label\": \"r2, big\"}, "
        "{\"label\": \"r1\"}]}, {\"name\": \"col\", \"values\": [{\"label\": \"c2\"}, {\"label\": \"c1\"}]}]}";
    rb_sweep_config cfg;
    rb_error err = {0};
    cr_assert_eq(parse_cfg(text, &cfg, &err), RB_OK, "%s", err.msg);
    rb_records r;
    cr_assert_eq(rb_records_parse(FIXTURE, strlen(FIXTURE), "fix.jsonl", &r, &err), RB_OK);
    rb_where w = {"model", "A"};
    rb_table_spec spec = {.rows = "row", .cols = "col", .metric = "ppl", .where = &w, .n_where = 1};
    rb_agg agg;
    cr_assert_eq(rb_table_aggregate(r.items, &spec, &cfg, &agg, &err), RB_OK);
    char *md;
    cr_assert_eq(rb_table_markdown(&agg, &spec, &md, &err), RB_OK);
    cr_assert(strncmp(md, "| row | c2 | c1 |\n|---|---:|---:|\n| r0 | — | — |\n"
                          "| r2, big | — | 7.250 |\n| r1 | 5.625 ± 0.177 | 12.00 ± 2.00 |\n", 100) == 0,
              "%s", md);
    free(md);
    rb_agg_free(&agg);
    rb_records_free(&r);
    rb_sweep_config_free(&cfg);
}
