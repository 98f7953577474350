/* Sweeps over MPI (run/sweep_mpi.h): the coordinator (rank 0) and the
 * workers.  Without MPI support built in, rb_sweep_mpi only says so. */
#include "run/sweep_mpi.h"

#include <string.h>

#include "base/rb_build_config.h" /* RB_HAVE_MPI (generated: base/meson.build) */

#if !RB_HAVE_MPI

int rb_sweep_mpi(int *argc, char ***argv, const char *config_path, rb_sweep_config *cfg,
                 const rb_sweep_opts *opts, const rb_sweep_mpi_opts *mopts,
                 rb_sweep_summary *summary, rb_sweep_mpi_end *end, rb_error *err) {
    (void)argc, (void)argv, (void)config_path, (void)opts, (void)mopts;
    memset(cfg, 0, sizeof *cfg);
    memset(summary, 0, sizeof *summary);
    memset(end, 0, sizeof *end);
    return rb_error_set(err, RB_EINVAL,
                        "--mpi: this rotbench was built without MPI support (install "
                        "libopenmpi-dev and reconfigure: meson setup --reconfigure build)");
}

void rb_sweep_mpi_finalize(const rb_sweep_mpi_end *end, int status) {
    (void)end;
    exit(status);
}

#else

#include <errno.h>
#include <signal.h>
#include <json-c/json.h>
#include <mpi.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/io.h"
#include "base/process.h"
#include "run/sweep_results.h"

enum { TAG_HELLO = 1, TAG_TASK, TAG_BEAT, TAG_RESULT, TAG_STOP };

/* ---- worker ------------------------------------------------------------------------ */

static int node_cores(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) return CPU_COUNT(&set);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

/* Splits a TASK buffer into the run index and a NULL-terminated argv that
 * points into buf (argv malloc'd), adding --threads T before the final
 * --json when threads > 0 and argv has none. */
static char **task_argv(char *buf, int len, long *run, char *threads_text) {
    if (len < 2 || buf[len - 1]) return NULL;
    size_t n = 0;
    for (int i = 0; i < len; i++) n += !buf[i];
    char **argv = calloc(n + 3, sizeof *argv);
    if (!argv) return NULL;
    *run = strtol(buf, NULL, 10);
    size_t k = 0;
    int has_threads = 0;
    for (char *p = buf + strlen(buf) + 1; p < buf + len; p += strlen(p) + 1) {
        has_threads |= !strcmp(p, "--threads");
        argv[k++] = p;
    }
    if (!has_threads && *threads_text && k && !strcmp(argv[k - 1], "--json")) {
        argv[k - 1] = "--threads";
        argv[k++] = threads_text;
        argv[k++] = "--json";
    }
    argv[k] = NULL;
    return argv;
}

/* Runs one task to completion, sending heartbeats; the RESULT text (malloc'd). */
static char *run_task(char **argv, long run, double beat_seconds) {
    double t0 = rb_now(), last_beat = t0;
    json_object *res = json_object_new_object();
    json_object_object_add(res, "run", json_object_new_int64(run));
    rb_child c;
    rb_error err = {0};
    int status = -1;
    if (rb_child_spawn(argv, NULL, &c, &err)) {
        json_object_object_add(res, "spawn_error", json_object_new_string(err.msg));
    } else {
        while (c.out_fd >= 0 || c.err_fd >= 0) {
            struct pollfd p[2];
            int np = 0, which[2];
            if (c.out_fd >= 0) which[np] = 0, p[np++] = (struct pollfd){c.out_fd, POLLIN, 0};
            if (c.err_fd >= 0) which[np] = 1, p[np++] = (struct pollfd){c.err_fd, POLLIN, 0};
            int ms = (int)(beat_seconds * 1000);
            if (poll(p, (nfds_t)np, ms < 10 ? 10 : ms) < 0 && errno != EINTR) break;
            for (int i = 0; i < np; i++)
                if (p[i].revents) rb_child_read(&c, which[i]);
            double now = rb_now();
            if (now - last_beat >= beat_seconds) {
                char t[32];
                int n = snprintf(t, sizeof t, "%ld", run);
                MPI_Send(t, n + 1, MPI_CHAR, 0, TAG_BEAT, MPI_COMM_WORLD);
                last_beat = now;
            }
        }
        if (c.out_fd >= 0) close(c.out_fd);
        if (c.err_fd >= 0) close(c.err_fd);
        rb_child_wait(&c, &status);
        char *tail = rb_sweep_stderr_tail(c.errs.s, 20, 4000);
        json_object_object_add(res, "stdout",
                               json_object_new_string_len(c.out.s ? c.out.s : "", (int)c.out.len));
        json_object_object_add(res, "stderr", json_object_new_string(tail ? tail : ""));
        json_object_object_add(res, "overflow", json_object_new_boolean(c.out_overflow));
        free(tail);
        rb_buf_free(&c.out);
        rb_buf_free(&c.errs);
    }
    json_object_object_add(res, "status", json_object_new_int(status));
    json_object_object_add(res, "seconds", json_object_new_double(rb_now() - t0));
    char *text = strdup(json_object_to_json_string_ext(res, JSON_C_TO_STRING_PLAIN));
    json_object_put(res);
    return text;
}

static int worker(const rb_sweep_opts *opts, const rb_sweep_mpi_opts *mo, int *skip_finalize,
                  rb_error *err) {
    char host[MPI_MAX_PROCESSOR_NAME + 1];
    rb_sweep_hostname(host, sizeof host);
    char threads_text[16] = "";
    if (opts->threads <= 0) snprintf(threads_text, sizeof threads_text, "%d", node_cores());
    MPI_Send(host, (int)strlen(host) + 1, MPI_CHAR, 0, TAG_HELLO, MPI_COMM_WORLD);
    for (;;) {
        MPI_Status st;
        if (MPI_Probe(0, MPI_ANY_TAG, MPI_COMM_WORLD, &st) != MPI_SUCCESS)
            return rb_error_set(err, RB_EIO, "worker on %s: lost rank 0", host);
        int len = 0;
        MPI_Get_count(&st, MPI_CHAR, &len);
        char *buf = malloc(len > 0 ? (size_t)len : 1);
        if (!buf) return rb_error_set(err, RB_ENOMEM, "out of memory");
        MPI_Recv(buf, len, MPI_CHAR, 0, st.MPI_TAG, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        if (st.MPI_TAG == TAG_STOP) {
            *skip_finalize = len >= 4 && !memcmp(buf, "lost", 4);
            free(buf);
            return RB_OK;
        }
        long run = -1;
        char **argv = st.MPI_TAG == TAG_TASK ? task_argv(buf, len, &run, threads_text) : NULL;
        char *res;
        if (argv) {
            res = run_task(argv, run, mo->beat_seconds);
        } else {
            char t[160];
            snprintf(t, sizeof t, "{\"run\": %ld, \"status\": -1, \"spawn_error\": \"bad task "
                     "message (tag %d, %d bytes)\"}", run, st.MPI_TAG, len);
            res = strdup(t);
        }
        free(argv);
        free(buf);
        if (!res) return rb_error_set(err, RB_ENOMEM, "out of memory");
        MPI_Send(res, (int)strlen(res) + 1, MPI_CHAR, 0, TAG_RESULT, MPI_COMM_WORLD);
        free(res);
    }
}

/* ---- coordinator ------------------------------------------------------------------- */

enum { W_STARTING = 0, W_IDLE, W_BUSY, W_LOST };
enum { R_NONE = 0, R_PENDING, R_RUNNING }; /* runs: not to do (done, skipped, given up) */

typedef struct rank_state {
    int state;
    long run;         /* W_BUSY: the run */
    double t_run;     /* W_BUSY: when it was sent */
    double heard;     /* when this rank last sent anything */
    char host[MPI_MAX_PROCESSOR_NAME + 1];
} rank_state;

typedef struct coord {
    const rb_sweep_config *cfg;
    const rb_sweep_opts *opts;
    const rb_sweep_mpi_opts *mo;
    rb_sweep_summary *sum;
    rb_sweep_run *runs;
    size_t n_runs, n_todo, finished;
    unsigned char *state;  /* R_* per run */
    unsigned char *tries;  /* attempts started per run */
    int *failed_on;        /* the rank of the last failed attempt, -1 */
    rank_state *ranks;
    int size;
    rb_sweep_results w;
} coord;

static int n_usable(const coord *c) {
    int n = 0;
    for (int r = 1; r < c->size; r++) n += c->ranks[r].state != W_LOST;
    return n;
}

/* The next pending run for rank r: one that did not fail there, unless r is
 * the only worker left.  -1 when none. */
static long pick_run(const coord *c, int r) {
    long fallback = -1;
    for (size_t i = 0; i < c->n_runs; i++) {
        if (c->state[i] != R_PENDING) continue;
        if (c->failed_on[i] != r) return (long)i;
        if (fallback < 0) fallback = (long)i;
    }
    return n_usable(c) <= 1 ? fallback : -1;
}

static int send_task(coord *c, int r, long i, rb_error *err) {
    char **argv;
    int rc = rb_sweep_argv(&c->runs[i], c->opts->rotbench, c->opts->threads, &argv, err);
    if (rc) return rc;
    rb_buf b = {0};
    rb_buf_printf(&b, "%ld", i);
    rb_buf_append(&b, "", 1); /* each string with its NUL */
    for (char **p = argv; *p; p++) rb_buf_append(&b, *p, strlen(*p) + 1);
    rb_sweep_argv_free(argv);
    if (b.oom) {
        rb_buf_free(&b);
        return rb_error_set(err, RB_ENOMEM, "out of memory");
    }
    int mrc = MPI_Send(b.s, (int)b.len, MPI_CHAR, r, TAG_TASK, MPI_COMM_WORLD);
    rb_buf_free(&b);
    if (mrc != MPI_SUCCESS) {
        /* the rank is gone; the run stays pending */
        c->ranks[r].state = W_LOST;
        return RB_OK;
    }
    c->state[i] = R_RUNNING;
    c->tries[i]++;
    c->ranks[r].state = W_BUSY;
    c->ranks[r].run = i;
    c->ranks[r].t_run = rb_now();
    return RB_OK;
}

static int dispatch(coord *c, rb_error *err) {
    for (int r = 1; r < c->size; r++) {
        if (c->ranks[r].state != W_IDLE) continue;
        long i = pick_run(c, r);
        if (i < 0) continue;
        int rc = send_task(c, r, i, err);
        if (rc) return rc;
    }
    return RB_OK;
}

/* A failed attempt of run i on rank r: once more elsewhere, or reported. */
static void attempt_failed(coord *c, long i, int r, const char *why, const char *tail,
                           double secs) {
    const rb_sweep_run *run = &c->runs[i];
    char **argv = NULL;
    rb_error e2 = {0};
    char *cmd = rb_sweep_argv(run, c->opts->rotbench, c->opts->threads, &argv, &e2) == RB_OK
                    ? rb_shell_join(argv)
                    : NULL;
    rb_sweep_argv_free(argv);
    int retry = c->tries[i] < 2 && n_usable(c) > 0;
    rb_sweep_event ev = {.kind = retry ? RB_SWEEP_RETRY : RB_SWEEP_FAIL, .n = c->n_todo,
                         .run = run, .message = why, .command = cmd ? cmd : "",
                         .stderr_tail = tail ? tail : "", .seconds = secs,
                         .host = c->ranks[r].host, .rank = r};
    c->failed_on[i] = r;
    if (retry) {
        c->state[i] = R_PENDING;
        c->sum->n_retried++;
    } else {
        c->state[i] = R_NONE;
        c->sum->n_failed++;
        ev.k = ++c->finished;
    }
    rb_sweep_emit(c->opts, &ev);
    free(cmd);
}

static int on_result(coord *c, int r, const char *text, rb_error *err) {
    json_object *res = json_tokener_parse(text), *v;
    long i = res && json_object_object_get_ex(res, "run", &v) ? (long)json_object_get_int64(v) : -1;
    rank_state *rs = &c->ranks[r];
    if (rs->state != W_BUSY || i != rs->run || i < 0 || (size_t)i >= c->n_runs) {
        json_object_put(res); /* late or unexpected: never recorded twice */
        return RB_OK;
    }
    rs->state = W_IDLE;
    const char *out = json_object_object_get_ex(res, "stdout", &v) ? json_object_get_string(v) : "";
    size_t out_len = json_object_object_get_ex(res, "stdout", &v) ? (size_t)json_object_get_string_len(v) : 0;
    int status = json_object_object_get_ex(res, "status", &v) ? json_object_get_int(v) : -1;
    int overflow = json_object_object_get_ex(res, "overflow", &v) && json_object_get_boolean(v);
    double secs = json_object_object_get_ex(res, "seconds", &v) ? json_object_get_double(v) : 0;
    const char *tail = json_object_object_get_ex(res, "stderr", &v) ? json_object_get_string(v) : "";
    char why[300] = "";
    json_object *rec = NULL;
    int rc = RB_OK;
    if (json_object_object_get_ex(res, "spawn_error", &v)) {
        snprintf(why, sizeof why, "cannot start: %s", json_object_get_string(v));
    } else if (status == -1) {
        snprintf(why, sizeof why, "no status from the worker");
    } else {
        rb_sweep_where where = {.host = rs->host, .rank = r, .shard = NULL};
        rc = rb_sweep_results_add(&c->w, c->cfg, &c->runs[i], status, out, out_len, overflow,
                                  &where, &rec, why, sizeof why, err);
    }
    if (!rc && rec) {
        c->state[i] = R_NONE;
        c->sum->n_done++;
        rb_sweep_event ev = {.kind = RB_SWEEP_DONE, .k = ++c->finished, .n = c->n_todo,
                             .run = &c->runs[i], .record = rec, .seconds = secs,
                             .host = rs->host, .rank = r};
        rb_sweep_emit(c->opts, &ev);
        json_object_put(rec);
    } else if (!rc) {
        attempt_failed(c, i, r, why, tail, secs);
    }
    json_object_put(res);
    return rc;
}

static void lose_rank(coord *c, int r, const char *why) {
    rank_state *rs = &c->ranks[r];
    int had = rs->state == W_BUSY;
    rs->state = W_LOST;
    c->sum->n_lost_ranks++;
    rb_sweep_event ev = {.kind = RB_SWEEP_LOST, .message = why, .host = rs->host, .rank = r,
                         .run = had ? &c->runs[rs->run] : NULL};
    rb_sweep_emit(c->opts, &ev);
    if (had) {
        char msg[320];
        snprintf(msg, sizeof msg, "rank %d on %s lost during the run", r, rs->host);
        attempt_failed(c, rs->run, r, msg, "", rb_now() - rs->t_run);
    }
}

/* After a fatal error: receives (and drops) the results of the runs still
 * going, so that no worker blocks in a send while rank 0 finalizes. */
static void drain(coord *c) {
    double t0 = rb_now();
    for (;;) {
        int busy = 0;
        for (int r = 1; r < c->size; r++) busy += c->ranks[r].state == W_BUSY;
        if (!busy || rb_now() - t0 > c->mo->lost_after) return;
        int flag = 0;
        MPI_Status st;
        MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &flag, &st);
        if (!flag) {
            usleep(1000);
            continue;
        }
        int len = 0;
        MPI_Get_count(&st, MPI_CHAR, &len);
        char *b = malloc(len > 0 ? (size_t)len : 1);
        if (!b) return;
        MPI_Recv(b, len, MPI_CHAR, st.MPI_SOURCE, st.MPI_TAG, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        free(b);
        if (st.MPI_TAG == TAG_RESULT && st.MPI_SOURCE > 0 && st.MPI_SOURCE < c->size)
            c->ranks[st.MPI_SOURCE].state = W_IDLE;
    }
}

static int coordinate(coord *c, rb_error *err) {
    double t0 = rb_now(), last_check = t0;
    for (int r = 1; r < c->size; r++) {
        c->ranks[r].heard = t0;
        snprintf(c->ranks[r].host, sizeof c->ranks[r].host, "?");
    }
    int rc = RB_OK;
    char *msg = NULL;
    size_t msg_cap = 0;
    for (;;) {
        int pending = 0, busy = 0;
        for (size_t i = 0; i < c->n_runs; i++) pending += c->state[i] != R_NONE;
        for (int r = 1; r < c->size; r++) busy += c->ranks[r].state == W_BUSY;
        if (!pending && !busy) break;
        if (!n_usable(c)) { /* no worker left: what is pending fails */
            for (size_t i = 0; i < c->n_runs; i++) {
                if (c->state[i] == R_NONE) continue;
                c->state[i] = R_NONE;
                c->sum->n_failed++;
                rb_sweep_event ev = {.kind = RB_SWEEP_FAIL, .k = ++c->finished, .n = c->n_todo,
                                     .run = &c->runs[i], .message = "no worker rank left",
                                     .command = "", .stderr_tail = "", .host = "", .rank = -1};
                rb_sweep_emit(c->opts, &ev);
            }
            break;
        }
        if ((rc = dispatch(c, err))) break;
        int flag = 0;
        MPI_Status st;
        MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &flag, &st);
        double now = rb_now();
        if (flag) {
            int len = 0;
            MPI_Get_count(&st, MPI_CHAR, &len);
            if ((size_t)len + 1 > msg_cap) {
                char *p = realloc(msg, (size_t)len + 1);
                if (!p) {
                    rc = rb_error_set(err, RB_ENOMEM, "out of memory");
                    break;
                }
                msg = p;
                msg_cap = (size_t)len + 1;
            }
            MPI_Recv(msg, len, MPI_CHAR, st.MPI_SOURCE, st.MPI_TAG, MPI_COMM_WORLD,
                     MPI_STATUS_IGNORE);
            msg[len > 0 ? len : 0] = 0;
            int r = st.MPI_SOURCE;
            rank_state *rs = &c->ranks[r];
            if (r <= 0 || r >= c->size || rs->state == W_LOST) continue; /* ignored */
            rs->heard = now;
            if (st.MPI_TAG == TAG_HELLO && rs->state == W_STARTING) {
                snprintf(rs->host, sizeof rs->host, "%s", msg);
                rs->state = W_IDLE;
            } else if (st.MPI_TAG == TAG_RESULT) {
                if ((rc = on_result(c, r, msg, err))) break;
            }
            continue;
        }
        if (now - last_check >= 0.2) {
            last_check = now;
            for (int r = 1; r < c->size; r++) {
                rank_state *rs = &c->ranks[r];
                if ((rs->state == W_BUSY || rs->state == W_STARTING) &&
                    now - rs->heard > c->mo->lost_after) {
                    char why[160];
                    snprintf(why, sizeof why, "no message for %.0f s (%s)", now - rs->heard,
                             rs->state == W_BUSY ? "heartbeat stopped" : "never started");
                    lose_rank(c, r, why);
                }
            }
        }
        usleep(1000);
    }
    if (rc) drain(c);
    free(msg);
    return rc;
}

/* STOP to every worker ("lost" when a rank was lost: nobody finalizes);
 * lost ranks too, in case one is alive but slow.  ranks may be NULL. */
static void stop_workers(int size, const rank_state *ranks) {
    for (int r = 1; r < size; r++) {
        MPI_Request q;
        int lost = 0;
        for (int k = 1; ranks && k < size; k++) lost |= ranks[k].state == W_LOST;
        if (MPI_Isend(lost ? "lost" : "", lost ? 5 : 0, MPI_CHAR, r, TAG_STOP, MPI_COMM_WORLD,
                      &q) == MPI_SUCCESS)
            MPI_Request_free(&q);
    }
}

static int root(const char *config_path, rb_sweep_config *cfg, const rb_sweep_opts *opts,
                const rb_sweep_mpi_opts *mo, rb_sweep_summary *sum, int size, int *skip_finalize,
                rb_error *err) {
    double t_start = rb_now();
    coord c = {.cfg = cfg, .opts = opts, .mo = mo, .sum = sum, .size = size, .w = {.fd = -1}};
    int rc = rb_sweep_config_load(config_path, cfg, err);
    if (!rc) rc = rb_sweep_expand(cfg, &c.runs, &c.n_runs, err);
    if (rc) {
        stop_workers(size, NULL);
        return rc;
    }
    size_t n = c.n_runs ? c.n_runs : 1;
    c.state = calloc(n, 1);
    c.tries = calloc(n, 1);
    c.failed_on = malloc(n * sizeof *c.failed_on);
    c.ranks = calloc((size_t)size, sizeof *c.ranks);
    if (!c.state || !c.tries || !c.failed_on || !c.ranks) {
        rc = rb_error_set(err, RB_ENOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < c.n_runs; i++) c.failed_on[i] = -1;
    if ((rc = rb_sweep_results_open(cfg, c.runs, c.n_runs, opts, c.state, &c.n_todo, sum, &c.w,
                                    err)))
        goto done;
    /* todo[i] = 1 is R_PENDING */
    rc = coordinate(&c, err);
done:
    stop_workers(size, c.ranks);
    *skip_finalize = sum->n_lost_ranks > 0;
    rb_sweep_results_close(&c.w);
    free(c.state);
    free(c.tries);
    free(c.failed_on);
    free(c.ranks);
    rb_sweep_runs_free(c.runs, c.n_runs);
    sum->seconds = rb_now() - t_start;
    return rc;
}

int rb_sweep_mpi(int *argc, char ***argv, const char *config_path, rb_sweep_config *cfg,
                 const rb_sweep_opts *opts, const rb_sweep_mpi_opts *mopts,
                 rb_sweep_summary *summary, rb_sweep_mpi_end *end, rb_error *err) {
    memset(cfg, 0, sizeof *cfg);
    memset(summary, 0, sizeof *summary);
    memset(end, 0, sizeof *end);
    end->timeout = mopts->lost_after > 10 ? mopts->lost_after : 10;
    if (MPI_Init(argc, argv) != MPI_SUCCESS)
        return rb_error_set(err, RB_EIO, "--mpi: MPI_Init failed");
    end->initialized = 1;
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    int size = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &end->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (size < 2)
        return rb_error_set(err, RB_EINVAL,
                            "--mpi: %d rank; start at least 2 (mpirun -np N, N >= 2: rank 0 "
                            "hands out the runs, the others run them)",
                            size);
    if (end->rank == 0)
        return root(config_path, cfg, opts, mopts, summary, size, &end->skip_finalize, err);
    return worker(opts, mopts, &end->skip_finalize, err);
}

static void finalize_timeout(int sig) {
    (void)sig;
    _exit(3); /* MPI_Finalize hung: the sweep's work is done and durable */
}

void rb_sweep_mpi_finalize(const rb_sweep_mpi_end *end, int status) {
    fflush(stdout);
    fflush(stderr);
    if (end->initialized && !end->skip_finalize) {
        signal(SIGALRM, finalize_timeout);
        alarm((unsigned)end->timeout);
        MPI_Finalize();
        alarm(0);
    }
    exit(status);
}

#endif
