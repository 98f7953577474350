/* --save-model: writing the run's model (core/model_save.h) in the form its
 * path names, with what the run knows (tokenizer, online transforms,
 * quantizer settings).
 *
 * Form of OUT: "*.gguf" a GGUF file; "*.bin" a llama2.c v0 file; a path
 * ending in "/", an existing directory or a last component without '.' a
 * Hugging Face directory; anything else ("model.safetensors", "x.onnx") is
 * refused as an unknown output form.  What is saved (LLMC's save_trans /
 * save_fake / real quantized weights):
 *   trans  the model after the stages before the first weight quantizer
 *          (rtn, gptq): norms fused, rotations, smoothing scales, online
 *          transforms on, weights in full precision
 *   fake   the model after the whole pipeline: weights fake-quantized, i.e.
 *          their dequantized values (the default)
 *   quant  the same weights as GGUF Q8_0 / Q4_0 blocks (--save-dtype q8_0 |
 *          q4_0, which imply it): needs symmetric weights in groups of 32
 *          with fp16 scales (--w-gran group:32 --w-scale-f16) and at most 8
 *          (Q8_0) or 4 (Q4_0) bits; rows whose length is not a multiple of 32
 *          are stored F32 (listed in rotbench.f32_tensors)
 * The tokenizer: a GGUF output embeds the model's vocabulary (copied from a
 * GGUF source, or converted from a llama2.c tokenizer as llama.cpp's
 * converter does); an HF output copies tokenizer.json and
 * tokenizer_config.json when the run's tokenizer is a tokenizer.json. */
#ifndef RB_RUN_SAVE_H
#define RB_RUN_SAVE_H

#include "core/model_save.h"
#include "run/prepare.h"

typedef enum rb_save_what { RB_SAVE_FAKE = 0, RB_SAVE_TRANS, RB_SAVE_QUANT } rb_save_what;

typedef struct rb_run_save {
    const char *path;
    rb_model_format format;
    rb_dtype dtype;
    rb_save_what what;
} rb_run_save;

/* Parses s->save_model / save_dtype / save_what into out and checks them
 * against the quantizers q (before any work is done): RB_EINVAL naming the
 * flag and the problem. */
int rb_run_save_parse(const rb_run_spec *s, const rb_quant_config *q, rb_run_save *out,
                      rb_error *err);

/* Writes model (the run's, at the point sv->what names) with the tokenizer
 * and metadata of m and q. */
int rb_run_save_model(const rb_run_save *sv, const rb_run_model *m, const rb_model *model,
                      const rb_quant_config *q, rb_error *err);

/* "trans", "fake", "quant". */
const char *rb_save_what_name(rb_save_what w);

#endif
