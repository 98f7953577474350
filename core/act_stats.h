/* Per-channel activation statistics at the linear inputs, over calibration
 * windows (SmoothQuant's max|X_j|, outlier statistics). */
#ifndef RB_ACT_STATS_H
#define RB_ACT_STATS_H

#include "core/calib.h"

typedef struct rb_act_absmax {
    int n_layers;           /* slots: layers 0..n_layers-1, plus n_layers = classifier */
    int stride;             /* floats per (layer, point) slot: the widest input */
    int width[RB_ACT_POINT_COUNT];
    float *max;             /* [(n_layers+1)][RB_ACT_POINT_COUNT][stride], owned */
} rb_act_absmax;

/* Runs the calibration windows through m and records max_t |x[t][c]| for
 * every linear input channel. */
int rb_act_absmax_collect(const rb_model *m, const rb_calib *calib, const rb_hooks *inner,
                          rb_act_absmax *out, rb_error *err);
/* The channel maxima of one input point ([width[p]] floats). */
const float *rb_act_absmax_get(const rb_act_absmax *a, int layer, rb_act_point p);
void rb_act_absmax_free(rb_act_absmax *a);

#endif
