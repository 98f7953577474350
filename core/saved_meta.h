/* rotbench's own metadata in a saved model: what a writer puts beside the
 * weights so that the file reloads as the same transformed model, and what
 * a reader found (README "Formats", "rotbench.* metadata").
 *
 *   saved          "trans" (transforms folded in, weights in full precision),
 *                  "fake" (weights fake-quantized: the dequantized values),
 *                  "quant" (weights in quantized blocks), "" (not said)
 *   online flags   rb_online_plan's qk_hadamard (R3), down_hadamard (R4),
 *                  o_head_hadamard; the dense per-layer matrices (ResQ's key
 *                  and down_proj bases) travel as tensors of the file:
 *                  GGUF rotbench.qk_dense.N / rotbench.down_dense.N, HF
 *                  rotbench.layers.N.qk_dense / .down_dense, F32 [n][n]
 *   splits         the mixed-precision channels a stage declared (ResQ):
 *                  per activation point, K and V, {block, high}
 *   quant          the weight / activation / KV settings the model was made
 *                  for, as text ("bits=4 sym group:32 clip=1 scale=f16"):
 *                  informational, never applied on load
 * A reader restores the online plan into the model and the splits into the
 * run's quantizers (run/prepare.c); the rest is reported.
 */
#ifndef RB_SAVED_META_H
#define RB_SAVED_META_H

#include <stddef.h>

#include "core/forward.h"
#include "core/quant.h"

typedef struct rb_saved_meta {
    int present;   /* the file had rotbench metadata */
    char saved[8];
    int qk_hadamard, down_hadamard, o_head_hadamard;
    rb_quant_split a_split[RB_ACT_POINT_COUNT], k_split, v_split;
    int a_high_bits, kv_high_bits;
    char quant_w[96], quant_a[96], quant_kv[96];
} rb_saved_meta;

/* Fills meta from m's online plan and q (may be NULL: no splits, no
 * settings); saved names what is saved. */
void rb_saved_meta_from(rb_saved_meta *meta, const rb_model *m, const rb_quant_config *q,
                        const char *saved);

/* Whether a quantizer split is declared anywhere. */
int rb_saved_meta_has_split(const rb_saved_meta *meta);

/* Puts the splits the file declared into q (nothing when none). */
void rb_saved_meta_apply_splits(const rb_saved_meta *meta, rb_quant_config *q);

/* "off", or "bits=4 sym|asym tensor|row|group:G clip=R|mse [static] [scale=f16]". */
void rb_quant_spec_describe(const rb_quant_spec *s, int is_static, char *buf, size_t cap);

/* The GGUF / HF names of the dense online tensors (printf patterns, %d = layer). */
extern const char *const rb_saved_qk_dense_gguf, *const rb_saved_down_dense_gguf;
extern const char *const rb_saved_qk_dense_hf, *const rb_saved_down_dense_hf;

/* Readers: binds the file's tensor `name` (a dense online matrix under the
 * GGUF names, or with hf the HF ones) into m->online (allocated on first
 * use), from data (F32 when is_f32, else refused), shape dims[ndim]
 * ([rows][cols]).  RB_EFORMAT naming `what` and the tensor for another
 * name, layer, shape or dtype, or a NaN/Inf. */
int rb_saved_bind_dense(rb_model *m, const char *name, int hf, const void *data, int is_f32,
                        int ndim, const int64_t *dims, const char *what, rb_error *err);
/* After binding: every layer of a kind present has its matrix (RB_EFORMAT
 * naming the missing tensor). */
int rb_saved_check_dense(const rb_model *m, int hf, const char *what, rb_error *err);

#endif
