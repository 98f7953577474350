/* Fresh records against committed ones, metric by metric (eval/records_diff.h). */
#include "eval/records_diff.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"

const char *const rb_diff_metric_keys[] = {
    "ppl",          "nll",          "acc",           "acc_norm",         "acc_stderr",
    "acc_norm_stderr", "n_tokens",  "n_windows",     "n_items",          "n_cont_truncated",
    "n_ctx_truncated", "window_nll", "window_tokens", NULL};

static int is_metric(const char *k) {
    for (const char *const *m = rb_diff_metric_keys; *m; m++)
        if (!strcmp(k, *m)) return 1;
    return 0;
}

/* A JSON value as a number: ints and doubles; null with a "<key>_nonfinite"
 * sibling in parent as that value.  0 when it is no number. */
static int as_number(json_object *v, json_object *parent, const char *key, double *out) {
    if (json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double)) {
        *out = json_object_get_double(v);
        return 1;
    }
    char k[300];
    json_object *nf;
    snprintf(k, sizeof k, "%.280s_nonfinite", key);
    if (!v && parent && json_object_object_get_ex(parent, k, &nf)) {
        const char *s = json_object_get_string(nf);
        *out = !strcmp(s, "inf") ? INFINITY : !strcmp(s, "-inf") ? -INFINITY : NAN;
        return 1;
    }
    return 0;
}

typedef struct ctx {
    rb_diff *d;
    const char *labels;
    double tol; /* 0: bit-identical */
    int oom;
} ctx;

static void add_row(ctx *c, rb_diff_kind kind, const char *metric, double a, double b) {
    rb_diff *d = c->d;
    rb_diff_row *r = realloc(d->rows, (d->n_rows + 1) * sizeof *r);
    if (!r) {
        c->oom = 1;
        return;
    }
    d->rows = r;
    r = &d->rows[d->n_rows];
    *r = (rb_diff_row){.kind = kind, .committed = a, .fresh = b};
    r->labels = strdup(c->labels);
    r->metric = metric ? strdup(metric) : NULL;
    if (!r->labels || (metric && !r->metric)) {
        free(r->labels), free(r->metric);
        c->oom = 1;
        return;
    }
    d->n_rows++;
}

static int equal(double a, double b, double tol, double *rel) {
    if (a == b || (isnan(a) && isnan(b))) {
        *rel = 0;
        return 1;
    }
    *rel = a != 0 && isfinite(a) && isfinite(b) ? fabs(b - a) / fabs(a) : INFINITY;
    return *rel <= tol;
}

static void compare_value(ctx *c, const char *path, json_object *a, json_object *pa,
                          json_object *b, json_object *pb, const char *key);

/* Every metric key at any depth of committed object a, against fresh b. */
static void walk(ctx *c, const char *path, json_object *a, json_object *b) {
    json_object_object_foreach(a, k, va) {
        char p[600];
        snprintf(p, sizeof p, "%.400s%s%.150s", path, *path ? "." : "", k);
        json_object *vb = NULL;
        int has_b = b && json_object_object_get_ex(b, k, &vb);
        if (is_metric(k)) {
            double x;
            /* a null metric without a _nonfinite sibling is no value: skip */
            if (!as_number(va, a, k, &x) && !json_object_is_type(va, json_type_array)) continue;
            if (!has_b) {
                add_row(c, RB_DIFF_NO_METRIC, p, json_object_is_type(va, json_type_array) ? NAN : x,
                        NAN);
                continue;
            }
            compare_value(c, p, va, a, vb, b, k);
        } else if (json_object_is_type(va, json_type_object)) {
            walk(c, p, va, has_b && json_object_is_type(vb, json_type_object) ? vb : NULL);
        }
    }
}

static void compare_value(ctx *c, const char *path, json_object *a, json_object *pa,
                          json_object *b, json_object *pb, const char *key) {
    if (json_object_is_type(a, json_type_array)) {
        size_t n = json_object_array_length(a);
        size_t nb = json_object_is_type(b, json_type_array) ? json_object_array_length(b) : 0;
        for (size_t i = 0; i < n; i++) {
            char p[640];
            snprintf(p, sizeof p, "%.600s.%zu", path, i);
            compare_value(c, p, json_object_array_get_idx(a, i), NULL,
                          i < nb ? json_object_array_get_idx(b, i) : NULL, NULL, key);
        }
        if (nb > n) add_row(c, RB_DIFF_CHANGED, path, (double)n, (double)nb);
        return;
    }
    double x, y, rel;
    if (!as_number(a, pa, key, &x)) return;
    c->d->n_values++;
    if (!as_number(b, pb, key, &y)) {
        add_row(c, RB_DIFF_NO_METRIC, path, x, NAN);
        return;
    }
    int same = equal(x, y, c->tol, &rel);
    if (isfinite(rel) && rel > c->d->max_rel) c->d->max_rel = rel;
    if (!same) add_row(c, RB_DIFF_CHANGED, path, x, y);
}

/* "axis=label, ..." of rec's labels, else its run key. */
static char *labels_of(json_object *rec) {
    json_object *l, *k;
    rb_buf b = {0};
    if (json_object_object_get_ex(rec, "labels", &l) && json_object_is_type(l, json_type_object)) {
        json_object_object_foreach(l, axis, label) {
            rb_buf_printf(&b, "%s%s=%s", b.len ? ", " : "", axis, json_object_get_string(label));
        }
    }
    if (!b.len && json_object_object_get_ex(rec, "run_key", &k))
        rb_buf_puts(&b, json_object_get_string(k));
    if (!b.len) rb_buf_puts(&b, "(no run key)");
    return rb_buf_take(&b);
}

static const char *key_of(json_object *rec) {
    json_object *k;
    return json_object_object_get_ex(rec, "run_key", &k) ? json_object_get_string(k) : NULL;
}

static json_object *find_key(json_object *recs, const char *key) {
    for (size_t i = 0; key && i < json_object_array_length(recs); i++) {
        const char *k = key_of(json_object_array_get_idx(recs, i));
        if (k && !strcmp(k, key)) return json_object_array_get_idx(recs, i);
    }
    return NULL;
}

/* The record fields that choose the order of the floating-point sums: two
 * records agreeing on all of them were computed by the same arithmetic. */
static const char *const arithmetic_keys[] = {"threads", "blas_threads", "simd", "blas_kernels",
                                              "gemm", NULL};

static int same_arithmetic(json_object *a, json_object *b) {
    for (const char *const *k = arithmetic_keys; *k; k++) {
        json_object *x = NULL, *y = NULL;
        int hx = json_object_object_get_ex(a, *k, &x), hy = json_object_object_get_ex(b, *k, &y);
        if (hx != hy) return 0;
        if (hx && strcmp(json_object_get_string(x), json_object_get_string(y))) return 0;
    }
    return 1;
}

int rb_records_diff(json_object *committed, json_object *fresh, double cross_setup_rel_tol,
                    rb_diff *out, rb_error *err) {
    memset(out, 0, sizeof *out);
    ctx c = {.d = out};
    for (size_t i = 0; i < json_object_array_length(committed) && !c.oom; i++) {
        json_object *a = json_object_array_get_idx(committed, i);
        json_object *b = find_key(fresh, key_of(a));
        char *labels = labels_of(a);
        if (!labels) {
            c.oom = 1;
            break;
        }
        c.labels = labels;
        if (!b) {
            add_row(&c, RB_DIFF_NO_RECORD, NULL, NAN, NAN);
        } else {
            int cross = !same_arithmetic(a, b);
            c.tol = cross ? cross_setup_rel_tol : 0;
            out->n_cross_setup += cross;
            out->n_records++;
            walk(&c, "", a, b);
        }
        free(labels);
    }
    for (size_t i = 0; i < json_object_array_length(fresh) && !c.oom; i++) {
        json_object *b = json_object_array_get_idx(fresh, i);
        if (find_key(committed, key_of(b))) continue;
        char *labels = labels_of(b);
        if (!labels) {
            c.oom = 1;
            break;
        }
        c.labels = labels;
        add_row(&c, RB_DIFF_NEW_RECORD, NULL, NAN, NAN);
        free(labels);
    }
    if (c.oom) {
        rb_diff_free(out);
        return rb_error_set(err, RB_ENOMEM, "out of memory");
    }
    return RB_OK;
}

void rb_diff_free(rb_diff *d) {
    for (size_t i = 0; i < d->n_rows; i++) free(d->rows[i].labels), free(d->rows[i].metric);
    free(d->rows);
    memset(d, 0, sizeof *d);
}

static void put_num(rb_buf *b, double x) {
    if (isnan(x))
        rb_buf_puts(b, " — |");
    else
        rb_buf_printf(b, " %.17g |", x);
}

char *rb_diff_format(const rb_diff *d, size_t max_rows) {
    rb_buf b = {0};
    rb_buf_printf(&b, "%zu records paired, %zu metric values compared (%zu records at another "
                      "thread count or on other kernels), largest relative change %.3g; %zu difference%s\n",
                  d->n_records, d->n_values, d->n_cross_setup, d->max_rel, d->n_rows,
                  d->n_rows == 1 ? "" : "s");
    if (d->n_rows) {
        rb_buf_puts(&b, "\n| run | metric | committed | fresh | relative change |\n"
                        "|---|---|---:|---:|---:|\n");
    }
    for (size_t i = 0; i < d->n_rows && i < max_rows; i++) {
        const rb_diff_row *r = &d->rows[i];
        static const char *const what[] = {"", "missing in the fresh record",
                                           "no fresh record", "not committed"};
        rb_buf_printf(&b, "| %s | %s |", r->labels,
                      r->metric ? r->metric : what[r->kind]);
        put_num(&b, r->committed);
        put_num(&b, r->fresh);
        if (r->kind == RB_DIFF_CHANGED && r->committed != 0 && isfinite(r->committed))
            rb_buf_printf(&b, " %+.3g%% |\n", 100 * (r->fresh - r->committed) / fabs(r->committed));
        else
            rb_buf_printf(&b, " %s |\n", r->kind == RB_DIFF_CHANGED ? "changed" : what[r->kind]);
    }
    if (d->n_rows > max_rows) rb_buf_printf(&b, "... %zu more\n", d->n_rows - max_rows);
    return rb_buf_take(&b);
}
