/* Causal attention alone at long windows: rb_attention on a 7B-shaped
 * layer's heads (32 heads, head_dim 128, MHA and 4:1 GQA) at T = 512, 2048
 * and 4096, with its scratch memory.
 *
 * usage: bench_attention [--threads N] [--reps N] [--T LIST] [--kv-bits B]
 * --kv-bits B: K and V held as B-bit codes (kernels/kv_codes.h, symmetric,
 * per token and head, as `--kernels int` keeps them), read by
 * rb_attention_segments_kv; kv_mib is the K/V storage (fp32 or codes), and
 * quant_ms the time to code both.
 * stdout: one JSON object per shape (best of reps: the machine is shared);
 * stderr: readable lines.  GFLOP/s counts the causal half of QKᵀ and PV:
 * 2·hd·T(T+1) per head. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernels/kv_codes.h"
#include "kernels/linear.h"
#include "kernels/ops.h"
#include "kernels/simd.h"

#ifndef BENCH_ATTENTION
#define BENCH_ATTENTION rb_attention
#define BENCH_SCRATCH rb_attention_scratch_floats
#define BENCH_LABEL "tiled"
#endif

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(int argc, char **argv) {
    int threads = 2, reps = 3, kv_bits = 0;
    char Ts[128] = "512,2048,4096";
    static const struct option lo[] = {{"threads", 1, 0, 't'}, {"reps", 1, 0, 'r'}, {"T", 1, 0, 'T'}, {"kv-bits", 1, 0, 'k'}, {0, 0, 0, 0}};
    for (int c; (c = getopt_long(argc, argv, "", lo, NULL)) != -1;) {
        if (c == 't') threads = atoi(optarg);
        else if (c == 'r') reps = atoi(optarg);
        else if (c == 'T') snprintf(Ts, sizeof Ts, "%s", optarg);
        else if (c == 'k') kv_bits = atoi(optarg);
        else {
            fprintf(stderr, "usage: bench_attention [--threads N] [--reps N] [--T LIST] [--kv-bits B]\n");
            return 2;
        }
    }
    rb_set_threads(threads);
    const int nh = 32, hd = 128, kvs[] = {32, 8};
    for (char *save, *tok = strtok_r(Ts, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        int T = atoi(tok);
        for (int g = 0; g < 2; g++) {
            int nkv = kvs[g];
            size_t nq = (size_t)T * nh * hd, nk = (size_t)T * nkv * hd;
            size_t scratch_floats = BENCH_SCRATCH(T, hd) * threads;
            float *q = malloc(4 * nq), *k = malloc(4 * nk), *v = malloc(4 * nk), *o = malloc(4 * nq);
            float *sc = malloc(4 * scratch_floats);
            if (!q || !k || !v || !o || !sc) return 1;
            unsigned s = 1;
            for (size_t i = 0; i < nq; i++) q[i] = (float)((s = s * 1664525u + 1013904223u) >> 9) / 8388608.0f - 1.0f;
            for (size_t i = 0; i < nk; i++) k[i] = (float)((s = s * 1664525u + 1013904223u) >> 9) / 8388608.0f - 1.0f;
            for (size_t i = 0; i < nk; i++) v[i] = (float)((s = s * 1664525u + 1013904223u) >> 9) / 8388608.0f - 1.0f;
            rb_kv_codes kc = {0}, vc = {0};
            rb_quant_spec spec = {kv_bits, 0, RB_GRAN_GROUP, hd, 1.0f, 0};
            rb_segment whole = {0, T, 0, 0, 0, 0};
            double best = 1e30, quant_best = 1e30, kv_mib = 8.0 * (double)nk / (1 << 20);
            for (int r = 0; r < reps; r++) {
                double t0 = now();
                if (kv_bits) {
                    rb_error err;
                    if (rb_kv_codes_quantize(&kc, k, T, nkv * hd, &spec, NULL, NULL, &err) ||
                        rb_kv_codes_quantize(&vc, v, T, nkv * hd, &spec, NULL, NULL, &err)) {
                        fprintf(stderr, "bench_attention: %s\n", err.msg);
                        return 1;
                    }
                    double tq = now() - t0;
                    if (tq < quant_best) quant_best = tq;
                    t0 = now();
                    rb_attention_segments_kv(o, q, NULL, NULL, &kc, &vc, &whole, 1, nh, nkv, hd, sc,
                                             threads);
                } else {
                    BENCH_ATTENTION(o, q, k, v, T, nh, nkv, hd, sc, threads);
                }
                double t = now() - t0;
                if (t < best) best = t;
            }
            if (kv_bits) kv_mib = (double)(rb_kv_codes_bytes(&kc) + rb_kv_codes_bytes(&vc)) / (1 << 20);
            rb_kv_codes_free(&kc);
            rb_kv_codes_free(&vc);
            double flop = 2.0 * hd * (double)T * (T + 1) * nh, chk = 0;
            for (size_t i = 0; i < nq; i += 997) chk += o[i];
            fprintf(stderr, "%s T=%d heads %d/%d hd %d kv %s: %.1f ms, %.1f GFLOP/s, scratch %.1f MiB, "
                    "K/V %.1f MiB (%s)\n",
                    BENCH_LABEL, T, nh, nkv, hd, kv_bits ? "codes" : "fp32", best * 1e3,
                    flop / best / 1e9, 4.0 * scratch_floats / (1 << 20), kv_mib, rb_simd_name());
            if (kv_bits) fprintf(stderr, "  K/V coded in %.1f ms\n", quant_best * 1e3);
            printf("{\"bench\":\"attention\",\"kernel\":\"%s\",\"simd\":\"%s\",\"threads\":%d,\"T\":%d,"
                   "\"heads\":%d,\"kv_heads\":%d,\"head_dim\":%d,\"kv_bits\":%d,\"ms\":%.3f,"
                   "\"gflops\":%.2f,\"scratch_mib\":%.2f,\"kv_mib\":%.3f,\"quant_ms\":%.3f,"
                   "\"checksum\":%.6f}\n",
                   BENCH_LABEL, rb_simd_name(), threads, T, nh, nkv, hd, kv_bits ? kv_bits : 32,
                   best * 1e3, flop / best / 1e9, 4.0 * scratch_floats / (1 << 20), kv_mib,
                   kv_bits ? quant_best * 1e3 : 0.0, chk);
            fflush(stdout);
            free(q); free(k); free(v); free(o); free(sc);
        }
    }
    return 0;
}
