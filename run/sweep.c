/* Running a sweep (run/sweep.h): runs → specs → child command lines, the
 * children, the results file. */
#include "run/sweep.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/io.h"
#include "base/process.h"
#include "eval/records.h"
#include "run/eval.h"
#include "run/flags.h"
#include "run/sweep_results.h"

/* ---- command lines ---------------------------------------------------------------- */

void rb_sweep_argv_free(char **argv) {
    if (!argv) return;
    for (char **p = argv; *p; p++) free(*p);
    free(argv);
}

int rb_sweep_argv(const rb_sweep_run *run, const char *rotbench, int threads, char ***out,
                  rb_error *err) {
    return rb_sweep_argv_samples(run, rotbench, threads, NULL, out, err);
}

void rb_sweep_lmeval_dir(const char *base, const char *sweep, const char *labels, char *buf,
                         size_t cap) {
    int n = snprintf(buf, cap, "%s/%s/", base, sweep);
    size_t len = n > 0 && (size_t)n < cap ? (size_t)n : 0;
    for (const char *s = labels; *s && len + 3 < cap; s++) {
        if (!strncmp(s, " / ", 3)) {
            buf[len++] = '_';
            buf[len++] = '_';
            s += 2;
            continue;
        }
        char c = *s;
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '.' || c == '_' || c == '+' || c == '-';
        buf[len++] = ok ? c : '_';
    }
    buf[len] = 0;
}

int rb_sweep_samples_check(const rb_sweep_run *runs, size_t n, rb_error *err) {
    for (size_t i = 0; i < n; i++) {
        rb_run_spec spec;
        rb_run_spec_init(&spec);
        json_object *strings = json_object_new_array();
        if (!strings) return rb_error_set(err, RB_ENOMEM, "out of memory");
        int rc = rb_run_spec_from_args(&spec, runs[i].args, RB_FLAGS_ALL, strings, err);
        if (!rc) rc = rb_run_eval_samples_check(&spec, err);
        json_object_put(strings);
        if (rc) return rb_error_prefix(err, "run %s: ", runs[i].label_text);
    }
    return RB_OK;
}

/* The argv of run i of a sweep under opts. */
static int run_argv(const rb_sweep_config *cfg, const rb_sweep_opts *opts, const rb_sweep_run *run,
                    char ***argv, rb_error *err) {
    char dir[4096];
    if (opts->log_samples_dir)
        rb_sweep_lmeval_dir(opts->log_samples_dir, cfg->name, run->label_text, dir, sizeof dir);
    return rb_sweep_argv_samples(run, opts->rotbench, opts->threads,
                                 opts->log_samples_dir ? dir : NULL, argv, err);
}

int rb_sweep_argv_samples(const rb_sweep_run *run, const char *rotbench, int threads,
                          const char *samples_dir, char ***out, rb_error *err) {
    rb_run_spec spec;
    rb_run_spec_init(&spec);
    json_object *strings = json_object_new_array(); /* texts of numbers given to text flags */
    if (!strings) return rb_error_set(err, RB_ENOMEM, "out of memory");
    int rc = rb_run_spec_from_args(&spec, run->args, RB_FLAGS_ALL, strings, err);
    if (rc) {
        json_object_put(strings);
        return rb_error_prefix(err, "run %s: ", run->label_text);
    }
    if (threads > 0 && !json_object_object_get_ex(run->args, "threads", NULL))
        spec.threads = threads;
    char **argv = calloc(rb_run_flags_max_argc() + 9, sizeof *argv);
    size_t n = 0;
    int ok = argv && (argv[0] = strdup(rotbench)) && (argv[1] = strdup("eval"));
    if (ok) {
        rc = rb_run_spec_argv(&spec, argv + 2, &n, err);
        ok = !rc;
        if (ok && samples_dir) {
            const char *extra[] = {"--output-format", "lm-eval", "--output-path", samples_dir,
                                   "--log-samples"};
            for (size_t k = 0; k < 5 && ok; k++) ok = (argv[2 + n++] = strdup(extra[k])) != NULL;
        }
        ok = ok && (argv[2 + n] = strdup("--json")) != NULL;
    }
    json_object_put(strings);
    if (!ok) {
        rb_sweep_argv_free(argv);
        return rb_error_set(err, RB_ENOMEM, "out of memory");
    }
    *out = argv;
    return RB_OK;
}

/* ---- the sweep ---------------------------------------------------------------------- */

typedef struct child {
    rb_child proc;
    double t0;
    size_t run; /* index into runs */
    char **argv;
} child;

int rb_sweep_execute(const rb_sweep_config *cfg, const rb_sweep_opts *opts,
                     rb_sweep_summary *summary, rb_error *err) {
    memset(summary, 0, sizeof *summary);
    double t_start = rb_now();
    int jobs = opts->jobs < 1 ? 1 : opts->jobs > 64 ? 64 : opts->jobs;
    rb_sweep_run *runs;
    size_t n_runs;
    int rc = rb_sweep_expand(cfg, &runs, &n_runs, err);
    if (rc) return rc;
    summary->n_runs = n_runs;
    unsigned char *todo = calloc(n_runs, 1);
    child *slots = calloc((size_t)jobs, sizeof *slots);
    if (!todo || !slots) {
        free(todo), free(slots);
        rb_sweep_runs_free(runs, n_runs);
        return rb_error_set(err, RB_ENOMEM, "out of memory");
    }
    rb_sweep_results w = {.fd = -1};
    size_t n_todo;
    if (opts->log_samples_dir && (rc = rb_sweep_samples_check(runs, n_runs, err))) goto done;
    if ((rc = rb_sweep_results_open(cfg, runs, n_runs, opts, todo, &n_todo, summary, &w, err)))
        goto done;
    char host[256];
    rb_sweep_hostname(host, sizeof host);
    rb_sweep_where where = {.host = host, .rank = -1, .shard = &opts->shard};
    size_t next = 0, active = 0, finished = 0;
    while (!rc && (active || next < n_runs)) {
        /* start runs while slots are free */
        for (int s = 0; s < jobs && !rc; s++) {
            if (slots[s].proc.pid) continue;
            while (next < n_runs && !todo[next]) next++;
            if (next >= n_runs) break;
            child *c = &slots[s];
            memset(c, 0, sizeof *c);
            c->run = next++;
            if ((rc = run_argv(cfg, opts, &runs[c->run], &c->argv, err)))
                break;
            c->t0 = rb_now();
            if ((rc = rb_child_spawn(c->argv, NULL, &c->proc, err))) {
                rb_sweep_argv_free(c->argv);
                c->argv = NULL;
                break;
            }
            active++;
        }
        if (rc || !active) continue;
        struct pollfd p[2 * 64];
        int np = 0, map[2 * 64];
        for (int s = 0; s < jobs && np < 127; s++) {
            const rb_child *pc = &slots[s].proc;
            if (!pc->pid) continue;
            if (pc->out_fd >= 0) map[np] = 2 * s, p[np++] = (struct pollfd){pc->out_fd, POLLIN, 0};
            if (pc->err_fd >= 0) map[np] = 2 * s + 1, p[np++] = (struct pollfd){pc->err_fd, POLLIN, 0};
        }
        if (np && poll(p, (nfds_t)np, -1) < 0 && errno != EINTR) {
            rc = rb_error_set(err, RB_EIO, "poll: %s", strerror(errno));
            break;
        }
        for (int i = 0; i < np; i++) {
            if (!p[i].revents) continue;
            rb_child_read(&slots[map[i] / 2].proc, map[i] % 2);
        }
        /* reap the children whose pipes are both closed */
        for (int s = 0; s < jobs && !rc; s++) {
            child *c = &slots[s];
            rb_child *pc = &c->proc;
            if (!pc->pid || pc->out_fd >= 0 || pc->err_fd >= 0) continue;
            int status;
            rb_child_wait(pc, &status);
            double secs = rb_now() - c->t0;
            const rb_sweep_run *run = &runs[c->run];
            char why[200] = "";
            json_object *rec = NULL;
            finished++;
            rc = rb_sweep_results_add(&w, cfg, run, status, pc->out.s, pc->out.len,
                                      pc->out_overflow, &where, &rec, why, sizeof why, err);
            if (rc) {
            } else if (rec) {
                summary->n_done++;
                rb_sweep_event ev = {.kind = RB_SWEEP_DONE, .k = finished, .n = n_todo,
                                     .run = run, .record = rec, .seconds = secs, .host = host,
                                     .rank = -1};
                rb_sweep_emit(opts, &ev);
                json_object_put(rec);
            } else {
                summary->n_failed++;
                char *cmd = rb_shell_join(c->argv);
                char *tail = rb_sweep_stderr_tail(pc->errs.s, 20, 4000);
                rb_sweep_event ev = {.kind = RB_SWEEP_FAIL, .k = finished, .n = n_todo,
                                     .run = run, .message = why, .command = cmd ? cmd : "",
                                     .stderr_tail = tail ? tail : "", .seconds = secs,
                                     .host = host, .rank = -1};
                rb_sweep_emit(opts, &ev);
                free(cmd);
                free(tail);
            }
            rb_sweep_argv_free(c->argv);
            rb_buf_free(&pc->out);
            rb_buf_free(&pc->errs);
            memset(c, 0, sizeof *c);
            active--;
        }
    }
done:
    /* on a fatal error, stop the runs still going */
    for (int s = 0; s < jobs; s++) {
        child *c = &slots[s];
        rb_child *pc = &c->proc;
        if (!pc->pid) continue;
        kill(pc->pid, SIGKILL);
        if (pc->out_fd >= 0) close(pc->out_fd);
        if (pc->err_fd >= 0) close(pc->err_fd);
        int status;
        rb_child_wait(pc, &status);
        rb_sweep_argv_free(c->argv);
        rb_buf_free(&pc->out);
        rb_buf_free(&pc->errs);
    }
    rb_sweep_results_close(&w);
    free(slots);
    free(todo);
    rb_sweep_runs_free(runs, n_runs);
    summary->seconds = rb_now() - t_start;
    return rc;
}
