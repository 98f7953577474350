/* Comparing two methods over the records of results files (eval/compare.c):
 * `rotbench compare`.
 *
 * Selection.  Side a is every record that passes the common filters
 * (`where`) and a's selector, side b likewise; a selector is a list of
 * rb_where filters (axis = label, or a bare label matched against any of the
 * record's labels).  A record on both sides is an error.  The records are
 * one set: several results files are merged before (eval/records_merge.h,
 * which drops identical duplicates of a run key and refuses conflicting
 * ones), so a run recorded twice here is two records with one pairing label,
 * an error.
 *
 * Pairing.  The records of a side must agree on every label but the pairing
 * axis (`pair`, default "seed"); a and b records pair by that label.  A side
 * with a single record (a seed-independent method, run once) is paired with
 * every record of the other side (`a_shared` / `b_shared`).  Labels that only
 * one side has are left out and counted.
 *
 * Statistics, over the n pairs (d_i = a_i - b_i, metric values):
 *   mean a, mean b, mean difference;
 *   the paired t-test over the pairs (base/stats.h; impossible for n < 2);
 *   for ppl and nll, when every paired record has per-window NLLs
 *   (window_nll, window_tokens: run/eval.h), a paired bootstrap over the
 *   evaluation windows: each of `bootstrap` replicates draws W window
 *   indices with replacement (W = windows per run; rb_rng seeded with
 *   `seed`), one draw shared by both methods and every pair (the windows are
 *   the same text in every run), recomputes every run's metric on the drawn
 *   windows (ppl = exp(Σ nll / Σ tokens), nll = Σ nll / Σ tokens) and takes
 *   the statistic mean_i(a_i - b_i); the interval is its (1-c)/2 and
 *   (1+c)/2 quantiles (numpy's linear rule).  Window data must describe the
 *   same windows in every run (equal window_tokens, equal data_sha256).
 *   Resampling: with n >= 2 pairs each replicate first draws n pairs with
 *   replacement (the seeds: a pair drawn m times counts m times), then the
 *   windows, so the interval carries the seed noise as well as the text
 *   sample's ("seeds+windows", the default); `windows_only` keeps the seeds
 *   fixed (the interval conditional on these seeds: narrower).  Both
 *   intervals are reported; the verdict uses the chosen one.
 *   The interval is the bootstrap's when there is one, else the t-test's
 *   (mean ± t·se, other metrics such as acc), else none.
 *
 * Verdict, for an expected direction (a < b or a > b): holds when the
 * interval excludes zero on the expected side, contradicted when it excludes
 * zero on the other side, within noise when it contains zero; without an
 * interval, none.
 */
#ifndef RB_COMPARE_H
#define RB_COMPARE_H

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "base/stats.h"
#include "eval/records.h"

/* ---- per-window NLLs and the bootstrap over windows ------------------------ */

typedef struct rb_run_windows {
    size_t n;       /* windows */
    double *nll;    /* [n] sum of the window's NLLs (nats); owned */
    double *tokens; /* [n] scored tokens of the window; owned */
} rb_run_windows;

/* Reads rec's window_nll / window_tokens into out, checked: arrays of the
 * same length n_windows, finite sums, positive integer counts adding up to
 * n_tokens, and Σ nll / Σ tokens equal to the record's nll (1e-9 relative).
 * Returns 1 (out zeroed) when the record has no window_nll (older results),
 * RB_OK, or RB_EFORMAT naming `what` (e.g. "results/x.jsonl: record 3"). */
int rb_run_windows_read(json_object *rec, const char *what, rb_run_windows *out, rb_error *err);
void rb_run_windows_free(rb_run_windows *w);

typedef enum rb_window_stat { RB_WINDOW_PPL, RB_WINDOW_NLL } rb_window_stat;

/* The bootstrap over windows of the statistic Σ_k coef[k]·f_k, f_k = run k's
 * ppl or nll on the drawn windows (see above).  All runs must have the same
 * windows (RB_EINVAL otherwise).  With group (may be NULL: windows only),
 * run k belongs to group[k] < n_groups and every replicate first draws
 * n_groups groups with replacement: run k then counts mult(group[k]) times.
 * *observed = the statistic on all windows; [*lo, *hi] the confidence-level
 * percentile interval of n_boot >= 1 replicates. */
int rb_window_bootstrap(const rb_run_windows *runs, const double *coef, const size_t *group,
                        size_t n_runs, size_t n_groups, rb_window_stat stat, size_t n_boot,
                        uint64_t seed, double confidence, double *observed, double *lo,
                        double *hi, rb_error *err);

/* The confidence-level bootstrap interval of the mean over recs[0..n) of
 * their ppl or nll (a table cell over seeds): windows and, with n >= 2, the
 * records resampled as above.  Returns 1 (no interval) when a record has no
 * per-window NLLs, RB_OK, or an error (bad window data, other windows). */
int rb_records_mean_interval(json_object *const *recs, size_t n, rb_window_stat stat,
                             size_t n_boot, uint64_t seed, double confidence, double *lo,
                             double *hi, rb_error *err);

/* ---- the comparison -------------------------------------------------------- */

typedef struct rb_compare_source {
    const char *path;     /* for messages */
    json_object *records; /* array of record objects (rb_records.items) */
} rb_compare_source;

typedef struct rb_compare_spec {
    const rb_where *a, *b, *where; /* selectors and common filters */
    size_t n_a, n_b, n_where;
    const char *metric;  /* NULL: "ppl"; "nll", "acc", or a dotted path */
    const char *task;    /* NULL, or: zero-shot records read tasks.<task>.<metric>,
                            perplexity records must have "task": task */
    const char *pair;    /* NULL: "seed" */
    size_t bootstrap;    /* replicates; 0: no bootstrap */
    uint64_t seed;       /* the bootstrap's rng seed */
    double confidence;   /* in (0, 1), e.g. 0.95 */
    int expect;          /* -1: a < b expected, +1: a > b, 0: none */
    int windows_only;    /* 1: resample the windows only, not the seeds */
} rb_compare_spec;

typedef enum rb_verdict {
    RB_VERDICT_NONE = 0,     /* no expectation, or no interval */
    RB_VERDICT_HOLDS,
    RB_VERDICT_WITHIN_NOISE,
    RB_VERDICT_CONTRADICTED,
} rb_verdict;

const char *rb_verdict_name(rb_verdict v); /* "holds", "within noise", ... */

typedef struct rb_compare_pair {
    char *label; /* the pairing axis's label ("" when absent); owned */
    double a, b;
} rb_compare_pair;

typedef struct rb_compare_result {
    char metric[256];          /* the path read ("ppl", "tasks.piqa.acc") */
    char pair_axis[64];
    char common[1024];         /* labels every selected record shares: "model=x, task=y" */
    char notes[1024];          /* what was left out and why ("" when nothing) */
    size_t n_a, n_b;           /* records selected (after duplicates) */
    int a_shared, b_shared;    /* that side's single record paired with every pair */
    size_t n_pairs;
    rb_compare_pair *pairs;    /* [n_pairs]; owned */
    size_t n_unpaired;         /* records whose pairing label the other side lacks */
    double mean_a, mean_b, mean_diff;
    rb_paired_t t;             /* over the pairs */
    size_t n_windows, n_boot;  /* n_boot = 0: no bootstrap */
    int boot_seeds;            /* boot_lo/hi resampled the seeds too */
    double boot_observed, boot_lo, boot_hi;
    double boot_w_lo, boot_w_hi; /* windows only (= boot_lo/hi when !boot_seeds) */
    const char *interval;      /* "bootstrap", "t" or "none" */
    double lo, hi;             /* the interval the verdict uses (NaN for "none") */
    int sign;                  /* -1: interval below 0, +1: above, 0: contains 0 / none */
    rb_verdict verdict;
} rb_compare_result;

/* Selects, pairs and compares (see the top of this file).  RB_EINVAL when a
 * side selects nothing, the sides overlap, a side mixes configurations, or
 * no pair is left or one side has two records of one pairing label;
 * RB_EFORMAT for bad window data. */
int rb_compare(const rb_compare_source *src, const rb_compare_spec *spec, rb_compare_result *out,
               rb_error *err);

/* The result as one JSON object (non-finite numbers as null). */
json_object *rb_compare_json(const rb_compare_result *r, const rb_compare_spec *spec);

void rb_compare_result_free(rb_compare_result *r);

/* Parses a selector "axis=label,label,..." into where[*n..] (capacity cap):
 * each comma-separated item is axis=label or a bare label (axis NULL).
 * text is modified in place and must outlive where. */
int rb_compare_selector_parse(char *text, rb_where *where, size_t *n, size_t cap,
                              rb_error *err);

#endif
