/* The format modules behind rb_model_open (core/model_open.h).  Each opens
 * one layout, binds its tensors through core/tensor_table.h and fills the
 * parts of rb_model_info it knows (info is zeroed by the caller, never NULL).
 */
#ifndef RB_FORMATS_H
#define RB_FORMATS_H

#include <stdio.h>

#include "core/dtype.h"
#include "core/model_open.h"

/* llama2.c v0 (core/format_llama2c.c): the file is mmapped copy-on-write
 * and the weights point into it. */
int rb_llama2c_open(const char *path, rb_model **out, rb_model_info *info, rb_error *err);

/* Hugging Face checkpoint directory (core/format_hf.c). */
int rb_hf_open(const char *dir, rb_model **out, rb_model_info *info, rb_error *err);

/* The Hugging Face tensor names by kind (printf patterns, "%d" = layer). */
const char *const *rb_hf_tensor_names(void);

/* The GGUF tensor names by kind (printf patterns, "%d" = layer). */
const char *const *rb_gguf_tensor_names(void);

/* GGUF v2/v3 file (core/format_gguf.c). */
int rb_gguf_model_open(const char *path, rb_model **out, rb_model_info *info, rb_error *err);

/* Re-lays out the rows of one q/k weight or bias in place: w holds n_heads
 * heads of head_dim rows of `cols` floats (biases: cols = 1).  to_interleaved
 * = 1 undoes rotate_half order (row s*hd/2 + i of a head becomes row 2i + s),
 * 0 applies it (for writers).  RB_ENOMEM (naming `what`) if the one-head
 * scratch buffer cannot be had. */
int rb_qk_relayout(float *w, int n_heads, int head_dim, int64_t cols, int to_interleaved,
                   const char *what, rb_error *err);

/* Writers (core/format_write.c): the bytes of one tensor in dtype dt, and
 * the tensor written to f in the file's layout (halves: q/k rows in
 * rotate_half order) and dtype (F32, BF16, F16; Q8_0/Q4_0 exactly or
 * RB_EINVAL naming the tensor, row and block: core/dtype.h). */
uint64_t rb_tensor_file_bytes(const rb_config *c, rb_tensor_kind k, rb_dtype dt);
int rb_write_tensor(FILE *f, const rb_model *m, rb_tensor_kind k, int l, int halves, rb_dtype dt,
                    const char *path, rb_error *err);
/* n floats as they are (F32, little-endian host). */
int rb_write_f32(FILE *f, const float *x, size_t n, const char *path, rb_error *err);

#endif
