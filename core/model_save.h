/* Writing a model in any of the formats rb_model_open reads.
 *
 *   llama2.c  fp32 only; no biases, RoPE scaling or theta other than 10000
 *             (rb_model_save).
 *   HF        a directory: config.json (LlamaForCausalLM, or Qwen2ForCausalLM
 *             when the model has q/k/v biases; rope_theta, rope_scaling
 *             linear/llama3, tie_word_embeddings) and model.safetensors, or
 *             `shards` files model-0000k-of-0000n.safetensors with
 *             model.safetensors.index.json.  Every tensor in `dtype`; q/k rows
 *             (and biases) in rotate_half order, as transformers stores them.
 *   GGUF      v3, alignment 32, architecture llama (qwen2 with biases, q/k in
 *             rotate_half order as llama.cpp's qwen2 expects); 2-D tensors in
 *             `dtype`, 1-D ones (norms, biases, rope_freqs) F32, as llama.cpp
 *             writes them.  With a block dtype (Q8_0, Q4_0) the layers'
 *             linears whose rows are a multiple of 32 long are stored as
 *             blocks, exactly (core/dtype.h rb_dtype_encode_exact: a block
 *             that is not q·d with a binary16 d is an RB_EINVAL naming the
 *             tensor and the block); the embedding, the classifier and rows
 *             of other lengths (stories260K's down_proj: 172) stay F32, and
 *             the key rotbench.f32_tensors lists them.  `vocab` (when set) is
 *             embedded as tokenizer.ggml.*.  LLAMA3 RoPE scaling goes as
 *             rope_freqs.weight factors.
 * Online transforms (core/saved_meta.h) go to HF and GGUF as rotbench
 * metadata; such a model is written under an architecture other tools do not
 * load (HF RotbenchLlamaForCausalLM / model_type rotbench_llama, GGUF
 * rotbench-llama), since they would run it without the transforms.  The
 * llama2.c format refuses them.  Every writer is atomic: a temporary name
 * (directory for HF) beside the output, fsync, rename; nothing is left on
 * failure.
 */
#ifndef RB_MODEL_SAVE_H
#define RB_MODEL_SAVE_H

#include "base/error.h"
#include "core/dtype.h"
#include "core/model.h"
#include "core/model_open.h"
#include "core/saved_meta.h"
#include "core/tokenizer.h"

enum { RB_SAVE_MAX_COPY = 4 };

typedef struct rb_save_options {
    rb_model_format format;
    rb_dtype dtype;   /* F32, BF16 or F16 (HF, GGUF); GGUF also Q8_0, Q4_0 */
    int shards;       /* HF: number of safetensors files (0 or 1: model.safetensors) */
    const rb_vocab_desc *vocab;  /* GGUF: embedded as tokenizer.ggml.* (NULL: none) */
    /* HF: files copied into the directory under their base names (tokenizer.json,
     * tokenizer_config.json, ...); NULL entries are skipped */
    const char *copy_files[RB_SAVE_MAX_COPY];
    const rb_saved_meta *meta;   /* rotbench metadata (NULL: from the model's online plan) */
} rb_save_options;

/* Writes m to path (a file; for HF a directory, which must not exist or be
 * empty). */
int rb_model_save_as(const rb_model *m, const char *path, const rb_save_options *o, rb_error *err);

/* HF and GGUF writers (core/format_hf_write.c, core/format_gguf_write.c). */
int rb_hf_save(const rb_model *m, const char *dir, const rb_save_options *o, rb_error *err);
int rb_gguf_save(const rb_model *m, const char *path, const rb_save_options *o, rb_error *err);

#endif
