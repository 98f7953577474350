/* quarot: rotate the model so activations, weights and the KV cache lose
 * their outlier channels (Ashkboos et al. 2024, "QuaRot").
 *
 * In order (methods/rotate.h has the algebra):
 *   1. fold the RMSNorm weights into the linears that read them;
 *   2. R1 [dim][dim] on the residual stream (embedding, every reader and
 *      writer, the classifier);
 *   3. R2 [head_dim][head_dim] per head into v_proj / o_proj;
 *   4. online Hadamards (online=1): R3 on q and k after RoPE (so the K cache
 *      is quantized rotated), R4 before down_proj (inverse folded into w2),
 *      and across heads before o_proj (inverse folded into wo).
 * R1 and R2 of the Hadamard kinds are fused as fast transforms of weight
 * rows and columns (rb_rotate_residual_hadamard: no dim×dim matrix, no
 * dense products; 18.6 s instead of 255 s on a 7B-shaped layer with its
 * 32k classifier, results/perf/quarot_fusion.md), random_orthogonal ones as
 * dense products.
 * R1 and R2 are of the chosen kind (kernels/rotation.h) drawn from `seed`
 * (default: the run's --seed, which also draws the calibration windows; set
 * it to sweep rotations with calibration fixed); the online ones are plain
 * Hadamards.  Weights are left
 * in full precision: a later stage (rtn, gptq) quantizes them.  The online
 * transforms cannot be written to a llama2.c file, so stages that need the
 * rotated model go after quarot in the same pipeline ("quarot,gptq").
 *
 * fallback=1: where a size has no Hadamard transform (rotbench hadamard
 * --size N), a random orthogonal matrix instead, with a warning in the log
 * and in the record (ctx->notes "quarot".fallback): R1/R2 of a Hadamard
 * kind become random_orthogonal; the online R3 and R4 become dense random
 * orthogonal rotations (the same per layer: head_dim² / hidden² floats per
 * layer, rb_rotate_online_dense).  The head-wise transform has no dense
 * form and is still refused (heads=0).  fallback=0 refuses such sizes. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "base/io.h"
#include "kernels/hadamard.h"
#include "kernels/rotation.h"
#include "methods/method.h"
#include "methods/rotate.h"

static int quarot_apply(rb_stage_ctx *ctx, const rb_stage_opts *opt, rb_error *err);

static const char *const rotation_kinds[] = {"hadamard", "random_hadamard", "random_orthogonal",
                                             NULL};

static const rb_option_spec quarot_options[] = {
    {"rotation", RB_OPT_CHOICE, RB_ROT_RANDOM_HADAMARD, 0, 2,
     "kind of R1 and R2: hadamard, random_hadamard (H·diag(±1)/√n) or random_orthogonal",
     rotation_kinds},
    {"seed", RB_OPT_INT, -1, -1, 1e9, "seed of R1 and R2 (-1: the run's --seed)", NULL},
    {"online", RB_OPT_BOOL, 1, 0, 1, "online Hadamards at all (LLMC's online_rotate)", NULL},
    {"r3", RB_OPT_BOOL, 1, 0, 1, "online Hadamard on q and k after RoPE (KV cache)", NULL},
    {"r4", RB_OPT_BOOL, 1, 0, 1, "online Hadamard before down_proj", NULL},
    {"heads", RB_OPT_BOOL, 1, 0, 1, "online Hadamard across heads before o_proj", NULL},
    {"fallback", RB_OPT_BOOL, 0, 0, 1,
     "random orthogonal (with a warning) where a size has no Hadamard (R1, R2, R3, R4)", NULL},
    {NULL}};

const rb_method rb_method_quarot = {
    .name = "quarot",
    .help = "fused random Hadamard/orthogonal rotations plus online Hadamards (Ashkboos et al. 2024)",
    .options = quarot_options,
    .apply = quarot_apply,
};

/* A derived seed for R2, so R1 and R2 differ for the same `seed`. */
static uint64_t r2_seed(uint64_t seed) { return seed ^ 0x9e3779b97f4a7c15ull; }

/* Whether n has a Hadamard transform. */
static int has_hadamard(int n) {
    int k, mm;
    rb_error e;
    return rb_hadamard_factor(n, &k, &mm, &e) == RB_OK;
}

/* Notes a fallback: a log warning and a line in notes_arr. */
static void note_fallback(rb_stage_ctx *ctx, json_object *arr, const char *what, int n) {
    char line[160];
    snprintf(line, sizeof line, "%s (size %d): no Hadamard transform, random orthogonal instead",
             what, n);
    rb_logf(ctx->log, "quarot: warning: %s", line);
    json_object_array_add(arr, json_object_new_string(line));
}

/* The dense online fallbacks: R [n][n] random orthogonal, the same for each
 * of the n_layers (out: [n_layers][n][n], owned by the caller). */
static float *per_layer_random_orthogonal(int n, int n_layers, uint64_t seed, rb_error *err) {
    size_t nn = (size_t)n * n;
    float *R = malloc(sizeof(float) * nn * n_layers);
    if (!R) {
        rb_error_set(err, RB_ENOMEM, "cannot allocate %d dense %dx%d rotations", n_layers, n, n);
        return NULL;
    }
    if (rb_rotation_matrix(RB_ROT_RANDOM_ORTHOGONAL, n, seed, R, err)) {
        free(R);
        return NULL;
    }
    for (int l = 1; l < n_layers; l++)
        for (size_t i = 0; i < nn; i++) R[(size_t)l * nn + i] = R[i];
    return R;
}

static int quarot_apply(rb_stage_ctx *ctx, const rb_stage_opts *opt, rb_error *err) {
    const rb_method *me = &rb_method_quarot;
    rb_rotation_kind kind = (rb_rotation_kind)rb_opt_get(me, opt, "rotation");
    double seed_opt = rb_opt_get(me, opt, "seed");
    uint64_t seed = seed_opt < 0 ? ctx->seed : (uint64_t)seed_opt;
    int online = (int)rb_opt_get(me, opt, "online");
    int r3 = (int)rb_opt_get(me, opt, "r3"), r4 = (int)rb_opt_get(me, opt, "r4");
    int fallback = (int)rb_opt_get(me, opt, "fallback");
    rb_model *m = ctx->model;
    const rb_config *c = &m->cfg;
    json_object *warn = fallback ? json_object_new_array() : NULL;
    rb_rotation_kind kind1 = kind, kind2 = kind;
    int dense_qk = 0, dense_down = 0;
    if (fallback && kind != RB_ROT_RANDOM_ORTHOGONAL) {
        if (!has_hadamard(c->dim)) kind1 = RB_ROT_RANDOM_ORTHOGONAL, note_fallback(ctx, warn, "R1", c->dim);
        if (!has_hadamard(c->head_dim))
            kind2 = RB_ROT_RANDOM_ORTHOGONAL, note_fallback(ctx, warn, "R2", c->head_dim);
    }
    if (fallback && online && r3 && !has_hadamard(c->head_dim))
        dense_qk = 1, r3 = 0, note_fallback(ctx, warn, "R3 (online, q and k)", c->head_dim);
    if (fallback && online && r4 && !has_hadamard(c->hidden_dim))
        dense_down = 1, r4 = 0, note_fallback(ctx, warn, "R4 (online, down_proj input)", c->hidden_dim);
    /* Hadamard kinds: R = diag(s)·H applied as fast transforms (the signs
     * only); random_orthogonal: dense matrices and products */
    int dense1 = kind1 == RB_ROT_RANDOM_ORTHOGONAL, dense2 = kind2 == RB_ROT_RANDOM_ORTHOGONAL;
    size_t n1 = dense1 ? (size_t)c->dim * c->dim : (size_t)c->dim;
    size_t n2 = dense2 ? (size_t)c->head_dim * c->head_dim : (size_t)c->head_dim;
    float *R1 = malloc(sizeof(float) * n1), *R2 = malloc(sizeof(float) * n2);
    int rc = R1 && R2 ? RB_OK : rb_error_set(err, RB_ENOMEM, "cannot allocate the rotations");
    if (!rc && (rc = (dense1 ? rb_rotation_matrix : rb_rotation_signs)(kind1, c->dim, seed, R1, err)))
        rb_error_prefix(err, "R1 (dim %d): ", c->dim);
    if (!rc && (rc = (dense2 ? rb_rotation_matrix : rb_rotation_signs)(kind2, c->head_dim,
                                                                        r2_seed(seed), R2, err)))
        rb_error_prefix(err, "R2 (head_dim %d): ", c->head_dim);
    double t0 = rb_now();
    clock_t cpu0 = clock();
    if (!rc) rc = rb_rotate_fuse_norms(m, err);
    double t1 = rb_now();
    if (!rc) rc = dense1 ? rb_rotate_residual(m, R1, err) : rb_rotate_residual_hadamard(m, R1, err);
    double t2 = rb_now();
    if (!rc)
        rc = dense2 ? rb_rotate_value_heads(m, R2, err) : rb_rotate_value_heads_hadamard(m, R2, err);
    double t3 = rb_now();
    if (!rc && online) rc = rb_rotate_online(m, r3, r4, (int)rb_opt_get(me, opt, "heads"), err);
    if (!rc)
        rb_logf(ctx->log,
                "quarot: %.2f s norm folding, %.2f s R1, %.2f s R2, %.2f s online (%.2f s of "
                "CPU time in all)",
                t1 - t0, t2 - t1, t3 - t2, rb_now() - t3, (double)(clock() - cpu0) / CLOCKS_PER_SEC);
    if (!rc && (dense_qk || dense_down)) {
        float *qk = NULL, *down = NULL;
        if (dense_qk && !(qk = per_layer_random_orthogonal(c->head_dim, c->n_layers,
                                                           seed ^ 0x5bd1e995u, err)))
            rc = err->status ? (int)err->status : RB_ENOMEM;
        if (!rc && dense_down && !(down = per_layer_random_orthogonal(c->hidden_dim, c->n_layers,
                                                                      seed ^ 0xc2b2ae35u, err)))
            rc = err->status ? (int)err->status : RB_ENOMEM;
        if (!rc) rc = rb_rotate_online_dense(m, qk, down, err);
        free(qk);
        free(down);
    }
    free(R1);
    free(R2);
    if (warn && !rc && json_object_array_length(warn) && ctx->notes) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "fallback", warn);
        json_object_object_add(ctx->notes, "quarot", o);
    } else {
        json_object_put(warn);
    }
    return rc;
}
