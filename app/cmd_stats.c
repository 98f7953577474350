/* rotbench stats: outlier statistics of the quantizer inputs per layer and
 * point, before and after a pipeline (eval/act_outliers.h). */
#include <getopt.h>
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/cli.h"
#include "base/io.h"
#include "eval/act_outliers.h"
#include "eval/plot.h"
#include "eval/table.h"
#include "methods/prepare.h"
#include "run/eval.h" /* rb_run_quant_spec_json */
#include "run/prepare.h"

static void stats_usage(FILE *f) {
    fputs("usage: rotbench stats [options]\n"
          "Outlier statistics of the values the quantizers see (every linear's input, and K\n"
          "after RoPE and V), per layer and point, over the calibration windows: max|x|/rms(x),\n"
          "kurtosis E[x^4]/E[x^2]^2 (3 for a Gaussian) and the channels with the largest\n"
          "max|x_j|.  With --pipeline: \"before\" (the model as loaded, or after --baseline) and\n"
          "\"after\" (after the pipeline; activation and KV quantizers off).\n"
          "  --model NAME|FILE       model (default stories260K; llama2.c v0 .bin)\n"
          "  --tokenizer NAME|FILE   tokenizer (default: the named model's)\n"
          RB_CLI_HELP_PIPELINE
          "  --baseline STAGES       \"before\" is the model after these stages instead of the\n"
          "                          model as loaded (needs --pipeline)\n"
          RB_CLI_HELP_WEIGHTS RB_CLI_HELP_SEED
          "  --calib NAME|FILE       calibration corpus (default tinystories)\n"
          RB_CLI_HELP_CALIB_SIZE
          "  --top K                 channels listed per point (default 4, 0..64)\n"
          "  --json                  print one JSON object on stdout instead of the table\n"
          "  --out-dir DIR           also write DIR/NAME_outliers.csv and the plot\n"
          "                          DIR/NAME_outliers.{gp,png,svg} (max/rms per layer, log y)\n"
          "  --name NAME             file name stem with --out-dir (default: the model's)\n"
          "  --csv FILE              write the CSV to FILE\n"
          "  --plot FILE.png         write the plot to FILE.{gp,png,svg}\n"
          "  --threads N             threads for OpenMP and OpenBLAS (default: all cores)\n"
          "  --data-dir DIR          data directory (default $ROTBENCH_DATA or ../shared)\n",
          f);
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

static void print_table(const rb_outlier_stage *st, int n_st, int top_k, int *ch, float *val) {
    printf("%-7s %5s  %-13s %6s %9s %9s  %s\n", "stage", "layer", "point", "width", "max/rms",
           "kurtosis", top_k ? "top channels (channel:max|x|)" : "");
    rb_error err;
    for (int i = 0; i < n_st; i++) {
        const rb_outliers *o = st[i].stats;
        for (int l = 0; l <= o->n_layers; l++)
            for (int p = 0; p < RB_OUTLIER_POINT_COUNT; p++) {
                if (!rb_outliers_has(o, l, p)) continue;
                rb_outlier_summary s;
                rb_outliers_summary(o, l, p, &s, &err);
                printf("%-7s %5d  %-13s %6d %9.2f %9.2f ", st[i].name, l, rb_outlier_point_name(p),
                       s.width, s.max_over_rms, s.kurtosis);
                int n = rb_outliers_top(o, l, p, top_k, ch, val);
                for (int t = 0; t < n; t++) printf(" %d:%.4g", ch[t], val[t]);
                putchar('\n');
            }
    }
}

/* The file name of path without directories and without ".bin". */
static void model_stem(const char *path, char *buf, size_t cap) {
    const char *b = strrchr(path, '/');
    snprintf(buf, cap, "%s", b ? b + 1 : path);
    size_t n = strlen(buf);
    if (n > 4 && !strcmp(buf + n - 4, ".bin")) buf[n - 4] = 0;
}

int rb_cmd_stats(int argc, char **argv) {
    const char *baseline_text = NULL;
    const char *out_dir = NULL, *name = NULL, *csv_path = NULL, *plot_path = NULL;
    long top_k = 4;
    int as_json = 0;
    rb_run_spec spec;
    rb_run_spec_init(&spec);
    enum { O_BASE = RB_CLI_O_END, O_TOP, O_OUTDIR, O_NAME, O_CSV, O_PLOT };
    static const struct option extra[] = {
        {"baseline", required_argument, 0, O_BASE}, {"top", required_argument, 0, O_TOP},
        {"out-dir", required_argument, 0, O_OUTDIR}, {"name", required_argument, 0, O_NAME},
        {"csv", required_argument, 0, O_CSV},       {"plot", required_argument, 0, O_PLOT},
        {"json", no_argument, 0, 'J'},              {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    struct option *opts =
        rb_cli_run_options(RB_FLAGS_LOAD | RB_FLAGS_PIPELINE | RB_FLAGS_WEIGHTS, extra);
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (ch) {
        case 'J': as_json = 1; break;
        case O_BASE: baseline_text = optarg; break;
        case O_TOP: top_k = rb_cli_int("--top", optarg, 0, 64); break;
        case O_OUTDIR: out_dir = optarg; break;
        case O_NAME: name = optarg; break;
        case O_CSV: csv_path = optarg; break;
        case O_PLOT: plot_path = optarg; break;
        case 'h': free(opts); stats_usage(stdout); return 0;
        default:
            if (rb_cli_run_flag(&spec, ch, optarg)) break;
            free(opts);
            stats_usage(stderr);
            return 2;
        }
    }
    free(opts);
    if (optind < argc) {
        fprintf(stderr, "error: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (name && !out_dir) {
        fprintf(stderr, "error: --name needs --out-dir\n");
        return 2;
    }
    if (out_dir && !*out_dir) {
        fprintf(stderr, "error: --out-dir needs a directory\n");
        return 2;
    }
    if (name && (!*name || strchr(name, '/'))) {
        fprintf(stderr, "error: --name expects a file name without '/', got '%s'\n", name);
        return 2;
    }
    if (baseline_text && !*spec.pipeline) {
        fprintf(stderr, "error: --baseline needs --pipeline (the \"after\" model)\n");
        return 2;
    }
    /* pipelines are checked before anything is loaded: a bad one is a usage error */
    rb_error err = {0};
    rb_pipeline pipeline = {0}, baseline = {0};
    if (rb_pipeline_parse(spec.pipeline, &pipeline, &err)) {
        fprintf(stderr, "error: --pipeline: %s\n", err.msg);
        return 2;
    }
    if (baseline_text && rb_pipeline_parse(baseline_text, &baseline, &err)) {
        fprintf(stderr, "error: --baseline: %s\n", err.msg);
        return 2;
    }
    int nthreads = rb_run_set_threads(&spec);
    rb_run_model cm;
    rb_quant_config quant;
    rb_calib calib = {0};
    rb_model *before_model = NULL;
    rb_outliers before = {0}, after = {0};
    char calib_path[1024] = "", pipeline_canon[2048] = "", baseline_canon[2048] = "";
    rb_quant_config_init(&quant);
    int rc = rb_run_load(&spec, 1, 1, &cm, &err);
    if (!rc) rc = rb_run_quant(&spec, &cm.model->cfg, &quant, &err);
    if (!rc) rc = rb_run_pipeline(&spec, &quant, &pipeline, &err);
    if (!rc && baseline_text) {
        rc = rb_pipeline_complete(&baseline, &quant, &err);
        if (rc) rb_error_prefix(&err, "--baseline: ");
    }
    if (!rc)
        rc = rb_run_calib(&spec, &cm, "tinystories", &calib, calib_path, sizeof calib_path, &err);
    rb_pipeline_format(&pipeline, pipeline_canon, sizeof pipeline_canon);
    if (baseline_text) rb_pipeline_format(&baseline, baseline_canon, sizeof baseline_canon);
    if (!rc)
        fprintf(stderr, "stats: %s, %d calibration windows of %d tokens from %s, %d threads\n",
                cm.model_path, calib.n_windows, calib.window, calib_path, nthreads);
    /* before: the model as loaded, or a clone after the baseline stages */
    const rb_model *bm = cm.model;
    if (!rc && baseline_text) {
        rc = rb_model_clone(cm.model, &before_model, &err);
        if (!rc) rc = rb_prepare_model(before_model, &baseline, &quant, &calib,
                                       (uint64_t)spec.seed, &rb_cli_log, &err);
        if (rc) rb_error_prefix(&err, "--baseline: ");
        bm = before_model;
    }
    double t0 = rb_now();
    if (!rc) rc = rb_outliers_collect(bm, &calib, NULL, &before, &err);
    if (!rc)
        fprintf(stderr, "stats: before (%s) collected in %.2f s\n",
                baseline_text ? baseline_canon : "the model as loaded", rb_now() - t0);
    rb_model_free(before_model);
    int n_st = 1;
    if (!rc && pipeline.n) {
        rc = rb_prepare_model(cm.model, &pipeline, &quant, &calib, (uint64_t)spec.seed,
                              &rb_cli_log, &err);
        t0 = rb_now();
        if (!rc) rc = rb_outliers_collect(cm.model, &calib, NULL, &after, &err);
        if (!rc)
            fprintf(stderr, "stats: after (%s) collected in %.2f s\n", pipeline_canon,
                    rb_now() - t0);
        n_st = 2;
    }
    rb_outlier_stage stages[2] = {{"before", &before}, {"after", &after}};
    int *top_ch = malloc(sizeof(int) * 64);
    float *top_val = malloc(sizeof(float) * 64);
    if (!rc && (!top_ch || !top_val)) rc = rb_error_set(&err, RB_ENOMEM, "out of memory");
    /* files */
    char stem_buf[4096], csv_buf[4200], title[6000];
    if (!rc && out_dir) {
        char mstem[1024];
        model_stem(cm.model_path, mstem, sizeof mstem);
        snprintf(stem_buf, sizeof stem_buf, "%s/%s_outliers", out_dir, name ? name : mstem);
        snprintf(csv_buf, sizeof csv_buf, "%s.csv", stem_buf);
        if (!csv_path) csv_path = csv_buf;
        if (!plot_path) plot_path = stem_buf;
    }
    if (!rc && csv_path) {
        char *csv = NULL;
        rc = rb_outliers_csv(stages, n_st, (int)top_k, &csv, &err);
        if (!rc) rc = rb_write_text_file(csv_path, csv, &err);
        if (!rc) fprintf(stderr, "stats: wrote %s\n", csv_path);
        free(csv);
    }
    if (!rc && plot_path) {
        char mstem[1024];
        model_stem(cm.model_path, mstem, sizeof mstem);
        snprintf(title, sizeof title, "max|x| / rms(x) at the quantizer inputs, %s\n%s%s%s%s",
                 mstem, n_st > 1 ? "before: " : "",
                 baseline_text ? baseline_canon : "the model as loaded",
                 n_st > 1 ? "\nafter: " : "", n_st > 1 ? pipeline_canon : "");
        char stem[4096], base[4096];
        rc = rb_plot_split(plot_path, stem, base, sizeof stem, &err);
        if (!rc) rc = rb_outliers_plot_write(stages, n_st, title, plot_path, NULL, &err);
        if (!rc) fprintf(stderr, "stats: wrote the plot %s.{gp,png,svg}\n", stem);
    }
    if (!rc && as_json) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "model", json_object_new_string(cm.model_path));
        json_object_object_add(o, "model_sha256", json_object_new_string(cm.model_sha256));
        json_object_object_add(o, "tokenizer", json_object_new_string(cm.tokenizer_path));
        json_object_object_add(o, "tokenizer_sha256", json_object_new_string(cm.tokenizer_sha256));
        json_object_object_add(o, "pipeline", json_object_new_string(pipeline_canon));
        if (baseline_text)
            json_object_object_add(o, "baseline", json_object_new_string(baseline_canon));
        json_object_object_add(o, "w", rb_run_quant_spec_json(&quant.w, 0, 0));
        json_object_object_add(o, "seed", json_object_new_int64(spec.seed));
        json_object *cj = json_object_new_object();
        json_object_object_add(cj, "data", json_object_new_string(calib_path));
        json_object_object_add(cj, "windows", json_object_new_int64(spec.calib_windows));
        json_object_object_add(cj, "len", json_object_new_int64(spec.calib_len));
        json_object_object_add(o, "calib", cj);
        json_object_object_add(o, "top_k", json_object_new_int64(top_k));
        json_object_object_add(o, "threads", json_object_new_int(nthreads));
        json_object *arr = json_object_new_array();
        for (int i = 0; i < n_st; i++) records_json(arr, &stages[i], (int)top_k, top_ch, top_val);
        json_object_object_add(o, "records", arr);
        json_object_object_add(o, "rotbench_version", json_object_new_string(RB_VERSION));
        puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
                                                   JSON_C_TO_STRING_NOSLASHESCAPE));
        json_object_put(o);
    } else if (!rc) {
        printf("# model %s; calibration %d windows of %d tokens from %s, seed %ld\n",
               cm.model_path, calib.n_windows, calib.window, calib_path, spec.seed);
        printf("# before: %s\n", baseline_text ? baseline_canon : "the model as loaded");
        if (n_st > 1) printf("# after:  %s (activation/KV quantizers off)\n", pipeline_canon);
        print_table(stages, n_st, (int)top_k, top_ch, top_val);
    }
    free(top_ch);
    free(top_val);
    rb_outliers_free(&before);
    rb_outliers_free(&after);
    rb_calib_free(&calib);
    rb_quant_config_free(&quant);
    rb_run_model_free(&cm);
    return rc ? rb_cli_fail(&err) : 0;
}
