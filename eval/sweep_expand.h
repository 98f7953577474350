/* A sweep config's runs: the cross product of its axes less the excluded
 * runs, each with its merged args, labels and key (eval/sweep_expand.c). */
#ifndef RB_SWEEP_EXPAND_H
#define RB_SWEEP_EXPAND_H

#include <json-c/json.h>
#include <stddef.h>

#include "base/error.h"
#include "eval/sweep_config.h"

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

#endif
