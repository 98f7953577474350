#include "eval/table.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/process.h"
#include "eval/compare.h"

/* Decimals for a value: 2 at >= 10, else 4 significant digits; -1 means
 * exponent form. */
static int decimals_for(double m) {
    double a = fabs(m);
    if (a >= 1e6 || (a > 0 && a < 1e-4)) return -1;
    if (a >= 10) return 2;
    if (a == 0) return 3;
    int d = 3 - (int)floor(log10(a));
    /* rounding may carry into the next power of ten (9.99951 -> "10.00") */
    char s[64];
    snprintf(s, sizeof s, "%.*f", d, a);
    if (strtod(s, NULL) >= 10) return 2;
    return d;
}

static void format_one(double v, int dec, char *buf, size_t cap) {
    if (isnan(v))
        snprintf(buf, cap, "nan");
    else if (isinf(v))
        snprintf(buf, cap, v > 0 ? "inf" : "-inf");
    else if (dec < 0)
        snprintf(buf, cap, "%.3e", v);
    else
        snprintf(buf, cap, "%.*f", dec, v);
}

void rb_table_format(double mean, double std, size_t n, char *buf, size_t cap) {
    if (n == 0) {
        snprintf(buf, cap, "—");
        return;
    }
    int dec = isfinite(mean) ? decimals_for(mean) : 2;
    char m[64], s[64];
    format_one(mean, dec, m, sizeof m);
    if (n > 1 && isfinite(std)) {
        format_one(std, dec, s, sizeof s);
        snprintf(buf, cap, "%s ± %s", m, s);
    } else {
        snprintf(buf, cap, "%s", m);
    }
}

/* One entry of a metric list: "[label=]path[|path...]". */
typedef struct metric_entry {
    char label[128], path[256];
} metric_entry;

static int parse_metrics(const char *text, metric_entry *e, size_t cap, size_t *n,
                         rb_error *err) {
    *n = 0;
    for (const char *p = text;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        size_t ll = eq ? (size_t)(eq - p) : 0, pl = eq ? len - ll - 1 : len;
        const char *path = eq ? eq + 1 : p;
        if (*n == cap || pl == 0 || pl >= sizeof e->path || ll >= sizeof e->label ||
            (eq && ll == 0))
            return rb_error_set(err, RB_EINVAL,
                                "metric list '%s': want up to %zu comma-separated "
                                "[label=]path entries",
                                text, cap);
        memcpy(e[*n].path, path, pl);
        e[*n].path[pl] = 0;
        memcpy(e[*n].label, eq ? p : path, eq ? ll : pl);
        e[*n].label[eq ? ll : pl] = 0;
        (*n)++;
        if (!comma) return RB_OK;
        p = comma + 1;
    }
}

int rb_agg_collect(json_object *records, const char *const *axes, size_t n, const char *metric,
                   const rb_where *where, size_t n_where, const rb_sweep_config *cfg, rb_agg *agg,
                   rb_error *err) {
    metric_entry me[32];
    size_t n_me = 0;
    int rc = parse_metrics(metric ? metric : "ppl", me, 32, &n_me, err);
    if (rc) return rc;
    size_t metric_dim = n;
    for (size_t d = 0; d < n; d++)
        if (!strcmp(axes[d], RB_AGG_METRIC_AXIS)) metric_dim = d;
    if (n_me > 1 && metric_dim == n)
        return rb_error_set(err, RB_EINVAL,
                            "metric list '%s' names %zu metrics: put the \"" RB_AGG_METRIC_AXIS
                            "\" axis in the rows, columns or series",
                            metric, n_me);
    rc = rb_agg_init(agg, axes, n, err);
    if (rc) return rc;
    if (cfg) {
        for (size_t d = 0; d < n && !rc; d++) {
            int ai = rb_sweep_axis_index(cfg, axes[d]);
            if (ai < 0) continue;
            const rb_sweep_axis *a = &cfg->axes[ai];
            /* only the labels that pass the where filters on this axis */
            for (size_t v = 0; v < a->n_values && !rc; v++) {
                int keep = 1;
                for (size_t w = 0; w < n_where; w++)
                    if (!strcmp(where[w].axis, a->name) &&
                        strcmp(where[w].label, a->values[v].label))
                        keep = 0;
                const char *l = a->values[v].label;
                if (keep) rc = rb_agg_seed_labels(agg, d, &l, 1, err);
            }
        }
    }
    for (size_t i = 0; i < n_me && !rc && metric_dim < n; i++) {
        const char *l = me[i].label;
        rc = rb_agg_seed_labels(agg, metric_dim, &l, 1, err);
    }
    for (size_t i = 0; i < n_me && !rc; i++)
        rc = rb_agg_add_metric(agg, records, me[i].path, me[i].label, where, n_where, err);
    /* without a config, numeric labels go in numeric order (first-seen order depends
       on which parallel run finished first) */
    for (size_t d = 0; d < n && !rc && !cfg; d++)
        if (d != metric_dim) rb_agg_sort_numeric(agg, d);
    if (rc) rb_agg_free(agg);
    return rc;
}

int rb_table_aggregate(json_object *records, const rb_table_spec *spec,
                       const rb_sweep_config *cfg, rb_agg *agg, rb_error *err) {
    const char *axes[3];
    size_t n = 0;
    if (!spec->rows || !spec->cols)
        return rb_error_set(err, RB_EINVAL, "a table needs a rows axis and a cols axis");
    if (spec->split) axes[n++] = spec->split;
    axes[n++] = spec->rows;
    axes[n++] = spec->cols;
    return rb_agg_collect(records, axes, n, spec->metric, spec->where, spec->n_where, cfg, agg,
                          err);
}

/* The cell's bootstrap interval (spec->ci): 0 and [*lo, *hi] when there is
 * one, 1 when not (off, another metric, a record without windows). */
static int cell_interval(const rb_agg *agg, const rb_table_spec *spec, const rb_agg_cell *cell,
                         double *lo, double *hi, rb_error *err) {
    const char *metric = spec->metric ? spec->metric : "ppl";
    if (!(spec->ci > 0) || !spec->records || !cell) return 1;
    if (strcmp(metric, "ppl") && strcmp(metric, "nll")) return 1;
    size_t nr = json_object_array_length(spec->records);
    json_object **sel = malloc((nr ? nr : 1) * sizeof *sel);
    if (!sel) return rb_error_set(err, RB_ENOMEM, "out of memory");
    size_t n = 0;
    for (size_t i = 0; i < nr; i++) {
        json_object *rec = json_object_array_get_idx(spec->records, i);
        if (!rb_record_matches(rec, spec->where, spec->n_where)) continue;
        int keep = 1;
        for (size_t d = 0; d < agg->n_dims && keep; d++) {
            const char *l = rb_record_label(rec, agg->dims[d].axis);
            keep = l && !strcmp(l, agg->dims[d].labels[cell->idx[d]]);
        }
        double v;
        if (keep && rb_record_number(rec, metric, &v) == 0) sel[n++] = rec;
    }
    int rc = n == cell->n ? rb_records_mean_interval(sel, n, !strcmp(metric, "ppl") ? RB_WINDOW_PPL
                                                                                  : RB_WINDOW_NLL,
                                                     spec->ci_boot ? spec->ci_boot : 10000,
                                                     spec->ci_seed, spec->ci, lo, hi, err)
                          : 1;
    free(sel);
    return rc;
}

static void md_cell(rb_buf *b, const char *s) {
    for (; *s; s++) {
        if (*s == '|')
            rb_buf_puts(b, "\\|");
        else if (*s == '\n' || *s == '\r')
            rb_buf_puts(b, " ");
        else
            rb_buf_append(b, s, 1);
    }
}

static void caption(rb_buf *b, const rb_agg *agg, const rb_table_spec *spec, size_t nmin,
                    size_t nmax) {
    rb_buf_printf(b, "\n*%s", spec->metric ? spec->metric : "ppl");
    if (agg->n_over) {
        rb_buf_puts(b, ": mean ± sample std over ");
        for (size_t i = 0; i < agg->n_over; i++) {
            rb_buf_puts(b, i ? ", " : "");
            md_cell(b, agg->over[i]);
        }
        if (nmin == nmax)
            rb_buf_printf(b, " (n = %zu per cell)", nmin);
        else
            rb_buf_printf(b, " (n = %zu to %zu per cell)", nmin, nmax);
    } else if (nmax > 1) {
        rb_buf_printf(b, ": mean ± sample std of repeated records (n = %zu to %zu)", nmin, nmax);
    }
    rb_buf_puts(b, "; rows: ");
    md_cell(b, spec->rows);
    rb_buf_puts(b, ", columns: ");
    md_cell(b, spec->cols);
    for (size_t w = 0; w < spec->n_where; w++) {
        rb_buf_puts(b, w ? ", " : "; only ");
        md_cell(b, spec->where[w].axis);
        rb_buf_puts(b, " = ");
        md_cell(b, spec->where[w].label);
    }
    if (spec->ci > 0)
        rb_buf_printf(b, "; [lo, hi] = %g%% bootstrap interval of the mean over the evaluation "
                         "windows and the records (where every record has per-window NLLs)",
                      100 * spec->ci);
    rb_buf_puts(b, "; — = no result.*\n");
}

/* How a table reads its aggregation: with a split axis, dims are (split,
 * rows, columns), else (rows, columns). */
typedef struct {
    int split;                  /* nonzero when dims[0] is the split axis */
    const rb_agg_dim *rows, *cols;
    size_t n_split;             /* split labels, 1 without a split */
} table_axes;

/* Fills *ax from agg for spec; RB_EINVAL when agg has the wrong dims. */
static int table_axes_of(const rb_agg *agg, const rb_table_spec *spec, table_axes *ax,
                         rb_error *err) {
    size_t off = spec->split ? 1 : 0;
    if (agg->n_dims != off + 2) return rb_error_set(err, RB_EINVAL, "table: wrong aggregation");
    ax->split = spec->split != NULL;
    ax->rows = &agg->dims[off];
    ax->cols = &agg->dims[off + 1];
    ax->n_split = spec->split ? agg->dims[0].n : 1;
    return RB_OK;
}

/* The cell at split s (ignored without a split), row r, column c; NULL when
 * the aggregation has none there. */
static const rb_agg_cell *table_cell(const rb_agg *agg, const table_axes *ax, size_t s, size_t r,
                                     size_t c) {
    size_t idx[3];
    if (ax->split)
        idx[0] = s, idx[1] = r, idx[2] = c;
    else
        idx[0] = r, idx[1] = c;
    return rb_agg_find(agg, idx);
}

int rb_table_markdown(const rb_agg *agg, const rb_table_spec *spec, char **out, rb_error *err) {
    *out = NULL;
    table_axes ax = {0};
    int rc = table_axes_of(agg, spec, &ax, err);
    if (rc) return rc;
    const rb_agg_dim *R = ax.rows, *C = ax.cols;
    size_t n_split = ax.n_split;
    size_t nmin = (size_t)-1, nmax = 0;
    for (size_t i = 0; i < agg->n_cells; i++) {
        if (agg->cells[i].n < nmin) nmin = agg->cells[i].n;
        if (agg->cells[i].n > nmax) nmax = agg->cells[i].n;
    }
    if (!agg->n_cells) nmin = 0;
    rb_buf b = {0};
    if (spec->title) {
        rb_buf_puts(&b, "## ");
        md_cell(&b, spec->title);
        rb_buf_puts(&b, "\n\n");
    }
    for (size_t s = 0; s < n_split; s++) {
        if (spec->split) {
            if (s) rb_buf_puts(&b, "\n");
            rb_buf_puts(&b, "### ");
            md_cell(&b, spec->split);
            rb_buf_puts(&b, " = ");
            md_cell(&b, agg->dims[0].labels[s]);
            rb_buf_puts(&b, "\n\n");
        }
        rb_buf_puts(&b, "| ");
        md_cell(&b, spec->rows);
        rb_buf_puts(&b, " |");
        for (size_t c = 0; c < C->n; c++) {
            rb_buf_puts(&b, " ");
            md_cell(&b, C->labels[c]);
            rb_buf_puts(&b, " |");
        }
        rb_buf_puts(&b, "\n|---|");
        for (size_t c = 0; c < C->n; c++) rb_buf_puts(&b, "---:|");
        rb_buf_puts(&b, "\n");
        for (size_t r = 0; r < R->n; r++) {
            rb_buf_puts(&b, "| ");
            md_cell(&b, R->labels[r]);
            rb_buf_puts(&b, " |");
            for (size_t c = 0; c < C->n; c++) {
                const rb_agg_cell *cell = table_cell(agg, &ax, s, r, c);
                char text[160];
                rb_table_format(cell ? cell->mean : NAN, cell ? cell->std : NAN,
                                cell ? cell->n : 0, text, sizeof text);
                rb_buf_printf(&b, " %s", text);
                double lo, hi;
                int ci = cell_interval(agg, spec, cell, &lo, &hi, err);
                if (ci < 0) {
                    rb_buf_free(&b);
                    return ci;
                }
                if (ci == 0) {
                    char l[64], h[64];
                    int dec = isfinite(cell->mean) ? decimals_for(cell->mean) : 2;
                    format_one(lo, dec, l, sizeof l);
                    format_one(hi, dec, h, sizeof h);
                    rb_buf_printf(&b, " [%s, %s]", l, h);
                }
                rb_buf_puts(&b, " |");
            }
            rb_buf_puts(&b, "\n");
        }
    }
    caption(&b, agg, spec, nmin, nmax);
    if (!(*out = rb_buf_take(&b))) return rb_error_set(err, RB_ENOMEM, "out of memory");
    return RB_OK;
}

static void csv_field(rb_buf *b, const char *s) {
    if (!strpbrk(s, ",\"\r\n")) {
        rb_buf_puts(b, s);
        return;
    }
    rb_buf_puts(b, "\"");
    for (; *s; s++) {
        if (*s == '"') rb_buf_puts(b, "\"");
        rb_buf_append(b, s, 1);
    }
    rb_buf_puts(b, "\"");
}

int rb_table_csv(const rb_agg *agg, const rb_table_spec *spec, char **out, rb_error *err) {
    *out = NULL;
    table_axes ax = {0};
    int rc = table_axes_of(agg, spec, &ax, err);
    if (rc) return rc;
    const rb_agg_dim *R = ax.rows, *C = ax.cols;
    size_t n_split = ax.n_split;
    rb_buf b = {0};
    rb_buf_puts(&b, spec->ci > 0 ? "split,row,col,mean,std,n,ci_lo,ci_hi\n"
                                 : "split,row,col,mean,std,n\n");
    for (size_t s = 0; s < n_split; s++)
        for (size_t r = 0; r < R->n; r++)
            for (size_t c = 0; c < C->n; c++) {
                const rb_agg_cell *cell = table_cell(agg, &ax, s, r, c);
                if (!cell) continue;
                if (spec->split) csv_field(&b, agg->dims[0].labels[s]);
                rb_buf_puts(&b, ",");
                csv_field(&b, R->labels[r]);
                rb_buf_puts(&b, ",");
                csv_field(&b, C->labels[c]);
                rb_buf_printf(&b, ",%.10g,", cell->mean);
                if (cell->n > 1 && isfinite(cell->std)) rb_buf_printf(&b, "%.10g", cell->std);
                rb_buf_printf(&b, ",%zu", cell->n);
                if (spec->ci > 0) {
                    double lo, hi;
                    int ci = cell_interval(agg, spec, cell, &lo, &hi, err);
                    if (ci < 0) {
                        rb_buf_free(&b);
                        return ci;
                    }
                    if (ci == 0)
                        rb_buf_printf(&b, ",%.10g,%.10g", lo, hi);
                    else
                        rb_buf_puts(&b, ",,");
                }
                rb_buf_puts(&b, "\n");
            }
    if (!(*out = rb_buf_take(&b))) return rb_error_set(err, RB_ENOMEM, "out of memory");
    return RB_OK;
}

int rb_write_text_file(const char *path, const char *text, rb_error *err) {
    int rc = rb_mkdir_parents(path, err);
    if (rc) return rc;
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) return rb_error_set(err, RB_EIO, "%s: cannot create: %s", tmp, strerror(errno));
    size_t n = strlen(text);
    int bad = fwrite(text, 1, n, f) != n;
    bad |= fclose(f) != 0;
    if (bad) {
        unlink(tmp);
        return rb_error_set(err, RB_EIO, "%s: write error", tmp);
    }
    if (rename(tmp, path)) {
        int e = errno;
        unlink(tmp);
        return rb_error_set(err, RB_EIO, "%s: cannot rename into place: %s", path, strerror(e));
    }
    return RB_OK;
}
