/* Shards of a sweep (Slurm job arrays): `rotbench sweep CONFIG --shard K/N`
 * runs the runs of shard K of N (0 <= K < N), each shard into its own
 * results file, so N independent jobs never share a file.
 *
 * A run belongs to shard (first 8 bytes of sha256(run key), big-endian) mod
 * N: the assignment depends only on the run's key (its canonical args), not
 * on the order of the axes' values or on which other runs the config has,
 * so adding a value to an axis moves no existing run to another shard. */
#ifndef RB_SWEEP_SHARD_H
#define RB_SWEEP_SHARD_H

#include <stddef.h>

#include "base/error.h"
#include "eval/sweep_expand.h"

typedef struct rb_shard {
    unsigned k, n; /* shard k of n; n == 0: no sharding (every run) */
} rb_shard;

enum { RB_SHARD_MAX = 100000 };

/* Parses "K/N" (decimal, 0 <= K < N <= RB_SHARD_MAX, nothing else, no
 * signs or spaces).  RB_EINVAL naming the text and the problem. */
int rb_shard_parse(const char *text, rb_shard *out, rb_error *err);

/* The shard (0 .. n-1) a run key belongs to. */
unsigned rb_shard_of_key(const char *key, unsigned n);

/* Clears todo[i] for the runs outside the shard (no-op when s->n == 0) and
 * recounts *n_todo. */
void rb_shard_filter(const rb_shard *s, const rb_sweep_run *runs, size_t n_runs,
                     unsigned char *todo, size_t *n_todo);

/* The shard's results file: "results/x.jsonl" -> "results/x.shard-K-of-N.jsonl"
 * (the suffix goes before a final ".jsonl", else at the end).  malloc'd;
 * NULL when out of memory. */
char *rb_shard_results_path(const char *results, const rb_shard *s);

/* The glob of every shard's file of results ("results/x.shard-*-of-*.jsonl");
 * malloc'd, NULL when out of memory. */
char *rb_shard_results_glob(const char *results);

#endif
