#include "eval/plot.h"

#include "base/process.h"
#include "eval/table.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

int rb_plot_aggregate(json_object *records, const rb_plot_spec *spec, const rb_sweep_config *cfg,
                      rb_agg *agg, rb_error *err) {
    const char *axes[2];
    size_t n = 0;
    if (!spec->x) return rb_error_set(err, RB_EINVAL, "a plot needs an x axis");
    if (spec->series) axes[n++] = spec->series;
    axes[n++] = spec->x;
    return rb_agg_collect(records, axes, n, spec->metric, spec->where, spec->n_where, cfg, agg,
                          err);
}

/* gnuplot interprets nothing inside a single-quoted string (no backticks, no
 * @ macros, no escapes) except '' for a quote; such a string cannot span
 * lines, so control characters become spaces. */
void rb_gnuplot_quote(rb_buf *b, const char *s, int keep_newlines) {
    rb_buf_puts(b, "'");
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '\'')
            rb_buf_puts(b, "''");
        else if (c == '\n' && keep_newlines)
            rb_buf_puts(b, "'.\"\\n\".'"); /* 'a'."\n".'b': a string expression */
        else if (c < 0x20 || c == 0x7f)
            rb_buf_puts(b, " ");
        else
            rb_buf_append(b, s, 1);
    }
    rb_buf_puts(b, "'");
}

void rb_gnuplot_comment(rb_buf *b, const char *s) {
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        /* a backslash at the end of a line would continue the comment onto the next */
        rb_buf_append(b, c < 0x20 || c == 0x7f ? " " : c == '\\' ? "/" : s, 1);
    }
}

/* A gnuplot string on one line. */
static void gp_string(rb_buf *b, const char *s) { rb_gnuplot_quote(b, s, 0); }

/* For a script comment: one line. */
static void gp_comment(rb_buf *b, const char *s) { rb_gnuplot_comment(b, s); }

/* "set output 'BASE.EXT'" and a newline. */
static void gp_output(rb_buf *b, const char *base, const char *ext) {
    rb_buf_puts(b, "set output ");
    rb_buf tmp = {0};
    rb_buf_printf(&tmp, "%s%s", base, ext);
    gp_string(b, tmp.s ? tmp.s : "");
    rb_buf_free(&tmp);
    rb_buf_puts(b, "\n");
}

static int parse_number(const char *s, double *x) {
    char *end;
    errno = 0;
    *x = strtod(s, &end);
    return *s && end != s && !*end && !errno && isfinite(*x);
}

typedef struct point {
    double x, mean, std;
    size_t n, order;
} point;

static int cmp_point(const void *a, const void *b) {
    const point *p = a, *q = b;
    if (p->x != q->x) return p->x < q->x ? -1 : 1;
    return p->order < q->order ? -1 : p->order > q->order;
}

static void gp_number(rb_buf *b, double v) {
    if (isfinite(v))
        rb_buf_printf(b, "%.10g", v);
    else
        rb_buf_puts(b, "NaN");
}

int rb_plot_script(const rb_agg *agg, const rb_plot_spec *spec, const char *out_base, char **out,
                   rb_error *err) {
    *out = NULL;
    size_t off = spec->series ? 1 : 0;
    if (agg->n_dims != off + 1) return rb_error_set(err, RB_EINVAL, "plot: wrong aggregation");
    const char *metric = spec->metric ? spec->metric : "ppl";
    if (!agg->n_cells)
        return rb_error_set(err, RB_EINVAL,
                            "nothing to plot: no record has labels for %s%s%s and a numeric "
                            "\"%s\"",
                            spec->x, spec->series ? " and " : "", spec->series ? spec->series : "",
                            metric);
    const rb_agg_dim *X = &agg->dims[off];
    size_t n_series = spec->series ? agg->dims[0].n : 1;
    /* numeric x when every x label that has data is a number */
    int numeric = 1;
    for (size_t i = 0; i < agg->n_cells && numeric; i++) {
        double v;
        numeric = parse_number(X->labels[agg->cells[i].idx[off]], &v);
    }
    int errorbars = 0;
    for (size_t i = 0; i < agg->n_cells; i++) errorbars |= agg->cells[i].n > 1;
    if (spec->logx && !numeric)
        return rb_error_set(err, RB_EINVAL, "--logx needs numeric x labels (axis %s)", spec->x);
    point *pts = malloc(agg->n_cells * sizeof *pts);
    if (!pts) return rb_error_set(err, RB_ENOMEM, "out of memory");

    rb_buf b = {0};
    char title[512];
    if (spec->title)
        snprintf(title, sizeof title, "%s", spec->title);
    else
        snprintf(title, sizeof title, "%s vs %s", metric, spec->x);
    rb_buf_puts(&b, "# rotbench plot: ");
    gp_comment(&b, title);
    rb_buf_puts(&b, "\n# metric ");
    gp_comment(&b, metric);
    rb_buf_puts(&b, ", x axis ");
    gp_comment(&b, spec->x);
    if (spec->series) {
        rb_buf_puts(&b, ", one line per ");
        gp_comment(&b, spec->series);
    }
    if (spec->source) {
        rb_buf_puts(&b, "; from ");
        gp_comment(&b, spec->source);
    }
    for (size_t w = 0; w < spec->n_where; w++) {
        rb_buf_puts(&b, w ? ", " : "; only ");
        gp_comment(&b, spec->where[w].axis);
        rb_buf_puts(&b, "=");
        gp_comment(&b, spec->where[w].label);
    }
    if (agg->n_over) {
        rb_buf_puts(&b, "\n# mean ± sample std over ");
        for (size_t i = 0; i < agg->n_over; i++) {
            rb_buf_puts(&b, i ? ", " : "");
            gp_comment(&b, agg->over[i]);
        }
    }
    rb_buf_puts(&b, "\n# Re-render: gnuplot ");
    gp_comment(&b, out_base);
    rb_buf_printf(&b, ".gp  (writes its .png and .svg in the current directory)\n"
                      "# Data block columns: x, mean, std (0 when n = 1), n%s\n\n",
                  numeric ? "" : "; x is the category's position (see xtics)");
    size_t n_blocks = 0;
    size_t *block_series = malloc((n_series ? n_series : 1) * sizeof *block_series);
    if (!block_series) {
        free(pts);
        rb_buf_free(&b);
        return rb_error_set(err, RB_ENOMEM, "out of memory");
    }
    for (size_t s = 0; s < n_series; s++) {
        size_t np = 0;
        for (size_t i = 0; i < agg->n_cells; i++) {
            const rb_agg_cell *c = &agg->cells[i];
            if (spec->series && c->idx[0] != s) continue;
            size_t xi = c->idx[off];
            point p = {.mean = c->mean, .std = c->n > 1 && isfinite(c->std) ? c->std : 0,
                       .n = c->n, .order = xi};
            if (numeric)
                parse_number(X->labels[xi], &p.x);
            else
                p.x = (double)xi;
            pts[np++] = p;
        }
        if (!np) continue;
        qsort(pts, np, sizeof *pts, cmp_point);
        rb_buf_printf(&b, "$d%zu << EOD\n", n_blocks + 1);
        if (spec->series) {
            rb_buf_puts(&b, "# ");
            gp_comment(&b, agg->dims[0].labels[s]);
            rb_buf_puts(&b, "\n");
        }
        for (size_t i = 0; i < np; i++) {
            gp_number(&b, pts[i].x);
            rb_buf_puts(&b, " ");
            gp_number(&b, pts[i].mean);
            rb_buf_puts(&b, " ");
            gp_number(&b, pts[i].std);
            rb_buf_printf(&b, " %zu\n", pts[i].n);
        }
        rb_buf_puts(&b, "EOD\n\n");
        block_series[n_blocks++] = s;
    }
    free(pts);
    rb_buf_puts(&b, "set encoding utf8\nset title ");
    gp_string(&b, title);
    rb_buf_puts(&b, "\nset xlabel ");
    gp_string(&b, spec->x);
    rb_buf_puts(&b, "\nset ylabel ");
    gp_string(&b, metric);
    rb_buf_puts(&b, "\nset grid\nset key outside right top\n");
    if (spec->logy) rb_buf_puts(&b, "set logscale y\n");
    if (spec->logx) rb_buf_puts(&b, "set logscale x\n");
    if (numeric) {
        /* an x range a little wider than the data (no gnuplot offsets: they misbehave on
           log axes) */
        double lo = INFINITY, hi = -INFINITY;
        for (size_t c = 0; c < agg->n_cells; c++) {
            double v;
            parse_number(X->labels[agg->cells[c].idx[off]], &v);
            if (v < lo) lo = v;
            if (v > hi) hi = v;
        }
        if (spec->logx) {
            if (lo <= 0) {
                rb_buf_free(&b);
                free(block_series);
                return rb_error_set(err, RB_EINVAL, "--logx: x label %g of axis %s is not > 0",
                                    lo, spec->x);
            }
            double f = hi > lo ? pow(hi / lo, 0.05) : 1.2;
            rb_buf_printf(&b, "set xrange [%.10g:%.10g]\n", lo / f, hi * f);
        } else {
            double m = hi > lo ? 0.05 * (hi - lo) : (lo != 0 ? 0.1 * fabs(lo) : 1);
            rb_buf_printf(&b, "set xrange [%.10g:%.10g]\n", lo - m, hi + m);
        }
        /* tics at the data's x values when there are few of them */
        size_t nx = 0;
        for (size_t i = 0; i < X->n; i++) {
            int used = 0;
            for (size_t c = 0; c < agg->n_cells && !used; c++) used = agg->cells[c].idx[off] == i;
            nx += used;
        }
        if (nx <= 12) {
            rb_buf_puts(&b, "set xtics (");
            size_t k = 0;
            for (size_t i = 0; i < X->n; i++) {
                int used = 0;
                for (size_t c = 0; c < agg->n_cells && !used; c++)
                    used = agg->cells[c].idx[off] == i;
                if (!used) continue;
                double v;
                parse_number(X->labels[i], &v);
                rb_buf_puts(&b, k++ ? ", " : "");
                gp_string(&b, X->labels[i]);
                rb_buf_puts(&b, " ");
                gp_number(&b, v);
            }
            rb_buf_puts(&b, ")\n");
        }
    } else {
        rb_buf_printf(&b, "set xrange [-0.5:%zu.5]\nset xtics (", X->n ? X->n - 1 : 0);
        for (size_t i = 0; i < X->n; i++) {
            rb_buf_puts(&b, i ? ", " : "");
            gp_string(&b, X->labels[i]);
            rb_buf_printf(&b, " %zu", i);
        }
        rb_buf_puts(&b, ")\n");
        if (X->n > 6) rb_buf_puts(&b, "set xtics rotate by -30\n");
    }
    if (!spec->series) rb_buf_puts(&b, "set key off\n");
    rb_buf_puts(&b, "set terminal pngcairo size 960,600 font 'sans,11' noenhanced\n");
    gp_output(&b, out_base, ".png");
    rb_buf_puts(&b, "plot ");
    for (size_t k = 0; k < n_blocks; k++) {
        if (k) rb_buf_puts(&b, ", \\\n     ");
        rb_buf_printf(&b, "$d%zu using 1:2%s with %s lw 2 pt 7 ps 0.9 title ", k + 1,
                      errorbars ? ":3" : "", errorbars ? "yerrorlines" : "linespoints");
        gp_string(&b, spec->series ? agg->dims[0].labels[block_series[k]] : metric);
    }
    rb_buf_puts(&b, "\nset terminal svg size 960,600 dynamic font 'sans,11' noenhanced\n");
    gp_output(&b, out_base, ".svg");
    rb_buf_puts(&b, "replot\nset output\n");
    free(block_series);
    if (!(*out = rb_buf_take(&b))) return rb_error_set(err, RB_ENOMEM, "out of memory");
    return RB_OK;
}

int rb_plot_split(const char *out, char *stem, char *base, size_t cap, rb_error *err) {
    snprintf(stem, cap, "%s", out);
    size_t len = strlen(stem);
    static const char *const exts[] = {".png", ".svg", ".gp"};
    for (size_t i = 0; i < 3; i++) {
        size_t el = strlen(exts[i]);
        if (len > el && !strcmp(stem + len - el, exts[i])) {
            stem[len - el] = 0;
            break;
        }
    }
    const char *slash = strrchr(stem, '/');
    snprintf(base, cap, "%s", slash ? slash + 1 : stem);
    if (!*base) return rb_error_set(err, RB_EINVAL, "%s: no file name for the plot", out);
    return RB_OK;
}

int rb_gnuplot_render(const char *stem, const char *script, const char *gnuplot, rb_error *err) {
    char dir[4096], base[4096];
    const char *slash = strrchr(stem, '/');
    if (slash) {
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - stem), stem);
        if (!*dir) snprintf(dir, sizeof dir, "/");
        snprintf(base, sizeof base, "%s", slash + 1);
    } else {
        snprintf(dir, sizeof dir, ".");
        snprintf(base, sizeof base, "%s", stem);
    }
    char gp_path[4200];
    snprintf(gp_path, sizeof gp_path, "%s.gp", stem);
    int rc = rb_write_text_file(gp_path, script, err);
    if (rc) return rc;
    const char *prog = gnuplot ? gnuplot : "gnuplot";
    char prog_path[4096];
    if (!rb_find_program(prog, prog_path, sizeof prog_path))
        return rb_error_set(err, RB_EUNSUPPORTED,
                            "gnuplot not found: %s %s; install it (Debian: apt-get install "
                            "gnuplot-nox) and render the script written to %s by hand: cd %s && "
                            "gnuplot %s.gp",
                            prog, strchr(prog, '/') ? "is not an executable file" : "is not in PATH",
                            gp_path, dir, base);
    char gp_name[4200]; /* "./": a name starting with '-' is not an option */
    snprintf(gp_name, sizeof gp_name, "./%s.gp", base);
    char *argv[] = {prog_path, gp_name, NULL};
    char *sout = NULL, *serr = NULL;
    int status = 0;
    rc = rb_run_capture(argv, dir, &sout, &serr, &status, err);
    if (rc) return rc;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        char why[128];
        rb_describe_status(status, why, sizeof why);
        const char *t = serr ? serr : "";
        size_t n = strlen(t);
        if (n > 300) t += n - 300;
        rc = rb_error_set(err, RB_EIO, "gnuplot failed (%s) on %s: %s", why, gp_path, t);
    }
    free(sout);
    free(serr);
    if (rc) return rc;
    char png[4200];
    snprintf(png, sizeof png, "%s.png", stem);
    struct stat st;
    if (stat(png, &st) || st.st_size == 0)
        return rb_error_set(err, RB_EIO, "gnuplot ran on %s but wrote no %s", gp_path, png);
    return RB_OK;
}

int rb_plot_write(const rb_agg *agg, const rb_plot_spec *spec, const char *out, rb_error *err) {
    char stem[4096], base[4096];
    int rc = rb_plot_split(out, stem, base, sizeof stem, err);
    if (rc) return rc;
    char *script;
    if ((rc = rb_plot_script(agg, spec, base, &script, err))) return rc;
    rc = rb_gnuplot_render(stem, script, spec->gnuplot, err);
    free(script);
    return rc;
}
