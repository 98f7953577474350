#include "app/cli.h"

#include <errno.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eval/records_merge.h"
#include "eval/sweep_shard.h"


int rb_cli_load(const char *model, const char *tokenizer, const char *data_dir,
                int want_tokenizer, int want_hashes, rb_cli_model *out, rb_error *err) {
    rb_run_spec spec;
    rb_run_spec_init(&spec);
    spec.model = model;
    spec.tokenizer = tokenizer;
    spec.data_dir = data_dir;
    return rb_run_load(&spec, want_tokenizer, want_hashes, out, err);
}

void rb_cli_unload(rb_cli_model *cm) { rb_run_model_free(cm); }

long rb_cli_int(const char *flag, const char *value, long lo, long hi) {
    char *end;
    errno = 0;
    long v = strtol(value ? value : "", &end, 10);
    if (!value || !*value || *end || errno || v < lo || v > hi) {
        fprintf(stderr, "error: %s expects an integer in %ld..%ld, got '%s'\n", flag, lo, hi,
                value ? value : "");
        exit(2);
    }
    return v;
}

double rb_cli_fraction(const char *flag, const char *value) {
    char *end;
    double v = strtod(value ? value : "", &end);
    if (!value || end == value || *end || !(v > 0 && v < 1)) {
        fprintf(stderr, "error: %s expects a number in (0, 1), got '%s'\n", flag,
                value ? value : "");
        exit(2);
    }
    return v;
}

int rb_cli_check_output_format(const char *format, const char *path, int log_samples) {
    if (format && strcmp(format, "lm-eval")) {
        fprintf(stderr, "error: --output-format expects lm-eval, got '%s'\n", format);
        return 2;
    }
    if (!format != !path) {
        fprintf(stderr, "error: --output-format lm-eval and --output-path DIR go together\n");
        return 2;
    }
    if (log_samples && !format) {
        fprintf(stderr, "error: --log-samples writes lm-eval's samples_<task>_<date>.jsonl "
                        "files: it needs --output-format lm-eval --output-path DIR\n");
        return 2;
    }
    return 0;
}

long rb_cli_bits(const char *flag, const char *value) {
    long b = rb_cli_int(flag, value, 2, 16);
    if (b > 8 && b != 16) {
        fprintf(stderr, "error: %s expects 2..8 or 16 (off), got %ld\n", flag, b);
        exit(2);
    }
    return b;
}

int rb_cli_set_threads(int threads) {
    rb_run_spec spec;
    rb_run_spec_init(&spec);
    spec.threads = threads;
    return rb_run_set_threads(&spec);
}

int rb_cli_load_results(char *const *sources, size_t n, const char *results, rb_records *recs,
                        const char **label) {
    rb_error err = {0};
    rb_merge_info info;
    char *shards = NULL;
    const char *defaults[2];
    size_t nd = 0;
    if (!n) {
        shards = rb_shard_results_glob(results);
        glob_t g;
        int have_shards = shards && glob(shards, 0, NULL, &g) == 0;
        if (have_shards) globfree(&g);
        if (!have_shards || access(results, F_OK) == 0) defaults[nd++] = results;
        if (have_shards) defaults[nd++] = shards;
        *label = results;
    } else {
        *label = n == 1 ? sources[0] : "the results files";
    }
    int rc = n ? rb_records_merge((const char *const *)sources, n, recs, &info, &err)
               : rb_records_merge(defaults, nd, recs, &info, &err);
    free(shards);
    if (rc) return rb_cli_fail(&err);
    for (size_t i = 0; i < recs->n_issues; i++) fprintf(stderr, "warning: %s\n", recs->issues[i].msg);
    if (info.n_files > 1 || info.n_duplicates)
        fprintf(stderr, "note: %zu results files merged, %zu records%s%zu identical duplicate%s "
                        "dropped\n",
                info.n_files, rb_records_count(recs), ", ", info.n_duplicates,
                info.n_duplicates == 1 ? "" : "s");
    return 0;
}

int rb_cli_fail(const rb_error *err) {
    fprintf(stderr, "error: %s\n", err->msg);
    return 1;
}

static void log_line(void *ctx, const char *line) {
    (void)ctx;
    fprintf(stderr, "%s\n", line);
}
const rb_log rb_cli_log = {log_line, NULL};

/* ---- the run flags ------------------------------------------------------------ */

struct option *rb_cli_run_options(unsigned groups, const struct option *extra) {
    const rb_run_flag *flags = rb_run_flags();
    size_t n = 0, n_extra = 0;
    while (flags[n].name) n++;
    while (extra && extra[n_extra].name) n_extra++;
    struct option *o = calloc(n + n_extra + 1, sizeof *o);
    if (!o) {
        fputs("error: out of memory\n", stderr);
        exit(1);
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (flags[i].group & groups)
            o[k++] = (struct option){flags[i].name,
                                     flags[i].kind == RB_FIELD_SWITCH ? no_argument
                                                                     : required_argument,
                                     0, RB_CLI_O_RUN + (int)i};
    for (size_t i = 0; i < n_extra; i++) o[k++] = extra[i];
    return o;
}

int rb_cli_run_flag(rb_run_spec *spec, int ch, const char *arg) {
    const rb_run_flag *flags = rb_run_flags();
    if (ch < RB_CLI_O_RUN || ch >= RB_CLI_O_END) return 0;
    size_t n = 0;
    while (flags[n].name) n++;
    if ((size_t)(ch - RB_CLI_O_RUN) >= n) return 0;
    rb_error err = {0};
    if (rb_run_flag_set(spec, &flags[ch - RB_CLI_O_RUN], arg, &err)) {
        fprintf(stderr, "error: %s\n", err.msg);
        exit(2);
    }
    return 1;
}

int rb_cli_parse(int argc, char **argv, unsigned groups, const struct option *extra,
                 rb_run_spec *spec, int (*own)(void *ctx, int ch, const char *arg), void *ctx,
                 void (*usage)(FILE *f)) {
    static const struct option help[] = {{"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    size_t n_extra = 0;
    while (extra && extra[n_extra].name) n_extra++;
    struct option *all = calloc(n_extra + 2, sizeof *all);
    if (!all) {
        fputs("error: out of memory\n", stderr);
        exit(1);
    }
    for (size_t i = 0; i < n_extra; i++) all[i] = extra[i];
    all[n_extra] = help[0];
    struct option *opts = rb_cli_run_options(groups, all);
    free(all);
    int ch, status = -1;
    optind = 1;
    while (status < 0 && (ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (ch == 'h') {
            usage(stdout);
            status = 0;
        } else if (!rb_cli_run_flag(spec, ch, optarg) && !(own && own(ctx, ch, optarg))) {
            usage(stderr);
            status = 2;
        }
    }
    free(opts);
    if (status < 0 && optind < argc) {
        fprintf(stderr, "error: unexpected argument '%s'\n", argv[optind]);
        status = 2;
    }
    return status;
}

static void report_progress(void *ctx, const char *what, const char *unit, size_t done,
                            size_t total, double seconds) {
    rb_cli_reporter *r = ctx;
    if (!r->what || strcmp(r->what, what)) { /* a new piece of work */
        r->what = what;
        r->last = -10;
    }
    if (done != total && seconds - r->last < 2.0) return;
    r->last = seconds;
    fprintf(stderr, "%s: %s %zu/%zu, %.1f s\n", what, unit, done, total, seconds);
}

void rb_cli_reporter_init(rb_cli_reporter *r) {
    memset(r, 0, sizeof *r);
    r->report.log = rb_cli_log;
    r->report.progress = report_progress;
    r->report.progress_ctx = r;
    r->last = -10;
}

int rb_cli_add_where(rb_where *where, size_t *n, size_t cap, char *text) {
    rb_error err = {0};
    if (*n == cap) {
        fprintf(stderr, "error: at most %zu --where\n", cap);
        return 1;
    }
    if (rb_where_parse(text, &where[*n], &err)) {
        fprintf(stderr, "error: %s\n", err.msg);
        return 1;
    }
    (*n)++;
    return 0;
}
