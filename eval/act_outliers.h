/* Outlier statistics of the values the quantizers see, per layer and point.
 *
 * Points: the input of every linear (rb_act_point: qkv_in, o_in, gate_up_in,
 * down_in, and classifier_in at layer n_layers) and the K and V cache of
 * every layer.  The values are recorded by forward hooks, i.e. exactly what
 * an activation or KV quantizer would receive: after every transform the
 * model applies online in rb_forward (QuaRot's Hadamards on q/k, across
 * heads before wo, before w2) and before the quantizer itself.
 *
 * For every (layer, point) slot, accumulated in double over all tokens and
 * channels seen (streaming; nothing else is kept):
 *   n = entries, Σx², Σx⁴, max|x| and, per channel j, max_t |x[t][j]|.
 * From these:
 *   max_over_rms = max|x| / sqrt(Σx²/n)         the "outlier ratio"
 *   kurtosis     = (Σx⁴/n) / (Σx²/n)²           about zero, not centred:
 *                                               3 for a Gaussian, 1.8 uniform
 *   top channels = the K channels with the largest max_t |x[t][j]|
 *                  (ties: the lower channel first)
 * The sums run in a fixed order (rows, then channels, one hook call after
 * another), so a collection is deterministic for a given thread count.
 */
#ifndef RB_ACT_OUTLIERS_H
#define RB_ACT_OUTLIERS_H

#include <stdint.h>

#include "core/calib.h"
#include "base/error.h"
#include "core/forward.h"

/* Points: 0 .. RB_ACT_POINT_COUNT-1 are the rb_act_point values. */
enum {
    RB_OUTLIER_K = RB_ACT_POINT_COUNT, /* K after RoPE (+ online R3)  [T][n_kv_heads*head_dim] */
    RB_OUTLIER_V,                      /* V                           [T][n_kv_heads*head_dim] */
    RB_OUTLIER_POINT_COUNT
};

/* "qkv_in", "o_in", "gate_up_in", "down_in", "classifier_in", "k", "v";
 * "?" out of range. */
const char *rb_outlier_point_name(int point);

typedef struct rb_outlier_acc {
    uint64_t n;          /* entries seen */
    double sum2, sum4;   /* Σx², Σx⁴ */
    double absmax;       /* max |x| */
} rb_outlier_acc;

typedef struct rb_outliers {
    int n_layers;                        /* slots: layers 0..n_layers (classifier) */
    int width[RB_OUTLIER_POINT_COUNT];   /* channels of each point */
    int stride;                          /* the widest point */
    rb_outlier_acc *acc;  /* [n_layers+1][RB_OUTLIER_POINT_COUNT], owned */
    float *ch_max;        /* [n_layers+1][RB_OUTLIER_POINT_COUNT][stride], owned */
} rb_outliers;

/* Empty statistics for a model of shape c. */
int rb_outliers_init(rb_outliers *o, const rb_config *c, rb_error *err);
void rb_outliers_free(rb_outliers *o);

/* Whether (layer, point) is a slot: every point but the classifier's at
 * layers 0..n_layers-1, classifier_in only at layer n_layers. */
int rb_outliers_has(const rb_outliers *o, int layer, int point);

/* Adds x[rows][cols] (cols == width[point]) to the slot.  RB_EINVAL for a
 * slot that does not exist or a wrong width. */
int rb_outliers_add(rb_outliers *o, int layer, int point, const float *x, int rows, int cols,
                    rb_error *err);

/* Runs the calibration windows through m and records every slot.  The
 * values are recorded before `inner` (may be NULL; e.g. quantization hooks)
 * is applied to them, i.e. as its quantizers receive them.  out is
 * initialised here (rb_outliers_free it, also after an error). */
int rb_outliers_collect(const rb_model *m, const rb_calib *calib, const rb_hooks *inner,
                        rb_outliers *out, rb_error *err);

typedef struct rb_outlier_summary {
    int width;
    uint64_t n;           /* 0: nothing seen (the ratios are then NaN) */
    double absmax, rms;
    double max_over_rms;  /* NaN when rms is 0 */
    double kurtosis;      /* NaN when rms is 0 */
} rb_outlier_summary;

/* The summary of one slot (see the top of this file).  RB_EINVAL for a slot
 * that does not exist. */
int rb_outliers_summary(const rb_outliers *o, int layer, int point, rb_outlier_summary *s,
                        rb_error *err);

/* The k channels with the largest max|x_j| of a slot, largest first, into
 * ch[k] and val[k]; returns how many were written (min(k, width); 0 for a
 * slot that does not exist or k <= 0). */
int rb_outliers_top(const rb_outliers *o, int layer, int point, int k, int *ch, float *val);

/* ---- reports comparing models (e.g. before and after a pipeline) ---------- */

typedef struct rb_outlier_stage {
    const char *name;          /* "before", "after" */
    const rb_outliers *stats;  /* all stages of one report have the same shape */
} rb_outlier_stage;

/* CSV (header first), one row per stage, layer and point:
 *   stage,layer,point,width,n,max_abs,rms,max_over_rms,kurtosis,top
 * top: "channel:value" pairs separated by ';' (top_k of them).  Non-finite
 * numbers are written empty.  *out is malloc'd. */
int rb_outliers_csv(const rb_outlier_stage *st, int n_st, int top_k, char **out, rb_error *err);

/* A standalone gnuplot script (data inline) plotting max_over_rms against
 * the layer (the classifier input at x = n_layers, labelled "cls") on a log
 * y axis: one colour per point, one dash type and marker per stage.  title
 * may hold newlines; out_base names the outputs out_base.png and .svg (a
 * file name without directories).  *out is malloc'd. */
int rb_outliers_plot_script(const rb_outlier_stage *st, int n_st, const char *title,
                            const char *out_base, char **out, rb_error *err);

/* out: "DIR/STEM.png" (or "DIR/STEM").  Writes DIR/STEM.gp and renders
 * DIR/STEM.png and DIR/STEM.svg with gnuplot (eval/plot.h's
 * rb_gnuplot_render; gnuplot NULL: from PATH). */
int rb_outliers_plot_write(const rb_outlier_stage *st, int n_st, const char *title,
                           const char *out, const char *gnuplot, rb_error *err);

#endif
