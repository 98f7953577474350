/* Run-time SIMD dispatch for the elementwise kernels.
 *
 * A kernel's loop is written once, as an always-inlined body:
 *
 *     RB_SIMD_INLINE void rmsnorm_row_body(float *out, const float *x, ...) { ... }
 *     RB_SIMD_DISPATCH_VOID(rmsnorm_row, (float *out, const float *x, ...), (out, x, ...))
 *
 * RB_SIMD_DISPATCH[_VOID] defines `static` `name` with that signature: the
 * body compiled three times (AVX-512 F+BW+DQ+VL with FMA, AVX2+FMA, baseline
 * x86-64), one of which the loader binds once per process from the CPUID
 * feature bits (rb_simd_level from base/cpu.h's rb_cpu_has; a GNU ifunc).
 * The binding is the one piece of process-wide state here: a
 * deliberate run-time dispatch choice, fixed by the CPU.
 *
 * The scalar references (`*_ref`) are compiled without any of this and are
 * what tests compare the fast paths against.  Elsewhere (not x86-64 GCC, or
 * clang, or an AddressSanitizer build: a resolver runs while the loader
 * relocates, before the sanitizer's shadow memory exists, and instrumented it
 * crashes; or RB_NO_MULTIVERSION) `name` is the baseline body. */
#ifndef RB_SIMD_H
#define RB_SIMD_H

#include "base/cpu.h"

#define RB_SIMD_INLINE static inline __attribute__((always_inline))

typedef enum { RB_SIMD_BASELINE = 0, RB_SIMD_AVX2 = 1, RB_SIMD_AVX512 = 2 } rb_simd_level_t;

/* The variant the dispatched kernels run on this CPU, and its name
 * ("avx512", "avx2+fma", "baseline") for result records. */
rb_simd_level_t rb_simd_level(void);
const char *rb_simd_name(void);

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(RB_NO_MULTIVERSION) && \
    !defined(__SANITIZE_ADDRESS__)
#define RB_SIMD_X86 1
/* Usable from an ifunc resolver (base/cpu.h: no relocations). */
static inline rb_simd_level_t rb_simd_level_inline(void) {
    if (rb_cpu_has(RB_CPU_AVX512)) return RB_SIMD_AVX512;
    if (rb_cpu_has(RB_CPU_AVX2_FMA)) return RB_SIMD_AVX2;
    return RB_SIMD_BASELINE;
}
#define RB_SIMD_TARGET_AVX512 __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma,bmi2,f16c")))
#define RB_SIMD_TARGET_AVX2 __attribute__((target("avx2,fma,bmi2,f16c")))
#define RB_SIMD_DISPATCH_(ret, name, params, args, RET)                                          \
    RB_SIMD_TARGET_AVX512 static ret name##_avx512 params { RET name##_body args; }               \
    RB_SIMD_TARGET_AVX2 static ret name##_avx2 params { RET name##_body args; }                   \
    static ret name##_base params { RET name##_body args; }                                       \
    static ret (*name##_resolve(void)) params {                                                    \
        rb_simd_level_t l = rb_simd_level_inline();                                                \
        return l == RB_SIMD_AVX512 ? name##_avx512 : l == RB_SIMD_AVX2 ? name##_avx2 : name##_base; \
    }                                                                                              \
    static ret name params __attribute__((ifunc(#name "_resolve")));
#else
#define RB_SIMD_DISPATCH_(ret, name, params, args, RET) \
    static ret name params { RET name##_body args; }
#endif

#define RB_SIMD_DISPATCH(ret, name, params, args) RB_SIMD_DISPATCH_(ret, name, params, args, return)
#define RB_SIMD_DISPATCH_VOID(name, params, args) RB_SIMD_DISPATCH_(void, name, params, args, )

#endif
