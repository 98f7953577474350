/* The results file of a running sweep, shared by the local runner
 * (run/sweep.c) and the MPI runner (run/sweep_mpi.c): the one writer opens
 * and locks it, repairs a torn last line, says which runs are still to do,
 * and turns each finished child (its exit status and stdout) into a record
 * appended with one write(2) + fsync (durability: run/sweep.h). */
#ifndef RB_SWEEP_RESULTS_H
#define RB_SWEEP_RESULTS_H

#include <json-c/json.h>
#include <stddef.h>

#include "base/error.h"
#include "eval/sweep.h"
#include "eval/sweep_shard.h"
#include "run/sweep.h"

typedef struct rb_sweep_results {
    int fd;           /* O_APPEND, flock'ed; -1 when closed */
    const char *path; /* cfg->results (borrowed) */
} rb_sweep_results;

/* Where a run ran, for the record's "provenance" object:
 * {"host": host, "rank": rank (only when rank >= 0: an MPI worker),
 *  "shard": "K/N" (only with a shard), "build": rb_build_id()}. */
typedef struct rb_sweep_where {
    const char *host;
    int rank;              /* -1: not MPI */
    const rb_shard *shard; /* NULL or n == 0: not sharded */
} rb_sweep_where;

/* Opens, locks and repairs cfg->results, marks todo[] (resume, shard) and
 * fills summary's n_runs, n_skipped and n_other_shards; emits WARN events
 * for ignored lines and the PLAN event.  Emits through rb_sweep_emit. */
int rb_sweep_results_open(const rb_sweep_config *cfg, const rb_sweep_run *runs, size_t n_runs,
                          const rb_sweep_opts *opts, unsigned char *todo, size_t *n_todo,
                          rb_sweep_summary *summary, rb_sweep_results *w, rb_error *err);
void rb_sweep_results_close(rb_sweep_results *w);

/* A finished child of run: status (waitpid), its stdout out[0..out_len)
 * (NUL-terminated), out_overflow.  On success *rec is the record appended
 * (caller puts it); when the run failed *rec is NULL and why[cap] says why
 * ("exit status 1", "no JSON object on stdout ...").  The return value is an
 * error only when appending failed (I/O, memory): that stops the sweep. */
int rb_sweep_results_add(rb_sweep_results *w, const rb_sweep_config *cfg,
                         const rb_sweep_run *run, int status, const char *out, size_t out_len,
                         int out_overflow, const rb_sweep_where *where, json_object **rec,
                         char *why, size_t cap, rb_error *err);

/* The last lines of a child's stderr (malloc'd, never NULL unless out of
 * memory), leaving out a usage text after an error. */
char *rb_sweep_stderr_tail(const char *s, size_t max_lines, size_t max_bytes);

/* opts->progress(opts->progress_ctx, ev) when there is a callback. */
void rb_sweep_emit(const rb_sweep_opts *opts, const rb_sweep_event *ev);

/* This machine's host name (gethostname; "unknown" when it fails). */
void rb_sweep_hostname(char *buf, size_t cap);

#endif
