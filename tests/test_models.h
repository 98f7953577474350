/* Models, calibration sets and logits for the method tests (Criterion
 * helpers: failures fail the calling test). */
#ifndef RB_TEST_MODELS_H
#define RB_TEST_MODELS_H

#include <stdint.h>

#include "core/calib.h"
#include "core/forward.h"
#include "core/model.h"

/* A synthetic model (shared classifier, seq_len 128, head_dim dim/heads). */
rb_model *rb_test_synth(int dim, int hidden, int layers, int heads, int kv, int vocab,
                        uint64_t seed);
/* stories260K from the data directory; a synthetic model of its shape when
 * the file is missing outside CI (fails under CI=true). */
rb_model *rb_test_stories_or_synth(void);
/* `windows` windows of `len` seeded random token ids below vocab. */
void rb_test_random_calib(rb_calib *c, int vocab, int windows, int len, uint64_t seed);
/* The logits [48][vocab] of a fixed 48-token window (malloc'd), through
 * hooks (NULL: the plain fp32 forward). */
float *rb_test_logits(const rb_model *m, const rb_hooks *hooks);
/* Runs pipeline_text on a clone of m (random calibration) and expects the
 * fp32 logits to stay within 1e-5 relative of m's. */
void rb_test_expect_preserved(const char *pipeline_text, const rb_model *m);

#endif
