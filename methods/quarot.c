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
 * rotated model go after quarot in the same pipeline ("quarot,gptq"). */
#include <stdlib.h>

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
    {NULL}};

const rb_method rb_method_quarot = {
    .name = "quarot",
    .help = "fused random Hadamard/orthogonal rotations plus online Hadamards (Ashkboos et al. 2024)",
    .options = quarot_options,
    .apply = quarot_apply,
};

/* A derived seed for R2, so R1 and R2 differ for the same `seed`. */
static uint64_t r2_seed(uint64_t seed) { return seed ^ 0x9e3779b97f4a7c15ull; }

static int quarot_apply(rb_stage_ctx *ctx, const rb_stage_opts *opt, rb_error *err) {
    const rb_method *me = &rb_method_quarot;
    rb_rotation_kind kind = (rb_rotation_kind)rb_opt_get(me, opt, "rotation");
    double seed_opt = rb_opt_get(me, opt, "seed");
    uint64_t seed = seed_opt < 0 ? ctx->seed : (uint64_t)seed_opt;
    int online = (int)rb_opt_get(me, opt, "online");
    rb_model *m = ctx->model;
    const rb_config *c = &m->cfg;
    /* Hadamard kinds: R = diag(s)·H applied as fast transforms (the signs
     * only); random_orthogonal: dense matrices and products */
    int dense = kind == RB_ROT_RANDOM_ORTHOGONAL;
    size_t n1 = dense ? (size_t)c->dim * c->dim : (size_t)c->dim;
    size_t n2 = dense ? (size_t)c->head_dim * c->head_dim : (size_t)c->head_dim;
    float *R1 = malloc(sizeof(float) * n1), *R2 = malloc(sizeof(float) * n2);
    int rc = R1 && R2 ? RB_OK : rb_error_set(err, RB_ENOMEM, "cannot allocate the rotations");
    int (*make)(rb_rotation_kind, int, uint64_t, float *, rb_error *) =
        dense ? rb_rotation_matrix : rb_rotation_signs;
    if (!rc && (rc = make(kind, c->dim, seed, R1, err)))
        rb_error_prefix(err, "R1 (dim %d): ", c->dim);
    if (!rc && (rc = make(kind, c->head_dim, r2_seed(seed), R2, err)))
        rb_error_prefix(err, "R2 (head_dim %d): ", c->head_dim);
    if (!rc) rc = rb_rotate_fuse_norms(m, err);
    if (!rc) rc = dense ? rb_rotate_residual(m, R1, err) : rb_rotate_residual_hadamard(m, R1, err);
    if (!rc)
        rc = dense ? rb_rotate_value_heads(m, R2, err) : rb_rotate_value_heads_hadamard(m, R2, err);
    if (!rc && online)
        rc = rb_rotate_online(m, (int)rb_opt_get(me, opt, "r3"), (int)rb_opt_get(me, opt, "r4"),
                              (int)rb_opt_get(me, opt, "heads"), err);
    free(R1);
    free(R2);
    return rc;
}
