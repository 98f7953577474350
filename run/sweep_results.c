/* The results file of a running sweep (run/sweep_results.h). */
#include "run/sweep_results.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/build_info.h"
#include "base/io.h"
#include "base/process.h"
#include "eval/records.h"

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}



void rb_sweep_emit(const rb_sweep_opts *o, const rb_sweep_event *ev) {
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
char *rb_sweep_stderr_tail(const char *s, size_t max_lines, size_t max_bytes) {
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


void rb_sweep_hostname(char *buf, size_t cap) {
    if (gethostname(buf, cap) != 0 || !*buf) snprintf(buf, cap, "unknown");
    buf[cap - 1] = 0;
}

int rb_sweep_results_open(const rb_sweep_config *cfg, const rb_sweep_run *runs, size_t n_runs,
                          const rb_sweep_opts *opts, unsigned char *todo, size_t *n_todo,
                          rb_sweep_summary *summary, rb_sweep_results *w, rb_error *err) {
    w->fd = -1;
    w->path = cfg->results;
    int rc = rb_mkdir_parents(cfg->results, err);
    if (rc) return rc;
    int fd = open(cfg->results, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return rb_error_set(err, RB_EIO, "%s: cannot open for appending: %s", cfg->results,
                            strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB)) {
        rc = rb_error_set(err, RB_EIO, "%s: %s", cfg->results,
                          errno == EWOULDBLOCK ? "locked by another running sweep"
                                               : strerror(errno));
        close(fd);
        return rc;
    }
    rb_records recs;
    rc = pending_impl(cfg, runs, n_runs, opts->resume, todo, n_todo, opts->progress,
                      opts->progress_ctx, &recs, err);
    if (rc) {
        close(fd);
        return rc;
    }
    size_t n_pending = *n_todo;
    rb_shard_filter(&opts->shard, runs, n_runs, todo, n_todo);
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
    if (rc) {
        close(fd);
        return rc;
    }
    w->fd = fd;
    summary->n_runs = n_runs;
    summary->n_skipped = n_runs - n_pending;
    summary->n_other_shards = n_pending - *n_todo;
    rb_sweep_event ev = {.kind = RB_SWEEP_PLAN, .n = *n_todo,
                         .skipped = n_runs - n_pending,
                         .other_shards = n_pending - *n_todo};
    rb_sweep_emit(opts, &ev);
    return RB_OK;
}

void rb_sweep_results_close(rb_sweep_results *w) {
    if (w->fd >= 0) close(w->fd);
    w->fd = -1;
}

/* {"host", "rank"?, "shard"?, "build"}; NULL when out of memory. */
static json_object *provenance(const rb_sweep_where *where) {
    json_object *o = json_object_new_object();
    if (!o) return NULL;
    json_object_object_add(o, "host", json_object_new_string(where->host ? where->host : "unknown"));
    if (where->rank >= 0) json_object_object_add(o, "rank", json_object_new_int(where->rank));
    if (where->shard && where->shard->n) {
        char t[32];
        snprintf(t, sizeof t, "%u/%u", where->shard->k, where->shard->n);
        json_object_object_add(o, "shard", json_object_new_string(t));
    }
    json_object_object_add(o, "build", json_object_new_string(rb_build_id()));
    return o;
}

int rb_sweep_results_add(rb_sweep_results *w, const rb_sweep_config *cfg,
                         const rb_sweep_run *run, int status, const char *out, size_t out_len,
                         int out_overflow, const rb_sweep_where *where, json_object **recp,
                         char *why, size_t cap, rb_error *err) {
    *recp = NULL;
    json_object *rec = NULL;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        rb_describe_status(status, why, cap);
    else if (out_overflow)
        snprintf(why, cap, "more than %d bytes on stdout", RB_CHILD_STDOUT_CAP);
    else
        rec = parse_child_json(out, out_len, why, cap);
    if (!rec) return RB_OK;
    json_object_object_add(rec, "run_key", json_object_new_string(run->key));
    json_object_object_add(rec, "labels", json_object_get(run->labels));
    json_object_object_add(rec, "sweep", json_object_new_string(cfg->name));
    json_object_object_add(rec, "args", json_object_get(run->args));
    json_object_object_add(rec, "provenance", provenance(where));
    rb_json_null_nonfinite(rec); /* standard JSON whatever the child printed */
    rb_buf line = {0};
    rb_buf_puts(&line, json_object_to_json_string_ext(
                           rec, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
    rb_buf_puts(&line, "\n");
    int rc = line.oom ? rb_error_set(err, RB_ENOMEM, "out of memory")
                      : append_line(w->fd, w->path, line.s, line.len, err);
    rb_buf_free(&line);
    if (rc) {
        json_object_put(rec);
        return rc;
    }
    *recp = rec;
    return RB_OK;
}
