/* Run-time SIMD dispatch for the elementwise kernels.
 *
 * RB_MULTIVERSION compiles a function for AVX-512, AVX2+FMA and baseline
 * x86-64 and lets the loader pick one from the CPU's features (GCC
 * target_clones / ifunc).  The scalar references (`*_ref`) are compiled
 * without it and are what tests compare the fast paths against.
 * RB_FORCE_SCALAR=1 in the environment has no effect here: dispatch is by CPU
 * only, so a machine without AVX-512 runs the AVX2 clone. */
#ifndef RB_SIMD_H
#define RB_SIMD_H

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(RB_NO_MULTIVERSION)
#define RB_MULTIVERSION __attribute__((target_clones("avx512f", "arch=haswell", "default")))
#else
#define RB_MULTIVERSION
#endif

#endif
