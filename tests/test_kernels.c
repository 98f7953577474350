/* Every fast kernel against its scalar reference on random inputs of odd and
 * power-of-two sizes. */
#include <criterion/criterion.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/cpu.h"
#include "base/hash_cache.h"
#include "base/sha256.h"
#include "kernels/linear.h"
#include "kernels/ops.h"
#include "kernels/simd.h"
#include "tests/test_util.h"

static float *rand_array(size_t n, float lo, float hi, rb_rng *r) {
    float *x = malloc(sizeof(float) * (n ? n : 1));
    rb_test_fill_uniform(x, n, lo, hi, r);
    return x;
}

static const int sizes[] = {1, 2, 3, 7, 8, 16, 31, 64, 100, 128, 172, 257, 1024};
#define N_SIZES (int)(sizeof sizes / sizeof *sizes)

/* Dispatch goes by feature bits: a CPU with AVX2 and FMA (an AMD Zen 1-3
 * among them, which GCC's arch=haswell clones missed) runs at least the
 * AVX2 variant. */
Test(kernels, simd_dispatch_follows_cpu_features) {
#ifdef RB_SIMD_X86 /* dispatched builds (not clang, not ASan: kernels/simd.h) */
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        cr_expect_geq(rb_simd_level(), RB_SIMD_AVX2, "%s", rb_simd_name());
    if (!__builtin_cpu_supports("avx512f")) cr_expect_leq(rb_simd_level(), RB_SIMD_AVX2);
#endif
    cr_expect(rb_simd_name()[0] != 0);
}

/* base/cpu.h against the kernel's own view of the CPU: the flags line of
 * /proc/cpuinfo (Linux; skipped where it is missing). */
static int cpuinfo_flag(const char *flags, const char *name) {
    size_t n = strlen(name);
    for (const char *p = flags; (p = strstr(p, name)); p += n)
        if ((p == flags || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\n' || p[n] == 0)) return 1;
    return 0;
}

Test(kernels, cpu_features_match_proc_cpuinfo) {
#if defined(__x86_64__) && defined(__GNUC__)
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) cr_skip_test("no /proc/cpuinfo");
    char line[8192], *flags = NULL;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "flags", 5)) {
            flags = strchr(line, ':');
            break;
        }
    fclose(f);
    cr_assert(flags, "no flags line in /proc/cpuinfo");
    int avx2 = cpuinfo_flag(flags, "avx2") && cpuinfo_flag(flags, "fma");
    int avx512 = avx2 && cpuinfo_flag(flags, "avx512f") && cpuinfo_flag(flags, "avx512bw") &&
                 cpuinfo_flag(flags, "avx512dq") && cpuinfo_flag(flags, "avx512vl");
    cr_expect_eq(rb_cpu_has(RB_CPU_AVX2_FMA), avx2);
    cr_expect_eq(rb_cpu_has(RB_CPU_AVX512), avx512);
    cr_expect_eq(rb_cpu_has(RB_CPU_AVX512_VNNI), avx512 && cpuinfo_flag(flags, "avx512_vnni"));
    cr_expect_eq(rb_cpu_has(RB_CPU_SHA), cpuinfo_flag(flags, "sha_ni") && cpuinfo_flag(flags, "sse4_1"));
    cr_expect_eq(rb_cpu_has(RB_CPU_AMX_INT8), avx512 && cpuinfo_flag(flags, "avx512_vnni") &&
                                                  cpuinfo_flag(flags, "amx_tile") &&
                                                  cpuinfo_flag(flags, "amx_int8"));
#else
    cr_expect_eq(rb_cpu_has(RB_CPU_AVX2_FMA), 0);
#endif
}

Test(kernels, vexp_matches_expf) {
    rb_rng r;
    rb_rng_seed(&r, 1);
    size_t n = 100003;
    float *x = rand_array(n, -87.0f, 88.0f, &r), *a = malloc(4 * n), *b = malloc(4 * n);
    x[0] = 0.0f;
    x[1] = -87.0f;
    x[2] = 88.0f;
    rb_vexp(a, x, n);
    rb_vexp_ref(b, x, n);
    for (size_t i = 0; i < n; i++)
        cr_assert(fabsf(a[i] - b[i]) <= 3e-7f * b[i], "exp(%g): %g vs %g", x[i], a[i], b[i]);
    free(x); free(a); free(b);
}

Test(kernels, rmsnorm_matches_reference) {
    rb_rng r;
    rb_rng_seed(&r, 2);
    for (int i = 0; i < N_SIZES; i++) {
        int rows = 5, cols = sizes[i];
        float *x = rand_array((size_t)rows * cols, -3, 3, &r), *w = rand_array(cols, 0.5f, 1.5f, &r);
        float *a = malloc(4 * rows * cols), *b = malloc(4 * rows * cols);
        rb_rmsnorm(a, x, w, rows, cols, 1e-5f);
        rb_rmsnorm_ref(b, x, w, rows, cols, 1e-5f);
        cr_expect_lt(rb_test_rel_maxdiff(a, b, (size_t)rows * cols, 1e-6), 1e-6, "cols %d", cols);
        rb_rmsnorm(x, x, w, rows, cols, 1e-5f); /* in place */
        cr_expect_lt(rb_test_rel_maxdiff(x, b, (size_t)rows * cols, 1e-6), 1e-6, "in place %d", cols);
        free(x); free(w); free(a); free(b);
    }
}

Test(kernels, swiglu_matches_reference) {
    rb_rng r;
    rb_rng_seed(&r, 3);
    size_t n = 70001;
    float *a = rand_array(n, -20, 20, &r), *b = rand_array(n, -2, 2, &r);
    float *a2 = malloc(4 * n);
    memcpy(a2, a, 4 * n);
    rb_swiglu(a, b, n);
    rb_swiglu_ref(a2, b, n);
    for (size_t i = 0; i < n; i++)
        cr_assert(fabsf(a[i] - a2[i]) <= 1e-6f * (1 + fabsf(a2[i])), "%zu: %g vs %g", i, a[i], a2[i]);
    free(a); free(b); free(a2);
}

Test(kernels, rope_matches_reference) {
    rb_rng r;
    rb_rng_seed(&r, 4);
    int hds[] = {2, 6, 8, 10, 64, 128};
    for (int i = 0; i < 6; i++) {
        int hd = hds[i], heads = 3, T = 37;
        size_t n = (size_t)T * heads * hd;
        float *x = rand_array(n, -1, 1, &r), *y = malloc(4 * n);
        float *ct = malloc(4 * (size_t)T * hd / 2), *st = malloc(4 * (size_t)T * hd / 2);
        memcpy(y, x, 4 * n);
        double freq[64];
        rb_rope_freqs_default(freq, hd, 10000.0);
        rb_rope_table_freqs(ct, st, T, hd, freq);
        rb_rope(x, T, heads, hd, 0, ct, st);
        rb_rope_ref(y, T, heads, hd, 0, freq);
        cr_expect_lt(rb_test_rel_maxdiff(x, y, n, 1e-3), 2e-6, "head_dim %d", hd);
        free(x); free(y); free(ct); free(st);
    }
}

/* RoPE with scaled frequencies (the tables hold any frequencies) and many
 * positions, against the reference at an offset pos0. */
Test(kernels, rope_scaled_frequencies_match_reference) {
    rb_rng r;
    rb_rng_seed(&r, 14);
    int hd = 128, heads = 2, T = 19, pos0 = 1000;
    double freq[64];
    rb_rope_freqs_default(freq, hd, 500000.0);
    rb_rope_freqs_llama3(freq, hd, 8.0, 1.0, 4.0, 8192.0);
    size_t n = (size_t)T * heads * hd;
    float *x = rand_array(n, -1, 1, &r), *y = malloc(4 * n);
    float *ct = malloc(4 * (size_t)(pos0 + T) * hd / 2), *st = malloc(4 * (size_t)(pos0 + T) * hd / 2);
    memcpy(y, x, 4 * n);
    rb_rope_table_freqs(ct, st, pos0 + T, hd, freq);
    rb_rope(x, T, heads, hd, pos0, ct, st);
    rb_rope_ref(y, T, heads, hd, pos0, freq);
    cr_expect_lt(rb_test_rel_maxdiff(x, y, n, 1e-3), 2e-6);
    free(x); free(y); free(ct); free(st);
}

/* Llama-3.1's published setting (θ 500000, head_dim 128, factor 8, low 1,
 * high 4, 8192 original positions): wavelengths below 8192/4 keep their
 * frequency, those above 8192 are divided by 8, those in between lie
 * strictly between the two and decrease with i; linear divides all by the
 * factor; frequency factors divide each. */
Test(kernels, rope_frequency_rules) {
    const double pi = 3.14159265358979323846;
    int hd = 128, n_kept = 0, n_div = 0, n_mid = 0;
    double base[64], l3[64], lin[64], ff[64];
    float factors[64];
    rb_rope_freqs_default(base, hd, 500000.0);
    for (int i = 0; i < 64; i++) {
        cr_assert_float_eq(base[i], pow(500000.0, -2.0 * i / hd), 1e-15 * base[i]);
        l3[i] = lin[i] = ff[i] = base[i];
        factors[i] = 1.0f + 0.25f * (float)(i % 5);
    }
    rb_rope_freqs_llama3(l3, hd, 8.0, 1.0, 4.0, 8192.0);
    rb_rope_freqs_linear(lin, hd, 4.0);
    rb_rope_freqs_divide(ff, hd, factors);
    for (int i = 0; i < 64; i++) {
        double wavelen = 2 * pi / base[i];
        cr_expect_float_eq(lin[i], base[i] / 4.0, 1e-15 * base[i]);
        cr_expect_float_eq(ff[i], base[i] / factors[i], 1e-15 * base[i]);
        if (wavelen < 2048.0) {
            cr_expect_eq(l3[i], base[i], "i %d kept", i);
            n_kept++;
        } else if (wavelen > 8192.0) {
            cr_expect_float_eq(l3[i], base[i] / 8.0, 1e-15 * base[i], "i %d divided", i);
            n_div++;
        } else {
            cr_expect(l3[i] < base[i] && l3[i] > base[i] / 8.0, "i %d between", i);
            if (i > 0) cr_expect_lt(l3[i], l3[i - 1]);
            n_mid++;
        }
    }
    /* the three bands of the real model: 2π·500000^(2i/128) crosses 2048 and 8192 */
    cr_expect(n_kept > 0 && n_div > 0 && n_mid > 0, "bands %d %d %d", n_kept, n_mid, n_div);
}

Test(kernels, bias_add_matches_reference) {
    rb_rng r;
    rb_rng_seed(&r, 15);
    for (int i = 0; i < N_SIZES; i++) {
        int n = sizes[i], T = 1 + (i * 37) % 300;
        size_t tn = (size_t)T * n;
        float *y = rand_array(tn, -2, 2, &r), *y2 = malloc(4 * tn), *b = rand_array(n, -1, 1, &r);
        memcpy(y2, y, 4 * tn);
        rb_bias_add(y, b, T, n);
        rb_bias_add_ref(y2, b, T, n);
        cr_expect_lt(rb_test_rel_maxdiff(y, y2, tn, 1e-3), 1e-7, "n %d T %d", n, T);
        free(y); free(y2); free(b);
    }
}

Test(kernels, attention_matches_reference) {
    rb_rng r;
    rb_rng_seed(&r, 5);
    struct { int T, nh, nkv, hd; } cases[] = {
        {1, 1, 1, 2}, {7, 2, 1, 6}, {33, 8, 4, 8}, {64, 4, 4, 10}, {100, 6, 2, 16}, {129, 2, 2, 128},
        /* several key tiles and query blocks, T not a multiple of either, GQA */
        {259, 4, 2, 24}, {643, 4, 1, 128}};
    int threads = omp_get_max_threads();
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        int T = cases[c].T, nh = cases[c].nh, nkv = cases[c].nkv, hd = cases[c].hd;
        size_t nq = (size_t)T * nh * hd, nk = (size_t)T * nkv * hd;
        float *q = rand_array(nq, -2, 2, &r), *k = rand_array(nk, -2, 2, &r), *v = rand_array(nk, -1, 1, &r);
        float *a = malloc(4 * nq), *b = malloc(4 * nq);
        float *scratch = malloc(4 * rb_attention_scratch_floats(T, hd) * threads);
        rb_attention(a, q, k, v, T, nh, nkv, hd, scratch, threads);
        rb_attention_ref(b, q, k, v, T, nh, nkv, hd);
        cr_expect_lt(rb_test_rel_maxdiff(a, b, nq, 1e-3), 1e-5, "case %zu", c);
        free(q); free(k); free(v); free(a); free(b); free(scratch);
    }
}

/* Packed windows: segments with and without a shared prefix equal the
 * float64 reference, and a segment's rows equal a plain window holding its
 * prefix then its own tokens. */
Test(kernels, attention_segments_match_reference_and_separate_windows) {
    rb_rng r;
    rb_rng_seed(&r, 15);
    int nh = 6, nkv = 2, hd = 10, qdim = nh * hd, kvdim = nkv * hd;
    /* window: context A (9), choices of A (4, 1, 7), a plain sequence (5),
     * context B (3), a choice of B's first 2 tokens (6), a context C sharing
     * A's first 5 tokens (4 more), a choice of C (A's 5, C's 4, then 3) */
    rb_segment seg[] = {{0, 9, 0, 0, 0, 0},   {9, 4, 0, 9, 0, 0},   {13, 1, 0, 9, 0, 0},
                        {14, 7, 0, 9, 0, 0},  {21, 5, 0, 0, 0, 0},  {26, 3, 0, 0, 0, 0},
                        {29, 6, 26, 2, 0, 0}, {35, 4, 0, 5, 0, 0},  {39, 3, 0, 5, 35, 4}};
    int n_seg = 9, T = 42, threads = omp_get_max_threads();
    float *q = rand_array((size_t)T * qdim, -2, 2, &r), *k = rand_array((size_t)T * kvdim, -2, 2, &r);
    float *v = rand_array((size_t)T * kvdim, -1, 1, &r);
    float *a = calloc((size_t)T * qdim, 4), *b = calloc((size_t)T * qdim, 4);
    float *scratch = malloc(4 * rb_attention_scratch_floats(T, hd) * threads);
    rb_attention_segments(a, q, k, v, seg, n_seg, nh, nkv, hd, scratch, threads);
    rb_attention_segments_ref(b, q, k, v, seg, n_seg, nh, nkv, hd);
    cr_expect_lt(rb_test_rel_maxdiff(a, b, (size_t)T * qdim, 1e-3), 1e-5);
    for (int s = 0; s < n_seg; s++) {
        /* gather [prefix, second prefix, own] into a plain window */
        int P1 = seg[s].prefix_len, P = P1 + seg[s].prefix2_len, L = seg[s].len, W = P + L;
        float *wq = malloc(4 * (size_t)W * qdim), *wk = malloc(4 * (size_t)W * kvdim);
        float *wv = malloc(4 * (size_t)W * kvdim), *wo = malloc(4 * (size_t)W * qdim);
        for (int j = 0; j < W; j++) {
            int row = j < P1 ? seg[s].prefix_start + j
                      : j < P ? seg[s].prefix2_start + j - P1
                              : seg[s].start + j - P;
            memcpy(wq + (size_t)j * qdim, q + (size_t)row * qdim, 4 * (size_t)qdim);
            memcpy(wk + (size_t)j * kvdim, k + (size_t)row * kvdim, 4 * (size_t)kvdim);
            memcpy(wv + (size_t)j * kvdim, v + (size_t)row * kvdim, 4 * (size_t)kvdim);
        }
        rb_attention(wo, wq, wk, wv, W, nh, nkv, hd, scratch, threads);
        /* same keys in the same order: bit-identical */
        cr_expect_eq(memcmp(wo + (size_t)P * qdim, a + (size_t)seg[s].start * qdim,
                            4 * (size_t)L * qdim), 0, "segment %d", s);
        free(wq); free(wk); free(wv); free(wo);
    }
    free(q); free(k); free(v); free(a); free(b); free(scratch);
}

Test(kernels, nll_matches_reference) {
    rb_rng r;
    rb_rng_seed(&r, 6);
    for (int i = 0; i < N_SIZES; i++) {
        int rows = 9, cols = sizes[i] < 3 ? 3 : sizes[i];
        float *l = rand_array((size_t)rows * cols, -30, 30, &r);
        int32_t tgt[9];
        for (int j = 0; j < rows; j++) tgt[j] = (int32_t)rb_rng_below(&r, (uint64_t)cols);
        double a[9], b[9];
        rb_nll_rows(a, l, tgt, rows, cols);
        rb_nll_rows_ref(b, l, tgt, rows, cols);
        for (int j = 0; j < rows; j++)
            cr_expect(fabs(a[j] - b[j]) <= 1e-5 * (1 + fabs(b[j])), "cols %d: %g vs %g", cols, a[j], b[j]);
        free(l);
    }
}

/* Every built-in fp32 GEMM backend (kernels/linear.h) against the double
 * loop, plain and accumulating. */
Test(kernels, linear_matches_reference) {
    static const char *const backends[] = {"openblas", "onednn"};
    int tried = 0;
    for (int bi = 0; bi < 2; bi++) {
        if (!rb_gemm_available(backends[bi])) continue;
        cr_assert_eq(rb_gemm_set_backend(backends[bi], NULL), RB_OK);
        cr_assert_str_eq(rb_gemm_backend(), backends[bi]);
        tried++;
        rb_rng r;
        rb_rng_seed(&r, 7);
        int shapes[][3] = {{1, 1, 1}, {3, 7, 5}, {17, 64, 172}, {64, 172, 64}, {33, 128, 257}, {70, 300, 520}};
        for (int s = 0; s < 6; s++) {
            int T = shapes[s][0], in = shapes[s][1], out = shapes[s][2];
            float *x = rand_array((size_t)T * in, -1, 1, &r), *w = rand_array((size_t)out * in, -1, 1, &r);
            float *a = malloc(4 * (size_t)T * out), *b = malloc(4 * (size_t)T * out);
            rb_linear(a, x, w, T, in, out);
            rb_linear_ref(b, x, w, T, in, out);
            cr_expect_lt(rb_test_rel_maxdiff(a, b, (size_t)T * out, 1e-3), 1e-5, "%s shape %d", backends[bi], s);
            rb_linear_acc(a, x, w, T, in, out); /* a = 2·(x·Wᵀ) */
            for (int i = 0; i < T * out; i++) b[i] *= 2;
            cr_expect_lt(rb_test_rel_maxdiff(a, b, (size_t)T * out, 1e-3), 1e-5, "%s acc shape %d", backends[bi], s);
            free(x); free(w); free(a); free(b);
        }
    }
    cr_expect(tried >= 1);
    cr_expect_eq(rb_gemm_set_backend("no-such-gemm", NULL), RB_EINVAL);
    cr_expect_eq(rb_gemm_set_backend(NULL, NULL), RB_OK);
}

/* Each backend gives the same bits run to run at a fixed thread count (1
 * and 2), on a shape large enough for its threaded and blocked paths. */
Test(kernels, linear_deterministic_per_backend_and_threads) {
    static const char *const backends[] = {"openblas", "onednn"};
    int T = 97, in = 1100, out = 700;
    rb_rng r;
    rb_rng_seed(&r, 11);
    float *x = rand_array((size_t)T * in, -1, 1, &r), *w = rand_array((size_t)out * in, -1, 1, &r);
    float *a = malloc(4 * (size_t)T * out), *b = malloc(4 * (size_t)T * out);
    for (int bi = 0; bi < 2; bi++) {
        if (!rb_gemm_available(backends[bi])) continue;
        cr_assert_eq(rb_gemm_set_backend(backends[bi], NULL), RB_OK);
        for (int th = 1; th <= 2; th++) {
            rb_set_threads(th);
            rb_linear(a, x, w, T, in, out);
            for (int rep = 0; rep < 3; rep++) {
                rb_linear(b, x, w, T, in, out);
                cr_expect(!memcmp(a, b, 4 * (size_t)T * out), "%s, %d threads, repetition %d",
                          backends[bi], th, rep);
            }
        }
    }
    rb_set_threads(2);
    cr_expect_eq(rb_gemm_set_backend(NULL, NULL), RB_OK);
    free(x); free(w); free(a); free(b);
}

/* SHA-256: FIPS 180-4 vectors through the dispatched compression (SHA-NI
 * where the CPU has it), and the dispatched and scalar compressions on
 * random blocks. */
Test(kernels, sha256_vectors_and_compress_matches_reference) {
    char hex[65];
    rb_sha256_hex("abc", 3, hex);
    cr_expect_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    rb_sha256_hex("", 0, hex);
    cr_expect_str_eq(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    rb_sha256_hex(m, strlen(m), hex);
    cr_expect_str_eq(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    size_t n = 1000000;
    char *a = malloc(n);
    memset(a, 'a', n);
    rb_sha256_hex(a, n, hex);
    cr_expect_str_eq(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    free(a);
    rb_rng r;
    rb_rng_seed(&r, 3);
    uint8_t buf[64 * 37];
    for (size_t i = 0; i < sizeof buf; i++) buf[i] = (uint8_t)(rb_rng_next(&r) >> 56);
    for (size_t nb = 0; nb <= 37; nb += 1 + nb / 3) {
        uint32_t h1[8], h2[8];
        for (int i = 0; i < 8; i++) h1[i] = h2[i] = (uint32_t)(rb_rng_next(&r) >> 32);
        rb_sha256_compress(h1, buf, nb);
        rb_sha256_compress_ref(h2, buf, nb);
        cr_expect_eq(memcmp(h1, h2, sizeof h1), 0, "%zu blocks", nb);
    }
}

/* base/hash_cache.h: a large file's digest comes from the cache on the
 * second call and equals rb_sha256_file's; changing the file, corrupting
 * the entry or ROTBENCH_CACHE=off hash it again; small files never use it. */
Test(kernels, sha256_file_cache_hits_and_misses) {
    char dir[1024], path[1100], small[1100], want[65], got[65];
    rb_test_tmp_path("hash_cache", dir, sizeof dir);
    snprintf(path, sizeof path, "%s.big", dir);
    snprintf(small, sizeof small, "%s.small", dir);
    char cmd[2300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
    setenv("ROTBENCH_CACHE", dir, 1);
    size_t n = RB_HASH_CACHE_MIN_BYTES + 4097;
    unsigned char *b = malloc(n);
    for (size_t i = 0; i < n; i++) b[i] = (unsigned char)(i * 2654435761u >> 13);
    cr_assert_eq(rb_test_write_file(path, b, n), 0);
    rb_error err = {0};
    int cached = -1;
    cr_assert_eq(rb_sha256_file(path, want, &err), RB_OK);
    cr_assert_eq(rb_sha256_file_cached(path, got, &cached, &err), RB_OK, "%s", err.msg);
    cr_expect_str_eq(got, want);
    cr_expect_eq(cached, 0, "the first call hashes");
    cr_assert_eq(rb_sha256_file_cached(path, got, &cached, &err), RB_OK);
    cr_expect_str_eq(got, want);
    cr_expect_eq(cached, 1, "the second call is a hit");
    /* one byte changed in place: same size, new times */
    b[n / 2] ^= 1;
    cr_assert_eq(rb_test_write_file(path, b, n), 0);
    cr_assert_eq(rb_sha256_file(path, want, &err), RB_OK);
    cr_assert_eq(rb_sha256_file_cached(path, got, &cached, &err), RB_OK);
    cr_expect_eq(cached, 0, "a rewritten file must miss");
    cr_expect_str_eq(got, want);
    /* a corrupt entry is a miss, and is replaced */
    snprintf(cmd, sizeof cmd, "for f in '%s'/sha256-*; do printf garbage > \"$f\"; done", dir);
    cr_assert_eq(system(cmd), 0);
    cr_assert_eq(rb_sha256_file_cached(path, got, &cached, &err), RB_OK);
    cr_expect_eq(cached, 0);
    cr_expect_str_eq(got, want);
    cr_assert_eq(rb_sha256_file_cached(path, got, &cached, &err), RB_OK);
    cr_expect_eq(cached, 1);
    setenv("ROTBENCH_CACHE", "off", 1);
    cr_assert_eq(rb_sha256_file_cached(path, got, &cached, &err), RB_OK);
    cr_expect_eq(cached, 0, "ROTBENCH_CACHE=off");
    cr_expect_str_eq(got, want);
    setenv("ROTBENCH_CACHE", dir, 1);
    cr_assert_eq(rb_test_write_file(small, "abc", 3), 0);
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(rb_sha256_file_cached(small, got, &cached, &err), RB_OK);
        cr_expect_eq(cached, 0, "small files are not cached");
        cr_expect_str_eq(got, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
    cr_expect_eq(rb_sha256_file_cached("/nonexistent/x", got, &cached, &err), RB_EIO);
    unsetenv("ROTBENCH_CACHE");
    unlink(path);
    unlink(small);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_expect_eq(system(cmd), 0);
    free(b);
}
