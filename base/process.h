/* Child processes: start a program with its stdout and stderr on pipes, read
 * them without blocking the others, wait; and the one-shot form that runs a
 * program to completion (gnuplot, a test's rotbench).  Used by the sweep
 * runner (many children at a time, eval/sweep_run.c) and by the plot writers.
 *
 * A child started here dies with its parent (PR_SET_PDEATHSIG), reads
 * /dev/null as stdin and keeps nothing of the parent's descriptors
 * (close-on-exec).  Nothing here prints. */
#ifndef RB_PROCESS_H
#define RB_PROCESS_H

#include <stddef.h>
#include <sys/types.h>

#include "base/buf.h"
#include "base/error.h"

/* What is kept of a child's output: stdout up to RB_CHILD_STDOUT_CAP bytes
 * (beyond it out_overflow is set and the rest dropped), stderr's last
 * RB_CHILD_STDERR_KEEP bytes (at least). */
enum { RB_CHILD_STDOUT_CAP = 64 << 20, RB_CHILD_STDERR_KEEP = 16 << 10 };

typedef struct rb_child {
    pid_t pid;          /* 0: no child */
    int out_fd, err_fd; /* read ends of its stdout / stderr; -1 once closed */
    rb_buf out, errs;   /* what was read (owned; rb_buf_free both when done) */
    int out_overflow;   /* stdout exceeded RB_CHILD_STDOUT_CAP */
} rb_child;

/* fork + exec argv[0] (searched in PATH when it has no '/') in directory cwd
 * (NULL: the current one), stdout and stderr on pipes.  c is overwritten. */
int rb_child_spawn(char *const *argv, const char *cwd, rb_child *c, rb_error *err);

/* Reads what is available on the child's stdout (which = 0) or stderr
 * (which = 1) into c->out / c->errs; returns 0 when that pipe has closed
 * (its fd is then -1), else 1.  Call when poll(2) reports the fd readable. */
int rb_child_read(rb_child *c, int which);

/* waitpid on c->pid, retrying on EINTR; *status is the waitpid status. */
void rb_child_wait(const rb_child *c, int *status);

/* Runs argv to completion (as rb_child_spawn) and returns its stdout in
 * *out (malloc'd, may be NULL), its stderr's last bytes in *err_tail
 * (malloc'd, may be NULL) and the waitpid status in *status.  Fails only
 * when the process cannot be started. */
int rb_run_capture(char *const *argv, const char *cwd, char **out, char **err_tail, int *status,
                   rb_error *err);

/* Is prog (a path, or a name looked up in PATH) an executable file?  Its
 * path goes to path[cap]. */
int rb_find_program(const char *prog, char *path, size_t cap);

/* "exit status N" / "killed by signal N (SIGKILL)" for a waitpid status. */
void rb_describe_status(int status, char *buf, size_t cap);

/* argv as one shell-quoted line (malloc'd; NULL when out of memory), for
 * messages: "rotbench eval --task 'my file.txt'". */
char *rb_shell_join(char *const *argv);

/* mkdir -p of the directory part of path. */
int rb_mkdir_parents(const char *path, rb_error *err);

#endif
