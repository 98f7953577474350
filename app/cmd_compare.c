/* rotbench compare: two methods over the same seeds and windows (eval/compare.h). */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/cli.h"
#include "eval/compare.h"
#include "eval/records.h"

enum { MAX_SEL = 32, MAX_FILES = 64 };
enum { EXIT_WITHIN_NOISE = 3, EXIT_CONTRADICTED = 4 };

static void compare_usage(FILE *f) {
    fputs("usage: rotbench compare RESULTS... --a SELECTOR --b SELECTOR [--where SELECTOR]...\n"
          "                        [--metric ppl|nll|acc|PATH] [--task T] [--pair AXIS]\n"
          "                        [--bootstrap N] [--seed S] [--confidence C]\n"
          "                        [--windows-only] [--expect 'a<b'|'a>b'] [--json]\n"
          "  Compares method a with method b over the records of the results files (merged;\n"
          "  a run key recorded twice with different results is an error).  A SELECTOR is\n"
          "  a comma list of AXIS=LABEL or bare labels (matched against any axis), e.g.\n"
          "  --a method=SpinQuant+GPTQ --b QuaRot+GPTQ; --a/--b may be repeated; --where\n"
          "  (the same syntax) filters both sides.  Each side must agree on every label but --pair (default\n"
          "  seed); a and b records pair by that label (a side with one record, a\n"
          "  seed-independent method, pairs with every record of the other).\n"
          "  Reports the mean of a, of b and of a - b, the paired t-test over the pairs\n"
          "  (t, df, two-sided p; impossible with one pair) and, for ppl and nll when the\n"
          "  records have per-window NLLs, a paired bootstrap over the evaluation windows:\n"
          "  N replicates (default 10000, rng --seed, default 0) each draw the windows with\n"
          "  replacement, once for both methods and every pair, and recompute\n"
          "  mean(ppl_a - ppl_b) (or of the mean NLLs); the C interval (default 0.95) is\n"
          "  its percentile interval.  With several pairs each replicate also draws the\n"
          "  pairs (seeds) with replacement, so the interval carries the seed noise;\n"
          "  --windows-only keeps these seeds (narrower; both are printed).  Without\n"
          "  window data the t-test's interval is used.\n"
          "  --metric acc with --task piqa reads tasks.piqa.acc; for perplexity records\n"
          "  --task keeps those with that task.\n"
          "  --expect 'a<b' (quote it: a is better when lower, e.g. ppl) or 'a>b' gives the\n"
          "  verdict:\n"
          "  holds (the interval excludes 0 on that side), within noise (it contains 0),\n"
          "  contradicted (it excludes 0 on the other side).\n"
          "  Exit status: 0 (without --expect: whenever the comparison ran; with it: holds),\n"
          "  3 within noise, 4 contradicted, 1 error (or no interval: one pair and no\n"
          "  window data), 2 usage.  --json prints one JSON object instead of the text.\n",
          f);
}

static void print_num(const char *label, double x) {
    if (isfinite(x))
        printf("%s%.6g", label, x);
    else
        printf("%s%s", label, isnan(x) ? "nan" : x > 0 ? "inf" : "-inf");
}

static void print_text(const rb_compare_result *r, const rb_compare_spec *spec, const char *a,
                       const char *b) {
    printf("a: %s (%zu record%s)\nb: %s (%zu record%s)\n", a, r->n_a, r->n_a == 1 ? "" : "s", b,
           r->n_b, r->n_b == 1 ? "" : "s");
    if (r->common[0]) printf("common: %s\n", r->common);
    printf("metric: %s, paired over %s (%zu pair%s)\n", r->metric, r->pair_axis, r->n_pairs,
           r->n_pairs == 1 ? "" : "s");
    printf("%-8s %14s %14s %14s\n", r->pair_axis, "a", "b", "a - b");
    for (size_t i = 0; i < r->n_pairs; i++)
        printf("%-8s %14.6g %14.6g %14.6g\n", r->pairs[i].label[0] ? r->pairs[i].label : "-",
               r->pairs[i].a, r->pairs[i].b, r->pairs[i].a - r->pairs[i].b);
    print_num("mean a ", r->mean_a);
    print_num(", mean b ", r->mean_b);
    print_num(", mean difference ", r->mean_diff);
    if (r->n_pairs > 1) print_num(" (std ", r->t.std), printf(")");
    printf("\n");
    if (r->t.possible) {
        print_num("paired t-test over seeds: t = ", r->t.t);
        printf(", df = %.0f", r->t.df);
        print_num(", p = ", r->t.p);
        printf(" (two-sided); %.0f%% t-interval [", 100 * spec->confidence);
        print_num("", r->t.lo);
        print_num(", ", r->t.hi);
        printf("]\n");
    } else {
        printf("paired t-test over seeds: impossible with %zu pair (no spread to test against)\n",
               r->n_pairs);
    }
    if (r->n_boot) {
        printf("paired bootstrap of mean(%s_a - %s_b), %zu replicates, seed %llu, %.0f%% "
               "intervals:\n",
               r->metric, r->metric, r->n_boot, (unsigned long long)spec->seed,
               100 * spec->confidence);
        if (r->boot_seeds) {
            print_num("  resampling the seeds and the windows: [", r->boot_lo);
            print_num(", ", r->boot_hi);
            printf("]\n");
        }
        printf("  resampling the %zu windows (these seeds): [", r->n_windows);
        print_num("", r->boot_w_lo);
        print_num(", ", r->boot_w_hi);
        printf("]\n");
    } else {
        printf("paired bootstrap over windows: not done (%s)\n",
               spec->bootstrap == 0                                       ? "--bootstrap 0"
               : strcmp(r->metric, "ppl") && strcmp(r->metric, "nll") ? "only for ppl and nll"
                                                                          : "no window data");
    }
    printf("interval (%s): ", r->interval);
    if (strcmp(r->interval, "none")) {
        print_num("[", r->lo);
        print_num(", ", r->hi);
        printf("] %s\n", r->sign < 0   ? "excludes 0: a < b"
                         : r->sign > 0 ? "excludes 0: a > b"
                                       : "contains 0");
    } else {
        printf("none\n");
    }
    if (spec->expect)
        printf("verdict: %s (expected %s)\n", rb_verdict_name(r->verdict),
               spec->expect < 0 ? "a < b" : "a > b");
    if (r->notes[0]) printf("note: %s\n", r->notes);
}

/* Joins the selector texts for the report (before they are parsed in place). */
static void join(char *dst, size_t cap, const char *add) {
    size_t len = strlen(dst);
    snprintf(dst + len, cap - len, "%s%s", len ? "," : "", add);
}

int rb_cmd_compare(int argc, char **argv) {
    rb_where a[MAX_SEL], b[MAX_SEL], where[MAX_SEL];
    size_t n_a = 0, n_b = 0, n_where = 0;
    char a_text[1024] = "", b_text[1024] = "";
    rb_compare_spec spec = {.bootstrap = 10000, .confidence = 0.95};
    int json = 0;
    rb_error err = {0};
    static const struct option opts[] = {
        {"a", required_argument, 0, 'a'},          {"b", required_argument, 0, 'b'},
        {"where", required_argument, 0, 'w'},      {"metric", required_argument, 0, 'm'},
        {"task", required_argument, 0, 't'},       {"pair", required_argument, 0, 'p'},
        {"bootstrap", required_argument, 0, 'B'},  {"seed", required_argument, 0, 'S'},
        {"confidence", required_argument, 0, 'c'}, {"expect", required_argument, 0, 'e'},
        {"json", no_argument, 0, 'j'},             {"help", no_argument, 0, 'h'},
        {"windows-only", no_argument, 0, 'W'},
        {0, 0, 0, 0}};
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (ch) {
        case 'a':
        case 'b':
            join(ch == 'a' ? a_text : b_text, sizeof a_text, optarg);
            if (rb_compare_selector_parse(optarg, ch == 'a' ? a : b, ch == 'a' ? &n_a : &n_b,
                                          MAX_SEL, &err)) {
                fprintf(stderr, "error: --%c: %s\n", ch, err.msg);
                return 2;
            }
            break;
        case 'w':
            if (rb_compare_selector_parse(optarg, where, &n_where, MAX_SEL, &err)) {
                fprintf(stderr, "error: --where: %s\n", err.msg);
                return 2;
            }
            break;
        case 'm': spec.metric = optarg; break;
        case 't': spec.task = optarg; break;
        case 'p': spec.pair = optarg; break;
        case 'B': spec.bootstrap = (size_t)rb_cli_int("--bootstrap", optarg, 0, 10000000); break;
        case 'S': spec.seed = (uint64_t)rb_cli_int("--seed", optarg, 0, INT64_MAX); break;
        case 'c': spec.confidence = rb_cli_fraction("--confidence", optarg); break;
        case 'e':
            if (!strcmp(optarg, "a<b"))
                spec.expect = -1;
            else if (!strcmp(optarg, "a>b"))
                spec.expect = 1;
            else {
                fprintf(stderr, "error: --expect expects a<b or a>b, got '%s'\n", optarg);
                return 2;
            }
            break;
        case 'j': json = 1; break;
        case 'W': spec.windows_only = 1; break;
        case 'h': compare_usage(stdout); return 0;
        default: compare_usage(stderr); return 2;
        }
    }
    size_t n_files = (size_t)(argc - optind);
    if (!n_files || !n_a || !n_b) {
        fprintf(stderr, "error: give RESULTS files, --a and --b\n");
        compare_usage(stderr);
        return 2;
    }
    if (n_files > MAX_FILES) {
        fprintf(stderr, "error: at most %d RESULTS files\n", MAX_FILES);
        return 2;
    }
    spec.a = a;
    spec.n_a = n_a;
    spec.b = b;
    spec.n_b = n_b;
    spec.where = where;
    spec.n_where = n_where;
    /* the files merged as table and plot merge them (globs, shards, conflicting
     * duplicates refused: eval/records_merge.h) */
    rb_records recs;
    const char *label;
    int rc = rb_cli_load_results(argv + optind, n_files, NULL, &recs, &label);
    if (rc) return rc;
    rb_compare_source src[1] = {{label, recs.items}};
    rb_compare_result res;
    if (!rc && rb_compare(src, &spec, &res, &err)) rc = rb_cli_fail(&err);
    if (!rc) {
        if (json) {
            json_object *o = rb_compare_json(&res, &spec);
            json_object_object_add(o, "a", json_object_new_string(a_text));
            json_object_object_add(o, "b", json_object_new_string(b_text));
            puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
            json_object_put(o);
        } else {
            print_text(&res, &spec, a_text, b_text);
        }
        if (spec.expect && !strcmp(res.interval, "none")) {
            fprintf(stderr, "error: no interval to decide on (%zu pair, no window data)\n",
                    res.n_pairs);
            rc = 1;
        } else if (res.verdict == RB_VERDICT_WITHIN_NOISE) {
            rc = EXIT_WITHIN_NOISE;
        } else if (res.verdict == RB_VERDICT_CONTRADICTED) {
            rc = EXIT_CONTRADICTED;
        }
        rb_compare_result_free(&res);
    }
    rb_records_free(&recs);
    return rc;
}
