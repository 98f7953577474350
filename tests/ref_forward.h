/* A naive float64 Llama forward written independently of core/forward.c and
 * kernels/, for tests: loops and libm only, every step spelled out.  It
 * applies the model's online transforms (rb_model.online) as explicit
 * matrices (the Hadamards from rb_hadamard_matrix), and the architecture
 * variants of rb_config: q/k/v biases, head_dim other than dim/n_heads,
 * rope_theta and the RoPE scalings (linear and llama3 as Hugging Face
 * defines them, frequency factors as llama.cpp does), an untied classifier. */
#ifndef RB_TESTS_REF_FORWARD_H
#define RB_TESTS_REF_FORWARD_H

#include <stddef.h>
#include <stdint.h>

#include "core/model.h"

/* logits: caller-allocated [T][vocab] doubles; positions 0..T-1. */
void ref_forward(const rb_model *m, const int32_t *tokens, int T, double *logits);

/* Mean over t < T-1 of -log softmax(logits[t])[tokens[t+1]]. */
double ref_mean_nll(const rb_model *m, const int32_t *tokens, int T);

/* A perturbation of one weight tensor of the model for finite differences,
 * applied in float64 while the weights are read: the tensor starting at
 * `tensor` (a weight pointer of m: token_embedding, a norm, a linear, a
 * bias, classifier) is read as w[i] + eps·dir[i], or, with dir == NULL, as
 * w[i] + eps at i == index only.  A tied classifier is the embedding's
 * pointer, so perturbing it perturbs both uses. */
typedef struct ref_delta {
    const float *tensor;
    const float *dir;
    size_t index;
} ref_delta;

/* ref_mean_nll with the n perturbations d[0..n) scaled by eps. */
double ref_mean_nll_delta(const rb_model *m, const int32_t *tokens, int T, const ref_delta *d,
                          int n, double eps);

#endif
