/* Aggregation of records: groups by labels, mean / sample std / n
 * (eval/aggregate.h). */
#include "eval/aggregate.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
        int keep = rb_record_matches(rec, where, n_where);
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
