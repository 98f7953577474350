/* rotbench plot: line plots (gnuplot script + PNG + SVG) from results files. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/cli.h"
#include "eval/plot.h"
#include "eval/records.h"
#include "eval/sweep.h"

enum { MAX_WHERE = 32 };

static void plot_usage(FILE *f) {
    fputs("usage: rotbench plot RESULTS... --x AXIS [--series AXIS] [--metric M] [--where AXIS=LABEL]...\n"
          "                     [--logy] [--logx] [--title T] --out FILE.png\n"
          "       rotbench plot [RESULTS...] --config CONFIG [--profile P] [--name PLOT] [--metric M]\n"
          "                     [--where AXIS=LABEL]... [--out-dir DIR]\n"
          "  The metric (default ppl) against the x axis's labels (numeric when they all are\n"
          "  numbers, else categorical), one line per series label; other axes (seeds) are\n"
          "  averaged, with ± sample std error bars.  Writes FILE.gp (a standalone gnuplot\n"
          "  script with the data inline) and renders FILE.png and FILE.svg with gnuplot.\n"
          "  The --config form renders the config's \"plots\" (or only PLOT) from RESULTS\n"
          "  (default: the config's results file and its shards' files) into\n"
          "  DIR/<config name>_<plot name>.{gp,png,svg}\n"
          "  (DIR default: plots).  $ROTBENCH_GNUPLOT overrides the gnuplot program.\n"
          "  RESULTS: one or more files or globs, merged (conflicting records of a run are an\n"
          "  error).  --profile P: the config reduced by its profile P (its results file).\n",
          f);
}

static int render(json_object *items, const char *results, const rb_plot_spec *spec,
                  const rb_sweep_config *cfg, const char *out) {
    rb_error err = {0};
    rb_agg agg;
    if (rb_plot_aggregate(items, spec, cfg, &agg, &err)) return rb_cli_fail(&err);
    const char *metric = spec->metric ? spec->metric : "ppl";
    if (agg.n_no_label)
        fprintf(stderr, "note: %s: %zu record%s without a label for %s%s%s\n", results,
                agg.n_no_label, agg.n_no_label > 1 ? "s" : "", spec->x, spec->series ? "/" : "",
                spec->series ? spec->series : "");
    if (agg.n_no_metric)
        fprintf(stderr, "note: %s: %zu record%s without a numeric \"%s\"\n", results,
                agg.n_no_metric, agg.n_no_metric > 1 ? "s" : "", metric);
    int rc = rb_plot_write(&agg, spec, out, &err);
    rb_agg_free(&agg);
    if (rc) return rb_cli_fail(&err);
    char stem[4096];
    snprintf(stem, sizeof stem, "%s", out);
    size_t n = strlen(stem);
    if (n > 4 && !strcmp(stem + n - 4, ".png")) stem[n - 4] = 0;
    fprintf(stderr, "wrote %s.gp, %s.png, %s.svg\n", stem, stem, stem);
    return 0;
}

int rb_cmd_plot(int argc, char **argv) {
    const char *x = NULL, *series = NULL, *metric = NULL, *out = NULL, *title = NULL;
    const char *config = NULL, *profile = NULL, *name = NULL, *out_dir = "plots";
    int logy = 0, logx = 0;
    rb_where where[MAX_WHERE];
    size_t n_where = 0;
    static const struct option opts[] = {
        {"x", required_argument, 0, 'x'},      {"series", required_argument, 0, 's'},
        {"metric", required_argument, 0, 'm'}, {"where", required_argument, 0, 'w'},
        {"logy", no_argument, 0, 'y'},         {"logx", no_argument, 0, 'X'},
        {"title", required_argument, 0, 't'},  {"out", required_argument, 0, 'o'},
        {"config", required_argument, 0, 'C'}, {"name", required_argument, 0, 'N'},
        {"out-dir", required_argument, 0, 'D'}, {"profile", required_argument, 0, 'P'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    int ch;
    rb_error err = {0};
    optind = 1;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (ch) {
        case 'x': x = optarg; break;
        case 's': series = optarg; break;
        case 'm': metric = optarg; break;
        case 'w':
            if (rb_cli_add_where(where, &n_where, MAX_WHERE, optarg)) return 2;
            break;
        case 'y': logy = 1; break;
        case 'X': logx = 1; break;
        case 't': title = optarg; break;
        case 'o': out = optarg; break;
        case 'C': config = optarg; break;
        case 'N': name = optarg; break;
        case 'D': out_dir = optarg; break;
        case 'P': profile = optarg; break;
        case 'h': plot_usage(stdout); return 0;
        default: plot_usage(stderr); return 2;
        }
    }
    char *const *sources = argv + optind; /* RESULTS...: files or globs, merged */
    size_t n_sources = (size_t)(argc - optind);
    const char *results = n_sources ? sources[0] : NULL;
    const char *gnuplot = getenv("ROTBENCH_GNUPLOT");
    if (gnuplot && !*gnuplot) gnuplot = NULL;

    if (!config) {
        if (!results || !x || !out) {
            fprintf(stderr, "error: give RESULTS, --x and --out (or --config CONFIG)\n");
            plot_usage(stderr);
            return 2;
        }
        if (name || profile) {
            fprintf(stderr, "error: --%s needs --config\n", name ? "name" : "profile");
            return 2;
        }
        rb_records recs;
        int rc = rb_cli_load_results(sources, n_sources, NULL, &recs, &results);
        if (rc) return rc;
        rb_plot_spec spec = {.x = x, .series = series, .metric = metric, .where = where,
                             .n_where = n_where, .logy = logy, .logx = logx, .title = title,
                             .gnuplot = gnuplot, .source = results};
        rc = render(recs.items, results, &spec, NULL, out);
        rb_records_free(&recs);
        return rc;
    }

    if (x || series || out) {
        fprintf(stderr, "error: --x, --series and --out do not go with --config (the config's "
                        "plots say them)\n");
        return 2;
    }
    rb_sweep_config cfg;
    if (rb_sweep_config_load_profile(config, profile, &cfg, &err)) return rb_cli_fail(&err);
    if (!cfg.n_plots) {
        fprintf(stderr, "error: %s has no \"plots\"\n", config);
        rb_sweep_config_free(&cfg);
        return 1;
    }
    rb_records recs;
    int rc = rb_cli_load_results(sources, n_sources, cfg.results, &recs, &results), found = 0,
        loaded = !rc;
    for (size_t p = 0; p < cfg.n_plots && !rc; p++) {
        const rb_sweep_plot *pl = &cfg.plots[p];
        if (name && strcmp(name, pl->name)) continue;
        found = 1;
        rb_where w[MAX_WHERE * 2];
        size_t nw = 0;
        for (size_t i = 0; i < pl->n_where && nw < MAX_WHERE; i++)
            w[nw++] = (rb_where){pl->where[i].axis, pl->where[i].label};
        for (size_t i = 0; i < n_where; i++) w[nw++] = where[i];
        char deftitle[512], path[4096];
        snprintf(deftitle, sizeof deftitle, "%s: %s vs %s", cfg.name,
                 metric ? metric : pl->metric, pl->x);
        snprintf(path, sizeof path, "%s/%s_%s.png", out_dir, cfg.name, pl->name);
        rb_plot_spec spec = {.x = pl->x, .series = pl->series,
                             .metric = metric ? metric : pl->metric, .where = w, .n_where = nw,
                             .logy = pl->logy || logy, .logx = pl->logx || logx,
                             .title = title ? title : pl->title ? pl->title : deftitle,
                             .gnuplot = gnuplot, .source = results};
        rc = render(recs.items, results, &spec, &cfg, path);
    }
    if (loaded) rb_records_free(&recs);
    if (!rc && !found) {
        fprintf(stderr, "error: %s: no plot named \"%s\"\n", config, name);
        rc = 1;
    }
    rb_sweep_config_free(&cfg);
    return rc;
}
