/* Comparing fresh records with committed ones, metric by metric
 * (eval/records_diff.c): the paper test suite's check that the code still
 * produces the committed numbers (results/ci/, README "Paper tables").
 *
 * Records pair by "run_key".  Only metric fields are compared: at any depth
 * of the committed record, the keys named in rb_diff_metric_keys (ppl, nll,
 * acc, acc_norm, their standard errors, token/window/item counts, the
 * per-window window_nll and window_tokens arrays).  Everything else
 * (timings, hosts, build ids, paths) is ignored, and so is every field only
 * the fresh record has: a newer binary may record more.  A metric the
 * committed record has and the fresh one lacks is a difference.
 *
 * Equality: bit-identical (==, a null with a "<key>_nonfinite" sibling
 * reads as that value, NaN equals NaN) when both records were computed by
 * the same arithmetic: the same "threads", "blas_threads", "simd",
 * "blas_kernels" and "gemm" (absent in both counts as the same); else
 * |fresh - committed| <= cross_setup_rel_tol·|committed|.  The harness is
 * deterministic for a seed, a thread count and a CPU's kernels only: another
 * thread count or another SIMD/BLAS kernel sums in another order, which at
 * 4-bit activations can flip roundings (the tolerance is measured: README
 * "Paper tables").
 */
#ifndef RB_RECORDS_DIFF_H
#define RB_RECORDS_DIFF_H

#include <json-c/json.h>
#include <stddef.h>

#include "base/error.h"

/* NULL-terminated: the metric field names compared. */
extern const char *const rb_diff_metric_keys[];

typedef enum rb_diff_kind {
    RB_DIFF_CHANGED = 0,     /* both have the metric, values differ */
    RB_DIFF_NO_METRIC,       /* the fresh record lacks a committed metric */
    RB_DIFF_NO_RECORD,       /* a committed run key has no fresh record */
    RB_DIFF_NEW_RECORD,      /* a fresh run key has no committed record */
} rb_diff_kind;

typedef struct rb_diff_row {
    rb_diff_kind kind;
    char *labels;            /* the record's labels "axis=label, ..." (or its run key); owned */
    char *metric;            /* dotted path, arrays indexed: "tasks.piqa.acc", "window_nll.3";
                                owned; NULL for the record kinds */
    double committed, fresh; /* NaN where absent */
} rb_diff_row;

typedef struct rb_diff {
    rb_diff_row *rows;       /* in committed-record order, then metric order */
    size_t n_rows;
    size_t n_records;        /* committed records compared (paired) */
    size_t n_values;         /* metric values compared */
    size_t n_cross_setup;    /* paired records computed by other arithmetic (threads, kernels) */
    double max_rel;          /* the largest |fresh - committed| / |committed| seen */
} rb_diff;

/* committed, fresh: arrays of record objects (rb_records.items).  RB_OK
 * with out->n_rows == 0 when they agree; RB_ENOMEM only. */
int rb_records_diff(json_object *committed, json_object *fresh, double cross_setup_rel_tol,
                    rb_diff *out, rb_error *err);
void rb_diff_free(rb_diff *d);

/* The differences as a Markdown table (labels | metric | committed | fresh |
 * relative change), at most max_rows rows then "... N more", after a
 * summary line.  malloc'd; NULL when out of memory. */
char *rb_diff_format(const rb_diff *d, size_t max_rows);

#endif
