/* Several results files as one (eval/records_merge.c): the shards of a Slurm
 * array (results/x.shard-K-of-N.jsonl), the files of several machines, or
 * one file given twice by overlapping globs.  Used by `rotbench table`,
 * `rotbench plot` (and `rotbench compare`).
 *
 * Each source is a path or a glob pattern (it has *, ? or [): a pattern is
 * expanded in sorted order and must match at least one file; a path must
 * exist.  A file named twice is read once.  Records keep the sources' order
 * (then file order).  Two records with the same "run_key" are duplicates:
 * when they agree on everything but where and how fast they ran (the
 * ignored fields below) the first is kept and the other dropped (counted);
 * when they differ in anything else (a metric, a setting, the data's sha256)
 * the merge fails, naming both files, the records and the first field that
 * differs.  Records without a run_key (made by hand) are all kept.
 *
 * Ignored when comparing duplicates, at any depth: "provenance" (host, MPI
 * rank, shard, build: run/sweep_results.h), "blas_kernels" (the machine's
 * BLAS kernel name), "seconds", keys ending in "_seconds" or "_per_second"
 * (timings and throughputs). */
#ifndef RB_RECORDS_MERGE_H
#define RB_RECORDS_MERGE_H

#include <json-c/json.h>
#include <stddef.h>

#include "base/error.h"
#include "eval/records.h"

typedef struct rb_merge_info {
    size_t n_files;      /* files read */
    size_t n_duplicates; /* identical duplicates dropped */
} rb_merge_info;

/* Merges sources[0..n) into *out (items: the merged records; issues: every
 * file's ignored lines, each naming its file; n_lines: their sum; tail and
 * keep_bytes: 0).  Free with rb_records_free.  Errors: a pattern matching no
 * file, a missing or unreadable file, conflicting duplicates, out of memory. */
int rb_records_merge(const char *const *sources, size_t n_sources, rb_records *out,
                     rb_merge_info *info, rb_error *err);

/* Merges already parsed files: files[i] named names[i] (for messages), in
 * that order; consumes nothing (records are shared by reference). */
int rb_records_merge_parsed(const rb_records *files, const char *const *names, size_t n_files,
                            rb_records *out, rb_merge_info *info, rb_error *err);

/* Is key ignored when comparing duplicates (see above)? */
int rb_records_merge_ignored(const char *key);

#endif
