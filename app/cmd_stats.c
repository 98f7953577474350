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
#include "run/stats.h"

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

/* stats' own options (besides the run flags). */
typedef struct stats_opts {
    const char *baseline, *out_dir, *name, *csv_path, *plot_path;
    long top_k;
    int as_json;
} stats_opts;

enum { O_BASE = RB_CLI_O_END, O_TOP, O_OUTDIR, O_NAME, O_CSV, O_PLOT };

static int stats_flag(void *ctx, int ch, const char *arg) {
    stats_opts *o = ctx;
    switch (ch) {
    case 'J': o->as_json = 1; break;
    case O_BASE: o->baseline = arg; break;
    case O_TOP: o->top_k = rb_cli_int("--top", arg, 0, 64); break;
    case O_OUTDIR: o->out_dir = arg; break;
    case O_NAME: o->name = arg; break;
    case O_CSV: o->csv_path = arg; break;
    case O_PLOT: o->plot_path = arg; break;
    default: return 0;
    }
    return 1;
}

int rb_cmd_stats(int argc, char **argv) {
    rb_run_spec spec;
    rb_run_spec_init(&spec);
    stats_opts so = {.top_k = 4};
    static const struct option extra[] = {
        {"baseline", required_argument, 0, O_BASE}, {"top", required_argument, 0, O_TOP},
        {"out-dir", required_argument, 0, O_OUTDIR}, {"name", required_argument, 0, O_NAME},
        {"csv", required_argument, 0, O_CSV},       {"plot", required_argument, 0, O_PLOT},
        {"json", no_argument, 0, 'J'},              {0, 0, 0, 0}};
    int status = rb_cli_parse(argc, argv, RB_FLAGS_LOAD | RB_FLAGS_PIPELINE | RB_FLAGS_WEIGHTS,
                              extra, &spec, stats_flag, &so, stats_usage);
    if (status >= 0) return status;
    const char *baseline_text = so.baseline, *out_dir = so.out_dir, *name = so.name;
    const char *csv_path = so.csv_path, *plot_path = so.plot_path;
    long top_k = so.top_k;
    int as_json = so.as_json;
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
    rb_error err = {0};
    if (rb_run_stats_check(&spec, baseline_text, &err)) {
        fprintf(stderr, "error: %s\n", err.msg);
        return 2;
    }
    rb_cli_reporter reporter;
    rb_cli_reporter_init(&reporter);
    rb_run_stats st;
    int rc = rb_run_stats_collect(&spec, baseline_text, &reporter.report, &st, &err);
    const rb_run_model *cm = &st.model;
    const rb_outlier_stage *stages = st.stages;
    int n_st = st.n_stages;
    const char *pipeline_canon = st.pipeline, *baseline_canon = st.baseline;
    int *top_ch = malloc(sizeof(int) * 64);
    float *top_val = malloc(sizeof(float) * 64);
    if (!rc && (!top_ch || !top_val)) rc = rb_error_set(&err, RB_ENOMEM, "out of memory");
    /* files */
    char stem_buf[4096], csv_buf[4200], title[6000];
    if (!rc && out_dir) {
        char mstem[1024];
        model_stem(cm->model_path, mstem, sizeof mstem);
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
        model_stem(cm->model_path, mstem, sizeof mstem);
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
        json_object *o = rb_run_stats_record(&spec, &st, (int)top_k);
        if (!o) {
            rc = rb_error_set(&err, RB_ENOMEM, "out of memory");
        } else {
            puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
                                                       JSON_C_TO_STRING_NOSLASHESCAPE));
            json_object_put(o);
        }
    } else if (!rc) {
        printf("# model %s; calibration %d windows of %d tokens from %s, seed %ld\n",
               cm->model_path, st.calib_windows, st.calib_len, st.calib_path, spec.seed);
        printf("# before: %s\n", baseline_text ? baseline_canon : "the model as loaded");
        if (n_st > 1) printf("# after:  %s (activation/KV quantizers off)\n", pipeline_canon);
        print_table(stages, n_st, (int)top_k, top_ch, top_val);
    }
    free(top_ch);
    free(top_val);
    rb_run_stats_free(&st);
    return rc ? rb_cli_fail(&err) : 0;
}
