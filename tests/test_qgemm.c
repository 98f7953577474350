/* Integer GEMM (kernels/qgemm.h): every fast path the CPU has (scalar
 * tiles, avx2 with its int16 and, for 4-bit weights, u8 tiles,
 * avx512-vnni; the others are skipped with a note on stderr)
 * against the scalar reference bit for bit, the reference against fake quantization, extreme
 * codes, thread-count independence, and the weight grid check. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/linear.h"
#include "kernels/qgemm.h"
#include "kernels/quant.h"
#include "tests/test_util.h"

static float *random_matrix(int rows, int cols, rb_rng *r) {
    float *x = malloc(sizeof(float) * (size_t)rows * cols);
    rb_test_fill_uniform(x, (size_t)rows * cols, -2, 2, r);
    for (int i = 0; i < rows * cols; i += 19) x[i] *= 15; /* outliers */
    for (int i = 3; i < rows * cols; i += 29) x[i] = 0;
    return x;
}

/* w ← fake-quant(w) with s, and its integer form in *q. */
static void quantize_weights(float *w, int rows, int cols, const rb_quant_spec *s, rb_qweight *q) {
    size_t np = rb_quant_n_params(s, rows, cols);
    float *sc = malloc(sizeof(float) * np), *z = malloc(sizeof(float) * np);
    rb_quant_params(w, rows, cols, s, sc, z);
    rb_fake_quant(w, rows, cols, s, sc, z);
    rb_error err = {0};
    cr_assert_eq(rb_qweight_pack(q, w, rows, cols, s, sc, z, &err), RB_OK, "%s", err.msg);
    free(sc);
    free(z);
}

static int mismatch(const float *a, const float *b, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (memcmp(&a[i], &b[i], sizeof(float))) return (int)i;
    return -1;
}

/* y ← yinit, then rb_qgemm_on every path the CPU has, each compared bit for
 * bit with yref, and each must run where it should: u8: whether a allows
 * the u8 re-coding (every (token, group) spans at most 255 values); then
 * avx512-vnni takes segments of a multiple of 4 columns (else avx2), amx
 * those of a multiple of 64 (else as avx512-vnni). */
static void check_paths(const float *yref, const float *yinit, size_t ny, const rb_qact *a,
                        const rb_qweight *w, int acc, int u8, const char *what) {
    static int noted[RB_QGEMM_N_PATHS];
    float *y = malloc(sizeof(float) * ny);
    for (int p = 0; p < RB_QGEMM_N_PATHS; p++) {
        if (!rb_qgemm_path_available(p)) {
            if (!noted[p]++)
                fprintf(stderr, "qgemm: path %s not available on this CPU: SKIPPED\n",
                        rb_qgemm_path_name(p));
            continue;
        }
        memcpy(y, yinit, sizeof(float) * ny);
        int S = rb_qgemm_segment(a, w);
        rb_qgemm_path want = p;
        if (want == RB_QGEMM_AMX && !(u8 && S % 64 == 0)) want = RB_QGEMM_AVX512_VNNI;
        if (want == RB_QGEMM_AVX512_VNNI && !(u8 && S % 4 == 0)) want = RB_QGEMM_AVX2;
        rb_qgemm_path got = rb_qgemm_on(p, y, a, w, acc);
        cr_assert_eq(got, want, "%s: path %s ran as %s, expected %s", what, rb_qgemm_path_name(p),
                     rb_qgemm_path_name(got), rb_qgemm_path_name(want));
        int bad = mismatch(yref, y, ny);
        cr_assert(bad < 0, "%s, path %s: y[%d] %.9g (ref) vs %.9g", what, rb_qgemm_path_name(p),
                  bad, yref[bad > 0 ? bad : 0], y[bad > 0 ? bad : 0]);
    }
    free(y);
}

/* T, n_out, n_in: T past one tile (96 tokens) and leaving every remainder
 * of the avx2 micro-kernel's 6 tokens (1-5) and not a multiple of
 * avx512-vnni's 12 or amx's 32, n_out not a multiple of 16 or 32; 50
 * columns: segments not a multiple of 4, so avx512-vnni and amx fall back to
 * avx2; segments of 16, 32, 48, 172: amx falls back to avx512-vnni; of 64,
 * 256, 640, 1536 (per-row weights with per-row or per-tensor activations):
 * amx runs; 640 and 1031: the last of avx2's 512-column chunks is partial,
 * and 1031 (odd: 8-bit weights only) ends it on an unpaired column.  The
 * avx2 u8 tiles (4-bit weights, segments of a multiple of 4) meet chunks of
 * 256 with a partial last one (640, 1536), chunks not a multiple of their
 * 32-column quads or 16-column steps (48, 172) and rows past a 16-row
 * panel; K = 50 and the extreme case's 511-value activations keep 4-bit
 * weights on the int16 tiles. */
static const int shapes[][3] = {{1, 1, 32},  {8, 3, 48},  {67, 65, 64},  {130, 131, 256},
                                {9, 70, 1024 + 512}, {4, 2, 172}, {7, 33, 50}, {101, 97, 128},
                                {70, 77, 640}, {13, 21, 1031}};

Test(qgemm, fast_matches_reference_and_fake_quant) {
    rb_rng r;
    rb_rng_seed(&r, 7);
    int cases = 0;
    for (size_t si = 0; si < sizeof shapes / sizeof *shapes; si++)
        for (int wb = 0; wb < 3; wb++)
            for (int wa = 0; wa < 2; wa++)
                for (int wg = 0; wg < 2; wg++)
                    for (int ab = 0; ab < 2; ab++)
                        for (int aa = 0; aa < 2; aa++)
                            for (int ag = 0; ag < 3; ag++) {
                                int T = shapes[si][0], N = shapes[si][1], K = shapes[si][2];
                                if (K % 2 && wb) continue; /* 4-bit storage: even segments */
                                int G = K % 16 ? K : 16;
                                rb_quant_spec ws = {(int[]){8, 4, 3}[wb], wa,
                                                    wg ? RB_GRAN_GROUP : RB_GRAN_ROW, G, 1.0f, 0};
                                rb_quant_spec as = {ab ? 4 : 8, aa,
                                                    (rb_granularity[]){RB_GRAN_ROW, RB_GRAN_TENSOR,
                                                                       RB_GRAN_GROUP}[ag],
                                                    K % 32 ? K : 32, 1.0f, 0};
                                float *w = random_matrix(N, K, &r), *x = random_matrix(T, K, &r);
                                rb_qweight qw;
                                quantize_weights(w, N, K, &ws, &qw);
                                rb_qact qa = {0};
                                rb_error err = {0};
                                cr_assert_eq(rb_qact_quantize(&qa, x, T, K, &as, NULL, NULL, &err),
                                             RB_OK, "%s", err.msg);
                                cr_assert_eq(rb_qgemm_check(&qa, &qw, &err), RB_OK, "%s", err.msg);
                                cr_assert_eq(rb_fake_quant_dynamic(x, T, K, &as, &err), RB_OK);
                                size_t ny = (size_t)T * N;
                                float *y0 = malloc(sizeof(float) * ny),
                                      *y1 = malloc(sizeof(float) * ny),
                                      *yf = malloc(sizeof(float) * ny);
                                for (size_t i = 0; i < ny; i++) y0[i] = y1[i] = (float)(i % 7);
                                int acc = (int)(si % 2);
                                rb_qgemm_ref(y0, &qa, &qw, acc);
                                char what[96];
                                snprintf(what, sizeof what, "T=%d N=%d K=%d w%d%s%s a%d%s%s", T, N,
                                         K, ws.bits, wa ? "a" : "", wg ? "g" : "", as.bits,
                                         aa ? "a" : "", ag == 2 ? "g" : ag ? "t" : "");
                                check_paths(y0, y1, ny, &qa, &qw, acc, 1, what);
                                /* the same model as fake quantization, up to float order */
                                rb_linear_ref(yf, x, w, T, K, N);
                                for (size_t i = 0; i < ny; i++) {
                                    float want = yf[i] + (acc ? (float)(i % 7) : 0.0f);
                                    double mag = 0;
                                    for (int k = 0; k < K; k++)
                                        mag += fabs((double)x[(i / N) * K + k] *
                                                    w[(i % N) * K + k]);
                                    cr_assert(fabs(y0[i] - want) <= 1e-5 * (mag + 1),
                                              "y[%zu] %.9g vs fake-quant %.9g", i, y0[i], want);
                                }
                                free(y0), free(y1), free(yf), free(w), free(x);
                                rb_qweight_free(&qw);
                                rb_qact_free(&qa);
                                cases++;
                            }
    cr_assert_eq(cases, (9 * 3 + 1) * 2 * 2 * 2 * 2 * 3);
}

/* Codes at their extremes: asymmetric 8-bit weights (stored -128..127 with
 * zero points -128..127) and 4-bit ones (0..15, zeros 0 or 15) against
 * activations of ±255 (amode 0: a (token, group) spans 511 values, so the
 * avx512-vnni path must fall back to avx2) or spanning exactly 255 values
 * at [-255, 0], [0, 255], [-128, 127] or a random offset (amode 1: the u8
 * re-coding with its corrections; amx falls back to avx512-vnni for K = 248,
 * runs for K = 32768).  Scales 1, so y is the dot itself, exact
 * in float for K = 248 (|dot| ≤ 255·255·248 < 2^24); for K = 32768 (the
 * largest segment, |dot| up to 255·255·32768, just under 2^31, where the
 * corrections wrap int32) y must be (float) of the int64 dot. */
static void extreme_case(int bits, int amode, int T, int N, int K, rb_rng *r) {
    rb_qweight w = {.rows = N, .cols = K, .bits = bits, .group = K};
    w.stride = bits == 8 ? (size_t)K : (size_t)(K + 1) / 2;
    w.codes = calloc((size_t)N * w.stride, 1);
    w.zero = malloc(sizeof(int16_t) * N);
    w.scale = malloc(sizeof(float) * N);
    rb_qact a = {.rows = T, .cols = K, .group = K, .cap_rows = T};
    a.q = malloc(sizeof(int16_t) * (size_t)T * K);
    a.scale = malloc(sizeof(float) * T);
    int lo = bits == 8 ? -128 : 0, hi = bits == 8 ? 127 : 15;
    int *code = malloc(sizeof(int) * (size_t)N * K);
    for (int o = 0; o < N; o++) {
        w.zero[o] = (int16_t)(o % 2 ? hi : lo);
        w.scale[o] = 1;
        for (int k = 0; k < K; k++) {
            int c = (o % 2) ^ (k % 3 == 0) ? lo : hi; /* mostly the far side of the zero */
            if (o == 3) c = (int)rb_rng_below(r, (uint64_t)(hi - lo + 1)) + lo;
            code[(size_t)o * K + k] = c;
            uint8_t *row = w.codes + (size_t)o * w.stride;
            if (bits == 8)
                row[k] = (uint8_t)(int8_t)c;
            else
                row[k >> 1] |= (uint8_t)(c << ((k & 1) * 4));
        }
    }
    rb_error err = {0};
    cr_assert_eq(rb_qweight_prepack(&w, &err), RB_OK, "%s", err.msg);
    for (int t = 0; t < T; t++) {
        a.scale[t] = 1;
        int base = (int[]){-255, 0, -128, (int)rb_rng_below(r, 256) - 255}[t % 4];
        for (int k = 0; k < K; k++) {
            int v;
            if (amode == 0)
                v = t == 4 ? (int)rb_rng_below(r, 511) - 255 : (k + t) % 2 ? 255 : -255;
            else
                v = base + (t == 5 ? (int)rb_rng_below(r, 256) : (k + t) % 2 ? 255 : 0);
            a.q[(size_t)t * K + k] = (int16_t)v;
        }
    }
    float *y0 = malloc(sizeof(float) * T * N), *y1 = calloc((size_t)T * N, sizeof(float));
    rb_qgemm_ref(y0, &a, &w, 0);
    for (int t = 0; t < T; t++)
        for (int o = 0; o < N; o++) {
            long long dot = 0;
            for (int k = 0; k < K; k++)
                dot += (long long)a.q[(size_t)t * K + k] * (code[(size_t)o * K + k] - w.zero[o]);
            if (K <= 248)
                cr_assert_eq((long long)y0[t * N + o], dot, "ref [%d][%d]", t, o);
            else
                cr_assert_eq(y0[t * N + o], (float)dot, "ref [%d][%d]", t, o);
        }
    char what[64];
    snprintf(what, sizeof what, "extreme codes w%d K=%d amode %d", bits, K, amode);
    check_paths(y0, y1, (size_t)T * N, &a, &w, 0, amode == 1, what);
    free(y0), free(y1), free(code);
    rb_qweight_free(&w);
    rb_qact_free(&a);
}

Test(qgemm, extreme_codes_exact) {
    rb_rng r;
    rb_rng_seed(&r, 3);
    for (int bits = 4; bits <= 8; bits += 4)
        for (int amode = 0; amode < 2; amode++) {
            extreme_case(bits, amode, 9, 7, 248, &r);
            extreme_case(bits, amode, 6, 35, 32768, &r);
        }
}

/* Static (per-tensor, given) asymmetric activation parameters whose range
 * clips many values, with 8-bit per-channel and 4-bit grouped weights. */
Test(qgemm, static_activations_all_paths) {
    rb_rng r;
    rb_rng_seed(&r, 13);
    int T = 37, N = 45, K = 384;
    float *x = random_matrix(T, K, &r);
    for (int wb = 0; wb < 2; wb++) {
        rb_quant_spec ws = {wb ? 4 : 8, 1, wb ? RB_GRAN_GROUP : RB_GRAN_ROW, 64, 1.0f, 0};
        rb_quant_spec as = {8, 1, RB_GRAN_TENSOR, 0, 1.0f, 0};
        float sc = 0.01f, z = 100.0f; /* codes 0..255 cover x in [-1, 1.55]: the rest clips */
        float *w = random_matrix(N, K, &r);
        rb_qweight qw;
        quantize_weights(w, N, K, &ws, &qw);
        rb_qact qa = {0};
        rb_error err = {0};
        cr_assert_eq(rb_qact_quantize(&qa, x, T, K, &as, &sc, &z, &err), RB_OK, "%s", err.msg);
        size_t ny = (size_t)T * N;
        float *y0 = malloc(sizeof(float) * ny), *y1 = malloc(sizeof(float) * ny);
        for (size_t i = 0; i < ny; i++) y0[i] = y1[i] = (float)(i % 5) - 2;
        rb_qgemm_ref(y0, &qa, &qw, 1);
        check_paths(y0, y1, ny, &qa, &qw, 1, 1, wb ? "static, w4 grouped" : "static, w8");
        free(y0), free(y1), free(w);
        rb_qweight_free(&qw);
        rb_qact_free(&qa);
    }
    free(x);
}

/* 4-bit weights in groups of 20 and 36 columns (segments a multiple of 4
 * but not of 16: the avx2 u8 tiles pad each segment's last 16-column step
 * with zero quads, and the activations past the segment, which those quads
 * meet, are the next segment's, not zeros), asymmetric per-token or grouped
 * activations, rows past a 32-row panel of the VNNI copy. */
Test(qgemm, segments_not_a_multiple_of_16_all_paths) {
    rb_rng r;
    rb_rng_seed(&r, 17);
    int T = 13, N = 70;
    for (int gi = 0; gi < 2; gi++)
        for (int ag = 0; ag < 2; ag++) {
            int G = gi ? 36 : 20, K = 5 * G;
            rb_quant_spec ws = {4, 1, RB_GRAN_GROUP, G, 1.0f, 0};
            rb_quant_spec as = {8, 1, ag ? RB_GRAN_GROUP : RB_GRAN_ROW, G, 1.0f, 0};
            float *w = random_matrix(N, K, &r), *x = random_matrix(T, K, &r);
            rb_qweight qw;
            quantize_weights(w, N, K, &ws, &qw);
            rb_qact qa = {0};
            rb_error err = {0};
            cr_assert_eq(rb_qact_quantize(&qa, x, T, K, &as, NULL, NULL, &err), RB_OK, "%s", err.msg);
            size_t ny = (size_t)T * N;
            float *y0 = malloc(sizeof(float) * ny), *y1 = malloc(sizeof(float) * ny);
            for (size_t i = 0; i < ny; i++) y0[i] = y1[i] = (float)(i % 3);
            rb_qgemm_ref(y0, &qa, &qw, 1);
            char what[64];
            snprintf(what, sizeof what, "w4 group %d, a8 %s", G, ag ? "grouped" : "per token");
            check_paths(y0, y1, ny, &qa, &qw, 1, 1, what);
            free(y0), free(y1), free(w), free(x);
            rb_qweight_free(&qw);
            rb_qact_free(&qa);
        }
}

Test(qgemm, thread_count_does_not_change_results) {
    rb_rng r;
    rb_rng_seed(&r, 11);
    int T = 200, N = 300, K = 512;
    rb_quant_spec ws = {4, 1, RB_GRAN_GROUP, 128, 1.0f, 0}, as = {8, 0, RB_GRAN_ROW, 0, 1.0f, 0};
    float *w = random_matrix(N, K, &r), *x = random_matrix(T, K, &r);
    rb_qweight qw;
    quantize_weights(w, N, K, &ws, &qw);
    rb_qact qa = {0};
    rb_error err = {0};
    cr_assert_eq(rb_qact_quantize(&qa, x, T, K, &as, NULL, NULL, &err), RB_OK);
    float *y1 = malloc(sizeof(float) * T * N), *y2 = malloc(sizeof(float) * T * N);
    for (int p = 0; p < RB_QGEMM_N_PATHS; p++) {
        if (!rb_qgemm_path_available(p)) continue; /* noted by check_paths */
        rb_set_threads(1);
        cr_assert_eq(rb_qgemm_on(p, y1, &qa, &qw, 0), p);
        rb_set_threads(2);
        cr_assert_eq(rb_qgemm_on(p, y2, &qa, &qw, 0), p);
        cr_assert_eq(mismatch(y1, y2, (size_t)T * N), -1, "path %s", rb_qgemm_path_name(p));
    }
    free(w), free(x), free(y1), free(y2);
    rb_qweight_free(&qw);
    rb_qact_free(&qa);
}

Test(qgemm, rejects_weights_off_the_grid_and_groups_that_do_not_nest) {
    rb_rng r;
    rb_rng_seed(&r, 5);
    int N = 4, K = 64;
    rb_quant_spec ws = {8, 0, RB_GRAN_ROW, 0, 1.0f, 0};
    float *w = random_matrix(N, K, &r);
    size_t np = rb_quant_n_params(&ws, N, K);
    float sc[4], z[4];
    cr_assert_eq(np, 4);
    rb_quant_params(w, N, K, &ws, sc, z);
    rb_fake_quant(w, N, K, &ws, sc, z);
    w[2 * K + 5] += sc[2] * 0.25f; /* changed after quantization */
    rb_qweight qw;
    rb_error err = {0};
    cr_assert_eq(rb_qweight_pack(&qw, w, N, K, &ws, sc, z, &err), RB_EINVAL);
    cr_assert(strstr(err.msg, "[2][5]"), "%s", err.msg);
    cr_assert_null(qw.codes);
    w[2 * K + 5] -= sc[2] * 0.25f;
    w[2 * K + 5] = nearbyintf(w[2 * K + 5] / sc[2]) * sc[2];
    rb_quant_spec gs = {4, 0, RB_GRAN_GROUP, 24, 1.0f, 0}; /* 24 does not divide 64 */
    cr_assert_eq(rb_qweight_pack(&qw, w, N, K, &gs, sc, z, &err), RB_EINVAL);
    cr_assert(strstr(err.msg, "does not divide"), "%s", err.msg);
    cr_assert_eq(rb_qweight_pack(&qw, w, N, K, &ws, sc, z, &err), RB_OK, "%s", err.msg);
    rb_quant_spec as = {8, 0, RB_GRAN_GROUP, 16, 1.0f, 0};
    rb_qact qa = {0};
    float *x = random_matrix(3, K, &r);
    cr_assert_eq(rb_qact_quantize(&qa, x, 3, K, &as, NULL, NULL, &err), RB_OK);
    cr_assert_eq(rb_qgemm_check(&qa, &qw, &err), RB_OK, "%s", err.msg); /* 16 | 64 */
    rb_qweight_free(&qw);
    ws.gran = RB_GRAN_GROUP, ws.group = 32;
    as.group = 64;
    size_t np2 = rb_quant_n_params(&ws, N, K);
    float *sc2 = malloc(sizeof(float) * np2), *z2 = malloc(sizeof(float) * np2);
    float *w2 = random_matrix(N, K, &r);
    rb_quant_params(w2, N, K, &ws, sc2, z2);
    rb_fake_quant(w2, N, K, &ws, sc2, z2);
    cr_assert_eq(rb_qweight_pack(&qw, w2, N, K, &ws, sc2, z2, &err), RB_OK, "%s", err.msg);
    cr_assert_eq(rb_qact_quantize(&qa, x, 3, K, &as, NULL, NULL, &err), RB_OK);
    cr_assert_eq(rb_qgemm_check(&qa, &qw, &err), RB_OK, "%s", err.msg);
    free(w), free(w2), free(x), free(sc2), free(z2);
    rb_qweight_free(&qw);
    rb_qact_free(&qa);
}
