#include "eval/records.h"

#include "base/io.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- growable string ------------------------------------------------------ */

static int buf_reserve(rb_buf *b, size_t extra) {
    if (b->oom) return -1;
    size_t need = b->len + extra + 1;
    if (need <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need) cap *= 2;
    char *s = realloc(b->s, cap);
    if (!s) {
        b->oom = 1;
        return -1;
    }
    b->s = s;
    b->cap = cap;
    return 0;
}

void rb_buf_append(rb_buf *b, const char *s, size_t n) {
    if (buf_reserve(b, n)) return;
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = 0;
}

void rb_buf_puts(rb_buf *b, const char *s) { rb_buf_append(b, s, strlen(s)); }

void rb_buf_printf(rb_buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || buf_reserve(b, (size_t)n)) return;
    va_start(ap, fmt);
    vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

char *rb_buf_take(rb_buf *b) {
    if (b->oom) {
        rb_buf_free(b);
        return NULL;
    }
    char *s = b->s ? b->s : strdup("");
    memset(b, 0, sizeof *b);
    return s;
}

void rb_buf_free(rb_buf *b) {
    free(b->s);
    memset(b, 0, sizeof *b);
}

/* ---- reading -------------------------------------------------------------- */

static int add_issue(rb_records *r, const char *path, size_t line, const char *what,
                     rb_error *err) {
    rb_records_issue *p = realloc(r->issues, (r->n_issues + 1) * sizeof *p);
    if (!p) return rb_error_set(err, RB_ENOMEM, "%s: out of memory", path);
    r->issues = p;
    p[r->n_issues].line = line;
    snprintf(p[r->n_issues].msg, sizeof p[r->n_issues].msg, "%s:%zu: %s; ignored", path, line,
             what);
    r->n_issues++;
    return RB_OK;
}

/* Parses one line as exactly one JSON value; NULL and a message otherwise. */
static json_object *parse_line(const char *s, size_t n, char *why, size_t cap) {
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r')) n--;
    json_tokener *tok = json_tokener_new();
    if (!tok) {
        snprintf(why, cap, "out of memory");
        return NULL;
    }
    json_object *o = json_tokener_parse_ex(tok, s, (int)n);
    enum json_tokener_error e = json_tokener_get_error(tok);
    size_t end = json_tokener_get_parse_end(tok);
    if (e == json_tokener_continue) {
        snprintf(why, cap, "incomplete JSON");
        json_object_put(o);
        o = NULL;
    } else if (e != json_tokener_success) {
        snprintf(why, cap, "not JSON (%s at byte %zu)", json_tokener_error_desc(e), end + 1);
        json_object_put(o);
        o = NULL;
    } else {
        while (end < n && (s[end] == ' ' || s[end] == '\t')) end++;
        if (end < n) {
            snprintf(why, cap, "text after the JSON value at byte %zu", end + 1);
            json_object_put(o);
            o = NULL;
        } else if (!json_object_is_type(o, json_type_object)) {
            snprintf(why, cap, "not a JSON object");
            json_object_put(o);
            o = NULL;
        }
    }
    json_tokener_free(tok);
    return o;
}

int rb_records_parse(const char *text, size_t len, const char *path, rb_records *out,
                     rb_error *err) {
    memset(out, 0, sizeof *out);
    out->items = json_object_new_array();
    if (!out->items) return rb_error_set(err, RB_ENOMEM, "%s: out of memory", path);
    out->keep_bytes = len;
    size_t pos = 0, line = 0;
    while (pos < len) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - text) : len;
        line++;
        const char *s = text + pos;
        size_t n = end - pos;
        size_t blank = 0;
        while (blank < n && (s[blank] == ' ' || s[blank] == '\t' || s[blank] == '\r')) blank++;
        if (blank == n) {
            /* an empty line; a final run of blanks without '\n' counts as partial */
            if (!nl && n) {
                out->tail = RB_TAIL_PARTIAL;
                out->keep_bytes = pos;
            }
        } else {
            char why[160];
            json_object *o = parse_line(s, n, why, sizeof why);
            int rc = RB_OK;
            if (o) {
                if (json_object_array_add(out->items, o)) {
                    json_object_put(o);
                    rc = rb_error_set(err, RB_ENOMEM, "%s: out of memory", path);
                }
                if (!nl) out->tail = RB_TAIL_NO_NEWLINE;
            } else if (!nl) {
                char what[200];
                snprintf(what, sizeof what, "partial last line (no newline, %s)", why);
                rc = add_issue(out, path, line, what, err);
                out->tail = RB_TAIL_PARTIAL;
                out->keep_bytes = pos;
            } else {
                rc = add_issue(out, path, line, why, err);
            }
            if (rc) {
                rb_records_free(out);
                return rc;
            }
        }
        pos = nl ? end + 1 : len;
    }
    out->n_lines = line;
    return RB_OK;
}

int rb_records_read(const char *path, int missing_ok, rb_records *out, rb_error *err) {
    struct stat st;
    if (missing_ok && stat(path, &st) != 0 && errno == ENOENT) {
        memset(out, 0, sizeof *out);
        out->items = json_object_new_array();
        return out->items ? RB_OK : rb_error_set(err, RB_ENOMEM, "%s: out of memory", path);
    }
    char *text;
    size_t len;
    int rc = rb_read_file(path, 0, &text, &len, err);
    if (rc) return rc;
    rc = rb_records_parse(text, len, path, out, err);
    free(text);
    return rc;
}

void rb_records_free(rb_records *r) {
    json_object_put(r->items);
    free(r->issues);
    memset(r, 0, sizeof *r);
}

/* ---- fields --------------------------------------------------------------- */

const char *rb_record_label(json_object *rec, const char *axis) {
    json_object *labels, *l;
    if (!json_object_object_get_ex(rec, "labels", &labels) ||
        !json_object_object_get_ex(labels, axis, &l) || !json_object_is_type(l, json_type_string))
        return NULL;
    return json_object_get_string(l);
}

static int is_nonfinite(json_object *v) {
    return json_object_is_type(v, json_type_double) && !isfinite(json_object_get_double(v));
}

static const char *nonfinite_word(double x) { return isnan(x) ? "nan" : x > 0 ? "inf" : "-inf"; }

int rb_json_null_nonfinite(json_object *o) {
    int n = 0;
    if (json_object_is_type(o, json_type_array)) {
        for (size_t i = 0; i < json_object_array_length(o); i++) {
            json_object *v = json_object_array_get_idx(o, i);
            if (is_nonfinite(v)) {
                json_object_array_put_idx(o, i, NULL);
                n++;
            } else {
                int k = rb_json_null_nonfinite(v);
                if (k < 0) return -1;
                n += k;
            }
        }
        return n;
    }
    if (!json_object_is_type(o, json_type_object)) return 0;
    /* the keys first: the object is changed only after walking it */
    rb_buf keys = {0};
    size_t n_keys = 0;
    json_object_object_foreach(o, k, v) {
        if (is_nonfinite(v)) {
            rb_buf_append(&keys, k, strlen(k) + 1);
            n_keys++;
        } else {
            int c = rb_json_null_nonfinite(v);
            if (c < 0) return rb_buf_free(&keys), -1;
            n += c;
        }
    }
    if (keys.oom) return rb_buf_free(&keys), -1;
    const char *key = keys.s;
    for (size_t i = 0; i < n_keys; i++, key += strlen(key) + 1) {
        char sib[300];
        snprintf(sib, sizeof sib, "%s_nonfinite", key);
        const char *why = nonfinite_word(json_object_get_double(json_object_object_get(o, key)));
        json_object *w = json_object_new_string(why);
        if (!w || json_object_object_add(o, key, NULL) || json_object_object_add(o, sib, w)) {
            json_object_put(w);
            rb_buf_free(&keys);
            return -1;
        }
        n++;
    }
    rb_buf_free(&keys);
    return n;
}

int rb_record_number(json_object *rec, const char *path, double *out) {
    json_object *o = rec;
    const char *p = path;
    for (;;) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        char key[256];
        if (n == 0 || n >= sizeof key || !json_object_is_type(o, json_type_object)) return -1;
        memcpy(key, p, n);
        key[n] = 0;
        json_object *parent = o;
        if (!json_object_object_get_ex(parent, key, &o)) return -1;
        if (!dot) {
            /* null + "<key>_nonfinite": a non-finite number (rb_json_null_nonfinite) */
            char sib[300];
            json_object *w;
            snprintf(sib, sizeof sib, "%s_nonfinite", key);
            if (!o && json_object_object_get_ex(parent, sib, &w) &&
                json_object_is_type(w, json_type_string)) {
                const char *t = json_object_get_string(w);
                if (!strcmp(t, "inf") || !strcmp(t, "-inf") || !strcmp(t, "nan")) {
                    *out = !strcmp(t, "nan") ? NAN : t[0] == '-' ? -INFINITY : INFINITY;
                    return 0;
                }
            }
            break;
        }
        p = dot + 1;
    }
    if (!json_object_is_type(o, json_type_double) && !json_object_is_type(o, json_type_int))
        return -1;
    *out = json_object_get_double(o);
    return 0;
}

int rb_where_parse(char *text, rb_where *out, rb_error *err) {
    char *eq = strchr(text, '=');
    if (!eq || eq == text)
        return rb_error_set(err, RB_EINVAL, "--where expects AXIS=LABEL, got '%s'", text);
    *eq = 0;
    out->axis = text;
    out->label = eq + 1;
    return RB_OK;
}

/* ---- aggregation ---------------------------------------------------------- */

static int dim_add(rb_agg_dim *d, const char *label, size_t *idx) {
    for (size_t i = 0; i < d->n; i++)
        if (!strcmp(d->labels[i], label)) {
            *idx = i;
            return 0;
        }
    if (d->n == d->cap) {
        size_t cap = d->cap ? 2 * d->cap : 16;
        char **p = realloc(d->labels, cap * sizeof *p);
        if (!p) return -1;
        d->labels = p;
        d->cap = cap;
    }
    char *s = strdup(label);
    if (!s) return -1;
    d->labels[d->n] = s;
    *idx = d->n++;
    return 0;
}

int rb_agg_init(rb_agg *agg, const char *const *axes, size_t n_axes, rb_error *err) {
    memset(agg, 0, sizeof *agg);
    if (n_axes < 1 || n_axes > RB_AGG_MAX_DIMS)
        return rb_error_set(err, RB_EINVAL, "aggregation over %zu axes (1..%d)", n_axes,
                            RB_AGG_MAX_DIMS);
    for (size_t i = 0; i < n_axes; i++) {
        if (!axes[i] || !*axes[i]) return rb_error_set(err, RB_EINVAL, "empty axis name");
        for (size_t j = 0; j < i; j++)
            if (!strcmp(axes[i], axes[j]))
                return rb_error_set(err, RB_EINVAL, "axis \"%s\" is used twice", axes[i]);
    }
    agg->n_dims = n_axes;
    for (size_t i = 0; i < n_axes; i++) {
        agg->dims[i].axis = strdup(axes[i]);
        if (!agg->dims[i].axis) {
            rb_agg_free(agg);
            return rb_error_set(err, RB_ENOMEM, "out of memory");
        }
    }
    return RB_OK;
}

int rb_agg_seed_labels(rb_agg *agg, size_t d, const char *const *labels, size_t n,
                       rb_error *err) {
    if (d >= agg->n_dims) return rb_error_set(err, RB_EINVAL, "no dimension %zu", d);
    for (size_t i = 0; i < n; i++) {
        size_t idx;
        if (dim_add(&agg->dims[d], labels[i], &idx))
            return rb_error_set(err, RB_ENOMEM, "out of memory");
    }
    return RB_OK;
}

static int same_idx(const size_t *a, const size_t *b, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (a[i] != b[i]) return 0;
    return 1;
}

const rb_agg_cell *rb_agg_find(const rb_agg *agg, const size_t *idx) {
    for (size_t i = 0; i < agg->n_cells; i++)
        if (same_idx(agg->cells[i].idx, idx, agg->n_dims)) return &agg->cells[i];
    return NULL;
}

size_t rb_agg_label_index(const rb_agg *agg, size_t d, const char *label) {
    if (d >= agg->n_dims) return (size_t)-1;
    for (size_t i = 0; i < agg->dims[d].n; i++)
        if (!strcmp(agg->dims[d].labels[i], label)) return i;
    return (size_t)-1;
}

static int is_grouped(const rb_agg *agg, const char *axis) {
    for (size_t i = 0; i < agg->n_dims; i++)
        if (!strcmp(agg->dims[i].axis, axis)) return 1;
    return 0;
}

static int note_over(rb_agg *agg, const char *axis) {
    for (size_t i = 0; i < agg->n_over; i++)
        if (!strcmp(agg->over[i], axis)) return 0;
    if (agg->n_over == RB_AGG_MAX_OVER) return 0;
    if (!(agg->over[agg->n_over] = strdup(axis))) return -1;
    agg->n_over++;
    return 0;
}

/* Notes the ungrouped axes whose labels differ between a and b. */
static int compare_labels(rb_agg *agg, json_object *a, json_object *b) {
    json_object_object_foreach(a, k, va) {
        if (is_grouped(agg, k)) continue;
        json_object *vb;
        if (!json_object_object_get_ex(b, k, &vb) ||
            strcmp(json_object_get_string(va), json_object_get_string(vb)))
            if (note_over(agg, k)) return -1;
    }
    json_object_object_foreach(b, k2, vb2) {
        (void)vb2;
        if (!is_grouped(agg, k2) && !json_object_object_get_ex(a, k2, NULL))
            if (note_over(agg, k2)) return -1;
    }
    return 0;
}

static void cell_add(rb_agg_cell *c, double v) {
    c->n++;
    if (!isfinite(v)) {
        c->nonfinite = c->n_nonfinite++ == 0 ? v : (c->nonfinite == v ? v : NAN);
    } else {
        size_t nf = c->n - c->n_nonfinite; /* finite values so far */
        double d = v - c->mean;
        c->mean += d / (double)nf;
        c->m2 += d * (v - c->mean);
    }
}

/* The first of the '|'-separated alternatives of path that rec has. */
static int metric_value(json_object *rec, const char *path, double *v) {
    char one[256];
    for (const char *p = path;;) {
        const char *bar = strchr(p, '|');
        size_t n = bar ? (size_t)(bar - p) : strlen(p);
        if (n < sizeof one) {
            memcpy(one, p, n);
            one[n] = 0;
            if (rb_record_number(rec, one, v) == 0) return 0;
        }
        if (!bar) return -1;
        p = bar + 1;
    }
}

int rb_agg_add(rb_agg *agg, json_object *records, const char *metric, const rb_where *where,
               size_t n_where, rb_error *err) {
    return rb_agg_add_metric(agg, records, metric, NULL, where, n_where, err);
}

int rb_agg_add_metric(rb_agg *agg, json_object *records, const char *metric,
                      const char *metric_label, const rb_where *where, size_t n_where,
                      rb_error *err) {
    if (!json_object_is_type(records, json_type_array))
        return rb_error_set(err, RB_EINVAL, "records: not an array");
    size_t nr = json_object_array_length(records);
    for (size_t r = 0; r < nr; r++) {
        json_object *rec = json_object_array_get_idx(records, r);
        int keep = 1;
        for (size_t w = 0; w < n_where && keep; w++) {
            const char *l = rb_record_label(rec, where[w].axis);
            keep = l && !strcmp(l, where[w].label);
        }
        if (!keep) {
            agg->n_filtered++;
            continue;
        }
        const char *labels[RB_AGG_MAX_DIMS];
        for (size_t d = 0; d < agg->n_dims && keep; d++)
            keep = (labels[d] = strcmp(agg->dims[d].axis, RB_AGG_METRIC_AXIS)
                                    ? rb_record_label(rec, agg->dims[d].axis)
                                    : metric_label ? metric_label : metric) != NULL;
        if (!keep) {
            agg->n_no_label++;
            continue;
        }
        double v;
        if (metric_value(rec, metric, &v)) {
            agg->n_no_metric++;
            continue;
        }
        size_t idx[RB_AGG_MAX_DIMS] = {0};
        for (size_t d = 0; d < agg->n_dims; d++)
            if (dim_add(&agg->dims[d], labels[d], &idx[d]))
                return rb_error_set(err, RB_ENOMEM, "out of memory");
        rb_agg_cell *c = (rb_agg_cell *)rb_agg_find(agg, idx);
        json_object *lab = NULL;
        json_object_object_get_ex(rec, "labels", &lab);
        if (!c) {
            if (agg->n_cells == agg->cap_cells) {
                size_t cap = agg->cap_cells ? 2 * agg->cap_cells : 64;
                rb_agg_cell *p = realloc(agg->cells, cap * sizeof *p);
                if (!p) return rb_error_set(err, RB_ENOMEM, "out of memory");
                agg->cells = p;
                json_object **q = realloc(agg->first_labels, cap * sizeof *q);
                if (!q) return rb_error_set(err, RB_ENOMEM, "out of memory");
                agg->first_labels = q;
                agg->cap_cells = cap;
            }
            c = &agg->cells[agg->n_cells];
            memset(c, 0, sizeof *c);
            memcpy(c->idx, idx, sizeof idx);
            agg->first_labels[agg->n_cells] = json_object_get(lab);
            agg->n_cells++;
        } else if (compare_labels(agg, agg->first_labels[c - agg->cells], lab)) {
            return rb_error_set(err, RB_ENOMEM, "out of memory");
        }
        cell_add(c, v);
        size_t nf = c->n - c->n_nonfinite;
        if (c->n_nonfinite) {
            c->mean = c->nonfinite;
            c->std = NAN;
        } else {
            c->std = nf > 1 ? sqrt(c->m2 / (double)(nf - 1)) : NAN;
        }
        agg->n_used++;
    }
    return RB_OK;
}

static int label_number(const char *s, double *x) {
    char *end;
    errno = 0;
    *x = strtod(s, &end);
    return *s && end != s && !*end && !errno && isfinite(*x);
}

typedef struct num_label {
    double v;
    size_t old;
} num_label;

static int cmp_num_label(const void *a, const void *b) {
    const num_label *p = a, *q = b;
    if (p->v != q->v) return p->v < q->v ? -1 : 1;
    return p->old < q->old ? -1 : p->old > q->old;
}

int rb_agg_sort_numeric(rb_agg *agg, size_t d) {
    if (d >= agg->n_dims) return 0;
    rb_agg_dim *dim = &agg->dims[d];
    if (dim->n < 2) return dim->n == 1;
    num_label *nl = malloc(dim->n * sizeof *nl);
    size_t *new_of_old = malloc(dim->n * sizeof *new_of_old);
    char **labels = malloc(dim->n * sizeof *labels);
    int ok = nl && new_of_old && labels;
    for (size_t i = 0; i < dim->n && ok; i++) {
        ok = label_number(dim->labels[i], &nl[i].v);
        nl[i].old = i;
    }
    if (ok) {
        qsort(nl, dim->n, sizeof *nl, cmp_num_label);
        for (size_t i = 0; i < dim->n; i++) {
            new_of_old[nl[i].old] = i;
            labels[i] = dim->labels[nl[i].old];
        }
        memcpy(dim->labels, labels, dim->n * sizeof *labels);
        for (size_t c = 0; c < agg->n_cells; c++) agg->cells[c].idx[d] = new_of_old[agg->cells[c].idx[d]];
    }
    free(nl);
    free(new_of_old);
    free(labels);
    return ok;
}

void rb_agg_free(rb_agg *agg) {
    for (size_t d = 0; d < agg->n_dims; d++) {
        for (size_t i = 0; i < agg->dims[d].n; i++) free(agg->dims[d].labels[i]);
        free(agg->dims[d].labels);
        free(agg->dims[d].axis);
    }
    for (size_t i = 0; i < agg->n_cells; i++) json_object_put(agg->first_labels[i]);
    free(agg->first_labels);
    free(agg->cells);
    for (size_t i = 0; i < agg->n_over; i++) free(agg->over[i]);
    memset(agg, 0, sizeof *agg);
}
