/* oneDNN (Debian libdnnl) matmul on the Llama linear shapes at T tokens:
 * fp32 and int8 (s8 activations × s8 weights → s32), the implementation
 * oneDNN picked, the minimum over REPS runs, and whether the int8 result is
 * exact (checked against an int64 dot product on 256 sampled outputs; on
 * CPUs without VNNI oneDNN may saturate int16 intermediates).  Weights
 * [n_out][n_in] row-major (dnnl "ba" for the K×N operand), as rotbench stores
 * them.  Built only when libdnnl-dev is present; a measurement for
 * results/perf/qgemm.md, not used by rotbench.
 *
 * usage: bench_dnnl_matmul [T [THREADS [REPS [SHAPES]]]]  (2048 2 3 all) */
#include <dnnl.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/io.h"
#include "base/rng.h"

#define CHECK(x)                                                             \
    do {                                                                     \
        dnnl_status_t s_ = (x);                                              \
        if (s_ != dnnl_success) {                                            \
            fprintf(stderr, "bench_dnnl_matmul: %s failed (%d)\n", #x, s_); \
            exit(1);                                                         \
        }                                                                    \
    } while (0)

typedef struct {
    dnnl_primitive_t prim;
    dnnl_memory_t a, b, c;
    const char *impl;
} mm;

static void mm_init(mm *m, dnnl_engine_t eng, int M, int K, int N, dnnl_data_type_t ta,
                    dnnl_data_type_t tb, dnnl_data_type_t tc, void *pa, void *pb, void *pc) {
    dnnl_memory_desc_t ad, bd, cd;
    dnnl_dims_t da = {M, K}, db = {K, N}, dc = {M, N};
    CHECK(dnnl_memory_desc_init_by_tag(&ad, 2, da, ta, dnnl_ab));
    CHECK(dnnl_memory_desc_init_by_tag(&bd, 2, db, tb, dnnl_ba));
    CHECK(dnnl_memory_desc_init_by_tag(&cd, 2, dc, tc, dnnl_ab));
    dnnl_matmul_desc_t md;
    CHECK(dnnl_matmul_desc_init(&md, &ad, &bd, NULL, &cd));
    dnnl_primitive_desc_t pd;
    CHECK(dnnl_primitive_desc_create(&pd, &md, NULL, eng, NULL));
    CHECK(dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &m->impl));
    m->impl = strdup(m->impl);
    CHECK(dnnl_primitive_create(&m->prim, pd));
    CHECK(dnnl_memory_create(&m->a, &ad, eng, pa));
    CHECK(dnnl_memory_create(&m->b, &bd, eng, pb));
    CHECK(dnnl_memory_create(&m->c, &cd, eng, pc));
    dnnl_primitive_desc_destroy(pd);
}

static double mm_run(mm *m, dnnl_stream_t st) {
    dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, m->a}, {DNNL_ARG_WEIGHTS, m->b}, {DNNL_ARG_DST, m->c}};
    double t0 = rb_now();
    CHECK(dnnl_primitive_execute(m->prim, st, 3, args));
    CHECK(dnnl_stream_wait(st));
    return rb_now() - t0;
}

int main(int argc, char **argv) {
    int T = argc > 1 ? atoi(argv[1]) : 2048, threads = argc > 2 ? atoi(argv[2]) : 2;
    int reps = argc > 3 ? atoi(argv[3]) : 3;
    const char *only = argc > 4 ? argv[4] : "all";
    static const int shapes[][2] = {{4096, 4096}, {11008, 4096}, {4096, 11008}, {1024, 4096},
                                    {14336, 4096}, {4096, 14336}};
    omp_set_num_threads(threads);
    const dnnl_version_t *v = dnnl_version();
    fprintf(stderr, "oneDNN %d.%d.%d, T=%d threads=%d reps=%d (minimum)\n", v->major, v->minor,
            v->patch, T, threads, reps);
    dnnl_engine_t eng;
    dnnl_stream_t st;
    CHECK(dnnl_engine_create(&eng, dnnl_cpu, 0));
    CHECK(dnnl_stream_create(&st, eng, dnnl_stream_default_flags));
    rb_rng r;
    rb_rng_seed(&r, 1);
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
        int N = shapes[i][0], K = shapes[i][1];
        char key[32];
        snprintf(key, sizeof key, "%dx%d", N, K);
        if (strcmp(only, "all") && !strstr(only, key)) continue;
        size_t na = (size_t)T * K, nb = (size_t)N * K, nc = (size_t)T * N;
        float *af = malloc(4 * na), *bf = malloc(4 * nb), *cf = malloc(4 * nc);
        int8_t *a8 = malloc(na), *b8 = malloc(nb);
        int32_t *c32 = malloc(4 * nc);
        for (size_t k = 0; k < na; k++) a8[k] = (int8_t)((int)rb_rng_below(&r, 255) - 127), af[k] = a8[k];
        for (size_t k = 0; k < nb; k++) b8[k] = (int8_t)((int)rb_rng_below(&r, 255) - 127), bf[k] = b8[k];
        mm f, q;
        mm_init(&f, eng, T, K, N, dnnl_f32, dnnl_f32, dnnl_f32, af, bf, cf);
        mm_init(&q, eng, T, K, N, dnnl_s8, dnnl_s8, dnnl_s32, a8, b8, c32);
        double bf32 = 1e30, bs8 = 1e30;
        mm_run(&f, st), mm_run(&q, st);
        for (int k = 0; k < reps; k++) {
            double t = mm_run(&f, st);
            bf32 = t < bf32 ? t : bf32;
            t = mm_run(&q, st);
            bs8 = t < bs8 ? t : bs8;
        }
        int wrong = 0, wrong_f = 0, wrong4 = 0;
        for (int s = 0; s < 256; s++) {
            int t = (int)rb_rng_below(&r, (uint64_t)T), o = (int)rb_rng_below(&r, (uint64_t)N);
            long long d = 0;
            for (int k = 0; k < K; k++) d += (long long)a8[(size_t)t * K + k] * b8[(size_t)o * K + k];
            wrong += d != c32[(size_t)t * N + o];
            double e = cf[(size_t)t * N + o] - (double)d;
            wrong_f += e > 1e-5 * (double)K * 127 * 127 || e < -1e-5 * (double)K * 127 * 127;
        }
        /* weights of 4-bit range (W4A8): |w| <= 7 */
        for (size_t k = 0; k < nb; k++) b8[k] = (int8_t)((int)rb_rng_below(&r, 15) - 7);
        mm_run(&q, st);
        for (int s = 0; s < 256; s++) {
            int t = (int)rb_rng_below(&r, (uint64_t)T), o = (int)rb_rng_below(&r, (uint64_t)N);
            long long d = 0;
            for (int k = 0; k < K; k++) d += (long long)a8[(size_t)t * K + k] * b8[(size_t)o * K + k];
            wrong4 += d != c32[(size_t)t * N + o];
        }
        fprintf(stderr, "%6d x %6d  fp32 %8.1f ms (%s)  s8s8s32 %8.1f ms (%s)  x%.2f  wrong %d/256 (fp32 %d, 4-bit weights %d)\n",
                N, K, bf32 * 1e3, f.impl, bs8 * 1e3, q.impl, bf32 / bs8, wrong, wrong_f, wrong4);
        printf("{\"bench\":\"dnnl_matmul\",\"dnnl\":\"%d.%d.%d\",\"n_out\":%d,\"n_in\":%d,\"T\":%d,"
               "\"threads\":%d,\"reps\":%d,\"fp32_s\":%.6f,\"fp32_impl\":\"%s\",\"s8s8s32_s\":%.6f,"
               "\"s8_impl\":\"%s\",\"s8_wrong_of_256\":%d,\"fp32_wrong_of_256\":%d,"
               "\"s8_w4range_wrong_of_256\":%d}\n",
               v->major, v->minor, v->patch, N, K, T, threads, reps, bf32, f.impl, bs8, q.impl,
               wrong, wrong_f, wrong4);
        fflush(stdout);
        free(af), free(bf), free(cf), free(a8), free(b8), free(c32);
    }
    return 0;
}
