/* `rotbench stats` as a library call: outlier statistics of the quantizer
 * inputs (eval/act_outliers.h) over a spec's calibration windows, "before"
 * (the model as loaded, or after baseline stages) and, with a pipeline,
 * "after" it (activation and KV quantizers off).  The prepare sequence is
 * the eval's (run/prepare.h); calibration defaults to tinystories. */
#ifndef RB_RUN_STATS_H
#define RB_RUN_STATS_H

#include <json-c/json.h>

#include "base/error.h"
#include "eval/act_outliers.h"
#include "run/prepare.h"
#include "run/report.h"
#include "run/spec.h"

typedef struct rb_run_stats {
    rb_run_model model;          /* the model (after the pipeline) and its files */
    rb_outliers before, after;   /* after: empty without a pipeline */
    rb_outlier_stage stages[2];  /* {"before", &before}, {"after", &after} */
    int n_stages;                /* 1, or 2 with a pipeline */
    int threads;
    int calib_windows, calib_len;           /* as drawn */
    char calib_path[1024];
    char pipeline[2048], baseline[2048];    /* canonical; baseline "" when none */
    int has_baseline;
    rb_quant_spec w;             /* the weight quantizer the stages used */
} rb_run_stats;

/* The checks that need nothing loaded: the pipeline and the baseline parse
 * (messages "--pipeline: ..." / "--baseline: ..."), a baseline needs a
 * pipeline.  baseline may be NULL. */
int rb_run_stats_check(const rb_run_spec *s, const char *baseline, rb_error *err);

/* Runs the statistics (after rb_run_stats_check); out is overwritten and
 * must be rb_run_stats_free()d, also on error.  Sets the thread count. */
int rb_run_stats_collect(const rb_run_spec *s, const char *baseline, const rb_run_report *report,
                         rb_run_stats *out, rb_error *err);
void rb_run_stats_free(rb_run_stats *st);

/* The JSON object `rotbench stats --json` prints: model, model_sha256,
 * tokenizer, tokenizer_sha256, pipeline, [baseline], w, seed, calib {data,
 * windows, len}, top_k, threads, records [{stage, layer, point, width, n,
 * max_abs, rms, max_over_rms, kurtosis (non-finite: null), top [[channel,
 * max|x|], ...]}], rotbench_version.  NULL when out of memory. */
json_object *rb_run_stats_record(const rb_run_spec *s, const rb_run_stats *st, int top_k);

#endif
