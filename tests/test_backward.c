/* Backward passes (kernels/ops_backward.h, core/train.h): every kernel's
 * gradient against central finite differences of a float64 version of its
 * forward written here (naive loops), and the whole model's gradient with
 * respect to sampled weight entries against finite differences of the
 * float64 reference forward (tests/ref_forward.c), on small random models
 * with grouped-query attention, odd head counts and online transforms.
 *
 * Tolerances.  Central differences in float64 with h = 1e-6 have truncation
 * error O(h²·f''') ≈ 1e-12 and rounding error ≈ 1e-16·|f|/h ≈ 1e-10: exact
 * to far below what is checked.  The analytic gradients are float32: each
 * kernel's is a few float32 roundings (relative 1e-7..1e-6) of exact sums,
 * and through a whole model the float32 forward and backward stack tens of
 * such steps.  Measured (RB_TEST_VERBOSE=1 prints every comparison): at most
 * 3.2e-7 relative to the largest gradient entry, kernels and models alike.
 * KERNEL_TOL = MODEL_TOL = 1e-5 leave a factor 30 for other compilers and
 * BLAS kernels, while a wrong term (a missing factor, a wrong sign or
 * index, H where Hᵀ belongs) gives errors of order 1e-2..1.  Every
 * comparison also checks that it would fail: the same gradient
 * with its largest entry off by 10·tol (relative) must exceed tol. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/forward.h"
#include "core/quant.h"
#include "core/train.h"
#include "kernels/hadamard.h"
#include "kernels/ops.h"
#include "kernels/ops_backward.h"
#include "kernels/rotation.h"
#include "methods/prepare.h"
#include "methods/rotate.h"
#include "tests/ref_forward.h"
#include "tests/test_models.h"
#include "tests/test_util.h"

#define KERNEL_TOL 1e-5
#define MODEL_TOL 1e-5
#define FD_H 1e-6

/* ---- finite differences --------------------------------------------------- */

typedef double (*loss_fn)(const double *in, const void *ctx);

/* fd[i] = (f(in + h·e_i) − f(in − h·e_i)) / 2h for i < n (in is restored). */
static void finite_diff(double *fd, double *in, size_t n, loss_fn f, const void *ctx) {
    for (size_t i = 0; i < n; i++) {
        double keep = in[i];
        in[i] = keep + FD_H;
        double up = f(in, ctx);
        in[i] = keep - FD_H;
        double down = f(in, ctx);
        in[i] = keep;
        fd[i] = (up - down) / (2 * FD_H);
    }
}

/* max_i |g_i − fd_i| / max(max_i |fd_i|, floor). */
static double grad_err(const float *g, const double *fd, size_t n, double floor) {
    double md = 0, scale = floor;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)g[i] - fd[i]);
        md = d > md || isnan(d) ? d : md;
        scale = fabs(fd[i]) > scale ? fabs(fd[i]) : scale;
    }
    return md / scale;
}

/* Expects g ≈ fd within tol, and that the comparison would catch a gradient
 * whose largest entry is off by 10·tol of the scale. */
static void expect_grad(const float *g, const double *fd, size_t n, double tol, double floor,
                        const char *what) {
    double e = grad_err(g, fd, n, floor);
    if (getenv("RB_TEST_VERBOSE")) fprintf(stderr, "%-60s error %.2e\n", what, e);
    cr_expect_lt(e, tol, "%s: gradient error %g (tolerance %g)", what, e, tol);
    float *bad = malloc(sizeof(float) * n);
    memcpy(bad, g, sizeof(float) * n);
    size_t big = 0;
    for (size_t i = 0; i < n; i++) big = fabs(fd[i]) > fabs(fd[big]) ? i : big;
    double scale = fabs(fd[big]) > floor ? fabs(fd[big]) : floor;
    bad[big] += (float)(10 * tol * scale);
    cr_expect_gt(grad_err(bad, fd, n, floor), tol, "%s: a perturbed gradient passes", what);
    free(bad);
}

static void fill(float *x, size_t n, float lo, float hi, rb_rng *r) {
    rb_test_fill_uniform(x, n, lo, hi, r);
}

static double *to_double(const float *x, size_t n, double *out) {
    for (size_t i = 0; i < n; i++) out[i] = x[i];
    return out;
}

/* ---- linear ---------------------------------------------------------------- */

typedef struct { int T, n_in, n_out; const double *dy; } linear_ctx;

/* L = Σ dy ⊙ (x·Wᵀ), in = [x [T][n_in] | W [n_out][n_in]] */
static double linear_loss(const double *in, const void *p) {
    const linear_ctx *c = p;
    const double *x = in, *W = in + (size_t)c->T * c->n_in;
    double L = 0;
    for (int t = 0; t < c->T; t++)
        for (int o = 0; o < c->n_out; o++) {
            double y = 0;
            for (int i = 0; i < c->n_in; i++) y += x[t * c->n_in + i] * W[o * c->n_in + i];
            L += c->dy[t * c->n_out + o] * y;
        }
    return L;
}

Test(backward, linear) {
    rb_rng r;
    rb_rng_seed(&r, 1);
    const int T = 5, n_in = 7, n_out = 3;
    size_t nx = (size_t)T * n_in, nw = (size_t)n_out * n_in, n = nx + nw;
    float *in = malloc(sizeof(float) * n), *dy = malloc(sizeof(float) * T * n_out);
    float *g = calloc(n, sizeof(float));
    double *ind = malloc(sizeof(double) * n), *dyd = malloc(sizeof(double) * T * n_out);
    double *fd = malloc(sizeof(double) * n);
    fill(in, n, -1, 1, &r);
    fill(dy, (size_t)T * n_out, -1, 1, &r);
    /* dx accumulated onto 0.5, dw onto 0.25: the result minus those */
    for (size_t i = 0; i < nx; i++) g[i] = 0.5f;
    for (size_t i = nx; i < n; i++) g[i] = 0.25f;
    rb_linear_backward(g, g + nx, dy, in, in + nx, T, n_in, n_out, 1);
    for (size_t i = 0; i < n; i++) g[i] -= i < nx ? 0.5f : 0.25f;
    linear_ctx c = {T, n_in, n_out, to_double(dy, (size_t)T * n_out, dyd)};
    finite_diff(fd, to_double(in, n, ind), n, linear_loss, &c);
    expect_grad(g, fd, n, KERNEL_TOL, 1e-12, "linear");
    /* dx written (not accumulated) when asked */
    float *dx = malloc(sizeof(float) * nx);
    for (size_t i = 0; i < nx; i++) dx[i] = 9.0f;
    rb_linear_backward(dx, NULL, dy, in, in + nx, T, n_in, n_out, 0);
    expect_grad(dx, fd, nx, KERNEL_TOL, 1e-12, "linear dx written");
    free(in); free(dy); free(g); free(ind); free(dyd); free(fd); free(dx);
}

/* ---- RMSNorm --------------------------------------------------------------- */

typedef struct { int rows, cols; double eps; const double *dy; } norm_ctx;

static double rmsnorm_loss(const double *in, const void *p) {
    const norm_ctx *c = p;
    const double *x = in, *w = in + (size_t)c->rows * c->cols;
    double L = 0;
    for (int r = 0; r < c->rows; r++) {
        double ss = 0;
        for (int i = 0; i < c->cols; i++) ss += x[r * c->cols + i] * x[r * c->cols + i];
        double inv = 1 / sqrt(ss / c->cols + c->eps);
        for (int i = 0; i < c->cols; i++) L += c->dy[r * c->cols + i] * x[r * c->cols + i] * inv * w[i];
    }
    return L;
}

Test(backward, rmsnorm) {
    rb_rng r;
    rb_rng_seed(&r, 2);
    const int rows = 3, cols = 37;
    size_t nx = (size_t)rows * cols, n = nx + cols;
    float *in = malloc(sizeof(float) * n), *dy = malloc(sizeof(float) * nx);
    float *g = calloc(n, sizeof(float));
    double *ind = malloc(sizeof(double) * n), *dyd = malloc(sizeof(double) * nx);
    double *fd = malloc(sizeof(double) * n);
    fill(in, nx, -2, 2, &r);
    fill(in + nx, cols, 0.5f, 1.5f, &r);
    fill(dy, nx, -1, 1, &r);
    rb_rmsnorm_backward(g, g + nx, dy, in, in + nx, rows, cols, 1e-5f);
    norm_ctx c = {rows, cols, 1e-5f, to_double(dy, nx, dyd)};
    finite_diff(fd, to_double(in, n, ind), n, rmsnorm_loss, &c);
    expect_grad(g, fd, nx, KERNEL_TOL, 1e-12, "rmsnorm dx");
    expect_grad(g + nx, fd + nx, cols, KERNEL_TOL, 1e-12, "rmsnorm dw");
    free(in); free(dy); free(g); free(ind); free(dyd); free(fd);
}

/* ---- SwiGLU ---------------------------------------------------------------- */

typedef struct { size_t n; const double *dy; } swiglu_ctx;

static double swiglu_loss(const double *in, const void *p) {
    const swiglu_ctx *c = p;
    double L = 0;
    for (size_t i = 0; i < c->n; i++) {
        double a = in[i], b = in[c->n + i];
        L += c->dy[i] * a / (1 + exp(-a)) * b;
    }
    return L;
}

Test(backward, swiglu) {
    rb_rng r;
    rb_rng_seed(&r, 3);
    const size_t n = 101;
    float *in = malloc(sizeof(float) * 2 * n), *dy = malloc(sizeof(float) * n);
    float *g = malloc(sizeof(float) * 2 * n);
    double *ind = malloc(sizeof(double) * 2 * n), *dyd = malloc(sizeof(double) * n);
    double *fd = malloc(sizeof(double) * 2 * n);
    fill(in, n, -6, 6, &r);
    fill(in + n, n, -2, 2, &r);
    fill(dy, n, -1, 1, &r);
    rb_swiglu_backward(g, g + n, dy, in, in + n, n);
    swiglu_ctx c = {n, to_double(dy, n, dyd)};
    finite_diff(fd, to_double(in, 2 * n, ind), 2 * n, swiglu_loss, &c);
    expect_grad(g, fd, n, KERNEL_TOL, 1e-12, "swiglu da");
    expect_grad(g + n, fd + n, n, KERNEL_TOL, 1e-12, "swiglu db");
    /* da may alias dg */
    float *dg = malloc(sizeof(float) * n), *db = malloc(sizeof(float) * n);
    memcpy(dg, dy, sizeof(float) * n);
    rb_swiglu_backward(dg, db, dg, in, in + n, n);
    cr_expect_eq(memcmp(dg, g, sizeof(float) * n), 0, "da aliasing dg changes the result");
    free(in); free(dy); free(g); free(ind); free(dyd); free(fd); free(dg); free(db);
}

/* ---- RoPE ------------------------------------------------------------------ */

typedef struct { int T, heads, hd, pos0; double theta; const double *dy; } rope_ctx;

static double rope_loss(const double *in, const void *p) {
    const rope_ctx *c = p;
    double L = 0;
    for (int t = 0; t < c->T; t++)
        for (int h = 0; h < c->heads; h++)
            for (int i = 0; i < c->hd; i += 2) {
                double ang = (c->pos0 + t) * pow(c->theta, -(double)i / c->hd);
                size_t o = ((size_t)t * c->heads + h) * c->hd + i;
                double a = in[o], b = in[o + 1];
                L += c->dy[o] * (a * cos(ang) - b * sin(ang)) + c->dy[o + 1] * (a * sin(ang) + b * cos(ang));
            }
    return L;
}

Test(backward, rope) {
    rb_rng r;
    rb_rng_seed(&r, 4);
    const int T = 5, heads = 3, hd = 6, pos0 = 2;
    size_t n = (size_t)T * heads * hd;
    float *dy = malloc(sizeof(float) * n), *g = malloc(sizeof(float) * n), *x = malloc(sizeof(float) * n);
    double *ind = malloc(sizeof(double) * n), *dyd = malloc(sizeof(double) * n);
    double *fd = malloc(sizeof(double) * n);
    float cs[7 * 3], sn[7 * 3];
    double freq[3];
    rb_rope_freqs_default(freq, hd, 10000.0);
    rb_rope_table_freqs(cs, sn, pos0 + T, hd, freq);
    fill(x, n, -1, 1, &r);
    fill(dy, n, -1, 1, &r);
    memcpy(g, dy, sizeof(float) * n);
    rb_rope_backward(g, T, heads, hd, pos0, cs, sn);
    rope_ctx c = {T, heads, hd, pos0, 10000.0, to_double(dy, n, dyd)};
    finite_diff(fd, to_double(x, n, ind), n, rope_loss, &c);
    expect_grad(g, fd, n, KERNEL_TOL, 1e-12, "rope");
    free(dy); free(g); free(x); free(ind); free(dyd); free(fd);
}

/* ---- attention ------------------------------------------------------------- */

typedef struct { int T, nh, nkv, hd; const double *dy; } att_ctx;

/* in = [q [T][nh·hd] | k [T][nkv·hd] | v [T][nkv·hd]] */
static double attention_loss(const double *in, const void *p) {
    const att_ctx *c = p;
    int qd = c->nh * c->hd, kvd = c->nkv * c->hd, T = c->T;
    const double *q = in, *k = in + (size_t)T * qd, *v = k + (size_t)T * kvd;
    double L = 0, w[64];
    for (int h = 0; h < c->nh; h++) {
        int g = h / (c->nh / c->nkv);
        for (int i = 0; i < T; i++) {
            double sum = 0;
            for (int j = 0; j <= i; j++) {
                double s = 0;
                for (int e = 0; e < c->hd; e++) s += q[i * qd + h * c->hd + e] * k[j * kvd + g * c->hd + e];
                sum += w[j] = exp(s / sqrt((double)c->hd));
            }
            for (int e = 0; e < c->hd; e++) {
                double o = 0;
                for (int j = 0; j <= i; j++) o += w[j] / sum * v[j * kvd + g * c->hd + e];
                L += c->dy[i * qd + h * c->hd + e] * o;
            }
        }
    }
    return L;
}

Test(backward, attention) {
    /* T, heads, kv heads, head_dim: GQA groups of 3, MHA with an odd count, MQA */
    const int shapes[][4] = {{7, 6, 2, 5}, {6, 3, 3, 4}, {9, 4, 1, 6}, {1, 2, 1, 3}};
    rb_rng r;
    rb_rng_seed(&r, 5);
    for (int s = 0; s < 4; s++) {
        int T = shapes[s][0], nh = shapes[s][1], nkv = shapes[s][2], hd = shapes[s][3];
        size_t nq = (size_t)T * nh * hd, nk = (size_t)T * nkv * hd, n = nq + 2 * nk;
        float *in = malloc(sizeof(float) * n), *dy = malloc(sizeof(float) * nq);
        float *g = malloc(sizeof(float) * n);
        double *ind = malloc(sizeof(double) * n), *dyd = malloc(sizeof(double) * nq);
        double *fd = malloc(sizeof(double) * n);
        fill(in, n, -1.5f, 1.5f, &r);
        fill(dy, nq, -1, 1, &r);
        for (int threads = 1; threads <= 2; threads++) {
            float *scratch = malloc(sizeof(float) * rb_attention_backward_scratch_floats(T) * threads);
            for (size_t i = 0; i < n; i++) g[i] = NAN; /* written, not accumulated */
            rb_attention_backward(g, g + nq, g + nq + nk, dy, in, in + nq, in + nq + nk, T, nh,
                                  nkv, hd, scratch, threads);
            free(scratch);
            att_ctx c = {T, nh, nkv, hd, to_double(dy, nq, dyd)};
            finite_diff(fd, to_double(in, n, ind), n, attention_loss, &c);
            char what[64];
            snprintf(what, sizeof what, "attention T %d heads %d/%d hd %d dq", T, nh, nkv, hd);
            expect_grad(g, fd, nq, KERNEL_TOL, 1e-12, what);
            snprintf(what, sizeof what, "attention T %d heads %d/%d hd %d dk", T, nh, nkv, hd);
            expect_grad(g + nq, fd + nq, nk, KERNEL_TOL, 1e-12, what);
            snprintf(what, sizeof what, "attention T %d heads %d/%d hd %d dv", T, nh, nkv, hd);
            expect_grad(g + nq + nk, fd + nq + nk, nk, KERNEL_TOL, 1e-12, what);
        }
        free(in); free(dy); free(g); free(ind); free(dyd); free(fd);
    }
}

/* ---- softmax cross-entropy ------------------------------------------------- */

typedef struct { int rows, cols; const int32_t *target; double scale; } xent_ctx;

static double xent_loss(const double *in, const void *p) {
    const xent_ctx *c = p;
    double L = 0;
    for (int r = 0; r < c->rows; r++) {
        if (c->target[r] < 0) continue;
        const double *l = in + (size_t)r * c->cols;
        double s = 0;
        for (int j = 0; j < c->cols; j++) s += exp(l[j]);
        L += log(s) - l[c->target[r]];
    }
    return c->scale * L;
}

Test(backward, softmax_cross_entropy) {
    rb_rng r;
    rb_rng_seed(&r, 6);
    const int rows = 4, cols = 29;
    const int32_t target[4] = {3, -1, 28, 0};
    size_t n = (size_t)rows * cols;
    float *l = malloc(sizeof(float) * n), *g = malloc(sizeof(float) * n);
    double *ind = malloc(sizeof(double) * n), *fd = malloc(sizeof(double) * n);
    fill(l, n, -4, 4, &r);
    double total = rb_softmax_xent_backward(g, l, target, rows, cols, 0.37f);
    xent_ctx c = {rows, cols, target, 0.37};
    to_double(l, n, ind);
    cr_expect_lt(fabs(total * 0.37 - xent_loss(ind, &c)), 1e-5 * fabs(total),
                 "returned NLL %g vs %g", total * 0.37, xent_loss(ind, &c));
    finite_diff(fd, ind, n, xent_loss, &c);
    expect_grad(g, fd, n, KERNEL_TOL, 1e-12, "softmax cross-entropy");
    for (int j = 0; j < cols; j++) cr_expect_eq(g[cols + j], 0.0f, "unscored row has a gradient");
    free(l); free(g); free(ind); free(fd);
}

/* ---- the whole model ------------------------------------------------------- */

typedef struct model_case {
    const char *name;
    int dim, hidden, layers, heads, kv, vocab, T;
    int online; /* 0 none; 1 Hadamards R3, R4, heads; 2 R3 + dense q/k + dense down + heads */
    int untie;
    int arch; /* 0: rb_test_synth of the sizes above; k > 0: rb_test_arch_model(k − 1)
               * (its own dim, hidden, heads; layers and vocab from above) */
} model_case;

static rb_model *case_model(const model_case *mc) {
    rb_model *m = mc->arch ? rb_test_arch_model((rb_test_arch)(mc->arch - 1), mc->layers, mc->vocab, 7)
                           : rb_test_synth(mc->dim, mc->hidden, mc->layers, mc->heads, mc->kv,
                                           mc->vocab, 7);
    rb_error err = {0};
    if (mc->untie) cr_assert_eq(rb_model_untie_classifier(m, &err), RB_OK);
    if (mc->online == 1) cr_assert_eq(rb_rotate_online(m, 1, 1, 1, &err), RB_OK, "%s", err.msg);
    if (mc->online == 2) {
        int L = mc->layers, hd = m->cfg.head_dim, H = m->cfg.hidden_dim;
        float *qk = malloc(sizeof(float) * L * hd * hd), *down = malloc(sizeof(float) * L * H * H);
        for (int l = 0; l < L; l++) {
            cr_assert_eq(rb_rotation_matrix(RB_ROT_RANDOM_ORTHOGONAL, hd, 10 + l, qk + l * hd * hd, &err), RB_OK);
            cr_assert_eq(rb_rotation_matrix(RB_ROT_RANDOM_ORTHOGONAL, H, 20 + l, down + l * H * H, &err), RB_OK);
        }
        cr_assert_eq(rb_rotate_online(m, 1, 0, 1, &err), RB_OK, "%s", err.msg);
        cr_assert_eq(rb_rotate_online_dense(m, qk, down, &err), RB_OK, "%s", err.msg);
        free(qk);
        free(down);
    }
    return m;
}

typedef struct tensor_ref {
    char name[48];
    const float *w;         /* the model's tensor */
    const float *g, *g2;    /* its gradient (g2: a tied classifier's, added) */
    size_t n;
} tensor_ref;

static int model_tensors(const rb_model *m, const rb_grads *g, tensor_ref *out) {
    const rb_config *c = &m->cfg;
    int n = 0;
    size_t emb = (size_t)c->vocab_size * c->dim;
    out[n++] = (tensor_ref){"token_embedding", m->token_embedding, g->token_embedding,
                            m->classifier_shared ? g->classifier : NULL, emb};
    for (int l = 0; l < c->n_layers; l++) {
        tensor_ref *t = &out[n++];
        *t = (tensor_ref){"", m->layers[l].attn_norm, g->layers[l].attn_norm, NULL, (size_t)c->dim};
        snprintf(t->name, sizeof t->name, "layer %d attn_norm", l);
        t = &out[n++];
        *t = (tensor_ref){"", m->layers[l].ffn_norm, g->layers[l].ffn_norm, NULL, (size_t)c->dim};
        snprintf(t->name, sizeof t->name, "layer %d ffn_norm", l);
        for (int id = 0; id < RB_LINEAR_COUNT; id++) {
            rb_weight_view w = rb_model_weight(m, l, (rb_linear_id)id);
            rb_weight_view gw = rb_grads_weight(g, l, (rb_linear_id)id);
            t = &out[n++];
            *t = (tensor_ref){"", w.w, gw.w, NULL, (size_t)w.rows * w.cols};
            snprintf(t->name, sizeof t->name, "layer %d %s", l, rb_linear_name((rb_linear_id)id));
        }
        if (!c->qkv_bias) continue;
        const float *bias[3] = {m->layers[l].bq, m->layers[l].bk, m->layers[l].bv};
        const float *gb[3] = {g->layers[l].bq, g->layers[l].bk, g->layers[l].bv};
        for (int k = 0; k < 3; k++) {
            t = &out[n++];
            *t = (tensor_ref){"", bias[k], gb[k], NULL,
                              (size_t)(k ? c->n_kv_heads : c->n_heads) * c->head_dim};
            snprintf(t->name, sizeof t->name, "layer %d b%c", l, "qkv"[k]);
        }
    }
    out[n++] = (tensor_ref){"final_norm", m->final_norm, g->final_norm, NULL, (size_t)c->dim};
    if (!m->classifier_shared)
        out[n++] = (tensor_ref){"classifier", m->classifier, g->classifier, NULL, emb};
    return n;
}

static float grad_at(const tensor_ref *t, size_t i) { return t->g[i] + (t->g2 ? t->g2[i] : 0.0f); }

/* Compares the analytic gradient of every tensor at 6 sampled entries (4
 * random, the largest analytic one, and for the embedding a row of a token
 * in the window) with float64 finite differences of ref_mean_nll. */
static void check_model_gradient(const model_case *mc) {
    rb_model *m = case_model(mc);
    const rb_config *c = &m->cfg;
    rb_rng r;
    rb_rng_seed(&r, 99);
    int32_t tok[64];
    for (int t = 0; t < mc->T; t++) tok[t] = (int32_t)rb_rng_below(&r, (uint64_t)c->vocab_size);
    rb_train_ws ws;
    rb_grads g;
    rb_error err = {0};
    cr_assert_eq(rb_train_ws_init(&ws, c, mc->T, &err), RB_OK, "%s", err.msg);
    cr_assert_eq(rb_grads_init(&g, c, &err), RB_OK, "%s", err.msg);
    double loss;
    cr_assert_eq(rb_train_forward(m, &ws, tok, mc->T, NULL, &loss, &err), RB_OK, "%s", err.msg);
    double ref = ref_mean_nll(m, tok, mc->T);
    cr_expect_lt(fabs(loss - ref), 1e-5 * ref, "%s: training loss %.9g vs reference %.9g",
                 mc->name, loss, ref);
    cr_assert_eq(rb_train_backward(m, &ws, 1.0f, &g, &err), RB_OK, "%s", err.msg);

    tensor_ref ts[4 + 32 * 12];
    int nt = model_tensors(m, &g, ts);
    for (int i = 0; i < nt; i++) {
        const tensor_ref *t = &ts[i];
        size_t idx[6], big = 0;
        for (size_t j = 0; j < t->n; j++) big = fabsf(grad_at(t, j)) > fabsf(grad_at(t, big)) ? j : big;
        for (int s = 0; s < 4; s++) idx[s] = (size_t)rb_rng_below(&r, t->n);
        idx[4] = big;
        idx[5] = i == 0 ? (size_t)tok[mc->T / 2] * c->dim + rb_rng_below(&r, (uint64_t)c->dim)
                        : (size_t)rb_rng_below(&r, t->n);
        float ga[6];
        double fd[6];
        for (int s = 0; s < 6; s++) {
            ref_delta d = {t->w, NULL, idx[s]};
            double up = ref_mean_nll_delta(m, tok, mc->T, &d, 1, FD_H);
            double down = ref_mean_nll_delta(m, tok, mc->T, &d, 1, -FD_H);
            fd[s] = (up - down) / (2 * FD_H);
            ga[s] = grad_at(t, idx[s]);
        }
        /* floor: entries far below the tensor's largest gradient compare in absolute terms */
        double floor = 1e-2 * fabs(grad_at(t, big)) + 1e-9;
        char what[160];
        snprintf(what, sizeof what, "%.60s: %.60s", mc->name, t->name);
        expect_grad(ga, fd, 6, MODEL_TOL, floor, what);
    }
    rb_grads_free(&g);
    rb_train_ws_free(&ws);
    rb_model_free(m);
}

Test(backward, model_gqa_odd_heads_tied, .timeout = 120) {
    model_case mc = {"gqa 3/1 heads, tied", 24, 40, 2, 3, 1, 31, 9, 0, 0, 0};
    check_model_gradient(&mc);
}

Test(backward, model_mha_five_heads_untied, .timeout = 120) {
    model_case mc = {"mha 5 heads, untied", 40, 36, 2, 5, 5, 29, 8, 0, 1, 0};
    check_model_gradient(&mc);
}

Test(backward, model_online_hadamards, .timeout = 120) {
    /* head_dim 12 and hidden 56 = 28·2: Kronecker sizes whose H is not symmetric */
    model_case mc = {"online Hadamards", 48, 56, 2, 4, 2, 37, 9, 1, 1, 0};
    check_model_gradient(&mc);
}

Test(backward, model_online_dense, .timeout = 120) {
    model_case mc = {"online dense q/k and down", 48, 40, 2, 4, 2, 37, 9, 2, 1, 0};
    check_model_gradient(&mc);
}

/* Biases, untied classifier, GQA, llama3 RoPE scaling and head_dim 16 with
 * dim 48, with QuaRot's online Hadamards on top: the bias gradients and the
 * scaled RoPE's backward against finite differences of the float64
 * reference (which computes the scaled frequencies itself). */
Test(backward, model_all_architecture_variants, .timeout = 120) {
    model_case mc = {"biases, untied, GQA, llama3 RoPE, head_dim 16 ≠ 48/4, online", 0, 0, 2, 0,
                     0, 37, 24, 1, 0, 1 + RB_TEST_ALL};
    check_model_gradient(&mc);
}

Test(backward, model_qwen2_biases_tied, .timeout = 120) {
    model_case mc = {"qwen2-shaped: biases, tied, GQA 3:1", 0, 0, 2, 0, 0, 31, 12, 0, 0,
                     1 + RB_TEST_QWEN2};
    check_model_gradient(&mc);
}

/* ---- the training forward against rb_forward ------------------------------ */

static double forward_loss(const rb_model *m, const int32_t *tok, int T, const rb_hooks *h) {
    rb_workspace ws;
    rb_error err = {0};
    cr_assert_eq(rb_workspace_init(&ws, &m->cfg, T, &err), RB_OK);
    cr_assert_eq(rb_forward(m, &ws, tok, T, h, &err), RB_OK, "%s", err.msg);
    double *nll = malloc(sizeof(double) * T), total = 0;
    rb_nll_rows(nll, ws.logits, tok + 1, T - 1, m->cfg.vocab_size);
    for (int t = 0; t + 1 < T; t++) total += nll[t];
    free(nll);
    rb_workspace_free(&ws);
    return total / (T - 1);
}

Test(backward, training_loss_is_the_forward_loss_with_hooks, .timeout = 120) {
    /* stories260K after QuaRot (online Hadamards, 172-point R4), with
     * activations and the KV cache fake-quantized at 4 bits */
    rb_model *m = rb_test_stories_or_synth();
    rb_error err = {0};
    rb_pipeline p;
    cr_assert_eq(rb_pipeline_parse("quarot", &p, &err), RB_OK);
    rb_quant_config q;
    rb_quant_config_init(&q);
    q.a = (rb_quant_spec){4, 0, RB_GRAN_ROW, 0, 1.0f, 0};
    q.kv = (rb_quant_spec){4, 1, RB_GRAN_ROW, 0, 1.0f, 0};
    cr_assert_eq(rb_prepare_model(m, &p, &q, NULL, 3, 0, &err), RB_OK, "%s", err.msg);
    rb_hooks h;
    rb_quant_hooks(&q, &h);
    const int T = 64;
    int32_t tok[64];
    for (int t = 0; t < T; t++) tok[t] = (int32_t)((t * 53 + 7) % m->cfg.vocab_size);
    rb_train_ws ws;
    cr_assert_eq(rb_train_ws_init(&ws, &m->cfg, T, &err), RB_OK);
    const rb_hooks *hooks[2] = {NULL, &h};
    double losses[2];
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(rb_train_forward(m, &ws, tok, T, hooks[i], &losses[i], &err), RB_OK, "%s", err.msg);
        double want = forward_loss(m, tok, T, hooks[i]);
        cr_expect_lt(fabs(losses[i] - want), 1e-6 * want, "hooks %d: training loss %.9g, forward %.9g",
                     i, losses[i], want);
    }
    cr_expect_gt(fabs(losses[1] - losses[0]), 1e-4, "the 4-bit hooks did not change the loss");
    /* straight-through gradients exist and are close to the fp32 ones at 8 bits */
    rb_grads g0, g1;
    cr_assert_eq(rb_grads_init(&g0, &m->cfg, &err), RB_OK);
    cr_assert_eq(rb_grads_init(&g1, &m->cfg, &err), RB_OK);
    cr_assert_eq(rb_train_forward(m, &ws, tok, T, NULL, &losses[0], &err), RB_OK);
    cr_assert_eq(rb_train_backward(m, &ws, 1.0f, &g0, &err), RB_OK);
    q.a.bits = q.kv.bits = 8;
    cr_assert_eq(rb_train_forward(m, &ws, tok, T, &h, &losses[1], &err), RB_OK);
    cr_assert_eq(rb_train_backward(m, &ws, 1.0f, &g1, &err), RB_OK);
    double d = rb_test_rel_rms(g1.arena, g0.arena, g0.n_floats);
    cr_expect_lt(d, 0.05, "8-bit STE gradient differs from fp32 by %g (relative RMS)", d);
    cr_expect_gt(d, 0.0, "the 8-bit hooks had no effect on the gradient");
    rb_grads_free(&g0);
    rb_grads_free(&g1);
    rb_train_ws_free(&ws);
    rb_quant_config_free(&q);
    rb_model_free(m);
}

Test(backward, accumulates_and_refuses_misuse) {
    rb_model *m = rb_test_synth(16, 24, 1, 2, 1, 19, 3);
    const rb_config *c = &m->cfg;
    int32_t tok[6] = {1, 5, 7, 18, 0, 3};
    rb_train_ws ws;
    rb_grads a, b;
    rb_error err = {0};
    cr_assert_eq(rb_train_ws_init(&ws, c, 6, &err), RB_OK);
    cr_assert_eq(rb_grads_init(&a, c, &err), RB_OK);
    cr_assert_eq(rb_grads_init(&b, c, &err), RB_OK);
    double loss;
    cr_expect_eq(rb_train_backward(m, &ws, 1.0f, &a, &err), RB_EINVAL, "backward without forward");
    cr_expect_eq(rb_train_forward(m, &ws, tok, 1, NULL, &loss, &err), RB_EINVAL);
    cr_expect_eq(rb_train_forward(m, &ws, tok, 7, NULL, &loss, &err), RB_EINVAL);
    int32_t badtok[2] = {0, 19};
    cr_expect_eq(rb_train_forward(m, &ws, badtok, 2, NULL, &loss, &err), RB_EINVAL);
    /* two half-scaled backward passes add up to one full one */
    cr_assert_eq(rb_train_forward(m, &ws, tok, 6, NULL, &loss, &err), RB_OK);
    cr_assert_eq(rb_train_backward(m, &ws, 1.0f, &a, &err), RB_OK);
    cr_expect_eq(rb_train_backward(m, &ws, 1.0f, &a, &err), RB_EINVAL, "second backward");
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(rb_train_forward(m, &ws, tok, 6, NULL, &loss, &err), RB_OK);
        cr_assert_eq(rb_train_backward(m, &ws, 0.5f, &b, &err), RB_OK);
    }
    double d = rb_test_rel_maxdiff(b.arena, a.arena, a.n_floats, 1e-6);
    cr_expect_lt(d, 1e-6, "accumulated gradient differs by %g", d);
    rb_grads_zero(&b);
    for (size_t i = 0; i < b.n_floats; i++) cr_assert_eq(b.arena[i], 0.0f);
    rb_grads_free(&a);
    rb_grads_free(&b);
    rb_train_ws_free(&ws);
    rb_model_free(m);
}
