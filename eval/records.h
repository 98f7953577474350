/* Results files (JSON Lines) and their aggregation.
 *
 * A results file holds one JSON object per line, each terminated by '\n'
 * (rotbench sweep appends them; see eval/sweep.h).  Reading is robust to a
 * crash of the writer: a final line without a newline that does not parse
 * (a torn write) is ignored, and so is any line that is not a JSON object;
 * each such line becomes an rb_records_issue naming the file and the line
 * ("results/x.jsonl:7: ...") for the caller to print as a warning.  A final
 * line without a newline that is a complete JSON object is kept (a file
 * edited by hand); the sweep runner then writes the missing newline before
 * appending.
 *
 * Aggregation groups the records by the labels ("labels": {axis: label}) of
 * up to RB_AGG_MAX_DIMS axes and computes, per group, the mean, the sample
 * standard deviation (n-1) and the count n of one numeric metric (a field
 * of the record; dotted paths reach nested fields: "method.prepare_seconds").
 * Every axis not grouped on (typically "seed") is aggregated over.
 */
#ifndef RB_RECORDS_H
#define RB_RECORDS_H

#include <json-c/json.h>
#include <stddef.h>

#include "base/error.h"

/* ---- growable string ------------------------------------------------------ */

typedef struct rb_buf {
    char *s;    /* NUL-terminated (NULL until the first append) */
    size_t len;
    size_t cap;
    int oom;    /* an allocation failed: s holds a truncated text */
} rb_buf;

void rb_buf_append(rb_buf *b, const char *s, size_t n);
void rb_buf_puts(rb_buf *b, const char *s);
void rb_buf_printf(rb_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Hands the string over (never NULL unless out of memory; "" when empty). */
char *rb_buf_take(rb_buf *b);
void rb_buf_free(rb_buf *b);

/* ---- reading -------------------------------------------------------------- */

typedef struct rb_records_issue {
    size_t line;   /* 1-based */
    char msg[300]; /* "<path>:<line>: <what>; ignored" */
} rb_records_issue;

typedef enum rb_records_tail {
    RB_TAIL_CLEAN = 0,     /* empty, or ends with '\n' */
    RB_TAIL_PARTIAL,       /* last line has no '\n' and does not parse: ignored */
    RB_TAIL_NO_NEWLINE,    /* last line has no '\n' but is a complete object: kept */
} rb_records_tail;

typedef struct rb_records {
    json_object *items;       /* array of the records (objects), in file order; owned */
    rb_records_issue *issues; /* ignored lines, in file order */
    size_t n_issues;
    size_t n_lines;           /* lines in the file, the partial last one included */
    rb_records_tail tail;
    size_t keep_bytes;        /* bytes before the partial last line (the file size
                                 unless tail == RB_TAIL_PARTIAL) */
} rb_records;

/* Reads path.  A missing file is an empty result when missing_ok, else an
 * error.  Only I/O errors and out-of-memory fail; bad lines are issues. */
int rb_records_read(const char *path, int missing_ok, rb_records *out, rb_error *err);

/* Parses text[0..len) as a results file named path (for the messages). */
int rb_records_parse(const char *text, size_t len, const char *path, rb_records *out,
                     rb_error *err);

void rb_records_free(rb_records *r);

static inline size_t rb_records_count(const rb_records *r) {
    return r->items ? json_object_array_length(r->items) : 0;
}
static inline json_object *rb_records_get(const rb_records *r, size_t i) {
    return json_object_array_get_idx(r->items, i);
}

/* ---- fields --------------------------------------------------------------- */

/* rec.labels[axis] as a string, or NULL when absent / not a string. */
const char *rb_record_label(json_object *rec, const char *axis);

/* Makes o standard JSON (no NaN/Infinity tokens): every non-finite double,
 * at any depth, becomes null, and in an object its key K gets a sibling
 * "K_nonfinite": "inf", "-inf" or "nan" (an array element just becomes
 * null).  Returns how many were replaced (-1 when out of memory). */
int rb_json_null_nonfinite(json_object *o);

/* The number at a dotted path ("ppl", "method.prepare_seconds"): 0 and *out
 * set when present and numeric (int or double, NaN/Inf included; a null
 * with a "<key>_nonfinite" sibling, as rb_json_null_nonfinite writes it,
 * reads as that value), else -1. */
int rb_record_number(json_object *rec, const char *path, double *out);

/* A filter on labels: keep records whose labels[axis] equals label. */
typedef struct rb_where {
    const char *axis;
    const char *label;
} rb_where;

/* Splits "axis=label" in place (text is modified: the '=' becomes NUL). */
int rb_where_parse(char *text, rb_where *out, rb_error *err);

/* ---- aggregation ---------------------------------------------------------- */

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
