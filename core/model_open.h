/* rb_model_open: one open function for every model format.
 *
 * The format is recognised from the path:
 *   - a directory with config.json, or a config.json / *.safetensors file
 *     whose directory has one: a Hugging Face checkpoint (core/format_hf.c:
 *     model.safetensors, or the shards named by model.safetensors.index.json);
 *   - a file starting with the magic "GGUF": a GGUF file (core/format_gguf.c);
 *   - anything else: a llama2.c v0 file (core/format_llama2c.c; its "ak42"
 *     versioned successor is recognised and refused).
 * The model is always fp32 and format-free (core/model.h); what the format
 * knew travels in rb_model_info so that a caller can report it and an
 * exporter can write the model back the same way.
 */
#ifndef RB_MODEL_OPEN_H
#define RB_MODEL_OPEN_H

#include <stdint.h>

#include "base/error.h"
#include "core/model.h"
#include "core/saved_meta.h"

/* How the file lays out the rows of q_proj/k_proj (and their biases) within
 * each head.  The in-memory model is always INTERLEAVED (RoPE rotates the
 * pairs (2i, 2i+1), as llama2.c and llama.cpp's llama architecture do);
 * HALVES files (Hugging Face Llama/Mistral/Qwen2, llama.cpp's qwen2) store
 * row 2i+s of a head at row s*head_dim/2 + i, for rotate_half RoPE, and are
 * un-permuted exactly at load. */
typedef enum rb_qk_layout { RB_QK_INTERLEAVED = 0, RB_QK_HALVES = 1 } rb_qk_layout;

typedef enum rb_model_format {
    RB_FORMAT_LLAMA2C = 1,
    RB_FORMAT_HF = 2,
    RB_FORMAT_GGUF = 3
} rb_model_format;

enum { RB_MODEL_INFO_MAX_FILES = 256 };

typedef struct rb_model_file {
    char path[1024];
    char sha256[65];   /* "" unless RB_OPEN_HASH */
    uint64_t bytes;
} rb_model_file;

typedef struct rb_model_info {
    rb_model_format format;
    const char *format_name;   /* "llama2c", "hf-safetensors", "gguf" (static) */
    char architecture[64];     /* "llama2c", "LlamaForCausalLM", "llama", ... */
    char dtype[48];            /* the stored dtypes, '+'-joined: "F32", "BF16+F32", "Q8_0+F32" */
    int dequantized;           /* some tensors were quantized (Q8_0) and are dequantized */
    int max_context;           /* max_position_embeddings / context_length / seq_len */
    rb_qk_layout qk_layout;    /* as stored in the file */
    /* the tokenizer the format carries or points at */
    char tokenizer_path[1024]; /* HF: the directory's tokenizer.json ("" if none) */
    int tokenizer_embedded;    /* GGUF: tokenizer.ggml.* present in the file */
    char tokenizer_kind[32];   /* GGUF tokenizer.ggml.model ("llama", "gpt2") */
    int n_files;
    rb_model_file files[RB_MODEL_INFO_MAX_FILES]; /* every file read, in order */
    /* rotbench's metadata (GGUF rotbench.*, HF config.json "rotbench"):
     * saved.present = 0 for files rotbench did not write.  The online plan
     * it names is already in the model; the splits are for the run's
     * quantizers (rb_saved_meta_apply_splits). */
    rb_saved_meta saved;
} rb_model_info;

/* Flags of rb_model_open. */
enum { RB_OPEN_HASH = 1 /* fill files[].sha256 (reads every file once more) */ };

/* Opens the model at path (see above).  On success *out is owned by the
 * caller (rb_model_free) and *info (may be NULL) says what the format knew. */
int rb_model_open(const char *path, int flags, rb_model **out, rb_model_info *info,
                  rb_error *err);

/* The format of path as rb_model_open would read it, without loading. */
int rb_model_detect(const char *path, rb_model_format *format, rb_error *err);

/* Appends dtype name d to info->dtype unless already listed. */
void rb_model_info_add_dtype(rb_model_info *info, const char *d);
/* Appends a file read (bytes from its size); RB_EUNSUPPORTED past the limit. */
int rb_model_info_add_file(rb_model_info *info, const char *path, uint64_t bytes, rb_error *err);

#endif
