/* rotbench compare: selection, pairing, paired t-test and the bootstrap over
 * windows (eval/compare.h). */
#include "eval/compare.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"

/* ---- per-window NLLs --------------------------------------------------------- */

void rb_run_windows_free(rb_run_windows *w) {
    free(w->nll);
    free(w->tokens);
    memset(w, 0, sizeof *w);
}

int rb_run_windows_read(json_object *rec, const char *what, rb_run_windows *out, rb_error *err) {
    memset(out, 0, sizeof *out);
    json_object *a, *b;
    if (!json_object_object_get_ex(rec, "window_nll", &a)) return 1;
    if (!json_object_is_type(a, json_type_array))
        return rb_error_set(err, RB_EFORMAT, "%s: window_nll is not an array", what);
    if (!json_object_object_get_ex(rec, "window_tokens", &b) ||
        !json_object_is_type(b, json_type_array))
        return rb_error_set(err, RB_EFORMAT, "%s: window_nll without a window_tokens array", what);
    size_t n = json_object_array_length(a);
    double nw, ntok, nll;
    if (rb_record_number(rec, "n_windows", &nw) || rb_record_number(rec, "n_tokens", &ntok) ||
        rb_record_number(rec, "nll", &nll))
        return rb_error_set(err, RB_EFORMAT, "%s: window_nll without numeric n_windows, n_tokens "
                                             "and nll", what);
    if (n == 0 || json_object_array_length(b) != n || nw != (double)n)
        return rb_error_set(err, RB_EFORMAT,
                            "%s: window_nll has %zu entries, window_tokens %zu, n_windows is %g",
                            what, n, json_object_array_length(b), nw);
    out->nll = malloc(n * sizeof *out->nll);
    out->tokens = malloc(n * sizeof *out->tokens);
    if (!out->nll || !out->tokens) {
        rb_run_windows_free(out);
        return rb_error_set(err, RB_ENOMEM, "out of memory");
    }
    out->n = n;
    double sum = 0, tok = 0;
    for (size_t w = 0; w < n; w++) {
        json_object *x = json_object_array_get_idx(a, w), *t = json_object_array_get_idx(b, w);
        int xnum =
            json_object_is_type(x, json_type_double) || json_object_is_type(x, json_type_int);
        double xv = xnum ? json_object_get_double(x) : NAN;
        int64_t tv = json_object_is_type(t, json_type_int) ? json_object_get_int64(t) : -1;
        if (!xnum || !isfinite(xv) || xv < 0) {
            rb_run_windows_free(out);
            return rb_error_set(err, RB_EFORMAT,
                                "%s: window_nll[%zu] is not a finite non-negative number", what, w);
        }
        if (tv < 1 || tv > (int64_t)1 << 40) {
            rb_run_windows_free(out);
            return rb_error_set(err, RB_EFORMAT,
                                "%s: window_tokens[%zu] is not a positive integer", what, w);
        }
        out->nll[w] = xv;
        out->tokens[w] = (double)tv;
        sum += xv;
        tok += (double)tv;
    }
    if (tok != ntok || !(fabs(sum / tok - nll) <= 1e-9 * fabs(nll) + 1e-12)) {
        double got = sum / tok;
        rb_run_windows_free(out);
        return rb_error_set(err, RB_EFORMAT,
                            "%s: the windows add up to %.0f tokens and nll %.12g, the record says "
                            "%.0f and %.12g",
                            what, tok, got, ntok, nll);
    }
    return RB_OK;
}

static double window_metric(rb_window_stat stat, double nll, double tok) {
    return stat == RB_WINDOW_PPL ? exp(nll / tok) : nll / tok;
}

int rb_window_bootstrap(const rb_run_windows *runs, const double *coef, const size_t *group,
                        size_t n_runs, size_t n_groups, rb_window_stat stat, size_t n_boot,
                        uint64_t seed, double confidence, double *observed, double *lo,
                        double *hi, rb_error *err) {
    if (n_runs == 0 || n_boot == 0 || !(confidence > 0 && confidence < 1))
        return rb_error_set(err, RB_EINVAL, "bootstrap: %zu runs, %zu replicates, confidence %g",
                            n_runs, n_boot, confidence);
    if (!group) n_groups = 0;
    for (size_t k = 0; k < n_runs && n_groups; k++)
        if (group[k] >= n_groups)
            return rb_error_set(err, RB_EINVAL, "bootstrap: run %zu in group %zu of %zu", k,
                                group[k], n_groups);
    size_t W = runs[0].n;
    for (size_t k = 1; k < n_runs; k++) {
        if (runs[k].n != W)
            return rb_error_set(err, RB_EINVAL,
                                "bootstrap: the runs have different windows (%zu and %zu)", W,
                                runs[k].n);
        for (size_t w = 0; w < W; w++)
            if (runs[k].tokens[w] != runs[0].tokens[w])
                return rb_error_set(err, RB_EINVAL,
                                    "bootstrap: the runs' window %zu scores %g and %g tokens", w,
                                    runs[0].tokens[w], runs[k].tokens[w]);
    }
    double tok = 0;
    for (size_t w = 0; w < W; w++) tok += runs[0].tokens[w];
    double obs = 0;
    for (size_t k = 0; k < n_runs; k++) {
        double s = 0;
        for (size_t w = 0; w < W; w++) s += runs[k].nll[w];
        obs += coef[k] * window_metric(stat, s, tok);
    }
    *observed = obs;
    double *reps = malloc(n_boot * sizeof *reps);
    unsigned *count = malloc(W * sizeof *count);
    unsigned *mult = malloc((n_groups ? n_groups : 1) * sizeof *mult);
    if (!reps || !count || !mult) {
        free(reps);
        free(count);
        free(mult);
        return rb_error_set(err, RB_ENOMEM, "out of memory");
    }
    rb_rng rng;
    rb_rng_seed(&rng, seed);
    for (size_t r = 0; r < n_boot; r++) {
        /* the groups (pairs, seeds) first, then the windows */
        if (n_groups) {
            memset(mult, 0, n_groups * sizeof *mult);
            for (size_t i = 0; i < n_groups; i++) mult[rb_rng_below(&rng, n_groups)]++;
        }
        memset(count, 0, W * sizeof *count);
        for (size_t i = 0; i < W; i++) count[rb_rng_below(&rng, W)]++;
        double t = 0, v = 0;
        for (size_t w = 0; w < W; w++) t += count[w] * runs[0].tokens[w];
        for (size_t k = 0; k < n_runs; k++) {
            double m = n_groups ? mult[group[k]] : 1;
            if (m == 0) continue;
            double s = 0;
            for (size_t w = 0; w < W; w++) s += count[w] * runs[k].nll[w];
            v += m * coef[k] * window_metric(stat, s, t);
        }
        reps[r] = v;
    }
    free(mult);
    rb_stats_sort(reps, n_boot);
    *lo = rb_stats_quantile_sorted(reps, n_boot, (1 - confidence) / 2);
    *hi = rb_stats_quantile_sorted(reps, n_boot, (1 + confidence) / 2);
    free(reps);
    free(count);
    return RB_OK;
}

int rb_records_mean_interval(json_object *const *recs, size_t n, rb_window_stat stat,
                             size_t n_boot, uint64_t seed, double confidence, double *lo,
                             double *hi, rb_error *err) {
    if (n == 0) return 1;
    rb_run_windows *runs = calloc(n, sizeof *runs);
    double *coef = malloc(n * sizeof *coef);
    size_t *group = malloc(n * sizeof *group);
    int rc = runs && coef && group ? RB_OK : rb_error_set(err, RB_ENOMEM, "out of memory");
    for (size_t i = 0; i < n && !rc; i++) {
        char what[64];
        snprintf(what, sizeof what, "record %zu of the cell", i + 1);
        rc = rb_run_windows_read(recs[i], what, &runs[i], err);
        coef[i] = 1.0 / (double)n;
        group[i] = i;
    }
    double obs;
    if (!rc)
        rc = rb_window_bootstrap(runs, coef, n > 1 ? group : NULL, n, n > 1 ? n : 0, stat, n_boot,
                                 seed, confidence, &obs, lo, hi, err);
    for (size_t i = 0; runs && i < n; i++) rb_run_windows_free(&runs[i]);
    free(runs);
    free(coef);
    free(group);
    return rc;
}

/* ---- selection ------------------------------------------------------------- */

const char *rb_verdict_name(rb_verdict v) {
    switch (v) {
    case RB_VERDICT_HOLDS: return "holds";
    case RB_VERDICT_WITHIN_NOISE: return "within noise";
    case RB_VERDICT_CONTRADICTED: return "contradicted";
    default: return "none";
    }
}

int rb_compare_selector_parse(char *text, rb_where *where, size_t *n, size_t cap,
                              rb_error *err) {
    char *p = text;
    for (;;) {
        char *comma = strchr(p, ',');
        if (comma) *comma = 0;
        if (!*p) return rb_error_set(err, RB_EINVAL, "empty item in selector");
        if (*n == cap) return rb_error_set(err, RB_EINVAL, "more than %zu selector items", cap);
        char *eq = strchr(p, '=');
        if (eq) {
            if (rb_where_parse(p, &where[*n], err)) return RB_EINVAL;
        } else {
            where[*n] = (rb_where){NULL, p};
        }
        (*n)++;
        if (!comma) return RB_OK;
        p = comma + 1;
    }
}

/* One selected record. */
typedef struct sel {
    json_object *rec;
    const char *path; /* its file */
    size_t index;     /* 1-based in its file */
    double value;
    const char *pair; /* pairing label, "" when absent */
} sel;

typedef struct side {
    sel *v;
    size_t n, cap;
} side;

static int side_push(side *s, sel x) {
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 16;
        sel *p = realloc(s->v, cap * sizeof *p);
        if (!p) return -1;
        s->v = p;
        s->cap = cap;
    }
    s->v[s->n++] = x;
    return 0;
}

static const char *str_field(json_object *rec, const char *key) {
    json_object *v;
    return json_object_object_get_ex(rec, key, &v) && json_object_is_type(v, json_type_string)
               ? json_object_get_string(v)
               : NULL;
}

/* The metric path of a record: NULL when it does not apply (a perplexity
 * record of another --task). */
static const char *metric_path(json_object *rec, const rb_compare_spec *spec, char *buf,
                               size_t cap) {
    const char *metric = spec->metric ? spec->metric : "ppl";
    if (!spec->task) return metric;
    json_object *tasks;
    if (json_object_object_get_ex(rec, "tasks", &tasks) &&
        json_object_is_type(tasks, json_type_object)) {
        snprintf(buf, cap, "tasks.%s.%s", spec->task, metric);
        return buf;
    }
    const char *t = str_field(rec, "task");
    return t && !strcmp(t, spec->task) ? metric : NULL;
}

static void describe(const sel *s, char *buf, size_t cap) {
    snprintf(buf, cap, "%s: record %zu", s->path, s->index);
}


/* Every label but the pairing axis must be the same on a side. */
static int check_uniform(const side *s, const char *name, const char *pair, rb_error *err) {
    for (size_t i = 0; i < s->n; i++) {
        json_object *li = NULL;
        json_object_object_get_ex(s->v[i].rec, "labels", &li);
        for (size_t j = 0; j < s->n; j++) {
            json_object *lj = NULL;
            json_object_object_get_ex(s->v[j].rec, "labels", &lj);
            if (!li || !json_object_is_type(li, json_type_object)) {
                if (lj && json_object_object_length(lj))
                    return rb_error_set(err, RB_EINVAL,
                                        "--%s selects records with and without labels: narrow it",
                                        name);
                continue;
            }
            json_object_object_foreach(li, k, v) {
                if (!strcmp(k, pair)) continue;
                const char *o = lj ? rb_record_label(s->v[j].rec, k) : NULL;
                const char *mine = json_object_get_string(v);
                if (!o || strcmp(o, mine))
                    return rb_error_set(err, RB_EINVAL,
                                        "--%s selects records that differ in \"%s\" (%s and %s): "
                                        "add --where %s=LABEL or narrow --%s",
                                        name, k, mine, o ? o : "(none)", k, name);
            }
        }
    }
    return RB_OK;
}

/* labels every selected record shares, except the pairing axis */
static void common_labels(const side *a, const side *b, const char *pair, char *buf, size_t cap) {
    buf[0] = 0;
    if (!a->n) return;
    json_object *l0 = NULL;
    json_object_object_get_ex(a->v[0].rec, "labels", &l0);
    if (!l0 || !json_object_is_type(l0, json_type_object)) return;
    size_t len = 0;
    json_object_object_foreach(l0, k, v) {
        if (!strcmp(k, pair)) continue;
        const char *val = json_object_get_string(v);
        int all = 1;
        for (size_t i = 0; i < b->n && all; i++) {
            const char *o = rb_record_label(b->v[i].rec, k);
            all = o && !strcmp(o, val);
        }
        if (!all) continue;
        int w = snprintf(buf + len, cap - len, "%s%s=%s", len ? ", " : "", k, val);
        if (w < 0 || (size_t)w >= cap - len) break;
        len += (size_t)w;
    }
}

static void note(char *notes, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void note(char *notes, size_t cap, const char *fmt, ...) {
    size_t len = strlen(notes);
    if (len + 3 >= cap) return;
    if (len) {
        memcpy(notes + len, "; ", 3);
        len += 2;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(notes + len, cap - len, fmt, ap);
    va_end(ap);
}

static int label_is_number(const char *s, double *x) {
    char *end;
    errno = 0;
    *x = strtod(s, &end);
    return *s && !*end && !errno;
}

typedef struct idx_pair {
    size_t ia, ib;
} idx_pair;

/* Orders x[i].ia by the pairing label of side s (numbers by value, then
 * text, then record order): an insertion sort (a few seeds). */
static int pair_before(const side *s, idx_pair x, idx_pair y) {
    const char *a = s->v[x.ia].pair, *b = s->v[y.ia].pair;
    double u, v;
    if (label_is_number(a, &u) && label_is_number(b, &v) && u != v) return u < v;
    int c = strcmp(a, b);
    return c ? c < 0 : x.ia < y.ia;
}

static void sort_pairs(const side *s, idx_pair *x, size_t n) {
    for (size_t i = 1; i < n; i++) {
        idx_pair k = x[i];
        size_t j = i;
        for (; j > 0 && pair_before(s, k, x[j - 1]); j--) x[j] = x[j - 1];
        x[j] = k;
    }
}

int rb_compare(const rb_compare_source *src, const rb_compare_spec *spec, rb_compare_result *out,
               rb_error *err) {
    memset(out, 0, sizeof *out);
    out->interval = "none";
    out->lo = out->hi = NAN;
    const char *pair = spec->pair ? spec->pair : "seed";
    snprintf(out->pair_axis, sizeof out->pair_axis, "%s", pair);
    if (!(spec->confidence > 0 && spec->confidence < 1))
        return rb_error_set(err, RB_EINVAL, "confidence %g is not in (0, 1)", spec->confidence);
    if (!spec->n_a || !spec->n_b)
        return rb_error_set(err, RB_EINVAL, "give both --a and --b selectors");
    side A = {0}, B = {0};
    size_t n_no_metric = 0;
    int rc = RB_OK;
    char buf[300];
    const char *first_metric = NULL;
    {
        size_t nr = json_object_array_length(src->records);
        for (size_t r = 0; r < nr && !rc; r++) {
            json_object *rec = json_object_array_get_idx(src->records, r);
            if (!rb_record_matches(rec, spec->where, spec->n_where)) continue;
            int in_a = rb_record_matches(rec, spec->a, spec->n_a);
            int in_b = rb_record_matches(rec, spec->b, spec->n_b);
            if (!in_a && !in_b) continue;
            sel s = {rec, src->path, r + 1, 0, rb_record_label(rec, pair)};
            if (!s.pair) s.pair = "";
            if (in_a && in_b) {
                describe(&s, buf, sizeof buf);
                rc = rb_error_set(err, RB_EINVAL, "%s matches both --a and --b", buf);
                break;
            }
            char mbuf[256];
            const char *path = metric_path(rec, spec, mbuf, sizeof mbuf);
            if (!path || rb_record_number(rec, path, &s.value)) {
                n_no_metric++;
                continue;
            }
            if (!first_metric) snprintf(out->metric, sizeof out->metric, "%s", path);
            first_metric = out->metric;
            if (side_push(in_a ? &A : &B, s)) rc = rb_error_set(err, RB_ENOMEM, "out of memory");
        }
    }
    if (!rc && (!A.n || !B.n))
        rc = rb_error_set(err, RB_EINVAL, "--%s selects no record with a numeric \"%s\"%s%s%s",
                          !A.n ? "a" : "b", spec->metric ? spec->metric : "ppl",
                          spec->task ? " for task " : "", spec->task ? spec->task : "",
                          n_no_metric ? " (some selected records lack it)" : "");
    if (!rc) rc = check_uniform(&A, "a", pair, err);
    if (!rc) rc = check_uniform(&B, "b", pair, err);
    /* duplicate pairing labels on one side */
    for (int s = 0; s < 2 && !rc; s++) {
        const side *S = s ? &B : &A;
        for (size_t i = 0; i < S->n && !rc; i++)
            for (size_t j = i + 1; j < S->n && !rc; j++)
                if (!strcmp(S->v[i].pair, S->v[j].pair)) {
                    char d1[300], d2[300];
                    describe(&S->v[i], d1, sizeof d1);
                    describe(&S->v[j], d2, sizeof d2);
                    rc = rb_error_set(err, RB_EINVAL,
                                      "--%s: %s and %s are both %s=%s (different runs): narrow the "
                                      "selection",
                                      s ? "b" : "a", d1, d2, pair, S->v[i].pair);
                }
    }
    idx_pair *pairs = NULL;
    size_t np = 0;
    if (!rc) {
        out->n_a = A.n;
        out->n_b = B.n;
        out->a_shared = A.n == 1 && B.n > 1;
        out->b_shared = B.n == 1 && A.n > 1;
        pairs = malloc((A.n + B.n) * sizeof *pairs);
        if (!pairs) rc = rb_error_set(err, RB_ENOMEM, "out of memory");
    }
    if (!rc) {
        if (out->a_shared || out->b_shared) {
            for (size_t i = 0; i < (out->a_shared ? B.n : A.n); i++)
                pairs[np++] = out->a_shared ? (idx_pair){0, i} : (idx_pair){i, 0};
        } else {
            for (size_t i = 0; i < A.n; i++)
                for (size_t j = 0; j < B.n; j++)
                    if (!strcmp(A.v[i].pair, B.v[j].pair)) pairs[np++] = (idx_pair){i, j};
            out->n_unpaired = A.n + B.n - 2 * np;
        }
        if (!np)
            rc = rb_error_set(err, RB_EINVAL,
                              "no %s label is on both sides (%zu a and %zu b records): nothing "
                              "to pair",
                              pair, A.n, B.n);
    }
    if (!rc) {
        /* order by the pairing label (of the side that varies) */
        const side *ord = out->a_shared ? &B : &A;
        if (out->a_shared)
            for (size_t i = 0; i < np; i++) pairs[i] = (idx_pair){pairs[i].ib, pairs[i].ia};
        sort_pairs(ord, pairs, np);
        if (out->a_shared)
            for (size_t i = 0; i < np; i++) pairs[i] = (idx_pair){pairs[i].ib, pairs[i].ia};
        common_labels(&A, &B, pair, out->common, sizeof out->common);
        if (n_no_metric)
            note(out->notes, sizeof out->notes, "%zu selected record%s without the metric",
                 n_no_metric, n_no_metric > 1 ? "s" : "");
        if (out->n_unpaired)
            note(out->notes, sizeof out->notes, "%zu record%s without a partner left out",
                 out->n_unpaired, out->n_unpaired > 1 ? "s" : "");
        if (out->a_shared || out->b_shared)
            note(out->notes, sizeof out->notes,
                 "the %zu pairs share the single %s record (a seed-independent run)", np,
                 out->a_shared ? "a" : "b");
        out->pairs = calloc(np, sizeof *out->pairs);
        double *d = malloc(np * sizeof *d), *va = malloc(np * sizeof *va),
               *vb = malloc(np * sizeof *vb);
        if (!out->pairs || !d || !va || !vb) rc = rb_error_set(err, RB_ENOMEM, "out of memory");
        for (size_t i = 0; i < np && !rc; i++) {
            const sel *x = &A.v[pairs[i].ia], *y = &B.v[pairs[i].ib];
            out->pairs[i].label = strdup(out->a_shared ? y->pair : x->pair);
            if (!out->pairs[i].label) rc = rb_error_set(err, RB_ENOMEM, "out of memory");
            out->pairs[i].a = va[i] = x->value;
            out->pairs[i].b = vb[i] = y->value;
            d[i] = x->value - y->value;
        }
        if (!rc) {
            out->n_pairs = np;
            double sd;
            rb_stats_mean_std(va, np, &out->mean_a, &sd);
            rb_stats_mean_std(vb, np, &out->mean_b, &sd);
            rb_stats_paired_t(d, np, spec->confidence, &out->t);
            out->mean_diff = out->t.mean;
        }
        free(d);
        free(va);
        free(vb);
    }
    /* the bootstrap over windows */
    int boot_metric = !strcmp(out->metric, "ppl") || !strcmp(out->metric, "nll");
    if (!rc && spec->bootstrap && boot_metric) {
        rb_run_windows *runs = calloc(2 * np, sizeof *runs);
        double *coef = malloc(2 * np * sizeof *coef);
        int missing = 0;
        if (!runs || !coef) rc = rb_error_set(err, RB_ENOMEM, "out of memory");
        for (size_t i = 0; i < 2 * np && !rc && !missing; i++) {
            const sel *s = i < np ? &A.v[pairs[i].ia] : &B.v[pairs[i - np].ib];
            describe(s, buf, sizeof buf);
            int w = rb_run_windows_read(s->rec, buf, &runs[i], err);
            if (w == 1) {
                missing = 1;
                note(out->notes, sizeof out->notes,
                     "no bootstrap: %s has no per-window NLLs (older results)", buf);
            } else if (w) {
                rc = w;
            }
            coef[i] = (i < np ? 1.0 : -1.0) / (double)np;
        }
        const char *sha0 = str_field(A.v[pairs[0].ia].rec, "data_sha256");
        for (size_t i = 0; i < 2 * np && !rc && !missing; i++) {
            const sel *s = i < np ? &A.v[pairs[i].ia] : &B.v[pairs[i - np].ib];
            const char *sha = str_field(s->rec, "data_sha256");
            if ((sha == NULL) != (sha0 == NULL) || (sha && strcmp(sha, sha0))) {
                describe(s, buf, sizeof buf);
                rc = rb_error_set(err, RB_EINVAL,
                                  "%s scored other data (data_sha256 %s, not %s): the windows "
                                  "cannot be paired",
                                  buf, sha ? sha : "(none)", sha0 ? sha0 : "(none)");
            }
        }
        rb_window_stat stat = !strcmp(out->metric, "ppl") ? RB_WINDOW_PPL : RB_WINDOW_NLL;
        size_t *group = !rc && !missing ? malloc(2 * np * sizeof *group) : NULL;
        if (!rc && !missing && !group) rc = rb_error_set(err, RB_ENOMEM, "out of memory");
        for (size_t i = 0; group && i < 2 * np; i++) group[i] = i % np;
        if (!rc && !missing)
            rc = rb_window_bootstrap(runs, coef, NULL, 2 * np, 0, stat, spec->bootstrap,
                                     spec->seed, spec->confidence, &out->boot_observed,
                                     &out->boot_w_lo, &out->boot_w_hi, err);
        out->boot_seeds = !spec->windows_only && np > 1;
        if (!rc && !missing && out->boot_seeds)
            rc = rb_window_bootstrap(runs, coef, group, 2 * np, np, stat, spec->bootstrap,
                                     spec->seed, spec->confidence, &out->boot_observed,
                                     &out->boot_lo, &out->boot_hi, err);
        if (!rc && !missing) {
            if (!out->boot_seeds) {
                out->boot_lo = out->boot_w_lo;
                out->boot_hi = out->boot_w_hi;
            }
            out->n_boot = spec->bootstrap;
            out->n_windows = runs[0].n;
        }
        free(group);
        for (size_t i = 0; runs && i < 2 * np; i++) rb_run_windows_free(&runs[i]);
        free(runs);
        free(coef);
    }
    free(pairs);
    free(A.v);
    free(B.v);
    if (rc) {
        rb_compare_result_free(out);
        return rc;
    }
    if (out->n_boot) {
        out->interval = "bootstrap";
        out->lo = out->boot_lo;
        out->hi = out->boot_hi;
    } else if (out->t.possible) {
        out->interval = "t";
        out->lo = out->t.lo;
        out->hi = out->t.hi;
    }
    out->sign = out->hi < 0 ? -1 : out->lo > 0 ? 1 : 0;
    if (spec->expect && strcmp(out->interval, "none"))
        out->verdict = out->sign == spec->expect ? RB_VERDICT_HOLDS
                       : out->sign == 0          ? RB_VERDICT_WITHIN_NOISE
                                                 : RB_VERDICT_CONTRADICTED;
    return RB_OK;
}

void rb_compare_result_free(rb_compare_result *r) {
    for (size_t i = 0; r->pairs && i < r->n_pairs; i++) free(r->pairs[i].label);
    free(r->pairs);
    r->pairs = NULL;
    r->n_pairs = 0;
}

/* ---- JSON --------------------------------------------------------------------- */

static json_object *num(double x) {
    return isfinite(x) ? json_object_new_double(x) : NULL;
}

json_object *rb_compare_json(const rb_compare_result *r, const rb_compare_spec *spec) {
    json_object *o = json_object_new_object();
    json_object_object_add(o, "metric", json_object_new_string(r->metric));
    json_object_object_add(o, "pair_axis", json_object_new_string(r->pair_axis));
    json_object_object_add(o, "common", json_object_new_string(r->common));
    json_object_object_add(o, "n_a", json_object_new_int64((int64_t)r->n_a));
    json_object_object_add(o, "n_b", json_object_new_int64((int64_t)r->n_b));
    json_object_object_add(o, "a_shared", json_object_new_boolean(r->a_shared));
    json_object_object_add(o, "b_shared", json_object_new_boolean(r->b_shared));
    json_object_object_add(o, "n_pairs", json_object_new_int64((int64_t)r->n_pairs));
    json_object *pairs = json_object_new_array();
    for (size_t i = 0; i < r->n_pairs; i++) {
        json_object *p = json_object_new_object();
        json_object_object_add(p, r->pair_axis, json_object_new_string(r->pairs[i].label));
        json_object_object_add(p, "a", num(r->pairs[i].a));
        json_object_object_add(p, "b", num(r->pairs[i].b));
        json_object_object_add(p, "diff", num(r->pairs[i].a - r->pairs[i].b));
        json_object_array_add(pairs, p);
    }
    json_object_object_add(o, "pairs", pairs);
    json_object_object_add(o, "mean_a", num(r->mean_a));
    json_object_object_add(o, "mean_b", num(r->mean_b));
    json_object_object_add(o, "mean_diff", num(r->mean_diff));
    json_object_object_add(o, "std_diff", num(r->t.std));
    json_object *t = json_object_new_object();
    json_object_object_add(t, "possible", json_object_new_boolean(r->t.possible));
    json_object_object_add(t, "t", num(r->t.t));
    json_object_object_add(t, "df", num(r->t.df));
    json_object_object_add(t, "p", num(r->t.p));
    json_object_object_add(t, "lo", num(r->t.lo));
    json_object_object_add(t, "hi", num(r->t.hi));
    json_object_object_add(o, "t_test", t);
    json_object *b = json_object_new_object();
    json_object_object_add(b, "replicates", json_object_new_int64((int64_t)r->n_boot));
    json_object_object_add(b, "windows", json_object_new_int64((int64_t)r->n_windows));
    json_object_object_add(b, "seed", json_object_new_int64((int64_t)spec->seed));
    json_object_object_add(b, "observed", r->n_boot ? num(r->boot_observed) : NULL);
    json_object_object_add(b, "resample", json_object_new_string(r->boot_seeds ? "seeds+windows"
                                                                               : "windows"));
    json_object_object_add(b, "lo", r->n_boot ? num(r->boot_lo) : NULL);
    json_object_object_add(b, "hi", r->n_boot ? num(r->boot_hi) : NULL);
    json_object_object_add(b, "windows_lo", r->n_boot ? num(r->boot_w_lo) : NULL);
    json_object_object_add(b, "windows_hi", r->n_boot ? num(r->boot_w_hi) : NULL);
    json_object_object_add(o, "bootstrap", b);
    json_object_object_add(o, "confidence", json_object_new_double(spec->confidence));
    json_object_object_add(o, "interval", json_object_new_string(r->interval));
    json_object_object_add(o, "lo", num(r->lo));
    json_object_object_add(o, "hi", num(r->hi));
    json_object_object_add(o, "direction",
                           json_object_new_string(r->sign < 0   ? "a < b"
                                                  : r->sign > 0 ? "a > b"
                                                                : "none"));
    json_object_object_add(o, "expect",
                           spec->expect ? json_object_new_string(spec->expect < 0 ? "a<b" : "a>b")
                                        : NULL);
    json_object_object_add(o, "verdict", json_object_new_string(rb_verdict_name(r->verdict)));
    json_object_object_add(o, "notes", json_object_new_string(r->notes));
    return o;
}
