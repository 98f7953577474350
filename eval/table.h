/* Paper-style tables from a results file: one metric, rows x columns of axis
 * labels, optionally one table per label of a third ("split") axis; every
 * other axis (seeds) is aggregated over: mean ± sample std (n-1), count n.
 *
 * Cell format (rb_table_format): values of magnitude >= 10 with 2 decimals
 * ("122.32"), smaller ones to 4 significant digits ("5.538", "0.6523"),
 * magnitudes >= 1e6 or < 1e-4 in exponent form ("1.235e+07"); the std has the
 * same number of decimals as its mean ("12.34 ± 0.05") and is shown when
 * n > 1; a missing cell is "—".
 */
#ifndef RB_TABLE_H
#define RB_TABLE_H

#include <json-c/json.h>

#include "base/error.h"
#include "eval/aggregate.h"
#include "eval/sweep_config.h"

typedef struct rb_table_spec {
    const char *rows, *cols;
    const char *split;   /* NULL: one table */
    const char *metric;  /* NULL: "ppl" */
    const rb_where *where;
    size_t n_where;
    const char *title;   /* NULL: none; else a "## title" line first */
    /* Intervals beside mean ± std: ci > 0 (the confidence, e.g. 0.95) shows
     * "mean ± std [lo, hi]", the bootstrap interval of the cell's mean ppl or
     * nll over its records' windows and records (rb_records_mean_interval,
     * eval/compare.h; ci_boot replicates, rng ci_seed), in every cell of a
     * ppl/nll table whose records all have per-window NLLs; records is the
     * array the aggregation read.  CSV gains ci_lo,ci_hi columns. */
    double ci;
    size_t ci_boot;
    uint64_t ci_seed;
    json_object *records;
} rb_table_spec;

/* Aggregates records (an array) over the n axes (labels from cfg in config
 * order, filtered by where; without cfg, numeric labels sorted) into agg:
 * the shared core of tables and plots.  metric NULL means "ppl". */
int rb_agg_collect(json_object *records, const char *const *axes, size_t n, const char *metric,
                   const rb_where *where, size_t n_where, const rb_sweep_config *cfg, rb_agg *agg,
                   rb_error *err);

/* Aggregates records (an array) for spec.  Dims: [split,] rows, cols.  With
 * cfg, the labels follow the config's order (and every configured label
 * appears, so unfinished sweeps show "—"); without, an axis whose labels are
 * all numbers is in numeric order, any other in first-seen order. */
int rb_table_aggregate(json_object *records, const rb_table_spec *spec,
                       const rb_sweep_config *cfg, rb_agg *agg, rb_error *err);

/* Markdown: per split label a "### axis = label" heading, then the table
 * (top-left cell: the rows axis; header: the column labels), then a caption
 * line naming the metric and what was aggregated over.  *out is malloc'd. */
int rb_table_markdown(const rb_agg *agg, const rb_table_spec *spec, char **out, rb_error *err);

/* CSV (RFC 4180 quoting): split,row,col,mean,std,n for every cell with data;
 * split empty without a split axis, std empty when n < 2. */
int rb_table_csv(const rb_agg *agg, const rb_table_spec *spec, char **out, rb_error *err);

/* One cell's text (see above). */
void rb_table_format(double mean, double std, size_t n, char *buf, size_t cap);

/* Writes text to path through a temporary file and rename (creating the
 * parent directories). */
int rb_write_text_file(const char *path, const char *text, rb_error *err);

#endif
