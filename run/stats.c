#include "run/stats.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/io.h"
#include "methods/prepare.h"
#include "run/eval.h" /* rb_run_quant_spec_json */

int rb_run_stats_check(const rb_run_spec *s, const char *baseline, rb_error *err) {
    if (baseline && !*s->pipeline)
        return rb_error_set(err, RB_EINVAL, "--baseline needs --pipeline (the \"after\" model)");
    rb_pipeline p;
    if (rb_pipeline_parse(s->pipeline, &p, err)) return rb_error_prefix(err, "--pipeline: ");
    if (baseline && rb_pipeline_parse(baseline, &p, err))
        return rb_error_prefix(err, "--baseline: ");
    return RB_OK;
}

int rb_run_stats_collect(const rb_run_spec *s, const char *baseline_text,
                         const rb_run_report *report, rb_run_stats *out, rb_error *err) {
    memset(out, 0, sizeof *out);
    out->stages[0] = (rb_outlier_stage){"before", &out->before};
    out->stages[1] = (rb_outlier_stage){"after", &out->after};
    out->n_stages = 1;
    out->has_baseline = baseline_text != NULL;
    const rb_log *log = rb_run_log(report);
    rb_pipeline pipeline = {0}, baseline = {0};
    rb_quant_config quant;
    rb_calib calib = {0};
    rb_model *before_model = NULL;
    rb_quant_config_init(&quant);
    out->threads = rb_run_set_threads(s);
    rb_run_model *cm = &out->model;
    int rc = rb_run_load(s, 1, 1, cm, err);
    if (!rc) rc = rb_run_quant(s, &cm->model->cfg, &quant, err);
    if (!rc) rc = rb_run_pipeline(s, &quant, &pipeline, err);
    if (!rc && baseline_text) {
        rc = rb_pipeline_parse(baseline_text, &baseline, err);
        if (!rc) rc = rb_pipeline_complete(&baseline, &quant, err);
        if (rc) rb_error_prefix(err, "--baseline: ");
    }
    if (!rc)
        rc = rb_run_calib(s, cm, "tinystories", &calib, out->calib_path, sizeof out->calib_path,
                          err);
    out->calib_windows = calib.n_windows;
    out->calib_len = calib.window;
    rb_pipeline_format(&pipeline, out->pipeline, sizeof out->pipeline);
    if (baseline_text) rb_pipeline_format(&baseline, out->baseline, sizeof out->baseline);
    if (!rc)
        rb_logf(log, "stats: %s, %d calibration windows of %d tokens from %s, %d threads",
                cm->model_path, calib.n_windows, calib.window, out->calib_path, out->threads);
    /* before: the model as loaded, or a clone after the baseline stages */
    const rb_model *bm = cm->model;
    if (!rc && baseline_text) {
        rc = rb_model_clone(cm->model, &before_model, err);
        if (!rc)
            rc = rb_prepare_model(before_model, &baseline, &quant, &calib, (uint64_t)s->seed, log,
                                  err);
        if (rc) rb_error_prefix(err, "--baseline: ");
        bm = before_model;
    }
    double t0 = rb_now();
    if (!rc) rc = rb_outliers_collect(bm, &calib, NULL, &out->before, err);
    if (!rc)
        rb_logf(log, "stats: before (%s) collected in %.2f s",
                baseline_text ? out->baseline : "the model as loaded", rb_now() - t0);
    rb_model_free(before_model);
    if (!rc && pipeline.n) {
        rc = rb_prepare_model(cm->model, &pipeline, &quant, &calib, (uint64_t)s->seed, log, err);
        t0 = rb_now();
        if (!rc) rc = rb_outliers_collect(cm->model, &calib, NULL, &out->after, err);
        if (!rc)
            rb_logf(log, "stats: after (%s) collected in %.2f s", out->pipeline, rb_now() - t0);
        out->n_stages = 2;
    }
    out->w = quant.w;
    rb_calib_free(&calib);
    rb_quant_config_free(&quant);
    return rc;
}

void rb_run_stats_free(rb_run_stats *st) {
    rb_outliers_free(&st->before);
    rb_outliers_free(&st->after);
    rb_run_model_free(&st->model);
}

static json_object *number_json(double v) {
    return isfinite(v) ? json_object_new_double(v) : NULL;
}

/* Appends one record per slot of stage st to arr. */
static void records_json(json_object *arr, const rb_outlier_stage *st, int top_k, int *ch,
                         float *val) {
    const rb_outliers *o = st->stats;
    rb_error err;
    for (int l = 0; l <= o->n_layers; l++)
        for (int p = 0; p < RB_OUTLIER_POINT_COUNT; p++) {
            if (!rb_outliers_has(o, l, p)) continue;
            rb_outlier_summary s;
            rb_outliers_summary(o, l, p, &s, &err);
            json_object *r = json_object_new_object();
            json_object_object_add(r, "stage", json_object_new_string(st->name));
            json_object_object_add(r, "layer", json_object_new_int(l));
            json_object_object_add(r, "point", json_object_new_string(rb_outlier_point_name(p)));
            json_object_object_add(r, "width", json_object_new_int(s.width));
            json_object_object_add(r, "n", json_object_new_int64((int64_t)s.n));
            json_object_object_add(r, "max_abs", number_json(s.absmax));
            json_object_object_add(r, "rms", number_json(s.rms));
            json_object_object_add(r, "max_over_rms", number_json(s.max_over_rms));
            json_object_object_add(r, "kurtosis", number_json(s.kurtosis));
            json_object *top = json_object_new_array();
            int n = rb_outliers_top(o, l, p, top_k, ch, val);
            for (int t = 0; t < n; t++) {
                json_object *pair = json_object_new_array();
                json_object_array_add(pair, json_object_new_int(ch[t]));
                json_object_array_add(pair, json_object_new_double(val[t]));
                json_object_array_add(top, pair);
            }
            json_object_object_add(r, "top", top);
            json_object_array_add(arr, r);
        }
}

json_object *rb_run_stats_record(const rb_run_spec *s, const rb_run_stats *st, int top_k) {
    int *top_ch = malloc(sizeof(int) * 64);
    float *top_val = malloc(sizeof(float) * 64);
    if (!top_ch || !top_val) {
        free(top_ch);
        free(top_val);
        return NULL;
    }
    const rb_run_model *cm = &st->model;
    json_object *o = json_object_new_object();
    rb_run_model_record(cm, NULL, o);
    json_object_object_add(o, "pipeline", json_object_new_string(st->pipeline));
    if (st->has_baseline)
        json_object_object_add(o, "baseline", json_object_new_string(st->baseline));
    json_object_object_add(o, "w", rb_run_quant_spec_json(&st->w, 0, 0));
    json_object_object_add(o, "seed", json_object_new_int64(s->seed));
    json_object *cj = json_object_new_object();
    json_object_object_add(cj, "data", json_object_new_string(st->calib_path));
    json_object_object_add(cj, "windows", json_object_new_int64(s->calib_windows));
    json_object_object_add(cj, "len", json_object_new_int64(s->calib_len));
    json_object_object_add(o, "calib", cj);
    json_object_object_add(o, "top_k", json_object_new_int64(top_k));
    json_object_object_add(o, "threads", json_object_new_int(st->threads));
    json_object *arr = json_object_new_array();
    for (int i = 0; i < st->n_stages; i++)
        records_json(arr, &st->stages[i], top_k, top_ch, top_val);
    json_object_object_add(o, "records", arr);
    json_object_object_add(o, "rotbench_version", json_object_new_string(RB_VERSION));
    free(top_ch);
    free(top_val);
    return o;
}
