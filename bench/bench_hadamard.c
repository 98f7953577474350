/* Hadamard transform speed: rb_hadamard_apply (fast, OpenMP over rows,
 * default thread count, and on one thread), rb_hadamard_apply_ref (scalar
 * O(n²) reference) and a dense product with the explicit matrix
 * (cblas_sgemm, [rows][n] × [n][n]ᵀ into a second buffer), against the
 * memory-bandwidth bound measured here on the same buffer: an in-place
 * read+write streaming kernel (x[i] *= c, OpenMP, same threads), best of the
 * runs.
 *
 * For each size n two row counts: "stream", rows·n·4 ≈ 64 MiB (from memory),
 * and "cache", ≈ 256 KiB (L2-resident, at least one row).  Bytes per row are
 * counted as 2·4·n (read + write); GB/s = that / time.  Times per call are
 * the best of 3 rounds, each repeated for at least 0.2 s (dense: at least one
 * call); the reference runs on as many rows as take 0.2 s (at least one) and
 * is reported per row.  The dense product is skipped above n = 4096 (the
 * matrix alone is 64 MiB and a 64 MiB run takes minutes).
 *
 * usage: bench_hadamard [--quick] [--jsonl FILE] [--sizes N,N,...]
 * Prints a Markdown table on stdout; --jsonl appends one JSON object per
 * (size, case) to FILE. */
#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/io.h"
#include "base/rng.h"
#include "kernels/hadamard.h"
#include "kernels/linear.h"
#include "kernels/simd.h"

#define DENSE_MAX 4096

typedef enum { FAST, REF, DENSE, BOUND } what;

typedef struct {
    what w;
    float *x, *y, *H;
    size_t rows;
    int n;
} job;

/* x[i] *= c over a span, vectorised for the CPU like the kernels. */
RB_SIMD_INLINE void scale_span_body(float *x, long n, float c) {
#pragma omp simd
    for (long i = 0; i < n; i++) x[i] *= c;
}
RB_SIMD_DISPATCH_VOID(scale_span, (float *x, long n, float c), (x, n, c))

/* The bound: read and write every float once, in place, threads splitting
 * the buffer in contiguous parts. */
static void stream_rw(float *x, size_t len) {
    static volatile float one = 1.0f; /* exact, but unknown to the compiler: the loop stays */
    const float c = one;
    long parts = omp_get_max_threads(), n = (long)len;
#pragma omp parallel for schedule(static)
    for (long p = 0; p < parts; p++) {
        long i0 = n * p / parts, i1 = n * (p + 1) / parts;
        scale_span(x + i0, i1 - i0, c);
    }
}

static void run(const job *j) {
    switch (j->w) {
    case FAST: rb_hadamard_apply(j->x, j->rows, j->n, 1, NULL); break;
    case REF: rb_hadamard_apply_ref(j->x, j->rows, j->n, 1, NULL); break;
    case DENSE:
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)j->rows, j->n, j->n, 1.0f, j->x,
                    j->n, j->H, j->n, 0.0f, j->y, j->n);
        break;
    case BOUND: stream_rw(j->x, j->rows * (size_t)j->n); break;
    }
}

/* Seconds per call: best of `rounds` rounds of at least min_s each. */
static double seconds_per_call(const job *j, int rounds, double min_s) {
    run(j); /* warm up: page faults, thread start */
    double best = 1e30;
    for (int r = 0; r < rounds; r++) {
        int calls = 0;
        double t0 = rb_now(), t;
        do {
            run(j);
            calls++;
        } while ((t = rb_now() - t0) < min_s);
        if (t / calls < best) best = t / calls;
    }
    return best;
}

static int parse_sizes(const char *s, int *out, int cap) {
    int c = 0;
    while (*s && c < cap) {
        out[c++] = (int)strtol(s, (char **)&s, 10);
        if (*s == ',') s++;
        else if (*s) return -1;
    }
    return c;
}

int main(int argc, char **argv) {
    int quick = 0;
    const char *jsonl = NULL;
    int sizes[64] = {64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384,
                     172, 688, 28 * 128, 5120, 156 * 64, 11008, 14336};
    int n_sizes = 16;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick")) quick = 1;
        else if (!strcmp(argv[i], "--jsonl") && i + 1 < argc) jsonl = argv[++i];
        else if (!strcmp(argv[i], "--sizes") && i + 1 < argc) {
            if ((n_sizes = parse_sizes(argv[++i], sizes, 64)) < 1) n_sizes = -1;
        } else n_sizes = -1;
        if (n_sizes < 0) {
            fprintf(stderr, "usage: bench_hadamard [--quick] [--jsonl FILE] [--sizes N,N,...]\n");
            return 2;
        }
    }
    FILE *js = jsonl ? fopen(jsonl, "a") : NULL;
    if (jsonl && !js) {
        fprintf(stderr, "bench_hadamard: cannot open %s\n", jsonl);
        return 1;
    }
    int threads = omp_get_max_threads();
    double min_s = quick ? 0.05 : 0.2;
    int rounds = quick ? 2 : 3;
    printf("| n | k·2^m | case | rows | fast ns/row | fast GB/s | fast 1-thread GB/s | ref ns/row "
           "| dense sgemm ns/row | dense GB/s | bound GB/s | fast / bound |\n");
    printf("|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    fflush(stdout);
    rb_rng rng;
    rb_rng_seed(&rng, 1);
    for (int si = 0; si < n_sizes; si++) {
        int n = sizes[si], k, m;
        rb_error err = {0};
        if (rb_hadamard_factor(n, &k, &m, &err)) {
            fprintf(stderr, "bench_hadamard: %s\n", err.msg);
            return 1;
        }
        for (int cs = 0; cs < 2; cs++) {
            size_t target = cs == 0 ? (size_t)64 << 20 : (size_t)256 << 10;
            size_t rows = target / (sizeof(float) * (size_t)n);
            if (rows < 1) rows = 1;
            size_t len = rows * (size_t)n;
            float *x = malloc(sizeof(float) * len);
            if (!x) {
                fprintf(stderr, "bench_hadamard: out of memory\n");
                return 1;
            }
            for (size_t i = 0; i < len; i++) x[i] = (float)rb_rng_normal(&rng);
            double bytes_per_row = 2.0 * sizeof(float) * n;
            job fast = {FAST, x, NULL, NULL, rows, n};
            double t_fast = seconds_per_call(&fast, rounds, min_s);
            rb_set_threads(1);
            double t_fast1 = seconds_per_call(&fast, rounds, min_s);
            rb_set_threads(threads);
            job bound = {BOUND, x, NULL, NULL, rows, n};
            double t_bound = seconds_per_call(&bound, rounds, min_s);
            /* the reference on as many rows as take min_s */
            size_t ref_rows = 1;
            double t_ref;
            for (;;) {
                job ref = {REF, x, NULL, NULL, ref_rows, n};
                double t0 = rb_now();
                run(&ref);
                t_ref = rb_now() - t0;
                if (t_ref >= min_s || ref_rows == rows) break;
                ref_rows = ref_rows * 4 < rows ? ref_rows * 4 : rows;
            }
            double ref_ns = t_ref / ref_rows * 1e9;
            double dense_ns = -1;
            if (n <= DENSE_MAX) {
                float *H = malloc(sizeof(float) * (size_t)n * n), *y = malloc(sizeof(float) * len);
                if (H && y && rb_hadamard_matrix(n, H, NULL) == RB_OK) {
                    job dense = {DENSE, x, y, H, rows, n};
                    dense_ns = seconds_per_call(&dense, quick ? 1 : 2, quick ? 0 : min_s) / rows * 1e9;
                }
                free(H);
                free(y);
            }
            double fast_ns = t_fast / rows * 1e9, fast1_ns = t_fast1 / rows * 1e9;
            double bound_ns = t_bound / rows * 1e9;
            char dense_s[64] = "skipped (n > 4096)", dense_g[32] = "–";
            if (dense_ns > 0) {
                snprintf(dense_s, sizeof dense_s, "%.0f", dense_ns);
                snprintf(dense_g, sizeof dense_g, "%.2f", bytes_per_row / dense_ns);
            }
            printf("| %d | %d·2^%d | %s | %zu | %.0f | %.2f | %.2f | %.0f | %s | %s | %.2f | %.0f%% |\n", n,
                   k, m, cs == 0 ? "stream 64 MiB" : "cache 256 KiB", rows, fast_ns,
                   bytes_per_row / fast_ns, bytes_per_row / fast1_ns, ref_ns, dense_s, dense_g,
                   bytes_per_row / bound_ns, 100 * bound_ns / fast_ns);
            fflush(stdout);
            if (js) {
                char dense_j[64] = "null";
                if (dense_ns > 0) snprintf(dense_j, sizeof dense_j, "%.1f", dense_ns);
                fprintf(js,
                        "{\"bench\": \"hadamard\", \"n\": %d, \"k\": %d, \"m\": %d, \"case\": \"%s\", "
                        "\"rows\": %zu, \"bytes_per_row\": %.0f, \"threads\": %d, "
                        "\"fast_ns_per_row\": %.1f, \"fast_gbps\": %.3f, \"fast_1thread_ns_per_row\": %.1f, "
                        "\"fast_1thread_gbps\": %.3f, \"ref_ns_per_row\": %.1f, \"ref_rows_timed\": %zu, "
                        "\"dense_ns_per_row\": %s, \"bound_ns_per_row\": %.1f, \"bound_gbps\": %.3f, "
                        "\"fast_frac_of_bound\": %.4f, \"openblas_core\": \"%s\"}\n",
                        n, k, m, cs == 0 ? "stream" : "cache", rows, bytes_per_row, threads, fast_ns,
                        bytes_per_row / fast_ns, fast1_ns, bytes_per_row / fast1_ns, ref_ns, ref_rows,
                        dense_j, bound_ns, bytes_per_row / bound_ns, bound_ns / fast_ns, rb_blas_kernels());
                fflush(js);
            }
            free(x);
        }
    }
    if (js) fclose(js);
    return 0;
}
