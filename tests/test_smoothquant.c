/* smoothquant:search=1: the per-layer α is the grid point of least output
 * error, checked against errors computed here in float64 from the formula
 * (scales, smoothed and fake-quantized input and weights, ‖XWᵀ − X̃W̃ᵀ‖²). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/calib.h"
#include "core/forward.h"
#include "methods/prepare.h"
#include "tests/test_models.h"
#include "tests/test_util.h"

typedef struct rows_of {
    int layer, point, n, cols;
    float *x; /* [n][cols] */
} rows_of;

static int grab(void *ctx, int layer, rb_act_point p, float *x, int rows, int cols, rb_error *e) {
    (void)e;
    rows_of *r = ctx;
    if (layer != r->layer || (int)p != r->point) return RB_OK;
    r->x = realloc(r->x, sizeof(float) * (size_t)(r->n + rows) * cols);
    memcpy(r->x + (size_t)r->n * cols, x, sizeof(float) * (size_t)rows * cols);
    r->n += rows;
    r->cols = cols;
    return 1;
}

/* All calibration input rows of (layer, point) of m. */
static rows_of all_rows(const rb_model *m, const rb_calib *cal, int layer, rb_act_point p) {
    rows_of r = {layer, p, 0, 0, NULL};
    rb_workspace ws;
    rb_error err = {0};
    cr_assert_eq(rb_workspace_init(&ws, &m->cfg, cal->window, &err), RB_OK);
    rb_hooks h = {.ctx = &r, .activation = grab};
    for (int w = 0; w < cal->n_windows; w++)
        rb_forward(m, &ws, cal->tokens + (size_t)w * cal->window, cal->window, &h, &err);
    rb_workspace_free(&ws);
    return r;
}

/* err(α) of the linears ids[] reading X, in float64 but for the quantizers. */
static double pair_error(const rb_model *m, int layer, const rb_linear_id *ids, int n_lin,
                         const rows_of *X, double alpha, const rb_quant_spec *a,
                         const rb_quant_spec *w) {
    int n = X->cols, T = X->n;
    double *s = malloc(sizeof(double) * n);
    for (int j = 0; j < n; j++) {
        double xm = 0, wm = 0;
        for (int t = 0; t < T; t++) xm = fmax(xm, fabs(X->x[(size_t)t * n + j]));
        for (int k = 0; k < n_lin; k++) {
            rb_weight_view v = rb_model_weight((rb_model *)m, layer, ids[k]);
            for (int o = 0; o < v.rows; o++) wm = fmax(wm, fabs(v.w[(size_t)o * n + j]));
        }
        s[j] = xm > 0 && wm > 0 ? fmax(pow(xm, alpha) / pow(wm, 1 - alpha), 1e-5) : 1;
    }
    float *Xq = malloc(sizeof(float) * (size_t)T * n);
    for (int t = 0; t < T; t++)
        for (int j = 0; j < n; j++) Xq[(size_t)t * n + j] = (float)(X->x[(size_t)t * n + j] / s[j]);
    rb_error err = {0};
    cr_assert_eq(rb_fake_quant_dynamic(Xq, T, n, a, &err), RB_OK);
    double e = 0;
    for (int k = 0; k < n_lin; k++) {
        rb_weight_view v = rb_model_weight((rb_model *)m, layer, ids[k]);
        float *Wq = malloc(sizeof(float) * (size_t)v.rows * n);
        for (int o = 0; o < v.rows; o++)
            for (int j = 0; j < n; j++) Wq[(size_t)o * n + j] = (float)(v.w[(size_t)o * n + j] * s[j]);
        cr_assert_eq(rb_fake_quant_dynamic(Wq, v.rows, n, w, &err), RB_OK);
        for (int t = 0; t < T; t++)
            for (int o = 0; o < v.rows; o++) {
                double y = 0, yq = 0;
                for (int j = 0; j < n; j++) {
                    y += (double)X->x[(size_t)t * n + j] * v.w[(size_t)o * n + j];
                    yq += (double)Xq[(size_t)t * n + j] * Wq[(size_t)o * n + j];
                }
                e += (y - yq) * (y - yq);
            }
        free(Wq);
    }
    free(s);
    free(Xq);
    return e;
}

Test(smoothquant, search_picks_the_grid_point_of_least_layer_error) {
    rb_model *m = rb_test_synth(32, 48, 2, 4, 2, 40, 21);
    rb_calib cal;
    rb_error err = {0};
    rb_test_random_calib(&cal, 40, 6, 64, 5);
    /* planted outlier channels: the best α is neither end of the grid */
    rb_pipeline p;
    rb_quant_config q;
    rb_quant_config_init(&q);
    cr_assert_eq(rb_pipeline_parse("outliers:count=3:scale=25", &p, &err), RB_OK, "%s", err.msg);
    cr_assert_eq(rb_prepare_model(m, &p, &q, &cal, 0, NULL, &err), RB_OK, "%s", err.msg);
    rb_model *before;
    cr_assert_eq(rb_model_clone(m, &before, &err), RB_OK);
    q.a = (rb_quant_spec){4, 0, RB_GRAN_ROW, 0, 1.0f, 0};
    q.w = (rb_quant_spec){4, 0, RB_GRAN_ROW, 0, 1.0f, 0};
    cr_assert_eq(rb_pipeline_parse("smoothquant:search=1:step=0.125:rows=100000", &p, &err), RB_OK);
    json_object *notes = json_object_new_object();
    cr_assert_eq(rb_prepare_model_notes(m, &p, &q, &cal, 0, NULL, notes, &err), RB_OK, "%s",
                 err.msg);
    json_object *sq, *arr[2];
    cr_assert(json_object_object_get_ex(notes, "smoothquant", &sq));
    cr_assert(json_object_object_get_ex(sq, "alpha_qkv", &arr[0]));
    cr_assert(json_object_object_get_ex(sq, "alpha_gate_up", &arr[1]));
    static const rb_linear_id qkv[] = {RB_WQ, RB_WK, RB_WV}, gu[] = {RB_W1, RB_W3};
    const rb_linear_id *ids[2] = {qkv, gu};
    int n_lin[2] = {3, 2};
    rb_act_point pts[2] = {RB_ACT_QKV_IN, RB_ACT_GATE_UP_IN};
    int interior = 0;
    for (int l = 0; l < 2; l++)
        for (int k = 0; k < 2; k++) {
            /* smoothing layer 0 leaves layer 1's inputs as they were (up to rounding) */
            rows_of X = all_rows(before, &cal, l, pts[k]);
            cr_assert_eq(X.n, 6 * 64);
            double chosen = json_object_get_double(json_object_array_get_idx(arr[k], l));
            double best = INFINITY, best_alpha = -1, e_chosen = NAN;
            for (int i = 0; i <= 8; i++) {
                double e = pair_error(before, l, ids[k], n_lin[k], &X, i * 0.125, &q.a, &q.w);
                if (e < best) best = e, best_alpha = i * 0.125;
                if (fabs(i * 0.125 - chosen) < 1e-9) e_chosen = e;
            }
            cr_log_info("layer %d pair %d: chosen %.3f, float64 argmin %.3f (%g vs %g)\n", l, k,
                        chosen, best_alpha, e_chosen, best);
            cr_assert(!isnan(e_chosen), "layer %d pair %d: %g is not on the grid", l, k, chosen);
            cr_assert_leq(e_chosen, best * (1 + 1e-3), "layer %d pair %d: chose %g (error %g), "
                          "the least error is at %g (%g)", l, k, chosen, e_chosen, best_alpha, best);
            interior += best_alpha > 0 && best_alpha < 1;
            free(X.x);
        }
    cr_assert_gt(interior, 0, "the constructed case should have an interior optimum");
    json_object_put(notes);
    rb_model_free(m);
    rb_model_free(before);
    rb_calib_free(&cal);
}

Test(smoothquant, search_without_quantizers_is_the_fixed_alpha) {
    rb_model *m = rb_test_synth(32, 48, 1, 4, 2, 40, 3), *ref;
    rb_error err = {0};
    cr_assert_eq(rb_model_clone(m, &ref, &err), RB_OK);
    int32_t tok[256];
    for (int i = 0; i < 256; i++) tok[i] = i % 40;
    rb_calib cal;
    cr_assert_eq(rb_calib_from_tokens(tok, 256, 2, 64, 1, &cal, &err), RB_OK);
    rb_pipeline p, pr;
    rb_quant_config q;
    rb_quant_config_init(&q);
    cr_assert_eq(rb_pipeline_parse("smoothquant:search=1:alpha=0.3", &p, &err), RB_OK);
    cr_assert_eq(rb_pipeline_parse("smoothquant:alpha=0.3", &pr, &err), RB_OK);
    cr_assert_eq(rb_prepare_model(m, &p, &q, &cal, 0, NULL, &err), RB_OK, "%s", err.msg);
    cr_assert_eq(rb_prepare_model(ref, &pr, &q, &cal, 0, NULL, &err), RB_OK, "%s", err.msg);
    rb_weight_view a = rb_model_weight(m, 0, RB_WQ), b = rb_model_weight(ref, 0, RB_WQ);
    cr_assert_eq(memcmp(a.w, b.w, sizeof(float) * a.rows * a.cols), 0);
    rb_model_free(m);
    rb_model_free(ref);
    rb_calib_free(&cal);
}
