/* Sweeps: a JSON config expanded into `rotbench eval` runs, executed as child
 * processes, their records appended to a JSON Lines results file.
 *
 * Config (see README "Sweeps"):
 *   {"name": "w8a8_grid",                       file-name characters [A-Za-z0-9_.-]
 *    "results": "results/w8a8_grid.jsonl",      relative to the current directory
 *    "base": {"task": "wikitext2", "ctx": 512}, eval flags shared by every run
 *    "axes": [{"name": "model", "values": [{"label": "stories260K", "args": {}}, ...]}, ...],
 *    "exclude": [{"method": ["FP", "RTN"], "seed": ["2", "3"]}],  optional: runs whose
 *                                               labels match every axis of an entry
 *                                               (one of its labels) are not run
 *    "tables": [{"name": "grid", "rows": "row", "cols": "col", "split": "model",
 *                "metric": "ppl", "where": {"axis": "label"}}],
 *    "metric" is a record field (dotted paths reach nested ones:
 *    "tasks.piqa.acc"), alternatives "ppl|acc" take the first the record
 *    has, and a comma-separated list "Wiki2 ppl=ppl,0-shot avg=acc" shows
 *    several metrics: its entries ([label=]path) are the labels of the
 *    pseudo-axis "metric", which must then be the rows, cols or series.
 *    "plots": [{"name": "alpha", "x": "alpha", "series": "model", "metric": "ppl",
 *               "logy": false, "logx": false, "title": "...", "where": {...}}]}
 * "description" and "comment" are allowed in every object; any other unknown
 * key is an error.  Runs are the cross product of the axes' values, the first
 * axis varying slowest.  A run's args are merged left to right: base, then
 * the value of each axis; "pipeline" strings concatenate with ',' (empty ones
 * skipped); any other key overrides; a key merged to false is dropped.  Each
 * arg is an eval flag: true -> --key, number/string -> --key VALUE.  The run
 * key is the canonical JSON of the merged args (sorted keys, no spaces,
 * numbers in shortest round-trip form); two runs with the same key are a
 * config error.
 */
#ifndef RB_SWEEP_H
#define RB_SWEEP_H

#include <json-c/json.h>
#include <stddef.h>
#include <sys/types.h>

#include "base/error.h"

typedef struct rb_sweep_value {
    char *label;
    json_object *args; /* object of bool / number / string (borrowed from the root) */
} rb_sweep_value;

typedef struct rb_sweep_axis {
    char *name;
    rb_sweep_value *values;
    size_t n_values;
} rb_sweep_axis;

/* A filter "axis": "label" from a table or plot entry. */
typedef struct rb_sweep_filter {
    char *axis;
    char *label;
} rb_sweep_filter;

typedef struct rb_sweep_table {
    char *name, *rows, *cols, *split; /* split NULL when absent */
    char *metric;                     /* default "ppl" */
    rb_sweep_filter *where;
    size_t n_where;
} rb_sweep_table;

typedef struct rb_sweep_plot {
    char *name, *x, *series; /* series NULL when absent */
    char *metric;            /* default "ppl" */
    char *title;             /* NULL: a default title */
    int logy, logx;
    rb_sweep_filter *where;
    size_t n_where;
} rb_sweep_plot;

/* One "exclude" entry: filters grouped by axis (a run matches when, for
 * every axis named, its label is one of that axis's labels here). */
typedef struct rb_sweep_exclude {
    rb_sweep_filter *match;
    size_t n_match;
} rb_sweep_exclude;

typedef struct rb_sweep_config {
    char *path;    /* the config file, for messages */
    char *name;
    char *results; /* relative to the current directory */
    json_object *base;
    rb_sweep_axis *axes;
    size_t n_axes;
    rb_sweep_exclude *excludes;
    size_t n_excludes;
    rb_sweep_table *tables;
    size_t n_tables;
    rb_sweep_plot *plots;
    size_t n_plots;
    json_object *root; /* owned */
} rb_sweep_config;

/* Loads and validates a config; messages name the file and the JSON path:
 * "configs/x.json: axes[1].values[0]: missing \"label\"". */
int rb_sweep_config_load(const char *path, rb_sweep_config *cfg, rb_error *err);
/* The same from text; path is used in messages only. */
int rb_sweep_config_parse(const char *text, size_t len, const char *path, rb_sweep_config *cfg,
                          rb_error *err);
void rb_sweep_config_free(rb_sweep_config *cfg);

/* Index of the axis named name, or -1. */
int rb_sweep_axis_index(const rb_sweep_config *cfg, const char *name);

/* ---- expansion ------------------------------------------------------------ */

typedef struct rb_sweep_run {
    size_t index;        /* position in the cross product */
    json_object *args;   /* merged args (owned) */
    json_object *labels; /* {axis name: label} (owned) */
    char *key;           /* canonical JSON of args */
    char *label_text;    /* labels joined with " / " */
} rb_sweep_run;

/* Merges src's args into dst (an object): "pipeline" concatenates with ',',
 * other keys override.  False values are kept here; rb_sweep_expand drops
 * them after the last merge. */
int rb_sweep_merge_args(json_object *dst, json_object *src, rb_error *err);

/* Canonical JSON: object keys sorted (bytewise), no whitespace, integers
 * as such, doubles in shortest round-trip form ("%.15g".."%.17g"; an
 * integral double prints without a fraction), strings JSON-escaped.
 * Returns a malloc'd string, NULL when out of memory. */
char *rb_json_canonical(json_object *o);

/* A number or string arg as the flag's value ("0.85", "tensor"). */
char *rb_sweep_arg_value(json_object *v);

/* Expands the cross product (first axis slowest) less the excluded runs;
 * run->index stays the position in the full cross product. */
int rb_sweep_expand(const rb_sweep_config *cfg, rb_sweep_run **runs, size_t *n_runs,
                    rb_error *err);
void rb_sweep_runs_free(rb_sweep_run *runs, size_t n_runs);

/* The child's argv (NULL-terminated, malloc'd strings; free with
 * rb_sweep_argv_free): rotbench eval <flags> [--threads T] --json.
 * --threads is added when threads > 0 and the args have no "threads". */
int rb_sweep_argv(const rb_sweep_run *run, const char *rotbench, int threads, char ***argv,
                  rb_error *err);
void rb_sweep_argv_free(char **argv);

/* argv as one shell-quoted line (malloc'd). */
char *rb_shell_join(char *const *argv);

/* ---- running -------------------------------------------------------------- */

typedef enum rb_sweep_event_kind {
    RB_SWEEP_WARN, /* message */
    RB_SWEEP_PLAN, /* n runs to do, skipped already done; before the first start */
    RB_SWEEP_DONE, /* run finished and recorded: record, seconds */
    RB_SWEEP_FAIL, /* run failed: message, command, stderr_tail, seconds */
} rb_sweep_event_kind;

typedef struct rb_sweep_event {
    rb_sweep_event_kind kind;
    size_t k;                  /* DONE/FAIL: runs finished so far, this one included */
    size_t n;                  /* runs to do in this invocation */
    size_t skipped;            /* PLAN: runs already in the results file */
    const rb_sweep_run *run;   /* DONE/FAIL */
    const char *message;       /* WARN text; FAIL reason ("exit status 1", ...) */
    const char *command;       /* FAIL: shell-quoted command line */
    const char *stderr_tail;   /* FAIL: the last lines of the child's stderr */
    json_object *record;       /* DONE: the record appended */
    double seconds;            /* DONE/FAIL: wall time of the run */
} rb_sweep_event;

typedef void (*rb_sweep_progress_fn)(void *ctx, const rb_sweep_event *ev);

typedef struct rb_sweep_opts {
    const char *rotbench; /* the program to run as `rotbench eval` */
    int jobs;             /* runs in parallel (>= 1) */
    int threads;          /* --threads for each run (0: omit) */
    int resume;           /* skip runs whose key is in the results file */
    rb_sweep_progress_fn progress;
    void *progress_ctx;
} rb_sweep_opts;

typedef struct rb_sweep_summary {
    size_t n_runs;    /* in the cross product */
    size_t n_skipped; /* already in the results file (resume) */
    size_t n_done;
    size_t n_failed;
    double seconds;
} rb_sweep_summary;

/* Marks the runs still to do: todo[i] = 1 unless run i's key is in the
 * results file (resume).  Without resume a results file with any content is
 * an error ("results file exists, use --resume").  Read warnings go to the
 * progress callback (may be NULL). */
int rb_sweep_pending(const rb_sweep_config *cfg, const rb_sweep_run *runs, size_t n_runs,
                     int resume, unsigned char *todo, size_t *n_todo,
                     rb_sweep_progress_fn progress, void *progress_ctx, rb_error *err);

/* Runs the pending runs, appending each record (the child's JSON object plus
 * "run_key", "labels", "sweep" and "args") to cfg->results as one line with
 * one write(2) on an O_APPEND descriptor, then fsync.  The results file is
 * locked (flock) for the duration; a partial last line is truncated first.
 * Failed runs are reported through progress and counted; the return value
 * is an error only for what stops the sweep (config, results file I/O). */
int rb_sweep_execute(const rb_sweep_config *cfg, const rb_sweep_opts *opts,
                     rb_sweep_summary *summary, rb_error *err);

#endif
