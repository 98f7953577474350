/* rb_model: a Llama-family model's configuration and fp32 weights.
 *
 * Shapes (row-major, [rows][cols]; every linear is [out][in], y = x·Wᵀ):
 *   token_embedding [vocab][dim]
 *   per layer l:
 *     attn_norm [dim]
 *     wq [n_heads*head_dim][dim]     wk, wv [n_kv_heads*head_dim][dim]
 *     wo [dim][n_heads*head_dim]
 *     ffn_norm [dim]
 *     w1 (gate) [hidden][dim]   w3 (up) [hidden][dim]   w2 (down) [dim][hidden]
 *     bq [n_heads*head_dim], bk, bv [n_kv_heads*head_dim]  (only when cfg.qkv_bias)
 *   final_norm [dim]
 *   classifier [vocab][dim]   (== token_embedding when the file shares them)
 *   rope_freq_factors [head_dim/2]  (only for RB_ROPE_SCALING_FREQ_FACTORS)
 *
 * Ownership: the model owns one weight arena (a private copy-on-write mmap of
 * the file, or a malloc'd block for synthetic/untied models).  All weight
 * pointers point into it, except `classifier` after rb_model_untie_classifier,
 * which owns a separate block.  Methods may modify weights in place.
 */
#ifndef RB_MODEL_H
#define RB_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

typedef struct rb_model rb_model;

typedef struct rb_config {
    int dim;          /* residual width */
    int hidden_dim;   /* FFN width */
    int n_layers;
    int n_heads;
    int n_kv_heads;   /* divides n_heads (grouped-query attention) */
    int vocab_size;
    int seq_len;      /* maximum context the model was trained for */
    int head_dim;     /* even (RoPE pairs); dim / n_heads unless the checkpoint says
                       * otherwise (q is n_heads·head_dim wide, wo maps it to dim) */
    float norm_eps;   /* RMSNorm epsilon, 1e-5 */
    float rope_theta; /* 10000 (Llama-2), 500000 (Llama-3) */
    /* RoPE frequency scaling (HF config's rope_scaling; GGUF's rope_freqs.weight).
     * RB_ROPE_SCALING_NONE for llama2.c models. */
    int rope_scaling;            /* rb_rope_scaling */
    float rope_factor;           /* LINEAR and LLAMA3: factor */
    float rope_low_freq_factor;  /* LLAMA3 */
    float rope_high_freq_factor; /* LLAMA3 */
    int rope_orig_max_pos;       /* LLAMA3: original_max_position_embeddings */
    int qkv_bias;     /* wq, wk, wv have output biases (Qwen2; Llama attention_bias) */
} rb_config;

/* How RoPE frequencies are scaled.  LINEAR divides every frequency by
 * rope_factor (positions / factor); LLAMA3 is Llama-3.1's per-frequency rule
 * from rope_factor, the low/high frequency factors and rope_orig_max_pos;
 * FREQ_FACTORS divides frequency i by rb_model.rope_freq_factors[i] as
 * carried by a GGUF file (llama.cpp's rope_freqs.weight). */
typedef enum rb_rope_scaling {
    RB_ROPE_SCALING_NONE = 0,
    RB_ROPE_SCALING_LINEAR,
    RB_ROPE_SCALING_LLAMA3,
    RB_ROPE_SCALING_FREQ_FACTORS
} rb_rope_scaling;

/* The seven linears of a layer, in a fixed order for iteration. */
typedef enum rb_linear_id {
    RB_WQ, RB_WK, RB_WV, RB_WO, RB_W1, RB_W2, RB_W3, RB_LINEAR_COUNT
} rb_linear_id;

typedef struct rb_layer {
    float *attn_norm, *wq, *wk, *wv, *wo, *ffn_norm, *w1, *w2, *w3;
    /* Output biases of wq [n_heads*head_dim], wk, wv [n_kv_heads*head_dim]:
     * y = x·Wᵀ + b.  NULL unless cfg.qkv_bias. */
    float *bq, *bk, *bv;
} rb_layer;

/* Online transforms the forward applies (QuaRot's R3/R4 and head-wise
 * Hadamard; SpinQuant keeps them; ResQ's key and down_proj bases).  The
 * flags are the normalized Hadamard H_n of kernels/hadamard.h; the matrices
 * are dense per-layer transforms written as linears, x ← x·Wᵀ with W
 * [n][n] orthogonal.  All run before the quantization hooks see the values;
 * the matching inverse is folded into the weights by the stage that set
 * them (nothing to fold for q/k: q·kᵀ is unchanged).  Where a flag and a
 * matrix are both on, the Hadamard runs first.  All off (NULL) for a
 * loaded model; the llama2.c format cannot store them.  The matrices are
 * owned by the model (freed by rb_model_free, deep-copied by
 * rb_model_clone). */
typedef struct rb_online_plan {
    int qk_hadamard;     /* R3: H_head_dim on every head of q and k after RoPE */
    int down_hadamard;   /* R4: H_hidden on the input of w2 */
    int o_head_hadamard; /* H_n_heads across the heads of the input of wo */
    float *qk_dense;     /* [n_layers][head_dim][head_dim] or NULL: every head of
                          * q and k after RoPE, layer l's matrix */
    float *down_dense;   /* [n_layers][hidden][hidden] or NULL: the input of w2 */
    /* Basis changes of the residual stream (ResQ's per-layer bases, its
     * reference's basis_change_1/2 linears): [n_layers][dim][dim] or NULL.
     * resid_attn[l] turns x (the stream entering layer l) into x·Wᵀ just
     * before o_proj's output is added to it, resid_ffn[l] likewise before
     * down_proj's, so each sub-block may read and write its own basis.
     * Neither has a weight to fold into; the training forward (core/train.h)
     * and the GGUF/HF writers refuse them. */
    float *resid_attn, *resid_ffn;
} rb_online_plan;

/* Whether any online transform is on. */
int rb_online_plan_active(const rb_online_plan *p);

struct rb_model {
    rb_config cfg;
    rb_online_plan online;
    float *token_embedding;
    rb_layer *layers;          /* [n_layers], owned */
    float *final_norm;
    float *classifier;
    int classifier_shared;     /* classifier == token_embedding */
    /* arena */
    void *map;                 /* mmap base (NULL if malloc'd) */
    size_t map_bytes;
    float *owned;              /* malloc'd arena (NULL if mmapped) */
    float *owned_classifier;   /* set by rb_model_untie_classifier */
    float *owned_extra;        /* malloc'd block holding the biases and rope_freq_factors */
    float *rope_freq_factors;  /* [head_dim/2] when cfg.rope_scaling == FREQ_FACTORS, else NULL */
    char source[1024];         /* file it was loaded from, or "synthetic:..." */
};

/* A view of one linear's weight matrix: w[rows][cols], rows = out features. */
typedef struct rb_weight_view {
    float *w;
    int rows, cols;
} rb_weight_view;

/* The tensors of a model, in canonical order (llama2.c v0's file order with
 * the classifier after the final norm, then the tensors v0 cannot hold).
 * Formats bind their names to these through core/tensor_table.h. */
typedef enum rb_tensor_kind {
    RB_TENSOR_EMBED, RB_TENSOR_ATTN_NORM, RB_TENSOR_WQ, RB_TENSOR_WK, RB_TENSOR_WV,
    RB_TENSOR_WO, RB_TENSOR_FFN_NORM, RB_TENSOR_W1, RB_TENSOR_W2, RB_TENSOR_W3,
    RB_TENSOR_FINAL_NORM, RB_TENSOR_CLASSIFIER, RB_TENSOR_BQ, RB_TENSOR_BK, RB_TENSOR_BV,
    RB_TENSOR_ROPE_FREQS, RB_TENSOR_KIND_COUNT
} rb_tensor_kind;

/* Whether kind k exists once per layer (else once per model). */
int rb_tensor_per_layer(rb_tensor_kind k);
/* Whether a model of configuration c (classifier shared or not) has kind k:
 * the classifier only when untied, the biases only with qkv_bias, the
 * frequency factors only with RB_ROPE_SCALING_FREQ_FACTORS. */
int rb_tensor_present(const rb_config *c, int shared_classifier, rb_tensor_kind k);
/* Shape of one instance: 1-D tensors get ndim 1 and dims[0] = length; 2-D
 * ones dims = {rows, cols} ([out][in] for linears). */
void rb_tensor_shape(const rb_config *c, rb_tensor_kind k, int *ndim, int64_t dims[2]);
/* The model's name for kind k ("token_embedding", "wq", "bq", "rope_freqs", ...). */
const char *rb_tensor_kind_name(rb_tensor_kind k);
/* Address of the pointer that holds kind k of layer `layer` (0 for the
 * per-model kinds); a format binds or fills the tensor through it. */
float **rb_model_tensor_slot(rb_model *m, rb_tensor_kind k, int layer);

/* Checks a configuration for sane, consistent values (RB_EINVAL with the
 * field, its value and the allowed range). `what` names the source. */
int rb_config_validate(const rb_config *cfg, const char *what, rb_error *err);

/* Number of floats of the llama2.c v0 payload for cfg (after the header). */
uint64_t rb_llama2c_payload_floats(const rb_config *cfg, int shared_classifier);

/* A model of configuration cfg with one malloc'd arena for every tensor it
 * has (uninitialised): what a format fills.  cfg is validated first. */
int rb_model_new(const rb_config *cfg, int shared_classifier, rb_model **out, rb_error *err);

/* A model of configuration cfg with no weight storage: every slot NULL, for
 * a format that points the slots into memory it maps itself (and sets
 * map/map_bytes, which rb_model_free unmaps). */
int rb_model_alloc(const rb_config *cfg, int shared_classifier, rb_model **out, rb_error *err);

/* llama2.c v0 files (implemented in core/format_llama2c.c; rb_model_open in
 * core/model_open.h recognises every format).
 *
 * Loads a llama2.c "v0" file (7 int32 header, fp32 arrays).  The header is
 * validated and the file size must equal what it implies; weights are checked
 * for NaN/Inf.  The newer "ak42" versioned format is recognised and reported
 * as unsupported.  On success *out is owned by the caller (rb_model_free). */
int rb_model_load(const char *path, rb_model **out, rb_error *err);

/* Writes m in llama2.c v0 layout (RoPE tables included, as llama2.c expects).
 * The classifier is written separately unless it is shared.  A model with
 * online transforms is refused (RB_EUNSUPPORTED): the file could not
 * reproduce it. */
int rb_model_save(const rb_model *m, const char *path, rb_error *err);

/* A model with the given shape and seeded random weights: linears ~ U(-a,a)
 * with a = 1/sqrt(fan_in), norms ~ 1 + U(-0.1,0.1), embeddings ~ U(-1,1). */
int rb_model_synthetic(const rb_config *cfg, int shared_classifier,
                       uint64_t seed, rb_model **out, rb_error *err);

/* A deep copy (own arena) of m, online plan included. */
int rb_model_clone(const rb_model *m, rb_model **out, rb_error *err);

/* Moves the weights of an mmapped model (m->map, copy-on-write) into a
 * malloc'd arena (2 MiB-aligned, transparent huge pages where the kernel
 * allows them) and unmaps the file; a no-op for a model that owns its
 * weights.  A method that rewrites every weight otherwise pays one
 * copy-on-write fault per 4 KiB page, each a TLB shootdown across the
 * threads: on a 1.9 GB model that was most of QuaRot's fusion time.  The
 * values are unchanged; every tensor pointer is rebased. */
int rb_model_own_weights(rb_model *m, rb_error *err);

/* Gives the classifier its own storage (copy of the embedding) so the two can
 * be transformed independently.  No-op when already untied. */
int rb_model_untie_classifier(rb_model *m, rb_error *err);

rb_weight_view rb_model_weight(const rb_model *m, int layer, rb_linear_id id);
const char *rb_linear_name(rb_linear_id id);

void rb_model_free(rb_model *m);

#endif
