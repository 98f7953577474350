/* Sweep configs: the JSON file that defines a sweep, parsed and validated
 * (eval/sweep_config.c).  The runs it expands to: eval/sweep_expand.h; running
 * them: run/sweep.h.
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
#ifndef RB_SWEEP_CONFIG_H
#define RB_SWEEP_CONFIG_H

#include <json-c/json.h>
#include <stddef.h>

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
    char *profile; /* the profile applied (eval/sweep_profile.h), NULL for the full config */
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
 * "configs/x.json: axes[1].values[0]: missing \"label\"".  Its "profiles"
 * (eval/sweep_profile.h) are validated too; profile (NULL: none) names the
 * one to apply: cfg is then the reduced config and cfg->profile its name. */
int rb_sweep_config_load(const char *path, rb_sweep_config *cfg, rb_error *err);
int rb_sweep_config_load_profile(const char *path, const char *profile, rb_sweep_config *cfg,
                                 rb_error *err);
/* The same from text; path is used in messages only. */
int rb_sweep_config_parse(const char *text, size_t len, const char *path, rb_sweep_config *cfg,
                          rb_error *err);
int rb_sweep_config_parse_profile(const char *text, size_t len, const char *path,
                                  const char *profile, rb_sweep_config *cfg, rb_error *err);

/* An args object (base, a value's args, a profile's overrides): every key
 * an eval flag (eval/eval_flags.h) with a value of its type; runs ("every
 * run", "the runs with a=x") ends the messages. */
int rb_sweep_check_args(const char *file, const char *jpath, const char *runs, json_object *args,
                        rb_error *err);
/* Characters safe in a file name: [A-Za-z0-9_.-], not starting with '.'. */
int rb_sweep_name_ok(const char *s);
/* "a string", "an object", ...: a JSON value's type for messages. */
const char *rb_json_type_word(json_object *o);
void rb_sweep_config_free(rb_sweep_config *cfg);

/* Index of the axis named name, or -1. */
int rb_sweep_axis_index(const rb_sweep_config *cfg, const char *name);

/* "file: jpath: message" (no "jpath: " when jpath is empty) into err: the
 * form of every config error, also the expansion's. */
int rb_sweep_config_error(rb_error *err, rb_status st, const char *file, const char *jpath,
                          const char *fmt, ...) __attribute__((format(printf, 5, 6)));

#endif
