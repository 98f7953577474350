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
 *             writes them.  No tokenizer is embedded.  LLAMA3 RoPE scaling is
 *             refused (llama.cpp stores it as rope_freqs.weight factors; save
 *             as HF instead).
 * Models with online transforms are refused (no format can hold them yet).
 */
#ifndef RB_MODEL_SAVE_H
#define RB_MODEL_SAVE_H

#include "base/error.h"
#include "core/dtype.h"
#include "core/model.h"
#include "core/model_open.h"

typedef struct rb_save_options {
    rb_model_format format;
    rb_dtype dtype;   /* F32, BF16 or F16 (HF, GGUF) */
    int shards;       /* HF: number of safetensors files (0 or 1: model.safetensors) */
} rb_save_options;

/* Writes m to path (a file; for HF a directory, created if missing). */
int rb_model_save_as(const rb_model *m, const char *path, const rb_save_options *o, rb_error *err);

/* HF and GGUF writers (core/format_hf_write.c, core/format_gguf_write.c). */
int rb_hf_save(const rb_model *m, const char *dir, rb_dtype dtype, int shards, rb_error *err);
int rb_gguf_save(const rb_model *m, const char *path, rb_dtype dtype, rb_error *err);

#endif
