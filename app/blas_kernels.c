/* Choosing OpenBLAS's kernels for this CPU.
 *
 * Debian's OpenBLAS 0.3.21 (DYNAMIC_ARCH) does not recognise the AVX-512 of
 * some CPUs (AMD Zen 4, the "AMD EPYC" of our machines) and falls back to its
 * Haswell (AVX2) kernels: sgemm reaches 197 GFLOP/s instead of 385 with the
 * SkylakeX kernels on 2 cores (results/perf/eval_bench.md).  OpenBLAS picks
 * its kernels when the library is loaded, before main() runs, from the
 * environment variable OPENBLAS_CORETYPE.  So when the CPU has the AVX-512
 * subsets the SkylakeX kernels need and the user has not chosen a core type,
 * rotbench re-executes itself once with OPENBLAS_CORETYPE=SkylakeX.  Set
 * OPENBLAS_CORETYPE yourself (e.g. Haswell) to opt out. */
#include <stdlib.h>
#include <unistd.h>

#include "app/cli.h"

void rb_cli_choose_blas_kernels(char **argv) {
#if defined(__x86_64__) && defined(__GNUC__)
    if (getenv("OPENBLAS_CORETYPE")) return;
    __builtin_cpu_init();
    if (!(__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
          __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl")))
        return;
    if (setenv("OPENBLAS_CORETYPE", "SkylakeX", 1) != 0) return;
    execv("/proc/self/exe", argv); /* returns only on failure: carry on as we are */
#else
    (void)argv;
#endif
}
