/* rotbench table: Markdown / CSV tables from results files. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/cli.h"
#include "eval/records.h"
#include "eval/sweep.h"
#include "eval/table.h"

enum { MAX_WHERE = 32 };

static void table_usage(FILE *f) {
    fputs("usage: rotbench table RESULTS... --rows AXIS --cols AXIS [--split AXIS] [--metric M]\n"
          "                      [--where AXIS=LABEL]... [--format md|csv] [--out FILE]\n"
          "       rotbench table [RESULTS...] --config CONFIG [--profile P] [--name TABLE] [--metric M]\n"
          "                      [--where AXIS=LABEL]... [--out-dir DIR]\n"
          "       either form: [--ci [--confidence C] [--bootstrap N] [--seed S]]\n"
          "  Cells are the mean of the metric (default ppl) over the records with those\n"
          "  labels, \"mean ± std\" (sample std) when there are several (seeds), \"—\" when none.\n"
          "  The first form prints one table (one per SPLIT label) as Markdown or CSV to stdout\n"
          "  or FILE (.csv implies --format csv).  The --config form renders the config's\n"
          "  \"tables\" (or only TABLE) from RESULTS (default: the config's results file and\n"
          "  its shards' files, x.shard-K-of-N.jsonl, whichever exist) into\n"
          "  DIR/<config name>_<table name>.md and .csv (DIR default: results) and prints\n"
          "  the Markdown.  --profile P: the config reduced by its profile P (its results file).\n"
          "  RESULTS: one or more files or globs ('results/x.shard-*.jsonl'), merged; records\n"
          "  of the same run that differ (in anything but provenance and timings) are an error.\n"
          "  --ci puts the C (default 0.95) bootstrap interval of each ppl/nll cell's mean\n"
          "  beside it, \"mean ± std [lo, hi]\", where every record of the cell has\n"
          "  per-window NLLs: N replicates (default 10000, rng seed S, default 0) resample\n"
          "  the records (seeds) and the evaluation windows (as rotbench compare does);\n"
          "  CSV gains ci_lo,ci_hi.\n",
          f);
}

static void agg_notes(const char *path, const rb_agg *agg, const char *metric) {
    if (agg->n_no_label)
        fprintf(stderr, "note: %s: %zu record%s without a label for every axis of the table\n",
                path, agg->n_no_label, agg->n_no_label > 1 ? "s" : "");
    if (agg->n_no_metric)
        fprintf(stderr, "note: %s: %zu record%s without a numeric \"%s\"\n", path,
                agg->n_no_metric, agg->n_no_metric > 1 ? "s" : "", metric);
}

static int emit_text(const char *out, const char *text) {
    if (!out) {
        fputs(text, stdout);
        return 0;
    }
    rb_error err = {0};
    if (rb_write_text_file(out, text, &err)) return rb_cli_fail(&err);
    fprintf(stderr, "wrote %s\n", out);
    return 0;
}

int rb_cmd_table(int argc, char **argv) {
    const char *rows = NULL, *cols = NULL, *split = NULL, *metric = NULL, *format = NULL;
    const char *out = NULL, *config = NULL, *profile = NULL, *name = NULL, *out_dir = "results";
    rb_where where[MAX_WHERE];
    size_t n_where = 0;
    static const struct option opts[] = {
        {"rows", required_argument, 0, 'r'},   {"cols", required_argument, 0, 'c'},
        {"split", required_argument, 0, 's'},  {"metric", required_argument, 0, 'm'},
        {"where", required_argument, 0, 'w'},  {"format", required_argument, 0, 'f'},
        {"out", required_argument, 0, 'o'},    {"config", required_argument, 0, 'C'},
        {"name", required_argument, 0, 'N'},   {"out-dir", required_argument, 0, 'D'},
        {"help", no_argument, 0, 'h'},         {"ci", no_argument, 0, 'I'},
        {"confidence", required_argument, 0, 'L'}, {"bootstrap", required_argument, 0, 'B'},
        {"seed", required_argument, 0, 'S'},   {"profile", required_argument, 0, 'P'},
        {0, 0, 0, 0}};
    int want_ci = 0;
    double confidence = 0.95;
    size_t n_boot = 10000;
    uint64_t boot_seed = 0;
    int ch;
    rb_error err = {0};
    optind = 1;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (ch) {
        case 'r': rows = optarg; break;
        case 'c': cols = optarg; break;
        case 's': split = optarg; break;
        case 'm': metric = optarg; break;
        case 'w':
            if (rb_cli_add_where(where, &n_where, MAX_WHERE, optarg)) return 2;
            break;
        case 'f': format = optarg; break;
        case 'o': out = optarg; break;
        case 'C': config = optarg; break;
        case 'N': name = optarg; break;
        case 'D': out_dir = optarg; break;
        case 'I': want_ci = 1; break;
        case 'L': confidence = rb_cli_fraction("--confidence", optarg); break;
        case 'B': n_boot = (size_t)rb_cli_int("--bootstrap", optarg, 1, 10000000); break;
        case 'S': boot_seed = (uint64_t)rb_cli_int("--seed", optarg, 0, INT64_MAX); break;
        case 'P': profile = optarg; break;
        case 'h': table_usage(stdout); return 0;
        default: table_usage(stderr); return 2;
        }
    }
    char *const *sources = argv + optind; /* RESULTS...: files or globs, merged */
    size_t n_sources = (size_t)(argc - optind);
    const char *results = n_sources ? sources[0] : NULL;
    if (format && strcmp(format, "md") && strcmp(format, "csv")) {
        fprintf(stderr, "error: --format expects md or csv, got '%s'\n", format);
        return 2;
    }

    if (!config) {
        if (!results || !rows || !cols) {
            fprintf(stderr, "error: give RESULTS, --rows and --cols (or --config CONFIG)\n");
            table_usage(stderr);
            return 2;
        }
        if (name || profile) {
            fprintf(stderr, "error: --%s needs --config\n", name ? "name" : "profile");
            return 2;
        }
        int csv = format ? !strcmp(format, "csv")
                         : (out && strlen(out) > 4 && !strcmp(out + strlen(out) - 4, ".csv"));
        rb_records recs;
        int rc = rb_cli_load_results(sources, n_sources, NULL, &recs, &results);
        if (rc) return rc;
        rb_table_spec spec = {.rows = rows, .cols = cols, .split = split,
                              .metric = metric ? metric : "ppl", .where = where,
                              .n_where = n_where, .ci = want_ci ? confidence : 0,
                              .ci_boot = n_boot, .ci_seed = boot_seed, .records = recs.items};
        rb_agg agg;
        char *text = NULL;
        rc = rb_table_aggregate(recs.items, &spec, NULL, &agg, &err);
        if (!rc) {
            agg_notes(results, &agg, spec.metric);
            if (!agg.n_used)
                rc = rb_error_set(&err, RB_EINVAL,
                                  "%s: no record has labels for %s, %s%s%s and a numeric \"%s\"",
                                  results, rows, cols, split ? ", " : "", split ? split : "",
                                  spec.metric);
            else
                rc = csv ? rb_table_csv(&agg, &spec, &text, &err)
                         : rb_table_markdown(&agg, &spec, &text, &err);
            rb_agg_free(&agg);
        }
        rb_records_free(&recs);
        if (rc) return rb_cli_fail(&err);
        rc = emit_text(out, text);
        free(text);
        return rc;
    }

    /* --config form */
    if (rows || cols || split || out || format) {
        fprintf(stderr, "error: --rows, --cols, --split, --out and --format do not go with "
                        "--config (the config's tables say them)\n");
        return 2;
    }
    rb_sweep_config cfg;
    if (rb_sweep_config_load_profile(config, profile, &cfg, &err)) return rb_cli_fail(&err);
    int found = 0, rc = 0;
    rb_records recs;
    if (!cfg.n_tables) {
        fprintf(stderr, "error: %s has no \"tables\"\n", config);
        rb_sweep_config_free(&cfg);
        return 1;
    }
    if ((rc = rb_cli_load_results(sources, n_sources, cfg.results, &recs, &results))) {
        rb_sweep_config_free(&cfg);
        return rc;
    }
    for (size_t t = 0; t < cfg.n_tables && !rc; t++) {
        const rb_sweep_table *tb = &cfg.tables[t];
        if (name && strcmp(name, tb->name)) continue;
        found = 1;
        rb_where w[MAX_WHERE * 2];
        size_t nw = 0;
        for (size_t i = 0; i < tb->n_where && nw < MAX_WHERE; i++)
            w[nw++] = (rb_where){tb->where[i].axis, tb->where[i].label};
        for (size_t i = 0; i < n_where; i++) w[nw++] = where[i];
        char title[512];
        snprintf(title, sizeof title, "%s: %s", cfg.name, tb->name);
        rb_table_spec spec = {.rows = tb->rows, .cols = tb->cols, .split = tb->split,
                              .metric = metric ? metric : tb->metric, .where = w, .n_where = nw,
                              .title = title, .ci = want_ci ? confidence : 0, .ci_boot = n_boot,
                              .ci_seed = boot_seed, .records = recs.items};
        rb_agg agg;
        char *md = NULL, *csv = NULL;
        rc = rb_table_aggregate(recs.items, &spec, &cfg, &agg, &err);
        if (rc) break;
        agg_notes(results, &agg, spec.metric);
        if (!agg.n_used)
            fprintf(stderr, "warning: %s: table %s: no record has the labels and a numeric "
                            "\"%s\" (yet)\n",
                    results, tb->name, spec.metric);
        rc = rb_table_markdown(&agg, &spec, &md, &err);
        if (!rc) rc = rb_table_csv(&agg, &spec, &csv, &err);
        rb_agg_free(&agg);
        char path[4096];
        if (!rc) {
            snprintf(path, sizeof path, "%s/%s_%s.md", out_dir, cfg.name, tb->name);
            rc = rb_write_text_file(path, md, &err);
            if (!rc) fprintf(stderr, "wrote %s\n", path);
        }
        if (!rc) {
            snprintf(path, sizeof path, "%s/%s_%s.csv", out_dir, cfg.name, tb->name);
            rc = rb_write_text_file(path, csv, &err);
            if (!rc) fprintf(stderr, "wrote %s\n", path);
        }
        if (!rc) printf("%s%s", t ? "\n" : "", md);
        free(md);
        free(csv);
    }
    rb_records_free(&recs);
    if (!rc && !found) rc = rb_error_set(&err, RB_EINVAL, "%s: no table named \"%s\"", config, name);
    rb_sweep_config_free(&cfg);
    return rc ? rb_cli_fail(&err) : 0;
}
