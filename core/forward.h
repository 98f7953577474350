/* The batched fp32 Llama forward with quantization hooks.
 *
 * rb_forward runs one window of T tokens (positions 0..T-1) through the model:
 *   x = embed(tokens)                                           [T][dim]
 *   per layer: h = rmsnorm(x)·attn_norm → hook(QKV_IN) → q,k,v = h·Wq/Wk/Wvᵀ
 *              [+ bq, bk, bv] → RoPE(q,k) → [online H_hd on q, k]
 *              → [online dense per head on q, k] → hook qkv (KV-cache quantization)
 *              → causal GQA attention → [online H_heads across heads] → hook(O_IN)
 *              → [online x ← x·resid_attnᵀ] → x += ·Woᵀ
 *              h = rmsnorm(x)·ffn_norm → hook(GATE_UP_IN) → a = h·W1ᵀ, b = h·W3ᵀ
 *              → a = silu(a)·b → [online H_hidden] → [online dense] → hook(DOWN_IN)
 *              → [online x ← x·resid_ffnᵀ] → x += a·W2ᵀ
 *   h = rmsnorm(x)·final_norm → hook(CLASSIFIER_IN) → logits = h·Clsᵀ  [T][vocab]
 * q has n_heads·head_dim columns, k and v n_kv_heads·head_dim; head_dim need
 * not be dim/n_heads (wo maps n_heads·head_dim back to dim).  The biases
 * (cfg.qkv_bias) are added before RoPE.  RoPE's frequencies follow
 * cfg.rope_theta and cfg.rope_scaling (rb_rope_freqs).
 * Every linear's weight goes through hooks->weight (if set), which may return
 * a different matrix of the same shape (fake-quantized or rotated weights);
 * biases stay fp32 and are not hooked.
 * The bracketed online transforms run when m->online asks for them (QuaRot,
 * ResQ).
 * With hooks == NULL (or all members NULL) it is the plain fp32 forward.
 * One layer is written once, in rb_layer_forward: rb_forward_segments and
 * the training forward (core/train.h) both call it, with different buffers.
 */
#ifndef RB_FORWARD_H
#define RB_FORWARD_H

#include <stdint.h>

#include "base/error.h"
#include "core/model.h"
#include "kernels/ops.h" /* rb_segment */

typedef enum rb_act_point {
    RB_ACT_QKV_IN,        /* input of wq, wk, wv   [T][dim] */
    RB_ACT_O_IN,          /* input of wo           [T][n_heads*head_dim] */
    RB_ACT_GATE_UP_IN,    /* input of w1, w3       [T][dim] */
    RB_ACT_DOWN_IN,       /* input of w2           [T][hidden] */
    RB_ACT_CLASSIFIER_IN, /* input of the classifier (layer == n_layers) [T][dim] */
    RB_ACT_POINT_COUNT
} rb_act_point;

const char *rb_act_point_name(rb_act_point p);
/* The activation point that feeds linear id (RB_LINEAR_COUNT: the classifier). */
rb_act_point rb_linear_input(rb_linear_id id);

typedef struct rb_hooks {
    void *ctx;
    /* Called on a linear's input x[rows][cols] in place, before the linear. */
    int (*activation)(void *ctx, int layer, rb_act_point point, float *x, int rows, int cols,
                      rb_error *err);
    /* Called after RoPE on q [T][n_heads*hd], k, v [T][n_kv_heads*hd] in place:
     * the K/V cache of this window. */
    int (*qkv)(void *ctx, int layer, float *q, float *k, float *v, int T, const rb_config *cfg,
               rb_error *err);
    /* When set, asked after qkv for the quantized form of this window's K
     * and V (kernels/kv_codes.h) that attention then reads instead of k and
     * v; *k / *v left NULL: the float one (integer kernels: core/qlinear.h). */
    void (*kv_codes)(void *ctx, int layer, const struct rb_kv_codes **k,
                     const struct rb_kv_codes **v);
    /* Returns the weight matrix to use for linear `id` of `layer` (w is the
     * model's); must not return NULL. layer == n_layers means the classifier
     * (id is then RB_LINEAR_COUNT). */
    const float *(*weight)(void *ctx, int layer, rb_linear_id id, const float *w);
    /* When set, computes every linear instead of the fp32 GEMM: y [T][n_out]
     * = x·wᵀ (accumulate: y +=), x the input after the activation hook, w
     * the matrix hooks->weight gave (integer kernels: core/qlinear.h).  Same
     * (layer, id) convention as weight. */
    int (*linear)(void *ctx, int layer, rb_linear_id id, float *y, const float *x,
                  const float *w, int T, int n_in, int n_out, int accumulate, rb_error *err);
    /* Nonzero when a hook's result for a row depends on the other rows of
     * the window (dynamic per-tensor scales): then packed windows
     * (rb_forward_segments) do not reproduce separate windows, and callers
     * that pack must not. */
    int window_dependent;
} rb_hooks;

/* hooks->activation on x (if set), with "layer L POINT: " prefixed to its
 * error; RB_OK without hooks. */
int rb_hooks_activation(const rb_hooks *h, int layer, rb_act_point p, float *x, int rows,
                        int cols, rb_error *err);
/* hooks->weight's matrix for a linear, or w itself without hooks. */
const float *rb_hooks_weight(const rb_hooks *h, int layer, rb_linear_id id, const float *w);
/* y = x·wᵀ (accumulate: y +=) by hooks->linear, else rb_linear /
 * rb_linear_acc; its error gets "layer L LINEAR: " prefixed. */
int rb_hooks_linear(const rb_hooks *h, int layer, rb_linear_id id, float *y, const float *x,
                    const float *w, int T, int n_in, int n_out, int accumulate, rb_error *err);

/* The inverse RoPE frequencies of a configuration, freq [head_dim/2]
 * (kernels/ops.h rules): θ = cfg.rope_theta, then LINEAR / LLAMA3 with the
 * cfg's factors, or FREQ_FACTORS dividing by freq_factors [head_dim/2]
 * (rb_model.rope_freq_factors; NULL: left at the default). */
void rb_rope_freqs(const rb_config *cfg, const float *freq_factors, double *freq);

/* RoPE tables cos/sin [max_pos][head_dim/2] for a model, with freq
 * [head_dim] doubles: the first half the frequencies the tables hold, the
 * second scratch.  rb_rope_tables_init builds them from the configuration
 * (rope_freq_factors unknown: default); rb_rope_tables_sync recomputes m's
 * frequencies (cheap) and rebuilds the tables only when they differ, so a
 * workspace follows a model's freq factors. */
void rb_rope_tables_init(const rb_config *cfg, double *freq, float *cos_tab, float *sin_tab,
                         int max_pos);
void rb_rope_tables_sync(const rb_model *m, double *freq, float *cos_tab, float *sin_tab,
                         int max_pos);

/* Buffers for windows of up to max_T tokens; owned, freed by
 * rb_workspace_free.  `logits` [max_T][vocab] holds the last forward's
 * output. */
typedef struct rb_workspace {
    int max_T, threads;
    float *x, *xb, *q, *k, *v, *att, *hb, *hb2, *logits;
    float *rope_cos, *rope_sin; /* [max_T][head_dim/2] */
    double *rope_freq;          /* [head_dim]: rb_rope_tables_sync */
    float *att_scratch;         /* threads × rb_attention_scratch_floats */
} rb_workspace;

int rb_workspace_init(rb_workspace *ws, const rb_config *cfg, int max_T, rb_error *err);
void rb_workspace_free(rb_workspace *ws);

/* Runs tokens[0..T) (1 ≤ T ≤ ws->max_T, ids < vocab) and leaves logits in
 * ws->logits.  Errors: RB_EINVAL for bad T or token ids; hook errors are passed
 * through with the layer prefixed. */
int rb_forward(const rb_model *m, rb_workspace *ws, const int32_t *tokens, int T,
               const rb_hooks *hooks, rb_error *err);

/* rb_forward with the classifier run only for positions [from, T)
 * (0 ≤ from < T): ws->logits row i holds position from + i.  What a scoring
 * rule that reads only those rows needs (llama.cpp's perplexity scores the
 * second half of each window).  The rows equal rb_forward's up to the BLAS
 * summing a product of fewer rows another way (bit for bit with OpenBLAS's
 * SkylakeX kernels for tens of rows and more, not with its Haswell kernels
 * nor for a few rows, where it takes its small-matrix kernels).  At least two rows
 * are computed (one row would go through sgemv).  Hooks marked
 * window_dependent get the whole head, as in rb_forward, and the rows are
 * moved down. */
int rb_forward_rows(const rb_model *m, rb_workspace *ws, const int32_t *tokens, int T, int from,
                    const rb_hooks *hooks, rb_error *err);

/* rb_forward of a packed window (kernels/ops.h rb_segment): the segments tile
 * [0, T) in order; a segment's prefix is the beginning of an earlier segment
 * that has no prefix (its second prefix part, if any, the beginning of an
 * earlier segment with the same first prefix).  Each segment's rows of ws->logits equal rb_forward of
 * [its prefix, its tokens] alone when the hooks treat rows independently
 * (per-token or static quantizers; see rb_hooks.window_dependent).  RoPE
 * positions reach prefix_len + len - 1 < ws->max_T.  Bad tilings are
 * RB_EINVAL. */
int rb_forward_segments(const rb_model *m, rb_workspace *ws, const int32_t *tokens, int T,
                        const rb_segment *seg, int n_seg, const rb_hooks *hooks, rb_error *err);

/* rb_forward_segments with the classifier run only on the rows
 * rows[0..n_rows) of the window (ascending, distinct, in [0, T); NULL: all
 * T): ws->logits row i holds window row rows[i].  What a scoring rule that
 * reads a few scattered rows needs (zero-shot reads its continuations').
 * The rows equal rb_forward_segments' to rounding (BLAS may sum a product
 * of fewer rows another way).  Hooks marked window_dependent get the whole
 * head and the rows are gathered after it.  Bad rows are RB_EINVAL. */
int rb_forward_segments_rows(const rb_model *m, rb_workspace *ws, const int32_t *tokens, int T,
                             const rb_segment *seg, int n_seg, const int *rows, int n_rows,
                             const rb_hooks *hooks, rb_error *err);

/* Where one layer (rb_layer_forward) reads and writes, for T tokens.  The
 * inference forward points several of them at the same reused buffers; the
 * training forward gives each layer its own, to keep them for the backward.
 * Shapes: qdim = n_heads·head_dim, kvdim = n_kv_heads·head_dim. */
typedef struct rb_layer_bufs {
    float *x;              /* [T][dim] the residual stream, updated in place */
    float *x_attn, *x_ffn; /* [T][dim] or NULL: copies of x entering each RMSNorm */
    float *h_attn, *h_ffn; /* [T][dim] the normed inputs of the linears, after
                            * their hook (may be one buffer) */
    float *q, *k, *v;      /* [T][qdim], [T][kvdim], [T][kvdim]: after the bias,
                            * RoPE, the online q/k transforms and the qkv hook */
    float *att;            /* [T][qdim] the input of wo, after its hook */
    float *a, *b;          /* [T][hidden] w1 and w3 outputs */
    float *g;              /* [T][hidden] the input of w2; g == a computes the
                            * SwiGLU in place (a is then not kept) */
    float *tmp_qk;         /* [T][qdim] scratch of the dense q/k transform (may be att) */
    float *tmp_down;       /* [T][hidden] scratch of the dense down transform
                            * (may be b when g == a) */
    float *tmp_x;          /* [T][dim] scratch of the residual basis changes
                            * (may be h_attn/h_ffn: used after the linears read
                            * them); NULL: a model with them is refused */
    const float *rope_cos, *rope_sin; /* rb_rope_tables_* */
    float *att_scratch;    /* threads × rb_attention_scratch_floats(max keys, hd) */
    int threads;
    const float **w_used;  /* [RB_LINEAR_COUNT] or NULL: receives the weights
                            * (hooks->weight's) the layer multiplied by */
} rb_layer_bufs;

/* Layer l of m on the T tokens of a packed window (seg as rb_forward_segments;
 * tilings are not checked here): b->x ← layer(b->x).  Hook errors are passed
 * through with the layer prefixed. */
int rb_layer_forward(const rb_model *m, int l, const rb_layer_bufs *b, int T,
                     const rb_segment *seg, int n_seg, const rb_hooks *hooks, rb_error *err);

/* The layer buffers rb_forward runs every layer in: ws's, reused layer
 * after layer (x = ws->x; the SwiGLU in place).  A caller that runs
 * rb_layer_forward itself with these, after rb_rope_tables_sync(m,
 * ws->rope_freq, ws->rope_cos, ws->rope_sin, ws->max_T), computes what
 * rb_forward computes, bit for bit. */
rb_layer_bufs rb_workspace_layer_bufs(rb_workspace *ws);

/* The steps around the layers, shared by both forwards: RB_EINVAL unless
 * every token id is below the vocabulary; x [T][dim] ← the embedding rows;
 * h ← rmsnorm(x)·final_norm, its hook, logits [T][vocab] = h·Clsᵀ (the
 * classifier hooks->weight gave is stored in *cls_used when not NULL). */
int rb_forward_check_tokens(const rb_config *cfg, const int32_t *tokens, int T, rb_error *err);
void rb_forward_embed(const rb_model *m, const int32_t *tokens, int T, float *x);
int rb_forward_head(const rb_model *m, const float *x, float *h, float *logits, int T,
                    const rb_hooks *hooks, const float **cls_used, rb_error *err);

#endif
