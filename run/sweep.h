/* Running a sweep: each run of a config (eval/sweep_expand.h) becomes a run
 * spec (run/flags.h) and the spec a child `rotbench eval ... --json`; the
 * children run --jobs at a time (base/process.h) and each finished run's
 * record is appended to the results file (durability rules below; the
 * writer is run/sweep_results.h, shared with the MPI runner,
 * run/sweep_mpi.h).  With opts.shard only that shard's runs are done
 * (eval/sweep_shard.h).  The library reports through the event callback;
 * app/cmd_sweep.c prints. */
#ifndef RB_RUN_SWEEP_H
#define RB_RUN_SWEEP_H

#include <json-c/json.h>
#include <stddef.h>

#include "base/error.h"
#include "eval/sweep.h"
#include "eval/sweep_shard.h"

/* The child's argv (NULL-terminated, malloc'd strings; free with
 * rb_sweep_argv_free): rotbench eval <flags> [--threads T] --json, the flags
 * written from the run spec its args make (run/flags.h: every setting that
 * differs from the default, in the flag table's order).  --threads T is
 * added when threads > 0 and the args have no "threads".  RB_EINVAL when
 * the args are no valid run (an unknown flag, a bad value). */
int rb_sweep_argv(const rb_sweep_run *run, const char *rotbench, int threads, char ***argv,
                  rb_error *err);
/* rb_sweep_argv plus, with samples_dir (may be NULL), "--output-format
 * lm-eval --output-path samples_dir --log-samples" before --json: the child
 * writes lm-eval's results and samples files itself (eval/lmeval.h). */
int rb_sweep_argv_samples(const rb_sweep_run *run, const char *rotbench, int threads,
                          const char *samples_dir, char ***argv, rb_error *err);
void rb_sweep_argv_free(char **argv);

/* A run's lm-eval output directory, base/<sweep>/<labels>/: the labels with
 * " / " as "__" and any other byte outside [A-Za-z0-9._+-] as '_'. */
void rb_sweep_lmeval_dir(const char *base, const char *sweep, const char *labels, char *buf,
                         size_t cap);

/* RB_EINVAL naming the first of the n runs that has no lm-eval samples
 * (run/eval.h rb_run_eval_samples_check: a perplexity corpus, MMLU) or
 * whose args are no valid run. */
int rb_sweep_samples_check(const rb_sweep_run *runs, size_t n, rb_error *err);

typedef enum rb_sweep_event_kind {
    RB_SWEEP_WARN, /* message */
    RB_SWEEP_PLAN, /* n runs to do, skipped already done; before the first start */
    RB_SWEEP_DONE, /* run finished and recorded: record, seconds */
    RB_SWEEP_FAIL, /* run failed: message, command, stderr_tail, seconds, host, rank */
    RB_SWEEP_RETRY, /* (MPI) run failed or was lost; it goes once more to another
                       rank: the FAIL fields, then the run is pending again */
    RB_SWEEP_LOST,  /* (MPI) a worker rank stopped answering: rank, host, message;
                       its run (when it had one) follows as RETRY or FAIL */
} rb_sweep_event_kind;

typedef struct rb_sweep_event {
    rb_sweep_event_kind kind;
    size_t k;                  /* DONE/FAIL: runs finished so far, this one included */
    size_t n;                  /* runs to do in this invocation */
    size_t skipped;            /* PLAN: runs already in the results file */
    size_t other_shards;       /* PLAN: runs left to the other shards (--shard) */
    const rb_sweep_run *run;   /* DONE/FAIL */
    const char *message;       /* WARN text; FAIL reason ("exit status 1", ...) */
    const char *command;       /* FAIL: shell-quoted command line */
    const char *stderr_tail;   /* FAIL: the last lines of the child's stderr */
    json_object *record;       /* DONE: the record appended */
    double seconds;            /* DONE/FAIL: wall time of the run */
    const char *host;          /* DONE/FAIL/RETRY/LOST: where the run ran */
    int rank;                  /* DONE/FAIL/RETRY/LOST: MPI rank, -1 when local */
} rb_sweep_event;

typedef void (*rb_sweep_progress_fn)(void *ctx, const rb_sweep_event *ev);

typedef struct rb_sweep_opts {
    const char *rotbench; /* the program to run as `rotbench eval` */
    int jobs;             /* runs in parallel (>= 1) */
    int threads;          /* --threads for each run (0: omit) */
    int resume;           /* skip runs whose key is in the results file */
    rb_shard shard;       /* only this shard's runs (shard.n == 0: all); cfg->results
                             should be the shard's file (rb_shard_results_path) */
    rb_sweep_progress_fn progress;
    void *progress_ctx;
    const char *log_samples_dir; /* --log-samples with --output-path DIR (NULL: off): every
                                    run's child writes lm-eval's results and samples to
                                    rb_sweep_lmeval_dir(DIR, sweep, labels); rb_sweep_execute
                                    refuses the sweep first unless rb_sweep_samples_check
                                    accepts its runs */
} rb_sweep_opts;

typedef struct rb_sweep_summary {
    size_t n_runs;    /* in the cross product */
    size_t n_skipped; /* already in the results file (resume) */
    size_t n_other_shards; /* left to the other shards (--shard) */
    size_t n_done;
    size_t n_failed;
    size_t n_retried;    /* (MPI) attempts that failed or were lost and went again */
    size_t n_lost_ranks; /* (MPI) worker ranks that stopped answering */
    double seconds;
} rb_sweep_summary;

/* Marks the runs still to do: todo[i] = 1 unless run i's key is in the
 * results file (resume).  Without resume a results file with any content is
 * an error ("results file exists, use --resume").  Read warnings go to the
 * progress callback (may be NULL). */
int rb_sweep_pending(const rb_sweep_config *cfg, const rb_sweep_run *runs, size_t n_runs,
                     int resume, unsigned char *todo, size_t *n_todo,
                     rb_sweep_progress_fn progress, void *progress_ctx, rb_error *err);

/* Runs the pending runs, appending each record (the child's JSON object plus
 * "run_key", "labels", "sweep", "args" and "provenance": where it ran and
 * the build, run/sweep_results.h) to cfg->results as one line with
 * one write(2) on an O_APPEND descriptor, then fsync.  The results file is
 * locked (flock) for the duration; a partial last line is truncated first.
 * Failed runs are reported through progress and counted; the return value
 * is an error only for what stops the sweep (config, results file I/O). */
int rb_sweep_execute(const rb_sweep_config *cfg, const rb_sweep_opts *opts,
                     rb_sweep_summary *summary, rb_error *err);

#endif
