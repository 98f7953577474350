/* rb_rng: a small seeded generator (xoshiro256**, seeded by splitmix64).
 * Passed explicitly wherever randomness is needed; never global. */
#ifndef RB_RNG_H
#define RB_RNG_H

#include <stdint.h>

typedef struct rb_rng {
    uint64_t s[4];
} rb_rng;

void rb_rng_seed(rb_rng *r, uint64_t seed);
uint64_t rb_rng_next(rb_rng *r);
/* Uniform in [0, 1) with 53 random bits. */
double rb_rng_uniform(rb_rng *r);
/* Uniform integer in [0, n), n > 0, without modulo bias. */
uint64_t rb_rng_below(rb_rng *r, uint64_t n);
/* Standard normal (Box-Muller, no cached second value: stateless beyond s). */
double rb_rng_normal(rb_rng *r);

#endif
