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
#include "run/flags.h"

/* ---- command lines ---------------------------------------------------------------- */

void rb_sweep_argv_free(char **argv) {
    if (!argv) return;
    for (char **p = argv; *p; p++) free(*p);
    free(argv);
}

int rb_sweep_argv(const rb_sweep_run *run, const char *rotbench, int threads, char ***out,
                  rb_error *err) {
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
    char **argv = calloc(rb_run_flags_max_argc() + 4, sizeof *argv);
    size_t n = 0;
    int ok = argv && (argv[0] = strdup(rotbench)) && (argv[1] = strdup("eval"));
    if (ok) {
        rc = rb_run_spec_argv(&spec, argv + 2, &n, err);
        ok = !rc && (argv[2 + n] = strdup("--json")) != NULL;
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

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

typedef struct child {
    rb_child proc;
    double t0;
    size_t run; /* index into runs */
    char **argv;
} child;


static void emit(const rb_sweep_opts *o, const rb_sweep_event *ev) {
    if (o && o->progress) o->progress(o->progress_ctx, ev);
}

static void warn_cb(rb_sweep_progress_fn fn, void *ctx, const char *msg) {
    if (!fn) return;
    rb_sweep_event ev = {.kind = RB_SWEEP_WARN, .message = msg};
    fn(ctx, &ev);
}

/* Reads the results file for the pending runs; keeps the records in *recs. */
static int pending_impl(const rb_sweep_config *cfg, const rb_sweep_run *runs, size_t n_runs,
                        int resume, unsigned char *todo, size_t *n_todo,
                        rb_sweep_progress_fn progress, void *pctx, rb_records *recs,
                        rb_error *err) {
    int rc = rb_records_read(cfg->results, 1, recs, err);
    if (rc) return rc;
    for (size_t i = 0; i < recs->n_issues; i++) warn_cb(progress, pctx, recs->issues[i].msg);
    struct stat st;
    if (!resume && stat(cfg->results, &st) == 0 && st.st_size > 0) {
        rb_records_free(recs);
        return rb_error_set(err, RB_EINVAL,
                            "%s: results file exists, use --resume (or move it away)",
                            cfg->results);
    }
    /* the keys already present, sorted, for bsearch */
    size_t nr = rb_records_count(recs), nk = 0;
    const char **keys = malloc((nr ? nr : 1) * sizeof *keys);
    if (!keys) {
        rb_records_free(recs);
        return rb_error_set(err, RB_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < nr; i++) {
        json_object *k;
        if (json_object_object_get_ex(rb_records_get(recs, i), "run_key", &k) &&
            json_object_is_type(k, json_type_string))
            keys[nk++] = json_object_get_string(k);
    }
    qsort(keys, nk, sizeof *keys, cmp_str);
    *n_todo = 0;
    for (size_t i = 0; i < n_runs; i++) {
        const char *key = runs[i].key;
        todo[i] = !(resume && nk && bsearch(&key, keys, nk, sizeof *keys, cmp_str));
        *n_todo += todo[i];
    }
    free(keys);
    return RB_OK;
}

int rb_sweep_pending(const rb_sweep_config *cfg, const rb_sweep_run *runs, size_t n_runs,
                     int resume, unsigned char *todo, size_t *n_todo,
                     rb_sweep_progress_fn progress, void *progress_ctx, rb_error *err) {
    rb_records recs;
    int rc = pending_impl(cfg, runs, n_runs, resume, todo, n_todo, progress, progress_ctx, &recs,
                          err);
    if (!rc) rb_records_free(&recs);
    return rc;
}

/* One write(2) of line (ending in '\n') on the O_APPEND fd, then fsync. */
static int append_line(int fd, const char *path, const char *line, size_t len, rb_error *err) {
    struct stat st;
    if (fstat(fd, &st)) return rb_error_set(err, RB_EIO, "%s: stat: %s", path, strerror(errno));
    ssize_t w;
    do w = write(fd, line, len);
    while (w < 0 && errno == EINTR);
    if (w != (ssize_t)len) {
        int e = errno;
        if (w > 0 && ftruncate(fd, st.st_size)) {
        }
        return rb_error_set(err, RB_EIO, "%s: write: %s", path,
                            w < 0 ? strerror(e) : "short write (disk full?)");
    }
    if (fsync(fd)) return rb_error_set(err, RB_EIO, "%s: fsync: %s", path, strerror(errno));
    return RB_OK;
}

/* The child's stdout as one JSON object (or its last line that is one). */
static json_object *parse_child_json(const char *s, size_t n, char *why, size_t cap) {
    if (!s || !n) {
        snprintf(why, cap, "no output on stdout");
        return NULL;
    }
    json_tokener *tok = json_tokener_new();
    json_object *o = tok ? json_tokener_parse_ex(tok, s, (int)n) : NULL;
    int ok = tok && json_tokener_get_error(tok) == json_tokener_success &&
             json_object_is_type(o, json_type_object);
    if (ok) {
        size_t end = json_tokener_get_parse_end(tok);
        while (end < n && strchr(" \t\r\n", s[end])) end++;
        ok = end == n;
    }
    json_tokener_free(tok);
    if (ok) return o;
    json_object_put(o);
    /* fall back to the last non-empty line */
    size_t e = n;
    while (e && strchr(" \t\r\n", s[e - 1])) e--;
    size_t b = e;
    while (b && s[b - 1] != '\n') b--;
    o = b < e ? json_tokener_parse(s + b) : NULL; /* s is NUL-terminated */
    if (o && json_object_is_type(o, json_type_object)) return o;
    json_object_put(o);
    snprintf(why, cap, "no JSON object on stdout (%zu bytes)", n);
    return NULL;
}

/* The last lines of a child's stderr; a usage text after an error (a line
 * "usage: ..." that does not start the output) is left out, so the error
 * itself is what the report shows. */
static char *tail_lines(const char *s, size_t max_lines, size_t max_bytes) {
    if (!s) return strdup("");
    size_t n = strlen(s);
    const char *usage = strstr(s, "\nusage: ");
    if (usage) n = (size_t)(usage - s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == '\r')) n--;
    size_t b = n, lines = 0;
    while (b > 0 && n - b < max_bytes) {
        if (s[b - 1] == '\n' && ++lines >= max_lines) break;
        b--;
    }
    char *t = strndup(s + b, n - b);
    return t ? t : strdup("");
}

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
    int fd = -1;
    if ((rc = rb_mkdir_parents(cfg->results, err))) goto done;
    fd = open(cfg->results, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = rb_error_set(err, RB_EIO, "%s: cannot open for appending: %s", cfg->results,
                          strerror(errno));
        goto done;
    }
    if (flock(fd, LOCK_EX | LOCK_NB)) {
        rc = rb_error_set(err, RB_EIO, "%s: %s", cfg->results,
                          errno == EWOULDBLOCK ? "locked by another running sweep"
                                               : strerror(errno));
        goto done;
    }
    rb_records recs;
    size_t n_todo;
    rc = pending_impl(cfg, runs, n_runs, opts->resume, todo, &n_todo, opts->progress,
                      opts->progress_ctx, &recs, err);
    if (rc) goto done;
    summary->n_skipped = n_runs - n_todo;
    if (recs.tail == RB_TAIL_PARTIAL) {
        char msg[600];
        struct stat st;
        long long extra = fstat(fd, &st) == 0 ? (long long)st.st_size - (long long)recs.keep_bytes : -1;
        snprintf(msg, sizeof msg, "%s: removing the partial last line (%lld bytes) before appending",
                 cfg->results, extra);
        warn_cb(opts->progress, opts->progress_ctx, msg);
        if (ftruncate(fd, (off_t)recs.keep_bytes) || fsync(fd))
            rc = rb_error_set(err, RB_EIO, "%s: truncate: %s", cfg->results, strerror(errno));
    } else if (recs.tail == RB_TAIL_NO_NEWLINE) {
        rc = append_line(fd, cfg->results, "\n", 1, err);
    }
    rb_records_free(&recs);
    if (rc) goto done;
    {
        rb_sweep_event ev = {.kind = RB_SWEEP_PLAN, .n = n_todo, .skipped = summary->n_skipped};
        emit(opts, &ev);
    }
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
            if ((rc = rb_sweep_argv(&runs[c->run], opts->rotbench, opts->threads, &c->argv, err)))
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
            if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                rb_describe_status(status, why, sizeof why);
            else if (pc->out_overflow)
                snprintf(why, sizeof why, "more than %d bytes on stdout", RB_CHILD_STDOUT_CAP);
            else
                rec = parse_child_json(pc->out.s, pc->out.len, why, sizeof why);
            finished++;
            if (rec) {
                json_object_object_add(rec, "run_key", json_object_new_string(run->key));
                json_object_object_add(rec, "labels", json_object_get(run->labels));
                json_object_object_add(rec, "sweep", json_object_new_string(cfg->name));
                json_object_object_add(rec, "args", json_object_get(run->args));
                rb_json_null_nonfinite(rec); /* standard JSON whatever the child printed */
                rb_buf line = {0};
                rb_buf_puts(&line, json_object_to_json_string_ext(
                                       rec, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
                rb_buf_puts(&line, "\n");
                if (line.oom)
                    rc = rb_error_set(err, RB_ENOMEM, "out of memory");
                else
                    rc = append_line(fd, cfg->results, line.s, line.len, err);
                rb_buf_free(&line);
                if (!rc) {
                    summary->n_done++;
                    rb_sweep_event ev = {.kind = RB_SWEEP_DONE, .k = finished, .n = n_todo,
                                         .run = run, .record = rec, .seconds = secs};
                    emit(opts, &ev);
                }
                json_object_put(rec);
            } else {
                summary->n_failed++;
                char *cmd = rb_shell_join(c->argv);
                char *tail = tail_lines(pc->errs.s, 20, 4000);
                rb_sweep_event ev = {.kind = RB_SWEEP_FAIL, .k = finished, .n = n_todo,
                                     .run = run, .message = why, .command = cmd ? cmd : "",
                                     .stderr_tail = tail ? tail : "", .seconds = secs};
                emit(opts, &ev);
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
    if (fd >= 0) close(fd);
    free(slots);
    free(todo);
    rb_sweep_runs_free(runs, n_runs);
    summary->seconds = rb_now() - t_start;
    return rc;
}
