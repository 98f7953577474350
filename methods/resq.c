/* resq: mixed-precision quantization with low-rank residuals (Saxena et al.
 * 2024, "ResQ"), after the authors' reference code (project-resq, the
 * "full_shared" configuration by default; bases=decoder|layer are its
 * "one_per_decoder" and "per_layer" ones, down_block its
 * --down_proj_blocksize for a down=pca basis).
 *
 * In order (methods/resq.h has the basis convention, methods/rotate.h the
 * algebra):
 *   1. fold the RMSNorm weights into the linears that read them;
 *   2. one calibration pass over ctx->calib on that model (fp32) collects
 *      float64 second moments: the inputs of wq/wk/wv and w1/w3 of every
 *      layer pooled into one [dim][dim] matrix; v per layer and kv head; k
 *      after RoPE per layer, pooled over its kv heads; with down=pca the
 *      input of w2 per layer.  A function-preserving rotation leaves v, k
 *      and the w2 input unchanged, so one pass serves every basis;
 *   3. PCA of each (LAPACKE dsyevd, float64), eigenvalues ascending, so the
 *      r = floor(fraction·n) highest-variance directions are the LAST r
 *      channels;
 *   4. inside each subspace an independent random rotation of kind
 *      `rotation` (Hadamard kinds fall back to random_orthogonal for sizes
 *      with no Hadamard matrix), one pair per kind of space shared by all
 *      layers and heads: R = U·diag(R_low, R_high);
 *   5. fuse what can be fused: the residual basis as R1 (embedding, every
 *      reader and writer, classifier), the value bases per layer and kv head
 *      into v_proj/o_proj; online: the key basis per layer on q and k after
 *      RoPE (key=pca; key=hadamard is QuaRot's R3 instead), and the input of
 *      down_proj through QuaRot's online Hadamard R4 (down=hadamard, what the
 *      paper's U_D is: a PCA basis there cannot be folded through SwiGLU) or
 *      an online dense PCA basis per layer (down=pca, inverse folded into w2;
 *      [hidden]² floats per layer);
 *   6. declare the high-precision channels to the quantizers (ctx->quant):
 *      the last r of the residual-stream points (qkv_in, gate_up_in,
 *      classifier_in), the last r_h = floor(fraction·head_dim) of every head
 *      at o_in, V and (key=pca) K, the last r_d of down_in with down=pca
 *      (none with the Hadamard).  They are quantized at --a-high-bits /
 *      --kv-high-bits (8), the rest at --a-bits / --kv-bits.
 * bases=decoder|layer (step 2 then keeps the qkv and gate/up input moments
 * per layer; step 5 uses rb_rotate_residual_each): a residual basis per
 * layer from its pooled qkv+gate/up inputs (decoder), or one from the qkv
 * inputs and one from the gate/up inputs of each layer (layer); the stream
 * is carried between them by online dim×dim basis changes (the
 * reference's basis_change_1/2 linears), the classifier reads the subspace
 * rotation alone (the reference's lm_head gets R1 without a basis), so its
 * input has no high split.  down=pca with down_block=B: one B×B basis per
 * layer from the w2 input cut into hidden/B blocks (moments pooled over the
 * blocks), applied block-diagonally; the high channels are the last
 * floor(fraction·B) of every block.
 * fraction = 0 leaves no high channels: the bases then only feed one random
 * rotation of the whole space, i.e. a QuaRot-like random rotation.
 * Weights stay in full precision here; with weights=mixed (the default, as
 * the paper and its reference code, which quantize W[:, high] with the
 * high-bit quantizer) the stage also sets ctx->quant->w_mixed, so that a
 * later rtn or gptq stage quantizes the weight columns that multiply the
 * high channels at --w-high-bits (8) and the rest at --w-bits
 * (core/quant.h); weights=uniform quantizes every column at --w-bits.  The online transforms cannot be
 * saved to a llama2.c file: compose "resq,gptq" in one pipeline. */
#include "methods/resq.h"

#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/io.h"
#include "kernels/hadamard.h"
#include "methods/method.h"
#include "methods/rotate.h"

/* ---- second moments ------------------------------------------------------ */

/* Hook return value that ends a window's forward once the last statistic
 * is in (not an error): the rest of the last layer and the classifier
 * would only be discarded. */
enum { STOP_WINDOW = 1 };

typedef struct collect_state {
    rb_resq_cov *cov;
    rb_act_point last; /* the last layer's point after which nothing is needed */
    double *buf;    /* [max_T][width] float64 copy of the hooked values */
    size_t buf_cap; /* doubles */
} collect_state;

/* c [n][n] (upper triangle) += Σ_t x_tᵀ·x_t over the rows of x [rows][n]
 * (row stride ld floats), in float64.  Small products (the per-head ones)
 * run serially here: thousands of tiny dsyrk calls cost more in OpenMP
 * start-ups than in arithmetic. */
static int accumulate(collect_state *s, const float *x, int rows, int n, int ld, double *c,
                      rb_error *err) {
    if (n < 128) {
        for (int t = 0; t < rows; t++) {
            const float *xt = x + (size_t)t * ld;
            for (int i = 0; i < n; i++) {
                double xi = xt[i], *ci = c + (size_t)i * n;
                for (int j = i; j < n; j++) ci[j] += xi * xt[j];
            }
        }
        return RB_OK;
    }
    size_t need = (size_t)rows * n;
    if (need > s->buf_cap) {
        double *b = realloc(s->buf, sizeof(double) * need);
        if (!b) return rb_error_set(err, RB_ENOMEM, "out of memory for the resq statistics");
        s->buf = b;
        s->buf_cap = need;
    }
    for (int t = 0; t < rows; t++)
        for (int j = 0; j < n; j++) s->buf[(size_t)t * n + j] = x[(size_t)t * ld + j];
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, n, rows, 1.0, s->buf, n, 1.0, c, n);
    return RB_OK;
}

static int collect_act(void *ctx, int layer, rb_act_point p, float *x, int rows, int cols,
                       rb_error *err) {
    collect_state *s = ctx;
    rb_resq_cov *c = s->cov;
    if (layer >= c->n_layers) return RB_OK; /* the classifier's input */
    if (p == RB_ACT_QKV_IN && layer == 0) c->n_tokens += rows;
    int rc = RB_OK;
    size_t dd = (size_t)c->dim * c->dim, bb = (size_t)c->down_block * c->down_block;
    if (p == RB_ACT_QKV_IN || p == RB_ACT_GATE_UP_IN) {
        double *dst = !c->attn ? c->resid : (p == RB_ACT_QKV_IN ? c->attn : c->ffn) + layer * dd;
        rc = accumulate(s, x, rows, cols, cols, dst, err);
    } else if (p == RB_ACT_DOWN_IN && c->down) /* [rows][hidden] as [rows·hidden/B][B] */
        rc = accumulate(s, x, rows * (cols / c->down_block), c->down_block, c->down_block,
                        c->down + layer * bb, err);
    return !rc && layer == c->n_layers - 1 && p == s->last ? STOP_WINDOW : rc;
}

static int collect_qkv(void *ctx, int layer, float *q, float *k, float *v, int T,
                       const rb_config *cfg, rb_error *err) {
    (void)q;
    collect_state *s = ctx;
    rb_resq_cov *c = s->cov;
    int hd = cfg->head_dim, kvdim = cfg->n_kv_heads * hd, rc;
    size_t hh = (size_t)hd * hd;
    for (int g = 0; g < cfg->n_kv_heads; g++) {
        double *cv = c->value + ((size_t)layer * cfg->n_kv_heads + g) * hh;
        if ((rc = accumulate(s, v + (size_t)g * hd, T, hd, kvdim, cv, err)) ||
            (rc = accumulate(s, k + (size_t)g * hd, T, hd, kvdim, c->key + (size_t)layer * hh,
                             err)))
            return rc;
    }
    return RB_OK;
}

/* Upper triangle → full matrix, divided by count. */
static void finish(double *a, int n, double count) {
    double inv = count > 0 ? 1.0 / count : 0.0;
    for (int i = 0; i < n; i++) {
        for (int j = i; j < n; j++) a[(size_t)i * n + j] *= inv;
        for (int j = 0; j < i; j++) a[(size_t)i * n + j] = a[(size_t)j * n + i];
    }
}

void rb_resq_cov_free(rb_resq_cov *c) {
    free(c->resid);
    free(c->value);
    free(c->key);
    free(c->down);
    free(c->attn);
    free(c->ffn);
    c->resid = c->value = c->key = c->down = c->attn = c->ffn = NULL;
}

int rb_resq_collect(const rb_model *m, const rb_calib *calib, int down_block, int per_layer,
                    rb_resq_cov *out, rb_error *err) {
    const rb_config *c = &m->cfg;
    memset(out, 0, sizeof *out);
    int want_down = down_block > 0;
    if (down_block < 0 || (want_down && c->hidden_dim % down_block))
        return rb_error_set(err, RB_EINVAL,
                            "down_proj block %d does not divide the hidden size %d (divisors "
                            "of %d are the blocks that tile it)",
                            down_block, c->hidden_dim, c->hidden_dim);
    out->down_block = down_block;
    out->n_layers = c->n_layers;
    out->dim = c->dim;
    out->head_dim = c->head_dim;
    out->n_kv_heads = c->n_kv_heads;
    out->hidden = c->hidden_dim;
    size_t L = (size_t)c->n_layers, hh = (size_t)c->head_dim * c->head_dim;
    out->resid = calloc((size_t)c->dim * c->dim, sizeof(double));
    out->value = calloc(L * c->n_kv_heads * hh, sizeof(double));
    out->key = calloc(L * hh, sizeof(double));
    size_t dd = (size_t)c->dim * c->dim;
    if (want_down) out->down = calloc(L * down_block * down_block, sizeof(double));
    if (per_layer) {
        out->attn = calloc(L * dd, sizeof(double));
        out->ffn = calloc(L * dd, sizeof(double));
    }
    if (!out->resid || !out->value || !out->key || (want_down && !out->down) ||
        (per_layer && (!out->attn || !out->ffn))) {
        rb_resq_cov_free(out);
        return rb_error_set(err, RB_ENOMEM, "out of memory for the resq covariances");
    }
    collect_state s = {out, want_down ? RB_ACT_DOWN_IN : RB_ACT_GATE_UP_IN, NULL, 0};
    rb_hooks h = {.ctx = &s, .activation = collect_act, .qkv = collect_qkv};
    rb_workspace ws;
    int rc = rb_workspace_init(&ws, c, calib->window, err);
    for (int w = 0; !rc && w < calib->n_windows; w++) {
        rc = rb_forward(m, &ws, calib->tokens + (size_t)w * calib->window, calib->window, &h, err);
        if (rc == STOP_WINDOW) rc = RB_OK;
    }
    rb_workspace_free(&ws);
    free(s.buf);
    if (rc) {
        rb_resq_cov_free(out);
        return rc;
    }
    double n = (double)out->n_tokens;
    for (size_t l = 0; per_layer && l < L; l++) {
        finish(out->attn + l * dd, c->dim, n);
        finish(out->ffn + l * dd, c->dim, n);
        for (size_t i = 0; i < dd; i++)
            out->resid[i] += (out->attn[l * dd + i] + out->ffn[l * dd + i]) / (2.0 * L);
    }
    if (!per_layer) finish(out->resid, c->dim, 2.0 * n * c->n_layers);
    for (size_t i = 0; i < L * c->n_kv_heads; i++) finish(out->value + i * hh, c->head_dim, n);
    for (size_t l = 0; l < L; l++) finish(out->key + l * hh, c->head_dim, n * c->n_kv_heads);
    for (size_t l = 0; want_down && l < L; l++)
        finish(out->down + l * down_block * down_block, down_block,
               n * (c->hidden_dim / down_block));
    return RB_OK;
}

/* ---- bases and rotations ------------------------------------------------- */

int rb_pca(double *a, int n, double *w, rb_error *err) {
    lapack_int info = LAPACKE_dsyevd(LAPACK_ROW_MAJOR, 'V', 'U', n, a, n, w);
    if (info)
        return rb_error_set(err, RB_ENUMERIC, "eigendecomposition of a %dx%d covariance failed "
                            "(dsyevd info %d)", n, n, (int)info);
    return RB_OK;
}

int rb_resq_high_count(double fraction, int n) {
    int r = (int)floor(fraction * n + 1e-9);
    return r < 0 ? 0 : r > n ? n : r;
}

/* kind, or random_orthogonal where n has no Hadamard matrix. */
static rb_rotation_kind fitting_kind(rb_rotation_kind kind, int n) {
    int k, e;
    rb_error ignored;
    if (kind == RB_ROT_RANDOM_ORTHOGONAL || rb_hadamard_factor(n, &k, &e, &ignored) == RB_OK)
        return kind;
    return RB_ROT_RANDOM_ORTHOGONAL;
}

void rb_resq_blocks_free(rb_resq_blocks *b) {
    free(b->low);
    free(b->high);
    b->low = b->high = NULL;
}

int rb_resq_blocks_make(int n, int r, rb_rotation_kind kind, uint64_t seed, rb_resq_blocks *out,
                        rb_error *err) {
    out->n = n;
    out->r = r;
    int sizes[2] = {n - r, r}, rc;
    float **dst[2] = {&out->low, &out->high};
    out->low = out->high = NULL;
    for (int i = 0; i < 2; i++) {
        if (sizes[i] == 0) continue;
        *dst[i] = malloc(sizeof(float) * (size_t)sizes[i] * sizes[i]);
        if (!*dst[i]) {
            rb_resq_blocks_free(out);
            return rb_error_set(err, RB_ENOMEM, "out of memory for a %d-wide rotation", sizes[i]);
        }
        /* different streams for the two subspaces */
        uint64_t s = seed + (uint64_t)(i + 1) * 0x9e3779b97f4a7c15ull;
        if ((rc = rb_rotation_matrix(fitting_kind(kind, sizes[i]), sizes[i], s, *dst[i], err))) {
            rb_resq_blocks_free(out);
            return rb_error_prefix(err, "%s subspace (%d of %d): ", i ? "high" : "low", sizes[i],
                                   n);
        }
    }
    return RB_OK;
}

int rb_resq_compose(const double *U, const rb_resq_blocks *b, float *R, rb_error *err) {
    int n = b->n, r = b->r, lo = n - r;
    size_t big = (size_t)(lo > r ? lo : r);
    double *blk = malloc(sizeof(double) * big * big), *out = malloc(sizeof(double) * (size_t)n * big);
    if (!blk || !out) {
        free(blk);
        free(out);
        return rb_error_set(err, RB_ENOMEM, "out of memory composing a %dx%d rotation", n, n);
    }
    int widths[2] = {lo, r}, starts[2] = {0, lo};
    const float *src[2] = {b->low, b->high};
    for (int i = 0; i < 2; i++) {
        int w = widths[i];
        if (!w) continue;
        for (size_t j = 0; j < (size_t)w * w; j++) blk[j] = src[i][j];
        /* out [n][w] = U[:, start:start+w] · block */
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, w, w, 1.0, U + starts[i], n, blk,
                    w, 0.0, out, w);
        for (int row = 0; row < n; row++)
            for (int j = 0; j < w; j++)
                R[(size_t)row * n + starts[i] + j] = (float)out[(size_t)row * w + j];
    }
    free(blk);
    free(out);
    return RB_OK;
}

/* ---- the stage ------------------------------------------------------------ */

static int resq_apply(rb_stage_ctx *ctx, const rb_stage_opts *opt, rb_error *err);

static const char *const rotation_kinds[] = {"hadamard", "random_hadamard", "random_orthogonal",
                                             NULL};
static const char *const key_kinds[] = {"pca", "hadamard", NULL};
static const char *const down_kinds[] = {"hadamard", "pca", NULL};
static const char *const weight_kinds[] = {"mixed", "uniform", NULL};
static const char *const basis_kinds[] = {"shared", "decoder", "layer", NULL};
enum { BASES_SHARED, BASES_DECODER, BASES_LAYER };
enum { KEY_PCA, KEY_HADAMARD };
enum { DOWN_HADAMARD, DOWN_PCA };

static const rb_option_spec resq_options[] = {
    {"fraction", RB_OPT_FLOAT, 0.125, 0, 1,
     "share of each space kept in high precision (the top-variance PCA directions)", NULL},
    {"rotation", RB_OPT_CHOICE, RB_ROT_RANDOM_ORTHOGONAL, 0, 2,
     "random rotation inside each subspace: hadamard, random_hadamard or random_orthogonal "
     "(Hadamard kinds fall back to random_orthogonal where the size has none)",
     rotation_kinds},
    {"seed", RB_OPT_INT, -1, -1, 1e9, "seed of the subspace rotations (-1: the run's --seed)", NULL},
    {"key", RB_OPT_CHOICE, KEY_PCA, 0, 1,
     "q/k after RoPE: pca (online per-layer basis, K mixed precision) or hadamard (QuaRot's R3)",
     key_kinds},
    {"down", RB_OPT_CHOICE, DOWN_HADAMARD, 0, 1,
     "input of down_proj: hadamard (online R4, uniform precision, the paper's U_D) or pca "
     "(online dense basis per layer, mixed precision)",
     down_kinds},
    {"bases", RB_OPT_CHOICE, BASES_SHARED, 0, 2,
     "residual-stream bases: shared (one for every layer, fused as R1: the reference's "
     "full_shared), decoder (one per layer from its attention and MLP inputs) or layer (one "
     "for the attention inputs and one for the MLP inputs of each layer); decoder and layer "
     "carry the stream between bases by online dim x dim basis changes",
     basis_kinds},
    {"down_block", RB_OPT_INT, 0, 0, 1 << 20,
     "with down=pca: block size B of the down_proj basis, one BxB PCA basis per layer from "
     "the w2 input cut into blocks of B and pooled, repeated block-diagonally (B must divide "
     "the hidden size; 0: B = hidden, one dense basis)",
     NULL},
    {"weights", RB_OPT_CHOICE, 0, 0, 1,
     "weight columns under the high channels: mixed (at --w-high-bits, the paper's) or "
     "uniform (every column at --w-bits)",
     weight_kinds},
    {NULL}};

const rb_method rb_method_resq = {
    .name = "resq",
    .help = "PCA bases with a high-precision top-variance subspace and random rotations inside "
            "each subspace (Saxena et al. 2024)",
    .options = resq_options,
    .apply = resq_apply,
};

/* Seeds of the kinds of space, so that equal sizes still get different
 * rotations. */
enum { SPACE_RESID, SPACE_VALUE, SPACE_KEY, SPACE_DOWN };
static uint64_t space_seed(uint64_t seed, int space) {
    return seed ^ ((uint64_t)(space + 1) * 0xd1b54a32d192ed03ull);
}

/* For each of `count` covariances a [count][n][n] (destroyed): R [count][n][n]
 * = PCA basis · diag(blocks). */
static int bases(double *a, int count, int n, const rb_resq_blocks *blk, float *R, rb_error *err) {
    double *w = malloc(sizeof(double) * (size_t)n);
    if (!w) return rb_error_set(err, RB_ENOMEM, "out of memory for eigenvalues");
    int rc = RB_OK;
    for (int i = 0; !rc && i < count; i++) {
        size_t off = (size_t)i * n * n;
        if (!(rc = rb_pca(a + off, n, w, err))) rc = rb_resq_compose(a + off, blk, R + off, err);
    }
    free(w);
    return rc;
}

/* R [n][n] = I ⊗ ... : the block-diagonal matrix with blk [B][B] repeated
 * n/B times. */
static void block_diagonal(const float *blk, int B, int n, float *R) {
    memset(R, 0, sizeof(float) * (size_t)n * n);
    for (int o = 0; o < n; o += B)
        for (int i = 0; i < B; i++)
            memcpy(R + (size_t)(o + i) * n + o, blk + (size_t)i * B, sizeof(float) * B);
}

int rb_resq_layer_bases(rb_resq_cov *cov, const rb_resq_blocks *blk, float *A, float *M,
                        rb_error *err) {
    if (!cov->attn || !cov->ffn)
        return rb_error_set(err, RB_EINVAL, "per-layer bases need per-layer moments");
    int n = cov->dim, L = cov->n_layers, rc;
    size_t nn = (size_t)n * n;
    if (!M)
        for (size_t i = 0; i < (size_t)L * nn; i++) cov->attn[i] = 0.5 * (cov->attn[i] + cov->ffn[i]);
    if ((rc = bases(cov->attn, L, n, blk, A, err))) return rb_error_prefix(err, "attention inputs: ");
    if (M && (rc = bases(cov->ffn, L, n, blk, M, err))) return rb_error_prefix(err, "MLP inputs: ");
    double *eye = calloc(nn, sizeof(double));
    if (!eye) return rb_error_set(err, RB_ENOMEM, "out of memory for the final basis");
    for (int i = 0; i < n; i++) eye[(size_t)i * n + i] = 1.0;
    rc = rb_resq_compose(eye, blk, A + (size_t)L * nn, err);
    free(eye);
    return rc;
}

static int resq_apply(rb_stage_ctx *ctx, const rb_stage_opts *opt, rb_error *err) {
    const rb_method *me = &rb_method_resq;
    double fraction = rb_opt_get(me, opt, "fraction");
    rb_rotation_kind kind = (rb_rotation_kind)rb_opt_get(me, opt, "rotation");
    double seed_opt = rb_opt_get(me, opt, "seed");
    uint64_t seed = seed_opt < 0 ? ctx->seed : (uint64_t)seed_opt;
    int key = (int)rb_opt_get(me, opt, "key"), down = (int)rb_opt_get(me, opt, "down");
    int w_mixed = (int)rb_opt_get(me, opt, "weights") == 0;
    int mode = (int)rb_opt_get(me, opt, "bases"), B = (int)rb_opt_get(me, opt, "down_block");
    rb_model *m = ctx->model;
    const rb_config *c = &m->cfg;
    if (!ctx->calib) return rb_error_set(err, RB_EINVAL, "needs calibration data");
    int hd = c->head_dim, hid = c->hidden_dim, L = c->n_layers;
    if (B && down != DOWN_PCA)
        return rb_error_set(err, RB_EINVAL, "down_block=%d needs down=pca (the online Hadamard "
                            "R4 spans the whole hidden size %d)", B, hid);
    if (down == DOWN_PCA && !B) B = hid;
    if (B && hid % B)
        return rb_error_set(err, RB_EINVAL, "down_block=%d does not divide the hidden size %d",
                            B, hid);
    int r = rb_resq_high_count(fraction, c->dim), rh = rb_resq_high_count(fraction, hd);
    int rd = down == DOWN_PCA ? rb_resq_high_count(fraction, B) : 0;
    double t0 = rb_now();
    rb_resq_cov cov = {0};
    rb_resq_blocks b_res = {0}, b_val = {0}, b_key = {0}, b_down = {0};
    size_t hh = (size_t)hd * hd, dd = (size_t)c->dim * c->dim;
    int per_layer = mode != BASES_SHARED;
    float *R1 = malloc(sizeof(float) * (per_layer ? (size_t)(L + 1) : 1) * dd);
    float *RM = mode == BASES_LAYER ? malloc(sizeof(float) * L * dd) : NULL;
    float *RV = malloc(sizeof(float) * L * c->n_kv_heads * hh);
    float *RK = key == KEY_PCA ? malloc(sizeof(float) * L * hh) : NULL;
    float *RB = down == DOWN_PCA ? malloc(sizeof(float) * L * (size_t)B * B) : NULL;
    float *RD = down == DOWN_PCA ? malloc(sizeof(float) * L * (size_t)hid * hid) : NULL;
    int rc = RB_OK;
    if (!R1 || !RV || (mode == BASES_LAYER && !RM) || (key == KEY_PCA && !RK) ||
        (down == DOWN_PCA && (!RD || !RB)))
        rc = rb_error_set(err, RB_ENOMEM, "cannot allocate the resq rotations");
    /* the random rotations first: they do not depend on the data */
    if (!rc) rc = rb_resq_blocks_make(c->dim, r, kind, space_seed(seed, SPACE_RESID), &b_res, err);
    if (!rc) rc = rb_resq_blocks_make(hd, rh, kind, space_seed(seed, SPACE_VALUE), &b_val, err);
    if (!rc && RK) rc = rb_resq_blocks_make(hd, rh, kind, space_seed(seed, SPACE_KEY), &b_key, err);
    if (!rc && RD)
        rc = rb_resq_blocks_make(B, rd, kind, space_seed(seed, SPACE_DOWN), &b_down, err);
    if (!rc) rc = rb_rotate_fuse_norms(m, err);
    double t1 = rb_now();
    if (!rc) rc = rb_resq_collect(m, ctx->calib, down == DOWN_PCA ? B : 0, per_layer, &cov, err);
    double t2 = rb_now();
    if (!rc && !per_layer && (rc = bases(cov.resid, 1, c->dim, &b_res, R1, err)))
        rb_error_prefix(err, "residual basis: ");
    if (!rc && per_layer && (rc = rb_resq_layer_bases(&cov, &b_res, R1, RM, err)))
        rb_error_prefix(err, "residual bases: ");
    if (!rc && (rc = bases(cov.value, L * c->n_kv_heads, hd, &b_val, RV, err)))
        rb_error_prefix(err, "value bases: ");
    if (!rc && RK && (rc = bases(cov.key, L, hd, &b_key, RK, err)))
        rb_error_prefix(err, "key bases: ");
    if (!rc && RD && (rc = bases(cov.down, L, B, &b_down, RB, err)))
        rb_error_prefix(err, "down_proj bases: ");
    for (int l = 0; !rc && RD && l < L; l++)
        block_diagonal(RB + (size_t)l * B * B, B, hid, RD + (size_t)l * hid * hid);
    double t3 = rb_now();
    long n_tokens = cov.n_tokens;
    rb_resq_cov_free(&cov); /* before the fusing: it may need as much again */
    if (!rc) rc = per_layer ? rb_rotate_residual_each(m, R1, RM, err) : rb_rotate_residual(m, R1, err);
    if (!rc) rc = rb_rotate_value_heads_each(m, RV, err);
    if (!rc && key == KEY_HADAMARD) rc = rb_rotate_online(m, 1, 0, 0, err);
    if (!rc && down == DOWN_HADAMARD) rc = rb_rotate_online(m, 0, 1, 0, err);
    if (!rc && (RK || RD)) rc = rb_rotate_online_dense(m, RK, RD, err);
    if (!rc) {
        rb_quant_config *q = ctx->quant;
        rb_quant_split res = {c->dim, r}, head = {hd, rh};
        q->a_split[RB_ACT_QKV_IN] = q->a_split[RB_ACT_GATE_UP_IN] = res;
        /* per layer, the classifier reads the subspace rotations alone: no
         * PCA there, so no high subspace to keep */
        q->a_split[RB_ACT_CLASSIFIER_IN] = per_layer ? (rb_quant_split){0, 0} : res;
        q->a_split[RB_ACT_O_IN] = head;
        q->a_split[RB_ACT_DOWN_IN] = (rb_quant_split){RD ? B : hid, rd};
        q->v_split = head;
        q->k_split = key == KEY_PCA ? head : (rb_quant_split){0, 0};
        q->w_mixed = w_mixed;
    }
    if (!rc)
        rb_logf(ctx->log,
                "resq: %d of %d residual (%s bases), %d of %d per head, %d of every %d down_proj "
                "channels high; rotations %.2f s, covariances over %ld tokens %.2f s, bases "
                "%.2f s, fusing %.2f s",
                r, c->dim, basis_kinds[mode], rh, hd, rd, RD ? B : hid, t1 - t0, n_tokens,
                t2 - t1, t3 - t2, rb_now() - t3);
    rb_resq_blocks_free(&b_res);
    rb_resq_blocks_free(&b_val);
    rb_resq_blocks_free(&b_key);
    rb_resq_blocks_free(&b_down);
    free(R1);
    free(RM);
    free(RV);
    free(RK);
    free(RB);
    free(RD);
    return rc;
}
