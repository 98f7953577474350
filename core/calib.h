/* Calibration sets: N windows of L tokens drawn with a seed from a corpus,
 * and a helper that runs them through the forward with hooks (how methods
 * collect activation statistics, Hessians and covariances).
 *
 * Default corpus (rotbench eval): tinystories when the evaluated task is
 * wikitext2, else the wikitext2 file; a calibration corpus is never the one
 * scored in the same run.  --calib FILE overrides it. */
#ifndef RB_CALIB_H
#define RB_CALIB_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "core/forward.h"

typedef struct rb_calib {
    int32_t *tokens;  /* [n_windows][window], owned */
    int n_windows;
    int window;
} rb_calib;

/* Draws n_windows start positions uniformly (with rb_rng seeded by seed)
 * from tokens[0 .. n - window] and copies the windows.  RB_EINVAL when the
 * stream is shorter than one window. */
int rb_calib_from_tokens(const int32_t *tokens, size_t n, int n_windows, int window,
                         uint64_t seed, rb_calib *out, rb_error *err);
void rb_calib_free(rb_calib *c);

/* Runs every calibration window through rb_forward with hooks (logits are
 * computed and discarded). */
int rb_calib_forward(const rb_model *m, const rb_calib *c, const rb_hooks *hooks, rb_error *err);

#endif
