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
#include "eval/lmeval.h"
#include "eval/records.h"
#include "base/process.h"
#include "eval/sweep_shard.h"
#include "run/sweep.h"
#include "run/sweep_mpi.h"

static void sweep_usage(FILE *f) {
    fputs("usage: rotbench sweep CONFIG [--profile P] [--jobs N] [--threads T] [--resume] [--dry-run]\n"
          "                      [--shard K/N | --mpi [--lost-after S]] [--rotbench PATH]\n"
          "  Runs `rotbench eval ... --json` for every point of the config's cross product\n"
          "  and appends one JSON line per finished run to the config's \"results\" file\n"
          "  (relative to the current directory).\n"
          "  --profile P      run the config's profile P (its \"profiles\" block: fewer tokens,\n"
          "                   seeds or items) into the profile's results file\n"
          "  --jobs N         runs in parallel (default 1); each gets --threads max(1, cores/N)\n"
          "  --threads T      --threads of every run (default: cores/N; with --mpi each\n"
          "                   worker's runs get the cores of its own node; results are bit-identical\n"
          "                   for a seed and a thread count); N x T above the cores: the runs\n"
          "                   get OMP_WAIT_POLICY=passive unless it is set\n"
          "  --shard K/N      only shard K of N (0 <= K < N; runs assigned by their key),\n"
          "                   into results/x.shard-K-of-N.jsonl (Slurm job arrays)\n"
          "  --mpi            under mpirun: rank 0 hands out the runs one at a time to the\n"
          "                   other ranks and writes the results file (README: clusters)\n"
          "  --lost-after S   with --mpi: a worker silent for S seconds is lost and its run\n"
          "                   retried elsewhere (default 60)\n"
          "  --resume         skip the runs already in the results file (without it an\n"
          "                   existing, non-empty results file is an error)\n"
          "  --dry-run        print the command lines of the runs to do, run nothing\n"
          "  --rotbench PATH  the program run as `PATH eval ...` (default: this rotbench)\n"
          "  --output-format lm-eval --output-path DIR\n"
          "                   also write each finished run's lm-evaluation-harness 0.4\n"
          "                   results file to DIR/<sweep>/<labels>/results_<date>.json\n"
          "  --log-samples    with --output-format lm-eval: each run also writes lm-eval's\n"
          "                   samples_<task>_<date>.jsonl there (the run's own rotbench eval\n"
          "                   writes both files; zero-shot tasks but MMLU only; not with --mpi)\n",
          f);
}

typedef struct progress_ctx {
    const char *lmeval_dir; /* --output-path with --output-format lm-eval, or NULL */
    const char *sweep;
    int log_samples;        /* --log-samples: the children write the lm-eval files */
} progress_ctx;

static void on_event(void *vctx, const rb_sweep_event *ev) {
    const progress_ctx *pc = vctx;
    switch (ev->kind) {
    case RB_SWEEP_WARN: fprintf(stderr, "warning: %s\n", ev->message); break;
    case RB_SWEEP_PLAN:
        fprintf(stderr, "sweep: %zu runs to do", ev->n);
        if (ev->skipped) fprintf(stderr, ", %zu already in the results file", ev->skipped);
        if (ev->other_shards) fprintf(stderr, ", %zu left to the other shards", ev->other_shards);
        fputc('\n', stderr);
        break;
    case RB_SWEEP_DONE: {
        fprintf(stderr, "[%zu/%zu] %s", ev->k, ev->n, ev->run->label_text);
        double ppl;
        if (!rb_record_number(ev->record, "ppl", &ppl)) fprintf(stderr, " ppl=%.4f", ppl);
        if (!rb_record_number(ev->record, "acc", &ppl)) fprintf(stderr, " acc=%.4f", ppl);
        if (ev->rank >= 0)
            fprintf(stderr, " (%.1f s, rank %d on %s)\n", ev->seconds, ev->rank, ev->host);
        else
            fprintf(stderr, " (%.1f s)\n", ev->seconds);
        if (pc && pc->lmeval_dir && !pc->log_samples) {
            char dir[4096], path[4200];
            rb_error err = {0};
            rb_sweep_lmeval_dir(pc->lmeval_dir, pc->sweep, ev->run->label_text, dir, sizeof dir);
            if (rb_lmeval_write(ev->record, NULL, dir, path, sizeof path, &err))
                fprintf(stderr, "warning: lm-eval output of %s: %s\n", ev->run->label_text,
                        err.msg);
        }
        break;
    }
    case RB_SWEEP_LOST:
        fprintf(stderr, "rank %d on %s LOST: %s%s%s\n", ev->rank, ev->host, ev->message,
                ev->run ? "; its run: " : "", ev->run ? ev->run->label_text : "");
        break;
    case RB_SWEEP_RETRY:
    case RB_SWEEP_FAIL:
        if (ev->kind == RB_SWEEP_RETRY)
            fprintf(stderr, "[retry] %s failed", ev->run->label_text);
        else
            fprintf(stderr, "[%zu/%zu] %s FAILED", ev->k, ev->n, ev->run->label_text);
        if (ev->rank >= 0) fprintf(stderr, " on rank %d (%s)", ev->rank, ev->host);
        fprintf(stderr, ": %s (%.1f s)%s\n  command: %s\n", ev->message, ev->seconds,
                ev->kind == RB_SWEEP_RETRY ? "; it goes once more to another rank" : "",
                ev->command);
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

/* The last lines of a sweep; 1 when runs failed. */
static int report_summary(const rb_sweep_config *cfg, const rb_sweep_summary *sum) {
    fprintf(stderr, "sweep %s: %zu done, %zu skipped (already in %s), %zu failed", cfg->name,
            sum->n_done, sum->n_skipped, cfg->results, sum->n_failed);
    if (sum->n_other_shards) fprintf(stderr, ", %zu left to the other shards", sum->n_other_shards);
    if (sum->n_retried) fprintf(stderr, ", %zu retried", sum->n_retried);
    if (sum->n_lost_ranks) fprintf(stderr, ", %zu rank%s lost", sum->n_lost_ranks,
                                   sum->n_lost_ranks > 1 ? "s" : "");
    fprintf(stderr, ", in %.1f s\n", sum->seconds);
    if (!sum->n_failed) return 0;
    fprintf(stderr, "error: %zu run%s failed (see above); rerun with --resume to retry them\n",
            sum->n_failed, sum->n_failed > 1 ? "s" : "");
    return 1;
}

/* --shard: the config's results file becomes the shard's. */
static int use_shard_results(rb_sweep_config *cfg, const rb_shard *shard, rb_error *err) {
    char *p = rb_shard_results_path(cfg->results, shard);
    if (!p) return rb_error_set(err, RB_ENOMEM, "out of memory");
    free(cfg->results);
    cfg->results = p;
    return RB_OK;
}

/* --mpi: every rank comes here; rank 0 prints. */
static int run_mpi(const char *config_path, const char *rotbench, int threads, int resume,
                   double lost_after) {
    rb_error err = {0};
    rb_sweep_config cfg;
    rb_sweep_opts o = {.rotbench = rotbench, .jobs = 1, .threads = threads, .resume = resume,
                       .progress = on_event, .progress_ctx = NULL};
    rb_sweep_mpi_opts mo = {.lost_after = lost_after, .beat_seconds = lost_after / 6 < 1 ? lost_after / 6 : 1};
    rb_sweep_summary sum;
    rb_sweep_mpi_end end;
    int rc = rb_sweep_mpi(NULL, NULL, config_path, &cfg, &o, &mo, &sum, &end, &err);
    if (rc) {
        if (end.initialized)
            fprintf(stderr, "error: rank %d: %s\n", end.rank, err.msg);
        else
            fprintf(stderr, "error: %s\n", err.msg);
        rc = 1;
    } else if (end.rank == 0) {
        rc = report_summary(&cfg, &sum);
    }
    rb_sweep_config_free(&cfg);
    rb_sweep_mpi_finalize(&end, rc);
}

int rb_cmd_sweep(int argc, char **argv) {
    long jobs = 1, threads_opt = 0;
    int resume = 0, dry_run = 0, mpi = 0, jobs_given = 0, lost_given = 0, log_samples = 0;
    double lost_after = 60;
    const char *rotbench = NULL, *shard_text = NULL, *profile = NULL;
    static const struct option opts[] = {{"jobs", required_argument, 0, 'j'},
                                         {"resume", no_argument, 0, 'r'},
                                         {"profile", required_argument, 0, 'Q'},
                                         {"dry-run", no_argument, 0, 'n'},
                                         {"rotbench", required_argument, 0, 'p'},
                                         {"threads", required_argument, 0, 't'},
                                         {"shard", required_argument, 0, 's'},
                                         {"mpi", no_argument, 0, 'M'},
                                         {"lost-after", required_argument, 0, 'L'},
                                         {"help", no_argument, 0, 'h'},
                                         {"output-format", required_argument, 0, 'F'},
                                         {"output-path", required_argument, 0, 'P'},
                                         {"log-samples", no_argument, 0, 'S'},
                                         {0, 0, 0, 0}};
    const char *out_format = NULL, *out_path = NULL;
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (ch) {
        case 'j': jobs = rb_cli_int("--jobs", optarg, 1, 64), jobs_given = 1; break;
        case 'r': resume = 1; break;
        case 'Q': profile = optarg; break;
        case 'n': dry_run = 1; break;
        case 'p': rotbench = optarg; break;
        case 't': threads_opt = rb_cli_int("--threads", optarg, 1, 1024); break;
        case 's': shard_text = optarg; break;
        case 'M': mpi = 1; break;
        case 'L': lost_after = rb_cli_int("--lost-after", optarg, 1, 86400), lost_given = 1; break;
        case 'F': out_format = optarg; break;
        case 'P': out_path = optarg; break;
        case 'S': log_samples = 1; break;
        case 'h': sweep_usage(stdout); return 0;
        default: sweep_usage(stderr); return 2;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "error: %s\n", optind >= argc ? "give one CONFIG file" : "give one CONFIG file only");
        sweep_usage(stderr);
        return 2;
    }
    if (rb_cli_check_output_format(out_format, out_path, log_samples)) return 2;
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
    rb_shard shard = {0};
    if (shard_text && rb_shard_parse(shard_text, &shard, &err)) {
        rb_cli_fail(&err);
        return 2;
    }
    if (mpi && (shard_text || dry_run || jobs_given)) {
        fprintf(stderr, "error: --mpi does not go with %s\n",
                shard_text ? "--shard" : dry_run ? "--dry-run"
                                                 : "--jobs (one run per worker rank: start more ranks)");
        return 2;
    }
    if (mpi && log_samples) {
        fprintf(stderr, "error: --log-samples does not go with --mpi (yet): the MPI runner "
                        "writes no lm-eval output\n");
        return 2;
    }
    if (!mpi && lost_given) {
        fprintf(stderr, "error: --lost-after needs --mpi\n");
        return 2;
    }
    if (mpi && profile) {
        fprintf(stderr, "error: --profile does not go with --mpi (yet): run the profile's sweep locally\n");
        return 2;
    }
    if (mpi) return run_mpi(config_path, rotbench, (int)threads_opt, resume, lost_after);
    rb_sweep_config cfg;
    if (rb_sweep_config_load_profile(config_path, profile, &cfg, &err)) return rb_cli_fail(&err);
    if (shard.n && use_shard_results(&cfg, &shard, &err)) {
        rb_sweep_config_free(&cfg);
        return rb_cli_fail(&err);
    }
    int cores = n_cores();
    int threads = threads_opt ? (int)threads_opt : cores / (int)jobs;
    if (threads < 1) threads = 1;
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
            rb_shard_filter(&shard, runs, n_runs, todo, &n_todo);
            int refused = log_samples && rb_sweep_samples_check(runs, n_runs, &err);
            if (refused)
                rc = rb_cli_fail(&err);
            else
                fprintf(stderr, "sweep %s: %zu runs, %zu to do (dry run; results: %s)\n",
                        cfg.name, n_runs, n_todo, cfg.results);
            for (size_t i = 0; i < n_runs && !refused; i++) {
                if (!todo[i]) continue;
                char **av;
                char dir[4096];
                if (log_samples)
                    rb_sweep_lmeval_dir(out_path, cfg.name, runs[i].label_text, dir, sizeof dir);
                if (rb_sweep_argv_samples(&runs[i], rotbench, threads, log_samples ? dir : NULL,
                                          &av, &err)) {
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
    /* Runs that together ask for more threads than there are cores: libgomp's
     * idle threads spin by default, and each run's barriers then wait behind
     * the other runs' spinning threads (4 runs of stories260K, --jobs 2
     * --threads 2 on 2 cores: 41-47 s against 5.7-6.4 s with passive
     * waiting).  The children inherit the setting; a user's OMP_WAIT_POLICY
     * wins. */
    if (jobs * threads > cores && !getenv("OMP_WAIT_POLICY")) {
        setenv("OMP_WAIT_POLICY", "passive", 1);
        fprintf(stderr, "sweep: %ld jobs x %d threads > %d cores: the runs wait passively "
                        "(OMP_WAIT_POLICY=passive)\n", jobs, threads, cores);
    }
    progress_ctx pctx = {out_path, cfg.name, log_samples};
    fprintf(stderr, "sweep %s%s%s: %s, results in %s, %ld job%s x %d thread%s\n", cfg.name,
            cfg.profile ? " --profile " : "", cfg.profile ? cfg.profile : "", config_path,
            cfg.results, jobs, jobs > 1 ? "s" : "", threads, threads > 1 ? "s" : "");
    rb_sweep_opts o = {.rotbench = rotbench, .jobs = (int)jobs, .threads = threads,
                       .resume = resume, .shard = shard, .progress = on_event,
                       .progress_ctx = &pctx, .log_samples_dir = log_samples ? out_path : NULL};
    rb_sweep_summary sum;
    if (rb_sweep_execute(&cfg, &o, &sum, &err)) {
        rb_sweep_config_free(&cfg);
        return rb_cli_fail(&err);
    }
    rc = report_summary(&cfg, &sum);
    rb_sweep_config_free(&cfg);
    return rc;
}
