/* rotbench sweep: runs a config's cross product of `rotbench eval` runs. */
#include <getopt.h>
#include <json-c/json.h>
#include <limits.h>
#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/cli.h"
#include "eval/records.h"
#include "base/process.h"
#include "run/sweep.h"

static void sweep_usage(FILE *f) {
    fputs("usage: rotbench sweep CONFIG [--profile P] [--jobs N] [--threads T] [--resume] [--dry-run]\n"
          "                      [--rotbench PATH]\n"
          "  Runs `rotbench eval ... --json` for every point of the config's cross product\n"
          "  and appends one JSON line per finished run to the config's \"results\" file\n"
          "  (relative to the current directory).\n"
          "  --profile P      run the config's profile P (its \"profiles\" block: fewer tokens,\n"
          "                   seeds or items) into the profile's results file\n"
          "  --jobs N         runs in parallel (default 1); each gets --threads max(1, cores/N)\n"
          "  --threads T      each run gets --threads T instead (results are bit-identical\n"
          "                   for a seed and a thread count)\n"
          "  --resume         skip the runs already in the results file (without it an\n"
          "                   existing, non-empty results file is an error)\n"
          "  --dry-run        print the command lines of the runs to do, run nothing\n"
          "  --rotbench PATH  the program run as `PATH eval ...` (default: this rotbench)\n",
          f);
}

typedef struct progress_ctx {
    double t0;
} progress_ctx;

static void on_event(void *vctx, const rb_sweep_event *ev) {
    (void)vctx;
    switch (ev->kind) {
    case RB_SWEEP_WARN: fprintf(stderr, "warning: %s\n", ev->message); break;
    case RB_SWEEP_PLAN:
        fprintf(stderr, "sweep: %zu runs to do", ev->n);
        if (ev->skipped) fprintf(stderr, ", %zu already in the results file", ev->skipped);
        fputc('\n', stderr);
        break;
    case RB_SWEEP_DONE: {
        fprintf(stderr, "[%zu/%zu] %s", ev->k, ev->n, ev->run->label_text);
        double ppl;
        if (!rb_record_number(ev->record, "ppl", &ppl)) fprintf(stderr, " ppl=%.4f", ppl);
        if (!rb_record_number(ev->record, "acc", &ppl)) fprintf(stderr, " acc=%.4f", ppl);
        fprintf(stderr, " (%.1f s)\n", ev->seconds);
        break;
    }
    case RB_SWEEP_FAIL:
        fprintf(stderr, "[%zu/%zu] %s FAILED: %s (%.1f s)\n  command: %s\n", ev->k, ev->n,
                ev->run->label_text, ev->message, ev->seconds, ev->command);
        if (ev->stderr_tail && *ev->stderr_tail) {
            fputs("  stderr (last lines):\n", stderr);
            const char *s = ev->stderr_tail;
            while (*s) {
                const char *nl = strchr(s, '\n');
                size_t n = nl ? (size_t)(nl - s) : strlen(s);
                fprintf(stderr, "    %.*s\n", (int)n, s);
                s += n + (nl ? 1 : 0);
            }
        }
        break;
    }
    fflush(stderr);
}

static int n_cores(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0) return n;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

int rb_cmd_sweep(int argc, char **argv) {
    long jobs = 1, fixed_threads = 0;
    const char *profile = NULL;
    int resume = 0, dry_run = 0;
    const char *rotbench = NULL;
    static const struct option opts[] = {{"jobs", required_argument, 0, 'j'},
                                         {"resume", no_argument, 0, 'r'},
                                         {"profile", required_argument, 0, 'P'},
                                         {"threads", required_argument, 0, 't'},
                                         {"dry-run", no_argument, 0, 'n'},
                                         {"rotbench", required_argument, 0, 'p'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (ch) {
        case 'j': jobs = rb_cli_int("--jobs", optarg, 1, 64); break;
        case 'r': resume = 1; break;
        case 'P': profile = optarg; break;
        case 't': fixed_threads = rb_cli_int("--threads", optarg, 1, 1024); break;
        case 'n': dry_run = 1; break;
        case 'p': rotbench = optarg; break;
        case 'h': sweep_usage(stdout); return 0;
        default: sweep_usage(stderr); return 2;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "error: %s\n", optind >= argc ? "give one CONFIG file" : "give one CONFIG file only");
        sweep_usage(stderr);
        return 2;
    }
    const char *config_path = argv[optind];
    char self[PATH_MAX];
    if (!rotbench) {
        ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
        if (n <= 0) {
            fprintf(stderr, "error: cannot find this program's path (/proc/self/exe); give "
                            "--rotbench PATH\n");
            return 1;
        }
        self[n] = 0;
        rotbench = self;
    }
    rb_error err = {0};
    rb_sweep_config cfg;
    if (rb_sweep_config_load_profile(config_path, profile, &cfg, &err)) return rb_cli_fail(&err);
    int cores = n_cores();
    int threads = cores / (int)jobs;
    if (threads < 1) threads = 1;
    if (fixed_threads) threads = (int)fixed_threads;
    int rc = 0;
    if (dry_run) {
        rb_sweep_run *runs;
        size_t n_runs, n_todo = 0;
        if (rb_sweep_expand(&cfg, &runs, &n_runs, &err)) {
            rb_sweep_config_free(&cfg);
            return rb_cli_fail(&err);
        }
        unsigned char *todo = calloc(n_runs ? n_runs : 1, 1);
        if (!todo || rb_sweep_pending(&cfg, runs, n_runs, resume, todo, &n_todo, on_event, NULL,
                                      &err)) {
            if (!todo) rb_error_set(&err, RB_ENOMEM, "out of memory");
            rc = rb_cli_fail(&err);
        } else {
            fprintf(stderr, "sweep %s: %zu runs, %zu to do (dry run; results: %s)\n", cfg.name,
                    n_runs, n_todo, cfg.results);
            for (size_t i = 0; i < n_runs; i++) {
                if (!todo[i]) continue;
                char **av;
                if (rb_sweep_argv(&runs[i], rotbench, threads, &av, &err)) {
                    rc = rb_cli_fail(&err);
                    break;
                }
                char *line = rb_shell_join(av);
                printf("%s\n", line ? line : "");
                free(line);
                rb_sweep_argv_free(av);
            }
        }
        free(todo);
        rb_sweep_runs_free(runs, n_runs);
        rb_sweep_config_free(&cfg);
        return rc;
    }
    fprintf(stderr, "sweep %s%s%s: %s, results in %s, %ld job%s x %d thread%s\n", cfg.name,
            cfg.profile ? " --profile " : "", cfg.profile ? cfg.profile : "", config_path, cfg.results, jobs, jobs > 1 ? "s" : "", threads, threads > 1 ? "s" : "");
    rb_sweep_opts o = {.rotbench = rotbench, .jobs = (int)jobs, .threads = threads,
                       .resume = resume, .progress = on_event, .progress_ctx = NULL};
    rb_sweep_summary sum;
    if (rb_sweep_execute(&cfg, &o, &sum, &err)) {
        rb_sweep_config_free(&cfg);
        return rb_cli_fail(&err);
    }
    fprintf(stderr, "sweep %s: %zu done, %zu skipped (already in %s), %zu failed, in %.1f s\n",
            cfg.name, sum.n_done, sum.n_skipped, cfg.results, sum.n_failed, sum.seconds);
    if (sum.n_failed) {
        fprintf(stderr, "error: %zu run%s failed (see above); rerun with --resume to retry them\n",
                sum.n_failed, sum.n_failed > 1 ? "s" : "");
        rc = 1;
    }
    rb_sweep_config_free(&cfg);
    return rc;
}
