/* Models, calibration sets and logits for the method tests (Criterion
 * helpers: failures fail the calling test). */
#ifndef RB_TEST_MODELS_H
#define RB_TEST_MODELS_H

#include <stdint.h>

#include "core/calib.h"
#include "core/forward.h"
#include "core/model.h"
#include "core/tokenizer.h"

/* A synthetic model (shared classifier, seq_len 128, head_dim dim/heads). */
rb_model *rb_test_synth(int dim, int hidden, int layers, int heads, int kv, int vocab,
                        uint64_t seed);
/* Small synthetic models of the architecture variants (seeded, biases drawn
 * by rb_model_synthetic).  Llama-3's RoPE scaling uses its real factors (8,
 * low 1, high 4) with original_max_position_embeddings 256 instead of 8192,
 * so that the short test windows see all three bands (kept, smoothed,
 * divided by 8) for head_dim 8 and 16.
 *   llama3:   rope_theta 500000, llama3 scaling, GQA 2:1, untied    (dim 64, hd 16)
 *   qwen2:    q/k/v biases, rope_theta 1e6, GQA 3:1, tied           (dim 48, hd 8)
 *   mistral:  rope_theta 1e6, GQA 4:1, untied                       (dim 64, hd 8)
 *   all:      biases + untied + GQA 2:1 + llama3 scaling + explicit head_dim 16
 *             with dim 48 (q is 64 wide)
 *   all_hd:   the same with head_dim = dim/n_heads (dim 64) */
typedef enum rb_test_arch {
    RB_TEST_LLAMA3, RB_TEST_QWEN2, RB_TEST_MISTRAL, RB_TEST_ALL, RB_TEST_ALL_HD, RB_TEST_ARCH_COUNT
} rb_test_arch;
const char *rb_test_arch_name(rb_test_arch a);
/* The configuration of a variant (layers, vocab given). */
rb_config rb_test_arch_config(rb_test_arch a, int layers, int vocab);
rb_model *rb_test_arch_model(rb_test_arch a, int layers, int vocab, uint64_t seed);
/* stories260K from the data directory; a synthetic model of its shape when
 * the file is missing outside CI (fails under CI=true). */
rb_model *rb_test_stories_or_synth(void);
/* The stories260K tokenizer (tok512.bin) from the data directory; skips the
 * test when it is missing (see rb_test_require_data).  The caller frees it. */
rb_tokenizer *rb_test_tok512(void);
/* `windows` windows of `len` seeded random token ids below vocab. */
void rb_test_random_calib(rb_calib *c, int vocab, int windows, int len, uint64_t seed);
/* The logits [48][vocab] of a fixed 48-token window (malloc'd), through
 * hooks (NULL: the plain fp32 forward). */
float *rb_test_logits(const rb_model *m, const rb_hooks *hooks);
/* Runs pipeline_text on a clone of m (random calibration) and expects the
 * fp32 logits to stay within 1e-5 relative of m's. */
void rb_test_expect_preserved(const char *pipeline_text, const rb_model *m);

#endif
