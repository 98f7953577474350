/* Sweeps over MPI (`mpirun -np N rotbench sweep CONFIG --mpi`): rank 0 is
 * the coordinator and the only writer of the results file; ranks 1..N-1 are
 * workers that each run one `rotbench eval ... --json` child at a time on
 * their own node and send back what it printed.
 *
 * Rank 0 reads the config and the results file (run/sweep_results.h: the
 * lock, torn-line repair, --resume, one write + fsync per record), then
 * hands out the pending runs one at a time to whichever worker is idle (a
 * fast run never waits for a slow one).  It builds each child's argv itself
 * (rb_sweep_argv), so a worker's record is the one the local sweep writes,
 * except for "provenance" (host, rank, build).
 *
 * Messages (MPI_COMM_WORLD, byte buffers):
 *   worker -> 0  HELLO  its host name, once, when ready
 *   0 -> worker  TASK   "<run index>\0argv[0]\0argv[1]\0...\0"
 *   worker -> 0  BEAT   the run index (text), every beat_seconds while a child runs
 *   worker -> 0  RESULT JSON {"run", "status" (waitpid), "overflow", "seconds",
 *                        "stdout", "stderr" (tail), "spawn_error"?}
 *   0 -> worker  STOP   when no run is left ("lost" when a rank was lost: see
 *                       rb_sweep_mpi_finalize)
 *
 * Failures.  A run that fails (child exit status, no JSON) is retried once on
 * another rank (on the same one when it is the only worker left), then
 * reported (FAIL, with host and rank) and left for --resume.  A worker that
 * sends nothing for lost_after seconds (its heartbeat stops: the rank was
 * killed, its node died) is declared lost (LOST event with its host); its run
 * goes to another rank the same way, and anything it sends later is
 * ignored, so a run is never recorded twice.  Open MPI aborts the whole job
 * when a rank dies unless started with
 *   mpirun --enable-recovery --mca orte_abort_on_non_zero_status 0 ...
 * (Open MPI 4.1; README); with it the other ranks finish the sweep.  Rank 0
 * itself dying stops the sweep: what it wrote is durable, --resume goes on. */
#ifndef RB_SWEEP_MPI_H
#define RB_SWEEP_MPI_H

#include "base/error.h"
#include "eval/sweep.h"
#include "run/sweep.h"

typedef struct rb_sweep_mpi_opts {
    double lost_after;   /* seconds of silence before a busy worker is lost (> 0) */
    double beat_seconds; /* a worker's heartbeat period while a run is going (> 0) */
} rb_sweep_mpi_opts;

/* What the end of an MPI sweep needs to know (filled by rb_sweep_mpi). */
typedef struct rb_sweep_mpi_end {
    int rank;          /* this process's rank */
    int initialized;   /* MPI_Init succeeded */
    int skip_finalize; /* a rank was lost: MPI_Finalize would wait for it forever */
    double timeout;    /* seconds MPI_Finalize may take before the process just exits */
} rb_sweep_mpi_end;

/* Initialises MPI (MPI_Init; argc/argv may be NULL) and runs this rank's
 * part of the sweep; the caller prints, then calls rb_sweep_mpi_finalize.  Rank 0 loads config_path into *cfg (the
 * other ranks leave it zeroed; every rank calls rb_sweep_config_free(cfg)
 * afterwards, on success and on error) and runs the
 * pending runs of it with opts (jobs is ignored: one run per worker rank at
 * a time; threads > 0 is every run's --threads, 0 lets each worker give its
 * runs the cores of its own node), filling *summary; the workers only need
 * opts->threads.  *end says this process's rank (summaries and exit status
 * are rank 0's business) and how to finalize.  Errors: MPI support not built in, fewer than 2
 * ranks, the config or results file (rank 0). */
int rb_sweep_mpi(int *argc, char ***argv, const char *config_path, rb_sweep_config *cfg,
                 const rb_sweep_opts *opts,
                 const rb_sweep_mpi_opts *mopts, rb_sweep_summary *summary,
                 rb_sweep_mpi_end *end, rb_error *err);

/* Ends MPI and the process with exit status status.  Open MPI 4.1's
 * MPI_Finalize waits for every rank, a dead one included, so when a rank was
 * lost (rank 0 tells the workers in its STOP message) every rank skips it,
 * and otherwise a watchdog (end->timeout) exits the process if MPI_Finalize
 * hangs.  Never returns. */
void rb_sweep_mpi_finalize(const rb_sweep_mpi_end *end, int status) __attribute__((noreturn));

#endif
