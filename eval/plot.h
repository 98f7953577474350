/* Line plots from a results file, rendered with gnuplot.
 *
 * One line per label of the series axis (or a single line without one),
 * the metric against the x axis's labels; every other axis is aggregated
 * over (mean, with ± sample std error bars when some point has n > 1).  When
 * every x label parses as a number the x axis is numeric (points sorted by
 * x), else categorical (labels in order, evenly spaced).
 *
 * rb_plot_write writes STEM.gp, a standalone gnuplot script with the data
 * inline (datablocks), and runs gnuplot on it in STEM's directory, which
 * renders STEM.png (pngcairo) and STEM.svg.  Re-run by hand with
 * `cd DIR && gnuplot STEM.gp`.
 */
#ifndef RB_PLOT_H
#define RB_PLOT_H

#include <json-c/json.h>

#include "base/buf.h"
#include "base/error.h"
#include "eval/aggregate.h"
#include "eval/sweep_config.h"

typedef struct rb_plot_spec {
    const char *x;
    const char *series;  /* NULL: one line */
    const char *metric;  /* NULL: "ppl" */
    const rb_where *where;
    size_t n_where;
    int logy, logx;
    const char *title;   /* NULL: "<metric> vs <x>" */
    const char *gnuplot; /* NULL: "gnuplot" from PATH */
    const char *source;  /* named in the script's header comment (may be NULL) */
} rb_plot_spec;

/* Aggregates records for spec.  Dims: [series,] x.  With cfg, labels follow
 * the config's order; without, numeric labels in numeric order, others in
 * first-seen order. */
int rb_plot_aggregate(json_object *records, const rb_plot_spec *spec, const rb_sweep_config *cfg,
                      rb_agg *agg, rb_error *err);

/* The gnuplot script; out_base names the outputs (out_base.png, .svg, as
 * written in the script: give a file name without directories). */
int rb_plot_script(const rb_agg *agg, const rb_plot_spec *spec, const char *out_base, char **out,
                   rb_error *err);

/* out: "DIR/STEM.png" (or "DIR/STEM").  Writes DIR/STEM.gp, then runs
 * gnuplot: DIR/STEM.png and DIR/STEM.svg.  Errors: no data, gnuplot missing
 * (the script is still written), gnuplot failing (its stderr quoted). */
int rb_plot_write(const rb_agg *agg, const rb_plot_spec *spec, const char *out, rb_error *err);

/* ---- pieces for other gnuplot writers (eval/act_outliers.c) --------------- */

/* Splits out ("DIR/STEM.png", ".svg", ".gp" or no extension) into the stem
 * "DIR/STEM" (stem[cap]) and the file name "STEM" (base[cap]).  RB_EINVAL
 * when there is no file name. */
int rb_plot_split(const char *out, char *stem, char *base, size_t cap, rb_error *err);

/* Appends s to b as a gnuplot single-quoted string, in which gnuplot
 * interprets nothing (no `command` substitution, no @macros, no escapes):
 * ' is doubled, control characters become spaces, and with keep_newlines a
 * newline becomes the string expression '...'."\n".'...' (for titles).
 * Every string from outside (labels, titles, axis names, file names) goes
 * into a script through this. */
void rb_gnuplot_quote(rb_buf *b, const char *s, int keep_newlines);

/* Appends s for a script comment: on one line (control characters become
 * spaces) and without a backslash (which would continue the comment). */
void rb_gnuplot_comment(rb_buf *b, const char *s);

/* Writes script to STEM.gp (creating the directories) and runs gnuplot
 * (NULL: "gnuplot" from PATH) on it in STEM's directory, where the script
 * writes its outputs; checks that STEM.png was written.  Errors as for
 * rb_plot_write. */
int rb_gnuplot_render(const char *stem, const char *script, const char *gnuplot, rb_error *err);

#endif
