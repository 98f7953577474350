/* A naive float64 Llama forward written independently of core/forward.c and
 * kernels/, for tests: loops and libm only, every step spelled out. */
#ifndef RB_TESTS_REF_FORWARD_H
#define RB_TESTS_REF_FORWARD_H

#include <stdint.h>

#include "core/model.h"

/* logits: caller-allocated [T][vocab] doubles; positions 0..T-1. */
void ref_forward(const rb_model *m, const int32_t *tokens, int T, double *logits);

/* Mean over t < T-1 of -log softmax(logits[t])[tokens[t+1]]. */
double ref_mean_nll(const rb_model *m, const int32_t *tokens, int T);

#endif
