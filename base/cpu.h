/* The CPU features rotbench's run-time dispatch chooses by: one place that
 * reads them, for the elementwise kernels' ifuncs (kernels/simd.h), the
 * integer GEMM's micro-kernel (kernels/qgemm.c) and SHA-256 (base/sha256.c).
 *
 * Feature bits, not CPU models (GCC 12's target_clones("arch=haswell") asks
 * __builtin_cpu_is, which AMD Zen 1-3 fail although they have AVX2+FMA).
 * The bits come from libgcc's CPU model (__builtin_cpu_supports, which also
 * checks that the OS saves the vector state) and, for the SHA and AMX
 * extensions, which GCC 12 or clang 14 do not name there, from CPUID leaf 7
 * directly (both compilers build this header: the fuzz build is clang's).  Every
 * function here is static inline and makes no calls through the PLT or
 * relocated data, so a GNU ifunc resolver, which runs while the loader is
 * still relocating, may call it.  Off x86-64 GCC/clang every feature is
 * absent and callers take their scalar or baseline path. */
#ifndef RB_CPU_H
#define RB_CPU_H

typedef enum {
    RB_CPU_AVX2_FMA,    /* AVX2 and FMA (Haswell, Zen 1 and later) */
    RB_CPU_AVX512,      /* AVX-512 F, BW, DQ and VL, with FMA (Skylake-SP, Zen 4) */
    RB_CPU_AVX512_VNNI, /* RB_CPU_AVX512 and AVX512-VNNI (Cascade Lake, Zen 4) */
    RB_CPU_SHA,         /* the SHA extensions and SSE4.1 (Goldmont, Ice Lake, every Zen) */
    RB_CPU_AMX_INT8,    /* RB_CPU_AVX512_VNNI, AMX-TILE and AMX-INT8 (Sapphire Rapids); the
                         * CPU's bits only: Linux must still grant the tile data state
                         * (arch_prctl ARCH_REQ_XCOMP_PERM, kernels/qgemm.c asks) */
} rb_cpu_feature;

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>

static inline int rb_cpu_has(rb_cpu_feature f) {
    __builtin_cpu_init();
    int avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    int avx512 = avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                 __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
    switch (f) {
    case RB_CPU_AVX2_FMA: return avx2;
    case RB_CPU_AVX512: return avx512;
    case RB_CPU_AVX512_VNNI: return avx512 && __builtin_cpu_supports("avx512vnni");
    case RB_CPU_AMX_INT8: { /* CPUID leaf 7, EDX bits 24 (AMX-TILE) and 25 (AMX-INT8):
                              * clang 14's __builtin_cpu_supports has no AMX names */
        unsigned a, b, c, d;
        return avx512 && __builtin_cpu_supports("avx512vnni") &&
               __get_cpuid_count(7, 0, &a, &b, &c, &d) && (d >> 24 & 1) && (d >> 25 & 1);
    }
    case RB_CPU_SHA: {
        unsigned a, b, c, d; /* CPUID leaf 7, EBX bit 29: SHA */
        return __builtin_cpu_supports("sse4.1") && __get_cpuid_count(7, 0, &a, &b, &c, &d) &&
               (b >> 29 & 1);
    }
    }
    return 0;
}
#else
static inline int rb_cpu_has(rb_cpu_feature f) {
    (void)f;
    return 0;
}
#endif

#endif
