/* SpinQuant: the Cayley step keeps R orthogonal and descends; the gradients
 * with respect to R1 and R2 match float64 finite differences of the
 * reference forward along skew (tangent) directions; learning lowers the
 * quantized loss and leaves ‖RᵀR − I‖ ≤ 1e-5; rotations save, reload and
 * reproduce the learned model; bad rotation files are refused; the fp32
 * model is preserved. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/quant.h"
#include "core/train.h"
#include "methods/prepare.h"
#include "methods/rotate.h"
#include "methods/rotation_desc.h"
#include "methods/spin_train.h"
#include "methods/spinquant.h"
#include "tests/ref_forward.h"
#include "tests/test_models.h"
#include "tests/test_util.h"

static double frob_dot(const double *a, const double *b, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

/* A random orthogonal-ish start: R = Cayley of a random skew matrix. */
static void random_orthogonal(double *R, int n, rb_rng *r) {
    double *G = malloc(sizeof(double) * n * n);
    memset(R, 0, sizeof(double) * n * n);
    for (int i = 0; i < n; i++) R[i * n + i] = 1;
    for (int i = 0; i < n * n; i++) G[i] = rb_rng_normal(r);
    cr_assert_eq(rb_cayley_step(R, G, n, 0.5, NULL), RB_OK);
    free(G);
}

/* D = Ω·R with Ω skew and random: a tangent direction of the manifold at R. */
static void skew_direction(double *D, const double *R, int n, rb_rng *r) {
    double *O = malloc(sizeof(double) * n * n);
    for (int i = 0; i < n; i++) {
        O[i * n + i] = 0;
        for (int j = 0; j < i; j++) {
            O[i * n + j] = rb_rng_normal(r);
            O[j * n + i] = -O[i * n + j];
        }
    }
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            double s = 0;
            for (int k = 0; k < n; k++) s += O[i * n + k] * R[k * n + j];
            D[i * n + j] = s;
        }
    free(O);
}

Test(spinquant, cayley_step_is_orthogonal_and_descends) {
    rb_rng r;
    rb_rng_seed(&r, 1);
    const int n = 13;
    double R[13 * 13], G[13 * 13], R0[13 * 13];
    random_orthogonal(R, n, &r);
    cr_expect_lt(rb_spin_orthogonality_error(R, n), 1e-13);
    for (int i = 0; i < n * n; i++) G[i] = rb_rng_normal(&r);
    /* f(R) = ⟨G, R⟩ has gradient G; a small step lowers it by ≈ α/2·‖W‖² */
    double W2 = 0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            double gi = 0, gj = 0; /* (G·Rᵀ)_ij and (G·Rᵀ)_ji */
            for (int k = 0; k < n; k++) gi += G[i * n + k] * R[j * n + k], gj += G[j * n + k] * R[i * n + k];
            W2 += (gi - gj) * (gi - gj);
        }
    memcpy(R0, R, sizeof R);
    const double lr = 1e-5;
    cr_assert_eq(rb_cayley_step(R, G, n, lr, NULL), RB_OK);
    double df = frob_dot(G, R, n * n) - frob_dot(G, R0, n * n);
    cr_expect_lt(fabs(df / (-lr / 2 * W2) - 1), 1e-3, "decrease %g, predicted %g", df, -lr / 2 * W2);
    cr_expect_lt(rb_spin_orthogonality_error(R, n), 1e-13);
    /* a huge learning rate is capped and stays orthogonal */
    for (int s = 0; s < 50; s++) cr_assert_eq(rb_cayley_step(R, G, n, 1e6, NULL), RB_OK);
    cr_expect_lt(rb_spin_orthogonality_error(R, n), 1e-12);
    cr_expect_lt(frob_dot(G, R, n * n), frob_dot(G, R0, n * n));
}

/* The reference's SGDG step for a square parameter, written out as
 * train_utils/optimizer.py reads (unity = R with unit rows; V = μV − Gᵀ;
 * MX = V·X; XMX = X·MX; XXMX = Xᵀ·XMX; Ŵ = MX − ½XXMX; W = Ŵ − Ŵᵀ;
 * t = 1/(‖W‖₁ + 1e-8); α = min(t, lr); Y = Xᵀ + α·V, then Y = Xᵀ +
 * α·W·(Xᵀ + Y)/2 repeated (5 times there, `loops` here); R = Yᵀ; V = W·Xᵀ),
 * with plain loops in float64. */
static void sgdg_reference(double *R, double *V, const double *G, int n, double lr, double mu,
                           int loops) {
    size_t nn = (size_t)n * n;
    double *X = malloc(sizeof(double) * nn), *MX = malloc(sizeof(double) * nn);
    double *T = malloc(sizeof(double) * nn), *W = malloc(sizeof(double) * nn);
    double *Y = malloc(sizeof(double) * nn), *Z = malloc(sizeof(double) * nn);
    for (int i = 0; i < n; i++) {
        double nr = 0;
        for (int j = 0; j < n; j++) nr += R[i * n + j] * R[i * n + j];
        for (int j = 0; j < n; j++) X[i * n + j] = R[i * n + j] / (sqrt(nr) + 1e-8);
    }
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) V[i * n + j] = mu * V[i * n + j] - G[j * n + i];
#define MM(C, A, At, B, Bt) /* C = op(A)·op(B) */                                          \
    for (int i = 0; i < n; i++)                                                           \
        for (int j = 0; j < n; j++) {                                                     \
            double acc = 0;                                                               \
            for (int k = 0; k < n; k++)                                                   \
                acc += (At ? A[k * n + i] : A[i * n + k]) * (Bt ? B[j * n + k] : B[k * n + j]); \
            C[i * n + j] = acc;                                                           \
        }
    MM(MX, V, 0, X, 0);
    MM(T, X, 0, MX, 0);  /* XMX */
    MM(Y, X, 1, T, 0);   /* XXMX */
    for (size_t i = 0; i < nn; i++) T[i] = MX[i] - 0.5 * Y[i]; /* Ŵ */
    double norm1 = 0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) W[i * n + j] = T[i * n + j] - T[j * n + i];
    for (int j = 0; j < n; j++) {
        double col = 0;
        for (int i = 0; i < n; i++) col += fabs(W[i * n + j]);
        norm1 = col > norm1 ? col : norm1;
    }
    double t = 0.5 * 2 / (norm1 + 1e-8), a = t < lr ? t : lr;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) Y[i * n + j] = X[j * n + i] + a * V[i * n + j];
    for (int it = 0; it < loops; it++) {
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) Z[i * n + j] = 0.5 * (X[j * n + i] + Y[i * n + j]);
        MM(T, W, 0, Z, 0);
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) Y[i * n + j] = X[j * n + i] + a * T[i * n + j];
    }
    MM(T, W, 0, X, 1); /* V = W·Xᵀ */
#undef MM
    memcpy(V, T, sizeof(double) * nn);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) R[i * n + j] = Y[j * n + i];
    free(X); free(MX); free(T); free(W); free(Y); free(Z);
}

Test(spinquant, sgdg_step_matches_the_reference_optimizer) {
    rb_rng r;
    rb_rng_seed(&r, 5);
    const int n = 11;
    double R[11 * 11], Rr[11 * 11], V[11 * 11] = {0}, Vr[11 * 11] = {0}, G[11 * 11];
    random_orthogonal(R, n, &r);
    memcpy(Rr, R, sizeof R);
    /* three steps with momentum, one huge (capped) lr: the exact Cayley
     * solve is the limit of the reference's fixed-point loop */
    const double lrs[3] = {0.05, 0.2, 1e6};
    for (int s = 0; s < 3; s++) {
        for (int i = 0; i < n * n; i++) G[i] = rb_rng_normal(&r);
        cr_assert_eq(rb_sgdg_step(R, V, G, n, lrs[s], 0.9, NULL), RB_OK);
        sgdg_reference(Rr, Vr, G, n, lrs[s], 0.9, 200);
        double dr = 0, dv = 0;
        for (int i = 0; i < n * n; i++) {
            dr = fmax(dr, fabs(R[i] - Rr[i]));
            dv = fmax(dv, fabs(V[i] - Vr[i]));
        }
        /* the reference's unit() divides the rows by ‖r‖ + 1e-8: a 1e-8 relative difference */
        cr_expect_lt(dr, 3e-8, "step %d: R differs from the reference by %g", s, dr);
        cr_expect_lt(dv, 3e-8, "step %d: V differs from the reference by %g", s, dv);
        cr_expect_lt(rb_spin_orthogonality_error(R, n), 1e-13);
    }
    /* with 5 loops (the reference's) and a small step the two agree closely too */
    for (int i = 0; i < n * n; i++) G[i] = rb_rng_normal(&r);
    memcpy(Rr, R, sizeof R);
    memcpy(Vr, V, sizeof V);
    cr_assert_eq(rb_sgdg_step(R, V, G, n, 0.01, 0.0, NULL), RB_OK);
    sgdg_reference(Rr, Vr, G, n, 0.01, 0.0, 5);
    for (int i = 0; i < n * n; i++) cr_expect_lt(fabs(R[i] - Rr[i]), 3e-8);
    /* first order, μ = 0: f(R) = ⟨G, R⟩ decreases by ≈ α/4·‖W‖² (half the cayley step) */
    double R0[11 * 11], Vz[11 * 11] = {0}, W2 = 0;
    memcpy(R0, R, sizeof R);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            double gi = 0, gj = 0;
            for (int k = 0; k < n; k++) gi += G[i * n + k] * R[j * n + k], gj += G[j * n + k] * R[i * n + k];
            W2 += (gi - gj) * (gi - gj);
        }
    cr_assert_eq(rb_sgdg_step(R, Vz, G, n, 1e-5, 0.0, NULL), RB_OK);
    double df = frob_dot(G, R, n * n) - frob_dot(G, R0, n * n);
    cr_expect_lt(fabs(df / (-1e-5 / 4 * W2) - 1), 1e-3, "decrease %g, predicted %g", df,
                 -1e-5 / 4 * W2);
}

/* Without momentum the velocity may be left out (V = NULL, one product
 * less, R ← 2·A⁻¹·Rᵀ − Rᵀ): the same R as with a zero velocity. */
Test(spinquant, sgdg_step_without_velocity_matches) {
    rb_rng r;
    rb_rng_seed(&r, 9);
    const int n = 13;
    double R[13 * 13], Rv[13 * 13], V[13 * 13] = {0}, G[13 * 13];
    random_orthogonal(R, n, &r);
    memcpy(Rv, R, sizeof R);
    const double lrs[3] = {0.05, 0.3, 1e6};
    for (int s = 0; s < 3; s++) {
        for (int i = 0; i < n * n; i++) G[i] = rb_rng_normal(&r);
        memset(V, 0, sizeof V);
        cr_assert_eq(rb_sgdg_step(Rv, V, G, n, lrs[s], 0.0, NULL), RB_OK);
        cr_assert_eq(rb_sgdg_step(R, NULL, G, n, lrs[s], 0.0, NULL), RB_OK);
        double d = 0;
        for (int i = 0; i < n * n; i++) d = fmax(d, fabs(R[i] - Rv[i]));
        cr_expect_lt(d, 1e-13, "step %d: R without a velocity differs by %g", s, d);
        cr_expect_lt(rb_spin_orthogonality_error(R, n), 1e-13);
    }
    rb_error err = {0};
    cr_expect_eq(rb_sgdg_step(R, NULL, G, n, 0.1, 0.5, &err), RB_EINVAL);
}

/* A base model as the stage builds it from m: norms folded, online
 * Hadamards on. */
static rb_model *spin_base_of(rb_model *m) {
    rb_error err = {0};
    cr_assert_eq(rb_rotate_fuse_norms(m, &err), RB_OK, "%s", err.msg);
    cr_assert_eq(rb_rotate_online(m, 1, 1, 1, &err), RB_OK, "%s", err.msg);
    return m;
}

static rb_model *spin_base(void) {
    /* dim 32 (R1), head_dim 8 (R2, R3), 4 heads over 2 kv heads, hidden 40 = 20·2 (R4) */
    return spin_base_of(rb_test_synth(32, 40, 2, 4, 2, 29, 11));
}

/* The perturbations of every weight tensor of `at` along the matching
 * tensors of `dir`; only wv and wo when values_only. */
static int deltas(const rb_model *at, const rb_model *dir, int values_only, ref_delta *d) {
    const rb_config *c = &at->cfg;
    int n = 0;
    if (!values_only) {
        d[n++] = (ref_delta){at->token_embedding, dir->token_embedding, 0};
        d[n++] = (ref_delta){at->classifier, dir->classifier, 0};
    }
    for (int l = 0; l < c->n_layers; l++)
        for (int id = 0; id < RB_LINEAR_COUNT; id++) {
            if (values_only && id != RB_WV && id != RB_WO) continue;
            d[n++] = (ref_delta){rb_model_weight(at, l, (rb_linear_id)id).w,
                                 rb_model_weight(dir, l, (rb_linear_id)id).w, 0};
        }
    /* bv' = R2ᵀ·bv is linear in R2 and does not depend on R1 */
    for (int l = 0; values_only && c->qkv_bias && l < c->n_layers; l++)
        d[n++] = (ref_delta){at->layers[l].bv, dir->layers[l].bv, 0};
    return n;
}

static void to_f(float *d, const double *s, size_t n) {
    for (size_t i = 0; i < n; i++) d[i] = (float)s[i];
}

static void check_rotation_grads(rb_model *base, int acts);

Test(spinquant, rotation_gradients_match_finite_differences, .timeout = 120) {
    check_rotation_grads(spin_base(), 0);
}

/* With q/k/v biases (R2 reaches bv), untied classifier, GQA, llama3 RoPE
 * scaling and head_dim 16 ≠ 48/4. */
Test(spinquant, rotation_gradients_on_variant_model, .timeout = 120) {
    check_rotation_grads(spin_base_of(rb_test_arch_model(RB_TEST_ALL, 2, 29, 12)), 0);
}

/* The same finite differences for the rotated-activation path's gradients. */
Test(spinquant, activation_path_gradients_match_finite_differences, .timeout = 120) {
    check_rotation_grads(spin_base(), 1);
    check_rotation_grads(spin_base_of(rb_test_arch_model(RB_TEST_ALL, 2, 29, 12)), 1);
}

/* Checks the rotation gradients at random R1, R2 on base (freed): those of
 * rb_spin_rotation_grads, or with acts those of rb_spin_backward. */
static void check_rotation_grads(rb_model *base, int acts) {
    rb_model *work, *dir;
    const rb_config *c = &base->cfg;
    rb_error err = {0};
    cr_assert_eq(rb_model_clone(base, &work, &err), RB_OK);
    cr_assert_eq(rb_model_clone(base, &dir, &err), RB_OK);
    rb_spin_rotations rot;
    cr_assert_eq(rb_spin_rotations_init(&rot, c, 5, &err), RB_OK, "%s", err.msg);
    size_t n1 = (size_t)c->dim * c->dim, n2 = (size_t)c->n_layers * c->head_dim * c->head_dim;
    float *R1 = malloc(sizeof(float) * n1), *R2 = malloc(sizeof(float) * n2);
    float *D1f = malloc(sizeof(float) * n1), *D2f = malloc(sizeof(float) * n2);
    double *gR1 = malloc(sizeof(double) * n1), *gR2 = malloc(sizeof(double) * n2);
    double *D1 = malloc(sizeof(double) * n1), *D2 = malloc(sizeof(double) * n2);
    to_f(R1, rot.R1, n1);
    to_f(R2, rot.R2, n2);
    cr_assert_eq(rb_spin_effective(work, base, R1, R2, &err), RB_OK, "%s", err.msg);
    int32_t tok[11];
    rb_rng r;
    rb_rng_seed(&r, 3);
    for (int t = 0; t < 11; t++) tok[t] = (int32_t)rb_rng_below(&r, (uint64_t)c->vocab_size);
    rb_train_ws ws;
    rb_grads g;
    double loss;
    cr_assert_eq(rb_train_ws_init(&ws, c, 11, &err), RB_OK);
    cr_assert_eq(rb_grads_init(&g, c, &err), RB_OK);
    cr_assert_eq(rb_train_forward(work, &ws, tok, 11, NULL, &loss, &err), RB_OK, "%s", err.msg);
    cr_assert_eq(rb_train_backward(work, &ws, 1.0f, &g, &err), RB_OK);
    cr_assert_eq(rb_spin_rotation_grads(base, R1, R2, &g, gR1, gR2, &err), RB_OK);
    if (acts) {
        rb_spin_ws sws;
        float *a1 = calloc(n1, sizeof(float)), *a2 = calloc(n2, sizeof(float));
        double l2;
        cr_assert_eq(rb_spin_ws_init(&sws, c, 11, &err), RB_OK);
        cr_assert_eq(rb_spin_forward(base, &sws, R1, R2, tok, 11, NULL, &l2, &err), RB_OK, "%s",
                     err.msg);
        cr_assert_eq(rb_spin_backward(base, &sws, 1.0f, a1, a2, &err), RB_OK);
        for (size_t i = 0; i < n1; i++) gR1[i] = a1[i];
        for (size_t i = 0; i < n2; i++) gR2[i] = a2[i];
        rb_spin_ws_free(&sws);
        free(a1);
        free(a2);
    }

    /* The effective weights are linear in R1 (and in R2), so the model moved
     * along a direction D is work + ε·f(base, D, R2) exactly: finite
     * differences of the float64 reference along it.  In fp32 (no
     * quantizers: finite differences of a quantized loss are meaningless)
     * the loss is invariant under orthogonal R, so along a tangent
     * direction D = Ω·R (Ω skew) both sides vanish; a general direction
     * checks the Euclidean gradient itself. */
    const double h = 1e-6;
    ref_delta d[2 + 2 * 2 * RB_LINEAR_COUNT + 2];
    for (int which = 0; which < 2; which++)
        for (int tangent = 0; tangent < 2; tangent++) {
            size_t n = which ? n2 : n1;
            double *D = which ? D2 : D1;
            float *Df = which ? D2f : D1f;
            const double *G = which ? gR2 : gR1;
            if (!which && tangent) skew_direction(D1, rot.R1, c->dim, &r);
            for (int l = 0; which && tangent && l < c->n_layers; l++) {
                size_t o = (size_t)l * c->head_dim * c->head_dim;
                skew_direction(D2 + o, rot.R2 + o, c->head_dim, &r);
            }
            if (!tangent)
                for (size_t i = 0; i < n; i++) D[i] = rb_rng_normal(&r) / sqrt(c->dim);
            to_f(Df, D, n);
            cr_assert_eq(rb_spin_effective(dir, base, which ? R1 : D1f, which ? D2f : R2, &err),
                         RB_OK);
            int nd = deltas(work, dir, which, d);
            double fd = (ref_mean_nll_delta(work, tok, 11, d, nd, h) -
                         ref_mean_nll_delta(work, tok, 11, d, nd, -h)) / (2 * h);
            double an = 0, gnorm = 0;
            for (size_t i = 0; i < n; i++) an += G[i] * Df[i], gnorm += G[i] * G[i];
            gnorm = sqrt(gnorm);
            const char *name = which ? "R2" : "R1";
            if (getenv("RB_TEST_VERBOSE"))
                fprintf(stderr, "%s %s direction: analytic %.9g, finite differences %.9g, |G| %.3g\n",
                        name, tangent ? "tangent" : "general", an, fd, gnorm);
            if (!tangent) {
                /* tolerance: as in test_backward (float32 gradients; measured < 1e-5 here) */
                cr_expect_lt(fabs(an - fd), 1e-4 * fabs(fd), "%s: analytic %.9g, finite differences %.9g",
                             name, an, fd);
                cr_expect_gt(fabs(fd), 1e-3 * gnorm, "%s: the direction barely changes the loss", name);
                cr_expect_gt(fabs(an * (1 + 1e-3) - fd), 1e-4 * fabs(fd), "%s: the check cannot fail", name);
            } else {
                /* invariance: both ≈ 0 next to the gradient's size (float32 rounding) */
                cr_expect_lt(fabs(fd), 1e-4 * gnorm, "%s: fp32 loss changes along a rotation: %g", name, fd);
                cr_expect_lt(fabs(an), 1e-4 * gnorm, "%s: tangent derivative %g (|G| %g)", name, an, gnorm);
            }
        }

    rb_grads_free(&g);
    rb_train_ws_free(&ws);
    rb_spin_rotations_free(&rot);
    free(R1); free(R2); free(D1f); free(D2f); free(gR1); free(gR2); free(D1); free(D2);
    rb_model_free(base); rb_model_free(work); rb_model_free(dir);
}

/* The quantized loss of m on the calibration windows (4-bit activations and KV). */
static double quant_loss(const rb_model *m, const rb_calib *cal, rb_quant_config *q) {
    rb_hooks h;
    rb_quant_hooks(q, &h);
    rb_train_ws ws;
    rb_error err = {0};
    cr_assert_eq(rb_train_ws_init(&ws, &m->cfg, cal->window, &err), RB_OK);
    double total = 0, l;
    for (int w = 0; w < cal->n_windows; w++) {
        cr_assert_eq(rb_train_forward(m, &ws, cal->tokens + (size_t)w * cal->window, cal->window,
                                      &h, &l, &err), RB_OK, "%s", err.msg);
        total += l;
    }
    rb_train_ws_free(&ws);
    return total / cal->n_windows;
}

static rb_model *prepared(const rb_model *m, const char *pipeline, rb_quant_config *q,
                          const rb_calib *cal) {
    rb_model *t;
    rb_error err = {0};
    rb_pipeline p;
    cr_assert_eq(rb_model_clone(m, &t, &err), RB_OK);
    cr_assert_eq(rb_pipeline_parse(pipeline, &p, &err), RB_OK, "%s", err.msg);
    cr_assert_eq(rb_prepare_model(t, &p, q, cal, 7, 0, &err), RB_OK, "%s: %s", pipeline, err.msg);
    return t;
}

Test(spinquant, learning_lowers_the_quantized_loss_and_reloads, .timeout = 300) {
    rb_model *m = rb_test_stories_or_synth();
    rb_quant_config q;
    rb_quant_config_init(&q);
    /* 2-bit activations: at 4 bits the quantization error of this small model
     * is so small that the straight-through gradient is lost in rounding
     * noise (12 steps move the loss by ±0.2 nats either way, depending on
     * the seed and even on -O2 vs -O3); at 2 bits every seed tried (3..7,
     * both optimizers) falls by 0.6-2.5 nats */
    q.a = (rb_quant_spec){2, 0, RB_GRAN_ROW, 0, 1.0f, 0};
    q.kv = (rb_quant_spec){4, 1, RB_GRAN_ROW, 0, 1.0f, 0};
    rb_calib cal;
    rb_test_random_calib(&cal, m->cfg.vocab_size, 2, 64, 3);
    char rot[512], log[512], text[2048];
    rb_test_tmp_path("spin_rot.bin", rot, sizeof rot);
    rb_test_tmp_path("spin_loss.csv", log, sizeof log);
    /* iters=0 is the random-Hadamard start (QuaRot with per-layer R2) */
    rb_model *start = prepared(m, "spinquant:iters=0", &q, &cal);
    /* the plain Cayley SGD with a linear schedule (the defaults, SGDG and
     * cosine, are exercised by cosine_schedule_and_rtn_weights_while_learning) */
    snprintf(text, sizeof text,
             "spinquant:iters=12:lr=0.3:batch=2:optimizer=cayley:schedule=linear:"
             "save_rotations=%s:loss_log=%s",
             rot, log);
    rb_model *learned = prepared(m, text, &q, &cal);
    double l0 = quant_loss(start, &cal, &q), l1 = quant_loss(learned, &cal, &q);
    fprintf(stderr, "W16A2KV4 loss: random Hadamard %.5f, learned %.5f\n", l0, l1);
    cr_expect_lt(l1, l0 - 0.1, "learning did not lower the W16A2KV4 loss: %.5f -> %.5f", l0, l1);
    /* the saved rotations are orthogonal (the load validates 1e-6; the bound asked is 1e-5) */
    rb_spin_rotations r;
    rb_error err = {0};
    cr_assert_eq(rb_spin_rotations_load(&r, &m->cfg, rot, &err), RB_OK, "%s", err.msg);
    cr_expect_leq(rb_spin_orthogonality_error(r.R1, r.dim), 1e-5);
    for (int l = 0; l < r.n_layers; l++)
        cr_expect_leq(rb_spin_orthogonality_error(r.R2 + (size_t)l * r.head_dim * r.head_dim,
                                                  r.head_dim), 1e-5);
    rb_spin_rotations_free(&r);
    /* the loss log has a header and one line per iteration */
    FILE *f = fopen(log, "r");
    cr_assert(f);
    int lines = 0;
    for (int ch; (ch = fgetc(f)) != EOF;) lines += ch == '\n';
    fclose(f);
    cr_expect_eq(lines, 13);
    /* reloading gives the same model without learning */
    snprintf(text, sizeof text, "spinquant:rotations=%s:iters=1000000", rot);
    rb_model *reloaded = prepared(m, text, &q, NULL);
    float *a = rb_test_logits(learned, NULL), *b = rb_test_logits(reloaded, NULL);
    cr_expect_eq(memcmp(a, b, sizeof(float) * 48 * m->cfg.vocab_size), 0,
                 "reloaded rotations give different logits");
    free(a);
    free(b);
    /* and composes with a weight quantizer */
    rb_quant_config qw = q;
    qw.w = (rb_quant_spec){4, 0, RB_GRAN_ROW, 0, 1.0f, 0};
    snprintf(text, sizeof text, "spinquant:rotations=%s,gptq", rot);
    rb_model *gq = prepared(m, text, &qw, &cal);
    double lg = quant_loss(gq, &cal, &q);
    cr_expect(isfinite(lg) && fabs(lg - l1) < 1.5, "spinquant,gptq loss %g, without weight quantization %g", lg, l1);
    unlink(rot);
    unlink(log);
    rb_model_free(gq);
    rb_quant_config_free(&qw); /* the weight parameters gptq kept (core/quant.h) */
    rb_model_free(reloaded);
    rb_model_free(learned);
    rb_model_free(start);
    rb_calib_free(&cal);
    rb_model_free(m);
}

/* The reference's recipe pieces: a cosine learning rate (the loss log's lr
 * column) and learning under RTN weights, which lowers the loss of the
 * RTN-quantized model; learn_w=rtn without weight bits is refused. */
Test(spinquant, cosine_schedule_and_rtn_weights_while_learning, .timeout = 300) {
    rb_model *m = rb_test_stories_or_synth();
    rb_quant_config q;
    rb_quant_config_init(&q);
    q.w = (rb_quant_spec){4, 0, RB_GRAN_ROW, 0, 1.0f, 0};
    q.a = (rb_quant_spec){4, 0, RB_GRAN_ROW, 0, 1.0f, 0};
    q.kv = (rb_quant_spec){4, 1, RB_GRAN_ROW, 0, 1.0f, 0};
    rb_calib cal;
    rb_test_random_calib(&cal, m->cfg.vocab_size, 2, 64, 3);
    char log[512], text[1024];
    rb_test_tmp_path("spin_cos.csv", log, sizeof log);
    snprintf(text, sizeof text, "spinquant:iters=4:lr=0.8:batch=1:loss_log=%s", log);
    rb_model *t = prepared(m, text, &q, &cal);
    rb_model_free(t);
    FILE *f = fopen(log, "r");
    cr_assert(f);
    char line[256];
    cr_assert(fgets(line, sizeof line, f));
    const double want[4] = {0.8, 0.8 * 0.5 * (1 + cos(M_PI / 4)), 0.4,
                            0.8 * 0.5 * (1 + cos(3 * M_PI / 4))};
    for (int i = 0; i < 4; i++) {
        int it;
        double loss, lr, secs;
        cr_assert(fgets(line, sizeof line, f));
        cr_assert_eq(sscanf(line, "%d,%lf,%lf,%lf", &it, &loss, &lr, &secs), 4, "%s", line);
        cr_expect_lt(fabs(lr - want[i]), 1e-5, "iteration %d: lr %g, cosine gives %g", it, lr,
                     want[i]);
    }
    fclose(f);
    unlink(log);
    /* learning under RTN weights lowers the loss of the RTN model */
    rb_quant_config qa = q; /* the loss with activations/KV quantized; weights by the stage */
    qa.w.bits = RB_QUANT_OFF;
    rb_model *start = prepared(m, "spinquant:iters=0,rtn", &q, &cal);
    rb_model *learned = prepared(m, "spinquant:iters=12:lr=0.3:batch=2:learn_w=rtn,rtn", &q, &cal);
    double l0 = quant_loss(start, &cal, &qa), l1 = quant_loss(learned, &cal, &qa);
    fprintf(stderr, "W4A4KV4 RTN loss: random Hadamard %.5f, learned under RTN %.5f\n", l0, l1);
    cr_expect_lt(l1, l0 - 1e-3, "learning under RTN weights did not lower the loss: %.5f -> %.5f",
                 l0, l1);
    rb_model_free(start);
    rb_model_free(learned);
    /* refused without weight bits */
    rb_model *c = NULL;
    rb_error err = {0};
    rb_pipeline p;
    cr_assert_eq(rb_model_clone(m, &c, &err), RB_OK);
    cr_assert_eq(rb_pipeline_parse("spinquant:iters=1:learn_w=rtn", &p, &err), RB_OK);
    cr_expect_eq(rb_prepare_model(c, &p, &qa, &cal, 7, 0, &err), RB_EINVAL);
    cr_expect(strstr(err.msg, "learn_w=rtn") != NULL, "%s", err.msg);
    rb_model_free(c);
    rb_quant_config_free(&q); /* the weight parameters rtn kept */
    rb_calib_free(&cal);
    rb_model_free(m);
}

Test(spinquant, preserves_the_fp32_model, .timeout = 120) {
    rb_model *m = rb_test_stories_or_synth();
    rb_test_expect_preserved("spinquant:iters=0", m);
    rb_test_expect_preserved("spinquant:iters=2:online=0", m);
    rb_model_free(m);
}

/* Biases, untied classifier, GQA, llama3 RoPE scaling, head_dim ≠ dim/n_heads. */
Test(spinquant, preserves_variant_models, .timeout = 120) {
    const rb_test_arch archs[] = {RB_TEST_ALL, RB_TEST_ALL_HD};
    for (int i = 0; i < 2; i++) {
        rb_model *m = rb_test_arch_model(archs[i], 2, 29, 80 + i);
        rb_test_expect_preserved("spinquant:iters=0", m);
        rb_test_expect_preserved("spinquant:iters=2:online=0", m);
        rb_model_free(m);
    }
}

static void write_bytes(const char *path, const void *p, size_t n) {
    cr_assert_eq(rb_test_write_file(path, p, n), 0);
}

Test(spinquant, bad_rotation_files_are_refused) {
    rb_model *m = spin_base();
    const rb_config *c = &m->cfg;
    rb_spin_rotations r, back;
    rb_error err = {0};
    cr_assert_eq(rb_spin_rotations_init(&r, c, 1, &err), RB_OK);
    char path[512];
    rb_test_tmp_path("rot_bad.bin", path, sizeof path);
    cr_assert_eq(rb_spin_rotations_save(&r, path, &err), RB_OK);
    cr_assert_eq(rb_spin_rotations_load(&back, c, path, &err), RB_OK, "%s", err.msg);
    cr_expect_eq(memcmp(back.R1, r.R1, sizeof(double) * c->dim * c->dim), 0);
    rb_spin_rotations_free(&back);
    FILE *f = fopen(path, "rb");
    size_t n = 8 + 12 + sizeof(double) * ((size_t)c->dim * c->dim + (size_t)c->n_layers * 64);
    char *buf = malloc(n + 8);
    cr_assert_eq(fread(buf, 1, n + 8, f), n);
    fclose(f);
    struct { const char *what; size_t len; int patch; rb_status want; const char *msg; } cases[] = {
        {"missing", 0, -1, RB_EIO, "cannot open"},
        {"magic", n, 0, RB_EFORMAT, "not a rotbench rotations file: its magic is \"XBSPINR1\", "
                                    "expected \"RBSPINR1\""},
        {"binary magic", n, 5, RB_EFORMAT, "its magic is \"\\x00\\xffSPINR1\""},
        {"short", 3, -2, RB_EFORMAT, "3 bytes, too short for the 8-byte magic"},
        {"shape", n, 1, RB_EINVAL, "rotations for dim 31"},
        {"truncated", n - 8, -2, RB_EFORMAT, "truncated"},
        {"trailing", n + 8, -2, RB_EFORMAT, "trailing bytes"},
        {"not orthogonal", n, 2, RB_EFORMAT, "R1 is not orthogonal"},
        {"not finite", n, 3, RB_EFORMAT, "not finite"},
        {"R2 not orthogonal", n, 4, RB_EFORMAT, "R2 of layer 1 is not orthogonal"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *b = calloc(n + 8, 1);
        memcpy(b, buf, n);
        int32_t bad_dim = 31;
        double big = 2.0, nan_v = NAN;
        switch (cases[i].patch) {
        case 0: b[0] = 'X'; break;
        case 1: memcpy(b + 8, &bad_dim, 4); break;
        case 2: memcpy(b + 20, &big, 8); break;
        case 3: memcpy(b + 20 + 8 * 5, &nan_v, 8); break;
        case 4: memcpy(b + n - 8, &big, 8); break;
        case 5: b[0] = 0, b[1] = (char)0xff; break;
        default: break;
        }
        if (cases[i].patch == -1) unlink(path);
        else write_bytes(path, b, cases[i].len);
        rb_error e = {0};
        int rc = rb_spin_rotations_load(&back, c, path, &e);
        cr_expect_eq(rc, cases[i].want, "%s: status %d (%s)", cases[i].what, rc, e.msg);
        cr_expect(strstr(e.msg, cases[i].msg) != NULL, "%s: message '%s'", cases[i].what, e.msg);
        free(b);
    }
    unlink(path);
    free(buf);
    rb_spin_rotations_free(&r);
    rb_model_free(m);
}

/* Raw arrays with a JSON description (SpinQuant's R.bin converted): the
 * rotations of a saved file written as float64 and float32 arrays, the R2s
 * in reverse order after a gap, load back to the same matrices (float32 to
 * its rounding) and the same model as the rotbench file; broken
 * descriptions and data are refused with the file and the problem named. */
static void write_desc(const char *path, const char *text) {
    write_bytes(path, text, strlen(text));
}

Test(spinquant, raw_rotations_with_a_json_description) {
    rb_model *m = spin_base();
    const rb_config *c = &m->cfg;
    rb_spin_rotations r, back;
    rb_error err = {0};
    cr_assert_eq(rb_spin_rotations_init(&r, c, 3, &err), RB_OK);
    const int dim = c->dim, hd = c->head_dim, L = c->n_layers;
    size_t n1 = (size_t)dim * dim, n2 = (size_t)hd * hd;
    char json[512], data[512], data32[512], bin[512], text[4096];
    rb_test_tmp_path("rot_raw.json", json, sizeof json);
    rb_test_tmp_path("rot_raw.f64", data, sizeof data);
    rb_test_tmp_path("rot_raw.f32", data32, sizeof data32);
    rb_test_tmp_path("rot_raw.bin", bin, sizeof bin);
    const char *base64 = strrchr(data, '/') + 1, *base32 = strrchr(data32, '/') + 1;
    /* layout: 16 bytes of padding, R2 of the last layer first, ..., R1 last */
    size_t total = 16 + (n1 + n2 * L) * 8;
    unsigned char *buf = calloc(total, 1), *buf32 = calloc(total, 1);
    size_t off = 16, off1 = 0, off2[8];
    for (int l = L - 1; l >= 0; l--) {
        off2[l] = off;
        for (size_t j = 0; j < n2; j++) {
            double v = r.R2[(size_t)l * n2 + j];
            float f = (float)v;
            memcpy(buf + off + 8 * j, &v, 8);
            memcpy(buf32 + off / 2 + 4 * j, &f, 4);
        }
        off += n2 * 8;
    }
    off1 = off;
    for (size_t j = 0; j < n1; j++) {
        float f = (float)r.R1[j];
        memcpy(buf + off + 8 * j, &r.R1[j], 8);
        memcpy(buf32 + off / 2 + 4 * j, &f, 4);
    }
    write_bytes(data, buf, total);
    write_bytes(data32, buf32, total / 2);
    for (int pass = 0; pass < 2; pass++) { /* float64, then float32 (offsets halved) */
        size_t k = (size_t)snprintf(text, sizeof text,
                                    "{\"dtype\": \"%s\", \"order\": \"row-major\", \"data\": \"%s\", "
                                    "\"matrices\": [{\"name\": \"R1\", \"rows\": %d, \"cols\": %d, "
                                    "\"offset\": %zu}",
                                    pass ? "float32" : "float64", pass ? base32 : base64, dim, dim,
                                    pass ? off1 / 2 : off1);
        for (int l = 0; l < L; l++)
            k += (size_t)snprintf(text + k, sizeof text - k,
                                  ", {\"name\": \"model.layers.%d.self_attn.R2\", \"rows\": %d, "
                                  "\"cols\": %d, \"offset\": %zu}",
                                  l, hd, hd, pass ? off2[l] / 2 : off2[l]);
        snprintf(text + k, sizeof text - k, "]}\n");
        write_desc(json, text);
        cr_assert_eq(rb_spin_rotations_load_raw(&back, c, json, &err), RB_OK, "%s", err.msg);
        double tol = pass ? 1e-7 : 0;
        for (size_t j = 0; j < n1; j++) cr_expect_leq(fabs(back.R1[j] - r.R1[j]), tol);
        for (size_t j = 0; j < n2 * L; j++) cr_expect_leq(fabs(back.R2[j] - r.R2[j]), tol);
        rb_spin_rotations_free(&back);
    }
    /* the float32 description in place: the stage loads it like the rotbench file */
    cr_assert_eq(rb_spin_rotations_save(&r, bin, &err), RB_OK);
    rb_quant_config q;
    rb_quant_config_init(&q);
    char p1[1024], p2[1024];
    snprintf(p1, sizeof p1, "spinquant:rotations=%s", bin);
    snprintf(p2, sizeof p2, "spinquant:rotations=%s", json);
    rb_model *raw = rb_test_synth(32, 40, 2, 4, 2, 29, 11), *ref = rb_test_synth(32, 40, 2, 4, 2, 29, 11);
    rb_model *a = prepared(ref, p1, &q, NULL), *b = prepared(raw, p2, &q, NULL);
    float *la = rb_test_logits(a, NULL), *lb = rb_test_logits(b, NULL);
    cr_expect_lt(rb_test_rel_rms(lb, la, (size_t)48 * c->vocab_size), 1e-5);
    free(la); free(lb);
    rb_model_free(a); rb_model_free(b); rb_model_free(raw); rb_model_free(ref);
    /* broken descriptions: the message names the file and the problem */
    char head[1024];
    snprintf(head, sizeof head, "\"order\": \"row-major\", \"data\": \"%s\"", base64);
    struct { const char *what, *body; rb_status want; const char *msg; } cases[] = {
        {"not JSON", "{\"dtype\": ", RB_EFORMAT, "not valid JSON"},
        {"trailing", "{} x", RB_EFORMAT, "text after the JSON object"},
        {"array", "[1]", RB_EFORMAT, "not a JSON object"},
        {"dtype", "{\"dtype\": \"bfloat16\", %s, \"matrices\": []}", RB_EFORMAT, "dtype \"bfloat16\""},
        {"order", "{\"dtype\": \"float64\", \"order\": \"column-major\", \"data\": \"x\", \"matrices\": [1]}",
         RB_EFORMAT, "only \"row-major\""},
        {"no matrices", "{\"dtype\": \"float64\", %s}", RB_EFORMAT, "\"matrices\" is missing"},
        {"empty list", "{\"dtype\": \"float64\", %s, \"matrices\": []}", RB_EFORMAT, "0 entries"},
        {"rows type", "{\"dtype\": \"float64\", %s, \"matrices\": [{\"name\": \"R1\", \"rows\": \"32\", "
                      "\"cols\": 32, \"offset\": 0}]}", RB_EFORMAT, "matrices[0]: \"rows\" is not an integer"},
        {"negative offset", "{\"dtype\": \"float64\", %s, \"matrices\": [{\"name\": \"R1\", \"rows\": 32, "
                            "\"cols\": 32, \"offset\": -8}]}", RB_EFORMAT, "\"offset\" -8 outside"},
        {"duplicate", "{\"dtype\": \"float64\", %s, \"matrices\": [{\"name\": \"R1\", \"rows\": 32, "
                      "\"cols\": 32, \"offset\": 0}, {\"name\": \"R1\", \"rows\": 32, \"cols\": 32, "
                      "\"offset\": 0}]}", RB_EFORMAT, "\"R1\" appears twice"},
        {"unknown", "{\"dtype\": \"float64\", %s, \"matrices\": [{\"name\": \"model.layers.2.self_attn.R2\", "
                    "\"rows\": 8, \"cols\": 8, \"offset\": 0}]}", RB_EINVAL, "not a rotation of this model"},
        {"shape", "{\"dtype\": \"float64\", %s, \"matrices\": [{\"name\": \"R1\", \"rows\": 32, "
                  "\"cols\": 31, \"offset\": 0}]}", RB_EINVAL, "\"R1\" is 32x31; the model needs 32x32"},
        {"missing R2", "{\"dtype\": \"float64\", %s, \"matrices\": [{\"name\": \"R1\", \"rows\": 32, "
                       "\"cols\": 32, \"offset\": 0}]}", RB_EINVAL, "no matrix \"model.layers.0.self_attn.R2\""},
        {"past the end", "{\"dtype\": \"float64\", %s, \"matrices\": [{\"name\": \"R1\", \"rows\": 32, "
                         "\"cols\": 32, \"offset\": 100000}, {\"name\": \"model.layers.0.self_attn.R2\", "
                         "\"rows\": 8, \"cols\": 8, \"offset\": 0}, {\"name\": "
                         "\"model.layers.1.self_attn.R2\", \"rows\": 8, \"cols\": 8, \"offset\": 0}]}",
         RB_EFORMAT, "past the end"},
        {"not orthogonal", "{\"dtype\": \"float64\", %s, \"matrices\": [{\"name\": \"R1\", \"rows\": 32, "
                           "\"cols\": 32, \"offset\": 8}, {\"name\": \"model.layers.0.self_attn.R2\", "
                           "\"rows\": 8, \"cols\": 8, \"offset\": 16}, {\"name\": "
                           "\"model.layers.1.self_attn.R2\", \"rows\": 8, \"cols\": 8, \"offset\": 16}]}",
         RB_EFORMAT, "is not orthogonal"},
        {"tolerance", "{\"dtype\": \"float64\", %s, \"tolerance\": 2, \"matrices\": []}", RB_EFORMAT,
         "tolerance 2 outside"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        snprintf(text, sizeof text, cases[i].body, head);
        write_desc(json, text);
        rb_error e = {0};
        int rc = rb_spin_rotations_load_raw(&back, c, json, &e);
        cr_expect_eq(rc, cases[i].want, "%s: status %d (%s)", cases[i].what, rc, e.msg);
        cr_expect(strstr(e.msg, cases[i].msg) != NULL, "%s: message '%s'", cases[i].what, e.msg);
        cr_expect(strstr(e.msg, json) != NULL, "%s: the file is not named: '%s'", cases[i].what, e.msg);
    }
    /* a NaN in the data */
    double nan_v = NAN;
    memcpy(buf + off1 + 8 * 3, &nan_v, 8);
    write_bytes(data, buf, total);
    snprintf(text, sizeof text, "{\"dtype\": \"float64\", %s, \"matrices\": [{\"name\": \"R1\", "
             "\"rows\": 32, \"cols\": 32, \"offset\": %zu}, {\"name\": \"model.layers.0.self_attn.R2\", "
             "\"rows\": 8, \"cols\": 8, \"offset\": 16}, {\"name\": \"model.layers.1.self_attn.R2\", "
             "\"rows\": 8, \"cols\": 8, \"offset\": 16}]}", head, off1);
    write_desc(json, text);
    cr_expect_eq(rb_spin_rotations_load_raw(&back, c, json, &err), RB_EFORMAT);
    cr_expect(strstr(err.msg, "\"R1\": entry [0][3] is not finite") != NULL, "%s", err.msg);
    unlink(data);
    cr_expect_eq(rb_spin_rotations_load_raw(&back, c, json, &err), RB_EIO, "%s", err.msg);
    cr_expect(strstr(err.msg, "data") != NULL, "%s", err.msg);
    unlink(json); unlink(data32); unlink(bin);
    free(buf); free(buf32);
    rb_quant_config_free(&q);
    rb_spin_rotations_free(&r);
    rb_model_free(m);
}

Test(spinquant, options_parse_and_format) {
    rb_pipeline p;
    rb_error err = {0};
    cr_assert_eq(rb_pipeline_parse("spinquant:iters=3:rotations=/tmp/a.bin:save_rotations=b.bin,gptq",
                                   &p, &err), RB_OK, "%s", err.msg);
    cr_assert_eq(p.n, 2);
    cr_expect_str_eq(rb_opt_get_text(p.stages[0].method, &p.stages[0].opts, "rotations"), "/tmp/a.bin");
    cr_expect_str_eq(rb_opt_get_text(p.stages[0].method, &p.stages[0].opts, "save_rotations"), "b.bin");
    cr_expect_str_eq(rb_opt_get_text(p.stages[0].method, &p.stages[0].opts, "loss_log"), "");
    char buf[2048];
    rb_pipeline_format(&p, buf, sizeof buf);
    cr_expect(strstr(buf, ":rotations=/tmp/a.bin:save_rotations=b.bin:loss_log=,gptq") != NULL, "%s", buf);
    rb_pipeline again;
    cr_assert_eq(rb_pipeline_parse(buf, &again, &err), RB_OK, "%s", err.msg);
    cr_expect_str_eq(rb_opt_get_text(again.stages[0].method, &again.stages[0].opts, "rotations"), "/tmp/a.bin");
    cr_expect_eq(rb_opt_get(again.stages[0].method, &again.stages[0].opts, "iters"), 3);
    char longtext[700] = "spinquant:rotations=";
    memset(longtext + strlen(longtext), 'a', 600);
    longtext[sizeof longtext - 1] = 0;
    cr_expect_eq(rb_pipeline_parse(longtext, &p, &err), RB_EINVAL, "a 600-byte path is accepted");
    cr_expect_eq(rb_pipeline_parse("spinquant:lr=-1", &p, &err), RB_EINVAL);
    cr_expect_eq(rb_pipeline_parse("spinquant:schedule=exponential", &p, &err), RB_EINVAL);
    cr_expect_eq(rb_pipeline_parse("spinquant:momentum=1", &p, &err), RB_EINVAL);
    cr_expect_eq(rb_pipeline_parse("spinquant:optimizer=adam", &p, &err), RB_EINVAL);
    /* learning without calibration windows is refused */
    rb_model *m = rb_test_synth(32, 40, 1, 4, 2, 29, 1);
    rb_quant_config q;
    rb_quant_config_init(&q);
    cr_assert_eq(rb_pipeline_parse("spinquant:iters=2", &p, &err), RB_OK);
    cr_expect_eq(rb_prepare_model(m, &p, &q, NULL, 0, 0, &err), RB_EINVAL);
    cr_expect(strstr(err.msg, "calibration") != NULL, "%s", err.msg);
    rb_model_free(m);
}

/* ---- the rotated-activation path (methods/spin_train.h) against the
 * materialising one ------------------------------------------------------ */

/* Loss and rotation gradients of f(base, R1, R2) over `nwin` windows of T
 * tokens (scale 1/nwin each) by the materialising path (rb_spin_effective,
 * core/train.h, rb_spin_rotation_grads) or by the activation path. */
static double path_loss_grads(const rb_model *base, int acts, const float *R1, const float *R2,
                              const int32_t *tok, int T, int nwin, const rb_hooks *h,
                              double *gR1, double *gR2) {
    const rb_config *c = &base->cfg;
    size_t n1 = (size_t)c->dim * c->dim, n2 = (size_t)c->n_layers * c->head_dim * c->head_dim;
    rb_error err = {0};
    double loss = 0, l;
    if (acts) {
        rb_spin_ws ws;
        float *a1 = calloc(n1, sizeof(float)), *a2 = calloc(n2, sizeof(float));
        cr_assert_eq(rb_spin_ws_init(&ws, c, T, &err), RB_OK, "%s", err.msg);
        for (int w = 0; w < nwin; w++) {
            cr_assert_eq(rb_spin_forward(base, &ws, R1, R2, tok + (size_t)w * T, T, h, &l, &err),
                         RB_OK, "%s", err.msg);
            cr_assert_eq(rb_spin_backward(base, &ws, 1.0f / nwin, a1, a2, &err), RB_OK, "%s",
                         err.msg);
            loss += l / nwin;
        }
        for (size_t i = 0; i < n1; i++) gR1[i] = a1[i];
        for (size_t i = 0; i < n2; i++) gR2[i] = a2[i];
        rb_spin_ws_free(&ws);
        free(a1);
        free(a2);
        return loss;
    }
    rb_model *work;
    rb_train_ws ws;
    rb_grads g;
    cr_assert_eq(rb_model_clone(base, &work, &err), RB_OK);
    cr_assert_eq(rb_spin_effective(work, base, R1, R2, &err), RB_OK, "%s", err.msg);
    cr_assert_eq(rb_train_ws_init(&ws, c, T, &err), RB_OK);
    cr_assert_eq(rb_grads_init(&g, c, &err), RB_OK);
    for (int w = 0; w < nwin; w++) {
        cr_assert_eq(rb_train_forward(work, &ws, tok + (size_t)w * T, T, h, &l, &err), RB_OK,
                     "%s", err.msg);
        cr_assert_eq(rb_train_backward(work, &ws, 1.0f / nwin, &g, &err), RB_OK);
        loss += l / nwin;
    }
    cr_assert_eq(rb_spin_rotation_grads(base, R1, R2, &g, gR1, gR2, &err), RB_OK);
    rb_grads_free(&g);
    rb_train_ws_free(&ws);
    rb_model_free(work);
    return loss;
}

/* ‖a − b‖ / ‖b‖ over n values. */
static double rel_diff(const double *a, const double *b, size_t n) {
    double d = 0, s = 0;
    for (size_t i = 0; i < n; i++) d += (a[i] - b[i]) * (a[i] - b[i]), s += b[i] * b[i];
    return sqrt(d / s);
}

/* Quantizers on a tape.  Recording, the real hooks quantize and every call's
 * input and output are kept; replaying, each call's input is compared with
 * the recorded one (the worst relative difference is kept) and replaced by
 * the recorded output.  Both paths then round alike: with the real
 * quantizers the float rounding of the two orders of products flips the
 * occasional rounding decision (measured: most 4-bit trials here), and
 * the flips grow through the layers; replayed, the comparison checks that
 * every quantizer sees the same activations in both paths, and the loss
 * and gradients downstream of the same quantized values. */
typedef struct quant_tape {
    rb_hooks real;
    int replay, n, cap, next;
    float **in, **out;
    size_t *len;
    int *where; /* layer·8 + point (the qkv hook: 7) */
    double worst;
} quant_tape;

static void tape_call(quant_tape *t, int where, float *x, size_t n) {
    if (!t->replay) {
        if (t->n == t->cap) {
            t->cap = t->cap ? 2 * t->cap : 64;
            t->in = realloc(t->in, sizeof(float *) * t->cap);
            t->out = realloc(t->out, sizeof(float *) * t->cap);
            t->len = realloc(t->len, sizeof(size_t) * t->cap);
            t->where = realloc(t->where, sizeof(int) * t->cap);
        }
        t->in[t->n] = malloc(sizeof(float) * n);
        memcpy(t->in[t->n], x, sizeof(float) * n);
        t->len[t->n] = n;
        t->where[t->n] = where;
        t->out[t->n++] = NULL; /* the output, after the real hook */
        return;
    }
    cr_assert_lt(t->next, t->n, "more quantizer calls than recorded");
    int i = t->next++;
    cr_assert_eq(t->where[i], where, "quantizer call %d: at %d, recorded at %d", i, where,
                 t->where[i]);
    cr_assert_eq(t->len[i], n);
    double d = 0, s = 0;
    for (size_t j = 0; j < n; j++) {
        d += ((double)x[j] - t->in[i][j]) * ((double)x[j] - t->in[i][j]);
        s += (double)t->in[i][j] * t->in[i][j];
    }
    double e = s > 0 ? sqrt(d / s) : sqrt(d);
    t->worst = e > t->worst ? e : t->worst;
    memcpy(x, t->out[i], sizeof(float) * n);
}

static void tape_keep_output(quant_tape *t, const float *x, size_t n) {
    t->out[t->n - 1] = malloc(sizeof(float) * n);
    memcpy(t->out[t->n - 1], x, sizeof(float) * n);
}

static int tape_activation(void *ctx, int layer, rb_act_point p, float *x, int rows, int cols,
                           rb_error *err) {
    quant_tape *t = ctx;
    size_t n = (size_t)rows * cols;
    tape_call(t, layer * 8 + (int)p, x, n);
    if (t->replay) return RB_OK;
    int rc = t->real.activation(t->real.ctx, layer, p, x, rows, cols, err);
    tape_keep_output(t, x, n);
    return rc;
}

static int tape_qkv(void *ctx, int layer, float *q, float *k, float *v, int T,
                    const rb_config *c, rb_error *err) {
    quant_tape *t = ctx;
    size_t nq = (size_t)T * c->n_heads * c->head_dim, nk = (size_t)T * c->n_kv_heads * c->head_dim;
    float *all = malloc(sizeof(float) * (nq + 2 * nk));
    memcpy(all, q, sizeof(float) * nq);
    memcpy(all + nq, k, sizeof(float) * nk);
    memcpy(all + nq + nk, v, sizeof(float) * nk);
    tape_call(t, layer * 8 + 7, all, nq + 2 * nk);
    int rc = RB_OK;
    if (!t->replay) {
        rc = t->real.qkv(t->real.ctx, layer, q, k, v, T, c, err);
        memcpy(all, q, sizeof(float) * nq);
        memcpy(all + nq, k, sizeof(float) * nk);
        memcpy(all + nq + nk, v, sizeof(float) * nk);
        tape_keep_output(t, all, nq + 2 * nk);
    } else {
        memcpy(q, all, sizeof(float) * nq);
        memcpy(k, all + nq, sizeof(float) * nk);
        memcpy(v, all + nq + nk, sizeof(float) * nk);
    }
    free(all);
    return rc;
}

static void tape_free(quant_tape *t) {
    for (int i = 0; i < t->n; i++) free(t->in[i]), free(t->out[i]);
    free(t->in); free(t->out); free(t->len); free(t->where);
}

/* Both paths on base (freed) at several R1, R2: random orthogonal ones and
 * (kind 2) random matrices that are not orthogonal (the map both paths
 * compute is defined for any R), with the quantizers off and on (4-bit
 * activations per token, asymmetric 4-bit KV; with_cls: the classifier's
 * input too). */
static void check_paths_agree(rb_model *base, int T, const char *name, const int32_t *text) {
    const rb_config *c = &base->cfg;
    size_t n1 = (size_t)c->dim * c->dim, n2 = (size_t)c->n_layers * c->head_dim * c->head_dim;
    rb_rng r;
    rb_rng_seed(&r, 41);
    const int nwin = 2;
    int32_t *tok = malloc(sizeof(int32_t) * (size_t)T * nwin);
    for (int t = 0; t < T * nwin; t++)
        tok[t] = text ? text[t] : (int32_t)rb_rng_below(&r, (uint64_t)c->vocab_size);
    double *R1 = malloc(sizeof(double) * n1), *R2 = malloc(sizeof(double) * n2);
    float *R1f = malloc(sizeof(float) * n1), *R2f = malloc(sizeof(float) * n2);
    double *g1[2], *g2[2];
    for (int p = 0; p < 2; p++) {
        g1[p] = malloc(sizeof(double) * n1);
        g2[p] = malloc(sizeof(double) * n2);
    }
    /* on text, the orthogonal trials only: a non-orthogonal R amplifies the
     * rounding of the trained model's large activations (R2 gradients 1.1e-4
     * apart measured) */
    for (int trial = 0; trial < (text ? 4 : 6); trial++) {
        int kind = trial / 2, quant = trial % 2 ? 1 + (trial == 5) : 0;
        if (kind < 2) {
            random_orthogonal(R1, c->dim, &r);
            for (int l = 0; l < c->n_layers; l++)
                random_orthogonal(R2 + (size_t)l * c->head_dim * c->head_dim, c->head_dim, &r);
        } else {
            for (size_t i = 0; i < n1; i++) R1[i] = rb_rng_normal(&r) / sqrt(c->dim);
            for (size_t i = 0; i < n2; i++) R2[i] = rb_rng_normal(&r) / sqrt(c->head_dim);
        }
        to_f(R1f, R1, n1);
        to_f(R2f, R2, n2);
        rb_quant_config q;
        rb_quant_config_init(&q);
        if (quant) {
            q.a = (rb_quant_spec){4, 0, RB_GRAN_ROW, 0, 1.0f, 0};
            q.kv = (rb_quant_spec){4, 1, RB_GRAN_ROW, 0, 1.0f, 0};
            q.quantize_classifier = quant == 2;
        }
        quant_tape tape = {0};
        rb_quant_hooks(&q, &tape.real);
        rb_hooks h = {.ctx = &tape, .activation = tape_activation, .qkv = tape_qkv};
        double lw = path_loss_grads(base, 0, R1f, R2f, tok, T, nwin, quant ? &h : NULL, g1[0],
                                    g2[0]);
        tape.replay = 1;
        double la = path_loss_grads(base, 1, R1f, R2f, tok, T, nwin, quant ? &h : NULL, g1[1],
                                    g2[1]);
        if (quant) {
            cr_expect_eq(tape.next, tape.n, "%s trial %d: %d of %d quantizer calls", name, trial,
                         tape.next, tape.n);
            cr_expect_lt(tape.worst, 1e-5, "%s trial %d: a quantizer's input differs by %g", name,
                         trial, tape.worst);
        }
        tape_free(&tape);
        double e1 = rel_diff(g1[1], g1[0], n1), e2 = 0;
        for (int l = 0; l < c->n_layers; l++) {
            size_t o = (size_t)l * c->head_dim * c->head_dim;
            double e = rel_diff(g2[1] + o, g2[0] + o, (size_t)c->head_dim * c->head_dim);
            e2 = e > e2 ? e : e2;
        }
        if (getenv("RB_TEST_VERBOSE"))
            fprintf(stderr, "%s trial %d (R %s, quantizers %s): loss %.9g vs %.9g (%.2g), "
                    "grad R1 %.2g, R2 %.2g, quantizer inputs %.2g\n", name, trial,
                    kind < 2 ? "orthogonal" : "general", quant ? "on" : "off", la, lw,
                    fabs(la - lw) / fabs(lw), e1, e2, tape.worst);
        cr_expect_lt(fabs(la - lw), 1e-5 * fabs(lw), "%s trial %d: loss %.9g, materialising %.9g",
                     name, trial, la, lw);
        cr_expect_lt(e1, 1e-4, "%s trial %d: R1 gradients differ by %g (relative)", name, trial, e1);
        cr_expect_lt(e2, 1e-4, "%s trial %d: R2 gradients differ by %g (relative)", name, trial, e2);
        rb_quant_config_free(&q);
    }
    for (int p = 0; p < 2; p++) free(g1[p]), free(g2[p]);
    free(tok); free(R1); free(R2); free(R1f); free(R2f);
    rb_model_free(base);
}

Test(spinquant, activation_path_matches_materialising_path, .timeout = 300) {
    check_paths_agree(spin_base(), 16, "synth dim 32", NULL);
    /* q/k/v biases, GQA, llama3 RoPE, head_dim 16 ≠ 48/4 */
    check_paths_agree(spin_base_of(rb_test_arch_model(RB_TEST_ALL, 2, 29, 12)), 16, "all", NULL);
    /* tied classifier (untied by the norm folding), biases, GQA 3:1 */
    rb_model *qw = rb_test_arch_model(RB_TEST_QWEN2, 2, 37, 13);
    rb_error err = {0};
    cr_assert_eq(rb_rotate_fuse_norms(qw, &err), RB_OK, "%s", err.msg);
    cr_assert_eq(rb_rotate_online(qw, 1, 1, 0, &err), RB_OK, "%s", err.msg); /* 6 heads: no head Hadamard */
    check_paths_agree(qw, 16, "qwen2", NULL);
}

/* On stories260K with random tokens and with a short story (BOS first: the
 * trained model's large first-token activations). */
Test(spinquant, activation_path_matches_on_stories260K, .timeout = 300) {
    check_paths_agree(spin_base_of(rb_test_stories_or_synth()), 64, "stories260K", NULL);
    rb_tokenizer *tk = rb_test_tok512();
    const char *story =
        "Once upon a time, there was a little girl named Lily. She liked to play in the garden "
        "with her red ball. One day, the ball rolled under a big tree and she could not find it. "
        "She asked her mom to help her. Her mom looked under the tree and found the ball next to a "
        "small bird. Lily was happy and said thank you. The bird sang a song and they all smiled. "
        "The next day, Lily and her friend Tom went to the park to play with a big blue kite.";
    int32_t *tok;
    size_t n;
    rb_error err = {0};
    cr_assert_eq(rb_tokenizer_encode(tk, story, strlen(story), 1, 0, &tok, &n, &err), RB_OK,
                 "%s", err.msg);
    cr_assert_geq(n, 128, "the story is %zu tokens", n);
    check_paths_agree(spin_base_of(rb_test_stories_or_synth()), 64, "stories260K text", tok);
    free(tok);
    rb_tokenizer_free(tk);
}

/* The stage with each learn_path: both lower the W16A2KV4 loss from the
 * same start and keep R orthogonal (the default, weights, is also the path
 * of learning_lowers_the_quantized_loss_and_reloads);
 * learn_path=activations with learn_w=rtn is refused. */
Test(spinquant, both_learn_paths_lower_the_loss, .timeout = 300) {
    rb_model *m = rb_test_stories_or_synth();
    rb_quant_config q;
    rb_quant_config_init(&q);
    q.a = (rb_quant_spec){2, 0, RB_GRAN_ROW, 0, 1.0f, 0}; /* see above: 2 bits */
    q.kv = (rb_quant_spec){4, 1, RB_GRAN_ROW, 0, 1.0f, 0};
    rb_calib cal;
    rb_test_random_calib(&cal, m->cfg.vocab_size, 2, 64, 3);
    rb_model *start = prepared(m, "spinquant:iters=0", &q, &cal);
    double l0 = quant_loss(start, &cal, &q);
    const char *paths[2] = {"weights", "activations"};
    for (int p = 0; p < 2; p++) {
        char text[1024], rot[512], name[64];
        snprintf(name, sizeof name, "spin_path_%s.bin", paths[p]);
        rb_test_tmp_path(name, rot, sizeof rot);
        snprintf(text, sizeof text,
                 "spinquant:iters=12:lr=0.3:batch=2:optimizer=cayley:learn_path=%s:"
                 "save_rotations=%s", paths[p], rot);
        rb_model *learned = prepared(m, text, &q, &cal);
        double l1 = quant_loss(learned, &cal, &q);
        fprintf(stderr, "W16A2KV4 loss, learn_path=%s: %.5f -> %.5f\n", paths[p], l0, l1);
        cr_expect_lt(l1, l0 - 0.1, "learn_path=%s: %.5f -> %.5f", paths[p], l0, l1);
        rb_spin_rotations r;
        rb_error err = {0};
        cr_assert_eq(rb_spin_rotations_load(&r, &m->cfg, rot, &err), RB_OK, "%s", err.msg);
        cr_expect_leq(rb_spin_orthogonality_error(r.R1, r.dim), 1e-5);
        rb_spin_rotations_free(&r);
        unlink(rot);
        rb_model_free(learned);
    }
    rb_quant_config qw = q;
    qw.w = (rb_quant_spec){4, 0, RB_GRAN_ROW, 0, 1.0f, 0};
    rb_model *t;
    rb_error err = {0};
    rb_pipeline p;
    cr_assert_eq(rb_model_clone(m, &t, &err), RB_OK);
    cr_assert_eq(rb_pipeline_parse("spinquant:iters=1:learn_w=rtn:learn_path=activations", &p,
                                   &err), RB_OK, "%s", err.msg);
    cr_expect_eq(rb_prepare_model(t, &p, &qw, &cal, 7, 0, &err), RB_EINVAL);
    cr_expect(strstr(err.msg, "learn_path=weights") != NULL, "%s", err.msg);
    rb_model_free(t);
    rb_model_free(start);
    rb_calib_free(&cal);
    rb_model_free(m);
}
