#include "eval/act_outliers.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "eval/plot.h"
#include "eval/records.h"

static const char *const point_names[RB_OUTLIER_POINT_COUNT] = {
    "qkv_in", "o_in", "gate_up_in", "down_in", "classifier_in", "k", "v"};

const char *rb_outlier_point_name(int point) {
    return point >= 0 && point < RB_OUTLIER_POINT_COUNT ? point_names[point] : "?";
}

static size_t slot_of(const rb_outliers *o, int layer, int point) {
    (void)o;
    return (size_t)layer * RB_OUTLIER_POINT_COUNT + (size_t)point;
}

int rb_outliers_init(rb_outliers *o, const rb_config *c, rb_error *err) {
    memset(o, 0, sizeof *o);
    o->n_layers = c->n_layers;
    o->width[RB_ACT_QKV_IN] = c->dim;
    o->width[RB_ACT_O_IN] = c->n_heads * c->head_dim;
    o->width[RB_ACT_GATE_UP_IN] = c->dim;
    o->width[RB_ACT_DOWN_IN] = c->hidden_dim;
    o->width[RB_ACT_CLASSIFIER_IN] = c->dim;
    o->width[RB_OUTLIER_K] = c->n_kv_heads * c->head_dim;
    o->width[RB_OUTLIER_V] = c->n_kv_heads * c->head_dim;
    for (int p = 0; p < RB_OUTLIER_POINT_COUNT; p++)
        if (o->width[p] > o->stride) o->stride = o->width[p];
    size_t slots = (size_t)(c->n_layers + 1) * RB_OUTLIER_POINT_COUNT;
    o->acc = calloc(slots, sizeof *o->acc);
    o->ch_max = calloc(slots * (size_t)o->stride, sizeof *o->ch_max);
    if (!o->acc || !o->ch_max) {
        rb_outliers_free(o);
        return rb_error_set(err, RB_ENOMEM, "out of memory for outlier statistics");
    }
    return RB_OK;
}

void rb_outliers_free(rb_outliers *o) {
    free(o->acc);
    free(o->ch_max);
    o->acc = NULL;
    o->ch_max = NULL;
}

int rb_outliers_has(const rb_outliers *o, int layer, int point) {
    if (point < 0 || point >= RB_OUTLIER_POINT_COUNT || layer < 0 || layer > o->n_layers)
        return 0;
    return (point == RB_ACT_CLASSIFIER_IN) == (layer == o->n_layers);
}

int rb_outliers_add(rb_outliers *o, int layer, int point, const float *x, int rows, int cols,
                    rb_error *err) {
    if (!rb_outliers_has(o, layer, point))
        return rb_error_set(err, RB_EINVAL, "outlier statistics: no point %s at layer %d",
                            rb_outlier_point_name(point), layer);
    if (cols != o->width[point] || rows < 0)
        return rb_error_set(err, RB_EINVAL,
                            "outlier statistics: %s at layer %d has %d channels, got %d x %d",
                            rb_outlier_point_name(point), layer, o->width[point], rows, cols);
    size_t s = slot_of(o, layer, point);
    rb_outlier_acc *a = &o->acc[s];
    float *mx = o->ch_max + s * (size_t)o->stride;
    double s2 = 0, s4 = 0, amax = a->absmax;
    for (int r = 0; r < rows; r++) {
        const float *row = x + (size_t)r * cols;
        for (int j = 0; j < cols; j++) {
            float v = fabsf(row[j]);
            double d = v, d2 = d * d;
            s2 += d2;
            s4 += d2 * d2;
            if (v > mx[j]) mx[j] = v;
            if (d > amax) amax = d;
        }
    }
    a->n += (uint64_t)rows * (uint64_t)cols;
    a->sum2 += s2;
    a->sum4 += s4;
    a->absmax = amax;
    return RB_OK;
}

typedef struct collect_ctx {
    rb_outliers *o;
    const rb_hooks *inner;
} collect_ctx;

static int on_act(void *ctx, int layer, rb_act_point p, float *x, int rows, int cols,
                  rb_error *err) {
    collect_ctx *c = ctx;
    int rc = rb_outliers_add(c->o, layer, (int)p, x, rows, cols, err);
    if (!rc && c->inner && c->inner->activation)
        rc = c->inner->activation(c->inner->ctx, layer, p, x, rows, cols, err);
    return rc;
}

static int on_qkv(void *ctx, int layer, float *q, float *k, float *v, int T, const rb_config *cfg,
                  rb_error *err) {
    collect_ctx *c = ctx;
    int kv = cfg->n_kv_heads * cfg->head_dim, rc;
    if ((rc = rb_outliers_add(c->o, layer, RB_OUTLIER_K, k, T, kv, err)) ||
        (rc = rb_outliers_add(c->o, layer, RB_OUTLIER_V, v, T, kv, err)))
        return rc;
    return c->inner && c->inner->qkv ? c->inner->qkv(c->inner->ctx, layer, q, k, v, T, cfg, err)
                                     : RB_OK;
}

static const float *on_weight(void *ctx, int layer, rb_linear_id id, const float *w) {
    collect_ctx *c = ctx;
    return c->inner && c->inner->weight ? c->inner->weight(c->inner->ctx, layer, id, w) : w;
}

int rb_outliers_collect(const rb_model *m, const rb_calib *calib, const rb_hooks *inner,
                        rb_outliers *out, rb_error *err) {
    int rc = rb_outliers_init(out, &m->cfg, err);
    if (rc) return rc;
    collect_ctx cc = {out, inner};
    rb_hooks h = {.ctx = &cc, .activation = on_act, .qkv = on_qkv, .weight = on_weight};
    return rb_calib_forward(m, calib, &h, err);
}

int rb_outliers_summary(const rb_outliers *o, int layer, int point, rb_outlier_summary *s,
                        rb_error *err) {
    memset(s, 0, sizeof *s);
    if (!rb_outliers_has(o, layer, point))
        return rb_error_set(err, RB_EINVAL, "outlier statistics: no point %s at layer %d",
                            rb_outlier_point_name(point), layer);
    const rb_outlier_acc *a = &o->acc[slot_of(o, layer, point)];
    s->width = o->width[point];
    s->n = a->n;
    s->absmax = a->absmax;
    s->max_over_rms = s->kurtosis = NAN;
    if (!a->n) {
        s->rms = NAN;
        return RB_OK;
    }
    double m2 = a->sum2 / (double)a->n, m4 = a->sum4 / (double)a->n;
    s->rms = sqrt(m2);
    if (m2 > 0) {
        s->max_over_rms = a->absmax / s->rms;
        s->kurtosis = m4 / (m2 * m2);
    }
    return RB_OK;
}

int rb_outliers_top(const rb_outliers *o, int layer, int point, int k, int *ch, float *val) {
    if (!rb_outliers_has(o, layer, point) || k <= 0) return 0;
    int w = o->width[point];
    if (k > w) k = w;
    const float *mx = o->ch_max + slot_of(o, layer, point) * (size_t)o->stride;
    /* insertion into a sorted list of k: strict '>' keeps the lower channel on ties */
    int n = 0;
    for (int j = 0; j < w; j++) {
        float v = mx[j];
        if (n == k && !(v > val[k - 1])) continue;
        int i = n < k ? n++ : k - 1;
        while (i > 0 && v > val[i - 1]) {
            val[i] = val[i - 1];
            ch[i] = ch[i - 1];
            i--;
        }
        val[i] = v;
        ch[i] = j;
    }
    return n;
}

/* ---- reports -------------------------------------------------------------- */

static int check_stages(const rb_outlier_stage *st, int n_st, rb_error *err) {
    if (n_st < 1) return rb_error_set(err, RB_EINVAL, "outlier report: no statistics");
    for (int i = 1; i < n_st; i++)
        if (st[i].stats->n_layers != st[0].stats->n_layers ||
            memcmp(st[i].stats->width, st[0].stats->width, sizeof st[0].stats->width))
            return rb_error_set(err, RB_EINVAL,
                                "outlier report: stages %s and %s have different shapes",
                                st[0].name, st[i].name);
    return RB_OK;
}

static void csv_number(rb_buf *b, double v) {
    if (isfinite(v)) rb_buf_printf(b, "%.9g", v);
}

/* A CSV field, quoted when it needs to be (RFC 4180). */
static void csv_field(rb_buf *b, const char *s) {
    if (!strpbrk(s, ",\"\r\n")) {
        rb_buf_puts(b, s);
        return;
    }
    rb_buf_puts(b, "\"");
    for (; *s; s++) rb_buf_append(b, *s == '"' ? "\"\"" : s, *s == '"' ? 2 : 1);
    rb_buf_puts(b, "\"");
}

int rb_outliers_csv(const rb_outlier_stage *st, int n_st, int top_k, char **out, rb_error *err) {
    *out = NULL;
    int rc = check_stages(st, n_st, err);
    if (rc) return rc;
    int k = top_k > 0 ? top_k : 0;
    int *ch = malloc(sizeof(int) * (size_t)(k ? k : 1));
    float *val = malloc(sizeof(float) * (size_t)(k ? k : 1));
    if (!ch || !val) {
        free(ch);
        free(val);
        return rb_error_set(err, RB_ENOMEM, "out of memory");
    }
    rb_buf b = {0};
    rb_buf_puts(&b, "stage,layer,point,width,n,max_abs,rms,max_over_rms,kurtosis,top\n");
    for (int i = 0; i < n_st; i++) {
        const rb_outliers *o = st[i].stats;
        for (int l = 0; l <= o->n_layers; l++)
            for (int p = 0; p < RB_OUTLIER_POINT_COUNT; p++) {
                if (!rb_outliers_has(o, l, p)) continue;
                rb_outlier_summary s;
                rb_outliers_summary(o, l, p, &s, err);
                csv_field(&b, st[i].name);
                rb_buf_printf(&b, ",%d,%s,%d,%llu,", l, rb_outlier_point_name(p), s.width,
                              (unsigned long long)s.n);
                csv_number(&b, s.absmax);
                rb_buf_puts(&b, ",");
                csv_number(&b, s.rms);
                rb_buf_puts(&b, ",");
                csv_number(&b, s.max_over_rms);
                rb_buf_puts(&b, ",");
                csv_number(&b, s.kurtosis);
                rb_buf_puts(&b, ",");
                int n = rb_outliers_top(o, l, p, k, ch, val);
                for (int t = 0; t < n; t++) rb_buf_printf(&b, "%s%d:%.6g", t ? ";" : "", ch[t], val[t]);
                rb_buf_puts(&b, "\n");
            }
    }
    free(ch);
    free(val);
    if (!(*out = rb_buf_take(&b))) return rb_error_set(err, RB_ENOMEM, "out of memory");
    return RB_OK;
}

int rb_outliers_plot_script(const rb_outlier_stage *st, int n_st, const char *title,
                            const char *out_base, char **out, rb_error *err) {
    *out = NULL;
    int rc = check_stages(st, n_st, err);
    if (rc) return rc;
    const int L = st[0].stats->n_layers;
    /* a colour per point (Okabe-Ito, distinguishable in print), a marker and dash per stage */
    static const char *const colour[RB_OUTLIER_POINT_COUNT] = {
        "#9400d3", "#009e73", "#56b4e9", "#e69f00", "#000000", "#0072b2", "#d55e00"};
    static const int pt_of_stage[] = {6, 7, 4, 5, 8, 9};
    static const int dt_of_stage[] = {2, 1, 3, 4, 5, 1};
    rb_buf b = {0};
    rb_buf_puts(&b, "# rotbench stats: max|x| / rms(x) of the quantizer inputs per layer and "
                    "point\n# ");
    for (const char *s = title ? title : ""; *s; s++)
        rb_buf_append(&b, *s == '\n' ? "\n# " : s, *s == '\n' ? 3 : 1);
    rb_buf_puts(&b, "\n# Re-render: gnuplot ");
    rb_gnuplot_comment(&b, out_base);
    rb_buf_printf(&b, ".gp  (writes its .png and .svg in the current directory)\n"
                      "# Data block columns: layer (%d = classifier input), "
                      "max_over_rms, kurtosis\n\n",
                  L);
    for (int i = 0; i < n_st; i++) {
        const rb_outliers *o = st[i].stats;
        for (int p = 0; p < RB_OUTLIER_POINT_COUNT; p++) {
            rb_buf_printf(&b, "$s%dp%d << EOD\n# ", i, p);
            for (const char *s = st[i].name; *s; s++)
                rb_buf_append(&b, (*s == '\n' || *s == '\r') ? " " : s, 1);
            rb_buf_printf(&b, " %s\n", rb_outlier_point_name(p));
            for (int l = 0; l <= L; l++) {
                if (!rb_outliers_has(o, l, p)) continue;
                rb_outlier_summary s;
                rb_outliers_summary(o, l, p, &s, err);
                rb_buf_printf(&b, "%d ", l);
                if (isfinite(s.max_over_rms) && s.max_over_rms > 0)
                    rb_buf_printf(&b, "%.9g ", s.max_over_rms);
                else
                    rb_buf_puts(&b, "NaN ");
                if (isfinite(s.kurtosis))
                    rb_buf_printf(&b, "%.9g\n", s.kurtosis);
                else
                    rb_buf_puts(&b, "NaN\n");
            }
            rb_buf_puts(&b, "EOD\n");
        }
    }
    rb_buf_puts(&b, "\nset encoding utf8\nset title ");
    rb_gnuplot_quote(&b, title ? title : "max|x| / rms(x) per layer", 1);
    rb_buf_puts(&b, "\nset xlabel \"layer\"\nset ylabel \"max|x| / rms(x)\"\n"
                    "set logscale y\nset grid\nset key outside right top\n");
    rb_buf_printf(&b, "set xrange [-0.5:%d.5]\nset xtics (", L);
    for (int l = 0; l < L; l++) rb_buf_printf(&b, "\"%d\" %d, ", l, l);
    rb_buf_printf(&b, "\"cls\" %d)\n", L);
    char name[4200];
    snprintf(name, sizeof name, "%s.png", out_base);
    rb_buf_puts(&b, "set terminal pngcairo size 1100,650 font \"sans,11\" noenhanced\n"
                    "set output ");
    rb_gnuplot_quote(&b, name, 0);
    rb_buf_puts(&b, "\nplot ");
    int first = 1;
    for (int p = 0; p < RB_OUTLIER_POINT_COUNT; p++)
        for (int i = 0; i < n_st; i++) {
            int si = i % (int)(sizeof pt_of_stage / sizeof *pt_of_stage);
            if (!first) rb_buf_puts(&b, ", \\\n     ");
            first = 0;
            rb_buf_printf(&b, "$s%dp%d using 1:2 with linespoints lc rgb \"%s\" dt %d pt %d "
                              "ps 0.9 lw 2 title ",
                          i, p, colour[p], dt_of_stage[si], pt_of_stage[si]);
            char t[256];
            snprintf(t, sizeof t, "%s %s", rb_outlier_point_name(p), st[i].name);
            rb_gnuplot_quote(&b, t, 0);
        }
    snprintf(name, sizeof name, "%s.svg", out_base);
    rb_buf_puts(&b, "\nset terminal svg size 1100,650 dynamic font \"sans,11\" noenhanced\n"
                    "set output ");
    rb_gnuplot_quote(&b, name, 0);
    rb_buf_puts(&b, "\nreplot\nset output\n");
    if (!(*out = rb_buf_take(&b))) return rb_error_set(err, RB_ENOMEM, "out of memory");
    return RB_OK;
}

int rb_outliers_plot_write(const rb_outlier_stage *st, int n_st, const char *title,
                           const char *out, const char *gnuplot, rb_error *err) {
    char stem[4096], base[4096];
    int rc = rb_plot_split(out, stem, base, sizeof stem, err);
    if (rc) return rc;
    char *script;
    if ((rc = rb_outliers_plot_script(st, n_st, title, base, &script, err))) return rc;
    rc = rb_gnuplot_render(stem, script, gnuplot, err);
    free(script);
    return rc;
}
