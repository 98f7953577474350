/* Aggregating the records of results files (eval/aggregate.c) for tables
 * and plots.
 *
 * Aggregation groups the records by the labels ("labels": {axis: label}) of
 * up to RB_AGG_MAX_DIMS axes and computes, per group, the mean, the sample
 * standard deviation (n-1) and the count n of one numeric metric (a field
 * of the record; dotted paths reach nested fields: "method.prepare_seconds").
 * Every axis not grouped on (typically "seed") is aggregated over.
 */
#ifndef RB_AGGREGATE_H
#define RB_AGGREGATE_H

#include <json-c/json.h>
#include <stddef.h>

#include "base/error.h"
#include "eval/records.h"

enum { RB_AGG_MAX_DIMS = 3, RB_AGG_MAX_OVER = 16 };

typedef struct rb_agg_dim {
    char *axis;
    char **labels; /* distinct labels: seeded ones first, then first-seen order */
    size_t n, cap;
} rb_agg_dim;

typedef struct rb_agg_cell {
    size_t idx[RB_AGG_MAX_DIMS]; /* label index in each dim */
    size_t n;                    /* values aggregated */
    double mean;                 /* NaN when n == 0; +-Inf/NaN if a value was */
    double std;                  /* sample std (n-1); NaN when n < 2 */
    double m2;                   /* internal (Welford) */
    size_t n_nonfinite;          /* internal */
    double nonfinite;            /* internal */
} rb_agg_cell;

typedef struct rb_agg {
    size_t n_dims;
    rb_agg_dim dims[RB_AGG_MAX_DIMS];
    rb_agg_cell *cells; /* only the groups that have records, in first-seen order */
    size_t n_cells, cap_cells;
    size_t n_used;      /* records aggregated */
    size_t n_filtered;  /* records dropped by a where filter */
    size_t n_no_label;  /* records without a label for a grouped axis */
    size_t n_no_metric; /* records without the metric (or not a number) */
    /* axes aggregated over whose labels vary within some group (e.g. "seed") */
    char *over[RB_AGG_MAX_OVER];
    size_t n_over;
    /* internal: each cell's first record's labels (referenced) */
    json_object **first_labels;
} rb_agg;

/* Starts an aggregation grouped by axes[0..n_axes) (1..RB_AGG_MAX_DIMS). */
int rb_agg_init(rb_agg *agg, const char *const *axes, size_t n_axes, rb_error *err);

/* Fixes the order of dim d's labels to labels[0..n) (e.g. a config's order);
 * labels seen later that are not in the list follow in first-seen order.
 * Call before adding records. */
int rb_agg_seed_labels(rb_agg *agg, size_t d, const char *const *labels, size_t n,
                       rb_error *err);

/* Adds every record of the array that passes the filters and has the labels
 * and the metric.  metric may list alternatives "a|b": the first field the
 * record has is used (e.g. "ppl|acc" over perplexity and zero-shot runs). */
int rb_agg_add(rb_agg *agg, json_object *records, const char *metric, const rb_where *where,
               size_t n_where, rb_error *err);

/* The pseudo-axis "metric": a dim with this name takes, for every record,
 * the label of the metric being added, so one table can show several
 * metrics side by side (columns "WikiText-2 ppl", "0-shot avg", ...). */
#define RB_AGG_METRIC_AXIS "metric"

/* rb_agg_add with metric_label (NULL: metric itself) as the label of the
 * "metric" dim. */
int rb_agg_add_metric(rb_agg *agg, json_object *records, const char *metric,
                      const char *metric_label, const rb_where *where, size_t n_where,
                      rb_error *err);

/* When every label of dim d is a number, orders them by value (ties keep
 * their order) and returns 1; else leaves them and returns 0.  Call after
 * adding the records. */
int rb_agg_sort_numeric(rb_agg *agg, size_t d);

/* The cell at idx[0..n_dims), or NULL when no record fell there. */
const rb_agg_cell *rb_agg_find(const rb_agg *agg, const size_t *idx);

/* Index of label in dim d, or (size_t)-1. */
size_t rb_agg_label_index(const rb_agg *agg, size_t d, const char *label);

void rb_agg_free(rb_agg *agg);

#endif
